/*
 * imapd-metadata - GETMETADATA and SETMETADATA (RFC 5464: METADATA and
 * METADATA-SERVER).
 *
 * Storage: one small file per mailbox, "postern-metadata" in the
 * folder's directory, so that a RENAME carries the annotations along and
 * a DELETE (which removes the directory) drops them; the server's
 * annotations are "postern-server-metadata" at the user's mailbox root
 * (the INBOX's directory, hence the different name).  /private and
 * /shared entries live in the same file: a mailbox has one user.  Dovecot
 * ignores both files.  Format: for each entry "NAME<TAB>LEN\n" then LEN
 * value bytes and "\n"; names are stored in lower case (entry names are
 * case-insensitive).  A change is read-modify-write under flock() on the
 * directory and replaces the file with rename(): readers never see half
 * a file.
 *
 * Limits: a value of at most METADATA_MAXSIZE bytes (NO [METADATA MAXSIZE
 * n]), METADATA_MAXENTRIES entries per mailbox (NO [METADATA TOOMANY]).
 * /private/specialuse is computed from the special-use attributes and is
 * read-only.
 *
 * Threads: run() on a worker, as every command.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "imap/imap_parser.h"
#include "imap/imap_quote.h"
#include "mindex/mindex.h"
#include "store/store.h"

#include "imapd.h"

#define METADATA_FILE "postern-metadata"
#define METADATA_SERVER_FILE "postern-server-metadata"
#define METADATA_MAXSIZE (64 * 1024)
#define METADATA_MAXENTRIES 100
#define METADATA_MAXNAME 256

struct md_entry {
	char *name; /* lower case */
	char *value;
	size_t len;
};

struct md_set {
	struct md_entry *e;
	size_t count, cap;
};

static void md_free(struct md_set *m)
{
	for (size_t i = 0; i < m->count; i++) {
		free(m->e[i].name);
		free(m->e[i].value);
	}
	free(m->e);
	memset(m, 0, sizeof(*m));
}

static struct md_entry *md_find(struct md_set *m, const char *name)
{
	for (size_t i = 0; i < m->count; i++)
		if (strcmp(m->e[i].name, name) == 0)
			return &m->e[i];
	return NULL;
}

static void md_add(struct md_set *m, const char *name, const char *value,
		   size_t len)
{
	if (m->count == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 8;
		m->e = xreallocarray(m->e, m->cap, sizeof(*m->e));
	}
	m->e[m->count].name = xstrdup(name);
	m->e[m->count].value = xmemdup(value, len + 1);
	m->e[m->count].value[len] = '\0';
	m->e[m->count].len = len;
	m->count++;
}

static void md_remove(struct md_set *m, struct md_entry *e)
{
	size_t i = (size_t)(e - m->e);

	free(e->name);
	free(e->value);
	memmove(&m->e[i], &m->e[i + 1], (m->count - i - 1) * sizeof(*e));
	m->count--;
}

/* Read the file (missing: empty).  A damaged tail is ignored. */
static int md_read(const char *path, struct md_set *m, struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct buf *b;
	const char *p, *end;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		error_set(err, ERR_TEMP, "open %s: %s", path, strerror(errno));
		return -1;
	}
	b = buf_new();
	for (;;) {
		char tmp[8192];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error_set(err, ERR_TEMP, "read %s: %s", path,
				  strerror(errno));
			close(fd);
			buf_free(&b);
			return -1;
		}
		if (n == 0)
			break;
		buf_append(b, tmp, (size_t)n);
	}
	close(fd);
	p = buf_data(b);
	end = p + buf_len(b);
	while (p < end) {
		const char *tab = memchr(p, '\t', (size_t)(end - p));
		const char *nl;
		char name[METADATA_MAXNAME + 1];
		unsigned long len;
		char *e;

		if (tab == NULL || tab - p > METADATA_MAXNAME)
			break;
		nl = memchr(tab, '\n', (size_t)(end - tab));
		if (nl == NULL)
			break;
		memcpy(name, p, (size_t)(tab - p));
		name[tab - p] = '\0';
		errno = 0;
		len = strtoul(tab + 1, &e, 10);
		if (e != nl || errno != 0 || len > METADATA_MAXSIZE ||
		    (size_t)(end - (nl + 1)) < len + 1)
			break;
		md_add(m, name, nl + 1, len);
		p = nl + 1 + len + 1;
	}
	buf_free(&b);
	return 0;
}

static int md_write(const char *dir, const char *file, const struct md_set *m,
		    struct error *err)
{
	char *path = xasprintf("%s/%s", dir, file);
	char *tmp = xasprintf("%s/.%s.tmp", dir, file);
	struct buf *b = buf_new();
	int fd, ret = -1;
	size_t off = 0;

