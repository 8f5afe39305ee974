/*
 * smtp_mailrcpt - MAIL FROM and RCPT TO arguments; see smtp_command.h.
 *
 *   mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
 *   rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
 *          Forward-path ) [SP Rcpt-parameters] CRLF    (RFC 5321 4.1.1.2-3)
 */
#include <string.h>
#include <strings.h>

#include "smtp/smtp_command.h"

static bool has_8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/*
 * Common part: "<keyword>" then spaces then a path then nothing or
 * spaces and parameters.  On success *params_r / *params_len_r is the
 * rest of the line and *utf8_r tells whether the path has 8-bit octets.
 */
static int parse_path_part(const char *args, size_t len, const char *keyword,
			   unsigned int flags, bool utf8_ok, const char *what,
			   const char *enhanced, struct mail_address *addr_r,
			   const char **params_r, size_t *params_len_r,
			   bool *utf8_r, struct smtp_reply *reply_r)
{
	size_t klen = strlen(keyword), i, used = 0;
	struct error err;
	struct mail_address probe;

	addr_r->local = addr_r->domain = NULL;
	if (len < klen || strncasecmp(args, keyword, klen) != 0)
		return smtp_reply_set(reply_r, 501, "5.5.4",
				      "Syntax: %s<address>",
				      klen == 5 ? "MAIL FROM:" : "RCPT TO:");
	i = klen;
	/* "MAIL FROM: <a@b>": not RFC 5321, but common; Postfix takes it. */
	while (i < len && args[i] == ' ')
		i++;
	if (address_parse_path(args + i, len - i,
			       flags | (utf8_ok ? ADDRESS_SMTPUTF8 : 0), addr_r,
			       &used, &err) < 0) {
		/* Would it have parsed as UTF-8?  Then say so. */
		if (!utf8_ok && address_parse_path(args + i, len - i,
						   flags | ADDRESS_SMTPUTF8,
						   &probe, &used, NULL) == 0) {
			address_clear(&probe);
			return smtp_reply_set(reply_r, 553, "5.6.7",
					      "UTF-8 %s address needs "
					      "SMTPUTF8",
					      what);
		}
		return smtp_reply_set(reply_r, 501, enhanced,
				      "Bad %s address syntax: %s", what,
				      err.msg);
	}
	*utf8_r = has_8bit(args + i, used);
	i += used;
	if (i < len && args[i] != ' ') {
		address_clear(addr_r);
		return smtp_reply_set(reply_r, 501, enhanced,
				      "Bad %s address syntax: unexpected "
				      "characters after the path",
				      what);
	}
	*params_r = args + i;
	*params_len_r = len - i;
	return 0;
}

int smtp_command_parse_mail(const char *args, size_t len, unsigned int ext,
			    uint64_t max_size, struct smtp_mail *mail_r,
			    struct smtp_reply *reply_r)
{
	const char *params;
	size_t params_len;
	bool utf8;

	memset(mail_r, 0, sizeof(*mail_r));
	/* The path is parsed before the parameters that say SMTPUTF8, so
	 * parse it as UTF-8 when the server offers SMTPUTF8 and check the
	 * parameter afterwards. */
	if (parse_path_part(args, len, "FROM:", ADDRESS_ALLOW_NULL,
			    (ext & SMTP_EXT_SMTPUTF8) != 0, "sender", "5.1.7",
			    &mail_r->from, &params, &params_len, &utf8,
			    reply_r) < 0)
		return -1;
	if (smtp_params_parse_mail(params, params_len, ext, max_size,
				   &mail_r->params, reply_r) < 0) {
		smtp_mail_clear(mail_r);
		return -1;
	}
	if (utf8 && !mail_r->params.smtputf8) {
		smtp_mail_clear(mail_r);
		/* RFC 6531 3.5: a UTF-8 address needs the SMTPUTF8 parameter.
		 */
		return smtp_reply_set(reply_r, 553, "5.6.7",
				      "UTF-8 sender address needs SMTPUTF8");
	}
	return 0;
}

void smtp_mail_clear(struct smtp_mail *mail)
{
	address_clear(&mail->from);
}

int smtp_command_parse_rcpt(const char *args, size_t len, unsigned int ext,
			    bool smtputf8, struct smtp_rcpt *rcpt_r,
			    struct smtp_reply *reply_r)
{
	const char *params;
	size_t params_len;
	bool utf8;

	memset(rcpt_r, 0, sizeof(*rcpt_r));
	if (parse_path_part(args, len, "TO:", ADDRESS_ALLOW_POSTMASTER,
			    smtputf8, "recipient", "5.1.3", &rcpt_r->to,
			    &params, &params_len, &utf8, reply_r) < 0)
		return -1;
	if (smtp_params_parse_rcpt(params, params_len, ext, &rcpt_r->params,
				   reply_r) < 0) {
		smtp_rcpt_clear(rcpt_r);
		return -1;
	}
	return 0;
}

void smtp_rcpt_clear(struct smtp_rcpt *rcpt)
{
	address_clear(&rcpt->to);
}
