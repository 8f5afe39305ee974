/*
 * qmgr - the scheduler of postern-queued (Postfix's qmgr role).
 *
 * Messages wait on a FIFO ready list; at most $qmgr_message_active_limit
 * are in delivery at once.  A message in delivery is "active"
 * (queue_activate, memory only).  Its recipients are grouped by
 * destination (transport:nexthop, resolve.c) in transactions of at most
 * $default_destination_recipient_limit recipients.  Each destination
 * keeps its transactions waiting here and hands the destination's pool
 * (deliver.c) at most `window` at once: Postfix's slow start, from
 * $initial_destination_concurrency up to
 * $default_destination_concurrency_limit, one more per window of
 * deliveries that worked, narrowed by each connection failure
 * (lmtp runs at $lmtp_destination_concurrency_limit).  When a whole
 * window's worth of attempts in a row fail to connect (DSN 4.4.x), the
 * destination is dead: its mail is deferred at once, without holding
 * up other destinations, for $minimal_backoff_time, doubling with each
 * death up to $maximal_backoff_time; then one probe goes.  Mail for the
 * $defer_transports waits deferred until a flush.  The error, discard
 * and retry transports are decided here without a connection.
 * After the attempt every recipient has a status: delivered and failed
 * ones are final, deferred ones get a retry time, and the message is
 * removed (all final) or moved to deferred/.  Every $queue_run_delay the
 * deferred messages whose retry time has come go back on the ready list.
 *
 * Backoff is Postfix's: the next attempt waits as long as the message
 * has been queued, clamped to [$minimal_backoff_time,
 * $maximal_backoff_time]; so the waits double from one attempt to the
 * next until the maximum.  Past $maximal_queue_lifetime
 * ($bounce_queue_lifetime for a bounce) a deferred recipient expires and
 * is returned to the sender.
 *
 * Failed recipients produce one RFC 3464 bounce per attempt (bounce.c),
 * queued back to the sender from the null sender, and never sent to the
 * null sender (a bounce that bounces is logged and dropped, or sent to
 * $2bounce_notice_recipient with notify_classes 2bounce).  NOTIFY=NEVER
 * recipients are not reported.  With $delay_warning_time, the first
 * deferral past that age sends the sender one delay notice
 * (delay_due() explains how "first" is known without a mark on disk).
 * notify_classes bounce and delay add headers-only postmaster copies.
 * Every notice is durable before the message leaves the active state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/array.h"
#include "core/hash.h"
#include "core/list.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "dns/dns.h"
#include "ev/ev.h"
#include "notice_rcpt.h"

#include "queued.h"

struct ready {
	struct list_node node;
	char id[QUEUE_ID_MAX];
	bool flush; /* by a flush: $defer_transports do not hold it */
};

/* A destination's scheduling state (the pool holds its connections). */
struct dest {
	struct route route;
	struct list_node waiting; /* struct djob, not yet handed over */
	unsigned inflight;	  /* handed to the pool, not answered */
	double window;		  /* slow start: allowed in flight */
	unsigned fails;		  /* connection failures in a row */
	unsigned deaths;	  /* dead periods in a row (backoff) */
	int64_t dead_until;	  /* monotonic ms; 0: alive */
	char why[256];		  /* the failure that made it dead */
	/* $<transport>_destination_rate_delay: no start before next_ms
	 * (monotonic); a timer (rate_timer, this dest) is armed while
	 * work waits for it. */
	struct qmgr *m;
	int64_t next_ms;
};

/* One transaction: some recipients of one message for one destination. */
struct djob {
	struct list_node node;
	struct qmsg *qm;
	struct dest *d;
	size_t *idx;
	size_t n;
};

/* A message in delivery. */
struct qmsg {
	struct qmgr *m;
	struct queue_env env;
	bool hold_after, delete_after; /* control verbs while active */
	struct array *bounce;	       /* struct bounce_rcpt *, owned */
	struct array *delayed;	       /* the same, for a delay notice */
	unsigned groups_left;	       /* destinations not yet answered */
};

struct qmgr {
	struct ev *ev;
	struct queue *q;
	struct qmgr_params p;
	struct hash *pools; /* route key -> struct dlv_pool * */
	struct resolver *resolver;
	struct dns_resolver *dns;
	struct list_node ready;
	struct hash *ready_set; /* id -> struct ready * */
	struct hash *active;	/* id -> struct qmsg * */
	struct hash *moving;	/* ids with a control move in flight */
	struct hash *dests;	/* route key -> struct dest * */
	bool kicked;
	bool stopping;
	struct notice_rcpt *notice_rcpt; /* postmaster notices' addresses */
};

static void scan_timer(struct ev *ev, void *ctx);
static void answer_later(struct qmgr *m, struct qmsg *qm, const size_t *idx,
			 size_t n, enum dlv_rcpt_result result,
			 const char *dsn, const char *text);

void qmgr_params_from_conf(struct qmgr_params *p, const struct conf *conf)
{
	long long conc = conf_int(conf, "lmtp_destination_concurrency_limit");

	p->min_backoff_ms = conf_time(conf, "minimal_backoff_time") * 1000;
	p->max_backoff_ms = conf_time(conf, "maximal_backoff_time") * 1000;
	if (p->max_backoff_ms < p->min_backoff_ms)
		p->max_backoff_ms = p->min_backoff_ms;
	p->run_delay_ms = conf_time(conf, "queue_run_delay") * 1000;
	if (p->run_delay_ms < 1000)
		p->run_delay_ms = 1000;
	p->max_lifetime_ms = conf_time(conf, "maximal_queue_lifetime") * 1000;
	p->bounce_lifetime_ms = conf_time(conf, "bounce_queue_lifetime") * 1000;
	p->concurrency = conc < 1 ? 1 : conc > 1000 ? 1000 : (unsigned)conc;
	conc = conf_int(conf, "default_destination_concurrency_limit");
	p->smtp_concurrency = conc < 1	    ? 1
			      : conc > 1000 ? 1000
					    : (unsigned)conc;
	conc = conf_int(conf, "qmgr_message_active_limit");
	p->active_limit = conc < 1 ? 1 : (unsigned)conc;
	p->connect_timeout_ms = conf_time(conf, "smtp_connect_timeout") * 1000;
	conc = conf_int(conf, "smtp_tcp_port");
	p->smtp_port = conc < 1 || conc > 65535 ? 25 : (unsigned)conc;
	p->lmtp_target = xstrdup(conf_str(conf, "lmtp_delivery_target"));
	p->myhostname = xstrdup(conf_str(conf, "myhostname"));
	p->helo_name = xstrdup(conf_str(conf, "smtp_helo_name"));
	conc = conf_int(conf, "initial_destination_concurrency");
	p->initial_concurrency = conc < 1 ? 1
				 : conc > p->smtp_concurrency
				     ? p->smtp_concurrency
				     : (unsigned)conc;
	conc = conf_int(conf, "default_destination_recipient_limit");
	p->recipient_limit = conc < 1 ? 1 : (unsigned)conc;
	p->defer_transports = xstrdup(conf_str(conf, "defer_transports"));
	p->delay_warning_ms = conf_time(conf, "delay_warning_time") * 1000;
	p->notify = 0;
	{
		struct array *cls = str_split(conf_str(conf, "notify_classes"),
					      ", \t");
		for (size_t i = 0; i < array_len(cls); i++) {
			const char *c = array_get(cls, i);
			if (strcasecmp(c, "bounce") == 0)
				p->notify |= QMGR_NOTIFY_BOUNCE;
			else if (strcasecmp(c, "2bounce") == 0)
				p->notify |= QMGR_NOTIFY_2BOUNCE;
			else if (strcasecmp(c, "delay") == 0)
				p->notify |= QMGR_NOTIFY_DELAY;
		}
		array_free_with(&cls, free);
	}
	p->bounce_rcpt = xstrdup(conf_str(conf, "bounce_notice_recipient"));
	p->bounce2_rcpt = xstrdup(conf_str(conf, "2bounce_notice_recipient"));
	p->delay_rcpt = xstrdup(conf_str(conf, "delay_notice_recipient"));
	p->smtp_rate_delay_ms =
	    conf_time(conf, "smtp_destination_rate_delay") * 1000;
	p->lmtp_rate_delay_ms =
	    conf_time(conf, "lmtp_destination_rate_delay") * 1000;
}

