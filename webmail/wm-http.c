/*
 * wm-http.c - the HTTP front of the webmail: libmicrohttpd's access
 * handler on the loop thread (server/http.h), the route table over every
 * wm-*.c, sessions and CSRF, the safety headers, static files, and the
 * answer helpers of wm.h.
 *
 * A request is collected here (method, raw path, query, cookie, headers,
 * body up to the limit) and routed on its raw path: the path is split at
 * "/" before its segments are percent-decoded, so "%2F" in a folder id is
 * part of that id and never a separator.  Then its session is looked up
 * (in this process's cache on the loop; in SQL, in the worker pool, when
 * it is not cached or was last checked over a second ago: wm-session.c)
 * and, for state changes, the X-CSRF-Token header checked; the
 * connection is suspended while the handler runs in the worker pool
 * under the session's lock, and the answer is queued when it resumes
 * (the admin API's collect -> suspend -> job -> resume pattern).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/worker.h"
#include "mindex/mindex.h"
#include "wm-core.h"

/* Routes written by other hands: empty until their files exist. */
__attribute__((weak)) const struct wm_route wm_routes_view[] = {{NULL}};
__attribute__((weak)) const struct wm_route wm_routes_search[] = {{NULL}};
__attribute__((weak)) const struct wm_route wm_routes_compose[] = {{NULL}};

#define SESSION_COOKIE "postern_session"

/* The CSP of the app's pages (docs/webmail-api.md). */
static const char page_csp[] =
    "default-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

const char wm_builtin_page[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
    "<title>Postern webmail</title></head>\n<body><h1>Postern "
    "webmail</h1><p>The browser interface is not built into this "
    "binary; the HTTP API is at /api/.</p></body></html>\n";

static void route_index(struct wm_req *r);
static void route_static(struct wm_req *r);
static void route_events(struct wm_req *r);

static const struct wm_route routes_core[] = {
    {"GET", "/", route_index, true},
    {"GET", "/static/{file*}", route_static, true},
    {"GET", "/api/events", route_events, false},
    {NULL},
};

static const struct wm_route *const route_tables[] = {
    routes_core,       wm_routes_session, wm_routes_folders, wm_routes_list,
    wm_routes_view,    wm_routes_search,  wm_routes_compose,
};

/* REQ_RESOLVING: the session is looked up in SQL (worker pool), then
 * start() goes on in REQ_RESOLVED. */
enum req_state {
	REQ_COLLECT,
	REQ_RESOLVING,
	REQ_RESOLVED,
	REQ_RUNNING,
	REQ_DONE
};

struct http_req {
	struct wm_req r;
	struct wm_daemon *d;
	struct MHD_Connection *conn;
	enum req_state state;
	const struct wm_route *route;
	char method[16];
	char *path;
	char *args[4];
	char *cookie;
	char *content_type;
	struct buf *body;
	size_t limit;
	bool too_large;
	bool resolved, touch;
	char client[64];
};

/* ---- answers (wm.h) ---- */

const char *wm_query(const struct wm_req *r, const char *name)
{
	for (size_t i = 0; r->query != NULL && i + 1 < array_len(r->query);
	     i += 2)
		if (strcmp(array_get(r->query, i), name) == 0)
			return array_get(r->query, i + 1);
	return NULL;
}

long long wm_query_int(const struct wm_req *r, const char *name, long long def,
		       long long min, long long max)
{
	const char *s = wm_query(r, name);
	long long v;

	if (s == NULL || !str_to_i64(s, &v))
		v = def;
	return v < min ? min : v > max ? max : v;
}

json_t *wm_body_json(struct wm_req *r)
{
	json_error_t jerr;
	json_t *v;

	if (buf_len(r->body) == 0) {
		wm_error(r, 400, "bad_request", "a JSON object is expected");
		return NULL;
	}
	v = json_loadb(buf_data(r->body), buf_len(r->body), JSON_REJECT_DUPLICATES,
		       &jerr);
	if (v == NULL || !json_is_object(v)) {
		json_decref(v);
		wm_error(r, 400, "bad_request", "the body is not a JSON object");
		return NULL;
	}
	return v;
}

static void answer_reset(struct wm_req *r)
{
	buf_reset(r->out);
	/* Headers of an earlier answer go with it (wm.h: wm_header comes
	 * after the answer it belongs to). */
	for (size_t i = 0; i < array_len(r->headers); i++)
		free(array_get(r->headers, i));
	array_clear(r->headers);
}

void wm_json(struct wm_req *r, unsigned status, json_t *v)
{
	char *s;

	answer_reset(r);
	r->status = status;
	r->ctype = "application/json";
	if (v == NULL)
		return;
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s != NULL)
		buf_append_str(r->out, s);
	free(s);
	json_decref(v);
}

