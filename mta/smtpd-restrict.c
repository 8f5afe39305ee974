/*
 * smtpd-restrict.c - parsing the restriction lists and evaluating them
 * (smtpd-restrict.h).  The access map results are in smtpd-access.c.
 * Reply texts and codes follow Postfix's smtpd_check.c behaviour, written
 * from postconf(5) and access(5).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "dns/dns.h"

#include "smtpd-greylist.h"
#include "smtpd-policy.h"
#include "smtpd-rbl-reply.h"
#include "smtpd-restrict-private.h"
#include "smtpd-verify.h"

static const struct rword words[] = {
    {"permit", RK_PERMIT, RA_NONE, false},
    {"reject", RK_REJECT, RA_NONE, false},
    {"defer", RK_DEFER, RA_NONE, false},
    {"warn_if_reject", RK_WARN_IF_REJECT, RA_NONE, false},
    {"defer_if_permit", RK_DEFER_IF_PERMIT, RA_NONE, false},
    {"defer_if_reject", RK_DEFER_IF_REJECT, RA_NONE, false},
    {"permit_mynetworks", RK_PERMIT_MYNETWORKS, RA_NONE, false},
    {"permit_sasl_authenticated", RK_PERMIT_SASL, RA_NONE, false},
    {"reject_unauth_destination", RK_REJECT_UNAUTH_DEST, RA_NONE, false},
    {"permit_auth_destination", RK_PERMIT_AUTH_DEST, RA_NONE, false},
    {"reject_non_fqdn_helo_hostname", RK_NON_FQDN_HELO, RA_NONE, false},
    {"reject_non_fqdn_hostname", RK_NON_FQDN_HELO, RA_NONE, false},
    {"reject_invalid_helo_hostname", RK_INVALID_HELO, RA_NONE, false},
    {"reject_invalid_hostname", RK_INVALID_HELO, RA_NONE, false},
    {"reject_non_fqdn_sender", RK_NON_FQDN_SENDER, RA_NONE, false},
    {"reject_non_fqdn_recipient", RK_NON_FQDN_RCPT, RA_NONE, false},
    {"check_client_access", RK_CLIENT_ACCESS, RA_MAP, true},
    {"check_helo_access", RK_HELO_ACCESS, RA_MAP, false},
    {"check_sender_access", RK_SENDER_ACCESS, RA_MAP, false},
    {"check_recipient_access", RK_RCPT_ACCESS, RA_MAP, false},
    {"reject_unauth_pipelining", RK_UNAUTH_PIPELINING, RA_NONE, false},
    {"reject_rbl_client", RK_RBL_CLIENT, RA_ZONE, true},
    {"reject_rhsbl_client", RK_RHSBL_CLIENT, RA_ZONE, true},
    {"reject_rhsbl_sender", RK_RHSBL_SENDER, RA_ZONE, true},
    {"reject_rhsbl_helo", RK_RHSBL_HELO, RA_ZONE, true},
    {"reject_unknown_sender_domain", RK_UNKNOWN_SENDER_DOMAIN, RA_NONE, true},
    {"reject_unknown_recipient_domain", RK_UNKNOWN_RCPT_DOMAIN, RA_NONE, true},
    {"reject_unknown_client_hostname", RK_UNKNOWN_CLIENT, RA_NONE, true},
    {"reject_unknown_client", RK_UNKNOWN_CLIENT, RA_NONE, true},
    {"reject_unknown_helo_hostname", RK_UNKNOWN_HELO, RA_NONE, true},
    {"reject_unknown_hostname", RK_UNKNOWN_HELO, RA_NONE, true},
    {"check_policy_service", RK_POLICY, RA_POLICY, false},
    /* Not a Postfix name: built-in greylisting in SQL. */
    {"check_greylist", RK_GREYLIST, RA_NONE, false},
    /* Not a Postfix name: each recipient domain's own list in SQL. */
    {"check_domain_sender_access", RK_DOMAIN_SENDER, RA_NONE, false},
    {"reject_unverified_sender", RK_UNVERIFIED_SENDER, RA_NONE, false},
    {"reject_unverified_recipient", RK_UNVERIFIED_RCPT, RA_NONE, false},
    {"reject_sender_login_mismatch", RK_SENDER_LOGIN_MISMATCH, RA_NONE, false},
    {"reject_authenticated_sender_login_mismatch",
     RK_AUTH_SENDER_LOGIN_MISMATCH, RA_NONE, false},
    {"reject_known_sender_login_mismatch", RK_KNOWN_SENDER_LOGIN_MISMATCH,
     RA_NONE, false},
    {"reject_unauthenticated_sender_login_mismatch",
     RK_UNAUTH_SENDER_LOGIN_MISMATCH, RA_NONE, false},
    {"reject_unlisted_sender", RK_UNLISTED_SENDER, RA_NONE, false},
    {"reject_unlisted_recipient", RK_UNLISTED_RCPT, RA_NONE, false},
    {"check_client_a_access", RK_CLIENT_A_ACCESS, RA_MAP, true},
    {"check_client_mx_access", RK_CLIENT_MX_ACCESS, RA_MAP, true},
    {"check_client_ns_access", RK_CLIENT_NS_ACCESS, RA_MAP, true},
    {"check_reverse_client_hostname_access", RK_REV_CLIENT_ACCESS, RA_MAP,
     true},
    {"check_reverse_client_hostname_a_access", RK_REV_CLIENT_A_ACCESS, RA_MAP,
     true},
    {"check_reverse_client_hostname_mx_access", RK_REV_CLIENT_MX_ACCESS, RA_MAP,
     true},
    {"check_reverse_client_hostname_ns_access", RK_REV_CLIENT_NS_ACCESS, RA_MAP,
     true},
    {"check_helo_a_access", RK_HELO_A_ACCESS, RA_MAP, true},
    {"check_helo_mx_access", RK_HELO_MX_ACCESS, RA_MAP, true},
    {"check_helo_ns_access", RK_HELO_NS_ACCESS, RA_MAP, true},
    {"check_sender_a_access", RK_SENDER_A_ACCESS, RA_MAP, true},
    {"check_sender_mx_access", RK_SENDER_MX_ACCESS, RA_MAP, true},
    {"check_sender_ns_access", RK_SENDER_NS_ACCESS, RA_MAP, true},
    {"check_recipient_a_access", RK_RCPT_A_ACCESS, RA_MAP, true},
    {"check_recipient_mx_access", RK_RCPT_MX_ACCESS, RA_MAP, true},
    {"check_recipient_ns_access", RK_RCPT_NS_ACCESS, RA_MAP, true},
    {"check_sasl_access", RK_SASL_ACCESS, RA_MAP, false},
    {"permit_dnswl_client", RK_DNSWL_CLIENT, RA_ZONE, true},
    {"permit_rhswl_client", RK_RHSWL_CLIENT, RA_ZONE, true},
    {"reject_rhsbl_reverse_client", RK_RHSBL_REV_CLIENT, RA_ZONE, true},
    {"reject_rhsbl_recipient", RK_RHSBL_RCPT, RA_ZONE, true},
    {"reject_unknown_reverse_client_hostname", RK_UNKNOWN_REV_CLIENT, RA_NONE,
     true},
    {"reject_plaintext_session", RK_PLAINTEXT, RA_NONE, false},
    {"reject_multi_recipient_bounce", RK_MULTI_RCPT_BOUNCE, RA_NONE, false},
    {"defer_unauth_destination", RK_DEFER_UNAUTH_DEST, RA_NONE, false},
    {"permit_tls_clientcerts", RK_PERMIT_TLS_CLIENTCERTS, RA_NONE, false},
    {"permit_tls_all_clientcerts", RK_PERMIT_TLS_ALL_CLIENTCERTS, RA_NONE,
     false},
    {"check_ccert_access", RK_CCERT_ACCESS, RA_MAP, false},
};

