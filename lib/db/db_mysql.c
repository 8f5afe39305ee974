/*
 * db_mysql.c - the MySQL/MariaDB driver (MariaDB Connector/C).
 *
 * Statements are server-side prepared and values bound as strings, so they
 * are never parsed as SQL; results are fetched as strings too.  Each
 * session runs in UTC with ANSI_QUOTES and PIPES_AS_CONCAT so the SQL the
 * other modules write ("identifiers", 'strings', ||) means the same here
 * as on SQLite and PostgreSQL, and with NO_BACKSLASH_ESCAPES so a
 * backslash in a literal is data as it is elsewhere.
 */
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "db-private.h"

#define CELL_BUF 256

struct mysql_conn {
	struct db_conn conn;
	MYSQL *my;
};

static pthread_once_t library_once = PTHREAD_ONCE_INIT;

static void library_init(void)
{
	/* Not thread-safe itself; pthread_once makes the first connect of
	   any thread do it exactly once. */
	mysql_library_init(0, NULL, NULL);
}

static int mysql_fail(struct mysql_conn *mc, unsigned code, const char *msg,
		      struct error *err)
{
	char text[ERROR_MSG_MAX - 32];
	db_msg_line(text, msg, sizeof(text));

	switch (code) {
	case ER_DUP_ENTRY:
		error_set(err, ERR_PERM, "mysql: duplicate: %s", text);
		return DB_DUPLICATE;
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case CR_CONN_HOST_ERROR:
	case CR_CONNECTION_ERROR:
	case ER_SERVER_SHUTDOWN:
	case ER_CONNECTION_KILLED:
		mc->conn.broken = true;
		return error_set(err, ERR_TEMP, "mysql: %s", text);
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_LOCK_DEADLOCK:
	case ER_CON_COUNT_ERROR:
	case ER_OUT_OF_RESOURCES:
		return error_set(err, ERR_TEMP, "mysql: %s", text);
	case CR_COMMANDS_OUT_OF_SYNC:
		/* The protocol state is unknown: never reuse the handle. */
		mc->conn.broken = true;
		break;
	}
	return error_set(err, ERR_PERM, "mysql: %s", text);
}

static struct db_conn *mysql_connect(const struct db_settings *set,
				     struct error *err)
{
	pthread_once(&library_once, library_init);

	MYSQL *my = mysql_init(NULL);
	if (my == NULL) {
		error_set(err, ERR_TEMP, "mysql: out of memory");
		return NULL;
	}
	unsigned int secs = set->timeout_ms < 1000 ? 1 : set->timeout_ms / 1000;
	my_bool off = 0;
	mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
	mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &secs);
	mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &secs);
	mysql_options(my, MYSQL_OPT_RECONNECT, &off);
	mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(my, MYSQL_INIT_COMMAND,
		      "SET SESSION sql_mode = 'ANSI_QUOTES,PIPES_AS_CONCAT,"
		      "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,"
		      "NO_BACKSLASH_ESCAPES,ERROR_FOR_DIVISION_BY_ZERO',"
		      " time_zone = '+00:00'");

	/* A host starting with / names the server's unix socket. */
	const char *host = set->host, *sock = NULL;
	if (host != NULL && host[0] == '/') {
		sock = host;
		host = "localhost";
	}
	/* FOUND_ROWS: an UPDATE reports the rows it matched, as SQLite and
	   PostgreSQL do, not only the rows whose value changed. */
	if (mysql_real_connect(my, host, set->user, set->password, set->dbname,
			       set->port, sock, CLIENT_FOUND_ROWS) == NULL) {
		char text[ERROR_MSG_MAX - 64];
		db_msg_line(text, mysql_error(my), sizeof(text));
		/* As for PostgreSQL: a refused login cannot be told from a
		   server that is starting, so it is temporary. */
		error_set(err, ERR_TEMP, "mysql: connect: %s", text);
		mysql_close(my);
		return NULL;
	}
	struct mysql_conn *mc = xcalloc(1, sizeof(*mc));
	mc->my = my;
	return &mc->conn;
}

static void mysql_disconnect(struct db_conn *conn)
{
	struct mysql_conn *mc = (struct mysql_conn *)conn;
	mysql_close(mc->my);
	free(mc);
}

static int stmt_fail(struct mysql_conn *mc, MYSQL_STMT *st, struct error *err)
{
	return mysql_fail(mc, mysql_stmt_errno(st), mysql_stmt_error(st), err);
}

static int fetch_rows(struct mysql_conn *mc, MYSQL_STMT *st, MYSQL_RES *meta,
		      struct db_result **res_r, struct error *err)
{
	size_t cols = mysql_num_fields(meta);
	MYSQL_FIELD *fields = mysql_fetch_fields(meta);
	struct db_result *res = db_result_new(cols);
	for (size_t c = 0; c < cols; c++)
		db_result_set_colname(res, c, fields[c].name);

	MYSQL_BIND *bind = xcalloc(cols ? cols : 1, sizeof(*bind));
	unsigned long *len = xcalloc(cols ? cols : 1, sizeof(*len));
	my_bool *null = xcalloc(cols ? cols : 1, sizeof(*null));
	my_bool *trunc = xcalloc(cols ? cols : 1, sizeof(*trunc));
	char *cells = xmalloc((cols ? cols : 1) * CELL_BUF);
	int ret = 0;

