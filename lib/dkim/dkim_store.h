/*
 * dkim_store - the DKIM keys of hosted domains in SQL (table dkim_keys,
 * schema/<driver>/002_dkim_keys.sql), shared by `postern dkim`, the admin
 * API and postern-queued.
 *
 * A key is active (signing; at most one per algorithm and domain),
 * published (rotated out: no longer signs, but its TXT record must stay
 * in DNS until mail signed with it has been verified), or retired (its
 * private key erased; the row stays for the record).  Rotation makes a
 * new active key and leaves the old one published.
 *
 * Domains are passed normalised (lower-case A-labels, as provision.h
 * gives them).  Every change is one transaction with its audit row when
 * `who` is not NULL.  Errors: -1 with err->code "not_found",
 * "already_exists", "invalid_value" or "temporary_failure" (ERR_TEMP),
 * as provision.h's, so the admin API maps them alike.  Thread-safe as
 * struct db is.
 */
#ifndef POSTERN_DKIM_STORE_H
#define POSTERN_DKIM_STORE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"
#include "db/db.h"
#include "dkim/dkim.h"

/* The audit's who (provision.h's struct prov_actor, which sits above). */
struct dkim_actor {
	const char *actor;   /* "admin:alice", "token:3", "cli" */
	const char *client;  /* "" or "local" for the CLI */
	const char *details; /* JSON text or NULL */
};

/*
 * A new active key of alg for domain.  selector NULL: "rsa-YYYYMMDD" /
 * "ed-YYYYMMDD" (with "-2", "-3"... when taken).  already_exists when the
 * domain has an active key of alg (rotate it instead) or the selector is
 * taken.  The selector used is written to selector_out (may be NULL).
 */
int dkim_store_generate(struct db *db, const char *domain, enum dkim_alg alg,
			const char *selector, const struct dkim_actor *who,
			struct buf *selector_out, struct error *err);
/*
 * Replace the active key of alg by a new one (selector as above); the old
 * one stays published.  not_found when there is no active key of alg.
 */
int dkim_store_rotate(struct db *db, const char *domain, enum dkim_alg alg,
		      const struct dkim_actor *who, struct buf *selector_out,
		      struct error *err);
/*
 * Retire one key by selector, or (selector NULL) every published key
 * that no longer signs.  The number retired goes to *count_r; retiring
 * nothing named is not_found.
 */
int dkim_store_retire(struct db *db, const char *domain, const char *selector,
		      const struct dkim_actor *who, size_t *count_r,
		      struct error *err);
/*
 * Keys that are not retired (domain NULL: of every domain), oldest first.
 * Columns: 0 domain, 1 selector, 2 algorithm, 3 state ("active",
 * "published"), 4 public_key (p=), 5 created_at.  not_found when a named
 * domain is not hosted.
 */
int dkim_store_list(struct db *db, const char *domain, struct db_result **res_r,
		    struct error *err);

/* The active keys of a domain, for signing. */
struct dkim_store_key {
	char selector[64];
	enum dkim_alg alg;
	char *private_pem; /* malloc'd */
};
/* 0 with *keys_r (free with dkim_store_keys_free) and *n_r (0 when the
 * domain signs nothing), or -1. */
int dkim_store_active(struct db *db, const char *domain,
		      struct dkim_store_key **keys_r, size_t *n_r,
		      struct error *err);
void dkim_store_keys_free(struct dkim_store_key **keys, size_t n);

/* Is s a usable selector (RFC 6376 3.1: dot-separated sub-domain labels;
 * lower-case letters, digits, hyphens; 63 bytes at most)? */
bool dkim_selector_valid(const char *s);

#endif
