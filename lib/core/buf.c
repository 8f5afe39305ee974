#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

struct buf {
	char *data;
	size_t len;
	size_t cap; /* allocated bytes, including room for the NUL */
};

struct buf *buf_new_size(size_t hint)
{
	struct buf *b = xmalloc(sizeof(*b));
	b->cap = hint < 16 ? 16 : hint + 1;
	b->data = xmalloc(b->cap);
	b->data[0] = '\0';
	b->len = 0;
	return b;
}

struct buf *buf_new(void)
{
	return buf_new_size(64);
}

struct buf *buf_new_str(const char *s)
{
	size_t len = strlen(s);
	struct buf *b = buf_new_size(len);
	buf_append(b, s, len);
	return b;
}

void buf_free(struct buf **bp)
{
	if (*bp == NULL)
		return;
	free((*bp)->data);
	free(*bp);
	*bp = NULL;
}

const char *buf_data(const struct buf *b)
{
	return b->data;
}

size_t buf_len(const struct buf *b)
{
	return b->len;
}

char *buf_mut(struct buf *b)
{
	return b->data;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

void buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

void buf_reserve(struct buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap * 2;
	if (cap < need)
		cap = need;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_append(struct buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void buf_append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_append_char(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void buf_set_str(struct buf *b, const char *s)
{
	buf_reset(b);
	buf_append_str(b, s);
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

bool buf_eq_str(const struct buf *b, const char *s)
{
	size_t len = strlen(s);
	return len == b->len && memcmp(b->data, s, len) == 0;
}

char *buf_steal(struct buf *b)
{
	char *p = b->data;
	b->cap = 16;
	b->data = xmalloc(b->cap);
	b->data[0] = '\0';
	b->len = 0;
	return p;
}
