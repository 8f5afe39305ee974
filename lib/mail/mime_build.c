/* mime_build - write a new MIME message (see mime_build.h). */
#include "mail/mime_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "mail/address.h"
#include "mail/mime.h"
#include "mail/mime_decode.h"

/* RFC 2047 2: an encoded word is at most 75 characters; a line holding
 * them at most 76. */
#define WORD_MAX 75
#define EW_OVERHEAD 12 /* "=?utf-8?B?" + "?=" */
/* Longest run without a blank we write unencoded: the line must stay
 * under 998 octets with the field name in front. */
#define PLAIN_WORD_MAX 900
/* Longer display names are encoded (encoded words fold; a quoted
 * string would have to stay on one line). */
#define NAME_QUOTED_MAX 200
/* "=_" never occurs in base64 or quoted-printable output. */
#define BOUNDARY_PREFIX "=_pst_"

static void random_bytes(void *p, size_t n)
{
	unsigned char *b = p;
	while (n > 0) {
		ssize_t r = getrandom(b, n, 0);
		if (r <= 0) {
			/* getrandom only fails on a pre-3.17 kernel or a
			 * signal; the clock still makes ids unique enough. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			for (size_t i = 0; i < n; i++)
				b[i] ^= (unsigned char)(ts.tv_nsec >> (i % 4 * 8)) ^
					(unsigned char)(getpid() + (int)i);
			return;
		}
		b += r;
		n -= (size_t)r;
	}
}

static void random_alnum(char *out, size_t n)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[64];
	while (n > 0) {
		size_t k = n < sizeof(rnd) ? n : sizeof(rnd);
		random_bytes(rnd, k);
		for (size_t i = 0; i < k; i++)
			*out++ = set[rnd[i] % 36];
		n -= k;
	}
	*out = '\0';
}

void mime_build_message_id(const char *domain, char *out, size_t size)
{
	char rnd[27];
	random_alnum(rnd, 26);
	if (domain == NULL || *domain == '\0' || strpbrk(domain, " <>\r\n"))
		domain = "localhost";
	snprintf(out, size, "<%s@%s>", rnd, domain);
}

void mime_build_crlf(const char *in, size_t len, struct buf *out)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] != '\r' && in[i] != '\n')
			continue;
		buf_append(out, in + start, i - start);
		buf_append(out, "\r\n", 2);
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
			i++;
		start = i + 1;
	}
	buf_append(out, in + start, len - start);
}

/* ---- Quoted-printable (RFC 2045 6.7). */

static bool at_crlf(const char *in, size_t len, size_t i)
{
	return i + 1 < len && in[i] == '\r' && in[i + 1] == '\n';
}

/* A "." or "From " at the start of a line survives gateways (SMTP
 * dot-stuffing bugs, mbox) better escaped. */
static bool escape_at_start(const char *in, size_t len, size_t i)
{
	return in[i] == '.' ||
	       (in[i] == 'F' && i + 5 <= len && memcmp(in + i, "From ", 5) == 0);
}

void mime_build_qp(const char *in, size_t len, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;
	for (size_t i = 0; i < len; i++) {
		if (at_crlf(in, len, i)) {
			buf_append(out, "\r\n", 2);
			col = 0;
			i++;
			continue;
		}
		unsigned char c = (unsigned char)in[i];
		bool eol = i + 1 == len || at_crlf(in, len, i + 1);
		bool lit = (c >= 33 && c <= 126 && c != '=') ||
			   ((c == ' ' || c == '\t') && !eol);
		if (col == 0 && escape_at_start(in, len, i))
			lit = false;
		size_t w = lit ? 1 : 3;
		/* Keep room for the soft break "=" unless the line ends
		 * here anyway. */
		if (col + w > (eol ? 76u : 75u)) {
			buf_append(out, "=\r\n", 3);
			col = 0;
			if (escape_at_start(in, len, i)) {
				lit = false;
				w = 3;
			}
		}
		if (lit) {
			buf_append_char(out, (char)c);
		} else {
			char e[3] = {'=', hex[c >> 4], hex[c & 15]};
			buf_append(out, e, 3);
		}
		col += w;
	}
}

/* ---- RFC 2047 encoded words. */

static bool q_safe(unsigned char c)
{
	/* RFC 2047 5(3): what may stand unencoded in a phrase too. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '!' || c == '*' || c == '+' ||
	       c == '-' || c == '/';
}

static size_t q_width(unsigned char c)
{
	return (q_safe(c) || c == ' ') ? 1 : 3;
}

static size_t char_len(const char *s, size_t len)
{
	size_t n = mime_utf8_decode((const unsigned char *)s, len, NULL);
	return n == 0 ? 1 : n;
}

static void put_sep(struct buf *out, size_t *col, size_t next)
{
	if (*col + 1 + next > MIME_BUILD_LINE && *col > 1) {
		buf_append(out, "\r\n ", 3);
		*col = 1;
	} else {
		buf_append_char(out, ' ');
		(*col)++;
	}
}

void mime_build_2047(struct buf *out, const char *text, size_t len,
		     size_t *col)
{
	size_t qlen = 0;
	for (size_t i = 0; i < len; i++)
		qlen += q_width((unsigned char)text[i]);
	bool b64 = qlen > (len + 2) / 3 * 4;
	static const char hex[] = "0123456789ABCDEF";
	size_t i = 0;

	do {
		/* Room for this word: fold first when little is left. */
		size_t room = *col + 1 < 76 ? 76 - *col - 1 : 0;
		if (room < EW_OVERHEAD + 12 && *col > 1) {
			buf_append(out, "\r\n ", 3);
			*col = 1;
		} else {
			buf_append_char(out, ' ');
			(*col)++;
		}
		room = 76 - *col;
		if (room > WORD_MAX)
			room = WORD_MAX;
		size_t avail = room - EW_OVERHEAD;
		size_t start = i, enc = 0;
		/* Whole characters only, at least one per word. */
		while (i < len) {
			size_t cl = char_len(text + i, len - i);
			size_t w;
			if (b64) {
				w = (i + cl - start + 2) / 3 * 4;
				if (w > avail && i > start)
					break;
			} else {
				w = 0;
				for (size_t k = 0; k < cl; k++)
					w += q_width((unsigned char)text[i + k]);
				if (enc + w > avail && i > start)
					break;
				w += enc;
			}
			enc = w;
			i += cl;
		}
		size_t before = buf_len(out);
		buf_append_str(out, b64 ? "=?utf-8?B?" : "=?utf-8?Q?");
		if (b64) {
			mime_base64_encode(text + start, i - start, false, out);
		} else {
			for (size_t k = start; k < i; k++) {
				unsigned char c = (unsigned char)text[k];
				if (c == ' ') {
					buf_append_char(out, '_');
				} else if (q_safe(c)) {
					buf_append_char(out, (char)c);
				} else {
					char e[3] = {'=', hex[c >> 4], hex[c & 15]};
					buf_append(out, e, 3);
				}
			}
		}
		buf_append(out, "?=", 2);
		*col += buf_len(out) - before;
	} while (i < len);
}

/* Header text: valid UTF-8, CR and LF made blanks. */
static void header_clean(const char *s, struct buf *out)
{
	buf_reset(out);
	if (s == NULL)
		return;
	mime_utf8_sanitize(s, strlen(s), out);
	char *p = buf_mut(out);
	for (size_t i = 0; i < buf_len(out); i++) {
		if (p[i] == '\r' || p[i] == '\n')
			p[i] = ' ';
	}
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Must this unstructured text be encoded to come back unchanged? */
static bool needs_2047(const char *s, size_t len)
{
	if (len == 0)
		return false;
	if (is_blank(s[0]) || is_blank(s[len - 1]))
		return true; /* unfolding trims outer blanks */
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x7f || (c < 0x20 && c != '\t'))
			return true;
		if (c == '=' && i + 1 < len && s[i + 1] == '?')
			return true;
		run = is_blank((char)c) ? 0 : run + 1;
		if (run > PLAIN_WORD_MAX)
			return true;
	}
	return false;
}

/* Plain text folded at its own blanks (each fold keeps the blank). */
static void put_folded(struct buf *out, const char *s, size_t len,
		       size_t *col)
{
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && is_blank(s[j]))
			j++;
		while (j < len && !is_blank(s[j]))
			j++;
		if (i > 0 && *col + (j - i) > MIME_BUILD_LINE && *col > 1) {
			buf_append(out, "\r\n", 2);
			*col = 0;
		}
		buf_append(out, s + i, j - i);
		*col += j - i;
		i = j;
	}
}

