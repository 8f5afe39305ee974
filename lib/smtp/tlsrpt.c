/*
 * tlsrpt.c - RFC 8460 TXT record parser and JSON report builder
 * (tlsrpt.h).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"

#include "smtp/tlsrpt.h"

static const char *const result_types[] = {
    "starttls-not-supported", "certificate-host-mismatch",
    "certificate-expired",    "certificate-not-trusted",
    "validation-failure",     "tlsa-invalid",
    "dnssec-invalid",	      "dane-required",
    "sts-policy-fetch-error", "sts-policy-invalid",
    "sts-webpki-invalid",
};

bool tlsrpt_result_type_known(const char *name)
{
	for (size_t i = 0; i < sizeof(result_types) / sizeof(*result_types);
	     i++)
		if (strcmp(name, result_types[i]) == 0)
			return true;
	return false;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

bool tlsrpt_record_is_tlsrpt(const char *txt, size_t len)
{
	static const char v[] = "v=TLSRPTv1";
	size_t n = sizeof(v) - 1;

	/* RFC 8460 3: the version is case-sensitive (%s). */
	if (len < n || memcmp(txt, v, n) != 0)
		return false;
	return len == n || txt[n] == ';' || is_wsp(txt[n]);
}

/* tlsrpt-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
static bool ext_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > 32 || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-' && s[i] != '.')
			return false;
	return true;
}

/* tlsrpt-ext-value: 1*(%x21-3A / %x3C / %x3E-7E) */
static bool ext_value_ok(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || c == ';' || c == '=')
			return false;
	}
	return true;
}

/* One URI of rua= (commas and semicolons are %-encoded inside it). */
static int add_uri(struct tlsrpt_record *out, const char *s, size_t len,
		   struct error *err)
{
	if (len == 0)
		return error_set(err, ERR_PERM, "empty rua URI");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f)
			return error_set(err, ERR_PERM,
					 "bad character in rua URI");
	}
	if (!(len > 7 && strncasecmp(s, "mailto:", 7) == 0) &&
	    !(len > 6 && strncasecmp(s, "https:", 6) == 0))
		return 0; /* another scheme: not one we can use */
	if (len >= TLSRPT_URI_MAX || out->nrua == TLSRPT_RUA_MAX)
		return 0;
	memcpy(out->rua[out->nrua], s, len);
	out->rua[out->nrua][len] = '\0';
	out->nrua++;
	return 0;
}

static int parse_rua(struct tlsrpt_record *out, const char *s, size_t len,
		     struct error *err)
{
	size_t i = 0;

	if (len == 0)
		return error_set(err, ERR_PERM, "empty rua=");
	while (i < len) {
		size_t start = i, end;

		while (i < len && s[i] != ',')
			i++;
		end = i;
		while (end > start && is_wsp(s[end - 1]))
			end--;
		while (start < end && is_wsp(s[start]))
			start++;
		if (add_uri(out, s + start, end - start, err) < 0)
			return -1;
		if (i < len)
			i++; /* the ',' */
		if (i == len && s[len - 1] == ',')
			return error_set(err, ERR_PERM, "empty rua URI");
	}
	if (out->nrua == 0)
		return error_set(err, ERR_PERM,
				 "rua= has no mailto: or https: URI");
	return 0;
}

int tlsrpt_record_parse(const char *txt, size_t len, struct tlsrpt_record *out,
			struct error *err)
{
	bool have_rua = false;
	size_t i = sizeof("v=TLSRPTv1") - 1;

