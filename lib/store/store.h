/*
 * store - the Maildir++ mail store shared by lmtpd, imapd and webmail.
 *
 * Layout (docs/store.md): a mailbox is ROOT/DOMAIN/LOCAL/ below
 * mail_directory; its INBOX is the tmp/ new/ cur/ at that root and each
 * folder is a ".Name" directory beside them (Maildir++), with "." as the
 * hierarchy separator and the name in modified UTF-7 as Dovecot and
 * Courier store it ("Lists.postern", "Entw&APw-rfe").  Directories are
 * created on first use with mode 0700, files with 0600.
 *
 * Delivery writes the message to tmp/ with the trace headers the caller
 * gives in front, converting CRLF line ends to LF (Maildir convention),
 * fsyncs it, renames it into new/ under a unique name carrying S= (the
 * file size) and W= (the RFC 822 size: each LF not after a CR counted as
 * CRLF), fsyncs new/ and appends the size to the maildirsize quota
 * cache.  On any error the tmp file is removed: a message is delivered
 * completely or not at all.  A process that delivers must ignore SIGXFSZ
 * so that a file size limit is an EFBIG error, not a crash.
 *
 * Ownership: struct store and struct store_mailbox are opaque, created by
 * *_new / *_open and released by *_free.  Strings passed in are copied or
 * only used during the call.
 *
 * Errors: -1 with err.  Invalid names (a crafted address or folder) are
 * ERR_PERM.  File system errors are ERR_TEMP, with code STORE_ERR_NOSPACE
 * for ENOSPC/EDQUOT/EFBIG (LMTP 452 4.3.1).  A delivery that would exceed
 * the quota fails with code STORE_ERR_QUOTA and kind ERR_TEMP (452 4.2.2)
 * or ERR_PERM (552 5.2.2) when the store was created with
 * quota_permanent set.  Nothing here logs; callers log with their
 * queue id.
 */
#ifndef POSTERN_STORE_H
#define POSTERN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/array.h"
#include "core/error.h"

/* err->code values (static strings: compare with strcmp or ==). */
#define STORE_ERR_QUOTA "quota_exceeded"
#define STORE_ERR_NOSPACE "no_space"
#define STORE_ERR_INVALID "invalid_name"

/* A Maildir file name fits one path component. */
#define STORE_NAME_MAX 256
/*
 * The unique part store_name_unique() makes (time, microseconds, pid,
 * counter, and a host of at most 64 bytes) fits this, so a base name
 * "unique,S=n,W=n" always fits STORE_NAME_MAX, and the compiler can see it.
 */
#define STORE_UNIQUE_MAX 128

struct store;
struct store_mailbox;

struct store_settings {
	const char *root;     /* mail_directory */
	const char *hostname; /* for unique names; NULL: gethostname() */
	bool quota_permanent; /* quota_exceeded_permanent */
};

struct store *store_new(const struct store_settings *set);
void store_free(struct store **store);

/*
 * Path safety.  A name is usable as one path component below the root
 * when it cannot escape it or hide: not empty, not "." or "..", no
 * leading dot, no "/", NUL or control characters, valid UTF-8 (local
 * part) or lower-case LDH labels (domain), no ASCII upper case (names
 * come normalised from SQL; two spellings must not be two mailboxes).
 */
bool store_domain_valid(const char *domain);
bool store_local_valid(const char *local);
/*
 * A folder name as stored on disk without its leading dot: Maildir++
 * hierarchy "A.B" of non-empty parts, printable ASCII (modified UTF-7,
 * "&...-" well formed), no "/", at most 200 bytes.  NULL, "" and "INBOX"
 * (any case) mean the INBOX itself.
 */
bool store_folder_valid(const char *folder);
bool store_folder_is_inbox(const char *folder);

/*
 * A handle on ROOT/DOMAIN/LOCAL/; checks the names but touches no file.
 * NULL with ERR_PERM code STORE_ERR_INVALID for an unsafe name.
 */
struct store_mailbox *store_mailbox_open(struct store *store,
					 const char *domain, const char *local,
					 struct error *err);
void store_mailbox_free(struct store_mailbox **mbox);
/* ROOT/DOMAIN/LOCAL (no trailing slash); borrowed, valid with mbox. */
const char *store_mailbox_path(const struct store_mailbox *mbox);
/*
 * The directory of a folder (the mailbox path for the INBOX), malloc'd;
 * NULL with ERR_PERM for an invalid folder name.
 */
char *store_folder_path(const struct store_mailbox *mbox, const char *folder,
			struct error *err);
/*
 * Create the INBOX (and the folder, when not the INBOX) with tmp/ new/
 * cur/ and the folder's maildirfolder marker; fsyncs the parents of what
 * it created.  Existing directories are fine.
 */
int store_folder_create(struct store_mailbox *mbox, const char *folder,
			struct error *err);
/*
 * Clear the mailbox's tmp/ of what crashed processes left (the Maildir
 * convention; Dovecot does it when it opens a mailbox): files neither
 * read nor written for 36 hours (a delivery that died), and the
 * ".folder.PID.N" directories of a store_folder_create that died between
 * building a folder there and renaming it into place, once untouched for
 * an hour (one being built now was touched a moment ago).  Such a
 * directory is removed only while it holds nothing but the empty cur/
 * new/ tmp/ and maildirfolder the creation makes; one holding anything
 * else is left alone and its path (malloc'd) pushed to `kept` (may be
 * NULL) for the caller to warn about.  Only those names are touched.
 * Returns how many entries were removed, 0 when there is no tmp/ yet,
 * -1 with err when tmp/ cannot be read.
 */
