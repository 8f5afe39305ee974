/* imap_bodystructure - BODY / BODYSTRUCTURE writer (see
 * imap_bodystructure.h), following Dovecot 2.3's output. */
#include "imap/imap_bodystructure.h"

#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_envelope.h"
#include "imap/imap_quote.h"

static void str(struct buf *out, const char *s, unsigned int flags)
{
	imap_append_nstring_str(out, s, flags | IMAP_QUOTE_NOLF);
}

/* Parameter list; text parts get "charset" "us-ascii" appended when
 * they have none, as Dovecot does. */
static void params(struct buf *out, const struct mime_param *p, size_t n,
		   bool default_charset, unsigned int flags)
{
	bool seen = false;
	if (n == 0 && !default_charset) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_char(out, '(');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_append_char(out, ' ');
		if (strcasecmp(p[i].name, "charset") == 0)
			seen = true;
		str(out, p[i].name, flags);
		buf_append_char(out, ' ');
		str(out, p[i].value, flags);
	}
	if (default_charset && !seen) {
		if (n > 0)
			buf_append_char(out, ' ');
		buf_append_str(out, "\"charset\" \"us-ascii\"");
	}
	buf_append_char(out, ')');
}

/* Content-Language: ("en" "de"), a list even for one (Dovecot); NIL
 * when absent or empty. */
static void language(struct buf *out, const char *v, unsigned int flags)
{
	const char *toks[64];
	size_t lens[64], n = 0;
	if (v != NULL) {
		const char *p = v;
		while (*p != '\0' && n < 64) {
			while (*p == ' ' || *p == '\t' || *p == ',')
				p++;
			if (*p == '(') {
				int depth = 0;
				do {
					if (*p == '(')
						depth++;
					else if (*p == ')')
						depth--;
					p++;
				} while (*p != '\0' && depth > 0);
				continue;
			}
			const char *s = p;
			while (*p != '\0' && *p != ' ' && *p != '\t' &&
			       *p != ',' && *p != '(')
				p++;
			if (p > s) {
				toks[n] = s;
				lens[n] = (size_t)(p - s);
				n++;
			}
		}
	}
	if (n == 0) {
		buf_append_str(out, "NIL");
	} else {
		buf_append_char(out, '(');
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				buf_append_char(out, ' ');
			imap_append_quoted(out, toks[i], lens[i], flags);
		}
		buf_append_char(out, ')');
	}
}

static void extension_common(struct buf *out, const struct mime_part *p,
			     unsigned int flags)
{
	buf_append_char(out, ' ');
	if (p->disposition == NULL) {
		buf_append_str(out, "NIL");
	} else {
		buf_append_char(out, '(');
		str(out, p->disposition, flags);
		buf_append_char(out, ' ');
		params(out, p->disp_params, p->disp_param_count, false, flags);
		buf_append_char(out, ')');
	}
	buf_append_char(out, ' ');
	language(out, p->language, flags);
	buf_append_char(out, ' ');
	str(out, p->location, flags);
}

static void write_part(struct buf *out, const struct mime_message *msg,
		       const struct mime_part *p, bool ext,
		       unsigned int flags);

static void write_multipart(struct buf *out, const struct mime_message *msg,
			    const struct mime_part *p, bool ext,
			    unsigned int flags)
{
	if (p->children == NULL) {
		/* No parts at all: Dovecot shows one empty text part. */
		buf_append_str(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\")"
				    " NIL NIL \"7bit\" 0 0");
		if (ext)
			buf_append_str(out, " NIL NIL NIL NIL");
		buf_append_char(out, ')');
	}
	for (const struct mime_part *c = p->children; c != NULL; c = c->next) {
		buf_append_char(out, '(');
		write_part(out, msg, c, ext, flags);
		buf_append_char(out, ')');
	}
	buf_append_char(out, ' ');
	str(out, p->subtype_raw, flags);
	if (!ext)
		return;
	buf_append_char(out, ' ');
	params(out, p->params, p->param_count, false, flags);
	extension_common(out, p, flags);
}

static void write_part(struct buf *out, const struct mime_message *msg,
		       const struct mime_part *p, bool ext,
		       unsigned int flags)
{
	if (p->flags & MIME_PART_MULTIPART) {
		write_multipart(out, msg, p, ext, flags);
		return;
	}
	/* As written, but "text" decides by the written type: an invalid
	 * Content-Type shows "" "" without text extras (Dovecot). */
	bool text = strcasecmp(p->type_raw, "text") == 0;
	bool rfc822 = (p->flags & MIME_PART_MESSAGE) && p->children != NULL &&
		      strcmp(p->subtype, "rfc822") == 0;
	if (rfc822) {
		/* Dovecot always writes this one in lower case. */
		buf_append_str(out, "\"message\" \"rfc822\"");
	} else {
		str(out, p->type_raw, flags);
		buf_append_char(out, ' ');
		str(out, p->subtype_raw, flags);
	}
	buf_append_char(out, ' ');
	params(out, p->params, p->param_count, text, flags);
	buf_append_char(out, ' ');
	str(out, p->id, flags);
	buf_append_char(out, ' ');
	str(out, p->description, flags);
	buf_append_char(out, ' ');
	str(out, p->encoding != NULL ? p->encoding : "7bit", flags);
	buf_printf(out, " %" PRIu64, p->body.virt_size);
	if (text) {
		buf_printf(out, " %u", p->body_lines);
	} else if (rfc822) {
		/* Only message/rfc822: Dovecot 2.3 shows message/global as
		 * a plain leaf. */
		const struct mime_part *m = p->children;
		buf_append_char(out, ' ');
		imap_envelope_write(out, mime_data(msg) + m->header.phys_off,
				    m->header.phys_size, flags);
		buf_append_str(out, " (");
		write_part(out, msg, m, ext, flags);
		buf_printf(out, ") %u", p->body_lines);
	}
	if (!ext)
		return;
	buf_append_char(out, ' ');
	str(out, p->md5, flags);
	extension_common(out, p, flags);
}

void imap_bodystructure_write(struct buf *out, const struct mime_message *msg,
			      const struct mime_part *part, bool extended,
			      unsigned int flags)
{
	write_part(out, msg, part != NULL ? part : mime_root(msg), extended,
		   flags);
}
