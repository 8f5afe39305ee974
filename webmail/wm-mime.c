/*
 * wm-mime - the webmail's reading of one message (see wm-mime.h).
 */
#include "wm-mime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/array.h"
#include "core/xmalloc.h"
#include "html/html_sanitize.h"
#include "mail/header.h"
#include "mail/mime_decode.h"
#include "mail/preview.h"

/* Text parts shown one after the other; more become attachments. */
#define BODY_PLAIN_MAX 32
/* The text shown is capped (a 50 MB text part is an attachment). */
#define TEXT_MAX (4 * 1024 * 1024)
/* Addresses per header shown. */
#define ADDR_MAX 1000
/* Longest part number: MIME_MAX_DEPTH levels of at most 5 digits. */
#define NUM_MAX 512

struct wm_att {
	const struct mime_part *part;
	char *number;
	char *content_id; /* without <>, NULL when none */
};

struct wm_msg {
	const char *data;
	size_t len;
	struct mime_message *mime;
	const struct mime_part *plain[BODY_PLAIN_MAX];
	size_t nplain;
	const struct mime_part *html;
	struct array *atts; /* struct wm_att * */
};

struct body {
	const struct mime_part *plain[BODY_PLAIN_MAX];
	size_t nplain;
	const struct mime_part *html;
};

/* ---- helpers ---- */

/* The content of b as a malloc'd string; b is freed. */
static char *steal(struct buf *b)
{
	char *s = buf_steal(b);
	buf_free(&b);
	return s;
}

static bool disp_is(const struct mime_part *p, const char *what)
{
	return p->disposition != NULL && strcasecmp(p->disposition, what) == 0;
}

static const char *raw_filename(const struct mime_part *p)
{
	const char *n = mime_param_get(p->disp_params, p->disp_param_count,
				       "filename");
	if (n == NULL || n[0] == '\0')
		n = mime_param_get(p->params, p->param_count, "name");
	return n != NULL && n[0] != '\0' ? n : NULL;
}

static bool is_leaf(const struct mime_part *p)
{
	return !(p->flags & MIME_PART_MULTIPART);
}

static bool body_has(const struct wm_msg *m, const struct mime_part *p)
{
	if (p == m->html)
		return true;
	for (size_t i = 0; i < m->nplain; i++)
		if (m->plain[i] == p)
			return true;
	return false;
}

static void add_plain(struct body *b, const struct mime_part *p)
{
	if (b->nplain < BODY_PLAIN_MAX)
		b->plain[b->nplain++] = p;
}

/* A leaf that can be (part of) the body: text/plain or text/html not
 * marked as an attachment. */
static void choose_leaf(const struct mime_part *p, struct body *b)
{
	if (p->flags & MIME_PART_MESSAGE || disp_is(p, "attachment"))
		return;
	if (mime_part_is(p, "text", "plain"))
		add_plain(b, p);
	else if (mime_part_is(p, "text", "html") && b->html == NULL)
		b->html = p;
}

static void choose(const struct mime_part *p, struct body *b)
{
	const struct mime_part *c;

	if (is_leaf(p)) {
		choose_leaf(p, b);
		return;
	}
	if (p->children == NULL)
		return;
	if (strcmp(p->subtype, "alternative") == 0) {
		/* The last alternative of each kind wins (RFC 2046 5.1.4). */
		struct body alt = {0};
		for (c = p->children; c != NULL; c = c->next) {
			struct body t = {0};
			choose(c, &t);
			if (t.html != NULL)
				alt.html = t.html;
			if (t.nplain > 0) {
				memcpy(alt.plain, t.plain, sizeof(t.plain));
				alt.nplain = t.nplain;
			}
		}
		for (size_t i = 0; i < alt.nplain; i++)
			add_plain(b, alt.plain[i]);
		if (b->html == NULL)
			b->html = alt.html;
		return;
	}
	if (strcmp(p->subtype, "related") == 0) {
		choose(p->children, b);
		return;
	}
	/* mixed and the others: the first part, then inline text. */
	choose(p->children, b);
	for (c = p->children->next; c != NULL; c = c->next)
		if (is_leaf(c) && !(c->flags & MIME_PART_MESSAGE) &&
		    mime_part_is(c, "text", "plain") &&
		    !disp_is(c, "attachment") && raw_filename(c) == NULL)
			add_plain(b, c);
}

