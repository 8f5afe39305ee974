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
 *   resolve.c  transport and next hop per recipient (trivial-rewrite)
 *   deliver.c  the SMTP and LMTP client (connection cache per next hop,
 *              MX hosts in preference order, one reply per rcpt in LMTP)
 *   bounce.c   RFC 3464 delivery status notifications
 *   outmsg.c   the bytes that go out to one peer: 7-bit downgrade, DKIM
 *              signatures (outmsg.h)
 *   mta_sts.c  MTA-STS policies of recipient domains: fetch, SQL cache
 *              (mta_sts.h; applied in deliver.c)
 *
 * Everything runs on the loop thread; the queue's fsyncs run on its
 * worker, and deliver.c builds a message's bytes for a peer (queue file
 * read, smtp_generic_maps, 7-bit downgrade, DKIM) on its own worker
 * threads.  Errors follow core/error.h.
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

/* The knobs of the scheduler, from the configuration. */
struct qmgr_params {
	int64_t min_backoff_ms, max_backoff_ms;
	int64_t run_delay_ms;
	int64_t max_lifetime_ms, bounce_lifetime_ms;
	unsigned concurrency;	   /* LMTP deliveries at once */
	unsigned smtp_concurrency; /* per smtp destination */
	unsigned active_limit;	   /* messages in delivery at once */
	int64_t connect_timeout_ms;
	unsigned smtp_port;
	char *lmtp_target; /* "unix:/path" or "host:port" */
	char *myhostname;
	char *helo_name;
	/* Scheduling (Postfix's qmgr): slow start from this many SMTP
	 * connections per destination, recipients per transaction, the
	 * transports whose mail waits for a flush (comma/space list). */
	unsigned initial_concurrency;
	unsigned recipient_limit;
	char *defer_transports;
	int64_t delay_warning_ms; /* 0: no delay notices */
	/* $notify_classes (QMGR_NOTIFY_*) and where those copies go. */
	unsigned notify;
	char *bounce_rcpt, *bounce2_rcpt, *delay_rcpt;
	/* $smtp_destination_rate_delay, $lmtp_destination_rate_delay
	 * (Postfix's <transport>_destination_rate_delay); 0: off. */
	int64_t smtp_rate_delay_ms, lmtp_rate_delay_ms;
};
#define QMGR_NOTIFY_BOUNCE (1u << 0)
#define QMGR_NOTIFY_2BOUNCE (1u << 1)
#define QMGR_NOTIFY_DELAY (1u << 2)
void qmgr_params_from_conf(struct qmgr_params *p, const struct conf *conf);
void qmgr_params_clear(struct qmgr_params *p);

/* ---- qmgr.c */

/* conf: the maps of resolve.c and the DNS resolver. */
struct qmgr *qmgr_new(struct ev *ev, struct queue *q,
		      const struct qmgr_params *params,
		      const struct conf *conf);
void qmgr_free(struct qmgr **m);
/* Replace the parameters (SIGHUP). */
void qmgr_reload(struct qmgr *m, const struct qmgr_params *params,
		 const struct conf *conf);
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

/* ---- resolve.c: transport and next hop of a recipient (trivial-rewrite). */

enum transport_kind { TR_LMTP, TR_SMTP, TR_ERROR, TR_DISCARD, TR_RETRY };

struct route {
	enum transport_kind kind;
	char nexthop[256]; /* smtp: "[host]:port", "host[:port]" (MX);
			    * lmtp: "unix:/path", "host:port";
			    * error/retry/discard: the text */
	char key[264];	   /* "transport:nexthop": the destination */
};

struct resolver;

/* Maps are opened here (a broken one makes its lookups defer). */
struct resolver *resolver_new(const struct conf *conf);
void resolver_free(struct resolver **r);
/* Always fills out; a failed lookup gives TR_RETRY. */
void resolver_route(struct resolver *r, const char *rcpt, struct route *out);
/* The route of recipient i of env: its content filter (env->filter,
 * Postfix's content_filter / FILTER override: every recipient to that
 * one next hop, so the message goes whole in one transaction) when it
 * has one, else resolver_route().  An unknown filter transport defers
 * (TR_RETRY), as Postfix. */
void resolver_route_msg(struct resolver *r, const struct queue_env *env,
			size_t i, struct route *out);
