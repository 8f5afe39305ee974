/*
 * db_hosts.c - the server list of a PostgreSQL/MariaDB database, and
 * failover between its hosts.
 *
 * database_host may name several servers, "db1, db2:5433, [::1]:5432,
 * /run/postgresql": a new connection goes to the first one that answers,
 * in the order written, so the first is the preferred one (the primary,
 * or for a read pool the nearest replica).  A host that failed to connect
 * is marked down for DB_HOST_RETRY_MS and tried only after the others,
 * so a dead server costs one connect timeout per retry period rather
 * than one per lookup.  When every host fails, the caller gets ERR_TEMP:
 * mail is tempfailed (451/4.3.0), never bounced.
 *
 * A connection to a host other than the first is dropped when it comes
 * back to the pool after DB_FAILBACK_MS while the first host is not
 * marked down, so the load returns to the preferred server once it is
 * back, without waiting for the connection to break.
 *
 * This is how Postfix's pgsql_table(5) / mysql_table(5) "hosts" work,
 * except that Postfix picks the order at random; we keep the written
 * order because a primary/replica list is not symmetric.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "db-private.h"

/* One entry: "[v6]:port", "name:port", "name", "/socket/dir"; a bare
 * IPv6 address (two colons or more) is a host without port. */
static int parse_one(const char *text, unsigned default_port,
		     struct db_host *h, struct error *err)
{
	const char *colon = strrchr(text, ':');
	h->port = default_port;
	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return error_set(err, ERR_CONFIG,
					 "database host \"%s\": bad [address]",
					 text);
		h->host = xstrndup(text + 1, (size_t)(end - text - 1));
		colon = end[1] == ':' ? end + 1 : NULL;
	} else if (text[0] == '/' || colon == NULL ||
		   strchr(text, ':') != colon) {
		h->host = xstrdup(text);
		colon = NULL;
	} else {
		h->host = xstrndup(text, (size_t)(colon - text));
	}
	if (colon != NULL) {
		unsigned long long port;
		if (!str_to_u64(colon + 1, &port) || port == 0 ||
		    port > 65535) {
			free(h->host);
			h->host = NULL;
			return error_set(err, ERR_CONFIG,
					 "database host \"%s\": bad port", text);
		}
		h->port = (unsigned)port;
	}
	if (h->host[0] == '\0') {
		free(h->host);
		h->host = NULL;
		return error_set(err, ERR_CONFIG, "database host \"%s\": no name",
				 text);
	}
	return 0;
}

int db_hosts_parse(const char *list, unsigned default_port,
		   struct db_hosts *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	char *copy = xstrdup(list != NULL ? list : "");
	char *save = NULL;
	for (char *tok = strtok_r(copy, ", \t", &save); tok != NULL;
	     tok = strtok_r(NULL, ", \t", &save)) {
		out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
		struct db_host *h = &out->v[out->n];
		memset(h, 0, sizeof(*h));
		if (parse_one(tok, default_port, h, err) < 0) {
			free(copy);
			db_hosts_free(out);
			return -1;
		}
		out->n++;
	}
	free(copy);
	return 0;
}

void db_hosts_free(struct db_hosts *hosts)
{
	for (size_t i = 0; i < hosts->n; i++)
		free(hosts->v[i].host);
	free(hosts->v);
	hosts->v = NULL;
	hosts->n = 0;
}

/* The order to try: hosts not marked down first, each group in the
 * written order.  Called with the pool's lock held. */
size_t db_hosts_order(const struct db_hosts *hosts, int64_t now,
		      size_t *order)
{
	size_t k = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < hosts->n; i++)
			if ((hosts->v[i].down_until > now) == (pass == 1))
				order[k++] = i;
	return k;
}

void db_hosts_mark(struct db_hosts *hosts, size_t i, bool up, int64_t now)
{
	struct db_host *h = &hosts->v[i];
	if (up) {
		if (h->down_until != 0)
			log_info("database server %s port %u answers again",
				 h->host, h->port);
		h->down_until = 0;
	} else {
		if (h->down_until <= now)
			log_warn("database server %s port %u does not answer; "
				 "trying the others first for %d s",
				 h->host, h->port, DB_HOST_RETRY_MS / 1000);
		h->down_until = now + DB_HOST_RETRY_MS;
	}
}

bool db_hosts_should_fail_back(const struct db_hosts *hosts,
			       const struct db_conn *conn, int64_t now)
{
	return hosts->n > 1 && conn->host_index != 0 &&
	       now - conn->opened_ms >= DB_FAILBACK_MS &&
	       hosts->v[0].down_until <= now;
}
