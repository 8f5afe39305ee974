/* Mailboxes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "prov-private.h"

/*
 * Enforce the domain's limits inside the transaction that changes a
 * mailbox, after prov_lock_domain(), so concurrent adds to one domain
 * check one after the other on every database.  `self` is the address
 * being changed (its current quota is not counted), NULL for an add;
 * quota is the mailbox's new quota (0: unlimited).
 */
static int check_domain_limits(struct db_txn *txn, const char *domain_id,
			       const char *domain, const char *self,
			       long long quota, struct error *err)
{
	struct db_result *res;
	const char *params[] = {self ? self : "", domain_id};
	if (db_txn_query(txn,
			 "SELECT d.max_mailboxes, d.quota_bytes, "
			 "(SELECT COUNT(*) FROM mailboxes m WHERE m.domain_id = d.id), "
			 "(SELECT COALESCE(SUM(m.quota_bytes), 0) FROM mailboxes m "
			 "WHERE m.domain_id = d.id AND m.address <> ?) "
			 "FROM domains d WHERE d.id = ?",
			 params, 2, &res, err) < 0)
		return prov_db_fail(-1, err, domain);
	if (db_result_rows(res) == 0) {
		db_result_free(&res);
		return error_set_code(err, ERR_PERM, "not_found",
				      "domain %s does not exist", domain);
	}
	long long max = atoll(db_result_value(res, 0, 0));
	long long dquota = atoll(db_result_value(res, 0, 1));
	long long count = atoll(db_result_value(res, 0, 2));
	long long used = atoll(db_result_value(res, 0, 3));
	db_result_free(&res);
	if (self == NULL && max > 0 && count >= max)
		return error_set_code(err, ERR_PERM, "limit_reached",
				      "domain %s already has its maximum of %lld "
				      "mailboxes",
				      domain, max);
	if (dquota > 0 && quota == 0)
		return error_set_code(err, ERR_PERM, "limit_reached",
				      "quota_bytes: domain %s has a quota of "
				      "%lld bytes, so its mailboxes need a "
				      "quota (%lld bytes are left)",
				      domain, dquota,
				      dquota > used ? dquota - used : 0);
	if (dquota > 0 && used + quota > dquota)
		return error_set_code(err, ERR_PERM, "limit_reached",
				      "quota_bytes: %lld bytes would exceed the "
				      "quota of domain %s (%lld of %lld bytes "
				      "are already given to other mailboxes)",
				      quota, domain, used, dquota);
	return 0;
}

/* Is the address taken?  A cheap check before the Argon2 hash, so a
 * burst of duplicate adds does not cost a hash each; the unique
 * constraint stays the rule (DB_DUPLICATE). */
static int mailbox_exists(struct db *db, const char *addr, struct error *err)
{
	struct db_result *res;
	int rc = prov_get_one(db, "SELECT 1 FROM mailboxes WHERE address = ?",
			      addr, &res, err);
	if (rc == 1)
		db_result_free(&res);
	return rc;
}

int prov_mailbox_add(struct db *db, const struct prov_mailbox *m,
		     const char *scheme, struct error *err)
{
	return prov_mailbox_add_as(db, m, scheme, &prov_cli_actor, err);
}

int prov_mailbox_add_as(struct db *db, const struct prov_mailbox *m,
			const char *scheme, const struct prov_actor *who,
			struct error *err)
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
	if (m->name != NULL && strlen(m->name) > PROV_TEXT_MAX) {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "name: at most %d bytes", PROV_TEXT_MAX);
		goto out;
	}
	int exists = mailbox_exists(db, buf_data(addr), err);
	if (exists != 0) {
		if (exists > 0)
			error_set_code(err, ERR_PERM, "already_exists",
				       "mailbox %s already exists",
				       buf_data(addr));
		goto out;
	}
	/* Hash before the transaction: Argon2 takes a while and must not
	 * hold a database write lock. */
	if (password_hash(scheme, m->password, hash, err) < 0) {
		err->code = "invalid_value";
		goto out;
	}
	int found = prov_begin_domain(db, buf_data(domain), buf_data(addr), did,
				      &txn, err);
	if (found < 0)
		goto out;
	if (found == 0) {
		error_set_code(err, ERR_PERM, "not_found",
			       "domain %s is not hosted here (add it first)",
			       buf_data(domain));
		goto out;
	}
	if (check_domain_limits(txn, buf_data(did), buf_data(domain), NULL,
				m->quota_bytes, err) < 0)
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
	rc = prov_commit_audit(&txn, who, "mailbox.create", "mailbox",
			       buf_data(addr), err);
out:
	if (txn != NULL)
		db_rollback(&txn);
	buf_free(&addr);
	buf_free(&domain);
	buf_free(&did);
	buf_free(&hash);
	return rc;
}

