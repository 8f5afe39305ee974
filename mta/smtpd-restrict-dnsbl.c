/*
 * smtpd-restrict-dnsbl.c - the DNS list restrictions, as Postfix's
 * smtpd_check.c (find_dnsxl_addr, find_dnsxl_domain, rbl_reject_reply):
 *   reject_rbl_client zone[=pattern]   the client address listed
 *   reject_rhsbl_client/_reverse_client/_sender/_helo/_recipient
 *                                      the verified client name, the
 *                                      unverified PTR name, the sender or
 *                                      recipient domain, the HELO name
 *   permit_dnswl_client, permit_rhswl_client
 *                                      listed permits (never for a
 *                                      recipient we do not host)
 * zone=pattern: only an A record the pattern matches counts
 * (dns/dns_pattern.h).  The TXT records are $rbl_reason.  Replies come
 * from $rbl_reply_maps (keyed by the argument as written) or
 * $default_rbl_reply, expanded by smtpd-rbl-reply.c.  A lookup that fails
 * is "not listed" (logged); for an allowlist it also sets defer_if_reject.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "dns/dns.h"

#include "smtpd-rbl-reply.h"
#include "smtpd-restrict-private.h"

/* Postfix's RBL_TXT_LIMIT: the TXT records kept for $rbl_reason. */
#define RBL_TXT_LIMIT 500

/* Ask QNAME (zone=PATTERN: only the answers PATTERN matches count).
 * 1 listed, with the TXT records (" / " between them) in txt; 0 not
 * listed; -1 the lookup failed (logged). */
static int dnsxl_lookup(struct rx *e, const struct ritem *it,
			const char *qname, struct buf *txt)
{
	struct dns_result *res = NULL;
	struct error err;
	int ret = dns_lookup_sync(e->in->dns, qname, DNS_T_A, 0, &res, &err);
	bool hit = false;

	if (ret < 0 && !rx_replaying(e))
		log_warn("%s: %s: RBL lookup error: %s", e->in->log_id, qname,
			 err.msg);
	for (size_t i = 0; ret == 1 && i < res->count && !hit; i++)
		hit = res->rrs[i].type == DNS_T_A &&
		      (!it->has_pattern ||
		       dns_addr_pattern_match(&it->pattern,
					      res->rrs[i].addr.text));
	dns_result_free(&res);
	if (!hit)
		return ret < 0 ? -1 : 0;
	if (dns_lookup_sync(e->in->dns, qname, DNS_T_TXT, 0, &res, &err) == 1) {
		for (size_t i = 0; i < res->count; i++) {
			const struct dns_rr *rr = &res->rrs[i];
			size_t room;
			if (rr->type != DNS_T_TXT || buf_len(txt) >= RBL_TXT_LIMIT)
				continue;
			if (buf_len(txt) > 0)
				buf_append_str(txt, " / ");
			room = RBL_TXT_LIMIT - buf_len(txt);
			buf_append(txt, rr->txt.data,
				   rr->txt.len < room ? rr->txt.len : room);
		}
	}
	dns_result_free(&res);
	return 1;
}

/* What $name means in an RBL reply template. */
struct rbl_expand {
	struct rx *e;
	const char *domain, *what, *cls, *txt;
	char code[16];
	char *part; /* sender_name & co. (owned) */
};

static const char *address_part(struct rbl_expand *x, const char *addr,
				bool local)
{
	const char *at;

	if (addr == NULL)
		return "";
	at = strrchr(addr, '@');
	free(x->part);
	if (local)
		x->part = at != NULL ? xstrndup(addr, (size_t)(at - addr))
				     : xstrdup(addr);
	else
		x->part = xstrdup(at != NULL ? at + 1 : "");
	return x->part;
}

