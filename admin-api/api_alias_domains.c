/* /api/v1/alias-domains: every address of the alias maps to the target. */
#include <stdlib.h>

#include "api.h"

static json_t *alias_domain_json(struct api_req *req,
				 const struct db_result *res, size_t r)
{
	(void)req;
	return json_pack("{s:o,s:o,s:o}", "alias",
			 api_json_str(db_result_value(res, r, 0)), "target",
			 api_json_str(db_result_value(res, r, 1)), "active",
			 api_json_bool(db_result_value(res, r, 2)));
}

void api_alias_domain_list(struct api_req *req)
{
	api_reply_scoped_list(req, prov_alias_domain_page, alias_domain_json);
}

/* The alias domain, 403 for a domain admin when its target is not its
 * own (or when it does not exist: no probing of others' names). */
static void reply_alias_domain(struct api_req *req, const char *alias,
			       unsigned status)
{
	struct db_result *res;
	struct error err;
	int rc = prov_alias_domain_get(req->api->db, alias, &res, &err);
	if (rc < 0) {
		api_fail(req, &err);
		return;
	}
	if (rc == 0) {
		if (req->who.superadmin)
			api_error(req, 404, "not_found",
				  "alias domain %s does not exist", alias);
		else
			api_error(req, 403, "forbidden",
				  "alias domain %s is not yours to manage",
				  alias);
		return;
	}
	if (api_may_domain(req, db_result_value(res, 0, 1)))
		api_reply(req, status, alias_domain_json(req, res, 0));
	db_result_free(&res);
}

void api_alias_domain_create(struct api_req *req)
{
	struct api_problem pr;
	struct error err;
	const char *alias, *target;
	struct buf *norm = buf_new();
	json_t *obj = NULL;
	/* A new alias domain claims a name for mail: the provider's call. */
	if (!api_superadmin(req) || (obj = api_req_body(req)) == NULL)
		goto out;
	if (api_alias_domain_body(obj, &alias, &target, &pr) < 0) {
		api_problem_reply(req, &pr);
		goto out;
	}
	char *details = api_body_details(obj);
	struct prov_actor who = api_actor(req, details);
	if (prov_alias_domain_add_as(req->api->db, alias, target, &who, &err) < 0) {
		api_fail(req, &err);
	} else {
		prov_normalize_domain(alias, norm, &err);
		reply_alias_domain(req, buf_data(norm), 201);
	}
	free(details);
out:
	json_decref(obj);
	buf_free(&norm);
}

void api_alias_domain_get(struct api_req *req)
{
	struct buf *name = buf_new();
	if (api_arg_domain(req, name) == 0)
		reply_alias_domain(req, buf_data(name), 200);
	buf_free(&name);
}

void api_alias_domain_delete(struct api_req *req)
{
	struct buf *name = buf_new();
	struct error err;
	if (api_arg_domain(req, name) == 0 && api_superadmin(req)) {
		struct prov_actor who = api_actor(req, NULL);
		if (prov_alias_domain_del_as(req->api->db, buf_data(name), &who,
					     &err) < 0)
			api_fail(req, &err);
		else
			api_reply(req, 204, NULL);
	}
	buf_free(&name);
}
