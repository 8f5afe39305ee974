/*
 * fuzz_authres - libFuzzer target for the parsers of sender
 * authentication (mta/smtpd-authres.h) that read what a remote party
 * wrote: DMARC TXT records, the authserv-id of incoming
 * Authentication-Results fields, their removal from a message header,
 * and the DKIM-Signature b= tags.
 *
 * Input: the whole buffer is each parser's input in turn.  Checks:
 *   - a parsed DMARC record holds valid values (policies in range, pct
 *     0..100);
 *   - removing our fields only removes bytes (the output is never
 *     longer) and a second pass removes nothing more;
 *   - formatting a result built from the input (values with quotes,
 *     control characters) gives one field: no bare line break in it but
 *     the folding CRLF + TAB we write.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtpd-authres.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct dmarc_record r;
	struct buf *out = buf_new(), *again = buf_new();
	char b[4][9];
	size_t n;

	if (dmarc_record_parse(p, size, &r) == 1 &&
	    (r.p > DMARC_POLICY_REJECT || r.sp > DMARC_POLICY_REJECT ||
	     r.pct > 100))
		abort();
	(void)authres_field_is_ours(p, size, "mx.example");
	n = authres_strip_ours(p, size, "mx.example", out);
	if (buf_len(out) > size || (n == 0 && buf_len(out) != size))
		abort();
	if (authres_strip_ours(buf_data(out), buf_len(out), "mx.example",
			       again) != 0 ||
	    buf_len(again) != buf_len(out))
		abort();
	(void)authres_dkim_b_tags(p, size, b, 4);

	/* A value from the input (up to its first NUL). */
	char *v = strndup(p, size > 200 ? 200 : size);
	struct authres_dkim sig = {.result = DKIM_FAIL};
	strncpy(sig.reason, v, sizeof(sig.reason) - 1);
	strncpy(sig.domain, v, sizeof(sig.domain) - 1);
	struct authres_result res = {
	    .spf_identity = "mailfrom",
	    .spf_value = v,
	    .spf = AUTHRES_SPF_PASS,
	    .dkim_checked = true,
	    .sigs = &sig,
	    .nsigs = 1,
	    .dmarc_checked = true,
	    .from_domain = v,
	};
	buf_reset(out);
	authres_format(out, "mx.example", &res);
	const char *f = buf_data(out);
	for (size_t i = 0; i < buf_len(out); i++) {
		if (f[i] == '\n' && (i == 0 || f[i - 1] != '\r'))
			abort();
		if (f[i] == '\r' && (i + 1 >= buf_len(out) || f[i + 1] != '\n'))
			abort();
		if (f[i] == '\n' && i + 1 < buf_len(out) && f[i + 1] != '\t')
			abort();
	}
	free(v);
	buf_free(&out);
	buf_free(&again);
	return 0;
}
