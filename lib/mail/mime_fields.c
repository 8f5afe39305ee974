/*
 * mime_fields - Content-Type, Content-Disposition and the other MIME
 * header fields of a part, with RFC 2231 parameter continuations and
 * charset'lang' values.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "core/xmalloc.h"
#include "mail/header.h"
#include "mail/mime_decode.h"
#include "mail/mime_private.h"

/* At most this many parameters per field: junk protection. */
#define MIME_MAX_PARAMS 128

struct tok {
	const char *s;
	size_t n, pos;
};

static void skip_cfws(struct tok *t)
{
	int depth = 0;
	while (t->pos < t->n) {
		char c = t->s[t->pos];
		if (depth > 0) {
			/* A "\\" last in the value must not step past it. */
			if (c == '\\' && t->pos + 1 < t->n)
				t->pos++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			t->pos++;
		} else if (c == '(') {
			depth = 1;
			t->pos++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			t->pos++;
		} else {
			break;
		}
	}
}

static bool is_tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* An RFC 2045 token: appended to out, false if none. */
static bool read_token(struct tok *t, struct buf *out)
{
	size_t start = t->pos;
	while (t->pos < t->n) {
		unsigned char c = (unsigned char)t->s[t->pos];
		if (c <= ' ' || c == 0x7f || is_tspecial((char)c))
			break;
		t->pos++;
	}
	buf_append(out, t->s + start, t->pos - start);
	return t->pos > start;
}

static void read_quoted(struct tok *t, struct buf *out)
{
	t->pos++;
	while (t->pos < t->n) {
		char c = t->s[t->pos++];
		if (c == '"')
			return;
		if (c == '\\' && t->pos < t->n)
			c = t->s[t->pos++];
		else if (c == '\r' || c == '\n')
			continue;
		buf_append_char(out, c);
	}
}

/* Skip to just after the next ';' outside quotes (or to the end). */
static void skip_to_semicolon(struct tok *t)
{
	while (t->pos < t->n) {
		char c = t->s[t->pos];
		if (c == '"') {
			struct buf *tmp = buf_new();
			read_quoted(t, tmp);
			buf_free(&tmp);
			continue;
		}
		t->pos++;
		if (c == ';')
			return;
	}
}

struct raw_param {
	char *name; /* as written, full ("title*1*") */
	char *value;
};

/* RFC 2231 section of a name: "base", index (-1 none), extended. */
static void split_2231(const char *name, size_t *base_len, int *index,
		       bool *extended)
{
	size_t n = strlen(name);
	*extended = false;
	*index = -1;
	if (n > 0 && name[n - 1] == '*') {
		*extended = true;
		n--;
	}
	size_t star = n;
	while (star > 0 && isdigit((unsigned char)name[star - 1]))
		star--;
	if (star > 0 && star < n && name[star - 1] == '*' && n - star <= 4) {
		*index = atoi(name + star);
		n = star - 1;
	}
	*base_len = n;
}

static void pct_decode(const char *s, struct buf *out)
{
	for (size_t i = 0; s[i] != '\0'; i++) {
		int hi = s[i] == '%' ? str_hex_digit(s[i + 1]) : -1;
		int lo = hi >= 0 ? str_hex_digit(s[i + 2]) : -1;

		if (lo >= 0) {
			buf_append_char(out, (char)(hi * 16 + lo));
			i += 2;
		} else {
			buf_append_char(out, s[i]);
		}
	}
}

/* Decode an extended (charset'lang'%XX) value to UTF-8. */
static char *decode_extended(const char *value)
{
	const char *q1 = strchr(value, '\'');
	const char *q2 = q1 == NULL ? NULL : strchr(q1 + 1, '\'');
	struct buf *bytes = buf_new(), *out = buf_new();
	char charset[64] = "";
	if (q2 == NULL) {
		pct_decode(value, bytes);
	} else {
		size_t cl = (size_t)(q1 - value);
		if (cl < sizeof(charset)) {
			memcpy(charset, value, cl);
			charset[cl] = '\0';
		}
		pct_decode(q2 + 1, bytes);
	}
	mime_charset_to_utf8(charset, buf_data(bytes), buf_len(bytes), out);
	buf_free(&bytes);
	char *r = buf_steal(out);
	buf_free(&out);
	return r;
}

static char *sanitized(const char *s)
{
	struct buf *b = buf_new();
	mime_utf8_sanitize(s, strlen(s), b);
	char *r = buf_steal(b);
	buf_free(&b);
	return r;
}

struct seg {
	size_t i;    /* index in raw */
	size_t blen; /* base name length */
	int idx;     /* continuation number, -1 for none */
	bool ext;
	const char *name;
};

static int seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	size_t n = x->blen < y->blen ? x->blen : y->blen;
	int r = strncasecmp(x->name, y->name, n);
	if (r != 0)
		return r;
	if (x->blen != y->blen)
		return x->blen < y->blen ? -1 : 1;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return x->i < y->i ? -1 : (x->i > y->i);
}