void mime_build_unstructured(struct buf *out, const char *name,
			     const char *value)
{
	struct buf *v = buf_new();
	header_clean(value, v);
	buf_append_str(out, name);
	buf_append_char(out, ':');
	size_t col = strlen(name) + 1;
	if (needs_2047(buf_data(v), buf_len(v))) {
		mime_build_2047(out, buf_data(v), buf_len(v), &col);
	} else if (buf_len(v) > 0) {
		buf_append_char(out, ' ');
		col++;
		put_folded(out, buf_data(v), buf_len(v), &col);
	}
	buf_append(out, "\r\n", 2);
	buf_free(&v);
}

/* Blank-separated tokens (message ids), folded between them; nothing
 * written when no token is left. */
static void put_tokens(struct buf *out, const char *name, const char *value)
{
	struct buf *v = buf_new();
	header_clean(value, v);
	size_t start = buf_len(out);
	buf_append_str(out, name);
	buf_append_char(out, ':');
	size_t col = strlen(name) + 1;
	const char *s = buf_data(v);
	size_t len = buf_len(v), i = 0;
	bool any = false;
	while (i < len) {
		while (i < len && is_blank(s[i]))
			i++;
		size_t j = i;
		while (j < len && !is_blank(s[j]))
			j++;
		bool ok = j > i && j - i <= PLAIN_WORD_MAX;
		for (size_t k = i; k < j && ok; k++)
			ok = (unsigned char)s[k] > 0x20 && (unsigned char)s[k] < 0x7f;
		/* A message id is printable ASCII (RFC 5322 3.6.4); junk
		 * from an old message is dropped, not carried along. */
		if (ok) {
			put_sep(out, &col, j - i);
			buf_append(out, s + i, j - i);
			col += j - i;
			any = true;
		}
		i = j;
	}
	if (any)
		buf_append(out, "\r\n", 2);
	else
		buf_truncate(out, start);
	buf_free(&v);
}

