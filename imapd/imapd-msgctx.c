/*
 * imapd-msgctx.c - one message of the selected folder loaded on demand
 * (file mapping, MIME tree) and the FLAGS list writer (see imapd-msg.h).
 */
#include "imapd-msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "imap/imap_parser.h"
#include "imap/imap_quote.h"
#include "imap/imap_seqset.h"
#include "imapd-cmd.h"
#include "mail/mime.h"
#include "mindex/mindex.h"

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void imapd_msgctx_init(struct imapd_msgctx *c, struct mindex_folder *f,
		       uint32_t seq)
{
	memset(c, 0, sizeof(*c));
	c->folder = f;
	c->seq = seq;
	c->file.data = "";
}

int imapd_msgctx_load(struct imapd_msgctx *c, struct error *err)
{
	size_t blank;
	int fd, r;

	if (c->loaded)
		return 1;
	if (c->gone)
		return 0;
	r = mindex_msg_open(c->folder, c->seq, &fd, err);
	if (r <= 0) {
		if (r == 0)
			c->gone = true;
		return r;
	}
	if (imapd_msg_file_map(fd, &c->file, err) < 0)
		return -1;
	c->body_off = imapd_header_end(c->file.data, c->file.size, &blank);
	c->loaded = true;
	return 1;
}

const struct mime_message *imapd_msgctx_mime(struct imapd_msgctx *c,
					     struct error *err)
{
	if (c->mime != NULL)
		return c->mime;
	if (imapd_msgctx_load(c, err) <= 0)
		return NULL;
	c->mime = mime_parse(c->file.data, c->file.size);
	return c->mime;
}

void imapd_msgctx_clear(struct imapd_msgctx *c)
{
	if (c->mime != NULL)
		mime_message_free(&c->mime);
	imapd_msg_file_close(&c->file);
	c->loaded = false;
	c->gone = false;
}

void imapd_write_flags(struct buf *out, const struct mindex_folder *f,
		       const struct mindex_msg *m)
{
	size_t start = buf_len(out);

	buf_append_char(out, '(');
	if (m->flags & STORE_FLAG_REPLIED)
		buf_append_str(out, "\\Answered ");
	if (m->flags & STORE_FLAG_FLAGGED)
		buf_append_str(out, "\\Flagged ");
	if (m->flags & STORE_FLAG_TRASHED)
		buf_append_str(out, "\\Deleted ");
	if (m->flags & STORE_FLAG_SEEN)
		buf_append_str(out, "\\Seen ");
	if (m->flags & STORE_FLAG_DRAFT)
		buf_append_str(out, "\\Draft ");
	if (mindex_uid_recent(f, m->uid))
		buf_append_str(out, "\\Recent ");
	for (unsigned i = 0; i < MINDEX_KEYWORDS_MAX; i++) {
		const char *kw;
		if (!(m->keywords & (1u << i)))
			continue;
		kw = mindex_keyword_name(f, i);
		if (kw != NULL) {
			buf_append_str(out, kw);
			buf_append_char(out, ' ');
		}
	}
	if (buf_len(out) > start + 1)
		buf_truncate(out, buf_len(out) - 1);
	buf_append_char(out, ')');
}

int imapd_msg_seqs(struct imapd_cmd *cmd, const struct imap_arg *arg,
		   uint32_t **seqs_r, size_t *count_r)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct mindex_folder *f = imapd_session_folder(s);
	uint32_t count = mindex_folder_count(f);
	bool uid = imapd_cmd_is_uid(cmd);
	struct imap_seqset *set = NULL;
	struct error err = {0};
	uint32_t *seqs = NULL;
	size_t n = 0, cap = 0;
	const char *str;

	*seqs_r = NULL;
	*count_r = 0;
	if (!imap_arg_get_atom(arg, &str)) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Invalid sequence set");
		return -1;
	}
	if (imap_seqset_parse(str, true, &set, &err) < 0) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Invalid sequence set: %s",
				err.msg);
		return -1;
	}
	if (set->saved) {
		size_t nsaved, i;
		const uint32_t *saved = imapd_session_saved(s, &nsaved);

		imap_seqset_free(&set);
		seqs = xcalloc(nsaved ? nsaved : 1, sizeof(*seqs));
		for (i = 0; i < nsaved; i++) {
			uint32_t seq = mindex_seq_of_uid(f, saved[i]);
			if (seq != 0)
				seqs[n++] = seq;
		}
		qsort(seqs, n, sizeof(*seqs), u32_cmp);
		*seqs_r = seqs;
		*count_r = n;
		return 0;
	}
	if (uid) {
		const struct mindex_msg *last = mindex_msg(f, count);
		imap_seqset_resolve(set, last != NULL ? last->uid : 0);
		for (size_t r = 0; r < set->count; r++) {
			uint32_t seq = mindex_seq_of_uid_ge(f, set->ranges[r].first);
			for (; seq <= count; seq++) {
				if (mindex_msg(f, seq)->uid > set->ranges[r].last)
					break;
				if (n == cap) {
					cap = cap ? cap * 2 : 64;
					seqs = xreallocarray(seqs, cap, sizeof(*seqs));
				}
				seqs[n++] = seq;
			}
		}
	} else {
		struct imap_seqset_iter it;
		uint32_t seq;

		imap_seqset_resolve(set, count);
		if (count == 0 || !imap_seqset_within(set, count)) {
			imap_seqset_free(&set);
			imapd_cmd_reply(cmd, "BAD", NULL,
					"Invalid messageset (no such message)");
			return -1;
		}
		cap = (size_t)imap_seqset_count(set);
		seqs = xcalloc(cap ? cap : 1, sizeof(*seqs));
		imap_seqset_iter_init(&it, set);
		while (imap_seqset_iter_next(&it, &seq))
			seqs[n++] = seq;
	}
	imap_seqset_free(&set);
	*seqs_r = seqs;
	*count_r = n;
	return 0;
}

