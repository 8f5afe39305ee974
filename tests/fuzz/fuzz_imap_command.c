/*
 * fuzz_imap_command - libFuzzer target for the IMAP syntax layer
 * (lib/imap): the input is a client byte stream played through
 * imap_parser as the session engine would (lines split at LF, literals
 * read after NEED_LITERAL, APPEND message literals streamed, too-big
 * ones refused).  Every parsed command then goes through the SEARCH
 * program parser and evaluator, the FETCH attribute parser, the
 * sequence set parser (with a write/parse round trip), and every string
 * argument through modified UTF-7 both ways.
 *
 * The first input byte picks small or default limits.  Besides memory
 * errors it checks: error texts are printable one-line ASCII, UTF-7
 * decoding is canonical (decode+encode gives the input back), UTF-8 ->
 * UTF-7 -> UTF-8 is the identity, and a resolved seqset written out
 * parses back to the same set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "imap/imap_fetch_items.h"
#include "imap/imap_parser.h"
#include "imap/imap_search.h"
#include "imap/imap_seqset.h"
#include "imap/imap_utf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s)
{
	if (s == NULL || *s == '\0')
		abort();
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			abort();
}

static void check_utf7(const char *s, size_t len)
{
	if (strlen(s) != len)
		return;
	struct buf *a = buf_new(), *b = buf_new();
	if (imap_utf7_to_utf8(s, a) == 0) {
		/* strict decoding: exactly one spelling per name */
		if (!imap_utf8_is_valid(buf_data(a), buf_len(a)) &&
		    buf_len(a) > 0)
			abort();
		if (imap_utf8_to_utf7(buf_data(a), b) != 0 ||
		    strcmp(buf_data(b), s) != 0)
			abort();
	}
	buf_reset(a);
	buf_reset(b);
	if (imap_utf8_to_utf7(s, a) == 0) {
		if (!imap_utf7_is_valid(buf_data(a)))
			abort();
		if (imap_utf7_to_utf8(buf_data(a), b) != 0 ||
		    strcmp(buf_data(b), s) != 0)
			abort();
	}
	(void)imap_mailbox_name_valid(s, '.', NULL);
	buf_free(&a);
	buf_free(&b);
}

static void check_seqset(const char *s)
{
	struct imap_seqset *set = NULL, *set2 = NULL;
	struct error err;
	if (imap_seqset_parse(s, true, &set, &err) < 0) {
		check_text(err.msg);
		return;
	}
	imap_seqset_resolve(set, 1000);
	struct buf *b = buf_new(), *b2 = buf_new();
	imap_seqset_write(b, set);
	if (set->count > 0) {
		if (imap_seqset_parse(buf_data(b), false, &set2, &err) < 0)
			abort();
		imap_seqset_resolve(set2, 1000);
		imap_seqset_write(b2, set2);
		if (strcmp(buf_data(b), buf_data(b2)) != 0)
			abort();
		if (!imap_seqset_contains(set, imap_seqset_min(set)) ||
		    !imap_seqset_contains(set, imap_seqset_max(set)))
			abort();
		/* bounded iteration */
		struct imap_seqset_iter it;
		uint32_t n, prev = 0;
		imap_seqset_iter_init(&it, set);
		for (int i = 0; i < 100 && imap_seqset_iter_next(&it, &n); i++) {
			if (n <= prev)
				abort();
			prev = n;
		}
		imap_seqset_free(&set2);
	}
	buf_free(&b);
	buf_free(&b2);
	imap_seqset_free(&set);
}

/* A fixed fake message for evaluating search programs. */
static uint32_t f_seq(void *m) { (void)m; return 5; }
static uint32_t f_uid(void *m) { (void)m; return 900; }
static unsigned f_flags(void *m) { (void)m; return IMAP_MSG_SEEN; }
static bool f_kw(void *m, const char *k) { (void)m; return k[0] == 'a'; }
static uint64_t f_size(void *m) { (void)m; return 1234; }
static time_t f_idate(void *m) { (void)m; return 1700000000; }
static uint64_t f_modseq(void *m) { (void)m; return 44; }
static int f_sent(void *m, time_t *t, int *tz, struct error *err)
{
	(void)m;
	(void)err;
	*t = 1700000000;
	*tz = -720;
	return 1;
}
static int f_header(void *m, const char *name, struct buf *out,
		    struct error *err)
{
	(void)m;
	(void)err;
	buf_append_str(out, name);
	buf_append_str(out, " value \xc3\x84");
	return 1;
}
static int f_body(void *m, const char *needle, bool whole, struct error *err)
{
	static const char body[] = "Body text \xd0\x9c\xd0\x98\xd0\xa0 end";
	(void)m;
	(void)whole;
	(void)err;
	return imap_search_text_match(body, sizeof(body) - 1, needle);
}

