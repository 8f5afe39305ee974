/*
 * test_html_sanitize - lib/html: the sanitiser against a hostile corpus
 * (the corpus folder, one .html file each), exact outputs for each rule, limits, and html_to_text.
 *
 * Every corpus file is sanitised with three option sets; each output is
 * parsed again and checked for script vectors (html_check.c) and must
 * come back unchanged from a second pass.  A file may state
 * <!-- expect: TEXT --> (the output contains TEXT) and
 * <!-- absent: TEXT --> (it does not); limit-*.html may be refused.
 */
#include "test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/fsutil.h"
#include "core/xmalloc.h"
#include "html/html_sanitize.h"
#include "html_check.h"

static const struct html_sanitize_opts opt_sets[] = {
	{ false, NULL, NULL },
	{ true, html_check_rewrite, NULL },
	{ true, NULL, NULL },
};

/* Sanitise with opts, check safety and idempotence, return the output. */
static char *sanitize_checked(const char *in, size_t len,
			      const struct html_sanitize_opts *o,
			      struct html_sanitize_info *info)
{
	struct buf *out = buf_new();
	struct error err;
	char why[512], *result;

	if (html_sanitize(in, len, o, out, info, &err) < 0)
		fail_msg("html_sanitize: %s", err.msg);
	if (html_check_output(buf_data(out), buf_len(out), why, sizeof(why)) < 0)
		fail_msg("unsafe output: %s\n%s", why, buf_data(out));
	if (html_check_idempotent(buf_data(out), buf_len(out), o, why,
				  sizeof(why)) < 0)
		fail_msg("%s\n%s", why, buf_data(out));
	result = buf_steal(out);
	buf_free(&out);
	return result;
}

static char *san(const char *in)
{
	return sanitize_checked(in, strlen(in), &opt_sets[0], NULL);
}

#define ASSERT_SAN(in, expected) do { \
	char *got_ = san(in); \
	assert_string_equal(got_, expected); \
	free(got_); \
} while (0)

/* Each <!-- key: TEXT --> marker of a corpus file, checked on out. */
static void check_markers(const char *name, const char *src, const char *out,
			  const char *key, bool want)
{
	const char *p = src;
	char tag[32];

	snprintf(tag, sizeof(tag), "<!-- %s: ", key);
	while ((p = strstr(p, tag)) != NULL) {
		const char *s = p + strlen(tag), *e = strstr(s, " -->");
		char *needle;

		assert_non_null(e);
		needle = xstrndup(s, (size_t)(e - s));
		if ((strstr(out, needle) != NULL) != want)
			fail_msg("%s: output %s '%s':\n%s", name,
				 want ? "lacks" : "has", needle, out);
		free(needle);
		p = e;
	}
}

static void test_corpus(void **state)
{
	const char *src = getenv("POSTERN_SOURCE_DIR");
	char dir[4096];
	struct dirent *de;
	unsigned files = 0;
	DIR *d;

	(void)state;
	assert_non_null(src);
	snprintf(dir, sizeof(dir), "%s/tests/unit/html/corpus", src);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char path[8192];
		struct buf *in = buf_new();
		struct error err;
		size_t n = strlen(de->d_name);

		if (n < 6 || strcmp(de->d_name + n - 5, ".html") != 0) {
			buf_free(&in);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_int_equal(fs_read_file(path, in, 1 << 24, &err), 0);
		for (size_t i = 0; i < 3; i++) {
			struct buf *out = buf_new();
			char why[512];
			int rc = html_sanitize(buf_data(in), buf_len(in),
					       &opt_sets[i], out, NULL, &err);

			if (rc < 0) {
				if (strncmp(de->d_name, "limit-", 6) != 0)
					fail_msg("%s: %s", de->d_name, err.msg);
				assert_int_equal(err.kind, ERR_PERM);
				buf_free(&out);
				continue;
			}
			if (html_check_output(buf_data(out), buf_len(out), why,
					      sizeof(why)) < 0)
				fail_msg("%s (opts %zu): unsafe: %s\n%s",
					 de->d_name, i, why, buf_data(out));
			if (html_check_idempotent(buf_data(out), buf_len(out),
						  &opt_sets[i], why,
						  sizeof(why)) < 0)
				fail_msg("%s (opts %zu): %s", de->d_name, i, why);
			check_markers(de->d_name, buf_data(in), buf_data(out),
				      "expect", true);
			check_markers(de->d_name, buf_data(in), buf_data(out),
				      "absent", false);
			buf_free(&out);
		}
		buf_free(&in);
		files++;
	}
	closedir(d);
	/* The corpus is the point: notice if it went missing. */
	assert_true(files >= 30);
}

