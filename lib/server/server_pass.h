/*
 * server_pass - hand an accepted client connection to another daemon over
 * a unix socket (SCM_RIGHTS), as Postfix's postscreen passes a client to
 * smtpd: one message per client, the connection's fd plus a few
 * `name=value` lines that describe it.
 *
 * The message is one datagram-sized write on a fresh unix stream
 * connection: "postern-pass 1\n" then the fields, each "name=value\n"
 * (values without newlines), at most SERVER_PASS_MAX bytes.  Unknown
 * names are ignored, so fields can be added.
 *
 * Ownership: server_pass_send() does not close the client fd (the sender
 * closes its copy once sent); server_pass_recv() gives the receiver a new
 * fd (close-on-exec, non-blocking) it owns, and strings in struct
 * server_pass that live in the caller's buffer.  Errors: -1 with err
 * (ERR_TEMP: try again or drop; ERR_PERM: a malformed message).
 */
#ifndef POSTERN_SERVER_PASS_H
#define POSTERN_SERVER_PASS_H

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
