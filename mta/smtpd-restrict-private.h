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

#include "dns/dns_pattern.h"
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
	/* smtpd-restrict-tls.c: TLS client certificates */
	RK_PERMIT_TLS_CLIENTCERTS,     /* permit_tls_clientcerts */
	RK_PERMIT_TLS_ALL_CLIENTCERTS, /* permit_tls_all_clientcerts */
	RK_CCERT_ACCESS,	       /* check_ccert_access type:table */
	/* smtpd-access-server.c: check_*_{a,mx,ns}_access, as Postfix's
	 * check_server_access; the reverse client name and SASL tables. */
	RK_CLIENT_A_ACCESS,
	RK_CLIENT_MX_ACCESS,
	RK_CLIENT_NS_ACCESS,
	RK_REV_CLIENT_ACCESS, /* check_reverse_client_hostname_access */
	RK_REV_CLIENT_A_ACCESS,
	RK_REV_CLIENT_MX_ACCESS,
	RK_REV_CLIENT_NS_ACCESS,
	RK_HELO_A_ACCESS,
	RK_HELO_MX_ACCESS,
	RK_HELO_NS_ACCESS,
	RK_SENDER_A_ACCESS,
	RK_SENDER_MX_ACCESS,
	RK_SENDER_NS_ACCESS,
	RK_RCPT_A_ACCESS,
	RK_RCPT_MX_ACCESS,
	RK_RCPT_NS_ACCESS,
	RK_SASL_ACCESS, /* check_sasl_access */
	/* smtpd-restrict-dns.c */
	RK_DNSWL_CLIENT,      /* permit_dnswl_client */
	RK_RHSWL_CLIENT,      /* permit_rhswl_client */
	RK_RHSBL_REV_CLIENT,  /* reject_rhsbl_reverse_client */
	RK_RHSBL_RCPT,	      /* reject_rhsbl_recipient */
	RK_UNKNOWN_REV_CLIENT, /* reject_unknown_reverse_client_hostname */
	/* smtpd-restrict.c */
	RK_PLAINTEXT,	      /* reject_plaintext_session */
	RK_MULTI_RCPT_BOUNCE, /* reject_multi_recipient_bounce */
	RK_DEFER_UNAUTH_DEST, /* defer_unauth_destination */
};

/* What a restriction's argument (the next word) is. */
enum rarg {
	RA_NONE,   /* none */
	RA_ZONE,   /* a DNS list zone[=pattern] */
	RA_MAP,	   /* an access table type:name, opened at start-up */
	RA_POLICY, /* a policy service, connected to when used */
};

struct rword {
	const char *name;
	enum rkind kind;
	enum rarg arg;
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
	/* DNS lists: the reply pattern of zone=PATTERN (dns_pattern.h), and
	 * the argument as written ($rbl_reply_maps key). */
	bool has_pattern;
	struct dns_addr_pattern pattern;
	char *whole;
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
	/* $relay_clientcerts (permit_tls_clientcerts; one of r->maps, NULL
	 * unless used). */
	struct map *relay_clientcerts;
	/* reject_rbl_client & co. ($rbl_reply_maps: NULL when empty; it
	 * is one of r->maps). */
	struct map *rbl_reply_map;
	char *default_rbl_reply;
	unsigned plaintext_code;
	unsigned mul_rcpt_code;
	/* The *_tempfail_action settings: true "defer" (450 at once), false
	 * "defer_if_permit" (450 at the end unless something rejects). */
	bool unknown_address_tf_defer; /* unknown_address_tempfail_action */
	bool unknown_helo_tf_defer;    /* unknown_helo_hostname_... */
	bool unknown_client_tf_defer;  /* unknown_client_hostname_... */
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
	/* The unverified reverse name (first PTR), once looked up. */
	const char *reverse_name;
	int reverse_name_status; /* 1, 0 (no PTR), -1 (DNS failed) */
	char reverse_name_text[1024]; /* DNS_NAME_TEXT_MAX */
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
/* An access table result VALUE that is a restriction list (access(5)
 * "restriction..."; ORIGIN the table, for logs): parsed now and
 * evaluated as a class would be.  A table inside it, an unknown word, a
 * restriction not set up at start-up or nesting deeper than
 * RX_MAX_DEPTH give 451 4.3.5 and a log line, as Postfix. */
int rx_nested(struct rx *e, const char *origin, const char *value);
#define RX_MAX_DEPTH 100 /* Postfix's recursion limit */
/* A DNS (or verification) tempfail: 450 at once with DEFER set (the
 * "defer" tempfail action) or under warn_if_reject, else defer_if_permit
 * (the deferral waits for the end of the check). */
int rx_tempfail(struct rx *e, bool defer, unsigned code, const char *dsn,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* smtpd-access.c */
int rx_access(struct rx *e, const struct ritem *it);
/* smtpd-access.c, for smtpd-access-server.c: one search of MAP as
 * check_*_access does it, replies naming NAME and CLS.  HOW:
 * RX_SEARCH_DOMAIN the key and its parent domains, RX_SEARCH_ADDR an
 * address and its parent networks, RX_SEARCH_KEY the key once.  1 found
 * (or a lookup failure), *res_r the RX_ result; 0 not found. */
enum rx_search { RX_SEARCH_DOMAIN, RX_SEARCH_ADDR, RX_SEARCH_KEY };
int rx_access_search(struct rx *e, struct map *map, enum rx_search how,
		     const char *key, const char *name, const char *cls,
		     int *res_r);
/* smtpd-access-server.c: check_*_{a,mx,ns}_access,
 * check_reverse_client_hostname_access, check_sasl_access. */
int rx_server_access(struct rx *e, const struct ritem *it);
/* smtpd-restrict-dns.c: the unverified reverse client name ("unknown"
 * if none; e->reverse_name_status says why), looked up once. */
const char *rx_reverse_name(struct rx *e);
/* smtpd-restrict-dns.c */
int rx_dns(struct rx *e, const struct ritem *it);
/* smtpd-restrict-dnsbl.c: reject_rbl_client, reject_rhsbl_*,
 * permit_dnswl_client, permit_rhswl_client (called by rx_dns with a
 * resolver). */
int rx_dnsxl(struct rx *e, const struct ritem *it);
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
/* smtpd-restrict-tls.c: permit_tls_clientcerts, permit_tls_all_clientcerts,
 * check_ccert_access. */
int rx_ccert(struct rx *e, const struct ritem *it);
/* ... and opening $relay_clientcerts once for permit_tls_clientcerts. */
int rx_ccert_open(struct smtpd_restrict *r, struct error *err);

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