static bool name_needs_2047(const char *s, size_t len)
{
	if (len > NAME_QUOTED_MAX)
		return true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x7f || (c < 0x20 && c != '\t'))
			return true;
		if (c == '=' && i + 1 < len && s[i + 1] == '?')
			return true;
	}
	return false;
}

static void put_token(struct buf *out, size_t *col, const char *tok,
		      size_t len)
{
	put_sep(out, col, len);
	buf_append(out, tok, len);
	*col += len;
}

int mime_build_addresses(struct buf *out, const char *name,
			 const struct mime_build_addr *addrs, size_t n,
			 struct error *err)
{
	struct buf *line = buf_new(), *nm = buf_new(), *wire = buf_new(),
		   *tok = buf_new();
	int ret = 0;
	buf_append_str(line, name);
	buf_append_char(line, ':');
	size_t col = strlen(name) + 1;

	for (size_t i = 0; i < n; i++) {
		const char *a = addrs[i].address != NULL ? addrs[i].address : "";
		struct mail_address ma;
		struct error aerr;
		if (address_parse_mailbox(a, strlen(a), ADDRESS_IDN, &ma,
					  &aerr) < 0) {
			error_set_code(err, ERR_PERM, MIME_BUILD_ERR_INVALID,
				       "%s: %s", name, aerr.msg);
			ret = -1;
			break;
		}
		address_format(&ma, wire);
		address_clear(&ma);
		if (i > 0) {
			buf_append_char(line, ',');
			col++;
		}
		header_clean(addrs[i].name, nm);
		const char *s = buf_data(nm);
		size_t len = buf_len(nm);
		while (len > 0 && is_blank(s[0]))
			s++, len--;
		while (len > 0 && is_blank(s[len - 1]))
			len--;
		if (len == 0) {
			put_token(line, &col, buf_data(wire), buf_len(wire));
			continue;
		}
		if (name_needs_2047(s, len)) {
			mime_build_2047(line, s, len, &col);
		} else {
			buf_set_str(tok, "\"");
			for (size_t k = 0; k < len; k++) {
				if (s[k] == '"' || s[k] == '\\')
					buf_append_char(tok, '\\');
				buf_append_char(tok, s[k]);
			}
			buf_append_char(tok, '"');
			put_token(line, &col, buf_data(tok), buf_len(tok));
		}
		buf_set_str(tok, "<");
		buf_append(tok, buf_data(wire), buf_len(wire));
		buf_append_char(tok, '>');
		put_token(line, &col, buf_data(tok), buf_len(tok));
	}
	if (ret == 0) {
		buf_append(line, "\r\n", 2);
		buf_append(out, buf_data(line), buf_len(line));
	}
	buf_free(&line);
	buf_free(&nm);
	buf_free(&wire);
	buf_free(&tok);
	return ret;
}

