/*
 * html_sanitize - make HTML mail safe to show in the webmail.
 *
 * The input is parsed with gumbo (the HTML5 tree construction algorithm, so
 * we see the tree a browser would build), then walked and serialised by our
 * own escaper, keeping only allow-listed elements, attributes, URL schemes
 * and style properties (docs/webmail-security.md lists them and says why).
 * script, style, iframe, svg, math, form and friends go with their
 * content; unknown elements are replaced by a neutral <span> so the
 * text stays.  The output is a fragment for a <body> that gives the same
 * tree when parsed again, and sanitising it again gives it back unchanged
 * (it is parsed again before it is returned, to make sure).
 *
 * Output is appended to the caller's buf.  No global state: safe to call
 * from any thread.  Errors: -1 with ERR_PERM only for input over the
 * limits (HTML_MAX_INPUT bytes, HTML_MAX_DEPTH nesting, parser memory
 * and CPU time: about 2 s, where real mail takes milliseconds);
 * bad markup never fails, gumbo recovers as browsers do.
 */
#ifndef POSTERN_HTML_SANITIZE_H
#define POSTERN_HTML_SANITIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"

/* Bigger HTML parts are refused (Gmail clips at 102 KB; newsletters are
 * well under this). */
#define HTML_MAX_INPUT (4u * 1024 * 1024)
/* Deeper trees are refused: no mail needs it and browsers flatten at 512. */
#define HTML_MAX_DEPTH 1024

struct html_url_ctx; /* caller's */

/*
 * Rewrite an allowed URL: return a malloc'd replacement or NULL to drop it.
 * kind: HTML_URL_LINK (a href: http, https, mailto only),
 * HTML_URL_IMAGE_CID (img src="cid:X": X given without "cid:"),
 * HTML_URL_IMAGE_REMOTE (img src http/https).
 */
enum html_url_kind { HTML_URL_LINK, HTML_URL_IMAGE_CID, HTML_URL_IMAGE_REMOTE };
typedef char *html_url_fn(void *ctx, enum html_url_kind kind, const char *url);

struct html_sanitize_opts {
	bool remote_images;   /* false: remote <img> dropped (counted) */
	html_url_fn *rewrite; /* NULL: links kept as is, cid/remote images dropped */
	void *ctx;
};

struct html_sanitize_info {
	unsigned remote_images_blocked;
	unsigned elements_dropped;
};

/*
 * Sanitise an HTML document or fragment (UTF-8; the caller converts
 * charsets) into a safe fragment for <body>; appended to out.  Never fails
 * on bad markup (gumbo recovers); -1 only for input over limits (size,
 * depth: err ERR_PERM).  info may be NULL; it is zeroed first.
 */
int html_sanitize(const char *in, size_t len, const struct html_sanitize_opts *o,
		  struct buf *out, struct html_sanitize_info *info,
		  struct error *err);

/* Plain text of an HTML document (block elements -> newlines, entities
 * decoded, no script/style text); appended to out.  Same limits. */
int html_to_text(const char *in, size_t len, struct buf *out, struct error *err);

#endif
