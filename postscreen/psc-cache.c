/*
 * psc-cache.c - the postscreen cache in SQL (schema 008,
 * postscreen_cache): one row per client address with the expiry of each
 * test's pass.  In SQL rather than a local file (Postfix's btree) so that
 * every MX node on one database shares it: a client that passed the deep
 * tests on mx1 is not made to pass them again on mx2.  Lookups and
 * updates run in the worker pool; a database failure is logged and the
 * client is simply tested again (never refused for it).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "ev/worker.h"

#include "postscreen.h"

struct psc_cache {
	struct db *db;
	struct worker_pool *pool;
	int64_t retention, cleanup_interval;
	pthread_mutex_t lock;
	int64_t next_cleanup; /* under lock */
};

struct job {
	struct psc_cache *c;
	char addr[64];
	int64_t until[PSC_T_COUNT];
	int ret;
	psc_cache_fn *cb;
	void *ctx;
};

struct psc_cache *psc_cache_new(struct db *db, struct worker_pool *pool,
				int64_t retention, int64_t cleanup_interval)
{
	struct psc_cache *c = xcalloc(1, sizeof(*c));

	c->db = db;
	c->pool = pool;
	c->retention = retention;
	c->cleanup_interval = cleanup_interval;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void psc_cache_free(struct psc_cache **cp)
{
	if (*cp == NULL)
		return;
	pthread_mutex_destroy(&(*cp)->lock);
	free(*cp);
	*cp = NULL;
}

static void lookup_work(void *ctx)
{
	struct job *j = ctx;
	const char *params[] = {j->addr};
	struct db_result *res = NULL;
	struct error err;

	j->ret = db_query(j->c->db,
			  "SELECT pregreet_until, dnsbl_until, pipelining_until,"
			  " non_smtp_until, bare_newline_until"
			  " FROM postscreen_cache WHERE client_addr = ?",
			  params, 1, &res, &err);
	if (j->ret < 0) {
		log_warn("postscreen cache: lookup [%s]: %s (testing it)",
			 j->addr, err.msg);
		return;
	}
	j->ret = db_result_rows(res) > 0;
	for (size_t i = 0; j->ret == 1 && i < PSC_T_COUNT; i++) {
		long long v = 0;
		const char *text = db_result_value(res, 0, i);
		if (text != NULL && str_to_i64(text, &v))
			j->until[i] = v;
	}
	db_result_free(&res);
}

static void lookup_done(void *ctx)
{
	struct job *j = ctx;

	j->cb(j->ctx, j->ret, j->until);
	free(j);
}

void psc_cache_lookup(struct psc_cache *c, const char *addr, psc_cache_fn *cb,
		      void *ctx)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->c = c;
	str_copy(j->addr, addr, sizeof(j->addr));
	j->cb = cb;
	j->ctx = ctx;
	worker_submit(c->pool, lookup_work, lookup_done, j);
}

static void cleanup(struct psc_cache *c, int64_t now)
{
	char cut[32];
	const char *params[] = {cut};
	struct error err;
	bool run = false;

	if (c->cleanup_interval <= 0)
		return;
	pthread_mutex_lock(&c->lock);
	if (now >= c->next_cleanup) {
		c->next_cleanup = now + c->cleanup_interval;
		run = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (!run)
		return;
	snprintf(cut, sizeof(cut), "%" PRId64, now - c->retention);
	long long n = db_exec(c->db,
			      "DELETE FROM postscreen_cache WHERE expires < ?",
			      params, 1, &err);
	if (n < 0)
		log_warn("postscreen cache: cleanup: %s", err.msg);
	else if (n > 0)
		log_info("postscreen cache: %lld expired entries deleted", n);
}

static void update_work(void *ctx)
{
	struct job *j = ctx;
	char v[PSC_T_COUNT + 1][32];
	const char *params[PSC_T_COUNT + 2];
	int64_t expires = 0;
	struct error err;
	long long n;

	for (size_t i = 0; i < PSC_T_COUNT; i++) {
		snprintf(v[i], sizeof(v[i]), "%" PRId64, j->until[i]);
		if (j->until[i] > expires)
			expires = j->until[i];
	}
	snprintf(v[PSC_T_COUNT], sizeof(v[0]), "%" PRId64, expires);
	for (size_t i = 0; i <= PSC_T_COUNT; i++)
		params[i] = v[i];
	params[PSC_T_COUNT + 1] = j->addr;
	/* UPDATE first, INSERT if there was no row; a parallel INSERT of
	 * the same client (DB_DUPLICATE) is retried as an UPDATE. */
	for (int attempt = 0; attempt < 2; attempt++) {
		n = db_exec(j->c->db,
			    "UPDATE postscreen_cache SET pregreet_until = ?,"
			    " dnsbl_until = ?, pipelining_until = ?,"
			    " non_smtp_until = ?, bare_newline_until = ?,"
			    " expires = ? WHERE client_addr = ?",
			    params, PSC_T_COUNT + 2, &err);
		if (n != 0)
			break;
		const char *ins[PSC_T_COUNT + 2];
		ins[0] = j->addr;
		for (size_t i = 0; i <= PSC_T_COUNT; i++)
			ins[i + 1] = v[i];
		n = db_exec(j->c->db,
			    "INSERT INTO postscreen_cache (client_addr,"
			    " pregreet_until, dnsbl_until, pipelining_until,"
			    " non_smtp_until, bare_newline_until, expires)"
			    " VALUES (?, ?, ?, ?, ?, ?, ?)",
			    ins, PSC_T_COUNT + 2, &err);
		if (n != DB_DUPLICATE)
			break;
	}
	if (n < 0)
		log_warn("postscreen cache: update [%s]: %s", j->addr, err.msg);
	cleanup(j->c, (int64_t)time(NULL));
}

static void update_done(void *ctx)
{
	free(ctx);
}

void psc_cache_update(struct psc_cache *c, const char *addr,
		      const int64_t *until)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->c = c;
	str_copy(j->addr, addr, sizeof(j->addr));
	memcpy(j->until, until, sizeof(j->until));
	worker_submit(c->pool, update_work, update_done, j);
}
