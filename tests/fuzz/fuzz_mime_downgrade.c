/*
 * fuzz_mime_downgrade - libFuzzer target for the 8-bit to 7-bit
 * conversion done before sending to a peer without 8BITMIME.  Besides
 * memory errors it asserts the contract through the check shared with
 * the unit test (tests/unit/mail/mime_downgrade_check.h): the output is
 * 7-bit, its lines are at most 998 characters when the input's were, it
 * has the same MIME tree, and every part decodes to the bytes the input
 * part decoded to.  A failure must be ERR_PERM and only for 8-bit input;
 * 7-bit input comes back unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/mail/mime_downgrade_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct buf *out = buf_new();
	struct error err;

	if (mime_downgrade_7bit(in, size, out, &err) < 0) {
		if (err.kind != ERR_PERM || !mime_is_8bit(in, size))
			abort();
		buf_free(&out);
		return 0;
	}
	if (!mime_is_8bit(in, size) &&
	    (buf_len(out) != size || memcmp(buf_data(out), in, size) != 0))
		abort();
	const char *why = mdc_check(in, size, buf_data(out), buf_len(out));
	if (why != NULL) {
		fprintf(stderr, "mime_downgrade: %s\n", why);
		abort();
	}
	buf_free(&out);
	return 0;
}
