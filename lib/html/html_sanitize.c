/*
 * html_sanitize - walk gumbo's tree, emit only what the policy allows.
 *
 * Why the output is safe even though browsers re-parse it: every element
 * we emit is an HTML-namespace element from the allow-list, none of which
 * changes the tokenizer state (no script, style, title, textarea, xmp,
 * iframe, noscript, plaintext, svg, math), text is escaped (& < >) and
 * attribute values are double-quoted with & " ' < > escaped.  So the
 * browser's tokens are exactly our tags; tree construction may only add
 * implied wrappers (tbody) or clones of our own formatting elements.
 *
 * Why it is a fixed point: we serialise a tree the HTML5 algorithm built,
 * with every end tag explicit, and replace unwanted elements by a span (an
 * "ordinary" element like all of them), so the parser's rules that look at
 * ancestors see the same thing again.  The rest is the serialiser's usual
 * care: the newline after <pre>, leading white space (the parser drops it
 * before <body>), and control characters (the parser
 * turns CR into LF, gumbo turns the others into U+FFFD).
 */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "html/html_parse.h"
#include "html/html_policy.h"
#include "html/html_sanitize.h"

struct san {
	const struct html_sanitize_opts *opts;
	struct html_sanitize_info *info;
	struct buf *out;
	struct buf *url;   /* scratch: cleaned URL */
	struct buf *style; /* scratch: filtered style */
	bool at_start;     /* nothing emitted yet */
	bool pre_start;    /* just after a <pre> start tag */
	bool verbatim;     /* a check pass over our own output: URLs stay */
};

static void emit_raw(struct san *s, const char *str)
{
	buf_append_str(s->out, str);
	s->at_start = false;
	s->pre_start = false;
}

/*
 * Escape for both text and double-quoted attribute values.  Besides the
 * markup characters, what the parser would not give back as it is: NUL
 * goes (the parser drops or replaces it), CR and the other C0 controls
 * and DEL become references (raw, the parser makes CR a LF and gumbo
 * makes controls U+FFFD), C1 controls become U+FFFD (a reference to them
 * means a windows-1252 character instead).
 */
static void escape(struct buf *out, const char *t)
{
	for (; *t != '\0'; t++) {
		unsigned char c = (unsigned char)*t;

		switch (c) {
		case '&': buf_append_str(out, "&amp;"); break;
		case '<': buf_append_str(out, "&lt;"); break;
		case '>': buf_append_str(out, "&gt;"); break;
		case '"': buf_append_str(out, "&quot;"); break;
		case '\'': buf_append_str(out, "&#39;"); break;
		case '\t': case '\n': case '\f': buf_append_char(out, *t); break;
		default:
			if (c < 0x20 || c == 0x7f) {
				buf_printf(out, "&#%u;", c);
			} else if (c == 0xc2 && (unsigned char)t[1] >= 0x80 &&
				   (unsigned char)t[1] <= 0x9f) {
				buf_append_str(out, "\xef\xbf\xbd");
				t++;
			} else {
				buf_append_char(out, *t);
			}
			break;
		}
	}
}

static bool is_html_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static void emit_text(struct san *s, const char *t)
{
	if (s->at_start) {
		/* The parser ignores white space before the body starts. */
		while (is_html_space(*t))
			t++;
		if (*t == '\0')
			return;
	}
	/* The parser eats one newline right after <pre>; give it one. */
	if (s->pre_start && t[0] == '\n')
		buf_append_char(s->out, '\n');
	escape(s->out, t);
	s->at_start = false;
	s->pre_start = false;
}

static void emit_attr(struct san *s, const char *name, const char *value)
{
	buf_append_char(s->out, ' ');
	buf_append_str(s->out, name);
	buf_append_str(s->out, "=\"");
	escape(s->out, value);
	buf_append_char(s->out, '"');
}

/* The src an img keeps, or NULL to drop the img (malloc'd). */
static char *img_src(struct san *s, const char *value)
{
	const struct html_sanitize_opts *o = s->opts;

	if (s->verbatim)
		return xstrdup(value);
	switch (html_policy_url(value, s->url)) {
	case HTML_URL_CID:
		if (o->rewrite == NULL)
			return NULL;
		return o->rewrite(o->ctx, HTML_URL_IMAGE_CID, buf_data(s->url) + 4);
	case HTML_URL_HTTP:
		if (!o->remote_images) {
			s->info->remote_images_blocked++;
			return NULL;
		}
		if (o->rewrite == NULL)
			return NULL;
		return o->rewrite(o->ctx, HTML_URL_IMAGE_REMOTE, buf_data(s->url));
	case HTML_URL_DATA_IMAGE:
		return xstrdup(buf_data(s->url));
	default:
		return NULL;
	}
}

