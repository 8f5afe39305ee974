#include "mail/address.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "core/xmalloc.h"

#define ADDRESS_ERR_CODE "invalid_address"

/* Anything longer is refused before any work on it (IDN conversion). */
#define DOMAIN_INPUT_MAX 1024

__attribute__((format(printf, 2, 3))) static int fail(struct error *err,
						      const char *fmt, ...)
{
	char msg[ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_set_code(err, ERR_PERM, ADDRESS_ERR_CODE, "%s", msg);
}

/* A printable rendering of one offending byte for error messages. */
static const char *byte_name(unsigned char c, char tmp[8])
{
	if (c > 32 && c < 127 && c != '\'')
		snprintf(tmp, 8, "'%c'", c);
	else
		snprintf(tmp, 8, "0x%02x", c);
	return tmp;
}

/* RFC 5322 atext, as RFC 5321 4.1.2 uses it for Atom. */
static bool is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* RFC 5321 qtextSMTP: %d32-33 / %d35-91 / %d93-126. */
static bool is_qtext(unsigned char c)
{
	return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

/*
 * Length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF) of at least two bytes at s, or 0.
 */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (avail < n)
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

static bool idn_allowed(unsigned int flags)
{
	return (flags & (ADDRESS_IDN | ADDRESS_SMTPUTF8)) != 0;
}

/*
 * Local-part = Dot-string / Quoted-string, decoded into `local`.  Stops
 * at the first byte that cannot continue it; *pos is left there.
 */
static int parse_local(const char *s, size_t len, size_t *pos,
		       unsigned int flags, struct buf *local, struct error *err)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = *pos, start = *pos, n;
	char tmp[8];

	buf_reset(local);
	if (i < len && s[i] == '"') {
		for (i++;; i++) {
			if (i >= len)
				return fail(err, "unterminated quoted local "
						 "part");
			if (s[i] == '"')
				break;
			if (s[i] == '\\') {
				/* quoted-pairSMTP = %d92 %d32-126 */
				if (i + 1 >= len || u[i + 1] < 32 ||
				    u[i + 1] > 126)
					return fail(err, "invalid quoted pair "
							 "in local part");
				buf_append_char(local, s[++i]);
			} else if (is_qtext(u[i])) {
				buf_append_char(local, s[i]);
			} else if (u[i] >= 0x80 && (flags & ADDRESS_SMTPUTF8)) {
				if ((n = utf8_seq_len(u + i, len - i)) == 0)
					return fail(err, "invalid UTF-8 in "
							 "local part");
				buf_append(local, s + i, n);
				i += n - 1;
			} else if (u[i] >= 0x80) {
				return fail(err, "UTF-8 in local part needs "
						 "SMTPUTF8");
			} else {
				return fail(err,
					    "invalid character %s in "
					    "quoted local part",
					    byte_name(u[i], tmp));
			}
		}
		i++;
	} else {
		bool need_atom = true;

		for (; i < len; i++) {
			if (s[i] == '.') {
				if (need_atom)
					return fail(err, "%s dot in local part",
						    i == start ? "leading"
							       : "double");
				need_atom = true;
			} else if (is_atext(u[i])) {
				buf_append_char(local, s[i]);
				need_atom = false;
				continue;
			} else if (u[i] >= 0x80) {
				if (!(flags & ADDRESS_SMTPUTF8))
					return fail(err, "UTF-8 in local part "
							 "needs SMTPUTF8");
				if ((n = utf8_seq_len(u + i, len - i)) == 0)
					return fail(err, "invalid UTF-8 in "
							 "local part");
				buf_append(local, s + i, n);
				i += n - 1;
				need_atom = false;
				continue;
			} else {
				break;
			}
			buf_append_char(local, '.');
		}
		if (i == start)
			return fail(err, "empty local part");
		if (need_atom)
			return fail(err, "trailing dot in local part");
	}
	/* XXX RFC 5321 allows the empty Quoted-string ""; no mailbox of
	 * ours has one and it would look like the null path. */
	if (buf_len(local) == 0)
		return fail(err, "empty local part");
	if (i - start > ADDRESS_LOCAL_MAX)
		return fail(err, "local part too long (%zu > %d octets)",
			    i - start, ADDRESS_LOCAL_MAX);
	if (flags & ADDRESS_LOWER_LOCAL)
		str_lower(buf_mut(local));
	*pos = i;
	return 0;
}

/* LDH labels and length limits on an ASCII domain (RFC 1035, 5321). */
static int check_ldh(const char *d, size_t len, struct error *err)
{
	size_t label = 0;
	bool numeric = true;
	char tmp[8];

	if (len == 0)
		return fail(err, "empty domain");
	if (len > ADDRESS_DOMAIN_MAX)
		return fail(err, "domain too long (%zu > %d octets)", len,
			    ADDRESS_DOMAIN_MAX);
	if (d[len - 1] == '.')
		return fail(err, "domain ends with a dot");
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)d[i] : '.';

		if (c == '.') {
			if (label == 0)
				return fail(err, "empty label in domain");
			if (label > ADDRESS_LABEL_MAX)
				return fail(err,
					    "domain label too long "
					    "(%zu > %d octets)",
					    label, ADDRESS_LABEL_MAX);
			if (d[i - 1] == '-')
				return fail(err, "domain label ends with a "
						 "hyphen");
			if (i < len) {
				label = 0;
				numeric = true;
			}
			continue;
		}
		if (c == '-' && label == 0)
			return fail(err, "domain label starts with a hyphen");
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return fail(err, "invalid character %s in domain",
				    byte_name(c, tmp));
		if (!(c >= '0' && c <= '9'))
			numeric = false;
		label++;
	}
	/* No top-level label is all-numeric (RFC 3696 2); such a "domain"
	 * is an IP address written without brackets, as Postfix says. */
	if (numeric)
		return fail(err, "numeric domain: an IP address must be "
				 "written as an address literal [1.2.3.4]");
	return 0;
}