static void test_basic(void **state)
{
	(void)state;
	ASSERT_SAN("", "");
	ASSERT_SAN("hello", "hello");
	ASSERT_SAN("<p>a &amp; b &lt;c&gt;</p>", "<p>a &amp; b &lt;c&gt;</p>");
	ASSERT_SAN("<html><head><title>t</title><style>p{}</style></head>"
		   "<body bgcolor=red><p>x</p></body></html>",
		   "<p>x</p>");
	/* Unclosed tags are closed, as the browser would. */
	ASSERT_SAN("<b>bold<i>both</b>italic", "<b>bold<i>both</i></b><i>italic</i>");
	ASSERT_SAN("<table><tr><td>1<td>2</table>",
		   "<table><tbody><tr><td>1</td><td>2</td></tr></tbody></table>");
	/* Unknown elements keep their text inside a neutral span. */
	ASSERT_SAN("<o:p>x</o:p><blink>y</blink>", "<span>x</span><span>y</span>");
	ASSERT_SAN("<xmp><b>raw</b></xmp>", "<pre>&lt;b&gt;raw&lt;/b&gt;</pre>");
	ASSERT_SAN("<p title='a\"b'>x</p>", "<p title=\"a&quot;b\">x</p>");
}

static void test_dropped_with_content(void **state)
{
	(void)state;
	ASSERT_SAN("a<script>alert(1)</script>b", "ab");
	ASSERT_SAN("a<style>*{color:red}</style>b", "ab");
	ASSERT_SAN("a<template><b>x</b></template>b", "ab");
	ASSERT_SAN("a<noscript><p>x</p></noscript>b", "ab");
	ASSERT_SAN("a<iframe src=x>y</iframe>b", "ab");
	ASSERT_SAN("a<object data=x><embed src=y></object>b", "ab");
	ASSERT_SAN("a<svg><script>alert(1)</script><text>t</text></svg>b", "ab");
	ASSERT_SAN("a<math><mi>x</mi></math>b", "ab");
	ASSERT_SAN("a<form action=x><input name=p><button>go</button></form>b", "ab");
	ASSERT_SAN("a<select><option>1</select><textarea>t</textarea>b", "ab");
	ASSERT_SAN("a<!-- c --><![CDATA[x]]>b", "ab");
}

static void test_attributes(void **state)
{
	(void)state;
	ASSERT_SAN("<p onclick=alert(1) id=x class=y>t</p>", "<p>t</p>");
	ASSERT_SAN("<img src=x onerror=alert(1)>", "");
	ASSERT_SAN("<table><tr><td width=50% bgcolor=#ffcc00 onmouseover=x>t",
		   "<table><tbody><tr><td width=\"50%\" bgcolor=\"#ffcc00\">t</td></tr></tbody></table>");
	ASSERT_SAN("<table width=\"expression(alert(1))\" border=1><tr><td>t",
		   "<table border=\"1\"><tbody><tr><td>t</td></tr></tbody></table>");
	ASSERT_SAN("<font color=red face=Arial size=+1>t</font>",
		   "<font color=\"red\" face=\"Arial\" size=\"+1\">t</font>");
	ASSERT_SAN("<blockquote type=cite cite=http://x>q</blockquote>",
		   "<blockquote type=\"cite\">q</blockquote>");
}

