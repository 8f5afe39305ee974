/*
 * db_conf.c - db_open() and db_open_read() from the database_*
 * parameters.
 *
 * Kept apart from db.c so programs and tests that open a database from
 * explicit parameters do not pull in the configuration library.
 */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "core/xmalloc.h"

static struct db *open_hosts(const struct conf *conf, const char *hosts,
			     struct error *err);

struct db *db_open(const struct conf *conf, struct error *err)
{
	return open_hosts(conf, conf_str(conf, "database_host"), err);
}

/*
 * Lookups (maps, mailbox and alias resolution) may read from replicas:
 * database_read_hosts first, then database_host, so a dead replica set
 * falls back to the primary (db_hosts.c).  SQLite, or no read hosts,
 * gives the same database as db_open().
 */
struct db *db_open_read(const struct conf *conf, struct error *err)
{
	const char *read = conf_str(conf, "database_read_hosts");
	if (read[0] == '\0' || strcmp(conf_str(conf, "database_driver"),
				       "sqlite") == 0)
		return db_open(conf, err);
	char *hosts = xasprintf("%s, %s", read, conf_str(conf, "database_host"));
	struct db *db = open_hosts(conf, hosts, err);
	free(hosts);
	return db;
}

static struct db *open_hosts(const struct conf *conf, const char *hosts,
			     struct error *err)
{
	struct db_params p = {0};
	const char *driver = conf_str(conf, "database_driver");
	if (db_driver_parse(driver, &p.driver) < 0) {
		error_set(err, ERR_CONFIG,
			  "database_driver = %s: expected sqlite, pgsql or "
			  "mysql",
			  driver);
		return NULL;
	}
	long long port = conf_int(conf, "database_port");
	long long pool = conf_int(conf, "database_pool_size");
	int64_t timeout = conf_time(conf, "database_timeout");
	if (port < 0 || port > 65535) {
		error_set(err, ERR_CONFIG, "database_port = %lld: out of range",
			  port);
		return NULL;
	}
	if (pool < 1 || pool > 1000) {
		error_set(err, ERR_CONFIG,
			  "database_pool_size = %lld: expected 1 to 1000",
			  pool);
		return NULL;
	}
	p.path = conf_str(conf, "database_path");
	p.host = hosts;
	p.port = (unsigned)port;
	p.dbname = conf_str(conf, "database_name");
	p.user = conf_str(conf, "database_user");
	p.password = conf_str(conf, "database_password");
	p.pool_size = (unsigned)pool;
	p.timeout_ms = timeout <= 0	? 1000
		       : timeout > 3600 ? 3600 * 1000
					: (unsigned)timeout * 1000;
	return db_open_params(&p, err);
}
