/*
 * tls_policy - the SMTP client's TLS security level for a destination,
 * Postfix's smtp_tls_security_level and smtp_tls_policy_maps.
 *
 * A policy map value is "level [name=value ...]", e.g.
 * "verify match=hostname:nexthop" or "secure match=.example.com";
 * level names as Postfix (none, may, encrypt, dane, dane-only, verify,
 * secure; "fingerprint" is not supported and is a config error).
 * Attributes understood: match=, protocols= (tls_protocols_parse),
 * ciphers= (a Postfix grade, tls_cipher_grade_list) and exclude= (cipher
 * names or types taken out of the list); a bad value of these is a config
 * error.  Other attributes (tafile=, servername=...) are accepted and
 * ignored with a warning by the caller.
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

/* TLS versions as on the wire; Postern speaks only these two (tls.h). */
#define TLS_POLICY_TLS12 0x0303
#define TLS_POLICY_TLS13 0x0304

struct tls_policy {
	enum tls_level level;
	char match[512];    /* match= value, ':'-separated; "" = the default */
	bool ignored_attrs; /* attributes other than those above were given */
	/* protocols=: the versions allowed (TLS_POLICY_*); 0 = not given. */
	int min_version, max_version;
	char ciphers[16];  /* ciphers= grade, lower-case; "" = not given */
	char exclude[256]; /* exclude= as given; "" = none */
};

/* "may" -> TLS_LEV_MAY; -1 for an unknown word. */
int tls_level_parse(const char *word, enum tls_level *level_r);
const char *tls_level_name(enum tls_level level);
/* Parse a policy value (see above). */
int tls_policy_parse(const char *value, struct tls_policy *out,
		     struct error *err);

/*
 * A Postfix protocols value (smtp_tls_protocols syntax): words separated
 * by ':', ',' or white space, each "name" (only the named ones), "!name"
 * (not this one), ">=name" or "<=name" (bounds); names SSLv2, SSLv3,
 * TLSv1, TLSv1.1, TLSv1.2, TLSv1.3 (case-insensitive).  The result is cut
 * down to TLS 1.2 and 1.3, the versions Postern speaks; *min_r and *max_r get
 * the lowest/highest left (TLS_POLICY_*).  "" = no constraint (both 0).
 * -1 with err (ERR_CONFIG) for an unknown word or when nothing is left.
 */
int tls_protocols_parse(const char *value, int *min_r, int *max_r,
			struct error *err);

/*
 * The OpenSSL cipher list of a Postfix cipher grade, Postfix's default
 * tls_<grade>_cipherlist: "high" -> "aNULL:-aNULL:HIGH:@STRENGTH",
 * "medium" adds MEDIUM and +RC4, "low" adds LOW, "export" adds EXPORT,
 * "null" -> "eNULL:!aNULL".  NULL for an unknown grade.
 */
const char *tls_cipher_grade_list(const char *grade);

/*
 * The TLS 1.2 cipher list for one connection: base (an OpenSSL list,
 * e.g. from tls_cipher_grade_list; NULL or "" = "DEFAULT"), then ":!x"
 * for each word x of exclude (separated by ':', ',' or white space), then
 * ":!aNULL" when no_anon (the levels that authenticate the server, as
 * Postfix).  -1 with err (ERR_CONFIG) for an exclusion word that is not
 * a cipher name or type (letters, digits, '-', '_', '.', not starting
 * with '-'), or when out is too small.
 */
int tls_cipherlist_build(const char *base, const char *exclude, bool no_anon,
			 char *out, size_t outlen, struct error *err);

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
