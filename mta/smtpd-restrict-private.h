/*
 * smtpd-restrict-private.h - the parsed lists and the evaluation state
 * shared by smtpd-restrict.c (lists, simple restrictions),
 * smtpd-access.c (check_*_access and the access(5) results) and
 * smtpd-restrict-dns.c (the DNS restrictions).  Not for other files.
 */
#ifndef POSTERN_SMTPD_RESTRICT_PRIVATE_H
#define POSTERN_SMTPD_RESTRICT_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "smtpd-restrict.h"

enum rkind {
	RK_PERMIT,
	RK_REJECT,
	RK_DEFER,
	RK_WARN_IF_REJECT,
	RK_DEFER_IF_PERMIT,
	RK_DEFER_IF_REJECT,
	RK_PERMIT_MYNETWORKS,
	RK_PERMIT_SASL,
	RK_REJECT_UNAUTH_DEST,
	RK_PERMIT_AUTH_DEST,
	RK_NON_FQDN_HELO,
	RK_INVALID_HELO,
	RK_NON_FQDN_SENDER,
	RK_NON_FQDN_RCPT,
	RK_CLIENT_ACCESS,
	RK_HELO_ACCESS,
	RK_SENDER_ACCESS,
	RK_RCPT_ACCESS,
	RK_UNAUTH_PIPELINING,
	RK_RBL_CLIENT,
	RK_RHSBL_CLIENT,
	RK_RHSBL_SENDER,
	RK_RHSBL_HELO,
	RK_UNKNOWN_SENDER_DOMAIN,
	RK_UNKNOWN_RCPT_DOMAIN,
	RK_UNKNOWN_CLIENT,
	RK_UNKNOWN_HELO,
	RK_CLASS,
	RK_POLICY,   /* check_policy_service (smtpd-policy.c) */
	RK_GREYLIST, /* check_greylist (smtpd-greylist.c) */
	RK_DOMAIN_SENDER, /* check_domain_sender_access (smtpd-domain-policy.c) */
	RK_UNVERIFIED_SENDER, /* reject_unverified_sender (smtpd-verify.c) */
	RK_UNVERIFIED_RCPT,   /* reject_unverified_recipient (smtpd-verify.c) */
	/* smtpd-restrict-login.c */
	RK_SENDER_LOGIN_MISMATCH,	/* reject_sender_login_mismatch */
	RK_AUTH_SENDER_LOGIN_MISMATCH,	/* reject_authenticated_... */
	RK_KNOWN_SENDER_LOGIN_MISMATCH, /* reject_known_... */
	RK_UNAUTH_SENDER_LOGIN_MISMATCH, /* reject_unauthenticated_... */
	RK_UNLISTED_SENDER,		 /* reject_unlisted_sender */
	RK_UNLISTED_RCPT,		 /* reject_unlisted_recipient */
};

struct rword {
	const char *name;
	enum rkind kind;
	bool arg; /* takes the next word (a map, a DNS zone) */
	bool dns; /* needs the resolver */
};

struct rlist;

struct ritem {
	enum rkind kind;
	struct map *map;	 /* check_*_access (borrowed from r->maps) */
	char *arg;		 /* DNS zone */
	char *filter;		 /* zone=FILTER: the answer that counts */
	const struct rlist *cls; /* RK_CLASS */
	struct smtpd_policy *policy; /* RK_POLICY (borrowed from r->policies) */
};

struct rlist {
	char *name; /* the parameter or class */
	struct ritem *items;
	size_t n;
};

struct rcodes {
	unsigned reject_code;
	unsigned defer_code;
	unsigned access_map_reject_code;
	unsigned access_map_defer_code;
	unsigned relay_domains_reject_code;
	unsigned maps_rbl_reject_code;
	unsigned non_fqdn_reject_code;
	unsigned invalid_hostname_reject_code;
	unsigned unknown_address_reject_code;
	unsigned unknown_client_reject_code;
	unsigned unknown_hostname_reject_code;
	unsigned unauth_pipelining_reject_code;
};

