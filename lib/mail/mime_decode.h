/*
 * mime_decode - content transfer decoding and charset conversion.
 *
 * Base64 and quoted-printable decoders are tolerant (as Dovecot's and
 * every mail client are): junk characters in base64 are skipped, broken
 * "=XY" sequences in QP are kept literally.  Charset conversion uses
 * glibc iconv; unknown charsets are reported, and invalid byte sequences
 * become U+FFFD so the output is always valid UTF-8.
 * Output is appended to a struct buf.  Thread-safe (iconv handles are
 * opened per call).
 */
#ifndef POSTERN_MAIL_MIME_DECODE_H
#define POSTERN_MAIL_MIME_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum mime_cte {
	MIME_CTE_7BIT,
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_BASE64,
	MIME_CTE_QP,
	MIME_CTE_UNKNOWN, /* IMAP BINARY answers [UNKNOWN-CTE] */
};

/* Content-Transfer-Encoding value (case-insensitive, blanks and
 * comments ignored); NULL means absent, i.e. 7bit. */
enum mime_cte mime_cte_parse(const char *value);

/* Append decoded bytes.  Returns false when the input was not clean
 * (junk skipped / broken escapes kept), the output is useful anyway. */
bool mime_base64_decode(const char *in, size_t len, struct buf *out);
bool mime_qp_decode(const char *in, size_t len, struct buf *out);
/* The RFC 2047 "Q" form: like QP but "_" is a space. */
void mime_q_decode(const char *in, size_t len, struct buf *out);
/* Append base64 of in (76-column lines with CRLF when wrap). */
void mime_base64_encode(const void *in, size_t len, bool wrap,
			struct buf *out);

/* Decode a body by its transfer encoding.  Returns 0, or -1 for
 * MIME_CTE_UNKNOWN (nothing appended). */
int mime_decode_cte(enum mime_cte cte, const char *in, size_t len,
		    struct buf *out);

/* True when iconv knows the charset (or it is a UTF-8/ASCII alias). */
bool mime_charset_known(const char *charset);

/*
 * Convert in[0..len) from `charset` (NULL or empty: us-ascii, treated as
 * UTF-8 so 8-bit mail without a charset stays readable) to UTF-8 and
 * append it.  Invalid sequences become U+FFFD.  Returns 0, or -1 when the
 * charset is unknown: then the input is appended as UTF-8-sanitised
 * bytes anyway.
 */
int mime_charset_to_utf8(const char *charset, const char *in, size_t len,
			 struct buf *out);

/* Append in with invalid UTF-8 sequences replaced by U+FFFD. */
void mime_utf8_sanitize(const char *in, size_t len, struct buf *out);
/* Decode the UTF-8 sequence at s[0..len) (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF): its length, with its code point in
 * *cp_r when cp_r is not NULL; 0 when invalid or len is 0. */
size_t mime_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp_r);
/* True when in[0..len) is valid UTF-8. */
bool mime_utf8_valid(const char *in, size_t len);

#endif
