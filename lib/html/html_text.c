/*
 * html_text - plain text of an HTML part, for previews, search and the
 * text view: what a reader sees, without markup.  White space collapses
 * outside <pre>; blocks start new lines, paragraphs leave a blank one;
 * table cells are separated by a space.  No text from script, style,
 * head, or embedded and form controls.
 */
#include <string.h>

#include "html/html_parse.h"
#include "html/html_policy.h"
#include "html/html_sanitize.h"

struct text {
	struct buf *out;
	unsigned newlines; /* line breaks owed before the next text */
	bool space;        /* a space owed before the next text */
	bool any;          /* some text written */
	unsigned pre;      /* inside this many <pre>-like elements */
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static void owe_newlines(struct text *t, unsigned n)
{
	if (t->newlines < n)
		t->newlines = n;
}

static void flush(struct text *t)
{
	if (t->any) {
		for (unsigned i = 0; i < t->newlines; i++)
			buf_append_char(t->out, '\n');
		if (t->newlines == 0 && t->space)
			buf_append_char(t->out, ' ');
	}
	t->newlines = 0;
	t->space = false;
}

static void add_text(struct text *t, const char *s)
{
	if (t->pre > 0) {
		if (*s == '\0')
			return;
		flush(t);
		buf_append_str(t->out, s);
		t->any = true;
		return;
	}
	for (; *s != '\0'; s++) {
		if (is_space(*s)) {
			t->space = true;
			continue;
		}
		flush(t);
		buf_append_char(t->out, *s);
		t->any = true;
	}
}

static bool skipped(GumboTag tag)
{
	switch (tag) {
	case GUMBO_TAG_HEAD: case GUMBO_TAG_TITLE: case GUMBO_TAG_SCRIPT:
	case GUMBO_TAG_STYLE: case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_TEMPLATE:
	case GUMBO_TAG_IFRAME: case GUMBO_TAG_OBJECT: case GUMBO_TAG_EMBED:
	case GUMBO_TAG_APPLET: case GUMBO_TAG_NOEMBED: case GUMBO_TAG_NOFRAMES:
	case GUMBO_TAG_FRAMESET: case GUMBO_TAG_SVG: case GUMBO_TAG_MATH:
	case GUMBO_TAG_SELECT: case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_DATALIST:
		return true;
	default:
		return false;
	}
}

static bool is_pre(GumboTag tag)
{
	return tag == GUMBO_TAG_PRE || tag == GUMBO_TAG_LISTING ||
	       tag == GUMBO_TAG_XMP || tag == GUMBO_TAG_PLAINTEXT;
}

/* Line breaks a block element owes before and after itself: 2 for
 * paragraph-like blocks, 1 for the others, 0 for inline elements. */
static unsigned block_lines(GumboTag tag)
{
	switch (tag) {
	case GUMBO_TAG_P: case GUMBO_TAG_H1: case GUMBO_TAG_H2:
	case GUMBO_TAG_H3: case GUMBO_TAG_H4: case GUMBO_TAG_H5:
	case GUMBO_TAG_H6: case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_PRE:
	case GUMBO_TAG_LISTING: case GUMBO_TAG_XMP: case GUMBO_TAG_PLAINTEXT:
	case GUMBO_TAG_TABLE: case GUMBO_TAG_UL: case GUMBO_TAG_OL:
	case GUMBO_TAG_DL: case GUMBO_TAG_HR:
		return 2;
	case GUMBO_TAG_DIV: case GUMBO_TAG_LI: case GUMBO_TAG_TR:
	case GUMBO_TAG_DT: case GUMBO_TAG_DD: case GUMBO_TAG_SECTION:
	case GUMBO_TAG_ARTICLE: case GUMBO_TAG_HEADER: case GUMBO_TAG_FOOTER:
	case GUMBO_TAG_ADDRESS: case GUMBO_TAG_CENTER: case GUMBO_TAG_FIGURE:
	case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_CAPTION: case GUMBO_TAG_MAIN:
	case GUMBO_TAG_NAV: case GUMBO_TAG_ASIDE: case GUMBO_TAG_FORM:
	case GUMBO_TAG_FIELDSET: case GUMBO_TAG_DETAILS: case GUMBO_TAG_SUMMARY:
	case GUMBO_TAG_LEGEND: case GUMBO_TAG_DIR: case GUMBO_TAG_MENU:
	case GUMBO_TAG_HGROUP: case GUMBO_TAG_TBODY: case GUMBO_TAG_THEAD:
	case GUMBO_TAG_TFOOT:
		return 1;
	default:
		return 0;
	}
}

static bool text_enter(void *ctx, const GumboNode *n, unsigned depth)
{
	struct text *t = ctx;
	const GumboElement *e;

	(void)depth;
	switch (n->type) {
	case GUMBO_NODE_DOCUMENT:
		return true;
	case GUMBO_NODE_TEXT:
	case GUMBO_NODE_WHITESPACE:
	case GUMBO_NODE_CDATA:
		add_text(t, n->v.text.text);
		return false;
	case GUMBO_NODE_ELEMENT:
		break;
	default:
		return false;
	}
	e = &n->v.element;
	if (e->tag_namespace != GUMBO_NAMESPACE_HTML || skipped(e->tag))
		return false;
	if (e->tag == GUMBO_TAG_BR) {
		if (t->any) { /* no blank lines before the text */
			flush(t);
			buf_append_char(t->out, '\n');
		}
		return false;
	}
	if (e->tag == GUMBO_TAG_TD || e->tag == GUMBO_TAG_TH)
		t->space = true;
	owe_newlines(t, block_lines(e->tag));
	if (is_pre(e->tag))
		t->pre++;
	return true;
}

static void text_leave(void *ctx, const GumboNode *n)
{
	struct text *t = ctx;
	const GumboElement *e;

	if (n->type != GUMBO_NODE_ELEMENT)
		return;
	e = &n->v.element;
	if (e->tag_namespace != GUMBO_NAMESPACE_HTML || skipped(e->tag) ||
	    e->tag == GUMBO_TAG_BR)
		return;
	if (is_pre(e->tag) && t->pre > 0)
		t->pre--;
	if (e->tag == GUMBO_TAG_TD || e->tag == GUMBO_TAG_TH)
		t->space = true;
	owe_newlines(t, block_lines(e->tag));
}

int html_to_text(const char *in, size_t len, struct buf *out, struct error *err)
{
	struct html_doc doc;
	struct text t;

	if (html_parse(in, len, &doc, err) < 0) {
		html_doc_free(&doc);
		return -1;
	}
	memset(&t, 0, sizeof(t));
	t.out = out;
	html_walk(doc.out->document, text_enter, text_leave, &t);
	html_doc_free(&doc);
	return 0;
}
