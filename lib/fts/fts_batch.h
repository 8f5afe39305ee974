/*
 * fts_batch - indexing delivered messages in batches, behind a
 * free-space guard (docs/fts.md "Keeping it up to date").
 *
 * The guard: the index is a cache and the store's disk belongs to mail
 * first.  fts_space_check() says whether a file system has more free
 * space than $full_text_min_free (a percentage of its size, "5%", or an
 * amount, "200M"); every writer of the index that is not answering a
 * user (lmtpd at delivery, the background catch-up, imapd's inline
 * catch-up) checks it first and leaves the messages for a later
 * catch-up when it is low.
 *
 * A batch collects messages (an open file each) across mailboxes and
 * indexes them with one transaction per mailbox: FTS5 writes a new
 * segment per transaction, so one per message costs several times the
 * time and the space (measured in docs/fts.md).  A message that fails
 * is skipped alone (a savepoint, fts.h); a full file system rolls the
 * mailbox's transaction back and skips the rest of the batch.  When
 * the guard says no, the mailbox's index is emptied (fts_reset): the
 * index is a cache that must not keep the space mail needs.
 *
 * Ownership: the batch owns the fds given to it and closes them.
 * Threads: a batch is used by one thread at a time (lmtpd fills it on
 * the loop and runs it on a worker).  Errors: fts_batch_run() never
 * fails; problems are logged and counted, the messages left for the
 * catch-up.
 */
#ifndef POSTERN_FTS_BATCH_H
#define POSTERN_FTS_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* $full_text_min_free: keep at least this much free (0/0: no guard). */
struct fts_min_free {
	unsigned percent; /* of the file system's size */
	uint64_t bytes;
};

/* "5%", "200M", "1G", "65536", "0"; -1 with ERR_CONFIG otherwise. */
int fts_min_free_parse(const char *text, struct fts_min_free *min_r,
		       struct error *err);
/*
 * 1 when the file system holding path has more than min free (for
 * unprivileged users: statvfs f_bavail), 0 when it has not (err says
 * how much is free, ERR_TEMP code FTS_ERR_NOSPACE), -1 when it cannot
 * be asked.
 */
int fts_space_check(const char *path, const struct fts_min_free *min,
		    struct error *err);

struct fts_batch;

struct fts_batch_stats {
	unsigned indexed;   /* documents committed */
	unsigned low_space; /* left: the guard said no, or a full disk */
	unsigned failed;    /* left: another error */
	unsigned txns;	    /* transactions committed */
	unsigned resets;    /* indexes emptied for lack of space */
};

struct fts_batch *fts_batch_new(void);
/* fd (taken) is read from offset 0; folder NULL for the INBOX. */
void fts_batch_add(struct fts_batch *b, const char *mailbox_path,
		   const char *folder, const char *unique, int fd);
/*
 * The store of that mailbox is short of space (a delivery met ENOSPC, or
 * the guard said no): fts_batch_run() empties its index (fts_reset) and
 * indexes none of its messages, so the index gives its space back to
 * mail.
 */
void fts_batch_add_reset(struct fts_batch *b, const char *mailbox_path);
size_t fts_batch_len(const struct fts_batch *b);
/* Move every message of *src to the end of dst; frees *src. */
void fts_batch_merge(struct fts_batch *dst, struct fts_batch **src);
/* Index everything (blocking: run it on a worker); adds to stats. */
void fts_batch_run(struct fts_batch *b, const struct fts_min_free *min,
		   unsigned busy_ms, struct fts_batch_stats *stats);
void fts_batch_free(struct fts_batch **b);

#endif
