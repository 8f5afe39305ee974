/*
 * dns_result - turning libunbound's answers into struct dns_result, and
 * the one mapping from answers to 1/0/-1 outcomes.
 */
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "dns/dns_private.h"
#include "dns/dns_rdata.h"

struct dns_result *dns_result_empty(const char *name, uint16_t type,
				    enum dns_status status)
{
	struct dns_result *r = xcalloc(1, sizeof(*r));

	r->qname = xstrdup(name);
	r->canonname = xstrdup(name);
	r->qtype = type;
	r->status = status;
	r->rcode = status == DNS_NXDOMAIN ? 3 : status == DNS_NOERROR ||
					    status == DNS_NODATA ? 0 : 2;
	return r;
}

struct dns_result *dns_result_from_ub(const char *name, uint16_t type,
				      int ub_err, const struct ub_result *ub)
{
	struct dns_result *r;
	char tbuf[16];

	if (ub_err != 0 || ub == NULL) {
		r = dns_result_empty(name, type, DNS_SERVFAIL);
		log_debug(LOG_TRACE_DNS, "dns %s %s: %s", name,
			  dns_type_name(type, tbuf), ub_strerror(ub_err));
		return r;
	}
	r = dns_result_empty(name, type, DNS_NOERROR);
	r->rcode = ub->rcode;
	if (ub->canonname != NULL) {
		size_t n = strlen(ub->canonname);
		free(r->canonname);
		/* Our names never carry the final dot. */
		r->canonname = xstrndup(ub->canonname,
					n > 1 && ub->canonname[n - 1] == '.'
					    ? n - 1
					    : n);
	}
	r->ttl = ub->ttl > 0 ? (uint32_t)ub->ttl : 0;
	if (ub->secure)
		r->security = DNS_SECURE;
	if (ub->bogus) {
		r->security = DNS_SECURITY_BOGUS;
		r->status = DNS_BOGUS;
		if (ub->why_bogus != NULL)
			r->why_bogus = xstrdup(ub->why_bogus);
	} else if (ub->rcode == 3 || ub->nxdomain) {
		r->status = DNS_NXDOMAIN;
	} else if (ub->rcode != 0) {
		r->status = DNS_SERVFAIL;
	} else if (!ub->havedata) {
		r->status = DNS_NODATA;
	}
	if (!ub->havedata || ub->data == NULL)
		return r;
	size_t n = 0;
	while (ub->data[n] != NULL)
		n++;
	r->rrs = xcalloc(n > 0 ? n : 1, sizeof(*r->rrs));
	for (size_t i = 0; i < n; i++) {
		struct error err;
		if (ub->len[i] < 0 ||
		    dns_rdata_parse(type, (const uint8_t *)ub->data[i],
				    (size_t)ub->len[i], &r->rrs[r->count],
				    &err) < 0) {
			/* A record we cannot read is one we cannot use;
			 * the others still count. */
			log_warn("dns %s %s: record %zu skipped: %s", name,
				 dns_type_name(type, tbuf), i,
				 ub->len[i] < 0 ? "negative length" : err.msg);
			continue;
		}
		r->count++;
	}
	return r;
}

void dns_result_free(struct dns_result **result)
{
	struct dns_result *r = *result;

	if (r == NULL)
		return;
	for (size_t i = 0; i < r->count; i++)
		dns_rr_clear(&r->rrs[i]);
	free(r->rrs);
	free(r->qname);
	free(r->canonname);
	free(r->why_bogus);
	free(r);
	*result = NULL;
}

int dns_result_outcome(const struct dns_result *r, unsigned flags,
		       struct error *err)
{
	char tbuf[16];
	const char *t = dns_type_name(r->qtype, tbuf);

	switch (r->status) {
	case DNS_NOERROR:
		if (r->count > 0)
			return 1;
		error_set_code(err, ERR_PERM, "not_found",
			       "%s %s: no usable record", r->qname, t);
		return 0;
	case DNS_NODATA:
		error_set_code(err, ERR_PERM, "not_found", "%s: no %s record",
			       r->qname, t);
		return 0;
	case DNS_NXDOMAIN:
		error_set_code(err, ERR_PERM, "not_found",
			       "%s: no such domain (NXDOMAIN)", r->qname);
		return 0;
	case DNS_SERVFAIL:
		return error_set(err, ERR_TEMP,
				 "%s %s: lookup failed (rcode %d)", r->qname,
				 t, r->rcode);
	case DNS_TIMEOUT:
		return error_set(err, ERR_TEMP, "%s %s: DNS timeout", r->qname,
				 t);
	case DNS_BADNAME:
		return error_set(err, ERR_PERM, "\"%s\": not a valid domain name",
				 r->qname);
	case DNS_BOGUS:
		if ((flags & DNS_RAW) && r->count > 0)
			return 1;
		return error_set(err, ERR_TEMP,
				 "%s %s: DNSSEC validation failed: %s",
				 r->qname, t,
				 r->why_bogus != NULL ? r->why_bogus : "bogus");
	}
	return error_set(err, ERR_TEMP, "%s %s: unknown DNS status", r->qname,
			 t);
}
