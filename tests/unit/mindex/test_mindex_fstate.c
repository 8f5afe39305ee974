/*
 * test_mindex_fstate - the per-process shared folder state: handles on
 * one folder see each other's STORE, EXPUNGE and APPEND at their next
 * sync without a full scan; expunges stay pending (sequence numbers
 * stable) under MINDEX_SYNC_NO_EXPUNGE and private views go away once
 * reported; changes by another process or by a program writing the
 * files are still found; threads on one folder (run it under ASan).
 */
#include "test.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

#include "mindex_test_util.h"

static const char msg1[] = "Subject: one\n\nbody one\n";

static struct mindex_folder *open_rw(struct fx *x)
{
	struct error err = {0};
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	if (f == NULL)
		fprintf(stderr, "open: %s\n", err.msg);
	assert_non_null(f);
	return f;
}

static struct fx *fx_with(int n)
{
	struct fx *x = fx_new();
	for (int i = 0; i < n; i++)
		fx_deliver(x, NULL, msg1);
	return x;
}

static void sync_ok(struct mindex_folder *f, unsigned flags,
		    struct mindex_sync_result *r)
{
	struct error err = {0};
	int ret = mindex_folder_sync(f, flags, r, &err);
	if (ret < 0)
		fprintf(stderr, "sync: %s\n", err.msg);
	assert_int_equal(ret, 0);
}

static void test_store_shared(void **state)
{
	(void)state;
	struct fx *x = fx_with(5);
	struct mindex_folder *a = open_rw(x), *b = open_rw(x), *c = open_rw(x);
	struct mindex_sync_result r;
	sync_ok(b, 0, &r);
	mindex_sync_result_free(&r);
	/* a second open of a loaded folder read nothing more */
	struct mindex_stats s0, s1;
	mindex_stats_get(&s0);
	assert_int_equal(mindex_folder_private_bytes(b), 0);

	struct error err = {0};
	uint32_t seq = 2;
	enum mindex_store_result res;
	assert_int_equal(mindex_store_flags(a, &seq, 1, MINDEX_FLAGS_ADD,
					    STORE_FLAG_FLAGGED, 0, 0, &res,
					    &err),
			 0);
	assert_int_equal(res, MINDEX_STORE_CHANGED);
	/* an mtime seen 50 ms after the change is trusted: from then on the
	 * process knows cur/ did not change again */
	usleep(60 * 1000);
	uint64_t ms = mindex_msg(a, 2)->modseq;
	assert_true(ms > 0);
	assert_int_equal(mindex_msg(a, 2)->flags, STORE_FLAG_FLAGGED);
	/* b was not told yet: its view is unchanged until it syncs */
	assert_int_equal(mindex_msg(b, 2)->flags, 0);

	sync_ok(b, 0, &r);
	assert_int_equal(r.changed_count, 1);
	assert_int_equal(r.changed_seqs[0], 2);
	assert_int_equal(r.expunged_count, 0);
	assert_int_equal(r.new_count, 0);
	assert_int_equal(r.highestmodseq, ms);
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_msg(b, 2)->flags, STORE_FLAG_FLAGGED);
	assert_int_equal(mindex_msg(b, 2)->modseq, ms);
	sync_ok(c, MINDEX_SYNC_NO_EXPUNGE, &r);
	assert_int_equal(r.changed_count, 1);
	mindex_sync_result_free(&r);
	/* a's own STORE is not reported back to it */
	sync_ok(a, 0, &r);
	assert_int_equal(r.changed_count, 0);
	mindex_sync_result_free(&r);
	/* every view is the shared table again */
	assert_int_equal(mindex_folder_private_bytes(a), 0);
	assert_int_equal(mindex_folder_private_bytes(b), 0);
	/* no full scan, no load: at most one listing for the process */
	mindex_stats_get(&s1);
	assert_int_equal(s1.full_scans, s0.full_scans);
	assert_int_equal(s1.loads, s0.loads);
	assert_true(s1.fast_scans - s0.fast_scans <= 1);
	/* the file really was renamed */
	int fd;
	assert_int_equal(mindex_msg_open(c, 2, &fd, &err), 1);
	close(fd);
	assert_non_null(strstr(mindex_msg(c, 2)->name, ":2,F"));
	mindex_folder_close(&a);
	mindex_folder_close(&b);
	mindex_folder_close(&c);
	fx_free(x);
}

