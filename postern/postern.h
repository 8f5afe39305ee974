/*
 * postern.h - the `postern` command's private interface.
 *
 * Each subcommand lives in cmd_<name>.c and has the signature of
 * cmd_fn: argv[0] is the subcommand name, the rest its arguments.  It
 * returns the process exit status (0 success), and on failure prints one
 * clear line through cli_error().  Every subcommand answers --help.
 */
#ifndef POSTERN_CLI_H
#define POSTERN_CLI_H

#include <stdbool.h>

#include "conf/conf.h"
#include "db/db.h"

struct cli {
	const char *config_dir; /* -c DIR, default "./var" */
	const char *argv0;      /* path of this program */
};

typedef int cmd_fn(struct cli *cli, int argc, char **argv);

/* "postern: <message>" on stderr; returns 1 (the exit status to use). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* `add --password-stdin`: the first line of stdin, without its line end,
 * into out (size - 2 bytes at most); 0, or 1 after saying why (not
 * from_stdin, no line, too long, empty). */
int cli_read_password(bool from_stdin, char *out, size_t size);
/* Print usage to stdout when argv has -h/--help; true if it did. */
bool cli_help(int argc, char **argv, const char *usage);
/* Load the configuration or print the error; NULL on failure. */
struct conf *cli_conf(struct cli *cli);
/* Open the configured database or print the error; NULL on failure. */
struct db *cli_db(struct cli *cli, const struct conf *conf);
/* Print err's message; returns 75 (EX_TEMPFAIL) for a temporary failure,
 * 1 otherwise, so scripts can tell "retry" from "wrong". */
int cli_fail(const struct error *err);
/* Print every row of res, fields separated by tabs, NULL as "-". */
void cli_print_rows(const struct db_result *res);
/* Open the database after loading the config; both freed by the caller.
 * Returns 0, or the exit status to use. */
int cli_open(struct cli *cli, struct conf **conf_r, struct db **db_r);
/*
 * For `postern OBJECT VERB ARGS...`: argv[1] must be one of the rules'
 * verbs, with between min_args and max_args arguments after it (max -1:
 * any, for verbs taking options).  Returns 0, or 1 after saying what is
 * wrong.
 */
struct cli_verb {
	const char *verb;
	int min_args, max_args;
};
int cli_check_verb(int argc, char **argv, const char *object,
		   const struct cli_verb *rules, size_t nrules);
/* Directory holding the postern program (where the daemons are built). */
const char *cli_program_dir(struct cli *cli);

cmd_fn cmd_init;     /* cmd_init.c */
cmd_fn cmd_config;   /* cmd_config.c: postconf */
cmd_fn cmd_start;    /* cmd_master.c: supervisor control */
cmd_fn cmd_stop;
cmd_fn cmd_status;
cmd_fn cmd_reload;
cmd_fn cmd_db;       /* cmd_db.c: db migrate */
cmd_fn cmd_map;      /* cmd_map.c: postmap */
cmd_fn cmd_domain;   /* cmd_domain.c */
cmd_fn cmd_mailbox;  /* cmd_mailbox.c */
cmd_fn cmd_alias;    /* cmd_alias.c */
cmd_fn cmd_alias_domain; /* cmd_alias.c */
cmd_fn cmd_admin;    /* cmd_admin.c: admin API administrators */
cmd_fn cmd_queue;    /* cmd_queue.c: postqueue, postsuper, postcat */
cmd_fn cmd_sendmail; /* cmd_sendmail.c: sendmail + postdrop */
cmd_fn cmd_index;    /* cmd_index.c: full-text index catch-up */
cmd_fn cmd_search;   /* cmd_index.c: full-text search */
cmd_fn cmd_dns;      /* cmd_dns.c: resolver lookups */
cmd_fn cmd_dkim;     /* cmd_dkim.c: DKIM keys */
cmd_fn cmd_tlsrpt;   /* cmd_tlsrpt.c: TLS reports (RFC 8460) */

#endif
