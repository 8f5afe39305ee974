/*
 * imap_envelope - the ENVELOPE of a message (RFC 3501 / RFC 9051 7.5.2).
 *
 *   (date subject from sender reply-to to cc bcc in-reply-to message-id)
 *
 * Values are the raw header values (unfolded, not RFC 2047 decoded) as
 * IMAP requires; sender and reply-to default to from.  A repeated text
 * field counts with its last occurrence, repeated address fields are
 * joined into one list (both as Dovecot does).  Subjects and display
 * names are written "for humans" (imap_append_string_for_humans).  Addresses are
 * ((name route mailbox host) ...) with RFC 3501 group markers.  Strings
 * that cannot be quoted (8-bit without IMAP_QUOTE_UTF8) become literals.
 * Output matches Dovecot 2.3 for the same message.  Thread-safe.
 */
#ifndef POSTERN_IMAP_ENVELOPE_H
#define POSTERN_IMAP_ENVELOPE_H

#include <stddef.h>

#include "core/buf.h"
#include "mail/mime.h"

/* Append the envelope of the header block hdr[0..len) (the header of a
 * message or of an encapsulated message/rfc822).  flags: enum
 * imap_quote_flags. */
void imap_envelope_write(struct buf *out, const char *hdr, size_t len,
			 unsigned int flags);
/* The envelope of the whole parsed message. */
void imap_envelope_write_message(struct buf *out,
				 const struct mime_message *msg,
				 unsigned int flags);
/* Append one address list "((...)(...))" or NIL, from a raw value. */
void imap_envelope_write_addresses(struct buf *out, const char *value,
				   size_t len, unsigned int flags);

#endif
