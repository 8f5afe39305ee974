/*
 * deliver - the SMTP and LMTP client of postern-queued (one program for
 * both, as Postfix's smtp(8)/lmtp(8)): EHLO or LHLO (HELO when EHLO is
 * refused), MAIL with SIZE, BODY=8BITMIME, SMTPUTF8 and the DSN
 * parameters the peer announces, one RCPT per recipient, DATA, then one
 * reply for every accepted recipient (SMTP) or one per recipient (LMTP,
 * RFC 2033 4.2).
 *
 * A pool is one destination (transport:nexthop): its cached idle
 * connections, its host list and its concurrency limit; jobs past the
 * limit wait in the pool, so a slow or dead destination holds only its
 * own mail.  SMTP next hops "[host]:port" are used as they are (an A
 * lookup for a name); "host" or "host:port" names a domain whose MX hosts
 * (or itself, the implicit MX) are tried in preference order: the next
 * address on a failed connect, a timeout, or a greeting that is not 2xx.
 * The addresses are kept for DLV_ADDR_TTL_MS.
 *
 * Commands go in lock-step (one reply before the next command): the
 * state machine stays simple enough to be obviously right.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "core/list.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "dns/dns.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_xtext.h"
#include "tls/io.h"

#include "queued.h"

#define DLV_TIMEOUT_MS (300 * 1000)
#define DLV_IDLE_MS (10 * 1000)
#define DLV_ADDR_TTL_MS (60 * 1000)
#define DLV_MAX_ADDRS 20
#define BODY_CHUNK (64 * 1024)
#define BODY_HIGH_WATER (256 * 1024)

enum cstate {
	C_CONNECTING,
	C_GREETING,
	C_HELLO, /* EHLO or LHLO */
	C_HELO,
	C_IDLE,
	C_MAIL,
	C_RCPT,
	C_DATA,
	C_BODY,
	C_DOT,
	C_RSET,
	C_QUIT,
};

struct dlv_addr {
	struct net_addr addr;
	char relay[320]; /* "host[addr]:port" */
};

struct job;

struct conn {
	struct dlv_pool *pool;
	struct io *io;
	struct smtp_reply_parser *parser;
	enum cstate state;
	bool reused;  /* has served a message before */
	bool in_idle; /* linked in pool->idle */
	bool in_cb;   /* inside on_io: conn_free only marks it dead */
	bool dead;
	bool ext_8bitmime, ext_smtputf8, ext_dsn, ext_size;
	unsigned long long size_limit; /* SIZE n; 0 none */
	struct dlv_addr *addrs;	       /* snapshot of the pool's list */
	size_t naddrs, addr_i;
	char relay[320];
	char last_error[400]; /* of the hosts tried so far */
	struct job *job;
	struct list_node idle; /* in pool->idle when idle */
	struct list_node all;  /* in pool->conns */
};

struct job {
	struct dlv_pool *pool;
	struct queue *q;
	struct queue_env env;
	size_t *rcpts;
	size_t n;
	struct dlv_result *results;
	bool *final;	  /* results[i] is decided */
	size_t next;	  /* RCPT being answered */
	size_t *accepted; /* indexes into rcpts[] of 2xx RCPTs */
	size_t naccepted, ndata;
	struct queue_body *body;
	bool bol; /* the last body byte sent ended a line */
	bool retried;
	bool started; /* counted in pool->busy */
	char relay[320];
	dlv_done_fn *done;
	void *ctx;
	struct list_node pending; /* in pool->pending until started */
};

