/* /api/v1/tokens: log in for a token, list and revoke them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "core/xmalloc.h"

void api_token_create(struct api_req *req)
{
	struct api_problem pr;
	struct error err;
	const char *username, *password, *description;
	long long expires_in;
	struct buf *id = buf_new(), *name = buf_new();
	json_t *obj = api_req_body(req);
	if (obj == NULL)
		goto out;
	if (api_token_body(obj, &username, &password, &expires_in, &description,
			   &pr) < 0) {
		api_problem_reply(req, &pr);
		goto out;
	}
	const struct api_settings *set = &req->api->set;
	if (expires_in < 0)
		expires_in = set->token_lifetime;
	if (expires_in < 60 || expires_in > set->token_max_lifetime) {
		api_error(req, 422, "invalid_value",
			  "expires_in: from 60 to %lld seconds",
			  set->token_max_lifetime);
		goto out;
	}
	int rc = prov_admin_login(req->api->db, username, password, id, &err);
	if (rc < 0) {
		api_fail(req, &err);
		goto out;
	}
	if (rc == 0) {
		req->auth_failed = true;
		api_error(req, 401, "unauthorized",
			  "wrong username or password");
		goto out;
	}
	prov_admin_norm_username(username, name, &err);
	char token[TOKEN_STR_LEN + 1];
	long long expires_at = (long long)time(NULL) + expires_in, tid;
	snprintf(req->who.actor, sizeof(req->who.actor), "admin:%s",
		 buf_data(name));
	struct prov_actor who = api_actor(req, NULL);
	if (prov_token_create(req->api->db, buf_data(id), description,
			      expires_at, token, &tid, &who, &err) < 0) {
		api_fail(req, &err);
		goto out;
	}
	api_reply(req, 201,
		  json_pack("{s:s,s:I,s:I}", "token", token, "expires_at",
			    (json_int_t)expires_at, "id", (json_int_t)tid));
	explicit_bzero(token, sizeof(token));
out:
	json_decref(obj);
	buf_free(&id);
	buf_free(&name);
}

static json_t *token_json(struct api_req *req, const struct db_result *res,
			  size_t r)
{
	(void)req;
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}", "id",
			 api_json_int(db_result_value(res, r, 0)), "admin",
			 api_json_str(db_result_value(res, r, 1)),
			 "description",
			 api_json_str(db_result_value(res, r, 2)), "created_at",
			 api_json_int(db_result_value(res, r, 3)), "expires_at",
			 api_json_int(db_result_value(res, r, 4)), "revoked",
			 api_json_bool(db_result_value(res, r, 5)));
}

void api_token_list(struct api_req *req)
{
	struct prov_page page;
	struct db_result *res;
	struct error err;
	long long total;
	if (api_page(req, &page) < 0)
		return;
	const char *scope = req->who.superadmin ? NULL : req->who.admin_id;
	if (prov_token_page(req->api->db, scope, &page, &res, &total, &err) < 0) {
		api_fail(req, &err);
		return;
	}
	api_reply_rows(req, &res, total, token_json);
}

void api_token_delete(struct api_req *req)
{
	struct error err;
	const char *scope = req->who.superadmin ? NULL : req->who.admin_id;
	struct prov_actor who = api_actor(req, NULL);
	if (prov_token_revoke(req->api->db, req->arg, scope, &who, &err) < 0)
		api_fail(req, &err);
	else
		api_reply(req, 204, NULL);
}
