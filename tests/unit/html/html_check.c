/*
 * html_check - see html_check.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gumbo.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "html_check.h"

/* What a browser may build from our output: our allow-list, plus the
 * wrappers the parser implies. */
static const char *const ok_tags[] = {
	"html", "head", "body",
	"article", "section", "nav", "aside", "hgroup", "header", "footer",
	"address", "main", "h1", "h2", "h3", "h4", "h5", "h6", "p", "hr",
	"pre", "blockquote", "div", "center", "figure", "figcaption",
	"details", "summary", "fieldset", "legend", "ol", "ul", "li", "dl",
	"dt", "dd", "dir", "menu", "a", "em", "strong", "small", "s", "cite",
	"q", "dfn", "abbr", "acronym", "data", "time", "code", "var", "samp",
	"kbd", "sub", "sup", "i", "b", "u", "mark", "ruby", "rb", "rt", "rtc",
	"rp", "bdi", "bdo", "span", "br", "wbr", "ins", "del", "strike", "big",
	"tt", "font", "nobr", "label", "marquee", "img", "table", "caption",
	"colgroup", "col", "tbody", "thead", "tfoot", "tr", "td", "th", NULL,
};

static const char *const ok_attrs[] = {
	"href", "rel", "target", "src", "alt", "title", "lang", "dir", "align",
	"style", "width", "height", "border", "hspace", "vspace", "color",
	"face", "size", "cellpadding", "cellspacing", "bgcolor", "colspan",
	"rowspan", "valign", "nowrap", "span", "start", "type", "reversed",
	"value", "noshade", "open", NULL,
};

/* Anywhere in a style value. */
static const char *const bad_css[] = {
	"url(", "expression(", "\\", "/*", "@", "javascript:", "<", "image(",
	"attr(", "var(", "&", NULL,
};

/* As a property name. */
static const char *const bad_css_props[] = {
	"behavior", "-moz-binding", "position", "content", NULL,
};

struct check {
	char *why;
	size_t whylen;
	int failed;
};

static void fail(struct check *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct check *c, const char *fmt, ...)
{
	va_list ap;

	if (c->failed++)
		return;
	va_start(ap, fmt);
	vsnprintf(c->why, c->whylen, fmt, ap);
	va_end(ap);
}

static bool in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++) {
		if (strcmp(*list, s) == 0)
			return true;
	}
	return false;
}

/* The URL as a browser reads its scheme: no C0/space at the ends, no
 * tab/CR/LF inside, lower case. */
static char *url_norm(const char *u)
{
	size_t n = strlen(u), s = 0, o = 0;
	char *r = xmalloc(n + 1);

	while (s < n && (unsigned char)u[s] <= 0x20)
		s++;
	for (; s < n; s++) {
		char ch = u[s];

		if (ch == '\t' || ch == '\n' || ch == '\r')
			continue;
		r[o++] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
	}
	r[o] = '\0';
	return r;
}

static bool has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* Each "name: value" declaration (v is lower-cased). */
static void check_css_props(struct check *c, const char *tag, const char *v)
{
	while (*v != '\0') {
		size_t n;

		while (*v == ' ' || *v == ';')
			v++;
		n = strcspn(v, ":;");
		for (const char *const *b = bad_css_props; *b != NULL; b++) {
			size_t bn = strlen(*b);

			if (n >= bn && strncmp(v, *b, bn) == 0 &&
			    strspn(v + bn, " ") == n - bn)
				fail(c, "<%s> style property %s", tag, *b);
		}
		v += strcspn(v, ";");
	}
}

static void check_attr(struct check *c, const char *tag, const GumboAttribute *a)
{
	char *v;

	if (a->attr_namespace != GUMBO_ATTR_NAMESPACE_NONE)
		fail(c, "<%s> namespaced attribute %s", tag, a->name);
	if (strncasecmp(a->name, "on", 2) == 0)
		fail(c, "<%s> event handler %s", tag, a->name);
	if (!in_list(ok_attrs, a->name))
		fail(c, "<%s> attribute %s not allowed", tag, a->name);
	v = url_norm(a->value);
	if (strcmp(a->name, "href") == 0 &&
	    !(has_prefix(v, "http://") || has_prefix(v, "https://") ||
	      has_prefix(v, "mailto:")))
		fail(c, "<%s> href with a bad scheme: %s", tag, a->value);
	if (strcmp(a->name, "src") == 0 &&
	    !(has_prefix(v, "http://") || has_prefix(v, "https://") ||
	      has_prefix(v, "data:image/png;base64,") ||
	      has_prefix(v, "data:image/gif;base64,") ||
	      has_prefix(v, "data:image/jpeg;base64,") ||
	      has_prefix(v, "data:image/webp;base64,")))
		fail(c, "<%s> src with a bad scheme: %s", tag, a->value);
	if (strcmp(a->name, "style") == 0) {
		for (const char *const *b = bad_css; *b != NULL; b++) {
			if (strstr(v, *b) != NULL)
				fail(c, "<%s> style with %s: %s", tag, *b, a->value);
		}
		check_css_props(c, tag, v);
	}
	free(v);
}