	for (size_t c = 0; c < cols; c++) {
		bind[c].buffer_type = MYSQL_TYPE_STRING;
		bind[c].buffer = cells + c * CELL_BUF;
		bind[c].buffer_length = CELL_BUF;
		bind[c].length = &len[c];
		bind[c].is_null = &null[c];
		bind[c].error = &trunc[c];
	}
	if (mysql_stmt_bind_result(st, bind) != 0 ||
	    mysql_stmt_store_result(st) != 0) {
		ret = stmt_fail(mc, st, err);
		goto out;
	}
	for (;;) {
		int rc = mysql_stmt_fetch(st);
		if (rc == MYSQL_NO_DATA)
			break;
		if (rc != 0 && rc != MYSQL_DATA_TRUNCATED) {
			ret = stmt_fail(mc, st, err);
			goto out;
		}
		size_t row = db_result_add_row(res);
		for (size_t c = 0; c < cols; c++) {
			if (null[c])
				continue;
			if (len[c] <= CELL_BUF) {
				db_result_set(res, row, c, cells + c * CELL_BUF,
					      len[c]);
				continue;
			}
			/* Longer than the buffer: fetch this cell again into
			   one of the right size. */
			char *big = xmalloc(len[c] + 1);
			MYSQL_BIND one = {0};
			unsigned long big_len = 0;
			one.buffer_type = MYSQL_TYPE_STRING;
			one.buffer = big;
			one.buffer_length = len[c] + 1;
			one.length = &big_len;
			if (mysql_stmt_fetch_column(st, &one, (unsigned)c, 0)) {
				free(big);
				ret = stmt_fail(mc, st, err);
				goto out;
			}
			db_result_set(res, row, c, big, big_len);
			free(big);
		}
	}
out:
	free(bind);
	free(len);
	free(null);
	free(trunc);
	free(cells);
	if (ret < 0)
		db_result_free(&res);
	else
		*res_r = res;
	return ret;
}

static int mysql_run(struct db_conn *conn, const char *sql,
		     const char *const *params, size_t nparams,
		     struct db_result **res_r, long long *affected_r,
		     struct error *err)
{
	struct mysql_conn *mc = (struct mysql_conn *)conn;
	MYSQL_STMT *st = mysql_stmt_init(mc->my);
	if (st == NULL)
		return mysql_fail(mc, mysql_errno(mc->my), mysql_error(mc->my),
				  err);
	MYSQL_BIND *bind = xcalloc(nparams ? nparams : 1, sizeof(*bind));
	unsigned long *len = xcalloc(nparams ? nparams : 1, sizeof(*len));
	MYSQL_RES *meta = NULL;
	int ret = 0;

	if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
		ret = stmt_fail(mc, st, err);
		goto out;
	}
	if (mysql_stmt_param_count(st) != nparams) {
		ret = error_set(err, ERR_PERM,
				"mysql: statement has %lu placeholders, %zu "
				"values given",
				mysql_stmt_param_count(st), nparams);
		goto out;
	}
	for (size_t i = 0; i < nparams; i++) {
		if (params[i] == NULL) {
			bind[i].buffer_type = MYSQL_TYPE_NULL;
			continue;
		}
		len[i] = strlen(params[i]);
		bind[i].buffer_type = MYSQL_TYPE_STRING;
		bind[i].buffer = (void *)params[i];
		bind[i].buffer_length = len[i];
		bind[i].length = &len[i];
	}
	if ((nparams > 0 && mysql_stmt_bind_param(st, bind) != 0) ||
	    mysql_stmt_execute(st) != 0) {
		ret = stmt_fail(mc, st, err);
		goto out;
	}
	*affected_r = (long long)mysql_stmt_affected_rows(st);
	meta = mysql_stmt_result_metadata(st);
	if (meta != NULL && res_r != NULL)
		ret = fetch_rows(mc, st, meta, res_r, err);
	else if (res_r != NULL)
		*res_r = db_result_new(0);
out:
	if (meta != NULL)
		mysql_free_result(meta);
	mysql_stmt_close(st);
	free(bind);
	free(len);
	return ret;
}

static int mysql_script(struct db_conn *conn, const char *sql,
			struct error *err)
{
	struct mysql_conn *mc = (struct mysql_conn *)conn;
	int ret = 0;

	/* Multi-statement mode only for the duration of the script, so it
	   can never widen an injection elsewhere. */
	if (mysql_set_server_option(mc->my, MYSQL_OPTION_MULTI_STATEMENTS_ON))
		return mysql_fail(mc, mysql_errno(mc->my), mysql_error(mc->my),
				  err);
	int rc = mysql_real_query(mc->my, sql, strlen(sql));
	for (;;) {
		if (rc != 0) {
			ret = mysql_fail(mc, mysql_errno(mc->my),
					 mysql_error(mc->my), err);
			break;
		}
		MYSQL_RES *r = mysql_store_result(mc->my);
		if (r != NULL)
			mysql_free_result(r);
		rc = mysql_next_result(mc->my);
		if (rc == -1)
			break;
		rc = rc > 0 ? 1 : 0;
	}
	if (!mc->conn.broken &&
	    mysql_set_server_option(mc->my, MYSQL_OPTION_MULTI_STATEMENTS_OFF))
		mc->conn.broken = true;
	return ret;
}

const struct db_ops db_mysql_ops = {
    .name = "mysql",
    .begin_sql = "START TRANSACTION",
    .table_exists_sql = "SELECT 1 FROM information_schema.tables"
			" WHERE table_schema = DATABASE()"
			" AND table_name = ?",
    /* DDL commits implicitly on MySQL/MariaDB. */
    .transactional_ddl = false,
    .connect = mysql_connect,
    .disconnect = mysql_disconnect,
    .run = mysql_run,
    .script = mysql_script,
};
