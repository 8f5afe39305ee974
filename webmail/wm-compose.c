/*
 * wm-compose.c - prefilling the editor: GET /api/compose (reply, reply
 * all, forward inline or as attachment, resume a draft); the helpers
 * wm-send.c shares (wm-compose.h); the route table wm_routes_compose
 * (drafts and sending are wm-send.c's, uploads wm-upload.c's).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "mail/header.h"
#include "mail/mime_decode.h"
#include "mindex/mindex.h"
#include "wm-compose.h"
#include "wm-mime.h"
#include "wm-view.h"

/* Message ids kept in References (RFC 5322 3.6.4 lets us trim). */
#define REFS_MAX 20

/* ---- Small helpers. */

/* 422 naming the field: {"error": {"code": "invalid", "message",
 * "field"}}. */
void wm_invalid(struct wm_req *r, const char *field, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wm_json(r, 422,
		json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "invalid",
			  "message", msg, "field", field));
}

bool wm_parse_uid(const char *s, uint32_t *uid)
{
	unsigned long long v;
	if (s == NULL || !str_to_u64(s, &v) || v == 0 || v > UINT32_MAX)
		return false;
	*uid = (uint32_t)v;
	return true;
}

uint32_t wm_json_uid(json_t *v)
{
	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= (json_int_t)UINT32_MAX)
		return (uint32_t)json_integer_value(v);
	uint32_t uid;
	if (json_is_string(v) && wm_parse_uid(json_string_value(v), &uid))
		return uid;
	return 0;
}


void wm_orig_close(struct wm_orig *o)
{
	wm_msg_free(&o->msg);
	buf_free(&o->data);
	json_decref(o->json);
	mindex_folder_close(&o->f);
	memset(o, 0, sizeof(*o));
}

/* Open folder/uid (404/503 answered on failure). */
int wm_orig_open(struct wm_req *r, const char *folder, uint32_t uid,
		     bool rw, struct wm_orig *o)
{
	struct error err = {0};
	int fd = -1;

	memset(o, 0, sizeof(*o));
	if (folder == NULL || uid == 0) {
		wm_error(r, 404, "not_found", "no such message");
		return -1;
	}
	if (wm_view_open_folder(r, folder, rw, &o->f) < 0)
		return -1;
	o->uid = uid;
	o->seq = mindex_seq_of_uid(o->f, uid);
	const struct mindex_msg *mm = o->seq ? mindex_msg(o->f, o->seq) : NULL;
	if (mm == NULL || mm->expunged) {
		wm_error(r, 404, "not_found", "no such message");
		goto fail;
	}
	int ret = mindex_msg_open(o->f, o->seq, &fd, &err);
	if (ret <= 0) {
		if (ret == 0)
			wm_error(r, 404, "not_found", "no such message");
		else
			wm_fail(r, &err);
		goto fail;
	}
	o->internaldate = mindex_msg_internaldate(o->f, o->seq);
	o->data = buf_new();
	for (;;) {
		char tmp[65536];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error_set(&err, ERR_TEMP, "read: %s", strerror(errno));
			wm_fail(r, &err);
			goto fail;
		}
		if (n == 0)
			break;
		buf_append(o->data, tmp, (size_t)n);
	}
	close(fd);
	o->msg = wm_msg_parse(buf_data(o->data), buf_len(o->data));
	o->json = json_object();
	wm_msg_json(o->msg, o->internaldate, o->json);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	wm_orig_close(o);
	return -1;
}

const char *wm_jstr(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s != NULL ? s : "";
}

/* "Name <a@b>" as a user types it; the name quoted when it holds
 * characters that would split or end it. */
static void addr_text(const char *name, const char *addr, struct buf *out)
{
	buf_reset(out);
	if (name == NULL || *name == '\0') {
		buf_append_str(out, addr);
		return;
	}
	if (strpbrk(name, "()<>[]:;@\\,.\"") != NULL) {
		buf_append_char(out, '"');
		for (const char *p = name; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_append_char(out, '\\');
			buf_append_char(out, *p);
		}
		buf_append_char(out, '"');
	} else {
		buf_append_str(out, name);
	}
	buf_printf(out, " <%s>", addr);
}

/* Append {"name","address"} objects of list to arr as text, skipping
 * the user's own address and ones already in seen (lower-case). */
