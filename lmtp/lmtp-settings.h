/*
 * lmtp-settings - the main.cf parameters postern-lmtpd uses, read once
 * per configuration (start-up and every reload) into a plain struct.
 *
 * Why a copy instead of conf_*() calls where needed: the config object
 * is replaced on reload while sessions and worker jobs are running; a
 * session keeps the settings of the backend it started with (see
 * lmtp-local.h), so one message is never handled under two configs.
 *
 * Ownership: lmtp_settings_load() fills a caller's struct with malloc'd
 * strings; lmtp_settings_clear() frees them.  Errors: -1 with ERR_CONFIG
 * for a value that cannot work (an unknown smtpd_forbid_bare_newline).
 */
#ifndef POSTERN_LMTP_SETTINGS_H
#define POSTERN_LMTP_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/error.h"
#include "smtp/smtp_data.h"

struct lmtp_settings {
	char *hostname;		   /* myhostname: greeting, LHLO, Received */
	char *recipient_delimiter; /* "" for none */
	char *mail_directory;
	char *mailbox_maps;	     /* virtual_mailbox_maps */
	uint64_t message_size_limit; /* 0: none */
	enum smtp_bare_mode bare_mode;
	bool quota_permanent;
	bool full_text_index; /* index at delivery (lib/fts) */
	int64_t timeout_ms; /* lmtpd_timeout */
};

int lmtp_settings_load(struct lmtp_settings *set, const struct conf *conf,
		       struct error *err);
void lmtp_settings_clear(struct lmtp_settings *set);

#endif
