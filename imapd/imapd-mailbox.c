/*
 * imapd-mailbox.c - mailbox names and the commands on mailboxes as a
 * whole: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (with
 * LIST-EXTENDED, LIST-STATUS, SPECIAL-USE, CHILDREN), LSUB, STATUS.
 *
 * Names: the client speaks modified UTF-7, or UTF-8 after ENABLE
 * UTF8=ACCEPT / IMAP4rev2; on disk names are modified UTF-7 with "." as
 * the hierarchy separator (Maildir++ ".Name" folders).  Every name from
 * a client goes through imapd_mailbox_to_disk(): decoded strictly,
 * checked as UTF-8 (no control characters, no empty hierarchy levels,
 * no "%" "*" where a new name is made), re-encoded, and checked again
 * with store_folder_valid() - so "..", "/", absolute paths and
 * over-long names never reach a path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "imap/imap_parser.h"
#include "imap/imap_quote.h"
#include "imap/imap_utf7.h"
#include "mindex/mindex.h"
#include "store/store.h"

#include "imapd.h"

/* Longest mailbox name accepted from a client, in bytes. */
#define NAME_MAX_BYTES 200

static bool utf8_session(const struct imapd_session *s)
{
	return (s->enabled & (IMAPD_ENABLED_UTF8 | IMAPD_ENABLED_IMAP4REV2)) !=
	       0;
}

/* "inbox", "INBOX.x" -> "INBOX", "INBOX.x" (first level, any case). */
static void fold_inbox(struct buf *name)
{
	char *p = buf_mut(name);

	if (strncasecmp(p, "INBOX", 5) == 0 && (p[5] == '\0' || p[5] == '.'))
		memcpy(p, "INBOX", 5);
}

static char *to_disk(const struct imapd_session *s, const char *name,
		     bool creating, const char **why_r)
{
	struct buf *utf8 = buf_new(), *disk = buf_new();
	char *result = NULL;
	const char *why = "Invalid mailbox name.";

	if (strlen(name) > NAME_MAX_BYTES) {
		why = "Mailbox name too long.";
		goto out;
	}
	if (utf8_session(s)) {
		if (!imap_utf8_is_valid(name, strlen(name))) {
			why = "Mailbox name is not valid UTF-8.";
			goto out;
		}
		buf_set_str(utf8, name);
	} else if (imap_utf7_to_utf8(name, utf8) < 0) {
		why = "Mailbox name is not valid modified UTF-7.";
		goto out;
	}
	fold_inbox(utf8);
	if (strcmp(buf_data(utf8), "INBOX") == 0) {
		result = xstrdup("INBOX");
		goto out;
	}
	if (!imap_mailbox_name_valid(buf_data(utf8), '.', &why))
		goto out;
	if (!creating && (strchr(buf_data(utf8), '%') != NULL ||
			  strchr(buf_data(utf8), '*') != NULL))
		goto out;
	if (imap_utf8_to_utf7(buf_data(utf8), disk) < 0)
		goto out;
	if (buf_len(disk) > NAME_MAX_BYTES) {
		why = "Mailbox name too long.";
		goto out;
	}
	if (!store_folder_valid(buf_data(disk)))
		goto out;
	result = buf_steal(disk);
out:
	if (result == NULL && why_r != NULL)
		*why_r = why;
	buf_free(&utf8);
	buf_free(&disk);
	return result;
}

char *imapd_mailbox_to_disk(const struct imapd_session *s, const char *name,
			    const char **why_r)
{
	return to_disk(s, name, false, why_r);
}

/* The client's form of a disk name (raw, not quoted). */
static void client_name(const struct imapd_session *s, const char *disk,
			struct buf *out)
{
	if (utf8_session(s)) {
		size_t len = buf_len(out);

		if (imap_utf7_to_utf8(disk, out) == 0)
			return;
		buf_truncate(out, len);
	}
	buf_append_str(out, disk);
}

