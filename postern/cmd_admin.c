/* postern admin add|list|del: administrators of the admin API. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/str.h"

#include "postern.h"
#include "provision/prov_admin.h"

static const char usage[] =
	"usage: postern admin add USERNAME --password-stdin --role superadmin|domain\n"
	"                         [--domains NAME[,NAME..]] [--inactive]\n"
	"       postern admin list\n"
	"       postern admin del USERNAME\n"
	"       postern admin token USERNAME [--days N]\n\n"
	"Administrators of the admin API (docs/admin-api.md).  A superadmin\n"
	"manages everything; a domain admin only the domains given.  The\n"
	"password is read from the first line of standard input and stored\n"
	"hashed.  `list` prints tab-separated: username, role, active,\n"
	"domains.  `token` prints a new bearer token for the admin, valid N\n"
	"days (default 1); only its hash is stored.\n";

static int admin_add(struct db *db, const struct conf *conf, int argc,
		     char **argv)
{
	static const struct option opts[] = {
		{"password-stdin", no_argument, NULL, 'p'},
		{"role", required_argument, NULL, 'r'},
		{"domains", required_argument, NULL, 'd'},
		{"inactive", no_argument, NULL, 'i'},
		{NULL, 0, NULL, 0},
	};
	struct prov_admin a = {.active = true};
	bool from_stdin = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			from_stdin = true;
			break;
		case 'r':
			a.role = optarg;
			break;
		case 'd':
			a.domains = optarg;
			break;
		case 'i':
			a.active = false;
			break;
		default:
			return cli_error("bad option (see postern admin --help)");
		}
	}
	if (argc - optind != 1 || a.role == NULL)
		return cli_error("usage: postern admin add USERNAME "
				 "--password-stdin --role ROLE");
	char password[1026];
	if (cli_read_password(from_stdin, password, sizeof(password)) != 0)
		return 1;
	a.username = argv[optind];
	a.password = password;
	struct error err;
	int rc = prov_admin_add(db, &a, conf_str(conf, "default_password_scheme"),
				&prov_cli_actor, &err) < 0 ? cli_fail(&err) : 0;
	explicit_bzero(password, sizeof(password));
	return rc;
}

static int admin_list(struct db *db)
{
	struct db_result *res;
	struct error err;
	long long total;
	struct prov_page page = {.limit = 1000000};
	if (prov_admin_page(db, &page, &res, &total, &err) < 0)
		return cli_fail(&err);
	struct buf *domains = buf_new();
	int rc = 0;
	for (size_t r = 0; r < db_result_rows(res); r++) {
		if (prov_admin_domains(db, db_result_value(res, r, 0), domains,
				       &err) < 0) {
			rc = cli_fail(&err);
			break;
		}
		printf("%s\t%s\t%s\t%s\n", db_result_value(res, r, 1),
		       db_result_value(res, r, 2), db_result_value(res, r, 3),
		       buf_len(domains) ? buf_data(domains) : "-");
	}
	buf_free(&domains);
	db_result_free(&res);
	return rc;
}

static int admin_token(struct db *db, int argc, char **argv)
{
	static const struct option opts[] = {
		{"days", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	unsigned long long days = 1;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (c != 'd' || !str_to_u64(optarg, &days) || days == 0 ||
		    days > 3650)
			return cli_error("usage: postern admin token USERNAME "
					 "[--days 1..3650]");
	if (argc - optind != 1)
		return cli_error("usage: postern admin token USERNAME [--days N]");
	struct db_result *res;
	struct error err;
	int found = prov_admin_get(db, argv[optind], &res, &err);
	if (found < 0)
		return cli_fail(&err);
	if (found == 0)
		return cli_error("admin %s does not exist", argv[optind]);
	char token[TOKEN_STR_LEN + 1];
	long long id;
	int rc = prov_token_create(db, db_result_value(res, 0, 0),
				   "postern admin token",
				   (long long)time(NULL) + (long long)days * 86400,
				   token, &id, &prov_cli_actor, &err);
	db_result_free(&res);
	if (rc < 0)
		return cli_fail(&err);
	printf("%s\n", token);
	explicit_bzero(token, sizeof(token));
	return 0;
}

int cmd_admin(struct cli *cli, int argc, char **argv)
{
	if (cli_help(argc, argv, usage))
		return 0;
	static const struct cli_verb verbs[] = {
		{"add", 1, -1}, {"list", 0, 0}, {"del", 1, 1}, {"token", 1, -1}};
	if (cli_check_verb(argc, argv, "admin", verbs, 4) != 0)
		return 1;
	struct conf *conf;
	struct db *db;
	int rc = cli_open(cli, &conf, &db);
	if (rc != 0)
		return rc;
	struct error err;
	if (strcmp(argv[1], "add") == 0)
		rc = admin_add(db, conf, argc - 1, argv + 1);
	else if (strcmp(argv[1], "token") == 0)
		rc = admin_token(db, argc - 1, argv + 1);
	else if (strcmp(argv[1], "del") == 0)
		rc = prov_admin_del(db, argv[2], &prov_cli_actor, &err) < 0
			 ? cli_fail(&err)
			 : 0;
	else
		rc = admin_list(db);
	db_close(&db);
	conf_free(&conf);
	return rc;
}
