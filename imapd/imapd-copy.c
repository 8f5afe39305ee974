/*
 * imapd-copy.c - COPY / UID COPY (RFC 3501 6.4.7) with the UIDPLUS
 * COPYUID code (RFC 4315), and MOVE / UID MOVE (RFC 6851): copy, then
 * expunge the sources, sending the COPYUID in an untagged OK before the
 * EXPUNGE (or VANISHED) responses.  A missing destination is NO
 * [TRYCREATE], a full quota NO [OVERQUOTA].
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"
#include "imapd.h"
#include "imapd-msg.h"
#include "mindex/mindex.h"

/*
 * COPY into the selected folder itself (mindex_copy wants two folders):
 * append each message again with its flags, keywords (same table) and
 * internal date.  uids_r[i] 0 for a message expunged meanwhile.
 */
static int copy_same(struct mindex_folder *f, const uint32_t *seqs, size_t n,
		     const struct store_quota *quota, uint32_t *uids_r,
		     struct error *err)
{
	for (size_t i = 0; i < n; i++) {
		const struct mindex_msg *m = mindex_msg(f, seqs[i]);
		uint32_t flags = m->flags, keywords = m->keywords;
		struct store_input in;
		time_t idate;
		int fd, r;

		uids_r[i] = 0;
		if (m->expunged)
			continue;
		idate = mindex_msg_internaldate(f, seqs[i]);
		r = mindex_msg_open(f, seqs[i], &fd, err);
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		store_input_fd(&in, &fd);
		r = mindex_append(f, &in, flags, keywords, idate, quota,
				  &uids_r[i], err);
		close(fd);
		if (r < 0)
			return -1;
	}
	return 0;
}

static enum imapd_cmd_result copy_or_move(struct imapd_cmd *cmd, bool move)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct mindex_folder *src = imapd_session_folder(s), *dst = NULL;
	const struct imap_arg *args = imapd_cmd_args(cmd);
	const char *name, *why = NULL;
	char *disk = NULL;
	uint32_t *seqs = NULL, *newuids = NULL, *srcuids = NULL, *moved = NULL;
	size_t n = 0, ncopied = 0, i;
	struct store_quota quota;
	struct store_usage usage;
	struct error err = {0};
	struct buf *code = NULL;
	uint32_t uidvalidity;
	bool has_quota;
	int r;

	if (imap_arg_is_eol(args) || !imap_arg_get_astring(&args[1], &name) ||
	    !imap_arg_is_eol(&args[2])) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"%s needs a message set and a mailbox",
				imapd_cmd_name(cmd));
		return IMAPD_CMD_DONE;
	}
	if (imapd_msg_seqs(cmd, &args[0], &seqs, &n) < 0)
		return IMAPD_CMD_DONE;
	disk = imapd_mailbox_to_disk(s, name, &why);
	if (disk == NULL) {
		imapd_cmd_reply(cmd, "NO", "CANNOT", "%s",
				why != NULL ? why : "Invalid mailbox name");
		goto out;
	}
	if (move && imapd_session_readonly(s)) {
		imapd_cmd_reply(cmd, "NO", "READ-ONLY", "Mailbox is read-only");
		goto out;
	}
	r = mindex_folder_exists(s->mu, disk, &err);
	if (r <= 0) {
		if (r == 0)
			imapd_cmd_reply(cmd, "NO", "TRYCREATE",
					"Mailbox doesn't exist: %s", name);
		else
			imapd_msg_reply_error(cmd, &err, "copy");
		goto out;
	}
	if (move && strcmp(disk, mindex_folder_name(src)) == 0) {
		imapd_cmd_reply(cmd, "NO", "CANNOT",
				"Can't move to the same mailbox");
		goto out;
	}
	if (n == 0) {
		/* UID COPY of UIDs that do not exist (RFC 4315 4). */
		if (imapd_cmd_sync(cmd, true) < 0) {
			imapd_cmd_reply(cmd, "NO", "UNAVAILABLE",
					"Mailbox could not be synced");
			goto out;
		}
		imapd_cmd_reply(cmd, "OK", NULL, "No messages found");
		goto out;
	}
	newuids = xcalloc(n, sizeof(*newuids));
	has_quota = imapd_quota_get(s, &quota, &usage, &err) == 0;
	if (strcmp(disk, mindex_folder_name(src)) == 0) {
		uidvalidity = mindex_folder_uidvalidity(src);
		if (copy_same(src, seqs, n, has_quota ? &quota : NULL, newuids,
			      &err) < 0) {
			imapd_msg_reply_error(cmd, &err, imapd_cmd_name(cmd));
			goto out;
		}
	} else {
		dst = mindex_folder_open(s->mu, disk, false, &err);
		if (dst == NULL) {
			imapd_msg_reply_error(cmd, &err, "copy");
			goto out;
		}
		uidvalidity = mindex_folder_uidvalidity(dst);
		if (mindex_copy(src, seqs, n, dst, has_quota ? &quota : NULL,
				newuids, &err) < 0) {
			imapd_msg_reply_error(cmd, &err, imapd_cmd_name(cmd));
			goto out;
		}
	}
	srcuids = xcalloc(n, sizeof(*srcuids));
	moved = xcalloc(n, sizeof(*moved));
	for (i = 0; i < n; i++) {
		if (newuids[i] == 0)
			continue;
		srcuids[ncopied] = mindex_msg(src, seqs[i])->uid;
		newuids[ncopied] = newuids[i];
		moved[ncopied] = seqs[i];
		ncopied++;
	}
	code = buf_new();
	if (ncopied > 0) {
		buf_printf(code, "COPYUID %u ", uidvalidity);
		imap_seqset_write_array(code, srcuids, ncopied);
		buf_append_char(code, ' ');
		imap_seqset_write_array(code, newuids, ncopied);
	}
	if (move) {
		if (ncopied > 0 &&
		    mindex_expunge(src, moved, ncopied, &err) < 0) {
			imapd_msg_reply_error(cmd, &err, "move");
			goto out;
		}
		if (ncopied > 0)
			buf_printf(imapd_cmd_out(cmd), "* OK [%s] Moved UIDs.\r\n",
				   buf_data(code));
	}
	if (imapd_cmd_sync(cmd, true) < 0) {
		imapd_cmd_reply(cmd, "NO", "UNAVAILABLE",
				"Mailbox could not be synced");
		goto out;
	}
	if (ncopied < n && ncopied == 0)
		imapd_cmd_reply(cmd, "NO", "EXPUNGEISSUED",
				"Some of the requested messages no longer "
				"exist");
	else if (move)
		imapd_cmd_reply(cmd, "OK", NULL, "Move completed");
	else
		imapd_cmd_reply(cmd, "OK", ncopied > 0 ? buf_data(code) : NULL,
				"Copy completed");
out:
	if (dst != NULL)
		mindex_folder_close(&dst);
	buf_free(&code);
	free(moved);
	free(srcuids);
	free(newuids);
	free(seqs);
	free(disk);
	return IMAPD_CMD_DONE;
}

enum imapd_cmd_result imapd_cmd_copy(struct imapd_cmd *cmd)
{
	return copy_or_move(cmd, false);
}

enum imapd_cmd_result imapd_cmd_move(struct imapd_cmd *cmd)
{
	return copy_or_move(cmd, true);
}
