/*
 * db-private.h - what the db drivers and the pool share; not for callers
 * outside lib/db (tests may include it to reach the migration runner).
 *
 * A driver is a vtable (struct db_ops) over its own connection type, which
 * begins with a struct db_conn.  The pool in db.c owns the connections; a
 * driver call sets conn->broken when the connection can no longer be used
 * (server gone, protocol lost), and the pool then drops it instead of
 * putting it back.  Driver calls return 0, -1 or DB_DUPLICATE with err
 * filled, exactly as the public calls do.
 */
#ifndef POSTERN_DB_PRIVATE_H
#define POSTERN_DB_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "db.h"

struct db_conn {
	const struct db_ops *ops;
	struct db_conn *next; /* idle list of the pool */
	bool broken;
	/* Set by the pool: which of the servers (db_hosts) and when. */
	size_t host_index;
	int64_t opened_ms;
};

/* db_hosts.c: the servers of database_host, tried in order (see there). */
#define DB_HOST_RETRY_MS 10000 /* a failed host is tried last this long */
#define DB_FAILBACK_MS 30000   /* a fallback connection lives this long */
struct db_host {
	char *host;
	unsigned port;
	int64_t down_until; /* monotonic ms; 0: not known to be down */
};
struct db_hosts {
	struct db_host *v;
	size_t n;
};
/* "a, b:5433, [::1]:5432, /socket/dir" with default_port where none is
   written; an empty list gives n = 0 (the driver's default host). */
int db_hosts_parse(const char *list, unsigned default_port,
		   struct db_hosts *out, struct error *err);
void db_hosts_free(struct db_hosts *hosts);
/* Fill order[] (room for hosts->n) with the indexes to try; returns n. */
size_t db_hosts_order(const struct db_hosts *hosts, int64_t now,
		      size_t *order);
void db_hosts_mark(struct db_hosts *hosts, size_t i, bool up, int64_t now);
/* A connection to a fallback host, old enough, while the first is up. */
bool db_hosts_should_fail_back(const struct db_hosts *hosts,
			       const struct db_conn *conn, int64_t now);

/* A private copy of struct db_params, owned by the struct db. */
struct db_settings {
	enum db_driver driver;
	char *path, *host, *dbname, *user, *password;
	unsigned port, pool_size, timeout_ms;
};

struct db_ops {
	const char *name;
	/* Statement that opens a transaction. */
	const char *begin_sql;
	/* SQL answering one row when table ? exists in the current schema. */
	const char *table_exists_sql;
	/* DDL runs inside a transaction (false: MySQL commits implicitly). */
	bool transactional_ddl;

	struct db_conn *(*connect)(const struct db_settings *set,
				   struct error *err);
	void (*disconnect)(struct db_conn *conn);
	/* One statement with bound text parameters (NULL: SQL NULL).  Rows go
	   to *res_r when res_r is not NULL, the affected count to *affected_r.
	 */
	int (*run)(struct db_conn *conn, const char *sql,
		   const char *const *params, size_t nparams,
		   struct db_result **res_r, long long *affected_r,
		   struct error *err);
	/* Several `;`-separated statements without parameters. */
	int (*script)(struct db_conn *conn, const char *sql, struct error *err);
};

extern const struct db_ops db_sqlite_ops;
extern const struct db_ops db_pgsql_ops;
extern const struct db_ops db_mysql_ops;

/* db_pgsql.c: ? placeholders to $1..$n outside quotes and comments;
   malloc'd, *count_r gets the number of placeholders. */
char *db_pgsql_rewrite(const char *sql, size_t *count_r);

/* db_sqlite.c: online copy of the open database into dest_path. */
int db_sqlite_backup(struct db_conn *conn, const char *dest_path,
		     struct error *err);

/* db.c: the driver of an open database. */
const struct db_ops *db_get_ops(const struct db *db);
/* db.c: path of an SQLite database, NULL for the servers. */
const char *db_sqlite_path(const struct db *db);
/* db.c: borrow one connection for a driver-specific job. */
struct db_conn *db_conn_borrow(struct db *db, struct error *err);
void db_conn_return(struct db *db, struct db_conn *conn);

/* db_result.c: building results in the drivers. */
struct db_result *db_result_new(size_t cols);
void db_result_set_colname(struct db_result *res, size_t col, const char *name);
/* Append a row of NULLs; returns its index. */
size_t db_result_add_row(struct db_result *res);
/* Copy len bytes as the cell's value (value NULL: SQL NULL). */
void db_result_set(struct db_result *res, size_t row, size_t col,
		   const char *value, size_t len);

/* Copy a driver message as one line (newlines folded, trimmed). */
void db_msg_line(char *dst, const char *src, size_t size);
/* SQL text for logs: at most 200 bytes on one line. */
void db_trace(const char *driver, const char *sql, size_t nparams);

/* One migration: schema/<driver>/NNN_name.sql. */
struct db_migration {
	unsigned version;
	const char *name;
	const char *sql;
};

/* schema_embedded.c (generated from schema/ at build time). */
struct db_schema_file {
	const char *driver; /* "sqlite", "pgsql", "mysql" */
	unsigned version;   /* 1 for 001_initial.sql */
	const char *name;   /* "initial" */
	const char *sql;
};
extern const struct db_schema_file db_schema_files[];
extern const size_t db_schema_nfiles;

/* migrate.c: the migrations embedded for a driver, sorted by version;
   free the array (not the strings) with free(). */
struct db_migration *db_migrations_builtin(enum db_driver driver, size_t *n_r);
/* db_migrate() over an explicit list, sorted by version (tests). */
int db_migrate_list(struct db *db, const struct db_migration *list, size_t n,
		    bool dry_run, struct buf *report, struct error *err);

#endif
