/*
 * proxy_backend - which backend serves a mailbox, for postern-imap-proxy
 * (docs/proxy.md; Dovecot's proxy=y host=... passdb fields).
 *
 * A mailbox row may name its backend (mailboxes.backend, "host:port",
 * schema 006); when it is NULL the backend comes from $proxy_backends by
 * rendezvous (highest random weight) hashing: every backend gets the
 * weight hash(backend, address) and the highest wins.  Adding an n-th
 * backend moves only the users whose new weight beats their old winner,
 * about 1/n of them, and removing one moves only its own users; a plain
 * "hash mod n" would move almost everyone.  The hash is fixed (FNV-1a
 * with a 64-bit finaliser, no per-process seed) so every proxy process
 * on every machine picks the same backend for an address.  The address
 * is hashed as given: pass the normalised (stored) form.
 *
 * Ownership: a proxy_backends list owns its strings; returned strings
 * are borrowed until proxy_backends_free.  Threads: a list is read-only
 * after parsing and may be shared; proxy_backend_lookup runs SQL (call it
 * from a worker).
 */
#ifndef POSTERN_PROXY_BACKEND_H
#define POSTERN_PROXY_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "db/db.h"

struct proxy_backends;

/* Parse "host:port, host:port ..." (comma or blank separated; "[v6]:port"
 * allowed).  An empty list is valid (then every mailbox needs its
 * backend column).  NULL with ERR_CONFIG for an entry without a port or
 * a duplicate. */
struct proxy_backends *proxy_backends_parse(const char *list,
					    struct error *err);
void proxy_backends_free(struct proxy_backends **b);
size_t proxy_backends_count(const struct proxy_backends *b);
const char *proxy_backends_get(const struct proxy_backends *b, size_t i);

/* The rendezvous weight of backend for address (exposed for tests). */
uint64_t proxy_backend_weight(const char *backend, const char *address);
/* The backend of address by hash; NULL when the list is empty. */
const char *proxy_backend_hash(const struct proxy_backends *b,
			       const char *address);

/*
 * The backend of a stored (normalised) mailbox address: the row's
 * backend column, else the hash choice, into out.  1 found, 0 no such
 * active mailbox (or NULL column and no $proxy_backends), -1 with err
 * (ERR_TEMP: the database is down).
 */
int proxy_backend_lookup(struct db *db, const struct proxy_backends *b,
			 const char *address, struct buf *out,
			 struct error *err);

/* "host:port" / "[v6]:port" with a port of 1..65535. */
bool proxy_backend_valid(const char *backend);
/* The row's own backend column (admin API): 1 with it in out, 0 NULL or
 * no such mailbox, -1 with err. */
int proxy_backend_column(struct db *db, const char *address, struct buf *out,
			 struct error *err);
/* Set the column (NULL: back to the hash): 1 done, 0 no such mailbox,
 * -1 with err (ERR_PERM "invalid_value" for a malformed backend). */
int proxy_backend_set(struct db *db, const char *address, const char *backend,
		      struct error *err);

#endif
