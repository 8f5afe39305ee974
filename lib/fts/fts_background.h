/*
 * fts_background - the catch-up of a process, off the command path.
 *
 * When SEARCH finds a folder's index far behind (a store migrated in,
 * messages delivered while the disk was low), it indexes a bounded
 * number of messages inline, answers the rest by reading them, and
 * queues the folder here: one thread per process indexes the queued
 * folders one at a time, in transactions of at most FTS_BG_BATCH
 * messages, sleeping between them (so SEARCH, lmtpd's deliveries and
 * the IMAP workers get the index lock and the CPU in between), behind
 * the free-space guard (fts_batch.h).
 *
 * The thread starts at the first request and is joined at exit
 * (atexit) or by fts_background_stop(); queued work that is dropped is
 * found again by the next SEARCH (fts_missing).
 *
 * Threads: every function may be called from any thread.
 */
#ifndef POSTERN_FTS_BACKGROUND_H
#define POSTERN_FTS_BACKGROUND_H

#include <stdbool.h>

#include "fts/fts_batch.h"

/* Messages per background transaction. */
#define FTS_BG_BATCH 100

/*
 * Queue the catch-up of folder (NULL: the INBOX) of the mailbox at
 * mailbox_path, whose Maildir (new/, cur/) is folder_dir.  false when
 * that folder is queued or being indexed already.
 */
bool fts_background_catchup(const char *mailbox_path, const char *folder,
			    const char *folder_dir,
			    const struct fts_min_free *min);
/* Is that folder queued or being indexed? */
bool fts_background_pending(const char *mailbox_path, const char *folder);
/* Wait until nothing is queued or running (tests, the CLI); false on
 * timeout. */
bool fts_background_wait_idle(unsigned timeout_ms);
/* Stop and join the thread; queued work is dropped. */
void fts_background_stop(void);

#endif