void qmgr_params_clear(struct qmgr_params *p)
{
	free(p->lmtp_target);
	free(p->myhostname);
	free(p->helo_name);
	free(p->defer_transports);
	free(p->bounce_rcpt);
	free(p->bounce2_rcpt);
	free(p->delay_rcpt);
	p->lmtp_target = p->myhostname = p->helo_name = NULL;
	p->defer_transports = NULL;
	p->bounce_rcpt = p->bounce2_rcpt = p->delay_rcpt = NULL;
}

static void params_copy(struct qmgr_params *dst, const struct qmgr_params *src)
{
	*dst = *src;
	dst->lmtp_target = xstrdup(src->lmtp_target);
	dst->myhostname = xstrdup(src->myhostname);
	dst->helo_name = xstrdup(src->helo_name);
	dst->defer_transports = xstrdup(src->defer_transports);
	dst->bounce_rcpt = xstrdup(src->bounce_rcpt);
	dst->bounce2_rcpt = xstrdup(src->bounce2_rcpt);
	dst->delay_rcpt = xstrdup(src->delay_rcpt);
}

static void rate_timer(struct ev *ev, void *ctx);

static void dest_free(void *p)
{
	struct dest *d = p;
	struct list_node *n, *tmp;

	ev_timer_del(d->m->ev, rate_timer, d);

	LIST_FOREACH(n, tmp, &d->waiting)
	{
		struct djob *j = LIST_ENTRY(n, struct djob, node);
		free(j->idx);
		free(j);
	}
	free(d);
}

static void pool_free_cb(void *pool)
{
	dlv_pool_free((struct dlv_pool **)&pool);
}

/* The pool of a destination, made at its first use. */
static struct dlv_pool *pool_get(struct qmgr *m, const struct route *route)
{
	struct dlv_pool *pool = hash_get(m->pools, route->key);
	struct dlv_params dp;

	if (pool != NULL)
		return pool;
	dp.myhostname =
	    route->kind == TR_SMTP ? m->p.helo_name : m->p.myhostname;
	dp.concurrency =
	    route->kind == TR_SMTP ? m->p.smtp_concurrency : m->p.concurrency;
	dp.connect_timeout_ms = m->p.connect_timeout_ms;
	dp.default_port = m->p.smtp_port;
	pool = dlv_pool_new(m->ev, m->dns, route, &dp);
	hash_put(m->pools, route->key, pool);
	return pool;
}

struct qmgr *qmgr_new(struct ev *ev, struct queue *q,
		      const struct qmgr_params *params, const struct conf *conf)
{
	struct qmgr *m = xcalloc(1, sizeof(*m));
	struct error err;

	m->ev = ev;
	m->q = q;
	params_copy(&m->p, params);
	m->pools = hash_new(HASH_DEFAULT, pool_free_cb);
	/* For the order of equal-preference MX hosts only. */
	srandom((unsigned)time_wall_ms() ^ (unsigned)getpid());
	m->resolver = resolver_new(conf);
	m->notice_rcpt = notice_rcpt_new(conf);
	/* Without DNS, mail to hosted domains and numeric next hops still
	 * flows; MX deliveries defer. */
	m->dns = dns_resolver_new(ev, conf, &err);
	if (m->dns == NULL)
		log_error("smtp delivery: DNS resolver: %s", err.msg);
	list_init(&m->ready);
	m->ready_set = hash_new(HASH_DEFAULT, NULL);
	m->active = hash_new(HASH_DEFAULT, NULL);
	m->moving = hash_new(HASH_DEFAULT, NULL);
	m->dests = hash_new(HASH_DEFAULT, dest_free);
	return m;
}

static void run_ready(struct ev *ev, void *ctx);
static void close_pool(struct ev *ev, void *ctx);

void qmgr_free(struct qmgr **mp)
{
	struct qmgr *m = *mp;
	struct list_node *n, *tmp;

	if (m == NULL)
		return;
	ev_timer_del(m->ev, scan_timer, m);
	ev_defer_cancel(m->ev, run_ready, m);
	ev_defer_cancel(m->ev, close_pool, m);
	LIST_FOREACH(n, tmp, &m->ready)
	{
		free(LIST_ENTRY(n, struct ready, node));
	}
	hash_free(&m->ready_set);
	hash_free(&m->active);
	hash_free(&m->moving);
	hash_free(&m->dests);
	hash_free(&m->pools);
	resolver_free(&m->resolver);
	notice_rcpt_free(&m->notice_rcpt);
	dns_resolver_free(&m->dns);
	qmgr_params_clear(&m->p);
	free(m);
	*mp = NULL;
}

void qmgr_reload(struct qmgr *m, const struct qmgr_params *params,
		 const struct conf *conf)
{
	qmgr_params_clear(&m->p);
	params_copy(&m->p, params);
	/* New maps; idle pools go (busy ones finish, and new parameters
	 * reach them when they are next made). */
	resolver_free(&m->resolver);
	m->resolver = resolver_new(conf);
	notice_rcpt_free(&m->notice_rcpt);
	m->notice_rcpt = notice_rcpt_new(conf);
	ev_defer(m->ev, close_pool, m);
}

struct queue *qmgr_queue(struct qmgr *m)
{
	return m->q;
}

