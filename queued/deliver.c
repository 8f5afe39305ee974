/*
 * deliver - the LMTP client of postern-queued (RFC 2033): LHLO, MAIL,
 * one RCPT per recipient, DATA, then one reply per accepted recipient.
 * Connections are kept idle for a while and reused by the next message,
 * as Postfix's LMTP client does with connection caching.
 *
 * Commands go in lock-step (one reply before the next command): on a
 * local socket the round trip is microseconds, and the state machine
 * stays simple enough to be obviously right.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "core/list.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "smtp/smtp_reply.h"
#include "tls/io.h"

#include "queued.h"

#define LMTP_TIMEOUT_MS (300 * 1000)
#define LMTP_IDLE_MS (10 * 1000)
#define BODY_CHUNK (64 * 1024)
#define BODY_HIGH_WATER (256 * 1024)

enum cstate {
	C_CONNECTING,
	C_GREETING,
	C_LHLO,
	C_IDLE,
	C_MAIL,
	C_RCPT,
	C_DATA,
	C_BODY,
	C_DOT,
	C_RSET,
	C_QUIT,
};

struct job;

struct lmtp_conn {
	struct lmtp_pool *pool;
	struct io *io;
	struct smtp_reply_parser *parser;
	enum cstate state;
	bool reused;  /* has served a message before */
	bool in_idle; /* linked in pool->idle */
	bool in_cb;   /* inside on_io: conn_free only marks it dead */
	bool dead;
	bool ext_8bitmime, ext_smtputf8;
	struct job *job;
	struct list_node idle; /* in pool->idle when idle */
	struct list_node all;  /* in pool->conns */
};

struct job {
	struct lmtp_pool *pool;
	struct queue *q;
	struct queue_env env;
	size_t *rcpts;
	size_t n;
	struct lmtp_result *results;
	bool *final;	  /* results[i] is decided */
	size_t next;	  /* RCPT being answered */
	size_t *accepted; /* indexes into rcpts[] of 2xx RCPTs */
	size_t naccepted, ndata;
	struct queue_body *body;
	bool bol; /* the last body byte sent ended a line */
	bool retried;
	lmtp_done_fn *done;
	void *ctx;
};

struct lmtp_pool {
	struct ev *ev;
	struct net_addr addr;
	char *relay;
	char *myhostname;
	struct list_node idle;
	struct list_node conns; /* every connection, to close them all */
	unsigned busy;
};

static void conn_free(struct lmtp_conn *c);
static void conn_start_job(struct lmtp_conn *c);

static struct lmtp_conn *conn_new(struct lmtp_pool *pool)
{
	struct lmtp_conn *c = xcalloc(1, sizeof(*c));

	c->pool = pool;
	list_push_back(&pool->conns, &c->all);
	return c;
}

struct lmtp_pool *lmtp_pool_new(struct ev *ev, const char *target,
				const char *myhostname)
{
	struct lmtp_pool *p = xcalloc(1, sizeof(*p));
	struct error err;

	p->ev = ev;
	p->myhostname = xstrdup(myhostname);
	list_init(&p->idle);
	list_init(&p->conns);
	if (net_parse_addr(target, &p->addr, &err) < 0) {
		log_error("lmtp_delivery_target: %s", err.msg);
		p->addr.family = NET_UNIX;
		p->addr.path[0] = '\0';
	}
	if (p->addr.family == NET_UNIX)
		p->relay = xasprintf("lmtp[%s]", p->addr.path);
	else
		p->relay = xasprintf("lmtp[%s]:%u", p->addr.host, p->addr.port);
	return p;
}

void lmtp_pool_free(struct lmtp_pool **pool)
{
	struct lmtp_pool *p = *pool;
	struct list_node *n, *tmp;

	if (p == NULL)
		return;
	/* Called with no job in flight (see queued.h): what is left are
	 * idle connections and ones saying QUIT. */
	LIST_FOREACH(n, tmp, &p->conns)
	{
		conn_free(LIST_ENTRY(n, struct lmtp_conn, all));
	}
	free(p->relay);
	free(p->myhostname);
	free(p);
	*pool = NULL;
}

unsigned lmtp_pool_busy(const struct lmtp_pool *pool)
{
	return pool->busy;
}

/* ---- Jobs. */

static void set_result(struct job *j, size_t i, unsigned code,
		       const char *enhanced, const char *text)
{
	struct lmtp_result *r = &j->results[i];

	if (j->final[i])
		return;
	j->final[i] = true;
	r->result = code / 100 == 2   ? LMTP_OK
		    : code / 100 == 5 ? LMTP_PERM
				      : LMTP_TEMP;
	if (enhanced != NULL && enhanced[0] != '\0')
		str_copy(r->dsn, enhanced, sizeof(r->dsn));
	else
		snprintf(r->dsn, sizeof(r->dsn), "%u.0.0",
			 code / 100 == 2   ? 2
			 : code / 100 == 5 ? 5
					   : 4);
	str_copy(r->reply, text, sizeof(r->reply));
}

