/*
 * imap_search - see imap_search.h.  Parsing: a recursive-descent parser
 * over the argument array, one small function per family of keys.
 * Evaluation is in imap_search_eval.c.
 */
#include "imap/imap_search.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/xmalloc.h"
#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"
#include "imap/imap_utf7.h"

/* Nesting of NOT / OR / lists; the parser bounds list depth, this bounds
 * chains like "NOT NOT NOT ...". */
#define MAX_KEY_DEPTH 64

/* --- keys --- */

static struct imap_search_key *new_key(enum imap_search_key_type t)
{
	struct imap_search_key *k = xcalloc(1, sizeof(*k));
	k->type = t;
	return k;
}

static void free_key(struct imap_search_key *k)
{
	while (k != NULL) {
		struct imap_search_key *next = k->next;
		free_key(k->children);
		free(k->str);
		free(k->field);
		free(k->entry);
		free(k->entry_type);
		imap_seqset_free(&k->seqset);
		imap_seqset_free(&k->fts_uids);
		free(k);
		k = next;
	}
}

void imap_search_program_free(struct imap_search_program **progp)
{
	struct imap_search_program *p = *progp;
	if (p == NULL)
		return;
	*progp = NULL;
	free_key(p->root);
	free(p->charset);
	free(p);
}

struct pctx {
	const struct imap_arg *args;
	size_t i;
	struct imap_search_program *prog;
	struct error *err;
};

/* Client text for an error message: printable ASCII, at most 64 bytes
 * (the message goes on a BAD reply line). */
static const char *printable(const char *s, char *tmp, size_t size)
{
	size_t i = 0;
	for (; s[i] != '\0' && i + 1 < size && i < 64; i++)
		tmp[i] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f
				 ? s[i] : '?';
	tmp[i] = '\0';
	return tmp;
}

static int bad(struct pctx *c, const char *what, const char *name)
{
	char tmp[80];
	return error_set(c->err, ERR_PERM, "%s%s%s", what,
			 name != NULL ? ": " : "",
			 name != NULL ? printable(name, tmp, sizeof(tmp)) : "");
}

static const struct imap_arg *next_arg(struct pctx *c)
{
	const struct imap_arg *a = &c->args[c->i];
	if (a->type == IMAP_ARG_EOL)
		return NULL;
	c->i++;
	return a;
}

/* A search string: astring, valid UTF-8, no NUL. */
static int get_string(struct pctx *c, const char *key, char **str_r)
{
	const struct imap_arg *a = next_arg(c);
	const char *s;
	size_t len;
	if (a == NULL || !imap_arg_get_data(a, &s, &len))
		return bad(c, "Missing string argument", key);
	if (strlen(s) != len || !imap_utf8_is_valid(s, len))
		return bad(c, "Invalid characters in search string", key);
	*str_r = xstrdup(s);
	return 0;
}

static int get_number(struct pctx *c, const char *key, uint64_t *n_r)
{
	const struct imap_arg *a = next_arg(c);
	if (a == NULL || !imap_arg_get_number64(a, n_r))
		return bad(c, "Invalid number", key);
	return 0;
}

static int get_seqset(struct pctx *c, const char *s, struct imap_seqset **set_r)
{
	if (imap_seqset_parse(s, true, set_r, c->err) < 0)
		return -1;
	if ((*set_r)->saved)
		c->prog->uses_saved = true;
	return 0;
}

static int parse_key(struct pctx *c, unsigned depth,
		     struct imap_search_key **key_r);

/* Keys of a list until EOL, as children of an AND. */
static int parse_key_list(struct pctx *c, unsigned depth,
			  struct imap_search_key *and)
{
	struct imap_search_key **tail = &and->children;
	while (c->args[c->i].type != IMAP_ARG_EOL) {
		if (parse_key(c, depth, tail) < 0)
			return -1;
		tail = &(*tail)->next;
	}
	if (and->children == NULL)
		return bad(c, depth == 0 ? "Missing search key"
					 : "Empty search key list", NULL);
	return 0;
}

/*
 * One parser per family of keys: called with the new key (type, flag,
 * set and field already filled from the table) to read the key's own
 * arguments.  `name` is the key as the client wrote it, for errors.
 */
typedef int key_parser(struct pctx *c, const char *name, unsigned depth,
		       struct imap_search_key *k);

static int p_string(struct pctx *c, const char *name, unsigned depth,
		    struct imap_search_key *k)
{
	return get_string(c, name, &k->str);
}

