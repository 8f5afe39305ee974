/*
 * test_worker - 1000 jobs through the pool, completions on the loop thread.
 */
#include <pthread.h>
#include <stdlib.h>

#include "test.h"

#include "core/log.h"
#include "ev/ev.h"
#include "ev/worker.h"

#define NJOBS 1000

struct job {
	int input, output;
	pthread_t ran_on;
	struct state *st;
};

struct state {
	pthread_t loop_thread;
	int done, done_off_loop, work_on_loop;
	long sum;
};

static void work(void *ctx)
{
	struct job *j = ctx;

	j->ran_on = pthread_self();
	j->output = j->input * 2;
}

static void done(void *ctx)
{
	struct job *j = ctx;

	if (!pthread_equal(pthread_self(), j->st->loop_thread))
		j->st->done_off_loop++;
	if (pthread_equal(j->ran_on, j->st->loop_thread))
		j->st->work_on_loop++;
	j->st->done++;
	j->st->sum += j->output;
}

static void test_thousand_jobs(void **state)
{
	struct ev *ev = ev_new();
	struct worker_pool *pool = worker_pool_new(ev, 4);
	struct job *jobs = calloc(NJOBS, sizeof(*jobs));
	struct state st = {.loop_thread = pthread_self()};
	long expect = 0;
	int i;

	assert_int_equal(worker_threads(pool), 4);
	for (i = 0; i < NJOBS; i++) {
		jobs[i].input = i;
		jobs[i].st = &st;
		expect += 2L * i;
		worker_submit(pool, work, done, &jobs[i]);
	}
	assert_int_equal(worker_pending(pool), NJOBS);
	/* Outstanding jobs keep the loop alive; it ends when all are done. */
	ev_stop_when_idle(ev);
	assert_int_equal(ev_run(ev), 0);
	assert_int_equal(st.done, NJOBS);
	assert_int_equal(st.done_off_loop, 0);
	assert_int_equal(st.work_on_loop, 0);
	assert_int_equal(st.sum, expect);
	assert_int_equal(worker_pending(pool), 0);
	worker_pool_free(&pool);
	assert_null(pool);
	ev_free(&ev);
	free(jobs);
}

static void chain_done(void *ctx);

struct chain {
	struct worker_pool *pool;
	int steps;
};

static void chain_work(void *ctx)
{
	(void)ctx;
}

static void chain_done(void *ctx)
{
	struct chain *c = ctx;

	/* done() may submit more work. */
	if (++c->steps < 10)
		worker_submit(c->pool, chain_work, chain_done, c);
}

static void test_submit_from_done(void **state)
{
	struct ev *ev = ev_new();
	struct chain c = {.pool = worker_pool_new(ev, 2)};

	worker_submit(c.pool, chain_work, chain_done, &c);
	ev_stop_when_idle(ev);
	ev_run(ev);
	assert_int_equal(c.steps, 10);
	worker_pool_free(&c.pool);
	ev_free(&ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_thousand_jobs),
	    cmocka_unit_test(test_submit_from_done),
	};

	log_init("test_worker");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
