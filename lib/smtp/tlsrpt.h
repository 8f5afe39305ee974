/*
 * tlsrpt - SMTP TLS Reporting (RFC 8460) texts: the "_smtp._tls" TXT
 * record of a policy domain and the JSON aggregate report.
 *
 * Pure functions, no I/O; safe from any thread.  Recording the sessions
 * lives in postern-queued (queued/tlsrpt.c), sending the reports in the
 * postern command (postern/cmd_tlsrpt.c); docs/tlsrpt.md.
 *
 * Errors: -1 with err ERR_PERM and a one-line reason for a TXT record
 * that is not a valid TLSRPT record (RFC 8460 3: such a record is none).
 */
#ifndef POSTERN_SMTP_TLSRPT_H
#define POSTERN_SMTP_TLSRPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/error.h"

/* At most this many rua URIs are kept (more are ignored). */
#define TLSRPT_RUA_MAX 8
#define TLSRPT_URI_MAX 512

struct tlsrpt_record {
	size_t nrua;
	char rua[TLSRPT_RUA_MAX][TLSRPT_URI_MAX];
};

/*
 * Parse one TXT record's text (the strings concatenated, len bytes, may
 * hold NULs which make it invalid): "v=TLSRPTv1" first, then fields
 * separated by ';' with optional white space; rua= is required and holds
 * one or more "mailto:" or "https:" URIs separated by ','.  Unknown
 * fields (extensions) are ignored; a trailing ';' is allowed.  URIs of
 * other schemes are skipped; a rua with none left is invalid.
 */
int tlsrpt_record_parse(const char *txt, size_t len, struct tlsrpt_record *out,
			struct error *err);
/* Whether the text starts as a TLSRPT record ("v=TLSRPTv1" followed by
 * ';', white space or the end): RFC 8460 3 ignores the other TXT
 * records, and more than one that does is no record. */
bool tlsrpt_record_is_tlsrpt(const char *txt, size_t len);

/*
 * The address of a "mailto:" URI into out (RFC 6068: the part before '?',
 * %XX decoded); only the first of several comma-separated addresses.
 * -1 with err when it is not mailto: or the address has no '@'.
 */
int tlsrpt_mailto_address(const char *uri, char *out, size_t outlen,
			  struct error *err);

/*
 * The host and port of an "https:" rua URI (RFC 8460 3): "https://" then
 * a host name or IPv4 address (copied lower-case into host) or a
 * bracketed IPv6 address (copied without the brackets), an optional
 * ":port" (1-65535; 443 when absent), then the end, '/', '?' or '#'.
 * No userinfo.  -1 with err for anything else.
 */
int tlsrpt_https_host(const char *uri, char *host, size_t hostlen,
		      unsigned *port, struct error *err);

/* RFC 8460 4.3 result types; true for a known name. */
bool tlsrpt_result_type_known(const char *name);

struct tlsrpt_failure {
	const char *result_type;  /* RFC 8460 4.3 name */
	const char *sending_ip;	  /* "" = left out */
	const char *receiving_mx; /* "" = left out */
	const char *receiving_ip; /* "" = left out */
	uint64_t count;
	const char *receiving_helo; /* receiving-mx-helo; NULL, "" = out */
};

struct tlsrpt_policy {
	const char *type;	   /* "tlsa", "sts" or "no-policy-found" */
	const char *policy_string; /* lines separated by LF; "" = none */
	const char *domain;
	const char *mx_host; /* "" = left out */
	uint64_t successes, failures;
	const struct tlsrpt_failure *details;
	size_t ndetails;
};

struct tlsrpt_report {
	const char *organization; /* organization-name */
	const char *contact;	  /* contact-info */
	const char *report_id;
	time_t start, end; /* date-range, UTC, end inclusive */
	const struct tlsrpt_policy *policies;
	size_t npolicies;
};

/* The report as RFC 8460 4.4 JSON, appended to out (UTF-8, strings
 * escaped; one object, no trailing newline). */
void tlsrpt_report_json(const struct tlsrpt_report *r, struct buf *out);

/* A JSON string literal of s (quotes included) appended to out. */
void tlsrpt_json_string(struct buf *out, const char *s);

#endif
