/*
 * imapd-search.c - SEARCH and UID SEARCH (RFC 3501 6.4.4, RFC 9051
 * 6.4.4) with ESEARCH (RFC 4731), SEARCHRES (RFC 5182), the CONDSTORE
 * MODSEQ key (RFC 7162 3.1.5) and CHARSET UTF-8.
 *
 * The program (lib/imap/imap_search.h) is evaluated in two passes: every
 * message with the index data only (flags, sizes, dates, MODSEQ), then
 * the undecided ones with their headers and bodies, opening the file
 * only then.  Keys a full-text index can answer get their UID sets
 * attached before evaluation (imapd_search_fts_hook), after which they
 * cost no file access; until the index is wired in, text keys scan.
 * SORT and THREAD (imapd-sort.c) reuse the evaluation and the data
 * access through imapd_search_run and struct imapd_search_msg.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "imap/imap_parser.h"
#include "imap/imap_quote.h"
#include "imap/imap_search.h"
#include "imap/imap_seqset.h"
#include "core/array.h"
#include "core/hash.h"
#include "fts/fts.h"
#include "fts/fts_background.h"
#include "fts/fts_batch.h"
#include "imapd.h"
#include "imapd-msg.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mail/preview.h"
#include "mindex/mindex.h"

/* ---- data access for one message ---- */

void imapd_search_msg_init(struct imapd_search_msg *sm,
			   struct mindex_folder *f, uint32_t seq)
{
	memset(sm, 0, sizeof(*sm));
	sm->f = f;
	sm->seq = seq;
	sm->m = mindex_msg(f, seq);
	imapd_msgctx_init(&sm->mc, f, seq);
}

void imapd_search_msg_clear(struct imapd_search_msg *sm)
{
	imapd_msgctx_clear(&sm->mc);
	buf_free(&sm->text);
	buf_free(&sm->headers);
}

static uint32_t op_seq(void *p)
{
	return ((struct imapd_search_msg *)p)->seq;
}

static uint32_t op_uid(void *p)
{
	return ((struct imapd_search_msg *)p)->m->uid;
}

static unsigned op_flags(void *p)
{
	const struct imapd_search_msg *sm = p;
	const struct mindex_msg *m = sm->m;
	unsigned r = 0;

	if (m->flags & STORE_FLAG_SEEN)
		r |= IMAP_MSG_SEEN;
	if (m->flags & STORE_FLAG_REPLIED)
		r |= IMAP_MSG_ANSWERED;
	if (m->flags & STORE_FLAG_FLAGGED)
		r |= IMAP_MSG_FLAGGED;
	if (m->flags & STORE_FLAG_TRASHED)
		r |= IMAP_MSG_DELETED;
	if (m->flags & STORE_FLAG_DRAFT)
		r |= IMAP_MSG_DRAFT;
	if (mindex_uid_recent(sm->f, m->uid))
		r |= IMAP_MSG_RECENT;
	return r;
}

static bool op_has_keyword(void *p, const char *keyword)
{
	struct imapd_search_msg *sm = p;
	int idx = mindex_keyword_lookup(sm->f, keyword, false, NULL);

	return idx >= 0 && (sm->m->keywords & (1u << idx)) != 0;
}

static uint64_t op_size(void *p)
{
	return ((struct imapd_search_msg *)p)->m->vsize;
}

static time_t op_internal_date(void *p)
{
	struct imapd_search_msg *sm = p;

	return mindex_msg_internaldate(sm->f, sm->seq);
}

static uint64_t op_modseq(void *p)
{
	return ((struct imapd_search_msg *)p)->m->modseq;
}

static const char *op_emailid(void *p)
{
	struct imapd_search_msg *sm = p;

	imapd_msg_emailid(&sm->mc, sm->emailid);
	return sm->emailid;
}