static char *strip_cid(const char *id)
{
	while (*id == ' ' || *id == '\t' || *id == '<')
		id++;
	size_t n = strlen(id);
	while (n > 0 && (id[n - 1] == ' ' || id[n - 1] == '\t' ||
			 id[n - 1] == '>'))
		n--;
	return n > 0 ? xstrndup(id, n) : NULL;
}

static void walk(struct wm_msg *m, const struct mime_part *p,
		 const char *prefix)
{
	char num[NUM_MAX];

	if (!is_leaf(p)) {
		unsigned i = 1;
		for (const struct mime_part *c = p->children; c != NULL;
		     c = c->next, i++) {
			snprintf(num, sizeof(num), prefix[0] ? "%s.%u" : "%s%u",
				 prefix, i);
			walk(m, c, num);
		}
		return;
	}
	if (body_has(m, p))
		return;
	struct wm_att *a = xcalloc(1, sizeof(*a));
	a->part = p;
	a->number = xstrdup(prefix[0] ? prefix : "1");
	a->content_id = p->id != NULL ? strip_cid(p->id) : NULL;
	array_push(m->atts, a);
}

static void att_free(void *p)
{
	struct wm_att *a = p;
	free(a->number);
	free(a->content_id);
	free(a);
}

struct wm_msg *wm_msg_parse(const char *data, size_t len)
{
	struct wm_msg *m = xcalloc(1, sizeof(*m));
	struct body b = {0};

	m->data = data;
	m->len = len;
	m->mime = mime_parse(data, len);
	choose(mime_root(m->mime), &b);
	memcpy(m->plain, b.plain, sizeof(b.plain));
	m->nplain = b.nplain;
	m->html = b.html;
	m->atts = array_new();
	walk(m, mime_root(m->mime), "");
	return m;
}

void wm_msg_free(struct wm_msg **mp)
{
	struct wm_msg *m = *mp;
	if (m == NULL)
		return;
	array_free_with(&m->atts, att_free);
	mime_message_free(&m->mime);
	free(m);
	*mp = NULL;
}

const struct mime_message *wm_msg_mime(const struct wm_msg *m)
{
	return m->mime;
}

/* ---- decoding ---- */

void wm_part_decode(const struct wm_msg *m, const struct mime_part *p,
		    struct buf *out)
{
	const char *body = m->data + p->body.phys_off;
	size_t len = p->body.phys_size;

	if (p->flags & MIME_PART_MESSAGE ||
	    mime_decode_cte(mime_cte_parse(p->encoding), body, len, out) < 0)
		buf_append(out, body, len); /* unknown encoding: as it is */
}

/* The charset of an HTML part that declares none in its header: its
 * <meta charset> or http-equiv, looked for in the first 1024 bytes. */
static void sniff_meta_charset(const char *html, size_t len, char *cs,
			       size_t cs_size)
{
	size_t n = len < 1024 ? len : 1024;
	for (size_t i = 0; i + 8 < n; i++) {
		if (strncasecmp(html + i, "charset=", 8) != 0)
			continue;
		size_t j = i + 8, k = 0;
		while (j < n && (html[j] == '"' || html[j] == '\'' ||
				 html[j] == ' '))
			j++;
		while (j < n && k + 1 < cs_size &&
		       (isalnum((unsigned char)html[j]) || html[j] == '-' ||
			html[j] == '_' || html[j] == ':' || html[j] == '.'))
			cs[k++] = html[j++];
		cs[k] = '\0';
		if (k > 0)
			return;
	}
}

/* A text part decoded to UTF-8 (appended, at most `max` more bytes,
 * never cutting a character). */
static void text_utf8(const struct wm_msg *m, const struct mime_part *p,
		      bool sniff_html, size_t max, struct buf *out)
{
	struct buf *raw = buf_new();
	const char *cs = mime_param_get(p->params, p->param_count, "charset");
	char sniffed[64] = "";
	size_t start = buf_len(out);

	wm_part_decode(m, p, raw);
	if ((cs == NULL || cs[0] == '\0') && sniff_html) {
		sniff_meta_charset(buf_data(raw), buf_len(raw), sniffed,
				   sizeof(sniffed));
		if (sniffed[0] != '\0' && mime_charset_known(sniffed))
			cs = sniffed;
	}
	mime_charset_to_utf8(cs, buf_data(raw), buf_len(raw), out);
	buf_free(&raw);
	if (buf_len(out) - start > max) {
		size_t cut = start + max;
		const unsigned char *d = (const unsigned char *)buf_data(out);
		while (cut > start && (d[cut] & 0xc0) == 0x80)
			cut--;
		buf_truncate(out, cut);
	}
}

