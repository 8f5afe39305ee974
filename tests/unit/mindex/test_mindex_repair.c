/*
 * test_mindex_repair - what a crash or another program can leave behind,
 * and what the next open must make of it: stale locks, a truncated or
 * lost uidlist, a missing or corrupt SQLite index, a file renamed or
 * removed by someone else, and a uidlist written by Dovecot.
 */
#include "test.h"

#include <dirent.h>
#include <sys/wait.h>
#include <time.h>

#include "mindex_test_util.h"

static const char msg1[] = "Subject: one\n\nbody one\n";

static void test_stale_lock(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	fx_deliver(x, NULL, msg1);
	char *lock = xasprintf("%s/dovecot-uidlist.lock", x->mpath);
	/* old lock: overridden after the stale timeout (2 min) */
	fx_write(lock, "");
	struct timespec ts[2] = {{time(NULL) - 600, 0}, {time(NULL) - 600, 0}};
	utimensat(AT_FDCWD, lock, ts, 0);
	struct error err = {0};
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(f);
	assert_int_equal(mindex_folder_count(f), 1);
	mindex_folder_close(&f);
	assert_false(access(lock, F_OK) == 0);
	/* a fresh lock of a dead process on this host */
	char host[256];
	gethostname(host, sizeof(host));
	char *content = xasprintf("999999:%s\n", host);
	fx_write(lock, content);
	fx_deliver(x, NULL, msg1);
	f = mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(f);
	assert_int_equal(mindex_folder_count(f), 2);
	assert_int_equal(mindex_msg(f, 2)->uid, 2);
	mindex_folder_close(&f);
	free(content);
	free(lock);
	fx_free(x);
}

static void test_truncated_and_lost_uidlist(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	fx_deliver(x, NULL, msg1);
	fx_deliver(x, NULL, msg1);
	struct error err = {0};
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	uint32_t uv = mindex_folder_uidvalidity(f);
	char *n2 = xstrdup(mindex_msg(f, 2)->name);
	mindex_folder_close(&f);
	char *ulp = xasprintf("%s/dovecot-uidlist", x->mpath);
	char *ul = fx_read(ulp);
	/* cut in the middle of the last line (an append being written) */
	size_t len = strlen(ul);
	ul[len - 5] = '\0';
	fx_write(ulp, ul);
	f = mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(f);
	assert_int_equal(mindex_folder_uidvalidity(f), uv);
	assert_int_equal(mindex_folder_count(f), 2);
	assert_int_equal(mindex_msg(f, 1)->uid, 1);
	/* the unfinished record is not trusted: a new UID, never a reused
	 * one, and the list is whole again */
	assert_int_equal(mindex_msg(f, 2)->uid, 3);
	mindex_folder_close(&f);
	free(ul);
	ul = fx_read(ulp);
	assert_non_null(strstr(ul, "\n3 :"));
	assert_int_equal(ul[strlen(ul) - 1], '\n');
	free(ul);
	/* lost: a new, larger UIDVALIDITY */
	unlink(ulp);
	f = mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(f);
	assert_true(mindex_folder_uidvalidity(f) > uv);
	assert_int_equal(mindex_folder_count(f), 2);
	assert_int_equal(mindex_msg(f, 1)->uid, 1);
	assert_int_equal(mindex_msg(f, 2)->uid, 2);
	/* an open view whose uidlist is recreated must say so */
	unlink(ulp);
	struct mindex_sync_result r;
	assert_int_equal(mindex_folder_sync(f, MINDEX_SYNC_FORCE, &r, &err),
			 -1);
	assert_true(mindex_err_is(&err, MINDEX_ERR_UIDVALIDITY));
	mindex_folder_close(&f);
	free(ulp);
	free(n2);
	fx_free(x);
}

