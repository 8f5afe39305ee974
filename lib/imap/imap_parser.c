/*
 * imap_parser - see imap_parser.h.  One state machine fed with lines and
 * literal bytes; the argument tree is built in a stack of open lists
 * (level 0 = the top level), each a growable array of struct imap_arg.
 */
#include "imap/imap_parser.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

#define DEF_MAX_LINE (64 * 1024)
#define DEF_MAX_COMMAND (256 * 1024)
#define DEF_MAX_LITERAL (64 * 1024)
#define DEF_MAX_MESSAGE (64ULL * 1024 * 1024)
#define DEF_MAX_DEPTH 32
#define DEF_MAX_ARGS 10000
#define TAG_MAX 256

struct level {
	struct imap_arg *args;
	size_t count, alloc;
};

struct stream_ref {
	void *handle;
	void (*free_fn)(void *handle);
};

/* The public command plus what freeing it needs. */
struct command_priv {
	struct imap_command pub;
	char *tag, *name;
	struct imap_arg *args;
	struct stream_ref *streams;
	size_t stream_count;
};

enum pstate {
	PS_IDLE,       /* next line starts a command */
	PS_LINE,       /* next line continues the command after a literal */
	PS_LITERAL,    /* literal bytes expected */
	PS_DONE,       /* complete, waiting for take() */
	PS_ERROR,      /* error reported; next line starts over */
};

enum litmode { LIT_MEMORY, LIT_STREAM, LIT_DISCARD };

struct imap_parser {
	struct imap_parser_limits lim;
	enum pstate state;
	bool failed;   /* a syntax error happened; consuming the rest */
	bool args_only; /* imap_parse_args: no tag / name */
	bool fetch;    /* FETCH section atoms */
	bool append;   /* APPEND: message literals */
	char tag[TAG_MAX + 1];
	bool have_tag;
	char *name;
	bool uid;
	struct level *levels;
	size_t depth;  /* open lists; levels[0..depth] valid */
	size_t levels_alloc;
	size_t total;  /* bytes counted against max_command */
	size_t nargs;
	/* current literal */
	struct imap_literal_info li;
	enum litmode litmode;
	bool lit_chosen; /* stream/memory decided (first feed or stream) */
	char *litbuf;
	uint64_t litgot;
	bool lit_nul;
	struct stream_ref *streams;
	size_t stream_count, stream_alloc;
	char err[200];
	const char *err_code;
	bool fatal; /* the byte stream cannot be resynchronised */
};

/* --- freeing --- */

static void free_args(struct imap_arg *args, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		struct imap_arg *a = &args[i];
		if (a->type == IMAP_ARG_LIST) {
			free_args((struct imap_arg *)a->list, a->list_count);
			free((void *)a->list);
		} else {
			free((void *)a->str);
		}
	}
}

static void free_streams(struct stream_ref *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].free_fn != NULL)
			s[i].free_fn(s[i].handle);
}

void imap_command_free(struct imap_command **cmdp)
{
	struct command_priv *c = (struct command_priv *)*cmdp;
	if (c == NULL)
		return;
	*cmdp = NULL;
	if (c->args != NULL) {
		free_args(c->args, c->pub.arg_count);
		free(c->args);
	}
	free_streams(c->streams, c->stream_count);
	free(c->streams);
	free(c->tag);
	free(c->name);
	free(c);
}

/* --- parser lifetime --- */

struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));
	if (lim != NULL)
		p->lim = *lim;
	if (p->lim.max_line == 0)
		p->lim.max_line = DEF_MAX_LINE;
	if (p->lim.max_command == 0)
		p->lim.max_command = DEF_MAX_COMMAND;
	if (p->lim.max_literal == 0)
		p->lim.max_literal = DEF_MAX_LITERAL;
	if (p->lim.max_message == 0)
		p->lim.max_message = DEF_MAX_MESSAGE;
	if (p->lim.max_depth == 0)
		p->lim.max_depth = DEF_MAX_DEPTH;
	if (p->lim.max_args == 0)
		p->lim.max_args = DEF_MAX_ARGS;
	p->levels_alloc = 4;
	p->levels = xcalloc(p->levels_alloc, sizeof(*p->levels));
	return p;
}

