/*
 * preview - the readable text of a message, for search and previews.
 *
 * mail_text_extract() appends the plain text of every text part of a
 * parsed message (text/plain decoded to UTF-8, text/html with tags,
 * <script>/<style> content and comments dropped and entities decoded),
 * parts separated by a newline.  Parts with Content-Disposition:
 * attachment, text other than plain/html/enriched and non-text parts are
 * skipped; of a multipart/alternative only the first readable
 * alternative is used, so the text is not there twice.
 * mail_preview() is the RFC 8970 PREVIEW: at most 200 characters of the
 * first text part, blanks collapsed, never cut inside a UTF-8 sequence.
 * Output is always valid UTF-8.  Thread-safe.
 */
#ifndef POSTERN_MAIL_PREVIEW_H
#define POSTERN_MAIL_PREVIEW_H

#include <stddef.h>

#include "core/buf.h"
#include "mail/mime.h"

#define MAIL_PREVIEW_MAX_CHARS 200

/* Append at most max_bytes (0: no limit) of text; never cuts a UTF-8
 * sequence. */
void mail_text_extract(const struct mime_message *msg, size_t max_bytes,
		       struct buf *out);
/* Append the decoded UTF-8 text of one text part (plain or html). */
void mail_part_text(const struct mime_message *msg,
		    const struct mime_part *part, struct buf *out);
/* Replace the content of out with the RFC 8970 preview ("" if none). */
void mail_preview(const struct mime_message *msg, struct buf *out);
/* Append html[0..len) as plain text (tags stripped, entities decoded). */
void mail_html_to_text(const char *html, size_t len, struct buf *out);

#endif
