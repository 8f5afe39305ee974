/*
 * smtpd-anvil.c - per-client connection and event limits, Postfix's
 * anvil(8) inside the process.
 *
 * Postfix runs anvil as a separate server that every smtpd process asks;
 * postern-smtpd is one process with an event loop per service, so the
 * table lives here, in a core/hash keyed "service/address", touched on
 * the loop thread only (no locks).  Counts are per process, as
 * smtpd_client_connection_count_limit already was.
 *
 * Windows are anvil's fixed windows: an entry's window opens at its first
 * event and every rate counts the events since; once
 * $anvil_rate_time_unit has passed, the next event opens a new window
 * (rates restart at 1).  A client that goes over a limit keeps being
 * refused until its window ends, then starts afresh, exactly as anvil's
 * `anvil_remote_*` updates behave.  Entries with no connection open and
 * an ended window are swept, at most once per time unit, so the table
 * holds only the clients of the last time unit.
 *
 * Limits (postconf(5); 0 = no limit) and Postfix's answers:
 *   smtpd_client_connection_count_limit     421 4.7.0 ... too many connections
 *   smtpd_client_connection_rate_limit      421 4.7.0 ... too many connections
 *   smtpd_client_message_rate_limit (MAIL)  450 4.7.1 too much mail
 *   smtpd_client_recipient_rate_limit (RCPT) 450 4.7.1 too many recipients
 *   smtpd_client_auth_rate_limit (AUTH)     450 4.7.1 too many AUTH commands
 *   smtpd_client_new_tls_session_rate_limit 421 4.7.0 ... too many new TLS
 *       sessions (counted at STARTTLS and at an implicit-TLS connect: we
 *       count handshakes started, resumed sessions included; XXX Postfix
 *       counts only sessions not resumed from its cache)
 * Clients matching $smtpd_client_event_limit_exceptions (a list of
 * networks, default $mynetworks) are neither counted nor limited.
 *
 * Settings are read from the server's configuration when the table is
 * made and again after a reload (smtpd->set changes).  Without a server
 * (smtpd-testing.c) there are no limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "map/map.h"
#include "server/server.h"

#include "smtpd.h"

struct anvil_entry {
	unsigned conns; /* open now */
	int64_t start;	/* window start, monotonic ms */
	unsigned conn_rate, mail_rate, rcpt_rate, auth_rate, tls_rate;
};

struct smtpd_anvil {
	/* The settings last read for, held so that its address cannot come
	 * back as a new struct after a reload. */
	struct smtpd_settings *seen;
	struct hash *table;
	struct map *exceptions; /* NULL: nobody exempt */
	char *exceptions_text;
	int64_t unit_ms;
	unsigned count_limit, conn_rate_limit, mail_rate_limit,
	    rcpt_rate_limit, auth_rate_limit, tls_rate_limit;
	int64_t last_sweep;
};

static unsigned limit_param(const struct conf *conf, const char *name)
{
	long long v = conf_int(conf, name);

	return v <= 0 ? 0 : v > (long long)UINT32_MAX ? UINT32_MAX : (unsigned)v;
}

static struct map *exceptions_open(const char *text)
{
	struct array *nets = str_split(text, ", \t");
	struct buf *src = buf_new();
	struct map *map = NULL;
	struct error err;

	for (size_t i = 0; i < array_len(nets); i++)
		buf_printf(src, "%s OK\n", (char *)array_get(nets, i));
	if (array_len(nets) > 0) {
		map = map_open_text("cidr", "smtpd_client_event_limit_exceptions",
				    buf_data(src), buf_len(src), NULL, &err);
		if (map == NULL)
			log_warn("smtpd_client_event_limit_exceptions: %s; "
				 "nobody is exempt",
				 err.msg);
	}
	buf_free(&src);
	array_free_with(&nets, free);
	return map;
}