static const char *or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static const char *rbl_name(const char *name, void *ctx)
{
	struct rbl_expand *x = ctx;
	const struct smtpd_restrict_input *in = x->e->in;
	const char *n, *c;

	if (strcmp(name, "rbl_code") == 0)
		return x->code;
	if (strcmp(name, "rbl_domain") == 0)
		return x->domain;
	if (strcmp(name, "rbl_reason") == 0 || strcmp(name, "rbl_txt") == 0)
		return x->txt;
	if (strcmp(name, "rbl_what") == 0)
		return x->what;
	if (strcmp(name, "rbl_class") == 0)
		return x->cls;
	if (strcmp(name, "client") == 0) {
		rx_stage_name(x->e, SMTPD_RESTRICT_CLIENT, &n, &c);
		return n;
	}
	if (strcmp(name, "client_address") == 0)
		return or_empty(in->client_addr);
	if (strcmp(name, "client_name") == 0)
		return rx_client_name(x->e);
	if (strcmp(name, "reverse_client_name") == 0)
		return rx_reverse_name(x->e);
	if (strcmp(name, "helo_name") == 0)
		return or_empty(in->helo);
	if (strcmp(name, "sender") == 0)
		return or_empty(in->sender);
	if (strcmp(name, "sender_name") == 0)
		return address_part(x, in->sender, true);
	if (strcmp(name, "sender_domain") == 0)
		return address_part(x, in->sender, false);
	if (strcmp(name, "recipient") == 0)
		return or_empty(in->recipient);
	if (strcmp(name, "recipient_name") == 0)
		return address_part(x, in->recipient, true);
	if (strcmp(name, "recipient_domain") == 0)
		return address_part(x, in->recipient, false);
	return NULL;
}

/* "d.d.d " at the start of TEXT (Postfix's dsn_split): its length. */
static size_t dsn_len(const char *t)
{
	size_t n = 0;

	if (t[0] != '2' && t[0] != '4' && t[0] != '5')
		return 0;
	n = 1;
	for (int part = 0; part < 2; part++) {
		size_t digits = 0;
		if (t[n++] != '.')
			return 0;
		while (t[n] >= '0' && t[n] <= '9' && digits < 3) {
			n++;
			digits++;
		}
		if (digits == 0)
			return 0;
	}
	return t[n] == ' ' || t[n] == '\0' ? n : 0;
}

/* Postfix's rbl_reject_reply(): $rbl_reply_maps or $default_rbl_reply. */
static int rbl_reply(struct rx *e, const struct ritem *it, const char *what,
		     const char *cls, const char *txt)
{
	const struct smtpd_restrict *r = e->r;
	struct rbl_expand x = {.e = e, .domain = it->arg, .what = what,
			       .cls = cls, .txt = txt};
	struct buf *tmpl = buf_new(), *out = buf_new();
	struct error err;
	int res;

	snprintf(x.code, sizeof(x.code), "%u", r->codes.maps_rbl_reject_code);
	if (r->rbl_reply_map != NULL) {
		int ret = map_lookup(r->rbl_reply_map, it->whole, tmpl, &err);
		if (ret < 0) {
			log_warn("%s: rbl_reply_maps: lookup of %s: %s",
				 e->in->log_id, it->whole, err.msg);
			res = rx_reject(e, 451, "4.3.5",
					"Server configuration error");
			goto out;
		}
		if (ret == 1 && smtpd_rbl_expand(buf_data(tmpl), rbl_name, &x,
						 out) < 0) {
			log_warn("%s: bad rbl reply template for domain %s: %s",
				 e->in->log_id, it->whole, buf_data(tmpl));
			buf_reset(out);
			ret = 0;
		}
		if (ret == 1)
			goto check;
	}
	if (smtpd_rbl_expand(r->default_rbl_reply, rbl_name, &x, out) < 0)
		buf_reset(out); /* checked at start-up: not reached */
check:;
	const char *t = buf_data(out);
	if ((t[0] != '4' && t[0] != '5') || t[1] < '0' || t[1] > '9' ||
	    t[2] < '0' || t[2] > '9' || t[3] != ' ') {
		log_warn("%s: rbl response code configuration error: %s",
			 e->in->log_id, t);
		res = rx_reject(e, 450, "4.7.1", "Service unavailable");
		goto out;
	}
	unsigned code = (unsigned)atoi(t);
	char dsn[SMTP_ENHANCED_MAX] = "4.7.1";
	const char *text = t + 4;
	size_t n = dsn_len(text);
	if (n > 0 && n < sizeof(dsn)) {
		memcpy(dsn, text, n);
		dsn[n] = '\0';
		text += n;
		while (*text == ' ')
			text++;
	}
	res = rx_reject(e, code, dsn, "%s",
			*text != '\0' ? text : "Service unavailable");
out:
	free(x.part);
	buf_free(&tmpl);
	buf_free(&out);
	return res;
}

/* Postfix's find_dnsxl_domain() name rules: the domain of WHAT (an
 * address or a name); NULL when it is not asked (an address literal, a
 * numeric last label, not a valid host name). */