void imapd_msg_uids(struct mindex_folder *f, const uint32_t *seqs, size_t n,
		    uint32_t *uids_r)
{
	for (size_t i = 0; i < n; i++)
		uids_r[i] = mindex_msg(f, seqs[i])->uid;
}

unsigned imapd_msg_quote_flags(struct imapd_cmd *cmd)
{
	unsigned en = imapd_session_enabled(imapd_cmd_session(cmd));

	return (en & (IMAPD_ENABLED_UTF8 | IMAPD_ENABLED_IMAP4REV2)) ?
		IMAP_QUOTE_UTF8 : 0;
}

void imapd_msg_reply_error(struct imapd_cmd *cmd, const struct error *err,
			   const char *what)
{
	const char *code = NULL, *c = err->code;

	if (c == NULL)
		code = err->kind == ERR_TEMP ? "SERVERBUG" : NULL;
	else if (strcmp(c, MINDEX_ERR_NOTFOUND) == 0)
		code = "TRYCREATE";
	else if (strcmp(c, STORE_ERR_QUOTA) == 0)
		code = "OVERQUOTA";
	else if (strcmp(c, STORE_ERR_NOSPACE) == 0)
		code = "OVERQUOTA";
	else if (strcmp(c, MINDEX_ERR_LIMIT) == 0)
		code = "LIMIT";
	else if (strcmp(c, MINDEX_ERR_EXPUNGED) == 0)
		code = "EXPUNGEISSUED";
	else if (strcmp(c, MINDEX_ERR_READONLY) == 0)
		code = "READ-ONLY";
	else if (strcmp(c, MINDEX_ERR_INVALID) == 0)
		code = "CANNOT";
	if (err->kind == ERR_TEMP && code != NULL &&
	    strcmp(code, "SERVERBUG") == 0) {
		log_error("%s: %s failed: %s",
			  imapd_session_user(imapd_cmd_session(cmd)), what,
			  err->msg);
		imapd_cmd_reply(cmd, "NO", "SERVERBUG",
				"Internal error occurred. Refer to server log "
				"for more information.");
		return;
	}
	imapd_cmd_reply(cmd, "NO", code, "%s", err->msg);
}

/*
 * RFC 8474 EMAILID: a hash of the message content, so that every copy
 * (COPY hard-links the file under a new name; a byte copy gives the same
 * bytes) and a rebuilt index give the same id.  Computed once per
 * message and kept in the mindex cache.
 */
void imapd_msg_emailid(struct imapd_msgctx *c, char out[18])
{
	const struct mindex_msg *m = mindex_msg(c->folder, c->seq);
	struct buf *b = buf_new();
	struct error err = {0};
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	if (mindex_cache_get(c->folder, m->uid, "emailid", b, &err) > 0 &&
	    buf_len(b) == 17) {
		memcpy(out, buf_data(b), 18);
		buf_free(&b);
		return;
	}
	buf_free(&b);
	if (imapd_msgctx_load(c, &err) <= 0) {
		/* gone or unreadable: an id from the name, not cached */
		imapd_emailid(m->name, out);
		return;
	}
	for (size_t i = 0; i < c->file.size; i++) {
		h ^= (unsigned char)c->file.data[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(out, 18, "M%016llx", (unsigned long long)h);
	if (mindex_cache_put(c->folder, m->uid, "emailid", out, 17, &err) < 0)
		log_warn("emailid: cache: %s", err.msg);
}
