/*
 * rewrite.c - canonical, generic and relocated lookups, masquerading,
 * append_at_myorigin (rewrite.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "mail/address.h"

#include "rewrite-private.h"

/* cleanup's MAX_RECURSION for canonical maps. */
#define CANON_ROUNDS 10

static void maps_free(struct array **maps)
{
	if (*maps == NULL)
		return;
	for (size_t i = 0; i < array_len(*maps); i++) {
		struct map *m = array_get(*maps, i);
		map_free(&m);
	}
	array_free(maps);
}

/* Split a list of map specs on commas and blanks outside braces
 * ("inline:{ a=b, c=d }" stays one spec). */
static struct array *split_specs(const char *s)
{
	struct array *a = array_new();
	struct buf *cur = buf_new();
	int depth = 0;

	for (;; s++) {
		bool sep = *s == '\0' ||
			   (depth == 0 && (*s == ',' || *s == ' ' || *s == '\t'));
		if (sep) {
			if (buf_len(cur) > 0)
				array_push(a, buf_steal(cur));
			if (*s == '\0')
				break;
			continue;
		}
		if (*s == '{')
			depth++;
		else if (*s == '}' && depth > 0)
			depth--;
		buf_append_char(cur, *s);
	}
	buf_free(&cur);
	return a;
}

static int maps_open(const struct conf *conf, const char *param,
		     const struct map_env *env, struct array **maps_r,
		     struct error *err)
{
	struct array *specs = split_specs(conf_str(conf, param));
	int ret = 0;

	*maps_r = array_new();
	for (size_t i = 0; i < array_len(specs) && ret == 0; i++) {
		struct map *m = map_open(array_get(specs, i), env, err);

		if (m == NULL) {
			error_prefix(err, "%s", param);
			ret = -1;
		} else {
			array_push(*maps_r, m);
		}
	}
	array_free_with(&specs, free);
	if (ret < 0 || array_len(*maps_r) == 0)
		maps_free(maps_r);
	return ret;
}

static unsigned parse_classes(const struct conf *conf, const char *param,
			      struct error *err, bool *bad)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
	    {"envelope_sender", REWRITE_ENV_SENDER},
	    {"envelope_recipient", REWRITE_ENV_RECIPIENT},
	    {"header_sender", REWRITE_HDR_SENDER},
	    {"header_recipient", REWRITE_HDR_RECIPIENT},
	};
	struct array *words = str_split(conf_str(conf, param), ", \t");
	unsigned bits = 0;

	for (size_t i = 0; i < array_len(words); i++) {
		const char *w = array_get(words, i);
		size_t k;

		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (strcasecmp(w, names[k].name) == 0)
				break;
		if (k == sizeof(names) / sizeof(names[0])) {
			if (!*bad)
				error_set(err, ERR_CONFIG,
					  "%s: unknown address class \"%s\"",
					  param, w);
			*bad = true;
		} else {
			bits |= names[k].bit;
		}
	}
	array_free_with(&words, free);
	return bits;
}

void rewrite_default_mydomain(const char *hostname, struct buf *out)
{
	const char *dot = strchr(hostname, '.');

	if (dot == NULL || dot[1] == '\0')
		buf_set_str(out, "localdomain");
	else
		buf_set_str(out, dot + 1);
}

void rewrite_conf_mydomain(const struct conf *conf, struct buf *out)
{
	if (conf_str(conf, "mydomain")[0] != '\0')
		buf_set_str(out, conf_str(conf, "mydomain"));
	else
		rewrite_default_mydomain(conf_str(conf, "myhostname"), out);
}

