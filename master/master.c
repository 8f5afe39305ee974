/*
 * master - the supervisor's process logic (see master.h).
 *
 * State: one struct svc per services-table entry, holding the entry's
 * listening sockets and its children.  A service dropped or changed by a
 * reload is "retired": its children get SIGTERM and it is freed when the
 * last one has gone; a replacement entry takes over the listening
 * sockets of the same addresses, so a port is never closed and reopened
 * (no window where connections are refused, no EADDRINUSE while an old
 * child still holds it).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/list.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "master/master_private.h"
#include "server/services.h"

/* Backoff of a crashing service: first delay, and how long a child must
 * have run for its exit to count as a fresh failure (backoff reset). */
#define RESTART_FIRST_MS 250
#define RESTART_RESET_MS 10000
/* `postern start` gives up when children are not ready by then. */
#define START_TIMEOUT_MS 30000
/* The longest ready-pipe report a child may write. */
#define REPORT_MAX 1024

static void svc_fill(struct ev *ev, struct svc *s);
static void master_stop(struct master *m, int status);

/* ---- Children. */

static void child_close_report(struct master *m, struct child *c)
{
	if (c->ready_fd < 0)
		return;
	ev_fd_del(m->ev, c->ready_fd);
	close(c->ready_fd);
	c->ready_fd = -1;
}

static void check_started(struct master *m);

/* A child's report line: "ready" or "fail MESSAGE". */
static void child_report(struct master *m, struct child *c)
{
	char *nl = strchr(buf_mut(c->report), '\n');
	if (nl != NULL)
		*nl = '\0';
	const char *r = buf_data(c->report);
	if (strcmp(r, "ready") == 0) {
		c->ready = true;
		log_debug(LOG_TRACE_EV, "service %s: pid %d ready",
			  c->svc->name, (int)c->pid);
		check_started(m);
	} else if (str_has_prefix(r, "fail ")) {
		free(c->svc->last_error);
		c->svc->last_error = xstrdup(r + 5);
		log_error("service %s: pid %d: %s", c->svc->name, (int)c->pid,
			  r + 5);
	}
}

static void on_report(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct child *c = ctx;
	struct master *m = c->svc->m;
	char data[256];
	ssize_t n = read(fd, data, sizeof(data));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && buf_len(c->report) < REPORT_MAX) {
		buf_append(c->report, data, (size_t)n);
		if (memchr(data, '\n', (size_t)n) == NULL)
			return;
	}
	/* A line, EOF or an error: one report per child. */
	child_close_report(m, c);
	child_report(m, c);
}

static char **child_argv(struct master *m, const struct service_def *d)
{
	char **argv = xcalloc(d->argc + 3, sizeof(char *));
	size_t n = 0;
	argv[n++] = d->argv[0];
	argv[n++] = "-c";
	argv[n++] = (char *)conf_str(m->conf, "config_directory");
	for (size_t i = 1; i < d->argc; i++)
		argv[n++] = d->argv[i];
	argv[n] = NULL;
	return argv;
}

/* In the forked child: arrange the fds and exec.  Never returns. */
static void __attribute__((noreturn))
exec_child(struct svc *s, const char *path, char **argv, int report_fd)
{
	sigset_t none;
	sigemptyset(&none);
	/* The loop's signalfd blocked these; a daemon starts clean. */
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);

	int n = (int)s->nfds;
	int high = 3 + n + 1;
	int tmp[SERVICE_ADDRS_MAX + 1];
	/* Copy above the target range first, so no dup2 clobbers a source. */
	for (int i = 0; i < n; i++)
		tmp[i] = fcntl(s->fds[i], F_DUPFD, high);
	tmp[n] = fcntl(report_fd, F_DUPFD, high);
	for (int i = 0; i <= n; i++) {
		if (tmp[i] < 0 || dup2(tmp[i], 3 + i) < 0)
			_exit(126);
		close(tmp[i]);
	}
	char num[16];
	snprintf(num, sizeof(num), "%d", n);
	setenv("POSTERN_LISTEN_FDS", num, 1);
	snprintf(num, sizeof(num), "%d", 3 + n);
	setenv("POSTERN_READY_FD", num, 1);
	setenv("POSTERN_SERVICE", s->name, 1);
	setenv("POSTERN_TLS", service_tls_name(s->def->tls), 1);
	execv(path, argv);
	dprintf(3 + n, "fail cannot run %s: %s\n", path, strerror(errno));
	_exit(127);
}