static bool same_base(const struct seg *x, const struct seg *y)
{
	return x->blen == y->blen && strncasecmp(x->name, y->name, x->blen) == 0;
}

/*
 * Merge RFC 2231 continuations: raw[0..n) -> params.  As in Dovecot, the
 * plain parameters come first in their order, then those with a "*" in
 * the name, sorted by name, continuations joined.
 */
static void merge_params(struct raw_param *raw, size_t n,
			 struct mime_param **params_r, size_t *count_r)
{
	struct mime_param *out = xcalloc(n == 0 ? 1 : n, sizeof(*out));
	struct seg *segs = xcalloc(n == 0 ? 1 : n, sizeof(*segs));
	size_t count = 0, nseg = 0;

	for (size_t i = 0; i < n; i++) {
		if (strchr(raw[i].name, '*') == NULL) {
			out[count].name = xstrdup(raw[i].name);
			out[count].value = xstrdup(raw[i].value);
			out[count].decoded = sanitized(raw[i].value);
			count++;
			continue;
		}
		struct seg *sg = &segs[nseg++];
		sg->i = i;
		sg->name = raw[i].name;
		split_2231(raw[i].name, &sg->blen, &sg->idx, &sg->ext);
	}
	qsort(segs, nseg, sizeof(*segs), seg_cmp);
	for (size_t k = 0; k < nseg;) {
		const struct seg *sg = &segs[k];
		if (sg->idx < 0) {
			/* "name*=" alone, or junk like "a*b" */
			out[count].name = xstrdup(raw[sg->i].name);
			out[count].value = xstrdup(raw[sg->i].value);
			out[count].decoded = sg->ext
						     ? decode_extended(raw[sg->i].value)
						     : sanitized(raw[sg->i].value);
			count++;
			k++;
			continue;
		}
		struct buf *val = buf_new();
		bool first_ext = sg->ext, any_ext = false;
		size_t j = k;
		for (; j < nseg && same_base(&segs[j], sg) && segs[j].idx >= 0;
		     j++) {
			any_ext = any_ext || segs[j].ext;
			buf_append_str(val, raw[segs[j].i].value);
		}
		struct buf *name = buf_new();
		buf_append(name, sg->name, sg->blen);
		if (any_ext)
			buf_append_char(name, '*');
		out[count].name = buf_steal(name);
		buf_free(&name);
		out[count].value = xstrdup(buf_data(val));
		out[count].decoded = first_ext ? decode_extended(buf_data(val))
					       : sanitized(buf_data(val));
		count++;
		buf_free(&val);
		k = j;
	}
	free(segs);
	*params_r = out;
	*count_r = count;
}

void mime_params_parse(const char *value, size_t len,
		       struct mime_param **params_r, size_t *count_r)
{
	struct tok t = {.s = value, .n = len};
	struct raw_param *raw = NULL;
	size_t n = 0, cap = 0;
	struct buf *name = buf_new(), *val = buf_new();

	while (t.pos < t.n && n < MIME_MAX_PARAMS) {
		skip_cfws(&t);
		if (t.pos < t.n && t.s[t.pos] == ';') {
			t.pos++;
			continue;
		}
		buf_reset(name);
		buf_reset(val);
		if (!read_token(&t, name)) {
			skip_to_semicolon(&t);
			continue;
		}
		skip_cfws(&t);
		if (t.pos >= t.n || t.s[t.pos] != '=') {
			skip_to_semicolon(&t);
			continue;
		}
		t.pos++;
		skip_cfws(&t);
		if (t.pos < t.n && t.s[t.pos] == '"') {
			read_quoted(&t, val);
		} else {
			/* Tolerate unquoted specials (file names with
			 * "/" or "@", "=?utf-8?..."): up to ';' or blank. */
			size_t start = t.pos;
			while (t.pos < t.n && t.s[t.pos] != ';' &&
			       t.s[t.pos] != ' ' && t.s[t.pos] != '\t' &&
			       t.s[t.pos] != '\r' && t.s[t.pos] != '\n')
				t.pos++;
			buf_append(val, t.s + start, t.pos - start);
		}
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			raw = xreallocarray(raw, cap, sizeof(*raw));
		}
		/* NUL bytes inside a value would cut it: keep what
		 * precedes them, the value is junk anyway. */
		raw[n].name = xstrdup(buf_data(name));
		raw[n].value = xstrdup(buf_data(val));
		n++;
		skip_to_semicolon(&t);
	}
	merge_params(raw, n, params_r, count_r);
	for (size_t i = 0; i < n; i++) {
		free(raw[i].name);
		free(raw[i].value);
	}
	free(raw);
	buf_free(&name);
	buf_free(&val);
}

static void free_params(struct mime_param *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
		free(p[i].decoded);
	}
	free(p);
}

