/*
 * imapd-session.c - one IMAP connection: io events, input framing,
 * running commands on the worker pool, output flow, the session's end.
 *
 * Input: lines come from the io (io_getline, at most imapd_max_line_
 * length) into a lib/imap parser that exists only while a command is
 * being read, so an idle session holds no parser.  Literals: "+ OK" for
 * a synchronising one, then the octets into the parser, or for an
 * APPEND message above SPOOL_MIN into an unlinked file in the user's
 * store (never into memory).  A literal over its limit is refused:
 * "NO [TOOBIG]" (APPEND) or "BAD [TOOBIG]" before any octet is read for
 * a synchronising literal; a non-synchronising one cannot be skipped
 * safely, so the session says BAD and closes (RFC 7888 section 4).
 *
 * Running: a complete command is looked up in the table and its run()
 * goes to the worker pool; input stays in the io meanwhile (the kernel
 * pushes back on a client that pipelines a lot).  run() output is
 * written when the job completes; a command that returned
 * IMAPD_CMD_MORE is run again once the io output fell below OUT_LOWAT
 * (the client is reading), so a FETCH of a whole folder never sits in
 * memory at once.
 *
 * Memory of an idle session: this struct, the io with its small
 * buffers (trimmed after big commands, see trim_buffers), the peer
 * strings, and the TLS state (OpenSSL releases its buffers when idle:
 * SSL_MODE_RELEASE_BUFFERS in lib/tls).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/worker.h"
#include "imap/imap_parser.h"
#include "tls/io.h"

#include "imapd.h"

/* Below this an APPEND message stays in memory (the parser's limit). */
#define SPOOL_MIN (64 * 1024)
/* Octets moved from the io per read while reading a literal. */
#define READ_CHUNK (64 * 1024)
/* MORE commands continue when the io has less than this queued. */
#define OUT_LOWAT (64 * 1024)
/* BAD replies in a row after which the client is disconnected. */
#define MAX_BAD 20

static void session_io(struct io *io, enum io_event event, void *ctx);
static void session_process(struct imapd_session *s);
static void session_free(struct imapd_session *s);
static void submit(struct imapd_session *s);
static void resume_cb(struct ev *ev, struct imapd_session *s);
static void trim_buffers(struct imapd_session *s);

/* Per-session parser state lives here, not in imapd.h: only the loop
 * side uses it. */
struct session_input {
	struct imap_parser *parser;
	unsigned bad; /* BAD replies in a row */
	bool wait_lowat;
	bool tls_pending;
};

/* Kept beside the session (one allocation). */
struct session_full {
	struct imapd_session s;
	struct session_input in;
};

static struct session_input *input_of(struct imapd_session *s)
{
	return &((struct session_full *)s)->in;
}

static bool is_loopback(const char *peer)
{
	return strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0 ||
	       strncmp(peer, "::ffff:127.", 11) == 0 ||
	       strcmp(peer, "unix") == 0;
}

/* "127.0.0.1:993" / "[::1]:993" -> the address alone (logs' lip=). */
static char *local_address(const char *listener)
{
	const char *colon;

	if (listener[0] == '[') {
		const char *end = strchr(listener, ']');
		if (end != NULL)
			return xstrndup(listener + 1, (size_t)(end - listener - 1));
	}
	colon = strrchr(listener, ':');
	if (colon != NULL && strchr(listener, ':') == colon)
		return xstrndup(listener, (size_t)(colon - listener));
	return xstrdup(listener);
}

static void greet(struct imapd_session *s)
{
	struct buf *b = buf_new();

	s->greeted = true;
	buf_append_str(b, "* OK [CAPABILITY ");
	imapd_capability(s, b);
	buf_append_str(b, "] Postern ready.\r\n");
	io_write(s->io, buf_data(b), buf_len(b));
	buf_free(&b);
}

