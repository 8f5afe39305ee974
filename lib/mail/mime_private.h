/*
 * mime_private - shared by the mime*.c files only: the message struct and
 * the MIME header field parser that fills a part.
 */
#ifndef POSTERN_MAIL_MIME_PRIVATE_H
#define POSTERN_MAIL_MIME_PRIVATE_H

#include "mail/mime.h"

struct mime_message {
	const char *data;
	size_t len;
	struct mime_part *root;
	unsigned int part_count;
	uint64_t vsize;
};

/* Fill the Content-* fields of part from its header block; in_digest
 * makes message/rfc822 the default type.  Leaves the defaults in place
 * for a missing or invalid Content-Type. */
void mime_part_parse_fields(struct mime_part *part, const char *hdr,
			    size_t len, bool in_digest);
/* Free everything a part owns (not its children). */
void mime_part_free_fields(struct mime_part *part);
/* Parse "; a=b; c*0*=..." params at value[0..len) (RFC 2045 + 2231). */
void mime_params_parse(const char *value, size_t len,
		       struct mime_param **params_r, size_t *count_r);

#endif
