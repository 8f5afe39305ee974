/*
 * smtpd-testing.c - a struct smtpd without the server skeleton (see
 * smtpd.h), so the unit tests and the fuzz target drive real sessions
 * over a socketpair: the same code paths as the daemon, minus TLS.
 */
#include <stdlib.h>

#include "core/xmalloc.h"
#include "ev/worker.h"
#include "queue/submit.h"

#include "smtpd.h"

struct smtpd *smtpd_testing_new(struct ev *ev, const struct conf *conf,
				const struct virtual_maps *maps,
				struct error *err)
{
	struct smtpd *d = xcalloc(1, sizeof(*d));

	d->ev = ev;
	d->maps = *maps;
	d->set = smtpd_settings_new(conf, err);
	if (d->set == NULL) {
		free(d);
		return NULL;
	}
	d->mynetworks = smtpd_mynetworks_open(conf, err);
	if (d->mynetworks == NULL) {
		smtpd_settings_unref(&d->set);
		free(d);
		return NULL;
	}
	if (smtpd_restrictions_open(d, conf, err) < 0) {
		map_free(&d->mynetworks);
		smtpd_settings_unref(&d->set);
		free(d);
		return NULL;
	}
	d->workers = worker_pool_new(ev, 1);
	d->queue = submit_client_new(ev, conf_str(conf, "queue_socket"));
	return d;
}

void smtpd_testing_free(struct smtpd **dp)
{
	struct smtpd *d = *dp;

	if (d == NULL)
		return;
	*dp = NULL;
	worker_pool_free(&d->workers);
	submit_client_free(&d->queue);
	smtpd_restrictions_close(d);
	map_free(&d->mynetworks);
	smtpd_settings_unref(&d->set);
	free(d);
}

void smtpd_testing_accept(struct smtpd *d, int fd, const char *service,
			  const char *peer)
{
	struct server_conn conn = {
	    .fd = fd,
	    .service = service,
	    .listener = "test",
	    .tls = SERVICE_TLS_NONE,
	    .peer = peer,
	    .peer_port = 1234,
	};

	smtpd_session_start(d, &conn);
}
