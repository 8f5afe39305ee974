/*
 * fuzz_content_filter - libFuzzer target for the content checks' filter
 * (mta/smtpd-content-filter.c): lines, joined header fields, the MIME
 * structure of a message from the network.
 *
 * Input: byte 0 picks the options (disable_mime_input_processing, the
 * tables in use, small or large limits), byte 1 seeds the chunk split,
 * the rest is the message.  Checks:
 *   - with a check that passes everything on, the output is the input
 *     byte for byte, fed in random chunks (the filter loses, adds or
 *     reorders nothing);
 *   - no key handed to a check holds a LF (header keys no CR either),
 *     and a header key has a ':';
 *   - a second run whose check drops, prepends and stops on some keys
 *     finishes (ASan/UBSan watch memory).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtpd-content.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	struct content_filter *f;
	bool edit;
};

static void check(void *ctx, enum content_table t, const char *key,
		  const char *item, size_t len, struct buf *out)
{
	struct fz *z = ctx;

	/* A body line may hold a bare CR (smtpd_forbid_bare_newline
	 * permitting); header keys have every line end removed. */
	if (strchr(key, '\n') != NULL ||
	    (t != CONTENT_BODY && strchr(key, '\r') != NULL))
		abort();
	if (t != CONTENT_BODY && strchr(key, ':') == NULL)
		abort();
	if (z->edit) {
		size_t n = strlen(key);
		if (n % 5 == 1)
			return; /* IGNORE */
		if (n % 5 == 2)
			buf_append_str(out, "X-Prepended: 1\r\n");
		if (n % 7 == 3)
			content_filter_stop(z->f);
	}
	buf_append(out, item, len);
}

static void run(const struct content_filter_limits *lim, unsigned tables,
		bool edit, const char *msg, size_t len, uint32_t seed,
		struct buf *out)
{
	struct fz z = {.edit = edit};
	struct buf *chunk = buf_new();
	size_t pos = 0;

	z.f = content_filter_new(lim, tables, check, &z);
	while (pos < len) {
		size_t n;
		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % 97;
		if (n > len - pos)
			n = len - pos;
		buf_reset(chunk);
		buf_append(chunk, msg + pos, n);
		content_filter_feed(z.f, chunk);
		buf_append(out, buf_data(chunk), buf_len(chunk));
		pos += n;
	}
	content_filter_end(z.f, out);
	content_filter_free(&z.f);
	buf_free(&chunk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct content_filter_limits lim;
	struct buf *out;
	unsigned tables;

	if (size < 2)
		return 0;
	lim.no_mime = data[0] & 1;
	tables = (data[0] >> 1) & 0xf;
	lim.header_limit = data[0] & 0x20 ? 64 : 102400;
	lim.body_limit = data[0] & 0x40 ? 32 : 51200;
	out = buf_new();
	run(&lim, tables, false, (const char *)data + 2, size - 2, data[1],
	    out);
	if (buf_len(out) != size - 2 ||
	    memcmp(buf_data(out), data + 2, size - 2) != 0)
		abort();
	buf_reset(out);
	run(&lim, tables, true, (const char *)data + 2, size - 2, data[1], out);
	buf_free(&out);
	return 0;
}