/* The header block of the message (loads the file). */
static int header_block(struct imapd_search_msg *sm, const char **hdr_r,
			size_t *len_r, struct error *err)
{
	int r = imapd_msgctx_load(&sm->mc, err);

	if (r <= 0) {
		/* expunged meanwhile: an empty message */
		*hdr_r = "";
		*len_r = 0;
		return r < 0 ? -1 : 0;
	}
	*hdr_r = sm->mc.file.data;
	*len_r = sm->mc.body_off;
	return 1;
}

static int op_sent_date(void *p, time_t *t_r, int *tz_r, struct error *err)
{
	struct imapd_search_msg *sm = p;
	struct header_field hf;
	const char *hdr;
	size_t len;

	if (header_block(sm, &hdr, &len, err) < 0)
		return -1;
	if (!header_find(hdr, len, "Date", &hf))
		return 0;
	return header_date_parse(hf.value, hf.value_len, t_r, tz_r) ? 1 : 0;
}

int imapd_search_header(struct imapd_search_msg *sm, const char *name,
			struct buf *values, struct error *err)
{
	struct header_iter it;
	struct header_field hf;
	const char *hdr;
	size_t len, nlen = strlen(name);
	int found = 0;

	if (header_block(sm, &hdr, &len, err) < 0)
		return -1;
	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &hf)) {
		if (hf.name_len != nlen || strncasecmp(hf.name, name, nlen) != 0)
			continue;
		if (found)
			buf_append_char(values, '\n');
		header_decode_2047(hf.value, hf.value_len, values);
		found = 1;
	}
	return found;
}

static int op_header(void *p, const char *name, struct buf *values,
		     struct error *err)
{
	return imapd_search_header(p, name, values, err);
}

static int op_body_contains(void *p, const char *needle, bool whole_text,
			    struct error *err)
{
	struct imapd_search_msg *sm = p;
	const struct mime_message *msg;

	if (sm->text == NULL) {
		int r = imapd_msgctx_load(&sm->mc, err);
		if (r < 0)
			return -1;
		sm->text = buf_new();
		if (r > 0) {
			msg = imapd_msgctx_mime(&sm->mc, err);
			if (msg == NULL)
				return -1;
			mail_text_extract(msg, 0, sm->text);
		}
	}
	if (imap_search_text_match(buf_data(sm->text), buf_len(sm->text),
				   needle))
		return 1;
	if (!whole_text)
		return 0;
	if (sm->headers == NULL) {
		const char *hdr;
		size_t len;
		if (header_block(sm, &hdr, &len, err) < 0)
			return -1;
		sm->headers = buf_new();
		header_decode_2047(hdr, len, sm->headers);
		/* keep the raw header too: field names, addresses */
		buf_append_char(sm->headers, '\n');
		buf_append(sm->headers, hdr, len);
	}
	return imap_search_text_match(buf_data(sm->headers),
				      buf_len(sm->headers), needle) ? 1 : 0;
}

static const struct imap_search_msg_ops search_ops = {
	.seq = op_seq,
	.uid = op_uid,
	.flags = op_flags,
	.has_keyword = op_has_keyword,
	.size = op_size,
	.internal_date = op_internal_date,
	.modseq = op_modseq,
	.emailid = op_emailid,
	.threadid = NULL,
	.sent_date = op_sent_date,
	.header = op_header,
	.body_contains = op_body_contains,
};

/* ---- the program ---- */

/* Resolve "*" in the program's sets and put the SEARCHRES result in
 * place of "$". */
static void prepare_keys(struct imap_search_key *k, struct imapd_session *s,
			 struct mindex_folder *f)
{
	uint32_t count = mindex_folder_count(f);
	const struct mindex_msg *last = mindex_msg(f, count);

