/*
 * test_server_pass - a client connection handed over a unix socket with
 * SCM_RIGHTS and its description (lib/server/server_pass.h), as
 * postscreen passes clients to smtpd.
 */
#include "test.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server_pass.h"

static void test_round_trip(void **state)
{
	int chan[2], client[2], fd = -1;
	char buf[SERVER_PASS_MAX + 1], got[8];
	struct server_pass p = {
	    .service = "smtp",
	    .listener = "127.0.0.1:25",
	    .tls = SERVICE_TLS_STARTTLS,
	    .peer = "192.0.2.7",
	    .peer_port = 40001,
	    .verdict = "PASS NEW",
	    .facts = "pregreet=no dnsbl_rank=0",
	}, q;
	struct error err;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, chan), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, client), 0);
	fcntl(chan[1], F_SETFL, O_NONBLOCK);
	/* Nothing sent yet: 0, not an error. */
	assert_int_equal(server_pass_recv(chan[1], buf, &fd, &q, &err), 0);
	assert_int_equal(server_pass_send(chan[0], client[0], &p, &err), 0);
	close(client[0]);
	assert_int_equal(server_pass_recv(chan[1], buf, &fd, &q, &err), 1);
	assert_true(fd >= 0);
	assert_string_equal(q.service, "smtp");
	assert_string_equal(q.listener, "127.0.0.1:25");
	assert_int_equal(q.tls, SERVICE_TLS_STARTTLS);
	assert_string_equal(q.peer, "192.0.2.7");
	assert_int_equal(q.peer_port, 40001);
	assert_string_equal(q.verdict, "PASS NEW");
	assert_string_equal(q.facts, "pregreet=no dnsbl_rank=0");
	/* The passed fd is the very connection. */
	assert_int_equal(write(fd, "hi", 2), 2);
	assert_int_equal(read(client[1], got, sizeof(got)), 2);
	assert_memory_equal(got, "hi", 2);
	close(fd);
	/* A message without an fd is refused. */
	assert_int_equal(write(chan[0], "postern-pass 1\nservice=smtp\n", 28),
			 28);
	assert_int_equal(server_pass_recv(chan[1], buf, &fd, &q, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	close(chan[0]);
	close(chan[1]);
	close(client[1]);
}

static void test_parse(void **state)
{
	struct server_pass q;
	struct error err;
	char ok[] = "postern-pass 1\nservice=smtp\npeer=::1\nport=25\n"
		    "future=ignored\n";
	char *bad[] = {
	    "postern-pass 2\nservice=smtp\npeer=1.2.3.4\n",
	    "postern-pass 1\nservice=smtp\n",
	    "postern-pass 1\nservice=smtp\npeer=1.2.3.4\nport=70000\n",
	    "postern-pass 1\nservice=smtp\npeer=1.2.3.4\ntls=maybe\n",
	    "postern-pass 1\nservice=smtp\npeer=1.2.3.4",
	    "postern-pass 1\nnoequals\n",
	};

	(void)state;
	assert_int_equal(server_pass_parse(ok, strlen(ok), &q, &err), 0);
	assert_string_equal(q.peer, "::1");
	assert_int_equal(q.peer_port, 25);
	assert_int_equal(q.tls, SERVICE_TLS_NONE);
	assert_string_equal(q.verdict, "");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char copy[256];
		strcpy(copy, bad[i]);
		assert_int_equal(
		    server_pass_parse(copy, strlen(copy), &q, &err), -1);
		assert_int_equal(err.kind, ERR_PERM);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
