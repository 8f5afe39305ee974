/*
 * test_wm_order - the message list's kept orders and threads
 * (webmail/wm-order.c) over a fake folder: each sort key both ways,
 * paging, THREAD=REFERENCES ids, the thread view; what a refresh costs
 * (nothing for the same stamp, no re-sort for a flag change, keys of new
 * messages only for an append) and that the answers after a delivery, a
 * flag change and an expunge are right; UIDVALIDITY, loader errors,
 * eviction, and several threads at once.
 */
#include "test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_name.h"
#include "wm-order.h"

struct fmsg {
	uint32_t uid, flags;
	uint64_t size;
	int64_t date;
	const char *msgid, *base, *from, *refs;
	bool reply;
};

struct folder {
	struct fmsg m[64];
	size_t n;
	struct wm_order_stamp stamp;
	unsigned list_calls;
	size_t keys_asked;
	bool fail;
};

static size_t f_list(void *ctx, struct wm_order_msg **msgs_r)
{
	struct folder *f = ctx;
	struct wm_order_msg *v = calloc(f->n + 1, sizeof(*v));

	f->list_calls++;
	for (size_t i = 0; i < f->n; i++) {
		v[i].uid = f->m[i].uid;
		v[i].flags = f->m[i].flags;
		v[i].size = f->m[i].size;
	}
	*msgs_r = v;
	return f->n;
}

static int f_keys(void *ctx, const uint32_t *uids, size_t n,
		  struct wm_order_keys *keys_r, struct error *err)
{
	struct folder *f = ctx;

	if (f->fail) {
		error_set(err, ERR_TEMP, "loader failed");
		return -1;
	}
	f->keys_asked += n;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < f->n; j++)
			if (f->m[j].uid == uids[i]) {
				keys_r[i].date = f->m[j].date;
				keys_r[i].reply = f->m[j].reply;
				keys_r[i].msgid = f->m[j].msgid;
				keys_r[i].base = f->m[j].base;
				keys_r[i].fromkey = f->m[j].from;
				keys_r[i].refs = f->m[j].refs;
			}
	return 0;
}

static struct wm_order *get(const char *user, struct folder *f)
{
	struct wm_order_source src = {f->stamp, f_list, f_keys, f};
	struct error err;
	struct wm_order *o = wm_order_get(user, "INBOX", &src, &err);

	assert_non_null(o);
	return o;
}

static void add(struct folder *f, uint32_t uid, int64_t date, uint64_t size,
		const char *from, const char *base, const char *msgid,
		const char *refs, bool reply)
{
	struct fmsg *m = &f->m[f->n++];

	memset(m, 0, sizeof(*m));
	m->uid = uid;
	m->date = date;
	m->size = size;
	m->from = from;
	m->base = base;
	m->msgid = msgid;
	m->refs = refs;
	m->reply = reply;
	f->stamp.count = (uint32_t)f->n;
	f->stamp.uidnext = uid + 1;
	f->stamp.highestmodseq++;
}

/*
 * uid 1 "Lunch" from carol, 2 "Report" from alice, 3 Re: Lunch (bob,
 * refs 1), 4 "Zebra" from Dave, 5 Re: Lunch (alice, refs 1 3).
 */
static void standard(struct folder *f)
{
	memset(f, 0, sizeof(*f));
	f->stamp.uidvalidity = 7;
	add(f, 1, 1000, 300, "carol", "LUNCH", "<1@x>", NULL, false);
	add(f, 2, 2000, 100, "alice", "REPORT", "<2@x>", NULL, false);
	add(f, 3, 3000, 500, "Bob", "LUNCH", "<3@x>", "<1@x>", true);
	add(f, 4, 4000, 200, "Dave", "ZEBRA", "<4@x>", NULL, false);
	add(f, 5, 5000, 400, "alice", "LUNCH", "<5@x>", "<1@x> <3@x>", true);
	f->m[1].flags = STORE_FLAG_SEEN;
}

static void page_uids(struct wm_order *o, enum wm_order_key key, bool desc,
		      bool threads, size_t off, size_t lim, const char *want)
{
	struct wm_order_item it[64];
	char got[256] = "";
	size_t n = wm_order_page(o, key, desc, threads, off, lim, it);

	for (size_t i = 0; i < n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u",
			 i > 0 ? " " : "", it[i].uid);
	assert_string_equal(got, want);
}