static void test_expunge_pending(void **state)
{
	(void)state;
	struct fx *x = fx_with(5);
	struct mindex_folder *a = open_rw(x), *b = open_rw(x), *c = open_rw(x);
	struct mindex_sync_result r;
	struct mindex_stats s0, s1;
	mindex_stats_get(&s0);
	struct error err = {0};
	uint64_t hms0 = mindex_folder_highestmodseq(a);
	uint32_t seq = 2;
	assert_int_equal(mindex_expunge(a, &seq, 1, &err), 0);
	/* a: marked, reported at its next sync */
	assert_true(mindex_msg(a, 2)->expunged);
	assert_int_equal(mindex_folder_count(a), 5);

	/* b during a FETCH: the message stays, numbers stay */
	sync_ok(b, MINDEX_SYNC_NO_EXPUNGE, &r);
	assert_int_equal(r.expunged_count, 0);
	assert_int_equal(r.exists, 5);
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_folder_count(b), 5);
	assert_true(mindex_msg(b, 2)->expunged);
	assert_int_equal(mindex_msg(b, 3)->uid, 3);
	assert_true(mindex_folder_private_bytes(b) > 0);
	int fd;
	assert_int_equal(mindex_msg_open(b, 2, &fd, &err), 0);
	/* a STORE by b meanwhile: by the same numbers */
	seq = 4;
	enum mindex_store_result res;
	assert_int_equal(mindex_store_flags(b, &seq, 1, MINDEX_FLAGS_ADD,
					    STORE_FLAG_SEEN, 0, 0, &res, &err),
			 0);
	assert_int_equal(res, MINDEX_STORE_CHANGED);
	assert_int_equal(mindex_msg(b, 4)->uid, 4);
	seq = 2;
	assert_int_equal(mindex_store_flags(b, &seq, 1, MINDEX_FLAGS_ADD,
					    STORE_FLAG_SEEN, 0, 0, &res, &err),
			 0);
	assert_int_equal(res, MINDEX_STORE_EXPUNGED);
	/* still pending on another NO_EXPUNGE sync */
	sync_ok(b, MINDEX_SYNC_NO_EXPUNGE, &r);
	assert_int_equal(r.expunged_count, 0);
	assert_int_equal(r.changed_count, 0);
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_msg(b, 4)->uid, 4);

	/* b reports: old number 2 */
	sync_ok(b, 0, &r);
	assert_int_equal(r.expunged_count, 1);
	assert_int_equal(r.expunged_seqs[0], 2);
	assert_int_equal(r.expunged_uids[0], 2);
	assert_int_equal(r.exists, 4);
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_msg(b, 3)->uid, 4);
	assert_int_equal(mindex_msg(b, 3)->flags, STORE_FLAG_SEEN);
	/* reported: nothing private left */
	assert_int_equal(mindex_folder_private_bytes(b), 0);

	/* a reports its own; c sees both changes at once */
	sync_ok(a, 0, &r);
	assert_int_equal(r.expunged_count, 1);
	assert_int_equal(r.expunged_seqs[0], 2);
	assert_int_equal(r.changed_count, 1); /* b's STORE */
	assert_int_equal(r.changed_seqs[0], 3);
	mindex_sync_result_free(&r);
	sync_ok(c, 0, &r);
	assert_int_equal(r.expunged_count, 1);
	assert_int_equal(r.changed_count, 1);
	assert_int_equal(r.changed_seqs[0], 3);
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_folder_private_bytes(a), 0);
	assert_int_equal(mindex_folder_private_bytes(c), 0);
	mindex_stats_get(&s1);
	assert_int_equal(s1.full_scans, s0.full_scans);
	assert_int_equal(s1.loads, s0.loads);

	/* the expunge log has it */
	uint32_t *uids;
	size_t n;
	assert_int_equal(mindex_expunged_since(c, hms0, &uids, &n, &err), 1);
	assert_int_equal(n, 1);
	assert_int_equal(uids[0], 2);
	free(uids);
	mindex_folder_close(&a);
	mindex_folder_close(&b);
	mindex_folder_close(&c);
	/* a fresh open agrees */
	a = open_rw(x);
	assert_int_equal(mindex_folder_count(a), 4);
	mindex_folder_close(&a);
	fx_free(x);
}