struct dlv_pool {
	struct ev *ev;
	struct dns_resolver *dns;
	bool smtp;
	char *nexthop;
	char *myhostname;
	unsigned limit;
	int64_t connect_timeout_ms;
	/* SMTP with names: host, port, and whether to ask for MX. */
	bool need_dns, mx;
	char host[256];
	unsigned port;
	struct dlv_addr *addrs;
	size_t naddrs;
	int64_t addrs_expire; /* monotonic ms */
	/* A resolution in flight. */
	bool resolving;
	struct dns_query *query;
	struct dns_mx_list *mx_list;
	size_t mx_i;
	bool aaaa;	 /* the AAAA lookup of mx_i is next/in flight */
	bool host_found; /* mx_i has an address */
	bool dns_temp;	 /* some lookup failed temporarily */
	char dns_error[400];
	struct list_node pending; /* jobs waiting for a slot or addresses */
	struct list_node idle;
	struct list_node conns; /* every connection, to close them all */
	unsigned busy;		/* jobs on connections */
	unsigned npending;
};

/* snprintf that may cut long texts (replies, names) on purpose. */
static void textf(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void textf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
}

static void conn_free(struct conn *c);
static void conn_connect(struct conn *c);
static void pool_run(struct dlv_pool *p);

static struct conn *conn_new(struct dlv_pool *pool)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->pool = pool;
	c->addrs = xmemdup(pool->addrs, pool->naddrs * sizeof(*pool->addrs));
	c->naddrs = pool->naddrs;
	list_push_back(&pool->conns, &c->all);
	return c;
}

static bool is_numeric(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 ||
	       inet_pton(AF_INET6, host, a) == 1;
}

static void add_addr(struct dlv_pool *p, const char *name, const char *ip,
		     unsigned port)
{
	struct dlv_addr *a;

	if (p->naddrs >= DLV_MAX_ADDRS)
		return;
	p->addrs = xrealloc(p->addrs, (p->naddrs + 1) * sizeof(*p->addrs));
	a = &p->addrs[p->naddrs++];
	memset(a, 0, sizeof(*a));
	a->addr.family = NET_TCP;
	str_copy(a->addr.host, ip, sizeof(a->addr.host));
	a->addr.port = port;
	textf(a->relay, sizeof(a->relay), "%s[%s]:%u", name, ip, port);
}

/* Parse the next hop: "[host]:port", "[host]", "host:port", "host". */
static void parse_smtp_hop(struct dlv_pool *p, const char *hop,
			   unsigned default_port)
{
	const char *end, *colon;
	size_t len;

	p->port = default_port;
	if (hop[0] == '[' && (end = strchr(hop, ']')) != NULL) {
		p->mx = false;
		len = (size_t)(end - hop - 1);
		colon = end[1] == ':' ? end + 1 : NULL;
		hop++;
	} else {
		p->mx = true;
		colon = strrchr(hop, ':');
		len = colon != NULL ? (size_t)(colon - hop) : strlen(hop);
	}
	if (len >= sizeof(p->host))
		len = sizeof(p->host) - 1;
	memcpy(p->host, hop, len);
	p->host[len] = '\0';
	if (colon != NULL) {
		long port = strtol(colon + 1, NULL, 10);
		if (port > 0 && port < 65536)
			p->port = (unsigned)port;
	}
	if (!p->mx && is_numeric(p->host)) {
		add_addr(p, p->host, p->host, p->port);
		p->addrs_expire = INT64_MAX;
	} else {
		p->need_dns = true;
	}
}

struct dlv_pool *dlv_pool_new(struct ev *ev, struct dns_resolver *dns,
			      const struct route *route,
			      const struct dlv_params *params)
{
	struct dlv_pool *p = xcalloc(1, sizeof(*p));
	struct error err;

	p->ev = ev;
	p->dns = dns;
	p->smtp = route->kind == TR_SMTP;
	p->nexthop = xstrdup(route->nexthop);
	p->myhostname = xstrdup(params->myhostname);
	p->limit = params->concurrency > 0 ? params->concurrency : 1;
	p->connect_timeout_ms = params->connect_timeout_ms > 0
				    ? params->connect_timeout_ms
				    : DLV_TIMEOUT_MS;
	list_init(&p->pending);
	list_init(&p->idle);
	list_init(&p->conns);
	if (p->smtp) {
		parse_smtp_hop(p, route->nexthop, params->default_port);
		return p;
	}
	p->addrs = xcalloc(1, sizeof(*p->addrs));
	p->naddrs = 1;
	p->addrs_expire = INT64_MAX;
	if (net_parse_addr(route->nexthop, &p->addrs[0].addr, &err) < 0) {
		log_error("lmtp next hop %s: %s", route->nexthop, err.msg);
		p->addrs[0].addr.family = NET_UNIX;
		p->addrs[0].addr.path[0] = '\0';
	}
	if (p->addrs[0].addr.family == NET_UNIX)
		textf(p->addrs[0].relay, sizeof(p->addrs[0].relay), "lmtp[%s]",
		      p->addrs[0].addr.path);
	else
		textf(p->addrs[0].relay, sizeof(p->addrs[0].relay),
		      "lmtp[%s]:%u", p->addrs[0].addr.host,
		      p->addrs[0].addr.port);
	return p;
}

