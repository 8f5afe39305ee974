/*
 * test_queue_filter - the content filter of a message (queue_env.filter,
 * docs/content-filter.md): the envelope field round-trips through MSG
 * and ENV records, an envelope written before the field existed still
 * reads (filter NULL), copy and clear carry it, the submission record
 * 'G' sets, replaces and clears it and refuses what is not
 * transport:nexthop, and a message keeps its filter across a reopen of
 * the queue and a move to the deferred queue (its own envelope file);
 * the dkim_sign mark goes through the ENV and 'S' records.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "queue/queue.h"
#include "queue/queue_record.h"
#include "queue/submit.h"

#define FILTER "smtp:[127.0.0.1]:10024"

static void fill_env(struct queue_env *env, const char *filter)
{
	memset(env, 0, sizeof(*env));
	strcpy(env->id, "4Zq2Jx1nDVz5nXw");
	env->arrival = 1700000000123;
	queue_env_set(&env->sender, "s@example.org");
	queue_env_add_rcpt(env, "a@example.com", NULL, 0);
	queue_env_add_rcpt(env, "b@example.net", NULL, 0);
	queue_env_set(&env->filter, filter);
}

static void test_env_round_trip(void **state)
{
	struct queue_env env, out = {0};
	struct buf *b = buf_new();
	enum qrec_type type;
	const unsigned char *pl;
	size_t plen, total, boff, blen;

	fill_env(&env, FILTER);
	env.size = 2;
	qrec_append_msg(b, &env, "hi", 2);
	assert_int_equal(qrec_parse(buf_data(b), buf_len(b), &type, &pl, &plen,
				    &total, NULL),
			 1);
	assert_int_equal(qrec_msg_decode(pl, plen, &out, &boff, &blen, NULL),
			 0);
	assert_string_equal(out.filter, FILTER);
	assert_int_equal(out.nrcpts, 2);

	/* An envelope file (ENV record) too. */
	buf_reset(b);
	qrec_env_encode(b, &env);
	assert_int_equal(qrec_env_decode(buf_data(b), buf_len(b), &out, NULL),
			 0);
	assert_string_equal(out.filter, "smtp:[127.0.0.1]:10024");

	/* An lmtp filter with a unix path keeps its colons. */
	queue_env_set(&env.filter, "lmtp:unix:/run/amavis.sock");
	buf_reset(b);
	qrec_env_encode(b, &env);
	assert_int_equal(qrec_env_decode(buf_data(b), buf_len(b), &out, NULL),
			 0);
	assert_string_equal(out.filter, "lmtp:unix:/run/amavis.sock");

	queue_env_clear(&env);
	queue_env_clear(&out);
	buf_free(&b);
}

/* What a writer from before the field wrote: the same TLV without it. */
static void test_old_envelope_reads(void **state)
{
	struct queue_env env, out = {0};
	struct buf *with = buf_new(), *without = buf_new();

	fill_env(&env, NULL);
	qrec_env_encode(without, &env);
	queue_env_set(&env.filter, FILTER);
	qrec_env_encode(with, &env);
	/* The field is additive: only bytes are added, none changed
	 * before them, and no filter means no bytes at all. */
	assert_true(buf_len(with) > buf_len(without));
	assert_null(memmem(buf_data(without), buf_len(without), FILTER,
			   strlen(FILTER)));

	/* A stale filter in the output is cleared by the decoder. */
	queue_env_set(&out.filter, "smtp:stale:1");
	assert_int_equal(
	    qrec_env_decode(buf_data(without), buf_len(without), &out, NULL),
	    0);
	assert_null(out.filter);
	assert_string_equal(out.sender, "s@example.org");
	assert_int_equal(out.nrcpts, 2);

	/* A NUL inside the field is refused like any string field. */
	{
		struct buf *bad = buf_new();
		unsigned char tlv[5 + 3] = {40, 3, 0, 0, 0, 'a', 0, 'b'};
		struct error err;

		buf_append(bad, buf_data(without), buf_len(without));
		buf_append(bad, tlv, sizeof(tlv));
		assert_int_equal(
		    qrec_env_decode(buf_data(bad), buf_len(bad), &out, &err),
		    -1);
		assert_int_equal(err.kind, ERR_PERM);
		buf_free(&bad);
	}
	queue_env_clear(&env);
	queue_env_clear(&out);
	buf_free(&with);
	buf_free(&without);
}

