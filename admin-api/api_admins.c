/* /api/v1/admins: superadmins and domain admins. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/str.h"

static json_t *admin_json(struct api_req *req, const struct db_result *res,
			  size_t r)
{
	struct buf *list = buf_new();
	struct error err;
	json_t *domains = json_array();
	if (prov_admin_domains(req->api->db, db_result_value(res, r, 0), list,
			       &err) == 0) {
		struct array *names = str_split(buf_data(list), ",");
		for (size_t i = 0; i < array_len(names); i++)
			json_array_append_new(domains,
					      api_json_str(array_get(names, i)));
		array_free_with(&names, free);
	}
	buf_free(&list);
	return json_pack("{s:o,s:o,s:o,s:o,s:o}", "username",
			 api_json_str(db_result_value(res, r, 1)), "role",
			 api_json_str(db_result_value(res, r, 2)), "domains",
			 domains, "active",
			 api_json_bool(db_result_value(res, r, 3)), "created_at",
			 api_json_int(db_result_value(res, r, 4)));
}

static void reply_admin(struct api_req *req, const char *username,
			unsigned status)
{
	struct db_result *res;
	struct error err;
	int rc = prov_admin_get(req->api->db, username, &res, &err);
	if (rc < 0) {
		api_fail(req, &err);
	} else if (rc == 0) {
		api_error(req, 404, "not_found", "admin %s does not exist",
			  username);
	} else {
		api_reply(req, status, admin_json(req, res, 0));
		db_result_free(&res);
	}
}

/* Normalised username of the path; 0, or -1 after answering. */
static int arg_username(struct api_req *req, struct buf *out)
{
	struct error err;
	if (prov_admin_norm_username(req->arg, out, &err) == 0)
		return 0;
	api_error(req, 422, "invalid_value", "%s", err.msg);
	return -1;
}

/* A superadmin, or a domain admin about itself. */
static bool self_or_super(struct api_req *req, const char *username)
{
	if (req->who.superadmin || strcmp(req->who.username, username) == 0)
		return true;
	return api_superadmin(req);
}

void api_admin_list(struct api_req *req)
{
	/* Superadmins only: the list is not narrowed. */
	if (api_superadmin(req))
		api_reply_scoped_list(req, prov_admin_page, admin_json);
}

void api_admin_create(struct api_req *req)
{
	struct prov_admin a;
	struct api_problem pr;
	struct error err;
	struct buf *domains = buf_new(), *name = buf_new();
	json_t *obj = NULL;
	if (!api_superadmin(req) || (obj = api_req_body(req)) == NULL)
		goto out;
	if (api_admin_body(obj, true, &a, NULL, domains, &pr) < 0) {
		api_problem_reply(req, &pr);
		goto out;
	}
	char *details = api_body_details(obj);
	struct prov_actor who = api_actor(req, details);
	if (prov_admin_add(req->api->db, &a, req->api->set.scheme, &who, &err) < 0) {
		api_fail(req, &err);
	} else {
		prov_admin_norm_username(a.username, name, &err);
		reply_admin(req, buf_data(name), 201);
	}
	free(details);
out:
	json_decref(obj);
	buf_free(&domains);
	buf_free(&name);
}

void api_admin_get(struct api_req *req)
{
	struct buf *name = buf_new();
	if (arg_username(req, name) == 0 && self_or_super(req, buf_data(name)))
		reply_admin(req, buf_data(name), 200);
	buf_free(&name);
}

void api_admin_patch(struct api_req *req)
{
	struct buf *name = buf_new(), *domains = buf_new();
	struct prov_admin_patch p;
	struct api_problem pr;
	struct error err;
	json_t *obj = NULL;
	if (arg_username(req, name) < 0 || !self_or_super(req, buf_data(name)) ||
	    (obj = api_req_body(req)) == NULL)
		goto out;
	if (api_admin_body(obj, false, NULL, &p, domains, &pr) < 0) {
		api_problem_reply(req, &pr);
		goto out;
	}
	/* A domain admin may change its own password, nothing else. */
	if (!req->who.superadmin && (p.domains != NULL || p.active >= 0)) {
		api_error(req, 403, "forbidden",
			  "a domain admin may change only its own password");
		goto out;
	}
	char *details = api_body_details(obj);
	struct prov_actor who = api_actor(req, details);
	if (prov_admin_update(req->api->db, buf_data(name), &p,
			      req->api->set.scheme, &who, &err) < 0)
		api_fail(req, &err);
	else
		reply_admin(req, buf_data(name), 200);
	free(details);
out:
	json_decref(obj);
	buf_free(&name);
	buf_free(&domains);
}

void api_admin_delete(struct api_req *req)
{
	struct buf *name = buf_new();
	struct error err;
	if (arg_username(req, name) == 0 && api_superadmin(req)) {
		struct prov_actor who = api_actor(req, NULL);
		if (prov_admin_del(req->api->db, buf_data(name), &who, &err) < 0)
			api_fail(req, &err);
		else
			api_reply(req, 204, NULL);
	}
	buf_free(&name);
}
