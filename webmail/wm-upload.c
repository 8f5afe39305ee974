/*
 * wm-upload.c - the session's uploads on disk (wm-compose.h) and the
 * routes POST /api/uploads, DELETE /api/uploads/{id}.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "conf/conf.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "mail/mime_decode.h"
#include "wm-compose.h"

/* Uploads one session may hold: a bound on what one user parks here. */
#define UPLOADS_MAX 100

static pthread_mutex_t root_mu = PTHREAD_MUTEX_INITIALIZER;
static char *upload_root; /* set once, at the first use */
static int64_t upload_max_age;

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char *p = xasprintf("%s/%s", dir, e->d_name);
		if (unlink(p) < 0 && errno != ENOENT)
			log_warn("webmail: uploads: unlink %s: %s", p,
				 strerror(errno));
		free(p);
	}
	closedir(d);
	if (rmdir(dir) < 0 && errno != ENOENT)
		log_warn("webmail: uploads: rmdir %s: %s", dir, strerror(errno));
}

/* Remove session directories older than max_age (0: all of them). */
static void sweep(const char *root, int64_t max_age)
{
	DIR *d = opendir(root);
	struct dirent *e;
	time_t now = time(NULL);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		char *p = xasprintf("%s/%s", root, e->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
		    (max_age == 0 || now - st.st_mtime > max_age))
			rm_dir(p);
		free(p);
	}
	closedir(d);
}

/* The root, created at the first call of the process.  Sessions live in
 * SQL and outlive a process, and other webmail processes of this node
 * share the folder: only what is older than a session can be is an
 * orphan here. */
static const char *root_dir(const struct wm *wm, struct error *err)
{
	pthread_mutex_lock(&root_mu);
	if (upload_root == NULL) {
		const char *dir = conf_str(wm->conf, "webmail_upload_directory");
		if (fs_mkdir_p(dir, 0700, err) == 0) {
			(void)chmod(dir, 0700);
			upload_root = xstrdup(dir);
			upload_max_age = conf_time(wm->conf,
						   "webmail_session_lifetime");
			if (upload_max_age <= 0)
				upload_max_age = 43200;
			sweep(dir, upload_max_age);
		}
	}
	pthread_mutex_unlock(&root_mu);
	return upload_root;
}

/* ROOT/HASH: the session id itself is a secret (the cookie) and stays
 * out of file names. */
static char *session_dir(const char *root, const struct wm_session *s)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[33];

	EVP_Digest(s->id, strlen(s->id), md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return xasprintf("%s/%s", root, hex);
}

void wm_uploads_drop(struct wm_session *s)
{
	pthread_mutex_lock(&root_mu);
	char *root = upload_root != NULL ? xstrdup(upload_root) : NULL;
	pthread_mutex_unlock(&root_mu);
	if (root == NULL || s == NULL)
		goto out;
	char *dir = session_dir(root, s);
	rm_dir(dir);
	free(dir);
out:
	free(root);
}

/* An id we made: 24 of [a-z0-9]; anything else names no upload. */
static bool id_valid(const char *id)
{
	size_t n = 0;
	for (; id[n] != '\0'; n++) {
		char c = id[n];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return false;
	}
	return n == 24;
}

static void new_id(char id[32])
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[24];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)(ts.tv_nsec >> (i % 4 * 8)) ^
				 (unsigned char)i;
	}
	for (size_t i = 0; i < 24; i++)
		id[i] = set[rnd[i] % 36];
	id[24] = '\0';
}

static unsigned count_uploads(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && strchr(e->d_name, '.') == NULL)
			n++;
	closedir(d);
	return n;
}

static json_t *upload_json(const char *id, const char *filename,
		       const char *content_type, size_t size)
{
	return json_pack("{s:s, s:s, s:s, s:I}", "id", id, "filename",
			 filename, "content_type", content_type, "size",
			 (json_int_t)size);
}

static char *clean_filename(const char *name);
static char *clean_type(const char *ct);

