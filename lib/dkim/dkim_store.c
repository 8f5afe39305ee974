/* dkim_store - DKIM keys in SQL (dkim_store.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xmalloc.h"
#include "dkim/dkim_key.h"
#include "dkim/dkim_store.h"

static int fail(struct error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct error *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_setv(err, ERR_PERM, fmt, ap);
	va_end(ap);
	if (err != NULL)
		err->code = code;
	return -1;
}

/* A failed db call: keep ERR_TEMP visible to the API as 503. */
static int db_fail(struct error *err, long long rc, const char *what)
{
	if (rc == DB_DUPLICATE)
		return fail(err, "already_exists", "%s already exists", what);
	if (err != NULL && err->kind == ERR_TEMP)
		err->code = "temporary_failure";
	return -1;
}

bool dkim_selector_valid(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      (c == '-' && label > 0)))
			return false;
		label++;
	}
	return label > 0 && s[len - 1] != '-';
}

static int audit(struct db_txn *txn, const struct dkim_actor *who,
		 const char *action, const char *object, struct error *err)
{
	if (who == NULL)
		return 0;
	const char *params[] = {who->actor ? who->actor : "",
				who->client ? who->client : "",
				action,
				"dkim_key",
				object,
				who->details};
	if (db_txn_exec(txn,
			"INSERT INTO audit (actor, client_address, action, "
			"object_type, object_id, details) "
			"VALUES (?, ?, ?, ?, ?, ?)",
			params, 6, err) < 0)
		return db_fail(err, -1, "audit");
	return 0;
}

/* Begin, with the domain's id: 0, or -1 (rolled back). */
static int begin_domain(struct db *db, const char *domain, char id[24],
			struct db_txn **txn_r, struct error *err)
{
	struct db_result *res;
	const char *params[] = {domain};

	*txn_r = db_begin(db, err);
	if (*txn_r == NULL)
		return db_fail(err, -1, "dkim key");
	/* The no-op write serialises changes to one domain's keys (as
	 * provision's domain lock does). */
	if (db_txn_exec(*txn_r,
			"UPDATE domains SET updated_at = updated_at "
			"WHERE name = ?",
			params, 1, err) < 0 ||
	    db_txn_query(*txn_r, "SELECT id FROM domains WHERE name = ?",
			 params, 1, &res, err) < 0) {
		db_rollback(txn_r);
		return db_fail(err, -1, "dkim key");
	}
	if (db_result_rows(res) == 0) {
		db_result_free(&res);
		db_rollback(txn_r);
		return fail(err, "not_found", "domain %s does not exist",
			    domain);
	}
	snprintf(id, 24, "%s", db_result_value(res, 0, 0));
	db_result_free(&res);
	return 0;
}

/* 1 when the domain has a key with this selector (retired included). */
static int selector_taken(struct db_txn *txn, const char *did, const char *sel,
			  struct error *err)
{
	struct db_result *res;
	const char *params[] = {did, sel};
	int taken;

	if (db_txn_query(txn,
			 "SELECT 1 FROM dkim_keys WHERE domain_id = ? "
			 "AND selector = ?",
			 params, 2, &res, err) < 0)
		return db_fail(err, -1, "dkim key");
	taken = db_result_rows(res) > 0;
	db_result_free(&res);
	return taken;
}

static int pick_selector(struct db_txn *txn, const char *did, enum dkim_alg alg,
			 struct buf *out, struct error *err)
{
	char day[16];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y%m%d", &tm);
	for (unsigned n = 1; n < 100; n++) {
		buf_reset(out);
		buf_printf(out, "%s-%s",
			   alg == DKIM_ED25519_SHA256 ? "ed" : "rsa", day);
		if (n > 1)
			buf_printf(out, "-%u", n);
		int t = selector_taken(txn, did, buf_data(out), err);
		if (t <= 0)
			return t;
	}
	return fail(err, "limit_reached", "too many keys made today");
}

/* Insert a new active key (the caller checked the rules). */
static int insert_key(struct db_txn *txn, const char *did, enum dkim_alg alg,
		      const char *sel, struct error *err)
{
	struct buf *priv = buf_new(), *pub = buf_new();
	const char *params[5];
	long long rc;

	if (dkim_key_generate(alg, priv, pub, err) < 0) {
		buf_free(&priv);
		buf_free(&pub);
		return -1;
	}
	params[0] = did;
	params[1] = sel;
	params[2] = dkim_alg_name(alg);
	params[3] = buf_data(priv);
	params[4] = buf_data(pub);
	rc = db_txn_exec(
	    txn,
	    "INSERT INTO dkim_keys (domain_id, selector, algorithm, "
	    "private_key, public_key, active) "
	    "VALUES (?, ?, ?, ?, ?, 1)",
	    params, 5, err);
	/* The private key does not linger in freed memory. */
	memset(buf_mut(priv), 0, buf_len(priv));
	buf_free(&priv);
	buf_free(&pub);
	return rc < 0 ? db_fail(err, rc, "dkim selector") : 0;
}

