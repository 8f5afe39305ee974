/*
 * test_net - address parsing, TCP and unix listeners, non-blocking
 * connect through the loop, connection limits.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#include "core/log.h"
#include "ev/ev.h"
#include "ev/net.h"

static void test_parse_addr(void **state)
{
	static const struct {
		const char *spec;
		int rc;
		enum net_family family;
		const char *host;
		unsigned port;
	} cases[] = {
	    {"127.0.0.1:2525", 0, NET_TCP, "127.0.0.1", 2525},
	    {"[::1]:143", 0, NET_TCP, "::1", 143},
	    {"*:25", 0, NET_TCP, "", 25},
	    {":8080", 0, NET_TCP, "", 8080},
	    {"localhost:0", 0, NET_TCP, "localhost", 0},
	    {"unix:/run/lmtp", 0, NET_UNIX, "/run/lmtp", 0},
	    {"127.0.0.1", -1, NET_TCP, NULL, 0},
	    {"127.0.0.1:65536", -1, NET_TCP, NULL, 0},
	    {"127.0.0.1:x", -1, NET_TCP, NULL, 0},
	    {"::1:25", -1, NET_TCP, NULL, 0},
	    {"[::1]25", -1, NET_TCP, NULL, 0},
	    {"unix:", -1, NET_UNIX, NULL, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct net_addr a;
		struct error err;
		int rc = net_parse_addr(cases[i].spec, &a, &err);

		assert_int_equal(rc, cases[i].rc);
		if (rc < 0) {
			assert_int_equal(err.kind, ERR_CONFIG);
			continue;
		}
		assert_int_equal(a.family, cases[i].family);
		if (a.family == NET_UNIX) {
			assert_string_equal(a.path, cases[i].host);
		} else {
			assert_string_equal(a.host, cases[i].host);
			assert_int_equal(a.port, cases[i].port);
		}
	}
}

struct conn_state {
	int listen_fd, accepted, connect_fd;
	bool connected;
	char peer[NET_ADDR_STRLEN];
};

static void on_accept(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct conn_state *s = ctx;

	s->accepted = net_accept(fd, s->peer, sizeof(s->peer));
	if (s->accepted >= 0) {
		/* accept4 gave us a non-blocking, close-on-exec socket */
		assert_true(fcntl(s->accepted, F_GETFL) & O_NONBLOCK);
		assert_true(fcntl(s->accepted, F_GETFD) & FD_CLOEXEC);
	}
	if (s->connected && s->accepted >= 0)
		ev_stop(ev);
}

static void on_connect(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct conn_state *s = ctx;
	struct error err;

	assert_int_equal(net_connect_finish(fd, &err), 0);
	s->connected = true;
	ev_fd_del(ev, fd);
	if (s->accepted >= 0)
		ev_stop(ev);
}

static void run_pair(struct ev *ev, struct conn_state *s)
{
	struct error err;

	s->accepted = -1;
	assert_int_equal(
	    ev_fd_add(ev, s->listen_fd, EV_READ, on_accept, s, &err), 0);
	assert_int_equal(
	    ev_fd_add(ev, s->connect_fd, EV_WRITE, on_connect, s, &err), 0);
	ev_run(ev);
	assert_true(s->connected);
	assert_true(s->accepted >= 0);
	ev_fd_del(ev, s->listen_fd);
}

