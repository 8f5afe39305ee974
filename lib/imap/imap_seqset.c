/*
 * imap_seqset - see imap_seqset.h.
 */
#include "imap/imap_seqset.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/xmalloc.h"
#include "imap/imap_parser.h"

struct imap_seqset *imap_seqset_new(void)
{
	return xcalloc(1, sizeof(struct imap_seqset));
}

void imap_seqset_free(struct imap_seqset **setp)
{
	if (*setp == NULL)
		return;
	free((*setp)->ranges);
	XFREE(*setp);
}

void imap_seqset_add(struct imap_seqset *set, uint32_t first, uint32_t last)
{
	if (set->count == set->alloc) {
		set->alloc = set->alloc == 0 ? 4 : set->alloc * 2;
		set->ranges = xreallocarray(set->ranges, set->alloc,
					    sizeof(*set->ranges));
	}
	if (first == IMAP_SEQ_STAR || last == IMAP_SEQ_STAR)
		set->has_star = true;
	if (first != IMAP_SEQ_STAR && last != IMAP_SEQ_STAR && first > last) {
		uint32_t t = first;
		first = last;
		last = t;
	}
	set->ranges[set->count].first = first;
	set->ranges[set->count].last = last;
	set->count++;
	set->resolved = false;
}

/* One seq-number: nz-number or "*". */
static bool parse_num(const char **sp, uint32_t *n_r)
{
	const char *s = *sp;
	if (*s == '*') {
		*n_r = IMAP_SEQ_STAR;
		*sp = s + 1;
		return true;
	}
	const char *st = s;
	while (*s >= '0' && *s <= '9')
		s++;
	uint64_t n;
	if (s == st || *st == '0' ||
	    !imap_parse_number(st, (size_t)(s - st), UINT32_MAX, &n))
		return false;
	*n_r = (uint32_t)n;
	*sp = s;
	return true;
}

int imap_seqset_parse(const char *s, bool allow_saved,
		      struct imap_seqset **set_r, struct error *err)
{
	if (allow_saved && strcmp(s, "$") == 0) {
		struct imap_seqset *set = imap_seqset_new();
		set->saved = true;
		*set_r = set;
		return 0;
	}
	if (*s == '\0')
		return error_set(err, ERR_PERM, "Empty sequence set");
	struct imap_seqset *set = imap_seqset_new();
	for (;;) {
		uint32_t a, b;
		if (!parse_num(&s, &a))
			goto bad;
		b = a;
		if (*s == ':') {
			s++;
			if (!parse_num(&s, &b))
				goto bad;
		}
		imap_seqset_add(set, a, b);
		if (*s == '\0')
			break;
		if (*s != ',')
			goto bad;
		s++;
	}
	*set_r = set;
	return 0;
bad:
	imap_seqset_free(&set);
	return error_set(err, ERR_PERM, "Invalid sequence set");
}

static int cmp_range(const void *pa, const void *pb)
{
	const struct imap_seq_range *a = pa, *b = pb;
	if (a->first != b->first)
		return a->first < b->first ? -1 : 1;
	return a->last < b->last ? -1 : a->last > b->last;
}

static void normalize(struct imap_seqset *set)
{
	if (set->count > 1)
		qsort(set->ranges, set->count, sizeof(*set->ranges), cmp_range);
	size_t o = 0;
	for (size_t i = 0; i < set->count; i++) {
		struct imap_seq_range r = set->ranges[i];
		if (o > 0 && (uint64_t)r.first <=
				     (uint64_t)set->ranges[o - 1].last + 1) {
			if (r.last > set->ranges[o - 1].last)
				set->ranges[o - 1].last = r.last;
			continue;
		}
		set->ranges[o++] = r;
	}
	set->count = o;
	set->resolved = true;
	set->has_star = false;
}

