/* Shared helpers of the provision module (not for other layers). */
#ifndef POSTERN_PROV_PRIVATE_H
#define POSTERN_PROV_PRIVATE_H

#include "core/buf.h"
#include "provision.h"

/* Normalise a domain name (U-labels allowed) into out; invalid_value. */
int prov_norm_domain(const char *name, struct buf *out, struct error *err);
/* Normalise a mailbox address (lower-case) into out; the domain part is
 * also written to domain_out when it is not NULL. */
int prov_norm_address(const char *address, struct buf *out,
		      struct buf *domain_out, struct error *err);
/*
 * Turn a failed db call (rc -1 or DB_DUPLICATE) into the module's codes:
 * DB_DUPLICATE → already_exists with `what` named, ERR_TEMP →
 * temporary_failure.  Returns -1.
 */
int prov_db_fail(long long rc, struct error *err, const char *what);
/* The id of hosted domain `name`: 1 found (id in id_out), 0 not, -1. */
int prov_domain_id(struct db_txn *txn, const char *name, struct buf *id_out,
		   struct error *err);
/* Run a DELETE of one row by key; not_found ("WHAT KEY does not exist")
 * when nothing was deleted. */
int prov_delete_one(struct db *db, const char *sql, const char *key,
		    const char *what, struct error *err);
/* Run sql_all, or sql_domain with the normalised domain as its one
 * parameter when domain is not NULL. */
int prov_list(struct db *db, const char *domain, const char *sql_all,
	      const char *sql_domain, const char *what,
	      struct db_result **res_r, struct error *err);
/* Format a number for a bound parameter. */
const char *prov_num(long long v, char out[24]);

/* Write the audit row of a change (nothing when who is NULL). */
int prov_audit_write(struct db_txn *txn, const struct prov_actor *who,
		     const char *action, const char *type, const char *object,
		     struct error *err);
/* prov_audit_write, then commit; -1 leaves *txn for the caller's
 * rollback when the audit failed, NULL when the commit failed. */
int prov_commit_audit(struct db_txn **txn, const struct prov_actor *who,
		      const char *action, const char *type, const char *object,
		      struct error *err);
/* Serialise changes to one domain's mailboxes (limits); the first
 * statement of the transaction. */
int prov_lock_domain(struct db_txn *txn, const char *name,
		     struct error *err);
/* COUNT(*) FROM_WHERE into *total_r, then SELECT COLS FROM_WHERE ORDER
 * BY ORDER with the page's LIMIT/OFFSET. */
int prov_page_query(struct db *db, const char *cols, const char *from_where,
		    const char *order, const char *const *params,
		    size_t nparams, const struct prov_page *page,
		    struct db_result **res_r, long long *total_r,
		    struct error *err);
/* Begin a transaction on db holding the lock of domain (normalized)
 * with the domain's id in did: 1, 0 when it is not hosted, -1.  *txn_r
 * is the transaction when it began, else NULL (the caller rolls it
 * back); what names the object in the error of a failed begin. */
int prov_begin_domain(struct db *db, const char *domain, const char *what,
		      struct buf *did, struct db_txn **txn_r,
		      struct error *err);
/* prov_page_query with the one parameter the normalized domain (its
 * error, invalid_value, when the name is bad). */
int prov_domain_page_query(struct db *db, const char *cols,
			   const char *from_where, const char *order,
			   const char *domain, const struct prov_page *page,
			   struct db_result **res_r, long long *total_r,
			   struct error *err);
/* A one-parameter query for one object: 1 (row in *res_r), 0, -1. */
int prov_get_one(struct db *db, const char *sql, const char *key,
		 struct db_result **res_r, struct error *err);
/* prov_delete_one in a transaction with its audit row. */
int prov_delete_audited(struct db *db, const char *sql, const char *key,
			const char *what, const struct prov_actor *who,
			const char *action, const char *type,
			struct error *err);

#endif
