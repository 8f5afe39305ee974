/*
 * sasl_plain - SASL PLAIN decoding (sasl_plain.h).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/sasl_plain.h"
#include "core/xmalloc.h"

enum sasl_plain_result sasl_plain_decode(const char *b64, char **authcid_r,
					 char **passwd_r)
{
	size_t len = strlen(b64), n;
	unsigned char *bin = xmalloc(len + 1);
	const char *authz = (const char *)bin, *user, *pass;
	enum sasl_plain_result r = SASL_PLAIN_BAD_MESSAGE;

	*authcid_r = *passwd_r = NULL;
	if (sodium_base642bin(bin, len + 1, b64, len, NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0) {
		r = SASL_PLAIN_BAD_BASE64;
		goto out;
	}
	bin[n] = '\0';
	user = memchr(bin, '\0', n);
	if (user == NULL)
		goto out;
	user++;
	pass = memchr(user, '\0', n - (size_t)(user - authz));
	if (pass == NULL || pass == user)
		goto out;
	pass++;
	/* A third NUL: not the message. */
	if (memchr(pass, '\0', n - (size_t)(pass - authz)) != NULL)
		goto out;
	if (authz[0] != '\0' && strcmp(authz, user) != 0) {
		r = SASL_PLAIN_AUTHZID;
		goto out;
	}
	*authcid_r = xstrdup(user);
	*passwd_r = xstrdup(pass);
	r = SASL_PLAIN_OK;
out:
	sodium_memzero(bin, len + 1);
	free(bin);
	return r;
}

char *sasl_plain_encode(const char *authcid, const char *passwd)
{
	size_t ulen = strlen(authcid), plen = strlen(passwd);
	size_t blen = 2 + ulen + plen;
	unsigned char *bin = xmalloc(blen);
	size_t b64len =
	    sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = xmalloc(b64len);

	bin[0] = '\0';
	memcpy(bin + 1, authcid, ulen);
	bin[1 + ulen] = '\0';
	memcpy(bin + 2 + ulen, passwd, plen);
	sodium_bin2base64(b64, b64len, bin, blen,
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(bin, blen);
	free(bin);
	return b64;
}

bool sasl_response_cancelled(const char *line)
{
	return strcmp(line, "*") == 0;
}

const char *sasl_initial_response(const char *ir)
{
	return strcmp(ir, "=") == 0 ? "" : ir;
}

void sasl_secret_free(char **p)
{
	if (*p == NULL)
		return;
	sodium_memzero(*p, strlen(*p));
	free(*p);
	*p = NULL;
}
