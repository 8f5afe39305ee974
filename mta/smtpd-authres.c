/*
 * smtpd-authres.c - SPF, DKIM and DMARC in the session, and the
 * Authentication-Results header field (smtpd-authres.h says what and
 * why; docs/authentication.md for the administrator).
 *
 * MAIL FROM: an SPF job in the worker pool (smtpd-spf.c) answers MAIL.
 * DATA/BDAT: every octet for the queue is held (smtpd_authres_write).
 * End of data: a second job verifies each DKIM signature (lib/dkim, keys
 * through lib/dns), evaluates DMARC (authres-dmarc.c) and formats the
 * header field; on the loop the policy is applied and the message goes to
 * the queue behind the field.
 *
 * DMARC dispositions (RFC 7489 6.6.4, smtpd_dmarc_enforce = yes):
 * p=reject is refused with 550 5.7.1 at the end of DATA; p=quarantine
 * goes to the hold queue (smtpd_dmarc_quarantine_action = hold, released
 * with `postern queue release`); p=none is only recorded.  pct= samples:
 * a message left out of the percentage gets the next milder policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "dns/dns.h"
#include "ev/worker.h"
#include "mail/header.h"
#include "queue/submit.h"

#include "smtpd-authres.h"
#include "smtpd.h"

/* Most DKIM signatures reported (and b= tags read) per message. */
#define MAX_SIGS 16

struct smtpd_authres {
	bool spf;     /* evaluate SPF (smtpd_spf_enable or DMARC) */
	bool spf_act; /* smtpd_spf_enable: apply the actions */
	bool spf_fail_reject;
	bool spf_temp_defer;
	bool dkim; /* verify DKIM (smtpd_dkim_verify or DMARC) */
	bool dmarc;
	bool dmarc_enforce;
	bool quarantine_hold;
	char *authserv_id;
	struct authres_psl *psl;
	struct dkim_ctx *dkim_ctx;
	struct dns_resolver *dns; /* borrowed: d->dns */
};

struct smtpd_authres_txn {
	struct buf *held; /* Received + message, until the end */
	bool spf_done;
	enum authres_spf spf;
	char *spf_identity; /* "mailfrom" / "helo" */
	char *spf_value;    /* the address or HELO name checked */
	char *spf_domain;   /* the domain SPF checked */
};

static int word_setting(const struct conf *conf, const char *name,
			const char *yes, const char *no, bool *r,
			struct error *err)
{
	const char *v = conf_str(conf, name);

	if (strcasecmp(v, yes) == 0)
		*r = true;
	else if (strcasecmp(v, no) == 0)
		*r = false;
	else
		return error_set(err, ERR_CONFIG, "%s = %s: must be %s or %s",
				 name, v, yes, no);
	return 0;
}

int smtpd_authres_open(struct smtpd *d, const struct conf *conf,
		       struct error *err)
{
	struct smtpd_authres *a;
	bool spf = conf_bool(conf, "smtpd_spf_enable");
	bool dkim = conf_bool(conf, "smtpd_dkim_verify");
	bool dmarc = conf_bool(conf, "smtpd_dmarc_enable");
	struct dkim_params params = {0};

	d->authres = NULL;
	if (!spf && !dkim && !dmarc)
		return 0;
	a = xcalloc(1, sizeof(*a));
	smtpd_spf_init();
	a->spf = spf || dmarc;
	a->spf_act = spf;
	a->dkim = dkim || dmarc;
	a->dmarc = dmarc;
	a->dmarc_enforce = conf_bool(conf, "smtpd_dmarc_enforce");
	a->authserv_id = xstrdup(conf_str(conf, "smtpd_authserv_id"));
	if (word_setting(conf, "smtpd_spf_fail_action", "reject", "record",
			 &a->spf_fail_reject, err) < 0 ||
	    word_setting(conf, "smtpd_spf_temperror_action", "defer", "record",
			 &a->spf_temp_defer, err) < 0 ||
	    word_setting(conf, "smtpd_dmarc_quarantine_action", "hold",
			 "record", &a->quarantine_hold, err) < 0)
		goto fail;
	if (a->dmarc) {
		a->psl = authres_psl_load(
		    conf_str(conf, "public_suffix_list_file"), err);
		if (a->psl == NULL)
			goto fail;
	}
	if (a->dkim) {
		a->dkim_ctx = dkim_ctx_new(&params, err);
		if (a->dkim_ctx == NULL)
			goto fail;
	}
	if (d->dns == NULL) {
		/* Blocking lookups from the workers only: no loop. */
		d->dns = dns_resolver_new(NULL, conf, err);
		if (d->dns == NULL)
			goto fail;
	}
	a->dns = d->dns;
	d->authres = a;
	return 0;
fail:
	d->authres = a;
	smtpd_authres_close(d);
	return -1;
}

