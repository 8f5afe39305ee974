/*
 * Listing a folder's files and numbering them: match files to
 * dovecot-uidlist records by base name (up to ':'), give new files UIDs
 * under the uidlist lock after re-reading the list (docs/index.md).
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

/* ---- scanning ---- */

void folder_scan_free(struct scan *s)
{
	store_entries_free(&s->entries);
	if (s->by_base != NULL)
		hash_free(&s->by_base);
	free(s->matched);
	memset(s, 0, sizeof(*s));
}

int folder_scan_dirs(struct mindex_folder *f, struct scan *s, struct error *err)
{
	memset(s, 0, sizeof(*s));
	if (store_list(f->u->mbox, f->name, &s->entries, err) < 0)
		return -1;
	size_t n = array_len(s->entries);
	s->by_base = hash_new(HASH_DEFAULT, NULL);
	s->matched = xcalloc(n + 1, sizeof(bool));
	for (size_t i = 0; i < n; i++) {
		struct store_entry *e = array_get(s->entries, i);
		char *b = folder_base_dup(e->name);
		/* the same base in new/ and cur/ (a crash mid-rename):
		 * cur/ wins, it sorts after... keep the first seen */
		if (!hash_contains(s->by_base, b))
			hash_put(s->by_base, b, (void *)(uintptr_t)(i + 1));
		free(b);
	}
	return 0;
}

struct store_entry *folder_scan_lookup(struct scan *s, const char *base,
				       size_t *idx_r)
{
	uintptr_t v = (uintptr_t)hash_get(s->by_base, base);
	if (v == 0)
		return NULL;
	*idx_r = v - 1;
	return array_get(s->entries, v - 1);
}

static void msg_fill(struct mindex_folder *f, struct mindex_msg *m,
		     uint32_t uid, const struct store_entry *e)
{
	memset(m, 0, sizeof(*m));
	m->uid = uid;
	m->name = xstrdup(e->name);
	m->in_new = e->in_new;
	struct store_name sn;
	if (store_name_parse(e->name, &sn, NULL) == 0) {
		m->flags = sn.flags;
		m->keywords = sn.keywords;
		m->size = sn.size;
		m->vsize = sn.vsize;
		if (sn.has_size && sn.has_vsize)
			return;
	}
	/* A file from elsewhere without S=/W=: measure it. */
	char *path = mindex_msg_path(f, m);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) == 0) {
		m->size = (uint64_t)st.st_size;
		m->mtime = st.st_mtime;
	}
	uint64_t lf = 0, vs = 0;
	char buf[65536], prev = '\0';
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] == '\n' && prev != '\r')
				lf++;
			prev = buf[i];
		}
		vs += (uint64_t)r;
	}
	close(fd);
	m->vsize = vs + lf;
}

/* The view from the uidlist and the listing: every record with a file. */
void folder_build_view(struct mindex_folder *f, struct uidlist *ul,
		       struct scan *s, struct mindex_msg **msgs_r,
		       uint32_t *count_r)
{
	struct mindex_msg *v = xcalloc(ul->count + 1, sizeof(*v));
	uint32_t n = 0;
	for (size_t i = 0; i < ul->count; i++) {
		size_t idx;
		struct store_entry *e =
		    folder_scan_lookup(s, ul->recs[i].base, &idx);
		if (e == NULL || s->matched[idx])
			continue;
		s->matched[idx] = true;
		msg_fill(f, &v[n++], ul->recs[i].uid, e);
	}
	*msgs_r = v;
	*count_r = n;
}

bool folder_scan_unmatched(struct uidlist *ul, struct scan *s)
{
	size_t n = array_len(s->entries);
	bool *seen = xcalloc(n + 1, sizeof(bool));
	size_t found = 0;
	for (size_t i = 0; i < ul->count; i++) {
		size_t idx;
		if (folder_scan_lookup(s, ul->recs[i].base, &idx) != NULL &&
		    !seen[idx]) {
			seen[idx] = true;
			found++;
		}
	}
	/* entries sharing a base count once */
	size_t distinct = hash_count(s->by_base);
	free(seen);
	return found < distinct;
}

