/*
 * test_address - RFC 5321 mailbox / path parsing, IDN, delimiter split.
 */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "mail/address.h"

#define IDN ADDRESS_IDN
#define UTF8 ADDRESS_SMTPUTF8
#define LOWER ADDRESS_LOWER_LOCAL

struct mbox_case {
	const char *in;
	unsigned int flags;
	const char *want; /* formatted result, or NULL: must fail */
	const char *err;  /* substring of the error message */
};

static const struct mbox_case mbox_cases[] = {
    {"user@example.com", 0, "user@example.com", NULL},
    {"User@EXAMPLE.Com", 0, "User@example.com", NULL},
    {"User@EXAMPLE.Com", LOWER, "user@example.com", NULL},
    {"first.last+tag@sub.example.com", 0, "first.last+tag@sub.example.com",
     NULL},
    {"!#$%&'*+-/=?^_`{|}~@example.com", 0, "!#$%&'*+-/=?^_`{|}~@example.com",
     NULL},
    /* Quoted local parts: decoded, re-quoted only when needed. */
    {"\"john\"@example.com", 0, "john@example.com", NULL},
    {"\"john.doe\"@example.com", 0, "john.doe@example.com", NULL},
    {"\"john doe\"@example.com", 0, "\"john doe\"@example.com", NULL},
    {"\"a\\\"b\"@example.com", 0, "\"a\\\"b\"@example.com", NULL},
    {"\"a\\\\b\"@example.com", 0, "\"a\\\\b\"@example.com", NULL},
    {"\"\\j\"@example.com", 0, "j@example.com", NULL},
    {"\"a@b\"@example.com", 0, "\"a@b\"@example.com", NULL},
    {"\"a..b\"@example.com", 0, "\"a..b\"@example.com", NULL},
    {"\"unterminated@example.com", 0, NULL, "unterminated"},
    {"\"a\tb\"@example.com", 0, NULL, "invalid character 0x09"},
    {"\"\"@example.com", 0, NULL, "empty local part"},
    /* Dot-string errors. */
    {".user@example.com", 0, NULL, "leading dot"},
    {"user.@example.com", 0, NULL, "trailing dot"},
    {"us..er@example.com", 0, NULL, "double dot"},
    {"@example.com", 0, NULL, "empty local part"},
    {"userexample.com", 0, NULL, "missing @"},
    {"user name@example.com", 0, NULL, "invalid character 0x20"},
    {"user(x)@example.com", 0, NULL, "invalid character '('"},
    {"user@", 0, NULL, "empty domain"},
    {"a@b@example.com", 0, NULL, "invalid character '@' in domain"},
    /* Domains. */
    {"postmaster@localhost", 0, "postmaster@localhost", NULL},
    {"user@example.com.", 0, NULL, "domain ends with a dot"},
    {"user@.example.com", 0, NULL, "empty label"},
    {"user@a..example", 0, NULL, "empty label"},
    {"user@exa_mple.com", 0, NULL, "invalid character '_' in domain"},
    {"user@-example.com", 0, NULL, "starts with a hyphen"},
    {"user@example-.com", 0, NULL, "ends with a hyphen"},
    {"user@ex-ample.com", 0, "user@ex-ample.com", NULL},
    {"user@1.2.3.4", 0, NULL, "numeric domain"},
    {"user@123.example", 0, "user@123.example", NULL},
    /* Address literals. */
    {"user@[192.0.2.1]", 0, "user@[192.0.2.1]", NULL},
    {"user@[IPv6:2001:DB8::1]", 0, "user@[IPv6:2001:db8::1]", NULL},
    {"user@[ipv6:2001:db8:0:0:0:0:0:1]", 0, "user@[IPv6:2001:db8::1]", NULL},
    {"user@[1.2.3]", 0, NULL, "invalid IPv4 address literal"},
    {"user@[300.1.1.1]", 0, NULL, "invalid IPv4 address literal"},
    {"user@[IPv6:zz::1]", 0, NULL, "invalid IPv6 address literal"},
    {"user@[2001:db8::1]", 0, NULL, "unsupported address literal"},
    {"user@[x400:foo]", 0, NULL, "unsupported address literal"},
    {"user@[192.0.2.1", 0, NULL, "unterminated address literal"},
    /* IDN: U-labels need ADDRESS_IDN or SMTPUTF8 and become A-labels. */
    {"user@bücher.example", 0, NULL, "UTF-8 in domain needs SMTPUTF8"},
    {"user@bücher.example", IDN, "user@xn--bcher-kva.example", NULL},
    {"user@bücher.example", UTF8, "user@xn--bcher-kva.example", NULL},
    {"user@BÜCHER.Example", IDN, "user@xn--bcher-kva.example", NULL},
    {"user@xn--bcher-kva.example", 0, "user@xn--bcher-kva.example", NULL},
    {"user@XN--BCHER-KVA.EXAMPLE", 0, "user@xn--bcher-kva.example", NULL},
    {"user@faß.de", IDN, "user@xn--fa-hia.de", NULL},
    {"user@例子.广告", IDN, "user@xn--fsqu00a.xn--4rr70v", NULL},
    {"user@xn--zz.example", 0, NULL, "invalid internationalized domain"},
    {"user@xn--.example", IDN, NULL, "invalid internationalized domain"},
    {"user@-bücher.example", IDN, NULL, "invalid internationalized domain"},
    {"user@b\xc3.example", IDN, NULL, "invalid internationalized domain"},
    /* RFC 6531 local parts. */
    {"jörg@example.com", 0, NULL, "UTF-8 in local part needs SMTPUTF8"},
    {"jörg@example.com", IDN, NULL, "needs SMTPUTF8"},
    {"jörg@example.com", UTF8, "jörg@example.com", NULL},
    {"用户@例子.广告", UTF8, "用户@xn--fsqu00a.xn--4rr70v", NULL},
    {"\"jö rg\"@example.com", UTF8, "\"jö rg\"@example.com", NULL},
    {"j\xc3@example.com", UTF8, NULL, "invalid UTF-8"},
    {"j\xc0\xafx@example.com", UTF8, NULL, "invalid UTF-8"},
    {"j\xed\xa0\x80x@example.com", UTF8, NULL, "invalid UTF-8"},
};

