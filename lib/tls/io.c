/*
 * io.c - struct io: buffers, readiness, timeouts and the event callback.
 *
 * Loop entry points (fd readiness, the timer, deferred callbacks) hold the
 * io while they run, so an owner may io_free() it from its callback; the
 * memory goes when the outermost entry point returns.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "tls/io_private.h"
#include "tls/tls_private.h"

#define IO_CHUNK 16384
/* Bytes read per readiness event before yielding to other connections. */
#define IO_READ_PASS (256 * 1024)
#define IO_DEFAULT_MAX_LINE 4096
#define IO_DEFAULT_HS_TIMEOUT 30000

static void io_on_fd(struct ev *ev, int fd, unsigned events, void *ctx);
static void io_on_timeout(struct ev *ev, void *ctx);
static void io_on_deferred_input(struct ev *ev, void *ctx);

static void io_hold(struct io *io)
{
	io->hold++;
}

static void io_destroy(struct io *io)
{
	io_deflate_free(io);
	buf_free(&io->in);
	buf_free(&io->out);
	buf_free(&io->line);
	free(io);
}

/* Returns true if the io is gone (or must not be touched further). */
static bool io_release(struct io *io)
{
	if (--io->hold == 0 && io->freed) {
		io_destroy(io);
		return true;
	}
	return io->freed;
}

void io_emit(struct io *io, enum io_event event)
{
	if (!io->freed)
		io->cb(io, event, io->ctx);
}

static struct io *io_alloc(struct ev *ev, int fd, io_callback_fn *cb, void *ctx,
			   enum io_state state)
{
	static bool sigpipe_ignored;
	struct io *io = xcalloc(1, sizeof(*io));
	struct error err;

	/* OpenSSL writes with write(2), which cannot say MSG_NOSIGNAL: a
	 * peer that vanished must give EPIPE, not kill the process. */
	if (!sigpipe_ignored) {
		signal(SIGPIPE, SIG_IGN);
		sigpipe_ignored = true;
	}
	io->ev = ev;
	io->fd = fd;
	io->cb = cb;
	io->ctx = ctx;
	io->state = state;
	io->in = buf_new();
	io->out = buf_new();
	io->line = buf_new();
	io->max_line = IO_DEFAULT_MAX_LINE;
	io->hs_timeout_ms = IO_DEFAULT_HS_TIMEOUT;
	if (ev_fd_add(ev, fd, 0, io_on_fd, io, &err) < 0)
		panic("io_new: %s", err.msg);
	io_update(io);
	return io;
}

struct io *io_new(struct ev *ev, int fd, io_callback_fn *cb, void *ctx)
{
	return io_alloc(ev, fd, cb, ctx, IO_ST_OPEN);
}

struct io *io_new_connect(struct ev *ev, int fd, io_callback_fn *cb, void *ctx)
{
	return io_alloc(ev, fd, cb, ctx, IO_ST_CONNECTING);
}

void io_free(struct io **iop)
{
	struct io *io = *iop;

	if (io == NULL)
		return;
	*iop = NULL;
	if (io->freed)
		return;
	ev_fd_del(io->ev, io->fd);
	ev_timer_del(io->ev, io_on_timeout, io);
	ev_defer_cancel(io->ev, io_on_deferred_input, io);
	if (io->ssl != NULL) {
		SSL_free(io->ssl);
		io->ssl = NULL;
	}
	close(io->fd);
	io->fd = -1;
	io->state = IO_ST_DEAD;
	if (io->hold > 0)
		io->freed = true;
	else
		io_destroy(io);
}

void io_set_callback(struct io *io, io_callback_fn *cb, void *ctx)
{
	io->cb = cb;
	io->ctx = ctx;
}

int io_fd(const struct io *io)
{
	return io->fd;
}

const char *io_error(const struct io *io)
{
	return io->error;
}

const char *io_event_name(enum io_event event)
{
	static const char *const names[] = {
	    "IO_DATAIN", "IO_LOWAT",	"IO_TIMEOUT",	"IO_DISCONNECTED",
	    "IO_ERROR",	 "IO_TLSREADY", "IO_CONNECTED",
	};

	if ((size_t)event < sizeof(names) / sizeof(names[0]))
		return names[event];
	return "IO_?";
}

size_t io_in_cap(const struct io *io)
{
	return 2 * io->max_line + 2 * IO_READ_PASS;
}