void wm_part_text(const struct wm_msg *m, const struct mime_part *p,
		  struct buf *out)
{
	text_utf8(m, p, false, (size_t)-1, out);
}

/* ---- headers to JSON ---- */

static json_t *jstr_buf(const struct buf *b)
{
	return json_stringn(buf_data(b), buf_len(b));
}

/* A header value decoded to UTF-8 ("" when absent). */
static void header_text(const struct mime_message *mm, const char *name,
			struct buf *out)
{
	const struct mime_part *root = mime_root(mm);
	struct header_field f;

	buf_reset(out);
	if (header_find(mime_data(mm) + root->header.phys_off,
			root->header.phys_size, name, &f))
		header_decode_2047(f.value, f.value_len, out);
}

static json_t *address_json(const struct header_address *a, struct buf *tmp)
{
	buf_reset(tmp);
	if (a->name != NULL)
		header_decode_2047(a->name, strlen(a->name), tmp);
	json_t *o = json_object();
	json_object_set_new(o, "name", jstr_buf(tmp));
	buf_reset(tmp);
	if (a->mailbox != NULL) {
		mime_utf8_sanitize(a->mailbox, strlen(a->mailbox), tmp);
		if (a->host != NULL) {
			buf_append_char(tmp, '@');
			mime_utf8_sanitize(a->host, strlen(a->host), tmp);
		}
	}
	json_object_set_new(o, "address", jstr_buf(tmp));
	return o;
}

/* Address list of a header as a JSON array (group markers left out). */
static json_t *addresses_json(const struct mime_message *mm, const char *name,
			      struct buf *tmp)
{
	const struct mime_part *root = mime_root(mm);
	struct header_field f;
	json_t *arr = json_array();

	if (!header_find(mime_data(mm) + root->header.phys_off,
			 root->header.phys_size, name, &f))
		return arr;
	struct header_address *list =
		header_address_parse(f.value, f.value_len, ADDR_MAX);
	for (struct header_address *a = list; a != NULL; a = a->next)
		if (a->mailbox != NULL && a->host != NULL)
			json_array_append_new(arr, address_json(a, tmp));
	header_address_free(&list);
	return arr;
}

static json_t *iso_date(time_t t)
{
	struct tm tm;
	char s[32];

	if (gmtime_r(&t, &tm) == NULL)
		t = 0, gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(s);
}

/* Unfolded raw header value ("" when absent), UTF-8 made valid. */
static void header_raw(const struct mime_message *mm, const char *name,
		       struct buf *tmp, struct buf *out)
{
	const struct mime_part *root = mime_root(mm);

	buf_reset(out);
	if (header_get(mime_data(mm) + root->header.phys_off,
		       root->header.phys_size, name, tmp))
		mime_utf8_sanitize(buf_data(tmp), buf_len(tmp), out);
}

/* Message ids ("<a@b>") of a References-like value. */
static json_t *msgids_json(const char *s, size_t len)
{
	json_t *arr = json_array();
	size_t i = 0;

	while (i < len && json_array_size(arr) < 500) {
		const char *lt = memchr(s + i, '<', len - i);
		if (lt == NULL)
			break;
		const char *gt = memchr(lt, '>', len - (size_t)(lt - s));
		if (gt == NULL)
			break;
		json_array_append_new(arr,
				      json_stringn(lt, (size_t)(gt - lt) + 1));
		i = (size_t)(gt - s) + 1;
	}
	return arr;
}

static uint64_t decoded_size(const struct wm_msg *m, const struct mime_part *p)
{
	if (p->flags & MIME_PART_MESSAGE ||
	    mime_cte_parse(p->encoding) != MIME_CTE_BASE64)
		return p->body.phys_size;
	/* Base64: three bytes per four significant characters. */
	const char *s = m->data + p->body.phys_off;
	uint64_t n = 0;
	for (size_t i = 0; i < p->body.phys_size; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalnum(c) || c == '+' || c == '/')
			n++;
	}
	return n * 3 / 4;
}