/* ---- Parameters (RFC 2045 5.1, RFC 2231). */

static bool attr_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("!#$&+-.^_`|~", c) != NULL;
}

/* ";\r\n name=value" for a file name, in RFC 2231 form when it is not
 * plain printable ASCII that fits a line. */
static void put_param(struct buf *out, const char *name, const char *value)
{
	struct buf *v = buf_new();
	header_clean(value, v);
	const char *s = buf_data(v);
	size_t len = buf_len(v);
	bool plain = len <= 60;
	for (size_t i = 0; i < len && plain; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			plain = false;
	}
	if (plain) {
		buf_printf(out, ";\r\n %s=\"%s\"", name, s);
		buf_free(&v);
		return;
	}
	/* Segments of at most ~60 characters, whole characters only. */
	struct buf *segs = buf_new();
	unsigned nseg = 0;
	size_t i = 0;
	struct buf *seg = buf_new();
	while (i < len) {
		buf_reset(seg);
		if (nseg == 0)
			buf_append_str(seg, "utf-8''");
		while (i < len && buf_len(seg) < 60) {
			size_t cl = char_len(s + i, len - i);
			for (size_t k = 0; k < cl; k++) {
				unsigned char c = (unsigned char)s[i + k];
				if (attr_char(c))
					buf_append_char(seg, (char)c);
				else
					buf_printf(seg, "%%%02X", c);
			}
			i += cl;
		}
		buf_printf(segs, ";\r\n %s*%u*=%s", name, nseg, buf_data(seg));
		nseg++;
	}
	if (nseg == 1) {
		/* One segment: the plain extended form "name*=". */
		buf_reset(seg);
		buf_printf(seg, "utf-8''");
		for (size_t k = 0; k < len; k++) {
			unsigned char c = (unsigned char)s[k];
			if (attr_char(c))
				buf_append_char(seg, (char)c);
			else
				buf_printf(seg, "%%%02X", c);
		}
		buf_printf(out, ";\r\n %s*=%s", name, buf_data(seg));
	} else if (nseg == 0) {
		buf_printf(out, ";\r\n %s=\"\"", name);
	} else {
		buf_append(out, buf_data(segs), buf_len(segs));
	}
	buf_free(&seg);
	buf_free(&segs);
	buf_free(&v);
}

/* ---- Entities. */

static bool token_char(unsigned char c)
{
	return c > ' ' && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* "type/subtype" lower-cased when valid, else application/octet-stream. */
static void content_type(const char *ct, struct buf *out)
{
	buf_reset(out);
	const char *slash = ct != NULL ? strchr(ct, '/') : NULL;
	bool ok = slash != NULL && slash > ct && slash[1] != '\0' &&
		  strlen(ct) < 128;
	for (const char *p = ct; ok && *p; p++) {
		if (p != slash && !token_char((unsigned char)*p))
			ok = false;
	}
	if (!ok) {
		buf_set_str(out, "application/octet-stream");
		return;
	}
	for (const char *p = ct; *p; p++) {
		char c = *p;
		buf_append_char(out, (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c);
	}
}

/* Can data go as it is: no NUL, lines of at most 998 octets, CRLF
 * line ends only (after mime_build_crlf)?  *eight_r: 8-bit bytes. */
static bool sendable_raw(const char *d, size_t len, bool *eight_r)
{
	size_t line = 0;
	*eight_r = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == 0)
			return false;
		if (c >= 0x80)
			*eight_r = true;
		if (c == '\n') {
			line = 0;
			continue;
		}
		if (++line > 998)
			return false;
	}
	return true;
}

static bool text_7bit(const char *d, size_t len)
{
	bool eight;
	if (!sendable_raw(d, len, &eight) || eight)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];
		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
			return false;
	}
	return true;
}

