/*
 * Changes to a folder: flags (STORE), APPEND, COPY, EXPUNGE, and the
 * SQLite side of them (modseqs, expunge log, cached data).
 *
 * Order of work, so that a crash at any point leaves a state the next
 * sync repairs: the file change comes first (rename, link, unlink), the
 * index record second.  A sync that finds a file whose flags differ from
 * the recorded ones gives it a new modseq itself, and one that misses a
 * file logs the expunge itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/xmalloc.h"
#include "mindex_private.h"

/* ---- flags ---- */

struct store_change {
	uint32_t seq;	 /* in the session's view */
	uint32_t li;	 /* index in the shared table */
	char *name;	 /* new file name */
	uint32_t nf, nk; /* new flags */
};

/*
 * STORE under the folder's lock: the shared table has the current name
 * and flags of each message (another session's rename included), so the
 * new flags are computed from them; the table, SQLite and this session's
 * view are updated together, and other sessions of the process see the
 * change at their next sync without listing the folder.
 */
int mindex_store_flags(struct mindex_folder *f, const uint32_t *seqs, size_t n,
		       enum mindex_flags_mode mode, uint32_t flags,
		       uint32_t keywords, uint64_t unchangedsince,
		       enum mindex_store_result *results, struct error *err)
{
	if (f->readonly || f->fs == NULL)
		return error_set_code(err, ERR_PERM, MINDEX_ERR_READONLY,
				      "folder is read-only");
	struct fstate *fs = f->fs;
	struct store_change *ch = xcalloc(n + 1, sizeof(*ch));
	size_t nch = 0;
	int ret = 0;
	uint32_t count = mindex_folder_count(f);
	pthread_mutex_lock(&fs->lock);
	bool clean = fs_own_change_begin(fs);
	for (size_t i = 0; i < n; i++) {
		uint32_t seq = seqs[i];
		results[i] = MINDEX_STORE_EXPUNGED;
		if (seq == 0 || seq > count)
			continue;
		const struct mindex_msg *vm = fs_view_at(f->view, seq - 1);
		if (vm->expunged)
			continue;
		int64_t li = fs_view_find(fs->latest, vm->uid);
		if (li < 0)
			continue; /* expunged by another session */
		const struct mindex_msg *m =
		    fs_view_at(fs->latest, (uint32_t)li);
		if (unchangedsince != 0 && m->modseq > unchangedsince) {
			results[i] = MINDEX_STORE_CONFLICT;
			continue;
		}
		uint32_t nf = m->flags, nk = m->keywords;
		switch (mode) {
		case MINDEX_FLAGS_SET:
			nf = flags;
			nk = keywords;
			break;
		case MINDEX_FLAGS_ADD:
			nf |= flags;
			nk |= keywords;
			break;
		case MINDEX_FLAGS_REMOVE:
			nf &= ~flags;
			nk &= ~keywords;
			break;
		}
		if (nf == m->flags && nk == m->keywords) {
			results[i] = MINDEX_STORE_UNCHANGED;
			continue;
		}
		char newname[STORE_NAME_MAX];
		char *cur = xstrdup(m->name);
		bool in_new = m->in_new;
		int r = 0;
		for (int attempt = 0; attempt < 2 && r == 0; attempt++) {
			if (attempt > 0) {
				/* renamed by another program */
				char *nm;
				int fr =
				    folder_refind(f, cur, &nm, &in_new, err);
				if (fr < 0) {
					ret = -1;
					break;
				}
				if (fr == 0)
					break;
				free(cur);
				cur = nm;
			}
			r = store_set_flags(f->u->mbox, f->name, in_new, cur,
					    nf, nk, newname, err);
		}
		free(cur);
		if (ret < 0 || r < 0) {
			ret = -1;
			break;
		}
		if (r == 0)
			continue; /* expunged meanwhile */
		ch[nch].seq = seq;
		ch[nch].li = (uint32_t)li;
		ch[nch].name = xstrdup(newname);
		ch[nch].nf = nf;
		ch[nch].nk = nk;
		results[i] = MINDEX_STORE_CHANGED;
		nch++;
	}
	/* Even after an error, record what was renamed. */
	struct fs_mod *mods = xcalloc(nch + 1, sizeof(*mods));
	for (size_t k = 0; k < nch; k++) {
		const struct mindex_msg *m = fs_view_at(fs->latest, ch[k].li);
		mods[k].uid = m->uid;
		mods[k].flags = ch[k].nf;
		mods[k].keywords = ch[k].nk;
		mods[k].old_modseq = m->modseq;
	}
	struct error e2 = {0};
	int dr = fs_db_apply(fs, f, mods, nch, ret < 0 ? &e2 : err);
	if (dr < 0 && ret == 0)
		ret = -1;
	for (size_t k = 0; k < nch; k++) {
		/* the file has its new name whatever SQLite said; without a
		 * modseq the next full scan gives it one */
		uint64_t ms = dr == 0 ? mods[k].modseq_r : 0;
		struct mindex_msg *m = fs_view_mut(&fs->latest, ch[k].li);
		fs_msg_set_name(m, ch[k].name);
		m->in_new = false;
		m->flags = ch[k].nf;
		m->keywords = ch[k].nk;
		if (dr == 0)
			m->modseq = ms;
		struct mindex_msg *v = fs_view_mut(&f->view, ch[k].seq - 1);
		fs_msg_set_name(v, ch[k].name);
		v->in_new = false;
		v->flags = ch[k].nf;
		v->keywords = ch[k].nk;
		v->modseq = m->modseq;
		free(ch[k].name);
	}
	if (nch > 0) {
		fs->gen++;
		fs_own_change_end(fs, clean && dr == 0);
		if (dr < 0)
			fs->snap_valid = false;
	}
	if (fs->highestmodseq > f->highestmodseq)
		f->highestmodseq = fs->highestmodseq;
	pthread_mutex_unlock(&fs->lock);
	free(mods);
	free(ch);
	return ret;
}

