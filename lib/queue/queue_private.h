/*
 * queue_private - the queue's internals, shared by its .c files only.
 */
#ifndef POSTERN_QUEUE_PRIVATE_H
#define POSTERN_QUEUE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/hash.h"
#include "core/list.h"
#include "queue/queue.h"
#include "queue/queue_record.h"

/* One append-only segment file in incoming/: seg-<16 hex digits>. */
struct qseg {
	uint64_t seq;
	char *path;
	size_t live;	       /* index entries whose message record is here */
	struct list_node node; /* q->segs, oldest first */
};

/* One live message of the index. */
struct qent {
	struct queue_env env;
	/* Where the body is: a segment record, or data/ID (seg NULL). */
	struct qseg *seg;
	uint64_t body_off, body_len;
	/* The state directory holding the envelope file when seg is NULL. */
	enum queue_state disk_state;
	unsigned busy; /* moves/deletes in flight: refuse a second one */
	struct list_node node; /* q->msgs, arrival order */
};

struct qbatch;

struct queue {
	char *dir;
	struct ev *ev;
	struct worker_pool *pool;
	bool own_pool;
	struct queue_params params;
	int lock_fd;

	struct hash *index; /* id -> struct qent */
	struct list_node msgs;
	struct list_node segs;

	/* The segment being appended to, touched only by the worker that
	 * runs the batch in flight (there is at most one). */
	int seg_fd;
	uint64_t seg_seq;
	uint64_t seg_size;
	char *seg_path;
	bool seg_broken; /* a write or sync failed: start a new one */

	struct list_node pending; /* struct qreq, submission order */
	size_t npending;
	struct qbatch *inflight;
	bool kick_scheduled;
	uint64_t next_seq; /* for new segments */

	struct queue_stats stats;
};

/* queue_open.c */
struct qseg *queue_seg_get(struct queue *q, uint64_t seq);
char *queue_seg_path(const struct queue *q, uint64_t seq);
char *queue_state_path(const struct queue *q, enum queue_state s,
		       const char *id);
char *queue_data_path(const struct queue *q, const char *id);
void queue_ent_remove(struct queue *q, struct qent *e);
/* Segments (oldest first) that hold nothing live any more. */
struct array *queue_seg_reclaimable(struct queue *q);

/* queue_commit.c */
void queue_commit_shutdown(struct queue *q);

#endif
