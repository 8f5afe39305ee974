/*
 * wm-search - GET /api/search (docs/webmail-api.md): messages of one
 * folder or of every folder of the session's store matching text keys
 * and a date range, newest first, as summaries with their folder.
 *
 * Text keys are answered by the full-text index (lib/fts), which matches
 * as IMAP SEARCH does (case-insensitive substring of the decoded text):
 * from, to, subject and body each name one field; q is split into words
 * (double quotes keep a phrase together) and every word must be found in
 * one of from, to, subject or body.  Messages the index lacks are
 * handled as imapd's SEARCH does (docs/fts.md "Catch-up"): indexed
 * inline for at most SEARCH_INDEX_MS, the rest queued for the background
 * catch-up (fts_background.h) and matched meanwhile by reading their
 * files with IMAP's own matcher (imap_search_text_match on the same text
 * fts_message.c indexes), for at most SEARCH_SCAN_MS per request: beyond
 * that the answer says "partial".
 * Dates (since: that day or later; before: earlier than that day, UTC)
 * compare the INTERNALDATE (delivery time), as IMAP SINCE/BEFORE do, and
 * order the results.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "conf/conf.h"
#include "fts/fts.h"
#include "fts/fts_background.h"
#include "fts/fts_batch.h"
#include "imap/imap_search.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mail/preview.h"
#include "mindex/mindex.h"
#include "store/store.h"
#include "wm-summary.h"
#include "wm-view.h"
#include "wm.h"

/* Indexing inline by one request (the rest goes to the background
 * catch-up), and reading the files of messages still unindexed (beyond
 * that the answer is "partial"). */
#define SEARCH_INDEX_MS 300
#define SEARCH_SCAN_MS 5000
/* Body text compared per unindexed message (as fts_message.c). */
#define SCAN_BODY_MAX (1024 * 1024)
#define SEARCH_LIMIT_MAX 200
#define SEARCH_WORDS_MAX 16

struct query {
	struct fts_key keys[4]; /* from, to, subject, body (ANDed) */
	size_t nkeys;
	struct array *words; /* char *: q words, each in any field */
	time_t since, before;
	bool has_since, has_before;
};

struct sfolder {
	char *name;
	struct mindex_folder *f;
};

struct hit {
	size_t folder; /* index into the folders array */
	uint32_t seq;
	uint32_t uid;
	time_t date;
};

struct search {
	struct wm_req *r;
	struct query q;
	struct fts *fts;
	struct array *folders; /* struct sfolder * */
	struct hit *hits;
	size_t nhits, cap;
	int64_t index_until; /* monotonic ms: inline indexing stops */
	int64_t scan_until;  /* monotonic ms: reading unindexed files stops */
	struct fts_min_free min_free;
	bool partial;
};

/* "YYYY-MM-DD" to the UTC midnight that starts it. */
static bool parse_day(const char *s, time_t *t_r)
{
	struct tm tm = {0};
	int y, m, d;
	char tail;

	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 ||
	    s[4] != '-' || s[7] != '-' || y < 1970 || y > 9999 || m < 1 ||
	    m > 12 || d < 1 || d > 31)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	*t_r = timegm(&tm);
	return true;
}

/* q split into words; "a phrase" stays one. */
static struct array *split_words(const char *q)
{
	struct array *a = array_new();
	const char *p = q;

	while (*p != '\0' && array_len(a) < SEARCH_WORDS_MAX) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		const char *start = p, *end;
		if (*p == '"') {
			start = ++p;
			end = strchr(p, '"');
			if (end == NULL)
				end = p + strlen(p);
			p = *end == '"' ? end + 1 : end;
		} else {
			while (*p != '\0' && !isspace((unsigned char)*p))
				p++;
			end = p;
		}
		if (end > start)
			array_push(a, xstrndup(start, (size_t)(end - start)));
	}
	return a;
}

static const char *nonempty(const char *s)
{
	if (s == NULL)
		return NULL;
	while (isspace((unsigned char)*s))
		s++;
	return *s != '\0' ? s : NULL;
}