static bool att_inline(const struct wm_att *a)
{
	return disp_is(a->part, "inline") ||
	       (a->part->disposition == NULL && a->content_id != NULL);
}

static json_t *attachments_json(const struct wm_msg *m, bool *has_r)
{
	json_t *arr = json_array();
	struct buf *tmp = buf_new();

	*has_r = false;
	for (size_t i = 0; i < array_len(m->atts); i++) {
		const struct wm_att *a = array_get(m->atts, i);
		const struct mime_part *p = a->part;
		json_t *o = json_object();
		char *fn = wm_part_filename(p, a->number);
		bool inl = att_inline(a);

		if (!inl)
			*has_r = true;
		json_object_set_new(o, "part", json_string(a->number));
		json_object_set_new(o, "filename", json_string(fn));
		buf_set_str(tmp, "");
		mime_utf8_sanitize(p->type, strlen(p->type), tmp);
		buf_append_char(tmp, '/');
		mime_utf8_sanitize(p->subtype, strlen(p->subtype), tmp);
		json_object_set_new(o, "content_type", jstr_buf(tmp));
		json_object_set_new(o, "size",
				    json_integer((json_int_t)decoded_size(m, p)));
		json_object_set_new(o, "inline", json_boolean(inl));
		if (a->content_id != NULL) {
			buf_reset(tmp);
			mime_utf8_sanitize(a->content_id,
					   strlen(a->content_id), tmp);
			json_object_set_new(o, "content_id", jstr_buf(tmp));
		} else {
			json_object_set_new(o, "content_id", json_null());
		}
		json_array_append_new(arr, o);
		free(fn);
	}
	buf_free(&tmp);
	return arr;
}

/* UTF-8 HTML of the body's HTML part (empty when none). */
static void html_utf8(const struct wm_msg *m, struct buf *out)
{
	if (m->html != NULL)
		text_utf8(m, m->html, true, (size_t)-1, out);
}

void wm_msg_summary_json(const struct wm_msg *m, time_t fallback_date,
			 json_t *obj)
{
	const struct mime_message *mm = m->mime;
	const struct mime_part *root = mime_root(mm);
	struct buf *tmp = buf_new();
	struct header_field f;
	time_t t = fallback_date;
	int tz;
	json_t *arr;
	bool has_att = false;

	if (header_find(m->data + root->header.phys_off,
			root->header.phys_size, "Date", &f) &&
	    !header_date_parse(f.value, f.value_len, &t, &tz))
		t = fallback_date;
	json_object_set_new(obj, "date", iso_date(t));
	arr = addresses_json(mm, "From", tmp);
	if (json_array_size(arr) > 0) {
		json_object_set(obj, "from", json_array_get(arr, 0));
	} else {
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(""));
		json_object_set_new(o, "address", json_string(""));
		json_object_set_new(obj, "from", o);
	}
	json_decref(arr);
	json_object_set_new(obj, "to", addresses_json(mm, "To", tmp));
	header_text(mm, "Subject", tmp);
	json_object_set_new(obj, "subject", jstr_buf(tmp));
	mail_preview(mm, tmp);
	json_object_set_new(obj, "preview", jstr_buf(tmp));
	for (size_t i = 0; i < array_len(m->atts) && !has_att; i++)
		has_att = !att_inline(array_get(m->atts, i));
	json_object_set_new(obj, "has_attachments", json_boolean(has_att));
	buf_free(&tmp);
}

