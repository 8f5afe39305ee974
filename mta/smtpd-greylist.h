/*
 * smtpd-greylist - check_greylist: greylisting kept in the SQL database
 * (tables greylist and greylist_clients, migration 004).  Postfix has no
 * such restriction (it delegates to policy servers such as postgrey);
 * the name check_greylist is ours.
 *
 * A triplet is (client network, sender, recipient): the client address
 * cut to $greylist_ipv4_prefix (24) or $greylist_ipv6_prefix (64) bits,
 * and the two addresses lower-cased.  The first time a triplet is seen
 * the recipient is deferred (450 4.7.1, as defer_if_permit); a retry at
 * least $greylist_delay later and within $greylist_retry_window of the
 * first attempt passes, and the triplet then passes without delay while
 * it is seen at least once per $greylist_max_age.  A client network
 * whose triplets passed $greylist_auto_allow_count times passes every
 * triplet (0: never).  Old rows are deleted every
 * $greylist_cleanup_interval by the check that notices it is due.
 *
 * A database that fails gives 451 4.3.0 (greylist_tempfail_action =
 * defer, the default); with dunno the check is skipped (mail is then
 * accepted without greylisting, logged).
 *
 * Threads: checks run in the worker pool, concurrently; the database
 * pool serialises nothing here, races between two attempts of the same
 * triplet only ever defer once more.
 */
#ifndef POSTERN_SMTPD_GREYLIST_H
#define POSTERN_SMTPD_GREYLIST_H

#include <stdint.h>

#include "conf/conf.h"
#include "core/error.h"

struct db;
struct smtpd_greylist;

/* db is borrowed; NULL with err (ERR_CONFIG) without one. */
struct smtpd_greylist *smtpd_greylist_new(const struct conf *conf,
					  struct db *db, struct error *err);
void smtpd_greylist_free(struct smtpd_greylist **g);

/*
 * Look the triplet up at time NOW (Unix seconds) and record the attempt.
 * 1: passes; 0: greylisted, *wait_r seconds still to wait; -1 with err
 * (ERR_TEMP) when the database failed.
 */
int smtpd_greylist_check(struct smtpd_greylist *g, const char *client_addr,
			 const char *sender, const char *recipient, int64_t now,
			 int64_t *wait_r, struct error *err);

/* "192.0.2.0/24", "2001:db8::/64": the network of ADDR (false if ADDR
 * is not an address). */
bool smtpd_greylist_network(const char *addr, unsigned v4_bits,
			    unsigned v6_bits, char *out, size_t size);

#endif
