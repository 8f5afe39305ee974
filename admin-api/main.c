/*
 * postern-admin-api - the admin API (JSON over HTTP, CONTRACT.md).
 *
 * Not ready yet: every request is answered 503 with the contract's error
 * body {"error": {"code": "not_ready", "message": ...}}, and GET
 * /api/v1/health with 503 {"status": "starting"}, so a health check sees
 * a live process that cannot serve yet.  HTTP runs on the skeleton's loop
 * through server/http.h.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/log.h"
#include "server/http.h"
#include "server/server.h"

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status,
				  json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return MHD_NO;
	enum MHD_Result r = http_reply(conn, status, "application/json", text);
	free(text);
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	if (strcmp(method, "GET") == 0 && strcmp(url, "/api/v1/health") == 0)
		return reply_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				  json_pack("{s:s}", "status", "starting"));
	return reply_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
			  json_pack("{s:{s:s,s:s}}", "error", "code",
				    "not_ready", "message",
				    "the admin API is not available yet"));
}

static int on_init(struct server *srv, struct error *err)
{
	struct http_server *hs = http_server_new(srv, on_request, NULL, err);
	if (hs == NULL)
		return -1;
	server_set_ctx(srv, hs);
	return 0;
}

static void on_accept(struct server *srv, const struct server_conn *conn)
{
	http_server_accept(server_ctx(srv), conn);
}

static void on_stop(struct server *srv)
{
	struct http_server *hs = server_ctx(srv);
	http_server_free(&hs);
	server_set_ctx(srv, NULL);
}

int main(int argc, char **argv)
{
	static const struct server_hooks hooks = {
	    .name = "admin-api",
	    .default_service = "admin-api",
	    .init = on_init,
	    .accept = on_accept,
	    .stop = on_stop,
	    .fini = on_stop,
	};
	return server_main(argc, argv, &hooks);
}
