/*
 * xmalloc - allocation that never returns NULL.
 *
 * Every allocator here aborts the process (with a log line) when memory is
 * exhausted, so callers never check for NULL.  Ownership of the returned
 * memory passes to the caller, who releases it with free().
 */
#ifndef POSTERN_XMALLOC_H
#define POSTERN_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Like reallocarray(3): aborts on multiplication overflow too. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* free() and set the pointer to NULL: XFREE(p). */
#define XFREE(p) do { free(p); (p) = NULL; } while (0)

#endif