void qmgr_stop(struct qmgr *m)
{
	struct list_node *n, *tmp;

	m->stopping = true;
	ev_timer_del(m->ev, scan_timer, m);
	ev_defer_cancel(m->ev, run_ready, m);
	{
		struct hash_iter it = {0};
		const char *key;
		void *pool;
		while (hash_next(m->pools, &it, &key, &pool))
			dlv_pool_stop(pool);
	}
	{
		/* Transactions not handed to a pool yet: deferred. */
		struct hash_iter it = {0};
		const char *key;
		void *v;
		while (hash_next(m->dests, &it, &key, &v)) {
			struct dest *d = v;
			struct list_node *jn, *jt;
			LIST_FOREACH(jn, jt, &d->waiting)
			{
				struct djob *j =
				    LIST_ENTRY(jn, struct djob, node);
				list_remove(&j->node);
				answer_later(m, j->qm, j->idx, j->n, DLV_TEMP,
					     "4.3.0", "mail system shutting "
						      "down");
				free(j->idx);
				free(j);
			}
		}
	}
	LIST_FOREACH(n, tmp, &m->ready)
	{
		struct ready *r = LIST_ENTRY(n, struct ready, node);
		list_remove(n);
		hash_del(m->ready_set, r->id);
		free(r);
	}
	close_pool(m->ev, m);
}

/* ---- The ready list. */

static void kick(struct qmgr *m)
{
	if (!m->kicked && !m->stopping) {
		m->kicked = true;
		ev_defer(m->ev, run_ready, m);
	}
}

static void enqueue(struct qmgr *m, const char *id, bool flush)
{
	struct ready *r = hash_get(m->ready_set, id);

	if (r != NULL && flush)
		r->flush = true;
	if (m->stopping || r != NULL || hash_contains(m->active, id) ||
	    hash_contains(m->moving, id))
		return;
	r = xcalloc(1, sizeof(*r));
	r->flush = flush;
	str_copy(r->id, id, sizeof(r->id));
	list_push_back(&m->ready, &r->node);
	hash_put(m->ready_set, r->id, r);
	kick(m);
}

void qmgr_enqueue(struct qmgr *m, const char *id)
{
	enqueue(m, id, false);
}

static void unready(struct qmgr *m, const char *id)
{
	struct ready *r = hash_get(m->ready_set, id);

	if (r == NULL)
		return;
	hash_del(m->ready_set, id);
	list_remove(&r->node);
	free(r);
}

static int64_t backoff_ms(const struct qmgr *m, const struct queue_env *env,
			  int64_t now_ms)
{
	int64_t age = now_ms - env->arrival;

	if (age < m->p.min_backoff_ms)
		return m->p.min_backoff_ms;
	if (age > m->p.max_backoff_ms)
		return m->p.max_backoff_ms;
	return age;
}

static bool is_bounce(const struct queue_env *env)
{
	return env->sender[0] == '\0';
}

/* A 2bounce notice (from double-bounce@$myhostname): never reported. */
static bool is_double_bounce(const struct qmsg *qm)
{
	const char *s = qm->env.sender;

	return strncasecmp(s, "double-bounce@", 14) == 0 &&
	       strcasecmp(s + 14, qm->m->p.myhostname) == 0;
}

/* After SIGTERM (idle connections would keep the loop alive) and a
 * reload: free the pools with nothing to do.  Run deferred, never from
 * inside a delivery callback. */
static void free_pools(struct qmgr *m, bool with_idle_conns)
{
	struct array *idle = array_new();
	struct hash_iter it = {0};
	const char *key;
	void *pool;

	while (hash_next(m->pools, &it, &key, &pool))
		if (with_idle_conns ? dlv_pool_busy(pool) == 0
				    : dlv_pool_unused(pool))
			array_push(idle, xstrdup(key));
	for (size_t i = 0; i < array_len(idle); i++)
		hash_del(m->pools, array_get(idle, i));
	array_free_with(&idle, free);
}

static void close_pool(struct ev *ev, void *ctx)
{
	free_pools(ctx, true);
}

/* ---- After the attempt. */

static void msg_end(struct qmsg *qm)
{
	struct qmgr *m = qm->m;
	struct error err;
	const char *id = qm->env.id;
	int rc;

	if (qm->delete_after) {
		rc = queue_delete(m->q, id, NULL, NULL, &err);
		log_info("%s: removed (deleted by the operator)", id);
	} else if (queue_env_done(&qm->env)) {
		rc = queue_delete(m->q, id, NULL, NULL, &err);
		log_info("%s: removed", id);
	} else {
		rc = queue_move(m->q, id,
				qm->hold_after ? QUEUE_HOLD : QUEUE_DEFERRED,
				NULL, NULL, &err);
		if (qm->hold_after)
			log_info("%s: held by the operator", id);
	}
	if (rc < 0)
		log_warn("%s: %s", id, err.msg);
	hash_del(m->active, id);
	queue_env_clear(&qm->env);
	array_free_with(&qm->bounce, free);
	array_free_with(&qm->delayed, free);
	free(qm);
	if (m->stopping)
		ev_defer(m->ev, close_pool, m);
	kick(m);
}

static void send_notice(struct qmsg *qm, struct array *list, int64_t until,
			const char *from, const char *to, bool copy,
			queue_commit_fn *done, const char *what);
static void on_copy_end(void *ctx, const char *id, const struct error *err);

static void on_bounce_commit(void *ctx, const char *id, const struct error *err)
{
	struct qmsg *qm = ctx;

	if (err != NULL) {
		/* The failures stay owed: deferred again, so the next
		 * attempt fails and bounces again. */
		log_warn("%s: could not queue the bounce: %s", qm->env.id,
			 err->msg);
		for (size_t i = 0; i < array_len(qm->bounce); i++) {
			struct bounce_rcpt *b = array_get(qm->bounce, i);
			size_t k = (size_t)(b->rcpt - qm->env.rcpts);

			queue_rcpt_set_status(qm->m->q, qm->env.id, k,
					      QUEUE_RCPT_DEFERRED, 0, b->reason,
					      NULL, NULL, NULL);
			qm->env.rcpts[k].status = QUEUE_RCPT_DEFERRED;
		}
	} else {
		log_info("%s: sender non-delivery notification: %s", qm->env.id,
			 id);
		qmgr_enqueue(qm->m, id);
		if (qm->m->p.notify & QMGR_NOTIFY_BOUNCE) {
			send_notice(qm, qm->bounce, 0, "", qm->m->p.bounce_rcpt,
				    true, on_copy_end, "postmaster copy");
			return;
		}
	}
	msg_end(qm);
}

/*
 * Queue a report on the recipients in `list` of qm, from `from` to `to`:
 * a bounce (until 0), a delay notice (until: when the mail is given up),
 * or the postmaster's copy of either (copy).  done(qm, id, err) runs once
 * it is durable (or failed).  what names it in the log.
 */
