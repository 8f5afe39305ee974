/*
 * mime - the MIME structure parser (see mime.h).
 *
 * One pass over the message, line by line.  A part is parsed by
 * parse_part(): its header up to the empty line (or a boundary line, or
 * the end), then its body, which for a multipart is a preamble, child
 * parts separated by boundary lines and an epilogue, for
 * message/rfc822 one child message, and otherwise plain lines.  The body
 * of any part ends at the first line that is a boundary of an enclosing
 * multipart (innermost first, like Dovecot), so a missing close
 * delimiter or a broken nested part ends cleanly where an outer boundary
 * is seen.  Recursion depth is bounded by MIME_MAX_DEPTH.
 */
#include "mail/mime.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"
#include "mail/mime_private.h"

/* Boundary stack: innermost last. */
struct bstack {
	const char *b[MIME_MAX_DEPTH + 1];
	size_t len[MIME_MAX_DEPTH + 1];
	int n;
};

struct pctx {
	struct mime_message *msg;
	const char *d;
	size_t len;
	/* Virtual offset cache: virt of phys cpos. */
	size_t cpos;
	uint64_t cvirt;
	struct bstack bs;
};

/* Where a scan stopped: at the start of a boundary line (index in the
 * stack, close delimiter or not) or at the end of data (idx -1). */
struct stop {
	size_t line; /* start of the boundary line, or len */
	size_t after; /* just after the boundary line */
	int idx;
	bool close;
};

static uint64_t virt_at(struct pctx *c, size_t pos)
{
	if (pos < c->cpos) {
		c->cpos = 0;
		c->cvirt = 0;
	}
	const char *d = c->d;
	size_t p = c->cpos;
	uint64_t v = c->cvirt + (pos - p);
	while (p < pos) {
		const char *nl = memchr(d + p, '\n', pos - p);
		if (nl == NULL)
			break;
		size_t i = (size_t)(nl - d);
		if (i == 0 || d[i - 1] != '\r')
			v++;
		p = i + 1;
	}
	c->cpos = pos;
	c->cvirt = v;
	return v;
}

uint64_t mime_virtual_len(const char *data, size_t len)
{
	uint64_t v = len;
	size_t p = 0;
	while (p < len) {
		const char *nl = memchr(data + p, '\n', len - p);
		if (nl == NULL)
			break;
		size_t i = (size_t)(nl - data);
		if (i == 0 || data[i - 1] != '\r')
			v++;
		p = i + 1;
	}
	return v;
}

static size_t next_line(const struct pctx *c, size_t pos)
{
	const char *nl = memchr(c->d + pos, '\n', c->len - pos);
	return nl == NULL ? c->len : (size_t)(nl - c->d) + 1;
}

/* Is the line at pos a boundary of the stack (from index `lowest` up)?
 * Innermost is tried first.  Only the prefix "--boundary" is compared:
 * trailing junk after it is allowed, as in Dovecot. */
static bool is_boundary(const struct pctx *c, size_t pos, int lowest,
			struct stop *st)
{
	if (c->bs.n == 0 || c->len - pos < 3 || c->d[pos] != '-' ||
	    c->d[pos + 1] != '-')
		return false;
	for (int i = c->bs.n - 1; i >= lowest; i--) {
		size_t bl = c->bs.len[i];
		if (c->len - pos - 2 < bl ||
		    memcmp(c->d + pos + 2, c->bs.b[i], bl) != 0)
			continue;
		st->line = pos;
		st->after = next_line(c, pos);
		st->idx = i;
		size_t e = pos + 2 + bl;
		st->close = c->len - e >= 2 && c->d[e] == '-' &&
			    c->d[e + 1] == '-';
		return true;
	}
	return false;
}

/* Scan lines from pos until a boundary of the stack (from lowest). */
static void scan_to_boundary(const struct pctx *c, size_t pos, int lowest,
			     struct stop *st)
{
	while (pos < c->len) {
		if (is_boundary(c, pos, lowest, st))
			return;
		pos = next_line(c, pos);
	}
	st->line = c->len;
	st->after = c->len;
	st->idx = -1;
	st->close = false;
}

/* End of content before a boundary line at `line`: the line break in
 * front of the boundary belongs to the boundary (RFC 2046 5.1.1). */
static size_t content_end(const struct pctx *c, size_t start, size_t line,
			  int idx)
{
	if (idx < 0 || line <= start)
		return line;
	size_t e = line;
	if (c->d[e - 1] == '\n') {
		e--;
		if (e > start && c->d[e - 1] == '\r')
			e--;
	}
	return e;
}

static void set_range(struct pctx *c, struct mime_range *r, size_t start,
		      size_t end)
{
	r->phys_off = start;
	r->phys_size = end - start;
	r->virt_off = virt_at(c, start);
	r->virt_size = virt_at(c, end) - r->virt_off;
}