/* false after answering 422. */
static bool parse_query(struct wm_req *r, struct query *q)
{
	static const struct {
		const char *param;
		enum fts_field field;
	} fields[] = {
	    {"from", FTS_FROM},
	    {"to", FTS_TO},
	    {"subject", FTS_SUBJECT},
	    {"body", FTS_BODY},
	};
	const char *s;

	memset(q, 0, sizeof(*q));
	for (size_t i = 0; i < 4; i++) {
		s = nonempty(wm_query(r, fields[i].param));
		if (s == NULL)
			continue;
		q->keys[q->nkeys].field = fields[i].field;
		q->keys[q->nkeys++].text = s;
	}
	s = nonempty(wm_query(r, "q"));
	q->words = split_words(s != NULL ? s : "");
	if ((s = nonempty(wm_query(r, "since"))) != NULL) {
		if (!parse_day(s, &q->since)) {
			wm_error(r, 422, "invalid", "since: YYYY-MM-DD");
			return false;
		}
		q->has_since = true;
	}
	if ((s = nonempty(wm_query(r, "before"))) != NULL) {
		if (!parse_day(s, &q->before)) {
			wm_error(r, 422, "invalid", "before: YYYY-MM-DD");
			return false;
		}
		q->has_before = true;
	}
	return true;
}

static bool has_text(const struct query *q)
{
	return q->nkeys > 0 || array_len(q->words) > 0;
}

/*
 * The folder's messages by unique part, to turn the index's answers
 * into sequence numbers: an open-addressing table of sequence numbers
 * (0: empty) over the unique parts, which live in one block.  Built per
 * request; a table of lib/core/hash.h made one allocation per message
 * and spent 45% of a warm search over 100,000 messages building and
 * freeing it (bench/README.md "Webmail search").  The keys are Maildir
 * names the store made, not text from outside: no seeded hash needed.
 */
struct uniq_map {
	char **uniq;    /* [seq - 1]: the unique part */
	char *block;    /* their bytes */
	uint32_t *slot; /* seq, 0 when empty */
	size_t mask;
};

static size_t uniq_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 32));
}

static void uniq_map_init(struct uniq_map *m, struct mindex_folder *f,
			  uint32_t count)
{
	size_t total = 0, size = 16, at = 0;
	uint32_t seq;

	for (seq = 1; seq <= count; seq++)
		total += strcspn(mindex_msg(f, seq)->name, ",:") + 1;
	while (size < (size_t)count * 2)
		size *= 2;
	m->uniq = xcalloc(count + 1, sizeof(*m->uniq));
	m->block = xmalloc(total + 1);
	m->slot = xcalloc(size, sizeof(*m->slot));
	m->mask = size - 1;
	for (seq = 1; seq <= count; seq++) {
		const char *name = mindex_msg(f, seq)->name;
		size_t len = strcspn(name, ",:"), h;

		m->uniq[seq - 1] = m->block + at;
		memcpy(m->block + at, name, len);
		m->block[at + len] = '\0';
		at += len + 1;
		for (h = uniq_hash(m->uniq[seq - 1]) & m->mask; m->slot[h] != 0;
		     h = (h + 1) & m->mask)
			;
		m->slot[h] = seq;
	}
}

static uint32_t uniq_map_find(const struct uniq_map *m, const char *uniq)
{
	for (size_t h = uniq_hash(uniq) & m->mask; m->slot[h] != 0;
	     h = (h + 1) & m->mask)
		if (strcmp(m->uniq[m->slot[h] - 1], uniq) == 0)
			return m->slot[h];
	return 0;
}

static void uniq_map_free(struct uniq_map *m)
{
	free(m->uniq);
	free(m->block);
	free(m->slot);
}

/* Mark in `mark` (by sequence number) the messages whose unique part is
 * in uniques. */