static void send_notice(struct qmsg *qm, struct array *list, int64_t until,
			const char *from, const char *to, bool copy,
			queue_commit_fn *done, const char *what)
{
	struct qmgr *m = qm->m;
	size_t n = array_len(list);
	struct bounce_rcpt *br = xcalloc(n + 1, sizeof(*br));
	struct buf *orig = buf_new();
	struct buf *out = buf_new();
	int64_t now = time_wall_ms() / 1000;
	struct error err;
	struct queue_msg *msg;
	struct queue_env *env;

	for (size_t i = 0; i < n; i++)
		br[i] = *(struct bounce_rcpt *)array_get(list, i);
	if (queue_body_get(m->q, qm->env.id, orig, &err) < 0)
		log_warn("%s: %s without the original: %s", qm->env.id, what,
			 err.msg);
	if (copy)
		notice_copy_build(out, &qm->env, br, n, orig, m->p.myhostname,
				  now, until, to);
	else if (until != 0)
		delay_build(out, &qm->env, br, n, orig, m->p.myhostname, now,
			    until);
	else
		bounce_build(out, &qm->env, br, n, orig, m->p.myhostname, now);
	free(br);
	buf_free(&orig);
	msg = queue_msg_new(m->q);
	env = queue_msg_env(msg);
	queue_env_set(&env->sender, from);
	if (copy) {
		/* A postmaster's: qualified and resolved as smtpd would
		 * (aliases, role addresses: notice_rcpt.h). */
		struct array *tos = array_new();

		notice_rcpt_expand(m->notice_rcpt, to, tos);
		for (size_t i = 0; i < array_len(tos); i++)
			queue_env_add_rcpt(env, array_get(tos, i), NULL, 0);
		array_free_with(&tos, free);
	} else {
		queue_env_add_rcpt(env, to, NULL, 0);
	}
	if (queue_msg_write(msg, buf_data(out), buf_len(out), &err) < 0) {
		queue_msg_abort(&msg);
		buf_free(&out);
		done(qm, NULL, &err);
		return;
	}
	log_info("%s: from=<%s>, size=%zu, nrcpt=1 (%s of %s)", env->id, from,
		 buf_len(out), what, qm->env.id);
	buf_free(&out);
	queue_msg_commit(msg, done, qm);
}

/* When a deferred recipient of qm will be given up (wall seconds). */
static int64_t give_up_time(const struct qmsg *qm)
{
	return qm->env.arrival / 1000 + qm->m->p.max_lifetime_ms / 1000;
}

/* A postmaster copy ($notify_classes) is queued (or not): the end. */
static void on_copy_end(void *ctx, const char *id, const struct error *err)
{
	struct qmsg *qm = ctx;

	if (err != NULL) {
		log_warn("%s: could not queue the postmaster notice: %s",
			 qm->env.id, err->msg);
	} else {
		log_info("%s: postmaster notification: %s", qm->env.id, id);
		qmgr_enqueue(qm->m, id);
	}
	msg_end(qm);
}

static void send_bounce(struct qmsg *qm)
{
	send_notice(qm, qm->bounce, 0, "", qm->env.sender, false,
		    on_bounce_commit, "bounce");
}

static void report_rcpt(struct array *to, const struct queue_rcpt *r,
			const char *dsn, const char *reason)
{
	struct bounce_rcpt *b;

	b = xmalloc(sizeof(*b) + strlen(dsn) + strlen(reason) + 2);
	char *p = (char *)(b + 1);
	strcpy(p, dsn);
	strcpy(p + strlen(dsn) + 1, reason);
	b->rcpt = r;
	b->dsn = p;
	b->reason = p + strlen(dsn) + 1;
	array_push(to, b);
}

static void fail_rcpt(struct qmsg *qm, size_t k, const char *dsn,
		      const char *reason)
{
	const struct queue_rcpt *r = &qm->env.rcpts[k];

	if (r->notify & QUEUE_NOTIFY_NEVER)
		return;
	report_rcpt(qm->bounce, r, dsn, reason);
}

/*
 * Whether this deferral is the first one past $delay_warning_time.  The
 * queue keeps no "warned" mark, but it keeps the retry time the last
 * attempt set (last + backoff(last age), see on_delivered): inverting
 * the backoff gives the last attempt's age, and the notice goes when it
 * was under the threshold and now is not.  So one notice per recipient,
 * also across restarts.
 */
static bool delay_due(const struct qmgr *m, const struct qmsg *qm,
		      const struct queue_rcpt *r, int64_t now_ms)
{
	int64_t t = m->p.delay_warning_ms / 1000;
	int64_t arrival = qm->env.arrival / 1000;
	int64_t age = now_ms / 1000 - arrival;
	int64_t lo = m->p.min_backoff_ms / 1000, hi = m->p.max_backoff_ms / 1000;
	int64_t prev = -1; /* age at the last attempt; -1: none */

	if (t <= 0 || is_bounce(&qm->env) || age < t ||
	    (r->notify & QUEUE_NOTIFY_NEVER) ||
	    (r->notify != 0 && !(r->notify & QUEUE_NOTIFY_DELAY)))
		return false;
	if (r->status == QUEUE_RCPT_DEFERRED && r->next_retry > 0) {
		int64_t due = r->next_retry - arrival;
		if (due - lo <= lo)
			prev = due - lo; /* young: the minimum backoff */
		else if (due - hi >= hi)
			prev = due - hi; /* old: the maximum */
		else
			prev = due / 2; /* backoff = age */
	}
	return prev < t;
}

/* The address of an ORCPT ("rfc822;a@b" gives "a@b"), or NULL when it is
 * not given or names the recipient itself (Postfix logs orig_to only
 * when it differs). */
static const char *orig_to(const struct queue_rcpt *r)
{
	const char *semi, *addr;

	if (r->orcpt == NULL)
		return NULL;
	semi = strchr(r->orcpt, ';');
	addr = semi != NULL ? semi + 1 : r->orcpt;
	return strcasecmp(addr, r->addr) == 0 ? NULL : addr;
}

static void log_delivery(const struct qmsg *qm, const struct queue_rcpt *r,
			 const char *relay, int64_t now, const char *dsn,
			 const char *status, const char *reply)
{
	double delay = (double)(now - qm->env.arrival) / 1000.0;
	const char *orig = orig_to(r);
	char d[32];

	/* Postfix's style: two significant digits, whole seconds past 10. */
	snprintf(d, sizeof(d), delay < 10 ? "%.2g" : "%.0f", delay);
	log_info("%s: to=<%s>,%s%s%s relay=%s, delay=%s, dsn=%s, "
		 "status=%s (%s)",
		 qm->env.id, r->addr, orig != NULL ? " orig_to=<" : "",
		 orig != NULL ? orig : "", orig != NULL ? ">," : "", relay, d,
		 dsn, status, reply);
}

static void msg_answered(struct qmsg *qm);

static void on_delivered(void *ctx, const struct dlv_result *res, size_t n,
			 const char *relay)
{
	struct qmsg *qm = ctx;
	struct qmgr *m = qm->m;
	int64_t now = time_wall_ms();
	int64_t lifetime = is_bounce(&qm->env) ? m->p.bounce_lifetime_ms
					       : m->p.max_lifetime_ms;
	bool expired = now - qm->env.arrival > lifetime;
	int64_t retry = now / 1000 + backoff_ms(m, &qm->env, now) / 1000;
	struct error err;

	for (size_t i = 0; i < n; i++) {
		size_t k = res[i].rcpt;
		struct queue_rcpt *r = &qm->env.rcpts[k];
		enum queue_rcpt_status st;
		const char *status;

		switch (res[i].result) {
		case DLV_OK:
			st = QUEUE_RCPT_DELIVERED;
			status = "sent";
			break;
		case DLV_PERM:
			st = QUEUE_RCPT_FAILED;
			status = "bounced";
			break;
		default:
			st = expired ? QUEUE_RCPT_FAILED : QUEUE_RCPT_DEFERRED;
			status = expired ? "expired" : "deferred";
			break;
		}
		log_delivery(qm, r, relay, now, res[i].dsn, status,
			     res[i].reply);
		if (st == QUEUE_RCPT_DEFERRED && delay_due(m, qm, r, now))
			report_rcpt(qm->delayed, r, res[i].dsn, res[i].reply);
		if (queue_rcpt_set_status(m->q, qm->env.id, k, st,
					  st == QUEUE_RCPT_DEFERRED ? retry : 0,
					  res[i].reply, NULL, NULL, &err) < 0)
			log_warn("%s: %s", qm->env.id, err.msg);
		r->status = st;
		if (st == QUEUE_RCPT_FAILED)
			fail_rcpt(qm, k, res[i].dsn, res[i].reply);
	}
	if (--qm->groups_left == 0)
		msg_answered(qm);
}

