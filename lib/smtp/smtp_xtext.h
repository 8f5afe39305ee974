/*
 * smtp_xtext - the xtext encoding of RFC 3461 4 (ENVID, ORCPT, and the
 * AUTH= parameter of RFC 4954 5).
 *
 *   xtext     = *( xchar / hexchar )
 *   xchar     = any ASCII CHAR between "!" (33) and "~" (126) inclusive,
 *               except for "+" and "="
 *   hexchar   = "+" 2(%x30-39 / %x41-46)   ; upper-case hex only
 *
 * Decoding is strict: lower-case hex, a "+" not followed by two hex
 * digits, a bare "=" or any octet outside 33..126 is an error, and so is
 * "+00" (a NUL would truncate the value everywhere downstream).
 */
#ifndef POSTERN_SMTP_XTEXT_H
#define POSTERN_SMTP_XTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* Decode s[0..len) and append to out; false (out unchanged) on bad
 * xtext. */
bool smtp_xtext_decode(const char *s, size_t len, struct buf *out);
/* Append the xtext form of data[0..len) to out (any octet allowed). */
void smtp_xtext_encode(const void *data, size_t len, struct buf *out);
/* True if s[0..len) is well-formed xtext. */
bool smtp_xtext_valid(const char *s, size_t len);

#endif
