/*
 * mime_downgrade - 8-bit to 7-bit conversion for peers without 8BITMIME.
 *
 * The output is built in one walk over the mime_parse() tree, copying
 * the input and replacing only what has to change: Content-Transfer-
 * Encoding fields, leaf bodies with 8-bit bytes, and 8-bit bytes in the
 * text between parts (see mime_downgrade.h for the rules).
 */
#include "mail/mime_downgrade.h"

#include <string.h>
#include <strings.h>

#include "mail/header.h"
#include "mail/mime.h"
#include "mail/mime_decode.h"

#define CTE_NAME "Content-Transfer-Encoding"

struct downgrade {
	const char *d;
	const char *eol; /* the message's line end, for lines we add */
	struct buf *out;
	struct buf *tmp;
	struct error *err;
	char gap_char; /* stands for an 8-bit byte between parts; 0: none */
};

static bool byte_8bit(unsigned char c)
{
	return c >= 0x80 || c == '\0';
}

static bool has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (byte_8bit((unsigned char)p[i]))
			return true;
	}
	return false;
}

bool mime_is_8bit(const char *msg, size_t len)
{
	return has_8bit(msg, len);
}

/* Quoted-printable (RFC 2045 6.7) keeping hard line ends as they are.
 * Beyond the RFC: a line never starts with "-" (it becomes =2D), also
 * after a soft break, so no encoded line can look like a MIME boundary
 * of an enclosing multipart.  Lines are at most 76 characters. */
static void qp_encode(const char *in, size_t n, const char *eol,
		      struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '\n') {
			buf_append_char(out, '\n');
			col = 0;
			continue;
		}
		if (c == '\r' && i + 1 < n && in[i + 1] == '\n') {
			buf_append(out, "\r\n", 2);
			col = 0;
			i++;
			continue;
		}
		bool literal = c >= 33 && c <= 126 && c != '=';
		if (c == ' ' || c == '\t') {
			/* Blanks before a line end would be stripped by the
			 * decoder (rule 3). */
			literal = i + 1 < n && in[i + 1] != '\n' &&
				  !(in[i + 1] == '\r' && i + 2 < n &&
				    in[i + 2] == '\n');
		}
		if (literal && c == '-' && col == 0)
			literal = false;
		if (col + (literal ? 1 : 3) > 75) {
			buf_append_char(out, '=');
			buf_append_str(out, eol);
			col = 0;
			if (c == '-')
				literal = false;
		}
		if (literal) {
			buf_append_char(out, (char)c);
			col++;
		} else {
			char e[3] = {'=', hex[c >> 4], hex[c & 15]};
			buf_append(out, e, 3);
			col += 3;
		}
	}
}

/* Base64 with the message's line ends (mime_base64_encode writes CRLF). */
static void b64_encode(const char *in, size_t n, const char *eol,
		       struct buf *tmp, struct buf *out)
{
	buf_reset(tmp);
	mime_base64_encode(in, n, true, tmp);
	if (strcmp(eol, "\r\n") == 0) {
		buf_append(out, buf_data(tmp), buf_len(tmp));
		return;
	}
	const char *p = buf_data(tmp);
	for (size_t i = 0; i < buf_len(tmp); i++) {
		if (p[i] != '\r')
			buf_append_char(out, p[i]);
	}
}

/* Mark the bytes of every multipart boundary parameter under p (all of
 * them: marking too many only narrows the choice). */
static void mark_boundaries(const struct mime_part *p, bool used[128])
{
	for (; p != NULL; p = p->next) {
		for (size_t i = 0; mime_part_is(p, "multipart", NULL) &&
				   i < p->param_count; i++) {
			const struct mime_param *pa = &p->params[i];
			if (strncasecmp(pa->name, "boundary", 8) != 0)
				continue;
			for (const char *b = pa->value; *b != '\0'; b++)
				used[(unsigned char)*b & 127] = true;
		}
		mark_boundaries(p->children, used);
	}
}

/*
 * The byte that replaces 8-bit bytes between parts: "?" unless some
 * boundary of the message uses it.  A replaced byte must not turn a line
 * into a boundary line it was not (boundaries are matched as prefixes,
 * so "--a\xff" could become a boundary "a?"), nor a boundary into a close
 * delimiter ("-"), so it is a byte no boundary contains.  0 when every
 * candidate is taken.
 */
static char choose_gap_char(const struct mime_part *root)
{
	bool used[128] = {false};
	mark_boundaries(root, used);
	if (!used['?'])
		return '?';
	/* Printable ones first, then control bytes, which are 7-bit too. */
	for (int i = 0; i < 127; i++) {
		int c = i < 95 ? 126 - i : i == 95 ? 127 : i - 95;
		if (c != '-' && c != '\r' && c != '\n' && !used[c])
			return (char)c;
	}
	return 0;
}

