/*
 * wm-session.c - webmail sessions: login (passdb, throttled as IMAP
 * logins are), logout, GET /api/session, and the session store.
 *
 * Sessions live in SQL (table webmail_sessions, schema 005), so every
 * webmail process on every node behind a balancer knows them: a login on
 * one process works on the others, a logout on one ends the session on
 * all.  The table holds the SHA-256 of the session id, never the id (the
 * cookie): a copy of the database logs nobody in.  Each process keeps a
 * cache of the sessions it serves (the open store and index handles, the
 * list's open folder), and checks a cached session against SQL again
 * when it was last checked more than REVALIDATE_MS ago: a logout
 * elsewhere takes effect here within about a second.  Activity is
 * written back (last_at) at most every few seconds (TOUCH_SECONDS, or
 * a third of the idle timeout), not at every request.
 *
 * A session id is 256 random bits (getrandom), base64url.  The CSRF token
 * is derived from it, HMAC-SHA256(webmail secret, "csrf:" id), so it
 * need not be stored and every process computes the same one.  Every
 * login makes a new session (and ends the one of the cookie it came
 * with), so an id planted before login is worth nothing.  Sessions end
 * after webmail_session_timeout without a request, or
 * webmail_session_lifetime after login, or at logout.
 *
 * Failed logins are counted in memory (auth/throttle.h) and in SQL
 * (webmail_login_failures, keys hashed): a client that spreads its
 * guesses over several processes meets the same limit.
 *
 * When the primary takes no writes (down, database_read_hosts set), the
 * webmail goes on reading (docs/scaling.md "When the primary is down"):
 * a login checks the password and reads the mailbox row on the replica
 * and keeps its new session in this process only (sess.local) until the
 * primary answers again, when the row is written (at the session's next
 * request or at the sweep) and every process knows it.  A session this
 * process has not cached is read from the replica.  A logout that SQL
 * did not take is remembered (revoked, by id hash) until the row is
 * deleted, so neither the replica nor the row on the returning primary
 * brings the session back.  Why not a local SQLite file or signed
 * tokens: the default is one webmail process per node, the outage is
 * short, and nothing about a session is then stored in a second place
 * that logout and expiry would have to reach.
 *
 * Threads: lookups that only read the cache run on the loop
 * (wm_session_find); everything that queries SQL runs in the worker
 * pool.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/passdb.h"
#include "auth/throttle.h"
#include "core/array.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "ev/ev.h"
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
/* A cached session is checked against SQL again after this long. */
#define REVALIDATE_MS 1000
/* last_at in SQL is moved at most this often (or a third of the idle
 * timeout when that is shorter). */
#define TOUCH_SECONDS 30

struct sess {
	struct wm_session s; /* first */
	pthread_mutex_t lock;
	unsigned refs;	     /* under the table mutex */
	bool in_table;
	bool ended; /* logged out or expired, not just out of the cache */
	time_t created, last;
	time_t db_last;	      /* last_at as written to SQL */
	int64_t checked_ms;   /* monotonic time of the last SQL check */
	char id_hash[65];     /* hex SHA-256 of the id: the SQL key */
	char mailbox_id[24];
	uint64_t serial; /* login order */
	unsigned streams;
	struct wm_folder_cache fc;
	bool local; /* made while SQL took no writes: no row yet (under mu) */
};

struct wm_sessions {
	pthread_mutex_t mu;
	uint64_t serial;
	struct hash *byid; /* id -> struct sess */
	/* id_hash -> time_t (until): logouts whose SQL delete waits for
	 * the primary */
	struct hash *revoked;
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
	t->revoked = hash_new(HASH_DEFAULT, free);
	return t;
}