static int p_header(struct pctx *c, const char *name, unsigned depth,
		    struct imap_search_key *k)
{
	if (get_string(c, name, &k->field) < 0)
		return -1;
	if (k->field[0] == '\0')
		return bad(c, "Empty header field name", NULL);
	for (const char *f = k->field; *f != '\0'; f++)
		if ((unsigned char)*f <= 0x20 || (unsigned char)*f >= 0x7f ||
		    *f == ':')
			return bad(c, "Invalid header field name", NULL);
	return get_string(c, name, &k->str);
}

static int p_date(struct pctx *c, const char *name, unsigned depth,
		  struct imap_search_key *k)
{
	const struct imap_arg *d = next_arg(c);
	const char *ds;
	if (d == NULL || !imap_arg_get_astring(d, &ds) ||
	    !imap_search_parse_date(ds, &k->day))
		return bad(c, "Invalid date", name);
	return 0;
}

static int p_keyword(struct pctx *c, const char *name, unsigned depth,
		     struct imap_search_key *k)
{
	const struct imap_arg *kw = next_arg(c);
	const char *s;
	/* flag-keyword is an atom; "\Seen" and wildcards are no keywords */
	if (kw == NULL || !imap_arg_get_atom(kw, &s) ||
	    strpbrk(s, "\\*%]") != NULL)
		return bad(c, "Invalid keyword", name);
	k->str = xstrdup(s);
	return 0;
}

static int p_number(struct pctx *c, const char *name, unsigned depth,
		    struct imap_search_key *k)
{
	return get_number(c, name, &k->number);
}

/* OLDER / YOUNGER: nz-number of seconds (RFC 5032). */
static int p_interval(struct pctx *c, const char *name, unsigned depth,
		      struct imap_search_key *k)
{
	if (get_number(c, name, &k->number) < 0)
		return -1;
	if (k->number == 0 || k->number > UINT32_MAX)
		return bad(c, "Invalid interval", name);
	return 0;
}

static int p_uidset(struct pctx *c, const char *name, unsigned depth,
		    struct imap_search_key *k)
{
	const struct imap_arg *u = next_arg(c);
	const char *s;
	if (u == NULL || !imap_arg_get_atom(u, &s))
		return bad(c, "Invalid UID set", NULL);
	return get_seqset(c, s, &k->seqset);
}

static int p_not(struct pctx *c, const char *name, unsigned depth,
		 struct imap_search_key *k)
{
	return parse_key(c, depth + 1, &k->children);
}

static int p_or(struct pctx *c, const char *name, unsigned depth,
		struct imap_search_key *k)
{
	if (parse_key(c, depth + 1, &k->children) < 0)
		return -1;
	return parse_key(c, depth + 1, &k->children->next);
}

/* NEW = (RECENT UNSEEN); OLD = NOT RECENT (the key is AND resp. NOT). */
static int p_new_old(struct pctx *c, const char *name, unsigned depth,
		     struct imap_search_key *k)
{
	struct imap_search_key *recent = new_key(IMAP_SK_FLAG);
	recent->flag = IMAP_MSG_RECENT;
	recent->set = true;
	k->children = recent;
	if (k->type == IMAP_SK_AND) {
		recent->next = new_key(IMAP_SK_FLAG);
		recent->next->flag = IMAP_MSG_SEEN;
		recent->next->set = false;
	}
	return 0;
}

/* MODSEQ ["entry-name" entry-type] mod-sequence (RFC 7162 3.1.5). */
static int p_modseq(struct pctx *c, const char *name, unsigned depth,
		    struct imap_search_key *k)
{
	const struct imap_arg *e = &c->args[c->i];
	if (e->type == IMAP_ARG_QUOTED || e->type == IMAP_ARG_LITERAL) {
		const char *t;
		if (strlen(e->str) != e->len)
			return bad(c, "Invalid MODSEQ entry name", NULL);
		k->entry = xstrdup(e->str);
		c->i++;
		const struct imap_arg *ta = next_arg(c);
		if (ta == NULL || !imap_arg_get_atom(ta, &t) ||
		    (strcasecmp(t, "priv") != 0 && strcasecmp(t, "shared") != 0 &&
		     strcasecmp(t, "all") != 0))
			return bad(c, "Invalid MODSEQ entry type", NULL);
		k->entry_type = xstrdup(t);
		for (char *q = k->entry_type; *q != '\0'; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q + 32);
	}
	if (get_number(c, name, &k->number) < 0)
		return -1;
	c->prog->uses_modseq = true;
	return 0;
}

