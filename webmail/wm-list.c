/*
 * wm-list.c - the message list of a folder (paging, sorting, the
 * conversation view), the messages of one thread, and the actions on
 * selected messages (flags, move, delete to Trash, junk).
 *
 * Summaries come from the index cache: field "wm.summary" holds a small
 * JSON object per message (decoded sender, recipients, subject, sent
 * date, message ids for threading, base subject, attachment mark,
 * RFC 8970 preview), computed from the message file the first time and
 * stored with mindex_cache_put_many, so a list of 10,000 messages reads
 * one SQLite table and no message file.  Flags and sizes come from the
 * folder view (the uidlist and file names), never from the cache.
 *
 * The sorted orders and the threads (THREAD=REFERENCES over the whole
 * folder; a thread's id is the UID of its first message) are kept per
 * (user, folder) in the process by wm-order.c: a request syncs the
 * folder, compares its view's stamp with the entry's (new messages'
 * keys are read from the cache, nothing else), takes its page from the
 * kept order and writes each item from the text the entry keeps for
 * it (the summary's fixed fields, rendered once; flags and thread are
 * added per request), reading cached summaries only for the items
 * without one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "imap/imap_thread.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mail/preview.h"
#include "mindex/mindex.h"
#include "store/store.h"
#include "store/store_name.h"
#include "wm-core.h"
#include "wm-order.h"

#define CACHE_FIELD "wm.summary"
#define KEYS_FIELD "wm.keys"
/* Bytes of a message read to make its summary (header, preview and the
 * attachment mark come from the start of the message). */
#define SUMMARY_READ_MAX (2u << 20)
#define LIST_LIMIT_MAX 500
#define ACTION_UIDS_MAX 10000

/* ---- summaries ---- */

static void add_address(json_t *arr, const struct header_address *a)
{
	struct buf *name = buf_new();
	char *addr;

	if (a->name != NULL)
		header_decode_2047(a->name, strlen(a->name), name);
	addr = a->host != NULL ? xasprintf("%s@%s", a->mailbox, a->host)
			       : xstrdup(a->mailbox);
	json_array_append_new(arr, json_pack("{s:s,s:s}", "name",
					     buf_data(name), "address", addr));
	free(addr);
	buf_free(&name);
}

static json_t *addresses(const char *hdr, size_t len, const char *field,
			 unsigned max)
{
	json_t *arr = json_array();
	struct buf *v = buf_new();

	if (header_get(hdr, len, field, v)) {
		struct header_address *list =
		    header_address_parse(buf_data(v), buf_len(v), max);
		for (struct header_address *a = list; a != NULL; a = a->next)
			if (a->mailbox != NULL && a->host != NULL)
				add_address(arr, a);
		header_address_free(&list);
	}
	buf_free(&v);
	return arr;
}

static bool is_attachment(const struct mime_part *p)
{
	const char *fname;

	if (p->flags & MIME_PART_MULTIPART)
		return false;
	if (p->disposition != NULL && strcasecmp(p->disposition, "attachment") == 0)
		return true;
	fname = mime_param_get(p->disp_params, p->disp_param_count, "filename");
	if (fname == NULL)
		fname = mime_param_get(p->params, p->param_count, "name");
	if (fname != NULL)
		return true;
	return p->parent != NULL && p->type != NULL &&
	       strcasecmp(p->type, "text") != 0 &&
	       strcasecmp(p->type, "multipart") != 0;
}

static bool has_attachments(const struct mime_part *p)
{
	for (; p != NULL; p = p->next) {
		if (p->parent != NULL && is_attachment(p))
			return true;
		if (has_attachments(p->children))
			return true;
	}
	return false;
}

/* The cached part of a summary, from the message file; NULL when the
 * message is gone. */
static json_t *summary_compute(struct mindex_folder *f, uint32_t seq,
			       struct error *err)
{
	struct buf *data = buf_new(), *v = buf_new(), *subj = buf_new();
	struct mime_message *mm = NULL;
	json_t *o = NULL, *from, *refs;
	time_t date = 0;
	int tz, fd = -1, r;
	char **ids = NULL;
	size_t nids, hlen;
	bool reply = false;