static int svc_spawn(struct svc *s)
{
	struct master *m = s->m;
	int p[2];
	/* Non-blocking read end: a child's helper may keep the write end
	 * open after the child died, and the master must never wait on it. */
	if (pipe2(p, O_CLOEXEC) < 0 ||
	    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK) < 0) {
		log_error("service %s: pipe: %s", s->name, strerror(errno));
		return -1;
	}
	char *path = xasprintf("%s/%s", m->daemon_dir, s->def->argv[0]);
	char **argv = child_argv(m, s->def);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		exec_child(s, path, argv, p[1]);
	}
	int saved = errno;
	close(p[1]);
	free(path);
	free(argv);
	if (pid < 0) {
		close(p[0]);
		log_error("service %s: fork: %s", s->name, strerror(saved));
		return -1;
	}
	struct child *c = xcalloc(1, sizeof(*c));
	c->svc = s;
	c->pid = pid;
	c->ready_fd = p[0];
	c->started = ev_now(m->ev);
	c->report = buf_new();
	list_push_back(&s->children, &c->node);
	s->nactive++;
	struct error err;
	if (ev_fd_add(m->ev, c->ready_fd, EV_READ, on_report, c, &err) < 0) {
		log_error("service %s: %s", s->name, err.msg);
		close(c->ready_fd);
		c->ready_fd = -1;
	}
	log_debug(LOG_TRACE_EV, "service %s: started pid %d", s->name,
		  (int)pid);
	return 0;
}

static void svc_signal(struct svc *s, int signo)
{
	struct list_node *n, *t;
	LIST_FOREACH(n, t, &s->children)
	{
		struct child *c = LIST_ENTRY(n, struct child, node);
		kill(c->pid, signo);
	}
}

/*
 * Forward a reload.  Only to children that reported ready: before that a
 * daemon has not installed its handler, SIGHUP would kill it, and it reads
 * the new main.cf anyway.
 */
static void svc_hup(struct svc *s)
{
	struct list_node *n, *t;
	LIST_FOREACH(n, t, &s->children)
	{
		struct child *c = LIST_ENTRY(n, struct child, node);
		if (c->ready)
			kill(c->pid, SIGHUP);
	}
}

/* Ask the newest children beyond `keep` to stop (procs lowered). */
static void svc_trim(struct svc *s, unsigned keep)
{
	struct list_node *n;
	for (n = s->children.prev; n != &s->children && s->nactive > keep;
	     n = n->prev) {
		struct child *c = LIST_ENTRY(n, struct child, node);
		if (c->retiring)
			continue;
		c->retiring = true;
		s->nactive--;
		kill(c->pid, SIGTERM);
	}
}

/* ---- Services. */

static void svc_close_fds(struct svc *s)
{
	for (size_t i = 0; i < s->nfds; i++)
		if (s->fds[i] >= 0) {
			close(s->fds[i]);
			s->fds[i] = -1;
		}
}

static void svc_free(struct svc *s)
{
	ASSERT(list_empty(&s->children));
	EV_TIMER_DEL(s->m->ev, svc_fill, s);
	svc_close_fds(s);
	list_remove(&s->node);
	free(s->fds);
	free(s->name);
	free(s->fail);
	free(s->last_error);
	free(s);
}

/* Take over an open listener for addr from a retired service. */
static int steal_fd(struct master *m, const char *addr)
{
	struct list_node *n, *t;
	LIST_FOREACH(n, t, &m->retired)
	{
		struct svc *r = LIST_ENTRY(n, struct svc, node);
		for (size_t i = 0; i < r->nfds; i++) {
			if (r->fds[i] >= 0 &&
			    strcmp(r->addr_text[i], addr) == 0) {
				int fd = r->fds[i];
				r->fds[i] = -1;
				return fd;
			}
		}
	}
	return -1;
}

/* Open every listener not yet open; -1 with err (and s->fail) if not. */
static int svc_open(struct svc *s, struct error *err)
{
	for (size_t i = 0; i < s->nfds; i++) {
		if (s->fds[i] >= 0)
			continue;
		const struct service_addr *a = &s->def->addrs[i];
		int fd = steal_fd(s->m, a->text);
		if (fd < 0)
			fd = service_addr_listen(a, err);
		if (fd < 0) {
			error_prefix(err, "service %s", s->name);
			free(s->fail);
			s->fail = xstrdup(err->msg);
			return -1;
		}
		s->fds[i] = fd;
	}
	XFREE(s->fail);
	return 0;
}

