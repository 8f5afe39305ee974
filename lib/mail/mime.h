/*
 * mime - the MIME structure of a message held in memory.
 *
 * mime_parse() walks a whole message (usually an mmap'd Maildir file with
 * LF line ends) once and builds a tree of parts, like Dovecot's
 * lib-mail/message-parser.c: multipart parts have their body parts as
 * children, message/rfc822 and message/global parts have the encapsulated
 * message as their single child.  Every part records where its header and
 * body are in two measures:
 *   - physical: byte offsets/sizes in `data` as given;
 *   - virtual: the same in CRLF terms, where each LF not preceded by CR
 *     counts 2.  IMAP sizes, partial offsets and BODYSTRUCTURE use these.
 * As in Dovecot and RFC 2046 5.1.1, the line break before a boundary
 * belongs to the boundary, not to the part before it (also when that is
 * the empty line ending a header directly followed by a boundary).
 * Boundaries match by prefix ("--b" followed by anything), innermost
 * first, like Dovecot; a boundary given only in RFC 2231 form
 * (boundary*=) is not used, as in Dovecot.  The BODY/BODYSTRUCTURE/
 * ENVELOPE output built on this tree is byte-identical to Dovecot 2.3's
 * for every message in tests/unit/mail/data/.
 *
 * The parser never fails: garbage (NUL bytes, no empty line after the
 * header, lines without a colon, 8-bit, CR-only line ends, missing or
 * broken boundaries) gives some tree.  Hard limits (MIME_MAX_DEPTH nested
 * levels, MIME_MAX_PARTS parts) turn whatever lies beyond them into the
 * body of a leaf part, so memory stays bounded.
 *
 * Ownership: the message keeps a borrowed pointer to `data`, which must
 * stay valid and unchanged while the message is used (section copies,
 * envelope, text extraction read it).  All strings in the tree are owned
 * by the message and freed by mime_message_free().  Parts are read-only
 * for callers.  No global state: threads may parse different messages.
 */
#ifndef POSTERN_MAIL_MIME_H
#define POSTERN_MAIL_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

#define MIME_MAX_DEPTH 50
#define MIME_MAX_PARTS 10000

/* A parameter of Content-Type or Content-Disposition, in two forms:
 *   - name/value: what IMAP sends (as Dovecot does): the name as written
 *     (case kept), RFC 2231 continuations (name*0, name*1*) merged into
 *     one; an extended value keeps its "*" suffix on the name and its
 *     charset'lang'%XX form in the value;
 *   - decoded: the value decoded to UTF-8 (charset'lang'%XX undone,
 *     unknown charsets give the raw octets made valid UTF-8); equal to
 *     value for a plain parameter.  Use this for file names and charsets.
 * mime_param_get() matches names case-insensitively, ignoring the "*". */
struct mime_param {
	char *name;
	char *value;
	char *decoded;
};

/* Where a piece of the message lies, in both measures. */
struct mime_range {
	size_t phys_off;  /* offset in data */
	size_t phys_size;
	uint64_t virt_off; /* offset in CRLF terms from the message start */
	uint64_t virt_size;
};

enum mime_part_flags {
	MIME_PART_MULTIPART = 1 << 0, /* type "multipart" (children only
					 when it has a usable boundary) */
	MIME_PART_MESSAGE = 1 << 1,   /* message/rfc822 or message/global
					 with a parsed child */
	MIME_PART_TEXT = 1 << 2,      /* type "text" */
	MIME_PART_HAS_NUL = 1 << 3,   /* body contains NUL bytes */
	MIME_PART_8BIT = 1 << 4,      /* body has 8-bit bytes */
	MIME_PART_NO_HEADER_END = 1 << 5, /* no empty line after header */
	MIME_PART_TRUNCATED = 1 << 6, /* a limit stopped parsing below */
};

struct mime_part {
	struct mime_part *parent;
	struct mime_part *children; /* first child */
	struct mime_part *next;     /* next sibling */
	unsigned int child_count;
	unsigned int flags; /* enum mime_part_flags */

	/* The header block including its terminating empty line (if any),
	 * and the body.  For the root, header.phys_off is 0.  For a part of
	 * a multipart, the header starts right after the boundary line. */
	struct mime_range header;
	struct mime_range body;
	/* LF count of the body (Dovecot's body lines; the IMAP line count of
	 * text and message/rfc822 parts). */
	unsigned int body_lines;

	/* Content-Type, lower-case; "text"/"plain" by default, or
	 * "message"/"rfc822" inside multipart/digest.  type_raw and
	 * subtype_raw keep the case as written, which IMAP sends (Dovecot
	 * does); they equal the defaults when there is no valid field. */
	char *type;
	char *subtype;
	char *type_raw;
	char *subtype_raw;
	/* Parameters of Content-Type (for multipart including boundary). */
	struct mime_param *params;
	size_t param_count;
	/* The other MIME fields: unfolded, trimmed raw values (case as
	 * written), NULL when absent.  For encoding use mime_cte_parse()
	 * (mail/mime_decode.h); NULL means absent, i.e. 7bit. */
	char *id;
	char *description;
	char *encoding;
	char *disposition; /* disposition type, as written */
	struct mime_param *disp_params;
	size_t disp_param_count;
	char *language; /* raw field value, e.g. "en, de" */
	char *location;
	char *md5;
};