	for (size_t i = 0; i < m->count; i++) {
		buf_printf(b, "%s\t%zu\n", m->e[i].name, m->e[i].len);
		buf_append(b, m->e[i].value, m->e[i].len);
		buf_append_char(b, '\n');
	}
	if (m->count == 0) {
		if (unlink(path) < 0 && errno != ENOENT)
			error_set(err, ERR_TEMP, "unlink %s: %s", path,
				  strerror(errno));
		else
			ret = 0;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		error_set(err, ERR_TEMP, "open %s: %s", tmp, strerror(errno));
		goto out;
	}
	while (off < buf_len(b)) {
		ssize_t w = write(fd, buf_data(b) + off, buf_len(b) - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			error_set(err, ERR_TEMP, "write %s: %s", tmp,
				  strerror(errno));
			close(fd);
			(void)unlink(tmp);
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		error_set(err, ERR_TEMP, "write %s: %s", path, strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	buf_free(&b);
	free(path);
	free(tmp);
	return ret;
}

/* Entry name syntax (RFC 5464 3.2 and 5): "/private/..." or
 * "/shared/...", no wildcards, no empty component, no trailing slash;
 * lower-cased into out.  False when not valid. */
static bool entry_valid(const char *name, char out[METADATA_MAXNAME + 1])
{
	size_t len = strlen(name);

	if (len == 0 || len > METADATA_MAXNAME)
		return false;
	if (strncasecmp(name, "/private/", 9) != 0 &&
	    strncasecmp(name, "/shared/", 8) != 0)
		return false;
	if (name[len - 1] == '/' || strstr(name, "//") != NULL)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c >= 0x7f || c == '*' || c == '%')
			return false;
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
	}
	out[len] = '\0';
	return true;
}

/* The mailbox argument: "" for the server, else a folder that exists.
 * *dir_r (malloc'd) and *file_r; false when the reply was written. */
static bool md_target(struct imapd_cmd *cmd, const struct imap_arg *arg,
		      char **disk_r, char **dir_r, const char **file_r)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const char *name, *why = NULL;
	struct error err = {0};
	int r;

	*disk_r = NULL;
	if (!imap_arg_get_astring(arg, &name)) {
		imapd_cmd_reply(cmd, "BAD", NULL, "Invalid mailbox name.");
		return false;
	}
	if (name[0] == '\0') {
		*dir_r = xstrdup(store_mailbox_path(s->mbox));
		*file_r = METADATA_SERVER_FILE;
		return true;
	}
	*disk_r = imapd_mailbox_to_disk(s, name, &why);
	if (*disk_r == NULL) {
		imapd_cmd_reply(cmd, "NO", "NONEXISTENT", "%s",
				why != NULL ? why : "Invalid mailbox name.");
		return false;
	}
	r = mindex_folder_exists(s->mu, *disk_r, &err);
	if (r <= 0) {
		imapd_cmd_reply(cmd, "NO", "NONEXISTENT",
				"Mailbox doesn't exist.");
		free(*disk_r);
		*disk_r = NULL;
		return false;
	}
	*dir_r = store_folder_path(s->mbox, *disk_r, &err);
	if (*dir_r == NULL) {
		imapd_mailbox_error(cmd, &err);
		free(*disk_r);
		*disk_r = NULL;
		return false;
	}
	*file_r = METADATA_FILE;
	return true;
}

