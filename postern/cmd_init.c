/*
 * postern init - create the state folder: main.cf, the services table,
 * the SQL map files, the queue/mail/run/log folders, a self-signed
 * certificate, the database with its schema, and the admin API bootstrap
 * token.  Only what is missing is created, so running it again is safe
 * and keeps an administrator's edits; pending migrations are applied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/token.h"
#include "core/str.h"
#include "core/buf.h"
#include "core/fsutil.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "map/map.h"
#include "postern.h"
#include "server/services.h"
#include "tls/tls.h"

static const char usage[] =
	"usage: postern [-c DIR] init [--layout local|debian]\n\n"
	"Create the configuration and state folder (default ./var): main.cf,\n"
	"services.cf, sql/*.cf, the queue, mail, run and log folders, a\n"
	"self-signed TLS certificate, the database with its schema and the\n"
	"admin API token (admin-token, mode 0600).  Existing files are kept;\n"
	"pending schema migrations are applied.\n\n"
	"--layout debian writes a new main.cf that puts the state where a\n"
	"Debian system keeps it (use with -c /etc/postern): the queue in\n"
	"/var/spool/postern, mail in /var/vmail, the database and other\n"
	"private state in /var/lib/postern, logs in /var/log/postern,\n"
	"sockets in /run/postern.\n"
	"The default, local, keeps everything under DIR.\n";

static const char main_cf[] =
	"# Postern main configuration: `name = value` lines, `$name` expands\n"
	"# another parameter.  Every parameter, its default and its meaning:\n"
	"# `postern config -d` or docs/config.md.  Keep here only what differs\n"
	"# from the defaults (`postern config -n` lists it); change a value with\n"
	"# `postern config set name=value`, then `postern reload`.\n"
	"#\n"
	"# Switch the database (the schema is applied by `postern db migrate`):\n"
	"# database_driver = pgsql\n"
	"# database_host = 127.0.0.1\n"
	"# database_name = postern\n"
	"# database_user = postern\n"
	"# database_password = secret\n";

/*
 * The Debian layout (docs/layout.md): configuration in the -c folder
 * (/etc/postern), state in the FHS places, as Postfix's Debian package
 * does with /etc/postfix and /var/spool/postfix.  Only these paths
 * differ from the defaults, so `postern config -n` shows the choice.
 */
static const char debian_layout[] =
	"\n# Debian layout (postern init --layout debian)\n"
	"queue_directory = /var/spool/postern\n"
	"mail_directory = /var/vmail\n"
	"data_directory = /var/lib/postern\n"
	"log_directory = /var/log/postern\n"
	"run_directory = /run/postern\n";

static int say(const char *what, const char *path)
{
	printf("init: %s %s\n", what, path);
	return 0;
}

static int make_dirs(const struct conf *conf)
{
	static const char *params[] = {"queue_directory", "mail_directory",
				       "run_directory", "log_directory"};
	struct error err;
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		const char *dir = conf_str(conf, params[i]);
		if (fs_mkdir_p(dir, 0750, &err) < 0)
			return cli_error("%s", err.msg);
	}
	/* The SQLite file may live outside the config folder (Debian
	 * layout, data_directory); its folder must exist before the database
	 * opens. */
	char *db_dir = fs_dirname(conf_str(conf, "database_path"));
	int rc = fs_mkdir_p(db_dir, 0750, &err);
	free(db_dir);
	if (rc < 0)
		return cli_error("%s", err.msg);
	char *tls_dir = fs_dirname(conf_str(conf, "tls_key_file"));
	rc = fs_mkdir_p(tls_dir, 0700, &err);
	free(tls_dir);
	return rc < 0 ? cli_error("%s", err.msg) : 0;
}

/* main.cf, written only when absent: an administrator's file is kept. */
static int make_main_cf(const char *config_dir, bool debian)
{
	struct error err;
	char *path = xasprintf("%s/main.cf", config_dir);
	int rc = 0;
	if (!fs_exists(path)) {
		char *text = xasprintf("%s%s", main_cf,
				       debian ? debian_layout : "");
		if (fs_write_atomic(path, text, strlen(text), 0644, &err) < 0)
			rc = cli_error("%s", err.msg);
		else
			say("created", path);
		free(text);
	} else if (debian) {
		rc = cli_error("%s exists: --layout applies only to a new "
			       "main.cf (edit the paths in it instead)",
			       path);
	}
	free(path);
	return rc;
}

static int make_certificate(const struct conf *conf)
{
	const char *cert = conf_str(conf, "tls_cert_file");
	const char *key = conf_str(conf, "tls_key_file");
	struct error err;
	if (fs_exists(cert) && fs_exists(key))
		return 0;
	if (tls_generate_selfsigned(cert, key, conf_str(conf, "myhostname"),
				    3650, &err) < 0)
		return cli_error("certificate: %s", err.msg);
	return say("created self-signed certificate", cert);
}

