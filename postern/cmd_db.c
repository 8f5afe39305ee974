/*
 * cmd_db.c - `postern db`: schema migrations.
 *
 *   postern db migrate [--dry-run]   apply pending migrations (SQLite: after
 *                                    a backup copy of the database file)
 *   postern db status                driver, schema version, pending ones
 */
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "postern.h"

static const char usage[] =
    "usage: postern [-c DIR] db migrate [--dry-run]\n"
    "       postern [-c DIR] db status\n"
    "\n"
    "  migrate    apply the pending schema migrations, in order, each in\n"
    "             a transaction where the database allows it; an SQLite\n"
    "             database is first copied to FILE.bak-TIMESTAMP\n"
    "  --dry-run  only list the migrations that would be applied\n"
    "  status     show the driver, the schema version and what is pending\n";

static int db_cmd_migrate(struct db *db, bool dry_run)
{
	struct error err;
	struct buf *report = buf_new();
	int ret = db_migrate(db, dry_run, report, &err);
	fputs(buf_data(report), stdout);
	buf_free(&report);
	if (ret < 0)
		return cli_error("db migrate: %s (%s)", err.msg,
				 error_kind_name(err.kind));
	if (dry_run)
		printf("dry run: nothing was changed\n");
	return 0;
}

static int db_cmd_status(struct db *db, const struct conf *conf)
{
	struct error err;
	unsigned version;
	if (db_schema_version(db, &version, &err) < 0)
		return cli_error("db status: %s (%s)", err.msg,
				 error_kind_name(err.kind));
	enum db_driver driver = db_driver(db);
	printf("driver: %s\n", db_driver_name(driver));
	if (driver == DB_SQLITE)
		printf("database: %s\n", conf_str(conf, "database_path"));
	else
		printf("database: %s on %s\n", conf_str(conf, "database_name"),
		       conf_str(conf, "database_host"));
	printf("version: %u\n", version);
	printf("latest: %u\n", db_schema_latest(driver));

	struct buf *report = buf_new();
	if (db_migrate(db, true, report, &err) < 0) {
		buf_free(&report);
		return cli_error("db status: %s (%s)", err.msg,
				 error_kind_name(err.kind));
	}
	size_t pending = 0;
	for (const char *p = buf_data(report);
	     (p = strstr(p, "pending ")) != NULL; p++)
		pending++;
	printf("pending: %zu\n", pending);
	if (pending > 0)
		fputs(buf_data(report), stdout);
	buf_free(&report);
	return 0;
}

int cmd_db(struct cli *cli, int argc, char **argv)
{
	if (cli_help(argc, argv, usage))
		return 0;
	if (argc < 2)
		return cli_error(
		    "db: missing subcommand (try postern db --help)");

	const char *sub = argv[1];
	bool dry_run = false;
	if (strcmp(sub, "migrate") == 0) {
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--dry-run") == 0 ||
			    strcmp(argv[i], "-n") == 0)
				dry_run = true;
			else
				return cli_error(
				    "db migrate: unknown argument "
				    "\"%s\" (try postern db --help)",
				    argv[i]);
		}
	} else if (strcmp(sub, "status") == 0) {
		if (argc > 2)
			return cli_error("db status: unexpected argument "
					 "\"%s\"",
					 argv[2]);
	} else {
		return cli_error("db: unknown subcommand \"%s\" (try postern "
				 "db --help)",
				 sub);
	}

	struct conf *conf = cli_conf(cli);
	if (conf == NULL)
		return 1;
	struct db *db = cli_db(cli, conf);
	if (db == NULL) {
		conf_free(&conf);
		return 1;
	}
	int ret = strcmp(sub, "migrate") == 0 ? db_cmd_migrate(db, dry_run)
					      : db_cmd_status(db, conf);
	db_close(&db);
	conf_free(&conf);
	return ret;
}
