/*
 * test_fts_batch - indexing behind the free-space guard: the guard's
 * parsing and check, batches (one transaction per mailbox), a write
 * meeting a full file system (SQLITE_FULL: rolled back, the index
 * consistent), emptying an index for space, and the background
 * catch-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/array.h"
#include "core/xmalloc.h"
#include "fts/fts.h"
#include "fts/fts_background.h"
#include "fts/fts_batch.h"
#include "test.h"

static char dir[] = "/tmp/test_fts_batch.XXXXXX";

static char *path_of(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static char *mkdir_in(const char *name)
{
	char *p = path_of(name);
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", p, strerror(errno));
	return p;
}

/* A message (different words per n) as an fd at offset 0. */
static int message_fd(const char *word, int n, size_t body_lines)
{
	char tmpl[] = "/tmp/test_fts_batch_msg.XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	unlink(tmpl);
	FILE *f = fdopen(dup(fd), "w");
	fprintf(f,
		"From: sender%d@example.org\nTo: rcpt@example.net\n"
		"Subject: message %d about %s\n\nThe body says %s%d.\n",
		n, n, word, word, n);
	for (size_t i = 0; i < body_lines; i++)
		fprintf(f, "line %zu of message %d: %s filler text %08zx\n", i,
			n, word, i * 2654435761u + (size_t)n);
	fclose(f);
	return fd;
}

static size_t count_matches(const char *mailbox, const char *folder,
			    enum fts_field field, const char *text)
{
	struct error err = {0};
	struct fts *fts = fts_open(mailbox, 200, &err);
	assert_non_null(fts);
	struct fts_key key = {field, text};
	struct array *found = NULL;
	assert_int_equal(fts_search(fts, folder, &key, 1, &found, &err), 0);
	size_t n = array_len(found);
	fts_uniques_free(&found);
	fts_close(&fts);
	return n;
}

/* The docs table and the per-folder count agree, and SQLite finds the
 * file sound: what "consistent" means for the catch-up. */
static long long check_consistent(const char *mailbox)
{
	char *file = xasprintf("%s/%s", mailbox, FTS_FILE_NAME);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	long long docs = -1, counted = -1, text = -1;
	sqlite3_prepare_v2(db, "SELECT count(*) FROM docs", -1, &st, NULL);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	docs = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_prepare_v2(db, "SELECT coalesce(sum(count), 0) FROM folders",
			   -1, &st, NULL);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	counted = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_prepare_v2(db, "SELECT count(*) FROM msgtext", -1, &st, NULL);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	text = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(file);
	assert_int_equal(docs, counted);
	assert_int_equal(docs, text);
	return docs;
}