/* Text that belongs to no part (preamble, boundary lines, epilogue):
 * readers ignore it (RFC 2046 5.1.1), so an 8-bit byte there becomes
 * dg->gap_char. */
static int copy_gap(struct downgrade *dg, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		unsigned char c = (unsigned char)dg->d[i];
		if (byte_8bit(c) && dg->gap_char == 0)
			return error_set(dg->err, ERR_PERM,
					 "8-bit data between MIME parts cannot "
					 "be converted to 7-bit");
		buf_append_char(dg->out, byte_8bit(c) ? dg->gap_char : (char)c);
	}
	return 0;
}

static bool is_field(const struct header_field *f, const char *name)
{
	return f->name_len == strlen(name) &&
	       strncasecmp(f->name, name, f->name_len) == 0;
}

/* Line end of a raw field or line: "\r\n", "\n" or "" (none). */
static const char *line_end_of(const char *raw, size_t len)
{
	if (len > 0 && raw[len - 1] == '\n')
		return len > 1 && raw[len - 2] == '\r' ? "\r\n" : "\n";
	return "";
}

/*
 * Copy the header of p, with the first Content-Transfer-Encoding field
 * set to `cte` (others dropped) when cte is not NULL, adding it when
 * missing, and adding MIME-Version when `mime_version` and missing.
 */
static int emit_header(struct downgrade *dg, const struct mime_part *p,
		       const char *cte, bool mime_version)
{
	const char *hdr = dg->d + p->header.phys_off;
	size_t hlen = p->header.phys_size;

	if (has_8bit(hdr, hlen))
		return error_set(dg->err, ERR_PERM,
				 "8-bit data in a header field cannot be "
				 "converted to 7-bit");
	if (cte == NULL && !mime_version) {
		buf_append(dg->out, hdr, hlen);
		return 0;
	}

	struct header_iter it;
	struct header_field f;
	size_t pos = 0;
	bool cte_done = false;
	header_iter_init(&it, hdr, hlen);
	while (header_iter_next(&it, &f)) {
		if (is_field(&f, "MIME-Version"))
			mime_version = false;
		if (cte == NULL || !is_field(&f, CTE_NAME))
			continue;
		size_t at = (size_t)(f.raw - hdr);
		buf_append(dg->out, hdr + pos, at - pos);
		pos = at + f.raw_len;
		if (!cte_done)
			buf_printf(dg->out, "%s: %s%s", CTE_NAME, cte,
				   line_end_of(f.raw, f.raw_len));
		cte_done = true;
	}
	if (cte_done)
		cte = NULL;
	if (cte == NULL && !mime_version) {
		buf_append(dg->out, hdr + pos, hlen - pos);
		return 0;
	}

	/* Add before the empty line that ends the header. */
	size_t ins = hlen;
	const char *end = line_end_of(hdr, hlen);
	if (!(p->flags & MIME_PART_NO_HEADER_END) && *end != '\0') {
		size_t e = hlen - strlen(end);
		if (e >= pos && (e == 0 || hdr[e - 1] == '\n'))
			ins = e;
	}
	buf_append(dg->out, hdr + pos, ins - pos);
	if (ins == hlen && hlen > 0 && hdr[hlen - 1] != '\n')
		buf_append_str(dg->out, dg->eol);
	if (mime_version)
		buf_printf(dg->out, "MIME-Version: 1.0%s", dg->eol);
	if (cte != NULL)
		buf_printf(dg->out, "%s: %s%s", CTE_NAME, cte, dg->eol);
	buf_append(dg->out, hdr + ins, hlen - ins);
	return 0;
}

/* A leaf (or a message/global kept whole) whose body holds 8-bit bytes:
 * its content is re-encoded, keeping what it decodes to. */
