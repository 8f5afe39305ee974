/*
 * psc-dnsbl.c - postscreen_dnsbl_sites parsing and scoring (psc-dnsbl.h).
 * A filter is kept as one 256-bit set per octet, so matching an answer is
 * four bit tests whatever the ranges were.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/str.h"
#include "core/xmalloc.h"

#include "psc-dnsbl.h"

struct site {
	char *domain;
	bool has_filter;
	uint8_t octets[4][32];
	int weight;
};

struct psc_dnsbl {
	struct site *sites;
	size_t n;
	char **domains;
	size_t ndomains;
};

/* Longest DNS name in text, without escapes (RFC 1035 2.3.4). */
#define PSC_DOMAIN_MAX 253

static void bit_set(uint8_t *set, unsigned v)
{
	set[v / 8] |= (uint8_t)(1u << (v % 8));
}

static bool bit_test(const uint8_t *set, unsigned v)
{
	return (set[v / 8] >> (v % 8)) & 1;
}

/* A decimal 0..255 at *p; advances *p. */
static bool octet_number(const char **p, unsigned *v_r)
{
	unsigned v = 0;
	int digits = 0;

	while (isdigit((unsigned char)**p) && digits < 4) {
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
		digits++;
	}
	if (digits == 0 || digits > 3 || v > 255)
		return false;
	*v_r = v;
	return true;
}

/* One octet pattern: N or [item;item..], item N or N..M. */
static bool octet_pattern(const char **p, uint8_t *set)
{
	unsigned a, b;

	if (**p != '[') {
		if (!octet_number(p, &a))
			return false;
		bit_set(set, a);
		return true;
	}
	(*p)++;
	for (;;) {
		if (!octet_number(p, &a))
			return false;
		b = a;
		if ((*p)[0] == '.' && (*p)[1] == '.') {
			*p += 2;
			if (!octet_number(p, &b) || b < a)
				return false;
		}
		for (unsigned v = a; v <= b; v++)
			bit_set(set, v);
		if (**p == ';') {
			(*p)++;
			continue;
		}
		if (**p != ']')
			return false;
		(*p)++;
		return true;
	}
}

static bool parse_filter(const char *text, struct site *s)
{
	const char *p = text;

	for (int i = 0; i < 4; i++) {
		if (i > 0 && *p++ != '.')
			return false;
		if (!octet_pattern(&p, s->octets[i]))
			return false;
	}
	s->has_filter = true;
	return *p == '\0';
}

static bool valid_domain(const char *d)
{
	size_t len = strlen(d);

	if (len == 0 || len > PSC_DOMAIN_MAX || d[0] == '.' ||
	    strstr(d, "..") != NULL)
		return false;
	for (const char *p = d; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' &&
		    *p != '_')
			return false;
	return true;
}

static int parse_site(const char *entry, struct site *s, struct error *err)
{
	char *text = xstrdup(entry);
	char *star = strchr(text, '*'), *eq;
	long long w = 1;
	int ret = -1;

	if (star != NULL) {
		*star = '\0';
		if (!str_to_i64(star + 1, &w) || w < -1000000 || w > 1000000) {
			error_set(err, ERR_CONFIG,
				  "postscreen_dnsbl_sites: \"%.100s\": bad "
				  "weight",
				  entry);
			goto out;
		}
	}
	eq = strchr(text, '=');
	if (eq != NULL) {
		*eq = '\0';
		if (!parse_filter(eq + 1, s)) {
			error_set(err, ERR_CONFIG,
				  "postscreen_dnsbl_sites: \"%.100s\": bad "
				  "filter (a.b.c.d, an octet may be "
				  "[n..m;k])",
				  entry);
			goto out;
		}
	}
	size_t len = strlen(text);
	if (len > 0 && text[len - 1] == '.')
		text[len - 1] = '\0';
	str_lower(text);
	if (!valid_domain(text)) {
		error_set(err, ERR_CONFIG,
			  "postscreen_dnsbl_sites: \"%.100s\": bad domain",
			  entry);
		goto out;
	}
	s->domain = xstrdup(text);
	s->weight = (int)w;
	ret = 0;
out:
	free(text);
	return ret;
}

struct psc_dnsbl *psc_dnsbl_parse(const char *spec, struct error *err)
{
	struct array *items = str_split(spec, ", \t\r\n");
	struct psc_dnsbl *d = xcalloc(1, sizeof(*d));

	d->sites = xcalloc(array_len(items) + 1, sizeof(*d->sites));
	d->domains = xcalloc(array_len(items) + 1, sizeof(*d->domains));
	for (size_t i = 0; i < array_len(items); i++) {
		struct site *s = &d->sites[d->n];
		if (parse_site(array_get(items, i), s, err) < 0) {
			array_free_with(&items, free);
			psc_dnsbl_free(&d);
			return NULL;
		}
		d->n++;
		bool seen = false;
		for (size_t k = 0; k < d->ndomains && !seen; k++)
			seen = strcmp(d->domains[k], s->domain) == 0;
		if (!seen)
			d->domains[d->ndomains++] = s->domain;
	}
	array_free_with(&items, free);
	return d;
}

void psc_dnsbl_free(struct psc_dnsbl **dp)
{
	struct psc_dnsbl *d = *dp;

	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->sites[i].domain);
	free(d->sites);
	free(d->domains);
	free(d);
	*dp = NULL;
}

size_t psc_dnsbl_count(const struct psc_dnsbl *d)
{
	return d->n;
}

const char *psc_dnsbl_site_domain(const struct psc_dnsbl *d, size_t i)
{
	return d->sites[i].domain;
}

int psc_dnsbl_site_weight(const struct psc_dnsbl *d, size_t i)
{
	return d->sites[i].weight;
}

size_t psc_dnsbl_ndomains(const struct psc_dnsbl *d)
{
	return d->ndomains;
}

const char *psc_dnsbl_domain_at(const struct psc_dnsbl *d, size_t i)
{
	return d->domains[i];
}

bool psc_dnsbl_site_match(const struct psc_dnsbl *d, size_t i,
			  const char *addr)
{
	const struct site *s = &d->sites[i];
	const char *p = addr;
	unsigned v;

	if (!s->has_filter)
		return true;
	for (int k = 0; k < 4; k++) {
		if (k > 0 && *p++ != '.')
			return false;
		if (!octet_number(&p, &v) || !bit_test(s->octets[k], v))
			return false;
	}
	return *p == '\0';
}

int psc_dnsbl_score(const struct psc_dnsbl *d, const char *domain,
		    const char *const *addrs, size_t n, long *top_r)
{
	int score = 0;
	long top = -1;

	for (size_t i = 0; i < d->n; i++) {
		if (strcmp(d->sites[i].domain, domain) != 0)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (!psc_dnsbl_site_match(d, i, addrs[k]))
				continue;
			score += d->sites[i].weight;
			if (top < 0 || d->sites[i].weight >
					   d->sites[top].weight)
				top = (long)i;
			break;
		}
	}
	if (top_r != NULL)
		*top_r = top;
	return score;
}