	r = mindex_msg_open(f, seq, &fd, err);
	if (r <= 0)
		goto out;
	buf_reserve(data, 65536);
	for (;;) {
		char chunk[65536];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		buf_append(data, chunk, (size_t)n);
		if (buf_len(data) >= SUMMARY_READ_MAX)
			break;
	}
	close(fd);
	mm = mime_parse(buf_data(data), buf_len(data));
	hlen = buf_len(data);
	{
		const char *hdr = buf_data(data);
		if (header_get(hdr, hlen, "Date", v))
			header_date_parse(buf_data(v), buf_len(v), &date, &tz);
		if (date == 0)
			date = mindex_msg_internaldate(f, seq);
		if (header_get(hdr, hlen, "Subject", v))
			header_decode_2047(buf_data(v), buf_len(v), subj);
		from = addresses(hdr, hlen, "From", 1);
		o = json_pack("{s:I,s:o,s:o,s:s}", "d", (json_int_t)date, "f",
			      json_array_size(from) > 0
				  ? json_incref(json_array_get(from, 0))
				  : json_pack("{s:s,s:s}", "name", "",
					      "address", ""),
			      "t", addresses(hdr, hlen, "To", 50), "s",
			      buf_data(subj));
		json_decref(from);
		if (header_get(hdr, hlen, "Message-ID", v)) {
			nids = imap_msgids_parse(buf_data(v), &ids);
			if (nids > 0)
				json_object_set_new(o, "m", json_string(ids[0]));
			imap_msgids_free(ids, nids);
		}
		nids = 0;
		if (header_get(hdr, hlen, "References", v))
			nids = imap_msgids_parse(buf_data(v), &ids);
		if (nids == 0 && header_get(hdr, hlen, "In-Reply-To", v))
			nids = imap_msgids_parse(buf_data(v), &ids);
		refs = json_array();
		for (size_t i = 0; i < nids && i < 100; i++)
			json_array_append_new(refs, json_string(ids[i]));
		if (nids > 0)
			imap_msgids_free(ids, nids);
		json_object_set_new(o, "r", refs);
	}
	imap_base_subject(buf_data(subj), v, &reply);
	json_object_set_new(o, "b", json_string(buf_data(v)));
	json_object_set_new(o, "y", json_boolean(reply));
	json_object_set_new(o, "a", json_boolean(
		mm != NULL && has_attachments(mime_root(mm))));
	if (mm != NULL)
		mail_preview(mm, v);
	else
		buf_reset(v);
	json_object_set_new(o, "p", json_string(buf_data(v)));
	/* Strings that were not UTF-8 made jansson refuse them: keep the
	 * summary anyway, with what it took. */
out:
	mime_message_free(&mm);
	buf_free(&data);
	buf_free(&v);
	buf_free(&subj);
	return o;
}

struct item {
	uint32_t seq, uid, flags;
	uint64_t size;
	json_t *c;	   /* the cached summary: only for items answered */
	char *keys;	   /* the keys blob; owns the strings below */
	int64_t date;
	bool reply;
	const char *msgid; /* "" when none */
	const char *base;  /* base subject, upper-cased */
	const char *fromkey;
	const char *refs;  /* "<a@b> <c@d>" */
	uint32_t thread;   /* UID of the thread's first message */
	uint32_t tcount;   /* messages in its thread */
};

struct items {
	struct item *v;
	size_t n;
};

static void items_free(struct items *it)
{
	for (size_t i = 0; i < it->n; i++) {
		json_decref(it->v[i].c);
		free(it->v[i].keys);
	}
	free(it->v);
	it->v = NULL;
	it->n = 0;
}

/*
 * The sort and thread keys of a summary, the second cache field
 * (KEYS_FIELD): six NUL-terminated strings - date, "1"/"0" reply,
 * message id, base subject, sender key, references - so a listing parses
 * no JSON for the messages it does not show.
 */
static void keys_make(json_t *c, struct buf *out)
{
	json_t *from = json_object_get(c, "f"), *refs = json_object_get(c, "r");
	const char *fk = json_string_value(json_object_get(from, "name"));
	const char *s;

	if (fk == NULL || fk[0] == '\0')
		fk = json_string_value(json_object_get(from, "address"));
	buf_reset(out);
	buf_printf(out, "%lld",
		   (long long)json_integer_value(json_object_get(c, "d")));
	buf_append_char(out, '\0');
	buf_append_str(out, json_is_true(json_object_get(c, "y")) ? "1" : "0");
	buf_append_char(out, '\0');
	s = json_string_value(json_object_get(c, "m"));
	buf_append_str(out, s != NULL ? s : "");
	buf_append_char(out, '\0');
	s = json_string_value(json_object_get(c, "b"));
	buf_append_str(out, s != NULL ? s : "");
	buf_append_char(out, '\0');
	buf_append_str(out, fk != NULL ? fk : "");
	buf_append_char(out, '\0');
	for (size_t i = 0; i < json_array_size(refs); i++) {
		if (i > 0)
			buf_append_char(out, ' ');
		buf_append_str(out, json_string_value(json_array_get(refs, i)));
	}
	buf_append_char(out, '\0');
}