static void test_copy_clear(void **state)
{
	struct queue_env env, copy = {0};

	fill_env(&env, FILTER);
	queue_env_copy(&copy, &env);
	assert_string_equal(copy.filter, FILTER);
	assert_ptr_not_equal(copy.filter, env.filter);
	queue_env_clear(&env);
	assert_null(env.filter);
	assert_string_equal(copy.filter, FILTER); /* its own copy */
	queue_env_clear(&copy);
}

/* Apply every record of b (after the framing) to env. */
static int apply_all(struct buf *b, struct queue_env *env, struct error *err)
{
	char type;
	const char *p;
	size_t len, used;

	while (submit_rec_get(b, &type, &p, &len, &used, err) == 1) {
		if (submit_env_apply(env, type, p, len, err) < 0)
			return -1;
		buf_consume(b, used);
	}
	return 0;
}

static void test_submit_record(void **state)
{
	const struct submit_rcpt r = {.addr = "a@example.com"};
	struct submit_env senv = {.sender = "s@example.org",
				  .rcpts = &r,
				  .nrcpts = 1,
				  .filter = FILTER};
	struct queue_env env = {0};
	struct buf *b = buf_new();
	struct error err;

	submit_env_encode(b, &senv);
	assert_int_equal(apply_all(b, &env, &err), 0);
	assert_string_equal(env.filter, FILTER);

	/* A later FILTER replaces it: the last one wins. */
	buf_reset(b);
	submit_rec_put_str(b, SUBMIT_REC_FILTER, "smtp:[127.0.0.1]:10026");
	assert_int_equal(apply_all(b, &env, &err), 0);
	assert_string_equal(env.filter, "smtp:[127.0.0.1]:10026");

	/* "" clears it. */
	buf_reset(b);
	submit_rec_put_str(b, SUBMIT_REC_FILTER, "");
	assert_int_equal(apply_all(b, &env, &err), 0);
	assert_null(env.filter);

	/* Not transport:nexthop, or a line break: refused. */
	buf_reset(b);
	submit_rec_put_str(b, SUBMIT_REC_FILTER, "amavis");
	assert_int_equal(apply_all(b, &env, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	buf_reset(b);
	submit_rec_put_str(b, SUBMIT_REC_FILTER, "smtp:[x]:1\r\nX: y");
	assert_int_equal(apply_all(b, &env, &err), -1);
	assert_null(env.filter);

	/* No filter (NULL or ""): no record at all, as before. */
	senv.filter = "";
	buf_reset(b);
	submit_env_encode(b, &senv);
	assert_null(memchr(buf_data(b), SUBMIT_REC_FILTER, 1));
	{
		char type;
		const char *p;
		size_t len, used;
		while (submit_rec_get(b, &type, &p, &len, &used, &err) == 1) {
			assert_int_not_equal(type, SUBMIT_REC_FILTER);
			buf_consume(b, used);
		}
	}
	queue_env_clear(&env);
	buf_free(&b);
}

/* The dkim_sign mark (a content filter's reinjection, to be signed):
 * through the ENV record and the 'S' submission record; absent, as in
 * every file and submission from before it, it reads as "no". */
/* The dkim_deny mark (smtpd: the login does not own the From:): through
 * the ENV record and the 'V' submission record; absent reads as "no". */
static void test_dkim_deny_mark(void **state)
{
	struct queue_env env, out = {0};
	struct buf *b = buf_new(), *unmarked = buf_new();
	struct error err;

	(void)state;
	fill_env(&env, NULL);
	qrec_env_encode(unmarked, &env);
	env.dkim_deny = true;
	qrec_env_encode(b, &env);
	assert_int_equal(qrec_env_decode(buf_data(b), buf_len(b), &out, NULL),
			 0);
	assert_true(out.dkim_deny);
	assert_false(out.dkim_sign);
	assert_int_equal(
	    qrec_env_decode(buf_data(unmarked), buf_len(unmarked), &out, NULL),
	    0);
	assert_false(out.dkim_deny);
	queue_env_clear(&out);

	/* The 'V' record, as submit_set_dkim_deny() sends it. */
	buf_reset(b);
	submit_rec_put_str(b, SUBMIT_REC_DKIM_DENY, "");
	assert_int_equal(apply_all(b, &out, &err), 0);
	assert_true(out.dkim_deny);
	queue_env_clear(&env);
	queue_env_clear(&out);
	buf_free(&b);
	buf_free(&unmarked);
}

static void test_dkim_sign_mark(void **state)
{
	const struct submit_rcpt r = {.addr = "a@example.com"};
	struct submit_env senv = {
	    .sender = "s@example.org", .rcpts = &r, .nrcpts = 1};
	struct queue_env env, out = {0};
	struct buf *b = buf_new(), *unmarked = buf_new();
	struct error err;

	fill_env(&env, NULL);
	qrec_env_encode(unmarked, &env);
	env.dkim_sign = true;
	qrec_env_encode(b, &env);
	assert_int_equal(qrec_env_decode(buf_data(b), buf_len(b), &out, NULL),
			 0);
	assert_true(out.dkim_sign);
	assert_int_equal(
	    qrec_env_decode(buf_data(unmarked), buf_len(unmarked), &out, NULL),
	    0);
	assert_false(out.dkim_sign);
	queue_env_clear(&out);

	/* The submission record: only when set. */
	buf_reset(b);
	submit_env_encode(b, &senv);
	assert_int_equal(apply_all(b, &out, &err), 0);
	assert_false(out.dkim_sign);
	senv.dkim_sign = true;
	buf_reset(b);
	submit_env_encode(b, &senv);
	assert_int_equal(apply_all(b, &out, &err), 0);
	assert_true(out.dkim_sign);
	queue_env_clear(&env);
	queue_env_clear(&out);
	buf_free(&b);
	buf_free(&unmarked);
}

/* ---- Through the queue itself: commit, reopen, move. */

static char tmpdir[256];

static void on_commit(void *ctx, const char *id, const struct error *err)
{
	char *out = ctx;

	assert_null(err);
	snprintf(out, QUEUE_ID_MAX, "%s", id);
}

static void on_done(void *ctx, const struct error *err)
{
	int *n = ctx;

	assert_null(err);
	(*n)++;
}

static struct queue *open_q(struct ev *ev)
{
	struct queue_params p;
	struct error err;
	struct queue *q;

	queue_params_default(&p);
	q = queue_open(tmpdir, ev, NULL, &p, &err);
	assert_non_null(q);
	return q;
}

static void test_queue_keeps_filter(void **state)
{
	struct ev *ev = ev_new();
	struct queue *q;
	struct queue_msg *m;
	struct queue_env got = {0};
	char id[QUEUE_ID_MAX] = "", plain[QUEUE_ID_MAX] = "";
	int moved = 0;
	char cmd[512];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_queue_filter.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	q = open_q(ev);

	m = queue_msg_new(q);
	queue_env_set(&queue_msg_env(m)->sender, "s@example.org");
	queue_env_add_rcpt(queue_msg_env(m), "a@example.com", NULL, 0);
	queue_env_add_rcpt(queue_msg_env(m), "b@example.net", NULL, 0);
	queue_env_set(&queue_msg_env(m)->filter, FILTER);
	assert_int_equal(
	    queue_msg_write(m, "Subject: x\r\n\r\nhi\r\n", 18, NULL), 0);
	queue_msg_commit(m, on_commit, id);
	m = queue_msg_new(q);
	queue_env_set(&queue_msg_env(m)->sender, "s@example.org");
	queue_env_add_rcpt(queue_msg_env(m), "c@example.com", NULL, 0);
	assert_int_equal(queue_msg_write(m, "\r\nhi\r\n", 6, NULL), 0);
	queue_msg_commit(m, on_commit, plain);
	for (int i = 0; i < 1000 && (id[0] == '\0' || plain[0] == '\0'); i++)
		ev_run_once(ev, 100);
	assert_true(id[0] != '\0' && plain[0] != '\0');

	/* Reopen: recovered from the segment. */
	queue_close(&q);
	q = open_q(ev);
	assert_int_equal(queue_env_get(q, id, &got), 1);
	assert_string_equal(got.filter, FILTER);
	assert_int_equal(queue_env_get(q, plain, &got), 1);
	assert_null(got.filter);

	/* Deferred: the envelope is rewritten into its own file. */
	assert_int_equal(
	    queue_move(q, id, QUEUE_DEFERRED, on_done, &moved, NULL), 0);
	for (int i = 0; i < 1000 && moved == 0; i++)
		ev_run_once(ev, 100);
	assert_int_equal(moved, 1);
	queue_close(&q);
	q = open_q(ev);
	assert_int_equal(queue_env_get(q, id, &got), 1);
	assert_int_equal(got.state, QUEUE_DEFERRED);
	assert_string_equal(got.filter, FILTER);

	queue_env_clear(&got);
	queue_close(&q);
	ev_free(&ev);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_env_round_trip),
	    cmocka_unit_test(test_old_envelope_reads),
	    cmocka_unit_test(test_copy_clear),
	    cmocka_unit_test(test_submit_record),
	    cmocka_unit_test(test_dkim_sign_mark),
	    cmocka_unit_test(test_dkim_deny_mark),
	    cmocka_unit_test(test_queue_keeps_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