static void test_min_free_parse(void **state)
{
	(void)state;
	struct fts_min_free m;
	struct error err = {0};
	assert_int_equal(fts_min_free_parse("5%", &m, &err), 0);
	assert_int_equal(m.percent, 5);
	assert_int_equal(m.bytes, 0);
	assert_int_equal(fts_min_free_parse("200M", &m, &err), 0);
	assert_int_equal(m.percent, 0);
	assert_true(m.bytes == 200ULL << 20);
	assert_int_equal(fts_min_free_parse("1GB", &m, &err), 0);
	assert_true(m.bytes == 1ULL << 30);
	assert_int_equal(fts_min_free_parse("65536", &m, &err), 0);
	assert_true(m.bytes == 65536);
	assert_int_equal(fts_min_free_parse("0", &m, &err), 0);
	assert_true(m.bytes == 0 && m.percent == 0);
	assert_int_equal(fts_min_free_parse("101%", &m, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_int_equal(fts_min_free_parse("-1", &m, &err), -1);
	assert_int_equal(fts_min_free_parse("5 %", &m, &err), -1);
	assert_int_equal(fts_min_free_parse("12X", &m, &err), -1);
	assert_int_equal(fts_min_free_parse("", &m, &err), -1);
}

static void test_space_check(void **state)
{
	(void)state;
	struct error err = {0};
	struct fts_min_free none = {0, 0}, some = {0, 4096};
	struct fts_min_free all = {100, 0}, huge = {0, UINT64_MAX};
	assert_int_equal(fts_space_check(dir, &none, &err), 1);
	assert_int_equal(fts_space_check(dir, &some, &err), 1);
	/* No file system has 100% of its size free, nor 2^64 bytes. */
	assert_int_equal(fts_space_check(dir, &all, &err), 0);
	assert_string_equal(err.code, FTS_ERR_NOSPACE);
	assert_int_equal(fts_space_check(dir, &huge, &err), 0);
	assert_int_equal(fts_space_check("/nonexistent/x", &some, &err), -1);
}

/* Two mailboxes, messages interleaved: one transaction each. */
static void test_batch_per_mailbox(void **state)
{
	(void)state;
	char *a = mkdir_in("batch-a"), *b = mkdir_in("batch-b");
	struct fts_batch *batch = fts_batch_new();
	struct fts_min_free min = {1, 0};
	struct fts_batch_stats st = {0};
	char uniq[32];

	for (int i = 0; i < 10; i++) {
		snprintf(uniq, sizeof(uniq), "u%d", i);
		fts_batch_add(batch, i % 2 ? b : a, i == 9 ? "Archive" : NULL,
			      uniq, message_fd(i % 2 ? "beta" : "alpha", i, 3));
	}
	/* A message that cannot be read is left alone; the rest commit. */
	fts_batch_add(batch, a, NULL, "bad", 12345);
	assert_int_equal(fts_batch_len(batch), 11);
	fts_batch_run(batch, &min, 200, &st);
	fts_batch_free(&batch);
	assert_int_equal(st.indexed, 10);
	assert_int_equal(st.txns, 2);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.low_space, 0);
	assert_int_equal(count_matches(a, NULL, FTS_BODY, "alpha"), 5);
	assert_int_equal(count_matches(b, NULL, FTS_BODY, "beta"), 4);
	assert_int_equal(count_matches(b, "Archive", FTS_SUBJECT, "beta"), 1);
	assert_int_equal(count_matches(a, NULL, FTS_BODY, "beta"), 0);
	assert_int_equal(check_consistent(a), 5);
	assert_int_equal(check_consistent(b), 5);
	free(a);
	free(b);
}

/* The guard says no: nothing is indexed and the index is emptied. */
static void test_batch_guard(void **state)
{
	(void)state;
	char *a = mkdir_in("guard");
	struct fts_min_free ok = {0, 0}, no = {100, 0};
	struct fts_batch_stats st = {0};
	struct fts_batch *batch = fts_batch_new();
	for (int i = 0; i < 50; i++) {
		char uniq[16];
		snprintf(uniq, sizeof(uniq), "g%d", i);
		fts_batch_add(batch, a, NULL, uniq, message_fd("gamma", i, 40));
	}
	fts_batch_run(batch, &ok, 200, &st);
	fts_batch_free(&batch);
	assert_int_equal(st.indexed, 50);
	assert_int_equal(count_matches(a, NULL, FTS_BODY, "gamma"), 50);
	char *file = xasprintf("%s/%s", a, FTS_FILE_NAME);
	struct stat sb;
	assert_int_equal(stat(file, &sb), 0);
	off_t full = sb.st_size;

	memset(&st, 0, sizeof(st));
	batch = fts_batch_new();
	fts_batch_add(batch, a, NULL, "g50", message_fd("gamma", 50, 40));
	fts_batch_run(batch, &no, 200, &st);
	fts_batch_free(&batch);
	assert_int_equal(st.indexed, 0);
	assert_int_equal(st.low_space, 1);
	assert_int_equal(st.resets, 1);
	/* The space went back (the file shrank), and the index is usable:
	 * empty, refilled by a catch-up. */
	assert_int_equal(stat(file, &sb), 0);
	assert_true(sb.st_size < full / 4);
	assert_int_equal(count_matches(a, NULL, FTS_BODY, "gamma"), 0);
	assert_int_equal(check_consistent(a), 0);
	/* A delivery that failed for space asks for the same. */
	memset(&st, 0, sizeof(st));
	batch = fts_batch_new();
	fts_batch_add(batch, a, NULL, "g51", message_fd("gamma", 51, 2));
	fts_batch_run(batch, &ok, 200, &st);
	fts_batch_free(&batch);
	assert_int_equal(st.indexed, 1);
	batch = fts_batch_new();
	fts_batch_add_reset(batch, a);
	fts_batch_add(batch, a, NULL, "g52", message_fd("gamma", 52, 2));
	memset(&st, 0, sizeof(st));
	fts_batch_run(batch, &ok, 200, &st);
	fts_batch_free(&batch);
	assert_int_equal(st.indexed, 0);
	assert_int_equal(st.resets, 1);
	assert_int_equal(count_matches(a, NULL, FTS_BODY, "gamma"), 0);
	free(file);
	free(a);
}

/*
 * A write meeting a full file system (a 256 KiB tmpfs, filled): the
 * batch's transaction is rolled back, the code is FTS_ERR_NOSPACE, and
 * the index holds exactly what was committed before, intact.
 */
static void test_sqlite_full(void **state)
{
	(void)state;
	char *mnt = mkdir_in("small");
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k,mode=0700") < 0) {
		print_message("skipped: mount tmpfs: %s\n", strerror(errno));
		free(mnt);
		skip();
	}
	struct error err = {0};
	struct fts_min_free none = {0, 0};
	struct fts_batch_stats st = {0};
	struct fts_batch *batch = fts_batch_new();
	for (int i = 0; i < 3; i++) {
		char uniq[16];
		snprintf(uniq, sizeof(uniq), "k%d", i);
		fts_batch_add(batch, mnt, NULL, uniq, message_fd("kept", i, 5));
	}
	fts_batch_run(batch, &none, 200, &st);
	fts_batch_free(&batch);
	assert_int_equal(st.indexed, 3);

	/* Fill what is left, then index far more than fits (the index is
	 * open already: opening it creates the WAL, which needs room). */
	struct fts *fts = fts_open(mnt, 200, &err);
	assert_non_null(fts);
	char *filler = xasprintf("%s/filler", mnt);
	int ffd = open(filler, O_WRONLY | O_CREAT, 0600);
	char block[4096] = {0};
	while (write(ffd, block, sizeof(block)) > 0)
		;
	close(ffd);

	assert_int_equal(fts_begin(fts, &err), 0);
	int r = 0;
	for (int i = 0; i < 200 && r == 0; i++) {
		char uniq[16];
		snprintf(uniq, sizeof(uniq), "x%d", i);
		int fd = message_fd("lost", i, 60);
		r = fts_add_file(fts, NULL, uniq, fd, &err);
		close(fd);
	}
	if (r == 0)
		r = fts_commit(fts, &err);
	else
		fts_rollback(fts);
	assert_int_equal(r, -1);
	assert_non_null(err.code);
	assert_string_equal(err.code, FTS_ERR_NOSPACE);
	fts_close(&fts);

	/* The batch path reports it as low space, never as indexed. */
	memset(&st, 0, sizeof(st));
	batch = fts_batch_new();
	for (int i = 0; i < 100; i++) {
		char uniq[16];
		snprintf(uniq, sizeof(uniq), "y%d", i);
		fts_batch_add(batch, mnt, NULL, uniq,
			      message_fd("lost", i, 60));
	}
	fts_batch_run(batch, &none, 200, &st);
	fts_batch_free(&batch);
	assert_int_equal(st.indexed, 0);
	assert_int_equal(st.low_space, 100);

	unlink(filler);
	assert_int_equal(check_consistent(mnt), 3);
	assert_int_equal(count_matches(mnt, NULL, FTS_BODY, "kept"), 3);
	assert_int_equal(count_matches(mnt, NULL, FTS_BODY, "lost"), 0);
	/* And it takes writes again once there is room. */
	batch = fts_batch_new();
	fts_batch_add(batch, mnt, NULL, "z", message_fd("again", 1, 2));
	memset(&st, 0, sizeof(st));
	fts_batch_run(batch, &none, 200, &st);
	fts_batch_free(&batch);
	assert_int_equal(st.indexed, 1);
	assert_int_equal(check_consistent(mnt), 4);
	free(filler);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
	free(mnt);
}

