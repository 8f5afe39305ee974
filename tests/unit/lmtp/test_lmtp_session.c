/*
 * test_lmtp_session - the LMTP protocol engine (lib/lmtp/lmtp_session.h)
 * driven with fake ops: replies, state checks, pipelining with
 * asynchronous lookups, DATA and BDAT framing, one reply per recipient.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "lmtp/lmtp_session.h"
#include "lmtp/lmtp_settings.h"
#include "smtp/smtp_command.h"

struct fake {
	struct lmtp_server_settings set;
	struct lmtp_session *s;
	struct buf *out;
	struct buf *spool;
	bool async;
	bool spool_fail;
	bool closed;
	struct lmtp_recipient *pending;
	bool deliver_pending;
	/* A copy: the op's argument is borrowed for the call only. */
	struct lmtp_message msg_copy;
	const struct lmtp_message *msg;
	unsigned deliveries;
	size_t delivered_rcpts;
	char from[256];
	unsigned starttls_calls;
};

static void op_send(void *ctx, const char *data, size_t len)
{
	struct fake *f = ctx;
	buf_append(f->out, data, len);
}

/* "unknown*" 550, "tmp*" 451, others found; the mailbox drops +ext. */
static void rcpt_resolve(struct lmtp_recipient *r)
{
	if (strncmp(r->local, "unknown", 7) == 0) {
		smtp_reply_set(&r->reply, 550, "5.1.1", "<%s>: unknown",
			       r->address);
		return;
	}
	if (strncmp(r->local, "tmp", 3) == 0) {
		smtp_reply_set(&r->reply, 451, "4.3.0", "try later");
		return;
	}
	size_t n = strcspn(r->local, "+");
	r->mailbox = xasprintf("%.*s@%s", (int)n, r->local, r->domain);
	smtp_reply_set(&r->reply, 250, "2.1.5", "Ok");
}

static void op_rcpt(void *ctx, struct lmtp_recipient *rcpt, uint64_t size)
{
	struct fake *f = ctx;
	(void)size;
	if (f->async) {
		f->pending = rcpt;
		return;
	}
	rcpt_resolve(rcpt);
	lmtp_session_rcpt_done(f->s, rcpt);
}

static int op_spool_write(void *ctx, const void *data, size_t len,
			  struct error *err)
{
	struct fake *f = ctx;
	if (f->spool_fail)
		return error_set(err, ERR_TEMP, "disk on fire");
	buf_append(f->spool, data, len);
	return 0;
}

static void op_spool_reset(void *ctx)
{
	struct fake *f = ctx;
	buf_reset(f->spool);
}

/* "quota*" mailboxes are full after the message. */
static void deliver_resolve(struct fake *f)
{
	const struct lmtp_message *m = f->msg;
	for (size_t i = 0; i < m->nrcpts; i++) {
		struct lmtp_recipient *r = m->rcpts[i];
		if (strncmp(r->local, "quota", 5) == 0) {
			smtp_reply_set(&r->reply, 452, "4.2.2", "full");
		} else {
			smtp_reply_set(&r->reply, 250, "2.0.0", "<%s> Saved",
				       r->address);
			r->saved_name = xstrdup("1.M1P1.host,S=1,W=1");
		}
	}
}

static void op_deliver(void *ctx, const struct lmtp_message *msg)
{
	struct fake *f = ctx;
	f->deliveries++;
	f->delivered_rcpts = msg->nrcpts;
	snprintf(f->from, sizeof(f->from), "%s", msg->from);
	assert_int_equal(msg->size, buf_len(f->spool));
	f->msg_copy = *msg;
	f->msg = &f->msg_copy;
	if (f->async) {
		f->deliver_pending = true;
		return;
	}
	deliver_resolve(f);
	lmtp_session_deliver_done(f->s);
}

static void op_close(void *ctx)
{
	struct fake *f = ctx;
	f->closed = true;
}

static const struct lmtp_session_ops ops = {
    .send = op_send,
    .rcpt = op_rcpt,
    .rcpt_free = NULL,
    .spool_write = op_spool_write,
    .spool_reset = op_spool_reset,
    .deliver = op_deliver,
    .close = op_close,
};

static void op_starttls(void *ctx)
{
	struct fake *f = ctx;
	f->starttls_calls++;
}

static const struct lmtp_session_ops ops_tls = {
    .send = op_send,
    .rcpt = op_rcpt,
    .spool_write = op_spool_write,
    .spool_reset = op_spool_reset,
    .deliver = op_deliver,
    .close = op_close,
    .starttls = op_starttls,
};

