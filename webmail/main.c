/*
 * postern-webmail - the webmail (HTTP, browser UI).
 *
 * Not ready yet: every request is answered 503 with a short page.  HTTP
 * runs on the skeleton's loop through server/http.h.
 */
#include <stddef.h>

#include "server/http.h"
#include "server/server.h"

static const char page[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
    "<title>Postern webmail</title></head>\n<body><h1>Service not yet "
    "available</h1><p>The webmail is starting or not built yet.</p>"
    "</body></html>\n";

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	return http_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
			  "text/html; charset=utf-8", page);
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
	    .name = "webmail",
	    .default_service = "webmail",
	    .init = on_init,
	    .accept = on_accept,
	    .stop = on_stop,
	    .fini = on_stop,
	};
	return server_main(argc, argv, &hooks);
}