void imapd_mailbox_append(const struct imapd_session *s, struct buf *out,
			  const char *disk)
{
	struct buf *name = buf_new();

	client_name(s, disk, name);
	imap_append_quoted(out, buf_data(name), buf_len(name),
			   imapd_session_quote_flags(s));
	buf_free(&name);
}

/* NO with the response code err->code stands for. */
void imapd_mailbox_error(struct imapd_cmd *cmd, const struct error *err)
{
	const char *code = err->code;

	if (code == NULL)
		imapd_cmd_reply(cmd, "NO", "SERVERBUG",
				"Internal error occurred. Refer to server log "
				"for more information.");
	else if (strcmp(code, MINDEX_ERR_EXISTS) == 0)
		imapd_cmd_reply(cmd, "NO", "ALREADYEXISTS",
				"Mailbox already exists.");
	else if (strcmp(code, MINDEX_ERR_NOTFOUND) == 0)
		imapd_cmd_reply(cmd, "NO", "NONEXISTENT",
				"Mailbox doesn't exist.");
	else if (strcmp(code, MINDEX_ERR_INVALID) == 0)
		imapd_cmd_reply(cmd, "NO", "CANNOT", "Invalid mailbox name.");
	else if (strcmp(code, MINDEX_ERR_HASCHILDREN) == 0)
		imapd_cmd_reply(cmd, "NO", "INUSE",
				"Mailbox has children, delete them first.");
	else if (strcmp(code, MINDEX_ERR_INBOX) == 0)
		imapd_cmd_reply(cmd, "NO", "CANNOT", "INBOX can't be deleted.");
	else if (strcmp(code, STORE_ERR_QUOTA) == 0)
		imapd_cmd_reply(cmd, "NO", "OVERQUOTA", "Quota exceeded.");
	else if (strcmp(code, STORE_ERR_NOSPACE) == 0)
		imapd_cmd_reply(cmd, "NO", "OVERQUOTA",
				"Not enough disk space.");
	else
		imapd_cmd_reply(cmd, "NO", "SERVERBUG",
				"Internal error occurred. Refer to server log "
				"for more information.");
}

/* One mailbox-name argument, converted; false after a tagged reply. */
static bool arg_mailbox(struct imapd_cmd *cmd, const struct imap_arg *arg,
			bool creating, char **disk_r)
{
	const char *name, *why = NULL;

	if (!imap_arg_get_astring(arg, &name)) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Invalid mailbox name.");
		return false;
	}
	*disk_r = to_disk(imapd_cmd_session(cmd), name, creating, &why);
	if (*disk_r == NULL) {
		imapd_cmd_reply(cmd, "NO", "CANNOT", "%s", why);
		return false;
	}
	return true;
}

enum imapd_cmd_result imapd_cmd_create(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	const char *name;
	char *disk, *trimmed;
	size_t len;
	struct error err;

	if (!imap_arg_get_astring(&args[0], &name) ||
	    !imap_arg_is_eol(&args[1])) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"Invalid arguments: CREATE mailbox.");
		return IMAPD_CMD_DONE;
	}
	/* RFC 3501 6.3.3: a trailing separator only says "will have
	 * children"; create the name without it. */
	trimmed = xstrdup(name);
	len = strlen(trimmed);
	if (len > 1 && trimmed[len - 1] == '.')
		trimmed[len - 1] = '\0';
	{
		struct imap_arg a = {.type = IMAP_ARG_QUOTED,
				     .str = trimmed,
				     .len = strlen(trimmed)};
		if (!arg_mailbox(cmd, &a, true, &disk)) {
			free(trimmed);
			return IMAPD_CMD_DONE;
		}
	}
	free(trimmed);
	if (strcmp(disk, "INBOX") == 0) {
		imapd_cmd_reply(cmd, "NO", "ALREADYEXISTS",
				"Mailbox already exists.");
	} else if (mindex_folder_create(s->mu, disk, &err) < 0) {
		imapd_mailbox_error(cmd, &err);
	} else {
		/* RFC 8474 4.1: the new mailbox's id in the OK. */
		char *id = imapd_mailbox_id(s, disk);
		char *code =
		    id != NULL ? xasprintf("MAILBOXID (%s)", id) : NULL;

		imapd_cmd_reply(cmd, "OK", code, "Create completed.");
		free(code);
		free(id);
	}
	free(disk);
	return IMAPD_CMD_DONE;
}

