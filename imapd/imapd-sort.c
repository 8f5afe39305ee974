/*
 * imapd-sort.c - SORT and THREAD (RFC 5256), UID SORT / UID THREAD, with
 * the DISPLAYFROM / DISPLAYTO keys of RFC 5957.
 *
 *   SORT (criteria) charset search-keys
 *   THREAD ORDEREDSUBJECT|REFERENCES charset search-keys
 *
 * The messages come from the SEARCH evaluation (imapd-search.c); their
 * keys are gathered once per message (the file is opened only when a
 * header key is asked for: ARRIVAL and SIZE come from the index), then
 * sorted with the sequence number as the final tie break.  Strings
 * compare as i;ascii-casemap.  The threading algorithms are lib/imap's
 * (imap/imap_thread.h), shared with the webmail's conversation view.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "imap/imap_parser.h"
#include "imap/imap_search.h"
#include "imapd-cmd.h"
#include "imapd-msg.h"
#include "mail/header.h"
#include "mindex/mindex.h"

enum sort_key {
	SORT_ARRIVAL,
	SORT_CC,
	SORT_DATE,
	SORT_FROM,
	SORT_SIZE,
	SORT_SUBJECT,
	SORT_TO,
	SORT_DISPLAYFROM,
	SORT_DISPLAYTO,
	SORT_KEY_COUNT
};

static const char *const sort_names[SORT_KEY_COUNT] = {
	"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO",
	"DISPLAYFROM", "DISPLAYTO",
};

#define SORT_MAX_CRITERIA 16

struct sort_crit {
	enum sort_key key;
	bool reverse;
};

struct sort_row {
	uint32_t seq;
	int64_t num[SORT_KEY_COUNT];  /* ARRIVAL, DATE, SIZE */
	char *str[SORT_KEY_COUNT];    /* the others, upper-cased */
};

static void upper_ascii(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'a' && *s <= 'z')
			*s -= 32;
}

/* The header block of a message, or "" when it is gone. */
static void header_of(struct imapd_search_msg *sm, const char **hdr_r,
		      size_t *len_r)
{
	struct error err = {0};

	if (imapd_msgctx_load(&sm->mc, &err) > 0) {
		*hdr_r = sm->mc.file.data;
		*len_r = sm->mc.body_off;
	} else {
		*hdr_r = "";
		*len_r = 0;
	}
}

/* Date: in UTC, or the internal date without a usable one. */
static int64_t sent_date(struct imapd_search_msg *sm)
{
	struct header_field hf;
	const char *hdr;
	size_t len;
	time_t t;
	int tz;

	header_of(sm, &hdr, &len);
	if (header_find(hdr, len, "Date", &hf) &&
	    header_date_parse(hf.value, hf.value_len, &t, &tz))
		return (int64_t)t;
	return (int64_t)mindex_msg_internaldate(sm->f, sm->seq);
}

/* RFC 5256: the addr-mailbox of the first address; RFC 5957: the
 * display name, else the addr-spec. */
static char *address_key(struct imapd_search_msg *sm, const char *field,
			 bool display)
{
	struct header_field hf;
	struct header_address *list, *a;
	const char *hdr;
	size_t len;
	struct buf *b = buf_new();

	header_of(sm, &hdr, &len);
	if (header_find(hdr, len, field, &hf)) {
		list = header_address_parse(hf.value, hf.value_len, 16);
		for (a = list; a != NULL; a = a->next) {
			if (a->mailbox == NULL || a->host == NULL)
				continue; /* group markers */
			if (display && a->name != NULL && a->name[0] != '\0')
				header_decode_2047(a->name, strlen(a->name), b);
			else if (display)
				buf_printf(b, "%s@%s", a->mailbox, a->host);
			else
				buf_append_str(b, a->mailbox);
			break;
		}
		header_address_free(&list);
	}
	{
		char *s = buf_steal(b);
		buf_free(&b);
		upper_ascii(s);
		return s;
	}
}

static void subject_of(struct imapd_search_msg *sm, struct buf *base,
		       bool *is_reply_r)
{
	struct buf *v = buf_new();
	struct error err = {0};
	char *nl;

	if (imapd_search_header(sm, "Subject", v, &err) > 0) {
		nl = strchr(buf_mut(v), '\n');
		if (nl != NULL)
			buf_truncate(v, (size_t)(nl - buf_data(v)));
	}
	imap_base_subject(buf_data(v), base, is_reply_r);
	buf_free(&v);
}

