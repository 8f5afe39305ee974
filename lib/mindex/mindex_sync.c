/*
 * The sync of a folder's view with the disk.
 *
 * Sync (docs/index.md):
 *   1. stat new/, cur/, dovecot-uidlist, dovecot-keywords; when none
 *      changed since the last scan (nanosecond mtimes, and only trusted
 *      when older than 2 s, since a file system tick can hide a second
 *      change) nothing else is read: a NOOP is four stat() calls.
 *   2. list new/ and cur/; match files to dovecot-uidlist records by
 *      their base name (up to ':'); files without a record get UIDs
 *      under the uidlist lock after re-reading the list (the authority).
 *   3. compare with the previous view: expunged (confirmed by a second
 *      listing, readdir can miss a file being renamed), new, changed.
 *   4. record it in SQLite: modseqs of new and changed messages (one new
 *      modseq per sync), the expunge log, and \Recent ownership.
 *   5. a read-write session moves new/ files to cur/ (Dovecot does).
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

/* mtimes this close to "now" are not trusted to detect the next change */
#define SNAP_TRUST_SECS 2

/* ---- the SQLite part of a sync ---- */

struct row {
	uint32_t uid;
	uint64_t modseq;
	uint32_t flags, keywords;
};

static int load_rows(sqlite3 *db, int64_t id, struct row **rows_r, size_t *n_r,
		     struct error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
				    "SELECT uid, modseq, flags, keywords"
				    " FROM msgs WHERE folder = ? ORDER BY uid",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mindex_db_error(db, rc, "prepare", err);
	sqlite3_bind_int64(st, 1, id);
	struct row *rows = NULL;
	size_t n = 0, cap = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			rows = xreallocarray(rows, cap, sizeof(*rows));
		}
		rows[n].uid = (uint32_t)sqlite3_column_int64(st, 0);
		rows[n].modseq = (uint64_t)sqlite3_column_int64(st, 1);
		rows[n].flags = (uint32_t)sqlite3_column_int64(st, 2);
		rows[n].keywords = (uint32_t)sqlite3_column_int64(st, 3);
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(rows);
		return mindex_db_error(db, rc, "load", err);
	}
	*rows_r = rows;
	*n_r = n;
	return 0;
}

