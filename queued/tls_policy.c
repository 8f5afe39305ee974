/*
 * tls_policy.c - security levels and smtp_tls_policy_maps values.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/str.h"
#include "map/map.h"

#include "tls_policy.h"

static const char *const level_names[] = {
    [TLS_LEV_NONE] = "none",	       [TLS_LEV_MAY] = "may",
    [TLS_LEV_ENCRYPT] = "encrypt",     [TLS_LEV_DANE] = "dane",
    [TLS_LEV_DANE_ONLY] = "dane-only", [TLS_LEV_VERIFY] = "verify",
    [TLS_LEV_SECURE] = "secure",
};

int tls_level_parse(const char *word, enum tls_level *level_r)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++)
		if (strcasecmp(word, level_names[i]) == 0) {
			*level_r = (enum tls_level)i;
			return 0;
		}
	return -1;
}

const char *tls_level_name(enum tls_level level)
{
	return (size_t)level < sizeof(level_names) / sizeof(level_names[0])
		   ? level_names[level]
		   : "?";
}

/* The next white-space separated word of *s, NUL-terminated in place. */
static char *next_word(char **s)
{
	char *p = *s, *start;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0')
		return NULL;
	start = p;
	while (*p != '\0' && !isspace((unsigned char)*p))
		p++;
	if (*p != '\0')
		*p++ = '\0';
	*s = p;
	return start;
}

int tls_policy_parse(const char *value, struct tls_policy *out,
		     struct error *err)
{
	char tmp[1024], *p = tmp, *w;

	memset(out, 0, sizeof(*out));
	if (str_copy(tmp, value, sizeof(tmp)) >= sizeof(tmp))
		return error_set(err, ERR_CONFIG, "TLS policy too long");
	w = next_word(&p);
	if (w == NULL)
		return error_set(err, ERR_CONFIG, "empty TLS policy");
	if (tls_level_parse(w, &out->level) < 0)
		return error_set(err, ERR_CONFIG,
				 "unknown TLS security level \"%s\"", w);
	while ((w = next_word(&p)) != NULL) {
		char *eq = strchr(w, '=');

		if (eq == NULL || eq == w)
			return error_set(err, ERR_CONFIG,
					 "TLS policy attribute \"%s\": "
					 "expected name=value",
					 w);
		*eq = '\0';
		if (strcasecmp(w, "match") == 0) {
			if (eq[1] == '\0')
				return error_set(err, ERR_CONFIG,
						 "empty match= in TLS policy");
			str_copy(out->match, eq + 1, sizeof(out->match));
		} else {
			out->ignored_attrs = true;
		}
	}
	return 0;
}

size_t tls_policy_names(const char *match, const char *mxhost,
			const char *nexthop, char names[][256], size_t max)
{
	char tmp[1024], *save = NULL, *w;
	size_t n = 0;

	str_copy(tmp, match, sizeof(tmp));
	for (w = strtok_r(tmp, ": ,\t", &save); w != NULL && n < max;
	     w = strtok_r(NULL, ": ,\t", &save)) {
		if (strcasecmp(w, "hostname") == 0) {
			if (mxhost == NULL || *mxhost == '\0')
				continue;
			str_copy(names[n], mxhost, 256);
		} else if (strcasecmp(w, "nexthop") == 0) {
			str_copy(names[n], nexthop, 256);
		} else if (strcasecmp(w, "dot-nexthop") == 0) {
			names[n][0] = '.';
			str_copy(names[n] + 1, nexthop, 255);
		} else {
			str_copy(names[n], w, 256);
		}
		str_lower(names[n]);
		n++;
	}
	return n;
}

static int lookup_one(struct map *map, const char *key, struct buf *v,
		      struct tls_policy *out, struct error *err)
{
	int r = map_lookup(map, key, v, err);

	if (r <= 0)
		return r;
	if (tls_policy_parse(buf_data(v), out, err) < 0) {
		char msg[sizeof(err->msg)];

		str_copy(msg, err->msg, sizeof(msg));
		return error_set(err, ERR_CONFIG, "%s: key %s: %s",
				 map_spec(map), key, msg);
	}
	return 1;
}

int tls_policy_lookup(struct map *map, const char *nexthop,
		      struct tls_policy *out, struct error *err)
{
	struct buf *v = buf_new();
	char dom[256];
	const char *d;
	int r;

	r = lookup_one(map, nexthop, v, out, err);
	if (r != 0 || nexthop[0] == '[')
		goto done;
	str_copy(dom, nexthop, sizeof(dom));
	if (strchr(dom, ':') != NULL)
		*strchr(dom, ':') = '\0';
	if (strcmp(dom, nexthop) != 0 &&
	    (r = lookup_one(map, dom, v, out, err)) != 0)
		goto done;
	/* ".parent" entries match subdomains (Postfix's
	 * parent_domain_matches_subdomains form). */
	for (d = strchr(dom, '.'); d != NULL; d = strchr(d + 1, '.'))
		if ((r = lookup_one(map, d, v, out, err)) != 0)
			goto done;
	r = 0;
done:
	buf_free(&v);
	return r;
}
