/*
 * pickup.c - the maildrop folder into the queue (pickup.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/fsutil.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "ev/ev.h"
#include "ev/worker.h"
#include "mail/address.h"
#include "map/map.h"
#include "queue/queue.h"
#include "queue/submit.h"
#include "rewrite/rewrite.h"
#include "rewrite/virtual.h"

#include "pickup.h"
#include "queued.h"

/* Files taken in at once: enough to fill a group commit, few enough that
 * a burst does not hold every body in memory. */
#define PICKUP_INFLIGHT 16
/* A ".NAME" older than this is a sendmail that died mid-write. */
#define PICKUP_STALE_TMP_SECS (24 * 3600)

struct pickup {
	struct ev *ev;
	struct qmgr *m;
	char *dir, *corrupt_dir, *myhostname;
	int ino_fd;
	int64_t scan_ms;
	uint64_t size_limit;
	struct worker_pool *workers;
	struct db *db;
	struct map_env map_env;
	struct virtual_maps maps;
	char *delimiters;
	unsigned recursion_limit, expansion_limit;
	struct hash *busy; /* names in flight */
	bool rescan, stopping;
	struct rewrite *rewrite; /* NULL: its tables failed to open */
	char *content_filter;	 /* $content_filter, "" none */
	char *role_addresses;	 /* $role_addresses */
	char *role_recipient;	 /* $role_address_recipient, qualified */
};

enum job_result { JOB_OK, JOB_GONE, JOB_CORRUPT, JOB_TEMP };

struct job {
	struct pickup *p;
	char *name, *path;
	enum job_result result;
	char why[ERROR_MSG_MAX + 64];
	unsigned uid;
	struct queue_env env; /* as dropped: sender and raw recipients */
	struct buf *data;
	struct array *finals; /* char *: resolved, de-duplicated */
	struct array *orcpts; /* char *: "rfc822;<as given>" per final */
};

static void scan(struct pickup *p);

static void job_free(struct job *j)
{
	hash_del(j->p->busy, j->name);
	free(j->name);
	free(j->path);
	queue_env_clear(&j->env);
	buf_free(&j->data);
	array_free_with(&j->finals, free);
	array_free_with(&j->orcpts, free);
	free(j);
}

