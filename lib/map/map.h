/*
 * map - Postfix-style lookup tables ("maps"), as dict(3) and postmap(1).
 *
 * A map is named `type:name` and answers a string for a key:
 *
 *   static:VALUE          every key answers VALUE (`static:{ a b }` keeps
 *                         the spaces inside the braces)
 *   inline:{k=v, k2=v2}   a small table in the spec itself, inline_table(5):
 *                         elements separated by commas or white space,
 *                         `{ key = value with spaces, or commas }` braces
 *   texthash:/path        `key value` lines, read once at open
 *   cidr:/path            cidr_table(5): `network/len result`, v4 and v6,
 *                         first match wins, `!` negation, if/endif
 *   pcre:/path            pcre_table(5): `/regex/flags result` with $1..$9,
 *                         `!/re/`, if/endif; case-insensitive by default
 *   lmdb:/path            /path.lmdb built by map_lmdb_build() from a
 *                         texthash-style source (`postern map build`)
 *   sql:/path/file.cf     mysql_table(5)/pgsql_table(5) style queries
 *   fail:NAME             every lookup fails with ERR_TEMP (tests)
 *
 * Files are parsed when the map is opened; an error names "FILE:LINE:" and
 * has kind ERR_CONFIG.  Continuation lines (starting with white space) and
 * `#` comment lines work as in Postfix.
 *
 * Case folding follows Postfix: keys are lower-cased (ASCII) when static,
 * inline, texthash, lmdb and sql maps are built and looked up; cidr keys
 * are addresses; pcre keeps the key as given and matches it caselessly
 * unless the `i` flag turns that off.  Values keep their case.
 *
 * SQL maps (the .cf file, `name = value` lines):
 *   query = SELECT ... WHERE x = '%s'   %s whole key, %u local part (whole
 *        key without @), %d domain part, %% a percent sign.  Each expansion
 *        is turned into a bound `?` parameter, never pasted into the SQL
 *        text: '%s' becomes ?, and a quoted literal holding expansions
 *        ('%u@%d', '%%%s') becomes one parameter with the expanded text.
 *        A query needing %d for a key without @, or %u with an empty local
 *        part, is not run (not found), as Postfix.
 *   domain = a.example, b.example       only keys user@<one of these> are
 *        looked up; others are not found without a query.
 *   result_format = %s                  per value: %s the value, %u and %d
 *        its local and domain part, %S/%U/%D the key's.  Rows and columns
 *        are joined with ", "; NULL and empty values are skipped.
 *   driver (or dbtype), host (or hosts), port, dbname, user, password,
 *   dbpath: the connection.  When none is given the map uses the shared
 *   struct db of its map_env, or opens one from the main configuration's
 *   database_* parameters.  A map's own connection is opened at its first
 *   lookup, so a server that is down makes lookups fail with ERR_TEMP,
 *   not map_open().
 *
 * Error contract: lookups return 1 found (value in value_r, replacing its
 * content), 0 not found, -1 with err.  ERR_TEMP (database down, fail:)
 * means "try again later" and is never turned into not found; an SQL
 * error that is not transient is reported as ERR_CONFIG.
 *
 * Threads: an open map is read-only; lookups may run from several threads
 * at once (sql maps through the thread-safe struct db pool).
 */
#ifndef POSTERN_MAP_H
#define POSTERN_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/error.h"
#include "db/db.h"

struct map;

/* What some map types need; every field may be NULL.  Borrowed: it must
 * outlive the maps opened with it. */
struct map_env {
	/* pcre_match_limit; database_* for sql maps without their own
	 * connection settings.  NULL: the built-in defaults. */
	const struct conf *conf;
	/* Shared database for sql maps without connection settings. */
	struct db *db;
};

/* Open `type:name`; NULL with err (ERR_CONFIG for a bad spec or file,
 * ERR_TEMP when a file cannot be read for a transient reason). */
struct map *map_open(const char *spec, const struct map_env *env,
		     struct error *err);
/*
 * Parse a file-based map (texthash, cidr, pcre) or an inline table from
 * memory instead of a file: tests and fuzzing.  `origin` names the text
 * in errors ("origin:LINE: ...").
 */
struct map *map_open_text(const char *type, const char *origin,
			  const char *text, size_t len,
			  const struct map_env *env, struct error *err);
void map_free(struct map **map);
/* The spec the map was opened with ("texthash:/etc/x"). */
const char *map_spec(const struct map *map);

/* Look up `key` (see the folding rules above). */
int map_lookup(struct map *map, const char *key, struct buf *value_r,
	       struct error *err);
/*
 * Postfix virtual(5) order for an address: user+ext@domain, user@domain,
 * then @domain (user+ext, then user, for a key without @).  The extension
 * starts at the first character of the local part that is one of
 * `delimiters` (NULL or "" for none; not at position 0).  A -1 at any
 * step stops the search with -1.
 */
int map_lookup_address(struct map *map, const char *address,
		       const char *delimiters, struct buf *value_r,
		       struct error *err);
/* Look up a domain name (the part after the last @ if given an address),
 * without a trailing dot. */
int map_lookup_domain(struct map *map, const char *domain, struct buf *value_r,
		      struct error *err);

/*
 * postmap: read the texthash-style `source` and write `source`.lmdb,
 * built in a temporary file and renamed over the old one, so readers see
 * the old or the new table, never half of one.  Keys are lower-cased.
 */
int map_lmdb_build(const char *source, struct error *err);

/*
 * Write the default sql map files that the default configuration names
 * (domains.cf, mailboxes.cf, aliases.cf, alias-domains.cf) into `dir`
 * (created if missing), mode 0640.  Existing files are left alone, so an
 * administrator's edits survive a second `postern init`.
 */
int map_sql_write_defaults(const char *dir, struct error *err);

/*
 * $mynetworks (networks separated by commas or white space) as a cidr
 * map answering "OK" for a client address inside; NULL with err
 * (ERR_CONFIG, prefixed "mynetworks") for a bad network.  The caller
 * frees it with map_free().
 */
struct map *map_mynetworks_open(const struct conf *conf, struct error *err);

#endif
