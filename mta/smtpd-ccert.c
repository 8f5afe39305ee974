/*
 * smtpd-ccert.c - TLS client certificates in postern-smtpd (see
 * smtpd-ccert.h).  Log lines and the Received comment follow Postfix:
 *   <id>: Trusted TLS connection established from host[addr]: TLSv1.3
 *         with cipher ... (256/256 bits)     (Anonymous: no certificate,
 *         Untrusted: one that does not verify)
 *   (Client CN "client.example", Issuer "Example CA" (verified OK))
 * The context only ever asks (TLS_CCERT_ASK): one SSL_CTX serves every
 * listener of the process and smtpd_tls_req_ccert applies only where TLS
 * is enforced, so the refusal is an SMTP 421 after the handshake, as
 * Postfix's smtpd does it.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "tls/io.h"
#include "tls/tls.h"

#include "smtpd-ccert.h"
#include "smtpd.h"

int smtpd_ccert_open(struct smtpd *smtpd, const struct conf *conf,
		     struct error *err)
{
	struct smtpd_ccert_conf *cc = &smtpd->ccert;
	struct tls_ctx *tls = smtpd_tls(smtpd);
	const char *digest = conf_str(conf, "smtpd_tls_fingerprint_digest");
	long long depth = conf_int(conf, "smtpd_tls_ccert_verifydepth");

	cc->req = conf_bool(conf, "smtpd_tls_req_ccert");
	cc->ask = cc->req || conf_bool(conf, "smtpd_tls_ask_ccert");
	if (tls_digest_check(digest, err) < 0) {
		error_prefix(err, "smtpd_tls_fingerprint_digest");
		return -1;
	}
	cc->digest = xstrdup(digest);
	if (!cc->ask || tls == NULL)
		return 0;
	struct tls_ccert_config tc = {
	    .mode = TLS_CCERT_ASK,
	    .ca_file = conf_str(conf, "smtpd_tls_CAfile"),
	    .ca_path = conf_str(conf, "smtpd_tls_CApath"),
	    .verify_depth = depth > 0 && depth < 100 ? (int)depth : 0,
	};
	if (tls_server_set_ccert(tls, &tc, err) < 0) {
		error_prefix(err, "smtpd_tls_CAfile/smtpd_tls_CApath");
		return -1;
	}
	return 0;
}

void smtpd_ccert_close(struct smtpd *smtpd)
{
	free(smtpd->ccert.digest);
	smtpd->ccert.digest = NULL;
}

void smtpd_ccert_free(struct smtpd_ccert **cp)
{
	struct smtpd_ccert *c = *cp;

	if (c == NULL)
		return;
	free(c->fingerprint);
	free(c->pkey_fingerprint);
	free(c->subject_cn);
	free(c->issuer_cn);
	free(c);
	*cp = NULL;
}

static char *fingerprint(struct io *io, const char *digest, bool pkey)
{
	struct buf *b = buf_new();
	char *s = NULL;

	if (io_tls_peer_fingerprint(io, digest, pkey, b) == 0)
		s = buf_steal(b);
	buf_free(&b);
	return s;
}

static char *cn_of(struct io *io, bool issuer)
{
	struct buf *b = buf_new();
	char *s;

	if (issuer)
		io_tls_peer_issuer_cn(io, b);
	else
		io_tls_peer_subject_cn(io, b);
	s = buf_steal(b);
	buf_free(&b);
	return s;
}

/* TLS is enforced on implicit-TLS listeners and on submission services
 * (MAIL needs STARTTLS first): Postfix's "mandatory TLS encryption". */
static bool tls_enforced(const struct smtpd_session *s)
{
	return s->implicit_tls || s->submission;
}

bool smtpd_ccert_tls_ready(struct smtpd_session *s)
{
	const struct smtpd_ccert_conf *cc = &s->smtpd->ccert;
	struct smtpd_ccert *c;
	struct buf *d;
	static bool warned;

	if (!cc->ask || s->io == NULL)
		return false;
	smtpd_ccert_free(&s->ccert);
	c = s->ccert = xcalloc(1, sizeof(*c));
	c->present = io_tls_peer_cert(s->io);
	c->verified = io_tls_peer_verified(s->io);
	c->verify_text = io_tls_peer_verify_text(s->io);
	if (c->present) {
		c->fingerprint = fingerprint(s->io, cc->digest, false);
		c->pkey_fingerprint = fingerprint(s->io, cc->digest, true);
		c->subject_cn = cn_of(s->io, false);
		c->issuer_cn = cn_of(s->io, true);
	}
	d = buf_new();
	io_tls_describe(s->io, d);
	log_info("%s: %s TLS connection established from %s: %s", s->id,
		 !c->present ? "Anonymous"
			     : (c->verified ? "Trusted" : "Untrusted"),
		 smtpd_client_log(s), buf_data(d));
	buf_free(&d);
	if (c->present)
		log_info("%s: client certificate subject_CN=%s, issuer=%s, "
			 "fingerprint=%s, pkey_fingerprint=%s (%s)",
			 s->id, c->subject_cn, c->issuer_cn,
			 c->fingerprint ? c->fingerprint : "",
			 c->pkey_fingerprint ? c->pkey_fingerprint : "",
			 c->verify_text);
	if (!cc->req || c->verified)
		return false;
	if (!tls_enforced(s)) {
		if (!warned)
			log_warn("smtpd_tls_req_ccert is ignored where TLS is "
				 "optional (service %s): asking only",
				 s->service);
		warned = true;
		return false;
	}
	log_info("NOQUEUE: abort: TLS from %s: %s", smtpd_client_log(s),
		 c->present ? "client certificate not trusted"
			    : "no client certificate");
	smtpd_reply(s, 421, "4.7.1", "%s Error: %s", s->set->myhostname,
		    c->present ? "client certificate not trusted"
			       : "client certificate required");
	smtpd_session_close(s);
	return true;
}

/* Header comment text: no quotes or parentheses that would end it. */
static void append_quoted(struct buf *h, const char *s)
{
	for (; *s != '\0'; s++)
		if (*s != '"' && *s != '\\' && *s != '(' && *s != ')' &&
		    *s != '\r' && *s != '\n')
			buf_append_char(h, *s);
}

void smtpd_ccert_received(const struct smtpd_session *s, struct buf *h)
{
	const struct smtpd_ccert *c = s->ccert;

	if (c == NULL)
		return;
	if (!c->present) {
		buf_append_str(h,
			       "\t(Client did not present a certificate)\r\n");
		return;
	}
	buf_append_str(h, "\t(Client CN \"");
	append_quoted(h, c->subject_cn);
	buf_append_str(h, "\", Issuer \"");
	append_quoted(h, c->issuer_cn);
	buf_append_str(h, c->verified ? "\" (verified OK))\r\n"
				      : "\" (not verified))\r\n");
}
