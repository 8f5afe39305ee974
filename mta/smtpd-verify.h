/*
 * smtpd-verify - reject_unverified_sender and reject_unverified_recipient:
 * Postfix's address verification (verify(8)) with its parameter names.
 *
 * A sender address of a hosted domain (is_local) is verified by resolving
 * it as a recipient (the SQL maps): deliverable, or refused with the
 * reply.  A hosted recipient is left to the resolution that follows the
 * restriction lists (250, or 550 5.1.1 for an unknown user).
 * Any other address is looked up in the shared cache (SQL table
 * address_verify, migration 009, written by postern-queued's probes, so
 * every MX node on the database shares it):
 *   - a result younger than $address_verify_positive_expire_time (good)
 *     or $address_verify_negative_expire_time (bad) is used; an older one
 *     than the *_refresh_time asks for a new probe in the background;
 *   - no usable result: smtpd asks postern-queued for a probe (a control
 *     request "verify ADDRESS" on $queue_socket, the channel `postern
 *     queue` uses) and looks at the cache again up to
 *     $address_verify_poll_count times, $address_verify_poll_delay apart;
 *     still nothing: $unverified_*_tempfail_action with 450 4.1.1
 *     "unverified address: Address verification in progress".
 * An undeliverable address gets $unverified_*_reject_code (450 by
 * default, as Postfix) with x.1.1 and the remote's reply ("undeliverable
 * address: host ... said: 550 ..."), or $unverified_*_reject_reason; a
 * probe that failed temporarily gets $unverified_*_defer_code.  The null
 * sender is never verified.
 *
 * Waiting never blocks a worker: a check that finds no usable result
 * stops (RX_SUSPEND, as for check_policy_service, smtpd-policy.h) with
 * the polls made so far recorded; its caller waits
 * $address_verify_poll_delay on an event loop timer, then runs the check
 * again in the pool.  A
 * check whose caller keeps no record (smtpd_policy_enable) does not wait:
 * one look, then the tempfail action.
 *
 * Threads: checks run in the worker pool.
 */
#ifndef POSTERN_SMTPD_VERIFY_H
#define POSTERN_SMTPD_VERIFY_H

#include <stdint.h>

#include "conf/conf.h"
#include "core/error.h"

struct db;
struct smtpd_verify;

/* db is borrowed; NULL with err (ERR_CONFIG) without one or for a bad
 * parameter value. */
struct smtpd_verify *smtpd_verify_new(const struct conf *conf, struct db *db,
				      struct error *err);
void smtpd_verify_free(struct smtpd_verify **v);

/* The cache's status values (schema 009). */
enum smtpd_verify_status {
	SMTPD_VERIFY_OK = 0,
	SMTPD_VERIFY_BAD = 1,
	SMTPD_VERIFY_TEMP = 2,
};

/*
 * Ask postern-queued on the queue socket PATH to probe ADDRESS
 * (blocking, a few seconds at most): 0 asked, -1 with err (ERR_TEMP).
 * Thread-safe.
 */
int smtpd_verify_request(const char *path, const char *address,
			 struct error *err);

#endif
