/*
 * dovecot-keywords: "<index> <name>" lines, index 0..25 = file name
 * letter 'a' + index.  Written (only while the uidlist lock is held, as
 * Dovecot does) through its own dotlock dovecot-keywords.lock whose
 * content is renamed over the file; the mtime must grow on every write
 * because readers compare it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "mindex_private.h"

void keywords_clear(char *names[MINDEX_KEYWORDS_MAX])
{
	for (unsigned i = 0; i < MINDEX_KEYWORDS_MAX; i++) {
		free(names[i]);
		names[i] = NULL;
	}
}

int keywords_read(const char *dir, char *names[MINDEX_KEYWORDS_MAX],
		  struct timespec *mtime_r, struct error *err)
{
	char *path = xasprintf("%s/" MINDEX_KEYWORDS, dir);
	struct buf *b = buf_new();
	struct stat st;
	int ret = mindex_read_small(path, b, &st, err);
	free(path);
	keywords_clear(names);
	if (ret < 0) {
		buf_free(&b);
		return -1;
	}
	if (ret == 0) {
		mtime_r->tv_sec = 0;
		mtime_r->tv_nsec = 0;
		buf_free(&b);
		return 0;
	}
	*mtime_r = st.st_mtim;
	const char *p = buf_data(b), *end = p + buf_len(b);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		const char *sp = memchr(p, ' ', len);
		if (sp != NULL && sp > p && sp + 1 < p + len) {
			long idx = 0;
			bool ok = true;
			for (const char *q = p; q < sp; q++) {
				if (*q < '0' || *q > '9' || idx > 100) {
					ok = false;
					break;
				}
				idx = idx * 10 + (*q - '0');
			}
			if (ok && idx < MINDEX_KEYWORDS_MAX) {
				free(names[idx]);
				names[idx] = xstrndup(
				    sp + 1, (size_t)(p + len - sp - 1));
			}
		}
		p += len + 1;
	}
	buf_free(&b);
	return 0;
}

int keywords_write(const char *dir, char *const names[MINDEX_KEYWORDS_MAX],
		   struct error *err)
{
	char *path = xasprintf("%s/" MINDEX_KEYWORDS, dir);
	struct stat old;
	bool had = stat(path, &old) == 0;
	int fd = mindex_dotlock(dir, MINDEX_KEYWORDS, err);
	if (fd < 0) {
		free(path);
		return -1;
	}
	struct buf *b = buf_new();
	for (unsigned i = 0; i < MINDEX_KEYWORDS_MAX; i++)
		if (names[i] != NULL)
			buf_printf(b, "%u %s\n", i, names[i]);
	int ret = mindex_dotlock_replace(dir, MINDEX_KEYWORDS, fd, buf_data(b),
					 buf_len(b), err);
	buf_free(&b);
	struct stat st;
	if (ret == 0 && had && stat(path, &st) == 0 &&
	    st.st_mtim.tv_sec <= old.st_mtim.tv_sec) {
		/* Dovecot compares whole seconds: make the change visible. */
		struct timespec ts[2] = {{0, UTIME_OMIT},
					 {old.st_mtim.tv_sec + 1, 0}};
		(void)utimensat(AT_FDCWD, path, ts, 0);
	}
	free(path);
	return ret;
}

int keywords_refresh(const char *dir, char *names[MINDEX_KEYWORDS_MAX],
		     struct timespec *mtime, bool *changed_r, struct error *err)
{
	char *path = xasprintf("%s/" MINDEX_KEYWORDS, dir);
	struct stat st;
	struct timespec mt = {0, 0};
	if (stat(path, &st) == 0)
		mt = st.st_mtim;
	free(path);
	if (changed_r != NULL)
		*changed_r = false;
	if (mt.tv_sec != 0 && mt.tv_sec == mtime->tv_sec &&
	    mt.tv_nsec == mtime->tv_nsec)
		return 0;
	char *old[MINDEX_KEYWORDS_MAX];
	memcpy(old, names, sizeof(old));
	memset(names, 0, sizeof(old));
	int ret = keywords_read(dir, names, mtime, err);
	bool changed = false;
	for (unsigned i = 0; i < MINDEX_KEYWORDS_MAX; i++) {
		if ((old[i] == NULL) != (names[i] == NULL) ||
		    (old[i] != NULL && strcmp(old[i], names[i]) != 0))
			changed = true;
		free(old[i]);
	}
	if (changed_r != NULL)
		*changed_r = changed;
	return ret;
}

void keywords_copy(char *dst[MINDEX_KEYWORDS_MAX],
		   char *const src[MINDEX_KEYWORDS_MAX])
{
	for (unsigned i = 0; i < MINDEX_KEYWORDS_MAX; i++) {
		free(dst[i]);
		dst[i] = src[i] != NULL ? xstrdup(src[i]) : NULL;
	}
}
