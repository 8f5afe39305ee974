/*
 * test_virtual - recipient resolution (lib/rewrite/virtual.c) on
 * texthash maps: mailboxes, plus-addresses, aliases with several
 * destinations, catch-all order, alias domains, loops and limits, relay
 * refusal (and the tricks that must not relay), lookup failures.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/xmalloc.h"
#include "map/map.h"
#include "rewrite/virtual.h"

static struct virtual_maps maps;

static struct map *text_map(const char *text)
{
	struct error err;
	struct map *m =
	    map_open_text("texthash", "test", text, strlen(text), NULL, &err);

	if (m == NULL)
		fail_msg("map: %s", err.msg);
	return m;
}

static int setup(void **state)
{
	maps.mailbox_domains = text_map("example.com 1\ncatch.test 1\n");
	maps.mailboxes = text_map("alice@example.com example.com/alice/\n"
				  "bob@example.com example.com/bob/\n"
				  "dave@catch.test catch.test/dave/\n");
	maps.aliases =
	    text_map("team@example.com alice@example.com, bob@example.com\n"
		     "bob@example.com bob@example.com,alice@example.com\n"
		     "deep@example.com team@example.com\n"
		     "loop1@example.com loop2@example.com\n"
		     "loop2@example.com loop1@example.com\n"
		     "ext@example.com outside@foreign.test\n"
		     "broken@example.com ghost@example.com\n"
		     "half@example.com ghost@example.com, alice@example.com\n"
		     "@catch.test dave@catch.test\n");
	maps.alias_domains = text_map("alias.test example.com\n");
	return 0;
}

static int teardown(void **state)
{
	map_free(&maps.mailbox_domains);
	map_free(&maps.mailboxes);
	map_free(&maps.aliases);
	map_free(&maps.alias_domains);
	return 0;
}

static const struct virtual_opts defaults = {
    .delimiters = "+",
    .recursion_limit = 1000,
    .expansion_limit = 1000,
    .relay_ok = false,
};

/* Resolve; on success the finals as "a,b" (sorted as found; "!" marks a
 * foreign one), on failure "CODE ENH". */
static char *resolve_opts(const char *addr,
			  const struct virtual_opts *opts)
{
	struct array *finals = array_new();
	struct smtp_reply r;
	struct buf *out = buf_new();
	char *ret;

	if (virtual_resolve(&maps, addr, opts, "test", finals, &r) < 0) {
		assert_int_equal(array_len(finals), 0);
		buf_printf(out, "%u %s", r.code, r.enhanced);
	} else {
		assert_int_equal(r.code, 0);
		for (size_t i = 0; i < array_len(finals); i++) {
			struct virtual_final *f = array_get(finals, i);
			buf_printf(out, "%s%s%s", i > 0 ? "," : "",
				   f->local ? "" : "!", f->addr);
		}
	}
	virtual_finals_free(&finals);
	ret = buf_steal(out);
	buf_free(&out);
	return ret;
}

static char *resolve(const char *addr)
{
	return resolve_opts(addr, &defaults);
}

#define assert_resolves(addr, want)                                            \
	do {                                                                   \
		char *got_ = resolve(addr);                                    \
		assert_string_equal(got_, want);                               \
		free(got_);                                                    \
	} while (0)

static void test_mailbox(void **state)
{
	assert_resolves("alice@example.com", "alice@example.com");
	assert_resolves("Alice@Example.com", "alice@example.com");
	assert_resolves("dave@catch.test", "dave@catch.test");
}

static void test_plus_address(void **state)
{
	assert_resolves("alice+lists@example.com", "alice@example.com");
	/* An extension never starts the local part. */
	assert_resolves("+alice@example.com", "550 5.1.1");
}

/* Local finals carry the mailbox map's answer (the quota check opens the
 * store with it); foreign ones have none. */
static void test_final_maildir(void **state)
{
	struct array *finals = array_new();
	struct smtp_reply r;
	struct virtual_opts opts = defaults;
	struct virtual_final *f;

	assert_int_equal(virtual_resolve(&maps, "Bob+x@example.com", &opts,
				       "test", finals, &r),
			 0);
	assert_int_equal(array_len(finals), 2);
	f = array_get(finals, 0);
	assert_string_equal(f->addr, "bob@example.com");
	assert_string_equal(f->maildir, "example.com/bob/");
	f = array_get(finals, 1);
	assert_string_equal(f->maildir, "example.com/alice/");
	virtual_finals_free(&finals);

	finals = array_new();
	opts.relay_ok = true;
	assert_int_equal(
	    virtual_resolve(&maps, "ext@example.com", &opts, "test", finals, &r),
	    0);
	assert_int_equal(array_len(finals), 1);
	f = array_get(finals, 0);
	assert_false(f->local);
	assert_null(f->maildir);
	virtual_final_free(&f);
	array_pop(finals);
	virtual_finals_free(&finals);
}

static void test_alias_destinations(void **state)
{
	assert_resolves("team@example.com",
			"alice@example.com,bob@example.com");
	/* bob -> bob (his own copy), alice */
	assert_resolves("bob@example.com", "bob@example.com,alice@example.com");
	assert_resolves("team+x@example.com",
			"alice@example.com,bob@example.com");
	assert_resolves("deep@example.com",
			"alice@example.com,bob@example.com");
}

static void test_catch_all(void **state)
{
	assert_resolves("anyone@catch.test", "dave@catch.test");
	assert_resolves("x%foreign.test@catch.test", "dave@catch.test");
}