static int row_cmp_crit(const struct sort_row *a, const struct sort_row *b,
			const struct sort_crit *crit, size_t ncrit)
{
	for (size_t i = 0; i < ncrit; i++) {
		enum sort_key k = crit[i].key;
		int r;

		if (k == SORT_ARRIVAL || k == SORT_DATE || k == SORT_SIZE)
			r = a->num[k] < b->num[k] ? -1 : a->num[k] > b->num[k];
		else
			r = strcmp(a->str[k], b->str[k]);
		if (r != 0)
			return crit[i].reverse ? -r : r;
	}
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

struct sort_ctx {
	const struct sort_crit *crit;
	size_t ncrit;
};

static int row_cmp(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *c = arg;

	return row_cmp_crit(pa, pb, c->crit, c->ncrit);
}

/* Criteria list: 1 ok, 0 BAD appended. */
static int parse_criteria(struct imapd_cmd *cmd, const struct imap_arg *arg,
			  struct sort_crit *crit, size_t *ncrit_r)
{
	const struct imap_arg *list;
	size_t count, n = 0;
	bool reverse = false;

	if (!imap_arg_get_list(arg, &list, &count) || count == 0) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Sort criteria list expected");
		return 0;
	}
	for (size_t i = 0; i < count; i++) {
		const char *s;
		size_t k;

		if (!imap_arg_get_atom(&list[i], &s))
			goto bad;
		if (strcasecmp(s, "REVERSE") == 0) {
			if (reverse)
				goto bad;
			reverse = true;
			continue;
		}
		for (k = 0; k < SORT_KEY_COUNT; k++)
			if (strcasecmp(s, sort_names[k]) == 0)
				break;
		if (k == SORT_KEY_COUNT || n == SORT_MAX_CRITERIA)
			goto bad;
		crit[n].key = (enum sort_key)k;
		crit[n].reverse = reverse;
		reverse = false;
		n++;
	}
	if (reverse || n == 0)
		goto bad;
	*ncrit_r = n;
	return 1;
bad:
	imapd_cmd_reply(cmd, "BAD", NULL, "Invalid sort criteria");
	return 0;
}

/* The keys that come from the header, in their cached order. */
static const enum sort_key header_keys[] = {
	SORT_DATE, SORT_CC, SORT_FROM, SORT_TO, SORT_SUBJECT,
	SORT_DISPLAYFROM, SORT_DISPLAYTO,
};
#define HEADER_KEY_COUNT (sizeof(header_keys) / sizeof(header_keys[0]))

/* From the mindex cache ("sortkeys": the date in decimal, then the
 * strings, each NUL-terminated), so a second SORT reads no file. */
static bool keys_from_cache(struct sort_row *row, const struct buf *b)
{
	const char *p = buf_data(b), *end = p + buf_len(b);

	for (size_t i = 0; i < HEADER_KEY_COUNT; i++) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		if (z == NULL)
			return false;
		if (header_keys[i] == SORT_DATE)
			row->num[SORT_DATE] = strtoll(p, NULL, 10);
		else
			row->str[header_keys[i]] = xstrdup(p);
		p = z + 1;
	}
	return true;
}

static void keys_from_message(struct sort_row *row,
			      struct imapd_search_msg *sm)
{
	struct buf *b = buf_new();

	row->num[SORT_DATE] = sent_date(sm);
	row->str[SORT_CC] = address_key(sm, "Cc", false);
	row->str[SORT_FROM] = address_key(sm, "From", false);
	row->str[SORT_TO] = address_key(sm, "To", false);
	row->str[SORT_DISPLAYFROM] = address_key(sm, "From", true);
	row->str[SORT_DISPLAYTO] = address_key(sm, "To", true);
	subject_of(sm, b, NULL);
	row->str[SORT_SUBJECT] = buf_steal(b);
	buf_free(&b);
}

/*
 * The cached keys of every message in one mindex batch (one statement
 * instead of one lookup per message); vals[i] is NULL when uid i has
 * none.  Keys computed meanwhile are queued and stored in one batch.
 */
struct key_cache {
	const char *field;
	struct buf **vals;
	struct mindex_cache_item *puts;
	size_t nputs;
};

static void key_cache_cb(void *ctx, size_t i, const void *data, size_t len)
{
	struct key_cache *kc = ctx;

	if (kc->vals[i] == NULL)
		kc->vals[i] = buf_new();
	buf_reset(kc->vals[i]);
	buf_append(kc->vals[i], data, len);
}

