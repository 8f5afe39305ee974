/*
 * test_rewrite.c - lib/rewrite against the results Postfix documents:
 * each case names the manual page section its expected value comes from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

#include "conf/conf.h"
#include "core/buf.h"
#include "rewrite/rewrite.h"

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A struct rewrite from main.cf text; $T names the temp folder. */
static struct rewrite *open_rw(const char *maincf, struct conf **conf_r)
{
	struct error err;
	struct conf *conf = conf_load_string(tmpdir, "test", maincf, &err);
	struct rewrite *rw;

	if (conf == NULL)
		fail_msg("conf: %s", err.msg);
	rw = rewrite_new(conf, NULL, &err);
	if (rw == NULL)
		fail_msg("rewrite_new: %s", err.msg);
	*conf_r = conf;
	return rw;
}

static const char *rw_addr(struct rewrite *rw, enum rewrite_class cls,
			   const char *addr)
{
	static struct buf *out;
	struct error err;

	if (out == NULL)
		out = buf_new();
	if (rewrite_address(rw, cls, addr, out, &err) < 0)
		fail_msg("rewrite_address(%s): %s", addr, err.msg);
	return buf_data(out);
}

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_rewrite.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	write_file("canonical",
		   "wietse Wietse.Venema\n"
		   "joe@example.com joe.user@example.com\n"
		   "@old.example @new.example\n"
		   "loop1@example.com loop2@example.com\n"
		   "loop2@example.com loop3@example.com\n"
		   "list@example.com first@example.com, second@example.com\n");
	write_file("sender_canonical", "joe@example.com joe.sender@example.com\n");
	write_file("relocated", "old@example.com new@example.net\n"
				"@gone.example contact info at 555-1234\n");
	/* generic(5) EXAMPLE, verbatim addresses. */
	write_file("generic", "his@localdomain.local hisaccount@hisisp.example\n"
			      "her@localdomain.local heraccount@herisp.example\n"
			      "@localdomain.local hisaccount+local@hisisp.example\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

#define BASE                                                                   \
	"myhostname = mail.example.com\n"                                      \
	"canonical_maps = texthash:$config_directory/canonical\n"

static void test_defaults(void **state)
{
	struct buf *b = buf_new();
	struct conf *conf;
	struct rewrite *rw = open_rw("myhostname = host.sub.example.com\n", &conf);

	/* postconf(5) mydomain: $myhostname minus the first component. */
	assert_string_equal(rewrite_mydomain(rw), "sub.example.com");
	/* postconf(5) myorigin: default $myhostname. */
	assert_string_equal(rewrite_myorigin(rw), "host.sub.example.com");
	/* mydomain for a single-label host: "localdomain" (Postfix 2.3+). */
	rewrite_default_mydomain("localhost", b);
	assert_string_equal(buf_data(b), "localdomain");
	/* postconf(5) append_at_myorigin: "user" becomes user@$myorigin. */
	rewrite_qualify(rw, "user", NULL, b);
	assert_string_equal(buf_data(b), "user@host.sub.example.com");
	rewrite_qualify(rw, "user@x.example", NULL, b);
	assert_string_equal(buf_data(b), "user@x.example");
	/* Nothing configured: no class is active, addresses pass. */
	assert_false(rewrite_active(rw, REWRITE_ENV_SENDER));
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER, "a@b.example"),
			    "a@b.example");
	rewrite_free(&rw);
	conf_free(&conf);
	conf = NULL;
	rw = open_rw("myhostname = host.example.com\nmyorigin = $mydomain\n",
		     &conf);
	/* ADDRESS_REWRITING_README "Append the domain in $myorigin":
	 * myorigin = $mydomain sends mail as user@example.com. */
	assert_string_equal(rewrite_myorigin(rw), "example.com");
	rewrite_free(&rw);
	conf_free(&conf);
	buf_free(&b);
}