void dlv_pool_free(struct dlv_pool **pool)
{
	struct dlv_pool *p = *pool;
	struct list_node *n, *tmp;

	if (p == NULL)
		return;
	/* Called with no job in flight (see queued.h): what is left are
	 * idle connections and ones saying QUIT. */
	LIST_FOREACH(n, tmp, &p->conns)
	{
		conn_free(LIST_ENTRY(n, struct conn, all));
	}
	if (p->query != NULL)
		dns_cancel(&p->query);
	dns_mx_list_free(&p->mx_list);
	free(p->addrs);
	free(p->nexthop);
	free(p->myhostname);
	free(p);
	*pool = NULL;
}

unsigned dlv_pool_busy(const struct dlv_pool *pool)
{
	return pool->busy + pool->npending;
}

bool dlv_pool_unused(const struct dlv_pool *pool)
{
	return pool->busy + pool->npending == 0 && list_empty(&pool->conns) &&
	       !pool->resolving;
}

/* ---- Jobs. */

static void set_result(struct job *j, size_t i, unsigned code,
		       const char *enhanced, const char *text)
{
	struct dlv_result *r = &j->results[i];

	if (j->final[i])
		return;
	j->final[i] = true;
	r->result = code / 100 == 2   ? DLV_OK
		    : code / 100 == 5 ? DLV_PERM
				      : DLV_TEMP;
	if (enhanced != NULL && enhanced[0] != '\0')
		str_copy(r->dsn, enhanced, sizeof(r->dsn));
	else
		textf(r->dsn, sizeof(r->dsn), "%u.0.0",
		      code / 100 == 2	? 2
		      : code / 100 == 5 ? 5
					: 4);
	str_copy(r->reply, text, sizeof(r->reply));
}

/* Every undecided recipient gets the same outcome. */
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
	struct dlv_pool *p = j->pool;

	if (j->started)
		p->busy--;
	else
		p->npending--; /* failed while waiting */
	j->done(j->ctx, j->results, j->n,
		j->relay[0] != '\0' ? j->relay : "none");
	job_free(j);
	pool_run(p);
}

static void job_finish_deferred(struct ev *ev, void *ctx)
{
	job_finish(ctx);
}

/* ---- Connections. */