static void on_delay_copy_commit(void *ctx, const char *id,
				 const struct error *err)
{
	struct qmsg *qm = ctx;

	if (err != NULL) {
		log_warn("%s: could not queue the postmaster delay notice: %s",
			 qm->env.id, err->msg);
	} else {
		log_info("%s: postmaster delay notification: %s", qm->env.id,
			 id);
		qmgr_enqueue(qm->m, id);
	}
	array_free_with(&qm->delayed, free);
	qm->delayed = array_new();
	msg_answered(qm);
}

static void on_delay_commit(void *ctx, const char *id,
			    const struct error *err)
{
	struct qmsg *qm = ctx;

	if (err != NULL) {
		log_warn("%s: could not queue the delay notice: %s",
			 qm->env.id, err->msg);
	} else {
		log_info("%s: sender delay notification: %s", qm->env.id, id);
		qmgr_enqueue(qm->m, id);
		if (qm->m->p.notify & QMGR_NOTIFY_DELAY) {
			send_notice(qm, qm->delayed, give_up_time(qm), "",
				    qm->m->p.delay_rcpt, true,
				    on_delay_copy_commit, "postmaster copy");
			return;
		}
	}
	array_free_with(&qm->delayed, free);
	qm->delayed = array_new();
	msg_answered(qm);
}

/* Queue the delay notice; msg_answered() goes on when it is durable. */
static void send_delay(struct qmsg *qm)
{
	send_notice(qm, qm->delayed, give_up_time(qm), "", qm->env.sender,
		    false, on_delay_commit, "delay notice");
}

/* Every destination has answered: a delay notice for what waits too
 * long, a bounce for what failed, then end. */
static void msg_answered(struct qmsg *qm)
{
	if (array_len(qm->delayed) > 0) {
		send_delay(qm);
	} else if (array_len(qm->bounce) == 0) {
		msg_end(qm);
	} else if (is_bounce(&qm->env) || is_double_bounce(qm)) {
		/* RFC 3464 / RFC 5321 6.1: never bounce a bounce.  With
		 * notify_classes 2bounce the postmaster gets it instead,
		 * from double-bounce@, whose own failures are dropped. */
		char from[300];

		if (is_bounce(&qm->env) &&
		    (qm->m->p.notify & QMGR_NOTIFY_2BOUNCE)) {
			snprintf(from, sizeof(from), "double-bounce@%s",
				 qm->m->p.myhostname);
			send_notice(qm, qm->bounce, 0, from,
				    qm->m->p.bounce2_rcpt, true, on_copy_end,
				    "undeliverable bounce");
			return;
		}
		log_info("%s: undeliverable notification to the null sender "
			 "discarded",
			 qm->env.id);
		msg_end(qm);
	} else {
		send_bounce(qm);
	}
}

/* The error, discard and retry transports: decided without a
 * connection, answered on the next loop iteration like a delivery. */
struct local_job {
	struct qmsg *qm;
	struct dlv_result *res;
	size_t n;
};

static void local_job_run(struct ev *ev, void *ctx)
{
	struct local_job *lj = ctx;

	on_delivered(lj->qm, lj->res, lj->n, "none");
	free(lj->res);
	free(lj);
}

/* Answer recipients idx[0..n) of qm on the next loop iteration. */
static void answer_later(struct qmgr *m, struct qmsg *qm, const size_t *idx,
			 size_t n, enum dlv_rcpt_result result,
			 const char *dsn, const char *text)
{
	struct local_job *lj = xcalloc(1, sizeof(*lj));

	lj->qm = qm;
	lj->n = n;
	lj->res = xcalloc(n, sizeof(*lj->res));
	for (size_t i = 0; i < n; i++) {
		struct dlv_result *r = &lj->res[i];
		r->rcpt = idx[i];
		r->result = result;
		str_copy(r->dsn, dsn, sizeof(r->dsn));
		str_copy(r->reply, text, sizeof(r->reply));
	}
	ev_defer(m->ev, local_job_run, lj);
}

static void local_deliver(struct qmgr *m, struct qmsg *qm,
			  const struct route *route, const size_t *idx,
			  size_t n)
{
	const char *text = route->nexthop;
	char dsn[16];
	size_t dl = strspn(text, "0123456789.");

	/* Postfix's error(8): a text starting "5.1.1 " gives that code. */
	if (dl >= 5 && dl < sizeof(dsn) && text[dl] == ' ' &&
	    text[0] == (route->kind == TR_ERROR ? '5' : '4')) {
		memcpy(dsn, text, dl);
		dsn[dl] = '\0';
		text += dl + 1;
	} else {
		snprintf(dsn, sizeof(dsn), "%s",
			 route->kind == TR_ERROR   ? "5.0.0"
			 : route->kind == TR_RETRY ? "4.0.0"
						   : "2.0.0");
	}
	answer_later(m, qm, idx, n,
		     route->kind == TR_ERROR   ? DLV_PERM
		     : route->kind == TR_RETRY ? DLV_TEMP
					       : DLV_OK,
		     dsn, text);
}

/* ---- Destinations: slow start, dead-destination backoff. */

static const char *transport_name(enum transport_kind k)
{
	switch (k) {
	case TR_LMTP:
		return "lmtp";
	case TR_SMTP:
		return "smtp";
	case TR_ERROR:
		return "error";
	case TR_DISCARD:
		return "discard";
	case TR_RETRY:
		return "retry";
	}
	return "";
}

static bool deferred_transport(const struct qmgr *m, enum transport_kind k)
{
	const char *name = transport_name(k);
	size_t len = strlen(name);
	const char *p = m->p.defer_transports;

	while (p != NULL && *p != '\0') {
		size_t w;
		p += strspn(p, ", \t");
		w = strcspn(p, ", \t");
		if (w == len && strncasecmp(p, name, len) == 0)
			return true;
		p += w;
	}
	return false;
}

static unsigned dest_limit(const struct qmgr *m, const struct dest *d)
{
	return d->route.kind == TR_SMTP ? m->p.smtp_concurrency
					: m->p.concurrency;
}

static struct dest *dest_get(struct qmgr *m, const struct route *route)
{
	struct dest *d = hash_get(m->dests, route->key);