void wm_msg_json(const struct wm_msg *m, time_t fallback_date, json_t *obj)
{
	const struct mime_message *mm = m->mime;
	struct buf *tmp = buf_new(), *tmp2 = buf_new();
	bool has_att;

	wm_msg_summary_json(m, fallback_date, obj);
	json_object_set_new(obj, "cc", addresses_json(mm, "Cc", tmp));
	json_object_set_new(obj, "reply_to",
			    addresses_json(mm, "Reply-To", tmp));
	header_raw(mm, "Message-ID", tmp2, tmp);
	json_object_set_new(obj, "message_id", jstr_buf(tmp));
	header_raw(mm, "References", tmp2, tmp);
	json_object_set_new(obj, "references",
			    msgids_json(buf_data(tmp), buf_len(tmp)));

	/* The text: the plain parts, else the text of the HTML. */
	buf_reset(tmp);
	for (size_t i = 0; i < m->nplain && buf_len(tmp) < TEXT_MAX; i++) {
		if (i > 0)
			buf_append_char(tmp, '\n');
		text_utf8(m, m->plain[i], false, TEXT_MAX - buf_len(tmp), tmp);
	}
	unsigned blocked = 0;
	if (m->html != NULL) {
		struct html_sanitize_opts o = {.remote_images = false};
		struct html_sanitize_info info = {0};
		struct error err = {0};
		struct buf *scratch = buf_new();

		buf_reset(tmp2);
		html_utf8(m, tmp2);
		if (m->nplain == 0 &&
		    html_to_text(buf_data(tmp2), buf_len(tmp2), tmp, &err) < 0)
			mail_html_to_text(buf_data(tmp2), buf_len(tmp2), tmp);
		if (html_sanitize(buf_data(tmp2), buf_len(tmp2), &o, scratch,
				  &info, &err) == 0)
			blocked = info.remote_images_blocked;
		buf_free(&scratch);
	}
	if (!mime_utf8_valid(buf_data(tmp), buf_len(tmp))) {
		buf_reset(tmp2);
		mime_utf8_sanitize(buf_data(tmp), buf_len(tmp), tmp2);
		buf_set_str(tmp, "");
		buf_append(tmp, buf_data(tmp2), buf_len(tmp2));
	}
	json_object_set_new(obj, "text", jstr_buf(tmp));
	json_object_set_new(obj, "has_html", json_boolean(m->html != NULL));
	json_object_set_new(obj, "remote_images", json_boolean(blocked > 0));
	json_object_set_new(obj, "attachments", attachments_json(m, &has_att));
	json_object_set_new(obj, "has_attachments", json_boolean(has_att));
	buf_free(&tmp);
	buf_free(&tmp2);
}

/* ---- the HTML document ---- */

struct rewrite_ctx {
	const struct wm_msg *m;
	const struct wm_html_opts *opts;
};

static void pct_decode(const char *s, struct buf *out)
{
	for (; *s != '\0'; s++) {
		if (s[0] == '%' && isxdigit((unsigned char)s[1]) &&
		    isxdigit((unsigned char)s[2])) {
			char h[3] = {s[1], s[2], 0};
			buf_append_char(out, (char)strtol(h, NULL, 16));
			s += 2;
		} else {
			buf_append_char(out, *s);
		}
	}
}

static const struct wm_att *att_by_cid(const struct wm_msg *m, const char *cid)
{
	const struct wm_att *ci = NULL;
	for (size_t i = 0; i < array_len(m->atts); i++) {
		const struct wm_att *a = array_get(m->atts, i);
		if (a->content_id == NULL)
			continue;
		if (strcmp(a->content_id, cid) == 0)
			return a;
		if (ci == NULL && strcasecmp(a->content_id, cid) == 0)
			ci = a;
	}
	return ci;
}

static char *rewrite(void *p, enum html_url_kind kind, const char *url)
{
	struct rewrite_ctx *c = p;
	struct buf *b;
	char sig[65];

	switch (kind) {
	case HTML_URL_LINK:
		return xstrdup(url);
	case HTML_URL_IMAGE_CID: {
		const struct wm_att *a;
		b = buf_new();
		pct_decode(url, b);
		a = att_by_cid(c->m, buf_data(b));
		buf_free(&b);
		if (a == NULL || c->opts->parts_url == NULL)
			return NULL;
		return xasprintf("%s%s?inline=1", c->opts->parts_url,
				 a->number);
	}
	case HTML_URL_IMAGE_REMOTE:
		if (!c->opts->images || c->opts->secret == NULL)
			return NULL;
		wm_proxy_sign(c->opts->secret, c->opts->secret_len, url, sig);
		b = buf_new_str("/api/proxy?url=");
		wm_pct_encode(url, b);
		buf_printf(b, "&sig=%s", sig);
		return steal(b);
	}
	return NULL;
}

