/*
 * imapd-fetch.c - FETCH and UID FETCH (RFC 3501 6.4.5, RFC 9051 6.4.5),
 * with BINARY (RFC 3516), CONDSTORE/QRESYNC MODSEQ, CHANGEDSINCE and
 * VANISHED (RFC 7162), EMAILID/THREADID (RFC 8474) and PREVIEW (RFC 8970).
 *
 * Data sources, cheapest first: the index view (flags, UID, sizes,
 * dates, MODSEQ, and EMAILID from the file name) never opens a file; the
 * mindex cache answers ENVELOPE, BODY, BODYSTRUCTURE and PREVIEW after
 * the first time; only then is the file mapped, and only sections below
 * the top level or BINARY need the MIME tree.
 *
 * Bodies are sent in CRLF terms although stored with LF: literal sizes
 * and partial windows are counted in the CRLF view (imapd-msg.h).  A big
 * literal is streamed from the mapping in IMAPD_CMD_OUT_CHUNK pieces,
 * returning IMAPD_CMD_MORE in between, so the output buffer stays
 * bounded whatever the message size; the position lives in the command
 * state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "imap/imap_bodystructure.h"
#include "imap/imap_envelope.h"
#include "imap/imap_fetch_items.h"
#include "imap/imap_parser.h"
#include "imap/imap_quote.h"
#include "imap/imap_seqset.h"
#include "imapd-cmd.h"
#include "imapd-msg.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mail/mime_decode.h"
#include "mail/preview.h"
#include "mindex/mindex.h"

/* A literal streamed from the mapped file in chunks. */
struct pending {
	bool active;
	const char *data; /* the mapping */
	size_t ps, pe;	  /* physical range of the section */
	size_t pc;	  /* physical cursor */
	uint64_t vc;	  /* virtual offset of pc from ps */
	uint64_t vnext;	  /* next virtual byte to send (from ps) */
	uint64_t vend;
	char prev0;	  /* the byte before ps ('\0' at the start) */
};

/*
 * ENVELOPE/BODY/BODYSTRUCTURE/PREVIEW values of a window of the
 * messages, read from the mindex cache in one batch per item type (one
 * lookup per message cost ~40 us); values computed meanwhile are stored
 * in one batch when the window moves on.
 */
#define CACHE_TYPES 4
#define CACHE_WINDOW 512
struct fetch_cache {
	const char *field; /* NULL: the item is not fetched */
	struct buf *vals[CACHE_WINDOW];
	struct mindex_cache_item puts[CACHE_WINDOW];
	size_t nputs;
};

struct fetch_state {
	struct imap_fetch_items *items;
	struct fetch_cache *cache[CACHE_TYPES];
	size_t cw_base, cw_n; /* the window: seqs[cw_base .. +cw_n) */
	uint32_t *seqs;
	bool *add_flags; /* FLAGS changed by setting \Seen */
	size_t n, pos;
	bool in_msg, first;
	size_t item;
	struct imapd_msgctx mc;
	struct pending lit;
	bool uid_prefix, modseq_prefix, flags_requested;
	bool expunged, unknown_cte, failed;
	unsigned qflags;
	struct buf *tmp, *tmp2;
};

static void state_free(void *p)
{
	struct fetch_state *st = p;

	imapd_msgctx_clear(&st->mc);
	imap_fetch_items_free(&st->items);
	for (size_t t = 0; t < CACHE_TYPES; t++) {
		struct fetch_cache *c = st->cache[t];
		if (c == NULL)
			continue;
		/* an aborted command: what was not stored is recomputed */
		for (size_t i = 0; i < CACHE_WINDOW; i++)
			buf_free(&c->vals[i]);
		for (size_t i = 0; i < c->nputs; i++)
			free((void *)c->puts[i].data);
		free(c);
	}
	free(st->seqs);
	free(st->add_flags);
	buf_free(&st->tmp);
	buf_free(&st->tmp2);
	free(st);
}

static void sep(struct fetch_state *st, struct buf *out)
{
	if (!st->first)
		buf_append_char(out, ' ');
	st->first = false;
}

