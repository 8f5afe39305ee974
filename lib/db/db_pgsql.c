/*
 * db_pgsql.c - the PostgreSQL driver (libpq, blocking calls).
 *
 * Values always travel as text parameters of PQexecParams, so they are
 * never parsed as SQL.  Our `?` placeholders become $1..$n here; a `?`
 * inside a quoted string, a quoted identifier or a comment is left alone.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "db-private.h"

struct pgsql_conn {
	struct db_conn conn;
	PGconn *pg;
};

/* Rewrite ? to $n; *count_r gets the number of placeholders. */
char *db_pgsql_rewrite(const char *sql, size_t *count_r)
{
	struct buf *out = buf_new_size(strlen(sql) + 16);
	size_t n = 0;
	const char *p = sql;

	while (*p != '\0') {
		if (*p == '\'' || *p == '"') {
			/* A doubled quote inside is an escaped quote: the loop
			   simply closes and reopens the literal. */
			char q = *p;
			const char *end = strchr(p + 1, q);
			end = end == NULL ? p + strlen(p) : end + 1;
			buf_append(out, p, (size_t)(end - p));
			p = end;
		} else if (p[0] == '-' && p[1] == '-') {
			size_t len = strcspn(p, "\n");
			buf_append(out, p, len);
			p += len;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *end = strstr(p + 2, "*/");
			end = end == NULL ? p + strlen(p) : end + 2;
			buf_append(out, p, (size_t)(end - p));
			p = end;
		} else if (*p == '?') {
			buf_printf(out, "$%zu", ++n);
			p++;
		} else {
			buf_append_char(out, *p++);
		}
	}
	*count_r = n;
	char *s = buf_steal(out);
	buf_free(&out);
	return s;
}

/* Classify by SQLSTATE (PostgreSQL manual, appendix A). */
static int pgsql_error(struct pgsql_conn *pc, const PGresult *r,
		       struct error *err)
{
	const char *state =
	    r == NULL ? NULL : PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *msg = r != NULL ? PQresultErrorMessage(r) : "";
	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(pc->pg);
	char text[ERROR_MSG_MAX - 32];
	db_msg_line(text, msg, sizeof(text));

	if (PQstatus(pc->pg) != CONNECTION_OK || state == NULL) {
		/* No SQLSTATE: the client lost the server (libpq made the
		   error itself). */
		pc->conn.broken = true;
		return error_set(err, ERR_TEMP, "pgsql: %s", text);
	}
	if (strcmp(state, "23505") == 0) {
		error_set(err, ERR_PERM, "pgsql: duplicate: %s", text);
		return DB_DUPLICATE;
	}
	/* 08: connection exception; 57P: operator intervention (admin
	   shutdown, crash shutdown, cannot connect now). */
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0) {
		pc->conn.broken = true;
		return error_set(err, ERR_TEMP, "pgsql: %s", text);
	}
	/* Cancelled (statement_timeout), lock timeout, serialization
	   failure, deadlock, insufficient resources: retry later. */
	if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0 ||
	    strncmp(state, "40", 2) == 0 || strncmp(state, "53", 2) == 0)
		return error_set(err, ERR_TEMP, "pgsql: %s", text);
	return error_set(err, ERR_PERM, "pgsql: %s", text);
}

/* libpq prints NOTICEs on stderr by default; a daemon's stderr is its log,
   so they go to the SQL trace instead. */
static void pgsql_notice(void *arg, const char *message)
{
	char text[ERROR_MSG_MAX];
	db_msg_line(text, message, sizeof(text));
	log_debug(LOG_TRACE_SQL, "pgsql: %s", text);
}

static struct db_conn *pgsql_connect(const struct db_settings *set,
				     struct error *err)
{
	char port[16], timeout[16];
	snprintf(port, sizeof(port), "%u", set->port);
	/* libpq counts whole seconds and treats 1 as 2. */
	snprintf(timeout, sizeof(timeout), "%u",
		 set->timeout_ms < 2000 ? 2 : (set->timeout_ms + 999) / 1000);