static void clear_levels(struct imap_parser *p)
{
	for (size_t i = 0; i <= p->depth; i++) {
		struct level *l = &p->levels[i];
		free_args(l->args, l->count);
		free(l->args);
		memset(l, 0, sizeof(*l));
	}
	p->depth = 0;
}

void imap_parser_reset(struct imap_parser *p)
{
	clear_levels(p);
	free_streams(p->streams, p->stream_count);
	p->stream_count = 0;
	XFREE(p->litbuf);
	XFREE(p->name);
	p->state = PS_IDLE;
	p->failed = false;
	p->fetch = p->append = false;
	p->have_tag = false;
	p->tag[0] = '\0';
	p->uid = false;
	p->total = 0;
	p->nargs = 0;
	p->err[0] = '\0';
	p->err_code = NULL;
	p->fatal = false;
	memset(&p->li, 0, sizeof(p->li));
	p->lit_chosen = false;
	p->litgot = 0;
	p->lit_nul = false;
}

void imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;
	if (p == NULL)
		return;
	*pp = NULL;
	imap_parser_reset(p);
	free(p->streams);
	free(p->levels);
	free(p);
}

/* --- errors --- */

static void set_error(struct imap_parser *p, const char *code,
		      const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_error(struct imap_parser *p, const char *code,
		      const char *fmt, ...)
{
	va_list ap;
	if (p->failed)
		return; /* keep the first error */
	p->failed = true;
	p->err_code = code;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
}

const char *imap_parser_error(const struct imap_parser *p)
{
	return p->err[0] != '\0' ? p->err : "Invalid command";
}

const char *imap_parser_error_code(const struct imap_parser *p)
{
	return p->err_code;
}

bool imap_parser_error_fatal(const struct imap_parser *p)
{
	return p->fatal;
}

const char *imap_parser_tag(const struct imap_parser *p)
{
	return p->have_tag ? p->tag : NULL;
}

const char *imap_parser_command_name(const struct imap_parser *p)
{
	return p->name;
}

static enum imap_parse_result finish_error(struct imap_parser *p)
{
	/* Keep tag and error text for the caller; drop the arguments. */
	clear_levels(p);
	free_streams(p->streams, p->stream_count);
	p->stream_count = 0;
	XFREE(p->litbuf);
	p->state = PS_ERROR;
	return IMAP_PARSE_ERROR;
}

/* --- building the tree --- */

static struct imap_arg *new_arg(struct imap_parser *p, enum imap_arg_type t)
{
	struct level *l = &p->levels[p->depth];
	if (l->count + 1 >= l->alloc) { /* room for the EOL too */
		l->alloc = l->alloc == 0 ? 8 : l->alloc * 2;
		l->args = xreallocarray(l->args, l->alloc, sizeof(*l->args));
	}
	struct imap_arg *a = &l->args[l->count++];
	memset(a, 0, sizeof(*a));
	a->type = t;
	p->nargs++;
	return a;
}

static void terminate(struct level *l)
{
	if (l->count + 1 > l->alloc) {
		l->alloc = l->count + 1;
		l->args = xreallocarray(l->args, l->alloc, sizeof(*l->args));
	}
	memset(&l->args[l->count], 0, sizeof(l->args[0]));
	l->args[l->count].type = IMAP_ARG_EOL;
}

static bool open_list(struct imap_parser *p)
{
	if (p->depth + 1 > p->lim.max_depth) {
		set_error(p, NULL, "Too deeply nested lists");
		return false;
	}
	if (p->nargs + 1 > p->lim.max_args) {
		set_error(p, NULL, "Too many arguments");
		return false;
	}
	if (p->depth + 1 >= p->levels_alloc) {
		p->levels = xreallocarray(p->levels, p->levels_alloc * 2,
					  sizeof(*p->levels));
		memset(p->levels + p->levels_alloc, 0,
		       p->levels_alloc * sizeof(*p->levels));
		p->levels_alloc *= 2;
	}
	p->depth++;
	p->nargs++; /* the LIST argument itself */
	memset(&p->levels[p->depth], 0, sizeof(p->levels[0]));
	return true;
}

static void close_list(struct imap_parser *p)
{
	struct level child = p->levels[p->depth];
	memset(&p->levels[p->depth], 0, sizeof(p->levels[0]));
	p->depth--;
	terminate(&child);
	struct imap_arg *a = new_arg(p, IMAP_ARG_LIST);
	p->nargs--; /* counted when opened */
	a->list = child.args;
	a->list_count = child.count;
}

/* --- lexing --- */

static bool is_atom_char(unsigned char c)
{
	/* ATOM-CHAR plus list-wildcards, "\" (flags) and "]" (astring). */
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return c != '(' && c != ')' && c != '{' && c != '"';
}


/* Does line[0..len) end in a literal announcement?  Fills size/sync/
 * literal8 and *start_r (offset of "{" or "~"). */
static int trailing_literal(const char *line, size_t len, uint64_t *size_r,
			    bool *sync_r, bool *lit8_r, size_t *start_r)
{
	if (len < 3 || line[len - 1] != '}')
		return 0;
	size_t end = len - 1; /* at '}' */
	bool sync = true;
	if (line[end - 1] == '+') {
		sync = false;
		end--;
	}
	size_t d = end;
	while (d > 0 && line[d - 1] >= '0' && line[d - 1] <= '9')
		d--;
	if (d == 0 || line[d - 1] != '{' || d == end)
		return 0;
	uint64_t n;
	if (!imap_parse_number(line + d, end - d, INT64_MAX, &n))
		return -1;
	*size_r = n;
	*sync_r = sync;
	*lit8_r = d >= 2 && line[d - 2] == '~';
	*start_r = *lit8_r ? d - 2 : d - 1;
	return 1;
}

static bool is_message_literal(const struct imap_parser *p)
{
	if (!p->append)
		return false;
	const struct level *l = &p->levels[p->depth];
	if (p->depth == 0 && l->count == 0)
		return false; /* the mailbox name */
	if (l->count > 0 && l->args[l->count - 1].type == IMAP_ARG_ATOM &&
	    strcasecmp(l->args[l->count - 1].str, "URL") == 0)
		return false; /* CATENATE URL */
	return true;
}

/* Set up p->li for a literal announced at the end of the line. */
static void announce_literal(struct imap_parser *p, uint64_t size, bool sync,
			     bool lit8)
{
	memset(&p->li, 0, sizeof(p->li));
	p->li.size = size;
	p->li.sync = sync;
	p->li.literal8 = lit8;
	p->li.depth = (unsigned)p->depth;
	p->li.arg_index = p->levels[p->depth].count;
	p->li.discard = p->failed;
	if (p->failed) {
		p->li.too_big = size > p->lim.max_message;
	} else {
		p->li.message = is_message_literal(p);
		if (p->li.message)
			p->li.too_big = size > p->lim.max_message;
		else
			p->li.too_big = size > p->lim.max_literal ||
					size > p->lim.max_command - p->total;
	}
	p->litmode = p->failed ? LIT_DISCARD : LIT_MEMORY;
	p->lit_chosen = p->failed;
	p->litgot = 0;
	p->lit_nul = false;
	p->state = PS_LITERAL;
}

/* After a failure inside a line: consume the rest of the command. */
static enum imap_parse_result fail_line(struct imap_parser *p,
					const char *line, size_t len)
{
	uint64_t size;
	bool sync, lit8;
	size_t start;
	int r = trailing_literal(line, len, &size, &sync, &lit8, &start);
	if (r == 1 && !sync) {
		announce_literal(p, size, sync, lit8);
		return IMAP_PARSE_NEED_LITERAL;
	}
	if (r < 0 && len >= 2 && line[len - 2] == '+')
		p->fatal = true; /* "{99999999999999999999+}": where does it end? */
	return finish_error(p);
}

static bool parse_quoted(struct imap_parser *p, const char *s, size_t len,
			 size_t *pos)
{
	size_t i = *pos + 1;
	char *out = xmalloc(len - *pos);
	size_t o = 0;
	for (;; i++) {
		if (i >= len) {
			free(out);
			set_error(p, NULL, "Missing '\"'");
			return false;
		}
		unsigned char c = (unsigned char)s[i];
		if (c == '"')
			break;
		if (c == '\\') {
			if (i + 1 >= len || (s[i + 1] != '\\' && s[i + 1] != '"')) {
				free(out);
				set_error(p, NULL, "Invalid escape in quoted string");
				return false;
			}
			c = (unsigned char)s[++i];
		} else if (c == '\0' || c == '\r' || c == '\n') {
			free(out);
			set_error(p, NULL, "Invalid character in quoted string");
			return false;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	struct imap_arg *a = new_arg(p, IMAP_ARG_QUOTED);
	a->str = out;
	a->len = o;
	*pos = i + 1;
	return true;
}

/* In FETCH: "[" ... "]" inside an atom, may hold SP, lists and quoted
 * strings.  Returns the offset after "]" or 0 on error. */
static size_t skip_section(struct imap_parser *p, const char *s, size_t len,
			   size_t i)
{
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ']')
			return i + 1;
		if (c == '"') {
			for (i++; i < len && s[i] != '"'; i++) {
				if (s[i] == '\\')
					i++;
				else if (s[i] == '\0' ||
					 (unsigned char)s[i] >= 0x80)
					break;
			}
			if (i >= len || s[i] != '"')
				break;
			continue;
		}
		if (c == '{' || c == '[' || c < 0x20 || c >= 0x7f)
			break;
	}
	set_error(p, NULL, "Invalid FETCH section");
	return 0;
}

static bool parse_atom(struct imap_parser *p, const char *s, size_t len,
		       size_t *pos)
{
	size_t i = *pos;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '(' || c == ')')
			break;
		if (c == '[' && p->fetch) {
			i = skip_section(p, s, len, i);
			if (i == 0)
				return false;
			continue;
		}
		if (!is_atom_char(c)) {
			set_error(p, NULL, "Invalid characters in atom");
			return false;
		}
		i++;
	}
	size_t n = i - *pos;
	bool nil = n == 3 && strncasecmp(s + *pos, "NIL", 3) == 0;
	struct imap_arg *a = new_arg(p, nil ? IMAP_ARG_NIL : IMAP_ARG_ATOM);
	a->str = xstrndup(s + *pos, n);
	a->len = n;
	*pos = i;
	return true;
}

