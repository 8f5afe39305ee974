/*
 * server_proxy - read an upstream PROXY protocol header on a freshly
 * accepted connection, on the event loop, before the daemon sees it
 * (internal to lib/server: server.c calls it when the daemon's
 * <prefix>_upstream_proxy_protocol is "haproxy").
 *
 * The connection is refused (closed, logged) when its peer is outside
 * NETWORKS (a haproxy_trusted_networks list; empty = any), when the
 * header is malformed, or when it has not arrived within TIMEOUT_MS.
 * Otherwise DELIVER is called once with a server_conn whose peer and
 * peer_port are the client's (the socket's own for LOCAL/UNKNOWN), and
 * the socket positioned just after the header.  On a refusal the fd is
 * closed and server_conn_done() is called.  Loop thread only.
 */
#ifndef POSTERN_SERVER_PROXY_H
#define POSTERN_SERVER_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "server/server.h"

typedef void server_proxy_deliver_fn(struct server *srv,
				     const struct server_conn *conn);

void server_proxy_start(struct server *srv, const struct server_conn *conn,
			int64_t timeout_ms, const char *networks,
			server_proxy_deliver_fn *deliver);

/*
 * Is ADDR ("192.0.2.1", "2001:db8::1") in NETWORKS ("127.0.0.0/8, ::1,
 * 10.1.2.3")?  Empty NETWORKS matches everything; an unparsable entry
 * matches nothing (logged by the caller at start-up via the check below).
 */
bool server_proxy_trusted(const char *networks, const char *addr);
/* 0, or -1 with err naming the first bad entry of NETWORKS. */
int server_proxy_check_networks(const char *networks, struct error *err);

#endif
