#include "error.h"

#include <stdio.h>
#include <string.h>

int error_setv(struct error *err, enum err_kind kind, const char *fmt,
	       va_list ap)
{
	if (err == NULL)
		return -1;
	err->kind = kind;
	err->code = NULL;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return -1;
}

int error_set(struct error *err, enum err_kind kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_setv(err, kind, fmt, ap);
	va_end(ap);
	return -1;
}

int error_set_code(struct error *err, enum err_kind kind, const char *code,
		   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_setv(err, kind, fmt, ap);
	va_end(ap);
	if (err != NULL)
		err->code = code;
	return -1;
}

void error_prefix(struct error *err, const char *fmt, ...)
{
	char prefix[ERROR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(prefix, sizeof(prefix) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t plen = strlen(prefix);
	memcpy(prefix + plen, ": ", 3);
	plen += 2;
	/* Shift the old message right and put the prefix in front; the
	 * tail is cut if the whole no longer fits. */
	size_t olen = strnlen(err->msg, sizeof(err->msg) - 1);
	if (plen + olen > sizeof(err->msg) - 1)
		olen = plen < sizeof(err->msg) - 1 ? sizeof(err->msg) - 1 - plen
						   : 0;
	if (plen > sizeof(err->msg) - 1)
		plen = sizeof(err->msg) - 1;
	memmove(err->msg + plen, err->msg, olen);
	memcpy(err->msg, prefix, plen);
	err->msg[plen + olen] = '\0';
}

void error_clear(struct error *err)
{
	if (err == NULL)
		return;
	err->kind = ERR_NONE;
	err->code = NULL;
	err->msg[0] = '\0';
}

const char *error_kind_name(enum err_kind kind)
{
	switch (kind) {
	case ERR_TEMP:
		return "temporary";
	case ERR_PERM:
		return "permanent";
	case ERR_CONFIG:
		return "config";
	case ERR_NONE:
		break;
	}
	return "none";
}
