/*
 * tls_err.c - the OpenSSL error queue as one line of text.
 */
#include <openssl/err.h>
#include <string.h>

#include "tls/tls_private.h"

void tls_error_text(char *out, size_t outlen)
{
	unsigned long e;
	size_t used = strlen(out);

	while ((e = ERR_get_error()) != 0) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		if (used + 2 + strlen(one) + 1 > outlen)
			continue; /* keep draining the queue */
		if (used > 0) {
			memcpy(out + used, "; ", 2);
			used += 2;
		}
		memcpy(out + used, one, strlen(one) + 1);
		used += strlen(one);
	}
}

int tls_error_set(struct error *err, enum err_kind kind, const char *what)
{
	char text[ERROR_MSG_MAX / 2] = "";

	tls_error_text(text, sizeof(text));
	return error_set(err, kind, "%s%s%s", what, text[0] ? ": " : "", text);
}
