/*
 * html_policy - the allow-lists of the sanitiser (internal to lib/html).
 *
 * One table says what happens to each HTML element; a second what
 * attributes each kept element may carry; URL and style values are
 * checked here too.  docs/webmail-security.md explains every choice.
 */
#ifndef POSTERN_HTML_POLICY_H
#define POSTERN_HTML_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <gumbo.h>

#include "core/buf.h"

enum html_action {
	HTML_KEEP,       /* emitted with its allowed attributes */
	HTML_DROP,       /* removed with all its content */
	HTML_AS_SPAN,    /* unknown or unwanted ordinary element: <span> */
	HTML_AS_PRE,     /* xmp, listing, plaintext: their text in <pre> */
	HTML_UNWRAP,     /* html, body: only the content */
};

enum html_attr_kind {
	HTML_ATTR_TEXT,   /* any value, escaped */
	HTML_ATTR_URL,    /* a href: http, https, mailto */
	HTML_ATTR_IMG,    /* img src: cid, http, https, data:image */
	HTML_ATTR_STYLE,  /* property allow-list (html_style.c) */
	HTML_ATTR_LENGTH, /* digits, optional % or px */
	HTML_ATTR_COLOR,  /* #hex or a colour name */
};

/* What to do with an element (any namespace: non-HTML is dropped). */
enum html_action html_policy_element(const GumboElement *e);
/* Whether a tag (HTML namespace) is kept as is. */
bool html_policy_tag_allowed(GumboTag tag);
/* Void elements: no end tag, no content. */
bool html_policy_void(GumboTag tag);
/* Whether attribute `name` may stay on `tag`; its kind in *kind. */
bool html_policy_attr(GumboTag tag, const char *name,
		      enum html_attr_kind *kind);

enum html_url_class {
	HTML_URL_BAD,
	HTML_URL_HTTP,   /* http: or https: */
	HTML_URL_MAILTO,
	HTML_URL_CID,
	HTML_URL_DATA_IMAGE, /* data:image/(png|gif|jpeg|webp);base64,... */
};
/*
 * Classify an (entity-decoded) URL the way a browser reads its scheme:
 * leading and trailing C0 controls and spaces are stripped, tab/CR/LF
 * removed anywhere.  The cleaned URL goes to `clean` (reset first).
 * Relative URLs are HTML_URL_BAD: a mail has no base, and relative to the
 * webmail they would point at our own API.
 */
enum html_url_class html_policy_url(const char *url, struct buf *clean);

/* Keep only allowed style declarations, normalised ("a:b;c:d");
 * appended to out, false when nothing is left. */
bool html_style_filter(const char *style, struct buf *out);

/* Value checks for the simple attribute kinds. */
bool html_policy_value_ok(enum html_attr_kind kind, const char *value);

#endif
