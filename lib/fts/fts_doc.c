/*
 * fts_doc.c - adding, removing, copying and renaming documents.
 */
#include <sqlite3.h>
#include <string.h>

#include "fts/fts-private.h"

/* The docs.id of (folder, uniq): 1 found, 0 not, -1 error. */
static int doc_id(struct fts *fts, const char *folder, const char *uniq,
		  sqlite3_int64 *id_r, struct error *err)
{
	sqlite3_stmt *st = fts_stmt(fts, FTS_STMT_DOC_ID, err);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, fts_folder_key(folder), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, uniq, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id_r = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fts_sql_error(fts, rc, "lookup", err);
}

static int step_done(struct fts *fts, sqlite3_stmt *st, const char *what,
		     struct error *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fts_sql_error(fts, rc, what, err);
}

static int delete_by_id(struct fts *fts, sqlite3_int64 id, struct error *err)
{
	sqlite3_stmt *st = fts_stmt(fts, FTS_STMT_HDR_DELETE, err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (step_done(fts, st, "delete text", err) < 0)
		return -1;
	st = fts_stmt(fts, FTS_STMT_TEXT_DELETE, err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (step_done(fts, st, "delete text", err) < 0)
		return -1;
	st = fts_stmt(fts, FTS_STMT_DOC_DELETE, err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return step_done(fts, st, "delete doc", err);
}

/* A new docs row for (folder, uniq), counted in folders. */
static int insert_doc(struct fts *fts, const char *folder, const char *uniq,
		      sqlite3_int64 *id_r, struct error *err)
{
	sqlite3_stmt *st = fts_stmt(fts, FTS_STMT_DOC_INSERT, err);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, fts_folder_key(folder), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, uniq, -1, SQLITE_STATIC);
	if (step_done(fts, st, "insert doc", err) < 0)
		return -1;
	*id_r = sqlite3_last_insert_rowid(fts->db);
	return fts_folder_adjust(fts, folder, 1, fts_uniq_hash(uniq), err);
}

static int remove_doc(struct fts *fts, const char *folder, const char *uniq,
		      struct error *err)
{
	sqlite3_int64 id;
	int found = doc_id(fts, folder, uniq, &id, err);
	if (found <= 0)
		return found;
	if (delete_by_id(fts, id, err) < 0)
		return -1;
	return fts_folder_adjust(fts, folder, -1, -fts_uniq_hash(uniq), err);
}

/* One row of msghdr or msgtext: rowid id, the columns in order. */
static int insert_cols(struct fts *fts, enum fts_stmt which,
		       sqlite3_int64 id, const char *const *cols, size_t n,
		       struct error *err)
{
	sqlite3_stmt *st = fts_stmt(fts, which, err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	for (size_t i = 0; i < n; i++)
		sqlite3_bind_text(st, (int)i + 2,
				  cols[i] != NULL ? cols[i] : "", -1,
				  SQLITE_STATIC);
	return step_done(fts, st, "insert text", err);
}

static int add_txn(struct fts *fts, const void *arg, struct error *err)
{
	const struct fts_doc *doc = arg;
	sqlite3_int64 id;

	if (remove_doc(fts, doc->folder, doc->unique, err) < 0 ||
	    insert_doc(fts, doc->folder, doc->unique, &id, err) < 0)
		return -1;
	const char *hdr[] = {doc->from, doc->to, doc->cc, doc->bcc,
			     doc->subject};
	const char *text[] = {doc->headers, doc->body};
	return insert_cols(fts, FTS_STMT_HDR_INSERT, id, hdr, 5, err) < 0
		   ? -1
		   : insert_cols(fts, FTS_STMT_TEXT_INSERT, id, text, 2, err);
}

int fts_add(struct fts *fts, const struct fts_doc *doc, struct error *err)
{
	if (doc->unique == NULL || doc->unique[0] == '\0')
		return error_set(err, ERR_PERM, "full-text index: no unique");
	return fts_in_txn(fts, add_txn, doc, err);
}

struct ref {
	const char *folder, *unique;
	const char *to_folder, *to_unique;
};

static int remove_txn(struct fts *fts, const void *arg, struct error *err)
{
	const struct ref *r = arg;
	return remove_doc(fts, r->folder, r->unique, err) < 0 ? -1 : 0;
}

int fts_remove(struct fts *fts, const char *folder, const char *unique,
	       struct error *err)
{
	struct ref r = {.folder = folder, .unique = unique};
	return fts_in_txn(fts, remove_txn, &r, err);
}

static int copy_txn(struct fts *fts, const void *arg, struct error *err)
{
	const struct ref *r = arg;
	sqlite3_int64 src, dst;

	int found = doc_id(fts, r->folder, r->unique, &src, err);
	if (found <= 0)
		return found; /* not indexed: the catch-up will do it */
	if (remove_doc(fts, r->to_folder, r->to_unique, err) < 0 ||
	    insert_doc(fts, r->to_folder, r->to_unique, &dst, err) < 0)
		return -1;
	sqlite3_stmt *st = fts_stmt(fts, FTS_STMT_HDR_COPY, err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, dst);
	sqlite3_bind_int64(st, 2, src);
	if (step_done(fts, st, "copy text", err) < 0)
		return -1;
	st = fts_stmt(fts, FTS_STMT_TEXT_COPY, err);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, dst);
	sqlite3_bind_int64(st, 2, src);
	return step_done(fts, st, "copy text", err);
}

int fts_copy(struct fts *fts, const char *folder, const char *unique,
	     const char *to_folder, const char *to_unique, struct error *err)
{
	struct ref r = {folder, unique, to_folder, to_unique};
	return fts_in_txn(fts, copy_txn, &r, err);
}

/* One statement with the folder bound as ?1 (and ?2). */
static int exec_folder(struct fts *fts, const char *sql, const char *a,
		       const char *b, struct error *err)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(fts->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fts_sql_error(fts, rc, "prepare", err);
	sqlite3_bind_text(st, 1, fts_folder_key(a), -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fts_sql_error(fts, rc, sql, err);
}

static int remove_folder_txn(struct fts *fts, const void *arg,
			     struct error *err)
{
	const struct ref *r = arg;
	if (exec_folder(fts,
			"DELETE FROM msghdr WHERE rowid IN"
			" (SELECT id FROM docs WHERE folder = ?1)",
			r->folder, NULL, err) < 0 ||
	    exec_folder(fts,
			"DELETE FROM msgtext WHERE rowid IN"
			" (SELECT id FROM docs WHERE folder = ?1)",
			r->folder, NULL, err) < 0 ||
	    exec_folder(fts, "DELETE FROM docs WHERE folder = ?1", r->folder,
			NULL, err) < 0)
		return -1;
	return exec_folder(fts, "DELETE FROM folders WHERE folder = ?1",
			   r->folder, NULL, err);
}

int fts_remove_folder(struct fts *fts, const char *folder, struct error *err)
{
	struct ref r = {.folder = folder};
	return fts_in_txn(fts, remove_folder_txn, &r, err);
}

static int rename_folder_txn(struct fts *fts, const void *arg,
			     struct error *err)
{
	const struct ref *r = arg;
	struct ref gone = {.folder = r->to_folder};
	if (remove_folder_txn(fts, &gone, err) < 0)
		return -1;
	if (exec_folder(fts, "UPDATE docs SET folder = ?2 WHERE folder = ?1",
			r->folder, fts_folder_key(r->to_folder), err) < 0)
		return -1;
	return exec_folder(fts,
			   "UPDATE folders SET folder = ?2 WHERE folder = ?1",
			   r->folder, fts_folder_key(r->to_folder), err);
}

int fts_rename_folder(struct fts *fts, const char *from, const char *to,
		      struct error *err)
{
	struct ref r = {.folder = from, .to_folder = to};
	return fts_in_txn(fts, rename_folder_txn, &r, err);
}
