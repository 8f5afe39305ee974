/* test_mime_build - the MIME writer, checked by round trips through our
 * own parser and decoders (mime_build_check.h) and by the shape of the
 * output (folding, encoded words, line lengths). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mime_build_check.h"

static struct buf *build(const struct mime_build_msg *m,
			 struct mime_build_result *res)
{
	struct buf *out = buf_new();
	struct error err;
	assert_int_equal(mime_build(m, out, res, &err), 0);
	const char *why = mbc_check(m, buf_data(out), buf_len(out));
	if (why != NULL)
		fail_msg("round trip: %s\n%s", why, buf_data(out));
	return out;
}

/* Longest line of the header block (or of everything). */
static size_t longest_line(const char *d, bool header_only)
{
	size_t max = 0, cur = 0;
	for (const char *p = d; *p; p++) {
		if (*p == '\n') {
			if (header_only && cur <= 1)
				break;
			if (cur - 1 > max)
				max = cur - 1;
			cur = 0;
		} else {
			cur++;
		}
	}
	return max;
}

static void test_simple(void **state)
{
	(void)state;
	struct mime_build_addr to[] = {{"Bob", "bob@example.net"},
				       {NULL, "carol@example.net"}};
	struct mime_build_msg m = {
		.from = {"Alice Example", "alice@example.org"},
		.to = to,
		.nto = 2,
		.subject = "Hello world",
		.date = 1800000000,
		.in_reply_to = "<x1@example.net>",
		.references = "<x0@example.net> <x1@example.net>",
		.text = "Hi Bob,\nsee you.\n",
		.text_len = 17,
	};
	struct mime_build_result res;
	struct buf *out = build(&m, &res);
	const char *d = buf_data(out);
	assert_non_null(strstr(d, "\r\nSubject: Hello world\r\n"));
	assert_non_null(strstr(d, "From: \"Alice Example\" <alice@example.org>\r\n"));
	assert_non_null(strstr(d, "To: \"Bob\" <bob@example.net>, carol@example.net\r\n"));
	assert_non_null(strstr(d, "In-Reply-To: <x1@example.net>\r\n"));
	assert_non_null(strstr(d, "References: <x0@example.net> <x1@example.net>\r\n"));
	assert_non_null(strstr(d, "Content-Transfer-Encoding: 7bit\r\n\r\nHi Bob,\r\nsee you.\r\n"));
	assert_non_null(strstr(d, "MIME-Version: 1.0\r\n"));
	assert_false(res.eightbit);
	/* Message-ID: random local part at the sender's domain. */
	assert_true(res.message_id[0] == '<');
	assert_non_null(strstr(res.message_id, "@example.org>"));
	assert_non_null(strstr(d, res.message_id));
	struct mime_build_result res2;
	struct buf *out2 = build(&m, &res2);
	assert_string_not_equal(res.message_id, res2.message_id);
	buf_free(&out2);
	buf_free(&out);
}

static void test_encoded_words(void **state)
{
	(void)state;
	/* Emoji (4 bytes) and accents: words must never split them. */
	char subject[2048] = "Grüße aus Köln ";
	for (int i = 0; i < 40; i++)
		strcat(subject, "😀é ");
	strcat(subject, "fin");
	struct mime_build_addr to[] = {{"Jürgen Müller", "juergen@example.net"},
				       {"\"Quoted\" \\ Name", "q@example.net"},
				       {"=?utf-8?Q?fake?=", "f@example.net"},
				       {"  spaced  ", "s@b\xc3\xbc" "cher.example"}};
	struct mime_build_msg m = {
		.from = {"Zoë", "zoe@example.org"},
		.to = to,
		.nto = 4,
		.subject = subject,
		.text = "x",
		.text_len = 1,
	};
	struct buf *out = build(&m, NULL);
	const char *d = buf_data(out);
	assert_true(longest_line(d, true) <= 76);
	assert_non_null(strstr(d, "s@xn--bcher-kva.example"));
	assert_non_null(strstr(d, "\"\\\"Quoted\\\" \\\\ Name\" <q@example.net>"));
	/* Every encoded word decodes alone to valid UTF-8. */
	const char *p = d;
	int words = 0;
	while ((p = strstr(p, "=?utf-8?")) != NULL) {
		const char *e = strstr(p + 10, "?=");
		assert_non_null(e);
		assert_true(e + 2 - p <= 75);
		struct buf *one = buf_new();
		struct buf *dec = buf_new();
		buf_append(one, p, (size_t)(e + 2 - p));
		header_decode_2047(buf_data(one), buf_len(one), dec);
		assert_true(mime_utf8_valid(buf_data(dec), buf_len(dec)));
		assert_null(strstr(buf_data(dec), "\xef\xbf\xbd"));
		buf_free(&one);
		buf_free(&dec);
		words++;
		p = e + 2;
	}
	assert_true(words > 5);
	buf_free(&out);
}

