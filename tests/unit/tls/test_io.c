/*
 * test_io - the buffered io over a socketpair: partial lines, CRLF and LF,
 * the line limit, byte reads, pause/resume, close after flush, timeouts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "tls/io.h"

struct sess {
	struct ev *ev;
	struct io *io;
	char lines[16][128];
	int nlines, too_long, lowat;
	enum io_event last;
	bool ended;
	struct buf *bytes;
	size_t want_bytes;
	bool pause_after_first;
	bool peeking; /* after "PEEK": take raw bytes up to "END" */
};

/* Take the raw input up to and including "END", the way a DATA reader
 * takes a message and leaves the pipelined commands after it. */
static bool take_until_end(struct io *io, struct sess *s)
{
	size_t len;
	const char *p = io_peek(io, &len);
	const char *end = memmem(p, len, "END", 3);
	if (end == NULL)
		return false;
	size_t n = (size_t)(end - p) + 3;
	buf_append(s->bytes, p, n);
	io_consume(io, n);
	s->peeking = false;
	return true;
}

static void on_io(struct io *io, enum io_event event, void *ctx)
{
	struct sess *s = ctx;
	char *line;
	size_t len;
	enum io_line_result r;

	s->last = event;
	switch (event) {
	case IO_DATAIN:
		if (s->peeking && !take_until_end(io, s))
			return;
		if (s->want_bytes > 0) {
			s->want_bytes -=
			    io_read_bytes(io, s->bytes, s->want_bytes);
			if (s->want_bytes > 0)
				return;
		}
		while ((r = io_getline(io, &line, &len)) != IO_LINE_NONE) {
			if (r == IO_LINE_TOO_LONG) {
				s->too_long++;
				continue;
			}
			assert_int_equal(strlen(line), len);
			snprintf(s->lines[s->nlines++], 128, "%s", line);
			if (strcmp(line, "PEEK") == 0) {
				s->peeking = true;
				if (!take_until_end(io, s))
					return;
			}
			if (strncmp(line, "BYTES ", 6) == 0)
				s->want_bytes = (size_t)atoi(line + 6);
			if (s->want_bytes > 0) {
				s->want_bytes -=
				    io_read_bytes(io, s->bytes, s->want_bytes);
				if (s->want_bytes > 0)
					return;
			}
			if (strcmp(line, "QUIT") == 0) {
				io_print(io, "221 bye\r\n");
				io_close(io);
				return;
			}
			io_printf(io, "250 %s\r\n", line);
			if (s->pause_after_first) {
				io_pause(io);
				ev_stop(s->ev);
				return;
			}
		}
		break;
	case IO_LOWAT:
		s->lowat++;
		break;
	default:
		s->ended = true;
		io_free(&s->io);
		ev_stop(s->ev);
		break;
	}
}

static void setup(struct sess *s, int *peer)
{
	int sv[2];

	memset(s, 0, sizeof(*s));
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	s->ev = ev_new();
	s->bytes = buf_new();
	s->io = io_new(s->ev, sv[0], on_io, s);
	*peer = sv[1];
}

