/*
 * imapd-select.c - SELECT, EXAMINE (with the CONDSTORE and QRESYNC
 * parameters of RFC 7162), CLOSE, UNSELECT, and imapd_cmd_sync(): the
 * untagged EXISTS / EXPUNGE / VANISHED / FETCH FLAGS that tell a client
 * what other sessions changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"
#include "mindex/mindex.h"

#include "imapd-msg.h"
#include "imapd.h"

static bool rev2(const struct imapd_session *s)
{
	return (s->enabled & IMAPD_ENABLED_IMAP4REV2) != 0;
}

void imapd_select_free(struct imapd_session *s)
{
	mindex_folder_close(&s->folder);
	s->readonly = false;
	if (s->state == IMAPD_STATE_SELECTED)
		s->state = IMAPD_STATE_AUTH;
}

void imapd_select_flags(struct imapd_session *s, struct buf *out)
{
	struct mindex_folder *f = s->folder;
	unsigned i, n = mindex_keyword_count(f);
	struct buf *kw = buf_new();

	for (i = 0; i < n; i++) {
		const char *name = mindex_keyword_name(f, i);
		if (name != NULL)
			buf_printf(kw, " %s", name);
	}
	buf_printf(out,
		   "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
		   "\\Draft%s)\r\n",
		   buf_data(kw));
	if (s->readonly)
		buf_append_str(out, "* OK [PERMANENTFLAGS ()] Read-only "
				    "mailbox.\r\n");
	else
		buf_printf(
		    out,
		    "* OK [PERMANENTFLAGS (\\Answered \\Flagged "
		    "\\Deleted \\Seen \\Draft%s%s)] Flags permitted.\r\n",
		    buf_data(kw), n < MINDEX_KEYWORDS_MAX ? " \\*" : "");
	buf_free(&kw);
}

/* "* N FETCH (UID u FLAGS (...) MODSEQ (m))" for a changed message. */
static void fetch_flags(struct imapd_session *s, bool uid, uint32_t seq,
			struct buf *out)
{
	const struct mindex_msg *m = mindex_msg(s->folder, seq);

	if (m == NULL)
		return;
	buf_printf(out, "* %u FETCH (", seq);
	if (uid || (s->enabled & IMAPD_ENABLED_QRESYNC))
		buf_printf(out, "UID %u ", m->uid);
	buf_append_str(out, "FLAGS ");
	imapd_write_flags(out, s->folder, m);
	if (s->enabled & IMAPD_ENABLED_CONDSTORE)
		buf_printf(out, " MODSEQ (%llu)",
			   (unsigned long long)m->modseq);
	buf_append_str(out, ")\r\n");
}

int imapd_cmd_sync(struct imapd_cmd *cmd, bool allow_expunge)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct buf *out = imapd_cmd_out(cmd);
	struct mindex_sync_result r;
	struct error err;
	size_t i;

	if (s->folder == NULL)
		return 0;
	memset(&r, 0, sizeof(r));
	if (mindex_folder_sync(s->folder,
			       allow_expunge ? 0 : MINDEX_SYNC_NO_EXPUNGE, &r,
			       &err) < 0)
		return -1;
	if (r.expunged_count > 0) {
		if (s->enabled & IMAPD_ENABLED_QRESYNC) {
			buf_append_str(out, "* VANISHED ");
			imap_seqset_write_array(out, r.expunged_uids,
						r.expunged_count);
			buf_append_str(out, "\r\n");
		} else {
			for (i = r.expunged_count; i > 0; i--)
				buf_printf(out, "* %u EXPUNGE\r\n",
					   r.expunged_seqs[i - 1]);
		}
	}
	if (r.keywords_changed)
		imapd_select_flags(s, out);
	if (r.new_count > 0) {
		buf_printf(out, "* %u EXISTS\r\n", r.exists);
		if (!rev2(s))
			buf_printf(out, "* %u RECENT\r\n", r.recent);
	}
	for (i = 0; i < r.changed_count; i++)
		fetch_flags(s, imapd_cmd_is_uid(cmd), r.changed_seqs[i], out);
	mindex_sync_result_free(&r);
	return 0;
}

/* ---- SELECT / EXAMINE. */

struct qresync {
	bool on;
	uint32_t uidvalidity;
	uint64_t modseq;
	struct imap_seqset *known; /* may be NULL */
};

/* The select parameters: (CONDSTORE) / (QRESYNC (uidvalidity modseq
 * [known-uids [seq-match]])).  False on a syntax error. */
