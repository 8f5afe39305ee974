/*
 * map_sql_defaults.c - the sql map files that the default configuration
 * names (virtual_mailbox_domains and friends), written by postern init.
 *
 * The queries use only SQL that SQLite, PostgreSQL and MariaDB read
 * alike (flags are 0/1 integers in every schema), and no connection
 * settings, so the maps follow database_* when the driver is switched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "core/xmalloc.h"
#include "map/map.h"

static const struct {
	const char *name;
	const char *text;
} defaults[] = {
    {"domains.cf",
     "# virtual_mailbox_domains: hosted domains (active ones only).\n"
     "# %s is bound as a query parameter, never pasted into the SQL.\n"
     "query = SELECT name FROM domains WHERE name = '%s' AND active = 1\n"},
    {"mailboxes.cf",
     "# virtual_mailbox_maps: hosted mailboxes of active domains.  The\n"
     "# answer is the Maildir below mail_directory: DOMAIN/USER/.\n"
     "query = SELECT m.address FROM mailboxes m\n"
     "\tJOIN domains d ON d.id = m.domain_id\n"
     "\tWHERE m.address = '%s' AND m.active = 1 AND d.active = 1\n"
     "result_format = %d/%u/\n"},
    {"aliases.cf",
     "# virtual_alias_maps: aliases and catch-alls (source @domain) of\n"
     "# active domains; the answer is the destination list.\n"
     "query = SELECT a.destinations FROM aliases a\n"
     "\tJOIN domains d ON d.id = a.domain_id\n"
     "\tWHERE a.source = '%s' AND a.active = 1 AND d.active = 1\n"},
    {"alias-domains.cf",
     "# virtual_alias_domains: alias domains; the answer is the target\n"
     "# domain, where user@ALIAS is delivered as user@TARGET.\n"
     "query = SELECT d.name FROM alias_domains a\n"
     "\tJOIN domains d ON d.id = a.target_domain_id\n"
     "\tWHERE a.alias_domain = '%s' AND a.active = 1 AND d.active = 1\n"},
};

int map_sql_write_defaults(const char *dir, struct error *err)
{
	if (fs_mkdir_p(dir, 0750, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		char *path = xasprintf("%s/%s", dir, defaults[i].name);
		int ret = 0;

		if (!fs_exists(path))
			ret = fs_write_atomic(path, defaults[i].text,
					      strlen(defaults[i].text), 0640,
					      err);
		free(path);
		if (ret < 0)
			return -1;
	}
	return 0;
}
