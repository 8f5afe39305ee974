/*
 * tlsrpt.c - TLS Reporting counters of the SMTP client (tlsrpt.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "ev/ev.h"
#include "ev/worker.h"

#include "tlsrpt.h"

/* One counter row (schema/ * /011_tlsrpt.sql, 012_tlsrpt_helo.sql). */
struct entry {
	char day[11];
	char *policy_type, *policy_domain, *policy_string, *mx_host;
	char *result, *sending_ip, *receiving_ip;
	char *receiving_helo; /* not in the key: the last one seen */
	long long sessions;
};

/* A batch written by the worker thread. */
struct flush_job {
	struct db *db;
	struct hash *entries; /* key -> struct entry * */
	size_t written, failed;
};

static struct {
	bool enabled, skip_reused;
	bool stopping; /* no timer any more: tlsrpt_fini() writes the rest */
	struct ev *ev;
	struct db *db; /* NULL: nothing is written (logged) */
	struct worker_pool *workers;
	struct hash *entries; /* counted since the last flush */
	int64_t interval_ms;
	struct flush_job *job; /* the flush job running, or NULL */
} rpt;

static void entry_free(void *p)
{
	struct entry *e = p;

	free(e->policy_type);
	free(e->policy_domain);
	free(e->policy_string);
	free(e->mx_host);
	free(e->result);
	free(e->sending_ip);
	free(e->receiving_ip);
	free(e->receiving_helo);
	free(e);
}

bool tlsrpt_enabled(void)
{
	return rpt.enabled && rpt.db != NULL;
}

bool tlsrpt_skip_reused(void)
{
	return rpt.skip_reused;
}

void tlsrpt_configure(struct ev *ev, const struct conf *conf)
{
	struct error err;

	rpt.ev = ev;
	rpt.enabled = conf_bool(conf, "smtp_tlsrpt_enable");
	rpt.skip_reused = conf_bool(conf, "smtp_tlsrpt_skip_reused_handshakes");
	rpt.interval_ms = conf_time(conf, "smtp_tlsrpt_flush_interval") * 1000;
	if (rpt.interval_ms <= 0)
		rpt.interval_ms = 1000;
	if (!rpt.enabled || rpt.db != NULL)
		return; /* a database once opened stays (jobs may use it) */
	rpt.db = db_open(conf, &err);
	if (rpt.db == NULL) {
		log_error("TLSRPT: no database (%s): sessions are not "
			  "counted",
			  err.msg);
		return;
	}
	rpt.workers = worker_pool_new(ev, 1);
	rpt.entries = hash_new(HASH_DEFAULT, entry_free);
}

/* Add one row's count: UPDATE, else INSERT; a concurrent INSERT by
 * another node (DB_DUPLICATE) makes the UPDATE right. */
static int write_entry(struct db *db, const struct entry *e, struct error *err)
{
	char n[32], now[32];
	long long r;

	snprintf(n, sizeof(n), "%lld", e->sessions);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	const char *up[] = {
	    n,	       e->policy_string, e->receiving_helo, now,
	    e->day,    e->policy_domain, e->policy_type,    e->mx_host,
	    e->result, e->sending_ip,	 e->receiving_ip};
	const char *ins[] = {e->day,
			     e->policy_domain,
			     e->policy_type,
			     e->mx_host,
			     e->result,
			     e->sending_ip,
			     e->receiving_ip,
			     e->policy_string,
			     n,
			     now,
			     e->receiving_helo};
	static const char update_sql[] =
	    "UPDATE tlsrpt_counters SET sessions = sessions + ?, "
	    "policy_string = ?, receiving_mx_helo = COALESCE(NULLIF(?, "
	    "''), receiving_mx_helo), updated_at = ? "
	    "WHERE day = ? AND "
	    "policy_domain = ? AND policy_type = ? AND mx_host = ? AND "
	    "result = ? AND sending_ip = ? AND receiving_ip = ?";

	for (int attempt = 0; attempt < 2; attempt++) {
		r = db_exec(db, update_sql, up, 11, err);
		if (r < 0)
			return -1;
		if (r > 0)
			return 0;
		r = db_exec(db,
			    "INSERT INTO tlsrpt_counters (day, policy_domain, "
			    "policy_type, mx_host, result, sending_ip, "
			    "receiving_ip, policy_string, sessions, "
			    "updated_at, receiving_mx_helo) VALUES (?, ?, ?, "
			    "?, ?, ?, ?, ?, ?, ?, ?)",
			    ins, 11, err);
		if (r != DB_DUPLICATE)
			return r < 0 ? -1 : 0;
	}
	return error_set(err, ERR_TEMP, "row kept changing");
}