static const struct imap_search_msg_ops fops = {
	.seq = f_seq, .uid = f_uid, .flags = f_flags, .has_keyword = f_kw,
	.size = f_size, .internal_date = f_idate, .modseq = f_modseq,
	.sent_date = f_sent, .header = f_header, .body_contains = f_body,
};

static void walk_strings(const struct imap_arg *a, unsigned depth)
{
	for (; a->type != IMAP_ARG_EOL; a++) {
		if (a->type == IMAP_ARG_LIST) {
			if (a->list[a->list_count].type != IMAP_ARG_EOL)
				abort();
			walk_strings(a->list, depth + 1);
		} else if (a->type != IMAP_ARG_STREAM) {
			if (a->str == NULL || a->str[a->len] != '\0')
				abort();
			check_utf7(a->str, a->len);
			if (depth == 0 && a->type == IMAP_ARG_ATOM)
				check_seqset(a->str);
		}
	}
}

static void use_command(const struct imap_command *cmd)
{
	struct error err;
	struct imap_search_program *prog = NULL;
	struct imap_fetch_items *items = NULL;

	walk_strings(cmd->args, 0);
	error_clear(&err);
	if (imap_search_parse(cmd->args, 0, &prog, &err) == 0) {
		uint32_t saved[] = {3, 900};
		imap_search_resolve(prog, 10, 1000, saved, 2);
		for (int c = 0; c <= IMAP_SEARCH_COST_BODY; c++) {
			int r = imap_search_eval(prog, (enum imap_search_cost)c,
						 &fops, NULL, 1700003600, &err);
			if (r < 0 || r > 2)
				abort();
			if (c == IMAP_SEARCH_COST_BODY && r == IMAP_SEARCH_MAYBE)
				abort();
		}
		imap_search_program_free(&prog);
	} else {
		check_text(err.msg);
	}
	/* FETCH form: seqset then items; also try the whole list */
	for (size_t skip = 0; skip < 2 && skip <= cmd->arg_count; skip++) {
		error_clear(&err);
		if (imap_fetch_items_parse(cmd->args + skip, &items, &err) == 0) {
			for (size_t i = 0; i < items->count; i++)
				check_text(items->items[i].reply_name);
			imap_fetch_items_free(&items);
		} else {
			check_text(err.msg);
		}
	}
}

static void free_handle(void *h)
{
	free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct imap_parser_limits small = {.max_line = 200, .max_command = 400,
					   .max_literal = 64, .max_message = 300,
					   .max_depth = 4, .max_args = 50};
	struct imap_parser *p = imap_parser_new(data[0] & 1 ? &small : NULL);
	bool stream = (data[0] & 2) != 0;
	const char *s = (const char *)data + 1;
	size_t len = size - 1, pos = 0;

	while (pos < len) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - s) : len;
		size_t llen = end - pos;
		if (llen > 0 && s[pos + llen - 1] == '\r')
			llen--;
		enum imap_parse_result r = imap_parser_feed_line(p, s + pos, llen);
		pos = nl != NULL ? end + 1 : len;
		while (r == IMAP_PARSE_NEED_LITERAL) {
			struct imap_literal_info li;
			imap_parser_literal_info(p, &li);
			if (li.too_big) {
				r = imap_parser_literal_refuse(p);
				break;
			}
			size_t n = li.size < len - pos ? (size_t)li.size : len - pos;
			if (li.message && stream && !li.discard) {
				imap_parser_literal_stream(p, malloc(1), free_handle);
			} else {
				size_t got = imap_parser_feed_literal(p, s + pos, n);
				if (got != n)
					abort();
			}
			pos += n;
			nl = memchr(s + pos, '\n', len - pos);
			end = nl != NULL ? (size_t)(nl - s) : len;
			llen = end - pos;
			if (llen > 0 && s[pos + llen - 1] == '\r')
				llen--;
			r = imap_parser_feed_line(p, s + pos, llen);
			pos = nl != NULL ? end + 1 : len;
		}
		if (r == IMAP_PARSE_DONE) {
			struct imap_command *cmd = imap_parser_take(p);
			if (cmd == NULL)
				abort();
			use_command(cmd);
			imap_command_free(&cmd);
		} else if (r == IMAP_PARSE_ERROR) {
			check_text(imap_parser_error(p));
		}
	}
	imap_parser_free(&p);
	return 0;
}
