/*
 * smtpd-quota.c - the RCPT-time quota check (see smtpd-quota.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "provision/provision.h"
#include "store/store.h"

#include "smtpd-quota.h"
#include "rewrite/virtual.h"

enum { ROOM = 0, FULL = 1, FAILED = -1 };

/*
 * A mailbox whose store usage cannot be read, or whose map answer is not
 * "DOMAIN/USER/", is let through: lmtpd refuses it with the reason.
 */
static int mailbox_state(const struct smtpd_quota_opts *o, struct store *store,
			 const char *log_id, const struct virtual_final *f)
{
	unsigned long long quota;
	struct store_mailbox *mbox;
	struct error err;
	const char *slash;
	char *domain, *local;
	size_t len;
	int ret = ROOM;

	if (prov_mailbox_quota(o->db, f->addr, &quota, &err) < 0) {
		log_warn("%s: quota of %s: %s", log_id, f->addr, err.msg);
		return FAILED;
	}
	if (quota == 0 || f->maildir == NULL)
		return ROOM;
	len = strlen(f->maildir);
	slash = strchr(f->maildir, '/');
	if (slash == NULL || len < 4 || f->maildir[len - 1] != '/')
		return ROOM;
	domain = xstrndup(f->maildir, (size_t)(slash - f->maildir));
	local = xstrndup(slash + 1, len - (size_t)(slash - f->maildir) - 2);
	mbox = store_mailbox_open(store, domain, local, &err);
	if (mbox == NULL) {
		log_warn("%s: quota of %s: %s", log_id, f->addr, err.msg);
	} else {
		int full = store_over_quota(mbox, quota, o->size_hint, &err);
		if (full < 0)
			log_warn("%s: quota usage of %s: %s", log_id, f->addr,
				 err.msg);
		else if (full > 0)
			ret = FULL;
	}
	store_mailbox_free(&mbox);
	free(domain);
	free(local);
	return ret;
}

int smtpd_quota_filter(const struct smtpd_quota_opts *opts, const char *address,
		       const char *log_id, struct array *finals_r,
		       struct smtp_reply *reply_r)
{
	struct store_settings ss = {
	    .root = opts->mail_directory,
	    .hostname = "smtpd", /* no delivery here: skip gethostname() */
	    .quota_permanent = opts->permanent,
	};
	size_t n = array_len(finals_r), nfull = 0;
	bool *full;
	struct store *store;

	if (opts->db == NULL || n == 0)
		return 0;
	full = xcalloc(n, sizeof(*full));
	store = store_new(&ss);
	for (size_t i = 0; i < n; i++) {
		const struct virtual_final *f = array_get(finals_r, i);
		int st;

		if (!f->local)
			continue;
		st = mailbox_state(opts, store, log_id, f);
		if (st == FAILED) {
			store_free(&store);
			free(full);
			return smtp_reply_set(reply_r, 451, "4.3.0",
					      "Temporary lookup failure");
		}
		full[i] = st == FULL;
		nfull += full[i];
	}
	store_free(&store);
	if (nfull == n) {
		free(full);
		if (opts->permanent)
			return smtp_reply_set(reply_r, 552, "5.2.2",
					      "<%s>: Mailbox full", address);
		return smtp_reply_set(reply_r, 452, "4.2.2",
				      "<%s>: Mailbox full", address);
	}
	for (size_t i = n; i-- > 0;) {
		struct virtual_final *f;

		if (!full[i])
			continue;
		f = array_get(finals_r, i);
		log_info("%s: <%s>: destination <%s>: mailbox full: dropped",
			 log_id, address, f->addr);
		array_remove(finals_r, i);
		virtual_final_free(&f);
	}
	free(full);
	return 0;
}