/* The selector of the active key of alg into out: 1, 0 none, -1. */
static int active_of(struct db_txn *txn, const char *did, enum dkim_alg alg,
		     struct buf *out, struct error *err)
{
	struct db_result *res;
	const char *params[] = {did, dkim_alg_name(alg)};
	int found;

	if (db_txn_query(
		txn,
		"SELECT selector FROM dkim_keys WHERE domain_id = ? "
		"AND algorithm = ? AND active = 1 AND retired_at IS NULL",
		params, 2, &res, err) < 0)
		return db_fail(err, -1, "dkim key");
	found = db_result_rows(res) > 0;
	if (found && out != NULL)
		buf_set_str(out, db_result_value(res, 0, 0));
	db_result_free(&res);
	return found;
}

static int new_key(struct db *db, const char *domain, enum dkim_alg alg,
		   const char *selector, bool rotate,
		   const struct dkim_actor *who, struct buf *selector_out,
		   struct error *err)
{
	struct db_txn *txn;
	struct buf *sel = buf_new(), *old = buf_new(), *obj = buf_new();
	char did[24];
	int rc = -1, found;

	if (selector != NULL && !dkim_selector_valid(selector)) {
		fail(err, "invalid_value",
		     "selector \"%s\": lower-case letters, digits, hyphens "
		     "and dots, at most 63",
		     selector);
		goto out;
	}
	if (begin_domain(db, domain, did, &txn, err) < 0)
		goto out;
	found = active_of(txn, did, alg, old, err);
	if (found < 0)
		goto rollback;
	if (found && !rotate) {
		fail(err, "already_exists",
		     "domain %s already has an active %s key (%s): rotate it",
		     domain, dkim_alg_name(alg), buf_data(old));
		goto rollback;
	}
	if (!found && rotate) {
		fail(err, "not_found", "domain %s has no active %s key", domain,
		     dkim_alg_name(alg));
		goto rollback;
	}
	if (selector != NULL) {
		int t = selector_taken(txn, did, selector, err);
		if (t < 0)
			goto rollback;
		if (t > 0) {
			fail(err, "already_exists",
			     "domain %s already has a key with selector %s",
			     domain, selector);
			goto rollback;
		}
		buf_set_str(sel, selector);
	} else if (pick_selector(txn, did, alg, sel, err) < 0) {
		goto rollback;
	}
	if (rotate) {
		const char *params[] = {did, buf_data(old)};
		if (db_txn_exec(txn,
				"UPDATE dkim_keys SET active = 0 WHERE "
				"domain_id = ? AND selector = ?",
				params, 2, err) < 0) {
			db_fail(err, -1, "dkim key");
			goto rollback;
		}
	}
	buf_printf(obj, "%s._domainkey.%s", buf_data(sel), domain);
	if (insert_key(txn, did, alg, buf_data(sel), err) < 0 ||
	    audit(txn, who, rotate ? "dkim.rotate" : "dkim.generate",
		  buf_data(obj), err) < 0)
		goto rollback;
	if (db_commit(&txn, err) < 0) {
		db_fail(err, -1, "dkim key");
		goto out;
	}
	if (selector_out != NULL)
		buf_set_str(selector_out, buf_data(sel));
	rc = 0;
	goto out;
rollback:
	db_rollback(&txn);
out:
	buf_free(&sel);
	buf_free(&old);
	buf_free(&obj);
	return rc;
}

int dkim_store_generate(struct db *db, const char *domain, enum dkim_alg alg,
			const char *selector, const struct dkim_actor *who,
			struct buf *selector_out, struct error *err)
{
	return new_key(db, domain, alg, selector, false, who, selector_out,
		       err);
}

int dkim_store_rotate(struct db *db, const char *domain, enum dkim_alg alg,
		      const struct dkim_actor *who, struct buf *selector_out,
		      struct error *err)
{
	return new_key(db, domain, alg, NULL, true, who, selector_out, err);
}

int dkim_store_retire(struct db *db, const char *domain, const char *selector,
		      const struct dkim_actor *who, size_t *count_r,
		      struct error *err)
{
	struct db_txn *txn;
	struct buf *obj = buf_new();
	char did[24], now[24];
	long long n;
	int rc = -1;