static const char *const stage_params[SMTPD_RESTRICT_NSTAGES] = {
    "smtpd_client_restrictions",      "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",      "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",   "smtpd_data_restrictions",
    "smtpd_end_of_data_restrictions",
};

/* ---- Parsing. */

/* Split a list on commas and white space, keeping {...} together (an
 * inline: map may hold both). */
static struct array *tokenize(const char *s)
{
	struct array *out = array_new();
	struct buf *tok = buf_new();
	int depth = 0;

	for (;; s++) {
		char c = *s;
		bool sep = c == '\0' ||
			   (depth == 0 && (c == ',' || c == ' ' || c == '\t' ||
					   c == '\n' || c == '\r'));
		if (sep) {
			if (buf_len(tok) > 0)
				array_push(out, buf_steal(tok));
			buf_reset(tok);
			if (c == '\0')
				break;
			continue;
		}
		if (c == '{')
			depth++;
		else if (c == '}' && depth > 0)
			depth--;
		buf_append_char(tok, c);
	}
	buf_free(&tok);
	return out;
}

static const struct rword *find_word(const char *name)
{
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(words[i].name, name) == 0)
			return &words[i];
	return NULL;
}

static struct map *open_access_map(struct smtpd_restrict *r, const char *spec,
				   struct error *err)
{
	struct map *m = hash_get(r->maps, spec);

	if (m != NULL)
		return m;
	m = map_open(spec, r->env, err);
	if (m != NULL)
		hash_put(r->maps, spec, m);
	return m;
}

static struct smtpd_policy *open_policy(struct smtpd_restrict *r,
				       const char *spec, struct error *err)
{
	struct smtpd_policy *p = hash_get(r->policies, spec);

	if (p != NULL)
		return p;
	p = smtpd_policy_new(spec, r->conf, err);
	if (p != NULL)
		hash_put(r->policies, spec, p);
	return p;
}

/* Word *IP of TOKS (and its argument, *ip moves past it) into IT: a
 * restriction or a class name.  A DNS zone is parsed here; a table or a
 * policy service is left in *arg_r for the caller to open.  0, or -1
 * with err naming PARAM. */
static int parse_word(const struct smtpd_restrict *r, const char *param,
		      struct array *toks, size_t *ip, struct ritem *it,
		      const struct rword **rw_r, const char **arg_r,
		      struct error *err)
{
	const char *w = array_get(toks, *ip);
	const struct rword *rw = find_word(w);
	const char *arg;

	*rw_r = rw;
	*arg_r = NULL;
	if (rw == NULL) {
		it->cls = hash_get(r->classes, w);
		if (it->cls == NULL)
			return error_set(err, ERR_CONFIG,
					 "%s: unknown restriction \"%s\"",
					 param, w);
		it->kind = RK_CLASS;
		return 0;
	}
	it->kind = rw->kind;
	if (rw->arg == RA_NONE)
		return 0;
	if (*ip + 1 >= array_len(toks))
		return error_set(err, ERR_CONFIG, "%s: %s needs an argument",
				 param, w);
	arg = array_get(toks, ++*ip);
	if (rw->arg != RA_ZONE) {
		*arg_r = arg;
		return 0;
	}
	/* A DNS list: zone[=pattern]. */
	const char *eq = strchr(arg, '=');
	it->whole = xstrdup(arg);
	if (eq != NULL) {
		it->arg = xstrndup(arg, (size_t)(eq - arg));
		it->filter = xstrdup(eq + 1);
		it->has_pattern = true;
		if (!dns_addr_pattern_parse(it->filter, &it->pattern))
			return error_set(err, ERR_CONFIG,
					 "%s: %s %s: bad reply pattern "
					 "(d.d.d.d, each d a number or "
					 "[n..m;k])",
					 param, w, arg);
	} else {
		it->arg = xstrdup(arg);
	}
	if (*it->arg == '\0')
		return error_set(err, ERR_CONFIG, "%s: %s: empty zone", param,
				 w);
	return 0;
}

