/*
 * smtpd-pass.c - clients handed over by postern-postscreen (the Postfix
 * "smtpd pass" service): a connection on one of $smtpd_pass_services
 * carries one message with the client's fd and what postscreen found
 * (lib/server/server_pass.h); the client then starts an ordinary session
 * as if this process had accepted it on the original service (logs,
 * restrictions and anvil see the client's address, STARTTLS the
 * original listener's TLS mode; behind a balancer, what postscreen's
 * PROXY header said: lip=, and a TLS-terminating balancer's
 * PP2_CLIENT_SSL, which secures the session as on smtpd's own PROXY
 * path).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/array.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "server/server_pass.h"

#include "smtpd.h"

/* postscreen sends at once; a pass socket silent this long is dropped. */
#define SMTPD_PASS_TIMEOUT_MS 10000

struct pass_conn {
	struct smtpd *smtpd;
	int fd;
};

static void pass_timeout(struct ev *ev, struct pass_conn *pc);

static void pass_end(struct pass_conn *pc, bool counted)
{
	ev_fd_del(pc->smtpd->ev, pc->fd);
	EV_TIMER_DEL(pc->smtpd->ev, pass_timeout, pc);
	close(pc->fd);
	if (!counted && pc->smtpd->srv != NULL)
		server_conn_done(pc->smtpd->srv);
	free(pc);
}

static void pass_timeout(struct ev *ev, struct pass_conn *pc)
{
	(void)ev;
	log_warn("postscreen pass: no message in %d ms; closed",
		 SMTPD_PASS_TIMEOUT_MS);
	pass_end(pc, false);
}

static void pass_read(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct pass_conn *pc = ctx;
	char buf[SERVER_PASS_MAX + 1];
	struct server_pass p;
	struct server_conn conn;
	struct error err;
	int client;
	int ret = server_pass_recv(fd, buf, &client, &p, &err);

	(void)ev;
	(void)events;
	if (ret == 0)
		return;
	if (ret < 0) {
		log_warn("postscreen pass: %s", err.msg);
		pass_end(pc, false);
		return;
	}
	memset(&conn, 0, sizeof(conn));
	conn.fd = client;
	conn.service = p.service;
	conn.listener = p.listener;
	conn.tls = p.tls;
	conn.peer = p.peer;
	conn.peer_port = p.peer_port;
	/* postscreen's upstream PROXY header, as smtpd-session.c takes
	 * its own (the balancer's TLS included). */
	conn.proxy_peer = p.proxy_peer;
	conn.proxy_peer_port = p.proxy_peer_port;
	conn.local = p.local;
	conn.local_port = p.local_port;
	conn.proxy_tls = p.proxy_tls;
	conn.proxy_tls_version = p.proxy_tls_version;
	conn.proxy_tls_cipher = p.proxy_tls_cipher;
	conn.proxy_tls_cn = p.proxy_tls_cn;
	conn.proxy_authority = p.proxy_authority;
	log_info("postscreen: [%s]:%u %s (%s)", p.peer, p.peer_port,
		 p.verdict, p.facts);
	struct smtpd *smtpd = pc->smtpd;
	/* The session takes over this connection's count. */
	pass_end(pc, true);
	smtpd_session_start(smtpd, &conn);
}

bool smtpd_pass_service(const struct conf *conf, const char *service)
{
	struct array *names =
	    str_split(conf_str(conf, "smtpd_pass_services"), ", \t");
	bool found = false;

	for (size_t i = 0; i < array_len(names) && !found; i++)
		found = strcasecmp(array_get(names, i), service) == 0;
	array_free_with(&names, free);
	return found;
}

void smtpd_pass_accept(struct smtpd *smtpd, const struct server_conn *conn)
{
	struct pass_conn *pc = xcalloc(1, sizeof(*pc));
	struct error err;

	pc->smtpd = smtpd;
	pc->fd = conn->fd;
	if (ev_fd_add(smtpd->ev, pc->fd, EV_READ, pass_read, pc, &err) < 0) {
		log_warn("postscreen pass: %s", err.msg);
		close(pc->fd);
		free(pc);
		if (smtpd->srv != NULL)
			server_conn_done(smtpd->srv);
		return;
	}
	EV_TIMER_ADD(smtpd->ev, SMTPD_PASS_TIMEOUT_MS, pass_timeout, pc);
}