/* Fill m's keys from a blob; false when it is not one. */
static bool keys_parse(struct item *m, const void *data, size_t len)
{
	const char *f[6];
	char *p, *end;
	size_t n = 0;
	long long d;

	if (len == 0 || ((const char *)data)[len - 1] != '\0')
		return false;
	p = xmalloc(len);
	memcpy(p, data, len);
	end = p + len;
	for (char *q = p; q < end && n < 6; q += strlen(q) + 1)
		f[n++] = q;
	if (n < 6 || !str_to_i64(f[0], &d)) {
		free(p);
		return false;
	}
	free(m->keys);
	m->keys = p;
	m->date = d;
	m->reply = f[1][0] == '1';
	m->msgid = f[2];
	m->base = f[3];
	m->fromkey = f[4];
	m->refs = f[5];
	return true;
}

static void keys_cb(void *ctx, size_t i, const void *data, size_t len)
{
	struct items *it = ctx;

	if (it->v[i].keys == NULL)
		keys_parse(&it->v[i], data, len);
}

static json_t *summary_placeholder(void)
{
	return json_pack("{s:I,s:{s:s,s:s},s:[],s:s,s:[],s:s,s:b}", "d",
			 (json_int_t)0, "f", "name", "", "address", "", "t",
			 "s", "", "r", "b", "", "y", 0);
}

/* Compute the summaries of items[idx[0..n)], keep them on the items and
 * store both cache fields. */
static void items_compute(struct mindex_folder *f, struct item **sel,
			  size_t n, bool want_keys)
{
	struct mindex_cache_item *sp = xcalloc(n ? n : 1, sizeof(*sp));
	struct mindex_cache_item *kp = xcalloc(n ? n : 1, sizeof(*kp));
	char **dumps = xcalloc(n ? n : 1, sizeof(*dumps));
	struct buf **kbufs = xcalloc(n ? n : 1, sizeof(*kbufs));
	size_t ns = 0, nk = 0;
	struct error err;

	for (size_t i = 0; i < n; i++) {
		struct item *m = sel[i];
		json_t *c = summary_compute(f, m->seq, &err);
		bool real = c != NULL;

		if (c == NULL)
			c = summary_placeholder();
		json_decref(m->c);
		m->c = c;
		if (want_keys || m->keys == NULL) {
			struct buf *kb = buf_new();
			keys_make(c, kb);
			keys_parse(m, buf_data(kb), buf_len(kb));
			if (real) {
				kp[nk].uid = m->uid;
				kp[nk].data = buf_data(kb);
				kp[nk].len = buf_len(kb);
				nk++;
			}
			kbufs[i] = kb;
		}
		if (!real)
			continue;
		dumps[ns] = json_dumps(c, JSON_COMPACT);
		if (dumps[ns] == NULL)
			continue;
		sp[ns].uid = m->uid;
		sp[ns].data = dumps[ns];
		sp[ns].len = strlen(dumps[ns]);
		ns++;
	}
	if (ns > 0 && mindex_cache_put_many(f, CACHE_FIELD, sp, ns, &err) < 0)
		log_warn("webmail: summary cache: %s", err.msg);
	if (nk > 0 && mindex_cache_put_many(f, KEYS_FIELD, kp, nk, &err) < 0)
		log_warn("webmail: summary cache: %s", err.msg);
	for (size_t i = 0; i < n; i++)
		buf_free(&kbufs[i]);
	for (size_t i = 0; i < ns; i++)
		free(dumps[i]);
	free(kbufs);
	free(dumps);
	free(kp);
	free(sp);
}

/* Every message of the view (or only seqs[0..nseqs), ascending, when
 * seqs) with its flags, size and keys (summaries computed and stored
 * for those without). */
static int items_load(struct mindex_folder *f, const uint32_t *seqs,
		      size_t nseqs, struct items *it, struct error *err)
{
	uint32_t count = mindex_folder_count(f);
	size_t n = seqs != NULL ? nseqs : count, k = 0, nmiss = 0;
	struct item **miss;
	uint32_t *uids;

	it->v = xcalloc(n ? n : 1, sizeof(*it->v));
	uids = xcalloc(n ? n : 1, sizeof(*uids));
	for (size_t i = 0; i < n; i++) {
		uint32_t seq = seqs != NULL ? seqs[i] : (uint32_t)(i + 1);
		const struct mindex_msg *m = mindex_msg(f, seq);
		if (m == NULL || m->expunged)
			continue;
		/* The cache wants ascending UIDs (sequence order). */
		if (k > 0 && m->uid <= uids[k - 1])
			continue;
		it->v[k].seq = seq;
		it->v[k].uid = m->uid;
		it->v[k].flags = m->flags;
		it->v[k].size = m->vsize;
		uids[k] = m->uid;
		k++;
	}
	it->n = k;
	if (k > 0 &&
	    mindex_cache_get_many(f, uids, k, KEYS_FIELD, keys_cb, it, err) < 0)
		log_warn("webmail: summary cache: %s", err->msg);
	miss = xcalloc(k ? k : 1, sizeof(*miss));
	for (size_t i = 0; i < k; i++)
		if (it->v[i].keys == NULL)
			miss[nmiss++] = &it->v[i];
	if (nmiss > 0)
		items_compute(f, miss, nmiss, true);
	free(miss);
	free(uids);
	return 0;
}