static int setup(void **state)
{
	struct fake *f = xcalloc(1, sizeof(*f));
	f->set.hostname = xstrdup("mx.test");
	f->set.recipient_delimiter = xstrdup("+");
	f->set.message_size_limit = 1000;
	f->set.bare_mode = SMTP_BARE_NORMALIZE;
	f->out = buf_new();
	f->spool = buf_new();
	f->s = lmtp_session_new(&f->set, "SID", "127.0.0.1", &ops, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	lmtp_session_free(&f->s);
	buf_free(&f->out);
	buf_free(&f->spool);
	lmtp_server_settings_clear(&f->set);
	free(f);
	return 0;
}

static void feed(struct fake *f, const char *s)
{
	lmtp_session_input(f->s, s, strlen(s));
}

/* The output since the last call, then forgotten. */
static void expect(struct fake *f, const char *want)
{
	assert_string_equal(buf_data(f->out), want);
	buf_reset(f->out);
}

static void lhlo(struct fake *f)
{
	lmtp_session_start(f->s);
	feed(f, "LHLO client.test\r\n");
	buf_reset(f->out);
}

static void test_greeting_lhlo(void **state)
{
	struct fake *f = *state;
	lmtp_session_start(f->s);
	expect(f, "220 mx.test LMTP Postern ready\r\n");
	assert_int_equal(lmtp_session_state(f->s), LMTP_STATE_INIT);
	feed(f, "LHLO client.test\r\n");
	expect(f, "250-mx.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
		  "250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n"
		  "250 SIZE 1000\r\n");
	assert_int_equal(lmtp_session_state(f->s), LMTP_STATE_READY);
}

static void test_before_lhlo(void **state)
{
	struct fake *f = *state;
	feed(f, "MAIL FROM:<a@b.test>\r\n");
	expect(f, "503 5.5.1 Error: send LHLO first\r\n");
	feed(f, "EHLO client.test\r\nHELO client.test\r\n");
	expect(f, "500 5.5.1 Error: this is LMTP, use LHLO\r\n"
		  "500 5.5.1 Error: this is LMTP, use LHLO\r\n");
	feed(f, "NOOP\r\nVRFY bob\r\nRCPT TO:<b@c.test>\r\nDATA\r\n");
	expect(f, "250 2.0.0 Ok\r\n252 2.3.3 Try RCPT instead\r\n"
		  "503 5.5.1 Error: need MAIL command\r\n"
		  "503 5.5.1 Error: need MAIL command\r\n");
	feed(f, "STARTTLS\r\nAUTH PLAIN\r\nFROB\r\n");
	assert_non_null(strstr(buf_data(f->out), "502 5.5.1"));
	assert_int_equal(lmtp_session_state(f->s), LMTP_STATE_INIT);
}

static void test_data_two_recipients(void **state)
{
	struct fake *f = *state;
	lhlo(f);
	feed(f, "MAIL FROM:<a@b.test>\r\n");
	feed(f, "RCPT TO:<bob@ex.test>\r\n");
	feed(f, "RCPT TO:<unknown@ex.test>\r\n");
	feed(f, "RCPT TO:<bob+tag@ex.test>\r\n");
	expect(f, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		  "550 5.1.1 <unknown@ex.test>: unknown\r\n250 2.1.5 Ok\r\n");
	feed(f, "DATA\r\n");
	expect(f, "354 End data with <CR><LF>.<CR><LF>\r\n");
	feed(f, "Subject: x\r\n\r\n..dot\r\nend\r\n.\r\n");
	/* RFC 2033 4.2: one reply per accepted recipient, in order. */
	expect(f, "250 2.0.0 <bob@ex.test> Saved\r\n"
		  "250 2.0.0 <bob+tag@ex.test> Saved\r\n");
	assert_int_equal(f->deliveries, 1);
	assert_int_equal(f->delivered_rcpts, 2);
	assert_string_equal(f->from, "a@b.test");
	/* The spool is reset after the transaction. */
	assert_int_equal(buf_len(f->spool), 0);
	assert_int_equal(lmtp_session_state(f->s), LMTP_STATE_READY);
	/* A second transaction on the same session. */
	feed(f, "MAIL FROM:<>\r\nRCPT TO:<c@ex.test>\r\nDATA\r\nx\r\n.\r\n");
	expect(f, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		  "354 End data with <CR><LF>.<CR><LF>\r\n"
		  "250 2.0.0 <c@ex.test> Saved\r\n");
	assert_string_equal(f->from, "");
}

/* Capture the spool before the transaction ends. */
static void test_spool_content(void **state)
{
	struct fake *f = *state;
	f->async = true;
	lhlo(f);
	feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@ex.test>\r\n");
	rcpt_resolve(f->pending);
	lmtp_session_rcpt_done(f->s, f->pending);
	feed(f, "DATA\r\nA\r\n..B\r\nbare\nlf\r\n.\r\n");
	assert_true(f->deliver_pending);
	assert_string_equal(buf_data(f->spool), "A\r\n.B\r\nbare\r\nlf\r\n");
	deliver_resolve(f);
	lmtp_session_deliver_done(f->s);
}

static void test_pipelining_async(void **state)
{
	struct fake *f = *state;
	f->async = true;
	lhlo(f);
	feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@ex.test>\r\n"
		"RCPT TO:<unknown@ex.test>\r\nDATA\r\nhello\r\n.\r\nQUIT\r\n");
	/* Nothing after RCPT until the lookup completes. */
	expect(f, "250 2.1.0 Ok\r\n");
	assert_int_equal(lmtp_session_state(f->s), LMTP_STATE_RCPT_WAIT);
	assert_false(lmtp_session_wants_input(f->s));
	struct lmtp_recipient *r = f->pending;
	rcpt_resolve(r);
	lmtp_session_rcpt_done(f->s, r);
	expect(f, "250 2.1.5 Ok\r\n");
	r = f->pending;
	rcpt_resolve(r);
	lmtp_session_rcpt_done(f->s, r);
	expect(f, "550 5.1.1 <unknown@ex.test>: unknown\r\n"
		  "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_int_equal(lmtp_session_state(f->s), LMTP_STATE_DELIVER);
	assert_false(lmtp_session_wants_input(f->s));
	deliver_resolve(f);
	f->deliver_pending = false;
	lmtp_session_deliver_done(f->s);
	expect(f, "250 2.0.0 <x@ex.test> Saved\r\n221 2.0.0 Bye\r\n");
	assert_true(f->closed);
	assert_int_equal(lmtp_session_state(f->s), LMTP_STATE_CLOSED);
	/* Input after the end is ignored. */
	feed(f, "NOOP\r\n");
	expect(f, "");
}

static void test_no_valid_recipients(void **state)
{
	struct fake *f = *state;
	lhlo(f);
	feed(f,
	     "MAIL FROM:<a@b.test>\r\nRCPT TO:<unknown@ex.test>\r\nDATA\r\n");
	expect(f, "250 2.1.0 Ok\r\n550 5.1.1 <unknown@ex.test>: unknown\r\n"
		  "503 5.5.1 Error: no valid recipients\r\n");
	feed(f, "MAIL FROM:<a@b.test>\r\n");
	expect(f, "503 5.5.1 Error: nested MAIL command\r\n");
	feed(f, "RSET\r\nRCPT TO:<bob@ex.test>\r\n");
	expect(f, "250 2.0.0 Ok\r\n503 5.5.1 Error: need MAIL command\r\n");
	assert_int_equal(f->deliveries, 0);
}

static void test_bdat(void **state)
{
	struct fake *f = *state;
	f->async = true;
	lhlo(f);
	feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<bob@ex.test>\r\n");
	rcpt_resolve(f->pending);
	lmtp_session_rcpt_done(f->s, f->pending);
	buf_reset(f->out);
	/* Chunk octets look like commands and contain ".\r\n": binary. */
	feed(f, "BDAT 12\r\nQUIT\r\n.\r\nhel");
	expect(f, "250 2.0.0 12 octets received\r\n");
	feed(f, "DATA\r\n");
	expect(f, "503 5.5.1 Error: BDAT in progress\r\n");
	feed(f, "BDAT 3 LAST\r\nlo!NOOP\r\n");
	assert_int_equal(lmtp_session_state(f->s), LMTP_STATE_DELIVER);
	assert_memory_equal(buf_data(f->spool), "QUIT\r\n.\r\nhello!", 15);
	assert_int_equal(buf_len(f->spool), 15);
	deliver_resolve(f);
	lmtp_session_deliver_done(f->s);
	expect(f, "250 2.0.0 <bob@ex.test> Saved\r\n250 2.0.0 Ok\r\n");
}

static void test_bdat_without_transaction(void **state)
{
	struct fake *f = *state;
	lhlo(f);
	/* The chunk is read (to stay in sync) and refused. */
	feed(f, "BDAT 6 LAST\r\nNOOP\r\nNOOP\r\n");
	expect(f, "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n");
	feed(f, "BDAT 0 LAST\r\nNOOP\r\n");
	expect(f, "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n");
	feed(f, "BDAT x\r\nNOOP\r\n");
	assert_true(f->closed);
	assert_int_equal(f->deliveries, 0);
}

static void test_size_limit(void **state)
{
	struct fake *f = *state;
	char big[1200];
	lhlo(f);
	feed(f, "MAIL FROM:<a@b.test> SIZE=5000\r\n");
	expect(f, "552 5.3.4 Message size exceeds fixed limit\r\n");
	feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<a@ex.test>\r\n"
		"RCPT TO:<b@ex.test>\r\nDATA\r\n");
	buf_reset(f->out);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	feed(f, big);
	feed(f, "\r\n.\r\n");
	expect(f, "552 5.3.4 Message size exceeds fixed limit\r\n"
		  "552 5.3.4 Message size exceeds fixed limit\r\n");
	assert_int_equal(f->deliveries, 0);
}