/*
 * An existing token file whose hash this database does not know (the
 * site moved to another database_driver): register it, so the bootstrap
 * token works on the new database too.  A hash already there - even
 * revoked - is left alone (unique secret_hash: DB_DUPLICATE).
 */
static int register_admin_token(const char *path, struct db *db)
{
	struct buf *text = buf_new();
	struct error err;
	int rc = 0;
	if (fs_read_file(path, text, 4096, &err) < 0) {
		buf_free(&text);
		return cli_error("admin token: %s", err.msg);
	}
	char *token = str_trim(buf_mut(text));
	if (strlen(token) == TOKEN_STR_LEN) {
		char hash[TOKEN_HASH_LEN + 1];
		token_hash(token, hash);
		const char *params[] = {hash};
		long long n = db_exec(db,
				      "INSERT INTO tokens (admin_id, secret_hash, "
				      "description, revoked) VALUES (NULL, ?, "
				      "'bootstrap token (postern init)', 0)",
				      params, 1, &err);
		if (n == DB_DUPLICATE)
			rc = 0;
		else if (n < 0)
			rc = cli_error("admin token: %s", err.msg);
		else
			rc = say("registered the admin API token of", path);
	}
	explicit_bzero(buf_mut(text), buf_len(text));
	buf_free(&text);
	return rc;
}

/* The token file is the only place the secret exists; the database keeps
 * its hash.  Written only when absent, so an existing token stays valid. */
static int make_admin_token(const struct conf *conf, struct db *db)
{
	const char *path = conf_str(conf, "admin_token_file");
	struct error err;
	if (fs_exists(path))
		return register_admin_token(path, db);
	char token[TOKEN_STR_LEN + 1], hash[TOKEN_HASH_LEN + 1];
	token_generate(token);
	token_hash(token, hash);
	const char *params[] = {hash};
	if (db_exec(db,
		    "INSERT INTO tokens (admin_id, secret_hash, description, "
		    "revoked) VALUES (NULL, ?, 'bootstrap token (postern init)', 0)",
		    params, 1, &err) < 0)
		return cli_error("admin token: %s", err.msg);
	char *text = xasprintf("%s\n", token);
	int rc = fs_write_atomic(path, text, strlen(text), 0600, &err);
	free(text);
	if (rc < 0)
		return cli_error("admin token: %s", err.msg);
	return say("wrote admin API token to", path);
}

static int make_database(const struct conf *conf, struct cli *cli)
{
	struct db *db = cli_db(cli, conf);
	if (db == NULL)
		return 1;
	struct buf *report = buf_new();
	struct error err;
	int rc = 0;
	if (db_migrate(db, false, report, &err) < 0)
		rc = cli_error("database: %s", err.msg);
	else if (buf_len(report) > 0)
		printf("%s", buf_data(report));
	if (rc == 0)
		rc = make_admin_token(conf, db);
	buf_free(&report);
	db_close(&db);
	return rc;
}

int cmd_init(struct cli *cli, int argc, char **argv)
{
	struct error err;
	bool debian = false;
	if (cli_help(argc, argv, usage))
		return 0;
	if (argc == 3 && strcmp(argv[1], "--layout") == 0 &&
	    (strcmp(argv[2], "debian") == 0 || strcmp(argv[2], "local") == 0))
		debian = strcmp(argv[2], "debian") == 0;
	else if (argc > 1)
		return cli_error("init: expected no arguments or --layout "
				 "local|debian (see --help)");

	if (fs_mkdir_p(cli->config_dir, 0750, &err) < 0)
		return cli_error("%s", err.msg);
	if (make_main_cf(cli->config_dir, debian) != 0)
		return 1;

	struct conf *conf = cli_conf(cli);
	if (conf == NULL)
		return 1;
	int rc = make_dirs(conf);
	const char *services = conf_str(conf, "services_file");
	if (rc == 0 && !fs_exists(services)) {
		if (services_write_default(services, &err) < 0)
			rc = cli_error("%s", err.msg);
		else
			say("created", services);
	}
	if (rc == 0) {
		char *sql_dir = xasprintf("%s/sql", conf_str(conf, "config_directory"));
		if (map_sql_write_defaults(sql_dir, &err) < 0)
			rc = cli_error("%s", err.msg);
		free(sql_dir);
	}
	if (rc == 0)
		rc = make_certificate(conf);
	if (rc == 0)
		rc = make_database(conf, cli);
	if (rc == 0)
		printf("init: %s is ready\n", conf_str(conf, "config_directory"));
	conf_free(&conf);
	return rc;
}
