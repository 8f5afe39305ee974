/*
 * psc-smtp.c - postscreen's own SMTP after the greeting (Postfix's
 * psc_smtpd.c): just enough of a server for the deep protocol tests.
 *   pipelining    a command arrives while an earlier one is unanswered
 *                 (PIPELINING is not announced, RFC 2920 3.1);
 *   non-SMTP      a $postscreen_forbidden_commands word or a header-like
 *                 line ("Subject:"): a web proxy or worse;
 *   bare newline  a line ends in LF without CR (RFC 5321 2.3.8).
 * Every RCPT gets 450 (or the 550 of an enforced failure), so a client
 * that passes must come back; its passes are stored when it hangs up or
 * QUITs after at least one command.
 *
 * STARTTLS (Postfix's postscreen offers it through tlsproxy(8); here
 * lib/tls does the handshake in this process): offered in EHLO when
 * postscreen_tls_security_level is may or encrypt and the listener is a
 * starttls one (the server skeleton then loaded $tls_cert_file).  The
 * fd then moves into a lib/tls io; input buffered before the handshake
 * is discarded (RFC 3207 4.2, CVE-2011-0411) and the tests go on inside
 * TLS.  Such a session is never handed to smtpd (the TLS state cannot
 * travel with the fd): it ends with the 450 as any other, and its passes
 * send the next connection to smtpd.  encrypt: MAIL before STARTTLS gets
 * 530 5.7.0, as smtpd.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "tls/io.h"

#include "psc-session.h"

/* RFC 5321 4.5.3.1.4 allows 512 octets; be lenient. */
#define PSC_LINE_MAX 4096

static const char drop_reply[] =
    "521 5.7.0 Error: I can break rules, too. Goodbye.";
static const char enforce_reply[] = "550 5.5.1 Protocol error";

static void cmd_timer_cb(struct ev *ev, struct psc_session *s)
{
	(void)ev;
	log_info("COMMAND TIME LIMIT from [%s]:%u", s->peer, s->port);
	psc_drop(s, NULL);
}

void psc_smtp_end(struct psc_session *s)
{
	EV_TIMER_DEL(s->ps->ev, cmd_timer_cb, s);
}

/* A released io: flush, close, free; nothing refers to a session. */
static void closing_cb(struct io *io, enum io_event event, void *ctx)
{
	(void)ctx;
	if (event == IO_DISCONNECTED || event == IO_ERROR ||
	    event == IO_TIMEOUT)
		io_free(&io);
}

void psc_smtp_io_release(struct psc_session *s)
{
	struct io *io = s->io;

	if (io == NULL)
		return;
	s->io = NULL;
	if (s->io_dead) {
		io_free(&io);
		return;
	}
	io_set_callback(io, closing_cb, NULL);
	io_set_timeout(io, 10 * 1000);
	io_close(io);
}

/* STARTTLS can be offered on this connection. */
static bool tls_offered(const struct psc_session *s)
{
	return s->set->tls_level != PSC_TLS_NONE &&
	       s->tls == SERVICE_TLS_STARTTLS &&
	       server_tls(s->ps->srv) != NULL;
}

void psc_smtp_start(struct psc_session *s)
{
	s->smtp = true;
	s->in = buf_new();
	/* Completes the "220-" of the pregreet test, or is the greeting. */
	if (psc_send(s, "220 %s",
		     *s->set->banner ? s->set->banner : s->set->hostname) < 0) {
		psc_drop(s, NULL);
		return;
	}
	ev_fd_set(s->ps->ev, s->fd, EV_READ, NULL);
	EV_TIMER_ADD(s->ps->ev, s->set->command_time_limit_ms, cmd_timer_cb,
		     s);
}

/* The client is gone or said QUIT: store what passed. */
static void finish(struct psc_session *s)
{
	unsigned deep = (1u << PSC_T_PIPELINING) | (1u << PSC_T_NONSMTP) |
			(1u << PSC_T_BARENL);

	if (s->commands > 0) {
		for (int t = PSC_T_PIPELINING; t < PSC_T_COUNT; t++)
			if ((s->todo & (1u << t)) && !(s->failed & (1u << t)))
				psc_mark_pass(s, (enum psc_test)t,
					      s->set->ttl[t]);
		if (s->failed == 0 && (s->todo & deep))
			log_info("PASS NEW [%s]:%u", s->peer, s->port);
	}
	psc_cache_store(s);
	psc_drop(s, NULL);
}

static bool forbidden(const struct psc_session *s, const char *word)
{
	size_t len = strlen(word);

	if (len > 0 && word[len - 1] == ':')
		return true;
	for (size_t i = 0; s->set->forbidden[i] != NULL; i++)
		if (strcasecmp(s->set->forbidden[i], word) == 0)
			return true;
	return false;
}

