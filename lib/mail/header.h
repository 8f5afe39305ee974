/*
 * header - RFC 5322 header fields: iteration, lookup, IMAP HEADER.FIELDS
 * extraction, RFC 2047 encoded words, address lists and dates.
 *
 * Works on a header block in memory (LF or CRLF line ends, possibly
 * garbage).  Iteration borrows the caller's bytes; functions that build
 * something write into a struct buf or return malloc'd structures that the
 * matching *_free releases.  Nothing fails hard: junk gives the best
 * readable result (as Dovecot's lib-mail does), and parse functions that
 * can reject input say so by their return value.  No global state.
 */
#ifndef POSTERN_MAIL_HEADER_H
#define POSTERN_MAIL_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/buf.h"

/* One field of a header block, borrowed from the block. */
struct header_field {
	const char *name;   /* field name, without trailing blanks */
	size_t name_len;
	const char *value;  /* raw value after the colon and leading blanks,
			       folding kept, final line end excluded */
	size_t value_len;
	const char *raw;    /* whole field including its final line end */
	size_t raw_len;
};

struct header_iter {
	const char *p;
	const char *end;
};

/* Iterate over hdr[0..len); the block ends at the first empty line (or at
 * len).  A line without a colon is skipped (it is not a field), as is
 * an initial continuation line.  A field whose name has a blank before
 * the colon ("Subject : x") is returned with the blanks trimmed. */
void header_iter_init(struct header_iter *it, const char *hdr, size_t len);
bool header_iter_next(struct header_iter *it, struct header_field *f);

/* First field named `name` (case-insensitive): true and *f filled. */
bool header_find(const char *hdr, size_t len, const char *name,
		 struct header_field *f);

/* Append the value with line folding removed (CR/LF deleted, the
 * following blank kept) and outer blanks trimmed. */
void header_unfold(const char *value, size_t len, struct buf *out);

/* header_find + header_unfold into out (reset first); false if absent. */
bool header_get(const char *hdr, size_t len, const char *name,
		struct buf *out);

/*
 * IMAP BODY[HEADER.FIELDS (names)] (not_ false) or HEADER.FIELDS.NOT
 * (not_ true): append the matching fields, in message order, exactly as
 * they are but with line ends in CRLF form, then the empty line "\r\n"
 * that IMAP requires (also when nothing matched).
 */
void header_fields_extract(const char *hdr, size_t len,
			   const char *const *names, size_t name_count,
			   bool not_, struct buf *out);

/*
 * RFC 2047: append `value` with encoded words decoded to UTF-8 (blank
 * runs between adjacent encoded words dropped, as the RFC says).
 * Broken words are kept as they are; a word in an unknown charset gives
 * its decoded bytes; invalid UTF-8 in the result is replaced by U+FFFD so
 * the output is always valid UTF-8.  Folding is removed too.
 */
void header_decode_2047(const char *value, size_t len, struct buf *out);

/*
 * RFC 5322 address list.  The IMAP form (RFC 3501 ENVELOPE): each entry
 * has a display name (quotes removed, encoded words NOT decoded), a
 * source route ("@a,@b", obsolete), the mailbox (local part, quotes
 * removed) and host.  A group "team: a@b, c@d;" gives a start entry
 * (mailbox = "team", host NULL), the members, and an end entry (mailbox
 * and host NULL).  Junk is tolerated: a missing local part or domain
 * becomes the IMAP placeholders ("MISSING_MAILBOX" /
 * "MISSING_DOMAIN"), as Dovecot does, so the list always reflects
 * what a human sees.
 */
struct header_address {
	struct header_address *next;
	char *name;    /* NULL when there is none */
	char *route;   /* NULL when there is none */
	char *mailbox; /* NULL for a group end */
	char *host;    /* NULL for a group start/end */
	bool invalid;  /* some part was missing or garbage */
};

/* NULL for an empty list.  Parse at most `max` addresses (0: no limit;
 * the rest is ignored, protecting against huge To: lists). */
struct header_address *header_address_parse(const char *value, size_t len,
					    unsigned int max);
void header_address_free(struct header_address **list);

/*
 * RFC 5322 date-time (with the obsolete forms of 4.3: 2-digit years,
 * alphabetic zones like "EST" and military letters, missing seconds,
 * missing day of week, comments, extra blanks).  On success returns
 * true with *t_r the UTC time and *tz_min_r the zone offset in minutes
 * (east positive).  Unparsable input gives false.
 */
bool header_date_parse(const char *value, size_t len, time_t *t_r,
		       int *tz_min_r);

/*
 * Base subject (RFC 5256 2.1) for SORT SUBJECT / THREAD: decode RFC 2047,
 * drop "Re:", "Fwd:", "[blob]" prefixes and "(fwd)" trailers, collapse
 * blanks.  Replaces the content of out.
 */
void header_base_subject(const char *value, size_t len, struct buf *out);

#endif
