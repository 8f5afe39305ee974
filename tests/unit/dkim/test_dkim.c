/*
 * test_dkim - lib/dkim against known vectors and itself:
 *   - RFC 8463 Appendix A: the published message with its Ed25519 and
 *     RSA signatures verifies, and an altered copy fails both;
 *   - re-signing it with the RFC's Ed25519 key gives the RFC's body hash
 *     and a signature its public key verifies;
 *   - data/dkimpy_rsa.eml, signed by dkimpy 1.1.4 (rsa-sha256,
 *     relaxed/relaxed) with data/rsa2048.pem, verifies here;
 *   - our rsa-sha256 signature of data/message.eml at a fixed time has
 *     the body hash and the b= of the one libopendkim 2.11 made when the
 *     vector was recorded (RSA PKCS#1 v1.5 is deterministic; dkimpy
 *     verified that one): our own signer signs exactly what libopendkim
 *     would;
 *   - generated keys of both types sign and verify, From is oversigned,
 *     bare-LF messages sign as CRLF, TXT records are cut at 255 bytes;
 *   - our relaxed canonicalisation (used for Ed25519) on RFC 6376
 *     3.4.5's example, and h= taking repeated fields from the bottom.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "dkim/dkim.h"
#include "dkim/dkim_canon.h"
#include "dkim/dkim_key.h"

static const char rfc8463_msg[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n";
static const char rfc8463_body[] =
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";

/* RFC 8463 A.2 (Ed25519, the RFC 8032 7.1 test key) and RFC 6376's RSA
 * key, as the RFC publishes them. */
static const char rfc_ed_record[] =
    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
static const char rfc_rsa_record[] =
    "v=DKIM1; k=rsa; "
    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a"
    "5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz"
    "1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3"
    "QIDAQAB";
/* PKCS#8 of the RFC's Ed25519 seed nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=
 */
static const char rfc_ed_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";

/* A table of names to records for dkim_key_fn. */
struct zone {
	const char *name[4];
	const char *txt[4];
	int answer; /* for names not listed: 0 none, -1 temporary */
};

static int lookup(void *ctx, const char *qname, struct buf *txt)
{
	const struct zone *z = ctx;

	for (size_t i = 0; i < 4 && z->name[i] != NULL; i++)
		if (strcmp(z->name[i], qname) == 0) {
			buf_append_str(txt, z->txt[i]);
			return 1;
		}
	return z->answer;
}

static char *slurp(const char *rel, size_t *len_r)
{
	const char *src = getenv("POSTERN_SOURCE_DIR");
	char path[1024];
	struct buf *b = buf_new();
	char chunk[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/unit/dkim/data/%s",
		 src != NULL ? src : ".", rel);
	f = fopen(path, "rb");
	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(b, chunk, n);
	fclose(f);
	if (len_r != NULL)
		*len_r = buf_len(b);
	char *s = buf_steal(b);
	buf_free(&b);
	return s;
}

static struct dkim_ctx *ctx_at(int64_t t)
{
	struct dkim_params p = {.fixed_time = t};
	struct error err;
	struct dkim_ctx *d = dkim_ctx_new(&p, &err);

	assert_non_null(d);
	return d;
}

/* Verify msg against zone z: the results, *n_r of them. */
static struct dkim_sig_result *verify(struct dkim_ctx *d, const char *msg,
				      size_t len, const struct zone *z,
				      size_t *n_r)
{
	struct dkim_sig_result *res;
	struct error err;

	if (dkim_verify_msg(d, msg, len, lookup, (void *)z, &res, n_r, &err) <
	    0)
		fail_msg("dkim_verify_msg: %s", err.msg);
	return res;
}

static const struct zone rfc_zone = {
    {"brisbane._domainkey.football.example.com",
     "test._domainkey.football.example.com"},
    {rfc_ed_record, rfc_rsa_record},
    0};

