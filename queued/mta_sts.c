/*
 * mta_sts.c - MTA-STS policy discovery, fetch and cache (mta_sts.h).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "dns/dns.h"
#include "ev/worker.h"

#include "mta_sts.h"

/* The settings jobs run with; a reload makes a new one, and the old one
 * goes when its last job is done. */
struct sts_env {
	unsigned refs; /* loop thread only */
	bool enabled;
	long timeout_ms;
	char *cafile, *capath;
	struct db *db;		  /* NULL: no cache (logged) */
	struct dns_resolver *dns; /* sync-only context; NULL: no lookups */
};

struct mta_sts_req {
	struct sts_env *env;
	char domain[256];
	mta_sts_fn *cb; /* NULL: cancelled */
	void *ctx;
	/* The answer, filled by the work function. */
	bool found;
	struct mta_sts_policy policy;
	char id[MTA_STS_ID_MAX + 1];
	enum mta_sts_failure failure; /* found false: why (TLSRPT) */
	char *served;		      /* MTA_STS_FAIL_INVALID: the text */
};

/* Served text kept for TLSRPT's policy-string of an invalid policy. */
#define SERVED_MAX 4096

static struct {
	struct sts_env *env;
	struct worker_pool *workers;
	struct ev *ev;
	bool curl_ready;
} sts;

static void env_unref(struct sts_env **envp)
{
	struct sts_env *e = *envp;

	*envp = NULL;
	if (e == NULL || --e->refs > 0)
		return;
	db_close(&e->db);
	dns_resolver_free(&e->dns);
	free(e->cafile);
	free(e->capath);
	free(e);
}

void mta_sts_configure(const struct conf *conf)
{
	struct sts_env *e = xcalloc(1, sizeof(*e));
	struct error err;

	if (!sts.curl_ready) {
		/* Not thread-safe: once, on the loop thread, before any job. */
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			log_error("MTA-STS: libcurl failed to start");
		else
			sts.curl_ready = true;
	}
	e->refs = 1;
	e->enabled = conf_bool(conf, "smtp_mta_sts") && sts.curl_ready;
	e->timeout_ms = (long)conf_time(conf, "smtp_mta_sts_timeout") * 1000;
	if (e->timeout_ms <= 0)
		e->timeout_ms = 10000;
	e->cafile = xstrdup(conf_str(conf, "smtp_tls_CAfile"));
	e->capath = xstrdup(conf_str(conf, "smtp_tls_CApath"));
	if (e->enabled) {
		e->dns = dns_resolver_new(NULL, conf, &err);
		if (e->dns == NULL)
			log_error("MTA-STS: no resolver (%s): policies are not "
				  "looked up",
				  err.msg);
		e->db = db_open(conf, &err);
		if (e->db == NULL)
			log_error("MTA-STS: policy cache unavailable (%s): "
				  "policies are fetched every time",
				  err.msg);
	}
	env_unref(&sts.env);
	sts.env = e;
}

void mta_sts_fini(void)
{
	/* Joins the threads; their done() callbacks do not run, so the
	 * requests in flight are leaked at exit, which is harmless. */
	worker_pool_free(&sts.workers);
	env_unref(&sts.env);
	if (sts.curl_ready)
		curl_global_cleanup();
	memset(&sts, 0, sizeof(sts));
}

bool mta_sts_enabled(void)
{
	return sts.env != NULL && sts.env->enabled && sts.env->dns != NULL;
}

/* ---- The SQL cache (schema/ * /007_mta_sts.sql). */

struct cached {
	bool have;
	char id[MTA_STS_ID_MAX + 1];
	struct mta_sts_policy policy;
	int64_t expires; /* wall seconds */
};

