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
		} else if (strcasecmp(w, "protocols") == 0) {
			if (tls_protocols_parse(eq + 1, &out->min_version,
						&out->max_version, err) < 0)
				return -1;
		} else if (strcasecmp(w, "ciphers") == 0) {
			if (tls_cipher_grade_list(eq + 1) == NULL)
				return error_set(
				    err, ERR_CONFIG,
				    "ciphers=%s: unknown cipher grade (export, "
				    "low, medium, high or null)",
				    eq + 1);
			str_copy(out->ciphers, eq + 1, sizeof(out->ciphers));
			str_lower(out->ciphers);
		} else if (strcasecmp(w, "exclude") == 0) {
			char list[1024];

			if (str_copy(out->exclude, eq + 1,
				     sizeof(out->exclude)) >=
			    sizeof(out->exclude))
				return error_set(err, ERR_CONFIG,
						 "exclude= too long");
			/* Check the words now, not at the first delivery. */
			if (tls_cipherlist_build(NULL, out->exclude, false,
						 list, sizeof(list), err) < 0)
				return -1;
		} else {
			out->ignored_attrs = true;
		}
	}
	return 0;
}

/* Postfix's protocol names, oldest first; index order is version order. */
static const struct {
	const char *name;
	int version; /* wire version; 0: one Postern never speaks */
} protocols[] = {
    {"SSLv2", 0},
    {"SSLv3", 0},
    {"TLSv1", 0},
    {"TLSv1.1", 0},
    {"TLSv1.2", TLS_POLICY_TLS12},
    {"TLSv1.3", TLS_POLICY_TLS13},
};
#define NPROTOCOLS (sizeof(protocols) / sizeof(protocols[0]))

static int protocol_index(const char *name)
{
	for (size_t i = 0; i < NPROTOCOLS; i++)
		if (strcasecmp(name, protocols[i].name) == 0)
			return (int)i;
	return -1;
}

int tls_protocols_parse(const char *value, int *min_r, int *max_r,
			struct error *err)
{
	char tmp[512], *save = NULL, *w;
	bool on[NPROTOCOLS], any_include = false, include[NPROTOCOLS];
	int lo = 0, hi = (int)NPROTOCOLS - 1, n = 0;

	*min_r = *max_r = 0;
	if (str_copy(tmp, value, sizeof(tmp)) >= sizeof(tmp))
		return error_set(err, ERR_CONFIG, "protocols= too long");
	memset(include, 0, sizeof(include));
	for (size_t i = 0; i < NPROTOCOLS; i++)
		on[i] = true;
	for (w = strtok_r(tmp, ": ,\t", &save); w != NULL;
	     w = strtok_r(NULL, ": ,\t", &save), n++) {
		const char *name = w;
		int i;

		if (w[0] == '!' || w[0] == '>' || w[0] == '<')
			name = w + (w[0] == '!' ? 1 : 2);
		if ((w[0] == '>' || w[0] == '<') && w[1] != '=')
			name = "";
		if ((i = protocol_index(name)) < 0)
			return error_set(
			    err, ERR_CONFIG,
			    "protocols: unknown TLS protocol "
			    "\"%s\" (SSLv2, SSLv3, TLSv1, TLSv1.1, "
			    "TLSv1.2, TLSv1.3; !, >= or <= before "
			    "a name)",
			    w);
		if (w[0] == '!')
			on[i] = false;
		else if (w[0] == '>')
			lo = i > lo ? i : lo;
		else if (w[0] == '<')
			hi = i < hi ? i : hi;
		else
			include[i] = any_include = true;
	}
	if (n == 0)
		return 0;
	for (int i = 0; i < (int)NPROTOCOLS; i++) {
		int v = protocols[i].version;

		if (!on[i] || i < lo || i > hi || v == 0 ||
		    (any_include && !include[i]))
			continue;
		if (*min_r == 0)
			*min_r = v;
		*max_r = v;
	}
	if (*min_r == 0)
		return error_set(err, ERR_CONFIG,
				 "protocols %s: no protocol left that Postern "
				 "speaks (TLSv1.2, TLSv1.3)",
				 value);
	/* Two versions only: the allowed set never has a hole. */
	return 0;
}

static const struct {
	const char *grade, *list;
} grades[] = {
    /* Postfix's default tls_<grade>_cipherlist values. */
    {"export", "aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH"},
    {"low", "aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH"},
    {"medium", "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH"},
    {"high", "aNULL:-aNULL:HIGH:@STRENGTH"},
    {"null", "eNULL:!aNULL"},
};

const char *tls_cipher_grade_list(const char *grade)
{
	for (size_t i = 0; i < sizeof(grades) / sizeof(grades[0]); i++)
		if (strcasecmp(grade, grades[i].grade) == 0)
			return grades[i].list;
	return NULL;
}

int tls_cipherlist_build(const char *base, const char *exclude, bool no_anon,
			 char *out, size_t outlen, struct error *err)
{
	struct buf *b = buf_new();
	char tmp[512], *save = NULL, *w;
	int rc = 0;

	buf_printf(b, "%s", base != NULL && *base != '\0' ? base : "DEFAULT");
	if (str_copy(tmp, exclude != NULL ? exclude : "", sizeof(tmp)) >=
	    sizeof(tmp)) {
		rc = error_set(err, ERR_CONFIG, "exclude= too long");
		goto done;
	}
	for (w = strtok_r(tmp, ": ,\t", &save); w != NULL;
	     w = strtok_r(NULL, ": ,\t", &save)) {
		/* Postfix refuses operators here: an exclusion is a name. */
		bool ok = w[0] != '-';

		for (const char *c = w; *c != '\0' && ok; c++)
			ok = isalnum((unsigned char)*c) || *c == '-' ||
			     *c == '_' || *c == '.';
		if (!ok) {
			rc = error_set(err, ERR_CONFIG,
				       "exclude: \"%s\" is not a cipher name "
				       "or type",
				       w);
			goto done;
		}
		buf_printf(b, ":!%s", w);
	}
	if (no_anon)
		buf_printf(b, ":!aNULL");
	if (str_copy(out, buf_data(b), outlen) >= outlen)
		rc = error_set(err, ERR_CONFIG, "cipher list too long");
done:
	buf_free(&b);
	return rc;
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
		/* The reason first: a long (inline:) spec gets cut. */
		return error_set(err, ERR_CONFIG, "key %s: %s (in %s)", key,
				 msg, map_spec(map));
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
