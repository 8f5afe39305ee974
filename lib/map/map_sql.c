/*
 * map_sql.c - sql:/path/file.cf, Postfix mysql_table(5)/pgsql_table(5)
 * style maps over lib/db (see map.h for the file's parameters).
 *
 * The query template is compiled once at open: every %-expansion, and
 * every quoted literal that holds one, becomes a `?` placeholder with a
 * small template of its own, expanded per lookup and bound as data.  So
 * a key like `x' OR '1'='1` is only ever compared, never parsed as SQL.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/fsutil.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "map/map-private.h"

struct map_sql {
	struct map map;
	char *path;
	char *sql;	      /* the query with ? placeholders */
	struct array *params; /* char * templates, one per ? */
	char *result_format;
	struct array *domains; /* char *, lower-case; NULL: no restriction */
	long long expansion_limit;

	/* The connection: borrowed from the env, or our own opened at the
	   first lookup from the file's settings, completed at open from the
	   main configuration. */
	pthread_mutex_t lock;
	struct db *db;
	bool own_db;
	bool has_conn;
	struct db_params conn;
	char *host, *dbname, *user, *password, *dbpath;
};

/* The key's parts for expansion. */
struct sql_key {
	const char *key;
	const char *at; /* last @ or NULL */
};

/*
 * Append the expansion of one % escape `c` for `k` to out; returns false
 * when Postfix suppresses the query (%d without a domain, %u with an
 * empty local part, %N with too few labels).
 */
static bool expand_one(char c, const struct sql_key *k, struct buf *out)
{
	const char *key = k->key, *at = k->at;

	switch (c) {
	case '%':
		buf_append_char(out, '%');
		return true;
	case 's':
	case 'S':
		buf_append_str(out, key);
		return true;
	case 'u':
	case 'U':
		if (at == NULL) {
			buf_append_str(out, key);
			return true;
		}
		if (at == key)
			return false;
		buf_append(out, key, (size_t)(at - key));
		return true;
	case 'd':
	case 'D':
		if (at == NULL || at[1] == '\0')
			return false;
		buf_append_str(out, at + 1);
		return true;
	default: { /* %1..%9: domain labels from the right */
		const char *dom, *end;
		int n = c - '0';

		if (at == NULL || n < 1 || n > 9)
			return false;
		dom = at + 1;
		end = dom + strlen(dom);
		while (end > dom) {
			const char *start = end;

			while (start > dom && start[-1] != '.')
				start--;
			if (--n == 0) {
				if (start == end)
					return false;
				buf_append(out, start, (size_t)(end - start));
				return true;
			}
			end = start > dom ? start - 1 : dom;
		}
		return false;
	}
	}
}

static bool valid_escape(char c, bool result)
{
	if (c == '%' || c == 's' || c == 'u' || c == 'd' || c == 'S' ||
	    c == 'U' || c == 'D')
		return true;
	return !result && c >= '1' && c <= '9';
}

/* Expand a query parameter template; false: the query is suppressed. */
static bool expand_param(const char *tmpl, const struct sql_key *k,
			 struct buf *out)
{
	buf_reset(out);
	for (const char *p = tmpl; *p != '\0'; p++) {
		if (*p != '%') {
			buf_append_char(out, *p);
			continue;
		}
		p++;
		if (!expand_one(*p, k, out))
			return false;
	}
	return true;
}

/* result_format: %s/%u/%d the value, %S/%U/%D the key.  False: skip. */
static bool expand_result(const char *fmt, const char *value,
			  const struct sql_key *key, struct buf *out)
{
	struct sql_key v = {value, strrchr(value, '@')};

	for (const char *p = fmt; *p != '\0'; p++) {
		if (*p != '%') {
			buf_append_char(out, *p);
			continue;
		}
		p++;
		if (*p >= 'A' && *p <= 'Z') {
			if (!expand_one((char)(*p - 'A' + 'a'), key, out))
				return false;
		} else if (!expand_one(*p, &v, out)) {
			return false;
		}
	}
	return true;
}

static int check_escapes(const char *origin, const char *name, const char *s,
			 bool result, struct error *err)
{
	for (const char *p = s; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		p++;
		if (!valid_escape(*p, result))
			return error_set(err, ERR_CONFIG,
					 "%s: %s: bad %% escape \"%%%.1s\"",
					 origin, name, p);
	}
	return 0;
}