	if (d != NULL)
		return d;
	d = xcalloc(1, sizeof(*d));
	d->route = *route;
	d->m = m;
	list_init(&d->waiting);
	/* Local LMTP needs no slow start. */
	d->window = route->kind == TR_SMTP ? m->p.initial_concurrency
					   : m->p.concurrency;
	hash_put(m->dests, d->route.key, d);
	return d;
}

/* Alive again (time passed or an operator's flush): one probe first. */
static void dest_revive(struct dest *d)
{
	d->dead_until = 0;
	d->fails = 0;
	d->window = 1;
}

static void on_job_done(void *ctx, const struct dlv_result *res, size_t n,
			const char *relay);

/* Postfix's <transport>_destination_rate_delay for d; 0: none. */
static int64_t rate_delay(const struct qmgr *m, const struct dest *d)
{
	switch (d->route.kind) {
	case TR_SMTP:
		return m->p.smtp_rate_delay_ms;
	case TR_LMTP:
		return m->p.lmtp_rate_delay_ms;
	default:
		return 0;
	}
}

static void dest_run(struct qmgr *m, struct dest *d);

static void rate_timer(struct ev *ev, void *ctx)
{
	struct dest *d = ctx;

	(void)ev;
	dest_run(d->m, d);
}

static void dest_run(struct qmgr *m, struct dest *d)
{
	int64_t now = time_mono_ms();
	int64_t delay = rate_delay(m, d);

	if (d->dead_until != 0 && now >= d->dead_until)
		dest_revive(d);
	while (!list_empty(&d->waiting)) {
		struct djob *j =
		    LIST_ENTRY(list_first(&d->waiting), struct djob, node);

		if (d->dead_until != 0) {
			/* Postfix's "delivery temporarily suspended". */
			char text[320];
			snprintf(text, sizeof(text),
				 "delivery temporarily suspended: %s", d->why);
			list_remove(&j->node);
			answer_later(m, j->qm, j->idx, j->n, DLV_TEMP, "4.4.1",
				     text);
			free(j->idx);
			free(j);
			continue;
		}
		if (d->inflight >= (unsigned)d->window || m->stopping)
			break;
		if (delay > 0) {
			/* Rate politeness: one at a time, spaced. */
			if (d->inflight > 0)
				break;
			if (now < d->next_ms) {
				ev_timer_add(m->ev, d->next_ms - now,
					     rate_timer, d);
				break;
			}
		}
		list_remove(&j->node);
		d->inflight++;
		dlv_deliver(pool_get(m, &d->route), m->q, &j->qm->env, j->idx,
			    j->n, on_job_done, j);
	}
}

/* A connection-level failure: every recipient deferred with 4.4.x (no
 * answer, bad connection, DNS), not a 4xx reply to the mail itself. */
static bool dest_failure(const struct dlv_result *res, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (res[i].result != DLV_TEMP ||
		    strncmp(res[i].dsn, "4.4.", 4) != 0)
			return false;
	return true;
}

static void on_job_done(void *ctx, const struct dlv_result *res, size_t n,
			const char *relay)
{
	struct djob *j = ctx;
	struct dest *d = j->d;
	struct qmgr *m = j->qm->m;
	unsigned limit = dest_limit(m, d);

	d->inflight--;
	if (dest_failure(res, n)) {
		d->fails++;
		d->window -= 1.0 / d->window;
		if (d->window < 1)
			d->window = 1;
		/* A whole window of failures in a row: Postfix's failed
		 * cohort limit of 1. */
		if (d->dead_until == 0 && d->fails >= (unsigned)d->window) {
			int64_t wait = m->p.min_backoff_ms;
			for (unsigned i = 0;
			     i < d->deaths && wait < m->p.max_backoff_ms; i++)
				wait *= 2;
			if (wait > m->p.max_backoff_ms)
				wait = m->p.max_backoff_ms;
			d->deaths++;
			d->dead_until = time_mono_ms() + wait;
			str_copy(d->why, res[0].reply, sizeof(d->why));
			log_info("destination %s: dead for %llds after %u "
				 "failed connection(s): %s",
				 d->route.key, (long long)(wait / 1000), d->fails,
				 d->why);
		}
	} else {
		d->fails = 0;
		d->deaths = 0;
		if (d->window < limit)
			d->window += 1.0 / d->window;
		if (d->window > limit)
			d->window = limit;
	}
	if (rate_delay(m, d) > 0)
		d->next_ms = time_mono_ms() + rate_delay(m, d);
	on_delivered(j->qm, res, n, relay);
	free(j->idx);
	free(j);
	dest_run(m, d);
}

/* Queue recipients idx[0..n) of qm for d in transactions of at most
 * $default_destination_recipient_limit; the number of transactions. */
static unsigned dest_add(struct qmgr *m, struct dest *d, struct qmsg *qm,
			 const size_t *idx, size_t n)
{
	size_t lim = m->p.recipient_limit;
	unsigned jobs = 0;

	for (size_t at = 0; at < n; at += lim) {
		struct djob *j = xcalloc(1, sizeof(*j));
		size_t k = n - at < lim ? n - at : lim;

		j->qm = qm;
		j->d = d;
		j->n = k;
		j->idx = xmalloc(k * sizeof(*j->idx));
		memcpy(j->idx, idx + at, k * sizeof(*j->idx));
		list_push_back(&d->waiting, &j->node);
		jobs++;
	}
	return jobs;
}

struct group {
	struct route route;
	size_t *idx;
	size_t n;
};

static void start_msg(struct qmgr *m, const char *id, bool flush)
{
	struct qmsg *qm = xcalloc(1, sizeof(*qm));
	struct error err;
	struct group *groups;
	size_t ngroups = 0, n = 0;

	qm->m = m;
	if (queue_env_get(m->q, id, &qm->env) != 1 ||
	    qm->env.state == QUEUE_HOLD || qm->env.state == QUEUE_CORRUPT ||
	    queue_activate(m->q, id, &err) < 0) {
		queue_env_clear(&qm->env);
		free(qm);
		return;
	}
	qm->bounce = array_new();
	qm->delayed = array_new();
	hash_put(m->active, qm->env.id, qm);
	/* Group the undecided recipients by destination. */
	groups = xcalloc(qm->env.nrcpts + 1, sizeof(*groups));
	for (size_t i = 0; i < qm->env.nrcpts; i++) {
		enum queue_rcpt_status st = qm->env.rcpts[i].status;
		struct route route;
		size_t g;

		if (st != QUEUE_RCPT_PENDING && st != QUEUE_RCPT_DEFERRED)
			continue;
		n++;
		resolver_route_msg(m->resolver, &qm->env, i, &route);
		for (g = 0; g < ngroups; g++)
			if (strcmp(groups[g].route.key, route.key) == 0)
				break;
		if (g == ngroups) {
			groups[g].route = route;
			groups[g].idx =
			    xcalloc(qm->env.nrcpts, sizeof(*groups[g].idx));
			ngroups++;
		}
		groups[g].idx[groups[g].n++] = i;
	}
	if (n == 0) {
		msg_end(qm); /* everything was decided before a restart */
		free(groups);
		return;
	}
	/* Count every answer to come before the first can arrive. */
	struct dest **dests = xcalloc(ngroups + 1, sizeof(*dests));
	for (size_t g = 0; g < ngroups; g++) {
		const struct route *r = &groups[g].route;

		if (!flush && deferred_transport(m, r->kind)) {
			answer_later(m, qm, groups[g].idx, groups[g].n,
				     DLV_TEMP, "4.3.0", "deferred transport");
			qm->groups_left++;
		} else if (r->kind == TR_SMTP || r->kind == TR_LMTP) {
			dests[g] = dest_get(m, r);
			qm->groups_left += dest_add(m, dests[g], qm,
						    groups[g].idx,
						    groups[g].n);
		} else {
			local_deliver(m, qm, r, groups[g].idx, groups[g].n);
			qm->groups_left++;
		}
		free(groups[g].idx);
	}
	for (size_t g = 0; g < ngroups; g++)
		if (dests[g] != NULL)
			dest_run(m, dests[g]);
	free(dests);
	free(groups);
}

