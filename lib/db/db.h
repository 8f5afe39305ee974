/*
 * db - one SQL interface over three drivers: SQLite (the embedded
 * default), PostgreSQL (libpq) and MySQL/MariaDB (libmysqlclient).
 *
 * Queries are parameterised only: SQL text uses `?` placeholders (the
 * PostgreSQL driver rewrites them to $1..$n) and values are bound, never
 * pasted into the text.  A struct db is a pool of connections: calls may
 * come from several threads at once (the worker pool); each call borrows
 * one connection for its duration.  A broken connection is dropped and
 * re-opened on the next call.
 *
 * Error contract (core/error.h): -1 with err->kind ERR_TEMP when the
 * server is down, unreachable, locked or timed out (callers answer 4xx
 * and retry); ERR_PERM for an SQL error that will not fix itself;
 * DB_DUPLICATE (-2) when a unique constraint refused the row.
 */
#ifndef POSTERN_DB_H
#define POSTERN_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"
#include "core/error.h"

#define DB_DUPLICATE (-2)

enum db_driver { DB_SQLITE, DB_PGSQL, DB_MYSQL };

struct db;
struct db_result;
struct db_txn;

/* Connection settings; strings are borrowed for the call only. */
struct db_params {
	enum db_driver driver;
	const char *path;     /* sqlite: database file */
	const char *host;     /* pgsql/mysql: "host[:port], ..." servers in
				 order of preference, or a socket directory */
	unsigned port;        /* 0: the driver's default */
	const char *dbname;
	const char *user;
	const char *password;
	unsigned pool_size;   /* connections kept open, at least 1 */
	unsigned timeout_ms;  /* connect / busy timeout */
};

/*
 * Open from the database_* parameters of the configuration.  NULL with
 * ERR_CONFIG/ERR_PERM for settings that cannot work; a server that is
 * only down does not fail the open (a warning is logged and calls fail
 * with ERR_TEMP until it answers).
 */
struct db *db_open(const struct conf *conf, struct error *err);
/*
 * The database for lookups only: database_read_hosts (replicas) first,
 * then database_host, so reads survive a dead replica set.  Never write
 * through it: a replica refuses writes, and a lagging one would hide
 * them.  Without read hosts it is the same as db_open().
 */
struct db *db_open_read(const struct conf *conf, struct error *err);
struct db *db_open_params(const struct db_params *params, struct error *err);
void db_close(struct db **db);
enum db_driver db_driver(const struct db *db);
const char *db_driver_name(enum db_driver driver);
/* "sqlite", "pgsql" or "mysql" → driver; -1 if unknown. */
int db_driver_parse(const char *name, enum db_driver *driver_r);

/* Run a statement; returns rows affected (>= 0), -1 or DB_DUPLICATE. */
long long db_exec(struct db *db, const char *sql, const char *const *params,
		  size_t nparams, struct error *err);
/* Run a query; on success *res_r holds the rows (free with db_result_free). */
int db_query(struct db *db, const char *sql, const char *const *params,
	     size_t nparams, struct db_result **res_r, struct error *err);

size_t db_result_rows(const struct db_result *res);
size_t db_result_cols(const struct db_result *res);
/* Text value of a cell, NULL for SQL NULL; borrowed until result free. */
const char *db_result_value(const struct db_result *res, size_t row,
			    size_t col);
const char *db_result_colname(const struct db_result *res, size_t col);
void db_result_free(struct db_result **res);

/* Transactions hold one connection from BEGIN to COMMIT/ROLLBACK. */
struct db_txn *db_begin(struct db *db, struct error *err);
long long db_txn_exec(struct db_txn *txn, const char *sql,
		      const char *const *params, size_t nparams,
		      struct error *err);
int db_txn_query(struct db_txn *txn, const char *sql,
		 const char *const *params, size_t nparams,
		 struct db_result **res_r, struct error *err);
/* Commit and release; the txn is freed either way. */
int db_commit(struct db_txn **txn, struct error *err);
void db_rollback(struct db_txn **txn);

/*
 * Several `;`-separated statements without parameters (schema scripts).
 * On MySQL each statement runs on its own: DDL commits implicitly there.
 */
int db_exec_script(struct db *db, const char *sql, struct error *err);
int db_txn_exec_script(struct db_txn *txn, const char *sql,
		       struct error *err);

/*
 * Schema migrations (migrate.c), embedded from schema/<driver>/NNN_*.sql.
 * db_migrate() applies the pending ones in order, each in a transaction
 * where the engine allows it, and records them in schema_migrations; for
 * SQLite it first copies a non-empty database to <path>.bak-<timestamp>.
 * With dry_run it only lists what it would do.  Human-readable lines
 * ("backup: PATH", "applied 001_initial", "pending 002_x") are appended to
 * report when it is not NULL.
 */
struct buf;
int db_migrate(struct db *db, bool dry_run, struct buf *report,
	       struct error *err);
/* Highest applied version (0: none, or no schema_migrations table). */
int db_schema_version(struct db *db, unsigned *version_r, struct error *err);
/* Highest version embedded in this build for the driver. */
unsigned db_schema_latest(enum db_driver driver);
/* Copy an SQLite database to dest_path (backup API); ERR_PERM elsewhere. */
int db_backup(struct db *db, const char *dest_path, struct error *err);

#endif
