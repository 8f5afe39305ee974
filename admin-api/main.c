/*
 * postern-admin-api - the admin API (JSON over HTTP, CONTRACT.md "Admin
 * API v1"; docs/admin-api.md).
 *
 * The lifecycle is the server skeleton's; HTTP is libmicrohttpd on the
 * skeleton's loop (server/http.h), every request runs in a pool of
 * $worker_threads threads (api.h), the data rules are lib/provision's,
 * shared with the `postern` command.  `--routes` prints the route table
 * ("METHOD PATTERN" lines) and exits, for the OpenAPI test.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_http.h"
#include "auth/throttle.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/worker.h"
#include "store/store.h"

static void settings_load(struct api_settings *set, const struct conf *conf)
{
	long long limit = conf_size(conf, "admin_api_body_limit");
	set->body_limit = limit > 0 ? (size_t)limit : 65536;
	set->token_lifetime = conf_time(conf, "admin_api_token_lifetime");
	set->token_max_lifetime = conf_time(conf, "admin_api_token_max_lifetime");
	if (set->token_max_lifetime < 60)
		set->token_max_lifetime = 60;
	if (set->token_lifetime < 60 ||
	    set->token_lifetime > set->token_max_lifetime)
		set->token_lifetime = set->token_max_lifetime;
	long long window = conf_time(conf, "admin_api_auth_window");
	set->auth_window = window > 0 ? (unsigned)window : 300;
	set->scheme = xstrdup(conf_str(conf, "default_password_scheme"));
	set->mail_dir = xstrdup(conf_str(conf, "mail_directory"));
}

/* HTTPS with the same PEM files as the mail daemons (docs/admin-api.md). */
static int tls_load(const struct conf *conf, struct buf *cert, struct buf *key,
		    struct error *err)
{
	if (fs_read_file(conf_str(conf, "tls_cert_file"), cert, 1 << 20, err) < 0 ||
	    fs_read_file(conf_str(conf, "tls_key_file"), key, 1 << 20, err) < 0) {
		error_prefix(err, "admin_api_tls");
		return -1;
	}
	return 0;
}

static void daemon_free(struct api_daemon *d)
{
	http_server_free(&d->hs);
	worker_pool_free(&d->pool);
	db_close(&d->api.db);
	store_free(&d->api.store);
	auth_throttle_free(&d->api.throttle);
	free(d->api.set.scheme);
	free(d->api.set.mail_dir);
	free(d);
}

static int on_init(struct server *srv, struct error *err)
{
	const struct conf *conf = server_conf(srv);
	struct api_daemon *d = xcalloc(1, sizeof(*d));
	long long threads = conf_int(conf, "worker_threads");
	long long failures = conf_int(conf, "admin_api_auth_max_failures");
	struct buf *cert = buf_new(), *key = buf_new();
	int rc = -1;

	signal(SIGXFSZ, SIG_IGN);
	d->srv = srv;
	settings_load(&d->api.set, conf);
	/* A database that cannot be opened keeps the daemon up: requests
	 * answer 503 and health still answers (as lmtpd does). */
	struct error dberr;
	d->api.db = db_open(conf, &dberr);
	if (d->api.db == NULL)
		log_error("database: %s", dberr.msg);
	struct store_settings ss = {.root = d->api.set.mail_dir};
	d->api.store = store_new(&ss);
	d->api.throttle = auth_throttle_new(failures > 0 ? (unsigned)failures : 0,
					    d->api.set.auth_window);
	d->pool = worker_pool_new(server_ev(srv),
				  threads > 0 ? (unsigned)threads : 1);
	bool tls = conf_bool(conf, "admin_api_tls");
	if (tls && tls_load(conf, cert, key, err) < 0)
		goto out;
	d->hs = api_http_start(d, srv, tls ? buf_data(cert) : NULL,
			       tls ? buf_data(key) : NULL, err);
	if (d->hs == NULL)
		goto out;
	server_set_ctx(srv, d);
	rc = 0;
out:
	buf_free(&cert);
	if (buf_len(key) > 0)
		explicit_bzero(buf_mut(key), buf_len(key));
	buf_free(&key);
	if (rc < 0)
		daemon_free(d);
	return rc;
}

static void on_accept(struct server *srv, const struct server_conn *conn)
{
	struct api_daemon *d = server_ctx(srv);
	http_server_accept(d->hs, conn);
}

static void on_fini(struct server *srv)
{
	struct api_daemon *d = server_ctx(srv);
	if (d == NULL)
		return;
	daemon_free(d);
	server_set_ctx(srv, NULL);
}

int main(int argc, char **argv)
{
	static const struct server_hooks hooks = {
	    .name = "admin-api",
	    .default_service = "admin-api",
	    .init = on_init,
	    .accept = on_accept,
	    .fini = on_fini,
	};
	if (argc == 2 && strcmp(argv[1], "--routes") == 0) {
		for (size_t i = 0; i < api_nroutes; i++)
			printf("%s %s\n", api_routes[i].method,
			       api_routes[i].pattern);
		return 0;
	}
	return server_main(argc, argv, &hooks);
}