static void test_append_shared(void **state)
{
	(void)state;
	struct fx *x = fx_with(3);
	struct mindex_folder *a = open_rw(x), *b = open_rw(x);
	struct mindex_sync_result r;
	struct mindex_stats s0, s1;
	mindex_stats_get(&s0);
	struct error err = {0};
	struct store_input in;
	struct store_input_mem mem;
	store_input_mem(&in, &mem, msg1, strlen(msg1));
	uint32_t uid = 0;
	assert_int_equal(
	    mindex_append(a, &in, STORE_FLAG_SEEN, 0, 0, NULL, &uid, &err), 0);
	assert_int_equal(uid, 4);
	/* a target-only handle (APPEND from another selected folder) */
	struct mindex_folder *t =
	    mindex_folder_open_target(x->u, "INBOX", &err);
	assert_non_null(t);
	store_input_mem(&in, &mem, msg1, strlen(msg1));
	assert_int_equal(mindex_append(t, &in, 0, 0, 0, NULL, &uid, &err), 0);
	assert_int_equal(uid, 5);
	mindex_folder_close(&t);
	sync_ok(b, 0, &r);
	assert_int_equal(r.new_count, 2);
	assert_int_equal(r.exists, 5);
	assert_int_equal(r.uidnext, 6);
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_msg(b, 4)->flags, STORE_FLAG_SEEN);
	assert_true(mindex_msg(b, 4)->modseq > 0);
	sync_ok(a, 0, &r);
	assert_int_equal(r.new_count, 2);
	mindex_sync_result_free(&r);
	/* \Recent: one read-write session got them */
	assert_true(mindex_msg_recent(b, 4) != mindex_msg_recent(a, 4));
	mindex_stats_get(&s1);
	assert_int_equal(s1.full_scans, s0.full_scans);
	assert_int_equal(s1.loads, s0.loads);
	/* the cache accepts the new message at once (it has its row) */
	assert_int_equal(mindex_cache_put(a, 5, "envelope", "x", 1, &err), 0);
	struct buf *out = buf_new();
	assert_int_equal(mindex_cache_get(b, 5, "envelope", out, &err), 1);
	buf_free(&out);
	mindex_folder_close(&a);
	mindex_folder_close(&b);
	fx_free(x);
}

/* A name in cur/ for uid's file (by the view), or NULL. */
static char *cur_path(struct fx *x, struct mindex_folder *f, uint32_t seq)
{
	return xasprintf("%s/cur/%s", x->mpath, mindex_msg(f, seq)->name);
}

