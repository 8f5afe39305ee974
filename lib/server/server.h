/*
 * server - the skeleton every Postern daemon runs on (the role of
 * Postfix's multi_server.c): one process, one event loop, many
 * connections.
 *
 * server_main() does the common part of a daemon's life:
 *   - parses `-c DIR`, `-o name=value` (repeatable) and `-s SERVICE`;
 *   - loads main.cf with the overrides and sets up logging as
 *     postern/NAME (hooks->name);
 *   - takes the listening sockets from the master (the environment below)
 *     or, when run by hand, opens those of SERVICE in the services table
 *     itself (default: hooks->default_service);
 *   - creates the TLS server context when the service's TLS mode is not
 *     "none" ($tls_cert_file, $tls_key_file);
 *   - accepts connections, at most $max_connections at once (the
 *     listeners are paused while the process is full), and hands each to
 *     hooks->accept;
 *   - SIGHUP: reloads main.cf (same overrides) and the TLS certificate,
 *     then calls hooks->reload; a broken main.cf keeps the old one;
 *   - SIGTERM / SIGINT: closes the listeners at once (so the master can
 *     rebind and the ports free up), calls hooks->stop, and returns when
 *     the loop has nothing left (live sessions finish first).
 *
 * Environment set by the master (like systemd socket activation):
 *   POSTERN_LISTEN_FDS  number of listening sockets, at fds 3, 4, ...
 *   POSTERN_SERVICE     the service name ("smtp")
 *   POSTERN_TLS         none | starttls | implicit
 *   POSTERN_READY_FD    a pipe: the daemon writes "ready\n" once it
 *                       accepts, or "fail MESSAGE\n" if start-up failed.
 *
 * server_main() returns the process exit status (0 after a graceful stop,
 * 1 on a start-up failure, logged).  Everything runs on the loop thread.
 */
#ifndef POSTERN_SERVER_H
#define POSTERN_SERVER_H

#include <stdbool.h>

#include "conf/conf.h"
#include "core/error.h"
#include "server/services.h"

struct ev;
struct server;
struct tls_ctx;

/* One accepted connection, as handed to hooks->accept. */
struct server_conn {
	/* Non-blocking, close-on-exec; the hook owns it. */
	int fd;
	const char *service;  /* "smtp" */
	const char *listener; /* the listen address, "127.0.0.1:2525" */
	enum service_tls tls; /* the listener's TLS mode */
	const char *peer;     /* peer address, "192.0.2.1" ("unix" for unix) */
	unsigned peer_port;   /* 0 for unix sockets */
	/* Behind an upstream PROXY protocol load balancer: its address and
	 * port (peer is then the client's); NULL / 0 otherwise. */
	const char *proxy_peer;
	unsigned proxy_peer_port;
	/* The PROXY header's destination: the address the client reached
	 * at the balancer (logs' lip=); NULL when there is none (no
	 * header, LOCAL): use listener. */
	const char *local;
	unsigned local_port;
	/* An accepted PROXY v2 header carried PP2_TYPE_SSL with
	 * PP2_CLIENT_SSL: the client spoke TLS to the balancer, so the
	 * session counts as secured (docs/scaling.md "Load balancers").
	 * Version and cipher as the balancer reported them ("" when not
	 * sent); all NULL when proxy_tls is false. */
	bool proxy_tls;
	const char *proxy_tls_version;
	const char *proxy_tls_cipher;
	const char *proxy_tls_cn;
	const char *proxy_authority; /* SNI; NULL or "" when not sent */
};

struct server_hooks {
	const char *name;	     /* "smtpd": logs as postern/smtpd */
	const char *default_service; /* services-table entry for manual runs */
	/*
	 * After config, logging and listeners, before the first accept (may
	 * be NULL).  -1 with err ends start-up with that message.
	 */
	int (*init)(struct server *srv, struct error *err);
	/*
	 * A new connection (required).  The strings in conn are borrowed for
	 * the call.  The daemon must call server_conn_done() exactly once
	 * when the connection ends, so max_connections stays accurate.
	 */
	void (*accept)(struct server *srv, const struct server_conn *conn);
	/* After a successful SIGHUP reload (may be NULL). */
	void (*reload)(struct server *srv);
	/* SIGTERM: listeners are closed; end or finish sessions (may be NULL).
	 */
	void (*stop)(struct server *srv);
	/* Just before server_main returns (may be NULL). */
	void (*fini)(struct server *srv);
	/*
	 * Upstream PROXY protocol (may be NULL: never).  With "smtpd", the
	 * parameters smtpd_upstream_proxy_protocol (empty or "haproxy") and
	 * smtpd_upstream_proxy_timeout apply, usually set per service with
	 * -o: each connection must then start with a PROXY v1/v2 header,
	 * read on the loop before hooks->accept, whose conn->peer is the
	 * client's address (server_proxy.h); haproxy_trusted_networks limits
	 * who may send one.
	 */
	const char *proxy_prefix;
};

int server_main(int argc, char **argv, const struct server_hooks *hooks);

/* The process's loop, config (replaced by reload: do not keep the
 * pointer across loop iterations), TLS context (NULL when the service
 * has TLS mode "none"), and service name. */
struct ev *server_ev(const struct server *srv);
const struct conf *server_conf(const struct server *srv);
struct tls_ctx *server_tls(const struct server *srv);
const char *server_service(const struct server *srv);
bool server_stopping(const struct server *srv);

/*
 * PREFIX_tls_req_ccert (imapd, lmtpd): when yes, every TLS connection of
 * this service must present a client certificate that verifies against
 * $PREFIX_tls_ccert_CAfile (the backend listeners of a cluster,
 * docs/proxy.md), or the handshake fails.  Call from hooks->init.  A
 * service without TLS logs a warning and goes on; -1 with err
 * (ERR_CONFIG) when the CA file is empty or cannot be loaded.
 */
int server_require_ccert(struct server *srv, const char *prefix,
			 struct error *err);

/* The daemon's own state, for hooks. */
void server_set_ctx(struct server *srv, void *ctx);
void *server_ctx(const struct server *srv);

/* A connection handed to hooks->accept has ended. */
void server_conn_done(struct server *srv);
/* Connections currently counted against max_connections. */
unsigned server_conn_count(const struct server *srv);

/*
 * Answer LINE (with its CRLF) and close: for daemons that cannot serve
 * yet, or a process that is full.  On an implicit-TLS listener the line is
 * sent after the TLS handshake.  Takes over conn->fd and calls
 * server_conn_done() when the connection is gone.
 */
void server_answer_close(struct server *srv, const struct server_conn *conn,
			 const char *line);

#endif
