/*
 * fuzz_access_result - an access table's result as smtpd reads it
 * (mta/smtpd-access.c rx_access_result: the actions of access(5), and a
 * restriction list parsed when met, mta/smtpd-restrict.c rx_nested).
 * The input is the value a check_client_access table gives the client;
 * restriction classes are there to be named (one names itself through
 * the same kind of table, for the nesting limit).  A value that does
 * not fit a main.cf line (braces, line ends, '$', '\') has those bytes
 * made spaces.  Checks: the check ends, and a refusal has a 4xx/5xx
 * code.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/log.h"
#include "smtpd-restrict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_local(void *ctx, const char *address, struct error *err)
{
	(void)ctx;
	(void)err;
	return strstr(address, "@example.com") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf *cf = buf_new();
	struct error err;
	struct conf *conf;
	struct smtpd_restrict *r;

	static bool quiet;

	if (size > 4096)
		return 0;
	if (!quiet) {
		log_to_file("/dev/null", NULL);
		quiet = true;
	}
	buf_append_str(cf, "smtpd_restriction_classes = c_ok c_loop\n"
			   "c_ok = permit\n"
			   "c_loop = check_client_access inline:{ "
			   "{192.0.2.10=c_loop permit_mynetworks} }\n"
			   "smtpd_recipient_restrictions = check_client_access "
			   "inline:{ {192.0.2.10=");
	for (size_t i = 0; i < size; i++) {
		char c = (char)data[i];
		if (c == '{' || c == '}' || c == '\n' || c == '\r' ||
		    c == '$' || c == '\\' || c == '\0' || c == '#')
			c = ' ';
		buf_append_char(cf, c);
	}
	buf_append_str(cf, "} }, permit_auth_destination, reject\n");
	conf = conf_load_mem("/nonexistent", "main.cf", buf_data(cf),
			     buf_len(cf), NULL, 0, &err);
	buf_free(&cf);
	if (conf == NULL)
		return 0;
	r = smtpd_restrict_new(conf, NULL, &err);
	conf_free(&conf);
	if (r == NULL)
		return 0;
	static const char *const rcpts[] = {"a@example.com", "b@else.example"};
	for (size_t i = 0; i < 2; i++) {
		struct smtpd_restrict_input in = {
		    .client_addr = "192.0.2.10",
		    .client_name = "unknown",
		    .helo = "mail.client.example",
		    .sender = "someone@client.example",
		    .recipient = rcpts[i],
		    .delimiters = "+",
		    .is_local = is_local,
		    .esmtp = true,
		    .log_id = "FUZZ",
		};
		struct smtpd_verdict v;
		int ret = smtpd_restrict_check(
		    r, SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_RECIPIENT), &in, &v);
		if (ret < 0 && (v.reply.code < 400 || v.reply.code > 599))
			__builtin_trap();
		smtpd_verdict_clear(&v);
	}
	smtpd_restrict_free(&r);
	return 0;
}
