/*
 * smtpd-ccert - TLS client certificates in postern-smtpd, as Postfix's
 * smtpd_tls_ask_ccert, smtpd_tls_req_ccert and smtpd_tls_CAfile: the
 * server context asks for one (lib/tls tls_server_set_ccert), each
 * session records what it got at IO_TLSREADY (fingerprints for
 * permit_tls_clientcerts / check_ccert_access, subject and issuer CN for
 * the log and the Received header) and, where TLS is enforced and a
 * certificate is required, refuses a client without a verified one.
 *
 * Threads: loop thread; the recorded strings are copied into each check
 * (smtpd_check_ctx) before it goes to a worker.
 */
#ifndef POSTERN_SMTPD_CCERT_H
#define POSTERN_SMTPD_CCERT_H

#include <stdbool.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/error.h"

struct smtpd;
struct smtpd_session;

/* What the process asks (smtpd.ccert, read once at start-up). */
struct smtpd_ccert_conf {
	bool ask, req;
	char *digest; /* $smtpd_tls_fingerprint_digest */
};

/* What one session got (smtpd_session.ccert; NULL: not asked or no TLS). */
struct smtpd_ccert {
	bool present, verified;
	char *fingerprint, *pkey_fingerprint; /* NULL without a certificate */
	char *subject_cn, *issuer_cn;
	const char *verify_text; /* "verified OK", OpenSSL's reason, ... */
};

/* Start-up: read the parameters, set up the TLS context (if the process
 * has one).  -1 with err (ERR_CONFIG) for a bad digest or CA file. */
int smtpd_ccert_open(struct smtpd *smtpd, const struct conf *conf,
		     struct error *err);
void smtpd_ccert_close(struct smtpd *smtpd);
/* At IO_TLSREADY: record and log the certificate; true if the session
 * was refused (421 written, closing) because one was required. */
bool smtpd_ccert_tls_ready(struct smtpd_session *s);
/* The "(Client CN ...)" line of the Received header, when certificates
 * are asked for (nothing otherwise). */
void smtpd_ccert_received(const struct smtpd_session *s, struct buf *h);
void smtpd_ccert_free(struct smtpd_ccert **c);

#endif
