/*
 * imap_search - IMAP SEARCH programs: parse (RFC 3501 6.4.4, RFC 9051
 * 6.4.4, MODSEQ of RFC 7162, RETURN options of RFC 4731 / RFC 5182,
 * OLDER/YOUNGER of RFC 5032, EMAILID/THREADID of RFC 8474) into a tree
 * of keys, and evaluate it for one message through callbacks, so imapd
 * does all data access.
 *
 * Parsing: imap_search_parse() takes the arguments after "SEARCH"
 * (struct imap_arg from imap_parser.h).  Errors go to err (ERR_PERM)
 * with a text for "BAD"; an unsupported CHARSET sets err->code to
 * "BADCHARSET" (reply: NO [BADCHARSET (UTF-8 US-ASCII)]).  The tree
 * normalises the keys: FROM/TO/CC/BCC/SUBJECT become HEADER keys with
 * the field name, NEW becomes (RECENT UNSEEN), OLD becomes NOT RECENT,
 * UNSEEN/UNANSWERED... become FLAG keys with `set` false, and so on.
 *
 * Evaluation: imap_search_eval() with a cost ceiling answers YES, NO or
 * MAYBE (when it would need data above the ceiling): an engine first
 * evaluates every message with IMAP_SEARCH_COST_INDEX (flags, UID, size,
 * dates, modseq: all from the index) and opens only the MAYBE messages
 * with IMAP_SEARCH_COST_BODY.  Three-valued logic: NOT MAYBE = MAYBE,
 * NO AND MAYBE = NO, YES OR MAYBE = YES.
 *
 * Full-text hook: before evaluating, an engine with a full-text index may
 * visit the text keys (imap_search_foreach_text) and attach to each a
 * set of UIDs it knows (imap_search_key_set_fts): a message outside the
 * set does not match; inside it, it matches at once if `definite`,
 * otherwise the ordinary callback decides.  Such keys then cost INDEX
 * when definite.
 *
 * Strings match as case-insensitive substrings (imap_search_text_match:
 * ASCII plus simple folding of Latin-1, Latin Extended-A, Greek and
 * Cyrillic letters).  Dates compare days only: BEFORE/ON/SINCE use the
 * internal date in the server's local time zone, SENT* the Date: header
 * in its own zone (RFC 3501).
 *
 * Ownership: a program owns its keys (imap_search_program_free).
 * Threads: a program is read-only during evaluation; several threads may
 * evaluate one program at once if the fts sets are attached first.
 */
#ifndef POSTERN_IMAP_SEARCH_H
#define POSTERN_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct buf;
struct error;
struct imap_arg;
struct imap_seqset;

/* The system flags, as bits (also used by imap_fetch_items users). */
enum {
	IMAP_MSG_SEEN = 1 << 0,
	IMAP_MSG_ANSWERED = 1 << 1,
	IMAP_MSG_FLAGGED = 1 << 2,
	IMAP_MSG_DELETED = 1 << 3,
	IMAP_MSG_DRAFT = 1 << 4,
	IMAP_MSG_RECENT = 1 << 5,
};

enum imap_search_key_type {
	IMAP_SK_ALL,
	IMAP_SK_AND,	 /* children: all must match (a parenthesised list) */
	IMAP_SK_OR,	 /* children: exactly two */
	IMAP_SK_NOT,	 /* children: exactly one */
	IMAP_SK_SEQSET,	 /* seqset: message sequence numbers */
	IMAP_SK_UIDSET,	 /* seqset: UIDs; also "$" (seqset->saved) */
	IMAP_SK_FLAG,	 /* flag: one IMAP_MSG_* bit; set: must be set */
	IMAP_SK_KEYWORD, /* str: keyword; set */
	IMAP_SK_BEFORE,	 /* day: internal date */
	IMAP_SK_ON,
	IMAP_SK_SINCE,
	IMAP_SK_SENTBEFORE, /* day: Date: header */
	IMAP_SK_SENTON,
	IMAP_SK_SENTSINCE,
	IMAP_SK_OLDER,	 /* number: seconds (RFC 5032) */
	IMAP_SK_YOUNGER, /* number: seconds */
	IMAP_SK_LARGER,	 /* number: RFC822.SIZE */
	IMAP_SK_SMALLER,
	IMAP_SK_HEADER,	 /* field + str ("" = field present) */
	IMAP_SK_BODY,	 /* str */
	IMAP_SK_TEXT,	 /* str: header and body */
	IMAP_SK_MODSEQ,	 /* number; entry/entry_type optional */
	IMAP_SK_EMAILID, /* str */
	IMAP_SK_THREADID,
};

enum imap_search_cost {
	IMAP_SEARCH_COST_INDEX = 0,  /* flags, uid, seq, size, dates, modseq */
	IMAP_SEARCH_COST_HEADER = 1, /* header fields, sent date */
	IMAP_SEARCH_COST_BODY = 2,   /* BODY / TEXT */
};

struct imap_search_key {
	enum imap_search_key_type type;
	struct imap_search_key *next;	  /* sibling in AND / OR */
	struct imap_search_key *children; /* AND, OR, NOT */
	unsigned flag;
	bool set;
	char *str;   /* keyword, search string (UTF-8), emailid */
	char *field; /* HEADER field name as given ("SUBJECT" for SUBJECT) */
	int32_t day; /* days since 1970-01-01 */
	uint64_t number;
	struct imap_seqset *seqset;
	char *entry;	/* MODSEQ entry name, NULL if absent */
	char *entry_type; /* "priv", "shared" or "all" (lower case) */
	enum imap_search_cost cost; /* of this key and its children */
	/* full-text hook (see above) */
	struct imap_seqset *fts_uids;
	bool fts_definite;
};