enum imapd_cmd_result imapd_cmd_delete(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	struct error err;
	char *disk;

	if (imap_arg_is_eol(&args[0]) || !imap_arg_is_eol(&args[1])) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"Invalid arguments: DELETE mailbox.");
		return IMAPD_CMD_DONE;
	}
	if (!arg_mailbox(cmd, &args[0], false, &disk))
		return IMAPD_CMD_DONE;
	if (s->folder != NULL &&
	    strcmp(mindex_folder_name(s->folder), disk) == 0) {
		imapd_cmd_reply(cmd, "NO", "INUSE",
				"Can't delete the selected mailbox.");
	} else if (mindex_folder_delete(s->mu, disk, &err) < 0) {
		imapd_mailbox_error(cmd, &err);
	} else {
		imapd_cmd_reply(cmd, "OK", NULL, "Delete completed.");
	}
	free(disk);
	return IMAPD_CMD_DONE;
}

enum imapd_cmd_result imapd_cmd_rename(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	struct error err;
	char *from, *to;

	if (imap_arg_is_eol(&args[0]) || imap_arg_is_eol(&args[1]) ||
	    !imap_arg_is_eol(&args[2])) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"Invalid arguments: RENAME from to.");
		return IMAPD_CMD_DONE;
	}
	if (!arg_mailbox(cmd, &args[0], false, &from))
		return IMAPD_CMD_DONE;
	if (!arg_mailbox(cmd, &args[1], true, &to)) {
		free(from);
		return IMAPD_CMD_DONE;
	}
	if (strcmp(to, "INBOX") == 0)
		imapd_cmd_reply(cmd, "NO", "ALREADYEXISTS",
				"Mailbox already exists.");
	else if (strcmp(from, to) == 0)
		imapd_cmd_reply(cmd, "NO", "ALREADYEXISTS",
				"Mailbox already exists.");
	else if (mindex_folder_rename(s->mu, from, to, &err) < 0)
		imapd_mailbox_error(cmd, &err);
	else
		imapd_cmd_reply(cmd, "OK", NULL, "Rename completed.");
	free(from);
	free(to);
	return IMAPD_CMD_DONE;
}

static enum imapd_cmd_result subscribe(struct imapd_cmd *cmd, bool on)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	struct error err;
	char *disk;

	if (imap_arg_is_eol(&args[0]) || !imap_arg_is_eol(&args[1])) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Invalid arguments.");
		return IMAPD_CMD_DONE;
	}
	if (!arg_mailbox(cmd, &args[0], false, &disk))
		return IMAPD_CMD_DONE;
	if (mindex_subscribe(s->mu, disk, on, &err) < 0)
		imapd_mailbox_error(cmd, &err);
	else
		imapd_cmd_reply(cmd, "OK", NULL, "%s completed.",
				on ? "Subscribe" : "Unsubscribe");
	free(disk);
	return IMAPD_CMD_DONE;
}

enum imapd_cmd_result imapd_cmd_subscribe(struct imapd_cmd *cmd)
{
	return subscribe(cmd, true);
}

enum imapd_cmd_result imapd_cmd_unsubscribe(struct imapd_cmd *cmd)
{
	return subscribe(cmd, false);
}

/* ---- RFC 8474 MAILBOXID. */

char *imapd_mailbox_id(struct imapd_session *s, const char *disk)
{
	struct error err = {0};
	struct mindex_folder *f = mindex_folder_open_target(s->mu, disk, &err);
	char *id = NULL;

	if (f == NULL)
		return NULL;
	if (mindex_folder_guid(f, &id, &err) < 0)
		log_warn("MAILBOXID of %s: %s", disk, err.msg);
	mindex_folder_close(&f);
	return id;
}

