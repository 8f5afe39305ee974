/*
 * imap_fetch_items - the FETCH attribute list (RFC 3501 6.4.5, RFC 9051
 * 6.4.5, BINARY of RFC 3516, MODSEQ / CHANGEDSINCE / VANISHED of RFC
 * 7162, EMAILID / THREADID of RFC 8474, PREVIEW of RFC 8970).
 *
 * imap_fetch_items_parse() takes the FETCH arguments AFTER the sequence
 * set: one attribute atom or a parenthesised list (macros ALL, FAST,
 * FULL expand), then optionally the modifier list "(CHANGEDSINCE n
 * [VANISHED])".  Section atoms come from imap_parser.h, which keeps
 * "BODY.PEEK[HEADER.FIELDS (From To)]<0.100>" as one atom in FETCH
 * commands; the field names may be atoms or quoted strings.
 *
 * Each item has the name to use in the reply (`reply_name`): ".PEEK"
 * dropped, keywords upper case, header field names upper case as given
 * quoting needs, and for a partial fetch only the origin octet
 * ("BODY[HEADER.FIELDS (FROM TO)]<0>", RFC 3501 7.4.2).  RFC822,
 * RFC822.HEADER and RFC822.TEXT answer under their own names.
 *
 * The caller (imapd) adds UID itself for UID FETCH, and FLAGS when a
 * non-PEEK body fetch sets \Seen (items->sets_seen).  Errors: -1 with a
 * text for BAD in err (ERR_PERM).  Results are owned by the caller
 * (imap_fetch_items_free).  No state, any thread.
 */
#ifndef POSTERN_IMAP_FETCH_ITEMS_H
#define POSTERN_IMAP_FETCH_ITEMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;
struct imap_arg;

enum imap_fetch_type {
	IMAP_FETCH_FLAGS,
	IMAP_FETCH_UID,
	IMAP_FETCH_INTERNALDATE,
	IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_ENVELOPE,
	IMAP_FETCH_BODY,	  /* BODY (non-extensible BODYSTRUCTURE) */
	IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_RFC822,	  /* = BODY[], sets \Seen */
	IMAP_FETCH_RFC822_HEADER, /* = BODY.PEEK[HEADER] */
	IMAP_FETCH_RFC822_TEXT,	  /* = BODY[TEXT], sets \Seen */
	IMAP_FETCH_BODY_SECTION,  /* BODY[...] / BODY.PEEK[...] */
	IMAP_FETCH_BINARY,	  /* BINARY[...] / BINARY.PEEK[...] */
	IMAP_FETCH_BINARY_SIZE,	  /* BINARY.SIZE[...] */
	IMAP_FETCH_MODSEQ,
	IMAP_FETCH_EMAILID,
	IMAP_FETCH_THREADID,
	IMAP_FETCH_PREVIEW,
	IMAP_FETCH_SAVEDATE,	  /* RFC 8514 */
};

enum imap_section_kind {
	IMAP_SECTION_ALL,	 /* "" or a bare part number "1.2" */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,	 /* only after a part number */
};

#define IMAP_SECTION_MAX_PARTS 32

struct imap_fetch_section {
	uint32_t parts[IMAP_SECTION_MAX_PARTS]; /* "1.2.3" -> 1,2,3 */
	unsigned part_count;
	enum imap_section_kind kind;
	char **fields;	/* HEADER.FIELDS(.NOT): names as given */
	size_t field_count;
};

struct imap_fetch_item {
	enum imap_fetch_type type;
	bool peek;	   /* .PEEK, RFC822.HEADER: do not set \Seen */
	struct imap_fetch_section section; /* BODY[..], BINARY[..] */
	bool partial;
	uint64_t partial_offset;
	uint64_t partial_len; /* > 0 */
	bool lazy;	      /* PREVIEW (LAZY) */
	char *reply_name;
};

/* What the items need, to pick the cheapest data source. */
enum {
	IMAP_FETCH_NEED_INDEX = 1 << 0,	 /* flags, uid, date, size, modseq */
	IMAP_FETCH_NEED_HEADER = 1 << 1, /* envelope, header sections */
	IMAP_FETCH_NEED_STRUCTURE = 1 << 2, /* MIME parse: BODY(STRUCTURE),
					       part sections, BINARY */
	IMAP_FETCH_NEED_BODY = 1 << 3,	 /* full body bytes */
};

struct imap_fetch_items {
	struct imap_fetch_item *items;
	size_t count;
	bool sets_seen; /* a non-PEEK body item: set \Seen, send FLAGS */
	bool has_changedsince;
	uint64_t changedsince;
	bool vanished;	/* (VANISHED) modifier: UID FETCH with QRESYNC only */
	bool has_modseq; /* MODSEQ item or CHANGEDSINCE: reply MODSEQ */
	unsigned need;	 /* IMAP_FETCH_NEED_* */
};

int imap_fetch_items_parse(const struct imap_arg *args,
			   struct imap_fetch_items **items_r,
			   struct error *err);
void imap_fetch_items_free(struct imap_fetch_items **items);

/* Parse one section spec (the text between "[" and "]"); for tests and
 * for the webmail.  sec is cleared first; free with
 * imap_fetch_section_clear. */
int imap_fetch_section_parse(const char *s, size_t len,
			     struct imap_fetch_section *sec, struct error *err);
void imap_fetch_section_clear(struct imap_fetch_section *sec);

#endif
