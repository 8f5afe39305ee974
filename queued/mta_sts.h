/*
 * mta_sts - the SMTP client's MTA-STS policies (RFC 8461): discovery,
 * HTTPS fetch, the SQL cache shared by every node (mta_sts_policies,
 * migration 007), and the RFC's fallbacks.
 *
 * mta_sts_lookup(domain) answers on the loop thread with the policy that
 * applies now.  The work runs on a worker thread (lib/ev/worker.h),
 * because every step blocks: the cache row (lib/db is synchronous), the
 * TXT and mta-sts.DOMAIN address lookups (dns_lookup_sync on our own
 * libunbound context, the same dns_* settings as the loop's), and the
 * fetch (libcurl easy, bounded by $smtp_mta_sts_timeout).  One job per
 * lookup keeps the order of those steps in straight-line code; the loop
 * never waits.
 *
 * Policy choice (RFC 8461 3.3, 5.1, 10): a cached unexpired policy whose
 * id equals the TXT record's is used as it is; a new id or an expired
 * policy is fetched again and stored; a failed TXT lookup, no record, or
 * a failed fetch keeps a cached unexpired policy, else there is none.  A
 * dead database only costs the cache: the policy is fetched (logged).
 *
 * Threading: everything here on the loop thread.  Errors are logged, not
 * returned: MTA-STS never stops mail that it cannot decide about.
 */
#ifndef POSTERN_QUEUED_MTA_STS_H
#define POSTERN_QUEUED_MTA_STS_H

#include <stdbool.h>

#include "smtp/mta_sts.h"

struct ev;
struct conf;
struct mta_sts_req;

/* Read smtp_mta_sts*, the CA settings, the database and DNS settings;
 * start and on reload.  Lookups in flight keep the old settings. */
void mta_sts_configure(const struct conf *conf);
/* Wait for running jobs, free everything (exit). */
void mta_sts_fini(void);
/* $smtp_mta_sts */
bool mta_sts_enabled(void);

/* What applies to a domain: found false means no policy (mode none). */
struct mta_sts_answer {
	bool found;
	enum mta_sts_mode mode;
	const char *mx; /* patterns, space-separated; borrowed for the call */
	const char *id;
	unsigned long max_age; /* seconds (TLSRPT's policy-string) */
};

typedef void mta_sts_fn(const struct mta_sts_answer *answer, void *ctx);

/* Start a lookup; cb runs once on the loop thread, never inside the
 * call.  The handle is valid until cb runs or mta_sts_cancel(). */
struct mta_sts_req *mta_sts_lookup(struct ev *ev, const char *domain,
				   mta_sts_fn *cb, void *ctx);
/* cb will not be called; *req becomes NULL. */
void mta_sts_cancel(struct mta_sts_req **req);

#endif
