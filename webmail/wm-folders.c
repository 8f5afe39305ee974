/*
 * wm-folders.c - the folder routes (list, create, rename, delete, empty)
 * and the folder names of wm.h.
 *
 * The API names a folder by its on-disk name (modified UTF-7, "."
 * between levels, "INBOX"): every id from a URL or a body goes through
 * wm_folder_arg / store_folder_valid, which refuse "/", "..", control
 * characters and leading dots, and every path is below the session's own
 * mailbox, so no id reaches another user's files.  People see the
 * display name: UTF-8 with "/" between levels, "Inbox" for the INBOX.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "imap/imap_utf7.h"
#include "mindex/mindex.h"
#include "store/store.h"
#include "wm-core.h"

char *wm_folder_display(const char *disk_name)
{
	struct buf *b;
	char *out;

	if (disk_name == NULL || store_folder_is_inbox(disk_name))
		return xstrdup("Inbox");
	b = buf_new();
	if (imap_utf7_to_utf8(disk_name, b) < 0)
		buf_set_str(b, disk_name);
	for (char *p = buf_mut(b); *p != '\0'; p++)
		if (*p == '.')
			*p = '/';
	out = buf_steal(b);
	buf_free(&b);
	return out;
}

char *wm_folder_from_display(const char *display)
{
	struct buf *b;
	char *out = NULL;
	size_t len;

	if (display == NULL)
		return NULL;
	len = strlen(display);
	if (len == 0 || len > 200 || !imap_utf8_is_valid(display, len))
		return NULL;
	if (strcasecmp(display, "inbox") == 0)
		return xstrdup("INBOX");
	/* "." would be a hidden level separator; empty levels and control
	 * characters are no names. */
	if (strchr(display, '.') != NULL || display[0] == '/' ||
	    display[len - 1] == '/' || strstr(display, "//") != NULL)
		return NULL;
	for (const char *p = display; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return NULL;
	b = buf_new();
	if (imap_utf8_to_utf7(display, b) == 0) {
		for (char *p = buf_mut(b); *p != '\0'; p++)
			if (*p == '/')
				*p = '.';
		if (store_folder_valid(buf_data(b)) &&
		    !store_folder_is_inbox(buf_data(b)))
			out = buf_steal(b);
	}
	buf_free(&b);
	return out;
}

char *wm_folder_check(struct wm_session *s, const char *id, struct error *err)
{
	int r;

	if (id == NULL || !store_folder_valid(id)) {
		error_set_code(err, ERR_PERM, MINDEX_ERR_NOTFOUND,
			       "no such folder");
		return NULL;
	}
	if (store_folder_is_inbox(id))
		return xstrdup("INBOX");
	r = mindex_folder_exists(s->mu, id, err);
	if (r < 0 && err->kind == ERR_TEMP)
		return NULL;
	if (r <= 0) {
		error_set_code(err, ERR_PERM, MINDEX_ERR_NOTFOUND,
			       "no such folder");
		return NULL;
	}
	return xstrdup(id);
}

char *wm_folder_arg(struct wm_req *r, const char *id)
{
	struct error err;
	char *name = wm_folder_check(r->session, id, &err);

	if (name == NULL)
		wm_fail(r, &err);
	return name;
}

const char *wm_folder_role(struct wm_session *s, const char *name)
{
	unsigned a;

	if (store_folder_is_inbox(name))
		return "inbox";
	a = mindex_special_use(s->mu, name);
	if (a & MINDEX_ATTR_DRAFTS)
		return "drafts";
	if (a & MINDEX_ATTR_SENT)
		return "sent";
	if (a & MINDEX_ATTR_JUNK)
		return "junk";
	if (a & MINDEX_ATTR_TRASH)
		return "trash";
	if (a & MINDEX_ATTR_ARCHIVE)
		return "archive";
	return NULL;
}

static int role_rank(const char *role)
{
	static const char *const order[] = {"inbox", "drafts", "sent",
					    "junk",  "trash",  "archive"};

	for (int i = 0; role != NULL && i < 6; i++)
		if (strcmp(role, order[i]) == 0)
			return i;
	return 6;
}

