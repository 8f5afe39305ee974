/* /api/v1/mailboxes: mailboxes, with usage from the store's cache. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "auth/proxy_backend.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "store/store.h"

/* "backend" (docs/proxy.md): the row's IMAP backend, null: by hash. */
static void backend_json(struct api *api, json_t *obj, const char *address)
{
	struct buf *b = buf_new();
	struct error err;
	int rc = proxy_backend_column(api->db, address, b, &err);

	if (rc < 0)
		log_warn("backend of %s: %s", address, err.msg);
	json_object_set_new(obj, "backend",
			    rc == 1 ? json_string(buf_data(b)) : json_null());
	buf_free(&b);
}

/* Take "backend" out of a body (string "host:port" or null); *set_r
 * when present.  Placement is the provider's: superadmin only. */
static int backend_take(struct api_req *req, json_t *obj, bool *set_r,
			const char **v_r)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, "backend")
					: NULL;

	*set_r = false;
	*v_r = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_null(v) && !(json_is_string(v) &&
				  proxy_backend_valid(json_string_value(v)))) {
		api_error(req, 422, "invalid_value",
			  "backend: \"host:port\" or null");
		return -1;
	}
	if (!api_superadmin(req))
		return -1;
	*set_r = true;
	*v_r = json_is_string(v) ? json_string_value(v) : NULL;
	return 0;
}

static int backend_store(struct api_req *req, const char *address, bool set,
			 const char *backend, struct error *err)
{
	if (!set)
		return 0;
	return proxy_backend_set(req->api->db, address, backend, err) < 0 ? -1
									  : 0;
}

json_t *api_mailbox_json(struct api *api, const struct db_result *res,
			 size_t r)
{
	const char *address = db_result_value(res, r, 0);
	const char *at = strrchr(address, '@');
	char *local = xstrndup(address, at ? (size_t)(at - address) : 0);
	const char *domain = at ? at + 1 : "";
	struct store_usage usage = {0, 0};
	struct error err;
	/* The Maildir++ quota cache is what lmtpd and imapd keep current;
	 * the SQL columns are not updated on delivery. */
	struct store_mailbox *mbox =
	    store_mailbox_open(api->store, domain, local, &err);
	if (mbox == NULL || store_usage(mbox, NULL, &usage, &err) < 0)
		log_warn("usage of %s: %s", address, err.msg);
	store_mailbox_free(&mbox);
	free(local);
	json_t *obj = json_pack("{s:o,s:s,s:o,s:o,s:I,s:I,s:o,s:o}", "address",
			 api_json_str(address), "domain", domain, "name",
			 api_json_str(db_result_value(res, r, 1)), "quota_bytes",
			 api_json_int(db_result_value(res, r, 2)), "used_bytes",
			 (json_int_t)usage.bytes, "message_count",
			 (json_int_t)usage.messages, "active",
			 api_json_bool(db_result_value(res, r, 5)), "created_at",
			 api_json_int(db_result_value(res, r, 6)));
	api_limits_json(obj, db_result_value(res, r, 7),
			db_result_value(res, r, 8));
	backend_json(api, obj, address);
	return obj;
}

static void reply_mailbox(struct api_req *req, const char *address,
			  unsigned status)
{
	struct db_result *res;
	struct error err;
	int rc = prov_mailbox_get(req->api->db, address, &res, &err);
	if (rc < 0) {
		api_fail(req, &err);
	} else if (rc == 0) {
		api_error(req, 404, "not_found", "mailbox %s does not exist",
			  address);
	} else {
		api_reply(req, status, api_mailbox_json(req->api, res, 0));
		db_result_free(&res);
	}
}

