/*
 * smtpd-limits - the per-mailbox daily sending limits for submissions
 * that do not come through an SMTP session: the webmail's sends (issue 8,
 * docs/ratelimits.md).  smtpd's own RCPT check is in smtpd.h; both count
 * through lib/provision's prov_send_charge(), so a user has one budget
 * whatever way the password is used.
 *
 * Threads: any (blocking SQL; db is thread-safe): call it from a worker.
 */
#ifndef POSTERN_SMTPD_LIMITS_H
#define POSTERN_SMTPD_LIMITS_H

#include <stddef.h>

#include "conf/conf.h"
#include "core/error.h"

struct db;

/*
 * Count one message of the mailbox USER to rcpts[nrcpts] (the addresses
 * as the user wrote them) against $user_daily_message_limit and
 * $user_daily_new_recipient_limit or the mailbox's and domain's own.
 * 0: within the limits (counted).  -1 with err: ERR_PERM, code
 * "rate_limited", when a limit is reached (nothing counted; err->msg
 * "4.7.1 daily ... limit (N) reached for USER"), ERR_TEMP when the
 * database failed ("4.3.0 ...").  A warning names the user and count.
 */
int smtpd_limits_charge_message(struct db *db, const struct conf *conf,
				const char *user, const char *const *rcpts,
				size_t nrcpts, const char *log_id,
				struct error *err);

#endif
