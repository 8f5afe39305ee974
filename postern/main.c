/*
 * postern - the administrator's command: set-up, the supervisor, postconf,
 * postmap, migrations and provisioning of domains, mailboxes and aliases.
 */
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "postern.h"

static const struct {
	const char *name;
	cmd_fn *fn;
	const char *summary;
} commands[] = {
	{"init", cmd_init, "create the state folder, database, certificate and admin token"},
	{"start", cmd_start, "start the supervisor and every service"},
	{"stop", cmd_stop, "stop every service and the supervisor"},
	{"status", cmd_status, "show the supervisor and each service"},
	{"reload", cmd_reload, "re-read configuration and certificates (SIGHUP)"},
	{"config", cmd_config, "show or change settings (postconf)"},
	{"db", cmd_db, "database schema migrations"},
	{"map", cmd_map, "query or build lookup maps (postmap)"},
	{"domain", cmd_domain, "add, list or delete hosted domains"},
	{"mailbox", cmd_mailbox, "add, list or delete mailboxes"},
	{"alias", cmd_alias, "add, list or delete aliases"},
	{"alias-domain", cmd_alias_domain, "add, list or delete alias domains"},
	{"admin", cmd_admin, "add, list or delete admin API administrators"},
	{"queue", cmd_queue, "list, show, flush, delete, hold, release or requeue queued mail"},
	{"index", cmd_index, "bring a mailbox's full-text index up to date"},
	{"search", cmd_search, "search a mailbox's full-text index"},
	{"sendmail", cmd_sendmail, "queue a message from standard input (sendmail -t -i -f)"},
	{"dns", cmd_dns, "look names up through Postern's resolver (JSON)"},
	{"dkim", cmd_dkim, "generate, rotate, show, list or retire DKIM signing keys"},
	{"tlsrpt", cmd_tlsrpt, "send or show SMTP TLS reports (RFC 8460)"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: postern [-c DIR] COMMAND [ARGS...]\n\n"
		     "  -c DIR   configuration and state folder (default ./var)\n\n"
		     "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-13s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(out, "\nEvery command answers --help.\n");
}

int cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("postern: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int cli_read_password(bool from_stdin, char *out, size_t size)
{
	if (!from_stdin)
		return cli_error("the password must come from standard input: "
				 "add --password-stdin");
	if (fgets(out, (int)size, stdin) == NULL)
		return cli_error("no password on standard input");
	size_t n = strlen(out);
	if (n == size - 1 && out[n - 1] != '\n')
		return cli_error("password longer than %zu bytes", size - 2);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	if (n == 0)
		return cli_error("empty password on standard input");
	return 0;
}

bool cli_help(int argc, char **argv, const char *text)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			fputs(text, stdout);
			return true;
		}
	}
	return false;
}

struct conf *cli_conf(struct cli *cli)
{
	struct error err;
	struct conf *conf = conf_load(cli->config_dir, &err);
	if (conf == NULL) {
		cli_error("%s", err.msg);
		return NULL;
	}
	/* Diagnostics of the libraries (warnings, traces) go to the
	 * configured log; the command itself says one line on stderr.  Before
	 * `postern init` there is no log folder yet: stay on stderr. */
	char *log_dir = fs_dirname(conf_str(conf, "log_file"));
	bool have_log = strcmp(conf_str(conf, "log_target"), "file") != 0 ||
			fs_exists(log_dir);
	free(log_dir);
	if (have_log && conf_setup_logging(conf, "postern", &err) < 0)
		log_to_stderr();
	return conf;
}

struct db *cli_db(struct cli *cli, const struct conf *conf)
{
	struct error err;
	struct db *db = db_open(conf, &err);
	if (db == NULL)
		cli_error("database: %s", err.msg);
	return db;
}

int cli_check_verb(int argc, char **argv, const char *object,
		   const struct cli_verb *rules, size_t nrules)
{
	if (argc < 2)
		return cli_error("usage: postern %s COMMAND ... (see --help)",
				 object);
	for (size_t i = 0; i < nrules; i++) {
		if (strcmp(argv[1], rules[i].verb) != 0)
			continue;
		int n = argc - 2;
		if (n < rules[i].min_args ||
		    (rules[i].max_args >= 0 && n > rules[i].max_args))
			return cli_error("wrong number of arguments for %s %s "
					 "(see --help)",
					 object, rules[i].verb);
		return 0;
	}
	return cli_error("unknown %s command \"%s\" (see --help)", object,
			 argv[1]);
}

int cli_fail(const struct error *err)
{
	if (err->kind == ERR_TEMP) {
		cli_error("temporary failure: %s", err->msg);
		return 75;
	}
	return cli_error("%s", err->msg);
}

void cli_print_rows(const struct db_result *res)
{
	for (size_t r = 0; r < db_result_rows(res); r++) {
		for (size_t c = 0; c < db_result_cols(res); c++) {
			const char *v = db_result_value(res, r, c);
			printf("%s%s", c ? "\t" : "", v ? v : "-");
		}
		putchar('\n');
	}
}

int cli_open(struct cli *cli, struct conf **conf_r, struct db **db_r)
{
	*db_r = NULL;
	*conf_r = cli_conf(cli);
	if (*conf_r == NULL)
		return 1;
	struct error err;
	*db_r = db_open(*conf_r, &err);
	if (*db_r == NULL) {
		conf_free(conf_r);
		error_prefix(&err, "database");
		return cli_fail(&err);
	}
	return 0;
}

const char *cli_program_dir(struct cli *cli)
{
	static char dir[PATH_MAX];
	if (dir[0] == '\0') {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0)
			str_copy(self, cli->argv0, sizeof(self));
		else
			self[n] = '\0';
		str_copy(dir, dirname(self), sizeof(dir));
	}
	return dir;
}

int main(int argc, char **argv)
{
	struct cli cli = {.config_dir = "./var", .argv0 = argv[0]};
	int i = 1;

	log_init("postern");
	/* Linked as /usr/sbin/sendmail: sendmail's own command line. */
	const char *self = strrchr(argv[0], '/');
	if (strcmp(self != NULL ? self + 1 : argv[0], "sendmail") == 0)
		return cmd_sendmail(&cli, argc, argv);
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			cli.config_dir = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-h") == 0 ||
			   strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			return cli_error("unknown option \"%s\" (try postern --help)",
					 argv[i]);
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (strcmp(argv[i], commands[c].name) == 0)
			return commands[c].fn(&cli, argc - i, argv + i);
	return cli_error("unknown command \"%s\" (try postern --help)", argv[i]);
}
