/*
 * map_cidr.c - cidr:/path, Postfix cidr_table(5).
 *
 *   network/prefix   result     (or a bare address: /32, /128)
 *   !network/prefix  result     matches addresses outside the network
 *   if network/prefix ... endif nests a block, `if !...` too
 *
 * IPv4 and IPv6 (optionally in [brackets]); the first matching rule
 * wins.  A network with host bits set is an error, as in Postfix, since
 * it almost always means a typo.  Keys that are not addresses are not
 * found.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "map/map-private.h"

struct cidr_rule {
	enum map_rule_kind kind;
	bool negate;
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned plen;
	char *result; /* MATCH rules */
	size_t endif; /* IF rules: index of the matching ENDIF */
	unsigned lineno;
};

struct map_cidr {
	struct map map;
	struct array *rules;
};

static void rule_free(void *p)
{
	struct cidr_rule *r = p;

	free(r->result);
	free(r);
}

static bool cidr_match(const struct cidr_rule *r, int family,
		       const unsigned char *addr)
{
	unsigned bytes = r->plen / 8, bits = r->plen % 8;

	if (family != r->family)
		return false;
	if (memcmp(addr, r->addr, bytes) != 0)
		return false;
	if (bits != 0) {
		unsigned char mask = (unsigned char)(0xff << (8 - bits));

		if ((addr[bytes] & mask) != r->addr[bytes])
			return false;
	}
	return true;
}

/* Parse "1.2.3.4", "::1", "[::1]" into family and bytes. */
static bool parse_addr(const char *s, int *family_r, unsigned char *addr)
{
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(s);

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		if (len - 2 >= sizeof(tmp))
			return false;
		memcpy(tmp, s + 1, len - 2);
		tmp[len - 2] = '\0';
		s = tmp;
	}
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family_r = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family_r = AF_INET6;
		return true;
	}
	return false;
}

static int map_cidr_lookup(struct map *map, const char *key,
			   struct buf *value_r, struct error *err)
{
	struct array *rules = ((struct map_cidr *)map)->rules;
	unsigned char addr[16];
	int family;

	if (!parse_addr(key, &family, addr))
		return 0;
	for (size_t i = 0; i < array_len(rules); i++) {
		const struct cidr_rule *r = array_get(rules, i);
		bool hit;

		if (r->kind == MAP_RULE_ENDIF)
			continue;
		hit = cidr_match(r, family, addr) != r->negate;
		if (r->kind == MAP_RULE_IF) {
			if (!hit)
				i = r->endif;
			continue;
		}
		if (hit) {
			buf_set_str(value_r, r->result);
			return 1;
		}
	}
	return 0;
}

static void map_cidr_free(struct map *map)
{
	array_free_with(&((struct map_cidr *)map)->rules, rule_free);
	free(map);
}

/* Parse `[!]address[/prefix]` into r. */
static int parse_pattern(const char *origin, unsigned lineno, char *pat,
			 struct cidr_rule *r, struct error *err)
{
	char *slash;
	unsigned max;
	unsigned char masked[16];
	char shown[INET6_ADDRSTRLEN];

	if (*pat == '!') {
		r->negate = true;
		pat++;
	}
	slash = strchr(pat, '/');
	if (slash != NULL)
		*slash = '\0';
	if (!parse_addr(pat, &r->family, r->addr))
		return error_set(err, ERR_CONFIG,
				 "%s:%u: bad address pattern: \"%s\"", origin,
				 lineno, pat);
	max = r->family == AF_INET ? 32 : 128;
	r->plen = max;
	if (slash != NULL) {
		unsigned long long v;

		if (!str_to_u64(slash + 1, &v) || v > max)
			return error_set(err, ERR_CONFIG,
					 "%s:%u: bad network prefix: \"/%s\"",
					 origin, lineno, slash + 1);
		r->plen = (unsigned)v;
	}
	memset(masked, 0, sizeof(masked));
	memcpy(masked, r->addr, r->plen / 8);
	if (r->plen % 8 != 0)
		masked[r->plen / 8] =
		    (unsigned char)(r->addr[r->plen / 8] &
				    (0xff << (8 - r->plen % 8)));
	if (memcmp(masked, r->addr, max / 8) != 0) {
		inet_ntop(r->family, masked, shown, sizeof(shown));
		return error_set(err, ERR_CONFIG,
				 "%s:%u: non-null host address bits in "
				 "\"%s/%u\", perhaps you should use "
				 "\"%s/%u\" instead",
				 origin, lineno, pat, r->plen, shown, r->plen);
	}
	return 0;
}

