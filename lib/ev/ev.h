/*
 * ev - the event loop of a Postern process.
 *
 * One loop per process, driven by one thread (the "loop thread"); nothing
 * here is thread-safe except worker.h's completion path, which wakes the
 * loop through an eventfd.  Built directly on epoll, timerless epoll_wait
 * timeouts and signalfd; no libevent.
 *
 * What a loop offers:
 *   - fd watchers: LEVEL-TRIGGERED read/write interest on a descriptor,
 *     one watcher (callback, ctx) per fd.  Level-triggered so a callback
 *     that stops early (pipelining limits, io_pause) is simply called
 *     again; nothing is ever lost to a missed edge.
 *   - timers on the monotonic clock, kept in a binary heap.  As in
 *     Postfix's events.c there is at most ONE timer per (callback, ctx)
 *     pair: adding it again replaces the deadline.  A timer is one-shot.
 *   - deferred callbacks, run at the start of the next iteration (after
 *     the current batch of events), in the order they were queued.
 *   - signals (SIGHUP, SIGTERM, SIGINT, SIGCHLD...) read from a signalfd,
 *     so a handler runs as an ordinary callback on the loop thread and may
 *     do anything.  Registering a signal blocks it for the process.
 *
 * Callbacks may add or remove any watcher, timer or deferred callback,
 * including their own, and may call ev_stop().  After ev_fd_del(fd) or
 * ev_timer_del() returns, the removed callback is not called again, even
 * if its event was already collected in the current batch.
 *
 * Errors: functions that can fail (epoll_ctl, signalfd) return -1 and fill
 * err (ERR_TEMP for resource shortages, ERR_PERM for a bad descriptor);
 * misuse (a second watcher on the same fd) is a panic().
 */
#ifndef POSTERN_EV_H
#define POSTERN_EV_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

struct ev;

/* Interest / readiness bits. */
enum {
	EV_READ = 1 << 0,
	EV_WRITE = 1 << 1,
	/* Reported only: hang-up or error condition on the fd (EPOLLHUP,
	 * EPOLLERR); always delivered along with EV_READ so a reader sees
	 * EOF or the error from read(). */
	EV_ERROR = 1 << 2,
};

typedef void ev_fd_fn(struct ev *ev, int fd, unsigned events, void *ctx);
typedef void ev_timer_fn(struct ev *ev, void *ctx);
typedef void ev_defer_fn(struct ev *ev, void *ctx);
typedef void ev_signal_fn(struct ev *ev, int signo, void *ctx);

/*
 * Create the loop.  fatal() if the kernel refuses an epoll instance (a
 * start-up failure).  ev_free() closes the internal descriptors, drops all
 * watchers without calling them and restores the signal mask.
 */
struct ev *ev_new(void);
void ev_free(struct ev **ev);

/*
 * Run until ev_stop() (returns 0) or until ev_stop_when_idle() finds
 * nothing left to wait for.  Returns -1 only if epoll_wait fails for a
 * reason other than EINTR (logged).
 */
int ev_run(struct ev *ev);
/* Run one iteration, waiting at most timeout_ms (-1: until an event). */
int ev_run_once(struct ev *ev, int timeout_ms);
/* Make ev_run() return after the current iteration. */
void ev_stop(struct ev *ev);
/*
 * Graceful stop: ev_run() returns once no fd watcher, timer, deferred
 * callback or reference (ev_ref) remains.  Signal handlers and watchers
 * added with EV_FD_WEAK do not keep the loop alive.  A server calls this
 * after closing its listeners so live sessions can finish.
 */
void ev_stop_when_idle(struct ev *ev);
bool ev_stopping(const struct ev *ev);

/* Keep the loop alive for outstanding work that has no fd or timer of its
 * own (worker jobs use this). */
void ev_ref(struct ev *ev);
void ev_unref(struct ev *ev);

/* Monotonic milliseconds, cached at the start of the iteration. */
int64_t ev_now(struct ev *ev);

/*
 * fd watchers.  `interest` is a mix of EV_READ and EV_WRITE (0 allowed:
 * registered but quiet).  The loop never closes the fd; delete the watcher
 * before closing it.  ev_fd_add() panics if fd is already watched.
 */
enum { EV_FD_WEAK = 1 << 8 }; /* flag for ev_fd_add: does not keep loop alive */
int ev_fd_add(struct ev *ev, int fd, unsigned interest, ev_fd_fn *cb, void *ctx,
	      struct error *err);
/* Change the interest of a watched fd. */
int ev_fd_set(struct ev *ev, int fd, unsigned interest, struct error *err);
unsigned ev_fd_interest(const struct ev *ev, int fd);
/* Stop watching fd (no-op if not watched). */
void ev_fd_del(struct ev *ev, int fd);

/*
 * Timers: call cb(ev, ctx) once, delay_ms from now.  Re-adding the same
 * (cb, ctx) pair moves the existing timer.  Timers with the same deadline
 * fire in the order they were (last) added.
 */
void ev_timer_add(struct ev *ev, int64_t delay_ms, ev_timer_fn *cb, void *ctx);
/* Returns true if the timer was pending. */
bool ev_timer_del(struct ev *ev, ev_timer_fn *cb, void *ctx);
bool ev_timer_pending(const struct ev *ev, ev_timer_fn *cb, void *ctx);

/*
 * Deferred callbacks: run cb(ev, ctx) at the start of the next iteration,
 * before waiting for I/O.  Each call queues one run (unlike timers).
 * ev_defer_cancel() removes every queued run of (cb, ctx).
 */
void ev_defer(struct ev *ev, ev_defer_fn *cb, void *ctx);
void ev_defer_cancel(struct ev *ev, ev_defer_fn *cb, void *ctx);

/*
 * Signals: block signo and deliver it through the loop's signalfd.  One
 * handler per signal; re-adding replaces it.  SIGCHLD handlers must reap
 * with waitpid(-1, ..., WNOHANG) in a loop: several children may be
 * reported as one signal.
 */
int ev_signal_add(struct ev *ev, int signo, ev_signal_fn *cb, void *ctx,
		  struct error *err);
void ev_signal_del(struct ev *ev, int signo);

/*
 * Optional type checking of ctx: EV_TIMER_ADD(ev, ms, cb, ctx) compiles
 * only if cb takes (struct ev *, typeof(ctx)).  Callbacks written as
 * `void cb(struct ev *ev, struct session *s)` then need no cast at the
 * call site and no void * in their body.
 */
#define EV_CB_TYPECHECK(cb, ...)                                               \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&(cb)),         \
						    void (*)(__VA_ARGS__)),    \
		       "callback type does not match its context")
#define EV_TIMER_ADD(loop, ms, cb, ctx)                                        \
	do {                                                                   \
		EV_CB_TYPECHECK(cb, struct ev *, __typeof__(ctx));             \
		ev_timer_add((loop), (ms), (ev_timer_fn *)(void (*)(void))(cb), \
			     (void *)(ctx));                                   \
	} while (0)
#define EV_TIMER_DEL(loop, cb, ctx)                                            \
	ev_timer_del((loop), (ev_timer_fn *)(void (*)(void))(cb), (void *)(ctx))
#define EV_DEFER(loop, cb, ctx)                                                \
	do {                                                                   \
		EV_CB_TYPECHECK(cb, struct ev *, __typeof__(ctx));             \
		ev_defer((loop), (ev_defer_fn *)(void (*)(void))(cb),          \
			 (void *)(ctx));                                       \
	} while (0)

#endif
