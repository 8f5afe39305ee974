/*
 * mta_sts - MTA-STS (RFC 8461) texts: the "_mta-sts" TXT record, the
 * policy file served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt,
 * and MX host matching against a policy's "mx" patterns.
 *
 * Pure functions (no I/O, no allocation kept by the caller except the
 * policy's patterns string); safe from any thread.  The fetching,
 * caching and applying live in postern-queued (queued/mta_sts.c,
 * docs/outbound.md).
 *
 * Errors: -1 with err ERR_PERM and a one-line reason for text that is not
 * a valid record or policy (RFC 8461 5: such a policy is no policy).
 */
#ifndef POSTERN_SMTP_MTA_STS_H
#define POSTERN_SMTP_MTA_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* RFC 8461 3.2: max_age is at most 31557600 seconds (about a year). */
#define MTA_STS_MAX_AGE_CAP 31557600u
/* The largest policy file we read (RFC 8461 3.3 suggests a limit). */
#define MTA_STS_POLICY_MAX (64 * 1024)
/* At most this many mx patterns are kept (more: ERR_PERM). */
#define MTA_STS_MAX_MX 64
/* The TXT record's id: 1 to 32 letters or digits (RFC 8461 3.1). */
#define MTA_STS_ID_MAX 32

enum mta_sts_mode {
	MTA_STS_NONE,
	MTA_STS_TESTING,
	MTA_STS_ENFORCE,
};

struct mta_sts_policy {
	enum mta_sts_mode mode;
	uint32_t max_age; /* seconds, capped at MTA_STS_MAX_AGE_CAP */
	size_t nmx;
	/* The mx patterns, lower-case, separated by one space ("mx1.example
	 * *.example.net"); owned, free with mta_sts_policy_clear().  ""
	 * (never NULL after a successful parse) when there is none. */
	char *mx;
};

/*
 * Parse a policy file (RFC 8461 3.2): key: value lines ended by CRLF or
 * LF (the last may lack one).  version must be STSv1; mode enforce,
 * testing or none; max_age 1 to 10 digits (capped); mx lines may repeat
 * and are domain names, optionally starting with "*." (one label).
 * Unknown keys are ignored; a repeated version, mode or max_age keeps the
 * first.  version, mode and max_age are required, and at least one mx
 * unless mode is none.  out is cleared first; on error it holds nothing
 * to free.
 */
int mta_sts_policy_parse(const char *text, size_t len,
			 struct mta_sts_policy *out, struct error *err);
void mta_sts_policy_clear(struct mta_sts_policy *p);

/*
 * Parse one TXT record's text (RFC 8461 3.1): "v=STSv1; id=ID[; ...]".
 * 1 when it is an STS record (id copied to id_r, which holds
 * MTA_STS_ID_MAX + 1 bytes); 0 when it does not start with "v=STSv1"
 * (another record at the name: ignore it); -1 ERR_PERM when it does but
 * is malformed (no or bad id).
 */
int mta_sts_txt_parse(const char *text, size_t len, char *id_r,
		      struct error *err);

/*
 * Does host (an MX name; case and a final dot ignored) match pattern
 * ("mx.example.net", or "*.example.net" for exactly one more label)?
 */
bool mta_sts_mx_match(const char *pattern, const char *host);
/* Does host match one of the policy's patterns (the space-separated
 * form of struct mta_sts_policy's mx)? */
bool mta_sts_mx_allowed(const char *patterns, const char *host);

const char *mta_sts_mode_name(enum mta_sts_mode mode);
/* "enforce" -> MTA_STS_ENFORCE (case-insensitive); -1 if unknown. */
int mta_sts_mode_parse(const char *word, enum mta_sts_mode *mode_r);

#endif