/* A message this process just numbered (APPEND, COPY) goes into the
 * shared table of its folder, if some session of the process has it. */
static void share_new(struct mindex_folder *f, const struct mindex_msg *m)
{
	struct fstate *fs = f->fs;
	if (fs == NULL && (fs = fs_lookup(f->path)) == NULL)
		return;
	pthread_mutex_lock(&fs->lock);
	struct error e = {0};
	if (fs_insert_msg(fs, f, m, &e) < 0)
		fs->snap_valid = false; /* the next sync finds it itself */
	pthread_mutex_unlock(&fs->lock);
	if (fs != f->fs)
		fs_release(fs);
}

/* ---- writing a new file ---- */

static void host_part(char *out, size_t len)
{
	char host[256];
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	store_name_escape_host(host, out, len);
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Quota check for n more messages of `bytes` in total. */
static int quota_check(struct mindex_user *u, const struct store_quota *q,
		       uint64_t bytes, uint64_t n, struct error *err)
{
	if (q == NULL || (q->bytes == 0 && q->messages == 0))
		return 0;
	struct store_usage us;
	if (store_usage(u->mbox, q, &us, err) < 0)
		return -1;
	if ((q->bytes != 0 && us.bytes + bytes > q->bytes) ||
	    (q->messages != 0 && us.messages + n > q->messages))
		return error_set_code(err, ERR_PERM, STORE_ERR_QUOTA,
				      "Quota exceeded");
	return 0;
}

/*
 * Copy the input into tmp/NAME converting CRLF to LF; returns the fd
 * (positioned at the end) with the sizes, or -1.
 */
static int write_tmp(struct mindex_folder *f, struct store_input *in,
		     const char *unique, uint64_t *size_r, uint64_t *vsize_r,
		     struct error *err)
{
	char *tmp = xasprintf("%s/tmp/%s", f->path, unique);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		      MINDEX_FILE_MODE);
	if (fd < 0) {
		int r = mindex_errno(err, errno, "create", tmp);
		free(tmp);
		return r;
	}
	uint64_t size = 0, lfs = 0;
	bool pending_cr = false;
	char prev = '\0';
	char ibuf[65536], obuf[65536 + 1];
	int ret = 0;
	for (;;) {
		ssize_t n = in->read(in->ctx, ibuf, sizeof(ibuf), err);
		if (n < 0) {
			ret = -1;
			break;
		}
		size_t o = 0;
		if (n == 0) {
			if (pending_cr) {
				obuf[o++] = '\r';
				prev = '\r';
			}
		}
		for (ssize_t i = 0; i < n; i++) {
			char c = ibuf[i];
			if (pending_cr) {
				pending_cr = false;
				if (c != '\n') {
					obuf[o++] = '\r';
					prev = '\r';
				}
			}
			if (c == '\r') {
				pending_cr = true;
				continue;
			}
			if (c == '\n' && prev != '\r')
				lfs++;
			obuf[o++] = c;
			prev = c;
		}
		if (o > 0 && write_all(fd, obuf, o) < 0) {
			ret = mindex_errno(err, errno, "write", tmp);
			break;
		}
		size += o;
		if (n == 0)
			break;
	}
	if (ret == 0 && fsync(fd) < 0)
		ret = mindex_errno(err, errno, "fsync", tmp);
	if (ret < 0) {
		close(fd);
		(void)unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	*size_r = size;
	*vsize_r = size + lfs;
	return fd;
}

int mindex_append(struct mindex_folder *f, struct store_input *in,
		  uint32_t flags, uint32_t keywords, time_t internaldate,
		  const struct store_quota *quota, uint32_t *uid_r,
		  struct error *err)
{
	if (quota_check(f->u, quota, in->size_hint, 1, err) < 0)
		return -1;
	char host[65], unique[STORE_UNIQUE_MAX];
	host_part(host, sizeof(host));
	store_name_unique(host, unique, sizeof(unique));
	uint64_t size, vsize;
	int fd = write_tmp(f, in, unique, &size, &vsize, err);
	if (fd < 0)
		return -1;
	char *tmp = xasprintf("%s/tmp/%s", f->path, unique);
	int ret = 0;
	if (in->size_hint == 0 || size > in->size_hint)
		ret = quota_check(f->u, quota, size, 1, err);
	if (ret == 0 && internaldate > 0) {
		struct timespec ts[2] = {{internaldate, 0}, {internaldate, 0}};
		if (futimens(fd, ts) < 0)
			ret = mindex_errno(err, errno, "futimens", tmp);
	}
	close(fd);
	char base[STORE_NAME_MAX], name[STORE_NAME_MAX];
	int bl = snprintf(base, sizeof(base), "%s,S=%llu,W=%llu", unique,
			  (unsigned long long)size, (unsigned long long)vsize);
	if (ret == 0 &&
	    (bl < 0 || (size_t)bl >= sizeof(base) ||
	     store_name_with_flags(base, (size_t)bl, flags, keywords, name,
				   sizeof(name), err) < 0))
		ret = -1;
	char *dst = NULL;
	if (ret == 0) {
		dst = xasprintf("%s/cur/%s", f->path, name);
		/* link: never replaces an existing file */
		if (link(tmp, dst) < 0)
			ret = mindex_errno(err, errno, "link", dst);
	}
	(void)unlink(tmp);
	free(tmp);
	if (ret == 0) {
		char *cur = xasprintf("%s/cur", f->path);
		(void)fs_fsync_dir(cur, NULL);
		free(cur);
		char *b = base;
		uint32_t uid;
		if (folder_assign_uids(f, &b, 1, &uid, err) < 0) {
			(void)unlink(dst);
			ret = -1;
		} else {
			*uid_r = uid;
			(void)store_usage_add(f->u->mbox, (int64_t)size, 1,
					      NULL);
			struct mindex_msg m = {.uid = uid,
					       .flags = flags,
					       .keywords = keywords,
					       .size = size,
					       .vsize = vsize,
					       .name = name,
					       .mtime = internaldate};
			share_new(f, &m);
		}
	}
	free(dst);
	return ret;
}

/* ---- copy ---- */

static int copy_file(const char *src, const char *dst, struct error *err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return errno == ENOENT ? 0
				       : mindex_errno(err, errno, "open", src);
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		       MINDEX_FILE_MODE);
	if (out < 0) {
		int r = mindex_errno(err, errno, "create", dst);
		close(in);
		return r;
	}
	char buf[65536];
	ssize_t n;
	int ret = 1;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write_all(out, buf, (size_t)n) < 0) {
			ret = mindex_errno(err, errno, "write", dst);
			break;
		}
	if (n < 0 && ret == 1)
		ret = mindex_errno(err, errno, "read", src);
	struct stat st;
	if (ret == 1 && fstat(in, &st) == 0) {
		struct timespec ts[2] = {st.st_atim, st.st_mtim};
		(void)futimens(out, ts);
	}
	if (ret == 1 && fsync(out) < 0)
		ret = mindex_errno(err, errno, "fsync", dst);
	close(in);
	close(out);
	if (ret < 0)
		(void)unlink(dst);
	return ret;
}