static struct buf *text_entity(const char *subtype, const char *text,
			       size_t len)
{
	struct buf *e = buf_new(), *t = buf_new_size(len + len / 16 + 16);
	if (text != NULL)
		mime_build_crlf(text, len, t);
	buf_printf(e, "Content-Type: text/%s; charset=utf-8\r\n", subtype);
	if (text_7bit(buf_data(t), buf_len(t))) {
		buf_append_str(e, "Content-Transfer-Encoding: 7bit\r\n\r\n");
		buf_append(e, buf_data(t), buf_len(t));
	} else {
		buf_append_str(e, "Content-Transfer-Encoding: "
				  "quoted-printable\r\n\r\n");
		mime_build_qp(buf_data(t), buf_len(t), e);
	}
	buf_free(&t);
	return e;
}

/* Does a multipart inside an embedded message have a boundary that is a
 * prefix of ours ("=_pst_" + random)?  Parsers match boundaries by
 * prefix, innermost first, so it would swallow our closing lines. */
static bool inner_boundary_clash(const struct mime_part *p)
{
	for (; p != NULL; p = p->next) {
		const char *b = mime_param_get(p->params, p->param_count,
					       "boundary");
		if (b != NULL && strncmp(b, BOUNDARY_PREFIX,
					 strlen(b) < 6 ? strlen(b) : 6) == 0)
			return true;
		if (inner_boundary_clash(p->children))
			return true;
	}
	return false;
}

static struct buf *part_entity(const struct mime_build_part *p,
			       bool *eightbit)
{
	struct buf *e = buf_new_size(p->len / 3 * 4 + p->len / 38 + 512);
	struct buf *ct = buf_new();
	content_type(p->content_type, ct);
	buf_append_str(e, "Content-Type: ");
	buf_append(e, buf_data(ct), buf_len(ct));
	if (p->filename != NULL && *p->filename != '\0')
		put_param(e, "name", p->filename);
	buf_append_str(e, "\r\nContent-Disposition: ");
	buf_append_str(e, p->inline_ ? "inline" : "attachment");
	if (p->filename != NULL && *p->filename != '\0')
		put_param(e, "filename", p->filename);
	buf_append_str(e, "\r\n");
	if (p->content_id != NULL && *p->content_id != '\0' &&
	    strpbrk(p->content_id, "<>\r\n \t") == NULL &&
	    strlen(p->content_id) < 200)
		buf_printf(e, "Content-ID: <%s>\r\n", p->content_id);

	bool raw = false, eight = false;
	struct buf *t = NULL;
	if (buf_eq_str(ct, "message/rfc822")) {
		t = buf_new_size(p->len + p->len / 16 + 16);
		mime_build_crlf(p->data, p->len, t);
		raw = sendable_raw(buf_data(t), buf_len(t), &eight);
		/* Without the empty line that ends its header, the line end
		 * before our boundary would belong to that header. */
		if (raw && !str_has_prefix(buf_data(t), "\r\n") &&
		    memmem(buf_data(t), buf_len(t), "\r\n\r\n", 4) == NULL)
			raw = false;
		if (raw) {
			struct mime_message *inner =
				mime_parse(buf_data(t), buf_len(t));
			raw = !inner_boundary_clash(mime_root(inner));
			mime_message_free(&inner);
		}
	}
	if (raw) {
		buf_printf(e, "Content-Transfer-Encoding: %s\r\n\r\n",
			   eight ? "8bit" : "7bit");
		buf_append(e, buf_data(t), buf_len(t));
		if (eight)
			*eightbit = true;
	} else {
		buf_append_str(e, "Content-Transfer-Encoding: base64\r\n\r\n");
		mime_base64_encode(p->data, p->len, true, e);
	}
	buf_free(&t);
	buf_free(&ct);
	return e;
}

/* Wrap children into a multipart entity; frees them. */
static struct buf *multipart(const char *subtype, struct buf **kids, size_t n)
{
	char boundary[40];
	bool clash;
	do {
		/* "=_" cannot occur in base64 or quoted-printable output; the
		 * check covers raw parts. */
		memcpy(boundary, BOUNDARY_PREFIX, 6);
		random_alnum(boundary + 6, 24);
		clash = false;
		for (size_t i = 0; i < n && !clash; i++)
			clash = memmem(buf_data(kids[i]), buf_len(kids[i]),
				       boundary, strlen(boundary)) != NULL;
	} while (clash);
	size_t total = 256;
	for (size_t i = 0; i < n; i++)
		total += buf_len(kids[i]) + 48;
	struct buf *e = buf_new_size(total);
	buf_printf(e, "Content-Type: multipart/%s;\r\n boundary=\"%s\"\r\n\r\n",
		   subtype, boundary);
	for (size_t i = 0; i < n; i++) {
		buf_printf(e, "--%s\r\n", boundary);
		buf_append(e, buf_data(kids[i]), buf_len(kids[i]));
		/* The line end before a boundary belongs to the boundary
		 * (RFC 2046 5.1.1). */
		buf_append(e, "\r\n", 2);
		buf_free(&kids[i]);
	}
	buf_printf(e, "--%s--\r\n", boundary);
	return e;
}

