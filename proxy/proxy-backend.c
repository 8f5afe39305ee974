/*
 * proxy-backend.c - connect to the user's backend and log in there.
 *
 * After the backend's greeting the proxy pipelines two commands, as
 * Dovecot's imap proxy does:
 *   P1 ID ("x-originating-ip" ... "x-session-id" ...)   the client's
 *      address and ports and our session id, which imapd believes only
 *      from imapd_trusted_networks;
 *   P2 AUTHENTICATE PLAIN <base64>    the client's own credentials
 *      (SASL-IR, one line: no quoting or literal questions whatever
 *      the password holds).
 * The tagged answer to P2 goes to the client under its own tag (the OK
 * carries the backend's CAPABILITY); after an OK the session is relayed
 * byte for byte.  A backend that cannot be reached, or hangs, gives the
 * client NO [UNAVAILABLE] and the session stays in the not-authenticated
 * state, as Dovecot answers.  So does one whose certificate does not
 * verify (proxy_backend_tls_verify: chain against
 * proxy_backend_tls_CAfile, name = the backend's host as written); the
 * log line says "connect(HOST:PORT) failed: TLS handshake failed: ...
 * certificate verify failed ...".
 */
#include <stdlib.h>
#include <string.h>

#include "auth/sasl_plain.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/net.h"
#include "tls/io.h"

#include "proxy.h"

static void back_fail(struct psess *s, const char *why)
{
	log_warn("imap-login: proxy(%s): connect(%s) failed: %s, rip=%s, "
		 "session=<%s>",
		 s->user, s->backend, why, s->peer, s->id);
	sasl_secret_free(&s->password);
	io_free(&s->bio);
	s->state = PSESS_PREAUTH;
	psess_reply(s, "%s NO [UNAVAILABLE] Account is temporarily "
		       "unavailable.\r\n",
		    s->tag);
	io_resume(s->cio);
}

static void send_login(struct psess *s)
{
	char *b64 = sasl_plain_encode(s->user, s->password);

	/* The client's address is text we made (net_sockaddr_str), so it
	 * needs no quoting. */
	io_printf(s->bio,
		  "P1 ID (\"x-originating-ip\" \"%s\" \"x-originating-port\" "
		  "\"%u\" \"x-connected-ip\" \"%s\" \"x-connected-port\" "
		  "\"%u\" \"x-session-id\" \"%s\")\r\n"
		  "P2 AUTHENTICATE PLAIN %s\r\n",
		  s->peer, s->peer_port, s->local, s->local_port, s->id, b64);
	sasl_secret_free(&b64);
	sasl_secret_free(&s->password);
	s->bstate = PBACK_LOGIN;
}

static void back_lines(struct psess *s)
{
	char *line;
	size_t len;

	while (s->bio != NULL && s->state == PSESS_BACKEND) {
		switch (io_getline(s->bio, &line, &len)) {
		case IO_LINE_NONE:
			return;
		case IO_LINE_TOO_LONG:
			back_fail(s, "line too long");
			return;
		case IO_LINE_OK:
			break;
		}
		if (s->bstate == PBACK_GREETING) {
			if (strncmp(line, "* OK", 4) != 0) {
				back_fail(s, "bad greeting");
				return;
			}
			send_login(s);
			continue;
		}
		/* PBACK_LOGIN: untagged data and P1's answer are ours. */
		if (strncmp(line, "P2 ", 3) != 0)
			continue;
		if (strncmp(line + 3, "OK", 2) == 0) {
			log_info("imap-login: proxy(%s): started proxying to "
				 "%s: rip=%s, lip=%s%s, session=<%s>",
				 s->user, s->backend, s->peer, s->local,
				 s->tls ? ", TLS" : "", s->id);
			psess_reply(s, "%s %s\r\n", s->tag, line + 3);
			psess_relay_start(s);
			return;
		}
		/* The backend refused what passdb accepted: pass its NO on
		 * (a backend whose database lags, say). */
		log_warn("imap-login: proxy(%s): backend %s refused the login: "
			 "%.200s, session=<%s>",
			 s->user, s->backend, line + 3, s->id);
		io_free(&s->bio);
		s->state = PSESS_PREAUTH;
		psess_reply(s, "%s NO [UNAVAILABLE] Account is temporarily "
			       "unavailable.\r\n",
			    s->tag);
		io_resume(s->cio);
		return;
	}
}

static void backend_io(struct io *io, enum io_event event, void *ctx)
{
	struct psess *s = ctx;
	struct error err;

	switch (event) {
	case IO_CONNECTED:
		if (s->proxy->set.backend_tls &&
		    s->proxy->backend_tls != NULL) {
			char host[256];

			/* With proxy_backend_tls_verify the certificate must
			 * match the host as written (name or IP address); a
			 * failure ends the handshake: IO_ERROR below. */
			if (!pback_host(s->backend, host, sizeof(host)))
				back_fail(s, "bad backend address");
			else if (io_connect_tls(s->bio, s->proxy->backend_tls,
						host, &err) < 0)
				back_fail(s, err.msg);
			return;
		}
		s->bstate = PBACK_GREETING;
		return;
	case IO_TLSREADY:
		s->bstate = PBACK_GREETING;
		back_lines(s);
		return;
	case IO_DATAIN:
		back_lines(s);
		return;
	case IO_LOWAT:
		return;
	case IO_TIMEOUT:
		back_fail(s, "timed out");
		return;
	case IO_DISCONNECTED:
		back_fail(s, "connection closed");
		return;
	default:
		back_fail(s, io_error(io));
		return;
	}
}

bool pback_host(const char *backend, char *out, size_t size)
{
	struct net_addr addr;
	struct error err;

	if (net_parse_addr(backend, &addr, &err) < 0 ||
	    addr.family != NET_TCP || strlen(addr.host) >= size)
		return false;
	memcpy(out, addr.host, strlen(addr.host) + 1);
	return true;
}

void pback_start(struct psess *s)
{
	struct net_addr addr;
	struct error err;
	int fd;

	s->state = PSESS_BACKEND;
	s->bstate = PBACK_CONNECTING;
	io_pause(s->cio);
	if (net_parse_addr(s->backend, &addr, &err) < 0 ||
	    (fd = net_connect(&addr, &err)) < 0) {
		back_fail(s, err.msg);
		return;
	}
	s->bio = io_new_connect(s->proxy->ev, fd, backend_io, s);
	io_set_timeout(s->bio, s->proxy->set.connect_timeout_ms);
	io_set_max_line(s->bio, 65536);
}
