/* /api/v1/domains: hosted domains and their lists. */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "core/log.h"

static int limit_field(json_t *obj, const char *name, bool *set_r,
		       long long *v_r, struct api_problem *pr)
{
	json_t *v = json_object_get(obj, name);

	*set_r = false;
	*v_r = -1;
	if (v == NULL)
		return 0;
	if (json_is_null(v)) {
		*set_r = true;
	} else if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*set_r = true;
		*v_r = json_integer_value(v);
	} else {
		pr->status = 422;
		pr->code = "invalid_value";
		snprintf(pr->message, sizeof(pr->message),
			 "%s: an integer >= 0 (0: unlimited) or null "
			 "(inherit)",
			 name);
		return -1;
	}
	json_object_del(obj, name);
	return 0;
}

int api_limits_take(json_t *obj, struct prov_send_limits_patch *p,
		    struct api_problem *pr)
{
	if (!json_is_object(obj))
		return 0; /* the body check answers */
	if (limit_field(obj, "daily_message_limit", &p->set_messages,
			&p->messages, pr) < 0 ||
	    limit_field(obj, "daily_new_recipient_limit", &p->set_new_rcpts,
			&p->new_rcpts, pr) < 0)
		return -1;
	return 0;
}

int api_limits_store(struct api_req *req, bool domain, const char *name,
		     const struct prov_send_limits_patch *p,
		     struct error *err)
{
	char details[160];

	if (!p->set_messages && !p->set_new_rcpts)
		return 0;
	snprintf(details, sizeof(details),
		 "{\"daily_message_limit\":%lld,"
		 "\"daily_new_recipient_limit\":%lld}",
		 p->set_messages ? p->messages : -2,
		 p->set_new_rcpts ? p->new_rcpts : -2);
	struct prov_actor who = api_actor(req, details);
	return prov_send_limits_set(req->api->db, domain, name, p, &who, err);
}

void api_limits_json(json_t *obj, const char *messages, const char *new_rcpts)
{
	json_object_set_new(obj, "daily_message_limit", api_json_int(messages));
	json_object_set_new(obj, "daily_new_recipient_limit",
			    api_json_int(new_rcpts));
}

static json_t *domain_json(struct api_req *req, const struct db_result *res,
			   size_t r)
{
	(void)req;
	json_t *obj = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "name",
			 api_json_str(db_result_value(res, r, 0)), "description",
			 api_json_str(db_result_value(res, r, 1)),
			 "max_mailboxes", api_json_int(db_result_value(res, r, 2)),
			 "quota_bytes", api_json_int(db_result_value(res, r, 3)),
			 "active", api_json_bool(db_result_value(res, r, 4)),
			 "mailbox_count", api_json_int(db_result_value(res, r, 5)),
			 "alias_count", api_json_int(db_result_value(res, r, 6)),
			 "created_at", api_json_int(db_result_value(res, r, 7)));
	api_limits_json(obj, db_result_value(res, r, 8),
			db_result_value(res, r, 9));
	return obj;
}

void api_domain_list(struct api_req *req)
{
	/* A domain admin's list holds only its own domains. */
	api_reply_scoped_list(req, prov_domain_page, domain_json);
}

/* Answer the stored domain with status. */
static void reply_domain(struct api_req *req, const char *name,
			 unsigned status)
{
	struct db_result *res;
	struct error err;
	int rc = prov_domain_get(req->api->db, name, &res, &err);
	if (rc < 0) {
		api_fail(req, &err);
	} else if (rc == 0) {
		api_error(req, 404, "not_found", "domain %s does not exist",
			  name);
	} else {
		api_reply(req, status, domain_json(req, res, 0));
		db_result_free(&res);
	}
}

void api_domain_create(struct api_req *req)
{
	struct prov_domain d;
	struct prov_send_limits_patch lp;
	struct api_problem pr;
	struct error err;
	if (!api_superadmin(req))
		return;
	json_t *obj = api_req_body(req);
	if (obj == NULL)
		return;
	if (api_limits_take(obj, &lp, &pr) < 0 ||
	    api_domain_body(obj, true, &d, NULL, &pr) < 0) {
		api_problem_reply(req, &pr);
	} else {
		char *details = api_body_details(obj);
		struct prov_actor who = api_actor(req, details);
		struct buf *name = buf_new();
		if (prov_domain_add_as(req->api->db, &d, &who, &err) < 0) {
			api_fail(req, &err);
		} else {
			prov_normalize_domain(d.name, name, &err);
			if (api_limits_store(req, true, buf_data(name), &lp,
					     &err) < 0)
				api_fail(req, &err);
			else
				reply_domain(req, buf_data(name), 201);
		}
		buf_free(&name);
		free(details);
	}
	json_decref(obj);
}

