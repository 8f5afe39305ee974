/*
 * fts_search.c - answering search keys, and the catch-up check.
 *
 * A key of three or more characters becomes an FTS5 phrase restricted
 * to its columns ({subject} : "text"): with the trigram tokenizer a
 * phrase matches any substring, case-insensitively, from the index.  A
 * shorter key cannot be split into trigrams; it becomes a LIKE on the
 * same columns (ASCII case folding only, SQLite's LIKE), evaluated on
 * the rows the other keys left, or on the folder's rows.
 *
 * The address/subject keys go to the small table msghdr, TEXT/BODY/
 * HEADER to msgtext (fts.c): a SUBJECT search reads only the posting
 * lists of the subjects.  Keys on both tables give one subquery each.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "fts/fts-private.h"

enum { TBL_HDR, TBL_TEXT, TBL_COUNT };
static const char *const tbl_name[TBL_COUNT] = {"msghdr", "msgtext"};

static const char *const field_cols[] = {
    [FTS_TEXT] = "headers body",
    [FTS_BODY] = "body",
    [FTS_SUBJECT] = "subject",
    [FTS_FROM] = "f_from",
    [FTS_TO] = "f_to",
    [FTS_CC] = "f_cc",
    [FTS_BCC] = "f_bcc",
    [FTS_HEADERS] = "headers",
};

static int field_tbl(enum fts_field f)
{
	return f == FTS_TEXT || f == FTS_BODY || f == FTS_HEADERS ? TBL_TEXT
								   : TBL_HDR;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* "text" as an FTS5 string: double quotes doubled. */
static void append_fts_string(struct buf *b, const char *text)
{
	buf_append_char(b, '"');
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '"')
			buf_append_char(b, '"');
		buf_append_char(b, *p);
	}
	buf_append_char(b, '"');
}

/* "%text%" for LIKE ... ESCAPE '\'. */
static char *like_pattern(const char *text)
{
	struct buf *b = buf_new();
	buf_append_char(b, '%');
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '%' || *p == '_' || *p == '\\')
			buf_append_char(b, '\\');
		buf_append_char(b, *p);
	}
	buf_append_char(b, '%');
	char *pattern = buf_steal(b);
	buf_free(&b);
	return pattern;
}

static bool field_ok(enum fts_field f)
{
	return (size_t)f < sizeof(field_cols) / sizeof(field_cols[0]);
}

/*
 * Build the statement: ?1 the folder, ?2 and ?3 the MATCH expressions
 * of msghdr and msgtext (match_r[TBL_*], NULL when none), ?4... the
 * LIKE patterns collected in params (owned).
 */
static char *build_sql(const struct fts_key *keys, size_t nkeys,
		       char **match_r, struct array *params)
{
	struct buf *sql = buf_new_str("SELECT d.uniq FROM docs d");
	struct buf *match[TBL_COUNT], *likes[TBL_COUNT];

	for (int t = 0; t < TBL_COUNT; t++) {
		match[t] = buf_new();
		likes[t] = buf_new();
	}
	for (size_t i = 0; i < nkeys; i++) {
		size_t n = utf8_chars(keys[i].text);
		int t = field_tbl(keys[i].field);
		if (n == 0)
			continue; /* "contains the empty string": all */
		if (n >= 3) {
			if (buf_len(match[t]) > 0)
				buf_append_str(match[t], " AND ");
			buf_printf(match[t], "{%s} : ",
				   field_cols[keys[i].field]);
			append_fts_string(match[t], keys[i].text);
			continue;
		}
		array_push(params, like_pattern(keys[i].text));
		struct array *cols = str_split(field_cols[keys[i].field], " ");
		buf_append_str(likes[t], " AND (");
		for (size_t c = 0; c < array_len(cols); c++)
			buf_printf(likes[t], "%st.%s LIKE ?%zu ESCAPE '\\'",
				   c > 0 ? " OR " : "",
				   (const char *)array_get(cols, c),
				   array_len(params) + 3);
		buf_append_char(likes[t], ')');
		array_free_with(&cols, free);
	}
	/* Drive the search from the FTS tables (one index query each),
	 * then keep the rows of the folder: a join driven from docs would
	 * run the MATCH once per document of the folder. */
	buf_append_str(sql, " WHERE d.folder = ?1");
	for (int t = 0; t < TBL_COUNT; t++) {
		if (buf_len(match[t]) > 0 || buf_len(likes[t]) > 0) {
			buf_printf(sql,
				   " AND d.id IN (SELECT t.rowid FROM %s t"
				   " WHERE ",
				   tbl_name[t]);
			if (buf_len(match[t]) > 0)
				buf_printf(sql, "%s MATCH ?%d", tbl_name[t],
					   t + 2);
			else
				buf_append_char(sql, '1');
			buf_append(sql, buf_data(likes[t]),
				   buf_len(likes[t]));
			buf_append_char(sql, ')');
		}
		match_r[t] = buf_len(match[t]) > 0 ? buf_steal(match[t]) : NULL;
		buf_free(&match[t]);
		buf_free(&likes[t]);
	}
	char *text = buf_steal(sql);
	buf_free(&sql);
	return text;
}

