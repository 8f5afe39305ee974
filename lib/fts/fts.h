/*
 * fts - the built-in full-text index of one mailbox (user), answering
 * IMAP SEARCH TEXT/BODY/SUBJECT/FROM/TO/CC/BCC and the webmail's search
 * without reading message files.
 *
 * One SQLite database per mailbox, postern-fts.sqlite at the mailbox root
 * (beside the Maildir), with two FTS5 tables using the trigram tokenizer
 * (address/subject fields apart from headers/body, docs/fts.md):
 * IMAP's SEARCH is a case-insensitive SUBSTRING match (RFC 3501 6.4.4
 * "contains"), which a word tokenizer (unicode61) cannot answer -
 * "ostern" must find "Postern" - while trigrams answer any substring of
 * three or more characters from the index.  Shorter queries are answered
 * by a LIKE over the indexed text: still no message file is read.  Why
 * SQLite and not an index of our own: see docs/fts.md.
 *
 * Documents are keyed by (folder, unique part of the Maildir file name).
 * The unique part never changes when flags change (only the ":2," info
 * does), and it is known at delivery, before lib/mindex gives the message
 * a UID; the IMAP daemon maps unique parts to UIDs through its index.
 *
 * The index is a cache: delivery adds to it (lmtpd), but a message can
 * arrive by other ways (a Dovecot store migrated in, an indexing failure
 * that must not fail a delivery), so readers call fts_missing() to learn
 * which of a folder's messages are not indexed yet and index them.  A
 * corrupt database is removed and rebuilt empty by fts_open().
 *
 * Threads: a struct fts is used by one thread at a time (imapd calls it
 * from worker threads, one job per session at a time).  Several processes
 * may write one user's index: SQLite's locking serialises them; a writer
 * waits at most `busy_ms` (fts_open) and then fails with ERR_TEMP.
 * lmtpd indexes after the delivery's reply (fts_batch.h), never in it.
 *
 * Errors: -1 with err (ERR_TEMP for a busy or unwritable database).
 */
#ifndef POSTERN_FTS_H
#define POSTERN_FTS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/array.h"
#include "core/error.h"

#define FTS_FILE_NAME "postern-fts.sqlite"

/* err->code of a write that met a full file system (SQLITE_FULL, ENOSPC,
 * EDQUOT, EFBIG): the transaction is rolled back, the index unchanged. */
#define FTS_ERR_NOSPACE "fts_no_space"

struct fts;

/* The searchable text of one message, decoded to UTF-8 (NULL: empty). */
struct fts_doc {
	const char *folder; /* as on disk; NULL or "" for the INBOX */
	const char *unique; /* the unique part of the file name */
	const char *from;
	const char *to;
	const char *cc;
	const char *bcc;
	const char *subject;
	const char *headers; /* every header field, for TEXT and HEADER */
	const char *body;    /* the text of the body parts */
};

/* What one search key looks in (IMAP SEARCH keys). */
enum fts_field {
	FTS_TEXT, /* headers and body */
	FTS_BODY,
	FTS_SUBJECT,
	FTS_FROM,
	FTS_TO,
	FTS_CC,
	FTS_BCC,
	FTS_HEADERS,
};

struct fts_key {
	enum fts_field field;
	const char *text; /* UTF-8, matched as a case-insensitive substring */
};

/*
 * Open (creating) the index of the mailbox whose directory is
 * mailbox_path.  busy_ms: how long a writer waits for another one.
 */
struct fts *fts_open(const char *mailbox_path, unsigned busy_ms,
		     struct error *err);
void fts_close(struct fts **fts);
/*
 * Empty the index of a mailbox in place (the store is short of space:
 * mail comes first; the catch-up refills it later).  Safe while other
 * processes have it open.  Returns the bytes given back (0: there was
 * no index), -1 with err.
 */
long long fts_reset(const char *mailbox_path, unsigned busy_ms,
		    struct error *err);

/* Add or replace one message's text. */
int fts_add(struct fts *fts, const struct fts_doc *doc, struct error *err);
/*
 * Add a message from its bytes (as stored, LF line ends) or from an open
 * file: headers decoded (RFC 2047), text parts extracted (lib/mail).
 */
int fts_add_message(struct fts *fts, const char *folder, const char *unique,
		    const char *data, size_t len, struct error *err);
int fts_add_file(struct fts *fts, const char *folder, const char *unique,
		 int fd, struct error *err);
/* Forget one message (expunged); no error when it was not indexed. */
int fts_remove(struct fts *fts, const char *folder, const char *unique,
	       struct error *err);
/* Forget a whole folder (deleted), or give its documents a new name. */
int fts_remove_folder(struct fts *fts, const char *folder, struct error *err);
int fts_rename_folder(struct fts *fts, const char *from, const char *to,
		      struct error *err);
/* Copy a message's document to another folder (IMAP COPY/MOVE). */
int fts_copy(struct fts *fts, const char *folder, const char *unique,
	     const char *to_folder, const char *to_unique, struct error *err);

/*
 * Batching: between fts_begin() and fts_commit() every change is one
 * transaction (a catch-up of thousands of messages, a COPY of many).
 * Inside it each change runs in a savepoint: one that fails is undone
 * alone (the batch goes on without it), except when the file system is
 * full (FTS_ERR_NOSPACE): SQLite may then have rolled back the whole
 * transaction, and fts_commit() fails with that code; the caller stops.
 * fts_rollback() abandons the transaction (no error: nothing is kept).
 */
int fts_begin(struct fts *fts, struct error *err);
int fts_commit(struct fts *fts, struct error *err);
void fts_rollback(struct fts *fts);

/*
 * The messages of a folder matching every key (AND).  *uniques_r is a
 * new array of malloc'd unique parts (free with fts_uniques_free); their
 * order is unspecified.
 */
int fts_search(struct fts *fts, const char *folder, const struct fts_key *keys,
	       size_t nkeys, struct array **uniques_r, struct error *err);
void fts_uniques_free(struct array **uniques);

/*
 * Catch-up.  Given the unique parts of every message a folder holds now
 * (any order), report those not indexed (*missing_r, a new array of
 * indexes into uniques, as size_t stored in void *) and remove documents
 * of messages that are gone.  Cheap when nothing changed: the number of
 * documents is compared first.
 */
int fts_missing(struct fts *fts, const char *folder,
		const char *const *uniques, size_t n, struct array **missing_r,
		struct error *err);

/*
 * Index the messages of one folder of mbox that the index lacks and
 * forget those gone (fts_missing over the folder's files).  For the
 * command line and for stores migrated in; the IMAP daemon has the
 * folder's file list in its index and calls fts_missing itself.
 */
struct store_mailbox;
int fts_catchup(struct fts *fts, struct store_mailbox *mbox,
		const char *folder, unsigned *added_r, struct error *err);

/* Number of documents of a folder (tests, status). */
long long fts_count(struct fts *fts, const char *folder, struct error *err);

#endif
