/*
 * test_milter_proto - the milter protocol codec (encoding of commands,
 * framing, decoding of every reply, refusal of malformed ones) and the
 * message edits (add/insert/change/delete header, replace body).
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/milter_message.h"
#include "smtp/milter_proto.h"

/* A reply packet: cmd and payload framed. */
static void packet(struct buf *out, char cmd, const void *data, size_t len)
{
	uint32_t n = (uint32_t)len + 1;
	unsigned char h[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
			      (unsigned char)(n >> 8), (unsigned char)n};

	buf_append(out, h, 4);
	buf_append_char(out, cmd);
	buf_append(out, data, len);
}

static int decode(const struct buf *in, struct milter_reply *r,
		  struct error *err)
{
	char cmd;
	const char *p;
	size_t plen, used;
	int ret = milter_packet_get(buf_data(in), buf_len(in), &cmd, &p, &plen,
				    &used, err);

	if (ret <= 0)
		return ret - 10;
	assert_int_equal(used, buf_len(in));
	return milter_reply_decode(cmd, p, plen, r, err);
}

static void test_encode(void **state)
{
	struct buf *out = buf_new();
	const char *names[] = {"j", "{daemon_name}"};
	const char *values[] = {"mx.example", "smtpd"};
	const char *args[] = {"<a@b>", "SIZE=10"};

	milter_put_optneg(out, 6, 0x1ff, 0x1fffff);
	assert_int_equal(buf_len(out), 17);
	assert_memory_equal(buf_data(out),
			    "\0\0\0\x0dO\0\0\0\x06\0\0\x01\xff\0\x1f\xff\xff",
			    17);
	buf_reset(out);
	milter_put_macros(out, 'C', names, values, 2);
	assert_memory_equal(buf_data(out),
			    "\0\0\0\x23"
			    "DCj\0mx.example\0{daemon_name}\0smtpd\0",
			    buf_len(out));
	buf_reset(out);
	milter_put_connect(out, "client.example", "192.0.2.1", 2525);
	assert_memory_equal(buf_data(out),
			    "\0\0\0\x1d"
			    "Cclient.example\0"
			    "4\x09\xdd"
			    "192.0.2.1\0",
			    buf_len(out));
	buf_reset(out);
	milter_put_connect(out, "h", "2001:db8::1", 25);
	assert_int_equal(buf_data(out)[7], '6');
	buf_reset(out);
	milter_put_connect(out, "h", NULL, 0);
	assert_memory_equal(buf_data(out), "\0\0\0\x04" "Ch\0U", 8);
	buf_reset(out);
	milter_put_args(out, 'M', args, 2);
	assert_memory_equal(buf_data(out), "\0\0\0\x0f" "M<a@b>\0SIZE=10\0",
			    buf_len(out));
	buf_reset(out);
	milter_put_cmd(out, 'E');
	assert_memory_equal(buf_data(out), "\0\0\0\x01" "E", 5);

	/* Bodies are cut into chunks of at most MILTER_CHUNK_MAX. */
	buf_reset(out);
	char big[MILTER_CHUNK_MAX + 10];
	memset(big, 'x', sizeof(big));
	milter_put_body(out, big, sizeof(big));
	assert_int_equal(buf_len(out), sizeof(big) + 2 * 5);
	assert_memory_equal(buf_data(out), "\0\x01\0\0" "B", 5);
	buf_free(&out);
}

static void test_framing(void **state)
{
	struct buf *in = buf_new();
	struct milter_reply r;
	struct error err;
	char cmd;
	const char *p;
	size_t plen, used;

	/* Incomplete: more needed. */
	assert_int_equal(milter_packet_get("\0\0", 2, &cmd, &p, &plen, &used,
					   &err),
			 0);
	assert_int_equal(milter_packet_get("\0\0\0\x05" "c", 5, &cmd, &p, &plen,
					   &used, &err),
			 0);
	/* Zero length and a length past the limit are errors. */
	assert_int_equal(milter_packet_get("\0\0\0\0", 4, &cmd, &p, &plen,
					   &used, &err),
			 -1);
	assert_int_equal(milter_packet_get("\x7f\0\0\0c", 5, &cmd, &p, &plen,
					   &used, &err),
			 -1);
	/* Two packets back to back. */
	packet(in, 'c', NULL, 0);
	packet(in, 'a', NULL, 0);
	assert_int_equal(milter_packet_get(buf_data(in), buf_len(in), &cmd, &p,
					   &plen, &used, &err),
			 1);
	assert_int_equal(cmd, 'c');
	assert_int_equal(used, 5);
	assert_int_equal(milter_reply_decode(cmd, p, plen, &r, &err), 0);
	assert_string_equal(milter_reply_name(r.cmd), "continue");
	buf_free(&in);
}