void imapd_session_start(struct imapd *d, const struct server_conn *conn)
{
	struct session_full *full = xcalloc(1, sizeof(*full));
	struct imapd_session *s = &full->s;
	unsigned char rnd[6];
	struct error err;

	s->imapd = d;
	s->set = imapd_settings_ref(d->set);
	s->peer = xstrdup(conn->peer);
	s->peer_port = conn->peer_port;
	s->local = conn->local != NULL ? xstrdup(conn->local)
				       : local_address(conn->listener);
	s->implicit_tls = conn->tls == SERVICE_TLS_IMPLICIT;
	s->starttls_ok =
	    conn->tls == SERVICE_TLS_STARTTLS && imapd_tls(d) != NULL;
	/* A trusted balancer did TLS with the client (PROXY v2 SSL TLV):
	 * secured, as Dovecot does; STARTTLS then says it is active. */
	s->tls = conn->proxy_tls && !s->implicit_tls &&
		 !conf_bool(server_conf(d->srv), "imapd_tls_req_ccert");
	s->loopback = is_loopback(conn->peer);
	s->trusted = imapd_peer_trusted(d, conn->peer);
	s->state = IMAPD_STATE_NOAUTH;
	s->input = IMAPD_IN_LINE;
	s->spool_fd = -1;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	snprintf(s->id, sizeof(s->id), "%02x%02x%02x%02x%02x%02x", rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	d->sessions++;
	list_push_back(&d->session_list, &s->node);

	s->io = io_new(d->ev, conn->fd, session_io, s);
	io_set_timeout(s->io, s->set->login_timeout_ms);
	io_set_max_line(s->io, s->set->max_line);
	log_debug(LOG_TRACE_IO, "%s: connect from [%s]:%u (%s)", s->id, s->peer,
		  s->peer_port, conn->service);
	if (s->tls)
		log_info(
		    "%s: TLS via proxy [%s]:%u for [%s]: %s with cipher %s",
		    s->id, conn->proxy_peer, conn->proxy_peer_port, s->peer,
		    *conn->proxy_tls_version != '\0' ? conn->proxy_tls_version
						     : "unknown",
		    *conn->proxy_tls_cipher != '\0' ? conn->proxy_tls_cipher
						    : "unknown");
	if (s->implicit_tls) {
		input_of(s)->tls_pending = true;
		if (imapd_tls(d) == NULL ||
		    io_accept_tls(s->io, imapd_tls(d), &err) < 0) {
			log_warn("%s: TLS with [%s]: %s", s->id, s->peer,
				 imapd_tls(d) == NULL ? "no TLS context"
						      : err.msg);
			io_free(&s->io);
			s->dead = true;
			list_remove(&s->node);
			server_conn_done(d->srv);
			session_free(s);
		}
		return;
	}
	greet(s);
}

/* The connection is over: drop the io now, the rest when not busy. */
static void session_end(struct imapd_session *s, const char *why)
{
	if (s->dead)
		return;
	if (s->user != NULL)
		log_info("imap(%s): Disconnected: %s session=<%s>", s->user,
			 why != NULL ? why : "Logged out", s->id);
	else
		log_debug(LOG_TRACE_IO, "%s: disconnect from [%s]%s%s", s->id,
			  s->peer, why != NULL ? ": " : "",
			  why != NULL ? why : "");
	s->dead = true;
	list_remove(&s->node);
	imapd_idle_stop(s);
	imapd_nfy_free(s);
	io_free(&s->io);
	if (s->imapd->srv != NULL)
		server_conn_done(s->imapd->srv);
	ev_defer_cancel(s->imapd->ev, (ev_defer_fn *)(void (*)(void))resume_cb,
			s);
	/* Busy with a worker job or a delayed reply: that frees it.  A
	 * command waiting for the output to drain has nothing pending. */
	if (!s->busy || input_of(s)->wait_lowat)
		session_free(s);
}

static void session_free(struct imapd_session *s)
{
	struct imapd *d = s->imapd;
	struct session_input *in = input_of(s);

	imapd_idle_stop(s);
	imapd_nfy_free(s);
	io_free(&s->io);
	imap_parser_free(&in->parser);
	imapd_cmd_free(&s->cmd);
	buf_free(&s->delayed);
	imapd_select_free(s);
	imapd_auth_logout(s);
	free(s->saved);
	free(s->auth_tag);
	free(s->auth_response);
	free(s->idle_tag);
	free(s->peer);
	free(s->proxy_peer);
	free(s->local);
	imapd_settings_unref(&s->set);
	free(s);
	d->sessions--;
}

/* Between commands or idling: nothing is lost by closing. */
static bool session_quiet(struct imapd_session *s)
{
	return s->input == IMAPD_IN_IDLE ||
	       (s->input == IMAPD_IN_LINE &&
		(input_of(s)->parser == NULL ||
		 imap_parser_tag(input_of(s)->parser) == NULL));
}

void imapd_sessions_stop(struct imapd *d)
{
	struct list_node *n, *tmp;

	LIST_FOREACH(n, tmp, &d->session_list)
	{
		struct imapd_session *s =
		    LIST_ENTRY(n, struct imapd_session, node);

		if (s->busy || s->closing || s->io == NULL)
			continue;
		if (session_quiet(s)) {
			io_print(s->io, "* BYE Server shutting down.\r\n");
			s->closing = true;
			io_close(s->io);
		}
	}
}

void imapd_session_write(struct imapd_session *s, const char *data, size_t len)
{
	if (s->io != NULL && !s->dead)
		io_write(s->io, data, len);
}

/* Too many errors, or a stream we cannot follow: say BYE and close. */
static void session_bye(struct imapd_session *s, const char *text)
{
	if (s->io == NULL || s->closing)
		return;
	io_printf(s->io, "* BYE %s\r\n", text);
	s->closing = true;
	io_close(s->io);
}

static void reply_bad(struct imapd_session *s, const char *tag,
		      const char *status, const char *code, const char *text)
{
	struct session_input *in = input_of(s);

	if (s->io == NULL)
		return;
	io_printf(s->io, "%s %s %s%s%s%s\r\n", tag != NULL ? tag : "*",
		  tag != NULL ? status : "BAD", code != NULL ? "[" : "",
		  code != NULL ? code : "", code != NULL ? "] " : "", text);
	if (++in->bad >= MAX_BAD)
		session_bye(s, "Too many invalid IMAP commands.");
}

/* ---- Spooling APPEND literals. */

static void spool_free(void *handle)
{
	struct imapd_spool *sp = handle;

	if (sp->fd >= 0)
		close(sp->fd);
	free(sp);
}

/* An unlinked file in the user's store (same file system as the
 * folders; counted against nobody's quota until it is delivered). */
static int spool_open(struct imapd_session *s)
{
	const char *dir = s->mbox != NULL ? store_mailbox_path(s->mbox)
					  : s->imapd->mail_directory;
	char *tmpl;
	int fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	fd = open(s->imapd->mail_directory, O_TMPFILE | O_RDWR | O_CLOEXEC,
		  0600);
	if (fd >= 0)
		return fd;
	tmpl = xasprintf("%s/.imapd-spool-XXXXXX", s->imapd->mail_directory);
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd >= 0)
		unlink(tmpl);
	free(tmpl);
	return fd;
}

