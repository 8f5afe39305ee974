/*
 * The admin API's request handling without HTTP: body validation, route
 * matching and path decoding, and whole requests (api_process) against a
 * real SQLite database, for the rights of a domain admin under every
 * spelling of a foreign domain.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "auth/password.h"
#include "core/xmalloc.h"
#include "store/store.h"

static char dir[] = "/tmp/postern-adminapi-XXXXXX";
static struct api api;
static char super_token[TOKEN_STR_LEN + 1], dom_token[TOKEN_STR_LEN + 1];

static int check(const char *body, int kind, struct api_problem *pr)
{
	json_t *obj = api_body_parse(body, strlen(body), pr);
	if (obj == NULL)
		return -1;
	struct buf *list = buf_new();
	struct prov_domain d;
	struct prov_mailbox m;
	struct prov_alias a;
	struct prov_admin ad;
	int rc = kind == 0   ? api_domain_body(obj, true, &d, NULL, pr)
		 : kind == 1 ? api_mailbox_body(obj, true, &m, NULL, pr)
		 : kind == 2 ? api_alias_body(obj, true, &a, NULL, list, pr)
			     : api_admin_body(obj, true, &ad, NULL, list, pr);
	json_decref(obj);
	buf_free(&list);
	return rc;
}

static void expect(const char *body, int kind, unsigned status,
		   const char *code, const char *field)
{
	struct api_problem pr;
	int rc = check(body, kind, &pr);
	if (status == 0) {
		assert_int_equal(rc, 0);
		return;
	}
	assert_int_equal(rc, -1);
	assert_int_equal(pr.status, status);
	assert_string_equal(pr.code, code);
	if (field != NULL && strncmp(pr.message, field, strlen(field)) != 0)
		fail_msg("message \"%s\" does not name %s", pr.message, field);
}

static void test_bodies(void **state)
{
	expect("{\"name\":\"a.test\"}", 0, 0, NULL, NULL);
	char big[400];
	snprintf(big, sizeof(big), "{\"name\":\"a.test\",\"description\":"
		 "\"%0256d\"}", 0);
	expect(big, 0, 422, "invalid_value", "description");
	expect("{\"name\":\"a.test\",\"x\":1}", 0, 422, "unknown_field", "x");
	expect("{\"name\":5}", 0, 422, "wrong_type", "name");
	expect("{\"description\":\"d\"}", 0, 422, "missing_field", "name");
	expect("{\"name\":\"bad..name\"}", 0, 422, "invalid_value", "name");
	expect("{\"name\":\"a.test\",\"quota_bytes\":-1}", 0, 422,
	       "invalid_value", "quota_bytes");
	expect("{\"name\":\"a.test\",\"quota_bytes\":1.5}", 0, 422,
	       "wrong_type", "quota_bytes");
	/* Jansson refuses \u0000 without JSON_ALLOW_NUL. */
	expect("{\"name\":\"a\\u0000.test\"}", 0, 400, "malformed_json",
	       NULL);
	expect("{\"name\":\"a.test\",\"name\":\"b.test\"}", 0, 400,
	       "malformed_json", NULL);
	expect("{\"name\":", 0, 400, "malformed_json", NULL);
	expect("", 0, 400, "malformed_json", NULL);
	expect("[1]", 0, 422, "wrong_type", NULL);
	expect("{\"address\":\"a@b.test\",\"password\":\"p\"}", 1, 0, NULL,
	       NULL);
	expect("{\"address\":\"a@@b.test\",\"password\":\"p\"}", 1, 422,
	       "invalid_value", "address");
	expect("{\"address\":\"a@b.test\",\"password\":\"\"}", 1, 422,
	       "invalid_value", "password");
	expect("{\"address\":\"a@b.test\",\"password\":\"p\",\"active\":1}", 1,
	       422, "wrong_type", "active");
	expect("{\"source\":\"@b.test\",\"destinations\":[\"a@b.test\"]}", 2, 0,
	       NULL, NULL);
	expect("{\"source\":\"@b.test\",\"destinations\":[]}", 2, 422,
	       "invalid_value", "destinations");
	expect("{\"source\":\"@b.test\",\"destinations\":\"a@b.test\"}", 2, 422,
	       "wrong_type", "destinations");
	expect("{\"source\":\"@b.test\",\"destinations\":[\"nope\"]}", 2, 422,
	       "invalid_value", "destinations[0]");
	expect("{\"username\":\"d\",\"password\":\"p\",\"role\":\"domain\"}", 3,
	       422, "invalid_value", "domains");
	expect("{\"username\":\"d\",\"password\":\"p\",\"role\":\"god\"}", 3,
	       422, "invalid_value", "role");
	expect("{\"username\":\"d d\",\"password\":\"p\",\"role\":"
	       "\"superadmin\"}",
	       3, 422, "invalid_value", "username");
}

