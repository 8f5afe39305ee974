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

#include "core/buf.h"
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
/* Longest description or display name (VARCHAR(255) columns). */
#define PROV_TEXT_MAX 255

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

/*
 * --- Additions for the admin API (issue 5).  Each change can be recorded
 * in the `audit` table inside the transaction that makes it, so a change
 * and its record commit or fail together.  The functions above keep their
 * signatures and record their changes with actor "cli".
 */

/* Who makes a change; NULL where a function takes one: no audit row. */
struct prov_actor {
	const char *actor;   /* "admin:alice", "token:3", "cli" */
	const char *client;  /* client address; "" or "local" for the CLI */
	const char *details; /* JSON object text of the changed fields
				(never a secret), or NULL */
};
extern const struct prov_actor prov_cli_actor;

/* Pagination and the domain admin's scope for the *_page lists. */
struct prov_page {
	long long limit;      /* rows at most (> 0) */
	long long offset;     /* rows skipped */
	const char *admin_id; /* only rows of this admin's domains; NULL: all */
};

/* PATCH-style changes: NULL / -1 mean "unchanged". */
struct prov_domain_patch {
	const char *description;
	long long max_mailboxes, quota_bytes;
	int active;
};
struct prov_mailbox_patch {
	const char *password; /* plaintext, hashed with `scheme` */
	const char *name;
	long long quota_bytes;
	int active;
};
struct prov_alias_patch {
	const char *destinations; /* comma-separated */
	int active;
};

int prov_domain_add_as(struct db *db, const struct prov_domain *d,
		       const struct prov_actor *who, struct error *err);
int prov_domain_update(struct db *db, const char *name,
		       const struct prov_domain_patch *p,
		       const struct prov_actor *who, struct error *err);
int prov_domain_del_as(struct db *db, const char *name,
		       const struct prov_actor *who, struct error *err);
/* One domain, columns as prov_domain_list plus created_at,
 * daily_message_limit and daily_new_recipient_limit (NULL: inherit; the
 * *_page lists too): 1, 0, -1. */
int prov_domain_get(struct db *db, const char *name, struct db_result **res_r,
		    struct error *err);
int prov_domain_page(struct db *db, const struct prov_page *page,
		     struct db_result **res_r, long long *total_r,
		     struct error *err);

int prov_mailbox_add_as(struct db *db, const struct prov_mailbox *m,
			const char *scheme, const struct prov_actor *who,
			struct error *err);
int prov_mailbox_update(struct db *db, const char *address,
			const struct prov_mailbox_patch *p, const char *scheme,
			const struct prov_actor *who, struct error *err);
int prov_mailbox_del_as(struct db *db, const char *address,
			const struct prov_actor *who, struct error *err);
/* Columns as prov_mailbox_list plus created_at, daily_message_limit and
 * daily_new_recipient_limit (as prov_domain_get): 1, 0, -1. */
int prov_mailbox_get(struct db *db, const char *address,
		     struct db_result **res_r, struct error *err);
int prov_mailbox_page(struct db *db, const char *domain,
		      const struct prov_page *page, struct db_result **res_r,
		      long long *total_r, struct error *err);

int prov_alias_add_as(struct db *db, const struct prov_alias *a,
		      const struct prov_actor *who, struct error *err);
int prov_alias_update(struct db *db, const char *source,
		      const struct prov_alias_patch *p,
		      const struct prov_actor *who, struct error *err);
int prov_alias_del_as(struct db *db, const char *source,
		      const struct prov_actor *who, struct error *err);
int prov_alias_get(struct db *db, const char *source, struct db_result **res_r,
		   struct error *err);
int prov_alias_page(struct db *db, const char *domain,
		    const struct prov_page *page, struct db_result **res_r,
		    long long *total_r, struct error *err);

int prov_alias_domain_add_as(struct db *db, const char *alias,
			     const char *target, const struct prov_actor *who,
			     struct error *err);
int prov_alias_domain_del_as(struct db *db, const char *alias,
			     const struct prov_actor *who, struct error *err);
int prov_alias_domain_get(struct db *db, const char *alias,
			  struct db_result **res_r, struct error *err);
/* With page->admin_id: alias domains whose target is that admin's. */
int prov_alias_domain_page(struct db *db, const struct prov_page *page,
			   struct db_result **res_r, long long *total_r,
			   struct error *err);
/* The target of an active alias domain: 1 (normalised name in out), 0, -1. */
int prov_alias_domain_target(struct db *db, const char *alias,
			     struct buf *out, struct error *err);

/* Normalised forms, as stored (lower case, A-label, no trailing dot). */
int prov_normalize_domain(const char *name, struct buf *out,
			  struct error *err);