static void test_canonical(void **state)
{
	struct conf *conf;
	struct rewrite *rw = open_rw(BASE, &conf);

	/* canonical(5) TABLE FORMAT "user address": user@site when site is
	 * $myorigin; RESULT ADDRESS REWRITING: the bare result gets
	 * @$myorigin (ADDRESS_REWRITING_README, "Canonical address
	 * mapping": wietse -> Wietse.Venema). */
	assert_string_equal(
	    rw_addr(rw, REWRITE_ENV_SENDER, "wietse@mail.example.com"),
	    "Wietse.Venema@mail.example.com");
	/* ... and "localhost" (in the default $mydestination). */
	assert_string_equal(rw_addr(rw, REWRITE_HDR_SENDER, "wietse@localhost"),
			    "Wietse.Venema@mail.example.com");
	/* The bare user form does not apply to other domains. */
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER, "wietse@other.example"),
			    "wietse@other.example");
	/* "user@domain address": the highest precedence. */
	assert_string_equal(rw_addr(rw, REWRITE_ENV_RECIPIENT, "joe@example.com"),
			    "joe.user@example.com");
	/* "@domain address" with an @otherdomain result: the same user in
	 * otherdomain (RESULT ADDRESS REWRITING). */
	assert_string_equal(rw_addr(rw, REWRITE_ENV_RECIPIENT, "ann@old.example"),
			    "ann@new.example");
	/* ADDRESS EXTENSION: user+foo@domain, then user@domain, the
	 * unmatched +foo propagated (propagate_unmatched_extensions default
	 * includes canonical). */
	assert_string_equal(
	    rw_addr(rw, REWRITE_ENV_RECIPIENT, "joe+foo@example.com"),
	    "joe.user+foo@example.com");
	assert_string_equal(
	    rw_addr(rw, REWRITE_ENV_RECIPIENT, "ann+x@old.example"),
	    "ann+x@new.example");
	/* cleanup_map11: maps are applied until nothing matches. */
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER, "loop1@example.com"),
			    "loop3@example.com");
	/* A multi-valued entry: the first value (cleanup warns). */
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER, "list@example.com"),
			    "first@example.com");
	/* The null sender is never rewritten. */
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER, ""), "");
	rewrite_free(&rw);
	conf_free(&conf);
}

static void test_canonical_order_and_classes(void **state)
{
	struct conf *conf;
	struct rewrite *rw;

	rw = open_rw(BASE "sender_canonical_maps = "
			  "texthash:$config_directory/sender_canonical\n"
			  "propagate_unmatched_extensions =\n",
		     &conf);
	/* ADDRESS_REWRITING_README "Canonical address mapping":
	 * sender_canonical_maps is searched before canonical_maps, and only
	 * for sender addresses. */
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER, "joe@example.com"),
			    "joe.sender@example.com");
	assert_string_equal(rw_addr(rw, REWRITE_ENV_RECIPIENT, "joe@example.com"),
			    "joe.user@example.com");
	/* propagate_unmatched_extensions without canonical: +foo dropped. */
	assert_string_equal(
	    rw_addr(rw, REWRITE_ENV_RECIPIENT, "joe+foo@example.com"),
	    "joe.user@example.com");
	rewrite_free(&rw);
	conf_free(&conf);

	/* canonical_classes (postconf(5)): only the classes named. */
	rw = open_rw(BASE "canonical_classes = envelope_recipient\n", &conf);
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER, "joe@example.com"),
			    "joe@example.com");
	assert_string_equal(rw_addr(rw, REWRITE_HDR_RECIPIENT, "joe@example.com"),
			    "joe@example.com");
	assert_string_equal(rw_addr(rw, REWRITE_ENV_RECIPIENT, "joe@example.com"),
			    "joe.user@example.com");
	rewrite_free(&rw);
	conf_free(&conf);
}

static void test_map_lists(void **state)
{
	struct conf *conf;
	struct rewrite *rw = open_rw(
	    "myhostname = mail.example.com\n"
	    "canonical_maps = inline:{ x@a.example=y@a.example, "
	    "joe@example.com=first@example.com }, "
	    "texthash:$config_directory/canonical\n",
	    &conf);

	/* postconf(5) canonical_maps: a list of tables, searched in order
	 * (an inline:{...} table is one element, commas and all). */
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER, "x@a.example"),
			    "y@a.example");
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER, "joe@example.com"),
			    "first@example.com");
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER, "ann@old.example"),
			    "ann@new.example");
	rewrite_free(&rw);
	conf_free(&conf);
}

