/*
 * login_log - Dovecot-style login log lines (login_log.h).
 */
#include <stddef.h>

#include "auth/login_log.h"
#include "core/log.h"

void login_log(const char *what, const char *user, const char *method,
	       const char *rip, const char *lip, bool tls, const char *session)
{
	char safe[130];
	size_t i, j = 0;

	for (i = 0; user != NULL && user[i] != '\0' && j + 1 < sizeof(safe);
	     i++)
		safe[j++] =
		    (user[i] >= 0x20 && user[i] != 0x7f) ? user[i] : '?';
	safe[j] = '\0';
	log_info("imap-login: %s: user=<%s>, method=%s, rip=%s, lip=%s%s, "
		 "session=<%s>",
		 what, safe, method, rip, lip, tls ? ", TLS" : "", session);
}