static void test_links(void **state)
{
	(void)state;
	ASSERT_SAN("<a href=\"https://example.org/?a=1&amp;b=2\">x</a>",
		   "<a href=\"https://example.org/?a=1&amp;b=2\" "
		   "rel=\"noopener noreferrer\" target=\"_blank\">x</a>");
	ASSERT_SAN("<a href='mailto:a@example.org' target=_top rel=opener>m</a>",
		   "<a href=\"mailto:a@example.org\" "
		   "rel=\"noopener noreferrer\" target=\"_blank\">m</a>");
	ASSERT_SAN("<a href=\" \thttp://x.test/\n\">x</a>",
		   "<a href=\"http://x.test/\" rel=\"noopener noreferrer\" "
		   "target=\"_blank\">x</a>");
	ASSERT_SAN("<a href=\"javascript:alert(1)\">x</a>", "<a>x</a>");
	ASSERT_SAN("<a href=\"JaVaScRiPt:alert(1)\">x</a>", "<a>x</a>");
	ASSERT_SAN("<a href=\"java\tscript:alert(1)\">x</a>", "<a>x</a>");
	ASSERT_SAN("<a href=\"java&#x09;script:alert(1)\">x</a>", "<a>x</a>");
	ASSERT_SAN("<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
		   "<a>x</a>");
	ASSERT_SAN("<a href=\"&#0000106avascript:alert(1)\">x</a>", "<a>x</a>");
	ASSERT_SAN("<a href=\"  &#14;  javascript:alert(1)\">x</a>", "<a>x</a>");
	ASSERT_SAN("<a href=\"vbscript:msgbox(1)\">x</a>", "<a>x</a>");
	ASSERT_SAN("<a href=\"data:text/html;base64,PHNjcmlwdD4=\">x</a>", "<a>x</a>");
	ASSERT_SAN("<a href=\"/relative\">x</a><a href=\"//evil.test/\">y</a>",
		   "<a>x</a><a>y</a>");
	ASSERT_SAN("<a href=\"http:evil\">x</a>", "<a>x</a>");
}

static char *rewrite_log(void *ctx, enum html_url_kind kind, const char *url)
{
	struct buf *log = ctx;

	buf_printf(log, "%d:%s|", (int)kind, url);
	if (kind == HTML_URL_IMAGE_CID)
		return strcmp(url, "gone") == 0 ? NULL : xasprintf("/part/%s", url);
	if (kind == HTML_URL_LINK)
		return xasprintf("https://redirect.test/?%s", url);
	return xasprintf("https://proxy.test/%s", url);
}

static void test_images(void **state)
{
	struct html_sanitize_info info;
	struct buf *log = buf_new();
	struct html_sanitize_opts o = { false, rewrite_log, log };
	struct buf *out = buf_new();
	const char *in =
		"<img src=\"cid:logo@x\" alt=Logo width=10>"
		"<img src=\"cid:gone\">"
		"<img src=\"http://tracker.test/p.gif\">"
		"<img src=\"HTTPS://tracker.test/q.gif\">"
		"<img src=\"data:image/png;base64,iVBORw0KGgo=\">"
		"<img src=\"data:image/svg+xml;base64,PHN2Zz4=\">"
		"<img src=\"javascript:alert(1)\">"
		"<a href=\"http://x.test/\">l</a>";

	(void)state;
	assert_int_equal(html_sanitize(in, strlen(in), &o, out, &info, NULL), 0);
	assert_string_equal(buf_data(out),
		"<img src=\"/part/logo@x\" alt=\"Logo\" width=\"10\">"
		"<img src=\"data:image/png;base64,iVBORw0KGgo=\">"
		"<a href=\"https://redirect.test/?http://x.test/\" "
		"rel=\"noopener noreferrer\" target=\"_blank\">l</a>");
	assert_string_equal(buf_data(log), "1:logo@x|1:gone|0:http://x.test/|");
	assert_int_equal(info.remote_images_blocked, 2);
	assert_int_equal(info.elements_dropped, 5);

	/* Remote images allowed: they go through the rewrite (a proxy). */
	o.remote_images = true;
	buf_reset(out);
	buf_reset(log);
	assert_int_equal(html_sanitize(in, strlen(in), &o, out, &info, NULL), 0);
	assert_non_null(strstr(buf_data(out),
			       "<img src=\"https://proxy.test/http://tracker.test/p.gif\">"));
	assert_non_null(strstr(buf_data(out),
			       "<img src=\"https://proxy.test/HTTPS://tracker.test/q.gif\">"));
	assert_int_equal(info.remote_images_blocked, 0);

	/* No rewrite: links as they are, cid and remote images dropped. */
	buf_reset(out);
	assert_int_equal(html_sanitize(in, strlen(in), NULL, out, &info, NULL), 0);
	assert_string_equal(buf_data(out),
		"<img src=\"data:image/png;base64,iVBORw0KGgo=\">"
		"<a href=\"http://x.test/\" rel=\"noopener noreferrer\" "
		"target=\"_blank\">l</a>");
	assert_int_equal(info.remote_images_blocked, 2);
	buf_free(&out);
	buf_free(&log);
}