void rewrite_conf_myorigin(const struct conf *conf, struct buf *out)
{
	const char *raw = conf_raw(conf, "myorigin");
	struct buf *dom = buf_new();
	const char *p;

	buf_reset(out);
	rewrite_conf_mydomain(conf, dom);
	if (raw != NULL && conf_str(conf, "mydomain")[0] == '\0' &&
	    strstr(raw, "mydomain") != NULL) {
		/* $mydomain / ${mydomain} expanded to an empty default by the
		 * conf table: put the computed one in. */
		for (p = raw; *p != '\0';) {
			if (strncmp(p, "$mydomain", 9) == 0) {
				buf_append_str(out, buf_data(dom));
				p += 9;
			} else if (strncmp(p, "${mydomain}", 11) == 0) {
				buf_append_str(out, buf_data(dom));
				p += 11;
			} else {
				buf_append_char(out, *p++);
			}
		}
		if (strchr(buf_data(out), '$') != NULL)
			buf_set_str(out, conf_str(conf, "myorigin"));
	} else {
		buf_set_str(out, conf_str(conf, "myorigin"));
	}
	if (buf_len(out) == 0)
		buf_set_str(out, conf_str(conf, "myhostname"));
	buf_free(&dom);
}

static void add_local_domain(struct rewrite *rw, const char *d)
{
	char *s = xstrdup(d);
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] == '.')
		s[n - 1] = '\0';
	str_lower(s);
	if (s[0] == '\0' || hash_contains(rw->local_domains, s)) {
		free(s);
		return;
	}
	hash_put(rw->local_domains, s, NULL);
	free(s);
}

struct rewrite *rewrite_new(const struct conf *conf, const struct map_env *env,
			    struct error *err)
{
	struct rewrite *rw = xcalloc(1, sizeof(*rw));
	struct buf *b = buf_new();
	struct array *ifs;
	bool bad = false;

	rw->myhostname = xstrdup(conf_str(conf, "myhostname"));
	rewrite_conf_mydomain(conf, b);
	rw->mydomain = buf_steal(b);
	rewrite_conf_myorigin(conf, b);
	rw->myorigin = buf_steal(b);
	rw->append_at_myorigin = conf_bool(conf, "append_at_myorigin");
	rw->delimiters = xstrdup(conf_str(conf, "recipient_delimiter"));

	rw->local_domains = hash_new(HASH_FOLD_CASE, NULL);
	add_local_domain(rw, rw->myorigin);
	add_local_domain(rw, rw->myhostname);
	buf_printf(b, "localhost.%s", rw->mydomain);
	add_local_domain(rw, buf_data(b));
	add_local_domain(rw, "localhost");
	ifs = str_split(conf_str(conf, "inet_interfaces"), ", \t");
	for (size_t i = 0; i < array_len(ifs); i++) {
		const char *a = array_get(ifs, i);

		buf_reset(b);
		if (strchr(a, ':') != NULL)
			buf_printf(b, "[ipv6:%s]", a);
		else
			buf_printf(b, "[%s]", a);
		add_local_domain(rw, buf_data(b));
	}
	array_free_with(&ifs, free);
	buf_free(&b);

	rw->canon_classes = parse_classes(conf, "canonical_classes", err, &bad);
	rw->send_canon_classes =
	    parse_classes(conf, "sender_canonical_classes", err, &bad);
	rw->rcpt_canon_classes =
	    parse_classes(conf, "recipient_canonical_classes", err, &bad);
	rw->masq_classes = parse_classes(conf, "masquerade_classes", err, &bad);
	if (bad)
		goto fail;

	{
		struct array *p = str_split(
		    conf_str(conf, "propagate_unmatched_extensions"), ", \t");
		for (size_t i = 0; i < array_len(p); i++) {
			const char *w = array_get(p, i);
			if (strcasecmp(w, "canonical") == 0)
				rw->propagate_canonical = true;
			else if (strcasecmp(w, "generic") == 0)
				rw->propagate_generic = true;
		}
		array_free_with(&p, free);
	}
	rw->masq_domains =
	    str_split(conf_str(conf, "masquerade_domains"), ", \t");
	rw->masq_exceptions = hash_new(HASH_FOLD_CASE, NULL);
	{
		struct array *p =
		    str_split(conf_str(conf, "masquerade_exceptions"), ", \t");
		for (size_t i = 0; i < array_len(p); i++)
			hash_put(rw->masq_exceptions, array_get(p, i), NULL);
		array_free_with(&p, free);
	}

