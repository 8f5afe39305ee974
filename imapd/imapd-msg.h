/*
 * imapd-msg.h - helpers shared by the message commands (imapd-fetch.c,
 * imapd-store.c, imapd-search.c, imapd-copy.c, imapd-expunge.c,
 * imapd-sort.c):
 *
 *  - the CRLF view of a stored message: files keep LF line ends, IMAP
 *    sizes, offsets and bodies are in CRLF terms ("virtual"), so every
 *    byte range is converted on the way out (imapd-msg.c);
 *  - a read-only mapping of one message file (imapd-msg.c);
 *  - RFC 5256 base subjects, msg-id lists and the two THREAD algorithms
 *    come from lib/imap (imap/imap_thread.h), which the webmail's
 *    conversation view shares.
 *
 * Threading: every function is called on a worker thread for one
 * session; nothing here is shared between sessions.
 */
#ifndef POSTERN_IMAPD_MSG_H
#define POSTERN_IMAPD_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

/* ---- CRLF view ---- */

/* The size of p[0..len) with each LF not after a CR counted as CRLF;
 * `prev` is the byte before p ('\0' at the start of the file). */
uint64_t imapd_crlf_size(const char *p, size_t len, char prev);
/* The number of lines of p[0..len) (LF count, +1 for an unterminated
 * last line), as BODYSTRUCTURE counts them. */
uint64_t imapd_crlf_lines(const char *p, size_t len);
/*
 * Append bytes [voff, voff + vlen) of the CRLF view of p[0..len) to out
 * (all of it from voff when vlen is UINT64_MAX).  Returns the number of
 * bytes appended.
 */
uint64_t imapd_crlf_append(struct buf *out, const char *p, size_t len,
			   char prev, uint64_t voff, uint64_t vlen);

/*
 * The same, for output in chunks: *phys_done_r is how many bytes of p
 * were wholly emitted or skipped and *virt_done_r their CRLF size, so
 * the next chunk starts at p + *phys_done_r with voff reduced by
 * *virt_done_r (a cut between the CR and LF of a converted line end
 * leaves that LF for the next chunk, which skips the CR again).
 */
uint64_t imapd_crlf_copy(struct buf *out, const char *p, size_t len,
			 char prev, uint64_t voff, uint64_t vlen,
			 size_t *phys_done_r, uint64_t *virt_done_r);

/* ---- a mapped message file ---- */

struct imapd_msg_file {
	const char *data; /* the whole file, read-only; "" when empty */
	size_t size;
	void *map;	  /* for munmap; NULL when nothing was mapped */
	char *heap;	  /* or read into memory (small files), to free */
};

/*
 * The whole open file fd (closed here in any case): read into memory up
 * to IMAPD_MSG_READ_MAX, mapped above.  Reading small files beats
 * mmap: each munmap of a multi-threaded process flushes the TLB of every
 * CPU running it, and SEARCH over thousands of messages did thousands.
 * 0 or -1 with err.
 */
#define IMAPD_MSG_READ_MAX (1024 * 1024)
int imapd_msg_file_map(int fd, struct imapd_msg_file *f, struct error *err);
void imapd_msg_file_close(struct imapd_msg_file *f);

/*
 * One message of the selected folder, loaded on demand: the file mapped,
 * then its MIME tree parsed, only when a FETCH item or SEARCH key needs
 * them.  A plain value on the caller's stack: zero it, set folder and
 * seq with imapd_msgctx_init(), release with imapd_msgctx_clear().
 */
struct mindex_folder;
struct mime_message;
struct imapd_msgctx {
	struct mindex_folder *folder;
	uint32_t seq;
	bool loaded, gone;
	struct imapd_msg_file file;
	struct mime_message *mime;
	size_t body_off;   /* physical offset of the body */
};

void imapd_msgctx_init(struct imapd_msgctx *c, struct mindex_folder *f,
		       uint32_t seq);
