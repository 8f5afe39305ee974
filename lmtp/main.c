/*
 * postern-lmtpd - the LMTP local delivery server (RFC 2033) on TCP and
 * a unix socket: accepts a message for hosted mailboxes and delivers it
 * into the Maildir store, one reply per recipient.
 *
 * The lifecycle (listeners from the master, reload, graceful stop) is the
 * server skeleton's (server/server.h); the protocol engine and the
 * connection glue are the shared LMTP server layer (lmtp/lmtp_session.h,
 * lmtp/lmtp_conn.h), lmtpd's ops are lmtp-client.c, resolution and
 * delivery lmtp-local.c, run on a pool of $worker_threads threads so that SQL
 * lookups and fsyncs never stall other sessions.
 *
 * Reload: a new backend (settings, database, map, store) is built from
 * the new main.cf; sessions already connected finish with the one they
 * started with.  A new main.cf that cannot work keeps the old backend.
 */
#include <signal.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/worker.h"
#include "lmtp-client.h"
#include "lmtp-index.h"
#include "lmtp-local.h"
#include "server/server.h"

static int on_init(struct server *srv, struct error *err)
{
	const struct conf *conf = server_conf(srv);
	long long threads = conf_int(conf, "worker_threads");
	struct lmtp_daemon *d = xcalloc(1, sizeof(*d));

	/* lib/store: a file size limit must be an EFBIG error (452 4.3.1),
	 * not a crash. */
	signal(SIGXFSZ, SIG_IGN);
	if (server_require_ccert(srv, "lmtpd", err) < 0) {
		free(d);
		return -1;
	}
	d->srv = srv;
	list_init(&d->clients);
	d->be = lmtp_backend_new(conf, err);
	if (d->be == NULL) {
		free(d);
		return -1;
	}
	d->pool = worker_pool_new(server_ev(srv),
				  threads > 0 ? (unsigned)threads : 1);
	d->indexer = lmtp_indexer_new(server_ev(srv), d->pool);
	server_set_ctx(srv, d);
	return 0;
}

static void on_accept(struct server *srv, const struct server_conn *conn)
{
	lmtp_client_accept(server_ctx(srv), conn);
}

static void on_reload(struct server *srv)
{
	struct lmtp_daemon *d = server_ctx(srv);
	struct error err;
	struct lmtp_backend *be = lmtp_backend_new(server_conf(srv), &err);

	if (be == NULL) {
		log_error("reload: %s; keeping the previous settings", err.msg);
		return;
	}
	lmtp_backend_unref(&d->be);
	d->be = be;
}

static void on_stop(struct server *srv)
{
	struct lmtp_daemon *d = server_ctx(srv);
	lmtp_clients_stop(d);
	lmtp_indexer_flush(d->indexer);
}

static void on_fini(struct server *srv)
{
	struct lmtp_daemon *d = server_ctx(srv);
	if (d == NULL)
		return;
	worker_pool_free(&d->pool);
	lmtp_indexer_free(&d->indexer);
	lmtp_backend_unref(&d->be);
	free(d);
	server_set_ctx(srv, NULL);
}

int main(int argc, char **argv)
{
	static const struct server_hooks hooks = {
	    .name = "lmtpd",
	    .default_service = "lmtp",
	    .init = on_init,
	    .accept = on_accept,
	    .reload = on_reload,
	    .stop = on_stop,
	    .fini = on_fini,
	};
	return server_main(argc, argv, &hooks);
}
