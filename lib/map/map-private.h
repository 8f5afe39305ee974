/*
 * map-private.h - what the map types share: the struct map vtable, the
 * logical-line reader of the file formats, and each type's constructor.
 * Not for users of lib/map: they include map/map.h.
 */
#ifndef POSTERN_MAP_PRIVATE_H
#define POSTERN_MAP_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "map/map.h"

struct map {
	char *spec;
	/* Lower-case keys before lookup (Postfix DICT_FLAG_FOLD_FIX). */
	bool fold;
	/* Fill value_r and return 1, 0 or -1 with err; key already folded. */
	int (*lookup)(struct map *map, const char *key, struct buf *value_r,
		      struct error *err);
	void (*free)(struct map *map);
};

/* Each constructor fills only the vtable and its own fields; map.c sets
 * spec and returns the map.  `origin` names the text in errors. */
struct map *map_static_new(const char *value, struct error *err);
struct map *map_fail_new(const char *name, struct error *err);
struct map *map_inline_new(const char *text, struct error *err);
struct map *map_texthash_new(const char *origin, const char *text, size_t len,
			     struct error *err);
struct map *map_cidr_new(const char *origin, const char *text, size_t len,
			 struct error *err);
struct map *map_pcre_new(const char *origin, const char *text, size_t len,
			 const struct map_env *env, struct error *err);
struct map *map_lmdb_new(const char *path, struct error *err);
struct map *map_sql_new(const char *path, const struct map_env *env,
			struct error *err);

/*
 * Postfix readllines(3) over text in memory: a line starting with white
 * space continues the previous one, lines whose first non-blank is `#`
 * are skipped, blank lines end a logical line.  Each call gives the next
 * logical line (NUL-terminated, trailing white space removed, in `line`)
 * and its first physical line number; false at the end.
 */
struct map_lines {
	const char *p, *end;
	unsigned lineno;
};
void map_lines_init(struct map_lines *lr, const char *text, size_t len);
bool map_lines_next(struct map_lines *lr, struct buf *line, unsigned *lineno_r);

/*
 * The texthash key/value split shared with map_lmdb_build(): the key is
 * the first word, the value the rest without surrounding white space.
 * Returns false when there is no value.  Pointers point into `line`,
 * which is modified.
 */
bool map_split_kv(char *line, char **key_r, char **value_r);

/* Rule lists with if/endif, shared by cidr and pcre. */
enum map_rule_kind { MAP_RULE_MATCH, MAP_RULE_IF, MAP_RULE_ENDIF };

/* Maximum file size read at open. */
#define MAP_FILE_MAX (64u * 1024 * 1024)

#endif