static void key_cache_load(struct key_cache *kc, struct mindex_folder *f,
			   const uint32_t *seqs, size_t n, const char *field)
{
	uint32_t *uids = xcalloc(n ? n : 1, sizeof(*uids));
	bool sorted = true;
	struct error err = {0};

	kc->field = field;
	kc->vals = xcalloc(n ? n : 1, sizeof(*kc->vals));
	kc->puts = xcalloc(n ? n : 1, sizeof(*kc->puts));
	kc->nputs = 0;
	for (size_t i = 0; i < n; i++) {
		uids[i] = mindex_msg(f, seqs[i])->uid;
		sorted = sorted && (i == 0 || uids[i] >= uids[i - 1]);
	}
	/* unsorted never happens (seqs ascend); then all are computed */
	if (sorted &&
	    mindex_cache_get_many(f, uids, n, field, key_cache_cb, kc, &err) < 0)
		log_warn("%s: cache: %s", field, err.msg);
	free(uids);
}

static void key_cache_put(struct key_cache *kc, uint32_t uid,
			  struct buf *b)
{
	struct mindex_cache_item *it = &kc->puts[kc->nputs++];

	it->uid = uid;
	it->len = buf_len(b);
	it->data = xmemdup(buf_data(b), it->len);
}

/* Store what was computed and free everything. */
static void key_cache_done(struct key_cache *kc, struct mindex_folder *f,
			   size_t n)
{
	struct error err = {0};

	if (mindex_cache_put_many(f, kc->field, kc->puts, kc->nputs, &err) < 0)
		log_warn("%s: cache: %s", kc->field, err.msg);
	for (size_t i = 0; i < kc->nputs; i++)
		free((void *)kc->puts[i].data);
	for (size_t i = 0; i < n; i++)
		buf_free(&kc->vals[i]);
	free(kc->puts);
	free(kc->vals);
}

static void fill_row(struct sort_row *row, struct mindex_folder *f,
		     uint32_t seq, const bool *need, struct key_cache *kc,
		     size_t idx)
{
	const struct mindex_msg *m = mindex_msg(f, seq);
	bool header = false;

	row->seq = seq;
	if (need[SORT_ARRIVAL])
		row->num[SORT_ARRIVAL] =
			(int64_t)mindex_msg_internaldate(f, seq);
	if (need[SORT_SIZE])
		row->num[SORT_SIZE] = (int64_t)m->vsize;
	for (size_t i = 0; i < HEADER_KEY_COUNT; i++)
		header = header || need[header_keys[i]];
	if (header) {
		struct buf *b = buf_new();

		if (kc->vals[idx] == NULL || !keys_from_cache(row, kc->vals[idx])) {
			struct imapd_search_msg sm;
			bool gone;

			for (size_t i = 0; i < HEADER_KEY_COUNT; i++)
				XFREE(row->str[header_keys[i]]);
			imapd_search_msg_init(&sm, f, seq);
			keys_from_message(row, &sm);
			gone = !sm.mc.loaded;
			imapd_search_msg_clear(&sm);
			buf_reset(b);
			buf_printf(b, "%lld", (long long)row->num[SORT_DATE]);
			buf_append_char(b, '\0');
			for (size_t i = 1; i < HEADER_KEY_COUNT; i++) {
				buf_append_str(b, row->str[header_keys[i]]);
				buf_append_char(b, '\0');
			}
			if (!gone)
				key_cache_put(kc, m->uid, b);
		}
		buf_free(&b);
	}
}

/* Parse the search keys after the charset and run them. */
static int run_search(struct imapd_cmd *cmd, const struct imap_arg *args,
		      uint32_t **seqs_r, size_t *n_r)
{
	struct imap_search_program *prog = NULL;
	struct error err = {0};

	if (imap_search_parse(args, IMAP_SEARCH_PARSE_SORT, &prog, &err) < 0) {
		imapd_search_reply_parse_error(cmd, &err);
		return -1;
	}
	if (prog->uses_modseq)
		imapd_session_enable(imapd_cmd_session(cmd),
				     IMAPD_ENABLED_CONDSTORE);
	if (imapd_search_run(cmd, prog, seqs_r, n_r, &err) < 0) {
		imap_search_program_free(&prog);
		log_error("sort: %s", err.msg);
		imapd_cmd_reply(cmd, "NO", "SERVERBUG",
				"Internal error occurred. Refer to server log "
				"for more information.");
		return -1;
	}
	imap_search_program_free(&prog);
	return 0;
}