struct mime_message;

struct mime_message *mime_parse(const char *data, size_t len);
void mime_message_free(struct mime_message **msg);

const struct mime_part *mime_root(const struct mime_message *msg);
const char *mime_data(const struct mime_message *msg);
size_t mime_size(const struct mime_message *msg);
/* Whole message size in CRLF terms. */
uint64_t mime_virtual_size(const struct mime_message *msg);
unsigned int mime_part_count(const struct mime_message *msg);

/* Decoded value of a parameter (name case-insensitive, without "*"),
 * or NULL. */
const char *mime_param_get(const struct mime_param *params, size_t count,
			   const char *name);
/* The charset of a part: its decoded charset parameter, "us-ascii" for
 * a text part without one (RFC 2045 5.2), NULL for other parts. */
const char *mime_part_charset(const struct mime_part *p);
/* Lower-case "type/subtype" test: mime_part_is(p, "text", "plain");
 * subtype NULL matches any. */
bool mime_part_is(const struct mime_part *p, const char *type,
		  const char *subtype);

/*
 * Sections (RFC 3501 6.4.5 / RFC 9051 6.4.5).  A section is a list of
 * part numbers (1-based, possibly empty) and a kind:
 *   BODY[]            -> no numbers, MIME_SECTION_ALL
 *   BODY[HEADER]      -> no numbers, MIME_SECTION_HEADER
 *   BODY[1.2]         -> {1,2},       MIME_SECTION_PART
 *   BODY[1.2.MIME]    -> {1,2},       MIME_SECTION_MIME
 *   BODY[3.HEADER]    -> {3},         MIME_SECTION_HEADER (part 3 must be
 *                                      message/rfc822; its inner header)
 *   BODY[3.TEXT]      -> {3},         MIME_SECTION_TEXT
 * HEADER.FIELDS[.NOT] use the HEADER range and header_fields_extract().
 * Numbering follows the RFC and Dovecot: in a non-multipart message (or
 * a message/rfc822 part whose body is not multipart) part 1 is the body
 * itself, and a single part's part 1 is the part itself (BODY[1.1] of a
 * text part is BODY[1]); a message/rfc822 part's numbers continue into
 * its message.  message/global is a leaf here, as in Dovecot 2.3's
 * BODYSTRUCTURE.
 */
enum mime_section_kind {
	MIME_SECTION_ALL,    /* whole message or part (header + body) */
	MIME_SECTION_PART,   /* the part's body (content) */
	MIME_SECTION_HEADER, /* header of the (encapsulated) message */
	MIME_SECTION_TEXT,   /* body of the (encapsulated) message */
	MIME_SECTION_MIME,   /* MIME header of the part */
};

struct mime_section {
	const struct mime_part *part; /* the part the numbers named */
	struct mime_range range;
};

/* Returns 1 and fills *out when the section exists, 0 when it does not
 * (IMAP then sends an empty string, as Dovecot does), -1 for a bad spec
 * (MIME with no numbers, a zero number) with err filled. */
int mime_section_lookup(const struct mime_message *msg,
			const unsigned int *numbers, size_t count,
			enum mime_section_kind kind, struct mime_section *out,
			struct error *err);

/* Parse the text of a section spec without HEADER.FIELDS ("", "1.2",
 * "1.2.MIME", "HEADER", "4.TEXT"; case-insensitive) into numbers (at
 * most max_numbers) and kind.  Returns 0 or -1 on syntax errors. */
int mime_section_parse(const char *spec, size_t len, unsigned int *numbers,
		       size_t max_numbers, size_t *count_r,
		       enum mime_section_kind *kind_r, struct error *err);

/*
 * Append data[phys_off .. phys_off+phys_size) to out with every LF not
 * preceded by CR turned into CRLF, restricted to the virtual window
 * [virt_start, virt_start+virt_count) counted from phys_off (IMAP
 * partial fetch <start.count>; virt_count UINT64_MAX for "to the end").
 * A window edge between the CR and LF of a converted line end is cut
 * there, as Dovecot does.  NUL bytes are sent as 0x80 (Dovecot does the
 * same: literals cannot carry NUL).  Returns the number of bytes
 * appended.
 */
uint64_t mime_copy_crlf(const char *data, size_t phys_off, size_t phys_size,
			uint64_t virt_start, uint64_t virt_count,
			struct buf *out);

/* Virtual (CRLF) size of data[0..len). */
uint64_t mime_virtual_len(const char *data, size_t len);

#endif
