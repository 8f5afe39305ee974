/*
 * wm-order - per (user, folder) sorted orders and threads of the message
 * list (see wm-order.h).
 */
#include "wm-order.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/xmalloc.h"
#include "imap/imap_thread.h"
#include "store/store_name.h"

struct item {
	uint32_t uid, flags;
	uint64_t size;
	int64_t date;
	bool reply;
	bool newest;	 /* the newest message of its thread */
	uint32_t thread; /* UID of the thread's first message */
	uint32_t tcount;
	char *blob;	   /* owns msgid, base, fromkey */
	const char *msgid; /* NULL when none */
	const char *base, *fromkey;
	char **refs;
	size_t nrefs;
	char *text; /* wm_order_set_text */
};

struct wm_order {
	struct wm_order *next; /* the table's list */
	char *user, *folder;
	pthread_mutex_t mu;
	unsigned refs; /* under table_mu */
	time_t used;   /* under table_mu */
	uint64_t tick; /* under table_mu: LRU order */
	bool valid;
	struct wm_order_stamp stamp;
	struct item *v; /* ascending UIDs */
	size_t n, unread, nthreads;
	size_t text_bytes;
	/* [key][threads]: indexes into v, ascending; NULL until wanted. */
	uint32_t *order[WM_ORDER_NKEYS][2];
};

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static struct wm_order *table;
static uint64_t table_tick;
static struct wm_order_stats stats;

