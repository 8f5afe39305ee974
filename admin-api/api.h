/*
 * api.h - private interface of postern-admin-api (this folder only).
 *
 * A request is collected on the loop thread (api_http.c: method, raw
 * path, query, Authorization, client address, body up to
 * admin_api_body_limit), routed (api_route.c), then the connection is
 * suspended and the whole request - token check, JSON validation, SQL,
 * Argon2 - runs as one job in the worker pool; the answer (status + JSON
 * text) is queued when the connection resumes on the loop thread.  So a
 * handler runs on a worker thread: it may block, but must touch only its
 * request, the struct db (thread-safe) and the throttle (locked).
 *
 * Handlers answer through api_reply/api_error/api_fail: one answer per
 * request, the last call wins.  Errors follow CONTRACT.md:
 * {"error": {"code": "...", "message": "..."}}.
 */
#ifndef POSTERN_ADMIN_API_H
#define POSTERN_ADMIN_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/array.h"
#include "core/buf.h"
#include "core/error.h"
#include "db/db.h"
#include "provision/prov_admin.h"
#include "provision/provision.h"

struct auth_throttle;
struct store;

struct api_settings {
	size_t body_limit;	    /* admin_api_body_limit */
	long long token_lifetime;   /* admin_api_token_lifetime (s) */
	long long token_max_lifetime;
	unsigned auth_window;	    /* admin_api_auth_window (s) */
	char *scheme;		    /* default_password_scheme */
	char *mail_dir;		    /* mail_directory */
};

struct api {
	struct db *db;		      /* NULL: broken (503) */
	struct api_settings set;
	struct auth_throttle *throttle;
	struct store *store;	      /* usage of mailboxes */
};

/* Who is calling (api_auth.c). */
struct api_who {
	bool superadmin;
	char admin_id[24];   /* "" for the bootstrap token */
	char username[72];
	char token_id[24];
	char actor[100];     /* "admin:NAME" or "token:ID" for the audit */
	struct array *domains; /* char *, normalised; domain admins only */
};

struct api_route;

struct api_req {
	struct api *api;
	/* Collected on the loop thread. */
	char method[16];
	char *path;		    /* raw, still percent-encoded */
	struct array *query;	    /* char *: name, value, name, value... */
	char *authorization;
	char client[64];
	struct buf *body;
	bool too_large;
	const struct api_route *route;
	char *arg;		    /* the decoded {placeholder}, or NULL */
	/* Filled on the worker thread. */
	struct api_who who;
	bool auth_failed;	    /* count against the client's address */
	unsigned status;
	char *answer;		    /* JSON text (malloc'd) */
	const char *content_type;   /* NULL: application/json */
};

typedef void api_handler(struct api_req *req);

#define API_NO_AUTH 1u

struct api_route {
	const char *method;
	const char *pattern; /* "/api/v1/domains/{name}", as in openapi */
	api_handler *fn;
	unsigned flags;
};

/* api_route.c */
extern const struct api_route api_routes[];
extern const size_t api_nroutes;
/*
 * Find the route for method and raw path: 1 found (*route_r, *arg_r
 * malloc'd decoded placeholder or NULL), 0 no such path (404), -1 path
 * known but not for this method (405).
 */
int api_route_match(const char *method, const char *path,
		    const struct api_route **route_r, char **arg_r);
/* The methods served on path, "GET, POST" (the Allow header of a 405). */
void api_route_allow(const char *path, struct buf *out);
/* Run the request: authentication, then the route's handler. */
void api_process(struct api_req *req);

