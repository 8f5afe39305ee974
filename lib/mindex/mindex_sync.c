/*
 * The sync of a session's view with its folder (docs/index.md).
 *
 *   1. fs_refresh (mindex_fstate.c) brings the folder's shared table up
 *      to date with the disk, once per process however many sessions
 *      ask: four stat() calls when nothing changed.
 *   2. The session's view (what it told its client) is compared with
 *      the shared table: chunks both share are equal and skipped, so a
 *      sync after a few changes costs a few chunk comparisons.
 *   3. The result: expunged (old sequence numbers), new (EXISTS), flags
 *      or modseq changed by others (FETCH), keywords changed (FLAGS).
 *      The view becomes the shared table itself unless it must differ
 *      (expunges kept by MINDEX_SYNC_NO_EXPUNGE, UIDs below what the
 *      client knows): then it is a private copy until a later sync.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xmalloc.h"
#include "mindex_private.h"

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

static bool uid_recent(const struct mindex_folder *f, uint32_t uid)
{
	for (size_t k = 0; k < f->nrecent; k++)
		if (uid >= f->recent[k].lo && uid < f->recent[k].hi)
			return true;
	return false;
}

static void count_recent(struct mindex_folder *f)
{
	uint32_t n = 0;
	struct fs_view *v = f->view;
	for (size_t k = 0; v != NULL && k < f->nrecent; k++) {
		uint32_t i = fs_view_ge(v, f->recent[k].lo);
		for (; i < v->count; i++) {
			const struct mindex_msg *m = fs_view_at(v, i);
			if (m->uid >= f->recent[k].hi)
				break;
			if (!m->expunged)
				n++;
		}
	}
	f->recent_count = n;
}

bool mindex_uid_recent(const struct mindex_folder *f, uint32_t uid)
{
	return uid_recent(f, uid);
}

bool mindex_msg_recent(const struct mindex_folder *f, uint32_t seq)
{
	const struct mindex_msg *m = mindex_msg(f, seq);
	return m != NULL && !m->expunged && uid_recent(f, m->uid);
}

/*
 * Compare the view S with the table L and report.  The view becomes L
 * when everything the client is to see is exactly L.
 */
/* What the new view holds, in order: idx + 1 of L, or -(idx + 1) of S
 * (an expunged message kept).  While the new view is exactly L so far
 * nothing is recorded (the common case allocates nothing). */
struct outv {
	int64_t *a;
	uint32_t n, cap;
	bool equals_l;
};

static void out_diverge(struct outv *o)
{
	if (!o->equals_l)
		return;
	o->equals_l = false;
	o->a = xcalloc(o->cap + 1, sizeof(int64_t));
	for (uint32_t k = 0; k < o->n; k++)
		o->a[k] = (int64_t)k + 1; /* so far L[0..n) */
}

static void out_push(struct outv *o, int64_t v)
{
	if (!o->equals_l)
		o->a[o->n] = v;
	o->n++;
}

/*
 * Compare the view S with the table L and report.  The view becomes L
 * when everything the client is to see is exactly L.
 */