static void sess_free(struct sess *ss)
{
	/* Files uploaded for a message never sent go with the session (not
	 * when only this process's cache lets it go: the session lives on,
	 * maybe on another process of this node). */
	if (ss->ended)
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
	hash_free(&t->revoked);
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

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hex_of(const unsigned char *md, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The SQL key of a session id (or of a throttle key): hex SHA-256. */
static void sha256_hex(const char *s, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL);
	hex_of(md, 32, out);
}

/* 32 bytes, base64url without padding (43 characters). */
static void b64url32(const unsigned char in[32], char out[44])
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[33];
	size_t i, o = 0;

	memcpy(raw, in, 32);
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

/* The CSRF token of a session: the same in every process. */
static void csrf_of(const struct wm_daemon *d, const char *id, char out[44])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char *msg = xasprintf("csrf:%s", id);

	HMAC(EVP_sha256(), d->wm.secret, (int)sizeof(d->wm.secret),
	     (const unsigned char *)msg, strlen(msg), md, &mdlen);
	free(msg);
	b64url32(md, out);
}

static bool id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n != 43)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static time_t touch_every(const struct wm_daemon *d)
{
	time_t t = d->set.session_timeout / 3;

	if (t < 1)
		t = 1;
	return t < TOUCH_SECONDS ? t : TOUCH_SECONDS;
}

int wm_session_find(struct wm_daemon *d, const char *id, bool touch,
		    struct wm_session **s_r)
{
	struct wm_sessions *t = d->sessions;
	struct array *gone = array_new();
	time_t now = time(NULL);
	struct sess *ss;
	int rc;

	*s_r = NULL;
	pthread_mutex_lock(&t->mu);
	ss = hash_get(t->byid, id);
	if (ss != NULL && expired(d, ss, now)) {
		/* Maybe in use on another process: SQL decides. */
		unlink_locked(t, ss, gone);
		ss = NULL;
	}
	if (ss != NULL && d->wm.db != NULL &&
	    now_ms() - ss->checked_ms >= REVALIDATE_MS)
		ss = NULL;
	if (ss != NULL) {
		ss->refs++;
		if (touch)
			ss->last = now;
		*s_r = &ss->s;
		rc = 1;
	} else {
		rc = d->wm.db != NULL && id_valid(id) ? -1 : 0;
	}
	pthread_mutex_unlock(&t->mu);
	free_all(&gone);
	return rc;
}

/* Out of this process's cache, because the session ended (the SQL row
 * is the caller's business). */
static void drop_local(struct wm_daemon *d, const char *id)
{
	struct wm_sessions *t = d->sessions;
	struct array *gone = array_new();
	struct sess *ss;

	pthread_mutex_lock(&t->mu);
	ss = hash_get(t->byid, id);
	if (ss != NULL) {
		ss->ended = true;
		unlink_locked(t, ss, gone);
	}
	pthread_mutex_unlock(&t->mu);
	free_all(&gone);
}

static int sql_delete(struct wm_daemon *d, const char *hash)
{
	const char *params[] = {hash};
	struct error err;

	if (db_exec(d->wm.db, "DELETE FROM webmail_sessions WHERE id_hash = ?",
		    params, 1, &err) < 0) {
		log_warn("webmail: session delete: %s", err.msg);
		return -1;
	}
	return 0;
}

/* Lookups that may lag a moment: replicas first, else the primary. */
static struct db *read_db(struct wm_daemon *d)
{
	return d->wm.read_db != NULL ? d->wm.read_db : d->wm.db;
}

/* A logout whose SQL delete failed: refused here until the sweep has
 * deleted the row.  Past the longest life of a session the row is dead
 * anyway, and the entry goes. */
static void revoke_later(struct wm_daemon *d, const char *hash)
{
	time_t *until = xmalloc(sizeof(*until));

	*until = time(NULL) + d->set.session_lifetime;
	pthread_mutex_lock(&d->sessions->mu);
	hash_put(d->sessions->revoked, hash, until);
	pthread_mutex_unlock(&d->sessions->mu);
}

static bool is_revoked(struct wm_daemon *d, const char *hash)
{
	bool r;

	pthread_mutex_lock(&d->sessions->mu);
	r = hash_contains(d->sessions->revoked, hash);
	pthread_mutex_unlock(&d->sessions->mu);
	return r;
}

/* This process's cached session of id, alive, with a reference; NULL
 * when none.  local_only: only one that has no SQL row yet. */
