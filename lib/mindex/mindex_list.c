/*
 * Folder management: list, create, delete, rename, subscriptions and
 * STATUS.  Folders are Maildir++ ".Name" directories at the mailbox root;
 * names are checked with store_folder_valid before any path is built,
 * so nothing outside the user's mailbox is ever touched.
 *
 * Subscriptions: Dovecot's "subscriptions" file at the root, one name a
 * line; a file that starts with "V\t2\n\n" has the hierarchy levels
 * separated by TAB (and \001-escapes), and is written back the same way.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fsutil.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "mindex_private.h"

/* Dovecot renames a folder to this before removing it. */
#define TRASHED_DIR ".DOVECOT-TRASHED"
#define SUBS_V2 "V\t2\n\n"

static const char *canon(const char *name)
{
	return store_folder_is_inbox(name) ? "INBOX" : name;
}

static int check_name(const char *name, struct error *err)
{
	if (name == NULL || !store_folder_valid(name))
		return error_set_code(err, ERR_PERM, MINDEX_ERR_INVALID,
				      "invalid folder name");
	return 0;
}

static char *folder_dir(struct mindex_user *u, const char *name)
{
	return xasprintf("%s/.%s", u->root, name);
}

int mindex_folder_exists(struct mindex_user *u, const char *name,
			 struct error *err)
{
	if (check_name(name, err) < 0)
		return -1;
	if (store_folder_is_inbox(name))
		return 1;
	char *dir = folder_dir(u, name);
	struct stat st;
	int r = lstat(dir, &st) == 0 && S_ISDIR(st.st_mode);
	free(dir);
	return r;
}

static int name_cmp(const void *pa, const void *pb)
{
	return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

/* The existing folders (not INBOX), sorted. */
static int list_dirs(struct mindex_user *u, struct array **out,
		     struct error *err)
{
	struct array *a = array_new();
	DIR *d = opendir(u->root);
	if (d == NULL) {
		if (errno == ENOENT) {
			*out = a;
			return 0;
		}
		array_free(&a);
		return mindex_errno(err, errno, "opendir", u->root);
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' ||
		    strcmp(de->d_name, TRASHED_DIR) == 0)
			continue;
		const char *name = de->d_name + 1;
		if (!store_folder_valid(name) || store_folder_is_inbox(name))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;
			char *p = folder_dir(u, name);
			bool dir = lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
			free(p);
			if (!dir)
				continue;
		}
		array_push(a, xstrdup(name));
	}
	closedir(d);
	array_sort(a, name_cmp);
	*out = a;
	return 0;
}

/* ---- subscriptions ---- */

static void subs_unescape(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\001' && i + 1 < len) {
			char c = s[++i];
			buf_append_char(out, c == '1'	? '\001'
					     : c == 't' ? '\t'
					     : c == 'r' ? '\r'
					     : c == 'n' ? '\n'
							: c);
		} else {
			buf_append_char(out, s[i]);
		}
	}
}

/* The subscribed names (malloc'd strings); *v2_r: the file's format. */
static int subs_read(struct mindex_user *u, struct array **out, bool *v2_r,
		     struct error *err)
{
	char *path = xasprintf("%s/" MINDEX_SUBSCRIPTIONS, u->root);
	struct buf *b = buf_new();
	int ret = mindex_read_small(path, b, NULL, err);
	free(path);
	*v2_r = false;
	if (ret < 0) {
		buf_free(&b);
		return -1;
	}
	struct array *a = array_new();
	const char *p = buf_data(b), *end = p + buf_len(b);
	if (buf_len(b) >= strlen(SUBS_V2) &&
	    memcmp(p, SUBS_V2, strlen(SUBS_V2)) == 0) {
		*v2_r = true;
		p += strlen(SUBS_V2);
	}
	struct buf *name = buf_new();
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		buf_reset(name);
		if (*v2_r) {
			const char *q = p, *le = p + len;
			while (q < le) {
				const char *t =
				    memchr(q, '\t', (size_t)(le - q));
				size_t l = t != NULL ? (size_t)(t - q)
						     : (size_t)(le - q);
				subs_unescape(name, q, l);
				if (t == NULL)
					break;
				buf_append_char(name, '.');
				q = t + 1;
			}
		} else {
			buf_append(name, p, len);
		}
		if (buf_len(name) > 0)
			array_push(a, xstrdup(buf_data(name)));
		p += len + 1;
	}
	buf_free(&name);
	buf_free(&b);
	*out = a;
	return 0;
}