/* ---- Commands. */

static void dispatch(struct imapd_session *s, struct imap_command *ic)
{
	const struct imapd_command_def *def = imapd_command_find(ic->name);
	struct imapd_cmd *cmd;

	if (def == NULL) {
		reply_bad(s, ic->tag, "BAD", NULL, "Unknown command.");
		imap_command_free(&ic);
		return;
	}
	if (ic->uid && !def->uid_allowed) {
		reply_bad(s, ic->tag, "BAD", NULL,
			  "UID is not allowed with this command.");
		imap_command_free(&ic);
		return;
	}
	if ((def->states & s->state) == 0) {
		reply_bad(s, ic->tag, "BAD", NULL,
			  s->state == IMAPD_STATE_NOAUTH
			      ? "Not logged in."
			      : (s->state == IMAPD_STATE_AUTH
				     ? "No mailbox selected."
				     : "Command not allowed now."));
		imap_command_free(&ic);
		return;
	}
	input_of(s)->bad = 0;
	cmd = imapd_cmd_new(s, ic->tag, ic->name, ic->uid, def);
	imapd_cmd_take_command(cmd, ic);
	s->cmd = cmd;
	submit(s);
}

static void job_work(void *ctx)
{
	struct imapd_cmd *cmd = ctx;

	imapd_cmd_run(cmd);
}

