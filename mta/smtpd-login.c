/* smtpd-login.c - the owners of a sender address (smtpd-login.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/str.h"
#include "core/xmalloc.h"

#include "smtpd-login.h"

struct smtpd_login {
	struct map *map; /* $smtpd_sender_login_maps; NULL: built in */
};

struct smtpd_login *smtpd_login_new(const struct conf *conf,
				    const struct map_env *env,
				    struct error *err)
{
	struct smtpd_login *l = xcalloc(1, sizeof(*l));
	const char *spec = conf_str(conf, "smtpd_sender_login_maps");

	if (spec != NULL && *spec != '\0') {
		l->map = map_open(spec, env, err);
		if (l->map == NULL) {
			error_prefix(err, "smtpd_sender_login_maps");
			free(l);
			return NULL;
		}
	}
	return l;
}

void smtpd_login_free(struct smtpd_login **lp)
{
	struct smtpd_login *l = *lp;

	if (l == NULL)
		return;
	*lp = NULL;
	map_free(&l->map);
	free(l);
}

static int map_owners(const struct smtpd_login_ctx *c, const char *address,
		      struct array *owners_r, struct error *err)
{
	struct buf *v = buf_new();
	int ret =
	    map_lookup_address(c->login->map, address, c->delimiters, v, err);

	if (ret > 0) {
		struct array *names = str_split(buf_data(v), ", \t\r\n");
		for (size_t i = 0; i < array_len(names); i++)
			array_push(owners_r, xstrdup(array_get(names, i)));
		array_free_with(&names, free);
	}
	buf_free(&v);
	return ret < 0 ? -1 : 0;
}

/* Built in: the hosted mailboxes ADDRESS resolves to.  Role addresses
 * are left out (every domain's postmaster would otherwise belong to the
 * role recipient); a refusal (unknown, foreign) is no owner, a
 * temporary one an error. */
static int resolver_owners(const struct smtpd_login_ctx *c, const char *address,
			   struct array *owners_r, struct error *err)
{
	struct virtual_opts opts = {
	    .delimiters = c->delimiters,
	    .recursion_limit = c->recursion_limit,
	    .expansion_limit = c->expansion_limit,
	    .relay_ok = true,
	};
	struct array *finals = array_new();
	struct smtp_reply reply;
	int ret =
	    virtual_resolve(c->maps, address, &opts, c->log_id, finals, &reply);

	if (ret < 0) {
		virtual_finals_free(&finals);
		if (reply.code >= 400 && reply.code < 500)
			return error_set(err, ERR_TEMP, "%s: %u %s %s", address,
					 reply.code, reply.enhanced,
					 reply.text);
		return 0;
	}
	for (size_t i = 0; i < array_len(finals); i++) {
		const struct virtual_final *f = array_get(finals, i);
		if (f->local)
			array_push(owners_r, xstrdup(f->addr));
	}
	virtual_finals_free(&finals);
	return 0;
}

int smtpd_login_owners(const struct smtpd_login_ctx *c, const char *address,
		       struct array *owners_r, struct error *err)
{
	if (c->login != NULL && c->login->map != NULL)
		return map_owners(c, address, owners_r, err);
	if (c->maps == NULL)
		return 0;
	return resolver_owners(c, address, owners_r, err);
}

bool smtpd_login_listed(const struct array *owners, const char *login)
{
	for (size_t i = 0; i < array_len(owners); i++)
		if (strcasecmp(array_get(owners, i), login) == 0)
			return true;
	return false;
}

int smtpd_login_owns(const struct smtpd_login_ctx *c, const char *login,
		     const char *address, struct error *err)
{
	struct array *owners = array_new();
	int ret = smtpd_login_owners(c, address, owners, err);

	if (ret == 0)
		ret = smtpd_login_listed(owners, login) ? 1 : 0;
	array_free_with(&owners, free);
	return ret;
}