/* 1 row read, 0 none, -1 the database failed (logged). */
static int cache_get(struct sts_env *e, const char *domain, struct cached *c)
{
	static const char sql[] =
	    "SELECT policy_id, mode, mx, max_age, fetched_at FROM "
	    "mta_sts_policies WHERE domain = ?";
	const char *params[] = {domain};
	struct db_result *res = NULL;
	struct error err;
	long long max_age = 0, fetched = 0;
	const char *v;

	memset(c, 0, sizeof(*c));
	if (e->db == NULL)
		return -1;
	if (db_query(e->db, sql, params, 1, &res, &err) < 0) {
		log_warn("MTA-STS: policy cache lookup for %s failed: %s; "
			 "fetching instead",
			 domain, err.msg);
		return -1;
	}
	if (db_result_rows(res) == 0) {
		db_result_free(&res);
		return 0;
	}
	str_copy(c->id, db_result_value(res, 0, 0), sizeof(c->id));
	if (mta_sts_mode_parse(db_result_value(res, 0, 1), &c->policy.mode) < 0)
		c->policy.mode = MTA_STS_NONE;
	v = db_result_value(res, 0, 2);
	c->policy.mx = xstrdup(v != NULL ? v : "");
	for (const char *p = c->policy.mx; *p != '\0'; p++)
		if (p == c->policy.mx || p[-1] == ' ')
			c->policy.nmx++;
	v = db_result_value(res, 0, 3);
	if (v != NULL)
		str_to_i64(v, &max_age);
	v = db_result_value(res, 0, 4);
	if (v != NULL)
		str_to_i64(v, &fetched);
	c->policy.max_age = (uint32_t)max_age;
	c->expires = fetched + max_age;
	c->have = true;
	db_result_free(&res);
	return 1;
}

static void cache_put(struct sts_env *e, const char *domain, const char *id,
		      const struct mta_sts_policy *p, int64_t now)
{
	char age[24], at[24];
	const char *del[] = {domain};
	const char *ins[] = {domain, id,  mta_sts_mode_name(p->mode),
			     p->mx,  age, at};
	struct db_txn *txn;
	struct error err;

	if (e->db == NULL)
		return;
	snprintf(age, sizeof(age), "%" PRIu32, p->max_age);
	snprintf(at, sizeof(at), "%" PRId64, now);
	/* Delete and insert: one form of upsert for all three drivers. */
	txn = db_begin(e->db, &err);
	if (txn == NULL ||
	    db_txn_exec(txn, "DELETE FROM mta_sts_policies WHERE domain = ?",
			del, 1, &err) < 0 ||
	    db_txn_exec(txn,
			"INSERT INTO mta_sts_policies (domain, policy_id, "
			"mode, mx, max_age, fetched_at) VALUES (?, ?, ?, ?, "
			"?, ?)",
			ins, 6, &err) < 0) {
		if (txn != NULL)
			db_rollback(&txn);
		log_warn("MTA-STS: cannot cache the policy of %s: %s", domain,
			 err.msg);
		return;
	}
	if (db_commit(&txn, &err) < 0)
		log_warn("MTA-STS: cannot cache the policy of %s: %s", domain,
			 err.msg);
}

/* ---- Discovery and fetch (worker thread). */

/* 1 with the id of the one STS record, 0 none (or not exactly one valid
 * one: RFC 8461 3.1), -1 the lookup failed. */
static int txt_id(struct sts_env *e, const char *domain, char *id_r)
{
	char qname[300];
	struct dns_result *res = NULL;
	struct error err;
	int r, n = 0;

	snprintf(qname, sizeof(qname), "_mta-sts.%s", domain);
	r = dns_lookup_sync(e->dns, qname, DNS_T_TXT, 0, &res, &err);
	if (r < 0) {
		log_info("MTA-STS: TXT lookup for %s failed: %s", qname,
			 err.msg);
		dns_result_free(&res);
		return -1;
	}
	for (size_t i = 0; r == 1 && i < res->count; i++) {
		const struct dns_rr *rr = &res->rrs[i];
		char id[MTA_STS_ID_MAX + 1];
		int k;

		if (rr->type != DNS_T_TXT)
			continue;
		k = mta_sts_txt_parse(rr->txt.data, rr->txt.len, id, &err);
		if (k < 0) {
			log_info("MTA-STS: %s: %s", qname, err.msg);
			n = 2; /* an invalid STS record: no valid policy */
		} else if (k == 1 && n++ == 0) {
			str_copy(id_r, id, MTA_STS_ID_MAX + 1);
		}
	}
	dns_result_free(&res);
	if (n > 1)
		log_info("MTA-STS: %s: not exactly one valid STS record",
			 qname);
	return n == 1 ? 1 : 0;
}

/* The policy host's address for CURLOPT_RESOLVE ("[v6]" bracketed), so
 * the fetch goes where our resolver says, never the system's. */