static void test_details_hide_password(void **state)
{
	struct api_problem pr;
	const char *body = "{\"address\":\"a@b.test\",\"password\":\"s3cr3t\"}";
	json_t *obj = api_body_parse(body, strlen(body), &pr);
	char *details = api_body_details(obj);
	assert_null(strstr(details, "s3cr3t"));
	assert_non_null(strstr(details, "a@b.test"));
	free(details);
	json_decref(obj);
}

static void test_routes(void **state)
{
	const struct api_route *r;
	char *arg;
	assert_int_equal(api_route_match("GET", "/api/v1/domains", &r, &arg), 1);
	assert_null(arg);
	assert_int_equal(api_route_match("PUT", "/api/v1/domains", &r, &arg), -1);
	assert_int_equal(api_route_match("GET", "/api/v1/domains/", &r, &arg), 0);
	assert_int_equal(api_route_match("GET", "/api/v1/nope", &r, &arg), 0);
	assert_int_equal(api_route_match("GET", "/api/v1/domains/%41.test", &r,
					 &arg), 1);
	assert_string_equal(arg, "A.test");
	free(arg);
	/* An encoded slash stays inside its segment. */
	assert_int_equal(api_route_match("GET",
					 "/api/v1/domains/a%2Fmailboxes", &r,
					 &arg), 1);
	assert_ptr_equal(r->fn, api_domain_get);
	free(arg);
	assert_int_equal(api_route_match("GET", "/api/v1/domains/a%zz", &r,
					 &arg), 0);
	assert_int_equal(api_route_match("GET", "/api/v1/domains/a%00", &r,
					 &arg), 0);
	assert_int_equal(api_route_match("GET",
					 "/api/v1/domains/a.test/mailboxes", &r,
					 &arg), 1);
	assert_ptr_equal(r->fn, api_domain_mailboxes);
	free(arg);
}

/* One request through api_process; the status. */
static unsigned call(const char *method, const char *path, const char *token,
		     const char *body)
{
	struct api_req req;
	memset(&req, 0, sizeof(req));
	req.api = &api;
	strcpy(req.method, method);
	strcpy(req.client, "192.0.2.7");
	req.query = array_new();
	req.body = buf_new_str(body ? body : "");
	char *auth = token ? xasprintf("Bearer %s", token) : NULL;
	req.authorization = auth;
	int m = api_route_match(method, path, &req.route, &req.arg);
	assert_int_equal(m, 1);
	api_process(&req);
	unsigned status = req.status;
	free(auth);
	free(req.arg);
	free(req.answer);
	buf_free(&req.body);
	array_free(&req.query);
	api_who_clear(&req.who);
	return status;
}