struct sel_ctx {
	struct item **sel;
};

static void summary_cb(void *ctx, size_t i, const void *data, size_t len)
{
	struct sel_ctx *sc = ctx;
	json_error_t jerr;
	json_t *o = json_loadb(data, len, 0, &jerr);

	if (o != NULL && json_is_object(o) && sc->sel[i]->c == NULL)
		sc->sel[i]->c = o;
	else
		json_decref(o);
}

static int item_uid_cmp(const void *pa, const void *pb)
{
	const struct item *a = *(const struct item *const *)pa;
	const struct item *b = *(const struct item *const *)pb;
	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

/* Make sure the items to answer have their summary (sel is reordered). */
static void items_summaries(struct mindex_folder *f, struct item **sel,
			    size_t n)
{
	struct item **need = xcalloc(n ? n : 1, sizeof(*need));
	uint32_t *uids = xcalloc(n ? n : 1, sizeof(*uids));
	struct sel_ctx sc = {need};
	size_t k = 0, nmiss = 0;
	struct error err;

	for (size_t i = 0; i < n; i++)
		if (sel[i]->c == NULL)
			need[k++] = sel[i];
	qsort(need, k, sizeof(*need), item_uid_cmp);
	for (size_t i = 0; i < k; i++)
		uids[i] = need[i]->uid;
	if (k > 0 && mindex_cache_get_many(f, uids, k, CACHE_FIELD, summary_cb,
					   &sc, &err) < 0)
		log_warn("webmail: summary cache: %s", err.msg);
	for (size_t i = 0; i < k; i++)
		if (need[i]->c == NULL)
			need[nmiss++] = need[i];
	if (nmiss > 0)
		items_compute(f, need, nmiss, false);
	free(uids);
	free(need);
}

static void iso_date(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *summary_json(const struct item *m)
{
	json_t *c = m->c;
	char date[32];
	const char *s;

	iso_date(m->date, date);
	s = json_string_value(json_object_get(c, "s"));
	return json_pack(
	    "{s:I,s:I,s:I,s:s,s:O,s:O,s:s,s:I,s:b,s:b,s:b,s:b,s:b,s:s}", "uid",
	    (json_int_t)m->uid, "thread", (json_int_t)m->thread,
	    "thread_count", (json_int_t)m->tcount, "date", date, "from",
	    json_object_get(c, "f") ? json_object_get(c, "f") : json_null(),
	    "to", json_object_get(c, "t") ? json_object_get(c, "t") : json_null(),
	    "subject", s != NULL ? s : "", "size", (json_int_t)m->size, "seen",
	    (m->flags & STORE_FLAG_SEEN) != 0, "flagged",
	    (m->flags & STORE_FLAG_FLAGGED) != 0, "answered",
	    (m->flags & STORE_FLAG_REPLIED) != 0, "draft",
	    (m->flags & STORE_FLAG_DRAFT) != 0, "has_attachments",
	    json_is_true(json_object_get(c, "a")), "preview",
	    json_string_value(json_object_get(c, "p"))
		? json_string_value(json_object_get(c, "p"))
		: "");
}

json_t *wm_list_summary(struct mindex_folder *f, uint32_t seq, struct error *err)
{
	struct items it = {0};
	json_t *v = NULL;

	if (items_load(f, &seq, 1, &it, err) < 0)
		return NULL;
	if (it.n == 1) {
		struct item *m = &it.v[0];
		m->thread = m->uid;
		m->tcount = 1;
		items_summaries(f, &m, 1);
		v = summary_json(m);
	} else {
		error_set_code(err, ERR_PERM, MINDEX_ERR_NOTFOUND,
			       "no such message");
	}
	items_free(&it);
	return v;
}

/* ---- the order state (wm-order.h) of an open folder ---- */

struct src_ctx {
	struct mindex_folder *f;
	struct items it; /* the keys of the last loader call */
};

static size_t src_list(void *ctx, struct wm_order_msg **msgs_r)
{
	struct src_ctx *sc = ctx;
	uint32_t count = mindex_folder_count(sc->f);
	struct wm_order_msg *v = xcalloc(count + 1u, sizeof(*v));
	size_t k = 0;

	for (uint32_t seq = 1; seq <= count; seq++) {
		const struct mindex_msg *m = mindex_msg(sc->f, seq);
		if (m == NULL || m->expunged ||
		    (k > 0 && m->uid <= v[k - 1].uid))
			continue;
		v[k].uid = m->uid;
		v[k].flags = m->flags;
		v[k].size = m->vsize;
		k++;
	}
	*msgs_r = v;
	return k;
}

static int src_keys(void *ctx, const uint32_t *uids, size_t n,
		    struct wm_order_keys *keys_r, struct error *err)
{
	struct src_ctx *sc = ctx;
	uint32_t *seqs = xcalloc(n + 1, sizeof(*seqs));
	size_t ns = 0, j = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t seq = mindex_seq_of_uid(sc->f, uids[i]);
		if (seq != 0)
			seqs[ns++] = seq;
	}
	items_free(&sc->it);
	if (items_load(sc->f, seqs, ns, &sc->it, err) < 0) {
		free(seqs);
		return -1;
	}
	free(seqs);
	/* Both ascending: a message gone meanwhile keeps empty keys (it
	 * goes at the next refresh). */
	for (size_t i = 0; i < n; i++) {
		while (j < sc->it.n && sc->it.v[j].uid < uids[i])
			j++;
		if (j < sc->it.n && sc->it.v[j].uid == uids[i]) {
			const struct item *m = &sc->it.v[j];
			keys_r[i].date = m->date;
			keys_r[i].reply = m->reply;
			keys_r[i].msgid = m->msgid;
			keys_r[i].base = m->base;
			keys_r[i].fromkey = m->fromkey;
			keys_r[i].refs = m->refs;
		}
	}
	return 0;
}

/* The order state of f for user, up to date with f's view: locked
 * until wm_order_put. */
static struct wm_order *order_get(const char *user, struct mindex_folder *f,
				  bool peek, struct error *err)
{
	struct src_ctx sc = {f, {0}};
	struct wm_order_source src = {
	    .stamp = {mindex_folder_uidvalidity(f), mindex_folder_uidnext(f),
		      mindex_folder_count(f), mindex_folder_highestmodseq(f)},
	    .list = src_list,
	    .keys = src_keys,
	    .ctx = &sc,
	};
	struct wm_order *o =
	    peek ? wm_order_peek(user, mindex_folder_name(f), &src, err)
		 : wm_order_get(user, mindex_folder_name(f), &src, err);

	items_free(&sc.it);
	return o;
}

int wm_list_thread_of(const char *user, struct mindex_folder *f, uint32_t uid,
		      uint32_t build_max, uint32_t *thread_r, uint32_t *count_r,
		      struct error *err)
{
	bool peek = mindex_folder_count(f) > build_max;
	struct wm_order *o = order_get(user, f, peek, err);
	struct wm_order_item m;
	int rc = 0;

	*thread_r = uid;
	*count_r = 1;
	if (o == NULL)
		return peek ? 0 : -1;
	if (wm_order_item(o, uid, &m)) {
		*thread_r = m.thread;
		*count_r = m.thread_count;
		rc = 1;
	}
	wm_order_put(&o);
	return rc;
}

/*
 * The fixed part of a message's list item, every summary field but uid,
 * thread, thread_count and the flags, as JSON members and the closing
 * brace ("\"date\":...}"): what the order entry keeps per message, so a
 * page is written without parsing or building JSON.  NULL when it cannot
 * be written (a string jansson refused).
 */
static char *item_tail(const struct item *m)
{
	json_t *c = m->c, *o;
	const char *s = json_string_value(json_object_get(c, "s"));
	const char *p = json_string_value(json_object_get(c, "p"));
	char date[32], *d;

	iso_date(m->date, date);
	o = json_pack("{s:s,s:O,s:O,s:s,s:I,s:b,s:s}", "date", date, "from",
		      json_object_get(c, "f") ? json_object_get(c, "f")
					      : json_null(),
		      "to",
		      json_object_get(c, "t") ? json_object_get(c, "t")
					      : json_null(),
		      "subject", s != NULL ? s : "", "size", (json_int_t)m->size,
		      "has_attachments", json_is_true(json_object_get(c, "a")),
		      "preview", p != NULL ? p : "");
	if (o == NULL)
		return NULL;
	d = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (d == NULL || d[0] != '{') {
		free(d);
		return NULL;
	}
	memmove(d, d + 1, strlen(d));
	return d;
}

/*
 * The list items of v[0..n) (in that order, comma-separated) into out,
 * with o held: kept tails from o, the others from the summary cache (or
 * the message files), rendered and kept in o afterwards.
 */
static void page_write(struct wm_order *o, struct mindex_folder *f,
		       const struct wm_order_item *v, size_t n, struct buf *out)
{
	char **own = xcalloc(n + 1, sizeof(*own));
	struct item **sel = xcalloc(n + 1, sizeof(*sel));
	struct items it = {0};
	size_t k = 0;
	bool first = true;

	it.v = xcalloc(n + 1, sizeof(*it.v));
	for (size_t i = 0; i < n; i++) {
		uint32_t seq;
		struct item *m;

		if (wm_order_text(o, v[i].uid) != NULL)
			continue;
		seq = mindex_seq_of_uid(f, v[i].uid);
		if (seq == 0)
			continue; /* gone since the refresh */
		m = &it.v[it.n++];
		m->seq = seq;
		m->uid = v[i].uid;
		m->size = v[i].size;
		m->date = v[i].date;
		sel[k++] = m;
	}
	items_summaries(f, sel, k);
	for (size_t i = 0, j = 0; i < n && j < it.n; i++)
		if (v[i].uid == it.v[j].uid)
			own[i] = item_tail(&it.v[j++]);
	for (size_t i = 0; i < n; i++) {
		const char *tail =
		    own[i] != NULL ? own[i] : wm_order_text(o, v[i].uid);
		uint32_t fl = v[i].flags;

		if (tail == NULL)
			continue;
		buf_printf(out,
			   "%s{\"uid\":%u,\"thread\":%u,\"thread_count\":%u,"
			   "\"seen\":%s,\"flagged\":%s,\"answered\":%s,"
			   "\"draft\":%s,%s",
			   first ? "" : ",", v[i].uid, v[i].thread,
			   v[i].thread_count,
			   fl & STORE_FLAG_SEEN ? "true" : "false",
			   fl & STORE_FLAG_FLAGGED ? "true" : "false",
			   fl & STORE_FLAG_REPLIED ? "true" : "false",
			   fl & STORE_FLAG_DRAFT ? "true" : "false", tail);
		first = false;
	}
	/* Kept only now: a set_text may drop the texts used above. */
	for (size_t i = 0; i < n; i++)
		if (own[i] != NULL) {
			wm_order_set_text(o, v[i].uid, own[i]);
			free(own[i]);
		}
	items_free(&it);
	free(sel);
	free(own);
}

/* ---- the list ---- */

/*
 * The folder of args[0], read-only, from the session's cache: the list
 * keeps its last folder open between requests, so paging through a
 * folder of 10,000 messages syncs a view (a few stat() calls when
 * nothing changed) instead of scanning the directories again.  NULL
 * after answering.  Not to be closed: it belongs to the session.
 */
static struct mindex_folder *open_arg(struct wm_req *r)
{
	struct wm_folder_cache *fc = wm_session_folder_cache(r->session);
	char *name = wm_folder_arg(r, r->args[0]);
	struct mindex_sync_result sr = {0};
	struct error err;

	if (name == NULL)
		return NULL;
	if (fc->f != NULL && strcmp(fc->name, name) == 0) {
		int rc = mindex_folder_sync(fc->f, 0, &sr, &err);
		mindex_sync_result_free(&sr);
		if (rc == 0) {
			free(name);
			return fc->f;
		}
		/* Renamed, deleted or recreated meanwhile: open again. */
	}
	mindex_folder_close(&fc->f);
	free(fc->name);
	fc->name = name;
	fc->f = mindex_folder_open(r->session->mu, name, true, &err);
	if (fc->f == NULL)
		wm_fail(r, &err);
	return fc->f;
}


static void list(struct wm_req *r)
{
	const char *sort = wm_query(r, "sort"), *order = wm_query(r, "order");
	long long offset = wm_query_int(r, "offset", 0, 0, 1LL << 31);
	long long limit = wm_query_int(r, "limit", 50, 1, LIST_LIMIT_MAX);
	bool threads = wm_query_int(r, "threads", 0, 0, 1) == 1;
	enum wm_order_key key = WM_ORDER_DATE;
	struct mindex_folder *f = open_arg(r);
	struct wm_order_item *page = NULL;
	struct wm_order *o;
	size_t np, total, messages;
	struct buf *out;
	struct error err;
	bool desc;

	if (f == NULL)
		return;
	if (sort != NULL && strcmp(sort, "from") == 0)
		key = WM_ORDER_FROM;
	else if (sort != NULL && strcmp(sort, "subject") == 0)
		key = WM_ORDER_SUBJECT;
	else if (sort != NULL && strcmp(sort, "size") == 0)
		key = WM_ORDER_SIZE;
	else if (sort != NULL && strcmp(sort, "date") != 0) {
		wm_error(r, 400, "bad_request",
			 "sort is date, from, subject or size");
		return;
	}
	desc = order != NULL ? strcmp(order, "asc") != 0
			     : key == WM_ORDER_DATE || key == WM_ORDER_SIZE;
	out = buf_new();
	o = order_get(r->session->address, f, false, &err);
	if (o == NULL) {
		buf_free(&out);
		wm_fail(r, &err);
		return;
	}
	page = xcalloc((size_t)limit, sizeof(*page));
	np = wm_order_page(o, key, desc, threads, (size_t)offset,
			   (size_t)limit, page);
	messages = wm_order_count(o);
	total = threads ? wm_order_threads(o) : messages;
	buf_printf(out,
		   "{\"total\":%zu,\"messages\":%zu,\"unread\":%zu,"
		   "\"uidvalidity\":%u,\"items\":[",
		   total, messages, wm_order_unread(o),
		   mindex_folder_uidvalidity(f));
	page_write(o, f, page, np, out);
	buf_append_str(out, "]}");
	wm_order_put(&o);
	free(page);
	wm_body(r, 200, "application/json", buf_data(out), buf_len(out));
	buf_free(&out);
}

static void thread(struct wm_req *r)
{
	unsigned long long uid;
	struct mindex_folder *f;
	struct wm_order_item *v = NULL;
	struct wm_order *o;
	size_t nv;
	struct buf *out;
	struct error err;

	if (!str_to_u64(r->args[1], &uid) || uid == 0 || uid > UINT32_MAX) {
		wm_error(r, 404, "not_found", "no such message");
		return;
	}
	f = open_arg(r);
	if (f == NULL)
		return;
	o = order_get(r->session->address, f, false, &err);
	if (o == NULL) {
		wm_fail(r, &err);
		return;
	}
	nv = wm_order_thread_items(o, (uint32_t)uid, &v);
	if (nv == 0) {
		wm_order_put(&o);
		wm_error(r, 404, "not_found", "no such message");
		return;
	}
	out = buf_new();
	buf_append_str(out, "{\"items\":[");
	page_write(o, f, v, nv, out);
	buf_append_str(out, "]}");
	wm_order_put(&o);
	free(v);
	wm_body(r, 200, "application/json", buf_data(out), buf_len(out));
	buf_free(&out);
}

/* ---- actions ---- */

/* The name of the folder of a role ("trash"...), NULL when none. */
static char *role_folder(struct wm_session *s, const char *role)
{
	struct array *list = NULL;
	struct error err;
	char *out = NULL;

	if (strcmp(role, "inbox") == 0)
		return xstrdup("INBOX");
	if (mindex_folder_list(s->mu, &list, &err) < 0)
		return NULL;
	for (size_t i = 0; i < array_len(list) && out == NULL; i++) {
		const struct mindex_folder_info *fi = array_get(list, i);
		const char *fr = wm_folder_role(s, fi->name);
		if (!(fi->attrs & MINDEX_ATTR_NONEXISTENT) && fr != NULL &&
		    strcmp(fr, role) == 0)
			out = xstrdup(fi->name);
	}
	mindex_folder_list_free(&list);
	return out;
}

static int u32_cmp(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	return a < b ? -1 : a > b;
}

/* Move seqs of src to dst: copy, then expunge in src.  uids_r[i]: the
 * new UID of seqs[i] (0: gone meanwhile). */
static int move(struct wm_session *s, struct mindex_folder *src,
		const uint32_t *seqs, size_t n, const char *dst_name,
		uint32_t *uids_r, struct error *err)
{
	struct mindex_folder *dst;
	struct mindex_sync_result sr = {0};
	uint32_t *gone = xcalloc(n ? n : 1, sizeof(*gone));
	size_t ng = 0;
	int rc = -1;

	dst = mindex_folder_open_target(s->mu, dst_name, err);
	if (dst == NULL)
		goto out;
	if (mindex_copy(src, seqs, n, dst, NULL, uids_r, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (uids_r[i] != 0)
			gone[ng++] = seqs[i];
	if (ng > 0 && mindex_expunge(src, gone, ng, err) < 0)
		goto out;
	if (mindex_folder_sync(src, 0, &sr, err) < 0)
		goto out;
	rc = 0;
out:
	mindex_sync_result_free(&sr);
	mindex_folder_close(&dst);
	free(gone);
	return rc;
}

static void actions(struct wm_req *r)
{
	struct wm_session *s = r->session;
	json_t *body = wm_body_json(r), *juids, *map = NULL;
	const char *folder, *action, *target;
	char *src_name = NULL, *dst_name = NULL;
	struct mindex_folder *f = NULL;
	uint32_t *seqs = NULL, *uids = NULL, *newuids = NULL;
	size_t n = 0;
	struct error err;
	const char *role;
	bool expunge = false;
	uint32_t flag = 0;
	enum mindex_flags_mode mode = MINDEX_FLAGS_ADD;

	if (body == NULL)
		return;
	folder = json_string_value(json_object_get(body, "folder"));
	action = json_string_value(json_object_get(body, "action"));
	target = json_string_value(json_object_get(body, "target"));
	juids = json_object_get(body, "uids");
	if (folder == NULL || action == NULL || !json_is_array(juids) ||
	    json_array_size(juids) > ACTION_UIDS_MAX) {
		wm_error(r, 400, "bad_request",
			 "folder, action and uids (at most %d) are needed",
			 ACTION_UIDS_MAX);
		goto out;
	}
	src_name = wm_folder_arg(r, folder);
	if (src_name == NULL)
		goto out;
	role = wm_folder_role(s, src_name);
	if (strcmp(action, "seen") == 0 || strcmp(action, "unseen") == 0) {
		flag = STORE_FLAG_SEEN;
		mode = action[0] == 's' ? MINDEX_FLAGS_ADD : MINDEX_FLAGS_REMOVE;
	} else if (strcmp(action, "flag") == 0 || strcmp(action, "unflag") == 0) {
		flag = STORE_FLAG_FLAGGED;
		mode = action[0] == 'f' ? MINDEX_FLAGS_ADD : MINDEX_FLAGS_REMOVE;
	} else if (strcmp(action, "move") == 0) {
		if (target == NULL) {
			wm_error(r, 400, "bad_request", "move needs a target");
			goto out;
		}
		dst_name = wm_folder_arg(r, target);
		if (dst_name == NULL)
			goto out;
	} else if (strcmp(action, "delete") == 0) {
		if (role != NULL && strcmp(role, "trash") == 0)
			expunge = true;
		else
			dst_name = role_folder(s, "trash");
		if (!expunge && dst_name == NULL)
			expunge = true; /* no Trash: delete for good */
	} else if (strcmp(action, "junk") == 0 ||
		   strcmp(action, "notjunk") == 0) {
		dst_name = role_folder(s, action[0] == 'j' ? "junk" : "inbox");
		if (dst_name == NULL) {
			wm_error(r, 422, "invalid", "there is no Junk folder");
			goto out;
		}
	} else {
		wm_error(r, 400, "bad_request", "unknown action");
		goto out;
	}
	if (dst_name != NULL && strcmp(dst_name, src_name) == 0) {
		wm_error(r, 422, "invalid", "the target is the same folder");
		goto out;
	}
	f = mindex_folder_open(s->mu, src_name, false, &err);
	if (f == NULL) {
		wm_fail(r, &err);
		goto out;
	}
	uids = xcalloc(json_array_size(juids) + 1, sizeof(*uids));
	for (size_t i = 0; i < json_array_size(juids); i++) {
		json_int_t u = json_integer_value(json_array_get(juids, i));
		if (u > 0 && u <= UINT32_MAX)
			uids[n++] = (uint32_t)u;
	}
	qsort(uids, n, sizeof(*uids), u32_cmp);
	seqs = xcalloc(n + 1, sizeof(*seqs));
	{
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			uint32_t seq = mindex_seq_of_uid(f, uids[i]);
			if (seq == 0 || (i > 0 && uids[i] == uids[i - 1]))
				continue;
			uids[k] = uids[i];
			seqs[k++] = seq;
		}
		n = k;
	}
	map = json_object();
	if (n == 0) {
		/* Nothing of these is here (any more): nothing done. */
	} else if (flag != 0) {
		enum mindex_store_result *res = xcalloc(n, sizeof(*res));
		int rc = mindex_store_flags(f, seqs, n, mode, flag, 0, 0, res,
					    &err);
		free(res);
		if (rc < 0) {
			wm_fail(r, &err);
			goto out;
		}
	} else if (expunge) {
		struct mindex_sync_result sr = {0};
		int rc = mindex_expunge(f, seqs, n, &err);
		if (rc == 0)
			rc = mindex_folder_sync(f, 0, &sr, &err);
		mindex_sync_result_free(&sr);
		if (rc < 0) {
			wm_fail(r, &err);
			goto out;
		}
	} else {
		newuids = xcalloc(n, sizeof(*newuids));
		if (move(s, f, seqs, n, dst_name, newuids, &err) < 0) {
			wm_fail(r, &err);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			char k[16];
			if (newuids[i] == 0)
				continue;
			snprintf(k, sizeof(k), "%u", uids[i]);
			json_object_set_new(map, k, json_integer(newuids[i]));
		}
	}
	wm_json(r, 200,
		json_pack("{s:I,s:O}", "done", (json_int_t)n, "uids", map));
out:
	json_decref(map);
	json_decref(body);
	mindex_folder_close(&f);
	free(src_name);
	free(dst_name);
	free(seqs);
	free(uids);
	free(newuids);
}

const struct wm_route wm_routes_list[] = {
    {"GET", "/api/folders/{folder}/messages", list, false},
    {"GET", "/api/folders/{folder}/threads/{uid}", thread, false},
    {"POST", "/api/actions", actions, false},
    {NULL},
};
