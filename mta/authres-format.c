/*
 * authres-format.c - the Authentication-Results header field (RFC 8601):
 * writing ours, recognizing incoming ones that claim our authserv-id
 * (section 5: those are forgeries and must go), and the DKIM b= tags the
 * header.b property names (RFC 6008).  Pure functions on buffers.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "mail/header.h"

#include "smtpd-authres.h"

const char *authres_spf_name(enum authres_spf r)
{
	static const char *const names[] = {"none",	"neutral",  "pass",
					    "fail",	"softfail", "temperror",
					    "permerror"};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r]
							      : "none";
}

/* RFC 2045 token characters. */
static bool is_token_char(unsigned char c)
{
	return c > ' ' && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* A pvalue (RFC 8601 2.2): a token, or [local-part "@"] domain of
 * tokens; anything else is written as a quoted-string. */
static void put_value(struct buf *out, const char *v)
{
	const char *at = strrchr(v, '@');
	bool plain = *v != '\0';

	for (const char *p = v; *p != '\0' && plain; p++)
		if (!is_token_char((unsigned char)*p) && p != at)
			plain = false;
	if (at != NULL && (at == v || at[1] == '\0'))
		plain = false;
	if (plain) {
		buf_append_str(out, v);
		return;
	}
	buf_append_char(out, '"');
	for (const char *p = v; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < ' ' || c == 127)
			continue; /* never a line break inside */
		if (c == '"' || c == '\\')
			buf_append_char(out, '\\');
		buf_append_char(out, (char)c);
	}
	buf_append_char(out, '"');
}

static void put_method_sep(struct buf *out, bool *first)
{
	buf_append_str(out, *first ? "\r\n\t" : ";\r\n\t");
	*first = false;
}

void authres_format(struct buf *out, const char *authserv_id,
		    const struct authres_result *r)
{
	bool first = true;

	buf_append_str(out, "Authentication-Results: ");
	buf_append_str(out, authserv_id);
	buf_append_char(out, ';');
	if (r->spf_identity != NULL) {
		put_method_sep(out, &first);
		buf_printf(out, "spf=%s smtp.%s=", authres_spf_name(r->spf),
			   r->spf_identity);
		put_value(out, r->spf_value != NULL ? r->spf_value : "");
	}
	if (r->dkim_checked && r->nsigs == 0) {
		put_method_sep(out, &first);
		buf_append_str(out, "dkim=none");
	}
	for (size_t i = 0; r->dkim_checked && i < r->nsigs; i++) {
		const struct authres_dkim *d = &r->sigs[i];
		put_method_sep(out, &first);
		buf_printf(out, "dkim=%s", dkim_result_name(d->result));
		if (d->result != DKIM_PASS && d->reason[0] != '\0') {
			buf_append_str(out, " reason=");
			put_value(out, d->reason);
		}
		if (d->domain[0] != '\0') {
			buf_append_str(out, " header.d=");
			put_value(out, d->domain);
		}
		if (d->selector[0] != '\0') {
			buf_append_str(out, " header.s=");
			put_value(out, d->selector);
		}
		if (d->b[0] != '\0') {
			buf_append_str(out, " header.b=");
			put_value(out, d->b);
		}
	}
	if (r->dmarc_checked) {
		put_method_sep(out, &first);
		buf_printf(out, "dmarc=%s", dmarc_result_name(r->dmarc));
		if (r->have_policy)
			buf_printf(out, " (p=%s dis=%s)",
				   dmarc_policy_name(r->policy),
				   dmarc_policy_name(r->disposition));
		if (r->from_domain != NULL) {
			buf_append_str(out, " header.from=");
			put_value(out, r->from_domain);
		}
	}
	if (first)
		buf_append_str(out, " none"); /* RFC 8601 2.2: no result */
	buf_append_str(out, "\r\n");
}

/* Skip blanks, line breaks and (nested) comments. */
static const char *skip_cfws(const char *p, const char *end)
{
	while (p < end) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
		} else if (*p == '(') {
			unsigned depth = 0;
			for (; p < end; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
				else if (*p == '(')
					depth++;
				else if (*p == ')' && --depth == 0) {
					p++;
					break;
				}
			}
		} else {
			break;
		}
	}
	return p;
}

bool authres_field_is_ours(const char *value, size_t len,
			   const char *authserv_id)
{
	const char *p = skip_cfws(value, value + len), *end = value + len;
	char id[256];
	size_t n = 0;

	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			if (n + 1 < sizeof(id))
				id[n++] = *p;
			else
				return false;
		}
	} else {
		for (; p < end && *p != ';' && *p != '(' && *p != ' ' &&
		       *p != '\t' && *p != '\r' && *p != '\n';
		     p++) {
			if (n + 1 < sizeof(id))
				id[n++] = *p;
			else
				return false;
		}
	}
	id[n] = '\0';
	/* A trailing dot names the same host. */
	if (n > 0 && id[n - 1] == '.')
		id[--n] = '\0';
	size_t ours = strlen(authserv_id);
	if (ours > 0 && authserv_id[ours - 1] == '.')
		ours--;
	return n > 0 && n == ours && strncasecmp(id, authserv_id, n) == 0;
}

static bool name_is(const struct header_field *f, const char *name)
{
	return f->name_len == strlen(name) &&
	       strncasecmp(f->name, name, f->name_len) == 0;
}

size_t authres_strip_ours(const char *msg, size_t len, const char *authserv_id,
			  struct buf *out)
{
	struct header_iter it;
	struct header_field f;
	const char *from = msg;
	size_t removed = 0;

	header_iter_init(&it, msg, len);
	while (header_iter_next(&it, &f)) {
		if (!name_is(&f, "Authentication-Results") ||
		    !authres_field_is_ours(f.value, f.value_len, authserv_id))
			continue;
		buf_append(out, from, (size_t)(f.raw - from));
		from = f.raw + f.raw_len;
		removed++;
	}
	buf_append(out, from, (size_t)(msg + len - from));
	return removed;
}

/* The b= value of one DKIM-Signature value: its first 8 non-blank
 * characters. */
static void b_tag(const char *v, size_t len, char b[9])
{
	const char *p = v, *end = v + len;

	b[0] = '\0';
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *te = semi != NULL ? semi : end;
		const char *t = p;

		p = te + 1;
		while (t < te && isspace((unsigned char)*t))
			t++;
		if (t < te && *t == 'b') {
			const char *q = t + 1;
			while (q < te && isspace((unsigned char)*q))
				q++;
			if (q < te && *q == '=') {
				size_t n = 0;
				for (q++; q < te && n < 8; q++)
					if (!isspace((unsigned char)*q))
						b[n++] = *q;
				b[n] = '\0';
				return;
			}
		}
		if (semi == NULL)
			break;
	}
}

size_t authres_dkim_b_tags(const char *msg, size_t len, char (*b)[9],
			   size_t max)
{
	struct header_iter it;
	struct header_field f;
	size_t n = 0;

	header_iter_init(&it, msg, len);
	while (header_iter_next(&it, &f)) {
		if (!name_is(&f, "DKIM-Signature"))
			continue;
		if (n < max)
			b_tag(f.value, f.value_len, b[n]);
		n++;
	}
	return n;
}
