/*
 * The route table of Admin API v1 (CONTRACT.md) and request dispatch.
 * Patterns are written as in docs/openapi.json; `postern-admin-api
 * --routes` prints them so the OpenAPI test can compare both ways.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/str.h"
#include "core/xmalloc.h"

const struct api_route api_routes[] = {
    {"GET", "/api/v1/health", api_health, API_NO_AUTH},
    {"GET", "/api/v1/openapi.json", api_openapi, 0},
    {"GET", "/api/v1/domains", api_domain_list, 0},
    {"POST", "/api/v1/domains", api_domain_create, 0},
    {"GET", "/api/v1/domains/{name}", api_domain_get, 0},
    {"PATCH", "/api/v1/domains/{name}", api_domain_patch, 0},
    {"DELETE", "/api/v1/domains/{name}", api_domain_delete, 0},
    {"GET", "/api/v1/domains/{name}/mailboxes", api_domain_mailboxes, 0},
    {"GET", "/api/v1/domains/{name}/aliases", api_domain_aliases, 0},
    {"GET", "/api/v1/domains/{name}/dkim", api_dkim_list, 0},
    {"POST", "/api/v1/domains/{name}/dkim", api_dkim_create, 0},
    {"POST", "/api/v1/domains/{name}/dkim/rotate", api_dkim_rotate, 0},
    {"POST", "/api/v1/mailboxes", api_mailbox_create, 0},
    {"GET", "/api/v1/mailboxes/{address}", api_mailbox_get, 0},
    {"PATCH", "/api/v1/mailboxes/{address}", api_mailbox_patch, 0},
    {"DELETE", "/api/v1/mailboxes/{address}", api_mailbox_delete, 0},
    {"POST", "/api/v1/aliases", api_alias_create, 0},
    {"GET", "/api/v1/aliases/{source}", api_alias_get, 0},
    {"PATCH", "/api/v1/aliases/{source}", api_alias_patch, 0},
    {"DELETE", "/api/v1/aliases/{source}", api_alias_delete, 0},
    {"GET", "/api/v1/alias-domains", api_alias_domain_list, 0},
    {"POST", "/api/v1/alias-domains", api_alias_domain_create, 0},
    {"GET", "/api/v1/alias-domains/{alias}", api_alias_domain_get, 0},
    {"DELETE", "/api/v1/alias-domains/{alias}", api_alias_domain_delete, 0},
    {"GET", "/api/v1/admins", api_admin_list, 0},
    {"POST", "/api/v1/admins", api_admin_create, 0},
    {"GET", "/api/v1/admins/{username}", api_admin_get, 0},
    {"PATCH", "/api/v1/admins/{username}", api_admin_patch, 0},
    {"DELETE", "/api/v1/admins/{username}", api_admin_delete, 0},
    /* The username and password in the body are the credential. */
    {"POST", "/api/v1/tokens", api_token_create, API_NO_AUTH},
    {"GET", "/api/v1/tokens", api_token_list, 0},
    {"DELETE", "/api/v1/tokens/{id}", api_token_delete, 0},
    {"GET", "/api/v1/audit", api_audit_list, 0},
    {"GET", "/api/v1/domains/{name}/sender-policy", api_sender_policy_get, 0},
    {"PUT", "/api/v1/domains/{name}/sender-policy", api_sender_policy_put, 0},
    {"DELETE", "/api/v1/domains/{name}/sender-policy",
     api_sender_policy_delete, 0},
};
const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);

/*
 * Compare the raw path with a pattern segment by segment.  Segments are
 * split before decoding, so "%2F" inside a name never makes a new
 * segment; the placeholder is decoded once, here, and normalised by the
 * handler (api_arg_*), the same way as storage.
 */
static bool match(const char *pattern, const char *path, char **arg_r)
{
	*arg_r = NULL;
	while (*pattern != '\0' || *path != '\0') {
		if (*pattern != '/' || *path != '/')
			break;
		pattern++;
		path++;
		size_t pl = strcspn(pattern, "/"), sl = strcspn(path, "/");
		if (pattern[0] == '{') {
			if (sl == 0 || *arg_r != NULL)
				break;
			*arg_r = str_url_decode(path, sl, false);
			if (*arg_r == NULL)
				break;
		} else if (pl != sl || memcmp(pattern, path, pl) != 0) {
			break;
		}
		pattern += pl;
		path += sl;
		if (*pattern == '\0' && *path == '\0')
			return true;
	}
	free(*arg_r);
	*arg_r = NULL;
	return false;
}

int api_route_match(const char *method, const char *path,
		    const struct api_route **route_r, char **arg_r)
{
	bool path_known = false;
	for (size_t i = 0; i < api_nroutes; i++) {
		char *arg;
		if (!match(api_routes[i].pattern, path, &arg))
			continue;
		if (strcmp(api_routes[i].method, method) == 0) {
			*route_r = &api_routes[i];
			*arg_r = arg;
			return 1;
		}
		free(arg);
		path_known = true;
	}
	return path_known ? -1 : 0;
}

void api_route_allow(const char *path, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < api_nroutes; i++) {
		char *arg;
		if (!match(api_routes[i].pattern, path, &arg))
			continue;
		free(arg);
		if (buf_len(out) > 0)
			buf_append_str(out, ", ");
		buf_append_str(out, api_routes[i].method);
	}
}

void api_process(struct api_req *req)
{
	if (req->api->db == NULL) {
		api_error(req, 503, "temporary_failure",
			  "the database is not available");
		return;
	}
	if (!(req->route->flags & API_NO_AUTH) && api_authenticate(req) < 0)
		return;
	req->route->fn(req);
}