static void html_escape(const char *s, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '<':
			buf_append_str(out, "&lt;");
			break;
		case '>':
			buf_append_str(out, "&gt;");
			break;
		case '&':
			buf_append_str(out, "&amp;");
			break;
		case '"':
			buf_append_str(out, "&quot;");
			break;
		case '\'':
			buf_append_str(out, "&#39;");
			break;
		default:
			buf_append_char(out, s[i]);
		}
	}
}

int wm_msg_html(const struct wm_msg *m, const struct wm_html_opts *opts,
		struct buf *out, unsigned *blocked_r, struct error *err)
{
	struct rewrite_ctx ctx = {.m = m, .opts = opts};
	struct html_sanitize_opts so = {
	    .remote_images = opts->images,
	    .rewrite = rewrite,
	    .ctx = &ctx,
	};
	struct html_sanitize_info info = {0};
	struct buf *html = buf_new(), *body = buf_new();
	int r = 0;

	if (m->html != NULL) {
		html_utf8(m, html);
		r = html_sanitize(buf_data(html), buf_len(html), &so, body,
				  &info, err);
	} else {
		struct buf *text = buf_new();
		for (size_t i = 0; i < m->nplain && buf_len(text) < TEXT_MAX;
		     i++) {
			if (i > 0)
				buf_append_char(text, '\n');
			text_utf8(m, m->plain[i], false,
				  TEXT_MAX - buf_len(text), text);
		}
		buf_append_str(body, "<pre style=\"white-space: pre-wrap; "
				     "font-family: inherit\">");
		html_escape(buf_data(text), buf_len(text), body);
		buf_append_str(body, "</pre>");
		buf_free(&text);
	}
	if (r == 0) {
		buf_append_str(out, "<!DOCTYPE html>\n<html><head>"
				    "<meta charset=\"utf-8\">"
				    "<base target=\"_blank\">"
				    "</head><body>");
		buf_append(out, buf_data(body), buf_len(body));
		buf_append_str(out, "</body></html>\n");
	}
	if (blocked_r != NULL)
		*blocked_r = info.remote_images_blocked;
	buf_free(&html);
	buf_free(&body);
	return r;
}

/* ---- parts ---- */

const struct mime_part *wm_msg_part(const struct wm_msg *m, const char *spec)
{
	unsigned int numbers[MIME_MAX_DEPTH + 2];
	size_t count;
	enum mime_section_kind kind;
	struct mime_section sec;
	struct error err = {0};

	if (spec == NULL || spec[0] == '\0' || strlen(spec) > NUM_MAX ||
	    strspn(spec, "0123456789.") != strlen(spec))
		return NULL;
	if (mime_section_parse(spec, strlen(spec), numbers,
			       sizeof(numbers) / sizeof(numbers[0]), &count,
			       &kind, &err) < 0 ||
	    kind != MIME_SECTION_PART || count == 0)
		return NULL;
	if (mime_section_lookup(m->mime, numbers, count, MIME_SECTION_PART,
				&sec, &err) != 1)
		return NULL;
	if (!is_leaf(sec.part))
		return NULL;
	return sec.part;
}