static void test_style(void **state)
{
	(void)state;
	ASSERT_SAN("<p style=\"COLOR: Red;font-family:'Helvetica Neue', Arial;"
		   "position:fixed; padding:0 4px !important\">x</p>",
		   "<p style=\"color: Red; font-family: &#39;Helvetica Neue&#39;, Arial; "
		   "padding: 0 4px !important\">x</p>");
	ASSERT_SAN("<p style=\"background-color: rgb(1, 2, 3); width:\n 100%\">x</p>",
		   "<p style=\"background-color: rgb(1, 2, 3); width: 100%\">x</p>");
	/* Each of these loses its only declaration, hence the attribute. */
	ASSERT_SAN("<p style=\"background-color:url(http://t.test/x)\">x</p>", "<p>x</p>");
	ASSERT_SAN("<p style=\"width:expression(alert(1))\">x</p>", "<p>x</p>");
	ASSERT_SAN("<p style=\"color:re\\64\">x</p>", "<p>x</p>");
	ASSERT_SAN("<p style=\"color:red/**/;\">x</p>", "<p>x</p>");
	ASSERT_SAN("<p style=\"font-family:'a;b'\">x</p>", "<p>x</p>");
	ASSERT_SAN("<p style=\"behavior:url(x.htc);-moz-binding:url(x)\">x</p>", "<p>x</p>");
	ASSERT_SAN("<p style=\"background:url(javascript:alert(1))\">x</p>", "<p>x</p>");
	ASSERT_SAN("<p style=\"color:&#x72;ed\">x</p>", "<p style=\"color: red\">x</p>");
}

