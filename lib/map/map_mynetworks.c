/*
 * map_mynetworks.c - $mynetworks as a cidr map, the one table smtpd and
 * postscreen both consult for "is this client ours".
 */
#include <stdlib.h>

#include "core/array.h"
#include "core/buf.h"
#include "core/str.h"
#include "map/map.h"

struct map *map_mynetworks_open(const struct conf *conf, struct error *err)
{
	struct array *nets = str_split(conf_str(conf, "mynetworks"), ", \t");
	struct buf *text = buf_new();
	struct map *map;

	for (size_t i = 0; i < array_len(nets); i++)
		buf_printf(text, "%s OK\n", (char *)array_get(nets, i));
	map = map_open_text("cidr", "mynetworks", buf_data(text), buf_len(text),
			    NULL, err);
	if (map == NULL)
		error_prefix(err, "mynetworks");
	buf_free(&text);
	array_free_with(&nets, free);
	return map;
}
