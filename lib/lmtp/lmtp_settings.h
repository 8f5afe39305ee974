/*
 * lmtp_settings - the main.cf parameters of the LMTP server side that
 * every LMTP server shares (the engine, lmtp_session.h; the connection
 * glue, lmtp_conn.h; recipient keys), read once per configuration into
 * a plain struct.  A daemon's own parameters live in its own settings
 * (lmtpd: lmtp/lmtp-settings.h, which embeds this struct).
 *
 * Why a copy instead of conf_*() calls where needed: the config object
 * is replaced on reload while sessions are running; a session keeps the
 * settings it started with, so one message is never handled under two
 * configs.
 *
 * Ownership: lmtp_server_settings_load() fills a caller's struct with
 * malloc'd strings; lmtp_server_settings_clear() frees them.  Errors: -1
 * with ERR_CONFIG for a value that cannot work (an unknown
 * smtpd_forbid_bare_newline or lmtpd_tls_security_level).
 */
#ifndef POSTERN_LMTP_LMTP_SETTINGS_H
#define POSTERN_LMTP_LMTP_SETTINGS_H

#include <stdint.h>

#include "conf/conf.h"
#include "core/error.h"
#include "smtp/smtp_data.h"

enum lmtp_tls_level {
	LMTP_TLS_NONE,
	LMTP_TLS_MAY,
	LMTP_TLS_ENCRYPT,
};

struct lmtp_server_settings {
	char *hostname;		     /* myhostname: greeting, LHLO, Received */
	char *recipient_delimiter;   /* "" for none */
	uint64_t message_size_limit; /* 0: none */
	enum smtp_bare_mode bare_mode;
	int64_t timeout_ms; /* lmtpd_timeout */
	/* lmtpd_tls_security_level: STARTTLS is offered (may, encrypt) on a
	 * service with a TLS context (its services line says starttls);
	 * encrypt also refuses MAIL before TLS from network clients. */
	enum lmtp_tls_level tls_level;
};

int lmtp_server_settings_load(struct lmtp_server_settings *set,
			      const struct conf *conf, struct error *err);
void lmtp_server_settings_clear(struct lmtp_server_settings *set);

#endif