static unsigned int count_lines(const char *d, size_t len)
{
	unsigned int n = 0;
	const char *p = d, *end = d + len;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

static void body_flags(struct mime_part *part, const char *d, size_t len)
{
	if (memchr(d, '\0', len) != NULL)
		part->flags |= MIME_PART_HAS_NUL;
	/* 8-bit test a word at a time: bodies can be large. */
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, d + i, 8);
		if (w & 0x8080808080808080ULL) {
			part->flags |= MIME_PART_8BIT;
			return;
		}
	}
	for (; i < len; i++) {
		if ((unsigned char)d[i] >= 0x80) {
			part->flags |= MIME_PART_8BIT;
			return;
		}
	}
}

/* A new part, appended after `prev` (the parent's last child, or NULL
 * for the first one). */
static struct mime_part *new_part(struct pctx *c, struct mime_part *parent,
				  struct mime_part *prev)
{
	struct mime_part *p = xcalloc(1, sizeof(*p));
	p->parent = parent;
	c->msg->part_count++;
	if (parent != NULL) {
		if (prev == NULL)
			parent->children = p;
		else
			prev->next = p;
		parent->child_count++;
	}
	return p;
}

static bool limits_reached(const struct pctx *c, int depth)
{
	return depth >= MIME_MAX_DEPTH ||
	       c->msg->part_count >= MIME_MAX_PARTS;
}

/* Parse the part starting at pos; returns where it stopped in *st. */
static void parse_part(struct pctx *c, struct mime_part *part, size_t pos,
		       int depth, bool in_digest, struct stop *st);

/* The body ends before the boundary line that stopped it, but never
 * before the end of its last child: a child whose header's empty line
 * runs right into the boundary keeps that line end. */
static void finish_body(struct pctx *c, struct mime_part *part,
			size_t body_start, const struct stop *st)
{
	size_t end = content_end(c, body_start, st->line, st->idx);
	for (const struct mime_part *ch = part->children; ch != NULL;
	     ch = ch->next) {
		size_t ce = ch->body.phys_off + ch->body.phys_size;
		if (ch->next == NULL && ce > end)
			end = ce;
	}
	set_range(c, &part->body, body_start, end);
	part->body_lines = count_lines(c->d + body_start, end - body_start);
	body_flags(part, c->d + body_start, end - body_start);
}

static void parse_multipart(struct pctx *c, struct mime_part *part,
			    size_t body_start, int depth, const char *boundary,
			    struct stop *st)
{
	bool digest = strcmp(part->subtype, "digest") == 0;
	int own = c->bs.n;

	c->bs.b[own] = boundary;
	c->bs.len[own] = strlen(boundary);
	c->bs.n++;

	/* Preamble. */
	struct mime_part *last = NULL;
	scan_to_boundary(c, body_start, 0, st);
	while (st->idx == own && !st->close) {
		if (c->msg->part_count >= MIME_MAX_PARTS) {
			/* No more parts: the rest of this multipart is
			 * swallowed as if it were epilogue. */
			part->flags |= MIME_PART_TRUNCATED;
			c->bs.n--;
			scan_to_boundary(c, st->after, 0, st);
			finish_body(c, part, body_start, st);
			return;
		}
		last = new_part(c, part, last);
		parse_part(c, last, st->after, depth + 1, digest, st);
	}
	c->bs.n--;
	if (st->idx == own) {
		/* Close delimiter: the epilogue runs to an outer boundary
		 * or the end. */
		scan_to_boundary(c, st->after, 0, st);
	}
	/* Else an outer boundary or the end came first: the close
	 * delimiter is missing, the multipart ends here anyway. */
	finish_body(c, part, body_start, st);
}