static char *lower_dup(const char *s)
{
	char *r = xstrdup(s);
	for (char *p = r; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return r;
}

static void set_type(struct mime_part *part, const char *type,
		     const char *subtype)
{
	free(part->type);
	free(part->subtype);
	free(part->type_raw);
	free(part->subtype_raw);
	part->type_raw = xstrdup(type);
	part->subtype_raw = xstrdup(subtype);
	part->type = lower_dup(type);
	part->subtype = lower_dup(subtype);
}

static void parse_content_type(struct mime_part *part, const char *v,
			       size_t len)
{
	struct tok t = {.s = v, .n = len};
	struct buf *type = buf_new(), *sub = buf_new();

	skip_cfws(&t);
	if (read_token(&t, type)) {
		skip_cfws(&t);
		if (t.pos < t.n && t.s[t.pos] == '/') {
			t.pos++;
			skip_cfws(&t);
			read_token(&t, sub);
		} else if (t.pos < t.n) {
			/* "text; charset=x": invalid.  Dovecot then shows
			 * an empty type and subtype and no parameters; the
			 * part is still read as the default type. */
			free(part->type_raw);
			free(part->subtype_raw);
			part->type_raw = xstrdup("");
			part->subtype_raw = xstrdup("");
			buf_free(&type);
			buf_free(&sub);
			return;
		}
		/* "text" alone: Dovecot keeps the type with an empty
		 * subtype. */
		set_type(part, buf_data(type), buf_data(sub));
		free_params(part->params, part->param_count);
		mime_params_parse(t.s + t.pos, t.n - t.pos, &part->params,
				  &part->param_count);
	}
	buf_free(&type);
	buf_free(&sub);
}

static void parse_disposition(struct mime_part *part, const char *v,
			      size_t len)
{
	struct tok t = {.s = v, .n = len};
	struct buf *type = buf_new();

	skip_cfws(&t);
	if (read_token(&t, type)) {
		free(part->disposition);
		part->disposition = buf_steal(type);
		free_params(part->disp_params, part->disp_param_count);
		mime_params_parse(t.s + t.pos, t.n - t.pos, &part->disp_params,
				  &part->disp_param_count);
	}
	buf_free(&type);
}

static void set_unfolded(char **field, const char *v, size_t len)
{
	struct buf *b = buf_new();
	header_unfold(v, len, b);
	free(*field);
	*field = buf_steal(b);
	buf_free(&b);
}

void mime_part_parse_fields(struct mime_part *part, const char *hdr,
			    size_t len, bool in_digest)
{
	struct header_iter it;
	struct header_field f;
	bool have_type = false;

	if (in_digest)
		set_type(part, "message", "rfc822");
	else
		set_type(part, "text", "plain");
	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &f)) {
		if (f.name_len < 8 || strncasecmp(f.name, "content-", 8) != 0)
			continue;
		const char *n = f.name + 8;
		size_t nl = f.name_len - 8;
#define IS(s) (nl == sizeof(s) - 1 && strncasecmp(n, s, nl) == 0)
		/* The first occurrence of each field counts, as in
		 * Dovecot. */
		if (IS("type")) {
			if (!have_type) {
				have_type = true;
				parse_content_type(part, f.value, f.value_len);
			}
		} else if (IS("transfer-encoding")) {
			if (part->encoding == NULL)
				set_unfolded(&part->encoding, f.value,
					     f.value_len);
		} else if (IS("id")) {
			if (part->id == NULL)
				set_unfolded(&part->id, f.value, f.value_len);
		} else if (IS("description")) {
			if (part->description == NULL)
				set_unfolded(&part->description, f.value,
					     f.value_len);
		} else if (IS("disposition")) {
			if (part->disposition == NULL)
				parse_disposition(part, f.value, f.value_len);
		} else if (IS("language")) {
			if (part->language == NULL)
				set_unfolded(&part->language, f.value,
					     f.value_len);
		} else if (IS("location")) {
			if (part->location == NULL)
				set_unfolded(&part->location, f.value,
					     f.value_len);
		} else if (IS("md5")) {
			if (part->md5 == NULL)
				set_unfolded(&part->md5, f.value, f.value_len);
		}
#undef IS
	}
	if (strcmp(part->type, "text") == 0) {
		part->flags |= MIME_PART_TEXT;
		if (part->subtype[0] == '\0') {
			free(part->subtype);
			part->subtype = xstrdup("plain");
		}
	}
}

void mime_part_free_fields(struct mime_part *part)
{
	free(part->type);
	free(part->subtype);
	free(part->type_raw);
	free(part->subtype_raw);
	free_params(part->params, part->param_count);
	free(part->id);
	free(part->description);
	free(part->encoding);
	free(part->disposition);
	free_params(part->disp_params, part->disp_param_count);
	free(part->language);
	free(part->location);
	free(part->md5);
}
