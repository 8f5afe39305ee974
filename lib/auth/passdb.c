#include "passdb.h"

#include <string.h>

#include "auth/password.h"
#include "core/buf.h"
#include "core/log.h"
#include "mail/address.h"

/* Replace the stored hash; compare-and-set on the old hash so a password
 * changed meanwhile (admin API) is never overwritten by the old one. */
static void upgrade_hash(struct db *db, const char *address,
			 const char *old_hash, const char *password,
			 const char *scheme)
{
	struct buf *hash = buf_new();
	struct error err;
	if (password_hash(scheme, password, hash, &err) < 0) {
		log_warn("passdb: upgrade of %s to {%s} failed: %s", address,
			 scheme, err.msg);
		buf_free(&hash);
		return;
	}
	const char *params[] = {buf_data(hash), address, old_hash};
	long long n = db_exec(db,
			      "UPDATE mailboxes SET password_hash = ? "
			      "WHERE address = ? AND password_hash = ?",
			      params, 3, &err);
	if (n < 0)
		log_warn("passdb: upgrade of %s failed: %s", address, err.msg);
	else if (n == 1)
		log_info("passdb: user=<%s>, password hash upgraded to {%s}",
			 address, scheme);
	buf_free(&hash);
}

int passdb_verify(struct db *db, const char *address, const char *password,
		  const struct passdb_opts *opts, struct error *err)
{
	return passdb_verify_split(db, db, address, password, opts, err);
}

int passdb_verify_split(struct db *read_db, struct db *write_db,
			const char *address, const char *password,
			const struct passdb_opts *opts, struct error *err)
{
	struct buf *norm = buf_new();
	struct db_result *res = NULL;
	int rc = 0;

	/* A malformed address is simply an unknown user. */
	if (address_normalize(address, ADDRESS_IDN | ADDRESS_LOWER_LOCAL, norm,
			      NULL) < 0)
		goto out;
	const char *params[] = {buf_data(norm)};
	if (db_query(read_db,
		     "SELECT m.password_hash FROM mailboxes m JOIN domains d "
		     "ON d.id = m.domain_id WHERE m.address = ? "
		     "AND m.active = 1 AND d.active = 1",
		     params, 1, &res, err) < 0) {
		rc = -1;
		goto out;
	}
	if (db_result_rows(res) == 0)
		goto out;
	const char *stored = db_result_value(res, 0, 0);
	struct error verr;
	int ok = password_verify(stored, password, &verr);
	if (ok < 0)
		log_warn("passdb: user=<%s>: unusable password hash: %s",
			 buf_data(norm), verr.msg);
	if (ok != 1)
		goto out;
	rc = 1;
	if (opts->upgrade &&
	    password_needs_upgrade(stored, opts->default_scheme))
		upgrade_hash(write_db, buf_data(norm), stored, password,
			     opts->default_scheme);
out:
	db_result_free(&res);
	buf_free(&norm);
	return rc;
}