static void add_addrs(json_t *arr, json_t *list, const char *self,
		      struct array *seen)
{
	struct buf *t = buf_new();
	size_t i;
	json_t *a;
	json_array_foreach(list, i, a)
	{
		const char *addr = wm_jstr(a, "address");
		if (*addr == '\0' || (self != NULL && strcasecmp(addr, self) == 0))
			continue;
		bool dup = false;
		for (size_t k = 0; k < array_len(seen) && !dup; k++)
			dup = strcasecmp(array_get(seen, k), addr) == 0;
		if (dup)
			continue;
		array_push(seen, xstrdup(addr));
		addr_text(wm_jstr(a, "name"), addr, t);
		json_array_append_new(arr, json_string(buf_data(t)));
	}
	buf_free(&t);
}

/* "Re: x" once, whatever case or count of prefixes the original had. */
static char *prefixed(const char *prefix, const char *subject)
{
	const char *s = subject;
	while (*s == ' ')
		s++;
	size_t pl = strlen(prefix);
	if (strncasecmp(s, prefix, pl) == 0)
		return xstrdup(s);
	return xasprintf("%s %s", prefix, s);
}

/* Every line of text with "> " in front. */
static void quote_text(const char *text, struct buf *out)
{
	const char *p = text;
	size_t len = strlen(text);
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	const char *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		buf_append_str(out, p[0] == '>' ? ">" : "> ");
		buf_append(out, p, n);
		buf_append_char(out, '\n');
		p = nl != NULL ? nl + 1 : end;
	}
}

/* The Date header as written, else the ISO date of the summary. */
static void orig_date(const struct wm_orig *o, struct buf *out)
{
	const struct mime_message *mm = wm_msg_mime(o->msg);
	const struct mime_part *root = mime_root(mm);
	struct buf *raw = buf_new();
	buf_reset(out);
	if (header_get(mime_data(mm) + root->header.phys_off,
		       root->header.phys_size, "Date", raw))
		mime_utf8_sanitize(buf_data(raw), buf_len(raw), out);
	else
		buf_append_str(out, wm_jstr(o->json, "date"));
	buf_free(&raw);
}

static void orig_header_text(const struct wm_orig *o, const char *name,
			     struct buf *out)
{
	const struct mime_message *mm = wm_msg_mime(o->msg);
	const struct mime_part *root = mime_root(mm);
	struct header_field f;
	buf_reset(out);
	if (header_find(mime_data(mm) + root->header.phys_off,
			root->header.phys_size, name, &f))
		header_decode_2047(f.value, f.value_len, out);
}

/* References of a reply: the original's (last REFS_MAX - 1) plus its
 * Message-ID. */
char *wm_reply_references(json_t *oj)
{
	json_t *refs = json_object_get(oj, "references");
	const char *mid = wm_jstr(oj, "message_id");
	struct buf *b = buf_new();
	size_t n = json_array_size(refs);
	size_t start = n > REFS_MAX - 1 ? n - (REFS_MAX - 1) : 0;
	for (size_t i = start; i < n; i++) {
		const char *s = json_string_value(json_array_get(refs, i));
		if (s == NULL || strcmp(s, mid) == 0)
			continue;
		if (buf_len(b) > 0)
			buf_append_char(b, ' ');
		buf_append_str(b, s);
	}
	if (*mid != '\0') {
		if (buf_len(b) > 0)
			buf_append_char(b, ' ');
		buf_append_str(b, mid);
	}
	char *s = buf_steal(b);
	buf_free(&b);
	return s;
}

/* The original's attachments as uploads of this session. */
static int attachments_to_uploads(struct wm_req *r, const struct wm_orig *o,
				  json_t *out)
{
	json_t *atts = json_object_get(o->json, "attachments");
	struct buf *data = buf_new();
	size_t i;
	json_t *a;
	int ret = 0;
	json_array_foreach(atts, i, a)
	{
		const struct mime_part *p = wm_msg_part(o->msg, wm_jstr(a, "part"));
		if (p == NULL)
			continue;
		buf_reset(data);
		wm_part_decode(o->msg, p, data);
		struct error err = {0};
		json_t *u = wm_upload_add(r, wm_jstr(a, "filename"),
					  wm_jstr(a, "content_type"), buf_data(data),
					  buf_len(data), &err);
		if (u == NULL) {
			wm_fail(r, &err);
			ret = -1;
			break;
		}
		json_array_append_new(out, u);
	}
	buf_free(&data);
	return ret;
}

