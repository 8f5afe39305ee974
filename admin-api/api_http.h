/* api_http.h - the daemon's state and its HTTP glue (this folder only). */
#ifndef POSTERN_ADMIN_API_HTTP_H
#define POSTERN_ADMIN_API_HTTP_H

#include "api.h"
#include "server/http.h"
#include "server/server.h"

struct worker_pool;

struct api_daemon {
	struct api api;
	struct server *srv;
	struct http_server *hs;
	struct worker_pool *pool;
};

enum MHD_Result api_http_handler(void *cls, struct MHD_Connection *conn,
				 const char *url, const char *method,
				 const char *version, const char *upload_data,
				 size_t *upload_data_size, void **req_cls);
void api_http_completed(void *cls, struct MHD_Connection *conn,
			void **req_cls, enum MHD_RequestTerminationCode toe);
/* The MHD daemon on the skeleton's loop; HTTPS when both PEMs are given. */
struct http_server *api_http_start(struct api_daemon *d, struct server *srv,
				   const char *cert_pem, const char *key_pem,
				   struct error *err);

#endif
