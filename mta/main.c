/*
 * postern-smtpd - the SMTP server (RFC 5321) of the smtp, submission and
 * submissions services: sessions (smtpd-session.c) on the server
 * skeleton's loop, recipient lookups in a worker pool, messages handed to
 * postern-queued.  See smtpd.h for the files, rewrite/virtual.h for the
 * recipient rules and the top of each smtpd-*.c for its part of the
 * behaviour.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "ev/net.h"
#include "ev/worker.h"
#include "map/map.h"
#include "queue/submit.h"

#include "smtpd-authres.h"
#include "smtpd.h"

static struct smtpd smtpd;

static int smtpd_init(struct server *srv, struct error *err)
{
	const struct conf *conf = server_conf(srv);
	long long threads = conf_int(conf, "worker_threads");

	smtpd.srv = srv;
	smtpd.ev = server_ev(srv);
	smtpd.set = smtpd_settings_new(conf, err);
	if (smtpd.set == NULL)
		return -1;
	smtpd.db = db_open(conf, err);
	if (smtpd.db == NULL)
		return -1;
	smtpd.lookup_db = db_open_read(conf, err);
	if (smtpd.lookup_db == NULL)
		return -1;
	/* The maps use our databases; no conf pointer (reload replaces
	 * it).  The virtual maps only read: the lookup database. */
	smtpd.map_env.db = smtpd.db;
	smtpd.lookup_env.db = smtpd.lookup_db;
	virtual_maps_open(&smtpd.maps, conf, &smtpd.lookup_env, "");
	smtpd.mynetworks = smtpd_mynetworks_open(conf, err);
	if (smtpd.mynetworks == NULL)
		return -1;
	if (smtpd_restrictions_open(&smtpd, conf, err) < 0)
		return -1;
	if (smtpd_cleanup_open(&smtpd, conf, err) < 0)
		return -1;
	if (smtpd_milter_open(&smtpd, conf, err) < 0)
		return -1;
	if (smtpd_authres_open(&smtpd, conf, err) < 0)
		return -1;
	smtpd.workers = worker_pool_new(smtpd.ev, threads > 0 ? threads : 1);
	smtpd.queue =
	    submit_client_new(smtpd.ev, conf_str(conf, "queue_socket"));
	smtpd.sasl = smtpd_sasl_new(&smtpd, err);
	if (smtpd.sasl == NULL && err->kind != ERR_NONE)
		log_warn("AUTH disabled: %s", err->msg);
	server_set_ctx(srv, &smtpd);
	return 0;
}

static void smtpd_accept(struct server *srv, const struct server_conn *conn)
{
	if (smtpd_pass_service(server_conf(srv), conn->service)) {
		smtpd_pass_accept(&smtpd, conn);
		return;
	}
	smtpd_session_start(&smtpd, conn);
	/* The skeleton counts connections; ours ends in session_free. */
}

static void smtpd_reload(struct server *srv)
{
	struct error err;
	struct smtpd_settings *set = smtpd_settings_new(server_conf(srv), &err);

	/* Maps, mynetworks and the database stay as opened at start-up:
	 * worker jobs in flight use them.  Restart to change them. */
	if (set == NULL) {
		log_warn("reload: %s; keeping the old settings", err.msg);
		return;
	}
	smtpd_settings_unref(&smtpd.set);
	smtpd.set = set;
}

static void smtpd_stop(struct server *srv)
{
	smtpd.stopping = true;
	smtpd_sessions_stop(&smtpd);
	if (smtpd.restrictions != NULL)
		smtpd_restrict_stop(smtpd.restrictions);
}

static void smtpd_fini(struct server *srv)
{
	worker_pool_free(&smtpd.workers);
	smtpd_sasl_free(&smtpd.sasl);
	submit_client_free(&smtpd.queue);
	smtpd_anvil_free(&smtpd.anvil);
	smtpd_authres_close(&smtpd); /* before the resolver goes */
	smtpd_restrictions_close(&smtpd);
	smtpd_cleanup_close(&smtpd);
	smtpd_milter_close(&smtpd);
	virtual_maps_close(&smtpd.maps);
	map_free(&smtpd.mynetworks);
	db_close(&smtpd.lookup_db);
	db_close(&smtpd.db);
	smtpd_settings_unref(&smtpd.set);
}

int main(int argc, char **argv)
{
	static const struct server_hooks hooks = {
	    .name = "smtpd",
	    .default_service = "smtp",
	    .init = smtpd_init,
	    .accept = smtpd_accept,
	    .reload = smtpd_reload,
	    .stop = smtpd_stop,
	    .fini = smtpd_fini,
	    .proxy_prefix = "smtpd",
	};
	return server_main(argc, argv, &hooks);
}
