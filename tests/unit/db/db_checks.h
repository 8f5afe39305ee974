/*
 * db_checks - driver-independent checks of the SQL layer, run by the
 * SQLite unit test and, unchanged, by the PostgreSQL/MariaDB integration
 * test (tests/integration/test_db_servers.c), so the three drivers are held
 * to the same behaviour.  Each check takes an open database it may fill
 * and empty; failures are cmocka assertions.
 */
#ifndef POSTERN_TEST_DB_CHECKS_H
#define POSTERN_TEST_DB_CHECKS_H

#include "db/db.h"

/* Drop every table of the schema and the scratch tables (clean slate). */
void db_checks_reset(struct db *db);

void db_check_params_and_nulls(struct db *db);
void db_check_duplicate(struct db *db);
void db_check_transactions(struct db *db);
void db_check_injection_is_data(struct db *db);
/* Dry run, apply, re-apply and use the migrated schema. */
void db_check_migrations(struct db *db);
/* Several threads sharing a small pool. */
void db_check_pool_threads(struct db *db);

/* One scalar from a query with no parameters, malloc'd (NULL: SQL NULL). */
char *db_checks_scalar(struct db *db, const char *sql);

#endif
