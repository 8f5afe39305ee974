/*
 * psc-dnsbl.c - postscreen_dnsbl_sites parsing and scoring (psc-dnsbl.h).
 * The filters are lib/dns's reply patterns (dns/dns_pattern.h), shared
 * with smtpd's reject_rbl_client.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "dns/dns_pattern.h"

#include "psc-dnsbl.h"

struct site {
	char *domain;
	bool has_filter;
	struct dns_addr_pattern filter; /* dns/dns_pattern.h */
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

static bool parse_filter(const char *text, struct site *s)
{
	s->has_filter = dns_addr_pattern_parse(text, &s->filter);
	return s->has_filter;
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

	return !s->has_filter || dns_addr_pattern_match(&s->filter, addr);
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
