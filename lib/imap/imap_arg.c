/*
 * imap_arg - the argument accessors and number parsing declared in
 * imap_parser.h.
 */
#include <string.h>
#include <strings.h>

#include "imap/imap_parser.h"

bool imap_parse_number(const char *s, size_t len, uint64_t max, uint64_t *n_r)
{
	uint64_t n = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (n > (max - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*n_r = n;
	return true;
}

/* --- accessors --- */

bool imap_arg_is_eol(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_EOL;
}

bool imap_arg_is_nil(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_NIL;
}

bool imap_arg_is_atom(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_NIL;
}

bool imap_arg_is_list(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_LIST;
}

bool imap_arg_atom_equals(const struct imap_arg *a, const char *s)
{
	return imap_arg_is_atom(a) && strcasecmp(a->str, s) == 0;
}

bool imap_arg_get_atom(const struct imap_arg *a, const char **str_r)
{
	if (!imap_arg_is_atom(a))
		return false;
	*str_r = a->str;
	return true;
}

bool imap_arg_get_string(const struct imap_arg *a, const char **str_r)
{
	if (a->type != IMAP_ARG_QUOTED && a->type != IMAP_ARG_LITERAL)
		return false;
	/* A literal8 with NUL bytes is no C string: only get_data. */
	if (a->literal8 && memchr(a->str, '\0', a->len) != NULL)
		return false;
	*str_r = a->str;
	return true;
}

bool imap_arg_get_astring(const struct imap_arg *a, const char **str_r)
{
	if (imap_arg_is_atom(a))
		return imap_arg_get_atom(a, str_r);
	return imap_arg_get_string(a, str_r);
}

bool imap_arg_get_nstring(const struct imap_arg *a, const char **str_r)
{
	if (a->type == IMAP_ARG_NIL) {
		*str_r = NULL;
		return true;
	}
	return imap_arg_get_string(a, str_r);
}

bool imap_arg_get_data(const struct imap_arg *a, const char **data_r,
		       size_t *len_r)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL &&
	    a->type != IMAP_ARG_QUOTED && a->type != IMAP_ARG_LITERAL)
		return false;
	*data_r = a->str;
	*len_r = a->len;
	return true;
}

bool imap_arg_get_list(const struct imap_arg *a,
		       const struct imap_arg **list_r, size_t *count_r)
{
	if (a->type != IMAP_ARG_LIST)
		return false;
	*list_r = a->list;
	if (count_r != NULL)
		*count_r = a->list_count;
	return true;
}

bool imap_arg_get_number(const struct imap_arg *a, uint32_t *n_r)
{
	uint64_t n;
	if (a->type != IMAP_ARG_ATOM ||
	    !imap_parse_number(a->str, a->len, UINT32_MAX, &n))
		return false;
	*n_r = (uint32_t)n;
	return true;
}

bool imap_arg_get_number64(const struct imap_arg *a, uint64_t *n_r)
{
	return a->type == IMAP_ARG_ATOM &&
	       imap_parse_number(a->str, a->len, INT64_MAX, n_r);
}

size_t imap_args_count(const struct imap_arg *args)
{
	size_t n = 0;
	while (args[n].type != IMAP_ARG_EOL)
		n++;
	return n;
}
