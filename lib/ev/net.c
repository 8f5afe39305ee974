/*
 * net.c - listeners, accept and non-blocking connect.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "ev/net.h"

static enum err_kind net_errno_kind(int e)
{
	switch (e) {
	case EADDRINUSE:
	case EACCES:
	case EADDRNOTAVAIL:
	case EAFNOSUPPORT:
	case EINVAL:
		return ERR_CONFIG;
	default:
		return ERR_TEMP;
	}
}

static int net_bind_listen(const struct addrinfo *ai, int backlog, bool v6only,
			   struct error *err)
{
	int fd, on = 1, saved;

	fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return error_set(err, net_errno_kind(errno), "socket: %s",
				 strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ai->ai_family == AF_INET6) {
		int v = v6only ? 1 : 0;

		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v));
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int net_listen_tcp(const char *host, unsigned port, int backlog,
		   struct error *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[16];
	bool any = host == NULL || *host == '\0' || strcmp(host, "*") == 0;
	int rc, fd = -1, last_errno = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	/* "any": one IPv6 socket that takes IPv4 too; fall back to IPv4
	 * below on kernels without IPv6. */
	hints.ai_family = any ? AF_INET6 : AF_UNSPEC;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(any ? NULL : host, portstr, &hints, &res);
	if (rc != 0 && any) {
		hints.ai_family = AF_INET;
		rc = getaddrinfo(NULL, portstr, &hints, &res);
	}
	if (rc != 0)
		return error_set(err, rc == EAI_AGAIN ? ERR_TEMP : ERR_CONFIG,
				 "listen %s:%u: %s", any ? "*" : host, port,
				 gai_strerror(rc));
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = net_bind_listen(ai, backlog, !any, err);
		if (fd < 0)
			last_errno = errno;
	}
	freeaddrinfo(res);
	if (fd < 0 && any && hints.ai_family == AF_INET6 &&
	    last_errno == EAFNOSUPPORT) {
		return net_listen_tcp("0.0.0.0", port, backlog, err);
	}
	if (fd < 0)
		return error_set(err, net_errno_kind(last_errno),
				 "listen %s:%u: %s", any ? "*" : host, port,
				 strerror(last_errno));
	return fd;
}

int net_listen_unix(const char *path, mode_t mode, int backlog,
		    struct error *err)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, saved;

	if (strlen(path) >= sizeof(sun.sun_path))
		return error_set(err, ERR_CONFIG,
				 "unix socket path too long: %s", path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return error_set(err, ERR_CONFIG,
					 "%s exists and is not a socket", path);
		/* A socket file outlives its process; a live server on it
		 * is the supervisor's business (one instance per service). */
		if (unlink(path) < 0)
			return error_set(err, ERR_CONFIG, "unlink %s: %s", path,
					 strerror(errno));
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	str_copy(sun.sun_path, path, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, ERR_TEMP, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto fail;
	/* chmod after bind: umask must not decide who may connect. */
	if (chmod(path, mode) < 0)
		goto fail;
	if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
		goto fail;
	return fd;
fail:
	saved = errno;
	close(fd);
	return error_set(err, net_errno_kind(saved), "listen unix:%s: %s", path,
			 strerror(saved));
}

int net_listen(const struct net_addr *addr, mode_t mode, int backlog,
	       struct error *err)
{
	if (addr->family == NET_UNIX)
		return net_listen_unix(addr->path, mode, backlog, err);
	return net_listen_tcp(addr->host, addr->port, backlog, err);
}

int net_accept(int listen_fd, char *peer_r, size_t peer_size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	do {
		fd = accept4(listen_fd, (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		/* Connections reset before accept are not our error. */
	} while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
	if (fd >= 0 && peer_r != NULL)
		net_sockaddr_str((struct sockaddr *)&ss, len, peer_r, peer_size,
				 NULL);
	return fd;
}

static int net_connect_sa(const struct sockaddr *sa, socklen_t len,
			  const char *what, struct error *err)
{
	int fd, saved;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return error_set(err, ERR_TEMP, "socket: %s", strerror(errno));
	if (connect(fd, sa, len) < 0 && errno != EINPROGRESS &&
	    errno != EINTR) {
		saved = errno;
		close(fd);
		return error_set(err, ERR_TEMP, "connect %s: %s", what,
				 strerror(saved));
	}
	return fd;
}

int net_connect_tcp(const char *host, unsigned port, struct error *err)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16], what[NET_ADDR_STRLEN + 16];
	int rc, fd;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	snprintf(what, sizeof(what), "%s:%u", host, port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0)
		return error_set(err, ERR_PERM, "connect %s: %s", what,
				 gai_strerror(rc));
	fd = net_connect_sa(res->ai_addr, res->ai_addrlen, what, err);
	freeaddrinfo(res);
	return fd;
}

int net_connect_unix(const char *path, struct error *err)
{
	struct sockaddr_un sun;

	if (strlen(path) >= sizeof(sun.sun_path))
		return error_set(err, ERR_PERM, "unix socket path too long: %s",
				 path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	str_copy(sun.sun_path, path, sizeof(sun.sun_path));
	return net_connect_sa((struct sockaddr *)&sun, sizeof(sun), path, err);
}

int net_connect(const struct net_addr *addr, struct error *err)
{
	if (addr->family == NET_UNIX)
		return net_connect_unix(addr->path, err);
	return net_connect_tcp(addr->host[0] ? addr->host : "127.0.0.1",
			       addr->port, err);
}

int net_connect_finish(int fd, struct error *err)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr != 0)
		return error_set(err, ERR_TEMP, "connect: %s", strerror(soerr));
	return 0;
}
