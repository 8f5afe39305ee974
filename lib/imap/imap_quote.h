/*
 * imap_quote - writing IMAP strings (RFC 3501 / RFC 9051 section 4.3).
 *
 * Every writer appends to a struct buf.  A string is sent quoted when it
 * can be (no CR, LF or NUL, at most 4 characters that need
 * a backslash, and 7-bit unless IMAP_QUOTE_UTF8, which the server sets
 * after ENABLE UTF8=ACCEPT or IMAP4rev2), otherwise as a literal
 * {N}\r\n<bytes>.  These are Dovecot's rules, so our ENVELOPE and
 * BODYSTRUCTURE are byte-identical to Dovecot's.  Thread-safe.
 */
#ifndef POSTERN_IMAP_QUOTE_H
#define POSTERN_IMAP_QUOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

enum imap_quote_flags {
	/* 8-bit bytes may be sent in quoted strings when they are valid
	 * UTF-8 (RFC 6855). */
	IMAP_QUOTE_UTF8 = 1 << 0,
	/* Remove CR and LF bytes before writing (header values in
	 * ENVELOPE and BODYSTRUCTURE, like Dovecot's
	 * imap_append_nstring_nolf). */
	IMAP_QUOTE_NOLF = 1 << 1,
};

/* True when s can be sent as a quoted string under flags. */
bool imap_can_quote(const char *s, size_t len, unsigned int flags);
/* "..." with \ and " escaped, or a literal when it cannot be quoted. */
void imap_append_quoted(struct buf *out, const char *s, size_t len,
			unsigned int flags);
void imap_append_quoted_str(struct buf *out, const char *s,
			    unsigned int flags);
/* NIL for NULL, else as imap_append_quoted. */
void imap_append_nstring(struct buf *out, const char *s, size_t len,
			 unsigned int flags);
void imap_append_nstring_str(struct buf *out, const char *s,
			     unsigned int flags);
/* An atom when s is a non-empty run of ASTRING-CHAR (and not "NIL",
 * which is quoted so it can never be read as nil), else quoted or a
 * literal. */
void imap_append_astring(struct buf *out, const char *s, size_t len,
			 unsigned int flags);
/*
 * A header text for humans (ENVELOPE subject and display names, as
 * Dovecot writes them): CR, LF and TAB become spaces, blank runs collapse
 * to one, leading/trailing blanks go; if that changed anything, or the
 * text has '"', '\\' or (without IMAP_QUOTE_UTF8) 8-bit bytes, it is sent
 * as a literal, else quoted.  "" for an all-blank text.
 */
void imap_append_string_for_humans(struct buf *out, const char *s,
				   size_t len, unsigned int flags);
/* {N}\r\n<bytes> */
void imap_append_literal(struct buf *out, const char *s, size_t len);
/* ~{N}\r\n<bytes> (RFC 3516 BINARY literal8). */
void imap_append_literal8(struct buf *out, const char *s, size_t len);

#endif
