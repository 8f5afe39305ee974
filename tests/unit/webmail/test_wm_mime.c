/*
 * test_wm_mime - the webmail's reading of a message (webmail/wm-mime.c):
 * body choice and IMAP part numbers of attachments, charsets (declared,
 * sniffed from <meta>, RFC 2047), the HTML document's cid: and proxy
 * rewriting, file names, dispositions and the types parts are served
 * with.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "wm-mime.h"

static const unsigned char key[32] = {42};

static const char nested[] =
    "From: A <a@x.test>\n"
    "Subject: nested\n"
    "Content-Type: multipart/mixed; boundary=M\n"
    "\n"
    "--M\n"
    "Content-Type: multipart/alternative; boundary=A\n"
    "\n"
    "--A\n"
    "Content-Type: text/plain\n"
    "\n"
    "plain text\n"
    "--A\n"
    "Content-Type: multipart/related; boundary=R\n"
    "\n"
    "--R\n"
    "Content-Type: text/html\n"
    "\n"
    "<p>html <img src=\"cid:img1%40x\"> <img src=\"http://x.test/a.png\">\n"
    "--R\n"
    "Content-Type: image/png\n"
    "Content-ID: <img1@x>\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "aGVsbG8=\n"
    "--R--\n"
    "--A--\n"
    "--M\n"
    "Content-Type: application/pdf\n"
    "Content-Disposition: attachment; filename=\"=?UTF-8?B?w6QucGRm?=\"\n"
    "\n"
    "pdf\n"
    "--M\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "Subject: inner\n"
    "Content-Type: multipart/mixed; boundary=I\n"
    "\n"
    "--I\n"
    "\n"
    "inner one\n"
    "--I--\n"
    "--M--\n";

static json_t *msg_json(const char *data, struct wm_msg **m_r)
{
	json_t *o = json_object();
	*m_r = wm_msg_parse(data, strlen(data));
	wm_msg_json(*m_r, 0, o);
	return o;
}

static const char *att_field(json_t *o, size_t i, const char *f)
{
	return json_string_value(json_object_get(
	    json_array_get(json_object_get(o, "attachments"), i), f));
}

static void test_numbers(void **state)
{
	(void)state;
	struct wm_msg *m;
	json_t *o = msg_json(nested, &m);
	json_t *atts = json_object_get(o, "attachments");

	assert_string_equal(json_string_value(json_object_get(o, "text")),
			    "plain text");
	assert_true(json_is_true(json_object_get(o, "has_html")));
	assert_true(json_is_true(json_object_get(o, "remote_images")));
	assert_true(json_is_true(json_object_get(o, "has_attachments")));
	assert_int_equal(json_array_size(atts), 3);
	assert_string_equal(att_field(o, 0, "part"), "1.2.2");
	assert_string_equal(att_field(o, 0, "content_id"), "img1@x");
	assert_true(json_is_true(
	    json_object_get(json_array_get(atts, 0), "inline")));
	assert_int_equal(json_integer_value(json_object_get(
			     json_array_get(atts, 0), "size")),
			 5);
	assert_string_equal(att_field(o, 1, "part"), "2");
	assert_string_equal(att_field(o, 1, "filename"), "\xc3\xa4.pdf");
	assert_string_equal(att_field(o, 2, "part"), "3");
	assert_string_equal(att_field(o, 2, "content_type"), "message/rfc822");
	assert_string_equal(att_field(o, 2, "filename"), "part-3.eml");

	/* The numbers name the same parts as IMAP's. */
	struct buf *b = buf_new();
	const struct mime_part *p = wm_msg_part(m, "1.2.2");
	assert_non_null(p);
	wm_part_decode(m, p, b);
	assert_string_equal(buf_data(b), "hello");
	assert_null(wm_msg_part(m, "1"));   /* a multipart */
	assert_null(wm_msg_part(m, "1.2")); /* a multipart */
	assert_null(wm_msg_part(m, "4"));
	assert_null(wm_msg_part(m, "0"));
	assert_null(wm_msg_part(m, "2.MIME"));
	assert_null(wm_msg_part(m, ""));
	assert_non_null(wm_msg_part(m, "3.1")); /* inside the message */
	buf_reset(b);
	wm_part_decode(m, wm_msg_part(m, "3"), b);
	assert_true(strncmp(buf_data(b), "Subject: inner\n", 15) == 0);
	buf_free(&b);
	json_decref(o);
	wm_msg_free(&m);
}

static void test_html_document(void **state)
{
	(void)state;
	struct wm_msg *m = wm_msg_parse(nested, strlen(nested));
	struct wm_html_opts o = {
	    .parts_url = "/api/folders/INBOX/messages/7/parts/",
	    .secret = key,
	    .secret_len = sizeof(key),
	};
	struct buf *b = buf_new();
	struct error err = {0};
	unsigned blocked = 0;
	char sig[65], want[300];

	assert_int_equal(wm_msg_html(m, &o, b, &blocked, &err), 0);
	assert_true(strncmp(buf_data(b), "<!DOCTYPE html>", 15) == 0);
	assert_non_null(strstr(buf_data(b), "<base target=\"_blank\">"));
	assert_non_null(strstr(
	    buf_data(b),
	    "src=\"/api/folders/INBOX/messages/7/parts/1.2.2?inline=1\""));
	assert_null(strstr(buf_data(b), "x.test"));
	assert_int_equal(blocked, 1);

	o.images = true;
	buf_reset(b);
	assert_int_equal(wm_msg_html(m, &o, b, &blocked, &err), 0);
	wm_proxy_sign(key, sizeof(key), "http://x.test/a.png", sig);
	snprintf(want, sizeof(want),
		 "/api/proxy?url=http%%3A%%2F%%2Fx.test%%2Fa.png&amp;sig=%s",
		 sig);
	assert_non_null(strstr(buf_data(b), want));
	assert_null(strstr(buf_data(b), "src=\"http"));
	buf_free(&b);
	wm_msg_free(&m);
}

