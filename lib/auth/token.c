#include "token.h"

#include <sodium.h>
#include <string.h>

#include "core/log.h"

static void sodium_ready(void)
{
	if (sodium_init() < 0)
		panic("libsodium failed to initialise");
}

void token_generate(char out[TOKEN_STR_LEN + 1])
{
	unsigned char raw[32];
	sodium_ready();
	randombytes_buf(raw, sizeof(raw));
	memcpy(out, "pt_", 3);
	sodium_bin2hex(out + 3, 64 + 1, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
}

void token_hash(const char *token, char out[TOKEN_HASH_LEN + 1])
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	sodium_ready();
	crypto_hash_sha256(digest, (const unsigned char *)token,
			   strlen(token));
	sodium_bin2hex(out, TOKEN_HASH_LEN + 1, digest, sizeof(digest));
}
