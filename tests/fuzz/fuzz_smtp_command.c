/*
 * fuzz_smtp_command - libFuzzer target for lib/smtp command parsing:
 * smtp_command_parse and the MAIL, RCPT, BDAT, HELO and AUTH argument
 * parsers.  The first input byte picks the advertised extensions (and
 * the transaction's SMTPUTF8 for RCPT), the rest is one command line.
 * Besides memory errors it checks that every refusal is a well-formed
 * 5xx reply with a valid enhanced code and no control characters, and
 * that what is accepted respects the documented limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/smtp_command.h"
#include "smtp/smtp_xtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply(const struct smtp_reply *r)
{
	if (r->code < 500 || r->code > 559)
		abort();
	if (r->enhanced[0] == '\0' ||
	    !smtp_enhanced_valid(r->enhanced, strlen(r->enhanced)) ||
	    r->enhanced[0] != '5')
		abort();
	for (const char *c = r->text; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20)
			abort();
}

static void check(int ret, const struct smtp_reply *r)
{
	if (ret != 0 && ret != -1)
		abort();
	if (ret < 0)
		check_reply(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_command cmd;
	struct smtp_reply r;
	struct smtp_mail mail;
	struct smtp_rcpt rcpt;
	struct buf *out;
	const char *s, *ir;
	char mech[SMTP_SASL_MECH_MAX + 1];
	unsigned int ext;
	uint64_t bsize;
	size_t len, ir_len;
	bool last;
	int ret;

	if (size < 1)
		return 0;
	ext = data[0] & SMTP_EXT_ALL;
	s = (const char *)data + 1;
	len = size - 1;
	out = buf_new();

	ret = smtp_command_parse(s, len, &cmd, &r);
	check(ret, &r);
	if (ret == 0) {
		if (cmd.args < s || cmd.args + cmd.args_len > s + len)
			abort();
		if (cmd.args_len > 0 &&
		    (cmd.args[0] == ' ' || cmd.args[cmd.args_len - 1] == ' '))
			abort();
	}
	/* The argument parsers get the raw input too, to reach more. */
	ret = smtp_command_parse_mail(s, len, ext, 1000, &mail, &r);
	check(ret, &r);
	if (ret == 0) {
		if (mail.params.has_size && mail.params.size > 1000)
			abort();
		if (strlen(mail.params.envid) > SMTP_ENVID_MAX)
			abort();
		address_format(&mail.from, out);
		smtp_mail_clear(&mail);
	}
	ret = smtp_command_parse_rcpt(s, len, ext, (data[0] & 0x80) != 0, &rcpt,
				      &r);
	check(ret, &r);
	if (ret == 0) {
		if ((rcpt.params.notify & SMTP_NOTIFY_NEVER) &&
		    rcpt.params.notify != SMTP_NOTIFY_NEVER)
			abort();
		if (rcpt.params.orcpt[0] != '\0' &&
		    rcpt.params.orcpt_type[0] == '\0')
			abort();
		smtp_rcpt_clear(&rcpt);
	}
	check(smtp_command_parse_bdat(s, len, &bsize, &last, &r), &r);
	ret = smtp_command_parse_helo(s, len, out, &r);
	check(ret, &r);
	ret = smtp_command_parse_auth(s, len, mech, &ir, &ir_len, &r);
	check(ret, &r);
	if (ret == 0 && (mech[0] == '\0' || strlen(mech) > SMTP_SASL_MECH_MAX))
		abort();

	/* xtext: what decodes re-encodes to something that decodes the
	 * same. */
	buf_reset(out);
	if (smtp_xtext_decode(s, len, out)) {
		struct buf *enc = buf_new(), *again = buf_new();

		smtp_xtext_encode(buf_data(out), buf_len(out), enc);
		if (!smtp_xtext_decode(buf_data(enc), buf_len(enc), again) ||
		    buf_len(again) != buf_len(out) ||
		    memcmp(buf_data(again), buf_data(out), buf_len(out)) != 0)
			abort();
		buf_free(&enc);
		buf_free(&again);
	}
	buf_free(&out);
	return 0;
}
