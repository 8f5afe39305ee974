/*
 * str - small helpers for NUL-terminated strings.
 *
 * ASCII-only case handling: mail protocol keywords, domains and lookup
 * keys are ASCII, and locale-dependent tolower() must not decide them.
 */
#ifndef POSTERN_STR_H
#define POSTERN_STR_H

#include <stdbool.h>
#include <stddef.h>

#include "array.h"

/* Lower-case ASCII letters in place; returns s. */
char *str_lower(char *s);
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
bool str_case_has_prefix(const char *s, const char *prefix);
/* Strip leading and trailing ASCII white space in place; returns the start. */
char *str_trim(char *s);
/*
 * Split on any of `seps`, skipping empty fields, into a new array of
 * malloc'd strings (free with array_free_with(&a, free)).
 */
struct array *str_split(const char *s, const char *seps);
/* Copy with truncation, always NUL-terminating; returns strlen(src). */
size_t str_copy(char *dst, const char *src, size_t size);
/* Parse a whole decimal number; false on junk, sign or overflow. */
bool str_to_u64(const char *s, unsigned long long *v_r);
bool str_to_i64(const char *s, long long *v_r);
/* Compare two secrets in time independent of where they differ. */
bool str_secure_eq(const char *a, const char *b);

/* The value of the hex digit c (either case), or -1. */
int str_hex_digit(char c);

/* Percent-decode s[0..len) ('+' as a space when plus): malloc'd, NULL
 * for a bad escape, %00 or a NUL byte (URL paths and query values). */
char *str_url_decode(const char *s, size_t len, bool plus);

#endif