/* ---- STATUS. */

enum {
	ST_MESSAGES = 1 << 0,
	ST_RECENT = 1 << 1,
	ST_UIDNEXT = 1 << 2,
	ST_UIDVALIDITY = 1 << 3,
	ST_UNSEEN = 1 << 4,
	ST_DELETED = 1 << 5,
	ST_SIZE = 1 << 6,
	ST_HIGHESTMODSEQ = 1 << 7,
	ST_MAILBOXID = 1 << 8,
};

static const struct {
	const char *name;
	unsigned bit;
} status_names[] = {
    {"MESSAGES", ST_MESSAGES}, {"RECENT", ST_RECENT},
    {"UIDNEXT", ST_UIDNEXT},   {"UIDVALIDITY", ST_UIDVALIDITY},
    {"UNSEEN", ST_UNSEEN},     {"DELETED", ST_DELETED},
    {"SIZE", ST_SIZE},	       {"HIGHESTMODSEQ", ST_HIGHESTMODSEQ},
    {"MAILBOXID", ST_MAILBOXID},
};

/* The status item list; 0 when it is not one. */
static unsigned status_parse(const struct imap_arg *arg)
{
	const struct imap_arg *list;
	size_t count, i, j;
	unsigned items = 0;

	if (!imap_arg_get_list(arg, &list, &count) || count == 0)
		return 0;
	for (i = 0; i < count; i++) {
		const char *atom;
		unsigned bit = 0;

		if (!imap_arg_get_atom(&list[i], &atom))
			return 0;
		for (j = 0; j < sizeof(status_names) / sizeof(status_names[0]);
		     j++)
			if (strcasecmp(atom, status_names[j].name) == 0)
				bit = status_names[j].bit;
		if (bit == 0)
			return 0;
		items |= bit;
	}
	return items;
}

/* Count \Deleted messages (not in struct mindex_status). */
static int count_deleted(struct imapd_session *s, const char *disk,
			 uint32_t *n_r, struct error *err)
{
	struct mindex_folder *f;
	uint32_t i, n = 0, count;

	f = mindex_folder_open(s->mu, disk, true, err);
	if (f == NULL)
		return -1;
	count = mindex_folder_count(f);
	for (i = 1; i <= count; i++) {
		const struct mindex_msg *m = mindex_msg(f, i);
		if (m != NULL && !m->expunged &&
		    (m->flags & STORE_FLAG_TRASHED))
			n++;
	}
	mindex_folder_close(&f);
	*n_r = n;
	return 0;
}

/* "* STATUS name (...)" for disk name; -1 with err. */
static int status_write(struct imapd_session *s, const char *disk,
			unsigned items, struct buf *out, struct error *err)
{
	struct mindex_status st;
	uint32_t deleted = 0;
	const char *sep = "";

	memset(&st, 0, sizeof(st));
	if (mindex_folder_status(s->mu, disk, &st, err) < 0)
		return -1;
	if ((items & ST_DELETED) && count_deleted(s, disk, &deleted, err) < 0)
		return -1;
	buf_append_str(out, "* STATUS ");
	imapd_mailbox_append(s, out, disk);
	buf_append_str(out, " (");
#define ITEM(bit, fmt, val)                                                    \
	do {                                                                   \
		if (items & (bit)) {                                           \
			buf_printf(out, "%s" fmt, sep, val);                   \
			sep = " ";                                             \
		}                                                              \
	} while (0)
	ITEM(ST_MESSAGES, "MESSAGES %u", st.messages);
	ITEM(ST_RECENT, "RECENT %u", st.recent);
	ITEM(ST_UIDNEXT, "UIDNEXT %u", st.uidnext);
	ITEM(ST_UIDVALIDITY, "UIDVALIDITY %u", st.uidvalidity);
	ITEM(ST_UNSEEN, "UNSEEN %u", st.unseen);
	ITEM(ST_DELETED, "DELETED %u", deleted);
	ITEM(ST_SIZE, "SIZE %llu", (unsigned long long)st.size);
	ITEM(ST_HIGHESTMODSEQ, "HIGHESTMODSEQ %llu",
	     (unsigned long long)st.highestmodseq);
	if (items & ST_MAILBOXID) {
		char *id = imapd_mailbox_id(s, disk);

		if (id != NULL)
			ITEM(ST_MAILBOXID, "MAILBOXID (%s)", id);
		free(id);
	}
#undef ITEM
	buf_append_str(out, ")\r\n");
	return 0;
}