static void test_rfc8463_vector(void **state)
{
	struct dkim_ctx *d = ctx_at(1528637909 + 60);
	struct buf *m = buf_new();
	struct dkim_sig_result *res;
	size_t n;

	buf_append_str(m, rfc8463_msg);
	buf_append_str(m, rfc8463_body);
	res = verify(d, buf_data(m), buf_len(m), &rfc_zone, &n);
	assert_int_equal(n, 2);
	assert_string_equal(res[0].alg, "ed25519-sha256");
	assert_string_equal(res[0].selector, "brisbane");
	assert_string_equal(res[0].domain, "football.example.com");
	assert_int_equal(res[0].result, DKIM_PASS);
	assert_string_equal(res[1].alg, "rsa-sha256");
	assert_int_equal(res[1].result, DKIM_PASS);
	free(res);

	/* The altered copy fails both (a header changed). */
	char *alt = xstrdup(buf_data(m));
	memcpy(strstr(alt, "dinner"), "lunch!", 6);
	res = verify(d, alt, strlen(alt), &rfc_zone, &n);
	assert_int_equal(n, 2);
	assert_int_equal(res[0].result, DKIM_FAIL);
	assert_int_equal(res[1].result, DKIM_FAIL);
	free(res);
	/* And the body. */
	free(alt);
	alt = xstrdup(buf_data(m));
	memcpy(strstr(alt, "hungry"), "angry ", 6);
	res = verify(d, alt, strlen(alt), &rfc_zone, &n);
	assert_int_equal(res[0].result, DKIM_FAIL);
	assert_int_equal(res[1].result, DKIM_FAIL);
	assert_non_null(strstr(res[0].reason, "body hash"));
	free(res);
	free(alt);

	/* No key: permerror; the resolver failing: temperror. */
	struct zone none = {{NULL}, {NULL}, 0}, fail = {{NULL}, {NULL}, -1};
	res = verify(d, buf_data(m), buf_len(m), &none, &n);
	assert_int_equal(res[0].result, DKIM_PERMERROR);
	free(res);
	res = verify(d, buf_data(m), buf_len(m), &fail, &n);
	assert_int_equal(res[0].result, DKIM_TEMPERROR);
	free(res);

	/* Unsigned mail: no results. */
	res = verify(d, rfc8463_body, strlen(rfc8463_body), &rfc_zone, &n);
	assert_int_equal(n, 0);
	free(res);
	buf_free(&m);
	dkim_ctx_free(&d);
}

static void test_rfc8463_resign(void **state)
{
	struct dkim_ctx *d = ctx_at(1528637909);
	struct dkim_secret *sec =
	    dkim_secret_load(DKIM_ED25519_SHA256, rfc_ed_pem, NULL);
	struct dkim_sign_key k = {"football.example.com", "brisbane", sec};
	struct buf *out = buf_new(), *pub = buf_new();
	struct dkim_sig_result *res;
	struct error err;
	size_t n;

	/* The RFC's private key gives the RFC's public key. */
	assert_int_equal(
	    dkim_key_public(DKIM_ED25519_SHA256, rfc_ed_pem, pub, &err), 0);
	assert_string_equal(buf_data(pub),
			    "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	assert_int_equal(dkim_sign_msg(d, &k, 1, rfc8463_body,
				       strlen(rfc8463_body), out, &err),
			 0);
	assert_non_null(strstr(buf_data(out), "a=ed25519-sha256"));
	assert_non_null(strstr(buf_data(out), "c=relaxed/relaxed"));
	assert_non_null(strstr(buf_data(out), "t=1528637909"));
	assert_non_null(strstr(
	    buf_data(out), "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="));
	buf_append_str(out, rfc8463_body);
	res = verify(d, buf_data(out), buf_len(out), &rfc_zone, &n);
	assert_int_equal(n, 1);
	assert_int_equal(res[0].result, DKIM_PASS);
	free(res);
	buf_free(&out);
	buf_free(&pub);
	dkim_secret_free(&sec);
	dkim_ctx_free(&d);
}

/* The signature libopendkim 2.11.0~beta2 (dkim_sign, relaxed/relaxed,
 * its default header list, From oversigned) made of data/message.eml
 * with data/rsa2048.pem at t=1795770000; dkimpy 1.1.4 verified it
 * (dkim.verify() True) and refused an altered copy. */
