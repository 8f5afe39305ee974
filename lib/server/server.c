/*
 * server - the daemon skeleton (see server.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "server/server.h"
#include "server/server_proxy.h"
#include "tls/tls.h"

/* First inherited listener, as with systemd socket activation. */
#define SERVER_LISTEN_FDS_START 3
/* Accepts per readiness event: fairness between processes sharing a
 * listener, and between listeners. */
#define SERVER_ACCEPT_BURST 32
/* Pause after EMFILE/ENFILE before trying to accept again. */
#define SERVER_FD_PAUSE_MS 200

struct listener {
	int fd;
	char *addr;
};

struct server {
	const struct server_hooks *hooks;
	const char *config_dir;
	const char **overrides;
	size_t noverrides;
	char *service;
	enum service_tls tls;
	struct conf *conf;
	struct ev *ev;
	struct tls_ctx *tls_ctx;
	struct listener *ls;
	size_t nls;
	unsigned nconn;
	unsigned max_conn;
	bool paused;
	bool stopping;
	int ready_fd;
	void *ctx;
	bool proxy_on; /* read a PROXY header before hooks->accept */
	int64_t proxy_timeout_ms;
};

struct ev *server_ev(const struct server *srv)
{
	return srv->ev;
}

const struct conf *server_conf(const struct server *srv)
{
	return srv->conf;
}

struct tls_ctx *server_tls(const struct server *srv)
{
	return srv->tls_ctx;
}

const char *server_service(const struct server *srv)
{
	return srv->service;
}

bool server_stopping(const struct server *srv)
{
	return srv->stopping;
}

void server_set_ctx(struct server *srv, void *ctx)
{
	srv->ctx = ctx;
}

void *server_ctx(const struct server *srv)
{
	return srv->ctx;
}

unsigned server_conn_count(const struct server *srv)
{
	return srv->nconn;
}

static void listeners_interest(struct server *srv, unsigned interest)
{
	for (size_t i = 0; i < srv->nls; i++)
		if (srv->ls[i].fd >= 0)
			ev_fd_set(srv->ev, srv->ls[i].fd, interest, NULL);
}

static void resume_timer(struct ev *ev, void *ctx)
{
	struct server *srv = ctx;
	if (!srv->stopping && srv->nconn < srv->max_conn) {
		srv->paused = false;
		listeners_interest(srv, EV_READ);
	}
}

static void pause_listeners(struct server *srv)
{
	if (!srv->paused) {
		srv->paused = true;
		listeners_interest(srv, 0);
	}
}

void server_conn_done(struct server *srv)
{
	ASSERT(srv->nconn > 0);
	srv->nconn--;
	if (srv->paused && !srv->stopping && srv->nconn < srv->max_conn &&
	    !ev_timer_pending(srv->ev, resume_timer, srv)) {
		srv->paused = false;
		listeners_interest(srv, EV_READ);
	}
}

static void on_listen(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct server *srv = ctx;
	struct listener *l = NULL;
	for (size_t i = 0; i < srv->nls; i++)
		if (srv->ls[i].fd == fd)
			l = &srv->ls[i];
	if (l == NULL)
		return;

	for (int n = 0; n < SERVER_ACCEPT_BURST && !srv->stopping; n++) {
		if (srv->nconn >= srv->max_conn) {
			/* Full: leave the rest in the backlog (or to a
			 * sibling process) until a connection ends. */
			pause_listeners(srv);
			return;
		}
		int cfd = net_accept(fd, NULL, 0);
		if (cfd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept on %s: %s; pausing", l->addr,
					 strerror(errno));
				pause_listeners(srv);
				ev_timer_add(ev, SERVER_FD_PAUSE_MS,
					     resume_timer, srv);
				return;
			}
			log_warn("accept on %s: %s", l->addr, strerror(errno));
			return;
		}
		char peer[NET_ADDR_STRLEN] = "unknown";
		unsigned port = 0;
		if (net_peer_str(cfd, peer, sizeof(peer), &port) < 0)
			str_copy(peer, "unknown", sizeof(peer));
		struct server_conn conn = {.fd = cfd,
					   .service = srv->service,
					   .listener = l->addr,
					   .tls = srv->tls,
					   .peer = peer,
					   .peer_port = port};
		srv->nconn++;
		log_debug(LOG_TRACE_IO, "connect from %s on %s", peer, l->addr);
		if (srv->proxy_on) {
			/* The client's address comes in the PROXY header;
			 * hooks->accept is called once it has been read. */
			server_proxy_start(
			    srv, &conn, srv->proxy_timeout_ms,
			    conf_str(srv->conf, "haproxy_trusted_networks"),
			    srv->hooks->accept);
			continue;
		}
		srv->hooks->accept(srv, &conn);
	}
}

