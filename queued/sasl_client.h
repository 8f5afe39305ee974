/*
 * sasl_client - the SMTP client's SASL authentication (Postfix's
 * smtp_sasl_*), on Cyrus SASL's client API.
 *
 * Credentials come from $smtp_sasl_password_maps ("user:password"),
 * looked up by the next hop as written ("[relay.example]:587"), then
 * "[host]:port", "[host]", the server's host name and the next-hop
 * domain.  Everything Cyrus needs comes from callbacks (user, password,
 * options): no /etc/sasl2 file is read.  Mechanisms: those the server
 * offers, cut down by $smtp_sasl_mechanism_filter, allowed by
 * $smtp_sasl_security_options (plaintext) or
 * $smtp_sasl_tls_security_options (after STARTTLS).  No SASL security
 * layer is negotiated (max_ssf 1, as Postfix).
 *
 * Threads: loop thread only (Cyrus' client init is process-global).
 * Errors: -1 with err; ERR_CONFIG for a bad option word, ERR_TEMP for a
 * failed lookup or a SASL library error.
 */
#ifndef POSTERN_QUEUED_SASL_CLIENT_H
#define POSTERN_QUEUED_SASL_CLIENT_H

#include <stdbool.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/error.h"

struct dlv_sasl_conf;
struct dlv_sasl;

/* NULL with err when a map does not open or an option is unknown; a
 * conf with smtp_sasl_auth_enable = no gives a conf that never finds
 * credentials. */
struct dlv_sasl_conf *dlv_sasl_conf_new(const struct conf *conf,
					struct error *err);
void dlv_sasl_conf_free(struct dlv_sasl_conf **sc);

/* Credentials for a server; 1 found ("user:password" split, both owned
 * by the caller), 0 none, -1 with err (ERR_TEMP). */
int dlv_sasl_lookup(struct dlv_sasl_conf *sc, const char *nexthop,
		    const char *host, unsigned port, char **user_r,
		    char **pass_r, struct error *err);

/*
 * Start an exchange with the mechanisms the server offered (the words of
 * its AUTH line).  *cmd_r gets the AUTH command to send, without CRLF
 * (with an initial response when the mechanism has one).  NULL with err
 * when no mechanism fits (ERR_PERM) or Cyrus fails (ERR_TEMP).
 */
struct dlv_sasl *dlv_sasl_begin(struct dlv_sasl_conf *sc, const char *server,
				const char *user, const char *pass,
				const char *offered, bool tls, struct buf *cmd,
				struct error *err);
/* The answer to a 334 challenge (base64 text after "334 "), into out. */
int dlv_sasl_step(struct dlv_sasl *s, const char *challenge, struct buf *out,
		  struct error *err);
/* The mechanism in use ("PLAIN"). */
const char *dlv_sasl_mech(const struct dlv_sasl *s);
void dlv_sasl_free(struct dlv_sasl **s);

#endif
