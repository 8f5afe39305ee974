/*
 * postern-imapd - the IMAP server (imap with STARTTLS, imaps): sessions
 * (imapd-session.c) on the server skeleton's loop, every command run in
 * the worker pool, the store read through lib/mindex.  See imapd.h for
 * the files.
 *
 * One process serves many connections: the loop does the network and
 * the framing, the workers the disk and SQL.  A reload (SIGHUP) applies
 * new settings to new sessions; the database, store and throttle stay
 * as opened at start-up (worker jobs may be using them).
 */
#include <stdlib.h>
#include <string.h>

#include "auth/throttle.h"
#include "core/array.h"
#include "core/str.h"
#include "core/log.h"
#include "fts/fts_batch.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "ev/worker.h"
#include "map/map.h"
#include "mindex/mindex.h"
#include "store/store.h"

#include "imapd.h"

static struct imapd imapd;

struct imapd_settings *imapd_settings_new(const struct conf *conf)
{
	struct imapd_settings *set = xcalloc(1, sizeof(*set));

	set->refs = 1;
	set->hostname = xstrdup(conf_str(conf, "myhostname"));
	set->timeout_ms = conf_time(conf, "imapd_timeout") * 1000;
	set->login_timeout_ms = conf_time(conf, "imapd_login_timeout") * 1000;
	set->max_line = (size_t)conf_size(conf, "imapd_max_line_length");
	if (set->max_line < 1024)
		set->max_line = 1024;
	set->literal_limit =
	    (uint64_t)conf_size(conf, "imapd_literal_size_limit");
	set->append_limit = (uint64_t)conf_size(conf, "imapd_append_limit");
	set->plaintext_loopback = conf_bool(conf, "imapd_plaintext_loopback");
	set->keepalive_ms = conf_time(conf, "imapd_idle_keepalive") * 1000;
	if (set->keepalive_ms <= 0)
		set->keepalive_ms = 120000;
	set->failure_delay_ms = conf_time(conf, "auth_failure_delay") * 1000;
	set->default_scheme =
	    xstrdup(conf_str(conf, "default_password_scheme"));
	set->password_upgrade = conf_bool(conf, "password_upgrade");
	struct fts_min_free min;
	struct error err;
	if (fts_min_free_parse(conf_str(conf, "full_text_min_free"), &min,
			       &err) < 0) {
		log_warn("%s; using 5%%", err.msg);
		min = (struct fts_min_free){.percent = 5};
	}
	set->fts_min_free_percent = min.percent;
	set->fts_min_free_bytes = min.bytes;
	return set;
}

struct imapd_settings *imapd_settings_ref(struct imapd_settings *set)
{
	set->refs++;
	return set;
}

void imapd_settings_unref(struct imapd_settings **setp)
{
	struct imapd_settings *set = *setp;

	if (set == NULL)
		return;
	*setp = NULL;
	if (--set->refs > 0)
		return;
	free(set->hostname);
	free(set->default_scheme);
	free(set);
}

struct tls_ctx *imapd_tls(const struct imapd *d)
{
	return d->srv != NULL ? server_tls(d->srv) : NULL;
}

/* imapd_trusted_networks as a cidr map, as smtpd reads mynetworks. */
static int imapd_trusted_open(struct imapd *d, const struct conf *conf,
			      struct error *err)
{
	struct array *nets =
	    str_split(conf_str(conf, "imapd_trusted_networks"), ", \t");
	struct buf *text = buf_new();
	bool want = array_len(nets) > 0;

	for (size_t i = 0; i < array_len(nets); i++)
		buf_printf(text, "%s OK\n", (char *)array_get(nets, i));
	if (want) {
		d->trusted = map_open_text("cidr", "imapd_trusted_networks",
					   buf_data(text), buf_len(text), NULL,
					   err);
		if (d->trusted == NULL)
			error_prefix(err, "imapd_trusted_networks");
	}
	buf_free(&text);
	array_free_with(&nets, free);
	return want && d->trusted == NULL ? -1 : 0;
}