static void write_internaldate(struct buf *out, time_t t)
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr",
					  "May", "Jun", "Jul", "Aug",
					  "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	long off;

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d %c%02ld%02ld\"",
		   tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
		   tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
		   (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
}

/* Load the message file; on failure write NIL and note why. */
static int load(struct fetch_state *st, struct buf *out)
{
	struct error err = {0};
	int r = imapd_msgctx_load(&st->mc, &err);

	if (r > 0)
		return 1;
	if (r == 0) {
		st->expunged = true;
	} else {
		log_error("fetch: %s", err.msg);
		st->failed = true;
	}
	buf_append_str(out, "NIL");
	return 0;
}

static const struct mime_message *parsed(struct fetch_state *st,
					 struct buf *out)
{
	const struct mime_message *msg;
	struct error err = {0};

	if (load(st, out) <= 0)
		return NULL;
	msg = imapd_msgctx_mime(&st->mc, &err);
	if (msg == NULL) {
		st->failed = true;
		buf_append_str(out, "NIL");
	}
	return msg;
}

static const char *cache_field(const struct fetch_state *st,
			       enum imap_fetch_type type)
{
	bool utf8 = (st->qflags & IMAP_QUOTE_UTF8) != 0;

	switch (type) {
	case IMAP_FETCH_ENVELOPE:
		return utf8 ? "envelope.utf8" : "envelope";
	case IMAP_FETCH_BODY:
		return utf8 ? "body.utf8" : "body";
	case IMAP_FETCH_BODYSTRUCTURE:
		return utf8 ? "bodystructure.utf8" : "bodystructure";
	default:
		return "preview";
	}
}

static int cache_type(enum imap_fetch_type type)
{
	switch (type) {
	case IMAP_FETCH_ENVELOPE:
		return 0;
	case IMAP_FETCH_BODY:
		return 1;
	case IMAP_FETCH_BODYSTRUCTURE:
		return 2;
	case IMAP_FETCH_PREVIEW:
		return 3;
	default:
		return -1;
	}
}

static void cache_cb(void *ctx, size_t i, const void *data, size_t len)
{
	struct fetch_cache *c = ctx;

	if (c->vals[i] == NULL)
		c->vals[i] = buf_new();
	buf_reset(c->vals[i]);
	buf_append(c->vals[i], data, len);
}

/* Store the values computed in the window and forget the window. */
static void cache_flush(struct fetch_state *st, struct mindex_folder *f)
{
	for (size_t t = 0; t < CACHE_TYPES; t++) {
		struct fetch_cache *c = st->cache[t];
		struct error err = {0};

		if (c == NULL)
			continue;
		if (mindex_cache_put_many(f, c->field, c->puts, c->nputs,
					  &err) < 0)
			log_warn("fetch: cache %s: %s", c->field, err.msg);
		for (size_t i = 0; i < c->nputs; i++)
			free((void *)c->puts[i].data);
		c->nputs = 0;
		for (size_t i = 0; i < CACHE_WINDOW; i++)
			buf_free(&c->vals[i]);
	}
	st->cw_base = st->pos;
	st->cw_n = 0;
}

/* Read the cached values of the window starting at st->pos. */
static void cache_load(struct fetch_state *st, struct mindex_folder *f)
{
	uint32_t uids[CACHE_WINDOW];
	size_t n = st->n - st->pos;
	bool sorted = true;

	cache_flush(st, f);
	if (n > CACHE_WINDOW)
		n = CACHE_WINDOW;
	for (size_t i = 0; i < n; i++) {
		uids[i] = mindex_msg(f, st->seqs[st->pos + i])->uid;
		sorted = sorted && (i == 0 || uids[i] >= uids[i - 1]);
	}
	st->cw_n = n;
	for (size_t t = 0; t < CACHE_TYPES; t++) {
		struct fetch_cache *c = st->cache[t];
		struct error err = {0};

		/* an unsorted set is looked up (and stored) per message */
		if (c != NULL && sorted &&
		    mindex_cache_get_many(f, uids, n, c->field, cache_cb, c,
					  &err) < 0)
			log_warn("fetch: cache %s: %s", c->field, err.msg);
	}
	if (!sorted)
		st->cw_n = 0;
}

