/*
 * A selected folder: its view (messages by UID with flags, modseq,
 * \Recent), accessors, the keyword table, open/close and opening a
 * message file.  The sync is in mindex_sync.c, the directory scan and
 * UID assignment in mindex_scan.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/str.h"
#include "core/xmalloc.h"
#include "mindex_private.h"

bool folder_ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

void folder_msg_free(struct mindex_msg *m)
{
	free((char *)m->name);
	m->name = NULL;
}

void folder_view_free(struct mindex_msg *msgs, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		folder_msg_free(&msgs[i]);
	free(msgs);
}

char *mindex_msg_path(const struct mindex_folder *f, const struct mindex_msg *m)
{
	return xasprintf("%s/%s/%s", f->path, m->in_new ? "new" : "cur",
			 m->name);
}

/* The base of a file name: up to ':' (Dovecot's uidlist key). */
size_t folder_base_len(const char *name)
{
	const char *c = strchr(name, ':');
	return c != NULL ? (size_t)(c - name) : strlen(name);
}

char *folder_base_dup(const char *name)
{
	return xstrndup(name, folder_base_len(name));
}

/* ---- accessors ---- */

const char *mindex_folder_name(const struct mindex_folder *f)
{
	return f->name;
}
bool mindex_folder_readonly(const struct mindex_folder *f)
{
	return f->readonly;
}
uint32_t mindex_folder_uidvalidity(const struct mindex_folder *f)
{
	return f->uidvalidity;
}
uint32_t mindex_folder_uidnext(const struct mindex_folder *f)
{
	return f->uidnext;
}
uint64_t mindex_folder_highestmodseq(const struct mindex_folder *f)
{
	return f->highestmodseq;
}
uint32_t mindex_folder_count(const struct mindex_folder *f)
{
	return f->count;
}
uint32_t mindex_folder_recent(const struct mindex_folder *f)
{
	return f->recent_count;
}

const struct mindex_msg *mindex_msg(const struct mindex_folder *f, uint32_t seq)
{
	if (seq == 0 || seq > f->count)
		return NULL;
	return &f->msgs[seq - 1];
}

