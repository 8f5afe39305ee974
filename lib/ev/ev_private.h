/*
 * ev_private.h - the loop's internals, shared by loop.c, timer.c, defer.c
 * and signal.c only.  Nothing outside lib/ev includes it.
 */
#ifndef POSTERN_EV_PRIVATE_H
#define POSTERN_EV_PRIVATE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "ev/ev.h"

struct hash;

struct ev_fdw {
	ev_fd_fn *cb;
	void *ctx;
	unsigned interest;
	/* Bumped on every add so events collected for a deleted watcher are
	 * not delivered to a new watcher reusing the same fd number. */
	uint32_t gen;
	bool active;
	bool weak;
};

struct ev_timer {
	int64_t deadline;
	uint64_t seq; /* ties broken in order of (re)adding */
	size_t idx;   /* position in the heap */
	ev_timer_fn *cb;
	void *ctx;
	char key[40];
};

struct ev_sig {
	ev_signal_fn *cb;
	void *ctx;
};

struct ev {
	int epfd;
	struct ev_fdw *fds;
	size_t fds_cap;
	size_t nstrong; /* active non-weak fd watchers */

	struct ev_timer **heap;
	size_t ntimers, heap_cap;
	uint64_t timer_seq;
	struct hash *timer_index; /* "cb:ctx" -> struct ev_timer */

	struct list_node defers;
	struct list_node *defer_batch; /* the batch being run, or NULL */

	int sigfd;
	sigset_t sigmask, saved_mask;
	bool mask_saved;
	struct ev_sig sigs[_NSIG];

	int64_t now;
	int refs;
	bool stop, stop_idle;
};

/* timer.c */
void ev_timers_init(struct ev *ev);
void ev_timers_free(struct ev *ev);
/* Milliseconds until the first timer, -1 if none. */
int64_t ev_timers_wait_ms(struct ev *ev);
void ev_timers_run(struct ev *ev);

/* defer.c */
bool ev_defers_pending(const struct ev *ev);
void ev_defers_run(struct ev *ev);
void ev_defers_free(struct ev *ev);

/* signal.c */
void ev_signals_free(struct ev *ev);

#endif