/* ENVELOPE, BODY, BODYSTRUCTURE, PREVIEW through the mindex cache. */
static void write_cached(struct fetch_state *st, struct buf *out,
			 struct mindex_folder *f, const struct mindex_msg *m,
			 enum imap_fetch_type type)
{
	const char *field = cache_field(st, type);
	struct error err = {0};
	const struct mime_message *msg;

	struct fetch_cache *c = st->cache[cache_type(type)];
	size_t rel = st->pos - st->cw_base;
	bool batched = c != NULL && st->pos >= st->cw_base && rel < st->cw_n;

	bool hit;

	buf_reset(st->tmp);
	if (batched) {
		hit = c->vals[rel] != NULL;
		if (hit)
			buf_append(st->tmp, buf_data(c->vals[rel]),
				   buf_len(c->vals[rel]));
	} else {
		hit = mindex_cache_get(f, m->uid, field, st->tmp, &err) > 0;
	}
	if (hit) {
		if (type == IMAP_FETCH_PREVIEW)
			imap_append_quoted(out, buf_data(st->tmp),
					   buf_len(st->tmp), st->qflags);
		else
			buf_append(out, buf_data(st->tmp), buf_len(st->tmp));
		return;
	}
	buf_reset(st->tmp);
	if (type == IMAP_FETCH_ENVELOPE && st->mc.mime == NULL) {
		if (load(st, out) <= 0)
			return;
		imap_envelope_write(st->tmp, st->mc.file.data, st->mc.body_off,
				    st->qflags);
	} else {
		msg = parsed(st, out);
		if (msg == NULL)
			return;
		if (type == IMAP_FETCH_ENVELOPE)
			imap_envelope_write_message(st->tmp, msg, st->qflags);
		else if (type == IMAP_FETCH_PREVIEW)
			mail_preview(msg, st->tmp);
		else {
			/* the writer leaves out the outer parentheses */
			buf_append_char(st->tmp, '(');
			imap_bodystructure_write(st->tmp, msg, NULL,
						 type == IMAP_FETCH_BODYSTRUCTURE,
						 st->qflags);
			buf_append_char(st->tmp, ')');
		}
	}
	if (batched && c->nputs < CACHE_WINDOW) {
		struct mindex_cache_item *it = &c->puts[c->nputs++];
		it->uid = m->uid;
		it->len = buf_len(st->tmp);
		it->data = xmemdup(buf_data(st->tmp), it->len);
	} else if (mindex_cache_put(f, m->uid, field, buf_data(st->tmp),
				    buf_len(st->tmp), &err) < 0) {
		log_warn("fetch: cache %s: %s", field, err.msg);
	}
	if (type == IMAP_FETCH_PREVIEW)
		imap_append_quoted(out, buf_data(st->tmp), buf_len(st->tmp),
				   st->qflags);
	else
		buf_append(out, buf_data(st->tmp), buf_len(st->tmp));
}

/* Send a window of in-memory (already CRLF) data as a literal. */
static void literal_mem(struct buf *out, const struct imap_fetch_item *it,
			const char *data, size_t len, bool binary)
{
	size_t off = 0, n = len;

	if (it->partial) {
		off = it->partial_offset > len ? len : (size_t)it->partial_offset;
		n = len - off;
		if (n > it->partial_len)
			n = (size_t)it->partial_len;
	}
	if (binary && memchr(data + off, '\0', n) != NULL)
		imap_append_literal8(out, data + off, n);
	else
		imap_append_literal(out, data + off, n);
}

/* Start streaming data[ps..pe) in CRLF terms.  The size is counted here
 * by the same rule the copy uses, so the literal length always matches
 * the bytes sent. */