static void job_done(void *ctx);

static void submit(struct imapd_session *s)
{
	s->busy = true;
	if (s->io != NULL)
		io_pause(s->io);
	worker_submit(s->imapd->workers, job_work, job_done, s->cmd);
}

static void delayed_cb(struct ev *ev, struct imapd_session *s);

/* The command has finished (loop thread): act on its after-bits. */
static void cmd_finished(struct imapd_session *s)
{
	struct imapd_cmd *cmd = s->cmd;
	unsigned after = imapd_cmd_after_bits(cmd);
	struct error err;

	if (after & IMAPD_AFTER_LOGIN) {
		io_set_timeout(s->io, s->set->timeout_ms);
	}
	if (after & IMAPD_AFTER_AUTH_CONT) {
		/* Keep the command: the response line runs it again. */
		s->input = IMAPD_IN_AUTH;
		return;
	}
	if (after & IMAPD_AFTER_IDLE) {
		s->input = IMAPD_IN_IDLE;
		imapd_cmd_free(&s->cmd);
		imapd_idle_start(s);
		return;
	}
	imapd_cmd_free(&s->cmd);
	if (after & IMAPD_AFTER_CLOSE) {
		s->closing = true;
		io_close(s->io);
		return;
	}
	if (after & IMAPD_AFTER_COMPRESS) {
		/* The OK is queued: io sends it uncompressed first. */
		if (io_start_deflate(s->io, &err) < 0) {
			log_warn("%s: COMPRESS: %s", s->id, err.msg);
			session_end(s, "COMPRESS failed");
			return;
		}
		s->compressed = true;
		return;
	}
	if (after & IMAPD_AFTER_STARTTLS) {
		input_of(s)->tls_pending = true;
		imap_parser_free(&input_of(s)->parser);
		if (io_start_tls_server(s->io, imapd_tls(s->imapd), &err) < 0) {
			log_warn("%s: STARTTLS: %s", s->id, err.msg);
			session_end(s, "STARTTLS failed");
		}
		return;
	}
}

static void job_done(void *ctx)
{
	struct imapd_cmd *cmd = ctx;
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct buf *out = imapd_cmd_out(cmd);
	bool internal = imapd_cmd_is_internal(cmd);

	s->busy = false;
	if (s->dead) {
		session_free(s);
		return;
	}
	if (imapd_cmd_after_bits(cmd) & IMAPD_AFTER_DELAY &&
	    s->set->failure_delay_ms > 0) {
		/* A failed login: answer later, read nothing meanwhile. */
		imapd_cmd_clear_after(cmd, IMAPD_AFTER_DELAY);
		s->delayed = buf_new();
		buf_append(s->delayed, buf_data(out), buf_len(out));
		buf_reset(out);
		s->busy = true;
		EV_TIMER_ADD(s->imapd->ev, s->set->failure_delay_ms, delayed_cb,
			     s);
		return;
	}
	io_write(s->io, buf_data(out), buf_len(out));
	buf_reset(out);
	if (imapd_cmd_result(cmd) == IMAPD_CMD_MORE) {
		if (io_outbuf_len(s->io) > OUT_LOWAT) {
			input_of(s)->wait_lowat = true;
			s->busy = true; /* until IO_LOWAT */
		} else {
			submit(s);
		}
		return;
	}
	if (internal) {
		imapd_idle_sync_done(s, cmd);
		return;
	}
	cmd_finished(s);
	if (s->dead || s->closing)
		return;
	if (s->imapd->stopping && s->cmd == NULL) {
		session_bye(s, "Server shutting down.");
		return;
	}
	EV_DEFER(s->imapd->ev, resume_cb, s);
}