	for (; k != NULL; k = k->next) {
		if ((k->type == IMAP_SK_SEQSET || k->type == IMAP_SK_UIDSET) &&
		    k->seqset != NULL) {
			if (k->seqset->saved) {
				size_t n;
				const uint32_t *uids = imapd_session_saved(s, &n);
				imap_seqset_free(&k->seqset);
				k->seqset = imap_seqset_from_array(uids, n);
				k->type = IMAP_SK_UIDSET;
			} else if (!k->seqset->resolved) {
				imap_seqset_resolve(k->seqset,
						    k->type == IMAP_SK_SEQSET ?
						    count :
						    last != NULL ? last->uid : 0);
			}
		}
		prepare_keys(k->children, s, f);
	}
}

/* ---- full-text index (lib/fts) ---- */

/*
 * How the index answers (docs/fts.md "Catch-up"): fts_missing() says
 * which messages of the folder it lacks.  SEARCH indexes them inline
 * for at most FTS_INLINE_MS, answers the text keys of the rest by
 * reading those files (the same match as without an index), and queues
 * the folder for the background catch-up (fts_background.h), so a
 * first SEARCH on a folder of 10,000 unindexed messages costs a bounded
 * pause instead of indexing them all.
 */
#define FTS_INLINE_MS 200

struct fts_ctx {
	struct imap_search_program *prog;
	struct fts *fts;
	const char *folder;  /* NULL for the INBOX */
	struct hash *uids;   /* unique part -> UID (as a pointer) */
	struct array *keys;  /* the text keys (struct imap_search_key *) */
	bool failed;
};

/* One key's answer: the UIDs that match, and whether that is final. */
struct fts_answer {
	uint32_t *uids;
	size_t n, cap;
	enum fts_field field;
};

static void answer_push(struct fts_answer *a, uint32_t uid)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->uids = xreallocarray(a->uids, a->cap, sizeof(*a->uids));
	}
	a->uids[a->n++] = uid;
}

static bool fts_field_of(const struct imap_search_key *key,
			 enum fts_field *field_r)
{
	static const struct {
		const char *name;
		enum fts_field field;
	} headers[] = {
		{"Subject", FTS_SUBJECT}, {"From", FTS_FROM}, {"To", FTS_TO},
		{"Cc", FTS_CC},		  {"Bcc", FTS_BCC},
	};

	if (key->str == NULL || key->str[0] == '\0')
		return false; /* HEADER x "": presence, not text */
	if (key->type == IMAP_SK_BODY) {
		*field_r = FTS_BODY;
		return true;
	}
	if (key->type == IMAP_SK_TEXT) {
		*field_r = FTS_TEXT;
		return true;
	}
	if (key->type != IMAP_SK_HEADER || key->field == NULL)
		return false;
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
		if (strcasecmp(key->field, headers[i].name) == 0) {
			*field_r = headers[i].field;
			return true;
		}
	*field_r = FTS_HEADERS;
	return true;
}

static void collect_text_key(struct imap_search_key *key, void *p)
{
	enum fts_field f;

	if (fts_field_of(key, &f))
		array_push(p, key);
}

/*
 * The index's answer for one key.  The index matches as IMAP does
 * (case-insensitive substring of the decoded text, docs/fts.md), so for
 * BODY, TEXT and the address and subject headers its answer is final
 * ("definite": no file is read).  Other header keys are looked up in
 * the index's text of all headers, which only narrows the candidates:
 * the ordinary match decides for those.
 */
static int index_answer(struct fts_ctx *c, const struct imap_search_key *key,
			struct fts_answer *a)
{
	struct fts_key k = {a->field, key->str};
	struct array *uniques = NULL;
	struct error err = {0};

	if (fts_search(c->fts, c->folder, &k, 1, &uniques, &err) < 0) {
		log_warn("search: full-text index: %s", err.msg);
		return -1;
	}
	for (size_t i = 0; i < array_len(uniques); i++) {
		void *v = hash_get(c->uids, array_get(uniques, i));
		if (v != NULL)
			answer_push(a, (uint32_t)(uintptr_t)v);
	}
	fts_uniques_free(&uniques);
	return 0;
}

/* Does the (unindexed) message match key?  Read from its file, as the
 * evaluation would; FTS_HEADERS keys are left to the evaluation. */