/* EMAILID / THREADID objectid: 1-255 of [A-Za-z0-9_-] (RFC 8474). */
static int p_objectid(struct pctx *c, const char *name, unsigned depth,
		      struct imap_search_key *k)
{
	const struct imap_arg *o = next_arg(c);
	const char *s;
	if (o == NULL || !imap_arg_get_atom(o, &s) || strlen(s) > 255)
		return bad(c, "Invalid object id", name);
	for (const char *q = s; *q != '\0'; q++)
		if (!((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') ||
		      (*q >= '0' && *q <= '9') || *q == '-' || *q == '_'))
			return bad(c, "Invalid object id", name);
	k->str = xstrdup(s);
	return 0;
}

static const struct key_def {
	const char *name;
	enum imap_search_key_type type;
	key_parser *parse; /* NULL: no arguments */
	unsigned flag;
	bool set;
	const char *field; /* HEADER field of FROM, TO... */
} key_defs[] = {
	{"ALL", IMAP_SK_ALL, NULL, 0, false, NULL},
	{"ANSWERED", IMAP_SK_FLAG, NULL, IMAP_MSG_ANSWERED, true, NULL},
	{"DELETED", IMAP_SK_FLAG, NULL, IMAP_MSG_DELETED, true, NULL},
	{"DRAFT", IMAP_SK_FLAG, NULL, IMAP_MSG_DRAFT, true, NULL},
	{"FLAGGED", IMAP_SK_FLAG, NULL, IMAP_MSG_FLAGGED, true, NULL},
	{"RECENT", IMAP_SK_FLAG, NULL, IMAP_MSG_RECENT, true, NULL},
	{"SEEN", IMAP_SK_FLAG, NULL, IMAP_MSG_SEEN, true, NULL},
	{"UNANSWERED", IMAP_SK_FLAG, NULL, IMAP_MSG_ANSWERED, false, NULL},
	{"UNDELETED", IMAP_SK_FLAG, NULL, IMAP_MSG_DELETED, false, NULL},
	{"UNDRAFT", IMAP_SK_FLAG, NULL, IMAP_MSG_DRAFT, false, NULL},
	{"UNFLAGGED", IMAP_SK_FLAG, NULL, IMAP_MSG_FLAGGED, false, NULL},
	{"UNSEEN", IMAP_SK_FLAG, NULL, IMAP_MSG_SEEN, false, NULL},
	{"NEW", IMAP_SK_AND, p_new_old, 0, false, NULL},
	{"OLD", IMAP_SK_NOT, p_new_old, 0, false, NULL},
	{"KEYWORD", IMAP_SK_KEYWORD, p_keyword, 0, true, NULL},
	{"UNKEYWORD", IMAP_SK_KEYWORD, p_keyword, 0, false, NULL},
	{"BCC", IMAP_SK_HEADER, p_string, 0, false, "BCC"},
	{"CC", IMAP_SK_HEADER, p_string, 0, false, "CC"},
	{"FROM", IMAP_SK_HEADER, p_string, 0, false, "FROM"},
	{"SUBJECT", IMAP_SK_HEADER, p_string, 0, false, "SUBJECT"},
	{"TO", IMAP_SK_HEADER, p_string, 0, false, "TO"},
	{"HEADER", IMAP_SK_HEADER, p_header, 0, false, NULL},
	{"BODY", IMAP_SK_BODY, p_string, 0, false, NULL},
	{"TEXT", IMAP_SK_TEXT, p_string, 0, false, NULL},
	{"BEFORE", IMAP_SK_BEFORE, p_date, 0, false, NULL},
	{"ON", IMAP_SK_ON, p_date, 0, false, NULL},
	{"SINCE", IMAP_SK_SINCE, p_date, 0, false, NULL},
	{"SENTBEFORE", IMAP_SK_SENTBEFORE, p_date, 0, false, NULL},
	{"SENTON", IMAP_SK_SENTON, p_date, 0, false, NULL},
	{"SENTSINCE", IMAP_SK_SENTSINCE, p_date, 0, false, NULL},
	{"LARGER", IMAP_SK_LARGER, p_number, 0, false, NULL},
	{"SMALLER", IMAP_SK_SMALLER, p_number, 0, false, NULL},
	{"OLDER", IMAP_SK_OLDER, p_interval, 0, false, NULL},
	{"YOUNGER", IMAP_SK_YOUNGER, p_interval, 0, false, NULL},
	{"UID", IMAP_SK_UIDSET, p_uidset, 0, false, NULL},
	{"NOT", IMAP_SK_NOT, p_not, 0, false, NULL},
	{"OR", IMAP_SK_OR, p_or, 0, false, NULL},
	{"MODSEQ", IMAP_SK_MODSEQ, p_modseq, 0, false, NULL},
	{"EMAILID", IMAP_SK_EMAILID, p_objectid, 0, false, NULL},
	{"THREADID", IMAP_SK_THREADID, p_objectid, 0, false, NULL},
};

static int parse_key(struct pctx *c, unsigned depth,
		     struct imap_search_key **key_r)
{
	const struct imap_arg *a = next_arg(c);
	struct imap_search_key *k = NULL;
	const char *s;
	if (a == NULL)
		return bad(c, "Missing search key", NULL);
	if (depth > MAX_KEY_DEPTH)
		return bad(c, "Search program too deeply nested", NULL);