static const char golden_rsa[] =
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; "
    "s=vec;\r\n"
    "\tt=1795770000; bh=nZUEZtKKbVhcmuizcFGcyEN+VzQi4oRUiwqWloF0GKA=;\r\n"
    "\th=From:To:Subject:Date:Message-ID:MIME-Version:Content-Type:from;\r\n"
    "\tb=dgaQeb7X8voLwet9EmklDOipp4mBMnsuXTohqjHt0CekqOkwXMSkTZ9NOU/NPFSiT\r\n"
    "\t vmpWT0xy05x7NwPNkeKUWUFXJhpAmQ7F7hYX7TpW3Qb9S8pb6i8E2PtZlf8CKyHNbe\r\n"
    "\t OooxWrSmNdLj4OvsDRXZQcUZopErqf8BAzpDm7TVKaTlXxUqO2sqn/Nc3W5T8RvDwP\r\n"
    "\t +exvEt6UHbWmAKGDnlJ6v1r91S1vqJrclQ6osokF278OVqrurQRLsRi24aqDcq3hfP\r\n"
    "\t RajJXTRO+O0TJfGR6m968mWTCZAC6y1yWX4AVV+wdZuqtpnUXFwOE45/xIAge96rGZ\r\n"
    "\t R3ZP99zE0tH6w==\r\n";

/* The value of tag ("b=") in a DKIM-Signature field, blanks removed. */
static void tag_value(const char *field, const char *tag, struct buf *out)
{
	const char *p = field;
	size_t tl = strlen(tag);

	/* A tag starts after ';' or the field name, past blanks. */
	while ((p = strstr(p, tag)) != NULL) {
		const char *q = p;
		while (q > field && strchr(" \t\r\n", q[-1]) != NULL)
			q--;
		if (q > field && (q[-1] == ';' || q[-1] == ':'))
			break;
		p += tl;
	}
	assert_non_null(p);
	for (p += tl; *p != '\0' && *p != ';'; p++)
		if (strchr(" \t\r\n", *p) == NULL)
			buf_append_char(out, *p);
}

static void rsa_record(struct buf *rec)
{
	char *pub = slurp("rsa2048.pub", NULL);
	struct buf *p = buf_new_str(pub);

	buf_truncate(p, strcspn(pub, "\r\n"));
	dkim_key_record(DKIM_RSA_SHA256, buf_data(p), rec);
	buf_free(&p);
	free(pub);
}

static void test_rsa_vectors(void **state)
{
	struct dkim_ctx *d = ctx_at(1795770000);
	struct buf *rec = buf_new(), *out = buf_new();
	size_t len, n;
	char *msg = slurp("dkimpy_rsa.eml", &len);
	char *plain = slurp("message.eml", NULL);
	char *pem = slurp("rsa2048.pem", NULL);
	struct dkim_sig_result *res;
	struct error err;

	rsa_record(rec);
	struct zone z = {
	    {"py._domainkey.example.org", "vec._domainkey.example.org"},
	    {buf_data(rec), buf_data(rec)},
	    0};
	/* dkimpy's signature verifies here. */
	res = verify(d, msg, len, &z, &n);
	assert_int_equal(n, 1);
	assert_int_equal(res[0].result, DKIM_PASS);
	free(res);

	/* Ours is the recorded one, byte for byte. */
	struct dkim_secret *sec = dkim_secret_load(DKIM_RSA_SHA256, pem, &err);
	assert_non_null(sec);
	struct dkim_sign_key k = {"example.org", "vec", sec};
	assert_int_equal(
	    dkim_sign_msg(d, &k, 1, plain, strlen(plain), out, &err), 0);
	if (getenv("DKIM_PRINT_GOLDEN") != NULL)
		fwrite(buf_data(out), 1, buf_len(out), stdout);
	/* Our layout folds elsewhere, but the signature is the same. */
	struct buf *b1 = buf_new(), *b2 = buf_new();
	tag_value(golden_rsa, "bh=", b1);
	tag_value(buf_data(out), "bh=", b2);
	assert_string_equal(buf_data(b1), buf_data(b2));
	buf_reset(b1);
	buf_reset(b2);
	tag_value(golden_rsa, "b=", b1);
	tag_value(buf_data(out), "b=", b2);
	assert_int_equal(buf_len(b1), 344);
	assert_string_equal(buf_data(b1), buf_data(b2));
	buf_free(&b1);
	buf_free(&b2);
	buf_append_str(out, plain);
	res = verify(d, buf_data(out), buf_len(out), &z, &n);
	assert_int_equal(res[0].result, DKIM_PASS);
	free(res);
	dkim_secret_free(&sec);
	free(msg);
	free(plain);
	free(pem);
	buf_free(&rec);
	buf_free(&out);
	dkim_ctx_free(&d);
}

