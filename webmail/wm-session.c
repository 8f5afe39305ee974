/*
 * wm-session.c - webmail sessions: the in-memory table, login (passdb,
 * throttled as IMAP logins are), logout and GET /api/session.
 *
 * A session id and its CSRF token are 256 random bits each (getrandom),
 * base64url.  Every login makes a new session (and ends the one of the
 * cookie it came with), so an id planted before login is worth nothing.
 * Sessions end after webmail_session_timeout without a request, or
 * webmail_session_lifetime after login, or at logout; a process restart
 * ends them all (they are not stored).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "auth/passdb.h"
#include "auth/throttle.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "mail/address.h"
#include "mindex/mindex.h"
#include "store/store.h"
#include "wm-compose.h"
#include "wm-core.h"

/* Sessions one address may hold; a login beyond ends its oldest, so
 * memory stays bounded however often a user (or a script with the
 * password) logs in. */
#define SESSIONS_PER_ADDRESS 32

struct sess {
	struct wm_session s; /* first */
	pthread_mutex_t lock;
	unsigned refs;	     /* under the table mutex */
	bool in_table;
	time_t created, last;
	uint64_t serial; /* login order */
	unsigned streams;
	struct wm_folder_cache fc;
};

struct wm_sessions {
	pthread_mutex_t mu;
	uint64_t serial;
	struct hash *byid; /* id -> struct sess */
};

static struct sess *sess_of(struct wm_session *s)
{
	return (struct sess *)(void *)s;
}

struct wm_sessions *wm_sessions_new(void)
{
	struct wm_sessions *t = xcalloc(1, sizeof(*t));

	pthread_mutex_init(&t->mu, NULL);
	t->byid = hash_new(HASH_DEFAULT, NULL);
	return t;
}

static void sess_free(struct sess *ss)
{
	/* Files uploaded for a message never sent go with the session. */
	wm_uploads_drop(&ss->s);
	mindex_folder_close(&ss->fc.f);
	free(ss->fc.name);
	mindex_user_free(&ss->s.mu);
	store_mailbox_free(&ss->s.mbox);
	free(ss->s.address);
	free(ss->s.name);
	pthread_mutex_destroy(&ss->lock);
	explicit_bzero(ss, sizeof(*ss));
	free(ss);
}

void wm_sessions_free(struct wm_sessions **tp)
{
	struct wm_sessions *t = *tp;
	struct hash_iter it = {0};
	const char *key;
	void *v;

	if (t == NULL)
		return;
	while (hash_next(t->byid, &it, &key, &v))
		sess_free(v);
	hash_free(&t->byid);
	pthread_mutex_destroy(&t->mu);
	free(t);
	*tp = NULL;
}

static bool expired(const struct wm_daemon *d, const struct sess *ss,
		    time_t now)
{
	return now - ss->last >= d->set.session_timeout ||
	       now - ss->created >= d->set.session_lifetime;
}

/* Under t->mu: out of the table, and the table's reference dropped. */
static void unlink_locked(struct wm_sessions *t, struct sess *ss,
			  struct array *to_free)
{
	if (!ss->in_table)
		return;
	hash_del(t->byid, ss->s.id);
	ss->in_table = false;
	if (--ss->refs == 0)
		array_push(to_free, ss);
}

static void free_all(struct array **a)
{
	for (size_t i = 0; i < array_len(*a); i++)
		sess_free(array_get(*a, i));
	array_free(a);
}

struct wm_session *wm_session_get(struct wm_daemon *d, const char *id,
				  bool touch)
{
	struct wm_sessions *t = d->sessions;
	struct array *gone = array_new();
	time_t now = time(NULL);
	struct sess *ss;

	pthread_mutex_lock(&t->mu);
	ss = hash_get(t->byid, id);
	if (ss != NULL && expired(d, ss, now)) {
		unlink_locked(t, ss, gone);
		ss = NULL;
	}
	if (ss != NULL) {
		ss->refs++;
		if (touch)
			ss->last = now;
	}
	pthread_mutex_unlock(&t->mu);
	free_all(&gone);
	return ss != NULL ? &ss->s : NULL;
}

