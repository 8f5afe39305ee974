/*
 * The per-process shared state of a folder ("fstate", docs/index.md):
 * one message table per folder and process, however many sessions have
 * it selected, kept up to date with the disk once for all of them.
 *
 *   - Registry: keyed by the folder's directory, refcounted; created by
 *     the first mindex_folder_open of the folder in the process; after
 *     its last handle closes it idles a while (within a memory budget
 *     per process, mindex_cache_limits) so that the next open of the
 *     folder only checks the disk.
 *   - Tables are copy-on-write views (mindex_private.h): the state holds
 *     the latest one, each session the one it was last told about; they
 *     share every chunk nobody changed since.
 *   - fs_refresh: four stat() calls; when something changed, a listing
 *     of new/ and cur/ compared with the table by base name (no SQLite,
 *     no uidlist: a flag change by another program is a rename); only
 *     files that are new or gone take the full path (uidlist, numbering,
 *     a second listing before an expunge), and SQLite is written only
 *     for what differs.  The whole table is read from SQLite once, at
 *     the state's first load.
 *
 * Locking: fs->lock guards every field of the state, every refcount of
 * its views and chunks, and every write to them.  Lock order: the
 * registry mutex is never held while taking fs->lock; fs->lock may be
 * held while taking the uidlist dotlock and a database handle, never
 * two fs->locks at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/str.h"
#include "core/xmalloc.h"
#include "mindex_private.h"

/*
 * An unchanged directory mtime proves that nothing changed only when the
 * mtime was already this old at the stat that saw it: a second change
 * in the same timestamp tick keeps the mtime.  Linux file systems stamp
 * with the kernel's coarse clock (a few ms); file systems with whole
 * seconds (nanoseconds 0) get 2 s.
 */
#define SNAP_TRUST_NS (50 * 1000 * 1000LL)
#define SNAP_TRUST_COARSE_NS (2 * 1000 * 1000 * 1000LL)

/* ---- statistics (mindex_stats_get) ---- */

static atomic_ullong stat_loads, stat_full, stat_fast;
static void idle_stats(struct mindex_stats *st);

void mindex_stats_get(struct mindex_stats *st)
{
	st->loads = atomic_load(&stat_loads);
	st->full_scans = atomic_load(&stat_full);
	st->fast_scans = atomic_load(&stat_fast);
	idle_stats(st);
}

/* ---- views ---- */

static struct fs_chunk *chunk_new(void)
{
	struct fs_chunk *c = xcalloc(1, sizeof(*c));
	c->refs = 1;
	return c;
}

static void chunk_unref(struct fs_chunk *c)
{
	if (--c->refs > 0)
		return;
	for (uint32_t i = 0; i < c->n; i++)
		free((char *)c->m[i].name);
	free(c);
}

static struct fs_chunk *chunk_copy(const struct fs_chunk *c)
{
	struct fs_chunk *d = xmalloc(sizeof(*d));
	memcpy(d, c, sizeof(*d));
	d->refs = 1;
	for (uint32_t i = 0; i < d->n; i++) {
		d->m[i].name = xstrdup(c->m[i].name);
		d->m[i].mtime =
		    __atomic_load_n(&c->m[i].mtime, __ATOMIC_RELAXED);
	}
	return d;
}

struct fs_view *fs_view_new(void)
{
	struct fs_view *v = xcalloc(1, sizeof(*v));
	v->refs = 1;
	return v;
}

void fs_view_ref(struct fs_view *v)
{
	v->refs++;
}

void fs_view_unref(struct fs_view **vp)
{
	struct fs_view *v = *vp;
	if (v == NULL)
		return;
	*vp = NULL;
	if (--v->refs > 0)
		return;
	for (uint32_t i = 0; i < v->nchunks; i++)
		chunk_unref(v->chunks[i]);
	free(v->chunks);
	free(v);
}

/* *vp owned by the caller alone (copy the pointer array if shared). */
static struct fs_view *view_own(struct fs_view **vp)
{
	struct fs_view *v = *vp;
	if (v->refs == 1)
		return v;
	struct fs_view *c = xcalloc(1, sizeof(*c));
	c->refs = 1;
	c->count = v->count;
	c->nchunks = v->nchunks;
	c->cap = v->nchunks;
	c->chunks = xcalloc(c->cap + 1, sizeof(*c->chunks));
	for (uint32_t i = 0; i < v->nchunks; i++) {
		c->chunks[i] = v->chunks[i];
		c->chunks[i]->refs++;
	}
	v->refs--;
	*vp = c;
	return c;
}

struct mindex_msg *fs_view_mut(struct fs_view **vp, uint32_t i)
{
	struct fs_view *v = view_own(vp);
	struct fs_chunk **cp = &v->chunks[i / FS_CHUNK];
	if ((*cp)->refs > 1) {
		struct fs_chunk *c = chunk_copy(*cp);
		(*cp)->refs--;
		*cp = c;
	}
	return &(*cp)->m[i % FS_CHUNK];
}

void fs_msg_set_name(struct mindex_msg *m, const char *name)
{
	char *n = xstrdup(name);
	free((char *)m->name);
	m->name = n;
}

void fs_view_push(struct fs_view **vp, const struct mindex_msg *m)
{
	struct fs_view *v = view_own(vp);
	if (v->count % FS_CHUNK == 0) {
		if (v->nchunks == v->cap) {
			v->cap = v->cap == 0 ? 8 : v->cap * 2;
			v->chunks = xreallocarray(v->chunks, v->cap,
						  sizeof(*v->chunks));
		}
		v->chunks[v->nchunks++] = chunk_new();
	}
	uint32_t i = v->count++;
	struct fs_chunk **cp = &v->chunks[i / FS_CHUNK];
	if ((*cp)->refs > 1) {
		struct fs_chunk *c = chunk_copy(*cp);
		(*cp)->refs--;
		*cp = c;
	}
	struct mindex_msg *d = &(*cp)->m[i % FS_CHUNK];
	*d = *m;
	d->name = xstrdup(m->name);
	d->recent = false;
	d->expunged = false;
	(*cp)->n = i % FS_CHUNK + 1;
}

