/* Domains and alias domains. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov-private.h"

int prov_domain_add(struct db *db, const struct prov_domain *d,
		    struct error *err)
{
	return prov_domain_add_as(db, d, &prov_cli_actor, err);
}

int prov_domain_add_as(struct db *db, const struct prov_domain *d,
		       const struct prov_actor *who, struct error *err)
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
	if (d->description != NULL && strlen(d->description) > PROV_TEXT_MAX) {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "description: at most %d bytes", PROV_TEXT_MAX);
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
	if (prov_commit_audit(&txn, who, "domain.create", "domain",
			      buf_data(name), err) < 0) {
		if (txn != NULL)
			db_rollback(&txn);
		goto out;
	}
	rc = 0;
out:
	buf_free(&name);
	return rc;
}

int prov_domain_del(struct db *db, const char *name, struct error *err)
{
	return prov_domain_del_as(db, name, &prov_cli_actor, err);
}

int prov_domain_del_as(struct db *db, const char *name,
		       const struct prov_actor *who, struct error *err)
{
	struct buf *norm = buf_new();
	int rc = prov_norm_domain(name, norm, err);
	/* Mailboxes, aliases, alias domains and admin rights go with it (ON
	 * DELETE CASCADE); the caller moves its Maildirs to the trash
	 * (prov_trash_move) once this has committed. */
	if (rc == 0)
		rc = prov_delete_audited(db, "DELETE FROM domains WHERE name = ?",
					 buf_data(norm), "domain", who,
					 "domain.delete", "domain", err);
	buf_free(&norm);
	return rc;
}

#define DOMAIN_COLS                                                          \
	"d.name, d.description, d.max_mailboxes, d.quota_bytes, d.active, "  \
	"(SELECT COUNT(*) FROM mailboxes m WHERE m.domain_id = d.id), "      \
	"(SELECT COUNT(*) FROM aliases a WHERE a.domain_id = d.id), "        \
	"d.created_at, d.daily_message_limit, d.daily_new_recipient_limit"

int prov_domain_get(struct db *db, const char *name, struct db_result **res_r,
		    struct error *err)
{
	struct buf *norm = buf_new();
	int rc = prov_norm_domain(name, norm, err);
	if (rc == 0)
		rc = prov_get_one(db,
				  "SELECT " DOMAIN_COLS
				  " FROM domains d WHERE d.name = ?",
				  buf_data(norm), res_r, err);
	buf_free(&norm);
	return rc;
}

int prov_domain_page(struct db *db, const struct prov_page *page,
		     struct db_result **res_r, long long *total_r,
		     struct error *err)
{
	if (page != NULL && page->admin_id != NULL) {
		const char *params[] = {page->admin_id};
		return prov_page_query(db, DOMAIN_COLS,
				       "FROM domains d WHERE d.id IN (SELECT "
				       "domain_id FROM admin_domains WHERE "
				       "admin_id = ?)",
				       "d.name", params, 1, page, res_r, total_r,
				       err);
	}
	return prov_page_query(db, DOMAIN_COLS, "FROM domains d", "d.name",
			       NULL, 0, page, res_r, total_r, err);
}

/* A lower limit than what the domain already holds is refused. */
static int check_new_limits(struct db_txn *txn, const char *did,
			    const char *name,
			    const struct prov_domain_patch *p,
			    struct error *err)
{
	struct db_result *res;
	const char *params[] = {did};
	if (db_txn_query(txn,
			 "SELECT COUNT(*), COALESCE(SUM(quota_bytes), 0), "
			 "COALESCE(SUM(CASE WHEN quota_bytes = 0 THEN 1 ELSE 0 "
			 "END), 0) FROM mailboxes WHERE domain_id = ?",
			 params, 1, &res, err) < 0)
		return prov_db_fail(-1, err, name);
	long long count = atoll(db_result_value(res, 0, 0));
	long long sum = atoll(db_result_value(res, 0, 1));
	long long unlimited = atoll(db_result_value(res, 0, 2));
	db_result_free(&res);
	if (p->max_mailboxes > 0 && count > p->max_mailboxes)
		return error_set_code(err, ERR_PERM, "limit_reached",
				      "max_mailboxes: domain %s already has %lld "
				      "mailboxes, more than %lld",
				      name, count, p->max_mailboxes);
	if (p->quota_bytes > 0 && unlimited > 0)
		return error_set_code(err, ERR_PERM, "limit_reached",
				      "quota_bytes: domain %s has %lld mailboxes "
				      "without a quota; give them one first",
				      name, unlimited);
	if (p->quota_bytes > 0 && sum > p->quota_bytes)
		return error_set_code(err, ERR_PERM, "limit_reached",
				      "quota_bytes: the mailboxes of domain %s "
				      "already have %lld bytes of quota, more "
				      "than %lld",
				      name, sum, p->quota_bytes);
	return 0;
}

