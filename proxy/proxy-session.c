/*
 * proxy-session.c - the client side: IMAP up to the login (greeting,
 * CAPABILITY, STARTTLS, ID, NOOP, LOGOUT, LOGIN, AUTHENTICATE PLAIN with
 * SASL-IR), the password check on the worker, then the relay.
 *
 * Plaintext logins are refused before TLS unless imapd_plaintext_loopback
 * allows them from loopback, as imapd does.  Failed logins are answered
 * after auth_failure_delay and throttled per client address and per user
 * (auth/throttle.h); a wrong password never reaches a backend.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "auth/login_log.h"
#include "auth/passdb.h"
#include "auth/proxy_backend.h"
#include "auth/sasl_plain.h"
#include "auth/throttle.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/worker.h"
#include "imap/imap_parser.h"
#include "mail/address.h"
#include "tls/io.h"

#include "proxy.h"

#define MAX_SESSION_FAILURES 3
/* Relay back-pressure: stop reading one side while the other has this
 * much output queued. */
#define RELAY_HIGH_WATER (1024 * 1024)
/* A LOGIN or AUTHENTICATE line has no business being longer. */
#define PREAUTH_MAX_LITERAL 8192

static void client_io(struct io *io, enum io_event event, void *ctx);
static void read_input(struct psess *s);

static void delay_done(struct ev *ev, struct psess *s);

static void psess_free(struct psess *s)
{
	struct proxy *p = s->proxy;

	EV_TIMER_DEL(p->ev, delay_done, s);
	io_free(&s->cio);
	io_free(&s->bio);
	imap_parser_free(&s->parser);
	buf_free(&s->delayed);
	sasl_secret_free(&s->password);
	free(s->tag);
	free(s->user);
	free(s->method);
	free(s->backend);
	free(s->peer);
	free(s->local);
	free(s);
	p->sessions--;
	server_conn_done(p->srv);
}

void psess_end(struct psess *s, const char *why)
{
	if (s->dead)
		return;
	if (s->state == PSESS_RELAY)
		log_info("imap-login: proxy(%s): disconnecting %s: %s "
			 "session=<%s>",
			 s->user, s->peer, why, s->id);
	else
		log_debug(LOG_TRACE_IO, "%s: disconnect from [%s]: %s", s->id,
			  s->peer, why);
	s->dead = true;
	list_remove(&s->node);
	io_free(&s->cio);
	io_free(&s->bio);
	if (!s->busy)
		psess_free(s);
}

void psess_stop_all(struct proxy *p)
{
	struct list_node *n, *tmp;

	LIST_FOREACH(n, tmp, &p->session_list)
	{
		struct psess *s = LIST_ENTRY(n, struct psess, node);

		if (s->state == PSESS_PREAUTH && !s->closing && !s->delay) {
			s->closing = true;
			io_print(s->cio, "* BYE Server shutting down.\r\n");
			io_close(s->cio);
		} else if (s->state == PSESS_RELAY) {
			psess_end(s, "Server shutting down");
		}
	}
}

void psess_reply(struct psess *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (s->delay) {
		if (s->delayed == NULL)
			s->delayed = buf_new();
		buf_vprintf(s->delayed, fmt, ap);
	} else {
		io_vprintf(s->cio, fmt, ap);
	}
	va_end(ap);
}

static bool login_allowed(const struct psess *s)
{
	return s->tls || (s->loopback && s->proxy->set.plaintext_loopback);
}

static void capability(const struct psess *s, struct buf *out)
{
	buf_append_str(out, "IMAP4rev1 SASL-IR ID LITERAL+");
	if (s->starttls_ok && !s->tls)
		buf_append_str(out, " STARTTLS");
	buf_append_str(out, login_allowed(s) ? " AUTH=PLAIN" : " LOGINDISABLED");
}

static void greet(struct psess *s)
{
	struct buf *b = buf_new();

	buf_append_str(b, "* OK [CAPABILITY ");
	capability(s, b);
	buf_append_str(b, "] Postern proxy ready.\r\n");
	io_write(s->cio, buf_data(b), buf_len(b));
	buf_free(&b);
}

static bool is_loopback(const char *peer)
{
	return strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0 ||
	       strncmp(peer, "::ffff:127.", 11) == 0 ||
	       strcmp(peer, "unix") == 0;
}

