/*
 * verify - postern-queued's address verification probes (Postfix's
 * verify(8) with the probe sent by the SMTP client, as Postfix's qmgr and
 * smtp(8) do for verify): smtpd's reject_unverified_sender/_recipient
 * (mta/smtpd-verify.h) ask for a probe with the control request
 * "verify ADDRESS" on the queue socket, answered at once with "pending";
 * the probe goes to the address's destination as mail would (the same
 * transport_maps/relayhost/MX routing, TLS policy and SASL, through
 * deliver.c with MAIL FROM:<$address_verify_sender>, RCPT TO, RSET; never
 * DATA) and its result is written to the SQL cache (address_verify,
 * migration 009), which smtpd reads.  One probe per address at a time:
 * requests for an address being probed are answered "pending" too.
 *
 * Routes: smtp probes; error:TEXT is undeliverable at once; retry:TEXT a
 * temporary failure; lmtp and discard deliverable (hosted addresses are
 * verified by smtpd itself).
 *
 * Threads: loop thread; the SQL writes run in a worker thread of its own.
 */
#ifndef POSTERN_QUEUED_VERIFY_H
#define POSTERN_QUEUED_VERIFY_H

#include <stdbool.h>

#include "core/error.h"
#include "queued.h"

struct ev;
struct conf;

/* Start the module (after dlv_client_init); without a database probes
 * are refused (logged) and smtpd answers "in progress". */
void verify_init(struct ev *ev, const struct conf *conf);
/* SIGTERM: no more probes; those running end (their pools stop). */
void verify_stop(void);
void verify_fini(void);
/* A control request: false when it is not "verify ...", else it is
 * answered through done (never from inside the call). */
bool verify_control(const char *request, qmgr_control_fn *done, void *ctx);

#endif