/* Every undecided recipient gets the same (temporary) outcome. */
static void set_rest(struct job *j, unsigned code, const char *enhanced,
		     const char *text)
{
	for (size_t i = 0; i < j->n; i++)
		set_result(j, i, code, enhanced, text);
}

static void job_free(struct job *j)
{
	queue_body_close(&j->body);
	queue_env_clear(&j->env);
	free(j->rcpts);
	free(j->results);
	free(j->final);
	free(j->accepted);
	free(j);
}

static void job_finish(struct job *j)
{
	j->pool->busy--;
	j->done(j->ctx, j->results, j->n, j->pool->relay);
	job_free(j);
}

static void job_finish_deferred(struct ev *ev, void *ctx)
{
	job_finish(ctx);
}

/* ---- Connections. */

static void send_line(struct lmtp_conn *c, enum cstate next, const char *fmt,
		      ...) __attribute__((format(printf, 3, 4)));

static void send_line(struct lmtp_conn *c, enum cstate next, const char *fmt,
		      ...)
{
	va_list ap;

	va_start(ap, fmt);
	io_vprintf(c->io, fmt, ap);
	va_end(ap);
	io_print(c->io, "\r\n");
	c->state = next;
}

static void start_on_idle(struct ev *ev, void *ctx);
static void on_idle_timeout(struct ev *ev, void *ctx);

static void idle_unlink(struct lmtp_conn *c)
{
	if (c->in_idle) {
		list_remove(&c->idle);
		c->in_idle = false;
	}
	ev_timer_del(c->pool->ev, on_idle_timeout, c);
}

static void on_idle_timeout(struct ev *ev, void *ctx)
{
	struct lmtp_conn *c = ctx;

	idle_unlink(c);
	send_line(c, C_QUIT, "QUIT");
	io_close(c->io);
}

static void conn_free(struct lmtp_conn *c)
{
	idle_unlink(c);
	ev_defer_cancel(c->pool->ev, start_on_idle, c);
	io_free(&c->io);
	smtp_reply_parser_free(&c->parser);
	list_remove(&c->all);
	if (c->in_cb)
		c->dead = true; /* on_io frees it on the way out */
	else
		free(c);
}

/* The connection failed: settle its job, then drop it. */
static void conn_fail(struct lmtp_conn *c, const char *why)
{
	struct job *j = c->job;
	char text[512];

	c->job = NULL;
	if (j != NULL) {
		/* A cached connection the server closed while idle shows up
		 * at MAIL: try once more on a fresh one. */
		if (c->reused && c->state == C_MAIL && !j->retried) {
			struct lmtp_conn *fresh;

			j->retried = true;
			conn_free(c);
			fresh = conn_new(j->pool);
			fresh->job = j;
			conn_start_job(fresh);
			return;
		}
		snprintf(text, sizeof(text), "lost connection with %s while %s",
			 j->pool->relay, why);
		set_rest(j, 451, "4.4.2", text);
		job_finish(j);
	}
	conn_free(c);
}

static void conn_idle(struct lmtp_conn *c)
{
	struct job *j = c->job;

	c->job = NULL;
	c->reused = true;
	c->state = C_IDLE;
	list_push_back(&c->pool->idle, &c->idle);
	c->in_idle = true;
	io_set_timeout(c->io, 0);
	ev_timer_add(c->pool->ev, LMTP_IDLE_MS, on_idle_timeout, c);
	if (j != NULL)
		job_finish(j);
}

static void send_mail(struct lmtp_conn *c)
{
	struct job *j = c->job;
	const char *body = "";

	if (c->ext_8bitmime && j->env.body == QUEUE_BODY_8BITMIME)
		body = " BODY=8BITMIME";
	io_set_timeout(c->io, LMTP_TIMEOUT_MS);
	send_line(c, C_MAIL, "MAIL FROM:<%s>%s%s", j->env.sender, body,
		  c->ext_smtputf8 && j->env.smtputf8 ? " SMTPUTF8" : "");
}

static void send_rcpt(struct lmtp_conn *c)
{
	struct job *j = c->job;

	send_line(c, C_RCPT, "RCPT TO:<%s>",
		  j->env.rcpts[j->rcpts[j->next]].addr);
}

