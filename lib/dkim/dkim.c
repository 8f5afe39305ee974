/* dkim - the context, names, and verification on libopendkim (dkim.h);
 * signing is in dkim_sign.c. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "core/xmalloc.h"
#include "dkim/dkim.h"
#include "dkim/dkim_private.h"

const char *dkim_alg_name(enum dkim_alg alg)
{
	return alg == DKIM_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

const char *dkim_alg_keytype(enum dkim_alg alg)
{
	return alg == DKIM_ED25519_SHA256 ? "ed25519" : "rsa";
}

int dkim_alg_parse(const char *s, enum dkim_alg *alg_r)
{
	if (strcasecmp(s, "rsa-sha256") == 0 || strcasecmp(s, "rsa") == 0) {
		*alg_r = DKIM_RSA_SHA256;
		return 0;
	}
	if (strcasecmp(s, "ed25519-sha256") == 0 ||
	    strcasecmp(s, "ed25519") == 0) {
		*alg_r = DKIM_ED25519_SHA256;
		return 0;
	}
	return -1;
}

const char *dkim_result_name(enum dkim_result r)
{
	switch (r) {
	case DKIM_PASS:
		return "pass";
	case DKIM_FAIL:
		return "fail";
	case DKIM_NEUTRAL:
		return "neutral";
	case DKIM_TEMPERROR:
		return "temperror";
	case DKIM_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

struct verify_ctx {
	dkim_key_fn *lookup;
	void *ctx;
	struct buf *tempfail; /* "\nqname\n" of lookups that failed */
};

static void sig_qname(DKIM_SIGINFO *sig, struct buf *out)
{
	const char *sel = (const char *)dkim_sig_getselector(sig);
	const char *dom = (const char *)dkim_sig_getdomain(sig);

	buf_printf(out, "\n%s._domainkey.%s\n", sel != NULL ? sel : "",
		   dom != NULL ? dom : "");
}

/* libopendkim asks for the key record of one signature. */
static DKIM_CBSTAT key_lookup(DKIM *h, DKIM_SIGINFO *sig, u_char *buf,
			      size_t buflen)
{
	struct verify_ctx *vc = dkim_get_user_context(h);
	const char *sel = (const char *)dkim_sig_getselector(sig);
	const char *dom = (const char *)dkim_sig_getdomain(sig);
	struct buf *qname, *txt;
	int rc;

	if (vc == NULL || sel == NULL || dom == NULL)
		return DKIM_CBSTAT_ERROR;
	qname = buf_new();
	txt = buf_new();
	buf_printf(qname, "%s._domainkey.%s", sel, dom);
	rc = vc->lookup(vc->ctx, buf_data(qname), txt);
	if (rc < 0)
		sig_qname(sig, vc->tempfail);
	buf_free(&qname);
	if (rc == 1 && buf_len(txt) < buflen) {
		memcpy(buf, buf_data(txt), buf_len(txt) + 1);
		buf_free(&txt);
		return DKIM_CBSTAT_CONTINUE;
	}
	buf_free(&txt);
	if (rc == 1)
		return DKIM_CBSTAT_ERROR; /* longer than any sane key */
	/* Neither TRYAGAIN (to libopendkim: "call eoh again later", its
	 * asynchronous mode) nor ERROR (which aborts every signature): a
	 * failed lookup is "no key" here and sig_result makes it a
	 * temperror from vc->tempfail. */
	return DKIM_CBSTAT_NOTFOUND;
}

static int setopt(DKIM_LIB *lib, int opt, void *ptr, size_t len,
		  struct error *err)
{
	if (dkim_options(lib, DKIM_OP_SETOPT, opt, ptr, len) != DKIM_STAT_OK)
		return error_set(err, ERR_CONFIG,
				 "libopendkim refused option %d", opt);
	return 0;
}

struct dkim_ctx *dkim_ctx_new(const struct dkim_params *params,
			      struct error *err)
{
	struct dkim_ctx *d = xcalloc(1, sizeof(*d));
	unsigned int flags = DKIM_LIBFLAGS_FIXCRLF;
	uint64_t fixed = params != NULL && params->fixed_time > 0
			     ? (uint64_t)params->fixed_time
			     : 0;

	d->fixed_time = (int64_t)fixed;
	d->lib = dkim_init(NULL, NULL);
	if (d->lib == NULL) {
		free(d);
		error_set(err, ERR_CONFIG, "libopendkim: dkim_init failed");
		return NULL;
	}
	if (!dkim_libfeature(d->lib, DKIM_FEATURE_ED25519) ||
	    !dkim_libfeature(d->lib, DKIM_FEATURE_SHA256)) {
		dkim_ctx_free(&d);
		error_set(err, ERR_CONFIG,
			  "libopendkim built without ed25519 or sha256");
		return NULL;
	}
	if (setopt(d->lib, DKIM_OPTS_FLAGS, &flags, sizeof(flags), err) < 0 ||
	    (fixed > 0 && setopt(d->lib, DKIM_OPTS_FIXEDTIME, &fixed,
				 sizeof(fixed), err) < 0)) {
		dkim_ctx_free(&d);
		return NULL;
	}
	dkim_set_key_lookup(d->lib, key_lookup);
	return d;
}

