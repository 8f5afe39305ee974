/*
 * test_queue - the durable queue: commit and read back, group commit,
 * crash recovery (torn tails at every offset, a SIGKILLed writer),
 * corrupt records, status changes and moves across reopen, segment
 * reclamation.
 */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "queue/queue.h"

static char tmpdir[256];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_queue.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static char *qdir(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

struct waiter {
	int done;
	int failed;
	char ids[512][QUEUE_ID_MAX];
};

static void on_commit(void *ctx, const char *id, const struct error *err)
{
	struct waiter *w = ctx;

	if (err != NULL)
		w->failed++;
	else
		snprintf(w->ids[w->done % 512], QUEUE_ID_MAX, "%s", id);
	w->done++;
}

static void on_done(void *ctx, const struct error *err)
{
	struct waiter *w = ctx;

	if (err != NULL)
		w->failed++;
	w->done++;
}

static void run_until(struct ev *ev, int *counter, int target)
{
	for (int i = 0; i < 10000 && *counter < target; i++)
		ev_run_once(ev, 100);
	assert_int_equal(*counter, target);
}

static void body_of(char *out, size_t len, int n)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (char)("abcdefghij\r\n"[(i + n) % 12]);
}

static struct queue_msg *make_msg(struct queue *q, int n, size_t len)
{
	struct queue_msg *m = queue_msg_new(q);
	struct queue_env *env = queue_msg_env(m);
	char *body = xmalloc(len + 1);

	queue_env_set(&env->sender, "alice@example.org");
	queue_env_add_rcpt(env, "bob@example.com", "rfc822;bob@example.com",
			   QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY);
	queue_env_add_rcpt(env, "carol@example.com", NULL, 0);
	queue_env_set(&env->client_addr, "127.0.0.1");
	queue_env_set(&env->helo, "client.example");
	queue_env_set(&env->tls, "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384");
	env->body = QUEUE_BODY_8BITMIME;
	env->ret = QUEUE_RET_HDRS;
	body_of(body, len, n);
	/* In uneven chunks, as a DATA reader would hand them over. */
	for (size_t off = 0; off < len;) {
		size_t c = len - off < 1000 ? len - off : 1000;

		assert_int_equal(queue_msg_write(m, body + off, c, NULL), 0);
		off += c;
	}
	free(body);
	return m;
}

static void check_body(struct queue *q, const char *id, int n, size_t len)
{
	struct buf *b = buf_new();
	char *want = xmalloc(len + 1);
	struct error err;

	assert_int_equal(queue_body_get(q, id, b, &err), 0);
	body_of(want, len, n);
	assert_int_equal(buf_len(b), len);
	assert_memory_equal(buf_data(b), want, len);
	free(want);
	buf_free(&b);
}

static struct queue *open_q(const char *dir, struct ev *ev,
			    const struct queue_params *p)
{
	struct error err;
	struct queue *q = queue_open(dir, ev, NULL, p, &err);

	if (q == NULL)
		fail_msg("queue_open: %s", err.msg);
	return q;
}

static size_t count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' &&
		    strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* ---- Tests. */