static enum imapd_cmd_result finish(struct imapd_cmd *cmd, const char *what)
{
	if (imapd_cmd_sync(cmd, imapd_cmd_is_uid(cmd)) < 0) {
		imapd_cmd_reply(cmd, "NO", "UNAVAILABLE",
				"Mailbox could not be synced");
		return IMAPD_CMD_DONE;
	}
	imapd_cmd_reply(cmd, "OK", NULL, "%s completed", what);
	return IMAPD_CMD_DONE;
}

enum imapd_cmd_result imapd_cmd_sort(struct imapd_cmd *cmd)
{
	struct mindex_folder *f = imapd_session_folder(imapd_cmd_session(cmd));
	const struct imap_arg *args = imapd_cmd_args(cmd);
	struct sort_crit crit[SORT_MAX_CRITERIA];
	bool need[SORT_KEY_COUNT] = {false};
	struct sort_row *rows;
	uint32_t *seqs = NULL;
	size_t ncrit = 0, n = 0, i, k;
	struct buf *out = imapd_cmd_out(cmd);
	bool uid = imapd_cmd_is_uid(cmd);

	if (imap_arg_is_eol(args)) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Missing sort criteria");
		return IMAPD_CMD_DONE;
	}
	if (!parse_criteria(cmd, &args[0], crit, &ncrit))
		return IMAPD_CMD_DONE;
	if (run_search(cmd, &args[1], &seqs, &n) < 0)
		return IMAPD_CMD_DONE;
	for (i = 0; i < ncrit; i++)
		need[crit[i].key] = true;
	rows = xcalloc(n ? n : 1, sizeof(*rows));
	{
		struct key_cache kc = {0};
		bool header = false;

		for (i = 0; i < HEADER_KEY_COUNT; i++)
			header = header || need[header_keys[i]];
		key_cache_load(&kc, f, seqs, header ? n : 0, "sortkeys");
		for (i = 0; i < n; i++)
			fill_row(&rows[i], f, seqs[i], need, &kc, i);
		key_cache_done(&kc, f, header ? n : 0);
	}
	{
		struct sort_ctx ctx = {crit, ncrit};
		qsort_r(rows, n, sizeof(*rows), row_cmp, &ctx);
	}
	buf_append_str(out, "* SORT");
	for (i = 0; i < n; i++)
		buf_printf(out, " %u",
			   uid ? mindex_msg(f, rows[i].seq)->uid : rows[i].seq);
	buf_append_str(out, "\r\n");
	for (i = 0; i < n; i++)
		for (k = 0; k < SORT_KEY_COUNT; k++)
			free(rows[i].str[k]);
	free(rows);
	free(seqs);
	return finish(cmd, "Sort");
}

/* The first id of a header field, malloc'd, or NULL. */
static char *first_msgid(const char *hdr, size_t len, const char *name)
{
	struct header_field hf;
	char **ids, *id = NULL;
	size_t k;

	if (!header_find(hdr, len, name, &hf))
		return NULL;
	k = imap_msgids_parse_n(hf.value, hf.value_len, &ids);
	if (k > 0) {
		id = ids[0];
		ids[0] = NULL;
	}
	imap_msgids_free(ids, k);
	return id;
}

/*
 * What threading needs of one message, from the mindex cache
 * ("threadkeys": date, reply flag, base subject, Message-ID, the
 * References (else In-Reply-To) ids, each NUL-terminated) or from the
 * header, then cached.  *subject_r and *id_r are malloc'd.
 */
