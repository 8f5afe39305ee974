/*
 * queued.h - postern-queued's private interface: the process that owns
 * the queue directory, in the roles of Postfix's cleanup (accepting
 * messages from smtpd over $queue_socket) and qmgr (scheduling delivery
 * over LMTP, retries, bounces).
 *
 * Files:
 *   main.c     the server skeleton hooks; opens the queue
 *   session.c  one connection on the queue socket: a submission or a
 *              control request (protocol in queue/submit.h)
 *   qmgr.c     the scheduler: ready list, retry scans, backoff, expiry,
 *              the control verbs
 *   deliver.c  the LMTP client (connection reuse, one reply per rcpt)
 *   bounce.c   RFC 3464 delivery status notifications
 *
 * Everything runs on the loop thread; the queue's fsyncs run on its
 * worker.  Errors follow core/error.h.
 */
#ifndef POSTERN_QUEUED_H
#define POSTERN_QUEUED_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "queue/queue.h"

struct ev;
struct conf;
struct qmgr;
struct lmtp_pool;

/* The knobs of the scheduler, from the configuration. */
struct qmgr_params {
	int64_t min_backoff_ms, max_backoff_ms;
	int64_t run_delay_ms;
	int64_t max_lifetime_ms, bounce_lifetime_ms;
	unsigned concurrency; /* LMTP deliveries at once */
	char *lmtp_target;    /* "unix:/path" or "host:port" */
	char *myhostname;
};
void qmgr_params_from_conf(struct qmgr_params *p, const struct conf *conf);
void qmgr_params_clear(struct qmgr_params *p);

/* ---- qmgr.c */

struct qmgr *qmgr_new(struct ev *ev, struct queue *q,
		      const struct qmgr_params *params);
void qmgr_free(struct qmgr **m);
/* Replace the parameters (SIGHUP). */
void qmgr_reload(struct qmgr *m, const struct qmgr_params *params);
/* Resume every message on disk (start-up). */
void qmgr_resume(struct qmgr *m);
/* A message was just committed: schedule it. */
void qmgr_enqueue(struct qmgr *m, const char *id);
/* Stop starting deliveries (SIGTERM); those in flight finish. */
void qmgr_stop(struct qmgr *m);
struct queue *qmgr_queue(struct qmgr *m);

/*
 * A control verb ("hold ID", "delete ALL", "flush"...).  done(ctx, err,
 * text) runs once every change it made is durable (never from inside
 * the call); err NULL on success with a one-line summary.
 */
typedef void qmgr_control_fn(void *ctx, const struct error *err,
			     const char *text);
void qmgr_control(struct qmgr *m, const char *request, qmgr_control_fn *done,
		  void *ctx);

/* ---- deliver.c: one LMTP transaction for a message. */

enum lmtp_rcpt_result { LMTP_OK, LMTP_TEMP, LMTP_PERM };

struct lmtp_result {
	size_t rcpt; /* index in the envelope */
	enum lmtp_rcpt_result result;
	char dsn[16];	 /* "2.0.0" */
	char reply[512]; /* the server's reply, one line */
};

/* results[i] for each attempted recipient; nresults of them. */
typedef void lmtp_done_fn(void *ctx, const struct lmtp_result *results,
			  size_t nresults, const char *relay);

struct lmtp_pool *lmtp_pool_new(struct ev *ev, const char *target,
				const char *myhostname);
void lmtp_pool_free(struct lmtp_pool **pool);
/* Connections at work now (for the concurrency limit). */
unsigned lmtp_pool_busy(const struct lmtp_pool *pool);
/*
 * Deliver the body of env (read from q) to the recipients listed in
 * rcpts[0..n).  done runs exactly once, never from inside the call.
 */
void lmtp_deliver(struct lmtp_pool *pool, struct queue *q,
		  const struct queue_env *env, const size_t *rcpts, size_t n,
		  lmtp_done_fn *done, void *ctx);

/* ---- bounce.c */

struct bounce_rcpt {
	const struct queue_rcpt *rcpt;
	const char *dsn;    /* "5.1.1" */
	const char *reason; /* the last reply, or why it expired */
};

/*
 * Build the RFC 3464 bounce for env's failed recipients into out: a
 * complete message (headers, multipart/report with a text part, a
 * message/delivery-status part and the original headers, or the whole
 * original when RET=FULL).  original is the original message (Received
 * header first).  now is wall seconds.
 */
void bounce_build(struct buf *out, const struct queue_env *env,
		  const struct bounce_rcpt *rcpts, size_t n,
		  const struct buf *original, const char *myhostname,
		  int64_t now);

/* The header section of a message (up to and including the empty line,
 * or all of it when there is no body). */
size_t bounce_header_len(const char *msg, size_t len);

#endif