static void close_listeners(struct server *srv)
{
	for (size_t i = 0; i < srv->nls; i++) {
		if (srv->ls[i].fd < 0)
			continue;
		ev_fd_del(srv->ev, srv->ls[i].fd);
		close(srv->ls[i].fd);
		srv->ls[i].fd = -1;
	}
}

static void on_term(struct ev *ev, int signo, void *ctx)
{
	struct server *srv = ctx;
	if (srv->stopping)
		return;
	log_info("stopping on signal %d, %u connection(s) open", signo,
		 srv->nconn);
	srv->stopping = true;
	close_listeners(srv);
	ev_timer_del(ev, resume_timer, srv);
	if (srv->hooks->stop != NULL)
		srv->hooks->stop(srv);
	ev_stop_when_idle(ev);
}

/* <prefix>_upstream_proxy_protocol and _timeout, haproxy_trusted_networks;
 * nothing changes on an error (a reload keeps the old settings). */
static int apply_proxy_conf(struct server *srv, struct error *err)
{
	const char *pfx = srv->hooks->proxy_prefix;
	if (pfx == NULL)
		return 0;
	char name[96];
	snprintf(name, sizeof(name), "%s_upstream_proxy_protocol", pfx);
	const char *v = conf_str(srv->conf, name);
	if (*v != '\0' && strcmp(v, "haproxy") != 0)
		return error_set(err, ERR_CONFIG,
				 "%s = %.40s: only \"haproxy\" or empty", name,
				 v);
	if (server_proxy_check_networks(
		conf_str(srv->conf, "haproxy_trusted_networks"), err) < 0)
		return -1;
	/* Postfix's model (the port is reachable only from the balancer),
	 * but a peer that is not a balancer could then claim any client
	 * address, mynetworks and TLS included: say so once per load. */
	if (*v != '\0' &&
	    conf_str(srv->conf, "haproxy_trusted_networks")[0] == '\0')
		log_warn("%s = haproxy and haproxy_trusted_networks is empty: "
			 "any peer that reaches this port may claim any "
			 "client address and TLS; list the balancers there",
			 name);
	snprintf(name, sizeof(name), "%s_upstream_proxy_timeout", pfx);
	srv->proxy_timeout_ms = conf_time(srv->conf, name) * 1000;
	srv->proxy_on = *v != '\0';
	return 0;
}

static int apply_conf(struct server *srv, struct error *err)
{
	if (conf_setup_logging(srv->conf, NULL, err) < 0)
		return -1;
	long long max = conf_int(srv->conf, "max_connections");
	srv->max_conn = max <= 0 ? 1 : (unsigned)max;
	return apply_proxy_conf(srv, err);
}

static void on_hup(struct ev *ev, int signo, void *ctx)
{
	struct server *srv = ctx;
	struct error err;
	struct conf *conf = conf_load_overrides(srv->config_dir, srv->overrides,
						srv->noverrides, &err);
	if (conf == NULL) {
		log_error("reload: %s; keeping the old configuration", err.msg);
		return;
	}
	struct conf *old = srv->conf;
	srv->conf = conf;
	if (apply_conf(srv, &err) < 0) {
		log_error("reload: %s; keeping the old configuration", err.msg);
		srv->conf = old;
		conf_free(&conf);
		return;
	}
	conf_free(&old);
	log_reopen();
	if (srv->tls_ctx != NULL && tls_server_reload(srv->tls_ctx, &err) < 0)
		log_warn("reload: TLS: %s; keeping the old certificate",
			 err.msg);
	if (!srv->paused)
		listeners_interest(srv, srv->stopping ? 0 : EV_READ);
	log_info("configuration reloaded");
	if (srv->hooks->reload != NULL)
		srv->hooks->reload(srv);
}