static void test_subject_forms(void **state)
{
	(void)state;
	const char *subjects[] = {
		"",
		" leading blank",
		"trailing blank ",
		"tab\tinside",
		"two  blanks",
		"looks =?encoded?= but is not",
		"Injected\r\nBcc: evil@example.com",
		"bad utf-8 \xff\xfe here",
		"a very long ASCII subject that goes on and on over the line "
		"limit so that it has to be folded at one of its blanks, "
		"twice even, to fit in seventy-eight columns per line",
	};
	for (size_t i = 0; i < sizeof(subjects) / sizeof(*subjects); i++) {
		struct mime_build_msg m = {
			.from = {NULL, "a@example.org"},
			.subject = subjects[i],
		};
		struct buf *out = build(&m, NULL);
		assert_true(longest_line(buf_data(out), true) <= 78);
		assert_null(strstr(buf_data(out), "\nBcc:"));
		buf_free(&out);
	}
	/* A word longer than a line but under 998: kept plain. */
	char longword[600];
	memset(longword, 'x', sizeof(longword) - 1);
	longword[sizeof(longword) - 1] = '\0';
	struct mime_build_msg m = {.from = {NULL, "a@example.org"},
				   .subject = longword};
	struct buf *out = build(&m, NULL);
	assert_null(strstr(buf_data(out), "=?utf-8"));
	buf_free(&out);
}

static void test_address_list_folding(void **state)
{
	(void)state;
	struct mime_build_addr to[30];
	char names[30][32], addrs[30][40];
	for (int i = 0; i < 30; i++) {
		snprintf(names[i], sizeof(names[i]), "Person Number %d", i);
		snprintf(addrs[i], sizeof(addrs[i]), "person%d@example.net", i);
		to[i] = (struct mime_build_addr){names[i], addrs[i]};
	}
	struct mime_build_msg m = {.from = {NULL, "a@example.org"},
				   .to = to, .nto = 30, .cc = to, .ncc = 3,
				   .subject = "many"};
	struct buf *out = build(&m, NULL);
	assert_true(longest_line(buf_data(out), true) <= 78);
	buf_free(&out);
}

static void test_bad_address(void **state)
{
	(void)state;
	struct mime_build_addr to[] = {{"Ok", "ok@example.net"},
				       {"Bad", "not an address"}};
	struct mime_build_msg m = {.from = {NULL, "a@example.org"},
				   .to = to, .nto = 2};
	struct buf *out = buf_new();
	struct error err;
	assert_int_equal(mime_build(&m, out, NULL, &err), -1);
	assert_string_equal(err.code, MIME_BUILD_ERR_INVALID);
	assert_true(strncmp(err.msg, "To: ", 4) == 0);
	assert_int_equal(buf_len(out), 0);
	buf_free(&out);
}

static void test_quoted_printable(void **state)
{
	(void)state;
	struct buf *t = buf_new();
	buf_append_str(t, "Line with trailing blanks  \n");
	buf_append_str(t, "From the start\n.\n");
	for (int i = 0; i < 50; i++)
		buf_append_str(t, "Größe ");
	buf_append_str(t, "\nequals = sign and tab\t\n");
	for (int i = 0; i < 300; i++)
		buf_append_char(t, 'z');
	buf_append_str(t, "\r\nlone\rCR and end blank ");
	struct mime_build_msg m = {.from = {NULL, "a@example.org"},
				   .subject = "qp",
				   .text = buf_data(t), .text_len = buf_len(t)};
	struct buf *out = build(&m, NULL);
	const char *d = buf_data(out);
	assert_non_null(strstr(d, "quoted-printable"));
	assert_true(longest_line(d, false) <= 76);
	assert_non_null(strstr(d, "\r\n=46rom the start\r\n=2E\r\n"));
	assert_non_null(strstr(d, "blanks =20\r\n"));
	buf_free(&out);

	/* Plain ASCII with a long line is QP too (7bit needs <= 998). */
	buf_reset(t);
	for (int i = 0; i < 1200; i++)
		buf_append_char(t, 'a');
	m.text = buf_data(t);
	m.text_len = buf_len(t);
	out = build(&m, NULL);
	assert_non_null(strstr(buf_data(out), "quoted-printable"));
	buf_free(&out);
	buf_free(&t);
}

