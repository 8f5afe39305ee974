/* Bearer tokens and the audit trail (prov_admin.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "prov-private.h"
#include "provision/prov_admin.h"

int prov_token_auth(struct db *db, const char *token, long long now,
		    struct prov_token_info *info, struct error *err)
{
	char hash[TOKEN_HASH_LEN + 1];
	struct db_result *res;

	memset(info, 0, sizeof(*info));
	if (token == NULL || strlen(token) != TOKEN_STR_LEN)
		return 0;
	token_hash(token, hash);
	int rc = prov_get_one(db,
			      "SELECT t.id, t.admin_id, t.expires_at, t.revoked, "
			      "a.username, a.role, a.active FROM tokens t "
			      "LEFT JOIN admins a ON a.id = t.admin_id "
			      "WHERE t.secret_hash = ?",
			      hash, &res, err);
	if (rc <= 0)
		return rc;
	const char *admin = db_result_value(res, 0, 1);
	const char *expires = db_result_value(res, 0, 2);
	const char *revoked = db_result_value(res, 0, 3);
	const char *active = db_result_value(res, 0, 6);
	bool usable = strcmp(revoked, "0") == 0 &&
		      (expires == NULL || atoll(expires) > now) &&
		      (admin == NULL || (active != NULL && strcmp(active, "1") == 0));
	if (usable) {
		str_copy(info->id, db_result_value(res, 0, 0), sizeof(info->id));
		if (admin != NULL) {
			str_copy(info->admin_id, admin, sizeof(info->admin_id));
			str_copy(info->username, db_result_value(res, 0, 4),
				 sizeof(info->username));
			info->superadmin =
			    strcmp(db_result_value(res, 0, 5), "superadmin") == 0;
		} else {
			info->superadmin = true;
		}
	}
	db_result_free(&res);
	return usable ? 1 : 0;
}

int prov_token_create(struct db *db, const char *admin_id,
		      const char *description, long long expires_at,
		      char token_out[TOKEN_STR_LEN + 1], long long *id_r,
		      const struct prov_actor *who, struct error *err)
{
	char hash[TOKEN_HASH_LEN + 1], exp[24];
	struct db_result *res;
	int rc = -1;

	token_generate(token_out);
	token_hash(token_out, hash);
	struct db_txn *txn = db_begin(db, err);
	if (txn == NULL)
		return prov_db_fail(-1, err, "token");
	const char *p[] = {admin_id, hash, description ? description : "",
			   expires_at > 0 ? prov_num(expires_at, exp) : NULL};
	long long n = db_txn_exec(txn,
				  "INSERT INTO tokens (admin_id, secret_hash, "
				  "description, expires_at, revoked) "
				  "VALUES (?, ?, ?, ?, 0)",
				  p, 4, err);
	if (n < 0) {
		prov_db_fail(n, err, "token");
		goto out;
	}
	const char *hp[] = {hash};
	if (db_txn_query(txn, "SELECT id FROM tokens WHERE secret_hash = ?", hp,
			 1, &res, err) < 0) {
		prov_db_fail(-1, err, "token");
		goto out;
	}
	*id_r = db_result_rows(res) ? atoll(db_result_value(res, 0, 0)) : 0;
	db_result_free(&res);
	char idtext[24];
	rc = prov_commit_audit(&txn, who, "token.create", "token",
			       prov_num(*id_r, idtext), err);
out:
	if (txn != NULL)
		db_rollback(&txn);
	return rc;
}

int prov_token_revoke(struct db *db, const char *id, const char *admin_id,
		      const struct prov_actor *who, struct error *err)
{
	long long v;
	if (id == NULL || !str_to_i64(id, &v) || v <= 0)
		return error_set_code(err, ERR_PERM, "not_found",
				      "token %s does not exist", id ? id : "");
	struct db_txn *txn = db_begin(db, err);
	if (txn == NULL)
		return prov_db_fail(-1, err, "token");
	const char *p[] = {id, admin_id};
	long long n = db_txn_exec(txn,
				  admin_id != NULL
				      ? "UPDATE tokens SET revoked = 1 WHERE id = ? "
					"AND admin_id = ?"
				      : "UPDATE tokens SET revoked = 1 WHERE id = ?",
				  p, admin_id != NULL ? 2 : 1, err);
	int rc;
	if (n < 0) {
		rc = prov_db_fail(-1, err, "token");
	} else {
		/* MySQL reports 0 for an already revoked token: look. */
		struct db_result *res;
		const char *sql = admin_id != NULL
				      ? "SELECT 1 FROM tokens WHERE id = ? AND "
					"admin_id = ?"
				      : "SELECT 1 FROM tokens WHERE id = ?";
		if (n > 0) {
			rc = prov_commit_audit(&txn, who, "token.revoke", "token",
					       id, err);
		} else if (db_txn_query(txn, sql, p, admin_id ? 2 : 1, &res,
					err) < 0) {
			rc = prov_db_fail(-1, err, "token");
		} else {
			size_t rows = db_result_rows(res);
			db_result_free(&res);
			rc = rows > 0 ? prov_commit_audit(&txn, who, "token.revoke",
							  "token", id, err)
				      : error_set_code(err, ERR_PERM, "not_found",
						       "token %s does not exist",
						       id);
		}
	}
	if (txn != NULL)
		db_rollback(&txn);
	return rc;
}

int prov_token_page(struct db *db, const char *admin_id,
		    const struct prov_page *page, struct db_result **res_r,
		    long long *total_r, struct error *err)
{
	const char *cols = "t.id, a.username, t.description, t.created_at, "
			   "t.expires_at, t.revoked";
	if (admin_id != NULL) {
		const char *p[] = {admin_id};
		return prov_page_query(db, cols,
				       "FROM tokens t LEFT JOIN admins a ON a.id = "
				       "t.admin_id WHERE t.admin_id = ?",
				       "t.id", p, 1, page, res_r, total_r, err);
	}
	return prov_page_query(db, cols,
			       "FROM tokens t LEFT JOIN admins a ON a.id = "
			       "t.admin_id",
			       "t.id", NULL, 0, page, res_r, total_r, err);
}

int prov_audit_page(struct db *db, const struct prov_audit_filter *f,
		    const struct prov_page *page, struct db_result **res_r,
		    long long *total_r, struct error *err)
{
	struct buf *where = buf_new();
	const char *p[6];
	size_t n = 0;
	char s1[24], s2[24];

	buf_set_str(where, "FROM audit WHERE 1 = 1");
	if (f->actor != NULL) {
		buf_append_str(where, " AND actor = ?");
		p[n++] = f->actor;
	}
	if (f->action != NULL) {
		buf_append_str(where, " AND action = ?");
		p[n++] = f->action;
	}
	if (f->object_type != NULL) {
		buf_append_str(where, " AND object_type = ?");
		p[n++] = f->object_type;
	}
	if (f->object_id != NULL) {
		buf_append_str(where, " AND object_id = ?");
		p[n++] = f->object_id;
	}
	if (f->since > 0) {
		buf_append_str(where, " AND at >= ?");
		p[n++] = prov_num(f->since, s1);
	}
	if (f->until > 0) {
		buf_append_str(where, " AND at <= ?");
		p[n++] = prov_num(f->until, s2);
	}
	int rc = prov_page_query(db,
				 "id, at, actor, client_address, action, "
				 "object_type, object_id, details",
				 buf_data(where), "id DESC", p, n, page, res_r,
				 total_r, err);
	buf_free(&where);
	return rc;
}