static void diff(struct mindex_folder *f, struct fs_view *L, bool keep_exp,
		 struct mindex_sync_result *r)
{
	struct fs_view *S = f->view;
	uint32_t sn = S != NULL ? S->count : 0, ln = L != NULL ? L->count : 0;
	uint32_t old_max = sn > 0 ? fs_view_at(S, sn - 1)->uid : 0;
	struct outv o = {.cap = sn + ln, .equals_l = true};
	uint32_t i = 0, j = 0;
	while (i < sn || j < ln) {
		if (i < sn && j < ln && i % FS_CHUNK == 0 &&
		    j % FS_CHUNK == 0 &&
		    S->chunks[i / FS_CHUNK] == L->chunks[j / FS_CHUNK]) {
			/* a shared chunk: the same entries */
			uint32_t k = S->chunks[i / FS_CHUNK]->n;
			if (o.equals_l && o.n == j)
				o.n += k;
			else
				for (uint32_t x = 0; x < k; x++)
					out_push(&o, (int64_t)(j + x) + 1);
			i += k;
			j += k;
			continue;
		}
		const struct mindex_msg *s = i < sn ? fs_view_at(S, i) : NULL;
		const struct mindex_msg *l = j < ln ? fs_view_at(L, j) : NULL;
		if (s != NULL && (l == NULL || s->uid < l->uid)) {
			/* gone from the folder */
			if (keep_exp) {
				out_diverge(&o);
				out_push(&o, -(int64_t)i - 1);
			} else {
				push_expunged(r, i + 1, s->uid);
			}
			i++;
			continue;
		}
		if (s == NULL || l->uid < s->uid) {
			if (sn > 0 && l->uid < old_max) {
				/* a UID below what the client knows (a file
				 * an earlier listing missed): never shown */
				out_diverge(&o);
			} else {
				out_push(&o, (int64_t)j + 1);
				r->new_count++;
			}
			j++;
			continue;
		}
		/* the same uid */
		if (s->expunged) {
			/* expunged here before (kept), or by this session */
			if (keep_exp) {
				out_diverge(&o);
				out_push(&o, -(int64_t)i - 1);
			} else {
				push_expunged(r, i + 1, s->uid);
				out_diverge(&o);
			}
		} else {
			out_push(&o, (int64_t)j + 1);
			if (s->flags != l->flags ||
			    s->keywords != l->keywords ||
			    s->modseq != l->modseq)
				push_u32(&r->changed_seqs, &r->changed_count,
					 o.n);
		}
		i++;
		j++;
	}
	if (o.equals_l && o.n == ln) {
		if (L != NULL)
			fs_view_ref(L);
		fs_view_unref(&f->view);
		f->view = L;
		f->maybe_expunged = false;
		return;
	}
	out_diverge(&o);
	struct mindex_msg *a = xcalloc(o.n + 1, sizeof(*a));
	bool any_exp = false;
	for (uint32_t k = 0; k < o.n; k++) {
		const struct mindex_msg *src =
		    o.a[k] > 0 ? fs_view_at(L, (uint32_t)(o.a[k] - 1))
			       : fs_view_at(S, (uint32_t)(-o.a[k] - 1));
		a[k] = *src;
		a[k].name = xstrdup(src->name);
		a[k].mtime = __atomic_load_n(&src->mtime, __ATOMIC_RELAXED);
		if (o.a[k] < 0) {
			a[k].expunged = true;
			any_exp = true;
		}
	}
	free(o.a);
	fs_view_unref(&f->view);
	f->view = fs_view_from_array(a, o.n);
	f->maybe_expunged = any_exp;
}

int mindex_folder_sync(struct mindex_folder *f, unsigned sync_flags,
		       struct mindex_sync_result *r, struct error *err)
{
	memset(r, 0, sizeof(*r));
	struct timespec since;
	clock_gettime(CLOCK_MONOTONIC, &since);
	if (f->fs == NULL)
		fs_attach(f); /* a target-only handle becomes a view */
	struct fstate *fs = f->fs;
	pthread_mutex_lock(&fs->lock);
	int ret = -1;
	bool force = (sync_flags & MINDEX_SYNC_FORCE) != 0;
	if (fs_refresh(fs, f, &since, force, err) < 0)
		goto out;
	if (f->uidvalidity != 0 && fs->uidvalidity != f->uidvalidity) {
		error_set_code(err, ERR_TEMP, MINDEX_ERR_UIDVALIDITY,
			       "UIDVALIDITY of %s changed", f->name);
		goto out;
	}
	if (f->kw_gen != fs->kw_gen) {
		bool changed = false;
		for (unsigned k = 0; k < MINDEX_KEYWORDS_MAX; k++)
			if ((f->keywords[k] == NULL) !=
				(fs->keywords[k] == NULL) ||
			    (f->keywords[k] != NULL &&
			     strcmp(f->keywords[k], fs->keywords[k]) != 0))
				changed = true;
		if (changed)
			keywords_copy(f->keywords, fs->keywords);
		r->keywords_changed = changed && f->uidvalidity != 0;
		f->kw_mtime = fs->kw_mtime;
		f->kw_gen = fs->kw_gen;
	}
	bool keep_exp = (sync_flags & MINDEX_SYNC_NO_EXPUNGE) != 0;
	/* nothing to compare when the view is the table, or a private
	 * view that only keeps expunges and nothing changed since */
	if (f->view != fs->latest &&
	    (f->seen_gen != fs->gen || !keep_exp || !f->maybe_expunged))
		diff(f, fs->latest, keep_exp, r);
	f->seen_gen = fs->gen;
	f->uidvalidity = fs->uidvalidity;
	if (fs->uidnext > f->uidnext)
		f->uidnext = fs->uidnext;
	f->highestmodseq = fs->highestmodseq;
	f->log_start = fs->log_start;
	f->db_id = fs->db_id;
	f->db_recent_uid = fs->recent_uid;
	if (!f->readonly && fs_claim_recent(fs, f, err) < 0)
		goto out;
	count_recent(f);
	ret = 0;
out:
	pthread_mutex_unlock(&fs->lock);
	if (ret < 0) {
		mindex_sync_result_free(r);
		return -1;
	}
	r->exists = mindex_folder_count(f);
	r->recent = f->recent_count;
	r->highestmodseq = f->highestmodseq;
	r->uidnext = f->uidnext;
	return 0;
}