	memset(out, 0, sizeof(*out));
	if (memchr(txt, '\0', len) != NULL)
		return error_set(err, ERR_PERM, "NUL in the record");
	if (!tlsrpt_record_is_tlsrpt(txt, len))
		return error_set(err, ERR_PERM, "not v=TLSRPTv1");
	while (i < len) {
		size_t start, end, eq;

		/* field-delim = *WSP ";" *WSP */
		while (i < len && is_wsp(txt[i]))
			i++;
		if (i == len)
			break;
		if (txt[i] != ';')
			return error_set(err, ERR_PERM,
					 "';' expected at offset %zu", i);
		i++;
		while (i < len && is_wsp(txt[i]))
			i++;
		if (i == len)
			break; /* [field-delim] at the end */
		start = i;
		while (i < len && txt[i] != ';')
			i++;
		end = i;
		while (end > start && is_wsp(txt[end - 1]))
			end--;
		for (eq = start; eq < end && txt[eq] != '='; eq++)
			;
		if (eq == end)
			return error_set(err, ERR_PERM, "field without '='");
		if (eq - start == 3 && memcmp(txt + start, "rua", 3) == 0) {
			if (have_rua)
				return error_set(err, ERR_PERM,
						 "rua= given twice");
			have_rua = true;
			if (parse_rua(out, txt + eq + 1, end - eq - 1, err) < 0)
				return -1;
		} else if (!ext_name_ok(txt + start, eq - start) ||
			   !ext_value_ok(txt + eq + 1, end - eq - 1)) {
			return error_set(err, ERR_PERM, "malformed field");
		}
	}
	if (!have_rua)
		return error_set(err, ERR_PERM, "no rua=");
	return 0;
}

int tlsrpt_mailto_address(const char *uri, char *out, size_t outlen,
			  struct error *err)
{
	size_t n = 0;
	const char *p;

	if (strncasecmp(uri, "mailto:", 7) != 0)
		return error_set(err, ERR_PERM, "not a mailto: URI");
	for (p = uri + 7; *p != '\0' && *p != '?' && *p != ','; p++) {
		char c = *p;

		if (c == '%') {
			int hi = str_hex_digit(p[1]),
			    lo = hi < 0 ? -1 : str_hex_digit(p[2]);

			if (lo < 0)
				return error_set(err, ERR_PERM,
						 "bad %% escape in %s", uri);
			c = (char)(hi * 16 + lo);
			p += 2;
		}
		if ((unsigned char)c <= 0x20 || c == '<' || c == '>' ||
		    c == 0x7f)
			return error_set(err, ERR_PERM, "bad character in %s",
					 uri);
		if (n + 1 >= outlen)
			return error_set(err, ERR_PERM, "address too long");
		out[n++] = c;
	}
	out[n] = '\0';
	p = strrchr(out, '@');
	if (p == NULL || p == out || p[1] == '\0')
		return error_set(err, ERR_PERM, "no address in %s", uri);
	return 0;
}

/* ---- JSON (RFC 8259 strings; RFC 8460 4.4 fields). */

void tlsrpt_json_string(struct buf *out, const char *s)
{
	buf_append_char(out, '"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf_append_char(out, '\\');
			buf_append_char(out, (char)c);
		} else if (c == '\n') {
			buf_append_str(out, "\\n");
		} else if (c < 0x20 || c == 0x7f) {
			buf_printf(out, "\\u%04x", c);
		} else {
			buf_append_char(out, (char)c);
		}
	}
	buf_append_char(out, '"');
}

static void json_field(struct buf *out, const char *name, const char *value)
{
	tlsrpt_json_string(out, name);
	buf_append_char(out, ':');
	tlsrpt_json_string(out, value);
}

static void json_time(struct buf *out, const char *name, time_t t)
{
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_field(out, name, s);
}