void wm_error(struct wm_req *r, unsigned status, const char *code,
	      const char *fmt, ...)
{
	struct buf *msg = buf_new();
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(msg, fmt, ap);
	va_end(ap);
	wm_json(r, status,
		json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
			  buf_data(msg)));
	buf_free(&msg);
}

void wm_fail(struct wm_req *r, const struct error *err)
{
	const char *code = err->code != NULL ? err->code : "";

	if (err->kind == ERR_TEMP && strcmp(code, STORE_ERR_QUOTA) != 0) {
		/* The reason (a database host and port, a path) is for the
		 * log, not for whoever sent the request. */
		log_warn("webmail: %s: %s", r->path, err->msg);
		wm_error(r, 503, "unavailable",
			 "temporarily unavailable, try again in a moment");
	} else if (strcmp(code, MINDEX_ERR_NOTFOUND) == 0) {
		wm_error(r, 404, "not_found", "%s", err->msg);
	} else if (strcmp(code, MINDEX_ERR_EXISTS) == 0 ||
		   strcmp(code, MINDEX_ERR_HASCHILDREN) == 0) {
		wm_error(r, 409, strcmp(code, MINDEX_ERR_EXISTS) == 0
				     ? "exists"
				     : "has_children",
			 "%s", err->msg);
	} else if (strcmp(code, MINDEX_ERR_INVALID) == 0 ||
		   strcmp(code, MINDEX_ERR_INBOX) == 0 ||
		   strcmp(code, MINDEX_ERR_LIMIT) == 0) {
		wm_error(r, 422, "invalid", "%s", err->msg);
	} else if (strcmp(code, STORE_ERR_QUOTA) == 0) {
		wm_error(r, 507, "quota", "%s", err->msg);
	} else {
		log_error("webmail: %s: %s", r->path, err->msg);
		wm_error(r, 500, "internal", "internal error (logged)");
	}
}

void wm_body(struct wm_req *r, unsigned status, const char *ctype,
	     const void *data, size_t len)
{
	answer_reset(r);
	r->status = status;
	r->ctype = ctype;
	buf_append(r->out, data, len);
}

void wm_header(struct wm_req *r, const char *name, const char *value)
{
	array_push(r->headers, xstrdup(name));
	array_push(r->headers, xstrdup(value));
}

const char *wm_req_cookie(const struct wm_req *r)
{
	const struct http_req *hr = (const struct http_req *)(const void *)r;
	return hr->cookie;
}

/* ---- decoding and routing ---- */

/*
 * Match the raw path against a pattern: 1 and args filled (decoded), 0
 * when it does not match.  "/" and "" segments never match a {x}.
 */
static int pattern_match(const char *pattern, const char *path, char **args,
			 size_t *nargs)
{
	const char *p = pattern, *s = path;
	size_t n = 0;

	*nargs = 0;
	while (*p != '\0' && *s != '\0') {
		if (*p != '/' || *s != '/')
			goto no;
		p++;
		s++;
		const char *pe = strchr(p, '/'), *se = strchr(s, '/');
		size_t plen = pe ? (size_t)(pe - p) : strlen(p);
		size_t slen = se ? (size_t)(se - s) : strlen(s);
		if (plen > 0 && p[0] == '{') {
			bool rest = plen >= 3 && p[plen - 2] == '*';
			size_t take = rest ? strlen(s) : slen;
			if (take == 0 || n >= 4)
				goto no;
			char *v = str_url_decode(s, take, false);
			if (v == NULL)
				goto no;
			args[n++] = v;
			p += plen;
			s += take;
			if (rest)
				break;
			continue;
		}
		char *seg = str_url_decode(s, slen, false);
		bool same = seg != NULL && strlen(seg) == plen &&
			    memcmp(seg, p, plen) == 0;
		free(seg);
		if (!same)
			goto no;
		p += plen;
		s += slen;
	}
	if (*p != '\0' || *s != '\0')
		goto no;
	*nargs = n;
	return 1;
no:
	for (size_t i = 0; i < n; i++)
		free(args[i]);
	return 0;
}