bool imapd_peer_trusted(struct imapd *d, const char *peer)
{
	struct buf *v;
	struct error err;
	int r;

	if (d->trusted == NULL)
		return false;
	v = buf_new();
	r = map_lookup(d->trusted, peer, v, &err);
	buf_free(&v);
	return r == 1;
}

/* lib/mindex keeps folders nobody has open within this budget
 * (docs/index.md, "Idle states"); applied again at a reload. */
static void imapd_mindex_limits(const struct conf *conf)
{
	long long n = conf_int(conf, "mindex_cache_folder_limit");

	mindex_cache_limits((size_t)conf_size(conf, "mindex_cache_size"),
			    n > 0 ? (unsigned)n : 0);
}

static int imapd_init(struct server *srv, struct error *err)
{
	const struct conf *conf = server_conf(srv);
	/* Sessions share the pool: a long SEARCH or FETCH holds a thread
	 * for its whole run, so imapd keeps more threads than the other
	 * daemons lest short commands queue behind long ones. */
	long long threads = conf_int(conf, "imapd_worker_threads");
	struct store_settings sset = {0};
	unsigned max_failures, window;

	imapd.srv = srv;
	imapd.ev = server_ev(srv);
	list_init(&imapd.session_list);
	if (threads <= 0)
		threads = conf_int(conf, "worker_threads");
	imapd.set = imapd_settings_new(conf);
	imapd_mindex_limits(conf);
	imapd.db = db_open(conf, err);
	if (imapd.db == NULL)
		return -1;
	imapd.read_db = db_open_read(conf, err);
	if (imapd.read_db == NULL)
		return -1;
	imapd.mail_directory = xstrdup(conf_str(conf, "mail_directory"));
	sset.root = imapd.mail_directory;
	sset.hostname = imapd.set->hostname;
	sset.quota_permanent = conf_bool(conf, "quota_exceeded_permanent");
	imapd.store = store_new(&sset);
	imapd.workers = worker_pool_new(imapd.ev, threads > 0 ? threads : 1);
	max_failures = (unsigned)conf_int(conf, "auth_throttle_max_failures");
	window = (unsigned)conf_time(conf, "auth_throttle_window");
	imapd.throttle = auth_throttle_new(max_failures, window);
	imapd.throttle_ip = auth_throttle_new(3 * max_failures, window);
	imapd.notify = imapd_notify_new(imapd.ev, err);
	if (imapd.notify == NULL)
		log_warn("IDLE without inotify (%s): clients are told of "
			 "changes at their next command",
			 err->msg);
	if (imapd_trusted_open(&imapd, conf, err) < 0)
		return -1;
	if (server_require_ccert(srv, "imapd", err) < 0)
		return -1;
	server_set_ctx(srv, &imapd);
	return 0;
}

static void imapd_accept(struct server *srv, const struct server_conn *conn)
{
	imapd_session_start(&imapd, conn);
}

static void imapd_reload(struct server *srv)
{
	struct imapd_settings *set = imapd_settings_new(server_conf(srv));

	imapd_settings_unref(&imapd.set);
	imapd.set = set;
	imapd_mindex_limits(server_conf(srv));
}

static void imapd_stop(struct server *srv)
{
	imapd.stopping = true;
	imapd_sessions_stop(&imapd);
}

static void imapd_fini(struct server *srv)
{
	worker_pool_free(&imapd.workers);
	imapd_notify_free(&imapd.notify);
	auth_throttle_free(&imapd.throttle);
	auth_throttle_free(&imapd.throttle_ip);
	store_free(&imapd.store);
	db_close(&imapd.db);
	db_close(&imapd.read_db);
	map_free(&imapd.trusted);
	free(imapd.mail_directory);
	imapd_settings_unref(&imapd.set);
}

int main(int argc, char **argv)
{
	static const struct server_hooks hooks = {
	    .name = "imapd",
	    .default_service = "imap",
	    .init = imapd_init,
	    .accept = imapd_accept,
	    .reload = imapd_reload,
	    .stop = imapd_stop,
	    .fini = imapd_fini,
	    .proxy_prefix = "imapd",
	};
	return server_main(argc, argv, &hooks);
}
