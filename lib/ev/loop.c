/*
 * loop.c - the epoll core of ev.h: fd watchers and the main loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "ev/ev_private.h"

#define EV_BATCH 64

struct ev *ev_new(void)
{
	struct ev *ev = xcalloc(1, sizeof(*ev));

	ev->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ev->epfd < 0)
		fatal("epoll_create1: %s", strerror(errno));
	ev->sigfd = -1;
	list_init(&ev->defers);
	ev_timers_init(ev);
	ev->now = time_mono_ms();
	return ev;
}

void ev_free(struct ev **evp)
{
	struct ev *ev = *evp;

	if (ev == NULL)
		return;
	ev_signals_free(ev);
	ev_timers_free(ev);
	ev_defers_free(ev);
	close(ev->epfd);
	free(ev->fds);
	free(ev);
	*evp = NULL;
}

int64_t ev_now(struct ev *ev)
{
	return ev->now;
}

void ev_stop(struct ev *ev)
{
	ev->stop = true;
}

void ev_stop_when_idle(struct ev *ev)
{
	ev->stop_idle = true;
}

bool ev_stopping(const struct ev *ev)
{
	return ev->stop || ev->stop_idle;
}

void ev_ref(struct ev *ev)
{
	ev->refs++;
}

void ev_unref(struct ev *ev)
{
	ASSERT(ev->refs > 0);
	ev->refs--;
}

static uint32_t ev_epoll_bits(unsigned interest)
{
	uint32_t bits = 0;

	if (interest & EV_READ)
		bits |= EPOLLIN | EPOLLRDHUP;
	if (interest & EV_WRITE)
		bits |= EPOLLOUT;
	return bits;
}

static int ev_ctl(struct ev *ev, int op, int fd, struct error *err)
{
	struct ev_fdw *w = &ev->fds[fd];
	struct epoll_event e = {
	    .events = ev_epoll_bits(w->interest),
	    .data.u64 = (uint64_t)w->gen << 32 | (uint32_t)fd,
	};

	if (epoll_ctl(ev->epfd, op, fd, &e) < 0)
		return error_set(err,
				 errno == ENOMEM || errno == ENOSPC ? ERR_TEMP
								    : ERR_PERM,
				 "epoll_ctl fd %d: %s", fd, strerror(errno));
	return 0;
}

int ev_fd_add(struct ev *ev, int fd, unsigned interest, ev_fd_fn *cb, void *ctx,
	      struct error *err)
{
	struct ev_fdw *w;

	ASSERT(fd >= 0 && cb != NULL);
	if ((size_t)fd >= ev->fds_cap) {
		size_t cap = ev->fds_cap ? ev->fds_cap : 64;

		while (cap <= (size_t)fd)
			cap *= 2;
		ev->fds = xreallocarray(ev->fds, cap, sizeof(*ev->fds));
		memset(ev->fds + ev->fds_cap, 0,
		       (cap - ev->fds_cap) * sizeof(*ev->fds));
		ev->fds_cap = cap;
	}
	w = &ev->fds[fd];
	if (w->active)
		panic("ev_fd_add: fd %d is already watched", fd);
	w->cb = cb;
	w->ctx = ctx;
	w->interest = interest & (EV_READ | EV_WRITE);
	w->weak = (interest & EV_FD_WEAK) != 0;
	w->gen++;
	if (ev_ctl(ev, EPOLL_CTL_ADD, fd, err) < 0)
		return -1;
	w->active = true;
	if (!w->weak)
		ev->nstrong++;
	return 0;
}

int ev_fd_set(struct ev *ev, int fd, unsigned interest, struct error *err)
{
	struct ev_fdw *w;

	ASSERT(fd >= 0 && (size_t)fd < ev->fds_cap && ev->fds[fd].active);
	w = &ev->fds[fd];
	interest &= EV_READ | EV_WRITE;
	if (w->interest == interest)
		return 0;
	w->interest = interest;
	return ev_ctl(ev, EPOLL_CTL_MOD, fd, err);
}

unsigned ev_fd_interest(const struct ev *ev, int fd)
{
	if (fd < 0 || (size_t)fd >= ev->fds_cap || !ev->fds[fd].active)
		return 0;
	return ev->fds[fd].interest;
}

void ev_fd_del(struct ev *ev, int fd)
{
	struct ev_fdw *w;

	if (fd < 0 || (size_t)fd >= ev->fds_cap || !ev->fds[fd].active)
		return;
	w = &ev->fds[fd];
	/* Fails only if the caller closed fd first; the kernel then already
	 * forgot it, which is what we want anyway. */
	(void)epoll_ctl(ev->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->active = false;
	if (!w->weak)
		ev->nstrong--;
	w->cb = NULL;
	w->ctx = NULL;
}

static bool ev_idle(const struct ev *ev)
{
	return ev->nstrong == 0 && ev->ntimers == 0 && ev->refs == 0 &&
	       !ev_defers_pending(ev);
}

static void ev_dispatch(struct ev *ev, const struct epoll_event *e)
{
	int fd = (int)(uint32_t)e->data.u64;
	uint32_t gen = (uint32_t)(e->data.u64 >> 32);
	struct ev_fdw *w;
	unsigned events = 0;

	if ((size_t)fd >= ev->fds_cap)
		return;
	w = &ev->fds[fd];
	if (!w->active || w->gen != gen)
		return;
	if (e->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		events |= EV_READ;
	if (e->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		events |= EV_WRITE;
	if (e->events & (EPOLLHUP | EPOLLERR))
		events |= EV_ERROR;
	/* Deliver only what was asked for, plus the error condition. */
	events &= w->interest | EV_ERROR;
	if (events == EV_ERROR)
		events |= w->interest;
	if (events != 0)
		w->cb(ev, fd, events, w->ctx);
}

int ev_run_once(struct ev *ev, int timeout_ms)
{
	struct epoll_event events[EV_BATCH];
	int64_t wait = timeout_ms;
	int64_t tw;
	int n, i;

	ev->now = time_mono_ms();
	ev_defers_run(ev);
	/* The deferred calls may have been the last work: waiting in
	 * epoll_wait() now would block an idle-stopping loop for ever. */
	if (ev->stop || (ev->stop_idle && ev_idle(ev)))
		return 0;
	tw = ev_timers_wait_ms(ev);
	if (tw >= 0 && (wait < 0 || tw < wait))
		wait = tw;
	if (ev_defers_pending(ev))
		wait = 0;
	if (wait > 0x7fffffff)
		wait = 0x7fffffff;
	n = epoll_wait(ev->epfd, events, EV_BATCH, (int)wait);
	ev->now = time_mono_ms();
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		log_error("epoll_wait: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++)
		ev_dispatch(ev, &events[i]);
	ev_timers_run(ev);
	return 0;
}

int ev_run(struct ev *ev)
{
	ev->stop = false;
	for (;;) {
		if (ev->stop)
			break;
		if (ev->stop_idle && ev_idle(ev))
			break;
		if (ev_run_once(ev, -1) < 0)
			return -1;
	}
	ev->stop = false;
	ev->stop_idle = false;
	return 0;
}
