/*
 * /api/v1/domains/{name}/dkim: a domain's DKIM keys (dkim/dkim_store.h).
 * Every answer carries the DNS records to publish; private keys never
 * leave the database.  Domain admins manage their own domains' keys.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "dkim/dkim_key.h"
#include "dkim/dkim_store.h"

static json_t *key_json(const char *domain, const struct db_result *res,
			size_t r)
{
	const char *sel = db_result_value(res, r, 1);
	const char *pub = db_result_value(res, r, 4);
	struct buf *rec = buf_new(), *line = buf_new(), *name = buf_new();
	enum dkim_alg alg = DKIM_RSA_SHA256;
	json_t *o;

	dkim_alg_parse(db_result_value(res, r, 2), &alg);
	dkim_key_record(alg, pub, rec);
	dkim_key_zone_line(domain, sel, alg, pub, line);
	buf_printf(name, "%s._domainkey.%s", sel, domain);
	o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:s}", "selector", sel,
		      "algorithm", db_result_value(res, r, 2), "state",
		      db_result_value(res, r, 3), "public_key", pub,
		      "created_at", api_json_int(db_result_value(res, r, 5)),
		      "dns_name", buf_data(name), "txt", buf_data(rec),
		      "zone_line", buf_data(line));
	buf_free(&rec);
	buf_free(&line);
	buf_free(&name);
	return o;
}

/* The domain's keys (only `only` when not NULL) with status. */
static void reply_keys(struct api_req *req, const char *domain,
		       const char *only, unsigned status)
{
	struct db_result *res;
	struct error err;
	json_t *items;
	long long n = 0;

	if (dkim_store_list(req->api->db, domain, &res, &err) < 0) {
		api_fail(req, &err);
		return;
	}
	items = json_array();
	for (size_t r = 0; r < db_result_rows(res); r++) {
		if (only != NULL &&
		    strcmp(db_result_value(res, r, 1), only) != 0)
			continue;
		json_array_append_new(items, key_json(domain, res, r));
		n++;
	}
	db_result_free(&res);
	if (only != NULL && n == 1) {
		json_t *one = json_incref(json_array_get(items, 0));
		json_decref(items);
		api_reply(req, status, one);
		return;
	}
	api_reply(
	    req, status,
	    json_pack("{s:o,s:I}", "items", items, "total", (json_int_t)n));
}

/* The path's domain, normalised and the caller's: 0, or -1 answered. */
static int arg_domain(struct api_req *req, struct buf *name)
{
	if (api_arg_domain(req, name) < 0 ||
	    !api_may_domain(req, buf_data(name)))
		return -1;
	return 0;
}

/* The body (an empty one is {}), checked: NULL after answering. */
static json_t *body(struct api_req *req, const struct api_field *fields,
		    size_t n)
{
	struct api_problem pr;
	json_t *obj;

	if (buf_len(req->body) == 0)
		obj = json_object();
	else if ((obj = api_req_body(req)) == NULL)
		return NULL;
	if (api_body_check(obj, fields, n, &pr) < 0) {
		api_problem_reply(req, &pr);
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* "algorithm" into a mask of 1 << enum dkim_alg; "all" (both) only when
 * all_ok.  0, or -1 answered 422. */
static int algorithm(struct api_req *req, json_t *obj, bool all_ok,
		     unsigned *mask)
{
	const char *s = json_string_value(json_object_get(obj, "algorithm"));
	enum dkim_alg alg;

	if (s != NULL && all_ok && strcmp(s, "all") == 0) {
		*mask = 3;
		return 0;
	}
	if (s == NULL || dkim_alg_parse(s, &alg) < 0) {
		api_error(req, 422, "invalid_value",
			  "algorithm: \"rsa-sha256\" or \"ed25519-sha256\"%s",
			  all_ok ? " or \"all\"" : "");
		return -1;
	}
	*mask = 1u << alg;
	return 0;
}

void api_dkim_list(struct api_req *req)
{
	struct buf *name = buf_new();

	if (arg_domain(req, name) == 0)
		reply_keys(req, buf_data(name), NULL, 200);
	buf_free(&name);
}

void api_dkim_create(struct api_req *req)
{
	static const struct api_field fields[] = {
	    {"algorithm", API_STRING, true, 20},
	    {"selector", API_STRING, false, 63},
	};
	struct buf *name = buf_new(), *sel = buf_new();
	struct error err;
	json_t *obj = NULL;
	unsigned mask;

	if (arg_domain(req, name) < 0 || (obj = body(req, fields, 2)) == NULL ||
	    algorithm(req, obj, false, &mask) < 0)
		goto out;
	char *details = api_body_details(obj);
	struct prov_actor pa = api_actor(req, details);
	struct dkim_actor who = {pa.actor, pa.client, pa.details};
	if (dkim_store_generate(
		req->api->db, buf_data(name),
		mask == 1 ? DKIM_RSA_SHA256 : DKIM_ED25519_SHA256,
		json_string_value(json_object_get(obj, "selector")), &who, sel,
		&err) < 0)
		api_fail(req, &err);
	else
		reply_keys(req, buf_data(name), buf_data(sel), 201);
	free(details);
out:
	json_decref(obj);
	buf_free(&name);
	buf_free(&sel);
}

void api_dkim_rotate(struct api_req *req)
{
	static const struct api_field fields[] = {
	    {"algorithm", API_STRING, true, 20},
	};
	struct buf *name = buf_new(), *sel = buf_new();
	struct error err;
	json_t *obj = NULL;
	unsigned mask;
	int done = 0;

	if (arg_domain(req, name) < 0 || (obj = body(req, fields, 1)) == NULL ||
	    algorithm(req, obj, true, &mask) < 0)
		goto out;
	char *details = api_body_details(obj);
	struct prov_actor pa = api_actor(req, details);
	struct dkim_actor who = {pa.actor, pa.client, pa.details};
	for (int a = 0; a < 2; a++) {
		if (!(mask & (1u << a)))
			continue;
		int rc = dkim_store_rotate(req->api->db, buf_data(name),
					   (enum dkim_alg)a, &who, sel, &err);
		/* "all" rotates what the domain signs with. */
		if (rc < 0 && mask == 3 && err.code != NULL &&
		    strcmp(err.code, "not_found") == 0 &&
		    strstr(err.msg, "has no active") != NULL)
			continue;
		if (rc < 0) {
			api_fail(req, &err);
			free(details);
			goto out;
		}
		done++;
	}
	if (done == 0)
		api_error(req, 404, "not_found",
			  "domain %s has no active key to rotate",
			  buf_data(name));
	else
		reply_keys(req, buf_data(name), NULL, 200);
	free(details);
out:
	json_decref(obj);
	buf_free(&name);
	buf_free(&sel);
}
