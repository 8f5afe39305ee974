/*
 * fuzz_mime - libFuzzer target for the MIME parser and everything built on
 * it: BODY/BODYSTRUCTURE/ENVELOPE writers, section lookups with CRLF
 * copies and partial windows, transfer decoding, text extraction and the
 * preview.  Besides memory errors it checks the invariants IMAP relies on:
 * every range lies inside the message and inside its parent, virtual
 * sizes equal the CRLF conversion of the physical bytes, the preview is
 * valid UTF-8 of at most 200 characters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap_bodystructure.h"
#include "imap/imap_envelope.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mail/mime_decode.h"
#include "mail/preview.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct mime_message *m, const struct mime_part *p,
		  struct buf *tmp, unsigned int *count)
{
	const char *d = mime_data(m);
	size_t len = mime_size(m);
	for (; p != NULL; p = p->next) {
		(*count)++;
		if (p->header.phys_off + p->header.phys_size > p->body.phys_off ||
		    p->body.phys_off + p->body.phys_size > len)
			abort();
		if (p->body.virt_size !=
			    mime_virtual_len(d + p->body.phys_off,
					     p->body.phys_size) ||
		    p->header.virt_size !=
			    mime_virtual_len(d + p->header.phys_off,
					     p->header.phys_size))
			abort();
		if (p->parent != NULL &&
		    (p->header.phys_off < p->parent->body.phys_off ||
		     p->body.phys_off + p->body.phys_size >
			     p->parent->body.phys_off +
				     p->parent->body.phys_size))
			abort();
		buf_reset(tmp);
		enum mime_cte cte = mime_cte_parse(p->encoding);
		(void)mime_decode_cte(cte, d + p->body.phys_off,
				      p->body.phys_size, tmp);
		check(m, p->children, tmp, count);
	}
}

static void sections(const struct mime_message *m, const uint8_t *spec,
		     size_t n, struct buf *out)
{
	unsigned int nums[8];
	size_t count = 0;
	for (size_t i = 0; i < n && count < 8; i++)
		nums[count++] = spec[i] % 5;
	for (int kind = MIME_SECTION_ALL; kind <= MIME_SECTION_MIME; kind++) {
		struct mime_section sec;
		struct error err;
		for (size_t c = 0; c <= count; c++) {
			if (mime_section_lookup(m, nums, c,
						(enum mime_section_kind)kind,
						&sec, &err) != 1)
				continue;
			buf_reset(out);
			uint64_t w = mime_copy_crlf(mime_data(m),
						    sec.range.phys_off,
						    sec.range.phys_size, 0,
						    UINT64_MAX, out);
			if (w != sec.range.virt_size || buf_len(out) != w)
				abort();
			struct buf *part = buf_new();
			uint64_t start = n > 0 ? spec[0] : 0;
			uint64_t cnt = n > 1 ? spec[1] : 7;
			mime_copy_crlf(mime_data(m), sec.range.phys_off,
				       sec.range.phys_size, start, cnt, part);
			if (start < w &&
			    memcmp(buf_data(part), buf_data(out) + start,
				   buf_len(part)) != 0)
				abort();
			buf_free(&part);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_message *m = mime_parse((const char *)data, size);
	struct buf *out = buf_new(), *tmp = buf_new();
	unsigned int count = 0;

	check(m, mime_root(m), tmp, &count);
	if (count != mime_part_count(m) || count > MIME_MAX_PARTS)
		abort();
	if (mime_virtual_size(m) != mime_virtual_len((const char *)data, size))
		abort();
	imap_bodystructure_write(out, m, NULL, true, 0);
	buf_reset(out);
	imap_bodystructure_write(out, m, NULL, false, 0);
	buf_reset(out);
	imap_envelope_write_message(out, m, 0);
	sections(m, data, size < 4 ? size : 4, out);

	buf_reset(out);
	mail_preview(m, out);
	if (!mime_utf8_valid(buf_data(out), buf_len(out)))
		abort();
	buf_reset(out);
	mail_text_extract(m, 4096, out);
	if (!mime_utf8_valid(buf_data(out), buf_len(out)) ||
	    buf_len(out) > 4096)
		abort();
	const struct mime_part *root = mime_root(m);
	const char *names[] = {"subject", "from"};
	buf_reset(out);
	header_fields_extract(mime_data(m) + root->header.phys_off,
			      root->header.phys_size, names, 2,
			      size > 0 && data[0] & 1, out);
	mime_message_free(&m);
	buf_free(&out);
	buf_free(&tmp);
	return 0;
}
