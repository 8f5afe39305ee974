/*
 * net_addr.c - address specs ("host:port", "[v6]:port", "unix:/path") and
 * socket addresses as text.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "core/str.h"
#include "ev/net.h"

int net_parse_addr(const char *spec, struct net_addr *addr_r, struct error *err)
{
	const char *colon, *host = spec;
	size_t hostlen;
	unsigned long long port;

	memset(addr_r, 0, sizeof(*addr_r));
	if (str_has_prefix(spec, "unix:")) {
		const char *path = spec + 5;

		if (*path == '\0' || strlen(path) >= NET_UNIX_PATH_MAX)
			return error_set(err, ERR_CONFIG,
					 "bad unix socket path in \"%s\"",
					 spec);
		addr_r->family = NET_UNIX;
		str_copy(addr_r->path, path, sizeof(addr_r->path));
		return 0;
	}
	addr_r->family = NET_TCP;
	if (*spec == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL || close[1] != ':')
			return error_set(
			    err, ERR_CONFIG,
			    "bad address \"%s\": expected [v6]:port", spec);
		host = spec + 1;
		hostlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL)
			return error_set(err, ERR_CONFIG,
					 "bad address \"%s\": no port", spec);
		if (memchr(spec, ':', (size_t)(colon - spec)) != NULL)
			return error_set(err, ERR_CONFIG,
					 "bad address \"%s\": write IPv6 "
					 "addresses as [addr]:port",
					 spec);
		hostlen = (size_t)(colon - spec);
	}
	if (hostlen >= sizeof(addr_r->host))
		return error_set(err, ERR_CONFIG, "address too long: \"%s\"",
				 spec);
	if (!str_to_u64(colon + 1, &port) || port > 65535)
		return error_set(err, ERR_CONFIG, "bad port in \"%s\"", spec);
	memcpy(addr_r->host, host, hostlen);
	addr_r->host[hostlen] = '\0';
	if (strcmp(addr_r->host, "*") == 0)
		addr_r->host[0] = '\0';
	addr_r->port = (unsigned)port;
	return 0;
}

void net_sockaddr_str(const struct sockaddr *sa, socklen_t len, char *out,
		      size_t outlen, unsigned *port_r)
{
	unsigned port = 0;

	if (outlen > 0)
		out[0] = '\0';
	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)outlen);
		port = ntohs(in->sin_port);
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		/* Show IPv4 clients of a dual-stack socket as plain IPv4,
		 * so limits and logs see one form per client. */
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], out,
				  (socklen_t)outlen);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, out,
				  (socklen_t)outlen);
		port = ntohs(in6->sin6_port);
		break;
	}
	case AF_UNIX:
		str_copy(out, "unix", outlen);
		break;
	default:
		str_copy(out, "unknown", outlen);
		break;
	}
	(void)len;
	if (port_r != NULL)
		*port_r = port;
}

int net_peer_str(int fd, char *out, size_t outlen, unsigned *port_r)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	net_sockaddr_str((struct sockaddr *)&ss, len, out, outlen, port_r);
	return 0;
}

int net_local_str(int fd, char *out, size_t outlen, unsigned *port_r)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	net_sockaddr_str((struct sockaddr *)&ss, len, out, outlen, port_r);
	return 0;
}

unsigned net_local_port(int fd)
{
	char tmp[NET_ADDR_STRLEN];
	unsigned port = 0;

	if (net_local_str(fd, tmp, sizeof(tmp), &port) < 0)
		return 0;
	return port;
}
