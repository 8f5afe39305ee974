/* GET /api/v1/audit: the audit trail, newest first (superadmin). */
#include <stdlib.h>

#include "api.h"
#include "core/str.h"

static int query_time(struct api_req *req, const char *name, long long *v)
{
	const char *s = api_query(req, name);
	*v = 0;
	if (s == NULL)
		return 0;
	if (!str_to_i64(s, v) || *v < 0) {
		api_error(req, 400, "invalid_parameter",
			  "%s: Unix seconds expected", name);
		return -1;
	}
	return 0;
}

static json_t *audit_json(struct api_req *req, const struct db_result *res,
			  size_t r)
{
	(void)req;
	const char *text = db_result_value(res, r, 7);
	json_t *details = text ? json_loads(text, 0, NULL) : NULL;
	return json_pack(
	    "{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id",
	    api_json_int(db_result_value(res, r, 0)), "at",
	    api_json_int(db_result_value(res, r, 1)), "actor",
	    api_json_str(db_result_value(res, r, 2)), "client_address",
	    api_json_str(db_result_value(res, r, 3)), "action",
	    api_json_str(db_result_value(res, r, 4)), "object_type",
	    api_json_str(db_result_value(res, r, 5)), "object_id",
	    api_json_str(db_result_value(res, r, 6)), "details",
	    details ? details : json_null());
}

void api_audit_list(struct api_req *req)
{
	struct prov_page page;
	struct prov_audit_filter f = {
	    .actor = api_query(req, "actor"),
	    .action = api_query(req, "action"),
	    .object_type = api_query(req, "object_type"),
	    .object_id = api_query(req, "object"),
	};
	struct db_result *res;
	struct error err;
	long long total;
	if (!api_superadmin(req) || api_page(req, &page) < 0 ||
	    query_time(req, "since", &f.since) < 0 ||
	    query_time(req, "until", &f.until) < 0)
		return;
	if (prov_audit_page(req->api->db, &f, &page, &res, &total, &err) < 0) {
		api_fail(req, &err);
		return;
	}
	api_reply_rows(req, &res, total, audit_json);
}
