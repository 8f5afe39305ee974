/* The store handle, name safety and the Maildir++ directory layout. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/xmalloc.h"
#include "store_name.h"
#include "store_private.h"

/* Below RFC 5321's 64 and 253 octets anyway; the checks keep a name
 * within one path component whatever the caller validated. */
#define LOCAL_MAX 64
#define DOMAIN_MAX 253
#define LABEL_MAX 63
#define FOLDER_MAX 200

/* make_folder builds a folder in tmp/ under FOLDER_TMP_PREFIX "PID.N";
 * store_tmp_cleanup renames a lost one to FOLDER_TMP_PREFIX "stale.PID.N"
 * before it takes it apart. */
#define FOLDER_TMP_PREFIX ".folder."
#define FOLDER_STALE "stale."
/* Building a folder takes milliseconds and every step of it touches the
 * directory's mtime, so one untouched for an hour was left by a crash.
 * The hour also covers a creator stalled on a slow disk or NFS. */
#define FOLDER_TMP_AGE (60 * 60)
/* The Maildir convention (and Dovecot): a tmp/ file neither read nor
 * written for 36 hours is a delivery that died. */
#define TMP_FILE_AGE (36 * 60 * 60)

int store_errno(struct error *err, int e, const char *what, const char *path)
{
	const char *code =
	    e == ENOSPC || e == EDQUOT || e == EFBIG ? STORE_ERR_NOSPACE : NULL;
	/* Even EACCES is temporary for delivery: a store we cannot write is
	 * our misconfiguration, and bouncing the mail would punish the
	 * sender for it (Postfix's virtual(8) defers too). */
	return error_set_code(err, ERR_TEMP, code, "%s %s: %s", what, path,
			      strerror(e));
}

struct store *store_new(const struct store_settings *set)
{
	struct store *store = xcalloc(1, sizeof(*store));
	char host[256];
	const char *h = set->hostname;

	store->root = xstrdup(set->root);
	store->quota_permanent = set->quota_permanent;
	if (h == NULL || *h == '\0') {
		if (gethostname(host, sizeof(host)) < 0)
			strcpy(host, "localhost");
		host[sizeof(host) - 1] = '\0';
		h = host;
	}
	store_name_escape_host(h, store->host, sizeof(store->host));
	return store;
}

void store_free(struct store **store)
{
	if (*store == NULL)
		return;
	free((*store)->root);
	XFREE(*store);
}