static bool parse_params(struct imapd_session *s, const struct imap_arg *arg,
			 bool *condstore, struct qresync *q)
{
	const struct imap_arg *list, *ql;
	size_t count, qcount, i;

	if (!imap_arg_get_list(arg, &list, &count))
		return false;
	for (i = 0; i < count; i++) {
		if (imap_arg_atom_equals(&list[i], "CONDSTORE")) {
			*condstore = true;
		} else if (imap_arg_atom_equals(&list[i], "QRESYNC") &&
			   (s->enabled & IMAPD_ENABLED_QRESYNC) &&
			   i + 1 < count &&
			   imap_arg_get_list(&list[i + 1], &ql, &qcount) &&
			   qcount >= 2 &&
			   imap_arg_get_number(&ql[0], &q->uidvalidity) &&
			   q->uidvalidity != 0 &&
			   imap_arg_get_number64(&ql[1], &q->modseq) &&
			   q->modseq != 0) {
			const char *known;
			struct error err;

			q->on = true;
			if (qcount >= 3) {
				if (!imap_arg_get_atom(&ql[2], &known) ||
				    imap_seqset_parse(known, false, &q->known,
						      &err) < 0)
					return false;
				imap_seqset_resolve(q->known, UINT32_MAX);
			}
			/* The seq-match data (4th) only narrows what the
			 * client knows; answering from the full log is
			 * allowed (RFC 7162 3.2.5.2). */
			if (qcount > 4)
				return false;
			i++;
		} else {
			return false;
		}
	}
	return true;
}

/* QRESYNC: VANISHED (EARLIER) and FETCH of what changed since modseq. */
static int qresync_write(struct imapd_session *s, struct qresync *q,
			 struct buf *out, struct error *err)
{
	struct mindex_folder *f = s->folder;
	uint32_t *uids = NULL, *keep;
	size_t count = 0, n = 0, i;
	uint32_t seq, total;

	if (q->uidvalidity != mindex_folder_uidvalidity(f))
		return 0;
	if (mindex_expunged_since(f, q->modseq, &uids, &count, err) < 0)
		return -1;
	keep = xcalloc(count + 1, sizeof(*keep));
	for (i = 0; i < count; i++)
		if (q->known == NULL || imap_seqset_contains(q->known, uids[i]))
			keep[n++] = uids[i];
	if (n > 0) {
		buf_append_str(out, "* VANISHED (EARLIER) ");
		imap_seqset_write_array(out, keep, n);
		buf_append_str(out, "\r\n");
	}
	free(keep);
	free(uids);
	total = mindex_folder_count(f);
	for (seq = 1; seq <= total; seq++) {
		const struct mindex_msg *m = mindex_msg(f, seq);

		if (m == NULL || m->expunged || m->modseq <= q->modseq)
			continue;
		buf_printf(out, "* %u FETCH (UID %u FLAGS ", seq, m->uid);
		imapd_write_flags(out, f, m);
		buf_printf(out, " MODSEQ (%llu))\r\n",
			   (unsigned long long)m->modseq);
	}
	return 0;
}