/* Parse "transport:nexthop" (empty nexthop: domain for smtp, lmtp_target
 * for lmtp); -1 for an unknown transport. */
int resolver_parse(const char *value, const char *domain,
		   const char *lmtp_target, struct route *out);

/* ---- deliver.c: the SMTP/LMTP client, one pool per destination. */

enum dlv_rcpt_result { DLV_OK, DLV_TEMP, DLV_PERM };

struct dlv_result {
	size_t rcpt; /* index in the envelope */
	enum dlv_rcpt_result result;
	char dsn[16];	 /* "2.0.0" */
	char reply[512]; /* the server's reply, one line */
};

/* results[i] for each attempted recipient; nresults of them.  relay is
 * Postfix's "host[addr]:port" (or "lmtp[path]"). */
typedef void dlv_done_fn(void *ctx, const struct dlv_result *results,
			 size_t nresults, const char *relay);

struct dns_resolver;

struct dlv_params {
	const char *myhostname;	    /* EHLO/LHLO name ($smtp_helo_name) */
	unsigned concurrency;	    /* connections at once */
	int64_t connect_timeout_ms; /* $smtp_connect_timeout */
	unsigned default_port;	    /* $smtp_tcp_port for smtp */
};

struct dlv_pool;

/*
 * A destination: protocol and next hop (struct route, TR_SMTP or TR_LMTP),
 * with its connection cache, host list (MX, A records; cached a minute)
 * and concurrency limit.  dns may be NULL (lmtp, numeric smtp hops).
 */
struct dlv_pool *dlv_pool_new(struct ev *ev, struct dns_resolver *dns,
			      const struct route *route,
			      const struct dlv_params *params);
void dlv_pool_free(struct dlv_pool **pool);
/* Jobs started or waiting (0: the pool may be freed). */
unsigned dlv_pool_busy(const struct dlv_pool *pool);
/* Not busy and no connection open (cached ones included). */
bool dlv_pool_unused(const struct dlv_pool *pool);
/* Jobs waiting for a connection slot get a temporary failure (SIGTERM). */
void dlv_pool_stop(struct dlv_pool *pool);
/*
 * Deliver the body of env (read from q) to the recipients listed in
 * rcpts[0..n).  done runs exactly once, never from inside the call.
 */
void dlv_deliver(struct dlv_pool *pool, struct queue *q,
		 const struct queue_env *env, const size_t *rcpts, size_t n,
		 dlv_done_fn *done, void *ctx);
/*
 * An address verification probe (verify.c): MAIL FROM:<sender>, RCPT
 * TO:<rcpt>, then RSET, never DATA; done gets the RCPT reply (or why the
 * destination could not be reached) as one result.  As dlv_deliver.
 */
void dlv_probe(struct dlv_pool *pool, const char *sender, const char *rcpt,
	       dlv_done_fn *done, void *ctx);

/*
 * TLS, SASL and PIPELINING settings of the SMTP client (smtp_tls_*,
 * smtp_sasl_*, smtp_pipelining), for pools made from now on; call at
 * start and on reload.  -1 with err (ERR_CONFIG) only for an unknown
 * smtp_tls_security_level; other problems are logged and make the
 * affected mail defer (required TLS, a broken policy map).
 */
int dlv_client_init(const struct conf *conf, struct error *err);
void dlv_client_fini(void);

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

/* The "delayed" notice ($delay_warning_time) for env's deferred
 * recipients, shaped like bounce_build (Action: delayed, the original's
 * headers); until is when the mail will be given up (wall seconds). */
void delay_build(struct buf *out, const struct queue_env *env,
		 const struct bounce_rcpt *rcpts, size_t n,
		 const struct buf *original, const char *myhostname,
		 int64_t now, int64_t until);
/* The postmaster's copy ($notify_classes) of a bounce (until 0) or of a
 * delay notice (until as for delay_build), addressed to `to`: the same
 * report with "Postmaster Copy: " before the subject and the original's
 * headers only, whatever RET says. */
void notice_copy_build(struct buf *out, const struct queue_env *env,
		       const struct bounce_rcpt *rcpts, size_t n,
		       const struct buf *original, const char *myhostname,
		       int64_t now, int64_t until, const char *to);

#endif