static void anvil_read(struct smtpd_anvil *a, const struct smtpd *d)
{
	const struct conf *conf = server_conf(d->srv);
	const char *exc = conf_str(conf, "smtpd_client_event_limit_exceptions");
	int64_t unit = conf_time(conf, "anvil_rate_time_unit");

	smtpd_settings_unref(&a->seen);
	a->seen = smtpd_settings_ref(d->set);
	a->unit_ms = (unit > 0 ? unit : 1) * 1000;
	a->count_limit =
	    limit_param(conf, "smtpd_client_connection_count_limit");
	a->conn_rate_limit =
	    limit_param(conf, "smtpd_client_connection_rate_limit");
	a->mail_rate_limit =
	    limit_param(conf, "smtpd_client_message_rate_limit");
	a->rcpt_rate_limit =
	    limit_param(conf, "smtpd_client_recipient_rate_limit");
	a->auth_rate_limit = limit_param(conf, "smtpd_client_auth_rate_limit");
	a->tls_rate_limit =
	    limit_param(conf, "smtpd_client_new_tls_session_rate_limit");
	if (a->exceptions_text == NULL || strcmp(a->exceptions_text, exc) != 0) {
		map_free(&a->exceptions);
		free(a->exceptions_text);
		a->exceptions_text = xstrdup(exc);
		a->exceptions = exceptions_open(exc);
	}
}

/* The table, made or refreshed for the current settings; NULL: none. */
static struct smtpd_anvil *anvil_get(struct smtpd *d)
{
	if (d->srv == NULL)
		return NULL;
	if (d->anvil == NULL) {
		d->anvil = xcalloc(1, sizeof(*d->anvil));
		d->anvil->table = hash_new(HASH_DEFAULT, free);
	}
	if (d->anvil->seen != d->set)
		anvil_read(d->anvil, d);
	return d->anvil;
}

void smtpd_anvil_free(struct smtpd_anvil **ap)
{
	struct smtpd_anvil *a = *ap;

	if (a == NULL)
		return;
	*ap = NULL;
	hash_free(&a->table);
	smtpd_settings_unref(&a->seen);
	map_free(&a->exceptions);
	free(a->exceptions_text);
	free(a);
}

static bool exempt(const struct smtpd_anvil *a, const char *addr)
{
	struct buf *v;
	struct error err;
	int r;

	if (a->exceptions == NULL)
		return false;
	v = buf_new();
	r = map_lookup(a->exceptions, addr, v, &err);
	buf_free(&v);
	return r == 1;
}

/* Drop the entries that hold nothing any more (once per time unit). */
static void sweep(struct smtpd_anvil *a, int64_t now)
{
	struct array *dead;
	struct hash_iter it = {0};
	const char *key;
	void *val;

	if (now - a->last_sweep < a->unit_ms)
		return;
	a->last_sweep = now;
	dead = array_new();
	while (hash_next(a->table, &it, &key, &val)) {
		const struct anvil_entry *e = val;
		if (e->conns == 0 && now - e->start >= a->unit_ms)
			array_push(dead, xstrdup(key));
	}
	for (size_t i = 0; i < array_len(dead); i++)
		hash_del(a->table, array_get(dead, i));
	array_free_with(&dead, free);
}

/* The entry of service/addr with its window brought up to now. */
static struct anvil_entry *entry(struct smtpd_anvil *a, const char *service,
				 const char *addr, bool create)
{
	char key[512];
	struct anvil_entry *e;
	int64_t now = time_mono_ms();

	snprintf(key, sizeof(key), "%s/%s", service, addr);
	e = hash_get(a->table, key);
	if (e == NULL) {
		if (!create)
			return NULL;
		sweep(a, now);
		e = xcalloc(1, sizeof(*e));
		e->start = now;
		hash_put(a->table, key, e);
	} else if (now - e->start >= a->unit_ms) {
		e->start = now;
		e->conn_rate = e->mail_rate = e->rcpt_rate = 0;
		e->auth_rate = e->tls_rate = 0;
	}
	return e;
}

/* Postfix's namaddr: "name[addr]", the name "unknown" until looked up. */
static void namaddr(const struct smtpd_session *s, char *out, size_t size)
{
	snprintf(out, size, "%s[%s]",
		 s->client_name != NULL ? s->client_name : "unknown", s->peer);
}

