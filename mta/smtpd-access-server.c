/*
 * smtpd-access-server.c - the access tables searched by something DNS
 * says about a name, as Postfix's check_server_access():
 *   check_{client,reverse_client_hostname,helo,sender,recipient}_mx_access
 *       the MX hosts of the domain (no MX: the domain itself; a null MX:
 *       nothing), each by its name (and parent domains), then by each of
 *       its IPv4/IPv6 addresses (and parent networks);
 *   ..._ns_access  the same with the NS hosts (no NS records: those of
 *       the nearest parent domain that has some);
 *   ..._a_access   the domain's own addresses only.
 * An address literal ([192.0.2.1]) is its own MX or A (no NS).  A DNS
 * failure is no match (logged), as Postfix.  An OK result is refused
 * with 451 4.3.5: these tables may only refuse (use DUNNO for an
 * exception).  Also check_reverse_client_hostname_access (the
 * unverified PTR name, then the address) and check_sasl_access (the
 * login name).  Reply names and classes are Postfix's.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "dns/dns.h"

#include "smtpd-restrict-private.h"

enum subject { SUBJ_CLIENT, SUBJ_REV, SUBJ_HELO, SUBJ_SENDER, SUBJ_RCPT };

struct server_check {
	struct rx *e;
	struct map *map;
	uint16_t type;	  /* DNS_T_A, DNS_T_MX or DNS_T_NS */
	const char *name; /* reply name and class */
	const char *cls;
	const char *what; /* the restriction, for logs */
};

