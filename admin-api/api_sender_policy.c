/*
 * /api/v1/domains/{name}/sender-policy: a hosted domain's own sender
 * allow/block list (provision/prov_sender_policy.h), applied by smtpd's
 * check_domain_sender_access.  GET lists it, PUT replaces it whole
 * ({"entries": [{"kind", "value", "action"}, ...]}, answered with the new
 * list), DELETE empties it.  Domain admins: their own domains only.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/xmalloc.h"
#include "provision/prov_sender_policy.h"

/* The path's domain, normalised and the caller's: 0, or -1 answered. */
static int arg_domain(struct api_req *req, struct buf *name)
{
	if (api_arg_domain(req, name) < 0 ||
	    !api_may_domain(req, buf_data(name)))
		return -1;
	return 0;
}

static void reply_list(struct api_req *req, const char *domain, unsigned status)
{
	struct db_result *res;
	struct error err;
	json_t *items;
	size_t n;

	if (prov_sender_policy_list(req->api->db, domain, &res, &err) < 0) {
		api_fail(req, &err);
		return;
	}
	items = json_array();
	n = db_result_rows(res);
	for (size_t r = 0; r < n; r++)
		json_array_append_new(
		    items, json_pack("{s:s,s:s,s:s,s:o}", "kind",
				     db_result_value(res, r, 0), "value",
				     db_result_value(res, r, 1), "action",
				     db_result_value(res, r, 2), "created_at",
				     api_json_int(db_result_value(res, r, 3))));
	db_result_free(&res);
	api_reply(req, status,
		  json_pack("{s:s,s:o,s:I}", "domain", domain, "items", items,
			    "total", (json_int_t)n));
}

void api_sender_policy_get(struct api_req *req)
{
	struct buf *name = buf_new();

	if (arg_domain(req, name) == 0)
		reply_list(req, buf_data(name), 200);
	buf_free(&name);
}

/* The entries of a PUT body into e[]: their count, or -1 answered. */
static long take_entries(struct api_req *req, json_t *obj,
			 struct prov_sender_policy_entry **e_r)
{
	json_t *arr = json_object_get(obj, "entries");
	const char *key;
	json_t *v;
	size_t i;

	*e_r = NULL;
	json_object_foreach(obj, key, v)
	{
		if (strcmp(key, "entries") != 0) {
			api_error(req, 422, "invalid_value",
				  "%s: unknown field", key);
			return -1;
		}
	}
	if (!json_is_array(arr)) {
		api_error(req, 422, "invalid_value",
			  "entries: an array of {\"kind\", \"value\", "
			  "\"action\"} is required");
		return -1;
	}
	if (json_array_size(arr) > PROV_SENDER_POLICY_MAX) {
		api_error(req, 422, "invalid_value", "entries: at most %d",
			  PROV_SENDER_POLICY_MAX);
		return -1;
	}
	*e_r = xcalloc(json_array_size(arr) + 1, sizeof(**e_r));
	json_array_foreach(arr, i, v)
	{
		struct prov_sender_policy_entry *e = &(*e_r)[i];
		json_t *f;

		if (!json_is_object(v)) {
			api_error(req, 422, "invalid_value",
				  "entries[%zu]: an object", i);
			return -1;
		}
		json_object_foreach(v, key, f)
		{
			if (strcmp(key, "kind") != 0 &&
			    strcmp(key, "value") != 0 &&
			    strcmp(key, "action") != 0) {
				api_error(req, 422, "invalid_value",
					  "entries[%zu].%s: unknown field", i,
					  key);
				return -1;
			}
			if (!json_is_string(f)) {
				api_error(req, 422, "invalid_value",
					  "entries[%zu].%s: a string", i, key);
				return -1;
			}
		}
		e->kind = json_string_value(json_object_get(v, "kind"));
		if (e->kind == NULL)
			e->kind = "sender";
		e->value = json_string_value(json_object_get(v, "value"));
		e->action = json_string_value(json_object_get(v, "action"));
	}
	return (long)json_array_size(arr);
}

static void store(struct api_req *req, const char *domain,
		  const struct prov_sender_policy_entry *e, size_t n,
		  const char *details, unsigned status)
{
	struct prov_actor who = api_actor(req, details);
	struct error err;

	if (prov_sender_policy_replace(req->api->db, domain, e, n, &who, &err) <
	    0) {
		api_fail(req, &err);
		return;
	}
	if (status == 204)
		api_reply(req, 204, NULL);
	else
		reply_list(req, domain, status);
}

void api_sender_policy_put(struct api_req *req)
{
	struct buf *name = buf_new();
	struct prov_sender_policy_entry *e = NULL;
	json_t *obj = NULL;
	long n;

	if (arg_domain(req, name) < 0)
		goto out;
	obj = api_req_body(req);
	if (obj == NULL)
		goto out;
	n = take_entries(req, obj, &e);
	if (n >= 0) {
		char *details = api_body_details(obj);
		store(req, buf_data(name), e, (size_t)n, details, 200);
		free(details);
	}
out:
	free(e);
	json_decref(obj);
	buf_free(&name);
}

void api_sender_policy_delete(struct api_req *req)
{
	struct buf *name = buf_new();

	if (arg_domain(req, name) == 0)
		store(req, buf_data(name), NULL, 0, NULL, 204);
	buf_free(&name);
}
