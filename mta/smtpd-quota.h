/*
 * smtpd-quota - refuse at RCPT a hosted mailbox that is already full, or
 * that the size announced by MAIL FROM ... SIZE= would overflow, instead of
 * queueing the message for lmtpd to refuse later (a bounce from us rather
 * than a refusal the client sees).  The limit is mailboxes.quota_bytes
 * (0 or no row: unlimited), the usage is the store's maildirsize.  This is
 * the test lmtpd makes at its own RCPT (lmtp/lmtp-local.c lookup_quota and
 * over_quota, duplicated here: both are a few lines over lib/db and
 * lib/store); lmtpd still makes the exact check after the message.
 *
 * An alias expanding to several mailboxes: the RCPT is refused only when
 * every final address of it is a full mailbox (a foreign destination is
 * never full); otherwise the full ones are dropped from the expansion,
 * with a log line, and the others get the message.
 *
 * Threads: runs in the worker pool on the caller's copies; db is
 * thread-safe (db.h).
 */
#ifndef POSTERN_SMTPD_QUOTA_H
#define POSTERN_SMTPD_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

#include "core/array.h"
#include "smtp/smtp_reply.h"

struct db;

struct smtpd_quota_opts {
	struct db *db;		    /* NULL: no check (tests without SQL) */
	const char *mail_directory; /* the store's root */
	bool permanent;		    /* quota_exceeded_permanent */
	uint64_t size_hint;	    /* MAIL FROM SIZE=, 0: not given */
};

/*
 * Check the local finals (struct virtual_final *) of the RCPT ADDRESS.
 * 0: finals_r holds at least one address (full mailboxes removed and
 * freed).  -1: refused, reply_r set: 452 4.2.2 / 552 5.2.2 Mailbox full
 * when every final is full, 451 4.3.0 when the quota lookup failed;
 * finals_r unchanged.
 */
int smtpd_quota_filter(const struct smtpd_quota_opts *opts, const char *address,
		       const char *log_id, struct array *finals_r,
		       struct smtp_reply *reply_r);

#endif
