/*
 * server_proxy - the PROXY protocol header reader of the accept path (see
 * server_proxy.h).  It peeks at what the socket holds and consumes only
 * header bytes, so a client that pipelines right after the header loses
 * nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/array.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "server/proxy_proto.h"
#include "server/server_proxy.h"

struct pending {
	struct server *srv;
	server_proxy_deliver_fn *deliver;
	int fd;
	char *service;
	char *listener;
	enum service_tls tls;
	char peer[NET_ADDR_STRLEN];
	unsigned peer_port;
	int64_t timeout_ms;
	size_t have;
	uint8_t buf[PROXY_PROTO_MAX];
};

static void pending_free(struct pending *p)
{
	free(p->service);
	free(p->listener);
	free(p);
}

static void on_timeout(struct ev *ev, void *ctx);

static void fail(struct pending *p, const char *why)
{
	struct ev *ev = server_ev(p->srv);
	log_info("upstream proxy: [%s]:%u on %s: %s; lost connection after "
		 "upstream proxy header",
		 p->peer, p->peer_port, p->listener, why);
	ev_fd_del(ev, p->fd);
	ev_timer_del(ev, on_timeout, p);
	close(p->fd);
	server_conn_done(p->srv);
	pending_free(p);
}

static void on_timeout(struct ev *ev, void *ctx)
{
	(void)ev;
	struct pending *p = ctx;
	char why[64];
	snprintf(why, sizeof(why), "no complete header within %lld ms",
		 (long long)p->timeout_ms);
	fail(p, why);
}

static void finish(struct pending *p, const struct proxy_proto_info *info)
{
	struct ev *ev = server_ev(p->srv);
	ev_fd_del(ev, p->fd);
	ev_timer_del(ev, on_timeout, p);
	struct server_conn conn = {
	    .fd = p->fd,
	    .service = p->service,
	    .listener = p->listener,
	    .tls = p->tls,
	    .peer = info->local ? p->peer : info->src,
	    .peer_port = info->local ? p->peer_port : info->src_port,
	    .proxy_peer = p->peer,
	    .proxy_peer_port = p->peer_port,
	    .local = info->local ? NULL : info->dst,
	    .local_port = info->local ? 0 : info->dst_port,
	};
	if (!info->local && info->ssl &&
	    (info->ssl_client & PROXY_PROTO_CLIENT_SSL) != 0) {
		conn.proxy_tls = true;
		conn.proxy_tls_version = info->ssl_version;
		conn.proxy_tls_cipher = info->ssl_cipher;
		conn.proxy_tls_cn = info->ssl_cn;
		conn.proxy_authority = info->authority;
	}
	log_debug(
	    LOG_TRACE_IO,
	    "upstream proxy: [%s]:%u on %s: PROXY v%d client [%s]:%u%s%s%s",
	    p->peer, p->peer_port, p->listener, info->version, conn.peer,
	    conn.peer_port, info->local ? " (local)" : "",
	    conn.proxy_tls ? ", TLS via proxy " : "",
	    conn.proxy_tls ? info->ssl_version : "");
	p->deliver(p->srv, &conn);
	pending_free(p);
}

/* recv() exactly N bytes that a peek showed are there. */
static bool consume(int fd, uint8_t *to, size_t n)
{
	while (n > 0) {
		ssize_t r = recv(fd, to, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		to += r;
		n -= (size_t)r;
	}
	return true;
}

static void on_read(struct ev *ev, int fd, unsigned events, void *ctx)
{
	(void)ev;
	(void)events;
	struct pending *p = ctx;
	for (;;) {
		ssize_t n = recv(fd, p->buf + p->have, sizeof(p->buf) - p->have,
				 MSG_PEEK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			fail(p, strerror(errno));
			return;
		}
		if (n == 0) {
			fail(p, p->have == 0 ? "closed before the header"
					     : "closed inside the header");
			return;
		}
		struct proxy_proto_info info;
		struct error err = {0};
		int r =
		    proxy_proto_parse(p->buf, p->have + (size_t)n, &info, &err);
		if (r < 0) {
			fail(p, err.msg);
			return;
		}
		/* Need more: all the peeked bytes are header; else only up
		 * to its end. */
		size_t take = r == 0 ? (size_t)n : (size_t)r - p->have;
		if (!consume(fd, p->buf + p->have, take)) {
			fail(p, "read error");
			return;
		}
		p->have += take;
		if (r > 0) {
			finish(p, &info);
			return;
		}
	}
}

void server_proxy_start(struct server *srv, const struct server_conn *conn,
			int64_t timeout_ms, const char *networks,
			server_proxy_deliver_fn *deliver)
{
	struct pending *p = xcalloc(1, sizeof(*p));
	p->srv = srv;
	p->deliver = deliver;
	p->fd = conn->fd;
	p->service = xstrdup(conn->service);
	p->listener = xstrdup(conn->listener);
	p->tls = conn->tls;
	str_copy(p->peer, conn->peer, sizeof(p->peer));
	p->peer_port = conn->peer_port;
	p->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;

	if (!server_proxy_trusted(networks, p->peer)) {
		log_warn("upstream proxy: connection from [%s]:%u on %s "
			 "refused: not in haproxy_trusted_networks",
			 p->peer, p->peer_port, p->listener);
		close(p->fd);
		server_conn_done(srv);
		pending_free(p);
		return;
	}
	struct error err;
	if (ev_fd_add(server_ev(srv), p->fd, EV_READ, on_read, p, &err) < 0) {
		log_warn("upstream proxy: %s", err.msg);
		close(p->fd);
		server_conn_done(srv);
		pending_free(p);
		return;
	}
	ev_timer_add(server_ev(srv), p->timeout_ms, on_timeout, p);
}

/* One "addr" or "addr/bits" entry into family, bytes and prefix bits. */
static bool parse_net(const char *s, int *af_r, uint8_t net[16], int *bits_r)
{
	char tmp[NET_ADDR_STRLEN];
	if (str_copy(tmp, s, sizeof(tmp)) >= sizeof(tmp))
		return false;
	int bits = -1;
	char *slash = strchr(tmp, '/');
	if (slash != NULL) {
		unsigned long long v;
		*slash = '\0';
		if (!str_to_u64(slash + 1, &v) || v > 128)
			return false;
		bits = (int)v;
	}
	char *h = tmp;
	size_t hl = strlen(h);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h[hl - 1] = '\0';
		h++;
	}
	if (inet_pton(AF_INET, h, net) == 1) {
		*af_r = AF_INET;
		if (bits > 32)
			return false;
		*bits_r = bits < 0 ? 32 : bits;
		return true;
	}
	if (inet_pton(AF_INET6, h, net) == 1) {
		*af_r = AF_INET6;
		*bits_r = bits < 0 ? 128 : bits;
		return true;
	}
	return false;
}