static void test_alias_domain(void **state)
{
	assert_resolves("alice@alias.test", "alice@example.com");
	assert_resolves("alice+tag@alias.test", "alice@example.com");
	assert_resolves("team@alias.test", "alice@example.com,bob@example.com");
	assert_resolves("nobody@alias.test", "550 5.1.1");
}

static void test_unknown(void **state)
{
	assert_resolves("nobody@example.com", "550 5.1.1");
	assert_resolves("broken@example.com", "550 5.1.1");
	/* An unknown destination is dropped, the rest delivered. */
	assert_resolves("half@example.com", "alice@example.com");
}

static void test_relay(void **state)
{
	struct virtual_opts relay = defaults;
	char *got;

	assert_resolves("someone@foreign.test", "554 5.7.1");
	relay.relay_ok = true;
	got = resolve_opts("Someone@foreign.test", &relay);
	assert_string_equal(got, "!Someone@foreign.test");
	free(got);
	/* An administrator's alias to a foreign address is not a relay. */
	assert_resolves("ext@example.com", "!outside@foreign.test");
}

static void test_no_relay_tricks(void **state)
{
	assert_resolves("victim%foreign.test@example.com", "550 5.1.1");
	assert_resolves("foreign.test!victim@example.com", "550 5.1.1");
	assert_resolves("\"victim@foreign.test\"@example.com", "550 5.1.1");
	assert_resolves("victim@foreign.test@example.com", "550 5.1.1");
}

static void test_loops_and_limits(void **state)
{
	struct virtual_opts o = defaults;
	char *got;

	assert_resolves("loop1@example.com", "550 5.1.1");
	o.recursion_limit = 1;
	got = resolve_opts("deep@example.com", &o);
	assert_string_equal(got, "550 5.4.6");
	free(got);
	o = defaults;
	o.expansion_limit = 1;
	got = resolve_opts("team@example.com", &o);
	assert_string_equal(got, "552 5.5.3");
	free(got);
}

static void test_lookup_failure(void **state)
{
	struct error err;
	struct map *saved = maps.mailboxes;
	char *got;

	maps.mailboxes = map_open("fail:db", NULL, &err);
	assert_non_null(maps.mailboxes);
	got = resolve("alice@example.com");
	assert_string_equal(got, "451 4.3.0");
	free(got);
	/* A hosted domain's catch-all comes after its mailbox lookup. */
	assert_resolves("anyone@catch.test", "451 4.3.0");
	map_free(&maps.mailboxes);
	maps.mailboxes = saved;
	assert_resolves("alice@example.com", "alice@example.com");
}

/* Role addresses (step 3b): postmaster@/abuse@ of hosted domains without
 * rows of their own go to the role recipient; rows win; before the
 * catch-all; never for foreign domains; a target that is itself an
 * unresolvable role address is refused, not looped. */
static void role_case(const struct virtual_opts *o, const char *addr,
		      const char *want)
{
	char *got = resolve_opts(addr, o);

	assert_string_equal(got, want);
	free(got);
}

static void test_role_addresses(void **state)
{
	struct virtual_opts o = defaults;
	char *q;

	role_case(&o, "postmaster@example.com", "550 5.1.1");
	o.role_addresses = "postmaster, abuse";
	o.role_recipient = "alice@example.com";
	role_case(&o, "postmaster@example.com", "alice@example.com");
	role_case(&o, "ABUSE@example.com", "alice@example.com");
	role_case(&o, "postmaster+x@example.com", "alice@example.com");
	role_case(&o, "hostmaster@example.com", "550 5.1.1");
	role_case(&o, "postmaster@catch.test", "alice@example.com");
	role_case(&o, "other@catch.test", "dave@catch.test");
	role_case(&o, "postmaster@alias.test", "alice@example.com");
	role_case(&o, "postmaster@foreign.test", "554 5.7.1");
	/* An alias row wins (bob's alias keeps bob and adds alice). */
	o.role_addresses = "bob";
	role_case(&o, "bob@example.com", "bob@example.com,alice@example.com");
	/* The target without a row of its own: refused, no loop. */
	o.role_addresses = "postmaster";
	o.role_recipient = "postmaster@example.com";
	role_case(&o, "postmaster@example.com", "550 5.1.1");
	o.role_recipient = "";
	role_case(&o, "postmaster@example.com", "550 5.1.1");

	assert_true(virtual_role_local("postmaster, abuse", "Abuse", 5));
	assert_false(virtual_role_local("postmaster, abuse", "abus", 4));
	assert_false(virtual_role_local(NULL, "abuse", 5));
	q = virtual_role_qualify("postmaster", "h.test");
	assert_string_equal(q, "postmaster@h.test");
	free(q);
	q = virtual_role_qualify("pm@x.test", "h.test");
	assert_string_equal(q, "pm@x.test");
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mailbox),
	    cmocka_unit_test(test_plus_address),
	    cmocka_unit_test(test_alias_destinations),
	    cmocka_unit_test(test_final_maildir),
	    cmocka_unit_test(test_catch_all),
	    cmocka_unit_test(test_alias_domain),
	    cmocka_unit_test(test_unknown),
	    cmocka_unit_test(test_relay),
	    cmocka_unit_test(test_no_relay_tricks),
	    cmocka_unit_test(test_loops_and_limits),
	    cmocka_unit_test(test_lookup_failure),
	    cmocka_unit_test(test_role_addresses),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