static void test_masquerade(void **state)
{
	struct conf *conf;
	struct rewrite *rw;

	/* postconf(5) masquerade_domains, first example. */
	rw = open_rw("masquerade_domains = foo.example.com example.com\n",
		     &conf);
	assert_string_equal(rw_addr(rw, REWRITE_HDR_SENDER,
				    "user@any.thing.foo.example.com"),
			    "user@foo.example.com");
	assert_string_equal(rw_addr(rw, REWRITE_HDR_SENDER,
				    "user@any.thing.else.example.com"),
			    "user@example.com");
	/* A domain equal to a listed one is left alone. */
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER, "user@example.com"),
			    "user@example.com");
	/* masquerade_classes default: no envelope_recipient
	 * (ADDRESS_REWRITING_README "Address masquerading"). */
	assert_string_equal(rw_addr(rw, REWRITE_ENV_RECIPIENT,
				    "user@any.thing.else.example.com"),
			    "user@any.thing.else.example.com");
	rewrite_free(&rw);
	conf_free(&conf);

	/* postconf(5) masquerade_domains, the "!" example. */
	rw = open_rw("masquerade_domains = !foo.example.com example.com\n",
		     &conf);
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER,
				    "user@any.thing.foo.example.com"),
			    "user@any.thing.foo.example.com");
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER,
				    "user@foo.example.com"),
			    "user@foo.example.com");
	assert_string_equal(rw_addr(rw, REWRITE_ENV_SENDER,
				    "user@any.thing.else.example.com"),
			    "user@example.com");
	rewrite_free(&rw);
	conf_free(&conf);

	/* postconf(5) masquerade_exceptions = root (ADDRESS_REWRITING_README:
	 * "root@host.example.com" keeps its host). */
	rw = open_rw("masquerade_domains = example.com\n"
		     "masquerade_exceptions = root, mailer-daemon\n",
		     &conf);
	assert_string_equal(rw_addr(rw, REWRITE_HDR_SENDER,
				    "root@host.example.com"),
			    "root@host.example.com");
	assert_string_equal(rw_addr(rw, REWRITE_HDR_SENDER,
				    "Root@host.example.com"),
			    "Root@host.example.com");
	assert_string_equal(rw_addr(rw, REWRITE_HDR_SENDER,
				    "joe@host.example.com"),
			    "joe@example.com");
	rewrite_free(&rw);
	conf_free(&conf);
}

static void test_relocated(void **state)
{
	struct conf *conf;
	struct rewrite *rw = open_rw(
	    "relocated_maps = texthash:$config_directory/relocated\n", &conf);
	struct buf *v = buf_new();
	struct error err;

	/* relocated(5) TABLE FORMAT "user@domain address". */
	assert_int_equal(rewrite_relocated(rw, "old@example.com", v, &err), 1);
	assert_string_equal(buf_data(v), "new@example.net");
	/* ADDRESS EXTENSION: user+foo@domain finds user@domain. */
	assert_int_equal(rewrite_relocated(rw, "old+x@example.com", v, &err),
			 1);
	/* "@domain address": any user; the value may be contact text. */
	assert_int_equal(rewrite_relocated(rw, "a@gone.example", v, &err), 1);
	assert_string_equal(buf_data(v), "contact info at 555-1234");
	assert_int_equal(rewrite_relocated(rw, "new@example.com", v, &err), 0);
	buf_free(&v);
	rewrite_free(&rw);
	conf_free(&conf);
}

static void test_generic(void **state)
{
	struct conf *conf;
	struct rewrite *rw = open_rw(
	    "smtp_generic_maps = texthash:$config_directory/generic\n", &conf);
	struct buf *out = buf_new();
	struct error err;

	/* generic(5) EXAMPLE: his, her, and other local addresses to his
	 * account with the +local extension. */
	assert_int_equal(rewrite_generic(rw, "his@localdomain.local", out, &err),
			 1);
	assert_string_equal(buf_data(out), "hisaccount@hisisp.example");
	rewrite_generic(rw, "her@localdomain.local", out, &err);
	assert_string_equal(buf_data(out), "heraccount@herisp.example");
	rewrite_generic(rw, "dog@localdomain.local", out, &err);
	assert_string_equal(buf_data(out), "hisaccount+local@hisisp.example");
	assert_int_equal(rewrite_generic(rw, "x@elsewhere.example", out, &err),
			 0);
	assert_string_equal(buf_data(out), "x@elsewhere.example");
	/* Headers too (generic(5): "header and envelope addresses"). */
	buf_reset(out);
	const char *msg = "From: His Name <his@localdomain.local>\r\n"
			  "To: a@elsewhere.example\r\n"
			  "Subject: his@localdomain.local\r\n\r\nbody\r\n";
	assert_int_equal(rewrite_header_block(rw, REWRITE_MODE_GENERIC, NULL,
					      msg, strlen(msg), out, &err),
			 1);
	assert_string_equal(buf_data(out),
			    "From: His Name <hisaccount@hisisp.example>\r\n"
			    "To: a@elsewhere.example\r\n"
			    "Subject: his@localdomain.local\r\n\r\nbody\r\n");
	buf_free(&out);
	rewrite_free(&rw);
	conf_free(&conf);
}