	*count_r = 0;
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	if (begin_domain(db, domain, did, &txn, err) < 0)
		goto out;
	/* The private key is erased: a retired key can never sign again. */
	if (selector != NULL) {
		const char *params[] = {now, did, selector};
		n = db_txn_exec(
		    txn,
		    "UPDATE dkim_keys SET active = 0, retired_at = ?, "
		    "private_key = '' WHERE domain_id = ? AND "
		    "selector = ? AND retired_at IS NULL",
		    params, 3, err);
		buf_printf(obj, "%s._domainkey.%s", selector, domain);
	} else {
		const char *params[] = {now, did};
		n = db_txn_exec(txn,
				"UPDATE dkim_keys SET retired_at = ?, "
				"private_key = '' WHERE domain_id = ? AND "
				"active = 0 AND retired_at IS NULL",
				params, 2, err);
		buf_printf(obj, "*._domainkey.%s", domain);
	}
	if (n < 0) {
		db_fail(err, -1, "dkim key");
		goto rollback;
	}
	if (n == 0) {
		if (selector != NULL)
			fail(err, "not_found",
			     "domain %s has no published key %s", domain,
			     selector);
		else
			fail(err, "not_found",
			     "domain %s has no rotated-out key to retire",
			     domain);
		goto rollback;
	}
	if (audit(txn, who, "dkim.retire", buf_data(obj), err) < 0)
		goto rollback;
	if (db_commit(&txn, err) < 0) {
		db_fail(err, -1, "dkim key");
		goto out;
	}
	*count_r = (size_t)n;
	rc = 0;
	goto out;
rollback:
	db_rollback(&txn);
out:
	buf_free(&obj);
	return rc;
}

int dkim_store_list(struct db *db, const char *domain, struct db_result **res_r,
		    struct error *err)
{
	static const char cols[] =
	    "SELECT d.name, k.selector, k.algorithm, "
	    "CASE WHEN k.active = 1 THEN 'active' ELSE 'published' END, "
	    "k.public_key, k.created_at FROM dkim_keys k "
	    "JOIN domains d ON d.id = k.domain_id "
	    "WHERE k.retired_at IS NULL";
	struct buf *sql = buf_new_str(cols);
	const char *params[] = {domain};
	int rc;

	if (domain != NULL) {
		struct db_result *d;
		if (db_query(db, "SELECT 1 FROM domains WHERE name = ?", params,
			     1, &d, err) < 0) {
			buf_free(&sql);
			return db_fail(err, -1, "dkim key");
		}
		size_t rows = db_result_rows(d);
		db_result_free(&d);
		if (rows == 0) {
			buf_free(&sql);
			return fail(err, "not_found",
				    "domain %s does not exist", domain);
		}
		buf_append_str(sql, " AND d.name = ?");
	}
	buf_append_str(sql, " ORDER BY d.name, k.created_at, k.id");
	rc = db_query(db, buf_data(sql), params, domain != NULL ? 1 : 0, res_r,
		      err);
	buf_free(&sql);
	return rc < 0 ? db_fail(err, -1, "dkim key") : 0;
}

int dkim_store_active(struct db *db, const char *domain,
		      struct dkim_store_key **keys_r, size_t *n_r,
		      struct error *err)
{
	struct db_result *res;
	const char *params[] = {domain};
	size_t n = 0;

	*keys_r = NULL;
	*n_r = 0;
	if (db_query(db,
		     "SELECT k.selector, k.algorithm, k.private_key "
		     "FROM dkim_keys k JOIN domains d ON d.id = k.domain_id "
		     "WHERE d.name = ? AND d.active = 1 AND k.active = 1 "
		     "AND k.retired_at IS NULL ORDER BY k.algorithm DESC",
		     params, 1, &res, err) < 0)
		return db_fail(err, -1, "dkim key");
	if (db_result_rows(res) > 0)
		*keys_r = xcalloc(db_result_rows(res), sizeof(**keys_r));
	for (size_t r = 0; r < db_result_rows(res); r++) {
		struct dkim_store_key *k = &(*keys_r)[n];
		const char *pem = db_result_value(res, r, 2);
		if (dkim_alg_parse(db_result_value(res, r, 1), &k->alg) < 0 ||
		    pem == NULL || pem[0] == '\0')
			continue;
		snprintf(k->selector, sizeof(k->selector), "%s",
			 db_result_value(res, r, 0));
		k->private_pem = xstrdup(pem);
		n++;
	}
	db_result_free(&res);
	*n_r = n;
	return 0;
}

void dkim_store_keys_free(struct dkim_store_key **keys, size_t n)
{
	if (*keys == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		if ((*keys)[i].private_pem != NULL) {
			memset((*keys)[i].private_pem, 0,
			       strlen((*keys)[i].private_pem));
			free((*keys)[i].private_pem);
		}
	}
	free(*keys);
	*keys = NULL;
}