void smtpd_authres_close(struct smtpd *d)
{
	struct smtpd_authres *a = d->authres;

	if (a == NULL)
		return;
	authres_psl_free(&a->psl);
	dkim_ctx_free(&a->dkim_ctx);
	free(a->authserv_id);
	free(a);
	d->authres = NULL;
}

void smtpd_authres_txn_free(struct smtpd_txn *t)
{
	struct smtpd_authres_txn *at = t->authres;

	if (at == NULL)
		return;
	buf_free(&at->held);
	free(at->spf_identity);
	free(at->spf_value);
	free(at->spf_domain);
	free(at);
	t->authres = NULL;
}

/* ---- MAIL FROM: SPF. */

struct spf_job {
	struct smtpd_session *s;
	struct smtpd_spf_job spf;
};

static void spf_work(void *p)
{
	struct spf_job *j = p;

	smtpd_spf_run(&j->spf);
}

/* The answer to MAIL once SPF is known. */
static void spf_answer(struct smtpd_session *s, struct spf_job *j)
{
	const struct smtpd_authres *a = s->smtpd->authres;
	struct smtpd_authres_txn *at = s->txn->authres;
	const char *dom = j->spf.domain != NULL ? j->spf.domain : "";

	at->spf_done = true;
	at->spf = j->spf.result;
	at->spf_domain = xstrdup(dom);
	log_info("%s: spf=%s smtp.%s=%s client=[%s]", smtpd_log_id(s),
		 authres_spf_name(at->spf), at->spf_identity, at->spf_value,
		 s->peer);
	if (a->spf_act && a->spf_fail_reject && at->spf == AUTHRES_SPF_FAIL) {
		log_info("NOQUEUE: reject: MAIL from %s: 550 5.7.23 "
			 "SPF fail for %s; from=<%s> helo=<%s>",
			 smtpd_client_log(s), dom, buf_data(s->txn->sender),
			 s->helo != NULL ? s->helo : "");
		smtpd_txn_reset(s);
		smtpd_error(s, 550, "5.7.23",
			    "Message rejected due to SPF policy of %s: "
			    "client %s is not authorized (RFC 7208)",
			    dom, s->peer);
		return;
	}
	if (a->spf_act && a->spf_temp_defer &&
	    at->spf == AUTHRES_SPF_TEMPERROR) {
		smtpd_txn_reset(s);
		smtpd_error(s, 451, "4.7.24",
			    "SPF: temporary DNS failure for %s", dom);
		return;
	}
	smtpd_reply(s, 250, "2.1.0", "Ok");
}

static void spf_done(void *p)
{
	struct spf_job *j = p;
	struct smtpd_session *s = j->s;
	bool dead = s->dead;

	if (!dead && s->txn != NULL && s->txn->authres != NULL)
		spf_answer(s, j);
	smtpd_spf_job_clear(&j->spf);
	free(j);
	smtpd_session_release(s);
	if (!dead)
		smtpd_session_resume(s);
}

bool smtpd_authres_mail(struct smtpd_session *s)
{
	const struct smtpd_authres *a = s->smtpd->authres;
	struct smtpd_txn *t = s->txn;
	struct smtpd_authres_txn *at;
	struct spf_job *j;
	const char *sender = buf_data(t->sender);

	/* Postfix/OpenDMARC practice: our own users are not checked. */
	if (a == NULL || s->auth_user != NULL || s->in_mynetworks)
		return false;
	at = xcalloc(1, sizeof(*at));
	at->held = buf_new();
	t->authres = at;
	if (!a->spf)
		return false;
	at->spf_identity = xstrdup(*sender != '\0' ? "mailfrom" : "helo");
	at->spf_value = xstrdup(*sender != '\0'	  ? sender
				: s->helo != NULL ? s->helo
						  : "");
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->spf.dns = a->dns;
	j->spf.ip = xstrdup(s->peer);
	j->spf.sender = xstrdup(sender);
	j->spf.helo = s->helo != NULL ? xstrdup(s->helo) : NULL;
	s->pending++;
	smtpd_session_suspend(s);
	worker_submit(s->smtpd->workers, spf_work, spf_done, j);
	return true;
}