/* What a restriction needs from start-up (a table, a policy service,
 * the greylist or verification state, $relay_clientcerts). */
static int open_word(struct smtpd_restrict *r, const char *param,
		     const struct rword *rw, const char *arg, struct ritem *it,
		     struct error *err)
{
	if (rw->kind == RK_GREYLIST && r->greylist == NULL) {
		r->greylist = smtpd_greylist_new(
		    r->conf, r->env != NULL ? r->env->db : NULL, err);
		if (r->greylist == NULL)
			goto fail;
	}
	if ((rw->kind == RK_UNVERIFIED_SENDER ||
	     rw->kind == RK_UNVERIFIED_RCPT) &&
	    r->verify == NULL) {
		r->verify = smtpd_verify_new(
		    r->conf, r->env != NULL ? r->env->db : NULL, err);
		if (r->verify == NULL)
			goto fail;
	}
	if (rw->kind == RK_PERMIT_TLS_CLIENTCERTS && rx_ccert_open(r, err) < 0)
		goto fail;
	if (rw->arg == RA_MAP) {
		it->map = open_access_map(r, arg, err);
		if (it->map == NULL)
			goto fail;
	} else if (rw->arg == RA_POLICY) {
		it->policy = open_policy(r, arg, err);
		if (it->policy == NULL)
			goto fail;
	}
	return 0;
fail:
	if (arg != NULL)
		error_prefix(err, "%s: %s %s", param, rw->name, arg);
	else
		error_prefix(err, "%s: %s", param, rw->name);
	return -1;
}

static int parse_list(struct smtpd_restrict *r, const char *param,
		      const char *value, struct rlist *l, struct error *err)
{
	struct array *toks = tokenize(value);
	int ret = 0;

	l->items = xcalloc(array_len(toks) + 1, sizeof(*l->items));
	for (size_t i = 0; i < array_len(toks) && ret == 0; i++) {
		struct ritem *it = &l->items[l->n];
		const struct rword *rw;
		const char *arg;

		ret = parse_word(r, param, toks, &i, it, &rw, &arg, err);
		if (rw != NULL || ret == 0)
			l->n++; /* so that rlist_items_free() sees it */
		if (ret == 0 && rw != NULL) {
			if (rw->dns)
				r->uses_dns = true;
			ret = open_word(r, param, rw, arg, it, err);
		}
	}
	array_free_with(&toks, free);
	return ret;
}

static bool relay_guarded(const struct rlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].kind == RK_REJECT_UNAUTH_DEST ||
		    l->items[i].kind == RK_REJECT ||
		    l->items[i].kind == RK_DEFER)
			return true;
	return false;
}

/* What a list owns (its items' strings, the array, the name). */
static void rlist_items_free(struct rlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].arg);
		free(l->items[i].filter);
		free(l->items[i].whole);
	}
	free(l->items);
	free(l->name);
}

static void rlist_free(void *p)
{
	rlist_items_free(p);
	free(p);
}

static void map_free_v(void *p)
{
	struct map *m = p;
	map_free(&m);
}

static void policy_free_v(void *p)
{
	struct smtpd_policy *pol = p;
	smtpd_policy_free(&pol);
}

static unsigned code_param(const struct conf *conf, const char *name,
			   unsigned lo, unsigned hi, struct error *err)
{
	long long v = conf_int(conf, name);

	if (v < lo || v > hi) {
		error_set(err, ERR_CONFIG,
			  "%s: %lld is not a %u..%u reply code", name, v, lo,
			  hi);
		return 0;
	}
	return (unsigned)v;
}

static int read_codes(struct smtpd_restrict *r, const struct conf *conf,
		      struct error *err)
{
	static const struct {
		const char *name;
		size_t off;
	} codes[] = {
#define C(n) {#n, offsetof(struct rcodes, n)}
	    C(reject_code),
	    C(defer_code),
	    C(access_map_reject_code),
	    C(access_map_defer_code),
	    C(relay_domains_reject_code),
	    C(maps_rbl_reject_code),
	    C(non_fqdn_reject_code),
	    C(invalid_hostname_reject_code),
	    C(unknown_address_reject_code),
	    C(unknown_client_reject_code),
	    C(unknown_hostname_reject_code),
	    C(unauth_pipelining_reject_code),
#undef C
	};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		unsigned v = code_param(conf, codes[i].name, 400, 599, err);
		if (v == 0)
			return -1;
		*(unsigned *)((char *)&r->codes + codes[i].off) = v;
	}
	return 0;
}

/* A template's names, for the start-up check of $default_rbl_reply. */
static const char *rbl_check_name(const char *name, void *ctx)
{
	static const char *const names[] = {
	    "rbl_code",		   "rbl_domain",     "rbl_reason",
	    "rbl_txt",		   "rbl_what",	     "rbl_class",
	    "client",		   "client_address", "client_name",
	    "reverse_client_name", "helo_name",	     "sender",
	    "sender_name",	   "sender_domain",  "recipient",
	    "recipient_name",	   "recipient_domain"};

	(void)ctx;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return "x";
	return NULL;
}