struct fs_view *fs_view_from_array(struct mindex_msg *msgs, uint32_t n)
{
	struct fs_view *v = fs_view_new();
	v->nchunks = (n + FS_CHUNK - 1) / FS_CHUNK;
	v->cap = v->nchunks;
	v->chunks = xcalloc(v->cap + 1, sizeof(*v->chunks));
	for (uint32_t k = 0; k < v->nchunks; k++) {
		struct fs_chunk *c = chunk_new();
		uint32_t first = k * FS_CHUNK;
		c->n = n - first < FS_CHUNK ? n - first : FS_CHUNK;
		memcpy(c->m, msgs + first, c->n * sizeof(*msgs));
		v->chunks[k] = c;
	}
	v->count = n;
	free(msgs);
	return v;
}

uint32_t fs_view_ge(const struct fs_view *v, uint32_t uid)
{
	uint32_t lo = 0, hi = v != NULL ? v->count : 0;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (fs_view_at(v, mid)->uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int64_t fs_view_find(const struct fs_view *v, uint32_t uid)
{
	uint32_t i = fs_view_ge(v, uid);
	if (v != NULL && i < v->count && fs_view_at(v, i)->uid == uid)
		return i;
	return -1;
}

/* A flat copy of the view's entries (names duplicated). */
static struct mindex_msg *view_to_array(const struct fs_view *v, uint32_t extra)
{
	uint32_t n = v != NULL ? v->count : 0;
	struct mindex_msg *a = xcalloc(n + extra + 1, sizeof(*a));
	for (uint32_t i = 0; i < n; i++) {
		a[i] = *fs_view_at(v, i);
		a[i].name = xstrdup(a[i].name);
		a[i].mtime =
		    __atomic_load_n(&fs_view_at(v, i)->mtime, __ATOMIC_RELAXED);
	}
	return a;
}

/* ---- the registry ---- */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fstate *reg_head;
static pid_t reg_pid;

/*
 * A state nobody uses any more is kept for a while (IDLE_SECS at most),
 * so a session that selects its folder again, or a STATUS, finds it:
 * the usual disk check then, not a full load (a listing of every file
 * and all of the folder's SQLite rows: 0.6-0.9 s for 60,000 messages).
 *
 * What is kept is bounded by memory (idle_max_bytes), not by a count:
 * one process (a webmail, an imapd) serves many users, and with a
 * handful of slots the other users' small folders pushed out the big
 * INBOX that is the most expensive to load again.  Plain LRU, no
 * weighting by size: both the memory a state holds and the cost of
 * loading it again grow with its messages, so a byte kept saves about
 * the same whatever the folder (a small folder even costs a little
 * more per byte to load, for its fixed costs), and recency is what
 * tells which will be opened again.  The count (idle_max_states) is
 * only a safety net for the registry's linear lookups.
 */
#define IDLE_SECS 300

/* Idle states, least recently used first (registry mutex). */
static struct fstate *idle_head, *idle_tail;
static unsigned reg_idle;     /* how many */
static size_t reg_idle_bytes; /* sum of their idle_bytes */
static size_t idle_max_bytes = MINDEX_CACHE_SIZE_DEFAULT;
static unsigned idle_max_states = MINDEX_CACHE_STATES_DEFAULT;
static atomic_ullong stat_evictions;

/* After fork() the child forgets the parent's states (their mutexes may
 * be held by threads that do not exist here). */
static void reg_check_pid(void)
{
	pid_t me = getpid();
	if (reg_pid != me) {
		reg_head = NULL;
		idle_head = idle_tail = NULL;
		reg_idle = 0;
		reg_idle_bytes = 0;
		reg_pid = me;
	}
}

/* What the allocator takes for n bytes (glibc: an 8-byte header, 16-byte
 * granules, 32 at least): a name of 40 bytes costs 48, not 41. */
static size_t heap_bytes(size_t n)
{
	size_t c = (n + 8 + 15) & ~(size_t)15;
	return c < 32 ? 32 : c;
}

/*
 * The memory an idle state holds: the state, its strings and its view
 * (no handle is left, so every chunk of the view is the state's alone).
 * A walk of the names: about 0.1 ms per 10,000 messages, once per
 * state going idle.
 */
static size_t fs_bytes(const struct fstate *fs)
{
	size_t b = heap_bytes(sizeof(*fs)) + heap_bytes(strlen(fs->path) + 1) +
		   heap_bytes(strlen(fs->name) + 1);
	for (unsigned k = 0; k < MINDEX_KEYWORDS_MAX; k++)
		if (fs->keywords[k] != NULL)
			b += heap_bytes(strlen(fs->keywords[k]) + 1);
	const struct fs_view *v = fs->latest;
	if (v == NULL)
		return b;
	b += heap_bytes(sizeof(*v)) +
	     heap_bytes(((size_t)v->cap + 1) * sizeof(*v->chunks));
	for (uint32_t k = 0; k < v->nchunks; k++) {
		const struct fs_chunk *c = v->chunks[k];
		b += heap_bytes(sizeof(*c));
		for (uint32_t i = 0; i < c->n; i++)
			if (c->m[i].name != NULL)
				b += heap_bytes(strlen(c->m[i].name) + 1);
	}
	return b;
}

/* Keep fs, now without a handle, at the recent end of the idle list
 * (registry mutex held).  False when it alone is over the limits: then
 * it is not kept, and the others are not dropped for it. */
static bool idle_push(struct fstate *fs)
{
	size_t bytes = fs_bytes(fs);
	if (bytes > idle_max_bytes || idle_max_states == 0) {
		atomic_fetch_add(&stat_evictions, 1);
		return false;
	}
	fs->idle = true;
	clock_gettime(CLOCK_MONOTONIC, &fs->idle_since);
	fs->idle_bytes = bytes;
	fs->idle_next = NULL;
	fs->idle_prev = idle_tail;
	if (idle_tail != NULL)
		idle_tail->idle_next = fs;
	else
		idle_head = fs;
	idle_tail = fs;
	reg_idle++;
	reg_idle_bytes += fs->idle_bytes;
	return true;
}

/* Registry mutex held; fs idle. */
static void idle_unlink(struct fstate *fs)
{
	if (fs->idle_prev != NULL)
		fs->idle_prev->idle_next = fs->idle_next;
	else
		idle_head = fs->idle_next;
	if (fs->idle_next != NULL)
		fs->idle_next->idle_prev = fs->idle_prev;
	else
		idle_tail = fs->idle_prev;
	fs->idle_prev = fs->idle_next = NULL;
	fs->idle = false;
	reg_idle--;
	reg_idle_bytes -= fs->idle_bytes;
	fs->idle_bytes = 0;
}

/* An idle state is opened again (registry mutex held): nobody could
 * change it meanwhile, so no fs->lock is needed. */
static void idle_reuse(struct fstate *fs)
{
	idle_unlink(fs);
	fs->revalidate = true;
}

static void fs_free(struct fstate *fs);

/* Unlink and return the idle states to free (registry mutex held): the
 * expired ones, and the least recently used while over the limits (all
 * when `all`).  Expired ones are at the head: the list is in idle_since
 * order. */
static struct fstate *reg_trim(bool all)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	struct fstate *out = NULL;
	while (idle_head != NULL) {
		struct fstate *fs = idle_head;
		bool expired =
		    all || now.tv_sec - fs->idle_since.tv_sec > IDLE_SECS;
		bool over = reg_idle > idle_max_states ||
			    reg_idle_bytes > idle_max_bytes;
		if (!expired && !over)
			break;
		if (!expired)
			atomic_fetch_add(&stat_evictions, 1);
		idle_unlink(fs);
		struct fstate **pp = &reg_head;
		while (*pp != fs)
			pp = &(*pp)->next;
		*pp = fs->next;
		fs->next = out;
		out = fs;
	}
	return out;
}

static void free_list(struct fstate *l)
{
	while (l != NULL) {
		struct fstate *n = l->next;
		fs_free(l);
		l = n;
	}
}

void mindex_forget_idle(void)
{
	pthread_mutex_lock(&reg_lock);
	reg_check_pid();
	struct fstate *l = reg_trim(true);
	pthread_mutex_unlock(&reg_lock);
	free_list(l);
}

void mindex_cache_limits(size_t bytes, unsigned states)
{
	pthread_mutex_lock(&reg_lock);
	reg_check_pid();
	idle_max_bytes = bytes;
	idle_max_states = states;
	struct fstate *l = reg_trim(false);
	pthread_mutex_unlock(&reg_lock);
	free_list(l);
}

static void idle_stats(struct mindex_stats *st)
{
	pthread_mutex_lock(&reg_lock);
	reg_check_pid();
	st->idle_states = reg_idle;
	st->idle_bytes = reg_idle_bytes;
	pthread_mutex_unlock(&reg_lock);
	st->evictions = atomic_load(&stat_evictions);
}

static void fs_free(struct fstate *fs)
{
	fs_view_unref(&fs->latest);
	keywords_clear(fs->keywords);
	pthread_mutex_destroy(&fs->lock);
	free(fs->name);
	free(fs->path);
	free(fs);
}

void fs_attach(struct mindex_folder *f)
{
	pthread_mutex_lock(&reg_lock);
	reg_check_pid();
	struct fstate *fs;
	for (fs = reg_head; fs != NULL; fs = fs->next)
		if (strcmp(fs->path, f->path) == 0)
			break;
	if (fs == NULL) {
		fs = xcalloc(1, sizeof(*fs));
		fs->path = xstrdup(f->path);
		fs->name = xstrdup(f->name);
		pthread_mutex_init(&fs->lock, NULL);
		fs->next = reg_head;
		reg_head = fs;
	}
	if (fs->idle)
		idle_reuse(fs);
	fs->refs++;
	struct fstate *l = reg_trim(false);
	pthread_mutex_unlock(&reg_lock);
	free_list(l);
	f->fs = fs;
}

void fs_release(struct fstate *fs)
{
	pthread_mutex_lock(&reg_lock);
	reg_check_pid();
	bool last = --fs->refs == 0;
	struct fstate *l = NULL;
	/* keep it a while (fs->loaded is stable: no handle left) */
	if (last && fs->loaded && idle_push(fs)) {
		l = reg_trim(false);
	} else if (last) {
		struct fstate **pp = &reg_head;
		while (*pp != NULL && *pp != fs)
			pp = &(*pp)->next;
		if (*pp == fs)
			*pp = fs->next;
		l = fs;
		fs->next = NULL;
	}
	pthread_mutex_unlock(&reg_lock);
	free_list(l);
}

void fs_detach(struct mindex_folder *f)
{
	struct fstate *fs = f->fs;
	if (fs == NULL)
		return;
	pthread_mutex_lock(&fs->lock);
	fs_view_unref(&f->view);
	pthread_mutex_unlock(&fs->lock);
	f->fs = NULL;
	fs_release(fs);
}

struct fstate *fs_lookup(const char *path)
{
	pthread_mutex_lock(&reg_lock);
	reg_check_pid();
	struct fstate *fs;
	for (fs = reg_head; fs != NULL; fs = fs->next)
		if (strcmp(fs->path, path) == 0) {
			if (fs->idle)
				idle_reuse(fs);
			fs->refs++;
			break;
		}
	pthread_mutex_unlock(&reg_lock);
	return fs;
}

/* ---- SQLite ---- */

static int db_apply_once(struct fstate *fs, struct mindex_folder *f,
			 struct fs_mod *mods, size_t n, struct error *err)
{
	sqlite3 *db = mindex_db_open(f->u, err);
	if (db == NULL)
		return -1;
	int ret = -1, rc;
	enum { SEL, UP, DEL, EXP, CDEL, NST };
	static const char *const sql[NST] = {
	    "SELECT modseq, flags, keywords FROM msgs"
	    " WHERE folder = ? AND uid = ?",
	    "INSERT OR REPLACE INTO msgs(folder, uid, modseq, flags,"
	    " keywords) VALUES (?, ?, ?, ?, ?)",
	    "DELETE FROM msgs WHERE folder = ? AND uid = ?",
	    "INSERT OR IGNORE INTO expunged(folder, uid, modseq)"
	    " VALUES (?, ?, ?)",
	    "DELETE FROM cache WHERE folder = ? AND uid = ?",
	};
	sqlite3_stmt *st[NST] = {0};
	int64_t id;
	uint64_t hms, log_start;
	uint32_t recent_uid;
	if (mindex_db_exec(db, "BEGIN IMMEDIATE", err) < 0)
		goto out;
	if (mindex_db_folder(db, fs->name, fs->uidvalidity, &id, &hms,
			     &log_start, &recent_uid, err) < 0)
		goto out;
	for (int k = 0; k < NST; k++)
		if ((rc = sqlite3_prepare_v2(db, sql[k], -1, &st[k], NULL)) !=
		    SQLITE_OK) {
			mindex_db_error(db, rc, "prepare", err);
			goto out;
		}
	uint64_t bump = hms + 1;
	bool used = false;
	for (size_t i = 0; i < n; i++) {
		struct fs_mod *m = &mods[i];
		if (m->expunge) {
			for (int k = DEL; k <= CDEL; k++) {
				sqlite3_reset(st[k]);
				sqlite3_bind_int64(st[k], 1, id);
				sqlite3_bind_int64(st[k], 2, m->uid);
				if (k == EXP)
					sqlite3_bind_int64(st[k], 3,
							   (sqlite3_int64)bump);
				if ((rc = sqlite3_step(st[k])) != SQLITE_DONE) {
					mindex_db_error(db, rc, "expunge", err);
					goto out;
				}
			}
			used = true;
			continue;
		}
		sqlite3_reset(st[SEL]);
		sqlite3_bind_int64(st[SEL], 1, id);
		sqlite3_bind_int64(st[SEL], 2, m->uid);
		rc = sqlite3_step(st[SEL]);
		if (rc == SQLITE_ROW &&
		    (uint32_t)sqlite3_column_int64(st[SEL], 1) == m->flags &&
		    (uint32_t)sqlite3_column_int64(st[SEL], 2) == m->keywords &&
		    (uint64_t)sqlite3_column_int64(st[SEL], 0) >
			m->old_modseq) {
			/* another session (or process) recorded this state
			 * already: keep its modseq */
			m->modseq_r =
			    (uint64_t)sqlite3_column_int64(st[SEL], 0);
			continue;
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			mindex_db_error(db, rc, "select", err);
			goto out;
		}
		sqlite3_reset(st[UP]);
		sqlite3_bind_int64(st[UP], 1, id);
		sqlite3_bind_int64(st[UP], 2, m->uid);
		sqlite3_bind_int64(st[UP], 3, (sqlite3_int64)bump);
		sqlite3_bind_int64(st[UP], 4, m->flags);
		sqlite3_bind_int64(st[UP], 5, m->keywords);
		if ((rc = sqlite3_step(st[UP])) != SQLITE_DONE) {
			mindex_db_error(db, rc, "update", err);
			goto out;
		}
		m->modseq_r = bump;
		used = true;
	}
	if (used)
		hms = bump;
	if ((used && mindex_db_folder_set(db, id, hms, recent_uid, err) < 0) ||
	    mindex_db_exec(db, "COMMIT", err) < 0)
		goto out;
	fs->db_id = id;
	fs->log_start = log_start;
	if (hms > fs->highestmodseq)
		fs->highestmodseq = hms;
	for (size_t i = 0; i < n; i++)
		if (mods[i].modseq_r > fs->highestmodseq)
			fs->highestmodseq = mods[i].modseq_r;
	if (recent_uid > fs->recent_uid)
		fs->recent_uid = recent_uid;
	ret = 0;
out:
	for (int k = 0; k < NST; k++)
		sqlite3_finalize(st[k]);
	if (ret < 0)
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	mindex_db_close(db);
	return ret;
}

int fs_db_apply(struct fstate *fs, struct mindex_folder *f, struct fs_mod *mods,
		size_t n, struct error *err)
{
	if (n == 0)
		return 0;
	struct error e = {0};
	if (db_apply_once(fs, f, mods, n, &e) == 0)
		return 0;
	if (mindex_db_is_corrupt(&e)) {
		/* rebuilt: every modseq starts again above the old ones;
		 * reload the table from scratch at the next refresh */
		mindex_db_remove(f->u);
		fs->loaded = false;
		fs->snap_valid = false;
	}
	if (err != NULL)
		*err = e;
	return -1;
}

/* The first load: every row of the folder, merged with the files. */
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

static int db_load_once(struct fstate *fs, struct mindex_folder *f,
			struct mindex_msg *v, uint32_t n, struct error *err)
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
	if (mindex_db_folder(db, fs->name, fs->uidvalidity, &id, &hms,
			     &log_start, &recent_uid, err) < 0 ||
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
		/* rows before this message's uid have no file: expunged */
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
	if (mindex_db_folder_set(db, id, hms, recent_uid, err) < 0 ||
	    mindex_db_exec(db, "COMMIT", err) < 0)
		goto out;
	fs->db_id = id;
	fs->recent_uid = recent_uid;
	fs->highestmodseq = hms;
	fs->log_start = log_start;
	ret = 0;
out:
	sqlite3_finalize(up);
	sqlite3_finalize(del);
	sqlite3_finalize(exp);
	sqlite3_finalize(cdel);
	if (ret < 0)
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	free(rows);
	mindex_db_close(db);
	return ret;
}

static int db_load(struct fstate *fs, struct mindex_folder *f,
		   struct mindex_msg *v, uint32_t n, struct error *err)
{
	struct error e = {0};
	if (db_load_once(fs, f, v, n, &e) == 0)
		return 0;
	if (mindex_db_is_corrupt(&e)) {
		mindex_db_remove(f->u);
		error_clear(&e);
		if (db_load_once(fs, f, v, n, &e) == 0)
			return 0;
	}
	if (err != NULL)
		*err = e;
	return -1;
}

int fs_claim_recent(struct fstate *fs, struct mindex_folder *f,
		    struct error *err)
{
	if (fs->recent_uid >= fs->uidnext)
		return 0;
	sqlite3 *db = mindex_db_open(f->u, err);
	if (db == NULL)
		return -1;
	int ret = -1;
	int64_t id;
	uint64_t hms, log_start;
	uint32_t recent_uid;
	if (mindex_db_exec(db, "BEGIN IMMEDIATE", err) < 0)
		goto out;
	if (mindex_db_folder(db, fs->name, fs->uidvalidity, &id, &hms,
			     &log_start, &recent_uid, err) < 0)
		goto out;
	uint32_t hi = fs->uidnext;
	if (recent_uid < hi && mindex_db_folder_set(db, id, hms, hi, err) < 0)
		goto out;
	if (mindex_db_exec(db, "COMMIT", err) < 0)
		goto out;
	if (recent_uid < hi) {
		/* [recent_uid, hi) is this session's */
		if (f->nrecent > 0 &&
		    f->recent[f->nrecent - 1].hi == recent_uid) {
			f->recent[f->nrecent - 1].hi = hi;
		} else {
			f->recent = xreallocarray(f->recent, f->nrecent + 1,
						  sizeof(*f->recent));
			f->recent[f->nrecent].lo = recent_uid;
			f->recent[f->nrecent].hi = hi;
			f->nrecent++;
		}
		fs->recent_uid = hi;
	} else {
		fs->recent_uid = recent_uid;
	}
	ret = 0;
out:
	if (ret < 0)
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	mindex_db_close(db);
	return ret;
}

/* ---- the disk ---- */

static bool ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static bool ts_ge(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

struct snap {
	struct timespec n, c, ul, kw;
	ino_t ul_ino;
	off_t ul_size;
	struct timespec at; /* CLOCK_REALTIME of the stat calls */
};

static void stat_one(const char *path, const char *leaf, struct timespec *ts,
		     ino_t *ino, off_t *size)
{
	char *p = xasprintf("%s/%s", path, leaf);
	struct stat st;
	if (stat(p, &st) == 0) {
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
	free(p);
}

static void take_snap(struct fstate *fs, struct snap *s)
{
	clock_gettime(CLOCK_REALTIME, &s->at);
	stat_one(fs->path, "new", &s->n, NULL, NULL);
	stat_one(fs->path, "cur", &s->c, NULL, NULL);
	stat_one(fs->path, MINDEX_UIDLIST, &s->ul, &s->ul_ino, &s->ul_size);
	stat_one(fs->path, MINDEX_KEYWORDS, &s->kw, NULL, NULL);
}

static bool ts_old(const struct timespec *at, const struct timespec *m)
{
	long long d = (long long)(at->tv_sec - m->tv_sec) * 1000000000LL +
		      (at->tv_nsec - m->tv_nsec);
	return d > (m->tv_nsec == 0 ? SNAP_TRUST_COARSE_NS : SNAP_TRUST_NS);
}

static void set_snap(struct fstate *fs, const struct snap *s)
{
	/* mtimes our own changes explained count as trusted until the
	 * verifying listing (fs_own_change_end) */
	bool expl = fs->verify_pending && fs->snap_valid &&
		    ts_eq(&s->n, &fs->snap_new) && ts_eq(&s->c, &fs->snap_cur);
	fs->snap_new = s->n;
	fs->snap_cur = s->c;
	fs->snap_uidlist = s->ul;
	fs->snap_kw = s->kw;
	fs->snap_uidlist_ino = s->ul_ino;
	fs->snap_uidlist_size = s->ul_size;
	fs->snap_taken = true;
	fs->snap_valid =
	    (expl || (ts_old(&s->at, &s->n) && ts_old(&s->at, &s->c))) &&
	    ts_old(&s->at, &s->ul) && ts_old(&s->at, &s->kw);
}

/* How long an explained change of cur/ goes unverified at most. */
#define VERIFY_SECS 1

bool fs_own_change_begin(struct fstate *fs)
{
	if (!fs->loaded || !fs->snap_taken || !fs->snap_valid)
		return false;
	struct timespec n, c;
	stat_one(fs->path, "new", &n, NULL, NULL);
	stat_one(fs->path, "cur", &c, NULL, NULL);
	return ts_eq(&n, &fs->snap_new) && ts_eq(&c, &fs->snap_cur);
}

void fs_own_change_end(struct fstate *fs, bool clean)
{
	if (!clean)
		return;
	stat_one(fs->path, "new", &fs->snap_new, NULL, NULL);
	stat_one(fs->path, "cur", &fs->snap_cur, NULL, NULL);
	if (!fs->verify_pending) {
		fs->verify_pending = true;
		clock_gettime(CLOCK_MONOTONIC, &fs->verify_at);
		fs->verify_at.tv_sec += VERIFY_SECS;
	}
}

/* The hash of a name's base (up to ':'). */
static uint32_t base_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 16777619u;
	}
	return h;
}

struct fast_change {
	uint32_t idx;
	bool in_new;
	char *name;
};

/*
 * The cheap rescan: list new/ and cur/ and compare each name with the
 * table by base.  1: done (renames and new/ -> cur/ moves applied), 0:
 * files appeared or went missing (the full scan must run), -1 error.
 */
static int scan_fast(struct fstate *fs, struct mindex_folder *f,
		     struct error *err)
{
	atomic_fetch_add(&stat_fast, 1);
	struct fs_view *L = fs->latest;
	uint32_t n = L != NULL ? L->count : 0;
	uint32_t size = 16;
	while (size < n * 2)
		size *= 2;
	uint32_t *tab = xcalloc(size, sizeof(uint32_t)); /* idx + 1 */
	for (uint32_t i = 0; i < n; i++) {
		const char *nm = fs_view_at(L, i)->name;
		uint32_t h = base_hash(nm, folder_base_len(nm)) & (size - 1);
		while (tab[h] != 0)
			h = (h + 1) & (size - 1);
		tab[h] = i + 1;
	}
	uint8_t *seen = xcalloc(n + 1, 1);
	struct fast_change *ch = NULL;
	size_t nch = 0, cap = 0;
	int ret = 1;
	for (int d = 0; d < 2 && ret == 1; d++) {
		bool in_new = d == 0;
		char *dir =
		    xasprintf("%s/%s", fs->path, in_new ? "new" : "cur");
		DIR *dp = opendir(dir);
		if (dp == NULL) {
			if (errno == ENOENT)
				ret = 0; /* the full scan tells what it is */
			else
				ret = mindex_errno(err, errno, "opendir", dir);
			free(dir);
			break;
		}
		free(dir);
		struct dirent *de;
		while ((de = readdir(dp)) != NULL) {
			const char *nm = de->d_name;
			if (nm[0] == '.')
				continue;
			size_t bl = folder_base_len(nm);
			uint32_t h = base_hash(nm, bl) & (size - 1);
			uint32_t idx = 0;
			while (tab[h] != 0) {
				const char *en =
				    fs_view_at(L, tab[h] - 1)->name;
				if (folder_base_len(en) == bl &&
				    memcmp(en, nm, bl) == 0) {
					idx = tab[h];
					break;
				}
				h = (h + 1) & (size - 1);
			}
			if (idx == 0) {
				ret = 0; /* a new file */
				break;
			}
			idx--;
			if (seen[idx])
				continue; /* the same base twice: keep one */
			seen[idx] = 1;
			const struct mindex_msg *m = fs_view_at(L, idx);
			if (m->in_new == in_new && strcmp(m->name, nm) == 0)
				continue;
			if (nch == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				ch = xreallocarray(ch, cap, sizeof(*ch));
			}
			ch[nch].idx = idx;
			ch[nch].in_new = in_new;
			ch[nch].name = xstrdup(nm);
			nch++;
		}
		closedir(dp);
	}
	for (uint32_t i = 0; ret == 1 && i < n; i++)
		if (!seen[i])
			ret = 0; /* missing: confirmed by the full scan */
	free(seen);
	free(tab);
	struct fs_mod *mods = NULL;
	size_t nmods = 0;
	if (ret == 1 && nch > 0) {
		mods = xcalloc(nch, sizeof(*mods));
		for (size_t k = 0; k < nch; k++) {
			const struct mindex_msg *m = fs_view_at(L, ch[k].idx);
			struct store_name sn;
			uint32_t fl = m->flags, kw = m->keywords;
			if (store_name_parse(ch[k].name, &sn, NULL) == 0) {
				fl = sn.flags;
				kw = sn.keywords;
			}
			if (fl == m->flags && kw == m->keywords)
				continue;
			mods[nmods].uid = m->uid;
			mods[nmods].flags = fl;
			mods[nmods].keywords = kw;
			mods[nmods].old_modseq = m->modseq;
			nmods++;
		}
		if (fs_db_apply(fs, f, mods, nmods, err) < 0)
			ret = -1;
	}
	if (ret == 1 && nch > 0) {
		size_t mi = 0;
		bool any_new = false;
		for (size_t k = 0; k < nch; k++) {
			struct mindex_msg *m =
			    fs_view_mut(&fs->latest, ch[k].idx);
			fs_msg_set_name(m, ch[k].name);
			m->in_new = ch[k].in_new;
			if (mi < nmods && mods[mi].uid == m->uid) {
				m->flags = mods[mi].flags;
				m->keywords = mods[mi].keywords;
				m->modseq = mods[mi].modseq_r;
				mi++;
			}
		}
		for (uint32_t i = 0; i < fs->latest->count && !any_new; i++)
			any_new = fs_view_at(fs->latest, i)->in_new;
		fs->any_new = any_new;
		fs->gen++;
	}
	for (size_t k = 0; k < nch; k++)
		free(ch[k].name);
	free(ch);
	free(mods);
	return ret;
}

/*
 * The full scan: both directories, the uidlist (numbering files without
 * a UID), a second listing before anything is called expunged; SQLite
 * for what differs from the table (all of the folder's rows at the
 * first load).
 */
static int scan_full(struct fstate *fs, struct mindex_folder *f,
		     struct error *err)
{
	atomic_fetch_add(&stat_full, 1);
	bool kwc;
	if (keywords_refresh(fs->path, fs->keywords, &fs->kw_mtime, &kwc, err) <
	    0)
		return -1;
	if (kwc)
		fs->kw_gen++;
	struct scan s;
	if (folder_scan_dirs(f, &s, err) < 0)
		return -1;
	struct uidlist ul;
	uidlist_init(&ul);
	int ret = uidlist_read(fs->path, &ul, err);
	if (ret < 0)
		goto fail;
	if (ret == 0) {
		/* deleted (or renamed) by another session */
		struct stat st;
		char *cur = xasprintf("%s/cur", fs->path);
		bool gone = stat(cur, &st) < 0 && errno == ENOENT;
		free(cur);
		if (gone) {
			error_set_code(err, ERR_PERM, MINDEX_ERR_NOTFOUND,
				       "folder %s no longer exists", fs->name);
			fs->loaded = false;
			fs->snap_valid = false;
			goto fail;
		}
	}
	if (ret == 0 || folder_scan_unmatched(&ul, &s)) {
		if (folder_assign_new(f, fs->uidvalidity, &ul, &s, err) < 0)
			goto fail;
	}
	if (fs->loaded && ul.uidvalidity != fs->uidvalidity) {
		/* the list was recreated: a new folder as far as UIDs go;
		 * sessions on the old one get MINDEX_ERR_UIDVALIDITY */
		fs->loaded = false;
	}
	if (!fs->loaded) {
		fs_view_unref(&fs->latest);
		fs->uidnext = 0;
		fs->gen++;
	}
	fs->uidvalidity = ul.uidvalidity;
	if (ul.next_uid > fs->uidnext)
		fs->uidnext = ul.next_uid;

	struct mindex_msg *v;
	uint32_t n;
	folder_build_view(f, &ul, &s, &v, &n);

	/* Messages of the table missing now: confirm with a second listing
	 * before calling them expunged (readdir can miss a renamed file). */
	struct fs_view *L = fs->latest;
	bool missing = false;
	if (L != NULL) {
		uint32_t j = 0;
		for (uint32_t i = 0; i < L->count && !missing; i++) {
			uint32_t uid = fs_view_at(L, i)->uid;
			while (j < n && v[j].uid < uid)
				j++;
			if (j >= n || v[j].uid != uid)
				missing = true;
		}
	}
	if (missing) {
		struct scan s2;
		if (folder_scan_dirs(f, &s2, err) == 0) {
			folder_view_free(v, n);
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

	if (!fs->loaded) {
		atomic_fetch_add(&stat_loads, 1);
		if (db_load(fs, f, v, n, err) < 0) {
			folder_view_free(v, n);
			goto fail;
		}
	} else {
		/* only what differs from the table goes to SQLite */
		struct fs_mod *mods = xcalloc(n + L->count + 1, sizeof(*mods));
		uint32_t *mod_of = xcalloc(n + 1, sizeof(uint32_t));
		size_t nm = 0;
		uint32_t i = 0, j = 0;
		while (i < L->count || j < n) {
			const struct mindex_msg *o =
			    i < L->count ? fs_view_at(L, i) : NULL;
			if (j >= n || (o != NULL && o->uid < v[j].uid)) {
				mods[nm].uid = o->uid;
				mods[nm].expunge = true;
				nm++;
				i++;
				continue;
			}
			if (o == NULL || v[j].uid < o->uid) {
				mods[nm].uid = v[j].uid;
				mods[nm].flags = v[j].flags;
				mods[nm].keywords = v[j].keywords;
				mod_of[j] = (uint32_t)nm + 1;
				nm++;
				j++;
				continue;
			}
			v[j].modseq = o->modseq;
			if (v[j].mtime == 0)
				v[j].mtime = __atomic_load_n(&o->mtime,
							     __ATOMIC_RELAXED);
			if (v[j].flags != o->flags ||
			    v[j].keywords != o->keywords) {
				mods[nm].uid = v[j].uid;
				mods[nm].flags = v[j].flags;
				mods[nm].keywords = v[j].keywords;
				mods[nm].old_modseq = o->modseq;
				mod_of[j] = (uint32_t)nm + 1;
				nm++;
			}
			i++;
			j++;
		}
		int r = fs_db_apply(fs, f, mods, nm, err);
		for (uint32_t k = 0; r == 0 && k < n; k++)
			if (mod_of[k] != 0)
				v[k].modseq = mods[mod_of[k] - 1].modseq_r;
		free(mods);
		free(mod_of);
		if (r < 0) {
			folder_view_free(v, n);
			goto fail;
		}
	}
	fs_view_unref(&fs->latest);
	bool any_new = false;
	for (uint32_t k = 0; k < n; k++)
		if (v[k].in_new)
			any_new = true;
	fs->latest = fs_view_from_array(v, n);
	fs->any_new = any_new;
	fs->loaded = true;
	fs->gen++;
	folder_remember_uidlist(f, &ul);
	uidlist_clear(&ul);
	folder_scan_free(&s);
	return 0;
fail:
	uidlist_clear(&ul);
	folder_scan_free(&s);
	return -1;
}

/* A read-write session moves new/ files to cur/, as Dovecot does. */
static void move_new_to_cur(struct fstate *fs, struct mindex_folder *f)
{
	struct fs_view *L = fs->latest;
	for (uint32_t i = 0; L != NULL && i < fs->latest->count; i++) {
		const struct mindex_msg *m = fs_view_at(fs->latest, i);
		if (!m->in_new)
			continue;
		char newname[STORE_NAME_MAX];
		struct error e = {0};
		int r = store_set_flags(f->u->mbox, f->name, true, m->name,
					m->flags, m->keywords, newname, &e);
		if (r == 1) {
			struct mindex_msg *w = fs_view_mut(&fs->latest, i);
			fs_msg_set_name(w, newname);
			w->in_new = false;
		}
	}
	fs->any_new = false;
	fs->gen++;
}

/*
 * A state that idled: the database may have been rebuilt meanwhile
 * (removed, corrupt) by another process; then its modseqs start afresh
 * and the table is loaded again.  One small query.
 */
static int revalidate(struct fstate *fs, struct mindex_folder *f,
		      struct error *err)
{
	fs->revalidate = false;
	if (!fs->loaded)
		return 0;
	struct error e = {0};
	sqlite3 *db = mindex_db_open(f->u, &e);
	int64_t id = 0;
	uint64_t hms = 0, log_start = 0;
	uint32_t recent_uid = 0;
	int r = -1;
	if (db != NULL) {
		r = mindex_db_exec(db, "BEGIN IMMEDIATE", &e);
		if (r == 0)
			r = mindex_db_folder(db, fs->name, fs->uidvalidity, &id,
					     &hms, &log_start, &recent_uid, &e);
		if (r == 0)
			r = mindex_db_exec(db, "COMMIT", &e);
		else
			(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		mindex_db_close(db);
	}
	if (r < 0 && mindex_db_is_corrupt(&e)) {
		mindex_db_remove(f->u);
		r = 0;
		id = 0;
	}
	if (r < 0) {
		if (err != NULL)
			*err = e;
		return -1;
	}
	if (id != fs->db_id || log_start != fs->log_start ||
	    hms < fs->highestmodseq) {
		fs->loaded = false; /* a rebuilt database */
		fs->snap_valid = false;
	} else if (recent_uid > fs->recent_uid) {
		fs->recent_uid = recent_uid;
	}
	return 0;
}

int fs_refresh(struct fstate *fs, struct mindex_folder *f,
	       const struct timespec *since, bool force, struct error *err)
{
	if (fs->revalidate && revalidate(fs, f, err) < 0)
		return -1;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	bool verify = fs->verify_pending && ts_ge(&start, &fs->verify_at);
	if (fs->loaded && !force && !verify && fs->snap_taken &&
	    ts_ge(&fs->last_check, since)) {
		/* somebody checked after this request began */
		goto done;
	}
	struct snap sn;
	take_snap(fs, &sn);
	int r = 1;
	if (!fs->loaded) {
		r = scan_full(fs, f, err);
	} else {
		bool same_dirs = fs->snap_taken && fs->snap_valid &&
				 ts_eq(&sn.n, &fs->snap_new) &&
				 ts_eq(&sn.c, &fs->snap_cur);
		if (!ts_eq(&sn.kw, &fs->snap_kw) || force) {
			bool kwc;
			if (keywords_refresh(fs->path, fs->keywords,
					     &fs->kw_mtime, &kwc, err) < 0)
				return -1;
			if (kwc)
				fs->kw_gen++;
		}
		bool ul_replaced = sn.ul_ino != fs->snap_uidlist_ino ||
				   sn.ul_size < fs->snap_uidlist_size;
		if (sn.ul_ino == 0 || ul_replaced) {
			/* gone (recreated now), or rewritten: its records are
			 * the authority, read them all */
			r = scan_full(fs, f, err);
		} else if (force) {
			/* the same UIDVALIDITY, or a new folder */
			struct uidlist ul;
			uidlist_init(&ul);
			int ur = uidlist_read_ends(fs->path, &ul, err);
			if (ur < 0 ||
			    (ur == 0 && uidlist_read(fs->path, &ul, err) < 0)) {
				uidlist_clear(&ul);
				return -1;
			}
			if (ul.uidvalidity != fs->uidvalidity)
				r = scan_full(fs, f, err);
			else if (ul.next_uid > fs->uidnext)
				fs->uidnext = ul.next_uid;
			uidlist_clear(&ul);
		}
		if (r == 1 && (!same_dirs || force || verify)) {
			r = scan_fast(fs, f, err);
			if (r == 0)
				r = scan_full(fs, f, err);
		}
	}
	if (r < 0)
		return -1;
	set_snap(fs, &sn);
	fs->last_check = start;
	if (verify || !fs->snap_valid)
		fs->verify_pending = false; /* listed now, or will be */
done:
	if (!f->readonly && fs->any_new)
		move_new_to_cur(fs, f);
	return 0;
}

int fs_insert_msg(struct fstate *fs, struct mindex_folder *f,
		  const struct mindex_msg *m, struct error *err)
{
	if (!fs->loaded || fs_view_find(fs->latest, m->uid) >= 0)
		return 0;
	struct fs_mod mod = {
	    .uid = m->uid, .flags = m->flags, .keywords = m->keywords};
	if (fs_db_apply(fs, f, &mod, 1, err) < 0)
		return -1;
	struct mindex_msg c = *m;
	c.modseq = mod.modseq_r;
	if (fs->latest == NULL)
		fs->latest = fs_view_new();
	uint32_t n = fs->latest->count;
	if (n == 0 || fs_view_at(fs->latest, n - 1)->uid < m->uid) {
		fs_view_push(&fs->latest, &c);
	} else {
		/* below others' messages not listed yet: rebuild */
		struct mindex_msg *a = view_to_array(fs->latest, 1);
		uint32_t at = fs_view_ge(fs->latest, m->uid);
		memmove(a + at + 1, a + at, (n - at) * sizeof(*a));
		a[at] = c;
		a[at].name = xstrdup(m->name);
		fs_view_unref(&fs->latest);
		fs->latest = fs_view_from_array(a, n + 1);
	}
	if (m->uid >= fs->uidnext)
		fs->uidnext = m->uid + 1;
	fs->gen++;
	return 0;
}
