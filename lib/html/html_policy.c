/*
 * html_policy - element and attribute allow-lists, URL and value checks.
 *
 * Keep in step with docs/webmail-security.md.  An element missing from
 * both lists becomes a <span>: every such element is "ordinary" in the
 * HTML5 parsing algorithm, as span is, so the tree around it parses the
 * same again (which the idempotence tests check).
 */
#include <string.h>
#include <strings.h>

#include "html/html_policy.h"

static bool is_ascii_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_ascii_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool html_policy_tag_allowed(GumboTag tag)
{
	switch (tag) {
	/* sections and grouping */
	case GUMBO_TAG_ARTICLE: case GUMBO_TAG_SECTION: case GUMBO_TAG_NAV:
	case GUMBO_TAG_ASIDE: case GUMBO_TAG_HGROUP: case GUMBO_TAG_HEADER:
	case GUMBO_TAG_FOOTER: case GUMBO_TAG_ADDRESS: case GUMBO_TAG_MAIN:
	case GUMBO_TAG_H1: case GUMBO_TAG_H2: case GUMBO_TAG_H3:
	case GUMBO_TAG_H4: case GUMBO_TAG_H5: case GUMBO_TAG_H6:
	case GUMBO_TAG_P: case GUMBO_TAG_HR: case GUMBO_TAG_PRE:
	case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_DIV: case GUMBO_TAG_CENTER:
	case GUMBO_TAG_FIGURE: case GUMBO_TAG_FIGCAPTION:
	case GUMBO_TAG_DETAILS: case GUMBO_TAG_SUMMARY:
	case GUMBO_TAG_FIELDSET: case GUMBO_TAG_LEGEND:
	/* lists */
	case GUMBO_TAG_OL: case GUMBO_TAG_UL: case GUMBO_TAG_LI:
	case GUMBO_TAG_DL: case GUMBO_TAG_DT: case GUMBO_TAG_DD:
	case GUMBO_TAG_DIR: case GUMBO_TAG_MENU:
	/* text level */
	case GUMBO_TAG_A: case GUMBO_TAG_EM: case GUMBO_TAG_STRONG:
	case GUMBO_TAG_SMALL: case GUMBO_TAG_S: case GUMBO_TAG_CITE:
	case GUMBO_TAG_Q: case GUMBO_TAG_DFN: case GUMBO_TAG_ABBR:
	case GUMBO_TAG_ACRONYM: case GUMBO_TAG_DATA: case GUMBO_TAG_TIME:
	case GUMBO_TAG_CODE: case GUMBO_TAG_VAR: case GUMBO_TAG_SAMP:
	case GUMBO_TAG_KBD: case GUMBO_TAG_SUB: case GUMBO_TAG_SUP:
	case GUMBO_TAG_I: case GUMBO_TAG_B: case GUMBO_TAG_U:
	case GUMBO_TAG_MARK: case GUMBO_TAG_RUBY: case GUMBO_TAG_RB:
	case GUMBO_TAG_RT: case GUMBO_TAG_RTC: case GUMBO_TAG_RP:
	case GUMBO_TAG_BDI: case GUMBO_TAG_BDO: case GUMBO_TAG_SPAN:
	case GUMBO_TAG_BR: case GUMBO_TAG_WBR: case GUMBO_TAG_INS:
	case GUMBO_TAG_DEL: case GUMBO_TAG_STRIKE: case GUMBO_TAG_BIG:
	case GUMBO_TAG_TT: case GUMBO_TAG_FONT: case GUMBO_TAG_NOBR:
	case GUMBO_TAG_LABEL: case GUMBO_TAG_MARQUEE:
	case GUMBO_TAG_IMG:
	/* tables */
	case GUMBO_TAG_TABLE: case GUMBO_TAG_CAPTION: case GUMBO_TAG_COLGROUP:
	case GUMBO_TAG_COL: case GUMBO_TAG_TBODY: case GUMBO_TAG_THEAD:
	case GUMBO_TAG_TFOOT: case GUMBO_TAG_TR: case GUMBO_TAG_TD:
	case GUMBO_TAG_TH:
		return true;
	default:
		return false;
	}
}

