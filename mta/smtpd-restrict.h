/*
 * smtpd-restrict - Postfix's smtpd restriction lists: parsed once from
 * main.cf, evaluated per command (see docs/restrictions.md).
 *
 * Lists: smtpd_client_, _helo_, _sender_, _relay_, _recipient_,
 * _data_ and _end_of_data_restrictions, plus the classes of
 * smtpd_restriction_classes (a class is a main.cf name holding a list).
 * Evaluation follows Postfix: in one list the first permit/OK ends the
 * list as permitted, a reject ends the whole check, DUNNO (no match)
 * goes on; the end of a list permits.  A check over several lists
 * (RCPT: client, helo, sender with smtpd_delay_reject, then relay and
 * recipient) rejects if any list rejects.  warn_if_reject turns the
 * next restriction's rejection into a log line; defer_if_reject makes
 * later rejections 4xx; defer_if_permit defers at the end of the check
 * unless something rejected.
 *
 * Access maps (check_*_access type:name) are opened at start-up, any
 * map type; their results: OK (or all digits), REJECT [text], DEFER
 * [text], DUNNO, 4xx/5xx text, a class name or a restriction list
 * (parsed when met, smtpd-restrict.c rx_nested), WARN text, HOLD, DISCARD,
 * FILTER, PREPEND, REDIRECT (these last ones are recorded in the verdict
 * and logged; smtpd-check.c hands FILTER to the queue, smtpd-filter.c,
 * writes PREPEND headers before the Received header and applies
 * REDIRECT to the submission).
 *
 * Threads: a struct smtpd_restrict is read-only once made; checks may
 * run in several worker threads at once (they block on maps and DNS).
 * Errors: start-up errors are ERR_CONFIG naming the parameter and word.
 */
#ifndef POSTERN_SMTPD_RESTRICT_H
#define POSTERN_SMTPD_RESTRICT_H

#include <stdbool.h>

#include "conf/conf.h"
#include "core/array.h"
#include "core/error.h"
#include "map/map.h"
#include "smtp/smtp_reply.h"

struct dns_resolver;
struct smtpd_policy_answers;
struct smtpd_policy_attrs;
struct smtpd_restrict;

enum smtpd_restrict_stage {
	SMTPD_RESTRICT_CLIENT,
	SMTPD_RESTRICT_HELO,
	SMTPD_RESTRICT_SENDER,
	SMTPD_RESTRICT_RELAY,
	SMTPD_RESTRICT_RECIPIENT,
	SMTPD_RESTRICT_DATA,
	SMTPD_RESTRICT_END_OF_DATA, /* after the message, before the commit */
	SMTPD_RESTRICT_NSTAGES,
};
#define SMTPD_RESTRICT_BIT(stage) (1u << (stage))