static void test_decode(void **state)
{
	struct buf *in = buf_new();
	struct milter_reply r;
	struct error err;

	/* OPTNEG with a symbol list for two stages (one unknown). */
	packet(in, 'O',
	       "\0\0\0\x06\0\0\0\x01\0\0\0\x10"
	       "\0\0\0\x02{auth_authen} i\0"
	       "\0\0\0\x09x\0",
	       12 + 4 + 16 + 4 + 2);
	assert_int_equal(decode(in, &r, &err), 0);
	assert_int_equal(r.version, 6);
	assert_int_equal(r.actions, MILTER_ACT_ADDHDRS);
	assert_int_equal(r.protocol, MILTER_P_NOBODY);
	assert_string_equal(r.symlist[MILTER_STAGE_MAIL], "{auth_authen} i");
	assert_null(r.symlist[MILTER_STAGE_CONNECT]);

	buf_reset(in);
	packet(in, 'y', "550 5.7.1 Go away\0", 18);
	assert_int_equal(decode(in, &r, &err), 0);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.text, "550 5.7.1 Go away");

	buf_reset(in);
	packet(in, 'y', "451-4.7.1 one\r\n451 4.7.1 two\0", 30);
	assert_int_equal(decode(in, &r, &err), 0);
	assert_int_equal(r.code, 451);

	buf_reset(in);
	packet(in, 'm', "\0\0\0\x02Subject\0new\0", 16);
	assert_int_equal(decode(in, &r, &err), 0);
	assert_int_equal(r.index, 2);
	assert_string_equal(r.name, "Subject");
	assert_string_equal(r.value, "new");

	buf_reset(in);
	packet(in, 'h', "X-A\0v\0", 6);
	assert_int_equal(decode(in, &r, &err), 0);
	assert_string_equal(r.name, "X-A");

	buf_reset(in);
	packet(in, 'e', "<new@x>\0", 8);
	assert_int_equal(decode(in, &r, &err), 0);
	assert_string_equal(r.addr, "<new@x>");
	assert_null(r.args);

	buf_reset(in);
	packet(in, '2', "<r@x>\0NOTIFY=NEVER\0", 19);
	assert_int_equal(decode(in, &r, &err), 0);
	assert_string_equal(r.args, "NOTIFY=NEVER");

	buf_reset(in);
	packet(in, 'b', "new body\r\n", 10);
	assert_int_equal(decode(in, &r, &err), 0);
	assert_int_equal(r.len, 10);

	buf_reset(in);
	packet(in, 'q', "virus\0", 6);
	assert_int_equal(decode(in, &r, &err), 0);
	assert_string_equal(r.addr, "virus");
	buf_free(&in);
}

static void test_decode_bad(void **state)
{
	static const struct {
		char cmd;
		const char *data;
		size_t len;
	} bad[] = {
	    {'y', "250 ok\0", 7},	 /* not 4xx/5xx */
	    {'y', "550 no", 6},		 /* no NUL */
	    {'y', "550-a\r\n451 b\0", 13}, /* codes disagree */
	    {'y', "550 a\r\n550 b\0", 13}, /* space before a later line */
	    {'y', "550 a\nb\0", 8},	 /* bare LF */
	    {'h', "\0v\0", 3},		 /* empty name */
	    {'h', "X-A\0v", 5},		 /* value without NUL */
	    {'m', "\0\0\0", 3},		 /* index cut */
	    {'i', "\0\0\0\x01X\0", 6},	 /* no value */
	    {'+', "", 0},
	    {'e', "<a>\0x", 5}, /* args without NUL */
	    {'O', "\0\0\0\x06\0\0", 6},
	    {'O', "\0\0\0\x06\0\0\0\0\0\0\0\0\0\0\0\x01x", 17},
	    {'Z', "", 0}, /* unknown */
	};
	struct milter_reply r;
	struct error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(milter_reply_decode(bad[i].cmd, bad[i].data,
						     bad[i].len, &r, &err),
				 -1);
}

static const char MSG[] = "From: a@example\r\n"
			  "Subject: hello\r\n"
			  "\tworld\r\n"
			  "X-Dup: one\r\n"
			  "X-Dup: two\r\n"
			  "\r\n"
			  "body line\r\n";

static char *written(const struct milter_message *m)
{
	struct buf *out = buf_new();
	char *s;

	milter_message_write(m, out);
	s = buf_steal(out);
	buf_free(&out);
	return s;
}

