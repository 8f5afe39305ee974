/*
 * imap_fetch_items - see imap_fetch_items.h.
 */
#include "imap/imap_fetch_items.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/xmalloc.h"
#include "imap/imap_parser.h"

#define MAX_FIELDS 1000
#define MAX_ITEMS 1000

void imap_fetch_section_clear(struct imap_fetch_section *sec)
{
	for (size_t i = 0; i < sec->field_count; i++)
		free(sec->fields[i]);
	free(sec->fields);
	memset(sec, 0, sizeof(*sec));
}

void imap_fetch_items_free(struct imap_fetch_items **itemsp)
{
	struct imap_fetch_items *it = *itemsp;
	if (it == NULL)
		return;
	*itemsp = NULL;
	for (size_t i = 0; i < it->count; i++) {
		imap_fetch_section_clear(&it->items[i].section);
		free(it->items[i].reply_name);
	}
	free(it->items);
	free(it);
}

static bool kw(const char **sp, const char *end, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(end - *sp) < n || strncasecmp(*sp, word, n) != 0)
		return false;
	*sp += n;
	return true;
}

/* header-fld-name: 1*<printable except ":">; atom or quoted here. */
static int parse_fields(const char **sp, const char *end,
			struct imap_fetch_section *sec, struct error *err)
{
	const char *s = *sp;
	if (s >= end || *s != ' ' || s + 1 >= end || s[1] != '(')
		return error_set(err, ERR_PERM, "Missing header field list");
	s += 2;
	struct buf *name = buf_new();
	size_t alloc = 0;
	for (;;) {
		buf_reset(name);
		if (s < end && *s == '"') {
			for (s++; s < end && *s != '"'; s++) {
				if (*s == '\\' && s + 1 < end)
					s++;
				buf_append_char(name, *s);
			}
			if (s >= end)
				goto bad;
			s++;
		} else {
			while (s < end && *s != ' ' && *s != ')' && *s != '(' &&
			       *s != '"')
				buf_append_char(name, *s++);
		}
		if (buf_len(name) == 0)
			goto bad;
		for (const char *q = buf_data(name); *q != '\0'; q++)
			if ((unsigned char)*q <= 0x20 ||
			    (unsigned char)*q >= 0x7f || *q == ':')
				goto bad;
		if (buf_len(name) != strlen(buf_data(name)))
			goto bad;
		if (sec->field_count == MAX_FIELDS)
			goto bad;
		if (sec->field_count == alloc) {
			alloc = alloc == 0 ? 4 : alloc * 2;
			sec->fields = xreallocarray(sec->fields, alloc,
						    sizeof(*sec->fields));
		}
		sec->fields[sec->field_count++] = buf_steal(name);
		if (s < end && *s == ' ') {
			s++;
			continue;
		}
		if (s < end && *s == ')') {
			s++;
			break;
		}
		goto bad;
	}
	buf_free(&name);
	*sp = s;
	return 0;
bad:
	buf_free(&name);
	return error_set(err, ERR_PERM, "Invalid header field list");
}

int imap_fetch_section_parse(const char *s, size_t len,
			     struct imap_fetch_section *sec, struct error *err)
{
	const char *end = s + len;
	memset(sec, 0, sizeof(*sec));
	sec->kind = IMAP_SECTION_ALL;
	/* section-part */
	while (s < end && *s >= '0' && *s <= '9') {
		const char *st = s;
		uint64_t n;
		while (s < end && *s >= '0' && *s <= '9')
			s++;
		if (*st == '0' ||
		    !imap_parse_number(st, (size_t)(s - st), UINT32_MAX, &n) ||
		    sec->part_count == IMAP_SECTION_MAX_PARTS)
			goto bad;
		sec->parts[sec->part_count++] = (uint32_t)n;
		if (s == end)
			return 0;
		if (*s != '.')
			goto bad;
		s++;
		if (s == end)
			goto bad;
	}
	if (s == end)
		return 0;
	if (kw(&s, end, "HEADER.FIELDS.NOT")) {
		sec->kind = IMAP_SECTION_HEADER_FIELDS_NOT;
		if (parse_fields(&s, end, sec, err) < 0)
			goto fail;
	} else if (kw(&s, end, "HEADER.FIELDS")) {
		sec->kind = IMAP_SECTION_HEADER_FIELDS;
		if (parse_fields(&s, end, sec, err) < 0)
			goto fail;
	} else if (kw(&s, end, "HEADER")) {
		sec->kind = IMAP_SECTION_HEADER;
	} else if (kw(&s, end, "TEXT")) {
		sec->kind = IMAP_SECTION_TEXT;
	} else if (sec->part_count > 0 && kw(&s, end, "MIME")) {
		sec->kind = IMAP_SECTION_MIME;
	} else {
		goto bad;
	}
	if (s != end)
		goto bad;
	return 0;
bad:
	error_set(err, ERR_PERM, "Invalid section");
fail:
	imap_fetch_section_clear(sec);
	return -1;
}

