/*
 * lmtp-client - one LMTP connection: the io, the spool file and the
 * worker jobs around a protocol session (lmtp-session.h), as Dovecot's
 * lmtp-client.c.
 *
 * struct lmtp_daemon is the process state main.c keeps in the server
 * (server_set_ctx): the worker pool, the current backend (replaced on
 * reload; each client keeps the one it started with) and the live
 * clients, so that a stop can end the idle ones.
 *
 * A client is freed when its connection has ended AND no worker job of
 * its own is running (a job's completion may outlive the socket).
 * Everything here runs on the loop thread.
 */
#ifndef POSTERN_LMTP_CLIENT_H
#define POSTERN_LMTP_CLIENT_H

#include <stdint.h>

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
	struct list_node clients;
	uint32_t next_id;
};

void lmtp_client_accept(struct lmtp_daemon *d, const struct server_conn *conn);
/* Shutting down: end the sessions that are between transactions. */
void lmtp_clients_stop(struct lmtp_daemon *d);

#endif
