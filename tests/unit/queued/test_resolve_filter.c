/*
 * test_resolve_filter - a message's content filter overrides routing
 * (queued/resolve.c, resolver_route_msg; docs/content-filter.md): every
 * recipient, hosted or not, goes to the one filter next hop; an unknown
 * filter transport defers; without a filter the normal route stands.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "queue/queue.h"
#include "queued.h"

static const char *const main_cf =
    "virtual_mailbox_domains = inline:{d.test=yes}\n"
    "transport_maps = inline:{far.test=smtp:[192.0.2.9]:2525}\n"
    "lmtp_delivery_target = unix:/run/lmtp.sock\n"
    "database_path = /nonexistent/postern-test.db\n";

static struct resolver *new_resolver(struct conf **conf_r)
{
	struct error err;
	struct conf *conf = conf_load_string("/tmp", "t", main_cf, &err);

	assert_non_null(conf);
	*conf_r = conf;
	return resolver_new(conf);
}

static void make_env(struct queue_env *env, const char *filter)
{
	memset(env, 0, sizeof(*env));
	strcpy(env->id, "4Zq2Jx1nDVz5nXw");
	queue_env_set(&env->sender, "s@x.test");
	queue_env_add_rcpt(env, "alice@d.test", NULL, 0);
	queue_env_add_rcpt(env, "bob@far.test", NULL, 0);
	queue_env_add_rcpt(env, "carol@elsewhere.test", NULL, 0);
	queue_env_set(&env->filter, filter);
}

static void test_filter_routes_everyone(void **state)
{
	struct conf *conf;
	struct resolver *r = new_resolver(&conf);
	struct queue_env env;
	struct route rt[3];

	(void)state;
	make_env(&env, "smtp:[127.0.0.1]:10024");
	for (size_t i = 0; i < 3; i++) {
		resolver_route_msg(r, &env, i, &rt[i]);
		assert_int_equal(rt[i].kind, TR_SMTP);
		assert_string_equal(rt[i].nexthop, "[127.0.0.1]:10024");
		/* One destination key: one group, one transaction. */
		assert_string_equal(rt[i].key, rt[0].key);
	}

	queue_env_set(&env.filter, "lmtp:unix:/run/amavis.sock");
	resolver_route_msg(r, &env, 1, &rt[0]);
	assert_int_equal(rt[0].kind, TR_LMTP);
	assert_string_equal(rt[0].nexthop, "unix:/run/amavis.sock");

	/* "lmtp:" alone: $lmtp_delivery_target. */
	queue_env_set(&env.filter, "lmtp:");
	resolver_route_msg(r, &env, 2, &rt[0]);
	assert_int_equal(rt[0].kind, TR_LMTP);
	assert_string_equal(rt[0].nexthop, "unix:/run/lmtp.sock");

	/* An unknown transport: deferred, never delivered around it. */
	queue_env_set(&env.filter, "amavisfeed:[127.0.0.1]:10024");
	resolver_route_msg(r, &env, 0, &rt[0]);
	assert_int_equal(rt[0].kind, TR_RETRY);

	queue_env_clear(&env);
	resolver_free(&r);
	conf_free(&conf);
}

static void test_no_filter_normal_route(void **state)
{
	struct conf *conf;
	struct resolver *r = new_resolver(&conf);
	struct queue_env env;
	struct route rt;

	(void)state;
	make_env(&env, NULL);
	resolver_route_msg(r, &env, 0, &rt);
	assert_int_equal(rt.kind, TR_LMTP); /* hosted */
	assert_string_equal(rt.nexthop, "unix:/run/lmtp.sock");
	resolver_route_msg(r, &env, 1, &rt);
	assert_int_equal(rt.kind, TR_SMTP); /* transport_maps */
	assert_string_equal(rt.nexthop, "[192.0.2.9]:2525");
	/* "" is no filter either. */
	queue_env_set(&env.filter, "");
	resolver_route_msg(r, &env, 0, &rt);
	assert_int_equal(rt.kind, TR_LMTP);

	queue_env_clear(&env);
	resolver_free(&r);
	conf_free(&conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_filter_routes_everyone),
	    cmocka_unit_test(test_no_filter_normal_route),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
