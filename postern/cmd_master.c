/*
 * cmd_master - postern start | stop | status | reload: control of the
 * supervisor (master/master.h).
 *
 * start forks the master into the background and returns once every
 * service is listening and every child reported ready (or prints the one
 * line that says why not); stop sends SIGTERM and waits until the master
 * is gone; reload and status talk to the control socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fsutil.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "master/master.h"
#include "postern.h"
#include "server/services.h"

/* How long `postern stop` waits beyond $stop_timeout for the master. */
#define STOP_GRACE_MS 10000

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Load and check what the master will load, so errors show here. */
static struct conf *load_checked(struct cli *cli)
{
	struct conf *conf = cli_conf(cli);
	if (conf == NULL)
		return NULL;
	struct error err;
	struct services *svcs =
	    services_load(conf_str(conf, "services_file"), conf, &err);
	if (svcs == NULL) {
		cli_error("%s", err.msg);
		conf_free(&conf);
		return NULL;
	}
	services_free(&svcs);
	return conf;
}

/* 1 running (pid in *pid_r), 0 not, -1 error printed. */
static int running(const struct conf *conf, pid_t *pid_r)
{
	struct error err;
	int rc = master_running(conf, pid_r, &err);
	if (rc < 0)
		cli_error("%s", err.msg);
	return rc;
}

static void daemonize_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

int cmd_start(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
	    "usage: postern start [-f]\n"
	    "Start the master and every service of the services table.\n"
	    "  -f, --foreground  stay in the foreground (containers)\n";
	if (cli_help(argc, argv, usage))
		return 0;
	bool foreground = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 ||
		    strcmp(argv[i], "--foreground") == 0)
			foreground = true;
		else
			return cli_error("start: unknown argument \"%s\"",
					 argv[i]);
	}

	struct conf *conf = load_checked(cli);
	if (conf == NULL)
		return 1;
	pid_t pid;
	int rc = running(conf, &pid);
	if (rc != 0) {
		conf_free(&conf);
		return rc < 0 ? 1
			      : cli_error("already running (master pid %d)",
					  (int)pid);
	}
	struct error err;
	if (fs_mkdir_p(conf_str(conf, "run_directory"), 0755, &err) < 0) {
		conf_free(&conf);
		return cli_error("%s", err.msg);
	}
	/* After the fork the master works from "/": use absolute paths. */
	struct master_opts opts = {
	    .config_dir = conf_str(conf, "config_directory"),
	    .program_dir = cli_program_dir(cli),
	    .notify_fd = -1,
	};
	if (foreground)
		return master_run(conf, &opts);

	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		conf_free(&conf);
		return cli_error("pipe: %s", strerror(errno));
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		conf_free(&conf);
		return cli_error("fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		if (chdir("/") < 0)
			_exit(1);
		daemonize_stdio();
		opts.notify_fd = p[1];
		_exit(master_run(conf, &opts));
	}
	close(p[1]);
	conf_free(&conf);

	struct buf *ans = buf_new();
	char data[512];
	ssize_t n;
	while ((n = read(p[0], data, sizeof(data))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		buf_append(ans, data, (size_t)n);
	}
	close(p[0]);
	char *line = str_trim(buf_mut(ans));
	if (strcmp(line, "ok") == 0) {
		printf("postern: started (master pid %d)\n", (int)pid);
		buf_free(&ans);
		return 0;
	}
	/* The master exits after a failed start: reap it. */
	waitpid(pid, NULL, 0);
	rc = str_has_prefix(line, "fail ")
		 ? cli_error("start: %s", line + 5)
		 : cli_error("start: the master exited during start-up "
			     "(see the log)");
	buf_free(&ans);
	return rc;
}

int cmd_stop(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
	    "usage: postern stop\n"
	    "Stop every service and the master; waits until they are "
	    "gone.\n";
	if (cli_help(argc, argv, usage))
		return 0;
	if (argc > 1)
		return cli_error("stop: unexpected argument \"%s\"", argv[1]);
	struct conf *conf = cli_conf(cli);
	if (conf == NULL)
		return 1;
	pid_t pid;
	int rc = running(conf, &pid);
	if (rc <= 0) {
		conf_free(&conf);
		return rc < 0 ? 1 : cli_error("not running");
	}
	if (pid > 0 && kill(pid, SIGTERM) < 0 && errno != ESRCH) {
		conf_free(&conf);
		return cli_error("stop: kill %d: %s", (int)pid,
				 strerror(errno));
	}
	long limit =
	    (long)conf_time(conf, "stop_timeout") * 1000 + STOP_GRACE_MS;
	for (long waited = 0; waited < limit; waited += 50) {
		if (running(conf, &pid) == 0) {
			conf_free(&conf);
			printf("postern: stopped\n");
			return 0;
		}
		sleep_ms(50);
	}
	conf_free(&conf);
	return cli_error("stop: the master (pid %d) is still running",
			 (int)pid);
}

