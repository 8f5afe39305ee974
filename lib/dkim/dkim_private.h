/* Private to lib/dkim: what dkim.c, dkim_sign.c and dkim_key.c share. */
#ifndef POSTERN_DKIM_PRIVATE_H
#define POSTERN_DKIM_PRIVATE_H

#include <stdint.h>

#include <opendkim/dkim.h>

/* libopendkim's own handle is "struct dkim" (DKIM): ours is dkim_ctx. */
struct dkim_ctx {
	DKIM_LIB *lib;	    /* verification */
	int64_t fixed_time; /* t= of signatures; 0: the clock */
};

/* Base64 (RFC 4648, no line breaks) of in, appended to out
 * (dkim_key.c). */
struct buf;
void dkim_base64(const unsigned char *in, size_t len, struct buf *out);

#endif
