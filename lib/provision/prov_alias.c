/* Aliases and catch-alls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/str.h"
#include "prov-private.h"

/*
 * Normalise an alias source: an address, or "@domain" for a catch-all.
 * The domain part goes to domain_out.
 */
static int norm_source(const char *source, struct buf *out,
		       struct buf *domain_out, struct error *err)
{
	if (source != NULL && source[0] == '@') {
		if (prov_norm_domain(source + 1, domain_out, err) < 0)
			return -1;
		buf_set_str(out, "@");
		buf_append_str(out, buf_data(domain_out));
		return 0;
	}
	return prov_norm_address(source, out, domain_out, err);
}

/* Destinations are stored comma-separated like PostfixAdmin's goto, each
 * one validated and normalised; duplicates are dropped. */
static int norm_destinations(const char *list, struct buf *out,
			     struct error *err)
{
	struct array *items = str_split(list ? list : "", ", \t");
	struct buf *one = buf_new();
	struct hash *seen = hash_new(HASH_DEFAULT, NULL);
	int rc = 0;
	buf_reset(out);
	if (array_len(items) == 0)
		rc = error_set_code(err, ERR_PERM, "invalid_value",
				    "an alias needs at least one destination");
	for (size_t i = 0; rc == 0 && i < array_len(items); i++) {
		if (prov_norm_address(array_get(items, i), one, NULL, err) < 0) {
			rc = -1;
			break;
		}
		if (hash_contains(seen, buf_data(one)))
			continue;
		hash_put(seen, buf_data(one), "");
		if (buf_len(out) > 0)
			buf_append_char(out, ',');
		buf_append_str(out, buf_data(one));
	}
	buf_free(&one);
	hash_free(&seen);
	array_free_with(&items, free);
	return rc;
}

int prov_normalize_source(const char *source, struct buf *out,
			  struct buf *domain_out, struct error *err)
{
	return norm_source(source, out, domain_out, err);
}

int prov_alias_add(struct db *db, const struct prov_alias *a,
		   struct error *err)
{
	return prov_alias_add_as(db, a, &prov_cli_actor, err);
}

