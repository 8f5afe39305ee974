/*
 * queue_open - opening, crash recovery, the index and body readers.
 *
 * Recovery order matters (docs/queue.md): message files first (incoming/,
 * deferred/, hold/: a message's own file always wins over its copy in a
 * segment, because a move writes the file durably before the DONE record
 * that retires the segment copy), then every segment oldest first,
 * replaying MSG, RCPT and DONE records.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/array.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/worker.h"
#include "queue/queue_private.h"

#define QUEUE_ENV_FILE_MAX (64u << 20)

static const enum queue_state file_states[] = {QUEUE_INCOMING, QUEUE_DEFERRED,
					       QUEUE_HOLD};

char *queue_state_path(const struct queue *q, enum queue_state s,
		       const char *id)
{
	ASSERT(s != QUEUE_ACTIVE);
	if (id == NULL)
		return xasprintf("%s/%s", q->dir, queue_state_name(s));
	return xasprintf("%s/%s/%s", q->dir, queue_state_name(s), id);
}

char *queue_data_path(const struct queue *q, const char *id)
{
	return xasprintf("%s/data/%s", q->dir, id);
}

char *queue_seg_path(const struct queue *q, uint64_t seq)
{
	return xasprintf("%s/incoming/seg-%016" PRIx64, q->dir, seq);
}

struct qseg *queue_seg_get(struct queue *q, uint64_t seq)
{
	struct list_node *n, *tmp;
	struct qseg *s;

	LIST_FOREACH(n, tmp, &q->segs)
	{
		s = LIST_ENTRY(n, struct qseg, node);
		if (s->seq == seq)
			return s;
		if (s->seq > seq)
			break;
	}
	s = xcalloc(1, sizeof(*s));
	s->seq = seq;
	s->path = queue_seg_path(q, seq);
	/* Insert before n (the first larger one, or the head). */
	list_insert_between(&s->node, n->prev, n);
	q->stats.segments_live++;
	return s;
}

static void seg_free(struct qseg *s)
{
	list_remove(&s->node);
	free(s->path);
	free(s);
}

struct array *queue_seg_reclaimable(struct queue *q)
{
	struct array *out = array_new();
	struct list_node *n, *tmp;

	LIST_FOREACH(n, tmp, &q->segs)
	{
		struct qseg *s = LIST_ENTRY(n, struct qseg, node);

		/* In order only: a later segment may hold the DONE or RCPT
		 * records of a message still live in an earlier one. */
		if (s->live > 0 || s->seq >= q->seg_seq)
			break;
		array_push(out, s->path);
		s->path = NULL;
		seg_free(s);
		q->stats.segments_live--;
	}
	return out;
}

static struct qent *ent_new(struct queue *q, struct queue_env *env)
{
	struct qent *e = xcalloc(1, sizeof(*e));

	e->env = *env;
	memset(env, 0, sizeof(*env));
	list_init(&e->node);
	hash_put(q->index, e->env.id, e);
	return e;
}

static void ent_free(void *p)
{
	struct qent *e = p;

	list_remove(&e->node);
	queue_env_clear(&e->env);
	free(e);
}

void queue_ent_remove(struct queue *q, struct qent *e)
{
	if (e->seg != NULL) {
		ASSERT(e->seg->live > 0);
		e->seg->live--;
	}
	hash_del(q->index, e->env.id); /* frees e */
}

/* ---- Corrupt data: kept, never dropped. */

static void corrupt_save(struct queue *q, const char *name, const void *data,
			 size_t len, const char *why)
{
	char *path = xasprintf("%s/corrupt/%s", q->dir, name);
	struct error err;

	q->stats.corrupt++;
	if (q->params.readonly) {
		log_warn("queue: %s: %s (read-only: left in place)", name, why);
	} else if (fs_write_atomic(path, data, len, 0600, &err) < 0) {
		log_error("queue: %s: %s; cannot save to corrupt/: %s", name,
			  why, err.msg);
	} else {
		log_warn("queue: %s: %s; %zu bytes saved as corrupt/%s", name,
			 why, len, name);
	}
	free(path);
}

