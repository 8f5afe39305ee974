/*
 * prov_sender_policy - a hosted domain's own sender policy (issue 8): the
 * allow/block list for mail TO that domain, kept in SQL (migration 010,
 * table domain_sender_policy), set over the admin API
 * (/api/v1/domains/{name}/sender-policy) and applied by smtpd's
 * check_domain_sender_access (mta/smtpd-domain-policy.c,
 * docs/domain-sender-policy.md).
 *
 * An entry is (kind, value, action):
 *   kind "sender": value is an address (user@example.org), a domain
 *                  (example.org: the domain itself), ".example.org"
 *                  (every subdomain of it) or "<>" (the null sender);
 *   kind "client": value is an IP address or a CIDR network
 *                  (192.0.2.0/24, 2001:db8::/32);
 *   action "allow" or "block".
 *
 * Matching (prov_sender_policy_match): the sender entries first, the most
 * specific one wins, as the lookup order of Postfix's check_sender_access
 * (the whole address, its domain, then each parent domain as ".parent");
 * without one, the client entries, the longest matching prefix wins and
 * block wins a tie.  Mail to an alias domain follows the target's list.
 *
 * Errors as provision.h (invalid_value, not_found, temporary_failure).
 * Threads: any (the struct db is thread-safe).
 */
#ifndef POSTERN_PROV_SENDER_POLICY_H
#define POSTERN_PROV_SENDER_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"
#include "db/db.h"
#include "provision.h"

/* Most entries in one domain's list (the lookup reads them all). */
#define PROV_SENDER_POLICY_MAX 1000

struct prov_sender_policy_entry {
	const char *kind;   /* "sender" or "client" */
	const char *value;  /* see above */
	const char *action; /* "allow" or "block" */
};

/* Check one entry and write its stored form (lower-case, a network
 * address with its host bits cleared) into value_out: 0, or -1 with
 * invalid_value naming the field. */
int prov_sender_policy_check(const struct prov_sender_policy_entry *e,
			     struct buf *value_out, struct error *err);

/* Rows: kind, value, action, created_at; ordered by kind, value.  0, or
 * -1 (not_found when the domain is not hosted). */
int prov_sender_policy_list(struct db *db, const char *domain,
			    struct db_result **res_r, struct error *err);

/* Replace the domain's whole list with entries[0..n) in one
 * transaction, audited as "domain.sender_policy" (who may be NULL).
 * A duplicate entry (same kind and value) is invalid_value. */
int prov_sender_policy_replace(struct db *db, const char *domain,
			       const struct prov_sender_policy_entry *entries,
			       size_t n, const struct prov_actor *who,
			       struct error *err);

/* The decision for mail from SENDER ("" the null sender) sent by
 * CLIENT_ADDR (may be NULL) to a recipient in RCPT_DOMAIN (lower-case):
 * 1 with *block_r and the matching entry in matched (kind:value), 0 when
 * no entry matches (or the domain has no list), -1 with err (ERR_TEMP). */
int prov_sender_policy_match(struct db *db, const char *rcpt_domain,
			     const char *sender, const char *client_addr,
			     bool *block_r, char *matched, size_t size,
			     struct error *err);

#endif
