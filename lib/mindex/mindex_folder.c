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

char *folder_file_path(const struct mindex_folder *f, bool in_new,
		       const char *name)
{
	return xasprintf("%s/%s/%s", f->path, in_new ? "new" : "cur", name);
}

char *mindex_msg_path(const struct mindex_folder *f, const struct mindex_msg *m)
{
	return folder_file_path(f, m->in_new, m->name);
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
	return f->view != NULL ? f->view->count : 0;
}
uint32_t mindex_folder_recent(const struct mindex_folder *f)
{
	return f->recent_count;
}

const struct mindex_msg *mindex_msg(const struct mindex_folder *f, uint32_t seq)
{
	if (seq == 0 || seq > mindex_folder_count(f))
		return NULL;
	return fs_view_at(f->view, seq - 1);
}

uint32_t mindex_seq_of_uid_ge(const struct mindex_folder *f, uint32_t uid)
{
	return fs_view_ge(f->view, uid) + 1;
}

uint32_t mindex_seq_of_uid(const struct mindex_folder *f, uint32_t uid)
{
	int64_t i = fs_view_find(f->view, uid);
	return i < 0 ? 0 : (uint32_t)i + 1;
}

time_t mindex_msg_internaldate(struct mindex_folder *f, uint32_t seq)
{
	if (seq == 0 || seq > mindex_folder_count(f))
		return 0;
	/* The entry may be shared with other sessions: the cached mtime is
	 * the one field written without the lock (atomically; every
	 * writer stores the same value). */
	struct mindex_msg *m = fs_view_at(f->view, seq - 1);
	time_t t = __atomic_load_n(&m->mtime, __ATOMIC_RELAXED);
	if (t == 0) {
		int fd;
		if (mindex_msg_open(f, seq, &fd, NULL) == 1) {
			struct stat st;
			if (fstat(fd, &st) == 0)
				t = st.st_mtime;
			close(fd);
			__atomic_store_n(&m->mtime, t, __ATOMIC_RELAXED);
		}
	}
	return t;
}