static int scan_match(struct imapd_search_msg *sm,
		      const struct imap_search_key *key, enum fts_field field,
		      struct buf *tmp, struct error *err)
{
	int r;

	switch (field) {
	case FTS_HEADERS:
		return 1;
	case FTS_BODY:
	case FTS_TEXT:
		return op_body_contains(sm, key->str, field == FTS_TEXT, err);
	default:
		buf_reset(tmp);
		r = imapd_search_header(sm, key->field, tmp, err);
		if (r <= 0)
			return r;
		return imap_search_text_match(buf_data(tmp), buf_len(tmp),
					      key->str) ? 1 : 0;
	}
}

/* Add the matches among the messages the index lacks (seqs) to every
 * key's answer, each file read at most once. */
static int scan_unindexed(struct mindex_folder *f, const uint32_t *seqs,
			  size_t nseqs, struct fts_ctx *c,
			  struct fts_answer *answers)
{
	struct buf *tmp = buf_new();
	struct error err = {0};
	int ret = 0;

	for (size_t i = 0; i < nseqs && ret == 0; i++) {
		struct imapd_search_msg sm;

		if (mindex_msg(f, seqs[i])->expunged)
			continue;
		imapd_search_msg_init(&sm, f, seqs[i]);
		for (size_t k = 0; k < array_len(c->keys); k++) {
			int r = scan_match(&sm, array_get(c->keys, k),
					   answers[k].field, tmp, &err);
			if (r < 0) {
				log_warn("search: reading unindexed message "
					 "%u: %s", seqs[i], err.msg);
				ret = -1;
				break;
			}
			if (r > 0)
				answer_push(&answers[k], sm.m->uid);
		}
		imapd_search_msg_clear(&sm);
	}
	buf_free(&tmp);
	return ret;
}

static int64_t fts_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Index missing messages inline for at most FTS_INLINE_MS (one
 * transaction).  Marks done[i] for those committed; the others stay for
 * the scan and the background.
 */
static void index_inline(struct fts_ctx *c, struct mindex_folder *f,
			 char **uniq, const struct array *missing, bool *done)
{
	struct error err = {0};
	int64_t t0 = fts_now_ms();
	size_t i, n = array_len(missing);

	/* Busy (the background or lmtpd writing): leave it to them. */
	if (fts_begin(c->fts, &err) < 0) {
		log_info("search: full-text index busy: %s", err.msg);
		return;
	}
	for (i = 0; i < n && fts_now_ms() - t0 < FTS_INLINE_MS; i++) {
		size_t idx = (size_t)(uintptr_t)array_get(missing, i);
		struct error derr = {0};
		int fd, r;

		if (mindex_msg(f, (uint32_t)idx + 1)->expunged)
			continue;
		r = mindex_msg_open(f, (uint32_t)idx + 1, &fd, &derr);
		if (r <= 0)
			continue; /* gone: scanned as empty, or next time */
		r = fts_add_file(c->fts, c->folder, uniq[idx], fd, &derr);
		close(fd);
		if (r == 0) {
			done[i] = true;
			continue;
		}
		if (derr.code != NULL && strcmp(derr.code, FTS_ERR_NOSPACE) == 0) {
			err = derr;
			break;
		}
		log_warn("search: indexing: %s", derr.msg);
	}
	if (err.kind == ERR_NONE && fts_commit(c->fts, &err) == 0)
		return;
	fts_rollback(c->fts);
	log_warn("search: indexing: %s", err.msg);
	memset(done, 0, n * sizeof(*done));
}

