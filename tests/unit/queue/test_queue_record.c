/*
 * test_queue_record - the record framing and envelope codec: round trip,
 * CRC32C known answer, truncation and bit flips detected, hostile ids.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "queue/queue_record.h"

static void test_crc32c_known_answer(void **state)
{
	/* RFC 3720 B.4: 32 bytes of zeros. */
	unsigned char z[32] = {0};

	assert_int_equal(qrec_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(qrec_crc32c(0, z, sizeof(z)), 0x8a9136aau);
	/* Incremental equals one shot. */
	assert_int_equal(qrec_crc32c(qrec_crc32c(0, "12345", 5), "6789", 4),
			 0xe3069283u);
}

static void fill_env(struct queue_env *env)
{
	memset(env, 0, sizeof(*env));
	strcpy(env->id, "4Zq2Jx1nDVz5nXw");
	env->arrival = 1700000000123;
	queue_env_set(&env->sender, "");
	queue_env_set(&env->envid, "env-1");
	queue_env_add_rcpt(env, "a@example.com", "rfc822;a@example.com",
			   QUEUE_NOTIFY_SUCCESS);
	queue_env_add_rcpt(env, "b@example.com", NULL, QUEUE_NOTIFY_NEVER);
	env->rcpts[1].status = QUEUE_RCPT_DEFERRED;
	env->rcpts[1].next_retry = 99;
	queue_env_set(&env->rcpts[1].reply, "421 busy");
	env->smtputf8 = true;
	env->gen = 7;
}

static void test_msg_round_trip(void **state)
{
	struct queue_env env, out = {0};
	struct buf *b = buf_new();
	enum qrec_type type;
	const unsigned char *pl;
	size_t plen, total, boff, blen;

	fill_env(&env);
	env.size = 5;
	qrec_append_msg(b, &env, "hello", 5);
	assert_int_equal(qrec_parse(buf_data(b), buf_len(b), &type, &pl, &plen,
				    &total, NULL),
			 1);
	assert_int_equal(type, QREC_MSG);
	assert_int_equal(total, buf_len(b));
	assert_int_equal(qrec_msg_decode(pl, plen, &out, &boff, &blen, NULL),
			 0);
	assert_int_equal(blen, 5);
	assert_memory_equal(pl + boff, "hello", 5);
	assert_string_equal(out.id, env.id);
	assert_string_equal(out.sender, "");
	assert_string_equal(out.envid, "env-1");
	assert_int_equal(out.arrival, env.arrival);
	assert_int_equal(out.nrcpts, 2);
	assert_int_equal(out.rcpts[0].notify, QUEUE_NOTIFY_SUCCESS);
	assert_int_equal(out.rcpts[1].status, QUEUE_RCPT_DEFERRED);
	assert_int_equal(out.rcpts[1].next_retry, 99);
	assert_string_equal(out.rcpts[1].reply, "421 busy");
	assert_true(out.smtputf8);
	assert_int_equal(out.gen, 7);

	/* Every truncation is "incomplete", never a record. */
	for (size_t cut = 0; cut < buf_len(b); cut++)
		assert_int_equal(qrec_parse(buf_data(b), cut, &type, &pl, &plen,
					    &total, NULL),
				 0);
	/* Every single bit flip is caught. */
	for (size_t i = 0; i < buf_len(b); i++) {
		for (int bit = 0; bit < 8; bit++) {
			char *m = buf_mut(b);
			int r;

			m[i] ^= (char)(1 << bit);
			r = qrec_parse(buf_data(b), buf_len(b), &type, &pl,
				       &plen, &total, NULL);
			m[i] ^= (char)(1 << bit);
			assert_true(r != 1);
		}
	}
	queue_env_clear(&env);
	queue_env_clear(&out);
	buf_free(&b);
}

static void test_status_and_done(void **state)
{
	struct qrec_status st = {.rcpt = 3,
				 .status = QUEUE_RCPT_FAILED,
				 .next_retry = 5,
				 .reply = "550 5.1.1 unknown"},
			   out;
	struct buf *b = buf_new();
	char id[QUEUE_ID_MAX];

	strcpy(st.id, "ABC123");
	qrec_status_encode(b, &st);
	assert_int_equal(
	    qrec_status_decode(buf_data(b), buf_len(b), &out, NULL), 0);
	assert_string_equal(out.id, "ABC123");
	assert_int_equal(out.rcpt, 3);
	assert_int_equal(out.status, QUEUE_RCPT_FAILED);
	assert_string_equal(out.reply, "550 5.1.1 unknown");
	free(out.reply);
	buf_reset(b);
	qrec_done_encode(b, "XYZ");
	assert_int_equal(qrec_done_decode(buf_data(b), buf_len(b), id, NULL),
			 0);
	assert_string_equal(id, "XYZ");
	buf_free(&b);
}

static void test_hostile_ids(void **state)
{
	struct buf *b = buf_new();
	char id[QUEUE_ID_MAX];
	struct error err;

	assert_true(queue_id_valid("4Zq2Jx1nDVz5nXw"));
	assert_false(queue_id_valid("../../etc/passwd"));
	assert_false(queue_id_valid(""));
	assert_false(queue_id_valid("a.tmp"));
	/* An id that would escape the queue folder is refused. */
	qrec_done_encode(b, "../x");
	assert_int_equal(qrec_done_decode(buf_data(b), buf_len(b), id, &err),
			 -1);
	assert_int_equal(err.kind, ERR_PERM);
	buf_free(&b);

	char a[QUEUE_ID_MAX], c[QUEUE_ID_MAX];

	queue_id_new(a);
	queue_id_new(c);
	assert_true(queue_id_valid(a));
	assert_string_not_equal(a, c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c_known_answer),
	    cmocka_unit_test(test_msg_round_trip),
	    cmocka_unit_test(test_status_and_done),
	    cmocka_unit_test(test_hostile_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