static bool testing(const struct psc_session *s, enum psc_test t)
{
	return (s->todo & (1u << t)) && !(s->failed & (1u << t));
}

/* A protocol test failed: false when the session is over. */
static bool deep_fail(struct psc_session *s, enum psc_test t,
		      enum psc_action a)
{
	return psc_fail(s, t, a, drop_reply, enforce_reply);
}

static void tls_cb(struct io *io, enum io_event event, void *ctx);

/*
 * STARTTLS accepted: the fd becomes a lib/tls io, the 220 goes out in
 * plaintext and the handshake follows.  Always false: the command loop
 * stops, since what was pipelined after STARTTLS is thrown away.
 */
static bool start_tls(struct psc_session *s)
{
	struct error err;
	int fd = s->fd;

	ev_fd_del(s->ps->ev, fd);
	s->fd = -1;
	s->io = io_new(s->ps->ev, fd, tls_cb, s);
	/* RFC 3207 4.2: nothing sent before the handshake counts. */
	buf_reset(s->in);
	psc_send(s, "220 2.0.0 Ready to start TLS");
	if (io_start_tls_server(s->io, server_tls(s->ps->srv), &err) < 0) {
		log_warn("STARTTLS from [%s]:%u: %s", s->peer, s->port,
			 err.msg);
		psc_drop(s, NULL);
	}
	return false;
}

/* One command line (without its line end): false when the session is
 * over.  rest: bytes after it already received. */
static bool command(struct psc_session *s, char *line, bool bare,
		    size_t rest)
{
	char word[32], text[256];
	const char *arg;
	size_t wl = strcspn(line, " \t");

	snprintf(word, sizeof(word), "%.*s", (int)(wl < 31 ? wl : 31), line);
	arg = line + wl;
	while (*arg == ' ' || *arg == '\t')
		arg++;
	if (++s->commands > s->set->command_count_limit) {
		log_info("COMMAND COUNT LIMIT from [%s]:%u", s->peer, s->port);
		psc_drop(s, "421 4.7.0 Error: too many commands");
		return false;
	}
	if (bare && testing(s, PSC_T_BARENL)) {
		log_info("BARE NEWLINE from [%s]:%u after %s", s->peer, s->port,
			 word);
		if (!deep_fail(s, PSC_T_BARENL, s->set->barenl_action))
			return false;
	}
	if (testing(s, PSC_T_NONSMTP) && forbidden(s, word)) {
		psc_escape(line, strlen(line), text, sizeof(text));
		log_info("NON-SMTP COMMAND from [%s]:%u after %s: %s", s->peer,
			 s->port, s->last[0] != '\0' ? s->last : "CONNECT",
			 text);
		if (!deep_fail(s, PSC_T_NONSMTP, s->set->nonsmtp_action))
			return false;
	}
	if (rest > 0 && testing(s, PSC_T_PIPELINING)) {
		const char *more = buf_data(s->in);
		char *nl = memchr(more, '\n', buf_len(s->in));
		size_t show = nl != NULL ? (size_t)(nl - more) + 1
					 : buf_len(s->in);
		psc_escape(more, show, text, sizeof(text));
		log_info("COMMAND PIPELINING from [%s]:%u after %s: %s",
			 s->peer, s->port, word, text);
		if (!deep_fail(s, PSC_T_PIPELINING,
			       s->set->pipelining_action))
			return false;
	}
	snprintf(s->last, sizeof(s->last), "%s", word);
	if (strcasecmp(word, "EHLO") == 0) {
		free(s->helo);
		s->helo = xstrdup(arg);
		psc_send(s, "250-%s", s->set->hostname);
		psc_send(s, "250-SIZE");
		psc_send(s, "250-8BITMIME");
		if (tls_offered(s) && s->io == NULL)
			psc_send(s, "250-STARTTLS");
		psc_send(s, "250 SMTPUTF8");
	} else if (strcasecmp(word, "STARTTLS") == 0) {
		if (!tls_offered(s))
			psc_send(s, "502 5.5.1 Error: command not implemented");
		else if (s->io != NULL)
			psc_send(s, "554 5.5.1 Error: TLS already active");
		else if (*arg != '\0')
			psc_send(s, "501 5.5.4 Syntax: STARTTLS");
		else
			return start_tls(s);
	} else if (strcasecmp(word, "MAIL") == 0 &&
		   s->set->tls_level == PSC_TLS_ENCRYPT && tls_offered(s) &&
		   s->io == NULL) {
		psc_send(s, "530 5.7.0 Must issue a STARTTLS command first");
	} else if (strcasecmp(word, "HELO") == 0) {
		free(s->helo);
		s->helo = xstrdup(arg);
		psc_send(s, "250 %s", s->set->hostname);
	} else if (strcasecmp(word, "MAIL") == 0) {
		free(s->sender);
		s->sender = xstrdup(strncasecmp(arg, "FROM:", 5) == 0
					? arg + 5
					: arg);
		psc_send(s, "250 2.1.0 Ok");
	} else if (strcasecmp(word, "RCPT") == 0) {
		const char *reply = s->reject != NULL
					? s->reject
					: "450 4.3.2 Service currently "
					  "unavailable";
		const char *to =
		    strncasecmp(arg, "TO:", 3) == 0 ? arg + 3 : arg;
		log_info("NOQUEUE: reject: RCPT from [%s]:%u: %s; from=%s, "
			 "to=%s, proto=ESMTP, helo=<%s>",
			 s->peer, s->port, reply,
			 s->sender != NULL ? s->sender : "<>", to,
			 s->helo != NULL ? s->helo : "");
		psc_send(s, "%s", reply);
	} else if (strcasecmp(word, "DATA") == 0 ||
		   strcasecmp(word, "BDAT") == 0) {
		psc_send(s, "554 5.5.1 Error: no valid recipients");
	} else if (strcasecmp(word, "RSET") == 0 ||
		   strcasecmp(word, "NOOP") == 0) {
		psc_send(s, "250 2.0.0 Ok");
	} else if (strcasecmp(word, "QUIT") == 0) {
		psc_send(s, "221 2.0.0 Bye");
		finish(s);
		return false;
	} else {
		psc_send(s, "502 5.5.2 Error: command not recognized");
	}
	if (s->write_failed) {
		psc_drop(s, NULL);
		return false;
	}
	return true;
}

