/*
 * cmd_config - `postern config`, the postconf of Postern.
 *
 * Shows parameters as `name = value` (raw as written, like postconf;
 * -x expands), only those set in main.cf (-n) or the defaults (-d), and
 * edits main.cf with `config set NAME=VALUE...` (postconf -e).
 * `--markdown` prints docs/config.md, generated from the parameter table.
 */
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/fsutil.h"
#include "postern.h"

static const char usage[] =
    "usage: postern config [-n | -d] [-x] [NAME...]\n"
    "       postern config set NAME=VALUE [NAME=VALUE...]\n"
    "       postern config --markdown\n"
    "\n"
    "Show configuration parameters as \"name = value\".\n"
    "\n"
    "  -n          only parameters set in main.cf\n"
    "  -d          default values instead of the configured ones\n"
    "  -x          expand $name references in the values shown\n"
    "  NAME...     only these parameters\n"
    "  set         change main.cf in place (comments are kept); the new\n"
    "              file is checked before it is written\n"
    "  --markdown  print the parameter reference (docs/config.md)\n";

static int config_set(struct cli *cli, int argc, char **argv)
{
	struct error err;

	if (argc < 1)
		return cli_error("config set: expected NAME=VALUE (try postern "
				 "config --help)");
	if (!fs_exists(cli->config_dir))
		return cli_error("%s: no such folder (run postern init first)",
				 cli->config_dir);
	if (conf_file_set_many(cli->config_dir, (const char *const *)argv,
			       (size_t)argc, &err) < 0)
		return cli_error("%s", err.msg);
	return 0;
}

static void show(const struct conf *conf, const struct conf_param *p,
		 bool defaults, bool only_set, bool expand)
{
	const char *value;

	if (only_set && !conf_is_set(conf, p->name))
		return;
	if (expand)
		value = conf_str(conf, p->name);
	else if (defaults)
		value = p->def;
	else
		value = conf_raw(conf, p->name);
	printf("%s = %s\n", p->name, value);
}

static int markdown(void)
{
	struct buf *b = buf_new();
	conf_doc_markdown(b);
	fwrite(buf_data(b), 1, buf_len(b), stdout);
	buf_free(&b);
	return 0;
}

int cmd_config(struct cli *cli, int argc, char **argv)
{
	bool only_set = false, defaults = false, expand = false;
	struct conf *conf = NULL;
	struct error err;
	int i, status = 0;

	if (cli_help(argc, argv, usage))
		return 0;
	if (argc > 1 && strcmp(argv[1], "set") == 0)
		return config_set(cli, argc - 2, argv + 2);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--markdown") == 0)
			return markdown();
		for (const char *f = argv[i] + 1; *f != '\0'; f++) {
			if (*f == 'n')
				only_set = true;
			else if (*f == 'd')
				defaults = true;
			else if (*f == 'x')
				expand = true;
			else
				return cli_error("config: unknown option "
						 "\"%s\" (try postern config "
						 "--help)",
						 argv[i]);
		}
	}
	if (only_set && defaults)
		return cli_error("config: -n and -d exclude each other");

	if (defaults) {
		/* An empty main.cf: the defaults, expanded for this folder. */
		conf = conf_load_mem(cli->config_dir, "defaults", "", 0, NULL,
				     0, &err);
		if (conf == NULL)
			return cli_error("%s", err.msg);
	} else if ((conf = cli_conf(cli)) == NULL) {
		return 1;
	}

	if (i == argc) {
		for (size_t k = 0; k < conf_param_count(); k++)
			show(conf, conf_param_at(k), defaults, only_set,
			     expand);
	}
	for (; i < argc; i++) {
		const struct conf_param *p = conf_param_find(argv[i]);
		if (p == NULL)
			status = cli_error("unknown parameter %s", argv[i]);
		else
			show(conf, p, defaults, only_set, expand);
	}
	conf_free(&conf);
	return status;
}