static enum imapd_cmd_result select_common(struct imapd_cmd *cmd, bool readonly)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	struct buf *out = imapd_cmd_out(cmd);
	struct qresync q = {0};
	bool condstore = false, had = s->folder != NULL;
	const char *why = NULL, *name;
	uint32_t seq, count, unseen = 0;
	struct error err;
	char *disk;

	if (!imap_arg_get_astring(&args[0], &name) ||
	    (!imap_arg_is_eol(&args[1]) &&
	     (!parse_params(s, &args[1], &condstore, &q) ||
	      !imap_arg_is_eol(&args[2])))) {
		imap_seqset_free(&q.known);
		imapd_cmd_reply(cmd, "BAD", NULL,
				"Invalid arguments: %s mailbox [(params)].",
				imapd_cmd_name(cmd));
		return IMAPD_CMD_DONE;
	}
	/* RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected. */
	imapd_select_free(s);
	if (had &&
	    (s->enabled & (IMAPD_ENABLED_QRESYNC | IMAPD_ENABLED_IMAP4REV2)))
		buf_append_str(out,
			       "* OK [CLOSED] Previous mailbox closed.\r\n");
	disk = imapd_mailbox_to_disk(s, name, &why);
	if (disk == NULL) {
		imap_seqset_free(&q.known);
		imapd_cmd_reply(cmd, "NO", "NONEXISTENT", "%s", why);
		return IMAPD_CMD_DONE;
	}
	s->folder = mindex_folder_open(s->mu, disk, readonly, &err);
	free(disk);
	if (s->folder == NULL) {
		imap_seqset_free(&q.known);
		imapd_mailbox_error(cmd, &err);
		return IMAPD_CMD_DONE;
	}
	s->readonly = readonly || mindex_folder_readonly(s->folder);
	s->state = IMAPD_STATE_SELECTED;
	if (condstore)
		imapd_session_enable(s, IMAPD_ENABLED_CONDSTORE);
	free(s->saved);
	s->saved = NULL;
	s->saved_count = 0;

	count = mindex_folder_count(s->folder);
	imapd_select_flags(s, out);
	buf_printf(out, "* %u EXISTS\r\n", count);
	if (!rev2(s)) {
		buf_printf(out, "* %u RECENT\r\n",
			   mindex_folder_recent(s->folder));
		for (seq = 1; seq <= count && unseen == 0; seq++) {
			const struct mindex_msg *m = mindex_msg(s->folder, seq);
			if (m != NULL && !(m->flags & STORE_FLAG_SEEN))
				unseen = seq;
		}
		if (unseen > 0)
			buf_printf(out, "* OK [UNSEEN %u] First unseen.\r\n",
				   unseen);
	}
	buf_printf(out, "* OK [UIDVALIDITY %u] UIDs valid\r\n",
		   mindex_folder_uidvalidity(s->folder));
	buf_printf(out, "* OK [UIDNEXT %u] Predicted next UID\r\n",
		   mindex_folder_uidnext(s->folder));
	buf_printf(out, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
		   (unsigned long long)mindex_folder_highestmodseq(s->folder));
	{
		/* RFC 8474 4.2: the folder's permanent id. */
		char *id = NULL;

		if (mindex_folder_guid(s->folder, &id, &err) > 0)
			buf_printf(out, "* OK [MAILBOXID (%s)] Ok\r\n", id);
		free(id);
	}
	if (q.on && qresync_write(s, &q, out, &err) < 0) {
		imap_seqset_free(&q.known);
		imapd_select_free(s);
		imapd_mailbox_error(cmd, &err);
		return IMAPD_CMD_DONE;
	}
	imap_seqset_free(&q.known);
	imapd_cmd_reply(cmd, "OK", s->readonly ? "READ-ONLY" : "READ-WRITE",
			"%s completed.", readonly ? "Examine" : "Select");
	return IMAPD_CMD_DONE;
}

enum imapd_cmd_result imapd_cmd_select(struct imapd_cmd *cmd)
{
	return select_common(cmd, false);
}

enum imapd_cmd_result imapd_cmd_examine(struct imapd_cmd *cmd)
{
	return select_common(cmd, true);
}

/* CLOSE: expunge \Deleted messages silently (read-write only). */
enum imapd_cmd_result imapd_cmd_close(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	uint32_t *seqs = NULL, seq, count;
	size_t n = 0;
	struct error err;

	if (!imap_arg_is_eol(imapd_cmd_args(cmd))) {
		imapd_cmd_reply(cmd, "BAD", NULL, "No arguments expected.");
		return IMAPD_CMD_DONE;
	}
	if (!s->readonly) {
		count = mindex_folder_count(s->folder);
		seqs = xcalloc(count + 1, sizeof(*seqs));
		for (seq = 1; seq <= count; seq++) {
			const struct mindex_msg *m = mindex_msg(s->folder, seq);
			if (m != NULL && !m->expunged &&
			    (m->flags & STORE_FLAG_TRASHED))
				seqs[n++] = seq;
		}
		if (n > 0 && mindex_expunge(s->folder, seqs, n, &err) < 0) {
			free(seqs);
			imapd_select_free(s);
			imapd_mailbox_error(cmd, &err);
			return IMAPD_CMD_DONE;
		}
		free(seqs);
	}
	imapd_select_free(s);
	imapd_cmd_reply(cmd, "OK", NULL, "Close completed.");
	return IMAPD_CMD_DONE;
}

enum imapd_cmd_result imapd_cmd_unselect(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);

	if (!imap_arg_is_eol(imapd_cmd_args(cmd))) {
		imapd_cmd_reply(cmd, "BAD", NULL, "No arguments expected.");
		return IMAPD_CMD_DONE;
	}
	imapd_select_free(s);
	imapd_cmd_reply(cmd, "OK", NULL, "Unselect completed.");
	return IMAPD_CMD_DONE;
}