void imap_seqset_resolve(struct imap_seqset *set, uint32_t max)
{
	size_t o = 0;
	for (size_t i = 0; i < set->count; i++) {
		struct imap_seq_range r = set->ranges[i];
		if (r.first == IMAP_SEQ_STAR)
			r.first = max;
		if (r.last == IMAP_SEQ_STAR)
			r.last = max;
		if (r.first > r.last) {
			uint32_t t = r.first;
			r.first = r.last;
			r.last = t;
		}
		if (r.first == 0)
			r.first = 1;
		if (r.last == 0)
			continue; /* "*" in an empty mailbox */
		set->ranges[o++] = r;
	}
	set->count = o;
	normalize(set);
}

struct imap_seqset *imap_seqset_from_array(const uint32_t *nums, size_t count)
{
	struct imap_seqset *set = imap_seqset_new();
	for (size_t i = 0; i < count; i++) {
		if (nums[i] == 0)
			continue;
		if (set->count > 0 &&
		    (uint64_t)set->ranges[set->count - 1].last + 1 == nums[i])
			set->ranges[set->count - 1].last = nums[i];
		else
			imap_seqset_add(set, nums[i], nums[i]);
	}
	normalize(set);
	return set;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n)
{
	size_t lo = 0, hi = set->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct imap_seq_range *r = &set->ranges[mid];
		if (n < r->first)
			hi = mid;
		else if (n > r->last)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

uint64_t imap_seqset_count(const struct imap_seqset *set)
{
	uint64_t n = 0;
	for (size_t i = 0; i < set->count; i++)
		n += (uint64_t)set->ranges[i].last - set->ranges[i].first + 1;
	return n;
}

uint32_t imap_seqset_min(const struct imap_seqset *set)
{
	return set->count > 0 ? set->ranges[0].first : 0;
}

uint32_t imap_seqset_max(const struct imap_seqset *set)
{
	return set->count > 0 ? set->ranges[set->count - 1].last : 0;
}

bool imap_seqset_within(const struct imap_seqset *set, uint32_t max)
{
	return imap_seqset_max(set) <= max;
}

void imap_seqset_iter_init(struct imap_seqset_iter *it,
			   const struct imap_seqset *set)
{
	it->set = set;
	it->range = 0;
	it->next = set->count > 0 ? set->ranges[0].first : 0;
}

bool imap_seqset_iter_next(struct imap_seqset_iter *it, uint32_t *n_r)
{
	while (it->range < it->set->count) {
		const struct imap_seq_range *r = &it->set->ranges[it->range];
		if (it->next <= r->last) {
			*n_r = (uint32_t)it->next++;
			return true;
		}
		it->range++;
		if (it->range < it->set->count)
			it->next = it->set->ranges[it->range].first;
	}
	return false;
}

static void write_range(struct buf *out, bool *first, uint32_t a, uint32_t b)
{
	if (!*first)
		buf_append_char(out, ',');
	*first = false;
	if (a == IMAP_SEQ_STAR)
		buf_append_char(out, '*');
	else
		buf_printf(out, "%u", a);
	if (a == b)
		return;
	if (b == IMAP_SEQ_STAR)
		buf_append_str(out, ":*");
	else
		buf_printf(out, ":%u", b);
}

void imap_seqset_write_array(struct buf *out, const uint32_t *nums,
			     size_t count)
{
	bool first = true;
	size_t i = 0;
	while (i < count) {
		size_t j = i;
		while (j + 1 < count && nums[j] != UINT32_MAX &&
		       nums[j + 1] == nums[j] + 1)
			j++;
		write_range(out, &first, nums[i], nums[j]);
		i = j + 1;
	}
}

void imap_seqset_write(struct buf *out, const struct imap_seqset *set)
{
	bool first = true;
	if (set->saved) {
		buf_append_char(out, '$');
		return;
	}
	for (size_t i = 0; i < set->count; i++)
		write_range(out, &first, set->ranges[i].first,
			    set->ranges[i].last);
}