struct smtpd_restrict {
	struct rlist lists[SMTPD_RESTRICT_NSTAGES];
	struct hash *classes; /* name -> struct rlist * */
	struct hash *maps;    /* spec -> struct map * (shared) */
	const struct map_env *env;
	struct rcodes codes;
	char *null_key;
	bool delay_reject;
	bool helo_required;
	bool uses_dns;
	struct hash *policies; /* policy service spec -> struct smtpd_policy * */
	struct smtpd_greylist *greylist; /* NULL unless check_greylist is used */
	const struct conf *conf;	 /* during smtpd_restrict_new only */
	unsigned domain_sender_reject_code; /* check_domain_sender_access */
	/* reject_unverified_*: NULL unless one is used (smtpd-verify.h). */
	struct smtpd_verify *verify;
};

/* Results of one restriction, as Postfix's SMTPD_CHECK_*. */
enum { RX_DUNNO = 0, RX_OK = 1, RX_REJECT = 2 };
/* The evaluation stopped to wait for a policy service's answer (only
 * with in->policy_answers, see smtpd-policy.h); it is run again from the
 * start with the answer. */
enum { RX_SUSPEND = 3 };

/* One evaluation. */
struct rx {
	const struct smtpd_restrict *r;
	const struct smtpd_restrict_input *in;
	struct smtpd_verdict *v;
	enum smtpd_restrict_stage stage;
	bool warn;	/* this restriction's rejection only warns */
	bool warn_next; /* warn_if_reject came */
	bool defer_if_reject;
	bool defer_if_permit;
	struct smtp_reply dip_reply;
	const char *client_name; /* once known */
	int client_name_status;	 /* fcrdns outcome: 1, 0, -1 */
	unsigned depth;		 /* class nesting */
	char namaddr[600];
	unsigned policy_seen;  /* check_policy_service items met so far */
	unsigned suspend_seen; /* ... and reject_unverified_* items too */
	unsigned verify_seen;  /* reject_unverified_* items met so far */
};

/* Reject (or warn, or defer under defer_if_reject): RX_REJECT, or
 * RX_DUNNO when it only warned.  dsn "x.7.1": x follows the code. */
int rx_reject(struct rx *e, unsigned code, const char *dsn, const char *fmt,
	      ...) __attribute__((format(printf, 4, 5)));
/* Remember a deferral for the end unless something rejects; RX_DUNNO. */
int rx_defer_if_permit(struct rx *e, unsigned code, const char *dsn,
		       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void rx_log_action(struct rx *e, const char *action, const char *name,
		   const char *rclass, const char *text);
/* The reply name and class of a stage ("<name>: class rejected"). */
void rx_stage_name(struct rx *e, enum smtpd_restrict_stage st,
		   const char **name_r, const char **class_r);
/* The verified client name ("unknown" if none), looked up once. */
const char *rx_client_name(struct rx *e);
int rx_class(struct rx *e, const struct rlist *l);

/* smtpd-access.c */
int rx_access(struct rx *e, const struct ritem *it);
/* smtpd-restrict-dns.c */
int rx_dns(struct rx *e, const struct ritem *it);
/* smtpd-access.c: an access(5) result VALUE (from a table or a policy
 * service named ORIGIN in logs) for the reply name and class given. */
int rx_access_result(struct rx *e, const char *origin, const char *name,
		     const char *cls, const char *value);
/* smtpd-policy.c */
int rx_policy(struct rx *e, const struct ritem *it);
/* Is this run going again over what a suspended run did (and logged)? */
bool rx_replaying(const struct rx *e);
/* smtpd-greylist.c */
int rx_greylist(struct rx *e, const struct ritem *it);
/* smtpd-domain-policy.c */
int rx_domain_sender(struct rx *e, const struct ritem *it);
/* smtpd-verify.c */
int rx_verify(struct rx *e, const struct ritem *it);
/* smtpd-restrict-login.c: the *_sender_login_mismatch and
 * reject_unlisted_* restrictions (KIND one of those RK_ values). */
int rx_login(struct rx *e, enum rkind kind);
/* smtpd-policy.c, for rx_verify: the polls of the cache the verification
 * met now has made in earlier runs of this check (0 the first time);
 * call it once per verification met, first (it counts the item for
 * rx_replaying). */
unsigned rx_verify_polls(struct rx *e);
/* Can this run stop and be run again later (the caller keeps a record,
 * in->policy_answers)?  Without one, nothing waits. */
bool rx_can_wait(const struct rx *e);
/* Stop the run (RX_SUSPEND, only if rx_can_wait): the caller runs the
 * check again after DELAY_MS with POLLS recorded for this verification. */
int rx_verify_wait(struct rx *e, unsigned polls, int64_t delay_ms);

#endif
