/*
 * queue_commit - message writers and the group committer.
 *
 * Every durable change is a request on q->pending.  When no batch is in
 * flight, the loop takes every pending request (up to commit_max_batch)
 * into one batch and hands it to a worker thread, which
 *   1. writes the message files the batch needs (large messages, moves
 *      out of the log, envelope rewrites) and syncs each, then syncs each
 *      touched directory ONCE for the whole batch;
 *   2. appends every log record of the batch (new messages, recipient
 *      status changes, DONE records) to the current segment with one
 *      write() and ONE fdatasync();
 *   3. deletes segments that hold nothing live any more.
 * The completion then runs on the loop: the index is updated and every
 * request's callback is called.  Requests arriving while a batch is in
 * flight wait for the next one; that wait is what makes sessions share
 * an fsync without any timer.  At most one batch is in flight, so the
 * segment's descriptor is only ever used by one thread at a time, and the
 * worker gets copies of the segment state instead of touching the queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/array.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/worker.h"
#include "queue/queue_private.h"

struct queue_msg {
	struct queue *q;
	struct queue_env env;
	struct buf *mem; /* the body while it is small */
	int spill_fd;	 /* data/ID once it is not */
	uint64_t size;
	bool failed;
	struct error err;
};

enum qreq_kind {
	R_MSG,	  /* commit a new message */
	R_LOG,	  /* append one RCPT or DONE record */
	R_FILE,	  /* (re)write a message's own envelope file */
	R_UNLINK, /* delete a message's own files */
	R_NOOP	  /* nothing to write: only the callback */
};

struct qreq {
	struct list_node node;
	enum qreq_kind kind;
	char id[QUEUE_ID_MAX];
	struct queue_msg *msg; /* R_MSG */
	enum qrec_type rtype;  /* R_LOG */
	struct buf *payload;   /* R_LOG */
	struct queue_env fenv; /* R_FILE: the snapshot to write */
	enum queue_state from; /* R_FILE/R_UNLINK: current directory */
	bool from_file;	       /* ... if the message has its own file */
	char *copy_seg;	       /* R_FILE: copy the body from this segment */
	uint64_t copy_off, copy_len;
	bool done_after; /* R_FILE: then retire the log copy */
	bool holds_busy; /* completion drops the entry's busy mark */
	queue_commit_fn *commit_cb;
	queue_done_fn *done_cb;
	void *ctx;
	/* Results, written by the worker. */
	bool failed;
	struct error err;
	uint64_t seg_seq, body_off;
};

/* Directories a batch has to sync. */
enum { D_INCOMING = 1, D_DEFERRED = 2, D_HOLD = 4, D_DATA = 8 };

struct qbatch {
	struct queue *q;
	struct array *reqs;    /* struct qreq *, in order */
	struct array *reclaim; /* segment paths to delete */
	char *dir;
	/* Segment state, copied in and out. */
	int seg_fd;
	uint64_t seg_seq, seg_size, next_seq, segment_size;
	bool seg_broken;
	char *seg_path;
	bool new_seg;
	/* Counters merged into q->stats on completion. */
	uint64_t syncs, freed, msgs;
};

static void kick(struct queue *q);

/* ---- Writers. */

struct queue_msg *queue_msg_new(struct queue *q)
{
	struct queue_msg *m = xcalloc(1, sizeof(*m));

	m->q = q;
	m->mem = buf_new();
	m->spill_fd = -1;
	queue_id_new(m->env.id);
	m->env.arrival = time_wall_ms();
	return m;
}

struct queue_env *queue_msg_env(struct queue_msg *m)
{
	return &m->env;
}

const char *queue_msg_id(const struct queue_msg *m)
{
	return m->env.id;
}

