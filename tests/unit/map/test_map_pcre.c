/*
 * test_map_pcre.c - pcre_table(5): $n substitution, caseless default and
 * the i flag, negation, if/endif, the match limit, file:line errors.
 */
#include "test.h"

#include "conf/conf.h"
#include "map_test_util.h"

static void test_substitution(void **state)
{
	struct error err;
	struct map *m =
	    test_text("pcre",
		      "/^(.*)-outgoing@(.*)$/  $1@$2\n"
		      "/^([^+]+)\\+([^@]+)@(.*)$/ ${1}@$(3) ext=$2 $$5\n"
		      "/^opt(x)?(y)$/ [$1][$2]\n"
		      "/\\/slash\\// has/slash\n"
		      "#comment\n"
		      "/^USER@/ upper-rule\n",
		      &err);

	if (m == NULL)
		fail_msg("%s", err.msg);
	assert_string_equal(test_get(m, "Joe-Outgoing@Example.test"),
			    "Joe@Example.test"); /* caseless, case kept */
	assert_string_equal(test_get(m, "ann+list@x.test"),
			    "ann@x.test ext=list $5");
	assert_string_equal(test_get(m, "opty"), "[][y]"); /* unset group */
	assert_string_equal(test_get(m, "a/slash/b"), "has/slash");
	assert_string_equal(test_get(m, "user@x"), "upper-rule");
	assert_string_equal(test_get(m, "nothing"), "<none>");
	map_free(&m);
}

static void test_flags_real(void **state)
{
	struct error err;
	struct map *m = test_text("pcre",
				  "/^Exact$/i  sensitive\n"
				  "|^a.b$|s    dotall\n"
				  "!/^[a-z]+$/ not-lower\n",
				  &err);

	if (m == NULL)
		fail_msg("%s", err.msg);
	assert_string_equal(test_get(m, "Exact"), "sensitive");
	/* With i toggled off, "exact" is not matched by rule 1 and is all
	   lower case, so rule 3 does not match either. */
	assert_string_equal(test_get(m, "exact"), "<none>");
	assert_string_equal(test_get(m, "a\nb"), "dotall");
	assert_string_equal(test_get(m, "EXACT"), "<none>"); /* caseless */
	assert_string_equal(test_get(m, "a-b-c"), "not-lower");
	map_free(&m);
}

static void test_if_endif(void **state)
{
	struct error err;
	struct map *m = test_text("pcre",
				  "if /@example\\.test$/\n"
				  "if !/^postmaster@/\n"
				  "/^(.*)@/ local:$1\n"
				  "endif\n"
				  "/./ pm\n"
				  "endif\n"
				  "/./ other\n",
				  &err);

	if (m == NULL)
		fail_msg("%s", err.msg);
	assert_string_equal(test_get(m, "ann@example.test"), "local:ann");
	assert_string_equal(test_get(m, "postmaster@example.test"), "pm");
	assert_string_equal(test_get(m, "ann@other.test"), "other");
	map_free(&m);
}

static void test_match_limit(void **state)
{
	struct map_env env = {0};
	struct error err;
	struct conf *conf;
	struct map *m;
	const char *rules = "/^(.*)x(.*)y$/ split:$2\n"
			    "/^(a+)+$/ catastrophic\n"
			    "/./ fallback\n";
	const char *key = "axbxcxdxexfxgxhxixjxkxlxmxnxoy"; /* backtracks */
	char evil[64];

	memset(evil, 'a', sizeof(evil) - 2);
	evil[sizeof(evil) - 2] = 'b';
	evil[sizeof(evil) - 1] = '\0';

	/* Default limit: the normal match works; the catastrophic one is
	   cut off (and skipped) instead of running for hours. */
	m = test_text("pcre", rules, &err);
	assert_non_null(m);
	assert_string_equal(test_get(m, key), "split:o");
	assert_string_equal(test_get(m, evil), "fallback");
	map_free(&m);

	/* A tiny pcre_match_limit from the configuration applies. */
	conf =
	    conf_load_string("/tmp", "main.cf", "pcre_match_limit = 5\n", &err);
	if (conf == NULL)
		fail_msg("%s", err.msg);
	env.conf = conf;
	m = map_open_text("pcre", "t.map", rules, strlen(rules), &env, &err);
	assert_non_null(m);
	assert_string_equal(test_get(m, key), "fallback");
	map_free(&m);
	conf_free(&conf);
}

static void expect_error(const char *text, const char *want)
{
	struct error err;
	struct map *m = test_text("pcre", text, &err);

	if (m != NULL)
		fail_msg("accepted: %s", text);
	assert_int_equal(err.kind, ERR_CONFIG);
	if (strstr(err.msg, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, want);
}

static void test_errors(void **state)
{
	expect_error("/a/ x\n\n/(unclosed/ y\n", "t.map:3: error in regex");
	expect_error("/a/ x\n/b/ $2\n", "t.map:2: out of range substitution");
	expect_error("/(a)/ $0\n", "t.map:1: out of range substitution");
	expect_error("/(a)/ $x\n", "t.map:1: bad $ substitution");
	expect_error("/(a)/ ${1\n", "t.map:1: bad $ substitution");
	expect_error("!/(a)/ $1\n",
		     "t.map:1: $1 substitution with a non-matching");
	expect_error("/a/q x\n", "t.map:1: unknown regex flag \"q\"");
	expect_error("/abc x\n", "t.map:1: no closing regex delimiter");
	expect_error("/a/\n", "t.map:1: no lookup result");
	expect_error("abc x\n", "t.map:1: expected /regex/");
	expect_error("endif\n", "t.map:1: endif without matching if");
	expect_error("# c\nif /a/\n/b/ c\n",
		     "t.map:2: if without matching endif");
	expect_error("if /a/ result\nendif\n", "t.map:1: text after if");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_substitution),
	    cmocka_unit_test(test_flags_real),
	    cmocka_unit_test(test_if_endif),
	    cmocka_unit_test(test_match_limit),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
