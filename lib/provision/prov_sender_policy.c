/*
 * prov_sender_policy.c - a domain's sender allow/block list
 * (prov_sender_policy.h): validation, storage, matching.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/str.h"
#include "core/xmalloc.h"
#include "prov-private.h"
#include "prov_sender_policy.h"

/* An address or network: family, bytes, prefix length. */
struct net {
	int af;
	unsigned char a[16];
	unsigned bits;
};

static size_t net_len(int af)
{
	return af == AF_INET ? 4 : 16;
}

static bool net_parse(const char *s, struct net *n)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hl = slash != NULL ? (size_t)(slash - s) : strlen(s);
	long bits = -1;

	if (hl == 0 || hl >= sizeof(host))
		return false;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, host, n->a) == 1)
		n->af = AF_INET;
	else if (inet_pton(AF_INET6, host, n->a) == 1)
		n->af = AF_INET6;
	else
		return false;
	if (slash != NULL) {
		char *end;
		if (slash[1] < '0' || slash[1] > '9')
			return false;
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || bits > (long)net_len(n->af) * 8)
			return false;
	}
	n->bits = bits < 0 ? (unsigned)net_len(n->af) * 8 : (unsigned)bits;
	/* Clear the host bits: the stored form is the network. */
	for (size_t i = 0; i < net_len(n->af); i++) {
		unsigned keep = n->bits > i * 8 ? n->bits - (unsigned)i * 8 : 0;
		if (keep < 8)
			n->a[i] &= (unsigned char)(0xff00u >> keep);
	}
	return true;
}

static bool net_contains(const struct net *net, const struct net *addr)
{
	if (net->af != addr->af)
		return false;
	for (size_t i = 0; i < net_len(net->af); i++) {
		unsigned keep =
		    net->bits > i * 8 ? net->bits - (unsigned)i * 8 : 0;
		unsigned char m =
		    keep >= 8 ? 0xff : (unsigned char)(0xff00u >> keep);
		if ((addr->a[i] & m) != net->a[i])
			return false;
	}
	return true;
}

static void net_format(const struct net *n, struct buf *out)
{
	char text[INET6_ADDRSTRLEN];

	inet_ntop(n->af, n->a, text, sizeof(text));
	buf_reset(out);
	buf_printf(out, "%s/%u", text, n->bits);
}

int prov_sender_policy_check(const struct prov_sender_policy_entry *e,
			     struct buf *out, struct error *err)
{
	const char *v = e->value;

	if (e->action == NULL || (strcmp(e->action, "allow") != 0 &&
				  strcmp(e->action, "block") != 0))
		return error_set_code(err, ERR_PERM, "invalid_value",
				      "action: \"allow\" or \"block\"");
	if (v == NULL || *v == '\0')
		return error_set_code(err, ERR_PERM, "invalid_value",
				      "value: required");
	if (e->kind != NULL && strcmp(e->kind, "client") == 0) {
		struct net n;
		if (!net_parse(v, &n))
			return error_set_code(err, ERR_PERM, "invalid_value",
					      "value \"%s\": not an IP address "
					      "or CIDR network",
					      v);
		net_format(&n, out);
		return 0;
	}
	if (e->kind == NULL || strcmp(e->kind, "sender") != 0)
		return error_set_code(err, ERR_PERM, "invalid_value",
				      "kind: \"sender\" or \"client\"");
	if (strcmp(v, "<>") == 0) {
		buf_set_str(out, "<>");
		return 0;
	}
	if (strchr(v, '@') != NULL) {
		if (prov_norm_address(v, out, NULL, err) < 0)
			return -1;
		return 0;
	}
	if (v[0] == '.') {
		struct buf *d = buf_new();
		int rc = prov_norm_domain(v + 1, d, err);
		if (rc == 0) {
			buf_set_str(out, ".");
			buf_append_str(out, buf_data(d));
		}
		buf_free(&d);
		return rc;
	}
	return prov_norm_domain(v, out, err);
}

int prov_sender_policy_list(struct db *db, const char *domain,
			    struct db_result **res_r, struct error *err)
{
	struct buf *norm = buf_new();
	struct db_result *res = NULL;
	int rc;

	*res_r = NULL;
	if (prov_norm_domain(domain, norm, err) < 0) {
		buf_free(&norm);
		return -1;
	}
	rc = prov_get_one(db, "SELECT id FROM domains WHERE name = ?",
			  buf_data(norm), &res, err);
	db_result_free(&res);
	if (rc == 0)
		error_set_code(err, ERR_PERM, "not_found",
			       "domain %s does not exist", buf_data(norm));
	if (rc <= 0) {
		if (rc < 0)
			prov_db_fail(-1, err, "domain");
		buf_free(&norm);
		return -1;
	}
	const char *params[] = {buf_data(norm)};
	if (db_query(db,
		     "SELECT p.kind, p.value, p.action, p.created_at FROM"
		     " domain_sender_policy p JOIN domains d ON d.id ="
		     " p.domain_id WHERE d.name = ? ORDER BY p.kind, p.value",
		     params, 1, res_r, err) < 0) {
		buf_free(&norm);
		return prov_db_fail(-1, err, "sender policy");
	}
	buf_free(&norm);
	return 0;
}

int prov_sender_policy_replace(struct db *db, const char *domain,
			       const struct prov_sender_policy_entry *entries,
			       size_t n, const struct prov_actor *who,
			       struct error *err)
{
	struct buf *norm = buf_new(), *did = buf_new();
	char **values = xcalloc(n + 1, sizeof(*values));
	struct db_txn *txn = NULL;
	char now[24];
	int ret = -1, rc;

