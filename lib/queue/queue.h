/*
 * queue - the durable mail queue, with group commit.
 *
 * Postfix's states are kept: a message is INCOMING (accepted, in a
 * segment or its own file in incoming/), ACTIVE (taken by the queue
 * manager; not a durable state, as in Postfix a restart resumes it),
 * DEFERRED, HOLD or CORRUPT.  See docs/queue.md for the on-disk format
 * and the durability argument.
 *
 * Accepting a message:
 *     msg = queue_msg_new(q);           one per DATA/BDAT transaction
 *     env = queue_msg_env(msg);         fill sender, recipients, client...
 *     queue_msg_write(msg, data, len)   body chunks, no fsync (memory,
 *                                       spilled to a file past a limit)
 *     queue_msg_commit(msg, done, ctx)  async: done(ctx, id, err) runs on
 *                                       the loop thread once the message
 *                                       and its envelope are on disk and
 *                                       fsync'd; only then send 250.
 * Every commit pending at the same time shares ONE fdatasync: the
 * committer writes the whole batch into the current segment file and
 * syncs once (group commit), on a worker thread.
 *
 * Threads: every function here is called on the loop thread; the fsyncs
 * run on the worker pool.  One process owns a queue directory at a time
 * (an flock on queue/lock); QUEUE_READONLY opens (for `postern queue
 * list/show` while the MTA runs) take no lock and change nothing.
 *
 * Errors: ERR_TEMP for I/O trouble (disk full: the SMTP side answers
 * 452/451), ERR_PERM for an unknown id or a bad argument.  Strings in the
 * envelope are malloc'd and owned by the envelope.
 */
#ifndef POSTERN_QUEUE_H
#define POSTERN_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/error.h"

struct ev;
struct worker_pool;
struct conf;
struct queue;
struct queue_msg;

#define QUEUE_ID_MAX 32

enum queue_state {
	QUEUE_INCOMING = 0,
	QUEUE_ACTIVE,
	QUEUE_DEFERRED,
	QUEUE_HOLD,
	QUEUE_CORRUPT,
};

enum queue_rcpt_status {
	QUEUE_RCPT_PENDING = 0,
	QUEUE_RCPT_DELIVERED,
	QUEUE_RCPT_DEFERRED, /* temporary failure; see next_retry */
	QUEUE_RCPT_FAILED,   /* permanent failure; bounce owed */
};

/* DSN NOTIFY bits (RFC 3461); 0 means "not given" (the default). */
enum {
	QUEUE_NOTIFY_NEVER = 1 << 0,
	QUEUE_NOTIFY_SUCCESS = 1 << 1,
	QUEUE_NOTIFY_FAILURE = 1 << 2,
	QUEUE_NOTIFY_DELAY = 1 << 3,
};

enum queue_ret { QUEUE_RET_NONE = 0, QUEUE_RET_FULL, QUEUE_RET_HDRS };
enum queue_body_type {
	QUEUE_BODY_NONE = 0, /* not given */
	QUEUE_BODY_7BIT,
	QUEUE_BODY_8BITMIME,
	QUEUE_BODY_BINARYMIME,
};

struct queue_rcpt {
	char *addr;  /* the address to deliver to (after alias expansion) */
	char *orcpt; /* DSN ORCPT as given ("rfc822;a@b"), or NULL */
	unsigned notify;
	enum queue_rcpt_status status;
	int64_t next_retry; /* wall seconds; for QUEUE_RCPT_DEFERRED */
	char *reply;	    /* last reply ("451 4.3.0 ..."), or NULL */
};

struct queue_env {
	char id[QUEUE_ID_MAX]; /* set by queue_msg_new() */
	int64_t arrival;       /* wall milliseconds, set by queue_msg_new() */
	uint64_t size;	       /* body bytes; set at commit */
	char *sender;	       /* "" for the null sender <> */
	char *envid;	       /* DSN ENVID, or NULL */
	enum queue_ret ret;
	enum queue_body_type body;
	bool smtputf8;
	char *client_addr; /* for Received headers and logs; NULL allowed */
	char *client_name;
	char *helo;
	char *auth_name;
	char *tls; /* "TLSv1.3 with cipher ..." or NULL */
	struct queue_rcpt *rcpts;
	size_t nrcpts;
	/* Bumped on every rewrite of a message's own file; the highest wins
	 * if a crash leaves two copies (see docs/queue.md). */
	uint32_t gen;
	enum queue_state state; /* where the message is (read only) */
	/* Postfix's content_filter / FILTER action: "transport:nexthop"
	 * ("smtp:[127.0.0.1]:10024", "lmtp:unix:/path") that takes the
	 * whole message instead of normal routing; NULL: none. */
	char *filter;
	/* To be DKIM-signed like local mail although neither authenticated
	 * nor local: handed back by a trusted content filter on a listener
	 * with smtpd_dkim_sign_reinjected (docs/content-filter.md). */
	bool dkim_sign;
	/* Never DKIM-sign, though authenticated: the submitter's login does
	 * not own the From: header address (smtpd decides at the end of
	 * DATA, docs/dkim.md); wins over the rules above. */
	bool dkim_deny;
};

/* Envelope helpers: set a string field (copy; NULL clears). */
void queue_env_set(char **field, const char *value);
/* Append a recipient (status PENDING); returns its index. */
size_t queue_env_add_rcpt(struct queue_env *env, const char *addr,
			  const char *orcpt, unsigned notify);
void queue_env_clear(struct queue_env *env);
void queue_env_copy(struct queue_env *dst, const struct queue_env *src);
/* True if every recipient is DELIVERED or FAILED. */
bool queue_env_done(const struct queue_env *env);

