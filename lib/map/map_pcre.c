/*
 * map_pcre.c - pcre:/path, Postfix pcre_table(5) on PCRE2.
 *
 *   /regex/flags result        $1..$n, ${n}, $(n) insert captures, $$ a $
 *   !/regex/flags result       matches when the regex does not
 *   if /regex/flags ... endif  (and `if !/regex/`) nest a block
 *
 * Any non-alphanumeric character may delimit the regex; a backslash
 * escapes it.  Matching is caseless by default; flag `i` toggles that,
 * m, s, x, A, E and U are PCRE's multiline, dotall, extended, anchored,
 * dollar-endonly and ungreedy.  First match wins.
 *
 * Keys come from the network, so every match runs with a match limit
 * (pcre_match_limit) and a depth limit: a rule that hits them is logged
 * and counts as not matching, as Postfix does, so a hostile key cannot
 * stall a process.  Patterns are compiled once at open (JIT when
 * available); match data is per lookup, so lookups are thread-safe.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "map/map-private.h"

#define PCRE_DEFAULT_MATCH_LIMIT 100000
#define PCRE_DEPTH_LIMIT 10000

struct pcre_rule {
	enum map_rule_kind kind;
	bool negate;
	pcre2_code *code;
	char *result;
	size_t endif;
	unsigned lineno;
};

struct map_pcre {
	struct map map;
	char *origin;
	struct array *rules;
	pcre2_match_context *mctx;
};

static void rule_free(void *p)
{
	struct pcre_rule *r = p;

	pcre2_code_free(r->code);
	free(r->result);
	free(r);
}

static void map_pcre_free(struct map *map)
{
	struct map_pcre *m = (struct map_pcre *)map;

	array_free_with(&m->rules, rule_free);
	pcre2_match_context_free(m->mctx);
	free(m->origin);
	free(m);
}

/* Read the group number of a $ reference at *p (just past the $). */
static bool parse_ref(const char **pp, unsigned *n_r)
{
	const char *p = *pp;
	char close = 0;
	unsigned n = 0;
	int digits = 0;

	if (*p == '{')
		close = '}';
	else if (*p == '(')
		close = ')';
	if (close != 0)
		p++;
	while (*p >= '0' && *p <= '9' && digits < 3) {
		n = n * 10 + (unsigned)(*p - '0');
		p++;
		digits++;
	}
	if (digits == 0)
		return false;
	if (close != 0) {
		if (*p != close)
			return false;
		p++;
	}
	*pp = p;
	*n_r = n;
	return true;
}

/* Check a result's $ references against the regex at load time. */
static int check_result(const char *origin, unsigned lineno, const char *result,
			uint32_t ncapture, bool negate, struct error *err)
{
	for (const char *p = result; *p != '\0'; p++) {
		unsigned n;

		if (*p != '$')
			continue;
		p++;
		if (*p == '$')
			continue;
		if (!parse_ref(&p, &n))
			return error_set(err, ERR_CONFIG,
					 "%s:%u: bad $ substitution in \"%s\"",
					 origin, lineno, result);
		if (negate)
			return error_set(err, ERR_CONFIG,
					 "%s:%u: $%u substitution with a "
					 "non-matching (!) pattern",
					 origin, lineno, n);
		if (n == 0 || n > ncapture)
			return error_set(err, ERR_CONFIG,
					 "%s:%u: out of range substitution "
					 "$%u (the pattern has %u groups)",
					 origin, lineno, n, (unsigned)ncapture);
		p--;
	}
	return 0;
}

static void expand_result(const char *result, const char *subject,
			  const PCRE2_SIZE *ov, int pairs, struct buf *out)
{
	buf_reset(out);
	for (const char *p = result; *p != '\0'; p++) {
		unsigned n;

		if (*p != '$') {
			buf_append_char(out, *p);
			continue;
		}
		p++;
		if (*p == '$') {
			buf_append_char(out, '$');
			continue;
		}
		if (!parse_ref(&p, &n)) /* checked at load: cannot happen */
			panic("pcre map: bad result \"%s\"", result);
		if ((int)n < pairs && ov[2 * n] != PCRE2_UNSET)
			buf_append(out, subject + ov[2 * n],
				   ov[2 * n + 1] - ov[2 * n]);
		p--;
	}
}

