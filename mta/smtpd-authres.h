/*
 * smtpd-authres - authentication of senders in postern-smtpd: SPF (RFC
 * 7208) at MAIL FROM, DKIM verification (RFC 6376) and DMARC (RFC 7489)
 * at the end of the message, and the Authentication-Results header field
 * (RFC 8601) that records them (docs/authentication.md).
 *
 *   smtpd-spf.c       SPF on libspf2 with our own DNS layer (lib/dns,
 *                     blocking lookups in the worker pool)
 *   smtpd-authres.c   the session side: settings, holding the message,
 *                     the end-of-data job (DKIM on lib/dkim, DMARC),
 *                     the policy actions, writing the header
 *   authres-dmarc.c   pure: DMARC record parsing, organizational domains
 *                     (libpsl on the Debian publicsuffix list), alignment
 *   authres-format.c  pure: the Authentication-Results field, finding
 *                     fields that claim our authserv-id, DKIM b= tags
 *
 * Authenticated (SASL) clients and $mynetworks are not checked (Postfix
 * with policyd-spf and OpenDMARC practice).  For a checked session the
 * message (our Received header included) is held in memory until its end,
 * because the header field that records the results goes on top and the
 * DKIM result is known only then; it is then written to the queue behind
 * the new Authentication-Results field, with every incoming field that
 * claims our authserv-id removed (RFC 8601 5).
 *
 * Threads: the pure functions are reentrant; struct authres_psl is
 * read-only after loading (shared by the workers).  Everything else runs
 * on the loop thread but the jobs' work functions.
 */
#ifndef POSTERN_SMTPD_AUTHRES_H
#define POSTERN_SMTPD_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"
#include "dkim/dkim.h"

struct conf;
struct smtpd;
struct smtpd_session;
struct smtpd_txn;

/* ---- SPF results (RFC 7208 2.6), in RFC 8601 spelling. */

enum authres_spf {
	AUTHRES_SPF_NONE = 0,
	AUTHRES_SPF_NEUTRAL,
	AUTHRES_SPF_PASS,
	AUTHRES_SPF_FAIL,
	AUTHRES_SPF_SOFTFAIL,
	AUTHRES_SPF_TEMPERROR,
	AUTHRES_SPF_PERMERROR,
};
const char *authres_spf_name(enum authres_spf r);

/* ---- DMARC (authres-dmarc.c). */

enum dmarc_policy {
	DMARC_POLICY_NONE = 0,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};
const char *dmarc_policy_name(enum dmarc_policy p);

enum dmarc_result {
	DMARC_RESULT_NONE = 0, /* no policy published */
	DMARC_RESULT_PASS,
	DMARC_RESULT_FAIL,
	DMARC_RESULT_TEMPERROR,
	DMARC_RESULT_PERMERROR, /* no usable From domain */
};
const char *dmarc_result_name(enum dmarc_result r);

struct dmarc_record {
	enum dmarc_policy p;
	enum dmarc_policy sp; /* == p unless sp= was given */
	unsigned pct;	      /* 0..100, default 100 */
	bool adkim_strict;
	bool aspf_strict;
};

/*
 * Parse a DMARC TXT record (RFC 7489 6.3): "v=DMARC1" first, then
 * tag=value pairs separated by ';'.  Unknown tags are ignored; a bad
 * value of a known tag makes the default apply, except p=, which must be
 * valid (RFC 7489 6.6.3: a record with a bad p= is used as p=none only
 * when rua= exists: we treat it as none, which is the same for us).
 * 1 for a DMARC record, 0 for a TXT record that is not one (another
 * v=, or none).
 */
int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *r);

/* The public suffix list, loaded once (NULL file: libpsl's built-in
 * list).  NULL with ERR_CONFIG when the file does not load. */
struct authres_psl;
struct authres_psl *authres_psl_load(const char *file, struct error *err);
void authres_psl_free(struct authres_psl **psl);

/* The organizational domain of domain (RFC 7489 3.2), lower case, into
 * out (at least 256 bytes): the registrable domain per the list, or the
 * domain itself when it is a public suffix or shorter. */
void authres_org_domain(const struct authres_psl *psl, const char *domain,
			char *out, size_t size);
/* Identifier alignment (RFC 7489 3.1): equal (strict) or same
 * organizational domain (relaxed), case-insensitive. */
bool authres_aligned(const struct authres_psl *psl, const char *a,
		     const char *b, bool strict);