static bool subs_has(struct array *a, const char *name)
{
	for (size_t i = 0; i < array_len(a); i++)
		if (strcmp(array_get(a, i), name) == 0)
			return true;
	return false;
}

/*
 * Change the subscriptions under the file's dotlock: remove `del` (may
 * be NULL) and add `add` (may be NULL), or rename every name equal to
 * or below `from` to `to` (rename mode when from != NULL).
 */
static int subs_change(struct mindex_user *u, const char *add, const char *del,
		       const char *from, const char *to, struct error *err)
{
	int fd = mindex_dotlock(u->root, MINDEX_SUBSCRIPTIONS, err);
	if (fd < 0)
		return -1;
	struct array *a;
	bool v2;
	if (subs_read(u, &a, &v2, err) < 0) {
		mindex_dotunlock(u->root, MINDEX_SUBSCRIPTIONS, fd);
		return -1;
	}
	bool changed = false;
	struct buf *b = buf_new();
	if (v2)
		buf_append_str(b, SUBS_V2);
	size_t flen = from != NULL ? strlen(from) : 0;
	for (size_t i = 0; i < array_len(a); i++) {
		const char *n = array_get(a, i);
		char *renamed = NULL;
		if (del != NULL && strcmp(n, del) == 0) {
			changed = true;
			continue;
		}
		if (from != NULL && strncmp(n, from, flen) == 0 &&
		    (n[flen] == '\0' || n[flen] == '.')) {
			renamed = xasprintf("%s%s", to, n + flen);
			changed = true;
			n = renamed;
		}
		for (const char *c = n; *c != '\0'; c++)
			buf_append_char(b, v2 && *c == '.' ? '\t' : *c);
		buf_append_char(b, '\n');
		free(renamed);
	}
	if (add != NULL && !subs_has(a, add)) {
		for (const char *c = add; *c != '\0'; c++)
			buf_append_char(b, v2 && *c == '.' ? '\t' : *c);
		buf_append_char(b, '\n');
		changed = true;
	}
	array_free_with(&a, free);
	int ret = 0;
	if (changed)
		ret = mindex_dotlock_replace(u->root, MINDEX_SUBSCRIPTIONS, fd,
					     buf_data(b), buf_len(b), err);
	else
		mindex_dotunlock(u->root, MINDEX_SUBSCRIPTIONS, fd);
	buf_free(&b);
	return ret;
}

int mindex_subscribe(struct mindex_user *u, const char *name, bool on,
		     struct error *err)
{
	if (check_name(name, err) < 0)
		return -1;
	name = canon(name);
	return subs_change(u, on ? name : NULL, on ? NULL : name, NULL, NULL,
			   err);
}

int mindex_is_subscribed(struct mindex_user *u, const char *name,
			 struct error *err)
{
	if (check_name(name, err) < 0)
		return -1;
	struct array *a;
	bool v2;
	if (subs_read(u, &a, &v2, err) < 0)
		return -1;
	int r = subs_has(a, canon(name)) ? 1 : 0;
	array_free_with(&a, free);
	return r;
}

/* ---- list ---- */

static void info_free(void *p)
{
	struct mindex_folder_info *i = p;
	free(i->name);
	free(i);
}

void mindex_folder_list_free(struct array **list)
{
	if (*list != NULL)
		array_free_with(list, info_free);
}

static struct mindex_folder_info *info_find(struct array *a, const char *n)
{
	for (size_t i = 0; i < array_len(a); i++) {
		struct mindex_folder_info *fi = array_get(a, i);
		if (strcmp(fi->name, n) == 0)
			return fi;
	}
	return NULL;
}

static struct mindex_folder_info *info_add(struct array *a, const char *n,
					   unsigned attrs)
{
	struct mindex_folder_info *fi = xcalloc(1, sizeof(*fi));
	fi->name = xstrdup(n);
	fi->attrs = attrs;
	array_push(a, fi);
	return fi;
}