static void check_node(struct check *c, const GumboNode *n, unsigned depth)
{
	const GumboVector *kids;

	if (depth > 5000) {
		fail(c, "output nested deeper than 5000");
		return;
	}
	switch (n->type) {
	case GUMBO_NODE_DOCUMENT:
		kids = &n->v.document.children;
		break;
	case GUMBO_NODE_ELEMENT: {
		const GumboElement *e = &n->v.element;
		const char *tag = gumbo_normalized_tagname(e->tag);

		if (e->tag_namespace != GUMBO_NAMESPACE_HTML)
			fail(c, "foreign element <%s>", tag);
		if (e->tag == GUMBO_TAG_UNKNOWN || !in_list(ok_tags, tag))
			fail(c, "element <%s> not allowed",
			     e->tag == GUMBO_TAG_UNKNOWN ? "unknown" : tag);
		if (e->tag == GUMBO_TAG_HEAD && e->children.length > 0)
			fail(c, "content in <head>");
		for (unsigned i = 0; i < e->attributes.length; i++)
			check_attr(c, tag, e->attributes.data[i]);
		if (e->tag == GUMBO_TAG_A &&
		    gumbo_get_attribute(&e->attributes, "href") != NULL) {
			const GumboAttribute *rel =
				gumbo_get_attribute(&e->attributes, "rel");
			const GumboAttribute *target =
				gumbo_get_attribute(&e->attributes, "target");

			if (rel == NULL ||
			    strcmp(rel->value, "noopener noreferrer") != 0 ||
			    target == NULL || strcmp(target->value, "_blank") != 0)
				fail(c, "link without rel=noopener noreferrer target=_blank");
		}
		kids = &e->children;
		break;
	}
	case GUMBO_NODE_TEMPLATE:
		fail(c, "template node");
		return;
	case GUMBO_NODE_CDATA:
		fail(c, "CDATA node");
		return;
	case GUMBO_NODE_COMMENT:
		fail(c, "comment node");
		return;
	default:
		return;
	}
	for (unsigned i = 0; i < kids->length; i++)
		check_node(c, kids->data[i], depth + 1);
}

int html_check_output(const char *html, size_t len, char *why, size_t whylen)
{
	struct check c = { why, whylen, 0 };
	GumboOutput *out;

	out = gumbo_parse_with_options(&kGumboDefaultOptions, html, len);
	check_node(&c, out->document, 0);
	gumbo_destroy_output(&kGumboDefaultOptions, out);
	return c.failed ? -1 : 0;
}

int html_check_idempotent(const char *html, size_t len,
			  const struct html_sanitize_opts *o, char *why,
			  size_t whylen)
{
	struct buf *again = buf_new();
	struct error err;
	int ret = 0;

	if (html_sanitize(html, len, o, again, NULL, &err) < 0) {
		snprintf(why, whylen, "second pass failed: %s", err.msg);
		ret = -1;
	} else if (buf_len(again) != len ||
		   memcmp(buf_data(again), html, len) != 0) {
		size_t i = 0;

		while (i < len && i < buf_len(again) && html[i] == buf_data(again)[i])
			i++;
		snprintf(why, whylen,
			 "not idempotent at byte %zu: first '%.60s' then '%.60s'",
			 i, html + i, buf_data(again) + i);
		ret = -1;
	}
	buf_free(&again);
	return ret;
}

char *html_check_rewrite(void *ctx, enum html_url_kind kind, const char *url)
{
	(void)ctx;
	switch (kind) {
	case HTML_URL_LINK:
		return xstrdup(url);
	case HTML_URL_IMAGE_CID:
		return xasprintf("https://proxy.test/cid/%s", url);
	case HTML_URL_IMAGE_REMOTE:
		if (has_prefix(url, "https://proxy.test/"))
			return xstrdup(url);
		return xasprintf("https://proxy.test/img/%s", url);
	}
	return NULL;
}
