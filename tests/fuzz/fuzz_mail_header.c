/*
 * fuzz_mail_header - libFuzzer target for lib/mail/header*.c and the
 * decoders: address lists (and their IMAP ENVELOPE form), RFC 2047,
 * dates, base subjects, base64/QP and charset conversion.  Checks that
 * every decoded text is valid UTF-8 and that address entries are
 * well-formed (a group start has a name and no host; a mailbox has both).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_envelope.h"
#include "imap/imap_quote.h"
#include "mail/header.h"
#include "mail/mime_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct buf *out = buf_new();

	struct header_address *list = header_address_parse(s, size, 0);
	for (struct header_address *a = list; a != NULL; a = a->next) {
		if (a->host != NULL && a->mailbox == NULL)
			abort();
	}
	header_address_free(&list);
	imap_envelope_write_addresses(out, s, size, 0);

	buf_reset(out);
	header_decode_2047(s, size, out);
	if (!mime_utf8_valid(buf_data(out), buf_len(out)))
		abort();
	buf_reset(out);
	header_base_subject(s, size, out);
	if (!mime_utf8_valid(buf_data(out), buf_len(out)))
		abort();

	time_t t;
	int tz;
	if (header_date_parse(s, size, &t, &tz) &&
	    (tz < -24 * 60 || tz > 24 * 60))
		abort();

	buf_reset(out);
	mime_base64_decode(s, size, out);
	buf_reset(out);
	mime_qp_decode(s, size, out);
	if (size > 0) {
		/* first line as a charset name */
		char cs[32];
		size_t n = 0;
		while (n < size && n < sizeof(cs) - 1 && s[n] != '\n')
			n++;
		memcpy(cs, s, n);
		cs[n] = '\0';
		buf_reset(out);
		mime_charset_to_utf8(cs, s + n, size - n, out);
		if (!mime_utf8_valid(buf_data(out), buf_len(out)))
			abort();
	}
	buf_reset(out);
	imap_append_string_for_humans(out, s, size, 0);
	buf_reset(out);
	imap_append_astring(out, s, size, IMAP_QUOTE_UTF8);
	buf_free(&out);
	return 0;
}