/*
 * Parse arguments in line[pos..len).  need_sep: an argument was just
 * completed (a separator or ")" must follow).
 */
static enum imap_parse_result parse_args(struct imap_parser *p,
					 const char *line, size_t len,
					 size_t pos, bool need_sep)
{
	while (pos < len) {
		char c = line[pos];
		if (c == ' ') {
			/* Lenient: several blanks, blanks before ")" and at
			 * the end are accepted (clients do send them). */
			while (pos < len && line[pos] == ' ')
				pos++;
			need_sep = false;
			continue;
		}
		if (c == ')') {
			if (p->depth == 0) {
				set_error(p, NULL, "Unexpected ')'");
				return fail_line(p, line, len);
			}
			close_list(p);
			pos++;
			need_sep = true;
			continue;
		}
		if (need_sep) {
			set_error(p, NULL, "Missing space between arguments");
			return fail_line(p, line, len);
		}
		if (p->nargs + 1 > p->lim.max_args) {
			set_error(p, NULL, "Too many arguments");
			return fail_line(p, line, len);
		}
		if (c == '(') {
			if (!open_list(p))
				return fail_line(p, line, len);
			pos++;
			continue;
		}
		if (c == '"') {
			if (!parse_quoted(p, line, len, &pos))
				return fail_line(p, line, len);
			need_sep = true;
			continue;
		}
		if (c == '{' || (c == '~' && pos + 1 < len && line[pos + 1] == '{')) {
			uint64_t size;
			bool sync, lit8;
			size_t start;
			int r = trailing_literal(line, len, &size, &sync, &lit8,
						 &start);
			if (r == 1 && start == pos) {
				announce_literal(p, size, sync, lit8);
				return IMAP_PARSE_NEED_LITERAL;
			}
			set_error(p, NULL, r < 0 ? "Literal size too large"
						 : "Invalid literal");
			return fail_line(p, line, len);
		}
		if (!parse_atom(p, line, len, &pos))
			return fail_line(p, line, len);
		need_sep = true;
	}
	if (p->depth > 0) {
		set_error(p, NULL, "Missing ')'");
		return finish_error(p);
	}
	terminate(&p->levels[0]);
	p->state = PS_DONE;
	return IMAP_PARSE_DONE;
}

