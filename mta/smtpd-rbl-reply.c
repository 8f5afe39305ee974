/*
 * smtpd-rbl-reply.c - DNSBL reply template expansion (smtpd-rbl-reply.h).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

#include "smtpd-rbl-reply.h"

/* Nested ${name?...} levels, so a hostile template cannot recurse deep. */
#define RBL_EXPAND_DEPTH 10

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static void append_value(struct buf *out, const char *v)
{
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;
		buf_append_char(out, c >= 0x20 && c < 0x7f ? (char)c : '_');
	}
}

/* The end of the text of ${name?text}: the '}' that closes it. */
static const char *close_brace(const char *p)
{
	int depth = 0;

	for (; *p != '\0'; p++) {
		if (*p == '{')
			depth++;
		else if (*p == '}' && depth-- == 0)
			return p;
	}
	return NULL;
}

static int expand(const char *t, size_t len, smtpd_rbl_lookup_fn *lookup,
		  void *ctx, struct buf *out, unsigned depth)
{
	const char *end = t + len;

	if (depth > RBL_EXPAND_DEPTH)
		return -1;
	while (t < end) {
		const char *dollar = memchr(t, '$', (size_t)(end - t));
		if (dollar == NULL) {
			buf_append(out, t, (size_t)(end - t));
			break;
		}
		buf_append(out, t, (size_t)(dollar - t));
		t = dollar + 1;
		if (t >= end)
			return -1;
		if (*t == '$') {
			buf_append_char(out, '$');
			t++;
			continue;
		}
		char open = *t, close = 0;
		if (open == '{')
			close = '}';
		else if (open == '(')
			close = ')';
		if (close != 0)
			t++;
		const char *name = t;
		while (t < end && name_char(*t))
			t++;
		if (t == name)
			return -1;
		char *n = xstrndup(name, (size_t)(t - name));
		const char *v = lookup(n, ctx);
		free(n);
		if (v == NULL)
			return -1;
		if (close == 0) {
			append_value(out, v);
			continue;
		}
		if (t < end && *t == close) {
			append_value(out, v);
			t++;
			continue;
		}
		if (close != '}' || t >= end || (*t != '?' && *t != ':'))
			return -1;
		bool want = *t == '?' ? *v != '\0' : *v == '\0';
		const char *text = t + 1;
		const char *stop = close_brace(text);
		if (stop == NULL || stop >= end)
			return -1;
		if (want && expand(text, (size_t)(stop - text), lookup, ctx,
				   out, depth + 1) < 0)
			return -1;
		t = stop + 1;
	}
	return 0;
}

int smtpd_rbl_expand(const char *template, smtpd_rbl_lookup_fn *lookup,
		     void *ctx, struct buf *out)
{
	return expand(template, strlen(template), lookup, ctx, out, 0);
}
