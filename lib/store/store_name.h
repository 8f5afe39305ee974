/*
 * store_name - Maildir file names, as the Maildir spec and Dovecot write
 * them:
 *
 *   1735689600.M123456P4242Q7.mx1,S=2048,W=2101:2,FS
 *   \_________unique part________/\___fields___/\info/
 *
 * The unique part is everything up to the first ',' or ':'.  Fields are
 * ",KEY=VALUE" pairs: S= is the file size and W= the RFC822.SIZE (an
 * LF not after a CR counted as CRLF); other fields are kept but not
 * interpreted.  The info ":2," is followed by upper-case flags in ASCII
 * order (D draft, F flagged, P passed, R replied, S seen, T trashed) and
 * then Dovecot's keyword letters a-z (the meaning of each letter is in
 * dovecot-keywords, the IMAP layer's business).
 *
 * Flags and keywords are bit sets: bit (c - 'A') for flag c and bit
 * (c - 'a') for keyword c, so unknown flag letters survive a round trip.
 * Nothing here allocates; functions returning -1 fill err with ERR_PERM.
 */
#ifndef POSTERN_STORE_NAME_H
#define POSTERN_STORE_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define STORE_FLAG_BIT(c) (1u << ((c) - 'A'))
#define STORE_FLAG_DRAFT STORE_FLAG_BIT('D')
#define STORE_FLAG_FLAGGED STORE_FLAG_BIT('F')
#define STORE_FLAG_PASSED STORE_FLAG_BIT('P')
#define STORE_FLAG_REPLIED STORE_FLAG_BIT('R')
#define STORE_FLAG_SEEN STORE_FLAG_BIT('S')
#define STORE_FLAG_TRASHED STORE_FLAG_BIT('T')
#define STORE_KEYWORD_BIT(c) (1u << ((c) - 'a'))

struct store_name {
	size_t unique_len; /* name[0..unique_len) */
	size_t base_len;   /* name[0..base_len): unique part and fields */
	bool has_size, has_vsize, has_info;
	uint64_t size;	/* S= */
	uint64_t vsize; /* W= */
	uint32_t flags;
	uint32_t keywords;
};

/*
 * Parse a file name.  Refuses an empty name, a leading dot, "/", a
 * malformed S= or W= value and an info other than ":2,[A-Z]*[a-z]*".
 */
int store_name_parse(const char *name, struct store_name *r, struct error *err);

/*
 * Write `base` (base_len bytes: the unique part and fields) followed by
 * ":2," and the flags and keywords, into out (outlen bytes).  -1 when it
 * does not fit.
 */
int store_name_with_flags(const char *base, size_t base_len, uint32_t flags,
			  uint32_t keywords, char *out, size_t outlen,
			  struct error *err);

/*
 * Generate a new unique part: SECS.M<usec>P<pid>Q<counter>.HOST, the
 * counter being per process (atomic, so threads may call this too).
 * `host` must already be escaped (store_name_escape_host).
 */
void store_name_unique(const char *host, char *out, size_t outlen);

/*
 * Make a host name safe for the unique part, as the Maildir spec says:
 * "/" becomes "\057", ":" "\072" (and "," "\054", which would start a
 * field).  Truncated to fit outlen.
 */
void store_name_escape_host(const char *host, char *out, size_t outlen);

#endif
