/*
 * imap_thread - RFC 5256 SORT and THREAD pieces: the base subject,
 * msg-id lists, THREAD=ORDEREDSUBJECT and THREAD=REFERENCES, both as the
 * IMAP answer (imapd's THREAD, gathered by imapd/imapd-sort.c) and, for
 * REFERENCES, as each message's thread (the webmail's conversation
 * view), from one tree so the two group alike.  Pure functions,
 * thread-safe; memory from the xmalloc family.
 */
#ifndef POSTERN_IMAP_THREAD_H
#define POSTERN_IMAP_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/*
 * The base subject of an already decoded (RFC 2047 -> UTF-8) subject,
 * upper-cased in ASCII (i;ascii-casemap), into out (reset first);
 * *is_reply_r (may be NULL) tells whether Re:/Fwd:/(fwd)/[fwd:] was
 * removed.
 */
void imap_base_subject(const char *subject, struct buf *out, bool *is_reply_r);
/* The "<id>" tokens of a References / In-Reply-To / Message-ID value,
 * white space removed; returns the count (free with imap_msgids_free). */
size_t imap_msgids_parse(const char *value, char ***ids_r);
size_t imap_msgids_parse_n(const char *value, size_t len, char ***ids_r);
void imap_msgids_free(char **ids, size_t n);

struct imap_thread_msg {
	uint32_t id;		/* the caller's: what is printed (seq or UID) */
	uint32_t seq;		/* tie break */
	int64_t date;		/* sent date, or INTERNALDATE without one */
	const char *message_id; /* "<id>" or NULL */
	char **refs;		/* References, else the In-Reply-To id */
	size_t nrefs;
	const char *base_subject;
	bool is_reply;
};

/*
 * THREAD=REFERENCES over msgs[0..n): root_r[i] is the index in msgs of
 * the first message (in the order of the IMAP answer) of msgs[i]'s
 * thread, so messages with the same root_r are one conversation.
 */
void imap_thread_references(const struct imap_thread_msg *msgs, size_t n,
			    size_t *root_r);
/* Append the IMAP thread list "(1 2)(3 (4)(5))" of msgs' ids. */
void imap_thread_references_print(const struct imap_thread_msg *msgs,
				  size_t n, struct buf *out);
void imap_thread_orderedsubject(const struct imap_thread_msg *msgs, size_t n,
				struct buf *out);

#endif
