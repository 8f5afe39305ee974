/*
 * authres-dmarc.c - DMARC's pure parts: the record (RFC 7489 6.3), the
 * organizational domain (3.2) from the public suffix list through libpsl,
 * and identifier alignment (3.1).  Our own code rather than
 * libopendmarc: LIBRARIES.md lists its parsing CVEs, and what we need is
 * small.  The record parser is fuzzed (tests/fuzz/fuzz_authres.c).
 */
#include <ctype.h>
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"

#include "smtpd-authres.h"

const char *dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case DMARC_POLICY_REJECT:
		return "reject";
	case DMARC_POLICY_NONE:
		break;
	}
	return "none";
}

const char *dmarc_result_name(enum dmarc_result r)
{
	static const char *const names[] = {"none", "pass", "fail", "temperror",
					    "permerror"};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r]
							      : "none";
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* One "tag=value" between p and end, blanks trimmed. */
static void trim(const char **p, const char **end)
{
	while (*p < *end && is_wsp(**p))
		(*p)++;
	while (*end > *p && is_wsp((*end)[-1]))
		(*end)--;
}

static bool value_is(const char *v, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp(v, word, n) == 0;
}

static int parse_policy(const char *v, size_t n, enum dmarc_policy *p)
{
	if (value_is(v, n, "none"))
		*p = DMARC_POLICY_NONE;
	else if (value_is(v, n, "quarantine"))
		*p = DMARC_POLICY_QUARANTINE;
	else if (value_is(v, n, "reject"))
		*p = DMARC_POLICY_REJECT;
	else
		return -1;
	return 0;
}

int dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *r)
{
	const char *p = txt, *end = txt + len;
	bool first = true, sp_set = false;

	memset(r, 0, sizeof(*r));
	r->pct = 100;
	while (p <= end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *te = semi != NULL ? semi : end;
		const char *tag = p, *eq, *v, *ve;

		p = te + 1;
		trim(&tag, &te);
		if (tag == te) {
			if (first)
				return 0;
			continue;
		}
		eq = memchr(tag, '=', (size_t)(te - tag));
		if (eq == NULL) {
			if (first)
				return 0;
			continue;
		}
		const char *tn = tag, *tne = eq;
		v = eq + 1;
		ve = te;
		trim(&tn, &tne);
		trim(&v, &ve);
		size_t tl = (size_t)(tne - tn), vl = (size_t)(ve - v);
		if (first) {
			/* RFC 7489 6.4: v=DMARC1 must come first, exactly. */
			if (tl != 1 || tn[0] != 'v' || vl != 6 ||
			    memcmp(v, "DMARC1", 6) != 0)
				return 0;
			first = false;
			continue;
		}
		if (tl == 1 && tn[0] == 'p') {
			if (parse_policy(v, vl, &r->p) < 0)
				r->p = DMARC_POLICY_NONE;
		} else if (tl == 2 && memcmp(tn, "sp", 2) == 0) {
			sp_set = parse_policy(v, vl, &r->sp) == 0;
		} else if (tl == 3 && memcmp(tn, "pct", 3) == 0) {
			unsigned n = 0;
			size_t i;
			for (i = 0;
			     i < vl && i < 4 && isdigit((unsigned char)v[i]);
			     i++)
				n = n * 10 + (unsigned)(v[i] - '0');
			if (i == vl && vl > 0 && n <= 100)
				r->pct = n;
		} else if (tl == 5 && memcmp(tn, "adkim", 5) == 0) {
			r->adkim_strict = value_is(v, vl, "s");
		} else if (tl == 4 && memcmp(tn, "aspf", 4) == 0) {
			r->aspf_strict = value_is(v, vl, "s");
		}
	}
	if (first)
		return 0;
	if (!sp_set)
		r->sp = r->p;
	return 1;
}

struct authres_psl {
	psl_ctx_t *ctx;
	bool builtin; /* psl_builtin() must not be freed */
};

struct authres_psl *authres_psl_load(const char *file, struct error *err)
{
	struct authres_psl *psl = xcalloc(1, sizeof(*psl));

	if (file == NULL || *file == '\0') {
		psl->ctx = (psl_ctx_t *)psl_builtin();
		psl->builtin = true;
	} else {
		psl->ctx = psl_load_file(file);
	}
	if (psl->ctx == NULL) {
		free(psl);
		error_set(err, ERR_CONFIG, "public suffix list %s: cannot load",
			  file != NULL && *file != '\0' ? file : "(built in)");
		return NULL;
	}
	return psl;
}

void authres_psl_free(struct authres_psl **psl)
{
	if (*psl == NULL)
		return;
	if (!(*psl)->builtin)
		psl_free((*psl)->ctx);
	free(*psl);
	*psl = NULL;
}

static void lower_copy(const char *s, char *out, size_t size)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	/* A trailing dot names the same domain. */
	if (i > 0 && out[i - 1] == '.')
		i--;
	out[i] = '\0';
}

void authres_org_domain(const struct authres_psl *psl, const char *domain,
			char *out, size_t size)
{
	char low[256];
	const char *reg;

	lower_copy(domain, low, sizeof(low));
	reg = psl != NULL ? psl_registrable_domain(psl->ctx, low) : NULL;
	snprintf(out, size, "%s", reg != NULL ? reg : low);
}

bool authres_aligned(const struct authres_psl *psl, const char *a,
		     const char *b, bool strict)
{
	char oa[256], ob[256];

	if (a == NULL || b == NULL || *a == '\0' || *b == '\0')
		return false;
	if (strict) {
		lower_copy(a, oa, sizeof(oa));
		lower_copy(b, ob, sizeof(ob));
		return strcmp(oa, ob) == 0;
	}
	authres_org_domain(psl, a, oa, sizeof(oa));
	authres_org_domain(psl, b, ob, sizeof(ob));
	return strcmp(oa, ob) == 0;
}
