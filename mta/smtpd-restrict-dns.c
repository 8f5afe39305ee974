/*
 * smtpd-restrict-dns.c - the restrictions that ask DNS, through lib/dns's
 * blocking lookups (they run in the worker pool):
 *   reject_rbl_client, reject_rhsbl_*, permit_dnswl_client,
 *   permit_rhswl_client                DNS lists: smtpd-restrict-dnsbl.c
 *   reject_unknown_reverse_client_hostname  no PTR name
 *   reject_unknown_sender_domain, reject_unknown_recipient_domain
 *                                      no MX and no A/AAAA (or a null MX)
 *   reject_unknown_client_hostname     no forward-confirmed reverse name
 *   reject_unknown_helo_hostname       no A, AAAA or MX for the HELO name
 * As Postfix, a DNSBL lookup that fails is "not listed" (logged); the
 * other checks defer (defer_if_permit) when DNS fails temporarily.
 * Without a resolver they find nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "dns/dns.h"

#include "smtpd-restrict-private.h"

static const char *domain_of(const char *addr)
{
	const char *at;

	if (addr == NULL || (at = strrchr(addr, '@')) == NULL)
		return NULL;
	return at + 1;
}

const char *rx_reverse_name(struct rx *e)
{
	char qname[DNS_NAME_TEXT_MAX];
	struct dns_result *res = NULL;
	struct error err;
	int ret;

	if (e->reverse_name != NULL)
		return e->reverse_name;
	e->reverse_name = "unknown";
	e->reverse_name_status = 0;
	if (e->in->client_addr == NULL || e->in->dns == NULL ||
	    dns_reverse_name(e->in->client_addr, qname, sizeof(qname), &err) <
		0)
		return e->reverse_name;
	ret = dns_lookup_sync(e->in->dns, qname, DNS_T_PTR, 0, &res, &err);
	e->reverse_name_status = ret < 0 ? -1 : 0;
	for (size_t i = 0; ret == 1 && i < res->count; i++) {
		if (res->rrs[i].type != DNS_T_PTR || *res->rrs[i].name == '\0')
			continue;
		snprintf(e->reverse_name_text, sizeof(e->reverse_name_text),
			 "%s", res->rrs[i].name);
		e->reverse_name = e->reverse_name_text;
		e->reverse_name_status = 1;
		break;
	}
	dns_result_free(&res);
	return e->reverse_name;
}

/* 1: the name has records of TYPE, 0: none, -1: failure. */
static int has_records(struct rx *e, const char *name, uint16_t type)
{
	struct dns_result *res = NULL;
	struct error err;
	int ret = dns_lookup_sync(e->in->dns, name, type, 0, &res, &err);

	dns_result_free(&res);
	return ret;
}

/* 1 the domain can take mail, 0 it has no address nor MX, -1 DNS
 * failed; *null_mx_r for a null MX. */
static int domain_exists(struct rx *e, const char *domain, bool *null_mx_r)
{
	struct dns_mx_list *list = NULL;
	struct error err;
	int ret = dns_mx_hosts_sync(e->in->dns, domain, &list, &err);

	*null_mx_r = list != NULL && list->null_mx;
	if (ret == 1 && !list->implicit) {
		dns_mx_list_free(&list);
		return 1;
	}
	dns_mx_list_free(&list);
	if (ret == 0 || ret < 0)
		return ret;
	/* No MX: the domain's own address. */
	int a = has_records(e, domain, DNS_T_A);
	if (a == 1)
		return 1;
	int aaaa = has_records(e, domain, DNS_T_AAAA);
	if (aaaa == 1)
		return 1;
	return a < 0 || aaaa < 0 ? -1 : 0;
}

