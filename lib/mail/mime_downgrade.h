/*
 * mime_downgrade - turn an 8-bit message into a 7-bit one for a peer that
 * does not offer 8BITMIME (RFC 6152 section 3: the client converts, or
 * returns the message).  Postfix does the same in smtp_mime.c /
 * mime_state.c: each leaf part whose body holds 8-bit bytes gets
 * Content-Transfer-Encoding: quoted-printable; multipart and
 * message/rfc822 containers are walked, and a container whose own
 * Content-Transfer-Encoding says 8bit is relabelled 7bit once its parts
 * are 7-bit.  A message without MIME headers whose body is 8-bit gets
 * MIME-Version: 1.0 and text/plain quoted-printable, as Postfix's
 * "MIME-Version: 1.0" upgrade does.
 *
 * What changes, and why the meaning stays:
 *   - a leaf declared 7bit/8bit/binary (or without the field) whose body
 *     has 8-bit or NUL bytes is encoded quoted-printable; one declared
 *     quoted-printable or base64 that still holds raw 8-bit bytes
 *     (sloppy senders) is decoded and encoded again in the same
 *     encoding, so it decodes to what it decoded to before;
 *   - message/global (RFC 6532 3.5) may be encoded, so one with 8-bit
 *     bytes anywhere inside is encoded whole as quoted-printable;
 *   - 8-bit bytes outside every part (preamble, epilogue, the rest of a
 *     boundary line, the body of a multipart without usable boundary)
 *     become "?": readers ignore that text (RFC 2046 5.1.1);
 *   - encoded lines never start with "-" (=2D), so the encoding cannot
 *     create a boundary line, and are at most 76 characters;
 *   - an already 7-bit message is returned byte for byte.
 * Header fields are never changed beyond Content-Transfer-Encoding (and
 * MIME-Version where missing): 8-bit bytes (or NUL) in a header, also of
 * a part or of an encapsulated message/rfc822, cannot be downgraded and
 * give ERR_PERM, so the caller bounces (5.6.3) rather than sending mail
 * it had to alter in meaning; so do 8-bit bytes under an unknown
 * Content-Transfer-Encoding or in a message/rfc822 too deep to parse.
 *
 * Input and output use the queue's form: lines ending in LF or CRLF as
 * stored; the output keeps the input's line ends.  No global state.
 */
#ifndef POSTERN_MAIL_MIME_DOWNGRADE_H
#define POSTERN_MAIL_MIME_DOWNGRADE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"

/* True when some byte of the message (header or body) is 8-bit (>= 0x80)
 * or NUL, i.e. a peer without 8BITMIME cannot take it as it is. */
bool mime_is_8bit(const char *msg, size_t len);

/* Append to `out` the 7-bit form of the message.  0 on success (out then
 * holds only 7-bit bytes and lines of at most 998 characters where the
 * input's were); -1 with ERR_PERM in err when 8-bit bytes sit in a header
 * field, leaving `out` unspecified. */
int mime_downgrade_7bit(const char *msg, size_t len, struct buf *out,
			struct error *err);

#endif