/* "folder/uid[/mode]" of X-Postern-Reply / X-Postern-Forward. */
static json_t *ref_header(const struct wm_orig *o, const char *name,
			  bool with_mode)
{
	struct buf *v = buf_new();
	json_t *res = NULL;
	orig_header_text(o, name, v);
	char *s = buf_steal(v);
	buf_free(&v);
	/* Parsed from the end: a folder name may hold blanks. */
	const char *mode = NULL;
	char *sp = strrchr(s, ' ');
	if (with_mode && sp != NULL) {
		*sp = '\0';
		mode = sp + 1;
		sp = strrchr(s, ' ');
	}
	uint32_t u;
	if (sp != NULL && sp > s && wm_parse_uid(sp + 1, &u)) {
		*sp = '\0';
		res = json_pack("{s:s, s:I}", "folder", s, "uid", (json_int_t)u);
		if (with_mode)
			json_object_set_new(
				res, "mode",
				json_string(mode && strcmp(mode, "attachment") == 0
						    ? "attachment"
						    : "inline"));
	}
	free(s);
	return res != NULL ? res : json_null();
}

/* Bcc of a draft: the header as text entries. */
static json_t *draft_bcc(const struct wm_orig *o)
{
	const struct mime_message *mm = wm_msg_mime(o->msg);
	const struct mime_part *root = mime_root(mm);
	struct header_field f;
	json_t *arr = json_array();
	if (!header_find(mime_data(mm) + root->header.phys_off,
			 root->header.phys_size, "Bcc", &f))
		return arr;
	struct header_address *list = header_address_parse(f.value,
							   f.value_len, 200);
	struct buf *name = buf_new(), *t = buf_new(), *addr = buf_new();
	for (struct header_address *a = list; a != NULL; a = a->next) {
		if (a->mailbox == NULL || a->host == NULL)
			continue;
		buf_reset(name);
		if (a->name != NULL)
			header_decode_2047(a->name, strlen(a->name), name);
		buf_reset(addr);
		buf_printf(addr, "%s@%s", a->mailbox, a->host);
		addr_text(buf_data(name), buf_data(addr), t);
		json_array_append_new(arr, json_string(buf_data(t)));
	}
	header_address_free(&list);
	buf_free(&name);
	buf_free(&t);
	buf_free(&addr);
	return arr;
}

/* ---- GET /api/compose */