int address_domain_normalize(const char *domain, size_t len, unsigned int flags,
			     struct buf *out, struct error *err)
{
	const unsigned char *u = (const unsigned char *)domain;
	bool non_ascii = false, alabel = false;
	char tmp[8];

	buf_reset(out);
	if (len == 0)
		return fail(err, "empty domain");
	if (len > DOMAIN_INPUT_MAX)
		return fail(err, "domain too long (%zu octets)", len);
	if (domain[len - 1] == '.')
		return fail(err, "domain ends with a dot");
	for (size_t i = 0; i < len; i++) {
		if (u[i] == '\0')
			return fail(err, "invalid character %s in domain",
				    byte_name(u[i], tmp));
		if (u[i] >= 0x80)
			non_ascii = true;
		if ((i == 0 || domain[i - 1] == '.') && len - i >= 4 &&
		    strncasecmp(domain + i, "xn--", 4) == 0)
			alabel = true;
	}
	if (non_ascii && !idn_allowed(flags))
		return fail(err, "UTF-8 in domain needs SMTPUTF8");
	if (non_ascii || alabel) {
		/* IDNA2008 with UTS #46 non-transitional processing
		 * ("faß.de" stays ß), which also lower-cases, checks
		 * A-labels (xn--) round trip and refuses invalid ones. */
		char *in = xstrndup(domain, len), *ace = NULL;
		int rc = idn2_to_ascii_8z(
		    in, &ace, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);

		free(in);
		if (rc != IDN2_OK) {
			free(ace);
			return fail(err,
				    "invalid internationalized domain: "
				    "%s",
				    idn2_strerror(rc));
		}
		buf_set_str(out, ace);
		free(ace);
	} else {
		buf_append(out, domain, len);
	}
	str_lower(buf_mut(out));
	if (check_ldh(buf_data(out), buf_len(out), err) < 0) {
		buf_reset(out);
		return -1;
	}
	return 0;
}

/*
 * address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 * General-address-literal ) "]", RFC 5321 4.1.3.  Rewritten in the
 * inet_ntop form so that one host has one spelling.
 */
static int literal_normalize(const char *s, size_t len, struct buf *out,
			     struct error *err)
{
	char addr[64], text[INET6_ADDRSTRLEN];
	unsigned char bin[16];

	if (len < 2 || s[len - 1] != ']')
		return fail(err, "unterminated address literal");
	s++;
	len -= 2;
	if (len >= 5 && strncasecmp(s, "IPv6:", 5) == 0) {
		if (len - 5 >= sizeof(addr))
			return fail(err, "invalid IPv6 address literal");
		memcpy(addr, s + 5, len - 5);
		addr[len - 5] = '\0';
		if (inet_pton(AF_INET6, addr, bin) != 1)
			return fail(err, "invalid IPv6 address literal");
		inet_ntop(AF_INET6, bin, text, sizeof(text));
		buf_set_str(out, "[IPv6:");
	} else {
		if (memchr(s, ':', len) != NULL)
			return fail(err, "unsupported address literal "
					 "(only IPv4 and IPv6)");
		if (len >= sizeof(addr))
			return fail(err, "invalid IPv4 address literal");
		memcpy(addr, s, len);
		addr[len] = '\0';
		if (inet_pton(AF_INET, addr, bin) != 1)
			return fail(err, "invalid IPv4 address literal");
		inet_ntop(AF_INET, bin, text, sizeof(text));
		buf_set_str(out, "[");
	}
	buf_append_str(out, text);
	buf_append_char(out, ']');
	return 0;
}

