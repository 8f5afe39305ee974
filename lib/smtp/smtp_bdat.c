/*
 * smtp_bdat - counting BDAT chunks (RFC 3030 2); see smtp_data.h.
 */
#include <stdlib.h>

#include "core/xmalloc.h"
#include "smtp/smtp_data.h"

struct smtp_bdat {
	uint64_t max_size;
	uint64_t size;
	uint64_t remaining; /* octets still due in the current chunk */
	bool last;	    /* the current chunk is the LAST one */
	bool done;
	bool too_big;
};

struct smtp_bdat *smtp_bdat_new(uint64_t max_size)
{
	struct smtp_bdat *b = xcalloc(1, sizeof(*b));

	b->max_size = max_size;
	return b;
}

void smtp_bdat_free(struct smtp_bdat **b)
{
	XFREE(*b);
}

void smtp_bdat_reset(struct smtp_bdat *b)
{
	b->size = b->remaining = 0;
	b->last = b->done = b->too_big = false;
}

void smtp_bdat_chunk(struct smtp_bdat *b, uint64_t size, bool last)
{
	if (b->done)
		smtp_bdat_reset(b);
	b->remaining = size;
	b->last = last;
	if (size == 0 && last)
		b->done = true;
}

enum smtp_data_status smtp_bdat_feed(struct smtp_bdat *b, const void *in,
				     size_t len, struct buf *out,
				     size_t *consumed_r)
{
	size_t n = len;

	if (n > b->remaining)
		n = (size_t)b->remaining;
	b->remaining -= n;
	if (!b->too_big) {
		size_t keep = n;

		/* Past the limit the octets are read and dropped (RFC 3030
		 * 2: the chunk is answered once all of it has arrived). */
		if (b->max_size > 0 && b->size + n > b->max_size) {
			b->too_big = true;
			keep = (size_t)(b->max_size - b->size);
		}
		buf_append(out, in, keep);
	}
	b->size += n;
	*consumed_r = n;
	if (b->remaining > 0)
		return SMTP_DATA_MORE;
	if (b->last)
		b->done = true;
	return SMTP_DATA_DONE;
}

uint64_t smtp_bdat_remaining(const struct smtp_bdat *b)
{
	return b->remaining;
}

bool smtp_bdat_done(const struct smtp_bdat *b)
{
	return b->done;
}

uint64_t smtp_bdat_size(const struct smtp_bdat *b)
{
	return b->size;
}

bool smtp_bdat_too_big(const struct smtp_bdat *b)
{
	return b->too_big;
}

int smtp_bdat_result(const struct smtp_bdat *b, struct smtp_reply *reply_r)
{
	if (b->too_big)
		return smtp_reply_set(reply_r, 552, "5.3.4",
				      "Message size exceeds fixed limit");
	return 0;
}