static void test_tcp_port0(void **state)
{
	struct ev *ev = ev_new();
	struct conn_state s = {0};
	struct error err;
	char addr[NET_ADDR_STRLEN];
	unsigned port, peer_port;

	s.listen_fd = net_listen_tcp("127.0.0.1", 0, 0, &err);
	assert_true(s.listen_fd >= 0);
	port = net_local_port(s.listen_fd);
	assert_true(port > 0);
	s.connect_fd = net_connect_tcp("127.0.0.1", port, &err);
	assert_true(s.connect_fd >= 0);
	run_pair(ev, &s);
	assert_string_equal(s.peer, "127.0.0.1");
	assert_int_equal(
	    net_peer_str(s.accepted, addr, sizeof(addr), &peer_port), 0);
	assert_string_equal(addr, "127.0.0.1");
	assert_int_equal(peer_port, net_local_port(s.connect_fd));
	assert_int_equal(
	    net_peer_str(s.connect_fd, addr, sizeof(addr), &peer_port), 0);
	assert_int_equal(peer_port, port);

	/* The port is taken now: a second listener is a config error. */
	assert_int_equal(net_listen_tcp("127.0.0.1", port, 0, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	/* Connecting needs a numeric address. */
	assert_int_equal(net_connect_tcp("localhost", port, &err), -1);

	close(s.accepted);
	close(s.connect_fd);
	close(s.listen_fd);
	ev_free(&ev);
}

static void test_tcp_any_dual_stack(void **state)
{
	struct error err;
	int fd = net_listen_tcp("*", 0, 0, &err);
	int c;

	assert_true(fd >= 0);
	/* An IPv4 client reaches the "any" listener and shows as IPv4. */
	c = net_connect_tcp("127.0.0.1", net_local_port(fd), &err);
	assert_true(c >= 0);
	{
		struct ev *ev = ev_new();
		struct conn_state s = {.listen_fd = fd, .connect_fd = c};

		run_pair(ev, &s);
		assert_string_equal(s.peer, "127.0.0.1");
		close(s.accepted);
		ev_free(&ev);
	}
	close(c);
	close(fd);
}

static void test_unix_socket(void **state)
{
	char dir[] = "/tmp/test_net_XXXXXX";
	char path[128];
	struct ev *ev = ev_new();
	struct conn_state s = {0};
	struct net_addr a;
	struct error err;
	struct stat st;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "unix:%s/lmtp", dir);
	assert_int_equal(net_parse_addr(path, &a, &err), 0);
	s.listen_fd = net_listen(&a, 0660, 0, &err);
	assert_true(s.listen_fd >= 0);
	assert_int_equal(stat(a.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	s.connect_fd = net_connect(&a, &err);
	assert_true(s.connect_fd >= 0);
	run_pair(ev, &s);
	assert_string_equal(s.peer, "unix");
	close(s.accepted);
	close(s.connect_fd);
	close(s.listen_fd);

	/* A stale socket file is replaced; a regular file is not. */
	fd = net_listen(&a, 0600, 0, &err);
	assert_true(fd >= 0);
	close(fd);
	unlink(a.path);
	fd = open(a.path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(net_listen(&a, 0600, 0, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	unlink(a.path);
	rmdir(dir);
	ev_free(&ev);
}

static void test_connect_refused(void **state)
{
	struct error err;
	int l = net_listen_tcp("127.0.0.1", 0, 0, &err);
	unsigned port = net_local_port(l);
	int c;
	struct ev *ev = ev_new();

	close(l); /* nobody listens on port any more */
	c = net_connect_tcp("127.0.0.1", port, &err);
	if (c >= 0) {
		struct pollfd pfd = {.fd = c, .events = POLLOUT};

		/* Wait for the connect to settle, then it must fail. */
		assert_int_equal(poll(&pfd, 1, 2000), 1);
		assert_int_equal(net_connect_finish(c, &err), -1);
		assert_int_equal(err.kind, ERR_TEMP);
		close(c);
	}
	ev_free(&ev);
}

static void test_limits(void **state)
{
	struct net_limit *lim = net_limit_new(3, 2);

	assert_int_equal(net_limit_acquire(lim, "192.0.2.1"), NET_LIMIT_OK);
	assert_int_equal(net_limit_acquire(lim, "192.0.2.1"), NET_LIMIT_OK);
	assert_int_equal(net_limit_acquire(lim, "192.0.2.1"),
			 NET_LIMIT_PER_ADDR);
	assert_int_equal(net_limit_count(lim, "192.0.2.1"), 2);
	assert_int_equal(net_limit_acquire(lim, "192.0.2.2"), NET_LIMIT_OK);
	assert_int_equal(net_limit_acquire(lim, "192.0.2.3"), NET_LIMIT_TOTAL);
	assert_int_equal(net_limit_total(lim), 3);
	net_limit_release(lim, "192.0.2.1");
	assert_int_equal(net_limit_count(lim, "192.0.2.1"), 1);
	assert_int_equal(net_limit_acquire(lim, "192.0.2.3"), NET_LIMIT_OK);
	net_limit_release(lim, "192.0.2.2");
	assert_int_equal(net_limit_count(lim, "192.0.2.2"), 0);
	assert_int_equal(net_limit_total(lim), 2);
	net_limit_free(&lim);
	assert_null(lim);

	/* 0 means unlimited. */
	lim = net_limit_new(0, 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(net_limit_acquire(lim, "x"), NET_LIMIT_OK);
	net_limit_free(&lim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_addr),
	    cmocka_unit_test(test_tcp_port0),
	    cmocka_unit_test(test_tcp_any_dual_stack),
	    cmocka_unit_test(test_unix_socket),
	    cmocka_unit_test(test_connect_refused),
	    cmocka_unit_test(test_limits),
	};

	log_init("test_net");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
