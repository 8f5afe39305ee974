/*
 * smtpd-sign - may postern-queued DKIM-sign this message?  For an
 * authenticated client, smtpd keeps the message header as it goes to
 * the queue and, before the commit, checks in a worker that the login
 * owns the From: header address (smtpd-login.h: the same ownership as
 * the *_sender_login_mismatch restrictions).  When it does not (or no
 * From address can be read, or the lookup fails) the queue file gets
 * the 'V' record and queued never signs it (docs/dkim.md).  Mail that is
 * not authenticated is not looked at: queued's own rules apply (local
 * submission signs, relayed mail does not).
 *
 * Threads: the loop; the lookup runs in the worker pool on copies.
 * Limits: header changes made afterwards by milters are not seen.
 */
#ifndef POSTERN_SMTPD_SIGN_H
#define POSTERN_SMTPD_SIGN_H

#include <stdbool.h>
#include <stddef.h>

struct smtpd_session;
struct smtpd_txn;

/* Message bytes on their way to the queue (smtpd_queue_write). */
void smtpd_sign_feed(struct smtpd_session *s, const void *data, size_t len);
/* Before the commit: true if a check was started (the session is held
 * and suspended); it calls CONT(s) on the loop when done (not if the
 * session died meanwhile), which answers true when it holds the session
 * on (a commit started), else the session is resumed. */
bool smtpd_sign_check(struct smtpd_session *s,
		      bool (*cont)(struct smtpd_session *s));
void smtpd_sign_txn_free(struct smtpd_txn *t);

#endif