/*
 * Turn the query template into SQL with ? placeholders and their
 * parameter templates.  A quoted literal ('...' or "...") holding a %
 * becomes one parameter (quotes dropped, doubled quotes undone); a bare
 * %x outside literals becomes one parameter too.
 */
static int compile_query(struct map_sql *m, const char *q, struct error *err)
{
	struct buf *sql = buf_new();
	struct buf *lit = buf_new();
	const char *p = q;
	int ret = 0;

	while (*p != '\0' && ret == 0) {
		if (*p == '\'' || *p == '"') {
			char quote = *p;
			const char *start = p++;
			bool has_pct = false;

			buf_reset(lit);
			for (;;) {
				if (*p == '\0') {
					ret = error_set(err, ERR_CONFIG,
							"%s: query: "
							"unterminated %c "
							"literal",
							m->path, quote);
					break;
				}
				if (*p == quote && p[1] == quote) {
					buf_append_char(lit, quote);
					p += 2;
					continue;
				}
				if (*p == quote)
					break;
				if (*p == '%')
					has_pct = true;
				buf_append_char(lit, *p++);
			}
			if (ret < 0)
				break;
			p++;
			if (has_pct) {
				buf_append_char(sql, '?');
				array_push(m->params, buf_steal(lit));
			} else {
				buf_append(sql, start, (size_t)(p - start));
			}
		} else if (*p == '%') {
			if (p[1] == '%') {
				buf_append_char(sql, '%');
			} else if (valid_escape(p[1], false)) {
				buf_append_char(sql, '?');
				array_push(m->params, xasprintf("%%%c", p[1]));
			} else {
				ret = error_set(err, ERR_CONFIG,
						"%s: query: bad %% escape "
						"\"%%%.1s\"",
						m->path, p + 1);
				break;
			}
			p += 2;
		} else if (*p == '?') {
			ret = error_set(err, ERR_CONFIG,
					"%s: query: use %%s, %%u or %%d, "
					"not ?",
					m->path);
		} else {
			buf_append_char(sql, *p++);
		}
	}
	for (size_t i = 0; ret == 0 && i < array_len(m->params); i++)
		ret = check_escapes(m->path, "query", array_get(m->params, i),
				    false, err);
	m->sql = buf_steal(sql);
	buf_free(&sql);
	buf_free(&lit);
	return ret;
}

static int set_param(struct map_sql *m, const char *name, const char *value,
		     unsigned lineno, char **query_r, struct error *err)
{
	char **slot = NULL;

	if (strcmp(name, "query") == 0) {
		slot = query_r;
	} else if (strcmp(name, "result_format") == 0) {
		slot = &m->result_format;
	} else if (strcmp(name, "domain") == 0) {
		struct array *list = str_split(value, ", \t");

		if (m->domains != NULL)
			array_free_with(&m->domains, free);
		for (size_t i = 0; i < array_len(list); i++)
			str_lower(array_get(list, i));
		m->domains = list;
		return 0;
	} else if (strcmp(name, "expansion_limit") == 0) {
		unsigned long long v;

		if (!str_to_u64(value, &v) || v > 1000000)
			return error_set(err, ERR_CONFIG,
					 "%s:%u: bad expansion_limit \"%s\"",
					 m->path, lineno, value);
		m->expansion_limit = (long long)v;
		return 0;
	} else if (strcmp(name, "driver") == 0 || strcmp(name, "dbtype") == 0) {
		enum db_driver d;

		if (db_driver_parse(value, &d) < 0)
			return error_set(err, ERR_CONFIG,
					 "%s:%u: unknown driver \"%s\" "
					 "(sqlite, pgsql or mysql)",
					 m->path, lineno, value);
		m->conn.driver = d;
		m->has_conn = true;
		return 0;
	} else if (strcmp(name, "port") == 0) {
		unsigned long long v;

		if (!str_to_u64(value, &v) || v > 65535)
			return error_set(err, ERR_CONFIG,
					 "%s:%u: bad port \"%s\"", m->path,
					 lineno, value);
		m->conn.port = (unsigned)v;
		m->has_conn = true;
		return 0;
	} else if (strcmp(name, "host") == 0 || strcmp(name, "hosts") == 0) {
		/* Postfix allows a list: we use the first host. */
		struct array *list = str_split(value, ", \t");

		free(m->host);
		m->host = array_len(list) > 0 ? xstrdup(array_get(list, 0))
					      : xstrdup("");
		array_free_with(&list, free);
		if (str_has_prefix(m->host, "inet:"))
			memmove(m->host, m->host + 5, strlen(m->host + 5) + 1);
		m->has_conn = true;
		return 0;
	} else if (strcmp(name, "dbname") == 0) {
		slot = &m->dbname;
	} else if (strcmp(name, "user") == 0) {
		slot = &m->user;
	} else if (strcmp(name, "password") == 0) {
		slot = &m->password;
	} else if (strcmp(name, "dbpath") == 0) {
		slot = &m->dbpath;
	} else {
		return error_set(err, ERR_CONFIG,
				 "%s:%u: unknown parameter \"%s\"", m->path,
				 lineno, name);
	}
	if (slot != query_r && slot != &m->result_format)
		m->has_conn = true;
	free(*slot);
	*slot = xstrdup(value);
	return 0;
}