static void mark_uniques(struct array *uniques, const struct uniq_map *map,
			 unsigned char *mark)
{
	for (size_t i = 0; i < array_len(uniques); i++)
		mark[uniq_map_find(map, array_get(uniques, i))] = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Index missing messages inline while the request's indexing time lasts
 * (one transaction); indexed[i] set for those committed.  The others
 * are queued for the background catch-up and scanned.
 */
static void index_inline(struct search *s, struct mindex_folder *f,
			 const char *folder, char **uniq,
			 const struct array *missing, unsigned char *indexed)
{
	struct error err = {0};
	size_t i, n = array_len(missing);

	if (now_ms() >= s->index_until)
		return;
	/* Busy (the background or lmtpd writing): leave it to them. */
	if (fts_begin(s->fts, &err) < 0)
		return;
	for (i = 0; i < n && now_ms() < s->index_until; i++) {
		size_t idx = (size_t)(uintptr_t)array_get(missing, i);
		struct error derr = {0};
		int fd, r;

		if (mindex_msg(f, (uint32_t)idx + 1)->expunged)
			continue;
		r = mindex_msg_open(f, (uint32_t)idx + 1, &fd, &derr);
		if (r <= 0)
			continue;
		r = fts_add_file(s->fts, folder, uniq[idx], fd, &derr);
		close(fd);
		if (r == 0) {
			indexed[i] = 1;
			continue;
		}
		if (derr.code != NULL && strcmp(derr.code, FTS_ERR_NOSPACE) == 0) {
			err = derr;
			break;
		}
		log_warn("webmail: search: indexing: %s", derr.msg);
	}
	if (err.kind == ERR_NONE && fts_commit(s->fts, &err) == 0)
		return;
	fts_rollback(s->fts);
	log_warn("webmail: search: indexing: %s", err.msg);
	memset(indexed, 0, n);
}

/*
 * The messages of f the index lacks: indexed inline for a bounded time,
 * the rest queued for the background catch-up (fts_background.h) and
 * marked in unindexed[seq] for the scan.
 */
static int catch_up(struct search *s, struct mindex_folder *f,
		    const char *folder, char **uniq, uint32_t count,
		    unsigned char *unindexed, struct error *err)
{
	struct wm_req *r = s->r;
	const char *mpath = store_mailbox_path(r->session->mbox);
	struct array *missing = NULL;
	unsigned char *indexed;
	size_t n, left = 0;
	struct error serr = {0};

	if (fts_missing(s->fts, folder, (const char *const *)uniq, count,
			&missing, err) < 0)
		return -1;
	n = array_len(missing);
	if (n == 0) {
		array_free(&missing);
		return 0;
	}
	indexed = xcalloc(n, 1);
	int room = fts_space_check(mpath, &s->min_free, &serr);
	if (room > 0)
		index_inline(s, f, folder, uniq, missing, indexed);
	for (size_t i = 0; i < n; i++)
		if (!indexed[i]) {
			unindexed[(uintptr_t)array_get(missing, i) + 1] = 1;
			left++;
		}
	if (left > 0 && room > 0) {
		char *dir = store_folder_path(r->session->mbox,
					      mindex_folder_name(f), &serr);
		if (dir != NULL &&
		    fts_background_catchup(mpath, folder, dir, &s->min_free))
			log_info("webmail: search: %zu message(s) of %s left "
				 "to the background full-text index",
				 left, mindex_folder_name(f));
		free(dir);
	}
	free(indexed);
	array_free(&missing);
	return 0;
}

/* The searchable text of a message the index lacks, as fts_message.c
 * makes it: decoded From/To/Subject values, the text of the body. */
struct scan_text {
	struct buf *from, *to, *subject, *body;
};

static void decoded_fields(const char *hdr, size_t len, const char *name,
			   struct buf *out)
{
	struct header_iter it;
	struct header_field f;

	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &f)) {
		if (f.name_len != strlen(name) ||
		    strncasecmp(f.name, name, f.name_len) != 0)
			continue;
		if (buf_len(out) > 0)
			buf_append_char(out, '\n');
		header_decode_2047(f.value, f.value_len, out);
	}
}

static int scan_read(struct mindex_folder *f, uint32_t seq,
		     struct scan_text *t, struct error *err)
{
	struct buf *data = buf_new();
	int fd, r;