int prov_mailbox_update(struct db *db, const char *address,
			const struct prov_mailbox_patch *p, const char *scheme,
			const struct prov_actor *who, struct error *err)
{
	struct buf *addr = buf_new(), *domain = buf_new(), *did = buf_new();
	struct buf *hash = buf_new(), *sql = buf_new();
	struct db_txn *txn = NULL;
	const char *params[6];
	size_t n = 0;
	char q[24];
	int rc = -1;

	if (prov_norm_address(address, addr, domain, err) < 0)
		goto out;
	if (p->name != NULL && strlen(p->name) > PROV_TEXT_MAX) {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "name: at most %d bytes", PROV_TEXT_MAX);
		goto out;
	}
	if (p->quota_bytes < -1) {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "quota_bytes must not be negative");
		goto out;
	}
	if (p->password != NULL) {
		if (*p->password == '\0') {
			error_set_code(err, ERR_PERM, "invalid_value",
				       "password: must not be empty");
			goto out;
		}
		if (password_hash(scheme, p->password, hash, err) < 0) {
			err->code = "invalid_value";
			goto out;
		}
	}
	int found = prov_begin_domain(db, buf_data(domain), buf_data(addr), did,
				      &txn, err);
	if (found < 0)
		goto out;
	if (found > 0 && p->quota_bytes >= 0 &&
	    check_domain_limits(txn, buf_data(did), buf_data(domain),
				buf_data(addr), p->quota_bytes, err) < 0)
		goto out;
	buf_set_str(sql, "UPDATE mailboxes SET updated_at = updated_at");
	if (p->password != NULL) {
		buf_append_str(sql, ", password_hash = ?");
		params[n++] = buf_data(hash);
	}
	if (p->name != NULL) {
		buf_append_str(sql, ", name = ?");
		params[n++] = p->name;
	}
	if (p->quota_bytes >= 0) {
		buf_append_str(sql, ", quota_bytes = ?");
		params[n++] = prov_num(p->quota_bytes, q);
	}
	if (p->active >= 0) {
		buf_append_str(sql, ", active = ?");
		params[n++] = p->active ? "1" : "0";
	}
	buf_append_str(sql, " WHERE address = ?");
	params[n++] = buf_data(addr);
	long long changed = db_txn_exec(txn, buf_data(sql), params, n, err);
	if (changed < 0) {
		prov_db_fail(-1, err, buf_data(addr));
		goto out;
	}
	/* MySQL counts only rows whose values changed; a found domain plus
	 * the existence check below decide "not found" on every driver. */
	if (changed == 0) {
		struct db_result *res;
		const char *kp[] = {buf_data(addr)};
		if (db_txn_query(txn, "SELECT 1 FROM mailboxes WHERE address = ?",
				 kp, 1, &res, err) < 0) {
			prov_db_fail(-1, err, buf_data(addr));
			goto out;
		}
		size_t rows = db_result_rows(res);
		db_result_free(&res);
		if (rows == 0) {
			error_set_code(err, ERR_PERM, "not_found",
				       "mailbox %s does not exist",
				       buf_data(addr));
			goto out;
		}
	}
	rc = prov_commit_audit(&txn, who, "mailbox.update", "mailbox",
			       buf_data(addr), err);
out:
	if (txn != NULL)
		db_rollback(&txn);
	buf_free(&addr);
	buf_free(&domain);
	buf_free(&did);
	buf_free(&hash);
	buf_free(&sql);
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
	return prov_mailbox_del_as(db, address, &prov_cli_actor, err);
}

int prov_mailbox_del_as(struct db *db, const char *address,
			const struct prov_actor *who, struct error *err)
{
	struct buf *norm = buf_new();
	int rc = prov_norm_address(address, norm, NULL, err);
	/* The row goes at once (mail refused, logins fail); the caller
	 * moves the Maildir to the trash (prov_trash_move) afterwards. */
	if (rc == 0)
		rc = prov_delete_audited(db,
					 "DELETE FROM mailboxes WHERE address = ?",
					 buf_data(norm), "mailbox", who,
					 "mailbox.delete", "mailbox", err);
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

#define MAILBOX_COLS                                                         \
	"m.address, m.name, m.quota_bytes, m.used_bytes, m.message_count, "  \
	"m.active, m.created_at, m.daily_message_limit, "                    \
	"m.daily_new_recipient_limit"

int prov_mailbox_get(struct db *db, const char *address,
		     struct db_result **res_r, struct error *err)
{
	struct buf *norm = buf_new();
	int rc = prov_norm_address(address, norm, NULL, err);
	if (rc == 0)
		rc = prov_get_one(db,
				  "SELECT " MAILBOX_COLS
				  " FROM mailboxes m WHERE m.address = ?",
				  buf_data(norm), res_r, err);
	buf_free(&norm);
	return rc;
}

int prov_mailbox_page(struct db *db, const char *domain,
		      const struct prov_page *page, struct db_result **res_r,
		      long long *total_r, struct error *err)
{
	return prov_domain_page_query(
	    db, MAILBOX_COLS,
	    "FROM mailboxes m JOIN domains d ON d.id = "
	    "m.domain_id WHERE d.name = ?",
	    "m.address", domain, page, res_r, total_r, err);
}
