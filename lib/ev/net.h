/*
 * net - sockets: listeners, accept, non-blocking connect, addresses, and
 * a connection-limit helper for servers.
 *
 * Every descriptor returned here is non-blocking and close-on-exec.  The
 * caller owns it and closes it.  Functions return the fd (>= 0) or -1 with
 * err filled: ERR_CONFIG for an unparsable address or a port in use at
 * start-up (EADDRINUSE, EACCES), ERR_TEMP for resource shortages.
 *
 * Addresses are written "host:port", "[v6addr]:port", "*:port" / ":port"
 * (all IPv4 and IPv6 addresses), or "unix:/path".  Host names are resolved
 * with getaddrinfo() only for listeners (start-up); outbound connects take
 * numeric addresses, because the daemons resolve names asynchronously.
 */
#ifndef POSTERN_NET_H
#define POSTERN_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "core/error.h"

/* Room for "[ipv6%scope]:port" or a unix path. */
#define NET_ADDR_STRLEN 128
#define NET_UNIX_PATH_MAX 108

enum net_family { NET_TCP, NET_UNIX };

struct net_addr {
	enum net_family family;
	char host[NET_ADDR_STRLEN];   /* "" means any address (TCP) */
	unsigned port;		      /* TCP only, 0 = kernel's choice */
	char path[NET_UNIX_PATH_MAX]; /* NET_UNIX only */
};

/* Parse an address spec (above) into addr_r; -1 with ERR_CONFIG. */
int net_parse_addr(const char *spec, struct net_addr *addr_r,
		   struct error *err);

/*
 * TCP listener on host:port (host "" or "*": every address, IPv6 socket
 * accepting IPv4 too when available).  SO_REUSEADDR; IPV6_V6ONLY on
 * explicit IPv6 addresses.  backlog <= 0 means SOMAXCONN.
 */
int net_listen_tcp(const char *host, unsigned port, int backlog,
		   struct error *err);
/*
 * Unix listener at path with permissions mode (e.g. 0660).  A stale socket
 * file left by a dead process is removed first; anything else at path that
 * is not a socket is an error.
 */
int net_listen_unix(const char *path, mode_t mode, int backlog,
		    struct error *err);
/* Either of the above from a parsed address (mode applies to unix). */
int net_listen(const struct net_addr *addr, mode_t mode, int backlog,
	       struct error *err);

/*
 * accept4() a connection, non-blocking and close-on-exec.  Returns the fd,
 * or -1 with errno: EAGAIN when none is waiting (not an error), EMFILE /
 * ENFILE / ENOBUFS when out of descriptors (the caller should pause the
 * listener briefly), anything else is logged by the caller.  peer_r may be
 * NULL; if given, it receives the peer address as text ("unix" for unix
 * sockets) - size NET_ADDR_STRLEN.
 */
int net_accept(int listen_fd, char *peer_r, size_t peer_size);

/*
 * Start a non-blocking connect to a numeric host:port or a unix path.
 * Returns the fd with the connect in progress: wait for EV_WRITE, then
 * call net_connect_finish().  -1 with err on immediate failure.
 */
int net_connect_tcp(const char *host, unsigned port, struct error *err);
int net_connect_unix(const char *path, struct error *err);
int net_connect(const struct net_addr *addr, struct error *err);
/* After EV_WRITE: 0 when connected, -1 with err (ERR_TEMP) otherwise. */
int net_connect_finish(int fd, struct error *err);

/* A socket address as text: "192.0.2.1", "2001:db8::1" (no brackets) or
 * "unix"; the port goes to port_r when not NULL (0 for unix). */
void net_sockaddr_str(const struct sockaddr *sa, socklen_t len, char *out,
		      size_t outlen, unsigned *port_r);
/* Peer / local address of a connected socket; -1 (errno) on failure. */
int net_peer_str(int fd, char *out, size_t outlen, unsigned *port_r);
int net_local_str(int fd, char *out, size_t outlen, unsigned *port_r);
/* The local port a TCP socket is bound to (port 0 listeners); 0 on error. */
unsigned net_local_port(int fd);

/*
 * Connection limits of one server process: at most max_total connections
 * at once and at most max_per_addr from one client address (0 = no limit).
 * Counters are plain (loop thread only).  Acquire when accepting, release
 * exactly once when the connection ends, with the same address text.
 */
struct net_limit;

enum net_limit_result {
	NET_LIMIT_OK = 0,
	NET_LIMIT_TOTAL,    /* the process is full */
	NET_LIMIT_PER_ADDR, /* this client has too many connections */
};

struct net_limit *net_limit_new(unsigned max_total, unsigned max_per_addr);
void net_limit_free(struct net_limit **lim);
/* Count a new connection from addr if the limits allow it. */
enum net_limit_result net_limit_acquire(struct net_limit *lim,
					const char *addr);
void net_limit_release(struct net_limit *lim, const char *addr);
unsigned net_limit_total(const struct net_limit *lim);
unsigned net_limit_count(const struct net_limit *lim, const char *addr);

#endif