enum imapd_cmd_result imapd_cmd_status(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	unsigned items;
	struct error err;
	char *disk;

	if (imap_arg_is_eol(&args[0]) ||
	    (items = status_parse(&args[1])) == 0 ||
	    !imap_arg_is_eol(&args[2])) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"Invalid arguments: STATUS mailbox (items).");
		return IMAPD_CMD_DONE;
	}
	if (!arg_mailbox(cmd, &args[0], false, &disk))
		return IMAPD_CMD_DONE;
	if (items & ST_HIGHESTMODSEQ)
		imapd_session_enable(s, IMAPD_ENABLED_CONDSTORE);
	if (status_write(s, disk, items, imapd_cmd_out(cmd), &err) < 0)
		imapd_mailbox_error(cmd, &err);
	else
		imapd_cmd_reply(cmd, "OK", NULL, "Status completed.");
	free(disk);
	return IMAPD_CMD_DONE;
}

/* ---- LIST and LSUB. */

/* IMAP LIST wildcard match: "*" anything, "%" anything but ".". */
static bool wild_match(const char *pat, const char *name)
{
	for (; *pat != '\0'; pat++, name++) {
		if (*pat == '*' || *pat == '%') {
			bool star = *pat == '*';

			for (;;) {
				if (wild_match(pat + 1, name))
					return true;
				if (*name == '\0' || (!star && *name == '.'))
					return false;
				name++;
			}
		}
		if (*name != *pat)
			return false;
	}
	return *name == '\0';
}

/* Match with INBOX case-insensitive (RFC 3501 5.1). */
static bool name_match(const char *pat, const char *name)
{
	char *p, *n;
	bool r;

	if (wild_match(pat, name))
		return true;
	if (strncasecmp(pat, "INBOX", 5) != 0 || strncmp(name, "INBOX", 5) != 0)
		return false;
	p = xstrdup(pat);
	memcpy(p, "INBOX", 5);
	n = xstrdup(name);
	r = wild_match(p, n);
	free(p);
	free(n);
	return r;
}

enum {
	SEL_SUBSCRIBED = 1 << 0,
	SEL_REMOTE = 1 << 1,
	SEL_RECURSIVEMATCH = 1 << 2,
	SEL_SPECIAL_USE = 1 << 3,
	RET_SUBSCRIBED = 1 << 8,
	RET_CHILDREN = 1 << 9,
	RET_SPECIAL_USE = 1 << 10,
	RET_STATUS = 1 << 11,
};

