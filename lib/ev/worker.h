/*
 * worker - a pool of threads for blocking work, completed on the loop.
 *
 * worker_submit(pool, work, done, ctx) runs work(ctx) on one of N threads
 * and then done(ctx) on the loop thread; the threads wake the loop with an
 * eventfd.  Jobs start in submission order; with N > 1 they may finish in
 * any order.  ctx is owned by the caller and carries both the arguments
 * and the result; the pool never frees it.
 *
 * Why a pool instead of each driver's asynchronous API: SQLite only has a
 * synchronous API, MariaDB's non-blocking client calls are a different
 * state machine per call, libpq's async mode still blocks in some paths
 * (connection setup with some auth methods, large COPYs), and fsync() and
 * getaddrinfo() have no async form at all.  One pool gives every blocking
 * call the same shape - a function run elsewhere plus a completion on the
 * loop - so lib/db can keep one synchronous driver interface for all three
 * databases and the daemons never block their loop.  Postfix gets the same
 * effect with one process per connection; we keep processes few.
 *
 * Rules for work functions: they run concurrently with the loop and with
 * each other, so they must not touch the loop, io objects or any state the
 * loop thread uses without their own locking; log_* is safe (one write per
 * line).  done() runs on the loop thread and may submit more jobs.
 *
 * An outstanding job holds a reference on the loop (ev_ref), so
 * ev_stop_when_idle() waits for it.
 */
#ifndef POSTERN_WORKER_H
#define POSTERN_WORKER_H

#include <stddef.h>

struct ev;
struct worker_pool;

typedef void worker_work_fn(void *ctx);
typedef void worker_done_fn(void *ctx);

/* Start nthreads threads (at least 1); fatal() if threads cannot start. */
struct worker_pool *worker_pool_new(struct ev *ev, unsigned nthreads);
/*
 * Wait for queued and running jobs to finish, join the threads and free
 * the pool.  done() callbacks still pending are NOT run: free the pool only
 * after the loop has drained (ev_stop_when_idle) or when they do not
 * matter.  Must be called on the loop thread, never from a work function.
 */
void worker_pool_free(struct worker_pool **pool);

/* Queue a job; never fails.  done may be NULL. */
void worker_submit(struct worker_pool *pool, worker_work_fn *work,
		   worker_done_fn *done, void *ctx);
/* Jobs submitted whose done() has not run yet. */
size_t worker_pending(const struct worker_pool *pool);
unsigned worker_threads(const struct worker_pool *pool);

#endif
