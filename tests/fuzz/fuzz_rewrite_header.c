/*
 * fuzz_rewrite_header - libFuzzer target for lib/rewrite's header
 * address rewriting (rewrite_header_block, so rewrite_header_field and
 * its address-list splitter): the message header a client sends.
 * Checks: with nothing that can change an address (no tables,
 * append_at_myorigin = no) the output is the input byte for byte; with
 * canonical maps and masquerading in every mode, the part after the
 * header (the body) is never changed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "rewrite/rewrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rewrite *open_rw(const char *text)
{
	struct error err;
	struct conf *conf = conf_load_string("/nonexistent", "fuzz", text, &err);
	struct rewrite *rw;

	if (conf == NULL)
		abort();
	rw = rewrite_new(conf, NULL, &err);
	if (rw == NULL)
		abort();
	conf_free(&conf); /* rewrite_new keeps no pointer into it */
	return rw;
}

static size_t header_end(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] == '\n' && s[i + 1] == '\n')
			return i + 2;
		if (s[i] == '\n' && s[i + 1] == '\r' && i + 2 < len &&
		    s[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rewrite *identity, *busy;
	const char *s = (const char *)data;
	struct buf *out = buf_new();
	struct error err;

	if (identity == NULL) {
		identity = open_rw("append_at_myorigin = no\n");
		busy = open_rw(
		    "myhostname = mail.example.com\n"
		    "canonical_maps = inline:{ joe=joe.user, "
		    "@old.example=@new.example, a@b.example=x+y@c.example }\n"
		    "smtp_generic_maps = inline:{ @example.com=@isp.example }\n"
		    "masquerade_domains = !keep.example.com, example.com\n"
		    "masquerade_exceptions = root\n");
	}
	if (rewrite_header_block(identity, REWRITE_MODE_LOCAL, NULL, s, size,
				 out, &err) != 0 ||
	    buf_len(out) != size || memcmp(buf_data(out), s, size) != 0)
		abort();
	for (int mode = REWRITE_MODE_LOCAL; mode <= REWRITE_MODE_GENERIC;
	     mode++) {
		size_t body = header_end(s, size);

		buf_reset(out);
		if (rewrite_header_block(busy, (enum rewrite_mode)mode,
					 "remote.example", s, size, out,
					 &err) < 0)
			abort();
		/* The body (after the first empty line) is copied as is. */
		if (body < size &&
		    (buf_len(out) < size - body ||
		     memcmp(buf_data(out) + buf_len(out) - (size - body),
			    s + body, size - body) != 0))
			abort();
	}
	buf_free(&out);
	return 0;
}
