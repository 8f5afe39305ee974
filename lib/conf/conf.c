/*
 * conf - the main.cf loader: parse, apply overrides, expand, validate.
 *
 * Loading is three passes.  The parser turns logical lines into raw
 * values (the last definition of a name wins, as in Postfix).  Overrides
 * then replace raw values.  Finally every table parameter is expanded
 * (recursively, memoised, with loop detection) and checked against its
 * type, so that a struct conf handed out is complete and valid and its
 * getters cannot fail.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_private.h"
#include "core/array.h"
#include "core/buf.h"
#include "core/fsutil.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"

enum exp_state { EXP_TODO, EXP_BUSY, EXP_DONE };

struct entry {
	const struct conf_param *param; /* NULL: a name not in the table */
	char *name;			/* owned for unknown names only */
	char *raw;			/* as set; NULL means the default */
	bool set;			/* set in main.cf or by an override */
	const char *origin;		/* where raw came from (conf-owned) */
	unsigned line;			/* its line there, 0 for overrides */
	enum exp_state state;
	char *value; /* expanded */
	union {
		long long i;
		int64_t t;
		bool b;
	} v;
};

struct conf {
	char *dir;
	char *path;
	struct entry *known;   /* one per table row, in table order */
	struct array *extras;  /* struct entry *: names not in the table */
	struct hash *index;    /* name -> struct entry * (borrowed) */
	struct array *strings; /* origins and other conf-owned strings */
};

static const char *entry_name(const struct entry *e)
{
	return e->param != NULL ? e->param->name : e->name;
}

/* "FILE:LINE", the override's origin, or "FILE" for a default. */
static void entry_where(const struct conf *c, const struct entry *e, char *out,
			size_t size)
{
	if (e->origin != NULL && e->line > 0)
		snprintf(out, size, "%s:%u", e->origin, e->line);
	else if (e->origin != NULL)
		snprintf(out, size, "%s", e->origin);
	else
		snprintf(out, size, "%s: default of %s", c->path,
			 entry_name(e));
}

static const char *conf_keep(struct conf *c, char *s)
{
	array_push(c->strings, s);
	return s;
}

static char *absolute_dir(const char *dir)
{
	char *r = realpath(dir, NULL);
	if (r != NULL) {
		char *copy = xstrdup(r);
		free(r);
		return copy;
	}
	/* Not there (yet): make it absolute without resolving links. */
	struct buf *b = buf_new();
	if (dir[0] != '/') {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)) != NULL)
			buf_append_str(b, cwd);
		while (dir[0] == '.' && dir[1] == '/')
			dir += 2;
		if (strcmp(dir, ".") == 0)
			dir = "";
		if (buf_len(b) == 0 || buf_data(b)[buf_len(b) - 1] != '/')
			buf_append_char(b, '/');
	}
	buf_append_str(b, dir);
	while (buf_len(b) > 1 && buf_data(b)[buf_len(b) - 1] == '/')
		buf_truncate(b, buf_len(b) - 1);
	char *s = buf_steal(b);
	buf_free(&b);
	return s;
}

static struct conf *conf_new(const char *config_dir)
{
	struct conf *c = xcalloc(1, sizeof(*c));
	size_t n = conf_param_count();

	c->dir = absolute_dir(config_dir);
	c->path = xasprintf("%s/main.cf", c->dir);
	c->known = xcalloc(n, sizeof(*c->known));
	c->extras = array_new();
	c->index = hash_new(HASH_DEFAULT, NULL);
	c->strings = array_new();
	for (size_t i = 0; i < n; i++) {
		c->known[i].param = conf_param_at(i);
		hash_put(c->index, c->known[i].param->name, &c->known[i]);
	}
	/* config_directory always names the folder actually in use. */
	struct entry *cd = hash_get(c->index, "config_directory");
	if (cd != NULL)
		cd->raw = xstrdup(c->dir);
	return c;
}

void conf_free(struct conf **cp)
{
	struct conf *c = *cp;
	if (c == NULL)
		return;
	size_t n = conf_param_count();
	for (size_t i = 0; i < n; i++) {
		free(c->known[i].raw);
		free(c->known[i].value);
	}
	for (size_t i = 0; i < array_len(c->extras); i++) {
		struct entry *e = array_get(c->extras, i);
		free(e->name);
		free(e->raw);
		free(e->value);
		free(e);
	}
	array_free(&c->extras);
	array_free_with(&c->strings, free);
	hash_free(&c->index);
	free(c->known);
	free(c->dir);
	free(c->path);
	free(c);
	*cp = NULL;
}