void psess_start(struct proxy *p, const struct server_conn *conn)
{
	struct psess *s = xcalloc(1, sizeof(*s));
	struct imap_parser_limits lim = {.max_line = p->set.max_line,
					 .max_literal = PREAUTH_MAX_LITERAL};
	unsigned char rnd[6];
	const char *colon = strrchr(conn->listener, ':');
	struct error err;

	s->proxy = p;
	s->peer = xstrdup(conn->peer);
	s->peer_port = conn->peer_port;
	if (colon != NULL) {
		s->local = xstrndup(conn->listener,
				    (size_t)(colon - conn->listener));
		s->local_port = (unsigned)atoi(colon + 1);
	} else {
		s->local = xstrdup(conn->listener);
	}
	if (s->local[0] == '[') {
		memmove(s->local, s->local + 1, strlen(s->local));
		s->local[strcspn(s->local, "]")] = '\0';
	}
	if (conn->local != NULL) {
		/* Behind a PROXY protocol balancer: the address the client
		 * reached, from the header. */
		free(s->local);
		s->local = xstrdup(conn->local);
		s->local_port = conn->local_port;
	}
	s->implicit_tls = conn->tls == SERVICE_TLS_IMPLICIT;
	/* The balancer did TLS with the client (PROXY v2 SSL TLV). */
	s->tls = conn->proxy_tls && !s->implicit_tls;
	s->starttls_ok =
	    conn->tls == SERVICE_TLS_STARTTLS && server_tls(p->srv) != NULL;
	s->loopback = is_loopback(conn->peer);
	s->state = PSESS_PREAUTH;
	s->parser = imap_parser_new(&lim);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	snprintf(s->id, sizeof(s->id), "%02x%02x%02x%02x%02x%02x", rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	if (s->tls)
		log_info(
		    "%s: TLS via proxy [%s]:%u for [%s]: %s with cipher %s",
		    s->id, conn->proxy_peer, conn->proxy_peer_port, s->peer,
		    *conn->proxy_tls_version != '\0' ? conn->proxy_tls_version
						     : "unknown",
		    *conn->proxy_tls_cipher != '\0' ? conn->proxy_tls_cipher
						    : "unknown");
	p->sessions++;
	list_push_back(&p->session_list, &s->node);
	s->cio = io_new(p->ev, conn->fd, client_io, s);
	io_set_timeout(s->cio, p->set.login_timeout_ms);
	io_set_max_line(s->cio, p->set.max_line);
	if (s->implicit_tls) {
		if (server_tls(p->srv) == NULL ||
		    io_accept_tls(s->cio, server_tls(p->srv), &err) < 0) {
			log_warn("%s: TLS with [%s]: %s", s->id, s->peer,
				 server_tls(p->srv) == NULL ? "no TLS context"
							    : err.msg);
			psess_end(s, "TLS failed");
		}
		return;
	}
	greet(s);
}

/* ---- relay ---------------------------------------------------------- */

static void relay(struct psess *s, struct io *from, struct io *to)
{
	size_t len;
	const char *data = io_peek(from, &len);

	if (len > 0) {
		io_write(to, data, len);
		io_consume(from, len);
	}
	if (io_outbuf_len(to) > RELAY_HIGH_WATER)
		io_pause(from);
}

static void backend_relay_io(struct io *io, enum io_event event, void *ctx)
{
	struct psess *s = ctx;

	switch (event) {
	case IO_DATAIN:
		relay(s, s->bio, s->cio);
		break;
	case IO_LOWAT:
		io_resume(s->cio);
		break;
	case IO_DISCONNECTED:
		/* Let the client read the backend's last words (BYE). */
		io_free(&s->bio);
		io_close(s->cio);
		break;
	default:
		psess_end(s, event == IO_TIMEOUT ? "Disconnected for inactivity"
						 : "backend connection error");
		break;
	}
}

void psess_relay_start(struct psess *s)
{
	s->state = PSESS_RELAY;
	io_set_callback(s->bio, backend_relay_io, s);
	io_set_timeout(s->cio, s->proxy->set.timeout_ms);
	io_set_timeout(s->bio, s->proxy->set.timeout_ms);
	/* Commands the client pipelined after its login go on too. */
	io_resume(s->cio);
	if (io_inbuf_len(s->cio) > 0)
		relay(s, s->cio, s->bio);
	if (io_inbuf_len(s->bio) > 0)
		relay(s, s->bio, s->cio);
}

/* ---- login ---------------------------------------------------------- */

static void delay_done(struct ev *ev, struct psess *s)
{
	s->delay = false;
	if (s->delayed != NULL) {
		io_write(s->cio, buf_data(s->delayed), buf_len(s->delayed));
		buf_reset(s->delayed);
	}
	if (s->failures >= MAX_SESSION_FAILURES || s->proxy->stopping) {
		s->closing = true;
		io_close(s->cio);
		return;
	}
	io_resume(s->cio);
}

static void log_attempt(struct psess *s, const char *what, const char *user)
{
	login_log(what, user, s->method, s->peer, s->local, s->tls, s->id);
}

/* Worker: the password, then the backend. */
static void check_work(void *ctx)
{
	struct psess *s = ctx;
	struct proxy *p = s->proxy;
	struct passdb_opts opts = {.default_scheme = p->set.default_scheme,
				   .upgrade = p->set.password_upgrade};
	struct buf *norm = buf_new(), *backend = buf_new();
	struct error err;
	int r;

	r = passdb_verify_split(p->read_db, p->db, s->user, s->password, &opts,
				&err);
	if (r == 1) {
		if (address_normalize(s->user,
				      ADDRESS_IDN | ADDRESS_LOWER_LOCAL, norm,
				      NULL) < 0)
			buf_set_str(norm, s->user);
		r = proxy_backend_lookup(p->read_db, p->backends,
					 buf_data(norm), backend, &err);
		if (r == 0) {
			r = -1;
			error_set(&err, ERR_TEMP, "no backend for %s",
				  buf_data(norm));
		}
		if (r == 1) {
			free(s->user);
			s->user = buf_steal(norm);
			free(s->backend); /* of an earlier try */
			s->backend = buf_steal(backend);
		}
	}
	s->check_result = r;
	if (r < 0)
		str_copy(s->check_error, err.msg, sizeof(s->check_error));
	buf_free(&norm);
	buf_free(&backend);
}

static void check_done(void *ctx)
{
	struct psess *s = ctx;
	struct proxy *p = s->proxy;
	char *ipkey, *userkey;
	time_t now = time(NULL);

	s->busy = false;
	if (s->dead) {
		psess_free(s);
		return;
	}
	ipkey = xasprintf("ip:%s", s->peer);
	userkey = xasprintf("user:%s", s->user);
	if (s->check_result == 1) {
		auth_throttle_success(p->throttle, userkey);
		/* The password stays in memory until the backend login
		 * is sent (pback_start wipes it). */
		pback_start(s);
		goto out;
	}
	s->state = PSESS_PREAUTH;
	if (s->check_result < 0) {
		log_warn("imap-login: %s: %s", s->peer, s->check_error);
		psess_reply(s, "%s NO [UNAVAILABLE] Temporary authentication "
			       "failure.\r\n",
			    s->tag);
		sasl_secret_free(&s->password);
		io_resume(s->cio);
		goto out;
	}
	auth_throttle_failure(p->throttle, ipkey, now);
	auth_throttle_failure(p->throttle, userkey, now);
	log_attempt(s, "Login failed", s->user);
	sasl_secret_free(&s->password);
	s->delay = true;
	psess_reply(s, "%s NO [AUTHENTICATIONFAILED] Authentication "
		       "failed.\r\n",
		    s->tag);
	if (++s->failures >= MAX_SESSION_FAILURES)
		psess_reply(s, "* BYE Too many invalid logins.\r\n");
	EV_TIMER_ADD(p->ev, p->set.failure_delay_ms, delay_done, s);
out:
	free(ipkey);
	free(userkey);
}

static void start_check(struct psess *s, const char *tag, const char *user,
			const char *password, const char *method)
{
	struct proxy *p = s->proxy;
	char *ipkey = xasprintf("ip:%s", s->peer);
	char *userkey = xasprintf("user:%s", user);
	bool blocked = auth_throttle_blocked(p->throttle, ipkey, time(NULL)) ||
		       auth_throttle_blocked(p->throttle, userkey, time(NULL));

	free(ipkey);
	free(userkey);
	free(s->tag);
	s->tag = xstrdup(tag);
	free(s->method);
	s->method = xstrdup(method);
	free(s->user);
	s->user = xstrdup(user);
	if (blocked) {
		log_attempt(s, "Aborted login (too many failures)", user);
		psess_reply(s, "%s NO [UNAVAILABLE] Too many failed logins, "
			       "try again later.\r\n",
			    tag);
		return;
	}
	sasl_secret_free(&s->password);
	s->password = xstrdup(password);
	s->state = PSESS_CHECKING;
	s->busy = true;
	io_pause(s->cio);
	worker_submit(p->workers, check_work, check_done, s);
}

/* PLAIN (RFC 4616, auth/sasl_plain.h). */
static void auth_plain(struct psess *s, const char *tag, const char *b64)
{
	char *user, *pass;

	switch (sasl_plain_decode(b64, &user, &pass)) {
	case SASL_PLAIN_BAD_BASE64:
		psess_reply(s, "%s BAD Invalid base64 data.\r\n", tag);
		return;
	case SASL_PLAIN_BAD_MESSAGE:
		psess_reply(s, "%s BAD Invalid PLAIN response.\r\n", tag);
		return;
	case SASL_PLAIN_AUTHZID:
		psess_reply(s, "%s NO [AUTHORIZATIONFAILED] Proxy login "
			       "not allowed.\r\n",
			    tag);
		return;
	case SASL_PLAIN_OK:
		break;
	}
	start_check(s, tag, user, pass, "PLAIN");
	sasl_secret_free(&pass);
	free(user);
}

static void auth_response(struct psess *s, const char *line)
{
	char *tag = s->tag;

	s->tag = NULL;
	s->state = PSESS_PREAUTH;
	if (sasl_response_cancelled(line))
		psess_reply(s, "%s BAD Authentication aborted by client.\r\n",
			    tag);
	else
		auth_plain(s, tag, line);
	free(tag);
}

static void cmd_id(struct psess *s, const char *tag)
{
	psess_reply(s, "* ID (\"name\" \"Postern\" \"vendor\" \"Postern\" "
		       "\"x-proxy\" \"yes\")\r\n%s OK ID completed.\r\n",
		    tag);
}

/* Before TLS (unless imapd_plaintext_loopback): answered, true. */
static bool refuse_plaintext(struct psess *s, const char *tag)
{
	if (login_allowed(s))
		return false;
	psess_reply(s, "%s NO [PRIVACYREQUIRED] Plaintext authentication "
		       "disallowed on non-secure (SSL/TLS) connections.\r\n",
		    tag);
	return true;
}

static void run_command(struct psess *s, struct imap_command *cmd)
{
	const struct imap_arg *args = cmd->args;
	const char *tag = cmd->tag, *name = cmd->name, *a, *b;
	struct error err;

	if (strcmp(name, "CAPABILITY") == 0) {
		struct buf *c = buf_new();

		capability(s, c);
		psess_reply(s, "* CAPABILITY %s\r\n%s OK Capability "
			       "completed.\r\n",
			    buf_data(c), tag);
		buf_free(&c);
	} else if (strcmp(name, "NOOP") == 0) {
		psess_reply(s, "%s OK NOOP completed.\r\n", tag);
	} else if (strcmp(name, "LOGOUT") == 0) {
		psess_reply(s, "* BYE Logging out.\r\n%s OK Logout "
			       "completed.\r\n",
			    tag);
		s->closing = true;
		io_close(s->cio);
	} else if (strcmp(name, "ID") == 0) {
		cmd_id(s, tag);
	} else if (strcmp(name, "STARTTLS") == 0) {
		if (s->tls || !s->starttls_ok) {
			psess_reply(s, "%s BAD %s\r\n", tag,
				    s->tls ? "TLS is already active."
					   : "TLS support isn't enabled.");
			return;
		}
		psess_reply(s, "%s OK Begin TLS negotiation now.\r\n", tag);
		if (io_start_tls_server(s->cio, server_tls(s->proxy->srv),
					&err) < 0)
			psess_end(s, err.msg);
	} else if (strcmp(name, "LOGIN") == 0) {
		if (!imap_arg_get_astring(&args[0], &a) ||
		    !imap_arg_get_astring(&args[1], &b) ||
		    !imap_arg_is_eol(&args[2])) {
			psess_reply(s, "%s BAD Invalid arguments: LOGIN user "
				       "password.\r\n",
				    tag);
			return;
		}
		if (refuse_plaintext(s, tag))
			return;
		start_check(s, tag, a, b, "PLAIN");
	} else if (strcmp(name, "AUTHENTICATE") == 0) {
		if (!imap_arg_get_atom(&args[0], &a) ||
		    strcasecmp(a, "PLAIN") != 0) {
			psess_reply(s, "%s NO Unsupported authentication "
				       "mechanism.\r\n",
				    tag);
			return;
		}
		if (refuse_plaintext(s, tag))
			return;
		if (imap_arg_get_atom(&args[1], &b)) {
			/* SASL-IR (RFC 4959): "=" is an empty response. */
			auth_plain(s, tag, sasl_initial_response(b));
			return;
		}
		free(s->tag);
		s->tag = xstrdup(tag);
		s->state = PSESS_AUTH_CONT;
		psess_reply(s, "+ \r\n");
	} else {
		psess_reply(s, "%s BAD Command not permitted before "
			       "login.\r\n",
			    tag);
	}
}

static void parsed(struct psess *s, enum imap_parse_result r)
{
	struct imap_literal_info li;
	struct imap_command *cmd;
	const char *tag;

	switch (r) {
	case IMAP_PARSE_NEED_LITERAL:
		imap_parser_literal_info(s->parser, &li);
		if (li.too_big) {
			parsed(s, imap_parser_literal_refuse(s->parser));
			return;
		}
		if (li.sync)
			psess_reply(s, "+ OK\r\n");
		s->in_literal = true;
		return;
	case IMAP_PARSE_ERROR:
		tag = imap_parser_tag(s->parser);
		psess_reply(s, "%s BAD %s%s%s%s\r\n", tag != NULL ? tag : "*",
			    imap_parser_error_code(s->parser) ? "[" : "",
			    imap_parser_error_code(s->parser)
				? imap_parser_error_code(s->parser)
				: "",
			    imap_parser_error_code(s->parser) ? "] " : "",
			    imap_parser_error(s->parser));
		if (imap_parser_error_fatal(s->parser)) {
			s->closing = true;
			io_close(s->cio);
		}
		return;
	case IMAP_PARSE_DONE:
		cmd = imap_parser_take(s->parser);
		run_command(s, cmd);
		imap_command_free(&cmd);
		return;
	}
}

static void read_input(struct psess *s)
{
	char *line;
	size_t len;

	while (s->cio != NULL && !s->dead && !s->closing &&
	       (s->state == PSESS_PREAUTH || s->state == PSESS_AUTH_CONT) &&
	       !s->delay) {
		if (s->in_literal) {
			const char *data = io_peek(s->cio, &len);
			uint64_t left = imap_parser_literal_remaining(s->parser);
			size_t n;

			if (len == 0)
				return;
			n = imap_parser_feed_literal(
			    s->parser, data, len < left ? len : (size_t)left);
			io_consume(s->cio, n);
			if (imap_parser_literal_remaining(s->parser) > 0)
				return;
			s->in_literal = false;
			continue;
		}
		switch (io_getline(s->cio, &line, &len)) {
		case IO_LINE_NONE:
			return;
		case IO_LINE_TOO_LONG:
			parsed(s, imap_parser_line_too_long(s->parser));
			continue;
		case IO_LINE_OK:
			break;
		}
		if (s->state == PSESS_AUTH_CONT)
			auth_response(s, line);
		else
			parsed(s, imap_parser_feed_line(s->parser, line, len));
	}
	if (s->delay && s->cio != NULL)
		io_pause(s->cio);
}

static void client_io(struct io *io, enum io_event event, void *ctx)
{
	struct psess *s = ctx;

	switch (event) {
	case IO_TLSREADY:
		s->tls = true;
		if (s->implicit_tls && s->state == PSESS_PREAUTH)
			greet(s);
		read_input(s);
		break;
	case IO_DATAIN:
		if (s->state == PSESS_RELAY)
			relay(s, s->cio, s->bio);
		else if (s->state == PSESS_PREAUTH ||
			 s->state == PSESS_AUTH_CONT)
			read_input(s);
		else
			io_pause(s->cio);
		break;
	case IO_LOWAT:
		if (s->state == PSESS_RELAY && s->bio != NULL)
			io_resume(s->bio);
		break;
	case IO_DISCONNECTED:
		psess_end(s, "Disconnected");
		break;
	case IO_TIMEOUT:
		psess_end(s, "Disconnected for inactivity");
		break;
	default:
		psess_end(s, io_error(io));
		break;
	}
}
