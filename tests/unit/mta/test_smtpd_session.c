/*
 * test_smtpd_session - the SMTP session state machine over a socketpair,
 * with a fake postern-queued on a unix socket (speaking submit.h's
 * records), so the tests see exactly what would be queued and when the
 * 250 after DATA goes out.
 */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "map/map.h"
#include "queue/submit.h"
#include "smtpd.h"
#include "tls/io.h"

/* ---- The fake queue daemon. */

enum fake_mode { FAKE_OK, FAKE_FAIL_COMMIT, FAKE_SILENT_COMMIT };

struct fake_queue {
	int listen_fd;
	struct io *io; /* one submission at a time */
	struct buf *in;
	enum fake_mode mode;
	unsigned commits;
	struct buf *data;  /* 'D' payloads of the last message */
	struct buf *rcpts; /* "addr|orcpt|notify\n" per 'R' */
	struct buf *sender;
};

static struct fake_queue fq;
static struct ev *ev;
static struct smtpd *smtpd;
static struct virtual_maps maps;
static struct conf *conf;
static char tmpdir[64];
static int client = -1;
static struct buf *got;	      /* what the client received */
static struct smtpd *current; /* the smtpd connect_from uses (NULL: smtpd) */

static void fake_io(struct io *io, enum io_event event, void *ctx)
{
	struct error err;
	char type;
	const char *p;
	size_t len, used;

	if (event != IO_DATAIN) {
		if (event == IO_DISCONNECTED || event == IO_ERROR ||
		    event == IO_TIMEOUT)
			io_free(&fq.io);
		return;
	}
	io_read_bytes(io, fq.in, SIZE_MAX);
	while (submit_rec_get(fq.in, &type, &p, &len, &used, &err) == 1) {
		struct buf *out = buf_new();

		switch (type) {
		case SUBMIT_REC_BEGIN:
			buf_reset(fq.data);
			buf_reset(fq.rcpts);
			submit_rec_put_str(out, SUBMIT_REC_ID, "FAKEID1");
			break;
		case SUBMIT_REC_SENDER:
			buf_reset(fq.sender);
			buf_append(fq.sender, p, len);
			break;
		case SUBMIT_REC_RCPT:
			for (size_t i = 0; i < len; i++)
				buf_append_char(fq.rcpts,
						p[i] == '\0' ? '|' : p[i]);
			buf_append_char(fq.rcpts, '\n');
			break;
		case SUBMIT_REC_DATA:
			buf_append(fq.data, p, len);
			break;
		case SUBMIT_REC_COMMIT:
			fq.commits++;
			if (fq.mode == FAKE_OK)
				submit_rec_put_str(out, SUBMIT_REC_OK,
						   "FAKEID1");
			else if (fq.mode == FAKE_FAIL_COMMIT)
				submit_rec_put_str(out, SUBMIT_REC_FAIL,
						   "4.3.0 disk full");
			break;
		default:
			break;
		}
		buf_consume(fq.in, used);
		if (buf_len(out) > 0)
			io_write(io, buf_data(out), buf_len(out));
		buf_free(&out);
	}
}

static void fake_accept(struct ev *loop, int fd, unsigned events, void *ctx)
{
	int c = net_accept(fd, NULL, 0);

	if (c < 0)
		return;
	io_free(&fq.io);
	buf_reset(fq.in);
	fq.io = io_new(ev, c, fake_io, NULL);
}

/* ---- Set-up. */

static struct map *text_map(const char *text)
{
	struct error err;
	struct map *m =
	    map_open_text("texthash", "test", text, strlen(text), NULL, &err);
	if (m == NULL)
		fail_msg("map: %s", err.msg);
	return m;
}