	buf_reset(t->from);
	buf_reset(t->to);
	buf_reset(t->subject);
	buf_reset(t->body);
	r = mindex_msg_open(f, seq, &fd, err);
	if (r <= 0) {
		buf_free(&data);
		return r;
	}
	for (;;) {
		char chunk[65536];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		buf_append(data, chunk, (size_t)n);
	}
	close(fd);
	struct mime_message *mm = mime_parse(buf_data(data), buf_len(data));
	const struct mime_part *root = mime_root(mm);
	const char *hdr = buf_data(data) + root->header.phys_off;
	size_t hlen = root->header.phys_size;
	decoded_fields(hdr, hlen, "From", t->from);
	decoded_fields(hdr, hlen, "To", t->to);
	decoded_fields(hdr, hlen, "Subject", t->subject);
	mail_text_extract(mm, SCAN_BODY_MAX, t->body);
	mime_message_free(&mm);
	buf_free(&data);
	return 1;
}

static const struct buf *scan_field(const struct scan_text *t,
				    enum fts_field field)
{
	switch (field) {
	case FTS_FROM:
		return t->from;
	case FTS_TO:
		return t->to;
	case FTS_SUBJECT:
		return t->subject;
	default:
		return t->body;
	}
}

static bool scan_has(const struct scan_text *t, enum fts_field field,
		     const char *needle)
{
	const struct buf *b = scan_field(t, field);
	return imap_search_text_match(buf_data(b), buf_len(b), needle);
}

/* Does the (unindexed) message match every text key?  The matcher of
 * IMAP SEARCH without an index, so both answer alike. */
static bool scan_match(const struct search *s, const struct scan_text *t)
{
	static const enum fts_field any[] = {FTS_FROM, FTS_TO, FTS_SUBJECT,
					     FTS_BODY};

	for (size_t k = 0; k < s->q.nkeys; k++)
		if (!scan_has(t, s->q.keys[k].field, s->q.keys[k].text))
			return false;
	for (size_t w = 0; w < array_len(s->q.words); w++) {
		bool found = false;
		for (size_t k = 0; k < 4 && !found; k++)
			found = scan_has(t, any[k], array_get(s->q.words, w));
		if (!found)
			return false;
	}
	return true;
}

/* AND into ok[] the messages of `folder` matching the text keys: the
 * index's answer for what it holds, a scan of the files for the rest
 * (at most until the request's scan deadline; then "partial"). */
static int text_filter(struct search *s, struct mindex_folder *f,
		       unsigned char *ok, struct error *err)
{
	static const enum fts_field any[] = {FTS_FROM, FTS_TO, FTS_SUBJECT,
					     FTS_BODY};
	uint32_t count = mindex_folder_count(f), seq;
	const char *folder = strcmp(mindex_folder_name(f), "INBOX") == 0
				 ? NULL
				 : mindex_folder_name(f);
	struct uniq_map map;
	unsigned char *mark = xcalloc(count + 1, 1);
	unsigned char *unindexed = xcalloc(count + 1, 1);
	struct array *uniques = NULL;
	struct scan_text t = {buf_new(), buf_new(), buf_new(), buf_new()};
	int ret = -1;

	uniq_map_init(&map, f, count);
	if (catch_up(s, f, folder, map.uniq, count, unindexed, err) < 0)
		goto out;
	if (s->q.nkeys > 0) {
		if (fts_search(s->fts, folder, s->q.keys, s->q.nkeys, &uniques,
			       err) < 0)
			goto out;
		memset(mark, 0, count + 1);
		mark_uniques(uniques, &map, mark);
		fts_uniques_free(&uniques);
		for (seq = 1; seq <= count; seq++)
			if (!unindexed[seq])
				ok[seq] &= mark[seq];
	}
	for (size_t w = 0; w < array_len(s->q.words); w++) {
		memset(mark, 0, count + 1);
		for (size_t k = 0; k < 4; k++) {
			struct fts_key key = {any[k], array_get(s->q.words, w)};
			if (fts_search(s->fts, folder, &key, 1, &uniques,
				       err) < 0)
				goto out;
			mark_uniques(uniques, &map, mark);
			fts_uniques_free(&uniques);
		}
		for (seq = 1; seq <= count; seq++)
			if (!unindexed[seq])
				ok[seq] &= mark[seq];
	}
	for (seq = 1; seq <= count; seq++) {
		if (!unindexed[seq] || !ok[seq])
			continue;
		if (now_ms() >= s->scan_until) {
			ok[seq] = 0;
			s->partial = true;
			continue;
		}
		struct error serr = {0};
		int r = scan_read(f, seq, &t, &serr);
		if (r < 0)
			log_warn("webmail: search: reading unindexed message "
				 "%u: %s", seq, serr.msg);
		ok[seq] = r > 0 && scan_match(s, &t);
	}
	ret = 0;
out:
	buf_free(&t.from);
	buf_free(&t.to);
	buf_free(&t.subject);
	buf_free(&t.body);
	uniq_map_free(&map);
	free(mark);
	free(unindexed);
	return ret;
}