static bool next_word(char **p, char **word_r)
{
	char *s = *p;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return false;
	*word_r = s;
	while (*s != '\0' && *s != ' ' && *s != '\t')
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*p = s;
	return true;
}

static int parse_line(const char *origin, unsigned lineno, char *line,
		      struct array *rules, struct array *open_ifs,
		      struct error *err)
{
	struct cidr_rule *r = xcalloc(1, sizeof(*r));
	char *p = line, *word = line;

	r->lineno = lineno;
	next_word(&p, &word); /* the line is not blank */
	if (strcmp(word, "endif") == 0) {
		struct cidr_rule *open = array_pop(open_ifs);

		free(r);
		if (open == NULL)
			return error_set(err, ERR_CONFIG,
					 "%s:%u: endif without matching if",
					 origin, lineno);
		if (*str_trim(p) != '\0')
			return error_set(err, ERR_CONFIG,
					 "%s:%u: text after endif", origin,
					 lineno);
		open->endif = array_len(rules);
		r = xcalloc(1, sizeof(*r));
		r->kind = MAP_RULE_ENDIF;
		array_push(rules, r);
		return 0;
	}
	if (strcmp(word, "if") == 0) {
		r->kind = MAP_RULE_IF;
		if (!next_word(&p, &word)) {
			free(r);
			return error_set(err, ERR_CONFIG,
					 "%s:%u: no address pattern after if",
					 origin, lineno);
		}
	}
	if (parse_pattern(origin, lineno, word, r, err) < 0) {
		free(r);
		return -1;
	}
	p = str_trim(p);
	if (r->kind == MAP_RULE_IF) {
		if (*p != '\0') {
			free(r);
			return error_set(err, ERR_CONFIG,
					 "%s:%u: text after if pattern", origin,
					 lineno);
		}
		array_push(open_ifs, r);
	} else if (*p == '\0') {
		free(r);
		return error_set(err, ERR_CONFIG,
				 "%s:%u: no lookup result after \"%s\"", origin,
				 lineno, word);
	} else {
		r->result = xstrdup(p);
	}
	array_push(rules, r);
	return 0;
}

struct map *map_cidr_new(const char *origin, const char *text, size_t len,
			 struct error *err)
{
	struct map_cidr *m = xcalloc(1, sizeof(*m));
	struct array *open_ifs = array_new();
	struct buf *line = buf_new();
	struct map_lines lr;
	unsigned lineno;
	int ret = 0;

	m->rules = array_new();
	m->map.lookup = map_cidr_lookup;
	m->map.free = map_cidr_free;
	map_lines_init(&lr, text, len);
	while (ret == 0 && map_lines_next(&lr, line, &lineno))
		ret = parse_line(origin, lineno, buf_mut(line), m->rules,
				 open_ifs, err);
	if (ret == 0 && array_len(open_ifs) > 0) {
		struct cidr_rule *r = array_pop(open_ifs);

		ret = error_set(err, ERR_CONFIG,
				"%s:%u: if without matching endif", origin,
				r->lineno);
	}
	array_free(&open_ifs);
	buf_free(&line);
	if (ret < 0) {
		map_cidr_free(&m->map);
		return NULL;
	}
	return &m->map;
}
