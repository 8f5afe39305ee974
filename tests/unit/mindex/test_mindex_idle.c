/*
 * test_mindex_idle - the idle folder states (mindex_cache_limits): kept
 * within a memory budget, least recently used first, with a count as a
 * safety net; the bytes counted are what the allocator really holds.
 *
 * One mailbox: an INBOX of BIG messages and SMALL folders of one message
 * each.  "Survived" is seen in mindex_stats: reopening a kept state does
 * not load the folder again (loads unchanged), an evicted one does.
 */
#include "test.h"

#include <malloc.h>

#include "mindex_test_util.h"

/* mallinfo2() sees glibc's heap; a sanitizer brings its own. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#endif
#if defined(__GLIBC__) && !defined(SANITIZED)
#define CHECK_MALLINFO 1
#endif

enum { BIG = 3000, SMALL = 20 };

static struct fx *x;
static size_t big_bytes;   /* the INBOX's idle state */
static size_t small_bytes; /* the largest small folder's */

static void put_file(const char *dir, unsigned i)
{
	char text[128], *path;
	int n = snprintf(text, sizeof(text),
			 "Subject: message %u\n\nbody of %u\n", i, i);
	path = xasprintf("%s/cur/1767225600.M%uP1.idle,S=%d:2,S", dir, i, n);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	free(path);
}

static char *small_name(unsigned k)
{
	return xasprintf("f%02u", k);
}

/* Open read-only and close: the state goes idle. */
static void touch(const char *name)
{
	struct error err = {0};
	struct mindex_folder *f = mindex_folder_open(x->u, name, true, &err);
	if (f == NULL)
		fprintf(stderr, "open %s: %s\n", name, err.msg);
	assert_non_null(f);
	mindex_folder_close(&f);
}

static struct mindex_stats stats(void)
{
	struct mindex_stats st;
	mindex_stats_get(&st);
	return st;
}

/* Does reopening `name` load it again (its state was not kept)? */
static bool reloads(const char *name)
{
	unsigned long long before = stats().loads;
	touch(name);
	return stats().loads != before;
}

static int setup(void **state)
{
	(void)state;
	x = fx_new();
	for (unsigned i = 0; i < BIG; i++)
		put_file(x->mpath, i);
	for (unsigned k = 0; k < SMALL; k++) {
		char *name = small_name(k), *dir;
		struct error err = {0};
		assert_int_equal(mindex_folder_create(x->u, name, &err), 0);
		dir = xasprintf("%s/.%s", x->mpath, name);
		put_file(dir, BIG + k);
		free(dir);
		free(name);
	}
	/* first opens number the files; then measure each idle state */
	mindex_cache_limits(SIZE_MAX, 10000);
	touch("INBOX");
	mindex_forget_idle();
	touch("INBOX");
	big_bytes = stats().idle_bytes;
	for (unsigned k = 0; k < SMALL; k++) {
		char *name = small_name(k);
		unsigned long long b0 = stats().idle_bytes;
		touch(name);
		size_t b = stats().idle_bytes - b0;
		if (b > small_bytes)
			small_bytes = b;
		free(name);
	}
	mindex_forget_idle();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mindex_forget_idle();
	fx_free(x);
	return 0;
}

static int reset(void **state)
{
	(void)state;
	mindex_forget_idle();
	mindex_cache_limits(SIZE_MAX, 10000);
	return 0;
}

/* What is counted: at least the message entries and their names, and
 * what malloc really gives back when the state is freed, within 10%. */
static void test_bytes_counted(void **state)
{
	(void)state;
	assert_true(big_bytes > BIG * (sizeof(struct mindex_msg) + 32));
	assert_true(big_bytes < BIG * 400);
	assert_true(small_bytes * 10 < big_bytes);
#ifdef CHECK_MALLINFO
	touch("INBOX");
	size_t held = mallinfo2().uordblks;
	assert_int_equal(stats().idle_bytes, big_bytes);
	mindex_forget_idle();
	size_t freed = held - mallinfo2().uordblks;
	fprintf(stderr, "INBOX of %d: %zu bytes counted, %zu freed\n", BIG,
		big_bytes, freed);
	assert_true(big_bytes * 10 >= freed * 9);
	assert_true(big_bytes * 10 <= freed * 11);
#endif
	assert_int_equal(stats().idle_states, 0);
	assert_int_equal(stats().idle_bytes, 0);
}