static void corrupt_move(struct queue *q, enum queue_state s, const char *name,
			 const char *why)
{
	char *from = queue_state_path(q, s, name);
	char *to = xasprintf("%s/corrupt/%s", q->dir, name);

	q->stats.corrupt++;
	if (q->params.readonly) {
		log_warn("queue: %s/%s: %s (read-only: left in place)",
			 queue_state_name(s), name, why);
	} else if (rename(from, to) < 0) {
		log_error("queue: %s/%s: %s; cannot move to corrupt/: %s",
			  queue_state_name(s), name, why, strerror(errno));
	} else {
		log_warn("queue: %s: %s; moved from %s/ to corrupt/", name, why,
			 queue_state_name(s));
		if (queue_id_valid(name)) {
			char *d = queue_data_path(q, name);
			char *dt = xasprintf("%s.data", to);

			if (rename(d, dt) < 0 && errno != ENOENT)
				log_error("queue: %s: cannot move data: %s",
					  name, strerror(errno));
			free(d);
			free(dt);
		}
		fs_fsync_dir(to, NULL);
	}
	free(from);
	free(to);
}

/* ---- Message files. */

static void load_file(struct queue *q, enum queue_state s, const char *name)
{
	char *path = queue_state_path(q, s, name);
	struct buf *b = buf_new();
	struct queue_env env = {0};
	struct error err;
	enum qrec_type type;
	const unsigned char *payload;
	size_t plen, total;
	struct qent *old;
	int r;

	if (fs_read_file(path, b, QUEUE_ENV_FILE_MAX, &err) < 0) {
		log_error("queue: %s", err.msg);
		goto out;
	}
	r = qrec_parse(buf_data(b), buf_len(b), &type, &payload, &plen, &total,
		       &err);
	if (r == 0)
		error_set(&err, ERR_PERM, "truncated envelope file");
	if (r == 1 && (type != QREC_ENV || total != buf_len(b))) {
		r = -1;
		error_set(&err, ERR_PERM, "not an envelope file");
	}
	if (r == 1 && qrec_env_decode(payload, plen, &env, &err) < 0)
		r = -1;
	if (r == 1 && strcmp(env.id, name) != 0) {
		r = -1;
		error_set(&err, ERR_PERM, "id %s does not match the name",
			  env.id);
	}
	if (r != 1) {
		queue_env_clear(&env);
		corrupt_move(q, s, name, err.msg);
		goto out;
	}
	env.state = s;
	old = hash_get(q->index, name);
	if (old != NULL) {
		/* A crash in the middle of a move left two copies: the later
		 * generation is the truth. */
		enum queue_state lose =
		    old->env.gen > env.gen ? s : old->disk_state;
		char *lp = queue_state_path(q, lose, name);

		log_info("queue: %s: copies in %s/ and %s/, keeping gen %u",
			 name, queue_state_name(old->disk_state),
			 queue_state_name(s),
			 old->env.gen > env.gen ? old->env.gen : env.gen);
		if (!q->params.readonly)
			unlink(lp);
		free(lp);
		if (old->env.gen > env.gen) {
			queue_env_clear(&env);
			goto out;
		}
		queue_ent_remove(q, old);
	}
	struct qent *e = ent_new(q, &env);

	e->disk_state = s;
	list_push_back(&q->msgs, &e->node);
out:
	queue_env_clear(&env);
	buf_free(&b);
	free(path);
}

static int load_dir(struct queue *q, enum queue_state s, struct array *segs,
		    struct error *err)
{
	char *dpath = queue_state_path(q, s, NULL);
	DIR *d = opendir(dpath);
	struct dirent *de;

