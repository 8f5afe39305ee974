/*
 * imap_search_eval - see imap_search.h: dates, case-insensitive text
 * matching, the three-valued evaluator and the ESEARCH writer.
 */
#include "imap/imap_search.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/xmalloc.h"
#include "imap/imap_seqset.h"

/* --- dates --- */

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int32_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int32_t)(era * 146097 + doe - 719468);
}

static const char *const months[12] = {"jan", "feb", "mar", "apr",
				       "may", "jun", "jul", "aug",
				       "sep", "oct", "nov", "dec"};

bool imap_search_parse_date(const char *s, int32_t *day_r)
{
	int d = 0, m = -1, y = 0;
	size_t i = 0;
	if (s[i] < '0' || s[i] > '9')
		return false;
	d = s[i++] - '0';
	if (s[i] >= '0' && s[i] <= '9')
		d = d * 10 + (s[i++] - '0');
	if (s[i++] != '-')
		return false;
	for (int k = 0; k < 12; k++)
		if (strncasecmp(s + i, months[k], 3) == 0)
			m = k + 1;
	if (m < 0 || strlen(s + i) < 4 || s[i + 3] != '-')
		return false;
	i += 4;
	for (int k = 0; k < 4; k++, i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		y = y * 10 + (s[i] - '0');
	}
	if (s[i] != '\0')
		return false;
	static const int mdays[12] = {31, 29, 31, 30, 31, 30,
				      31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
		return false;
	*day_r = days_from_civil(y, m, d);
	return true;
}

static int32_t day_of_local(time_t t)
{
	struct tm tm;
	if (localtime_r(&t, &tm) == NULL)
		return 0;
	return days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static int32_t day_of_zone(time_t t, int tz_minutes)
{
	time_t lt = t + (time_t)tz_minutes * 60;
	struct tm tm;
	if (gmtime_r(&lt, &tm) == NULL)
		return 0;
	return days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* --- text matching --- */

static uint32_t fold_cp(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c < 0xc0)
		return c;
	if (c <= 0xde && c != 0xd7)
		return c + 32;
	if (c >= 0x100 && c <= 0x17f) {
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return (c & 1) ? c + 1 : c;
		if (c == 0x178)
			return 0xff;
		if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 ||
		    c == 0x17f)
			return c;
		return (c & 1) ? c : c + 1;
	}
	if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2)
		return c + 32;
	if (c == 0x3c2)
		return 0x3c3; /* final sigma */
	if (c == 0x386)
		return 0x3ac;
	if (c >= 0x388 && c <= 0x38a)
		return c + 37;
	if (c >= 0x410 && c <= 0x42f)
		return c + 32;
	if (c >= 0x400 && c <= 0x40f)
		return c + 80;
	return c;
}

/*
 * Fold s[0..len) into out (len bytes): every folding above maps a
 * 1-byte or 2-byte UTF-8 character to one of the same length, so the
 * output has the input's length; invalid bytes are copied as they are.
 */
static void fold_text(const char *s, size_t len, char *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		unsigned char c = u[i];
		if (c < 0x80) {
			out[i++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf && i + 1 < len &&
		    (u[i + 1] & 0xc0) == 0x80) {
			uint32_t cp = ((uint32_t)(c & 0x1f) << 6) | (u[i + 1] & 0x3f);
			cp = fold_cp(cp);
			if (cp >= 0x80 && cp < 0x800) {
				out[i] = (char)(0xc0 | (cp >> 6));
				out[i + 1] = (char)(0x80 | (cp & 0x3f));
			} else {
				out[i] = s[i];
				out[i + 1] = s[i + 1];
			}
			i += 2;
			continue;
		}
		out[i] = s[i];
		i++;
	}
}

bool imap_search_text_match(const char *haystack, size_t len,
			    const char *needle)
{
	size_t nlen = strlen(needle);
	if (nlen == 0)
		return true;
	if (nlen > len)
		return false;
	char *h = xmalloc(len), *n = xmalloc(nlen);
	fold_text(haystack, len, h);
	fold_text(needle, nlen, n);
	bool found = memmem(h, len, n, nlen) != NULL;
	free(h);
	free(n);
	return found;
}

/* --- evaluation --- */

struct ectx {
	enum imap_search_cost max_cost;
	const struct imap_search_msg_ops *ops;
	void *msg;
	time_t now;
	struct error *err;
	struct buf *tmp;
};

static int eval_key(struct ectx *e, const struct imap_search_key *k);

