/* /api/v1/aliases: aliases and catch-alls ("@domain"). */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/str.h"

json_t *api_alias_json(const struct db_result *res, size_t r)
{
	const char *source = db_result_value(res, r, 0);
	const char *at = strrchr(source, '@');
	json_t *dests = json_array();
	struct array *list = str_split(db_result_value(res, r, 1), ",");
	for (size_t i = 0; i < array_len(list); i++)
		json_array_append_new(dests, api_json_str(array_get(list, i)));
	array_free_with(&list, free);
	return json_pack("{s:o,s:s,s:o,s:o,s:o}", "source", api_json_str(source),
			 "domain", at ? at + 1 : "", "destinations", dests,
			 "active", api_json_bool(db_result_value(res, r, 2)),
			 "created_at", api_json_int(db_result_value(res, r, 3)));
}

static void reply_alias(struct api_req *req, const char *source,
			unsigned status)
{
	struct db_result *res;
	struct error err;
	int rc = prov_alias_get(req->api->db, source, &res, &err);
	if (rc < 0) {
		api_fail(req, &err);
	} else if (rc == 0) {
		api_error(req, 404, "not_found", "alias %s does not exist",
			  source);
	} else {
		api_reply(req, status, api_alias_json(res, 0));
		db_result_free(&res);
	}
}

void api_alias_create(struct api_req *req)
{
	struct prov_alias a;
	struct api_problem pr;
	struct error err;
	struct buf *src = buf_new(), *domain = buf_new(), *dests = buf_new();
	json_t *obj = api_req_body(req);
	if (obj == NULL)
		goto out;
	if (api_alias_body(obj, true, &a, NULL, dests, &pr) < 0) {
		api_problem_reply(req, &pr);
		goto out;
	}
	prov_normalize_source(a.source, src, domain, &err);
	if (!api_may_domain(req, buf_data(domain)))
		goto out;
	char *details = api_body_details(obj);
	struct prov_actor who = api_actor(req, details);
	if (prov_alias_add_as(req->api->db, &a, &who, &err) < 0)
		api_fail(req, &err);
	else
		reply_alias(req, buf_data(src), 201);
	free(details);
out:
	json_decref(obj);
	buf_free(&src);
	buf_free(&domain);
	buf_free(&dests);
}

void api_alias_get(struct api_req *req)
{
	struct buf *src = buf_new(), *domain = buf_new();
	if (api_arg_source(req, src, domain) == 0 &&
	    api_may_domain(req, buf_data(domain)))
		reply_alias(req, buf_data(src), 200);
	buf_free(&src);
	buf_free(&domain);
}

void api_alias_patch(struct api_req *req)
{
	struct buf *src = buf_new(), *domain = buf_new(), *dests = buf_new();
	struct prov_alias_patch p;
	struct api_problem pr;
	struct error err;
	json_t *obj = NULL;
	if (api_arg_source(req, src, domain) < 0 ||
	    !api_may_domain(req, buf_data(domain)) ||
	    (obj = api_req_body(req)) == NULL)
		goto out;
	if (api_alias_body(obj, false, NULL, &p, dests, &pr) < 0) {
		api_problem_reply(req, &pr);
		goto out;
	}
	char *details = api_body_details(obj);
	struct prov_actor who = api_actor(req, details);
	if (prov_alias_update(req->api->db, buf_data(src), &p, &who, &err) < 0)
		api_fail(req, &err);
	else
		reply_alias(req, buf_data(src), 200);
	free(details);
out:
	json_decref(obj);
	buf_free(&src);
	buf_free(&domain);
	buf_free(&dests);
}

void api_alias_delete(struct api_req *req)
{
	struct buf *src = buf_new(), *domain = buf_new();
	struct error err;
	if (api_arg_source(req, src, domain) == 0 &&
	    api_may_domain(req, buf_data(domain))) {
		struct prov_actor who = api_actor(req, NULL);
		if (prov_alias_del_as(req->api->db, buf_data(src), &who, &err) < 0)
			api_fail(req, &err);
		else
			api_reply(req, 204, NULL);
	}
	buf_free(&src);
	buf_free(&domain);
}