	if (maps_open(conf, "canonical_maps", env, &rw->canonical, err) < 0 ||
	    maps_open(conf, "sender_canonical_maps", env, &rw->send_canonical,
		      err) < 0 ||
	    maps_open(conf, "recipient_canonical_maps", env,
		      &rw->rcpt_canonical, err) < 0 ||
	    maps_open(conf, "relocated_maps", env, &rw->relocated, err) < 0 ||
	    maps_open(conf, "smtp_generic_maps", env, &rw->generic, err) < 0)
		goto fail;
	return rw;
fail:
	rewrite_free(&rw);
	return NULL;
}

void rewrite_free(struct rewrite **rwp)
{
	struct rewrite *rw = *rwp;

	if (rw == NULL)
		return;
	*rwp = NULL;
	maps_free(&rw->canonical);
	maps_free(&rw->send_canonical);
	maps_free(&rw->rcpt_canonical);
	maps_free(&rw->relocated);
	maps_free(&rw->generic);
	array_free_with(&rw->masq_domains, free);
	hash_free(&rw->masq_exceptions);
	hash_free(&rw->local_domains);
	free(rw->myhostname);
	free(rw->mydomain);
	free(rw->myorigin);
	free(rw->delimiters);
	free(rw);
}

const char *rewrite_myorigin(const struct rewrite *rw)
{
	return rw->myorigin;
}

const char *rewrite_mydomain(const struct rewrite *rw)
{
	return rw->mydomain;
}

bool rewrite_active(const struct rewrite *rw, enum rewrite_class cls)
{
	if (rw->canonical != NULL && (rw->canon_classes & cls))
		return true;
	if (rw->send_canonical != NULL && (rw->send_canon_classes & cls) &&
	    (cls & (REWRITE_ENV_SENDER | REWRITE_HDR_SENDER)))
		return true;
	if (rw->rcpt_canonical != NULL && (rw->rcpt_canon_classes & cls) &&
	    (cls & (REWRITE_ENV_RECIPIENT | REWRITE_HDR_RECIPIENT)))
		return true;
	return array_len(rw->masq_domains) > 0 && (rw->masq_classes & cls);
}

void rewrite_qualify(const struct rewrite *rw, const char *addr,
		     const char *domain, struct buf *out)
{
	buf_set_str(out, addr);
	if (strrchr(addr, '@') != NULL)
		return;
	if (domain != NULL)
		buf_printf(out, "@%s", domain);
	else if (rw->append_at_myorigin)
		buf_printf(out, "@%s", rw->myorigin);
}

/* One key through a list of maps: the first that has it wins. */
static int maps_find(struct array *maps, const char *key, struct buf *value_r,
		     struct error *err)
{
	for (size_t i = 0; i < array_len(maps); i++) {
		int r = map_lookup(array_get(maps, i), key, value_r, err);
		if (r != 0)
			return r;
	}
	return 0;
}

/*
 * mail_addr_find: the lookup order of rewrite.h.  *ext_r is set to the
 * extension (with its delimiter) when the match needed it stripped.
 */
static int addr_find(const struct rewrite *rw, struct array *maps,
		     const char *addr, bool user_form, struct buf *value_r,
		     const char **ext_r, struct error *err)
{
	const char *at = strrchr(addr, '@');
	size_t local_len = at != NULL ? (size_t)(at - addr) : strlen(addr);
	char *local = xstrndup(addr, local_len);
	const char *domain = at != NULL ? at + 1 : NULL;
	struct buf *key = buf_new();
	size_t user_len = 0;
	const char *ext = NULL;
	bool split;
	int r;

	*ext_r = NULL;
	split = address_split_local(local, rw->delimiters, &user_len, &ext);
	/* 1. user+ext@domain (or the bare user+ext) */
	r = maps_find(maps, addr, value_r, err);
	/* 2. user@domain */
	if (r == 0 && split && domain != NULL) {
		buf_reset(key);
		buf_append(key, local, user_len);
		buf_printf(key, "@%s", domain);
		r = maps_find(maps, buf_data(key), value_r, err);
		if (r == 1)
			*ext_r = addr + user_len;
	}
	/* 3. user+ext, user: only for our own domains (canonical(5)). */
	if (r == 0 && user_form &&
	    (domain == NULL || hash_contains(rw->local_domains, domain))) {
		if (domain != NULL)
			r = maps_find(maps, local, value_r, err);
		if (r == 0 && split) {
			buf_reset(key);
			buf_append(key, local, user_len);
			r = maps_find(maps, buf_data(key), value_r, err);
			if (r == 1)
				*ext_r = addr + user_len;
		}
	}
	/* 4. @domain */
	if (r == 0 && domain != NULL) {
		buf_reset(key);
		buf_printf(key, "@%s", domain);
		r = maps_find(maps, buf_data(key), value_r, err);
	}
	free(local);
	buf_free(&key);
	return r;
}

