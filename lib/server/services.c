/*
 * services - parser of the services table (see services.h and
 * docs/services.md).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/buf.h"
#include "core/fsutil.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "server/services.h"

/* A services table larger than this is certainly a mistake. */
#define SERVICES_FILE_MAX (1024 * 1024)
/* One expanded value: stops runaway expansion. */
#define SERVICES_VALUE_MAX 4096

struct services {
	struct service_def *defs;
	size_t n;
};

static const char default_text[] =
    "# Postern services table: the role of Postfix's master.cf.\n"
    "# See docs/services.md.  One line per service; $name expands to a\n"
    "# main.cf parameter.  `postern reload` applies changes.\n"
    "#\n"
    "# name       type  listen                                 tls       "
    "procs  command\n"
    "smtp         inet  $inet_interfaces:$smtp_port            starttls  "
    "2      postern-smtpd\n"
    "submission   inet  $inet_interfaces:$submission_port      starttls  "
    "1      postern-smtpd\n"
    "submissions  inet  $inet_interfaces:$submissions_port     implicit  "
    "1      postern-smtpd\n"
    "lmtp         inet  $inet_interfaces:$lmtp_port            none      "
    "1      postern-lmtpd\n"
    "lmtp-unix    unix  $lmtp_socket                           none      "
    "1      postern-lmtpd\n"
    "queue        unix  $queue_socket                          none      "
    "1      postern-queued\n"
    "imap         inet  $inet_interfaces:$imap_port            starttls  "
    "1      postern-imapd\n"
    "imaps        inet  $inet_interfaces:$imaps_port           implicit  "
    "1      postern-imapd\n"
    "webmail      inet  $inet_interfaces:$webmail_port         none      "
    "1      postern-webmail\n"
    "admin-api    inet  $admin_api_interfaces:$admin_api_port  none      "
    "1      postern-admin-api\n"
    "#\n"
    "# postscreen (docs/postscreen.md): to screen SMTP clients before\n"
    "# smtpd, replace the smtp line above by these two.\n"
    "#smtp        inet  $inet_interfaces:$smtp_port            starttls  "
    "1      postern-postscreen\n"
    "#smtpd-pass  unix  $postscreen_pass_socket                starttls  "
    "2      postern-smtpd\n";

const char *services_default_text(void)
{
	return default_text;
}

int services_write_default(const char *path, struct error *err)
{
	char *dir = fs_dirname(path);
	int rc = fs_mkdir_p(dir, 0755, err);
	free(dir);
	if (rc < 0)
		return -1;
	return fs_write_atomic(path, default_text, strlen(default_text), 0644,
			       err);
}

const char *service_tls_name(enum service_tls tls)
{
	switch (tls) {
	case SERVICE_TLS_NONE:
		return "none";
	case SERVICE_TLS_STARTTLS:
		return "starttls";
	case SERVICE_TLS_IMPLICIT:
		return "implicit";
	}
	return "?";
}

int service_tls_parse(const char *s, enum service_tls *tls_r)
{
	if (strcmp(s, "none") == 0)
		*tls_r = SERVICE_TLS_NONE;
	else if (strcmp(s, "starttls") == 0)
		*tls_r = SERVICE_TLS_STARTTLS;
	else if (strcmp(s, "implicit") == 0)
		*tls_r = SERVICE_TLS_IMPLICIT;
	else
		return -1;
	return 0;
}

const char *service_type_name(enum service_type type)
{
	return type == SERVICE_UNIX ? "unix" : "inet";
}

static void addr_clear(struct service_addr *a)
{
	free(a->host);
	free(a->path);
	free(a->text);
}

static void def_clear(struct service_def *d)
{
	free(d->name);
	for (size_t i = 0; i < d->naddrs; i++)
		addr_clear(&d->addrs[i]);
	free(d->addrs);
	for (size_t i = 0; i < d->argc; i++)
		free(d->argv[i]);
	free(d->argv);
	free(d->origin);
	memset(d, 0, sizeof(*d));
}

void services_free(struct services **svcs)
{
	if (*svcs == NULL)
		return;
	for (size_t i = 0; i < (*svcs)->n; i++)
		def_clear(&(*svcs)->defs[i]);
	free((*svcs)->defs);
	XFREE(*svcs);
}

size_t services_count(const struct services *svcs)
{
	return svcs->n;
}

const struct service_def *services_at(const struct services *svcs, size_t i)
{
	return i < svcs->n ? &svcs->defs[i] : NULL;
}