/* A Maildir folder of messages the index lacks: the background thread
 * indexes them all, in several transactions. */
static void test_background(void **state)
{
	(void)state;
	char *mb = mkdir_in("bg");
	char *sub = xasprintf("%s/cur", mb);
	assert_int_equal(mkdir(sub, 0700), 0);
	free(sub);
	sub = xasprintf("%s/new", mb);
	assert_int_equal(mkdir(sub, 0700), 0);
	free(sub);
	const int n = 2 * FTS_BG_BATCH + 17;
	for (int i = 0; i < n; i++) {
		char *p = xasprintf("%s/%s/17000000%02d.M%dP1.host,S=100:2,S",
				    mb, i % 3 ? "cur" : "new", i % 100, i);
		int fd = open(p, O_WRONLY | O_CREAT, 0600);
		int src = message_fd("delta", i, 2);
		char buf[8192];
		assert_int_equal(lseek(src, 0, SEEK_SET), 0);
		ssize_t len = read(src, buf, sizeof(buf));
		assert_true(len > 0 && write(fd, buf, (size_t)len) == len);
		close(src);
		close(fd);
		free(p);
	}
	struct fts_min_free none = {0, 0};
	assert_true(fts_background_catchup(mb, NULL, mb, &none));
	/* Queued once: a second request while it runs is not queued. */
	assert_false(fts_background_catchup(mb, NULL, mb, &none) &&
		     fts_background_pending(mb, NULL) == false);
	assert_true(fts_background_wait_idle(60000));
	assert_false(fts_background_pending(mb, NULL));
	assert_int_equal(count_matches(mb, NULL, FTS_BODY, "delta"), n);
	assert_int_equal(check_consistent(mb), n);
	free(mb);
}

