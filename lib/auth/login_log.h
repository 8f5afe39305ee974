/*
 * login_log - the log line of an IMAP login attempt, in Dovecot's
 * format so that existing fail2ban filters and log tooling keep working:
 *   imap-login: Login failed: user=<a@b.c>, method=PLAIN,
 *   rip=192.0.2.1, lip=192.0.2.9, TLS, session=<...>
 * (one line).  The user name is the client's: control characters become
 * '?' and it is cut at 128 bytes, so a line stays one line.  Shared by
 * imapd and the IMAP proxy.  Any thread (core/log.h).
 */
#ifndef POSTERN_AUTH_LOGIN_LOG_H
#define POSTERN_AUTH_LOGIN_LOG_H

#include <stdbool.h>

/* what: "Login", "Login failed", ...; user may be NULL (logged empty). */
void login_log(const char *what, const char *user, const char *method,
	       const char *rip, const char *lip, bool tls, const char *session);

#endif