static void test_mailbox_table(void **state)
{
	struct buf *out = buf_new();

	for (size_t i = 0; i < sizeof(mbox_cases) / sizeof(mbox_cases[0]);
	     i++) {
		const struct mbox_case *c = &mbox_cases[i];
		struct mail_address addr;
		struct error err = {0};
		int rc = address_parse_mailbox(c->in, strlen(c->in), c->flags,
					       &addr, &err);

		if (c->want != NULL) {
			if (rc != 0)
				fail_msg("%s: unexpected error: %s", c->in,
					 err.msg);
			address_format(&addr, out);
			if (strcmp(buf_data(out), c->want) != 0)
				fail_msg("%s: got %s, want %s", c->in,
					 buf_data(out), c->want);
			address_clear(&addr);
			assert_null(addr.local);
		} else {
			if (rc != -1)
				fail_msg("%s: accepted", c->in);
			assert_int_equal(err.kind, ERR_PERM);
			assert_string_equal(err.code, "invalid_address");
			if (strstr(err.msg, c->err) == NULL)
				fail_msg("%s: error \"%s\" lacks \"%s\"", c->in,
					 err.msg, c->err);
		}
	}
	buf_free(&out);
}

static char *repeat(char c, size_t n)
{
	char *s = test_malloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static int parse_str(const char *s, unsigned int flags, struct buf *out,
		     struct error *err)
{
	struct mail_address addr;

	if (address_parse_mailbox(s, strlen(s), flags, &addr, err) < 0)
		return -1;
	address_format(&addr, out);
	address_clear(&addr);
	return 0;
}

static void test_length_limits(void **state)
{
	struct buf *out = buf_new();
	struct error err = {0};
	char *l64 = repeat('a', 64), *l65 = repeat('a', 65);
	char *lab63 = repeat('b', 63), *lab64 = repeat('b', 64);
	char mbox[1024];

	snprintf(mbox, sizeof(mbox), "%s@example.com", l64);
	assert_int_equal(parse_str(mbox, 0, out, &err), 0);
	snprintf(mbox, sizeof(mbox), "%s@example.com", l65);
	assert_int_equal(parse_str(mbox, 0, out, &err), -1);
	assert_non_null(strstr(err.msg, "local part too long (65 > 64"));
	/* Quoting counts: 62 characters plus two quotes is 64. */
	snprintf(mbox, sizeof(mbox), "\"%.62s\"@example.com", l64);
	assert_int_equal(parse_str(mbox, 0, out, &err), 0);
	snprintf(mbox, sizeof(mbox), "\"%.63s\"@example.com", l64);
	assert_int_equal(parse_str(mbox, 0, out, &err), -1);

	snprintf(mbox, sizeof(mbox), "u@%s.example", lab63);
	assert_int_equal(parse_str(mbox, 0, out, &err), 0);
	snprintf(mbox, sizeof(mbox), "u@%s.example", lab64);
	assert_int_equal(parse_str(mbox, 0, out, &err), -1);
	assert_non_null(strstr(err.msg, "label too long"));

	/* 4 x 63 + 3 dots = 255 > 253. */
	snprintf(mbox, sizeof(mbox), "u@%s.%s.%s.%s", lab63, lab63, lab63,
		 lab63);
	assert_int_equal(parse_str(mbox, 0, out, &err), -1);
	assert_non_null(strstr(err.msg, "too long"));

	/* 64 + 1 + 189 = 254 is the longest mailbox; one more is refused. */
	snprintf(mbox, sizeof(mbox), "%s@%s.%s.%.61s", l64, lab63, lab63,
		 lab63);
	assert_int_equal(strlen(mbox), 254);
	assert_int_equal(parse_str(mbox, 0, out, &err), 0);
	snprintf(mbox, sizeof(mbox), "%s@%s.%s.%.62s", l64, lab63, lab63,
		 lab63);
	assert_int_equal(parse_str(mbox, 0, out, &err), -1);
	assert_non_null(strstr(err.msg, "mailbox too long"));

	/* Fits as written, not in A-label form: 64 + 1 + 14 x 14 - 1. */
	{
		size_t n = (size_t)snprintf(mbox, sizeof(mbox), "%s@", l64);

		for (int k = 0; k < 14; k++)
			n += (size_t)snprintf(mbox + n, sizeof(mbox) - n,
					      "%sbücher", k ? "." : "");
		assert_true(strlen(mbox) <= 254);
		assert_int_equal(parse_str(mbox, IDN, out, &err), -1);
		assert_non_null(strstr(err.msg, "after IDN conversion"));
		/* The same domain with a short local part is fine. */
		assert_int_equal(parse_str(mbox + 60, IDN, out, &err), 0);
		assert_int_equal(buf_len(out), 4 + 1 + 14 * 14 - 1);
	}

	test_free(l64);
	test_free(l65);
	test_free(lab63);
	test_free(lab64);
	buf_free(&out);
}

struct path_case {
	const char *in;
	unsigned int flags;
	const char *want; /* formatted, or NULL: must fail */
	const char *err;
};

static const struct path_case path_cases[] = {
    {"<user@example.com>", 0, "user@example.com", NULL},
    {"<\"a>b\"@example.com>", 0, "\"a>b\"@example.com", NULL},
    {"<>", ADDRESS_ALLOW_NULL, "", NULL},
    {"<>", 0, NULL, "null path"},
    /* RFC 5321 4.1.2: source routes accepted and stripped. */
    {"<@a.example,@b.example:user@c.example>", 0, "user@c.example", NULL},
    {"<@a.example:user@c.example>", 0, "user@c.example", NULL},
    {"<@a.example,user@c.example>", 0, NULL, "source route"},
    {"<@a.example;user@c.example>", 0, NULL, "source route"},
    {"<@a_b.example:user@c.example>", 0, NULL, "source route"},
    {"<@:user@c.example>", 0, NULL, "source route"},
    {"<user@example.com", 0, NULL, "missing >"},
    {"user@example.com", 0, NULL, "start with <"},
    {"", 0, NULL, "start with <"},
    {"<user@example.com> ", 0, NULL, "after the path"},
    {"<Postmaster>", ADDRESS_ALLOW_POSTMASTER, "postmaster", NULL},
    {"<POSTMASTER>", ADDRESS_ALLOW_POSTMASTER, "postmaster", NULL},
    {"<Postmaster>", 0, NULL, "missing @"},
    {"<admin>", ADDRESS_ALLOW_POSTMASTER, NULL, "missing @"},
    {"<user@bücher.example>", UTF8, "user@xn--bcher-kva.example", NULL},
    {"<user@bücher.example>", 0, NULL, "needs SMTPUTF8"},
    {"<user@[IPv6:::1]>", 0, "user@[IPv6:::1]", NULL},
};

static void test_path_table(void **state)
{
	struct buf *out = buf_new();

	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]);
	     i++) {
		const struct path_case *c = &path_cases[i];
		struct mail_address addr;
		struct error err = {0};
		int rc = address_parse_path(c->in, strlen(c->in), c->flags,
					    &addr, NULL, &err);

		if (c->want != NULL) {
			if (rc != 0)
				fail_msg("%s: unexpected error: %s", c->in,
					 err.msg);
			address_format(&addr, out);
			if (strcmp(buf_data(out), c->want) != 0)
				fail_msg("%s: got %s, want %s", c->in,
					 buf_data(out), c->want);
			address_clear(&addr);
		} else {
			if (rc != -1)
				fail_msg("%s: accepted", c->in);
			if (strstr(err.msg, c->err) == NULL)
				fail_msg("%s: error \"%s\" lacks \"%s\"", c->in,
					 err.msg, c->err);
		}
	}
	buf_free(&out);
}