/* Valid UTF-8, no overlong forms or surrogates; len bytes at s. */
static bool utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t n;
		unsigned min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1, min = 0x80, c &= 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2, min = 0x800, c &= 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3, min = 0x10000, c &= 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (s[i + k] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

bool store_domain_valid(const char *domain)
{
	size_t len = strlen(domain), label = 0;
	if (len == 0 || len > DOMAIN_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = domain[i];
		if (c == '.' || c == '\0') {
			/* Empty labels catch "", ".x", "x..y" and "x."; LDH
			 * rules forbid a hyphen at either end. */
			if (label == 0 || label > LABEL_MAX ||
			    domain[i - 1] == '-' || domain[i - label] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
		label++;
	}
	return true;
}

bool store_local_valid(const char *local)
{
	size_t len = strlen(local);
	if (len == 0 || len > LOCAL_MAX || local[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)local[i];
		if (c < 0x20 || c == 0x7f || c == '/' || (c >= 'A' && c <= 'Z'))
			return false;
	}
	return utf8_valid((const unsigned char *)local, len);
}

bool store_folder_is_inbox(const char *folder)
{
	return folder == NULL || *folder == '\0' ||
	       strcasecmp(folder, "INBOX") == 0;
}

/* RFC 3501 5.1.3: "&" starts modified BASE64 ended by "-"; "&-" is "&". */
static bool mutf7_valid(const char *s)
{
	for (const char *p = s; *p != '\0'; p++) {
		if (*p != '&')
			continue;
		for (p++; *p != '-'; p++) {
			bool b64 = (*p >= 'A' && *p <= 'Z') ||
				   (*p >= 'a' && *p <= 'z') ||
				   (*p >= '0' && *p <= '9') || *p == '+' ||
				   *p == ',';
			if (!b64)
				return false;
		}
	}
	return true;
}

bool store_folder_valid(const char *folder)
{
	if (store_folder_is_inbox(folder))
		return true;
	size_t len = strlen(folder);
	if (len > FOLDER_MAX || folder[0] == '.' || folder[len - 1] == '.' ||
	    strstr(folder, "..") != NULL)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)folder[i];
		if (c < 0x20 || c > 0x7e || c == '/')
			return false;
	}
	return mutf7_valid(folder);
}

struct store_mailbox *store_mailbox_open(struct store *store,
					 const char *domain, const char *local,
					 struct error *err)
{
	if (!store_domain_valid(domain)) {
		error_set_code(err, ERR_PERM, STORE_ERR_INVALID,
			       "unsafe domain name for the store");
		return NULL;
	}
	if (!store_local_valid(local)) {
		error_set_code(err, ERR_PERM, STORE_ERR_INVALID,
			       "unsafe local part for the store");
		return NULL;
	}
	struct store_mailbox *mbox = xcalloc(1, sizeof(*mbox));
	mbox->store = store;
	mbox->path = xasprintf("%s/%s/%s", store->root, domain, local);
	return mbox;
}

void store_mailbox_free(struct store_mailbox **mbox)
{
	if (*mbox == NULL)
		return;
	free((*mbox)->path);
	XFREE(*mbox);
}

const char *store_mailbox_path(const struct store_mailbox *mbox)
{
	return mbox->path;
}

char *store_folder_path(const struct store_mailbox *mbox, const char *folder,
			struct error *err)
{
	if (!store_folder_valid(folder)) {
		error_set_code(err, ERR_PERM, STORE_ERR_INVALID,
			       "invalid folder name");
		return NULL;
	}
	if (store_folder_is_inbox(folder))
		return xstrdup(mbox->path);
	return xasprintf("%s/.%s", mbox->path, folder);
}

/* mkdir one level; *created_r tells whether it was made now. */
static int mkdir_one(const char *path, bool *created_r, struct error *err)
{
	*created_r = false;
	if (mkdir(path, STORE_DIR_MODE) == 0) {
		*created_r = true;
		return 0;
	}
	if (errno != EEXIST)
		return store_errno(err, errno, "mkdir", path);
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return error_set(err, ERR_TEMP, "%s is not a directory", path);
	return 0;
}

/* Make dir/tmp, dir/new, dir/cur; fsync dir when one was created. */
static int make_maildir(const char *dir, struct error *err)
{
	static const char *const subs[] = {"tmp", "new", "cur"};
	bool any = false;
	for (size_t i = 0; i < 3; i++) {
		char *sub = xasprintf("%s/%s", dir, subs[i]);
		bool created;
		int ret = mkdir_one(sub, &created, err);
		free(sub);
		if (ret < 0)
			return -1;
		any |= created;
	}
	return any ? fs_fsync_dir(dir, err) : 0;
}

/* fpath's cur/, new/, tmp/ and its Maildir++ marker, which tells a
 * delivery agent run on the folder itself that quota lives in the
 * parent; fsync fpath when anything was made. */
static int fill_folder(const char *fpath, struct error *err)
{
	if (make_maildir(fpath, err) < 0)
		return -1;
	char *marker = xasprintf("%s/maildirfolder", fpath);
	int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, STORE_FILE_MODE);
	if (fd < 0) {
		store_errno(err, errno, "create", marker);
		free(marker);
		return -1;
	}
	close(fd);
	free(marker);
	return fs_fsync_dir(fpath, err);
}

/* Remove what fill_folder made in dir, and dir (a failed or lost
 * creation: nothing else is in it). */
static void unmake_folder(const char *dir)
{
	static const char *const parts[] = {"tmp", "new", "cur"};

	for (size_t i = 0; i < 3; i++) {
		char *p = xasprintf("%s/%s", dir, parts[i]);
		(void)rmdir(p);
		free(p);
	}
	char *marker = xasprintf("%s/maildirfolder", dir);
	(void)unlink(marker);
	free(marker);
	(void)rmdir(dir);
}