json_t *wm_upload_add(struct wm_req *r, const char *filename_in,
		      const char *content_type_in, const void *data, size_t len,
		      struct error *err)
{
	const char *root = root_dir(r->wm, err);
	if (root == NULL)
		return NULL;
	sweep(root, upload_max_age);
	char *dir = session_dir(root, r->session);
	char *path = NULL, *meta = NULL, *js = NULL;
	char *filename = clean_filename(filename_in);
	char *content_type = clean_type(content_type_in);
	char id[32];
	json_t *ret = NULL;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		error_set(err, ERR_TEMP, "mkdir %s: %s", dir, strerror(errno));
		goto out;
	}
	if (count_uploads(dir) >= UPLOADS_MAX) {
		error_set_code(err, ERR_PERM, "too_many",
			       "at most %d uploads at a time", UPLOADS_MAX);
		goto out;
	}
	new_id(id);
	path = xasprintf("%s/%s", dir, id);
	meta = xasprintf("%s/%s.json", dir, id);
	json_t *m = upload_json(id, filename, content_type, len);
	js = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	/* Not fsync'd: uploads do not outlive the process's sessions. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		error_set(err, ERR_TEMP, "create %s: %s", path, strerror(errno));
		goto out;
	}
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			error_set(err, ERR_TEMP, "write %s: %s", path,
				  n < 0 ? strerror(errno) : "short write");
			close(fd);
			unlink(path);
			goto out;
		}
		p += n;
		left -= (size_t)n;
	}
	close(fd);
	fd = open(meta, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, js, strlen(js)) != (ssize_t)strlen(js)) {
		error_set(err, ERR_TEMP, "write %s: %s", meta, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(path);
		unlink(meta);
		goto out;
	}
	close(fd);
	ret = upload_json(id, filename, content_type, len);
out:
	free(js);
	free(meta);
	free(path);
	free(dir);
	free(filename);
	free(content_type);
	return ret;
}

void wm_upload_clear(struct wm_upload *u)
{
	free(u->filename);
	free(u->content_type);
	buf_free(&u->data);
	memset(u, 0, sizeof(*u));
}

int wm_upload_load(struct wm_req *r, const char *id, struct wm_upload *u,
		   struct error *err)
{
	memset(u, 0, sizeof(*u));
	if (!id_valid(id))
		return 0;
	const char *root = root_dir(r->wm, err);
	if (root == NULL)
		return -1;
	char *dir = session_dir(root, r->session);
	char *path = xasprintf("%s/%s", dir, id);
	char *meta = xasprintf("%s/%s.json", dir, id);
	struct buf *mb = buf_new();
	int ret = 0;

	if (!fs_exists(path) || !fs_exists(meta))
		goto out;
	u->data = buf_new();
	if (fs_read_file(meta, mb, 65536, err) < 0 ||
	    fs_read_file(path, u->data, SIZE_MAX / 2, err) < 0) {
		ret = -1;
		goto out;
	}
	json_t *m = json_loadb(buf_data(mb), buf_len(mb), 0, NULL);
	const char *fn = json_string_value(json_object_get(m, "filename"));
	const char *ct = json_string_value(json_object_get(m, "content_type"));
	u->filename = xstrdup(fn != NULL ? fn : "attachment");
	u->content_type = xstrdup(ct != NULL ? ct : "application/octet-stream");
	json_decref(m);
	str_copy(u->id, id, sizeof(u->id));
	ret = 1;
out:
	if (ret != 1)
		wm_upload_clear(u);
	buf_free(&mb);
	free(meta);
	free(path);
	free(dir);
	return ret;
}

int wm_upload_delete(struct wm_req *r, const char *id)
{
	if (!id_valid(id))
		return 0;
	const char *root = root_dir(r->wm, NULL);
	if (root == NULL)
		return 0;
	char *dir = session_dir(root, r->session);
	char *path = xasprintf("%s/%s", dir, id);
	char *meta = xasprintf("%s/%s.json", dir, id);
	int ret = unlink(path) == 0 ? 1 : 0;
	unlink(meta);
	free(meta);
	free(path);
	free(dir);
	return ret;
}

/* A file name from the client: its last path component, valid UTF-8
 * without controls, at most 200 bytes; "attachment" when empty. */
static char *clean_filename(const char *name)
{
	struct buf *b = buf_new();
	if (name != NULL) {
		const char *s = name;
		for (const char *p = name; *p; p++)
			if (*p == '/' || *p == '\\')
				s = p + 1;
		mime_utf8_sanitize(s, strlen(s), b);
	}
	char *out = buf_steal(b);
	buf_free(&b);
	size_t j = 0;
	for (size_t i = 0; out[i] != '\0'; i++) {
		unsigned char c = (unsigned char)out[i];
		if (c < 0x20 || c == 0x7f)
			continue;
		out[j++] = (char)c;
	}
	out[j] = '\0';
	if (j > 200) {
		/* Cut at a character boundary. */
		j = 200;
		while (j > 0 && ((unsigned char)out[j] & 0xc0) == 0x80)
			j--;
		out[j] = '\0';
	}
	char *t = str_trim(out);
	if (*t == '\0' || strcmp(t, ".") == 0 || strcmp(t, "..") == 0) {
		free(out);
		return xstrdup("attachment");
	}
	char *res = xstrdup(t);
	free(out);
	return res;
}

/* "type/subtype" of a Content-Type, lower-case, or octet-stream. */
static char *clean_type(const char *ct)
{
	size_t n = 0;
	bool slash = false;
	if (ct == NULL)
		ct = "";
	while (ct[n] != '\0' && ct[n] != ';' && ct[n] != ' ' && n < 100) {
		char c = ct[n];
		if (c == '/') {
			if (slash || n == 0)
				return xstrdup("application/octet-stream");
			slash = true;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || strchr("!#$&^_.+-", c))) {
			return xstrdup("application/octet-stream");
		}
		n++;
	}
	if (!slash || ct[n - 1] == '/')
		return xstrdup("application/octet-stream");
	char *t = xstrndup(ct, n);
	return str_lower(t);
}

void wm_upload_post(struct wm_req *r)
{
	size_t limit = (size_t)conf_size(r->wm->conf, "webmail_upload_limit");
	struct error err = {0};

	if (limit > 0 && buf_len(r->body) > limit) {
		wm_error(r, 413, "too_large", "the file is larger than %zu bytes",
			 limit);
		return;
	}
	json_t *u = wm_upload_add(r, wm_query(r, "filename"), r->content_type,
				  buf_data(r->body), buf_len(r->body), &err);
	if (u != NULL)
		wm_json(r, 201, u);
	else if (err.kind == ERR_PERM)
		wm_error(r, 409, err.code ? err.code : "invalid", "%s", err.msg);
	else
		wm_fail(r, &err);
}

void wm_upload_remove(struct wm_req *r)
{
	if (r->nargs < 1 || wm_upload_delete(r, r->args[0]) == 0) {
		wm_error(r, 404, "not_found", "no such upload");
		return;
	}
	wm_body(r, 204, "application/json", "", 0);
}