int mime_build(const struct mime_build_msg *m, struct buf *out,
	       struct mime_build_result *res, struct error *err)
{
	struct mime_build_result local;
	if (res == NULL)
		res = &local;
	memset(res, 0, sizeof(*res));
	struct buf *h = buf_new();
	char date[64];
	time_format_rfc5322(m->date != 0 ? m->date : time(NULL), date,
			    sizeof(date));
	buf_printf(h, "Date: %s\r\n", date);
	if (mime_build_addresses(h, "From", &m->from, 1, err) < 0)
		goto fail;
	if (m->nreply_to > 0 &&
	    mime_build_addresses(h, "Reply-To", m->reply_to, m->nreply_to,
				 err) < 0)
		goto fail;
	if (m->nto > 0 && mime_build_addresses(h, "To", m->to, m->nto, err) < 0)
		goto fail;
	if (m->ncc > 0 && mime_build_addresses(h, "Cc", m->cc, m->ncc, err) < 0)
		goto fail;
	if (m->nbcc > 0 &&
	    mime_build_addresses(h, "Bcc", m->bcc, m->nbcc, err) < 0)
		goto fail;
	mime_build_unstructured(h, "Subject", m->subject != NULL ? m->subject : "");

	if (m->message_id != NULL && *m->message_id == '<' &&
	    strpbrk(m->message_id, " \t\r\n") == NULL &&
	    strlen(m->message_id) < sizeof(res->message_id)) {
		snprintf(res->message_id, sizeof(res->message_id), "%s",
			 m->message_id);
	} else {
		const char *at = strrchr(m->from.address, '@');
		struct buf *dom = buf_new();
		if (at == NULL ||
		    address_domain_normalize(at + 1, strlen(at + 1), ADDRESS_IDN,
					     dom, NULL) < 0)
			buf_set_str(dom, "localhost");
		mime_build_message_id(buf_data(dom), res->message_id,
				      sizeof(res->message_id));
		buf_free(&dom);
	}
	buf_printf(h, "Message-ID: %s\r\n", res->message_id);
	if (m->in_reply_to != NULL && *m->in_reply_to != '\0')
		put_tokens(h, "In-Reply-To", m->in_reply_to);
	if (m->references != NULL && *m->references != '\0')
		put_tokens(h, "References", m->references);
	if (m->user_agent != NULL)
		mime_build_unstructured(h, "User-Agent", m->user_agent);
	for (size_t i = 0; i < m->nextra; i++) {
		struct buf *x = buf_new();
		header_clean(m->extra[i], x);
		buf_append(h, buf_data(x), buf_len(x));
		buf_append(h, "\r\n", 2);
		buf_free(&x);
	}
	buf_append_str(h, "MIME-Version: 1.0\r\n");

	struct buf *body = text_entity("plain", m->text, m->text != NULL ? m->text_len : 0);
	if (m->html != NULL) {
		struct buf *alt[2] = {body,
				      text_entity("html", m->html, m->html_len)};
		body = multipart("alternative", alt, 2);
	}
	if (m->nparts > 0) {
		struct buf **kids = xcalloc(m->nparts + 1, sizeof(*kids));
		kids[0] = body;
		for (size_t i = 0; i < m->nparts; i++)
			kids[i + 1] = part_entity(&m->parts[i], &res->eightbit);
		body = multipart("mixed", kids, m->nparts + 1);
		free(kids);
	}
	buf_reserve(out, buf_len(h) + buf_len(body));
	buf_append(out, buf_data(h), buf_len(h));
	buf_append(out, buf_data(body), buf_len(body));
	buf_free(&body);
	buf_free(&h);
	return 0;
fail:
	buf_free(&h);
	return -1;
}
