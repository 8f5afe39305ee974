/*
 * conf_params - the static parameter table built from conf_params.def,
 * and the per-type validation of values.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf.h"
#include "conf/conf_private.h"
#include "core/str.h"
#include "core/timeutil.h"

static const struct conf_param params[] = {
#define PARAM(name, type, def, doc) {#name, CONF_##type, def, doc},
#include "conf/conf_params.def"
#undef PARAM
};

#define NPARAMS (sizeof(params) / sizeof(params[0]))

size_t conf_param_count(void)
{
	return NPARAMS;
}

const struct conf_param *conf_param_at(size_t i)
{
	return i < NPARAMS ? &params[i] : NULL;
}

const struct conf_param *conf_param_find(const char *name)
{
	/* ~70 entries, looked up at load time and by the CLI only. */
	for (size_t i = 0; i < NPARAMS; i++)
		if (strcmp(params[i].name, name) == 0)
			return &params[i];
	return NULL;
}

const char *conf_type_name(enum conf_type type)
{
	switch (type) {
	case CONF_STR:
		return "str";
	case CONF_RAW:
		return "raw";
	case CONF_INT:
		return "int";
	case CONF_BOOL:
		return "bool";
	case CONF_TIME:
		return "time";
	case CONF_SIZE:
		return "size";
	}
	return "?";
}

int conf_check_value(enum conf_type type, const char *value, struct error *err)
{
	long long i;
	unsigned long long u;
	int64_t t;

	switch (type) {
	case CONF_STR:
	case CONF_RAW:
		return 0;
	case CONF_INT:
		if (!str_to_i64(value, &i))
			return error_set(err, ERR_CONFIG,
					 "\"%.100s\" is not a decimal integer",
					 value);
		return 0;
	case CONF_BOOL:
		if (strcasecmp(value, "yes") == 0 ||
		    strcasecmp(value, "no") == 0 ||
		    strcasecmp(value, "true") == 0 ||
		    strcasecmp(value, "false") == 0)
			return 0;
		return error_set(err, ERR_CONFIG, "\"%.100s\" is not yes or no",
				 value);
	case CONF_TIME:
		return time_parse_duration(value, 's', &t, err);
	case CONF_SIZE:
		if (!str_to_u64(value, &u) || u > LLONG_MAX)
			return error_set(err, ERR_CONFIG,
					 "\"%.100s\" is not a size in bytes",
					 value);
		return 0;
	}
	return error_set(err, ERR_CONFIG, "bad parameter type");
}

enum conf_line_kind conf_line_kind(const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && conf_space(line[i]))
		i++;
	if (i == len || line[i] == '#')
		return CONF_LINE_SKIP;
	return i > 0 ? CONF_LINE_CONT : CONF_LINE_START;
}

size_t conf_name_len(const char *s, size_t len)
{
	size_t n = 0;
	while (n < len && conf_name_char(s[n]))
		n++;
	return n;
}