static bool prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

bool server_proxy_trusted(const char *networks, const char *addr)
{
	if (networks == NULL || *networks == '\0')
		return true;
	uint8_t a[16];
	int aaf;
	if (inet_pton(AF_INET, addr, a) == 1)
		aaf = AF_INET;
	else if (inet_pton(AF_INET6, addr, a) == 1) {
		aaf = AF_INET6;
		/* An IPv4 client on a dual-stack socket: ::ffff:a.b.c.d. */
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
						   0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a, mapped, 12) == 0) {
			memmove(a, a + 12, 4);
			aaf = AF_INET;
		}
	} else
		return false;
	struct array *list = str_split(networks, ", \t");
	bool ok = false;
	for (size_t i = 0; i < array_len(list) && !ok; i++) {
		const char *e = array_get(list, i);
		uint8_t net[16];
		int af, bits;
		if (*e != '\0' && parse_net(e, &af, net, &bits) && af == aaf)
			ok = prefix_eq(a, net, bits);
	}
	array_free_with(&list, free);
	return ok;
}

int server_proxy_check_networks(const char *networks, struct error *err)
{
	if (networks == NULL || *networks == '\0')
		return 0;
	struct array *list = str_split(networks, ", \t");
	int ret = 0;
	for (size_t i = 0; i < array_len(list) && ret == 0; i++) {
		const char *e = array_get(list, i);
		uint8_t net[16];
		int af, bits;
		if (*e != '\0' && !parse_net(e, &af, net, &bits))
			ret = error_set(err, ERR_CONFIG,
					"haproxy_trusted_networks: bad entry "
					"\"%.60s\"",
					e);
	}
	array_free_with(&list, free);
	return ret;
}