static void test_per_recipient_outcome(void **state)
{
	struct fake *f = *state;
	lhlo(f);
	feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<quota@ex.test>\r\n"
		"RCPT TO:<ok@ex.test>\r\nDATA\r\nx\r\n.\r\n");
	const char *out = buf_data(f->out);
	const char *p = strstr(out, "354 ");
	assert_non_null(p);
	assert_string_equal(
	    strchr(p, '\n') + 1,
	    "452 4.2.2 full\r\n250 2.0.0 <ok@ex.test> Saved\r\n");
}

static void test_spool_failure(void **state)
{
	struct fake *f = *state;
	f->spool_fail = true;
	lhlo(f);
	feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<a@ex.test>\r\n"
		"RCPT TO:<b@ex.test>\r\nDATA\r\n");
	buf_reset(f->out);
	feed(f, "x\r\n.\r\n");
	expect(f, "451 4.3.0 Temporary local problem: cannot store the "
		  "message\r\n"
		  "451 4.3.0 Temporary local problem: cannot store the "
		  "message\r\n");
	assert_int_equal(f->deliveries, 0);
}

static void test_line_too_long(void **state)
{
	struct fake *f = *state;
	char line[5000];
	lhlo(f);
	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	feed(f, "NOOP ");
	feed(f, line);
	feed(f, line);
	feed(f, "\r\nNOOP\r\n");
	struct smtp_reply r;
	struct buf *want = buf_new();
	smtp_reply_line_too_long(&r);
	smtp_reply_write(&r, want);
	buf_append_str(want, "250 2.0.0 Ok\r\n");
	expect(f, buf_data(want));
	buf_free(&want);
}

