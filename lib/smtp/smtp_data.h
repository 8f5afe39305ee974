/*
 * smtp_data - reading message content: the DATA stream (RFC 5321 4.1.1.4,
 * 4.5.2) and BDAT chunks (RFC 3030).
 *
 * struct smtp_data is an incremental parser fed the raw bytes that follow
 * "354" in chunks of any size.  It removes dot-stuffing, finds the end of
 * data, counts the size, enforces the size limit and appends the message
 * to a caller's struct buf with CRLF line ends, so the caller writes each
 * chunk to the queue file and resets the buf: a 50 MB message is never in
 * memory at once.
 *
 * End of data: ONLY the five octets CR LF "." CR LF end DATA, the
 * leading CR LF being the end of the previous line or the end of the DATA
 * command itself (an empty message is "." CR LF).  Never "<LF>.<LF>",
 * "<CR>.<CR>", "<LF>.<CRLF>", "<CRLF>.<LF>", "<CR>.<CRLF>" or any other
 * mix, whatever the mode: that is the whole defence against SMTP
 * smuggling (CVE-2023-51764 Postfix, CVE-2023-51765 sendmail,
 * CVE-2023-51766 Exim), where a sender hides a second message behind an
 * end-of-data that this server reads as content but an earlier or later
 * hop reads as the end.  Equivalently: feeding input X ends DATA right
 * after the first occurrence of CRLF.CRLF in (CRLF + X), and the bytes
 * after it are not consumed (they are pipelined commands).
 *
 * Bare LF and bare CR (an LF without a CR before it, a CR without an LF
 * after it), as Postfix's smtpd_forbid_bare_newline:
 *   SMTP_BARE_NORMALIZE  each one is a line end and becomes CRLF in the
 *                        output (Postfix's "normalize", the 3.9 default,
 *                        and "yes").  A "." at the start of such a line is
 *                        removed like any dot-stuffing, so "<LF>.<LF>"
 *                        yields an empty line, never a lone dot.
 *   SMTP_BARE_REJECT     the same framing and output, but the message is
 *                        refused after its end (550 5.5.2), so the server
 *                        reads to CRLF.CRLF, answers, and may disconnect
 *                        as Postfix's "reject" does.
 *   SMTP_BARE_KEEP       bare CR and LF are content, passed through as
 *                        they are; dot-stuffing is only undone after
 *                        CRLF.  XXX: Postfix's "no" also takes
 *                        "<LF>.<LF>" as the end; we never do.
 * Mixed-up line ends are counted in either mode (for logging).
 *
 * Size: the output octets (after un-dot-stuffing and normalisation) are
 * counted.  Past max_size (0: no limit) no more output is produced (the
 * output holds exactly the first max_size octets), the input is still
 * read to the end, and smtp_data_result() gives 552 5.3.4, as RFC 5321
 * 4.5.3.1.10 and Postfix answer after the dot.
 *
 * The server must feed the raw bytes (io_read_bytes), not lines from
 * io_getline, which would hide bare LFs.
 *
 * Errors: nothing fails while feeding; the verdict is smtp_data_result().
 */
#ifndef POSTERN_SMTP_DATA_H
#define POSTERN_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "smtp/smtp_reply.h"

enum smtp_bare_mode {
	SMTP_BARE_NORMALIZE = 0,
	SMTP_BARE_REJECT,
	SMTP_BARE_KEEP,
};

/* Postfix's smtpd_forbid_bare_newline values: "normalize" and "yes" give
 * NORMALIZE, "reject" REJECT, "no" KEEP.  False for anything else. */
bool smtp_bare_mode_parse(const char *value, enum smtp_bare_mode *mode_r);

enum smtp_data_status {
	SMTP_DATA_MORE = 0, /* all input consumed, end not seen yet */
	SMTP_DATA_DONE = 1, /* end of data seen; see *consumed_r */
};

struct smtp_data;

struct smtp_data *smtp_data_new(enum smtp_bare_mode mode, uint64_t max_size);
void smtp_data_free(struct smtp_data **d);
/* Start a new message with the same settings. */
void smtp_data_reset(struct smtp_data *d);

/*
 * Feed len bytes.  Message bytes are appended to out.  Returns
 * SMTP_DATA_DONE once the end has been seen, with *consumed_r the number
 * of input bytes used, the end marker included (the rest belongs to the
 * next command); otherwise SMTP_DATA_MORE with *consumed_r == len.  After
 * DONE, more feeding consumes nothing until smtp_data_reset().
 */
enum smtp_data_status smtp_data_feed(struct smtp_data *d, const void *in,
				     size_t len, struct buf *out,
				     size_t *consumed_r);

bool smtp_data_done(const struct smtp_data *d);
/* Octets of message produced so far (counted past the limit too). */
uint64_t smtp_data_size(const struct smtp_data *d);
bool smtp_data_too_big(const struct smtp_data *d);
/* Bare LFs and bare CRs seen. */
uint64_t smtp_data_bare_lf(const struct smtp_data *d);
uint64_t smtp_data_bare_cr(const struct smtp_data *d);

/*
 * The verdict after DONE: 0 when the message may be accepted, -1 with
 * *reply_r "552 5.3.4 Message size exceeds fixed limit" or, in REJECT
 * mode with a bare CR or LF, "550 5.5.2 Message contains bare CR or LF".
 */
int smtp_data_result(const struct smtp_data *d, struct smtp_reply *reply_r);

/*
 * BDAT (RFC 3030): the chunks of one message, each exactly n octets with
 * no dot or line-end processing (it is BINARYMIME-safe), the size limit
 * counted over all chunks; past it the chunk octets are read and dropped.
 */
struct smtp_bdat;

struct smtp_bdat *smtp_bdat_new(uint64_t max_size);
void smtp_bdat_free(struct smtp_bdat **b);
/* Start a new message (after the LAST chunk, or RSET). */
void smtp_bdat_reset(struct smtp_bdat *b);
/* A BDAT command announced a chunk of `size` octets (last: LAST). */
void smtp_bdat_chunk(struct smtp_bdat *b, uint64_t size, bool last);
/*
 * Feed input; appends at most what the chunk still needs to out.
 * Returns SMTP_DATA_DONE when the chunk is complete (*consumed_r: bytes
 * used, the rest is the next command), SMTP_DATA_MORE otherwise.  A
 * zero-size chunk is complete at once.
 */
enum smtp_data_status smtp_bdat_feed(struct smtp_bdat *b, const void *in,
				     size_t len, struct buf *out,
				     size_t *consumed_r);
/* Octets still expected in the current chunk. */
uint64_t smtp_bdat_remaining(const struct smtp_bdat *b);
/* The LAST chunk is complete: the message is whole. */
bool smtp_bdat_done(const struct smtp_bdat *b);
uint64_t smtp_bdat_size(const struct smtp_bdat *b);
bool smtp_bdat_too_big(const struct smtp_bdat *b);
/* 0, or -1 with 552 5.3.4 when the message is over the limit. */
int smtp_bdat_result(const struct smtp_bdat *b, struct smtp_reply *reply_r);

#endif