	if (prov_norm_domain(domain, norm, err) < 0)
		goto out;
	if (n > PROV_SENDER_POLICY_MAX) {
		error_set_code(err, ERR_PERM, "invalid_value",
			       "entries: at most %d", PROV_SENDER_POLICY_MAX);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct buf *v = buf_new();
		if (prov_sender_policy_check(&entries[i], v, err) < 0) {
			error_prefix(err, "entries[%zu]", i);
			buf_free(&v);
			goto out;
		}
		values[i] = buf_steal(v);
		buf_free(&v);
		for (size_t k = 0; k < i; k++)
			if (strcmp(values[k], values[i]) == 0 &&
			    strcmp(entries[k].kind, entries[i].kind) == 0) {
				error_set_code(err, ERR_PERM, "invalid_value",
					       "entries[%zu]: %s %s is listed "
					       "twice",
					       i, entries[i].kind, values[i]);
				goto out;
			}
	}
	rc = prov_begin_domain(db, buf_data(norm), "sender policy", did, &txn,
			       err);
	if (rc == 0)
		error_set_code(err, ERR_PERM, "not_found",
			       "domain %s does not exist", buf_data(norm));
	if (rc <= 0)
		goto out;
	{
		const char *p[] = {buf_data(did)};
		if (db_txn_exec(txn,
				"DELETE FROM domain_sender_policy WHERE"
				" domain_id = ?",
				p, 1, err) < 0) {
			prov_db_fail(-1, err, "sender policy");
			goto out;
		}
	}
	prov_num((long long)time(NULL), now);
	for (size_t i = 0; i < n; i++) {
		const char *p[] = {buf_data(did), entries[i].kind, values[i],
				   entries[i].action, now};
		long long r = db_txn_exec(txn,
					  "INSERT INTO domain_sender_policy"
					  " (domain_id, kind, value, action,"
					  " created_at) VALUES (?, ?, ?, ?, ?)",
					  p, 5, err);
		if (r < 0) {
			prov_db_fail(r, err, "sender policy entry");
			goto out;
		}
	}
	if (prov_commit_audit(&txn, who, "domain.sender_policy", "domain",
			      buf_data(norm), err) < 0)
		goto out;
	ret = 0;
out:
	if (txn != NULL)
		db_rollback(&txn);
	for (size_t i = 0; i < n; i++)
		free(values[i]);
	free(values);
	buf_free(&norm);
	buf_free(&did);
	return ret;
}

/* How specific a sender entry is for this sender: higher is more
 * specific, 0 no match. */
static size_t sender_rank(const char *value, const char *sender,
			  const char *sdomain)
{
	if (*sender == '\0')
		return strcmp(value, "<>") == 0 ? 1000 : 0;
	if (strcmp(value, sender) == 0)
		return 1000;
	if (sdomain == NULL)
		return 0;
	if (strcmp(value, sdomain) == 0)
		return 999;
	if (value[0] == '.') {
		size_t vl = strlen(value), dl = strlen(sdomain);
		/* ".example.org" matches a.example.org, a.b.example.org. */
		if (dl > vl && strcmp(sdomain + dl - vl, value) == 0)
			return vl; /* the longer parent is the nearer one */
	}
	return 0;
}

int prov_sender_policy_match(struct db *db, const char *rcpt_domain,
			     const char *sender, const char *client_addr,
			     bool *block_r, char *matched, size_t size,
			     struct error *err)
{
	const char *params[] = {rcpt_domain, rcpt_domain};
	struct db_result *res = NULL;
	char *low = str_lower(xstrdup(sender != NULL ? sender : ""));
	const char *at = strrchr(low, '@');
	const char *sdomain = at != NULL ? at + 1 : NULL;
	struct net client;
	bool have_client =
	    client_addr != NULL && net_parse(client_addr, &client);
	size_t best_s = 0, best_c = 0, row_s = 0, row_c = 0;
	bool block_s = false, block_c = false;
	int ret = 0;

	if (db_query(db,
		     "SELECT p.kind, p.value, p.action FROM"
		     " domain_sender_policy p JOIN domains d ON d.id ="
		     " p.domain_id WHERE d.name = ? UNION ALL SELECT p.kind,"
		     " p.value, p.action FROM domain_sender_policy p JOIN"
		     " alias_domains a ON a.target_domain_id = p.domain_id"
		     " WHERE a.alias_domain = ?",
		     params, 2, &res, err) < 0) {
		free(low);
		err->kind = ERR_TEMP;
		return -1;
	}
	for (size_t r = 0; r < db_result_rows(res); r++) {
		const char *kind = db_result_value(res, r, 0);
		const char *value = db_result_value(res, r, 1);
		const char *action = db_result_value(res, r, 2);
		bool block = action != NULL && strcmp(action, "block") == 0;
		size_t rank = 0;

		if (kind == NULL || value == NULL)
			continue;
		if (strcmp(kind, "sender") == 0) {
			rank = sender_rank(value, low, sdomain);
			/* Block wins a tie. */
			if (rank > best_s ||
			    (rank > 0 && rank == best_s && block)) {
				best_s = rank;
				row_s = r;
				block_s = block;
			}
		} else if (have_client && strcmp(kind, "client") == 0) {
			struct net n;
			if (!net_parse(value, &n) || !net_contains(&n, &client))
				continue;
			rank = n.bits + 1;
			if (rank > best_c || (rank == best_c && block)) {
				best_c = rank;
				row_c = r;
				block_c = block;
			}
		}
	}
	if (best_s > 0 || best_c > 0) {
		size_t row = best_s > 0 ? row_s : row_c;
		*block_r = best_s > 0 ? block_s : block_c;
		snprintf(matched, size, "%s:%s", db_result_value(res, row, 0),
			 db_result_value(res, row, 1));
		ret = 1;
	}
	db_result_free(&res);
	free(low);
	return ret;
}
