/*
 * test_submit - the queue socket protocol: record framing, the envelope
 * codec and its refusals, and the client against a fake daemon on a unix
 * socket (success with the id, a failure answer, daemon down, and
 * back-pressure when the daemon does not read).
 */
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "queue/submit.h"

static char tmpdir[256];
static char sockpath[300];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_submit.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(sockpath, sizeof(sockpath), "%s/queue.sock", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ---- Framing. */

static void test_framing(void **state)
{
	struct buf *b = buf_new();
	struct error err;
	char type;
	const char *p;
	size_t len, used;

	submit_rec_put_str(b, 'F', "a@b.example");
	submit_rec_put(b, 'D', "x\0y", 3);
	submit_rec_put(b, 'C', "", 0);
	/* Byte layout: type, 4-byte big-endian length. */
	assert_memory_equal(buf_data(b),
			    "F\0\0\0\x0b"
			    "a@b.example",
			    16);

	assert_int_equal(submit_rec_get(b, &type, &p, &len, &used, &err), 1);
	assert_int_equal(type, 'F');
	assert_int_equal(len, 11);
	assert_memory_equal(p, "a@b.example", 11);
	buf_consume(b, used);
	assert_int_equal(submit_rec_get(b, &type, &p, &len, &used, &err), 1);
	assert_int_equal(type, 'D');
	assert_int_equal(len, 3);
	assert_memory_equal(p, "x\0y", 3);
	buf_consume(b, used);
	assert_int_equal(submit_rec_get(b, &type, &p, &len, &used, &err), 1);
	assert_int_equal(type, 'C');
	assert_int_equal(len, 0);
	buf_consume(b, used);
	assert_int_equal(submit_rec_get(b, &type, &p, &len, &used, &err), 0);

	/* Partial records wait for more, at every cut. */
	struct buf *whole = buf_new();
	submit_rec_put_str(whole, 'H', "helo.example");
	for (size_t cut = 0; cut < buf_len(whole); cut++) {
		buf_reset(b);
		buf_append(b, buf_data(whole), cut);
		assert_int_equal(
		    submit_rec_get(b, &type, &p, &len, &used, &err), 0);
	}
	buf_free(&whole);

	/* A length over the limit is refused before the payload arrives. */
	buf_reset(b);
	buf_append(b, "D\x7f\xff\xff\xff", 5);
	assert_int_equal(submit_rec_get(b, &type, &p, &len, &used, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	buf_free(&b);
}

/* ---- Envelope codec. */

static int apply_all(struct queue_env *env, struct buf *b, struct error *err)
{
	char type;
	const char *p;
	size_t len, used;
	int rc;

	while ((rc = submit_rec_get(b, &type, &p, &len, &used, err)) == 1) {
		if (submit_env_apply(env, type, p, len, err) < 0)
			return -1;
		buf_consume(b, used);
	}
	return rc;
}

static void test_env_roundtrip(void **state)
{
	const struct submit_rcpt rcpts[] = {
	    {"u1@d.example", NULL, 0},
	    {"u2@d.example", "rfc822;alias@d.example",
	     QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE},
	};
	const struct submit_env in = {
	    .sender = "s@x.example",
	    .envid = "ENV123",
	    .ret = QUEUE_RET_HDRS,
	    .body = QUEUE_BODY_8BITMIME,
	    .smtputf8 = true,
	    .client_addr = "192.0.2.1",
	    .client_name = "mx.x.example",
	    .helo = "helo.x.example",
	    .auth_name = "s@x.example",
	    .tls = "TLSv1.3 with cipher X",
	    .rcpts = rcpts,
	    .nrcpts = 2,
	};
	struct queue_env env;
	struct buf *b = buf_new();
	struct error err;

	memset(&env, 0, sizeof(env));
	submit_env_encode(b, &in);
	assert_int_equal(apply_all(&env, b, &err), 0);
	assert_string_equal(env.sender, "s@x.example");
	assert_string_equal(env.envid, "ENV123");
	assert_int_equal(env.ret, QUEUE_RET_HDRS);
	assert_int_equal(env.body, QUEUE_BODY_8BITMIME);
	assert_true(env.smtputf8);
	assert_string_equal(env.client_addr, "192.0.2.1");
	assert_string_equal(env.client_name, "mx.x.example");
	assert_string_equal(env.helo, "helo.x.example");
	assert_string_equal(env.auth_name, "s@x.example");
	assert_string_equal(env.tls, "TLSv1.3 with cipher X");
	assert_int_equal(env.nrcpts, 2);
	assert_string_equal(env.rcpts[0].addr, "u1@d.example");
	assert_null(env.rcpts[0].orcpt);
	assert_int_equal(env.rcpts[0].notify, 0);
	assert_string_equal(env.rcpts[1].addr, "u2@d.example");
	assert_string_equal(env.rcpts[1].orcpt, "rfc822;alias@d.example");
	assert_int_equal(env.rcpts[1].notify,
			 QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE);
	queue_env_clear(&env);

	/* The null sender travels as an empty record; NULL fields stay out. */
	const struct submit_env nul = {.sender = NULL};
	buf_reset(b);
	submit_env_encode(b, &nul);
	assert_int_equal(buf_len(b), 5);
	memset(&env, 0, sizeof(env));
	assert_int_equal(apply_all(&env, b, &err), 0);
	assert_string_equal(env.sender, "");
	assert_null(env.helo);
	assert_int_equal(env.nrcpts, 0);
	queue_env_clear(&env);
	buf_free(&b);
}

static void expect_refused(char type, const char *p, size_t len)
{
	struct queue_env env;
	struct error err;

	memset(&env, 0, sizeof(env));
	assert_int_equal(submit_env_apply(&env, type, p, len, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	assert_int_equal(env.nrcpts, 0);
	queue_env_clear(&env);
}

static void test_env_refusals(void **state)
{
	expect_refused('R', "a@b", 3);	    /* no orcpt field */
	expect_refused('R', "a@b\0", 4);    /* no notify field */
	expect_refused('R', "a@b\0\0", 5);  /* empty notify */
	expect_refused('R', "a@b\0\0x", 6); /* notify not a number */
	expect_refused('R',
		       "a@b\0\0"
		       "99",
		       7); /* unknown bits */
	expect_refused('R',
		       "\0\0"
		       "0",
		       3); /* empty address */
	expect_refused('R',
		       "a\r\n@b\0\0"
		       "0",
		       9); /* line break */
	expect_refused('R',
		       "a@b\0\0"
		       "1\0",
		       7);		       /* NUL in notify */
	expect_refused('F', "a@b\r\nX: y", 9); /* header injection */
	expect_refused('H', "h\0x", 3);	       /* NUL */
	expect_refused('T', "MOST", 4);
	expect_refused('Y', "8BIT", 4);
	expect_refused('D', "data", 4); /* not an envelope field */
	expect_refused('?', "", 0);

	/* And the good neighbours of those are accepted. */
	struct queue_env env;
	struct error err;
	memset(&env, 0, sizeof(env));
	assert_int_equal(submit_env_apply(&env, 'R',
					  "a@b\0\0"
					  "15",
					  7, &err),
			 0);
	assert_int_equal(env.rcpts[0].notify, 15);
	assert_int_equal(submit_env_apply(&env, 'T', "FULL", 4, &err), 0);
	assert_int_equal(env.ret, QUEUE_RET_FULL);
	/* Payloads are not terminated: a longer buffer must not leak in. */
	assert_int_equal(submit_env_apply(&env, 'F', "x@yGARBAGE", 3, &err), 0);
	assert_string_equal(env.sender, "x@y");
	/* W (REDIRECT, header/body_checks): every recipient so far is
	 * replaced by the one address; an empty one is refused. */
	assert_int_equal(submit_env_apply(&env, 'R',
					  "c@d\0rfc822;c@d\0"
					  "0",
					  16, &err),
			 0);
	assert_int_equal(env.nrcpts, 2);
	assert_int_equal(submit_env_apply(&env, 'W', "new@e", 5, &err), 0);
	assert_int_equal(env.nrcpts, 1);
	assert_string_equal(env.rcpts[0].addr, "new@e");
	assert_null(env.rcpts[0].orcpt);
	assert_int_equal(submit_env_apply(&env, 'W', "", 0, &err), -1);
	expect_refused('W', "a@b\r\nX: y", 9);
	queue_env_clear(&env);
}

/* ---- The client against a fake daemon. */

struct fake {
	struct ev *ev;
	int lfd, cfd;
	struct buf *in;
	bool read;	  /* false: never read (back-pressure test) */
	const char *fail; /* answer X with this instead of O */
	struct queue_env env;
	struct buf *data;
	int records;
	bool committed;
};

static void fake_send(struct fake *f, char type, const char *s)
{
	struct buf *b = buf_new();

	submit_rec_put_str(b, type, s);
	assert_int_equal(write(f->cfd, buf_data(b), buf_len(b)),
			 (ssize_t)buf_len(b));
	buf_free(&b);
}

static void fake_on_conn(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct fake *f = ctx;
	char chunk[65536];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	struct error err;

	if (n <= 0) {
		ev_fd_del(ev, fd);
		close(fd);
		f->cfd = -1;
		return;
	}
	buf_append(f->in, chunk, (size_t)n);
	for (;;) {
		char type;
		const char *p;
		size_t len, used;
		int rc = submit_rec_get(f->in, &type, &p, &len, &used, &err);
		assert_int_not_equal(rc, -1);
		if (rc == 0)
			return;
		f->records++;
		if (type == 'B') {
			assert_int_equal(len, 1);
			fake_send(f, 'I', "4QTESTID");
		} else if (type == 'D') {
			buf_append(f->data, p, len);
		} else if (type == 'C') {
			f->committed = true;
			if (f->fail != NULL)
				fake_send(f, 'X', f->fail);
			else
				fake_send(f, 'O', "4QTESTID");
		} else {
			assert_int_equal(
			    submit_env_apply(&f->env, type, p, len, &err), 0);
		}
		buf_consume(f->in, used);
	}
}

static void fake_on_listen(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct fake *f = ctx;
	int c = net_accept(fd, NULL, 0);

	if (c < 0)
		return;
	f->cfd = c;
	if (f->read)
		assert_int_equal(
		    ev_fd_add(ev, c, EV_READ, fake_on_conn, f, NULL), 0);
}

static void fake_start(struct fake *f, struct ev *ev)
{
	struct error err;

	memset(f, 0, sizeof(*f));
	f->ev = ev;
	f->cfd = -1;
	f->read = true;
	f->in = buf_new();
	f->data = buf_new();
	f->lfd = net_listen_unix(sockpath, 0600, 0, &err);
	assert_true(f->lfd >= 0);
	assert_int_equal(ev_fd_add(ev, f->lfd, EV_READ | EV_FD_WEAK,
				   fake_on_listen, f, NULL),
			 0);
}

static void fake_stop(struct fake *f)
{
	ev_fd_del(f->ev, f->lfd);
	close(f->lfd);
	if (f->cfd >= 0) {
		ev_fd_del(f->ev, f->cfd);
		close(f->cfd);
	}
	buf_free(&f->in);
	buf_free(&f->data);
	queue_env_clear(&f->env);
	unlink(sockpath);
}

struct result {
	int id_calls, drain_calls, done_calls;
	char id[QUEUE_ID_MAX];
	char done_id[QUEUE_ID_MAX];
	enum err_kind kind;
	char msg[ERROR_MSG_MAX];
};

static void on_id(void *ctx, const char *id)
{
	struct result *r = ctx;

	r->id_calls++;
	snprintf(r->id, sizeof(r->id), "%s", id);
}

static void on_drain(void *ctx)
{
	struct result *r = ctx;

	r->drain_calls++;
}

static void on_done(void *ctx, const struct error *err, const char *id)
{
	struct result *r = ctx;

	r->done_calls++;
	if (err != NULL) {
		assert_null(id);
		r->kind = err->kind;
		snprintf(r->msg, sizeof(r->msg), "%s", err->msg);
	} else {
		r->kind = ERR_NONE;
		snprintf(r->done_id, sizeof(r->done_id), "%s", id);
	}
}

static const struct submit_callbacks cbs = {on_id, on_drain};

static void run_until(struct ev *ev, const int *counter, int want)
{
	for (int i = 0; i < 2000 && *counter < want; i++)
		ev_run_once(ev, 10);
	assert_int_equal(*counter, want);
}

static void test_client_ok(void **state)
{
	struct ev *ev = ev_new();
	struct fake f;
	struct result r = {0};
	const struct submit_rcpt rcpt = {"u@d.example", NULL, 0};
	const struct submit_env env = {.sender = "s@x.example",
				       .helo = "h.example"};

	fake_start(&f, ev);
	struct submit_client *c = submit_client_new(ev, sockpath);
	struct submit *s = submit_begin(c, &env, &cbs, &r);
	assert_null(submit_id(s));
	run_until(ev, &r.id_calls, 1);
	assert_string_equal(r.id, "4QTESTID");
	assert_string_equal(submit_id(s), "4QTESTID");
	submit_add_rcpt(s, &rcpt);
	assert_int_equal(submit_write(s, "Received: x\r\n", 13), 0);
	assert_int_equal(submit_write(s, "\r\nbody\r\n", 8), 0);
	submit_commit(s, on_done, &r);
	run_until(ev, &r.done_calls, 1);
	assert_int_equal(r.kind, ERR_NONE);
	assert_string_equal(r.done_id, "4QTESTID");
	assert_true(f.committed);
	assert_string_equal(f.env.sender, "s@x.example");
	assert_string_equal(f.env.helo, "h.example");
	assert_int_equal(f.env.nrcpts, 1);
	assert_string_equal(f.env.rcpts[0].addr, "u@d.example");
	assert_true(buf_eq_str(f.data, "Received: x\r\n\r\nbody\r\n"));

	/* An abort before commit queues nothing: the daemon sees EOF. */
	s = submit_begin(c, &env, NULL, NULL);
	submit_write(s, "x", 1);
	for (int i = 0; i < 20; i++)
		ev_run_once(ev, 5);
	submit_abort(&s);
	assert_null(s);

	submit_client_free(&c);
	fake_stop(&f);
	ev_free(&ev);
}

static void test_client_fail_answer(void **state)
{
	struct ev *ev = ev_new();
	struct fake f;
	struct result r = {0};
	const struct submit_env env = {.sender = ""};

	fake_start(&f, ev);
	f.fail = "4.3.0 disk full";
	struct submit_client *c = submit_client_new(ev, sockpath);
	struct submit *s = submit_begin(c, &env, &cbs, &r);
	submit_write(s, "x\r\n", 3);
	submit_commit(s, on_done, &r);
	run_until(ev, &r.done_calls, 1);
	assert_int_equal(r.kind, ERR_TEMP);
	assert_string_equal(r.msg, "4.3.0 disk full");

	f.fail = "5.1.3 no recipients";
	r.done_calls = 0;
	s = submit_begin(c, &env, &cbs, &r);
	submit_commit(s, on_done, &r);
	run_until(ev, &r.done_calls, 1);
	assert_int_equal(r.kind, ERR_PERM);

	submit_client_free(&c);
	fake_stop(&f);
	ev_free(&ev);
}

static void test_client_daemon_down(void **state)
{
	struct ev *ev = ev_new();
	struct result r = {0};
	const struct submit_env env = {.sender = "s@x.example"};
	struct submit_client *c = submit_client_new(ev, sockpath);
	struct submit *s = submit_begin(c, &env, &cbs, &r);

	assert_int_equal(submit_write(s, "x", 1), -1);
	submit_commit(s, on_done, &r);
	/* Never from inside submit_commit itself. */
	assert_int_equal(r.done_calls, 0);
	run_until(ev, &r.done_calls, 1);
	assert_int_equal(r.kind, ERR_TEMP);
	assert_int_equal(r.id_calls, 0);
	submit_client_free(&c);
	ev_free(&ev);
}

static void test_client_backpressure(void **state)
{
	struct ev *ev = ev_new();
	struct fake f;
	struct result r = {0};
	const struct submit_env env = {.sender = "s@x.example"};
	char *chunk = xmalloc(64 * 1024);
	int rc = 0;
	size_t sent = 0;

	memset(chunk, 'a', 64 * 1024);
	fake_start(&f, ev);
	f.read = false;
	struct submit_client *c = submit_client_new(ev, sockpath);
	struct submit *s = submit_begin(c, &env, &cbs, &r);
	/* The daemon reads nothing: the client must say "full" after a
	 * bounded amount (socket buffers plus the high-water mark). */
	while (rc == 0 && sent < 64 * 1024 * 1024) {
		rc = submit_write(s, chunk, 64 * 1024);
		sent += 64 * 1024;
		ev_run_once(ev, 0);
	}
	assert_int_equal(rc, 1);
	assert_true(sent < 16 * 1024 * 1024);
	assert_int_equal(r.drain_calls, 0);
	/* Now the daemon reads: drain fires once the buffer is empty. */
	ev_fd_add(ev, f.cfd, EV_READ, fake_on_conn, &f, NULL);
	run_until(ev, &r.drain_calls, 1);
	submit_abort(&s);
	submit_client_free(&c);
	fake_stop(&f);
	ev_free(&ev);
	free(chunk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_framing),
	    cmocka_unit_test(test_env_roundtrip),
	    cmocka_unit_test(test_env_refusals),
	    cmocka_unit_test_setup_teardown(test_client_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_fail_answer, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_client_daemon_down, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_client_backpressure, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
