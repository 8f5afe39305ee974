/*
 * map_inline.c - the maps that live in their spec: static:VALUE,
 * inline:{key=value, ...} (Postfix inline_table(5)) and fail:NAME.
 */
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "map/map-private.h"

struct map_static {
	struct map map;
	char *value;
};

struct map_inline {
	struct map map;
	struct hash *table;
};

static int static_lookup(struct map *map, const char *key, struct buf *value_r,
			 struct error *err)
{
	buf_set_str(value_r, ((struct map_static *)map)->value);
	return 1;
}

static void static_free(struct map *map)
{
	free(((struct map_static *)map)->value);
	free(map);
}

/* `{ text }` loses its braces and the blanks inside them. */
static char *strip_braces(const char *s)
{
	char *copy = xstrdup(s);
	char *t = str_trim(copy);
	size_t len = strlen(t);
	char *out;

	if (len >= 2 && t[0] == '{' && t[len - 1] == '}') {
		t[len - 1] = '\0';
		t = str_trim(t + 1);
	}
	out = xstrdup(t);
	free(copy);
	return out;
}

struct map *map_static_new(const char *value, struct error *err)
{
	struct map_static *m = xcalloc(1, sizeof(*m));

	m->value = strip_braces(value);
	m->map.lookup = static_lookup;
	m->map.free = static_free;
	return &m->map;
}

static int fail_lookup(struct map *map, const char *key, struct buf *value_r,
		       struct error *err)
{
	return error_set(err, ERR_TEMP, "%s: table lookup failed",
			 map_spec(map));
}

static void fail_free(struct map *map)
{
	free(map);
}

struct map *map_fail_new(const char *name, struct error *err)
{
	struct map *m = xcalloc(1, sizeof(*m));

	m->lookup = fail_lookup;
	m->free = fail_free;
	return m;
}

static int inline_lookup(struct map *map, const char *key, struct buf *value_r,
			 struct error *err)
{
	const char *v = hash_get(((struct map_inline *)map)->table, key);

	if (v == NULL)
		return 0;
	buf_set_str(value_r, v);
	return 1;
}

static void inline_free(struct map *map)
{
	hash_free(&((struct map_inline *)map)->table);
	free(map);
}

/*
 * Split the inside of the outer braces into tokens: runs separated by
 * commas or blanks, where a `{...}` group (nested braces counted) is one
 * token.  Returns false on unbalanced braces.
 */
static bool inline_tokens(const char *s, struct array *tokens)
{
	while (*s != '\0') {
		const char *start;

		while (*s == ',' || *s == ' ' || *s == '\t' || *s == '\n' ||
		       *s == '\r')
			s++;
		if (*s == '\0')
			break;
		start = s;
		if (*s == '{') {
			int depth = 0;

			do {
				if (*s == '{')
					depth++;
				else if (*s == '}')
					depth--;
				s++;
			} while (*s != '\0' && depth > 0);
			if (depth > 0)
				return false;
		} else {
			while (*s != '\0' && *s != ',' && *s != ' ' &&
			       *s != '\t' && *s != '\n' && *s != '\r') {
				if (*s == '{' || *s == '}')
					return false;
				s++;
			}
		}
		array_push(tokens, xstrndup(start, (size_t)(s - start)));
	}
	return true;
}

static int inline_add(struct hash *table, const char *key, const char *value,
		      struct error *err)
{
	char *k;

	if (*key == '\0')
		return error_set(err, ERR_CONFIG, "missing key before \"=\"");
	if (*value == '\0')
		return error_set(err, ERR_CONFIG, "missing value for \"%s\"",
				 key);
	k = str_lower(xstrdup(key));
	if (!hash_contains(table, k)) /* the first wins, as texthash */
		hash_put(table, k, xstrdup(value));
	free(k);
	return 0;
}

/* Parse the tokens: `key=value`, `key = value`, `key= value`, `key =value`
 * and `{ key = value with spaces }`. */
static int inline_parse(struct array *tok, struct hash *table,
			struct error *err)
{
	size_t n = array_len(tok);

	for (size_t i = 0; i < n; i++) {
		char *t = array_get(tok, i);
		char *eq, *key, *value, *inner = NULL;
		int ret;

		if (*t == '{') {
			inner = strip_braces(t);
			eq = strchr(inner, '=');
			if (eq == NULL) {
				ret = error_set(err, ERR_CONFIG,
						"missing \"=\" in \"%s\"", t);
				free(inner);
				return ret;
			}
			*eq = '\0';
			ret = inline_add(table, str_trim(inner),
					 str_trim(eq + 1), err);
			free(inner);
			if (ret < 0)
				return ret;
			continue;
		}
		eq = strchr(t, '=');
		if (eq == NULL) { /* `key = value` or `key =value` */
			char *next = i + 1 < n ? array_get(tok, i + 1) : NULL;

			if (next == NULL || *next != '=')
				return error_set(err, ERR_CONFIG,
						 "missing \"=\" after \"%s\"",
						 t);
			key = t;
			i++;
			value = next + 1;
		} else {
			*eq = '\0';
			key = t;
			value = eq + 1;
		}
		if (*value == '\0') { /* `key= value`, `key = value` */
			char *v = i + 1 < n ? array_get(tok, i + 1) : NULL;

			if (v == NULL)
				return error_set(err, ERR_CONFIG,
						 "missing value for \"%s\"",
						 key);
			i++;
			if (*v == '{')
				inner = strip_braces(v);
			value = inner != NULL ? inner : v;
		}
		ret = inline_add(table, key, value, err);
		free(inner);
		if (ret < 0)
			return ret;
	}
	return 0;
}

struct map *map_inline_new(const char *text, struct error *err)
{
	struct map_inline *m;
	struct array *tok;
	char *body = xstrdup(text);
	char *t = str_trim(body);
	size_t len = strlen(t);
	int ret;

	if (len < 2 || t[0] != '{' || t[len - 1] != '}') {
		free(body);
		error_set(err, ERR_CONFIG, "expected inline:{key=value, ...}");
		return NULL;
	}
	t[len - 1] = '\0';
	tok = array_new();
	m = xcalloc(1, sizeof(*m));
	m->table = hash_new(HASH_DEFAULT, free);
	m->map.fold = true;
	m->map.lookup = inline_lookup;
	m->map.free = inline_free;
	if (!inline_tokens(t + 1, tok))
		ret = error_set(err, ERR_CONFIG, "unbalanced braces");
	else
		ret = inline_parse(tok, m->table, err);
	if (ret == 0 && hash_count(m->table) == 0)
		ret = error_set(err, ERR_CONFIG, "empty table");
	array_free_with(&tok, free);
	free(body);
	if (ret < 0) {
		inline_free(&m->map);
		return NULL;
	}
	return &m->map;
}
