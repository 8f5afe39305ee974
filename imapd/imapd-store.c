/*
 * imapd-store.c - STORE and UID STORE (RFC 3501 6.4.6, RFC 9051 6.4.6,
 * CONDSTORE UNCHANGEDSINCE of RFC 7162 3.1.3).
 *
 *   STORE set [(UNCHANGEDSINCE modseq)] [+|-]FLAGS[.SILENT] flags
 *
 * Keywords are looked up in (and for FLAGS / +FLAGS added to) the
 * folder's keyword table; a full table gives NO [LIMIT].  The flags
 * change through mindex_store_flags, which renames the files and gives
 * each changed message a new MODSEQ.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"
#include "imapd-cmd.h"
#include "imapd-msg.h"
#include "mindex/mindex.h"

/* System flag name -> STORE_FLAG_* bit; 0 for an unknown one. */
static uint32_t system_flag(const char *s)
{
	if (strcasecmp(s, "\\Answered") == 0)
		return STORE_FLAG_REPLIED;
	if (strcasecmp(s, "\\Flagged") == 0)
		return STORE_FLAG_FLAGGED;
	if (strcasecmp(s, "\\Deleted") == 0)
		return STORE_FLAG_TRASHED;
	if (strcasecmp(s, "\\Seen") == 0)
		return STORE_FLAG_SEEN;
	if (strcasecmp(s, "\\Draft") == 0)
		return STORE_FLAG_DRAFT;
	return 0;
}

/*
 * Parse flags (a list or atoms up to EOL) into bits.  create: make new
 * keywords in the table.  1 ok, 0 BAD appended, -1 NO appended.
 */
static int parse_flags(struct imapd_cmd *cmd, struct mindex_folder *f,
		       const struct imap_arg *args, bool create,
		       uint32_t *flags_r, uint32_t *keywords_r)
{
	const struct imap_arg *list;
	size_t count;

	*flags_r = 0;
	*keywords_r = 0;
	if (imap_arg_get_list(args, &list, &count)) {
		if (!imap_arg_is_eol(&args[1])) {
			imapd_cmd_reply(cmd, "BAD", NULL,
					"Unexpected arguments after flags");
			return 0;
		}
		args = list;
	}
	for (; !imap_arg_is_eol(args); args++) {
		const char *s;
		struct error err = {0};
		int idx;

		if (!imap_arg_get_atom(args, &s)) {
			imapd_cmd_reply(cmd, "BAD", NULL, "Flags must be atoms");
			return 0;
		}
		if (s[0] == '\\') {
			uint32_t bit = system_flag(s);
			if (bit == 0) {
				imapd_cmd_reply(cmd, "BAD", NULL,
						"Invalid system flag %s", s);
				return 0;
			}
			*flags_r |= bit;
			continue;
		}
		idx = mindex_keyword_lookup(f, s, create, &err);
		if (idx < 0) {
			if (err.code != NULL &&
			    strcmp(err.code, MINDEX_ERR_NOTFOUND) == 0)
				continue; /* -FLAGS of a keyword nobody has */
			imapd_msg_reply_error(cmd, &err, "keyword");
			return -1;
		}
		*keywords_r |= 1u << idx;
	}
	return 1;
}