static void run_ready(struct ev *ev, void *ctx)
{
	struct qmgr *m = ctx;

	m->kicked = false;
	while (!m->stopping && !list_empty(&m->ready) &&
	       hash_count(m->active) < m->p.active_limit) {
		struct ready *r =
		    LIST_ENTRY(list_first(&m->ready), struct ready, node);
		char id[QUEUE_ID_MAX];

		bool flush = r->flush;

		str_copy(id, r->id, sizeof(id));
		unready(m, id);
		start_msg(m, id, flush);
	}
}

/* ---- Scans. */

struct scan {
	struct qmgr *m;
	int64_t now;	    /* wall seconds */
	bool all;	    /* flush: ignore retry times */
	const char *domain; /* flush DOMAIN: only mail with a recipient
			       there still to deliver */
	size_t n;
	struct array *undone; /* ids whose removal must be retried */
};

static int scan_one(void *ctx, const struct queue_env *env)
{
	struct scan *s = ctx;
	int64_t due = INT64_MAX;

	if (env->state == QUEUE_HOLD || env->state == QUEUE_CORRUPT ||
	    hash_contains(s->m->active, env->id))
		return 0;
	/* Every recipient is final but the message is still here: its
	 * removal (the DONE record) failed, e.g. on ENOSPC.  Retry the
	 * removal after the scan; it would otherwise stay forever and
	 * pin its segment and every later one. */
	if (queue_env_done(env)) {
		array_push(s->undone, xstrdup(env->id));
		return 0;
	}
	if (s->domain != NULL) {
		bool match = false;
		for (size_t i = 0; i < env->nrcpts && !match; i++) {
			const char *at = strrchr(env->rcpts[i].addr, '@');
			match = (env->rcpts[i].status == QUEUE_RCPT_PENDING ||
				 env->rcpts[i].status ==
				     QUEUE_RCPT_DEFERRED) &&
				at != NULL && strcasecmp(at + 1, s->domain) == 0;
		}
		if (!match)
			return 0;
	}
	/* lib/queue keeps the in-memory ACTIVE mark when an active message
	 * is moved to deferred/, so ACTIVE here (not in our active table)
	 * means "deferred by us". */
	if ((env->state == QUEUE_DEFERRED || env->state == QUEUE_ACTIVE) &&
	    !s->all) {
		for (size_t i = 0; i < env->nrcpts; i++)
			if (env->rcpts[i].status == QUEUE_RCPT_PENDING ||
			    env->rcpts[i].status == QUEUE_RCPT_DEFERRED)
				if (env->rcpts[i].next_retry < due)
					due = env->rcpts[i].next_retry;
		if (due > s->now)
			return 0;
	}
	enqueue(s->m, env->id, s->all);
	s->n++;
	return 0;
}

static size_t scan_domain(struct qmgr *m, bool all, const char *domain)
{
	struct scan s = {m, time_wall_ms() / 1000, all, domain, 0,
			 array_new()};
	struct error err;

	queue_scan(m->q, scan_one, &s);
	for (size_t i = 0; i < array_len(s.undone); i++) {
		const char *id = array_get(s.undone, i);

		if (queue_delete(m->q, id, NULL, NULL, &err) == 0)
			log_info("%s: removed (retried)", id);
	}
	array_free_with(&s.undone, free);
	return s.n;
}

static size_t scan(struct qmgr *m, bool all)
{
	return scan_domain(m, all, NULL);
}

/* Forget destinations with nothing going on (one per destination ever
 * used would pile up otherwise); dead ones are kept until they revive. */
static void free_dests(struct qmgr *m)
{
	struct array *idle = array_new();
	struct hash_iter it = {0};
	const char *key;
	void *v;
	int64_t now = time_mono_ms();

	while (hash_next(m->dests, &it, &key, &v)) {
		struct dest *d = v;
		if (d->inflight == 0 && list_empty(&d->waiting) &&
		    (d->dead_until == 0 || d->dead_until <= now) &&
		    d->next_ms <= now)
			array_push(idle, xstrdup(key));
	}
	for (size_t i = 0; i < array_len(idle); i++)
		hash_del(m->dests, array_get(idle, i));
	array_free_with(&idle, free);
}

static void scan_timer(struct ev *ev, void *ctx)
{
	struct qmgr *m = ctx;

	if (m->stopping)
		return;
	/* One pool per destination ever used: drop the forgotten ones. */
	free_pools(m, false);
	free_dests(m);
	scan(m, false);
	ev_timer_add(m->ev, m->p.run_delay_ms, scan_timer, m);
}

void qmgr_resume(struct qmgr *m)
{
	size_t n = scan(m, false);

	if (queue_count(m->q) > 0)
		log_info("queue: %zu message(s) on disk, %zu ready now",
			 queue_count(m->q), n);
	ev_timer_add(m->ev, m->p.run_delay_ms, scan_timer, m);
}

/* ---- Control verbs (`postern queue ...`). */

struct ctl {
	struct qmgr *m;
	qmgr_control_fn *done;
	void *ctx;
	unsigned pending;
	size_t count;
	const char *what; /* "held", "released"... */
	struct error err;
	bool failed;
	unsigned retries; /* ctl_retry, for every message of the request */
};

static void ctl_finish(struct ctl *c)
{
	char text[128];

	if (c->failed) {
		c->done(c->ctx, &c->err, NULL);
	} else {
		snprintf(text, sizeof(text), "%zu message%s %s", c->count,
			 c->count == 1 ? "" : "s", c->what);
		c->done(c->ctx, NULL, text);
	}
	free(c);
}

static void ctl_unref(struct ctl *c)
{
	if (--c->pending == 0)
		ctl_finish(c);
}

static void ctl_unref_deferred(struct ev *ev, void *ctx)
{
	ctl_unref(ctx);
}

struct ctl_op {
	struct ctl *c;
	char id[QUEUE_ID_MAX];
	bool enqueue; /* after a release */
};

static void ctl_op_done(void *ctx, const struct error *err)
{
	struct ctl_op *op = ctx;
	struct ctl *c = op->c;

	hash_del(c->m->moving, op->id);
	if (err != NULL && !c->failed) {
		c->failed = true;
		c->err = *err;
	}
	if (err == NULL && op->enqueue)
		qmgr_enqueue(c->m, op->id);
	free(op);
	ctl_unref(c);
}

