/* postern alias and alias-domain: aliases, catch-alls, alias domains. */
#include <stdio.h>
#include <string.h>

#include "postern.h"
#include "provision/provision.h"

static const char alias_usage[] =
	"usage: postern alias add SOURCE DEST[,DEST...]\n"
	"       postern alias list [DOMAIN]\n"
	"       postern alias del SOURCE\n\n"
	"Aliases of hosted domains.  SOURCE is an address, or @DOMAIN for a\n"
	"catch-all of that domain; destinations may be anywhere.  `list`\n"
	"prints tab-separated: source, destinations, active.\n";

static const char alias_domain_usage[] =
	"usage: postern alias-domain add ALIAS TARGET\n"
	"       postern alias-domain list\n"
	"       postern alias-domain del ALIAS\n\n"
	"Alias domains: every address of ALIAS maps to the same local part at\n"
	"the hosted domain TARGET.  `list` prints tab-separated: alias,\n"
	"target, active.\n";

static int print_list(int rc, struct db_result **res, struct error *err)
{
	if (rc < 0)
		return cli_fail(err);
	cli_print_rows(*res);
	db_result_free(res);
	return 0;
}

int cmd_alias(struct cli *cli, int argc, char **argv)
{
	if (cli_help(argc, argv, alias_usage))
		return 0;
	static const struct cli_verb verbs[] = {
		{"add", 2, 2}, {"list", 0, 1}, {"del", 1, 1}};
	int rc = cli_check_verb(argc, argv, "alias", verbs, 3);
	if (rc != 0)
		return rc;
	struct conf *conf;
	struct db *db;
	if ((rc = cli_open(cli, &conf, &db)) != 0)
		return rc;
	struct error err;
	struct db_result *res = NULL;
	if (strcmp(argv[1], "add") == 0) {
		struct prov_alias a = {.source = argv[2],
				       .destinations = argv[3],
				       .active = true};
		rc = prov_alias_add(db, &a, &err) < 0 ? cli_fail(&err) : 0;
	} else if (strcmp(argv[1], "del") == 0) {
		rc = prov_alias_del(db, argv[2], &err) < 0 ? cli_fail(&err) : 0;
	} else {
		rc = print_list(prov_alias_list(db, argc == 3 ? argv[2] : NULL,
						&res, &err),
				&res, &err);
	}
	db_close(&db);
	conf_free(&conf);
	return rc;
}

int cmd_alias_domain(struct cli *cli, int argc, char **argv)
{
	if (cli_help(argc, argv, alias_domain_usage))
		return 0;
	static const struct cli_verb verbs[] = {
		{"add", 2, 2}, {"list", 0, 0}, {"del", 1, 1}};
	int rc = cli_check_verb(argc, argv, "alias-domain", verbs, 3);
	if (rc != 0)
		return rc;
	struct conf *conf;
	struct db *db;
	if ((rc = cli_open(cli, &conf, &db)) != 0)
		return rc;
	struct error err;
	struct db_result *res = NULL;
	if (strcmp(argv[1], "add") == 0)
		rc = prov_alias_domain_add(db, argv[2], argv[3], &err) < 0
			     ? cli_fail(&err)
			     : 0;
	else if (strcmp(argv[1], "del") == 0)
		rc = prov_alias_domain_del(db, argv[2], &err) < 0 ? cli_fail(&err)
								  : 0;
	else
		rc = print_list(prov_alias_domain_list(db, &res, &err), &res, &err);
	db_close(&db);
	conf_free(&conf);
	return rc;
}