/*
 * mail_addr_map: find, then build the result address: the first value
 * of a list, "@other" completed with the whole local part, the stripped
 * extension put back, bare results qualified.  1 with out set, 0, -1.
 */
static int addr_map(const struct rewrite *rw, struct array *maps,
		    const char *addr, bool user_form, bool propagate,
		    struct buf *out, struct error *err)
{
	struct buf *val = buf_new();
	struct buf *res = buf_new();
	const char *ext = NULL;
	int r = addr_find(rw, maps, addr, user_form, val, &ext, err);

	if (r == 1) {
		const char *v = buf_data(val);
		size_t n;

		while (*v == ' ' || *v == '\t')
			v++;
		n = strcspn(v, ", \t");
		if (v[n] != '\0' && v[n + strspn(v + n, ", \t")] != '\0')
			log_warn("multi-valued table entry for %s: using %.*s",
				 addr, (int)n, v);
		if (n > 0 && v[0] == '@') {
			const char *at = strrchr(addr, '@');
			buf_append(res, addr,
				   at != NULL ? (size_t)(at - addr)
					      : strlen(addr));
			buf_append(res, v, n);
		} else {
			buf_append(res, v, n);
			if (propagate && ext != NULL) {
				/* mail_addr_crunch: the extension goes before
				 * the @ of the result. */
				const char *rat = strrchr(buf_data(res), '@');
				size_t pos = rat != NULL
						 ? (size_t)(rat - buf_data(res))
						 : buf_len(res);
				size_t elen = strlen(ext);
				const char *eat = strrchr(ext, '@');
				if (eat != NULL)
					elen = (size_t)(eat - ext);
				struct buf *t = buf_new();
				buf_append(t, buf_data(res), pos);
				buf_append(t, ext, elen);
				buf_append_str(t, buf_data(res) + pos);
				buf_set_str(res, buf_data(t));
				buf_free(&t);
			}
		}
		if (buf_len(res) == 0) {
			r = 0;
		} else {
			rewrite_qualify(rw, buf_data(res), NULL, out);
		}
	}
	buf_free(&val);
	buf_free(&res);
	return r;
}

/* cleanup_map11: apply maps until no match or a self-mapping. */
static int canon_loop(const struct rewrite *rw, struct array *maps,
		      struct buf *addr, struct error *err)
{
	struct buf *next = buf_new();
	int changed = 0;

	for (int round = 0; round < CANON_ROUNDS; round++) {
		int r = addr_map(rw, maps, buf_data(addr), true,
				 rw->propagate_canonical, next, err);
		if (r < 0) {
			changed = -1;
			break;
		}
		if (r == 0)
			break;
		bool self = strcasecmp(buf_data(next), buf_data(addr)) == 0;
		if (strcmp(buf_data(next), buf_data(addr)) != 0)
			changed = 1;
		buf_set_str(addr, buf_data(next));
		if (self)
			break;
		if (round == CANON_ROUNDS - 1)
			log_warn("unreasonable canonical map nesting for %s -- "
				 "giving up",
				 buf_data(addr));
	}
	buf_free(&next);
	return changed;
}