static bool field_is_atom(const char *f)
{
	for (; *f != '\0'; f++)
		if (strchr("(){%*\"\\]", *f) != NULL)
			return false;
	return true;
}

static void write_section(struct buf *out, const struct imap_fetch_section *sec)
{
	static const char *const kinds[] = {
		[IMAP_SECTION_ALL] = "",
		[IMAP_SECTION_HEADER] = "HEADER",
		[IMAP_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
		[IMAP_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
		[IMAP_SECTION_TEXT] = "TEXT",
		[IMAP_SECTION_MIME] = "MIME",
	};
	for (unsigned i = 0; i < sec->part_count; i++)
		buf_printf(out, "%s%u", i > 0 ? "." : "", sec->parts[i]);
	if (sec->kind == IMAP_SECTION_ALL)
		return;
	if (sec->part_count > 0)
		buf_append_char(out, '.');
	buf_append_str(out, kinds[sec->kind]);
	if (sec->field_count == 0)
		return;
	buf_append_str(out, " (");
	for (size_t i = 0; i < sec->field_count; i++) {
		const char *f = sec->fields[i];
		bool atom = field_is_atom(f);
		if (i > 0)
			buf_append_char(out, ' ');
		if (!atom)
			buf_append_char(out, '"');
		for (; *f != '\0'; f++) {
			char c = *f >= 'a' && *f <= 'z' ? (char)(*f - 32) : *f;
			if (!atom && (c == '"' || c == '\\'))
				buf_append_char(out, '\\');
			buf_append_char(out, c);
		}
		if (!atom)
			buf_append_char(out, '"');
	}
	buf_append_char(out, ')');
}

struct fctx {
	struct imap_fetch_items *items;
	size_t alloc;
	struct error *err;
};

static struct imap_fetch_item *add_item(struct fctx *c, enum imap_fetch_type t,
					const char *reply_name)
{
	struct imap_fetch_items *it = c->items;
	if (it->count == c->alloc) {
		c->alloc = c->alloc == 0 ? 8 : c->alloc * 2;
		it->items = xreallocarray(it->items, c->alloc, sizeof(*it->items));
	}
	struct imap_fetch_item *item = &it->items[it->count++];
	memset(item, 0, sizeof(*item));
	item->type = t;
	item->reply_name = reply_name != NULL ? xstrdup(reply_name) : NULL;
	switch (t) {
	case IMAP_FETCH_ENVELOPE:
	case IMAP_FETCH_RFC822_HEADER:
		it->need |= IMAP_FETCH_NEED_HEADER;
		break;
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
		it->need |= IMAP_FETCH_NEED_STRUCTURE;
		break;
	case IMAP_FETCH_RFC822:
	case IMAP_FETCH_RFC822_TEXT:
		it->need |= IMAP_FETCH_NEED_BODY;
		break;
	case IMAP_FETCH_PREVIEW:
		it->need |= IMAP_FETCH_NEED_STRUCTURE | IMAP_FETCH_NEED_BODY;
		break;
	case IMAP_FETCH_MODSEQ:
		it->has_modseq = true;
		it->need |= IMAP_FETCH_NEED_INDEX;
		break;
	default:
		it->need |= IMAP_FETCH_NEED_INDEX;
		break;
	}
	return item;
}

static const struct {
	const char *name;
	enum imap_fetch_type type;
} simple_items[] = {
	{"FLAGS", IMAP_FETCH_FLAGS},
	{"UID", IMAP_FETCH_UID},
	{"INTERNALDATE", IMAP_FETCH_INTERNALDATE},
	{"RFC822.SIZE", IMAP_FETCH_RFC822_SIZE},
	{"RFC822.HEADER", IMAP_FETCH_RFC822_HEADER},
	{"RFC822.TEXT", IMAP_FETCH_RFC822_TEXT},
	{"RFC822", IMAP_FETCH_RFC822},
	{"ENVELOPE", IMAP_FETCH_ENVELOPE},
	{"BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE},
	{"BODY", IMAP_FETCH_BODY},
	{"MODSEQ", IMAP_FETCH_MODSEQ},
	{"EMAILID", IMAP_FETCH_EMAILID},
	{"THREADID", IMAP_FETCH_THREADID},
	{"SAVEDATE", IMAP_FETCH_SAVEDATE},
	{"PREVIEW", IMAP_FETCH_PREVIEW},
};

/* "<offset.length>" at s[0..len). */
static bool parse_partial(const char *s, size_t len, uint64_t *off_r,
			  uint64_t *len_r)
{
	if (len < 5 || s[0] != '<' || s[len - 1] != '>')
		return false;
	const char *dot = memchr(s, '.', len);
	if (dot == NULL)
		return false;
	size_t n1 = (size_t)(dot - s - 1), n2 = (size_t)(s + len - 1 - dot - 1);
	return imap_parse_number(s + 1, n1, INT64_MAX, off_r) &&
	       imap_parse_number(dot + 1, n2, INT64_MAX, len_r) && *len_r > 0;
}

/* BODY[...], BODY.PEEK[...], BINARY[...], BINARY.PEEK[...],
 * BINARY.SIZE[...] with optional partial. */
static int parse_section_item(struct fctx *c, const char *s)
{
	const char *lb = strchr(s, '[');
	size_t plen = (size_t)(lb - s);
	enum imap_fetch_type t;
	bool peek = false, binary = false;
	const char *rname;
	if (plen == 4 && strncasecmp(s, "BODY", 4) == 0) {
		t = IMAP_FETCH_BODY_SECTION;
		rname = "BODY";
	} else if (plen == 9 && strncasecmp(s, "BODY.PEEK", 9) == 0) {
		t = IMAP_FETCH_BODY_SECTION;
		peek = true;
		rname = "BODY";
	} else if (plen == 6 && strncasecmp(s, "BINARY", 6) == 0) {
		t = IMAP_FETCH_BINARY;
		binary = true;
		rname = "BINARY";
	} else if (plen == 11 && strncasecmp(s, "BINARY.PEEK", 11) == 0) {
		t = IMAP_FETCH_BINARY;
		binary = peek = true;
		rname = "BINARY";
	} else if (plen == 11 && strncasecmp(s, "BINARY.SIZE", 11) == 0) {
		t = IMAP_FETCH_BINARY_SIZE;
		binary = peek = true;
		rname = "BINARY.SIZE";
	} else {
		return error_set(c->err, ERR_PERM, "Invalid fetch attribute");
	}
	const char *rb = strrchr(s, ']');
	if (rb == NULL || rb < lb)
		return error_set(c->err, ERR_PERM, "Invalid fetch attribute");
	struct imap_fetch_section sec;
	if (imap_fetch_section_parse(lb + 1, (size_t)(rb - lb - 1), &sec,
				     c->err) < 0)
		return -1;
	if (binary && sec.kind != IMAP_SECTION_ALL) {
		imap_fetch_section_clear(&sec);
		return error_set(c->err, ERR_PERM,
				 "BINARY takes only part numbers");
	}
	uint64_t off = 0, plen2 = 0;
	bool partial = false;
	if (rb[1] != '\0') {
		if (t == IMAP_FETCH_BINARY_SIZE ||
		    !parse_partial(rb + 1, strlen(rb + 1), &off, &plen2)) {
			imap_fetch_section_clear(&sec);
			return error_set(c->err, ERR_PERM, "Invalid partial");
		}
		partial = true;
	}
	struct buf *name = buf_new();
	buf_printf(name, "%s[", rname);
	write_section(name, &sec);
	buf_append_char(name, ']');
	if (partial)
		buf_printf(name, "<%llu>", (unsigned long long)off);
	struct imap_fetch_item *item = add_item(c, t, buf_data(name));
	buf_free(&name);
	item->peek = peek;
	item->section = sec;
	item->partial = partial;
	item->partial_offset = off;
	item->partial_len = plen2;
	if (!peek)
		c->items->sets_seen = true;
	if (binary || sec.part_count > 0)
		c->items->need |= IMAP_FETCH_NEED_STRUCTURE |
				  IMAP_FETCH_NEED_BODY;
	else if (sec.kind == IMAP_SECTION_HEADER ||
		 sec.kind == IMAP_SECTION_HEADER_FIELDS ||
		 sec.kind == IMAP_SECTION_HEADER_FIELDS_NOT)
		c->items->need |= IMAP_FETCH_NEED_HEADER;
	else
		c->items->need |= IMAP_FETCH_NEED_BODY;
	return 0;
}

/* One attribute at args[*i] (a list member or the single atom). */
static int parse_item(struct fctx *c, const struct imap_arg *args, size_t *i)
{
	const char *s;
	if (c->items->count >= MAX_ITEMS)
		return error_set(c->err, ERR_PERM, "Too many fetch attributes");
	if (!imap_arg_get_atom(&args[*i], &s))
		return error_set(c->err, ERR_PERM, "Invalid fetch attribute");
	(*i)++;
	if (strchr(s, '[') != NULL)
		return parse_section_item(c, s);
	for (size_t k = 0; k < sizeof(simple_items) / sizeof(simple_items[0]); k++) {
		if (strcasecmp(s, simple_items[k].name) != 0)
			continue;
		struct imap_fetch_item *item =
			add_item(c, simple_items[k].type, simple_items[k].name);
		if (item->type == IMAP_FETCH_RFC822 ||
		    item->type == IMAP_FETCH_RFC822_TEXT)
			c->items->sets_seen = true;
		if (item->type == IMAP_FETCH_RFC822_HEADER)
			item->peek = true;
		if (item->type == IMAP_FETCH_PREVIEW &&
		    args[*i].type == IMAP_ARG_LIST &&
		    args[*i].list_count > 0 &&
		    imap_arg_is_atom(&args[*i].list[0]) &&
		    !imap_arg_atom_equals(&args[*i].list[0], "CHANGEDSINCE") &&
		    !imap_arg_atom_equals(&args[*i].list[0], "VANISHED")) {
			const struct imap_arg *mods;
			size_t n;
			imap_arg_get_list(&args[*i], &mods, &n);
			(*i)++;
			for (size_t m = 0; m < n; m++) {
				if (!imap_arg_atom_equals(&mods[m], "LAZY"))
					return error_set(c->err, ERR_PERM,
							 "Invalid PREVIEW modifier");
				item->lazy = true;
			}
		}
		return 0;
	}
	return error_set(c->err, ERR_PERM, "Unknown fetch attribute: %.64s", s);
}

static int parse_modifiers(struct fctx *c, const struct imap_arg *a)
{
	const struct imap_arg *list;
	size_t n;
	if (!imap_arg_get_list(a, &list, &n) || n == 0)
		return error_set(c->err, ERR_PERM, "Invalid FETCH modifiers");
	for (size_t i = 0; i < n; i++) {
		if (imap_arg_atom_equals(&list[i], "CHANGEDSINCE")) {
			if (c->items->has_changedsince || i + 1 >= n ||
			    !imap_arg_get_number64(&list[i + 1],
						   &c->items->changedsince))
				return error_set(c->err, ERR_PERM,
						 "Invalid CHANGEDSINCE");
			c->items->has_changedsince = true;
			c->items->has_modseq = true;
			i++;
		} else if (imap_arg_atom_equals(&list[i], "VANISHED")) {
			c->items->vanished = true;
		} else {
			return error_set(c->err, ERR_PERM,
					 "Unknown FETCH modifier");
		}
	}
	if (c->items->vanished && !c->items->has_changedsince)
		return error_set(c->err, ERR_PERM,
				 "VANISHED needs CHANGEDSINCE");
	return 0;
}

int imap_fetch_items_parse(const struct imap_arg *args,
			   struct imap_fetch_items **items_r,
			   struct error *err)
{
	struct fctx c = {.items = xcalloc(1, sizeof(struct imap_fetch_items)),
			 .err = err};
	size_t i = 0;
	const char *s;
	if (args[0].type == IMAP_ARG_LIST) {
		const struct imap_arg *list = args[0].list;
		size_t j = 0;
		if (args[0].list_count == 0) {
			error_set(err, ERR_PERM, "Empty fetch attribute list");
			goto fail;
		}
		while (list[j].type != IMAP_ARG_EOL)
			if (parse_item(&c, list, &j) < 0)
				goto fail;
		i = 1;
	} else if (imap_arg_get_atom(&args[0], &s) &&
		   (strcasecmp(s, "ALL") == 0 || strcasecmp(s, "FAST") == 0 ||
		    strcasecmp(s, "FULL") == 0)) {
		add_item(&c, IMAP_FETCH_FLAGS, "FLAGS");
		add_item(&c, IMAP_FETCH_INTERNALDATE, "INTERNALDATE");
		add_item(&c, IMAP_FETCH_RFC822_SIZE, "RFC822.SIZE");
		if (strcasecmp(s, "FAST") != 0)
			add_item(&c, IMAP_FETCH_ENVELOPE, "ENVELOPE");
		if (strcasecmp(s, "FULL") == 0)
			add_item(&c, IMAP_FETCH_BODY, "BODY");
		i = 1;
	} else if (args[0].type != IMAP_ARG_EOL) {
		if (parse_item(&c, args, &i) < 0)
			goto fail;
	} else {
		error_set(err, ERR_PERM, "Missing fetch attributes");
		goto fail;
	}
	if (args[i].type != IMAP_ARG_EOL) {
		if (parse_modifiers(&c, &args[i]) < 0)
			goto fail;
		i++;
	}
	if (args[i].type != IMAP_ARG_EOL) {
		error_set(err, ERR_PERM, "Unexpected arguments after FETCH items");
		goto fail;
	}
	*items_r = c.items;
	return 0;
fail:
	imap_fetch_items_free(&c.items);
	return -1;
}