/* Within the budget the big INBOX outlives many small folders (more
 * than the 8 states a process used to keep). */
static void test_big_survives(void **state)
{
	(void)state;
	mindex_cache_limits(big_bytes + SMALL * small_bytes, 10000);
	unsigned long long ev0 = stats().evictions;
	touch("INBOX");
	for (unsigned k = 0; k < SMALL; k++) {
		char *name = small_name(k);
		touch(name);
		free(name);
	}
	assert_int_equal(stats().idle_states, SMALL + 1);
	assert_int_equal(stats().evictions, ev0);
	assert_false(reloads("INBOX"));
}

/* Over the budget the least recently used go, however big: the INBOX
 * first when it is the oldest, small ones first when it is not. */
static void test_evicted_over_budget(void **state)
{
	(void)state;
	size_t budget = big_bytes + 3 * small_bytes;
	mindex_cache_limits(budget, 10000);
	unsigned long long ev0 = stats().evictions;
	touch("INBOX");
	for (unsigned k = 0; k < 5; k++) {
		char *name = small_name(k);
		touch(name);
		free(name);
		assert_true(stats().idle_bytes <= budget);
	}
	assert_true(stats().evictions > ev0);
	assert_int_equal(stats().idle_states, 5);
	assert_true(reloads("INBOX"));

	/* now the INBOX is the most recent: the oldest small ones made
	 * room for it (f00, f01), and the next to go is f02, not it */
	ev0 = stats().evictions;
	assert_true(stats().idle_bytes <= budget);
	touch("f05");
	assert_true(stats().evictions > ev0);
	assert_false(reloads("INBOX"));
	assert_true(reloads("f01"));
	assert_false(reloads("f05"));
}

/* A state larger than the whole budget is not kept, and the others
 * are not dropped for it. */
static void test_too_big(void **state)
{
	(void)state;
	mindex_cache_limits(big_bytes / 2, 10000);
	touch("f00");
	touch("INBOX");
	assert_int_equal(stats().idle_states, 1);
	assert_true(reloads("INBOX"));
	assert_false(reloads("f00"));
}

/* The count is a safety net whatever the bytes; 0 keeps nothing; a
 * lowered limit applies at once. */
static void test_count_and_changes(void **state)
{
	(void)state;
	mindex_cache_limits(SIZE_MAX, 4);
	for (unsigned k = 0; k < 7; k++) {
		char *name = small_name(k);
		touch(name);
		free(name);
	}
	assert_int_equal(stats().idle_states, 4);
	assert_true(reloads("f00"));
	assert_false(reloads("f06"));

	mindex_cache_limits(SIZE_MAX, 10000);
	touch("INBOX");
	assert_true(stats().idle_states > 4);
	mindex_cache_limits(big_bytes, 10000);
	assert_true(stats().idle_bytes <= big_bytes);
	/* the INBOX was the newest: only it fits */
	assert_int_equal(stats().idle_states, 1);
	assert_false(reloads("INBOX"));

	mindex_cache_limits(0, 10000);
	assert_int_equal(stats().idle_states, 0);
	touch("INBOX");
	assert_int_equal(stats().idle_states, 0);
	assert_true(reloads("INBOX"));
	mindex_cache_limits(SIZE_MAX, 0);
	touch("INBOX");
	assert_int_equal(stats().idle_states, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_bytes_counted, reset),
	    cmocka_unit_test_setup(test_big_survives, reset),
	    cmocka_unit_test_setup(test_evicted_over_budget, reset),
	    cmocka_unit_test_setup(test_too_big, reset),
	    cmocka_unit_test_setup(test_count_and_changes, reset),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