int prov_alias_add_as(struct db *db, const struct prov_alias *a,
		      const struct prov_actor *who, struct error *err)
{
	struct buf *src = buf_new(), *domain = buf_new(), *did = buf_new();
	struct buf *dests = buf_new();
	struct db_txn *txn = NULL;
	int rc = -1;

	if (norm_source(a->source, src, domain, err) < 0 ||
	    norm_destinations(a->destinations, dests, err) < 0)
		goto out;
	txn = db_begin(db, err);
	if (txn == NULL) {
		prov_db_fail(-1, err, buf_data(src));
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
	const char *params[] = {buf_data(did), buf_data(src), buf_data(dests),
				a->active ? "1" : "0"};
	long long n = db_txn_exec(txn,
				  "INSERT INTO aliases (domain_id, source, "
				  "destinations, active) VALUES (?, ?, ?, ?)",
				  params, 4, err);
	if (n < 0) {
		char what[PROV_NAME_MAX + 16];
		snprintf(what, sizeof(what), "alias %s", buf_data(src));
		prov_db_fail(n, err, what);
		goto out;
	}
	rc = prov_commit_audit(&txn, who, "alias.create", "alias", buf_data(src),
			       err);
out:
	if (txn != NULL)
		db_rollback(&txn);
	buf_free(&src);
	buf_free(&domain);
	buf_free(&did);
	buf_free(&dests);
	return rc;
}

int prov_alias_del(struct db *db, const char *source, struct error *err)
{
	return prov_alias_del_as(db, source, &prov_cli_actor, err);
}

int prov_alias_del_as(struct db *db, const char *source,
		      const struct prov_actor *who, struct error *err)
{
	struct buf *norm = buf_new(), *domain = buf_new();
	int rc = norm_source(source, norm, domain, err);
	if (rc == 0)
		rc = prov_delete_audited(db, "DELETE FROM aliases WHERE source = ?",
					 buf_data(norm), "alias", who,
					 "alias.delete", "alias", err);
	buf_free(&norm);
	buf_free(&domain);
	return rc;
}

int prov_alias_list(struct db *db, const char *domain,
		    struct db_result **res_r, struct error *err)
{
	return prov_list(db, domain,
			 "SELECT source, destinations, active FROM aliases "
			 "ORDER BY source",
			 "SELECT a.source, a.destinations, a.active FROM aliases a "
			 "JOIN domains d ON d.id = a.domain_id WHERE d.name = ? "
			 "ORDER BY a.source",
			 "aliases", res_r, err);
}

int prov_alias_update(struct db *db, const char *source,
		      const struct prov_alias_patch *p,
		      const struct prov_actor *who, struct error *err)
{
	struct buf *src = buf_new(), *domain = buf_new(), *dests = buf_new();
	struct buf *sql = buf_new();
	struct db_txn *txn = NULL;
	const char *params[3];
	size_t n = 0;
	int rc = -1;

	if (norm_source(source, src, domain, err) < 0)
		goto out;
	if (p->destinations != NULL &&
	    norm_destinations(p->destinations, dests, err) < 0)
		goto out;
	txn = db_begin(db, err);
	if (txn == NULL) {
		prov_db_fail(-1, err, buf_data(src));
		goto out;
	}
	struct db_result *res;
	const char *kp[] = {buf_data(src)};
	if (db_txn_query(txn, "SELECT 1 FROM aliases WHERE source = ?", kp, 1,
			 &res, err) < 0) {
		prov_db_fail(-1, err, buf_data(src));
		goto out;
	}
	size_t rows = db_result_rows(res);
	db_result_free(&res);
	if (rows == 0) {
		error_set_code(err, ERR_PERM, "not_found",
			       "alias %s does not exist", buf_data(src));
		goto out;
	}
	buf_set_str(sql, "UPDATE aliases SET updated_at = updated_at");
	if (p->destinations != NULL) {
		buf_append_str(sql, ", destinations = ?");
		params[n++] = buf_data(dests);
	}
	if (p->active >= 0) {
		buf_append_str(sql, ", active = ?");
		params[n++] = p->active ? "1" : "0";
	}
	buf_append_str(sql, " WHERE source = ?");
	params[n++] = buf_data(src);
	if (db_txn_exec(txn, buf_data(sql), params, n, err) < 0) {
		prov_db_fail(-1, err, buf_data(src));
		goto out;
	}
	rc = prov_commit_audit(&txn, who, "alias.update", "alias",
			       buf_data(src), err);
out:
	if (txn != NULL)
		db_rollback(&txn);
	buf_free(&src);
	buf_free(&domain);
	buf_free(&dests);
	buf_free(&sql);
	return rc;
}

#define ALIAS_COLS "a.source, a.destinations, a.active, a.created_at"

int prov_alias_get(struct db *db, const char *source, struct db_result **res_r,
		   struct error *err)
{
	struct buf *norm = buf_new(), *domain = buf_new();
	int rc = norm_source(source, norm, domain, err);
	if (rc == 0)
		rc = prov_get_one(db,
				  "SELECT " ALIAS_COLS
				  " FROM aliases a WHERE a.source = ?",
				  buf_data(norm), res_r, err);
	buf_free(&norm);
	buf_free(&domain);
	return rc;
}

int prov_alias_page(struct db *db, const char *domain,
		    const struct prov_page *page, struct db_result **res_r,
		    long long *total_r, struct error *err)
{
	return prov_domain_page_query(db, ALIAS_COLS,
				      "FROM aliases a JOIN domains d ON d.id = "
				      "a.domain_id WHERE d.name = ?",
				      "a.source", domain, page, res_r, total_r,
				      err);
}