static const char *ext_of(const struct mime_part *p)
{
	static const struct {
		const char *type, *ext;
	} map[] = {
	    {"image/png", ".png"},     {"image/gif", ".gif"},
	    {"image/jpeg", ".jpg"},    {"image/webp", ".webp"},
	    {"application/pdf", ".pdf"}, {"text/plain", ".txt"},
	    {"text/html", ".html"},    {"message/rfc822", ".eml"},
	    {"message/global", ".eml"}, {"text/calendar", ".ics"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		size_t tl = strlen(p->type);
		if (strncmp(map[i].type, p->type, tl) == 0 &&
		    map[i].type[tl] == '/' &&
		    strcmp(map[i].type + tl + 1, p->subtype) == 0)
			return map[i].ext;
	}
	return ".bin";
}

char *wm_part_filename(const struct mime_part *p, const char *number)
{
	const char *raw = raw_filename(p);
	struct buf *dec = buf_new(), *out = buf_new();

	if (raw != NULL) {
		if (strstr(raw, "=?") != NULL)
			header_decode_2047(raw, strlen(raw), dec);
		else
			mime_utf8_sanitize(raw, strlen(raw), dec);
	}
	/* No path, no controls, no leading dots; bounded length. */
	const char *s = buf_data(dec);
	const char *base = s;
	for (const char *q = s; *q != '\0'; q++)
		if (*q == '/' || *q == '\\')
			base = q + 1;
	while (*base == '.' || *base == ' ')
		base++;
	for (const char *q = base; *q != '\0' && buf_len(out) < 200; q++) {
		unsigned char c = (unsigned char)*q;
		buf_append_char(out, c < 0x20 || c == 0x7f ? '_' : (char)c);
	}
	/* Do not end inside a UTF-8 sequence after the cut. */
	size_t n = buf_len(out);
	while (n > 0 && !mime_utf8_valid(buf_data(out), n))
		n--;
	buf_truncate(out, n);
	while (buf_len(out) > 0 && buf_data(out)[buf_len(out) - 1] == ' ')
		buf_truncate(out, buf_len(out) - 1);
	if (buf_len(out) == 0)
		buf_printf(out, "part-%s%s", number, ext_of(p));
	buf_free(&dec);
	return steal(out);
}

const char *wm_part_serve_type(const struct mime_part *p, bool *to_utf8_r)
{
	/* Types browsers handle without running anything of the sender's;
	 * text is served converted to UTF-8. */
	static const struct {
		const char *type, *subtype, *serve;
		bool text;
	} map[] = {
	    {"image", "png", "image/png", false},
	    {"image", "gif", "image/gif", false},
	    {"image", "jpeg", "image/jpeg", false},
	    {"image", "jpg", "image/jpeg", false},
	    {"image", "webp", "image/webp", false},
	    {"image", "bmp", "image/bmp", false},
	    {"application", "pdf", "application/pdf", false},
	    {"application", "zip", "application/zip", false},
	    {"application", "gzip", "application/gzip", false},
	    {"audio", "mpeg", "audio/mpeg", false},
	    {"audio", "ogg", "audio/ogg", false},
	    {"video", "mp4", "video/mp4", false},
	    {"message", "rfc822", "message/rfc822", false},
	    {"text", "plain", "text/plain; charset=utf-8", true},
	    {"text", "csv", "text/csv; charset=utf-8", true},
	    {"text", "calendar", "text/calendar; charset=utf-8", true},
	};

	*to_utf8_r = false;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(p->type, map[i].type) == 0 &&
		    strcmp(p->subtype, map[i].subtype) == 0) {
			*to_utf8_r = map[i].text;
			return map[i].serve;
		}
	return "application/octet-stream";
}

bool wm_image_type_ok(const char *ctype)
{
	static const char *const ok[] = {"image/png", "image/gif",
					 "image/jpeg", "image/webp"};
	if (ctype == NULL)
		return false;
	while (*ctype == ' ')
		ctype++;
	size_t n = strcspn(ctype, "; \t");
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strlen(ok[i]) == n && strncasecmp(ctype, ok[i], n) == 0)
			return true;
	return false;
}

void wm_proxy_sign(const unsigned char *secret, size_t secret_len,
		   const char *url, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	HMAC(EVP_sha256(), secret, (int)secret_len,
	     (const unsigned char *)url, strlen(url), md, &mdlen);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", i < mdlen ? md[i] : 0);
	out[64] = '\0';
}

void wm_pct_encode(const char *s, struct buf *out)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			buf_append_char(out, (char)c);
		else
			buf_printf(out, "%%%02X", c);
	}
}

char *wm_content_disposition(bool inline_, const char *filename)
{
	struct buf *b = buf_new_str(inline_ ? "inline" : "attachment");
	const unsigned char *s = (const unsigned char *)filename;

	/* ASCII fallback for old clients, then the RFC 5987 form. */
	buf_append_str(b, "; filename=\"");
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] >= 0x80) {
			if ((s[i] & 0xc0) != 0x80)
				buf_append_char(b, '_');
		} else if (s[i] < 0x20 || s[i] == 0x7f || s[i] == '"' ||
			   s[i] == '\\' || s[i] == '%') {
			buf_append_char(b, '_');
		} else {
			buf_append_char(b, (char)s[i]);
		}
	}
	buf_append_str(b, "\"; filename*=UTF-8''");
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (isalnum(s[i]) || strchr("!#$&+-.^_`|~", s[i]) != NULL)
			buf_append_char(b, (char)s[i]);
		else
			buf_printf(b, "%%%02X", s[i]);
	}
	return steal(b);
}