static void compose_get(struct wm_req *r)
{
	const char *folder = wm_query(r, "folder");
	const char *mode = wm_query(r, "mode");
	const char *as = wm_query(r, "as");
	uint32_t uid = 0;
	struct wm_orig o;

	if (mode == NULL || (strcmp(mode, "reply") != 0 &&
			     strcmp(mode, "all") != 0 &&
			     strcmp(mode, "forward") != 0 &&
			     strcmp(mode, "draft") != 0)) {
		wm_invalid(r, "mode", "mode must be reply, all, forward or draft");
		return;
	}
	if (!wm_parse_uid(wm_query(r, "uid"), &uid)) {
		wm_invalid(r, "uid", "uid must be a message UID");
		return;
	}
	if (wm_orig_open(r, folder, uid, false, &o) < 0)
		return;

	json_t *res = json_object(), *to = json_array(), *cc = json_array();
	json_t *atts = json_array();
	struct buf *t = buf_new(), *d = buf_new();
	const char *self = r->session->address;
	const char *subject = wm_jstr(o.json, "subject");
	char *subj = NULL;

	if (strcmp(mode, "reply") == 0 || strcmp(mode, "all") == 0) {
		struct array *seen = array_new();
		json_t *rt = json_object_get(o.json, "reply_to");
		json_t *from = json_array();
		json_array_append(from, json_object_get(o.json, "from"));
		bool all = strcmp(mode, "all") == 0;
		json_t *first = json_array_size(rt) > 0 ? rt : from;
		/* Replying to one's own message goes to its recipients. */
		if (strcasecmp(wm_jstr(json_object_get(o.json, "from"), "address"),
			       self) == 0 &&
		    json_array_size(json_object_get(o.json, "to")) > 0)
			first = json_object_get(o.json, "to");
		add_addrs(to, first, all ? self : NULL, seen);
		if (all) {
			add_addrs(to, json_object_get(o.json, "to"), self, seen);
			add_addrs(cc, json_object_get(o.json, "cc"), self, seen);
		}
		json_decref(from);
		array_free_with(&seen, free);
		subj = prefixed("Re:", subject);
		const char *fname = wm_jstr(json_object_get(o.json, "from"), "name");
		if (*fname == '\0')
			fname = wm_jstr(json_object_get(o.json, "from"), "address");
		orig_date(&o, d);
		buf_printf(t, "\n\nOn %s, %s wrote:\n", buf_data(d), fname);
		quote_text(wm_jstr(o.json, "text"), t);
		json_object_set_new(res, "in_reply_to",
				    json_string(wm_jstr(o.json, "message_id")));
		char *refs = wm_reply_references(o.json);
		json_object_set_new(res, "references", json_string(refs));
		free(refs);
		json_object_set_new(res, "reply",
				    json_pack("{s:s, s:I}", "folder", folder,
					      "uid", (json_int_t)uid));
	} else if (strcmp(mode, "forward") == 0) {
		bool attach = as != NULL && strcmp(as, "attachment") == 0;
		subj = prefixed("Fwd:", subject);
		if (attach) {
			/* The original whole, as message/rfc822. */
			struct error err = {0};
			char *fn = xasprintf("%s.eml", *subject ? subject : "message");
			json_t *u = wm_upload_add(r, fn, "message/rfc822",
						  buf_data(o.data), buf_len(o.data),
						  &err);
			free(fn);
			if (u == NULL) {
				wm_fail(r, &err);
				goto out;
			}
			json_array_append_new(atts, u);
		} else {
			buf_append_str(t, "\n\n-------- Forwarded Message --------\n");
			buf_printf(t, "Subject: %s\n", subject);
			orig_date(&o, d);
			buf_printf(t, "Date: %s\n", buf_data(d));
			orig_header_text(&o, "From", d);
			buf_printf(t, "From: %s\n", buf_data(d));
			orig_header_text(&o, "To", d);
			buf_printf(t, "To: %s\n", buf_data(d));
			orig_header_text(&o, "Cc", d);
			if (buf_len(d) > 0)
				buf_printf(t, "Cc: %s\n", buf_data(d));
			buf_append_char(t, '\n');
			buf_append_str(t, wm_jstr(o.json, "text"));
			if (attachments_to_uploads(r, &o, atts) < 0)
				goto out;
		}
		json_object_set_new(res, "in_reply_to", json_null());
		json_object_set_new(res, "references", json_null());
		json_object_set_new(res, "forward",
				    json_pack("{s:s, s:I, s:s}", "folder", folder,
					      "uid", (json_int_t)uid, "mode",
					      attach ? "attachment" : "inline"));
	} else {
		/* A draft, to edit again: its fields and attachments. */
		struct array *seen = array_new();
		add_addrs(to, json_object_get(o.json, "to"), NULL, seen);
		add_addrs(cc, json_object_get(o.json, "cc"), NULL, seen);
		array_free_with(&seen, free);
		json_object_set_new(res, "bcc", draft_bcc(&o));
		subj = xstrdup(subject);
		buf_append_str(t, wm_jstr(o.json, "text"));
		const char *mid = NULL;
		json_t *refs = json_object_get(o.json, "references");
		orig_header_text(&o, "In-Reply-To", d);
		if (buf_len(d) > 0)
			mid = buf_data(d);
		json_object_set_new(res, "in_reply_to",
				    mid ? json_string(mid) : json_null());
		struct buf *rb = buf_new();
		for (size_t i = 0; i < json_array_size(refs); i++) {
			if (i > 0)
				buf_append_char(rb, ' ');
			buf_append_str(rb, json_string_value(json_array_get(refs, i)));
		}
		json_object_set_new(res, "references",
				    buf_len(rb) ? json_string(buf_data(rb))
						: json_null());
		buf_free(&rb);
		json_object_set_new(res, "reply",
				    ref_header(&o, "X-Postern-Reply", false));
		json_object_set_new(res, "forward",
				    ref_header(&o, "X-Postern-Forward", true));
		json_object_set_new(res, "draft_uid", json_integer(uid));
		if (attachments_to_uploads(r, &o, atts) < 0)
			goto out;
	}
	if (json_object_get(res, "bcc") == NULL)
		json_object_set_new(res, "bcc", json_array());
	json_object_set(res, "to", to);
	json_object_set(res, "cc", cc);
	json_object_set_new(res, "subject", json_string(subj));
	json_object_set_new(res, "text", json_string(buf_data(t)));
	json_object_set(res, "attachments", atts);
	wm_json(r, 200, res);
	res = NULL;
out:
	json_decref(res);
	json_decref(to);
	json_decref(cc);
	json_decref(atts);
	free(subj);
	buf_free(&t);
	buf_free(&d);
	wm_orig_close(&o);
}

const struct wm_route wm_routes_compose[] = {
	{"GET", "/api/compose", compose_get, false},
	{"POST", "/api/uploads", wm_upload_post, false},
	{"DELETE", "/api/uploads/{id}", wm_upload_remove, false},
	{"POST", "/api/drafts", wm_drafts_post, false},
	{"POST", "/api/send", wm_send_post, false},
	{NULL},
};