/* 1 found (route and args), 0 no such path, -1 path but not method. */
static int route_find(const char *method, const char *path,
		      const struct wm_route **route_r, char **args,
		      size_t *nargs)
{
	bool path_seen = false;
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;

	for (size_t t = 0; t < sizeof(route_tables) / sizeof(*route_tables);
	     t++)
		for (const struct wm_route *rt = route_tables[t];
		     rt->method != NULL; rt++) {
			if (!pattern_match(rt->pattern, path, args, nargs))
				continue;
			if (strcmp(rt->method, m) == 0) {
				*route_r = rt;
				return 1;
			}
			for (size_t i = 0; i < *nargs; i++)
				free(args[i]);
			*nargs = 0;
			path_seen = true;
		}
	return path_seen ? -1 : 0;
}

/* ---- static files ---- */

static const char *static_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".mjs", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".webp", "image/webp"},
	    {".woff2", "font/woff2"},
	    {".json", "application/json"},
	    {".webmanifest", "application/manifest+json"},
	    {".txt", "text/plain; charset=utf-8"},
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++)
		if (str_has_suffix(name, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

static const struct wm_static_file *static_find(const char *name)
{
	for (const struct wm_static_file *f = wm_static_files; f->name != NULL;
	     f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static void route_index(struct wm_req *r)
{
	const struct wm_static_file *f = static_find("index.html");

	if (f != NULL)
		wm_body(r, 200, "text/html; charset=utf-8", f->data, f->len);
	else
		wm_body(r, 200, "text/html; charset=utf-8", wm_builtin_page,
			strlen(wm_builtin_page));
	wm_header(r, "Cache-Control", "no-cache");
}

static void route_static(struct wm_req *r)
{
	const struct wm_static_file *f = static_find(r->args[0]);

	if (f == NULL) {
		wm_error(r, 404, "not_found", "no such file");
		return;
	}
	wm_body(r, 200, static_type(f->name), f->data, f->len);
	wm_header(r, "Cache-Control", "no-cache");
}

/* Never called: wm_http_handler starts the stream itself. */
static void route_events(struct wm_req *r)
{
	wm_error(r, 500, "internal", "event stream");
}

/* ---- the MHD side ---- */

void wm_http_common_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "SAMEORIGIN");
}

static enum MHD_Result add_query(void *cls, enum MHD_ValueKind kind,
				 const char *key, const char *value)
{
	struct wm_req *r = cls;
	char *k = str_url_decode(key, strlen(key), true);
	char *v = str_url_decode(value ? value : "", value ? strlen(value) : 0,
			     true);

	if (k == NULL || v == NULL) {
		free(k);
		free(v);
		return MHD_YES;
	}
	array_push(r->query, k);
	array_push(r->query, v);
	return MHD_YES;
}

static bool has_header(const struct wm_req *r, const char *name)
{
	for (size_t i = 0; i + 1 < array_len(r->headers); i += 2)
		if (strcasecmp(array_get(r->headers, i), name) == 0)
			return true;
	return false;
}

static enum MHD_Result send_answer(struct http_req *hr)
{
	struct wm_req *r = &hr->r;
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    buf_len(r->out), (void *)buf_data(r->out), MHD_RESPMEM_MUST_COPY);
	const char *ctype = r->ctype != NULL ? r->ctype : "application/json";

	if (resp == NULL)
		return MHD_NO;
	if (r->status != 204 && r->status != 304)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					ctype);
	wm_http_common_headers(resp);
	if (!has_header(r, "Cache-Control") &&
	    (str_has_prefix(ctype, "application/json") || r->status >= 400))
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (!has_header(r, "Content-Security-Policy") &&
	    str_has_prefix(ctype, "text/html"))
		MHD_add_response_header(resp, "Content-Security-Policy",
					page_csp);
	for (size_t i = 0; i + 1 < array_len(r->headers); i += 2)
		MHD_add_response_header(resp, array_get(r->headers, i),
					array_get(r->headers, i + 1));
	enum MHD_Result ret = MHD_queue_response(hr->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result answer_now(struct http_req *hr, unsigned status,
				  const char *code, const char *msg)
{
	wm_error(&hr->r, status, code, "%s", msg);
	hr->state = REQ_DONE;
	return send_answer(hr);
}

static void work(void *ctx)
{
	struct http_req *hr = ctx;
	struct wm_session *s = hr->r.session;

	if (s != NULL)
		wm_session_lock(s);
	hr->route->fn(&hr->r);
	if (s != NULL)
		wm_session_unlock(s);
}

static void resolve_work(void *ctx)
{
	struct http_req *hr = ctx;

	hr->r.session = wm_session_get(hr->d, hr->cookie, hr->touch);
}

static void resolve_done(void *ctx)
{
	struct http_req *hr = ctx;
	struct wm_daemon *d = hr->d;

	hr->state = REQ_RESOLVED;
	hr->resolved = true;
	d->running--;
	wm_http_resume(d, hr->conn);
	if (d->stopping && d->running == 0)
		http_server_free(&d->hs);
}

static void done(void *ctx)
{
	struct http_req *hr = ctx;
	struct wm_daemon *d = hr->d;

	hr->state = REQ_DONE;
	d->running--;
	/* A logout (or a login replacing this browser's session) ended it:
	 * its event streams end now, not at their next tick. */
	if (hr->r.session != NULL && !wm_session_alive(d, hr->r.session))
		wm_events_session_gone(d, hr->r.session);
	wm_http_resume(d, hr->conn);
	if (d->stopping && d->running == 0)
		http_server_free(&d->hs);
}

void wm_http_stop(struct wm_daemon *d)
{
	d->stopping = true;
	if (d->running == 0)
		http_server_free(&d->hs);
}

void wm_http_resume(struct wm_daemon *d, struct MHD_Connection *conn)
{
	if (d->hs != NULL)
		http_server_resume(d->hs, conn);
}

static void req_free(struct http_req *hr)
{
	struct wm_req *r = &hr->r;

	if (r->session != NULL)
		wm_session_unref(hr->d, r->session);
	free(hr->path);
	for (size_t i = 0; i < r->nargs; i++)
		free(hr->args[i]);
	free(hr->cookie);
	free(hr->content_type);
	array_free_with(&r->query, free);
	array_free_with(&r->headers, free);
	buf_free(&hr->body);
	buf_free(&r->out);
	free(hr);
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct http_req *hr = *req_cls;

	if (hr == NULL)
		return;
	/* Never while the job runs: a suspended connection is not closed. */
	req_free(hr);
	*req_cls = NULL;
}

static struct http_req *req_new(struct wm_daemon *d,
				struct MHD_Connection *conn, const char *url,
				const char *method)
{
	struct http_req *hr = xcalloc(1, sizeof(*hr));
	struct wm_req *r = &hr->r;
	const char *v;

	hr->d = d;
	hr->conn = conn;
	str_copy(hr->method, method, sizeof(hr->method));
	hr->path = xstrdup(url);
	r->wm = &d->wm;
	r->method = hr->method;
	r->path = hr->path;
	r->query = array_new();
	r->headers = array_new();
	r->out = buf_new();
	r->status = 500;
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_query, r);
	v = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, SESSION_COOKIE);
	hr->cookie = v != NULL ? xstrdup(v) : NULL;
	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					MHD_HTTP_HEADER_CONTENT_TYPE);
	hr->content_type = xstrdup(v != NULL ? v : "");
	r->content_type = hr->content_type;
	http_client_address(conn, hr->client, sizeof(hr->client));
	r->client = hr->client;
	hr->body = buf_new();
	r->body = hr->body;
	hr->limit = d->set.body_limit;
	if (strcmp(method, "POST") == 0 && strcmp(url, "/api/uploads") == 0 &&
	    d->set.upload_limit > hr->limit)
		hr->limit = d->set.upload_limit;
	return hr;
}