/* Body bytes, dot-stuffed (RFC 5321 4.5.2), until the buffer is full. */
static void pump_body(struct lmtp_conn *c)
{
	struct job *j = c->job;
	struct error err;
	char *in = NULL;
	struct buf *out = NULL;

	while (io_outbuf_len(c->io) < BODY_HIGH_WATER) {
		ssize_t n;

		if (in == NULL) {
			in = xmalloc(BODY_CHUNK);
			out = buf_new_size(BODY_CHUNK + 1024);
		}
		buf_reset(out);
		n = queue_body_read(j->body, in, BODY_CHUNK, &err);
		if (n < 0) {
			log_warn("%s: read queue file: %s", j->env.id, err.msg);
			set_rest(j, 451, "4.3.0", "queue file read error");
			/* The server has a half message: drop the session. */
			free(in);
			buf_free(&out);
			conn_fail(c, "reading the queue file");
			return;
		}
		if (n == 0) {
			if (!j->bol)
				buf_append(out, "\r\n", 2);
			buf_append(out, ".\r\n", 3);
			io_write(c->io, buf_data(out), buf_len(out));
			c->state = C_DOT;
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (j->bol && in[i] == '.')
				buf_append_char(out, '.');
			buf_append_char(out, in[i]);
			j->bol = in[i] == '\n';
		}
		io_write(c->io, buf_data(out), buf_len(out));
	}
	free(in);
	buf_free(&out);
}

static void reply_text(const struct smtp_parsed_reply *r, char *out,
		       size_t outlen)
{
	struct buf *b = buf_new();

	buf_printf(b, "%u", r->code);
	if (r->enhanced[0] != '\0')
		buf_printf(b, " %s", r->enhanced);
	for (size_t i = 0; i < array_len(r->lines); i++)
		buf_printf(b, " %s", (const char *)array_get(r->lines, i));
	str_copy(out, buf_data(b), outlen);
	buf_free(&b);
}

static void on_lhlo(struct lmtp_conn *c, const struct smtp_parsed_reply *r)
{
	for (size_t i = 1; i < array_len(r->lines); i++) {
		const char *l = array_get(r->lines, i);

		if (strcasecmp(l, "8BITMIME") == 0)
			c->ext_8bitmime = true;
		else if (strcasecmp(l, "SMTPUTF8") == 0)
			c->ext_smtputf8 = true;
	}
}

static void handle_reply(struct lmtp_conn *c, const struct smtp_parsed_reply *r)
{
	struct job *j = c->job;
	unsigned cls = r->code / 100;
	char text[512];
	struct error err;

	reply_text(r, text, sizeof(text));
	switch (c->state) {
	case C_GREETING:
		if (cls != 2)
			goto refused;
		send_line(c, C_LHLO, "LHLO %s", c->pool->myhostname);
		return;
	case C_LHLO:
		if (cls != 2)
			goto refused;
		on_lhlo(c, r);
		c->state = C_IDLE;
		if (j != NULL)
			send_mail(c);
		else
			conn_idle(c);
		return;
	case C_MAIL:
		if (cls != 2) {
			set_rest(j, r->code, r->enhanced, text);
			send_line(c, C_RSET, "RSET");
			return;
		}
		j->next = 0;
		send_rcpt(c);
		return;
	case C_RCPT:
		if (cls == 2)
			j->accepted[j->naccepted++] = j->next;
		else
			set_result(j, j->next, r->code, r->enhanced, text);
		if (++j->next < j->n) {
			send_rcpt(c);
			return;
		}
		if (j->naccepted == 0) {
			send_line(c, C_RSET, "RSET");
			return;
		}
		send_line(c, C_DATA, "DATA");
		return;
	case C_DATA:
		if (r->code != 354) {
			set_rest(j, r->code, r->enhanced, text);
			send_line(c, C_RSET, "RSET");
			return;
		}
		if (queue_body_open(j->q, j->env.id, &j->body, &err) < 0) {
			log_warn("%s: %s", j->env.id, err.msg);
			set_rest(j, 451, "4.3.0", "queue file read error");
			conn_fail(c, "opening the queue file");
			return;
		}
		j->bol = true;
		c->state = C_BODY;
		pump_body(c);
		return;
	case C_DOT:
		/* RFC 2033 4.2: one reply per accepted recipient, in order. */
		set_result(j, j->accepted[j->ndata], r->code, r->enhanced,
			   text);
		if (++j->ndata == j->naccepted)
			conn_idle(c);
		return;
	case C_RSET:
		if (cls != 2) {
			conn_fail(c, "resetting");
			return;
		}
		conn_idle(c);
		return;
	case C_QUIT:
		return;
	case C_CONNECTING:
	case C_IDLE:
	case C_BODY:
		conn_fail(c, "expecting nothing");
		return;
	}
	return;
refused:
	/* The server will not talk: every recipient waits for later. */
	if (j != NULL) {
		char why[600];

		snprintf(why, sizeof(why), "host %s refused to talk to me: %s",
			 c->pool->relay, text);
		set_rest(j, cls == 5 ? 451 : r->code, "4.3.0", why);
		c->job = NULL;
		job_finish(j);
	}
	conn_free(c);
}