int fts_search(struct fts *fts, const char *folder, const struct fts_key *keys,
	       size_t nkeys, struct array **uniques_r, struct error *err)
{
	for (size_t i = 0; i < nkeys; i++)
		if (!field_ok(keys[i].field) || keys[i].text == NULL)
			return error_set(err, ERR_PERM,
					 "full-text search: bad key %zu", i);

	struct array *params = array_new();
	char *match[TBL_COUNT] = {NULL, NULL};
	char *sql = build_sql(keys, nkeys, match, params);
	sqlite3_stmt *st = NULL;
	int ret = -1;

	int rc = sqlite3_prepare_v2(fts->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		fts_sql_error(fts, rc, "search", err);
		goto out;
	}
	sqlite3_bind_text(st, 1, fts_folder_key(folder), -1, SQLITE_STATIC);
	/* ?2 and ?3 are the MATCH expressions; the LIKE patterns follow,
	 * and keep their numbers when there is no MATCH (an unused ?2). */
	for (int t = 0; t < TBL_COUNT; t++)
		if (match[t] != NULL)
			sqlite3_bind_text(st, t + 2, match[t], -1,
					  SQLITE_STATIC);
	for (size_t i = 0; i < array_len(params); i++)
		sqlite3_bind_text(st, (int)i + 4, array_get(params, i), -1,
				  SQLITE_STATIC);

	struct array *found = array_new();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		array_push(found,
			   xstrdup((const char *)sqlite3_column_text(st, 0)));
	if (rc != SQLITE_DONE) {
		fts_sql_error(fts, rc, "search", err);
		array_free_with(&found, free);
		goto out;
	}
	*uniques_r = found;
	ret = 0;
out:
	sqlite3_finalize(st);
	free(sql);
	free(match[0]);
	free(match[1]);
	array_free_with(&params, free);
	return ret;
}

void fts_uniques_free(struct array **uniques)
{
	array_free_with(uniques, free);
}

struct missing_arg {
	const char *folder;
	struct hash *indexed; /* uniq -> non-NULL, taken out when seen */
};

/* Remove the documents left in arg->indexed: their messages are gone. */
static int remove_stale_txn(struct fts *fts, const void *varg,
			    struct error *err)
{
	const struct missing_arg *arg = varg;
	struct hash_iter it = {0};
	const char *uniq;
	void *val;
	while (hash_next(arg->indexed, &it, &uniq, &val))
		if (fts_remove(fts, arg->folder, uniq, err) < 0)
			return -1;
	return 0;
}

int fts_missing(struct fts *fts, const char *folder,
		const char *const *uniques, size_t n, struct array **missing_r,
		struct error *err)
{
	long long count;
	uint64_t sig, want = 0;

	for (size_t i = 0; i < n; i++)
		want += fts_uniq_hash(uniques[i]);
	if (fts_folder_state(fts, folder, &count, &sig, err) < 0)
		return -1;
	*missing_r = array_new();
	if (count == (long long)n && sig == want)
		return 0;

	/* Something changed: compare the sets. */
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(fts->db,
				    "SELECT uniq FROM docs WHERE folder = ?",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail_sql;
	sqlite3_bind_text(st, 1, fts_folder_key(folder), -1, SQLITE_STATIC);
	struct missing_arg arg = {folder, hash_new(HASH_DEFAULT, NULL)};
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		hash_put(arg.indexed, (const char *)sqlite3_column_text(st, 0),
			 (void *)1);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		hash_free(&arg.indexed);
		goto fail_sql;
	}
	for (size_t i = 0; i < n; i++)
		if (!hash_del(arg.indexed, uniques[i]))
			array_push(*missing_r, (void *)(uintptr_t)i);
	int ret = hash_count(arg.indexed) == 0
		      ? 0
		      : fts_in_txn(fts, remove_stale_txn, &arg, err);
	hash_free(&arg.indexed);
	if (ret < 0)
		array_free(missing_r);
	return ret;
fail_sql:
	array_free(missing_r);
	return fts_sql_error(fts, rc, "catch-up", err);
}