/* A *_tempfail_action: true for defer, false for defer_if_permit. */
static int tempfail_action(const struct conf *conf, const char *name,
			   bool *defer_r, struct error *err)
{
	const char *v = conf_str(conf, name);

	if (strcasecmp(v, "defer") == 0)
		*defer_r = true;
	else if (strcasecmp(v, "defer_if_permit") == 0)
		*defer_r = false;
	else
		return error_set(err, ERR_CONFIG,
				 "%s: \"%s\" is not defer_if_permit or defer",
				 name, v);
	return 0;
}

static int read_tempfail_actions(struct smtpd_restrict *r,
				 const struct conf *conf, struct error *err)
{
	bool dummy;

	if (tempfail_action(conf, "reject_tempfail_action", &dummy, err) < 0 ||
	    tempfail_action(conf, "unknown_address_tempfail_action",
			    &r->unknown_address_tf_defer, err) < 0 ||
	    tempfail_action(conf, "unknown_helo_hostname_tempfail_action",
			    &r->unknown_helo_tf_defer, err) < 0 ||
	    tempfail_action(conf, "unknown_client_hostname_tempfail_action",
			    &r->unknown_client_tf_defer, err) < 0)
		return -1;
	return 0;
}

/* reject_rbl_client & co.: the reply settings, and the other codes. */
static int read_rbl_settings(struct smtpd_restrict *r,
			     const struct conf *conf, struct error *err)
{
	const char *maps = conf_str(conf, "rbl_reply_maps");
	struct buf *out = buf_new();
	int ret;

	r->default_rbl_reply = xstrdup(conf_str(conf, "default_rbl_reply"));
	ret = smtpd_rbl_expand(r->default_rbl_reply, rbl_check_name, NULL, out);
	buf_free(&out);
	if (ret < 0)
		return error_set(err, ERR_CONFIG,
				 "default_rbl_reply: bad template (an unknown "
				 "$name or a syntax error): %s",
				 r->default_rbl_reply);
	r->plaintext_code =
	    code_param(conf, "plaintext_reject_code", 400, 599, err);
	if (r->plaintext_code == 0)
		return -1;
	r->mul_rcpt_code = code_param(
	    conf, "multi_recipient_bounce_reject_code", 400, 599, err);
	if (r->mul_rcpt_code == 0)
		return -1;
	while (*maps == ' ' || *maps == '\t')
		maps++;
	if (*maps != '\0') {
		r->rbl_reply_map = open_access_map(r, maps, err);
		if (r->rbl_reply_map == NULL) {
			error_prefix(err, "rbl_reply_maps");
			return -1;
		}
	}
	return 0;
}

struct smtpd_restrict *smtpd_restrict_new(const struct conf *conf,
					  const struct map_env *env,
					  struct error *err)
{
	struct smtpd_restrict *r = xcalloc(1, sizeof(*r));
	struct array *names = NULL;

	r->env = env;
	r->conf = conf;
	r->policies = hash_new(0, policy_free_v);
	r->maps = hash_new(0, map_free_v);
	r->classes = hash_new(0, rlist_free);
	r->delay_reject = conf_bool(conf, "smtpd_delay_reject");
	r->helo_required = conf_bool(conf, "smtpd_helo_required");
	r->null_key = xstrdup(conf_str(conf, "smtpd_null_access_lookup_key"));
	if (read_codes(r, conf, err) < 0)
		goto fail;
	r->domain_sender_reject_code = code_param(
	    conf, "domain_sender_policy_reject_code", 400, 599, err);
	if (r->domain_sender_reject_code == 0)
		goto fail;
	if (read_rbl_settings(r, conf, err) < 0)
		goto fail;
	if (read_tempfail_actions(r, conf, err) < 0)
		goto fail;

	/* Classes first (empty), so lists and classes may name any. */
	names =
	    str_split(conf_str(conf, "smtpd_restriction_classes"), ", \t\n");
	for (size_t i = 0; i < array_len(names); i++) {
		const char *n = array_get(names, i);
		struct rlist *l;

		if (find_word(n) != NULL) {
			error_set(err, ERR_CONFIG,
				  "smtpd_restriction_classes: \"%s\" is the "
				  "name of a restriction",
				  n);
			goto fail;
		}
		if (conf_extra(conf, n) == NULL) {
			error_set(err, ERR_CONFIG,
				  "smtpd_restriction_classes: class \"%s\" "
				  "is not defined in main.cf",
				  n);
			goto fail;
		}
		l = xcalloc(1, sizeof(*l));
		l->name = xstrdup(n);
		hash_put(r->classes, l->name, l);
	}
	for (size_t i = 0; i < array_len(names); i++) {
		const char *n = array_get(names, i);
		if (parse_list(r, n, conf_extra(conf, n),
			       hash_get(r->classes, n), err) < 0)
			goto fail;
	}
	for (int st = 0; st < SMTPD_RESTRICT_NSTAGES; st++) {
		r->lists[st].name = xstrdup(stage_params[st]);
		if (parse_list(r, stage_params[st],
			       conf_str(conf, stage_params[st]), &r->lists[st],
			       err) < 0)
			goto fail;
	}
	/* Postfix refuses an open relay: one of the two RCPT lists must be
	 * able to say no on its own. */
	if (!relay_guarded(&r->lists[SMTPD_RESTRICT_RELAY]) &&
	    !relay_guarded(&r->lists[SMTPD_RESTRICT_RECIPIENT])) {
		error_set(err, ERR_CONFIG,
			  "smtpd_relay_restrictions, "
			  "smtpd_recipient_restrictions: specify at least one "
			  "of reject_unauth_destination, reject or defer (an "
			  "open relay otherwise)");
		goto fail;
	}
	array_free_with(&names, free);
	r->conf = NULL;
	return r;
fail:
	array_free_with(&names, free);
	smtpd_restrict_free(&r);
	return NULL;
}

