/*
 * map_lmdb.c - lmdb:/path, a read-only LMDB snapshot /path.lmdb of a
 * texthash-style source, and map_lmdb_build() (postmap).
 *
 * The builder is the only writer and never writes a live file: it builds
 * /path.lmdb.PID.tmp, syncs it and renames it over /path.lmdb, then
 * syncs the directory.  Readers keep the file they opened (the old
 * inode) until they reopen the map, so both sides run with MDB_NOLOCK
 * and no lock file is ever created next to the map.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "map/map-private.h"

#define LMDB_SUFFIX ".lmdb"
/* LMDB's default maximum key size (mdb_env_get_maxkeysize). */
#define LMDB_KEY_MAX 511

struct map_lmdb {
	struct map map;
	MDB_env *env;
	MDB_dbi dbi;
};

static int lmdb_lookup(struct map *map, const char *key, struct buf *value_r,
		       struct error *err)
{
	struct map_lmdb *m = (struct map_lmdb *)map;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	k.mv_size = strlen(key);
	k.mv_data = (void *)key;
	if (k.mv_size == 0 || k.mv_size > LMDB_KEY_MAX)
		return 0;
	rc = mdb_txn_begin(m->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return error_set(err, ERR_TEMP, "%s: mdb_txn_begin: %s",
				 map_spec(map), mdb_strerror(rc));
	rc = mdb_get(txn, m->dbi, &k, &v);
	if (rc == 0) {
		buf_reset(value_r);
		buf_append(value_r, v.mv_data, v.mv_size);
	}
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return error_set(err, ERR_TEMP, "%s: mdb_get: %s",
				 map_spec(map), mdb_strerror(rc));
	return 1;
}

static void lmdb_free(struct map *map)
{
	struct map_lmdb *m = (struct map_lmdb *)map;

	if (m->env != NULL)
		mdb_env_close(m->env);
	free(m);
}

struct map *map_lmdb_new(const char *path, struct error *err)
{
	struct map_lmdb *m = xcalloc(1, sizeof(*m));
	char *file = xasprintf("%s" LMDB_SUFFIX, path);
	MDB_txn *txn;
	int rc;

	m->map.fold = true;
	m->map.lookup = lmdb_lookup;
	m->map.free = lmdb_free;
	rc = mdb_env_create(&m->env);
	if (rc == 0)
		rc = mdb_env_open(
		    m->env, file,
		    MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0);
	if (rc == 0)
		rc = mdb_txn_begin(m->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0) {
		rc = mdb_dbi_open(txn, NULL, 0, &m->dbi);
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
	}
	if (rc != 0) {
		error_set(
		    err,
		    rc == EAGAIN || rc == EIO || rc == ENOMEM || rc == EMFILE ||
			    rc == ENFILE
			? ERR_TEMP
			: ERR_CONFIG,
		    "lmdb:%s: open %s: %s%s", path, file, mdb_strerror(rc),
		    rc == ENOENT ? " (build it with postern map build)" : "");
		free(file);
		lmdb_free(&m->map);
		return NULL;
	}
	free(file);
	return &m->map;
}

/* Write every entry of `text` into the (empty) database at tmp. */
static int build_into(const char *source, const char *text, size_t len,
		      const char *tmp, size_t mapsize, mode_t mode,
		      struct error *err)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	struct buf *line = buf_new();
	struct map_lines lr;
	unsigned lineno;
	int rc, ret = -1;

	unlink(tmp);
	rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(env, mapsize);
	if (rc == 0)
		rc = mdb_env_open(env, tmp, MDB_NOSUBDIR | MDB_NOLOCK, mode);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, NULL, 0, &dbi);
	if (rc != 0)
		goto lmdb_fail;
	map_lines_init(&lr, text, len);
	while (map_lines_next(&lr, line, &lineno)) {
		char *key, *value;
		MDB_val k, v;

		if (!map_split_kv(buf_mut(line), &key, &value)) {
			error_set(err, ERR_CONFIG,
				  "%s:%u: expected format: key whitespace "
				  "value",
				  source, lineno);
			goto out;
		}
		str_lower(key);
		k.mv_size = strlen(key);
		k.mv_data = key;
		v.mv_size = strlen(value);
		v.mv_data = value;
		if (k.mv_size > LMDB_KEY_MAX) {
			error_set(err, ERR_CONFIG,
				  "%s:%u: key longer than %d bytes", source,
				  lineno, LMDB_KEY_MAX);
			goto out;
		}
		rc = mdb_put(txn, dbi, &k, &v, MDB_NOOVERWRITE);
		if (rc == MDB_KEYEXIST) {
			log_warn("%s:%u: duplicate entry: \"%s\" (ignored)",
				 source, lineno, key);
			continue;
		}
		if (rc != 0)
			goto lmdb_fail;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc == 0)
		rc = mdb_env_sync(env, 1);
	if (rc != 0)
		goto lmdb_fail;
	ret = 0;
	goto out;
lmdb_fail:
	ret = rc == MDB_MAP_FULL ? -2 : -1;
	if (rc != MDB_MAP_FULL)
		error_set(err,
			  rc == EACCES || rc == EROFS ? ERR_PERM : ERR_TEMP,
			  "%s: %s", tmp, mdb_strerror(rc));
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	buf_free(&line);
	return ret;
}

int map_lmdb_build(const char *source, struct error *err)
{
	struct buf *text = buf_new();
	char *target = xasprintf("%s" LMDB_SUFFIX, source);
	char *tmp = xasprintf("%s.%ld.tmp", target, (long)getpid());
	size_t mapsize;
	struct stat st;
	int ret;

	ret = fs_read_file(source, text, MAP_FILE_MAX, err);
	if (ret == 0 && stat(source, &st) < 0)
		ret = error_set(err, ERR_TEMP, "stat %s: %s", source,
				strerror(errno));
	/* B-tree pages plus per-entry overhead; doubled on MDB_MAP_FULL. */
	mapsize = (1u << 20) + 4 * buf_len(text);
	while (ret == 0) {
		ret = build_into(source, buf_data(text), buf_len(text), tmp,
				 mapsize, st.st_mode & 0666, err);
		if (ret != -2)
			break;
		if (mapsize > ((size_t)1 << 36)) {
			ret =
			    error_set(err, ERR_PERM, "%s: map too large", tmp);
			break;
		}
		mapsize *= 2;
		ret = 0;
	}
	if (ret == 0 && rename(tmp, target) < 0)
		ret = error_set(err, ERR_TEMP, "rename %s to %s: %s", tmp,
				target, strerror(errno));
	if (ret == 0) {
		char *dir = fs_dirname(target);

		ret = fs_fsync_dir(dir, err);
		free(dir);
	} else {
		unlink(tmp);
	}
	free(tmp);
	free(target);
	buf_free(&text);
	return ret < 0 ? -1 : 0;
}