static char *link_href(struct san *s, const char *value)
{
	const struct html_sanitize_opts *o = s->opts;

	if (s->verbatim)
		return xstrdup(value);
	switch (html_policy_url(value, s->url)) {
	case HTML_URL_HTTP:
	case HTML_URL_MAILTO:
		if (o->rewrite != NULL)
			return o->rewrite(o->ctx, HTML_URL_LINK, buf_data(s->url));
		return xstrdup(buf_data(s->url));
	default:
		return NULL;
	}
}

/* Emit <tag attrs>; false when the element goes after all (img without an
 * acceptable src). */
static bool emit_start(struct san *s, const GumboElement *e)
{
	const char *name = gumbo_normalized_tagname(e->tag);
	char *src = NULL, *href = NULL;

	if (e->tag == GUMBO_TAG_IMG) {
		const GumboAttribute *a = gumbo_get_attribute(&e->attributes, "src");

		if (a == NULL || (src = img_src(s, a->value)) == NULL)
			return false;
	}
	buf_append_char(s->out, '<');
	buf_append_str(s->out, name);
	if (src != NULL)
		emit_attr(s, "src", src);
	for (unsigned i = 0; i < e->attributes.length; i++) {
		const GumboAttribute *a = e->attributes.data[i];
		enum html_attr_kind kind;

		if (a->attr_namespace != GUMBO_ATTR_NAMESPACE_NONE ||
		    !html_policy_attr(e->tag, a->name, &kind))
			continue;
		switch (kind) {
		case HTML_ATTR_IMG:
			break; /* done above */
		case HTML_ATTR_URL:
			if (href == NULL && (href = link_href(s, a->value)) != NULL)
				emit_attr(s, a->name, href);
			break;
		case HTML_ATTR_STYLE:
			buf_reset(s->style);
			if (html_style_filter(a->value, s->style))
				emit_attr(s, a->name, buf_data(s->style));
			break;
		default:
			if (html_policy_value_ok(kind, a->value))
				emit_attr(s, a->name, a->value);
			break;
		}
	}
	/* Links open outside the webmail and tell the target nothing. */
	if (href != NULL)
		buf_append_str(s->out, " rel=\"noopener noreferrer\" target=\"_blank\"");
	buf_append_char(s->out, '>');
	s->at_start = false;
	s->pre_start = e->tag == GUMBO_TAG_PRE;
	free(src);
	free(href);
	return true;
}

/*
 * The parser can build <a> inside <a> (or <nobr> in <nobr>) through
 * reconstruction and adoption, but never parses that from markup: a
 * second <a> start tag closes the first one unless a table cell, caption
 * or marquee lies between.  Such an inner element goes out as a <span>
 * (the inner link is lost, the text stays).
 */
static bool nested_formatting(const GumboNode *n, GumboTag tag)
{
	for (const GumboNode *p = n->parent; p != NULL &&
	     p->type == GUMBO_NODE_ELEMENT; p = p->parent) {
		GumboTag t = p->v.element.tag;

		if (t == tag)
			return true;
		if (t == GUMBO_TAG_TD || t == GUMBO_TAG_TH ||
		    t == GUMBO_TAG_CAPTION || t == GUMBO_TAG_MARQUEE ||
		    (tag == GUMBO_TAG_NOBR && t == GUMBO_TAG_TABLE))
			return false;
	}
	return false;
}

static enum html_action node_action(const GumboNode *n)
{
	const GumboElement *e = &n->v.element;
	enum html_action act = html_policy_element(e);

	if (act == HTML_KEEP && (e->tag == GUMBO_TAG_A || e->tag == GUMBO_TAG_NOBR) &&
	    nested_formatting(n, e->tag))
		return HTML_AS_SPAN;
	return act;
}

static bool san_enter(void *ctx, const GumboNode *n, unsigned depth)
{
	struct san *s = ctx;

	(void)depth;
	switch (n->type) {
	case GUMBO_NODE_DOCUMENT:
		return true;
	case GUMBO_NODE_ELEMENT:
		break;
	case GUMBO_NODE_TEXT:
	case GUMBO_NODE_WHITESPACE:
		/* White space directly under <html> (around head and body)
		 * would land somewhere else when parsed again. */
		if (n->parent != NULL && n->parent->type == GUMBO_NODE_ELEMENT &&
		    n->parent->v.element.tag == GUMBO_TAG_HTML &&
		    n->type == GUMBO_NODE_WHITESPACE)
			return false;
		emit_text(s, n->v.text.text);
		return false;
	case GUMBO_NODE_TEMPLATE:
		s->info->elements_dropped++;
		return false;
	default: /* comments; CDATA only exists inside svg/math */
		return false;
	}
	const GumboElement *e = &n->v.element;
	switch (node_action(n)) {
	case HTML_UNWRAP:
		return true;
	case HTML_DROP:
		/* The <head> the parser adds is not the mail's doing. */
		if (!(n->parse_flags & GUMBO_INSERTION_BY_PARSER))
			s->info->elements_dropped++;
		return false;
	case HTML_AS_SPAN:
		s->info->elements_dropped++;
		emit_raw(s, "<span>");
		return true;
	case HTML_AS_PRE:
		s->info->elements_dropped++;
		emit_raw(s, "<pre>");
		s->pre_start = true;
		return true;
	case HTML_KEEP:
		if (!emit_start(s, e)) {
			s->info->elements_dropped++;
			return false;
		}
		return !html_policy_void(e->tag);
	}
	return false;
}