/* "127.0.0.1:2525", "[::1]:2525" or the unix socket path. */
static char *socket_name(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return xasprintf("fd %d", fd);
	if (ss.ss_family == AF_UNIX) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
		return xstrdup(sun->sun_path[0] != '\0' ? sun->sun_path
							: "unix");
	}
	char host[NET_ADDR_STRLEN];
	unsigned port = 0;
	net_sockaddr_str((struct sockaddr *)&ss, len, host, sizeof(host),
			 &port);
	return strchr(host, ':') != NULL ? xasprintf("[%s]:%u", host, port)
					 : xasprintf("%s:%u", host, port);
}

static void add_listener(struct server *srv, int fd)
{
	srv->ls = xreallocarray(srv->ls, srv->nls + 1, sizeof(*srv->ls));
	srv->ls[srv->nls].fd = fd;
	srv->ls[srv->nls].addr = socket_name(fd);
	srv->nls++;
}

/* Listeners passed by the master. */
static int inherit_listeners(struct server *srv, const char *nfds,
			     struct error *err)
{
	unsigned long long n;
	if (!str_to_u64(nfds, &n) || n == 0 || n > 1024)
		return error_set(err, ERR_CONFIG,
				 "bad POSTERN_LISTEN_FDS \"%.50s\"", nfds);
	const char *svc = getenv("POSTERN_SERVICE");
	const char *tls = getenv("POSTERN_TLS");
	if (svc == NULL || tls == NULL || service_tls_parse(tls, &srv->tls) < 0)
		return error_set(err, ERR_CONFIG,
				 "POSTERN_SERVICE or POSTERN_TLS missing or "
				 "bad");
	srv->service = xstrdup(svc);
	for (unsigned i = 0; i < n; i++) {
		int fd = SERVER_LISTEN_FDS_START + (int)i;
		int fl = fcntl(fd, F_GETFD);
		int acc = 0;
		socklen_t alen = sizeof(acc);
		if (fl < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) < 0)
			return error_set(err, ERR_CONFIG,
					 "inherited listener fd %d: %s", fd,
					 strerror(errno));
		if (!acc)
			return error_set(err, ERR_CONFIG,
					 "inherited fd %d is not a listening "
					 "socket",
					 fd);
		/* Keep them out of anything this daemon may exec. */
		fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
		int sfl = fcntl(fd, F_GETFL);
		if (sfl >= 0 && !(sfl & O_NONBLOCK))
			fcntl(fd, F_SETFL, sfl | O_NONBLOCK);
		add_listener(srv, fd);
	}
	return 0;
}

/* A manual run: open the service's sockets ourselves. */
static int open_listeners(struct server *srv, const char *name,
			  struct error *err)
{
	struct services *svcs =
	    services_load(conf_str(srv->conf, "services_file"), srv->conf, err);
	if (svcs == NULL)
		return -1;
	const struct service_def *d = services_find(svcs, name);
	if (d == NULL) {
		error_set(err, ERR_CONFIG,
			  "service %s is not in the services table %s", name,
			  conf_str(srv->conf, "services_file"));
		services_free(&svcs);
		return -1;
	}
	srv->service = xstrdup(name);
	srv->tls = d->tls;
	for (size_t i = 0; i < d->naddrs; i++) {
		int fd = service_addr_listen(&d->addrs[i], err);
		if (fd < 0) {
			error_prefix(err, "service %s", name);
			services_free(&svcs);
			return -1;
		}
		add_listener(srv, fd);
	}
	services_free(&svcs);
	return 0;
}

static void tell_master(struct server *srv, const char *status, const char *msg)
{
	if (srv->ready_fd < 0)
		return;
	char line[ERROR_MSG_MAX + 16];
	int n = snprintf(line, sizeof(line), "%s%s%s\n", status,
			 msg != NULL ? " " : "", msg != NULL ? msg : "");
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if (write(srv->ready_fd, line, (size_t)n) < 0)
		log_debug(LOG_TRACE_EV, "ready pipe: %s", strerror(errno));
	close(srv->ready_fd);
	srv->ready_fd = -1;
}

