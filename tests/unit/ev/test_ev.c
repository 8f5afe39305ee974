/*
 * test_ev - timers, deferred callbacks, fd watchers, signals, idle stop.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#include "core/log.h"
#include "ev/ev.h"

struct trace {
	char order[64];
	int n;
};

static void mark(struct trace *t, char c)
{
	t->order[t->n++] = c;
	t->order[t->n] = '\0';
}

static struct trace g_trace;

static void timer_a(struct ev *ev, void *ctx)
{
	(void)ev;
	mark(&g_trace, *(char *)ctx);
}

static void timer_stop(struct ev *ev, void *ctx)
{
	(void)ctx;
	ev_stop(ev);
}

static void test_timers_in_order(void **state)
{
	struct ev *ev = ev_new();
	char a = 'a', b = 'b', c = 'c';

	memset(&g_trace, 0, sizeof(g_trace));
	ev_timer_add(ev, 30, timer_a, &c);
	ev_timer_add(ev, 10, timer_a, &a);
	ev_timer_add(ev, 20, timer_a, &b);
	ev_timer_add(ev, 60, timer_stop, NULL);
	assert_true(ev_timer_pending(ev, timer_a, &a));
	assert_int_equal(ev_run(ev), 0);
	assert_string_equal(g_trace.order, "abc");
	assert_false(ev_timer_pending(ev, timer_a, &a));
	ev_free(&ev);
	assert_null(ev);
}

static void test_timer_readd_replaces(void **state)
{
	struct ev *ev = ev_new();
	char a = 'a', b = 'b';
	int64_t start = ev_now(ev);

	memset(&g_trace, 0, sizeof(g_trace));
	ev_timer_add(ev, 10, timer_a, &a);
	ev_timer_add(ev, 20, timer_a, &b);
	/* Same (cb, ctx): moves 'a' after 'b' instead of adding a second. */
	ev_timer_add(ev, 40, timer_a, &a);
	ev_timer_add(ev, 80, timer_stop, NULL);
	ev_run(ev);
	assert_string_equal(g_trace.order, "ba");
	assert_true(ev_now(ev) - start >= 80);

	/* Deleting cancels. */
	memset(&g_trace, 0, sizeof(g_trace));
	ev_timer_add(ev, 5, timer_a, &a);
	assert_true(ev_timer_del(ev, timer_a, &a));
	assert_false(ev_timer_del(ev, timer_a, &a));
	ev_timer_add(ev, 20, timer_stop, NULL);
	ev_run(ev);
	assert_string_equal(g_trace.order, "");
	ev_free(&ev);
}

/* Typed callbacks through the type-checking macros. */
struct counter {
	int hits;
};

static void typed_defer(struct ev *ev, struct counter *c)
{
	c->hits++;
	if (c->hits < 3)
		EV_DEFER(ev, typed_defer, c);
	else
		ev_stop(ev);
}

static void defer_mark(struct ev *ev, void *ctx)
{
	mark(&g_trace, *(char *)ctx);
}

static void test_deferred(void **state)
{
	struct ev *ev = ev_new();
	struct counter c = {0};
	char x = 'x', y = 'y', z = 'z';

	/* Deferred callbacks re-queued by themselves run once per
	 * iteration, so the loop cannot spin inside one iteration. */
	EV_DEFER(ev, typed_defer, &c);
	assert_int_equal(ev_run_once(ev, 0), 0);
	assert_int_equal(c.hits, 1);
	ev_run(ev);
	assert_int_equal(c.hits, 3);

	memset(&g_trace, 0, sizeof(g_trace));
	ev_defer(ev, defer_mark, &x);
	ev_defer(ev, defer_mark, &y);
	ev_defer(ev, defer_mark, &z);
	ev_defer_cancel(ev, defer_mark, &y);
	ev_run_once(ev, 0);
	assert_string_equal(g_trace.order, "xz");
	ev_free(&ev);
}

static void pipe_read(struct ev *ev, int fd, unsigned events, void *ctx)
{
	char buf[16];
	int *got = ctx;

	assert_true(events & EV_READ);
	*got += (int)read(fd, buf, sizeof(buf));
	ev_fd_del(ev, fd);
}

static void test_fd_and_idle_stop(void **state)
{
	struct ev *ev = ev_new();
	struct error err;
	int p[2], got = 0;
	char a = 'a';

	assert_int_equal(pipe(p), 0);
	assert_int_equal(ev_fd_add(ev, p[0], EV_READ, pipe_read, &got, &err),
			 0);
	assert_int_equal(ev_fd_interest(ev, p[0]), EV_READ);
	assert_int_equal(write(p[1], "hello", 5), 5);
	memset(&g_trace, 0, sizeof(g_trace));
	ev_timer_add(ev, 15, timer_a, &a);
	/* Returns once the watcher removed itself and the timer fired. */
	ev_stop_when_idle(ev);
	assert_int_equal(ev_run(ev), 0);
	assert_int_equal(got, 5);
	assert_string_equal(g_trace.order, "a");
	close(p[0]);
	close(p[1]);
	ev_free(&ev);
}

static void defer_count(struct ev *ev, void *ctx)
{
	(void)ev;
	(*(int *)ctx)++;
}

/* A deferred call that is the loop's last work: ev_run() must return
 * after it instead of waiting in epoll_wait() with nothing to wait for. */
static void test_idle_stop_after_last_defer(void **state)
{
	struct ev *ev = ev_new();
	int ran = 0;

	(void)state;
	ev_defer(ev, defer_count, &ran);
	ev_stop_when_idle(ev);
	alarm(5); /* a hang fails the test instead of blocking ctest */
	assert_int_equal(ev_run(ev), 0);
	alarm(0);
	assert_int_equal(ran, 1);
	ev_free(&ev);
}

static void on_signal(struct ev *ev, int signo, void *ctx)
{
	int *seen = ctx;

	*seen = signo;
	ev_stop(ev);
}

static void test_signals(void **state)
{
	struct ev *ev = ev_new();
	struct error err;
	int seen = 0;
	sigset_t cur;

	assert_int_equal(ev_signal_add(ev, SIGHUP, on_signal, &seen, &err), 0);
	assert_int_equal(ev_signal_add(ev, SIGUSR1, on_signal, &seen, &err), 0);
	ev_timer_add(ev, 2000, timer_stop, NULL);
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	ev_run(ev);
	assert_int_equal(seen, SIGUSR1);
	seen = 0;
	assert_int_equal(kill(getpid(), SIGHUP), 0);
	ev_run(ev);
	assert_int_equal(seen, SIGHUP);
	/* Freeing the loop gives the signals back. */
	ev_free(&ev);
	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	assert_false(sigismember(&cur, SIGHUP));
	assert_false(sigismember(&cur, SIGUSR1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timers_in_order),
	    cmocka_unit_test(test_timer_readd_replaces),
	    cmocka_unit_test(test_deferred),
	    cmocka_unit_test(test_fd_and_idle_stop),
	    cmocka_unit_test(test_idle_stop_after_last_defer),
	    cmocka_unit_test(test_signals),
	};

	log_init("test_ev");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