static void add_hit(struct search *s, size_t fi, uint32_t seq, uint32_t uid,
		    time_t date)
{
	if (s->nhits == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->hits = xreallocarray(s->hits, s->cap, sizeof(*s->hits));
	}
	s->hits[s->nhits++] = (struct hit){fi, seq, uid, date};
}

static int search_folder(struct search *s, size_t fi, struct error *err)
{
	struct sfolder *sf = array_get(s->folders, fi);
	uint32_t count = mindex_folder_count(sf->f), seq;
	unsigned char *ok = xcalloc(count + 1, 1);
	time_t *dates = xcalloc(count + 1, sizeof(*dates));

	/* Dates first (cheap), so the scan reads fewer files. */
	for (seq = 1; seq <= count; seq++) {
		if (mindex_msg(sf->f, seq)->expunged)
			continue;
		dates[seq] = mindex_msg_internaldate(sf->f, seq);
		ok[seq] = !((s->q.has_since && dates[seq] < s->q.since) ||
			    (s->q.has_before && dates[seq] >= s->q.before));
	}
	if (has_text(&s->q) && text_filter(s, sf->f, ok, err) < 0) {
		free(ok);
		free(dates);
		return -1;
	}
	for (seq = 1; seq <= count; seq++)
		if (ok[seq])
			add_hit(s, fi, seq, mindex_msg(sf->f, seq)->uid,
				dates[seq]);
	free(ok);
	free(dates);
	return 0;
}

static int hit_cmp(const void *pa, const void *pb)
{
	const struct hit *a = pa, *b = pb;

	if (a->date != b->date)
		return a->date > b->date ? -1 : 1;
	if (a->folder != b->folder)
		return a->folder < b->folder ? -1 : 1;
	return a->uid > b->uid ? -1 : a->uid < b->uid;
}

static void sfolder_free(void *p)
{
	struct sfolder *sf = p;
	mindex_folder_close(&sf->f);
	free(sf->name);
	free(sf);
}

/* Smaller folders first (count; NULL folders, never opened, first). */
static int sfolder_size_cmp(const void *pa, const void *pb)
{
	const struct sfolder *a = *(const struct sfolder *const *)pa;
	const struct sfolder *b = *(const struct sfolder *const *)pb;
	uint32_t na = a->f != NULL ? mindex_folder_count(a->f) : 0;
	uint32_t nb = b->f != NULL ? mindex_folder_count(b->f) : 0;

	return na < nb ? -1 : na > nb;
}

/*
 * Close the folders smallest first.  lib/mindex keeps the state of a
 * folder nobody has open for the next open, but only within a budget
 * per process (mindex_cache_size, docs/index.md "Idle states"), dropping
 * the one idle longest: closed in list order, a search over more folders
 * than fit (then 8) dropped the INBOX every time, and the next search
 * listed its 60,000 files and opened each for its date again (0.75 s
 * instead of 0.1 s, bench/README.md "Webmail search").  Closed last, the
 * big folders are kept.
 */
static void close_folders(struct array **folders)
{
	if (*folders != NULL && array_len(*folders) > 1)
		array_sort(*folders, sfolder_size_cmp);
	array_free_with(folders, sfolder_free);
}

