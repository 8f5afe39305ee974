/*
 * control - the master's control socket ($run_directory/master.sock) and
 * its client, used by `postern status` and `postern reload`.
 *
 * Protocol: the client sends one line, "status" or "reload"; the master
 * answers zero or more lines, then "." on success or "error MESSAGE", and
 * closes.  The socket is mode 0600: only the owner may ask.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "master/master_private.h"
#include "server/services.h"
#include "tls/io.h"

#define CONTROL_TIMEOUT_MS 10000
#define CONTROL_ANSWER_MAX (1024 * 1024)

char *master_pid_path(const struct conf *conf)
{
	return xasprintf("%s/master.pid", conf_str(conf, "run_directory"));
}

char *master_sock_path(const struct conf *conf)
{
	return xasprintf("%s/master.sock", conf_str(conf, "run_directory"));
}

/* ---- Server side (in the master). */

void control_status(struct master *m, struct buf *out)
{
	buf_printf(out, "master pid=%d uptime=%lld state=%s\n", (int)getpid(),
		   (long long)((ev_now(m->ev) - m->start_time) / 1000),
		   m->stopping ? "stopping" : "running");
	/* In table order (a reload appends changed services to the list). */
	for (size_t k = 0; k < services_count(m->services); k++) {
		const char *name = services_at(m->services, k)->name;
		struct svc *s = master_svc_find(m, name);
		if (s == NULL)
			continue;
		buf_printf(out,
			   "service name=%s state=%s procs=%d pids=", s->name,
			   master_svc_state(s), s->def->procs);
		bool first = true;
		struct list_node *cn, *ct;
		LIST_FOREACH(cn, ct, &s->children)
		{
			struct child *c = LIST_ENTRY(cn, struct child, node);
			if (c->retiring)
				continue;
			buf_printf(out, "%s%d", first ? "" : ",", (int)c->pid);
			first = false;
		}
		if (first)
			buf_append_char(out, '-');
		buf_printf(out, " restarts=%u tls=%s listen=", s->restarts,
			   service_tls_name(s->def->tls));
		for (size_t i = 0; i < s->def->naddrs; i++)
			buf_printf(out, "%s%s", i > 0 ? "," : "",
				   s->def->addrs[i].text);
		if (s->fail != NULL)
			buf_printf(out, " error=%s", s->fail);
		else if (s->last_error != NULL)
			buf_printf(out, " error=%s", s->last_error);
		buf_append_char(out, '\n');
	}
}

static void control_io(struct io *io, enum io_event event, void *ctx)
{
	struct master *m = ctx;
	char *line;
	struct error err;

	switch (event) {
	case IO_DATAIN:
		switch (io_getline(io, &line, NULL)) {
		case IO_LINE_NONE:
			return;
		case IO_LINE_TOO_LONG:
			io_print(io, "error request too long\n");
			break;
		case IO_LINE_OK:
			if (strcmp(line, "status") == 0) {
				struct buf *out = buf_new();
				control_status(m, out);
				buf_append_str(out, ".\n");
				io_write(io, buf_data(out), buf_len(out));
				buf_free(&out);
			} else if (strcmp(line, "reload") == 0) {
				log_info("reload requested");
				if (master_reload(m, &err) < 0) {
					log_error("reload: %s", err.msg);
					io_printf(io, "error %s\n", err.msg);
				} else {
					io_print(io, ".\n");
				}
			} else {
				io_printf(io,
					  "error unknown request \"%.50s\"\n",
					  line);
			}
			break;
		}
		io_close(io);
		return;
	case IO_LOWAT:
	case IO_TLSREADY:
	case IO_CONNECTED:
		return;
	case IO_TIMEOUT:
	case IO_DISCONNECTED:
	case IO_ERROR:
		io_free(&io);
		return;
	}
}

