/*
 * fts_catchup.c - index what a folder holds and the index lacks.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "fts/fts.h"
#include "store/store.h"
#include "store/store_name.h"

/* Commit every so many additions: one transaction per message would
 * pay a WAL commit each; one for 100,000 would hold the lock long. */
#define CATCHUP_BATCH 500

static int index_entry(struct fts *fts, const char *folder, const char *dir,
		       const struct store_entry *e, const char *unique,
		       struct error *err)
{
	char *path = xasprintf("%s/%s/%s", dir, e->in_new ? "new" : "cur",
			       e->name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return 0; /* moved or expunged meanwhile: next time */
	int ret = fts_add_file(fts, folder, unique, fd, err);
	close(fd);
	return ret;
}

int fts_catchup(struct fts *fts, struct store_mailbox *mbox,
		const char *folder, unsigned *added_r, struct error *err)
{
	struct array *entries = NULL;
	struct array *missing = NULL;
	char *dir = NULL;
	char **uniques = NULL;
	int ret = -1;

	*added_r = 0;
	if (store_list(mbox, folder, &entries, err) < 0)
		return -1;
	dir = store_folder_path(mbox, folder, err);
	if (dir == NULL)
		goto out;
	size_t n = array_len(entries);
	uniques = xcalloc(n + 1, sizeof(*uniques));
	for (size_t i = 0; i < n; i++) {
		const struct store_entry *e = array_get(entries, i);
		struct store_name parsed;
		struct error perr = {0};
		size_t len = store_name_parse(e->name, &parsed, &perr) == 0
				 ? parsed.unique_len
				 : strlen(e->name);
		uniques[i] = xstrndup(e->name, len);
	}
	if (fts_missing(fts, folder, (const char *const *)uniques, n, &missing,
			err) < 0)
		goto out;
	for (size_t k = 0; k < array_len(missing); k++) {
		size_t i = (uintptr_t)array_get(missing, k);
		if (k % CATCHUP_BATCH == 0 && fts_begin(fts, err) < 0)
			goto out;
		if (index_entry(fts, folder, dir, array_get(entries, i),
				uniques[i], err) < 0) {
			(void)fts_commit(fts, err);
			goto out;
		}
		(*added_r)++;
		if ((k + 1) % CATCHUP_BATCH == 0 || k + 1 == array_len(missing))
			if (fts_commit(fts, err) < 0)
				goto out;
	}
	ret = 0;
out:
	if (uniques != NULL)
		for (size_t i = 0; uniques[i] != NULL; i++)
			free(uniques[i]);
	free(uniques);
	free(dir);
	array_free(&missing);
	store_entries_free(&entries);
	return ret;
}
