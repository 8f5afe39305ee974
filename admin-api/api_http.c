/*
 * The HTTP side: libmicrohttpd's access handler on the loop thread.
 *
 * Each request is collected here (method, raw path, query, headers,
 * body up to the limit), checked against the route table and the
 * per-address throttle, then its connection is suspended while
 * api_process() runs in the worker pool; the completion resumes it and
 * the next call of the handler queues the answer.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_http.h"
#include "auth/throttle.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/worker.h"

enum req_state { REQ_COLLECT, REQ_RUNNING, REQ_DONE };

struct http_req {
	struct api_req r;
	struct api_daemon *d;
	struct MHD_Connection *conn;
	enum req_state state;
};

static enum MHD_Result add_query(void *cls, enum MHD_ValueKind kind,
				 const char *key, const char *value)
{
	struct api_req *r = cls;
	char *k = str_url_decode(key, strlen(key), true);
	char *v = str_url_decode(value ? value : "", value ? strlen(value) : 0,
				 true);
	if (k == NULL || v == NULL) {
		/* A bad escape: the parameter is ignored. */
		free(k);
		free(v);
		return MHD_YES;
	}
	array_push(r->query, k);
	array_push(r->query, v);
	return MHD_YES;
}

static enum MHD_Result send_answer(struct http_req *hr)
{
	struct api_req *r = &hr->r;
	const char *body = r->answer ? r->answer : "";
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (r->status != 204)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					r->content_type ? r->content_type
							: "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (r->status == 405) {
		struct buf *allow = buf_new();
		api_route_allow(r->path, allow);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					buf_data(allow));
		buf_free(&allow);
	}
	if (r->status == 429) {
		char s[24];
		snprintf(s, sizeof(s), "%u", hr->d->api.set.auth_window);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, s);
	}
	enum MHD_Result ret = MHD_queue_response(hr->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void work(void *ctx)
{
	struct http_req *hr = ctx;
	api_process(&hr->r);
}

static void done(void *ctx)
{
	struct http_req *hr = ctx;
	struct api_daemon *d = hr->d;
	if (hr->r.auth_failed) {
		auth_throttle_failure(d->api.throttle, hr->r.client, time(NULL));
		log_warn("admin-api: authentication failed from %s",
			 hr->r.client);
	}
	hr->state = REQ_DONE;
	http_server_resume(d->hs, hr->conn);
}

static void req_free(struct http_req *hr)
{
	struct api_req *r = &hr->r;
	free(r->path);
	array_free_with(&r->query, free);
	free(r->authorization);
	buf_free(&r->body);
	free(r->arg);
	free(r->answer);
	api_who_clear(&r->who);
	free(hr);
}

void api_http_completed(void *cls, struct MHD_Connection *conn,
			void **req_cls, enum MHD_RequestTerminationCode toe)
{
	struct http_req *hr = *req_cls;
	if (hr == NULL)
		return;
	/* Never while the job runs: a suspended connection is not closed. */
	req_free(hr);
	*req_cls = NULL;
}

static struct http_req *req_new(struct api_daemon *d,
				struct MHD_Connection *conn, const char *url,
				const char *method)
{
	struct http_req *hr = xcalloc(1, sizeof(*hr));
	struct api_req *r = &hr->r;
	hr->d = d;
	hr->conn = conn;
	r->api = &d->api;
	str_copy(r->method, method, sizeof(r->method));
	r->path = xstrdup(url);
	r->query = array_new();
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_query, r);
	const char *auth = MHD_lookup_connection_value(
	    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	r->authorization = auth ? xstrdup(auth) : NULL;
	http_client_address(conn, r->client, sizeof(r->client));
	r->body = buf_new();
	return hr;
}

/* Answer now, on the loop thread. */
static enum MHD_Result answer_now(struct http_req *hr, unsigned status,
				  const char *code, const char *msg)
{
	api_error(&hr->r, status, code, "%s", msg);
	hr->state = REQ_DONE;
	return send_answer(hr);
}

static enum MHD_Result too_large(struct http_req *hr)
{
	char msg[80];
	snprintf(msg, sizeof(msg), "the body is larger than %zu bytes",
		 hr->d->api.set.body_limit);
	return answer_now(hr, 413, "body_too_large", msg);
}

enum MHD_Result api_http_handler(void *cls, struct MHD_Connection *conn,
				 const char *url, const char *method,
				 const char *version, const char *upload_data,
				 size_t *upload_data_size, void **req_cls)
{
	struct api_daemon *d = cls;
	struct http_req *hr = *req_cls;

	if (hr == NULL) {
		hr = req_new(d, conn, url, method);
		*req_cls = hr;
		int m = api_route_match(method, url, &hr->r.route, &hr->r.arg);
		if (m == 0)
			return answer_now(hr, 404, "not_found", "no such resource");
		if (m < 0)
			return answer_now(hr, 405, "method_not_allowed",
					  "method not allowed on this resource");
		const char *cl = MHD_lookup_connection_value(
		    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		unsigned long long len;
		/* Refused before reading it: MHD then closes the connection
		 * instead of reading the rest. */
		if (cl != NULL && str_to_u64(cl, &len) &&
		    len > d->api.set.body_limit)
			return too_large(hr);
		return MHD_YES;
	}
	if (hr->state == REQ_DONE)
		return *upload_data_size == 0 ? send_answer(hr) : MHD_YES;
	if (*upload_data_size > 0) {
		if (!hr->r.too_large &&
		    buf_len(hr->r.body) + *upload_data_size <= d->api.set.body_limit)
			buf_append(hr->r.body, upload_data, *upload_data_size);
		else
			hr->r.too_large = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (hr->state != REQ_COLLECT)
		return MHD_YES;
	if (hr->r.too_large)
		return too_large(hr);
	if (hr->r.route->fn == api_health) {
		api_health(&hr->r);
		hr->state = REQ_DONE;
		return send_answer(hr);
	}
	if (auth_throttle_blocked(d->api.throttle, hr->r.client, time(NULL)))
		return answer_now(hr, 429, "too_many_requests",
				  "too many failed authentications from this "
				  "address; retry later");
	hr->state = REQ_RUNNING;
	MHD_suspend_connection(conn);
	worker_submit(d->pool, work, done, hr);
	return MHD_YES;
}

struct http_server *api_http_start(struct api_daemon *d, struct server *srv,
				   const char *cert_pem, const char *key_pem,
				   struct error *err)
{
	struct http_options o = {
	    .suspend_resume = true,
	    .completed = api_http_completed,
	    .completed_cls = d,
	    .unescape = http_no_unescape,
	    .tls_cert_pem = cert_pem,
	    .tls_key_pem = key_pem,
	};
	return http_server_new_opts(srv, api_http_handler, d, &o, err);
}