static const char *dnsxl_domain(const char *what)
{
	const char *at, *d, *dot, *label;
	size_t len;

	if (what == NULL)
		return NULL;
	at = strrchr(what, '@');
	d = at != NULL ? at + 1 : what;
	if (*d == '\0' || *d == '[')
		return NULL;
	dot = strrchr(d, '.');
	label = dot != NULL ? dot + 1 : d;
	if (strspn(label, "0123456789") == strlen(label))
		return NULL;
	len = strlen(d);
	if (len > 255)
		return NULL;
	for (const char *p = d, *start = d;; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == start || p - start > 63 || *start == '-' ||
			    p[-1] == '-')
				return NULL;
			if (*p == '\0')
				return d;
			start = p + 1;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return NULL;
	}
}

/* reject_rbl_client / permit_dnswl_client: the client address. */
static int dnsxl_addr(struct rx *e, const struct ritem *it, struct buf *txt)
{
	char qname[DNS_NAME_TEXT_MAX];
	struct error err;

	if (e->in->client_addr == NULL ||
	    dns_dnsbl_name(e->in->client_addr, it->arg, qname, sizeof(qname),
			   &err) < 0)
		return 0;
	return dnsxl_lookup(e, it, qname, txt);
}

/* reject_rhsbl_* / permit_rhswl_client: the domain of WHAT. */
static int dnsxl_name(struct rx *e, const struct ritem *it, const char *what,
		      struct buf *txt)
{
	const char *domain = dnsxl_domain(what);
	char *qname;
	int ret;

	if (domain == NULL)
		return 0;
	qname = xasprintf("%s.%s", domain, it->arg);
	ret = dnsxl_lookup(e, it, qname, txt);
	free(qname);
	return ret;
}

/* reject_rbl_client, reject_rhsbl_*: listed is refused. */
static int dnsbl(struct rx *e, const struct ritem *it, const char *what,
		 const char *cls)
{
	struct buf *txt = buf_new();
	int ret = it->kind == RK_RBL_CLIENT ? dnsxl_addr(e, it, txt)
					    : dnsxl_name(e, it, what, txt);
	int res = RX_DUNNO;

	if (ret == 1)
		res = rbl_reply(e, it, what, cls, buf_data(txt));
	buf_free(&txt);
	return res;
}

/* permit_dnswl_client, permit_rhswl_client: listed permits, except a
 * recipient we do not host (Postfix: never an open relay by DNSWL). */
static int dnswl(struct rx *e, const struct ritem *it, const char *what)
{
	const struct smtpd_restrict_input *in = e->in;
	struct buf *txt;
	int ret;

	if (in->recipient != NULL) {
		struct error err;
		if (in->is_local == NULL ||
		    in->is_local(in->is_local_ctx, in->recipient, &err) != 1)
			return RX_DUNNO;
	}
	txt = buf_new();
	ret = it->kind == RK_DNSWL_CLIENT ? dnsxl_addr(e, it, txt)
					  : dnsxl_name(e, it, what, txt);
	buf_free(&txt);
	if (ret == 1)
		return RX_OK;
	if (ret < 0) /* Postfix: DEFER_IF_REJECT when the list fails */
		e->defer_if_reject = true;
	return RX_DUNNO;
}

int rx_dnsxl(struct rx *e, const struct ritem *it)
{
	const struct smtpd_restrict_input *in = e->in;
	const char *name;

	switch (it->kind) {
	case RK_RBL_CLIENT:
		return dnsbl(e, it, in->client_addr, "Client host");
	case RK_RHSBL_CLIENT:
		name = rx_client_name(e);
		if (strcmp(name, "unknown") == 0)
			return RX_DUNNO;
		return dnsbl(e, it, name, "Client host");
	case RK_RHSBL_SENDER:
		if (in->sender == NULL || *in->sender == '\0')
			return RX_DUNNO;
		return dnsbl(e, it, in->sender, "Sender address");
	case RK_RHSBL_HELO:
		return dnsbl(e, it, in->helo, "Helo command");
	case RK_RHSBL_RCPT:
		return dnsbl(e, it, in->recipient, "Recipient address");
	case RK_RHSBL_REV_CLIENT:
		name = rx_reverse_name(e);
		if (strcmp(name, "unknown") == 0)
			return RX_DUNNO;
		return dnsbl(e, it, name, "Unverified Client host");
	case RK_DNSWL_CLIENT:
		return dnswl(e, it, in->client_addr);
	case RK_RHSWL_CLIENT:
		name = rx_client_name(e);
		if (strcmp(name, "unknown") == 0)
			return RX_DUNNO;
		return dnswl(e, it, name);
	default:
		return RX_DUNNO;
	}
}