static void test_orders(void **state)
{
	struct folder f;
	struct wm_order *o;

	(void)state;
	wm_order_forget();
	standard(&f);
	o = get("u1@x.test", &f);
	assert_int_equal(wm_order_count(o), 5);
	assert_int_equal(wm_order_unread(o), 4);
	assert_int_equal(wm_order_threads(o), 3);
	page_uids(o, WM_ORDER_DATE, true, false, 0, 50, "5 4 3 2 1");
	page_uids(o, WM_ORDER_DATE, false, false, 0, 50, "1 2 3 4 5");
	/* from: case-insensitive, ties by date */
	page_uids(o, WM_ORDER_FROM, false, false, 0, 50, "2 5 3 1 4");
	page_uids(o, WM_ORDER_FROM, true, false, 0, 50, "4 1 3 5 2");
	page_uids(o, WM_ORDER_SUBJECT, false, false, 0, 50, "1 3 5 2 4");
	page_uids(o, WM_ORDER_SIZE, true, false, 0, 50, "3 5 1 4 2");
	/* paging */
	page_uids(o, WM_ORDER_DATE, true, false, 1, 2, "4 3");
	page_uids(o, WM_ORDER_DATE, true, false, 4, 2, "1");
	page_uids(o, WM_ORDER_DATE, true, false, 5, 2, "");
	page_uids(o, WM_ORDER_DATE, true, false, 999, 2, "");
	/* threads: the newest message of each, in the key's order */
	page_uids(o, WM_ORDER_DATE, true, true, 0, 50, "5 4 2");
	page_uids(o, WM_ORDER_SUBJECT, false, true, 0, 50, "5 2 4");
	wm_order_put(&o);
	assert_null(o);
}

static void test_thread_ids(void **state)
{
	struct folder f;
	struct wm_order *o;
	struct wm_order_item it, *v;
	size_t n;

	(void)state;
	wm_order_forget();
	standard(&f);
	o = get("u1@x.test", &f);
	assert_true(wm_order_item(o, 5, &it));
	assert_int_equal(it.thread, 1);
	assert_int_equal(it.thread_count, 3);
	assert_int_equal(it.date, 5000);
	assert_true(wm_order_item(o, 3, &it));
	assert_int_equal(it.thread, 1);
	assert_true(wm_order_item(o, 4, &it));
	assert_int_equal(it.thread, 4);
	assert_int_equal(it.thread_count, 1);
	assert_false(wm_order_item(o, 99, &it));
	n = wm_order_thread_items(o, 3, &v);
	assert_int_equal(n, 3);
	assert_int_equal(v[0].uid, 1);
	assert_int_equal(v[1].uid, 3);
	assert_int_equal(v[2].uid, 5);
	free(v);
	assert_int_equal(wm_order_thread_items(o, 99, &v), 0);
	assert_null(v);
	wm_order_put(&o);
}