	const char *keys[10], *vals[10];
	size_t n = 0;
#define KV(k, v)                                                               \
	do {                                                                   \
		if ((v) != NULL && *(v) != '\0') {                             \
			keys[n] = (k);                                         \
			vals[n++] = (v);                                       \
		}                                                              \
	} while (0)
	KV("host", set->host);
	KV("port", set->port != 0 ? port : NULL);
	KV("dbname", set->dbname);
	KV("user", set->user);
	KV("password", set->password);
	KV("connect_timeout", timeout);
	KV("client_encoding", "UTF8");
	KV("application_name", "postern");
#undef KV
	keys[n] = NULL;
	vals[n] = NULL;

	PGconn *pg = PQconnectdbParams(keys, vals, 0);
	if (pg == NULL) {
		error_set(err, ERR_TEMP, "pgsql: out of memory");
		return NULL;
	}
	if (PQstatus(pg) != CONNECTION_OK) {
		char text[ERROR_MSG_MAX - 64];
		db_msg_line(text, PQerrorMessage(pg), sizeof(text));
		/* A refused password or unknown database will not fix itself,
		   but libpq gives no code to tell it from a server starting
		   up, so every connect failure is temporary: mail waits in
		   the queue instead of bouncing. */
		error_set(err, ERR_TEMP, "pgsql: connect to %s:%s: %s",
			  set->host != NULL ? set->host : "(default)",
			  set->port != 0 ? port : "5432", text);
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, pgsql_notice, NULL);
	struct pgsql_conn *pc = xcalloc(1, sizeof(*pc));
	pc->pg = pg;
	return &pc->conn;
}

static void pgsql_disconnect(struct db_conn *conn)
{
	struct pgsql_conn *pc = (struct pgsql_conn *)conn;
	PQfinish(pc->pg);
	free(pc);
}

static int pgsql_result(struct pgsql_conn *pc, PGresult *r,
			struct db_result **res_r, long long *affected_r,
			struct error *err)
{
	ExecStatusType st = r == NULL ? PGRES_FATAL_ERROR : PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		int ret = pgsql_error(pc, r, err);
		PQclear(r);
		return ret;
	}
	const char *tuples = PQcmdTuples(r);
	*affected_r = tuples != NULL && *tuples != '\0' ? atoll(tuples) : 0;
	if (res_r != NULL) {
		size_t cols = (size_t)PQnfields(r);
		size_t rows = (size_t)PQntuples(r);
		struct db_result *res = db_result_new(cols);
		for (size_t c = 0; c < cols; c++)
			db_result_set_colname(res, c, PQfname(r, (int)c));
		for (size_t i = 0; i < rows; i++) {
			size_t row = db_result_add_row(res);
			for (size_t c = 0; c < cols; c++) {
				if (PQgetisnull(r, (int)i, (int)c))
					continue;
				db_result_set(
				    res, row, c, PQgetvalue(r, (int)i, (int)c),
				    (size_t)PQgetlength(r, (int)i, (int)c));
			}
		}
		*res_r = res;
	}
	PQclear(r);
	return 0;
}

static int pgsql_run(struct db_conn *conn, const char *sql,
		     const char *const *params, size_t nparams,
		     struct db_result **res_r, long long *affected_r,
		     struct error *err)
{
	struct pgsql_conn *pc = (struct pgsql_conn *)conn;
	size_t count;
	char *text = db_pgsql_rewrite(sql, &count);
	if (count != nparams) {
		free(text);
		return error_set(err, ERR_PERM,
				 "pgsql: statement has %zu placeholders, %zu "
				 "values given",
				 count, nparams);
	}
	PGresult *r = PQexecParams(pc->pg, text, (int)nparams, NULL, params,
				   NULL, NULL, 0);
	free(text);
	return pgsql_result(pc, r, res_r, affected_r, err);
}

static int pgsql_script(struct db_conn *conn, const char *sql,
			struct error *err)
{
	struct pgsql_conn *pc = (struct pgsql_conn *)conn;
	long long affected;
	/* PQexec runs several statements; the first failure stops it. */
	return pgsql_result(pc, PQexec(pc->pg, sql), NULL, &affected, err);
}

const struct db_ops db_pgsql_ops = {
    .name = "pgsql",
    .begin_sql = "BEGIN",
    .table_exists_sql = "SELECT 1 FROM information_schema.tables"
			" WHERE table_schema = current_schema()"
			" AND table_name = ?",
    .transactional_ddl = true,
    .connect = pgsql_connect,
    .disconnect = pgsql_disconnect,
    .run = pgsql_run,
    .script = pgsql_script,
};