static int setup(void **state)
{
	struct error err;
	char *sock, *text;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_smtpd.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	sock = xasprintf("%s/queue.sock", tmpdir);
	text = xasprintf("queue_socket = %s\n"
			 "myhostname = mx.test\n"
			 "mynetworks = 192.0.2.0/24\n"
			 "message_size_limit = 1000\n"
			 "smtpd_soft_error_limit = 100\n"
			 "smtpd_hard_error_limit = 6\n"
			 "smtpd_recipient_limit = 3\n"
			 /* The postmaster notices (default resource, software)
			  * would go through the one fake queue, racing the
			  * next test's session: test_smtpd_notify.py has them. */
			 "notify_classes =\n",
			 sock);
	conf = conf_load_string(tmpdir, "test", text, &err);
	if (conf == NULL)
		fail_msg("conf: %s", err.msg);
	free(text);
	ev = ev_new();
	fq.listen_fd = net_listen_unix(sock, 0600, 0, &err);
	assert_true(fq.listen_fd >= 0);
	assert_int_equal(
	    ev_fd_add(ev, fq.listen_fd, EV_READ, fake_accept, NULL, &err), 0);
	fq.in = buf_new();
	fq.data = buf_new();
	fq.rcpts = buf_new();
	fq.sender = buf_new();
	free(sock);

	maps.mailbox_domains = text_map("example.com 1\n");
	maps.mailboxes = text_map("alice@example.com x\nbob@example.com x\n");
	maps.aliases =
	    text_map("team@example.com alice@example.com, bob@example.com\n");
	maps.alias_domains = text_map("alias.test example.com\n");
	smtpd = smtpd_testing_new(ev, conf, &maps, &err);
	if (smtpd == NULL)
		fail_msg("smtpd: %s", err.msg);
	got = buf_new();
	return 0;
}

static int teardown(void **state)
{
	char *path = xasprintf("%s/queue.sock", tmpdir);

	/* Let sessions end and their jobs drain. */
	if (client >= 0)
		close(client);
	client = -1;
	for (int i = 0; i < 50 && smtpd->sessions > 0; i++)
		ev_run_once(ev, 10);
	assert_int_equal(smtpd->sessions, 0);
	smtpd_testing_free(&smtpd);
	io_free(&fq.io);
	ev_fd_del(ev, fq.listen_fd);
	close(fq.listen_fd);
	unlink(path);
	rmdir(tmpdir);
	free(path);
	buf_free(&fq.in);
	buf_free(&fq.data);
	buf_free(&fq.rcpts);
	buf_free(&fq.sender);
	buf_free(&got);
	map_free(&maps.mailbox_domains);
	map_free(&maps.mailboxes);
	map_free(&maps.aliases);
	map_free(&maps.alias_domains);
	ev_free(&ev);
	conf_free(&conf);
	return 0;
}

/* ---- The client side. */

static void connect_from(const char *peer)
{
	int sv[2];

	if (client >= 0)
		close(client);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	client = sv[1];
	buf_reset(got);
	smtpd_testing_accept(current != NULL ? current : smtpd, sv[0], "smtp",
			     peer);
}

/* Complete replies (final lines "ddd ") in got. */
static unsigned count_replies(void)
{
	const char *p = buf_data(got);
	unsigned n = 0;

	while (*p != '\0') {
		const char *eol = strstr(p, "\r\n");
		if (eol == NULL)
			break;
		if (eol - p >= 4 && p[3] == ' ')
			n++;
		p = eol + 2;
	}
	return n;
}

static bool client_closed;

/* Send data, run the loop until n more replies came; their text. */
static char *talk(const char *data, unsigned n)
{
	size_t start = buf_len(got);
	unsigned before = count_replies();
	size_t len = data != NULL ? strlen(data) : 0;
	size_t off = 0;

	client_closed = false;
	for (int i = 0; i < 500; i++) {
		char tmp[4096];
		ssize_t r;

		if (off < len) {
			r = write(client, data + off, len - off);
			if (r > 0)
				off += (size_t)r;
		}
		ev_run_once(ev, 10);
		while ((r = read(client, tmp, sizeof(tmp))) > 0)
			buf_append(got, tmp, (size_t)r);
		if (r == 0)
			client_closed = true;
		if (off == len && count_replies() >= before + n)
			break;
		if (client_closed)
			break;
	}
	return xstrdup(buf_data(got) + start);
}

/* talk() for its side effects only. */
static void say(const char *data, unsigned n)
{
	free(talk(data, n));
}