static void test_commit_read_back(void **state)
{
	char *dir = qdir("q1");
	struct ev *ev = ev_new();
	struct queue_params p;
	struct waiter w = {0};
	struct queue *q;
	static const size_t sizes[] = {0, 1, 4096, 300000, 1 << 20};
	char ids[5][QUEUE_ID_MAX];
	struct queue_env env = {0};

	queue_params_default(&p);
	q = open_q(dir, ev, &p);
	for (int i = 0; i < 5; i++)
		queue_msg_commit(make_msg(q, i, sizes[i]), on_commit, &w);
	run_until(ev, &w.done, 5);
	assert_int_equal(w.failed, 0);
	memcpy(ids, w.ids, sizeof(ids));
	assert_int_equal(queue_count(q), 5);
	for (int i = 0; i < 5; i++)
		check_body(q, ids[i], i, sizes[i]);
	queue_close(&q);

	/* Everything is there again after a reopen, envelope included. */
	q = open_q(dir, ev, &p);
	assert_int_equal(queue_count(q), 5);
	for (int i = 0; i < 5; i++) {
		check_body(q, ids[i], i, sizes[i]);
		assert_int_equal(queue_env_get(q, ids[i], &env), 1);
		assert_string_equal(env.id, ids[i]);
		assert_string_equal(env.sender, "alice@example.org");
		assert_int_equal(env.nrcpts, 2);
		assert_string_equal(env.rcpts[0].addr, "bob@example.com");
		assert_string_equal(env.rcpts[0].orcpt,
				    "rfc822;bob@example.com");
		assert_int_equal(env.rcpts[0].notify,
				 QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY);
		assert_null(env.rcpts[1].orcpt);
		assert_int_equal(env.size, sizes[i]);
		assert_int_equal(env.body, QUEUE_BODY_8BITMIME);
		assert_int_equal(env.ret, QUEUE_RET_HDRS);
		assert_string_equal(
		    env.tls, "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384");
		assert_int_equal(env.state, QUEUE_INCOMING);
	}
	queue_env_clear(&env);
	/* Large messages have their own files, small ones are in a segment. */
	char *inc = xasprintf("%s/incoming", dir);

	assert_int_equal(count_files(inc, "seg-"), 1);
	free(inc);
	queue_close(&q);
	ev_free(&ev);
	free(dir);
}

static void test_group_commit(void **state)
{
	char *dir = qdir("q2");
	struct ev *ev = ev_new();
	struct waiter w = {0};
	struct queue_stats st;
	struct queue *q = open_q(dir, ev, NULL);
	const int n = 200;

	/* Sessions committing in waves while a sync is in flight. */
	for (int wave = 0; wave < 4; wave++) {
		for (int i = 0; i < n / 4; i++)
			queue_msg_commit(make_msg(q, i, 4096), on_commit, &w);
		ev_run_once(ev, 0);
	}
	run_until(ev, &w.done, n);
	assert_int_equal(w.failed, 0);
	queue_get_stats(q, &st);
	assert_int_equal(st.batched_msgs, n);
	assert_true(st.max_batch > 1);
	assert_true(st.batches < (uint64_t)n / 4);
	/* One fdatasync per batch plus one directory sync for the segment. */
	assert_true(st.syncs <= st.batches + 1);
	print_message("group commit: %d messages, %llu batches, %llu syncs, "
		      "largest batch %llu\n",
		      n, (unsigned long long)st.batches,
		      (unsigned long long)st.syncs,
		      (unsigned long long)st.max_batch);
	queue_close(&q);
	ev_free(&ev);
	free(dir);
}

/* Cut the segment at every byte of the last record: the acknowledged
 * messages are all there, the cut one is never half there. */
static void test_torn_tail_every_offset(void **state)
{
	char *dir = qdir("q3");
	struct ev *ev = ev_new();
	struct waiter w = {0};
	struct queue *q = open_q(dir, ev, NULL);
	struct buf *seg = buf_new();
	char *segpath, *cdir;
	size_t before;
	struct stat sb;

	queue_msg_commit(make_msg(q, 0, 300), on_commit, &w);
	queue_msg_commit(make_msg(q, 1, 300), on_commit, &w);
	run_until(ev, &w.done, 2);
	segpath = xstrdup(queue_current_segment(q));
	assert_int_equal(stat(segpath, &sb), 0);
	before = (size_t)sb.st_size;
	queue_msg_commit(make_msg(q, 2, 200), on_commit, &w);
	run_until(ev, &w.done, 3);
	assert_int_equal(fs_read_file(segpath, seg, 1 << 20, NULL), 0);
	queue_close(&q);
	assert_true(buf_len(seg) > before);

	char *tdir = qdir("q3t");
	char *tinc = xasprintf("%s/incoming", tdir);
	char *tseg = xasprintf("%s/%s", tinc, strrchr(segpath, '/') + 1);

	cdir = xasprintf("%s/corrupt", tdir);
	for (size_t cut = before; cut <= buf_len(seg); cut++) {
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(fs_mkdir_p(tinc, 0700, NULL), 0);
		assert_int_equal(
		    fs_write_atomic(tseg, buf_data(seg), cut, 0600, NULL), 0);
		q = open_q(tdir, ev, NULL);
		if (cut == buf_len(seg)) {
			assert_int_equal(queue_count(q), 3);
			check_body(q, w.ids[2], 2, 200);
		} else {
			assert_int_equal(queue_count(q), 2);
			/* A non-empty torn tail is kept in corrupt/. */
			assert_int_equal(count_files(cdir, "seg-"),
					 cut > before ? 1 : 0);
		}
		check_body(q, w.ids[0], 0, 300);
		check_body(q, w.ids[1], 1, 300);
		queue_close(&q);
	}
	free(tseg);
	free(tinc);
	free(tdir);
	free(cdir);
	free(segpath);
	buf_free(&seg);
	ev_free(&ev);
	free(dir);
}