/* Open the folders to search into s->folders; false after answering. */
static bool open_folders(struct search *s)
{
	struct wm_req *r = s->r;
	const char *one = wm_query(r, "folder");
	struct array *list = NULL;
	struct error err = {0};
	struct mindex_folder *f;

	if (one != NULL && one[0] != '\0') {
		if (wm_view_open_folder(r, one, false, &f) < 0)
			return false;
		struct sfolder *sf = xcalloc(1, sizeof(*sf));
		sf->name = xstrdup(mindex_folder_name(f));
		sf->f = f;
		array_push(s->folders, sf);
		return true;
	}
	if (mindex_folder_list(r->session->mu, &list, &err) < 0) {
		wm_fail(r, &err);
		return false;
	}
	for (size_t i = 0; i < array_len(list); i++) {
		const struct mindex_folder_info *fi = array_get(list, i);
		if (fi->attrs & MINDEX_ATTR_NONEXISTENT)
			continue;
		f = mindex_folder_open(r->session->mu, fi->name, true, &err);
		if (f == NULL) {
			if (mindex_err_is(&err, MINDEX_ERR_NOTFOUND))
				continue; /* deleted meanwhile */
			mindex_folder_list_free(&list);
			wm_fail(r, &err);
			return false;
		}
		struct sfolder *sf = xcalloc(1, sizeof(*sf));
		sf->name = xstrdup(fi->name);
		sf->f = f;
		array_push(s->folders, sf);
	}
	mindex_folder_list_free(&list);
	return true;
}

static void get_search(struct wm_req *r)
{
	struct search s = {.r = r,
			   .index_until = now_ms() + SEARCH_INDEX_MS,
			   .scan_until = now_ms() + SEARCH_SCAN_MS};
	struct error err = {0};
	long long offset = wm_query_int(r, "offset", 0, 0, 1000000000);
	long long limit = wm_query_int(r, "limit", 50, 1, SEARCH_LIMIT_MAX);
	json_t *items, *res;

	if (r->session == NULL || r->session->mu == NULL) {
		wm_error(r, 401, "login_required", "log in first");
		return;
	}
	if (!parse_query(r, &s.q))
		goto out;
	if (r->wm->conf == NULL ||
	    fts_min_free_parse(conf_str(r->wm->conf, "full_text_min_free"),
			       &s.min_free, &err) < 0)
		s.min_free = (struct fts_min_free){.percent = 5};
	s.folders = array_new();
	if (!open_folders(&s))
		goto out;
	if (has_text(&s.q)) {
		s.fts = fts_open(store_mailbox_path(r->session->mbox), 1000,
				 &err);
		if (s.fts == NULL) {
			wm_fail(r, &err);
			goto out;
		}
	}
	for (size_t i = 0; i < array_len(s.folders); i++)
		if (search_folder(&s, i, &err) < 0) {
			wm_fail(r, &err);
			goto out;
		}
	if (s.nhits > 1)
		qsort(s.hits, s.nhits, sizeof(*s.hits), hit_cmp);

	items = json_array();
	for (size_t i = (size_t)offset;
	     i < s.nhits && json_array_size(items) < (size_t)limit; i++) {
		const struct hit *h = &s.hits[i];
		struct sfolder *sf = array_get(s.folders, h->folder);
		json_t *obj;
		int ret = wm_summary_build(r, sf->f, h->seq, &obj, &err);
		if (ret < 0) {
			json_decref(items);
			wm_fail(r, &err);
			goto out;
		}
		if (ret == 0)
			continue;
		json_object_set_new(obj, "folder", json_string(sf->name));
		json_array_append_new(items, obj);
	}
	res = json_object();
	json_object_set_new(res, "total", json_integer((json_int_t)s.nhits));
	json_object_set_new(res, "partial", json_boolean(s.partial));
	json_object_set_new(res, "items", items);
	wm_json(r, 200, res);
out:
	fts_close(&s.fts);
	free(s.hits);
	close_folders(&s.folders);
	array_free_with(&s.q.words, free);
}

const struct wm_route wm_routes_search[] = {
    {"GET", "/api/search", get_search, false},
    {NULL, NULL, NULL, false},
};
