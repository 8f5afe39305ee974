/*
 * imapd-append.c - APPEND (RFC 3501 6.3.11) with UIDPLUS's APPENDUID,
 * APPENDLIMIT (RFC 7889: the limit is enforced on the literal by the
 * session before any octet is read, NO [TOOBIG]), TRYCREATE, the quota
 * from SQL, and UTF8=ACCEPT's "UTF8 (~{N})" form.
 *
 * Large messages arrive in a spool file (imapd-session.c), small ones in
 * memory; either way lib/mindex writes the file (CRLF -> LF), gives it
 * its UID at once, and the selected folder reports it at the next sync
 * (before the tagged OK when it is the selected folder).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "imap/imap_parser.h"
#include "mindex/mindex.h"
#include "store/store.h"

#include "imapd.h"

static const struct {
	const char *name;
	uint32_t bit;
} system_flags[] = {
    {"\\Seen", STORE_FLAG_SEEN},       {"\\Answered", STORE_FLAG_REPLIED},
    {"\\Flagged", STORE_FLAG_FLAGGED}, {"\\Deleted", STORE_FLAG_TRASHED},
    {"\\Draft", STORE_FLAG_DRAFT},
};

/* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP
 * time SP zone DQUOTE ("17-Jul-1996 02:44:25 -0700"); -1 when bad. */
static time_t parse_date_time(const char *s)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	struct tm tm;
	char mon[4];
	int day, year, hh, mm, ss, zone, n = 0;
	const char *m;
	char sign;
	time_t t;

	if (*s == ' ')
		s++;
	if (sscanf(s, "%2d-%3c-%4d %2d:%2d:%2d %c%4d%n", &day, mon, &year, &hh,
		   &mm, &ss, &sign, &zone, &n) != 8 ||
	    s[n] != '\0' || (sign != '+' && sign != '-'))
		return -1;
	mon[3] = '\0';
	for (int i = 0; i < 3; i++)
		mon[i] = (char)tolower((unsigned char)mon[i]);
	m = strstr(months, mon);
	if (m == NULL || (m - months) % 3 != 0 || day < 1 || day > 31 ||
	    hh > 23 || mm > 59 || ss > 60 || year < 1900 || zone % 100 > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = day;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year = year - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	t = timegm(&tm);
	zone = (zone / 100) * 3600 + (zone % 100) * 60;
	return sign == '+' ? t - zone : t + zone;
}

struct append_args {
	const struct imap_arg *flags; /* list or NULL */
	const char *date;	      /* or NULL */
	const struct imap_arg *msg;
};

static bool parse_args(const struct imap_arg *args, struct append_args *a)
{
	size_t i = 1;
	const struct imap_arg *list;
	size_t count;

	memset(a, 0, sizeof(*a));
	if (imap_arg_is_list(&args[i])) {
		a->flags = &args[i];
		i++;
	}
	if (args[i].type == IMAP_ARG_QUOTED) {
		a->date = args[i].str;
		i++;
	}
	if (imap_arg_atom_equals(&args[i], "UTF8")) {
		/* RFC 6855 4: UTF8 (literal8) */
		if (!imap_arg_get_list(&args[i + 1], &list, &count) ||
		    count != 1 ||
		    (list[0].type != IMAP_ARG_LITERAL &&
		     list[0].type != IMAP_ARG_STREAM))
			return false;
		a->msg = &list[0];
		i += 2;
	} else if (args[i].type == IMAP_ARG_LITERAL ||
		   args[i].type == IMAP_ARG_STREAM) {
		a->msg = &args[i];
		i++;
	} else {
		return false;
	}
	return imap_arg_is_eol(&args[i]);
}

