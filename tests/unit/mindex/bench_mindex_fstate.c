/*
 * bench_mindex_fstate - by hand, not a test: what the shared folder state
 * costs on a folder of N messages (default 10,000): first load, a second
 * open while the first is open, NOOP, a STORE seen by another handle,
 * a forced listing, memory held per handle.
 *
 *   build/tests/bench_mindex_fstate [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mindex_test_util.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, const struct error *err)
{
	fprintf(stderr, "%s: %s\n", what, err->msg);
	exit(1);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10000;
	struct fx *x = fx_new();
	static const char body[] = "Subject: x\n\nbody\n";
	for (int i = 0; i < n; i++) {
		char *p = xasprintf("%s/cur/%d.M%06dP1.bench,S=%zu,W=%zu:2,",
				    x->mpath, 1700000000 + i, i, strlen(body),
				    strlen(body) + 3);
		fx_write(p, body);
		free(p);
	}
	fx_age(x->mpath);
	struct error err = {0};
	struct mindex_sync_result r;
	double t = now_ms();
	struct mindex_folder *a =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	if (a == NULL)
		die("open", &err);
	printf("%d messages\n", n);
	printf("first open (numbering, indexing): %.1f ms\n", now_ms() - t);
	/* (the first open wrote the uidlist: the next check reads it again) */
	mindex_folder_close(&a);
	a = mindex_folder_open(x->u, "INBOX", false, &err);
	mindex_folder_close(&a);
	fx_age(x->mpath);
	a = mindex_folder_open(x->u, "INBOX", false, &err);
	mindex_folder_close(&a);
	t = now_ms();
	a = mindex_folder_open(x->u, "INBOX", false, &err);
	printf("open again, its state idle in the process: %.2f ms\n",
	       now_ms() - t);
	mindex_folder_close(&a);
	mindex_forget_idle();
	fx_age(x->mpath);
	t = now_ms();
	a = mindex_folder_open(x->u, "INBOX", false, &err);
	printf("open again, no state (load of the table): %.1f ms\n",
	       now_ms() - t);
	t = now_ms();
	struct mindex_folder *b =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	printf("open while another handle has it: %.3f ms\n", now_ms() - t);
	t = now_ms();
	for (int i = 0; i < 1000; i++) {
		if (mindex_folder_sync(b, 0, &r, &err) < 0)
			die("sync", &err);
		mindex_sync_result_free(&r);
	}
	printf("NOOP sync: %.1f us\n", (now_ms() - t)); /* ms/1000 = us */
	struct mindex_stats s0, s1;
	mindex_stats_get(&s0);
	double tstore = 0, tsync = 0;
	for (int i = 0; i < 100; i++) {
		uint32_t seq = 1 + (uint32_t)(i * 97 % n);
		enum mindex_store_result res;
		t = now_ms();
		if (mindex_store_flags(
			a, &seq, 1,
			i % 2 ? MINDEX_FLAGS_REMOVE : MINDEX_FLAGS_ADD,
			STORE_FLAG_FLAGGED, 0, 0, &res, &err) < 0)
			die("store", &err);
		tstore += now_ms() - t;
		t = now_ms();
		if (mindex_folder_sync(b, 0, &r, &err) < 0)
			die("sync", &err);
		tsync += now_ms() - t;
		mindex_sync_result_free(&r);
		if (mindex_folder_sync(a, 0, &r, &err) < 0)
			die("sync", &err);
		mindex_sync_result_free(&r);
	}
	mindex_stats_get(&s1);
	printf("STORE of one message: %.2f ms; other handle's sync after it: "
	       "%.3f ms (listings %llu, full scans %llu in 100)\n",
	       tstore / 100, tsync / 100, s1.fast_scans - s0.fast_scans,
	       s1.full_scans - s0.full_scans);
	t = now_ms();
	for (int i = 0; i < 20; i++) {
		if (mindex_folder_sync(b, MINDEX_SYNC_FORCE, &r, &err) < 0)
			die("sync", &err);
		mindex_sync_result_free(&r);
	}
	struct mindex_stats s2;
	mindex_stats_get(&s2);
	printf("forced sync (listing compared with the table): %.2f ms "
	       "(listings %llu, full scans %llu in 20)\n",
	       (now_ms() - t) / 20, s2.fast_scans - s1.fast_scans,
	       s2.full_scans - s1.full_scans);
	printf("private bytes: a %zu, b %zu\n", mindex_folder_private_bytes(a),
	       mindex_folder_private_bytes(b));
	mindex_folder_close(&a);
	mindex_folder_close(&b);
	fx_free(x);
	return 0;
}