static void test_corrupt_record(void **state)
{
	char *dir = qdir("q4");
	char *logpath = qdir("q4.log");
	struct ev *ev = ev_new();
	struct waiter w = {0};
	struct queue *q = open_q(dir, ev, NULL);
	struct queue_stats st;
	struct buf *b = buf_new();
	char *segpath, *cdir;
	struct error err;

	for (int i = 0; i < 3; i++) {
		queue_msg_commit(make_msg(q, i, 1000), on_commit, &w);
		run_until(ev, &w.done, i + 1); /* three batches */
	}
	segpath = xstrdup(queue_current_segment(q));
	queue_close(&q);

	/* Flip a body byte of the middle record. */
	assert_int_equal(fs_read_file(segpath, b, 1 << 20, NULL), 0);
	buf_mut(b)[buf_len(b) / 2] ^= 0x20;
	assert_int_equal(
	    fs_write_atomic(segpath, buf_data(b), buf_len(b), 0600, NULL), 0);
	assert_int_equal(log_to_file(logpath, &err), 0);
	q = open_q(dir, ev, NULL);
	log_to_stderr();
	queue_get_stats(q, &st);
	assert_int_equal(st.corrupt, 1);
	assert_int_equal(queue_count(q), 2);
	check_body(q, w.ids[0], 0, 1000);
	check_body(q, w.ids[2], 2, 1000);
	assert_int_equal(queue_env_get(q, w.ids[1], &(struct queue_env){0}), 0);
	cdir = xasprintf("%s/corrupt", dir);
	assert_int_equal(count_files(cdir, "seg-"), 1);
	buf_reset(b);
	assert_int_equal(fs_read_file(logpath, b, 1 << 20, NULL), 0);
	assert_non_null(strstr(buf_data(b), "checksum mismatch"));
	assert_non_null(strstr(buf_data(b), "saved as corrupt/seg-"));
	queue_close(&q);
	free(cdir);
	free(segpath);
	free(logpath);
	buf_free(&b);
	ev_free(&ev);
	free(dir);
}

