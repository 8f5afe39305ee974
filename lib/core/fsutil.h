/*
 * fsutil - file system helpers with durability spelled out.
 *
 * fs_write_atomic() is the pattern every durable write uses: write a
 * temporary file in the same directory, fsync it, rename it over the
 * target, then fsync the directory so the rename itself survives a crash.
 * Failures return -1 with ERR_TEMP (disk full, I/O error) or ERR_PERM
 * (permission), and leave no temporary file behind.
 */
#ifndef POSTERN_FSUTIL_H
#define POSTERN_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "error.h"

int fs_write_atomic(const char *path, const void *data, size_t len,
		    mode_t mode, struct error *err);
/* fsync the directory `dir` itself (after a rename or create in it). */
int fs_fsync_dir(const char *dir, struct error *err);
/* mkdir -p with `mode` for created directories. */
int fs_mkdir_p(const char *path, mode_t mode, struct error *err);
/* Read a whole file into `out` (appended); refuses files over max_len. */
int fs_read_file(const char *path, struct buf *out, size_t max_len,
		 struct error *err);
bool fs_exists(const char *path);
/* The directory part of path ("." if none), malloc'd. */
char *fs_dirname(const char *path);

#endif
