/*
 * smtp_reply - SMTP replies (RFC 5321 4.2) with enhanced status codes
 * (RFC 2034, RFC 3463): building them on the server side and parsing them
 * on the client side (the SMTP and LMTP clients).
 *
 * struct smtp_reply is a plain value with fixed buffers, like struct
 * error: it lives on the caller's stack, needs no freeing, and every
 * parser of this library that can fail fills one with a reply the server
 * can send as is ("501 5.5.4 Syntax: RSET").
 *
 * Building: text that may come from the peer or the config is made safe:
 * CR, LF, NUL and other control characters become "?" so nothing can
 * inject a reply line, and a line is cut so that it fits the RFC 5321
 * 4.5.3.1.5 limit of 512 octets with its code and CRLF.
 *
 * Parsing: struct smtp_reply_parser is fed one received line at a time
 * (without CRLF) and says when a reply, single or multi-line, is whole.
 * Limits: a line of at most SMTP_REPLY_PARSE_LINE_MAX octets (more than
 * the RFC's 512, as real servers exceed it; Postfix's client reads 2048)
 * and at most SMTP_REPLY_PARSE_LINES_MAX lines in one reply.  A broken
 * reply is an error: the client then gives up on the connection (4xx for
 * the message), as Postfix's smtp client does on "malformed reply".
 */
#ifndef POSTERN_SMTP_REPLY_H
#define POSTERN_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/array.h"
#include "core/buf.h"
#include "core/error.h"

/* RFC 5321 4.5.3.1.5: a reply line is 512 octets including code and CRLF. */
#define SMTP_REPLY_LINE_MAX 512
/* "5.5.4": class "." 1*3digit "." 1*3digit, RFC 3463 2. */
#define SMTP_ENHANCED_MAX 12
/* Room for the longest text that fits one 512-octet line. */
#define SMTP_REPLY_TEXT_MAX (SMTP_REPLY_LINE_MAX - 4 - 2 + 1)

#define SMTP_REPLY_PARSE_LINE_MAX 2048
#define SMTP_REPLY_PARSE_LINES_MAX 100

struct smtp_reply {
	unsigned int code;		  /* 200..599; 0: no reply set */
	char enhanced[SMTP_ENHANCED_MAX]; /* "5.5.4", or "" for none */
	char text[SMTP_REPLY_TEXT_MAX];	  /* one line, no CRLF, no code */
};

/*
 * Fill *r.  `enhanced` may be NULL or "" (greeting, EHLO: RFC 2034 4 puts
 * no enhanced code there).  The text is made safe (see above).  Returns
 * -1, so that parsers can `return smtp_reply_set(...)`.
 */
int smtp_reply_set(struct smtp_reply *r, unsigned int code,
		   const char *enhanced, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void smtp_reply_clear(struct smtp_reply *r);
/* 2, 3, 4 or 5: the first digit of the code (0 when unset). */
unsigned int smtp_reply_class(const struct smtp_reply *r);

/* Append "CODE ENH TEXT\r\n" (a one-line reply) to out. */
void smtp_reply_write(const struct smtp_reply *r, struct buf *out);

/*
 * Append one line of a possibly multi-line reply to out:
 * "250-text\r\n" when !last, "250 text\r\n" when last (RFC 5321 4.2.1).
 * Every line carries the enhanced code when one is given, as RFC 2034
 * requires.  The text is made safe like smtp_reply_set's.
 */
void smtp_reply_write_line(struct buf *out, unsigned int code,
			   const char *enhanced, bool last, const char *fmt,
			   ...) __attribute__((format(printf, 5, 6)));

/*
 * Append a whole reply whose lines are the "\n"-separated lines of text
 * ("a\nb" gives "250-a\r\n250 b\r\n"); an empty text gives one line.
 */
void smtp_reply_write_lines(struct buf *out, unsigned int code,
			    const char *enhanced, const char *text);

/* True for "d.d.d" with class 2, 4 or 5 and 1-3 digit subject and detail
 * (RFC 3463 2), `len` bytes at s. */
bool smtp_enhanced_valid(const char *s, size_t len);

/* --- Client side: reading replies. --- */

struct smtp_reply_parser;

/* A complete received reply.  Borrowed from the parser: valid until the
 * next smtp_reply_parser_line() or smtp_reply_parser_free(). */
struct smtp_parsed_reply {
	unsigned int code;
	/* The enhanced code of the first line, "" when the server sent
	 * none (or one whose class differs from the reply code's). */
	char enhanced[SMTP_ENHANCED_MAX];
	/* The text of each line (char *, NUL-terminated), without the
	 * code, the separator and the enhanced code when it was there;
	 * at least one line, maybe empty. */
	struct array *lines;
};

struct smtp_reply_parser *smtp_reply_parser_new(void);
void smtp_reply_parser_free(struct smtp_reply_parser **p);

/*
 * Feed one line (without its CRLF).  Returns 1 when it completed a reply
 * (then *reply_r points at it), 0 when more lines are needed (a "250-"
 * line), -1 with err (ERR_PERM) on a malformed line: a bad code, a code
 * that changes within a multi-line reply, NUL or CR in the line, a line or
 * line count over the limits.  After 1 or -1 the next line starts a new
 * reply, so an LMTP client reads its per-recipient replies in a row.
 */
int smtp_reply_parser_line(struct smtp_reply_parser *p, const char *line,
			   size_t len, const struct smtp_parsed_reply **reply_r,
			   struct error *err);

#endif