int prov_domain_update(struct db *db, const char *name,
		       const struct prov_domain_patch *p,
		       const struct prov_actor *who, struct error *err)
{
	struct buf *norm = buf_new(), *did = buf_new(), *sql = buf_new();
	struct db_txn *txn = NULL;
	const char *params[6];
	size_t n = 0;
	char n1[24], n2[24];
	int rc = -1;

	if (prov_norm_domain(name, norm, err) < 0)
		goto out;
	if (p->description != NULL && strlen(p->description) > PROV_TEXT_MAX) {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "description: at most %d bytes", PROV_TEXT_MAX);
		goto out;
	}
	if ((p->max_mailboxes < -1) || (p->quota_bytes < -1)) {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "max_mailboxes and quota_bytes must not be "
			       "negative");
		goto out;
	}
	int found = prov_begin_domain(db, buf_data(norm), buf_data(norm), did,
				      &txn, err);
	if (found <= 0) {
		if (found == 0)
			error_set_code(err, ERR_PERM, "not_found",
				       "domain %s does not exist",
				       buf_data(norm));
		goto out;
	}
	if (check_new_limits(txn, buf_data(did), buf_data(norm), p, err) < 0)
		goto out;
	buf_set_str(sql, "UPDATE domains SET updated_at = updated_at");
	if (p->description != NULL) {
		buf_append_str(sql, ", description = ?");
		params[n++] = p->description;
	}
	if (p->max_mailboxes >= 0) {
		buf_append_str(sql, ", max_mailboxes = ?");
		params[n++] = prov_num(p->max_mailboxes, n1);
	}
	if (p->quota_bytes >= 0) {
		buf_append_str(sql, ", quota_bytes = ?");
		params[n++] = prov_num(p->quota_bytes, n2);
	}
	if (p->active >= 0) {
		buf_append_str(sql, ", active = ?");
		params[n++] = p->active ? "1" : "0";
	}
	buf_append_str(sql, " WHERE id = ?");
	params[n++] = buf_data(did);
	if (db_txn_exec(txn, buf_data(sql), params, n, err) < 0) {
		prov_db_fail(-1, err, buf_data(norm));
		goto out;
	}
	rc = prov_commit_audit(&txn, who, "domain.update", "domain",
			       buf_data(norm), err);
out:
	if (txn != NULL)
		db_rollback(&txn);
	buf_free(&norm);
	buf_free(&did);
	buf_free(&sql);
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
	return prov_alias_domain_add_as(db, alias, target, &prov_cli_actor, err);
}

int prov_alias_domain_add_as(struct db *db, const char *alias,
			     const char *target, const struct prov_actor *who,
			     struct error *err)
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
	rc = prov_commit_audit(&txn, who, "alias_domain.create", "alias_domain",
			       buf_data(a), err);
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
	return prov_alias_domain_del_as(db, alias, &prov_cli_actor, err);
}

int prov_alias_domain_del_as(struct db *db, const char *alias,
			     const struct prov_actor *who, struct error *err)
{
	struct buf *norm = buf_new();
	int rc = prov_norm_domain(alias, norm, err);
	if (rc == 0)
		rc = prov_delete_audited(
		    db, "DELETE FROM alias_domains WHERE alias_domain = ?",
		    buf_data(norm), "alias domain", who, "alias_domain.delete",
		    "alias_domain", err);
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

#define ALIAS_DOMAIN_FROM                                                   \
	"FROM alias_domains a JOIN domains d ON d.id = a.target_domain_id"

int prov_alias_domain_get(struct db *db, const char *alias,
			  struct db_result **res_r, struct error *err)
{
	struct buf *norm = buf_new();
	int rc = prov_norm_domain(alias, norm, err);
	if (rc == 0)
		rc = prov_get_one(db,
				  "SELECT a.alias_domain, d.name, a.active "
				  ALIAS_DOMAIN_FROM " WHERE a.alias_domain = ?",
				  buf_data(norm), res_r, err);
	buf_free(&norm);
	return rc;
}

int prov_alias_domain_page(struct db *db, const struct prov_page *page,
			   struct db_result **res_r, long long *total_r,
			   struct error *err)
{
	const char *cols = "a.alias_domain, d.name, a.active";
	if (page != NULL && page->admin_id != NULL) {
		const char *params[] = {page->admin_id};
		return prov_page_query(db, cols,
				       ALIAS_DOMAIN_FROM " WHERE d.id IN (SELECT "
				       "domain_id FROM admin_domains WHERE "
				       "admin_id = ?)",
				       "a.alias_domain", params, 1, page, res_r,
				       total_r, err);
	}
	return prov_page_query(db, cols, ALIAS_DOMAIN_FROM, "a.alias_domain",
			       NULL, 0, page, res_r, total_r, err);
}

int prov_alias_domain_target(struct db *db, const char *alias,
			     struct buf *out, struct error *err)
{
	struct db_result *res;
	int rc = prov_get_one(db,
			      "SELECT d.name " ALIAS_DOMAIN_FROM
			      " WHERE a.alias_domain = ?",
			      alias, &res, err);
	if (rc == 1) {
		buf_set_str(out, db_result_value(res, 0, 0));
		db_result_free(&res);
	}
	return rc;
}
