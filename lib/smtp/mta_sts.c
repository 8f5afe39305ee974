/*
 * mta_sts.c - RFC 8461 record and policy parsing, MX pattern matching.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/str.h"

#include "mta_sts.h"

static const char *const mode_names[] = {
    [MTA_STS_NONE] = "none",
    [MTA_STS_TESTING] = "testing",
    [MTA_STS_ENFORCE] = "enforce",
};

const char *mta_sts_mode_name(enum mta_sts_mode mode)
{
	return (size_t)mode < sizeof(mode_names) / sizeof(mode_names[0])
		   ? mode_names[mode]
		   : "?";
}

int mta_sts_mode_parse(const char *word, enum mta_sts_mode *mode_r)
{
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (strcasecmp(word, mode_names[i]) == 0) {
			*mode_r = (enum mta_sts_mode)i;
			return 0;
		}
	return -1;
}

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 5321 Domain: sub-domain *("." sub-domain), LDH labels that start
 * and end with a letter or digit, at most 63 octets each, 253 in all. */
static bool valid_domain(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (c == '-') {
			if (label == 0)
				return false;
		} else if (!is_alnum(c)) {
			return false;
		}
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

/* One mx value: ["*."] Domain (RFC 8461 3.2). */
static bool valid_mx(const char *s, size_t len)
{
	if (len > 2 && s[0] == '*' && s[1] == '.')
		return valid_domain(s + 2, len - 2);
	return valid_domain(s, len);
}

void mta_sts_policy_clear(struct mta_sts_policy *p)
{
	free(p->mx);
	memset(p, 0, sizeof(*p));
}

/* One "key: value" line (no line end), into the policy. */
static int policy_line(const char *l, size_t len, struct mta_sts_policy *out,
		       struct buf *mx, unsigned *seen, struct error *err)
{
	size_t k = 0, v, vend = len;
	char key[40], val[300];

	/* key = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
	while (k < len && (is_alnum((unsigned char)l[k]) || l[k] == '_' ||
			   l[k] == '-' || l[k] == '.'))
		k++;
	if (k == 0 || k > 32 || !is_alnum((unsigned char)l[0]))
		return error_set(err, ERR_PERM, "bad key in policy line");
	if (k >= len || l[k] != ':')
		return error_set(err, ERR_PERM, "policy line without \"key:\"");
	memcpy(key, l, k);
	key[k] = '\0';
	for (v = k + 1; v < len && is_wsp((unsigned char)l[v]); v++)
		;
	while (vend > v && is_wsp((unsigned char)l[vend - 1]))
		vend--;
	/* value = 1*(%x21-7E / WSP): no controls, no 8-bit. */
	for (size_t i = v; i < vend; i++) {
		unsigned char c = (unsigned char)l[i];
		if (!is_wsp(c) && (c < 0x21 || c > 0x7e))
			return error_set(err, ERR_PERM,
					 "bad character in policy field %s",
					 key);
	}
	if (vend == v)
		return error_set(err, ERR_PERM, "empty policy field %s", key);
	if (vend - v >= sizeof(val)) {
		if (strcasecmp(key, "mx") == 0 ||
		    strcasecmp(key, "mode") == 0 ||
		    strcasecmp(key, "version") == 0 ||
		    strcasecmp(key, "max_age") == 0)
			return error_set(err, ERR_PERM,
					 "policy field %s too long", key);
		return 0; /* an extension: ignored anyway */
	}
	memcpy(val, l + v, vend - v);
	val[vend - v] = '\0';

	if (strcasecmp(key, "version") == 0) {
		if (*seen & 1)
			return 0;
		*seen |= 1;
		if (strcasecmp(val, "STSv1") != 0)
			return error_set(err, ERR_PERM,
					 "unsupported policy version \"%s\"",
					 val);
	} else if (strcasecmp(key, "mode") == 0) {
		if (*seen & 2)
			return 0;
		*seen |= 2;
		if (mta_sts_mode_parse(val, &out->mode) < 0)
			return error_set(err, ERR_PERM,
					 "unknown policy mode \"%s\"", val);
	} else if (strcasecmp(key, "max_age") == 0) {
		unsigned long long age;
		size_t n = strlen(val);

		if (*seen & 4)
			return 0;
		*seen |= 4;
		/* max_age = 1*10DIGIT */
		if (n > 10 || strspn(val, "0123456789") != n ||
		    !str_to_u64(val, &age))
			return error_set(err, ERR_PERM,
					 "bad policy max_age \"%s\"", val);
		out->max_age = age > MTA_STS_MAX_AGE_CAP ? MTA_STS_MAX_AGE_CAP
							 : (uint32_t)age;
	} else if (strcasecmp(key, "mx") == 0) {
		if (!valid_mx(val, strlen(val)))
			return error_set(err, ERR_PERM, "bad policy mx \"%s\"",
					 val);
		if (out->nmx >= MTA_STS_MAX_MX)
			return error_set(err, ERR_PERM,
					 "more than %d mx patterns",
					 MTA_STS_MAX_MX);
		if (out->nmx > 0)
			buf_append_char(mx, ' ');
		buf_append_str(mx, str_lower(val));
		out->nmx++;
	}
	/* RFC 8461 3.2: other keys are extensions, ignored. */
	return 0;
}

int mta_sts_policy_parse(const char *text, size_t len,
			 struct mta_sts_policy *out, struct error *err)
{
	struct buf *mx = buf_new();
	unsigned seen = 0;
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	if (len > MTA_STS_POLICY_MAX) {
		buf_free(&mx);
		return error_set(err, ERR_PERM, "policy larger than %d bytes",
				 MTA_STS_POLICY_MAX);
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		size_t lend = end;

		/* sts-policy-term-delim = CRLF / LF */
		if (lend > pos && text[lend - 1] == '\r')
			lend--;
		/* XXX the ABNF has no empty lines; a blank one (a trailing
		 * extra delimiter, common) is skipped rather than fatal. */
		if (lend > pos && policy_line(text + pos, lend - pos, out, mx,
					      &seen, err) < 0) {
			buf_free(&mx);
			memset(out, 0, sizeof(*out));
			return -1;
		}
		pos = end + 1;
	}
	if ((seen & 1) == 0 || (seen & 2) == 0 || (seen & 4) == 0) {
		buf_free(&mx);
		memset(out, 0, sizeof(*out));
		return error_set(err, ERR_PERM, "policy lacks %s",
				 (seen & 1) == 0   ? "version"
				 : (seen & 2) == 0 ? "mode"
						   : "max_age");
	}
	if (out->nmx == 0 && out->mode != MTA_STS_NONE) {
		buf_free(&mx);
		memset(out, 0, sizeof(*out));
		return error_set(err, ERR_PERM, "policy has no mx");
	}
	out->mx = buf_steal(mx);
	buf_free(&mx);
	return 0;
}

int mta_sts_txt_parse(const char *text, size_t len, char *id_r,
		      struct error *err)
{
	size_t pos = 0;
	bool have_id = false;

	/* sts-text-record = sts-version 1*(sts-field-delim sts-field)
	 * [sts-field-delim]; sts-version = %s"v=STSv1" first. */
	if (len < 7 || memcmp(text, "v=STSv1", 7) != 0)
		return 0;
	pos = 7;
	if (pos < len && text[pos] != ';' && !is_wsp((unsigned char)text[pos]))
		return 0; /* "v=STSv10": not ours */
	while (pos < len) {
		size_t start, eq, end;

		/* sts-field-delim = *WSP ";" *WSP */
		while (pos < len && is_wsp((unsigned char)text[pos]))
			pos++;
		if (pos >= len)
			break;
		if (text[pos] != ';')
			return error_set(err, ERR_PERM,
					 "MTA-STS record: expected \";\"");
		pos++;
		while (pos < len && is_wsp((unsigned char)text[pos]))
			pos++;
		if (pos >= len)
			break;
		start = pos;
		while (pos < len && text[pos] != ';' &&
		       !is_wsp((unsigned char)text[pos]))
			pos++;
		end = pos;
		eq = start;
		while (eq < end && text[eq] != '=')
			eq++;
		if (eq == end || eq == start)
			return error_set(err, ERR_PERM,
					 "MTA-STS record: field without "
					 "name=value");
		if (eq - start == 2 && memcmp(text + start, "id", 2) == 0 &&
		    !have_id) {
			size_t n = end - eq - 1;

			/* sts-id = 1*32(ALPHA / DIGIT) */
			if (n == 0 || n > MTA_STS_ID_MAX)
				return error_set(err, ERR_PERM,
						 "MTA-STS record: bad id");
			for (size_t i = 0; i < n; i++)
				if (!is_alnum((unsigned char)text[eq + 1 + i]))
					return error_set(
					    err, ERR_PERM,
					    "MTA-STS record: bad id");
			memcpy(id_r, text + eq + 1, n);
			id_r[n] = '\0';
			have_id = true;
		}
		/* Other fields (sts-ext-name=value) are ignored. */
	}
	if (!have_id)
		return error_set(err, ERR_PERM, "MTA-STS record: no id");
	return 1;
}

bool mta_sts_mx_match(const char *pattern, const char *host)
{
	size_t hl = strlen(host), pl = strlen(pattern);

	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (pl > 0 && pattern[pl - 1] == '.')
		pl--;
	if (pl > 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* RFC 8461 4.1: the wildcard is one whole label:
		 * "*.example.com" matches "mx.example.com" only. */
		const char *dot = memchr(host, '.', hl);
		size_t rest;

		if (dot == NULL || dot == host)
			return false;
		rest = hl - (size_t)(dot + 1 - host);
		return rest == pl - 2 &&
		       strncasecmp(dot + 1, pattern + 2, rest) == 0;
	}
	return hl == pl && strncasecmp(host, pattern, hl) == 0;
}

bool mta_sts_mx_allowed(const char *patterns, const char *host)
{
	const char *p = patterns;

	while (p != NULL && *p != '\0') {
		const char *sp = strchr(p, ' ');
		size_t n = sp != NULL ? (size_t)(sp - p) : strlen(p);
		char one[300];

		if (n > 0 && n < sizeof(one)) {
			memcpy(one, p, n);
			one[n] = '\0';
			if (mta_sts_mx_match(one, host))
				return true;
		}
		p = sp != NULL ? sp + 1 : NULL;
	}
	return false;
}