void io_update(struct io *io)
{
	unsigned want = 0;
	bool out_pending =
	    buf_len(io->out) > io->out_off || io_deflate_pending(io) > 0;

	switch (io->state) {
	case IO_ST_CONNECTING:
		want = EV_WRITE;
		break;
	case IO_ST_OPEN:
		if (!io->paused && !io->in_full && !io->eof)
			want |= EV_READ;
		if (out_pending)
			want |= EV_WRITE;
		break;
	case IO_ST_TLS_FLUSH:
	case IO_ST_CLOSING:
		want = EV_WRITE;
		break;
	case IO_ST_HANDSHAKE:
		want = io->ssl_want_write ? EV_WRITE : EV_READ;
		break;
	case IO_ST_DEAD:
		return;
	}
	if (io->fd >= 0 && want != io->interest && !io->freed) {
		struct error err;

		if (ev_fd_set(io->ev, io->fd, want, &err) < 0)
			log_warn("io: %s", err.msg);
		io->interest = want;
	}
}

void io_timer_restart(struct io *io)
{
	int64_t ms =
	    io->state == IO_ST_HANDSHAKE ? io->hs_timeout_ms : io->timeout_ms;

	if (io->state == IO_ST_DEAD || io->freed)
		return;
	if (ms > 0)
		ev_timer_add(io->ev, ms, io_on_timeout, io);
	else
		ev_timer_del(io->ev, io_on_timeout, io);
}

void io_finish(struct io *io, enum io_event event)
{
	if (io->state == IO_ST_DEAD || io->freed)
		return;
	/* After io_close() the owner only ever hears IO_DISCONNECTED. */
	if (io->state == IO_ST_CLOSING)
		event = IO_DISCONNECTED;
	io->state = IO_ST_DEAD;
	ev_timer_del(io->ev, io_on_timeout, io);
	ev_defer_cancel(io->ev, io_on_deferred_input, io);
	/* Off the loop entirely: a hung-up fd would otherwise keep firing
	 * EPOLLHUP until the owner frees the io. */
	ev_fd_del(io->ev, io->fd);
	io->interest = 0;
	io_emit(io, event);
}

void io_fail(struct io *io, const char *fmt, ...)
{
	va_list ap;
	char msg[sizeof(io->error)];

	/* Through a copy: callers pass io->error itself as an argument
	 * ("TLS write: %s"), which vsnprintf must not write over. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(io->error, msg, sizeof(msg));
	log_debug(LOG_TRACE_IO, "io fd=%d: %s", io->fd, io->error);
	io_finish(io, IO_ERROR);
}

void io_set_timeout(struct io *io, int64_t ms)
{
	io->timeout_ms = ms;
	if (io->state != IO_ST_HANDSHAKE)
		io_timer_restart(io);
}

void io_set_handshake_timeout(struct io *io, int64_t ms)
{
	io->hs_timeout_ms = ms;
	if (io->state == IO_ST_HANDSHAKE)
		io_timer_restart(io);
}

void io_set_max_line(struct io *io, size_t max)
{
	io->max_line = max > 0 ? max : 1;
}

void io_pause(struct io *io)
{
	io->paused = true;
	ev_defer_cancel(io->ev, io_on_deferred_input, io);
	io_update(io);
}

void io_resume(struct io *io)
{
	if (!io->paused)
		return;
	io->paused = false;
	io_update(io);
	/* Input (or an EOF) is already here: no readiness will announce it. */
	if (io->state == IO_ST_OPEN &&
	    (buf_len(io->in) > 0 || io->eof ||
	     (io->tls_ready && SSL_pending(io->ssl) > 0)))
		ev_defer(io->ev, io_on_deferred_input, io);
}

void io_write(struct io *io, const void *data, size_t len)
{
	if (io->state == IO_ST_DEAD || io->freed || len == 0)
		return;
	buf_append(io->out, data, len);
	io_update(io);
}

void io_print(struct io *io, const char *s)
{
	io_write(io, s, strlen(s));
}

void io_vprintf(struct io *io, const char *fmt, va_list ap)
{
	if (io->state == IO_ST_DEAD || io->freed)
		return;
	buf_vprintf(io->out, fmt, ap);
	io_update(io);
}

void io_printf(struct io *io, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	io_vprintf(io, fmt, ap);
	va_end(ap);
}

size_t io_outbuf_len(const struct io *io)
{
	return buf_len(io->out) - io->out_off + io_deflate_pending(io);
}

void io_trim(struct io *io)
{
	if (io->freed)
		return;
	if (buf_len(io->in) == 0) {
		buf_free(&io->in);
		io->in = buf_new();
	}
	if (buf_len(io->out) == 0 && io->out_off == 0) {
		buf_free(&io->out);
		io->out = buf_new();
	}
	buf_free(&io->line);
	io->line = buf_new();
}

