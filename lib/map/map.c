/*
 * map.c - opening maps by spec, key folding and the Postfix lookup orders
 * (virtual(5) address order, domain lookups); the logical-line reader the
 * file formats share.
 */
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "map/map-private.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

void map_lines_init(struct map_lines *lr, const char *text, size_t len)
{
	lr->p = text;
	lr->end = text + len;
	lr->lineno = 0;
}

bool map_lines_next(struct map_lines *lr, struct buf *line, unsigned *lineno_r)
{
	bool have = false;

	buf_reset(line);
	while (lr->p < lr->end) {
		const char *nl = memchr(lr->p, '\n', (size_t)(lr->end - lr->p));
		const char *e = nl != NULL ? nl : lr->end;
		const char *next = nl != NULL ? nl + 1 : lr->end;
		const char *s = lr->p;

		while (s < e && is_blank(*s))
			s++;
		if (s == e) { /* blank: ends a logical line */
			lr->p = next;
			lr->lineno++;
			if (have)
				break;
			continue;
		}
		if (*s == '#') { /* comments do not break continuation */
			lr->p = next;
			lr->lineno++;
			continue;
		}
		if (have && s == lr->p) /* next logical line starts here */
			break;
		lr->lineno++;
		if (!have)
			*lineno_r = lr->lineno;
		have = true;
		while (e > lr->p && is_blank(e[-1]))
			e--;
		buf_append(line, lr->p, (size_t)(e - lr->p));
		lr->p = next;
	}
	return have;
}

bool map_split_kv(char *line, char **key_r, char **value_r)
{
	char *p = line;

	while (*p != '\0' && is_blank(*p))
		p++;
	*key_r = p;
	while (*p != '\0' && !is_blank(*p))
		p++;
	if (*p == '\0')
		return false;
	*p++ = '\0';
	*value_r = str_trim(p);
	return **value_r != '\0';
}

static struct map *open_file(const char *type, const char *path,
			     const struct map_env *env, struct error *err)
{
	struct buf *text = buf_new();
	struct map *map = NULL;

	if (fs_read_file(path, text, MAP_FILE_MAX, err) == 0)
		map = map_open_text(type, path, buf_data(text), buf_len(text),
				    env, err);
	buf_free(&text);
	return map;
}

struct map *map_open_text(const char *type, const char *origin,
			  const char *text, size_t len,
			  const struct map_env *env, struct error *err)
{
	struct map *map;
	char *copy;

	/* The parsers read C strings: a NUL ends the text. */
	copy = xstrndup(text, len);
	len = strlen(copy);
	if (strcmp(type, "texthash") == 0)
		map = map_texthash_new(origin, copy, len, err);
	else if (strcmp(type, "cidr") == 0)
		map = map_cidr_new(origin, copy, len, err);
	else if (strcmp(type, "pcre") == 0)
		map = map_pcre_new(origin, copy, len, env, err);
	else if (strcmp(type, "inline") == 0)
		map = map_inline_new(copy, err);
	else
		map = (error_set(err, ERR_CONFIG,
				 "map type \"%s\" has no text form", type),
		       NULL);
	free(copy);
	if (map != NULL && map->spec == NULL)
		map->spec = xasprintf("%s:%s", type, origin);
	return map;
}

/* Postfix's names for the kinds we serve otherwise, so that main.cf
 * lines carry over: hash: and btree: (Berkeley DB, which Debian's Postfix
 * itself is leaving for lmdb:) are lmdb: snapshots built by `postern map
 * build`, and regexp: (POSIX ERE) tables are read by PCRE, whose /re/flags
 * syntax they share and whose meaning they keep for what people write. */
static char *map_type_canonical(const char *type, size_t len)
{
	static const struct {
		const char *postfix, *ours;
	} aliases[] = {
	    {"hash", "lmdb"}, {"btree", "lmdb"}, {"regexp", "pcre"}};

	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strlen(aliases[i].postfix) == len &&
		    strncmp(type, aliases[i].postfix, len) == 0)
			return xstrdup(aliases[i].ours);
	return xstrndup(type, len);
}

