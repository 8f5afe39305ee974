/*
 * master - the supervisor (the role of Postfix's master): it binds every
 * listener of the services table itself, runs `procs` children per
 * service with those sockets inherited, restarts crashed children with
 * exponential backoff, and answers the control socket.
 *
 * The master is not a separate program: `postern start` forks and the
 * child runs master_run() (see docs/services.md for the why).  Files in
 * $run_directory:
 *   master.pid   the master's pid, flock()ed while it runs: a lock that
 *                can be taken means no master, whatever the file says;
 *   master.sock  the control socket (mode 0600), one request line per
 *                connection: "status" or "reload"; the answer ends with
 *                a line "." (success) or "error MESSAGE".
 *
 * Signals: SIGHUP reloads main.cf and the services table and forwards
 * SIGHUP to the children; SIGTERM/SIGINT stop gracefully (children get
 * SIGTERM, SIGKILL after $stop_timeout).
 */
#ifndef POSTERN_MASTER_H
#define POSTERN_MASTER_H

#include <stdbool.h>
#include <sys/types.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/error.h"

struct master_opts {
	const char *config_dir; /* absolute; copied */
	/* Where the postern-* programs are when $daemon_directory is empty
	 * (the directory of the running postern program). */
	const char *program_dir; /* must outlive master_run() */
	/*
	 * Start-up report: "ok\n" once every service is listening and
	 * every child is ready, or "fail MESSAGE\n"; then closed.  -1: none.
	 */
	int notify_fd;
};

/*
 * Run the supervisor until stopped.  Takes ownership of conf.  Returns the
 * exit status: 0 after a graceful stop, 1 if start-up failed (told through
 * notify_fd and logged).
 */
int master_run(struct conf *conf, const struct master_opts *opts);

/* ---- Client side, for the postern command. */

/*
 * Is a master running for this configuration?  1 with *pid_r, 0 if not,
 * -1 with err (the run directory cannot be read).
 */
int master_running(const struct conf *conf, pid_t *pid_r, struct error *err);

/*
 * Send one request ("status", "reload") on the control socket and append
 * the answer, without its final "." line, to out.  -1 with err when the
 * master cannot be reached or answers "error ...".
 */
int master_request(const struct conf *conf, const char *request,
		   struct buf *out, struct error *err);

/* Paths in $run_directory (malloc'd). */
char *master_pid_path(const struct conf *conf);
char *master_sock_path(const struct conf *conf);

#endif