static bool parse_options(const struct imap_arg *arg, bool ret, unsigned *opts,
			  unsigned *status_items)
{
	const struct imap_arg *list;
	size_t count, i;

	if (!imap_arg_get_list(arg, &list, &count))
		return false;
	for (i = 0; i < count; i++) {
		const char *atom;

		if (!imap_arg_get_atom(&list[i], &atom))
			return false;
		if (!ret && strcasecmp(atom, "SUBSCRIBED") == 0)
			*opts |= SEL_SUBSCRIBED;
		else if (!ret && strcasecmp(atom, "REMOTE") == 0)
			*opts |= SEL_REMOTE;
		else if (!ret && strcasecmp(atom, "RECURSIVEMATCH") == 0)
			*opts |= SEL_RECURSIVEMATCH;
		else if (!ret && strcasecmp(atom, "SPECIAL-USE") == 0)
			*opts |= SEL_SPECIAL_USE;
		else if (ret && strcasecmp(atom, "SUBSCRIBED") == 0)
			*opts |= RET_SUBSCRIBED;
		else if (ret && strcasecmp(atom, "CHILDREN") == 0)
			*opts |= RET_CHILDREN;
		else if (ret && strcasecmp(atom, "SPECIAL-USE") == 0)
			*opts |= RET_SPECIAL_USE;
		else if (ret && strcasecmp(atom, "STATUS") == 0) {
			if (i + 1 >= count ||
			    (*status_items = status_parse(&list[i + 1])) == 0)
				return false;
			*opts |= RET_STATUS;
			i++;
		} else
			return false;
	}
	/* RFC 5258 3.1: RECURSIVEMATCH alone is an error. */
	if ((*opts & SEL_RECURSIVEMATCH) &&
	    !(*opts & (SEL_SUBSCRIBED | SEL_SPECIAL_USE)))
		return false;
	return true;
}

static void write_attrs(struct buf *out, unsigned attrs, bool extended,
			bool lsub)
{
	const char *sep = "";

	buf_append_char(out, '(');
#define ATTR(text)                                                             \
	do {                                                                   \
		buf_printf(out, "%s%s", sep, text);                            \
		sep = " ";                                                     \
	} while (0)
	if (attrs & MINDEX_ATTR_NONEXISTENT) {
		if (extended)
			ATTR("\\NonExistent");
		else
			ATTR("\\Noselect");
	}
	if (!lsub && (attrs & MINDEX_ATTR_HASCHILDREN))
		ATTR("\\HasChildren");
	if (!lsub && (attrs & MINDEX_ATTR_HASNOCHILDREN))
		ATTR("\\HasNoChildren");
	if (attrs & MINDEX_ATTR_SUBSCRIBED)
		ATTR("\\Subscribed");
	if (attrs & MINDEX_ATTR_DRAFTS)
		ATTR("\\Drafts");
	if (attrs & MINDEX_ATTR_SENT)
		ATTR("\\Sent");
	if (attrs & MINDEX_ATTR_TRASH)
		ATTR("\\Trash");
	if (attrs & MINDEX_ATTR_JUNK)
		ATTR("\\Junk");
	if (attrs & MINDEX_ATTR_ARCHIVE)
		ATTR("\\Archive");
#undef ATTR
	buf_append_char(out, ')');
}

/* Has a subscribed descendant (for RECURSIVEMATCH CHILDINFO). */
static bool has_subscribed_child(struct array *list, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < array_len(list); i++) {
		const struct mindex_folder_info *fi = array_get(list, i);

		if (strncmp(fi->name, name, len) == 0 && fi->name[len] == '.' &&
		    (fi->attrs & MINDEX_ATTR_SUBSCRIBED))
			return true;
	}
	return false;
}

