/*
 * smtpd-policy-loop.c - the policy delegation protocol on the event loop
 * (smtpd-policy.h: suspended checks): requests over lib/tls io
 * connections kept between requests, retries with retry_delay, and the
 * record of answers that lets a suspended check run again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "ev/worker.h"
#include "tls/io.h"

#include "smtpd-policy-private.h"
#include "smtpd.h"

/* ---- Queries on the loop (the suspending path). */

struct pquery;

struct aconn {
	struct smtpd_policy *p;
	struct io *io;
	int64_t born_ms;
	int64_t used_ms;
	unsigned requests;
	struct aconn *next; /* in p->aidle */
	struct pquery *q;   /* the query it serves, NULL while idle */
};

typedef void pquery_done_fn(void *arg, const char *action, bool ok,
			    const char *why);

struct pquery {
	struct smtpd_policy *p;
	struct ev *ev;
	struct buf *request; /* with the final empty line */
	struct buf *reply;
	struct aconn *conn;
	unsigned attempts;
	bool reused;
	pquery_done_fn *done;
	void *arg;
};

static void aconn_free(struct aconn *c)
{
	io_free(&c->io);
	free(c);
}

static void aidle_remove(struct smtpd_policy *p, struct aconn *c)
{
	for (struct aconn **pp = &p->aidle; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			return;
		}
}

static void pquery_attempt(struct pquery *q);

static void pquery_finish(struct pquery *q, bool ok, const char *why)
{
	struct buf *action = buf_new();
	bool found = ok && smtpd_policy_reply_action(q->reply, action) == 1;

	if (!ok)
		q->done(q->arg, NULL, false, why);
	else
		q->done(q->arg, found ? buf_data(action) : NULL, true, NULL);
	buf_free(&action);
	buf_free(&q->request);
	buf_free(&q->reply);
	free(q);
}

static void pquery_timeout(struct ev *ev, void *ctx);

static void pquery_retry(struct ev *ev, void *ctx)
{
	(void)ev;
	pquery_attempt(ctx);
}

static void pquery_fail(struct pquery *q, const char *why)
{
	struct smtpd_policy *p = q->p;

	ev_timer_del(q->ev, pquery_timeout, q);
	if (q->conn != NULL) {
		aconn_free(q->conn);
		q->conn = NULL;
	}
	/* A cached connection the server closed meanwhile costs no
	 * attempt. */
	if (q->reused) {
		pquery_attempt(q);
		return;
	}
	if (++q->attempts >= p->try_limit) {
		pquery_finish(q, false, why);
		return;
	}
	ev_timer_add(q->ev, p->retry_delay_ms, pquery_retry, q);
}

static void pquery_timeout(struct ev *ev, void *ctx)
{
	(void)ev;
	pquery_fail(ctx, "timed out");
}

static void pquery_ok(struct pquery *q)
{
	struct smtpd_policy *p = q->p;
	struct aconn *c = q->conn;

	ev_timer_del(q->ev, pquery_timeout, q);
	q->conn = NULL;
	c->q = NULL;
	c->used_ms = time_mono_ms();
	if (p->stopping ||
	    (p->max_ttl_ms > 0 && c->used_ms - c->born_ms >= p->max_ttl_ms) ||
	    (p->request_limit > 0 && c->requests >= p->request_limit)) {
		aconn_free(c);
	} else {
		/* Idle: closed after max_idle, or when the server hangs up. */
		io_set_timeout(c->io, p->max_idle_ms);
		c->next = p->aidle;
		p->aidle = c;
	}
	pquery_finish(q, true, NULL);
}

static void aconn_send(struct aconn *c)
{
	c->requests++;
	io_write(c->io, buf_data(c->q->request), buf_len(c->q->request));
}

static void aconn_read(struct aconn *c)
{
	struct pquery *q = c->q;
	char *line;
	size_t len;
	enum io_line_result r;

	while ((r = io_getline(c->io, &line, &len)) == IO_LINE_OK) {
		if (len == 0) {
			pquery_ok(q);
			return;
		}
		buf_append(q->reply, line, len);
		buf_append_char(q->reply, '\n');
		if (buf_len(q->reply) > POLICY_REPLY_MAX) {
			pquery_fail(q, "reply too long");
			return;
		}
	}
	if (r == IO_LINE_TOO_LONG)
		pquery_fail(q, "reply line too long");
}

