/*
 * error - the one error convention of Postern.
 *
 * A function that can fail takes a `struct error *err` as its last argument
 * (NULL allowed when the caller does not care) and returns:
 *   - 0 on success, -1 on failure, for actions;
 *   - 1 found, 0 not found, -1 failure, for lookups.
 * On failure it fills err with a kind and a one-line message.  The kind is
 * what callers act on: ERR_TEMP becomes SMTP 4xx / IMAP NO [UNAVAILABLE]
 * (retry later), ERR_PERM and ERR_CONFIG become a 5xx or a fatal start-up
 * error.  "Temporary" is never confused with "not found".
 *
 * struct error is a plain value with a fixed buffer, so it lives on the
 * caller's stack and needs no freeing.
 */
#ifndef POSTERN_ERROR_H
#define POSTERN_ERROR_H

#include <stdarg.h>

enum err_kind {
	ERR_NONE = 0,
	ERR_TEMP,   /* try again later: server down, timeout, disk full */
	ERR_PERM,   /* will never work: bad input, constraint violated */
	ERR_CONFIG, /* the configuration is wrong */
};

#define ERROR_MSG_MAX 512

struct error {
	enum err_kind kind;
	/* Optional machine-readable code ("already_exists", "not_found"...)
	 * for callers that answer in codes, like the admin API; a static
	 * string or NULL. */
	const char *code;
	char msg[ERROR_MSG_MAX];
};

/* Fill err (if not NULL); returns -1 so callers can `return error_set(...)`. */
int error_set(struct error *err, enum err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int error_setv(struct error *err, enum err_kind kind, const char *fmt,
	       va_list ap) __attribute__((format(printf, 3, 0)));
/* error_set with a machine-readable code (a static string). */
int error_set_code(struct error *err, enum err_kind kind, const char *code,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Prefix the message already in err with more context: "ctx: old msg". */
void error_prefix(struct error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void error_clear(struct error *err);
/* "temporary", "permanent", "config" or "none". */
const char *error_kind_name(enum err_kind kind);

#endif
