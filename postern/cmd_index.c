/* postern index|search: the full-text index of a mailbox (lib/fts). */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "fts/fts.h"
#include "mail/address.h"
#include "postern.h"
#include "store/store.h"

static const char index_usage[] =
	"usage: postern index [--rebuild] ADDRESS\n\n"
	"Bring the full-text index of a mailbox up to date: index every\n"
	"message of every folder that it lacks (a store migrated in, or a\n"
	"delivery whose indexing failed) and forget messages that are gone.\n"
	"--rebuild starts from an empty index.  Prints one line per folder:\n"
	"folder, messages added, documents now.\n";

static const char search_usage[] =
	"usage: postern search [--folder NAME] [--repeat N] ADDRESS KEY TEXT"
	" [KEY TEXT..]\n\n"
	"Search a mailbox's full-text index as IMAP SEARCH does (every key\n"
	"must match; case-insensitive substring).  KEY is text, body,\n"
	"subject, from, to, cc, bcc or headers.  Prints the unique part of\n"
	"each matching message's file name; with --repeat, the search runs N\n"
	"times and the mean time per search goes to standard error.\n";

/* The store mailbox of ADDRESS (normalised like stored addresses). */
static struct store_mailbox *open_mailbox(const struct conf *conf,
					  const char *address,
					  struct store **store_r)
{
	struct error err = {0};
	struct buf *norm = buf_new();
	if (address_normalize(address, ADDRESS_IDN | ADDRESS_LOWER_LOCAL,
			      norm, &err) < 0) {
		cli_error("%s: %s", address, err.msg);
		buf_free(&norm);
		return NULL;
	}
	char *addr = buf_steal(norm);
	buf_free(&norm);
	char *at = strrchr(addr, '@');
	if (at == NULL) {
		cli_error("%s: not an address with a domain", address);
		free(addr);
		return NULL;
	}
	*at = '\0';
	struct store_settings set = {.root = conf_str(conf, "mail_directory")};
	*store_r = store_new(&set);
	struct store_mailbox *mbox =
	    store_mailbox_open(*store_r, at + 1, addr, &err);
	if (mbox == NULL) {
		cli_error("%s: %s", address, err.msg);
		store_free(store_r);
	}
	free(addr);
	return mbox;
}

/* INBOX ("") and the Maildir++ folders (".Name" directories). */
static struct array *list_folders(const char *path)
{
	struct array *folders = array_new();
	array_push(folders, xstrdup(""));
	DIR *d = opendir(path);
	if (d == NULL)
		return folders;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] == '.' && store_folder_valid(de->d_name + 1))
			array_push(folders, xstrdup(de->d_name + 1));
	closedir(d);
	return folders;
}

int cmd_index(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"rebuild", no_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	bool rebuild = false;
	int c;
	if (cli_help(argc, argv, index_usage))
		return 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'r')
			return cli_error("index: unknown option (see --help)");
		rebuild = true;
	}
	if (optind != argc - 1)
		return cli_error("index: one ADDRESS expected (see --help)");
	struct conf *conf = cli_conf(cli);
	if (conf == NULL)
		return 1;
	struct store *store = NULL;
	struct store_mailbox *mbox = open_mailbox(conf, argv[optind], &store);
	int status = 1;
	if (mbox == NULL)
		goto out_conf;
	const char *path = store_mailbox_path(mbox);
	if (rebuild) {
		char *file = xasprintf("%s/%s", path, FTS_FILE_NAME);
		(void)remove(file);
		free(file);
	}
	struct error err = {0};
	struct fts *fts = fts_open(path, 5000, &err);
	if (fts == NULL) {
		status = cli_fail(&err);
		goto out;
	}
	struct array *folders = list_folders(path);
	status = 0;
	for (size_t i = 0; i < array_len(folders) && status == 0; i++) {
		const char *folder = array_get(folders, i);
		unsigned added;
		if (fts_catchup(fts, mbox, folder, &added, &err) < 0) {
			status = cli_fail(&err);
			break;
		}
		printf("%s\t%u\t%lld\n", folder[0] == '\0' ? "INBOX" : folder,
		       added, fts_count(fts, folder, &err));
	}
	array_free_with(&folders, free);
	fts_close(&fts);
out:
	store_mailbox_free(&mbox);
	store_free(&store);
out_conf:
	conf_free(&conf);
	return status;
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool parse_field(const char *name, enum fts_field *f_r)
{
	static const struct {
		const char *name;
		enum fts_field field;
	} fields[] = {
	    {"text", FTS_TEXT}, {"body", FTS_BODY}, {"subject", FTS_SUBJECT},
	    {"from", FTS_FROM}, {"to", FTS_TO},	    {"cc", FTS_CC},
	    {"bcc", FTS_BCC},	{"headers", FTS_HEADERS},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcasecmp(name, fields[i].name) == 0) {
			*f_r = fields[i].field;
			return true;
		}
	return false;
}

int cmd_search(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"folder", required_argument, NULL, 'f'},
	    {"repeat", required_argument, NULL, 'n'},
	    {NULL, 0, NULL, 0},
	};
	const char *folder = "";
	unsigned long long repeat = 0;
	int c;
	if (cli_help(argc, argv, search_usage))
		return 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f')
			folder = store_folder_is_inbox(optarg) ? "" : optarg;
		else if (c != 'n' || !str_to_u64(optarg, &repeat) ||
			 repeat == 0 || repeat > 1000000)
			return cli_error("search: bad option (see --help)");
	}
	int nargs = argc - optind;
	if (nargs < 3 || nargs % 2 == 0)
		return cli_error("search: ADDRESS and KEY TEXT pairs expected "
				 "(see --help)");
	size_t nkeys = (size_t)(nargs - 1) / 2;
	struct fts_key *keys = xcalloc(nkeys, sizeof(*keys));
	for (size_t i = 0; i < nkeys; i++) {
		const char *name = argv[optind + 1 + 2 * i];
		if (!parse_field(name, &keys[i].field)) {
			free(keys);
			return cli_error("search: unknown key \"%s\"", name);
		}
		keys[i].text = argv[optind + 2 + 2 * i];
	}
	struct conf *conf = cli_conf(cli);
	int status = 1;
	if (conf == NULL)
		goto out_keys;
	struct store *store = NULL;
	struct store_mailbox *mbox = open_mailbox(conf, argv[optind], &store);
	if (mbox == NULL)
		goto out_conf;
	struct error err = {0};
	struct fts *fts = fts_open(store_mailbox_path(mbox), 5000, &err);
	struct array *found = NULL;
	if (fts == NULL) {
		status = cli_fail(&err);
		goto out;
	}
	double start = mono_ms();
	for (unsigned long long r = 0; r < (repeat > 0 ? repeat : 1); r++) {
		fts_uniques_free(&found);
		if (fts_search(fts, folder, keys, nkeys, &found, &err) < 0) {
			status = cli_fail(&err);
			goto out_fts;
		}
	}
	if (repeat > 0)
		fprintf(stderr, "%zu matches, %.3f ms per search (%llu runs)\n",
			array_len(found),
			(mono_ms() - start) / (double)repeat,
			repeat);
	for (size_t i = 0; i < array_len(found); i++)
		printf("%s\n", (const char *)array_get(found, i));
	status = 0;
out_fts:
	fts_uniques_free(&found);
	fts_close(&fts);
out:
	store_mailbox_free(&mbox);
	store_free(&store);
out_conf:
	conf_free(&conf);
out_keys:
	free(keys);
	return status;
}