static struct sess *cached_live(struct wm_daemon *d, const char *id, bool touch,
				bool local_only)
{
	struct wm_sessions *t = d->sessions;
	time_t now = time(NULL);
	struct sess *ss;

	pthread_mutex_lock(&t->mu);
	ss = hash_get(t->byid, id);
	if (ss != NULL && (expired(d, ss, now) || (local_only && !ss->local)))
		ss = NULL;
	if (ss != NULL) {
		ss->refs++;
		if (touch)
			ss->last = now;
	}
	pthread_mutex_unlock(&t->mu);
	return ss;
}

static int sql_insert(struct wm_daemon *d, struct sess *ss, time_t last,
		      struct error *err);

/* A session made while SQL took no writes gets its row once the
 * primary takes them: from then on every process knows it. */
static void flush_local(struct wm_daemon *d, struct sess *ss)
{
	struct error err;
	time_t last;
	bool gone;
	int rc;

	pthread_mutex_lock(&d->sessions->mu);
	gone = !ss->local;
	last = ss->last;
	pthread_mutex_unlock(&d->sessions->mu);
	if (gone)
		return;
	rc = sql_insert(d, ss, last, &err);
	if (rc == -1 && err.kind == ERR_TEMP)
		return; /* still down: the next request or sweep */
	if (rc == DB_DUPLICATE)
		rc = 0;
	pthread_mutex_lock(&d->sessions->mu);
	ss->local = false;
	ss->db_last = last;
	gone = !ss->in_table;
	pthread_mutex_unlock(&d->sessions->mu);
	if (rc == -1) {
		/* The mailbox went meanwhile (its row is what the session
		 * refers to): the session ends. */
		log_warn("webmail(%s): session not stored: %s", ss->s.address,
			 err.msg);
		drop_local(d, ss->s.id);
		return;
	}
	if (gone) /* logged out while the row was written */
		sql_delete(d, ss->id_hash);
	else
		log_info("webmail(%s): session stored in SQL after the outage",
			 ss->s.address);
}

static int open_user(struct wm_daemon *d, struct sess *ss, struct error *err);
static int load_row(struct wm_daemon *d, struct sess *ss, struct error *err);

/* A session this process has not cached yet: open its mailbox. */
static struct sess *sess_load(struct wm_daemon *d, const char *id,
			      const char *hash, const char *address,
			      time_t created, time_t last)
{
	struct sess *ss = xcalloc(1, sizeof(*ss));
	struct error err;

	pthread_mutex_init(&ss->lock, NULL);
	ss->s.address = xstrdup(address);
	if (load_row(d, ss, &err) < 0 || open_user(d, ss, &err) < 0) {
		log_error("webmail(%s): cannot open the mailbox: %s",
			  ss->s.address, err.msg);
		sess_free(ss);
		return NULL;
	}
	str_copy(ss->s.id, id, sizeof(ss->s.id));
	csrf_of(d, id, ss->s.csrf);
	str_copy(ss->id_hash, hash, sizeof(ss->id_hash));
	ss->created = created;
	ss->last = ss->db_last = last;
	return ss;
}