/* 1 mapped, 0 when the message is gone (expunged), -1 error. */
int imapd_msgctx_load(struct imapd_msgctx *c, struct error *err);
/* The MIME tree (loads the file; NULL when gone or on error). */
const struct mime_message *imapd_msgctx_mime(struct imapd_msgctx *c,
					     struct error *err);
void imapd_msgctx_clear(struct imapd_msgctx *c);

/* Append "(\Seen \Flagged kw ...)" for message m (with \Recent). */
struct mindex_msg;
void imapd_write_flags(struct buf *out, const struct mindex_folder *f,
		       const struct mindex_msg *m);

/* Where the header ends: the offset of the body (after the blank line)
 * and of the blank line itself, in p[0..len). */
size_t imapd_header_end(const char *p, size_t len, size_t *blank_r);

/* ---- command helpers (imapd-msgctx.c) ---- */

struct imapd_cmd;
struct imap_arg;

/*
 * The sequence-set argument `arg` of cmd (UID set for a UID command, "$"
 * for the SEARCHRES result) as ascending sequence numbers of the view,
 * malloc'd (NULL when empty).  A UID set skips UIDs that do not exist;
 * a sequence set with a number beyond the view is an error.  -1 when the
 * tagged BAD was appended.
 */
int imapd_msg_seqs(struct imapd_cmd *cmd, const struct imap_arg *arg,
		   uint32_t **seqs_r, size_t *count_r);
/* The same as a UID list (for COPYUID, VANISHED, SEARCHRES). */
void imapd_msg_uids(struct mindex_folder *f, const uint32_t *seqs, size_t n,
		    uint32_t *uids_r);
/* Quote flags (enum imap_quote_flags) for the session. */
unsigned imapd_msg_quote_flags(struct imapd_cmd *cmd);
/* Reply NO for a failed mindex/store call with the IMAP response code
 * that its err->code means (TRYCREATE, OVERQUOTA, LIMIT...). */
void imapd_msg_reply_error(struct imapd_cmd *cmd, const struct error *err,
			   const char *what);

/* An id from the unique part of a file name ("M" + 16 hex digits). */
void imapd_emailid(const char *name, char out[18]);
/* The RFC 8474 EMAILID of c's message: "M" + 16 hex digits of a hash of
 * its content (the same for every copy), cached in the mindex. */
void imapd_msg_emailid(struct imapd_msgctx *c, char out[18]);

/* ---- SEARCH evaluation, shared with SORT/THREAD (imapd-search.c) ---- */

struct imap_search_program;
struct imapd_search_msg {
	struct mindex_folder *f;
	uint32_t seq;
	const struct mindex_msg *m;
	struct imapd_msgctx mc;
	struct buf *text;    /* extracted body text, once needed */
	struct buf *headers; /* decoded header block, once needed */
	char emailid[18];
};
void imapd_search_msg_init(struct imapd_search_msg *sm,
			   struct mindex_folder *f, uint32_t seq);
void imapd_search_msg_clear(struct imapd_search_msg *sm);
/* Every value of header `name`, RFC 2047-decoded, "\n"-separated,
 * appended to values; 1 found, 0 none, -1 error. */
int imapd_search_header(struct imapd_search_msg *sm, const char *name,
			struct buf *values, struct error *err);
/* Sequence numbers (ascending, malloc'd) of the messages matching prog
 * ("$" replaced by the saved result, full-text keys attached). */
int imapd_search_run(struct imapd_cmd *cmd, struct imap_search_program *prog,
		     uint32_t **seqs_r, size_t *count_r, struct error *err);
/* Reply to a search program parse error (NO [BADCHARSET] or BAD). */
void imapd_search_reply_parse_error(struct imapd_cmd *cmd,
				    const struct error *err);

/* ---- RFC 5256: imap/imap_thread.h (imap_base_subject,
 * imap_msgids_*, imap_thread_references_print,
 * imap_thread_orderedsubject) ---- */
#include "imap/imap_thread.h"

#endif