static void test_refresh_costs(void **state)
{
	struct folder f;
	struct wm_order *o;
	struct wm_order_stats s0, s1;
	struct wm_order_item it;

	(void)state;
	wm_order_forget();
	standard(&f);
	o = get("u1@x.test", &f);
	page_uids(o, WM_ORDER_DATE, true, false, 0, 50, "5 4 3 2 1");
	wm_order_put(&o);
	assert_int_equal(f.keys_asked, 5);

	/* Same stamp: the view is not even listed. */
	wm_order_stats_get(&s0);
	o = get("u1@x.test", &f);
	page_uids(o, WM_ORDER_DATE, true, false, 0, 2, "5 4");
	wm_order_put(&o);
	wm_order_stats_get(&s1);
	assert_int_equal(f.list_calls, 1);
	assert_int_equal(s1.sorts, s0.sorts);
	assert_int_equal(s1.refreshes, s0.refreshes);

	/* Flag change: flags and unread follow, nothing is re-sorted. */
	f.m[0].flags = STORE_FLAG_SEEN;
	f.m[4].flags = STORE_FLAG_FLAGGED | STORE_FLAG_SEEN;
	f.stamp.highestmodseq++;
	o = get("u1@x.test", &f);
	assert_int_equal(wm_order_unread(o), 2);
	assert_true(wm_order_item(o, 5, &it));
	assert_int_equal(it.flags, STORE_FLAG_FLAGGED | STORE_FLAG_SEEN);
	page_uids(o, WM_ORDER_DATE, true, false, 0, 50, "5 4 3 2 1");
	wm_order_put(&o);
	wm_order_stats_get(&s0);
	assert_int_equal(s0.sorts, s1.sorts);
	assert_int_equal(s0.thread_builds, s1.thread_builds);
	assert_int_equal(f.keys_asked, 5);

	/* Delivery: only the new message's keys are read; it joins its
	 * thread and takes its place in every order. */
	add(&f, 9, 3500, 1000, "eve", "REPORT", "<9@x>", "<2@x>", true);
	o = get("u1@x.test", &f);
	assert_int_equal(f.keys_asked, 6);
	assert_int_equal(wm_order_count(o), 6);
	assert_int_equal(wm_order_unread(o), 3);
	page_uids(o, WM_ORDER_DATE, true, false, 0, 50, "5 4 9 3 2 1");
	page_uids(o, WM_ORDER_SIZE, true, false, 0, 1, "9");
	page_uids(o, WM_ORDER_DATE, true, true, 0, 50, "5 4 9");
	assert_true(wm_order_item(o, 9, &it));
	assert_int_equal(it.thread, 2);
	assert_int_equal(it.thread_count, 2);
	wm_order_put(&o);

	/* Expunge of a thread's first message: the thread's id becomes
	 * the next one's, as IMAP THREAD would give it. */
	memmove(&f.m[0], &f.m[1], (f.n - 1) * sizeof(f.m[0]));
	f.n--;
	f.stamp.count--;
	f.stamp.highestmodseq++;
	o = get("u1@x.test", &f);
	assert_int_equal(f.keys_asked, 6);
	assert_int_equal(wm_order_count(o), 5);
	page_uids(o, WM_ORDER_DATE, false, false, 0, 50, "2 3 9 4 5");
	assert_true(wm_order_item(o, 5, &it));
	assert_int_equal(it.thread, 3);
	assert_int_equal(it.thread_count, 2);
	wm_order_put(&o);
}

static void test_uidvalidity_and_errors(void **state)
{
	struct folder f;
	struct wm_order *o;
	struct wm_order_source src;
	struct error err;

	(void)state;
	wm_order_forget();
	standard(&f);
	o = get("u1@x.test", &f);
	wm_order_put(&o);
	f.stamp.uidvalidity++;
	o = get("u1@x.test", &f);
	assert_int_equal(f.keys_asked, 10); /* every message again */
	wm_order_put(&o);

	/* A failing loader: NULL, the error, and the next call works. */
	add(&f, 20, 9000, 1, "zed", "NEW", "<20@x>", NULL, false);
	f.fail = true;
	src = (struct wm_order_source){f.stamp, f_list, f_keys, &f};
	assert_null(wm_order_get("u1@x.test", "INBOX", &src, &err));
	assert_int_equal(err.kind, ERR_TEMP);
	f.fail = false;
	o = get("u1@x.test", &f);
	page_uids(o, WM_ORDER_DATE, true, false, 0, 1, "20");
	wm_order_put(&o);

	/* Peek: nothing for a folder without an entry, the refreshed
	 * entry otherwise. */
	src = (struct wm_order_source){f.stamp, f_list, f_keys, &f};
	assert_null(wm_order_peek("nobody@x.test", "INBOX", &src, &err));
	add(&f, 21, 9500, 1, "zoe", "NEWER", "<21@x>", NULL, false);
	src = (struct wm_order_source){f.stamp, f_list, f_keys, &f};
	o = wm_order_peek("u1@x.test", "INBOX", &src, &err);
	assert_non_null(o);
	page_uids(o, WM_ORDER_DATE, true, false, 0, 2, "21 20");
	wm_order_put(&o);

	/* Another user's folder of the same name is another entry. */
	standard(&f);
	f.m[0].base = "OTHER";
	o = get("u2@x.test", &f);
	assert_int_equal(f.keys_asked, 5);
	page_uids(o, WM_ORDER_SUBJECT, false, false, 0, 1, "3");
	wm_order_put(&o);
}

