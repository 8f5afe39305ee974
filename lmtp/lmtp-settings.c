/*
 * lmtp-settings - reading postern-lmtpd's parameters (lmtp-settings.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "lmtp-settings.h"

int lmtp_settings_load(struct lmtp_settings *set, const struct conf *conf,
		       struct error *err)
{
	memset(set, 0, sizeof(*set));
	if (lmtp_server_settings_load(&set->server, conf, err) < 0)
		return -1;
	set->mail_directory = xstrdup(conf_str(conf, "mail_directory"));
	set->mailbox_maps = xstrdup(conf_str(conf, "virtual_mailbox_maps"));
	set->quota_permanent = conf_bool(conf, "quota_exceeded_permanent");
	set->full_text_index = conf_bool(conf, "full_text_index");
	return 0;
}

void lmtp_settings_clear(struct lmtp_settings *set)
{
	lmtp_server_settings_clear(&set->server);
	free(set->mail_directory);
	free(set->mailbox_maps);
	memset(set, 0, sizeof(*set));
}