static void test_other_process(void **state)
{
	(void)state;
	struct fx *x = fx_with(4);
	struct mindex_folder *a = open_rw(x), *b = open_rw(x);
	struct mindex_sync_result r;
	/* another process: its own mindex over the same files */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store_mailbox *mb =
		    store_mailbox_open(x->store, "example.org", "john", NULL);
		struct mindex_user *u = mindex_user_open(mb, NULL, NULL);
		struct error e = {0};
		struct mindex_folder *f =
		    mindex_folder_open(u, "INBOX", false, &e);
		uint32_t seq = 1;
		enum mindex_store_result res;
		int ok =
		    f != NULL &&
		    mindex_store_flags(f, &seq, 1, MINDEX_FLAGS_ADD,
				       STORE_FLAG_DRAFT, 0, 0, &res, &e) == 0 &&
		    res == MINDEX_STORE_CHANGED;
		seq = 3;
		ok = ok && mindex_expunge(f, &seq, 1, &e) == 0;
		mindex_folder_close(&f);
		mindex_user_free(&u);
		store_mailbox_free(&mb);
		_exit(ok ? 0 : 1);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	sync_ok(a, 0, &r);
	assert_int_equal(r.changed_count, 1);
	assert_int_equal(r.changed_seqs[0], 1);
	assert_int_equal(r.expunged_count, 1);
	assert_int_equal(r.expunged_uids[0], 3);
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_msg(a, 1)->flags, STORE_FLAG_DRAFT);

	/* a program writing the files itself (as Dovecot does): a rename,
	 * an unlink, a delivery; even with mtimes that look old */
	char *p1 = cur_path(x, a, 1);
	char *base = xstrndup(mindex_msg(a, 1)->name,
			      strcspn(mindex_msg(a, 1)->name, ":"));
	char *p1n = xasprintf("%s/cur/%s:2,S", x->mpath, base);
	assert_int_equal(rename(p1, p1n), 0);
	char *p2 = cur_path(x, a, 2);
	assert_int_equal(unlink(p2), 0);
	fx_deliver(x, NULL, msg1);
	sync_ok(b, MINDEX_SYNC_NO_EXPUNGE, &r);
	/* b had not heard of the first round either */
	assert_int_equal(r.new_count, 1);
	assert_int_equal(r.exists, 5); /* 2 pending expunges */
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_msg(b, 1)->flags, STORE_FLAG_SEEN);
	sync_ok(a, 0, &r);
	assert_int_equal(r.changed_count, 1);
	assert_int_equal(r.changed_seqs[0], 1);
	assert_int_equal(r.expunged_count, 1);
	assert_int_equal(r.expunged_seqs[0], 2);
	assert_int_equal(r.new_count, 1);
	assert_int_equal(r.exists, 3);
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_msg(a, 3)->uid, 5);
	assert_true(mindex_msg_recent(a, 3) || mindex_msg_recent(b, 5));
	free(p1);
	free(p1n);
	free(p2);
	free(base);
	mindex_folder_close(&a);
	mindex_folder_close(&b);
	fx_free(x);
}

/*
 * Our own STORE explains the new mtime of cur/: nobody lists the folder
 * for it.  Another program's rename hidden in the same timestamp tick
 * (simulated by putting cur/'s mtime back) is found by the listing that
 * follows within a second.
 */
static void test_own_change_explained(void **state)
{
	(void)state;
	struct fx *x = fx_with(4);
	struct mindex_folder *a = open_rw(x);
	mindex_folder_close(&a);
	fx_age(x->mpath); /* trusted mtimes */
	a = open_rw(x);
	struct mindex_folder *b = open_rw(x);
	struct mindex_sync_result r;
	sync_ok(b, 0, &r);
	mindex_sync_result_free(&r);
	struct mindex_stats s0, s1;
	mindex_stats_get(&s0);
	struct error err = {0};
	uint32_t seq = 1;
	enum mindex_store_result res;
	assert_int_equal(mindex_store_flags(a, &seq, 1, MINDEX_FLAGS_ADD,
					    STORE_FLAG_SEEN, 0, 0, &res, &err),
			 0);
	assert_int_equal(res, MINDEX_STORE_CHANGED);
	sync_ok(b, 0, &r);
	assert_int_equal(r.changed_count, 1);
	mindex_sync_result_free(&r);
	sync_ok(a, 0, &r);
	assert_int_equal(r.changed_count, 0);
	mindex_sync_result_free(&r);
	mindex_stats_get(&s1);
	assert_int_equal(s1.fast_scans, s0.fast_scans);
	assert_int_equal(s1.full_scans, s0.full_scans);

	/* another program renames message 2 in the same tick */
	char *cur = xasprintf("%s/cur", x->mpath);
	struct stat st;
	assert_int_equal(stat(cur, &st), 0);
	const char *nm = mindex_msg(b, 2)->name;
	char *from = xasprintf("%s/%s", cur, nm);
	char *base = xstrndup(nm, strcspn(nm, ":"));
	char *to = xasprintf("%s/%s:2,T", cur, base);
	assert_int_equal(rename(from, to), 0);
	struct timespec ts[2] = {st.st_atim, st.st_mtim};
	assert_int_equal(utimensat(AT_FDCWD, cur, ts, 0), 0);
	sync_ok(b, 0, &r);
	mindex_sync_result_free(&r);
	/* within a second the verifying listing finds it */
	usleep(1100 * 1000);
	sync_ok(b, 0, &r);
	assert_int_equal(r.changed_count, 1);
	assert_int_equal(r.changed_seqs[0], 2);
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_msg(b, 2)->flags, STORE_FLAG_TRASHED);
	sync_ok(a, 0, &r);
	assert_int_equal(r.changed_count, 1);
	mindex_sync_result_free(&r);
	free(cur);
	free(from);
	free(base);
	free(to);
	mindex_folder_close(&a);
	mindex_folder_close(&b);
	fx_free(x);
}

