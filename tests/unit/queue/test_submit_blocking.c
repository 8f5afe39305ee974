/* test_submit_blocking - the blocking queue-socket client against a
 * fake daemon thread: the records it sends (envelope, data cut into
 * records, commit), and how each daemon answer maps to its result. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "queue/submit.h"

enum fake_mode { FAKE_OK, FAKE_PERM, FAKE_TEMP, FAKE_CLOSE, FAKE_SILENT };

struct fake {
	int lfd;
	enum fake_mode mode;
	struct buf *data;   /* the D records, joined */
	char sender[128];
	char rcpt[128];
	char auth[128];
	int records;
};

static void *fake_run(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	struct buf *in = buf_new(), *out = buf_new();
	bool done = false;
	while (!done) {
		char tmp[65536];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n <= 0)
			break;
		buf_append(in, tmp, (size_t)n);
		char type;
		const char *p;
		size_t len, used;
		while (submit_rec_get(in, &type, &p, &len, &used, NULL) == 1) {
			f->records++;
			if (type == SUBMIT_REC_DATA)
				buf_append(f->data, p, len);
			else if (type == SUBMIT_REC_SENDER)
				snprintf(f->sender, sizeof(f->sender), "%.*s",
					 (int)len, p);
			else if (type == SUBMIT_REC_AUTH)
				snprintf(f->auth, sizeof(f->auth), "%.*s",
					 (int)len, p);
			else if (type == SUBMIT_REC_RCPT)
				snprintf(f->rcpt, sizeof(f->rcpt), "%s", p);
			else if (type == SUBMIT_REC_COMMIT)
				done = true;
			buf_consume(in, used);
		}
	}
	buf_reset(out);
	submit_rec_put_str(out, SUBMIT_REC_ID, "QID123");
	switch (f->mode) {
	case FAKE_OK:
		submit_rec_put_str(out, SUBMIT_REC_OK, "QID123");
		break;
	case FAKE_PERM:
		submit_rec_put_str(out, SUBMIT_REC_FAIL, "5.7.1 refused");
		break;
	case FAKE_TEMP:
		submit_rec_put_str(out, SUBMIT_REC_FAIL, "4.3.0 disk full");
		break;
	case FAKE_CLOSE:
		buf_reset(out);
		break;
	case FAKE_SILENT:
		sleep(1);
		buf_reset(out);
		break;
	}
	if (buf_len(out) > 0 && write(fd, buf_data(out), buf_len(out)) < 0)
		fprintf(stderr, "fake: write failed\n");
	close(fd);
	buf_free(&in);
	buf_free(&out);
	return NULL;
}

static char sock_path[108];

static int run(enum fake_mode mode, size_t size, int timeout_ms,
	       struct fake *f, char *id, struct error *err)
{
	snprintf(sock_path, sizeof(sock_path), "/tmp/test_submit_blocking.%d",
		 (int)getpid());
	unlink(sock_path);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 1), 0);
	f->mode = mode;
	f->data = buf_new();
	pthread_t th;
	pthread_create(&th, NULL, fake_run, f);

	char *msg = malloc(size + 1);
	for (size_t i = 0; i < size; i++)
		msg[i] = (char)('a' + i % 23);
	struct submit_rcpt rc = {.addr = "bob@example.net"};
	struct submit_env env = {.sender = "alice@example.org",
				 .auth_name = "alice@example.org",
				 .rcpts = &rc,
				 .nrcpts = 1};
	int ret = submit_message_blocking(sock_path, &env, msg, size,
					  timeout_ms, id, 64, err);
	pthread_join(th, NULL);
	if (mode == FAKE_OK || mode == FAKE_PERM)
		assert_memory_equal(buf_data(f->data), msg, size);
	free(msg);
	close(f->lfd);
	unlink(sock_path);
	return ret;
}

static void test_ok_large(void **state)
{
	(void)state;
	struct fake f = {0};
	char id[64];
	struct error err;
	/* Over one record: the data goes in several D records. */
	size_t size = SUBMIT_RECORD_MAX * 2 + 1000;
	assert_int_equal(run(FAKE_OK, size, 5000, &f, id, &err), 0);
	assert_string_equal(id, "QID123");
	assert_int_equal(buf_len(f.data), size);
	assert_string_equal(f.sender, "alice@example.org");
	assert_string_equal(f.auth, "alice@example.org");
	assert_string_equal(f.rcpt, "bob@example.net");
	buf_free(&f.data);
}

static void test_failures(void **state)
{
	(void)state;
	struct fake f = {0};
	char id[64];
	struct error err;
	assert_int_equal(run(FAKE_PERM, 100, 5000, &f, id, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	assert_string_equal(err.msg, "5.7.1 refused");
	buf_free(&f.data);

	memset(&f, 0, sizeof(f));
	assert_int_equal(run(FAKE_TEMP, 100, 5000, &f, id, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	assert_string_equal(err.msg, "4.3.0 disk full");
	buf_free(&f.data);

	memset(&f, 0, sizeof(f));
	assert_int_equal(run(FAKE_CLOSE, 100, 5000, &f, id, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	buf_free(&f.data);

	memset(&f, 0, sizeof(f));
	assert_int_equal(run(FAKE_SILENT, 100, 200, &f, id, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	assert_non_null(strstr(err.msg, "timed out"));
	buf_free(&f.data);
}

static void test_no_daemon(void **state)
{
	(void)state;
	struct submit_env env = {.sender = "a@b"};
	char id[64];
	struct error err;
	assert_int_equal(submit_message_blocking("/nonexistent/queue.sock", &env,
						 "x", 1, 1000, id, sizeof(id),
						 &err),
			 -1);
	assert_int_equal(err.kind, ERR_TEMP);
	assert_string_equal(id, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_large),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_no_daemon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
