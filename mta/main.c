/*
 * postern-smtpd - the SMTP server (MX, submission, submissions).
 *
 * Not ready yet: every connection is answered
 *   421 4.3.2 Service not yet available
 * and closed (after the TLS handshake on an implicit-TLS listener).
 * The protocol engine replaces on_accept in a later issue; the lifecycle
 * (listeners from the master, reload, graceful stop) is the server
 * skeleton's (server/server.h).
 */
#include "server/server.h"

static void on_accept(struct server *srv, const struct server_conn *conn)
{
	server_answer_close(srv, conn, "421 4.3.2 Service not yet available");
}

int main(int argc, char **argv)
{
	static const struct server_hooks hooks = {
	    .name = "smtpd",
	    .default_service = "smtp",
	    .accept = on_accept,
	};
	return server_main(argc, argv, &hooks);
}