static bool ip_text(const char *s)
{
	unsigned char b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* HOST's addresses against the table.  1 decided (*res_r). */
static int host_addrs(struct server_check *c, const char *host, int *res_r)
{
	static const uint16_t types[] = {DNS_T_A, DNS_T_AAAA};
	int failed = 0;

	for (size_t t = 0; t < 2; t++) {
		struct dns_result *res = NULL;
		struct error err;
		int ret = dns_lookup_sync(c->e->in->dns, host, types[t], 0,
					  &res, &err);
		if (ret < 0)
			failed = 1;
		for (size_t i = 0; ret == 1 && i < res->count; i++) {
			if (res->rrs[i].type != types[t])
				continue;
			if (rx_access_search(c->e, c->map, RX_SEARCH_ADDR,
					     res->rrs[i].addr.text, c->name,
					     c->cls, res_r)) {
				dns_result_free(&res);
				return 1;
			}
		}
		dns_result_free(&res);
	}
	if (failed && c->type != DNS_T_A && !rx_replaying(c->e))
		log_warn("%s: %s: unable to look up host %s for %s %s",
			 c->e->in->log_id, c->what, host, c->cls, c->name);
	return 0;
}

/* One server host: by name (MX, NS), then by address. */
static int server_host(struct server_check *c, const char *host, int *res_r)
{
	if (ip_text(host))
		return rx_access_search(c->e, c->map, RX_SEARCH_ADDR, host,
					c->name, c->cls, res_r);
	if (c->type != DNS_T_A &&
	    rx_access_search(c->e, c->map, RX_SEARCH_DOMAIN, host, c->name,
			     c->cls, res_r))
		return 1;
	return host_addrs(c, host, res_r);
}

static void lookup_warning(struct server_check *c, const char *domain,
			   const char *why)
{
	if (!rx_replaying(c->e))
		log_warn("%s: %s: unable to look up %s host for %s: %s",
			 c->e->in->log_id, c->what,
			 c->type == DNS_T_MX ? "MX" : "NS", domain, why);
}

static int mx_servers(struct server_check *c, const char *domain, int *res_r)
{
	struct dns_mx_list *list = NULL;
	struct error err;
	int ret = dns_mx_hosts_sync(c->e->in->dns, domain, &list, &err);
	int found = 0;

	if (ret < 0) {
		lookup_warning(c, domain, err.msg);
	} else if (ret == 0 && list != NULL && list->null_mx) {
		/* A null MX: nothing to check. */
	} else if (ret == 0 || list->implicit) {
		/* No MX (or no such domain): the domain is its own MX. */
		found = server_host(c, domain, res_r);
	} else {
		for (size_t i = 0; i < list->count && !found; i++)
			found = server_host(c, list->hosts[i].host, res_r);
	}
	dns_mx_list_free(&list);
	return found;
}

static int ns_servers(struct server_check *c, const char *domain, int *res_r)
{
	struct dns_result *res = NULL;
	struct error err;
	int ret =
	    dns_lookup_sync(c->e->in->dns, domain, DNS_T_NS, 0, &res, &err);
	int found = 0;

	/* No NS records here: the nearest parent domain's. */
	while (ret == 0) {
		const char *dot = strchr(domain, '.');
		if (dot == NULL || dot[1] == '\0')
			break;
		domain = dot + 1;
		dns_result_free(&res);
		ret = dns_lookup_sync(c->e->in->dns, domain, DNS_T_NS, 0, &res,
				      &err);
	}
	if (ret != 1) {
		lookup_warning(c, domain, err.msg);
		dns_result_free(&res);
		return 0;
	}
	for (size_t i = 0; i < res->count && !found; i++)
		if (res->rrs[i].type == DNS_T_NS)
			found = server_host(c, res->rrs[i].name, res_r);
	dns_result_free(&res);
	return found;
}

/* Postfix's check_server_access(); the RX_ result. */
static int check_server(struct server_check *c, const char *subject)
{
	const char *at = strrchr(subject, '@');
	const char *domain = at != NULL ? at + 1 : subject;
	int res = RX_DUNNO;

	if (*domain == '\0')
		return RX_DUNNO;
	if (*domain == '[') {
		size_t len = strlen(domain);
		if (c->type == DNS_T_NS || domain[len - 1] != ']')
			return RX_DUNNO;
		char *addr = xstrndup(domain + 1, len - 2);
		const char *bare = addr;
		if (strncasecmp(bare, "IPv6:", 5) == 0)
			bare += 5;
		if (ip_text(bare))
			rx_access_search(c->e, c->map, RX_SEARCH_ADDR, bare,
					 c->name, c->cls, &res);
		free(addr);
		return res;
	}
	if (c->e->in->dns == NULL)
		return RX_DUNNO;
	if (c->type == DNS_T_A)
		server_host(c, domain, &res);
	else if (c->type == DNS_T_MX)
		mx_servers(c, domain, &res);
	else
		ns_servers(c, domain, &res);
	return res;
}

/* Postfix's forbid_allowlist(): these tables may not permit. */
static int forbid_ok(struct rx *e, const char *what, const char *target,
		     int res)
{
	if (res != RX_OK || e->v->discard)
		return res;
	if (!rx_replaying(e))
		log_warn("%s: restriction %s returns OK for %s; this is not "
			 "allowed for security reasons; use DUNNO instead of "
			 "OK if you want to make an exception",
			 e->in->log_id, what, target);
	return rx_reject(e, 451, "4.3.5", "Server configuration error");
}

static const struct {
	enum rkind kind;
	enum subject subj;
	uint16_t type; /* 0: check_reverse_client_hostname_access */
	const char *what;
} kinds[] = {
    {RK_CLIENT_A_ACCESS, SUBJ_CLIENT, DNS_T_A, "check_client_a_access"},
    {RK_CLIENT_MX_ACCESS, SUBJ_CLIENT, DNS_T_MX, "check_client_mx_access"},
    {RK_CLIENT_NS_ACCESS, SUBJ_CLIENT, DNS_T_NS, "check_client_ns_access"},
    {RK_REV_CLIENT_ACCESS, SUBJ_REV, 0, "check_reverse_client_hostname_access"},
    {RK_REV_CLIENT_A_ACCESS, SUBJ_REV, DNS_T_A,
     "check_reverse_client_hostname_a_access"},
    {RK_REV_CLIENT_MX_ACCESS, SUBJ_REV, DNS_T_MX,
     "check_reverse_client_hostname_mx_access"},
    {RK_REV_CLIENT_NS_ACCESS, SUBJ_REV, DNS_T_NS,
     "check_reverse_client_hostname_ns_access"},
    {RK_HELO_A_ACCESS, SUBJ_HELO, DNS_T_A, "check_helo_a_access"},
    {RK_HELO_MX_ACCESS, SUBJ_HELO, DNS_T_MX, "check_helo_mx_access"},
    {RK_HELO_NS_ACCESS, SUBJ_HELO, DNS_T_NS, "check_helo_ns_access"},
    {RK_SENDER_A_ACCESS, SUBJ_SENDER, DNS_T_A, "check_sender_a_access"},
    {RK_SENDER_MX_ACCESS, SUBJ_SENDER, DNS_T_MX, "check_sender_mx_access"},
    {RK_SENDER_NS_ACCESS, SUBJ_SENDER, DNS_T_NS, "check_sender_ns_access"},
    {RK_RCPT_A_ACCESS, SUBJ_RCPT, DNS_T_A, "check_recipient_a_access"},
    {RK_RCPT_MX_ACCESS, SUBJ_RCPT, DNS_T_MX, "check_recipient_mx_access"},
    {RK_RCPT_NS_ACCESS, SUBJ_RCPT, DNS_T_NS, "check_recipient_ns_access"},
};

static int sasl_access(struct rx *e, const struct ritem *it)
{
	const char *user = e->in->sasl_user;
	int res = RX_DUNNO;

	if (user == NULL || *user == '\0')
		return RX_DUNNO;
	/* The reply shows the login with unprintable bytes as '_'. */
	char *sane = xstrdup(user);
	for (char *p = sane; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '_';
	rx_access_search(e, it->map, RX_SEARCH_KEY, user, sane,
			 "SASL login name", &res);
	free(sane);
	return res;
}

int rx_server_access(struct rx *e, const struct ritem *it)
{
	const struct smtpd_restrict_input *in = e->in;
	size_t k = 0;
	const char *subject = NULL;
	int res = RX_DUNNO;

	if (it->kind == RK_SASL_ACCESS)
		return sasl_access(e, it);
	while (k < sizeof(kinds) / sizeof(kinds[0]) &&
	       kinds[k].kind != it->kind)
		k++;
	if (k == sizeof(kinds) / sizeof(kinds[0]))
		return RX_DUNNO;
	struct server_check c = {.e = e,
				 .map = it->map,
				 .type = kinds[k].type,
				 .what = kinds[k].what};
	switch (kinds[k].subj) {
	case SUBJ_CLIENT:
		subject = rx_client_name(e);
		if (strcmp(subject, "unknown") == 0)
			return RX_DUNNO;
		rx_stage_name(e, SMTPD_RESTRICT_CLIENT, &c.name, &c.cls);
		break;
	case SUBJ_REV:
		subject = rx_reverse_name(e);
		c.name = subject;
		c.cls = "Unverified Client host";
		if (kinds[k].type == 0) {
			/* As check_client_access: the name (unless unknown,
			 * which Postfix looks up too), then the address. */
			if (!rx_access_search(e, it->map, RX_SEARCH_DOMAIN,
					      subject, c.name, c.cls, &res) &&
			    in->client_addr != NULL)
				rx_access_search(e, it->map, RX_SEARCH_ADDR,
						 in->client_addr, c.name, c.cls,
						 &res);
			return forbid_ok(e, kinds[k].what, subject, res);
		}
		if (strcmp(subject, "unknown") == 0)
			return RX_DUNNO;
		break;
	case SUBJ_HELO:
		subject = in->helo;
		c.name = subject;
		c.cls = "Helo command";
		break;
	case SUBJ_SENDER:
		subject = in->sender;
		c.name = subject;
		c.cls = "Sender address";
		break;
	case SUBJ_RCPT:
		subject = in->recipient;
		c.name = subject;
		c.cls = "Recipient address";
		break;
	}
	if (subject == NULL || *subject == '\0')
		return RX_DUNNO;
	res = check_server(&c, subject);
	return forbid_ok(e, kinds[k].what, subject, res);
}
