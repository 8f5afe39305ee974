/*
 * lmtp_address - pure helpers of recipient resolution for the LMTP
 * servers (lmtpd's virtual_mailbox_maps lookups, the proxy's backend
 * lookups), kept apart from the blocking lookups so they can be unit
 * tested.
 *
 * lmtp_address_keys(): the lookup keys of a recipient, in order, as
 * Postfix's virtual(8) tries them: the address as given, then, when the
 * local part has a recipient-delimiter extension (address_split_local:
 * "user+tag"), the address without it.  Keys are lower-cased (ASCII),
 * like the map keys and the SQL rows they are compared with.
 *
 * lmtp_mailbox_parse(): split a virtual_mailbox_maps answer
 * "DOMAIN/USER/" (the Maildir below mail_directory) into its parts,
 * refusing anything that is not exactly two safe path components
 * (store_domain_valid / store_local_valid): a map answer never leads
 * outside the store.
 */
#ifndef POSTERN_LMTP_LMTP_ADDRESS_H
#define POSTERN_LMTP_LMTP_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

/* Fills keys_r with 1 or 2 malloc'd keys; returns how many. */
size_t lmtp_address_keys(const char *local, const char *domain,
			 const char *delimiters, char *keys_r[2]);

/* true with malloc'd *domain_r and *local_r; false for a bad answer. */
bool lmtp_mailbox_parse(const char *answer, char **domain_r, char **local_r);

#endif