struct wm_session *wm_session_get(struct wm_daemon *d, const char *id,
				  bool touch)
{
	struct wm_sessions *t = d->sessions;
	const char *params[2];
	struct db_result *res = NULL;
	struct sess *ss, *fresh = NULL;
	char hash[65], nowbuf[24];
	time_t now = time(NULL), created = 0, last = 0, db_last;
	unsigned long long v;
	struct error err;
	bool write = false, degraded = false;
	char *address = NULL;

	if (d->wm.db == NULL || !id_valid(id)) {
		struct wm_session *s = NULL;
		if (d->wm.db == NULL)
			wm_session_find(d, id, touch, &s);
		return s;
	}
	sha256_hex(id, hash);
	if (is_revoked(d, hash)) {
		/* Logged out during the outage: the delete, once SQL takes
		 * it, ends the session on every process. */
		if (sql_delete(d, hash) == 0) {
			pthread_mutex_lock(&t->mu);
			hash_del(t->revoked, hash);
			pthread_mutex_unlock(&t->mu);
		}
		drop_local(d, id);
		return NULL;
	}
	params[0] = hash;
	if (db_query(d->wm.db,
		     "SELECT address, created_at, last_at FROM webmail_sessions"
		     " WHERE id_hash = ?",
		     params, 1, &res, &err) < 0) {
		/* The primary is down: what this process knows still
		 * holds; another session is read from the replica (rows
		 * as they were), and nothing is written. */
		log_warn("webmail: session lookup: %s", err.msg);
		ss = cached_live(d, id, touch, false);
		if (ss != NULL)
			return &ss->s;
		if (d->wm.read_db == NULL)
			return NULL;
		if (db_query(d->wm.read_db,
			     "SELECT address, created_at, last_at FROM"
			     " webmail_sessions WHERE id_hash = ?",
			     params, 1, &res, &err) < 0) {
			log_warn("webmail: session lookup on a replica: %s",
				 err.msg);
			return NULL;
		}
		degraded = true;
	}
	if (db_result_rows(res) == 0) {
		db_result_free(&res);
		/* Made here while the primary was down: its row now. */
		ss = degraded ? NULL : cached_live(d, id, touch, true);
		if (ss != NULL) {
			flush_local(d, ss);
			return &ss->s;
		}
		drop_local(d, id);
		return NULL;
	}
	address = xstrdup(db_result_value(res, 0, 0));
	if (str_to_u64(db_result_value(res, 0, 1), &v))
		created = (time_t)v;
	if (str_to_u64(db_result_value(res, 0, 2), &v))
		last = (time_t)v;
	db_result_free(&res);
	db_last = last;
	for (;;) {
		pthread_mutex_lock(&t->mu);
		ss = hash_get(t->byid, id);
		if (ss != NULL && strcmp(ss->s.address, address) != 0)
			ss = NULL; /* cannot happen: ids are random */
		if (ss != NULL && ss->last > last)
			last = ss->last;
		if (now - last >= d->set.session_timeout ||
		    now - created >= d->set.session_lifetime) {
			pthread_mutex_unlock(&t->mu);
			if (!degraded)
				sql_delete(d, hash);
			drop_local(d, id);
			ss = NULL;
			break;
		}
		if (ss == NULL && fresh != NULL) {
			ss = fresh;
			fresh = NULL;
			ss->serial = ++t->serial;
			ss->refs = 1;
			ss->in_table = true;
			hash_put(t->byid, ss->s.id, ss);
		}
		if (ss != NULL) {
			ss->refs++;
			ss->checked_ms = now_ms();
			ss->last = last;
			if (db_last > ss->db_last)
				ss->db_last = db_last;
			if (touch) {
				ss->last = now;
				if (!degraded &&
				    now - ss->db_last >= touch_every(d)) {
					ss->db_last = now;
					write = true;
				}
			}
			pthread_mutex_unlock(&t->mu);
			break;
		}
		pthread_mutex_unlock(&t->mu);
		/* Opening the mailbox takes file system work: outside the
		 * table's mutex, then insert (unless another thread won). */
		fresh = sess_load(d, id, hash, address, created, last);
		if (fresh == NULL)
			break;
	}
	if (fresh != NULL)
		sess_free(fresh);
	if (write) {
		snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
		params[0] = nowbuf;
		params[1] = hash;
		if (db_exec(d->wm.db,
			    "UPDATE webmail_sessions SET last_at = ?"
			    " WHERE id_hash = ?",
			    params, 2, &err) < 0)
			log_warn("webmail: session touch: %s", err.msg);
	}
	free(address);
	return ss != NULL ? &ss->s : NULL;
}

/* On the struct sess itself where the caller has one: going through
 * &ss->s and back makes GCC -O3 see a 128-byte object in sess_free. */
static void sess_unref(struct wm_daemon *d, struct sess *ss)
{
	bool last;

	pthread_mutex_lock(&d->sessions->mu);
	last = --ss->refs == 0;
	pthread_mutex_unlock(&d->sessions->mu);
	if (last)
		sess_free(ss);
}

