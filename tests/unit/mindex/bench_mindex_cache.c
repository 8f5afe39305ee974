/*
 * bench_mindex_cache - times the mindex cache over N messages: N single
 * mindex_cache_get/put calls against one mindex_cache_get_many/
 * put_many (what imapd's FETCH/SORT/THREAD do).  Not a test; run by
 * hand on a RelWithDebInfo build:  build-x/tests/bench_mindex_cache 10000
 */
#include <time.h>

#include "mindex_test_util.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t got;

static void count_cb(void *ctx, size_t i, const void *data, size_t len)
{
	(void)ctx;
	(void)i;
	(void)data;
	got += len;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)atol(argv[1]) : 10000;
	struct fx *x = fx_new();
	struct error err = {0};
	for (size_t i = 0; i < n; i++)
		fx_deliver(x, NULL, "Subject: x\n\nbody\n");
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	if (f == NULL || mindex_folder_count(f) != n) {
		fprintf(stderr, "open: %s\n", err.msg);
		return 1;
	}
	uint32_t *uids = xcalloc(n, sizeof(*uids));
	struct mindex_cache_item *items = xcalloc(n, sizeof(*items));
	char val[400];
	memset(val, 'e', sizeof(val));
	for (size_t i = 0; i < n; i++) {
		uids[i] = mindex_msg(f, (uint32_t)i + 1)->uid;
		items[i] =
		    (struct mindex_cache_item){uids[i], val, sizeof(val)};
	}
	double t = now_ms();
	for (size_t i = 0; i < n; i++)
		if (mindex_cache_put(f, uids[i], "envelope", val, sizeof(val),
				     &err) < 0)
			return 1;
	printf("put x%zu single   %8.1f ms\n", n, now_ms() - t);
	t = now_ms();
	if (mindex_cache_put_many(f, "bodystructure", items, n, &err) < 0)
		return 1;
	printf("put_many %zu       %8.1f ms\n", n, now_ms() - t);
	/* a third field, so a range scan walks rows of other fields too */
	if (mindex_cache_put_many(f, "sortkeys", items, n, &err) < 0)
		return 1;
	struct buf *b = buf_new();
	for (int round = 0; round < 3; round++) {
		t = now_ms();
		for (size_t i = 0; i < n; i++) {
			buf_reset(b);
			if (mindex_cache_get(f, uids[i], "envelope", b, &err) !=
			    1)
				return 1;
		}
		printf("get x%zu single   %8.1f ms\n", n, now_ms() - t);
		t = now_ms();
		if (mindex_cache_get_many(f, uids, n, "envelope", count_cb,
					  NULL, &err) != (int)n)
			return 1;
		printf("get_many %zu dense %8.1f ms\n", n, now_ms() - t);
		/* every other uid, in windows of 512 like FETCH */
		t = now_ms();
		for (size_t w = 0; w < n; w += 512)
			if (mindex_cache_get_many(
				f, uids + w, n - w < 512 ? n - w : 512,
				"envelope", count_cb, NULL, &err) < 0)
				return 1;
		printf("get_many windows of 512 %8.1f ms\n", now_ms() - t);
	}
	buf_free(&b);
	free(uids);
	free(items);
	mindex_folder_close(&f);
	fx_free(x);
	return got > 0 ? 0 : 1;
}