void dkim_ctx_free(struct dkim_ctx **dp)
{
	struct dkim_ctx *d = *dp;

	if (d == NULL)
		return;
	dkim_close(d->lib);
	free(d);
	*dp = NULL;
}

static void sig_result(DKIM_SIGINFO *sig, const struct buf *tempfail,
		       struct dkim_sig_result *r)
{
	unsigned int flags = dkim_sig_getflags(sig);
	int serr = dkim_sig_geterror(sig);
	const char *s;
	dkim_alg_t alg;

	memset(r, 0, sizeof(*r));
	if ((s = (const char *)dkim_sig_getdomain(sig)) != NULL)
		str_copy(r->domain, s, sizeof(r->domain));
	if ((s = (const char *)dkim_sig_getselector(sig)) != NULL)
		str_copy(r->selector, s, sizeof(r->selector));
	if (dkim_sig_getsignalg(sig, &alg) == DKIM_STAT_OK)
		str_copy(r->alg,
			 alg == DKIM_SIGN_ED25519SHA256 ? "ed25519-sha256"
			 : alg == DKIM_SIGN_RSASHA256	? "rsa-sha256"
			 : alg == DKIM_SIGN_RSASHA1	? "rsa-sha1"
							: "",
			 sizeof(r->alg));
	if ((flags & DKIM_SIGFLAG_PASSED) &&
	    dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH) {
		r->result = DKIM_PASS;
		return;
	}
	if (flags & DKIM_SIGFLAG_IGNORE) {
		r->result = DKIM_NEUTRAL;
		str_copy(r->reason, "signature ignored", sizeof(r->reason));
		return;
	}
	if ((flags & DKIM_SIGFLAG_PASSED) &&
	    dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH) {
		r->result = DKIM_FAIL;
		str_copy(r->reason, "body hash did not verify",
			 sizeof(r->reason));
		return;
	}
	struct buf *q = buf_new();
	sig_qname(sig, q);
	bool temp = strstr(buf_data(tempfail), buf_data(q)) != NULL;
	buf_free(&q);
	if (temp) {
		r->result = DKIM_TEMPERROR;
		str_copy(r->reason, "key lookup failed", sizeof(r->reason));
		return;
	}
	switch (serr) {
	case DKIM_SIGERROR_KEYFAIL:
		r->result = DKIM_TEMPERROR;
		break;
	case DKIM_SIGERROR_BADSIG:
	case DKIM_SIGERROR_OK:
		r->result = DKIM_FAIL;
		break;
	default:
		r->result = DKIM_PERMERROR;
		break;
	}
	s = dkim_sig_geterrorstr(serr);
	str_copy(r->reason,
		 serr == DKIM_SIGERROR_OK ? "signature did not verify"
		 : s != NULL		  ? s
					  : "unknown error",
		 sizeof(r->reason));
}

int dkim_verify_msg(struct dkim_ctx *d, const char *msg, size_t len,
		    dkim_key_fn *lookup, void *ctx,
		    struct dkim_sig_result **results_r, size_t *n_r,
		    struct error *err)
{
	struct verify_ctx vc = {lookup, ctx, NULL};
	DKIM_SIGINFO **sigs = NULL;
	DKIM_STAT st;
	DKIM *h;
	int nsigs = 0;

	*results_r = NULL;
	*n_r = 0;
	h = dkim_verify(d->lib, (const u_char *)"postern", NULL, &st);
	if (h == NULL)
		return error_set(err, ERR_TEMP, "dkim verify: %s",
				 dkim_getresultstr(st));
	vc.tempfail = buf_new();
	dkim_set_user_context(h, &vc);
	/* A key that cannot be had (KEYFAIL, NOKEY...) stops the handle at
	 * the end of the header; what each signature got is in its
	 * siginfo either way, so statuses only matter without one. */
	st = dkim_chunk(h, (u_char *)msg, len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(h, NULL, 0);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(h, NULL);
	if (dkim_getsiglist(h, &sigs, &nsigs) != DKIM_STAT_OK || nsigs <= 0) {
		dkim_free(h);
		buf_free(&vc.tempfail);
		if (st == DKIM_STAT_OK || st == DKIM_STAT_NOSIG)
			return 0;
		return error_set(err, ERR_PERM, "dkim verify: %s",
				 dkim_getresultstr(st));
	}
	*results_r = xcalloc((size_t)nsigs, sizeof(**results_r));
	for (int i = 0; i < nsigs; i++)
		sig_result(sigs[i], vc.tempfail, &(*results_r)[i]);
	*n_r = (size_t)nsigs;
	dkim_free(h);
	buf_free(&vc.tempfail);
	return 0;
}
