/*
 * lmtp-client - postern-lmtpd's side of an LMTP connection: the ops of
 * the shared connection glue (lmtp/lmtp_conn.h) that spool the message
 * to a temporary file and run resolution and delivery (lmtp-local.h) as
 * worker jobs, as Dovecot's lmtp-client.c.
 *
 * struct lmtp_daemon is the process state main.c keeps in the server
 * (server_set_ctx): the worker pool, the current backend (replaced on
 * reload; each client keeps the one it started with) and the live
 * connections, so that a stop can end the idle ones.
 *
 * Everything here runs on the loop thread but the worker jobs.
 */
#ifndef POSTERN_LMTP_CLIENT_H
#define POSTERN_LMTP_CLIENT_H

#include "core/list.h"
#include "server/server.h"

struct lmtp_backend;
struct lmtp_indexer;
struct worker_pool;

struct lmtp_daemon {
	struct server *srv;
	struct worker_pool *pool;
	struct lmtp_indexer *indexer; /* full-text index after replies */
	struct lmtp_backend *be;
	struct list_node clients; /* lmtp_conn.h's */
};

void lmtp_client_accept(struct lmtp_daemon *d, const struct server_conn *conn);
/* Shutting down: end the sessions that are between transactions. */
void lmtp_clients_stop(struct lmtp_daemon *d);

#endif
