/*
 * postern-imap-proxy - IMAP proxying by user (docs/proxy.md), as
 * Dovecot's proxy: authenticate, find the user's backend (the mailbox
 * row's backend column, else rendezvous hashing over $proxy_backends,
 * auth/proxy_backend.h), connect, forward the client address with ID,
 * log in with the same credentials and pass the session through, so one
 * user's folders are only ever written by one backend at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/proxy_backend.h"
#include "auth/throttle.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "ev/worker.h"
#include "lmtp/lmtp_conn.h"
#include "lmtp/lmtp_settings.h"
#include "tls/tls.h"

#include "proxy.h"

static struct proxy proxy;

/* proxy_lmtp_tls_security_level; empty follows proxy_backend_tls, an
 * unknown word is taken as encrypt (fail closed) with a warning. */
static int lmtp_tls_level(const struct conf *conf, bool backend_tls)
{
	const char *v = conf_str(conf, "proxy_lmtp_tls_security_level");

	if (v[0] == '\0')
		return backend_tls ? 1 : 0;
	if (strcmp(v, "none") == 0)
		return 0;
	if (strcmp(v, "may") == 0)
		return 1;
	if (strcmp(v, "encrypt") != 0)
		log_warn("proxy_lmtp_tls_security_level: unknown value \"%s\" "
			 "(none, may or encrypt), using encrypt",
			 v);
	return 2;
}

/* The backends' client context: NULL when no leg uses TLS. */
static int backend_tls_build(const struct proxy_settings *set,
			     const struct conf *conf, struct tls_ctx **ctx_r,
			     struct error *err)
{
	const char *ca = conf_str(conf, "proxy_backend_tls_CAfile");
	bool verify = conf_bool(conf, "proxy_backend_tls_verify");

	*ctx_r = NULL;
	if (!set->backend_tls && set->lmtp_tls_level == 0)
		return 0;
	*ctx_r = tls_client_new(verify, ca[0] != '\0' ? ca : NULL, NULL, err);
	if (*ctx_r == NULL)
		return -1;
	/* A client certificate for backends that require one. */
	if (tls_ctx_set_client_cert(
		*ctx_r, conf_str(conf, "proxy_backend_tls_cert_file"),
		conf_str(conf, "proxy_backend_tls_key_file"), err) < 0) {
		error_prefix(err, "proxy_backend_tls_cert_file");
		tls_ctx_free(ctx_r);
		return -1;
	}
	return 0;
}

static void settings_load(struct proxy_settings *set, const struct conf *conf)
{
	free(set->default_scheme);
	set->login_timeout_ms = conf_time(conf, "imapd_login_timeout") * 1000;
	set->timeout_ms = conf_time(conf, "proxy_timeout") * 1000;
	set->connect_timeout_ms =
	    conf_time(conf, "proxy_connect_timeout") * 1000;
	set->failure_delay_ms = conf_time(conf, "auth_failure_delay") * 1000;
	set->max_line = (size_t)conf_size(conf, "imapd_max_line_length");
	if (set->max_line < 1024)
		set->max_line = 1024;
	set->plaintext_loopback = conf_bool(conf, "imapd_plaintext_loopback");
	set->backend_tls = conf_bool(conf, "proxy_backend_tls");
	set->lmtp_tls_level = lmtp_tls_level(conf, set->backend_tls);
	set->default_scheme =
	    xstrdup(conf_str(conf, "default_password_scheme"));
	set->password_upgrade = conf_bool(conf, "password_upgrade");
}