/*
 * Give every listed file without a record a UID, under the lock, after
 * re-reading the list.  ul is replaced by the list as written.
 */
/*
 * Drop the records of expunged files when they are many (Dovecot does
 * the same when it rewrites the list): only records whose file is in
 * neither the scan nor a second listing taken under the lock, since
 * readdir may miss a file being renamed.  true when records were
 * dropped (the list must then be rewritten, not appended to).
 */
static bool compress(struct mindex_folder *f, struct uidlist *ul,
		     size_t old_count, struct scan *s)
{
	size_t stale = 0;
	for (size_t i = 0; i < old_count; i++)
		if (!hash_contains(s->by_base, ul->recs[i].base))
			stale++;
	if (stale < 100 || stale * 4 < ul->count)
		return false;
	struct scan s2;
	if (folder_scan_dirs(f, &s2, NULL) < 0)
		return false;
	size_t w = 0;
	for (size_t i = 0; i < ul->count; i++) {
		struct uidlist_rec *r = &ul->recs[i];
		if (i < old_count && !hash_contains(s->by_base, r->base) &&
		    !hash_contains(s2.by_base, r->base)) {
			free(r->base);
			free(r->ext);
			continue;
		}
		ul->recs[w++] = *r;
	}
	folder_scan_free(&s2);
	bool dropped = w != ul->count;
	ul->count = w;
	return dropped;
}

int folder_assign_new(struct mindex_folder *f, uint32_t prev_uidvalidity,
		      struct uidlist *ul, struct scan *s, struct error *err)
{
	int lockfd = mindex_dotlock(f->path, MINDEX_UIDLIST, err);
	if (lockfd < 0)
		return -1;
	int ret = uidlist_read(f->path, ul, err);
	if (ret < 0) {
		mindex_dotunlock(f->path, MINDEX_UIDLIST, lockfd);
		return -1;
	}
	bool recreate = ret == 0;
	if (recreate) {
		/* Lost or broken: new UIDVALIDITY, larger than the last. */
		uidlist_clear(ul);
		uint32_t uv = mindex_new_uidvalidity();
		if (uv <= prev_uidvalidity)
			uv = prev_uidvalidity + 1;
		ul->uidvalidity = uv;
	}
	size_t first_new = ul->count;
	struct hash *known = hash_new(HASH_DEFAULT, NULL);
	for (size_t i = 0; i < ul->count; i++)
		hash_put(known, ul->recs[i].base, (void *)1);
	size_t n = array_len(s->entries);
	for (size_t i = 0; i < n; i++) {
		struct store_entry *e = array_get(s->entries, i);
		char *b = folder_base_dup(e->name);
		if (!hash_contains(known, b)) {
			hash_put(known, b, (void *)1);
			uidlist_add(ul, ul->next_uid, b, NULL);
		}
		free(b);
	}
	hash_free(&known);
	bool compressed = !recreate && compress(f, ul, first_new, s);
	if (compressed)
		first_new = 0; /* rewrite it all */
	if (!recreate && !compressed && first_new == ul->count) {
		/* somebody else did it meanwhile */
		mindex_dotunlock(f->path, MINDEX_UIDLIST, lockfd);
		return 0;
	}
	if (!recreate && !compressed && ul->appendable) {
		ret = uidlist_append(f->path, ul, first_new, err);
		mindex_dotunlock(f->path, MINDEX_UIDLIST, lockfd);
	} else {
		ret = uidlist_write(f->path, lockfd, ul, err);
	}
	return ret;
}

void folder_remember_uidlist(struct mindex_folder *f, const struct uidlist *ul)
{
	f->ul_known = ul->appendable && ul->st.st_ino != 0;
	f->ul_ino = ul->st.st_ino;
	f->ul_len = ul->parsed_len;
	f->ul_next_uid = ul->next_uid;
	memcpy(f->ul_hdr, ul->hdr, sizeof(f->ul_hdr));
}

/*
 * Read the uidlist under the lock: only the records others appended
 * since this handle last saw it when possible (an APPEND to a folder of
 * 100,000 messages must not parse them all), else all of it.
 * ul_r->count == 0 and first_r == 0 for a tail read; the records read
 * are what may already hold our files.  1 read, 0 missing, -1 error.
 */