int smtpd_authres_write(struct smtpd_session *s, const void *data, size_t len)
{
	struct smtpd_txn *t = s->txn;

	if (t->authres != NULL && t->authres->held != NULL) {
		buf_append(t->authres->held, data, len);
		return 0;
	}
	return smtpd_queue_write(s, data, len); /* smtpd-milter.c */
}

/* ---- End of data: DKIM, DMARC, the header field. */

struct end_job {
	struct smtpd_session *s;
	const struct smtpd_authres *a;
	struct buf *msg; /* the held message, ours now */
	/* SPF, copied */
	bool spf_done;
	enum authres_spf spf;
	char *spf_identity, *spf_value, *spf_domain;
	char *log_id;
	/* out */
	struct authres_dkim *sigs;
	size_t nsigs;
	enum dmarc_result dmarc;
	char from_domain[256];
	bool have_policy;
	enum dmarc_policy policy, disposition;
	struct buf *header;
};

static int key_lookup(void *ctx, const char *qname, struct buf *txt)
{
	struct dns_resolver *dns = ctx;
	struct dns_result *r = NULL;
	struct error err;
	int ret = dns_lookup_sync(dns, qname, DNS_T_TXT, 0, &r, &err);

	if (ret < 0 && err.kind == ERR_PERM)
		ret = 0; /* a name that cannot be asked: no key */
	if (ret > 0) {
		ret = 0;
		for (size_t i = 0; i < r->count; i++) {
			if (r->rrs[i].type != DNS_T_TXT)
				continue;
			/* A key record (RFC 6376 3.6.1): the first one, or
			 * the first that has a p= tag. */
			if (ret == 0 ||
			    memmem(r->rrs[i].txt.data, r->rrs[i].txt.len,
				   "p=", 2) != NULL) {
				buf_reset(txt);
				buf_append(txt, r->rrs[i].txt.data,
					   r->rrs[i].txt.len);
				ret = 1;
				if (memmem(r->rrs[i].txt.data,
					   r->rrs[i].txt.len, "p=", 2))
					break;
			}
		}
	}
	dns_result_free(&r);
	return ret;
}

static void verify_dkim(struct end_job *j)
{
	struct dkim_sig_result *res = NULL;
	size_t n = 0;
	struct error err;
	char b[MAX_SIGS][9];

	if (dkim_verify_msg(j->a->dkim_ctx, buf_data(j->msg), buf_len(j->msg),
			    key_lookup, j->a->dns, &res, &n, &err) < 0) {
		/* libopendkim could not parse the message at all. */
		log_info("%s: dkim: %s", j->log_id, err.msg);
		j->sigs = xcalloc(1, sizeof(*j->sigs));
		j->sigs[0].result = DKIM_PERMERROR;
		snprintf(j->sigs[0].reason, sizeof(j->sigs[0].reason), "%.100s",
			 err.msg);
		j->nsigs = 1;
		return;
	}
	memset(b, 0, sizeof(b));
	authres_dkim_b_tags(buf_data(j->msg), buf_len(j->msg), b, MAX_SIGS);
	j->nsigs = n < MAX_SIGS ? n : MAX_SIGS;
	j->sigs = xcalloc(j->nsigs + 1, sizeof(*j->sigs));
	for (size_t i = 0; i < j->nsigs; i++) {
		struct authres_dkim *d = &j->sigs[i];
		d->result = res[i].result;
		snprintf(d->domain, sizeof(d->domain), "%s", res[i].domain);
		snprintf(d->selector, sizeof(d->selector), "%s",
			 res[i].selector);
		snprintf(d->reason, sizeof(d->reason), "%s", res[i].reason);
		snprintf(d->b, sizeof(d->b), "%s", b[i]);
		log_info("%s: dkim=%s header.d=%s header.s=%s%s%s", j->log_id,
			 dkim_result_name(d->result), d->domain, d->selector,
			 d->reason[0] != '\0' ? " reason=" : "", d->reason);
	}
	free(res);
}

/* The RFC 5322.From domain (RFC 7489 6.6.1): exactly one From field
 * with exactly one address that has a domain; false otherwise. */