static void hangup(struct psc_session *s)
{
	log_info("HANGUP after %.1f from [%s]:%u in tests after SMTP "
		 "handshake",
		 psc_elapsed(s), s->peer, s->port);
	finish(s);
}

/* New input is in s->in: answer every complete line. */
static void process_input(struct psc_session *s)
{
	EV_TIMER_DEL(s->ps->ev, cmd_timer_cb, s);
	EV_TIMER_ADD(s->ps->ev, s->set->command_time_limit_ms, cmd_timer_cb,
		     s);
	for (;;) {
		const char *d = buf_data(s->in);
		const char *nl = memchr(d, '\n', buf_len(s->in));
		if (nl == NULL)
			break;
		size_t len = (size_t)(nl - d);
		bool bare = len == 0 || d[len - 1] != '\r';
		char *line = xstrndup(d, bare ? len : len - 1);
		buf_consume(s->in, len + 1);
		bool go = command(s, line, bare, buf_len(s->in));
		free(line);
		if (!go)
			return;
	}
	if (buf_len(s->in) > PSC_LINE_MAX) {
		log_info("COMMAND LENGTH LIMIT from [%s]:%u", s->peer, s->port);
		psc_drop(s, "500 5.5.2 Error: line too long");
	}
}

void psc_smtp_io(struct psc_session *s)
{
	char data[4096];
	ssize_t n;

	do
		n = recv(s->fd, data, sizeof(data), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		hangup(s);
		return;
	}
	buf_append(s->in, data, (size_t)n);
	process_input(s);
}

/* The TLS io of a session after STARTTLS. */
static void tls_cb(struct io *io, enum io_event event, void *ctx)
{
	struct psc_session *s = ctx;
	struct buf *d;
	const char *data;
	size_t len;

	switch (event) {
	case IO_TLSREADY:
		d = buf_new();
		io_tls_describe(io, d);
		log_info("TLS connection established from [%s]:%u: %s",
			 s->peer, s->port, buf_data(d));
		buf_free(&d);
		return;
	case IO_DATAIN:
		/* Everything read, as psc_smtp_io's recv(): what is left
		 * after a line is how pipelining shows. */
		data = io_peek(io, &len);
		buf_append(s->in, data, len);
		io_consume(io, len);
		process_input(s); /* may free s */
		return;
	case IO_DISCONNECTED:
		s->io_dead = true;
		hangup(s);
		return;
	case IO_ERROR:
	case IO_TIMEOUT:
		s->io_dead = true;
		log_info("TLS %s from [%s]:%u after %s: %s",
			 event == IO_TIMEOUT ? "timeout" : "error", s->peer,
			 s->port, s->last[0] != '\0' ? s->last : "STARTTLS",
			 io_error(io));
		psc_drop(s, NULL);
		return;
	case IO_LOWAT:
	case IO_CONNECTED:
		return;
	}
}