bool smtpd_anvil_connect(struct smtpd *d, const struct server_conn *conn,
			 bool *counted_r)
{
	struct smtpd_anvil *a = anvil_get(d);
	struct anvil_entry *e;
	const char *what = NULL, *noun = "connections";
	unsigned n = 0;
	char line[SMTP_REPLY_LINE_MAX];

	*counted_r = false;
	if (a == NULL || exempt(a, conn->peer))
		return false;
	e = entry(a, conn->service, conn->peer, true);
	e->conn_rate++;
	if (conn->tls == SERVICE_TLS_IMPLICIT)
		e->tls_rate++;
	if (a->count_limit > 0 && e->conns + 1 > a->count_limit) {
		what = "Connection concurrency";
		n = e->conns + 1;
	} else if (a->conn_rate_limit > 0 && e->conn_rate > a->conn_rate_limit) {
		what = "Connection rate";
		n = e->conn_rate;
	} else if (a->tls_rate_limit > 0 &&
		   conn->tls == SERVICE_TLS_IMPLICIT &&
		   e->tls_rate > a->tls_rate_limit) {
		what = "New TLS session rate";
		noun = "new TLS sessions";
		n = e->tls_rate;
	}
	if (what != NULL) {
		log_warn("%s limit exceeded: %u from unknown[%s] for service %s",
			 what, n, conn->peer, conn->service);
		snprintf(line, sizeof(line),
			 "421 4.7.0 %s Error: too many %s from %s\r\n",
			 d->set->myhostname, noun, conn->peer);
		server_answer_close(d->srv, conn, line);
		return true;
	}
	e->conns++;
	*counted_r = true;
	return false;
}

void smtpd_anvil_disconnect(struct smtpd *d, const char *service,
			    const char *addr)
{
	struct anvil_entry *e;

	if (d->anvil == NULL)
		return;
	e = entry(d->anvil, service, addr, false);
	if (e != NULL && e->conns > 0)
		e->conns--;
}

enum anvil_event { EV_MAIL, EV_RCPT, EV_AUTH, EV_TLS };

/* Count one event; true when it is over the limit (replied). */
static bool event(struct smtpd_session *s, enum anvil_event ev)
{
	struct smtpd_anvil *a = anvil_get(s->smtpd);
	struct anvil_entry *e;
	unsigned *rate, limit;
	char na[300];

	if (a == NULL || exempt(a, s->peer))
		return false;
	switch (ev) {
	case EV_MAIL:
		limit = a->mail_rate_limit;
		break;
	case EV_RCPT:
		limit = a->rcpt_rate_limit;
		break;
	case EV_AUTH:
		limit = a->auth_rate_limit;
		break;
	default:
		limit = a->tls_rate_limit;
		break;
	}
	if (limit == 0)
		return false;
	e = entry(a, s->service, s->peer, true);
	rate = ev == EV_MAIL   ? &e->mail_rate
	       : ev == EV_RCPT ? &e->rcpt_rate
	       : ev == EV_AUTH ? &e->auth_rate
			       : &e->tls_rate;
	++*rate;
	if (*rate <= limit)
		return false;
	namaddr(s, na, sizeof(na));
	switch (ev) {
	case EV_MAIL:
		log_warn("Message delivery request rate limit exceeded: %u "
			 "from %s for service %s",
			 *rate, na, s->service);
		smtpd_error(s, 450, "4.7.1", "Error: too much mail from %s",
			    s->peer);
		break;
	case EV_RCPT:
		log_warn("Recipient address rate limit exceeded: %u from %s "
			 "for service %s",
			 *rate, na, s->service);
		smtpd_error(s, 450, "4.7.1",
			    "Error: too many recipients from %s", s->peer);
		break;
	case EV_AUTH:
		log_warn("AUTH command rate limit exceeded: %u from %s for "
			 "service %s",
			 *rate, na, s->service);
		smtpd_error(s, 450, "4.7.1",
			    "Error: too many AUTH commands from %s", s->peer);
		break;
	case EV_TLS:
		log_warn("New TLS session rate limit exceeded: %u from %s for "
			 "service %s",
			 *rate, na, s->service);
		smtpd_reply(s, 421, "4.7.0",
			    "%s Error: too many new TLS sessions from %s",
			    s->set->myhostname, s->peer);
		smtpd_session_close(s);
		break;
	}
	return true;
}

bool smtpd_anvil_mail(struct smtpd_session *s)
{
	return event(s, EV_MAIL);
}

bool smtpd_anvil_rcpt(struct smtpd_session *s)
{
	return event(s, EV_RCPT);
}

bool smtpd_anvil_auth(struct smtpd_session *s)
{
	return event(s, EV_AUTH);
}

bool smtpd_anvil_starttls(struct smtpd_session *s)
{
	return event(s, EV_TLS);
}
