/*
 * server_pass - hand an accepted client connection to another daemon over
 * a unix socket (SCM_RIGHTS), as Postfix's postscreen passes a client to
 * smtpd: one message per client, the connection's fd plus a few
 * `name=value` lines that describe it.
 *
 * The message is one datagram-sized write on a fresh unix stream
 * connection: "postern-pass 1\n" then the fields, each "name=value\n"
 * (values without newlines), at most SERVER_PASS_MAX bytes.  Unknown
 * names are ignored, so fields can be added: the proxy_* / local /
 * tls_* fields came later, and a receiver without them still takes the
 * client (as not secured), one with them still takes a message without.
 *
 * Ownership: server_pass_send() does not close the client fd (the sender
 * closes its copy once sent); server_pass_recv() gives the receiver a new
 * fd (close-on-exec, non-blocking) it owns, and strings in struct
 * server_pass that live in the caller's buffer.  Errors: -1 with err
 * (ERR_TEMP: try again or drop; ERR_PERM: a malformed message).
 */
#ifndef POSTERN_SERVER_PASS_H
#define POSTERN_SERVER_PASS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "server/services.h"

#define SERVER_PASS_MAX 2048

struct server_pass {
	const char *service;  /* the original service ("smtp") */
	const char *listener; /* "127.0.0.1:25" */
	enum service_tls tls; /* the original listener's TLS mode */
	const char *peer;     /* "192.0.2.1" */
	unsigned peer_port;
	const char *verdict;  /* "PASS NEW", "PASS OLD", "ALLOWLISTED" ... */
	const char *facts;    /* what smtpd should log: "dnsbl_rank=0 ..." */
	/*
	 * What an accepted upstream PROXY header said (server.h struct
	 * server_conn, same meaning): the balancer, the header's
	 * destination, and PP2_CLIENT_SSL with the balancer's TLS details,
	 * so that smtpd treats the session as its own PROXY path would.
	 * Sent only when proxy_peer is set; a receiver gets NULL / 0 /
	 * false for what was not sent, and "" for a missing TLS detail
	 * when proxy_tls is true.  A message with proxy_tls and no
	 * proxy_peer, or a bad port or flag, is malformed.
	 */
	const char *proxy_peer;
	unsigned proxy_peer_port;
	const char *local;
	unsigned local_port;
	bool proxy_tls;
	const char *proxy_tls_version;
	const char *proxy_tls_cipher;
	const char *proxy_tls_cn;
	const char *proxy_authority;
};

/* Send FD and P over the connected unix socket SOCK (blocking or not:
 * the message fits a fresh socket's buffer). */
int server_pass_send(int sock, int fd, const struct server_pass *p,
		     struct error *err);

/*
 * Read one message from SOCK into BUF (SERVER_PASS_MAX + 1 bytes): 1 with
 * *fd_r and *p filled (strings point into buf), 0 when nothing has
 * arrived yet (EAGAIN), -1 with err (EOF, no fd, malformed).
 */
int server_pass_recv(int sock, char *buf, int *fd_r, struct server_pass *p,
		     struct error *err);

/* Parse the text part of a message (LEN bytes in BUF, modified in place:
 * fields point into it).  For server_pass_recv and fuzzing. */
int server_pass_parse(char *buf, size_t len, struct server_pass *p,
		      struct error *err);

#endif