/*
 * A new folder appears whole: it is made under the mailbox's tmp/ and
 * renamed into place, so a watcher (webmail events, IMAP NOTIFY) or a
 * LIST that sees ".Name" always finds its cur/ and new/.  A folder that
 * exists (or one another process makes meanwhile) is completed in place,
 * as one made before this was.  What a crash between the mkdir and the
 * rename leaves in tmp/ is removed by store_tmp_cleanup, which imapd and
 * the webmail run at login.
 */
static int make_folder(struct store_mailbox *mbox, const char *fpath,
		       struct error *err)
{
	static unsigned long serial;
	struct stat st;

	if (stat(fpath, &st) == 0)
		return fill_folder(fpath, err);
	if (errno != ENOENT)
		return store_errno(err, errno, "stat", fpath);
	char *tmp = NULL;
	int ret = -1, r;

	/* A name taken already is what a crashed process with this pid
	 * left (store_tmp_cleanup removes it after an hour): the next. */
	for (int tries = 0;; tries++) {
		free(tmp);
		tmp = xasprintf(
		    "%s/tmp/" FOLDER_TMP_PREFIX "%ld.%lu", mbox->path,
		    (long)getpid(),
		    __atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED));
		if (mkdir(tmp, STORE_DIR_MODE) == 0)
			break;
		if (errno != EEXIST || tries == 100) {
			store_errno(err, errno, "mkdir", tmp);
			goto out;
		}
	}
	if (fill_folder(tmp, err) < 0)
		goto undo;
	/* NOREPLACE: rename(2) would replace an empty .Name that another
	 * tool made since the stat above. */
	r = renameat2(AT_FDCWD, tmp, AT_FDCWD, fpath, RENAME_NOREPLACE);
	if (r < 0 && (errno == EINVAL || errno == ENOSYS)) {
		/* A file system without it: the stat above must do. */
		r = rename(tmp, fpath);
	}
	if (r < 0) {
		if (errno != EEXIST && errno != ENOTEMPTY) {
			store_errno(err, errno, "rename", fpath);
			goto undo;
		}
		/* Another process made it first: complete theirs. */
		unmake_folder(tmp);
		ret = fill_folder(fpath, err);
		goto out;
	}
	ret = fs_fsync_dir(mbox->path, err);
	goto out;
undo:
	unmake_folder(tmp);
out:
	free(tmp);
	return ret;
}

/* "PID.N" (stale: "stale.PID.N") after FOLDER_TMP_PREFIX: the names
 * make_folder and store_tmp_cleanup give, and no other. */
static bool folder_tmp_name(const char *name, bool *stale_r)
{
	const char *p = name + strlen(FOLDER_TMP_PREFIX);

	if (strncmp(name, FOLDER_TMP_PREFIX, strlen(FOLDER_TMP_PREFIX)) != 0)
		return false;
	*stale_r = strncmp(p, FOLDER_STALE, strlen(FOLDER_STALE)) == 0;
	if (*stale_r)
		p += strlen(FOLDER_STALE);
	for (int part = 0; part < 2; part++) {
		size_t n = strspn(p, "0123456789");

		if (n == 0 || p[n] != (part == 0 ? '.' : '\0'))
			return false;
		p += n + 1;
	}
	return true;
}

/* Is path an empty directory (or gone)? */
static bool dir_empty(const char *path)
{
	DIR *d = opendir(path);
	bool empty = true;

	if (d == NULL)
		return errno == ENOENT;
	for (struct dirent *de; empty && (de = readdir(d)) != NULL;)
		empty = strcmp(de->d_name, ".") == 0 ||
			strcmp(de->d_name, "..") == 0;
	closedir(d);
	return empty;
}

/* Does dir hold only what fill_folder makes: empty cur/ new/ tmp/ and an
 * empty maildirfolder?  Anything else (a message) is not ours to drop. */
static bool folder_tmp_pristine(const char *dir)
{
	DIR *d = opendir(dir);
	bool ok = true;

	if (d == NULL)
		return false;
	for (struct dirent *de; ok && (de = readdir(d)) != NULL;) {
		const char *name = de->d_name;
		struct stat st;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		char *p = xasprintf("%s/%s", dir, name);
		if (lstat(p, &st) < 0)
			ok = errno == ENOENT;
		else if (strcmp(name, "maildirfolder") == 0)
			ok = S_ISREG(st.st_mode) && st.st_size == 0;
		else if (strcmp(name, "cur") == 0 || strcmp(name, "new") == 0 ||
			 strcmp(name, "tmp") == 0)
			ok = S_ISDIR(st.st_mode) && dir_empty(p);
		else
			ok = false;
		free(p);
	}
	closedir(d);
	return ok;
}

