#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xmalloc.h"

static enum err_kind errno_kind(int e)
{
	return e == EACCES || e == EPERM || e == EROFS ? ERR_PERM : ERR_TEMP;
}

char *fs_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

int fs_fsync_dir(const char *dir, struct error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno_kind(errno), "open %s: %s", dir,
				 strerror(errno));
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		return error_set(err, errno_kind(e), "fsync %s: %s", dir,
				 strerror(e));
	}
	close(fd);
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len,
		    mode_t mode, struct error *err)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	char *dir = NULL;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		error_set(err, errno_kind(errno), "create %s: %s", tmp,
			  strerror(errno));
		goto fail;
	}
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error_set(err, errno_kind(errno), "write %s: %s", tmp,
				  strerror(errno));
			goto fail_unlink;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		error_set(err, errno_kind(errno), "fsync %s: %s", tmp,
			  strerror(errno));
		goto fail_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		error_set(err, ERR_TEMP, "close %s: %s", tmp, strerror(errno));
		goto fail_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		error_set(err, errno_kind(errno), "rename %s: %s", path,
			  strerror(errno));
		goto fail_unlink;
	}
	dir = fs_dirname(path);
	if (fs_fsync_dir(dir, err) < 0)
		goto fail;
	free(dir);
	free(tmp);
	return 0;

fail_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
fail:
	free(dir);
	free(tmp);
	return -1;
}

int fs_mkdir_p(const char *path, mode_t mode, struct error *err)
{
	char *copy = xstrdup(path);
	for (char *p = copy + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST) {
			int e = errno;
			error_set(err, errno_kind(e), "mkdir %s: %s", copy,
				  strerror(e));
			free(copy);
			return -1;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(copy);
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return error_set(err, ERR_PERM, "%s is not a directory", path);
	return 0;
}

int fs_read_file(const char *path, struct buf *out, size_t max_len,
		 struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno == ENOENT ? ERR_CONFIG
						      : errno_kind(errno),
				 "open %s: %s", path, strerror(errno));
	char chunk[8192];
	size_t total = 0;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return error_set(err, errno_kind(e), "read %s: %s", path,
					 strerror(e));
		}
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > max_len) {
			close(fd);
			return error_set(err, ERR_PERM,
					 "%s is larger than %zu bytes", path,
					 max_len);
		}
		buf_append(out, chunk, (size_t)n);
	}
	close(fd);
	return 0;
}

bool fs_exists(const char *path)
{
	return access(path, F_OK) == 0;
}
