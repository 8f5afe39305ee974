/*
 * fuzz_smtp_reply - libFuzzer target for the SMTP reply parser and
 * builder (lib/smtp/smtp_reply*.c).  The input is a stream of received
 * lines separated by LF (a CR before it is dropped, as io_getline does).
 * Checks: complete replies have a code in 200..559, at least one and at
 * most SMTP_REPLY_PARSE_LINES_MAX lines, an enhanced code that is valid
 * and of the reply's class; and any text put through the builder comes
 * out as exactly one line of at most 512 octets ending in CRLF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parsed(const struct smtp_parsed_reply *r)
{
	size_t n = array_len(r->lines);

	if (r->code < 200 || r->code > 559)
		abort();
	if (n < 1 || n > SMTP_REPLY_PARSE_LINES_MAX)
		abort();
	if (r->enhanced[0] != '\0' &&
	    (!smtp_enhanced_valid(r->enhanced, strlen(r->enhanced)) ||
	     (unsigned)(r->enhanced[0] - '0') != r->code / 100))
		abort();
}

static void check_built(const char *text, size_t len)
{
	struct buf *out = buf_new(), *t = buf_new();
	struct smtp_reply r;
	const char *o;

	buf_append(t, text, len); /* NUL-terminated copy */
	smtp_reply_set(&r, 550, "5.7.1", "%s", buf_data(t));
	smtp_reply_write(&r, out);
	smtp_reply_write_lines(out, 250, NULL, buf_data(t));
	o = buf_data(out);
	/* Every line: "ddd" + [ -] + text, at most 512 with CRLF. */
	for (size_t start = 0; start < buf_len(out);) {
		const char *crlf =
		    memmem(o + start, buf_len(out) - start, "\r\n", 2);
		size_t line_len;

		if (crlf == NULL)
			abort();
		line_len = (size_t)(crlf - (o + start)) + 2;
		if (line_len > SMTP_REPLY_LINE_MAX || line_len < 6)
			abort();
		if (memchr(o + start, '\r', line_len - 2) != NULL ||
		    memchr(o + start, '\n', line_len - 2) != NULL)
			abort();
		start += line_len;
	}
	buf_free(&out);
	buf_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply_parser *p = smtp_reply_parser_new();
	const char *s = (const char *)data;
	size_t pos = 0;

	while (pos < size) {
		const char *nl = memchr(s + pos, '\n', size - pos);
		size_t end = nl != NULL ? (size_t)(nl - s) : size;
		size_t len = end - pos;
		const struct smtp_parsed_reply *r = NULL;
		struct error err;
		int ret;

		if (len > 0 && s[pos + len - 1] == '\r')
			len--;
		ret = smtp_reply_parser_line(p, s + pos, len, &r, &err);
		if (ret == 1)
			check_parsed(r);
		else if (ret != 0 && ret != -1)
			abort();
		pos = end + 1;
	}
	smtp_reply_parser_free(&p);
	check_built(s, size);
	return 0;
}
