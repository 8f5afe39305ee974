/*
 * lmtp-settings - the main.cf parameters postern-lmtpd uses, read once
 * per configuration (start-up and every reload) into a plain struct: the
 * LMTP server's shared ones (lmtp/lmtp_settings.h: hostname, size limit,
 * bare newlines, timeout, recipient_delimiter) and local delivery's own.
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

#include "conf/conf.h"
#include "core/error.h"
#include "lmtp/lmtp_settings.h"

struct lmtp_settings {
	struct lmtp_server_settings server; /* the protocol side's */
	char *mail_directory;
	char *mailbox_maps; /* virtual_mailbox_maps */
	bool quota_permanent;
	bool full_text_index; /* index at delivery (lib/fts) */
};

int lmtp_settings_load(struct lmtp_settings *set, const struct conf *conf,
		       struct error *err);
void lmtp_settings_clear(struct lmtp_settings *set);

#endif