static void test_serializer_edges(void **state)
{
	(void)state;
	/* The parser eats one newline after <pre>: the output keeps two. */
	ASSERT_SAN("<pre>\n\nx</pre>", "<pre>\n\nx</pre>");
	ASSERT_SAN("<pre><!--c-->\nx</pre>", "<pre>\n\nx</pre>");
	ASSERT_SAN("<pre><script></script>\nx</pre>", "<pre>\n\nx</pre>");
	/* Leading white space would be dropped by the next parse. */
	ASSERT_SAN("  \n <p>x</p> ", "<p>x</p> ");
	ASSERT_SAN("<body>\n\n<div>x</div>\n</body>\n", "<div>x</div>\n\n");
	/* A CR from a reference survives as a reference. */
	ASSERT_SAN("a&#13;b", "a&#13;b");
	ASSERT_SAN("a\r\nb\rc", "a\nb\nc");
	/* Other controls too (found by the fuzzer): gumbo would replace a
	 * raw one with U+FFFD. */
	ASSERT_SAN("a&#19;b&#127;c<p title=\"&#1;\">", "a&#19;b&#127;c<p title=\"&#1;\"></p>");
	/* NUL is gone, not passed on. */
	{
		static const char in[] = "a\0b<p title=\"x\0y\">c</p>";
		char *got = sanitize_checked(in, sizeof(in) - 1, &opt_sets[0], NULL);

		assert_string_equal(got, "ab<p title=\"x\xef\xbf\xbdy\">c</p>");
		free(got);
	}
	/* Foster parenting out of a table builds trees no markup parses to
	 * (<p> in <p>, <h2> in <h1>, <li> in <li>): the output is what they
	 * become when parsed again, a fixed point. */
	ASSERT_SAN("<p><table><p>x", "<p></p><p>x</p><table></table><p></p>");
	ASSERT_SAN("<h1><table><h2>x", "<h1></h1><h2>x</h2><table></table>");
	ASSERT_SAN("<ul><li><div><table><li>x",
		   "<ul><li><div></div></li><li>x</li><table></table></ul>");
	/* Headings nested through an unknown element stay nested. */
	ASSERT_SAN("<h1><foo><h2>x</h2></foo></h1>",
		   "<h1><span><h2>x</h2></span></h1>");
}