static void job_fail(struct job *j, enum job_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void job_fail(struct job *j, enum job_result r, const char *fmt, ...)
{
	va_list ap;

	j->result = r;
	va_start(ap, fmt);
	vsnprintf(j->why, sizeof(j->why), fmt, ap);
	va_end(ap);
}

/* ---- worker side: read, decode, resolve. */

static int read_file(struct job *j, struct buf *in)
{
	struct stat st;
	char chunk[65536];
	ssize_t n;
	int fd;

	fd = open(j->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			j->result = JOB_GONE;
		else
			job_fail(j, errno == ELOOP ? JOB_CORRUPT : JOB_TEMP,
				 "open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		/* Anyone may write here: a link could make us read a file
		 * its maker cannot. */
		job_fail(j, JOB_CORRUPT, "not a regular file or linked");
		close(fd);
		return -1;
	}
	j->uid = (unsigned)st.st_uid;
	if (j->p->size_limit > 0 && (uint64_t)st.st_size > j->p->size_limit) {
		job_fail(j, JOB_CORRUPT, "larger than the size limit");
		close(fd);
		return -1;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(in, chunk, (size_t)n);
	close(fd);
	if (n < 0) {
		job_fail(j, JOB_TEMP, "read: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The file must be exactly one submission: B, envelope and data, C. */
static int decode(struct job *j, struct buf *in)
{
	struct submit_decoder *d = submit_decoder_new();
	enum submit_event ev;
	const char *data;
	size_t len;
	struct error err;
	bool committed = false;
	int rc;

	for (;;) {
		rc = submit_decoder_next(d, in, &ev, &data, &len, &err);
		if (rc <= 0)
			break;
		if (ev == SUBMIT_EV_BEGIN) {
			submit_decoder_set_env(d, &j->env);
		} else if (ev == SUBMIT_EV_DATA) {
			buf_append(j->data, data, len);
		} else if (ev == SUBMIT_EV_COMMIT) {
			committed = true;
		} else {
			rc = error_set(&err, ERR_PERM, "not a message");
			break;
		}
	}
	submit_decoder_free(&d);
	if (rc < 0) {
		job_fail(j, JOB_CORRUPT, "%s", err.msg);
		return -1;
	}
	/* Only a file that ended exactly after its commit is complete. */
	if (!committed || buf_len(in) != 0) {
		job_fail(j, JOB_CORRUPT, "truncated");
		return -1;
	}
	return 0;
}

static void add_final(struct job *j, struct hash *seen, const char *addr,
		      const char *given)
{
	if (hash_contains(seen, addr))
		return;
	hash_put(seen, addr, NULL);
	array_push(j->finals, xstrdup(addr));
	array_push(j->orcpts, xasprintf("rfc822;%s", given));
}

static int resolve(struct job *j)
{
	struct pickup *p = j->p;
	struct virtual_opts opts = {
	    .delimiters = p->delimiters,
	    .recursion_limit = p->recursion_limit,
	    .expansion_limit = p->expansion_limit,
	    /* A local user may send anywhere, as through Postfix's pickup. */
	    .relay_ok = true,
	    .role_addresses = p->role_addresses,
	    .role_recipient = p->role_recipient,
	};
	struct hash *seen;
	struct buf *sender = buf_new();
	struct error serr;
	int ret = 0;

	if (j->env.sender[0] != '\0' &&
	    address_normalize(j->env.sender, ADDRESS_IDN, sender, &serr) < 0) {
		job_fail(j, JOB_CORRUPT, "sender <%s>: %s", j->env.sender,
			 serr.msg);
		buf_free(&sender);
		return -1;
	}
	queue_env_set(&j->env.sender, buf_data(sender));
	buf_free(&sender);
	seen = hash_new(HASH_FOLD_CASE, NULL);
	for (size_t i = 0; i < j->env.nrcpts && ret == 0; i++) {
		struct buf *canon = buf_new();
		struct array *finals;
		struct smtp_reply reply;
		struct error err;
		const char *addr;

		/* Anyone may write these files: check what smtpd's parser
		 * would have checked, and resolve the canonical form. */
		if (address_normalize(j->env.rcpts[i].addr, ADDRESS_IDN, canon,
				      &err) < 0) {
			job_fail(j, JOB_CORRUPT, "recipient <%s>: %s",
				 j->env.rcpts[i].addr, err.msg);
			buf_free(&canon);
			ret = -1;
			break;
		}
		addr = buf_data(canon);
		finals = array_new();
		if (virtual_resolve(&p->maps, addr, &opts, j->name, finals,
				  &reply) == 0) {
			for (size_t k = 0; k < array_len(finals); k++) {
				struct virtual_final *f = array_get(finals, k);

				add_final(j, seen, f->addr, addr);
			}
		} else if (reply.code >= 500) {
			/* Queued as given: delivery refuses it and the
			 * sender gets the bounce, never a lost message. */
			add_final(j, seen, addr, addr);
		} else {
			job_fail(j, JOB_TEMP, "%s", reply.text);
			ret = -1;
		}
		virtual_finals_free(&finals);
		buf_free(&canon);
	}
	hash_free(&seen);
	return ret;
}

/*
 * cleanup's rewriting of locally posted mail (docs/rewriting.md): the
 * envelope sender and recipients (canonical maps, masquerading,
 * append_at_myorigin) and the address headers, always in the "local"
 * context, as Postfix's pickup hands sendmail mail to cleanup.  Relocated
 * recipients are not refused here: pickup never refuses synchronously.
 */
static int pickup_rewrite(struct job *j)
{
	struct rewrite *rw = j->p->rewrite;
	struct buf *q = buf_new(), *out = buf_new();
	struct error err;
	int ret = 0;

	if (rw == NULL) {
		job_fail(j, JOB_TEMP, "address rewriting unavailable");
		ret = -1;
		goto done;
	}
	if (j->env.sender[0] != '\0') {
		rewrite_qualify(rw, j->env.sender, NULL, q);
		if (rewrite_address(rw, REWRITE_ENV_SENDER, buf_data(q), out,
				    &err) < 0)
			goto fail;
		queue_env_set(&j->env.sender, buf_data(out));
	}
	for (size_t i = 0; i < j->env.nrcpts; i++) {
		rewrite_qualify(rw, j->env.rcpts[i].addr, NULL, q);
		if (rewrite_address(rw, REWRITE_ENV_RECIPIENT, buf_data(q), out,
				    &err) < 0)
			goto fail;
		queue_env_set(&j->env.rcpts[i].addr, buf_data(out));
	}
	buf_reset(out);
	if (rewrite_header_block(rw, REWRITE_MODE_LOCAL, NULL,
				 buf_data(j->data), buf_len(j->data), out,
				 &err) < 0)
		goto fail;
	buf_reset(j->data);
	buf_append(j->data, buf_data(out), buf_len(out));
	goto done;
fail:
	job_fail(j, JOB_TEMP, "address rewriting: %s", err.msg);
	ret = -1;
done:
	buf_free(&q);
	buf_free(&out);
	return ret;
}

static void job_work(void *ctx)
{
	struct job *j = ctx;
	struct buf *in = buf_new();

	if (read_file(j, in) == 0 && decode(j, in) == 0 &&
	    pickup_rewrite(j) == 0 && resolve(j) == 0)
		j->result = JOB_OK;
	buf_free(&in);
}

/* ---- loop side. */

static void set_aside(struct job *j)
{
	struct error err = {0};
	char *to = xasprintf("%s/maildrop-%s", j->p->corrupt_dir, j->name);

	if (fs_mkdir_p(j->p->corrupt_dir, 0700, &err) < 0 ||
	    rename(j->path, to) < 0)
		log_error("maildrop file %s: %s; cannot move it to %s: %s",
			  j->name, j->why, to,
			  err.kind != ERR_NONE ? err.msg : strerror(errno));
	else
		log_warn("maildrop file %s: %s; moved to %s", j->name, j->why,
			 to);
	free(to);
}

static void on_commit(void *ctx, const char *id, const struct error *err)
{
	struct job *j = ctx;
	struct pickup *p = j->p;

	if (err != NULL) {
		log_warn("%s: queue commit failed: %s; maildrop file %s kept",
			 id, err->msg, j->name);
	} else {
		/* Durable in the queue: only now may the maildrop copy go. */
		if (unlink(j->path) < 0 && errno != ENOENT)
			log_error("%s: unlink %s: %s (it will be picked up "
				  "again)",
				  id, j->path, strerror(errno));
		log_info("%s: from=<%s>, size=%zu, nrcpt=%zu", id,
			 j->env.sender, buf_len(j->data), array_len(j->finals));
		qmgr_enqueue(p->m, id);
	}
	job_free(j);
	if (p->rescan && !p->stopping)
		scan(p);
}

static bool has_8bit(const struct buf *b)
{
	const unsigned char *s = (const unsigned char *)buf_data(b);

	for (size_t i = 0; i < buf_len(b); i++)
		if (s[i] & 0x80)
			return true;
	return false;
}

static void enqueue(struct job *j)
{
	struct pickup *p = j->p;
	struct queue_msg *msg = queue_msg_new(qmgr_queue(p->m));
	struct queue_env *env = queue_msg_env(msg);
	const char *id = queue_msg_id(msg);
	struct buf *hdr = buf_new();
	char date[64];
	struct error err;

	queue_env_set(&env->sender, j->env.sender);
	/* Postfix's pickup mail goes through cleanup's content_filter. */
	if (p->content_filter[0] != '\0')
		queue_env_set(&env->filter, p->content_filter);
	env->body = has_8bit(j->data) ? QUEUE_BODY_8BITMIME : QUEUE_BODY_7BIT;
	for (size_t i = 0; i < array_len(j->finals); i++)
		queue_env_add_rcpt(env, array_get(j->finals, i),
				   array_get(j->orcpts, i), 0);
	/* Postfix's pickup + cleanup add the same trace line. */
	time_format_rfc5322(time(NULL), date, sizeof(date));
	buf_printf(hdr,
		   "Received: by %s (Postern, from userid %u)\r\n"
		   "\tid %s; %s\r\n",
		   p->myhostname, j->uid, id, date);
	log_info("%s: uid=%u from=<%s>", id, j->uid, j->env.sender);
	if (queue_msg_write(msg, buf_data(hdr), buf_len(hdr), &err) < 0 ||
	    queue_msg_write(msg, buf_data(j->data), buf_len(j->data), &err) <
		0) {
		log_warn("%s: queue write error: %s; maildrop file %s kept", id,
			 err.msg, j->name);
		queue_msg_abort(&msg);
		buf_free(&hdr);
		job_free(j);
		return;
	}
	buf_free(&hdr);
	queue_msg_commit(msg, on_commit, j);
}

static void job_done(void *ctx)
{
	struct job *j = ctx;
	struct pickup *p = j->p;

	switch (j->result) {
	case JOB_OK:
		enqueue(j);
		return;
	case JOB_CORRUPT:
		set_aside(j);
		break;
	case JOB_TEMP:
		log_warn("maildrop file %s: %s; will try again", j->name,
			 j->why);
		break;
	case JOB_GONE:
		break;
	}
	job_free(j);
	if (p->rescan && !p->stopping)
		scan(p);
}

static void remove_stale_tmp(struct pickup *p, int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    time(NULL) - st.st_mtime > PICKUP_STALE_TMP_SECS &&
	    unlinkat(dfd, name, 0) == 0)
		log_info("maildrop: removed stale temporary file %s/%s", p->dir,
			 name);
}

static void scan(struct pickup *p)
{
	DIR *dir = opendir(p->dir);
	struct dirent *de;

	p->rescan = false;
	if (dir == NULL) {
		log_warn("maildrop: open %s: %s", p->dir, strerror(errno));
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		struct job *j;

		if (de->d_name[0] == '.') {
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0)
				remove_stale_tmp(p, dirfd(dir), de->d_name);
			continue;
		}
		if (hash_contains(p->busy, de->d_name))
			continue;
		if (hash_count(p->busy) >= PICKUP_INFLIGHT) {
			p->rescan = true; /* when one finishes */
			break;
		}
		j = xcalloc(1, sizeof(*j));
		j->p = p;
		j->name = xstrdup(de->d_name);
		j->path = xasprintf("%s/%s", p->dir, de->d_name);
		j->data = buf_new();
		j->finals = array_new();
		j->orcpts = array_new();
		hash_put(p->busy, j->name, NULL);
		worker_submit(p->workers, job_work, job_done, j);
	}
	closedir(dir);
}

static void on_inotify(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct pickup *p = ctx;
	char evbuf[4096];

	(void)ev;
	(void)events;
	while (read(fd, evbuf, sizeof(evbuf)) > 0)
		;
	if (!p->stopping)
		scan(p);
}

static void on_timer(struct ev *ev, void *ctx)
{
	struct pickup *p = ctx;

	if (p->stopping)
		return;
	scan(p);
	ev_timer_add(ev, p->scan_ms, on_timer, p);
}

/* The folder anyone may drop into (see cmd_sendmail.c). */
static int make_maildrop(const char *dir, struct error *err)
{
	char *parent = fs_dirname(dir);
	int ret = fs_mkdir_p(parent, 0700, err);

	free(parent);
	if (ret < 0)
		return -1;
	if (mkdir(dir, 01733) < 0 && errno != EEXIST)
		return error_set(err, ERR_TEMP, "mkdir %s: %s", dir,
				 strerror(errno));
	/* mkdir's mode went through the umask. */
	if (chmod(dir, 01733) < 0)
		log_warn("maildrop: chmod %s: %s", dir, strerror(errno));
	return 0;
}

/* inotify wakes us as soon as sendmail renames a file in; without it the
 * periodic scan still finds everything, only later. */
static void watch(struct pickup *p)
{
	p->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (p->ino_fd >= 0 &&
	    inotify_add_watch(p->ino_fd, p->dir, IN_MOVED_TO | IN_CLOSE_WRITE) <
		0) {
		close(p->ino_fd);
		p->ino_fd = -1;
	}
	if (p->ino_fd < 0) {
		log_warn("maildrop: inotify on %s: %s; scanning every %llds",
			 p->dir, strerror(errno),
			 (long long)(p->scan_ms / 1000));
		return;
	}
	ev_fd_add(p->ev, p->ino_fd, EV_READ | EV_FD_WEAK, on_inotify, p, NULL);
}

struct pickup *pickup_new(struct ev *ev, struct qmgr *m,
			  const struct conf *conf, struct error *err)
{
	struct pickup *p;
	struct error dberr;
	long long lim = conf_size(conf, "message_size_limit");

	if (make_maildrop(conf_str(conf, "maildrop_directory"), err) < 0)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->ev = ev;
	p->m = m;
	p->dir = xstrdup(conf_str(conf, "maildrop_directory"));
	p->corrupt_dir =
	    xasprintf("%s/corrupt", conf_str(conf, "queue_directory"));
	p->myhostname = xstrdup(conf_str(conf, "myhostname"));
	p->content_filter = xstrdup(conf_str(conf, "content_filter"));
	p->delimiters = xstrdup(conf_str(conf, "recipient_delimiter"));
	p->role_addresses = xstrdup(conf_str(conf, "role_addresses"));
	p->role_recipient =
	    virtual_role_qualify(conf_str(conf, "role_address_recipient"),
			       conf_str(conf, "myorigin"));
	p->recursion_limit =
	    (unsigned)conf_int(conf, "virtual_alias_recursion_limit");
	p->expansion_limit =
	    (unsigned)conf_int(conf, "virtual_alias_expansion_limit");
	/* The file holds the message plus its framing and envelope. */
	p->size_limit = lim > 0 ? (uint64_t)lim * 2 + 1024 * 1024 : 0;
	p->scan_ms = conf_time(conf, "pickup_scan_interval") * 1000;
	if (p->scan_ms <= 0)
		p->scan_ms = 60 * 1000;
	p->busy = hash_new(HASH_DEFAULT, NULL);
	p->db = db_open(conf, &dberr);
	if (p->db == NULL)
		log_error("pickup: database: %s; maildrop files wait",
			  dberr.msg);
	p->map_env.db = p->db;
	/* As in smtpd: a broken map fails lookups temporarily, files wait. */
	virtual_maps_open(&p->maps, conf, &p->map_env, "pickup");
	p->rewrite = rewrite_new(conf, &p->map_env, &dberr);
	if (p->rewrite == NULL)
		log_error("pickup: address rewriting: %s; maildrop files "
			  "wait",
			  dberr.msg);
	p->workers = worker_pool_new(ev, 2);
	watch(p);
	ev_timer_add(ev, p->scan_ms, on_timer, p);
	/* Mail dropped while we were down. */
	scan(p);
	return p;
}

void pickup_stop(struct pickup *p)
{
	if (p == NULL)
		return;
	p->stopping = true;
	ev_timer_del(p->ev, on_timer, p);
	if (p->ino_fd >= 0) {
		ev_fd_del(p->ev, p->ino_fd);
		close(p->ino_fd);
		p->ino_fd = -1;
	}
}

void pickup_free(struct pickup **pp)
{
	struct pickup *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	pickup_stop(p);
	worker_pool_free(&p->workers);
	virtual_maps_close(&p->maps);
	rewrite_free(&p->rewrite);
	db_close(&p->db);
	hash_free(&p->busy);
	free(p->dir);
	free(p->corrupt_dir);
	free(p->myhostname);
	free(p->content_filter);
	free(p->delimiters);
	free(p->role_addresses);
	free(p->role_recipient);
	free(p);
}