static void aconn_event(struct io *io, enum io_event event, void *ctx)
{
	struct aconn *c = ctx;
	struct pquery *q = c->q;

	(void)io;
	if (q == NULL) {
		/* Idle: whatever comes (hang-up, max_idle) ends it. */
		aidle_remove(c->p, c);
		aconn_free(c);
		return;
	}
	switch (event) {
	case IO_CONNECTED:
		aconn_send(c);
		return;
	case IO_DATAIN:
		aconn_read(c);
		return;
	case IO_LOWAT:
	case IO_TLSREADY:
		return;
	case IO_TIMEOUT:
		pquery_fail(q, "timed out");
		return;
	case IO_DISCONNECTED:
		pquery_fail(q, "connection closed by the server");
		return;
	case IO_ERROR:
		pquery_fail(q, io_error(c->io));
		return;
	}
}

/* An idle loop connection still fit for use, or NULL. */
static struct aconn *aconn_take(struct smtpd_policy *p)
{
	int64_t now = time_mono_ms();
	struct aconn *c;

	while ((c = p->aidle) != NULL) {
		p->aidle = c->next;
		c->next = NULL;
		if ((p->max_idle_ms <= 0 ||
		     now - c->used_ms < p->max_idle_ms) &&
		    (p->max_ttl_ms <= 0 || now - c->born_ms < p->max_ttl_ms))
			return c;
		aconn_free(c);
	}
	return NULL;
}

