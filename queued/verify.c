/*
 * verify.c - address verification probes and the cache writes
 * (verify.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "core/array.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "dns/dns.h"
#include "ev/ev.h"
#include "ev/worker.h"

#include "verify.h"

/* The address column's width (schema/ * /009_address_verify.sql). */
#define VERIFY_ADDR_MAX 320
#define VERIFY_REPLY_MAX 500

/* The cache's status values, as smtpd-verify.h's. */
enum { ST_OK = 0, ST_BAD = 1, ST_TEMP = 2 };

static struct {
	bool ready, stopping;
	struct ev *ev;
	struct db *db;
	struct worker_pool *workers;
	struct resolver *resolver;
	struct dns_resolver *dns;
	struct hash *inflight; /* address -> "" */
	struct hash *pools;    /* route key -> struct dlv_pool * */
	char *sender;
	struct dlv_params params;
	char *helo;
} vf;

struct answer {
	qmgr_control_fn *done;
	void *ctx;
	struct error err;
	bool failed;
	char text[200];
};

/* A cache write (worker side), then the address leaves inflight. */
struct write_job {
	char *address;
	int status;
	char reply[VERIFY_REPLY_MAX + 1];
	bool result; /* false: only requested_at */
	long long now;
};

static void answer_cb(struct ev *ev, void *p)
{
	struct answer *a = p;

	(void)ev;
	a->done(a->ctx, a->failed ? &a->err : NULL, a->text);
	free(a);
}

static void answer_later(qmgr_control_fn *done, void *ctx, bool failed,
			 const char *text)
{
	struct answer *a = xcalloc(1, sizeof(*a));

	a->done = done;
	a->ctx = ctx;
	a->failed = failed;
	if (failed)
		error_set(&a->err, ERR_TEMP, "%s", text);
	str_copy(a->text, text, sizeof(a->text));
	ev_defer(vf.ev, answer_cb, a);
}

static void pool_free_cb(void *pool)
{
	dlv_pool_free((struct dlv_pool **)&pool);
}

void verify_init(struct ev *ev, const struct conf *conf)
{
	struct error err;
	const char *snd = conf_str(conf, "address_verify_sender");

	memset(&vf, 0, sizeof(vf));
	vf.ev = ev;
	vf.db = db_open(conf, &err);
	if (vf.db == NULL) {
		log_warn("address verification: no database (%s): probes "
			 "are refused",
			 err.msg);
		return;
	}
	vf.workers = worker_pool_new(ev, 1);
	vf.resolver = resolver_new(conf);
	vf.dns = dns_resolver_new(ev, conf, &err);
	if (vf.dns == NULL)
		log_warn("address verification: DNS resolver: %s (MX "
			 "destinations are unverifiable)",
			 err.msg);
	vf.inflight = hash_new(HASH_DEFAULT, NULL);
	vf.pools = hash_new(HASH_DEFAULT, pool_free_cb);
	/* "<>" (or nothing) is the null sender, as Postfix allows. */
	vf.sender = xstrdup(strcmp(snd, "<>") == 0 ? "" : snd);
	vf.helo = xstrdup(conf_str(conf, "smtp_helo_name"));
	vf.params.myhostname = vf.helo;
	long long conc =
	    conf_int(conf, "default_destination_concurrency_limit");
	vf.params.concurrency = conc > 0 ? (unsigned)conc : 1;
	vf.params.connect_timeout_ms =
	    conf_time(conf, "smtp_connect_timeout") * 1000;
	vf.params.default_port = (unsigned)conf_int(conf, "smtp_tcp_port");
	vf.ready = true;
}

/* After SIGTERM: free the pools with no probe running (their idle
 * connections would keep the loop alive).  Never from inside a delivery
 * callback: those use the timer below. */
static void close_pools(void)
{
	struct array *idle = array_new();
	struct hash_iter it = {0};
	const char *key;
	void *pool;

	while (hash_next(vf.pools, &it, &key, &pool))
		if (dlv_pool_busy(pool) == 0)
			array_push(idle, xstrdup(key));
	for (size_t i = 0; i < array_len(idle); i++)
		hash_del(vf.pools, array_get(idle, i));
	array_free_with(&idle, free);
}

/* A timer, not ev_defer: the loop checks for idleness before running
 * deferred calls, so a deferred call that is the last thing left would
 * leave it waiting in epoll for nothing. */
static void close_pools_timer(struct ev *ev, void *ctx)
{
	(void)ev;
	(void)ctx;
	close_pools();
}

void verify_stop(void)
{
	struct hash_iter it = {0};
	const char *key;
	void *pool;

	vf.stopping = true;
	if (!vf.ready)
		return;
	while (hash_next(vf.pools, &it, &key, &pool))
		dlv_pool_stop(pool);
	close_pools();
}

void verify_fini(void)
{
	if (vf.workers != NULL)
		worker_pool_free(&vf.workers);
	hash_free(&vf.pools);
	hash_free(&vf.inflight);
	resolver_free(&vf.resolver);
	dns_resolver_free(&vf.dns);
	db_close(&vf.db);
	free(vf.sender);
	free(vf.helo);
	memset(&vf, 0, sizeof(vf));
}