static void test_message_headers(void **state)
{
	struct milter_message *m = milter_message_parse(MSG, sizeof(MSG) - 1);
	struct buf *v = buf_new();
	const char *name;
	char *s;

	assert_int_equal(milter_message_header_count(m), 4);
	milter_message_header(m, 1, false, &name, v);
	assert_string_equal(name, "Subject");
	assert_string_equal(buf_data(v), "hello\n\tworld");
	milter_message_header(m, 1, true, &name, v);
	assert_string_equal(buf_data(v), " hello\n\tworld");
	s = written(m);
	assert_string_equal(s, MSG);
	free(s);

	milter_message_change_header(m, 2, "x-dup", "TWO", false);
	milter_message_change_header(m, 1, "X-Dup", "", false);
	milter_message_insert_header(m, 0, "X-First", "1", false);
	milter_message_add_header(m, "X-Last", "a\nb", false);
	milter_message_change_header(m, 1, "X-New", "n", false);
	milter_message_insert_header(m, 99, "X-End", " e", true);
	s = written(m);
	assert_string_equal(s, "X-First: 1\r\n"
			       "From: a@example\r\n"
			       "Subject: hello\r\n"
			       "\tworld\r\n"
			       "x-dup: TWO\r\n"
			       "X-Last: a\r\nb\r\n"
			       "X-New: n\r\n"
			       "X-End: e\r\n"
			       "\r\n"
			       "body line\r\n");
	free(s);

	milter_message_replace_body(m, "new\nbody\r", 9);
	milter_message_replace_body(m, "\n", 1);
	milter_message_body_done(m);
	assert_string_equal(buf_data(milter_message_body(m)),
			    "new\r\nbody\r\n");
	buf_free(&v);
	milter_message_free(&m);
}

static void test_message_no_header(void **state)
{
	struct milter_message *m = milter_message_parse("just text\r\n", 11);
	char *s;

	assert_int_equal(milter_message_header_count(m), 0);
	s = written(m);
	assert_string_equal(s, "just text\r\n");
	free(s);
	milter_message_add_header(m, "X-A", "1", false);
	s = written(m);
	assert_string_equal(s, "X-A: 1\r\n\r\njust text\r\n");
	free(s);
	milter_message_free(&m);
}

static void test_mods_and_addresses(void **state)
{
	char *a;

	(void)state;
	assert_true(milter_reply_is_mod(MILTER_REP_ADDHEADER));
	assert_true(milter_reply_is_mod(MILTER_REP_CHGFROM));
	assert_true(milter_reply_is_mod(MILTER_REP_QUARANTINE));
	assert_false(milter_reply_is_mod(MILTER_REP_ACCEPT));
	assert_false(milter_reply_is_mod(MILTER_REP_PROGRESS));
	assert_false(milter_reply_is_mod(MILTER_REP_REPLYCODE));
	a = milter_addr_strip("<a@b.example>");
	assert_string_equal(a, "a@b.example");
	free(a);
	a = milter_addr_strip("a@b.example");
	assert_string_equal(a, "a@b.example");
	free(a);
	a = milter_addr_strip("<>");
	assert_string_equal(a, "");
	free(a);
	a = milter_addr_strip("<a@b");
	assert_string_equal(a, "<a@b");
	free(a);
}

static void test_actions_and_apply(void **state)
{
	struct milter_message *m =
	    milter_message_parse("Subject: hi\r\n\r\nold body\r\n", 25);
	struct milter_reply r = {.cmd = MILTER_REP_ADDHEADER,
				 .name = "X-New",
				 .value = "1"};
	char *s;

	(void)state;
	assert_int_equal(milter_reply_action(MILTER_REP_ADDHEADER),
			 MILTER_ACT_ADDHDRS);
	assert_int_equal(milter_reply_action(MILTER_REP_INSHEADER),
			 MILTER_ACT_ADDHDRS);
	assert_int_equal(milter_reply_action(MILTER_REP_CHGHEADER),
			 MILTER_ACT_CHGHDRS);
	assert_int_equal(milter_reply_action(MILTER_REP_REPLBODY),
			 MILTER_ACT_CHGBODY);
	assert_int_equal(milter_reply_action(MILTER_REP_ADDRCPT_PAR),
			 MILTER_ACT_ADDRCPT_PAR);
	assert_int_equal(milter_reply_action(MILTER_REP_ACCEPT), 0);

	assert_true(milter_message_apply(m, &r, false));
	r = (struct milter_reply){.cmd = MILTER_REP_CHGHEADER,
				  .index = 1,
				  .name = "Subject",
				  .value = "changed"};
	assert_true(milter_message_apply(m, &r, false));
	r = (struct milter_reply){.cmd = MILTER_REP_REPLBODY,
				  .data = "new\n",
				  .len = 4};
	assert_true(milter_message_apply(m, &r, false));
	r = (struct milter_reply){.cmd = MILTER_REP_DELRCPT, .addr = "<a@b>"};
	assert_false(milter_message_apply(m, &r, false));
	milter_message_body_done(m);
	s = written(m);
	assert_string_equal(s, "Subject: changed\r\nX-New: 1\r\n\r\n"
			       "new\r\n");
	free(s);
	milter_message_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode),
	    cmocka_unit_test(test_framing),
	    cmocka_unit_test(test_decode),
	    cmocka_unit_test(test_decode_bad),
	    cmocka_unit_test(test_message_headers),
	    cmocka_unit_test(test_message_no_header),
	    cmocka_unit_test(test_mods_and_addresses),
	    cmocka_unit_test(test_actions_and_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
