/*
 * lmtp_settings - reading the LMTP server parameters (lmtp_settings.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "lmtp/lmtp_settings.h"

int lmtp_server_settings_load(struct lmtp_server_settings *set,
			      const struct conf *conf, struct error *err)
{
	const char *bare = conf_str(conf, "smtpd_forbid_bare_newline");
	const char *tls = conf_str(conf, "lmtpd_tls_security_level");
	long long size = conf_size(conf, "message_size_limit");

	memset(set, 0, sizeof(*set));
	if (!smtp_bare_mode_parse(bare, &set->bare_mode))
		return error_set(err, ERR_CONFIG,
				 "smtpd_forbid_bare_newline: unknown value "
				 "\"%s\" (normalize, yes, reject or no)",
				 bare);
	if (strcmp(tls, "none") == 0)
		set->tls_level = LMTP_TLS_NONE;
	else if (strcmp(tls, "may") == 0)
		set->tls_level = LMTP_TLS_MAY;
	else if (strcmp(tls, "encrypt") == 0)
		set->tls_level = LMTP_TLS_ENCRYPT;
	else
		return error_set(err, ERR_CONFIG,
				 "lmtpd_tls_security_level: unknown value "
				 "\"%s\" (none, may or encrypt)",
				 tls);
	set->hostname = xstrdup(conf_str(conf, "myhostname"));
	set->recipient_delimiter =
	    xstrdup(conf_str(conf, "recipient_delimiter"));
	set->message_size_limit = size > 0 ? (uint64_t)size : 0;
	set->timeout_ms = conf_time(conf, "lmtpd_timeout") * 1000;
	return 0;
}

void lmtp_server_settings_clear(struct lmtp_server_settings *set)
{
	free(set->hostname);
	free(set->recipient_delimiter);
	memset(set, 0, sizeof(*set));
}