/* A state outlives its last handle: the next open checks the disk (and
 * the database) instead of loading everything again. */
static void test_idle_reuse(void **state)
{
	(void)state;
	struct fx *x = fx_with(3);
	struct mindex_folder *a = open_rw(x);
	mindex_folder_close(&a);
	struct mindex_stats s0, s1;
	mindex_stats_get(&s0);
	a = open_rw(x);
	mindex_stats_get(&s1);
	assert_int_equal(s1.loads, s0.loads);
	assert_int_equal(mindex_folder_count(a), 3);
	mindex_folder_close(&a);
	/* changed while nobody had it open: found at the next open */
	fx_deliver(x, NULL, msg1);
	a = open_rw(x);
	assert_int_equal(mindex_folder_count(a), 4);
	assert_int_equal(mindex_msg(a, 4)->uid, 4);
	assert_true(mindex_msg_recent(a, 4));
	mindex_folder_close(&a);
	/* forgotten: loaded again */
	mindex_forget_idle();
	mindex_stats_get(&s0);
	a = open_rw(x);
	mindex_stats_get(&s1);
	assert_int_equal(s1.loads, s0.loads + 1);
	assert_int_equal(mindex_folder_count(a), 4);
	mindex_folder_close(&a);
	mindex_forget_idle();
	fx_free(x);
}

/* ---- threads ---- */

enum { T_THREADS = 4, T_MSGS = 300, T_ROUNDS = 150 };

struct tctx {
	struct fx *x;
	int id;
	int failures;
};

