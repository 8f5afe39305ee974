/*
 * test_db_hosts.c - the server list of database_host (db_hosts.c):
 * parsing every written form, the try order with hosts marked down, the
 * fail-back rule; and failover through the pool against real listening
 * and refusing sockets: a PostgreSQL "server" that is a closed port is
 * skipped, one that is a listening socket speaking nothing is tried.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "db/db-private.h"
#include "db/db.h"
#include "test.h"

static void test_parse_forms(void **state)
{
	(void)state;
	struct db_hosts h;
	struct error err;
	assert_int_equal(db_hosts_parse("db1, db2:5433,[::1]:6000 ,/run/pg,"
					"fe80::1,[2001:db8::2]",
					5432, &h, &err),
			 0);
	assert_int_equal(h.n, 6);
	assert_string_equal(h.v[0].host, "db1");
	assert_int_equal(h.v[0].port, 5432);
	assert_string_equal(h.v[1].host, "db2");
	assert_int_equal(h.v[1].port, 5433);
	assert_string_equal(h.v[2].host, "::1");
	assert_int_equal(h.v[2].port, 6000);
	assert_string_equal(h.v[3].host, "/run/pg");
	assert_int_equal(h.v[3].port, 5432);
	assert_string_equal(h.v[4].host, "fe80::1"); /* bare IPv6: no port */
	assert_int_equal(h.v[4].port, 5432);
	assert_string_equal(h.v[5].host, "2001:db8::2");
	db_hosts_free(&h);

	assert_int_equal(db_hosts_parse("", 0, &h, &err), 0);
	assert_int_equal(h.n, 0);
	db_hosts_free(&h);
}

static void test_parse_errors(void **state)
{
	(void)state;
	static const char *bad[] = {"db1:0", "db1:65536", "db1:x", "[::1",
				    "[::1]x", ":5432", "[]:5432"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct db_hosts h;
		struct error err;
		assert_int_equal(db_hosts_parse(bad[i], 5432, &h, &err), -1);
		assert_int_equal(err.kind, ERR_CONFIG);
		assert_non_null(strstr(err.msg, "database host"));
		assert_int_equal(h.n, 0);
	}
}

static void test_order_and_failback(void **state)
{
	(void)state;
	struct db_hosts h;
	struct error err;
	assert_int_equal(db_hosts_parse("a, b, c", 1, &h, &err), 0);
	size_t order[3];
	int64_t now = 1000000;
	assert_int_equal(db_hosts_order(&h, now, order), 3);
	assert_int_equal(order[0], 0);
	assert_int_equal(order[2], 2);

	/* a down: b, c, then a as the last resort. */
	db_hosts_mark(&h, 0, false, now);
	assert_int_equal(db_hosts_order(&h, now, order), 3);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 0);

	/* A connection to b is kept while a is down ... */
	struct db_conn c = {.host_index = 1, .opened_ms = now - DB_FAILBACK_MS};
	assert_false(db_hosts_should_fail_back(&h, &c, now));
	c.opened_ms = now;
	/* ... and, once a's mark has run out, dropped when old enough. */
	int64_t later = now + DB_HOST_RETRY_MS + 1;
	assert_int_equal(db_hosts_order(&h, later, order), 3);
	assert_int_equal(order[0], 0);
	assert_false(db_hosts_should_fail_back(&h, &c, now + 1));
	assert_true(db_hosts_should_fail_back(&h, &c, later + DB_FAILBACK_MS));
	struct db_conn first = {.host_index = 0, .opened_ms = now};
	assert_false(
	    db_hosts_should_fail_back(&h, &first, later + DB_FAILBACK_MS));
	db_hosts_free(&h);
}

/* A port on 127.0.0.1 where nothing listens (bound, never listened). */
static int dead_port(int *fd_r)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*fd_r = fd;
	return ntohs(a.sin_port);
}

/* Every host refuses: ERR_TEMP naming how many were tried, and each is
 * then marked down so the next attempt does not wait on them first. */
static void test_all_down_is_temporary(void **state)
{
	(void)state;
	int fd1, fd2;
	int p1 = dead_port(&fd1), p2 = dead_port(&fd2);
	char hosts[128];
	snprintf(hosts, sizeof(hosts), "127.0.0.1:%d, 127.0.0.1:%d", p1, p2);
	struct db_params p = {.driver = DB_PGSQL,
			      .host = hosts,
			      .dbname = "postern",
			      .user = "postern",
			      .pool_size = 1,
			      .timeout_ms = 2000};
	struct error err;
	struct db *db = db_open_params(&p, &err);
	assert_non_null(db); /* down is not a configuration error */
	struct db_result *res = NULL;
	assert_int_equal(db_query(db, "SELECT 1", NULL, 0, &res, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	assert_non_null(strstr(err.msg, "none of the 2 database servers"));
	db_close(&db);

	/* A bad list is a configuration error at open. */
	p.host = "127.0.0.1:99999";
	assert_null(db_open_params(&p, &err));
	assert_int_equal(err.kind, ERR_CONFIG);
	close(fd1);
	close(fd2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_forms),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_order_and_failback),
	    cmocka_unit_test(test_all_down_is_temporary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
