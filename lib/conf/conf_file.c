/*
 * conf_file - edit main.cf in place, like `postconf -e`.
 *
 * The file is rewritten line by line: a definition of a name being set is
 * replaced where it stands (its continuation lines go with it, comments
 * in between stay), later definitions of the same name are dropped since
 * they would win, and names not yet defined are appended.  The result is
 * loaded before it is written, so a bad value or an expansion loop never
 * reaches the disk.
 */
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/conf_private.h"
#include "core/buf.h"
#include "core/fsutil.h"
#include "core/str.h"
#include "core/xmalloc.h"

struct assign {
	char *name;
	char *value;
	bool done; /* written (or superseded by a later NAME=VALUE) */
};

static void assign_free(struct assign *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].name);
		free(a[i].value);
	}
	free(a);
}

static int assign_parse(struct assign *a, const char *nv, struct error *err)
{
	const char *eq = strchr(nv, '=');
	if (eq == NULL)
		return error_set(err, ERR_CONFIG,
				 "\"%.100s\": expected NAME=VALUE", nv);
	char *name = xstrndup(nv, (size_t)(eq - nv));
	char *value = xstrdup(eq + 1);
	a->name = xstrdup(str_trim(name));
	a->value = xstrdup(str_trim(value));
	free(name);
	free(value);

	const struct conf_param *p = conf_param_find(a->name);
	if (p == NULL)
		return error_set(err, ERR_CONFIG, "unknown parameter %.100s",
				 a->name);
	if (strcmp(a->name, "config_directory") == 0)
		return error_set(err, ERR_CONFIG,
				 "config_directory is set by -c DIR, not in "
				 "main.cf");
	if (strpbrk(a->value, "\n\r") != NULL)
		return error_set(err, ERR_CONFIG,
				 "%s: the value must be one line", a->name);
	return 0;
}

static void emit_assign(struct buf *out, const struct assign *a)
{
	if (a->value[0] == '\0')
		buf_printf(out, "%s =\n", a->name);
	else
		buf_printf(out, "%s = %s\n", a->name, a->value);
}

/* The index of the first assignment to NAME (len bytes), or -1. */
static long find_assign(const struct assign *a, size_t n, const char *name,
			size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(a[i].name) == len &&
		    memcmp(a[i].name, name, len) == 0)
			return (long)i;
	return -1;
}

static void rewrite(const char *data, size_t len, struct assign *a, size_t n,
		    struct buf *out)
{
	bool dropping = false; /* inside a replaced definition */
	size_t pos = 0;

	while (pos < len) {
		const char *line = data + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n_line =
		    nl != NULL ? (size_t)(nl - line) + 1 : len - pos;
		pos += n_line;

		switch (conf_line_kind(line, nl ? n_line - 1 : n_line)) {
		case CONF_LINE_SKIP:
			break;
		case CONF_LINE_CONT:
			if (dropping)
				continue;
			break;
		case CONF_LINE_START: {
			size_t nlen = conf_name_len(line, n_line);
			long k = find_assign(a, n, line, nlen);
			dropping = k >= 0;
			if (k < 0)
				break;
			if (!a[k].done)
				emit_assign(out, &a[k]);
			a[k].done = true;
			continue;
		}
		}
		buf_append(out, line, n_line);
		if (nl == NULL)
			buf_append_char(out, '\n');
	}
	for (size_t i = 0; i < n; i++)
		if (!a[i].done)
			emit_assign(out, &a[i]);
}

int conf_file_set_many(const char *config_dir, const char *const *name_eq_value,
		       size_t n, struct error *err)
{
	struct assign *a = xcalloc(n ? n : 1, sizeof(*a));
	struct buf *old = buf_new(), *out = buf_new();
	struct conf *check = NULL;
	char *path = xasprintf("%s/main.cf", config_dir);
	int ret = -1;

	for (size_t i = 0; i < n; i++)
		if (assign_parse(&a[i], name_eq_value[i], err) < 0)
			goto out;
	/*
	 * NAME=1 ... NAME=2: as if applied one after the other, the last
	 * value goes where the first one would have.
	 */
	for (size_t i = 0; i < n; i++) {
		long j = find_assign(a, n, a[i].name, strlen(a[i].name));
		if (j != (long)i) {
			free(a[j].value);
			a[j].value = a[i].value;
			a[i].value = NULL;
			a[i].done = true;
		}
	}
	if (fs_exists(path) && fs_read_file(path, old, CONF_FILE_MAX, err) < 0)
		goto out;
	rewrite(buf_data(old), buf_len(old), a, n, out);

	check = conf_load_mem(config_dir, path, buf_data(out), buf_len(out),
			      NULL, 0, err);
	if (check == NULL)
		goto out;
	ret = fs_write_atomic(path, buf_data(out), buf_len(out), 0644, err);
out:
	conf_free(&check);
	assign_free(a, n);
	buf_free(&old);
	buf_free(&out);
	free(path);
	return ret;
}

int conf_file_set(const char *config_dir, const char *name, const char *value,
		  struct error *err)
{
	char *nv = xasprintf("%s=%s", name, value);
	const char *list[1] = {nv};
	int ret = conf_file_set_many(config_dir, list, 1, err);
	free(nv);
	return ret;
}