static void test_charsets(void **state)
{
	(void)state;
	static const char sniff[] =
	    "Subject: =?ISO-8859-1?Q?caf=E9?=\n"
	    "Content-Type: text/html\n"
	    "\n"
	    "<html><head><meta charset=\"iso-8859-1\"></head>"
	    "<body><p>caf\xe9</p><script>x()</script></body></html>\n";
	struct wm_msg *m;
	json_t *o = msg_json(sniff, &m);
	struct wm_html_opts ho = {0};
	struct buf *b = buf_new();
	struct error err = {0};

	assert_string_equal(json_string_value(json_object_get(o, "subject")),
			    "caf\xc3\xa9");
	/* No text/plain: the text of the HTML, no script text. */
	assert_non_null(strstr(json_string_value(json_object_get(o, "text")),
			       "caf\xc3\xa9"));
	assert_null(strstr(json_string_value(json_object_get(o, "text")), "x()"));
	assert_true(json_is_true(json_object_get(o, "has_html")));
	assert_int_equal(wm_msg_html(m, &ho, b, NULL, &err), 0);
	assert_non_null(strstr(buf_data(b), "caf\xc3\xa9"));
	assert_null(strstr(buf_data(b), "<script"));
	buf_free(&b);
	json_decref(o);
	wm_msg_free(&m);
}

static void test_plain_only(void **state)
{
	(void)state;
	static const char plain[] = "Subject: hi\n\n<b>not html</b> & text\n";
	struct wm_msg *m;
	json_t *o = msg_json(plain, &m);
	struct wm_html_opts ho = {0};
	struct buf *b = buf_new();
	struct error err = {0};

	assert_false(json_is_true(json_object_get(o, "has_html")));
	assert_int_equal(json_array_size(json_object_get(o, "attachments")), 0);
	assert_int_equal(wm_msg_html(m, &ho, b, NULL, &err), 0);
	assert_non_null(strstr(buf_data(b), "&lt;b&gt;not html&lt;/b&gt; &amp;"));
	buf_free(&b);
	json_decref(o);
	wm_msg_free(&m);

	/* A single non-text part is attachment 1. */
	static const char img[] = "Content-Type: image/gif\n\nGIF89a";
	o = msg_json(img, &m);
	assert_string_equal(att_field(o, 0, "part"), "1");
	assert_string_equal(att_field(o, 0, "filename"), "part-1.gif");
	assert_non_null(wm_msg_part(m, "1"));
	json_decref(o);
	wm_msg_free(&m);
}

static void test_names_and_types(void **state)
{
	(void)state;
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=B\n\n"
	    "--B\n\nbody\n"
	    "--B\nContent-Type: text/html\n"
	    "Content-Disposition: attachment; filename=\"../../etc/pa\\\"ss wd\"\n\nx\n"
	    "--B\nContent-Type: image/svg+xml; name=\"a\tb.svg\"\n\n<svg/>\n"
	    "--B\nContent-Type: image/PNG\n\nx\n"
	    "--B--\n";
	struct wm_msg *m = wm_msg_parse(msg, strlen(msg));
	bool text;
	char *fn;

	fn = wm_part_filename(wm_msg_part(m, "2"), "2");
	assert_string_equal(fn, "pa\"ss wd");
	char *d = wm_content_disposition(false, fn);
	assert_string_equal(d, "attachment; filename=\"pa_ss wd\"; "
			       "filename*=UTF-8''pa%22ss%20wd");
	free(d);
	free(fn);
	d = wm_content_disposition(true, "\xc3\xa9t\xc3\xa9.png");
	assert_string_equal(d, "inline; filename=\"_t_.png\"; "
			       "filename*=UTF-8''%C3%A9t%C3%A9.png");
	free(d);
	fn = wm_part_filename(wm_msg_part(m, "3"), "3");
	assert_string_equal(fn, "a_b.svg");
	free(fn);
	assert_string_equal(wm_part_serve_type(wm_msg_part(m, "2"), &text),
			    "application/octet-stream");
	assert_string_equal(wm_part_serve_type(wm_msg_part(m, "3"), &text),
			    "application/octet-stream");
	assert_string_equal(wm_part_serve_type(wm_msg_part(m, "4"), &text),
			    "image/png");
	assert_string_equal(wm_part_serve_type(wm_msg_part(m, "1"), &text),
			    "text/plain; charset=utf-8");
	assert_true(text);
	wm_msg_free(&m);

	assert_true(wm_image_type_ok("image/png"));
	assert_true(wm_image_type_ok("IMAGE/JPEG; charset=x"));
	assert_false(wm_image_type_ok("image/svg+xml"));
	assert_false(wm_image_type_ok("image/pngx"));
	assert_false(wm_image_type_ok("text/html"));
	assert_false(wm_image_type_ok(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_html_document),
	    cmocka_unit_test(test_charsets),
	    cmocka_unit_test(test_plain_only),
	    cmocka_unit_test(test_names_and_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
