#include "error.h"

#include <stdio.h>
#include <string.h>

int error_setv(struct error *err, enum err_kind kind, const char *fmt,
	       va_list ap)
{
	if (err == NULL)
		return -1;
	err->kind = kind;
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

void error_prefix(struct error *err, const char *fmt, ...)
{
	char prefix[ERROR_MSG_MAX], old[ERROR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
}

void error_clear(struct error *err)
{
	if (err == NULL)
		return;
	err->kind = ERR_NONE;
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