static void thread_keys(struct mindex_folder *f, uint32_t seq,
			struct imap_thread_msg *tm, char **subject_r,
			char **id_r, struct key_cache *kc, size_t idx)
{
	const struct mindex_msg *m = mindex_msg(f, seq);
	struct buf *b = buf_new();
	const char *fields[5];
	if (kc->vals[idx] != NULL) {
		const struct buf *cb = kc->vals[idx];
		const char *p = buf_data(cb), *end = p + buf_len(cb);
		size_t k;

		for (k = 0; k < 5; k++) {
			const char *z = memchr(p, '\0', (size_t)(end - p));
			if (z == NULL)
				break;
			fields[k] = p;
			p = z + 1;
		}
		if (k == 5) {
			tm->date = strtoll(fields[0], NULL, 10);
			tm->is_reply = fields[1][0] == '1';
			*subject_r = xstrdup(fields[2]);
			*id_r = fields[3][0] != '\0' ? xstrdup(fields[3]) : NULL;
			tm->nrefs = imap_msgids_parse(fields[4], &tm->refs);
			tm->base_subject = *subject_r;
			tm->message_id = *id_r;
			buf_free(&b);
			return;
		}
	}
	{
		struct imapd_search_msg sm;
		struct header_field hf;
		const char *hdr;
		size_t len;
		bool gone;

		imapd_search_msg_init(&sm, f, seq);
		tm->date = sent_date(&sm);
		buf_reset(b);
		subject_of(&sm, b, &tm->is_reply);
		*subject_r = buf_steal(b);
		header_of(&sm, &hdr, &len);
		*id_r = first_msgid(hdr, len, "Message-ID");
		tm->nrefs = 0;
		tm->refs = NULL;
		if (header_find(hdr, len, "References", &hf))
			tm->nrefs = imap_msgids_parse_n(hf.value, hf.value_len,
							 &tm->refs);
		if (tm->nrefs == 0) {
			char *irt = first_msgid(hdr, len, "In-Reply-To");
			if (irt != NULL) {
				tm->refs = xcalloc(1, sizeof(*tm->refs));
				tm->refs[0] = irt;
				tm->nrefs = 1;
			}
		}
		gone = !sm.mc.loaded;
		imapd_search_msg_clear(&sm);
		tm->base_subject = *subject_r;
		tm->message_id = *id_r;
		if (gone) {
			buf_free(&b);
			return;
		}
	}
	buf_reset(b);
	buf_printf(b, "%lld", (long long)tm->date);
	buf_append_char(b, '\0');
	buf_append_str(b, tm->is_reply ? "1" : "0");
	buf_append_char(b, '\0');
	buf_append_str(b, *subject_r);
	buf_append_char(b, '\0');
	buf_append_str(b, *id_r != NULL ? *id_r : "");
	buf_append_char(b, '\0');
	for (size_t k = 0; k < tm->nrefs; k++) {
		buf_append_str(b, k > 0 ? " " : "");
		buf_append_str(b, tm->refs[k]);
	}
	buf_append_char(b, '\0');
	key_cache_put(kc, m->uid, b);
	buf_free(&b);
}

enum imapd_cmd_result imapd_cmd_thread(struct imapd_cmd *cmd)
{
	struct mindex_folder *f = imapd_session_folder(imapd_cmd_session(cmd));
	const struct imap_arg *args = imapd_cmd_args(cmd);
	struct imap_thread_msg *msgs;
	char **subjects, **ids;
	uint32_t *seqs = NULL;
	size_t n = 0, i;
	bool refs, uid = imapd_cmd_is_uid(cmd);
	struct buf *out = imapd_cmd_out(cmd);

	if (imap_arg_atom_equals(&args[0], "REFERENCES")) {
		refs = true;
	} else if (imap_arg_atom_equals(&args[0], "ORDEREDSUBJECT")) {
		refs = false;
	} else {
		imapd_cmd_reply(cmd, "BAD", NULL, "Unknown thread algorithm");
		return IMAPD_CMD_DONE;
	}
	if (run_search(cmd, &args[1], &seqs, &n) < 0)
		return IMAPD_CMD_DONE;
	msgs = xcalloc(n ? n : 1, sizeof(*msgs));
	subjects = xcalloc(n ? n : 1, sizeof(*subjects));
	ids = xcalloc(n ? n : 1, sizeof(*ids));
	{
		struct key_cache kc = {0};

		key_cache_load(&kc, f, seqs, n, "threadkeys");
		for (i = 0; i < n; i++) {
			msgs[i].seq = seqs[i];
			msgs[i].id = uid ? mindex_msg(f, seqs[i])->uid
					 : seqs[i];
			thread_keys(f, seqs[i], &msgs[i], &subjects[i],
				    &ids[i], &kc, i);
		}
		key_cache_done(&kc, f, n);
	}
	buf_append_str(out, "* THREAD ");
	if (refs)
		imap_thread_references_print(msgs, n, out);
	else
		imap_thread_orderedsubject(msgs, n, out);
	buf_append_str(out, "\r\n");
	for (i = 0; i < n; i++) {
		free(subjects[i]);
		free(ids[i]);
		imap_msgids_free(msgs[i].refs, msgs[i].nrefs);
	}
	free(ids);
	free(subjects);
	free(msgs);
	free(seqs);
	return finish(cmd, "Thread");
}
