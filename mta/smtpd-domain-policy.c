/*
 * smtpd-domain-policy.c - check_domain_sender_access: each recipient
 * domain's own sender allow/block list, kept in SQL and set over the
 * admin API (provision/prov_sender_policy.h, docs/domain-sender-policy.md).
 * Not a Postfix name; it behaves as check_sender_access with a table per
 * recipient domain: evaluated per RCPT (in smtpd_recipient_restrictions
 * or _relay_restrictions), block rejects with
 * $domain_sender_policy_reject_code 5.7.1, allow is OK for the list,
 * no entry is DUNNO.  A database failure answers 451 4.3.0.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "provision/prov_sender_policy.h"

#include "smtpd-restrict-private.h"

int rx_domain_sender(struct rx *e, const struct ritem *it)
{
	const struct smtpd_restrict_input *in = e->in;
	struct db *db = e->r->env != NULL ? e->r->env->db : NULL;
	char matched[400], domain[256];
	const char *at;
	struct error err;
	bool block = false;
	int rc;

	(void)it;
	if (db == NULL || in->recipient == NULL || in->sender == NULL)
		return RX_DUNNO;
	at = strrchr(in->recipient, '@');
	if (at == NULL || at[1] == '\0')
		return RX_DUNNO;
	str_copy(domain, at + 1, sizeof(domain));
	str_lower(domain);
	rc = prov_sender_policy_match(db, domain, in->sender, in->client_addr,
				      &block, matched, sizeof(matched), &err);
	if (rc < 0) {
		log_warn("%s: check_domain_sender_access: %s", in->log_id,
			 err.msg);
		return rx_reject(e, 451, "4.3.0",
				 "<%s>: Sender address rejected: Temporary "
				 "lookup failure",
				 in->sender);
	}
	if (rc == 0)
		return RX_DUNNO;
	if (!block) {
		if (!rx_replaying(e))
			log_info("%s: check_domain_sender_access: from=<%s> "
				 "to=<%s> client=%s: allowed by %s",
				 in->log_id, in->sender, in->recipient,
				 in->client_addr != NULL ? in->client_addr : "",
				 matched);
		return RX_OK;
	}
	if (!rx_replaying(e))
		log_info("%s: check_domain_sender_access: from=<%s> to=<%s> "
			 "client=%s: blocked by %s",
			 in->log_id, in->sender, in->recipient,
			 in->client_addr != NULL ? in->client_addr : "",
			 matched);
	return rx_reject(e, e->r->domain_sender_reject_code, "x.7.1",
			 "<%s>: Sender address rejected: Access denied by the "
			 "sender policy of %s",
			 in->sender, domain);
}
