/*
 * test_submit_decode - the daemon's state machine of a queue-socket
 * connection: a whole submission fed one byte at a time, control
 * requests, and every out-of-order or incomplete stream it must refuse.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "queue/submit.h"

struct run {
	int begins, commits, controls, errors;
	struct buf *data;
	char control[256];
	char err[ERROR_MSG_MAX];
	struct queue_env env;
};

/* Feed `in` to a fresh decoder in pieces of `step` bytes. */
static void run_stream(struct run *r, const struct buf *in, size_t step)
{
	struct submit_decoder *d = submit_decoder_new();
	struct buf *b = buf_new();
	struct error err;

	memset(r, 0, sizeof(*r));
	r->data = buf_new();
	for (size_t off = 0; off < buf_len(in) && r->errors == 0; off += step) {
		size_t n = buf_len(in) - off < step ? buf_len(in) - off : step;
		enum submit_event ev;
		const char *p;
		size_t len;
		int rc;

		buf_append(b, buf_data(in) + off, n);
		while ((rc = submit_decoder_next(d, b, &ev, &p, &len, &err)) ==
		       1) {
			switch (ev) {
			case SUBMIT_EV_BEGIN:
				r->begins++;
				submit_decoder_set_env(d, &r->env);
				break;
			case SUBMIT_EV_DATA:
				buf_append(r->data, p, len);
				break;
			case SUBMIT_EV_COMMIT:
				r->commits++;
				break;
			case SUBMIT_EV_CONTROL:
				r->controls++;
				snprintf(r->control, sizeof(r->control), "%s",
					 p);
				break;
			case SUBMIT_EV_NONE:
				fail();
			}
		}
		if (rc < 0) {
			r->errors++;
			snprintf(r->err, sizeof(r->err), "%s", err.msg);
			assert_int_equal(err.kind, ERR_PERM);
		}
	}
	buf_free(&b);
	submit_decoder_free(&d);
}

static void run_free(struct run *r)
{
	buf_free(&r->data);
	queue_env_clear(&r->env);
}

static void test_whole_submission(void **state)
{
	const struct submit_rcpt rcpt = {"u@d.example", NULL, 0};
	const struct submit_env env = {
	    .sender = "s@x.example", .helo = "h", .rcpts = &rcpt, .nrcpts = 1};
	struct buf *in = buf_new();
	struct run r;

	submit_rec_put_str(in, 'B', "1");
	submit_rec_put_str(in, 'D', "Received: x\r\n");
	submit_env_encode(in, &env);
	submit_rec_put_str(in, 'D', "\r\nbody\r\n");
	/* A recipient after data is fine (smtpd streams as it goes). */
	const struct submit_rcpt late = {"v@d.example", "rfc822;w@d.example",
					 QUEUE_NOTIFY_NEVER};
	submit_rcpt_encode(in, &late);
	submit_rec_put(in, 'C', "", 0);

	/* The same events whatever the cut of the stream. */
	for (size_t step = 1; step <= buf_len(in); step += step < 8 ? 1 : 13) {
		run_stream(&r, in, step);
		assert_int_equal(r.errors, 0);
		assert_int_equal(r.begins, 1);
		assert_int_equal(r.commits, 1);
		assert_true(buf_eq_str(r.data, "Received: x\r\n\r\nbody\r\n"));
		assert_string_equal(r.env.sender, "s@x.example");
		assert_string_equal(r.env.helo, "h");
		assert_int_equal(r.env.nrcpts, 2);
		assert_string_equal(r.env.rcpts[1].addr, "v@d.example");
		assert_string_equal(r.env.rcpts[1].orcpt, "rfc822;w@d.example");
		assert_int_equal(r.env.rcpts[1].notify, QUEUE_NOTIFY_NEVER);
		run_free(&r);
	}
	buf_free(&in);
}

static void test_control(void **state)
{
	struct buf *in = buf_new();
	struct run r;

	submit_rec_put_str(in, 'K', "hold ALL");
	run_stream(&r, in, 3);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.controls, 1);
	assert_string_equal(r.control, "hold ALL");
	run_free(&r);

	/* Nothing may follow a control request. */
	submit_rec_put_str(in, 'K', "flush");
	run_stream(&r, in, 100);
	assert_int_equal(r.controls, 1);
	assert_int_equal(r.errors, 1);
	assert_string_equal(r.err, "5.5.2 record after the end");
	run_free(&r);

	/* A line break could forge a second request in a log line. */
	buf_reset(in);
	submit_rec_put_str(in, 'K', "hold X\nrelease Y");
	run_stream(&r, in, 100);
	assert_int_equal(r.controls, 0);
	assert_int_equal(r.errors, 1);
	run_free(&r);
	buf_free(&in);
}

/* Each stream must end in exactly one error with this code prefix. */
static void expect_error(const struct buf *in, const char *prefix)
{
	struct run r;

	run_stream(&r, in, 1);
	assert_int_equal(r.errors, 1);
	assert_int_equal(r.commits, 0);
	if (strncmp(r.err, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", r.err, prefix);
	run_free(&r);
}

static void test_refusals(void **state)
{
	struct buf *in = buf_new();

	/* Data before begin. */
	submit_rec_put_str(in, 'D', "x");
	expect_error(in, "5.5.2 expected a begin");
	/* Wrong protocol version. */
	buf_reset(in);
	submit_rec_put_str(in, 'B', "2");
	expect_error(in, "5.5.2 unsupported");
	/* Commit without a sender. */
	buf_reset(in);
	submit_rec_put_str(in, 'B', "1");
	submit_rec_put(in, 'R',
		       "a@b\0\0"
		       "0",
		       6);
	submit_rec_put(in, 'C', "", 0);
	expect_error(in, "5.5.1 no sender");
	/* Commit without recipients. */
	buf_reset(in);
	submit_rec_put_str(in, 'B', "1");
	submit_rec_put_str(in, 'F', "");
	submit_rec_put(in, 'C', "", 0);
	expect_error(in, "5.5.1 no recipients");
	/* A second begin. */
	buf_reset(in);
	submit_rec_put_str(in, 'B', "1");
	submit_rec_put_str(in, 'B', "1");
	expect_error(in, "5.5.2 record out of order");
	/* Control inside a message. */
	buf_reset(in);
	submit_rec_put_str(in, 'B', "1");
	submit_rec_put_str(in, 'K', "flush");
	expect_error(in, "5.5.2 record out of order");
	/* A malformed envelope field. */
	buf_reset(in);
	submit_rec_put_str(in, 'B', "1");
	submit_rec_put_str(in, 'F', "a@b\r\nRCPT TO:<x@y>");
	expect_error(in, "5.5.2 ");
	/* An oversized record length. */
	buf_reset(in);
	submit_rec_put_str(in, 'B', "1");
	buf_append(in, "D\x01\x00\x00\x00", 5);
	expect_error(in, "5.5.2 record of");
	buf_free(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole_submission),
	    cmocka_unit_test(test_control),
	    cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