int prov_normalize_address(const char *address, struct buf *out,
			   struct buf *domain_out, struct error *err);
/* An alias source ("@domain" or an address); domain part to domain_out. */
int prov_normalize_source(const char *source, struct buf *out,
			  struct buf *domain_out, struct error *err);

/* The deleted-mail area (prov_trash.c): see docs/admin-api.md. */
#define PROV_TRASH_DIR ".deleted"
/*
 * Move a deleted mailbox's Maildir (local != NULL) or a whole domain's
 * folder to MAIL_DIR/.deleted/<unix time>.<domain>[.<local>]; 0 when it
 * moved or did not exist, -1 with err.  Names must be normalised.
 */
int prov_trash_move(const char *mail_dir, const char *domain,
		    const char *local, struct error *err);
/* Remove what was moved to the trash at least older_than seconds ago;
 * the count of removed entries in *count_r. */
int prov_trash_purge(const char *mail_dir, long long older_than,
		     unsigned *count_r, struct error *err);

/*
 * --- Per-mailbox daily sending limits (prov_limits.c, issue 8; see
 * docs/ratelimits.md).  Columns daily_message_limit and
 * daily_new_recipient_limit on domains and mailboxes (migration 003):
 * NULL inherits (mailbox -> domain -> the defaults passed in), 0 is
 * unlimited.  Days are UTC days of the clock passed in.
 */
struct prov_send_limits {
	long long messages;  /* messages per day; 0: unlimited */
	long long new_rcpts; /* first-time recipients per day; 0: unlimited */
};

enum prov_send_over {
	PROV_SEND_OVER_NONE = 0,
	PROV_SEND_OVER_MESSAGES,
	PROV_SEND_OVER_NEW_RCPTS,
};

struct prov_send_result {
	struct prov_send_limits limits; /* effective for the mailbox */
	long long messages, new_rcpts;	/* today's counts (after counting) */
	enum prov_send_over over;	/* which limit refused (return 0) */
};

/* Effective limits of the mailbox USER: 1 (and its id in id_r), 0 not a
 * mailbox, -1 (ERR_TEMP). */
int prov_send_limits_get(struct db *db, const char *user,
			 const struct prov_send_limits *defaults,
			 struct prov_send_limits *eff_r, char id_r[24],
			 struct error *err);
/*
 * Count one submission of the mailbox USER at NOW (Unix seconds): the
 * message when count_message, and each of rcpts[nrcpts] it never sent to
 * before as a new recipient.  Nothing is counted when a limit would be
 * passed.  1: counted (also when USER is no mailbox, or unlimited), 0:
 * refused, res_r->over says which limit; -1 with err (ERR_TEMP, whatever
 * the cause: the sender retries).  Thread-safe (db pool).
 */
int prov_send_charge(struct db *db, const char *user,
		     const struct prov_send_limits *defaults,
		     bool count_message, const char *const *rcpts,
		     size_t nrcpts, long long now,
		     struct prov_send_result *res_r, struct error *err);
/* A change of the limit columns: set_* false leaves a column alone; a
 * value < 0 stores NULL (inherit). */
struct prov_send_limits_patch {
	bool set_messages, set_new_rcpts;
	long long messages, new_rcpts;
};
/* Change the limits of the domain (domain true) or mailbox NAME, with an
 * audit row (domain.limits / mailbox.limits): 0, or -1 (not_found,
 * invalid_value, temporary_failure). */
int prov_send_limits_set(struct db *db, bool domain, const char *name,
			 const struct prov_send_limits_patch *p,
			 const struct prov_actor *who, struct error *err);
/* The clock of the daily windows: time(NULL) plus the environment's
 * POSTERN_TEST_CLOCK_OFFSET seconds (for tests only). */
long long prov_send_clock(void);
/*
 * One whole message of the mailbox USER to rcpts[nrcpts], for submissions
 * outside an SMTP session (the webmail's sends), against
 * $user_daily_message_limit and $user_daily_new_recipient_limit or the
 * mailbox's and domain's own.  0: within the limits (counted).  -1 with
 * err: ERR_PERM, code "rate_limited", when a limit is reached (nothing
 * counted; err->msg "4.7.1 daily ... limit (N) reached for USER"),
 * ERR_TEMP when the database failed ("4.3.0 ...").  A warning names the
 * user and count.  Blocking SQL: call it from a worker.
 */
int prov_send_charge_message(struct db *db, const struct conf *conf,
			     const char *user, const char *const *rcpts,
			     size_t nrcpts, const char *log_id,
			     struct error *err);

#endif