static void literal_file(struct fetch_state *st, struct buf *out,
			 const struct imap_fetch_item *it, const char *data,
			 size_t ps, size_t pe)
{
	uint64_t vsize = imapd_crlf_size(data + ps, pe - ps,
					 ps > 0 ? data[ps - 1] : '\0');
	uint64_t voff = 0, n = vsize;

	if (it->partial) {
		voff = it->partial_offset > vsize ? vsize : it->partial_offset;
		n = vsize - voff;
		if (n > it->partial_len)
			n = it->partial_len;
	}
	buf_printf(out, "{%llu}\r\n", (unsigned long long)n);
	if (n == 0)
		return;
	st->lit = (struct pending){
		.active = true,
		.data = data,
		.ps = ps,
		.pe = pe,
		.pc = ps,
		.vc = 0,
		.vnext = voff,
		.vend = voff + n,
		.prev0 = ps > 0 ? data[ps - 1] : '\0',
	};
}

/* Send more of the pending literal; true when it is complete. */
static bool drain(struct fetch_state *st, struct buf *out)
{
	struct pending *l = &st->lit;

	while (l->active) {
		uint64_t want = l->vend - l->vnext, got, vd;
		size_t room = buf_len(out) < IMAPD_CMD_OUT_CHUNK ?
			IMAPD_CMD_OUT_CHUNK - buf_len(out) : 0;
		size_t pd;

		if (room < 16384 && buf_len(out) > 0 && want > room)
			return false;
		if (room < 16384)
			room = 16384;
		if (want > room)
			want = room;
		got = imapd_crlf_copy(out, l->data + l->pc, l->pe - l->pc,
				      l->pc > l->ps ? l->data[l->pc - 1] : l->prev0,
				      l->vnext - l->vc, want, &pd, &vd);
		l->pc += pd;
		l->vc += vd;
		l->vnext += got;
		if (l->vnext >= l->vend || got == 0) {
			/* got == 0 would mean the file is shorter than its
			 * size said: pad nothing, the literal is cut. */
			l->active = false;
			return true;
		}
	}
	return true;
}

static enum mime_section_kind mime_kind(const struct imap_fetch_section *sec)
{
	switch (sec->kind) {
	case IMAP_SECTION_ALL:
		return sec->part_count > 0 ? MIME_SECTION_PART :
			MIME_SECTION_ALL;
	case IMAP_SECTION_HEADER:
	case IMAP_SECTION_HEADER_FIELDS:
	case IMAP_SECTION_HEADER_FIELDS_NOT:
		return MIME_SECTION_HEADER;
	case IMAP_SECTION_TEXT:
		return MIME_SECTION_TEXT;
	case IMAP_SECTION_MIME:
		return MIME_SECTION_MIME;
	}
	return MIME_SECTION_ALL;
}

/*
 * Find a section: physical range and virtual size, and the part (NULL
 * for the cheap top-level cases that need no MIME parse).  1 found, 0 it
 * does not exist, -1 NIL was written (file gone / error).
 */
static int find_section(struct fetch_state *st, struct buf *out,
			const struct imap_fetch_section *sec, size_t *ps_r,
			size_t *pe_r, uint64_t *vsize_r,
			const struct mime_part **part_r)
{
	const struct mime_message *msg;
	struct mime_section ms;
	struct error err = {0};
	unsigned nums[IMAP_SECTION_MAX_PARTS];
	int r;

	*part_r = NULL;
	if (sec->part_count == 0 && sec->kind != IMAP_SECTION_MIME) {
		const char *d;
		if (load(st, out) <= 0)
			return -1;
		d = st->mc.file.data;
		switch (sec->kind) {
		case IMAP_SECTION_ALL:
			*ps_r = 0;
			*pe_r = st->mc.file.size;
			break;
		case IMAP_SECTION_TEXT:
			*ps_r = st->mc.body_off;
			*pe_r = st->mc.file.size;
			break;
		default:
			*ps_r = 0;
			*pe_r = st->mc.body_off;
			break;
		}
		*vsize_r = imapd_crlf_size(d + *ps_r, *pe_r - *ps_r,
					   *ps_r > 0 ? d[*ps_r - 1] : '\0');
		return 1;
	}
	msg = parsed(st, out);
	if (msg == NULL)
		return -1;
	for (unsigned i = 0; i < sec->part_count; i++)
		nums[i] = sec->parts[i];
	r = mime_section_lookup(msg, nums, sec->part_count, mime_kind(sec),
				&ms, &err);
	if (r <= 0)
		return 0;
	*ps_r = ms.range.phys_off;
	*pe_r = ms.range.phys_off + ms.range.phys_size;
	*vsize_r = ms.range.virt_size;
	*part_r = ms.part;
	return 1;
}

