/*
 * io_tls.c - TLS on an io: STARTTLS, implicit TLS, client handshakes and
 * what a live session reports about itself.
 */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "ev/ev.h"
#include "tls/io_private.h"
#include "tls/tls_private.h"

static int io_tls_attach(struct io *io, struct tls_ctx *ctx, bool server,
			 struct error *err)
{
	if (io->ssl != NULL)
		return error_set(err, ERR_PERM, "TLS already active");
	if (io->state != IO_ST_OPEN)
		return error_set(err, ERR_PERM, "connection not open");
	if (tls_ctx_is_server(ctx) != server)
		return error_set(err, ERR_PERM, "wrong kind of TLS context");
	io->ssl = tls_ctx_new_ssl(ctx, err);
	if (io->ssl == NULL)
		return -1;
	if (SSL_set_fd(io->ssl, io->fd) != 1) {
		SSL_free(io->ssl);
		io->ssl = NULL;
		return tls_error_set(err, ERR_TEMP, "SSL_set_fd");
	}
	return 0;
}

void io_tls_begin(struct io *io)
{
	io->state = IO_ST_HANDSHAKE;
	io_timer_restart(io);
	io_tls_handshake(io);
}

int io_start_tls_server(struct io *io, struct tls_ctx *ctx, struct error *err)
{
	size_t dropped = buf_len(io->in);

	if (io_tls_attach(io, ctx, true, err) < 0)
		return -1;
	/* RFC 3207 4.2 and CVE-2011-0411: whatever the client sent after
	 * STARTTLS in plaintext was not protected and must never be taken
	 * as a command of the TLS session. */
	if (dropped > 0)
		log_debug(LOG_TRACE_IO | LOG_TRACE_TLS,
			  "io fd=%d: STARTTLS discards %zu pipelined bytes",
			  io->fd, dropped);
	buf_reset(io->in);
	io->discarding = false;
	io->in_full = false;
	io->eof = false;
	SSL_set_accept_state(io->ssl);
	io->ssl_want_write = false;
	if (io_outbuf_len(io) > 0) {
		io->state = IO_ST_TLS_FLUSH;
		io_timer_restart(io);
		io_update(io);
	} else {
		io->state = IO_ST_HANDSHAKE;
		io_timer_restart(io);
		io_update(io);
	}
	return 0;
}

int io_accept_tls(struct io *io, struct tls_ctx *ctx, struct error *err)
{
	if (io_tls_attach(io, ctx, true, err) < 0)
		return -1;
	SSL_set_accept_state(io->ssl);
	/* Output queued before the handshake is sent after it, encrypted. */
	io->ssl_want_write = false;
	io->state = IO_ST_HANDSHAKE;
	io_timer_restart(io);
	io_update(io);
	return 0;
}

static bool is_ip_literal(const char *s)
{
	unsigned char tmp[16];

	return inet_pton(AF_INET, s, tmp) == 1 ||
	       inet_pton(AF_INET6, s, tmp) == 1;
}

int io_connect_tls(struct io *io, struct tls_ctx *ctx, const char *servername,
		   struct error *err)
{
	if (io_tls_attach(io, ctx, false, err) < 0)
		return -1;
	SSL_set_connect_state(io->ssl);
	if (servername != NULL && *servername != '\0') {
		/* RFC 6066 3: SNI carries host names, never address literals.
		 */
		if (!is_ip_literal(servername) &&
		    SSL_set_tlsext_host_name(io->ssl, servername) != 1)
			goto fail;
		if (tls_ctx_verifies(ctx) &&
		    SSL_set1_host(io->ssl, servername) != 1)
			goto fail;
	}
	/* The client speaks first: wait for writability to send the hello. */
	io->ssl_want_write = true;
	io->state = IO_ST_HANDSHAKE;
	io_timer_restart(io);
	io_update(io);
	return 0;
fail:
	SSL_free(io->ssl);
	io->ssl = NULL;
	return tls_error_set(err, ERR_PERM, "TLS server name");
}

void io_tls_handshake(struct io *io)
{
	int r, e;

	ERR_clear_error();
	r = SSL_do_handshake(io->ssl);
	if (r == 1) {
		io->tls_ready = true;
		io->state = IO_ST_OPEN;
		io_timer_restart(io);
		io_update(io);
		log_debug(LOG_TRACE_TLS, "io fd=%d: %s with cipher %s", io->fd,
			  SSL_get_version(io->ssl),
			  SSL_get_cipher_name(io->ssl));
		io_emit(io, IO_TLSREADY);
		/* Application data that came with the last handshake flight
		 * may sit inside OpenSSL already; no readiness announces it. */
		if (!io->freed && io->state == IO_ST_OPEN)
			io_schedule_input(io);
		return;
	}
	e = SSL_get_error(io->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		io->ssl_want_write = false;
		return;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		io->ssl_want_write = true;
		return;
	}
	io->error[0] = '\0';
	tls_error_text(io->error, sizeof(io->error));
	if (io->error[0] == '\0')
		snprintf(io->error, sizeof(io->error), "%s",
			 e == SSL_ERROR_SYSCALL ? "connection closed"
						: "error");
	/* A verifying client context (tls_client_new) ends the handshake on
	 * a bad certificate; say which check failed, not only that one did. */
	if (!SSL_is_server(io->ssl) &&
	    SSL_get_verify_result(io->ssl) != X509_V_OK &&
	    strstr(io->error, "certificate verify failed") != NULL) {
		size_t used = strlen(io->error);

		snprintf(io->error + used, sizeof(io->error) - used, " (%s)",
			 X509_verify_cert_error_string(
			     SSL_get_verify_result(io->ssl)));
	}
	{
		char msg[sizeof(io->error)];

		snprintf(msg, sizeof(msg), "%s", io->error);
		io_fail(io, "TLS handshake failed: %s", msg);
	}
}

bool io_tls_active(const struct io *io)
{
	return io->ssl != NULL && io->tls_ready;
}

const char *io_tls_protocol(const struct io *io)
{
	return io_tls_active(io) ? SSL_get_version(io->ssl) : NULL;
}

const char *io_tls_cipher(const struct io *io)
{
	return io_tls_active(io) ? SSL_get_cipher_name(io->ssl) : NULL;
}

int io_tls_cipher_bits(const struct io *io)
{
	return io_tls_active(io) ? SSL_get_cipher_bits(io->ssl, NULL) : 0;
}

void io_tls_describe(const struct io *io, struct buf *out)
{
	int alg_bits = 0, bits;

	if (!io_tls_active(io))
		return;
	bits = SSL_get_cipher_bits(io->ssl, &alg_bits);
	buf_printf(out, "%s with cipher %s (%d/%d bits)",
		   SSL_get_version(io->ssl), SSL_get_cipher_name(io->ssl), bits,
		   alg_bits);
}

bool io_tls_peer_verified(const struct io *io)
{
	X509 *peer;
	bool ok;

	if (!io_tls_active(io))
		return false;
	peer = SSL_get1_peer_certificate(io->ssl);
	ok = peer != NULL && SSL_get_verify_result(io->ssl) == X509_V_OK;
	X509_free(peer);
	return ok;
}