static void test_limits(void **state)
{
	struct buf *in = buf_new(), *out = buf_new();
	struct error err;
	char *big;

	(void)state;
	/* Nesting: fine at 500, refused past HTML_MAX_DEPTH. */
	for (int i = 0; i < 500; i++)
		buf_append_str(in, "<div>");
	buf_append_str(in, "deep");
	assert_int_equal(html_sanitize(buf_data(in), buf_len(in), NULL, out,
				       NULL, &err), 0);
	assert_non_null(strstr(buf_data(out), "deep"));
	/* Well-formed but too deep: refused after the parse. */
	buf_reset(in);
	for (int i = 0; i < 2000; i++)
		buf_append_str(in, "<div>");
	buf_append_str(in, "deep");
	for (int i = 0; i < 2000; i++)
		buf_append_str(in, "</div>");
	buf_reset(out);
	assert_int_equal(html_sanitize(buf_data(in), buf_len(in), NULL, out,
				       NULL, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	if (strstr(err.msg, "deep") == NULL)
		fail_msg("%s", err.msg);
	assert_int_equal(html_to_text(buf_data(in), buf_len(in), out, &err), -1);
	assert_int_equal(buf_len(out), 0);

	/* Unclosed: every parse error copies gumbo's stack, so the memory
	 * cap stops it; deeper still, gumbo goes quadratic in time.  Both
	 * are refused, in bounded time and memory. */
	for (int n = 5000; n <= 200000; n *= 40) {
		buf_reset(in);
		for (int i = 0; i < n; i++)
			buf_append_str(in, "<div>");
		assert_int_equal(html_sanitize(buf_data(in), buf_len(in), NULL,
					       out, NULL, &err), -1);
		assert_int_equal(err.kind, ERR_PERM);
		print_message("%d unclosed <div>: %s\n", n, err.msg);
	}

	/* Size. */
	big = xcalloc(1, HTML_MAX_INPUT + 1);
	memset(big, 'a', HTML_MAX_INPUT + 1);
	assert_int_equal(html_sanitize(big, HTML_MAX_INPUT + 1, NULL, out, NULL,
				       &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	assert_int_equal(html_sanitize(big, HTML_MAX_INPUT, NULL, out, NULL,
				       &err), 0);
	free(big);
	buf_free(&in);
	buf_free(&out);
}

/* Formatting elements reconstructed in every paragraph grow the tree as
 * the product of the two counts: the parser arena stops it in bounded
 * time instead of eating memory. */
static void test_reconstruction_blowup(void **state)
{
	struct buf *in = buf_new(), *out = buf_new();
	struct timespec t0, t1; /* CPU time: the machine may be busy */
	struct error err;
	double secs;
	int rc;

	(void)state;
	for (int i = 0; i < 20000; i++)
		buf_printf(in, "<b id=%d>", i);
	for (int i = 0; i < 100000; i++)
		buf_append_str(in, "<p>x");
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	rc = html_sanitize(buf_data(in), buf_len(in), NULL, out, NULL, &err);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("reconstruction bomb: %zu bytes, rc %d, %.2f s CPU: %s\n",
		      buf_len(in), rc, secs, err.msg);
	assert_int_equal(rc, -1);
	assert_int_equal(err.kind, ERR_PERM);
	assert_true(secs < 10.0);
	buf_free(&in);
	buf_free(&out);
}

/* The checks of html_check.c must have teeth, or the corpus proves
 * nothing. */
static void test_checker_catches(void **state)
{
	static const char *const bad[] = {
		"<img src=x onerror=alert(1)>",
		"<a href=\"java&#x09;script:alert(1)\" rel=\"noopener noreferrer\" target=\"_blank\">x</a>",
		"<a href=\"http://x.test/\">no rel</a>",
		"<img src=\"/relative\">",
		"<svg></svg>",
		"<p style=\"background: url(http://t.test/)\">x</p>",
		"<p style=\"color: red; position : fixed\">x</p>",
		"<p style=\"-moz-binding: x\">x</p>",
		"<x-foo>x</x-foo>",
		"<p class=\"a\">x</p>",
		"<template>x</template>",
		"<!-- c -->",
		"<noscript>x</noscript>",
	};
	const struct html_sanitize_opts o = { false, NULL, NULL };
	const char *good = "<p title=\"onerror=x\" style=\"padding: 2bindingpx\">"
			   "javascript:alert(1)</p>";
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (html_check_output(bad[i], strlen(bad[i]), why, sizeof(why)) == 0)
			fail_msg("checker passed %s", bad[i]);
	}
	assert_int_equal(html_check_output(good, strlen(good), why, sizeof(why)), 0);
	assert_int_equal(html_check_idempotent(good, strlen(good), &o, why,
					       sizeof(why)), 0);
	assert_int_equal(html_check_idempotent("<pre>\nx</pre>", 13, &o, why,
					       sizeof(why)), -1);
	assert_int_equal(html_check_idempotent("<b>x", 4, &o, why, sizeof(why)), -1);
}

#define ASSERT_TEXT(in, expected) do { \
	struct buf *o_ = buf_new(); \
	assert_int_equal(html_to_text(in, strlen(in), o_, NULL), 0); \
	assert_string_equal(buf_data(o_), expected); \
	buf_free(&o_); \
} while (0)

static void test_to_text(void **state)
{
	(void)state;
	ASSERT_TEXT("", "");
	ASSERT_TEXT("<html><head><title>T</title><style>p{}</style></head>"
		    "<body><h1>Title</h1><p>Hello   <b>big</b>\n world &amp; "
		    "caf&eacute;</p><script>alert(1)</script><p>Two</p></body>",
		    "Title\n\nHello big world & caf\xc3\xa9\n\nTwo");
	ASSERT_TEXT("a<br>b<br><br>c", "a\nb\n\nc");
	ASSERT_TEXT("<br><br>a<br>", "a\n");
	ASSERT_TEXT("<div>one</div><div>two</div>", "one\ntwo");
	ASSERT_TEXT("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>",
		    "a b\nc");
	ASSERT_TEXT("<ul><li>x</li><li>y</li></ul>after", "x\ny\n\nafter");
	ASSERT_TEXT("<pre>  keep\n  this</pre>", "  keep\n  this");
	ASSERT_TEXT("<p>a<noscript>n</noscript><svg><text>s</text></svg>b</p>", "ab");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_dropped_with_content),
		cmocka_unit_test(test_attributes),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_images),
		cmocka_unit_test(test_style),
		cmocka_unit_test(test_serializer_edges),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_reconstruction_blowup),
		cmocka_unit_test(test_to_text),
		cmocka_unit_test(test_checker_catches),
		cmocka_unit_test(test_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