/* Dropped with everything inside: active content, embedded documents,
 * forms, head metadata, and elements whose content is raw text. */
static bool tag_dropped(GumboTag tag)
{
	switch (tag) {
	case GUMBO_TAG_HEAD: case GUMBO_TAG_TITLE: case GUMBO_TAG_BASE:
	case GUMBO_TAG_LINK: case GUMBO_TAG_META: case GUMBO_TAG_STYLE:
	case GUMBO_TAG_SCRIPT: case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_TEMPLATE:
	case GUMBO_TAG_IFRAME: case GUMBO_TAG_EMBED: case GUMBO_TAG_OBJECT:
	case GUMBO_TAG_PARAM: case GUMBO_TAG_APPLET: case GUMBO_TAG_VIDEO:
	case GUMBO_TAG_AUDIO: case GUMBO_TAG_SOURCE: case GUMBO_TAG_TRACK:
	case GUMBO_TAG_CANVAS: case GUMBO_TAG_MAP: case GUMBO_TAG_AREA:
	case GUMBO_TAG_MATH: case GUMBO_TAG_SVG: case GUMBO_TAG_IMAGE:
	case GUMBO_TAG_FORM: case GUMBO_TAG_INPUT: case GUMBO_TAG_BUTTON:
	case GUMBO_TAG_SELECT: case GUMBO_TAG_DATALIST: case GUMBO_TAG_OPTGROUP:
	case GUMBO_TAG_OPTION: case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_KEYGEN:
	case GUMBO_TAG_ISINDEX: case GUMBO_TAG_MENUITEM:
	case GUMBO_TAG_FRAME: case GUMBO_TAG_FRAMESET: case GUMBO_TAG_NOFRAMES:
	case GUMBO_TAG_NOEMBED: case GUMBO_TAG_BGSOUND: case GUMBO_TAG_BASEFONT:
		return true;
	default:
		return false;
	}
}

enum html_action html_policy_element(const GumboElement *e)
{
	/* SVG and MathML carry their own script and URL attributes and
	 * switch the parser's rules (the usual mXSS vehicle): none of it. */
	if (e->tag_namespace != GUMBO_NAMESPACE_HTML)
		return HTML_DROP;
	if (e->tag == GUMBO_TAG_HTML || e->tag == GUMBO_TAG_BODY)
		return HTML_UNWRAP;
	if (html_policy_tag_allowed(e->tag))
		return HTML_KEEP;
	if (tag_dropped(e->tag))
		return HTML_DROP;
	switch (e->tag) {
	case GUMBO_TAG_XMP: case GUMBO_TAG_LISTING: case GUMBO_TAG_PLAINTEXT:
		return HTML_AS_PRE;
	default:
		return HTML_AS_SPAN;
	}
}

bool html_policy_void(GumboTag tag)
{
	return tag == GUMBO_TAG_BR || tag == GUMBO_TAG_WBR ||
	       tag == GUMBO_TAG_HR || tag == GUMBO_TAG_IMG ||
	       tag == GUMBO_TAG_COL;
}

struct attr_rule {
	const char *name;
	enum html_attr_kind kind;
};

