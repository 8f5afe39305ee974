/*
 * provision - domains, mailboxes, aliases and alias domains as operations.
 *
 * The one place that knows the rules of hosting data: names are validated
 * and stored lower-case (domains in A-label form), a mailbox's domain must
 * be hosted, a domain's max_mailboxes is enforced, passwords are stored
 * only as hashes in the default scheme, an alias domain may not also be a
 * hosted domain.  The `postern` command and the admin API both call these
 * functions, so the two can never disagree.
 *
 * Error contract: 0 success, -1 failure with err->kind (ERR_TEMP: the
 * database is down; ERR_PERM otherwise) and err->code, one of
 *   "invalid_value"   a malformed name, address or number (HTTP 422)
 *   "not_found"       the object, or the domain it belongs to (404)
 *   "already_exists"  a duplicate (409)
 *   "limit_reached"   a domain limit would be exceeded (422)
 *   "conflict"        refused by another object (an alias domain that is
 *                     a hosted domain, ...) (409)
 *   "temporary_failure"  the database is unavailable (503)
 */
#ifndef POSTERN_PROVISION_H
#define POSTERN_PROVISION_H

#include <stdbool.h>

#include "core/error.h"
#include "db/db.h"

struct prov_domain {
	const char *name;
	const char *description;  /* NULL: empty */
	long long max_mailboxes;  /* 0: unlimited */
	long long quota_bytes;    /* whole domain; 0: unlimited */
	bool active;
};

struct prov_mailbox {
	const char *address;
	const char *password;     /* plaintext; hashed before storing */
	const char *name;         /* display name, NULL: empty */
	long long quota_bytes;    /* 0: unlimited */
	bool active;
};

struct prov_alias {
	const char *source;       /* address, or "@domain" for a catch-all */
	const char *destinations; /* comma-separated addresses */
	bool active;
};

/* Write normalised forms into NUL-terminated buffers of these sizes. */
#define PROV_NAME_MAX 256

int prov_domain_add(struct db *db, const struct prov_domain *d,
		    struct error *err);
int prov_domain_del(struct db *db, const char *name, struct error *err);
/* Rows: name, description, max_mailboxes, quota_bytes, active,
 * mailbox count, alias count; ordered by name. */
int prov_domain_list(struct db *db, struct db_result **res_r,
		     struct error *err);

/* `scheme` is the password scheme for the hash (default_password_scheme). */
int prov_mailbox_add(struct db *db, const struct prov_mailbox *m,
		     const char *scheme, struct error *err);
/*
 * The quota of a stored (normalised) mailbox address: 1 with it in
 * *quota_r (0: unlimited), 0 when there is no such mailbox, -1 with err
 * (temporary_failure when the database is down, invalid_value for a
 * value that is not a number).  Used at RCPT by smtpd and lmtpd.
 */
int prov_mailbox_quota(struct db *db, const char *address,
		       unsigned long long *quota_r, struct error *err);
int prov_mailbox_del(struct db *db, const char *address, struct error *err);
/* Rows: address, name, quota_bytes, used_bytes, message_count, active;
 * only DOMAIN's when domain is not NULL; ordered by address. */
int prov_mailbox_list(struct db *db, const char *domain,
		      struct db_result **res_r, struct error *err);

int prov_alias_add(struct db *db, const struct prov_alias *a,
		   struct error *err);
int prov_alias_del(struct db *db, const char *source, struct error *err);
/* Rows: source, destinations, active; ordered by source. */
int prov_alias_list(struct db *db, const char *domain,
		    struct db_result **res_r, struct error *err);

int prov_alias_domain_add(struct db *db, const char *alias,
			  const char *target, struct error *err);
int prov_alias_domain_del(struct db *db, const char *alias,
			  struct error *err);
/* Rows: alias, target, active; ordered by alias. */
int prov_alias_domain_list(struct db *db, struct db_result **res_r,
			   struct error *err);

#endif
