/*
 * imap_utf7 - modified UTF-7 mailbox names (RFC 3501 5.1.3) and UTF-8
 * mailbox name checks (RFC 9051 / RFC 6855 UTF8=ACCEPT).
 *
 * Decoding is strict so that one UTF-8 name has exactly one mUTF-7
 * spelling (names are compared as bytes on disk): refused are "&" not
 * closed by "-", printable ASCII (0x20-0x7e) encoded inside "&...-",
 * an empty "&-" for anything but "&", a shift sequence directly after
 * another ("&AOQ-&AOQ-" must be "&AOQA5A-"), non-zero padding bits,
 * incomplete UTF-16 units, unpaired surrogates, 8-bit or control bytes.
 *
 * Functions append to `out` (which is left as it was on error) and
 * return 0, or -1 on invalid input.  No state, any thread.
 */
#ifndef POSTERN_IMAP_UTF7_H
#define POSTERN_IMAP_UTF7_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/* Modified UTF-7 -> UTF-8. */
int imap_utf7_to_utf8(const char *in, struct buf *out);
/* UTF-8 -> modified UTF-7; -1 on invalid UTF-8 (overlong, surrogates,
 * above U+10FFFF) or NUL. */
int imap_utf8_to_utf7(const char *in, struct buf *out);
/* Valid modified UTF-7 (as imap_utf7_to_utf8 accepts it). */
bool imap_utf7_is_valid(const char *in);
/* Shortest-form UTF-8 without surrogates or NUL. */
bool imap_utf8_is_valid(const char *s, size_t len);

/*
 * A mailbox name a client may create, in UTF-8: valid UTF-8, not empty,
 * no C0/C1 control characters, DEL, U+2028/U+2029, no "%" or "*"
 * (LIST wildcards), no empty hierarchy level ("a..b", ".a", "a." with
 * sep '.'; sep 0 = no hierarchy check).  On false, *why_r (may be
 * NULL) gets a static reason for a NO reply.
 */
bool imap_mailbox_name_valid(const char *name, char sep, const char **why_r);

#endif
