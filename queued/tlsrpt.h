/*
 * tlsrpt - the SMTP client's TLS Reporting counters (RFC 8460): every
 * outbound TLS attempt under a policy (DANE TLSA, MTA-STS, or none found)
 * is counted per UTC day, policy domain, policy type, MX host and result
 * in SQL (tlsrpt_counters, migrations 011 and 012), where `postern tlsrpt send`
 * (postern/cmd_tlsrpt.c) reads them; docs/tlsrpt.md.
 *
 * Only with $smtp_tlsrpt_enable.  tlsrpt_note() adds to an in-memory
 * table on the loop thread and returns; a timer hands the table every
 * $smtp_tlsrpt_flush_interval to one worker thread that adds it to the
 * database (UPDATE sessions = sessions + n, else INSERT), so several
 * nodes add to the same rows.  The database never delays or fails a
 * delivery: a failed write is logged and its counts are dropped.
 *
 * Threading: every function on the loop thread.
 */
#ifndef POSTERN_QUEUED_TLSRPT_H
#define POSTERN_QUEUED_TLSRPT_H

#include <stdbool.h>

struct ev;
struct conf;

/* RFC 8460 4.4 policy types. */
#define TLSRPT_POLICY_TLSA "tlsa"
#define TLSRPT_POLICY_STS "sts"
#define TLSRPT_POLICY_NONE "no-policy-found"

/* One TLS session attempt; strings are borrowed for the call. */
struct tlsrpt_session {
	const char *policy_type;   /* TLSRPT_POLICY_* */
	const char *policy_domain; /* the next hop's domain */
	const char *policy_string; /* policy lines separated by LF, or "" */
	const char *mx_host;
	const char *result;	  /* NULL: success; else an RFC 8460 type */
	const char *sending_ip;	  /* failures: our address, or "" */
	const char *receiving_ip; /* failures: the MX's address, or "" */
	/* failures: the name in the MX's EHLO/HELO reply, or ""/NULL */
	const char *receiving_helo;
};

/* Read smtp_tlsrpt_* and open the database; start and reload. */
void tlsrpt_configure(struct ev *ev, const struct conf *conf);
/* SIGTERM: flush now and arm no more timers (the loop can end). */
void tlsrpt_stop(void);
/* Write what is counted (blocking, exit only) and free everything. */
void tlsrpt_fini(void);
bool tlsrpt_enabled(void);
/* $smtp_tlsrpt_skip_reused_handshakes */
bool tlsrpt_skip_reused(void);
/* Count one session (no-op when disabled). */
void tlsrpt_note(const struct tlsrpt_session *s);

#endif