static struct svc *svc_new(struct master *m, const struct service_def *d)
{
	struct svc *s = xcalloc(1, sizeof(*s));
	s->m = m;
	s->name = xstrdup(d->name);
	s->def = d;
	s->nfds = d->naddrs;
	s->fds = xcalloc(s->nfds, sizeof(int));
	for (size_t i = 0; i < s->nfds; i++)
		s->fds[i] = -1;
	list_init(&s->children);
	list_push_back(&m->svcs, &s->node);
	return s;
}

/* Addresses of the current def, for steal_fd() once the def is gone. */
static void svc_retire(struct svc *s)
{
	struct master *m = s->m;
	s->addr_text = xcalloc(s->nfds, sizeof(char *));
	for (size_t i = 0; i < s->nfds; i++)
		s->addr_text[i] = xstrdup(s->def->addrs[i].text);
	s->def = NULL;
	EV_TIMER_DEL(m->ev, svc_fill, s);
	list_remove(&s->node);
	list_push_back(&m->retired, &s->node);
	struct list_node *n, *t;
	LIST_FOREACH(n, t, &s->children)
	{
		struct child *c = LIST_ENTRY(n, struct child, node);
		c->retiring = true;
	}
	s->nactive = 0;
	svc_signal(s, SIGTERM);
}

static void retired_free(struct svc *s)
{
	for (size_t i = 0; i < s->nfds; i++)
		free(s->addr_text[i]);
	free(s->addr_text);
	svc_free(s);
}

static void svc_schedule(struct svc *s)
{
	struct ev *ev = s->m->ev; /* the name EV_TIMER_ADD needs */
	int64_t max = conf_time(s->m->conf, "restart_backoff_max") * 1000;
	if (max < RESTART_FIRST_MS)
		max = RESTART_FIRST_MS;
	s->backoff_ms =
	    s->backoff_ms == 0 ? RESTART_FIRST_MS : s->backoff_ms * 2;
	if (s->backoff_ms > max)
		s->backoff_ms = max;
	EV_TIMER_ADD(ev, s->backoff_ms, svc_fill, s);
}

/* Bring the service to `procs` children (timer callback and direct). */
static void svc_fill(struct ev *ev, struct svc *s)
{
	struct error err;
	if (s->m->stopping || s->def == NULL)
		return;
	if (svc_open(s, &err) < 0) {
		log_error("%s; retrying", err.msg);
		svc_schedule(s);
		return;
	}
	while (s->nactive < (unsigned)s->def->procs) {
		if (svc_spawn(s) < 0) {
			svc_schedule(s);
			return;
		}
	}
}

const char *master_svc_state(struct svc *s)
{
	if (s->fail != NULL)
		return "failed";
	if (ev_timer_pending(s->m->ev, (ev_timer_fn *)(void (*)(void))svc_fill,
			     s))
		return "restarting";
	unsigned ready = 0;
	struct list_node *n, *t;
	LIST_FOREACH(n, t, &s->children)
	{
		struct child *c = LIST_ENTRY(n, struct child, node);
		ready += c->ready && !c->retiring;
	}
	return ready >= (unsigned)s->def->procs ? "running" : "starting";
}