void wm_session_unref(struct wm_daemon *d, struct wm_session *s)
{
	sess_unref(d, sess_of(s));
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

bool wm_session_revalidate(struct wm_daemon *d, struct wm_session *s)
{
	struct sess *ss = sess_of(s);
	const char *params[] = {ss->id_hash};
	struct db_result *res = NULL;
	struct error err;
	unsigned long long v;
	time_t now = time(NULL), last = 0;
	bool alive;

	if (!wm_session_alive(d, s))
		return false;
	if (d->wm.db == NULL)
		return true;
	/* A request of the session has just asked SQL; or it has no row
	 * yet, which the primary may take now. */
	pthread_mutex_lock(&d->sessions->mu);
	alive = now_ms() - ss->checked_ms < REVALIDATE_MS || ss->local;
	pthread_mutex_unlock(&d->sessions->mu);
	if (alive) {
		flush_local(d, ss);
		return wm_session_alive(d, s);
	}
	if (db_query(d->wm.db,
		     "SELECT last_at FROM webmail_sessions WHERE id_hash = ?",
		     params, 1, &res, &err) < 0) {
		log_warn("webmail: session check: %s", err.msg);
		return true;
	}
	alive = db_result_rows(res) > 0;
	if (alive && str_to_u64(db_result_value(res, 0, 0), &v))
		last = (time_t)v;
	db_result_free(&res);
	pthread_mutex_lock(&d->sessions->mu);
	if (alive) {
		if (last > ss->last)
			ss->last = last;
		ss->checked_ms = now_ms();
		alive = !expired(d, ss, now);
	}
	pthread_mutex_unlock(&d->sessions->mu);
	if (!alive) {
		sql_delete(d, ss->id_hash);
		drop_local(d, s->id);
	}
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

/* What the primary did not take while it was down: the rows of the
 * sessions made meanwhile, the deletes of the logouts. */
static void sweep_pending(struct wm_daemon *d)
{
	struct wm_sessions *t = d->sessions;
	struct array *locals = array_new(), *hashes = array_new();
	struct hash_iter it = {0};
	time_t now = time(NULL);
	const char *key;
	void *v;

	pthread_mutex_lock(&t->mu);
	while (hash_next(t->byid, &it, &key, &v))
		if (((struct sess *)v)->local) {
			((struct sess *)v)->refs++;
			array_push(locals, v);
		}
	memset(&it, 0, sizeof(it));
	while (hash_next(t->revoked, &it, &key, &v))
		array_push(hashes, xstrdup(key));
	pthread_mutex_unlock(&t->mu);
	for (size_t i = 0; i < array_len(locals); i++) {
		struct sess *ss = array_get(locals, i);
		flush_local(d, ss);
		sess_unref(d, ss);
	}
	for (size_t i = 0; i < array_len(hashes); i++) {
		char *h = array_get(hashes, i);
		bool done = sql_delete(d, h) == 0;

		pthread_mutex_lock(&t->mu);
		v = hash_get(t->revoked, h);
		if (v != NULL && (done || *(time_t *)v <= now))
			hash_del(t->revoked, h);
		pthread_mutex_unlock(&t->mu);
		free(h);
	}
	array_free(&locals);
	array_free(&hashes);
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
	if (d->wm.db != NULL) {
		char idle[24], old[24], fail[24];
		const char *params[] = {idle, old};
		const char *fparams[] = {fail};
		struct error err;

		sweep_pending(d);
		snprintf(idle, sizeof(idle), "%lld",
			 (long long)(now - d->set.session_timeout));
		snprintf(old, sizeof(old), "%lld",
			 (long long)(now - d->set.session_lifetime));
		snprintf(fail, sizeof(fail), "%lld",
			 (long long)(now - d->set.auth_window));
		if (db_exec(d->wm.db,
			    "DELETE FROM webmail_sessions WHERE last_at <= ?"
			    " OR created_at <= ?",
			    params, 2, &err) < 0 ||
		    db_exec(d->wm.db,
			    "DELETE FROM webmail_login_failures WHERE at <= ?",
			    fparams, 1, &err) < 0)
			log_warn("webmail: session sweep: %s", err.msg);
	}
}

/* End the session of id (logout, or a new login from the same browser):
 * on every process (SQL), and here at once. */
static void session_end(struct wm_daemon *d, const char *id)
{
	char hash[65];

	if (d->wm.db != NULL && id_valid(id)) {
		sha256_hex(id, hash);
		if (sql_delete(d, hash) < 0)
			revoke_later(d, hash);
	}
	drop_local(d, id);
}

/* 256 random bits, base64url without padding (43 characters). */
static void random_token(char out[44])
{
	unsigned char raw[32];
	size_t got = 0;

	while (got < 32) {
		ssize_t n = getrandom(raw + got, 32 - got, 0);
		if (n < 0)
			fatal("getrandom failed");
		got += (size_t)n;
	}
	b64url32(raw, out);
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

/* What crashed deliveries and folder creations left in the mailbox's
 * tmp/ goes when a session opens it (as imapd does at login); never a
 * reason to fail the session. */
static void clean_tmp(struct sess *ss)
{
	struct array *kept = array_new();
	struct error err;

	if (store_tmp_cleanup(ss->s.mbox, kept, &err) < 0)
		log_warn("webmail(%s): tmp/ cleanup: %s", ss->s.address,
			 err.msg);
	for (size_t i = 0; i < array_len(kept); i++)
		log_warn("webmail(%s): %s: an unfinished folder creation that "
			 "holds files; left alone",
			 ss->s.address, (const char *)array_get(kept, i));
	array_free_with(&kept, free);
}

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
	clean_tmp(ss);
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

	if (db_query(read_db(d),
		     "SELECT name, quota_bytes, id FROM mailboxes"
		     " WHERE address = ?",
		     params, 1, &res, err) < 0)
		return -1;
	if (db_result_rows(res) > 0) {
		const char *name = db_result_value(res, 0, 0);
		const char *quota = db_result_value(res, 0, 1);
		const char *id = db_result_value(res, 0, 2);
		str_copy(ss->mailbox_id, id != NULL ? id : "",
			 sizeof(ss->mailbox_id));
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

/* ---- login throttle in SQL (every process counts the same) ---- */

static bool sql_blocked(struct wm_daemon *d, const char *ipkey,
			const char *userkey, time_t now)
{
	char ih[65], uh[65], since[24];
	const char *params[] = {ih, uh, since};
	struct db_result *res = NULL;
	struct error err;
	bool blocked = false;

	if (d->set.max_failures == 0)
		return false;
	sha256_hex(ipkey, ih);
	sha256_hex(userkey, uh);
	snprintf(since, sizeof(since), "%lld",
		 (long long)(now - d->set.auth_window));
	if (db_query(d->wm.db,
		     "SELECT key_hash, COUNT(*) FROM webmail_login_failures"
		     " WHERE key_hash IN (?, ?) AND at > ? GROUP BY key_hash",
		     params, 3, &res, &err) < 0) {
		log_warn("webmail-login: throttle: %s", err.msg);
		return false;
	}
	for (size_t i = 0; i < db_result_rows(res); i++) {
		const char *k = db_result_value(res, i, 0);
		unsigned long long n = 0;

		str_to_u64(db_result_value(res, i, 1), &n);
		if (k != NULL && strcmp(k, uh) == 0 && n >= d->set.max_failures)
			blocked = true;
		if (k != NULL && strcmp(k, ih) == 0 &&
		    n >= 3ull * d->set.max_failures)
			blocked = true;
	}
	db_result_free(&res);
	return blocked;
}

static void sql_failure(struct wm_daemon *d, const char *key, time_t now)
{
	char h[65], at[24];
	const char *params[] = {h, at};
	struct error err;

	if (d->set.max_failures == 0)
		return;
	sha256_hex(key, h);
	snprintf(at, sizeof(at), "%lld", (long long)now);
	if (db_exec(d->wm.db,
		    "INSERT INTO webmail_login_failures (key_hash, at)"
		    " VALUES (?, ?)",
		    params, 2, &err) < 0)
		log_warn("webmail-login: throttle: %s", err.msg);
}

static void sql_success(struct wm_daemon *d, const char *key)
{
	char h[65];
	const char *params[] = {h};
	struct error err;

	sha256_hex(key, h);
	if (db_exec(d->wm.db,
		    "DELETE FROM webmail_login_failures WHERE key_hash = ?",
		    params, 1, &err) < 0)
		log_warn("webmail-login: throttle: %s", err.msg);
}

/* The new session's row; then the address keeps its newest
 * SESSIONS_PER_ADDRESS sessions (on every process).  0, -1, or
 * DB_DUPLICATE when the row is there already (a flush_local that
 * another thread did first). */
static int sql_insert(struct wm_daemon *d, struct sess *ss, time_t last,
		      struct error *err)
{
	char created[24], lastbuf[24];
	const char *params[] = {ss->id_hash, ss->mailbox_id, ss->s.address,
				created, lastbuf};
	struct db_result *res = NULL;
	long long n;

	snprintf(created, sizeof(created), "%lld", (long long)ss->created);
	snprintf(lastbuf, sizeof(lastbuf), "%lld", (long long)last);
	n = db_exec(d->wm.db,
		    "INSERT INTO webmail_sessions (id_hash, mailbox_id,"
		    " address, created_at, last_at) VALUES (?, ?, ?, ?, ?)",
		    params, 5, err);
	if (n < 0)
		return n == DB_DUPLICATE ? DB_DUPLICATE : -1;
	if (db_query(d->wm.db,
		     "SELECT id_hash FROM webmail_sessions WHERE mailbox_id = ?"
		     " ORDER BY id DESC",
		     params + 1, 1, &res, err) < 0)
		return 0; /* the bound waits for the next login */
	for (size_t i = SESSIONS_PER_ADDRESS; i < db_result_rows(res); i++) {
		const char *h = db_result_value(res, i, 0);
		struct wm_sessions *t = d->sessions;
		struct array *gone = array_new();
		struct hash_iter it = {0};
		const char *key;
		void *v = NULL;

		if (h == NULL)
			continue;
		sql_delete(d, h);
		pthread_mutex_lock(&t->mu);
		while (hash_next(t->byid, &it, &key, &v))
			if (strcmp(((struct sess *)v)->id_hash, h) == 0)
				break;
		if (v != NULL && strcmp(((struct sess *)v)->id_hash, h) == 0) {
			((struct sess *)v)->ended = true;
			unlink_locked(t, v, gone);
		}
		pthread_mutex_unlock(&t->mu);
		free_all(&gone);
	}
	db_result_free(&res);
	return 0;
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
	    auth_throttle_blocked(d->throttle, userkey, now) ||
	    sql_blocked(d, ipkey, userkey, now)) {
		log_info("webmail-login: Aborted login (too many failures): "
			 "user=<%s>, rip=%s",
			 buf_data(norm), r->client);
		wm_error(r, 429, "throttled",
			 "too many failed logins; try again later");
		wm_header(r, "Retry-After", retry);
		goto out;
	}
	rc = passdb_verify_split(d->wm.read_db != NULL ? d->wm.read_db
						: d->wm.db,
				d->wm.db, address, password, &opts, &err);
	if (rc < 0) {
		log_warn("webmail-login: %s: passdb: %s", r->client, err.msg);
		wm_error(r, 503, "unavailable",
			 "temporary authentication failure");
		goto out;
	}
	if (rc == 0) {
		auth_throttle_failure(d->throttle_ip, ipkey, now);
		auth_throttle_failure(d->throttle, userkey, now);
		sql_failure(d, ipkey, now);
		sql_failure(d, userkey, now);
		log_info("webmail-login: Login failed: user=<%s>, rip=%s",
			 buf_data(norm), r->client);
		wm_error(r, 401, "bad_credentials",
			 "wrong address or password");
		goto out;
	}
	auth_throttle_success(d->throttle, userkey);
	sql_success(d, userkey);
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
	csrf_of(d, ss->s.id, ss->s.csrf);
	sha256_hex(ss->s.id, ss->id_hash);
	ss->created = ss->last = ss->db_last = now;
	ss->checked_ms = now_ms();
	rc = sql_insert(d, ss, now, &err);
	if (rc == -1 && err.kind == ERR_TEMP) {
		/* The primary takes no writes (a replica answered the
		 * password): the session lives here until it does. */
		log_warn("webmail(%s): session kept in this process until "
			 "the database takes writes: %s",
			 ss->s.address, err.msg);
		ss->local = true;
	} else if (rc != 0) {
		log_error("webmail(%s): cannot store the session: %s",
			  ss->s.address, err.msg);
		sess_free(ss);
		wm_error(r, 503, "unavailable", "the session cannot be stored");
		goto out;
	}
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