static bool policy_host_addr(struct sts_env *e, const char *host, char *out,
			     size_t size)
{
	static const uint16_t types[] = {DNS_T_A, DNS_T_AAAA};

	for (size_t t = 0; t < 2; t++) {
		struct dns_result *res = NULL;
		struct error err;
		int r = dns_lookup_sync(e->dns, host, types[t], 0, &res, &err);

		for (size_t i = 0; r == 1 && i < res->count; i++)
			if (res->rrs[i].type == types[t]) {
				snprintf(out, size,
					 types[t] == DNS_T_AAAA ? "[%s]" : "%s",
					 res->rrs[i].addr.text);
				dns_result_free(&res);
				return true;
			}
		if (r < 0)
			log_info("MTA-STS: address lookup for %s failed: %s",
				 host, err.msg);
		dns_result_free(&res);
	}
	return false;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;

	if (buf_len(b) + size * n > MTA_STS_POLICY_MAX)
		return 0; /* aborts the transfer (CURLE_WRITE_ERROR) */
	buf_append(b, data, size * n);
	return size * n;
}

/* Add $smtp_tls_CAfile/CApath to the system trust store curl loaded. */
static CURLcode on_ssl_ctx(CURL *curl, void *ssl_ctx, void *ctx)
{
	struct sts_env *e = ctx;
	X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);

	if (e->cafile[0] != '\0' && !X509_STORE_load_file(store, e->cafile))
		log_warn("MTA-STS: cannot load smtp_tls_CAfile %s", e->cafile);
	if (e->capath[0] != '\0' && !X509_STORE_load_path(store, e->capath))
		log_warn("MTA-STS: cannot load smtp_tls_CApath %s", e->capath);
	return CURLE_OK;
}

const char *mta_sts_failure_name(enum mta_sts_failure f)
{
	switch (f) {
	case MTA_STS_FAIL_FETCH:
		return "sts-policy-fetch-error";
	case MTA_STS_FAIL_INVALID:
		return "sts-policy-invalid";
	case MTA_STS_FAIL_WEBPKI:
		return "sts-webpki-invalid";
	case MTA_STS_FAIL_NONE:
		break;
	}
	return NULL;
}

/* A failed transfer: the certificate of the policy host (RFC 8460
 * sts-webpki-invalid), or anything else (sts-policy-fetch-error). */
static enum mta_sts_failure curl_failure(CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return MTA_STS_FAIL_WEBPKI;
	default:
		return MTA_STS_FAIL_FETCH;
	}
}

/* GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt: MTA_STS_FAIL_NONE
 * with the body, else why (logged). */
static enum mta_sts_failure fetch(struct sts_env *e, const char *domain,
				  struct buf *body)
{
	char host[300], url[400], addr[80], resolve[460];
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *rl = NULL;
	long status = 0;
	CURLcode rc;
	CURL *c;

	snprintf(host, sizeof(host), "mta-sts.%s", domain);
	if (!policy_host_addr(e, host, addr, sizeof(addr))) {
		log_info("MTA-STS: no address for %s", host);
		return MTA_STS_FAIL_FETCH;
	}
	snprintf(url, sizeof(url), "https://%s/.well-known/mta-sts.txt", host);
	snprintf(resolve, sizeof(resolve), "%s:443:%s", host, addr);
	c = curl_easy_init();
	if (c == NULL) {
		log_warn("MTA-STS: curl_easy_init failed");
		return MTA_STS_FAIL_FETCH;
	}
	rl = curl_slist_append(NULL, resolve);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, rl);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	/* RFC 8461 3.3: no redirects, no caching, and a size limit. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)MTA_STS_POLICY_MAX);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, e->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, e->timeout_ms);
	/* Threads: no SIGALRM-based timeouts. */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, e);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "postern-mta-sts");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(rl);
	if (rc != CURLE_OK) {
		log_info("MTA-STS: fetching %s (%s) failed: %s", url, addr,
			 errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
		return curl_failure(rc);
	}
	if (status < 200 || status > 299) {
		log_info("MTA-STS: fetching %s (%s): HTTP status %ld", url,
			 addr, status);
		return MTA_STS_FAIL_FETCH;
	}
	return MTA_STS_FAIL_NONE;
}

