/*
 * outmsg - the bytes of a queued message as they go out to one SMTP
 * peer: converted to 7-bit for a peer without 8BITMIME
 * (mail/mime_downgrade.h), then DKIM-signed (dkim/dkim.h), so what is
 * signed is what is sent.
 *
 * Signing applies to mail that an authenticated client submitted
 * (env->auth_name set) or that a local sender posted (pickup: no client
 * address) or that a trusted content filter handed back
 * (env->dkim_sign), never on the hop to a content filter (env->filter),
 * when the domain of its From header has active keys
 * (dkim_store.h): one DKIM-Signature per active key, RSA and Ed25519
 * side by side when both exist (RFC 8463 3).  Keys come from SQL and are
 * kept per domain for OUTMSG_KEY_TTL_MS, so a rotation takes effect
 * within a minute.
 *
 * Process-wide state.  Threads: outmsg_build(), outmsg_signs() and
 * outmsg_flush_keys() may run on several threads at once (deliver.c
 * builds on its worker threads; outmsg.c says how the key cache is
 * shared); outmsg_init() and outmsg_fini() on the loop thread while no
 * build runs.  Errors: ERR_PERM for a message
 * that cannot be sent to this peer (8-bit header to a 7-bit peer: the
 * caller bounces with 5.6.3), ERR_TEMP for keys that cannot be read now
 * (the caller defers).
 */
#ifndef POSTERN_QUEUED_OUTMSG_H
#define POSTERN_QUEUED_OUTMSG_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/error.h"
#include "queue/queue.h"

#define OUTMSG_KEY_TTL_MS (60 * 1000)

/* Open the key store (database_* parameters).  A database that cannot
 * be opened is logged and makes signing-eligible mail defer. */
int outmsg_init(const struct conf *conf, struct error *err);
void outmsg_fini(void);

/* May this envelope's mail be signed (authenticated, local, or handed
 * back by a trusted content filter: env->dkim_sign)?  Never on its way to
 * a content filter (env->filter): it is signed when the filter hands it
 * back, so the filter's changes do not break the signature.  Never
 * when smtpd marked it env->dkim_deny (the authenticated login does not
 * own the From: address, docs/dkim.md). */
bool outmsg_signs(const struct queue_env *env);

/*
 * The message msg[0..len) as it goes to a peer that lacks 8BITMIME
 * (need_7bit) or not, into out (reset first): downgraded if need_7bit,
 * then with DKIM-Signature fields on top when the envelope and the From
 * domain call for it.  *changed_r is false when out is just msg (the
 * caller may stream the queue file instead).  0, or -1 with err.
 */
int outmsg_build(const struct queue_env *env, const char *msg, size_t len,
		 bool need_7bit, struct buf *out, bool *changed_r,
		 struct error *err);

/* Forget cached keys (tests, reload). */
void outmsg_flush_keys(void);

#endif