static int encode_leaf(struct downgrade *dg, const struct mime_part *p,
		       bool mime_version)
{
	const char *body = dg->d + p->body.phys_off;
	size_t n = p->body.phys_size;
	enum mime_cte cte = mime_cte_parse(p->encoding);
	struct buf *enc = buf_new_size(n + n / 3 + 64);
	const char *label;

	switch (cte) {
	case MIME_CTE_7BIT:
	case MIME_CTE_8BIT:
	case MIME_CTE_BINARY:
		qp_encode(body, n, dg->eol, enc);
		label = "quoted-printable";
		break;
	case MIME_CTE_QP:
		/* Raw 8-bit inside QP (sloppy senders): the decoder keeps
		 * it, so decoding and encoding again keeps the content. */
		buf_reset(dg->tmp);
		mime_qp_decode(body, n, dg->tmp);
		qp_encode(buf_data(dg->tmp), buf_len(dg->tmp), dg->eol, enc);
		label = "quoted-printable";
		break;
	case MIME_CTE_BASE64: {
		/* 8-bit bytes in base64 are junk the decoder skips. */
		struct buf *raw = buf_new_size(n);
		mime_base64_decode(body, n, raw);
		b64_encode(buf_data(raw), buf_len(raw), dg->eol, dg->tmp, enc);
		buf_free(&raw);
		/* A body before a boundary has no final line end (it is the
		 * boundary's): do not add an empty line. */
		if (n > 0 && body[n - 1] != '\n') {
			size_t l = buf_len(enc);
			const char *e = line_end_of(buf_data(enc), l);
			buf_truncate(enc, l - strlen(e));
		}
		label = "base64";
		break;
	}
	default:
		buf_free(&enc);
		return error_set(dg->err, ERR_PERM,
				 "8-bit data in a part with an unknown "
				 "Content-Transfer-Encoding");
	}
	int ret = emit_header(dg, p, label, mime_version);
	if (ret == 0)
		buf_append(dg->out, buf_data(enc), buf_len(enc));
	buf_free(&enc);
	return ret;
}

/* 8bit/binary labels of what is now 7-bit become 7bit. */
static const char *relabel(const struct mime_part *p)
{
	enum mime_cte cte = mime_cte_parse(p->encoding);
	return cte == MIME_CTE_8BIT || cte == MIME_CTE_BINARY ? "7bit" : NULL;
}

static int walk(struct downgrade *dg, const struct mime_part *p,
		bool mime_version)
{
	const char *body = dg->d + p->body.phys_off;
	size_t n = p->body.phys_size;
	bool leaf = p->children == NULL;

	/* message/global may carry 8-bit header fields, and unlike
	 * message/rfc822 it may be encoded (RFC 6532 3.5). */
	if (!leaf && mime_part_is(p, "message", "global") && has_8bit(body, n))
		leaf = true;
	if (leaf && has_8bit(body, n)) {
		if (mime_part_is(p, "multipart", NULL)) {
			/* No usable boundary (or past the parser's limits):
			 * no part a reader would show, and encoding it would
			 * change how it splits.  Treat it as a preamble. */
			if (emit_header(dg, p, relabel(p), mime_version) < 0)
				return -1;
			return copy_gap(dg, p->body.phys_off,
					p->body.phys_off + n);
		}
		if (mime_part_is(p, "message", "rfc822"))
			return error_set(dg->err, ERR_PERM,
					 "8-bit data in a message/rfc822 part "
					 "that cannot be parsed");
		return encode_leaf(dg, p, mime_version);
	}
	if (leaf) {
		if (emit_header(dg, p, relabel(p), mime_version) < 0)
			return -1;
		buf_append(dg->out, body, n);
		return 0;
	}
	if (emit_header(dg, p, relabel(p), mime_version) < 0)
		return -1;
	size_t pos = p->body.phys_off;
	size_t end = p->body.phys_off + n;
	for (const struct mime_part *c = p->children; c != NULL; c = c->next) {
		if (c->header.phys_off >= pos) {
			if (copy_gap(dg, pos, c->header.phys_off) < 0)
				return -1;
			pos = c->body.phys_off + c->body.phys_size;
		}
		if (walk(dg, c, false) < 0)
			return -1;
	}
	return end > pos ? copy_gap(dg, pos, end) : 0;
}

int mime_downgrade_7bit(const char *msg, size_t len, struct buf *out,
			struct error *err)
{
	if (!has_8bit(msg, len)) {
		buf_append(out, msg, len);
		return 0;
	}
	const char *lf = memchr(msg, '\n', len);
	struct downgrade dg = {
		.d = msg,
		.eol = lf != NULL && lf > msg && lf[-1] == '\r' ? "\r\n" : "\n",
		.out = out,
		.tmp = buf_new(),
		.err = err,
	};
	struct mime_message *m = mime_parse(msg, len);
	const struct mime_part *root = mime_root(m);
	dg.gap_char = choose_gap_char(root);
	int ret = walk(&dg, root, true);
	/* The root covers the whole message; be safe about a tail. */
	size_t covered = root->body.phys_off + root->body.phys_size;
	if (ret == 0 && covered < len)
		ret = copy_gap(&dg, covered, len);
	mime_message_free(&m);
	buf_free(&dg.tmp);
	return ret;
}
