#include <stdio.h>
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