void api_domain_get(struct api_req *req)
{
	struct buf *name = buf_new();
	if (api_arg_domain(req, name) == 0 && api_may_domain(req, buf_data(name)))
		reply_domain(req, buf_data(name), 200);
	buf_free(&name);
}

void api_domain_patch(struct api_req *req)
{
	struct buf *name = buf_new();
	struct prov_domain_patch p;
	struct prov_send_limits_patch lp;
	struct api_problem pr;
	struct error err;
	json_t *obj = NULL;
	/* Limits are the provider's: a domain admin cannot raise its own. */
	if (api_arg_domain(req, name) < 0 || !api_superadmin(req) ||
	    (obj = api_req_body(req)) == NULL)
		goto out;
	if (api_limits_take(obj, &lp, &pr) < 0 ||
	    api_domain_body(obj, false, NULL, &p, &pr) < 0) {
		api_problem_reply(req, &pr);
		goto out;
	}
	char *details = api_body_details(obj);
	struct prov_actor who = api_actor(req, details);
	if (prov_domain_update(req->api->db, buf_data(name), &p, &who, &err) < 0 ||
	    api_limits_store(req, true, buf_data(name), &lp, &err) < 0)
		api_fail(req, &err);
	else
		reply_domain(req, buf_data(name), 200);
	free(details);
out:
	json_decref(obj);
	buf_free(&name);
}

void api_domain_delete(struct api_req *req)
{
	struct buf *name = buf_new();
	struct error err;
	if (api_arg_domain(req, name) < 0 || !api_superadmin(req))
		goto out;
	struct prov_actor who = api_actor(req, NULL);
	if (prov_domain_del_as(req->api->db, buf_data(name), &who, &err) < 0) {
		api_fail(req, &err);
		goto out;
	}
	/* The rows are gone (mail refused at once); the mail waits in the
	 * trash for `postern mailbox purge`. */
	if (prov_trash_move(req->api->set.mail_dir, buf_data(name), NULL,
			    &err) < 0)
		log_warn("domain %s deleted, but its mail stays in place: %s",
			 buf_data(name), err.msg);
	api_reply(req, 204, NULL);
out:
	buf_free(&name);
}

/* The domain of the path for a list of its members: 0, or -1 answered
 * (bad name, not the caller's, bad page, or no such domain: 404). */
static int list_domain(struct api_req *req, struct buf *name,
		       struct prov_page *page)
{
	struct db_result *d;
	struct error err;
	if (api_arg_domain(req, name) < 0 ||
	    !api_may_domain(req, buf_data(name)) || api_page(req, page) < 0)
		return -1;
	int found = prov_domain_get(req->api->db, buf_data(name), &d, &err);
	if (found < 0) {
		api_fail(req, &err);
		return -1;
	}
	if (found == 0) {
		api_error(req, 404, "not_found", "domain %s does not exist",
			  buf_data(name));
		return -1;
	}
	db_result_free(&d);
	return 0;
}

static json_t *mailbox_row(struct api_req *req, const struct db_result *res,
			   size_t r)
{
	return api_mailbox_json(req->api, res, r);
}

static json_t *alias_row(struct api_req *req, const struct db_result *res,
			 size_t r)
{
	(void)req;
	return api_alias_json(res, r);
}

/* A member list of prov_*_page (domain in the path) through row. */
typedef int member_lister(struct db *db, const char *domain,
			  const struct prov_page *page,
			  struct db_result **res_r, long long *total_r,
			  struct error *err);

static void reply_members(struct api_req *req, member_lister *list,
			  api_row_json *row)
{
	struct buf *name = buf_new();
	struct prov_page page;
	struct db_result *res;
	struct error err;
	long long total;
	if (list_domain(req, name, &page) < 0)
		goto out;
	if (list(req->api->db, buf_data(name), &page, &res, &total, &err) < 0) {
		api_fail(req, &err);
		goto out;
	}
	api_reply_rows(req, &res, total, row);
out:
	buf_free(&name);
}

void api_domain_mailboxes(struct api_req *req)
{
	reply_members(req, prov_mailbox_page, mailbox_row);
}

void api_domain_aliases(struct api_req *req)
{
	reply_members(req, prov_alias_page, alias_row);
}