void smtpd_restrict_free(struct smtpd_restrict **rp)
{
	struct smtpd_restrict *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	for (int st = 0; st < SMTPD_RESTRICT_NSTAGES; st++)
		rlist_items_free(&r->lists[st]);
	hash_free(&r->classes);
	hash_free(&r->maps);
	hash_free(&r->policies);
	smtpd_greylist_free(&r->greylist);
	smtpd_verify_free(&r->verify);
	free(r->null_key);
	free(r->default_rbl_reply);
	free(r);
}

bool smtpd_restrict_delay_reject(const struct smtpd_restrict *r)
{
	return r->delay_reject;
}

bool smtpd_restrict_helo_required(const struct smtpd_restrict *r)
{
	return r->helo_required;
}

bool smtpd_restrict_uses_dns(const struct smtpd_restrict *r)
{
	return r->uses_dns;
}

bool smtpd_restrict_is_empty(const struct smtpd_restrict *r,
			     enum smtpd_restrict_stage stage)
{
	return r->lists[stage].n == 0;
}

/* ---- Evaluation helpers. */

const char *rx_client_name(struct rx *e)
{
	if (e->client_name != NULL)
		return e->client_name;
	if (e->in->client_name != NULL) {
		e->client_name = e->in->client_name;
		e->client_name_status =
		    strcmp(e->client_name, "unknown") != 0 ? 1 : 0;
		return e->client_name;
	}
	if (e->in->dns == NULL || e->in->client_addr == NULL) {
		e->client_name = "unknown";
		e->client_name_status = 0;
		return e->client_name;
	}
	char *name = NULL;
	struct error err;
	int ret = dns_fcrdns_sync(e->in->dns, e->in->client_addr, &name, &err);
	e->client_name_status = ret;
	if (ret == 1) {
		free(e->v->client_name);
		e->v->client_name = name;
		e->client_name = name;
	} else {
		free(name);
		if (ret == 0) {
			free(e->v->client_name);
			e->v->client_name = xstrdup("unknown");
		}
		e->client_name = "unknown";
	}
	return e->client_name;
}

/* "name[addr]" without any lookup: for reply texts. */
static const char *namaddr(struct rx *e)
{
	const char *n = e->client_name != NULL	     ? e->client_name
			: e->in->client_name != NULL ? e->in->client_name
						     : "unknown";
	snprintf(e->namaddr, sizeof(e->namaddr), "%s[%s]", n,
		 e->in->client_addr != NULL ? e->in->client_addr : "");
	return e->namaddr;
}

void rx_stage_name(struct rx *e, enum smtpd_restrict_stage st,
		   const char **name_r, const char **class_r)
{
	switch (st) {
	case SMTPD_RESTRICT_CLIENT:
		*name_r = namaddr(e);
		*class_r = "Client host";
		return;
	case SMTPD_RESTRICT_HELO:
		*name_r = e->in->helo != NULL ? e->in->helo : "";
		*class_r = "Helo command";
		return;
	case SMTPD_RESTRICT_SENDER:
		*name_r = e->in->sender != NULL ? e->in->sender : "";
		*class_r = "Sender address";
		return;
	case SMTPD_RESTRICT_DATA:
		*name_r = "DATA";
		*class_r = "Data command";
		return;
	case SMTPD_RESTRICT_END_OF_DATA: /* as Postfix's smtpd_check_eod */
		*name_r = "END-OF-MESSAGE";
		*class_r = "End-of-data";
		return;
	default:
		*name_r = e->in->recipient != NULL ? e->in->recipient : "";
		*class_r = "Recipient address";
		return;
	}
}

static const char *const stage_cmds[SMTPD_RESTRICT_NSTAGES] = {
    "CONNECT", "HELO", "MAIL", "RCPT", "RCPT", "DATA", "END-OF-MESSAGE"};

/* The DSN class digit follows the reply code: "x.7.1" with 450 is
 * 4.7.1 (Postfix's smtpd_dsn_fix). */
static void fix_dsn(char *dsn, size_t size, unsigned code, const char *base)
{
	str_copy(dsn, base, size);
	if (dsn[0] != '\0')
		dsn[0] = (char)('0' + code / 100);
}