void io_close(struct io *io)
{
	if (io->state == IO_ST_DEAD || io->freed || io->state == IO_ST_CLOSING)
		return;
	io->state = IO_ST_CLOSING;
	ev_defer_cancel(io->ev, io_on_deferred_input, io);
	io_update(io);
}

static void io_close_finish(struct io *io)
{
	/* One close_notify, without waiting for the peer's: RFC 8446 6.1
	 * lets the closing side go, and a dead peer must not hold us. */
	if (io->ssl != NULL && io->tls_ready)
		(void)SSL_shutdown(io->ssl);
	ERR_clear_error();
	(void)shutdown(io->fd, SHUT_WR);
	io_finish(io, IO_DISCONNECTED);
}

/* Deliver buffered input, then a pending EOF once the owner had its say. */
static void io_deliver_input(struct io *io)
{
	if (buf_len(io->in) > 0)
		io_emit(io, IO_DATAIN);
	if (io->freed || io->state != IO_ST_OPEN)
		return;
	if (io->eof && !io->paused)
		io_finish(io, IO_DISCONNECTED);
}

/* Read one chunk: >0 bytes, 0 EOF, -1 would block, -2 error (set). */
static ssize_t io_read_chunk(struct io *io, char *tmp, size_t size)
{
	ssize_t n;

	if (!io->tls_ready) {
		do {
			n = read(io->fd, tmp, size);
		} while (n < 0 && errno == EINTR);
		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -1;
		snprintf(io->error, sizeof(io->error), "read: %s",
			 strerror(errno));
		return -2;
	}
	n = SSL_read(io->ssl, tmp, (int)size);
	if (n > 0)
		return n;
	switch (SSL_get_error(io->ssl, (int)n)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		/* EOF without close_notify: as good as a FIN for SMTP/IMAP,
		 * whose own framing tells truncation apart. */
		if (errno == 0 || n == 0) {
			ERR_clear_error();
			return 0;
		}
		snprintf(io->error, sizeof(io->error), "TLS read: %s",
			 strerror(errno));
		ERR_clear_error();
		return -2;
	default:
		io->error[0] = '\0';
		strcpy(io->error, "TLS read: ");
		tls_error_text(io->error, sizeof(io->error));
		return -2;
	}
}

/* Read what is there; deliver it, or (force) whatever is buffered. */
static void io_do_read(struct io *io, bool force)
{
	char tmp[IO_CHUNK];
	size_t total = 0;
	ssize_t n = -1;

	while (total < IO_READ_PASS) {
		if (buf_len(io->in) >= io_in_cap(io)) {
			io->in_full = true;
			break;
		}
		errno = 0;
		n = io_read_chunk(io, tmp, sizeof(tmp));
		if (n <= 0)
			break;
		if (io->z == NULL) {
			buf_append(io->in, tmp, (size_t)n);
		} else if (io_inflate_append(io, tmp, (size_t)n) < 0) {
			snprintf(io->error, sizeof(io->error),
				 "corrupt compressed input");
			n = -2;
			break;
		}
		total += (size_t)n;
	}
	if (n == -2) {
		io_fail(io, "%s", io->error);
		return;
	}
	if (n == 0)
		io->eof = true;
	if (total > 0)
		io_timer_restart(io);
	/* Decrypted bytes waiting inside OpenSSL, or a pass cut short:
	 * level-triggered epoll will not necessarily tell us again. */
	if (total >= IO_READ_PASS ||
	    (io->tls_ready && !io->in_full && SSL_pending(io->ssl) > 0))
		ev_defer(io->ev, io_on_deferred_input, io);
	if (total > 0 || io->eof || (force && buf_len(io->in) > 0))
		io_deliver_input(io);
}

void io_schedule_input(struct io *io)
{
	if (io->state == IO_ST_OPEN && !io->paused && !io->freed) {
		ev_defer_cancel(io->ev, io_on_deferred_input, io);
		ev_defer(io->ev, io_on_deferred_input, io);
	}
}

static void io_on_deferred_input(struct ev *ev, void *ctx)
{
	struct io *io = ctx;

	if (io->state != IO_ST_OPEN || io->paused)
		return;
	io_hold(io);
	if (!io->in_full && !io->eof)
		io_do_read(io, true);
	else
		io_deliver_input(io);
	if (!io_release(io))
		io_update(io);
}