static int domain_or_literal(const char *s, size_t len, unsigned int flags,
			     struct buf *out, struct error *err)
{
	if (len > 0 && s[0] == '[')
		return literal_normalize(s, len, out, err);
	return address_domain_normalize(s, len, flags, out, err);
}

static void address_set(struct mail_address *addr, const char *local,
			const char *domain)
{
	addr->local = xstrdup(local);
	addr->domain = xstrdup(domain);
}

static bool is_dot_string(const char *s);

/* Length of a decoded local part as address_format() writes it. */
static size_t local_wire_len(const char *local)
{
	size_t n = strlen(local);

	if (is_dot_string(local))
		return n;
	n += 2;
	for (; *local != '\0'; local++)
		if (*local == '"' || *local == '\\')
			n++;
	return n;
}

/* Parse "local@domain" where the domain is s[*pos] up to `end`. */
static int parse_mailbox_span(const char *s, size_t len, size_t *pos,
			      unsigned int flags, bool in_path,
			      struct mail_address *addr_r, struct error *err)
{
	struct buf *local = buf_new(), *domain = buf_new();
	size_t start = *pos, i = *pos, dstart, dend;
	char tmp[8];
	int ret = -1;

	if (parse_local(s, len, &i, flags, local, err) < 0)
		goto out;
	if (i >= len || (in_path && s[i] == '>')) {
		if (in_path && i < len && (flags & ADDRESS_ALLOW_POSTMASTER) &&
		    strcasecmp(buf_data(local), "postmaster") == 0) {
			/* RFC 5321 4.5.1: RCPT TO:<Postmaster> */
			address_set(addr_r, "postmaster", "");
			*pos = i;
			ret = 0;
			goto out;
		}
		fail(err, "missing @ in mailbox");
		goto out;
	}
	if (s[i] != '@') {
		fail(err, "invalid character %s in local part",
		     byte_name((unsigned char)s[i], tmp));
		goto out;
	}
	dstart = ++i;
	if (in_path) {
		const char *gt = memchr(s + dstart, '>', len - dstart);

		if (gt == NULL) {
			fail(err, "missing > at the end of the path");
			goto out;
		}
		dend = (size_t)(gt - s);
	} else {
		dend = len;
	}
	if (dend - start > ADDRESS_MAILBOX_MAX) {
		fail(err, "mailbox too long (%zu > %d octets)", dend - start,
		     ADDRESS_MAILBOX_MAX);
		goto out;
	}
	if (domain_or_literal(s + dstart, dend - dstart, flags, domain, err) <
	    0)
		goto out;
	/* A-labels are longer than U-labels: check the stored form too. */
	if (local_wire_len(buf_data(local)) + 1 + buf_len(domain) >
	    ADDRESS_MAILBOX_MAX) {
		fail(err, "mailbox too long after IDN conversion");
		goto out;
	}
	address_set(addr_r, buf_data(local), buf_data(domain));
	*pos = dend;
	ret = 0;
out:
	buf_free(&local);
	buf_free(&domain);
	return ret;
}

void address_clear(struct mail_address *addr)
{
	XFREE(addr->local);
	XFREE(addr->domain);
}

bool address_is_null(const struct mail_address *addr)
{
	return addr->local != NULL && addr->local[0] == '\0' &&
	       addr->domain != NULL && addr->domain[0] == '\0';
}

int address_parse_mailbox(const char *s, size_t len, unsigned int flags,
			  struct mail_address *addr_r, struct error *err)
{
	size_t pos = 0;

	addr_r->local = addr_r->domain = NULL;
	if (len > ADDRESS_MAILBOX_MAX)
		return fail(err, "mailbox too long (%zu > %d octets)", len,
			    ADDRESS_MAILBOX_MAX);
	return parse_mailbox_span(s, len, &pos, flags, false, addr_r, err);
}

/*
 * A-d-l = At-domain *( "," At-domain ) ":", RFC 5321 4.1.2.  Checked and
 * dropped: RFC 5321 C. says to ignore source routes.
 */
