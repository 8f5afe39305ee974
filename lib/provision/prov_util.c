#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/address.h"
#include "prov-private.h"

int prov_norm_domain(const char *name, struct buf *out, struct error *err)
{
	if (name == NULL || *name == '\0')
		return error_set_code(err, ERR_PERM, "invalid_value",
				      "a domain name is required");
	if (address_domain_normalize(name, strlen(name), ADDRESS_IDN, out,
				     err) < 0) {
		error_prefix(err, "domain \"%s\"", name);
		err->code = "invalid_value";
		return -1;
	}
	return 0;
}

int prov_norm_address(const char *address, struct buf *out,
		      struct buf *domain_out, struct error *err)
{
	struct mail_address addr;
	if (address == NULL || *address == '\0')
		return error_set_code(err, ERR_PERM, "invalid_value",
				      "an address is required");
	if (address_parse_mailbox(address, strlen(address),
				  ADDRESS_IDN | ADDRESS_LOWER_LOCAL, &addr,
				  err) < 0) {
		error_prefix(err, "address \"%s\"", address);
		err->code = "invalid_value";
		return -1;
	}
	if (addr.domain[0] == '[') {
		address_clear(&addr);
		return error_set_code(err, ERR_PERM, "invalid_value",
				      "address \"%s\": a hosted address needs a "
				      "domain name, not an address literal",
				      address);
	}
	address_format(&addr, out);
	if (domain_out != NULL)
		buf_set_str(domain_out, addr.domain);
	address_clear(&addr);
	return 0;
}

int prov_db_fail(long long rc, struct error *err, const char *what)
{
	if (rc == DB_DUPLICATE)
		return error_set_code(err, ERR_PERM, "already_exists",
				      "%s already exists", what);
	if (err != NULL && err->kind == ERR_TEMP)
		err->code = "temporary_failure";
	else if (err != NULL && err->code == NULL)
		err->code = "internal_error";
	return -1;
}

/* Delete by a normalised key; not_found when no row went away. */
int prov_delete_one(struct db *db, const char *sql, const char *key,
		      const char *what, struct error *err)
{
	const char *params[] = {key};
	long long n = db_exec(db, sql, params, 1, err);
	if (n < 0)
		return prov_db_fail(n, err, key);
	if (n == 0)
		return error_set_code(err, ERR_PERM, "not_found",
				      "%s %s does not exist", what, key);
	return 0;
}

int prov_domain_id(struct db_txn *txn, const char *name, struct buf *id_out,
		   struct error *err)
{
	struct db_result *res;
	const char *params[] = {name};
	if (db_txn_query(txn, "SELECT id FROM domains WHERE name = ?", params,
			 1, &res, err) < 0)
		return prov_db_fail(-1, err, name);
	int found = db_result_rows(res) > 0;
	if (found)
		buf_set_str(id_out, db_result_value(res, 0, 0));
	db_result_free(&res);
	return found;
}

int prov_list(struct db *db, const char *domain, const char *sql_all,
	      const char *sql_domain, const char *what,
	      struct db_result **res_r, struct error *err)
{
	struct buf *norm = buf_new();
	const char *params[1];
	size_t nparams = 0;
	const char *sql = sql_all;
	int rc = -1;

	if (domain != NULL) {
		if (prov_norm_domain(domain, norm, err) < 0)
			goto out;
		params[nparams++] = buf_data(norm);
		sql = sql_domain;
	}
	rc = db_query(db, sql, params, nparams, res_r, err) < 0
		     ? prov_db_fail(-1, err, what)
		     : 0;
out:
	buf_free(&norm);
	return rc;
}

const char *prov_num(long long v, char out[24])
{
	snprintf(out, 24, "%lld", v);
	return out;
}

const struct prov_actor prov_cli_actor = {"cli", "local", NULL};

int prov_normalize_domain(const char *name, struct buf *out, struct error *err)
{
	return prov_norm_domain(name, out, err);
}

int prov_normalize_address(const char *address, struct buf *out,
			   struct buf *domain_out, struct error *err)
{
	return prov_norm_address(address, out, domain_out, err);
}

int prov_audit_write(struct db_txn *txn, const struct prov_actor *who,
		     const char *action, const char *type, const char *object,
		     struct error *err)
{
	if (who == NULL)
		return 0;
	const char *params[] = {who->actor ? who->actor : "",
				who->client ? who->client : "", action, type,
				object, who->details};
	long long n = db_txn_exec(txn,
				  "INSERT INTO audit (actor, client_address, action, "
				  "object_type, object_id, details) "
				  "VALUES (?, ?, ?, ?, ?, ?)",
				  params, 6, err);
	return n < 0 ? prov_db_fail(-1, err, "audit") : 0;
}