static int setup(void **state)
{
	struct error err;
	if (mkdtemp(dir) == NULL)
		return -1;
	char *path = xasprintf("%s/test.db", dir);
	struct db_params p = {.driver = DB_SQLITE, .path = path,
			      .pool_size = 1, .timeout_ms = 2000};
	api.db = db_open_params(&p, &err);
	free(path);
	if (api.db == NULL || db_migrate(api.db, false, NULL, &err) < 0)
		return -1;
	api.set.body_limit = 65536;
	api.set.token_lifetime = 3600;
	api.set.token_max_lifetime = 86400;
	/* A cheap scheme: the tests are about rights, not hashing. */
	api.set.scheme = xstrdup("SHA512-CRYPT");
	api.set.mail_dir = xasprintf("%s/mail", dir);
	struct store_settings ss = {.root = api.set.mail_dir};
	api.store = store_new(&ss);
	long long id;
	if (prov_token_create(api.db, NULL, "test", 0, super_token, &id, NULL,
			      &err) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	db_close(&api.db);
	store_free(&api.store);
	free(api.set.scheme);
	free(api.set.mail_dir);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

static void test_rights(void **state)
{
	const char *S = super_token;
	assert_int_equal(call("GET", "/api/v1/domains", NULL, NULL), 401);
	assert_int_equal(call("GET", "/api/v1/domains", "pt_nope", NULL), 401);
	assert_int_equal(call("POST", "/api/v1/domains", S,
			      "{\"name\":\"mine.test\"}"), 201);
	assert_int_equal(call("POST", "/api/v1/domains", S,
			      "{\"name\":\"other.test\"}"), 201);
	assert_int_equal(call("POST", "/api/v1/domains", S,
			      "{\"name\":\"xn--bcher-kva.test\"}"), 201);
	assert_int_equal(call("POST", "/api/v1/domains", S,
			      "{\"name\":\"MINE.test\"}"), 409);
	assert_int_equal(call("POST", "/api/v1/alias-domains", S,
			      "{\"alias\":\"via.test\",\"target\":"
			      "\"other.test\"}"), 201);
	assert_int_equal(call("POST", "/api/v1/mailboxes", S,
			      "{\"address\":\"u@other.test\",\"password\":"
			      "\"p\"}"), 201);
	assert_int_equal(call("POST", "/api/v1/admins", S,
			      "{\"username\":\"dom\",\"password\":\"pw\","
			      "\"role\":\"domain\",\"domains\":[\"mine.test\"]}"),
			 201);
	struct error err;
	struct buf *id = buf_new();
	assert_int_equal(prov_admin_login(api.db, "DOM", "pw", id, &err), 1);
	assert_int_equal(prov_admin_login(api.db, "dom", "bad", id, &err), 0);
	long long tid;
	assert_int_equal(prov_token_create(api.db, buf_data(id), "", 0,
					   dom_token, &tid, NULL, &err), 0);
	buf_free(&id);
	const char *D = dom_token;

	assert_int_equal(call("GET", "/api/v1/domains/mine.test", D, NULL), 200);
	assert_int_equal(call("GET", "/api/v1/domains/MINE.TEST.", D, NULL), 200);
	/* Every spelling of a foreign domain is refused. */
	const char *foreign[] = {
	    "/api/v1/domains/other.test",
	    "/api/v1/domains/OTHER.test",
	    "/api/v1/domains/other.test.",
	    "/api/v1/domains/%6Fther.test",
	    "/api/v1/domains/b%C3%BCcher.test",
	    "/api/v1/domains/xn--bcher-kva.test",
	    "/api/v1/domains/via.test",
	    "/api/v1/domains/other.test/mailboxes",
	    "/api/v1/domains/Other.Test./aliases",
	    "/api/v1/mailboxes/u@other.test",
	    "/api/v1/mailboxes/U@OTHER.TEST.",
	    "/api/v1/mailboxes/u%40other.test",
	    "/api/v1/mailboxes/u@via.test",
	    "/api/v1/aliases/@other.test",
	    "/api/v1/alias-domains/via.test",
	    "/api/v1/audit",
	    "/api/v1/admins",
	};
	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++)
		if (call("GET", foreign[i], D, NULL) != 403)
			fail_msg("GET %s was not refused", foreign[i]);
	assert_int_equal(call("DELETE", "/api/v1/mailboxes/u@OTHER.test", D,
			      NULL), 403);
	assert_int_equal(call("POST", "/api/v1/mailboxes", D,
			      "{\"address\":\"x@Other.Test\",\"password\":\"p\"}"),
			 403);
	assert_int_equal(call("POST", "/api/v1/mailboxes", D,
			      "{\"address\":\"x@Mine.Test\",\"password\":\"p\"}"),
			 201);
	assert_int_equal(call("PATCH", "/api/v1/domains/mine.test", D,
			      "{\"max_mailboxes\":100}"), 403);
	/* The superadmin token was used, the domain admin's rights hold. */
	assert_int_equal(call("DELETE", "/api/v1/mailboxes/x@mine.test", D,
			      NULL), 204);
	assert_int_equal(call("DELETE", "/api/v1/mailboxes/x@mine.test", D,
			      NULL), 404);
	assert_int_equal(call("GET", "/api/v1/audit", S, NULL), 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bodies),
	    cmocka_unit_test(test_details_hide_password),
	    cmocka_unit_test(test_routes),
	    cmocka_unit_test(test_rights),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
