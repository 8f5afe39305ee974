/*
 * header_address - RFC 5322 address lists in the IMAP ENVELOPE form
 * (see header.h).  A tolerant recursive-descent parser in the spirit of
 * Dovecot's message-address.c: real mail has unquoted dots and
 * specials in names, missing domains and stray brackets.
 */
#include "mail/header.h"

#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

#define MISSING_MAILBOX "MISSING_MAILBOX"
#define MISSING_DOMAIN "MISSING_DOMAIN"

struct ctx {
	const char *s;
	size_t n;
	size_t pos;
	unsigned int max, count;
	struct header_address *head, **tail;
	struct buf *comment; /* last comment seen, a name fallback */
	bool unterminated;   /* a quoted string ran to the end */
};

static bool is_special(char c)
{
	return strchr("()<>[]:;@\\,.\"", c) != NULL;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool at_end(const struct ctx *c)
{
	return c->pos >= c->n;
}

static char cur(const struct ctx *c)
{
	return c->pos < c->n ? c->s[c->pos] : '\0';
}

/* Skip a comment at pos (which is '('), remembering its text. */
static void skip_comment(struct ctx *c)
{
	int depth = 0;
	buf_reset(c->comment);
	while (!at_end(c)) {
		char ch = c->s[c->pos++];
		if (ch == '\\' && !at_end(c)) {
			buf_append_char(c->comment, c->s[c->pos++]);
			continue;
		}
		if (ch == '(') {
			if (depth++ == 0)
				continue;
		} else if (ch == ')') {
			if (--depth == 0)
				return;
		}
		if (ch != '\r' && ch != '\n')
			buf_append_char(c->comment, ch);
	}
}

static void skip_cfws(struct ctx *c)
{
	while (!at_end(c)) {
		char ch = cur(c);
		if (is_blank(ch))
			c->pos++;
		else if (ch == '(')
			skip_comment(c);
		else
			break;
	}
}

/* A quoted string at pos ('"'): append its content unescaped. */
static void parse_quoted(struct ctx *c, struct buf *out)
{
	c->pos++;
	while (!at_end(c)) {
		char ch = c->s[c->pos++];
		if (ch == '"')
			return;
		if (ch == '\\' && !at_end(c))
			ch = c->s[c->pos++];
		else if (ch == '\r' || ch == '\n')
			continue;
		buf_append_char(out, ch);
	}
	c->unterminated = true;
}

/* One word (atom or quoted string): appended, false if none here. */
static bool parse_word(struct ctx *c, struct buf *out)
{
	if (cur(c) == '"') {
		parse_quoted(c, out);
		return true;
	}
	size_t start = c->pos;
	while (!at_end(c) && !is_blank(cur(c)) && !is_special(cur(c)) &&
	       (unsigned char)cur(c) >= 0x20)
		c->pos++;
	if (c->pos == start) {
		/* Control characters: skip them like blanks. */
		if (!at_end(c) && (unsigned char)cur(c) < 0x20 &&
		    !is_blank(cur(c))) {
			c->pos++;
			return parse_word(c, out);
		}
		return false;
	}
	buf_append(out, c->s + start, c->pos - start);
	return true;
}

/* phrase = 1*(word / "." (obsolete)); words joined by one space. */
static void parse_phrase(struct ctx *c, struct buf *out)
{
	bool first = true;
	for (;;) {
		skip_cfws(c);
		if (cur(c) == '.') {
			buf_append_char(out, '.');
			c->pos++;
			continue;
		}
		size_t before = buf_len(out);
		if (!first)
			buf_append_char(out, ' ');
		if (!parse_word(c, out)) {
			buf_truncate(out, before);
			return;
		}
		first = false;
	}
}

/* local-part = word *("." word), joined without blanks. */
static void parse_local(struct ctx *c, struct buf *out)
{
	for (;;) {
		skip_cfws(c);
		if (!parse_word(c, out))
			return;
		skip_cfws(c);
		if (cur(c) != '.')
			return;
		buf_append_char(out, '.');
		c->pos++;
	}
}

/* domain = dot-atom / domain-literal, blanks and comments dropped. */
static void parse_domain(struct ctx *c, struct buf *out)
{
	skip_cfws(c);
	if (cur(c) == '[') {
		while (!at_end(c)) {
			char ch = c->s[c->pos++];
			if (ch == '\\' && !at_end(c))
				ch = c->s[c->pos++];
			else if (ch == '\r' || ch == '\n')
				continue;
			buf_append_char(out, ch);
			if (ch == ']')
				break;
		}
		return;
	}
	for (;;) {
		skip_cfws(c);
		size_t start = c->pos;
		while (!at_end(c) && !is_blank(cur(c)) && !is_special(cur(c)))
			c->pos++;
		buf_append(out, c->s + start, c->pos - start);
		skip_cfws(c);
		if (cur(c) != '.')
			return;
		buf_append_char(out, '.');
		c->pos++;
	}
}

static char *dup_or_null(const struct buf *b)
{
	return buf_len(b) > 0 ? xstrdup(buf_data(b)) : NULL;
}

static void add(struct ctx *c, char *name, char *route, char *mailbox,
		char *host, bool invalid)
{
	struct header_address *a = xcalloc(1, sizeof(*a));
	a->name = name;
	a->route = route;
	a->mailbox = mailbox;
	a->host = host;
	a->invalid = invalid;
	*c->tail = a;
	c->tail = &a->next;
	c->count++;
}

static void add_mailbox(struct ctx *c, const struct buf *name,
			const struct buf *route, const struct buf *local,
			const struct buf *domain, bool invalid)
{
	bool no_local = buf_len(local) == 0, no_domain = buf_len(domain) == 0;
	add(c, dup_or_null(name), dup_or_null(route),
	    xstrdup(no_local ? MISSING_MAILBOX : buf_data(local)),
	    xstrdup(no_domain ? MISSING_DOMAIN : buf_data(domain)),
	    invalid || no_local || no_domain);
}

/* "<" [route ":"] addr-spec ">" at pos ('<'). */
static void parse_angle(struct ctx *c, const struct buf *name)
{
	struct buf *route = buf_new(), *local = buf_new(), *domain = buf_new();
	bool invalid = false;

	c->pos++;
	skip_cfws(c);
	if (cur(c) == '@') {
		/* obs-route = obs-domain-list ":" */
		while (cur(c) == '@' || cur(c) == ',') {
			if (cur(c) == ',') {
				c->pos++;
				skip_cfws(c);
				continue;
			}
			c->pos++;
			if (buf_len(route) > 0)
				buf_append_char(route, ',');
			buf_append_char(route, '@');
			parse_domain(c, route);
			skip_cfws(c);
		}
		if (cur(c) == ':')
			c->pos++;
		else
			invalid = true;
	}
	parse_local(c, local);
	skip_cfws(c);
	if (cur(c) == '@') {
		c->pos++;
		parse_domain(c, domain);
	}
	skip_cfws(c);
	if (cur(c) == '>') {
		c->pos++;
	} else {
		/* No closing ">": Dovecot marks the host so. */
		invalid = true;
		while (!at_end(c) && cur(c) != '>' && cur(c) != ',')
			c->pos++;
		if (cur(c) == '>') {
			c->pos++;
		} else {
			buf_reset(domain);
			buf_append_str(domain, "SYNTAX_ERROR");
		}
	}
	/* "<>" (the null address) gets both placeholders, as in
	 * Dovecot. */
	add_mailbox(c, name, route, local, domain, invalid);
	buf_free(&route);
	buf_free(&local);
	buf_free(&domain);
}

/* Skip junk up to the next "," (or ";" in a group). */
static void skip_junk(struct ctx *c, bool in_group)
{
	while (!at_end(c) && cur(c) != ',' && !(in_group && cur(c) == ';')) {
		if (cur(c) == '"') {
			struct buf *tmp = buf_new();
			parse_quoted(c, tmp);
			buf_free(&tmp);
		} else if (cur(c) == '(') {
			skip_comment(c);
		} else {
			c->pos++;
		}
	}
}

static void parse_mailbox(struct ctx *c, bool in_group);

static void parse_group(struct ctx *c, const struct buf *name)
{
	c->pos++; /* ':' */
	add(c, NULL, NULL, xstrdup(buf_data(name)), NULL, false);
	for (;;) {
		skip_cfws(c);
		if (at_end(c))
			break;
		if (cur(c) == ';') {
			c->pos++;
			break;
		}
		if (cur(c) == ',') {
			c->pos++;
			continue;
		}
		if (c->max != 0 && c->count >= c->max) {
			skip_junk(c, true);
			continue;
		}
		size_t before = c->pos;
		parse_mailbox(c, true);
		if (c->pos == before)
			c->pos++;
	}
	add(c, NULL, NULL, NULL, NULL, false);
}

/* mailbox = name-addr / addr-spec (or a group when not in one). */
static void parse_mailbox(struct ctx *c, bool in_group)
{
	struct buf *phrase = buf_new();
	size_t start = c->pos;

	buf_reset(c->comment);
	parse_phrase(c, phrase);
	skip_cfws(c);
	if (cur(c) == '<') {
		parse_angle(c, phrase);
	} else if (cur(c) == ':' && !in_group) {
		parse_group(c, phrase);
	} else {
		struct buf *local = buf_new(), *domain = buf_new();
		struct buf *none = buf_new();
		bool invalid = false;
		c->pos = start;
		buf_reset(c->comment);
		c->unterminated = false;
		parse_local(c, local);
		if (c->unterminated)
			buf_reset(local); /* '"junk' is no local part */
		skip_cfws(c);
		if (cur(c) == '@') {
			c->pos++;
			parse_domain(c, domain);
		}
		skip_cfws(c);
		if (!at_end(c) && cur(c) != ',' &&
		    !(in_group && cur(c) == ';')) {
			/* "Joe a@b", "a@b c": junk after the address. */
			invalid = true;
			skip_junk(c, in_group);
		}
		if (buf_len(local) > 0 || buf_len(domain) > 0 ||
		    c->pos > start) {
			/* A comment is the name of a bare address, as
			 * in "a@b (Joe Public)". */
			const struct buf *name =
				buf_len(c->comment) > 0 ? c->comment : none;
			add_mailbox(c, name, none, local, domain, invalid);
		}
		buf_free(&local);
		buf_free(&domain);
		buf_free(&none);
	}
	buf_free(&phrase);
}

struct header_address *header_address_parse(const char *value, size_t len,
					    unsigned int max)
{
	struct ctx c = {.s = value, .n = len, .max = max};
	c.tail = &c.head;
	c.comment = buf_new();
	bool after_comma = false;

	for (;;) {
		skip_cfws(&c);
		if (at_end(&c))
			break;
		if (cur(&c) == ',') {
			/* "a, , b": Dovecot shows the empty member. */
			if (after_comma && (max == 0 || c.count < max)) {
				struct buf *none = buf_new();
				add_mailbox(&c, none, none, none, none, true);
				buf_free(&none);
			}
			after_comma = true;
			c.pos++;
			continue;
		}
		after_comma = false;
		if (cur(&c) == ';' || cur(&c) == '>') {
			c.pos++;
			continue;
		}
		if (max != 0 && c.count >= max)
			break;
		size_t before = c.pos;
		parse_mailbox(&c, false);
		skip_cfws(&c);
		if (c.pos == before)
			c.pos++; /* always make progress */
	}
	buf_free(&c.comment);
	return c.head;
}

void header_address_free(struct header_address **list)
{
	struct header_address *a = *list;
	while (a != NULL) {
		struct header_address *next = a->next;
		free(a->name);
		free(a->route);
		free(a->mailbox);
		free(a->host);
		free(a);
		a = next;
	}
	*list = NULL;
}