int mindex_copy(struct mindex_folder *src, const uint32_t *seqs, size_t n,
		struct mindex_folder *dst, const struct store_quota *quota,
		uint32_t *uids_r, struct error *err)
{
	if (src == dst || strcmp(src->path, dst->path) == 0)
		return error_set_code(err, ERR_PERM, MINDEX_ERR_INVALID,
				      "copy into the same folder");
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		uids_r[i] = 0;
		const struct mindex_msg *m = mindex_msg(src, seqs[i]);
		if (m != NULL)
			total += m->size;
	}
	if (quota_check(src->u, quota, total, n, err) < 0)
		return -1;
	int kwmap[MINDEX_KEYWORDS_MAX];
	for (unsigned k = 0; k < MINDEX_KEYWORDS_MAX; k++)
		kwmap[k] = -2; /* not looked up yet */
	char host[65];
	host_part(host, sizeof(host));
	char **bases = xcalloc(n + 1, sizeof(char *));
	char **paths = xcalloc(n + 1, sizeof(char *));
	size_t *idx = xcalloc(n + 1, sizeof(size_t));
	struct mindex_msg *news = xcalloc(n + 1, sizeof(*news));
	size_t made = 0;
	int64_t bytes = 0;
	int ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		const struct mindex_msg *m = mindex_msg(src, seqs[i]);
		if (m == NULL)
			continue;
		if (m->expunged)
			continue;
		uint32_t kw = 0;
		for (unsigned k = 0; k < MINDEX_KEYWORDS_MAX; k++) {
			if ((m->keywords & (1u << k)) == 0 ||
			    src->keywords[k] == NULL)
				continue;
			if (kwmap[k] == -2) {
				struct error ke = {0};
				kwmap[k] = mindex_keyword_lookup(
				    dst, src->keywords[k], true, &ke);
				if (kwmap[k] < 0 &&
				    !mindex_err_is(&ke, MINDEX_ERR_LIMIT) &&
				    !mindex_err_is(&ke, MINDEX_ERR_INVALID)) {
					if (err != NULL)
						*err = ke;
					ret = -1;
					break;
				}
			}
			if (kwmap[k] >= 0)
				kw |= 1u << kwmap[k];
		}
		if (ret < 0)
			break;
		/* new unique part, the same ,S=,W= fields */
		char unique[STORE_UNIQUE_MAX], base[STORE_NAME_MAX],
		    name[STORE_NAME_MAX];
		store_name_unique(host, unique, sizeof(unique));
		struct store_name sn;
		const char *fields = "";
		size_t flen = 0;
		if (store_name_parse(m->name, &sn, NULL) == 0) {
			fields = m->name + sn.unique_len;
			flen = sn.base_len - sn.unique_len;
		}
		int bl;
		if (flen > 0)
			bl = snprintf(base, sizeof(base), "%s%.*s", unique,
				      (int)flen, fields);
		else
			bl = snprintf(base, sizeof(base), "%s,S=%llu,W=%llu",
				      unique, (unsigned long long)m->size,
				      (unsigned long long)m->vsize);
		if (bl < 0 || (size_t)bl >= sizeof(base) ||
		    store_name_with_flags(base, (size_t)bl, m->flags, kw, name,
					  sizeof(name), err) < 0) {
			ret = -1;
			break;
		}
		char *dpath = xasprintf("%s/cur/%s", dst->path, name);
		int done = 0;
		char *sname = xstrdup(m->name);
		bool s_new = m->in_new;
		for (int attempt = 0; attempt < 2 && done == 0; attempt++) {
			if (attempt > 0) {
				/* renamed by another session or program */
				char *nm;
				if (folder_refind(src, sname, &nm, &s_new,
						  err) <= 0)
					break;
				free(sname);
				sname = nm;
			}
			char *spath = folder_file_path(src, s_new, sname);
			if (link(spath, dpath) == 0) {
				done = 1;
			} else if (errno == ENOENT) {
				done = 0;
			} else if (errno == EXDEV || errno == EPERM ||
				   errno == EMLINK || errno == ENOTSUP) {
				done = copy_file(spath, dpath, err);
				if (done < 0)
					ret = -1;
			} else {
				ret = mindex_errno(err, errno, "link", dpath);
				done = -1;
			}
			free(spath);
		}
		free(sname);
		if (done == 1) {
			news[made] = (struct mindex_msg){.flags = m->flags,
							 .keywords = kw,
							 .size = m->size,
							 .vsize = m->vsize,
							 .name = xstrdup(name)};
			bases[made] = xstrdup(base);
			paths[made] = dpath;
			idx[made] = i;
			made++;
			bytes += (int64_t)m->size;
		} else {
			free(dpath);
		}
	}
	if (ret == 0 && made > 0) {
		char *cur = xasprintf("%s/cur", dst->path);
		(void)fs_fsync_dir(cur, NULL);
		free(cur);
		uint32_t *uids = xcalloc(made, sizeof(uint32_t));
		if (folder_assign_uids(dst, bases, made, uids, err) < 0)
			ret = -1;
		for (size_t k = 0; ret == 0 && k < made; k++) {
			uids_r[idx[k]] = uids[k];
			news[k].uid = uids[k];
			share_new(dst, &news[k]);
		}
		free(uids);
	}
	if (ret < 0)
		for (size_t k = 0; k < made; k++)
			(void)unlink(paths[k]);
	else if (made > 0)
		(void)store_usage_add(dst->u->mbox, bytes, (int64_t)made, NULL);
	for (size_t k = 0; k < made; k++) {
		free(bases[k]);
		free(paths[k]);
		free((char *)news[k].name);
	}
	free(news);
	free(bases);
	free(paths);
	free(idx);
	return ret;
}

