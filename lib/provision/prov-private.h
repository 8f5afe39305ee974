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

#endif