static void delayed_cb(struct ev *ev, struct imapd_session *s)
{
	s->busy = false;
	if (s->dead) {
		session_free(s);
		return;
	}
	io_write(s->io, buf_data(s->delayed), buf_len(s->delayed));
	buf_free(&s->delayed);
	cmd_finished(s);
	if (!s->dead && !s->closing)
		EV_DEFER(s->imapd->ev, resume_cb, s);
}

void imapd_session_run_internal(struct imapd_session *s, imapd_cmd_fn *run)
{
	static const struct imapd_command_def def = {
	    "IDLE", IMAPD_STATE_SELECTED, false, NULL};

	if (s->busy || s->dead || s->cmd != NULL)
		return;
	s->cmd = imapd_cmd_new(s, s->idle_tag != NULL ? s->idle_tag : "*",
			       "IDLE", false, &def);
	imapd_cmd_set_internal(s->cmd, run);
	s->busy = true;
	worker_submit(s->imapd->workers, job_work, job_done, s->cmd);
}

void imapd_session_internal_done(struct imapd_session *s)
{
	imapd_cmd_free(&s->cmd);
	if (s->dead || s->closing)
		return;
	/* imapd_sessions_stop passed over it while the sync ran (IDLE's
	 * first one, or a change's): it goes now, as it would have. */
	if (s->imapd->stopping && session_quiet(s)) {
		session_bye(s, "Server shutting down.");
		return;
	}
	EV_DEFER(s->imapd->ev, resume_cb, s);
}

static void resume_cb(struct ev *ev, struct imapd_session *s)
{
	if (s->dead || s->busy)
		return;
	trim_buffers(s);
	if (s->io != NULL && !s->closing)
		io_resume(s->io);
	session_process(s);
	imapd_nfy_loop(s, input_of(s)->parser != NULL &&
			      imap_parser_tag(input_of(s)->parser) != NULL);
}

/* ---- Input. */

static struct imap_parser *parser(struct imapd_session *s)
{
	struct session_input *in = input_of(s);

	if (in->parser == NULL) {
		struct imap_parser_limits lim = {0};

		lim.max_line = s->set->max_line;
		lim.max_literal = s->set->literal_limit;
		lim.max_command = s->set->literal_limit + 4 * s->set->max_line;
		lim.max_message = s->set->append_limit;
		in->parser = imap_parser_new(&lim);
	}
	return in->parser;
}

/*
 * After IMAP_PARSE_ERROR: BAD, and the connection is closed when the
 * parser cannot stay in step with the client (a refused
 * non-synchronising literal, a literal size that does not parse: its
 * octets would run as commands).  A line over imapd_max_line_length is
 * skipped instead (long_line), as documented: the io layer drops it up to
 * its LF.
 */
static void parse_error(struct imapd_session *s, bool long_line)
{
	struct imap_parser *p = input_of(s)->parser;

	reply_bad(s, imap_parser_tag(p), "BAD", imap_parser_error_code(p),
		  imap_parser_error(p));
	s->input = IMAPD_IN_LINE;
	if (!long_line && imap_parser_error_fatal(p))
		session_bye(s, "Cannot stay in step with the client.");
}