static int map_pcre_lookup(struct map *map, const char *key,
			   struct buf *value_r, struct error *err)
{
	struct map_pcre *m = (struct map_pcre *)map;
	size_t klen = strlen(key);

	for (size_t i = 0; i < array_len(m->rules); i++) {
		struct pcre_rule *r = array_get(m->rules, i);
		pcre2_match_data *md;
		bool hit;
		int rc;

		if (r->kind == MAP_RULE_ENDIF)
			continue;
		md = pcre2_match_data_create_from_pattern(r->code, NULL);
		rc = pcre2_match(r->code, (PCRE2_SPTR)key, klen, 0, 0, md,
				 m->mctx);
		if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
			PCRE2_UCHAR msg[128];

			pcre2_get_error_message(rc, msg, sizeof(msg));
			log_warn("%s:%u: matching error, rule skipped: %s",
				 m->origin, r->lineno, (char *)msg);
			pcre2_match_data_free(md);
			continue;
		}
		hit = (rc >= 0) != r->negate;
		if (r->kind == MAP_RULE_IF) {
			pcre2_match_data_free(md);
			if (!hit)
				i = r->endif;
			continue;
		}
		if (hit) {
			if (r->negate) /* no captures: checked at load */
				buf_set_str(value_r, r->result);
			else
				expand_result(
				    r->result, key,
				    pcre2_get_ovector_pointer(md),
				    rc == 0 ? (int)pcre2_get_ovector_count(md)
					    : rc,
				    value_r);
			pcre2_match_data_free(md);
			return 1;
		}
		pcre2_match_data_free(md);
	}
	return 0;
}

/*
 * Parse `[!]/regex/flags` at *pp into r->code; *pp is left after the
 * flags.
 */
static int parse_regex(const char *origin, unsigned lineno, char **pp,
		       struct pcre_rule *r, struct error *err)
{
	char *p = *pp, *start;
	char delim;
	uint32_t options = PCRE2_CASELESS;
	int errcode;
	PCRE2_SIZE erroff;

	if (*p == '!') {
		r->negate = true;
		p++;
	}
	delim = *p;
	if (delim == '\0' || delim == '\\' || delim == ' ' || delim == '\t' ||
	    (delim >= '0' && delim <= '9') || (delim >= 'a' && delim <= 'z') ||
	    (delim >= 'A' && delim <= 'Z'))
		return error_set(err, ERR_CONFIG,
				 "%s:%u: expected /regex/ at \"%s\"", origin,
				 lineno, p);
	start = ++p;
	while (*p != '\0' && *p != delim) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		p++;
	}
	if (*p == '\0')
		return error_set(err, ERR_CONFIG,
				 "%s:%u: no closing regex delimiter \"%c\"",
				 origin, lineno, delim);
	*p++ = '\0';
	for (; *p != '\0' && *p != ' ' && *p != '\t'; p++) {
		switch (*p) {
		case 'i':
			options ^= PCRE2_CASELESS;
			break;
		case 'm':
			options |= PCRE2_MULTILINE;
			break;
		case 's':
			options |= PCRE2_DOTALL;
			break;
		case 'x':
			options |= PCRE2_EXTENDED;
			break;
		case 'A':
			options |= PCRE2_ANCHORED;
			break;
		case 'E':
			options |= PCRE2_DOLLAR_ENDONLY;
			break;
		case 'U':
			options |= PCRE2_UNGREEDY;
			break;
		default:
			return error_set(err, ERR_CONFIG,
					 "%s:%u: unknown regex flag \"%c\"",
					 origin, lineno, *p);
		}
	}
	*pp = p;
	/* Delimiter escapes stay in the regex: PCRE reads \/ as /. */
	r->code = pcre2_compile((PCRE2_SPTR)start, PCRE2_ZERO_TERMINATED,
				options, &errcode, &erroff, NULL);
	if (r->code == NULL) {
		PCRE2_UCHAR msg[128];

		pcre2_get_error_message(errcode, msg, sizeof(msg));
		return error_set(err, ERR_CONFIG,
				 "%s:%u: error in regex at offset %zu: %s",
				 origin, lineno, (size_t)erroff, (char *)msg);
	}
	(void)pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);
	return 0;
}