static void send_line(struct conn *c, enum cstate next, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void send_line(struct conn *c, enum cstate next, const char *fmt, ...)
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

static void idle_unlink(struct conn *c)
{
	if (c->in_idle) {
		list_remove(&c->idle);
		c->in_idle = false;
	}
	ev_timer_del(c->pool->ev, on_idle_timeout, c);
}

static void on_idle_timeout(struct ev *ev, void *ctx)
{
	struct conn *c = ctx;

	idle_unlink(c);
	send_line(c, C_QUIT, "QUIT");
	io_close(c->io);
}

static void conn_free(struct conn *c)
{
	idle_unlink(c);
	ev_defer_cancel(c->pool->ev, start_on_idle, c);
	io_free(&c->io);
	smtp_reply_parser_free(&c->parser);
	list_remove(&c->all);
	free(c->addrs);
	c->addrs = NULL;
	if (c->in_cb)
		c->dead = true; /* on_io frees it on the way out */
	else
		free(c);
}

/* The connection failed: settle its job, then drop it. */
static void conn_fail(struct conn *c, const char *why)
{
	struct job *j = c->job;
	char text[700];

	c->job = NULL;
	if (j != NULL) {
		/* A cached connection the server closed while idle shows up
		 * at MAIL: try once more on a fresh one. */
		if (c->reused && c->state == C_MAIL && !j->retried) {
			struct conn *fresh;

			j->retried = true;
			conn_free(c);
			fresh = conn_new(j->pool);
			fresh->job = j;
			conn_connect(fresh);
			return;
		}
		textf(text, sizeof(text), "lost connection with %s while %s",
		      c->relay, why);
		set_rest(j, 451, "4.4.2", text);
		job_finish(j);
	}
	conn_free(c);
}

static void conn_idle(struct conn *c)
{
	struct job *j = c->job;

	c->job = NULL;
	c->reused = true;
	c->state = C_IDLE;
	list_push_back(&c->pool->idle, &c->idle);
	c->in_idle = true;
	io_set_timeout(c->io, 0);
	ev_timer_add(c->pool->ev, DLV_IDLE_MS, on_idle_timeout, c);
	if (j != NULL)
		job_finish(j);
}

/* This host cannot take the job: try the next address, or give up. */
static void conn_next_host(struct conn *c, const char *why)
{
	struct job *j = c->job;

	log_info("%s: %s", j != NULL ? j->env.id : "-", why);
	textf(c->last_error, sizeof(c->last_error), "%s", why);
	io_free(&c->io);
	smtp_reply_parser_free(&c->parser);
	c->addr_i++;
	conn_connect(c);
}

static void start_mail(struct conn *c)
{
	struct job *j = c->job;
	struct buf *cmd = buf_new();
	char text[600];

	str_copy(j->relay, c->relay, sizeof(j->relay));
	if (j->env.smtputf8 && !c->ext_smtputf8) {
		/* RFC 6531 3.4: without SMTPUTF8 the message cannot go. */
		textf(text, sizeof(text),
		      "SMTPUTF8 is required, but was not offered by host "
		      "%s",
		      c->relay);
		set_rest(j, 550, "5.6.7", text);
		buf_free(&cmd);
		conn_idle(c);
		return;
	}
	if (j->env.body == QUEUE_BODY_8BITMIME && !c->ext_8bitmime) {
		/* Conversion to 7-bit (quoted-printable) is not built yet:
		 * keep the message rather than send it broken. */
		textf(text, sizeof(text),
		      "host %s does not offer 8BITMIME and the 8-bit "
		      "message cannot be converted yet",
		      c->relay);
		set_rest(j, 450, "4.6.3", text);
		buf_free(&cmd);
		conn_idle(c);
		return;
	}
	if (c->ext_size && c->size_limit > 0 && j->env.size > c->size_limit) {
		textf(text, sizeof(text),
		      "message size %llu exceeds size limit %llu of "
		      "server %s",
		      (unsigned long long)j->env.size, c->size_limit, c->relay);
		set_rest(j, 552, "5.3.4", text);
		buf_free(&cmd);
		conn_idle(c);
		return;
	}
	buf_printf(cmd, "MAIL FROM:<%s>", j->env.sender);
	if (c->ext_size)
		buf_printf(cmd, " SIZE=%llu", (unsigned long long)j->env.size);
	if (c->ext_8bitmime && j->env.body == QUEUE_BODY_8BITMIME)
		buf_printf(cmd, " BODY=8BITMIME");
	if (c->ext_smtputf8 && j->env.smtputf8)
		buf_printf(cmd, " SMTPUTF8");
	if (c->ext_dsn) {
		if (j->env.ret == QUEUE_RET_FULL)
			buf_printf(cmd, " RET=FULL");
		else if (j->env.ret == QUEUE_RET_HDRS)
			buf_printf(cmd, " RET=HDRS");
		if (j->env.envid != NULL) {
			buf_printf(cmd, " ENVID=");
			smtp_xtext_encode(j->env.envid, strlen(j->env.envid),
					  cmd);
		}
	}
	io_set_timeout(c->io, DLV_TIMEOUT_MS);
	send_line(c, C_MAIL, "%s", buf_data(cmd));
	buf_free(&cmd);
}

static void send_rcpt(struct conn *c)
{
	struct job *j = c->job;
	const struct queue_rcpt *r = &j->env.rcpts[j->rcpts[j->next]];
	struct buf *cmd = buf_new();

	buf_printf(cmd, "RCPT TO:<%s>", r->addr);
	if (c->ext_dsn && r->notify != 0) {
		if (r->notify & QUEUE_NOTIFY_NEVER) {
			buf_printf(cmd, " NOTIFY=NEVER");
		} else {
			const char *sep = " NOTIFY=";
			if (r->notify & QUEUE_NOTIFY_SUCCESS) {
				buf_printf(cmd, "%sSUCCESS", sep);
				sep = ",";
			}
			if (r->notify & QUEUE_NOTIFY_FAILURE) {
				buf_printf(cmd, "%sFAILURE", sep);
				sep = ",";
			}
			if (r->notify & QUEUE_NOTIFY_DELAY)
				buf_printf(cmd, "%sDELAY", sep);
		}
	}
	if (c->ext_dsn && r->orcpt != NULL) {
		const char *semi = strchr(r->orcpt, ';');
		if (semi != NULL) {
			buf_printf(cmd, " ORCPT=%.*s;", (int)(semi - r->orcpt),
				   r->orcpt);
			smtp_xtext_encode(semi + 1, strlen(semi + 1), cmd);
		}
	}
	send_line(c, C_RCPT, "%s", buf_data(cmd));
	buf_free(&cmd);
}

/* Body bytes, dot-stuffed (RFC 5321 4.5.2), until the buffer is full. */
static void pump_body(struct conn *c)
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

static void on_hello(struct conn *c, const struct smtp_parsed_reply *r)
{
	for (size_t i = 1; i < array_len(r->lines); i++) {
		const char *l = array_get(r->lines, i);

		if (strcasecmp(l, "8BITMIME") == 0)
			c->ext_8bitmime = true;
		else if (strcasecmp(l, "SMTPUTF8") == 0)
			c->ext_smtputf8 = true;
		else if (strcasecmp(l, "DSN") == 0)
			c->ext_dsn = true;
		else if (strncasecmp(l, "SIZE", 4) == 0 &&
			 (l[4] == '\0' || l[4] == ' ')) {
			c->ext_size = true;
			c->size_limit = strtoull(l + 4, NULL, 10);
		}
	}
}

static void hello_done(struct conn *c)
{
	c->state = C_IDLE;
	io_set_timeout(c->io, DLV_TIMEOUT_MS);
	if (c->job != NULL)
		start_mail(c);
	else
		conn_idle(c);
}

static void handle_reply(struct conn *c, const struct smtp_parsed_reply *r)
{
	struct job *j = c->job;
	unsigned cls = r->code / 100;
	char text[512], why[700];
	struct error err;

	reply_text(r, text, sizeof(text));
	switch (c->state) {
	case C_GREETING:
		if (cls != 2)
			goto refused;
		send_line(c, C_HELLO, "%s %s", c->pool->smtp ? "EHLO" : "LHLO",
			  c->pool->myhostname);
		return;
	case C_HELLO:
		if (cls != 2) {
			if (c->pool->smtp && cls == 5) {
				/* RFC 5321 3.2: an old server; try HELO. */
				send_line(c, C_HELO, "HELO %s",
					  c->pool->myhostname);
				return;
			}
			goto refused;
		}
		on_hello(c, r);
		hello_done(c);
		return;
	case C_HELO:
		if (cls != 2)
			goto refused;
		hello_done(c);
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
		if (c->pool->smtp) {
			/* One reply for the whole transaction. */
			for (size_t i = 0; i < j->naccepted; i++)
				set_result(j, j->accepted[i], r->code,
					   r->enhanced, text);
			conn_idle(c);
			return;
		}
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
	/* The server will not talk: the next host, else wait for later. */
	textf(why, sizeof(why), "host %s refused to talk to me: %s", c->relay,
	      text);
	if (j != NULL) {
		conn_next_host(c, why);
		return;
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
	case C_HELLO:
		return "sending EHLO/LHLO";
	case C_HELO:
		return "sending HELO";
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

/* io's "connect: Connection refused" without the prefix, as Postfix logs
 * it after "connect to host[addr]:port: ". */
static const char *connect_error(const struct io *io)
{
	const char *e = io_error(io);

	return str_has_prefix(e, "connect: ") ? e + 9 : e;
}

/* Before the greeting, a failure moves on to the next host. */
static bool before_greeting(const struct conn *c)
{
	return c->job != NULL &&
	       (c->state == C_CONNECTING || c->state == C_GREETING);
}

static void on_event(struct conn *c, struct io *io, enum io_event event)
{
	const struct smtp_parsed_reply *r;
	struct error err;
	char *line, why[500];
	size_t len;

	switch (event) {
	case IO_CONNECTED:
		c->state = C_GREETING;
		return;
	case IO_DATAIN:
		while (!c->dead && c->io == io) {
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
				log_warn("%s: malformed reply: %s", c->relay,
					 err.msg);
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
		if (before_greeting(c)) {
			textf(why, sizeof(why),
			      "conversation with %s timed out while %s",
			      c->relay, state_doing(c->state));
			conn_next_host(c, why);
			return;
		}
		conn_fail(c, state_doing(c->state));
		return;
	case IO_DISCONNECTED:
	case IO_ERROR:
		if (c->state == C_QUIT || c->job == NULL) {
			conn_free(c);
			return;
		}
		if (before_greeting(c)) {
			if (c->state == C_CONNECTING && io_error(io)[0] != '\0')
				textf(why, sizeof(why), "connect to %s: %s",
				      c->relay, connect_error(io));
			else if (c->state == C_CONNECTING)
				/* lib/tls/io reports a hang-up before the
				 * connect completed without the data. */
				textf(why, sizeof(why),
				      "lost connection with %s while "
				      "connecting",
				      c->relay);
			else
				textf(why, sizeof(why),
				      "lost connection with %s while "
				      "receiving the initial greeting",
				      c->relay);
			conn_next_host(c, why);
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
	struct conn *c = ctx;
	bool nested = c->in_cb;

	c->in_cb = true;
	on_event(c, io, event);
	if (nested)
		return;
	c->in_cb = false;
	if (c->dead)
		free(c);
}

/* Connect to addrs[addr_i..] (c->job is set), or fail the job. */
static void conn_connect(struct conn *c)
{
	struct dlv_pool *p = c->pool;
	struct error err;
	int fd;

	for (; c->addr_i < c->naddrs; c->addr_i++) {
		struct dlv_addr *a = &c->addrs[c->addr_i];

		str_copy(c->relay, a->relay, sizeof(c->relay));
		fd = net_connect(&a->addr, &err);
		if (fd < 0) {
			log_info("%s: connect to %s: %s", c->job->env.id,
				 a->relay, err.msg);
			textf(c->last_error, sizeof(c->last_error),
			      "connect to %s: %s", a->relay, err.msg);
			continue;
		}
		c->parser = smtp_reply_parser_new();
		c->ext_8bitmime = c->ext_smtputf8 = c->ext_dsn = false;
		c->ext_size = false;
		c->size_limit = 0;
		c->io = io_new_connect(p->ev, fd, on_io, c);
		c->state = C_CONNECTING;
		io_set_timeout(c->io, p->connect_timeout_ms);
		return;
	}
	/* Every host failed: the recipients wait for the next attempt. */
	struct job *j = c->job;
	char text[600];

	textf(text, sizeof(text), "%s",
	      c->last_error[0] != '\0' ? c->last_error
				       : "no host to deliver to");
	set_rest(j, 451, "4.4.1", text);
	if (c->naddrs > 0)
		str_copy(j->relay, c->naddrs == 1 ? c->addrs[0].relay : "none",
			 sizeof(j->relay));
	c->job = NULL;
	conn_free(c);
	/* Never call back from inside dlv_deliver or an io callback of a
	 * freed connection. */
	ev_defer(p->ev, job_finish_deferred, j);
}

static void start_on_idle(struct ev *ev, void *ctx)
{
	start_mail(ctx);
}

static void job_start(struct job *j)
{
	struct dlv_pool *p = j->pool;
	struct conn *c;

	j->started = true;
	p->busy++;
	if (!list_empty(&p->idle)) {
		c = LIST_ENTRY(list_first(&p->idle), struct conn, idle);
		idle_unlink(c);
		c->job = j;
		c->state = C_MAIL; /* reserved: on_io errors now hit the job */
		ev_defer(p->ev, start_on_idle, c);
		return;
	}
	c = conn_new(p);
	c->job = j;
	conn_connect(c);
}

/* ---- Host lists (SMTP next hops with names). */

static void resolve_done(struct dlv_pool *p)
{
	struct list_node *n, *tmp;

	p->resolving = false;
	dns_mx_list_free(&p->mx_list);
	if (p->naddrs > 0) {
		p->addrs_expire = time_mono_ms() + DLV_ADDR_TTL_MS;
		pool_run(p);
		return;
	}
	/* No address at all: every waiting job gets the verdict. */
	LIST_FOREACH(n, tmp, &p->pending)
	{
		struct job *j = LIST_ENTRY(n, struct job, pending);
		const char *dsn = p->dns_error;

		list_remove(&j->pending);
		if (p->dns_temp)
			set_rest(j, 451, "4.4.3", dsn);
		else if (strncmp(dsn, "5.1.10 ", 7) == 0)
			set_rest(j, 550, "5.1.10", dsn + 7);
		else
			set_rest(j, 550, "5.4.4", dsn);
		ev_defer(p->ev, job_finish_deferred, j);
	}
}

static void lookup_next_host(struct dlv_pool *p);

/* The A, then the AAAA records of each host in turn (IPv4 first). */
static void on_addr(struct dns_result *res, int ret, const struct error *err,
		    void *ctx)
{
	struct dlv_pool *p = ctx;
	const char *name = p->mx_list->hosts[p->mx_i].host;

	p->query = NULL;
	if (ret == 1) {
		for (size_t i = 0; i < res->count; i++)
			if (res->rrs[i].type == DNS_T_A ||
			    res->rrs[i].type == DNS_T_AAAA) {
				add_addr(p, name, res->rrs[i].addr.text,
					 p->port);
				p->host_found = true;
			}
	} else if (!p->aaaa || !p->host_found) {
		if (ret < 0)
			p->dns_temp = true;
		textf(p->dns_error, sizeof(p->dns_error),
		      "Host or domain name not found. Name service error "
		      "for name=%s type=%s: %s",
		      name, p->aaaa ? "AAAA" : "A",
		      err != NULL ? err->msg : "not found");
	}
	dns_result_free(&res);
	if (!p->aaaa) {
		p->aaaa = true;
	} else {
		p->aaaa = false;
		p->host_found = false;
		p->mx_i++;
	}
	lookup_next_host(p);
}

static void lookup_next_host(struct dlv_pool *p)
{
	if (p->mx_i >= p->mx_list->count || p->naddrs >= DLV_MAX_ADDRS) {
		resolve_done(p);
		return;
	}
	p->query = dns_lookup(p->dns, p->mx_list->hosts[p->mx_i].host,
			      p->aaaa ? DNS_T_AAAA : DNS_T_A, 0, on_addr, p);
}

/* RFC 5321 5.1: hosts of equal preference in random order. */
static void shuffle_equal(struct dns_mx_list *l)
{
	size_t start = 0;

	while (start < l->count) {
		size_t end = start + 1;

		while (end < l->count &&
		       l->hosts[end].pref == l->hosts[start].pref)
			end++;
		for (size_t i = end - 1; i > start; i--) {
			size_t k = start + (size_t)random() % (i - start + 1);
			struct dns_mx_host t = l->hosts[i];
			l->hosts[i] = l->hosts[k];
			l->hosts[k] = t;
		}
		start = end;
	}
}

static void on_mx(struct dns_mx_list *list, int ret, const struct error *err,
		  void *ctx)
{
	struct dlv_pool *p = ctx;

	p->query = NULL;
	if (ret != 1) {
		if (ret < 0)
			p->dns_temp = true;
		if (list != NULL && list->null_mx)
			textf(p->dns_error, sizeof(p->dns_error),
			      "5.1.10 Domain %s does not accept mail "
			      "(nullMX)",
			      p->host);
		else
			textf(p->dns_error, sizeof(p->dns_error),
			      "Host or domain name not found. Name service "
			      "error for name=%s type=MX: %s",
			      p->host, err != NULL ? err->msg : "?");
		dns_mx_list_free(&list);
		resolve_done(p);
		return;
	}
	shuffle_equal(list);
	p->mx_list = list;
	p->mx_i = 0;
	p->aaaa = p->host_found = false;
	lookup_next_host(p);
}

static void start_resolve(struct dlv_pool *p)
{
	free(p->addrs);
	p->addrs = NULL;
	p->naddrs = 0;
	p->dns_temp = false;
	p->dns_error[0] = '\0';
	p->resolving = true;
	if (p->dns == NULL) {
		p->dns_temp = true;
		textf(p->dns_error, sizeof(p->dns_error),
		      "no DNS resolver (see the log at start-up)");
		resolve_done(p);
		return;
	}
	if (p->mx) {
		p->query = dns_mx_hosts(p->dns, p->host, on_mx, p);
		return;
	}
	/* [name]: its addresses, no MX. */
	p->mx_list = xcalloc(1, sizeof(*p->mx_list));
	p->mx_list->domain = xstrdup(p->host);
	p->mx_list->count = 1;
	p->mx_list->hosts = xcalloc(1, sizeof(*p->mx_list->hosts));
	p->mx_list->hosts[0].host = xstrdup(p->host);
	p->mx_i = 0;
	p->aaaa = p->host_found = false;
	lookup_next_host(p);
}

static void pool_run(struct dlv_pool *p)
{
	while (!list_empty(&p->pending) && p->busy < p->limit) {
		struct job *j;

		if (p->need_dns &&
		    (p->naddrs == 0 || time_mono_ms() >= p->addrs_expire) &&
		    list_empty(&p->idle)) {
			if (!p->resolving)
				start_resolve(p);
			return;
		}
		j = LIST_ENTRY(list_first(&p->pending), struct job, pending);
		list_remove(&j->pending);
		p->npending--;
		job_start(j);
	}
}

void dlv_pool_stop(struct dlv_pool *p)
{
	struct list_node *n, *tmp;

	LIST_FOREACH(n, tmp, &p->pending)
	{
		struct job *j = LIST_ENTRY(n, struct job, pending);

		list_remove(&j->pending);
		set_rest(j, 451, "4.3.0", "mail system is stopping");
		ev_defer(p->ev, job_finish_deferred, j);
	}
}

void dlv_deliver(struct dlv_pool *pool, struct queue *q,
		 const struct queue_env *env, const size_t *rcpts, size_t n,
		 dlv_done_fn *done, void *ctx)
{
	struct job *j = xcalloc(1, sizeof(*j));

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
	list_push_back(&pool->pending, &j->pending);
	pool->npending++;
	pool_run(pool);
}