/* api_json.c: answers */
void api_reply(struct api_req *req, unsigned status, json_t *body);
void api_error(struct api_req *req, unsigned status, const char *code,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Map a provision error (err->code) to its status. */
void api_fail(struct api_req *req, const struct error *err);
/* {"items": items, "total": total} */
void api_reply_list(struct api_req *req, json_t *items, long long total);
/* One result row to JSON, for api_reply_rows. */
typedef json_t *api_row_json(struct api_req *req, const struct db_result *res,
			     size_t row);
/* api_reply_list of every row of *res through row; frees *res. */
void api_reply_rows(struct api_req *req, struct db_result **res,
		    long long total, api_row_json *row);
/* A prov_*_page of objects whose page->admin_id narrows to an admin's. */
typedef int api_lister(struct db *db, const struct prov_page *page,
		       struct db_result **res_r, long long *total_r,
		       struct error *err);
/* GET of a list: the page (?limit=&offset=) of list, narrowed to a domain
 * admin's own objects, answered through row. */
void api_reply_scoped_list(struct api_req *req, api_lister *list,
			   api_row_json *row);
/* A query parameter (decoded) or NULL. */
const char *api_query(const struct api_req *req, const char *name);
/* ?limit=&offset= into page (limit default 100, max 1000): 0, or -1
 * after answering 400 invalid_parameter. */
int api_page(struct api_req *req, struct prov_page *page);
/* Cells to JSON. */
json_t *api_json_int(const char *v);  /* NULL -> null */
json_t *api_json_bool(const char *v); /* "1" -> true */
json_t *api_json_str(const char *v);  /* NULL -> null */

/* api_body.c: request bodies, no database (the fuzz target runs these) */
struct api_problem {
	unsigned status; /* 400 or 422 */
	const char *code;
	char message[400];
};
enum api_ftype { API_STRING, API_INT, API_BOOL, API_STRINGS };
struct api_field {
	const char *name;
	enum api_ftype type;
	bool required;
	size_t max; /* longest string in bytes (the column's); 0: 1024 */
};
/* Parse a body as a JSON object (duplicates refused); NULL with pr. */
json_t *api_body_parse(const char *data, size_t len, struct api_problem *pr);
/* Every member must be one of fields, of its type; required ones set. */
int api_body_check(json_t *obj, const struct api_field *fields, size_t n,
		   struct api_problem *pr);
/* The audit details: the body without secrets (JSON text, malloc'd). */
char *api_body_details(json_t *obj);

/* The bodies of each resource, validated into provision structs; the
 * strings are borrowed from obj.  0 or -1 with pr. */
int api_domain_body(json_t *obj, bool create, struct prov_domain *d,
		    struct prov_domain_patch *p, struct api_problem *pr);
int api_mailbox_body(json_t *obj, bool create, struct prov_mailbox *m,
		     struct prov_mailbox_patch *p, struct api_problem *pr);
/* destinations are joined with commas into dests. */
int api_alias_body(json_t *obj, bool create, struct prov_alias *a,
		   struct prov_alias_patch *p, struct buf *dests,
		   struct api_problem *pr);
int api_alias_domain_body(json_t *obj, const char **alias,
			  const char **target, struct api_problem *pr);
int api_admin_body(json_t *obj, bool create, struct prov_admin *a,
		   struct prov_admin_patch *p, struct buf *domains,
		   struct api_problem *pr);
int api_token_body(json_t *obj, const char **username, const char **password,
		   long long *expires_in, const char **description,
		   struct api_problem *pr);
/* Parse and check the body of a request in the handler: the object, or
 * NULL after answering. */
json_t *api_req_body(struct api_req *req);
void api_problem_reply(struct api_req *req, const struct api_problem *pr);

/* api_domains.c: the sending limits of domains and mailboxes (issue 8,
 * docs/ratelimits.md): "daily_message_limit" and
 * "daily_new_recipient_limit", each an integer >= 0 (0: unlimited) or
 * null (inherit).  Take them out of obj into p: 0, or -1 with pr. */
int api_limits_take(json_t *obj, struct prov_send_limits_patch *p,
		    struct api_problem *pr);
/* Store p for the domain or mailbox NAME (nothing when p sets nothing). */
int api_limits_store(struct api_req *req, bool domain, const char *name,
		     const struct prov_send_limits_patch *p,
		     struct error *err);
/* Add the two fields to obj from the text values (NULL: null). */
void api_limits_json(json_t *obj, const char *messages,
		     const char *new_rcpts);

/* api_auth.c */
/* Check the bearer token: 0, or -1 after answering 401/503. */
int api_authenticate(struct api_req *req);
void api_who_clear(struct api_who *who);
/* May the caller act on this (normalised) domain?  Answers 403 when not. */
bool api_may_domain(struct api_req *req, const char *domain);
/* Superadmin only: answers 403 when not. */
bool api_superadmin(struct api_req *req);
/* The actor for provision calls, with details (may be NULL). */
struct prov_actor api_actor(const struct api_req *req, const char *details);
/* Normalise a path argument like storage does (one trailing dot
 * dropped): 0, or -1 after answering 422. */
int api_arg_domain(struct api_req *req, struct buf *out);
int api_arg_address(struct api_req *req, struct buf *out, struct buf *domain);
int api_arg_source(struct api_req *req, struct buf *out, struct buf *domain);

/* One file per resource. */
api_handler api_health, api_openapi;
api_handler api_domain_list, api_domain_create, api_domain_get,
    api_domain_patch, api_domain_delete, api_domain_mailboxes,
    api_domain_aliases;
api_handler api_mailbox_create, api_mailbox_get, api_mailbox_patch,
    api_mailbox_delete;
api_handler api_alias_create, api_alias_get, api_alias_patch,
    api_alias_delete;
api_handler api_alias_domain_list, api_alias_domain_create,
    api_alias_domain_get, api_alias_domain_delete;
api_handler api_admin_list, api_admin_create, api_admin_get, api_admin_patch,
    api_admin_delete;
api_handler api_token_list, api_token_create, api_token_delete;
api_handler api_audit_list;
api_handler api_dkim_list, api_dkim_create, api_dkim_rotate; /* api_dkim.c */
/* api_sender_policy.c: a domain's sender allow/block list (issue 8). */
api_handler api_sender_policy_get, api_sender_policy_put,
    api_sender_policy_delete;

/* Row of prov_mailbox_get/_page to JSON, with the store's usage. */
json_t *api_mailbox_json(struct api *api, const struct db_result *res,
			 size_t row);
/* Row of prov_alias_get/_page to JSON. */
json_t *api_alias_json(const struct db_result *res, size_t row);

/* Embedded docs/openapi.json (generated). */
extern const char api_openapi_json[];

#endif