struct map *map_open(const char *spec, const struct map_env *env,
		     struct error *err)
{
	static const struct map_env no_env;
	const char *colon = strchr(spec, ':');
	const char *name;
	struct map *map;
	char *type;

	if (env == NULL)
		env = &no_env;
	if (colon == NULL || colon == spec) {
		error_set(err, ERR_CONFIG, "map \"%s\": expected type:name",
			  spec);
		return NULL;
	}
	type = map_type_canonical(spec, (size_t)(colon - spec));
	name = colon + 1;
	if (strcmp(type, "static") == 0)
		map = map_static_new(name, err);
	else if (strcmp(type, "fail") == 0)
		map = map_fail_new(name, err);
	else if (strcmp(type, "inline") == 0)
		map = map_inline_new(name, err);
	else if (strcmp(type, "texthash") == 0 || strcmp(type, "cidr") == 0 ||
		 strcmp(type, "pcre") == 0)
		map = *name == '\0'
			  ? (error_set(err, ERR_CONFIG,
				       "map \"%s\": no file name", spec),
			     NULL)
			  : open_file(type, name, env, err);
	else if (strcmp(type, "lmdb") == 0)
		map = map_lmdb_new(name, err);
	else if (strcmp(type, "sql") == 0)
		map = map_sql_new(name, env, err);
	else
		map = (error_set(err, ERR_CONFIG,
				 "map \"%s\": unsupported map type \"%s\"",
				 spec, type),
		       NULL);
	if (map == NULL && err != NULL && strcmp(type, "inline") == 0)
		error_prefix(err, "%s", spec);
	free(type);
	if (map != NULL) {
		free(map->spec);
		map->spec = xstrdup(spec);
	}
	return map;
}

void map_free(struct map **mapp)
{
	struct map *map = *mapp;

	if (map == NULL)
		return;
	*mapp = NULL;
	free(map->spec);
	map->free(map);
}

const char *map_spec(const struct map *map)
{
	return map->spec;
}

int map_lookup(struct map *map, const char *key, struct buf *value_r,
	       struct error *err)
{
	char *folded;
	int ret;

	if (!map->fold)
		return map->lookup(map, key, value_r, err);
	folded = str_lower(xstrdup(key));
	ret = map->lookup(map, folded, value_r, err);
	free(folded);
	return ret;
}

int map_lookup_address(struct map *map, const char *address,
		       const char *delimiters, struct buf *value_r,
		       struct error *err)
{
	const char *at = strrchr(address, '@');
	size_t local_len =
	    at != NULL ? (size_t)(at - address) : strlen(address);
	int ret;

	ret = map_lookup(map, address, value_r, err);
	if (ret != 0)
		return ret;
	if (delimiters != NULL && *delimiters != '\0') {
		size_t i;

		/* An extension never starts the local part (Postfix). */
		for (i = 1; i < local_len; i++)
			if (strchr(delimiters, address[i]) != NULL)
				break;
		if (i < local_len) {
			char *bare = xasprintf("%.*s%s", (int)i, address,
					       at != NULL ? at : "");
			ret = map_lookup(map, bare, value_r, err);
			free(bare);
			if (ret != 0)
				return ret;
		}
	}
	if (at != NULL && at[1] != '\0' && local_len > 0)
		return map_lookup(map, at, value_r, err);
	return 0;
}

int map_lookup_domain(struct map *map, const char *domain, struct buf *value_r,
		      struct error *err)
{
	const char *at = strrchr(domain, '@');
	size_t len;
	char *name;
	int ret;

	if (at != NULL)
		domain = at + 1;
	len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0)
		return 0;
	name = xstrndup(domain, len);
	ret = map_lookup(map, name, value_r, err);
	free(name);
	return ret;
}
