/* Shared fixture of the mindex tests: a temp store with one mailbox. */
#ifndef MINDEX_TEST_UTIL_H
#define MINDEX_TEST_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "mindex/mindex.h"

struct fx {
	char base[64];
	char *root;
	struct store *store;
	struct store_mailbox *mbox;
	struct mindex_user *u;
	char *mpath; /* the mailbox directory */
};

static inline struct fx *fx_new(void)
{
	struct fx *x = xcalloc(1, sizeof(*x));
	snprintf(x->base, sizeof(x->base), "/tmp/postern-mindex-XXXXXX");
	if (mkdtemp(x->base) == NULL)
		abort();
	x->root = xasprintf("%s/mail", x->base);
	mkdir(x->root, 0700);
	struct store_settings set = {.root = x->root, .hostname = "mx1"};
	x->store = store_new(&set);
	x->mbox = store_mailbox_open(x->store, "example.org", "john", NULL);
	struct mindex_settings ms = {.drafts = "Drafts",
				     .sent = "Sent",
				     .trash = "Trash",
				     .junk = "Junk",
				     .archive = "Archive"};
	x->u = mindex_user_open(x->mbox, &ms, NULL);
	x->mpath = xstrdup(store_mailbox_path(x->mbox));
	store_folder_create(x->mbox, NULL, NULL);
	return x;
}

static inline void fx_free(struct fx *x)
{
	mindex_user_free(&x->u);
	store_mailbox_free(&x->mbox);
	store_free(&x->store);
	char *cmd = xasprintf("rm -rf '%s'", x->base);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	free(cmd);
	free(x->root);
	free(x->mpath);
	free(x);
}

/* Deliver a message as lmtpd does (into new/). */
static inline void fx_deliver(struct fx *x, const char *folder,
			      const char *text)
{
	struct store_delivery d = {.mbox = x->mbox, .folder = folder};
	struct store_input in;
	struct store_input_mem mem;
	store_input_mem(&in, &mem, text, strlen(text));
	struct error err = {0};
	if (store_deliver(&d, &in, &err) < 0) {
		fprintf(stderr, "deliver: %s\n", err.msg);
		abort();
	}
}

static inline char *fx_read(const char *path)
{
	struct buf *b = buf_new();
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		char tmp[4096];
		ssize_t n;
		while ((n = read(fd, tmp, sizeof(tmp))) > 0)
			buf_append(b, tmp, (size_t)n);
		close(fd);
	}
	char *s = buf_steal(b);
	buf_free(&b);
	return s;
}

static inline void fx_write(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs(data, f);
	fclose(f);
}

/* Make every mtime of a folder's state old, so syncs trust them. */
static inline void fx_age(const char *dir)
{
	static const char *const names[] = {"new", "cur", "dovecot-uidlist",
					    "dovecot-keywords"};
	struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
	for (size_t i = 0; i < 4; i++) {
		char *p = xasprintf("%s/%s", dir, names[i]);
		utimensat(AT_FDCWD, p, ts, 0);
		free(p);
	}
}

#endif
