/* Administrators and their domains (prov_admin.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "core/array.h"
#include "core/str.h"
#include "prov-private.h"
#include "provision/prov_admin.h"

int prov_admin_norm_username(const char *name, struct buf *out,
			     struct error *err)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 64)
		return error_set_code(err, ERR_PERM, "invalid_value",
				      "username: 1 to 64 characters");
	buf_reset(out);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      strchr("._@+-", c) != NULL))
			return error_set_code(err, ERR_PERM, "invalid_value",
					      "username: only letters, digits "
					      "and . _ @ + - are allowed");
		buf_append_char(out, c);
	}
	return 0;
}

/* Replace the admin's domain set with a comma-separated list. */
static int set_domains(struct db_txn *txn, const char *admin_id,
		       const char *list, struct error *err)
{
	const char *p0[] = {admin_id};
	if (db_txn_exec(txn, "DELETE FROM admin_domains WHERE admin_id = ?", p0,
			1, err) < 0)
		return prov_db_fail(-1, err, "admin domains");
	struct array *items = str_split(list ? list : "", ", \t");
	struct buf *norm = buf_new(), *did = buf_new();
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < array_len(items); i++) {
		if (prov_norm_domain(array_get(items, i), norm, err) < 0) {
			error_prefix(err, "domains");
			rc = -1;
			break;
		}
		int found = prov_domain_id(txn, buf_data(norm), did, err);
		if (found <= 0) {
			if (found == 0)
				error_set_code(err, ERR_PERM, "not_found",
					       "domains: %s is not hosted here",
					       buf_data(norm));
			rc = -1;
			break;
		}
		const char *p[] = {admin_id, buf_data(did)};
		long long n = db_txn_exec(txn,
					  "INSERT INTO admin_domains (admin_id, "
					  "domain_id) VALUES (?, ?)",
					  p, 2, err);
		/* The same domain twice in the list is harmless. */
		if (n < 0 && n != DB_DUPLICATE)
			rc = prov_db_fail(-1, err, "admin domains");
	}
	buf_free(&norm);
	buf_free(&did);
	array_free_with(&items, free);
	return rc;
}

static int admin_id(struct db_txn *txn, const char *username,
		    struct buf *id_out, char role_out[16], struct error *err)
{
	struct db_result *res;
	const char *p[] = {username};
	if (db_txn_query(txn, "SELECT id, role FROM admins WHERE username = ?",
			 p, 1, &res, err) < 0)
		return prov_db_fail(-1, err, username);
	int found = db_result_rows(res) > 0;
	if (found) {
		buf_set_str(id_out, db_result_value(res, 0, 0));
		if (role_out != NULL)
			str_copy(role_out, db_result_value(res, 0, 1), 16);
	} else {
		error_set_code(err, ERR_PERM, "not_found",
			       "admin %s does not exist", username);
	}
	db_result_free(&res);
	return found;
}

int prov_admin_add(struct db *db, const struct prov_admin *a,
		   const char *scheme, const struct prov_actor *who,
		   struct error *err)
{
	struct buf *name = buf_new(), *hash = buf_new(), *id = buf_new();
	struct db_txn *txn = NULL;
	int rc = -1;
	bool has_domains = a->domains != NULL && strspn(a->domains, ", \t") <
							 strlen(a->domains);

	if (prov_admin_norm_username(a->username, name, err) < 0)
		goto out;
	if (a->role == NULL || (strcmp(a->role, "superadmin") != 0 &&
				strcmp(a->role, "domain") != 0)) {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "role: \"superadmin\" or \"domain\"");
		goto out;
	}
	if (strcmp(a->role, "domain") == 0 && !has_domains) {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "domains: a domain admin needs at least one "
			       "domain");
		goto out;
	}
	if (strcmp(a->role, "superadmin") == 0 && has_domains) {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "domains: a superadmin has every domain; give "
			       "none");
		goto out;
	}
	if (a->password == NULL || *a->password == '\0') {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "password: required");
		goto out;
	}
	if (password_hash(scheme, a->password, hash, err) < 0) {
		err->code = "invalid_value";
		goto out;
	}
	txn = db_begin(db, err);
	if (txn == NULL) {
		prov_db_fail(-1, err, buf_data(name));
		goto out;
	}
	const char *p[] = {buf_data(name), buf_data(hash), a->role,
			   a->active ? "1" : "0"};
	long long n = db_txn_exec(txn,
				  "INSERT INTO admins (username, password_hash, "
				  "role, active) VALUES (?, ?, ?, ?)",
				  p, 4, err);
	if (n < 0) {
		char what[100];
		snprintf(what, sizeof(what), "admin %s", buf_data(name));
		prov_db_fail(n, err, what);
		goto out;
	}
	if (admin_id(txn, buf_data(name), id, NULL, err) <= 0 ||
	    (has_domains && set_domains(txn, buf_data(id), a->domains, err) < 0))
		goto out;
	rc = prov_commit_audit(&txn, who, "admin.create", "admin",
			       buf_data(name), err);
out:
	if (txn != NULL)
		db_rollback(&txn);
	buf_free(&name);
	buf_free(&hash);
	buf_free(&id);
	return rc;
}

