/*
 * smtpd-filter.c - content filters the amavis way (docs/content-filter.md):
 * which "transport:nexthop" a message is handed to by postern-queued
 * instead of normal delivery, and Postfix's receive_override_options.
 *
 * The filter travels with the message (queue_env.filter, the 'G' record
 * of queue/submit.h).  It starts as $content_filter (smtpd_queue_begin);
 * a FILTER action of an access table or policy service (at RCPT or
 * DATA) or of header_checks/body_checks replaces it, each as it happens,
 * so the last one wins as in Postfix.  The reinjection listener is just
 * another smtpd service with -o content_filter= (services.cf), so what it
 * receives is not filtered again.
 */
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/str.h"
#include "queue/submit.h"

#include "smtpd.h"

unsigned smtpd_receive_overrides(const struct conf *conf)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
	    {"no_header_body_checks", SMTPD_NO_HEADER_BODY_CHECKS},
	    {"no_milters", SMTPD_NO_MILTERS},
	};
	const char *v = conf_str(conf, "receive_override_options");
	unsigned bits = 0;

	while (v != NULL && *v != '\0') {
		size_t n;

		v += strspn(v, ", \t");
		n = strcspn(v, ", \t");
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n &&
			    strncasecmp(v, names[i].name, n) == 0)
				bits |= names[i].bit;
		/* Postfix's other options (no_address_mappings,
		 * no_unknown_recipient_checks...) are accepted: they have
		 * no meaning here (docs/content-filter.md). */
		v += n;
	}
	return bits;
}

bool smtpd_filter_valid(const char *filter)
{
	const char *colon = strchr(filter, ':');

	/* transport:nexthop, as the queue takes it; the nexthop may be
	 * empty ("smtp:"), the transport may not. */
	if (colon == NULL || colon == filter)
		return false;
	for (const char *p = filter; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

void smtpd_filter_set(struct smtpd_session *s, const char *filter,
		      const char *why)
{
	struct smtpd_txn *t = s->txn;

	if (t == NULL || t->submit == NULL)
		return;
	if (!smtpd_filter_valid(filter)) {
		log_warn("%s: %s: FILTER \"%s\" is not transport:nexthop: "
			 "ignored",
			 smtpd_log_id(s), why, filter);
		return;
	}
	log_info("%s: filter: %s: %s", smtpd_log_id(s), why, filter);
	submit_set_filter(t->submit, filter);
}