static void san_leave(void *ctx, const GumboNode *n)
{
	struct san *s = ctx;
	const GumboElement *e;

	if (n->type != GUMBO_NODE_ELEMENT)
		return;
	e = &n->v.element;
	switch (node_action(n)) {
	case HTML_AS_SPAN:
		emit_raw(s, "</span>");
		break;
	case HTML_AS_PRE:
		emit_raw(s, "</pre>");
		break;
	case HTML_KEEP:
		if (html_policy_void(e->tag))
			break;
		emit_raw(s, "</");
		buf_append_str(s->out, gumbo_normalized_tagname(e->tag));
		buf_append_char(s->out, '>');
		break;
	default:
		break;
	}
}

/* One parse and walk; output appended to out. */
static int sanitize_once(const char *in, size_t len,
			 const struct html_sanitize_opts *o, bool verbatim,
			 struct buf *out, struct html_sanitize_info *info,
			 struct error *err)
{
	struct html_doc doc;
	struct san s;

	if (html_parse(in, len, &doc, err) < 0) {
		html_doc_free(&doc);
		return -1;
	}
	memset(&s, 0, sizeof(s));
	s.opts = o;
	s.info = info;
	s.out = out;
	s.url = buf_new();
	s.style = buf_new();
	s.at_start = true;
	s.verbatim = verbatim;
	html_walk(doc.out->document, san_enter, san_leave, &s);
	buf_free(&s.url);
	buf_free(&s.style);
	html_doc_free(&doc);
	return 0;
}

/* The last resort, a fixed point by construction: the text in a <pre>. */
static int sanitize_as_text(const char *in, size_t len, struct buf *out,
			    struct error *err)
{
	struct buf *text = buf_new();
	struct san s;

	if (html_to_text(in, len, text, err) < 0) {
		buf_free(&text);
		return -1;
	}
	memset(&s, 0, sizeof(s));
	s.out = out;
	emit_raw(&s, "<pre>");
	s.pre_start = true;
	emit_text(&s, buf_data(text));
	emit_raw(&s, "</pre>");
	buf_free(&text);
	return 0;
}

/*
 * The walk is built to give a fixed point, but the tree the parser makes
 * from hostile markup can hold what no markup parses to (a <p> in a <p>,
 * put there by foster parenting out of a table).  So the output is parsed
 * and walked again (URLs as they are: they are ours now) until it comes
 * back unchanged; what is returned is always such a fixed point, which is
 * the property that defeats mutation XSS.  Real mail settles at once;
 * the loop is bounded and ends in plain text.
 */
#define SETTLE_ROUNDS 3

int html_sanitize(const char *in, size_t len, const struct html_sanitize_opts *o,
		  struct buf *out, struct html_sanitize_info *info,
		  struct error *err)
{
	static const struct html_sanitize_opts defaults;
	struct html_sanitize_info dummy;
	struct buf *cur = buf_new(), *next = buf_new();
	int ret = -1;

	if (info == NULL)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	if (o == NULL)
		o = &defaults;
	if (sanitize_once(in, len, o, false, cur, info, err) < 0)
		goto out;
	for (int round = 0; round < SETTLE_ROUNDS; round++) {
		struct html_sanitize_info ignored;
		struct buf *t;

		buf_reset(next);
		if (sanitize_once(buf_data(cur), buf_len(cur), o, true, next,
				  &ignored, err) < 0)
			break;
		if (buf_len(next) == buf_len(cur) &&
		    memcmp(buf_data(next), buf_data(cur), buf_len(cur)) == 0) {
			buf_append(out, buf_data(cur), buf_len(cur));
			ret = 0;
			goto out;
		}
		t = cur;
		cur = next;
		next = t;
	}
	ret = sanitize_as_text(in, len, out, err);
out:
	buf_free(&cur);
	buf_free(&next);
	return ret;
}
