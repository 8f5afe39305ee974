/*
 * smtpd-spf.c - SPF (RFC 7208) on libspf2, in a worker thread.
 *
 * libspf2 evaluates; its DNS goes through a layer of ours (an
 * SPF_dns_server_t whose lookup is lib/dns's dns_lookup_sync), so the
 * answers come from the one resolver of the process (dns_servers,
 * DNSSEC, dns_timeout) and never from libspf2's own res_query.  The
 * lookups block: smtpd-authres.c runs this in the worker pool, never on
 * the loop.  libspf2 keeps RFC 7208 4.6.4's limit of 10 DNS mechanisms
 * (and 10 MX / PTR names each).
 *
 * XXX SPF_request_query_mailfrom() answers "pass" at once for loopback
 * clients (127/8, ::1); we call its two steps ourselves (get the record,
 * interpret it) so a local client is evaluated like any other: postern
 * skips $mynetworks by configuration instead, and the tests run on
 * loopback.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "dns/dns.h"

#include "smtpd-authres.h"

/* Our DNS layer: answers libspf2's lookups with lib/dns. */
static SPF_dns_rr_t *spf_lookup(SPF_dns_server_t *layer, const char *domain,
				ns_type type, int should_cache)
{
	struct dns_resolver *res = layer->hook;
	struct dns_result *r = NULL;
	struct error err;
	SPF_dns_rr_t *rr;
	int ret, herrno, n = 0;

	(void)should_cache;
	if (type != ns_t_a && type != ns_t_aaaa && type != ns_t_mx &&
	    type != ns_t_txt && type != ns_t_ptr)
		return SPF_dns_rr_new_init(layer, domain, type, 0, NO_DATA);
	ret = dns_lookup_sync(res, domain, (uint16_t)type, 0, &r, &err);
	if (ret > 0)
		herrno = NETDB_SUCCESS;
	else if (ret == 0)
		herrno = r != NULL && r->status == DNS_NXDOMAIN ? HOST_NOT_FOUND
								: NO_DATA;
	else if (r != NULL && r->status == DNS_BADNAME)
		herrno = HOST_NOT_FOUND;
	else
		herrno = TRY_AGAIN;
	rr = SPF_dns_rr_new_init(layer, domain, type,
				 r != NULL ? (int)r->ttl : 0, herrno);
	if (rr == NULL || ret <= 0) {
		dns_result_free(&r);
		return rr;
	}
	for (size_t i = 0; i < r->count; i++) {
		const struct dns_rr *x = &r->rrs[i];
		const char *name = NULL;

		if (x->type != (uint16_t)type)
			continue; /* a CNAME of the chain */
		if (type == ns_t_a) {
			const struct sockaddr_in *sin =
			    (const struct sockaddr_in *)&x->addr.sa;
			if (SPF_dns_rr_buf_realloc(rr, n,
						   sizeof(struct in_addr)))
				break;
			rr->rr[n++]->a = sin->sin_addr;
			continue;
		}
		if (type == ns_t_aaaa) {
			const struct sockaddr_in6 *sin6 =
			    (const struct sockaddr_in6 *)&x->addr.sa;
			if (SPF_dns_rr_buf_realloc(rr, n,
						   sizeof(struct in6_addr)))
				break;
			rr->rr[n++]->aaaa = sin6->sin6_addr;
			continue;
		}
		if (type == ns_t_txt) {
			if (SPF_dns_rr_buf_realloc(rr, n, x->txt.len + 1))
				break;
			memcpy(rr->rr[n]->txt, x->txt.data, x->txt.len);
			rr->rr[n++]->txt[x->txt.len] = '\0';
			continue;
		}
		name = type == ns_t_mx ? x->mx.host : x->name;
		/* A null MX (RFC 7505) names no host. */
		if (name == NULL || *name == '\0' || strcmp(name, ".") == 0)
			continue;
		if (SPF_dns_rr_buf_realloc(rr, n, strlen(name) + 1))
			break;
		strcpy(type == ns_t_mx ? rr->rr[n]->mx : rr->rr[n]->ptr, name);
		n++;
	}
	rr->num_rr = n;
	if (n == 0)
		rr->herrno = NO_DATA;
	dns_result_free(&r);
	return rr;
}

/* libspf2 prints to stdout/stderr by default; its warnings are about
 * records remote parties publish: info, not warn. */
static void spf_log_warning(const char *file, int line, const char *msg)
{
	(void)file;
	(void)line;
	log_info("spf: %s", msg);
}

static void spf_log_debug(const char *file, int line, const char *msg)
{
	(void)file;
	(void)line;
	log_debug(LOG_TRACE_DNS, "spf: %s", msg);
}

