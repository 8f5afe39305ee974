/*
 * worker.c - the blocking-work thread pool (see worker.h for why).
 *
 * Jobs go through two mutex-protected queues: `todo` (loop -> threads,
 * signalled by a condition variable) and `done` (threads -> loop,
 * signalled by an eventfd the loop watches).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/list.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/worker.h"

struct worker_job {
	struct list_node node;
	worker_work_fn *work;
	worker_done_fn *done;
	void *ctx;
};

struct worker_pool {
	struct ev *ev;
	int efd;
	unsigned nthreads;
	pthread_t *threads;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct list_node todo, done;
	bool shutdown;
	size_t pending; /* loop thread only */
};

static void *worker_main(void *arg)
{
	struct worker_pool *pool = arg;
	sigset_t all;

	/* Signals belong to the loop's signalfd, never to a worker. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct worker_job *job;
		uint64_t one = 1;

		while (list_empty(&pool->todo) && !pool->shutdown)
			pthread_cond_wait(&pool->cond, &pool->lock);
		if (list_empty(&pool->todo))
			break; /* shutdown and nothing left */
		job = LIST_ENTRY(pool->todo.next, struct worker_job, node);
		list_remove(&job->node);
		pthread_mutex_unlock(&pool->lock);

		job->work(job->ctx);

		pthread_mutex_lock(&pool->lock);
		list_push_back(&pool->done, &job->node);
		/* An eventfd counter write only fails on overflow, which
		 * 2^64-1 wakeups cannot reach. */
		if (write(pool->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("worker: eventfd write: %s", strerror(errno));
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

static void worker_wakeup(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct worker_pool *pool = ctx;
	struct list_node batch;
	uint64_t count;

	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("worker: eventfd read: %s", strerror(errno));
	list_init(&batch);
	pthread_mutex_lock(&pool->lock);
	if (!list_empty(&pool->done)) {
		batch = pool->done;
		batch.next->prev = &batch;
		batch.prev->next = &batch;
		list_init(&pool->done);
	}
	pthread_mutex_unlock(&pool->lock);
	while (!list_empty(&batch)) {
		struct worker_job *job =
		    LIST_ENTRY(batch.next, struct worker_job, node);

		list_remove(&job->node);
		pool->pending--;
		ev_unref(pool->ev);
		if (job->done != NULL)
			job->done(job->ctx);
		free(job);
	}
}

struct worker_pool *worker_pool_new(struct ev *ev, unsigned nthreads)
{
	struct worker_pool *pool = xcalloc(1, sizeof(*pool));
	struct error err;
	unsigned i;
	int rc;

	if (nthreads == 0)
		nthreads = 1;
	pool->ev = ev;
	pool->nthreads = nthreads;
	list_init(&pool->todo);
	list_init(&pool->done);
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	pool->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool->efd < 0)
		fatal("worker: eventfd: %s", strerror(errno));
	if (ev_fd_add(ev, pool->efd, EV_READ | EV_FD_WEAK, worker_wakeup, pool,
		      &err) < 0)
		fatal("worker: %s", err.msg);
	pool->threads = xcalloc(nthreads, sizeof(*pool->threads));
	for (i = 0; i < nthreads; i++) {
		rc = pthread_create(&pool->threads[i], NULL, worker_main, pool);
		if (rc != 0)
			fatal("worker: pthread_create: %s", strerror(rc));
	}
	return pool;
}

void worker_pool_free(struct worker_pool **poolp)
{
	struct worker_pool *pool = *poolp;
	unsigned i;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->shutdown = true;
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	while (!list_empty(&pool->done)) {
		struct list_node *n = pool->done.next;

		list_remove(n);
		free(LIST_ENTRY(n, struct worker_job, node));
		ev_unref(pool->ev);
	}
	ev_fd_del(pool->ev, pool->efd);
	close(pool->efd);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
	*poolp = NULL;
}

void worker_submit(struct worker_pool *pool, worker_work_fn *work,
		   worker_done_fn *done, void *ctx)
{
	struct worker_job *job = xmalloc(sizeof(*job));

	job->work = work;
	job->done = done;
	job->ctx = ctx;
	pool->pending++;
	ev_ref(pool->ev);
	pthread_mutex_lock(&pool->lock);
	list_push_back(&pool->todo, &job->node);
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
}

size_t worker_pending(const struct worker_pool *pool)
{
	return pool->pending;
}

unsigned worker_threads(const struct worker_pool *pool)
{
	return pool->nthreads;
}
