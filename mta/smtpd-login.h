/*
 * smtpd-login - who owns a sender address: Postfix's
 * smtpd_sender_login_maps, for the *_sender_login_mismatch restrictions
 * (smtpd-restrict.c), the submission services' built-in check and the
 * DKIM decision at the end of DATA (docs/restrictions.md, docs/dkim.md).
 *
 * With $smtpd_sender_login_maps set, the owners of an address are the
 * logins (comma/space separated) that the map answers for the address
 * (user+ext@domain, user@domain, then @domain: Postfix's order).  Empty
 * (the default): the owners come from the hosted data itself, through the
 * recipient resolver (lib/rewrite/virtual.h): a mailbox owns its own
 * address, an alias is owned by the hosted mailboxes it delivers to,
 * user@aliasdomain as user@targetdomain is; an address whose resolution
 * reaches no hosted mailbox (foreign, unknown) has no owner.  Logins are
 * compared without regard to case.
 *
 * Threads: lookups run in the workers; the struct is read-only once made.
 * Errors: a failed lookup is -1 with err (ERR_TEMP); callers answer 451.
 */
#ifndef POSTERN_SMTPD_LOGIN_H
#define POSTERN_SMTPD_LOGIN_H

#include <stdbool.h>

#include "conf/conf.h"
#include "core/array.h"
#include "core/error.h"
#include "map/map.h"
#include "rewrite/virtual.h"

struct smtpd_login;

/* NULL with err when $smtpd_sender_login_maps cannot be opened. */
struct smtpd_login *smtpd_login_new(const struct conf *conf,
				    const struct map_env *env,
				    struct error *err);
void smtpd_login_free(struct smtpd_login **l);

/* The resolver settings of the built-in ownership (the caller's). */
struct smtpd_login_ctx {
	const struct smtpd_login *login;
	const struct virtual_maps *maps;
	const char *delimiters;
	unsigned recursion_limit, expansion_limit;
	const char *log_id;
};

/* Append the owners of ADDRESS (malloc'd strings) to owners_r.  0, or
 * -1 with err when a lookup failed. */
int smtpd_login_owners(const struct smtpd_login_ctx *c, const char *address,
		       struct array *owners_r, struct error *err);
/* Is LOGIN among OWNERS? */
bool smtpd_login_listed(const struct array *owners, const char *login);
/* Does LOGIN own ADDRESS?  1 yes, 0 no, -1 with err. */
int smtpd_login_owns(const struct smtpd_login_ctx *c, const char *login,
		     const char *address, struct error *err);

#endif