static void test_path_special(void **state)
{
	struct mail_address addr;
	struct error err = {0};
	const char *line = "<\"a>b\"@example.com> SIZE=100";
	char route[400];
	size_t used = 0, n;

	/* The caller learns where the ESMTP parameters start. */
	assert_int_equal(
	    address_parse_path(line, strlen(line), 0, &addr, &used, &err), 0);
	assert_int_equal(used, strlen("<\"a>b\"@example.com>"));
	assert_string_equal(addr.local, "a>b");
	assert_string_equal(addr.domain, "example.com");
	assert_false(address_is_null(&addr));
	address_clear(&addr);

	assert_int_equal(address_parse_path("<> BODY=8BITMIME", 16,
					    ADDRESS_ALLOW_NULL, &addr, &used,
					    &err),
			 0);
	assert_int_equal(used, 2);
	assert_true(address_is_null(&addr));
	address_clear(&addr);

	assert_int_equal(address_parse_path("<Postmaster>", 12,
					    ADDRESS_ALLOW_POSTMASTER, &addr,
					    NULL, &err),
			 0);
	assert_string_equal(addr.local, "postmaster");
	assert_string_equal(addr.domain, "");
	address_clear(&addr);

	/* The 256-octet path limit counts the source route too. */
	n = (size_t)snprintf(route, sizeof(route), "<@");
	while (n < 240)
		n += (size_t)snprintf(route + n, sizeof(route) - n,
				      "relay.example,@");
	snprintf(route + n - 2, sizeof(route) - n + 2, ":user@example.com>");
	assert_true(strlen(route) > 256);
	assert_int_equal(
	    address_parse_path(route, strlen(route), 0, &addr, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "path too long"));

	/* Embedded NUL never passes. */
	assert_int_equal(address_parse_path("<us\0er@example.com>", 19, 0,
					    &addr, NULL, &err),
			 -1);
	assert_int_equal(
	    address_parse_mailbox("user@exa\0mple.com", 17, 0, &addr, &err),
	    -1);
}