static void test_too_many_errors(void **state)
{
	struct fake *f = *state;
	lhlo(f);
	for (int i = 0; i < LMTP_ERROR_MAX; i++)
		feed(f, "FROB\r\n");
	assert_false(f->closed);
	feed(f, "FROB\r\n");
	assert_true(f->closed);
	assert_non_null(strstr(buf_data(f->out), "421 4.7.0 Too many errors"));
}

/* The reply stream does not depend on how input is cut. */
static void test_byte_by_byte(void **state)
{
	struct fake *f = *state;
	static const char script[] =
	    "LHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<bob@ex.test>\r\n"
	    "DATA\r\nabc\r\n.\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<c@ex.test>\r\nBDAT 4\r\nabcdBDAT 0 LAST\r\nQUIT\r\n";
	feed(f, script);
	char *whole = xstrdup(buf_data(f->out));
	teardown(state);
	setup(state);
	f = *state;
	for (size_t i = 0; i < strlen(script); i++)
		lmtp_session_input(f->s, script + i, 1);
	assert_string_equal(buf_data(f->out), whole);
	assert_non_null(strstr(whole, "221 2.0.0 Bye"));
	assert_int_equal(f->deliveries, 2);
	free(whole);
}

static void test_bare_newline_reject(void **state)
{
	struct fake *f = *state;
	lmtp_session_free(&f->s);
	f->set.bare_mode = SMTP_BARE_REJECT;
	f->s = lmtp_session_new(&f->set, "SID", "unix", &ops, f);
	lhlo(f);
	feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<a@ex.test>\r\nDATA\r\n");
	buf_reset(f->out);
	feed(f, "a\nb\r\n.\r\n");
	assert_true(str_has_prefix(buf_data(f->out), "550 5.5.2 "));
	assert_non_null(strstr(buf_data(f->out), "bare CR or LF"));
	assert_int_equal(f->deliveries, 0);
}

