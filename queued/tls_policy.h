/*
 * tls_policy - the SMTP client's TLS security level for a destination,
 * Postfix's smtp_tls_security_level and smtp_tls_policy_maps.
 *
 * A policy map value is "level [name=value ...]", e.g.
 * "verify match=hostname:nexthop" or "secure match=.example.com";
 * level names as Postfix (none, may, encrypt, dane, dane-only, verify,
 * secure; "fingerprint" is not supported and is a config error).  Only
 * the match= attribute is understood; others (ciphers=, protocols=) are
 * accepted and ignored with a warning by the caller.
 *
 * Pure functions except tls_policy_lookup (a map lookup, may block on SQL
 * maps).  Errors: -1 with err (ERR_CONFIG for a bad value, the map's
 * ERR_TEMP for a failed lookup).
 */
#ifndef POSTERN_QUEUED_TLS_POLICY_H
#define POSTERN_QUEUED_TLS_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

struct map;

enum tls_level {
	TLS_LEV_NONE,
	TLS_LEV_MAY,
	TLS_LEV_ENCRYPT,
	TLS_LEV_DANE,
	TLS_LEV_DANE_ONLY,
	TLS_LEV_VERIFY,
	TLS_LEV_SECURE,
};

struct tls_policy {
	enum tls_level level;
	char match[512];    /* match= value, ':'-separated; "" = the default */
	bool ignored_attrs; /* attributes other than match= were given */
};

/* "may" -> TLS_LEV_MAY; -1 for an unknown word. */
int tls_level_parse(const char *word, enum tls_level *level_r);
const char *tls_level_name(enum tls_level level);
/* Parse a policy value (see above). */
int tls_policy_parse(const char *value, struct tls_policy *out,
		     struct error *err);

/*
 * The names a certificate must match: each word of match (separated by
 * ':', ',' or white space) as Postfix's *_cert_match: "hostname" = mxhost,
 * "nexthop" = nexthop, "dot-nexthop" = "." nexthop, anything else
 * literally.  Writes at most max names into names[] (each < 256 bytes,
 * lower-cased); returns how many.
 */
size_t tls_policy_names(const char *match, const char *mxhost,
			const char *nexthop, char names[][256], size_t max);

/*
 * Look the destination up in the policy map: the next hop exactly as
 * written ("[mx.example]:587", "example.com:26"), then, for a next hop
 * without brackets, its domain and each parent as ".parent" (Postfix's
 * parent_domain_matches_subdomains form).  1 found (out filled), 0 not
 * found, -1 with err.
 */
int tls_policy_lookup(struct map *map, const char *nexthop,
		      struct tls_policy *out, struct error *err);

#endif