static void test_attachments(void **state)
{
	(void)state;
	unsigned char bin[10000];
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7 + (i >> 8));
	const char *inner = "From: x@example.net\nSubject: inner ü\n\nbody 8-bit ü\n";
	char nul_msg[] = "Subject: has NUL\n\nab\0cd\n";
	struct mime_build_part parts[] = {
		{"application/octet-stream", "data.bin", bin, sizeof(bin), false, NULL},
		{"Image/PNG", "Ein sehr langer Dateiname mit Umlauten äöü und "
			      "noch mehr Text damit es fortgesetzt wird.png",
		 bin, 100, true, "img1@example.org"},
		{"message/rfc822", "forwarded.eml", inner, strlen(inner), false, NULL},
		{"message/rfc822", NULL, nul_msg, sizeof(nul_msg) - 1, false, NULL},
		{"bad type", "x \"quoted\".txt", "x", 1, false, NULL},
		{"text/plain", "", "", 0, false, NULL},
	};
	struct mime_build_msg m = {
		.from = {"A", "a@example.org"},
		.subject = "files",
		.text = "see attached",
		.text_len = 12,
		.html = "<p>see <b>attached</b></p>",
		.html_len = 26,
		.parts = parts,
		.nparts = 6,
	};
	struct mime_build_result res;
	struct buf *out = build(&m, &res);
	const char *d = buf_data(out);
	assert_true(res.eightbit);
	assert_non_null(strstr(d, "multipart/alternative"));
	assert_non_null(strstr(d, "Content-Type: image/png"));
	assert_non_null(strstr(d, "filename*0*=utf-8''Ein"));
	assert_non_null(strstr(d, "filename*1*="));
	assert_non_null(strstr(d, "Content-ID: <img1@example.org>"));
	assert_non_null(strstr(d, "Content-Type: application/octet-stream;\r\n name*=utf-8''x%20%22quoted%22.txt"));
	assert_non_null(strstr(d, "Content-Transfer-Encoding: 8bit\r\n\r\nFrom: x@example.net\r\n"));
	/* Base64 lines are 76 columns. */
	const char *b = strstr(d, "filename=\"data.bin\"");
	assert_non_null(b);
	b = strstr(b, "\r\n\r\n") + 4;
	assert_int_equal(strchr(b, '\r') - b, 76);
	buf_free(&out);
}

/* A forwarded message whose boundary is a prefix of ours would swallow
 * our closing boundary: it goes base64 instead. */
static void test_inner_boundary(void **state)
{
	(void)state;
	const char *inner = "Content-Type: multipart/mixed; boundary=\"=_\"\n\n"
			    "--=_\n\nhello\n--=_--\n";
	const char *ok = "Content-Type: multipart/mixed; boundary=\"zz\"\n\n"
			 "--zz\n\nhello\n--zz--\n";
	struct mime_build_part parts[] = {
		{"message/rfc822", "a.eml", inner, strlen(inner), false, NULL},
		{"message/rfc822", "b.eml", ok, strlen(ok), false, NULL},
	};
	struct mime_build_msg m = {.from = {NULL, "a@example.org"},
				   .parts = parts, .nparts = 2};
	struct buf *out = build(&m, NULL);
	const char *d = buf_data(out);
	const char *a = strstr(d, "filename=\"a.eml\"");
	const char *b = strstr(d, "filename=\"b.eml\"");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(strstr(a, "base64") < b);
	assert_non_null(strstr(b, "7bit\r\n\r\nContent-Type: multipart/mixed"));
	buf_free(&out);
}

/* Pseudo-random messages (fixed seed): the round trip must hold. */
static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

static void rnd_text(struct buf *b, size_t max)
{
	static const char *pieces[] = {"a", "Z", " ", "  ", "\t", "\n", "\r\n",
				       "\r", "=", "?", "=?", "?=", "\"", "\\",
				       "ä", "€", "😀", "\xff", "<", ">", ",",
				       "@", ".", "From ", "-", "_", "("};
	size_t n = rnd() % max;
	buf_reset(b);
	for (size_t i = 0; i < n; i++)
		buf_append_str(b, pieces[rnd() % (sizeof(pieces) / sizeof(*pieces))]);
}

static void test_random_round_trips(void **state)
{
	(void)state;
	struct buf *subj = buf_new(), *name = buf_new(), *text = buf_new(),
		   *html = buf_new(), *fname = buf_new(), *data = buf_new();
	for (int iter = 0; iter < 400; iter++) {
		rnd_text(subj, 120);
		rnd_text(name, 40);
		rnd_text(text, 400);
		rnd_text(html, 100);
		rnd_text(fname, 30);
		buf_reset(data);
		size_t dl = rnd() % 300;
		for (size_t i = 0; i < dl; i++)
			buf_append_char(data, (char)rnd());
		struct mime_build_addr to[] = {{buf_data(name), "r@example.net"},
					       {buf_data(subj), "s@example.net"}};
		struct mime_build_part part = {"application/x-test",
					       buf_data(fname), buf_data(data),
					       buf_len(data), false, NULL};
		struct mime_build_msg m = {
			.from = {buf_data(name), "me@example.org"},
			.to = to,
			.nto = 1 + rnd() % 2,
			.bcc = to + 1,
			.nbcc = rnd() % 2,
			.subject = buf_data(subj),
			.text = buf_data(text),
			.text_len = buf_len(text),
			.html = rnd() % 2 ? buf_data(html) : NULL,
			.html_len = buf_len(html),
			.parts = &part,
			.nparts = rnd() % 2,
		};
		struct buf *out = build(&m, NULL);
		buf_free(&out);
	}
	buf_free(&subj);
	buf_free(&name);
	buf_free(&text);
	buf_free(&html);
	buf_free(&fname);
	buf_free(&data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_encoded_words),
		cmocka_unit_test(test_subject_forms),
		cmocka_unit_test(test_address_list_folding),
		cmocka_unit_test(test_bad_address),
		cmocka_unit_test(test_quoted_printable),
		cmocka_unit_test(test_attachments),
		cmocka_unit_test(test_inner_boundary),
		cmocka_unit_test(test_random_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
