/*
 * smtpd-policy - check_policy_service: Postfix's policy delegation
 * protocol (SMTPD_POLICY_README).  The restriction sends the attributes
 * of the current command ("name=value" lines, an empty line ends them)
 * to a policy server over inet:host:port or unix:/path and reads back
 * "action=..." (and other lines, ignored), which is applied as an
 * access(5) result (smtpd-access.c).
 *
 * Word forms in a restriction list:
 *   check_policy_service inet:127.0.0.1:10023
 *   check_policy_service unix:/run/policy.sock
 *   check_policy_service { inet:127.0.0.1:10023, timeout=10s,
 *       default_action=DUNNO, max_idle=300s, max_ttl=1000s,
 *       request_limit=0, try_limit=2, retry_delay=1s,
 *       policy_context=text }
 * Options left out come from the smtpd_policy_service_* parameters.
 *
 * Connections are kept open between requests (per service, shared by
 * every worker thread) and closed after max_idle without use, after
 * max_ttl of life or after request_limit requests.  A service that does
 * not answer within the timeout is retried (try_limit attempts in all,
 * retry_delay apart); then default_action applies (Postfix's 451 4.3.5
 * Server configuration problem unless set).
 *
 * Not blocking: a restriction check runs in the worker pool; when it
 * meets check_policy_service it stops (RX_SUSPEND, the worker is free
 * again) and leaves the request in its struct smtpd_policy_answers.  The
 * job's completion on the loop sees smtpd_policy_suspended() and calls
 * smtpd_policy_continue(), which asks the service on the event loop
 * (lib/tls io, connections cached on the loop) and, with the answer,
 * submits the same job again: the lists are evaluated from the start,
 * every answer so far taken from the record instead of the network, and
 * what the first runs logged is not logged twice.  A check whose caller
 * does not enable this (no answers record) asks the service blocking,
 * from the worker, with its own connection cache.
 *
 * Host names in inet: targets are resolved once at start-up.
 *
 * Threads: the suspended path runs on the loop thread only; the
 * blocking path locks its own connection list.  Errors: ERR_CONFIG at
 * start-up for a bad target or option.
 */
#ifndef POSTERN_SMTPD_POLICY_H
#define POSTERN_SMTPD_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/error.h"

struct smtpd_policy;
struct smtpd_session;

/* The attributes of a request that the restriction input lacks; strings
 * owned (smtpd_policy_attrs_free), "" when not known. */
struct smtpd_policy_attrs {
	char *queue_id;
	char *instance;
	char *sasl_method;
	char *encryption_protocol;
	char *encryption_cipher;
	char *server_address;
	int encryption_keysize;
	unsigned client_port;
	unsigned server_port;
	unsigned recipient_count;
	uint64_t size;
	/* The TLS client certificate (smtpd-ccert.h), as Postfix sends it:
	 * subject and issuer CN when it verified, fingerprints when one was
	 * presented; "" otherwise. */
	char *ccert_subject, *ccert_issuer;
	char *ccert_fingerprint, *ccert_pubkey_fingerprint;
};

/* Parse ARG (a target, or "{ target, name=value, ... }"); defaults from
 * conf.  NULL with err (ERR_CONFIG). */
struct smtpd_policy *smtpd_policy_new(const char *arg, const struct conf *conf,
				      struct error *err);
void smtpd_policy_free(struct smtpd_policy **p);
/* The target as configured ("inet:127.0.0.1:10023"). */
const char *smtpd_policy_target(const struct smtpd_policy *p);
/* The action used when the service fails. */
const char *smtpd_policy_default_action(const struct smtpd_policy *p);
const char *smtpd_policy_context(const struct smtpd_policy *p);

/*
 * Send REQUEST (attribute lines without the final empty line) and put
 * the value of the reply's action attribute in action_r.  1: found, 0:
 * the reply had no action, -1 with err (ERR_TEMP) when every attempt
 * failed.  Blocks (the worker pool).
 */
int smtpd_policy_query(struct smtpd_policy *p, const struct buf *request,
		       struct buf *action_r, struct error *err);

/* ---- Suspending checks (on the loop thread). */

struct smtpd_check_ctx;
struct smtpd_policy_answers;

/* Let C's check suspend for policy services instead of blocking; the
 * caller then handles smtpd_policy_suspended() in its completion. */
void smtpd_policy_enable(struct smtpd_check_ctx *c);
void smtpd_policy_answers_free(struct smtpd_policy_answers **pa);
/* Did C's last run stop for a policy answer, or to wait for an address
 * verification's probe (reject_unverified_*, smtpd-verify.h)? */
bool smtpd_policy_suspended(const struct smtpd_check_ctx *c);
typedef void smtpd_policy_job_fn(void *job);
/* Ask the service C waits for, on the loop, or wait the poll delay of
 * the verification C waits for on a loop timer; then (the answer
 * recorded) worker_submit(s's pool, work, done, job) again.  The
 * session's hold (s->pending) stays with the job meanwhile.  A session
 * that ends during a verification's wait has done(job) called on the
 * loop at once instead (done must see s->dead and free the job). */
void smtpd_policy_continue(struct smtpd_session *s, struct smtpd_check_ctx *c,
			   smtpd_policy_job_fn *work, smtpd_policy_job_fn *done,
			   void *job);
/* The session ends (s->dead set): cut its verification waits short
 * (their jobs' done runs on the loop, not from this call). */
void smtpd_policy_waits_end(struct smtpd_session *s);
/* SIGTERM: close idle loop connections and keep no more. */
void smtpd_policy_stop(struct smtpd_policy *p);

/* From the session, on the loop (smtpd-check.c); free on any thread. */
struct smtpd_policy_attrs *
smtpd_policy_attrs_new(const struct smtpd_session *s);
void smtpd_policy_attrs_free(struct smtpd_policy_attrs **a);

#endif
