/*
 * db.c - the connection pool and the driver-independent calls.
 *
 * Connections are opened lazily, up to pool_size; a caller that finds none
 * idle and the pool full waits on the condition variable.  Connecting
 * happens outside the mutex so a slow server does not block callers that
 * could use an idle connection.  When a connection comes back broken, the
 * idle ones are dropped too: they talk to the same server, which has most
 * likely restarted, and each would otherwise fail one more caller.
 */
#include "db.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "db-private.h"

struct db {
	struct db_settings set;
	const struct db_ops *ops;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct db_conn *idle;
	unsigned open; /* connections in existence: idle + borrowed */
	struct db_hosts hosts; /* servers (pgsql/mysql), under lock */
};

struct db_txn {
	struct db *db;
	struct db_conn *conn;
};

static const struct db_ops *driver_ops(enum db_driver driver)
{
	switch (driver) {
	case DB_SQLITE:
		return &db_sqlite_ops;
	case DB_PGSQL:
		return &db_pgsql_ops;
	case DB_MYSQL:
		return &db_mysql_ops;
	}
	return NULL;
}

const char *db_driver_name(enum db_driver driver)
{
	const struct db_ops *ops = driver_ops(driver);
	return ops == NULL ? "unknown" : ops->name;
}

int db_driver_parse(const char *name, enum db_driver *driver_r)
{
	static const enum db_driver all[] = {DB_SQLITE, DB_PGSQL, DB_MYSQL};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(name, db_driver_name(all[i])) == 0) {
			*driver_r = all[i];
			return 0;
		}
	}
	/* Common spellings people write in main.cf. */
	if (strcmp(name, "postgresql") == 0 || strcmp(name, "postgres") == 0) {
		*driver_r = DB_PGSQL;
		return 0;
	}
	if (strcmp(name, "mariadb") == 0 || strcmp(name, "sqlite3") == 0) {
		*driver_r = strcmp(name, "mariadb") == 0 ? DB_MYSQL : DB_SQLITE;
		return 0;
	}
	return -1;
}

static char *dup_or_null(const char *s)
{
	return s == NULL ? NULL : xstrdup(s);
}

struct db *db_open_params(const struct db_params *params, struct error *err)
{
	const struct db_ops *ops = driver_ops(params->driver);
	if (ops == NULL) {
		error_set(err, ERR_CONFIG, "unknown database driver %d",
			  (int)params->driver);
		return NULL;
	}
	if (params->driver == DB_SQLITE &&
	    (params->path == NULL || params->path[0] == '\0')) {
		error_set(err, ERR_CONFIG, "sqlite: no database path");
		return NULL;
	}

	struct db *db = xcalloc(1, sizeof(*db));
	db->ops = ops;
	db->set.driver = params->driver;
	db->set.path = dup_or_null(params->path);
	db->set.host = dup_or_null(params->host);
	db->set.dbname = dup_or_null(params->dbname);
	db->set.user = dup_or_null(params->user);
	db->set.password = dup_or_null(params->password);
	db->set.port = params->port;
	db->set.pool_size = params->pool_size == 0 ? 1 : params->pool_size;
	db->set.timeout_ms =
	    params->timeout_ms == 0 ? 5000 : params->timeout_ms;
	if (params->driver != DB_SQLITE &&
	    db_hosts_parse(params->host, params->port, &db->hosts, err) < 0) {
		free(db->set.path);
		free(db->set.host);
		free(db->set.dbname);
		free(db->set.user);
		free(db->set.password);
		free(db);
		return NULL;
	}
	pthread_mutex_init(&db->lock, NULL);
	pthread_cond_init(&db->cond, NULL);

	/* Connect once now so a wrong path or setting is reported at
	   start-up.  A server that is down (ERR_TEMP) does not stop a daemon
	   from starting, as with Postfix's SQL tables: calls fail as
	   temporary until it is back. */
	struct error tmp;
	struct db_conn *conn = db_conn_borrow(db, &tmp);
	if (conn != NULL) {
		db_conn_return(db, conn);
	} else if (tmp.kind == ERR_TEMP) {
		log_warn("database not available yet: %s", tmp.msg);
	} else {
		if (err != NULL)
			*err = tmp;
		db_close(&db);
		return NULL;
	}
	return db;
}