static void on_control(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct master *m = ctx;
	int cfd = net_accept(fd, NULL, 0);
	if (cfd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_warn("control socket: accept: %s", strerror(errno));
		return;
	}
	struct io *io = io_new(ev, cfd, control_io, m);
	io_set_timeout(io, CONTROL_TIMEOUT_MS);
	io_set_max_line(io, 256);
}

int control_open(struct master *m, struct error *err)
{
	/* A socket left by a dead master is stale: we hold the pid lock. */
	unlink(m->sock_path);
	m->ctl_fd = net_listen_unix(m->sock_path, 0600, 0, err);
	if (m->ctl_fd < 0) {
		error_prefix(err, "control socket");
		return -1;
	}
	return ev_fd_add(m->ev, m->ctl_fd, EV_READ | EV_FD_WEAK, on_control, m,
			 err);
}

void control_close(struct master *m)
{
	if (m->ctl_fd < 0)
		return;
	if (m->ev != NULL)
		ev_fd_del(m->ev, m->ctl_fd);
	close(m->ctl_fd);
	m->ctl_fd = -1;
	if (m->owns_pidfile)
		unlink(m->sock_path);
}

/* ---- Client side (the postern command). */

int master_running(const struct conf *conf, pid_t *pid_r, struct error *err)
{
	char *path = master_pid_path(conf);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;
	if (fd < 0) {
		if (errno != ENOENT)
			rc = error_set(err, ERR_TEMP, "%s: %s", path,
				       strerror(errno));
		free(path);
		return rc;
	}
	/* The master holds an exclusive lock for its whole life. */
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		rc = 0;
	} else if (errno == EWOULDBLOCK) {
		char data[32] = "";
		ssize_t n = pread(fd, data, sizeof(data) - 1, 0);
		long long pid = 0;
		data[n > 0 ? n : 0] = '\0';
		str_to_i64(str_trim(data), &pid);
		*pid_r = (pid_t)pid;
		rc = 1;
	} else {
		rc = error_set(err, ERR_TEMP, "%s: flock: %s", path,
			       strerror(errno));
	}
	close(fd);
	free(path);
	return rc;
}

int master_request(const struct conf *conf, const char *request,
		   struct buf *out, struct error *err)
{
	char *path = master_sock_path(conf);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int rc = -1;
	int fd = -1;

	if (str_copy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		error_set(err, ERR_CONFIG, "%s: path too long", path);
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		error_set(err, ERR_TEMP, "cannot reach the master at %s: %s",
			  path, strerror(errno));
		goto out;
	}
	/* A reload may take a while (binding, loading); not forever. */
	struct timeval tv = {.tv_sec = 30};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char *req = xasprintf("%s\n", request);
	ssize_t w = write(fd, req, strlen(req));
	free(req);
	if (w < 0) {
		error_set(err, ERR_TEMP, "control socket: %s", strerror(errno));
		goto out;
	}
	struct buf *ans = buf_new();
	char data[4096];
	ssize_t n;
	while ((n = read(fd, data, sizeof(data))) > 0 &&
	       buf_len(ans) < CONTROL_ANSWER_MAX)
		buf_append(ans, data, (size_t)n);
	if (n < 0) {
		error_set(err, ERR_TEMP, "control socket: %s",
			  errno == EAGAIN ? "no answer in time"
					  : strerror(errno));
		buf_free(&ans);
		goto out;
	}
	/* The last line decides: "." or "error MESSAGE". */
	const char *d = buf_data(ans);
	size_t len = buf_len(ans);
	while (len > 0 && d[len - 1] == '\n')
		len--;
	size_t start = len;
	while (start > 0 && d[start - 1] != '\n')
		start--;
	if (len - start == 1 && d[start] == '.') {
		buf_append(out, d, start);
		rc = 0;
	} else if (len - start > 6 && strncmp(d + start, "error ", 6) == 0) {
		error_set(err, ERR_CONFIG, "%.*s", (int)(len - start - 6),
			  d + start + 6);
	} else {
		error_set(err, ERR_TEMP,
			  "the master closed the control connection early");
	}
	buf_free(&ans);
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}