/* ---- expunge ---- */

/*
 * EXPUNGE under the folder's lock: unlink (by the shared table's current
 * name), log in SQLite, drop from the shared table; this session's view
 * keeps the messages marked expunged until its next sync reports them.
 */
int mindex_expunge(struct mindex_folder *f, const uint32_t *seqs, size_t n,
		   struct error *err)
{
	if (f->readonly || f->fs == NULL)
		return error_set_code(err, ERR_PERM, MINDEX_ERR_READONLY,
				      "folder is read-only");
	struct fstate *fs = f->fs;
	struct fs_mod *mods = xcalloc(n + 1, sizeof(*mods));
	size_t nm = 0;
	int64_t bytes = 0;
	int ret = 0;
	uint32_t count = mindex_folder_count(f);
	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < n && ret == 0; i++) {
		if (seqs[i] == 0 || seqs[i] > count)
			continue;
		const struct mindex_msg *vm = fs_view_at(f->view, seqs[i] - 1);
		if (vm->expunged)
			continue;
		int64_t li = fs_view_find(fs->latest, vm->uid);
		if (li >= 0) {
			const struct mindex_msg *m =
			    fs_view_at(fs->latest, (uint32_t)li);
			char *name = xstrdup(m->name);
			bool in_new = m->in_new;
			for (int attempt = 0; attempt < 2; attempt++) {
				if (attempt > 0) {
					char *nm2;
					int r = folder_refind(f, name, &nm2,
							      &in_new, err);
					if (r < 0)
						ret = -1;
					if (r <= 0)
						break; /* gone already */
					free(name);
					name = nm2;
				}
				char *p = folder_file_path(f, in_new, name);
				int e = unlink(p) == 0 ? 0 : errno;
				if (e == 0)
					bytes += (int64_t)m->size;
				else if (e != ENOENT)
					ret = mindex_errno(err, e, "unlink", p);
				free(p);
				if (e != ENOENT)
					break;
			}
			free(name);
			if (ret < 0)
				break;
			mods[nm].uid = vm->uid;
			mods[nm].expunge = true;
			nm++;
		}
		struct mindex_msg *w = fs_view_mut(&f->view, seqs[i] - 1);
		w->expunged = true;
		f->maybe_expunged = true;
	}
	if (nm > 0) {
		struct error e2 = {0};
		if (fs_db_apply(fs, f, mods, nm, ret < 0 ? &e2 : err) < 0 &&
		    ret == 0)
			ret = -1;
		/* out of the shared table (the files are gone either way) */
		struct fs_view *L = fs->latest;
		struct mindex_msg *a = xcalloc(L->count + 1, sizeof(*a));
		uint32_t k = 0;
		size_t x = 0;
		/* mods[] is in the order of seqs[]: mark by lookup */
		uint8_t *drop = xcalloc(L->count + 1, 1);
		for (size_t q = 0; q < nm; q++) {
			int64_t li = fs_view_find(L, mods[q].uid);
			if (li >= 0)
				drop[li] = 1;
		}
		for (uint32_t i = 0; i < L->count; i++) {
			if (drop[i]) {
				x++;
				continue;
			}
			const struct mindex_msg *m = fs_view_at(L, i);
			a[k] = *m;
			a[k].name = xstrdup(m->name);
			a[k].mtime =
			    __atomic_load_n(&m->mtime, __ATOMIC_RELAXED);
			k++;
		}
		free(drop);
		fs_view_unref(&fs->latest);
		fs->latest = fs_view_from_array(a, k);
		fs->gen++;
		if (fs->highestmodseq > f->highestmodseq)
			f->highestmodseq = fs->highestmodseq;
		if (bytes != 0 || x > 0)
			(void)store_usage_add(f->u->mbox, -bytes, -(int64_t)x,
					      NULL);
	}
	pthread_mutex_unlock(&fs->lock);
	free(mods);
	return ret;
}

