/*
 * smtpd-content - Postfix's content checks in smtpd's data stream:
 * header_checks, mime_header_checks, nested_header_checks and body_checks
 * (header_checks(5), docs/content-checks.md).
 *
 * The filter runs after the cleanup header stage (smtpd-cleanup.c) on
 * the octets going to the queue.  Each header field (continuation lines
 * joined, line ends removed) is looked up in one table kind: primary
 * header fields in $header_checks, MIME fields (MIME-Version,
 * Content-*) and every field of a MIME part header in
 * $mime_header_checks, fields of an attached message (message/rfc822) in
 * $nested_header_checks; body lines (without the line end, the first
 * $body_checks_size_limit bytes of each part) in $body_checks.  Only the
 * first table entry that matches counts for a field or line; after
 * REJECT or DISCARD nothing more is inspected.
 *
 * Actions, as header_checks(5): REJECT [text] (550 5.7.1 at end of data,
 * a text starting with 4.x.x gives 451; nothing queued), WARN, INFO
 * (logged), IGNORE (the field or line is dropped), HOLD (the hold
 * queue), DISCARD (250, nothing queued), PREPEND text (a field or line
 * before this one), REPLACE text (instead of this one), REDIRECT addr
 * (every recipient replaced, submit_redirect), FILTER transport:dest
 * (logged only: the queue envelope has no transport field yet), DUNNO
 * and OK (nothing).  An unknown action is logged and ignored.
 *
 * Threads: loop thread only; the tables are read-only once open.
 */
#ifndef POSTERN_SMTPD_CONTENT_H
#define POSTERN_SMTPD_CONTENT_H

#include <stdbool.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/error.h"

struct smtpd;
struct smtpd_session;
struct smtpd_txn;

enum content_action {
	CONTENT_DUNNO = 0,
	CONTENT_OK,
	CONTENT_REJECT,
	CONTENT_WARN,
	CONTENT_INFO,
	CONTENT_IGNORE,
	CONTENT_HOLD,
	CONTENT_DISCARD,
	CONTENT_FILTER,
	CONTENT_PREPEND,
	CONTENT_REPLACE,
	CONTENT_REDIRECT,
	CONTENT_UNKNOWN, /* not an action, or one that needs text without */
};

/*
 * Parse a table result ("REJECT spam here"): the action, and in *text_r
 * the text after it (leading blanks skipped; borrowed from value, "" when
 * none).  FILTER, PREPEND, REPLACE and REDIRECT need a text, else
 * CONTENT_UNKNOWN.  Case-insensitive, as Postfix.
 */
enum content_action content_action_parse(const char *value,
					 const char **text_r);
/* "reject", "warn", ...: the verb for log lines. */
const char *content_action_name(enum content_action a);

/*
 * The filter under the checks, without a session (unit tests, fuzzing):
 * it splits the message into lines, joins header fields, follows the
 * MIME structure and calls fn for each field or body line that table
 * kind t (a bit of `tables`) should look at, with key (the field joined,
 * line ends removed; the body line without its line end) and item/len
 * (as it came, line end included).  fn appends what goes on to out: the
 * item unchanged, something else, or nothing.  Everything else is
 * copied to out as it came.
 */
enum content_table {
	CONTENT_HEADER = 0, /* header_checks */
	CONTENT_MIME,	    /* mime_header_checks */
	CONTENT_NESTED,	    /* nested_header_checks */
	CONTENT_BODY,	    /* body_checks */
	CONTENT_TABLES,
};
#define CONTENT_TABLE_BIT(t) (1u << (t))

typedef void content_check_fn(void *ctx, enum content_table t, const char *key,
			      const char *item, size_t len, struct buf *out);

struct content_filter_limits {
	bool no_mime;	     /* disable_mime_input_processing */
	size_t header_limit; /* a longer field passes unchecked */
	size_t body_limit;   /* bytes of each part body_checks see */
};

struct content_filter;
struct content_filter *
content_filter_new(const struct content_filter_limits *lim, unsigned tables,
		   content_check_fn *fn, void *ctx);
void content_filter_free(struct content_filter **f);
/* Filter chunk in place (a partial last line is held back). */
void content_filter_feed(struct content_filter *f, struct buf *chunk);
/* The message ended: what is held, filtered, appended to out. */
void content_filter_end(struct content_filter *f, struct buf *out);
/* From now on nothing is looked at (REJECT, DISCARD). */
void content_filter_stop(struct content_filter *f);

/* Open d->content from main.cf.  A table that does not open makes every
 * message be refused with 451 (logged), as a broken cleanup table; never
 * an error at start-up. */
int smtpd_content_open(struct smtpd *d, const struct conf *conf,
		       struct error *err);
void smtpd_content_close(struct smtpd *d);
void smtpd_content_txn_free(struct smtpd_txn *t);
/* Message octets (CRLF lines) on their way to the queue, filtered in
 * place; a partial line is held until its end comes. */
void smtpd_content_data(struct smtpd_session *s, struct buf *chunk);
/* The whole message is in: write what is held to the queue. */
void smtpd_content_data_end(struct smtpd_session *s);
/* Before the commit: true if a REJECT took the message (answered, the
 * transaction reset); HOLD, DISCARD and REDIRECT are applied to the
 * transaction (smtpd_check_message_end does HOLD and DISCARD). */
bool smtpd_content_message_end(struct smtpd_session *s);

#endif
