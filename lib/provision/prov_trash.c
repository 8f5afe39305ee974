/*
 * The deleted-mail area: a deleted mailbox or domain loses its SQL rows at
 * once (mail is refused, logins fail), and its Maildir is moved here to
 * be purged later by `postern mailbox purge`, so an accidental delete can
 * still be recovered by hand and a delete never waits on removing a large
 * tree.  ".deleted" cannot clash with a domain: store names never start
 * with a dot (store_domain_valid).
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/xmalloc.h"
#include "prov-private.h"
#include "store/store.h"

int prov_trash_move(const char *mail_dir, const char *domain,
		    const char *local, struct error *err)
{
	if (!store_domain_valid(domain) ||
	    (local != NULL && !store_local_valid(local)))
		return error_set_code(err, ERR_PERM, "invalid_value",
				      "not a storable name: %s%s%s",
				      local ? local : "", local ? "@" : "",
				      domain);
	char *src = local ? xasprintf("%s/%s/%s", mail_dir, domain, local)
			  : xasprintf("%s/%s", mail_dir, domain);
	char *trash = xasprintf("%s/" PROV_TRASH_DIR, mail_dir);
	char *dst = NULL;
	int rc = 0;
	struct stat st;

	if (lstat(src, &st) < 0) {
		if (errno != ENOENT)
			rc = error_set(err, ERR_TEMP, "%s: %s", src,
				       strerror(errno));
		goto out;
	}
	if (mkdir(trash, 0700) < 0 && errno != EEXIST) {
		rc = error_set(err, ERR_TEMP, "%s: %s", trash, strerror(errno));
		goto out;
	}
	long long now = (long long)time(NULL);
	for (unsigned i = 0; i < 100; i++) {
		free(dst);
		dst = local ? xasprintf("%s/%lld.%u.%s.%s", trash, now, i, domain,
					local)
			    : xasprintf("%s/%lld.%u.%s", trash, now, i, domain);
		if (lstat(dst, &st) < 0)
			break;
	}
	if (rename(src, dst) < 0) {
		rc = error_set(err, ERR_TEMP, "rename %s to %s: %s", src, dst,
			       strerror(errno));
		goto out;
	}
	rc = fs_fsync_dir(trash, err);
out:
	free(src);
	free(trash);
	free(dst);
	return rc;
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int prov_trash_purge(const char *mail_dir, long long older_than,
		     unsigned *count_r, struct error *err)
{
	char *trash = xasprintf("%s/" PROV_TRASH_DIR, mail_dir);
	DIR *d = opendir(trash);
	int rc = 0;
	long long now = (long long)time(NULL);

	*count_r = 0;
	if (d == NULL) {
		if (errno != ENOENT)
			rc = error_set(err, ERR_TEMP, "%s: %s", trash,
				       strerror(errno));
		free(trash);
		return rc;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long long at = strtoll(de->d_name, &end, 10);
		if (de->d_name[0] == '.' || *end != '.' || now - at < older_than)
			continue;
		char *path = xasprintf("%s/%s", trash, de->d_name);
		if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
			rc = error_set(err, ERR_TEMP, "remove %s: %s", path,
				       strerror(errno));
		else
			(*count_r)++;
		free(path);
	}
	closedir(d);
	free(trash);
	return rc;
}
