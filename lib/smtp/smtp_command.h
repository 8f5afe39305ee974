/*
 * smtp_command - parsing received SMTP and LMTP command lines (RFC 5321
 * 4.1, RFC 2033), shared by the SMTP server, the LMTP server and tests.
 *
 * A server reads a line (without its CRLF), calls smtp_command_parse() to
 * get the verb and its argument string, then the verb's own parser:
 * smtp_command_parse_mail(), _rcpt(), _bdat(), _helo(), _auth().  Every
 * function returns 0 on success or -1 with *reply_r filled with the reply
 * to send as is (code, enhanced code, text); nothing here logs, and
 * nothing is decided about policy (which domains are hosted, whether the
 * client may relay): that is the server's job.
 *
 * Line length (RFC 5321 4.5.3.1.4: 512 octets with CRLF, "more with
 * extensions"): SIZE adds 26, DSN adds about 600 to MAIL and RCPT (ENVID
 * 100, ORCPT 500), AUTH= up to 500, SMTPUTF8 10.  We accept
 * SMTP_COMMAND_LINE_MAX octets without the CRLF for every command, as
 * Postfix's line_length_limit (2048) does, and SMTP_AUTH_LINE_MAX for AUTH
 * and the SASL exchange (RFC 4954 4: 12288).  A server sets its io line
 * limit to SMTP_AUTH_LINE_MAX and lets smtp_command_parse() enforce the
 * lower limit for the other verbs, or answers SMTP_REPLY_LINE_TOO_LONG
 * itself when its io reports an over-long line.
 *
 * Tolerance, as Postfix (strict_rfc821_envelopes = no) but no further:
 *   - "MAIL FROM: <a@b>" and "RCPT TO:  <c@d>": spaces after the colon;
 *   - several spaces between the verb and its arguments and between
 *     ESMTP parameters; trailing spaces and tabs at the end of the line;
 *   - verbs and FROM:/TO: in any case.
 * XXX: unlike Postfix we refuse a path without angle brackets
 * ("MAIL FROM:a@b"): RFC 5321 requires them and the address parser needs
 * them to find the end of a quoted local part.
 */
#ifndef POSTERN_SMTP_COMMAND_H
#define POSTERN_SMTP_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "mail/address.h"
#include "smtp/smtp_params.h"
#include "smtp/smtp_reply.h"

#define SMTP_COMMAND_LINE_MAX 2048
#define SMTP_AUTH_LINE_MAX 12288

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_LHLO, /* RFC 2033: LMTP's EHLO */
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	/* Postfix's XCLIENT: recognised so a server can refuse it with the
	 * usual reply; its attributes are not parsed here. */
	SMTP_VERB_XCLIENT,
};

struct smtp_command {
	enum smtp_verb verb;
	/* The argument string: borrowed from the line given to
	 * smtp_command_parse(), NOT NUL-terminated, without the spaces
	 * after the verb and at the end of the line; args_len 0 when
	 * none. */
	const char *args;
	size_t args_len;
};

/* The verb's name in upper case ("MAIL"), "" for SMTP_VERB_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb verb);

/* Fill *reply_r with the 500 5.5.2 "line too long" reply. */
int smtp_reply_line_too_long(struct smtp_reply *reply_r);

/*
 * Split a command line (without CRLF; may contain NUL) into verb and
 * arguments and check what applies to every verb: length (above), no
 * NUL, CR, LF or other control characters but TAB in the line (500
 * 5.5.2), a known verb (502 5.5.2 "command not recognized", cmd_r->verb
 * is then SMTP_VERB_UNKNOWN), arguments present where required and
 * absent for DATA, RSET, QUIT and STARTTLS (501 5.5.4 "Syntax: ...").
 */
int smtp_command_parse(const char *line, size_t len, struct smtp_command *cmd_r,
		       struct smtp_reply *reply_r);

/* MAIL FROM:<reverse-path> [params].  Release with smtp_mail_clear(). */
struct smtp_mail {
	struct mail_address from; /* "" / "" for the null path <> */
	struct smtp_mail_params params;
};

/* RCPT TO:<forward-path> [params].  Release with smtp_rcpt_clear(). */
struct smtp_rcpt {
	/* <Postmaster> without a domain gives local "postmaster" and an
	 * empty domain (RFC 5321 4.5.1): the server fills in its own. */
	struct mail_address to;
	struct smtp_rcpt_params params;
};

/*
 * Parse the arguments of MAIL (cmd.args).  `ext`: the enum smtp_ext the
 * server advertises; `max_size`: message_size_limit (0: none).
 * Replies: 501 5.5.4 (no "FROM:"), 501 5.1.7 (bad address, with the
 * reason), 553 5.6.7 (a UTF-8 address without SMTPUTF8, RFC 6531 3.5),
 * and those of smtp_params_parse_mail().
 */
int smtp_command_parse_mail(const char *args, size_t len, unsigned int ext,
			    uint64_t max_size, struct smtp_mail *mail_r,
			    struct smtp_reply *reply_r);
void smtp_mail_clear(struct smtp_mail *mail);

/*
 * Parse the arguments of RCPT.  `smtputf8`: the transaction's MAIL FROM
 * had SMTPUTF8, so UTF-8 addresses are allowed.  Replies: 501 5.5.4
 * (no "TO:"), 501 5.1.3 (bad address, the null path included), 553 5.6.7,
 * and those of smtp_params_parse_rcpt().
 */
int smtp_command_parse_rcpt(const char *args, size_t len, unsigned int ext,
			    bool smtputf8, struct smtp_rcpt *rcpt_r,
			    struct smtp_reply *reply_r);
void smtp_rcpt_clear(struct smtp_rcpt *rcpt);

/*
 * BDAT chunk-size [SP "LAST"] (RFC 3030 2).  On failure (501 5.5.4) the
 * server cannot know how many octets follow and must close the
 * connection after the reply, as RFC 3030 leaves no way to resynchronise.
 */
int smtp_command_parse_bdat(const char *args, size_t len, uint64_t *size_r,
			    bool *last_r, struct smtp_reply *reply_r);

/*
 * Check the argument of HELO / EHLO / LHLO: Domain or address-literal
 * (RFC 5321 4.1.1.1), ASCII only.  On success the normalised form
 * (lower-case domain, inet_ntop literal) replaces the content of out.
 * Failure: 501 5.5.4 (missing) or 501 5.5.2 "Invalid hostname".  Whether
 * to refuse a bad name is the server's policy (Postfix accepts any HELO
 * unless reject_invalid_helo_hostname): it may log and go on.
 */
int smtp_command_parse_helo(const char *args, size_t len, struct buf *out,
			    struct smtp_reply *reply_r);

/*
 * AUTH mechanism [initial-response] (RFC 4954 4).  The mechanism (upper
 * case, at most 20 characters of [A-Z0-9-_]) is copied to mech_r; the
 * initial response (base64 or "=") is borrowed from args into
 * *ir_r / *ir_len_r, NULL / 0 when absent.  Failure: 501 5.5.4, or
 * 501 5.5.2 for a response that is not base64.
 */
#define SMTP_SASL_MECH_MAX 20
int smtp_command_parse_auth(const char *args, size_t len,
			    char mech_r[SMTP_SASL_MECH_MAX + 1],
			    const char **ir_r, size_t *ir_len_r,
			    struct smtp_reply *reply_r);

#endif