/*
 * Record NAME = VALUE from ORIGIN:LINE (line 0: an override).  Unknown
 * names are kept so that $name can refer to them, as Postfix allows, but
 * they are most often typos: warn.
 */
static void conf_define(struct conf *c, const char *name, const char *value,
			const char *origin, unsigned line)
{
	char where[600];
	if (line > 0)
		snprintf(where, sizeof(where), "%s:%u", origin, line);
	else
		snprintf(where, sizeof(where), "%s", origin);

	if (strcmp(name, "config_directory") == 0) {
		log_warn("%s: config_directory is set by -c DIR, not here; "
			 "ignored",
			 where);
		return;
	}
	struct entry *e = hash_get(c->index, name);
	if (e == NULL) {
		log_warn("%s: unknown parameter %s", where, name);
		e = xcalloc(1, sizeof(*e));
		e->name = xstrdup(name);
		array_push(c->extras, e);
		hash_put(c->index, e->name, e);
	} else if (e->set && e->line > 0 && line > 0) {
		log_warn("%s: %s is defined again; the definition at line %u "
			 "is ignored",
			 where, name, e->line);
	}
	free(e->raw);
	e->raw = xstrdup(value);
	e->set = true;
	e->origin = origin;
	e->line = line;
}

/* One logical line: "name = value" (continuations already joined). */
static int parse_definition(struct conf *c, const char *text, size_t len,
			    const char *origin, unsigned line,
			    struct error *err)
{
	size_t n = conf_name_len(text, len);
	size_t i = n;
	while (i < len && conf_space(text[i]))
		i++;
	if (n == 0 || i == len || text[i] != '=') {
		if (n == 0)
			return error_set(err, ERR_CONFIG,
					 "%s:%u: a parameter name must start "
					 "the line (letters, digits, _)",
					 origin, line);
		return error_set(err, ERR_CONFIG,
				 "%s:%u: missing '=' after \"%.*s\"", origin,
				 line, (int)(n > 100 ? 100 : n), text);
	}
	i++;
	while (i < len && conf_space(text[i]))
		i++;
	size_t end = len;
	while (end > i && conf_space(text[end - 1]))
		end--;
	char *name = xstrndup(text, n);
	char *value = xstrndup(text + i, end - i);
	conf_define(c, name, value, origin, line);
	free(name);
	free(value);
	return 0;
}

static int parse_text(struct conf *c, const char *origin, const char *data,
		      size_t len, struct error *err)
{
	struct buf *logical = buf_new();
	unsigned lineno = 0, start_line = 0;
	size_t pos = 0;
	int ret = 0;

	while (pos < len && ret == 0) {
		const char *line = data + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
		pos += n + (nl != NULL);
		lineno++;

		if (memchr(line, '\0', n) != NULL) {
			ret = error_set(err, ERR_CONFIG,
					"%s:%u: NUL byte in line", origin,
					lineno);
			break;
		}
		while (n > 0 && conf_space(line[n - 1]))
			n--;
		switch (conf_line_kind(line, n)) {
		case CONF_LINE_SKIP:
			/* Comments may sit inside a continued value. */
			continue;
		case CONF_LINE_CONT:
			if (start_line == 0) {
				ret = error_set(err, ERR_CONFIG,
						"%s:%u: line starts with white "
						"space but continues no "
						"parameter",
						origin, lineno);
				break;
			}
			while (conf_space(*line)) {
				line++;
				n--;
			}
			buf_append_char(logical, ' ');
			buf_append(logical, line, n);
			break;
		case CONF_LINE_START:
			if (start_line > 0)
				ret = parse_definition(c, buf_data(logical),
						       buf_len(logical), origin,
						       start_line, err);
			buf_reset(logical);
			buf_append(logical, line, n);
			start_line = lineno;
			break;
		}
		if (ret == 0 && buf_len(logical) > CONF_LINE_MAX)
			ret = error_set(err, ERR_CONFIG,
					"%s:%u: line longer than %u bytes",
					origin, start_line, CONF_LINE_MAX);
	}
	if (ret == 0 && start_line > 0)
		ret = parse_definition(c, buf_data(logical), buf_len(logical),
				       origin, start_line, err);
	buf_free(&logical);
	return ret;
}