static bool from_domain(const struct buf *msg, char out[256])
{
	struct header_iter it;
	struct header_field f, from = {0};
	unsigned nfrom = 0, naddr = 0;
	struct header_address *list, *x;

	header_iter_init(&it, buf_data(msg), buf_len(msg));
	while (header_iter_next(&it, &f))
		if (f.name_len == 4 && strncasecmp(f.name, "From", 4) == 0) {
			from = f;
			nfrom++;
		}
	if (nfrom != 1)
		return false;
	list = header_address_parse(from.value, from.value_len, 0);
	out[0] = '\0';
	for (x = list; x != NULL; x = x->next) {
		if (x->mailbox == NULL)
			continue; /* a group's start or end */
		naddr++;
		if (x->host != NULL && !x->invalid && strlen(x->host) < 256)
			snprintf(out, 256, "%s", x->host);
	}
	header_address_free(&list);
	for (char *p = out; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return naddr == 1 && out[0] != '\0';
}

/* _dmarc.DOMAIN: 1 with the record, 0 none (or more than one: RFC 7489
 * 6.6.3 step 5), -1 temporary failure. */
static int dmarc_lookup(struct dns_resolver *dns, const char *domain,
			struct dmarc_record *rec)
{
	struct dns_result *r = NULL;
	struct error err;
	char *q = xasprintf("_dmarc.%s", domain);
	int ret = dns_lookup_sync(dns, q, DNS_T_TXT, 0, &r, &err);
	unsigned found = 0;

	free(q);
	if (ret < 0) {
		dns_result_free(&r);
		/* A name that cannot be asked (a domain literal): none. */
		return err.kind == ERR_PERM ? 0 : -1;
	}
	for (size_t i = 0; ret > 0 && i < r->count; i++) {
		struct dmarc_record one;
		if (r->rrs[i].type == DNS_T_TXT &&
		    dmarc_record_parse(r->rrs[i].txt.data, r->rrs[i].txt.len,
				       &one) == 1) {
			*rec = one;
			found++;
		}
	}
	dns_result_free(&r);
	return found == 1 ? 1 : 0;
}

static enum dmarc_policy milder(enum dmarc_policy p)
{
	return p == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE
					: DMARC_POLICY_NONE;
}

static void evaluate_dmarc(struct end_job *j)
{
	const struct smtpd_authres *a = j->a;
	struct dmarc_record rec;
	char org[256];
	bool at_org = false, spf_ok, dkim_ok = false;
	int ret;

	if (!from_domain(j->msg, j->from_domain)) {
		j->dmarc = DMARC_RESULT_PERMERROR;
		return;
	}
	ret = dmarc_lookup(a->dns, j->from_domain, &rec);
	authres_org_domain(a->psl, j->from_domain, org, sizeof(org));
	if (ret == 0 && strcmp(org, j->from_domain) != 0) {
		ret = dmarc_lookup(a->dns, org, &rec);
		at_org = true;
	}
	if (ret < 0) {
		j->dmarc = DMARC_RESULT_TEMPERROR;
		return;
	}
	if (ret == 0) {
		j->dmarc = DMARC_RESULT_NONE;
		return;
	}
	spf_ok = j->spf_done && j->spf == AUTHRES_SPF_PASS &&
		 authres_aligned(a->psl, j->spf_domain, j->from_domain,
				 rec.aspf_strict);
	for (size_t i = 0; i < j->nsigs && !dkim_ok; i++)
		dkim_ok = j->sigs[i].result == DKIM_PASS &&
			  authres_aligned(a->psl, j->sigs[i].domain,
					  j->from_domain, rec.adkim_strict);
	j->have_policy = true;
	/* RFC 7489 6.6.3 step 6: sp= for a subdomain's mail. */
	j->policy = at_org ? rec.sp : rec.p;
	if (spf_ok || dkim_ok) {
		j->dmarc = DMARC_RESULT_PASS;
		j->disposition = DMARC_POLICY_NONE;
		return;
	}
	j->dmarc = DMARC_RESULT_FAIL;
	j->disposition = j->policy;
	if (rec.pct < 100 && arc4random_uniform(100) >= rec.pct)
		j->disposition = milder(j->disposition);
	if (!a->dmarc_enforce ||
	    (j->disposition == DMARC_POLICY_QUARANTINE && !a->quarantine_hold))
		j->disposition = DMARC_POLICY_NONE;
}

static void end_work(void *p)
{
	struct end_job *j = p;
	struct authres_result r = {0};

	if (j->a->dkim)
		verify_dkim(j);
	if (j->a->dmarc)
		evaluate_dmarc(j);
	if (j->spf_done) {
		r.spf_identity = j->spf_identity;
		r.spf_value = j->spf_value;
		r.spf = j->spf;
	}
	r.dkim_checked = j->a->dkim;
	r.sigs = j->sigs;
	r.nsigs = j->nsigs;
	r.dmarc_checked = j->a->dmarc;
	r.dmarc = j->dmarc;
	r.from_domain = j->from_domain[0] != '\0' ? j->from_domain : NULL;
	r.have_policy = j->have_policy;
	r.policy = j->policy;
	r.disposition = j->disposition;
	j->header = buf_new();
	authres_format(j->header, j->a->authserv_id, &r);
}

/* On the loop: apply the policy and send the message on; true if the
 * queue commit now holds the session. */
static bool end_apply(struct smtpd_session *s, struct end_job *j)
{
	struct smtpd_txn *t = s->txn;
	struct buf *out;
	size_t removed;
	int w1, w2;

	if (j->a->dmarc)
		log_info("%s: dmarc=%s header.from=%s p=%s dis=%s",
			 smtpd_log_id(s), dmarc_result_name(j->dmarc),
			 j->from_domain,
			 j->have_policy ? dmarc_policy_name(j->policy) : "-",
			 dmarc_policy_name(j->disposition));
	if (j->dmarc == DMARC_RESULT_FAIL &&
	    j->disposition == DMARC_POLICY_REJECT) {
		log_info("%s: reject: END-OF-MESSAGE from %s: 550 "
			 "5.7.1 DMARC policy of %s; from=<%s>",
			 smtpd_log_id(s), smtpd_client_log(s), j->from_domain,
			 buf_data(t->sender));
		smtpd_txn_reset(s);
		smtpd_error(s, 550, "5.7.1",
			    "Message rejected per DMARC policy of %s "
			    "(RFC 7489)",
			    j->from_domain);
		return false;
	}
	if (j->dmarc == DMARC_RESULT_FAIL &&
	    j->disposition == DMARC_POLICY_QUARANTINE) {
		log_info("%s: hold: DMARC quarantine policy of %s",
			 smtpd_log_id(s), j->from_domain);
		t->hold = true;
	}
	out = buf_new_size(buf_len(j->msg) + buf_len(j->header));
	buf_append(out, buf_data(j->header), buf_len(j->header));
	removed = authres_strip_ours(buf_data(j->msg), buf_len(j->msg),
				     j->a->authserv_id, out);
	if (removed > 0)
		log_info("%s: removed %zu Authentication-Results field%s "
			 "claiming %s",
			 smtpd_log_id(s), removed, removed == 1 ? "" : "s",
			 j->a->authserv_id);
	w1 = smtpd_queue_write(s, buf_data(out), buf_len(out));
	w2 = submit_write(t->submit, "", 0);
	buf_free(&out);
	if (w1 < 0 || w2 < 0) {
		log_warn("%s: queue write failed", smtpd_log_id(s));
		smtpd_txn_reset(s);
		smtpd_reply(s, 451, "4.3.0", "Error: queue file write error");
		return false;
	}
	return smtpd_data_commit(s);
}

static void end_done(void *p)
{
	struct end_job *j = p;
	struct smtpd_session *s = j->s;
	bool dead = s->dead, committed = false;

	if (!dead && s->txn != NULL)
		committed = end_apply(s, j);
	buf_free(&j->msg);
	buf_free(&j->header);
	free(j->sigs);
	free(j->spf_identity);
	free(j->spf_value);
	free(j->spf_domain);
	free(j->log_id);
	free(j);
	smtpd_session_release(s);
	if (!dead && !committed)
		smtpd_session_resume(s);
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

bool smtpd_authres_message_end(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;
	struct smtpd_authres_txn *at = t->authres;
	struct end_job *j;

	if (at == NULL || at->held == NULL)
		return false;
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->a = s->smtpd->authres;
	j->msg = at->held;
	at->held = NULL; /* the job's now; nothing more is written */
	j->spf_done = at->spf_done;
	j->spf = at->spf;
	j->spf_identity = dup_or_null(at->spf_identity);
	j->spf_value = dup_or_null(at->spf_value);
	j->spf_domain = dup_or_null(at->spf_domain);
	j->log_id = xstrdup(smtpd_log_id(s));
	s->pending++;
	smtpd_session_suspend(s);
	worker_submit(s->smtpd->workers, end_work, end_done, j);
	return true;
}
