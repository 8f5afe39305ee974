/*
 * submit_milter - $non_smtpd_milters for mail that reaches the queue
 * without smtpd (the webmail): the milter protocol (smtp/milter_proto.h)
 * over blocking sockets, run in the submitter's thread before
 * submit_message_blocking().
 *
 * As Postfix does for non-SMTP mail, the milters are told of a client
 * "localhost" [127.0.0.1] that said HELO localhost, then MAIL, each
 * RCPT, the header fields, the body and the end of the message; the
 * macros are {daemon_name}, j, i (none yet), {mail_addr}, {rcpt_addr}
 * and {auth_authen} (the submitting user, so OpenDKIM signs).  Refusals
 * of single recipients refuse the message.  Header and body edits,
 * addrcpt, delrcpt and chgfrom are applied to the result; quarantine is
 * logged only (the blocking submission has no hold).
 *
 * Errors: -1 with err: ERR_PERM for a reject (err->msg "5.7.1 ..." or
 * the milter's text without its code), ERR_TEMP for a tempfail, or for a
 * milter that failed under milter_default_action tempfail.  Threads: any
 * (nothing shared).
 */
#ifndef POSTERN_QUEUE_SUBMIT_MILTER_H
#define POSTERN_QUEUE_SUBMIT_MILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/array.h"
#include "core/buf.h"
#include "core/error.h"

struct conf;

struct submit_milter_msg {
	char *sender;	      /* owned; "" = <> */
	struct array *rcpts;  /* char *, owned */
	char *auth;	      /* owned, may be NULL */
	struct buf *message;  /* CRLF lines */
	bool discard;	      /* out: a milter said discard */
};

/* Is $non_smtpd_milters set? */
bool submit_milter_wanted(const struct conf *conf);
/*
 * Run $non_smtpd_milters over m (edited in place).  0: go on (unless
 * m->discard); -1 with err: refused.
 */
int submit_milter_run(const struct conf *conf, struct submit_milter_msg *m,
		      struct error *err);

#endif