void wm_session_unref(struct wm_daemon *d, struct wm_session *s)
{
	struct sess *ss = sess_of(s);
	bool last;

	pthread_mutex_lock(&d->sessions->mu);
	last = --ss->refs == 0;
	pthread_mutex_unlock(&d->sessions->mu);
	if (last)
		sess_free(ss);
}

bool wm_session_alive(struct wm_daemon *d, struct wm_session *s)
{
	struct sess *ss = sess_of(s);
	bool alive;

	pthread_mutex_lock(&d->sessions->mu);
	alive = ss->in_table && !expired(d, ss, time(NULL));
	pthread_mutex_unlock(&d->sessions->mu);
	return alive;
}

struct wm_folder_cache *wm_session_folder_cache(struct wm_session *s)
{
	return &sess_of(s)->fc;
}

void wm_session_lock(struct wm_session *s)
{
	pthread_mutex_lock(&sess_of(s)->lock);
}

void wm_session_unlock(struct wm_session *s)
{
	pthread_mutex_unlock(&sess_of(s)->lock);
}

bool wm_session_stream_add(struct wm_daemon *d, struct wm_session *s)
{
	struct sess *ss = sess_of(s);
	bool ok;

	pthread_mutex_lock(&d->sessions->mu);
	ok = ss->streams < d->set.events_per_session;
	if (ok)
		ss->streams++;
	pthread_mutex_unlock(&d->sessions->mu);
	return ok;
}

void wm_session_stream_del(struct wm_daemon *d, struct wm_session *s)
{
	struct sess *ss = sess_of(s);

	pthread_mutex_lock(&d->sessions->mu);
	if (ss->streams > 0)
		ss->streams--;
	pthread_mutex_unlock(&d->sessions->mu);
}

void wm_sessions_sweep(struct wm_daemon *d)
{
	struct wm_sessions *t = d->sessions;
	struct array *gone = array_new(), *dead = array_new();
	struct hash_iter it = {0};
	time_t now = time(NULL);
	const char *key;
	void *v;

	pthread_mutex_lock(&t->mu);
	while (hash_next(t->byid, &it, &key, &v))
		if (expired(d, v, now))
			array_push(dead, v);
	for (size_t i = 0; i < array_len(dead); i++)
		unlink_locked(t, array_get(dead, i), gone);
	pthread_mutex_unlock(&t->mu);
	array_free(&dead);
	free_all(&gone);
}

/* End the session of id (logout, or a new login from the same browser). */
static void session_end(struct wm_daemon *d, const char *id)
{
	struct wm_sessions *t = d->sessions;
	struct array *gone = array_new();
	struct sess *ss;

	pthread_mutex_lock(&t->mu);
	ss = hash_get(t->byid, id);
	if (ss != NULL)
		unlink_locked(t, ss, gone);
	pthread_mutex_unlock(&t->mu);
	free_all(&gone);
}

/* 256 random bits, base64url without padding (43 characters). */
static void random_token(char out[44])
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[33];
	size_t got = 0, i, o = 0;

	while (got < 32) {
		ssize_t n = getrandom(raw + got, 32 - got, 0);
		if (n < 0)
			fatal("getrandom failed");
		got += (size_t)n;
	}
	raw[32] = 0;
	for (i = 0; i < 33; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 |
			     raw[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		if (o < 43)
			out[o++] = b64[v >> 6 & 63];
		if (o < 43)
			out[o++] = b64[v & 63];
	}
	out[43] = '\0';
	explicit_bzero(raw, sizeof(raw));
}

char *wm_cookie_value(const struct wm_daemon *d, const char *id)
{
	const char *secure =
	    d->wm.tls || d->set.cookie_secure ? "; Secure" : "";

	if (id[0] == '\0')
		return xasprintf("postern_session=; Path=/; HttpOnly; "
				 "SameSite=Strict; Max-Age=0%s",
				 secure);
	return xasprintf("postern_session=%s; Path=/; HttpOnly; "
			 "SameSite=Strict%s",
			 id, secure);
}

static const struct mindex_settings special = {
    .drafts = "Drafts",
    .sent = "Sent",
    .trash = "Trash",
    .junk = "Junk",
    .archive = "Archive",
};