/* A literal was announced: refuse it, or set up reading it. */
static void need_literal(struct imapd_session *s)
{
	struct imap_parser *p = input_of(s)->parser;
	struct imap_literal_info li;
	const char *name = imap_parser_command_name(p);
	const char *tag = imap_parser_tag(p);
	char *tagcopy = tag != NULL ? xstrdup(tag) : NULL;

	imap_parser_literal_info(p, &li);
	if (!li.too_big && li.message && s->state == IMAPD_STATE_NOAUTH) {
		/* No APPEND before login: refuse before any octet. */
		li.too_big = true;
		imap_parser_literal_refuse(p);
		reply_bad(s, tagcopy, "BAD", NULL, "Not logged in.");
		if (!li.sync)
			session_bye(s, "Literal refused.");
		free(tagcopy);
		return;
	}
	if (li.too_big) {
		bool message = li.message;

		imap_parser_literal_refuse(p);
		reply_bad(s, tagcopy, message ? "NO" : "BAD", "TOOBIG",
			  message ? "Message too large (APPENDLIMIT)."
				  : "Literal too large.");
		if (!li.sync)
			session_bye(s, "Non-synchronizing literal too large.");
		free(tagcopy);
		(void)name;
		return;
	}
	free(tagcopy);
	s->literal_left = li.size;
	/* A message literal is streamed from SPOOL_MIN on, and always when
	 * it would not fit the parser's max_literal (a small
	 * imapd_literal_size_limit must not cap APPEND below APPENDLIMIT). */
	if (li.message && !li.discard &&
	    (li.size >= SPOOL_MIN || li.size > s->set->literal_limit)) {
		int fd = spool_open(s);
		struct imapd_spool *sp;

		if (fd < 0) {
			log_warn("%s: APPEND spool file: %s", s->id,
				 strerror(errno));
			imap_parser_literal_refuse(p);
			reply_bad(s, imap_parser_tag(p), "NO", "SERVERBUG",
				  "Cannot store the message now.");
			if (!li.sync)
				session_bye(s, "Internal error.");
			return;
		}
		sp = xcalloc(1, sizeof(*sp));
		sp->fd = fd;
		s->spool_fd = fd; /* borrowed: the parser's handle owns it */
		imap_parser_literal_stream(p, sp, spool_free);
	} else {
		s->spool_fd = -1;
	}
	if (li.sync)
		io_print(s->io, "+ OK\r\n");
	/* "{0}": nothing to read; the parser takes the next line as is
	 * (literal_input would wait for octets that never come). */
	s->input = li.size > 0 ? IMAPD_IN_LITERAL : IMAPD_IN_LINE;
	if (li.size == 0)
		s->spool_fd = -1;
}

static void handle_result(struct imapd_session *s, enum imap_parse_result r)
{
	struct imap_parser *p = input_of(s)->parser;

	switch (r) {
	case IMAP_PARSE_DONE:
		s->input = IMAPD_IN_LINE;
		dispatch(s, imap_parser_take(p));
		return;
	case IMAP_PARSE_NEED_LITERAL:
		need_literal(s);
		return;
	case IMAP_PARSE_ERROR:
		parse_error(s, false);
		return;
	}
}

/* Literal octets: into the spool file or the parser.  False when none
 * are buffered. */
static bool literal_input(struct imapd_session *s)
{
	struct buf *b = buf_new_size(READ_CHUNK);
	size_t want =
	    s->literal_left < READ_CHUNK ? (size_t)s->literal_left : READ_CHUNK;
	size_t n = io_read_bytes(s->io, b, want);

	if (n == 0) {
		buf_free(&b);
		return false;
	}
	if (s->spool_fd >= 0) {
		const char *data = buf_data(b);
		size_t off = 0;

		while (off < n) {
			ssize_t w = write(s->spool_fd, data + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				/* Keep reading to stay in sync; the APPEND
				 * sees a short file and says NO. */
				log_warn("%s: APPEND spool write: %s", s->id,
					 strerror(errno));
				break;
			}
			off += (size_t)w;
		}
	} else {
		imap_parser_feed_literal(input_of(s)->parser, buf_data(b), n);
	}
	buf_free(&b);
	s->literal_left -= n;
	if (s->literal_left == 0) {
		s->spool_fd = -1;
		s->input = IMAPD_IN_LINE;
	}
	return true;
}