static void work(void *ctx)
{
	struct mta_sts_req *q = ctx;
	struct sts_env *e = q->env;
	int64_t now = (int64_t)time(NULL);
	struct cached c;
	char id[MTA_STS_ID_MAX + 1] = "";
	struct buf *body;
	struct error err;
	bool usable;
	int r;

	/* A pool made before a reload that turned MTA-STS off. */
	if (!e->enabled || e->dns == NULL)
		return;
	cache_get(e, q->domain, &c);
	usable = c.have && c.expires > now;
	r = txt_id(e, q->domain, id);
	if (r <= 0 || (usable && strcmp(id, c.id) == 0)) {
		/* RFC 8461 3.3 and 5.1: same id, or no answer, keep what is
		 * cached while it is fresh. */
		if (usable) {
			q->found = true;
			q->policy = c.policy;
			str_copy(q->id, c.id, sizeof(q->id));
			log_debug(LOG_TRACE_DNS,
				  "MTA-STS: cached policy of %s, id=%s",
				  q->domain, c.id);
			return;
		}
		mta_sts_policy_clear(&c.policy);
		return;
	}
	body = buf_new();
	q->failure = fetch(e, q->domain, body);
	if (q->failure == MTA_STS_FAIL_NONE &&
	    mta_sts_policy_parse(buf_data(body), buf_len(body), &q->policy,
				 &err) < 0) {
		log_info("MTA-STS: bad policy of %s: %s", q->domain, err.msg);
		q->failure = MTA_STS_FAIL_INVALID;
		q->served = xstrndup(buf_data(body), buf_len(body) < SERVED_MAX
							 ? buf_len(body)
							 : SERVED_MAX);
	}
	if (q->failure != MTA_STS_FAIL_NONE) {
		buf_free(&body);
		/* RFC 8461 10: a failed refresh keeps the cached policy. */
		if (usable) {
			log_info("MTA-STS: keeping the cached policy of %s "
				 "(id=%s)",
				 q->domain, c.id);
			q->found = true;
			q->policy = c.policy;
			str_copy(q->id, c.id, sizeof(q->id));
			q->failure = MTA_STS_FAIL_NONE;
		} else {
			mta_sts_policy_clear(&c.policy);
		}
		return;
	}
	buf_free(&body);
	mta_sts_policy_clear(&c.policy);
	q->found = true;
	str_copy(q->id, id, sizeof(q->id));
	log_info("MTA-STS: fetched policy of %s: id=%s mode=%s max_age=%" PRIu32
		 " mx=%s",
		 q->domain, id, mta_sts_mode_name(q->policy.mode),
		 q->policy.max_age, q->policy.mx);
	cache_put(e, q->domain, id, &q->policy, now);
}

static void done(void *ctx)
{
	struct mta_sts_req *q = ctx;
	struct mta_sts_answer a = {
	    .found = q->found,
	    .mode = q->found ? q->policy.mode : MTA_STS_NONE,
	    .mx = q->policy.mx != NULL ? q->policy.mx : "",
	    .id = q->id,
	    .max_age = q->found ? q->policy.max_age : 0,
	    .failure = q->found ? MTA_STS_FAIL_NONE : q->failure,
	    .served = q->served != NULL ? q->served : "",
	};

	if (q->cb != NULL)
		q->cb(&a, q->ctx);
	mta_sts_policy_clear(&q->policy);
	free(q->served);
	env_unref(&q->env);
	free(q);
}

struct mta_sts_req *mta_sts_lookup(struct ev *ev, const char *domain,
				   mta_sts_fn *cb, void *ctx)
{
	struct mta_sts_req *q = xcalloc(1, sizeof(*q));

	if (sts.workers == NULL) {
		/* Two threads: a slow policy server holds one domain, not
		 * all of them. */
		sts.workers = worker_pool_new(ev, 2);
		sts.ev = ev;
	}
	q->env = sts.env;
	q->env->refs++;
	str_copy(q->domain, domain, sizeof(q->domain));
	str_lower(q->domain);
	if (q->domain[0] != '\0' && q->domain[strlen(q->domain) - 1] == '.')
		q->domain[strlen(q->domain) - 1] = '\0';
	q->cb = cb;
	q->ctx = ctx;
	worker_submit(sts.workers, work, done, q);
	return q;
}

void mta_sts_cancel(struct mta_sts_req **req)
{
	if (*req != NULL)
		(*req)->cb = NULL; /* done() frees it */
	*req = NULL;
}
