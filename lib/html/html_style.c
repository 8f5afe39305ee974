/*
 * html_style - the style="" property allow-list.
 *
 * Newsletters are laid out with inline styles, so dropping them all makes
 * most HTML mail unreadable; a small allow-list keeps the look.  Values
 * are checked by character class, not parsed as CSS: no url(), no
 * backslash escapes, no comments, no at-rules, no expression() or other
 * functions than rgb/rgba/hsl/hsla, quotes only in font names.  What
 * remains cannot load anything or run anything; position is not allowed,
 * so a mail cannot overlay the webmail (the iframe sandbox bounds it too).
 * Declarations are re-emitted normalised, "name: value; name: value", so
 * the output is a fixed point.
 */
#include <string.h>
#include <strings.h>

#include "html/html_policy.h"

#define STYLE_VALUE_MAX 256

static const char *const allowed_props[] = {
	"color", "background-color",
	"font", "font-family", "font-size", "font-weight", "font-style",
	"font-variant",
	"text-align", "text-decoration", "text-indent", "text-transform",
	"letter-spacing", "word-spacing", "line-height", "vertical-align",
	"white-space", "direction", "list-style-type",
	"margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
	"padding", "padding-top", "padding-right", "padding-bottom",
	"padding-left",
	"border", "border-top", "border-right", "border-bottom", "border-left",
	"border-width", "border-style", "border-color", "border-collapse",
	"border-spacing", "border-radius",
	"width", "height", "max-width", "min-width", "max-height", "min-height",
	NULL,
};

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool is_css_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static bool prop_allowed(const char *name, size_t n)
{
	for (const char *const *p = allowed_props; *p != NULL; p++) {
		if (strlen(*p) == n && strncasecmp(*p, name, n) == 0)
			return true;
	}
	return false;
}

static bool function_ok(const char *v, size_t open)
{
	static const char *const fns[] = { "rgb", "rgba", "hsl", "hsla", NULL };
	size_t start = open;

	while (start > 0 && is_alnum(v[start - 1]))
		start--;
	for (const char *const *f = fns; *f != NULL; f++) {
		if (strlen(*f) == open - start &&
		    strncasecmp(*f, v + start, open - start) == 0)
			return true;
	}
	return false;
}

/* v is already whitespace-normalised (single spaces, trimmed). */
static bool value_ok(const char *v, size_t n, bool quotes_ok)
{
	size_t i = 0;

	if (n == 0 || n > STYLE_VALUE_MAX)
		return false;
	while (i < n) {
		char c = v[i];

		if (is_alnum(c) || c == ' ' || c == '#' || c == '%' ||
		    c == '.' || c == ',' || c == '-' || c == '+') {
			i++;
		} else if (c == '!') {
			i++;
			while (i < n && v[i] == ' ')
				i++;
			return n - i == 9 && strncasecmp(v + i, "important", 9) == 0;
		} else if ((c == '\'' || c == '"') && quotes_ok) {
			for (i++; i < n && v[i] != c; i++) {
				if (!is_alnum(v[i]) && v[i] != ' ' && v[i] != '-' &&
				    v[i] != '_')
					return false;
			}
			if (i == n)
				return false;
			i++;
		} else if (c == '(' && function_ok(v, i)) {
			for (i++; i < n && v[i] != ')'; i++) {
				if (!(v[i] >= '0' && v[i] <= '9') && v[i] != '.' &&
				    v[i] != ',' && v[i] != '%' && v[i] != ' ' &&
				    v[i] != '-')
					return false;
			}
			if (i == n)
				return false;
			i++;
		} else {
			return false;
		}
	}
	return true;
}

bool html_style_filter(const char *style, struct buf *out)
{
	const char *p = style;
	bool any = false;

	while (*p != '\0') {
		const char *decl = p, *end = strchr(p, ';'), *colon;
		char value[STYLE_VALUE_MAX + 2];
		size_t vn = 0, nlen;
		const char *name;

		if (end == NULL)
			end = p + strlen(p);
		p = *end == ';' ? end + 1 : end;
		colon = memchr(decl, ':', (size_t)(end - decl));
		if (colon == NULL)
			continue;
		name = decl;
		while (name < colon && is_css_space(*name))
			name++;
		nlen = (size_t)(colon - name);
		while (nlen > 0 && is_css_space(name[nlen - 1]))
			nlen--;
		if (!prop_allowed(name, nlen))
			continue;
		/* Collapse white space, trim; too long is refused. */
		for (const char *v = colon + 1; v < end; v++) {
			bool sp = is_css_space(*v);

			if (sp && (vn == 0 || value[vn - 1] == ' '))
				continue;
			if (vn > STYLE_VALUE_MAX)
				break;
			value[vn++] = sp ? ' ' : *v;
		}
		while (vn > 0 && value[vn - 1] == ' ')
			vn--;
		value[vn] = '\0';
		if (!value_ok(value, vn, strncasecmp(name, "font", 4) == 0))
			continue;
		if (any)
			buf_append_str(out, "; ");
		for (size_t i = 0; i < nlen; i++) {
			char c = name[i];

			buf_append_char(out, c >= 'A' && c <= 'Z' ? (char)(c + 32) : c);
		}
		buf_append_str(out, ": ");
		buf_append(out, value, vn);
		any = true;
	}
	return any;
}
