/*
 * token - admin API bearer tokens.
 *
 * A token is 32 random bytes from the kernel CSPRNG, shown once as 64 hex
 * characters with a "pt_" prefix (so it is recognisable in logs and secret
 * scanners).  Only its SHA-256 is stored (tokens.secret_hash): a leaked
 * database does not leak usable tokens, and the lookup is an exact match
 * on the hash, so no per-token salt is needed (the secret has 256 bits).
 */
#ifndef POSTERN_TOKEN_H
#define POSTERN_TOKEN_H

#include <stddef.h>

#define TOKEN_STR_LEN (3 + 64)  /* "pt_" + 64 hex */
#define TOKEN_HASH_LEN 64       /* hex SHA-256 */

/* Write a new token (NUL-terminated) into out[TOKEN_STR_LEN + 1]. */
void token_generate(char out[TOKEN_STR_LEN + 1]);
/* The stored form of a token: hex SHA-256 into out[TOKEN_HASH_LEN + 1]. */
void token_hash(const char *token, char out[TOKEN_HASH_LEN + 1]);

#endif