size_t mindex_folder_private_bytes(const struct mindex_folder *f)
{
	if (f->fs == NULL || f->view == NULL)
		return 0;
	pthread_mutex_lock(&f->fs->lock);
	size_t n = 0;
	struct fs_view *v = f->view, *L = f->fs->latest;
	if (v != L) {
		n += sizeof(*v) + v->cap * sizeof(v->chunks[0]);
		for (uint32_t i = 0; i < v->nchunks; i++)
			if (L == NULL || i >= L->nchunks ||
			    v->chunks[i] != L->chunks[i])
				n += sizeof(struct fs_chunk);
	}
	pthread_mutex_unlock(&f->fs->lock);
	return n;
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

static int keyword_find(char *const names[MINDEX_KEYWORDS_MAX],
			const char *name)
{
	for (unsigned i = 0; i < MINDEX_KEYWORDS_MAX; i++)
		if (names[i] != NULL && strcasecmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

/* Look up (and create) name in the table names of dir (mtime: its). */
static int keyword_lookup_in(const char *dir, char *names[MINDEX_KEYWORDS_MAX],
			     struct timespec *mtime, const char *name,
			     bool create, bool *changed_r, struct error *err)
{
	int idx = keyword_find(names, name);
	if (idx >= 0)
		return idx;
	if (keywords_refresh(dir, names, mtime, changed_r, err) < 0)
		return -1;
	if ((idx = keyword_find(names, name)) >= 0)
		return idx;
	if (!create)
		return error_set_code(err, ERR_PERM, MINDEX_ERR_NOTFOUND,
				      "no keyword %s", name);
	if (name[0] == '\0' || name[0] == '\\' || strchr(name, ' ') != NULL ||
	    strchr(name, '\n') != NULL)
		return error_set_code(err, ERR_PERM, MINDEX_ERR_INVALID,
				      "invalid keyword");
	/* Dovecot changes dovecot-keywords only under the uidlist lock. */
	int lockfd = mindex_dotlock(dir, MINDEX_UIDLIST, err);
	if (lockfd < 0)
		return -1;
	int ret = keywords_read(dir, names, mtime, err);
	if (changed_r != NULL)
		*changed_r = true;
	idx = -1;
	if (ret == 0) {
		idx = keyword_find(names, name);
		for (unsigned i = 0; idx < 0 && i < MINDEX_KEYWORDS_MAX; i++)
			if (names[i] == NULL) {
				names[i] = xstrdup(name);
				if (keywords_write(dir, names, err) < 0) {
					free(names[i]);
					names[i] = NULL;
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
	mindex_dotunlock(dir, MINDEX_UIDLIST, lockfd);
	if (ret < 0)
		return -1;
	char *kp = xasprintf("%s/" MINDEX_KEYWORDS, dir);
	struct stat st;
	if (stat(kp, &st) == 0)
		*mtime = st.st_mtim;
	free(kp);
	return idx;
}

int mindex_keyword_lookup(struct mindex_folder *f, const char *name,
			  bool create, struct error *err)
{
	int idx = keyword_find(f->keywords, name);
	if (idx >= 0)
		return idx;
	if (f->fs == NULL)
		return keyword_lookup_in(f->path, f->keywords, &f->kw_mtime,
					 name, create, NULL, err);
	/* the shared table first, then this session's copy of it */
	struct fstate *fs = f->fs;
	pthread_mutex_lock(&fs->lock);
	bool changed = false;
	idx = keyword_lookup_in(fs->path, fs->keywords, &fs->kw_mtime, name,
				create, &changed, err);
	if (changed)
		fs->kw_gen++;
	if (idx >= 0) {
		keywords_copy(f->keywords, fs->keywords);
		f->kw_mtime = fs->kw_mtime;
		f->kw_gen = fs->kw_gen;
	}
	pthread_mutex_unlock(&fs->lock);
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
	fs_attach(f);
	struct mindex_sync_result r;
	if (mindex_folder_sync(f, 0, &r, err) < 0) {
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
	if (keywords_refresh(f->path, f->keywords, &f->kw_mtime, NULL, err) <
	    0) {
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
	fs_detach(f);
	free(f->recent);
	keywords_clear(f->keywords);
	free(f->name);
	free(f->path);
	free(f);
}

/* ---- opening a message ---- */

int folder_refind(struct mindex_folder *f, const char *name, char **name_r,
		  bool *in_new_r, struct error *err)
{
	struct array *entries;
	if (store_list(f->u->mbox, f->name, &entries, err) < 0)
		return -1;
	size_t bl = folder_base_len(name);
	int found = 0;
	for (size_t i = 0; i < array_len(entries); i++) {
		struct store_entry *e = array_get(entries, i);
		if (folder_base_len(e->name) != bl ||
		    strncmp(e->name, name, bl) != 0)
			continue;
		*name_r = xstrdup(e->name);
		*in_new_r = e->in_new;
		found = 1;
		break;
	}
	store_entries_free(&entries);
	return found;
}

int mindex_msg_open(struct mindex_folder *f, uint32_t seq, int *fd_r,
		    struct error *err)
{
	if (seq == 0 || seq > mindex_folder_count(f))
		return error_set(err, ERR_PERM, "no message %u", seq);
	const struct mindex_msg *m = fs_view_at(f->view, seq - 1);
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
		/* renamed (flags) or moved new/ -> cur/ since the view was
		 * made: the shared table may know the name already */
		char *nm = NULL;
		bool in_new = false;
		int r = 0;
		if (f->fs != NULL) {
			pthread_mutex_lock(&f->fs->lock);
			int64_t i = fs_view_find(f->fs->latest, m->uid);
			if (i >= 0) {
				const struct mindex_msg *l =
				    fs_view_at(f->fs->latest, (uint32_t)i);
				if (strcmp(l->name, m->name) != 0 ||
				    l->in_new != m->in_new) {
					nm = xstrdup(l->name);
					in_new = l->in_new;
					r = 1;
				}
			}
			pthread_mutex_unlock(&f->fs->lock);
		}
		if (r == 1) {
			path = folder_file_path(f, in_new, nm);
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			free(path);
			free(nm);
			nm = NULL;
		}
		if (fd < 0) {
			r = folder_refind(f, m->name, &nm, &in_new, err);
			if (r <= 0)
				return r;
			path = folder_file_path(f, in_new, nm);
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			free(path);
			free(nm);
		}
		if (fd < 0)
			return errno == ENOENT
				   ? 0
				   : error_set(err, ERR_TEMP, "open: %s",
					       strerror(errno));
	}
	*fd_r = fd;
	return 1;
}
