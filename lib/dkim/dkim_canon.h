/*
 * dkim_canon - DKIM's "relaxed" canonicalisation (RFC 6376 3.4.2, 3.4.4)
 * and the header selection of h= (RFC 6376 5.4.2), for the signatures
 * dkim_sign.c makes (and a verifier of our own, should one replace
 * libopendkim's).
 *
 * Input is a message in the queue's form: header fields, an empty line,
 * the body; lines end in CRLF or a bare LF, both read as CRLF.
 * No state, no errors.
 */
#ifndef POSTERN_DKIM_CANON_H
#define POSTERN_DKIM_CANON_H

#include <stdbool.h>
#include <stddef.h>

#include "core/array.h"
#include "core/buf.h"

/* Where the body starts (after the empty line; len without one). */
size_t dkim_body_offset(const char *msg, size_t len);

/* Append the relaxed form of body[0..len) (RFC 6376 3.4.4) to out. */
void dkim_canon_body_relaxed(const char *body, size_t len, struct buf *out);

/* Append the relaxed form of one header field (RFC 6376 3.4.2): name
 * lower-cased, value unfolded, blank runs as one SP, no blanks around
 * the colon or at the end, then CRLF (crlf true) or nothing. */
void dkim_canon_header_relaxed(const char *field, size_t len, bool crlf,
			       struct buf *out);

/*
 * The fields of the header section, each with its line end(s) and
 * folding, as "struct dkim_field" in an array (free with
 * dkim_fields_free).  Names are borrowed from msg.
 */
struct dkim_field {
	const char *name;
	size_t name_len;
	const char *raw; /* the whole field, line ends included */
	size_t raw_len;
	bool used; /* taken by dkim_select (reset by the caller) */
};
struct array *dkim_fields(const char *msg, size_t len);
void dkim_fields_free(struct array **fields);

/* For one h= name: the last field of that name not used yet, marked
 * used (RFC 6376 5.4.2: instances are taken from the bottom up), or NULL
 * (a name listed more often than present, as oversigning does). */
struct dkim_field *dkim_select(struct array *fields, const char *name,
			       size_t name_len);

#endif
