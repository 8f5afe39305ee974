/*
 * signal.c - signals delivered through one signalfd watched by the loop.
 *
 * The signals are blocked in the calling thread (the loop thread, before
 * any worker starts; worker threads block everything themselves), so the
 * kernel queues them for the signalfd instead of running a handler.
 */
#include <errno.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/log.h"
#include "ev/ev_private.h"

static void ev_signal_read(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct signalfd_siginfo si;
	ssize_t n;

	while ((n = read(fd, &si, sizeof(si))) == sizeof(si)) {
		int signo = (int)si.ssi_signo;

		if (signo > 0 && signo < _NSIG && ev->sigs[signo].cb != NULL)
			ev->sigs[signo].cb(ev, signo, ev->sigs[signo].ctx);
		if (ev->sigfd != fd)
			return; /* a handler freed the loop's signals */
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		log_warn("read signalfd: %s", strerror(errno));
}

int ev_signal_add(struct ev *ev, int signo, ev_signal_fn *cb, void *ctx,
		  struct error *err)
{
	sigset_t one;
	int fd;

	ASSERT(signo > 0 && signo < _NSIG && cb != NULL);
	if (!ev->mask_saved) {
		sigemptyset(&ev->sigmask);
		if (pthread_sigmask(SIG_SETMASK, NULL, &ev->saved_mask) != 0)
			return error_set(err, ERR_TEMP,
					 "pthread_sigmask failed");
		ev->mask_saved = true;
	}
	sigaddset(&ev->sigmask, signo);
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (pthread_sigmask(SIG_BLOCK, &one, NULL) != 0)
		return error_set(err, ERR_TEMP, "pthread_sigmask failed");
	fd = signalfd(ev->sigfd, &ev->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return error_set(err, ERR_TEMP, "signalfd: %s",
				 strerror(errno));
	if (ev->sigfd < 0) {
		ev->sigfd = fd;
		if (ev_fd_add(ev, fd, EV_READ | EV_FD_WEAK, ev_signal_read,
			      NULL, err) < 0) {
			close(fd);
			ev->sigfd = -1;
			return -1;
		}
	}
	ev->sigs[signo].cb = cb;
	ev->sigs[signo].ctx = ctx;
	return 0;
}

void ev_signal_del(struct ev *ev, int signo)
{
	sigset_t one;

	if (signo <= 0 || signo >= _NSIG || ev->sigs[signo].cb == NULL)
		return;
	ev->sigs[signo].cb = NULL;
	ev->sigs[signo].ctx = NULL;
	sigdelset(&ev->sigmask, signo);
	if (ev->sigfd >= 0)
		(void)signalfd(ev->sigfd, &ev->sigmask,
			       SFD_NONBLOCK | SFD_CLOEXEC);
	/* Unblock only if it was not blocked before we took it over. */
	if (ev->mask_saved && !sigismember(&ev->saved_mask, signo)) {
		sigemptyset(&one);
		sigaddset(&one, signo);
		pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	}
}

void ev_signals_free(struct ev *ev)
{
	int signo;

	for (signo = 1; signo < _NSIG; signo++)
		ev_signal_del(ev, signo);
	if (ev->sigfd >= 0) {
		ev_fd_del(ev, ev->sigfd);
		close(ev->sigfd);
		ev->sigfd = -1;
	}
	if (ev->mask_saved) {
		pthread_sigmask(SIG_SETMASK, &ev->saved_mask, NULL);
		ev->mask_saved = false;
	}
}
