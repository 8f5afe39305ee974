/*
 * smtp_params - the ESMTP parameters of MAIL FROM and RCPT TO.
 *
 *   Mail-parameters  = esmtp-param *(SP esmtp-param)      (RFC 5321 4.1.2)
 *   esmtp-param      = esmtp-keyword ["=" esmtp-value]
 *   esmtp-keyword    = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 *   esmtp-value      = 1*(%d33-60 / %d62-126)  (+ UTF-8, RFC 6531 3.3)
 *
 * Known parameters, each accepted only when the server enables the
 * extension (enum smtp_ext), case-insensitive keywords and keyword values:
 *   MAIL: SIZE=n (RFC 1870), BODY=7BIT|8BITMIME|BINARYMIME (RFC 6152,
 *         RFC 3030), SMTPUTF8 (RFC 6531), RET=FULL|HDRS and ENVID=xtext
 *         (RFC 3461), AUTH=xtext mailbox or <> (RFC 4954 5).
 *   RCPT: NOTIFY=NEVER|SUCCESS,FAILURE,DELAY and ORCPT=addr-type;xtext
 *         (RFC 3461 4.1, 4.2).
 *
 * Replies on refusal (RFC 5321 4.1.1.11 and 4.2.3, RFC 3463):
 *   555 5.5.4  unknown keyword, or one of an extension not enabled
 *   501 5.5.4  bad syntax, bad value, or a keyword given twice
 *   552 5.3.4  SIZE above the limit (RFC 1870 6)
 *
 * Left to the server, which knows the session: BODY=BINARYMIME followed
 * by DATA instead of BDAT (503 5.5.1, RFC 3030 3), and 8-bit content
 * without BODY=8BITMIME (tolerated, as Postfix does).
 *
 * The structs are plain values with fixed buffers sized to the RFC
 * limits (ENVID 100, ORCPT 500 octets): nothing to free.
 */
#ifndef POSTERN_SMTP_PARAMS_H
#define POSTERN_SMTP_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp/smtp_reply.h"

/* Extensions the server advertises; they decide what is accepted. */
enum smtp_ext {
	SMTP_EXT_SIZE = 1 << 0,
	SMTP_EXT_8BITMIME = 1 << 1,
	SMTP_EXT_BINARYMIME = 1 << 2, /* needs CHUNKING too (RFC 3030 3) */
	SMTP_EXT_SMTPUTF8 = 1 << 3,
	SMTP_EXT_DSN = 1 << 4,
	SMTP_EXT_AUTH = 1 << 5,
	SMTP_EXT_CHUNKING = 1 << 6,
	SMTP_EXT_ALL = 0x7f,
};

enum smtp_body {
	SMTP_BODY_NONE = 0, /* no BODY= given: 7BIT by RFC, 8-bit tolerated */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
	SMTP_BODY_BINARYMIME,
};

enum smtp_ret {
	SMTP_RET_NONE = 0,
	SMTP_RET_FULL,
	SMTP_RET_HDRS,
};

/* NOTIFY= bits; 0 when not given (the server's default applies). */
enum smtp_notify {
	SMTP_NOTIFY_NEVER = 1 << 0,
	SMTP_NOTIFY_SUCCESS = 1 << 1,
	SMTP_NOTIFY_FAILURE = 1 << 2,
	SMTP_NOTIFY_DELAY = 1 << 3,
};

/* RFC 3461 4.4 and 4.2: the xtext of ENVID at most 100, ORCPT 500. */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500
/* RFC 4954 5 sets no limit; an xtext mailbox fits in 500 octets. */
#define SMTP_AUTH_PARAM_MAX 500

struct smtp_mail_params {
	bool has_size;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	/* ENVID, decoded (printable ASCII, RFC 3461 4.4); "" when absent. */
	char envid[SMTP_ENVID_MAX + 1];
	/* AUTH=, decoded: "<>" or a mailbox; "" when absent. */
	char auth[SMTP_AUTH_PARAM_MAX + 1];
};

struct smtp_rcpt_params {
	unsigned int notify; /* enum smtp_notify bits */
	/* ORCPT: the addr-type as sent ("rfc822", "utf-8") and the value
	 * in its xtext form as sent, ready to relay; "" when absent. */
	char orcpt_type[32];
	char orcpt[SMTP_ORCPT_MAX + 1];
	/* The decoded value for an rfc822 ORCPT (for the DSN's
	 * Original-Recipient field); "" otherwise. */
	char orcpt_decoded[SMTP_ORCPT_MAX + 1];
};

/*
 * Parse the parameter part of MAIL FROM (after the path; leading spaces
 * allowed, "" allowed).  `ext` is the enum smtp_ext set the server
 * advertises; `max_size` is message_size_limit (0: no limit).  Returns 0,
 * or -1 with *reply_r set.
 */
int smtp_params_parse_mail(const char *s, size_t len, unsigned int ext,
			   uint64_t max_size, struct smtp_mail_params *params_r,
			   struct smtp_reply *reply_r);
/* The same for RCPT TO. */
int smtp_params_parse_rcpt(const char *s, size_t len, unsigned int ext,
			   struct smtp_rcpt_params *params_r,
			   struct smtp_reply *reply_r);

#endif
