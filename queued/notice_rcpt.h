/*
 * notice_rcpt - where a postmaster notice of postern-queued goes
 * ($bounce_notice_recipient, $2bounce_notice_recipient,
 * $delay_notice_recipient): the configured name qualified with @$myorigin
 * when it has no domain (the defaults are a bare "postmaster"), then
 * resolved by virtual_resolve, the resolution smtpd, pickup and the webmail
 * use: aliases, and the role addresses of hosted domains
 * ($role_addresses -> $role_address_recipient).  So a notice reaches the
 * mailbox that mail from outside to the same address would.
 *
 * Lookups block (SQL); they run on the loop thread, once per notice
 * (notices are rare).  Resolution that fails leaves the qualified
 * address as it is: delivery decides (and a failing notice is dropped or
 * double-bounced as before).
 *
 * Threads: one thread (the loop).
 */
#ifndef POSTERN_QUEUED_NOTICE_RCPT_H
#define POSTERN_QUEUED_NOTICE_RCPT_H

#include "core/array.h"

struct conf;
struct notice_rcpt;

/* Opens its own read connection and maps; never NULL. */
struct notice_rcpt *notice_rcpt_new(const struct conf *conf);
void notice_rcpt_free(struct notice_rcpt **n);
/* Append to out (char *, owned by out) the final addresses of NAME. */
void notice_rcpt_expand(struct notice_rcpt *n, const char *name,
			struct array *out);

#endif
