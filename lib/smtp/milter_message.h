/*
 * milter_message - a message held whole in memory while milters look at
 * it and change it (milter_proto.h): its header fields as a list, its
 * body as bytes, and the header/body edits of the milter protocol with
 * Sendmail's and Postfix's index rules.
 *
 * The message is CRLF text as smtpd queues it.  A header field keeps its
 * folding; what a milter adds or changes is written "Name: value" (or
 * "Name:value" when the milter negotiated SMFIP_HDR_LEADSPC and sent its
 * own leading space), its line ends made CRLF.  Text before the first
 * line that is not a header field (a message without header) counts as
 * body.
 *
 * Ownership: the message copies what it is given.  Threads: none shared.
 */
#ifndef POSTERN_SMTP_MILTER_MESSAGE_H
#define POSTERN_SMTP_MILTER_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct milter_message;

struct milter_message *milter_message_parse(const char *data, size_t len);
void milter_message_free(struct milter_message **m);

size_t milter_message_header_count(const struct milter_message *m);
/*
 * Header field i as a milter is sent it: name_r, and value_r written
 * into value (the text after the colon, its leading blanks dropped
 * unless leadspc; folding as LF, no final line end).  name_r borrowed
 * until the message changes.
 */
void milter_message_header(const struct milter_message *m, size_t i,
			   bool leadspc, const char **name_r, struct buf *value);
const struct buf *milter_message_body(const struct milter_message *m);

/* SMFIR_ADDHEADER: at the end of the header. */
void milter_message_add_header(struct milter_message *m, const char *name,
			       const char *value, bool leadspc);
/* SMFIR_INSHEADER: before field `index` (0: first; past the end: last). */
void milter_message_insert_header(struct milter_message *m, uint32_t index,
				  const char *name, const char *value,
				  bool leadspc);
/* SMFIR_CHGHEADER: the index-th (1-based) field called name (case does
 * not matter); an empty value deletes it; no such field: value added at
 * the end (Sendmail), unless empty. */
void milter_message_change_header(struct milter_message *m, uint32_t index,
				  const char *name, const char *value,
				  bool leadspc);
/* SMFIR_REPLBODY: the first call of an edit empties the body, every
 * call appends (bare LF made CRLF).  body_done ends the edit. */
void milter_message_replace_body(struct milter_message *m, const char *data,
				 size_t len);
void milter_message_body_done(struct milter_message *m);

struct milter_reply;
/*
 * One header or body edit (r: ADDHEADER, INSHEADER, CHGHEADER or
 * REPLBODY) applied with the functions above: true, or false (m as it
 * was) for any other reply.  Whether the milter negotiated the edit
 * (milter_reply_action) is for the caller to check first.
 */
bool milter_message_apply(struct milter_message *m,
			  const struct milter_reply *r, bool leadspc);

/* The whole message, CRLF lines, appended to out. */
void milter_message_write(const struct milter_message *m, struct buf *out);

#endif
