/*
 * server_pass.c - client connections handed between daemons with
 * SCM_RIGHTS (server_pass.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/str.h"

#include "server/server_pass.h"

#define PASS_MAGIC "postern-pass 1\n"

static size_t newline_count(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	return n;
}

static const char *or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/* The fields of an accepted upstream PROXY header (server_pass.h). */
static void append_proxy(struct buf *b, const struct server_pass *p)
{
	buf_printf(b, "proxy_peer=%s\nproxy_port=%u\n", p->proxy_peer,
		   p->proxy_peer_port);
	if (p->local != NULL)
		buf_printf(b, "local=%s\nlocal_port=%u\n", p->local,
			   p->local_port);
	if (p->proxy_tls)
		buf_printf(b,
			   "proxy_tls=1\ntls_version=%s\ntls_cipher=%s\n"
			   "tls_cn=%s\nauthority=%s\n",
			   or_empty(p->proxy_tls_version),
			   or_empty(p->proxy_tls_cipher),
			   or_empty(p->proxy_tls_cn),
			   or_empty(p->proxy_authority));
}

/* The lines append_proxy() writes for p (for the newline check). */
static size_t proxy_fields(const struct server_pass *p)
{
	if (p->proxy_peer == NULL)
		return 0;
	return 2 + (p->local != NULL ? 2 : 0) + (p->proxy_tls ? 5 : 0);
}

int server_pass_send(int sock, int fd, const struct server_pass *p,
		     struct error *err)
{
	struct buf *b = buf_new();
	size_t fields = 1 + 7 + proxy_fields(p); /* magic + base fields */
	union {
		struct cmsghdr hdr;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov;
	struct msghdr msg;
	ssize_t n;

	buf_printf(b,
		   PASS_MAGIC "service=%s\nlistener=%s\ntls=%s\npeer=%s\n"
			      "port=%u\nverdict=%s\nfacts=%s\n",
		   p->service, p->listener != NULL ? p->listener : "",
		   service_tls_name(p->tls), p->peer, p->peer_port,
		   p->verdict != NULL ? p->verdict : "",
		   p->facts != NULL ? p->facts : "");
	if (p->proxy_peer != NULL)
		append_proxy(b, p);
	if (buf_len(b) > SERVER_PASS_MAX) {
		buf_free(&b);
		return error_set(err, ERR_PERM, "pass message too long");
	}
	/* Each field is one line: a value with a newline would forge the
	 * next field. */
	if (newline_count(buf_data(b), buf_len(b)) != fields) {
		buf_free(&b);
		return error_set(err, ERR_PERM, "pass: newline in a value");
	}
	memset(&ctl, 0, sizeof(ctl));
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)buf_data(b);
	iov.iov_len = buf_len(b);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.space;
	msg.msg_controllen = sizeof(ctl.space);
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (size_t)n != buf_len(b)) {
		int e = n < 0 ? errno : EMSGSIZE;
		buf_free(&b);
		return error_set(err, ERR_TEMP, "pass: sendmsg: %s",
				 strerror(e));
	}
	buf_free(&b);
	return 0;
}

static int parse_port(const char *v, unsigned *port_r, struct error *err)
{
	unsigned long long port;

	if (!str_to_u64(v, &port) || port > 65535)
		return error_set(err, ERR_PERM, "pass: bad port");
	*port_r = (unsigned)port;
	return 0;
}

/* One of the upstream PROXY fields; 0 also for an unknown name. */
static int parse_proxy_field(const char *name, char *v, struct server_pass *p,
			     struct error *err)
{
	if (strcmp(name, "proxy_peer") == 0)
		p->proxy_peer = v;
	else if (strcmp(name, "proxy_port") == 0)
		return parse_port(v, &p->proxy_peer_port, err);
	else if (strcmp(name, "local") == 0)
		p->local = v;
	else if (strcmp(name, "local_port") == 0)
		return parse_port(v, &p->local_port, err);
	else if (strcmp(name, "proxy_tls") == 0) {
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
			return error_set(err, ERR_PERM, "pass: bad proxy_tls");
		p->proxy_tls = v[0] == '1';
	} else if (strcmp(name, "tls_version") == 0)
		p->proxy_tls_version = v;
	else if (strcmp(name, "tls_cipher") == 0)
		p->proxy_tls_cipher = v;
	else if (strcmp(name, "tls_cn") == 0)
		p->proxy_tls_cn = v;
	else if (strcmp(name, "authority") == 0)
		p->proxy_authority = v;
	return 0;
}