/* policy-string: an array of the policy's lines (RFC 8460 4.4). */
static void json_lines(struct buf *out, const char *text)
{
	const char *p = text;
	bool first = true;

	buf_append_char(out, '[');
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char line[1024];

		if (n > 0) {
			if (n >= sizeof(line))
				n = sizeof(line) - 1;
			memcpy(line, p, n);
			line[n] = '\0';
			if (!first)
				buf_append_char(out, ',');
			tlsrpt_json_string(out, line);
			first = false;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	buf_append_char(out, ']');
}

static void json_policy(struct buf *out, const struct tlsrpt_policy *p)
{
	buf_append_str(out, "{\"policy\":{");
	json_field(out, "policy-type", p->type);
	if (p->policy_string[0] != '\0') {
		buf_append_str(out, ",\"policy-string\":");
		json_lines(out, p->policy_string);
	}
	buf_append_char(out, ',');
	json_field(out, "policy-domain", p->domain);
	if (p->mx_host[0] != '\0') {
		buf_append_char(out, ',');
		json_field(out, "mx-host", p->mx_host);
	}
	buf_printf(out,
		   "},\"summary\":{\"total-successful-session-count\":%" PRIu64
		   ",\"total-failure-session-count\":%" PRIu64 "}",
		   p->successes, p->failures);
	if (p->ndetails > 0) {
		buf_append_str(out, ",\"failure-details\":[");
		for (size_t i = 0; i < p->ndetails; i++) {
			const struct tlsrpt_failure *f = &p->details[i];

			buf_append_str(out, i > 0 ? ",{" : "{");
			json_field(out, "result-type", f->result_type);
			if (f->sending_ip[0] != '\0') {
				buf_append_char(out, ',');
				json_field(out, "sending-mta-ip",
					   f->sending_ip);
			}
			if (f->receiving_mx[0] != '\0') {
				buf_append_char(out, ',');
				json_field(out, "receiving-mx-hostname",
					   f->receiving_mx);
			}
			if (f->receiving_ip[0] != '\0') {
				buf_append_char(out, ',');
				json_field(out, "receiving-ip",
					   f->receiving_ip);
			}
			if (f->receiving_helo != NULL &&
			    f->receiving_helo[0] != '\0') {
				buf_append_char(out, ',');
				json_field(out, "receiving-mx-helo",
					   f->receiving_helo);
			}
			buf_printf(out,
				   ",\"failed-session-count\":%" PRIu64 "}",
				   f->count);
		}
		buf_append_char(out, ']');
	}
	buf_append_char(out, '}');
}

void tlsrpt_report_json(const struct tlsrpt_report *r, struct buf *out)
{
	buf_append_char(out, '{');
	json_field(out, "organization-name", r->organization);
	buf_append_str(out, ",\"date-range\":{");
	json_time(out, "start-datetime", r->start);
	buf_append_char(out, ',');
	json_time(out, "end-datetime", r->end);
	buf_append_str(out, "},");
	json_field(out, "contact-info", r->contact);
	buf_append_char(out, ',');
	json_field(out, "report-id", r->report_id);
	buf_append_str(out, ",\"policies\":[");
	for (size_t i = 0; i < r->npolicies; i++) {
		if (i > 0)
			buf_append_char(out, ',');
		json_policy(out, &r->policies[i]);
	}
	buf_append_str(out, "]}");
}

int tlsrpt_https_host(const char *uri, char *host, size_t hostlen,
		      unsigned *port, struct error *err)
{
	const char *p = uri, *h, *end;
	size_t n;
	unsigned long v = 0;

	if (strncasecmp(p, "https://", 8) != 0)
		return error_set(err, ERR_PERM, "not an https: URI");
	p += 8;
	if (*p == '[') {
		h = ++p;
		end = strchr(h, ']');
		if (end == NULL)
			return error_set(err, ERR_PERM, "https: unclosed '['");
		for (const char *q = h; q < end; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' &&
			    *q != '.')
				return error_set(err, ERR_PERM,
						 "https: bad IPv6 address");
		p = end + 1;
	} else {
		h = p;
		while (isalnum((unsigned char)*p) || *p == '-' || *p == '.')
			p++;
		end = p;
	}
	n = (size_t)(end - h);
	if (n == 0 || n >= hostlen)
		return error_set(err, ERR_PERM, "https: no or too long host");
	if (*p == ':') {
		const char *d = ++p;

		while (isdigit((unsigned char)*p) && v <= 65535)
			v = v * 10 + (unsigned long)(*p++ - '0');
		if (p == d || v == 0 || v > 65535)
			return error_set(err, ERR_PERM, "https: bad port");
	} else {
		v = 443;
	}
	if (*p != '\0' && *p != '/' && *p != '?' && *p != '#')
		return error_set(err, ERR_PERM,
				 "https: unexpected '%c' after the host", *p);
	for (size_t i = 0; i < n; i++)
		host[i] = (char)tolower((unsigned char)h[i]);
	host[n] = '\0';
	*port = (unsigned)v;
	return 0;
}