static void test_generated_keys(void **state)
{
	struct dkim_ctx *d = ctx_at(0);
	struct buf *priv[2], *pub[2], *rec[2], *out = buf_new();
	struct dkim_sig_result *res;
	struct error err;
	size_t n;
	/* Bare LF, as some queue files hold; a second From is not there. */
	const char *msg = "From: a@example.com\nTo: b@example.net\n"
			  "Subject: hi\n\nbody\n";

	for (int a = 0; a < 2; a++) {
		priv[a] = buf_new();
		pub[a] = buf_new();
		rec[a] = buf_new();
		assert_int_equal(
		    dkim_key_generate((enum dkim_alg)a, priv[a], pub[a], &err),
		    0);
		dkim_key_record((enum dkim_alg)a, buf_data(pub[a]), rec[a]);
		/* The stored PEM gives the same public key back. */
		struct buf *again = buf_new();
		assert_int_equal(dkim_key_public((enum dkim_alg)a,
						 buf_data(priv[a]), again,
						 &err),
				 0);
		assert_string_equal(buf_data(again), buf_data(pub[a]));
		buf_free(&again);
	}
	/* The wrong type is refused. */
	assert_int_equal(
	    dkim_key_public(DKIM_RSA_SHA256, buf_data(priv[1]), out, &err), -1);
	buf_reset(out);
	assert_int_equal(strlen(buf_data(pub[1])), 44); /* 32 bytes */
	struct dkim_secret *sec[2] = {
	    dkim_secret_load(DKIM_RSA_SHA256, buf_data(priv[0]), &err),
	    dkim_secret_load(DKIM_ED25519_SHA256, buf_data(priv[1]), &err)};
	assert_non_null(sec[0]);
	assert_non_null(sec[1]);
	/* The wrong type or junk does not load. */
	assert_null(
	    dkim_secret_load(DKIM_ED25519_SHA256, buf_data(priv[0]), &err));
	assert_null(dkim_secret_load(DKIM_RSA_SHA256,
				     "-----BEGIN PRIVATE KEY-----\nAAAA\n"
				     "-----END PRIVATE KEY-----\n",
				     &err));
	struct dkim_sign_key keys[2] = {
	    {"example.com", "r1", sec[0]},
	    {"example.com", "e1", sec[1]},
	};
	assert_int_equal(dkim_sign_msg(d, keys, 2, msg, strlen(msg), out, &err),
			 0);
	/* Two fields, LF line ends like the message, From oversigned. */
	assert_null(strchr(buf_data(out), '\r'));
	assert_non_null(strstr(buf_data(out), "a=rsa-sha256"));
	assert_non_null(strstr(buf_data(out), "a=ed25519-sha256"));
	assert_non_null(strstr(buf_data(out), "h=From:To:Subject:from;"));
	struct buf *signed_msg = buf_new_str(buf_data(out));
	buf_append_str(signed_msg, msg);
	struct zone z = {
	    {"r1._domainkey.example.com", "e1._domainkey.example.com"},
	    {buf_data(rec[0]), buf_data(rec[1])},
	    0};
	res = verify(d, buf_data(signed_msg), buf_len(signed_msg), &z, &n);
	assert_int_equal(n, 2);
	assert_int_equal(res[0].result, DKIM_PASS);
	assert_int_equal(res[1].result, DKIM_PASS);
	free(res);
	/* The same bytes with CRLF still pass (what the peer stores). */
	struct buf *crlf = buf_new();
	for (size_t i = 0; i < buf_len(signed_msg); i++) {
		if (buf_data(signed_msg)[i] == '\n')
			buf_append_char(crlf, '\r');
		buf_append_char(crlf, buf_data(signed_msg)[i]);
	}
	res = verify(d, buf_data(crlf), buf_len(crlf), &z, &n);
	assert_int_equal(res[0].result, DKIM_PASS);
	assert_int_equal(res[1].result, DKIM_PASS);
	free(res);
	/* A From added on top breaks both (oversigning). */
	struct buf *evil = buf_new_str("From: ceo@example.com\n");
	buf_append(evil, buf_data(signed_msg), buf_len(signed_msg));
	res = verify(d, buf_data(evil), buf_len(evil), &z, &n);
	assert_int_equal(res[0].result, DKIM_FAIL);
	assert_int_equal(res[1].result, DKIM_FAIL);
	free(res);
	for (int a = 0; a < 2; a++) {
		dkim_secret_free(&sec[a]);
		buf_free(&priv[a]);
		buf_free(&pub[a]);
		buf_free(&rec[a]);
	}
	buf_free(&crlf);
	buf_free(&evil);
	buf_free(&signed_msg);
	buf_free(&out);
	dkim_ctx_free(&d);
}

