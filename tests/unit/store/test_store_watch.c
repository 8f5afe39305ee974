/*
 * test_store_watch - folder change notification (store/store_watch.h):
 * a delivery, a flag rename and an expunge in a folder wake its
 * subscribers; subscribers of one folder share its kernel watches, which
 * go with the last of them; a root watch sees folder directories and the
 * subscriptions file but not index files.
 */
#include "test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "ev/ev.h"
#include "store/store_watch.h"

static char base[] = "/tmp/postern-watch-XXXXXX";

struct counter {
	unsigned calls;
};

static void count(void *ctx)
{
	((struct counter *)ctx)->calls++;
}

static void mkfolder(const char *dir)
{
	char *p;

	mkdir(dir, 0700);
	p = xasprintf("%s/new", dir);
	mkdir(p, 0700);
	free(p);
	p = xasprintf("%s/cur", dir);
	mkdir(p, 0700);
	free(p);
}

static void touch(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	close(fd);
	free(p);
}

/* Run the loop until nothing is left to read. */
static void drain(struct ev *ev)
{
	for (int i = 0; i < 5; i++)
		ev_run_once(ev, 20);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(base) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", base);
	int rc;

	(void)state;
	rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

static void test_folder_changes(void **state)
{
	struct ev *ev = ev_new();
	struct error err;
	struct store_watch *w = store_watch_new(ev, &err);
	struct counter a = {0}, b = {0};
	char *dir = xasprintf("%s/.Work", base);
	char *from, *to;

	(void)state;
	assert_non_null(w);
	mkfolder(dir);
	struct store_watch_sub *sa = store_watch_folder(w, dir, count, &a);
	struct store_watch_sub *sb = store_watch_folder(w, dir, count, &b);
	assert_non_null(sa);
	assert_non_null(sb);
	/* Two subscribers, one pair of kernel watches. */
	assert_int_equal(store_watch_count(w), 2);
	drain(ev);
	assert_int_equal(a.calls, 0);

	/* A delivery: a file appears in new/. */
	char *newdir = xasprintf("%s/new", dir);
	touch(newdir, "1.M1P1.host");
	drain(ev);
	assert_true(a.calls > 0);
	assert_true(b.calls > 0);

	/* Flags: new/ -> cur/ with info, then a rename inside cur/. */
	a.calls = b.calls = 0;
	from = xasprintf("%s/new/1.M1P1.host", dir);
	to = xasprintf("%s/cur/1.M1P1.host:2,", dir);
	assert_int_equal(rename(from, to), 0);
	drain(ev);
	assert_true(a.calls > 0);
	free(from);
	from = to;
	to = xasprintf("%s/cur/1.M1P1.host:2,S", dir);
	a.calls = 0;
	assert_int_equal(rename(from, to), 0);
	drain(ev);
	assert_true(a.calls > 0);

	/* An expunge; the first subscriber has gone, the second hears it. */
	store_watch_remove(w, &sa);
	assert_null(sa);
	assert_int_equal(store_watch_count(w), 2);
	a.calls = b.calls = 0;
	assert_int_equal(unlink(to), 0);
	drain(ev);
	assert_int_equal(a.calls, 0);
	assert_true(b.calls > 0);

	/* The last subscriber takes the kernel watches with it. */
	store_watch_remove(w, &sb);
	assert_int_equal(store_watch_count(w), 0);
	b.calls = 0;
	touch(newdir, "2.M2P2.host");
	drain(ev);
	assert_int_equal(b.calls, 0);

	free(from);
	free(to);
	free(newdir);
	free(dir);
	store_watch_free(&w);
	ev_free(&ev);
}

static void test_root(void **state)
{
	struct ev *ev = ev_new();
	struct error err;
	struct store_watch *w = store_watch_new(ev, &err);
	struct counter r = {0}, inbox = {0};
	char *root = xasprintf("%s/user", base);
	char *folder;

	(void)state;
	mkfolder(root);
	struct store_watch_sub *sr = store_watch_root(w, root, count, &r);
	/* INBOX's folder directory is the root: a separate watch. */
	struct store_watch_sub *si = store_watch_folder(w, root, count, &inbox);
	assert_non_null(sr);
	assert_non_null(si);
	assert_int_equal(store_watch_count(w), 3);

	/* Index files written all the time do not count. */
	touch(root, "dovecot.index.log");
	touch(root, "postern-index.db");
	drain(ev);
	assert_int_equal(r.calls, 0);
	assert_int_equal(inbox.calls, 0);

	/* A new folder does, and so does the subscriptions file. */
	folder = xasprintf("%s/.Later", root);
	mkfolder(folder);
	drain(ev);
	assert_true(r.calls > 0);
	r.calls = 0;
	touch(root, "subscriptions");
	drain(ev);
	assert_true(r.calls > 0);
	assert_int_equal(inbox.calls, 0);

	/* A missing directory cannot be watched: NULL, the caller polls. */
	char *gone = xasprintf("%s/.Nope", root);
	assert_null(store_watch_folder(w, gone, count, &r));
	free(gone);

	store_watch_remove(w, &sr);
	store_watch_remove(w, &si);
	assert_int_equal(store_watch_count(w), 0);
	free(folder);
	free(root);
	store_watch_free(&w);
	ev_free(&ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_folder_changes),
	    cmocka_unit_test(test_root),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