static struct ctl_op *ctl_op_new(struct ctl *c, const char *id, bool enqueue)
{
	struct ctl_op *op = xcalloc(1, sizeof(*op));

	op->c = c;
	op->enqueue = enqueue;
	str_copy(op->id, id, sizeof(op->id));
	c->pending++;
	hash_put(c->m->moving, op->id, op);
	return op;
}

enum verb { V_HOLD, V_RELEASE, V_REQUEUE, V_DELETE };

/* A message busy being moved (after a delivery attempt, it goes to
 * deferred/) is tried again this often, this many times, before the
 * operator gets "in progress": the move takes a file write and an
 * fsync, so the operator's command waits for it instead. */
#define CTL_RETRY_MS 20
#define CTL_RETRIES 250

struct ctl_retry {
	struct ctl *c;
	enum verb v;
	unsigned tries;
	char id[QUEUE_ID_MAX];
};

static void ctl_apply(struct ctl *c, enum verb v, const char *id);

static void ctl_retry_timer(struct ev *ev, void *ctx)
{
	struct ctl_retry *r = ctx;
	struct ctl *c = r->c;

	(void)ev;
	ctl_apply(c, r->v, r->id);
	free(r);
	ctl_unref(c);
}

/* true: id is tried again later (the request stays pending). */
static bool ctl_retry(struct ctl *c, enum verb v, const char *id)
{
	if (c->retries >= CTL_RETRIES)
		return false;
	struct ctl_retry *r = xcalloc(1, sizeof(*r));

	c->retries++;
	r->c = c;
	r->v = v;
	str_copy(r->id, id, sizeof(r->id));
	c->pending++;
	ev_timer_add(c->m->ev, CTL_RETRY_MS, ctl_retry_timer, r);
	return true;
}

static void ctl_apply(struct ctl *c, enum verb v, const char *id)
{
	struct qmgr *m = c->m;
	struct qmsg *qm = hash_get(m->active, id);
	struct queue_env env = {0};
	struct error err;
	int rc = 0;

	if (hash_contains(m->moving, id))
		return; /* another request is changing it right now */
	if (queue_env_get(m->q, id, &env) != 1)
		return;
	switch (v) {
	case V_HOLD:
		if (qm != NULL) {
			qm->hold_after = true;
			c->count++;
			break;
		}
		if (env.state == QUEUE_HOLD)
			break;
		unready(m, id);
		rc = queue_move(m->q, id, QUEUE_HOLD, ctl_op_done,
				ctl_op_new(c, id, false), &err);
		if (rc == 0) {
			c->count++;
			log_info("%s: held by the operator", id);
		}
		break;
	case V_RELEASE:
	case V_REQUEUE:
		if (env.state == QUEUE_HOLD) {
			rc = queue_move(m->q, id, QUEUE_INCOMING, ctl_op_done,
					ctl_op_new(c, id, true), &err);
			if (rc == 0) {
				c->count++;
				log_info("%s: released from hold", id);
			}
		} else if (v == V_REQUEUE) {
			if (qm != NULL)
				qm->hold_after = false;
			else
				qmgr_enqueue(m, id);
			c->count++;
		}
		break;
	case V_DELETE:
		if (qm != NULL) {
			qm->delete_after = true;
			c->count++;
			break;
		}
		unready(m, id);
		rc = queue_delete(m->q, id, ctl_op_done,
				  ctl_op_new(c, id, false), &err);
		if (rc == 0) {
			c->count++;
			log_info("%s: removed (deleted by the operator)", id);
		}
		break;
	}
	if (rc < 0) {
		/* The op was counted but will never complete. */
		struct ctl_op *op = hash_get(m->moving, id);
		if (op != NULL) {
			hash_del(m->moving, id);
			free(op);
			c->pending--;
		}
		if (err.code != NULL && strcmp(err.code, "busy") == 0 &&
		    ctl_retry(c, v, id)) {
			queue_env_clear(&env);
			return;
		}
		if (!c->failed) {
			c->failed = true;
			c->err = err;
		}
	}
	queue_env_clear(&env);
}

static int collect_id(void *ctx, const struct queue_env *env)
{
	array_push(ctx, xstrdup(env->id));
	return 0;
}

void qmgr_control(struct qmgr *m, const char *request, qmgr_control_fn *done,
		  void *ctx)
{
	struct ctl *c = xcalloc(1, sizeof(*c));
	struct array *words = str_split(request, " ");
	const char *verb = array_len(words) > 0 ? array_get(words, 0) : "";
	const char *arg = array_len(words) > 1 ? array_get(words, 1) : NULL;
	static const struct {
		const char *name;
		enum verb v;
		const char *what;
	} verbs[] = {{"hold", V_HOLD, "held"},
		     {"release", V_RELEASE, "released"},
		     {"requeue", V_REQUEUE, "requeued"},
		     {"delete", V_DELETE, "deleted"}};

	c->m = m;
	c->done = done;
	c->ctx = ctx;
	c->pending = 1; /* ours, until every op is issued */
	c->what = "flushed";
	if (strcmp(verb, "flush") == 0 && array_len(words) <= 2) {
		/* An operator's flush also revives dead destinations (of
		 * that domain), so the mail is really tried now. */
		struct hash_iter it = {0};
		const char *key;
		void *v;
		struct route route = {0};
		if (arg != NULL) {
			char probe[300];
			snprintf(probe, sizeof(probe), "postmaster@%s", arg);
			resolver_route(m->resolver, probe, &route);
		}
		while (hash_next(m->dests, &it, &key, &v)) {
			struct dest *d = v;
			if (d->dead_until != 0 &&
			    (arg == NULL || strcmp(key, route.key) == 0))
				dest_revive(d);
		}
		c->count = scan_domain(m, true, arg);
		goto out;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(verb, verbs[i].name) != 0)
			continue;
		c->what = verbs[i].what;
		if (arg == NULL || array_len(words) > 2) {
			error_set(&c->err, ERR_PERM, "usage: %s ID|ALL", verb);
			c->failed = true;
			goto out;
		}
		if (strcmp(arg, "ALL") == 0) {
			struct array *ids = array_new();
			queue_scan(m->q, collect_id, ids);
			for (size_t k = 0; k < array_len(ids); k++)
				ctl_apply(c, verbs[i].v, array_get(ids, k));
			array_free_with(&ids, free);
		} else {
			struct queue_env probe = {0};
			if (queue_env_get(m->q, arg, &probe) != 1) {
				error_set(&c->err, ERR_PERM,
					  "%s: no such message", arg);
				c->failed = true;
			} else {
				ctl_apply(c, verbs[i].v, arg);
			}
			queue_env_clear(&probe);
		}
		goto out;
	}
	error_set(&c->err, ERR_PERM, "unknown request \"%s\"", verb);
	c->failed = true;
out:
	array_free_with(&words, free);
	/* Never answer from inside the call. */
	ev_defer(m->ev, ctl_unref_deferred, c);
}