/* A session with the starttls op (lmtp_session_set_tls). */
static void tls_session(struct fake *f, bool require)
{
	lmtp_session_free(&f->s);
	f->s = lmtp_session_new(&f->set, "SID", "192.0.2.1", &ops_tls, f);
	lmtp_session_set_tls(f->s, true, require, false);
	lmtp_session_start(f->s);
	buf_reset(f->out);
}

static void test_starttls(void **state)
{
	struct fake *f = *state;

	tls_session(f, false);
	feed(f, "STARTTLS\r\n");
	expect(f, "503 5.5.1 Error: send LHLO first\r\n");
	feed(f, "LHLO client.test\r\n");
	expect(f, "250-mx.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
		  "250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n"
		  "250-STARTTLS\r\n250 SIZE 1000\r\n");
	feed(f, "STARTTLS now\r\n");
	expect(f, "501 5.5.4 Syntax: STARTTLS\r\n");
	/* What follows STARTTLS in the same packet is plaintext: dropped. */
	feed(f, "STARTTLS\r\nLHLO evil.test\r\nMAIL FROM:<a@b.test>\r\n");
	expect(f, "220 2.0.0 Ready to start TLS\r\n");
	assert_int_equal(f->starttls_calls, 1);
	assert_false(lmtp_session_wants_input(f->s));
	assert_false(lmtp_session_tls_active(f->s));
	lmtp_session_tls_started(f->s);
	assert_true(lmtp_session_tls_active(f->s));
	assert_int_equal(lmtp_session_state(f->s), LMTP_STATE_INIT);
	assert_true(lmtp_session_wants_input(f->s));
	feed(f, "MAIL FROM:<a@b.test>\r\n");
	expect(f, "503 5.5.1 Error: send LHLO first\r\n");
	feed(f, "LHLO client.test\r\n");
	assert_null(strstr(buf_data(f->out), "STARTTLS"));
	buf_reset(f->out);
	feed(f, "STARTTLS\r\n");
	expect(f, "554 5.5.1 Error: TLS already active\r\n");
	feed(f, "MAIL FROM:<a@b.test>\r\n");
	expect(f, "250 2.1.0 Ok\r\n");
}

static void test_starttls_required(void **state)
{
	struct fake *f = *state;

	tls_session(f, true);
	feed(f, "LHLO client.test\r\nMAIL FROM:<a@b.test>\r\n");
	assert_non_null(strstr(buf_data(f->out),
			       "530 5.7.0 Must issue a STARTTLS command "
			       "first\r\n"));
	buf_reset(f->out);
	feed(f, "STARTTLS\r\n");
	expect(f, "220 2.0.0 Ready to start TLS\r\n");
	lmtp_session_tls_started(f->s);
	feed(f, "LHLO client.test\r\n");
	buf_reset(f->out);
	feed(f, "MAIL FROM:<a@b.test>\r\n");
	expect(f, "250 2.1.0 Ok\r\n");
	/* No STARTTLS inside a transaction. */
	lmtp_session_free(&f->s);
	tls_session(f, false);
	feed(f, "LHLO client.test\r\nMAIL FROM:<a@b.test>\r\n");
	buf_reset(f->out);
	feed(f, "STARTTLS\r\n");
	expect(f, "503 5.5.1 Error: MAIL transaction in progress\r\n");
	assert_int_equal(f->starttls_calls, 1);
}

static void test_starttls_not_offered(void **state)
{
	struct fake *f = *state;

	/* The default, and a daemon without the op: 502, not advertised. */
	lhlo(f);
	feed(f, "STARTTLS\r\n");
	expect(f, "502 5.5.1 Error: command not implemented\r\n");
	lmtp_session_set_tls(f->s, true, false, false); /* no op: no offer */
	feed(f, "LHLO client.test\r\n");
	assert_null(strstr(buf_data(f->out), "STARTTLS"));
}

int main(void)
{
	log_init("test_lmtp_session");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_starttls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_starttls_required, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_starttls_not_offered, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_greeting_lhlo, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_before_lhlo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_two_recipients, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_spool_content, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pipelining_async, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_no_valid_recipients, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bdat, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bdat_without_transaction,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_per_recipient_outcome, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_spool_failure, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_line_too_long, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_too_many_errors, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_byte_by_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bare_newline_reject, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
