/*
 * lmtp-client - lmtpd's connection ops (lmtp-client.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/worker.h"
#include "lmtp-client.h"
#include "lmtp-index.h"
#include "lmtp-local.h"
#include "lmtp/lmtp_conn.h"
#include "store/store.h"

/* The daemon's side of one connection (lmtp_conn_ctx). */
struct lmtp_client {
	struct lmtp_daemon *d;
	struct lmtp_backend *be; /* a reference */
	int spool_fd;
};

struct deliver_job {
	struct lmtp_conn *conn;
	struct lmtp_message msg;
	struct fts_batch *index; /* delivered, to index after the replies */
};

/* Worker thread (lmtp_conn.h). */
static void rcpt_resolve(struct lmtp_conn *conn, struct lmtp_recipient *rcpt,
			 uint64_t size_hint)
{
	struct lmtp_client *c = lmtp_conn_ctx(conn);
	lmtp_local_rcpt(c->be, lmtp_conn_id(conn), rcpt, size_hint);
}

static void op_rcpt_free(struct lmtp_conn *conn, struct lmtp_recipient *rcpt)
{
	(void)conn;
	lmtp_local_rcpt_free(rcpt);
}

static int op_spool_write(struct lmtp_conn *conn, const void *data, size_t len,
			  struct error *err)
{
	struct lmtp_client *c = lmtp_conn_ctx(conn);
	const char *p = data;

	if (c->spool_fd < 0) {
		c->spool_fd = lmtp_spool_open(
		    lmtp_backend_settings(c->be)->mail_directory, err);
		if (c->spool_fd < 0)
			return -1;
	}
	/* A page-cache write, never fsync'd: cheap enough for the loop
	 * thread, as Postfix's cleanup writes its queue file. */
	while (len > 0) {
		ssize_t n = write(c->spool_fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 &&
		    (errno == ENOSPC || errno == EDQUOT || errno == EFBIG))
			return error_set_code(err, ERR_TEMP, STORE_ERR_NOSPACE,
					      "spool write: %s",
					      strerror(errno));
		if (n < 0)
			return error_set(err, ERR_TEMP, "spool write: %s",
					 strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void op_spool_reset(struct lmtp_conn *conn)
{
	struct lmtp_client *c = lmtp_conn_ctx(conn);
	if (c->spool_fd >= 0)
		close(c->spool_fd);
	c->spool_fd = -1;
}

static void deliver_work(void *ctx)
{
	struct deliver_job *job = ctx;
	struct lmtp_client *c = lmtp_conn_ctx(job->conn);
	lmtp_local_deliver(c->be, &job->msg, c->spool_fd, &job->index);
}

static void deliver_done(void *ctx)
{
	struct deliver_job *job = ctx;
	struct lmtp_conn *conn = job->conn;
	struct lmtp_client *c = lmtp_conn_ctx(conn);

	/* The replies first (written to the io here), then the index. */
	lmtp_session_deliver_done(lmtp_conn_session(conn));
	lmtp_indexer_add(c->d->indexer, &job->index,
			 lmtp_backend_fts_min(c->be));
	free(job);
	lmtp_conn_job_done(conn);
}

static void op_deliver(struct lmtp_conn *conn, const struct lmtp_message *msg)
{
	struct lmtp_client *c = lmtp_conn_ctx(conn);
	struct deliver_job *job;
	struct error err;

	if (c->spool_fd < 0) {
		/* An empty message never wrote to the spool. */
		c->spool_fd = lmtp_spool_open(
		    lmtp_backend_settings(c->be)->mail_directory, &err);
		if (c->spool_fd < 0) {
			log_error("%s: spool: %s", lmtp_conn_id(conn), err.msg);
			lmtp_session_deliver_done(lmtp_conn_session(conn));
			return;
		}
	}
	/* The message and its recipients stay untouched in the session
	 * while it waits in LMTP_STATE_DELIVER, so the copy may point
	 * into it. */
	job = xcalloc(1, sizeof(*job));
	job->conn = conn;
	job->msg = *msg;
	lmtp_conn_job_start(conn);
	worker_submit(c->d->pool, deliver_work, deliver_done, job);
}

static void op_free(struct lmtp_conn *conn)
{
	struct lmtp_client *c = lmtp_conn_ctx(conn);
	if (c->spool_fd >= 0)
		close(c->spool_fd);
	lmtp_backend_unref(&c->be);
	free(c);
}

static const struct lmtp_conn_ops client_ops = {
    .rcpt_resolve = rcpt_resolve,
    .rcpt_free = op_rcpt_free,
    .spool_write = op_spool_write,
    .spool_reset = op_spool_reset,
    .deliver = op_deliver,
    .free = op_free,
};

void lmtp_client_accept(struct lmtp_daemon *d, const struct server_conn *conn)
{
	struct lmtp_client *c = xcalloc(1, sizeof(*c));

	c->d = d;
	c->be = d->be;
	lmtp_backend_ref(c->be);
	c->spool_fd = -1;
	lmtp_conn_accept(d->srv, conn, &lmtp_backend_settings(c->be)->server,
			 d->pool, &d->clients, &client_ops, c);
}

void lmtp_clients_stop(struct lmtp_daemon *d)
{
	lmtp_conns_stop(&d->clients);
}