static void stat_add(unsigned long long *c, unsigned long long n)
{
	__atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

static void item_clear(struct item *m)
{
	free(m->text);
	free(m->blob);
	imap_msgids_free(m->refs, m->nrefs);
	memset(m, 0, sizeof(*m));
}

static void orders_drop(struct wm_order *o)
{
	for (int k = 0; k < WM_ORDER_NKEYS; k++)
		for (int t = 0; t < 2; t++) {
			free(o->order[k][t]);
			o->order[k][t] = NULL;
		}
}

static void items_drop(struct wm_order *o)
{
	for (size_t i = 0; i < o->n; i++)
		item_clear(&o->v[i]);
	free(o->v);
	o->v = NULL;
	o->n = o->unread = o->nthreads = o->text_bytes = 0;
	orders_drop(o);
}

static void entry_free(struct wm_order *o)
{
	items_drop(o);
	pthread_mutex_destroy(&o->mu);
	free(o->user);
	free(o->folder);
	free(o);
}

static void item_set_keys(struct item *m, const struct wm_order_keys *k)
{
	const char *id = k->msgid != NULL ? k->msgid : "";
	const char *base = k->base != NULL ? k->base : "";
	const char *from = k->fromkey != NULL ? k->fromkey : "";
	size_t li = strlen(id) + 1, lb = strlen(base) + 1,
	       lf = strlen(from) + 1;

	m->blob = xmalloc(li + lb + lf);
	memcpy(m->blob, id, li);
	memcpy(m->blob + li, base, lb);
	memcpy(m->blob + li + lb, from, lf);
	m->msgid = id[0] != '\0' ? m->blob : NULL;
	m->base = m->blob + li;
	m->fromkey = m->blob + li + lb;
	m->date = k->date;
	m->reply = k->reply;
	m->nrefs = k->refs != NULL ? imap_msgids_parse(k->refs, &m->refs) : 0;
	if (m->nrefs == 0)
		m->refs = NULL;
}

/* THREAD=REFERENCES over every message, in memory. */
static void threads_build(struct wm_order *o)
{
	struct imap_thread_msg *tm = xcalloc(o->n + 1, sizeof(*tm));
	size_t *roots = xcalloc(o->n + 1, sizeof(*roots));
	uint32_t *counts = xcalloc(o->n + 1, sizeof(*counts));
	size_t *newest = xcalloc(o->n + 1, sizeof(*newest));

	for (size_t i = 0; i < o->n; i++) {
		const struct item *m = &o->v[i];
		tm[i].id = m->uid;
		tm[i].seq = (uint32_t)(i + 1);
		tm[i].date = m->date;
		tm[i].message_id = m->msgid;
		tm[i].refs = m->refs;
		tm[i].nrefs = m->nrefs;
		tm[i].base_subject = m->base;
		tm[i].is_reply = m->reply;
	}
	imap_thread_references(tm, o->n, roots);
	o->nthreads = 0;
	for (size_t i = 0; i < o->n; i++) {
		size_t r = roots[i];
		if (counts[r]++ == 0) {
			o->nthreads++;
			newest[r] = i;
		} else {
			const struct item *a = &o->v[i], *b = &o->v[newest[r]];
			if (a->date > b->date ||
			    (a->date == b->date && a->uid > b->uid))
				newest[r] = i;
		}
	}
	for (size_t i = 0; i < o->n; i++) {
		o->v[i].thread = o->v[roots[i]].uid;
		o->v[i].tcount = counts[roots[i]];
		o->v[i].newest = newest[roots[i]] == i;
	}
	free(newest);
	free(counts);
	free(roots);
	free(tm);
	stat_add(&stats.thread_builds, 1);
}

static int key_cmp(const struct item *a, const struct item *b,
		   enum wm_order_key key)
{
	int c = 0;

	switch (key) {
	case WM_ORDER_FROM:
		c = strcasecmp(a->fromkey, b->fromkey);
		break;
	case WM_ORDER_SUBJECT:
		c = strcasecmp(a->base, b->base);
		break;
	case WM_ORDER_SIZE:
		if (a->size != b->size)
			return a->size < b->size ? -1 : 1;
		break;
	default:
		break;
	}
	if (c != 0)
		return c;
	if (key != WM_ORDER_SIZE && a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

struct sort_ctx {
	const struct item *v;
	enum wm_order_key key;
};

static int idx_cmp(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *sc = arg;
	return key_cmp(&sc->v[*(const uint32_t *)pa],
		       &sc->v[*(const uint32_t *)pb], sc->key);
}

static const uint32_t *order_of(struct wm_order *o, enum wm_order_key key,
				bool threads)
{
	uint32_t **slot = &o->order[key][threads ? 1 : 0];
	struct sort_ctx sc = {o->v, key};
	size_t k = 0;

	if (*slot != NULL)
		return *slot;
	*slot = xcalloc(o->n + 1, sizeof(**slot));
	for (size_t i = 0; i < o->n; i++)
		if (!threads || o->v[i].newest)
			(*slot)[k++] = (uint32_t)i;
	qsort_r(*slot, k, sizeof(**slot), idx_cmp, &sc);
	stat_add(&stats.sorts, 1);
	return *slot;
}

static bool stamp_eq(const struct wm_order_stamp *a,
		     const struct wm_order_stamp *b)
{
	return a->uidvalidity == b->uidvalidity && a->uidnext == b->uidnext &&
	       a->count == b->count && a->highestmodseq == b->highestmodseq;
}

static size_t count_unread(const struct wm_order *o)
{
	size_t u = 0;

	for (size_t i = 0; i < o->n; i++)
		if (!(o->v[i].flags & STORE_FLAG_SEEN))
			u++;
	return u;
}

static int refresh(struct wm_order *o, const struct wm_order_source *src,
		   struct error *err)
{
	struct wm_order_msg *msgs = NULL;
	struct wm_order_keys *keys = NULL;
	uint32_t *want = NULL;
	struct item *nv;
	size_t nm, nwant = 0, i, j, k;
	bool same;
	int rc = -1;

	if (o->valid && stamp_eq(&o->stamp, &src->stamp))
		return 0;
	stat_add(&stats.refreshes, 1);
	if (o->valid && o->stamp.uidvalidity != src->stamp.uidvalidity)
		items_drop(o);
	nm = src->list(src->ctx, &msgs);
	same = nm == o->n;
	for (i = 0; same && i < nm; i++)
		same = msgs[i].uid == o->v[i].uid;
	if (same) {
		/* Only flags (or nothing we keep) changed: no re-sorting. */
		for (i = 0; i < nm; i++)
			o->v[i].flags = msgs[i].flags;
		o->unread = count_unread(o);
		goto done;
	}
	/* The UIDs not in the entry yet: their keys from the loader. */
	want = xcalloc(nm + 1, sizeof(*want));
	for (i = 0, j = 0; i < nm; i++) {
		while (j < o->n && o->v[j].uid < msgs[i].uid)
			j++;
		if (j >= o->n || o->v[j].uid != msgs[i].uid)
			want[nwant++] = msgs[i].uid;
	}
	keys = xcalloc(nwant + 1, sizeof(*keys));
	if (nwant > 0 && src->keys(src->ctx, want, nwant, keys, err) < 0)
		goto out;
	stat_add(&stats.keys_loaded, nwant);
	nv = xcalloc(nm + 1, sizeof(*nv));
	for (i = 0, j = 0, k = 0; i < nm; i++) {
		while (j < o->n && o->v[j].uid < msgs[i].uid)
			item_clear(&o->v[j++]);
		if (j < o->n && o->v[j].uid == msgs[i].uid) {
			nv[i] = o->v[j];
			memset(&o->v[j++], 0, sizeof(o->v[0]));
		} else {
			nv[i].uid = msgs[i].uid;
			item_set_keys(&nv[i], &keys[k++]);
		}
		nv[i].flags = msgs[i].flags;
		nv[i].size = msgs[i].size;
	}
	while (j < o->n)
		item_clear(&o->v[j++]);
	free(o->v);
	o->v = nv;
	o->n = nm;
	o->text_bytes = 0;
	for (i = 0; i < nm; i++)
		if (nv[i].text != NULL)
			o->text_bytes += strlen(nv[i].text) + 1;
	o->unread = count_unread(o);
	orders_drop(o);
	threads_build(o);
done:
	o->stamp = src->stamp;
	o->valid = true;
	rc = 0;
out:
	free(keys);
	free(want);
	free(msgs);
	return rc;
}

/* Under table_mu: free idle entries; make room for one more. */
static void table_sweep(time_t now, bool need_room)
{
	struct wm_order **pp = &table, *lru = NULL;
	size_t n = 0;

	while (*pp != NULL) {
		struct wm_order *o = *pp;
		if (o->refs == 0 && now - o->used > WM_ORDER_IDLE_SECONDS) {
			*pp = o->next;
			entry_free(o);
			continue;
		}
		if (o->refs == 0 && (lru == NULL || o->tick < lru->tick))
			lru = o;
		n++;
		pp = &o->next;
	}
	if (need_room && n >= WM_ORDER_MAX_FOLDERS && lru != NULL) {
		for (pp = &table; *pp != lru; pp = &(*pp)->next)
			;
		*pp = lru->next;
		entry_free(lru);
	}
}

static struct wm_order *lookup(const char *user, const char *folder,
			       const struct wm_order_source *src, bool create,
			       struct error *err)
{
	time_t now = time(NULL);
	struct wm_order *o;

	pthread_mutex_lock(&table_mu);
	for (o = table; o != NULL; o = o->next)
		if (strcmp(o->user, user) == 0 &&
		    strcmp(o->folder, folder) == 0)
			break;
	if (o == NULL && !create) {
		pthread_mutex_unlock(&table_mu);
		return NULL;
	}
	table_sweep(now, o == NULL);
	if (o == NULL) {
		o = xcalloc(1, sizeof(*o));
		o->user = xstrdup(user);
		o->folder = xstrdup(folder);
		pthread_mutex_init(&o->mu, NULL);
		o->next = table;
		table = o;
	}
	o->refs++;
	o->used = now;
	o->tick = ++table_tick;
	pthread_mutex_unlock(&table_mu);

	pthread_mutex_lock(&o->mu);
	if (refresh(o, src, err) < 0) {
		wm_order_put(&o);
		return NULL;
	}
	return o;
}

struct wm_order *wm_order_get(const char *user, const char *folder,
			      const struct wm_order_source *src,
			      struct error *err)
{
	return lookup(user, folder, src, true, err);
}

struct wm_order *wm_order_peek(const char *user, const char *folder,
			       const struct wm_order_source *src,
			       struct error *err)
{
	return lookup(user, folder, src, false, err);
}

void wm_order_put(struct wm_order **op)
{
	struct wm_order *o = *op;

	if (o == NULL)
		return;
	*op = NULL;
	pthread_mutex_unlock(&o->mu);
	pthread_mutex_lock(&table_mu);
	o->refs--;
	o->used = time(NULL);
	pthread_mutex_unlock(&table_mu);
}

size_t wm_order_count(const struct wm_order *o)
{
	return o->n;
}
size_t wm_order_unread(const struct wm_order *o)
{
	return o->unread;
}
size_t wm_order_threads(const struct wm_order *o)
{
	return o->nthreads;
}

static void item_out(const struct item *m, struct wm_order_item *out)
{
	out->uid = m->uid;
	out->flags = m->flags;
	out->size = m->size;
	out->date = m->date;
	out->thread = m->thread;
	out->thread_count = m->tcount;
}

size_t wm_order_page(struct wm_order *o, enum wm_order_key key, bool desc,
		     bool threads, size_t offset, size_t limit,
		     struct wm_order_item *items_r)
{
	size_t total = threads ? o->nthreads : o->n, np = 0;
	const uint32_t *ord;

	if ((unsigned)key >= WM_ORDER_NKEYS)
		key = WM_ORDER_DATE;
	if (offset >= total)
		return 0;
	ord = order_of(o, key, threads);
	for (size_t at = offset; at < total && np < limit; at++)
		item_out(&o->v[ord[desc ? total - 1 - at : at]],
			 &items_r[np++]);
	return np;
}

static const struct item *find(const struct wm_order *o, uint32_t uid)
{
	size_t lo = 0, hi = o->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (o->v[mid].uid == uid)
			return &o->v[mid];
		if (o->v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool wm_order_item(const struct wm_order *o, uint32_t uid,
		   struct wm_order_item *item_r)
{
	const struct item *m = find(o, uid);

	if (m == NULL)
		return false;
	item_out(m, item_r);
	return true;
}

static int thread_item_cmp(const void *pa, const void *pb)
{
	const struct wm_order_item *a = pa, *b = pb;

	if (a->date != b->date)
		return a->date < b->date ? -1 : 1;
	return a->uid < b->uid ? -1 : a->uid > b->uid;
}

size_t wm_order_thread_items(const struct wm_order *o, uint32_t uid,
			     struct wm_order_item **items_r)
{
	const struct item *m = find(o, uid);
	size_t k = 0;

	*items_r = NULL;
	if (m == NULL)
		return 0;
	*items_r = xcalloc(m->tcount + 1, sizeof(**items_r));
	for (size_t i = 0; i < o->n && k < m->tcount; i++)
		if (o->v[i].thread == m->thread)
			item_out(&o->v[i], &(*items_r)[k++]);
	qsort(*items_r, k, sizeof(**items_r), thread_item_cmp);
	return k;
}

const char *wm_order_text(const struct wm_order *o, uint32_t uid)
{
	const struct item *m = find(o, uid);

	return m != NULL ? m->text : NULL;
}

void wm_order_set_text(struct wm_order *o, uint32_t uid, const char *text)
{
	struct item *m = (struct item *)find(o, uid);
	size_t len = strlen(text) + 1;

	if (m == NULL || len > WM_ORDER_TEXT_MAX)
		return;
	if (m->text != NULL) {
		o->text_bytes -= strlen(m->text) + 1;
		free(m->text);
		m->text = NULL;
	}
	if (o->text_bytes + len > WM_ORDER_TEXT_MAX) {
		for (size_t i = 0; i < o->n; i++) {
			free(o->v[i].text);
			o->v[i].text = NULL;
		}
		o->text_bytes = 0;
	}
	m->text = xstrdup(text);
	o->text_bytes += len;
}

void wm_order_stats_get(struct wm_order_stats *st)
{
	st->thread_builds =
	    __atomic_load_n(&stats.thread_builds, __ATOMIC_RELAXED);
	st->sorts = __atomic_load_n(&stats.sorts, __ATOMIC_RELAXED);
	st->keys_loaded = __atomic_load_n(&stats.keys_loaded, __ATOMIC_RELAXED);
	st->refreshes = __atomic_load_n(&stats.refreshes, __ATOMIC_RELAXED);
}

void wm_order_forget(void)
{
	struct wm_order **pp = &table;

	pthread_mutex_lock(&table_mu);
	while (*pp != NULL) {
		struct wm_order *o = *pp;
		if (o->refs == 0) {
			*pp = o->next;
			entry_free(o);
		} else {
			pp = &o->next;
		}
	}
	pthread_mutex_unlock(&table_mu);
}
