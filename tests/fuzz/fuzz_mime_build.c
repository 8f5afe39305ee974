/*
 * fuzz_mime_build - libFuzzer target for the MIME writer: the input is
 * cut at NUL bytes into fields (subject, display names, addresses, text,
 * html, file name, content type, attachment data); mime_build writes a
 * message, our parser reads it back and every field and part must come
 * back as mime_build promises (tests/unit/mail/mime_build_check.h), the
 * line ends be CRLF and the header 7-bit with lines under 998 octets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/mail/mime_build_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFIELDS 9

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	char *copy = malloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	const char *f[NFIELDS];
	size_t flen[NFIELDS];
	size_t pos = 0, blen = 0;
	for (int i = 0; i < NFIELDS; i++) {
		if (pos > size) {
			f[i] = "";
			flen[i] = 0;
			continue;
		}
		f[i] = copy + pos;
		flen[i] = strlen(f[i]);
		/* The last field is binary: everything after the 8th NUL. */
		if (i == NFIELDS - 1)
			blen = size - pos;
		pos += flen[i] + 1;
	}

	/* Addresses must be valid for mime_build to write anything; an
	 * invalid one must be refused, not written. */
	struct mime_build_addr to[] = {{f[1], f[2]}, {f[0], "x@example.net"}};
	struct mime_build_part part = {f[7], f[6], f[8], blen,
				       flen[7] & 1, NULL};
	struct mime_build_part parts[] = {part, part};
	parts[1].content_type = "message/rfc822";
	struct mime_build_msg m = {
		.from = {f[1], "me@example.org"},
		.to = to,
		.nto = 2,
		.cc = to + 1,
		.ncc = flen[0] & 1,
		.bcc = to,
		.nbcc = flen[1] & 1,
		.subject = f[0],
		.text = f[3],
		.text_len = flen[3],
		.html = flen[4] > 0 ? f[4] : NULL,
		.html_len = flen[4],
		.in_reply_to = f[5],
		.references = f[5],
		.parts = parts,
		.nparts = size % 3,
	};
	struct buf *out = buf_new();
	struct error err;
	struct mail_address ma;
	bool valid = address_parse_mailbox(f[2], flen[2], ADDRESS_IDN, &ma,
					   NULL) == 0;
	if (valid)
		address_clear(&ma);
	int r = mime_build(&m, out, NULL, &err);
	if (r != (valid ? 0 : -1))
		abort();
	if (r == 0 && mbc_check(&m, buf_data(out), buf_len(out)) != NULL)
		abort();
	if (r < 0 && buf_len(out) != 0)
		abort();
	buf_free(&out);
	free(copy);
	return 0;
}