/* UPDATE, else INSERT (else UPDATE again: a parallel insert won). */
static void write_work(void *p)
{
	struct write_job *j = p;
	char now[24], st[8];
	struct error err;
	long long n = 0;

	snprintf(now, sizeof(now), "%lld", j->now);
	snprintf(st, sizeof(st), "%d", j->status);
	for (int i = 0; i < 2; i++) {
		if (j->result) {
			const char *u[] = {st, j->reply, now, j->address};
			n = db_exec(
			    vf.db,
			    "UPDATE address_verify SET status = ?, "
			    "reply = ?, probed_at = ? WHERE address = ?",
			    u, 4, &err);
		} else {
			const char *u[] = {now, j->address};
			n = db_exec(
			    vf.db,
			    "UPDATE address_verify SET requested_at = ? "
			    "WHERE address = ?",
			    u, 2, &err);
		}
		if (n != 0)
			break;
		const char *ins[] = {j->address, st, j->reply,
				     j->result ? now : "0", now};
		n = db_exec(vf.db,
			    "INSERT INTO address_verify (address, status, "
			    "reply, probed_at, requested_at) VALUES "
			    "(?, ?, ?, ?, ?)",
			    ins, 5, &err);
		if (n != DB_DUPLICATE)
			break;
	}
	if (n < 0 && n != DB_DUPLICATE)
		log_warn("address verification cache: <%s>: %s", j->address,
			 err.msg);
}

static void write_done(void *p)
{
	struct write_job *j = p;

	if (j->result && vf.inflight != NULL)
		hash_del(vf.inflight, j->address);
	free(j->address);
	free(j);
}

static void cache_write(const char *address, bool result, int status,
			const char *reply)
{
	struct write_job *j = xcalloc(1, sizeof(*j));

	j->address = xstrdup(address);
	j->result = result;
	j->status = status;
	str_copy(j->reply, reply != NULL ? reply : "", sizeof(j->reply));
	j->now = (long long)time(NULL);
	worker_submit(vf.workers, write_work, write_done, j);
}

static void result(const char *address, int status, const char *reply,
		   const char *relay)
{
	log_info("verify: to=<%s>, relay=%s, status=%s (%s)", address, relay,
		 status == ST_OK    ? "deliverable"
		 : status == ST_BAD ? "undeliverable"
				    : "deferred",
		 reply);
	cache_write(address, true, status, reply);
}

static void on_probe(void *ctx, const struct dlv_result *results,
		     size_t nresults, const char *relay)
{
	char *address = ctx;
	char reply[VERIFY_REPLY_MAX + 1];
	char said[VERIFY_REPLY_MAX + 1];
	int status = ST_TEMP;

	if (nresults > 0) {
		const struct dlv_result *r = &results[0];
		status = r->result == DLV_OK	 ? ST_OK
			 : r->result == DLV_PERM ? ST_BAD
						 : ST_TEMP;
		/* Postfix's form of a remote reply. */
		str_copy(said, r->reply, sizeof(said) - 200);
		if (r->reply[0] >= '2' && r->reply[0] <= '5' &&
		    strcmp(relay, "none") != 0)
			snprintf(
			    reply, sizeof(reply),
			    "host %.150s said: %.300s (in reply to RCPT TO "
			    "command)",
			    relay, said);
		else
			str_copy(reply, r->reply, sizeof(reply));
	} else {
		str_copy(reply, "no result", sizeof(reply));
	}
	if (vf.stopping)
		ev_timer_add(vf.ev, 0, close_pools_timer, NULL);
	if (vf.stopping && status == ST_TEMP) {
		/* "mail system is stopping" says nothing of the address:
		 * not cached, the next request probes again. */
		log_info("verify: to=<%s>: probe cut short: %s", address,
			 reply);
		hash_del(vf.inflight, address);
		free(address);
		return;
	}
	result(address, status, reply, relay);
	free(address);
}

static struct dlv_pool *pool_get(const struct route *route)
{
	struct dlv_pool *pool = hash_get(vf.pools, route->key);

	if (pool == NULL) {
		pool = dlv_pool_new(vf.ev, vf.dns, route, &vf.params);
		hash_put(vf.pools, route->key, pool);
	}
	return pool;
}

static bool valid_address(const char *a)
{
	size_t len = strlen(a);
	const char *at = strrchr(a, '@');

	if (len == 0 || len > VERIFY_ADDR_MAX || at == NULL || at == a ||
	    at[1] == '\0')
		return false;
	for (const char *p = a; *p != '\0'; p++)
		if (*p == ' ' || *p == '<' || *p == '>')
			return false;
	return true;
}

static void probe(const char *address)
{
	struct route route;

	hash_put(vf.inflight, address, "");
	cache_write(address, false, ST_TEMP, NULL);
	resolver_route(vf.resolver, address, &route);
	switch (route.kind) {
	case TR_SMTP:
		log_info("verify: to=<%s>: probe via %s", address, route.key);
		dlv_probe(pool_get(&route), vf.sender, address, on_probe,
			  xstrdup(address));
		return;
	case TR_ERROR:
		result(address, ST_BAD, route.nexthop, "none");
		return;
	case TR_RETRY:
		result(address, ST_TEMP, route.nexthop, "none");
		return;
	case TR_LMTP:
	case TR_DISCARD:
		result(address, ST_OK,
		       route.kind == TR_LMTP ? "delivered locally"
					     : "discarded",
		       "none");
		return;
	}
}

bool verify_control(const char *request, qmgr_control_fn *done, void *ctx)
{
	const char *address;

	if (strncmp(request, "verify ", 7) != 0)
		return false;
	address = request + 7;
	if (!valid_address(address)) {
		struct answer *a = xcalloc(1, sizeof(*a));
		a->done = done;
		a->ctx = ctx;
		a->failed = true;
		error_set(&a->err, ERR_PERM, "usage: verify ADDRESS");
		ev_defer(vf.ev, answer_cb, a);
		return true;
	}
	if (!vf.ready || vf.stopping) {
		answer_later(done, ctx, true,
			     vf.stopping ? "mail system shutting down"
					 : "address verification unavailable");
		return true;
	}
	if (!hash_contains(vf.inflight, address))
		probe(address);
	answer_later(done, ctx, false, "pending");
	return true;
}
