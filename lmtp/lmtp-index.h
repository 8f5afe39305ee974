/*
 * lmtp-index - full-text indexing of delivered messages, after the
 * reply (docs/fts.md "Keeping it up to date").
 *
 * lmtp_local_deliver() keeps an open file of each message it delivered
 * (when full_text_index is on and the mailbox is under its quota) in a
 * batch; once the session has written the transaction's replies, the
 * batch is handed here.  Messages gather for LMTP_INDEX_DELAY_MS, then
 * one worker job indexes them all, one transaction per mailbox
 * (fts_batch.h), behind the free-space guard.  So indexing can neither
 * delay nor fail a delivery: the message is fsync'd and acknowledged
 * before it is read for the index, and whatever is not indexed (a busy
 * or full disk, too many waiting, a stop) is left for the catch-up.
 *
 * At most one indexing job runs at a time, so deliveries keep the other
 * workers; at most LMTP_INDEX_MAX_PENDING messages wait (each holds an
 * fd), more are left to the catch-up.
 *
 * Threads: loop thread only (the job's work runs on a worker).
 */
#ifndef POSTERN_LMTP_INDEX_H
#define POSTERN_LMTP_INDEX_H

#include "fts/fts_batch.h"

#define LMTP_INDEX_DELAY_MS 300
#define LMTP_INDEX_MAX_PENDING 2000

struct ev;
struct worker_pool;
struct lmtp_indexer;

struct lmtp_indexer *lmtp_indexer_new(struct ev *ev, struct worker_pool *pool);
/* Take *batch (NULLed) to index with the guard min. */
void lmtp_indexer_add(struct lmtp_indexer *ix, struct fts_batch **batch,
		      const struct fts_min_free *min);
/* Stopping: index what waits now instead of after the delay. */
void lmtp_indexer_flush(struct lmtp_indexer *ix);
/* After worker_pool_free(): drops what still waits. */
void lmtp_indexer_free(struct lmtp_indexer **ix);

#endif
