/*
 * postern-webmail - the webmail's HTTP service (docs/webmail.md): the
 * browser UI (webmail/static/, embedded) and its JSON API
 * (docs/webmail-api.md) over the store, the index and the SQL logins.
 *
 * The lifecycle is the server skeleton's; HTTP is libmicrohttpd on the
 * skeleton's loop (server/http.h); every API request runs in a pool of
 * $worker_threads threads (wm-http.c).  SIGTERM ends the event streams
 * so the loop can stop; sessions live in SQL (wm-session.c), so a
 * restart or another process behind the same balancer keeps them.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/throttle.h"
#include "conf/conf.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "ev/ev.h"
#include "ev/worker.h"
#include "mindex/mindex.h"
#include "store/store.h"
#include "wm-core.h"

/* How often expired sessions are dropped. */
#define SWEEP_MS 60000

static void settings_load(struct wm_settings *set, const struct conf *conf)
{
	long long v;

	set->session_timeout = conf_time(conf, "webmail_session_timeout");
	if (set->session_timeout < 1)
		set->session_timeout = 1800;
	set->session_lifetime = conf_time(conf, "webmail_session_lifetime");
	if (set->session_lifetime < 1)
		set->session_lifetime = 43200;
	v = conf_size(conf, "webmail_body_limit");
	set->body_limit = v > 0 ? (size_t)v : 1048576;
	/* The upload limit belongs to wm-compose.c's parameters. */
	set->upload_limit = conf_param_find("webmail_upload_limit") != NULL
				? (size_t)conf_size(conf, "webmail_upload_limit")
				: 25u << 20;
	v = conf_int(conf, "webmail_events_per_session");
	set->events_per_session = v > 0 ? (unsigned)v : 1;
	set->events_interval_ms =
	    conf_time(conf, "webmail_events_interval") * 1000;
	if (set->events_interval_ms < 200)
		set->events_interval_ms = 1000;
	set->events_fallback_ms =
	    conf_time(conf, "webmail_events_fallback_interval") * 1000;
	if (set->events_fallback_ms < 1000)
		set->events_fallback_ms = 30000;
	set->cookie_secure = conf_bool(conf, "webmail_cookie_secure");
	set->default_scheme = xstrdup(conf_str(conf, "default_password_scheme"));
	set->password_upgrade = conf_bool(conf, "password_upgrade");
	v = conf_time(conf, "auth_throttle_window");
	set->auth_window = v > 0 ? (unsigned)v : 300;
	v = conf_int(conf, "auth_throttle_max_failures");
	set->max_failures = v > 0 ? (unsigned)v : 0;
}

static int tls_load(const struct conf *conf, struct buf *cert, struct buf *key,
		    struct error *err)
{
	if (fs_read_file(conf_str(conf, "tls_cert_file"), cert, 1 << 20, err) < 0 ||
	    fs_read_file(conf_str(conf, "tls_key_file"), key, 1 << 20, err) < 0) {
		error_prefix(err, "webmail_tls");
		return -1;
	}
	return 0;
}

static void on_sweep(struct ev *ev, struct wm_daemon *d);

/* The sweep deletes expired rows in SQL: in the worker pool. */
static void sweep_work(void *ctx)
{
	wm_sessions_sweep(ctx);
}

static void sweep_done(void *ctx)
{
	struct wm_daemon *d = ctx;

	if (!d->stopping)
		EV_TIMER_ADD(server_ev(d->srv), SWEEP_MS, on_sweep, d);
}

static void on_sweep(struct ev *ev, struct wm_daemon *d)
{
	(void)ev;
	worker_submit(d->pool, sweep_work, sweep_done, d);
}

/*
 * The secret of image proxy URLs and CSRF tokens: 32 random bytes in
 * $webmail_secret_file, made by the first process that finds none (a
 * temporary file linked into place, so a second process starting at the
 * same time reads the same secret, never half of one) and read by every
 * other: all processes and nodes behind one balancer must agree on it.
 */
static int secret_load(const char *path, unsigned char out[32],
		       struct error *err)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		unsigned char buf[33];
		struct stat sb;
		ssize_t n;
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

		if (fd >= 0) {
			if (fstat(fd, &sb) < 0 || (sb.st_mode & 077) != 0) {
				close(fd);
				return error_set(err, ERR_CONFIG,
						 "%s: readable by others: chmod "
						 "600 it",
						 path);
			}
			n = read(fd, buf, sizeof(buf));
			close(fd);
			if (n != 32) {
				explicit_bzero(buf, sizeof(buf));
				return error_set(err, ERR_CONFIG,
						 "%s: not 32 bytes (remove it "
						 "to make a new one)",
						 path);
			}
			memcpy(out, buf, 32);
			explicit_bzero(buf, sizeof(buf));
			return 0;
		}
		if (errno != ENOENT)
			return error_set(err, ERR_TEMP, "%s: %s", path,
					 strerror(errno));
		char *dir = fs_dirname(path);
		char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
		int rc = fs_mkdir_p(dir, 0755, err);
		if (rc == 0) {
			fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
				  0600);
			rc = fd < 0 ? error_set(err, ERR_TEMP, "%s: %s", tmp,
						strerror(errno))
				    : 0;
		}
		if (rc == 0) {
			if (getrandom(buf, 32, 0) != 32 ||
			    write(fd, buf, 32) != 32 || fsync(fd) < 0)
				rc = error_set(err, ERR_TEMP, "%s: %s", tmp,
					       strerror(errno));
			close(fd);
			explicit_bzero(buf, sizeof(buf));
			if (rc == 0 && link(tmp, path) < 0 && errno != EEXIST)
				rc = error_set(err, ERR_TEMP, "%s: %s", path,
					       strerror(errno));
			unlink(tmp);
			if (rc == 0)
				fs_fsync_dir(dir, err);
		}
		free(tmp);
		free(dir);
		if (rc < 0)
			return -1;
	}
	return error_set(err, ERR_TEMP, "%s: cannot be read", path);
}

