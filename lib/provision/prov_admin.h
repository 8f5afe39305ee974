/*
 * prov_admin - the admin API's own data: administrators, their domains,
 * bearer tokens and the audit trail, as operations shared by the admin
 * API and the `postern admin|token` commands.
 *
 * Administrators: role "superadmin" (everything) or "domain" (only the
 * domains listed in admin_domains).  Usernames are case-insensitive and
 * stored lower-case.  Passwords are stored hashed (the scheme given,
 * default_password_scheme) and never read back.
 *
 * Tokens (auth/token.h): only the SHA-256 of the secret is stored; a
 * token with admin_id NULL is the bootstrap token of `postern init`
 * (superadmin).  A token is usable while not revoked, not expired and
 * its admin is active.
 *
 * Errors as provision.h (codes invalid_value, not_found, already_exists,
 * temporary_failure).  Thread-safe like struct db.
 */
#ifndef POSTERN_PROV_ADMIN_H
#define POSTERN_PROV_ADMIN_H

#include <stdbool.h>

#include "auth/token.h"
#include "provision/provision.h"

struct prov_admin {
	const char *username;
	const char *password; /* plaintext, hashed before storing */
	const char *role;     /* "superadmin" or "domain" */
	const char *domains;  /* comma-separated; required for "domain" */
	bool active;
};

struct prov_admin_patch {
	const char *password; /* NULL: unchanged */
	const char *domains;  /* NULL: unchanged; replaces the whole set */
	int active;	      /* -1: unchanged */
};

int prov_admin_add(struct db *db, const struct prov_admin *a,
		   const char *scheme, const struct prov_actor *who,
		   struct error *err);
int prov_admin_update(struct db *db, const char *username,
		      const struct prov_admin_patch *p, const char *scheme,
		      const struct prov_actor *who, struct error *err);
int prov_admin_del(struct db *db, const char *username,
		   const struct prov_actor *who, struct error *err);
/* Rows: id, username, role, active, created_at.  get: 1, 0, -1. */
int prov_admin_get(struct db *db, const char *username,
		   struct db_result **res_r, struct error *err);
int prov_admin_page(struct db *db, const struct prov_page *page,
		    struct db_result **res_r, long long *total_r,
		    struct error *err);
/* The admin's domain names, comma-separated and sorted, into out. */
int prov_admin_domains(struct db *db, const char *admin_id, struct buf *out,
		       struct error *err);
/* Username and password of an active admin: 1 match (its id in id_out),
 * 0 no such admin or a wrong password, -1.  Runs Argon2: worker only. */
int prov_admin_login(struct db *db, const char *username,
		     const char *password, struct buf *id_out,
		     struct error *err);
/* Lower-case a username and check it: 1-64 of [a-z0-9._@+-]. */
int prov_admin_norm_username(const char *name, struct buf *out,
			     struct error *err);

/* Who a token belongs to (prov_token_auth). */
struct prov_token_info {
	char id[24];
	char admin_id[24]; /* "" for the bootstrap token */
	char username[72]; /* "" for the bootstrap token */
	bool superadmin;
};

/* 1 usable (info filled), 0 unknown/revoked/expired/admin inactive, -1. */
int prov_token_auth(struct db *db, const char *token, long long now,
		    struct prov_token_info *info, struct error *err);
/* A new token for admin_id (NULL: a bootstrap-like superadmin token);
 * expires_at 0: never.  The secret goes to token_out, shown once. */
int prov_token_create(struct db *db, const char *admin_id,
		      const char *description, long long expires_at,
		      char token_out[TOKEN_STR_LEN + 1], long long *id_r,
		      const struct prov_actor *who, struct error *err);
/* Revoke token id; with admin_id only that admin's (else not_found). */
int prov_token_revoke(struct db *db, const char *id, const char *admin_id,
		      const struct prov_actor *who, struct error *err);
/* Rows: id, username (NULL: bootstrap), description, created_at,
 * expires_at (NULL: never), revoked; only admin_id's when not NULL. */
int prov_token_page(struct db *db, const char *admin_id,
		    const struct prov_page *page, struct db_result **res_r,
		    long long *total_r, struct error *err);

struct prov_audit_filter {
	const char *actor, *action, *object_type, *object_id; /* NULL: any */
	long long since, until; /* Unix seconds, inclusive; 0: open */
};
/* Rows: id, at, actor, client_address, action, object_type, object_id,
 * details (NULL or JSON text); newest first. */
int prov_audit_page(struct db *db, const struct prov_audit_filter *f,
		    const struct prov_page *page, struct db_result **res_r,
		    long long *total_r, struct error *err);

#endif