/* fts_reset keeps a file other connections have open usable. */
static void test_reset_open_reader(void **state)
{
	(void)state;
	char *a = mkdir_in("reset");
	struct error err = {0};
	struct fts_min_free none = {0, 0};
	struct fts_batch_stats st = {0};
	struct fts_batch *batch = fts_batch_new();
	for (int i = 0; i < 20; i++) {
		char uniq[16];
		snprintf(uniq, sizeof(uniq), "r%d", i);
		fts_batch_add(batch, a, NULL, uniq, message_fd("rho", i, 30));
	}
	fts_batch_run(batch, &none, 200, &st);
	fts_batch_free(&batch);
	struct fts *reader = fts_open(a, 200, &err);
	assert_non_null(reader);
	assert_true(fts_reset(a, 1000, &err) > 0);
	/* The open connection sees an empty database, not a broken one;
	 * a new open recreates the tables. */
	struct fts *again = fts_open(a, 200, &err);
	assert_non_null(again);
	assert_int_equal(fts_count(again, NULL, &err), 0);
	fts_close(&again);
	fts_close(&reader);
	assert_int_equal(check_consistent(a), 0);
	assert_int_equal(fts_reset(a, 1000, &err) >= 0, 1);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_min_free_parse),
	    cmocka_unit_test(test_space_check),
	    cmocka_unit_test(test_batch_per_mailbox),
	    cmocka_unit_test(test_batch_guard),
	    cmocka_unit_test(test_sqlite_full),
	    cmocka_unit_test(test_background),
	    cmocka_unit_test(test_reset_open_reader),
	};
	if (mkdtemp(dir) == NULL)
		return 1;
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	fts_background_stop();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "umount -l %s/small 2>/dev/null; rm -rf %s",
		 dir, dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", dir);
	return failed;
}