/* Flags and keywords; false after a tagged reply. */
static bool parse_flags(struct imapd_cmd *cmd, struct mindex_folder *f,
			const struct imap_arg *arg, uint32_t *flags_r,
			uint32_t *kw_r)
{
	const struct imap_arg *list;
	size_t count, i, j;
	struct error err;

	*flags_r = 0;
	*kw_r = 0;
	if (arg == NULL)
		return true;
	(void)imap_arg_get_list(arg, &list, &count);
	for (i = 0; i < count; i++) {
		const char *name;
		bool found = false;
		int k;

		if (!imap_arg_get_atom(&list[i], &name)) {
			imapd_cmd_reply(cmd, "BAD", NULL, "Invalid flag.");
			return false;
		}
		for (j = 0; j < sizeof(system_flags) / sizeof(system_flags[0]);
		     j++)
			if (strcasecmp(name, system_flags[j].name) == 0) {
				*flags_r |= system_flags[j].bit;
				found = true;
			}
		if (found || strcasecmp(name, "\\Recent") == 0)
			continue;
		if (name[0] == '\\') {
			imapd_cmd_reply(cmd, "BAD", NULL,
					"Invalid system flag %s.",
					strlen(name) < 40 ? name : "");
			return false;
		}
		k = mindex_keyword_lookup(f, name, true, &err);
		if (k < 0) {
			if (err.code != NULL &&
			    strcmp(err.code, MINDEX_ERR_LIMIT) == 0)
				imapd_cmd_reply(cmd, "NO", "LIMIT",
						"Too many keywords.");
			else
				imapd_mailbox_error(cmd, &err);
			return false;
		}
		*kw_r |= 1u << k;
	}
	return true;
}

enum imapd_cmd_result imapd_cmd_append(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	struct append_args a;
	struct store_input in;
	struct store_input_mem mem;
	struct store_quota quota;
	struct store_usage usage;
	struct mindex_folder *f = NULL;
	uint32_t flags, kw, uid = 0;
	time_t date = 0;
	const char *name, *why = NULL;
	struct error err;
	char *disk;
	int fd = -1;

	if (!imap_arg_get_astring(&args[0], &name) || !parse_args(args, &a)) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"Invalid arguments: APPEND mailbox [(flags)] "
				"[date-time] literal.");
		return IMAPD_CMD_DONE;
	}
	if (a.date != NULL && (date = parse_date_time(a.date)) < 0) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Invalid date-time.");
		return IMAPD_CMD_DONE;
	}
	if (a.msg->len == 0) {
		imapd_cmd_reply(cmd, "NO", NULL,
				"Can't save a zero byte message.");
		return IMAPD_CMD_DONE;
	}
	if (a.msg->len > s->set->append_limit) {
		imapd_cmd_reply(cmd, "NO", "TOOBIG",
				"Message too large (APPENDLIMIT).");
		return IMAPD_CMD_DONE;
	}
	disk = imapd_mailbox_to_disk(s, name, &why);
	if (disk == NULL) {
		imapd_cmd_reply(cmd, "NO", "CANNOT", "%s", why);
		return IMAPD_CMD_DONE;
	}
	f = mindex_folder_open(s->mu, disk, true, &err);
	if (f == NULL) {
		if (err.code != NULL &&
		    strcmp(err.code, MINDEX_ERR_NOTFOUND) == 0)
			imapd_cmd_reply(cmd, "NO", "TRYCREATE",
					"Mailbox doesn't exist.");
		else
			imapd_mailbox_error(cmd, &err);
		goto out;
	}
	if (!parse_flags(cmd, f, a.flags, &flags, &kw))
		goto out;
	if (imapd_quota_get(s, &quota, &usage, &err) < 0) {
		imapd_cmd_reply(cmd, "NO", "UNAVAILABLE",
				"Quota not available now, try again.");
		goto out;
	}
	if (a.msg->type == IMAP_ARG_STREAM) {
		const struct imapd_spool *sp = a.msg->stream;

		fd = dup(sp->fd);
		if (fd < 0 || lseek(fd, 0, SEEK_SET) != 0) {
			imapd_cmd_reply(cmd, "NO", "SERVERBUG",
					"Cannot read the message back.");
			goto out;
		}
		store_input_fd(&in, &fd);
		if (in.size_hint != a.msg->len) {
			imapd_cmd_reply(cmd, "NO", "SERVERBUG",
					"Message was not stored completely.");
			goto out;
		}
	} else {
		store_input_mem(&in, &mem, a.msg->str, a.msg->len);
	}
	if (mindex_append(f, &in, flags, kw, date,
			  quota.bytes > 0 ? &quota : NULL, &uid, &err) < 0) {
		imapd_mailbox_error(cmd, &err);
		goto out;
	}
	if (s->folder != NULL &&
	    strcmp(mindex_folder_name(s->folder), disk) == 0)
		(void)imapd_cmd_sync(cmd, true);
	{
		char code[64];

		snprintf(code, sizeof(code), "APPENDUID %u %u",
			 mindex_folder_uidvalidity(f), uid);
		imapd_cmd_reply(cmd, "OK", code, "Append completed.");
	}
out:
	if (fd >= 0)
		close(fd);
	mindex_folder_close(&f);
	free(disk);
	return IMAPD_CMD_DONE;
}