static void test_status_and_moves_survive(void **state)
{
	char *dir = qdir("q5");
	struct ev *ev = ev_new();
	struct waiter w = {0}, d = {0};
	struct queue *q = open_q(dir, ev, NULL);
	struct queue_env env = {0};
	char a[QUEUE_ID_MAX], b[QUEUE_ID_MAX], c[QUEUE_ID_MAX];
	struct error err;

	for (int i = 0; i < 3; i++)
		queue_msg_commit(make_msg(q, i, 5000), on_commit, &w);
	run_until(ev, &w.done, 3);
	strcpy(a, w.ids[0]);
	strcpy(b, w.ids[1]);
	strcpy(c, w.ids[2]);
	assert_int_equal(queue_activate(q, a, NULL), 0);
	assert_int_equal(queue_rcpt_set_status(q, a, 0, QUEUE_RCPT_DELIVERED, 0,
					       "250 2.0.0 ok", on_done, &d,
					       &err),
			 0);
	assert_int_equal(queue_rcpt_set_status(q, a, 1, QUEUE_RCPT_DEFERRED,
					       1234567, "451 4.3.0 try later",
					       on_done, &d, &err),
			 0);
	/* b is deferred (its own file), then a status change on it. */
	assert_int_equal(queue_move(q, b, QUEUE_DEFERRED, on_done, &d, &err),
			 0);
	run_until(ev, &d.done, 3);
	assert_int_equal(queue_rcpt_set_status(q, b, 1, QUEUE_RCPT_FAILED, 0,
					       "550 5.1.1 no such user",
					       on_done, &d, &err),
			 0);
	assert_int_equal(queue_move(q, c, QUEUE_HOLD, on_done, &d, &err), 0);
	run_until(ev, &d.done, 5);
	assert_int_equal(d.failed, 0);
	/* Unknown id and a bad recipient index are refused. */
	assert_int_equal(queue_rcpt_set_status(q, "nosuchid", 0,
					       QUEUE_RCPT_DELIVERED, 0, NULL,
					       NULL, NULL, &err),
			 -1);
	assert_int_equal(err.kind, ERR_PERM);
	assert_int_equal(queue_rcpt_set_status(q, a, 7, QUEUE_RCPT_DELIVERED, 0,
					       NULL, NULL, NULL, &err),
			 -1);
	queue_close(&q);

	q = open_q(dir, ev, NULL);
	assert_int_equal(queue_count(q), 3);
	assert_int_equal(queue_env_get(q, a, &env), 1);
	assert_int_equal(env.state, QUEUE_INCOMING); /* active is not kept */
	assert_int_equal(env.rcpts[0].status, QUEUE_RCPT_DELIVERED);
	assert_string_equal(env.rcpts[0].reply, "250 2.0.0 ok");
	assert_int_equal(env.rcpts[1].status, QUEUE_RCPT_DEFERRED);
	assert_int_equal(env.rcpts[1].next_retry, 1234567);
	assert_int_equal(queue_env_get(q, b, &env), 1);
	assert_int_equal(env.state, QUEUE_DEFERRED);
	assert_int_equal(env.rcpts[1].status, QUEUE_RCPT_FAILED);
	assert_string_equal(env.rcpts[1].reply, "550 5.1.1 no such user");
	assert_int_equal(queue_env_get(q, c, &env), 1);
	assert_int_equal(env.state, QUEUE_HOLD);
	check_body(q, a, 0, 5000);
	check_body(q, b, 1, 5000);
	check_body(q, c, 2, 5000);

	/* Release from hold, then delete everything. */
	assert_int_equal(queue_move(q, c, QUEUE_INCOMING, on_done, &d, &err),
			 0);
	run_until(ev, &d.done, 6);
	assert_int_equal(queue_env_get(q, c, &env), 1);
	assert_int_equal(env.state, QUEUE_INCOMING);
	check_body(q, c, 2, 5000);
	assert_int_equal(queue_delete(q, a, on_done, &d, &err), 0);
	assert_int_equal(queue_delete(q, b, on_done, &d, &err), 0);
	assert_int_equal(queue_delete(q, c, on_done, &d, &err), 0);
	run_until(ev, &d.done, 9);
	assert_int_equal(d.failed, 0);
	assert_int_equal(queue_count(q), 0);
	queue_close(&q);

	q = open_q(dir, ev, NULL);
	assert_int_equal(queue_count(q), 0);
	char *data = xasprintf("%s/data", dir),
	     *hold = xasprintf("%s/hold", dir);

	assert_int_equal(count_files(data, ""), 0);
	assert_int_equal(count_files(hold, ""), 0);
	free(data);
	free(hold);
	queue_env_clear(&env);
	queue_close(&q);
	ev_free(&ev);
	free(dir);
}