/* RETURN options (RFC 4731, RFC 5182). */
enum {
	IMAP_SEARCH_RETURN_MIN = 1 << 0,
	IMAP_SEARCH_RETURN_MAX = 1 << 1,
	IMAP_SEARCH_RETURN_ALL = 1 << 2,
	IMAP_SEARCH_RETURN_COUNT = 1 << 3,
	IMAP_SEARCH_RETURN_SAVE = 1 << 4,
};

struct imap_search_program {
	struct imap_search_key *root; /* an AND of the top-level keys */
	char *charset;		      /* as given, upper case; NULL if none */
	/* RETURN (...) was given: answer with ESEARCH.  "RETURN ()" means
	 * ALL (return_opts has ALL set). */
	bool esearch;
	unsigned return_opts;
	bool uses_saved;  /* "$" appears: the caller substitutes the result */
	bool uses_modseq; /* a MODSEQ key: reply carries "(MODSEQ n)" */
	enum imap_search_cost cost; /* of the whole program */
};

/* Parse options. */
enum {
	/* SORT/THREAD (RFC 5256): the arguments start with a mandatory
	 * charset astring, no "CHARSET" keyword, no RETURN. */
	IMAP_SEARCH_PARSE_SORT = 1 << 0,
};

int imap_search_parse(const struct imap_arg *args, unsigned opts,
		      struct imap_search_program **prog_r, struct error *err);
void imap_search_program_free(struct imap_search_program **prog);

/*
 * Before evaluating: resolve "*" in the sequence sets against the
 * folder's message count (max_seq) and largest UID (max_uid), and put
 * the saved SEARCHRES UIDs (RFC 5182, may be empty) where "$" was.
 */
void imap_search_resolve(struct imap_search_program *prog, uint32_t max_seq,
			 uint32_t max_uid, const uint32_t *saved,
			 size_t saved_count);

/* Data access for one message (`msg` is the caller's). */
struct imap_search_msg_ops {
	uint32_t (*seq)(void *msg);
	uint32_t (*uid)(void *msg);
	unsigned (*flags)(void *msg); /* IMAP_MSG_* bits */
	bool (*has_keyword)(void *msg, const char *keyword);
	uint64_t (*size)(void *msg);	  /* RFC822.SIZE */
	time_t (*internal_date)(void *msg);
	uint64_t (*modseq)(void *msg);	  /* may be NULL: 0 */
	const char *(*emailid)(void *msg);  /* may be NULL */
	const char *(*threadid)(void *msg); /* may be NULL */
	/*
	 * Date: header as time and zone offset in minutes east of UTC;
	 * 1 found, 0 absent or unparsable (SENT* then compare the internal
	 * date, as Dovecot does), -1 error.
	 */
	int (*sent_date)(void *msg, time_t *t_r, int *tz_minutes_r,
			 struct error *err);
	/*
	 * Append to `values` (reset by the caller) every value of header
	 * `name` (case-insensitive), RFC 2047-decoded to UTF-8, unfolded,
	 * separated by "\n"; 1 if at least one field exists, 0 if none,
	 * -1 error.  For address headers, decoded display names and
	 * addresses must both be in the text.
	 */
	int (*header)(void *msg, const char *name, struct buf *values,
		      struct error *err);
	/*
	 * Does the body (whole_text false: BODY, decoded text parts) or the
	 * whole message (true: TEXT, headers and body) contain `needle`
	 * (imap_search_text_match semantics)?  1 yes, 0 no, -1 error.
	 */
	int (*body_contains)(void *msg, const char *needle, bool whole_text,
			     struct error *err);
};

enum imap_search_result {
	IMAP_SEARCH_NO = 0,
	IMAP_SEARCH_YES = 1,
	IMAP_SEARCH_MAYBE = 2,
};

/*
 * Evaluate the program on one message using data up to `max_cost`.
 * `now` is for OLDER/YOUNGER.  Returns an imap_search_result or -1 when
 * a callback failed (err filled by it).
 */
int imap_search_eval(const struct imap_search_program *prog,
		     enum imap_search_cost max_cost,
		     const struct imap_search_msg_ops *ops, void *msg,
		     time_t now, struct error *err);

/* Full-text hook: call fn for every HEADER, BODY and TEXT key. */
void imap_search_foreach_text(struct imap_search_program *prog,
			      void (*fn)(struct imap_search_key *key,
					 void *ctx),
			      void *ctx);
/* Attach a UID set (ownership passes to the key); recomputes costs. */
void imap_search_key_set_fts(struct imap_search_program *prog,
			     struct imap_search_key *key,
			     struct imap_seqset *uids, bool definite);

/* Case-insensitive (see above) substring search; an empty needle
 * matches.  Both UTF-8; invalid bytes compare as themselves. */
bool imap_search_text_match(const char *haystack, size_t len,
			    const char *needle);

/* "1-Feb-1994" (RFC 3501 date, day 1 or 2 digits) to days since
 * 1970-01-01; false if invalid. */
bool imap_search_parse_date(const char *s, int32_t *day_r);

/* Write the set of `uids`/seqs that matched as ESEARCH options for
 * prog->return_opts ("MIN 1 MAX 9 COUNT 3 ALL 1:3,9"), nums ascending;
 * nothing for no match except "COUNT 0".  `modseq` > 0 adds "MODSEQ n"
 * (RFC 7162 3.1.5).  The caller writes "* ESEARCH (TAG "x") UID ". */
void imap_search_write_esearch(struct buf *out, unsigned return_opts,
			       const uint32_t *nums, size_t count,
			       uint64_t modseq);

#endif