static void *tmain(void *p)
{
	struct tctx *t = p;
	struct error err = {0};
	struct mindex_folder *f =
	    mindex_folder_open(t->x->u, "INBOX", false, &err);
	if (f == NULL) {
		t->failures++;
		return NULL;
	}
	unsigned seed = (unsigned)t->id * 7919u + 1;
	for (int round = 0; round < T_ROUNDS; round++) {
		struct mindex_sync_result r;
		unsigned fl =
		    rand_r(&seed) % 3 == 0 ? MINDEX_SYNC_NO_EXPUNGE : 0;
		if (mindex_folder_sync(f, fl, &r, &err) < 0) {
			t->failures++;
			break;
		}
		/* expunge numbers ascend and fit the old view */
		for (size_t k = 1; k < r.expunged_count; k++)
			if (r.expunged_seqs[k] <= r.expunged_seqs[k - 1])
				t->failures++;
		mindex_sync_result_free(&r);
		/* a "FETCH": the view is consistent while we read it */
		uint32_t n = mindex_folder_count(f), prev = 0;
		for (uint32_t s = 1; s <= n; s++) {
			const struct mindex_msg *m = mindex_msg(f, s);
			if (m == NULL || m->uid <= prev || m->name == NULL ||
			    strlen(m->name) == 0)
				t->failures++;
			else
				prev = m->uid;
		}
		if (n == 0)
			continue;
		uint32_t seq = 1 + rand_r(&seed) % n;
		enum mindex_store_result res;
		int op = rand_r(&seed) % 10;
		if (op < 7) {
			if (mindex_store_flags(
				f, &seq, 1,
				op % 2 ? MINDEX_FLAGS_ADD : MINDEX_FLAGS_REMOVE,
				STORE_FLAG_FLAGGED, 0, 0, &res, &err) < 0)
				t->failures++;
		} else if (op == 7) {
			if (mindex_expunge(f, &seq, 1, &err) < 0)
				t->failures++;
		} else if (op == 8) {
			struct store_input in;
			struct store_input_mem mem;
			uint32_t uid;
			store_input_mem(&in, &mem, msg1, strlen(msg1));
			if (mindex_append(f, &in, 0, 0, 0, NULL, &uid, &err) <
			    0)
				t->failures++;
		} else {
			int fd;
			int o = mindex_msg_open(f, seq, &fd, &err);
			if (o < 0)
				t->failures++;
			else if (o == 1)
				close(fd);
			(void)mindex_msg_internaldate(f, seq);
		}
	}
	/* the end: everyone reports everything */
	struct mindex_sync_result r;
	if (mindex_folder_sync(f, 0, &r, &err) < 0)
		t->failures++;
	mindex_sync_result_free(&r);
	mindex_folder_close(&f);
	return NULL;
}

static void test_threads_one_folder(void **state)
{
	(void)state;
	struct fx *x = fx_with(T_MSGS);
	pthread_t th[T_THREADS];
	struct tctx t[T_THREADS];
	/* one handle stays open so the state lives through it all */
	struct mindex_folder *keep = open_rw(x);
	for (int i = 0; i < T_THREADS; i++) {
		t[i] = (struct tctx){x, i, 0};
		pthread_create(&th[i], NULL, tmain, &t[i]);
	}
	for (int i = 0; i < T_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].failures, 0);
	}
	struct mindex_sync_result r;
	sync_ok(keep, 0, &r);
	mindex_sync_result_free(&r);
	uint32_t n = mindex_folder_count(keep);
	uint32_t *flags = xcalloc(n + 1, sizeof(uint32_t));
	uint32_t *uids = xcalloc(n + 1, sizeof(uint32_t));
	for (uint32_t s = 1; s <= n; s++) {
		flags[s - 1] = mindex_msg(keep, s)->flags;
		uids[s - 1] = mindex_msg(keep, s)->uid;
	}
	mindex_folder_close(&keep);
	/* a fresh load from the disk (the state freed) agrees */
	mindex_forget_idle();
	struct mindex_stats s0, s1;
	mindex_stats_get(&s0);
	struct mindex_folder *f = open_rw(x);
	mindex_stats_get(&s1);
	assert_int_equal(s1.loads, s0.loads + 1);
	assert_int_equal(mindex_folder_count(f), n);
	int dir_n = 0;
	char *cur = xasprintf("%s/cur", x->mpath);
	DIR *d = opendir(cur);
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			dir_n++;
	closedir(d);
	free(cur);
	assert_int_equal(dir_n, n);
	for (uint32_t s = 1; s <= n; s++) {
		assert_int_equal(mindex_msg(f, s)->uid, uids[s - 1]);
		assert_int_equal(mindex_msg(f, s)->flags, flags[s - 1]);
	}
	free(flags);
	free(uids);
	mindex_folder_close(&f);
	fx_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_store_shared),
	    cmocka_unit_test(test_expunge_pending),
	    cmocka_unit_test(test_append_shared),
	    cmocka_unit_test(test_other_process),
	    cmocka_unit_test(test_own_change_explained),
	    cmocka_unit_test(test_idle_reuse),
	    cmocka_unit_test(test_threads_one_folder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
