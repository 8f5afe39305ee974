/*
 * io_line.c - taking lines and byte runs out of an io's input buffer.
 */
#include <string.h>

#include "tls/io_private.h"

static void io_consumed(struct io *io, size_t n)
{
	buf_consume(io->in, n);
	if (io->in_full && buf_len(io->in) < io_in_cap(io)) {
		io->in_full = false;
		io_update(io);
	}
}

enum io_line_result io_getline(struct io *io, char **line_r, size_t *len_r)
{
	const char *data, *lf;
	size_t len, linelen;

	if (io->state != IO_ST_OPEN && io->state != IO_ST_CLOSING)
		return IO_LINE_NONE;
	for (;;) {
		data = buf_data(io->in);
		len = buf_len(io->in);
		lf = memchr(data, '\n', len);
		if (!io->discarding)
			break;
		/* The tail of a line already reported as too long. */
		if (lf == NULL) {
			io_consumed(io, len);
			return IO_LINE_NONE;
		}
		io_consumed(io, (size_t)(lf - data) + 1);
		io->discarding = false;
	}
	if (lf == NULL) {
		/* +1: the CR of a CRLF may still be waiting for its LF. */
		if (len > io->max_line + 1) {
			io_consumed(io, len);
			io->discarding = true;
			return IO_LINE_TOO_LONG;
		}
		return IO_LINE_NONE;
	}
	linelen = (size_t)(lf - data);
	if (linelen > 0 && data[linelen - 1] == '\r')
		linelen--;
	if (linelen > io->max_line) {
		io_consumed(io, (size_t)(lf - data) + 1);
		return IO_LINE_TOO_LONG;
	}
	buf_reset(io->line);
	buf_append(io->line, data, linelen);
	io_consumed(io, (size_t)(lf - data) + 1);
	*line_r = buf_mut(io->line);
	if (len_r != NULL)
		*len_r = linelen;
	return IO_LINE_OK;
}

size_t io_read_bytes(struct io *io, struct buf *out, size_t max)
{
	size_t n = buf_len(io->in);

	if (io->state != IO_ST_OPEN && io->state != IO_ST_CLOSING)
		return 0;
	if (n > max)
		n = max;
	if (n == 0)
		return 0;
	buf_append(out, buf_data(io->in), n);
	io_consumed(io, n);
	return n;
}

const char *io_peek(const struct io *io, size_t *len_r)
{
	bool readable = io->state == IO_ST_OPEN || io->state == IO_ST_CLOSING;
	*len_r = readable ? buf_len(io->in) : 0;
	return buf_data(io->in);
}

void io_consume(struct io *io, size_t n)
{
	size_t len = buf_len(io->in);
	io_consumed(io, n < len ? n : len);
}

size_t io_inbuf_len(const struct io *io)
{
	return buf_len(io->in);
}
