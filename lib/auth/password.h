/*
 * password - Dovecot-compatible password hashes.
 *
 * A stored hash is "{SCHEME}data", exactly as Dovecot's passdb stores it,
 * so hashes move both ways between Postern and Dovecot (`doveadm pw`):
 *
 *   scheme         data                              here
 *   ARGON2ID       $argon2id$v=19$m=..,t=..,p=..$..  hash (default), verify
 *   ARGON2I        $argon2i$...                      verify
 *   BLF-CRYPT      $2y$NN$... (bcrypt)               hash, verify
 *   SHA512-CRYPT   $6$[rounds=N$]...                 hash, verify
 *   SHA256-CRYPT   $5$[rounds=N$]...                 hash, verify
 *   MD5-CRYPT      $1$...                            verify
 *   CRYPT          any crypt(3) hash libxcrypt knows verify
 *   SSHA512        base64(sha512(pw . salt) . salt)  verify
 *   SHA512         base64(sha512(pw))                verify
 *   SSHA256        base64(sha256(pw . salt) . salt)  verify
 *   SHA256         base64(sha256(pw))                verify
 *   PLAIN          the password itself (CLEAR, CLEARTEXT) verify (imports)
 * The SHA schemes also take Dovecot's ".HEX" and ".B64" encoding suffix
 * ("{SHA512.HEX}...").  Scheme names are case-insensitive.
 *
 * A hash without a {SCHEME} prefix is read the way Dovecot reads it with
 * its default scheme CRYPT: a crypt-style string is recognised by its
 * "$id$" ($6$ SHA512-CRYPT, $5$ SHA256-CRYPT, $2y$/$2b$/$2a$ BLF-CRYPT,
 * $1$ MD5-CRYPT, $argon2id$ ARGON2ID, $argon2i$ ARGON2I, other "$..."
 * CRYPT).  Anything else without a prefix is refused as malformed rather
 * than compared as plain text.
 *
 * Libraries: crypt-style schemes go to libxcrypt (crypt_rn, reentrant);
 * Argon2 and the SHA digests go to libsodium, which is what Dovecot itself
 * uses for Argon2 (password-scheme-sodium.c) and which also gives us the
 * CSPRNG and constant-time comparison, so libargon2 is not needed.
 *
 * COST: Argon2 verification is memory-heavy by design: the default
 * ARGON2ID needs 64 MiB and about 0.1-0.3 s of CPU per call.  Callers must
 * run password_verify() and password_hash() in the worker pool with
 * bounded concurrency (a login storm must not exhaust memory), never on
 * the event loop.  Hashes asking for more than PASSWORD_ARGON2_MAX_MEMORY
 * are refused as malformed.
 *
 * Errors: password_verify() returns 1 match, 0 mismatch, -1 error
 * (ERR_PERM: unknown scheme, malformed hash; ERR_TEMP: out of memory in
 * the hash function).  All functions are thread-safe.
 */
#ifndef POSTERN_AUTH_PASSWORD_H
#define POSTERN_AUTH_PASSWORD_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/error.h"

/* What `doveadm pw -s ARGON2ID` writes: m=65536 (64 MiB), t=3, p=1. */
#define PASSWORD_ARGON2ID_OPSLIMIT 3
#define PASSWORD_ARGON2ID_MEMLIMIT (64u * 1024 * 1024)
/* Refuse stored Argon2 hashes asking for more memory than this. */
#define PASSWORD_ARGON2_MAX_MEMORY (1024u * 1024 * 1024)
/* bcrypt cost for new BLF-CRYPT hashes.  Dovecot writes 5, which is
 * weak today; doveadm verifies any cost. */
#define PASSWORD_BCRYPT_COST 10
/* SHA-crypt rounds for new hashes: the crypt(3) default that Dovecot
 * also writes (no "rounds=" field). */
#define PASSWORD_SHACRYPT_ROUNDS 5000

#define PASSWORD_DEFAULT_SCHEME "ARGON2ID"

enum password_scheme {
	PASSWORD_SCHEME_UNKNOWN = 0,
	PASSWORD_SCHEME_ARGON2ID,
	PASSWORD_SCHEME_ARGON2I,
	PASSWORD_SCHEME_BLF_CRYPT,
	PASSWORD_SCHEME_SHA512_CRYPT,
	PASSWORD_SCHEME_SHA256_CRYPT,
	PASSWORD_SCHEME_MD5_CRYPT,
	PASSWORD_SCHEME_CRYPT,
	PASSWORD_SCHEME_SSHA512,
	PASSWORD_SCHEME_SHA512,
	PASSWORD_SCHEME_SSHA256,
	PASSWORD_SCHEME_SHA256,
	PASSWORD_SCHEME_PLAIN,
};

/*
 * A scheme name ("ARGON2ID", "blf-crypt", "SHA512.HEX"; no braces) to its
 * scheme: 1 found, 0 unknown.
 */
int password_scheme_lookup(const char *name, enum password_scheme *scheme_r);
/* The canonical upper-case name ("BLF-CRYPT"); a static string. */
const char *password_scheme_name(enum password_scheme scheme);
/* True for the schemes password_hash() can write. */
bool password_scheme_can_hash(enum password_scheme scheme);

/*
 * Split a stored hash into its scheme and data.  *data_r is borrowed
 * from stored (after the "}" when there is a prefix).  Returns 0, or -1
 * for an unknown scheme, a bad prefix or an unrecognised unprefixed hash.
 */
int password_scheme_parse(const char *stored, enum password_scheme *scheme_r,
			  const char **data_r, struct error *err);

/*
 * Hash plaintext with the named scheme (NULL: PASSWORD_DEFAULT_SCHEME)
 * and a fresh random salt; replaces the content of out with
 * "{SCHEME}data" (empties it on failure).  -1 when the scheme is unknown
 * or verify-only (ERR_CONFIG) or the hash function fails (ERR_TEMP).
 */
int password_hash(const char *scheme, const char *plaintext, struct buf *out,
		  struct error *err);

/*
 * Check plaintext against a stored hash in constant time: 1 match,
 * 0 mismatch, -1 error (unknown scheme, malformed hash).
 */
int password_verify(const char *stored, const char *plaintext,
		    struct error *err);

/*
 * True when a stored hash (already verified) should be re-hashed with
 * default_scheme (NULL: PASSWORD_DEFAULT_SCHEME): its scheme differs, or
 * its cost (Argon2 memory/time, bcrypt cost, SHA-crypt rounds) is below
 * what password_hash() writes now.  Also true for an unparsable hash.
 */
bool password_needs_upgrade(const char *stored, const char *default_scheme);

#endif
