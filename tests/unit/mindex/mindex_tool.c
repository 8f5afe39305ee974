/*
 * mindex_tool - a command line over lib/mindex for the Dovecot interop
 * test (tests/integration/test_mindex_dovecot.py); not installed.
 *
 *   mindex_tool ROOT DOMAIN LOCAL dump FOLDER
 *       "uidvalidity V", "uidnext N", then "UID FLAG..." a message
 *   mindex_tool ... append FOLDER 'FLAGS'     (message on stdin; prints UID)
 *   mindex_tool ... store FOLDER UID +|-|= 'FLAGS'
 *   mindex_tool ... expunge FOLDER UID
 *   mindex_tool ... create FOLDER
 *   mindex_tool ... subscribe FOLDER | subscribed FOLDER
 *
 * FLAGS: space separated \Seen \Answered \Flagged \Deleted \Draft and
 * keywords.  Exit 0 on success, 1 with a message on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "mindex/mindex.h"

static const struct {
	const char *name;
	uint32_t bit;
} sysflags[] = {
    {"\\Answered", STORE_FLAG_REPLIED}, {"\\Deleted", STORE_FLAG_TRASHED},
    {"\\Draft", STORE_FLAG_DRAFT},	{"\\Flagged", STORE_FLAG_FLAGGED},
    {"\\Seen", STORE_FLAG_SEEN},
};

static void die(const char *what, const struct error *err)
{
	fprintf(stderr, "mindex_tool: %s: %s\n", what,
		err != NULL ? err->msg : "");
	exit(1);
}

static void parse_flags(struct mindex_folder *f, const char *s, uint32_t *flags,
			uint32_t *kw)
{
	*flags = 0;
	*kw = 0;
	char *copy = xstrdup(s), *save = NULL;
	for (char *t = strtok_r(copy, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save)) {
		bool sys = false;
		for (size_t i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]);
		     i++)
			if (strcasecmp(t, sysflags[i].name) == 0) {
				*flags |= sysflags[i].bit;
				sys = true;
			}
		if (sys)
			continue;
		struct error err = {0};
		int idx = mindex_keyword_lookup(f, t, true, &err);
		if (idx < 0)
			die("keyword", &err);
		*kw |= 1u << idx;
	}
	free(copy);
}

static ssize_t stdin_read(void *ctx, void *data, size_t size, struct error *err)
{
	(void)ctx;
	ssize_t n = read(0, data, size);
	if (n < 0)
		error_set(err, ERR_TEMP, "read stdin");
	return n;
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr,
			"usage: mindex_tool ROOT DOMAIN LOCAL CMD FOLDER "
			"[ARGS]\n");
		return 2;
	}
	struct error err = {0};
	struct store_settings ss = {.root = argv[1], .hostname = "tool"};
	struct store *st = store_new(&ss);
	struct store_mailbox *mb =
	    store_mailbox_open(st, argv[2], argv[3], &err);
	if (mb == NULL)
		die("mailbox", &err);
	struct mindex_user *u = mindex_user_open(mb, NULL, &err);
	const char *cmd = argv[4], *folder = argv[5];
	if (strcmp(cmd, "create") == 0) {
		if (mindex_folder_create(u, folder, &err) < 0)
			die("create", &err);
	} else if (strcmp(cmd, "subscribe") == 0) {
		if (mindex_subscribe(u, folder, true, &err) < 0)
			die("subscribe", &err);
	} else if (strcmp(cmd, "subscribed") == 0) {
		int r = mindex_is_subscribed(u, folder, &err);
		if (r < 0)
			die("subscribed", &err);
		printf("%s\n", r ? "yes" : "no");
	} else {
		struct mindex_folder *f =
		    mindex_folder_open(u, folder, false, &err);
		if (f == NULL)
			die("open", &err);
		if (strcmp(cmd, "dump") == 0) {
			printf("uidvalidity %u\nuidnext %u\n",
			       mindex_folder_uidvalidity(f),
			       mindex_folder_uidnext(f));
			for (uint32_t s = 1; s <= mindex_folder_count(f); s++) {
				const struct mindex_msg *m = mindex_msg(f, s);
				printf("%u", m->uid);
				for (size_t i = 0;
				     i < sizeof(sysflags) / sizeof(sysflags[0]);
				     i++)
					if (m->flags & sysflags[i].bit)
						printf(" %s", sysflags[i].name);
				for (unsigned k = 0; k < MINDEX_KEYWORDS_MAX;
				     k++)
					if (m->keywords & (1u << k))
						printf(
						    " %s",
						    mindex_keyword_name(f, k));
				printf("\n");
			}
		} else if (strcmp(cmd, "append") == 0 && argc >= 7) {
			uint32_t fl, kw, uid;
			parse_flags(f, argv[6], &fl, &kw);
			struct store_input in = {stdin_read, NULL, 0};
			if (mindex_append(f, &in, fl, kw, 0, NULL, &uid, &err) <
			    0)
				die("append", &err);
			printf("%u\n", uid);
		} else if (strcmp(cmd, "store") == 0 && argc >= 9) {
			uint32_t fl, kw;
			parse_flags(f, argv[8], &fl, &kw);
			uint32_t seq = mindex_seq_of_uid(
			    f, (uint32_t)strtoul(argv[6], NULL, 10));
			if (seq == 0)
				die("no such uid", NULL);
			enum mindex_flags_mode mode =
			    argv[7][0] == '+'	? MINDEX_FLAGS_ADD
			    : argv[7][0] == '-' ? MINDEX_FLAGS_REMOVE
						: MINDEX_FLAGS_SET;
			enum mindex_store_result res;
			if (mindex_store_flags(f, &seq, 1, mode, fl, kw, 0,
					       &res, &err) < 0)
				die("store", &err);
		} else if (strcmp(cmd, "expunge") == 0 && argc >= 7) {
			uint32_t seq = mindex_seq_of_uid(
			    f, (uint32_t)strtoul(argv[6], NULL, 10));
			if (seq == 0 || mindex_expunge(f, &seq, 1, &err) < 0)
				die("expunge", &err);
		} else {
			die("unknown command", NULL);
		}
		mindex_folder_close(&f);
	}
	mindex_user_free(&u);
	store_mailbox_free(&mb);
	store_free(&st);
	return 0;
}
