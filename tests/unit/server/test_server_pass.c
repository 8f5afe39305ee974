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

/* An upstream PROXY header's facts (a TLS-terminating balancer) travel
 * with the client; an old message (none of them) means none. */
static void test_proxy_fields(void **state)
{
	char buf[SERVER_PASS_MAX + 1];
	char big[300];
	int chan[2], client[2], fd = -1;
	struct server_pass p = {
	    .service = "smtp-ps",
	    .listener = "127.0.0.1:25",
	    .tls = SERVICE_TLS_STARTTLS,
	    .peer = "192.0.2.60",
	    .peer_port = 40040,
	    .verdict = "PASS NEW",
	    .facts = "pregreet=no dnsbl_rank=0",
	    .proxy_peer = "127.0.0.5",
	    .proxy_peer_port = 51000,
	    .local = "198.51.100.2",
	    .local_port = 465,
	    .proxy_tls = true,
	    .proxy_tls_version = "TLSv1.3",
	    .proxy_tls_cipher = "TLS_AES_256_GCM_SHA384",
	    .proxy_tls_cn = NULL, /* sent as "" */
	    .proxy_authority = "smtp.example",
	}, q;
	struct error err;
	char old[] = "postern-pass 1\nservice=smtp\npeer=192.0.2.1\n";
	char no_tls[] = "postern-pass 1\nservice=smtp\npeer=192.0.2.1\n"
			"proxy_peer=127.0.0.5\nproxy_port=1\ntls_version=x\n";
	char *bad[] = {
	    /* TLS claimed, but by no balancer. */
	    "postern-pass 1\nservice=smtp\npeer=1.2.3.4\nproxy_tls=1\n",
	    "postern-pass 1\nservice=smtp\npeer=1.2.3.4\nproxy_tls=1\n"
	    "proxy_peer=\n",
	    "postern-pass 1\nservice=smtp\npeer=1.2.3.4\nproxy_peer=a\n"
	    "proxy_tls=yes\n",
	    "postern-pass 1\nservice=smtp\npeer=1.2.3.4\nproxy_peer=a\n"
	    "proxy_port=65536\n",
	    "postern-pass 1\nservice=smtp\npeer=1.2.3.4\nlocal=b\n"
	    "local_port=-1\n",
	    /* Short: the last field is cut. */
	    "postern-pass 1\nservice=smtp\npeer=1.2.3.4\nproxy_peer=a\n"
	    "proxy_tls=1",
	};

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, chan), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, client), 0);
	assert_int_equal(server_pass_send(chan[0], client[0], &p, &err), 0);
	assert_int_equal(server_pass_recv(chan[1], buf, &fd, &q, &err), 1);
	assert_string_equal(q.peer, "192.0.2.60");
	assert_string_equal(q.proxy_peer, "127.0.0.5");
	assert_int_equal(q.proxy_peer_port, 51000);
	assert_string_equal(q.local, "198.51.100.2");
	assert_int_equal(q.local_port, 465);
	assert_true(q.proxy_tls);
	assert_string_equal(q.proxy_tls_version, "TLSv1.3");
	assert_string_equal(q.proxy_tls_cipher, "TLS_AES_256_GCM_SHA384");
	assert_string_equal(q.proxy_tls_cn, "");
	assert_string_equal(q.proxy_authority, "smtp.example");
	close(fd);

	/* The longest details still fit one message. */
	memset(big, 'x', 255);
	big[255] = '\0';
	p.proxy_tls_version = p.proxy_tls_cipher = p.proxy_tls_cn =
	    p.proxy_authority = big;
	assert_int_equal(server_pass_send(chan[0], client[0], &p, &err), 0);
	assert_int_equal(server_pass_recv(chan[1], buf, &fd, &q, &err), 1);
	assert_string_equal(q.proxy_authority, big);
	close(fd);
	/* A newline in a value would forge a field: refused. */
	p.proxy_tls_cipher = "X\nproxy_tls=1";
	assert_int_equal(server_pass_send(chan[0], client[0], &p, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	close(chan[0]);
	close(chan[1]);
	close(client[0]);
	close(client[1]);

	/* A message of before the fields: no balancer, not secured. */
	assert_int_equal(server_pass_parse(old, strlen(old), &q, &err), 0);
	assert_null(q.proxy_peer);
	assert_null(q.local);
	assert_false(q.proxy_tls);
	assert_null(q.proxy_tls_version);
	/* Details without the flag are not TLS. */
	assert_int_equal(server_pass_parse(no_tls, strlen(no_tls), &q, &err),
			 0);
	assert_string_equal(q.proxy_peer, "127.0.0.5");
	assert_false(q.proxy_tls);
	assert_null(q.proxy_tls_version);
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
	    cmocka_unit_test(test_proxy_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