/* Index what the index lacks within a bound, then attach the answers. */
static void fts_attach(struct imapd_session *s, struct mindex_folder *f,
		       struct imap_search_program *prog)
{
	struct fts_ctx c = {.prog = prog};
	uint32_t count = mindex_folder_count(f);
	char **uniq = NULL;
	struct array *missing = NULL;
	struct fts_answer *answers = NULL;
	uint32_t *left = NULL;
	size_t nleft = 0, nkeys;
	bool *done = NULL;
	struct error err = {0};
	struct fts_min_free min = {s->set->fts_min_free_percent,
				   s->set->fts_min_free_bytes};
	const char *mpath;
	uint32_t seq;

	if (s->mbox == NULL)
		return;
	c.keys = array_new();
	imap_search_foreach_text(prog, collect_text_key, c.keys);
	nkeys = array_len(c.keys);
	if (nkeys == 0) {
		array_free(&c.keys);
		return;
	}
	mpath = store_mailbox_path(s->mbox);
	c.fts = fts_open(mpath, 1000, &err);
	if (c.fts == NULL) {
		log_warn("search: full-text index: %s", err.msg);
		array_free(&c.keys);
		return;
	}
	c.folder = strcmp(mindex_folder_name(f), "INBOX") == 0 ? NULL :
		mindex_folder_name(f);
	c.uids = hash_new(HASH_DEFAULT, NULL);
	uniq = xcalloc(count + 1, sizeof(*uniq));
	for (seq = 1; seq <= count; seq++) {
		const struct mindex_msg *m = mindex_msg(f, seq);
		size_t len = strcspn(m->name, ",:");
		uniq[seq - 1] = xstrndup(m->name, len);
		if (!m->expunged)
			hash_put(c.uids, uniq[seq - 1],
				 (void *)(uintptr_t)m->uid);
	}
	if (fts_missing(c.fts, c.folder, (const char *const *)uniq, count,
			&missing, &err) < 0) {
		log_warn("search: full-text index: %s", err.msg);
		goto out;
	}
	if (array_len(missing) > 0) {
		size_t n = array_len(missing);
		int room = fts_space_check(mpath, &min, &err);

		done = xcalloc(n, sizeof(*done));
		/* The background on this folder already: it would index the
		 * same messages; read them instead. */
		if (room > 0 && !fts_background_pending(mpath, c.folder))
			index_inline(&c, f, uniq, missing, done);
		left = xcalloc(n, sizeof(*left));
		for (size_t i = 0; i < n; i++)
			if (!done[i])
				left[nleft++] = (uint32_t)(uintptr_t)
					array_get(missing, i) + 1;
		if (nleft > 0 && room > 0) {
			char *dir = store_folder_path(s->mbox,
						      mindex_folder_name(f),
						      &err);
			if (dir != NULL &&
			    fts_background_catchup(mpath, c.folder, dir, &min))
				log_info("search: %zu message(s) of %s left "
					 "to the background full-text "
					 "index", nleft, mindex_folder_name(f));
			free(dir);
		} else if (nleft > 0) {
			log_info("search: full-text index of %s not caught "
				 "up: %s", mpath, err.msg);
		}
	}
	answers = xcalloc(nkeys, sizeof(*answers));
	for (size_t k = 0; k < nkeys; k++) {
		fts_field_of(array_get(c.keys, k), &answers[k].field);
		if (index_answer(&c, array_get(c.keys, k), &answers[k]) < 0)
			goto out; /* no answer attached: the evaluation scans */
	}
	if (nleft > 0 && scan_unindexed(f, left, nleft, &c, answers) < 0)
		goto out;
	for (size_t k = 0; k < nkeys; k++) {
		static const uint32_t none;
		imap_search_key_set_fts(
		    prog, array_get(c.keys, k),
		    imap_seqset_from_array(answers[k].n > 0 ? answers[k].uids
							    : &none,
					   answers[k].n),
		    answers[k].field != FTS_HEADERS);
	}
out:
	for (size_t k = 0; answers != NULL && k < nkeys; k++)
		free(answers[k].uids);
	free(answers);
	free(left);
	free(done);
	array_free(&missing);
	array_free(&c.keys);
	for (seq = 0; seq < count; seq++)
		free(uniq[seq]);
	free(uniq);
	hash_free(&c.uids);
	fts_close(&c.fts);
}

