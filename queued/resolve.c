/*
 * resolve - which transport and next hop a recipient takes (Postfix's
 * trivial-rewrite, resolve side):
 *
 *   1. a domain in $virtual_mailbox_domains (the map smtpd uses), or an
 *      address without a domain: lmtp to $lmtp_delivery_target;
 *   2. $transport_maps: the address, then its domain, then each parent
 *      domain as ".parent", then "*"; the value is transport:nexthop;
 *   3. $relayhost when set: smtp to it;
 *   4. $default_transport (smtp: the MX hosts of the recipient domain).
 *
 * A message with a content filter (queue_env.filter) skips all of this:
 * resolver_route_msg sends every recipient to the filter.
 *
 * Map lookups block (SQL).  They run on the loop thread, but each domain's
 * route is cached for RESOLVE_CACHE_MS, so a burst of mail to one domain
 * costs one lookup of each map; only the full-address transport_maps
 * lookup runs per recipient (not for hosted domains).  A temporary lookup
 * failure is not cached and gives the "retry" transport (the recipient is
 * deferred).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "map/map.h"

#include "queued.h"

#define RESOLVE_CACHE_MS (60 * 1000)
#define RESOLVE_CACHE_MAX 10000
#define RESOLVE_DOMAIN_MAX 256

struct cached {
	int64_t expires; /* monotonic ms */
	struct route route;
	bool hosted; /* route is the hosted one */
};

struct resolver {
	struct db *db;
	struct map_env env;
	struct map *hosted;    /* virtual_mailbox_domains */
	struct map *transport; /* transport_maps, or NULL */
	char *relayhost;
	char *default_transport;
	char *lmtp_target;
	struct hash *cache; /* lower-case domain -> struct cached * */
};

static struct map *open_map(struct resolver *r, const struct conf *conf,
			    const char *param)
{
	const char *spec = conf_str(conf, param);
	struct error err;
	struct map *m;

	if (spec == NULL || spec[0] == '\0')
		return NULL;
	m = map_open(spec, &r->env, &err);
	if (m == NULL) {
		/* As smtpd: a broken map defers mail, it does not stop us. */
		log_error("%s = %s: %s; lookups will fail until a restart",
			  param, spec, err.msg);
		m = map_open("fail:unavailable", &r->env, NULL);
	}
	return m;
}

struct resolver *resolver_new(const struct conf *conf)
{
	struct resolver *r = xcalloc(1, sizeof(*r));
	struct error err;

	/* Only lookups here: replicas first (database_read_hosts). */
	r->db = db_open_read(conf, &err);
	if (r->db == NULL)
		log_error("resolve: database: %s", err.msg);
	r->env.db = r->db;
	r->hosted = open_map(r, conf, "virtual_mailbox_domains");
	r->transport = open_map(r, conf, "transport_maps");
	r->relayhost = xstrdup(conf_str(conf, "relayhost"));
	r->default_transport = xstrdup(conf_str(conf, "default_transport"));
	r->lmtp_target = xstrdup(conf_str(conf, "lmtp_delivery_target"));
	r->cache = hash_new(HASH_DEFAULT, free);
	return r;
}

void resolver_free(struct resolver **rp)
{
	struct resolver *r = *rp;

	if (r == NULL)
		return;
	map_free(&r->hosted);
	map_free(&r->transport);
	db_close(&r->db);
	free(r->relayhost);
	free(r->default_transport);
	free(r->lmtp_target);
	hash_free(&r->cache);
	free(r);
	*rp = NULL;
}

static void set_route(struct route *out, enum transport_kind kind,
		      const char *nexthop)
{
	static const char *const names[] = {"lmtp", "smtp", "error", "discard",
					    "retry"};

	out->kind = kind;
	str_copy(out->nexthop, nexthop, sizeof(out->nexthop));
	snprintf(out->key, sizeof(out->key), "%s:%s", names[kind],
		 out->nexthop);
}

/*
 * "transport:nexthop" (a transport_maps value or $default_transport).  An
 * empty nexthop means the recipient domain (smtp) or
 * $lmtp_delivery_target (lmtp).  0, or -1 for an unknown transport.
 */
int resolver_parse(const char *value, const char *domain,
		   const char *lmtp_target, struct route *out)
{
	const char *colon = strchr(value, ':');
	size_t tlen = colon != NULL ? (size_t)(colon - value) : strlen(value);
	const char *hop = colon != NULL ? colon + 1 : "";
	char tbuf[32], *t;

	if (tlen >= sizeof(tbuf))
		return -1;
	memcpy(tbuf, value, tlen);
	tbuf[tlen] = '\0';
	t = str_trim(tbuf);
	while (*hop == ' ' || *hop == '\t')
		hop++;
	if (strcasecmp(t, "smtp") == 0)
		set_route(out, TR_SMTP, *hop != '\0' ? hop : domain);
	else if (strcasecmp(t, "lmtp") == 0)
		set_route(out, TR_LMTP, *hop != '\0' ? hop : lmtp_target);
	else if (strcasecmp(t, "error") == 0)
		set_route(out, TR_ERROR,
			  *hop != '\0' ? hop
				       : "mail for this domain is "
					 "refused");
	else if (strcasecmp(t, "discard") == 0)
		set_route(out, TR_DISCARD, *hop != '\0' ? hop : "discarded");
	else if (strcasecmp(t, "retry") == 0)
		set_route(out, TR_RETRY,
			  *hop != '\0' ? hop
				       : "delivery temporarily "
					 "suspended");
	else
		return -1;
	return 0;
}