int rx_reject(struct rx *e, unsigned code, const char *dsn, const char *fmt,
	      ...)
{
	char text[SMTP_REPLY_TEXT_MAX];
	char d[SMTP_ENHANCED_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (e->defer_if_reject && code >= 500)
		code = e->r->codes.defer_code;
	fix_dsn(d, sizeof(d), code, dsn);
	if (e->warn) {
		if (rx_replaying(e))
			return RX_DUNNO;
		log_info("%s: reject_warning: %s from %s: %u %s %s",
			 e->in->log_id, stage_cmds[e->stage], namaddr(e), code,
			 d, text);
		return RX_DUNNO;
	}
	smtp_reply_set(&e->v->reply, code, d, "%s", text);
	e->v->rejected = true;
	return RX_REJECT;
}

int rx_defer_if_permit(struct rx *e, unsigned code, const char *dsn,
		       const char *fmt, ...)
{
	char text[SMTP_REPLY_TEXT_MAX];
	char d[SMTP_ENHANCED_MAX];
	va_list ap;

	if (e->defer_if_permit)
		return RX_DUNNO;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fix_dsn(d, sizeof(d), code, dsn);
	smtp_reply_set(&e->dip_reply, code, d, "%s", text);
	e->defer_if_permit = true;
	return RX_DUNNO;
}

void rx_log_action(struct rx *e, const char *action, const char *name,
		   const char *rclass, const char *text)
{
	if (rx_replaying(e))
		return;
	log_info("%s: %s: %s from %s: <%s>: %s triggers %s%s%s", e->in->log_id,
		 action, stage_cmds[e->stage], namaddr(e), name, rclass, action,
		 *text != '\0' ? ": " : "", text);
}

/* ---- The restrictions that need no table or DNS. */

static bool address_literal(const char *h)
{
	return h[0] == '[' && h[strlen(h) - 1] == ']';
}

/* Postfix's valid_hostname(): letters, digits, '-' and '_', labels of
 * 1..63 characters not starting or ending with '-', not all numeric. */
static bool valid_hostname(const char *h)
{
	size_t len = strlen(h), label = 0;
	bool alldigits = true;

	if (len == 0 || len > 255)
		return false;
	if (address_literal(h)) {
		/* [IPv4] or [IPv6:...]: the command parser checked it. */
		return len > 2;
	}
	for (size_t i = 0; i <= len; i++) {
		char c = h[i];
		if (c == '.' || c == '\0') {
			if (label == 0)
				return c == '\0' && i == len && i > 0 &&
				       h[i - 1] == '.' && len > 1 && !alldigits;
			if (h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (label == 0 && c == '-')
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		if (!(c >= '0' && c <= '9') && c != '.')
			alldigits = false;
		if (++label > 63)
			return false;
	}
	return !alldigits;
}

static bool fqdn_domain(const char *d)
{
	const char *dot;

	if (address_literal(d))
		return true;
	dot = strchr(d, '.');
	return dot != NULL && dot != d && dot[1] != '\0';
}

static int non_fqdn_address(struct rx *e, const char *addr, const char *cls)
{
	const char *at;

	if (addr == NULL || *addr == '\0')
		return RX_DUNNO;
	at = strrchr(addr, '@');
	if (at == NULL || !fqdn_domain(at + 1))
		return rx_reject(e, e->r->codes.non_fqdn_reject_code, "x.5.2",
				 "<%s>: %s rejected: need fully-qualified "
				 "address",
				 addr, cls);
	return RX_DUNNO;
}

static int eval_list(struct rx *e, const struct rlist *l);

static int local_dest(struct rx *e, int *local_r)
{
	struct error err;
	int ret;

	if (e->in->is_local == NULL) {
		*local_r = 0;
		return 0;
	}
	ret = e->in->is_local(e->in->is_local_ctx, e->in->recipient, &err);
	if (ret < 0) {
		log_warn("%s: %s: %s", e->in->log_id, e->in->recipient,
			 err.msg);
		/* Only warned (warn_if_reject): neither ours nor refused. */
		*local_r = -1;
		return rx_reject(e, 451, "4.3.0",
				 "<%s>: Temporary lookup failure",
				 e->in->recipient) == RX_REJECT
			   ? -1
			   : 0;
	}
	*local_r = ret;
	return 0;
}

static int eval_item(struct rx *e, const struct ritem *it)
{
	const struct smtpd_restrict_input *in = e->in;
	const char *name, *cls;
	int local;

	switch (it->kind) {
	case RK_PERMIT:
		return RX_OK;
	case RK_REJECT:
		rx_stage_name(e, e->stage, &name, &cls);
		return rx_reject(e, e->r->codes.reject_code, "x.7.1",
				 "<%s>: %s rejected: Access denied", name, cls);
	case RK_DEFER:
		rx_stage_name(e, e->stage, &name, &cls);
		return rx_reject(e, e->r->codes.defer_code, "x.3.2",
				 "<%s>: %s rejected: Try again later", name,
				 cls);
	case RK_WARN_IF_REJECT:
		e->warn_next = true;
		return RX_DUNNO;
	case RK_DEFER_IF_PERMIT:
		rx_stage_name(e, e->stage, &name, &cls);
		return rx_defer_if_permit(e, e->r->codes.defer_code, "x.7.1",
					  "<%s>: %s rejected: defer_if_permit "
					  "requested",
					  name, cls);
	case RK_DEFER_IF_REJECT:
		e->defer_if_reject = true;
		return RX_DUNNO;
	case RK_PERMIT_MYNETWORKS:
		return in->in_mynetworks ? RX_OK : RX_DUNNO;
	case RK_PERMIT_SASL:
		return in->sasl_user != NULL ? RX_OK : RX_DUNNO;
	case RK_PERMIT_AUTH_DEST:
		if (in->recipient == NULL)
			return RX_DUNNO;
		if (local_dest(e, &local) < 0)
			return RX_REJECT;
		return local == 1 ? RX_OK : RX_DUNNO;
	case RK_REJECT_UNAUTH_DEST:
		if (in->recipient == NULL)
			return RX_DUNNO;
		if (local_dest(e, &local) < 0)
			return RX_REJECT;
		if (local != 0)
			return RX_DUNNO;
		return rx_reject(e, e->r->codes.relay_domains_reject_code,
				 "x.7.1", "<%s>: Relay access denied",
				 in->recipient);
	case RK_NON_FQDN_HELO:
		if (in->helo == NULL || fqdn_domain(in->helo))
			return RX_DUNNO;
		return rx_reject(e, e->r->codes.non_fqdn_reject_code, "x.5.2",
				 "<%s>: Helo command rejected: need "
				 "fully-qualified hostname",
				 in->helo);
	case RK_INVALID_HELO:
		if (in->helo == NULL || valid_hostname(in->helo))
			return RX_DUNNO;
		return rx_reject(e, e->r->codes.invalid_hostname_reject_code,
				 "x.5.2",
				 "<%s>: Helo command rejected: "
				 "Invalid name",
				 in->helo);
	case RK_NON_FQDN_SENDER:
		return non_fqdn_address(e, in->sender, "Sender address");
	case RK_NON_FQDN_RCPT:
		return non_fqdn_address(e, in->recipient, "Recipient address");
	case RK_UNAUTH_PIPELINING:
		if (!in->pipelined)
			return RX_DUNNO;
		rx_stage_name(e, e->stage, &name, &cls);
		return rx_reject(e, e->r->codes.unauth_pipelining_reject_code,
				 "x.5.0",
				 "<%s>: %s rejected: Improper use of SMTP "
				 "command pipelining",
				 name, cls);
	case RK_CLIENT_ACCESS:
	case RK_HELO_ACCESS:
	case RK_SENDER_ACCESS:
	case RK_RCPT_ACCESS:
		return rx_access(e, it);
	case RK_RBL_CLIENT:
	case RK_RHSBL_CLIENT:
	case RK_RHSBL_SENDER:
	case RK_RHSBL_HELO:
	case RK_UNKNOWN_SENDER_DOMAIN:
	case RK_UNKNOWN_RCPT_DOMAIN:
	case RK_UNKNOWN_CLIENT:
	case RK_UNKNOWN_HELO:
		return rx_dns(e, it);
	case RK_CLIENT_A_ACCESS:
	case RK_CLIENT_MX_ACCESS:
	case RK_CLIENT_NS_ACCESS:
	case RK_REV_CLIENT_ACCESS:
	case RK_REV_CLIENT_A_ACCESS:
	case RK_REV_CLIENT_MX_ACCESS:
	case RK_REV_CLIENT_NS_ACCESS:
	case RK_HELO_A_ACCESS:
	case RK_HELO_MX_ACCESS:
	case RK_HELO_NS_ACCESS:
	case RK_SENDER_A_ACCESS:
	case RK_SENDER_MX_ACCESS:
	case RK_SENDER_NS_ACCESS:
	case RK_RCPT_A_ACCESS:
	case RK_RCPT_MX_ACCESS:
	case RK_RCPT_NS_ACCESS:
	case RK_SASL_ACCESS:
		return rx_server_access(e, it);
	case RK_DNSWL_CLIENT:
	case RK_RHSWL_CLIENT:
	case RK_RHSBL_REV_CLIENT:
	case RK_RHSBL_RCPT:
	case RK_UNKNOWN_REV_CLIENT:
		return rx_dns(e, it);
	case RK_PLAINTEXT:
		if (in->tls)
			return RX_DUNNO;
		return rx_reject(e, e->r->plaintext_code, "4.7.1",
				 "Session encryption is required");
	case RK_MULTI_RCPT_BOUNCE:
		/* At RCPT the recipients accepted before this one; at DATA
		 * all of them (Postfix: more than one). */
		if (in->sender == NULL || *in->sender != '\0' ||
		    in->rcpt_count <= (in->recipient != NULL ? 0u : 1u))
			return RX_DUNNO;
		rx_stage_name(e, e->stage, &name, &cls);
		return rx_reject(e, e->r->mul_rcpt_code, "5.5.3",
				 "<%s>: %s rejected: Multi-recipient bounce",
				 name, cls);
	case RK_DEFER_UNAUTH_DEST:
		if (in->recipient == NULL)
			return RX_DUNNO;
		if (local_dest(e, &local) < 0)
			return RX_REJECT;
		if (local != 0)
			return RX_DUNNO;
		return rx_reject(
		    e,
		    e->r->codes.relay_domains_reject_code >= 500
			? e->r->codes.relay_domains_reject_code - 100
			: e->r->codes.relay_domains_reject_code,
		    "4.7.1", "<%s>: Relay access denied", in->recipient);
	case RK_CLASS:
		return rx_class(e, it->cls);
	case RK_POLICY:
		return rx_policy(e, it);
	case RK_GREYLIST:
		return rx_greylist(e, it);
	case RK_DOMAIN_SENDER:
		return rx_domain_sender(e, it);
	case RK_UNVERIFIED_SENDER:
	case RK_UNVERIFIED_RCPT:
		return rx_verify(e, it);
	case RK_SENDER_LOGIN_MISMATCH:
	case RK_AUTH_SENDER_LOGIN_MISMATCH:
	case RK_KNOWN_SENDER_LOGIN_MISMATCH:
	case RK_UNAUTH_SENDER_LOGIN_MISMATCH:
	case RK_UNLISTED_SENDER:
	case RK_UNLISTED_RCPT:
		return rx_login(e, it->kind);
	case RK_PERMIT_TLS_CLIENTCERTS:
	case RK_PERMIT_TLS_ALL_CLIENTCERTS:
	case RK_CCERT_ACCESS:
		return rx_ccert(e, it);
	}
	return RX_DUNNO;
}

static int eval_list(struct rx *e, const struct rlist *l)
{
	int res = RX_DUNNO;

	for (size_t i = 0; i < l->n && res == RX_DUNNO; i++) {
		e->warn = e->warn_next;
		e->warn_next = false;
		res = eval_item(e, &l->items[i]);
		e->warn = false;
	}
	return res;
}

/* Postfix's reject_server_error(), with the reason in the log. */
static int server_error(struct rx *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int server_error(struct rx *e, const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!rx_replaying(e))
		log_warn("%s: %s", e->in->log_id, why);
	return rx_reject(e, 451, "4.3.5", "Server configuration error");
}

int rx_class(struct rx *e, const struct rlist *l)
{
	int res;

	/* Classes may name each other: stop a loop. */
	if (e->depth >= RX_MAX_DEPTH)
		return server_error(e, "restriction class %s: nested too deep",
				    l->name);
	e->depth++;
	res = eval_list(e, l);
	e->depth--;
	return res;
}

/* Can a restriction parsed from a table result run?  Its tables, policy
 * services and state are made at start-up only. */
static const char *nested_unusable(const struct rx *e, const struct rword *rw)
{
	const struct smtpd_restrict *r = e->r;

	if (rw->arg == RA_MAP || rw->arg == RA_POLICY)
		return "its table or service is not opened at start-up";
	if (rw->dns && e->in->dns == NULL)
		return "no list or class of smtpd uses DNS, so there is no "
		       "resolver";
	if (rw->kind == RK_GREYLIST && r->greylist == NULL)
		return "check_greylist is not in any list or class";
	if ((rw->kind == RK_UNVERIFIED_SENDER ||
	     rw->kind == RK_UNVERIFIED_RCPT) &&
	    r->verify == NULL)
		return "no reject_unverified_* is in any list or class";
	if (rw->kind == RK_PERMIT_TLS_CLIENTCERTS &&
	    r->relay_clientcerts == NULL)
		return "permit_tls_clientcerts is not in any list or class";
	return NULL;
}

int rx_nested(struct rx *e, const char *origin, const char *value)
{
	struct rlist l = {0};
	struct array *toks;
	struct error err;
	int res = RX_DUNNO;

	/* As Postfix: no tables inside a table (they would have to be opened
	 * now), a class name says it instead. */
	if (strchr(value, ':') != NULL)
		return server_error(e,
				    "access table %s has entry with lookup "
				    "table: %s; do not specify lookup tables "
				    "inside SMTPD access maps, define a "
				    "restriction class and specify its name "
				    "instead",
				    origin, value);
	if (e->depth >= RX_MAX_DEPTH)
		return server_error(e,
				    "access table %s entry %s causes "
				    "unreasonable recursion",
				    origin, value);
	toks = tokenize(value);
	if (array_len(toks) == 0) {
		/* The dark ages' empty value meant OK (Postfix warns). */
		if (!rx_replaying(e))
			log_warn("%s: access table %s entry has empty value",
				 e->in->log_id, origin);
		array_free(&toks);
		return RX_OK;
	}
	l.name = xasprintf("access table %s entry \"%s\"", origin, value);
	l.items = xcalloc(array_len(toks) + 1, sizeof(*l.items));
	for (size_t i = 0; i < array_len(toks); i++) {
		struct ritem *it = &l.items[l.n];
		const struct rword *rw;
		const char *arg, *why;
		int ret =
		    parse_word(e->r, l.name, toks, &i, it, &rw, &arg, &err);

		if (rw != NULL || ret == 0)
			l.n++;
		if (ret < 0) {
			res = server_error(e, "%s", err.msg);
			goto out;
		}
		if (rw != NULL && (why = nested_unusable(e, rw)) != NULL) {
			res = server_error(e, "%s: %s cannot be used there: %s",
					   l.name, rw->name, why);
			goto out;
		}
	}
	e->depth++;
	res = eval_list(e, &l);
	e->depth--;
out:
	rlist_items_free(&l);
	array_free_with(&toks, free);
	return res;
}

int rx_tempfail(struct rx *e, bool defer, unsigned code, const char *dsn,
		const char *fmt, ...)
{
	char text[SMTP_REPLY_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* Postfix's DEFER_IF_PERMIT macros: warn_if_reject logs the
	 * deferral rather than raising defer_if_permit. */
	if (defer || e->warn)
		return rx_reject(e, code, dsn, "%s", text);
	return rx_defer_if_permit(e, code, dsn, "%s", text);
}

int smtpd_restrict_check(const struct smtpd_restrict *r, unsigned stages,
			 const struct smtpd_restrict_input *in,
			 struct smtpd_verdict *v)
{
	struct rx e = {.r = r, .in = in, .v = v, .client_name_status = 1};

	memset(v, 0, sizeof(*v));
	/* The submission services' own check (smtpd-restrict.h,
	 * submission_login_check): before every list, at RCPT. */
	if (in->submission_login_check && in->sasl_user != NULL &&
	    (stages & SMTPD_RESTRICT_BIT(SMTPD_RESTRICT_RECIPIENT))) {
		e.stage = SMTPD_RESTRICT_SENDER;
		if (rx_login(&e, RK_AUTH_SENDER_LOGIN_MISMATCH) == RX_REJECT)
			return -1;
	}
	for (int st = 0; st < SMTPD_RESTRICT_NSTAGES; st++) {
		if (!(stages & SMTPD_RESTRICT_BIT(st)))
			continue;
		e.stage = (enum smtpd_restrict_stage)st;
		e.warn_next = false;
		int res = eval_list(&e, &r->lists[st]);
		if (res == RX_SUSPEND)
			return 1;
		if (res == RX_REJECT)
			return -1;
	}
	if (e.defer_if_permit) {
		v->reply = e.dip_reply;
		v->rejected = true;
		return -1;
	}
	return 0;
}

void smtpd_restrict_stop(struct smtpd_restrict *r)
{
	struct hash_iter it = {0};
	const char *key;
	void *p;

	while (hash_next(r->policies, &it, &key, &p))
		smtpd_policy_stop(p);
}

void smtpd_verdict_clear(struct smtpd_verdict *v)
{
	free(v->filter);
	free(v->redirect);
	free(v->prepend);
	free(v->client_name);
	memset(v, 0, sizeof(*v));
}