static int dir_lock(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- SETMETADATA mailbox (entry value ...) */

enum imapd_cmd_result imapd_cmd_setmetadata(struct imapd_cmd *cmd)
{
	const struct imap_arg *args = imapd_cmd_args(cmd);
	const struct imap_arg *list;
	size_t count, i;
	char *disk = NULL, *dir = NULL, *path = NULL;
	const char *file;
	struct md_set m = {0};
	struct error err = {0};
	int lockfd = -1;

	if (imap_arg_is_eol(&args[0]) ||
	    !imap_arg_get_list(&args[1], &list, &count) || count == 0 ||
	    count % 2 != 0 || !imap_arg_is_eol(&args[2])) {
		imapd_cmd_reply(cmd, "BAD", NULL,
				"Invalid arguments: SETMETADATA mailbox "
				"(entry value ...).");
		return IMAPD_CMD_DONE;
	}
	/* Syntax and limits before touching anything: all or nothing. */
	for (i = 0; i < count; i += 2) {
		const char *name, *val;
		size_t len;
		char lower[METADATA_MAXNAME + 1];

		if (!imap_arg_get_astring(&list[i], &name) ||
		    !entry_valid(name, lower)) {
			imapd_cmd_reply(cmd, "BAD", NULL,
					"Invalid entry name.");
			return IMAPD_CMD_DONE;
		}
		if (imap_arg_is_nil(&list[i + 1]))
			continue;
		if (list[i + 1].type == IMAP_ARG_ATOM ||
		    !imap_arg_get_data(&list[i + 1], &val, &len)) {
			imapd_cmd_reply(cmd, "BAD", NULL,
					"Invalid value for %s.", name);
			return IMAPD_CMD_DONE;
		}
		if (len > METADATA_MAXSIZE) {
			imapd_cmd_reply(cmd, "NO", "METADATA MAXSIZE 65536",
					"Value too long.");
			return IMAPD_CMD_DONE;
		}
	}
	if (!md_target(cmd, &args[0], &disk, &dir, &file))
		return IMAPD_CMD_DONE;
	for (i = 0; i < count; i += 2) {
		char lower[METADATA_MAXNAME + 1];
		const char *name;

		(void)imap_arg_get_astring(&list[i], &name);
		(void)entry_valid(name, lower);
		if (disk != NULL && strcmp(lower, "/private/specialuse") == 0) {
			imapd_cmd_reply(cmd, "NO", "CANNOT",
					"/private/specialuse is read-only.");
			goto out;
		}
	}
	lockfd = dir_lock(dir);
	if (lockfd < 0) {
		error_set(&err, ERR_TEMP, "lock %s: %s", dir, strerror(errno));
		goto fail;
	}
	path = xasprintf("%s/%s", dir, file);
	if (md_read(path, &m, &err) < 0)
		goto fail;
	for (i = 0; i < count; i += 2) {
		char lower[METADATA_MAXNAME + 1];
		const char *name, *val;
		size_t len;
		struct md_entry *e;

		(void)imap_arg_get_astring(&list[i], &name);
		(void)entry_valid(name, lower);
		e = md_find(&m, lower);
		if (imap_arg_is_nil(&list[i + 1])) {
			if (e != NULL)
				md_remove(&m, e);
			continue;
		}
		(void)imap_arg_get_data(&list[i + 1], &val, &len);
		if (e != NULL) {
			free(e->value);
			e->value = xmemdup(val, len + 1);
			e->value[len] = '\0';
			e->len = len;
		} else if (m.count >= METADATA_MAXENTRIES) {
			imapd_cmd_reply(cmd, "NO", "METADATA TOOMANY",
					"Too many annotations.");
			goto out;
		} else {
			md_add(&m, lower, val, len);
		}
	}
	if (md_write(dir, file, &m, &err) < 0)
		goto fail;
	imapd_cmd_reply(cmd, "OK", NULL, "Setmetadata completed.");
	goto out;
fail:
	log_error("%s: SETMETADATA: %s",
		  imapd_session_user(imapd_cmd_session(cmd)), err.msg);
	imapd_cmd_reply(cmd, "NO", "SERVERBUG",
			"Internal error occurred. Refer to server log for "
			"more information.");
out:
	if (lockfd >= 0)
		close(lockfd);
	md_free(&m);
	free(path);
	free(dir);
	free(disk);
	return IMAPD_CMD_DONE;
}

/* ---- GETMETADATA [(options)] mailbox entry | (entries) */

enum { DEPTH_INFINITY = 1000 };

/* Is name within depth levels below req (or req itself)? */
static bool entry_matches(const char *req, const char *name, unsigned depth)
{
	size_t rl = strlen(req);
	unsigned levels = 0;

	if (strcmp(req, name) == 0)
		return true;
	if (depth == 0 || strncmp(req, name, rl) != 0 || name[rl] != '/')
		return false;
	for (const char *p = name + rl; *p != '\0'; p++)
		if (*p == '/')
			levels++;
	return levels <= depth;
}

static void append_entry(struct buf *body, bool *first, const char *name,
			 const char *value, size_t len, unsigned qflags)
{
	if (!*first)
		buf_append_char(body, ' ');
	*first = false;
	buf_append_str(body, name);
	buf_append_char(body, ' ');
	if (value == NULL)
		buf_append_str(body, "NIL");
	else if (memchr(value, '\0', len) != NULL)
		imap_append_literal8(body, value, len);
	else
		imap_append_quoted(body, value, len, qflags);
}

static const char *special_use_name(unsigned attr)
{
	switch (attr) {
	case MINDEX_ATTR_DRAFTS:
		return "\\Drafts";
	case MINDEX_ATTR_SENT:
		return "\\Sent";
	case MINDEX_ATTR_TRASH:
		return "\\Trash";
	case MINDEX_ATTR_JUNK:
		return "\\Junk";
	case MINDEX_ATTR_ARCHIVE:
		return "\\Archive";
	default:
		return NULL;
	}
}

enum imapd_cmd_result imapd_cmd_getmetadata(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	const struct imap_arg *opts, *entries;
	size_t nopts = 0, nentries, i, j;
	uint64_t maxsize = UINT64_MAX, longest = 0;
	unsigned depth = 0;
	char *disk = NULL, *dir = NULL, *path = NULL;
	const char *file, *su = NULL;
	struct md_set m = {0};
	struct error err = {0};
	struct buf *body = NULL;
	bool first = true;

	/* Options first (RFC 5464 4.2): (MAXSIZE n DEPTH d). */
	if (imap_arg_get_list(&args[0], &opts, &nopts)) {
		for (i = 0; i < nopts; i += 2) {
			const char *v;
			uint32_t n;
			if (i + 1 >= nopts)
				goto bad;
			if (imap_arg_atom_equals(&opts[i], "MAXSIZE") &&
			    imap_arg_get_number(&opts[i + 1], &n)) {
				maxsize = n;
			} else if (imap_arg_atom_equals(&opts[i], "DEPTH") &&
				   imap_arg_get_atom(&opts[i + 1], &v)) {
				if (strcmp(v, "0") == 0)
					depth = 0;
				else if (strcmp(v, "1") == 0)
					depth = 1;
				else if (strcasecmp(v, "infinity") == 0)
					depth = DEPTH_INFINITY;
				else
					goto bad;
			} else {
				goto bad;
			}
		}
		args++;
	}
	if (imap_arg_is_eol(&args[0]) || imap_arg_is_eol(&args[1]) ||
	    !imap_arg_is_eol(&args[2]))
		goto bad;
	if (imap_arg_get_list(&args[1], &entries, &nentries)) {
		if (nentries == 0)
			goto bad;
	} else {
		entries = &args[1];
		nentries = 1;
	}
	for (i = 0; i < nentries; i++) {
		const char *name;
		char lower[METADATA_MAXNAME + 1];
		if (!imap_arg_get_astring(&entries[i], &name) ||
		    !entry_valid(name, lower))
			goto bad;
	}
	if (!md_target(cmd, &args[0], &disk, &dir, &file))
		return IMAPD_CMD_DONE;
	path = xasprintf("%s/%s", dir, file);
	if (md_read(path, &m, &err) < 0) {
		log_error("%s: GETMETADATA: %s", imapd_session_user(s),
			  err.msg);
		imapd_cmd_reply(cmd, "NO", "SERVERBUG",
				"Internal error occurred. Refer to server "
				"log for more information.");
		goto out;
	}
	if (disk != NULL)
		su = special_use_name(mindex_special_use(s->mu, disk));
	body = buf_new();
	for (i = 0; i < nentries; i++) {
		const char *name;
		char req[METADATA_MAXNAME + 1];
		bool found = false;

		(void)imap_arg_get_astring(&entries[i], &name);
		(void)entry_valid(name, req);
		if (su != NULL &&
		    entry_matches(req, "/private/specialuse", depth)) {
			found =
			    found || strcmp(req, "/private/specialuse") == 0;
			append_entry(body, &first, "/private/specialuse", su,
				     strlen(su), imapd_session_quote_flags(s));
		}
		for (j = 0; j < m.count; j++) {
			if (!entry_matches(req, m.e[j].name, depth))
				continue;
			if (strcmp(req, m.e[j].name) == 0)
				found = true;
			if (m.e[j].len > maxsize) {
				if (m.e[j].len > longest)
					longest = m.e[j].len;
				continue;
			}
			append_entry(body, &first, m.e[j].name, m.e[j].value,
				     m.e[j].len, imapd_session_quote_flags(s));
		}
		/* The entry asked for itself, missing: NIL (as Dovecot). */
		if (!found && depth == 0)
			append_entry(body, &first, req, NULL, 0, 0);
	}
	if (!first) {
		struct buf *out = imapd_cmd_out(cmd);
		buf_append_str(out, "* METADATA ");
		if (disk != NULL)
			imapd_mailbox_append(s, out, disk);
		else
			buf_append_str(out, "\"\"");
		buf_append_str(out, " (");
		buf_append(out, buf_data(body), buf_len(body));
		buf_append_str(out, ")\r\n");
	}
	if (longest > 0) {
		char code[64];
		snprintf(code, sizeof(code), "METADATA LONGENTRIES %llu",
			 (unsigned long long)longest);
		imapd_cmd_reply(cmd, "OK", code, "Getmetadata completed.");
	} else {
		imapd_cmd_reply(cmd, "OK", NULL, "Getmetadata completed.");
	}
	goto out;
bad:
	imapd_cmd_reply(cmd, "BAD", NULL,
			"Invalid arguments: GETMETADATA [(options)] mailbox "
			"entries.");
out:
	buf_free(&body);
	md_free(&m);
	free(path);
	free(dir);
	free(disk);
	return IMAPD_CMD_DONE;
}
