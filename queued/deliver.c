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
 * Commands go in lock-step (one reply before the next command), except
 * that MAIL, the RCPTs and DATA go in one batch to a server announcing
 * PIPELINING (RFC 2920); the replies are then read in order.
 *
 * TLS (SMTP only, Postfix's smtp_tls_security_level and
 * smtp_tls_policy_maps, see tls_policy.h): after EHLO, STARTTLS and EHLO
 * again.  may: STARTTLS when offered; a failed handshake is retried once
 * on a new connection to the same address in plaintext (Postfix does the
 * same).  encrypt, verify, secure and dane with usable TLSA records:
 * TLS is required (4.7.4 when not offered, 4.7.5 when the handshake or
 * the certificate check fails), the next address is tried and the last
 * reason defers the mail.  dane: the TLSA records of an MX are looked up
 * only when its MX and address answers were DNSSEC-secure; no secure
 * TLSA records means may (RFC 7672 2.2), all-unusable ones encrypt, a
 * failed TLSA lookup makes that MX unusable.  SASL (sasl_client.h) runs
 * after TLS, when the password map has credentials for the server.
 * LMTP to a TCP target: the same steps after LHLO with
 * lmtp_tls_security_level (none, may, encrypt, verify, secure; the name
 * checked is the target's host) and its own context (lmtp_tls_CAfile).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include "ev/worker.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_xtext.h"
#include "tls/io.h"

#include "conf/conf.h"
#include "map/map.h"
#include "rewrite/rewrite.h"
#include "tls/tls.h"

#include "mta_sts.h"
#include "outmsg.h"
#include "queued.h"
#include "sasl_client.h"
#include "tls_policy.h"
#include "tlsrpt.h"

#define DLV_TIMEOUT_MS (300 * 1000)
#define DLV_IDLE_MS (10 * 1000)
#define DLV_ADDR_TTL_MS (60 * 1000)
#define DLV_MAX_ADDRS 20
#define BODY_CHUNK (64 * 1024)
#define BODY_HIGH_WATER (256 * 1024)
/* prepare_body's worker threads: DKIM signing is CPU-bound (2 cores
 * here), but a key lookup may wait on a remote database; a few more
 * threads than cores keep the cached domains signing meanwhile. */
#define DLV_PREP_THREADS 4

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
	C_TLSA,	    /* waiting for the TLSA records (dane) */
	C_STARTTLS, /* STARTTLS sent */
	C_TLS,	    /* handshake running */
	C_AUTH,	    /* AUTH exchange */
	C_DOT_IGNORE, /* pipelined DATA got 354 with no recipient */
	C_PREPARE,    /* the bytes for this peer are built on a worker */
};

/* smtp_generic_maps, shared with the prepare jobs that use it, so a
 * reload (client_clear) never frees it under a worker.  Counted on the
 * loop thread only: taken at submit, dropped in the done callback. */
struct generic_ref {
	struct rewrite *rw;
	unsigned refs;
};

/* Process-wide client settings (dlv_client_init). */
static struct {
	bool ready;
	struct tls_ctx *tls; /* NULL: TLS unavailable (logged) */
	char tls_error[300];
	enum tls_level level;
	struct map *policy;
	char verify_match[512], secure_match[512];
	bool pipelining;
	struct dlv_sasl_conf *sasl;
	struct generic_ref *generic; /* smtp_generic_maps; NULL: none */
	/* smtp_tls_mandatory_protocols/_ciphers (levels encrypt and up),
	 * smtp_tls_ciphers (the base of an exclude= without ciphers=). */
	int mand_min, mand_max;
	char mand_grade[16];
	char mand_error[300]; /* a bad value: those levels defer */
	char ciphers[512];
} client;

/*
 * The LMTP client's TLS (lmtp_tls_security_level, lmtp_tls_CAfile), as
 * Postfix's lmtp_tls_*: TCP targets only (a unix socket never leaves the
 * host); verify and secure both check the target's host as written in
 * the next hop (a name, or an address against IP subjectAltNames).
 */
static struct {
	struct tls_ctx *tls; /* NULL: TLS unavailable (logged) */
	char tls_error[300];
	enum tls_level level;
} lmtp_client;

struct dlv_addr {
	struct net_addr addr;
	char relay[320]; /* "host[addr]:port" */
	char host[256];	 /* the host name (MX name) or address */
	bool secure;	 /* MX and address answers DNSSEC-secure */
	enum mta_sts_mode sts_mode; /* the destination's MTA-STS mode */
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
	bool ext_starttls, ext_pipelining;
	char auth_mechs[256]; /* the AUTH line's mechanisms, "" none */
	unsigned long long size_limit; /* SIZE n; 0 none */
	/* TLS and AUTH of this connection. */
	enum tls_level level; /* effective (dane may become may) */
	bool tls_done, tlsa_done, auth_done;
	bool plain_retry; /* may: handshake failed, this one is plaintext */
	struct dns_query *tlsa_query;
	struct tls_tlsa *tlsa;
	size_t ntlsa;
	char tls_state[200]; /* for the log: "Verified (TLSv1.3 ...)" */
	struct dlv_sasl *sasl;
	const char *next_dsn; /* the DSN of the next conn_next_host() */
	char last_dsn[16];
	struct dlv_addr *addrs;	       /* snapshot of the pool's list */
	size_t naddrs, addr_i;
	char relay[320];
	char last_error[400]; /* of the hosts tried so far */
	struct job *job;
	struct list_node idle; /* in pool->idle when idle */
	struct list_node all;  /* in pool->conns */
	/* Versions and TLS 1.2 cipher list of this connection (policy
	 * protocols=, ciphers=, exclude=; tls_params()); 0 / "": the
	 * context's. */
	int tls_min, tls_max;
	char tls_ciphers[1024];
	/* TLSRPT (tlsrpt.h): this host's TLS attempt is counted. */
	bool rpt_done;
	/* The name in this host's EHLO/HELO reply (receiving-mx-helo). */
	char peer_helo[256];
	/* The prepare job working for this connection's job (C_PREPARE),
	 * or NULL. */
	struct prep *prep;
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
	struct buf *out; /* outmsg.h's bytes for this peer, or NULL: the
			  * queue file is streamed as it is */
	size_t out_off;
	/* smtp_generic_maps' envelope for this peer (NULL: as queued);
	 * gen_rcpt[k] goes with rcpts[k]. */
	char *gen_sender;
	char **gen_rcpt;
	bool bol; /* the last body byte sent ended a line */
	bool retried;
	bool pipelined, mail_failed; /* RFC 2920 batch */
	bool started; /* counted in pool->busy */
	char relay[320];
	dlv_done_fn *done;
	void *ctx;
	struct list_node pending; /* in pool->pending until started */
	/* An address verification probe (dlv_probe): no body, RSET after
	 * the RCPT reply, every RCPT reply recorded. */
	bool probe;
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
	/* TLS policy of this destination (tls_policy.h). */
	struct tls_policy policy;
	bool policy_failed; /* the policy map lookup failed: defer */
	char policy_error[300];
	const char *policy_dsn; /* 4.7.5 for a bad entry, else 4.3.0 */
	bool mx_secure; /* the MX answer in resolution was secure */
	/* MTA-STS (mta_sts.h): used for this destination (an MX next hop
	 * without a policy map entry), the lookup in flight, and the policy
	 * of the current resolution (mode none: no policy). */
	bool sts_on;
	struct mta_sts_req *sts_req;
	enum mta_sts_mode sts_mode;
	char *sts_mx;
	char sts_id[MTA_STS_ID_MAX + 1];
	unsigned sts_skipped; /* MX hosts enforce left out */
	unsigned long sts_max_age; /* for TLSRPT's policy-string */
	/* No policy although a TXT record promised one: TLSRPT's result
	 * type (mta_sts_failure_name) and the text served, or NULL. */
	const char *sts_failure;
	char *sts_served;
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
static void prep_detach(struct conn *c);
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
		     unsigned port, bool secure)
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
	str_copy(a->host, name, sizeof(a->host));
	a->secure = secure;
	a->sts_mode = p->sts_mode;
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
		add_addr(p, p->host, p->host, p->port, false);
		p->addrs_expire = INT64_MAX;
	} else {
		p->need_dns = true;
	}
}