/* Write what the socket takes: 1 progress, 0 none, -1 failed (reported). */
static int io_do_write(struct io *io)
{
	int progress = 0;

	for (;;) {
		const char *p = buf_data(io->out) + io->out_off;
		size_t left = buf_len(io->out) - io->out_off;
		ssize_t n;

		if (io->z != NULL)
			p = io_deflate_out(io, &left);
		if (left == 0)
			break;

		if (!io->tls_ready) {
			n = send(io->fd, p, left, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				io_fail(io, "write: %s", strerror(errno));
				return -1;
			}
		} else {
			int r = SSL_write(io->ssl, p,
					  left > IO_CHUNK * 4 ? IO_CHUNK * 4
							      : (int)left);

			if (r <= 0) {
				int e = SSL_get_error(io->ssl, r);

				if (e == SSL_ERROR_WANT_WRITE ||
				    e == SSL_ERROR_WANT_READ)
					break;
				io->error[0] = '\0';
				tls_error_text(io->error, sizeof(io->error));
				io_fail(io, "TLS write: %s",
					io->error[0] ? io->error
						     : strerror(errno));
				return -1;
			}
			n = r;
		}
		if (io->z != NULL)
			io_deflate_sent(io, (size_t)n);
		else
			io->out_off += (size_t)n;
		progress = 1;
	}
	if (io->z != NULL) {
		/* io_deflate_out() consumed io->out. */
	} else if (buf_len(io->out) == io->out_off) {
		buf_reset(io->out);
		io->out_off = 0;
	} else if (io->out_off >= IO_READ_PASS) {
		buf_consume(io->out, io->out_off);
		io->out_off = 0;
	}
	if (progress)
		io_timer_restart(io);
	return progress;
}

static void io_on_ready(struct io *io, unsigned events)
{
	struct error err;
	int w;

	switch (io->state) {
	case IO_ST_CONNECTING:
		if (net_connect_finish(io->fd, &err) < 0) {
			io_fail(io, "%s", err.msg);
			return;
		}
		io->state = IO_ST_OPEN;
		io_timer_restart(io);
		io_emit(io, IO_CONNECTED);
		return;
	case IO_ST_HANDSHAKE:
		io_tls_handshake(io);
		return;
	case IO_ST_DEAD:
		return;
	default:
		break;
	}
	if (events & EV_WRITE) {
		w = io_do_write(io);
		if (w < 0 || io->freed)
			return;
		if (io_outbuf_len(io) == 0) {
			if (io->state == IO_ST_TLS_FLUSH) {
				io_tls_begin(io);
				return;
			}
			if (io->state == IO_ST_CLOSING) {
				io_close_finish(io);
				return;
			}
			if (w > 0)
				io_emit(io, IO_LOWAT);
		}
	}
	if (io->freed || io->state != IO_ST_OPEN)
		return;
	if ((events & EV_READ) && !io->paused && !io->in_full && !io->eof)
		io_do_read(io, false);
}

static void io_on_fd(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct io *io = ctx;

	io_hold(io);
	if ((events & EV_ERROR) && io->state != IO_ST_OPEN &&
	    io->state != IO_ST_HANDSHAKE) {
		/* Hang-up while not reading: level-triggered EPOLLHUP would
		 * fire forever, so the connection ends here. */
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (io->state == IO_ST_CONNECTING && soerr == 0)
			/* Connected, and the peer has already hung up (a
			 * server that writes "421 ..." and closes at once):
			 * finish the connect, so what it wrote is read
			 * before the end is reported. */
			io_on_ready(io, events);
		else if (io->state == IO_ST_CONNECTING)
			io_fail(io, "connect: %s", strerror(soerr));
		else if (soerr != 0)
			io_fail(io, "%s", strerror(soerr));
		else
			io_finish(io, IO_DISCONNECTED);
	} else if ((events & EV_ERROR) && io->state == IO_ST_OPEN &&
		   (io->paused || io->in_full || io->eof)) {
		/* Same, for a reader that is not reading right now. */
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr != 0)
			io_fail(io, "%s", strerror(soerr));
		else
			io_finish(io, IO_DISCONNECTED);
	} else {
		io_on_ready(io, events);
	}
	if (!io_release(io))
		io_update(io);
}

static void io_on_timeout(struct ev *ev, void *ctx)
{
	struct io *io = ctx;

	io_hold(io);
	snprintf(io->error, sizeof(io->error), "%s",
		 io->state == IO_ST_HANDSHAKE ? "TLS handshake timeout"
					      : "timeout");
	io_finish(io, IO_TIMEOUT);
	io_release(io);
}