static int parse_file(struct map_sql *m, const char *text, size_t len,
		      struct error *err)
{
	struct buf *line = buf_new();
	struct map_lines lr;
	char *query = NULL;
	unsigned lineno;
	int ret = 0;

	map_lines_init(&lr, text, len);
	while (ret == 0 && map_lines_next(&lr, line, &lineno)) {
		char *name = buf_mut(line);
		char *eq = strchr(name, '=');

		if (eq == NULL) {
			ret = error_set(err, ERR_CONFIG,
					"%s:%u: expected name = value", m->path,
					lineno);
			break;
		}
		*eq = '\0';
		name = str_trim(name);
		ret = set_param(m, name, str_trim(eq + 1), lineno, &query, err);
	}
	buf_free(&line);
	if (ret == 0 && (query == NULL || *query == '\0'))
		ret = error_set(err, ERR_CONFIG, "%s: no query", m->path);
	if (ret == 0)
		ret = compile_query(m, query, err);
	if (ret == 0 && m->result_format != NULL)
		ret = check_escapes(m->path, "result_format", m->result_format,
				    true, err);
	free(query);
	return ret;
}

/* The database to use, opened at the first lookup when it is ours. */
static struct db *sql_db(struct map_sql *m, struct error *err)
{
	struct db *db;

	pthread_mutex_lock(&m->lock);
	if (m->db == NULL) {
		struct db_params p = m->conn;
		p.host = m->host;
		p.dbname = m->dbname;
		p.user = m->user;
		p.password = m->password;
		p.path = m->dbpath;
		if (!m->has_conn)
			error_set(err, ERR_CONFIG,
				  "%s: no database: the map has no connection "
				  "settings and there is no configuration",
				  m->path);
		else
			m->db = db_open_params(&p, err);
		m->own_db = m->db != NULL;
	}
	db = m->db;
	pthread_mutex_unlock(&m->lock);
	return db;
}

/*
 * Fill the connection settings the map file left out from the main
 * configuration's database_*, now: the map must not keep a pointer to a
 * configuration that a reload frees.
 */
static void fill_from_conf(struct map_sql *m, const struct conf *c)
{
	if (m->host == NULL)
		m->host = xstrdup(conf_str(c, "database_host"));
	if (m->dbname == NULL)
		m->dbname = xstrdup(conf_str(c, "database_name"));
	if (m->user == NULL)
		m->user = xstrdup(conf_str(c, "database_user"));
	if (m->password == NULL)
		m->password = xstrdup(conf_str(c, "database_password"));
	if (m->dbpath == NULL)
		m->dbpath = xstrdup(conf_str(c, "database_path"));
	if (m->conn.port == 0)
		m->conn.port = (unsigned)conf_int(c, "database_port");
	m->conn.timeout_ms = (unsigned)conf_time(c, "database_timeout") * 1000;
	m->conn.pool_size = (unsigned)conf_int(c, "database_pool_size");
	m->has_conn = true;
}

static bool domain_allowed(const struct map_sql *m, const struct sql_key *k)
{
	if (m->domains == NULL)
		return true;
	if (k->at == NULL || k->at == k->key)
		return false;
	for (size_t i = 0; i < array_len(m->domains); i++)
		if (strcmp(array_get(m->domains, i), k->at + 1) == 0)
			return true;
	return false;
}

