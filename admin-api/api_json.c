/* Answers in JSON, error mapping, lists and query parameters. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/str.h"
#include "core/xmalloc.h"

void api_reply(struct api_req *req, unsigned status, json_t *body)
{
	free(req->answer);
	req->answer = NULL;
	req->status = status;
	if (body != NULL) {
		req->answer = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
		json_decref(body);
	}
	if (req->answer == NULL && status != 204)
		req->answer = xstrdup("{}");
}

void api_error(struct api_req *req, unsigned status, const char *code,
	       const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_reply(req, status,
		  json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
			    msg));
}

static const struct {
	const char *code;
	unsigned status;
} codes[] = {
    {"invalid_value", 422}, {"limit_reached", 422}, {"not_found", 404},
    {"already_exists", 409}, {"conflict", 409},
    {"temporary_failure", 503},
};

void api_fail(struct api_req *req, const struct error *err)
{
	const char *code = err->code;
	unsigned status = 500;
	if (err->kind == ERR_TEMP)
		code = "temporary_failure";
	for (size_t i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(codes[i].code, code) == 0)
			status = codes[i].status;
	if (status == 500)
		code = "internal_error";
	api_error(req, status, code, "%s", err->msg);
}

void api_reply_list(struct api_req *req, json_t *items, long long total)
{
	api_reply(req, 200,
		  json_pack("{s:o,s:I}", "items", items, "total",
			    (json_int_t)total));
}

void api_reply_rows(struct api_req *req, struct db_result **res,
		    long long total, api_row_json *row)
{
	json_t *items = json_array();
	for (size_t r = 0; r < db_result_rows(*res); r++)
		json_array_append_new(items, row(req, *res, r));
	db_result_free(res);
	api_reply_list(req, items, total);
}

void api_reply_scoped_list(struct api_req *req, api_lister *list,
			   api_row_json *row)
{
	struct prov_page page;
	struct db_result *res;
	struct error err;
	long long total;
	if (api_page(req, &page) < 0)
		return;
	if (!req->who.superadmin)
		page.admin_id = req->who.admin_id;
	if (list(req->api->db, &page, &res, &total, &err) < 0) {
		api_fail(req, &err);
		return;
	}
	api_reply_rows(req, &res, total, row);
}

const char *api_query(const struct api_req *req, const char *name)
{
	for (size_t i = 0; req->query && i + 1 < array_len(req->query); i += 2)
		if (strcmp(array_get(req->query, i), name) == 0)
			return array_get(req->query, i + 1);
	return NULL;
}

static int query_num(struct api_req *req, const char *name, long long min,
		     long long max, long long *v)
{
	const char *s = api_query(req, name);
	if (s == NULL)
		return 0;
	if (!str_to_i64(s, v) || *v < min || *v > max) {
		api_error(req, 400, "invalid_parameter",
			  "%s: a number from %lld to %lld", name, min, max);
		return -1;
	}
	return 0;
}

int api_page(struct api_req *req, struct prov_page *page)
{
	page->limit = 100;
	page->offset = 0;
	page->admin_id = NULL;
	if (query_num(req, "limit", 1, 1000, &page->limit) < 0 ||
	    query_num(req, "offset", 0, 1LL << 40, &page->offset) < 0)
		return -1;
	return 0;
}

json_t *api_json_int(const char *v)
{
	return v ? json_integer(atoll(v)) : json_null();
}

json_t *api_json_bool(const char *v)
{
	return json_boolean(v != NULL && strcmp(v, "0") != 0);
}

json_t *api_json_str(const char *v)
{
	json_t *j = v ? json_string(v) : NULL; /* NULL: not UTF-8 */
	return j ? j : json_null();
}

void api_problem_reply(struct api_req *req, const struct api_problem *pr)
{
	api_error(req, pr->status, pr->code, "%s", pr->message);
}

json_t *api_req_body(struct api_req *req)
{
	struct api_problem pr;
	json_t *obj = api_body_parse(buf_data(req->body), buf_len(req->body),
				     &pr);
	if (obj == NULL)
		api_problem_reply(req, &pr);
	return obj;
}
