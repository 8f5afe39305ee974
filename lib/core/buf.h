/*
 * buf - the one growable byte string of Postern.
 *
 * Binary-safe, always NUL-terminated (the terminator is not counted in the
 * length), grows as needed and aborts on out-of-memory like xmalloc.
 * A pointer returned by buf_data() is borrowed: it stays valid until the
 * next call that changes the buffer (a resize moves the data).
 */
#ifndef POSTERN_BUF_H
#define POSTERN_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf;

struct buf *buf_new(void);
/* Start with room for `hint` bytes. */
struct buf *buf_new_size(size_t hint);
/* A new buffer holding a copy of `s`. */
struct buf *buf_new_str(const char *s);
void buf_free(struct buf **b);

/* Borrowed view of the content (NUL-terminated) and its length. */
const char *buf_data(const struct buf *b);
size_t buf_len(const struct buf *b);
/* Writable pointer; valid until the next resize. */
char *buf_mut(struct buf *b);

void buf_reset(struct buf *b);
/* Keep only the first `len` bytes (len <= buf_len). */
void buf_truncate(struct buf *b, size_t len);
/* Ensure room for `extra` more bytes without another allocation. */
void buf_reserve(struct buf *b, size_t extra);

void buf_append(struct buf *b, const void *data, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Replace the content with `s`. */
void buf_set_str(struct buf *b, const char *s);
/* Remove the first `n` bytes (consumed input). */
void buf_consume(struct buf *b, size_t n);

bool buf_eq_str(const struct buf *b, const char *s);
/* Take ownership of the content as a malloc'd string; the buffer is reset. */
char *buf_steal(struct buf *b);

#endif
