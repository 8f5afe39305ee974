/*
 * smtpd-policy-private.h - what smtpd-policy.c (configuration, the
 * blocking client, the restriction) and smtpd-policy-loop.c (queries on
 * the event loop, suspended checks) share.  Not for other files.
 */
#ifndef POSTERN_SMTPD_POLICY_PRIVATE_H
#define POSTERN_SMTPD_POLICY_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/array.h"
#include "core/buf.h"

#include "smtpd-policy.h"

/* A reply longer than this is not a policy server talking. */
#define POLICY_REPLY_MAX 65536

struct pconn {
	int fd;
	int64_t born_ms;
	int64_t used_ms;
	unsigned requests;
	struct pconn *next;
};

struct aconn;

struct smtpd_policy {
	char *target; /* inet:host:port, unix:/path */
	bool is_unix;
	char *host, *port, *path;
	char *numeric;	     /* host resolved at start-up */
	unsigned port_num;   /* and the port */
	struct aconn *aidle; /* loop connections, most recently used first */
	bool stopping;
	int64_t timeout_ms;
	int64_t max_idle_ms;
	int64_t max_ttl_ms;
	int64_t retry_delay_ms;
	unsigned try_limit;
	unsigned request_limit; /* 0: no limit */
	char *default_action;
	char *context;
	pthread_mutex_t lock;
	struct pconn *idle; /* most recently used first */
};

/* One recorded answer of a suspended check. */
struct policy_answer {
	const struct smtpd_policy *p; /* who answered */
	char *value;
};

struct smtpd_policy_answers {
	struct array *actions; /* struct policy_answer *, in asking order */
	/* Set by the run that suspended: */
	struct smtpd_policy *pending;
	struct buf *request;
	/* reject_unverified_* (smtpd-verify.c): the polls of the cache each
	 * verification met so far has made (in meeting order), and, set by
	 * a run that stopped to wait for a probe's result, the wait before
	 * the next run (smtpd_policy_continue arms a loop timer). */
	unsigned *verify_polls;
	size_t verify_n;
	bool waiting;
	int64_t wait_ms;
	/* Suspending items (policy services and verifications) met by the
	 * run that suspended last, that one included: a run is replaying
	 * (rx_replaying) until it has met as many. */
	unsigned replay_to;
};

void smtpd_policy_answer_free(void *answer);
/* The action attribute of a reply: 1, or 0 if there is none. */
int smtpd_policy_reply_action(const struct buf *reply, struct buf *action_r);

#endif