static int info_cmp(const void *pa, const void *pb)
{
	const struct mindex_folder_info *a =
	    *(const struct mindex_folder_info *const *)pa;
	const struct mindex_folder_info *b =
	    *(const struct mindex_folder_info *const *)pb;
	bool ai = strcmp(a->name, "INBOX") == 0,
	     bi = strcmp(b->name, "INBOX") == 0;
	if (ai != bi)
		return ai ? -1 : 1;
	return strcmp(a->name, b->name);
}

int mindex_folder_list(struct mindex_user *u, struct array **list_r,
		       struct error *err)
{
	struct array *dirs, *subs;
	bool v2;
	if (list_dirs(u, &dirs, err) < 0)
		return -1;
	if (subs_read(u, &subs, &v2, err) < 0) {
		array_free_with(&dirs, free);
		return -1;
	}
	struct array *a = array_new();
	info_add(a, "INBOX", 0);
	for (size_t i = 0; i < array_len(dirs); i++) {
		const char *n = array_get(dirs, i);
		info_add(a, n, mindex_special_use(u, n));
	}
	/* missing parents of existing folders */
	for (size_t i = 0; i < array_len(dirs); i++) {
		char *n = xstrdup(array_get(dirs, i));
		char *dot;
		while ((dot = strrchr(n, '.')) != NULL) {
			*dot = '\0';
			if (info_find(a, n) == NULL)
				info_add(a, n, MINDEX_ATTR_NONEXISTENT);
		}
		free(n);
	}
	for (size_t i = 0; i < array_len(subs); i++) {
		const char *n = array_get(subs, i);
		if (!store_folder_valid(n))
			continue;
		struct mindex_folder_info *fi = info_find(a, canon(n));
		if (fi == NULL)
			fi = info_add(a, canon(n), MINDEX_ATTR_NONEXISTENT);
		fi->attrs |= MINDEX_ATTR_SUBSCRIBED;
	}
	for (size_t i = 0; i < array_len(a); i++) {
		struct mindex_folder_info *fi = array_get(a, i);
		size_t len = strlen(fi->name);
		bool children = false;
		for (size_t k = 0; k < array_len(dirs) && !children; k++) {
			const char *d = array_get(dirs, k);
			children =
			    strncmp(d, fi->name, len) == 0 && d[len] == '.';
		}
		fi->attrs |= children ? MINDEX_ATTR_HASCHILDREN
				      : MINDEX_ATTR_HASNOCHILDREN;
	}
	array_sort(a, info_cmp);
	array_free_with(&dirs, free);
	array_free_with(&subs, free);
	*list_r = a;
	return 0;
}

/* ---- create / delete / rename ---- */

int mindex_folder_create(struct mindex_user *u, const char *name,
			 struct error *err)
{
	if (check_name(name, err) < 0)
		return -1;
	int ex = mindex_folder_exists(u, name, err);
	if (ex < 0)
		return -1;
	if (ex > 0)
		return error_set_code(err, ERR_PERM, MINDEX_ERR_EXISTS,
				      "Mailbox already exists");
	if (store_folder_create(u->mbox, name, err) < 0)
		return -1;
	return 0;
}

int mindex_special_create(struct mindex_user *u, struct error *err)
{
	for (int i = 0; i < 5; i++) {
		if (u->special[i] == NULL)
			continue;
		int ex = mindex_folder_exists(u, u->special[i], err);
		if (ex < 0)
			return -1;
		if (ex > 0)
			continue;
		if (store_folder_create(u->mbox, u->special[i], err) < 0 ||
		    mindex_subscribe(u, u->special[i], true, err) < 0)
			return -1;
	}
	return 0;
}

/* Remove a folder directory: files and the tmp/new/cur levels only; a
 * symlink is unlinked, never followed. */
static int rm_tree(int parent, const char *name, int depth, struct error *err)
{
	int fd = openat(parent, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return mindex_errno(err, errno, "open", name);
	}
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return mindex_errno(err, errno, "fdopendir", name);
	}
	int ret = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 2) {
			if (rm_tree(fd, de->d_name, depth + 1, err) < 0)
				ret = -1;
		} else if (!S_ISDIR(st.st_mode) &&
			   unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT) {
			ret = mindex_errno(err, errno, "unlink", de->d_name);
		}
	}
	closedir(d);
	if (ret == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0 &&
	    errno != ENOENT)
		ret = mindex_errno(err, errno, "rmdir", name);
	return ret;
}