static const struct attr_rule global_attrs[] = {
	{ "title", HTML_ATTR_TEXT }, { "lang", HTML_ATTR_TEXT },
	{ "dir", HTML_ATTR_TEXT },   { "align", HTML_ATTR_TEXT },
	{ "style", HTML_ATTR_STYLE }, { NULL, 0 },
};
static const struct attr_rule a_attrs[] = {
	{ "href", HTML_ATTR_URL }, { NULL, 0 },
};
static const struct attr_rule img_attrs[] = {
	{ "src", HTML_ATTR_IMG },       { "alt", HTML_ATTR_TEXT },
	{ "width", HTML_ATTR_LENGTH },  { "height", HTML_ATTR_LENGTH },
	{ "border", HTML_ATTR_LENGTH }, { "hspace", HTML_ATTR_LENGTH },
	{ "vspace", HTML_ATTR_LENGTH }, { NULL, 0 },
};
static const struct attr_rule font_attrs[] = {
	{ "color", HTML_ATTR_COLOR }, { "face", HTML_ATTR_TEXT },
	{ "size", HTML_ATTR_TEXT },   { NULL, 0 },
};
static const struct attr_rule table_attrs[] = {
	{ "width", HTML_ATTR_LENGTH },       { "height", HTML_ATTR_LENGTH },
	{ "border", HTML_ATTR_LENGTH },      { "cellpadding", HTML_ATTR_LENGTH },
	{ "cellspacing", HTML_ATTR_LENGTH }, { "bgcolor", HTML_ATTR_COLOR },
	{ NULL, 0 },
};
static const struct attr_rule cell_attrs[] = {
	{ "width", HTML_ATTR_LENGTH },   { "height", HTML_ATTR_LENGTH },
	{ "colspan", HTML_ATTR_LENGTH }, { "rowspan", HTML_ATTR_LENGTH },
	{ "valign", HTML_ATTR_TEXT },    { "bgcolor", HTML_ATTR_COLOR },
	{ "nowrap", HTML_ATTR_TEXT },    { NULL, 0 },
};
static const struct attr_rule row_attrs[] = {
	{ "valign", HTML_ATTR_TEXT },    { "bgcolor", HTML_ATTR_COLOR },
	{ "height", HTML_ATTR_LENGTH },  { NULL, 0 },
};
static const struct attr_rule col_attrs[] = {
	{ "span", HTML_ATTR_LENGTH },  { "width", HTML_ATTR_LENGTH },
	{ "valign", HTML_ATTR_TEXT },  { NULL, 0 },
};
static const struct attr_rule ol_attrs[] = {
	{ "start", HTML_ATTR_TEXT }, { "type", HTML_ATTR_TEXT },
	{ "reversed", HTML_ATTR_TEXT }, { NULL, 0 },
};
static const struct attr_rule li_attrs[] = {
	{ "value", HTML_ATTR_TEXT }, { "type", HTML_ATTR_TEXT }, { NULL, 0 },
};
static const struct attr_rule hr_attrs[] = {
	{ "width", HTML_ATTR_LENGTH }, { "size", HTML_ATTR_LENGTH },
	{ "noshade", HTML_ATTR_TEXT }, { "color", HTML_ATTR_COLOR },
	{ NULL, 0 },
};
/* type="cite" is how mail clients mark quoted replies. */
static const struct attr_rule quote_attrs[] = {
	{ "type", HTML_ATTR_TEXT }, { NULL, 0 },
};
static const struct attr_rule details_attrs[] = {
	{ "open", HTML_ATTR_TEXT }, { NULL, 0 },
};

static const struct attr_rule *tag_attrs(GumboTag tag)
{
	switch (tag) {
	case GUMBO_TAG_A: return a_attrs;
	case GUMBO_TAG_IMG: return img_attrs;
	case GUMBO_TAG_FONT: return font_attrs;
	case GUMBO_TAG_TABLE: return table_attrs;
	case GUMBO_TAG_TD: case GUMBO_TAG_TH: return cell_attrs;
	case GUMBO_TAG_TR: case GUMBO_TAG_TBODY: case GUMBO_TAG_THEAD:
	case GUMBO_TAG_TFOOT: return row_attrs;
	case GUMBO_TAG_COL: case GUMBO_TAG_COLGROUP: return col_attrs;
	case GUMBO_TAG_OL: return ol_attrs;
	case GUMBO_TAG_UL: case GUMBO_TAG_LI: return li_attrs;
	case GUMBO_TAG_HR: return hr_attrs;
	case GUMBO_TAG_BLOCKQUOTE: return quote_attrs;
	case GUMBO_TAG_DETAILS: return details_attrs;
	default: return NULL;
	}
}

static bool rule_find(const struct attr_rule *r, const char *name,
		      enum html_attr_kind *kind)
{
	for (; r != NULL && r->name != NULL; r++) {
		if (strcmp(r->name, name) == 0) {
			*kind = r->kind;
			return true;
		}
	}
	return false;
}

bool html_policy_attr(GumboTag tag, const char *name,
		      enum html_attr_kind *kind)
{
	/* gumbo lower-cases attribute names; anything else is not ours. */
	return rule_find(tag_attrs(tag), name, kind) ||
	       rule_find(global_attrs, name, kind);
}