/* The folder object of docs/webmail-api.md; NULL after an error. */
static json_t *folder_json(struct wm_session *s, const char *name,
			   bool subscribed, struct error *err)
{
	struct mindex_status st;
	const char *role = wm_folder_role(s, name);
	char *display;
	json_t *v;

	if (mindex_folder_status(s->mu, name, &st, err) < 0)
		return NULL;
	display = wm_folder_display(name);
	v = json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:b}", "id", name, "name",
		      display, "role",
		      role != NULL ? json_string(role) : json_null(), "total",
		      (json_int_t)st.messages, "unread", (json_int_t)st.unseen,
		      "size", (json_int_t)st.size, "subscribed", subscribed);
	free(display);
	return v;
}

static int folder_cmp(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int ra = role_rank(json_string_value(json_object_get(a, "role")));
	int rb = role_rank(json_string_value(json_object_get(b, "role")));
	const char *na = json_string_value(json_object_get(a, "name"));
	const char *nb = json_string_value(json_object_get(b, "name"));
	int c;

	if (ra != rb)
		return ra - rb;
	c = strcasecmp(na, nb);
	return c != 0 ? c : strcmp(na, nb);
}

static void folders_list(struct wm_req *r)
{
	struct wm_session *s = r->session;
	struct array *list = NULL, *objs = array_new();
	struct error err;
	json_t *items = json_array();

	if (mindex_folder_list(s->mu, &list, &err) < 0) {
		wm_fail(r, &err);
		goto out;
	}
	for (size_t i = 0; i < array_len(list); i++) {
		const struct mindex_folder_info *fi = array_get(list, i);
		json_t *v;
		if (fi->attrs & MINDEX_ATTR_NONEXISTENT)
			continue;
		v = folder_json(s, fi->name,
				(fi->attrs & MINDEX_ATTR_SUBSCRIBED) != 0, &err);
		if (v == NULL) {
			if (mindex_err_is(&err, MINDEX_ERR_NOTFOUND))
				continue; /* deleted meanwhile */
			wm_fail(r, &err);
			goto out;
		}
		array_push(objs, v);
	}
	array_sort(objs, folder_cmp);
	for (size_t i = 0; i < array_len(objs); i++)
		json_array_append(items, array_get(objs, i));
	wm_json(r, 200, json_pack("{s:O}", "items", items));
out:
	for (size_t i = 0; objs != NULL && i < array_len(objs); i++)
		json_decref(array_get(objs, i));
	array_free(&objs);
	json_decref(items);
	mindex_folder_list_free(&list);
}

/* The "name" of the body as an on-disk name; NULL after answering. */
static char *body_name(struct wm_req *r)
{
	json_t *body = wm_body_json(r);
	const char *display;
	char *name;

	if (body == NULL)
		return NULL;
	display = json_string_value(json_object_get(body, "name"));
	if (display == NULL) {
		wm_error(r, 400, "bad_request", "\"name\" (a string) is needed");
		json_decref(body);
		return NULL;
	}
	name = wm_folder_from_display(display);
	if (name == NULL)
		wm_error(r, 422, "invalid",
			 "not a folder name: levels separated by \"/\", no "
			 "\".\", no empty level");
	else if (strcmp(name, "INBOX") == 0) {
		wm_error(r, 409, "exists", "the Inbox exists");
		free(name);
		name = NULL;
	}
	json_decref(body);
	return name;
}

static void answer_folder(struct wm_req *r, unsigned status, const char *name)
{
	struct wm_session *s = r->session;
	struct error err;
	int sub = mindex_is_subscribed(s->mu, name, &err);
	json_t *v = folder_json(s, name, sub == 1, &err);

	if (v == NULL)
		wm_fail(r, &err);
	else
		wm_json(r, status, v);
}

