/*
 * throttle - count failed logins per key ("ip:192.0.2.1", "user:a@b.c")
 * and say when a key has failed too often, so imapd, smtpd and the admin
 * API can refuse further attempts for a while (as Dovecot's
 * auth_penalty / fail2ban would).
 *
 * A key is blocked once it has max_failures failures inside one window of
 * window_seconds that starts at its first failure; the window (and the
 * count) restart when it has passed, and a success clears the key.
 *
 * Memory is bounded: a fixed table of AUTH_THROTTLE_SLOTS entries holding
 * a 64-bit hash of the key (never the key itself), the count and the
 * window start.  When the table is full the entry with the oldest window
 * is reused, so an attacker cycling through addresses can push out old
 * entries but never grow the process.  A hash collision (about 2^-64)
 * would only share a counter.
 *
 * Threads: every function takes the throttle's mutex, so loop threads and
 * worker threads may share one throttle.  Nothing here fails.
 */
#ifndef POSTERN_AUTH_THROTTLE_H
#define POSTERN_AUTH_THROTTLE_H

#include <stdbool.h>
#include <time.h>

#define AUTH_THROTTLE_SLOTS 16384

struct auth_throttle;

/* max_failures 0 turns throttling off (never blocked). */
struct auth_throttle *auth_throttle_new(unsigned max_failures,
					unsigned window_seconds);
void auth_throttle_free(struct auth_throttle **t);

/* Has key failed max_failures times in its current window? */
bool auth_throttle_blocked(struct auth_throttle *t, const char *key,
			   time_t now);
void auth_throttle_failure(struct auth_throttle *t, const char *key,
			   time_t now);
/* A good login: forget the key's failures. */
void auth_throttle_success(struct auth_throttle *t, const char *key);
/* Failures counted for key in its current window (tests, admin API). */
unsigned auth_throttle_failures(struct auth_throttle *t, const char *key,
				time_t now);

#endif
