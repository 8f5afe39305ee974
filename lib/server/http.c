/*
 * http - libmicrohttpd in external epoll mode on our loop (see http.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "server/http.h"

/* Idle keep-alive connections are closed after this many seconds. */
#define HTTP_CONNECTION_TIMEOUT 30

struct http_server {
	struct server *srv;
	struct MHD_Daemon *mhd;
	int epoll_fd;
};

static void http_run(struct http_server *hs);

static void on_timer(struct ev *ev, struct http_server *hs)
{
	http_run(hs);
}

/* Let MHD do its work, then re-arm its timeout. */
static void http_run(struct http_server *hs)
{
	/* Named `ev`: the EV_TIMER_ADD macro needs it (see ev.h). */
	struct ev *ev = server_ev(hs->srv);
	MHD_run(hs->mhd);
	MHD_UNSIGNED_LONG_LONG ms;
	if (MHD_get_timeout(hs->mhd, &ms) == MHD_YES)
		EV_TIMER_ADD(ev, (int64_t)ms, on_timer, hs);
	else
		EV_TIMER_DEL(ev, on_timer, hs);
}

static void on_epoll(struct ev *ev, int fd, unsigned events, void *ctx)
{
	http_run(ctx);
}

static void on_notify(void *cls, struct MHD_Connection *conn,
		      void **socket_context,
		      enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *hs = cls;
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
		server_conn_done(hs->srv);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_warn("http: %s", msg);
}

struct http_server *http_server_new(struct server *srv,
				    MHD_AccessHandlerCallback handler,
				    void *handler_cls, struct error *err)
{
	static const struct http_options none = {0};
	return http_server_new_opts(srv, handler, handler_cls, &none, err);
}

struct http_server *http_server_new_opts(struct server *srv,
					 MHD_AccessHandlerCallback handler,
					 void *handler_cls,
					 const struct http_options *o,
					 struct error *err)
{
	struct http_server *hs = xcalloc(1, sizeof(*hs));
	hs->srv = srv;
	hs->epoll_fd = -1;
	/* Unused options are passed as MHD_OPTION_END pairs' neighbours:
	 * build the list so that absent ones are simply not there. */
	struct MHD_OptionItem items[8];
	size_t n = 0;
	if (o->completed != NULL)
		items[n++] = (struct MHD_OptionItem){
		    MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)o->completed,
		    o->completed_cls};
	if (o->unescape != NULL)
		items[n++] = (struct MHD_OptionItem){
		    MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)o->unescape,
		    o->unescape_cls};
	if (o->tls_cert_pem != NULL && o->tls_key_pem != NULL) {
		items[n++] = (struct MHD_OptionItem){
		    MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)o->tls_cert_pem};
		items[n++] = (struct MHD_OptionItem){
		    MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->tls_key_pem};
		/* TLS 1.2 minimum, as lib/tls does for the mail daemons. */
		items[n++] = (struct MHD_OptionItem){
		    MHD_OPTION_HTTPS_PRIORITIES, 0,
		    (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"};
	}
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	unsigned flags = MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET |
			 MHD_USE_ERROR_LOG;
	if (o->suspend_resume)
		flags |= MHD_ALLOW_SUSPEND_RESUME;
	if (o->tls_cert_pem != NULL && o->tls_key_pem != NULL)
		flags |= MHD_USE_TLS;
	hs->mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, handler, handler_cls,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, on_notify, hs,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_CONNECTION_TIMEOUT,
	    MHD_OPTION_ARRAY, items, MHD_OPTION_END);
	if (hs->mhd == NULL) {
		free(hs);
		error_set(err, ERR_TEMP, "libmicrohttpd failed to start%s",
			  o->tls_cert_pem ? " (check the TLS certificate and "
					    "key)"
					  : "");
		return NULL;
	}
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(hs->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	hs->epoll_fd = info != NULL ? info->epoll_fd : -1;
	/* Weak: an idle web daemon must not keep a stopping loop alive. */
	if (hs->epoll_fd < 0 ||
	    ev_fd_add(server_ev(srv), hs->epoll_fd, EV_READ | EV_FD_WEAK,
		      on_epoll, hs, err) < 0) {
		if (hs->epoll_fd < 0)
			error_set(err, ERR_TEMP, "libmicrohttpd: no epoll fd");
		MHD_stop_daemon(hs->mhd);
		free(hs);
		return NULL;
	}
	return hs;
}

void http_server_free(struct http_server **hsp)
{
	struct http_server *hs = *hsp;
	if (hs == NULL)
		return;
	ev_fd_del(server_ev(hs->srv), hs->epoll_fd);
	EV_TIMER_DEL(server_ev(hs->srv), on_timer, hs);
	/* Closes the remaining connections (on_notify counts them down). */
	MHD_stop_daemon(hs->mhd);
	free(hs);
	*hsp = NULL;
}

void http_server_accept(struct http_server *hs, const struct server_conn *conn)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getpeername(conn->fd, (struct sockaddr *)&ss, &len) < 0) {
		close(conn->fd);
		server_conn_done(hs->srv);
		return;
	}
	/* MHD closes the socket itself when it refuses it; it calls
	 * on_notify only for connections it took. */
	if (MHD_add_connection(hs->mhd, conn->fd, (struct sockaddr *)&ss,
			       len) != MHD_YES) {
		log_warn("http: connection from %s refused: %s", conn->peer,
			 strerror(errno));
		server_conn_done(hs->srv);
		return;
	}
	http_run(hs);
}

enum MHD_Result http_reply(struct MHD_Connection *conn, unsigned status,
			   const char *content_type, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

void http_server_resume(struct http_server *hs, struct MHD_Connection *conn)
{
	MHD_resume_connection(conn);
	http_run(hs);
}

size_t http_no_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	return strlen(s);
}

void http_client_address(struct MHD_Connection *conn, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa;

	str_copy(out, "unknown", n);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			  out, (socklen_t)n);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)n);
}