static int db_sync_once(struct mindex_folder *f, struct mindex_msg *v,
			uint32_t n, struct error *err)
{
	sqlite3 *db = mindex_db_open(f->u, err);
	if (db == NULL)
		return -1;
	int ret = -1;
	struct row *rows = NULL;
	size_t nrows = 0;
	sqlite3_stmt *up = NULL, *del = NULL, *exp = NULL, *cdel = NULL;
	uint64_t hms, log_start;
	uint32_t recent_uid;
	int64_t id;
	if (mindex_db_exec(db, "BEGIN IMMEDIATE", err) < 0)
		goto out;
	if (mindex_db_folder(db, f->name, f->uidvalidity, &id, &hms, &log_start,
			     &recent_uid, err) < 0 ||
	    load_rows(db, id, &rows, &nrows, err) < 0)
		goto out;
	int rc;
	if ((rc = sqlite3_prepare_v2(db,
				     "INSERT OR REPLACE INTO msgs(folder, uid,"
				     " modseq, flags, keywords)"
				     " VALUES (?, ?, ?, ?, ?)",
				     -1, &up, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(db,
				     "DELETE FROM msgs WHERE folder = ?"
				     " AND uid = ?",
				     -1, &del, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(db,
				     "INSERT OR IGNORE INTO expunged(folder,"
				     " uid, modseq) VALUES (?, ?, ?)",
				     -1, &exp, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_prepare_v2(db,
				     "DELETE FROM cache WHERE folder = ?"
				     " AND uid = ?",
				     -1, &cdel, NULL)) != SQLITE_OK) {
		mindex_db_error(db, rc, "prepare", err);
		goto out;
	}
	uint64_t bump = hms + 1;
	bool used = false;
	size_t r = 0;
	for (uint32_t i = 0; i <= n; i++) {
		/* rows before this message's uid are gone from the view */
		uint32_t uid = i < n ? v[i].uid : UINT32_MAX;
		while (r < nrows && rows[r].uid < uid) {
			sqlite3_stmt *sts[3] = {del, exp, cdel};
			for (int k = 0; k < 3; k++) {
				sqlite3_reset(sts[k]);
				sqlite3_bind_int64(sts[k], 1, id);
				sqlite3_bind_int64(sts[k], 2, rows[r].uid);
			}
			sqlite3_bind_int64(exp, 3, (sqlite3_int64)bump);
			for (int k = 0; k < 3; k++)
				if ((rc = sqlite3_step(sts[k])) !=
				    SQLITE_DONE) {
					mindex_db_error(db, rc, "expunge", err);
					goto out;
				}
			used = true;
			r++;
		}
		if (i == n)
			break;
		struct mindex_msg *m = &v[i];
		if (m->expunged) {
			/* still shown, but gone: log it now */
			if (r < nrows && rows[r].uid == m->uid)
				continue; /* handled when it leaves the view */
			continue;
		}
		if (r < nrows && rows[r].uid == m->uid &&
		    rows[r].flags == m->flags &&
		    rows[r].keywords == m->keywords) {
			m->modseq = rows[r].modseq;
			r++;
			continue;
		}
		if (r < nrows && rows[r].uid == m->uid)
			r++;
		m->modseq = bump;
		used = true;
		sqlite3_reset(up);
		sqlite3_bind_int64(up, 1, id);
		sqlite3_bind_int64(up, 2, m->uid);
		sqlite3_bind_int64(up, 3, (sqlite3_int64)bump);
		sqlite3_bind_int64(up, 4, m->flags);
		sqlite3_bind_int64(up, 5, m->keywords);
		if ((rc = sqlite3_step(up)) != SQLITE_DONE) {
			mindex_db_error(db, rc, "update", err);
			goto out;
		}
	}
	if (used)
		hms = bump;
	/* \Recent: the first read-write session to see a UID owns it. */
	uint32_t new_recent_uid = recent_uid;
	if (!f->readonly) {
		for (uint32_t i = 0; i < n; i++)
			if (v[i].uid >= recent_uid && !v[i].expunged)
				v[i].recent = true;
		if (f->uidnext > new_recent_uid)
			new_recent_uid = f->uidnext;
	}
	if (mindex_db_folder_set(db, id, hms, new_recent_uid, err) < 0 ||
	    mindex_db_exec(db, "COMMIT", err) < 0)
		goto out;
	f->db_id = id;
	f->db_recent_uid = recent_uid;
	f->highestmodseq = hms;
	f->log_start = log_start;
	ret = 0;
out:
	sqlite3_finalize(up);
	sqlite3_finalize(del);
	sqlite3_finalize(exp);
	sqlite3_finalize(cdel);
	free(rows);
	mindex_db_close(db);
	return ret;
}

static int db_sync(struct mindex_folder *f, struct mindex_msg *v, uint32_t n,
		   struct error *err)
{
	struct error e = {0};
	if (db_sync_once(f, v, n, &e) == 0)
		return 0;
	if (mindex_db_is_corrupt(&e)) {
		mindex_db_remove(f->u);
		error_clear(&e);
		if (db_sync_once(f, v, n, &e) == 0)
			return 0;
	}
	if (err != NULL)
		*err = e;
	return -1;
}

/* ---- sync ---- */

static void stat_mtime(const char *path, struct timespec *ts, ino_t *ino,
		       off_t *size)
{
	struct stat st;
	if (stat(path, &st) == 0) {
		*ts = st.st_mtim;
		if (ino != NULL)
			*ino = st.st_ino;
		if (size != NULL)
			*size = st.st_size;
	} else {
		ts->tv_sec = 0;
		ts->tv_nsec = 0;
		if (ino != NULL)
			*ino = 0;
		if (size != NULL)
			*size = 0;
	}
}

struct snap {
	struct timespec n, c, ul, kw;
	ino_t ul_ino;
	off_t ul_size;
};

static void take_snap(struct mindex_folder *f, struct snap *s)
{
	char *p = xasprintf("%s/new", f->path);
	stat_mtime(p, &s->n, NULL, NULL);
	free(p);
	p = xasprintf("%s/cur", f->path);
	stat_mtime(p, &s->c, NULL, NULL);
	free(p);
	p = xasprintf("%s/" MINDEX_UIDLIST, f->path);
	stat_mtime(p, &s->ul, &s->ul_ino, &s->ul_size);
	free(p);
	p = xasprintf("%s/" MINDEX_KEYWORDS, f->path);
	stat_mtime(p, &s->kw, NULL, NULL);
	free(p);
}

static bool snap_same(const struct mindex_folder *f, const struct snap *s)
{
	return f->snap_valid && folder_ts_eq(&s->n, &f->snap_new) &&
	       folder_ts_eq(&s->c, &f->snap_cur) &&
	       folder_ts_eq(&s->ul, &f->snap_uidlist) &&
	       folder_ts_eq(&s->kw, &f->snap_kw) &&
	       s->ul_ino == f->snap_uidlist_ino &&
	       s->ul_size == f->snap_uidlist_size;
}

static void set_snap(struct mindex_folder *f, const struct snap *s)
{
	time_t now = time(NULL);
	f->snap_new = s->n;
	f->snap_cur = s->c;
	f->snap_uidlist = s->ul;
	f->snap_kw = s->kw;
	f->snap_uidlist_ino = s->ul_ino;
	f->snap_uidlist_size = s->ul_size;
	f->snap_valid = now - s->n.tv_sec > SNAP_TRUST_SECS &&
			now - s->c.tv_sec > SNAP_TRUST_SECS &&
			now - s->ul.tv_sec > SNAP_TRUST_SECS &&
			now - s->kw.tv_sec > SNAP_TRUST_SECS;
}

void mindex_sync_result_free(struct mindex_sync_result *r)
{
	free(r->expunged_seqs);
	free(r->expunged_uids);
	free(r->changed_seqs);
	memset(r, 0, sizeof(*r));
}

static void push_u32(uint32_t **a, size_t *n, uint32_t v)
{
	/* capacity: 16, then doubling at each power of two */
	if (*n == 0)
		*a = xreallocarray(*a, 16, sizeof(uint32_t));
	else if (*n >= 16 && (*n & (*n - 1)) == 0)
		*a = xreallocarray(*a, *n * 2, sizeof(uint32_t));
	(*a)[(*n)++] = v;
}

static void push_expunged(struct mindex_sync_result *r, uint32_t seq,
			  uint32_t uid)
{
	size_t k = r->expunged_count;
	push_u32(&r->expunged_uids, &k, uid);
	push_u32(&r->expunged_seqs, &r->expunged_count, seq);
}

static void count_recent(struct mindex_folder *f)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < f->count; i++)
		if (f->msgs[i].recent && !f->msgs[i].expunged)
			n++;
	f->recent_count = n;
}

/* Drop messages marked expunged from the view, reporting them. */
static void drop_expunged(struct mindex_folder *f, struct mindex_sync_result *r)
{
	uint32_t w = 0;
	for (uint32_t i = 0; i < f->count; i++) {
		if (f->msgs[i].expunged) {
			push_expunged(r, i + 1, f->msgs[i].uid);
			folder_msg_free(&f->msgs[i]);
			continue;
		}
		f->msgs[w++] = f->msgs[i];
	}
	f->count = w;
}

static int move_new_to_cur(struct mindex_folder *f)
{
	for (uint32_t i = 0; i < f->count; i++) {
		struct mindex_msg *m = &f->msgs[i];
		if (!m->in_new || m->expunged)
			continue;
		char newname[STORE_NAME_MAX];
		struct error e = {0};
		int r = store_set_flags(f->u->mbox, f->name, true, m->name,
					m->flags, m->keywords, newname, &e);
		if (r == 1) {
			free((char *)m->name);
			m->name = xstrdup(newname);
			m->in_new = false;
		}
	}
	return 0;
}

static int sync_full(struct mindex_folder *f, unsigned flags,
		     struct mindex_sync_result *r, const struct snap *sn,
		     struct error *err)
{
	bool kw_changed = false;
	if (folder_keywords_refresh(f, &kw_changed, err) < 0)
		return -1;
	r->keywords_changed = kw_changed;

	struct scan s;
	if (folder_scan_dirs(f, &s, err) < 0)
		return -1;
	struct uidlist ul;
	uidlist_init(&ul);
	int ret = uidlist_read(f->path, &ul, err);
	if (ret < 0)
		goto fail;
	if (ret == 0) {
		/* deleted (or renamed) by another session under our view */
		struct stat st;
		char *cur = xasprintf("%s/cur", f->path);
		bool gone = stat(cur, &st) < 0 && errno == ENOENT;
		free(cur);
		if (gone) {
			error_set_code(err, ERR_PERM, MINDEX_ERR_NOTFOUND,
				       "folder %s no longer exists", f->name);
			goto fail;
		}
	}
	if (ret == 0 || folder_scan_unmatched(&ul, &s)) {
		if (folder_assign_new(f, &ul, &s, err) < 0)
			goto fail;
	}
	if (f->uidvalidity != 0 && ul.uidvalidity != f->uidvalidity) {
		error_set_code(err, ERR_TEMP, MINDEX_ERR_UIDVALIDITY,
			       "UIDVALIDITY of %s changed", f->name);
		goto fail;
	}
	f->uidvalidity = ul.uidvalidity;
	if (ul.next_uid > f->uidnext)
		f->uidnext = ul.next_uid;
	folder_remember_uidlist(f, &ul);

	struct mindex_msg *v;
	uint32_t n;
	folder_build_view(f, &ul, &s, &v, &n);

	/* Messages of the old view missing now: confirm with a second
	 * listing before calling them expunged. */
	bool missing = false;
	{
		uint32_t j = 0;
		for (uint32_t i = 0; i < f->count && !missing; i++) {
			while (j < n && v[j].uid < f->msgs[i].uid)
				j++;
			if ((j >= n || v[j].uid != f->msgs[i].uid) &&
			    !f->msgs[i].expunged)
				missing = true;
		}
	}
	if (missing) {
		struct scan s2;
		if (folder_scan_dirs(f, &s2, err) == 0) {
			folder_view_free(v, n);
			/* merge: anything found in either listing exists */
			size_t n2 = array_len(s2.entries);
			for (size_t i = 0; i < n2; i++) {
				struct store_entry *e =
				    array_get(s2.entries, i);
				char *b = folder_base_dup(e->name);
				if (!hash_contains(s.by_base, b)) {
					struct store_entry *c =
					    xmalloc(sizeof(*c));
					c->in_new = e->in_new;
					c->name = xstrdup(e->name);
					array_push(s.entries, c);
					hash_put(s.by_base, b,
						 (void *)(uintptr_t)array_len(
						     s.entries));
				}
				free(b);
			}
			folder_scan_free(&s2);
			free(s.matched);
			s.matched =
			    xcalloc(array_len(s.entries) + 1, sizeof(bool));
			folder_build_view(f, &ul, &s, &v, &n);
		}
	}

	/* Merge old view and new view. */
	uint32_t old_max = f->count > 0 ? f->msgs[f->count - 1].uid : 0;
	bool keep_expunged = (flags & MINDEX_SYNC_NO_EXPUNGE) != 0;
	struct mindex_msg *out = xcalloc(f->count + n + 1, sizeof(*out));
	uint32_t on = 0, i = 0, j = 0;
	uint32_t *changed_uids = NULL;
	size_t changed_n = 0;
	while (i < f->count || j < n) {
		if (j >= n || (i < f->count && f->msgs[i].uid < v[j].uid)) {
			struct mindex_msg *o = &f->msgs[i];
			if (keep_expunged) {
				out[on] = *o;
				out[on].expunged = true;
				f->maybe_expunged = true;
				o->name = NULL;
				on++;
			} else {
				push_expunged(r, i + 1, o->uid);
			}
			i++;
			continue;
		}
		if (i >= f->count || v[j].uid < f->msgs[i].uid) {
			if (f->count > 0 && v[j].uid < old_max) {
				/* a UID below what the client knows appeared
				 * (a file that was missed): cannot be shown */
				folder_msg_free(&v[j]);
				j++;
				continue;
			}
			out[on++] = v[j];
			v[j].name = NULL;
			r->new_count++;
			j++;
			continue;
		}
		/* the same uid */
		struct mindex_msg *o = &f->msgs[i];
		out[on] = v[j];
		v[j].name = NULL;
		out[on].recent = o->recent;
		out[on].modseq = o->modseq;
		if (out[on].mtime == 0)
			out[on].mtime = o->mtime;
		if (o->flags != out[on].flags ||
		    o->keywords != out[on].keywords)
			push_u32(&changed_uids, &changed_n, out[on].uid);
		on++;
		i++;
		j++;
	}
	/* the old modseqs, to notice changes made by others */
	uint64_t *old_modseq = xcalloc(on + 1, sizeof(uint64_t));
	for (uint32_t k = 0; k < on; k++)
		old_modseq[k] = out[k].modseq;
	bool was_open = f->db_id != 0;

	folder_view_free(f->msgs, f->count);
	folder_view_free(v, n);
	f->msgs = out;
	f->count = on;

	if (db_sync(f, f->msgs, f->count, err) < 0) {
		free(old_modseq);
		free(changed_uids);
		uidlist_clear(&ul);
		folder_scan_free(&s);
		return -1;
	}
	/* changed: flags differ, or the modseq moved (someone else). */
	size_t c = 0; /* changed_uids ascend, as the view does */
	for (uint32_t k = 0; k < f->count; k++) {
		struct mindex_msg *m = &f->msgs[k];
		bool ch = false;
		while (c < changed_n && changed_uids[c] < m->uid)
			c++;
		if (c < changed_n && changed_uids[c] == m->uid)
			ch = true;
		if (!ch && was_open && old_modseq[k] != 0 &&
		    old_modseq[k] != m->modseq && !m->expunged)
			ch = true;
		if (ch)
			push_u32(&r->changed_seqs, &r->changed_count, k + 1);
	}
	free(old_modseq);
	free(changed_uids);
	if (!f->readonly)
		move_new_to_cur(f);
	count_recent(f);
	uidlist_clear(&ul);
	folder_scan_free(&s);
	set_snap(f, sn);
	return 0;
fail:
	uidlist_clear(&ul);
	folder_scan_free(&s);
	return -1;
}

int mindex_folder_sync(struct mindex_folder *f, unsigned sync_flags,
		       struct mindex_sync_result *r, struct error *err)
{
	memset(r, 0, sizeof(*r));
	struct snap sn;
	take_snap(f, &sn);
	if ((sync_flags & MINDEX_SYNC_FORCE) != 0 || !snap_same(f, &sn)) {
		if (sync_full(f, sync_flags, r, &sn, err) < 0) {
			mindex_sync_result_free(r);
			return -1;
		}
	}
	if ((sync_flags & MINDEX_SYNC_NO_EXPUNGE) == 0 && f->maybe_expunged) {
		/* expunged earlier but kept until expunges were allowed */
		bool any = false;
		for (uint32_t i = 0; i < f->count; i++)
			if (f->msgs[i].expunged)
				any = true;
		f->maybe_expunged = false;
		if (any) {
			/* renumber from the view as the client knows it */
			struct mindex_sync_result r2;
			memset(&r2, 0, sizeof(r2));
			drop_expunged(f, &r2);
			for (size_t k = 0; k < r2.expunged_count; k++)
				push_expunged(r, r2.expunged_seqs[k],
					      r2.expunged_uids[k]);
			mindex_sync_result_free(&r2);
			/* changed seqs were numbered with them: recompute */
			free(r->changed_seqs);
			r->changed_seqs = NULL;
			r->changed_count = 0;
		}
	}
	r->exists = f->count;
	r->recent = f->recent_count;
	r->highestmodseq = f->highestmodseq;
	r->uidnext = f->uidnext;
	return 0;
}