static int apply_override(struct conf *c, const char *nv, struct error *err)
{
	const char *eq = strchr(nv, '=');
	if (eq == NULL)
		return error_set(err, ERR_CONFIG,
				 "-o %.100s: expected name=value", nv);
	char *name = xstrndup(nv, (size_t)(eq - nv));
	char *value = xstrdup(eq + 1);
	char *nm = str_trim(name), *v = str_trim(value);
	size_t nlen = strlen(nm);
	int ret = 0;
	if (nlen == 0 || conf_name_len(nm, nlen) != nlen ||
	    strchr(v, '\n') != NULL) {
		ret = error_set(err, ERR_CONFIG,
				"-o %.100s: expected name=value", nv);
	} else {
		const char *origin = conf_keep(c, xasprintf("-o %s", nm));
		conf_define(c, nm, v, origin, 0);
	}
	free(name);
	free(value);
	return ret;
}

static int expand_entry(struct conf *c, struct entry *e, unsigned depth,
			struct error *err);

/* Resolve $NAME inside E's value, appending its expansion to out. */
static int expand_ref(struct conf *c, struct entry *e, const char *name,
		      struct buf *out, unsigned depth, struct error *err)
{
	char where[700];
	struct entry *r = hash_get(c->index, name);

	if (r == NULL) {
		entry_where(c, e, where, sizeof(where));
		log_warn("%s: %s: undefined parameter $%s expands to nothing",
			 where, entry_name(e), name);
		return 0;
	}
	if (r->state == EXP_BUSY) {
		entry_where(c, e, where, sizeof(where));
		return error_set(err, ERR_CONFIG,
				 "%s: %s: expansion loop: $%s refers back to "
				 "itself",
				 where, entry_name(e), name);
	}
	if (expand_entry(c, r, depth + 1, err) < 0)
		return -1;
	buf_append_str(out, r->value);
	return 0;
}

static int expand_entry(struct conf *c, struct entry *e, unsigned depth,
			struct error *err)
{
	char where[700];
	const char *p;
	struct buf *out;
	int ret = 0;

	if (e->state == EXP_DONE)
		return 0;
	/* Templates their user expands itself, with its own $names
	 * (Postfix's "raw" parameters): kept exactly as written. */
	if (e->param != NULL && e->param->type == CONF_RAW) {
		e->value = xstrdup(e->raw != NULL ? e->raw : e->param->def);
		e->state = EXP_DONE;
		return 0;
	}
	if (depth > CONF_EXPAND_DEPTH) {
		entry_where(c, e, where, sizeof(where));
		return error_set(err, ERR_CONFIG,
				 "%s: %s: $name references nested more than "
				 "%d deep",
				 where, entry_name(e), CONF_EXPAND_DEPTH);
	}
	e->state = EXP_BUSY;
	out = buf_new();
	p = e->raw != NULL ? e->raw : e->param->def;
	while (*p != '\0' && ret == 0) {
		size_t lit = strcspn(p, "$");
		buf_append(out, p, lit);
		p += lit;
		if (*p == '\0')
			break;
		p++; /* the '$' */
		if (*p == '$') {
			buf_append_char(out, '$');
			p++;
			continue;
		}
		bool braced = *p == '{';
		if (braced)
			p++;
		size_t n = conf_name_len(p, (size_t)-1); /* stops at NUL */
		if (n == 0 || (braced && p[n] != '}')) {
			entry_where(c, e, where, sizeof(where));
			ret = error_set(err, ERR_CONFIG,
					"%s: %s: bad $ reference (expected "
					"$name or ${name}; $$ for a $)",
					where, entry_name(e));
			break;
		}
		char *name = xstrndup(p, n);
		p += n + braced;
		ret = expand_ref(c, e, name, out, depth, err);
		free(name);
		if (ret == 0 && buf_len(out) > CONF_VALUE_MAX) {
			entry_where(c, e, where, sizeof(where));
			ret = error_set(err, ERR_CONFIG,
					"%s: %s: value longer than %u bytes "
					"after expansion",
					where, entry_name(e), CONF_VALUE_MAX);
		}
	}
	if (ret < 0) {
		e->state = EXP_TODO;
		buf_free(&out);
		return -1;
	}
	e->value = buf_steal(out);
	buf_free(&out);
	e->state = EXP_DONE;
	return 0;
}

