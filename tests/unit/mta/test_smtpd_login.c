/*
 * test_smtpd_login - who owns a sender address (mta/smtpd-login.c): the
 * built-in ownership over the virtual maps (a mailbox, its +extension,
 * an alias's hosted destinations, a catch-all, an alias domain; foreign,
 * unknown and role addresses own nothing) and $smtpd_sender_login_maps
 * (the map's logins, comma/space separated, by address then @domain).
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/xmalloc.h"
#include "smtpd-login.h"

static char dir[] = "/tmp/test_smtpd_login.XXXXXX";

static struct map *table(const char *name, const char *text)
{
	char path[256];
	struct error err;
	struct map *m;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	char *spec = xasprintf("texthash:%s", path);
	m = map_open(spec, NULL, &err);
	free(spec);
	if (m == NULL)
		fail_msg("%s: %s", name, err.msg);
	return m;
}

static struct smtpd_login *login_new(const char *main_cf)
{
	struct error err;
	struct conf *conf = conf_load_mem("/nonexistent", "main.cf", main_cf,
					  strlen(main_cf), NULL, 0, &err);
	struct smtpd_login *l;

	if (conf == NULL)
		fail_msg("conf: %s", err.msg);
	l = smtpd_login_new(conf, NULL, &err);
	if (l == NULL)
		fail_msg("login: %s", err.msg);
	conf_free(&conf);
	return l;
}

/* The owners of ADDRESS, joined with " ". */
static char *owners(const struct smtpd_login_ctx *c, const char *address)
{
	struct array *o = array_new();
	struct buf *b = buf_new();
	struct error err;

	if (smtpd_login_owners(c, address, o, &err) < 0)
		fail_msg("%s: %s", address, err.msg);
	for (size_t i = 0; i < array_len(o); i++) {
		if (i > 0)
			buf_append_char(b, ' ');
		buf_append_str(b, array_get(o, i));
	}
	array_free_with(&o, free);
	char *out = buf_steal(b);
	buf_free(&b);
	return out;
}

#define OWNERS_EQ(c, addr, want)                                               \
	do {                                                                   \
		char *got_ = owners(c, addr);                                  \
		assert_string_equal(got_, want);                               \
		free(got_);                                                    \
	} while (0)

static void test_built_in(void **state)
{
	struct virtual_maps maps = {0};
	struct smtpd_login *l;
	struct error err;

	(void)state;
	maps.mailbox_domains = table("domains", "t1.test OK\nt2.test OK\n");
	maps.mailboxes = table("mailboxes", "a@t1.test t1.test/a/\n"
					    "b@t1.test t1.test/b/\n"
					    "ceo@t2.test t2.test/ceo/\n");
	maps.aliases = table("aliases", "info@t1.test a@t1.test, b@t1.test\n"
					"out@t1.test x@elsewhere.example\n"
					"sales@t1.test info@t1.test\n"
					"@t2.test ceo@t2.test\n");
	maps.alias_domains = table("alias_domains", "ad.test t1.test\n");
	l = login_new("");
	struct smtpd_login_ctx c = {
	    .login = l,
	    .maps = &maps,
	    .delimiters = "+",
	    .recursion_limit = 100,
	    .expansion_limit = 1000,
	    .log_id = "TEST",
	};

	OWNERS_EQ(&c, "a@t1.test", "a@t1.test");
	OWNERS_EQ(&c, "a+news@t1.test", "a@t1.test");
	OWNERS_EQ(&c, "info@t1.test", "a@t1.test b@t1.test");
	OWNERS_EQ(&c, "sales@t1.test", "a@t1.test b@t1.test"); /* nested */
	OWNERS_EQ(&c, "out@t1.test", "");		 /* only foreign */
	OWNERS_EQ(&c, "a@ad.test", "a@t1.test");	 /* alias domain */
	OWNERS_EQ(&c, "anyone@t2.test", "ceo@t2.test");	 /* catch-all */
	OWNERS_EQ(&c, "nobody@t1.test", "");		 /* unknown */
	OWNERS_EQ(&c, "x@elsewhere.example", "");	 /* foreign */
	OWNERS_EQ(&c, "postmaster@t1.test", "");	 /* role: no owner */
	assert_int_equal(smtpd_login_owns(&c, "A@T1.test", "a@t1.test", &err),
			 1);
	assert_int_equal(smtpd_login_owns(&c, "a@t1.test", "b@t1.test", &err),
			 0);
	smtpd_login_free(&l);
	virtual_maps_close(&maps);
}

static void test_login_map(void **state)
{
	struct smtpd_login *l;
	char cf[300];

	(void)state;
	struct map *written = table("logins", "a@t1.test a@t1.test\n"
					      "shared@t1.test a@t1.test, "
					      "b@t1.test\n"
					      "@t3.test admin@t1.test\n");
	map_free(&written); /* only the file is wanted */
	snprintf(cf, sizeof(cf), "smtpd_sender_login_maps = texthash:%s/logins\n",
		 dir);
	l = login_new(cf);
	struct smtpd_login_ctx c = {.login = l, .delimiters = "+"};

	OWNERS_EQ(&c, "a@t1.test", "a@t1.test");
	OWNERS_EQ(&c, "a+x@t1.test", "a@t1.test");
	OWNERS_EQ(&c, "shared@t1.test", "a@t1.test b@t1.test");
	OWNERS_EQ(&c, "anyone@t3.test", "admin@t1.test");
	OWNERS_EQ(&c, "b@t1.test", ""); /* the map alone decides */
	smtpd_login_free(&l);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_built_in),
	    cmocka_unit_test(test_login_map),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