static int skip_source_route(const char *s, size_t len, size_t *pos,
			     unsigned int flags, struct error *err)
{
	struct buf *scratch = buf_new();
	size_t i = *pos;
	int ret = -1;

	for (;;) {
		size_t start;

		if (i >= len || s[i] != '@') {
			fail(err, "invalid source route");
			goto out;
		}
		start = ++i;
		while (i < len && s[i] != ',' && s[i] != ':' && s[i] != '>')
			i++;
		if (address_domain_normalize(s + start, i - start, flags,
					     scratch, err) < 0) {
			error_prefix(err, "source route");
			goto out;
		}
		if (i < len && s[i] == ',') {
			i++;
			continue;
		}
		if (i < len && s[i] == ':')
			break;
		fail(err, "source route not ended by ':'");
		goto out;
	}
	*pos = i + 1;
	ret = 0;
out:
	buf_free(&scratch);
	return ret;
}

int address_parse_path(const char *s, size_t len, unsigned int flags,
		       struct mail_address *addr_r, size_t *consumed_r,
		       struct error *err)
{
	size_t pos = 1;

	addr_r->local = addr_r->domain = NULL;
	if (len == 0 || s[0] != '<')
		return fail(err, "path must start with <");
	if (len >= 2 && s[1] == '>') {
		if (!(flags & ADDRESS_ALLOW_NULL))
			return fail(err, "null path <> not allowed here");
		address_set(addr_r, "", "");
		pos = 2;
		goto done;
	}
	if (pos < len && s[pos] == '@' &&
	    skip_source_route(s, len, &pos, flags, err) < 0)
		return -1;
	if (parse_mailbox_span(s, len, &pos, flags, true, addr_r, err) < 0)
		return -1;
	/* parse_mailbox_span stops on the ">" in a path. */
	if (pos >= len || s[pos] != '>') {
		address_clear(addr_r);
		return fail(err, "missing > at the end of the path");
	}
	pos++;
	/* RFC 5321 4.5.3.1.3, counting "<", ">" and any source route. */
	if (pos > ADDRESS_PATH_MAX) {
		address_clear(addr_r);
		return fail(err, "path too long (%zu > %d octets)", pos,
			    ADDRESS_PATH_MAX);
	}
done:
	if (consumed_r != NULL) {
		*consumed_r = pos;
	} else if (pos != len) {
		address_clear(addr_r);
		return fail(err, "unexpected characters after the path");
	}
	return 0;
}

/* Dot-string, with RFC 6531 UTF-8 counted as atext. */
static bool is_dot_string(const char *s)
{
	bool need_atom = true;

	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (need_atom)
				return false;
			need_atom = true;
		} else if (is_atext((unsigned char)*s) ||
			   (unsigned char)*s >= 0x80) {
			need_atom = false;
		} else {
			return false;
		}
	}
	return !need_atom;
}

void address_format(const struct mail_address *addr, struct buf *out)
{
	buf_reset(out);
	if (addr->local == NULL || addr->local[0] == '\0')
		return;
	if (is_dot_string(addr->local)) {
		buf_append_str(out, addr->local);
	} else {
		buf_append_char(out, '"');
		for (const char *p = addr->local; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				buf_append_char(out, '\\');
			buf_append_char(out, *p);
		}
		buf_append_char(out, '"');
	}
	if (addr->domain != NULL && addr->domain[0] != '\0') {
		buf_append_char(out, '@');
		buf_append_str(out, addr->domain);
	}
}

int address_normalize(const char *mailbox, unsigned int flags, struct buf *out,
		      struct error *err)
{
	struct mail_address addr;

	if (address_parse_mailbox(mailbox, strlen(mailbox), flags, &addr, err) <
	    0)
		return -1;
	address_format(&addr, out);
	address_clear(&addr);
	return 0;
}

bool address_split_local(const char *local, const char *delimiters,
			 size_t *user_len_r, const char **extension_r)
{
	size_t len = strlen(local), n;

	if (delimiters == NULL || delimiters[0] == '\0')
		return false;
	/* Postfix's split_addr() never splits these. */
	if (strcasecmp(local, "postmaster") == 0 ||
	    strcasecmp(local, "mailer-daemon") == 0)
		return false;
	if (strchr(delimiters, '-') != NULL &&
	    (strncasecmp(local, "owner-", 6) == 0 ||
	     (len > 8 && strcasecmp(local + len - 8, "-request") == 0)))
		return false;
	n = strcspn(local, delimiters);
	if (n == 0 || local[n] == '\0')
		return false;
	*user_len_r = n;
	*extension_r = local + n + 1;
	return true;
}
