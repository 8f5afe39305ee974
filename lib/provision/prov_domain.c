/* Domains and alias domains. */
#include <stdio.h>
#include <string.h>

#include "prov-private.h"

int prov_domain_add(struct db *db, const struct prov_domain *d,
		    struct error *err)
{
	struct buf *name = buf_new();
	char n1[24], n2[24];
	int rc = -1;

	if (prov_norm_domain(d->name, name, err) < 0)
		goto out;
	if (d->max_mailboxes < 0 || d->quota_bytes < 0) {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "max_mailboxes and quota_bytes must not be "
			       "negative");
		goto out;
	}
	struct db_txn *txn = db_begin(db, err);
	if (txn == NULL) {
		prov_db_fail(-1, err, buf_data(name));
		goto out;
	}
	/* A name cannot be both hosted and an alias domain: mail for it
	 * would have two meanings. */
	struct db_result *res;
	const char *p1[] = {buf_data(name)};
	if (db_txn_query(txn,
			 "SELECT 1 FROM alias_domains WHERE alias_domain = ?",
			 p1, 1, &res, err) < 0) {
		db_rollback(&txn);
		prov_db_fail(-1, err, buf_data(name));
		goto out;
	}
	size_t clash = db_result_rows(res);
	db_result_free(&res);
	if (clash) {
		db_rollback(&txn);
		error_set_code(err, ERR_PERM, "conflict",
			       "%s is an alias domain; delete it first",
			       buf_data(name));
		goto out;
	}
	const char *params[] = {buf_data(name),
				d->description ? d->description : "",
				prov_num(d->max_mailboxes, n1),
				prov_num(d->quota_bytes, n2),
				d->active ? "1" : "0"};
	long long n = db_txn_exec(txn,
				  "INSERT INTO domains (name, description, "
				  "max_mailboxes, quota_bytes, active) "
				  "VALUES (?, ?, ?, ?, ?)",
				  params, 5, err);
	if (n < 0) {
		db_rollback(&txn);
		char what[PROV_NAME_MAX + 16];
		snprintf(what, sizeof(what), "domain %s", buf_data(name));
		prov_db_fail(n, err, what);
		goto out;
	}
	if (db_commit(&txn, err) < 0) {
		prov_db_fail(-1, err, buf_data(name));
		goto out;
	}
	rc = 0;
out:
	buf_free(&name);
	return rc;
}

int prov_domain_del(struct db *db, const char *name, struct error *err)
{
	struct buf *norm = buf_new();
	int rc = prov_norm_domain(name, norm, err);
	/* Mailboxes, aliases and alias domains go with it (ON DELETE
	 * CASCADE).  XXX the Maildir store is not purged yet: there is no
	 * store until the LMTP issue. */
	if (rc == 0)
		rc = prov_delete_one(db, "DELETE FROM domains WHERE name = ?",
				buf_data(norm), "domain", err);
	buf_free(&norm);
	return rc;
}

int prov_domain_list(struct db *db, struct db_result **res_r,
		     struct error *err)
{
	int rc = db_query(db,
			  "SELECT d.name, d.description, d.max_mailboxes, "
			  "d.quota_bytes, d.active, "
			  "(SELECT COUNT(*) FROM mailboxes m WHERE m.domain_id = d.id), "
			  "(SELECT COUNT(*) FROM aliases a WHERE a.domain_id = d.id) "
			  "FROM domains d ORDER BY d.name",
			  NULL, 0, res_r, err);
	return rc < 0 ? prov_db_fail(-1, err, "domains") : 0;
}

int prov_alias_domain_add(struct db *db, const char *alias,
			  const char *target, struct error *err)
{
	struct buf *a = buf_new(), *t = buf_new(), *tid = buf_new();
	struct db_txn *txn = NULL;
	int rc = -1;

	if (prov_norm_domain(alias, a, err) < 0 ||
	    prov_norm_domain(target, t, err) < 0)
		goto out;
	if (buf_eq_str(a, buf_data(t))) {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "an alias domain cannot point at itself");
		goto out;
	}
	txn = db_begin(db, err);
	if (txn == NULL) {
		prov_db_fail(-1, err, buf_data(a));
		goto out;
	}
	struct buf *aid = buf_new();
	int hosted = prov_domain_id(txn, buf_data(a), aid, err);
	buf_free(&aid);
	if (hosted < 0)
		goto out;
	if (hosted > 0) {
		error_set_code(err, ERR_PERM, "conflict",
			       "%s is a hosted domain; it cannot also be an "
			       "alias domain",
			       buf_data(a));
		goto out;
	}
	int found = prov_domain_id(txn, buf_data(t), tid, err);
	if (found < 0)
		goto out;
	if (found == 0) {
		error_set_code(err, ERR_PERM, "not_found",
			       "target domain %s is not hosted here",
			       buf_data(t));
		goto out;
	}
	const char *params[] = {buf_data(a), buf_data(tid)};
	long long n = db_txn_exec(txn,
				  "INSERT INTO alias_domains (alias_domain, "
				  "target_domain_id, active) VALUES (?, ?, 1)",
				  params, 2, err);
	if (n < 0) {
		char what[PROV_NAME_MAX + 24];
		snprintf(what, sizeof(what), "alias domain %s", buf_data(a));
		prov_db_fail(n, err, what);
		goto out;
	}
	rc = db_commit(&txn, err) < 0 ? prov_db_fail(-1, err, buf_data(a)) : 0;
out:
	if (txn != NULL)
		db_rollback(&txn);
	buf_free(&a);
	buf_free(&t);
	buf_free(&tid);
	return rc;
}

int prov_alias_domain_del(struct db *db, const char *alias,
			  struct error *err)
{
	struct buf *norm = buf_new();
	int rc = prov_norm_domain(alias, norm, err);
	if (rc == 0)
		rc = prov_delete_one(db,
				"DELETE FROM alias_domains WHERE alias_domain = ?",
				buf_data(norm), "alias domain", err);
	buf_free(&norm);
	return rc;
}

int prov_alias_domain_list(struct db *db, struct db_result **res_r,
			   struct error *err)
{
	int rc = db_query(db,
			  "SELECT a.alias_domain, d.name, a.active "
			  "FROM alias_domains a JOIN domains d "
			  "ON d.id = a.target_domain_id ORDER BY a.alias_domain",
			  NULL, 0, res_r, err);
	return rc < 0 ? prov_db_fail(-1, err, "alias domains") : 0;
}
