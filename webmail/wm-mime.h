/*
 * wm-mime - the webmail's reading of one message, without HTTP or store:
 * what GET .../messages/{uid} shows (headers decoded to UTF-8, the text
 * to show, the attachment list with IMAP part numbers), the sanitised
 * HTML document of .../html, and the decoded bytes of one part.  Kept
 * apart from wm-view.c so the fuzz target (tests/fuzz/fuzz_webmail_view.c)
 * runs the same code on arbitrary input.
 *
 * Which parts are "the body": the text/plain and text/html alternatives
 * of a multipart/alternative (the last of each kind wins, RFC 2046
 * 5.1.4), the root of a multipart/related, and in a multipart/mixed the
 * first part plus following inline text parts without a file name.
 * Every other leaf (and every message/rfc822 part, listed whole, not
 * descended into) is an attachment, numbered as IMAP numbers it
 * (mime_section_lookup gives back the same part).
 *
 * Ownership: a struct wm_msg borrows the message bytes, which must
 * outlive it.  Strings returned are malloc'd.  Thread-safe (no global
 * state).  Nothing here fails hard: junk gives some readable result.
 */
#ifndef POSTERN_WEBMAIL_WM_MIME_H
#define POSTERN_WEBMAIL_WM_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/error.h"
#include "mail/mime.h"

struct wm_msg;

/* Parse data[0..len) (a Maildir file: LF line ends). */
struct wm_msg *wm_msg_parse(const char *data, size_t len);
void wm_msg_free(struct wm_msg **m);
const struct mime_message *wm_msg_mime(const struct wm_msg *m);

/*
 * Add to obj the fields of docs/webmail-api.md "Message" that come from
 * the message itself: date (ISO 8601 UTC: the Date header, else
 * `fallback_date`), from, to, cc, reply_to, subject, message_id,
 * references, preview, text, has_html, remote_images, attachments,
 * has_attachments.  The caller adds uid, flags, folder, size, thread.
 */
void wm_msg_json(const struct wm_msg *m, time_t fallback_date, json_t *obj);

/* Only the fields of a list summary: date, from, to, subject, preview,
 * has_attachments. */
void wm_msg_summary_json(const struct wm_msg *m, time_t fallback_date,
			 json_t *obj);

/* How the HTML document links back to the server. */
struct wm_html_opts {
	bool images;		  /* remote images through /api/proxy */
	const char *parts_url;	  /* "/api/folders/F/messages/U/parts/" */
	const unsigned char *secret; /* HMAC key of the proxy URLs */
	size_t secret_len;
};

/*
 * The whole document for the iframe: doctype, charset, <base
 * target=_blank>, the sanitised HTML body (or the text part escaped in a
 * <pre> when the message has no HTML).  cid: images point to the part
 * with that Content-ID (parts_url + number + "?inline=1"); remote images
 * become /api/proxy URLs when opts->images, else are dropped and
 * counted in *blocked_r (may be NULL).  -1 only when the sanitiser
 * refuses the input (over its limits).
 */
int wm_msg_html(const struct wm_msg *m, const struct wm_html_opts *opts,
		struct buf *out, unsigned *blocked_r, struct error *err);

/* The part a "2.1" spec names (IMAP numbering), NULL when none or when
 * it is a multipart. */
const struct mime_part *wm_msg_part(const struct wm_msg *m, const char *spec);
/* Decoded bytes of a part (transfer encoding undone; message/rfc822:
 * the encapsulated message as it is). */
void wm_part_decode(const struct wm_msg *m, const struct mime_part *p,
		    struct buf *out);
/* A text part decoded and converted to UTF-8 (appended). */
void wm_part_text(const struct wm_msg *m, const struct mime_part *p,
		  struct buf *out);
/* The file name to offer for a part (UTF-8, no path separators or
 * controls; a made-up one from the number and type when it has none). */
char *wm_part_filename(const struct mime_part *p, const char *number);
/* The Content-Type to serve a part with (a static string): the part's
 * own for a short allow-list of types that run nothing in a browser
 * (images, pdf, plain text...), application/octet-stream for everything
 * else (html, xml, svg, javascript, unknown).  *to_utf8_r: a text type,
 * to be served converted to UTF-8 (mime_charset_to_utf8). */
const char *wm_part_serve_type(const struct mime_part *p, bool *to_utf8_r);

/* Image types a browser may show inline: png, gif, jpeg, webp.
 * ctype may carry parameters ("image/png; x=y"). */
bool wm_image_type_ok(const char *ctype);

/* Hex HMAC-SHA256 of url with the key (out: 65 bytes). */
void wm_proxy_sign(const unsigned char *secret, size_t secret_len,
		   const char *url, char out[65]);
/* Append s percent-encoded (everything but RFC 3986 unreserved). */
void wm_pct_encode(const char *s, struct buf *out);
/* RFC 6266 Content-Disposition value: `attachment` or `inline`, an ASCII
 * fallback filename and filename*=UTF-8''... */
char *wm_content_disposition(bool inline_, const char *filename);

#endif
