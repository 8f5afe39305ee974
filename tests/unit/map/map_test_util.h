/*
 * map_test_util.h - helpers shared by the map unit tests: temporary
 * files and one-call lookups.
 */
#ifndef POSTERN_MAP_TEST_UTIL_H
#define POSTERN_MAP_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "map/map.h"

/* A fresh temporary directory (malloc'd path). */
static inline char *test_tmpdir(void)
{
	char *dir = xstrdup("/tmp/postern-map-test.XXXXXX");

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return dir;
}

/* Write text to DIR/NAME; returns the malloc'd path. */
static inline char *test_write(const char *dir, const char *name,
			       const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		abort();
	}
	return path;
}

static inline void test_rmdir(char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	if (system(cmd) != 0)
		abort();
	free(cmd);
	free(dir);
}

/*
 * Look key up: returns the value as a static string, "<none>" when not
 * found, "<error: KIND: MSG>" on failure.
 */
static inline const char *test_get(struct map *map, const char *key)
{
	static char out[1024];
	struct buf *v = buf_new();
	struct error err;
	int r = map_lookup(map, key, v, &err);

	if (r > 0)
		snprintf(out, sizeof(out), "%s", buf_data(v));
	else if (r == 0)
		snprintf(out, sizeof(out), "<none>");
	else
		snprintf(out, sizeof(out), "<error: %s: %s>",
			 error_kind_name(err.kind), err.msg);
	buf_free(&v);
	return out;
}

/* Open a map from text; NULL with err. */
static inline struct map *test_text(const char *type, const char *text,
				    struct error *err)
{
	return map_open_text(type, "t.map", text, strlen(text), NULL, err);
}

#endif