static void write_section(struct fetch_state *st, struct buf *out,
			  const struct imap_fetch_item *it)
{
	struct imap_fetch_section whole = {.kind = IMAP_SECTION_ALL};
	const struct imap_fetch_section *sec = &it->section;
	size_t ps, pe;
	uint64_t vsize;
	const struct mime_part *part;
	int r;

	/* RFC822 = BODY[], RFC822.HEADER = BODY.PEEK[HEADER],
	 * RFC822.TEXT = BODY[TEXT] */
	if (it->type == IMAP_FETCH_RFC822_HEADER) {
		whole.kind = IMAP_SECTION_HEADER;
		sec = &whole;
	} else if (it->type == IMAP_FETCH_RFC822_TEXT) {
		whole.kind = IMAP_SECTION_TEXT;
		sec = &whole;
	} else if (it->type == IMAP_FETCH_RFC822) {
		sec = &whole;
	}
	sep(st, out);
	buf_append_str(out, it->reply_name);
	buf_append_char(out, ' ');
	r = find_section(st, out, sec, &ps, &pe, &vsize, &part);
	if (r < 0)
		return;
	if (r == 0) {
		buf_append_str(out, "\"\"");
		return;
	}
	if (sec->kind == IMAP_SECTION_HEADER_FIELDS ||
	    sec->kind == IMAP_SECTION_HEADER_FIELDS_NOT) {
		buf_reset(st->tmp);
		header_fields_extract(st->mc.file.data + ps, pe - ps,
				      (const char *const *)it->section.fields,
				      it->section.field_count,
				      it->section.kind ==
					      IMAP_SECTION_HEADER_FIELDS_NOT,
				      st->tmp);
		literal_mem(out, it, buf_data(st->tmp), buf_len(st->tmp),
			    false);
		return;
	}
	literal_file(st, out, it, st->mc.file.data, ps, pe);
}

/*
 * BINARY[...] and BINARY.SIZE[...]: the part's content with its
 * transfer encoding undone.  false when the encoding is unknown (the
 * item is left out and the command ends in NO [UNKNOWN-CTE]).
 */
static void write_binary(struct fetch_state *st, struct buf *out,
			 const struct imap_fetch_item *it)
{
	size_t ps, pe;
	uint64_t vsize;
	const struct mime_part *part;
	enum mime_cte cte = MIME_CTE_7BIT;
	bool size_only = it->type == IMAP_FETCH_BINARY_SIZE;
	size_t mark = buf_len(out);
	bool first = st->first;
	int r;

	sep(st, out);
	buf_append_str(out, it->reply_name);
	buf_append_char(out, ' ');
	r = find_section(st, out, &it->section, &ps, &pe, &vsize, &part);
	if (r < 0)
		return;
	if (r == 0) {
		buf_append_str(out, size_only ? "0" : "\"\"");
		return;
	}
	if (part != NULL && !(part->flags & (MIME_PART_MULTIPART |
					     MIME_PART_MESSAGE)))
		cte = mime_cte_parse(part->encoding);
	if (cte == MIME_CTE_UNKNOWN) {
		buf_truncate(out, mark);
		st->first = first;
		st->unknown_cte = true;
		return;
	}
	if (cte == MIME_CTE_BASE64 || cte == MIME_CTE_QP) {
		buf_reset(st->tmp);
		buf_reset(st->tmp2);
		if (cte == MIME_CTE_QP) {
			/* QP line breaks are CRLF in the decoded text */
			imapd_crlf_append(st->tmp2, st->mc.file.data + ps,
					  pe - ps,
					  ps > 0 ? st->mc.file.data[ps - 1] : '\0',
					  0, UINT64_MAX);
			mime_qp_decode(buf_data(st->tmp2), buf_len(st->tmp2),
				       st->tmp);
		} else {
			mime_base64_decode(st->mc.file.data + ps, pe - ps,
					   st->tmp);
		}
		if (size_only)
			buf_printf(out, "%zu", buf_len(st->tmp));
		else
			literal_mem(out, it, buf_data(st->tmp),
				    buf_len(st->tmp), true);
		return;
	}
	if (size_only) {
		buf_printf(out, "%llu", (unsigned long long)vsize);
		return;
	}
	if (part != NULL && (part->flags & MIME_PART_HAS_NUL)) {
		buf_reset(st->tmp);
		imapd_crlf_append(st->tmp, st->mc.file.data + ps, pe - ps,
				  ps > 0 ? st->mc.file.data[ps - 1] : '\0', 0,
				  UINT64_MAX);
		literal_mem(out, it, buf_data(st->tmp), buf_len(st->tmp), true);
		return;
	}
	literal_file(st, out, it, st->mc.file.data, ps, pe);
}