	if (a->type == IMAP_ARG_LIST) {
		struct pctx sub = *c;
		sub.args = a->list;
		sub.i = 0;
		k = new_key(IMAP_SK_AND);
		if (parse_key_list(&sub, depth + 1, k) < 0)
			goto fail;
		*key_r = k;
		return 0;
	}
	if (!imap_arg_get_atom(a, &s))
		return bad(c, "Invalid search key", NULL);
	if ((*s >= '0' && *s <= '9') || *s == '*' || *s == '$') {
		k = new_key(IMAP_SK_SEQSET);
		if (get_seqset(c, s, &k->seqset) < 0)
			goto fail;
		if (k->seqset->saved)
			k->type = IMAP_SK_UIDSET; /* "$" holds UIDs */
		*key_r = k;
		return 0;
	}
	for (size_t i = 0; i < sizeof(key_defs) / sizeof(key_defs[0]); i++) {
		const struct key_def *d = &key_defs[i];
		if (strcasecmp(s, d->name) != 0)
			continue;
		k = new_key(d->type);
		k->flag = d->flag;
		k->set = d->set;
		if (d->field != NULL)
			k->field = xstrdup(d->field);
		if (d->parse != NULL && d->parse(c, s, depth, k) < 0)
			goto fail;
		*key_r = k;
		return 0;
	}
	return bad(c, "Unknown search key", s);
fail:
	free_key(k);
	return -1;
}

/* Cost of a key and its children (fills key->cost). */
static enum imap_search_cost compute_cost(struct imap_search_key *k)
{
	enum imap_search_cost cost = IMAP_SEARCH_COST_INDEX;
	for (struct imap_search_key *ch = k->children; ch != NULL; ch = ch->next) {
		enum imap_search_cost cc = compute_cost(ch);
		if (cc > cost)
			cost = cc;
	}
	switch (k->type) {
	case IMAP_SK_HEADER:
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE:
		cost = IMAP_SEARCH_COST_HEADER;
		break;
	case IMAP_SK_BODY:
	case IMAP_SK_TEXT:
		cost = IMAP_SEARCH_COST_BODY;
		break;
	default:
		break;
	}
	if (k->fts_uids != NULL && k->fts_definite)
		cost = IMAP_SEARCH_COST_INDEX;
	k->cost = cost;
	return cost;
}

static bool charset_ok(const char *cs)
{
	return strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "US-ASCII") == 0 ||
	       strcasecmp(cs, "UTF8") == 0;
}

static int set_charset(struct pctx *c, const struct imap_arg *a)
{
	const char *cs;
	if (a == NULL || !imap_arg_get_astring(a, &cs))
		return bad(c, "Missing charset", NULL);
	if (!charset_ok(cs)) {
		char tmp[80];
		return error_set_code(c->err, ERR_PERM, "BADCHARSET",
				      "Unsupported charset %s",
				      printable(cs, tmp, sizeof(tmp)));
	}
	c->prog->charset = xstrdup(cs);
	for (char *q = c->prog->charset; *q != '\0'; q++)
		if (*q >= 'a' && *q <= 'z')
			*q = (char)(*q - 32);
	return 0;
}

