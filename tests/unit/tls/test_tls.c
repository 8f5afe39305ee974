/*
 * test_tls - certificates, handshakes between an io server on the loop and
 * a blocking OpenSSL client in a thread, the STARTTLS injection fix, the
 * TLS 1.2 floor and certificate reload.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#include "core/log.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "tls/io.h"
#include "tls/tls.h"

static char g_dir[64], g_cert[128], g_key[128];

/* ---- server side: one connection on the loop ---- */

struct server {
	struct ev *ev;
	int lfd;
	unsigned port;
	struct tls_ctx *tls;
	bool implicit;
	struct io *io;
	char lines[8][64];
	int nlines;
	bool tlsready, error;
	char proto[32];
	char describe[160];
};

static void srv_io(struct io *io, enum io_event event, void *ctx)
{
	struct server *s = ctx;
	struct error err;
	char *line;

	switch (event) {
	case IO_DATAIN:
		while (io_getline(io, &line, NULL) == IO_LINE_OK) {
			snprintf(s->lines[s->nlines++], 64, "%s", line);
			if (strcmp(line, "STARTTLS") == 0) {
				io_print(io, "220 go ahead\r\n");
				assert_int_equal(
				    io_start_tls_server(io, s->tls, &err), 0);
			} else if (strcmp(line, "QUIT") == 0) {
				io_print(io, "221 bye\r\n");
				io_close(io);
				return;
			} else {
				io_printf(io, "250 %s\r\n", line);
			}
		}
		break;
	case IO_TLSREADY: {
		struct buf *b = buf_new();

		s->tlsready = true;
		snprintf(s->proto, sizeof(s->proto), "%s", io_tls_protocol(io));
		io_tls_describe(io, b);
		snprintf(s->describe, sizeof(s->describe), "%s", buf_data(b));
		buf_free(&b);
		if (s->implicit)
			io_print(io, "220 hello\r\n");
		break;
	}
	case IO_LOWAT:
		break;
	default:
		if (event == IO_ERROR)
			s->error = true;
		io_free(&s->io);
		ev_stop(s->ev);
		break;
	}
}

static void srv_accept(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct server *s = ctx;
	struct error err;
	int c = net_accept(fd, NULL, 0);

	if (c < 0)
		return;
	ev_fd_del(ev, fd);
	s->io = io_new(ev, c, srv_io, s);
	io_set_handshake_timeout(s->io, 5000);
	if (s->implicit)
		assert_int_equal(io_accept_tls(s->io, s->tls, &err), 0);
	else
		io_print(s->io, "220 plain\r\n");
}

static void srv_guard(struct ev *ev, void *ctx)
{
	fail_msg("test server timed out");
}

static void server_start(struct server *s, bool implicit)
{
	struct error err;

	memset(s, 0, sizeof(*s));
	s->ev = ev_new();
	s->implicit = implicit;
	s->tls = tls_server_new(g_cert, g_key, ">=TLSv1.2", "", &err);
	assert_non_null(s->tls);
	s->lfd = net_listen_tcp("127.0.0.1", 0, 0, &err);
	assert_true(s->lfd >= 0);
	s->port = net_local_port(s->lfd);
	assert_int_equal(ev_fd_add(s->ev, s->lfd, EV_READ, srv_accept, s, &err),
			 0);
}

/* One connection; returns when the server side has ended. */
static void server_run(struct server *s)
{
	ev_timer_add(s->ev, 10000, srv_guard, NULL);
	ev_run(s->ev);
	ev_timer_del(s->ev, srv_guard, NULL);
}

static void server_stop(struct server *s)
{
	io_free(&s->io);
	ev_fd_del(s->ev, s->lfd);
	close(s->lfd);
	tls_ctx_free(&s->tls);
	ev_free(&s->ev);
}

/* ---- client side: blocking OpenSSL in a thread ---- */

struct client {
	unsigned port;
	bool starttls;
	int max_version; /* 0: library default */
	bool ok;
	char cn[64];
	char transcript[512];
};

static int tcp_connect(unsigned port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Read one plaintext line byte by byte, so no TLS byte is consumed. */
static void read_plain_line(int fd, struct client *c)
{
	char ch;

	while (read(fd, &ch, 1) == 1) {
		strncat(c->transcript, &ch, 1);
		if (ch == '\n')
			break;
	}
}

static void ssl_read_line(SSL *ssl, struct client *c)
{
	char ch;

	while (SSL_read(ssl, &ch, 1) == 1) {
		strncat(c->transcript, &ch, 1);
		if (ch == '\n')
			break;
	}
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	X509 *peer;
	int fd = tcp_connect(c->port);

	if (c->max_version != 0) {
		/* Let this client offer old protocols at all (OpenSSL 3's
		 * default security level forbids them client-side). */
		SSL_CTX_set_security_level(ctx, 0);
		SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
		SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
		SSL_CTX_set_max_proto_version(ctx, c->max_version);
	}
	if (c->starttls) {
		static const char inject[] = "STARTTLS\r\nNOOP\r\n";

		read_plain_line(fd, c); /* 220 plain */
		/* The injection: a command pipelined after STARTTLS in the
		 * same write, which a buggy server would run inside TLS. */
		if (write(fd, inject, sizeof(inject) - 1) < 0)
			goto out;
		read_plain_line(fd, c); /* 220 go ahead */
	}
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		goto out;
	}
	peer = SSL_get1_peer_certificate(ssl);
	if (peer != NULL) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
					  NID_commonName, c->cn, sizeof(c->cn));
		X509_free(peer);
	}
	if (!c->starttls)
		ssl_read_line(ssl, c); /* 220 hello */
	SSL_write(ssl, "QUIT\r\n", 6);
	ssl_read_line(ssl, c); /* 221 bye; a NOOP reply would come first */
	c->ok = true;
	SSL_shutdown(ssl);
	SSL_free(ssl);
