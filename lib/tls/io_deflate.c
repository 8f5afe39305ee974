/*
 * io_deflate.c - COMPRESS=DEFLATE (RFC 4978) for an io: raw deflate
 * (no zlib header) in both directions, below the line reader and above
 * TLS.
 *
 * Output: what the owner writes goes into io->out as plaintext; before
 * each write to the socket it is deflated into z->zout with a sync
 * flush (so each response reaches the client whole, as RFC 4978 4
 * asks), and z->zout is what is sent.  Bytes already queued when
 * compression starts (the tagged OK of COMPRESS) go out uncompressed
 * first.  Input: each chunk read from the socket is inflated into
 * io->in.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/xmalloc.h"
#include "tls/io_private.h"

struct io_zlib {
	z_stream in, out;
	struct buf *zout; /* compressed bytes not yet sent */
	size_t zout_off;
	size_t plain_left; /* queued plaintext to send uncompressed */
};

int io_start_deflate(struct io *io, struct error *err)
{
	struct io_zlib *z;

	if (io->z != NULL) {
		error_set(err, ERR_PERM, "compression already active");
		return -1;
	}
	z = xcalloc(1, sizeof(*z));
	if (inflateInit2(&z->in, -15) != Z_OK) {
		free(z);
		error_set(err, ERR_TEMP, "inflateInit2 failed");
		return -1;
	}
	if (deflateInit2(&z->out, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK) {
		inflateEnd(&z->in);
		free(z);
		error_set(err, ERR_TEMP, "deflateInit2 failed");
		return -1;
	}
	z->zout = buf_new();
	z->plain_left = buf_len(io->out) - io->out_off;
	io->z = z;
	return 0;
}

bool io_deflate_active(const struct io *io)
{
	return io->z != NULL;
}

void io_deflate_free(struct io *io)
{
	struct io_zlib *z = io->z;

	if (z == NULL)
		return;
	inflateEnd(&z->in);
	deflateEnd(&z->out);
	buf_free(&z->zout);
	free(z);
	io->z = NULL;
}

int io_inflate_append(struct io *io, const char *data, size_t len)
{
	struct io_zlib *z = io->z;
	char tmp[16384];
	int r;

	z->in.next_in = (Bytef *)data;
	z->in.avail_in = (uInt)len;
	do {
		uInt before_in = z->in.avail_in;

		z->in.next_out = (Bytef *)tmp;
		z->in.avail_out = sizeof(tmp);
		r = inflate(&z->in, Z_SYNC_FLUSH);
		if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END)
			return -1;
		buf_append(io->in, tmp, sizeof(tmp) - z->in.avail_out);
		/* A "zip bomb": real mail inflates a few times, not 1000. */
		if (buf_len(io->in) > 2 * io_in_cap(io))
			return -1;
		/* The client ended its stream, or nothing moves: refuse
		 * rather than spin. */
		if ((r == Z_STREAM_END && z->in.avail_in > 0) ||
		    (z->in.avail_out == sizeof(tmp) && z->in.avail_in > 0 &&
		     z->in.avail_in == before_in))
			return -1;
		if (r == Z_STREAM_END)
			break;
	} while (z->in.avail_out == 0 || z->in.avail_in > 0);
	return 0;
}

/* Move the plaintext of io->out into z->zout (deflated, sync flush). */
static void deflate_pending(struct io *io)
{
	struct io_zlib *z = io->z;
	size_t n = buf_len(io->out) - io->out_off;
	char tmp[16384];

	if (n == 0)
		return;
	if (z->plain_left > 0) {
		size_t p = z->plain_left < n ? z->plain_left : n;

		buf_append(z->zout, buf_data(io->out) + io->out_off, p);
		io->out_off += p;
		z->plain_left -= p;
		n -= p;
		if (n == 0)
			return;
	}
	z->out.next_in = (Bytef *)(buf_data(io->out) + io->out_off);
	z->out.avail_in = (uInt)n;
	do {
		z->out.next_out = (Bytef *)tmp;
		z->out.avail_out = sizeof(tmp);
		(void)deflate(&z->out, Z_SYNC_FLUSH);
		buf_append(z->zout, tmp, sizeof(tmp) - z->out.avail_out);
	} while (z->out.avail_out == 0);
	io->out_off += n;
}

const char *io_deflate_out(struct io *io, size_t *len_r)
{
	struct io_zlib *z = io->z;

	deflate_pending(io);
	if (buf_len(io->out) == io->out_off) {
		buf_reset(io->out);
		io->out_off = 0;
	}
	*len_r = buf_len(z->zout) - z->zout_off;
	return buf_data(z->zout) + z->zout_off;
}

void io_deflate_sent(struct io *io, size_t n)
{
	struct io_zlib *z = io->z;

	z->zout_off += n;
	if (z->zout_off == buf_len(z->zout)) {
		buf_reset(z->zout);
		z->zout_off = 0;
	} else if (z->zout_off >= 256 * 1024) {
		buf_consume(z->zout, z->zout_off);
		z->zout_off = 0;
	}
}

size_t io_deflate_pending(const struct io *io)
{
	return io->z != NULL ? buf_len(io->z->zout) - io->z->zout_off : 0;
}