/* What a check looks at; the caller's copies (a worker owns them). */
struct smtpd_restrict_input {
	const char *client_addr; /* "192.0.2.1", "2001:db8::1" */
	/* The verified client name, "unknown" if none; NULL: not known yet
	 * (looked up when a restriction needs it, see client_name_r). */
	const char *client_name;
	const char *helo;      /* NULL: no HELO yet */
	const char *sender;    /* NULL: no MAIL yet; "" the null sender */
	const char *recipient; /* NULL: not at RCPT */
	const char *sasl_user; /* NULL: not authenticated */
	bool in_mynetworks;
	bool esmtp;
	/* The client sent more commands than it may at this point. */
	bool pipelined;
	const char *delimiters; /* recipient_delimiter */
	/* Is the recipient ours (a hosted or alias destination)?  1, 0, or
	 * -1 with err (ERR_TEMP).  NULL: nothing is ours. */
	int (*is_local)(void *ctx, const char *address, struct error *err);
	void *is_local_ctx;
	struct dns_resolver *dns; /* NULL: DNS restrictions find nothing */
	const char *log_id;
	/* What check_policy_service sends beyond the fields above (queue
	 * id, TLS, sizes: smtpd-policy.h); NULL: sent empty. */
	const struct smtpd_policy_attrs *attrs;
	/* Non-NULL: check_policy_service does not block, it suspends the
	 * check (smtpd_restrict_check returns 1) and the caller asks the
	 * service on the loop (smtpd-policy.h).  NULL: it blocks. */
	struct smtpd_policy_answers *policy_answers;
	/* reject_unverified_*: is ADDRESS, of a hosted domain (is_local),
	 * deliverable?  0 yes; -1 no, reply_r says why (4xx or 5xx).  Called
	 * with is_local_ctx; NULL: hosted addresses count as deliverable. */
	int (*verify_local)(void *ctx, const char *address,
			    struct smtp_reply *reply_r);
	/* *_sender_login_mismatch: append the logins owning ADDRESS
	 * (malloc'd) to owners_r; 0, or -1 with err.  Called with
	 * is_local_ctx; NULL: no address has an owner (smtpd-login.h). */
	int (*sender_owners)(void *ctx, const char *address,
			     struct array *owners_r, struct error *err);
	/* A submission service ($smtpd_submission_services) with
	 * $smtpd_submission_sender_login_check: an authenticated client's
	 * sender is checked at RCPT as by
	 * reject_authenticated_sender_login_mismatch before the lists. */
	bool submission_login_check;
	/* The TLS client certificate (smtpd-ccert.h): its fingerprints
	 * ($smtpd_tls_fingerprint_digest, NULL: none presented or not
	 * asked) and whether it verified against $smtpd_tls_CAfile. */
	const char *ccert_fingerprint, *ccert_pkey_fingerprint;
	bool ccert_verified;
	const char *ccert_subject; /* its subject CN, for replies */
	/* reject_plaintext_session: the session is under TLS. */
	bool tls;
	/* reject_multi_recipient_bounce: recipients accepted so far in this
	 * transaction (at RCPT, not counting the one being checked). */
	unsigned rcpt_count;
};

/* The outcome of a check. */
struct smtpd_verdict {
	bool rejected; /* reply holds the 4xx/5xx */
	struct smtp_reply reply;
	/* Access actions the queue should apply (recorded, logged). */
	bool hold;
	bool discard;
	char *filter;	/* FILTER transport:destination */
	char *redirect; /* REDIRECT address */
	char *prepend;	/* PREPEND header lines, "\n" separated */
	/* The client name the check looked up (malloc'd, NULL if it did
	 * not): the caller caches it for the session. */
	char *client_name;
};

/* Parse every list from conf; maps open with env (borrowed: it must
 * outlive the result).  NULL with err (ERR_CONFIG) for an unknown word,
 * a missing argument, a class without a definition, a map that cannot
 * be opened. */
struct smtpd_restrict *smtpd_restrict_new(const struct conf *conf,
					  const struct map_env *env,
					  struct error *err);
void smtpd_restrict_free(struct smtpd_restrict **r);

bool smtpd_restrict_delay_reject(const struct smtpd_restrict *r);
bool smtpd_restrict_helo_required(const struct smtpd_restrict *r);
/* Does some list use DNS (so a resolver is needed)? */
bool smtpd_restrict_uses_dns(const struct smtpd_restrict *r);
/* Is the list of STAGE empty (nothing to check)? */
bool smtpd_restrict_is_empty(const struct smtpd_restrict *r,
			     enum smtpd_restrict_stage stage);

/*
 * Evaluate the lists of the stages in STAGES (SMTPD_RESTRICT_BIT
 * values), in stage order.  0: permitted (v may still carry actions);
 * -1: v->rejected with the reply; 1: suspended for a policy service
 * (only with in->policy_answers).  Lookup failures of access maps give
 * 451 4.3.0 (the map is named in the log).  v is filled from scratch;
 * clear it with smtpd_verdict_clear().
 */
int smtpd_restrict_check(const struct smtpd_restrict *r, unsigned stages,
			 const struct smtpd_restrict_input *in,
			 struct smtpd_verdict *v);
void smtpd_verdict_clear(struct smtpd_verdict *v);
/* SIGTERM: close the idle policy service connections (they would keep
 * the loop alive) and keep no more. */
void smtpd_restrict_stop(struct smtpd_restrict *r);

#endif
