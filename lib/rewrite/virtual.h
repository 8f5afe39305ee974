/*
 * virtual - what an RCPT TO address becomes: the final mailbox
 * addresses the queue delivers to, or the reply refusing it.  Postfix's
 * virtual_alias_maps / virtual_alias_domains / virtual_mailbox_maps,
 * decided at RCPT time.
 *
 * Order for one address (the way PostfixAdmin's map set behaves, so a
 * catch-all never swallows an existing mailbox):
 *   1. virtual_alias_maps, exact: user+ext@dom, then user@dom;
 *   2. dom in virtual_mailbox_domains: virtual_mailbox_maps user+ext@dom,
 *      then user@dom -> final (the mailbox address, without extension);
 *   3. dom in virtual_alias_domains (answer: the target domain):
 *      user+ext@dom becomes user+ext@target, resolved from step 1;
 *   3b. a role address (postmaster@dom, abuse@dom) of a hosted domain
 *      with no row: $role_address_recipient (see virtual_role_local);
 *   4. virtual_alias_maps, catch-all @dom;
 *   5. a hosted domain (2 or 3) with nothing found: unknown user;
 *   6. any other domain: foreign.
 * Alias destinations are resolved in turn (recursively, depth at most
 * virtual_alias_recursion_limit, at most virtual_alias_expansion_limit
 * final addresses).  A destination equal to the alias itself stops the
 * recursion there ("a -> a, b" keeps a copy in a's mailbox); any other
 * address met twice is a loop and is dropped.
 *
 * Decisions:
 *   - the RCPT address itself being foreign: relay, allowed only when
 *     opts->relay_ok (client in $mynetworks or authenticated), else
 *     554 5.7.1 Relay access denied.  The percent hack, bang paths and
 *     quoted local parts are never interpreted: "u%x@hosted" is the
 *     local part "u%x" of a hosted domain (unknown user, or the
 *     catch-all's);
 *   - an alias destination that is foreign is accepted and handed to the
 *     queue, which delivers or defers/bounces it (outbound is the queue's
 *     job); the administrator made the alias, so it is not relaying;
 *   - an alias destination in a hosted domain that does not exist is
 *     dropped with a warning; if nothing deliverable remains: 550 5.1.1.
 *
 * Replies: 550 5.1.1 unknown user, 554 5.7.1 relay denied, 550 5.4.6 alias
 * loop / recursion limit, 552 5.5.3 expansion limit, 451 4.3.0 lookup
 * failure (database down: ERR_TEMP), 451 4.3.5 map configuration error.
 *
 * Threads: runs in the worker pool; maps are thread-safe for lookups;
 * everything else is the caller's copy.
 */
#ifndef POSTERN_REWRITE_VIRTUAL_H
#define POSTERN_REWRITE_VIRTUAL_H

#include <stdbool.h>

#include "core/array.h"
#include "core/error.h"
#include "smtp/smtp_reply.h"

struct map;

struct virtual_maps {
	struct map *mailbox_domains; /* virtual_mailbox_domains */
	struct map *mailboxes;	     /* virtual_mailbox_maps */
	struct map *aliases;	     /* virtual_alias_maps */
	struct map *alias_domains;   /* virtual_alias_domains */
};

struct virtual_opts {
	const char *delimiters; /* recipient_delimiter ("" none) */
	unsigned recursion_limit;
	unsigned expansion_limit;
	bool relay_ok;
	/* $role_addresses ("postmaster, abuse"; NULL: none) and where they
	 * go when their hosted domain has no mailbox or alias row for them:
	 * $role_address_recipient, qualified (virtual_role_qualify). */
	const char *role_addresses;
	const char *role_recipient;
};

struct virtual_final {
	char *addr;    /* "user@domain": lower-case for hosted mailboxes */
	bool local;    /* a hosted mailbox (false: foreign, to relay) */
	char *maildir; /* local: virtual_mailbox_maps' "DOMAIN/USER/" */
};

/*
 * Resolve ADDRESS (wire form "local@domain", the domain lower-case).
 * 0: accepted, finals_r (an array of struct virtual_final *, appended;
 * free with virtual_finals_free) holds at least one address.
 * -1: refused, reply_r says why (4xx or 5xx); finals_r unchanged.
 * log_id prefixes the warnings (dropped destinations, loops).
 */
int virtual_resolve(const struct virtual_maps *maps, const char *address,
		  const struct virtual_opts *opts, const char *log_id,
		  struct array *finals_r, struct smtp_reply *reply_r);
void virtual_finals_free(struct array **finals);
/*
 * Is ADDRESS a destination of ours (what reject_unauth_destination lets
 * through): an exact or catch-all virtual alias, or a domain in
 * virtual_mailbox_domains or virtual_alias_domains.  1 yes, 0 no (a
 * relay), -1 with err when a lookup failed.
 */
int virtual_is_local(const struct virtual_maps *maps, const char *address,
			   const char *delimiters, struct error *err);
void virtual_final_free(struct virtual_final **final);

/*
 * Open MAPS from conf's virtual_mailbox_domains, virtual_mailbox_maps,
 * virtual_alias_maps and virtual_alias_domains over ENV (kept by the
 * maps: it must outlive them).  One that cannot be opened is logged
 * (prefixed "WHO: " unless WHO is "") and replaced by fail:unavailable,
 * whose lookups fail temporarily: a broken .cf defers mail, it does not
 * stop the service.  virtual_maps_close frees the four.
 */
struct conf;
struct map_env;
void virtual_maps_open(struct virtual_maps *maps, const struct conf *conf,
		       const struct map_env *env, const char *who);
void virtual_maps_close(struct virtual_maps *maps);

/*
 * Role addresses (RFC 5321 4.5.1, RFC 2142): every hosted domain has
 * postmaster@ and abuse@ without rows being made for them.  The rule
 * lives in virtual_resolve (step "3b" below the alias domains, above the
 * catch-all) so smtpd (RCPT, reject_unverified_*, smtpd-notify.c),
 * pickup, the webmail and the queue's notices (queued/notice_rcpt.c) all
 * follow it (a local part without its extension): a local part in $role_addresses of a domain in
 * virtual_mailbox_domains with no virtual_alias_maps or
 * virtual_mailbox_maps row of its own resolves as
 * $role_address_recipient (itself resolved, aliases included; when that
 * is not deliverable the RCPT gets 550 5.1.1 and a warning is logged).
 *
 * virtual_role_local: is the LEN bytes of LOCAL, case-insensitive, a name
 * in LIST (comma/space separated)?
 * virtual_role_qualify: NAME with "@ORIGIN" appended when it has no
 * domain (a bare "postmaster", as the *_notice_recipient defaults are);
 * allocated.
 */
bool virtual_role_local(const char *list, const char *local, size_t len);
char *virtual_role_qualify(const char *name, const char *origin);

#endif
