/*
 * postern-postscreen - the first line in front of postern-smtpd, as
 * Postfix's postscreen(8): see postscreen.h for the files and
 * docs/postscreen.md for the behaviour and parameters.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "db/db.h"
#include "dns/dns.h"
#include "ev/worker.h"
#include "map/map.h"

#include "postscreen.h"

static struct postscreen ps;
static struct db *ps_db;

const char *psc_action_name(enum psc_action a)
{
	switch (a) {
	case PSC_IGNORE:
		return "ignore";
	case PSC_ENFORCE:
		return "enforce";
	case PSC_DROP:
		return "drop";
	}
	return "?";
}

static int parse_action(const struct conf *conf, const char *name,
			enum psc_action *a_r, struct error *err)
{
	const char *v = conf_str(conf, name);

	if (strcasecmp(v, "ignore") == 0)
		*a_r = PSC_IGNORE;
	else if (strcasecmp(v, "enforce") == 0)
		*a_r = PSC_ENFORCE;
	else if (strcasecmp(v, "drop") == 0)
		*a_r = PSC_DROP;
	else
		return error_set(err, ERR_CONFIG,
				 "%s: \"%s\" is not ignore, enforce or drop",
				 name, v);
	return 0;
}

struct psc_settings *psc_settings_ref(struct psc_settings *s)
{
	s->refs++;
	return s;
}

void psc_settings_unref(struct psc_settings **sp)
{
	struct psc_settings *s = *sp;

	*sp = NULL;
	if (s == NULL || --s->refs > 0)
		return;
	free(s->banner);
	psc_dnsbl_free(&s->dnsbl);
	for (size_t i = 0; s->forbidden != NULL && s->forbidden[i]; i++)
		free(s->forbidden[i]);
	free(s->forbidden);
	free(s->pass_socket);
	free(s->hostname);
	free(s);
}

static struct psc_settings *settings_new(const struct conf *conf,
					 struct error *err)
{
	struct psc_settings *s = xcalloc(1, sizeof(*s));
	struct array *words;

	s->refs = 1;

	s->banner = xstrdup(conf_str(conf, "postscreen_greet_banner"));
	s->greet_wait_ms = conf_time(conf, "postscreen_greet_wait") * 1000;
	if (parse_action(conf, "postscreen_greet_action", &s->greet_action,
			 err) < 0 ||
	    parse_action(conf, "postscreen_dnsbl_action", &s->dnsbl_action,
			 err) < 0 ||
	    parse_action(conf, "postscreen_blacklist_action",
			 &s->blacklist_action, err) < 0 ||
	    parse_action(conf, "postscreen_pipelining_action",
			 &s->pipelining_action, err) < 0 ||
	    parse_action(conf, "postscreen_non_smtp_command_action",
			 &s->nonsmtp_action, err) < 0 ||
	    parse_action(conf, "postscreen_bare_newline_action",
			 &s->barenl_action, err) < 0) {
		psc_settings_unref(&s);
		return NULL;
	}
	const char *tls = conf_str(conf, "postscreen_tls_security_level");

	if (strcasecmp(tls, "none") == 0)
		s->tls_level = PSC_TLS_NONE;
	else if (strcasecmp(tls, "may") == 0)
		s->tls_level = PSC_TLS_MAY;
	else if (strcasecmp(tls, "encrypt") == 0)
		s->tls_level = PSC_TLS_ENCRYPT;
	else {
		error_set(err, ERR_CONFIG,
			  "postscreen_tls_security_level: \"%s\" is not none, "
			  "may or encrypt",
			  tls);
		psc_settings_unref(&s);
		return NULL;
	}
	s->dnsbl = psc_dnsbl_parse(conf_str(conf, "postscreen_dnsbl_sites"),
				   err);
	if (s->dnsbl == NULL) {
		psc_settings_unref(&s);
		return NULL;
	}
	s->ttl[PSC_T_PREGREET] = conf_time(conf, "postscreen_greet_ttl");
	s->ttl[PSC_T_DNSBL] = conf_time(conf, "postscreen_dnsbl_max_ttl");
	s->dnsbl_min_ttl = conf_time(conf, "postscreen_dnsbl_min_ttl");
	s->ttl[PSC_T_PIPELINING] = conf_time(conf, "postscreen_pipelining_ttl");
	s->ttl[PSC_T_NONSMTP] =
	    conf_time(conf, "postscreen_non_smtp_command_ttl");
	s->ttl[PSC_T_BARENL] = conf_time(conf, "postscreen_bare_newline_ttl");
	s->dnsbl_threshold = conf_int(conf, "postscreen_dnsbl_threshold");
	s->allowlist_threshold =
	    conf_int(conf, "postscreen_dnsbl_allowlist_threshold");
	s->pipelining = conf_bool(conf, "postscreen_pipelining_enable");
	s->nonsmtp = conf_bool(conf, "postscreen_non_smtp_command_enable");
	s->barenl = conf_bool(conf, "postscreen_bare_newline_enable");
	words = str_split(conf_str(conf, "postscreen_forbidden_commands"),
			  ", \t");
	s->forbidden = xcalloc(array_len(words) + 1, sizeof(char *));
	for (size_t i = 0; i < array_len(words); i++) {
		s->forbidden[i] = xstrdup(array_get(words, i));
		for (char *p = s->forbidden[i]; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
	}
	array_free_with(&words, free);
	s->pass_socket = xstrdup(conf_str(conf, "postscreen_pass_socket"));
	s->hostname = xstrdup(conf_str(conf, "myhostname"));
	s->command_time_limit_ms =
	    conf_time(conf, "postscreen_command_time_limit") * 1000;
	s->command_count_limit =
	    conf_int(conf, "postscreen_command_count_limit");
	return s;
}

/* postscreen_access_list: permit_mynetworks and type:name tables. */
static int access_open(const struct conf *conf, struct error *err)
{
	struct array *items =
	    str_split(conf_str(conf, "postscreen_access_list"), ", \t");

	ps.access = xcalloc(array_len(items) + 1, sizeof(*ps.access));
	for (size_t i = 0; i < array_len(items); i++) {
		const char *it = array_get(items, i);
		if (strcasecmp(it, "permit_mynetworks") == 0) {
			ps.access_mynetworks = true;
			ps.access[ps.naccess++] = NULL;
			continue;
		}
		if (strchr(it, ':') == NULL) {
			error_set(err, ERR_CONFIG,
				  "postscreen_access_list: \"%s\" is not "
				  "permit_mynetworks or type:name",
				  it);
			array_free_with(&items, free);
			return -1;
		}
		ps.access[ps.naccess] = map_open(it, NULL, err);
		if (ps.access[ps.naccess] == NULL) {
			error_prefix(err, "postscreen_access_list");
			array_free_with(&items, free);
			return -1;
		}
		ps.naccess++;
	}
	array_free_with(&items, free);
	return 0;
}