uint64_t queue_msg_size(const struct queue_msg *m)
{
	return m->size;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int queue_msg_write(struct queue_msg *m, const void *data, size_t len,
		    struct error *err)
{
	if (m->failed) {
		if (err != NULL)
			*err = m->err;
		return -1;
	}
	if (m->spill_fd < 0 &&
	    buf_len(m->mem) + len > m->q->params.large_message_size) {
		/* Too large for a segment: the body goes to its own file,
		 * written now and synced at commit (never before the
		 * client has sent it all). */
		char *p = queue_data_path(m->q, m->env.id);

		m->spill_fd =
		    open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (m->spill_fd < 0 || write_all(m->spill_fd, buf_data(m->mem),
						 buf_len(m->mem)) < 0) {
			error_set(&m->err, ERR_TEMP, "%s: %s", p,
				  strerror(errno));
			m->failed = true;
		}
		free(p);
		buf_free(&m->mem);
		m->mem = buf_new();
	}
	if (!m->failed && m->spill_fd >= 0 &&
	    write_all(m->spill_fd, data, len) < 0) {
		error_set(&m->err, ERR_TEMP, "%s: write: %s", m->env.id,
			  strerror(errno));
		m->failed = true;
	}
	if (m->failed) {
		if (err != NULL)
			*err = m->err;
		return -1;
	}
	if (m->spill_fd < 0)
		buf_append(m->mem, data, len);
	m->size += len;
	return 0;
}

static void msg_free(struct queue_msg *m, bool unlink_spill)
{
	if (m->spill_fd >= 0) {
		close(m->spill_fd);
		if (unlink_spill) {
			char *p = queue_data_path(m->q, m->env.id);

			unlink(p);
			free(p);
		}
	}
	buf_free(&m->mem);
	queue_env_clear(&m->env);
	free(m);
}

void queue_msg_abort(struct queue_msg **mp)
{
	if (*mp == NULL)
		return;
	msg_free(*mp, true);
	*mp = NULL;
}

/* ---- Requests. */

static void kick_cb(struct ev *ev, void *ctx)
{
	struct queue *q = ctx;

	q->kick_scheduled = false;
	kick(q);
}

static struct qreq *req_new(enum qreq_kind kind, const char *id)
{
	struct qreq *r = xcalloc(1, sizeof(*r));

	r->kind = kind;
	snprintf(r->id, sizeof(r->id), "%s", id);
	return r;
}

static void req_free(struct qreq *r)
{
	buf_free(&r->payload);
	queue_env_clear(&r->fenv);
	free(r->copy_seg);
	free(r);
}

static void submit(struct queue *q, struct qreq *r)
{
	list_push_back(&q->pending, &r->node);
	q->npending++;
	if (q->inflight != NULL || q->kick_scheduled)
		return;
	q->kick_scheduled = true;
	/* With no batch in flight, wait for company: until the next loop
	 * iteration (every session served in this one joins), or up to
	 * commit_max_delay. */
	if (q->params.commit_max_delay_ms > 0)
		ev_timer_add(q->ev, q->params.commit_max_delay_ms, kick_cb, q);
	else
		ev_defer(q->ev, kick_cb, q);
}

void queue_msg_commit(struct queue_msg *m, queue_commit_fn *done, void *ctx)
{
	struct queue *q = m->q;
	struct qreq *r = req_new(R_MSG, m->env.id);

	r->msg = m;
	r->commit_cb = done;
	r->ctx = ctx;
	m->env.size = m->size;
	if (q->params.readonly || q->ev == NULL) {
		r->failed = true;
		error_set(&r->err, ERR_PERM, "queue opened read-only");
	} else if (m->failed) {
		r->failed = true;
		r->err = m->err;
	} else if (m->env.nrcpts == 0 || m->env.sender == NULL) {
		r->failed = true;
		error_set(&r->err, ERR_PERM, "%s: no sender or recipients",
			  m->env.id);
	}
	if (r->failed && (q->ev == NULL || q->params.readonly)) {
		r->commit_cb(r->ctx, r->id, &r->err);
		msg_free(m, true);
		req_free(r);
		return;
	}
	if (r->failed) {
		/* Report on the next iteration, never from inside the call:
		 * the caller may not expect re-entry. */
		list_push_back(&q->pending, &r->node);
		q->npending++;
		if (!q->kick_scheduled && q->inflight == NULL) {
			q->kick_scheduled = true;
			ev_defer(q->ev, kick_cb, q);
		}
		return;
	}
	submit(q, r);
}

/* ---- The worker side. */

static void bump(struct qbatch *b)
{
	b->syncs++;
}

static int dir_sync(struct qbatch *b, const char *sub, struct error *err)
{
	char *p = xasprintf("%s/%s", b->dir, sub);
	int r = fs_fsync_dir(p, err);

	bump(b);
	free(p);
	return r;
}

static unsigned dir_bit(enum queue_state s)
{
	return s == QUEUE_DEFERRED ? D_DEFERRED
	       : s == QUEUE_HOLD   ? D_HOLD
				   : D_INCOMING;
}

static int write_env_file(struct qbatch *b, const struct queue_env *env,
			  enum queue_state s, struct error *err)
{
	struct buf *tlv = buf_new(), *rec = buf_new();
	char *path =
	    xasprintf("%s/%s/%s", b->dir, queue_state_name(s), env->id);
	char *tmp = xasprintf("%s.tmp", path);
	int fd, ret = -1;

	qrec_env_encode(tlv, env);
	qrec_append(rec, QREC_ENV, buf_data(tlv), buf_len(tlv));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, buf_data(rec), buf_len(rec)) < 0 ||
	    fdatasync(fd) < 0) {
		error_set(err, ERR_TEMP, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		goto out;
	}
	bump(b);
	close(fd);
	if (rename(tmp, path) < 0) {
		error_set(err, ERR_TEMP, "rename %s: %s", path,
			  strerror(errno));
		unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	buf_free(&tlv);
	buf_free(&rec);
	free(path);
	free(tmp);
	return ret;
}

static int copy_body(struct qbatch *b, struct qreq *r, struct error *err)
{
	char *path = xasprintf("%s/data/%s", b->dir, r->id);
	int in = open(r->copy_seg, O_RDONLY | O_CLOEXEC);
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	uint64_t done = 0;
	char chunk[65536];
	int ret = -1;

	if (in < 0 || out < 0)
		goto fail;
	while (done < r->copy_len) {
		size_t want = r->copy_len - done < sizeof(chunk)
				  ? (size_t)(r->copy_len - done)
				  : sizeof(chunk);
		ssize_t n = pread(in, chunk, want, (off_t)(r->copy_off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto fail;
		}
		if (write_all(out, chunk, (size_t)n) < 0)
			goto fail;
		done += (uint64_t)n;
	}
	if (fdatasync(out) < 0)
		goto fail;
	bump(b);
	ret = 0;
	goto out;
fail:
	error_set(err, ERR_TEMP, "%s: copy body: %s", r->id, strerror(errno));
	unlink(path);
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	free(path);
	return ret;
}

/* Step 1: files, each synced; returns the directories to sync. */
static unsigned do_file_work(struct qbatch *b, struct qreq *r)
{
	struct error *err = &r->err;

	switch (r->kind) {
	case R_MSG:
		if (r->msg->spill_fd < 0)
			return 0;
		if (fdatasync(r->msg->spill_fd) < 0) {
			error_set(err, ERR_TEMP, "%s: fsync: %s", r->id,
				  strerror(errno));
			r->failed = true;
			return 0;
		}
		bump(b);
		if (write_env_file(b, &r->msg->env, QUEUE_INCOMING, err) < 0) {
			r->failed = true;
			return 0;
		}
		return D_DATA | D_INCOMING;
	case R_FILE:
		if (r->copy_seg != NULL && copy_body(b, r, err) < 0) {
			r->failed = true;
			return 0;
		}
		if (write_env_file(b, &r->fenv, r->fenv.state, err) < 0) {
			r->failed = true;
			return 0;
		}
		return dir_bit(r->fenv.state) |
		       (r->copy_seg != NULL ? D_DATA : 0);
	case R_UNLINK: {
		char *p = xasprintf("%s/%s/%s", b->dir,
				    queue_state_name(r->from), r->id);
		char *d = xasprintf("%s/data/%s", b->dir, r->id);

		if (unlink(p) < 0 && errno != ENOENT) {
			error_set(err, ERR_TEMP, "unlink %s: %s", p,
				  strerror(errno));
			r->failed = true;
		} else {
			unlink(d);
		}
		free(p);
		free(d);
		return r->failed ? 0 : dir_bit(r->from);
	}
	case R_LOG:
	case R_NOOP:
		break;
	}
	return 0;
}

static int open_segment(struct qbatch *b, struct error *err)
{
	if (b->seg_fd >= 0 && !b->seg_broken && b->seg_size < b->segment_size)
		return 0;
	if (b->seg_fd >= 0)
		close(b->seg_fd);
	b->seg_fd = -1;
	b->seg_seq = b->next_seq++;
	free(b->seg_path);
	b->seg_path =
	    xasprintf("%s/incoming/seg-%016" PRIx64, b->dir, b->seg_seq);
	b->seg_fd =
	    open(b->seg_path,
		 O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (b->seg_fd < 0)
		return error_set(err, ERR_TEMP, "create %s: %s", b->seg_path,
				 strerror(errno));
	b->seg_size = 0;
	b->seg_broken = false;
	b->new_seg = true;
	/* The new name must survive a crash before any record in it is
	 * acknowledged. */
	return dir_sync(b, "incoming", err);
}

static void fail_log_reqs(struct qbatch *b, const struct error *err)
{
	for (size_t i = 0; i < array_len(b->reqs); i++) {
		struct qreq *r = array_get(b->reqs, i);

		if (r->failed)
			continue;
		if ((r->kind == R_MSG && r->msg->spill_fd < 0) ||
		    r->kind == R_LOG || (r->kind == R_FILE && r->done_after)) {
			r->failed = true;
			r->err = *err;
		}
	}
}

/* Step 2: every log record of the batch, one write, one fdatasync. */
static void do_log(struct qbatch *b)
{
	struct buf *out = buf_new();
	struct error err;

	for (size_t i = 0; i < array_len(b->reqs); i++) {
		struct qreq *r = array_get(b->reqs, i);

		if (r->failed)
			continue;
		if (r->kind == R_MSG && r->msg->spill_fd < 0) {
			qrec_append_msg(out, &r->msg->env,
					buf_data(r->msg->mem),
					buf_len(r->msg->mem));
			r->body_off = buf_len(out) - buf_len(r->msg->mem);
			b->msgs++;
		} else if (r->kind == R_LOG) {
			qrec_append(out, r->rtype, buf_data(r->payload),
				    buf_len(r->payload));
		} else if (r->kind == R_FILE && r->done_after) {
			struct buf *p = buf_new();

			qrec_done_encode(p, r->id);
			qrec_append(out, QREC_DONE, buf_data(p), buf_len(p));
			buf_free(&p);
		}
	}
	if (buf_len(out) == 0)
		goto out;
	if (open_segment(b, &err) < 0) {
		b->seg_broken = true;
		fail_log_reqs(b, &err);
		goto out;
	}
	if (write_all(b->seg_fd, buf_data(out), buf_len(out)) < 0 ||
	    (bump(b), fdatasync(b->seg_fd) < 0)) {
		error_set(&err, ERR_TEMP, "%s: %s", b->seg_path,
			  strerror(errno));
		/* Take the partial batch back out if we can; either way the
		 * next batch starts a fresh segment, since after a failed
		 * fsync the page cache may not say what the disk holds. */
		if (ftruncate(b->seg_fd, (off_t)b->seg_size) < 0)
			log_warn("queue: %s: cannot truncate: %s", b->seg_path,
				 strerror(errno));
		b->seg_broken = true;
		fail_log_reqs(b, &err);
		goto out;
	}
	for (size_t i = 0; i < array_len(b->reqs); i++) {
		struct qreq *r = array_get(b->reqs, i);

		if (!r->failed && r->kind == R_MSG && r->msg->spill_fd < 0) {
			r->seg_seq = b->seg_seq;
			r->body_off += b->seg_size;
		}
	}
	b->seg_size += buf_len(out);
out:
	buf_free(&out);
}

static void batch_work(void *ctx)
{
	struct qbatch *b = ctx;
	unsigned dirs = 0;
	struct error err;

	for (size_t i = 0; i < array_len(b->reqs); i++) {
		struct qreq *r = array_get(b->reqs, i);

		if (!r->failed)
			dirs |= do_file_work(b, r);
	}
	static const struct {
		unsigned bit;
		const char *name;
	} dl[] = {{D_DATA, "data"},
		  {D_INCOMING, "incoming"},
		  {D_DEFERRED, "deferred"},
		  {D_HOLD, "hold"}};
	for (size_t i = 0; i < sizeof(dl) / sizeof(dl[0]); i++) {
		if (!(dirs & dl[i].bit) || dir_sync(b, dl[i].name, &err) == 0)
			continue;
		/* The names are not durable: fail whatever depended on it. */
		for (size_t k = 0; k < array_len(b->reqs); k++) {
			struct qreq *r = array_get(b->reqs, k);

			if (!r->failed && r->kind != R_LOG &&
			    (r->kind != R_MSG || r->msg->spill_fd >= 0)) {
				r->failed = true;
				r->err = err;
			}
		}
	}
	/* A move's old envelope goes only now that the new one is durable;
	 * if this unlink is lost in a crash, the higher generation wins. */
	for (size_t i = 0; i < array_len(b->reqs); i++) {
		struct qreq *r = array_get(b->reqs, i);

		if (!r->failed && r->kind == R_FILE && r->from_file &&
		    r->from != r->fenv.state) {
			char *p = xasprintf("%s/%s/%s", b->dir,
					    queue_state_name(r->from), r->id);

			unlink(p);
			free(p);
		}
	}
	do_log(b);
	for (size_t i = 0; i < array_len(b->reclaim); i++) {
		const char *p = array_get(b->reclaim, i);

		/* One directory sync per segment keeps deletions ordered. */
		if (unlink(p) == 0) {
			b->freed++;
			fs_fsync_dir(p, NULL);
			bump(b);
		} else if (errno != ENOENT) {
			log_warn("queue: unlink %s: %s", p, strerror(errno));
		}
	}
}

/* ---- Completion on the loop. */

static void complete_req(struct queue *q, struct qbatch *b, struct qreq *r)
{
	struct qent *e = hash_get(q->index, r->id);
	const struct error *err = r->failed ? &r->err : NULL;

	switch (r->kind) {
	case R_MSG:
		if (r->failed) {
			log_warn("%s: queue commit failed: %s", r->id,
				 r->err.msg);
			if (r->commit_cb != NULL)
				r->commit_cb(r->ctx, r->id, &r->err);
			msg_free(r->msg, true);
			return;
		}
		r->msg->env.state = QUEUE_INCOMING;
		e = xcalloc(1, sizeof(*e));
		e->env = r->msg->env;
		memset(&r->msg->env, 0, sizeof(r->msg->env));
		list_init(&e->node);
		if (r->msg->spill_fd < 0) {
			e->seg = queue_seg_get(q, r->seg_seq);
			e->seg->live++;
			e->body_off = r->body_off;
			e->body_len = e->env.size;
		} else {
			e->disk_state = QUEUE_INCOMING;
		}
		hash_put(q->index, e->env.id, e);
		list_push_back(&q->msgs, &e->node);
		if (r->commit_cb != NULL)
			r->commit_cb(r->ctx, r->id, NULL);
		msg_free(r->msg, false);
		return;
	case R_LOG:
		if (!r->failed && r->rtype == QREC_DONE && e != NULL)
			queue_ent_remove(q, e);
		else if (e != NULL && r->rtype == QREC_DONE)
			e->busy--;
		break;
	case R_FILE:
		if (e == NULL)
			break;
		if (r->holds_busy)
			e->busy--;
		if (r->failed)
			break;
		if (e->seg != NULL) {
			e->seg->live--;
			e->seg = NULL;
		}
		e->disk_state = r->fenv.state;
		if (e->env.state != QUEUE_ACTIVE || r->fenv.state == QUEUE_HOLD)
			e->env.state = r->fenv.state;
		break;
	case R_UNLINK:
		if (e == NULL)
			break;
		if (r->failed)
			e->busy--;
		else
			queue_ent_remove(q, e);
		break;
	case R_NOOP:
		break;
	}
	(void)b;
	if (r->failed)
		log_warn("%s: queue update failed: %s", r->id, r->err.msg);
	if (r->done_cb != NULL)
		r->done_cb(r->ctx, err);
}

static void batch_free(struct qbatch *b)
{
	for (size_t i = 0; i < array_len(b->reqs); i++) {
		struct qreq *r = array_get(b->reqs, i);

		if (r->msg != NULL)
			msg_free(r->msg, true);
		req_free(r);
	}
	array_free(&b->reqs);
	array_free_with(&b->reclaim, free);
	free(b->seg_path);
	free(b->dir);
	free(b);
}

static void batch_done(void *ctx)
{
	struct qbatch *b = ctx;
	struct queue *q = b->q;

	q->inflight = NULL;
	q->seg_fd = b->seg_fd;
	q->seg_size = b->seg_size;
	q->seg_broken = b->seg_broken;
	q->next_seq = b->next_seq;
	if (b->new_seg) {
		q->seg_seq = b->seg_seq;
		free(q->seg_path);
		q->seg_path = xstrdup(b->seg_path);
		queue_seg_get(q, b->seg_seq);
	}
	q->stats.syncs += b->syncs;
	q->stats.segments_freed += b->freed;
	q->stats.batches++;
	q->stats.batched_msgs += b->msgs;
	if (b->msgs > q->stats.max_batch)
		q->stats.max_batch = b->msgs;
	for (size_t i = 0; i < array_len(b->reqs); i++) {
		struct qreq *r = array_get(b->reqs, i);

		complete_req(q, b, r);
		r->msg = NULL;
	}
	batch_free(b);
	kick(q);
}

static void kick(struct queue *q)
{
	struct qbatch *b;
	struct array *reclaim;

	if (q->inflight != NULL || q->params.readonly)
		return;
	reclaim = queue_seg_reclaimable(q);
	if (q->npending == 0 && array_len(reclaim) == 0) {
		array_free(&reclaim);
		return;
	}
	if (q->kick_scheduled) {
		q->kick_scheduled = false;
		ev_timer_del(q->ev, kick_cb, q);
		ev_defer_cancel(q->ev, kick_cb, q);
	}
	b = xcalloc(1, sizeof(*b));
	b->q = q;
	b->reqs = array_new();
	b->reclaim = reclaim;
	b->dir = xstrdup(q->dir);
	b->seg_fd = q->seg_fd;
	b->seg_seq = q->seg_seq;
	b->seg_size = q->seg_size;
	b->seg_broken = q->seg_broken;
	b->next_seq = q->next_seq;
	b->segment_size = q->params.segment_size;
	b->seg_path = q->seg_path != NULL ? xstrdup(q->seg_path) : NULL;
	while (!list_empty(&q->pending) &&
	       array_len(b->reqs) < q->params.commit_max_batch) {
		struct qreq *r = LIST_ENTRY(q->pending.next, struct qreq, node);

		list_remove(&r->node);
		q->npending--;
		array_push(b->reqs, r);
	}
	q->inflight = b;
	worker_submit(q->pool, batch_work, batch_done, b);
}

void queue_commit_shutdown(struct queue *q)
{
	if (q->ev != NULL) {
		ev_timer_del(q->ev, kick_cb, q);
		ev_defer_cancel(q->ev, kick_cb, q);
	}
	if (q->inflight != NULL) {
		/* Our own pool joins the job below; a shared pool would run
		 * the completion on a freed queue. */
		ASSERT(q->own_pool);
		worker_pool_free(&q->pool);
		q->seg_fd = q->inflight->seg_fd;
		q->inflight->seg_fd = -1;
		batch_free(q->inflight);
		q->inflight = NULL;
	}
	while (!list_empty(&q->pending)) {
		struct qreq *r = LIST_ENTRY(q->pending.next, struct qreq, node);

		list_remove(&r->node);
		if (r->msg != NULL)
			msg_free(r->msg, true);
		req_free(r);
	}
	q->npending = 0;
}

/* ---- State changes. */

static struct qent *lookup(struct queue *q, const char *id, struct error *err)
{
	struct qent *e = hash_get(q->index, id);

	if (q->params.readonly || q->ev == NULL) {
		error_set(err, ERR_PERM, "queue opened read-only");
		return NULL;
	}
	if (e == NULL)
		error_set_code(err, ERR_PERM, "not_found",
			       "%s: no such message", id);
	else if (e->busy > 0) {
		error_set_code(err, ERR_TEMP, "busy",
			       "%s: a move or delete is in progress", id);
		e = NULL;
	}
	return e;
}

static struct qreq *file_req(struct qent *e, enum queue_state to)
{
	struct qreq *r = req_new(R_FILE, e->env.id);

	queue_env_copy(&r->fenv, &e->env);
	r->fenv.state = to;
	r->fenv.gen = ++e->env.gen;
	r->from = e->disk_state;
	r->from_file = e->seg == NULL;
	if (e->seg != NULL) {
		r->copy_seg = xstrdup(e->seg->path);
		r->copy_off = e->body_off;
		r->copy_len = e->body_len;
		r->done_after = true;
	}
	return r;
}

int queue_rcpt_set_status(struct queue *q, const char *id, size_t rcpt,
			  enum queue_rcpt_status status, int64_t next_retry,
			  const char *reply, queue_done_fn *done, void *ctx,
			  struct error *err)
{
	struct qent *e = lookup(q, id, err);
	struct queue_rcpt *rc;
	struct qreq *r;

	if (e == NULL)
		return -1;
	if (rcpt >= e->env.nrcpts)
		return error_set(err, ERR_PERM, "%s: no recipient %zu", id,
				 rcpt);
	/* Memory goes first; if the record fails, the disk is behind and a
	 * restart repeats at most this delivery. */
	rc = &e->env.rcpts[rcpt];
	rc->status = status;
	rc->next_retry = next_retry;
	queue_env_set(&rc->reply, reply);
	if (e->seg != NULL) {
		struct qrec_status st = {.rcpt = (uint32_t)rcpt,
					 .status = status,
					 .next_retry = next_retry,
					 .reply = (char *)reply};

		snprintf(st.id, sizeof(st.id), "%s", id);
		r = req_new(R_LOG, id);
		r->rtype = QREC_RCPT;
		r->payload = buf_new();
		qrec_status_encode(r->payload, &st);
	} else {
		r = file_req(e, e->disk_state);
	}
	r->done_cb = done;
	r->ctx = ctx;
	submit(q, r);
	return 0;
}

int queue_move(struct queue *q, const char *id, enum queue_state to,
	       queue_done_fn *done, void *ctx, struct error *err)
{
	struct qent *e = lookup(q, id, err);
	struct qreq *r;

	if (e == NULL)
		return -1;
	if (to != QUEUE_INCOMING && to != QUEUE_DEFERRED && to != QUEUE_HOLD)
		return error_set(err, ERR_PERM, "%s: cannot move to %s", id,
				 queue_state_name(to));
	if ((to == QUEUE_INCOMING && e->seg != NULL) ||
	    (e->seg == NULL && e->disk_state == to)) {
		/* Already there on disk: only the in-memory ACTIVE mark
		 * goes.  The callback still runs from the loop, never from
		 * inside this call. */
		e->env.state = to;
		r = req_new(R_NOOP, id);
		r->done_cb = done;
		r->ctx = ctx;
		submit(q, r);
		return 0;
	}
	r = file_req(e, to);
	r->holds_busy = true;
	e->busy++;
	r->done_cb = done;
	r->ctx = ctx;
	submit(q, r);
	return 0;
}

int queue_delete(struct queue *q, const char *id, queue_done_fn *done,
		 void *ctx, struct error *err)
{
	struct qent *e = lookup(q, id, err);
	struct qreq *r;

	if (e == NULL)
		return -1;
	if (e->seg != NULL) {
		r = req_new(R_LOG, id);
		r->rtype = QREC_DONE;
		r->payload = buf_new();
		qrec_done_encode(r->payload, id);
	} else {
		r = req_new(R_UNLINK, id);
		r->from = e->disk_state;
	}
	e->busy++;
	r->done_cb = done;
	r->ctx = ctx;
	submit(q, r);
	return 0;
}
