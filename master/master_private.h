/*
 * master_private.h - the supervisor's state, shared by master.c (process
 * logic) and control.c (the control socket).  Nothing outside master/
 * sees it.
 */
#ifndef POSTERN_MASTER_PRIVATE_H
#define POSTERN_MASTER_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/list.h"
#include "master/master.h"

struct svc;

struct child {
	struct list_node node; /* in svc->children */
	struct svc *svc;
	pid_t pid;
	int ready_fd;  /* read end of the ready pipe, -1 once reported */
	bool ready;    /* wrote "ready" */
	bool retiring; /* told to stop: its exit is not a crash */
	int64_t started;
	struct buf *report;
};

struct svc {
	struct list_node node; /* in master->svcs, or ->retired */
	struct master *m;
	char *name;
	const struct service_def *def; /* NULL once retired */
	int *fds;		       /* per def->addrs; -1: not open */
	size_t nfds;
	char **addr_text; /* retired only: fds' addresses */
	struct list_node children;
	unsigned nactive; /* children not retiring */
	unsigned restarts;
	int64_t backoff_ms;
	char *fail;	  /* why the listeners cannot be opened, or NULL */
	char *last_error; /* last start-up failure a child reported */
};

struct master {
	struct ev *ev;
	struct conf *conf;
	struct services *services;
	const struct master_opts *opts;
	char *config_dir;
	char *daemon_dir;
	struct list_node svcs;
	struct list_node retired;
	char *pid_path;
	char *sock_path;
	int pid_fd;
	bool owns_pidfile;
	int ctl_fd;
	int notify_fd; /* open until start-up is reported */
	bool stopping;
	int status;
	int64_t start_time;
};

/* master.c */
int master_reload(struct master *m, struct error *err);
void master_notify(struct master *m, const char *what, const char *msg);
void master_set_daemon_dir(struct master *m);
/* "running", "starting", "restarting" (backoff) or "failed" (cannot
 * listen). */
const char *master_svc_state(struct svc *s);
/* The active (not retired) service called NAME, or NULL. */
struct svc *master_svc_find(struct master *m, const char *name);

/* control.c */
int control_open(struct master *m, struct error *err);
void control_close(struct master *m);
/* The "status" answer (see docs/services.md) appended to out. */
void control_status(struct master *m, struct buf *out);

#endif
