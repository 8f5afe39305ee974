/* postern mailbox add|list|del: mailboxes. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "postern.h"
#include "provision/provision.h"

static const char usage[] =
	"usage: postern mailbox add ADDRESS --password-stdin [--quota BYTES]\n"
	"                              [--name TEXT] [--inactive]\n"
	"       postern mailbox list [DOMAIN]\n"
	"       postern mailbox del ADDRESS\n"
	"       postern mailbox purge [--older-than DAYS]\n\n"
	"Mailboxes of hosted domains.  The password is read from the first\n"
	"line of standard input (never from the command line, where other\n"
	"users could see it) and stored hashed with default_password_scheme.\n"
	"`list` prints tab-separated: address, name, quota_bytes, used_bytes,\n"
	"message_count, active.  `del` removes the mailbox at once (mail is\n"
	"refused, logins fail) and moves its Maildir to\n"
	"mail_directory/.deleted/; `purge` removes what was moved there at\n"
	"least DAYS days ago (default 0: everything).\n";

static int mailbox_add(struct db *db, const struct conf *conf, int argc,
		       char **argv)
{
	static const struct option opts[] = {
		{"password-stdin", no_argument, NULL, 'p'},
		{"quota", required_argument, NULL, 'q'},
		{"name", required_argument, NULL, 'n'},
		{"inactive", no_argument, NULL, 'i'},
		{NULL, 0, NULL, 0},
	};
	struct prov_mailbox m = {.active = true};
	bool from_stdin = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		unsigned long long v;
		switch (c) {
		case 'p':
			from_stdin = true;
			break;
		case 'q':
			if (!str_to_u64(optarg, &v) || v > (1ULL << 62))
				return cli_error("--quota needs a number of bytes, "
						 "not \"%s\"", optarg);
			m.quota_bytes = (long long)v;
			break;
		case 'n':
			m.name = optarg;
			break;
		case 'i':
			m.active = false;
			break;
		default:
			return cli_error("bad option (see postern mailbox --help)");
		}
	}
	if (argc - optind != 1)
		return cli_error("usage: postern mailbox add ADDRESS --password-stdin");
	char password[1026];
	if (cli_read_password(from_stdin, password, sizeof(password)) != 0)
		return 1;
	m.address = argv[optind];
	m.password = password;
	struct error err;
	int rc = prov_mailbox_add(db, &m, conf_str(conf, "default_password_scheme"),
				  &err) < 0 ? cli_fail(&err) : 0;
	explicit_bzero(password, sizeof(password));
	return rc;
}

static int mailbox_del(struct db *db, const struct conf *conf,
		       const char *address)
{
	struct error err;
	struct buf *addr = buf_new(), *domain = buf_new();
	int rc = 0;
	if (prov_mailbox_del(db, address, &err) < 0) {
		rc = cli_fail(&err);
	} else if (prov_normalize_address(address, addr, domain, &err) == 0) {
		const char *a = buf_data(addr);
		char *local = strndup(a, (size_t)(strrchr(a, '@') - a));
		if (local == NULL ||
		    prov_trash_move(conf_str(conf, "mail_directory"),
				    buf_data(domain), local, &err) < 0)
			fprintf(stderr, "postern: warning: %s\n",
				local ? err.msg : "out of memory");
		free(local);
	}
	buf_free(&addr);
	buf_free(&domain);
	return rc;
}

static int mailbox_purge(const struct conf *conf, int argc, char **argv)
{
	static const struct option opts[] = {
		{"older-than", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0},
	};
	unsigned long long days = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'o' || !str_to_u64(optarg, &days) || days > 100000)
			return cli_error("usage: postern mailbox purge "
					 "[--older-than DAYS]");
	}
	if (optind != argc)
		return cli_error("usage: postern mailbox purge [--older-than DAYS]");
	struct error err;
	unsigned count;
	if (prov_trash_purge(conf_str(conf, "mail_directory"),
			     (long long)days * 86400, &count, &err) < 0)
		return cli_fail(&err);
	printf("purged %u deleted mailbox%s\n", count, count == 1 ? "" : "es");
	return 0;
}

int cmd_mailbox(struct cli *cli, int argc, char **argv)
{
	if (cli_help(argc, argv, usage))
		return 0;
	static const struct cli_verb verbs[] = {
		{"add", 1, -1}, {"list", 0, 1}, {"del", 1, 1}, {"purge", 0, -1}};
	if (cli_check_verb(argc, argv, "mailbox", verbs, 4) != 0)
		return 1;
	const char *verb = argv[1];
	struct conf *conf;
	struct db *db;
	int rc = cli_open(cli, &conf, &db);
	if (rc != 0)
		return rc;
	struct error err;
	if (strcmp(verb, "add") == 0) {
		rc = mailbox_add(db, conf, argc - 1, argv + 1);
	} else if (strcmp(verb, "del") == 0) {
		rc = mailbox_del(db, conf, argv[2]);
	} else if (strcmp(verb, "purge") == 0) {
		rc = mailbox_purge(conf, argc - 1, argv + 1);
	} else {
		struct db_result *res;
		if (prov_mailbox_list(db, argc == 3 ? argv[2] : NULL, &res,
				      &err) < 0) {
			rc = cli_fail(&err);
		} else {
			cli_print_rows(res);
			db_result_free(&res);
		}
	}
	db_close(&db);
	conf_free(&conf);
	return rc;
}