static void flush_work(void *ctx)
{
	struct flush_job *j = ctx;
	struct hash_iter it = {0};
	const char *key;
	void *v;
	struct error err;

	while (hash_next(j->entries, &it, &key, &v)) {
		const struct entry *e = v;

		if (write_entry(j->db, e, &err) < 0) {
			/* Never retried: the counters are statistics, and a
			 * dead database must not grow our memory. */
			log_warn("TLSRPT: cannot record %lld %s session(s) "
				 "for %s (%s): %s",
				 e->sessions, e->policy_type, e->policy_domain,
				 e->result[0] ? e->result : "success", err.msg);
			j->failed++;
		} else {
			j->written++;
		}
	}
}

static void on_flush_timer(struct ev *ev, void *ctx);

static void flush_done(void *ctx)
{
	struct flush_job *j = ctx;

	log_debug(LOG_TRACE_SQL,
		  "TLSRPT: %zu counter(s) written, %zu "
		  "failed",
		  j->written, j->failed);
	hash_free(&j->entries);
	free(j);
	rpt.job = NULL;
	if (!rpt.stopping && rpt.entries != NULL &&
	    hash_count(rpt.entries) > 0 &&
	    !ev_timer_pending(rpt.ev, on_flush_timer, NULL))
		ev_timer_add(rpt.ev, rpt.interval_ms, on_flush_timer, NULL);
}

static void on_flush_timer(struct ev *ev, void *ctx)
{
	struct flush_job *j;

	(void)ctx;
	if (hash_count(rpt.entries) == 0)
		return;
	if (rpt.job != NULL) {
		/* One writer at a time: the rows stay ordered and a slow
		 * database sees one batch, not a pile of them. */
		ev_timer_add(ev, rpt.interval_ms, on_flush_timer, NULL);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->db = rpt.db;
	j->entries = rpt.entries;
	rpt.entries = hash_new(HASH_DEFAULT, entry_free);
	rpt.job = j;
	worker_submit(rpt.workers, flush_work, flush_done, j);
}

static char *dup0(const char *s)
{
	return xstrdup(s != NULL ? s : "");
}

void tlsrpt_note(const struct tlsrpt_session *s)
{
	char day[11], *key;
	struct entry *e;
	time_t now = time(NULL);
	struct tm tm;

	if (!tlsrpt_enabled() || s->policy_domain == NULL ||
	    s->policy_domain[0] == '\0')
		return;
	gmtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	key = xasprintf("%s|%s|%s|%s|%s|%s|%s", day, s->policy_type,
			s->policy_domain, s->mx_host ? s->mx_host : "",
			s->result ? s->result : "",
			s->result && s->sending_ip ? s->sending_ip : "",
			s->result && s->receiving_ip ? s->receiving_ip : "");
	e = hash_get(rpt.entries, key);
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		str_copy(e->day, day, sizeof(e->day));
		e->policy_type = dup0(s->policy_type);
		e->policy_domain = dup0(s->policy_domain);
		str_lower(e->policy_domain);
		e->mx_host = dup0(s->mx_host);
		str_lower(e->mx_host);
		e->result = dup0(s->result);
		e->sending_ip = dup0(s->result ? s->sending_ip : "");
		e->receiving_ip = dup0(s->result ? s->receiving_ip : "");
		e->policy_string = dup0(s->policy_string);
		e->receiving_helo = dup0(s->result ? s->receiving_helo : "");
		hash_put(rpt.entries, key, e);
	} else if (s->policy_string != NULL &&
		   strcmp(e->policy_string, s->policy_string) != 0) {
		free(e->policy_string);
		e->policy_string = xstrdup(s->policy_string);
	}
	free(key);
	if (s->result != NULL && s->receiving_helo != NULL &&
	    s->receiving_helo[0] != '\0' &&
	    strcmp(e->receiving_helo, s->receiving_helo) != 0) {
		free(e->receiving_helo);
		e->receiving_helo = xstrdup(s->receiving_helo);
	}
	e->sessions++;
	if (!rpt.stopping && !ev_timer_pending(rpt.ev, on_flush_timer, NULL))
		ev_timer_add(rpt.ev, rpt.interval_ms, on_flush_timer, NULL);
}

void tlsrpt_stop(void)
{
	/* A pending timer would hold the loop up to an interval after
	 * SIGTERM: write now; what comes later is written by tlsrpt_fini. */
	rpt.stopping = true;
	if (rpt.ev == NULL || !ev_timer_del(rpt.ev, on_flush_timer, NULL))
		return;
	if (rpt.job == NULL)
		on_flush_timer(rpt.ev, NULL);
}

void tlsrpt_fini(void)
{
	/* Waits for a running flush; its done() does not run. */
	worker_pool_free(&rpt.workers);
	if (rpt.job != NULL) {
		hash_free(&rpt.job->entries);
		free(rpt.job);
	}
	if (rpt.ev != NULL)
		ev_timer_del(rpt.ev, on_flush_timer, NULL);
	if (rpt.entries != NULL && rpt.db != NULL &&
	    hash_count(rpt.entries) > 0) {
		struct flush_job j = {.db = rpt.db, .entries = rpt.entries};

		flush_work(&j);
	}
	hash_free(&rpt.entries);
	db_close(&rpt.db);
	memset(&rpt, 0, sizeof(rpt));
}
