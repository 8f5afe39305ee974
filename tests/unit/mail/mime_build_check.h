/*
 * mime_build_check - the round-trip check shared by test_mime_build and
 * fuzz_mime_build: parse what mime_build wrote with our own MIME parser,
 * decode every field and part, and compare with what was given (header
 * text as mime_build promises to keep it: valid UTF-8, CR/LF made
 * blanks, names trimmed; text bodies with CRLF line ends).
 * mbc_check returns NULL when everything came back, else a static
 * description of the first difference.
 */
#ifndef POSTERN_TESTS_MIME_BUILD_CHECK_H
#define POSTERN_TESTS_MIME_BUILD_CHECK_H

#include <string.h>

#include "core/buf.h"
#include "mail/address.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mail/mime_build.h"
#include "mail/mime_decode.h"

static void mbc_clean(const char *s, bool trim, struct buf *out)
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
	if (!trim)
		return;
	size_t a = 0, n = buf_len(out);
	while (a < n && (p[a] == ' ' || p[a] == '\t'))
		a++;
	while (n > a && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	memmove(p, p + a, n - a);
	buf_truncate(out, n - a);
}

static const char *mbc_addrs(const char *hdr, size_t hlen, const char *name,
			     const struct mime_build_addr *a, size_t n)
{
	struct header_field f;
	if (n == 0)
		return header_find(hdr, hlen, name, &f) ? "unexpected field"
							 : NULL;
	if (!header_find(hdr, hlen, name, &f))
		return "address field missing";
	struct header_address *list = header_address_parse(f.value,
							   f.value_len, 0);
	const char *res = NULL;
	struct buf *exp = buf_new(), *got = buf_new();
	const struct header_address *p = list;
	for (size_t i = 0; i < n && res == NULL; i++, p = p->next) {
		if (p == NULL) {
			res = "address missing";
			break;
		}
		struct mail_address ma;
		if (address_parse_mailbox(a[i].address, strlen(a[i].address),
					  ADDRESS_IDN, &ma, NULL) < 0) {
			res = "bad address accepted";
			break;
		}
		bool same = p->mailbox != NULL && p->host != NULL &&
			    strcmp(p->mailbox, ma.local) == 0 &&
			    strcmp(p->host, ma.domain) == 0 && !p->invalid;
		address_clear(&ma);
		if (!same) {
			res = "address differs";
			break;
		}
		mbc_clean(a[i].name, true, exp);
		buf_reset(got);
		if (p->name != NULL)
			header_decode_2047(p->name, strlen(p->name), got);
		if (!buf_eq_str(got, buf_data(exp)))
			res = "display name differs";
	}
	if (res == NULL && p != NULL)
		res = "extra address";
	header_address_free(&list);
	buf_free(&exp);
	buf_free(&got);
	return res;
}

static const char *mbc_text(const char *d, const struct mime_part *p,
			    const char *sub, const char *text, size_t len)
{
	if (p == NULL || !mime_part_is(p, "text", sub))
		return "text part missing";
	const char *cs = mime_part_charset(p);
	if (cs == NULL || strcmp(cs, "utf-8") != 0)
		return "charset";
	struct buf *got = buf_new(), *exp = buf_new();
	if (text != NULL)
		mime_build_crlf(text, len, exp);
	mime_decode_cte(mime_cte_parse(p->encoding), d + p->body.phys_off,
			p->body.phys_size, got);
	bool ok = buf_len(got) == buf_len(exp) &&
		  memcmp(buf_data(got), buf_data(exp), buf_len(exp)) == 0;
	buf_free(&got);
	buf_free(&exp);
	return ok ? NULL : "text differs";
}