/* ---- The Authentication-Results field (authres-format.c). */

/* One DKIM signature as reported. */
struct authres_dkim {
	enum dkim_result result;
	char domain[256];  /* header.d */
	char selector[64]; /* header.s */
	char b[9];	   /* header.b: the first 8 characters of b= */
	char reason[128];
};

struct authres_result {
	/* SPF: checked unless spf_identity is NULL ("mailfrom" or "helo",
	 * with the checked value in spf_value). */
	const char *spf_identity;
	const char *spf_value;
	enum authres_spf spf;
	/* DKIM: checked if dkim_checked; none when nsigs is 0. */
	bool dkim_checked;
	const struct authres_dkim *sigs;
	size_t nsigs;
	/* DMARC: checked if dmarc_checked. */
	bool dmarc_checked;
	enum dmarc_result dmarc;
	const char *from_domain; /* header.from, NULL if unknown */
	bool have_policy;
	enum dmarc_policy policy;      /* the p= (or sp=) that applied */
	enum dmarc_policy disposition; /* what we did (pct, enforcement) */
};

/*
 * Append the whole field "Authentication-Results: ID;\r\n\tspf=..."
 * folded one method per line, ending in CRLF.  Property values that are
 * not RFC 2045 tokens (nor local-part@domain of atoms) are quoted.
 */
void authres_format(struct buf *out, const char *authserv_id,
		    const struct authres_result *r);

/* Does the value of an Authentication-Results field name authserv_id
 * (case-insensitive; comments and folding skipped)? */
bool authres_field_is_ours(const char *value, size_t len,
			   const char *authserv_id);

/* Append msg to out without the Authentication-Results fields of its
 * header that claim authserv_id; returns how many were removed. */
size_t authres_strip_ours(const char *msg, size_t len, const char *authserv_id,
			  struct buf *out);

/* The first 8 characters of the b= tag of each DKIM-Signature field of
 * msg's header, in order, into b[0..max); returns the number of fields
 * (may exceed max; b[i] is "" for a field without b=). */
size_t authres_dkim_b_tags(const char *msg, size_t len, char (*b)[9],
			   size_t max);

/* ---- The session side (smtpd-authres.c). */

struct smtpd_authres;	  /* process: settings, list, DKIM library */
struct smtpd_authres_txn; /* one transaction's results and held bytes */

/* Read the settings; d->authres stays NULL when nothing is enabled.
 * Opens d->dns if no restriction did.  ERR_CONFIG for a bad value or a
 * public suffix list that does not load. */
int smtpd_authres_open(struct smtpd *d, const struct conf *conf,
		       struct error *err);
void smtpd_authres_close(struct smtpd *d);
void smtpd_authres_txn_free(struct smtpd_txn *t);

/*
 * At MAIL FROM, once the transaction exists (the 250 not yet sent): true
 * if an SPF check runs; it then answers MAIL itself (250, or 550 5.7.23
 * for a fail with smtpd_spf_fail_action = reject, 451 4.7.24 for a
 * temperror with smtpd_spf_temperror_action = defer).
 */
bool smtpd_authres_mail(struct smtpd_session *s);

/* Every octet smtpd writes to the queue for the message (the Received
 * header, then the message) goes through here: held for a checked
 * session, else submit_write() at once.  Same return as submit_write. */
int smtpd_authres_write(struct smtpd_session *s, const void *data, size_t len);

/*
 * The whole message is in: true if checks run; they end with a 550
 * 5.7.1 (DMARC reject) or with the held message written behind the new
 * header field and smtpd_data_commit(s).
 */
bool smtpd_authres_message_end(struct smtpd_session *s);

/* ---- smtpd-spf.c */

struct smtpd_spf_job {
	struct dns_resolver *dns;
	char *ip;     /* client address */
	char *sender; /* MAIL FROM address, "" for <> */
	char *helo;   /* may be NULL */
	/* out */
	enum authres_spf result;
	char *explanation; /* NULL or malloc'd (a fail's exp=/default) */
	char *domain;	   /* the checked domain, malloc'd, or NULL */
};

/* Route libspf2's messages to our log (once, before any job). */
void smtpd_spf_init(void);
/* Blocking evaluation (a worker): fills result/domain/explanation. */
void smtpd_spf_run(struct smtpd_spf_job *j);
void smtpd_spf_job_clear(struct smtpd_spf_job *j);

#endif