static int sql_lookup(struct map *map, const char *key, struct buf *value_r,
		      struct error *err)
{
	struct map_sql *m = (struct map_sql *)map;
	struct sql_key k = {key, strrchr(key, '@')};
	size_t n = array_len(m->params);
	struct buf **vals;
	const char **params;
	struct db_result *res = NULL;
	struct error e;
	struct db *db;
	struct buf *out;
	long long count = 0;
	int ret = 0;

	if (*key == '\0' || !domain_allowed(m, &k))
		return 0;
	vals = xcalloc(n + 1, sizeof(*vals));
	params = xcalloc(n + 1, sizeof(*params));
	for (size_t i = 0; i < n; i++) {
		vals[i] = buf_new();
		if (!expand_param(array_get(m->params, i), &k, vals[i]))
			goto out; /* suppressed: not found */
		params[i] = buf_data(vals[i]);
	}
	error_clear(&e);
	db = sql_db(m, &e);
	if (db == NULL || db_query(db, m->sql, params, n, &res, &e) < 0) {
		/* A query the server rejects will not fix itself: that is a
		   configuration error, not a reason to bounce mail. */
		ret = error_set(err, e.kind == ERR_TEMP ? ERR_TEMP : ERR_CONFIG,
				"%s: %s", map_spec(map), e.msg);
		goto out;
	}
	out = buf_new();
	for (size_t r = 0; r < db_result_rows(res); r++) {
		for (size_t c = 0; c < db_result_cols(res); c++) {
			const char *v = db_result_value(res, r, c);
			size_t mark = buf_len(out);

			if (v == NULL || *v == '\0')
				continue;
			if (count > 0)
				buf_append_str(out, ", ");
			if (!expand_result(m->result_format != NULL
					       ? m->result_format
					       : "%s",
					   v, &k, out)) {
				buf_truncate(out, mark);
				continue;
			}
			count++;
		}
	}
	db_result_free(&res);
	if (m->expansion_limit > 0 && count > m->expansion_limit)
		ret = error_set(err, ERR_CONFIG,
				"%s: %s: %lld results exceed expansion_limit "
				"%lld",
				map_spec(map), key, count, m->expansion_limit);
	else if (count > 0) {
		buf_set_str(value_r, buf_data(out));
		ret = 1;
	}
	buf_free(&out);
out:
	for (size_t i = 0; i < n; i++)
		buf_free(&vals[i]);
	free(vals);
	free(params);
	return ret;
}

static void sql_free(struct map *map)
{
	struct map_sql *m = (struct map_sql *)map;

	if (m->own_db)
		db_close(&m->db);
	pthread_mutex_destroy(&m->lock);
	free(m->path);
	free(m->sql);
	if (m->params != NULL)
		array_free_with(&m->params, free);
	if (m->domains != NULL)
		array_free_with(&m->domains, free);
	free(m->result_format);
	free(m->host);
	free(m->dbname);
	free(m->user);
	free(m->password);
	free(m->dbpath);
	free(m);
}

struct map *map_sql_new(const char *path, const struct map_env *env,
			struct error *err)
{
	struct map_sql *m = xcalloc(1, sizeof(*m));
	struct buf *text = buf_new();
	int ret;

	pthread_mutex_init(&m->lock, NULL);
	m->path = xstrdup(path);
	m->params = array_new();
	m->conn.driver = DB_SQLITE;
	m->conn.pool_size = 1;
	m->conn.timeout_ms = 5000;
	m->map.fold = true;
	m->map.lookup = sql_lookup;
	m->map.free = sql_free;
	if (env->conf != NULL) {
		enum db_driver d;

		if (db_driver_parse(conf_str(env->conf, "database_driver"),
				    &d) == 0)
			m->conn.driver = d;
	}
	ret = fs_read_file(path, text, MAP_FILE_MAX, err);
	if (ret == 0)
		ret = parse_file(m, buf_data(text), buf_len(text), err);
	buf_free(&text);
	if (ret == 0 && !m->has_conn && env->db != NULL)
		m->db = env->db; /* borrowed: own_db stays false */
	else if (ret == 0 && env->conf != NULL)
		fill_from_conf(m, env->conf);
	if (ret < 0) {
		sql_free(&m->map);
		return NULL;
	}
	return &m->map;
}