static int psc_init(struct server *srv, struct error *err)
{
	const struct conf *conf = server_conf(srv);
	const char *cache = conf_str(conf, "postscreen_cache_map");

	ps.srv = srv;
	ps.ev = server_ev(srv);
	list_init(&ps.session_list);
	ps.set = settings_new(conf, err);
	if (ps.set == NULL)
		return -1;
	ps.mynetworks = map_mynetworks_open(conf, err);
	if (ps.mynetworks == NULL || access_open(conf, err) < 0)
		return -1;
	if (psc_dnsbl_count(ps.set->dnsbl) > 0) {
		ps.dns = dns_resolver_new(ps.ev, conf, err);
		if (ps.dns == NULL)
			return -1;
	}
	ps.workers = worker_pool_new(ps.ev, 2);
	if (strcasecmp(cache, "sql") == 0) {
		ps_db = db_open(conf, err);
		if (ps_db == NULL)
			return -1;
		ps.cache = psc_cache_new(
		    ps_db, ps.workers,
		    conf_time(conf, "postscreen_cache_retention_time"),
		    conf_time(conf, "postscreen_cache_cleanup_interval"));
	} else if (*cache != '\0') {
		return error_set(err, ERR_CONFIG,
				 "postscreen_cache_map: \"%s\" is not sql or "
				 "empty",
				 cache);
	}
	server_set_ctx(srv, &ps);
	return 0;
}

static void psc_accept(struct server *srv, const struct server_conn *conn)
{
	(void)srv;
	psc_session_start(&ps, conn);
}

static void psc_reload(struct server *srv)
{
	struct error err;
	struct psc_settings *set = settings_new(server_conf(srv), &err);

	/* Tables, the resolver and the cache stay as opened: restart to
	 * change them. */
	if (set == NULL) {
		log_warn("reload: %s; keeping the old settings", err.msg);
		return;
	}
	if (psc_dnsbl_count(set->dnsbl) > 0 && ps.dns == NULL) {
		log_warn("reload: postscreen_dnsbl_sites needs a restart "
			 "(no resolver yet); keeping the old settings");
		psc_settings_unref(&set);
		return;
	}
	/* Sessions in flight keep their reference to the old settings. */
	psc_settings_unref(&ps.set);
	ps.set = set;
}

static void psc_stop(struct server *srv)
{
	(void)srv;
	ps.stopping = true;
	psc_sessions_stop(&ps);
}

static void psc_fini(struct server *srv)
{
	(void)srv;
	worker_pool_free(&ps.workers);
	psc_cache_free(&ps.cache);
	dns_resolver_free(&ps.dns);
	for (size_t i = 0; i < ps.naccess; i++)
		map_free(&ps.access[i]);
	free(ps.access);
	map_free(&ps.mynetworks);
	db_close(&ps_db);
	psc_settings_unref(&ps.set);
}

int main(int argc, char **argv)
{
	static const struct server_hooks hooks = {
	    .name = "postscreen",
	    .default_service = "smtp",
	    .init = psc_init,
	    .accept = psc_accept,
	    .reload = psc_reload,
	    .stop = psc_stop,
	    .fini = psc_fini,
	    .proxy_prefix = "postscreen",
	};
	return server_main(argc, argv, &hooks);
}