/*
 * Remove the lost folder tmpdir/name: 1 removed, 0 gone or taken by
 * another cleaner meanwhile, -1 left alone (*kept_r: its path now).
 */
static int remove_lost_folder(const char *tmpdir, const char *name, bool stale,
			      char **kept_r)
{
	static unsigned long serial;
	char *path = xasprintf("%s/%s", tmpdir, name);
	char *mine;

	if (!folder_tmp_pristine(path)) {
		if (access(path, F_OK) < 0 && errno == ENOENT) {
			free(path);
			return 0;
		}
		*kept_r = path;
		return -1;
	}
	/* Take it under a new name first: of two cleaners one wins the
	 * rename, and a creator that was only stalled finds its name gone
	 * and fails, instead of renaming a half-removed folder into place.
	 * A stale name is already ours: no creator renames it. */
	if (stale) {
		mine = path;
	} else {
		mine =
		    xasprintf("%s/" FOLDER_TMP_PREFIX FOLDER_STALE "%ld.%lu",
			      tmpdir, (long)getpid(),
			      __atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED));
		int r = rename(path, mine);
		free(path);
		if (r < 0) {
			free(mine);
			return 0;
		}
	}
	unmake_folder(mine);
	if (access(mine, F_OK) < 0 && errno == ENOENT) {
		free(mine);
		return 1;
	}
	*kept_r = mine;
	return -1;
}

int store_tmp_cleanup(struct store_mailbox *mbox, struct array *kept,
		      struct error *err)
{
	char *tmpdir = xasprintf("%s/tmp", mbox->path);
	DIR *d = opendir(tmpdir);
	time_t now = time(NULL);
	int removed = 0;

	if (d == NULL) {
		int ret = errno == ENOENT
			      ? 0
			      : store_errno(err, errno, "opendir", tmpdir);
		free(tmpdir);
		return ret;
	}
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		const char *name = de->d_name;
		char *p, *kept_path = NULL;
		struct stat st;
		bool stale;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		p = xasprintf("%s/%s", tmpdir, name);
		if (lstat(p, &st) < 0) {
			/* Gone meanwhile (delivered, or another cleaner). */
		} else if (S_ISREG(st.st_mode)) {
			if (st.st_mtime < now - TMP_FILE_AGE &&
			    st.st_atime < now - TMP_FILE_AGE && unlink(p) == 0)
				removed++;
		} else if (S_ISDIR(st.st_mode) &&
			   folder_tmp_name(name, &stale) &&
			   st.st_mtime < now - FOLDER_TMP_AGE) {
			int r =
			    remove_lost_folder(tmpdir, name, stale, &kept_path);
			if (r > 0)
				removed++;
			else if (r < 0 && kept != NULL)
				array_push(kept, kept_path);
			else
				free(kept_path);
		}
		free(p);
	}
	closedir(d);
	free(tmpdir);
	return removed;
}

int store_folder_create(struct store_mailbox *mbox, const char *folder,
			struct error *err)
{
	char *fpath = store_folder_path(mbox, folder, err);
	if (fpath == NULL)
		return -1;
	char *domdir = fs_dirname(mbox->path);
	char *rootdir = fs_dirname(domdir);
	bool created;
	int ret = -1;

	/* The root is postern init's job: creating it here could put a
	 * whole store on the wrong file system after a typo. */
	if (mkdir_one(domdir, &created, err) < 0)
		goto out;
	if (created && fs_fsync_dir(rootdir, err) < 0)
		goto out;
	if (mkdir_one(mbox->path, &created, err) < 0)
		goto out;
	if (created && fs_fsync_dir(domdir, err) < 0)
		goto out;
	if (make_maildir(mbox->path, err) < 0)
		goto out;
	if (!store_folder_is_inbox(folder) && make_folder(mbox, fpath, err) < 0)
		goto out;
	ret = 0;
out:
	free(rootdir);
	free(domdir);
	free(fpath);
	return ret;
}
