/*
 * io_private.h - struct io, shared by io.c, io_line.c and io_tls.c only.
 */
#ifndef POSTERN_IO_PRIVATE_H
#define POSTERN_IO_PRIVATE_H

#include <openssl/ssl.h>
#include <stdbool.h>

#include "tls/io.h"

enum io_state {
	IO_ST_CONNECTING, /* outbound connect in progress */
	IO_ST_OPEN,
	IO_ST_TLS_FLUSH, /* STARTTLS: flushing the plaintext 220 first */
	IO_ST_HANDSHAKE,
	IO_ST_CLOSING, /* io_close: flushing, then IO_DISCONNECTED */
	IO_ST_DEAD,    /* a final event was delivered */
};

struct io {
	struct ev *ev;
	int fd;
	io_callback_fn *cb;
	void *ctx;
	enum io_state state;

	struct buf *in, *out, *line;
	size_t out_off; /* written prefix of out, dropped in big steps */
	size_t max_line;
	bool discarding; /* skipping the rest of a too-long line */
	bool in_full;	 /* input at its cap: reading stopped */
	bool paused, eof;

	int64_t timeout_ms, hs_timeout_ms;
	unsigned interest;

	SSL *ssl;
	bool tls_ready;
	bool ssl_want_write; /* handshake is waiting to write */

	struct io_zlib *z; /* COMPRESS=DEFLATE, io_deflate.c (NULL: off) */

	int hold;   /* nesting of loop entry points on the stack */
	bool freed; /* io_free() called while held */
	char error[256];
};

/* Recompute and apply the fd interest. */
void io_update(struct io *io);
/* Deliver a final event: io becomes DEAD (see io.h). */
void io_finish(struct io *io, enum io_event event);
void io_fail(struct io *io, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void io_timer_restart(struct io *io);
/* Call the owner's callback unless the io was freed. */
void io_emit(struct io *io, enum io_event event);
/* Look at the input again on the next iteration (reads, or redelivers). */
void io_schedule_input(struct io *io);
/* The input cap (bytes) beyond which reading pauses. */
size_t io_in_cap(const struct io *io);

/* io_deflate.c */
/* Inflate socket bytes into io->in; -1 on a corrupt stream. */
int io_inflate_append(struct io *io, const char *data, size_t len);
/* Deflate what is queued in io->out; the compressed bytes to send. */
const char *io_deflate_out(struct io *io, size_t *len_r);
void io_deflate_sent(struct io *io, size_t n);
size_t io_deflate_pending(const struct io *io);
void io_deflate_free(struct io *io);

/* io_tls.c */
void io_tls_handshake(struct io *io);
/* Start the server handshake after a STARTTLS flush. */
void io_tls_begin(struct io *io);

#endif
