/*
 * fuzz_webmail_view - libFuzzer target for the webmail's reading of a
 * message (webmail/wm-mime.c): MIME parse, body choice, headers and text
 * to JSON, the sanitised HTML document (with and without remote images,
 * cid: links), part lookup and decoding, file names and dispositions.
 * Besides memory errors it aborts when:
 *   - a field of the message JSON is missing (jansson refuses invalid
 *     UTF-8 strings, so a missing field means undecoded bytes leaked);
 *   - an attachment's part number does not name a part (the /parts URL
 *     the UI builds from it would be 404);
 *   - the HTML document does not start with the doctype or holds a
 *     <script or <iframe tag (the sanitiser's own fuzz target checks the
 *     rest of its rules).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "wm-mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fields[] = {
    "date",	"from",	   "to",	 "cc",	       "reply_to",
    "subject",	"message_id", "references", "preview",    "text",
    "has_html", "remote_images", "attachments", "has_attachments",
};

static bool has_ci(const char *s, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(s + i, needle, n) == 0)
			return true;
	return false;
}

static void check_html(const struct buf *doc)
{
	const char *d = buf_data(doc);
	if (strncmp(d, "<!DOCTYPE html>", 15) != 0)
		abort();
	if (has_ci(d, buf_len(doc), "<script") ||
	    has_ci(d, buf_len(doc), "<iframe"))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key[32] = {1, 2, 3};
	struct wm_msg *m = wm_msg_parse((const char *)data, size);
	json_t *obj = json_object();
	struct buf *out = buf_new();
	struct error err = {0};

	wm_msg_json(m, 0, obj);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (json_object_get(obj, fields[i]) == NULL)
			abort();
	char *dump = json_dumps(obj, 0);
	if (dump == NULL)
		abort();
	free(dump);

	json_t *atts = json_object_get(obj, "attachments");
	for (size_t i = 0; i < json_array_size(atts); i++) {
		const char *num = json_string_value(
		    json_object_get(json_array_get(atts, i), "part"));
		const struct mime_part *p = wm_msg_part(m, num);
		bool text;
		if (p == NULL)
			abort();
		buf_reset(out);
		if (wm_part_serve_type(p, &text) != NULL && text)
			wm_part_text(m, p, out);
		else
			wm_part_decode(m, p, out);
		char *fn = wm_part_filename(p, num);
		if (fn[0] == '\0' || strchr(fn, '/') != NULL)
			abort();
		char *disp = wm_content_disposition(false, fn);
		for (const char *c = disp; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				abort(); /* header injection or raw 8-bit */
		free(disp);
		free(fn);
	}

	for (int images = 0; images < 2; images++) {
		struct wm_html_opts o = {
		    .images = images,
		    .parts_url = "/api/folders/INBOX/messages/1/parts/",
		    .secret = key,
		    .secret_len = sizeof(key),
		};
		buf_reset(out);
		if (wm_msg_html(m, &o, out, NULL, &err) == 0)
			check_html(out);
	}
	/* A part spec from the input's first bytes. */
	if (size > 0) {
		char spec[16];
		size_t n = size < sizeof(spec) - 1 ? size : sizeof(spec) - 1;
		memcpy(spec, data, n);
		spec[n] = '\0';
		const struct mime_part *p = wm_msg_part(m, spec);
		if (p != NULL) {
			buf_reset(out);
			wm_part_decode(m, p, out);
		}
	}
	json_decref(obj);
	buf_free(&out);
	wm_msg_free(&m);
	return 0;
}
