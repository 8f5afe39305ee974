/*
 * dns_mx - the mail exchangers of a domain: MX records by preference,
 * the implicit MX (RFC 5321 5.1) and the null MX (RFC 7505).
 */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "dns/dns_private.h"

void dns_mx_list_free(struct dns_mx_list **listp)
{
	struct dns_mx_list *l = *listp;

	if (l == NULL)
		return;
	for (size_t i = 0; i < l->count; i++)
		free(l->hosts[i].host);
	free(l->hosts);
	free(l->domain);
	free(l);
	*listp = NULL;
}

static void add_host(struct dns_mx_list *l, uint16_t pref, const char *host)
{
	size_t i = l->count;

	l->hosts = xreallocarray(l->hosts, l->count + 1, sizeof(*l->hosts));
	/* Insertion keeps equal preferences in answer order (stable); the
	 * caller shuffles them (RFC 5321 5.1). */
	while (i > 0 && l->hosts[i - 1].pref > pref) {
		l->hosts[i] = l->hosts[i - 1];
		i--;
	}
	l->hosts[i].pref = pref;
	l->hosts[i].host = xstrdup(host);
	l->count++;
}

int dns_mx_from_result(const struct dns_result *r, const char *domain,
		       struct dns_mx_list **list_r, struct error *err)
{
	struct dns_mx_list *l = xcalloc(1, sizeof(*l));
	size_t n = strlen(domain);
	size_t nulls = 0;
	int ret;

	l->domain = xstrndup(domain, n > 1 && domain[n - 1] == '.' ? n - 1 : n);
	l->security = r->security;
	l->ttl = r->ttl;
	*list_r = l;
	ret = dns_result_outcome(r, 0, err);
	if (ret < 0)
		return -1;
	if (ret == 0) {
		if (r->status == DNS_NXDOMAIN)
			return 0;
		/* No MX records: the domain is its own MX (RFC 5321 5.1);
		 * whether it has an address is the caller's next lookup. */
		error_clear(err);
		l->implicit = true;
		add_host(l, 0, l->domain);
		return 1;
	}
	for (size_t i = 0; i < r->count; i++) {
		const struct dns_rr *rr = &r->rrs[i];
		if (rr->type != DNS_T_MX)
			continue;
		if (strcmp(rr->mx.host, ".") == 0) {
			nulls++;
			continue;
		}
		add_host(l, rr->mx.pref, rr->mx.host);
	}
	if (l->count == 0 && nulls > 0) {
		/* RFC 7505 3: the domain accepts no mail. */
		l->null_mx = true;
		error_set_code(err, ERR_PERM, "null_mx",
			       "%s accepts no mail (null MX)", l->domain);
		return 0;
	}
	/* XXX RFC 7505 says a null MX must stand alone; next to real MX
	 * records it is ignored and the others are used, as Postfix does. */
	if (l->count == 0)
		return error_set(err, ERR_TEMP, "%s: no usable MX record",
				 l->domain);
	return 1;
}

int dns_mx_hosts_sync(struct dns_resolver *res, const char *domain,
		      struct dns_mx_list **list_r, struct error *err)
{
	struct dns_result *r;
	int ret;

	dns_lookup_sync(res, domain, DNS_T_MX, 0, &r, err);
	ret = dns_mx_from_result(r, domain, list_r, err);
	dns_result_free(&r);
	return ret;
}

struct mx_wait {
	dns_mx_fn *cb;
	void *ctx;
	char *domain;
};

static void mx_answer(struct dns_result *r, int ret, const struct error *e,
		      void *ctx)
{
	struct mx_wait *w = ctx;
	struct dns_mx_list *l;
	struct error err;

	error_clear(&err);
	ret = dns_mx_from_result(r, w->domain, &l, &err);
	dns_result_free(&r);
	w->cb(l, ret, ret == 1 ? NULL : &err, w->ctx);
	free(w->domain);
	free(w);
}

static void mx_cancelled(void *ctx)
{
	struct mx_wait *w = ctx;

	free(w->domain);
	free(w);
}

struct dns_query *dns_mx_hosts(struct dns_resolver *res, const char *domain,
			       dns_mx_fn *cb, void *ctx)
{
	struct mx_wait *w = xcalloc(1, sizeof(*w));

	w->cb = cb;
	w->ctx = ctx;
	w->domain = xstrdup(domain);
	return dns_lookup_hook(res, domain, DNS_T_MX, 0, mx_answer, w,
			       mx_cancelled);
}
