/* postern domain add|list|del: hosted domains. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "core/array.h"
#include "core/str.h"
#include "map/map.h"
#include "postern.h"
#include "provision/provision.h"
#include "rewrite/virtual.h"

static const char usage[] =
	"usage: postern domain add NAME [--description TEXT] [--max-mailboxes N]\n"
	"                             [--quota BYTES] [--inactive]\n"
	"       postern domain list\n"
	"       postern domain del NAME\n\n"
	"Hosted domains.  Names are stored lower-case, internationalised names\n"
	"in A-label form.  `list` prints tab-separated: name, description,\n"
	"max_mailboxes, quota_bytes, active, mailboxes, aliases.  Deleting a\n"
	"domain deletes its mailboxes, aliases and alias domains; its mail is\n"
	"moved to mail_directory/.deleted/ until `postern mailbox purge`.\n";

/*
 * RFC 5321 4.5.1: every domain must accept postmaster@.  Role addresses
 * without rows go to $role_address_recipient (lib/rewrite/virtual.h);
 * on a fresh install that is postmaster@$myorigin, which nobody has made
 * yet, so mail to postmaster@NAME would get 550.  Say so once, when the
 * domain is added, with what to do.
 */
static void warn_role_recipient(const struct conf *conf, struct db *db,
				const char *domain)
{
	const char *roles = conf_str(conf, "role_addresses");
	const char *target = conf_str(conf, "role_address_recipient");
	if (*roles == '\0' || *target == '\0')
		return;
	char *rcpt = virtual_role_qualify(target, conf_str(conf, "myorigin"));
	struct map_env env = {.conf = conf, .db = db};
	struct virtual_maps maps;
	virtual_maps_open(&maps, conf, &env, "postern");
	struct virtual_opts opts = {
	    .delimiters = conf_str(conf, "recipient_delimiter"),
	    .recursion_limit =
		(unsigned)conf_int(conf, "virtual_alias_recursion_limit"),
	    .expansion_limit =
		(unsigned)conf_int(conf, "virtual_alias_expansion_limit"),
	    .relay_ok = true, /* the administrator's own choice */
	};
	struct array *finals = array_new();
	struct smtp_reply reply;
	const char *why = NULL;
	if (virtual_resolve(&maps, rcpt, &opts, "postern", finals, &reply) < 0)
		why = reply.text;
	/* A bare name (the default "postmaster") is meant to be ours: sent
	 * on to $myorigin's MX it would loop or bounce. */
	bool local = false;
	for (size_t i = 0; i < array_len(finals); i++) {
		const struct virtual_final *f = array_get(finals, i);
		local = local || f->local;
	}
	if (why == NULL && strchr(target, '@') == NULL && !local)
		why = "not a hosted mailbox";
	if (why != NULL)
		fprintf(stderr,
			"postern: note: mail to %s's role addresses (%s) goes "
			"to role_address_recipient = %s, which is not "
			"deliverable (%s). Make %s a mailbox or an alias "
			"(postern alias add), or set role_address_recipient "
			"and the *_notice_recipient parameters in main.cf to "
			"a mailbox.\n",
			domain, roles, rcpt, why, rcpt);
	virtual_finals_free(&finals);
	virtual_maps_close(&maps);
	free(rcpt);
}

static int domain_add(const struct conf *conf, struct db *db, int argc,
		      char **argv)
{
	static const struct option opts[] = {
		{"description", required_argument, NULL, 'd'},
		{"max-mailboxes", required_argument, NULL, 'm'},
		{"quota", required_argument, NULL, 'q'},
		{"inactive", no_argument, NULL, 'i'},
		{NULL, 0, NULL, 0},
	};
	struct prov_domain d = {.active = true};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		unsigned long long v = 0;
		switch (c) {
		case 'd':
			d.description = optarg;
			break;
		case 'm':
		case 'q':
			if (!str_to_u64(optarg, &v) || v > (1ULL << 62))
				return cli_error("--%s needs a number, not \"%s\"",
						 c == 'm' ? "max-mailboxes" : "quota",
						 optarg);
			if (c == 'm')
				d.max_mailboxes = (long long)v;
			else
				d.quota_bytes = (long long)v;
			break;
		case 'i':
			d.active = false;
			break;
		default:
			return cli_error("bad option (see postern domain --help)");
		}
	}
	if (argc - optind != 1)
		return cli_error("usage: postern domain add NAME [options]");
	d.name = argv[optind];
	struct error err;
	if (prov_domain_add(db, &d, &err) < 0)
		return cli_fail(&err);
	struct buf *name = buf_new();
	if (prov_normalize_domain(d.name, name, &err) == 0)
		warn_role_recipient(conf, db, buf_data(name));
	buf_free(&name);
	return 0;
}

int cmd_domain(struct cli *cli, int argc, char **argv)
{
	if (cli_help(argc, argv, usage))
		return 0;
	static const struct cli_verb verbs[] = {
		{"add", 1, -1}, {"list", 0, 0}, {"del", 1, 1}};
	if (cli_check_verb(argc, argv, "domain", verbs, 3) != 0)
		return 1;
	const char *verb = argv[1];
	struct conf *conf;
	struct db *db;
	int rc = cli_open(cli, &conf, &db);
	if (rc != 0)
		return rc;
	struct error err;
	if (strcmp(verb, "add") == 0) {
		rc = domain_add(conf, db, argc - 1, argv + 1);
	} else if (strcmp(verb, "del") == 0) {
		rc = prov_domain_del(db, argv[2], &err) < 0 ? cli_fail(&err) : 0;
		/* Its mail goes to the trash (postern mailbox purge). */
		struct buf *name = buf_new();
		if (rc == 0 && prov_normalize_domain(argv[2], name, &err) == 0 &&
		    prov_trash_move(conf_str(conf, "mail_directory"),
				    buf_data(name), NULL, &err) < 0)
			fprintf(stderr, "postern: warning: %s\n", err.msg);
		buf_free(&name);
	} else {
		struct db_result *res;
		if (prov_domain_list(db, &res, &err) < 0) {
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