/* 600, 100%, 12px, 1.5 */
static bool length_ok(const char *v)
{
	size_t i = 0, digits = 0;

	while (v[i] == ' ')
		i++;
	while (is_ascii_digit(v[i])) {
		i++;
		digits++;
	}
	if (v[i] == '.') {
		i++;
		while (is_ascii_digit(v[i]))
			i++;
	}
	if (v[i] == '%')
		i++;
	else if (strncmp(v + i, "px", 2) == 0)
		i += 2;
	while (v[i] == ' ')
		i++;
	return digits > 0 && digits <= 8 && v[i] == '\0';
}

/* #fff, #ffcc00, red, and the bare hex of old HTML (ffcc00) */
static bool color_ok(const char *v)
{
	size_t i = v[0] == '#' ? 1 : 0, n = 0;

	for (; v[i] != '\0'; i++, n++) {
		if (!is_ascii_alpha(v[i]) && !is_ascii_digit(v[i]))
			return false;
	}
	return n > 0 && n <= 20;
}

bool html_policy_value_ok(enum html_attr_kind kind, const char *value)
{
	switch (kind) {
	case HTML_ATTR_LENGTH:
		return length_ok(value);
	case HTML_ATTR_COLOR:
		return color_ok(value);
	default:
		return true;
	}
}

static bool base64_ok(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!is_ascii_alpha(*s) && !is_ascii_digit(*s) && *s != '+' &&
		    *s != '/' && *s != '=')
			return false;
	}
	return true;
}

static bool data_image_ok(const char *rest)
{
	static const char *const types[] = { "png", "gif", "jpeg", "webp" };

	if (strncasecmp(rest, "image/", 6) != 0)
		return false;
	rest += 6;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t n = strlen(types[i]);

		if (strncasecmp(rest, types[i], n) == 0 &&
		    strncasecmp(rest + n, ";base64,", 8) == 0)
			return base64_ok(rest + n + 8);
	}
	return false;
}

enum html_url_class html_policy_url(const char *url, struct buf *clean)
{
	const unsigned char *s = (const unsigned char *)url;
	size_t start = 0, end = strlen(url), i;
	const char *c;

	/* WHATWG URL parsing: strip leading/trailing C0 control or space,
	 * remove ASCII tab or newline anywhere; "java\tscript:" is
	 * javascript: to a browser. */
	while (start < end && s[start] <= 0x20)
		start++;
	while (end > start && s[end - 1] <= 0x20)
		end--;
	buf_reset(clean);
	for (i = start; i < end; i++) {
		if (s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			buf_append_char(clean, (char)s[i]);
	}
	c = buf_data(clean);
	/* A scheme is alpha *(alpha / digit / + / - / .) ":"; anything else
	 * is relative, which a mail cannot use. */
	if (!is_ascii_alpha(c[0]))
		return HTML_URL_BAD;
	for (i = 1; is_ascii_alpha(c[i]) || is_ascii_digit(c[i]) ||
		    c[i] == '+' || c[i] == '-' || c[i] == '.'; i++)
		;
	if (c[i] != ':')
		return HTML_URL_BAD;
	if (i == 4 && strncasecmp(c, "http", 4) == 0)
		return strncmp(c + 5, "//", 2) == 0 ? HTML_URL_HTTP : HTML_URL_BAD;
	if (i == 5 && strncasecmp(c, "https", 5) == 0)
		return strncmp(c + 6, "//", 2) == 0 ? HTML_URL_HTTP : HTML_URL_BAD;
	if (i == 6 && strncasecmp(c, "mailto", 6) == 0)
		return HTML_URL_MAILTO;
	if (i == 3 && strncasecmp(c, "cid", 3) == 0)
		return c[4] != '\0' ? HTML_URL_CID : HTML_URL_BAD;
	if (i == 4 && strncasecmp(c, "data", 4) == 0)
		return data_image_ok(c + 5) ? HTML_URL_DATA_IMAGE : HTML_URL_BAD;
	return HTML_URL_BAD;
}
