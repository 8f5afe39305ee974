/*
 * fuzz_html_sanitize - libFuzzer target for lib/html.  The first byte
 * picks the options, the rest is the HTML.  Besides memory errors it
 * aborts when the output, parsed again, holds a script vector or an
 * element, attribute or URL outside the allow-list, or when sanitising
 * the output again changes it (tests/unit/html/html_check.c: the same
 * checks as the unit test).  html_to_text runs on the input too.
 * gumbo itself is not instrumented (Debian's library): coverage guides
 * through our walker and policy, the parser is exercised blind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/buf.h"
#include "core/error.h"
#include "html/html_sanitize.h"
#include "html_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Option sets whose output is accepted again as it is (a rewrite that is
 * its own fixed point), so idempotence must hold for each. */
static const struct html_sanitize_opts opt_sets[] = {
	{ false, NULL, NULL },
	{ true, html_check_rewrite, NULL },
	{ true, NULL, NULL },
	{ false, NULL, NULL },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct html_sanitize_opts *o;
	struct html_sanitize_info info;
	struct buf *out;
	struct error err;
	const char *in;
	char why[512];

	if (size < 1)
		return 0;
	o = &opt_sets[data[0] & 3];
	in = (const char *)data + 1;
	size--;
	out = buf_new();
	if (html_sanitize(in, size, o, out, &info, &err) < 0) {
		if (err.kind != ERR_PERM)
			abort();
	} else {
		if (html_check_output(buf_data(out), buf_len(out), why,
				      sizeof(why)) < 0) {
			fprintf(stderr, "unsafe: %s\n%s\n", why, buf_data(out));
			abort();
		}
		if (html_check_idempotent(buf_data(out), buf_len(out), o, why,
					  sizeof(why)) < 0) {
			fprintf(stderr, "%s\n%s\n", why, buf_data(out));
			abort();
		}
	}
	buf_reset(out);
	if (html_to_text(in, size, out, &err) < 0 && err.kind != ERR_PERM)
		abort();
	buf_free(&out);
	return 0;
}