/* One item of the current message (UID and MODSEQ went in the prefix). */
static void write_item(struct fetch_state *st, struct buf *out,
		       struct mindex_folder *f, const struct imap_fetch_item *it)
{
	const struct mindex_msg *m = mindex_msg(f, st->mc.seq);

	switch (it->type) {
	case IMAP_FETCH_UID:
	case IMAP_FETCH_MODSEQ:
		return;
	case IMAP_FETCH_FLAGS:
		sep(st, out);
		buf_append_str(out, "FLAGS ");
		imapd_write_flags(out, f, m);
		return;
	case IMAP_FETCH_INTERNALDATE:
		sep(st, out);
		buf_append_str(out, "INTERNALDATE ");
		write_internaldate(out, mindex_msg_internaldate(f, st->mc.seq));
		return;
	case IMAP_FETCH_SAVEDATE:
		sep(st, out);
		buf_append_str(out, "SAVEDATE NIL");
		return;
	case IMAP_FETCH_RFC822_SIZE:
		sep(st, out);
		buf_printf(out, "RFC822.SIZE %llu",
			   (unsigned long long)m->vsize);
		return;
	case IMAP_FETCH_EMAILID:
		sep(st, out);
		{
			char id[18];
			imapd_msg_emailid(&st->mc, id);
			buf_printf(out, "EMAILID (%s)", id);
		}
		return;
	case IMAP_FETCH_THREADID:
		sep(st, out);
		buf_append_str(out, "THREADID NIL");
		return;
	case IMAP_FETCH_ENVELOPE:
		sep(st, out);
		buf_append_str(out, "ENVELOPE ");
		write_cached(st, out, f, m, it->type);
		return;
	case IMAP_FETCH_BODY:
		sep(st, out);
		buf_append_str(out, "BODY ");
		write_cached(st, out, f, m, it->type);
		return;
	case IMAP_FETCH_BODYSTRUCTURE:
		sep(st, out);
		buf_append_str(out, "BODYSTRUCTURE ");
		write_cached(st, out, f, m, it->type);
		return;
	case IMAP_FETCH_PREVIEW:
		sep(st, out);
		buf_append_str(out, "PREVIEW ");
		write_cached(st, out, f, m, it->type);
		return;
	case IMAP_FETCH_RFC822:
	case IMAP_FETCH_RFC822_HEADER:
	case IMAP_FETCH_RFC822_TEXT:
	case IMAP_FETCH_BODY_SECTION:
		write_section(st, out, it);
		return;
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		write_binary(st, out, it);
		return;
	}
}

/* ---- the first run: arguments, CHANGEDSINCE, VANISHED, \Seen ---- */

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* RFC 7162 3.2.6: UID FETCH ... (CHANGEDSINCE m VANISHED). */
static void write_vanished(struct imapd_cmd *cmd, struct mindex_folder *f,
			   const char *set_str, uint64_t since)
{
	struct imap_seqset *set = NULL;
	uint32_t *uids = NULL, *keep;
	size_t count = 0, k = 0;
	struct error err = {0};

	if (mindex_expunged_since(f, since, &uids, &count, &err) < 0) {
		log_error("fetch: expunged since: %s", err.msg);
		return;
	}
	if (count == 0 || imap_seqset_parse(set_str, false, &set, &err) < 0) {
		free(uids);
		return;
	}
	qsort(uids, count, sizeof(*uids), u32_cmp);
	imap_seqset_resolve(set, uids[count - 1] > mindex_folder_uidnext(f) ?
			    uids[count - 1] : mindex_folder_uidnext(f));
	keep = xcalloc(count, sizeof(*keep));
	for (size_t i = 0; i < count; i++)
		if (imap_seqset_contains(set, uids[i]) &&
		    (k == 0 || keep[k - 1] != uids[i]))
			keep[k++] = uids[i];
	if (k > 0) {
		struct buf *out = imapd_cmd_out(cmd);
		buf_append_str(out, "* VANISHED (EARLIER) ");
		imap_seqset_write_array(out, keep, k);
		buf_append_str(out, "\r\n");
	}
	free(keep);
	free(uids);
	imap_seqset_free(&set);
}