static int validate_entry(struct conf *c, struct entry *e, struct error *err)
{
	char where[700];
	long long i = 0;
	unsigned long long u = 0;

	if (conf_check_value(e->param->type, e->value, err) < 0) {
		entry_where(c, e, where, sizeof(where));
		error_prefix(err, "%s: %s", where, e->param->name);
		return -1;
	}
	switch (e->param->type) {
	case CONF_STR:
	case CONF_RAW:
		break;
	case CONF_INT:
		str_to_i64(e->value, &i);
		e->v.i = i;
		break;
	case CONF_BOOL:
		e->v.b = strcasecmp(e->value, "yes") == 0 ||
			 strcasecmp(e->value, "true") == 0;
		break;
	case CONF_TIME:
		time_parse_duration(e->value, 's', &e->v.t, NULL);
		break;
	case CONF_SIZE:
		str_to_u64(e->value, &u);
		e->v.i = (long long)u;
		break;
	}
	return 0;
}

struct conf *conf_load_mem(const char *config_dir, const char *origin,
			   const char *data, size_t len,
			   const char *const *name_eq_value, size_t n,
			   struct error *err)
{
	struct conf *c = conf_new(config_dir);
	origin = conf_keep(c, xstrdup(origin != NULL ? origin : c->path));

	if (parse_text(c, origin, data, len, err) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (apply_override(c, name_eq_value[i], err) < 0)
			goto fail;
	for (size_t i = 0; i < conf_param_count(); i++)
		if (expand_entry(c, &c->known[i], 0, err) < 0 ||
		    validate_entry(c, &c->known[i], err) < 0)
			goto fail;
	return c;
fail:
	conf_free(&c);
	return NULL;
}

struct conf *conf_load_string(const char *config_dir, const char *origin,
			      const char *text, struct error *err)
{
	return conf_load_mem(config_dir, origin, text, strlen(text), NULL, 0,
			     err);
}

struct conf *conf_load_overrides(const char *config_dir,
				 const char *const *name_eq_value, size_t n,
				 struct error *err)
{
	char *dir = absolute_dir(config_dir);
	char *path = xasprintf("%s/main.cf", dir);
	struct buf *text = buf_new();
	struct conf *c = NULL;

	/* A missing main.cf is a valid configuration: all defaults. */
	if (!fs_exists(path) ||
	    fs_read_file(path, text, CONF_FILE_MAX, err) == 0)
		c = conf_load_mem(dir, path, buf_data(text), buf_len(text),
				  name_eq_value, n, err);
	buf_free(&text);
	free(path);
	free(dir);
	return c;
}

struct conf *conf_load(const char *config_dir, struct error *err)
{
	return conf_load_overrides(config_dir, NULL, 0, err);
}

const char *conf_path(const struct conf *conf)
{
	return conf->path;
}

static struct entry *known_entry(const struct conf *conf, const char *name)
{
	struct entry *e = hash_get(conf->index, name);
	if (e == NULL || e->param == NULL)
		panic("conf: no parameter named \"%s\" in conf_params.def",
		      name);
	return e;
}

static struct entry *typed_entry(const struct conf *conf, const char *name,
				 enum conf_type type)
{
	struct entry *e = known_entry(conf, name);
	if (e->param->type != type)
		panic("conf: parameter %s is %s, read as %s", name,
		      conf_type_name(e->param->type), conf_type_name(type));
	return e;
}

const char *conf_str(const struct conf *conf, const char *name)
{
	/* Any parameter reads as its expanded text. */
	return known_entry(conf, name)->value;
}

long long conf_int(const struct conf *conf, const char *name)
{
	return typed_entry(conf, name, CONF_INT)->v.i;
}

bool conf_bool(const struct conf *conf, const char *name)
{
	return typed_entry(conf, name, CONF_BOOL)->v.b;
}

int64_t conf_time(const struct conf *conf, const char *name)
{
	return typed_entry(conf, name, CONF_TIME)->v.t;
}

long long conf_size(const struct conf *conf, const char *name)
{
	return typed_entry(conf, name, CONF_SIZE)->v.i;
}

bool conf_is_set(const struct conf *conf, const char *name)
{
	return known_entry(conf, name)->set;
}

const char *conf_raw(const struct conf *conf, const char *name)
{
	struct entry *e = known_entry(conf, name);
	return e->raw != NULL ? e->raw : e->param->def;
}

const char *conf_extra(const struct conf *conf, const char *name)
{
	const struct entry *e = hash_get(conf->index, name);

	if (e == NULL || e->param != NULL)
		return NULL;
	return e->raw;
}
