/* Mailboxes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "prov-private.h"

/* Enforce max_mailboxes inside the transaction that inserts, so two
 * concurrent adds cannot both pass the check on SQLite (one writer) and
 * rarely on the others.  XXX PostgreSQL/MariaDB would need SELECT ... FOR
 * UPDATE on the domain row to make it strict; done with the admin API. */
static int check_domain_limit(struct db_txn *txn, const char *domain_id,
			      const char *domain, struct error *err)
{
	struct db_result *res;
	const char *params[] = {domain_id};
	if (db_txn_query(txn,
			 "SELECT d.max_mailboxes, (SELECT COUNT(*) FROM mailboxes m "
			 "WHERE m.domain_id = d.id) FROM domains d WHERE d.id = ?",
			 params, 1, &res, err) < 0)
		return prov_db_fail(-1, err, domain);
	long long max = db_result_rows(res) ? atoll(db_result_value(res, 0, 0)) : 0;
	long long count = db_result_rows(res) ? atoll(db_result_value(res, 0, 1)) : 0;
	db_result_free(&res);
	if (max > 0 && count >= max)
		return error_set_code(err, ERR_PERM, "limit_reached",
				      "domain %s already has its maximum of %lld "
				      "mailboxes",
				      domain, max);
	return 0;
}

int prov_mailbox_add(struct db *db, const struct prov_mailbox *m,
		     const char *scheme, struct error *err)
{
	struct buf *addr = buf_new(), *domain = buf_new(), *did = buf_new();
	struct buf *hash = buf_new();
	struct db_txn *txn = NULL;
	char q[24];
	int rc = -1;

	if (prov_norm_address(m->address, addr, domain, err) < 0)
		goto out;
	if (m->password == NULL || *m->password == '\0') {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "a password is required");
		goto out;
	}
	if (m->quota_bytes < 0) {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "quota_bytes must not be negative");
		goto out;
	}
	/* Hash before the transaction: Argon2 takes a while and must not
	 * hold a database write lock. */
	if (password_hash(scheme, m->password, hash, err) < 0) {
		err->code = "invalid_value";
		goto out;
	}
	txn = db_begin(db, err);
	if (txn == NULL) {
		prov_db_fail(-1, err, buf_data(addr));
		goto out;
	}
	int found = prov_domain_id(txn, buf_data(domain), did, err);
	if (found < 0)
		goto out;
	if (found == 0) {
		error_set_code(err, ERR_PERM, "not_found",
			       "domain %s is not hosted here (add it first)",
			       buf_data(domain));
		goto out;
	}
	if (check_domain_limit(txn, buf_data(did), buf_data(domain), err) < 0)
		goto out;
	const char *at = strrchr(buf_data(addr), '@');
	char *local = xstrndup(buf_data(addr), (size_t)(at - buf_data(addr)));
	const char *params[] = {buf_data(did), local, buf_data(addr),
				buf_data(hash), m->name ? m->name : "",
				prov_num(m->quota_bytes, q),
				m->active ? "1" : "0"};
	long long n = db_txn_exec(txn,
				  "INSERT INTO mailboxes (domain_id, local_part, "
				  "address, password_hash, name, quota_bytes, "
				  "active, used_bytes, message_count) "
				  "VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0)",
				  params, 7, err);
	free(local);
	if (n < 0) {
		char what[PROV_NAME_MAX + 16];
		snprintf(what, sizeof(what), "mailbox %s", buf_data(addr));
		prov_db_fail(n, err, what);
		goto out;
	}
	rc = db_commit(&txn, err) < 0 ? prov_db_fail(-1, err, buf_data(addr))
				      : 0;
out:
	if (txn != NULL)
		db_rollback(&txn);
	buf_free(&addr);
	buf_free(&domain);
	buf_free(&did);
	buf_free(&hash);
	return rc;
}

int prov_mailbox_quota(struct db *db, const char *address,
		       unsigned long long *quota_r, struct error *err)
{
	const char *params[] = {address};
	struct db_result *res = NULL;
	int ret = 0;

	*quota_r = 0;
	if (db_query(db, "SELECT quota_bytes FROM mailboxes WHERE address = ?",
		     params, 1, &res, err) < 0)
		return prov_db_fail(-1, err, address);
	if (db_result_rows(res) > 0) {
		const char *v = db_result_value(res, 0, 0);
		if (v != NULL && !str_to_u64(v, quota_r))
			ret = error_set_code(err, ERR_PERM, "invalid_value",
					     "quota of %s is not a number: %s",
					     address, v);
		else
			ret = 1;
	}
	db_result_free(&res);
	return ret;
}

int prov_mailbox_del(struct db *db, const char *address, struct error *err)
{
	struct buf *norm = buf_new();
	int rc = prov_norm_address(address, norm, NULL, err);
	/* XXX the Maildir is not purged yet: no store before the LMTP issue. */
	if (rc == 0)
		rc = prov_delete_one(db, "DELETE FROM mailboxes WHERE address = ?",
				     buf_data(norm), "mailbox", err);
	buf_free(&norm);
	return rc;
}

int prov_mailbox_list(struct db *db, const char *domain,
		      struct db_result **res_r, struct error *err)
{
	return prov_list(db, domain,
			 "SELECT m.address, m.name, m.quota_bytes, m.used_bytes, "
			 "m.message_count, m.active FROM mailboxes m ORDER BY m.address",
			 "SELECT m.address, m.name, m.quota_bytes, m.used_bytes, "
			 "m.message_count, m.active FROM mailboxes m "
			 "JOIN domains d ON d.id = m.domain_id "
			 "WHERE d.name = ? ORDER BY m.address",
			 "mailboxes", res_r, err);
}
