/*
 * http - libmicrohttpd on the server skeleton's event loop, for the web
 * daemons (webmail, admin API).
 *
 * MHD runs in external mode with epoll and without a listening socket:
 * the skeleton accepts as for every daemon (same max_connections, same
 * SIGTERM behaviour, same peer logging) and hands each connection to MHD
 * with MHD_add_connection(); MHD's epoll fd is watched by our loop and its
 * timeout is an ev timer.  So the access handler runs on the loop thread,
 * like every other callback of the process: no locking, and a later
 * database call can go to the worker pool with MHD suspend/resume.
 * (MHD's own thread would have been simpler to start but gives two
 * threading models in one daemon.)
 *
 * Stop: http_server_free() ends every connection at once (web requests
 * are short; the master kills after $stop_timeout anyway).
 * Plain HTTP only: TLS for the web side is a reverse proxy's job for now.
 */
#ifndef POSTERN_SERVER_HTTP_H
#define POSTERN_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "core/error.h"
#include "server/server.h"

struct http_server;

struct http_server *http_server_new(struct server *srv,
				    MHD_AccessHandlerCallback handler,
				    void *handler_cls, struct error *err);
void http_server_free(struct http_server **hs);
/*
 * More options (admin API): suspend/resume for work done in the worker
 * pool, a request-completed callback, a custom URL unescaper, and HTTPS
 * through libmicrohttpd's GnuTLS with PEM text (NULL: plain HTTP).
 */
struct http_options {
	bool suspend_resume;
	MHD_RequestCompletedCallback completed;
	void *completed_cls;
	/* As MHD_OPTION_UNESCAPE_CALLBACK: unescape s in place, return its
	 * new length. */
	size_t (*unescape)(void *cls, struct MHD_Connection *conn, char *s);
	void *unescape_cls;
	const char *tls_cert_pem;
	const char *tls_key_pem;
};
struct http_server *http_server_new_opts(struct server *srv,
					 MHD_AccessHandlerCallback handler,
					 void *handler_cls,
					 const struct http_options *opts,
					 struct error *err);
/* Resume a connection suspended with MHD_suspend_connection() from the
 * loop thread, and let MHD run at once. */
void http_server_resume(struct http_server *hs, struct MHD_Connection *conn);

/* Hand an accepted connection to MHD (the hooks->accept of a web daemon). */
void http_server_accept(struct http_server *hs, const struct server_conn *conn);

/*
 * Helpers both web daemons route with.  They keep the URL as sent
 * (http_no_unescape as http_options.unescape) and decode one segment or
 * query value at a time with str_url_decode (core/str.h).
 */
size_t http_no_unescape(void *cls, struct MHD_Connection *conn, char *s);
/* The client's address as text ("unknown" when MHD does not say). */
void http_client_address(struct MHD_Connection *conn, char *out, size_t n);

/* Queue a response with a copied body; Content-Type as given. */
enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned status,
			   const char *content_type, const char *body);

#endif
