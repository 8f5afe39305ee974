/*
 * postern-queued - the queue daemon: accepts messages from smtpd on
 * $queue_socket, keeps them in $queue_directory (lib/queue, one owner)
 * and delivers them over LMTP (hosted domains) or SMTP, with retries and
 * bounces.  See queued.h
 * and docs/queue.md.
 */
#include <stdlib.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "queue/queue.h"
#include "server/server.h"

#include "outmsg.h"
#include "pickup.h"
#include "queued.h"
#include "session.h"
#include "tlsrpt.h"
#include "verify.h"

struct queued {
	struct queue *q;
	struct qmgr *m;
	struct pickup *pickup; /* the maildrop folder */
};

static int on_init(struct server *srv, struct error *err)
{
	const struct conf *conf = server_conf(srv);
	struct queued *d = xcalloc(1, sizeof(*d));
	struct queue_params qp;
	struct qmgr_params mp;

	queue_params_from_conf(&qp, conf);
	d->q = queue_open(conf_str(conf, "queue_directory"), server_ev(srv),
			  NULL, &qp, err);
	if (d->q == NULL) {
		free(d);
		return -1;
	}
	if (dlv_client_init(conf, err) < 0) {
		queue_close(&d->q);
		free(d);
		return -1;
	}
	/* TLS Reporting counters of the SMTP client (tlsrpt.h). */
	tlsrpt_configure(server_ev(srv), conf);
	/* DKIM keys and the 7-bit downgrade of outgoing mail. */
	if (outmsg_init(conf, err) < 0) {
		dlv_client_fini();
		tlsrpt_fini();
		queue_close(&d->q);
		free(d);
		return -1;
	}
	qmgr_params_from_conf(&mp, conf);
	d->m = qmgr_new(server_ev(srv), d->q, &mp, conf);
	qmgr_params_clear(&mp);
	server_set_ctx(srv, d);
	/* Address verification probes (verify.h). */
	verify_init(server_ev(srv), conf);
	qmgr_resume(d->m);
	/* Without a maildrop folder, SMTP mail still flows. */
	d->pickup = pickup_new(server_ev(srv), d->m, conf, err);
	if (d->pickup == NULL) {
		log_error("pickup disabled: %s", err->msg);
		error_clear(err);
	}
	return 0;
}

static void on_accept(struct server *srv, const struct server_conn *conn)
{
	struct queued *d = server_ctx(srv);

	session_new(srv, d->m, conn->fd);
}

static void on_reload(struct server *srv)
{
	struct queued *d = server_ctx(srv);
	struct qmgr_params mp;

	struct error err;

	/* Cached connections keep the policy they were made with. */
	if (dlv_client_init(server_conf(srv), &err) < 0)
		log_error("reload: %s (SMTP client settings kept)", err.msg);
	tlsrpt_configure(server_ev(srv), server_conf(srv));
	outmsg_flush_keys();
	qmgr_params_from_conf(&mp, server_conf(srv));
	qmgr_reload(d->m, &mp, server_conf(srv));
	qmgr_params_clear(&mp);
}

static void on_stop(struct server *srv)
{
	struct queued *d = server_ctx(srv);

	if (d != NULL) {
		pickup_stop(d->pickup);
		verify_stop();
		qmgr_stop(d->m);
		tlsrpt_stop();
	}
}

static void on_fini(struct server *srv)
{
	struct queued *d = server_ctx(srv);

	if (d == NULL)
		return;
	pickup_free(&d->pickup);
	verify_fini();
	qmgr_free(&d->m);
	dlv_client_fini();
	tlsrpt_fini();
	outmsg_fini();
	queue_close(&d->q);
	free(d);
	server_set_ctx(srv, NULL);
}

int main(int argc, char **argv)
{
	static const struct server_hooks hooks = {
	    .name = "queued",
	    .default_service = "queue",
	    .init = on_init,
	    .accept = on_accept,
	    .reload = on_reload,
	    .stop = on_stop,
	    .fini = on_fini,
	};
	return server_main(argc, argv, &hooks);
}
