/*
 * dns_fcrdns - forward-confirmed reverse DNS: the PTR names of an
 * address, kept only if they resolve back to it (Postfix's "verified"
 * client name, used by reject_unknown_client_hostname).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "dns/dns_private.h"
#include "ev/ev.h"

struct fc_addr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char bytes[16];
	char text[46];
};

/* One PTR name and what its forward lookup said. */
struct fc_name {
	struct dns_fcrdns *f;
	char *name;
	struct dns_query *q;
	int ret; /* 1 leads back, 0 does not, -1 lookup failed */
	struct error err;
};

struct dns_fcrdns {
	struct dns_resolver *res;
	struct fc_addr addr;
	struct error err; /* an invalid ip, reported from a timer */
	struct dns_query *ptr_q;
	size_t n, left;
	struct fc_name names[DNS_FCRDNS_MAX_NAMES];
	dns_fcrdns_fn *cb;
	void *ctx;
};

/* ip as text; an IPv4-mapped IPv6 address becomes IPv4. */
static int parse_ip(const char *ip, struct fc_addr *a, struct error *err)
{
	struct in6_addr in6;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, ip, a->bytes) == 1) {
		a->family = AF_INET;
	} else if (inet_pton(AF_INET6, ip, &in6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&in6)) {
			a->family = AF_INET;
			memcpy(a->bytes, in6.s6_addr + 12, 4);
		} else {
			a->family = AF_INET6;
			memcpy(a->bytes, in6.s6_addr, 16);
		}
	} else {
		return error_set(err, ERR_PERM, "not an IP address: \"%s\"",
				 ip);
	}
	inet_ntop(a->family, a->bytes, a->text, sizeof(a->text));
	return 0;
}

static uint16_t fwd_type(const struct fc_addr *a)
{
	return a->family == AF_INET ? DNS_T_A : DNS_T_AAAA;
}

/* Does the forward answer r lead back to a?  1/0/-1 with err. */
static int leads_back(const struct dns_result *r, const struct fc_addr *a,
		      struct error *err)
{
	int ret = dns_result_outcome(r, 0, err);

	if (ret != 1)
		return ret;
	for (size_t i = 0; i < r->count; i++) {
		const struct dns_rr *rr = &r->rrs[i];
		const void *p;
		if (rr->type != fwd_type(a))
			continue;
		if (a->family == AF_INET)
			p = &((const struct sockaddr_in *)&rr->addr.sa)->sin_addr;
		else
			p = &((const struct sockaddr_in6 *)&rr->addr.sa)
				 ->sin6_addr;
		if (memcmp(p, a->bytes, a->family == AF_INET ? 4 : 16) == 0)
			return 1;
	}
	error_set(err, ERR_PERM, "%s: address %s not among its %s records",
		  r->qname, a->text, a->family == AF_INET ? "A" : "AAAA");
	return 0;
}

/* The PTR names of an answer, at most DNS_FCRDNS_MAX_NAMES, into names. */
static size_t ptr_names(const struct dns_result *r, struct fc_name *names)
{
	size_t n = 0;

	for (size_t i = 0; i < r->count && n < DNS_FCRDNS_MAX_NAMES; i++)
		if (r->rrs[i].type == DNS_T_PTR)
			names[n++].name = xstrdup(r->rrs[i].name);
	return n;
}

/* The verdict over all names: the first that leads back wins; else a
 * failed lookup makes it temporary; else permanent. */
static int decide(const struct fc_addr *a, const struct fc_name *names,
		  size_t n, const char **name_r, struct error *err)
{
	const struct fc_name *temp = NULL;

	*name_r = NULL;
	for (size_t i = 0; i < n; i++) {
		if (names[i].ret == 1) {
			*name_r = names[i].name;
			return 1;
		}
		if (names[i].ret < 0 && temp == NULL)
			temp = &names[i];
	}
	if (temp != NULL) {
		*err = temp->err;
		error_prefix(err, "%s: reverse name not confirmed", a->text);
		return -1;
	}
	if (n == 1) {
		*err = names[0].err;
		error_prefix(err, "%s: reverse name not confirmed", a->text);
	} else {
		error_set(err, ERR_PERM,
			  "%s: none of its %zu PTR names resolves back to it",
			  a->text, n);
	}
	return 0;
}

/* ---- Asynchronous. */

static void fc_invalid(struct ev *ev, struct dns_fcrdns *f);

static void fc_free(struct dns_fcrdns *f)
{
	EV_TIMER_DEL(dns_resolver_ev(f->res), fc_invalid, f);
	for (size_t i = 0; i < f->n; i++) {
		dns_cancel(&f->names[i].q);
		free(f->names[i].name);
	}
	dns_cancel(&f->ptr_q);
	free(f);
}

