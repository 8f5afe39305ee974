#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ev/ev.h"
#include "server/server.h"

/*
 * The skeleton run as the master runs it: a listener at fd 3, the
 * environment, a ready pipe; the test is the client.
 */

static char confdir[] = "/tmp/test_server.XXXXXX";

struct session {
	struct server *srv;
	int fd;
};

static void session_read(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct session *s = ctx;
	char data[64];
	ssize_t n = read(fd, data, sizeof(data));
	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0)
		return;
	ev_fd_del(ev, fd);
	close(fd);
	server_conn_done(s->srv);
	free(s);
}

/* Greets with what it was told about the connection; ends at EOF. */
static void on_accept(struct server *srv, const struct server_conn *conn)
{
	char line[256];
	int n =
	    snprintf(line, sizeof(line), "hi %s %s %s %s\r\n", conn->service,
		     service_tls_name(conn->tls), conn->listener, conn->peer);
	if (write(conn->fd, line, (size_t)n) != n)
		abort();
	struct session *s = malloc(sizeof(*s));
	s->srv = srv;
	s->fd = conn->fd;
	if (ev_fd_add(server_ev(srv), conn->fd, EV_READ, session_read, s,
		      NULL) < 0)
		abort();
}

static const struct server_hooks hooks = {
    .name = "testd",
    .default_service = "test",
    .accept = on_accept,
};

static int listen_any(unsigned *port_r)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 16), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	*port_r = ntohs(sin.sin_port);
	return fd;
}

static int connect_port(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A line within timeout_ms into buf ("" if none came). */
static void read_line(int fd, char *buf, size_t size, int timeout_ms)
{
	size_t len = 0;
	buf[0] = '\0';
	while (len + 1 < size) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, timeout_ms) <= 0)
			break;
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (memchr(buf, '\n', len) != NULL)
			break;
	}
}

static pid_t start_daemon(int lfd, int *ready_r)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (dup2(lfd, 3) < 0 || dup2(p[1], 4) < 0)
			_exit(99);
		setenv("POSTERN_LISTEN_FDS", "1", 1);
		setenv("POSTERN_SERVICE", "smtp", 1);
		setenv("POSTERN_TLS", "none", 1);
		setenv("POSTERN_READY_FD", "4", 1);
		char *argv[] = {
		    "testd", "-c", confdir, "-o", "max_connections=1", NULL};
		_exit(server_main(5, argv, &hooks));
	}
	close(p[1]);
	*ready_r = p[0];
	return pid;
}

static void test_lifecycle(void **state)
{
	unsigned port;
	int lfd = listen_any(&port);
	int ready;
	pid_t pid = start_daemon(lfd, &ready);
	/* Only the daemon holds the listener now, as with the master. */
	close(lfd);

	char line[256];
	read_line(ready, line, sizeof(line), 10000);
	assert_string_equal(line, "ready\n");
	close(ready);

	int c1 = connect_port(port);
	assert_true(c1 >= 0);
	char want[128];
	snprintf(want, sizeof(want), "hi smtp none 127.0.0.1:%u 127.0.0.1\r\n",
		 port);
	read_line(c1, line, sizeof(line), 10000);
	assert_string_equal(line, want);

	/* max_connections=1 (from -o): the second waits in the backlog. */
	int c2 = connect_port(port);
	assert_true(c2 >= 0);
	read_line(c2, line, sizeof(line), 300);
	assert_string_equal(line, "");
	close(c1);
	read_line(c2, line, sizeof(line), 10000);
	assert_string_equal(line, want);

	/* A reload keeps serving. */
	assert_int_equal(kill(pid, SIGHUP), 0);
	usleep(100000);
	close(c2);
	int c3 = connect_port(port);
	assert_true(c3 >= 0);
	read_line(c3, line, sizeof(line), 10000);
	assert_string_equal(line, want);

	/* SIGTERM closes the listener at once; the open session may end. */
	assert_int_equal(kill(pid, SIGTERM), 0);
	int refused = 0;
	for (int i = 0; i < 100 && !refused; i++) {
		int c = connect_port(port);
		if (c < 0)
			refused = 1;
		else {
			close(c);
			usleep(20000);
		}
	}
	assert_true(refused);
	int status;
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	close(c3);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_start_failure_is_reported(void **state)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (dup2(p[1], 4) < 0)
			_exit(99);
		/* Listener fd 3 is missing: start-up must fail cleanly. */
		close(3);
		setenv("POSTERN_LISTEN_FDS", "1", 1);
		setenv("POSTERN_SERVICE", "smtp", 1);
		setenv("POSTERN_TLS", "none", 1);
		setenv("POSTERN_READY_FD", "4", 1);
		char *argv[] = {"testd", "-c", confdir, NULL};
		_exit(server_main(3, argv, &hooks));
	}
	close(p[1]);
	char line[256];
	read_line(p[0], line, sizeof(line), 10000);
	close(p[0]);
	assert_true(strncmp(line, "fail inherited listener fd 3", 28) == 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 1);
}

static int setup(void **state)
{
	if (mkdtemp(confdir) == NULL)
		return -1;
	char path[128];
	snprintf(path, sizeof(path), "%s/main.cf", confdir);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs("log_target = stderr\n", f);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/main.cf", confdir);
	unlink(path);
	rmdir(confdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lifecycle),
	    cmocka_unit_test(test_start_failure_is_reported),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