	if (d == NULL) {
		error_set(err, ERR_TEMP, "open %s: %s", dpath, strerror(errno));
		free(dpath);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		unsigned long long seq;

		if (name[0] == '.' &&
		    (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
			continue;
		if (s == QUEUE_INCOMING && str_has_prefix(name, "seg-")) {
			char *end;

			errno = 0;
			seq = strtoull(name + 4, &end, 16);
			if (*end == '\0' && errno == 0 && strlen(name) == 20)
				array_push(segs, (void *)(uintptr_t)seq);
			else
				corrupt_move(q, s, name, "bad segment name");
			continue;
		}
		if (strstr(name, ".tmp") != NULL) {
			/* An envelope write that never reached its rename. */
			char *p = xasprintf("%s/%s", dpath, name);

			if (!q->params.readonly)
				unlink(p);
			free(p);
			continue;
		}
		if (!queue_id_valid(name)) {
			corrupt_move(q, s, name, "not a queue file name");
			continue;
		}
		load_file(q, s, name);
	}
	closedir(d);
	free(dpath);
	return 0;
}

/* ---- Segments. */

static bool all_zero(const unsigned char *p, size_t n)
{
	while (n > 0 && *p == 0) {
		p++;
		n--;
	}
	return n == 0;
}

static void replay_record(struct queue *q, struct qseg *seg, uint64_t off,
			  enum qrec_type type, const unsigned char *pl,
			  size_t plen, size_t total, const unsigned char *raw)
{
	struct queue_env env = {0};
	struct qrec_status st;
	struct error err;
	char id[QUEUE_ID_MAX];
	size_t boff, blen;
	struct qent *e;

	switch (type) {
	case QREC_MSG:
		if (qrec_msg_decode(pl, plen, &env, &boff, &blen, &err) < 0)
			break;
		e = hash_get(q->index, env.id);
		if (e != NULL) {
			/* Its own file is newer than the log copy. */
			if (e->seg != NULL)
				log_warn("queue: %s: duplicate message "
					 "record in %s",
					 env.id, seg->path);
			queue_env_clear(&env);
			return;
		}
		env.state = QUEUE_INCOMING;
		e = ent_new(q, &env);
		e->seg = seg;
		e->body_off = off + QREC_HDR_SIZE + boff;
		e->body_len = blen;
		seg->live++;
		list_push_back(&q->msgs, &e->node);
		return;
	case QREC_RCPT:
		if (qrec_status_decode(pl, plen, &st, &err) < 0)
			break;
		e = hash_get(q->index, st.id);
		if (e != NULL && e->seg != NULL && st.rcpt < e->env.nrcpts) {
			struct queue_rcpt *r = &e->env.rcpts[st.rcpt];

			r->status = st.status;
			r->next_retry = st.next_retry;
			free(r->reply);
			r->reply = st.reply;
			st.reply = NULL;
		}
		free(st.reply);
		return;
	case QREC_DONE:
		if (qrec_done_decode(pl, plen, id, &err) < 0)
			break;
		e = hash_get(q->index, id);
		if (e != NULL && e->seg != NULL)
			queue_ent_remove(q, e);
		return;
	default:
		error_set(&err, ERR_PERM, "unexpected record type %d", type);
		break;
	}
	char *name = xasprintf("seg-%016" PRIx64 "-%" PRIx64, seg->seq, off);

	corrupt_save(q, name, raw, total, err.msg);
	free(name);
}

static void replay_segment(struct queue *q, uint64_t seq)
{
	struct qseg *seg = queue_seg_get(q, seq);
	const unsigned char *p;
	struct stat sb;
	uint64_t off = 0, size;
	int fd = open(seg->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) < 0) {
		/* Keep the segment (and everything after it) rather than
		 * guess: the operator must look. */
		fatal("queue: cannot read %s: %s", seg->path, strerror(errno));
	}
	size = (uint64_t)sb.st_size;
	if (size == 0) {
		close(fd);
		return;
	}
	p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		fatal("queue: cannot map %s: %s", seg->path, strerror(errno));
	while (off < size) {
		enum qrec_type type;
		const unsigned char *pl;
		size_t plen, total;
		struct error err;
		int r = qrec_parse(p + off, size - off, &type, &pl, &plen,
				   &total, &err);

		if (r == 1) {
			replay_record(q, seg, off, type, pl, plen, total,
				      p + off);
			off += total;
			continue;
		}
		if (r == 0)
			error_set(&err, ERR_PERM, "incomplete record");
		/* Find the next intact record: what lies between is a torn
		 * write (a batch that was never acknowledged) or damage. */
		uint64_t next = off + 1;

		for (; next + QREC_HDR_SIZE <= size; next++) {
			enum qrec_type t2;
			const unsigned char *pl2;
			size_t l2, tot2;

			if (p[next] == 0x50 &&
			    qrec_parse(p + next, size - next, &t2, &pl2, &l2,
				       &tot2, NULL) == 1)
				break;
		}
		if (next + QREC_HDR_SIZE > size)
			next = size;
		if (!all_zero(p + off, next - off)) {
			char *name =
			    xasprintf("seg-%016" PRIx64 "-%" PRIx64, seq, off);

			corrupt_save(q, name, p + off, next - off,
				     next == size ? "torn segment tail"
						  : err.msg);
			free(name);
		}
		off = next;
	}
	munmap((void *)p, size);
}

static int cmp_seq(const void *a, const void *b)
{
	uint64_t x = (uintptr_t) * (void *const *)a;
	uint64_t y = (uintptr_t) * (void *const *)b;

	return x < y ? -1 : x > y;
}

static int cmp_arrival(const void *a, const void *b)
{
	const struct qent *x = *(void *const *)a, *y = *(void *const *)b;

	if (x->env.arrival != y->env.arrival)
		return x->env.arrival < y->env.arrival ? -1 : 1;
	return strcmp(x->env.id, y->env.id);
}

static void sort_msgs(struct queue *q)
{
	struct array *a = array_new();
	struct list_node *n, *tmp;

	LIST_FOREACH(n, tmp, &q->msgs)
	array_push(a, LIST_ENTRY(n, struct qent, node));
	array_sort(a, cmp_arrival);
	for (size_t i = 0; i < array_len(a); i++) {
		struct qent *e = array_get(a, i);

		list_remove(&e->node);
		list_push_back(&q->msgs, &e->node);
	}
	array_free(&a);
}

/* data/ID files whose envelope is gone: a crash between writing a large
 * body and its envelope, or after unlinking an envelope. */
static void clean_orphans(struct queue *q)
{
	char *dpath = xasprintf("%s/data", q->dir);
	DIR *d = opendir(dpath);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		struct qent *e;

		if (de->d_name[0] == '.')
			continue;
		e = hash_get(q->index, de->d_name);
		if (e == NULL || e->seg != NULL) {
			char *p = xasprintf("%s/%s", dpath, de->d_name);

			unlink(p);
			free(p);
		}
	}
	if (d != NULL)
		closedir(d);
	free(dpath);
}