struct queue_params {
	size_t commit_max_batch;     /* messages per fdatasync */
	int commit_max_delay_ms;     /* wait for company (0: next iteration) */
	uint64_t segment_size;	     /* start a new segment past this */
	size_t memory_limit;	     /* body bytes kept in memory per message */
	uint64_t large_message_size; /* own file + fsync past this */
	bool readonly;		     /* QUEUE_READONLY: tools */
};

/* The defaults of conf_params.def. */
void queue_params_default(struct queue_params *p);
/* From the /+ Queue +/ group of the configuration. */
void queue_params_from_conf(struct queue_params *p, const struct conf *conf);

/*
 * Open (creating the folders) the queue in DIR and recover it: every
 * complete record of every segment and every message file is read, torn
 * tails are ignored, unreadable records and files go to corrupt/ with a
 * log line.  `pool` runs the fsyncs (NULL: the queue starts its own
 * one-thread pool); `ev` may be NULL for a read-only open.
 */
struct queue *queue_open(const char *dir, struct ev *ev,
			 struct worker_pool *pool,
			 const struct queue_params *params, struct error *err);
/*
 * Close: waits for the commits in flight (their callbacks are NOT run
 * when the loop is gone; close after the loop drained).
 */
void queue_close(struct queue **q);

/* ---- Accepting messages. */

struct queue_msg *queue_msg_new(struct queue *q);
struct queue_env *queue_msg_env(struct queue_msg *msg);
const char *queue_msg_id(const struct queue_msg *msg);
/* Append body bytes; -1 with ERR_TEMP if the spill file cannot grow. */
int queue_msg_write(struct queue_msg *msg, const void *data, size_t len,
		    struct error *err);
uint64_t queue_msg_size(const struct queue_msg *msg);
/* Drop an uncommitted message (RSET, error, client gone). */
void queue_msg_abort(struct queue_msg **msg);

/*
 * err is NULL on success (the message is durable; send 250), else the
 * failure (answer 451/452).  id is borrowed for the callback's duration.
 */
typedef void queue_commit_fn(void *ctx, const char *id,
			     const struct error *err);
/* Takes ownership of msg (freed after done runs). */
void queue_msg_commit(struct queue_msg *msg, queue_commit_fn *done, void *ctx);

/* ---- The queue manager's side. */

/*
 * Call cb for every live message (startup resume, `postern queue list`),
 * in arrival order.  env is borrowed for the call.  cb returns 0 to go on,
 * non-zero to stop.
 */
typedef int queue_scan_fn(void *ctx, const struct queue_env *env);
void queue_scan(struct queue *q, queue_scan_fn *cb, void *ctx);
size_t queue_count(const struct queue *q);

/* Copy the envelope of ID into env (cleared first); 1 found, 0 not. */
int queue_env_get(struct queue *q, const char *id, struct queue_env *env);

/*
 * A body reader: the message bytes as committed, read with pread from
 * the segment or the message's own file, so reading never blocks the
 * committer.  queue_body_read returns bytes read, 0 at the end, -1 err.
 */
struct queue_body;
int queue_body_open(struct queue *q, const char *id, struct queue_body **b_r,
		    struct error *err);
ssize_t queue_body_read(struct queue_body *b, void *out, size_t len,
			struct error *err);
uint64_t queue_body_size(const struct queue_body *b);
void queue_body_close(struct queue_body **b);
/* Convenience: the whole body appended to out. */
int queue_body_get(struct queue *q, const char *id, struct buf *out,
		   struct error *err);

/* Mark ACTIVE (in memory only; a restart resumes it anyway). */
int queue_activate(struct queue *q, const char *id, struct error *err);

/*
 * Durable state changes.  They complete asynchronously like commits
 * (records in the segment log share the group fsync; moves write the
 * message's own file on the worker).  done may be NULL.  Recording a
 * status for a message that was deleted meanwhile is ERR_PERM; a change
 * while an earlier move or delete of it is still running is ERR_TEMP
 * with code "busy" (try again once that one is done).
 */
typedef void queue_done_fn(void *ctx, const struct error *err);
int queue_rcpt_set_status(struct queue *q, const char *id, size_t rcpt,
			  enum queue_rcpt_status status, int64_t next_retry,
			  const char *reply, queue_done_fn *done, void *ctx,
			  struct error *err);
/* Move to QUEUE_INCOMING, QUEUE_DEFERRED or QUEUE_HOLD. */
int queue_move(struct queue *q, const char *id, enum queue_state to,
	       queue_done_fn *done, void *ctx, struct error *err);
/* Forget a message (all recipients done, or `postern queue delete`). */
int queue_delete(struct queue *q, const char *id, queue_done_fn *done,
		 void *ctx, struct error *err);

/* "incoming", "active", "deferred", "hold", "corrupt". */
const char *queue_state_name(enum queue_state s);
const char *queue_rcpt_status_name(enum queue_rcpt_status s);

/* ---- Statistics and test hooks. */

struct queue_stats {
	uint64_t syncs;		 /* fdatasync/fsync calls by the committer */
	uint64_t batches;	 /* group commits */
	uint64_t batched_msgs;	 /* messages committed through batches */
	uint64_t max_batch;	 /* largest batch */
	uint64_t segments_live;	 /* segment files on disk */
	uint64_t segments_freed; /* segment files deleted */
	uint64_t corrupt;	 /* records/files sent to corrupt/ */
};
void queue_get_stats(const struct queue *q, struct queue_stats *st);
/* The file name of the segment being appended to (tests). */
const char *queue_current_segment(const struct queue *q);

#endif
