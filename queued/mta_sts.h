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

/* Why a domain with a valid _mta-sts TXT record has no policy (TLSRPT,
 * RFC 8460 4.3.2.2); a cached policy kept after a failed refresh is no
 * failure (RFC 8461 10). */
enum mta_sts_failure {
	MTA_STS_FAIL_NONE = 0,
	MTA_STS_FAIL_FETCH,   /* no address, unreachable, non-2xx, redirect */
	MTA_STS_FAIL_INVALID, /* fetched, but not a valid policy */
	MTA_STS_FAIL_WEBPKI,  /* the HTTPS certificate did not verify */
};

/* The RFC 8460 result type of a failure ("sts-policy-fetch-error", ...);
 * NULL for MTA_STS_FAIL_NONE. */
const char *mta_sts_failure_name(enum mta_sts_failure f);

/* What applies to a domain: found false means no policy (mode none). */
struct mta_sts_answer {
	bool found;
	enum mta_sts_mode mode;
	const char *mx; /* patterns, space-separated; borrowed for the call */
	const char *id;
	unsigned long max_age; /* seconds (TLSRPT's policy-string) */
	/* found false: why, when a TXT record said there is a policy. */
	enum mta_sts_failure failure;
	/* MTA_STS_FAIL_INVALID: the text served (at most 4 KiB), for
	 * TLSRPT's policy-string; "" otherwise.  Borrowed for the call. */
	const char *served;
};

typedef void mta_sts_fn(const struct mta_sts_answer *answer, void *ctx);

/* Start a lookup; cb runs once on the loop thread, never inside the
 * call.  The handle is valid until cb runs or mta_sts_cancel(). */
struct mta_sts_req *mta_sts_lookup(struct ev *ev, const char *domain,
				   mta_sts_fn *cb, void *ctx);
/* cb will not be called; *req becomes NULL. */
void mta_sts_cancel(struct mta_sts_req **req);

#endif