static void test_normalize(void **state)
{
	struct buf *out = buf_new();
	struct error err = {0};

	assert_int_equal(address_normalize("John.Doe@Bücher.Example",
					   IDN | LOWER, out, &err),
			 0);
	assert_string_equal(buf_data(out), "john.doe@xn--bcher-kva.example");
	assert_int_equal(
	    address_normalize("\"John\"@EXAMPLE.org", LOWER, out, &err), 0);
	assert_string_equal(buf_data(out), "john@example.org");
	assert_int_equal(address_normalize("nope", LOWER, out, &err), -1);

	assert_int_equal(
	    address_domain_normalize("Example.COM", 11, 0, out, &err), 0);
	assert_string_equal(buf_data(out), "example.com");
	assert_int_equal(address_domain_normalize("bücher.example",
						  strlen("bücher.example"), IDN,
						  out, &err),
			 0);
	assert_string_equal(buf_data(out), "xn--bcher-kva.example");
	assert_int_equal(
	    address_domain_normalize("example.com.", 12, 0, out, &err), -1);
	assert_int_equal(address_domain_normalize("", 0, 0, out, &err), -1);
	buf_free(&out);
}

struct split_case {
	const char *local, *delims;
	int split;
	size_t user_len;
	const char *ext;
};

static const struct split_case split_cases[] = {
    {"user+tag", "+", 1, 4, "tag"},
    {"user+tag", "", 0, 0, NULL},
    {"user+tag", "-", 0, 0, NULL},
    {"user", "+", 0, 0, NULL},
    {"user+", "+", 1, 4, ""},
    {"user+a+b", "+", 1, 4, "a+b"},
    /* Several delimiter characters: the first occurrence of any. */
    {"user-tag+x", "+-", 1, 4, "tag+x"},
    {"user+tag-x", "-+", 1, 4, "tag-x"},
    {"us=er+tag", "+=", 1, 2, "er+tag"},
    /* Empty user: not split. */
    {"+foo", "+", 0, 0, NULL},
    {"-foo+bar", "+-", 0, 0, NULL},
    /* Names Postfix never splits. */
    {"owner-list", "-", 0, 0, NULL},
    {"list-request", "-", 0, 0, NULL},
    {"MAILER-DAEMON", "-", 0, 0, NULL},
    {"owner-list+x", "+", 1, 10, "x"},
};

static void test_split(void **state)
{
	for (size_t i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]);
	     i++) {
		const struct split_case *c = &split_cases[i];
		size_t user_len = 999;
		const char *ext = NULL;
		bool split =
		    address_split_local(c->local, c->delims, &user_len, &ext);

		if ((int)split != c->split)
			fail_msg("%s / %s: split %d", c->local, c->delims,
				 split);
		if (!split)
			continue;
		assert_int_equal(user_len, c->user_len);
		assert_string_equal(ext, c->ext);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mailbox_table),
	    cmocka_unit_test(test_length_limits),
	    cmocka_unit_test(test_path_table),
	    cmocka_unit_test(test_path_special),
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