void db_close(struct db **dbp)
{
	struct db *db = *dbp;
	if (db == NULL)
		return;
	while (db->idle != NULL) {
		struct db_conn *conn = db->idle;
		db->idle = conn->next;
		db->ops->disconnect(conn);
	}
	pthread_mutex_destroy(&db->lock);
	pthread_cond_destroy(&db->cond);
	db_hosts_free(&db->hosts);
	free(db->set.path);
	free(db->set.host);
	free(db->set.dbname);
	free(db->set.user);
	if (db->set.password != NULL)
		memset(db->set.password, 0, strlen(db->set.password));
	free(db->set.password);
	free(db);
	*dbp = NULL;
}

enum db_driver db_driver(const struct db *db)
{
	return db->set.driver;
}

const struct db_ops *db_get_ops(const struct db *db)
{
	return db->ops;
}

const char *db_sqlite_path(const struct db *db)
{
	return db->set.driver == DB_SQLITE ? db->set.path : NULL;
}

/*
 * A new connection: SQLite (or the driver's default host) directly; a
 * server list in order (db_hosts.c), each host tried once, the first
 * that answers wins; one host's own message is kept as it is.  Runs without the pool's lock except to read and mark hosts.
 */
static struct db_conn *pool_connect(struct db *db, struct error *err)
{
	if (db->hosts.n == 0) {
		struct db_conn *conn = db->ops->connect(&db->set, err);
		if (conn != NULL) {
			conn->host_index = 0;
			conn->opened_ms = time_mono_ms();
		}
		return conn;
	}
	size_t *order = xreallocarray(NULL, db->hosts.n, sizeof(*order));
	pthread_mutex_lock(&db->lock);
	size_t n = db_hosts_order(&db->hosts, time_mono_ms(), order);
	pthread_mutex_unlock(&db->lock);

	struct db_conn *conn = NULL;
	struct error last;
	error_clear(&last);
	for (size_t k = 0; k < n && conn == NULL; k++) {
		struct db_settings one = db->set;
		pthread_mutex_lock(&db->lock);
		char *host = xstrdup(db->hosts.v[order[k]].host);
		one.port = db->hosts.v[order[k]].port;
		pthread_mutex_unlock(&db->lock);
		one.host = host;
		conn = db->ops->connect(&one, &last);
		free(host);
		int64_t now = time_mono_ms();
		pthread_mutex_lock(&db->lock);
		if (conn != NULL || last.kind == ERR_TEMP)
			db_hosts_mark(&db->hosts, order[k], conn != NULL, now);
		pthread_mutex_unlock(&db->lock);
		if (conn != NULL) {
			conn->host_index = order[k];
			conn->opened_ms = now;
		} else if (last.kind != ERR_TEMP) {
			break; /* a setting that no host will accept */
		}
	}
	free(order);
	if (conn == NULL && err != NULL) {
		if (last.kind == ERR_TEMP && db->hosts.n > 1)
			error_set(err, ERR_TEMP,
				  "none of the %zu database servers answers "
				  "(last: %s)",
				  db->hosts.n, last.msg);
		else
			*err = last;
	}
	return conn;
}

struct db_conn *db_conn_borrow(struct db *db, struct error *err)
{
	pthread_mutex_lock(&db->lock);
	while (db->idle == NULL && db->open >= db->set.pool_size)
		pthread_cond_wait(&db->cond, &db->lock);
	struct db_conn *conn = db->idle;
	if (conn != NULL) {
		db->idle = conn->next;
		conn->next = NULL;
		pthread_mutex_unlock(&db->lock);
		return conn;
	}
	db->open++;
	pthread_mutex_unlock(&db->lock);

	conn = pool_connect(db, err);
	if (conn == NULL) {
		pthread_mutex_lock(&db->lock);
		db->open--;
		pthread_cond_signal(&db->cond);
		pthread_mutex_unlock(&db->lock);
		return NULL;
	}
	conn->ops = db->ops;
	conn->next = NULL;
	conn->broken = false;
	log_debug(LOG_TRACE_SQL, "%s: connected", db->ops->name);
	return conn;
}