#define assert_talk(data, n, want)                                             \
	do {                                                                   \
		char *t_ = talk(data, n);                                      \
		if (strcmp(t_, want) != 0)                                     \
			fail_msg("sent %s\ngot  %s\nwant %s", data, t_, want); \
		free(t_);                                                      \
	} while (0)

static const char *ehlo_reply = "250-mx.test\r\n"
				"250-PIPELINING\r\n"
				"250-SIZE 1000\r\n"
				"250-ENHANCEDSTATUSCODES\r\n"
				"250-8BITMIME\r\n"
				"250-DSN\r\n"
				"250-SMTPUTF8\r\n"
				"250 CHUNKING\r\n";

static void test_greeting_ehlo(void **state)
{
	connect_from("198.51.100.7");
	assert_talk(NULL, 1, "220 mx.test ESMTP Postern\r\n");
	assert_talk("EHLO client.test\r\n", 1, ehlo_reply);
	assert_talk("HELO client.test\r\n", 1, "250 mx.test\r\n");
	/* No TLS context: no STARTTLS, no AUTH. */
	assert_talk("STARTTLS\r\n", 1,
		    "502 5.5.1 Error: command not implemented\r\n");
	assert_talk("AUTH PLAIN AGEAYg==\r\n", 1,
		    "503 5.5.1 Error: authentication not enabled\r\n");
	assert_talk("VRFY alice\r\nNOOP\r\nQUIT\r\n", 3,
		    "252 2.0.0 Cannot VRFY user, but will accept message and "
		    "attempt delivery\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
}

static void test_sequence_errors(void **state)
{
	connect_from("198.51.100.7");
	say(NULL, 1);
	assert_talk("MAIL FROM:<a@b.test>\r\n", 1,
		    "503 5.5.1 Error: send HELO/EHLO first\r\n");
	assert_talk("EHLO c\r\nRCPT TO:<alice@example.com>\r\n", 2,
		    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
		    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
		    "250-SMTPUTF8\r\n250 CHUNKING\r\n"
		    "503 5.5.1 Error: need MAIL command\r\n");
	assert_talk("MAIL FROM:<a@b.test>\r\nMAIL FROM:<a@b.test>\r\n", 2,
		    "250 2.1.0 Ok\r\n503 5.5.1 Error: nested MAIL command\r\n");
	assert_talk("DATA\r\n", 1, "554 5.5.1 Error: no valid recipients\r\n");
	assert_talk("RSET\r\nDATA\r\n", 2,
		    "250 2.0.0 Ok\r\n503 5.5.1 Error: need RCPT command\r\n");
}

static void test_message_queued(void **state)
{
	char *t;

	fq.mode = FAKE_OK;
	fq.commits = 0;
	connect_from("198.51.100.7");
	say(NULL, 1);
	assert_talk("EHLO client.test\r\nMAIL FROM:<s@sender.test> "
		    "BODY=8BITMIME\r\nRCPT TO:<team@example.com>\r\n"
		    "RCPT TO:<nobody@example.com>\r\n"
		    "RCPT TO:<Alice+x@example.com> NOTIFY=NEVER\r\nDATA\r\n",
		    6,
		    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
		    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
		    "250-SMTPUTF8\r\n250 CHUNKING\r\n"
		    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		    "550 5.1.1 <nobody@example.com>: Recipient address "
		    "rejected: User unknown in virtual mailbox table\r\n"
		    "250 2.1.5 Ok\r\n"
		    "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_talk("Subject: hi\r\n\r\n..dot\r\nbare\nlf\r\n.\r\n", 1,
		    "250 2.0.0 Ok: queued as FAKEID1\r\n");
	assert_int_equal(fq.commits, 1);
	assert_string_equal(buf_data(fq.sender), "s@sender.test");
	/* alice once (de-duplicated across RCPTs), bob; the ORCPT is the
	 * address as given. */
	assert_string_equal(buf_data(fq.rcpts),
			    "alice@example.com|rfc822;team@example.com|0\n"
			    "bob@example.com|rfc822;team@example.com|0\n");
	t = strstr(buf_data(fq.data), "\r\n\r\n");
	assert_non_null(t);
	assert_true(str_has_prefix(buf_data(fq.data),
				   "Received: from client.test "
				   "([198.51.100.7])\r\n"));
	assert_non_null(strstr(buf_data(fq.data), "with ESMTP id FAKEID1"));
	/* Two RCPTs accepted: no "for <...>". */
	assert_null(strstr(buf_data(fq.data), "for <"));
	assert_non_null(
	    strstr(buf_data(fq.data),
		   "\r\nSubject: hi\r\n\r\n.dot\r\nbare\r\nlf\r\n"));
	assert_true(str_has_suffix(buf_data(fq.data), "lf\r\n"));
}

static void test_queue_failures(void **state)
{
	/* The daemon refuses the commit: 451, nothing claims success. */
	fq.mode = FAKE_FAIL_COMMIT;
	connect_from("198.51.100.7");
	say(NULL, 1);
	assert_talk("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\n"
		    "DATA\r\n",
		    4,
		    "250 mx.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		    "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_talk("x\r\n.\r\nNOOP\r\n", 2,
		    "451 4.3.0 Error: queue file write error\r\n"
		    "250 2.0.0 Ok\r\n");
	fq.mode = FAKE_OK;

	/* No daemon at all: DATA is refused at once. */
	io_free(&fq.io);
	ev_fd_del(ev, fq.listen_fd);
	close(fq.listen_fd);
	{
		char *path = xasprintf("%s/queue.sock", tmpdir);
		unlink(path);
		connect_from("198.51.100.7");
		say(NULL, 1);
		assert_talk("HELO c\r\nMAIL FROM:<>\r\n"
			    "RCPT TO:<alice@example.com>\r\nDATA\r\n",
			    4,
			    "250 mx.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
			    "451 4.3.0 Error: queue file write error\r\n");
		struct error err;
		fq.listen_fd = net_listen_unix(path, 0600, 0, &err);
		assert_true(fq.listen_fd >= 0);
		ev_fd_add(ev, fq.listen_fd, EV_READ, fake_accept, NULL, &err);
		free(path);
	}
}

static void test_smuggling_one_message(void **state)
{
	fq.mode = FAKE_OK;
	fq.commits = 0;
	connect_from("198.51.100.7");
	say(NULL, 1);
	say("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n",
	    4);
	assert_talk("a\n.\nMAIL FROM:<x@y.test>\r\nRCPT TO:<bob@example.com>"
		    "\r\nDATA\r\nevil\r\n.\r\nQUIT\r\n",
		    2, "250 2.0.0 Ok: queued as FAKEID1\r\n221 2.0.0 Bye\r\n");
	assert_int_equal(fq.commits, 1);
	assert_non_null(
	    strstr(buf_data(fq.data), "a\r\n\r\nMAIL FROM:<x@y.test>\r\n"));
}

static void test_relay_and_limits(void **state)
{
	connect_from("198.51.100.7");
	say(NULL, 1);
	assert_talk("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<x@foreign.test>\r\n"
		    "RCPT TO:<x%foreign.test@example.com>\r\n",
		    4,
		    "250 mx.test\r\n250 2.1.0 Ok\r\n"
		    "554 5.7.1 <x@foreign.test>: Relay access denied\r\n"
		    "550 5.1.1 <x%foreign.test@example.com>: Recipient "
		    "address rejected: User unknown in virtual mailbox "
		    "table\r\n");
	/* Recipient limit 3 counts accepted recipients. */
	assert_talk(
	    "RCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>"
	    "\r\nRCPT TO:<team@example.com>\r\nRCPT TO:<bob@example.com>"
	    "\r\n",
	    4,
	    "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
	    "452 4.5.3 Error: too many recipients\r\n");

	/* From $mynetworks: relaying is allowed. */
	connect_from("192.0.2.10");
	say(NULL, 1);
	assert_talk("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<x@foreign.test>\r\n", 3,
		    "250 mx.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");

	/* The hard error limit (6) ends the session. */
	connect_from("198.51.100.7");
	say(NULL, 1);
	say("A\r\nB\r\nC\r\nD\r\nE\r\nF\r\nG\r\n", 7);
	assert_true(client_closed ||
		    strstr(buf_data(got), "421 4.7.0") != NULL);
	assert_non_null(strstr(buf_data(got),
			       "421 4.7.0 mx.test Error: too many errors\r\n"));
	assert_null(strstr(strstr(buf_data(got), "421 4.7.0"), "502"));
}

static void test_long_line_and_bdat(void **state)
{
	char *big = xmalloc(20000);

	memset(big, 'x', 19990);
	memcpy(big + 19990, "\r\nNOOP\r\n", 9);
	fq.mode = FAKE_OK;
	connect_from("198.51.100.7");
	say(NULL, 1);
	assert_talk(big, 2,
		    "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n");
	free(big);
	assert_talk("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\n"
		    "BDAT 5\r\nab\n.\rBDAT 0 LAST\r\n",
		    5,
		    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
		    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
		    "250-SMTPUTF8\r\n250 CHUNKING\r\n"
		    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: 5 octets\r\n"
		    "250 2.0.0 Ok: queued as FAKEID1\r\n");
	/* BDAT content is taken as is. */
	assert_true(str_has_suffix(buf_data(fq.data), "ab\n.\r"));
	/* No RCPT between chunks. */
	assert_talk("MAIL FROM:<>\r\nRCPT TO:<alice@example.com>\r\n"
		    "BDAT 1\r\nxRCPT TO:<bob@example.com>\r\nDATA\r\n"
		    "BDAT 1 LAST\r\ny",
		    6,
		    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: 1 octets\r\n"
		    "503 5.5.1 Error: BDAT in progress\r\n"
		    "503 5.5.1 Error: BDAT in progress\r\n"
		    "250 2.0.0 Ok: queued as FAKEID1\r\n");
	assert_true(str_has_suffix(buf_data(fq.data), "\r\nxy"));
	assert_string_equal(buf_data(fq.rcpts),
			    "alice@example.com|rfc822;alice@example.com|0\n");
	/* Too big for SIZE 1000: refused after the chunk. */
	{
		struct buf *b = buf_new();
		buf_append_str(b, "MAIL FROM:<>\r\nRCPT TO:<alice@example.com>"
				  "\r\nBDAT 1200 LAST\r\n");
		for (int i = 0; i < 1200; i++)
			buf_append_char(b, 'z');
		buf_append_str(b, "NOOP\r\n");
		assert_talk(buf_data(b), 4,
			    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
			    "552 5.3.4 Message size exceeds fixed limit\r\n"
			    "250 2.0.0 Ok\r\n");
		buf_free(&b);
	}
}

/* Past the soft limit each error reply waits; replies stay in order and
 * other work goes on meanwhile (the loop is not blocked). */
static void test_error_tarpit(void **state)
{
	struct error err;
	char *text = xasprintf("queue_socket = %s/queue.sock\n"
			       "myhostname = mx.test\n"
			       "smtpd_soft_error_limit = 1\n"
			       "smtpd_error_sleep_time = 1s\n",
			       tmpdir);
	struct conf *c = conf_load_string(tmpdir, "tarpit", text, &err);
	struct smtpd *d;
	int64_t t0;

	assert_non_null(c);
	d = smtpd_testing_new(ev, c, &maps, &err);
	assert_non_null(d);
	current = d;
	connect_from("198.51.100.7");
	say(NULL, 1);
	t0 = ev_now(ev);
	assert_talk("A\r\nB\r\nNOOP\r\n", 3,
		    "502 5.5.2 Error: command not recognized\r\n"
		    "502 5.5.2 Error: command not recognized\r\n"
		    "250 2.0.0 Ok\r\n");
	assert_true(ev_now(ev) - t0 >= 900);
	close(client);
	client = -1;
	for (int i = 0; i < 50 && d->sessions > 0; i++)
		ev_run_once(ev, 10);
	assert_int_equal(d->sessions, 0);
	current = NULL;
	smtpd_testing_free(&d);
	conf_free(&c);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_greeting_ehlo),
	    cmocka_unit_test(test_sequence_errors),
	    cmocka_unit_test(test_message_queued),
	    cmocka_unit_test(test_queue_failures),
	    cmocka_unit_test(test_smuggling_one_message),
	    cmocka_unit_test(test_relay_and_limits),
	    cmocka_unit_test(test_long_line_and_bdat),
	    cmocka_unit_test(test_error_tarpit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