/*
 * A state change without a session cookie (the login) must come from
 * our own pages: Origin absent (same-origin GETs, old clients) or equal
 * to this host.
 */
static bool origin_ok(struct http_req *hr)
{
	const char *origin = MHD_lookup_connection_value(
	    hr->conn, MHD_HEADER_KIND, "Origin");
	const char *host = MHD_lookup_connection_value(
	    hr->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	const char *rest;

	if (origin == NULL)
		return true;
	if (host == NULL)
		return false;
	if (str_has_prefix(origin, "http://"))
		rest = origin + 7;
	else if (str_has_prefix(origin, "https://"))
		rest = origin + 8;
	else
		return false;
	return strcasecmp(rest, host) == 0;
}

static bool csrf_ok(struct http_req *hr)
{
	const char *tok = MHD_lookup_connection_value(
	    hr->conn, MHD_HEADER_KIND, "X-CSRF-Token");

	return tok != NULL && hr->r.session != NULL &&
	       str_secure_eq(tok, hr->r.session->csrf);
}

static enum MHD_Result start(struct http_req *hr)
{
	struct wm_daemon *d = hr->d;
	struct wm_req *r = &hr->r;
	bool safe = strcmp(hr->method, "GET") == 0 ||
		    strcmp(hr->method, "HEAD") == 0;
	bool events = hr->route->fn == route_events;

	if (hr->too_large) {
		char msg[80];
		snprintf(msg, sizeof(msg), "the body is larger than %zu bytes",
			 hr->limit);
		return answer_now(hr, 413, "too_large", msg);
	}
	if (hr->cookie != NULL && !hr->route->no_session && !hr->resolved &&
	    wm_session_find(d, hr->cookie, !events, &r->session) < 0) {
		/* Not cached, or not checked against SQL for a second. */
		hr->touch = !events;
		hr->state = REQ_RESOLVING;
		d->running++;
		MHD_suspend_connection(hr->conn);
		worker_submit(d->pool, resolve_work, resolve_done, hr);
		return MHD_YES;
	}
	if (!hr->route->no_session && r->session == NULL)
		return answer_now(hr, 401, "login_required",
				  "log in first (no session or it expired)");
	if (!safe && !hr->route->no_session && !csrf_ok(hr))
		return answer_now(hr, 403, "csrf",
				  "missing or wrong X-CSRF-Token");
	if (!safe && hr->route->no_session && !origin_ok(hr))
		return answer_now(hr, 403, "origin",
				  "cross-origin request refused");
	if (events) {
		struct wm_session *s = r->session;
		r->session = NULL; /* the stream takes the reference */
		hr->state = REQ_DONE;
		return wm_events_start(d, hr->conn, s);
	}
	if (hr->route->fn == route_index || hr->route->fn == route_static) {
		hr->route->fn(r);
		hr->state = REQ_DONE;
		return send_answer(hr);
	}
	hr->state = REQ_RUNNING;
	d->running++;
	MHD_suspend_connection(hr->conn);
	worker_submit(d->pool, work, done, hr);
	return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_data_size, void **req_cls)
{
	struct wm_daemon *d = cls;
	struct http_req *hr = *req_cls;

	if (hr == NULL) {
		hr = req_new(d, conn, url, method);
		*req_cls = hr;
		int m = route_find(method, url, &hr->route, hr->args,
				   &hr->r.nargs);
		for (size_t i = 0; i < hr->r.nargs; i++)
			hr->r.args[i] = hr->args[i];
		if (m == 0)
			return answer_now(hr, 404, "not_found",
					  "no such resource");
		if (m < 0)
			return answer_now(hr, 405, "method_not_allowed",
					  "method not allowed on this resource");
		const char *cl = MHD_lookup_connection_value(
		    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		unsigned long long len;
		/* Refused before reading it: MHD then closes the connection
		 * instead of reading the rest. */
		if (cl != NULL && str_to_u64(cl, &len) && len > hr->limit) {
			hr->too_large = true;
			return start(hr);
		}
		return MHD_YES;
	}
	if (hr->state == REQ_DONE)
		return *upload_data_size == 0 ? send_answer(hr) : MHD_YES;
	if (*upload_data_size > 0) {
		if (!hr->too_large &&
		    buf_len(hr->body) + *upload_data_size <= hr->limit)
			buf_append(hr->body, upload_data, *upload_data_size);
		else
			hr->too_large = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (hr->state == REQ_RESOLVED)
		return start(hr);
	if (hr->state != REQ_COLLECT)
		return MHD_YES;
	return start(hr);
}

struct http_server *wm_http_start(struct wm_daemon *d, const char *cert_pem,
				  const char *key_pem, struct error *err)
{
	struct http_options o = {
	    .suspend_resume = true,
	    .completed = completed,
	    .completed_cls = d,
	    .unescape = http_no_unescape,
	    .tls_cert_pem = cert_pem,
	    .tls_key_pem = key_pem,
	};
	return http_server_new_opts(d->srv, handler, d, &o, err);
}