static void temp_route(struct route *out, const char *what,
		       const struct error *err)
{
	struct buf *b = buf_new();

	buf_printf(b, "4.3.0 %s lookup error: %s", what, err->msg);
	set_route(out, TR_RETRY, buf_data(b));
	buf_free(&b);
}

/* transport_maps for a domain: domain, .parent..., "*".  1/0/-1. */
static int transport_lookup(struct resolver *r, const char *domain,
			    struct buf *value, struct error *err)
{
	int rc;
	char key[RESOLVE_DOMAIN_MAX + 2];
	const char *d;

	if ((rc = map_lookup(r->transport, domain, value, err)) != 0)
		return rc;
	for (d = strchr(domain, '.'); d != NULL; d = strchr(d + 1, '.')) {
		snprintf(key, sizeof(key), "%s", d);
		if ((rc = map_lookup(r->transport, key, value, err)) != 0)
			return rc;
	}
	return map_lookup(r->transport, "*", value, err);
}

static void parse_or_retry(struct resolver *r, const char *what,
			   const char *value, const char *domain,
			   struct route *out)
{
	if (resolver_parse(value, domain, r->lmtp_target, out) == 0)
		return;
	log_warn("%s: unknown transport in \"%s\"", what, value);
	set_route(out, TR_RETRY, "4.3.5 mail transport unavailable");
}

/* The route of a domain, without address-level transport_maps entries:
 * 1 cacheable, 0 not (a lookup failed). */
static int route_domain(struct resolver *r, const char *domain,
			struct buf *value, struct route *out, bool *hosted_r)
{
	struct error err;
	int rc;

	*hosted_r = false;
	rc = map_lookup_domain(r->hosted, domain, value, &err);
	if (rc < 0) {
		temp_route(out, "virtual_mailbox_domains", &err);
		return 0;
	}
	if (rc == 1) {
		*hosted_r = true;
		set_route(out, TR_LMTP, r->lmtp_target);
		return 1;
	}
	if (r->transport != NULL) {
		rc = transport_lookup(r, domain, value, &err);
		if (rc < 0) {
			temp_route(out, "transport_maps", &err);
			return 0;
		}
		if (rc == 1) {
			parse_or_retry(r, "transport_maps", buf_data(value),
				       domain, out);
			return 1;
		}
	}
	if (r->relayhost[0] != '\0')
		set_route(out, TR_SMTP, r->relayhost);
	else
		parse_or_retry(r, "default_transport", r->default_transport,
			       domain, out);
	return 1;
}

void resolver_route(struct resolver *r, const char *rcpt, struct route *out)
{
	const char *at = strrchr(rcpt, '@');
	char domain[RESOLVE_DOMAIN_MAX];
	struct buf *value = buf_new();
	struct error err;
	struct cached *c;
	bool hosted;
	int rc;

	str_copy(domain, at != NULL ? at + 1 : "", sizeof(domain));
	str_lower(domain);
	if (domain[0] == '\0') {
		set_route(out, TR_LMTP, r->lmtp_target);
		goto out;
	}
	c = hash_get(r->cache, domain);
	if (c != NULL && c->expires > time_mono_ms()) {
		*out = c->route;
		hosted = c->hosted;
	} else {
		if (route_domain(r, domain, value, out, &hosted) == 0)
			goto out; /* a failed lookup: not cached */
		if (hash_count(r->cache) >= RESOLVE_CACHE_MAX) {
			hash_free(&r->cache);
			r->cache = hash_new(HASH_DEFAULT, free);
		}
		c = xcalloc(1, sizeof(*c));
		c->expires = time_mono_ms() + RESOLVE_CACHE_MS;
		c->route = *out;
		c->hosted = hosted;
		hash_put(r->cache, domain, c);
	}
	/* A full-address transport_maps entry beats the domain's route
	 * (never cached: it is one recipient's). */
	if (hosted || r->transport == NULL)
		goto out;
	rc = map_lookup(r->transport, rcpt, value, &err);
	if (rc < 0)
		temp_route(out, "transport_maps", &err);
	else if (rc == 1)
		parse_or_retry(r, "transport_maps", buf_data(value), domain,
			       out);
out:
	buf_free(&value);
}

void resolver_route_msg(struct resolver *r, const struct queue_env *env,
			size_t i, struct route *out)
{
	const char *rcpt = env->rcpts[i].addr;
	const char *at = strrchr(rcpt, '@');

	if (env->filter == NULL || env->filter[0] == '\0') {
		resolver_route(r, rcpt, out);
		return;
	}
	/* An empty next hop is read as in transport_maps: the recipient
	 * domain for smtp, $lmtp_delivery_target for lmtp. */
	if (resolver_parse(env->filter, at != NULL ? at + 1 : "",
			   r->lmtp_target, out) == 0)
		return;
	log_warn("%s: content filter \"%s\": unknown transport; mail "
		 "deferred",
		 env->id, env->filter);
	set_route(out, TR_RETRY, "4.3.5 content filter transport unavailable");
}
