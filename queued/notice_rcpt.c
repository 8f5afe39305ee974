/*
 * notice_rcpt - where a postmaster notice goes (see notice_rcpt.h).
 */
#include <stdlib.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "map/map.h"
#include "rewrite/virtual.h"

#include "notice_rcpt.h"

struct notice_rcpt {
	struct db *db;
	struct map_env env;
	struct virtual_maps maps;
	struct virtual_opts opts;
	char *origin; /* $myorigin */
	char *delimiters;
	char *role_addresses;
	char *role_recipient;
};

struct notice_rcpt *notice_rcpt_new(const struct conf *conf)
{
	struct notice_rcpt *n = xcalloc(1, sizeof(*n));
	struct error err;

	n->db = db_open_read(conf, &err);
	if (n->db == NULL)
		log_error("notices: database: %s", err.msg);
	n->env.db = n->db;
	virtual_maps_open(&n->maps, conf, &n->env, "notices");
	n->origin = xstrdup(conf_str(conf, "myorigin"));
	n->delimiters = xstrdup(conf_str(conf, "recipient_delimiter"));
	n->role_addresses = xstrdup(conf_str(conf, "role_addresses"));
	n->role_recipient = virtual_role_qualify(
	    conf_str(conf, "role_address_recipient"), n->origin);
	n->opts.delimiters = n->delimiters;
	n->opts.recursion_limit =
	    (unsigned)conf_int(conf, "virtual_alias_recursion_limit");
	n->opts.expansion_limit =
	    (unsigned)conf_int(conf, "virtual_alias_expansion_limit");
	n->opts.relay_ok = true; /* the administrator chose the address */
	n->opts.role_addresses = n->role_addresses;
	n->opts.role_recipient = n->role_recipient;
	return n;
}

void notice_rcpt_free(struct notice_rcpt **np)
{
	struct notice_rcpt *n = *np;

	if (n == NULL)
		return;
	virtual_maps_close(&n->maps);
	db_close(&n->db);
	free(n->origin);
	free(n->delimiters);
	free(n->role_addresses);
	free(n->role_recipient);
	free(n);
	*np = NULL;
}

void notice_rcpt_expand(struct notice_rcpt *n, const char *name,
			struct array *out)
{
	char *addr = virtual_role_qualify(name, n->origin);
	struct array *finals = array_new();
	struct smtp_reply reply;

	if (virtual_resolve(&n->maps, addr, &n->opts, "notice", finals, &reply) ==
	    0) {
		for (size_t i = 0; i < array_len(finals); i++) {
			struct virtual_final *f = array_get(finals, i);

			array_push(out, xstrdup(f->addr));
		}
	} else {
		log_warn("notice recipient <%s>: %u %s %s", addr, reply.code,
			 reply.enhanced, reply.text);
		array_push(out, xstrdup(addr));
	}
	virtual_finals_free(&finals);
	free(addr);
}