uint32_t mindex_seq_of_uid_ge(const struct mindex_folder *f, uint32_t uid)
{
	uint32_t lo = 0, hi = f->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (f->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo + 1;
}

uint32_t mindex_seq_of_uid(const struct mindex_folder *f, uint32_t uid)
{
	uint32_t seq = mindex_seq_of_uid_ge(f, uid);
	if (seq <= f->count && f->msgs[seq - 1].uid == uid)
		return seq;
	return 0;
}

time_t mindex_msg_internaldate(struct mindex_folder *f, uint32_t seq)
{
	if (seq == 0 || seq > f->count)
		return 0;
	struct mindex_msg *m = &f->msgs[seq - 1];
	if (m->mtime == 0) {
		int fd;
		if (mindex_msg_open(f, seq, &fd, NULL) == 1) {
			struct stat st;
			if (fstat(fd, &st) == 0)
				m->mtime = st.st_mtime;
			close(fd);
		}
	}
	return m->mtime;
}

unsigned mindex_keyword_count(const struct mindex_folder *f)
{
	unsigned n = 0;
	for (unsigned i = 0; i < MINDEX_KEYWORDS_MAX; i++)
		if (f->keywords[i] != NULL)
			n = i + 1;
	return n;
}

const char *mindex_keyword_name(const struct mindex_folder *f, unsigned i)
{
	return i < MINDEX_KEYWORDS_MAX ? f->keywords[i] : NULL;
}

int folder_keywords_refresh(struct mindex_folder *f, bool *changed_r,
			    struct error *err)
{
	char *path = xasprintf("%s/" MINDEX_KEYWORDS, f->path);
	struct stat st;
	struct timespec mt = {0, 0};
	if (stat(path, &st) == 0)
		mt = st.st_mtim;
	free(path);
	if (changed_r != NULL)
		*changed_r = false;
	if (folder_ts_eq(&mt, &f->kw_mtime) && mt.tv_sec != 0)
		return 0;
	char *old[MINDEX_KEYWORDS_MAX];
	for (unsigned i = 0; i < MINDEX_KEYWORDS_MAX; i++)
		old[i] =
		    f->keywords[i] != NULL ? xstrdup(f->keywords[i]) : NULL;
	memset(f->keywords, 0, sizeof(f->keywords));
	int ret = keywords_read(f->path, f->keywords, &f->kw_mtime, err);
	bool changed = false;
	for (unsigned i = 0; i < MINDEX_KEYWORDS_MAX; i++) {
		if ((old[i] == NULL) != (f->keywords[i] == NULL) ||
		    (old[i] != NULL && strcmp(old[i], f->keywords[i]) != 0))
			changed = true;
		free(old[i]);
	}
	if (changed_r != NULL)
		*changed_r = changed;
	return ret;
}

int mindex_keyword_lookup(struct mindex_folder *f, const char *name,
			  bool create, struct error *err)
{
	for (unsigned i = 0; i < MINDEX_KEYWORDS_MAX; i++)
		if (f->keywords[i] != NULL &&
		    strcasecmp(f->keywords[i], name) == 0)
			return (int)i;
	if (folder_keywords_refresh(f, NULL, err) < 0)
		return -1;
	for (unsigned i = 0; i < MINDEX_KEYWORDS_MAX; i++)
		if (f->keywords[i] != NULL &&
		    strcasecmp(f->keywords[i], name) == 0)
			return (int)i;
	if (!create)
		return error_set_code(err, ERR_PERM, MINDEX_ERR_NOTFOUND,
				      "no keyword %s", name);
	if (name[0] == '\0' || name[0] == '\\' || strchr(name, ' ') != NULL ||
	    strchr(name, '\n') != NULL)
		return error_set_code(err, ERR_PERM, MINDEX_ERR_INVALID,
				      "invalid keyword");
	/* Dovecot changes dovecot-keywords only under the uidlist lock. */
	int lockfd = mindex_dotlock(f->path, MINDEX_UIDLIST, err);
	if (lockfd < 0)
		return -1;
	int ret = keywords_read(f->path, f->keywords, &f->kw_mtime, err);
	int idx = -1;
	if (ret == 0) {
		for (unsigned i = 0; i < MINDEX_KEYWORDS_MAX; i++)
			if (f->keywords[i] != NULL &&
			    strcasecmp(f->keywords[i], name) == 0)
				idx = (int)i;
		for (unsigned i = 0; idx < 0 && i < MINDEX_KEYWORDS_MAX; i++)
			if (f->keywords[i] == NULL) {
				f->keywords[i] = xstrdup(name);
				if (keywords_write(f->path, f->keywords, err) <
				    0) {
					free(f->keywords[i]);
					f->keywords[i] = NULL;
					ret = -1;
					break;
				}
				idx = (int)i;
			}
		if (ret == 0 && idx < 0) {
			error_set_code(err, ERR_PERM, MINDEX_ERR_LIMIT,
				       "too many keywords (%d)",
				       MINDEX_KEYWORDS_MAX);
			ret = -1;
		}
	}
	mindex_dotunlock(f->path, MINDEX_UIDLIST, lockfd);
	if (ret < 0)
		return -1;
	char *kp = xasprintf("%s/" MINDEX_KEYWORDS, f->path);
	struct stat st;
	if (stat(kp, &st) == 0)
		f->kw_mtime = st.st_mtim;
	free(kp);
	return idx;
}

/* ---- open/close ---- */

bool mindex_folder_name_ok(const char *name)
{
	return name != NULL && store_folder_valid(name);
}

struct mindex_folder *mindex_folder_open(struct mindex_user *u,
					 const char *name, bool readonly,
					 struct error *err)
{
	if (!mindex_folder_name_ok(name)) {
		error_set_code(err, ERR_PERM, MINDEX_ERR_INVALID,
			       "invalid folder name");
		return NULL;
	}
	bool inbox = store_folder_is_inbox(name);
	char *path = store_folder_path(u->mbox, inbox ? NULL : name, err);
	if (path == NULL) {
		if (err != NULL)
			err->code = MINDEX_ERR_INVALID;
		return NULL;
	}
	struct stat st;
	char *cur = xasprintf("%s/cur", path);
	bool exists = stat(cur, &st) == 0 && S_ISDIR(st.st_mode);
	free(cur);
	if (!exists) {
		if (!inbox) {
			free(path);
			error_set_code(err, ERR_PERM, MINDEX_ERR_NOTFOUND,
				       "no folder %s", name);
			return NULL;
		}
		if (store_folder_create(u->mbox, NULL, err) < 0) {
			free(path);
			return NULL;
		}
	}
	struct mindex_folder *f = xcalloc(1, sizeof(*f));
	f->u = u;
	f->name = xstrdup(inbox ? "INBOX" : name);
	f->path = path;
	f->readonly = readonly;
	struct mindex_sync_result r;
	if (mindex_folder_sync(f, MINDEX_SYNC_FORCE, &r, err) < 0) {
		mindex_folder_close(&f);
		return NULL;
	}
	mindex_sync_result_free(&r);
	return f;
}

struct mindex_folder *mindex_folder_open_target(struct mindex_user *u,
						const char *name,
						struct error *err)
{
	if (!mindex_folder_name_ok(name)) {
		error_set_code(err, ERR_PERM, MINDEX_ERR_INVALID,
			       "invalid folder name");
		return NULL;
	}
	bool inbox = store_folder_is_inbox(name);
	char *path = store_folder_path(u->mbox, inbox ? NULL : name, err);
	if (path == NULL) {
		if (err != NULL)
			err->code = MINDEX_ERR_INVALID;
		return NULL;
	}
	struct stat st;
	char *cur = xasprintf("%s/cur", path);
	bool exists = stat(cur, &st) == 0 && S_ISDIR(st.st_mode);
	free(cur);
	struct uidlist ul;
	uidlist_init(&ul);
	int r = exists ? uidlist_read_ends(path, &ul, err) : 0;
	if (r <= 0) {
		uidlist_clear(&ul);
		free(path);
		if (r < 0)
			return NULL;
		/* no list yet (or being appended to): the full open */
		return mindex_folder_open(u, name, true, err);
	}
	struct mindex_folder *f = xcalloc(1, sizeof(*f));
	f->u = u;
	f->name = xstrdup(inbox ? "INBOX" : name);
	f->path = path;
	f->readonly = true;
	f->uidvalidity = ul.uidvalidity;
	f->uidnext = ul.next_uid;
	folder_remember_uidlist(f, &ul);
	uidlist_clear(&ul);
	if (folder_keywords_refresh(f, NULL, err) < 0) {
		mindex_folder_close(&f);
		return NULL;
	}
	return f;
}

void mindex_folder_close(struct mindex_folder **fp)
{
	struct mindex_folder *f = *fp;
	if (f == NULL)
		return;
	*fp = NULL;
	folder_view_free(f->msgs, f->count);
	keywords_clear(f->keywords);
	free(f->name);
	free(f->path);
	free(f);
}

/* ---- opening a message ---- */

int folder_msg_refind(struct mindex_folder *f, struct mindex_msg *m,
		      struct error *err)
{
	struct array *entries;
	if (store_list(f->u->mbox, f->name, &entries, err) < 0)
		return -1;
	size_t bl = folder_base_len(m->name);
	int found = 0;
	for (size_t i = 0; i < array_len(entries); i++) {
		struct store_entry *e = array_get(entries, i);
		if (folder_base_len(e->name) != bl ||
		    strncmp(e->name, m->name, bl) != 0)
			continue;
		free((char *)m->name);
		m->name = xstrdup(e->name);
		m->in_new = e->in_new;
		found = 1;
		break;
	}
	store_entries_free(&entries);
	return found;
}

int mindex_msg_open(struct mindex_folder *f, uint32_t seq, int *fd_r,
		    struct error *err)
{
	if (seq == 0 || seq > f->count)
		return error_set(err, ERR_PERM, "no message %u", seq);
	struct mindex_msg *m = &f->msgs[seq - 1];
	if (m->expunged)
		return 0;
	char *path = mindex_msg_path(f, m);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT) {
		int r = mindex_errno(err, errno, "open", path);
		free(path);
		return r;
	}
	free(path);
	if (fd < 0) {
		/* renamed (flags) or moved new/ -> cur/ by someone else */
		int r = folder_msg_refind(f, m, err);
		if (r <= 0)
			return r;
		path = mindex_msg_path(f, m);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		free(path);
		if (fd < 0)
			return errno == ENOENT
				   ? 0
				   : error_set(err, ERR_TEMP, "open: %s",
					       strerror(errno));
	}
	*fd_r = fd;
	return 1;
}