const struct service_def *services_find(const struct services *svcs,
					const char *name)
{
	for (size_t i = 0; i < svcs->n; i++)
		if (strcmp(svcs->defs[i].name, name) == 0)
			return &svcs->defs[i];
	return NULL;
}

bool service_def_same(const struct service_def *a, const struct service_def *b)
{
	if (strcmp(a->name, b->name) != 0 || a->type != b->type ||
	    a->tls != b->tls || a->naddrs != b->naddrs || a->argc != b->argc)
		return false;
	for (size_t i = 0; i < a->naddrs; i++)
		if (strcmp(a->addrs[i].text, b->addrs[i].text) != 0)
			return false;
	for (size_t i = 0; i < a->argc; i++)
		if (strcmp(a->argv[i], b->argv[i]) != 0)
			return false;
	return true;
}

/* ---- Parsing. */

struct parser {
	const char *origin;
	unsigned line; /* first line of the entry being parsed */
	const struct conf *conf;
	struct error *err;
};

static int perr(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int perr(struct parser *p, const char *fmt, ...)
{
	char msg[ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_set(p->err, ERR_CONFIG, "%s:%u: %s", p->origin, p->line,
			 msg);
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* Expand $name and ${name} in TEXT into OUT (reset first). */
static int expand(struct parser *p, const char *text, struct buf *out)
{
	buf_reset(out);
	for (const char *s = text; *s != '\0';) {
		if (*s != '$') {
			buf_append_char(out, *s++);
			continue;
		}
		s++;
		bool brace = *s == '{';
		if (brace)
			s++;
		size_t len = 0;
		while (name_char(s[len]))
			len++;
		if (len == 0 || (brace && s[len] != '}'))
			return perr(p, "malformed $name in \"%.100s\"", text);
		char *name = xstrndup(s, len);
		if (conf_param_find(name) == NULL) {
			perr(p, "unknown parameter $%s", name);
			free(name);
			return -1;
		}
		buf_append_str(out, conf_str(p->conf, name));
		free(name);
		s += len + (brace ? 1 : 0);
		if (buf_len(out) > SERVICES_VALUE_MAX)
			return perr(p, "\"%.100s\" expands to a too long value",
				    text);
	}
	return 0;
}

static bool parse_port(const char *s, unsigned *port_r)
{
	unsigned long long v;
	if (!str_to_u64(s, &v) || v == 0 || v > 65535)
		return false;
	*port_r = (unsigned)v;
	return true;
}

static void push_addr(struct service_def *d, struct service_addr *a)
{
	d->addrs = xreallocarray(d->addrs, d->naddrs + 1, sizeof(*d->addrs));
	d->addrs[d->naddrs++] = *a;
}

/* One inet entry HOSTS:PORT, before expansion. */
static int parse_inet(struct parser *p, struct service_def *d, const char *raw)
{
	const char *colon = strrchr(raw, ':');
	if (colon == NULL)
		return perr(p, "listen address \"%.100s\" is not HOST:PORT",
			    raw);
	char *hosts_raw = xstrndup(raw, (size_t)(colon - raw));
	struct buf *hosts = buf_new(), *port = buf_new();
	struct array *list = NULL;
	int rc = -1;
	unsigned portnum;

	if (expand(p, hosts_raw, hosts) < 0 || expand(p, colon + 1, port) < 0)
		goto out;
	if (!parse_port(str_trim(buf_mut(port)), &portnum)) {
		perr(p, "bad port \"%.100s\" in \"%.100s\"", buf_data(port),
		     raw);
		goto out;
	}
	list = str_split(buf_data(hosts), ", \t");
	if (array_len(list) == 0) {
		perr(p, "no host in listen address \"%.100s\"", raw);
		goto out;
	}
	for (size_t i = 0; i < array_len(list); i++) {
		char *h = array_get(list, i);
		size_t hl = strlen(h);
		if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
			memmove(h, h + 1, hl - 2);
			h[hl - 2] = '\0';
		}
		/* "all" is Postfix's word for every address; net.h's "*"
		 * means the same (IPv6 and IPv4 where available). */
		if (strcmp(h, "all") == 0)
			h = "*";
		if (h[0] == '\0' || strchr(h, '[') || strchr(h, ']') ||
		    strchr(h, '/')) {
			perr(p, "bad host \"%.100s\" in \"%.100s\"", h, raw);
			goto out;
		}
		struct service_addr a = {
		    .type = SERVICE_INET, .host = xstrdup(h), .port = portnum};
		a.text = strchr(h, ':') != NULL
			     ? xasprintf("[%s]:%u", h, portnum)
			     : xasprintf("%s:%u", h, portnum);
		push_addr(d, &a);
	}
	rc = 0;
out:
	if (list != NULL)
		array_free_with(&list, free);
	buf_free(&hosts);
	buf_free(&port);
	free(hosts_raw);
	return rc;
}

static int parse_unix(struct parser *p, struct service_def *d, const char *raw)
{
	struct buf *path = buf_new();
	if (expand(p, raw, path) < 0) {
		buf_free(&path);
		return -1;
	}
	char *s = str_trim(buf_mut(path));
	if (s[0] != '/') {
		perr(p, "unix socket \"%.100s\" is not an absolute path", s);
		buf_free(&path);
		return -1;
	}
	/* sun_path is 108 bytes on Linux, NUL included. */
	if (strlen(s) >= 108) {
		perr(p, "unix socket path \"%.100s...\" is too long", s);
		buf_free(&path);
		return -1;
	}
	struct service_addr a = {
	    .type = SERVICE_UNIX, .path = xstrdup(s), .text = xstrdup(s)};
	push_addr(d, &a);
	buf_free(&path);
	return 0;
}

static int parse_listen(struct parser *p, struct service_def *d,
			const char *col)
{
	/* Split on the commas of the column itself, before expansion: a
	 * comma inside an expanded value separates hosts of one entry. */
	struct array *entries = str_split(col, ",");
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < array_len(entries); i++) {
		const char *e = str_trim(array_get(entries, i));
		if (*e == '\0')
			continue;
		rc = d->type == SERVICE_INET ? parse_inet(p, d, e)
					     : parse_unix(p, d, e);
	}
	array_free_with(&entries, free);
	if (rc == 0 && d->naddrs == 0)
		rc = perr(p, "service %s has no listen address", d->name);
	if (rc == 0 && d->naddrs > SERVICE_ADDRS_MAX)
		rc = perr(p, "service %s has more than %d listen addresses",
			  d->name, SERVICE_ADDRS_MAX);
	/* Two entries on the same address would fail at bind time with a
	 * confusing "in use"; say it here. */
	for (size_t i = 0; rc == 0 && i < d->naddrs; i++)
		for (size_t j = i + 1; j < d->naddrs; j++)
			if (strcmp(d->addrs[i].text, d->addrs[j].text) == 0)
				return perr(p, "%s is listed twice",
					    d->addrs[i].text);
	return rc;
}

static bool valid_service_name(const char *s)
{
	if (*s == '\0' || strlen(s) > 64)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static int check_args(struct parser *p, struct service_def *d)
{
	const char *prog = d->argv[0];
	if (strchr(prog, '/') != NULL || prog[0] == '.' || prog[0] == '-')
		return perr(p,
			    "command \"%.100s\" must be a program name in "
			    "$daemon_directory",
			    prog);
	for (size_t i = 1; i < d->argc; i++) {
		if (strcmp(d->argv[i], "-o") != 0)
			continue;
		if (i + 1 >= d->argc)
			return perr(p, "-o without name=value");
		const char *nv = d->argv[++i];
		const char *eq = strchr(nv, '=');
		if (eq == NULL || eq == nv)
			return perr(p, "-o \"%.100s\" is not name=value", nv);
		char *name = xstrndup(nv, (size_t)(eq - nv));
		bool known = conf_param_find(name) != NULL;
		int rc =
		    known ? 0 : perr(p, "-o %.100s: unknown parameter", name);
		free(name);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* One logical line (comment-free, continuations joined). */
static int parse_entry(struct parser *p, struct services *svcs,
		       const char *line)
{
	struct array *f = str_split(line, " \t\r\n");
	struct service_def d = {0};
	int rc = -1;

	if (array_len(f) < 6) {
		perr(p, "expected: name type listen tls procs command [args]");
		goto out;
	}
	const char *name = array_get(f, 0), *type = array_get(f, 1),
		   *listen = array_get(f, 2), *tls = array_get(f, 3),
		   *procs = array_get(f, 4);
	if (!valid_service_name(name)) {
		perr(p, "bad service name \"%.100s\" (a-z, 0-9, - _ .)", name);
		goto out;
	}
	if (services_find(svcs, name) != NULL) {
		perr(p, "service %s defined twice", name);
		goto out;
	}
	d.name = xstrdup(name);
	d.origin = xasprintf("%s:%u", p->origin, p->line);
	if (strcmp(type, "inet") == 0) {
		d.type = SERVICE_INET;
	} else if (strcmp(type, "unix") == 0) {
		d.type = SERVICE_UNIX;
	} else {
		perr(p, "service %s: type \"%.100s\" is not inet or unix", name,
		     type);
		goto out;
	}
	if (service_tls_parse(tls, &d.tls) < 0) {
		perr(p,
		     "service %s: tls \"%.100s\" is not none, starttls or "
		     "implicit",
		     name, tls);
		goto out;
	}
	unsigned long long np;
	if (!str_to_u64(procs, &np) || np < 1 || np > SERVICE_PROCS_MAX) {
		perr(p, "service %s: procs \"%.100s\" is not 1..%d", name,
		     procs, SERVICE_PROCS_MAX);
		goto out;
	}
	d.procs = (int)np;
	d.argc = array_len(f) - 5;
	d.argv = xcalloc(d.argc + 1, sizeof(char *));
	for (size_t i = 0; i < d.argc; i++)
		d.argv[i] = xstrdup(array_get(f, i + 5));
	if (check_args(p, &d) < 0 || parse_listen(p, &d, listen) < 0)
		goto out;

	svcs->defs =
	    xreallocarray(svcs->defs, svcs->n + 1, sizeof(*svcs->defs));
	svcs->defs[svcs->n++] = d;
	memset(&d, 0, sizeof(d));
	rc = 0;
out:
	def_clear(&d);
	array_free_with(&f, free);
	return rc;
}

/* Addresses must be unique across services too. */
static int check_unique_addrs(struct services *svcs, struct error *err)
{
	for (size_t i = 0; i < svcs->n; i++)
		for (size_t a = 0; a < svcs->defs[i].naddrs; a++)
			for (size_t j = i + 1; j < svcs->n; j++)
				for (size_t b = 0; b < svcs->defs[j].naddrs;
				     b++)
					if (strcmp(
						svcs->defs[i].addrs[a].text,
						svcs->defs[j].addrs[b].text) ==
					    0)
						return error_set(
						    err, ERR_CONFIG,
						    "%s: %s is also used "
						    "by service %s (%s)",
						    svcs->defs[j].origin,
						    svcs->defs[j].addrs[b].text,
						    svcs->defs[i].name,
						    svcs->defs[i].origin);
	return 0;
}

static int flush_entry(struct parser *p, struct services *svcs,
		       struct buf *entry)
{
	if (buf_len(entry) == 0)
		return 0;
	int rc = parse_entry(p, svcs, buf_data(entry));
	buf_reset(entry);
	return rc;
}

struct services *services_parse(const char *origin, const char *text,
				size_t len, const struct conf *conf,
				struct error *err)
{
	struct parser p = {.origin = origin, .conf = conf, .err = err};
	struct services *svcs = xcalloc(1, sizeof(*svcs));
	struct buf *entry = buf_new();
	unsigned lineno = 0;
	size_t pos = 0;

	if (memchr(text, '\0', len) != NULL) {
		p.line = 1;
		for (const char *c = text; *c != '\0'; c++)
			p.line += *c == '\n';
		perr(&p, "NUL byte in the file");
		goto fail;
	}
	while (pos < len) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - s) : len - pos;
		pos += n + 1;
		lineno++;

		size_t i = 0;
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
			i++;
		if (i == n || s[i] == '#')
			continue;
		if (i > 0) {
			if (buf_len(entry) == 0) {
				p.line = lineno;
				perr(&p, "continuation line without an entry");
				goto fail;
			}
			buf_append_char(entry, ' ');
			buf_append(entry, s, n);
			continue;
		}
		/* A new entry: finish the pending one first. */
		if (flush_entry(&p, svcs, entry) < 0)
			goto fail;
		p.line = lineno;
		buf_append(entry, s, n);
	}
	if (flush_entry(&p, svcs, entry) < 0)
		goto fail;
	if (svcs->n == 0) {
		error_set(err, ERR_CONFIG, "%s: no service defined", origin);
		goto fail;
	}
	if (check_unique_addrs(svcs, err) < 0)
		goto fail;
	buf_free(&entry);
	return svcs;
fail:
	buf_free(&entry);
	services_free(&svcs);
	return NULL;
}

struct services *services_load(const char *path, const struct conf *conf,
			       struct error *err)
{
	struct buf *data = buf_new();
	struct services *svcs = NULL;
	if (fs_read_file(path, data, SERVICES_FILE_MAX, err) == 0)
		svcs = services_parse(path, buf_data(data), buf_len(data), conf,
				      err);
	else
		error_prefix(err, "services table");
	buf_free(&data);
	return svcs;
}