static int unknown_domain(struct rx *e, const char *addr, bool sender)
{
	const char *domain = domain_of(addr);
	const char *cls = sender ? "Sender address" : "Recipient address";
	bool null_mx;
	int ret;

	if (domain == NULL || *domain == '\0' || domain[0] == '[')
		return RX_DUNNO;
	if (!sender && e->in->is_local != NULL) {
		struct error err;
		/* Our own domains need no DNS. */
		if (e->in->is_local(e->in->is_local_ctx, addr, &err) == 1)
			return RX_DUNNO;
	}
	ret = domain_exists(e, domain, &null_mx);
	if (ret == 1)
		return RX_DUNNO;
	if (null_mx)
		return rx_reject(e, sender ? 550 : 556,
				 sender ? "5.7.27" : "5.1.10",
				 "<%s>: %s rejected: Domain %s does not "
				 "accept mail (nullMX)",
				 addr, cls, domain);
	if (ret == 0)
		return rx_reject(e, e->r->codes.unknown_address_reject_code,
				 sender ? "x.1.8" : "x.1.2",
				 "<%s>: %s rejected: Domain not found", addr,
				 cls);
	/* $unknown_address_tempfail_action, with Postfix's 450. */
	return rx_tempfail(e, e->r->unknown_address_tf_defer, 450,
			   sender ? "4.1.8" : "4.1.2",
			   "<%s>: %s rejected: Domain not found", addr, cls);
}

static int unknown_helo(struct rx *e, const char *helo)
{
	int ret[3];

	if (helo == NULL || *helo == '\0' || helo[0] == '[')
		return RX_DUNNO;
	ret[0] = has_records(e, helo, DNS_T_A);
	if (ret[0] == 1)
		return RX_DUNNO;
	ret[1] = has_records(e, helo, DNS_T_AAAA);
	if (ret[1] == 1)
		return RX_DUNNO;
	ret[2] = has_records(e, helo, DNS_T_MX);
	if (ret[2] == 1)
		return RX_DUNNO;
	if (ret[0] < 0 || ret[1] < 0 || ret[2] < 0)
		return rx_tempfail(e, e->r->unknown_helo_tf_defer, 450, "4.7.1",
				   "<%s>: Helo command rejected: Host not "
				   "found",
				   helo);
	return rx_reject(e, e->r->codes.unknown_hostname_reject_code, "x.7.1",
			 "<%s>: Helo command rejected: Host not found", helo);
}

int rx_dns(struct rx *e, const struct ritem *it)
{
	const struct smtpd_restrict_input *in = e->in;

	if (in->dns == NULL)
		return RX_DUNNO;
	switch (it->kind) {
	case RK_RBL_CLIENT:
	case RK_RHSBL_CLIENT:
	case RK_RHSBL_SENDER:
	case RK_RHSBL_HELO:
	case RK_RHSBL_RCPT:
	case RK_RHSBL_REV_CLIENT:
	case RK_DNSWL_CLIENT:
	case RK_RHSWL_CLIENT:
		return rx_dnsxl(e, it);
	case RK_UNKNOWN_REV_CLIENT:
		if (in->client_addr == NULL)
			return RX_DUNNO;
		rx_reverse_name(e);
		if (e->reverse_name_status == 1)
			return RX_DUNNO;
		if (e->reverse_name_status < 0)
			return rx_tempfail(e, e->r->unknown_client_tf_defer,
					   450, "4.7.1",
					   "Client host rejected: cannot find "
					   "your reverse hostname, [%s]",
					   in->client_addr);
		return rx_reject(e, e->r->codes.unknown_client_reject_code,
				 "4.7.1",
				 "Client host rejected: cannot find your "
				 "reverse hostname, [%s]",
				 in->client_addr);
	case RK_UNKNOWN_SENDER_DOMAIN:
		return unknown_domain(e, in->sender, true);
	case RK_UNKNOWN_RCPT_DOMAIN:
		return unknown_domain(e, in->recipient, false);
	case RK_UNKNOWN_CLIENT:
		if (in->client_addr == NULL)
			return RX_DUNNO;
		rx_client_name(e);
		if (e->client_name_status == 1)
			return RX_DUNNO;
		if (e->client_name_status < 0)
			return rx_tempfail(
			    e, e->r->unknown_client_tf_defer, 450, "4.7.25",
			    "Client host rejected: cannot find your hostname, "
			    "[%s]",
			    in->client_addr);
		return rx_reject(e, e->r->codes.unknown_client_reject_code,
				 "x.7.25",
				 "Client host rejected: cannot find your "
				 "hostname, [%s]",
				 in->client_addr);
	case RK_UNKNOWN_HELO:
		return unknown_helo(e, in->helo);
	default:
		return RX_DUNNO;
	}
}
