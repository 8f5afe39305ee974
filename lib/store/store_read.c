/* The small read side: list a folder, change a message's flags. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store_name.h"
#include "store_private.h"

static void entry_free(void *p)
{
	struct store_entry *e = p;
	free(e->name);
	free(e);
}

void store_entries_free(struct array **entries)
{
	if (*entries != NULL)
		array_free_with(entries, entry_free);
}

static int entry_cmp(const void *pa, const void *pb)
{
	const struct store_entry *a = *(const struct store_entry *const *)pa;
	const struct store_entry *b = *(const struct store_entry *const *)pb;
	return strcmp(a->name, b->name);
}

static int list_dir(const char *fpath, bool in_new, struct array *out,
		    struct error *err)
{
	char *dir = xasprintf("%s/%s", fpath, in_new ? "new" : "cur");
	DIR *d = opendir(dir);
	if (d == NULL) {
		int e = errno, ret = 0;
		if (e != ENOENT)
			ret = store_errno(err, e, "opendir", dir);
		free(dir);
		return ret;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		/* Dot files are never messages (Maildir spec). */
		if (de->d_name[0] == '.')
			continue;
		struct store_entry *e = xmalloc(sizeof(*e));
		e->in_new = in_new;
		e->name = xstrdup(de->d_name);
		array_push(out, e);
	}
	closedir(d);
	free(dir);
	return 0;
}

int store_list(struct store_mailbox *mbox, const char *folder,
	       struct array **entries_r, struct error *err)
{
	char *fpath = store_folder_path(mbox, folder, err);
	if (fpath == NULL)
		return -1;
	struct array *a = array_new();
	int ret = list_dir(fpath, true, a, err);
	if (ret == 0)
		ret = list_dir(fpath, false, a, err);
	free(fpath);
	if (ret < 0) {
		store_entries_free(&a);
		return -1;
	}
	array_sort(a, entry_cmp);
	*entries_r = a;
	return 0;
}

int store_set_flags(struct store_mailbox *mbox, const char *folder, bool in_new,
		    const char *name, uint32_t flags, uint32_t keywords,
		    char *name_r, struct error *err)
{
	struct store_name n;
	char newname[STORE_NAME_MAX];
	if (store_name_parse(name, &n, err) < 0 ||
	    store_name_with_flags(name, n.base_len, flags, keywords, newname,
				  sizeof(newname), err) < 0) {
		if (err != NULL)
			err->code = STORE_ERR_INVALID;
		return -1;
	}
	char *fpath = store_folder_path(mbox, folder, err);
	if (fpath == NULL)
		return -1;
	char *src = xasprintf("%s/%s/%s", fpath, in_new ? "new" : "cur", name);
	char *dst = xasprintf("%s/cur/%s", fpath, newname);
	int ret = 1;
	/* A plain rename: flags are not a durability promise (Dovecot does
	 * not fsync them either), and the unique part never changes, so a
	 * crash leaves either the old or the new name. */
	if (strcmp(src, dst) != 0 && rename(src, dst) < 0)
		ret = errno == ENOENT ? 0
				      : store_errno(err, errno, "rename", src);
	free(src);
	free(dst);
	free(fpath);
	if (ret == 1 && name_r != NULL)
		memcpy(name_r, newname, strlen(newname) + 1);
	return ret;
}