/* The tag and the command name at the start of the first line. */
static enum imap_parse_result parse_start(struct imap_parser *p,
					  const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && line[i] != ' ') {
		unsigned char c = (unsigned char)line[i];
		if (!is_atom_char(c) || c == '+' || c == '*' || c == '%' ||
		    c == '\\' || i >= TAG_MAX) {
			set_error(p, NULL, "Invalid tag");
			return fail_line(p, line, len);
		}
		i++;
	}
	if (i == 0) {
		set_error(p, NULL, len == 0 ? "Empty command" : "Invalid tag");
		return fail_line(p, line, len);
	}
	memcpy(p->tag, line, i);
	p->tag[i] = '\0';
	p->have_tag = true;
	for (int word = 0; word < 2; word++) {
		if (i >= len || line[i] != ' ') {
			set_error(p, NULL, "Missing command name");
			return fail_line(p, line, len);
		}
		size_t st = ++i;
		while (i < len && line[i] != ' ') {
			unsigned char c = (unsigned char)line[i];
			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
			      c == '.')) {
				set_error(p, NULL, "Invalid command name");
				return fail_line(p, line, len);
			}
			i++;
		}
		if (i == st || i - st > 64) {
			set_error(p, NULL, "Invalid command name");
			return fail_line(p, line, len);
		}
		free(p->name);
		p->name = xstrndup(line + st, i - st);
		for (char *q = p->name; *q != '\0'; q++)
			if (*q >= 'a' && *q <= 'z')
				*q = (char)(*q - 'a' + 'A');
		if (word == 0 && strcmp(p->name, "UID") == 0 && i < len &&
		    line[i] == ' ' && i + 1 < len) {
			p->uid = true;
			continue;
		}
		break;
	}
	/* NOTIFY's MessageNew takes FETCH attributes (RFC 5465). */
	p->fetch = strcmp(p->name, "FETCH") == 0 ||
		   strcmp(p->name, "NOTIFY") == 0;
	p->append = strcmp(p->name, "APPEND") == 0;
	return parse_args(p, line, len, i, false);
}

