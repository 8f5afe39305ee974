/*
 * smtpd-settings.c - postern-smtpd's parameters, read once per load of
 * main.cf.  Sessions hold a reference, so a reload (SIGHUP) applies to new
 * sessions while running ones finish with what they started with.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/str.h"
#include "core/xmalloc.h"
#include "map/map.h"
#include "smtpd-notify.h"
#include "smtpd.h"

static unsigned clamp_uint(long long v)
{
	if (v < 0)
		return 0;
	if (v > (long long)UINT32_MAX)
		return UINT32_MAX;
	return (unsigned)v;
}

struct smtpd_settings *smtpd_settings_new(const struct conf *conf,
					  struct error *err)
{
	struct smtpd_settings *set;
	enum smtp_bare_mode mode;
	const char *bare = conf_str(conf, "smtpd_forbid_bare_newline");

	if (!smtp_bare_mode_parse(bare, &mode)) {
		error_set(err, ERR_CONFIG,
			  "smtpd_forbid_bare_newline: \"%s\" is not normalize, "
			  "yes, reject or no",
			  bare);
		return NULL;
	}
	set = xcalloc(1, sizeof(*set));
	set->refs = 1;
	set->myhostname = xstrdup(conf_str(conf, "myhostname"));
	set->banner = xstrdup(conf_str(conf, "smtpd_banner"));
	set->message_size_limit =
	    (uint64_t)conf_size(conf, "message_size_limit");
	set->bare_mode = mode;
	set->recipient_limit =
	    clamp_uint(conf_int(conf, "smtpd_recipient_limit"));
	set->timeout_ms = conf_time(conf, "smtpd_timeout") * 1000;
	set->handshake_timeout_ms =
	    conf_time(conf, "tls_handshake_timeout") * 1000;
	set->soft_error_limit =
	    clamp_uint(conf_int(conf, "smtpd_soft_error_limit"));
	set->hard_error_limit =
	    clamp_uint(conf_int(conf, "smtpd_hard_error_limit"));
	set->error_sleep_ms = conf_time(conf, "smtpd_error_sleep_time") * 1000;
	set->recipient_delimiter =
	    xstrdup(conf_str(conf, "recipient_delimiter"));
	set->alias_recursion_limit =
	    clamp_uint(conf_int(conf, "virtual_alias_recursion_limit"));
	set->alias_expansion_limit =
	    clamp_uint(conf_int(conf, "virtual_alias_expansion_limit"));
	set->submission_services =
	    xstrdup(conf_str(conf, "smtpd_submission_services"));
	set->sasl_mechanisms = xstrdup(conf_str(conf, "smtpd_sasl_mechanisms"));
	set->mail_directory = xstrdup(conf_str(conf, "mail_directory"));
	set->quota_permanent = conf_bool(conf, "quota_exceeded_permanent");
	set->content_filter = xstrdup(conf_str(conf, "content_filter"));
	set->dkim_sign_reinjected =
	    conf_bool(conf, "smtpd_dkim_sign_reinjected");
	set->submission_login_check =
	    conf_bool(conf, "smtpd_submission_sender_login_check");
	set->role_addresses = xstrdup(conf_str(conf, "role_addresses"));
	set->role_recipient =
	    virtual_role_qualify(conf_str(conf, "role_address_recipient"),
			       conf_str(conf, "myorigin"));
	set->notify_classes =
	    smtpd_notify_classes(conf_str(conf, "notify_classes"));
	set->error_rcpt =
	    virtual_role_qualify(conf_str(conf, "error_notice_recipient"),
			       conf_str(conf, "myorigin"));
	set->error_rcpt_guessed =
	    strchr(conf_str(conf, "error_notice_recipient"), '@') == NULL;
	set->queue_socket = xstrdup(conf_str(conf, "queue_socket"));
	if (set->recipient_limit == 0)
		set->recipient_limit = 1;
	if (set->hard_error_limit == 0)
		set->hard_error_limit = 1;
	return set;
}

struct smtpd_settings *smtpd_settings_ref(struct smtpd_settings *set)
{
	set->refs++;
	return set;
}

void smtpd_settings_unref(struct smtpd_settings **setp)
{
	struct smtpd_settings *set = *setp;

	if (set == NULL)
		return;
	*setp = NULL;
	if (--set->refs > 0)
		return;
	free(set->myhostname);
	free(set->banner);
	free(set->recipient_delimiter);
	free(set->submission_services);
	free(set->sasl_mechanisms);
	free(set->mail_directory);
	free(set->content_filter);
	free(set->role_addresses);
	free(set->role_recipient);
	free(set->error_rcpt);
	free(set->queue_socket);
	free(set);
}

bool smtpd_settings_is_submission(const struct smtpd_settings *set,
				  const char *service)
{
	struct array *names = str_split(set->submission_services, ", \t");
	bool found = false;

	for (size_t i = 0; !found && i < array_len(names); i++)
		found = strcasecmp(array_get(names, i), service) == 0;
	array_free_with(&names, free);
	return found;
}

struct map *smtpd_mynetworks_open(const struct conf *conf, struct error *err)
{
	return map_mynetworks_open(conf, err);
}
