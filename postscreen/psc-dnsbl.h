/*
 * psc-dnsbl - postscreen_dnsbl_sites: the list syntax and the score.
 *
 * Syntax (Postfix's postscreen(8)): sites separated by commas or white
 * space, each `domain[=filter][*weight]`:
 *   zen.example                 any A answer counts, weight 1
 *   list.example=127.0.0.[2..11]*3
 *   swl.example=127.0.[0..255].[1;3;5..9]*-2   an allowlist
 * A filter is four octets, each a number or a bracketed list of numbers
 * and n..m ranges separated by `;`.  The weight is a signed integer.  The
 * same domain may appear several times with different filters; it is
 * asked once, and each entry whose filter matches one of the answers adds
 * its weight once.
 *
 * Ownership: a parsed list owns its strings; psc_dnsbl_free() frees it.
 * Pure functions, no I/O: any thread.  Errors are ERR_CONFIG naming the
 * entry.
 */
#ifndef POSTERN_PSC_DNSBL_H
#define POSTERN_PSC_DNSBL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

struct psc_dnsbl;

/* Parse SPEC (empty: an empty list).  NULL with err on a syntax error. */
struct psc_dnsbl *psc_dnsbl_parse(const char *spec, struct error *err);
void psc_dnsbl_free(struct psc_dnsbl **d);

/* Entries in the order given, and their parts (borrowed). */
size_t psc_dnsbl_count(const struct psc_dnsbl *d);
const char *psc_dnsbl_site_domain(const struct psc_dnsbl *d, size_t i);
int psc_dnsbl_site_weight(const struct psc_dnsbl *d, size_t i);

/* The distinct domains to ask (lower-case, no trailing dot). */
size_t psc_dnsbl_ndomains(const struct psc_dnsbl *d);
const char *psc_dnsbl_domain_at(const struct psc_dnsbl *d, size_t i);

/* Does entry I's filter accept the IPv4 address text ADDR ("127.0.0.2")?
 * No filter: any address. */
bool psc_dnsbl_site_match(const struct psc_dnsbl *d, size_t i,
			  const char *addr);

/*
 * The score DOMAIN's answer (ADDRS, N address texts) adds: the sum of the
 * weights of the entries for DOMAIN that match one of them.  *top_r (may
 * be NULL) is set to the matching entry with the largest weight, or -1.
 */
int psc_dnsbl_score(const struct psc_dnsbl *d, const char *domain,
		    const char *const *addrs, size_t n, long *top_r);

#endif