static void line_input(struct imapd_session *s, const char *line, size_t len)
{
	switch (s->input) {
	case IMAPD_IN_AUTH:
		s->input = IMAPD_IN_LINE;
		free(s->auth_response);
		s->auth_response = xmemdup(line, len + 1);
		submit(s);
		return;
	case IMAPD_IN_IDLE:
		imapd_idle_line(s, line);
		return;
	default:
		handle_result(s, imap_parser_feed_line(parser(s), line, len));
		return;
	}
}

static bool input_blocked(const struct imapd_session *s)
{
	return s->busy || s->dead || s->closing || s->io == NULL ||
	       input_of((struct imapd_session *)s)->tls_pending;
}

static void session_process(struct imapd_session *s)
{
	while (!input_blocked(s)) {
		char *line;
		size_t len;
		enum io_line_result r;

		if (s->input == IMAPD_IN_LITERAL) {
			if (!literal_input(s))
				break;
			continue;
		}
		r = io_getline(s->io, &line, &len);
		if (r == IO_LINE_NONE)
			break;
		if (r == IO_LINE_TOO_LONG) {
			if (s->input == IMAPD_IN_LINE) {
				imap_parser_line_too_long(parser(s));
				parse_error(s, true);
			} else {
				reply_bad(s, NULL, "BAD", NULL,
					  "Line too long.");
			}
			continue;
		}
		line_input(s, line, len);
	}
}

/* After a big command: give back the memory its buffers grew to. */
static void trim_buffers(struct imapd_session *s)
{
	struct session_input *in = input_of(s);

	if (s->cmd == NULL && in->parser != NULL && s->input == IMAPD_IN_LINE &&
	    !in->wait_lowat) {
		/* The parser is only kept while a command is half read. */
		if (imap_parser_tag(in->parser) == NULL)
			imap_parser_free(&in->parser);
	}
	if (s->io != NULL && s->cmd == NULL)
		io_trim(s->io);
}

/* ---- Events. */

static void session_io(struct io *io, enum io_event event, void *ctx)
{
	struct imapd_session *s = ctx;
	struct session_input *in = input_of(s);

	switch (event) {
	case IO_DATAIN:
		session_process(s);
		return;
	case IO_LOWAT:
		if (in->wait_lowat && !s->dead) {
			in->wait_lowat = false;
			s->busy = false;
			submit(s);
			return;
		}
		if (s->cmd == NULL && !s->busy)
			trim_buffers(s);
		return;
	case IO_CONNECTED:
		return;
	case IO_TLSREADY:
		in->tls_pending = false;
		s->tls = true;
		log_debug(LOG_TRACE_IO,
			  "%s: TLS established with [%s]: %s with "
			  "cipher %s",
			  s->id, s->peer, io_tls_protocol(io),
			  io_tls_cipher(io));
		if (s->implicit_tls && s->state == IMAPD_STATE_NOAUTH &&
		    s->cmd == NULL && !s->busy && s->input == IMAPD_IN_LINE &&
		    in->parser == NULL && !s->greeted) {
			greet(s);
		}
		session_process(s);
		return;
	case IO_TIMEOUT:
		if (s->io != NULL && !io_tls_active(io) && !in->tls_pending) {
			static const char bye[] =
			    "* BYE Disconnected for inactivity.\r\n";
			if (write(io_fd(io), bye, sizeof(bye) - 1) < 0)
				log_debug(LOG_TRACE_IO, "%s: BYE: %m", s->id);
		}
		session_end(s, "Inactivity");
		return;
	case IO_DISCONNECTED:
		session_end(s, s->closing ? NULL : "Connection closed");
		return;
	case IO_ERROR:
		/* A refused handshake (a client certificate required by
		 * imapd_tls_req_ccert, a protocol mismatch) is worth a line
		 * even before login, as Dovecot's imap-login logs it. */
		if (s->user == NULL && !io_tls_active(io) &&
		    strncmp(io_error(io), "TLS handshake failed", 20) == 0)
			log_info("imap-login: Disconnected: %s (no auth "
				 "attempts): rip=%s, session=<%s>",
				 io_error(io), s->peer, s->id);
		session_end(s, io_error(io));
		return;
	}
}