static void teardown(struct sess *s, int peer)
{
	io_free(&s->io);
	ev_free(&s->ev);
	buf_free(&s->bytes);
	close(peer);
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Run the loop until nothing happens for `ms`. */
static void stop_cb(struct ev *ev, void *ctx)
{
	ev_stop(ev);
}

static void run_for(struct sess *s, int ms)
{
	ev_timer_add(s->ev, ms, stop_cb, NULL);
	ev_run(s->ev);
	ev_timer_del(s->ev, stop_cb, NULL);
}

static void read_all(int fd, char *out, size_t size)
{
	ssize_t n, used = 0;

	while ((n = read(fd, out + used, size - 1 - used)) > 0)
		used += n;
	out[used] = '\0';
}

static void test_partial_lines(void **state)
{
	struct sess s;
	int peer;
	char out[256];

	setup(&s, &peer);
	send_str(peer, "HELO a");
	run_for(&s, 20);
	assert_int_equal(s.nlines, 0);
	send_str(peer, "b\r\nNOOP\nMAIL FROM:<>\r");
	run_for(&s, 20);
	assert_int_equal(s.nlines, 2);
	assert_string_equal(s.lines[0], "HELO ab");
	assert_string_equal(s.lines[1], "NOOP");
	send_str(peer, "\n");
	run_for(&s, 20);
	assert_int_equal(s.nlines, 3);
	assert_string_equal(s.lines[2], "MAIL FROM:<>");
	assert_true(s.lowat >= 1);
	read_all(peer, out, sizeof(out));
	assert_string_equal(out,
			    "250 HELO ab\r\n250 NOOP\r\n250 MAIL FROM:<>\r\n");
	teardown(&s, peer);
}

static void test_line_too_long(void **state)
{
	struct sess s;
	int peer;
	char big[100];

	setup(&s, &peer);
	io_set_max_line(s.io, 10);
	/* Exactly 10 is fine, with CRLF or LF. */
	send_str(peer, "0123456789\r\n0123456789\n");
	run_for(&s, 20);
	assert_int_equal(s.nlines, 2);
	assert_int_equal(s.too_long, 0);
	/* 11 with its LF in the same read. */
	send_str(peer, "0123456789A\r\nOK\r\n");
	run_for(&s, 20);
	assert_int_equal(s.too_long, 1);
	assert_int_equal(s.nlines, 3);
	assert_string_equal(s.lines[2], "OK");
	/* A long line arriving in pieces: reported once, its tail dropped,
	 * and the next line is read normally. */
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	send_str(peer, big);
	run_for(&s, 20);
	assert_int_equal(s.too_long, 2);
	send_str(peer, big);
	send_str(peer, "tail\r\nAFTER\r\n");
	run_for(&s, 20);
	assert_int_equal(s.too_long, 2);
	assert_int_equal(s.nlines, 4);
	assert_string_equal(s.lines[3], "AFTER");
	teardown(&s, peer);
}

static void test_read_bytes(void **state)
{
	struct sess s;
	int peer;

	setup(&s, &peer);
	/* A literal that contains CRLFs is taken as bytes, not lines. */
	send_str(peer, "BYTES 10\r\nab\r\ncd");
	run_for(&s, 20);
	assert_int_equal(buf_len(s.bytes), 6);
	send_str(peer, "\r\nef");
	send_str(peer, "NEXT\r\n");
	run_for(&s, 20);
	assert_int_equal(buf_len(s.bytes), 10);
	assert_memory_equal(buf_data(s.bytes), "ab\r\ncd\r\nef", 10);
	assert_int_equal(s.nlines, 2);
	assert_string_equal(s.lines[1], "NEXT");
	teardown(&s, peer);
}

static void test_peek_consume(void **state)
{
	struct sess s;
	int peer;

	setup(&s, &peer);
	/* Raw bytes across two reads, then the pipelined commands after the
	 * marker come back as lines. */
	send_str(peer, "PEEK\r\nab\r\nE");
	run_for(&s, 20);
	assert_int_equal(buf_len(s.bytes), 0);
	send_str(peer, "ND\r\nNEXT\r\n");
	run_for(&s, 20);
	assert_int_equal(buf_len(s.bytes), 7);
	assert_memory_equal(buf_data(s.bytes), "ab\r\nEND", 7);
	assert_int_equal(s.nlines, 3);
	assert_string_equal(s.lines[1], "");
	assert_string_equal(s.lines[2], "NEXT");
	teardown(&s, peer);
}

static void test_pause_resume_and_close(void **state)
{
	struct sess s;
	int peer;
	char out[256];

	setup(&s, &peer);
	s.pause_after_first = true;
	/* Pipelined commands: the io stops handing lines over while paused
	 * and redelivers the buffered rest on resume. */
	send_str(peer, "A\r\nB\r\nQUIT\r\n");
	ev_run(s.ev);
	assert_int_equal(s.nlines, 1);
	run_for(&s, 20);
	assert_int_equal(s.nlines, 1);
	s.pause_after_first = false;
	io_resume(s.io);
	ev_run(s.ev); /* stops at IO_DISCONNECTED after the flush */
	assert_int_equal(s.nlines, 3);
	assert_true(s.ended);
	assert_int_equal(s.last, IO_DISCONNECTED);
	assert_null(s.io);
	read_all(peer, out, sizeof(out));
	assert_string_equal(out, "250 A\r\n250 B\r\n221 bye\r\n");
	teardown(&s, peer);
}

static void test_eof_and_timeout(void **state)
{
	struct sess s;
	int peer;

	setup(&s, &peer);
	/* Lines sent just before EOF are delivered before the EOF. */
	send_str(peer, "LAST\r\n");
	shutdown(peer, SHUT_WR);
	ev_run(s.ev);
	assert_int_equal(s.nlines, 1);
	assert_int_equal(s.last, IO_DISCONNECTED);
	teardown(&s, peer);

	setup(&s, &peer);
	io_set_timeout(s.io, 30);
	send_str(peer, "X\r\n");
	ev_run(s.ev);
	assert_int_equal(s.last, IO_TIMEOUT);
	assert_int_equal(s.nlines, 1);
	teardown(&s, peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_partial_lines),
	    cmocka_unit_test(test_line_too_long),
	    cmocka_unit_test(test_read_bytes),
	    cmocka_unit_test(test_peek_consume),
	    cmocka_unit_test(test_pause_resume_and_close),
	    cmocka_unit_test(test_eof_and_timeout),
	};

	log_init("test_io");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
