/*
 * imap_bodystructure - BODY and BODYSTRUCTURE (RFC 3501 / RFC 9051
 * 7.5.2) of a parsed message.
 *
 * BODY is the non-extensible form; BODYSTRUCTURE adds extension data:
 * for single parts md5, disposition, language, location; for multipart
 * the parameters (boundary...), disposition, language, location.
 * message/rfc822 parts carry the envelope, the nested body structure and
 * the line count; text parts the line count.  Sizes and line counts
 * are virtual (CRLF).  Output matches Dovecot 2.3 for the same message
 * (tests/unit/mail/data/ holds the reference pairs).  Thread-safe.
 */
#ifndef POSTERN_IMAP_BODYSTRUCTURE_H
#define POSTERN_IMAP_BODYSTRUCTURE_H

#include <stdbool.h>

#include "core/buf.h"
#include "mail/mime.h"

/* Append the structure of `part` (NULL: the root).  extended: true for
 * BODYSTRUCTURE, false for BODY.  flags: enum imap_quote_flags. */
void imap_bodystructure_write(struct buf *out, const struct mime_message *msg,
			      const struct mime_part *part, bool extended,
			      unsigned int flags);

#endif
