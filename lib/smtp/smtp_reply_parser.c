/*
 * smtp_reply_parser - reading replies on the client side; see smtp_reply.h.
 *
 * Reply-line = *( Reply-code "-" [ textstring ] CRLF )
 *              Reply-code [ SP textstring ] CRLF      (RFC 5321 4.2)
 * A bare "250" (no SP) is accepted as RFC 5321 4.2 allows.
 */
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "core/xmalloc.h"
#include "smtp/smtp_reply.h"

struct smtp_reply_parser {
	struct smtp_parsed_reply reply;
	bool in_progress; /* a "ddd-" line was seen */
	bool done;	  /* the last call returned a complete reply */
};

struct smtp_reply_parser *smtp_reply_parser_new(void)
{
	struct smtp_reply_parser *p = xcalloc(1, sizeof(*p));

	p->reply.lines = array_new();
	return p;
}

static void reset(struct smtp_reply_parser *p)
{
	for (size_t i = 0; i < array_len(p->reply.lines); i++)
		free(array_get(p->reply.lines, i));
	array_clear(p->reply.lines);
	p->reply.code = 0;
	p->reply.enhanced[0] = '\0';
	p->in_progress = false;
	p->done = false;
}

void smtp_reply_parser_free(struct smtp_reply_parser **pp)
{
	struct smtp_reply_parser *p = *pp;

	if (p == NULL)
		return;
	reset(p);
	array_free(&p->reply.lines);
	free(p);
	*pp = NULL;
}

static int fail(struct smtp_reply_parser *p, struct error *err,
		const char *what)
{
	reset(p);
	return error_set(err, ERR_PERM, "malformed SMTP reply: %s", what);
}

/* Length of a leading enhanced code in text (0 if none), RFC 2034 4. */
static size_t enhanced_prefix(const char *text, size_t len, unsigned code)
{
	size_t n = 0;

	while (n < len && text[n] != ' ')
		n++;
	if (n >= SMTP_ENHANCED_MAX || !smtp_enhanced_valid(text, n))
		return 0;
	/* The class must agree with the reply code (RFC 3463 2). */
	if ((unsigned)(text[0] - '0') != code / 100)
		return 0;
	return n;
}

int smtp_reply_parser_line(struct smtp_reply_parser *p, const char *line,
			   size_t len, const struct smtp_parsed_reply **reply_r,
			   struct error *err)
{
	unsigned int code;
	const char *text;
	size_t text_len, enh_len;
	bool last;

	if (p->done)
		reset(p);
	if (len > SMTP_REPLY_PARSE_LINE_MAX)
		return fail(p, err, "line too long");
	if (memchr(line, '\0', len) != NULL ||
	    memchr(line, '\r', len) != NULL || memchr(line, '\n', len) != NULL)
		return fail(p, err, "control character in line");
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || line[2] < '0' || line[2] > '9')
		return fail(p, err, "bad reply code");
	code = (unsigned)(line[0] - '0') * 100 +
	       (unsigned)(line[1] - '0') * 10 + (unsigned)(line[2] - '0');
	if (len == 3) {
		last = true;
	} else if (line[3] == ' ') {
		last = true;
	} else if (line[3] == '-') {
		last = false;
	} else {
		return fail(p, err, "bad separator after the reply code");
	}
	if (p->in_progress && code != p->reply.code)
		return fail(p, err, "reply code changed within a reply");
	if (array_len(p->reply.lines) >= SMTP_REPLY_PARSE_LINES_MAX)
		return fail(p, err, "too many lines");

	text = len > 4 ? line + 4 : "";
	text_len = len > 4 ? len - 4 : 0;
	enh_len = enhanced_prefix(text, text_len, code);
	if (!p->in_progress && enh_len > 0) {
		memcpy(p->reply.enhanced, text, enh_len);
		p->reply.enhanced[enh_len] = '\0';
	}
	if (p->reply.enhanced[0] != '\0' && enh_len > 0) {
		text += enh_len;
		text_len -= enh_len;
		if (text_len > 0) { /* the SP after the enhanced code */
			text++;
			text_len--;
		}
	}
	p->reply.code = code;
	array_push(p->reply.lines, xstrndup(text, text_len));
	if (!last) {
		p->in_progress = true;
		return 0;
	}
	p->in_progress = false;
	p->done = true;
	*reply_r = &p->reply;
	return 1;
}