static int proxy_init(struct server *srv, struct error *err)
{
	const struct conf *conf = server_conf(srv);
	long long threads = conf_int(conf, "worker_threads");
	unsigned max_failures, window;

	proxy.srv = srv;
	proxy.ev = server_ev(srv);
	list_init(&proxy.session_list);
	list_init(&proxy.lmtp_conns);
	settings_load(&proxy.set, conf);
	proxy.backends =
	    proxy_backends_parse(conf_str(conf, "proxy_backends"), err);
	if (proxy.backends == NULL)
		return -1;
	/* The primary: passdb may rehash a password (password_upgrade). */
	proxy.db = db_open(conf, err);
	if (proxy.db == NULL)
		return -1;
	proxy.read_db = db_open_read(conf, err);
	if (proxy.read_db == NULL)
		return -1;
	if (backend_tls_build(&proxy.set, conf, &proxy.backend_tls, err) < 0)
		return -1;
	max_failures = (unsigned)conf_int(conf, "auth_throttle_max_failures");
	window = (unsigned)conf_time(conf, "auth_throttle_window");
	proxy.throttle = auth_throttle_new(max_failures, window);
	proxy.lmtp_set = xcalloc(1, sizeof(*proxy.lmtp_set));
	if (lmtp_server_settings_load(proxy.lmtp_set, conf, err) < 0)
		return -1;
	proxy.lmtp_port = (unsigned)conf_int(conf, "proxy_lmtp_port");
	proxy.workers = worker_pool_new(proxy.ev, threads > 0 ? threads : 1);
	server_set_ctx(srv, &proxy);
	log_info("imap-proxy: %zu hashed backends",
		 proxy_backends_count(proxy.backends));
	return 0;
}

static void proxy_accept(struct server *srv, const struct server_conn *conn)
{
	/* One program for both protocols: the service name says which. */
	if (strncmp(conn->service, "lmtp", 4) == 0)
		lproxy_accept(&proxy, conn);
	else
		psess_start(&proxy, conn);
}

static void proxy_reload(struct server *srv)
{
	struct error err;
	const struct conf *conf = server_conf(srv);
	struct proxy_backends *b =
	    proxy_backends_parse(conf_str(conf, "proxy_backends"), &err);

	struct tls_ctx *tls;
	struct error terr;

	settings_load(&proxy.set, conf);
	/* Connections keep the SSL_CTX they started with (reference
	 * counted), so the old context can go now. */
	if (backend_tls_build(&proxy.set, conf, &tls, &terr) < 0) {
		log_warn("reload: backend TLS: %s; keeping the old context",
			 terr.msg);
	} else {
		tls_ctx_free(&proxy.backend_tls);
		proxy.backend_tls = tls;
	}
	/* Worker jobs read the list: swap it only when none runs. */
	if (b == NULL) {
		log_warn("reload: %s; keeping the old backends", err.msg);
	} else if (worker_pending(proxy.workers) == 0) {
		proxy_backends_free(&proxy.backends);
		proxy.backends = b;
	} else {
		log_warn("reload: logins in progress; proxy_backends not "
			 "changed, reload again");
		proxy_backends_free(&b);
	}
}

static void proxy_stop(struct server *srv)
{
	proxy.stopping = true;
	psess_stop_all(&proxy);
	lmtp_conns_stop(&proxy.lmtp_conns);
}

static void proxy_fini(struct server *srv)
{
	worker_pool_free(&proxy.workers);
	auth_throttle_free(&proxy.throttle);
	tls_ctx_free(&proxy.backend_tls);
	db_close(&proxy.db);
	db_close(&proxy.read_db);
	proxy_backends_free(&proxy.backends);
	if (proxy.lmtp_set != NULL)
		lmtp_server_settings_clear(proxy.lmtp_set);
	free(proxy.lmtp_set);
	free(proxy.set.default_scheme);
}

int main(int argc, char **argv)
{
	static const struct server_hooks hooks = {
	    .name = "imap-proxy",
	    .default_service = "imap-proxy",
	    .init = proxy_init,
	    .accept = proxy_accept,
	    .reload = proxy_reload,
	    .stop = proxy_stop,
	    .fini = proxy_fini,
	    .proxy_prefix = "imapd",
	};
	return server_main(argc, argv, &hooks);
}