static void fc_finish(struct dns_fcrdns *f, const char *name, int ret,
		      const struct error *err)
{
	f->cb(name, ret, err, f->ctx);
	fc_free(f);
}

static void fc_invalid(struct ev *ev, struct dns_fcrdns *f)
{
	fc_finish(f, NULL, -1, &f->err);
}

static void fc_forward_done(struct dns_result *r, int ret,
			    const struct error *e, void *ctx)
{
	struct fc_name *nm = ctx;
	struct dns_fcrdns *f = nm->f;
	const char *name;
	struct error err;

	nm->q = NULL;
	error_clear(&nm->err);
	nm->ret = leads_back(r, &f->addr, &nm->err);
	dns_result_free(&r);
	if (--f->left > 0)
		return;
	error_clear(&err);
	ret = decide(&f->addr, f->names, f->n, &name, &err);
	fc_finish(f, name, ret, ret == 1 ? NULL : &err);
}

static void fc_ptr_done(struct dns_result *r, int ret, const struct error *e,
			void *ctx)
{
	struct dns_fcrdns *f = ctx;
	struct error err;

	f->ptr_q = NULL;
	if (ret != 1) {
		err = *e;
		error_prefix(&err, "%s: no reverse name", f->addr.text);
		dns_result_free(&r);
		fc_finish(f, NULL, ret, &err);
		return;
	}
	f->n = f->left = ptr_names(r, f->names);
	dns_result_free(&r);
	if (f->n == 0) {
		const char *name;
		error_clear(&err);
		ret = decide(&f->addr, f->names, 0, &name, &err);
		fc_finish(f, NULL, ret, &err);
		return;
	}
	for (size_t i = 0; i < f->n; i++) {
		f->names[i].f = f;
		f->names[i].q = dns_lookup(f->res, f->names[i].name,
					   fwd_type(&f->addr), 0,
					   fc_forward_done, &f->names[i]);
	}
}

struct dns_fcrdns *dns_fcrdns(struct dns_resolver *res, const char *ip,
			      dns_fcrdns_fn *cb, void *ctx)
{
	struct dns_fcrdns *f = xcalloc(1, sizeof(*f));
	char rev[DNS_NAME_TEXT_MAX];

	f->res = res;
	f->cb = cb;
	f->ctx = ctx;
	if (parse_ip(ip, &f->addr, &f->err) < 0 ||
	    dns_reverse_name(f->addr.text, rev, sizeof(rev), &f->err) < 0) {
		/* Never call back before returning. */
		EV_TIMER_ADD(dns_resolver_ev(res), 0, fc_invalid, f);
		return f;
	}
	f->ptr_q = dns_lookup(res, rev, DNS_T_PTR, 0, fc_ptr_done, f);
	return f;
}

void dns_fcrdns_cancel(struct dns_fcrdns **fp)
{
	if (*fp == NULL)
		return;
	fc_free(*fp);
	*fp = NULL;
}

/* ---- Blocking. */

int dns_fcrdns_sync(struct dns_resolver *res, const char *ip, char **name_r,
		    struct error *err)
{
	struct fc_name names[DNS_FCRDNS_MAX_NAMES];
	char rev[DNS_NAME_TEXT_MAX];
	struct dns_result *r;
	struct fc_addr a;
	const char *name;
	size_t n;
	int ret;

	*name_r = NULL;
	if (parse_ip(ip, &a, err) < 0 ||
	    dns_reverse_name(a.text, rev, sizeof(rev), err) < 0)
		return -1;
	ret = dns_lookup_sync(res, rev, DNS_T_PTR, 0, &r, err);
	if (ret != 1) {
		error_prefix(err, "%s: no reverse name", a.text);
		dns_result_free(&r);
		return ret;
	}
	memset(names, 0, sizeof(names));
	n = ptr_names(r, names);
	dns_result_free(&r);
	for (size_t i = 0; i < n; i++) {
		error_clear(&names[i].err);
		dns_lookup_sync(res, names[i].name, fwd_type(&a), 0, &r,
				&names[i].err);
		names[i].ret = leads_back(r, &a, &names[i].err);
		dns_result_free(&r);
		if (names[i].ret == 1)
			break; /* the first confirmed name wins */
	}
	ret = decide(&a, names, n, &name, err);
	if (ret == 1)
		*name_r = xstrdup(name);
	for (size_t i = 0; i < n; i++)
		free(names[i].name);
	return ret;
}