static void test_zone_line(void **state)
{
	struct buf *line = buf_new(), *pub = buf_new();
	char big[400];

	dkim_key_zone_line(
	    "example.com", "ed-1", DKIM_ED25519_SHA256,
	    "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", line);
	assert_string_equal(
	    buf_data(line),
	    "ed-1._domainkey.example.com. IN TXT \"v=DKIM1; "
	    "k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaP"
	    "cHURo=\"");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_reset(line);
	dkim_key_zone_line("example.com", "r", DKIM_RSA_SHA256, big, line);
	/* "v=DKIM1; k=rsa; p=" + 399 = 417 bytes: 255 + 162. */
	const char *q1 = strchr(buf_data(line), '"');
	const char *q2 = strchr(q1 + 1, '"');
	assert_int_equal(q2 - q1 - 1, 255);
	assert_int_equal(strlen(q2 + 3) - 1, 162);
	assert_int_equal(dkim_alg_parse("ed25519", &(enum dkim_alg){0}), 0);
	assert_int_equal(dkim_alg_parse("dsa", &(enum dkim_alg){0}), -1);
	buf_free(&line);
	buf_free(&pub);
}

static void test_canon(void **state)
{
	/* RFC 6376 3.4.5. */
	const char *msg = "A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n"
			  " C \r\nD \t E\r\n\r\n\r\n";
	struct buf *out = buf_new();
	size_t boff = dkim_body_offset(msg, strlen(msg));
	struct array *fields = dkim_fields(msg, strlen(msg));

	assert_int_equal(array_len(fields), 2);
	for (size_t i = 0; i < 2; i++) {
		const struct dkim_field *f = array_get(fields, i);
		dkim_canon_header_relaxed(f->raw, f->raw_len, true, out);
	}
	assert_string_equal(buf_data(out), "a:X\r\nb:Y Z\r\n");
	buf_reset(out);
	dkim_canon_body_relaxed(msg + boff, strlen(msg) - boff, out);
	assert_string_equal(buf_data(out), " C\r\nD E\r\n");
	dkim_fields_free(&fields);
	/* Bare LF, no final line end, an empty body. */
	buf_reset(out);
	dkim_canon_body_relaxed("a  b \nc", 7, out);
	assert_string_equal(buf_data(out), "a b\r\nc\r\n");
	buf_reset(out);
	dkim_canon_body_relaxed("\r\n\r\n", 4, out);
	assert_int_equal(buf_len(out), 0);
	assert_int_equal(dkim_body_offset("A: b\n\nbody", 11), 6);
	assert_int_equal(dkim_body_offset("A: b\r\n", 6), 6);
	/* Repeated fields are taken from the bottom, once each. */
	const char *rep = "X: 1\r\nY: a\r\nX: 2\r\n\r\n";
	fields = dkim_fields(rep, strlen(rep));
	struct dkim_field *f = dkim_select(fields, "x", 1);
	assert_non_null(f);
	assert_memory_equal(f->raw, "X: 2", 4);
	f = dkim_select(fields, "X", 1);
	assert_memory_equal(f->raw, "X: 1", 4);
	assert_null(dkim_select(fields, "x", 1));
	dkim_fields_free(&fields);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc8463_vector),
	    cmocka_unit_test(test_rfc8463_resign),
	    cmocka_unit_test(test_rsa_vectors),
	    cmocka_unit_test(test_generated_keys),
	    cmocka_unit_test(test_zone_line),
	    cmocka_unit_test(test_canon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