void db_conn_return(struct db *db, struct db_conn *conn)
{
	struct db_conn *drop = NULL;

	pthread_mutex_lock(&db->lock);
	/* Back to the preferred server once it answers again (db_hosts.c). */
	if (!conn->broken &&
	    db_hosts_should_fail_back(&db->hosts, conn, time_mono_ms())) {
		db->open--;
		pthread_cond_broadcast(&db->cond);
		pthread_mutex_unlock(&db->lock);
		log_debug(LOG_TRACE_SQL, "%s: closing a connection to a "
			  "fallback server", db->ops->name);
		db->ops->disconnect(conn);
		return;
	}
	if (conn->broken) {
		conn->next = db->idle;
		drop = conn;
		for (struct db_conn *c = db->idle; c != NULL; c = c->next)
			db->open--;
		db->open--;
		db->idle = NULL;
	} else {
		conn->next = db->idle;
		db->idle = conn;
	}
	pthread_cond_broadcast(&db->cond);
	pthread_mutex_unlock(&db->lock);

	if (drop != NULL)
		log_debug(LOG_TRACE_SQL, "%s: dropping broken connection",
			  db->ops->name);
	while (drop != NULL) {
		struct db_conn *next = drop->next;
		db->ops->disconnect(drop);
		drop = next;
	}
}

void db_msg_line(char *dst, const char *src, size_t size)
{
	size_t n = 0;
	for (const char *p = src; *p != '\0' && n + 1 < size; p++) {
		char c = *p == '\n' || *p == '\r' || *p == '\t' ? ' ' : *p;
		if (c == ' ' && (n == 0 || dst[n - 1] == ' '))
			continue;
		dst[n++] = c;
	}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

void db_trace(const char *driver, const char *sql, size_t nparams)
{
	if (!log_tracing(LOG_TRACE_SQL))
		return;
	/* Parameter values (passwords, hashes) are never logged: only the
	   statement text, which holds placeholders, and how many were bound. */
	char line[201];
	size_t n = 0;
	for (const char *p = sql; *p != '\0' && n < sizeof(line) - 1; p++) {
		char c = *p == '\n' || *p == '\t' || *p == '\r' ? ' ' : *p;
		if (c == ' ' && n > 0 && line[n - 1] == ' ')
			continue;
		line[n++] = c;
	}
	line[n] = '\0';
	log_debug(LOG_TRACE_SQL, "%s: sql=\"%s\" params=%zu", driver, line,
		  nparams);
}

static int conn_run(struct db *db, struct db_conn *conn, const char *sql,
		    const char *const *params, size_t nparams,
		    struct db_result **res_r, long long *affected_r,
		    struct error *err)
{
	db_trace(db->ops->name, sql, nparams);
	int ret =
	    db->ops->run(conn, sql, params, nparams, res_r, affected_r, err);
	if (ret < 0)
		log_debug(LOG_TRACE_SQL, "%s: failed (%s): %s", db->ops->name,
			  ret == DB_DUPLICATE ? "duplicate"
					      : error_kind_name(err->kind),
			  err->msg);
	return ret;
}

/* A statement that only reads, so running it twice is harmless. */
static bool read_only_sql(const char *sql)
{
	while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '(')
		sql++;
	return strncasecmp(sql, "SELECT", 6) == 0;
}

/*
 * One statement on a pooled connection.  A SELECT that fails because its
 * connection broke (the server restarted, or was a replica that died:
 * db_hosts.c) runs once more on a new connection, which the server list
 * may place on another host: a lookup then survives a failover instead of
 * tempfailing one message per pooled connection.  Writes are never run
 * twice: the first may have committed before the connection went.
 */
static int run_once(struct db *db, const char *sql, const char *const *params,
		    size_t nparams, struct db_result **res_r,
		    long long *affected_r, struct error *err)
{
	for (int attempt = 0;; attempt++) {
		struct db_conn *conn = db_conn_borrow(db, err);
		if (conn == NULL)
			return -1;
		int ret = conn_run(db, conn, sql, params, nparams, res_r,
				   affected_r, err);
		bool again = ret < 0 && conn->broken && attempt == 0 &&
			     err->kind == ERR_TEMP && read_only_sql(sql);
		db_conn_return(db, conn);
		if (!again)
			return ret;
		log_debug(LOG_TRACE_SQL, "%s: connection lost, query again",
			  db->ops->name);
	}
}

long long db_exec(struct db *db, const char *sql, const char *const *params,
		  size_t nparams, struct error *err)
{
	struct error tmp;
	long long affected = 0;
	if (err == NULL)
		err = &tmp;
	int ret = run_once(db, sql, params, nparams, NULL, &affected, err);
	return ret < 0 ? ret : affected;
}