static int eval_leaf(struct ectx *e, const struct imap_search_key *k)
{
	const struct imap_search_msg_ops *ops = e->ops;
	switch (k->type) {
	case IMAP_SK_ALL:
		return IMAP_SEARCH_YES;
	case IMAP_SK_SEQSET:
		return imap_seqset_contains(k->seqset, ops->seq(e->msg));
	case IMAP_SK_UIDSET:
		return imap_seqset_contains(k->seqset, ops->uid(e->msg));
	case IMAP_SK_FLAG:
		return ((ops->flags(e->msg) & k->flag) != 0) == k->set;
	case IMAP_SK_KEYWORD:
		return ops->has_keyword(e->msg, k->str) == k->set;
	case IMAP_SK_BEFORE:
		return day_of_local(ops->internal_date(e->msg)) < k->day;
	case IMAP_SK_ON:
		return day_of_local(ops->internal_date(e->msg)) == k->day;
	case IMAP_SK_SINCE:
		return day_of_local(ops->internal_date(e->msg)) >= k->day;
	case IMAP_SK_OLDER:
		return ops->internal_date(e->msg) <= e->now - (time_t)k->number;
	case IMAP_SK_YOUNGER:
		return ops->internal_date(e->msg) > e->now - (time_t)k->number;
	case IMAP_SK_LARGER:
		return ops->size(e->msg) > k->number;
	case IMAP_SK_SMALLER:
		return ops->size(e->msg) < k->number;
	case IMAP_SK_MODSEQ:
		return (ops->modseq != NULL ? ops->modseq(e->msg) : 0) >= k->number;
	case IMAP_SK_EMAILID:
	case IMAP_SK_THREADID: {
		const char *(*fn)(void *) = k->type == IMAP_SK_EMAILID
						    ? ops->emailid : ops->threadid;
		const char *id = fn != NULL ? fn(e->msg) : NULL;
		return id != NULL && strcmp(id, k->str) == 0;
	}
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE: {
		time_t t;
		int tz, r;
		int32_t day;
		r = ops->sent_date(e->msg, &t, &tz, e->err);
		if (r < 0)
			return -1;
		day = r > 0 ? day_of_zone(t, tz)
			    : day_of_local(ops->internal_date(e->msg));
		if (k->type == IMAP_SK_SENTBEFORE)
			return day < k->day;
		if (k->type == IMAP_SK_SENTON)
			return day == k->day;
		return day >= k->day;
	}
	case IMAP_SK_HEADER: {
		buf_reset(e->tmp);
		int r = ops->header(e->msg, k->field, e->tmp, e->err);
		if (r <= 0)
			return r;
		return imap_search_text_match(buf_data(e->tmp), buf_len(e->tmp),
					      k->str);
	}
	case IMAP_SK_BODY:
	case IMAP_SK_TEXT: {
		int r = ops->body_contains(e->msg, k->str,
					   k->type == IMAP_SK_TEXT, e->err);
		return r < 0 ? -1 : r > 0;
	}
	default:
		return IMAP_SEARCH_NO;
	}
}

static int eval_key(struct ectx *e, const struct imap_search_key *k)
{
	int r;
	if (k->fts_uids != NULL) {
		if (!imap_seqset_contains(k->fts_uids, e->ops->uid(e->msg)))
			return IMAP_SEARCH_NO;
		if (k->fts_definite)
			return IMAP_SEARCH_YES;
	}
	switch (k->type) {
	case IMAP_SK_AND: {
		int res = IMAP_SEARCH_YES;
		for (const struct imap_search_key *ch = k->children; ch != NULL;
		     ch = ch->next) {
			r = eval_key(e, ch);
			if (r < 0 || r == IMAP_SEARCH_NO)
				return r;
			if (r == IMAP_SEARCH_MAYBE)
				res = IMAP_SEARCH_MAYBE;
		}
		return res;
	}
	case IMAP_SK_OR: {
		int res = IMAP_SEARCH_NO;
		for (const struct imap_search_key *ch = k->children; ch != NULL;
		     ch = ch->next) {
			r = eval_key(e, ch);
			if (r < 0 || r == IMAP_SEARCH_YES)
				return r;
			if (r == IMAP_SEARCH_MAYBE)
				res = IMAP_SEARCH_MAYBE;
		}
		return res;
	}
	case IMAP_SK_NOT:
		r = eval_key(e, k->children);
		if (r < 0 || r == IMAP_SEARCH_MAYBE)
			return r;
		return r == IMAP_SEARCH_YES ? IMAP_SEARCH_NO : IMAP_SEARCH_YES;
	default:
		if (k->cost > e->max_cost)
			return IMAP_SEARCH_MAYBE;
		r = eval_leaf(e, k);
		if (r < 0)
			return -1;
		return r ? IMAP_SEARCH_YES : IMAP_SEARCH_NO;
	}
}

int imap_search_eval(const struct imap_search_program *prog,
		     enum imap_search_cost max_cost,
		     const struct imap_search_msg_ops *ops, void *msg,
		     time_t now, struct error *err)
{
	struct ectx e = {.max_cost = max_cost, .ops = ops, .msg = msg,
			 .now = now, .err = err, .tmp = NULL};
	if (prog->cost >= IMAP_SEARCH_COST_HEADER &&
	    max_cost >= IMAP_SEARCH_COST_HEADER)
		e.tmp = buf_new();
	int r = eval_key(&e, prog->root);
	buf_free(&e.tmp);
	return r;
}

void imap_search_write_esearch(struct buf *out, unsigned return_opts,
			       const uint32_t *nums, size_t count,
			       uint64_t modseq)
{
	bool sp = false;
	if (count > 0 && (return_opts & IMAP_SEARCH_RETURN_MIN)) {
		buf_printf(out, "MIN %u", nums[0]);
		sp = true;
	}
	if (count > 0 && (return_opts & IMAP_SEARCH_RETURN_MAX)) {
		buf_printf(out, "%sMAX %u", sp ? " " : "", nums[count - 1]);
		sp = true;
	}
	if (return_opts & IMAP_SEARCH_RETURN_COUNT) {
		buf_printf(out, "%sCOUNT %zu", sp ? " " : "", count);
		sp = true;
	}
	if (count > 0 && (return_opts & IMAP_SEARCH_RETURN_ALL)) {
		buf_printf(out, "%sALL ", sp ? " " : "");
		imap_seqset_write_array(out, nums, count);
		sp = true;
	}
	if (count > 0 && modseq > 0)
		buf_printf(out, "%sMODSEQ %llu", sp ? " " : "",
			   (unsigned long long)modseq);
}