int imapd_search_run(struct imapd_cmd *cmd, struct imap_search_program *prog,
		     uint32_t **seqs_r, size_t *count_r, struct error *err)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct mindex_folder *f = imapd_session_folder(s);
	uint32_t count = mindex_folder_count(f), seq;
	uint32_t *seqs = xcalloc(count ? count : 1, sizeof(*seqs));
	size_t n = 0;
	time_t now = time(NULL);

	prepare_keys(prog->root, s, f);
	fts_attach(s, f, prog);
	for (seq = 1; seq <= count; seq++) {
		struct imapd_search_msg sm;
		int r;

		if (mindex_msg(f, seq)->expunged)
			continue;
		imapd_search_msg_init(&sm, f, seq);
		r = imap_search_eval(prog, IMAP_SEARCH_COST_INDEX, &search_ops,
				     &sm, now, err);
		if (r == IMAP_SEARCH_MAYBE)
			r = imap_search_eval(prog, IMAP_SEARCH_COST_BODY,
					     &search_ops, &sm, now, err);
		imapd_search_msg_clear(&sm);
		if (r < 0) {
			free(seqs);
			return -1;
		}
		if (r == IMAP_SEARCH_YES)
			seqs[n++] = seq;
	}
	*seqs_r = seqs;
	*count_r = n;
	return 0;
}

/* Parse errors: NO [BADCHARSET ...] or BAD. */
void imapd_search_reply_parse_error(struct imapd_cmd *cmd,
				    const struct error *err)
{
	if (err->code != NULL && strcmp(err->code, "BADCHARSET") == 0)
		imapd_cmd_reply(cmd, "NO", "BADCHARSET (UTF-8 US-ASCII)",
				"%s", err->msg);
	else
		imapd_cmd_reply(cmd, "BAD", NULL, "%s", err->msg);
}

static void write_result(struct imapd_cmd *cmd,
			 const struct imap_search_program *prog,
			 const uint32_t *nums, size_t n, uint64_t modseq)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct buf *out = imapd_cmd_out(cmd);
	bool rev2 = (imapd_session_enabled(s) & IMAPD_ENABLED_IMAP4REV2) != 0;
	unsigned opts = prog->return_opts;

	if (!prog->esearch && !rev2) {
		buf_append_str(out, "* SEARCH");
		for (size_t i = 0; i < n; i++)
			buf_printf(out, " %u", nums[i]);
		if (prog->uses_modseq && n > 0)
			buf_printf(out, " (MODSEQ %llu)",
				   (unsigned long long)modseq);
		buf_append_str(out, "\r\n");
		return;
	}
	if (!prog->esearch)
		opts = IMAP_SEARCH_RETURN_ALL;
	/* RFC 5182 2.1: SAVE alone sends no ESEARCH. */
	if (opts == IMAP_SEARCH_RETURN_SAVE)
		return;
	buf_append_str(out, "* ESEARCH (TAG ");
	imap_append_quoted_str(out, imapd_cmd_tag(cmd), 0);
	buf_append_char(out, ')');
	if (imapd_cmd_is_uid(cmd))
		buf_append_str(out, " UID");
	{
		struct buf *tmp = buf_new();
		imap_search_write_esearch(tmp, opts & ~IMAP_SEARCH_RETURN_SAVE,
					  nums, n,
					  prog->uses_modseq ? modseq : 0);
		if (buf_len(tmp) > 0) {
			buf_append_char(out, ' ');
			buf_append(out, buf_data(tmp), buf_len(tmp));
		}
		buf_free(&tmp);
	}
	buf_append_str(out, "\r\n");
}