static void usage_exit(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-c DIR] [-s SERVICE] [-o name=value]...\n"
		"Run by the master (postern start); run by hand, it listens "
		"on SERVICE's addresses from the services table.\n",
		prog);
	exit(2);
}

static int setup(struct server *srv, int argc, char **argv, struct error *err)
{
	const char *service = srv->hooks->default_service;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			srv->config_dir = argv[++i];
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			service = argv[++i];
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
			srv->overrides =
			    xreallocarray(srv->overrides, srv->noverrides + 1,
					  sizeof(char *));
			srv->overrides[srv->noverrides++] = argv[++i];
		} else
			usage_exit(argv[0]);
	}
	srv->conf = conf_load_overrides(srv->config_dir, srv->overrides,
					srv->noverrides, err);
	if (srv->conf == NULL || apply_conf(srv, err) < 0)
		return -1;

	/* Listeners first: nothing may take fds 3.. before we check them. */
	const char *nfds = getenv("POSTERN_LISTEN_FDS");
	if (nfds != NULL ? inherit_listeners(srv, nfds, err) < 0
			 : open_listeners(srv, service, err) < 0)
		return -1;

	srv->ev = ev_new();
	if (ev_signal_add(srv->ev, SIGTERM, on_term, srv, err) < 0 ||
	    ev_signal_add(srv->ev, SIGINT, on_term, srv, err) < 0 ||
	    ev_signal_add(srv->ev, SIGHUP, on_hup, srv, err) < 0)
		return -1;

	if (srv->tls != SERVICE_TLS_NONE) {
		srv->tls_ctx =
		    tls_server_new(conf_str(srv->conf, "tls_cert_file"),
				   conf_str(srv->conf, "tls_key_file"),
				   conf_str(srv->conf, "tls_protocols"),
				   conf_str(srv->conf, "tls_ciphers"), err);
		if (srv->tls_ctx == NULL) {
			error_prefix(err, "TLS");
			return -1;
		}
	}
	if (srv->hooks->init != NULL && srv->hooks->init(srv, err) < 0)
		return -1;
	for (size_t i = 0; i < srv->nls; i++)
		if (ev_fd_add(srv->ev, srv->ls[i].fd, EV_READ, on_listen, srv,
			      err) < 0)
			return -1;
	return 0;
}

int server_main(int argc, char **argv, const struct server_hooks *hooks)
{
	struct server srv = {
	    .hooks = hooks, .config_dir = "./var", .ready_fd = -1};
	struct error err = {0};
	char progname[64];
	int status = 0;

	snprintf(progname, sizeof(progname), "postern/%s", hooks->name);
	log_init(progname);
	signal(SIGPIPE, SIG_IGN);

	const char *rfd = getenv("POSTERN_READY_FD");
	unsigned long long v;
	if (rfd != NULL && str_to_u64(rfd, &v) && v > 2 && v < 65536) {
		srv.ready_fd = (int)v;
		fcntl(srv.ready_fd, F_SETFD, FD_CLOEXEC);
	}

	if (setup(&srv, argc, argv, &err) < 0) {
		log_error("%s", err.msg);
		tell_master(&srv, "fail", err.msg);
		status = 1;
	} else {
		log_info("started: service %s, %zu listener(s), tls %s",
			 srv.service, srv.nls, service_tls_name(srv.tls));
		tell_master(&srv, "ready", NULL);
		if (ev_run(srv.ev) < 0)
			status = 1;
		log_info("stopped");
	}

	if (hooks->fini != NULL)
		hooks->fini(&srv);
	if (srv.ev != NULL)
		close_listeners(&srv);
	for (size_t i = 0; i < srv.nls; i++)
		if (srv.ls[i].fd >= 0)
			close(srv.ls[i].fd);
	for (size_t i = 0; i < srv.nls; i++)
		free(srv.ls[i].addr);
	free(srv.ls);
	tls_ctx_free(&srv.tls_ctx);
	ev_free(&srv.ev);
	conf_free(&srv.conf);
	free(srv.service);
	free(srv.overrides);
	return status;
}
