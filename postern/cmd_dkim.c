/* postern dkim generate|rotate|show|list|retire: DKIM signing keys. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "dkim/dkim_key.h"
#include "dkim/dkim_store.h"
#include "postern.h"
#include "provision/provision.h"

static const char usage[] =
    "usage: postern dkim generate DOMAIN [--algorithm rsa|ed25519|both]\n"
    "                                    [--selector SELECTOR]\n"
    "       postern dkim rotate DOMAIN [--algorithm rsa|ed25519|both]\n"
    "       postern dkim show DOMAIN\n"
    "       postern dkim list [DOMAIN]\n"
    "       postern dkim retire DOMAIN [SELECTOR]\n\n"
    "DKIM keys of hosted domains (docs/dkim.md).  Mail that authenticated\n"
    "users and local senders send to other hosts is signed with the\n"
    "active keys of its From domain: rsa-sha256 (2048 bits) and\n"
    "ed25519-sha256 (RFC 8463), both by default.  `generate` and `rotate`\n"
    "print the DNS TXT records to publish; `show` prints every record that\n"
    "must stay published.  `rotate` makes new active keys and keeps the old\n"
    "ones published until `retire` (all rotated-out keys, or SELECTOR).\n"
    "`list` prints tab-separated: domain, selector, algorithm, state\n"
    "(active or published), created_at.\n";

static const struct dkim_actor cli_actor = {"cli", "local", NULL};

/* --algorithm: a mask of 1 << enum dkim_alg. */
static int parse_algs(const char *s, unsigned *mask)
{
	enum dkim_alg alg;

	if (strcmp(s, "both") == 0) {
		*mask = 3;
		return 0;
	}
	if (dkim_alg_parse(s, &alg) < 0)
		return cli_error(
		    "--algorithm: rsa, ed25519 or both, not \"%s\"", s);
	*mask = 1u << alg;
	return 0;
}

/* Print the zone lines of the domain's keys (selector NULL: all). */
static int show(struct db *db, const char *domain, const char *selector)
{
	struct db_result *res;
	struct error err;

	if (dkim_store_list(db, domain, &res, &err) < 0)
		return cli_fail(&err);
	for (size_t r = 0; r < db_result_rows(res); r++) {
		enum dkim_alg alg;
		const char *sel = db_result_value(res, r, 1);
		if (selector != NULL && strcmp(sel, selector) != 0)
			continue;
		if (dkim_alg_parse(db_result_value(res, r, 2), &alg) < 0)
			continue;
		struct buf *line = buf_new();
		dkim_key_zone_line(domain, sel, alg, db_result_value(res, r, 4),
				   line);
		printf("%s\n", buf_data(line));
		buf_free(&line);
	}
	db_result_free(&res);
	return 0;
}

static int new_keys(struct db *db, bool rotate, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"algorithm", required_argument, NULL, 'a'},
	    {"selector", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	unsigned mask = 3;
	const char *selector = NULL;
	struct buf *domain = buf_new(), *sel = buf_new();
	struct error err;
	int c, rc = 0, done = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'a' && parse_algs(optarg, &mask) == 0)
			continue;
		if (c == 's' && !rotate) {
			selector = optarg;
			continue;
		}
		rc = c == 'a'
			 ? 1
			 : cli_error("bad option (see postern dkim --help)");
		goto out;
	}
	if (argc - optind != 1) {
		rc = cli_error("usage: postern dkim %s DOMAIN [options]",
			       argv[0]);
		goto out;
	}
	if (selector != NULL && mask == 3) {
		rc =
		    cli_error("--selector names one key: give --algorithm too");
		goto out;
	}
	if (prov_normalize_domain(argv[optind], domain, &err) < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	for (int a = 0; a < 2; a++) {
		if (!(mask & (1u << a)))
			continue;
		if (rotate && mask == 3) {
			/* Rotate what signs; an algorithm never set up is
			 * not an error when rotating "both". */
			int r = dkim_store_rotate(db, buf_data(domain),
						  (enum dkim_alg)a, &cli_actor,
						  sel, &err);
			if (r < 0 && err.code != NULL &&
			    strcmp(err.code, "not_found") == 0 &&
			    strstr(err.msg, "has no active") != NULL)
				continue;
			if (r < 0) {
				rc = cli_fail(&err);
				goto out;
			}
		} else if ((rotate ? dkim_store_rotate(db, buf_data(domain),
						       (enum dkim_alg)a,
						       &cli_actor, sel, &err)
				   : dkim_store_generate(db, buf_data(domain),
							 (enum dkim_alg)a,
							 selector, &cli_actor,
							 sel, &err)) < 0) {
			rc = cli_fail(&err);
			goto out;
		}
		done++;
		if ((rc = show(db, buf_data(domain), buf_data(sel))) != 0)
			goto out;
	}
	if (done == 0)
		rc = cli_error("domain %s has no active key to rotate",
			       buf_data(domain));
out:
	buf_free(&domain);
	buf_free(&sel);
	return rc;
}

int cmd_dkim(struct cli *cli, int argc, char **argv)
{
	if (cli_help(argc, argv, usage))
		return 0;
	static const struct cli_verb verbs[] = {{"generate", 1, -1},
						{"rotate", 1, -1},
						{"show", 1, 1},
						{"list", 0, 1},
						{"retire", 1, 2}};
	if (cli_check_verb(argc, argv, "dkim", verbs, 5) != 0)
		return 1;
	const char *verb = argv[1];
	struct conf *conf;
	struct db *db;
	struct error err;
	struct buf *domain = buf_new();
	int rc = cli_open(cli, &conf, &db);
	if (rc != 0) {
		buf_free(&domain);
		return rc;
	}
	if (argc > 2 && strcmp(verb, "generate") != 0 &&
	    strcmp(verb, "rotate") != 0 &&
	    prov_normalize_domain(argv[2], domain, &err) < 0) {
		rc = cli_fail(&err);
	} else if (strcmp(verb, "generate") == 0 ||
		   strcmp(verb, "rotate") == 0) {
		rc = new_keys(db, strcmp(verb, "rotate") == 0, argc - 1,
			      argv + 1);
	} else if (strcmp(verb, "show") == 0) {
		rc = show(db, buf_data(domain), NULL);
	} else if (strcmp(verb, "retire") == 0) {
		size_t n;
		if (dkim_store_retire(db, buf_data(domain),
				      argc > 3 ? argv[3] : NULL, &cli_actor, &n,
				      &err) < 0)
			rc = cli_fail(&err);
		else
			printf("retired %zu key%s of %s: remove %s from DNS\n",
			       n, n == 1 ? "" : "s", buf_data(domain),
			       n == 1 ? "its record" : "their records");
	} else {
		struct db_result *res;
		if (dkim_store_list(db, argc > 2 ? buf_data(domain) : NULL,
				    &res, &err) < 0) {
			rc = cli_fail(&err);
		} else {
			for (size_t r = 0; r < db_result_rows(res); r++)
				printf("%s\t%s\t%s\t%s\t%s\n",
				       db_result_value(res, r, 0),
				       db_result_value(res, r, 1),
				       db_result_value(res, r, 2),
				       db_result_value(res, r, 3),
				       db_result_value(res, r, 5));
			db_result_free(&res);
		}
	}
	buf_free(&domain);
	db_close(&db);
	conf_free(&conf);
	return rc;
}