struct svc *master_svc_find(struct master *m, const char *name)
{
	struct list_node *n, *t;
	LIST_FOREACH(n, t, &m->svcs)
	{
		struct svc *s = LIST_ENTRY(n, struct svc, node);
		if (strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

static struct child *find_child(struct master *m, pid_t pid)
{
	struct list_node *heads[] = {&m->svcs, &m->retired};
	for (size_t h = 0; h < 2; h++) {
		struct list_node *n, *t;
		LIST_FOREACH(n, t, heads[h])
		{
			struct svc *s = LIST_ENTRY(n, struct svc, node);
			struct list_node *cn, *ct;
			LIST_FOREACH(cn, ct, &s->children)
			{
				struct child *c =
				    LIST_ENTRY(cn, struct child, node);
				if (c->pid == pid)
					return c;
			}
		}
	}
	return NULL;
}

static unsigned count_children(struct master *m)
{
	unsigned n = 0;
	struct list_node *heads[] = {&m->svcs, &m->retired};
	for (size_t h = 0; h < 2; h++) {
		struct list_node *sn, *t;
		LIST_FOREACH(sn, t, heads[h])
		{
			struct svc *s = LIST_ENTRY(sn, struct svc, node);
			n += (unsigned)list_count(&s->children);
		}
	}
	return n;
}

static void describe_exit(int status, char *out, size_t len)
{
	if (WIFEXITED(status))
		snprintf(out, len, "exited with status %d",
			 WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, len, "killed by signal %d (%s)%s",
			 WTERMSIG(status), strsignal(WTERMSIG(status)),
			 WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(out, len, "ended with wait status %#x", status);
}

static void child_exited(struct master *m, struct child *c, int status)
{
	struct svc *s = c->svc;
	char how[128];

	/* Read what it said before dying (the reason of a failed start). */
	if (c->ready_fd >= 0) {
		char data[256];
		ssize_t n;
		while ((n = read(c->ready_fd, data, sizeof(data))) > 0 &&
		       buf_len(c->report) < REPORT_MAX)
			buf_append(c->report, data, (size_t)n);
		child_close_report(m, c);
		if (buf_len(c->report) > 0)
			child_report(m, c);
	}
	describe_exit(status, how, sizeof(how));
	bool expected = c->retiring || m->stopping;
	if (expected)
		log_debug(LOG_TRACE_EV, "service %s: pid %d %s", s->name,
			  (int)c->pid, how);
	else
		log_warn("service %s: pid %d %s", s->name, (int)c->pid, how);

	bool lived_long = ev_now(m->ev) - c->started >= RESTART_RESET_MS;
	bool was_ready = c->ready;
	if (!c->retiring)
		s->nactive--;
	list_remove(&c->node);
	buf_free(&c->report);
	free(c);

	if (m->stopping) {
		if (count_children(m) == 0)
			ev_stop(m->ev);
		return;
	}
	if (s->def == NULL) {
		if (list_empty(&s->children))
			retired_free(s);
		return;
	}
	if (expected)
		return;
	if (m->notify_fd >= 0 && !was_ready) {
		char msg[ERROR_MSG_MAX];
		snprintf(msg, sizeof(msg), "service %s: %s", s->name,
			 s->last_error != NULL ? s->last_error : how);
		master_notify(m, "fail", msg);
		master_stop(m, 1);
		return;
	}
	if (lived_long)
		s->backoff_ms = 0;
	s->restarts++;
	svc_schedule(s);
	log_info("service %s: restarting in %lld ms (restart %u)", s->name,
		 (long long)s->backoff_ms, s->restarts);
}

static void on_sigchld(struct ev *ev, int signo, void *ctx)
{
	struct master *m = ctx;
	pid_t pid;
	int status;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child *c = find_child(m, pid);
		if (c != NULL)
			child_exited(m, c, status);
	}
}

/* ---- Start-up, stop, reload. */

void master_notify(struct master *m, const char *what, const char *msg)
{
	if (m->notify_fd < 0)
		return;
	dprintf(m->notify_fd, "%s%s%s\n", what, msg != NULL ? " " : "",
		msg != NULL ? msg : "");
	close(m->notify_fd);
	m->notify_fd = -1;
}

static void check_started(struct master *m)
{
	if (m->notify_fd < 0)
		return;
	struct list_node *n, *t;
	LIST_FOREACH(n, t, &m->svcs)
	{
		struct svc *s = LIST_ENTRY(n, struct svc, node);
		unsigned ready = 0;
		struct list_node *cn, *ct;
		LIST_FOREACH(cn, ct, &s->children)
		{
			ready += LIST_ENTRY(cn, struct child, node)->ready;
		}
		if (ready < (unsigned)s->def->procs)
			return;
	}
	log_info("every service is running");
	master_notify(m, "ok", NULL);
}

static void start_timeout(struct ev *ev, struct master *m)
{
	if (m->notify_fd < 0)
		return;
	master_notify(m, "fail",
		      "services did not become ready in time; see the log");
	master_stop(m, 1);
}

static void kill_timeout(struct ev *ev, struct master *m)
{
	log_warn("children still running after $stop_timeout; killing them");
	struct list_node *heads[] = {&m->svcs, &m->retired};
	for (size_t h = 0; h < 2; h++) {
		struct list_node *n, *t;
		LIST_FOREACH(n, t, heads[h])
		{
			svc_signal(LIST_ENTRY(n, struct svc, node), SIGKILL);
		}
	}
}

static void master_stop(struct master *m, int status)
{
	if (m->stopping)
		return;
	m->stopping = true;
	m->status = status;
	log_info("stopping");
	struct list_node *heads[] = {&m->svcs, &m->retired};
	for (size_t h = 0; h < 2; h++) {
		struct list_node *n, *t;
		LIST_FOREACH(n, t, heads[h])
		{
			struct svc *s = LIST_ENTRY(n, struct svc, node);
			EV_TIMER_DEL(m->ev, svc_fill, s);
			/* Free the ports now: children close theirs on
			 * SIGTERM. */
			svc_close_fds(s);
			for (size_t i = 0; s->def != NULL && i < s->nfds; i++)
				if (s->def->addrs[i].type == SERVICE_UNIX)
					unlink(s->def->addrs[i].path);
			svc_signal(s, SIGTERM);
		}
	}
	if (count_children(m) == 0) {
		ev_stop(m->ev);
		return;
	}
	struct ev *ev = m->ev; /* the name EV_TIMER_ADD needs */
	EV_TIMER_ADD(ev, conf_time(m->conf, "stop_timeout") * 1000,
		     kill_timeout, m);
}

static void on_term(struct ev *ev, int signo, void *ctx)
{
	struct master *m = ctx;
	log_info("signal %d received", signo);
	master_stop(m, 0);
}

int master_reload(struct master *m, struct error *err)
{
	if (m->stopping)
		return error_set(err, ERR_TEMP, "the master is stopping");
	struct conf *conf = conf_load(m->config_dir, err);
	if (conf == NULL)
		return -1;
	struct services *svcs =
	    services_load(conf_str(conf, "services_file"), conf, err);
	if (svcs == NULL) {
		conf_free(&conf);
		return -1;
	}
	if (conf_setup_logging(conf, NULL, err) < 0) {
		services_free(&svcs);
		conf_free(&conf);
		return -1;
	}
	struct conf *old_conf = m->conf;
	struct services *old_svcs = m->services;
	m->conf = conf;
	m->services = svcs;
	master_set_daemon_dir(m);

	/* Keep, resize or retire the running services. */
	struct list_node *n, *t;
	LIST_FOREACH(n, t, &m->svcs)
	{
		struct svc *s = LIST_ENTRY(n, struct svc, node);
		const struct service_def *d = services_find(svcs, s->name);
		if (d == NULL || !service_def_same(s->def, d)) {
			log_info("service %s: %s", s->name,
				 d == NULL ? "removed" : "changed, restarting");
			svc_retire(s);
			continue;
		}
		s->def = d;
		svc_hup(s);
		if (s->nactive > (unsigned)d->procs)
			svc_trim(s, (unsigned)d->procs);
	}
	/* Start new and changed ones; they take over retired listeners. */
	for (size_t i = 0; i < services_count(svcs); i++) {
		const struct service_def *d = services_at(svcs, i);
		struct svc *s = master_svc_find(m, d->name);
		if (s == NULL) {
			s = svc_new(m, d);
			log_info("service %s: starting", s->name);
		}
		svc_fill(m->ev, s);
	}
	/* Listeners no replacement took over are closed now. */
	LIST_FOREACH(n, t, &m->retired)
	{
		struct svc *s = LIST_ENTRY(n, struct svc, node);
		svc_close_fds(s);
		if (list_empty(&s->children))
			retired_free(s);
	}
	services_free(&old_svcs);
	conf_free(&old_conf);
	log_info("configuration reloaded: %zu service(s)",
		 services_count(svcs));
	return 0;
}

static void on_hup(struct ev *ev, int signo, void *ctx)
{
	struct master *m = ctx;
	struct error err;
	if (master_reload(m, &err) < 0)
		log_error("reload: %s; keeping the running configuration",
			  err.msg);
}

void master_set_daemon_dir(struct master *m)
{
	const char *dir = conf_str(m->conf, "daemon_directory");
	free(m->daemon_dir);
	m->daemon_dir = xstrdup(dir[0] != '\0' ? dir : m->opts->program_dir);
}

/* Lock and write the pid file; -1 with err if another master runs. */
static int pidfile_take(struct master *m, struct error *err)
{
	m->pid_fd = open(m->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (m->pid_fd < 0)
		return error_set(err, ERR_CONFIG, "%s: %s", m->pid_path,
				 strerror(errno));
	if (flock(m->pid_fd, LOCK_EX | LOCK_NB) < 0)
		return error_set(err, ERR_CONFIG,
				 "a master is already running (%s is locked)",
				 m->pid_path);
	m->owns_pidfile = true;
	char line[32];
	int len = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (ftruncate(m->pid_fd, 0) < 0 ||
	    pwrite(m->pid_fd, line, (size_t)len, 0) != len)
		return error_set(err, ERR_TEMP, "%s: %s", m->pid_path,
				 strerror(errno));
	return 0;
}

static int master_setup(struct master *m, struct error *err)
{
	if (conf_setup_logging(m->conf, "postern/master", err) < 0)
		return -1;
	m->services =
	    services_load(conf_str(m->conf, "services_file"), m->conf, err);
	if (m->services == NULL)
		return -1;
	if (pidfile_take(m, err) < 0)
		return -1;
	master_set_daemon_dir(m);
	m->ev = ev_new();
	if (ev_signal_add(m->ev, SIGCHLD, on_sigchld, m, err) < 0 ||
	    ev_signal_add(m->ev, SIGTERM, on_term, m, err) < 0 ||
	    ev_signal_add(m->ev, SIGINT, on_term, m, err) < 0 ||
	    ev_signal_add(m->ev, SIGHUP, on_hup, m, err) < 0)
		return -1;
	/* Bind everything before starting anything: a port in use fails
	 * `postern start` as a whole, with one line. */
	for (size_t i = 0; i < services_count(m->services); i++) {
		const struct service_def *d = services_at(m->services, i);
		struct svc *s = svc_new(m, d);
		if (svc_open(s, err) < 0)
			return -1;
	}
	if (control_open(m, err) < 0)
		return -1;
	return 0;
}

static void master_free(struct master *m)
{
	struct list_node *heads[] = {&m->svcs, &m->retired};
	for (size_t h = 0; h < 2; h++) {
		struct list_node *n, *t;
		LIST_FOREACH(n, t, heads[h])
		{
			struct svc *s = LIST_ENTRY(n, struct svc, node);
			struct list_node *cn, *ct;
			LIST_FOREACH(cn, ct, &s->children)
			{
				struct child *c =
				    LIST_ENTRY(cn, struct child, node);
				child_close_report(m, c);
				list_remove(&c->node);
				buf_free(&c->report);
				free(c);
			}
			if (s->addr_text != NULL)
				retired_free(s);
			else
				svc_free(s);
		}
	}
	control_close(m);
	if (m->pid_fd >= 0) {
		/* Unlink while still holding the lock, so a new master
		 * never sees a removed file it had locked. */
		if (m->owns_pidfile)
			unlink(m->pid_path);
		close(m->pid_fd);
	}
	services_free(&m->services);
	ev_free(&m->ev);
	conf_free(&m->conf);
	free(m->daemon_dir);
	free(m->config_dir);
	free(m->pid_path);
	free(m->sock_path);
}

int master_run(struct conf *conf, const struct master_opts *opts)
{
	struct master m = {.conf = conf,
			   .opts = opts,
			   .pid_fd = -1,
			   .ctl_fd = -1,
			   .notify_fd = opts->notify_fd};
	struct error err;

	list_init(&m.svcs);
	list_init(&m.retired);
	prctl(PR_SET_NAME, "postern-master", 0, 0, 0);
	log_init("postern/master");
	signal(SIGPIPE, SIG_IGN);
	/* Own copy: opts->config_dir may point into a conf a reload frees. */
	m.config_dir = xstrdup(opts->config_dir);
	m.pid_path = master_pid_path(conf);
	m.sock_path = master_sock_path(conf);

	if (master_setup(&m, &err) < 0) {
		log_error("%s", err.msg);
		master_notify(&m, "fail", err.msg);
		master_free(&m);
		return 1;
	}
	m.start_time = ev_now(m.ev);
	log_info("starting %zu service(s), daemons in %s",
		 services_count(m.services), m.daemon_dir);
	struct list_node *n, *t;
	LIST_FOREACH(n, t, &m.svcs)
	{
		svc_fill(m.ev, LIST_ENTRY(n, struct svc, node));
	}
	struct ev *ev = m.ev; /* the name EV_TIMER_ADD needs */
	EV_TIMER_ADD(ev, START_TIMEOUT_MS, start_timeout, &m);
	check_started(&m);

	if (ev_run(m.ev) < 0 && !m.stopping)
		m.status = 1;
	/* Children that ignored SIGKILL cannot exist; reap stragglers. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	log_info("stopped");
	int status = m.status;
	master_notify(&m, "fail", "the master stopped during start-up");
	master_free(&m);
	return status;
}
