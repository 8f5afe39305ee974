/*
 * smtpd-restrict-tls.c - the TLS client certificate restrictions, as
 * Postfix's (postconf(5)); the certificate is asked for only with
 * smtpd_tls_ask_ccert (smtpd-ccert.c), without one they find nothing:
 *
 *   permit_tls_clientcerts      OK when the certificate's fingerprint,
 *                               else its public key fingerprint, is a
 *                               key of $relay_clientcerts; the issuer
 *                               need not be trusted, the fingerprint is
 *                               the identity (Postfix's smtpd_check.c
 *                               does the same);
 *   permit_tls_all_clientcerts  OK for any certificate that verified;
 *   check_ccert_access TABLE    the fingerprint, then the public key
 *                               fingerprint, looked up in an access(5)
 *                               table (any presented certificate: the
 *                               fingerprint is the identity, as Postfix
 *                               >= 2.3); the first found decides.
 * Fingerprints use $smtpd_tls_fingerprint_digest (sha256), written
 * colon-separated uppercase hex.  A lookup failure gives 451 4.3.0.
 */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/log.h"

#include "smtpd-restrict-private.h"

int rx_ccert_open(struct smtpd_restrict *r, struct error *err)
{
	const char *spec;
	struct map *m;

	if (r->relay_clientcerts != NULL || r->conf == NULL)
		return 0;
	spec = conf_str(r->conf, "relay_clientcerts");
	if (spec == NULL || *spec == '\0')
		return 0; /* as Postfix: nothing is listed */
	m = hash_get(r->maps, spec);
	if (m == NULL) {
		m = map_open(spec, r->env, err);
		if (m == NULL) {
			error_prefix(err, "relay_clientcerts");
			return -1;
		}
		hash_put(r->maps, spec, m);
	}
	r->relay_clientcerts = m;
	return 0;
}

/* 1 found (value in v), 0 not found, -1 failed (logged). */
static int lookup(struct rx *e, struct map *m, const char *key, struct buf *v)
{
	struct error err;
	int ret;

	if (key == NULL)
		return 0;
	ret = map_lookup(m, key, v, &err);
	if (ret < 0)
		log_warn("%s: %s: lookup of %s: %s", e->in->log_id, map_spec(m),
			 key, err.msg);
	return ret;
}

/* The certificate's fingerprint, else its public key's, in map M. */
static int lookup_both(struct rx *e, struct map *m, struct buf *v,
		       const char **key_r)
{
	const struct smtpd_restrict_input *in = e->in;
	int ret = lookup(e, m, in->ccert_fingerprint, v);

	*key_r = in->ccert_fingerprint;
	if (ret == 0) {
		ret = lookup(e, m, in->ccert_pkey_fingerprint, v);
		*key_r = in->ccert_pkey_fingerprint;
	}
	return ret;
}

static int relay_certs(struct rx *e)
{
	const struct smtpd_restrict_input *in = e->in;
	struct buf *v;
	const char *key;
	int ret;

	if (in->ccert_fingerprint == NULL || e->r->relay_clientcerts == NULL)
		return RX_DUNNO;
	v = buf_new();
	ret = lookup_both(e, e->r->relay_clientcerts, v, &key);
	buf_free(&v);
	if (ret < 0)
		return rx_reject(e, 451, "4.3.0", "Temporary lookup failure");
	if (ret == 0)
		return RX_DUNNO;
	log_debug(LOG_TRACE_MAP, "%s: permit_tls_clientcerts: %s listed",
		  e->in->log_id, key);
	return RX_OK;
}

static int ccert_access(struct rx *e, const struct ritem *it)
{
	const struct smtpd_restrict_input *in = e->in;
	const char *name = in->ccert_subject != NULL ? in->ccert_subject : "";
	const char *cls = "Client certificate";
	struct buf *v;
	const char *key;
	int ret, res = RX_DUNNO;

	if (in->ccert_fingerprint == NULL)
		return RX_DUNNO;
	v = buf_new();
	ret = lookup_both(e, it->map, v, &key);
	if (ret < 0)
		res = rx_reject(e, 451, "4.3.0",
				"<%s>: %s rejected: Temporary lookup failure",
				name, cls);
	else if (ret == 1)
		res = rx_access_result(e, map_spec(it->map), name, cls,
				       buf_data(v));
	buf_free(&v);
	return res;
}

int rx_ccert(struct rx *e, const struct ritem *it)
{
	switch (it->kind) {
	case RK_PERMIT_TLS_CLIENTCERTS:
		return relay_certs(e);
	case RK_PERMIT_TLS_ALL_CLIENTCERTS:
		return e->in->ccert_fingerprint != NULL && e->in->ccert_verified
			   ? RX_OK
			   : RX_DUNNO;
	case RK_CCERT_ACCESS:
		return ccert_access(e, it);
	default:
		return RX_DUNNO;
	}
}