static struct fetch_state *start(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct mindex_folder *f = imapd_session_folder(s);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	struct imap_fetch_items *items = NULL;
	struct fetch_state *st;
	struct error err = {0};
	uint32_t *seqs = NULL;
	size_t n = 0, i, k;
	bool uid = imapd_cmd_is_uid(cmd), condstore;
	const char *set_str = NULL;

	if (imap_arg_is_eol(args) || imap_arg_is_eol(&args[1])) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"FETCH needs a message set and items");
		return NULL;
	}
	if (imap_fetch_items_parse(&args[1], &items, &err) < 0) {
		imapd_cmd_reply(cmd, "BAD", NULL, "%s", err.msg);
		return NULL;
	}
	if (items->vanished &&
	    (!uid || !(imapd_session_enabled(s) & IMAPD_ENABLED_QRESYNC) ||
	     !items->has_changedsince)) {
		imap_fetch_items_free(&items);
		imapd_cmd_reply(cmd, "BAD", NULL,
				"VANISHED needs UID FETCH, CHANGEDSINCE and "
				"ENABLE QRESYNC");
		return NULL;
	}
	if (imapd_msg_seqs(cmd, &args[0], &seqs, &n) < 0) {
		imap_fetch_items_free(&items);
		return NULL;
	}
	imap_arg_get_atom(&args[0], &set_str);
	if (items->has_changedsince || items->has_modseq)
		imapd_session_enable(s, IMAPD_ENABLED_CONDSTORE);
	condstore = (imapd_session_enabled(s) &
		     (IMAPD_ENABLED_CONDSTORE | IMAPD_ENABLED_QRESYNC)) != 0;

	st = xcalloc(1, sizeof(*st));
	st->items = items;
	st->qflags = imapd_msg_quote_flags(cmd);
	st->tmp = buf_new();
	st->tmp2 = buf_new();
	for (size_t t = 0; t < items->count; t++) {
		int ct = cache_type(items->items[t].type);
		/* one message: the batch would only add work */
		if (ct >= 0 && n > 1 && st->cache[ct] == NULL) {
			st->cache[ct] = xcalloc(1, sizeof(*st->cache[ct]));
			st->cache[ct]->field =
			    cache_field(st, items->items[t].type);
		}
	}
	imapd_msgctx_init(&st->mc, f, 0);

	if (items->has_changedsince) {
		for (i = k = 0; i < n; i++)
			if (mindex_msg(f, seqs[i])->modseq > items->changedsince)
				seqs[k++] = seqs[i];
		n = k;
		if (items->vanished)
			write_vanished(cmd, f, set_str, items->changedsince);
	}
	st->seqs = seqs;
	st->n = n;
	st->add_flags = xcalloc(n ? n : 1, sizeof(bool));
	for (i = 0; i < items->count; i++) {
		if (items->items[i].type == IMAP_FETCH_UID)
			st->uid_prefix = true;
		if (items->items[i].type == IMAP_FETCH_MODSEQ)
			st->modseq_prefix = true;
		if (items->items[i].type == IMAP_FETCH_FLAGS)
			st->flags_requested = true;
	}
	if (uid)
		st->uid_prefix = true;
	if (items->has_modseq || (condstore && st->flags_requested))
		st->modseq_prefix = true;

	/* Non-PEEK body items set \Seen first (RFC 3501 6.4.5), and
	 * report the new FLAGS with the message. */
	if (items->sets_seen && !imapd_session_readonly(s) && n > 0) {
		uint32_t *unseen = xcalloc(n, sizeof(*unseen));
		size_t *where = xcalloc(n, sizeof(*where));
		enum mindex_store_result *res;

		for (i = k = 0; i < n; i++) {
			const struct mindex_msg *m = mindex_msg(f, seqs[i]);
			if (!m->expunged && !(m->flags & STORE_FLAG_SEEN)) {
				where[k] = i;
				unseen[k++] = seqs[i];
			}
		}
		res = xcalloc(k ? k : 1, sizeof(*res));
		if (k > 0 && mindex_store_flags(f, unseen, k, MINDEX_FLAGS_ADD,
						STORE_FLAG_SEEN, 0, 0, res,
						&err) < 0) {
			log_error("fetch: setting \\Seen: %s", err.msg);
		} else {
			for (i = 0; i < k; i++)
				if (res[i] == MINDEX_STORE_CHANGED)
					st->add_flags[where[i]] = true;
		}
		free(res);
		free(where);
		free(unseen);
		if (condstore)
			st->modseq_prefix = true;
	}
	return st;
}

