/*
 * cmd_map.c - `postern map`: postmap.
 *
 *   postern map query [-a] TYPE:NAME KEY [KEY...]   postmap -q
 *   postern map build [lmdb:]FILE                   postmap lmdb:FILE
 *
 * Exit status: 0 found (every key), 1 not found, 75 (EX_TEMPFAIL) for a
 * temporary failure such as a database that is down, 78 (EX_CONFIG) for
 * a bad map, 2 for bad usage.  "Not found" and "try later" never share
 * a status, so scripts can tell them apart as the MTA does.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "core/buf.h"
#include "core/str.h"
#include "map/map.h"
#include "postern.h"

static const char usage[] =
    "usage: postern map query [-a] TYPE:NAME KEY [KEY...]\n"
    "       postern map build [lmdb:|hash:|btree:]FILE\n"
    "\n"
    "query  look KEY up in the map and print the value (postmap -q);\n"
    "       with several keys print KEY<TAB>VALUE lines.\n"
    "       -a  look addresses up in virtual(5) order: user+ext@domain,\n"
    "           user@domain, @domain (recipient_delimiter applies).\n"
    "build  read FILE (`key value` lines) and write FILE.lmdb atomically,\n"
    "       for lmdb:FILE maps.\n"
    "\n"
    "Map types: static, inline, texthash, cidr, pcre, lmdb, sql, fail;\n"
    "Postfix's hash: and btree: mean lmdb:, regexp: means pcre:.\n"
    "Exit status: 0 found, 1 not found, 75 temporary failure, 78 bad map,\n"
    "2 usage.\n";

/* One line for an error, by kind; returns the exit status. */
static int map_failed(const char *spec, const struct error *err)
{
	const char *msg = err->msg;
	size_t n = strlen(spec);

	/* The map's messages often start with the spec already. */
	if (strncmp(msg, spec, n) == 0 && strncmp(msg + n, ": ", 2) == 0)
		msg += n + 2;
	if (err->kind == ERR_TEMP) {
		cli_error("%s: temporary failure: %s", spec, msg);
		return EX_TEMPFAIL;
	}
	cli_error("%s: %s", spec, msg);
	return err->kind == ERR_CONFIG ? EX_CONFIG : 1;
}

static int map_query(struct cli *cli, int argc, char **argv)
{
	struct map_env env = {0};
	struct error err;
	struct conf *conf;
	struct map *map;
	struct buf *value;
	bool address = false;
	int i = 1, status = 0;

	if (i < argc && strcmp(argv[i], "-a") == 0) {
		address = true;
		i++;
	}
	if (argc - i < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if ((conf = cli_conf(cli)) == NULL)
		return EX_CONFIG;
	env.conf = conf;
	map = map_open(argv[i], &env, &err);
	if (map == NULL) {
		status = map_failed(argv[i], &err);
		conf_free(&conf);
		return status;
	}
	value = buf_new();
	for (int k = i + 1; k < argc; k++) {
		int ret = address ? map_lookup_address(
					map, argv[k],
					conf_str(conf, "recipient_delimiter"),
					value, &err)
				  : map_lookup(map, argv[k], value, &err);

		if (ret < 0) {
			status = map_failed(argv[i], &err);
			break;
		}
		if (ret == 0) {
			status = 1;
			continue;
		}
		if (argc - i > 2)
			printf("%s\t%s\n", argv[k], buf_data(value));
		else
			printf("%s\n", buf_data(value));
	}
	fflush(stdout);
	buf_free(&value);
	map_free(&map);
	conf_free(&conf);
	return status;
}

static int map_build(int argc, char **argv)
{
	const char *file;
	struct error err;

	if (argc != 2) {
		fputs(usage, stderr);
		return 2;
	}
	file = argv[1];
	if (str_has_prefix(file, "lmdb:"))
		file += 5;
	else if (str_has_prefix(file, "hash:") || str_has_prefix(file, "btree:"))
		file = strchr(file, ':') + 1; /* Postfix's names, read as lmdb: */
	else if (strchr(file, ':') != NULL && file[0] != '/' && file[0] != '.')
		return cli_error("map build: only lmdb:FILE (or hash:, "
				 "btree:) maps are built (got \"%s\")",
				 file),
		       2;
	if (map_lmdb_build(file, &err) < 0)
		return map_failed(argv[1], &err);
	return 0;
}

int cmd_map(struct cli *cli, int argc, char **argv)
{
	if (cli_help(argc, argv, usage))
		return 0;
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (strcmp(argv[1], "query") == 0 || strcmp(argv[1], "-q") == 0)
		return map_query(cli, argc - 1, argv + 1);
	if (strcmp(argv[1], "build") == 0)
		return map_build(argc - 1, argv + 1);
	cli_error("map: unknown subcommand \"%s\" (query or build)", argv[1]);
	return 2;
}
