/*
 * map_texthash.c - texthash:/path, Postfix's texthash: `key value` lines
 * read into memory when the map is opened.  Keys are folded to lower
 * case; a repeated key keeps its first value (Postfix warns and ignores
 * the later one).
 */
#include <stdlib.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "map/map-private.h"

struct map_texthash {
	struct map map;
	struct hash *table;
};

static int texthash_lookup(struct map *map, const char *key,
			   struct buf *value_r, struct error *err)
{
	const char *v = hash_get(((struct map_texthash *)map)->table, key);

	if (v == NULL)
		return 0;
	buf_set_str(value_r, v);
	return 1;
}

static void texthash_free(struct map *map)
{
	hash_free(&((struct map_texthash *)map)->table);
	free(map);
}

struct map *map_texthash_new(const char *origin, const char *text, size_t len,
			     struct error *err)
{
	struct map_texthash *m = xcalloc(1, sizeof(*m));
	struct buf *line = buf_new();
	struct map_lines lr;
	unsigned lineno;
	int ret = 0;

	m->table = hash_new(HASH_DEFAULT, free);
	m->map.fold = true;
	m->map.lookup = texthash_lookup;
	m->map.free = texthash_free;
	map_lines_init(&lr, text, len);
	while (map_lines_next(&lr, line, &lineno)) {
		char *key, *value;

		if (!map_split_kv(buf_mut(line), &key, &value)) {
			ret = error_set(err, ERR_CONFIG,
					"%s:%u: expected format: key "
					"whitespace value",
					origin, lineno);
			break;
		}
		str_lower(key);
		if (hash_contains(m->table, key)) {
			log_warn("%s:%u: duplicate entry: \"%s\" (ignored)",
				 origin, lineno, key);
			continue;
		}
		hash_put(m->table, key, xstrdup(value));
	}
	buf_free(&line);
	if (ret < 0) {
		texthash_free(&m->map);
		return NULL;
	}
	return &m->map;
}
