/*
 * Bearer tokens, roles and the domain scope of a domain admin.
 *
 * Every name from a path is decoded once (api_route.c) and normalised
 * here the way storage does - lower case, A-label, no trailing dot - before
 * any rights check, so "%62.example", "B.EXAMPLE", "b.example." and the
 * U-label form all name the one stored domain and get the same answer.
 * A domain admin's scope is its admin_domains rows only: alias domains
 * are never hosted domains, so an address at an alias domain is outside
 * every scope (403) rather than followed to its target.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "core/str.h"
#include "core/xmalloc.h"

void api_who_clear(struct api_who *who)
{
	array_free_with(&who->domains, free);
	memset(who, 0, sizeof(*who));
}

static const char *bearer(const char *h)
{
	if (h == NULL || !str_case_has_prefix(h, "Bearer "))
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return h;
}

int api_authenticate(struct api_req *req)
{
	struct api_who *who = &req->who;
	struct prov_token_info info;
	struct error err;
	const char *token = bearer(req->authorization);
	if (token == NULL) {
		req->auth_failed = req->authorization != NULL;
		api_error(req, 401, "unauthorized",
			  "an Authorization: Bearer token is required");
		return -1;
	}
	int rc = prov_token_auth(req->api->db, token, (long long)time(NULL),
				 &info, &err);
	if (rc < 0) {
		api_fail(req, &err);
		return -1;
	}
	if (rc == 0) {
		req->auth_failed = true;
		api_error(req, 401, "unauthorized",
			  "the token is unknown, expired or revoked");
		return -1;
	}
	who->superadmin = info.superadmin;
	str_copy(who->admin_id, info.admin_id, sizeof(who->admin_id));
	str_copy(who->username, info.username, sizeof(who->username));
	str_copy(who->token_id, info.id, sizeof(who->token_id));
	if (info.admin_id[0] != '\0')
		snprintf(who->actor, sizeof(who->actor), "admin:%s",
			 info.username);
	else
		snprintf(who->actor, sizeof(who->actor), "token:%s", info.id);
	if (!who->superadmin) {
		struct buf *list = buf_new();
		rc = prov_admin_domains(req->api->db, info.admin_id, list, &err);
		who->domains = str_split(buf_data(list), ",");
		buf_free(&list);
		if (rc < 0) {
			api_fail(req, &err);
			return -1;
		}
	}
	return 0;
}

bool api_superadmin(struct api_req *req)
{
	if (req->who.superadmin)
		return true;
	api_error(req, 403, "forbidden", "only a superadmin may do this");
	return false;
}

bool api_may_domain(struct api_req *req, const char *domain)
{
	if (req->who.superadmin)
		return true;
	for (size_t i = 0; req->who.domains && i < array_len(req->who.domains);
	     i++)
		if (strcmp(array_get(req->who.domains, i), domain) == 0)
			return true;
	api_error(req, 403, "forbidden", "domain %s is not yours to manage",
		  domain);
	return false;
}

struct prov_actor api_actor(const struct api_req *req, const char *details)
{
	struct prov_actor a = {req->who.actor, req->client, details};
	return a;
}

/* The argument without one trailing dot (a fully qualified spelling). */
static char *arg_copy(const struct api_req *req)
{
	char *s = xstrdup(req->arg ? req->arg : "");
	size_t n = strlen(s);
	if (n > 1 && s[n - 1] == '.' && s[n - 2] != '.')
		s[n - 1] = '\0';
	return s;
}

int api_arg_domain(struct api_req *req, struct buf *out)
{
	struct error err;
	char *s = arg_copy(req);
	int rc = prov_normalize_domain(s, out, &err);
	free(s);
	if (rc < 0)
		api_error(req, 422, "invalid_value", "%s", err.msg);
	return rc;
}

int api_arg_address(struct api_req *req, struct buf *out, struct buf *domain)
{
	struct error err;
	char *s = arg_copy(req);
	int rc = prov_normalize_address(s, out, domain, &err);
	free(s);
	if (rc < 0)
		api_error(req, 422, "invalid_value", "%s", err.msg);
	return rc;
}

int api_arg_source(struct api_req *req, struct buf *out, struct buf *domain)
{
	struct error err;
	char *s = arg_copy(req);
	int rc = prov_normalize_source(s, out, domain, &err);
	free(s);
	if (rc < 0)
		api_error(req, 422, "invalid_value", "%s", err.msg);
	return rc;
}