/* RFC 5182 2.4: with MIN or MAX (and not ALL/COUNT) SAVE keeps only those. */
static void save_result(struct imapd_session *s, unsigned opts,
			const uint32_t *uids, size_t n)
{
	if (n > 0 && !(opts & (IMAP_SEARCH_RETURN_ALL | IMAP_SEARCH_RETURN_COUNT)) &&
	    (opts & (IMAP_SEARCH_RETURN_MIN | IMAP_SEARCH_RETURN_MAX))) {
		uint32_t keep[2];
		size_t k = 0;
		if (opts & IMAP_SEARCH_RETURN_MIN)
			keep[k++] = uids[0];
		if ((opts & IMAP_SEARCH_RETURN_MAX) && (k == 0 || n > 1))
			keep[k++] = uids[n - 1];
		imapd_session_set_saved(s, keep, k);
		return;
	}
	imapd_session_set_saved(s, uids, n);
}

/* RFC 5182 2.1: did the command ask for RETURN (... SAVE ...)?  Looked
 * up in the raw arguments, so that a command that does not parse still
 * resets "$". */
static bool asks_save(const struct imap_arg *args)
{
	for (; args->type != IMAP_ARG_EOL; args++) {
		if (args->type != IMAP_ARG_ATOM ||
		    strcasecmp(args->str, "RETURN") != 0)
			continue;
		if (args[1].type != IMAP_ARG_LIST)
			return false;
		for (size_t i = 0; i < args[1].list_count; i++)
			if (args[1].list[i].type == IMAP_ARG_ATOM &&
			    strcasecmp(args[1].list[i].str, "SAVE") == 0)
				return true;
		return false;
	}
	return false;
}

enum imapd_cmd_result imapd_cmd_search(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct mindex_folder *f = imapd_session_folder(s);
	struct imap_search_program *prog = NULL;
	struct error err = {0};
	uint32_t *seqs = NULL, *nums = NULL;
	size_t n = 0, i;
	uint64_t modseq = 0;
	bool uid = imapd_cmd_is_uid(cmd);

	if (imap_search_parse(imapd_cmd_args(cmd), 0, &prog, &err) < 0) {
		/* RFC 5182 2.1: a failed SEARCH ... RETURN (SAVE) empties $. */
		if (asks_save(imapd_cmd_args(cmd)))
			imapd_session_set_saved(s, NULL, 0);
		imapd_search_reply_parse_error(cmd, &err);
		return IMAPD_CMD_DONE;
	}
	if (prog->uses_modseq)
		imapd_session_enable(s, IMAPD_ENABLED_CONDSTORE);
	if (imapd_search_run(cmd, prog, &seqs, &n, &err) < 0) {
		log_error("search: %s", err.msg);
		if (prog->return_opts & IMAP_SEARCH_RETURN_SAVE)
			imapd_session_set_saved(s, NULL, 0);
		imapd_cmd_reply(cmd, "NO", "SERVERBUG",
				"Internal error occurred. Refer to server log "
				"for more information.");
		goto out;
	}
	nums = xcalloc(n ? n : 1, sizeof(*nums));
	for (i = 0; i < n; i++) {
		const struct mindex_msg *m = mindex_msg(f, seqs[i]);
		nums[i] = uid ? m->uid : seqs[i];
		if (m->modseq > modseq)
			modseq = m->modseq;
	}
	if (prog->return_opts & IMAP_SEARCH_RETURN_SAVE) {
		uint32_t *uids = xcalloc(n ? n : 1, sizeof(*uids));
		imapd_msg_uids(f, seqs, n, uids);
		save_result(s, prog->return_opts, uids, n);
		free(uids);
	}
	write_result(cmd, prog, nums, n, modseq);
	if (imapd_cmd_sync(cmd, uid) < 0) {
		imapd_cmd_reply(cmd, "NO", "UNAVAILABLE",
				"Mailbox could not be synced");
		goto out;
	}
	imapd_cmd_reply(cmd, "OK", NULL, "Search completed");
out:
	free(nums);
	free(seqs);
	imap_search_program_free(&prog);
	return IMAPD_CMD_DONE;
}
