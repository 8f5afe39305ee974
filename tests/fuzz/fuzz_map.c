/*
 * fuzz_map.c - a map file parser and lookups on arbitrary text; one
 * target per syntax, MAP_TYPE set in CMakeLists.txt.
 * The first line of the input is also used as a lookup key, so rules
 * and keys that fit each other get explored.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "map/map.h"

#ifndef MAP_TYPE
#error "build with -DMAP_TYPE=\"texthash\" (or cidr, pcre, inline)"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {
	    "a@example.test",
	    "User+Ext@Example.TEST",
	    "192.0.2.1",
	    "2001:db8::1",
	    "::ffff:10.0.0.1",
	    "",
	    "key",
	};
	const char *nl = memchr(data, '\n', size);
	char *first =
	    xstrndup((const char *)data,
		     nl != NULL ? (size_t)(nl - (const char *)data) : size);
	struct buf *value = buf_new();
	struct error err;
	struct map *map;

	map =
	    map_open_text(MAP_TYPE, "fuzz", (const char *)data, size, NULL, &err);
	if (map != NULL) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			(void)map_lookup(map, keys[i], value, &err);
		(void)map_lookup(map, first, value, &err);
		(void)map_lookup_address(map, first, "+-", value, &err);
		map_free(&map);
	}
	buf_free(&value);
	free(first);
	return 0;
}