static bool word_is(const char *p, const char *word)
{
	size_t n = strlen(word);

	return strncmp(p, word, n) == 0 &&
	       (p[n] == '\0' || p[n] == ' ' || p[n] == '\t');
}

static int parse_line(struct map_pcre *m, unsigned lineno, char *line,
		      struct array *open_ifs, struct error *err)
{
	struct pcre_rule *r;
	char *p = line;
	uint32_t ncapture = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (word_is(p, "endif")) {
		struct pcre_rule *open = array_pop(open_ifs);

		if (open == NULL)
			return error_set(err, ERR_CONFIG,
					 "%s:%u: endif without matching if",
					 m->origin, lineno);
		if (*str_trim(p + 5) != '\0')
			return error_set(err, ERR_CONFIG,
					 "%s:%u: text after endif", m->origin,
					 lineno);
		open->endif = array_len(m->rules);
		r = xcalloc(1, sizeof(*r));
		r->kind = MAP_RULE_ENDIF;
		r->lineno = lineno;
		array_push(m->rules, r);
		return 0;
	}
	r = xcalloc(1, sizeof(*r));
	r->lineno = lineno;
	if (word_is(p, "if")) {
		r->kind = MAP_RULE_IF;
		p += 2;
		while (*p == ' ' || *p == '\t')
			p++;
	}
	if (parse_regex(m->origin, lineno, &p, r, err) < 0) {
		rule_free(r);
		return -1;
	}
	p = str_trim(p);
	if (r->kind == MAP_RULE_IF) {
		if (*p != '\0') {
			rule_free(r);
			return error_set(err, ERR_CONFIG,
					 "%s:%u: text after if pattern",
					 m->origin, lineno);
		}
		array_push(m->rules, r);
		array_push(open_ifs, r);
		return 0;
	}
	if (*p == '\0') {
		rule_free(r);
		return error_set(err, ERR_CONFIG,
				 "%s:%u: no lookup result after the regex",
				 m->origin, lineno);
	}
	pcre2_pattern_info(r->code, PCRE2_INFO_CAPTURECOUNT, &ncapture);
	if (check_result(m->origin, lineno, p, ncapture, r->negate, err) < 0) {
		rule_free(r);
		return -1;
	}
	r->result = xstrdup(p);
	array_push(m->rules, r);
	return 0;
}

struct map *map_pcre_new(const char *origin, const char *text, size_t len,
			 const struct map_env *env, struct error *err)
{
	struct map_pcre *m = xcalloc(1, sizeof(*m));
	struct array *open_ifs = array_new();
	struct buf *line = buf_new();
	long long limit = PCRE_DEFAULT_MATCH_LIMIT;
	struct map_lines lr;
	unsigned lineno;
	int ret = 0;

	if (env != NULL && env->conf != NULL)
		limit = conf_int(env->conf, "pcre_match_limit");
	if (limit < 1)
		limit = 1;
	m->origin = xstrdup(origin);
	m->rules = array_new();
	m->mctx = pcre2_match_context_create(NULL);
	if (m->mctx == NULL)
		panic("pcre2_match_context_create: out of memory");
	pcre2_set_match_limit(
	    m->mctx, (uint32_t)(limit > UINT32_MAX ? UINT32_MAX : limit));
	pcre2_set_depth_limit(m->mctx, PCRE_DEPTH_LIMIT);
	m->map.lookup = map_pcre_lookup;
	m->map.free = map_pcre_free;
	map_lines_init(&lr, text, len);
	while (ret == 0 && map_lines_next(&lr, line, &lineno))
		ret = parse_line(m, lineno, buf_mut(line), open_ifs, err);
	if (ret == 0 && array_len(open_ifs) > 0) {
		struct pcre_rule *r = array_pop(open_ifs);

		ret = error_set(err, ERR_CONFIG,
				"%s:%u: if without matching endif", origin,
				r->lineno);
	}
	array_free(&open_ifs);
	buf_free(&line);
	if (ret < 0) {
		map_pcre_free(&m->map);
		return NULL;
	}
	return &m->map;
}
