/*
 * virtual_open - open the four maps of recipient resolution from the
 * configuration, the same way in every program that resolves (smtpd,
 * pickup, queued's notices, the webmail, the command line).
 *
 * A map that cannot be opened (a missing or broken .cf) does not keep a
 * service down: it is logged and replaced by fail:unavailable, so every
 * lookup through it fails temporarily (451 4.3.0 at RCPT, maildrop files
 * wait) while the administrator fixes it and restarts the service.
 */
#include "rewrite/virtual.h"

#include "conf/conf.h"
#include "core/log.h"
#include "map/map.h"

static struct map *open_one(const struct conf *conf, const char *param,
			    const struct map_env *env, const char *who)
{
	struct error err;
	struct map *m = map_open(conf_str(conf, param), env, &err);

	if (m == NULL) {
		log_error("%s%s%s = %s: %s; lookups will fail until a restart",
			  who, *who != '\0' ? ": " : "", param,
			  conf_str(conf, param), err.msg);
		m = map_open("fail:unavailable", env, NULL);
		ASSERT(m != NULL);
	}
	return m;
}

void virtual_maps_open(struct virtual_maps *maps, const struct conf *conf,
		       const struct map_env *env, const char *who)
{
	maps->mailbox_domains =
	    open_one(conf, "virtual_mailbox_domains", env, who);
	maps->mailboxes = open_one(conf, "virtual_mailbox_maps", env, who);
	maps->aliases = open_one(conf, "virtual_alias_maps", env, who);
	maps->alias_domains = open_one(conf, "virtual_alias_domains", env, who);
}

void virtual_maps_close(struct virtual_maps *maps)
{
	map_free(&maps->mailbox_domains);
	map_free(&maps->mailboxes);
	map_free(&maps->aliases);
	map_free(&maps->alias_domains);
}
