/*
 * mime_build - write a new Internet message (RFC 5322 + MIME) from
 * fields and parts given in UTF-8: what the webmail sends and saves.
 *
 * The output has CRLF line ends and is 7-bit clean unless an embedded
 * message/rfc822 part carries 8-bit bytes (then *eightbit_r tells the
 * caller to submit with BODY=8BITMIME).  Its shape:
 *
 *   - header fields folded at blanks to 78 columns where possible (998
 *     at most, RFC 5322 2.1.1); unstructured values (Subject) that hold
 *     non-ASCII, control characters, "=?" or outer blanks become RFC 2047
 *     encoded words in UTF-8 (B or Q, whichever is shorter), at most 75
 *     characters each, never splitting a UTF-8 character, so a reader
 *     decodes back exactly the (sanitised) text given;
 *   - address lists: "Name" <a@b>, the name quoted (\" and \\ escaped)
 *     when ASCII, encoded words when not; one address per line when the
 *     list does not fit; addresses validated and written in wire form
 *     (IDN domains as A-labels);
 *   - Date (RFC 5322 3.3), Message-ID <random@domain>, In-Reply-To,
 *     References (folded between ids), MIME-Version;
 *   - text bodies (text/plain, text/html; charset=utf-8) with line ends
 *     made CRLF, sent 7bit when that is exact (ASCII, lines <= 998) and
 *     quoted-printable otherwise (76 columns, trailing blanks escaped);
 *   - attachments base64 in 76-column lines, file names as RFC 2231
 *     parameters (filename*0*=utf-8''%XX continuations) when not plain
 *     ASCII, and an RFC 2047 name= on Content-Type for old readers;
 *     message/rfc822 parts embedded as they are (line ends made CRLF,
 *     7bit or 8bit: RFC 2046 5.2.1 forbids encoding them) unless they
 *     hold NUL bytes, over-long lines, no header end, or a multipart
 *     boundary that prefix-matching parsers could confuse with ours:
 *     then base64;
 *   - multipart/alternative (text + html) inside multipart/mixed (with
 *     attachments), random boundaries checked against the content.
 *
 * Header values: invalid UTF-8 becomes U+FFFD and CR/LF become blanks
 * (no header injection); display names are trimmed.  Bcc is written
 * only when given, which is for drafts and the sender's copy: a message
 * that leaves carries its Bcc recipients in the envelope only.
 *
 * Errors: mime_build returns -1 with err (ERR_PERM, code "invalid",
 * message naming the field: "to: ...") for an invalid address, else 0.
 * No global state; thread-safe (randomness from getrandom()).
 */
#ifndef POSTERN_MAIL_MIME_BUILD_H
#define POSTERN_MAIL_MIME_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/buf.h"
#include "core/error.h"

#define MIME_BUILD_ERR_INVALID "invalid"

/* Header lines fold at this column where there is a blank. */
#define MIME_BUILD_LINE 78

struct mime_build_addr {
	const char *name;    /* display name, UTF-8; NULL or "": none */
	const char *address; /* "local@domain" (U-labels allowed) */
};

struct mime_build_part {
	const char *content_type; /* "image/png"; NULL or junk:
				     application/octet-stream */
	const char *filename;	  /* UTF-8, NULL: none */
	const void *data;
	size_t len;
	bool inline_;		  /* Content-Disposition: inline */
	const char *content_id;	  /* without <>, NULL: none */
};

struct mime_build_msg {
	struct mime_build_addr from;
	const struct mime_build_addr *to, *cc, *reply_to, *bcc;
	size_t nto, ncc, nreply_to, nbcc;
	const char *subject;	  /* UTF-8, NULL: none */
	time_t date;		  /* 0: now */
	const char *message_id;	  /* "<x@y>"; NULL: generated */
	const char *in_reply_to;  /* "<x@y>" or NULL */
	const char *references;	  /* "<a@b> <c@d>" or NULL */
	const char *user_agent;	  /* NULL: none */
	const char *text;	  /* UTF-8 text/plain body; NULL: empty */
	size_t text_len;
	const char *html;	  /* UTF-8 text/html alternative, NULL: none */
	size_t html_len;
	const struct mime_build_part *parts; /* attachments */
	size_t nparts;
	/* Extra header fields written as they are (each "Name: value"
	 * without line end; must be valid already), e.g. X-Forwarded. */
	const char *const *extra;
	size_t nextra;
};

struct mime_build_result {
	char message_id[256]; /* as written, with <> */
	bool eightbit;	      /* needs BODY=8BITMIME */
};

/* Append the whole message to out.  res may be NULL. */
int mime_build(const struct mime_build_msg *m, struct buf *out,
	       struct mime_build_result *res, struct error *err);

/* ---- The pieces, for callers that write their own fields. */

/* "Name: value" + CRLF, value unstructured (encoded/folded as above). */
void mime_build_unstructured(struct buf *out, const char *name,
			     const char *value);
/* "Name: a, b" + CRLF; -1 with err naming `name` for a bad address. */
int mime_build_addresses(struct buf *out, const char *name,
			 const struct mime_build_addr *addrs, size_t n,
			 struct error *err);
/* Append text as RFC 2047 encoded words (UTF-8), separated by a blank
 * or a fold; col is the current column, updated. */
void mime_build_2047(struct buf *out, const char *text, size_t len,
		     size_t *col);
/* Append in as quoted-printable (CRLF lines of at most 76 columns); in's
 * CRLF line ends are hard line breaks, other CR and LF are escaped. */
void mime_build_qp(const char *in, size_t len, struct buf *out);
/* Append in with every line end (CRLF, LF, lone CR) made CRLF. */
void mime_build_crlf(const char *in, size_t len, struct buf *out);
/* A new Message-ID "<random@domain>" into out (size >= 128). */
void mime_build_message_id(const char *domain, char *out, size_t size);

#endif