void api_mailbox_create(struct api_req *req)
{
	struct prov_mailbox m;
	struct prov_send_limits_patch lp;
	struct api_problem pr;
	struct error err;
	struct buf *addr = buf_new(), *domain = buf_new();
	json_t *obj = api_req_body(req);
	bool set_backend;
	char *backend = NULL;
	const char *bv;
	if (obj == NULL || backend_take(req, obj, &set_backend, &bv) < 0)
		goto out;
	backend = bv != NULL ? xstrdup(bv) : NULL;
	json_object_del(obj, "backend");
	if (api_limits_take(obj, &lp, &pr) < 0 ||
	    api_mailbox_body(obj, true, &m, NULL, &pr) < 0) {
		api_problem_reply(req, &pr);
		goto out;
	}
	prov_normalize_address(m.address, addr, domain, &err);
	if (!api_may_domain(req, buf_data(domain)))
		goto out;
	/* Sending limits are the provider's, as the domain's are. */
	if ((lp.set_messages || lp.set_new_rcpts) && !api_superadmin(req))
		goto out;
	char *details = api_body_details(obj);
	struct prov_actor who = api_actor(req, details);
	if (prov_mailbox_add_as(req->api->db, &m, req->api->set.scheme, &who,
				&err) < 0 ||
	    api_limits_store(req, false, buf_data(addr), &lp, &err) < 0 ||
	    backend_store(req, buf_data(addr), set_backend, backend, &err) < 0)
		api_fail(req, &err);
	else
		reply_mailbox(req, buf_data(addr), 201);
	free(details);
out:
	free(backend);
	json_decref(obj);
	buf_free(&addr);
	buf_free(&domain);
}

void api_mailbox_get(struct api_req *req)
{
	struct buf *addr = buf_new(), *domain = buf_new();
	if (api_arg_address(req, addr, domain) == 0 &&
	    api_may_domain(req, buf_data(domain)))
		reply_mailbox(req, buf_data(addr), 200);
	buf_free(&addr);
	buf_free(&domain);
}

void api_mailbox_patch(struct api_req *req)
{
	struct buf *addr = buf_new(), *domain = buf_new();
	struct prov_mailbox_patch p;
	struct prov_send_limits_patch lp;
	struct api_problem pr;
	struct error err;
	json_t *obj = NULL;
	bool set_backend;
	char *backend = NULL;
	const char *bv;
	if (api_arg_address(req, addr, domain) < 0 ||
	    !api_may_domain(req, buf_data(domain)) ||
	    (obj = api_req_body(req)) == NULL ||
	    backend_take(req, obj, &set_backend, &bv) < 0)
		goto out;
	backend = bv != NULL ? xstrdup(bv) : NULL;
	json_object_del(obj, "backend");
	if (api_limits_take(obj, &lp, &pr) < 0 ||
	    api_mailbox_body(obj, false, NULL, &p, &pr) < 0) {
		api_problem_reply(req, &pr);
		goto out;
	}
	if ((lp.set_messages || lp.set_new_rcpts) && !api_superadmin(req))
		goto out;
	char *details = api_body_details(obj);
	struct prov_actor who = api_actor(req, details);
	if (prov_mailbox_update(req->api->db, buf_data(addr), &p,
				req->api->set.scheme, &who, &err) < 0 ||
	    api_limits_store(req, false, buf_data(addr), &lp, &err) < 0 ||
	    backend_store(req, buf_data(addr), set_backend, backend, &err) < 0)
		api_fail(req, &err);
	else
		reply_mailbox(req, buf_data(addr), 200);
	free(details);
out:
	free(backend);
	json_decref(obj);
	buf_free(&addr);
	buf_free(&domain);
}

void api_mailbox_delete(struct api_req *req)
{
	struct buf *addr = buf_new(), *domain = buf_new();
	struct error err;
	if (api_arg_address(req, addr, domain) < 0 ||
	    !api_may_domain(req, buf_data(domain)))
		goto out;
	struct prov_actor who = api_actor(req, NULL);
	if (prov_mailbox_del_as(req->api->db, buf_data(addr), &who, &err) < 0) {
		api_fail(req, &err);
		goto out;
	}
	const char *a = buf_data(addr);
	char *local = xstrndup(a, (size_t)(strrchr(a, '@') - a));
	if (prov_trash_move(req->api->set.mail_dir, buf_data(domain), local,
			    &err) < 0)
		log_warn("mailbox %s deleted, but its mail stays in place: %s",
			 a, err.msg);
	free(local);
	api_reply(req, 204, NULL);
out:
	buf_free(&addr);
	buf_free(&domain);
}
