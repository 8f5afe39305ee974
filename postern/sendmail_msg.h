/*
 * sendmail_msg - what `postern sendmail` does to a message before it is
 * dropped into the maildrop folder: the pure part, kept apart from the
 * file handling so it can be unit-tested (tests/unit/postern).
 *
 * Like sendmail/Postfix's sendmail: input ends at EOF, or at a line
 * holding a lone "." unless -i/-oi; LF or CRLF line ends both become
 * CRLF (the queue's form); a leading mbox "From " line is dropped; with
 * -t the recipients of To, Cc and Bcc are added to those of the command
 * line; Bcc headers are always removed; From, Date and Message-ID are
 * added when missing.  Unqualified addresses ("root") get @myhostname,
 * as Postfix's append_at_myorigin does.
 *
 * Errors: -1 with ERR_PERM and a one-line reason (a malformed address).
 * Ownership: outputs are appended to caller-owned buf/array; the array
 * holds malloc'd strings (free with array_free_with(&a, free)).
 */
#ifndef POSTERN_SENDMAIL_MSG_H
#define POSTERN_SENDMAIL_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/array.h"
#include "core/buf.h"
#include "core/error.h"

struct sendmail_opts {
	bool ignore_dots;      /* -i, -oi: a lone "." is content */
	bool extract_rcpts;    /* -t */
	const char *sender;    /* envelope sender, "" for <> */
	const char *full_name; /* -F, or NULL */
	const char *myhostname;
	int64_t now;	    /* wall seconds, for Date: */
	const char *unique; /* left part of a generated Message-ID */
};

/*
 * Turn the raw input in[0..len) into the queued message (appended to out,
 * CRLF lines) and add the recipients found in its headers (with -t) to
 * rcpts.  Returns 0, or -1 with err.
 */
int sendmail_msg_build(const char *in, size_t len,
		       const struct sendmail_opts *opts, struct buf *out,
		       struct array *rcpts, struct error *err);

/*
 * Parse an RFC 5322 address list (a header value, folding allowed):
 * display names, comments, quoted strings, <angle> addresses and groups.
 * Each address is appended to rcpts in canonical wire form, qualified
 * with @myhostname when it has no domain.  0, or -1 with err.
 */
int sendmail_parse_address_list(const char *value, size_t len,
				const char *myhostname, struct array *rcpts,
				struct error *err);

/* One address of the command line or -f: "<a@b>" or "a@b" or "root",
 * qualified and canonical, into out (replaced).  "" and "<>" give "". */
int sendmail_qualify(const char *addr, const char *myhostname, struct buf *out,
		     struct error *err);

#endif