/* Open the store and the index of a logged-in address (as imapd does). */
static int open_user(struct wm_daemon *d, struct sess *ss, struct error *err)
{
	const char *address = ss->s.address;
	const char *at = strrchr(address, '@');
	char *local, *subs;
	bool first;

	if (at == NULL || at == address)
		return error_set(err, ERR_PERM, "address without a domain");
	local = xstrndup(address, (size_t)(at - address));
	ss->s.mbox = store_mailbox_open(d->wm.store, at + 1, local, err);
	free(local);
	if (ss->s.mbox == NULL || store_folder_create(ss->s.mbox, NULL, err) < 0)
		return -1;
	ss->s.mu = mindex_user_open(ss->s.mbox, &special, err);
	if (ss->s.mu == NULL)
		return -1;
	subs = xasprintf("%s/subscriptions", store_mailbox_path(ss->s.mbox));
	first = access(subs, F_OK) != 0;
	free(subs);
	if (first && mindex_subscribe(ss->s.mu, "INBOX", true, err) < 0)
		return -1;
	return mindex_special_create(ss->s.mu, err);
}

/* Display name and quota from SQL. */
static int load_row(struct wm_daemon *d, struct sess *ss, struct error *err)
{
	const char *params[] = {ss->s.address};
	struct db_result *res;
	unsigned long long q = 0;

	if (db_query(d->wm.db,
		     "SELECT name, quota_bytes FROM mailboxes WHERE address = ?",
		     params, 1, &res, err) < 0)
		return -1;
	if (db_result_rows(res) > 0) {
		const char *name = db_result_value(res, 0, 0);
		const char *quota = db_result_value(res, 0, 1);
		ss->s.name = xstrdup(name != NULL ? name : "");
		if (quota != NULL && str_to_u64(quota, &q))
			ss->s.quota_bytes = q;
	} else {
		ss->s.name = xstrdup("");
	}
	db_result_free(&res);
	return 0;
}

static json_t *session_json(const struct wm_session *s)
{
	return json_pack("{s:s,s:s,s:s}", "address", s->address, "name",
			 s->name != NULL ? s->name : "", "csrf", s->csrf);
}

static void set_cookie(struct wm_req *r, const char *id)
{
	char *c = wm_cookie_value(wm_daemon(r->wm), id);
	wm_header(r, "Set-Cookie", c);
	free(c);
}