int mindex_expunged_since(struct mindex_folder *f, uint64_t modseq,
			  uint32_t **uids_r, size_t *count_r, struct error *err)
{
	*uids_r = NULL;
	*count_r = 0;
	sqlite3 *db = mindex_db_open(f->u, err);
	if (db == NULL)
		return -1;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT uid FROM expunged WHERE folder = ?"
				    " AND modseq > ? ORDER BY uid",
				    -1, &st, NULL);
	if (rc != SQLITE_OK) {
		mindex_db_error(db, rc, "prepare", err);
		mindex_db_close(db);
		return -1;
	}
	sqlite3_bind_int64(st, 1, f->db_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)modseq);
	uint32_t *uids = NULL;
	size_t cnt = 0, cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			uids = xreallocarray(uids, cap, sizeof(uint32_t));
		}
		uids[cnt++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	mindex_db_close(db);
	if (rc != SQLITE_DONE) {
		free(uids);
		return error_set(err, ERR_TEMP, "index: reading expunges");
	}
	*uids_r = uids;
	*count_r = cnt;
	return modseq >= f->log_start ? 1 : 0;
}

/* ---- cached data ---- */

int mindex_cache_get(struct mindex_folder *f, uint32_t uid, const char *field,
		     struct buf *out, struct error *err)
{
	sqlite3 *db = mindex_db_open(f->u, err);
	if (db == NULL)
		return -1;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT value FROM cache WHERE folder = ?"
				    " AND uid = ? AND field = ?",
				    -1, &st, NULL);
	int ret;
	if (rc != SQLITE_OK) {
		ret = mindex_db_error(db, rc, "prepare", err);
	} else {
		sqlite3_bind_int64(st, 1, f->db_id);
		sqlite3_bind_int64(st, 2, uid);
		sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const void *v = sqlite3_column_blob(st, 0);
			int len = sqlite3_column_bytes(st, 0);
			if (len > 0)
				buf_append(out, v, (size_t)len);
			ret = 1;
		} else if (rc == SQLITE_DONE) {
			ret = 0;
		} else {
			ret = mindex_db_error(db, rc, "cache get", err);
		}
	}
	sqlite3_finalize(st);
	mindex_db_close(db);
	return ret;
}

int mindex_cache_put(struct mindex_folder *f, uint32_t uid, const char *field,
		     const void *data, size_t len, struct error *err)
{
	sqlite3 *db = mindex_db_open(f->u, err);
	if (db == NULL)
		return -1;
	sqlite3_stmt *st = NULL;
	/* only for a message the index knows (not one expunged meanwhile) */
	int rc = sqlite3_prepare_v2(db,
				    "INSERT OR REPLACE INTO cache(folder, uid,"
				    " field, value) SELECT ?, ?, ?, ?"
				    " WHERE EXISTS (SELECT 1 FROM msgs"
				    " WHERE folder = ?1 AND uid = ?2)",
				    -1, &st, NULL);
	int ret = 0;
	if (rc != SQLITE_OK) {
		ret = mindex_db_error(db, rc, "prepare", err);
	} else {
		sqlite3_bind_int64(st, 1, f->db_id);
		sqlite3_bind_int64(st, 2, uid);
		sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, len > 0 ? data : "", (int)len,
				  SQLITE_STATIC);
		if ((rc = sqlite3_step(st)) != SQLITE_DONE)
			ret = mindex_db_error(db, rc, "cache put", err);
	}
	sqlite3_finalize(st);
	mindex_db_close(db);
	return ret;
}