static void test_headers(void **state)
{
	struct conf *conf;
	struct rewrite *rw = open_rw(BASE "masquerade_domains = example.com\n",
				     &conf);
	struct buf *out = buf_new();
	struct error err;
	const char *msg =
	    "Received: from x by y\r\n"
	    "From: \"Wietse V.\" <wietse>\r\n"
	    "To: joe@example.com (Joe),\r\n"
	    "\tteam: ann@old.example, <bob@host.example.com>;, someone\r\n"
	    "Cc: undisclosed-recipients:;\r\n"
	    "Return-Path: <>\r\n"
	    "Subject: wietse joe@example.com\r\n"
	    "\r\n"
	    "From: wietse\r\n";

	/* cleanup(8) with local header rewriting: bare addresses get
	 * @$myorigin, then canonical, then masquerading (header_sender and
	 * header_recipient are in masquerade_classes, so mail.example.com
	 * becomes example.com).  Two fields changed. */
	assert_int_equal(rewrite_header_block(rw, REWRITE_MODE_LOCAL, NULL, msg,
					      strlen(msg), out, &err),
			 2);
	assert_string_equal(
	    buf_data(out),
	    "Received: from x by y\r\n"
	    "From: \"Wietse V.\" <Wietse.Venema@example.com>\r\n"
	    "To: joe.user@example.com (Joe),\r\n"
	    "\tteam: ann@new.example, <bob@example.com>;, "
	    "someone@example.com\r\n"
	    "Cc: undisclosed-recipients:;\r\n"
	    "Return-Path: <>\r\n"
	    "Subject: wietse joe@example.com\r\n"
	    "\r\n"
	    "From: wietse\r\n");
	/* ADDRESS_REWRITING_README "Rewriting message headers from remote
	 * SMTP clients": bare addresses get $remote_header_rewrite_domain. */
	buf_reset(out);
	const char *remote = "To: someone, \"a b\"@old.example\n\n";
	assert_int_equal(rewrite_header_block(rw, REWRITE_MODE_REMOTE,
					      "domain.invalid", remote,
					      strlen(remote), out, &err),
			 1);
	assert_string_equal(buf_data(out), "To: someone@domain.invalid, "
					   "\"a b\"@new.example\n\n");
	assert_int_equal(rewrite_header_class("resent-from", 11),
			 REWRITE_HDR_SENDER);
	assert_int_equal(rewrite_header_class("Bcc", 3), REWRITE_HDR_RECIPIENT);
	assert_int_equal(rewrite_header_class("Subject", 7), 0);
	buf_free(&out);
	rewrite_free(&rw);
	conf_free(&conf);
}

static void test_map_failure(void **state)
{
	struct conf *conf;
	struct rewrite *rw = open_rw("canonical_maps = fail:down\n"
				     "relocated_maps = fail:down\n",
				     &conf);
	struct buf *out = buf_new();
	struct error err;

	/* A table that cannot answer is a temporary failure, never "not
	 * found" (cleanup: "map lookup problem -- try again later"). */
	assert_int_equal(
	    rewrite_address(rw, REWRITE_ENV_SENDER, "a@b.example", out, &err),
	    -1);
	assert_int_equal(err.kind, ERR_TEMP);
	assert_string_equal(buf_data(out), "a@b.example");
	assert_int_equal(rewrite_relocated(rw, "a@b.example", out, &err), -1);
	buf_free(&out);
	rewrite_free(&rw);
	conf_free(&conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_canonical),
	    cmocka_unit_test(test_canonical_order_and_classes),
	    cmocka_unit_test(test_map_lists),
	    cmocka_unit_test(test_masquerade),
	    cmocka_unit_test(test_relocated),
	    cmocka_unit_test(test_generic),
	    cmocka_unit_test(test_headers),
	    cmocka_unit_test(test_map_failure),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