static const char *state_doing(enum cstate s)
{
	switch (s) {
	case C_CONNECTING:
		return "connecting";
	case C_GREETING:
		return "receiving the initial greeting";
	case C_LHLO:
		return "sending LHLO";
	case C_MAIL:
		return "sending MAIL FROM";
	case C_RCPT:
		return "sending RCPT TO";
	case C_DATA:
		return "sending DATA";
	case C_BODY:
		return "sending message body";
	case C_DOT:
		return "sending end of data -- message may be sent more than "
		       "once";
	case C_RSET:
		return "sending RSET";
	default:
		return "idle";
	}
}

static void on_event(struct lmtp_conn *c, struct io *io, enum io_event event)
{
	const struct smtp_parsed_reply *r;
	struct error err;
	char *line;
	size_t len;

	switch (event) {
	case IO_CONNECTED:
		c->state = C_GREETING;
		return;
	case IO_DATAIN:
		while (!c->dead) {
			enum io_line_result lr = io_getline(io, &line, &len);
			if (lr == IO_LINE_NONE)
				return;
			if (lr == IO_LINE_TOO_LONG) {
				conn_fail(c, "reading a too long reply");
				return;
			}
			int rc = smtp_reply_parser_line(c->parser, line, len,
							&r, &err);
			if (rc < 0) {
				log_warn("%s: malformed reply: %s",
					 c->pool->relay, err.msg);
				conn_fail(c, "reading a malformed reply");
				return;
			}
			if (rc == 1)
				handle_reply(c, r);
		}
		return;
	case IO_LOWAT:
		if (c->state == C_BODY)
			pump_body(c);
		return;
	case IO_TIMEOUT:
		conn_fail(c, state_doing(c->state));
		return;
	case IO_DISCONNECTED:
	case IO_ERROR:
		if (c->state == C_QUIT || c->job == NULL) {
			conn_free(c);
			return;
		}
		conn_fail(c, state_doing(c->state));
		return;
	case IO_TLSREADY:
		return;
	}
}

static void on_io(struct io *io, enum io_event event, void *ctx)
{
	struct lmtp_conn *c = ctx;

	c->in_cb = true;
	on_event(c, io, event);
	c->in_cb = false;
	if (c->dead)
		free(c);
}

/* Connect (c->job is set) or fail the job at once. */
static void conn_start_job(struct lmtp_conn *c)
{
	struct lmtp_pool *p = c->pool;
	struct error err;
	int fd;

	c->parser = smtp_reply_parser_new();
	fd = net_connect(&p->addr, &err);
	if (fd < 0) {
		struct job *j = c->job;
		char text[700];

		snprintf(text, sizeof(text), "connect to %s: %s", p->relay,
			 err.msg);
		set_rest(j, 451, "4.4.1", text);
		c->job = NULL;
		conn_free(c);
		/* Never call back from inside lmtp_deliver. */
		ev_defer(p->ev, job_finish_deferred, j);
		return;
	}
	c->io = io_new_connect(p->ev, fd, on_io, c);
	c->state = C_CONNECTING;
	io_set_timeout(c->io, LMTP_TIMEOUT_MS);
}

static void start_on_idle(struct ev *ev, void *ctx)
{
	struct lmtp_conn *c = ctx;

	send_mail(c);
}

void lmtp_deliver(struct lmtp_pool *pool, struct queue *q,
		  const struct queue_env *env, const size_t *rcpts, size_t n,
		  lmtp_done_fn *done, void *ctx)
{
	struct job *j = xcalloc(1, sizeof(*j));
	struct lmtp_conn *c;

	j->pool = pool;
	j->q = q;
	queue_env_copy(&j->env, env);
	j->rcpts = xmemdup(rcpts, n * sizeof(*rcpts));
	j->n = n;
	j->results = xcalloc(n, sizeof(*j->results));
	j->final = xcalloc(n, sizeof(*j->final));
	j->accepted = xcalloc(n, sizeof(*j->accepted));
	for (size_t i = 0; i < n; i++)
		j->results[i].rcpt = rcpts[i];
	j->done = done;
	j->ctx = ctx;
	pool->busy++;
	if (!list_empty(&pool->idle)) {
		c = LIST_ENTRY(list_first(&pool->idle), struct lmtp_conn, idle);
		idle_unlink(c);
		c->job = j;
		c->state = C_MAIL; /* reserved: on_io errors now hit the job */
		ev_defer(pool->ev, start_on_idle, c);
		return;
	}
	c = conn_new(pool);
	c->job = j;
	conn_start_job(c);
}
