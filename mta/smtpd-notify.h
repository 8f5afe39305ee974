/*
 * smtpd-notify - Postfix's notify_classes policy, protocol, resource and
 * software for postern-smtpd: a transcript of the SMTP session, mailed to
 * $error_notice_recipient when something of a listed class went wrong.
 *
 * Classes (Postfix's meanings):
 *   policy    a client request was rejected by a restriction (every
 *             "NOQUEUE: reject" of the restriction lists);
 *   protocol  a protocol error: unknown command, syntax error, bad
 *             sequence, line too long, too many errors (a reply
 *             500-504 or the 421 of $smtpd_hard_error_limit);
 *   resource  mail not accepted for lack of a resource: queue file write
 *             error, daemon unreachable, a temporary lookup failure
 *             (replies 4.3.0 / 4.3.1, as Postfix's dict retry);
 *   software  a software or configuration problem (replies 4.3.5
 *             "Server configuration error", "internal error").
 *
 * Each session keeps a transcript of its commands and replies, at most
 * SMTPD_NOTIFY_TRANSCRIPT_MAX bytes (the rest is cut with a note; SASL
 * exchanges and message content are never recorded).  Only when a
 * listed class occurred, at most once per session, when the session
 * ends: a worker job resolves $error_notice_recipient as RCPT would
 * (virtual_resolve: aliases, role addresses; a bare name gets @$myorigin)
 * and queues the notice through $queue_socket from
 * double-bounce@$myhostname (so a notice that cannot be delivered is
 * dropped by the queue, never bounced).  Logged "ID: postmaster
 * notification (CLASSES): QUEUEID".
 *
 * Threads: the hooks run on the loop thread with the session.
 */
#ifndef POSTERN_SMTPD_NOTIFY_H
#define POSTERN_SMTPD_NOTIFY_H

#include <stddef.h>

#define SMTPD_NOTIFY_POLICY (1u << 0)
#define SMTPD_NOTIFY_PROTOCOL (1u << 1)
#define SMTPD_NOTIFY_RESOURCE (1u << 2)
#define SMTPD_NOTIFY_SOFTWARE (1u << 3)

#define SMTPD_NOTIFY_TRANSCRIPT_MAX (32 * 1024)

struct smtpd_session;
struct smtp_reply;

/* The smtpd classes named in a $notify_classes value (others ignored:
 * bounce, 2bounce, delay are postern-queued's). */
unsigned smtpd_notify_classes(const char *list);

/* At session start (before the greeting); nothing when no smtpd class
 * is listed. */
void smtpd_notify_start(struct smtpd_session *s);
/* A client line (command or SASL response) about to be handled. */
void smtpd_notify_in(struct smtpd_session *s, const char *line, size_t len);
/* Reply bytes written to the client (one or more CRLF lines). */
void smtpd_notify_out(struct smtpd_session *s, const char *data, size_t len);
/* The class a reply being sent belongs to, if any (by its code). */
void smtpd_notify_reply(const struct smtpd_session *s,
			const struct smtp_reply *r);
/* Something of class cls (SMTPD_NOTIFY_*) happened. */
void smtpd_notify_mark(const struct smtpd_session *s, unsigned cls);
/* The session ends: queue the notice when due, free the transcript. */
void smtpd_notify_end(struct smtpd_session *s);

#endif