static void test_corrupt_and_missing_db(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	fx_deliver(x, NULL, msg1);
	struct error err = {0};
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	uint32_t seq = 1;
	enum mindex_store_result res;
	assert_int_equal(mindex_store_flags(f, &seq, 1, MINDEX_FLAGS_ADD,
					    STORE_FLAG_SEEN, 0, 0, &res, &err),
			 0);
	uint64_t hms = mindex_folder_highestmodseq(f);
	uint32_t uv = mindex_folder_uidvalidity(f);
	mindex_folder_close(&f);
	char *db = xasprintf("%s/postern-index.sqlite", x->mpath);
	char *wal = xasprintf("%s-wal", db), *shm = xasprintf("%s-shm", db);
	/* garbage instead of a database */
	unlink(wal);
	unlink(shm);
	fx_write(db,
		 "this is not an SQLite database, but it is long enough "
		 "to have a header of one hundred bytes....................."
		 "...........................................\n");
	/* as a new process finds it (this one has pooled handles) */
	pid_t pid = fork();
	if (pid == 0) {
		f = mindex_folder_open(x->u, "INBOX", false, &err);
		_exit(f != NULL && mindex_folder_uidvalidity(f) == uv &&
			      mindex_msg(f, 1)->flags == STORE_FLAG_SEEN &&
			      mindex_folder_highestmodseq(f) > hms
			  ? 0
			  : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	f = mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(f);
	assert_true(mindex_folder_highestmodseq(f) > hms);
	hms = mindex_folder_highestmodseq(f);
	mindex_folder_close(&f);
	/* missing */
	unlink(db);
	unlink(wal);
	unlink(shm);
	f = mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(f);
	assert_true(mindex_folder_highestmodseq(f) > hms);
	/* the rebuilt log cannot answer for older modseqs */
	uint32_t *uids;
	size_t n;
	assert_int_equal(mindex_expunged_since(f, hms, &uids, &n, &err), 0);
	free(uids);
	mindex_folder_close(&f);
	free(db);
	free(wal);
	free(shm);
	fx_free(x);
}

static void test_renamed_by_other(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	fx_deliver(x, NULL, msg1);
	fx_deliver(x, NULL, msg1);
	struct error err = {0};
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(f);
	/* another program sets flags by renaming */
	const char *name = mindex_msg(f, 1)->name;
	char *from = xasprintf("%s/cur/%s", x->mpath, name);
	char *base = xstrndup(name, (size_t)(strchr(name, ':') - name));
	char *to = xasprintf("%s/cur/%s:2,FS", x->mpath, base);
	assert_int_equal(rename(from, to), 0);
	int fd;
	assert_int_equal(mindex_msg_open(f, 1, &fd, &err), 1);
	close(fd);
	/* and the flags change (the new name) comes with the next sync */
	struct mindex_sync_result r;
	assert_int_equal(mindex_folder_sync(f, 0, &r, &err), 0);
	assert_int_equal(r.changed_count, 1);
	assert_non_null(strstr(mindex_msg(f, 1)->name, ":2,FS"));
	assert_int_equal(mindex_msg(f, 1)->flags,
			 STORE_FLAG_FLAGGED | STORE_FLAG_SEEN);
	mindex_sync_result_free(&r);
	/* STORE on a file renamed meanwhile still works */
	char *to2 = xasprintf("%s/cur/%s:2,", x->mpath, base);
	assert_int_equal(rename(to, to2), 0);
	uint32_t seq = 1;
	enum mindex_store_result res;
	assert_int_equal(mindex_store_flags(f, &seq, 1, MINDEX_FLAGS_ADD,
					    STORE_FLAG_DRAFT, 0, 0, &res, &err),
			 0);
	assert_int_equal(res, MINDEX_STORE_CHANGED);
	/* really gone: 0 */
	char *p2 = xasprintf("%s/cur/%s", x->mpath, mindex_msg(f, 2)->name);
	assert_int_equal(unlink(p2), 0);
	assert_int_equal(mindex_msg_open(f, 2, &fd, &err), 0);
	seq = 2;
	assert_int_equal(mindex_store_flags(f, &seq, 1, MINDEX_FLAGS_ADD,
					    STORE_FLAG_DRAFT, 0, 0, &res, &err),
			 0);
	assert_int_equal(res, MINDEX_STORE_EXPUNGED);
	mindex_folder_close(&f);
	free(p2);
	free(from);
	free(to);
	free(to2);
	free(base);
	fx_free(x);
}

/* A folder as Dovecot 2.3 leaves it: extension fields, keywords. */
static void test_dovecot_written(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	struct error err = {0};
	assert_int_equal(mindex_folder_create(x->u, "Work", &err), 0);
	char *dir = xasprintf("%s/.Work", x->mpath);
	char *p;
	p = xasprintf("%s/cur/1700000000.M1P2.host,S=24,W=27:2,Sa", dir);
	fx_write(p, "Subject: one\n\nbody one\n");
	free(p);
	p = xasprintf("%s/cur/1700000001.M2P2.host,S=24,W=27:2,FRb", dir);
	fx_write(p, "Subject: two\n\nbody two\n");
	free(p);
	p = xasprintf("%s/new/1700000002.M3P2.host", dir);
	fx_write(p, "Subject: three\n\nx\n");
	free(p);
	p = xasprintf("%s/dovecot-uidlist", dir);
	fx_write(p, "3 V1234567 N17 G0123456789abcdef0123456789abcdef\n"
		    "5 W27 S24 :1700000000.M1P2.host,S=24,W=27\n"
		    "9 GUIDxyz W27 :1700000001.M2P2.host,S=24,W=27\n"
		    "12 :1600000000.M9P9.gone\n");
	free(p);
	p = xasprintf("%s/dovecot-keywords", dir);
	fx_write(p, "0 $Forwarded\n1 Important\n");
	free(p);
	struct mindex_folder *f = mindex_folder_open(x->u, "Work", false, &err);
	assert_non_null(f);
	assert_int_equal(mindex_folder_uidvalidity(f), 1234567);
	assert_int_equal(mindex_folder_count(f), 3);
	assert_int_equal(mindex_msg(f, 1)->uid, 5);
	assert_int_equal(mindex_msg(f, 1)->flags, STORE_FLAG_SEEN);
	assert_int_equal(mindex_msg(f, 1)->keywords, 1u);
	assert_int_equal(mindex_msg(f, 2)->uid, 9);
	assert_int_equal(mindex_msg(f, 2)->flags,
			 STORE_FLAG_FLAGGED | STORE_FLAG_REPLIED);
	assert_string_equal(mindex_keyword_name(f, 1), "Important");
	/* the new file: next UID after N17, sizes measured */
	assert_int_equal(mindex_msg(f, 3)->uid, 17);
	assert_int_equal(mindex_msg(f, 3)->size, 18);
	assert_int_equal(mindex_msg(f, 3)->vsize, 21);
	assert_int_equal(mindex_folder_uidnext(f), 18);
	mindex_folder_close(&f);
	/* the header (GUID) and extension fields survive */
	p = xasprintf("%s/dovecot-uidlist", dir);
	char *ul = fx_read(p);
	assert_true(strncmp(ul, "3 V1234567 N17 G0123456789abcdef", 32) == 0);
	assert_non_null(strstr(ul, "\n9 GUIDxyz W27 :1700000001.M2P2.host"));
	assert_non_null(strstr(ul, "\n17 :1700000002.M3P2.host\n"));
	free(ul);
	free(p);
	free(dir);
	fx_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stale_lock),
	    cmocka_unit_test(test_truncated_and_lost_uidlist),
	    cmocka_unit_test(test_corrupt_and_missing_db),
	    cmocka_unit_test(test_renamed_by_other),
	    cmocka_unit_test(test_dovecot_written),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