void smtpd_spf_init(void)
{
	SPF_warning_handler = spf_log_warning;
	SPF_info_handler = spf_log_debug;
	SPF_debug_handler = spf_log_debug;
}

static enum authres_spf map_result(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS:
		return AUTHRES_SPF_PASS;
	case SPF_RESULT_FAIL:
		return AUTHRES_SPF_FAIL;
	case SPF_RESULT_SOFTFAIL:
		return AUTHRES_SPF_SOFTFAIL;
	case SPF_RESULT_NEUTRAL:
		return AUTHRES_SPF_NEUTRAL;
	case SPF_RESULT_TEMPERROR:
		return AUTHRES_SPF_TEMPERROR;
	case SPF_RESULT_PERMERROR:
		return AUTHRES_SPF_PERMERROR;
	case SPF_RESULT_NONE:
	case SPF_RESULT_INVALID:
		break;
	}
	return AUTHRES_SPF_NONE;
}

/* The record could not be had: RFC 7208 4.4 / 4.5. */
static enum authres_spf map_record_error(SPF_errcode_t e)
{
	switch (e) {
	case SPF_E_NOT_SPF:
		return AUTHRES_SPF_NONE;
	case SPF_E_DNS_ERROR:
		return AUTHRES_SPF_TEMPERROR;
	default:
		return AUTHRES_SPF_PERMERROR;
	}
}

static int set_ip(SPF_request_t *req, const char *ip)
{
	/* An IPv4 client seen on an IPv6 socket is an IPv4 client. */
	if (strncasecmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.') != NULL)
		ip += 7;
	if (strchr(ip, ':') != NULL)
		return SPF_request_set_ipv6_str(req, ip) == SPF_E_SUCCESS ? 0
									  : -1;
	return SPF_request_set_ipv4_str(req, ip) == SPF_E_SUCCESS ? 0 : -1;
}

/* A HELO we can ask DNS about: a domain, not an address literal. */
static bool helo_usable(const char *helo)
{
	return helo != NULL && *helo != '\0' && *helo != '[' &&
	       strchr(helo, '.') != NULL;
}

void smtpd_spf_run(struct smtpd_spf_job *j)
{
	SPF_dns_server_t layer = {
	    .destroy = NULL, /* ours, on the stack */
	    .lookup = spf_lookup,
	    .name = "postern",
	    .hook = j->dns,
	};
	SPF_server_t *srv;
	SPF_request_t *req;
	SPF_response_t *resp = NULL;
	SPF_record_t *rec = NULL;
	SPF_errcode_t e;
	char *from;
	const char *at;

	j->result = AUTHRES_SPF_NONE;
	if (*j->sender == '\0') {
		/* RFC 7208 2.4: the null sender checks postmaster@HELO. */
		if (!helo_usable(j->helo))
			return;
		from = xasprintf("postmaster@%s", j->helo);
	} else {
		from = xstrdup(j->sender);
	}
	at = strrchr(from, '@');
	j->domain = xstrdup(at != NULL ? at + 1 : from);
	srv = SPF_server_new_dns(&layer, 0);
	if (srv == NULL) {
		j->result = AUTHRES_SPF_TEMPERROR;
		free(from);
		return;
	}
	req = SPF_request_new(srv);
	if (set_ip(req, j->ip) < 0) {
		j->result = AUTHRES_SPF_NONE;
		goto out;
	}
	if (helo_usable(j->helo))
		SPF_request_set_helo_dom(req, j->helo);
	if (SPF_request_set_env_from(req, from) != 0) {
		j->result = AUTHRES_SPF_NONE;
		goto out;
	}
	/* SPF_request_query_mailfrom() without its loopback shortcut. */
	resp = SPF_response_new(req);
	req->cur_dom = req->env_from_dp;
	e = SPF_server_get_record(srv, req, resp, &rec);
	if (e != SPF_E_SUCCESS) {
		if (rec != NULL)
			SPF_record_free(rec);
		j->result = map_record_error(e);
		goto out;
	}
	resp->spf_record_exp = rec;
	SPF_record_interpret(rec, req, resp, 0);
	SPF_record_free(rec);
	resp->spf_record_exp = NULL;
	j->result = map_result(SPF_response_result(resp));
	if (j->result == AUTHRES_SPF_FAIL &&
	    SPF_response_get_explanation(resp) != NULL)
		j->explanation = xstrdup(SPF_response_get_explanation(resp));
out:
	if (resp != NULL)
		SPF_response_free(resp);
	SPF_request_free(req);
	SPF_server_free(srv);
	free(from);
}

void smtpd_spf_job_clear(struct smtpd_spf_job *j)
{
	free(j->ip);
	free(j->sender);
	free(j->helo);
	free(j->explanation);
	free(j->domain);
	memset(j, 0, sizeof(*j));
}