enum imapd_cmd_result imapd_cmd_fetch(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct mindex_folder *f = imapd_session_folder(s);
	struct fetch_state *st = imapd_cmd_state(cmd);
	struct buf *out = imapd_cmd_out(cmd);

	if (st == NULL) {
		st = start(cmd);
		if (st == NULL)
			return IMAPD_CMD_DONE;
		imapd_cmd_set_state(cmd, st, state_free);
	}
	while (st->pos < st->n) {
		if (!st->in_msg && st->pos >= st->cw_base + st->cw_n)
			cache_load(st, f);
		if (!st->in_msg) {
			uint32_t seq = st->seqs[st->pos];
			const struct mindex_msg *m = mindex_msg(f, seq);

			if (m->expunged) {
				st->expunged = true;
				st->pos++;
				continue;
			}
			imapd_msgctx_clear(&st->mc);
			imapd_msgctx_init(&st->mc, f, seq);
			buf_printf(out, "* %u FETCH (", seq);
			st->first = true;
			if (st->uid_prefix) {
				sep(st, out);
				buf_printf(out, "UID %u", m->uid);
			}
			if (st->modseq_prefix) {
				sep(st, out);
				buf_printf(out, "MODSEQ (%llu)",
					   (unsigned long long)m->modseq);
			}
			if (st->add_flags[st->pos] && !st->flags_requested) {
				sep(st, out);
				buf_append_str(out, "FLAGS ");
				imapd_write_flags(out, f, m);
			}
			st->in_msg = true;
			st->item = 0;
		}
		if (st->lit.active && !drain(st, out))
			return IMAPD_CMD_MORE;
		while (st->item < st->items->count && !st->lit.active)
			write_item(st, out, f, &st->items->items[st->item++]);
		if (st->lit.active)
			continue;
		buf_append_str(out, ")\r\n");
		imapd_msgctx_clear(&st->mc);
		st->in_msg = false;
		st->pos++;
		if (buf_len(out) >= IMAPD_CMD_OUT_CHUNK && st->pos < st->n)
			return IMAPD_CMD_MORE;
	}
	cache_flush(st, f);
	if (imapd_cmd_sync(cmd, imapd_cmd_is_uid(cmd)) < 0) {
		imapd_cmd_reply(cmd, "NO", "UNAVAILABLE",
				"Mailbox could not be synced");
		return IMAPD_CMD_DONE;
	}
	if (st->unknown_cte)
		imapd_cmd_reply(cmd, "NO", "UNKNOWN-CTE",
				"Unknown Content-Transfer-Encoding");
	else if (st->failed)
		imapd_cmd_reply(cmd, "NO", "SERVERBUG",
				"Internal error occurred. Refer to server log "
				"for more information.");
	else if (st->expunged)
		imapd_cmd_reply(cmd, "NO", "EXPUNGEISSUED",
				"Some messages were expunged");
	else
		imapd_cmd_reply(cmd, "OK", NULL, "Fetch completed");
	return IMAPD_CMD_DONE;
}