int db_query(struct db *db, const char *sql, const char *const *params,
	     size_t nparams, struct db_result **res_r, struct error *err)
{
	struct error tmp;
	long long affected = 0;
	if (err == NULL)
		err = &tmp;
	*res_r = NULL;
	return run_once(db, sql, params, nparams, res_r, &affected, err);
}

int db_exec_script(struct db *db, const char *sql, struct error *err)
{
	struct error tmp;
	if (err == NULL)
		err = &tmp;
	struct db_conn *conn = db_conn_borrow(db, err);
	if (conn == NULL)
		return -1;
	db_trace(db->ops->name, sql, 0);
	int ret = db->ops->script(conn, sql, err);
	db_conn_return(db, conn);
	return ret;
}

struct db_txn *db_begin(struct db *db, struct error *err)
{
	struct error tmp;
	long long affected;
	if (err == NULL)
		err = &tmp;
	struct db_conn *conn = db_conn_borrow(db, err);
	if (conn == NULL)
		return NULL;
	if (conn_run(db, conn, db->ops->begin_sql, NULL, 0, NULL, &affected,
		     err) < 0) {
		db_conn_return(db, conn);
		return NULL;
	}
	struct db_txn *txn = xmalloc(sizeof(*txn));
	txn->db = db;
	txn->conn = conn;
	return txn;
}

long long db_txn_exec(struct db_txn *txn, const char *sql,
		      const char *const *params, size_t nparams,
		      struct error *err)
{
	struct error tmp;
	long long affected = 0;
	if (err == NULL)
		err = &tmp;
	int ret = conn_run(txn->db, txn->conn, sql, params, nparams, NULL,
			   &affected, err);
	return ret < 0 ? ret : affected;
}

int db_txn_query(struct db_txn *txn, const char *sql, const char *const *params,
		 size_t nparams, struct db_result **res_r, struct error *err)
{
	struct error tmp;
	long long affected = 0;
	if (err == NULL)
		err = &tmp;
	*res_r = NULL;
	return conn_run(txn->db, txn->conn, sql, params, nparams, res_r,
			&affected, err);
}

int db_txn_exec_script(struct db_txn *txn, const char *sql, struct error *err)
{
	struct error tmp;
	if (err == NULL)
		err = &tmp;
	db_trace(txn->db->ops->name, sql, 0);
	return txn->db->ops->script(txn->conn, sql, err);
}

static void txn_end(struct db_txn **txnp)
{
	struct db_txn *txn = *txnp;
	db_conn_return(txn->db, txn->conn);
	free(txn);
	*txnp = NULL;
}

int db_commit(struct db_txn **txnp, struct error *err)
{
	struct db_txn *txn = *txnp;
	struct error tmp;
	long long affected;
	if (err == NULL)
		err = &tmp;
	int ret = conn_run(txn->db, txn->conn, "COMMIT", NULL, 0, NULL,
			   &affected, err);
	if (ret < 0 && !txn->conn->broken) {
		/* A failed COMMIT may leave the transaction open (SQLite on
		   SQLITE_BUSY); never hand such a connection to the next
		   caller. */
		struct error ignore;
		conn_run(txn->db, txn->conn, "ROLLBACK", NULL, 0, NULL,
			 &affected, &ignore);
	}
	txn_end(txnp);
	return ret < 0 ? -1 : 0;
}

void db_rollback(struct db_txn **txnp)
{
	struct db_txn *txn = *txnp;
	if (txn == NULL)
		return;
	if (!txn->conn->broken) {
		struct error ignore;
		long long affected;
		if (conn_run(txn->db, txn->conn, "ROLLBACK", NULL, 0, NULL,
			     &affected, &ignore) < 0)
			txn->conn->broken = true;
	}
	txn_end(txnp);
}

int db_backup(struct db *db, const char *dest_path, struct error *err)
{
	if (db->set.driver != DB_SQLITE)
		return error_set(err, ERR_PERM,
				 "%s: backups are the server's job",
				 db->ops->name);
	struct db_conn *conn = db_conn_borrow(db, err);
	if (conn == NULL)
		return -1;
	int ret = db_sqlite_backup(conn, dest_path, err);
	db_conn_return(db, conn);
	return ret;
}