out:
	close(fd);
	SSL_CTX_free(ctx);
	return NULL;
}

static void converse(struct server *s, struct client *c)
{
	pthread_t t;

	c->port = s->port;
	assert_int_equal(pthread_create(&t, NULL, client_main, c), 0);
	server_run(s);
	pthread_join(t, NULL);
}

/* ---- tests ---- */

static void test_selfsigned(void **state)
{
	struct stat st;
	struct error err;
	FILE *f;
	X509 *x;
	char cn[64] = "";
	GENERAL_NAMES *san;
	int i, dns = 0, ip = 0;

	assert_int_equal(stat(g_key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	f = fopen(g_cert, "r");
	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
				  sizeof(cn));
	assert_string_equal(cn, "mail.example.test");
	san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_non_null(san);
	for (i = 0; i < sk_GENERAL_NAME_num(san); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);

		if (g->type == GEN_DNS)
			dns++;
		if (g->type == GEN_IPADD)
			ip++;
	}
	assert_int_equal(dns, 2); /* the hostname and localhost */
	assert_int_equal(ip, 1);
	assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
	assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(x)),
			 EVP_PKEY_EC);
	GENERAL_NAMES_free(san);
	X509_free(x);

	assert_int_equal(tls_generate_selfsigned(g_cert, g_key, "x", 0, &err),
			 -1);
	assert_int_equal(tls_parse_protocols(">=TLSv1.1", NULL, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
}

static void test_implicit_tls(void **state)
{
	struct server s;
	struct client c = {0};

	server_start(&s, true);
	converse(&s, &c);
	assert_true(c.ok);
	assert_true(s.tlsready);
	assert_false(s.error);
	assert_string_equal(c.cn, "mail.example.test");
	assert_string_equal(c.transcript, "220 hello\r\n221 bye\r\n");
	assert_true(strcmp(s.proto, "TLSv1.3") == 0 ||
		    strcmp(s.proto, "TLSv1.2") == 0);
	assert_non_null(strstr(s.describe, " with cipher "));
	assert_int_equal(s.nlines, 1);
	assert_string_equal(s.lines[0], "QUIT");
	server_stop(&s);
}

static void test_starttls_injection(void **state)
{
	struct server s;
	struct client c = {.starttls = true};

	server_start(&s, false);
	converse(&s, &c);
	assert_true(c.ok);
	assert_true(s.tlsready);
	/* The NOOP pipelined after STARTTLS was dropped: the server saw
	 * STARTTLS then, inside TLS, only QUIT - and never answered NOOP. */
	assert_int_equal(s.nlines, 2);
	assert_string_equal(s.lines[0], "STARTTLS");
	assert_string_equal(s.lines[1], "QUIT");
	assert_string_equal(c.transcript,
			    "220 plain\r\n220 go ahead\r\n221 bye\r\n");
	server_stop(&s);
}

static void test_tls11_refused(void **state)
{
	struct server s;
	struct client c = {.max_version = TLS1_1_VERSION};

	server_start(&s, true);
	converse(&s, &c);
	assert_false(c.ok);
	assert_false(s.tlsready);
	assert_true(s.error);
	server_stop(&s);
}

static void test_reload(void **state)
{
	struct server s;
	struct client c1 = {0}, c2 = {0}, c3 = {0};
	struct error err;
	FILE *f;

	server_start(&s, true);
	converse(&s, &c1);
	assert_string_equal(c1.cn, "mail.example.test");

	/* New files on disk: the next connection gets the new cert. */
	assert_int_equal(tls_generate_selfsigned(g_cert, g_key,
						 "new.example.test", 30, &err),
			 0);
	assert_int_equal(tls_server_reload(s.tls, &err), 0);
	assert_int_equal(ev_fd_add(s.ev, s.lfd, EV_READ, srv_accept, &s, &err),
			 0);
	converse(&s, &c2);
	assert_true(c2.ok);
	assert_string_equal(c2.cn, "new.example.test");

	/* A broken key: reload fails, the loaded certificate stays. */
	f = fopen(g_key, "w");
	fputs("not a key\n", f);
	fclose(f);
	assert_int_equal(tls_server_reload(s.tls, &err), -1);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_int_equal(ev_fd_add(s.ev, s.lfd, EV_READ, srv_accept, &s, &err),
			 0);
	converse(&s, &c3);
	assert_true(c3.ok);
	assert_string_equal(c3.cn, "new.example.test");
	server_stop(&s);
}

static int make_cert(void)
{
	struct error err;

	if (tls_generate_selfsigned(g_cert, g_key, "mail.example.test", 30,
				    &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int group_setup(void **state)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/test_tls_XXXXXX");
	if (mkdtemp(g_dir) == NULL)
		return -1;
	snprintf(g_cert, sizeof(g_cert), "%s/cert.pem", g_dir);
	snprintf(g_key, sizeof(g_key), "%s/key.pem", g_dir);
	return make_cert();
}

/* Each test that changes the files regenerates the original first, in
 * the same folder (group_teardown removes it). */
static int test_setup(void **state)
{
	return make_cert();
}

static int group_teardown(void **state)
{
	unlink(g_cert);
	unlink(g_key);
	rmdir(g_dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_selfsigned),
	    cmocka_unit_test(test_implicit_tls),
	    cmocka_unit_test(test_starttls_injection),
	    cmocka_unit_test(test_tls11_refused),
	    cmocka_unit_test_setup_teardown(test_reload, test_setup,
					    group_teardown),
	};

	log_init("test_tls");
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
