/*
 * fuzz_dkim_sign - libFuzzer target for lib/dkim's own parsing: the
 * relaxed canonicalisation (dkim_canon.c) and signing (dkim_sign.c) of a
 * message an authenticated user wrote.  Besides memory errors it checks
 * that relaxed canonicalisation is a fixed point (canonicalising the
 * canonical body or field again changes nothing) and that the
 * DKIM-Signature field produced reads back as exactly one field.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "dkim/dkim.h"
#include "dkim/dkim_canon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 8463's Ed25519 test key (RFC 8032 7.1). */
static const char pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";

static struct dkim_ctx *ctx;
static struct dkim_secret *secret;

static void check_fixed_point(const char *msg, size_t len)
{
	size_t boff = dkim_body_offset(msg, len);
	struct buf *a = buf_new(), *b = buf_new();
	struct array *fields = dkim_fields(msg, len);

	dkim_canon_body_relaxed(msg + boff, len - boff, a);
	dkim_canon_body_relaxed(buf_data(a), buf_len(a), b);
	if (buf_len(a) != buf_len(b) ||
	    memcmp(buf_data(a), buf_data(b), buf_len(a)) != 0)
		abort();
	for (size_t i = 0; i < array_len(fields); i++) {
		const struct dkim_field *f = array_get(fields, i);
		buf_reset(a);
		buf_reset(b);
		dkim_canon_header_relaxed(f->raw, f->raw_len, false, a);
		dkim_canon_header_relaxed(buf_data(a), buf_len(a), false, b);
		if (buf_len(a) != buf_len(b) ||
		    memcmp(buf_data(a), buf_data(b), buf_len(a)) != 0)
			abort();
	}
	dkim_fields_free(&fields);
	buf_free(&a);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_params p = {.fixed_time = 1528637909};
	struct dkim_sign_key k = {"example.com", "fz", NULL};
	struct buf *out = buf_new();
	struct error err;

	if (ctx == NULL) {
		ctx = dkim_ctx_new(&p, &err);
		secret = dkim_secret_load(DKIM_ED25519_SHA256, pem, &err);
		if (ctx == NULL || secret == NULL)
			abort();
	}
	k.secret = secret;
	check_fixed_point((const char *)data, size);
	if (dkim_sign_msg(ctx, &k, 1, (const char *)data, size, out, &err) < 0)
		abort();
	/* The field alone (plus an empty line) is one DKIM-Signature. */
	buf_append_str(out, "\r\n");
	struct array *f = dkim_fields(buf_data(out), buf_len(out));
	if (array_len(f) != 1 ||
	    ((const struct dkim_field *)array_get(f, 0))->name_len != 14)
		abort();
	dkim_fields_free(&f);
	buf_free(&out);
	return 0;
}
