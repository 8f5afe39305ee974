/*
 * lmtp-index - indexing delivered messages after the reply
 * (lmtp-index.h).
 */
#include <stdlib.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/worker.h"
#include "lmtp-index.h"

/* How long a writer waits for another one (imapd's catch-up). */
#define INDEX_BUSY_MS 1000

struct index_job {
	struct lmtp_indexer *ix;
	struct fts_batch *batch;
	struct fts_min_free min;
	struct fts_batch_stats stats;
};

struct lmtp_indexer {
	struct ev *ev;
	struct worker_pool *pool;
	struct fts_batch *pending;
	struct fts_min_free min; /* of the newest messages */
	struct index_job *job;	 /* running, or NULL */
	unsigned dropped;	 /* over LMTP_INDEX_MAX_PENDING */
	bool armed;		 /* the timer is pending */
};

static void index_timer(struct ev *ev, struct lmtp_indexer *ix);

struct lmtp_indexer *lmtp_indexer_new(struct ev *ev, struct worker_pool *pool)
{
	struct lmtp_indexer *ix = xcalloc(1, sizeof(*ix));
	ix->ev = ev;
	ix->pool = pool;
	return ix;
}

static void index_work(void *ctx)
{
	struct index_job *job = ctx;
	fts_batch_run(job->batch, &job->min, INDEX_BUSY_MS, &job->stats);
}

static void index_done(void *ctx)
{
	struct index_job *job = ctx;
	struct lmtp_indexer *ix = job->ix;
	fts_batch_free(&job->batch);
	free(job);
	ix->job = NULL;
	if (ix->pending != NULL && !ix->armed) {
		ix->armed = true;
		EV_TIMER_ADD(ix->ev, LMTP_INDEX_DELAY_MS, index_timer, ix);
	}
}

static void start_job(struct lmtp_indexer *ix)
{
	if (ix->job != NULL || ix->pending == NULL)
		return;
	struct index_job *job = xcalloc(1, sizeof(*job));
	job->ix = ix;
	job->batch = ix->pending;
	job->min = ix->min;
	ix->pending = NULL;
	if (ix->dropped > 0) {
		log_warn("full-text index: %u delivered message(s) left for "
			 "catch-up (indexing behind)",
			 ix->dropped);
		ix->dropped = 0;
	}
	ix->job = job;
	worker_submit(ix->pool, index_work, index_done, job);
}

static void index_timer(struct ev *ev, struct lmtp_indexer *ix)
{
	(void)ev;
	ix->armed = false;
	start_job(ix); /* when one runs, its end re-arms the timer */
}

void lmtp_indexer_add(struct lmtp_indexer *ix, struct fts_batch **batch,
		      const struct fts_min_free *min)
{
	if (*batch == NULL)
		return;
	size_t n = fts_batch_len(*batch);
	size_t have = ix->pending != NULL ? fts_batch_len(ix->pending) : 0;
	if (n == 0 || have + n > LMTP_INDEX_MAX_PENDING) {
		ix->dropped += (unsigned)n;
		fts_batch_free(batch);
		return;
	}
	if (ix->pending == NULL)
		ix->pending = fts_batch_new();
	fts_batch_merge(ix->pending, batch);
	ix->min = *min;
	if (ix->job == NULL && !ix->armed) {
		ix->armed = true;
		EV_TIMER_ADD(ix->ev, LMTP_INDEX_DELAY_MS, index_timer, ix);
	}
}

void lmtp_indexer_flush(struct lmtp_indexer *ix)
{
	if (ix == NULL)
		return;
	EV_TIMER_DEL(ix->ev, index_timer, ix);
	ix->armed = false;
	start_job(ix);
}

void lmtp_indexer_free(struct lmtp_indexer **ixp)
{
	struct lmtp_indexer *ix = *ixp;
	if (ix == NULL)
		return;
	EV_TIMER_DEL(ix->ev, index_timer, ix);
	if (ix->job != NULL) {
		/* the pool is gone: its done() will not run */
		fts_batch_free(&ix->job->batch);
		free(ix->job);
	}
	fts_batch_free(&ix->pending);
	free(ix);
	*ixp = NULL;
}
