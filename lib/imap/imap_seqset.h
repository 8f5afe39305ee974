/*
 * imap_seqset - IMAP sequence sets (RFC 3501 sequence-set, RFC 9051
 * "$" of SEARCHRES, RFC 5182).
 *
 * A set is parsed as ranges whose ends may be "*"; call
 * imap_seqset_resolve() with the mailbox's largest sequence number or
 * UID to turn "*" into numbers, order the ranges and merge overlaps.
 * After that, contains/count/iterate work.  "n:*" with n above the max
 * becomes "max:n" as RFC 3501 6.4.8 says (so "UID FETCH 900:*" still
 * returns the last message).
 *
 * "$" (when allowed) is reported as set->saved; the caller replaces the
 * set by the saved result (imap_seqset_from_array).  "$" is only valid
 * alone, never inside a list ("1,$" is an error).
 *
 * Ownership: a set is owned by the caller (imap_seqset_free).
 * Threads: no shared state.
 */
#ifndef POSTERN_IMAP_SEQSET_H
#define POSTERN_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct error;

/* "*" before resolving. */
#define IMAP_SEQ_STAR 0u

struct imap_seq_range {
	uint32_t first, last; /* inclusive; IMAP_SEQ_STAR for "*" */
};

struct imap_seqset {
	struct imap_seq_range *ranges;
	size_t count;
	size_t alloc;
	bool saved;    /* "$" */
	bool has_star; /* some end was "*" (before resolving) */
	bool resolved; /* sorted and merged, no stars left */
};

/*
 * Parse s ("1:3,7,9:*").  allow_saved permits "$".  Errors (ERR_PERM):
 * empty string or part, 0, number above 4294967295, junk.
 */
int imap_seqset_parse(const char *s, bool allow_saved,
		      struct imap_seqset **set_r, struct error *err);
struct imap_seqset *imap_seqset_new(void);
void imap_seqset_free(struct imap_seqset **set);
/* Add a range (first/last in any order, may be IMAP_SEQ_STAR). */
void imap_seqset_add(struct imap_seqset *set, uint32_t first, uint32_t last);
/* A resolved set holding the given numbers (any order, duplicates ok). */
struct imap_seqset *imap_seqset_from_array(const uint32_t *nums,
					   size_t count);

/*
 * Replace "*" with max, sort and merge.  With max == 0 (empty mailbox)
 * a lone "*" disappears and "n:*" means "1:n" (matches nothing real).
 */
void imap_seqset_resolve(struct imap_seqset *set, uint32_t max);
/* Resolved sets only. */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n);
uint64_t imap_seqset_count(const struct imap_seqset *set);
/* Smallest / largest member; 0 when empty. */
uint32_t imap_seqset_min(const struct imap_seqset *set);
uint32_t imap_seqset_max(const struct imap_seqset *set);
/* true if every number of the resolved set is <= max. */
bool imap_seqset_within(const struct imap_seqset *set, uint32_t max);

/* Ascending iteration over a resolved set. */
struct imap_seqset_iter {
	const struct imap_seqset *set;
	size_t range;
	uint64_t next;
};
void imap_seqset_iter_init(struct imap_seqset_iter *it,
			   const struct imap_seqset *set);
bool imap_seqset_iter_next(struct imap_seqset_iter *it, uint32_t *n_r);

/*
 * Append a compact set string for nums in the given order: runs of
 * consecutive ascending numbers become "a:b" ("1:3,7,9:10").  Order is
 * kept (COPYUID pairs source and destination UIDs by position), so sort
 * first when order does not matter.  count == 0 appends nothing.
 * Numbers must be non-zero (0 would read as "*").
 */
void imap_seqset_write_array(struct buf *out, const uint32_t *nums,
			     size_t count);
/* Append the set's ranges ("*" written as "*"). */
void imap_seqset_write(struct buf *out, const struct imap_seqset *set);

#endif