int prov_admin_update(struct db *db, const char *username,
		      const struct prov_admin_patch *pa, const char *scheme,
		      const struct prov_actor *who, struct error *err)
{
	struct buf *name = buf_new(), *hash = buf_new(), *id = buf_new();
	struct db_txn *txn = NULL;
	char role[16] = "";
	int rc = -1;

	if (prov_admin_norm_username(username, name, err) < 0)
		goto out;
	if (pa->password != NULL) {
		if (*pa->password == '\0') {
			error_set_code(err, ERR_PERM, "invalid_value",
				       "password: must not be empty");
			goto out;
		}
		if (password_hash(scheme, pa->password, hash, err) < 0) {
			err->code = "invalid_value";
			goto out;
		}
	}
	txn = db_begin(db, err);
	if (txn == NULL) {
		prov_db_fail(-1, err, buf_data(name));
		goto out;
	}
	if (admin_id(txn, buf_data(name), id, role, err) <= 0)
		goto out;
	if (pa->domains != NULL) {
		bool empty = strspn(pa->domains, ", \t") == strlen(pa->domains);
		if (strcmp(role, "superadmin") == 0 && !empty) {
			error_set_code(err, ERR_PERM, "invalid_value",
				       "domains: a superadmin has every domain");
			goto out;
		}
		if (strcmp(role, "domain") == 0 && empty) {
			error_set_code(err, ERR_PERM, "invalid_value",
				       "domains: a domain admin needs at least "
				       "one domain");
			goto out;
		}
		if (set_domains(txn, buf_data(id), pa->domains, err) < 0)
			goto out;
	}
	if (pa->password != NULL || pa->active >= 0) {
		const char *p[3];
		size_t n = 0;
		const char *sql;
		if (pa->password != NULL && pa->active >= 0) {
			sql = "UPDATE admins SET password_hash = ?, active = ? "
			      "WHERE id = ?";
			p[n++] = buf_data(hash);
			p[n++] = pa->active ? "1" : "0";
		} else if (pa->password != NULL) {
			sql = "UPDATE admins SET password_hash = ? WHERE id = ?";
			p[n++] = buf_data(hash);
		} else {
			sql = "UPDATE admins SET active = ? WHERE id = ?";
			p[n++] = pa->active ? "1" : "0";
		}
		p[n++] = buf_data(id);
		if (db_txn_exec(txn, sql, p, n, err) < 0) {
			prov_db_fail(-1, err, buf_data(name));
			goto out;
		}
	}
	rc = prov_commit_audit(&txn, who, "admin.update", "admin",
			       buf_data(name), err);
out:
	if (txn != NULL)
		db_rollback(&txn);
	buf_free(&name);
	buf_free(&hash);
	buf_free(&id);
	return rc;
}

int prov_admin_del(struct db *db, const char *username,
		   const struct prov_actor *who, struct error *err)
{
	struct buf *name = buf_new();
	int rc = prov_admin_norm_username(username, name, err);
	/* Its tokens and domain rights go with it (ON DELETE CASCADE). */
	if (rc == 0)
		rc = prov_delete_audited(db,
					 "DELETE FROM admins WHERE username = ?",
					 buf_data(name), "admin", who,
					 "admin.delete", "admin", err);
	buf_free(&name);
	return rc;
}

#define ADMIN_COLS "id, username, role, active, created_at"

int prov_admin_get(struct db *db, const char *username,
		   struct db_result **res_r, struct error *err)
{
	struct buf *name = buf_new();
	int rc = prov_admin_norm_username(username, name, err);
	if (rc == 0)
		rc = prov_get_one(db,
				  "SELECT " ADMIN_COLS
				  " FROM admins WHERE username = ?",
				  buf_data(name), res_r, err);
	buf_free(&name);
	return rc;
}

int prov_admin_page(struct db *db, const struct prov_page *page,
		    struct db_result **res_r, long long *total_r,
		    struct error *err)
{
	return prov_page_query(db, ADMIN_COLS, "FROM admins", "username", NULL,
			       0, page, res_r, total_r, err);
}

int prov_admin_domains(struct db *db, const char *id, struct buf *out,
		       struct error *err)
{
	struct db_result *res;
	const char *p[] = {id};
	buf_reset(out);
	if (db_query(db,
		     "SELECT d.name FROM admin_domains ad JOIN domains d ON "
		     "d.id = ad.domain_id WHERE ad.admin_id = ? ORDER BY d.name",
		     p, 1, &res, err) < 0)
		return prov_db_fail(-1, err, "admin domains");
	for (size_t i = 0; i < db_result_rows(res); i++) {
		if (i > 0)
			buf_append_char(out, ',');
		buf_append_str(out, db_result_value(res, i, 0));
	}
	db_result_free(&res);
	return 0;
}

int prov_admin_login(struct db *db, const char *username,
		     const char *password, struct buf *id_out,
		     struct error *err)
{
	struct buf *name = buf_new();
	struct db_result *res = NULL;
	int rc = 0;

	if (prov_admin_norm_username(username, name, err) < 0 ||
	    password == NULL)
		goto out;
	rc = prov_get_one(db,
			  "SELECT id, password_hash FROM admins WHERE "
			  "username = ? AND active = 1",
			  buf_data(name), &res, err);
	if (rc <= 0)
		goto out;
	rc = password_verify(db_result_value(res, 0, 1), password, err);
	if (rc == 1)
		buf_set_str(id_out, db_result_value(res, 0, 0));
	else if (rc < 0)
		rc = 0; /* a broken stored hash is a failed login */
out:
	db_result_free(&res);
	buf_free(&name);
	return rc;
}
