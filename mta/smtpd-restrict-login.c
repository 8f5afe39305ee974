/*
 * smtpd-restrict-login.c - Postfix's reject_*sender_login_mismatch and
 * reject_unlisted_sender/_recipient (docs/restrictions.md).  Owners come
 * from in->sender_owners (smtpd-login.h: $smtpd_sender_login_maps or the
 * hosted data), the address check from in->is_local and in->verify_local
 * (the recipient resolver).  Codes and texts as Postfix's smtpd_check.c:
 * 553 5.7.1 "not owned by user LOGIN" / "not logged in"; unlisted: 550
 * (unknown_virtual_mailbox_reject_code) 5.1.0 for a sender, 5.1.1 for a
 * recipient.  The null sender is never checked.  A lookup failure answers
 * 451 4.3.0.
 */
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/log.h"
#include "core/xmalloc.h"

#include "smtpd-login.h"
#include "smtpd-restrict-private.h"

static int lookup_failure(struct rx *e, const char *addr, const char *cls,
			  const char *what, const struct error *err)
{
	log_warn("%s: %s: <%s>: %s", e->in->log_id, what, addr, err->msg);
	return rx_reject(e, 451, "4.3.0",
			 "<%s>: %s rejected: Temporary lookup failure", addr,
			 cls);
}

static int login_mismatch(struct rx *e, enum rkind kind)
{
	const struct smtpd_restrict_input *in = e->in;
	const char *sender = in->sender;
	bool authed = in->sasl_user != NULL;
	struct array *owners;
	struct error err;
	int res = RX_DUNNO;

	if (sender == NULL || *sender == '\0')
		return RX_DUNNO; /* <> has no owner (as Postfix) */
	if (authed && kind == RK_UNAUTH_SENDER_LOGIN_MISMATCH)
		return RX_DUNNO;
	if (!authed && kind == RK_AUTH_SENDER_LOGIN_MISMATCH)
		return RX_DUNNO;
	owners = array_new();
	if (in->sender_owners != NULL &&
	    in->sender_owners(in->is_local_ctx, sender, owners, &err) < 0) {
		res = lookup_failure(e, sender, "Sender address",
				     "smtpd_sender_login_maps", &err);
		goto out;
	}
	if (!authed) {
		/* unauthenticated, sender_login, known: an owned address
		 * needs its owner's login. */
		if (array_len(owners) > 0)
			res = rx_reject(e, 553, "5.7.1",
					"<%s>: Sender address rejected: not "
					"logged in",
					sender);
		goto out;
	}
	if (kind == RK_KNOWN_SENDER_LOGIN_MISMATCH && array_len(owners) == 0)
		goto out;
	if (!smtpd_login_listed(owners, in->sasl_user))
		res = rx_reject(e, 553, "5.7.1",
				"<%s>: Sender address rejected: not owned by "
				"user %s",
				sender, in->sasl_user);
out:
	array_free_with(&owners, free);
	return res;
}

static int unlisted(struct rx *e, const char *addr, bool sender)
{
	const struct smtpd_restrict_input *in = e->in;
	const char *cls = sender ? "Sender address" : "Recipient address";
	struct smtp_reply reply;
	struct error err;
	int local;

	if (addr == NULL || *addr == '\0' || in->is_local == NULL ||
	    in->verify_local == NULL)
		return RX_DUNNO;
	local = in->is_local(in->is_local_ctx, addr, &err);
	if (local < 0)
		return lookup_failure(e, addr, cls, "reject_unlisted", &err);
	if (local == 0)
		return RX_DUNNO; /* not a domain of ours: not our table */
	if (in->verify_local(in->is_local_ctx, addr, &reply) == 0)
		return RX_DUNNO;
	if (reply.code >= 400 && reply.code < 500)
		return rx_reject(e, reply.code, "4.3.0",
				 "<%s>: %s rejected: Temporary lookup failure",
				 addr, cls);
	return rx_reject(e, 550, sender ? "5.1.0" : "5.1.1",
			 "<%s>: %s rejected: User unknown in virtual mailbox "
			 "table",
			 addr, cls);
}

int rx_login(struct rx *e, enum rkind kind)
{
	switch (kind) {
	case RK_UNLISTED_SENDER:
		return unlisted(e, e->in->sender, true);
	case RK_UNLISTED_RCPT:
		return unlisted(e, e->in->recipient, false);
	default:
		return login_mismatch(e, kind);
	}
}