static const char *mbc_part(const char *d, const struct mime_part *p,
			    const struct mime_build_part *a)
{
	if (p == NULL)
		return "attachment missing";
	struct buf *got = buf_new(), *exp = buf_new();
	const char *res = NULL;
	bool rfc822 = mime_part_is(p, "message", "rfc822");
	mime_decode_cte(mime_cte_parse(p->encoding), d + p->body.phys_off,
			p->body.phys_size, got);
	if (rfc822 && mime_cte_parse(p->encoding) != MIME_CTE_BASE64)
		mime_build_crlf(a->data, a->len, exp);
	else
		buf_append(exp, a->data, a->len);
	if (buf_len(got) != buf_len(exp) ||
	    memcmp(buf_data(got), buf_data(exp), buf_len(exp)) != 0)
		res = "attachment content differs";
	if (res == NULL && a->filename != NULL && *a->filename != '\0') {
		mbc_clean(a->filename, false, exp);
		const char *fn = mime_param_get(p->disp_params,
						p->disp_param_count, "filename");
		if (fn == NULL || strcmp(fn, buf_data(exp)) != 0)
			res = "filename differs";
	}
	if (res == NULL && (p->disposition == NULL ||
			    strcmp(p->disposition,
				   a->inline_ ? "inline" : "attachment") != 0))
		res = "disposition differs";
	buf_free(&got);
	buf_free(&exp);
	return res;
}

/* Line ends are CRLF only; header lines at most 998 octets; the header
 * is 7-bit. */
static const char *mbc_lines(const char *d, size_t len, size_t hdr_len)
{
	size_t line = 0;
	for (size_t i = 0; i < len; i++) {
		if (d[i] == '\r' && (i + 1 >= len || d[i + 1] != '\n'))
			return "lone CR";
		if (d[i] == '\n') {
			if (i == 0 || d[i - 1] != '\r')
				return "lone LF";
			line = 0;
			continue;
		}
		if (i < hdr_len && (unsigned char)d[i] >= 0x80)
			return "8-bit header";
		if (++line > 999 && i < hdr_len)
			return "header line over 998";
	}
	return NULL;
}

static const char *mbc_check(const struct mime_build_msg *m, const char *d,
			     size_t len)
{
	struct mime_message *msg = mime_parse(d, len);
	const struct mime_part *root = mime_root(msg);
	const char *hdr = d + root->header.phys_off;
	size_t hlen = root->header.phys_size;
	const char *res = mbc_lines(d, len, hlen);
	struct buf *got = buf_new(), *exp = buf_new();

	if (res == NULL) {
		mbc_clean(m->subject, false, exp);
		buf_reset(got);
		struct header_field f;
		if (!header_find(hdr, hlen, "Subject", &f))
			res = "no Subject";
		else
			header_decode_2047(f.value, f.value_len, got);
		if (res == NULL && !buf_eq_str(got, buf_data(exp)))
			res = "subject differs";
	}
	if (res == NULL)
		res = mbc_addrs(hdr, hlen, "From", &m->from, 1);
	if (res == NULL)
		res = mbc_addrs(hdr, hlen, "To", m->to, m->nto);
	if (res == NULL)
		res = mbc_addrs(hdr, hlen, "Cc", m->cc, m->ncc);
	if (res == NULL)
		res = mbc_addrs(hdr, hlen, "Reply-To", m->reply_to, m->nreply_to);
	if (res == NULL)
		res = mbc_addrs(hdr, hlen, "Bcc", m->bcc, m->nbcc);
	if (res == NULL && (!header_get(hdr, hlen, "Message-ID", got) ||
			    buf_data(got)[0] != '<'))
		res = "no Message-ID";
	if (res == NULL && (!header_get(hdr, hlen, "Date", got) ||
			    !header_date_parse(buf_data(got), buf_len(got),
					       &(time_t){0}, &(int){0})))
		res = "no Date";

	const struct mime_part *body = root, *att = NULL;
	if (res == NULL && m->nparts > 0) {
		if (!mime_part_is(root, "multipart", "mixed") ||
		    root->child_count != m->nparts + 1)
			res = "not multipart/mixed";
		else {
			body = root->children;
			att = body->next;
		}
	}
	if (res == NULL && m->html != NULL) {
		if (!mime_part_is(body, "multipart", "alternative") ||
		    body->child_count != 2)
			res = "not multipart/alternative";
		else {
			res = mbc_text(d, body->children, "plain", m->text,
				       m->text_len);
			if (res == NULL)
				res = mbc_text(d, body->children->next, "html",
					       m->html, m->html_len);
		}
	} else if (res == NULL) {
		res = mbc_text(d, body, "plain", m->text, m->text_len);
	}
	for (size_t i = 0; res == NULL && i < m->nparts; i++, att = att->next)
		res = mbc_part(d, att, &m->parts[i]);
	buf_free(&got);
	buf_free(&exp);
	mime_message_free(&msg);
	return res;
}

#endif
