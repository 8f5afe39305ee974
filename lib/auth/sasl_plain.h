/*
 * sasl_plain - the SASL PLAIN mechanism (RFC 4616) as IMAP servers use
 * it in AUTHENTICATE (RFC 3501 6.2.2, SASL-IR RFC 4959): decoding the
 * client's base64 response, and the two conventions around it ("*"
 * cancels at a continuation; "=" is an empty initial response).  Shared
 * by imapd and the IMAP proxy, which answer the outcomes with their own
 * replies.  smtpd goes through Cyrus SASL instead.
 *
 * The message is [authzid] NUL authcid NUL passwd; authcid must not be
 * empty, and an authzid must equal the authcid (we have no proxy
 * logins, "log in as someone else").
 *
 * Ownership: on SASL_PLAIN_OK *authcid_r and *passwd_r are malloc'd;
 * free the password with sasl_secret_free(), which wipes it.  The
 * decoded bytes are wiped before returning.  No state, any thread.
 */
#ifndef POSTERN_AUTH_SASL_PLAIN_H
#define POSTERN_AUTH_SASL_PLAIN_H

#include <stdbool.h>

enum sasl_plain_result {
	SASL_PLAIN_OK,
	SASL_PLAIN_BAD_BASE64,	/* not base64 */
	SASL_PLAIN_BAD_MESSAGE, /* not authzid NUL authcid NUL passwd */
	SASL_PLAIN_AUTHZID,	/* an authzid other than the authcid */
};

enum sasl_plain_result sasl_plain_decode(const char *b64, char **authcid_r,
					 char **passwd_r);

/* The client side: the base64 response for authcid and passwd, with an
 * empty authzid (malloc'd; a secret, free it with sasl_secret_free). */
char *sasl_plain_encode(const char *authcid, const char *passwd);

/* A continuation response "*": the client cancels (RFC 4422 3.5). */
bool sasl_response_cancelled(const char *line);
/* SASL-IR's argument as the response to decode: "=" is empty. */
const char *sasl_initial_response(const char *ir);

/* Wipe and free a secret (a password, a decoded response); NULLs *p. */
void sasl_secret_free(char **p);

#endif