static bool has_children(struct array *dirs, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < array_len(dirs); i++) {
		const char *d = array_get(dirs, i);
		if (strncmp(d, name, len) == 0 && d[len] == '.')
			return true;
	}
	return false;
}

/* Sum of S= sizes in one folder (quota bookkeeping). */
static void folder_usage(struct mindex_user *u, const char *name,
			 int64_t *bytes, int64_t *count)
{
	struct array *e;
	*bytes = 0;
	*count = 0;
	if (store_list(u->mbox, name, &e, NULL) < 0)
		return;
	for (size_t i = 0; i < array_len(e); i++) {
		struct store_entry *se = array_get(e, i);
		struct store_name sn;
		if (store_name_parse(se->name, &sn, NULL) == 0 && sn.has_size)
			*bytes += (int64_t)sn.size;
		(*count)++;
	}
	store_entries_free(&e);
}

static void db_forget(struct mindex_user *u, const char *name)
{
	sqlite3 *db = mindex_db_open(u, NULL);
	if (db != NULL) {
		(void)mindex_db_folder_delete(db, name, NULL);
		mindex_db_close(db);
	}
}

int mindex_folder_delete(struct mindex_user *u, const char *name,
			 struct error *err)
{
	if (check_name(name, err) < 0)
		return -1;
	if (store_folder_is_inbox(name))
		return error_set_code(err, ERR_PERM, MINDEX_ERR_INBOX,
				      "INBOX can't be deleted.");
	struct array *dirs;
	if (list_dirs(u, &dirs, err) < 0)
		return -1;
	bool exists = false;
	for (size_t i = 0; i < array_len(dirs); i++)
		if (strcmp(array_get(dirs, i), name) == 0)
			exists = true;
	bool children = has_children(dirs, name);
	array_free_with(&dirs, free);
	if (!exists)
		return error_set_code(err, ERR_PERM, MINDEX_ERR_NOTFOUND,
				      "Mailbox doesn't exist: %s", name);
	if (children)
		return error_set_code(
		    err, ERR_PERM, MINDEX_ERR_HASCHILDREN,
		    "Mailbox has children, delete them first");
	int64_t bytes, count;
	folder_usage(u, name, &bytes, &count);
	/* Out of sight first (atomic for other sessions), then removed. */
	int rootfd = open(u->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return mindex_errno(err, errno, "open", u->root);
	(void)rm_tree(rootfd, TRASHED_DIR, 0, NULL);
	char *src = xasprintf(".%s", name);
	int ret = 0;
	if (renameat(rootfd, src, rootfd, TRASHED_DIR) < 0)
		ret = errno == ENOENT
			  ? error_set_code(err, ERR_PERM, MINDEX_ERR_NOTFOUND,
					   "Mailbox doesn't exist: %s", name)
			  : mindex_errno(err, errno, "rename", src);
	free(src);
	if (ret == 0)
		ret = rm_tree(rootfd, TRASHED_DIR, 0, err);
	close(rootfd);
	if (ret < 0)
		return -1;
	db_forget(u, name);
	if (bytes != 0 || count != 0)
		(void)store_usage_add(u->mbox, -bytes, -count, NULL);
	return 0;
}

/* RENAME INBOX: move every message into a new folder; INBOX stays. */
static int rename_inbox(struct mindex_user *u, const char *to,
			struct error *err)
{
	if (store_folder_create(u->mbox, to, err) < 0)
		return -1;
	struct array *e;
	if (store_list(u->mbox, NULL, &e, err) < 0)
		return -1;
	char *dst = folder_dir(u, to);
	int ret = 0;
	for (size_t i = 0; i < array_len(e) && ret == 0; i++) {
		struct store_entry *se = array_get(e, i);
		char *from = xasprintf("%s/%s/%s", u->root,
				       se->in_new ? "new" : "cur", se->name);
		/* new/ files keep their name in new/ (still unseen) */
		char *top = xasprintf("%s/%s/%s", dst,
				      se->in_new ? "new" : "cur", se->name);
		if (rename(from, top) < 0 && errno != ENOENT)
			ret = mindex_errno(err, errno, "rename", from);
		free(from);
		free(top);
	}
	store_entries_free(&e);
	free(dst);
	return ret;
}

int mindex_folder_rename(struct mindex_user *u, const char *from,
			 const char *to, struct error *err)
{
	if (check_name(from, err) < 0 || check_name(to, err) < 0)
		return -1;
	if (store_folder_is_inbox(to))
		return error_set_code(err, ERR_PERM, MINDEX_ERR_EXISTS,
				      "Mailbox already exists");
	int ex = mindex_folder_exists(u, to, err);
	if (ex < 0)
		return -1;
	if (ex > 0)
		return error_set_code(err, ERR_PERM, MINDEX_ERR_EXISTS,
				      "Mailbox already exists");
	if (store_folder_is_inbox(from))
		return rename_inbox(u, to, err);
	size_t flen = strlen(from);
	if (strncmp(to, from, flen) == 0 && to[flen] == '.')
		return error_set_code(err, ERR_PERM, MINDEX_ERR_INVALID,
				      "Can't move mailbox under its own child");
	struct array *dirs;
	if (list_dirs(u, &dirs, err) < 0)
		return -1;
	struct array *moves = array_new(); /* pairs: old, new */
	bool exists = false;
	int ret = 0;
	for (size_t i = 0; i < array_len(dirs); i++) {
		const char *d = array_get(dirs, i);
		if (strcmp(d, from) == 0) {
			exists = true;
		} else if (!(strncmp(d, from, flen) == 0 && d[flen] == '.')) {
			continue;
		}
		char *nn = xasprintf("%s%s", to, d + flen);
		if (!store_folder_valid(nn)) {
			ret = error_set_code(err, ERR_PERM, MINDEX_ERR_INVALID,
					     "new name too long");
		} else if (mindex_folder_exists(u, nn, NULL) > 0) {
			ret = error_set_code(err, ERR_PERM, MINDEX_ERR_EXISTS,
					     "Mailbox already exists: %s", nn);
		}
		array_push(moves, xstrdup(d));
		array_push(moves, nn);
	}
	array_free_with(&dirs, free);
	if (ret == 0 && !exists)
		ret = error_set_code(err, ERR_PERM, MINDEX_ERR_NOTFOUND,
				     "Mailbox doesn't exist: %s", from);
	sqlite3 *db = NULL;
	if (ret == 0)
		db = mindex_db_open(u, NULL);
	for (size_t i = 0; ret == 0 && i + 1 < array_len(moves); i += 2) {
		const char *o = array_get(moves, i),
			   *n = array_get(moves, i + 1);
		char *op = folder_dir(u, o), *np = folder_dir(u, n);
		/* never over an existing directory */
		if (mkdir(np, MINDEX_DIR_MODE) < 0) {
			ret = errno == EEXIST
				  ? error_set_code(err, ERR_PERM,
						   MINDEX_ERR_EXISTS,
						   "Mailbox already exists")
				  : mindex_errno(err, errno, "mkdir", np);
		} else if (rename(op, np) < 0) {
			ret = mindex_errno(err, errno, "rename", op);
			(void)rmdir(np);
		}
		free(op);
		free(np);
		if (ret == 0 && db != NULL)
			(void)mindex_db_folder_rename(db, o, n, NULL);
	}
	mindex_db_close(db);
	if (ret == 0)
		(void)fs_fsync_dir(u->root, NULL);
	array_free_with(&moves, free);
	if (ret < 0)
		return -1;
	(void)subs_change(u, NULL, NULL, from, to, NULL);
	return 0;
}

/* ---- STATUS ---- */

int mindex_folder_status(struct mindex_user *u, const char *name,
			 struct mindex_status *st, struct error *err)
{
	struct mindex_folder *f = mindex_folder_open(u, name, true, err);
	if (f == NULL)
		return -1;
	memset(st, 0, sizeof(*st));
	st->messages = mindex_folder_count(f);
	st->uidnext = f->uidnext;
	st->uidvalidity = f->uidvalidity;
	st->highestmodseq = f->highestmodseq;
	for (uint32_t i = 0; i < st->messages; i++) {
		const struct mindex_msg *m = mindex_msg(f, i + 1);
		if ((m->flags & STORE_FLAG_SEEN) == 0)
			st->unseen++;
		if (m->uid >= f->db_recent_uid)
			st->recent++;
		st->size += m->vsize;
	}
	mindex_folder_close(&f);
	return 0;
}