static void unlink_segments(struct queue *q, struct array *paths)
{
	for (size_t i = 0; i < array_len(paths); i++) {
		char *p = array_get(paths, i);

		/* One directory sync per segment keeps deletions in order
		 * (see queue_seg_reclaimable). */
		if (unlink(p) == 0) {
			fs_fsync_dir(p, NULL);
			q->stats.segments_freed++;
		}
	}
	array_free_with(&paths, free);
}

static int make_dirs(struct queue *q, struct error *err)
{
	static const char *const sub[] = {"incoming", "deferred", "hold",
					  "corrupt", "data"};

	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		char *p = xasprintf("%s/%s", q->dir, sub[i]);
		int r = q->params.readonly ? (fs_exists(p) ? 0 : -1)
					   : fs_mkdir_p(p, 0700, err);

		if (r < 0 && q->params.readonly)
			error_set(err, ERR_TEMP, "%s: no such queue folder", p);
		free(p);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int take_lock(struct queue *q, struct error *err)
{
	char *p = xasprintf("%s/lock", q->dir);

	q->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (q->lock_fd < 0) {
		error_set(err, ERR_TEMP, "open %s: %s", p, strerror(errno));
		free(p);
		return -1;
	}
	if (flock(q->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		error_set(err, ERR_TEMP,
			  "queue %s is in use by another process", q->dir);
		free(p);
		return -1;
	}
	free(p);
	return 0;
}

struct queue *queue_open(const char *dir, struct ev *ev,
			 struct worker_pool *pool,
			 const struct queue_params *params, struct error *err)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	struct array *segs = array_new();

	q->dir = xstrdup(dir);
	q->ev = ev;
	q->lock_fd = -1;
	q->seg_fd = -1;
	if (params != NULL)
		q->params = *params;
	else
		queue_params_default(&q->params);
	q->index = hash_new(HASH_DEFAULT, ent_free);
	list_init(&q->msgs);
	list_init(&q->segs);
	list_init(&q->pending);
	if (!q->params.readonly &&
	    (fs_mkdir_p(dir, 0700, err) < 0 || make_dirs(q, err) < 0 ||
	     take_lock(q, err) < 0))
		goto fail;
	if (q->params.readonly && make_dirs(q, err) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(file_states) / sizeof(file_states[0]);
	     i++)
		if (load_dir(q, file_states[i], segs, err) < 0)
			goto fail;
	array_sort(segs, cmp_seq);
	for (size_t i = 0; i < array_len(segs); i++) {
		uint64_t seq = (uintptr_t)array_get(segs, i);

		replay_segment(q, seq);
		q->next_seq = seq + 1;
	}
	if (q->next_seq == 0)
		q->next_seq = 1;
	q->seg_seq = UINT64_MAX; /* none open: every old one may go */
	sort_msgs(q);
	if (!q->params.readonly) {
		clean_orphans(q);
		unlink_segments(q, queue_seg_reclaimable(q));
		if (ev != NULL && pool == NULL) {
			pool = worker_pool_new(ev, 1);
			q->own_pool = true;
		}
	}
	q->pool = pool;
	array_free(&segs);
	log_info("queue: %s: %zu messages, %" PRIu64 " segments", dir,
		 hash_count(q->index), q->stats.segments_live);
	return q;
fail:
	array_free(&segs);
	queue_close(&q);
	return NULL;
}

void queue_close(struct queue **qp)
{
	struct queue *q = *qp;

	if (q == NULL)
		return;
	queue_commit_shutdown(q);
	if (q->own_pool)
		worker_pool_free(&q->pool);
	if (q->seg_fd >= 0)
		close(q->seg_fd);
	while (!list_empty(&q->segs))
		seg_free(LIST_ENTRY(q->segs.next, struct qseg, node));
	hash_free(&q->index);
	if (q->lock_fd >= 0)
		close(q->lock_fd);
	free(q->seg_path);
	free(q->dir);
	free(q);
	*qp = NULL;
}

/* ---- Reading. */

void queue_scan(struct queue *q, queue_scan_fn *cb, void *ctx)
{
	struct list_node *n, *tmp;

	LIST_FOREACH(n, tmp, &q->msgs)
	{
		struct qent *e = LIST_ENTRY(n, struct qent, node);

		if (cb(ctx, &e->env) != 0)
			break;
	}
}

size_t queue_count(const struct queue *q)
{
	return hash_count(q->index);
}

int queue_env_get(struct queue *q, const char *id, struct queue_env *env)
{
	struct qent *e = hash_get(q->index, id);

	if (e == NULL)
		return 0;
	queue_env_copy(env, &e->env);
	return 1;
}

int queue_activate(struct queue *q, const char *id, struct error *err)
{
	struct qent *e = hash_get(q->index, id);

	if (e == NULL)
		return error_set(err, ERR_PERM, "%s: no such message", id);
	if (e->env.state == QUEUE_HOLD)
		return error_set(err, ERR_PERM, "%s: message is on hold", id);
	e->env.state = QUEUE_ACTIVE;
	return 0;
}

struct queue_body {
	int fd;
	uint64_t off, len, pos;
};

int queue_body_open(struct queue *q, const char *id, struct queue_body **b_r,
		    struct error *err)
{
	struct qent *e = hash_get(q->index, id);
	struct queue_body *b;
	char *path;
	int fd;

	if (e == NULL)
		return error_set(err, ERR_PERM, "%s: no such message", id);
	path = e->seg != NULL ? xstrdup(e->seg->path) : queue_data_path(q, id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		error_set(err, ERR_TEMP, "%s: open %s: %s", id, path,
			  strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	b = xcalloc(1, sizeof(*b));
	b->fd = fd;
	b->off = e->seg != NULL ? e->body_off : 0;
	b->len = e->seg != NULL ? e->body_len : e->env.size;
	*b_r = b;
	return 0;
}

ssize_t queue_body_read(struct queue_body *b, void *out, size_t len,
			struct error *err)
{
	ssize_t n;

	if (len > b->len - b->pos)
		len = b->len - b->pos;
	if (len == 0)
		return 0;
	do
		n = pread(b->fd, out, len, (off_t)(b->off + b->pos));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return error_set(err, ERR_TEMP, "read queue file: %s",
				 strerror(errno));
	if (n == 0)
		return error_set(err, ERR_TEMP,
				 "queue file shorter than its "
				 "envelope says");
	b->pos += (uint64_t)n;
	return n;
}

uint64_t queue_body_size(const struct queue_body *b)
{
	return b->len;
}

void queue_body_close(struct queue_body **bp)
{
	if (*bp == NULL)
		return;
	close((*bp)->fd);
	XFREE(*bp);
}

int queue_body_get(struct queue *q, const char *id, struct buf *out,
		   struct error *err)
{
	struct queue_body *b;
	char chunk[65536];
	ssize_t n;

	if (queue_body_open(q, id, &b, err) < 0)
		return -1;
	while ((n = queue_body_read(b, chunk, sizeof(chunk), err)) > 0)
		buf_append(out, chunk, (size_t)n);
	queue_body_close(&b);
	return n < 0 ? -1 : 0;
}

void queue_get_stats(const struct queue *q, struct queue_stats *st)
{
	*st = q->stats;
}

const char *queue_current_segment(const struct queue *q)
{
	return q->seg_path;
}
