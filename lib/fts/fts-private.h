/*
 * fts-private.h - shared between the files of lib/fts.
 */
#ifndef POSTERN_FTS_PRIVATE_H
#define POSTERN_FTS_PRIVATE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "fts/fts.h"

/* PRAGMA user_version of the current layout (fts.c): 0 was one FTS5
 * table for every field, 2 a table for the address/subject fields and
 * one for headers/body. */
#define FTS_SCHEMA_VERSION 2
#define FTS_SCHEMA_VERSION_STR "2"

enum fts_stmt {
	FTS_STMT_DOC_ID,
	FTS_STMT_DOC_INSERT,
	FTS_STMT_DOC_DELETE,
	FTS_STMT_HDR_INSERT,
	FTS_STMT_HDR_DELETE,
	FTS_STMT_HDR_COPY,
	FTS_STMT_TEXT_INSERT,
	FTS_STMT_TEXT_DELETE,
	FTS_STMT_TEXT_COPY,
	FTS_STMT_FOLDER_GET,
	FTS_STMT_FOLDER_SET,
	FTS_STMT_COUNT
};

struct fts {
	char *path;
	sqlite3 *db;
	bool in_txn;
	bool counted; /* in fts.c's table of open files */
	/* err->code for a transaction SQLite rolled back itself */
	const char *rolled_back_code;
	sqlite3_stmt *stmts[FTS_STMT_COUNT]; /* prepared on first use */
};

/* A prepared statement, reset and unbound; NULL with err. */
sqlite3_stmt *fts_stmt(struct fts *fts, enum fts_stmt which,
		       struct error *err);
int fts_exec(struct fts *fts, const char *sql, struct error *err);
int fts_sql_error(struct fts *fts, int rc, const char *what,
		  struct error *err);
int fts_in_txn(struct fts *fts,
	       int (*fn)(struct fts *, const void *, struct error *),
	       const void *arg, struct error *err);

uint64_t fts_uniq_hash(const char *s);
/* The folder column value: "" for the INBOX. */
const char *fts_folder_key(const char *folder);
int fts_folder_state(struct fts *fts, const char *folder, long long *count_r,
		     uint64_t *sig_r, struct error *err);
/* Add count documents whose hashes sum to sig (negative: removal). */
int fts_folder_adjust(struct fts *fts, const char *folder, long long count,
		      uint64_t sig, struct error *err);

#endif