static enum imapd_cmd_result list_common(struct imapd_cmd *cmd, bool lsub)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	struct buf *out = imapd_cmd_out(cmd);
	unsigned opts = 0, status_items = 0;
	const char *ref, *pattern;
	const struct imap_arg *pats;
	size_t npats, i, p;
	struct array *list = NULL;
	struct buf *cname = buf_new(), *full = buf_new();
	bool extended = false;
	struct error err;
	size_t a = 0;

	if (!lsub && imap_arg_is_list(&args[a])) {
		if (!parse_options(&args[a], false, &opts, &status_items))
			goto bad;
		extended = true;
		a++;
	}
	if (!imap_arg_get_astring(&args[a], &ref))
		goto bad;
	a++;
	if (!lsub && imap_arg_get_list(&args[a], &pats, &npats)) {
		extended = true;
		if (npats == 0)
			goto bad;
	} else if (imap_arg_get_astring(&args[a], &pattern)) {
		pats = &args[a];
		npats = 1;
	} else {
		goto bad;
	}
	a++;
	if (!lsub && imap_arg_atom_equals(&args[a], "RETURN")) {
		if (!parse_options(&args[a + 1], true, &opts, &status_items))
			goto bad;
		extended = true;
		a += 2;
	}
	if (!imap_arg_is_eol(&args[a]))
		goto bad;
	for (p = 0; p < npats; p++)
		if (!imap_arg_get_astring(&pats[p], &pattern))
			goto bad;
	if (lsub)
		opts |= SEL_SUBSCRIBED;

	/* LIST "" "": the hierarchy delimiter. */
	if (npats == 1 && imap_arg_get_astring(&pats[0], &pattern) &&
	    pattern[0] == '\0' && !lsub) {
		buf_append_str(out, "* LIST (\\Noselect) \".\" \"\"\r\n");
		goto ok;
	}
	if (mindex_folder_list(s->mu, &list, &err) < 0) {
		imapd_mailbox_error(cmd, &err);
		goto out;
	}
	for (i = 0; i < array_len(list); i++) {
		const struct mindex_folder_info *fi = array_get(list, i);
		unsigned attrs = fi->attrs;
		bool match = false, childinfo = false;

		buf_reset(cname);
		client_name(s, fi->name, cname);
		for (p = 0; p < npats && !match; p++) {
			(void)imap_arg_get_astring(&pats[p], &pattern);
			buf_set_str(full, ref);
			buf_append_str(full, pattern);
			match = name_match(buf_data(full), buf_data(cname));
		}
		if (!match)
			continue;
		if (opts & SEL_SUBSCRIBED) {
			if (!(attrs & MINDEX_ATTR_SUBSCRIBED)) {
				if (!(opts & SEL_RECURSIVEMATCH) ||
				    !has_subscribed_child(list, fi->name))
					continue;
				childinfo = true;
			}
		} else if (attrs & MINDEX_ATTR_NONEXISTENT) {
			/* A subscription to a missing folder is LSUB's;
			 * a missing parent of a folder is listed. */
			if (!(attrs & MINDEX_ATTR_HASCHILDREN))
				continue;
		}
		if (opts & SEL_SPECIAL_USE) {
			if (!(attrs & MINDEX_ATTR_SPECIAL_USE))
				continue;
		}
		if (!(opts & (SEL_SUBSCRIBED | RET_SUBSCRIBED)) || lsub)
			attrs &= ~MINDEX_ATTR_SUBSCRIBED;
		buf_append_str(out, lsub ? "* LSUB " : "* LIST ");
		write_attrs(out, attrs, extended && !lsub, lsub);
		buf_append_str(out, " \".\" ");
		imapd_mailbox_append(s, out, fi->name);
		if (childinfo)
			buf_append_str(out,
				       " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
		buf_append_str(out, "\r\n");
		if ((opts & RET_STATUS) &&
		    !(fi->attrs & MINDEX_ATTR_NONEXISTENT)) {
			/* LIST-STATUS: a folder that cannot be read gets
			 * no STATUS, the LIST goes on (RFC 5819 2). */
			if (status_write(s, fi->name, status_items, out, &err) <
			    0)
				continue;
		}
	}
ok:
	imapd_cmd_reply(cmd, "OK", NULL, "%s completed.",
			lsub ? "Lsub" : "List");
	goto out;
bad:
	imapd_cmd_reply(cmd, "BAD", NULL, "Invalid %s arguments.",
			lsub ? "LSUB" : "LIST");
out:
	mindex_folder_list_free(&list);
	buf_free(&cname);
	buf_free(&full);
	return IMAPD_CMD_DONE;
}

enum imapd_cmd_result imapd_cmd_list(struct imapd_cmd *cmd)
{
	return list_common(cmd, false);
}

enum imapd_cmd_result imapd_cmd_lsub(struct imapd_cmd *cmd)
{
	return list_common(cmd, true);
}