enum imap_parse_result imap_parser_feed_line(struct imap_parser *p,
					     const char *line, size_t len)
{
	if (p->state == PS_DONE || p->state == PS_ERROR)
		imap_parser_reset(p);
	if (p->state == PS_LITERAL && p->li.size == 0)
		imap_parser_feed_literal(p, "", 0); /* "{0}" has no bytes */
	if (p->state == PS_LITERAL) {
		set_error(p, NULL, "Literal data missing");
		return finish_error(p);
	}
	bool first = p->state == PS_IDLE;
	p->state = PS_LINE;
	if (len > p->lim.max_line) {
		set_error(p, "TOOBIG", "Command line too long");
		p->fatal = true;
		return finish_error(p);
	}
	if (!p->failed && len > p->lim.max_command - p->total) {
		set_error(p, "TOOBIG", "Command too long");
		return fail_line(p, line, len);
	}
	p->total += len;
	if (p->failed)
		return fail_line(p, line, len);
	if (first && !p->args_only)
		return parse_start(p, line, len);
	return parse_args(p, line, len, 0, !first);
}

void imap_parser_literal_info(const struct imap_parser *p,
			      struct imap_literal_info *li)
{
	*li = p->li;
}

uint64_t imap_parser_literal_remaining(const struct imap_parser *p)
{
	return p->state == PS_LITERAL ? p->li.size - p->litgot : 0;
}

static void literal_done(struct imap_parser *p)
{
	p->state = PS_LINE;
	if (p->litmode == LIT_DISCARD)
		return;
	if (p->lit_nul && !p->li.literal8) {
		set_error(p, NULL, "NUL byte in literal");
		XFREE(p->litbuf);
		return;
	}
	if (p->litmode == LIT_STREAM)
		return; /* the arg was added by literal_stream */
	struct imap_arg *a = new_arg(p, IMAP_ARG_LITERAL);
	if (p->litbuf == NULL)
		p->litbuf = xmalloc(1);
	p->litbuf[p->li.size] = '\0';
	a->str = p->litbuf;
	a->len = (size_t)p->li.size;
	a->literal8 = p->li.literal8;
	a->literal_sync = p->li.sync;
	p->litbuf = NULL;
}