int prov_commit_audit(struct db_txn **txn, const struct prov_actor *who,
		      const char *action, const char *type, const char *object,
		      struct error *err)
{
	if (prov_audit_write(*txn, who, action, type, object, err) < 0)
		return -1;
	return db_commit(txn, err) < 0 ? prov_db_fail(-1, err, object) : 0;
}

int prov_lock_domain(struct db_txn *txn, const char *name, struct error *err)
{
	/* A no-op write takes the row lock on PostgreSQL and InnoDB (SQLite
	 * already holds the database's write lock from BEGIN IMMEDIATE), so
	 * two changes to one domain check its limits one after the other.
	 * It must be the transaction's first statement: InnoDB's repeatable
	 * read takes its snapshot at the first plain read, which then sees
	 * what the lock holder before us committed. */
	const char *params[] = {name};
	long long n = db_txn_exec(txn,
				  "UPDATE domains SET updated_at = updated_at "
				  "WHERE name = ?",
				  params, 1, err);
	return n < 0 ? prov_db_fail(-1, err, "domain") : 0;
}

int prov_page_query(struct db *db, const char *cols, const char *from_where,
		    const char *order, const char *const *params,
		    size_t nparams, const struct prov_page *page,
		    struct db_result **res_r, long long *total_r,
		    struct error *err)
{
	struct buf *sql = buf_new();
	struct db_result *res = NULL;
	int rc = -1;

	buf_printf(sql, "SELECT COUNT(*) %s", from_where);
	if (db_query(db, buf_data(sql), params, nparams, &res, err) < 0) {
		prov_db_fail(-1, err, "list");
		goto out;
	}
	*total_r = db_result_rows(res) ? atoll(db_result_value(res, 0, 0)) : 0;
	db_result_free(&res);
	/* LIMIT and OFFSET are numbers we formatted, not client text; MySQL
	 * does not take string parameters there. */
	long long limit = page && page->limit > 0 ? page->limit : 1000000;
	long long offset = page && page->offset > 0 ? page->offset : 0;
	buf_reset(sql);
	buf_printf(sql, "SELECT %s %s ORDER BY %s LIMIT %lld OFFSET %lld", cols,
		   from_where, order, limit, offset);
	if (db_query(db, buf_data(sql), params, nparams, res_r, err) < 0) {
		prov_db_fail(-1, err, "list");
		goto out;
	}
	rc = 0;
out:
	buf_free(&sql);
	return rc;
}

int prov_get_one(struct db *db, const char *sql, const char *key,
		 struct db_result **res_r, struct error *err)
{
	const char *params[] = {key};
	if (db_query(db, sql, params, 1, res_r, err) < 0)
		return prov_db_fail(-1, err, key);
	if (db_result_rows(*res_r) == 0) {
		db_result_free(res_r);
		return 0;
	}
	return 1;
}

/* Delete one row by key inside a transaction with its audit row. */
int prov_delete_audited(struct db *db, const char *sql, const char *key,
			const char *what, const struct prov_actor *who,
			const char *action, const char *type,
			struct error *err)
{
	struct db_txn *txn = db_begin(db, err);
	if (txn == NULL)
		return prov_db_fail(-1, err, key);
	const char *params[] = {key};
	long long n = db_txn_exec(txn, sql, params, 1, err);
	int rc;
	if (n < 0)
		rc = prov_db_fail(n, err, key);
	else if (n == 0)
		rc = error_set_code(err, ERR_PERM, "not_found",
				    "%s %s does not exist", what, key);
	else
		rc = prov_commit_audit(&txn, who, action, type, key, err);
	if (txn != NULL)
		db_rollback(&txn);
	return rc;
}

int prov_domain_page_query(struct db *db, const char *cols,
			   const char *from_where, const char *order,
			   const char *domain, const struct prov_page *page,
			   struct db_result **res_r, long long *total_r,
			   struct error *err)
{
	struct buf *norm = buf_new();
	int rc = prov_norm_domain(domain, norm, err);
	const char *params[] = {buf_data(norm)};
	if (rc == 0)
		rc = prov_page_query(db, cols, from_where, order, params, 1,
				     page, res_r, total_r, err);
	buf_free(&norm);
	return rc;
}

int prov_begin_domain(struct db *db, const char *domain, const char *what,
		      struct buf *did, struct db_txn **txn_r, struct error *err)
{
	*txn_r = db_begin(db, err);
	if (*txn_r == NULL) {
		prov_db_fail(-1, err, what);
		return -1;
	}
	if (prov_lock_domain(*txn_r, domain, err) < 0)
		return -1;
	return prov_domain_id(*txn_r, domain, did, err);
}