enum imapd_cmd_result imapd_cmd_store(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct mindex_folder *f = imapd_session_folder(s);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	bool uid = imapd_cmd_is_uid(cmd), silent = false, condstore;
	enum mindex_flags_mode mode = MINDEX_FLAGS_SET;
	enum mindex_store_result *res = NULL;
	uint64_t unchangedsince = 0;
	bool has_unchanged = false;
	uint32_t *seqs = NULL, *modified = NULL, flags, keywords;
	size_t n = 0, nmod = 0, i;
	struct error err = {0};
	const char *item;
	struct buf *out = imapd_cmd_out(cmd);

	if (imap_arg_is_eol(args)) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Missing arguments");
		return IMAPD_CMD_DONE;
	}
	if (imapd_msg_seqs(cmd, &args[0], &seqs, &n) < 0)
		return IMAPD_CMD_DONE;
	args++;
	if (imap_arg_is_list(args)) {
		const struct imap_arg *mods;
		size_t nm;

		imap_arg_get_list(args, &mods, &nm);
		for (i = 0; i < nm; i += 2) {
			if (!imap_arg_atom_equals(&mods[i], "UNCHANGEDSINCE") ||
			    i + 1 >= nm ||
			    !imap_arg_get_number64(&mods[i + 1], &unchangedsince)) {
				imapd_cmd_reply(cmd, "BAD", NULL,
						"Invalid STORE modifier");
				goto out;
			}
			has_unchanged = true;
		}
		args++;
	}
	if (!imap_arg_get_atom(args, &item)) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Missing STORE item");
		goto out;
	}
	if (item[0] == '+') {
		mode = MINDEX_FLAGS_ADD;
		item++;
	} else if (item[0] == '-') {
		mode = MINDEX_FLAGS_REMOVE;
		item++;
	}
	if (strcasecmp(item, "FLAGS.SILENT") == 0) {
		silent = true;
	} else if (strcasecmp(item, "FLAGS") != 0) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Invalid STORE item %s",
				item);
		goto out;
	}
	args++;
	if (imap_arg_is_eol(args) && mode != MINDEX_FLAGS_SET) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Missing flags");
		goto out;
	}
	if (imapd_session_readonly(s)) {
		imapd_cmd_reply(cmd, "NO", "READ-ONLY",
				"Mailbox is read-only");
		goto out;
	}
	if (has_unchanged)
		imapd_session_enable(s, IMAPD_ENABLED_CONDSTORE);
	condstore = (imapd_session_enabled(s) &
		     (IMAPD_ENABLED_CONDSTORE | IMAPD_ENABLED_QRESYNC)) != 0;
	if (parse_flags(cmd, f, args, mode != MINDEX_FLAGS_REMOVE, &flags,
			&keywords) <= 0)
		goto out;
	/* UNCHANGEDSINCE 0 fails for every message (RFC 7162 3.1.3); the
	 * index takes 0 as "no condition", so test it here. */
	res = xcalloc(n ? n : 1, sizeof(*res));
	if (has_unchanged && unchangedsince == 0) {
		for (i = 0; i < n; i++)
			res[i] = MINDEX_STORE_CONFLICT;
	} else if (n > 0 &&
		   mindex_store_flags(f, seqs, n, mode, flags, keywords,
				      unchangedsince, res, &err) < 0) {
		imapd_msg_reply_error(cmd, &err, "store");
		goto out;
	}
	modified = xcalloc(n ? n : 1, sizeof(*modified));
	for (i = 0; i < n; i++) {
		const struct mindex_msg *m = mindex_msg(f, seqs[i]);

		if (res[i] == MINDEX_STORE_CONFLICT) {
			modified[nmod++] = uid ? m->uid : seqs[i];
			continue;
		}
		if (res[i] == MINDEX_STORE_EXPUNGED)
			continue;
		if (silent && !(condstore && res[i] == MINDEX_STORE_CHANGED))
			continue;
		/* RFC 7162 3.2: with CONDSTORE a silent STORE still reports
		 * the new MODSEQ of what it changed. */
		buf_printf(out, "* %u FETCH (", seqs[i]);
		if (uid)
			buf_printf(out, "UID %u ", m->uid);
		if (condstore)
			buf_printf(out, "MODSEQ (%llu) ",
				   (unsigned long long)m->modseq);
		if (!silent) {
			buf_append_str(out, "FLAGS ");
			imapd_write_flags(out, f, m);
		} else {
			buf_truncate(out, buf_len(out) - 1);
		}
		buf_append_str(out, ")\r\n");
	}
	if (imapd_cmd_sync(cmd, uid) < 0) {
		imapd_cmd_reply(cmd, "NO", "UNAVAILABLE",
				"Mailbox could not be synced");
		goto out;
	}
	if (nmod > 0) {
		struct buf *code = buf_new();

		buf_append_str(code, "MODIFIED ");
		imap_seqset_write_array(code, modified, nmod);
		imapd_cmd_reply(cmd, "OK", buf_data(code),
				"Conditional STORE failed");
		buf_free(&code);
	} else {
		imapd_cmd_reply(cmd, "OK", NULL, "Store completed");
	}
out:
	free(modified);
	free(res);
	free(seqs);
	return IMAPD_CMD_DONE;
}
