/*
 * imapd-quota.c - QUOTA (RFC 9208): one quota root "" per user with the
 * STORAGE resource, the limit from SQL (prov_mailbox_quota, the same
 * rule smtpd and lmtpd enforce) and the usage from the store's
 * maildirsize cache.  Units are KiB (1024 octets), rounded up for usage.
 * A mailbox without a limit has no quota root.  SETQUOTA is refused:
 * limits are the administrator's (admin API / CLI).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parser.h"
#include "mindex/mindex.h"
#include "provision/provision.h"
#include "store/store.h"

#include "imapd.h"

int imapd_quota_get(struct imapd_session *s, struct store_quota *quota_r,
		    struct store_usage *usage_r, struct error *err)
{
	unsigned long long q = 0;
	int r;

	memset(quota_r, 0, sizeof(*quota_r));
	memset(usage_r, 0, sizeof(*usage_r));
	r = prov_mailbox_quota(s->imapd->db, s->user, &q, err);
	if (r < 0)
		return -1;
	quota_r->bytes = r == 1 ? q : 0;
	if (usage_r != NULL && store_usage(s->mbox, quota_r, usage_r, err) < 0)
		return -1;
	return 0;
}

static void quota_line(struct buf *out, const struct store_quota *q,
		       const struct store_usage *u)
{
	buf_printf(out, "* QUOTA \"\" (STORAGE %llu %llu)\r\n",
		   (unsigned long long)((u->bytes + 1023) / 1024),
		   (unsigned long long)(q->bytes / 1024));
}

enum imapd_cmd_result imapd_cmd_getquotaroot(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	struct buf *out = imapd_cmd_out(cmd);
	struct store_quota q;
	struct store_usage u;
	const char *why = NULL;
	struct error err;
	char *disk;
	int exists;

	if (imap_arg_is_eol(&args[0]) || !imap_arg_is_eol(&args[1]) ||
	    !imap_arg_get_astring(&args[0], &why)) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"Invalid arguments: GETQUOTAROOT mailbox.");
		return IMAPD_CMD_DONE;
	}
	disk = imapd_mailbox_to_disk(s, why, &why);
	if (disk == NULL) {
		imapd_cmd_reply(cmd, "NO", "NONEXISTENT", "%s", why);
		return IMAPD_CMD_DONE;
	}
	exists = mindex_folder_exists(s->mu, disk, &err);
	if (exists <= 0) {
		free(disk);
		imapd_cmd_reply(cmd, "NO", "NONEXISTENT",
				"Mailbox doesn't exist.");
		return IMAPD_CMD_DONE;
	}
	if (imapd_quota_get(s, &q, &u, &err) < 0) {
		free(disk);
		imapd_cmd_reply(cmd, "NO", "UNAVAILABLE",
				"Quota not available now.");
		return IMAPD_CMD_DONE;
	}
	buf_append_str(out, "* QUOTAROOT ");
	imapd_mailbox_append(s, out, disk);
	if (q.bytes > 0) {
		buf_append_str(out, " \"\"\r\n");
		quota_line(out, &q, &u);
	} else {
		buf_append_str(out, "\r\n");
	}
	free(disk);
	imapd_cmd_reply(cmd, "OK", NULL, "Getquotaroot completed.");
	return IMAPD_CMD_DONE;
}

enum imapd_cmd_result imapd_cmd_getquota(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	struct store_quota q;
	struct store_usage u;
	const char *root;
	struct error err;

	if (!imap_arg_get_astring(&args[0], &root) ||
	    !imap_arg_is_eol(&args[1])) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"Invalid arguments: GETQUOTA root.");
		return IMAPD_CMD_DONE;
	}
	if (imapd_quota_get(s, &q, &u, &err) < 0) {
		imapd_cmd_reply(cmd, "NO", "UNAVAILABLE",
				"Quota not available now.");
		return IMAPD_CMD_DONE;
	}
	if (root[0] != '\0' || q.bytes == 0) {
		imapd_cmd_reply(cmd, "NO", "NONEXISTENT",
				"Quota root does not exist.");
		return IMAPD_CMD_DONE;
	}
	quota_line(imapd_cmd_out(cmd), &q, &u);
	imapd_cmd_reply(cmd, "OK", NULL, "Getquota completed.");
	return IMAPD_CMD_DONE;
}

enum imapd_cmd_result imapd_cmd_setquota(struct imapd_cmd *cmd)
{
	imapd_cmd_reply(cmd, "NO", "NOPERM",
			"Quota limits are set by the administrator.");
	return IMAPD_CMD_DONE;
}