static void test_segment_reclaim(void **state)
{
	char *dir = qdir("q6");
	char *inc = qdir("q6/incoming");
	struct ev *ev = ev_new();
	struct waiter w = {0}, d = {0};
	struct queue_params p;
	struct queue_stats st;
	struct queue *q;
	struct error err;

	queue_params_default(&p);
	p.segment_size = 1; /* every batch starts a new segment */
	q = open_q(dir, ev, &p);
	for (int i = 0; i < 5; i++) {
		queue_msg_commit(make_msg(q, i, 100), on_commit, &w);
		run_until(ev, &w.done, i + 1);
	}
	assert_int_equal(count_files(inc, "seg-"), 5);
	/* Deleting a later message frees nothing: segments go in order. */
	assert_int_equal(queue_delete(q, w.ids[3], on_done, &d, &err), 0);
	run_until(ev, &d.done, 1);
	assert_int_equal(count_files(inc, "seg-"), 6);
	for (int i = 0; i < 5; i++)
		if (i != 3)
			assert_int_equal(
			    queue_delete(q, w.ids[i], on_done, &d, &err), 0);
	run_until(ev, &d.done, 5);
	/* One more batch runs the reclamation. */
	for (int i = 0; i < 20; i++)
		ev_run_once(ev, 10);
	queue_get_stats(q, &st);
	assert_true(st.segments_freed >= 6);
	assert_int_equal(count_files(inc, "seg-"), 1);
	queue_close(&q);
	q = open_q(dir, ev, &p);
	assert_int_equal(queue_count(q), 0);
	assert_int_equal(count_files(inc, "seg-"), 0);
	queue_close(&q);
	ev_free(&ev);
	free(inc);
	free(dir);
}

/* A writer killed with SIGKILL in the middle of its batches: every id it
 * reported as committed is there after reopen, whole. */
static void test_sigkill_writer(void **state)
{
	char *dir = qdir("q7");
	int fds[2];
	pid_t pid;
	char line[64];
	char acked[4096][QUEUE_ID_MAX];
	int nacked = 0;
	FILE *in;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ev *ev = ev_new();
		struct queue *q;
		struct waiter w = {0};
		int sent = 0;

		close(fds[0]);
		q = queue_open(dir, ev, NULL, NULL, NULL);
		if (q == NULL)
			_exit(2);
		for (;;) {
			int before = w.done;

			while (sent - w.done < 64) {
				queue_msg_commit(make_msg(q, sent, 4096),
						 on_commit, &w);
				sent++;
			}
			ev_run_once(ev, 100);
			for (int i = before; i < w.done; i++) {
				dprintf(fds[1], "%s %d\n", w.ids[i % 512], i);
			}
		}
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	while (nacked < 300 && fgets(line, sizeof(line), in) != NULL) {
		int n;

		assert_int_equal(sscanf(line, "%31s %d", acked[nacked], &n), 2);
		nacked++;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	while (nacked < 4096 && fgets(line, sizeof(line), in) != NULL) {
		assert_true(sscanf(line, "%31s", acked[nacked]) == 1);
		nacked++;
	}
	fclose(in);
	assert_true(nacked >= 300);

	struct ev *ev = ev_new();
	struct queue *q = open_q(dir, ev, NULL);
	struct buf *b = buf_new();

	assert_true(queue_count(q) >= (size_t)nacked);
	for (int i = 0; i < nacked; i++) {
		buf_reset(b);
		assert_int_equal(queue_body_get(q, acked[i], b, NULL), 0);
		assert_int_equal(buf_len(b), 4096);
	}
	buf_free(&b);
	queue_close(&q);
	ev_free(&ev);
	free(dir);
}

static void test_lock_and_readonly(void **state)
{
	char *dir = qdir("q8");
	struct ev *ev = ev_new();
	struct waiter w = {0};
	struct queue_params ro;
	struct queue *q = open_q(dir, ev, NULL), *q2;
	struct error err;

	queue_msg_commit(make_msg(q, 0, 10), on_commit, &w);
	run_until(ev, &w.done, 1);
	/* A second owner is refused... */
	assert_null(queue_open(dir, ev, NULL, NULL, &err));
	assert_int_equal(err.kind, ERR_TEMP);
	/* ...a read-only reader (postern queue list) is not. */
	queue_params_default(&ro);
	ro.readonly = true;
	q2 = queue_open(dir, NULL, NULL, &ro, &err);
	assert_non_null(q2);
	assert_int_equal(queue_count(q2), 1);
	check_body(q2, w.ids[0], 0, 10);
	assert_int_equal(queue_delete(q2, w.ids[0], NULL, NULL, &err), -1);
	queue_close(&q2);
	queue_close(&q);
	ev_free(&ev);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_commit_read_back, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_tail_every_offset, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_record, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_status_and_moves_survive,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_segment_reclaim, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_sigkill_writer, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_lock_and_readonly, setup,
					    teardown),
	};

	log_init("test_queue");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