/* The TLS policy of the destination: smtp_tls_policy_maps by next hop,
 * else $smtp_tls_security_level. */
static void pool_policy(struct dlv_pool *p)
{
	struct error err;
	int r = 0;

	memset(&p->policy, 0, sizeof(p->policy));
	p->policy.level = client.ready ? client.level : TLS_LEV_MAY;
	if (client.policy != NULL)
		r = tls_policy_lookup(client.policy, p->nexthop, &p->policy,
				      &err);
	if (r < 0) {
		log_warn("smtp_tls_policy_maps lookup for %s: %s", p->nexthop,
			 err.msg);
		p->policy_failed = true;
		p->policy_dsn = err.kind == ERR_CONFIG ? "4.7.5" : "4.3.0";
		textf(p->policy_error, sizeof(p->policy_error),
		      "TLS policy lookup for %s failed: %s", p->nexthop,
		      err.msg);
		return;
	}
	if (r == 1 && p->policy.ignored_attrs)
		log_warn("smtp_tls_policy_maps %s: only match=, protocols=, "
			 "ciphers= and exclude= are supported, other "
			 "attributes are ignored",
			 p->nexthop);
	/* An explicit policy map entry wins over MTA-STS; [host] next hops
	 * (relayhost, transport_maps) have no MX to check. */
	p->sts_on = r == 0 && p->mx && mta_sts_enabled();
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
		pool_policy(p);
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
	if (p->addrs[0].addr.family == NET_UNIX) {
		textf(p->addrs[0].relay, sizeof(p->addrs[0].relay), "lmtp[%s]",
		      p->addrs[0].addr.path);
	} else {
		textf(p->addrs[0].relay, sizeof(p->addrs[0].relay),
		      "lmtp[%s]:%u", p->addrs[0].addr.host,
		      p->addrs[0].addr.port);
		/* The name TLS checks (lmtp_tls_security_level verify). */
		str_copy(p->addrs[0].host, p->addrs[0].addr.host,
			 sizeof(p->addrs[0].host));
		str_copy(p->host, p->addrs[0].addr.host, sizeof(p->host));
	}
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
	mta_sts_cancel(&p->sts_req);
	free(p->sts_mx);
	free(p->sts_served);
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

static void generic_clear(struct job *j)
{
	free(j->gen_sender);
	j->gen_sender = NULL;
	if (j->gen_rcpt != NULL)
		for (size_t k = 0; k < j->n; k++)
			free(j->gen_rcpt[k]);
	free(j->gen_rcpt);
	j->gen_rcpt = NULL;
}

static void job_free(struct job *j)
{
	queue_body_close(&j->body);
	buf_free(&j->out);
	generic_clear(j);
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

/* What one host's TLS and AUTH steps leave behind. */
static void conn_reset_host(struct conn *c)
{
	if (c->tlsa_query != NULL)
		dns_cancel(&c->tlsa_query);
	for (size_t i = 0; i < c->ntlsa; i++)
		free((void *)c->tlsa[i].data); /* xmemdup in on_tlsa */
	free(c->tlsa);
	c->tlsa = NULL;
	c->ntlsa = 0;
	dlv_sasl_free(&c->sasl);
	c->tls_done = c->tlsa_done = c->auth_done = false;
	c->tls_state[0] = '\0';
	c->rpt_done = false;
	c->peer_helo[0] = '\0';
}

static void conn_free(struct conn *c)
{
	prep_detach(c);
	conn_reset_host(c);
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
		 * at MAIL, or while the message is prepared for it: try once
		 * more on a fresh one. */
		if (c->reused &&
		    (c->state == C_MAIL || c->state == C_PREPARE) &&
		    !j->retried) {
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
	str_copy(c->last_dsn, c->next_dsn != NULL ? c->next_dsn : "4.4.1",
		 sizeof(c->last_dsn));
	c->next_dsn = NULL;
	io_free(&c->io);
	smtp_reply_parser_free(&c->parser);
	conn_reset_host(c);
	c->plain_retry = false;
	c->addr_i++;
	conn_connect(c);
}

/* A TLS (or AUTH) requirement failed on this host: the next one. */
static void conn_tls_fail(struct conn *c, const char *dsn, const char *fmt,
			  ...) __attribute__((format(printf, 3, 4)));

static void conn_tls_fail(struct conn *c, const char *dsn, const char *fmt,
			  ...)
{
	char why[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (c->job == NULL) {
		log_info("%s", why);
		conn_free(c);
		return;
	}
	c->next_dsn = dsn;
	conn_next_host(c, why);
}

static void send_rcpt(struct conn *c);

/*
 * smtp_generic_maps (generic(5)) on the envelope: the sender and each
 * recipient (env->rcpts[rcpts[k]], k < n) as this SMTP peer gets them,
 * into *sender_r (NULL: unchanged) and *rcpt_r (n entries, NULL:
 * unchanged; set even on an error).  The null sender stays null.  -1
 * with err when a lookup failed (the job defers).  Any thread.
 */
static int generic_envelope(const struct rewrite *rw,
			    const struct queue_env *env, const size_t *rcpts,
			    size_t n, char **sender_r, char ***rcpt_r,
			    struct error *err)
{
	struct buf *b = buf_new();
	int rc = 0;

	*sender_r = NULL;
	if (env->sender[0] != '\0') {
		rc = rewrite_generic(rw, env->sender, b, err);
		if (rc > 0)
			*sender_r = xstrdup(buf_data(b));
	}
	*rcpt_r = xcalloc(n, sizeof(**rcpt_r));
	for (size_t k = 0; k < n && rc >= 0; k++) {
		rc = rewrite_generic(rw, env->rcpts[rcpts[k]].addr, b, err);
		if (rc > 0)
			(*rcpt_r)[k] = xstrdup(buf_data(b));
	}
	buf_free(&b);
	return rc < 0 ? -1 : 0;
}

/* ---- The bytes for one peer, built on a worker thread. */

/*
 * A prepare job: reading the queue file, smtp_generic_maps, the 7-bit
 * downgrade and DKIM signing (key lookups in SQL included) block or
 * cost CPU (about 1 ms per RSA-2048 signature), so they run on
 * prep_workers while the loop serves every other connection.  The job
 * owns copies of what it reads, so it never touches the struct job or
 * struct conn, which may go away meanwhile (the peer hangs up, the
 * connection times out): conn_free() then clears prep->c and the done
 * callback only frees the job.  The daemon's graceful stop waits for
 * the jobs (each holds an ev_ref); the done callback then goes on with
 * the connection as any other in-flight delivery.
 */
enum prep_result { PREP_OK, PREP_READ, PREP_GENERIC, PREP_BUILD };

struct prep {
	/* In, owned by the job. */
	struct queue_env env;
	size_t *rcpts;
	size_t n;
	struct queue_body *body;     /* opened on the loop (queue index) */
	struct generic_ref *generic; /* a reference, or NULL */
	bool need_7bit, transform;
	/* Out. */
	enum prep_result result;
	struct error err;
	struct buf *out; /* NULL: the queue file goes as it is */
	char *gen_sender;
	char **gen_rcpt;
	/* Loop thread only. */
	struct conn *c;	       /* NULL: the connection went away */
	struct list_node live; /* in prep_workers.live until done */
	/* Set by the loop when c went away: the work is skipped or cut
	 * short (a slow key database must not fill the threads with jobs
	 * nobody waits for). */
	atomic_bool cancelled;
};

static struct {
	struct worker_pool *pool; /* made at the first job */
	struct list_node live;	  /* every job not yet done */
} prep_workers;

static void generic_unref(struct generic_ref **gp)
{
	struct generic_ref *g = *gp;

	*gp = NULL;
	if (g != NULL && --g->refs == 0) {
		rewrite_free(&g->rw);
		free(g);
	}
}

static void prep_free(struct prep *pr)
{
	queue_body_close(&pr->body);
	generic_unref(&pr->generic);
	queue_env_clear(&pr->env);
	free(pr->rcpts);
	buf_free(&pr->out);
	free(pr->gen_sender);
	if (pr->gen_rcpt != NULL)
		for (size_t k = 0; k < pr->n; k++)
			free(pr->gen_rcpt[k]);
	free(pr->gen_rcpt);
	free(pr);
}

/* The connection no longer waits for its prepare job (loop thread). */
static void prep_detach(struct conn *c)
{
	if (c->prep != NULL) {
		atomic_store(&c->prep->cancelled, true);
		c->prep->c = NULL;
		c->prep = NULL;
	}
}

/* Worker thread: what prepare_body did on the loop before. */
static void prep_work(void *ctx)
{
	struct prep *pr = ctx;
	struct buf *raw, *out;
	char *chunk;
	bool changed = false;
	ssize_t n;

	if (atomic_load(&pr->cancelled))
		return; /* prep_done() only frees it */
	raw = buf_new_size(pr->env.size + 1);
	chunk = xmalloc(BODY_CHUNK);
	while ((n = queue_body_read(pr->body, chunk, BODY_CHUNK, &pr->err)) > 0)
		buf_append(raw, chunk, (size_t)n);
	free(chunk);
	queue_body_close(&pr->body);
	if (n < 0) {
		pr->result = PREP_READ;
		goto fail;
	}
	/* smtp_generic_maps first, so that what is signed is what is sent.
	 * Maps are read-only and thread-safe for lookups (map.h,
	 * rewrite.h). */
	if (pr->generic != NULL) {
		out = buf_new();
		int r = generic_envelope(pr->generic->rw, &pr->env, pr->rcpts,
					 pr->n, &pr->gen_sender, &pr->gen_rcpt,
					 &pr->err) < 0
			    ? -1
			    : rewrite_header_block(
				  pr->generic->rw, REWRITE_MODE_GENERIC, NULL,
				  buf_data(raw), buf_len(raw), out, &pr->err);
		if (r < 0) {
			pr->result = PREP_GENERIC;
			buf_free(&out);
			goto fail;
		}
		if (r > 0) {
			buf_free(&raw);
			raw = out;
			changed = true;
		} else {
			buf_free(&out);
		}
	}
	if (pr->transform && !atomic_load(&pr->cancelled)) {
		bool built = false;
		out = buf_new();
		if (outmsg_build(&pr->env, buf_data(raw), buf_len(raw),
				 pr->need_7bit, out, &built, &pr->err) < 0) {
			pr->result = PREP_BUILD;
			buf_free(&out);
			goto fail;
		}
		if (built) {
			buf_free(&raw);
			raw = out;
			changed = true;
		} else {
			buf_free(&out);
		}
	}
	pr->result = PREP_OK;
	if (changed) {
		pr->out = raw;
		return;
	}
fail:
	buf_free(&raw);
}

static void send_mail(struct conn *c);

/* Loop thread: the job's outcome, where prepare_body left off. */
static void prep_done(void *ctx)
{
	struct prep *pr = ctx;
	struct conn *c = pr->c;
	struct job *j;
	char text[600];

	list_remove(&pr->live);
	if (c == NULL) {
		/* The connection failed meanwhile and settled its job. */
		prep_free(pr);
		return;
	}
	c->prep = NULL;
	j = c->job;
	switch (pr->result) {
	case PREP_OK:
		j->out = pr->out;
		pr->out = NULL;
		j->gen_sender = pr->gen_sender;
		pr->gen_sender = NULL;
		j->gen_rcpt = pr->gen_rcpt;
		pr->gen_rcpt = NULL;
		prep_free(pr);
		send_mail(c);
		return;
	case PREP_READ:
		log_warn("%s: %s", j->env.id, pr->err.msg);
		set_rest(j, 451, "4.3.0", "queue file read error");
		break;
	case PREP_GENERIC:
		/* A table that does not answer: later, never sent
		 * unrewritten. */
		log_warn("%s: smtp_generic_maps: %s", j->env.id, pr->err.msg);
		set_rest(j, 451, "4.3.0", "address rewriting failed");
		break;
	case PREP_BUILD:
		log_info("%s: %s", j->env.id, pr->err.msg);
		if (pr->err.kind == ERR_PERM) {
			/* RFC 6152 3: it cannot be converted; return it. */
			textf(text, sizeof(text),
			      "host %s does not offer 8BITMIME and the "
			      "message cannot be converted: %s",
			      c->relay, pr->err.msg);
			set_rest(j, 554, "5.6.3", text);
		} else {
			set_rest(j, 451, "4.3.0", pr->err.msg);
		}
		break;
	}
	prep_free(pr);
	conn_idle(c);
}

enum prepare { PREPARE_READY, PREPARE_PENDING, PREPARE_FAILED };

/*
 * The bytes and envelope this peer gets (smtp_generic_maps, then
 * outmsg.h: 7-bit downgrade, DKIM), built before MAIL so a message that
 * cannot go fails here.  SMTP only: LMTP delivers to our own store.
 * READY: nothing to build, go on; PENDING: a prepare job runs and
 * prep_done() goes on; FAILED: the job is settled.
 */
static enum prepare prepare_body(struct conn *c, struct job *j)
{
	bool need_7bit = j->env.body == QUEUE_BODY_8BITMIME && !c->ext_8bitmime;
	bool generic = client.generic != NULL && c->pool->smtp;
	bool transform = need_7bit || outmsg_signs(&j->env);
	struct queue_body *body;
	struct prep *pr;
	struct error err;

	buf_free(&j->out);
	j->out_off = 0;
	generic_clear(j);
	if (!c->pool->smtp || (!generic && !transform))
		return PREPARE_READY;
	/* Opened here: the queue's index is the loop's. */
	if (queue_body_open(j->q, j->env.id, &body, &err) < 0) {
		log_warn("%s: %s", j->env.id, err.msg);
		set_rest(j, 451, "4.3.0", "queue file read error");
		conn_idle(c);
		return PREPARE_FAILED;
	}
	pr = xcalloc(1, sizeof(*pr));
	queue_env_copy(&pr->env, &j->env);
	pr->rcpts = xmemdup(j->rcpts, j->n * sizeof(*j->rcpts));
	pr->n = j->n;
	pr->body = body;
	if (generic) {
		pr->generic = client.generic;
		pr->generic->refs++;
	}
	pr->need_7bit = need_7bit;
	pr->transform = transform;
	pr->c = c;
	c->prep = pr;
	c->state = C_PREPARE;
	io_set_timeout(c->io, DLV_TIMEOUT_MS);
	if (prep_workers.pool == NULL) {
		prep_workers.pool =
		    worker_pool_new(c->pool->ev, DLV_PREP_THREADS);
		list_init(&prep_workers.live);
	}
	list_push_back(&prep_workers.live, &pr->live);
	worker_submit(prep_workers.pool, prep_work, prep_done, pr);
	return PREPARE_PENDING;
}

static void start_mail(struct conn *c)
{
	struct job *j = c->job;
	char text[600];

	str_copy(j->relay, c->relay, sizeof(j->relay));
	if (j->env.smtputf8 && !c->ext_smtputf8) {
		/* RFC 6531 3.4: without SMTPUTF8 the message cannot go. */
		textf(text, sizeof(text),
		      "SMTPUTF8 is required, but was not offered by host "
		      "%s",
		      c->relay);
		set_rest(j, 550, "5.6.7", text);
		conn_idle(c);
		return;
	}
	if (!j->probe && prepare_body(c, j) != PREPARE_READY)
		return;
	send_mail(c);
}

/* The size check, then MAIL (with RCPTs and DATA when pipelining). */
static void send_mail(struct conn *c)
{
	struct job *j = c->job;
	struct buf *cmd = buf_new();
	char text[600];

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
	buf_printf(cmd, "MAIL FROM:<%s>",
		   j->gen_sender != NULL ? j->gen_sender : j->env.sender);
	if (c->ext_size && !j->probe)
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
	if (c->pool->smtp)
		log_info("%s: relay=%s, tls=%s", j->env.id, c->relay,
			 c->tls_state[0] != '\0' ? c->tls_state : "none");
	send_line(c, C_MAIL, "%s", buf_data(cmd));
	buf_free(&cmd);
	j->pipelined = client.pipelining && c->ext_pipelining && !j->probe;
	j->mail_failed = false;
	if (j->pipelined) {
		/* RFC 2920 3.1: MAIL, every RCPT and DATA in one write; the
		 * replies come back in order. */
		for (j->next = 0; j->next < j->n; j->next++)
			send_rcpt(c);
		j->next = 0;
		send_line(c, C_MAIL, "DATA");
	}
}

static void send_rcpt(struct conn *c)
{
	struct job *j = c->job;
	const struct queue_rcpt *r = &j->env.rcpts[j->rcpts[j->next]];
	struct buf *cmd = buf_new();

	buf_printf(cmd, "RCPT TO:<%s>",
		   j->gen_rcpt != NULL && j->gen_rcpt[j->next] != NULL
		       ? j->gen_rcpt[j->next]
		       : r->addr);
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
		if (j->out != NULL) {
			n = (ssize_t)(buf_len(j->out) - j->out_off);
			if (n > BODY_CHUNK)
				n = BODY_CHUNK;
			memcpy(in, buf_data(j->out) + j->out_off, (size_t)n);
			j->out_off += (size_t)n;
		} else {
			n = queue_body_read(j->body, in, BODY_CHUNK, &err);
		}
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

/* The first word of a 250 EHLO/HELO reply: the name the server gives
 * (RFC 5321 4.1.1.1), kept for TLSRPT's receiving-mx-helo. */
static void peer_helo(struct conn *c, const struct smtp_parsed_reply *r)
{
	const char *l = array_len(r->lines) > 0 ? array_get(r->lines, 0) : "";
	size_t n = strcspn(l, " \t");

	if (n > 0 && n < sizeof(c->peer_helo))
		textf(c->peer_helo, sizeof(c->peer_helo), "%.*s", (int)n, l);
}

static void on_hello(struct conn *c, const struct smtp_parsed_reply *r)
{
	peer_helo(c, r);
	for (size_t i = 1; i < array_len(r->lines); i++) {
		const char *l = array_get(r->lines, i);

		if (strcasecmp(l, "8BITMIME") == 0)
			c->ext_8bitmime = true;
		else if (strcasecmp(l, "SMTPUTF8") == 0)
			c->ext_smtputf8 = true;
		else if (strcasecmp(l, "DSN") == 0)
			c->ext_dsn = true;
		else if (strcasecmp(l, "STARTTLS") == 0)
			c->ext_starttls = true;
		else if (strcasecmp(l, "PIPELINING") == 0)
			c->ext_pipelining = true;
		else if (strncasecmp(l, "AUTH", 4) == 0 &&
			 (l[4] == ' ' || l[4] == '='))
			/* "AUTH=" is the pre-RFC 2554 form some still send. */
			str_copy(c->auth_mechs, l + 5, sizeof(c->auth_mechs));
		else if (strncasecmp(l, "SIZE", 4) == 0 &&
			 (l[4] == '\0' || l[4] == ' ')) {
			c->ext_size = true;
			c->size_limit = strtoull(l + 4, NULL, 10);
		}
	}
}

static bool tls_step(struct conn *c);
static bool auth_step(struct conn *c);

static void hello_done(struct conn *c)
{
	if (tls_step(c) || auth_step(c))
		return;
	c->state = C_IDLE;
	io_set_timeout(c->io, DLV_TIMEOUT_MS);
	if (c->job != NULL)
		start_mail(c);
	else
		conn_idle(c);
}

/* ---- TLS and AUTH steps between EHLO and MAIL. */

static bool tls_required(enum tls_level l)
{
	return l != TLS_LEV_NONE && l != TLS_LEV_MAY;
}

static void rpt_note(struct conn *c, const char *result);

static void on_tlsa(struct dns_result *res, int ret, const struct error *err,
		    void *ctx)
{
	struct conn *c = ctx;
	const struct dlv_addr *a = &c->addrs[c->addr_i];
	size_t nrecords = 0;

	c->tlsa_query = NULL;
	c->tlsa_done = true;
	if (ret < 0) {
		/* RFC 7672 2.2: a failed TLSA lookup makes the MX unusable. */
		dns_result_free(&res);
		rpt_note(c, "dnssec-invalid");
		conn_tls_fail(c, "4.7.5", "TLSA lookup error for %s:%u: %s",
			      a->host, a->addr.port,
			      err != NULL ? err->msg : "?");
		return;
	}
	if (ret == 1 && res->security == DNS_SECURE) {
		c->tlsa = xcalloc(res->count, sizeof(*c->tlsa));
		for (size_t i = 0; i < res->count; i++) {
			const struct dns_rr *rr = &res->rrs[i];

			if (rr->type != DNS_T_TLSA)
				continue;
			nrecords++;
			/* RFC 7672 3.1.3: PKIX-TA/PKIX-EE are unusable. */
			if (rr->tlsa.usage != 2 && rr->tlsa.usage != 3)
				continue;
			c->tlsa[c->ntlsa].usage = rr->tlsa.usage;
			c->tlsa[c->ntlsa].selector = rr->tlsa.selector;
			c->tlsa[c->ntlsa].mtype = rr->tlsa.mtype;
			c->tlsa[c->ntlsa].data =
			    xmemdup(rr->tlsa.data, rr->tlsa.len);
			c->tlsa[c->ntlsa].len = rr->tlsa.len;
			c->ntlsa++;
		}
	}
	dns_result_free(&res);
	if (c->ntlsa > 0)
		c->level = TLS_LEV_DANE;
	else if (nrecords > 0)
		/* RFC 7672 2.2: all records unusable: encrypt, no auth. */
		c->level = TLS_LEV_ENCRYPT;
	else if (c->level == TLS_LEV_DANE_ONLY) {
		rpt_note(c, "dane-required");
		conn_tls_fail(c, "4.7.5",
			      "no secure TLSA records for %s:%u (dane-only)",
			      a->host, a->addr.port);
		return;
	} else {
		c->level = TLS_LEV_MAY; /* RFC 7672 2.2: opportunistic */
	}
	hello_done(c);
}

/*
 * MTA-STS enforce (RFC 8461 4.2): TLS with a certificate verified for the
 * MX host name, as the secure level with match=hostname; unless DANE
 * decides (RFC 8461 2: usable DNSSEC-secure TLSA records win; the DANE
 * levels turn into may/encrypt first when there are none).
 */
static void sts_level(struct conn *c)
{
	const struct dlv_addr *a = &c->addrs[c->addr_i];

	if (a->sts_mode == MTA_STS_ENFORCE && c->level != TLS_LEV_DANE &&
	    c->level != TLS_LEV_DANE_ONLY)
		c->level = TLS_LEV_SECURE;
}

/* ---- TLS Reporting (tlsrpt.h, RFC 8460). */

/* Whether this host's TLS attempt is under a policy TLSRPT reports:
 * DANE, MTA-STS, or a level that requires TLS (no-policy-found). */
static bool rpt_applies(const struct conn *c)
{
	return c->level == TLS_LEV_DANE || c->level == TLS_LEV_DANE_ONLY ||
	       c->addrs[c->addr_i].sts_mode != MTA_STS_NONE ||
	       c->pool->sts_failure != NULL || tls_required(c->level);
}

/* The policy-string lines (RFC 8460 4.4): the TLSA records in
 * presentation form, or the MTA-STS policy as served. */
static void rpt_policy_string(const struct conn *c, bool tlsa, struct buf *out)
{
	const struct dlv_pool *p = c->pool;

	if (tlsa) {
		for (size_t i = 0; i < c->ntlsa; i++) {
			const struct tls_tlsa *t = &c->tlsa[i];

			buf_printf(out, "%s%u %u %u ", i > 0 ? "\n" : "",
				   t->usage, t->selector, t->mtype);
			for (size_t k = 0; k < t->len; k++)
				buf_printf(out, "%02X", t->data[k]);
		}
		return;
	}
	if (p->sts_mode == MTA_STS_NONE) {
		/* An invalid policy: what was served (RFC 8460 4.4), its
		 * line ends made LF. */
		for (const char *v = p->sts_served; v != NULL && *v != '\0';
		     v++)
			if (*v != '\r')
				buf_append(out, v, 1);
		return;
	}
	buf_printf(out, "version: STSv1\nmode: %s",
		   mta_sts_mode_name(p->sts_mode));
	for (const char *m = p->sts_mx; m != NULL && *m != '\0';) {
		size_t n = strcspn(m, " ");

		if (n > 0)
			buf_printf(out, "\nmx: %.*s", (int)n, m);
		m += n;
		while (*m == ' ')
			m++;
	}
	buf_printf(out, "\nmax_age: %lu", p->sts_max_age);
}

/* Count this host's TLS attempt once: result NULL for success, else an
 * RFC 8460 4.3 result type. */
static void rpt_note(struct conn *c, const char *result)
{
	const struct dlv_pool *p = c->pool;
	const struct dlv_addr *a = &c->addrs[c->addr_i];
	bool tlsa = c->level == TLS_LEV_DANE || c->level == TLS_LEV_DANE_ONLY;
	char local[NET_ADDR_STRLEN] = "";
	const char *type = TLSRPT_POLICY_NONE;
	struct buf *ps;

	if (c->rpt_done || !tlsrpt_enabled() || !p->smtp || !p->mx ||
	    !rpt_applies(c))
		return;
	c->rpt_done = true;
	if (!tlsa && a->sts_mode == MTA_STS_NONE && p->sts_failure != NULL)
		result = p->sts_failure; /* see below */
	if (result != NULL && c->io != NULL && io_fd(c->io) >= 0 &&
	    net_local_str(io_fd(c->io), local, sizeof(local), NULL) < 0)
		local[0] = '\0';
	if (tlsa)
		type = TLSRPT_POLICY_TLSA;
	else if (a->sts_mode != MTA_STS_NONE)
		type = TLSRPT_POLICY_STS;
	else if (p->sts_failure != NULL) {
		/* RFC 8460 4.3.2.2: the domain has an MTA-STS policy that
		 * could not be fetched or validated; every session to it
		 * counts as that failure, whatever TLS then did. */
		type = TLSRPT_POLICY_STS;
		result = p->sts_failure;
	}
	ps = buf_new();
	rpt_policy_string(c, tlsa, ps);
	struct tlsrpt_session s = {
	    .policy_type = type,
	    .policy_domain = p->host,
	    .policy_string = buf_data(ps),
	    .mx_host = a->host,
	    .result = result,
	    .sending_ip = local,
	    .receiving_ip = a->addr.host,
	    .receiving_helo = c->peer_helo,
	};
	tlsrpt_note(&s);
	buf_free(&ps);
}

/* The result type of a certificate that did not verify. */
static const char *rpt_cert_result(const struct conn *c, enum tls_trust t,
				   const char *why)
{
	if (c->level == TLS_LEV_DANE)
		return "tlsa-invalid"; /* no TLSA record matched */
	if (strstr(why, "expired") != NULL)
		return "certificate-expired";
	if (t == TLS_TRUST_TRUSTED)
		return "certificate-host-mismatch";
	return "certificate-not-trusted";
}

/*
 * The versions and cipher list of this connection, as Postfix: the policy
 * entry's protocols=/ciphers= win; else smtp_tls_mandatory_* at the
 * levels that require TLS; else the context's (smtp_tls_protocols,
 * smtp_tls_ciphers).  exclude= applies to whichever list results; levels
 * that authenticate the server also exclude aNULL.
 */
static int tls_params(struct conn *c, struct error *err)
{
	const struct tls_policy *pol = &c->pool->policy;
	bool mand = tls_required(c->level);
	const char *grade = pol->ciphers, *base = NULL;
	bool no_anon = c->level == TLS_LEV_VERIFY ||
		       c->level == TLS_LEV_SECURE || c->level == TLS_LEV_DANE;

	c->tls_min = c->tls_max = 0;
	c->tls_ciphers[0] = '\0';
	if (!c->pool->smtp)
		return 0; /* LMTP: its context's (no lmtp_tls_mandatory_*) */
	if (mand && client.mand_error[0] != '\0')
		return error_set(err, ERR_CONFIG, "%s", client.mand_error);
	if (pol->min_version != 0) {
		c->tls_min = pol->min_version;
		c->tls_max = pol->max_version;
	} else if (mand) {
		c->tls_min = client.mand_min;
		c->tls_max = client.mand_max;
	}
	if (grade[0] == '\0' && mand)
		grade = client.mand_grade;
	if (grade[0] != '\0')
		base = tls_cipher_grade_list(grade);
	else if (pol->exclude[0] != '\0')
		base = client.ciphers;
	else
		return 0;
	if (base == NULL)
		return error_set(err, ERR_CONFIG, "unknown cipher grade %s",
				 grade);
	return tls_cipherlist_build(base, pol->exclude, no_anon,
				    c->tls_ciphers, sizeof(c->tls_ciphers),
				    err);
}

/* Start what TLS needs next; true when it did (or failed the host). */
static bool tls_step(struct conn *c)
{
	struct dlv_pool *p = c->pool;
	const struct dlv_addr *a = &c->addrs[c->addr_i];
	char qname[DNS_NAME_TEXT_MAX];
	struct error err;

	if (c->tls_done || c->plain_retry)
		return false;
	sts_level(c);
	if (c->level == TLS_LEV_NONE)
		return false;
	if ((c->level == TLS_LEV_DANE || c->level == TLS_LEV_DANE_ONLY) &&
	    !c->tlsa_done) {
		if (!a->secure || p->dns == NULL) {
			c->tlsa_done = true;
			if (c->level == TLS_LEV_DANE_ONLY) {
				rpt_note(c, "dane-required");
				conn_tls_fail(c, "4.7.5",
					      "MX or address of %s is not "
					      "DNSSEC-secure (dane-only)",
					      c->relay);
				return true;
			}
			c->level = TLS_LEV_MAY;
		} else {
			textf(qname, sizeof(qname), "_%u._tcp.%s",
			      a->addr.port, a->host);
			c->state = C_TLSA;
			c->tlsa_query =
			    dns_lookup(p->dns, qname, DNS_T_TLSA, 0, on_tlsa, c);
			return true;
		}
	}
	sts_level(c);
	if (!c->ext_starttls) {
		if (a->sts_mode == MTA_STS_TESTING)
			log_info("%s: MTA-STS policy of %s (testing): enforce "
				 "would defer: TLS not offered by host %s",
				 c->job != NULL ? c->job->env.id : "-", p->host,
				 c->relay);
		rpt_note(c, "starttls-not-supported");
		if (!tls_required(c->level))
			return false;
		conn_tls_fail(c, "4.7.4",
			      "TLS is required, but was not offered by host %s",
			      c->relay);
		return true;
	}
	if ((p->smtp ? client.tls : lmtp_client.tls) == NULL) {
		if (!tls_required(c->level))
			return false;
		conn_tls_fail(c, "4.7.5", "TLS is required, but unavailable: %s",
			      p->smtp ? client.tls_error
				      : lmtp_client.tls_error);
		return true;
	}
	if (tls_params(c, &err) < 0) {
		conn_tls_fail(c, "4.7.5", "TLS policy for %s: %s", c->relay,
			      err.msg);
		return true;
	}
	send_line(c, C_STARTTLS, "STARTTLS");
	return true;
}

static void start_tls(struct conn *c)
{
	struct dlv_pool *p = c->pool;
	const struct dlv_addr *a = &c->addrs[c->addr_i];
	struct tls_client_params tp;
	char names[8][256], key[1900];
	const char *namep[8];
	const char *match = p->policy.match;
	size_t n = 0;
	struct error err;

	memset(&tp, 0, sizeof(tp));
	tp.sni = a->host;
	if (!p->smtp)
		match = "hostname"; /* LMTP: the target as written */
	if (a->sts_mode == MTA_STS_ENFORCE && c->level == TLS_LEV_SECURE)
		match = "hostname";
	else if (a->sts_mode == MTA_STS_TESTING && c->level != TLS_LEV_DANE &&
		 c->level != TLS_LEV_VERIFY && c->level != TLS_LEV_SECURE) {
		/* Only to learn (and log) whether enforce would pass:
		 * names never abort a handshake (tls/io.h). */
		match = "hostname";
		n = tls_policy_names(match, a->host, p->host, names, 8);
		for (size_t i = 0; i < n; i++)
			namep[i] = names[i];
		tp.names = namep;
		tp.nnames = n;
	}
	if (c->level == TLS_LEV_VERIFY || c->level == TLS_LEV_SECURE) {
		if (match[0] == '\0')
			match = c->level == TLS_LEV_VERIFY
				    ? client.verify_match
				    : client.secure_match;
		n = tls_policy_names(match, a->host, p->host, names, 8);
		for (size_t i = 0; i < n; i++)
			namep[i] = names[i];
		tp.names = namep;
		tp.nnames = n;
	}
	if (c->level == TLS_LEV_DANE) {
		tp.tlsa = c->tlsa;
		tp.ntlsa = c->ntlsa;
		tp.dane_base = a->host;
	} else {
		/* No resumption under DANE: the key would have to cover the
		 * TLSA records, which change. */
		textf(key, sizeof(key), "%s|%s|%s|%x-%x|%s", c->relay,
		      tls_level_name(c->level), match, c->tls_min,
		      c->tls_max, c->tls_ciphers);
		tp.session_key = key;
	}
	tp.min_version = c->tls_min;
	tp.max_version = c->tls_max;
	tp.ciphers = c->tls_ciphers[0] != '\0' ? c->tls_ciphers : NULL;
	c->state = C_TLS;
	if (io_start_tls_client(c->io, p->smtp ? client.tls : lmtp_client.tls,
				&tp, &err) < 0)
		/* The server waits for a handshake: this host is done. */
		conn_tls_fail(c, "4.7.5", "cannot start TLS with %s: %s",
			      c->relay, err.msg);
}

static void tls_ready(struct conn *c)
{
	enum tls_trust t = io_tls_trust(c->io);
	struct buf *d = buf_new();
	const char *peer_why = io_tls_verify_error(c->io);

	io_tls_describe(c->io, d);
	textf(c->tls_state, sizeof(c->tls_state), "%s (%s)",
	      tls_trust_name(t), buf_data(d));
	log_info("%s%s%s TLS connection established to %s: %s%s",
		 c->job != NULL ? c->job->env.id : "",
		 c->job != NULL ? ": " : "", tls_trust_name(t), c->relay,
		 buf_data(d), io_tls_reused(c->io) ? " (session reused)" : "");
	buf_reset(d);
	io_tls_peer_names(c->io, d);
	log_debug(LOG_TRACE_TLS, "%s: peer %s", c->relay, buf_data(d));
	buf_free(&d);
	if (c->addrs[c->addr_i].sts_mode == MTA_STS_TESTING &&
	    t != TLS_TRUST_VERIFIED)
		log_info("%s: MTA-STS policy of %s (testing): enforce would "
			 "defer: Server certificate not verified by %s%s%s",
			 c->job != NULL ? c->job->env.id : "-", c->pool->host,
			 c->relay, peer_why[0] ? ": " : "",
			 peer_why[0] ? peer_why : "(name mismatch)");
	/* smtp_tlsrpt_skip_reused_handshakes: a resumed session, as Postfix,
	 * is not counted at all (nothing new was verified). */
	if (io_tls_reused(c->io) && tlsrpt_skip_reused())
		c->rpt_done = true;
	if (t != TLS_TRUST_VERIFIED &&
	    (c->level == TLS_LEV_VERIFY || c->level == TLS_LEV_SECURE ||
	     c->level == TLS_LEV_DANE ||
	     c->addrs[c->addr_i].sts_mode == MTA_STS_TESTING))
		rpt_note(c, rpt_cert_result(c, t, peer_why));
	if ((c->level == TLS_LEV_VERIFY || c->level == TLS_LEV_SECURE ||
	     c->level == TLS_LEV_DANE) &&
	    t != TLS_TRUST_VERIFIED) {
		bool sts = c->addrs[c->addr_i].sts_mode == MTA_STS_ENFORCE &&
			   c->level != TLS_LEV_DANE;

		conn_tls_fail(c, "4.7.5",
			      "Server certificate not verified by %s%s%s%s%s%s",
			      c->relay, peer_why[0] ? ": " : "", peer_why,
			      sts ? " (MTA-STS policy of " : "",
			      sts ? c->pool->host : "", sts ? ")" : "");
		return;
	}
	rpt_note(c, NULL);
	c->tls_done = true;
	/* RFC 3207 4.2: forget the old extensions, ask again. */
	c->ext_8bitmime = c->ext_smtputf8 = c->ext_dsn = false;
	c->ext_size = c->ext_starttls = c->ext_pipelining = false;
	c->auth_mechs[0] = '\0';
	c->size_limit = 0;
	send_line(c, C_HELLO, "%s %s", c->pool->smtp ? "EHLO" : "LHLO",
		  c->pool->myhostname);
}

/* Start AUTH when the map has credentials; true when it did. */
static bool auth_step(struct conn *c)
{
	struct dlv_pool *p = c->pool;
	const struct dlv_addr *a = &c->addrs[c->addr_i];
	char *user = NULL, *pass = NULL;
	struct buf *cmd;
	struct error err;
	int r;

	if (!p->smtp || c->auth_done || client.sasl == NULL ||
	    c->auth_mechs[0] == '\0')
		return false;
	c->auth_done = true;
	r = dlv_sasl_lookup(client.sasl, p->nexthop, a->host, a->addr.port,
			    &user, &pass, &err);
	if (r < 0) {
		conn_tls_fail(c, "4.7.0",
			      "SASL authentication failed: password lookup "
			      "for %s: %s",
			      c->relay, err.msg);
		return true;
	}
	if (r == 0)
		return false;
	cmd = buf_new();
	c->sasl = dlv_sasl_begin(client.sasl, a->host, user, pass,
				 c->auth_mechs, io_tls_active(c->io), cmd, &err);
	explicit_bzero(pass, strlen(pass));
	free(user);
	free(pass);
	if (c->sasl == NULL) {
		buf_free(&cmd);
		conn_tls_fail(c, "4.7.0",
			      "SASL authentication failed: cannot authenticate "
			      "to server %s: %s",
			      c->relay, err.msg);
		return true;
	}
	send_line(c, C_AUTH, "%s", buf_data(cmd));
	buf_free(&cmd);
	return true;
}

static void on_auth_reply(struct conn *c, const struct smtp_parsed_reply *r,
			  const char *text)
{
	struct buf *out;
	struct error err;
	const char *challenge;

	if (r->code == 235) {
		log_info("%s: authenticated to %s with %s",
			 c->job != NULL ? c->job->env.id : "-", c->relay,
			 dlv_sasl_mech(c->sasl));
		dlv_sasl_free(&c->sasl);
		hello_done(c);
		return;
	}
	if (r->code != 334 || array_len(r->lines) == 0) {
		/* Postfix's smtp_sasl_auth_soft_bounce: defer, 4.7.0. */
		conn_tls_fail(c, "4.7.0",
			      "SASL authentication failed; server %s said: %s",
			      c->relay, text);
		return;
	}
	challenge = array_get(r->lines, 0);
	out = buf_new();
	if (dlv_sasl_step(c->sasl, challenge, out, &err) < 0) {
		buf_free(&out);
		/* RFC 4954 4: "*" cancels the exchange. */
		send_line(c, C_AUTH, "*");
		log_warn("%s: %s", c->relay, err.msg);
		return;
	}
	send_line(c, C_AUTH, "%s", buf_data(out));
	buf_free(&out);
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
		peer_helo(c, r);
		hello_done(c);
		return;
	case C_STARTTLS:
		if (cls != 2) {
			rpt_note(c, "starttls-not-supported");
			if (!tls_required(c->level)) {
				/* may: go on in plaintext, as Postfix. */
				c->tls_done = true;
				hello_done(c);
				return;
			}
			conn_tls_fail(c, "4.7.5",
				      "Cannot start TLS: host %s refused "
				      "STARTTLS: %s",
				      c->relay, text);
			return;
		}
		start_tls(c);
		return;
	case C_AUTH:
		on_auth_reply(c, r, text);
		return;
	case C_MAIL:
		if (j->pipelined) {
			/* RCPTs and DATA are on their way: read their
			 * replies, then RSET. */
			if (cls != 2) {
				set_rest(j, r->code, r->enhanced, text);
				j->mail_failed = true;
			}
			j->next = 0;
			c->state = C_RCPT;
			return;
		}
		if (cls != 2) {
			set_rest(j, r->code, r->enhanced, text);
			send_line(c, C_RSET, "RSET");
			return;
		}
		j->next = 0;
		send_rcpt(c);
		return;
	case C_RCPT:
		if (cls == 2 && !j->mail_failed)
			j->accepted[j->naccepted++] = j->next;
		else
			set_result(j, j->next, r->code, r->enhanced, text);
		if (j->probe)
			set_result(j, j->next, r->code, r->enhanced, text);
		if (++j->next < j->n) {
			if (!j->pipelined)
				send_rcpt(c);
			return;
		}
		if (j->pipelined) {
			c->state = C_DATA;
			return;
		}
		if (j->naccepted == 0 || j->probe) {
			send_line(c, C_RSET, "RSET");
			return;
		}
		send_line(c, C_DATA, "DATA");
		return;
	case C_DATA:
		if (r->code == 354 && j->naccepted == 0) {
			/* RFC 2920 3.1: a server should refuse DATA without
			 * recipients; this one did not: send nothing.  An
			 * SMTP server answers the "." once; an LMTP server
			 * answers it once per accepted recipient, that is
			 * never (RFC 2033 4.2), so a RSET follows it there
			 * and its reply ends the transaction. */
			send_line(c, C_DOT_IGNORE, ".");
			if (!c->pool->smtp)
				send_line(c, C_RSET, "RSET");
			return;
		}
		if (r->code != 354) {
			if (j->naccepted > 0)
				set_rest(j, r->code, r->enhanced, text);
			send_line(c, C_RSET, "RSET");
			return;
		}
		if (j->out == NULL &&
		    queue_body_open(j->q, j->env.id, &j->body, &err) < 0) {
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
	case C_DOT_IGNORE:
		conn_idle(c);
		return;
	case C_QUIT:
		return;
	case C_CONNECTING:
	case C_IDLE:
	case C_BODY:
	case C_TLSA:
	case C_TLS:
	case C_PREPARE:
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
	case C_STARTTLS:
		return "sending STARTTLS";
	case C_TLS:
		return "performing the TLS handshake";
	case C_TLSA:
		return "looking up TLSA records";
	case C_AUTH:
		return "authenticating";
	case C_PREPARE:
		return "preparing the message";
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

/*
 * may: Postfix retries the same server in plaintext on a new connection
 * when the handshake fails; required levels move to the next host.
 */
static void tls_handshake_failed(struct conn *c, const char *why)
{
	char text[600];

	textf(text, sizeof(text), "Cannot start TLS: handshake failure with %s: %s",
	      c->relay, why);
	if (c->addrs[c->addr_i].sts_mode == MTA_STS_TESTING)
		log_info("%s: MTA-STS policy of %s (testing): enforce would "
			 "defer: %s",
			 c->job != NULL ? c->job->env.id : "-", c->pool->host,
			 text);
	rpt_note(c, "validation-failure");
	if (tls_required(c->level)) {
		conn_tls_fail(c, "4.7.5", "%s", text);
		return;
	}
	log_info("%s: %s; retrying in plaintext", c->job->env.id, text);
	io_free(&c->io);
	smtp_reply_parser_free(&c->parser);
	conn_reset_host(c);
	c->plain_retry = true;
	conn_connect(c);
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
		if (c->state == C_TLS && c->job != NULL) {
			tls_handshake_failed(c, "timed out");
			return;
		}
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
		if (c->state == C_TLS) {
			tls_handshake_failed(c, io_error(io));
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
		if (c->state == C_TLS)
			tls_ready(c);
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
			str_copy(c->last_dsn, "4.4.1", sizeof(c->last_dsn));
			c->plain_retry = false;
			continue;
		}
		c->parser = smtp_reply_parser_new();
		c->ext_8bitmime = c->ext_smtputf8 = c->ext_dsn = false;
		c->ext_size = false;
		c->ext_starttls = c->ext_pipelining = false;
		c->auth_mechs[0] = '\0';
		c->size_limit = 0;
		c->level = p->smtp ? p->policy.level
			 : a->addr.family == NET_TCP ? lmtp_client.level
						     : TLS_LEV_NONE;
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
	set_rest(j, 451, c->last_dsn[0] != '\0' ? c->last_dsn : "4.4.1", text);
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
	if (p->policy_failed) {
		set_rest(j, 451, p->policy_dsn, p->policy_error);
		ev_defer(p->ev, job_finish_deferred, j);
		return;
	}
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
		if (p->sts_skipped > 0 && !p->dns_temp)
			set_rest(j, 451, "4.7.5", dsn);
		else if (p->dns_temp)
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
					 p->port,
					 p->mx_secure &&
					     res->security == DNS_SECURE);
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

/* RFC 8461 4.1: enforce tries only the MX hosts the policy names;
 * testing logs the others.  False when mx_i is to be skipped. */
static bool sts_host_ok(struct dlv_pool *p)
{
	const char *host = p->mx_list->hosts[p->mx_i].host;

	if (p->sts_mode == MTA_STS_NONE || p->aaaa ||
	    mta_sts_mx_allowed(p->sts_mx, host))
		return true;
	if (p->sts_mode == MTA_STS_TESTING) {
		log_info("MTA-STS policy of %s (testing, id=%s): MX host %s is "
			 "not in the policy; enforce would skip it",
			 p->host, p->sts_id, host);
		return true;
	}
	log_info("MTA-STS policy of %s (enforce, id=%s): skipping MX host %s: "
		 "not in the policy",
		 p->host, p->sts_id, host);
	p->sts_skipped++;
	if (p->naddrs == 0)
		textf(p->dns_error, sizeof(p->dns_error),
		      "MTA-STS policy of %s allows none of its MX hosts (%s)",
		      p->host, p->sts_mx);
	return false;
}

static void lookup_next_host(struct dlv_pool *p)
{
	while (p->mx_i < p->mx_list->count && !sts_host_ok(p))
		p->mx_i++;
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
	/* RFC 7672 2.2.1: DANE only below a secure MX answer. */
	p->mx_secure = list->security == DNS_SECURE;
	p->mx_list = list;
	p->mx_i = 0;
	p->aaaa = p->host_found = false;
	lookup_next_host(p);
}

static void on_sts(const struct mta_sts_answer *a, void *ctx)
{
	struct dlv_pool *p = ctx;

	p->sts_req = NULL;
	free(p->sts_mx);
	p->sts_mx = xstrdup(a->found ? a->mx : "");
	p->sts_mode = a->found ? a->mode : MTA_STS_NONE;
	str_copy(p->sts_id, a->found ? a->id : "", sizeof(p->sts_id));
	p->sts_max_age = a->found ? a->max_age : 0;
	p->sts_failure = mta_sts_failure_name(a->failure);
	free(p->sts_served);
	p->sts_served = a->failure == MTA_STS_FAIL_INVALID
			    ? xstrdup(a->served)
			    : NULL;
	if (a->found)
		log_debug(LOG_TRACE_DNS, "MTA-STS policy of %s: %s (id=%s)",
			  p->host, mta_sts_mode_name(a->mode), a->id);
	p->query = dns_mx_hosts(p->dns, p->host, on_mx, p);
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
	p->sts_skipped = 0;
	p->sts_failure = NULL;
	if (p->mx && p->sts_on) {
		/* The policy first: it decides which MX hosts count. */
		p->sts_req = mta_sts_lookup(p->ev, p->host, on_sts, p);
		return;
	}
	if (p->mx) {
		p->query = dns_mx_hosts(p->dns, p->host, on_mx, p);
		return;
	}
	/* [name]: its addresses, no MX; its A answer alone decides DANE. */
	p->mx_secure = true;
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

void dlv_probe(struct dlv_pool *pool, const char *sender, const char *rcpt,
	       dlv_done_fn *done, void *ctx)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->pool = pool;
	j->probe = true;
	str_copy(j->env.id, "verify", sizeof(j->env.id));
	queue_env_set(&j->env.sender, sender);
	queue_env_add_rcpt(&j->env, rcpt, NULL, 0);
	j->n = 1;
	j->rcpts = xcalloc(1, sizeof(*j->rcpts));
	j->results = xcalloc(1, sizeof(*j->results));
	j->final = xcalloc(1, sizeof(*j->final));
	j->accepted = xcalloc(1, sizeof(*j->accepted));
	j->done = done;
	j->ctx = ctx;
	list_push_back(&pool->pending, &j->pending);
	pool->npending++;
	pool_run(pool);
}

/* ---- Client settings. */

static void client_clear(void)
{
	tls_ctx_free(&client.tls);
	map_free(&client.policy);
	generic_unref(&client.generic); /* jobs in flight keep theirs */
	dlv_sasl_conf_free(&client.sasl);
	memset(&client, 0, sizeof(client));
}

/* smtp_tls_mandatory_*: a bad value is logged here, once, and makes the
 * levels that require TLS defer (never a weaker connection). */
static void mandatory_conf(const struct conf *conf)
{
	const char *prot = conf_str(conf, "smtp_tls_mandatory_protocols");
	const char *grade = conf_str(conf, "smtp_tls_mandatory_ciphers");
	struct error e;

	if (tls_protocols_parse(prot, &client.mand_min, &client.mand_max,
				&e) < 0) {
		textf(client.mand_error, sizeof(client.mand_error),
		      "smtp_tls_mandatory_protocols: %s", e.msg);
	} else if (grade[0] != '\0' && tls_cipher_grade_list(grade) == NULL) {
		textf(client.mand_error, sizeof(client.mand_error),
		      "smtp_tls_mandatory_ciphers: unknown cipher grade "
		      "\"%s\" (export, low, medium, high or null)",
		      grade);
	} else {
		str_copy(client.mand_grade, grade, sizeof(client.mand_grade));
		return;
	}
	log_error("%s; mail that requires TLS is deferred",
		  client.mand_error);
}

/* lmtp_tls_*: dane and dane-only are SMTP's (no DNS here). */
static int lmtp_client_init(const struct conf *conf, struct error *err)
{
	const char *level = conf_str(conf, "lmtp_tls_security_level");
	struct tls_client_config tc = {
	    .ca_file = conf_str(conf, "lmtp_tls_CAfile"),
	};
	enum tls_level lev;
	struct error e2;

	if (tls_level_parse(level, &lev) < 0 || lev == TLS_LEV_DANE ||
	    lev == TLS_LEV_DANE_ONLY)
		return error_set(err, ERR_CONFIG,
				 "lmtp_tls_security_level: unknown level "
				 "\"%s\" (none, may, encrypt, verify or "
				 "secure)",
				 level);
	tls_ctx_free(&lmtp_client.tls);
	memset(&lmtp_client, 0, sizeof(lmtp_client));
	lmtp_client.level = lev;
	if (lev == TLS_LEV_NONE)
		return 0;
	lmtp_client.tls = tls_client_ctx_new(&tc, &e2);
	/* lmtp_tls_cert_file: for LMTP servers that require a client
	 * certificate (lmtpd_tls_req_ccert). */
	if (lmtp_client.tls != NULL &&
	    tls_ctx_set_client_cert(
		lmtp_client.tls, conf_str(conf, "lmtp_tls_cert_file"),
		conf_str(conf, "lmtp_tls_key_file"), &e2) < 0) {
		error_prefix(&e2, "lmtp_tls_cert_file");
		tls_ctx_free(&lmtp_client.tls);
	}
	if (lmtp_client.tls == NULL) {
		log_error("lmtp client TLS unavailable: %s", e2.msg);
		textf(lmtp_client.tls_error, sizeof(lmtp_client.tls_error),
		      "%s", e2.msg);
	}
	return 0;
}

int dlv_client_init(const struct conf *conf, struct error *err)
{
	struct tls_client_config tc = {
	    .ca_file = conf_str(conf, "smtp_tls_CAfile"),
	    .ca_path = conf_str(conf, "smtp_tls_CApath"),
	    .protocols = conf_str(conf, "smtp_tls_protocols"),
	    .ciphers = conf_str(conf, "smtp_tls_ciphers"),
	};
	const char *level = conf_str(conf, "smtp_tls_security_level");
	const char *spec = conf_str(conf, "smtp_tls_policy_maps");
	struct map_env env = {.conf = conf};
	struct error e2;
	enum tls_level lev;

	if (tls_level_parse(level, &lev) < 0)
		return error_set(err, ERR_CONFIG,
				 "smtp_tls_security_level: unknown level "
				 "\"%s\"",
				 level);
	if (lmtp_client_init(conf, err) < 0)
		return -1;
	client_clear();
	client.level = lev;
	client.pipelining = conf_bool(conf, "smtp_pipelining");
	str_copy(client.ciphers, tc.ciphers, sizeof(client.ciphers));
	mandatory_conf(conf);
	str_copy(client.verify_match,
		 conf_str(conf, "smtp_tls_verify_cert_match"),
		 sizeof(client.verify_match));
	str_copy(client.secure_match,
		 conf_str(conf, "smtp_tls_secure_cert_match"),
		 sizeof(client.secure_match));
	client.tls = tls_client_ctx_new(&tc, &e2);
	if (client.tls == NULL) {
		/* Opportunistic TLS then runs in plaintext; required levels
		 * defer.  Mail keeps flowing where policy allows. */
		log_error("smtp client TLS unavailable: %s", e2.msg);
		textf(client.tls_error, sizeof(client.tls_error), "%s",
		      e2.msg);
	}
	if (spec[0] != '\0') {
		client.policy = map_open(spec, &env, &e2);
		if (client.policy == NULL) {
			log_error("smtp_tls_policy_maps: %s", e2.msg);
			/* Defer rather than send with a weaker policy. */
			client.policy = map_open("fail:unavailable", &env, NULL);
		}
	}
	client.sasl = dlv_sasl_conf_new(conf, &e2);
	if (client.sasl == NULL)
		log_error("smtp client SASL disabled: %s", e2.msg);
	if (conf_str(conf, "smtp_generic_maps")[0] != '\0') {
		/* rewrite_new() copies what it needs from the env at open,
		 * as map_open() does. */
		static struct map_env generic_env;
		struct rewrite *rw = rewrite_new(conf, &generic_env, &e2);
		if (rw == NULL)
			return error_set(err, ERR_CONFIG, "%s", e2.msg);
		client.generic = xcalloc(1, sizeof(*client.generic));
		client.generic->rw = rw;
		client.generic->refs = 1;
	}
	mta_sts_configure(conf);
	client.ready = true;
	return 0;
}

void dlv_client_fini(void)
{
	/* Joins the threads; done callbacks still pending are not run (the
	 * loop has drained on a graceful stop, so none should be): their
	 * jobs are freed here, after the last work function returned. */
	if (prep_workers.pool != NULL) {
		worker_pool_free(&prep_workers.pool);
		while (!list_empty(&prep_workers.live)) {
			struct prep *pr = LIST_ENTRY(
			    list_first(&prep_workers.live), struct prep, live);
			list_remove(&pr->live);
			if (pr->c != NULL)
				pr->c->prep = NULL;
			prep_free(pr);
		}
	}
	client_clear();
	tls_ctx_free(&lmtp_client.tls);
	mta_sts_fini();
}
