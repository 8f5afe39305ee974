/*
 * passdb - check a mailbox login against the SQL mailboxes, as Dovecot's
 * passdb sql: the one function SMTP AUTH, IMAP LOGIN and the webmail call.
 *
 * The address is normalised like stored addresses (lower-case, A-label
 * domain).  Inactive mailboxes and mailboxes of inactive domains never log
 * in.  After a successful check, a hash in another scheme than the
 * default (or with weaker costs) is replaced by a new hash of the same
 * password in the default scheme, so databases imported from PostfixAdmin
 * or Dovecot move to Argon2id as users log in; a failed upgrade is logged
 * and does not fail the login.
 *
 * Runs password hashing and SQL: call it from the worker pool, never on
 * the event loop.
 *
 * Returns 1 (good password), 0 (unknown user, inactive, wrong password:
 * callers must not tell these apart to the client), -1 with err (ERR_TEMP:
 * the database is down, answer "try again later").
 */
#ifndef POSTERN_PASSDB_H
#define POSTERN_PASSDB_H

#include <stdbool.h>

#include "core/error.h"
#include "db/db.h"

struct passdb_opts {
	const char *default_scheme; /* default_password_scheme */
	bool upgrade;               /* password_upgrade */
};

int passdb_verify(struct db *db, const char *address, const char *password,
		  const struct passdb_opts *opts, struct error *err);

/*
 * The same check with reads and writes apart (docs/scaling.md): the hash
 * is read from read_db (db_open_read: replicas first, the primary as
 * fallback), an upgraded hash is written to write_db (db_open: the
 * primary).  With the primary down, logins still work from a replica;
 * only the upgrade fails (logged, as above).  passdb_verify(db, ...) is
 * passdb_verify_split(db, db, ...).
 */
int passdb_verify_split(struct db *read_db, struct db *write_db,
			const char *address, const char *password,
			const struct passdb_opts *opts, struct error *err);

#endif