static int read_for_append(struct mindex_folder *f, struct uidlist *ul,
			   struct error *err)
{
	if (f->ul_known) {
		ul->next_uid = f->ul_next_uid;
		int r = uidlist_read_tail(f->path, ul, f->ul_len, f->ul_ino,
					  f->ul_hdr, err);
		if (r != 0)
			return r;
		uidlist_clear(ul);
	}
	return uidlist_read(f->path, ul, err);
}

int folder_assign_uids(struct mindex_folder *f, char *const *bases, size_t n,
		       uint32_t *uids_r, struct error *err)
{
	struct uidlist ul;
	uidlist_init(&ul);
	int lockfd = mindex_dotlock(f->path, MINDEX_UIDLIST, err);
	if (lockfd < 0)
		return -1;
	int ret = read_for_append(f, &ul, err);
	if (ret <= 0) {
		/* no list yet: the next sync creates it with these files */
		mindex_dotunlock(f->path, MINDEX_UIDLIST, lockfd);
		uidlist_clear(&ul);
		if (ret < 0)
			return -1;
		struct mindex_sync_result r;
		if (mindex_folder_sync(
			f, MINDEX_SYNC_NO_EXPUNGE | MINDEX_SYNC_FORCE, &r,
			err) < 0)
			return -1;
		mindex_sync_result_free(&r);
		lockfd = mindex_dotlock(f->path, MINDEX_UIDLIST, err);
		if (lockfd < 0)
			return -1;
		f->ul_known = false;
		if (uidlist_read(f->path, &ul, err) <= 0) {
			mindex_dotunlock(f->path, MINDEX_UIDLIST, lockfd);
			uidlist_clear(&ul);
			return error_set(err, ERR_TEMP, "cannot create %s",
					 MINDEX_UIDLIST);
		}
	}
	size_t first_new = ul.count;
	for (size_t i = 0; i < n; i++) {
		uids_r[i] = 0;
		for (size_t j = ul.count; j-- > 0;) {
			/* a sync elsewhere may have numbered it already */
			if (strcmp(ul.recs[j].base, bases[i]) == 0) {
				uids_r[i] = ul.recs[j].uid;
				break;
			}
		}
		if (uids_r[i] == 0) {
			uids_r[i] = ul.next_uid;
			uidlist_add(&ul, ul.next_uid, bases[i], NULL);
		}
	}
	if (first_new == ul.count) {
		mindex_dotunlock(f->path, MINDEX_UIDLIST, lockfd);
		ret = 0;
	} else if (ul.appendable) {
		ret = uidlist_append(f->path, &ul, first_new, err);
		mindex_dotunlock(f->path, MINDEX_UIDLIST, lockfd);
	} else {
		/* a partial last line: only a whole rewrite repairs it, and
		 * that needs every record */
		mindex_dotunlock(f->path, MINDEX_UIDLIST, lockfd);
		uidlist_clear(&ul);
		f->ul_known = false;
		lockfd = mindex_dotlock(f->path, MINDEX_UIDLIST, err);
		if (lockfd < 0)
			return -1;
		if (uidlist_read(f->path, &ul, err) < 0) {
			mindex_dotunlock(f->path, MINDEX_UIDLIST, lockfd);
			uidlist_clear(&ul);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			uids_r[i] = 0;
			for (size_t j = ul.count; j-- > 0;)
				if (strcmp(ul.recs[j].base, bases[i]) == 0) {
					uids_r[i] = ul.recs[j].uid;
					break;
				}
			if (uids_r[i] == 0) {
				uids_r[i] = ul.next_uid;
				uidlist_add(&ul, ul.next_uid, bases[i], NULL);
			}
		}
		ret = uidlist_write(f->path, lockfd, &ul, err);
	}
	if (ret == 0) {
		folder_remember_uidlist(f, &ul);
		if (ul.next_uid > f->uidnext)
			f->uidnext = ul.next_uid;
	} else {
		f->ul_known = false;
	}
	uidlist_clear(&ul);
	return ret;
}