int rewrite_masquerade(const struct rewrite *rw, const char *addr,
		       struct buf *out, struct error *err)
{
	const char *at = strrchr(addr, '@');
	const char *domain;
	size_t domain_len;

	buf_set_str(out, addr);
	if (at == NULL || array_len(rw->masq_domains) == 0)
		return 0;
	domain = at + 1;
	domain_len = strlen(domain);
	if (hash_count(rw->masq_exceptions) > 0) {
		char *name = xstrndup(addr, (size_t)(at - addr));
		bool excluded = hash_contains(rw->masq_exceptions, name);
		free(name);
		if (excluded)
			return 0;
	}
	/* cleanup_masquerade.c: left to right, the first domain that is the
	 * address's domain or a parent of it decides; "!" keeps it. */
	for (size_t i = 0; i < array_len(rw->masq_domains); i++) {
		const char *m = array_get(rw->masq_domains, i);
		bool truncate = true;
		size_t mlen;

		for (; *m == '!'; m++)
			truncate = !truncate;
		mlen = strlen(m);
		if (mlen == 0)
			continue;
		if (mlen == domain_len) {
			if (strcasecmp(m, domain) == 0)
				break;
		} else if (mlen < domain_len) {
			const char *parent = domain + domain_len - mlen;
			if (parent[-1] == '.' && strcasecmp(m, parent) == 0) {
				if (!truncate)
					break;
				buf_truncate(out, (size_t)(domain - addr));
				buf_append_str(out, m);
				return 1;
			}
		}
	}
	(void)err;
	return 0;
}

int rewrite_address(const struct rewrite *rw, enum rewrite_class cls,
		    const char *addr, struct buf *out, struct error *err)
{
	struct buf *tmp = buf_new();
	int changed = 0, r;

	buf_set_str(out, addr);
	if (addr[0] == '\0')
		goto done; /* the null sender is never rewritten */
	if ((cls & (REWRITE_ENV_SENDER | REWRITE_HDR_SENDER)) &&
	    rw->send_canonical != NULL && (rw->send_canon_classes & cls)) {
		if ((r = canon_loop(rw, rw->send_canonical, out, err)) < 0)
			goto fail;
		changed |= r;
	}
	if ((cls & (REWRITE_ENV_RECIPIENT | REWRITE_HDR_RECIPIENT)) &&
	    rw->rcpt_canonical != NULL && (rw->rcpt_canon_classes & cls)) {
		if ((r = canon_loop(rw, rw->rcpt_canonical, out, err)) < 0)
			goto fail;
		changed |= r;
	}
	if (rw->canonical != NULL && (rw->canon_classes & cls)) {
		if ((r = canon_loop(rw, rw->canonical, out, err)) < 0)
			goto fail;
		changed |= r;
	}
	if (rw->masq_classes & cls) {
		if ((r = rewrite_masquerade(rw, buf_data(out), tmp, err)) < 0)
			goto fail;
		if (r == 1) {
			buf_set_str(out, buf_data(tmp));
			changed = 1;
		}
	}
done:
	buf_free(&tmp);
	return changed;
fail:
	buf_set_str(out, addr);
	buf_free(&tmp);
	return -1;
}

int rewrite_relocated(const struct rewrite *rw, const char *addr,
		      struct buf *value_r, struct error *err)
{
	const char *ext;

	if (rw->relocated == NULL || addr[0] == '\0')
		return 0;
	return addr_find(rw, rw->relocated, addr, true, value_r, &ext, err);
}

int rewrite_generic(const struct rewrite *rw, const char *addr,
		    struct buf *out, struct error *err)
{
	struct buf *res = buf_new();
	int r = 0;

	buf_set_str(out, addr);
	if (rw->generic != NULL && addr[0] != '\0') {
		r = addr_map(rw, rw->generic, addr, false,
			     rw->propagate_generic, res, err);
		if (r == 1) {
			r = strcmp(buf_data(res), addr) != 0;
			buf_set_str(out, buf_data(res));
		}
	}
	buf_free(&res);
	return r;
}