static void daemon_free(struct wm_daemon *d)
{
	struct ev *ev = server_ev(d->srv);

	EV_TIMER_DEL(ev, on_sweep, d);
	wm_events_stop(d->events);
	http_server_free(&d->hs);
	worker_pool_free(&d->pool);
	wm_events_free(&d->events);
	wm_sessions_free(&d->sessions);
	auth_throttle_free(&d->throttle);
	auth_throttle_free(&d->throttle_ip);
	db_close(&d->wm.db);
	db_close(&d->wm.read_db);
	store_free(&d->wm.store);
	free(d->wm.queue_socket);
	free(d->wm.content_filter);
	free(d->mail_dir);
	free(d->set.default_scheme);
	explicit_bzero(d->wm.secret, sizeof(d->wm.secret));
	free(d);
}

static int on_init(struct server *srv, struct error *err)
{
	const struct conf *conf = server_conf(srv);
	struct wm_daemon *d = xcalloc(1, sizeof(*d));
	struct ev *ev = server_ev(srv);
	long long threads = conf_int(conf, "worker_threads");
	unsigned failures =
	    (unsigned)conf_int(conf, "auth_throttle_max_failures");
	struct buf *cert = buf_new(), *key = buf_new();
	struct store_settings ss = {0};
	struct error dberr;
	long long v;
	int rc = -1;

	signal(SIGXFSZ, SIG_IGN);
	d->srv = srv;
	d->wm.conf = conf;
	settings_load(&d->set, conf);
	/* lib/mindex keeps folders nobody has open within this budget: many
	 * users share this process (docs/index.md, "Idle states"). */
	v = conf_int(conf, "mindex_cache_folder_limit");
	mindex_cache_limits((size_t)conf_size(conf, "mindex_cache_size"),
			    v > 0 ? (unsigned)v : 0);
	if (secret_load(conf_str(conf, "webmail_secret_file"), d->wm.secret,
			err) < 0)
		goto out;
	/* A database that cannot be opened keeps the daemon up: logins
	 * answer 503 until it is back (as the admin API does). */
	d->wm.db = db_open(conf, &dberr);
	if (d->wm.db == NULL)
		log_error("database: %s", dberr.msg);
	else
		d->wm.read_db = db_open_read(conf, &dberr);
	d->mail_dir = xstrdup(conf_str(conf, "mail_directory"));
	ss.root = d->mail_dir;
	ss.quota_permanent = conf_bool(conf, "quota_exceeded_permanent");
	d->wm.store = store_new(&ss);
	d->wm.queue_socket = xstrdup(conf_str(conf, "queue_socket"));
	d->wm.content_filter = xstrdup(conf_str(conf, "content_filter"));
	d->wm.tls = conf_bool(conf, "webmail_tls");
	d->pool = worker_pool_new(ev, threads > 0 ? (unsigned)threads : 1);
	d->sessions = wm_sessions_new();
	d->throttle = auth_throttle_new(failures, d->set.auth_window);
	d->throttle_ip = auth_throttle_new(3 * failures, d->set.auth_window);
	d->events = wm_events_new(d);
	if (d->wm.tls && tls_load(conf, cert, key, err) < 0)
		goto out;
	d->hs = wm_http_start(d, d->wm.tls ? buf_data(cert) : NULL,
			      d->wm.tls ? buf_data(key) : NULL, err);
	if (d->hs == NULL)
		goto out;
	EV_TIMER_ADD(ev, SWEEP_MS, on_sweep, d);
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
	struct wm_daemon *d = server_ctx(srv);
	http_server_accept(d->hs, conn);
}

static void on_stop(struct server *srv)
{
	struct wm_daemon *d = server_ctx(srv);

	if (d == NULL)
		return;
	EV_TIMER_DEL(server_ev(srv), on_sweep, d);
	wm_events_stop(d->events);
	wm_http_stop(d);
}

static void on_fini(struct server *srv)
{
	struct wm_daemon *d = server_ctx(srv);

	if (d == NULL)
		return;
	daemon_free(d);
	server_set_ctx(srv, NULL);
}

int main(int argc, char **argv)
{
	static const struct server_hooks hooks = {
	    .name = "webmail",
	    .default_service = "webmail",
	    .init = on_init,
	    .accept = on_accept,
	    .stop = on_stop,
	    .fini = on_fini,
	};
	return server_main(argc, argv, &hooks);
}