static void folder_create(struct wm_req *r)
{
	struct wm_session *s = r->session;
	char *name = body_name(r);
	struct error err;

	if (name == NULL)
		return;
	if (mindex_folder_create(s->mu, name, &err) < 0 ||
	    mindex_subscribe(s->mu, name, true, &err) < 0)
		wm_fail(r, &err);
	else
		answer_folder(r, 201, name);
	free(name);
}

/* Close the list's cached folder before a rename or delete changes the
 * directories under it. */
static void drop_cached(struct wm_session *s)
{
	struct wm_folder_cache *fc = wm_session_folder_cache(s);

	mindex_folder_close(&fc->f);
	free(fc->name);
	fc->name = NULL;
}

/* INBOX and the special-use folders keep their names and stay. */
static bool protected(struct wm_req *r, const char *name)
{
	if (wm_folder_role(r->session, name) == NULL)
		return false;
	wm_error(r, 422, "invalid",
		 "the Inbox and the special folders cannot be renamed or "
		 "deleted");
	return true;
}

static void folder_rename(struct wm_req *r)
{
	struct wm_session *s = r->session;
	char *from = wm_folder_arg(r, r->args[0]), *to = NULL;
	struct error err;

	if (from == NULL || protected(r, from))
		goto out;
	to = body_name(r);
	if (to == NULL)
		goto out;
	drop_cached(s);
	if (mindex_folder_rename(s->mu, from, to, &err) < 0)
		wm_fail(r, &err);
	else
		answer_folder(r, 200, to);
out:
	free(from);
	free(to);
}

static void folder_delete(struct wm_req *r)
{
	struct wm_session *s = r->session;
	char *name = wm_folder_arg(r, r->args[0]);
	struct error err;

	if (name == NULL || protected(r, name))
		goto out;
	drop_cached(s);
	if (mindex_folder_delete(s->mu, name, &err) < 0) {
		wm_fail(r, &err);
		goto out;
	}
	if (mindex_subscribe(s->mu, name, false, &err) < 0)
		log_warn("webmail(%s): unsubscribe %s: %s", s->address, name,
			 err.msg);
	wm_body(r, 204, "application/json", "", 0);
out:
	free(name);
}

int wm_folder_expunge_all(struct wm_session *s, const char *name,
			  struct error *err)
{
	struct mindex_folder *f = mindex_folder_open(s->mu, name, false, err);
	struct mindex_sync_result sr = {0};
	uint32_t n, *seqs;
	int rc = 0;

	if (f == NULL)
		return -1;
	n = mindex_folder_count(f);
	seqs = xcalloc(n ? n : 1, sizeof(*seqs));
	for (uint32_t i = 0; i < n; i++)
		seqs[i] = i + 1;
	if (n > 0 && mindex_expunge(f, seqs, n, err) < 0)
		rc = -1;
	else if (n > 0 && mindex_folder_sync(f, 0, &sr, err) < 0)
		rc = -1;
	mindex_sync_result_free(&sr);
	free(seqs);
	mindex_folder_close(&f);
	return rc;
}

static void folder_empty(struct wm_req *r)
{
	struct wm_session *s = r->session;
	char *name = wm_folder_arg(r, r->args[0]);
	const char *role;
	struct error err;

	if (name == NULL)
		return;
	role = wm_folder_role(s, name);
	if (role == NULL ||
	    (strcmp(role, "trash") != 0 && strcmp(role, "junk") != 0))
		wm_error(r, 422, "invalid", "only Trash and Junk can be emptied");
	else if (wm_folder_expunge_all(s, name, &err) < 0)
		wm_fail(r, &err);
	else
		wm_body(r, 204, "application/json", "", 0);
	free(name);
}

const struct wm_route wm_routes_folders[] = {
    {"GET", "/api/folders", folders_list, false},
    {"POST", "/api/folders", folder_create, false},
    {"PATCH", "/api/folders/{folder}", folder_rename, false},
    {"DELETE", "/api/folders/{folder}", folder_delete, false},
    {"POST", "/api/folders/{folder}/empty", folder_empty, false},
    {NULL},
};
