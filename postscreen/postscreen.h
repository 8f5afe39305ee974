/*
 * postscreen.h - postern-postscreen's private header (this folder only).
 *
 * postern-postscreen is Postfix's postscreen(8): it owns the public SMTP
 * port, screens each new client in one event loop (many clients per
 * process), and hands a client that passes to postern-smtpd over
 * $postscreen_pass_socket with SCM_RIGHTS (lib/server/server_pass.h);
 * smtpd then greets it.  Files:
 *   main.c          the skeleton hooks, settings
 *   psc-dnsbl.c     postscreen_dnsbl_sites syntax and score (psc-dnsbl.h)
 *   psc-session.c   one client: access list, cache, pregreet, DNSBL, the
 *                   deep protocol tests (psc-smtp.c), pass or reject
 *   psc-smtp.c      the dummy SMTP engine of the tests after the greeting
 *                   (with STARTTLS, on a lib/tls io once it is used)
 *   psc-cache.c     the postscreen_cache table (schema 008) in the pool
 * Everything runs on the loop thread but the cache's SQL (worker pool).
 */
#ifndef POSTERN_POSTSCREEN_H
#define POSTERN_POSTSCREEN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/list.h"
#include "server/server.h"

#include "psc-dnsbl.h"

struct db;
struct dns_resolver;
struct map;
struct worker_pool;

enum psc_action { PSC_IGNORE, PSC_ENFORCE, PSC_DROP };

/* postscreen_tls_security_level. */
enum psc_tls { PSC_TLS_NONE, PSC_TLS_MAY, PSC_TLS_ENCRYPT };

/* The tests, as cache columns and bits. */
enum psc_test {
	PSC_T_PREGREET,
	PSC_T_DNSBL,
	PSC_T_PIPELINING,
	PSC_T_NONSMTP,
	PSC_T_BARENL,
	PSC_T_COUNT,
};

struct psc_settings {
	unsigned refs;
	char *banner;
	int64_t greet_wait_ms;
	enum psc_action greet_action, dnsbl_action, blacklist_action;
	enum psc_action pipelining_action, nonsmtp_action, barenl_action;
	int64_t ttl[PSC_T_COUNT]; /* seconds; dnsbl: max */
	int64_t dnsbl_min_ttl;
	struct psc_dnsbl *dnsbl;
	long long dnsbl_threshold, allowlist_threshold;
	bool pipelining, nonsmtp, barenl;
	char **forbidden; /* NULL-terminated, upper-case */
	char *pass_socket;
	char *hostname;
	int64_t command_time_limit_ms;
	long long command_count_limit;
	enum psc_tls tls_level;
};

struct postscreen {
	struct server *srv;
	struct ev *ev;
	struct psc_settings *set;
	struct dns_resolver *dns;
	struct map *mynetworks;
	struct map **access; /* NULL-terminated; NULL entry for mynetworks */
	bool access_mynetworks;
	size_t naccess;
	struct psc_cache *cache; /* NULL: no cache */
	struct worker_pool *workers;
	struct list_node session_list;
	bool stopping;
};

/* psc-session.c */
void psc_session_start(struct postscreen *ps, const struct server_conn *conn);
void psc_sessions_stop(struct postscreen *ps);

/* main.c */
const char *psc_action_name(enum psc_action a);
struct psc_settings *psc_settings_ref(struct psc_settings *s);
void psc_settings_unref(struct psc_settings **s);

/* psc-cache.c: per client, the expiry (Unix seconds) of each test's
 * pass; 0: never passed.  Lookups and updates run in the pool. */
struct psc_cache;
typedef void psc_cache_fn(void *ctx, int ret, const int64_t *until);
struct psc_cache *psc_cache_new(struct db *db, struct worker_pool *pool,
				int64_t retention, int64_t cleanup_interval);
void psc_cache_free(struct psc_cache **c);
/* cb(ctx, 1 found/0 none/-1 failed, until[PSC_T_COUNT]) on the loop. */
void psc_cache_lookup(struct psc_cache *c, const char *addr, psc_cache_fn *cb,
		      void *ctx);
/* Store until[] for addr (fire and forget; failures are logged). */
void psc_cache_update(struct psc_cache *c, const char *addr,
		      const int64_t *until);

#endif