static void login(struct wm_req *r)
{
	struct wm_daemon *d = wm_daemon(r->wm);
	struct passdb_opts opts = {
	    .default_scheme = d->set.default_scheme,
	    .upgrade = d->set.password_upgrade,
	};
	const char *address, *password, *old;
	struct buf *norm = buf_new();
	char *ipkey = NULL, *userkey = NULL, retry[24];
	time_t now = time(NULL);
	struct sess *ss = NULL;
	struct error err;
	json_t *body = NULL;
	int rc;

	if (d->wm.db == NULL) {
		wm_error(r, 503, "unavailable", "the database is not available");
		goto out_nobody;
	}
	if (!str_has_prefix(r->content_type, "application/json")) {
		wm_error(r, 415, "unsupported_media_type",
			 "the login needs Content-Type: application/json");
		goto out_nobody;
	}
	body = wm_body_json(r);
	if (body == NULL)
		goto out_nobody;
	address = json_string_value(json_object_get(body, "address"));
	password = json_string_value(json_object_get(body, "password"));
	if (address == NULL || password == NULL || address[0] == '\0' ||
	    strlen(address) > 320 || strlen(password) > 1024) {
		wm_error(r, 400, "bad_request",
			 "address and password (strings) are needed");
		goto out;
	}
	if (address_normalize(address, ADDRESS_IDN | ADDRESS_LOWER_LOCAL, norm,
			      NULL) < 0)
		buf_set_str(norm, address);
	ipkey = xasprintf("ip:%s", r->client);
	userkey = xasprintf("user:%s", buf_data(norm));
	snprintf(retry, sizeof(retry), "%u", d->set.auth_window);
	if (auth_throttle_blocked(d->throttle_ip, ipkey, now) ||
	    auth_throttle_blocked(d->throttle, userkey, now)) {
		log_info("webmail-login: Aborted login (too many failures): "
			 "user=<%s>, rip=%s",
			 buf_data(norm), r->client);
		wm_error(r, 429, "throttled",
			 "too many failed logins; try again later");
		wm_header(r, "Retry-After", retry);
		goto out;
	}
	rc = passdb_verify(d->wm.db, address, password, &opts, &err);
	if (rc < 0) {
		log_warn("webmail-login: %s: passdb: %s", r->client, err.msg);
		wm_error(r, 503, "unavailable",
			 "temporary authentication failure");
		goto out;
	}
	if (rc == 0) {
		auth_throttle_failure(d->throttle_ip, ipkey, now);
		auth_throttle_failure(d->throttle, userkey, now);
		log_info("webmail-login: Login failed: user=<%s>, rip=%s",
			 buf_data(norm), r->client);
		wm_error(r, 401, "bad_credentials",
			 "wrong address or password");
		goto out;
	}
	auth_throttle_success(d->throttle, userkey);
	ss = xcalloc(1, sizeof(*ss));
	pthread_mutex_init(&ss->lock, NULL);
	ss->s.address = buf_steal(norm);
	if (load_row(d, ss, &err) < 0 || open_user(d, ss, &err) < 0) {
		log_error("webmail(%s): cannot open the mailbox: %s",
			  ss->s.address, err.msg);
		sess_free(ss);
		wm_fail(r, &err);
		goto out;
	}
	random_token(ss->s.id);
	random_token(ss->s.csrf);
	ss->created = ss->last = now;
	old = wm_req_cookie(r);
	if (old != NULL)
		session_end(d, old);
	{
		struct array *gone = array_new();
		struct hash_iter it = {0};
		struct sess *oldest = NULL;
		unsigned same = 0;
		const char *key;
		void *v;

		pthread_mutex_lock(&d->sessions->mu);
		while (hash_next(d->sessions->byid, &it, &key, &v)) {
			struct sess *o = v;
			if (strcmp(o->s.address, ss->s.address) != 0)
				continue;
			same++;
			if (oldest == NULL || o->serial < oldest->serial)
				oldest = o;
		}
		if (same >= SESSIONS_PER_ADDRESS && oldest != NULL)
			unlink_locked(d->sessions, oldest, gone);
		ss->serial = ++d->sessions->serial;
		ss->refs = 1;
		ss->in_table = true;
		hash_put(d->sessions->byid, ss->s.id, ss);
		pthread_mutex_unlock(&d->sessions->mu);
		free_all(&gone);
	}
	log_info("webmail-login: Login: user=<%s>, rip=%s", ss->s.address,
		 r->client);
	wm_json(r, 200, session_json(&ss->s));
	set_cookie(r, ss->s.id);
out:
	json_decref(body);
out_nobody:
	free(ipkey);
	free(userkey);
	buf_free(&norm);
}

static void logout(struct wm_req *r)
{
	struct wm_daemon *d = wm_daemon(r->wm);

	log_info("webmail: Logged out: user=<%s>, rip=%s", r->session->address,
		 r->client);
	session_end(d, r->session->id);
	wm_body(r, 204, "application/json", "", 0);
	set_cookie(r, "");
}

static void session_info(struct wm_req *r)
{
	struct wm_session *s = r->session;
	struct store_quota q = {.bytes = s->quota_bytes};
	struct store_usage u = {0};
	struct error err;
	json_t *v = session_json(s);

	if (store_usage(s->mbox, &q, &u, &err) < 0)
		log_warn("webmail(%s): usage: %s", s->address, err.msg);
	json_object_set_new(v, "quota_bytes", json_integer((json_int_t)s->quota_bytes));
	json_object_set_new(v, "used_bytes", json_integer((json_int_t)u.bytes));
	wm_json(r, 200, v);
}

const struct wm_route wm_routes_session[] = {
    {"POST", "/api/login", login, true},
    {"POST", "/api/logout", logout, false},
    {"GET", "/api/session", session_info, false},
    {NULL},
};