int server_pass_parse(char *buf, size_t len, struct server_pass *p,
		      struct error *err)
{
	char *line, *end = buf + len;

	memset(p, 0, sizeof(*p));
	p->tls = SERVICE_TLS_NONE;
	if (len < strlen(PASS_MAGIC) ||
	    memcmp(buf, PASS_MAGIC, strlen(PASS_MAGIC)) != 0)
		return error_set(err, ERR_PERM, "pass: not a pass message");
	if (memchr(buf, '\0', len) != NULL)
		return error_set(err, ERR_PERM, "pass: NUL in message");
	line = buf + strlen(PASS_MAGIC);
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		char *eq;
		if (nl == NULL)
			return error_set(err, ERR_PERM, "pass: unterminated "
							"field");
		*nl = '\0';
		eq = strchr(line, '=');
		if (eq == NULL)
			return error_set(err, ERR_PERM, "pass: field without "
							"=");
		*eq++ = '\0';
		if (strcmp(line, "service") == 0)
			p->service = eq;
		else if (strcmp(line, "listener") == 0)
			p->listener = eq;
		else if (strcmp(line, "tls") == 0) {
			if (service_tls_parse(eq, &p->tls) < 0)
				return error_set(err, ERR_PERM,
						 "pass: bad tls");
		} else if (strcmp(line, "peer") == 0)
			p->peer = eq;
		else if (strcmp(line, "port") == 0) {
			if (parse_port(eq, &p->peer_port, err) < 0)
				return -1;
		} else if (strcmp(line, "verdict") == 0)
			p->verdict = eq;
		else if (strcmp(line, "facts") == 0)
			p->facts = eq;
		else if (parse_proxy_field(line, eq, p, err) < 0)
			return -1;
		line = nl + 1;
	}
	if (p->service == NULL || *p->service == '\0' || p->peer == NULL ||
	    *p->peer == '\0')
		return error_set(err, ERR_PERM, "pass: no service or peer");
	/* TLS claimed for the session needs the balancer it came from. */
	if (p->proxy_tls && (p->proxy_peer == NULL || *p->proxy_peer == '\0'))
		return error_set(err, ERR_PERM,
				 "pass: proxy_tls without proxy_peer");
	if (p->proxy_peer != NULL && *p->proxy_peer == '\0')
		p->proxy_peer = NULL;
	if (p->proxy_tls) {
		p->proxy_tls_version = or_empty(p->proxy_tls_version);
		p->proxy_tls_cipher = or_empty(p->proxy_tls_cipher);
		p->proxy_tls_cn = or_empty(p->proxy_tls_cn);
		p->proxy_authority = or_empty(p->proxy_authority);
	} else {
		/* Details without the flag say nothing: as server.h. */
		p->proxy_tls_version = p->proxy_tls_cipher = NULL;
		p->proxy_tls_cn = p->proxy_authority = NULL;
	}
	if (p->listener == NULL)
		p->listener = "";
	if (p->verdict == NULL)
		p->verdict = "";
	if (p->facts == NULL)
		p->facts = "";
	return 0;
}

int server_pass_recv(int sock, char *buf, int *fd_r, struct server_pass *p,
		     struct error *err)
{
	union {
		struct cmsghdr hdr;
		char space[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = SERVER_PASS_MAX};
	struct msghdr msg;
	ssize_t n;
	int fd = -1;

	*fd_r = -1;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.space;
	msg.msg_controllen = sizeof(ctl.space);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0)
		return error_set(err, ERR_TEMP, "pass: recvmsg: %s",
				 strerror(errno));
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL;
	     c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int x;
			memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fd < 0)
				fd = x;
			else
				close(x);
		}
	}
	if (n == 0 && fd < 0)
		return error_set(err, ERR_TEMP, "pass: closed before a message");
	if (fd < 0)
		return error_set(err, ERR_PERM, "pass: message without an fd");
	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
	    server_pass_parse(buf, (size_t)n, p, err) < 0) {
		close(fd);
		if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0)
			error_set(err, ERR_PERM, "pass: message truncated");
		return -1;
	}
	buf[n] = '\0';
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	*fd_r = fd;
	return 1;
}
