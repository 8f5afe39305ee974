/*
 * smtpd-access.c - check_client_access, check_helo_access,
 * check_sender_access and check_recipient_access: the keys looked up, in
 * access(5)'s order, and what the result means.
 *
 * Keys (tables such as texthash, lmdb, sql, inline; pattern tables cidr
 * and pcre get the whole string once):
 *   address  user+ext@domain, user@domain, domain and its parent
 *            domains, user+ext@, user@ ("<>" as
 *            $smtpd_null_access_lookup_key for the null sender);
 *   helo     the name, then its parent domains;
 *   client   the verified name and its parent domains (not "unknown"),
 *            then the address: 192.0.2.1, 192.0.2, 192.0, 192 (IPv6:
 *            dropping ':'-separated parts from the end).
 * The first key found decides, DUNNO included (it stops the search for
 * shorter keys).  A lookup failure gives 451 4.3.0.  rx_access_search()
 * gives the same searches to smtpd-access-server.c (the _a/_mx/_ns
 * forms, the reverse client name and SASL tables).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"

#include "smtpd-restrict-private.h"

struct lookup {
	struct rx *e;
	const struct ritem *it;
	struct map *map; /* the table searched */
	const char *name; /* reply name and class of this check */
	const char *cls;
	struct buf *value;
	int res; /* the RX_ result once found or failed */
};

static bool pattern_map(struct map *m)
{
	const char *spec = map_spec(m);

	return str_case_has_prefix(spec, "cidr:") ||
	       str_case_has_prefix(spec, "pcre:") ||
	       str_case_has_prefix(spec, "regexp:");
}

/* DSN at the start of the text ("5.7.2 go away"), as Postfix's
 * dsn_split(). */
