/*
 * imapd-expunge.c - EXPUNGE (RFC 3501 6.4.3) and UID EXPUNGE (UIDPLUS,
 * RFC 4315 2.1): remove the messages marked \Deleted (within the UID set
 * for UID EXPUNGE).  mindex_expunge unlinks them and logs the expunges;
 * imapd_cmd_sync then reports them as EXPUNGE, or VANISHED under QRESYNC
 * (RFC 7162 3.2.10), before the tagged OK.
 */
#include <stdlib.h>

#include "core/xmalloc.h"
#include "imap/imap_parser.h"
#include "imapd-cmd.h"
#include "imapd-msg.h"
#include "mindex/mindex.h"

enum imapd_cmd_result imapd_cmd_expunge(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct mindex_folder *f = imapd_session_folder(s);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	uint32_t *seqs = NULL, *del;
	size_t n = 0, ndel = 0, i;
	struct error err = {0};

	if (imapd_cmd_is_uid(cmd)) {
		if (imap_arg_is_eol(args) || !imap_arg_is_eol(&args[1])) {
			imapd_cmd_reply(cmd, "BAD", NULL,
					"UID EXPUNGE needs a UID set");
			return IMAPD_CMD_DONE;
		}
		if (imapd_msg_seqs(cmd, &args[0], &seqs, &n) < 0)
			return IMAPD_CMD_DONE;
	} else if (!imap_arg_is_eol(args)) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Unexpected arguments");
		return IMAPD_CMD_DONE;
	} else {
		n = mindex_folder_count(f);
		seqs = xcalloc(n ? n : 1, sizeof(*seqs));
		for (i = 0; i < n; i++)
			seqs[i] = (uint32_t)i + 1;
	}
	if (imapd_session_readonly(s)) {
		free(seqs);
		imapd_cmd_reply(cmd, "NO", "READ-ONLY", "Mailbox is read-only");
		return IMAPD_CMD_DONE;
	}
	del = xcalloc(n ? n : 1, sizeof(*del));
	for (i = 0; i < n; i++) {
		const struct mindex_msg *m = mindex_msg(f, seqs[i]);
		if (!m->expunged && (m->flags & STORE_FLAG_TRASHED))
			del[ndel++] = seqs[i];
	}
	free(seqs);
	if (ndel > 0 && mindex_expunge(f, del, ndel, &err) < 0) {
		free(del);
		imapd_msg_reply_error(cmd, &err, "expunge");
		return IMAPD_CMD_DONE;
	}
	free(del);
	if (imapd_cmd_sync(cmd, true) < 0) {
		imapd_cmd_reply(cmd, "NO", "UNAVAILABLE",
				"Mailbox could not be synced");
		return IMAPD_CMD_DONE;
	}
	imapd_cmd_reply(cmd, "OK", NULL, "Expunge completed");
	return IMAPD_CMD_DONE;
}
