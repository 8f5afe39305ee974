/*
 * db_conf.c - db_open() from the database_* parameters.
 *
 * Kept apart from db.c so programs and tests that open a database from
 * explicit parameters do not pull in the configuration library.
 */
#include "db.h"

#include "conf/conf.h"

struct db *db_open(const struct conf *conf, struct error *err)
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
	p.host = conf_str(conf, "database_host");
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