static void pquery_attempt(struct pquery *q)
{
	struct smtpd_policy *p = q->p;
	struct aconn *c = aconn_take(p);
	struct error err;
	int fd;

	ev_timer_add(q->ev, p->timeout_ms, pquery_timeout, q);
	if (c != NULL) {
		q->reused = true;
		q->conn = c;
		c->q = q;
		io_set_timeout(c->io, 0);
		aconn_send(c);
		return;
	}
	q->reused = false;
	fd = p->is_unix ? net_connect_unix(p->path, &err)
			: net_connect_tcp(p->numeric, p->port_num, &err);
	if (fd < 0) {
		pquery_fail(q, err.msg);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->p = p;
	c->born_ms = time_mono_ms();
	c->q = q;
	q->conn = c;
	c->io = io_new_connect(q->ev, fd, aconn_event, c);
}

/* Send REQUEST (lines without the final empty one) on the loop; done is
 * called once, maybe before this returns. */
static void pquery_start(struct smtpd_policy *p, struct ev *ev,
			 const struct buf *request, pquery_done_fn *done,
			 void *arg)
{
	struct pquery *q = xcalloc(1, sizeof(*q));

	q->p = p;
	q->ev = ev;
	q->request = buf_new_size(buf_len(request) + 2);
	buf_append(q->request, buf_data(request), buf_len(request));
	buf_append_char(q->request, '\n');
	q->reply = buf_new();
	q->done = done;
	q->arg = arg;
	pquery_attempt(q);
}

void smtpd_policy_stop(struct smtpd_policy *p)
{
	p->stopping = true;
	while (p->aidle != NULL) {
		struct aconn *c = p->aidle;
		p->aidle = c->next;
		aconn_free(c);
	}
}

/* ---- Suspended checks. */

void smtpd_policy_answer_free(void *a)
{
	free(((struct policy_answer *)a)->value);
	free(a);
}

void smtpd_policy_enable(struct smtpd_check_ctx *c)
{
	if (c->answers == NULL) {
		c->answers = xcalloc(1, sizeof(*c->answers));
		c->answers->actions = array_new();
	}
	c->in.policy_answers = c->answers;
}

void smtpd_policy_answers_free(struct smtpd_policy_answers **pp)
{
	struct smtpd_policy_answers *pa = *pp;

	if (pa == NULL)
		return;
	*pp = NULL;
	array_free_with(&pa->actions, smtpd_policy_answer_free);
	buf_free(&pa->request);
	free(pa->verify_polls);
	free(pa);
}

bool smtpd_policy_suspended(const struct smtpd_check_ctx *c)
{
	return c->answers != NULL &&
	       (c->answers->pending != NULL || c->answers->waiting);
}

/* ---- A check waiting for an address verification's probe. */

struct smtpd_policy_wait {
	struct smtpd_session *s;
	smtpd_policy_job_fn *work, *done;
	void *job;
	struct smtpd_policy_wait *next; /* in s->policy_waits */
};

static void wait_fire(struct ev *ev, void *arg)
{
	struct smtpd_policy_wait *w = arg, **pp;
	struct smtpd_session *s = w->s;

	(void)ev;
	for (pp = &s->policy_waits; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	if (s->dead)
		/* The job's completion sees it, frees the job and lets the
		 * session go. */
		w->done(w->job);
	else
		worker_submit(s->smtpd->workers, w->work, w->done, w->job);
	free(w);
}

static void wait_start(struct smtpd_session *s, struct smtpd_check_ctx *c,
		       smtpd_policy_job_fn *work, smtpd_policy_job_fn *done,
		       void *job)
{
	struct smtpd_policy_wait *w = xcalloc(1, sizeof(*w));
	int64_t delay = c->answers->wait_ms;

	w->s = s;
	w->work = work;
	w->done = done;
	w->job = job;
	w->next = s->policy_waits;
	s->policy_waits = w;
	c->answers->waiting = false;
	c->answers->wait_ms = 0;
	smtpd_verdict_clear(&c->verdict);
	c->ret = 0;
	/* On the loop: no worker sleeps meanwhile. */
	ev_timer_add(s->smtpd->ev, delay, wait_fire, w);
}

void smtpd_policy_waits_end(struct smtpd_session *s)
{
	/* The jobs' completions release the session, which the caller
	 * (the session's end) still uses: not from here, but at once from
	 * the loop. */
	for (struct smtpd_policy_wait *w = s->policy_waits; w != NULL;
	     w = w->next)
		ev_timer_add(s->smtpd->ev, 0, wait_fire, w);
}

struct cont {
	struct smtpd_session *s;
	struct smtpd_check_ctx *c;
	struct smtpd_policy *p;
	smtpd_policy_job_fn *work, *done;
	void *job;
};

static void cont_answer(void *arg, const char *action, bool ok, const char *why)
{
	struct cont *k = arg;
	const char *target = smtpd_policy_target(k->p);
	const char *value = action;

	if (!ok) {
		log_warn("%s: check_policy_service %s: %s; using "
			 "default_action %s",
			 k->c->log_id, target, why,
			 smtpd_policy_default_action(k->p));
		value = smtpd_policy_default_action(k->p);
	} else if (action == NULL) {
		log_warn("%s: check_policy_service %s: the reply has no "
			 "action",
			 k->c->log_id, target);
		value = "451 4.3.5 Server configuration problem";
	}
	struct policy_answer *a = xcalloc(1, sizeof(*a));
	a->p = k->p;
	a->value = xstrdup(value);
	array_push(k->c->answers->actions, a);
	worker_submit(k->s->smtpd->workers, k->work, k->done, k->job);
	free(k);
}

void smtpd_policy_continue(struct smtpd_session *s, struct smtpd_check_ctx *c,
			   smtpd_policy_job_fn *work, smtpd_policy_job_fn *done,
			   void *job)
{
	struct smtpd_policy_answers *pa = c->answers;
	struct cont *k;
	struct buf *req = pa->request;

	if (pa->pending == NULL) {
		wait_start(s, c, work, done, job);
		return;
	}
	k = xcalloc(1, sizeof(*k));
	k->s = s;
	k->c = c;
	k->p = pa->pending;
	k->work = work;
	k->done = done;
	k->job = job;
	pa->pending = NULL;
	pa->request = NULL;
	/* The next run fills the verdict again from scratch. */
	smtpd_verdict_clear(&c->verdict);
	c->ret = 0;
	pquery_start(k->p, s->smtpd->ev, req, cont_answer, k);
	buf_free(&req);
}