size_t imap_parser_feed_literal(struct imap_parser *p, const void *data,
				size_t len)
{
	if (p->state != PS_LITERAL || p->litmode == LIT_STREAM)
		return 0;
	uint64_t left = p->li.size - p->litgot;
	size_t n = len < left ? len : (size_t)left;
	if (!p->lit_chosen) {
		p->lit_chosen = true;
		if (p->li.too_big || p->li.size > p->lim.max_literal ||
		    p->li.size > p->lim.max_command - p->total) {
			/* The engine should have refused or streamed it. */
			set_error(p, "TOOBIG", "Literal too big");
			p->litmode = LIT_DISCARD;
		} else {
			p->total += (size_t)p->li.size;
			p->litbuf = xmalloc((size_t)p->li.size + 1);
		}
	}
	if (p->litmode == LIT_MEMORY) {
		memcpy(p->litbuf + p->litgot, data, n);
		if (memchr(data, '\0', n) != NULL)
			p->lit_nul = true;
	}
	p->litgot += n;
	if (p->litgot == p->li.size)
		literal_done(p);
	return n;
}

void imap_parser_literal_stream(struct imap_parser *p, void *handle,
				void (*free_fn)(void *handle))
{
	if (p->stream_count == p->stream_alloc) {
		p->stream_alloc = p->stream_alloc == 0 ? 2 : p->stream_alloc * 2;
		p->streams = xreallocarray(p->streams, p->stream_alloc,
					   sizeof(*p->streams));
	}
	p->streams[p->stream_count].handle = handle;
	p->streams[p->stream_count].free_fn = free_fn;
	p->stream_count++;
	if (p->state != PS_LITERAL || p->lit_chosen) {
		/* Misuse: keep the handle so it is freed, fail the command. */
		set_error(p, NULL, "Unexpected literal stream");
		return;
	}
	p->lit_chosen = true;
	p->litmode = LIT_STREAM;
	struct imap_arg *a = new_arg(p, IMAP_ARG_STREAM);
	a->len = (size_t)p->li.size;
	a->literal8 = p->li.literal8;
	a->literal_sync = p->li.sync;
	a->stream = handle;
	/* The engine reads the bytes itself: the literal is over for us. */
	p->litgot = p->li.size;
	p->state = PS_LINE;
}

enum imap_parse_result imap_parser_literal_refuse(struct imap_parser *p)
{
	/* The client sends a non-synchronising literal anyway: close. */
	if (p->state == PS_LITERAL && !p->li.sync)
		p->fatal = true;
	p->failed = false;
	set_error(p, "TOOBIG", "Literal too big");
	return finish_error(p);
}

enum imap_parse_result imap_parser_line_too_long(struct imap_parser *p)
{
	if (p->state == PS_DONE || p->state == PS_ERROR)
		imap_parser_reset(p);
	set_error(p, "TOOBIG", "Command line too long");
	p->fatal = true;
	return finish_error(p);
}

struct imap_command *imap_parser_take(struct imap_parser *p)
{
	if (p->state != PS_DONE)
		return NULL;
	struct command_priv *c = xcalloc(1, sizeof(*c));
	c->tag = xstrdup(p->tag);
	c->name = xstrdup(p->name != NULL ? p->name : "");
	c->args = p->levels[0].args;
	c->pub.arg_count = p->levels[0].count;
	if (c->args == NULL) {
		c->args = xcalloc(1, sizeof(*c->args));
		c->args[0].type = IMAP_ARG_EOL;
	}
	memset(&p->levels[0], 0, sizeof(p->levels[0]));
	c->streams = p->streams;
	c->stream_count = p->stream_count;
	p->streams = NULL;
	p->stream_count = p->stream_alloc = 0;
	c->pub.tag = c->tag;
	c->pub.name = c->name;
	c->pub.uid = p->uid;
	c->pub.args = c->args;
	imap_parser_reset(p);
	return &c->pub;
}

struct imap_command *imap_parse_args(const char *s, bool fetch,
				     char **error_r)
{
	struct imap_parser *p = imap_parser_new(NULL);
	struct imap_command *cmd = NULL;
	p->args_only = true;
	p->fetch = fetch;
	size_t len = strlen(s);
	enum imap_parse_result r = imap_parser_feed_line(p, s, len);
	if (r == IMAP_PARSE_DONE) {
		cmd = imap_parser_take(p);
	} else {
		if (r == IMAP_PARSE_NEED_LITERAL && !p->failed)
			set_error(p, NULL, "Literals not allowed here");
		if (error_r != NULL)
			*error_r = xstrdup(imap_parser_error(p));
	}
	imap_parser_free(&p);
	return cmd;
}