int store_tmp_cleanup(struct store_mailbox *mbox, struct array *kept,
		      struct error *err);

/* Limits from SQL (mailboxes.quota_bytes); 0 means unlimited. */
struct store_quota {
	uint64_t bytes;
	uint64_t messages;
};

struct store_usage {
	uint64_t bytes; /* sum of file sizes (S=) */
	uint64_t messages;
};

/*
 * The message to deliver, read once in chunks: read() fills up to `size`
 * bytes and returns how many, 0 at the end, -1 with err on failure.
 * size_hint (0: unknown) is used for the quota check before writing.
 */
struct store_input {
	ssize_t (*read)(void *ctx, void *data, size_t size, struct error *err);
	void *ctx;
	uint64_t size_hint;
};

/* An input reading fd from its current offset; size_hint from fstat(). */
void store_input_fd(struct store_input *in, int *fd);
/* An input reading `len` bytes at `data`; `pos` keeps the offset. */
struct store_input_mem {
	const char *data;
	size_t len;
	size_t pos;
};
void store_input_mem(struct store_input *in, struct store_input_mem *mem,
		     const void *data, size_t len);

/* One recipient of a delivery. */
struct store_delivery {
	struct store_mailbox *mbox;
	const char *folder;	  /* NULL: INBOX */
	const char *return_path;  /* the address x of "Return-Path: <x>"; NULL: none */
	const char *delivered_to; /* the address x of "Delivered-To: x"; NULL: none */
	/* More header lines put after those two (a Received: line), each
	 * ending in LF or CRLF; NULL: none. */
	const char *extra_headers;
	struct store_quota quota;

	/* Filled on success: the file name in new/ and its sizes. */
	char name[STORE_NAME_MAX];
	uint64_t size;	/* S=: bytes in the file */
	uint64_t vsize; /* W=: RFC822.SIZE, line ends counted as CRLF */
};

/*
 * Deliver the input to one recipient.  0 once the file is durable in
 * new/; -1 with err and nothing left behind otherwise.
 */
int store_deliver(struct store_delivery *d, struct store_input *in,
		  struct error *err);
/*
 * Deliver one message to n recipients, reading the input once: the
 * first file written is the source of the body for the others (one file
 * per recipient, since Delivered-To differs).  errs[i] tells the outcome
 * of ds[i] (kind ERR_NONE when delivered).  Returns the number of
 * recipients that failed.
 */
size_t store_deliver_many(struct store_delivery *ds, size_t n,
			  struct store_input *in, struct error *errs);

/*
 * Quota cache (Maildir++ maildirsize at the mailbox root).  store_usage
 * reads it, recalculating it from the file names when it is missing,
 * unreadable, over 5120 bytes, or written for another quota (`quota`
 * may be NULL when the caller does not know it: then any quota line is
 * accepted).  A mailbox that does not exist yet has zero usage.
 */
int store_usage(struct store_mailbox *mbox, const struct store_quota *quota,
		struct store_usage *usage_r, struct error *err);
/*
 * Is the mailbox full for a message of size_hint bytes (0: unknown)?
 * 1 when its usage is at or over quota_bytes or the message would take it
 * past, 0 when there is room (always for quota_bytes 0: unlimited), -1
 * with err when the usage cannot be read.  The one rule lmtpd and smtpd
 * both apply before accepting a recipient.
 */
int store_over_quota(struct store_mailbox *mbox, uint64_t quota_bytes,
		     uint64_t size_hint, struct error *err);
/* Force a recalculation (admin "recalc", tests). */
int store_usage_recalc(struct store_mailbox *mbox,
		       const struct store_quota *quota,
		       struct store_usage *usage_r, struct error *err);
/*
 * Record a change (negative on expunge) with one O_APPEND write, as the
 * Maildir++ spec says; no-op when the cache does not exist yet.
 */
int store_usage_add(struct store_mailbox *mbox, int64_t bytes, int64_t count,
		    struct error *err);

/*
 * Read side (IMAP builds its index on it).  A message of a folder is a
 * file in new/ (never seen by a client) or cur/.
 */
struct store_entry {
	bool in_new;
	char *name; /* owned */
};
/*
 * The messages of a folder (new/ and cur/, dot files skipped), sorted by
 * name, which is delivery order.  *entries_r is a new array of struct
 * store_entry *; free it with store_entries_free().  A folder that does
 * not exist yet is empty.
 */
int store_list(struct store_mailbox *mbox, const char *folder,
	       struct array **entries_r, struct error *err);
void store_entries_free(struct array **entries);
/*
 * Give a message new flags: rename new/NAME or cur/NAME to
 * cur/BASE:2,FLAGS (see store_name.h for the flag bits).  Returns 1 and
 * the new name in name_r (STORE_NAME_MAX bytes, may be NULL), 0 when the
 * file is gone (another session moved or expunged it), -1 with err.
 */
int store_set_flags(struct store_mailbox *mbox, const char *folder, bool in_new,
		    const char *name, uint32_t flags, uint32_t keywords,
		    char *name_r, struct error *err);

#endif