static void test_texts(void **state)
{
	struct folder f;
	struct wm_order *o;
	char *big;
	size_t n = 0;

	(void)state;
	wm_order_forget();
	standard(&f);
	o = get("u1@x.test", &f);
	assert_null(wm_order_text(o, 3));
	wm_order_set_text(o, 3, "three");
	wm_order_set_text(o, 4, "four");
	wm_order_set_text(o, 99, "nobody");
	assert_null(wm_order_text(o, 99));
	assert_string_equal(wm_order_text(o, 3), "three");
	wm_order_set_text(o, 3, "three again");
	wm_order_put(&o);

	/* Kept across requests and flag changes; gone with the message. */
	f.m[2].flags = STORE_FLAG_SEEN;
	f.stamp.highestmodseq++;
	o = get("u1@x.test", &f);
	assert_string_equal(wm_order_text(o, 3), "three again");
	wm_order_put(&o);
	memmove(&f.m[2], &f.m[3], (f.n - 3) * sizeof(f.m[0]));
	f.n--;
	f.stamp.count--;
	f.stamp.highestmodseq++;
	o = get("u1@x.test", &f);
	assert_null(wm_order_text(o, 3));
	assert_string_equal(wm_order_text(o, 4), "four");

	/* Bounded: passing WM_ORDER_TEXT_MAX drops the texts kept. */
	big = malloc(WM_ORDER_TEXT_MAX / 3);
	memset(big, 'x', WM_ORDER_TEXT_MAX / 3 - 1);
	big[WM_ORDER_TEXT_MAX / 3 - 1] = '\0';
	wm_order_set_text(o, 1, big);
	wm_order_set_text(o, 2, big);
	assert_non_null(wm_order_text(o, 4));
	wm_order_set_text(o, 5, big);
	assert_null(wm_order_text(o, 4));
	assert_null(wm_order_text(o, 1));
	assert_non_null(wm_order_text(o, 5));
	for (uint32_t u = 1; u <= 5; u++)
		n += wm_order_text(o, u) != NULL;
	assert_int_equal(n, 1);
	free(big);
	wm_order_put(&o);
}

static void test_eviction(void **state)
{
	struct folder f;
	struct wm_order *o;
	char user[32];

	(void)state;
	wm_order_forget();
	standard(&f);
	o = get("first@x.test", &f);
	wm_order_put(&o);
	for (int i = 0; i < WM_ORDER_MAX_FOLDERS; i++) {
		snprintf(user, sizeof(user), "u%d@x.test", i);
		o = get(user, &f);
		wm_order_put(&o);
	}
	/* The table was full: the least recently used entry went. */
	f.keys_asked = 0;
	o = get("first@x.test", &f);
	assert_int_equal(f.keys_asked, 5);
	wm_order_put(&o);
	/* The most recent is still there. */
	snprintf(user, sizeof(user), "u%d@x.test", WM_ORDER_MAX_FOLDERS - 1);
	f.keys_asked = 0;
	o = get(user, &f);
	assert_int_equal(f.keys_asked, 0);
	wm_order_put(&o);
}

struct worker {
	int id;
	int errors;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct folder *f = calloc(1, sizeof(*f));
	char user[32];

	standard(f);
	snprintf(user, sizeof(user), "t%d@x.test", w->id % 2);
	for (int i = 0; i < 300; i++) {
		struct wm_order_item it[8];
		struct wm_order *o;
		size_t n;

		/* Threads of one user alternate two stamps: every get
		 * refreshes while others read. */
		f->stamp.highestmodseq = (uint64_t)(i % 2);
		f->m[0].flags = i % 2 ? STORE_FLAG_SEEN : 0;
		o = get(user, f);
		n = wm_order_page(o, (enum wm_order_key)(i % WM_ORDER_NKEYS),
				  i % 3 == 0, i % 2 == 0, 0, 8, it);
		if (wm_order_count(o) != 5 || n != (i % 2 == 0 ? 3u : 5u))
			w->errors++;
		wm_order_put(&o);
	}
	free(f);
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[4];
	struct worker w[4];

	(void)state;
	wm_order_forget();
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){i, 0};
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]),
				 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].errors, 0);
	}
	wm_order_forget();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_orders),
	    cmocka_unit_test(test_thread_ids),
	    cmocka_unit_test(test_refresh_costs),
	    cmocka_unit_test(test_uidvalidity_and_errors),
	    cmocka_unit_test(test_texts),
	    cmocka_unit_test(test_eviction),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