static void parse_part(struct pctx *c, struct mime_part *part, size_t pos,
		       int depth, bool in_digest, struct stop *st)
{
	size_t hstart = pos, hend;

	/* Header: up to and including the empty line. */
	for (;;) {
		if (pos >= c->len) {
			part->flags |= MIME_PART_NO_HEADER_END;
			hend = c->len;
			break;
		}
		if (is_boundary(c, pos, 0, st)) {
			part->flags |= MIME_PART_NO_HEADER_END;
			hend = pos;
			break;
		}
		if (c->d[pos] == '\n' ||
		    (c->d[pos] == '\r' && pos + 1 < c->len &&
		     c->d[pos + 1] == '\n')) {
			hend = next_line(c, pos);
			break;
		}
		pos = next_line(c, pos);
	}
	mime_part_parse_fields(part, c->d + hstart, hend - hstart, in_digest);

	if (part->flags & MIME_PART_NO_HEADER_END) {
		if (hend == c->len) {
			st->line = c->len;
			st->after = c->len;
			st->idx = -1;
			st->close = false;
		} else if (part->parent == NULL ||
			   !(part->parent->flags & MIME_PART_MESSAGE)) {
			/* st was filled by is_boundary() above; the line
			 * end before the boundary is the boundary's (but
			 * an encapsulated message keeps it, as Dovecot). */
			hend = content_end(c, hstart, hend, st->idx);
		}
		set_range(c, &part->header, hstart, hend);
		set_range(c, &part->body, hend, hend);
		return;
	}
	bool multipart = strcmp(part->type, "multipart") == 0 &&
			 mime_param_get(part->params, part->param_count,
					"boundary") != NULL;
	if (!multipart && hend < c->len && is_boundary(c, hend, 0, st)) {
		/* An empty body right before an enclosing boundary: the
		 * empty line is the boundary's line break, so the header
		 * ends before it (Dovecot's BODY[n.MIME] shows it so). */
		size_t e = content_end(c, hstart, hend, st->idx);
		set_range(c, &part->header, hstart, e);
		set_range(c, &part->body, e, e);
		if (strcmp(part->type, "multipart") == 0)
			part->flags |= MIME_PART_MULTIPART;
		/* A message/rfc822 with no body at all has no child. */
		return;
	}
	set_range(c, &part->header, hstart, hend);

	const char *boundary = NULL;
	if (strcmp(part->type, "multipart") == 0) {
		/* Even without a usable boundary it stays a multipart
		 * (with no parts), as in Dovecot. */
		part->flags |= MIME_PART_MULTIPART;
		/* Only a plain "boundary": Dovecot ignores boundary*. */
		for (size_t i = 0; i < part->param_count; i++) {
			if (strcasecmp(part->params[i].name, "boundary") == 0) {
				boundary = part->params[i].value;
				break;
			}
		}
	}
	if (boundary != NULL && *boundary != '\0' &&
	    strlen(boundary) <= 200 && !limits_reached(c, depth)) {
		parse_multipart(c, part, hend, depth, boundary, st);
		return;
	}
	if (strcmp(part->type, "message") == 0 &&
	    (strcmp(part->subtype, "rfc822") == 0 ||
	     strcmp(part->subtype, "global") == 0)) {
		if (!limits_reached(c, depth)) {
			part->flags |= MIME_PART_MESSAGE;
			struct mime_part *child = new_part(c, part, NULL);
			parse_part(c, child, hend, depth + 1, false, st);
			finish_body(c, part, hend, st);
			return;
		}
	}
	if (boundary != NULL || part->type[0] == 'm')
		if (limits_reached(c, depth))
			part->flags |= MIME_PART_TRUNCATED;
	scan_to_boundary(c, hend, 0, st);
	finish_body(c, part, hend, st);
}

struct mime_message *mime_parse(const char *data, size_t len)
{
	struct mime_message *msg = xcalloc(1, sizeof(*msg));
	struct pctx c = {.msg = msg, .d = data, .len = len};
	struct stop st;

	msg->data = data;
	msg->len = len;
	msg->root = new_part(&c, NULL, NULL);
	parse_part(&c, msg->root, 0, 0, false, &st);
	msg->vsize = virt_at(&c, len);
	return msg;
}

static void free_tree(struct mime_part *p)
{
	while (p != NULL) {
		struct mime_part *next = p->next;
		free_tree(p->children);
		mime_part_free_fields(p);
		free(p);
		p = next;
	}
}

void mime_message_free(struct mime_message **msgp)
{
	struct mime_message *msg = *msgp;
	if (msg == NULL)
		return;
	free_tree(msg->root);
	free(msg);
	*msgp = NULL;
}

const struct mime_part *mime_root(const struct mime_message *msg)
{
	return msg->root;
}

const char *mime_data(const struct mime_message *msg)
{
	return msg->data;
}

size_t mime_size(const struct mime_message *msg)
{
	return msg->len;
}

uint64_t mime_virtual_size(const struct mime_message *msg)
{
	return msg->vsize;
}

unsigned int mime_part_count(const struct mime_message *msg)
{
	return msg->part_count;
}

const char *mime_param_get(const struct mime_param *params, size_t count,
			   const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < count; i++) {
		const char *pn = params[i].name;
		size_t pl = strlen(pn);
		if (pl > 0 && pn[pl - 1] == '*')
			pl--;
		if (pl == n && strncasecmp(pn, name, n) == 0)
			return params[i].decoded;
	}
	return NULL;
}

bool mime_part_is(const struct mime_part *p, const char *type,
		  const char *subtype)
{
	return strcasecmp(p->type, type) == 0 &&
	       (subtype == NULL || strcasecmp(p->subtype, subtype) == 0);
}

const char *mime_part_charset(const struct mime_part *p)
{
	const char *cs = mime_param_get(p->params, p->param_count, "charset");
	if (cs != NULL)
		return cs;
	return (p->flags & MIME_PART_TEXT) ? "us-ascii" : NULL;
}