static int parse_return(struct pctx *c)
{
	const struct imap_arg *a = next_arg(c), *list;
	size_t n;
	if (a == NULL || !imap_arg_get_list(a, &list, &n))
		return bad(c, "Invalid RETURN options", NULL);
	c->prog->esearch = true;
	for (size_t i = 0; i < n; i++) {
		const char *o;
		if (!imap_arg_get_atom(&list[i], &o))
			return bad(c, "Invalid RETURN option", NULL);
		if (strcasecmp(o, "MIN") == 0)
			c->prog->return_opts |= IMAP_SEARCH_RETURN_MIN;
		else if (strcasecmp(o, "MAX") == 0)
			c->prog->return_opts |= IMAP_SEARCH_RETURN_MAX;
		else if (strcasecmp(o, "ALL") == 0)
			c->prog->return_opts |= IMAP_SEARCH_RETURN_ALL;
		else if (strcasecmp(o, "COUNT") == 0)
			c->prog->return_opts |= IMAP_SEARCH_RETURN_COUNT;
		else if (strcasecmp(o, "SAVE") == 0)
			c->prog->return_opts |= IMAP_SEARCH_RETURN_SAVE;
		else
			return bad(c, "Unknown RETURN option", o);
	}
	if (c->prog->return_opts == 0)
		c->prog->return_opts = IMAP_SEARCH_RETURN_ALL;
	return 0;
}

int imap_search_parse(const struct imap_arg *args, unsigned opts,
		      struct imap_search_program **prog_r, struct error *err)
{
	struct imap_search_program *prog = xcalloc(1, sizeof(*prog));
	struct pctx c = {.args = args, .i = 0, .prog = prog, .err = err};
	if (opts & IMAP_SEARCH_PARSE_SORT) {
		if (set_charset(&c, next_arg(&c)) < 0)
			goto fail;
	} else {
		if (imap_arg_atom_equals(&args[c.i], "RETURN")) {
			c.i++;
			if (parse_return(&c) < 0)
				goto fail;
		}
		if (imap_arg_atom_equals(&args[c.i], "CHARSET")) {
			c.i++;
			if (set_charset(&c, next_arg(&c)) < 0)
				goto fail;
		}
	}
	prog->root = new_key(IMAP_SK_AND);
	if (parse_key_list(&c, 0, prog->root) < 0)
		goto fail;
	prog->cost = compute_cost(prog->root);
	*prog_r = prog;
	return 0;
fail:
	imap_search_program_free(&prog);
	return -1;
}

static void resolve_keys(struct imap_search_key *k, uint32_t max_seq,
			 uint32_t max_uid, const uint32_t *saved,
			 size_t saved_count)
{
	for (; k != NULL; k = k->next) {
		if (k->seqset != NULL) {
			if (k->seqset->saved) {
				imap_seqset_free(&k->seqset);
				k->seqset = imap_seqset_from_array(saved,
								   saved_count);
			} else {
				imap_seqset_resolve(k->seqset,
						    k->type == IMAP_SK_UIDSET
							    ? max_uid
							    : max_seq);
			}
		}
		resolve_keys(k->children, max_seq, max_uid, saved, saved_count);
	}
}

void imap_search_resolve(struct imap_search_program *prog, uint32_t max_seq,
			 uint32_t max_uid, const uint32_t *saved,
			 size_t saved_count)
{
	resolve_keys(prog->root, max_seq, max_uid, saved, saved_count);
}

static void foreach_text(struct imap_search_key *k,
			 void (*fn)(struct imap_search_key *key, void *ctx),
			 void *ctx)
{
	for (; k != NULL; k = k->next) {
		if (k->type == IMAP_SK_HEADER || k->type == IMAP_SK_BODY ||
		    k->type == IMAP_SK_TEXT)
			fn(k, ctx);
		foreach_text(k->children, fn, ctx);
	}
}

void imap_search_foreach_text(struct imap_search_program *prog,
			      void (*fn)(struct imap_search_key *key,
					 void *ctx),
			      void *ctx)
{
	foreach_text(prog->root, fn, ctx);
}

void imap_search_key_set_fts(struct imap_search_program *prog,
			     struct imap_search_key *key,
			     struct imap_seqset *uids, bool definite)
{
	imap_seqset_free(&key->fts_uids);
	if (!uids->resolved)
		imap_seqset_resolve(uids, UINT32_MAX);
	key->fts_uids = uids;
	key->fts_definite = definite;
	prog->cost = compute_cost(prog->root);
}
