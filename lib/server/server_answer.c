/*
 * server_answer - answer one line and close (see server_answer_close in
 * server.h).
 */
#include <stdlib.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "server/server.h"
#include "tls/io.h"

/* Long enough for a slow TLS client, short enough to shed idlers. */
#define ANSWER_TIMEOUT_MS 30000

struct answer {
	struct server *srv;
	char *line;
};

static void answer_end(struct io **io, struct answer *a)
{
	io_free(io);
	server_conn_done(a->srv);
	free(a->line);
	free(a);
}

static void answer_io(struct io *io, enum io_event event, void *ctx)
{
	struct answer *a = ctx;
	switch (event) {
	case IO_TLSREADY:
		io_print(io, a->line);
		io_close(io);
		return;
	case IO_DATAIN:
	case IO_LOWAT:
	case IO_CONNECTED:
		return;
	case IO_ERROR:
		log_debug(LOG_TRACE_IO, "answer: %s", io_error(io));
		answer_end(&io, a);
		return;
	case IO_TIMEOUT:
	case IO_DISCONNECTED:
		answer_end(&io, a);
		return;
	}
}

void server_answer_close(struct server *srv, const struct server_conn *conn,
			 const char *line)
{
	struct answer *a = xcalloc(1, sizeof(*a));
	a->srv = srv;
	a->line = xasprintf("%s\r\n", line);
	struct io *io = io_new(server_ev(srv), conn->fd, answer_io, a);
	io_set_timeout(io, ANSWER_TIMEOUT_MS);
	if (conn->tls == SERVICE_TLS_IMPLICIT) {
		struct error err;
		io_set_handshake_timeout(
			io, conf_time(server_conf(srv),
				      "tls_handshake_timeout") * 1000);
		if (server_tls(srv) == NULL ||
		    io_accept_tls(io, server_tls(srv), &err) < 0) {
			log_warn("TLS with %s: %s", conn->peer,
				 server_tls(srv) == NULL ? "no TLS context"
							 : err.msg);
			answer_end(&io, a);
		}
		return;
	}
	io_print(io, a->line);
	io_close(io);
}