static const char *split_dsn(const char *text, const char *def, char *dsn,
			     size_t size)
{
	const char *p = text;

	if ((p[0] == '4' || p[0] == '5') && p[1] == '.' &&
	    isdigit((unsigned char)p[2])) {
		size_t n = strcspn(p, " \t");
		if (n < size) {
			memcpy(dsn, p, n);
			dsn[n] = '\0';
			p += n;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
	}
	str_copy(dsn, def, size);
	return text;
}

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static void append_prepend(struct smtpd_verdict *v, const char *text)
{
	char *old = v->prepend;

	v->prepend =
	    old != NULL ? xasprintf("%s\n%s", old, text) : xstrdup(text);
	free(old);
}

/* What an access table's result means (access(5) ACTIONS); a policy
 * service's action= is read the same way (smtpd-policy.c). */
int rx_access_result(struct rx *e, const char *origin, const char *name,
		     const char *cls, const char *value)
{
	const struct rcodes *c = &e->r->codes;
	char *copy = xstrdup(value);
	char *cmd = str_trim(copy);
	size_t n = strcspn(cmd, " \t");
	const char *text = cmd + n;
	char dsn[SMTP_ENHANCED_MAX];
	int res = RX_DUNNO;

	while (*text == ' ' || *text == '\t')
		text++;
	cmd[n] = '\0';

	if (strcasecmp(cmd, "OK") == 0 ||
	    (all_digits(cmd, n) && *text == '\0')) {
		res = RX_OK;
	} else if (n == 3 && (cmd[0] == '4' || cmd[0] == '5') &&
		   all_digits(cmd, 3)) {
		unsigned code = (unsigned)atoi(cmd);
		text = split_dsn(text, cmd[0] == '4' ? "4.7.1" : "5.7.1", dsn,
				 sizeof(dsn));
		res = rx_reject(e, code, dsn, "%s",
				*text != '\0' ? text : "Access denied");
	} else if (strcasecmp(cmd, "REJECT") == 0) {
		text = split_dsn(text, "x.7.1", dsn, sizeof(dsn));
		res = rx_reject(e, c->access_map_reject_code, dsn,
				"<%s>: %s rejected: %s", name, cls,
				*text != '\0' ? text : "Access denied");
	} else if (strcasecmp(cmd, "DEFER") == 0) {
		text = split_dsn(text, "x.7.1", dsn, sizeof(dsn));
		res = rx_reject(e, c->access_map_defer_code, dsn,
				"<%s>: %s rejected: %s", name, cls,
				*text != '\0' ? text : "Access denied");
	} else if (strcasecmp(cmd, "DEFER_IF_PERMIT") == 0) {
		text = split_dsn(text, "x.7.1", dsn, sizeof(dsn));
		res = rx_defer_if_permit(
		    e, c->defer_code, dsn, "<%s>: %s rejected: %s", name,
		    cls, *text != '\0' ? text : "Service unavailable");
	} else if (strcasecmp(cmd, "DEFER_IF_REJECT") == 0) {
		e->defer_if_reject = true;
	} else if (strcasecmp(cmd, "DUNNO") == 0) {
		res = RX_DUNNO;
	} else if (strcasecmp(cmd, "WARN") == 0) {
		rx_log_action(e, "warn", name, cls, text);
	} else if (strcasecmp(cmd, "HOLD") == 0) {
		e->v->hold = true;
		rx_log_action(e, "hold", name, cls, text);
	} else if (strcasecmp(cmd, "DISCARD") == 0) {
		/* access(5): the message is discarded; the rest of the
		 * list is not evaluated. */
		e->v->discard = true;
		rx_log_action(e, "discard", name, cls, text);
		res = RX_OK;
	} else if (strcasecmp(cmd, "FILTER") == 0 && *text != '\0') {
		free(e->v->filter);
		e->v->filter = xstrdup(text);
		rx_log_action(e, "filter", name, cls, text);
	} else if (strcasecmp(cmd, "REDIRECT") == 0 && *text != '\0') {
		free(e->v->redirect);
		e->v->redirect = xstrdup(text);
		rx_log_action(e, "redirect", name, cls, text);
	} else if (strcasecmp(cmd, "PREPEND") == 0 && *text != '\0') {
		append_prepend(e->v, text);
		rx_log_action(e, "prepend", name, cls, text);
	} else if (*text == '\0' && hash_get(e->r->classes, cmd) != NULL) {
		res = rx_class(e, hash_get(e->r->classes, cmd));
	} else {
		/* access(5) "restriction...": a list applied as a class would
		 * be; a word it does not know fails safe with 451 4.3.5. */
		res = rx_nested(e, origin, value);
	}
	free(copy);
	return res;
}

/* 1: found (lk->res set), 0: not found, -1: failed (lk->res set). */
static int try_key(struct lookup *lk, const char *key)
{
	struct error err;
	int ret = map_lookup(lk->map, key, lk->value, &err);

	if (ret < 0) {
		log_warn("%s: %s: lookup of %s: %s", lk->e->in->log_id,
			 map_spec(lk->map), key, err.msg);
		lk->res = rx_reject(lk->e, 451, "4.3.0",
				    "<%s>: %s rejected: Temporary lookup "
				    "failure",
				    lk->name, lk->cls);
		return -1;
	}
	if (ret == 1)
		lk->res = rx_access_result(lk->e, map_spec(lk->map),
					   lk->name, lk->cls,
					   buf_data(lk->value));
	return ret;
}

/* domain, then each parent domain. */
static int try_domain(struct lookup *lk, const char *domain)
{
	for (const char *d = domain; d != NULL && *d != '\0';) {
		int ret = try_key(lk, d);
		if (ret != 0)
			return ret;
		d = strchr(d, '.');
		if (d != NULL)
			d++;
	}
	return 0;
}

static int try_address(struct lookup *lk, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const char *delims = lk->e->in->delimiters;
	size_t local_len, base_len;
	char *key;
	int ret;

	if (*addr == '\0')
		return try_key(lk, lk->e->r->null_key);
	if (pattern_map(lk->map))
		return try_key(lk, addr);
	local_len = at != NULL ? (size_t)(at - addr) : strlen(addr);
	base_len = local_len;
	if (delims != NULL && *delims != '\0' && local_len > 0) {
		size_t k = strcspn(addr + 1, delims) + 1;
		if (k < local_len)
			base_len = k;
	}
	ret = try_key(lk, addr);
	if (ret == 0 && base_len < local_len) {
		key = xasprintf("%.*s%s", (int)base_len, addr,
				at != NULL ? at : "");
		ret = try_key(lk, key);
		free(key);
	}
	if (ret == 0 && at != NULL)
		ret = try_domain(lk, at + 1);
	if (ret == 0 && at != NULL) {
		key = xasprintf("%.*s@", (int)local_len, addr);
		ret = try_key(lk, key);
		free(key);
		if (ret == 0 && base_len < local_len) {
			key = xasprintf("%.*s@", (int)base_len, addr);
			ret = try_key(lk, key);
			free(key);
		}
	}
	return ret;
}

/* The address, then its network prefixes: 192.0.2, 192.0, 192. */
static int try_addr(struct lookup *lk, const char *addr)
{
	int ret = try_key(lk, addr);

	if (ret != 0 || pattern_map(lk->map))
		return ret;
	char *key = xstrdup(addr);
	char sep = strchr(key, ':') != NULL ? ':' : '.';
	for (char *p; ret == 0 && (p = strrchr(key, sep)) != NULL;) {
		*p = '\0';
		/* "2001:db8::" leaves empty parts: skip them. */
		if (*key == '\0' || p[-1] == sep)
			continue;
		ret = try_key(lk, key);
	}
	free(key);
	return ret;
}

static int try_client(struct lookup *lk)
{
	const char *addr = lk->e->in->client_addr;
	const char *name = rx_client_name(lk->e);
	bool pattern = pattern_map(lk->map);
	int ret = 0;

	if (strcmp(name, "unknown") != 0)
		ret = pattern ? try_key(lk, name) : try_domain(lk, name);
	if (ret != 0 || addr == NULL)
		return ret;
	return try_addr(lk, addr);
}

int rx_access(struct rx *e, const struct ritem *it)
{
	const struct smtpd_restrict_input *in = e->in;
	struct lookup lk = {
	    .e = e, .it = it, .map = it->map, .value = buf_new()};
	int ret = 0;

	switch (it->kind) {
	case RK_CLIENT_ACCESS:
		/* The name first, so that replies show it. */
		rx_client_name(e);
		rx_stage_name(e, SMTPD_RESTRICT_CLIENT, &lk.name, &lk.cls);
		ret = try_client(&lk);
		break;
	case RK_HELO_ACCESS:
		if (in->helo == NULL)
			break;
		rx_stage_name(e, SMTPD_RESTRICT_HELO, &lk.name, &lk.cls);
		ret = pattern_map(it->map) ? try_key(&lk, in->helo)
					   : try_domain(&lk, in->helo);
		break;
	case RK_SENDER_ACCESS:
		if (in->sender == NULL)
			break;
		rx_stage_name(e, SMTPD_RESTRICT_SENDER, &lk.name, &lk.cls);
		ret = try_address(&lk, in->sender);
		break;
	case RK_RCPT_ACCESS:
		if (in->recipient == NULL)
			break;
		rx_stage_name(e, SMTPD_RESTRICT_RECIPIENT, &lk.name, &lk.cls);
		ret = try_address(&lk, in->recipient);
		break;
	default:
		break;
	}
	buf_free(&lk.value);
	return ret != 0 ? lk.res : RX_DUNNO;
}

int rx_access_search(struct rx *e, struct map *map, enum rx_search how,
		     const char *key, const char *name, const char *cls,
		     int *res_r)
{
	struct lookup lk = {.e = e,
			    .map = map,
			    .name = name,
			    .cls = cls,
			    .value = buf_new()};
	int ret;

	switch (how) {
	case RX_SEARCH_DOMAIN:
		ret = pattern_map(map) ? try_key(&lk, key)
				       : try_domain(&lk, key);
		break;
	case RX_SEARCH_ADDR:
		ret = try_addr(&lk, key);
		break;
	default:
		ret = try_key(&lk, key);
		break;
	}
	buf_free(&lk.value);
	*res_r = ret != 0 ? lk.res : RX_DUNNO;
	return ret != 0;
}