/* Send REQUEST to the running master; its answer goes to out.  Returns 0,
 * or the exit status after saying why not. */
static int ask_master(struct conf *conf, const char *request,
		      struct buf *out)
{
	pid_t pid;
	int rc = running(conf, &pid);
	if (rc <= 0)
		return rc < 0 ? 1 : cli_error("not running");
	struct error err;
	if (master_request(conf, request, out, &err) < 0)
		return cli_error("%s: %s", request, err.msg);
	return 0;
}

int cmd_reload(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
	    "usage: postern reload\n"
	    "Re-read main.cf, the services table and the certificates; "
	    "the\nservices pick them up without dropping connections.\n";
	if (cli_help(argc, argv, usage))
		return 0;
	if (argc > 1)
		return cli_error("reload: unexpected argument \"%s\"", argv[1]);
	struct conf *conf = load_checked(cli);
	if (conf == NULL)
		return 1;
	struct buf *out = buf_new();
	int rc = ask_master(conf, "reload", out);
	buf_free(&out);
	conf_free(&conf);
	if (rc != 0)
		return rc;
	printf("postern: reloaded\n");
	return 0;
}

/* The value of key=VALUE in a status line (up to the next space, or the
 * rest of the line for the last key "error"), in a static buffer. */
static const char *field(const char *line, const char *key)
{
	static char val[1024];
	size_t kl = strlen(key);
	for (const char *p = line; (p = strstr(p, key)) != NULL; p++) {
		if ((p != line && p[-1] != ' ') || p[kl] != '=')
			continue;
		const char *v = p + kl + 1;
		size_t n = strcmp(key, "error") == 0 ? strcspn(v, "\n")
						     : strcspn(v, " \n");
		if (n >= sizeof(val))
			n = sizeof(val) - 1;
		memcpy(val, v, n);
		val[n] = '\0';
		return val;
	}
	return "";
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
	    "usage: postern status\n"
	    "Show the master and, per service, its state, processes, "
	    "restarts\nand listeners.  Exit status: 0 all running, 1 not "
	    "running,\n2 running but some service is not.\n";
	if (cli_help(argc, argv, usage))
		return 0;
	if (argc > 1)
		return cli_error("status: unexpected argument \"%s\"", argv[1]);
	struct conf *conf = cli_conf(cli);
	if (conf == NULL)
		return 1;
	struct buf *out = buf_new();
	int rc = ask_master(conf, "status", out);
	conf_free(&conf);
	if (rc != 0) {
		buf_free(&out);
		return rc;
	}

	int status = 0;
	struct array *lines = str_split(buf_data(out), "\n");
	for (size_t i = 0; i < array_len(lines); i++) {
		const char *l = array_get(lines, i);
		if (str_has_prefix(l, "master ")) {
			char mpid[32], up[32];
			str_copy(mpid, field(l, "pid"), sizeof(mpid));
			str_copy(up, field(l, "uptime"), sizeof(up));
			printf("master: pid %s, up %ss, %s\n", mpid, up,
			       field(l, "state"));
			printf("%-13s %-10s %-5s %-18s %-8s %s\n", "SERVICE",
			       "STATE", "PROCS", "PIDS", "RESTARTS",
			       "LISTEN (TLS)");
			continue;
		}
		if (!str_has_prefix(l, "service "))
			continue;
		char name[128], state[32], procs[16], pids[512], restarts[16],
		    tls[32], listen[1024];
		str_copy(name, field(l, "name"), sizeof(name));
		str_copy(state, field(l, "state"), sizeof(state));
		str_copy(procs, field(l, "procs"), sizeof(procs));
		str_copy(pids, field(l, "pids"), sizeof(pids));
		str_copy(restarts, field(l, "restarts"), sizeof(restarts));
		str_copy(tls, field(l, "tls"), sizeof(tls));
		str_copy(listen, field(l, "listen"), sizeof(listen));
		printf("%-13s %-10s %-5s %-18s %-8s %s (%s)\n", name, state,
		       procs, pids, restarts, listen, tls);
		const char *e = field(l, "error");
		if (*e != '\0')
			printf("    error: %s\n", e);
		if (strcmp(state, "running") != 0)
			status = 2;
	}
	array_free_with(&lines, free);
	buf_free(&out);
	return status;
}
