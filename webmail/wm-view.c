/*
 * wm-view - reading one message: GET .../messages/{uid} (JSON), /html
 * (the sanitised document for the sandboxed iframe), /parts/{part}
 * (attachments, inline images), /raw ("show original"), and the image
 * proxy GET /api/proxy (docs/webmail-api.md).
 *
 * Every route reads only the session's own store through its mindex
 * handle: a folder id is a name inside that store (wm_folder_arg:
 * store_folder_valid, then it must exist there), a UID not in the folder
 * is 404.  The MIME work is in wm-mime.c.  The proxy fetches with
 * libcurl on the worker thread (at most 10 s), http/https only, never
 * from private or loopback addresses (unless
 * webmail_image_proxy_private), and relays only image answers.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "mindex/mindex.h"
#include "store/store.h"
#include "wm-core.h"
#include "wm-mime.h"
#include "wm-summary.h"
#include "wm-view.h"
#include "wm.h"

#define HTML_CSP                                                               \
	"default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; " \
	"sandbox allow-popups allow-popups-to-escape-sandbox allow-same-origin"
#define PART_CSP "default-src 'none'; sandbox"
#define PROXY_MAX_BYTES (5 * 1024 * 1024)
#define PROXY_TIMEOUT_MS 10000L

/* ---- opening a message of the session's store ---- */

struct view {
	struct mindex_folder *f;
	uint32_t seq;
	const struct mindex_msg *msg;
	char *data;
	size_t len;
	bool mapped;
};

static bool parse_uid(const char *s, uint32_t *uid_r)
{
	unsigned long long v;

	if (s == NULL || s[0] == '\0' || strspn(s, "0123456789") != strlen(s) ||
	    strlen(s) > 10 || !str_to_u64(s, &v) || v == 0 || v > UINT32_MAX)
		return false;
	*uid_r = (uint32_t)v;
	return true;
}

static void view_close(struct view *v)
{
	if (v->mapped)
		munmap(v->data, v->len);
	v->mapped = false;
	v->data = NULL;
	mindex_folder_close(&v->f);
}

int wm_view_open_folder(struct wm_req *r, const char *id, bool rw,
			struct mindex_folder **f_r)
{
	struct error err = {0};
	char *name;

	*f_r = NULL;
	if (r->session == NULL || r->session->mu == NULL) {
		wm_error(r, 401, "login_required", "log in first");
		return -1;
	}
	/* Only names inside the session's own store (wm-folders.c). */
	name = wm_folder_arg(r, id);
	if (name == NULL)
		return -1;
	*f_r = mindex_folder_open(r->session->mu, name, !rw, &err);
	free(name);
	if (*f_r == NULL) {
		if (err.kind != ERR_TEMP)
			wm_error(r, 404, "not_found", "no such folder");
		else
			wm_fail(r, &err);
		return -1;
	}
	return 0;
}

/* The folder args[0], message args[1]: mapped into v.  false after
 * answering the error. */
static bool view_open(struct wm_req *r, bool rw, struct view *v)
{
	struct error err = {0};
	struct stat st;
	uint32_t uid;
	int fd = -1, ret;

	memset(v, 0, sizeof(*v));
	if (r->nargs < 2 || !parse_uid(r->args[1], &uid)) {
		wm_error(r, 404, "not_found", "no such message");
		return false;
	}
	if (wm_view_open_folder(r, r->args[0], rw, &v->f) < 0)
		return false;
	v->seq = mindex_seq_of_uid(v->f, uid);
	v->msg = v->seq != 0 ? mindex_msg(v->f, v->seq) : NULL;
	if (v->msg == NULL || v->msg->expunged) {
		wm_error(r, 404, "not_found", "no such message");
		goto fail;
	}
	ret = mindex_msg_open(v->f, v->seq, &fd, &err);
	if (ret <= 0) {
		if (ret == 0)
			wm_error(r, 404, "not_found", "no such message");
		else
			wm_fail(r, &err);
		goto fail;
	}
	if (fstat(fd, &st) < 0) {
		error_set(&err, ERR_TEMP, "fstat: %s", strerror(errno));
		wm_fail(r, &err);
		goto fail;
	}
	v->len = (size_t)st.st_size;
	if (v->len == 0) {
		v->data = (char *)"";
	} else {
		v->data = mmap(NULL, v->len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (v->data == MAP_FAILED) {
			v->data = NULL;
			error_set(&err, ERR_TEMP, "mmap: %s", strerror(errno));
			wm_fail(r, &err);
			goto fail;
		}
		v->mapped = true;
	}
	close(fd);
	return true;
fail:
	if (fd >= 0)
		close(fd);
	view_close(v);
	return false;
}

/* ---- GET /api/folders/{folder}/messages/{uid} ---- */

static void get_message(struct wm_req *r)
{
	bool mark = wm_query_int(r, "mark_seen", 1, 0, 1) == 1;
	struct view v;
	struct error err = {0};

	if (!view_open(r, mark, &v))
		return;
	uint32_t flags = v.msg->flags;
	if (mark && !(flags & STORE_FLAG_SEEN)) {
		enum mindex_store_result res;
		uint32_t seq = v.seq;
		/* The mapping stays valid: the file is renamed, not changed. */
		if (mindex_store_flags(v.f, &seq, 1, MINDEX_FLAGS_ADD,
				       STORE_FLAG_SEEN, 0, 0, &res, &err) < 0)
			log_warn("webmail: %s: setting \\Seen: %s",
				 r->session->address, err.msg);
		else
			flags |= STORE_FLAG_SEEN;
		v.msg = mindex_msg(v.f, v.seq);
	}

	struct wm_msg *m = wm_msg_parse(v.data, v.len);
	json_t *obj = json_object();
	json_object_set_new(obj, "uid", json_integer(v.msg->uid));
	json_object_set_new(obj, "folder",
			    json_string(mindex_folder_name(v.f)));
	json_object_set_new(obj, "size", json_integer((json_int_t)v.msg->vsize));
	wm_summary_flags(flags, obj);
	wm_msg_json(m, mindex_msg_internaldate(v.f, v.seq), obj);
	wm_summary_thread(r, v.f, v.msg->uid, obj);
	wm_msg_free(&m);
	view_close(&v);
	wm_json(r, 200, obj);
}

/* The content of b as a malloc'd string; b is freed. */
static char *steal(struct buf *b)
{
	char *s = buf_steal(b);
	buf_free(&b);
	return s;
}

/* "/api/folders/<folder>/messages/<uid>/parts/" */
static char *parts_url(const char *folder, const char *uid)
{
	struct buf *b = buf_new_str("/api/folders/");
	wm_pct_encode(folder, b);
	buf_append_str(b, "/messages/");
	wm_pct_encode(uid, b);
	buf_append_str(b, "/parts/");
	return steal(b);
}

/* ---- GET .../html ---- */

static void get_html(struct wm_req *r)
{
	struct view v;
	struct error err = {0};

	if (!view_open(r, false, &v))
		return;
	char *purl = parts_url(mindex_folder_name(v.f), r->args[1]);
	struct wm_html_opts o = {
	    .images = wm_query_int(r, "images", 0, 0, 1) == 1,
	    .parts_url = purl,
	    .secret = r->wm->secret,
	    .secret_len = sizeof(r->wm->secret),
	};
	struct wm_msg *m = wm_msg_parse(v.data, v.len);
	struct buf *doc = buf_new();
	unsigned blocked = 0;

	if (wm_msg_html(m, &o, doc, &blocked, &err) < 0) {
		buf_reset(doc);
		buf_append_str(doc, "<!DOCTYPE html>\n<meta charset=\"utf-8\">"
				    "<p>This message is too large or too deeply "
				    "nested to be shown; download it with "
				    "\"show original\".</p>\n");
	}
	/* wm_body first: it drops the headers of an earlier answer. */
	wm_body(r, 200, "text/html; charset=utf-8", buf_data(doc),
		buf_len(doc));
	wm_header(r, "Content-Security-Policy", HTML_CSP);
	wm_header(r, "Cache-Control", "private, no-cache");
	buf_free(&doc);
	wm_msg_free(&m);
	free(purl);
	view_close(&v);
}

/* ---- GET .../parts/{part} ---- */

static void get_part(struct wm_req *r)
{
	struct view v;

	if (!view_open(r, false, &v))
		return;
	struct wm_msg *m = wm_msg_parse(v.data, v.len);
	const struct mime_part *p = wm_msg_part(m, r->args[2]);
	if (p == NULL) {
		wm_error(r, 404, "not_found", "no such part");
		goto out;
	}
	bool to_utf8;
	const char *ctype = wm_part_serve_type(p, &to_utf8);
	bool inl = wm_query_int(r, "inline", 0, 0, 1) == 1 &&
		   wm_image_type_ok(ctype);
	char *fn = wm_part_filename(p, r->args[2]);
	char *disp = wm_content_disposition(inl, fn);
	struct buf *body = buf_new();

	if (to_utf8)
		wm_part_text(m, p, body);
	else
		wm_part_decode(m, p, body);
	wm_body(r, 200, ctype, buf_data(body), buf_len(body));
	wm_header(r, "Content-Disposition", disp);
	wm_header(r, "Content-Security-Policy", PART_CSP);
	wm_header(r, "Cache-Control", "private, max-age=3600");
	buf_free(&body);
	free(disp);
	free(fn);
out:
	wm_msg_free(&m);
	view_close(&v);
}

/* ---- GET .../raw ---- */

static void get_raw(struct wm_req *r)
{
	struct view v;

	if (!view_open(r, false, &v))
		return;
	wm_body(r, 200, "text/plain; charset=utf-8", v.data, v.len);
	wm_header(r, "Content-Security-Policy", PART_CSP);
	wm_header(r, "Cache-Control", "private, no-cache");
	view_close(&v);
}

/* ---- GET /api/proxy ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct fetch {
	CURL *c;
	struct buf *body;
	bool too_big;
	bool not_image;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct fetch *f = ud;
	size_t len = size * n;
	char *ct = NULL;

	/* Refuse at the first bytes what is not an image. */
	if (buf_len(f->body) == 0 &&
	    (curl_easy_getinfo(f->c, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK ||
	     !wm_image_type_ok(ct))) {
		f->not_image = true;
		return 0;
	}
	if (buf_len(f->body) + len > PROXY_MAX_BYTES) {
		f->too_big = true;
		return 0;
	}
	buf_append(f->body, p, len);
	return len;
}

/* Addresses a proxy must not reach from the server's side (SSRF):
 * loopback, private, link-local, carrier NAT, multicast, unspecified
 * (IPv4-mapped IPv6 addresses as their IPv4 address). */
static bool v4_private(const unsigned char *a)
{
	return a[0] == 0 || a[0] == 10 || a[0] == 127 ||
	       (a[0] == 100 && (a[1] & 0xc0) == 64) ||
	       (a[0] == 169 && a[1] == 254) || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
	       (a[0] == 192 && a[1] == 168) || a[0] >= 224;
}

static bool addr_private(const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0,
						 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char zero[15] = {0};

	if (sa->sa_family == AF_INET)
		return v4_private((const unsigned char *)&(
		    (const struct sockaddr_in *)(const void *)sa)->sin_addr);
	if (sa->sa_family != AF_INET6)
		return true;
	const unsigned char *a = ((const struct sockaddr_in6 *)(const void *)sa)
				     ->sin6_addr.s6_addr;
	if (memcmp(a, mapped, 12) == 0)
		return v4_private(a + 12);
	if (memcmp(a, zero, 15) == 0)
		return true; /* :: and ::1 */
	return (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
	       a[0] == 0xff;
}

/* libcurl opens every connection here (redirects too): a private
 * address is refused before anything is sent to it. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose,
				 struct curl_sockaddr *a)
{
	const bool *allow_private = ud;

	if (purpose != CURLSOCKTYPE_IPCXN ||
	    (!*allow_private && addr_private(&a->addr)))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static bool proxy_private_allowed(const struct wm *wm)
{
	return wm->conf != NULL &&
	       conf_bool(wm->conf, "webmail_image_proxy_private");
}

static void get_proxy(struct wm_req *r)
{
	const char *url = wm_query(r, "url"), *sig = wm_query(r, "sig");
	char want[65], errbuf[CURL_ERROR_SIZE] = "";
	struct fetch f = {0};
	long code = 0;
	char *ct = NULL;
	bool allow_private;

	/* A route without the session lock (no_session), so a slow image
	 * server holds up neither the user's other requests nor the other
	 * images; the session is checked here instead. */
	struct wm_daemon *d = wm_daemon(r->wm);
	const char *cookie = wm_req_cookie(r);
	struct wm_session *sess =
	    cookie != NULL ? wm_session_get(d, cookie, false) : NULL;
	if (sess == NULL) {
		wm_error(r, 401, "login_required", "log in first");
		return;
	}
	wm_session_unref(d, sess);
	if (url == NULL || sig == NULL || strlen(sig) != 64) {
		wm_error(r, 403, "forbidden", "bad image URL signature");
		return;
	}
	wm_proxy_sign(r->wm->secret, sizeof(r->wm->secret), url, want);
	if (CRYPTO_memcmp(want, sig, 64) != 0) {
		wm_error(r, 403, "forbidden", "bad image URL signature");
		return;
	}
	if (strncasecmp(url, "http://", 7) != 0 &&
	    strncasecmp(url, "https://", 8) != 0) {
		wm_error(r, 400, "invalid", "only http and https images");
		return;
	}
	pthread_once(&curl_once, curl_init_once);
	f.c = curl_easy_init();
	if (f.c == NULL) {
		wm_error(r, 503, "unavailable", "no HTTP client");
		return;
	}
	f.body = buf_new();
	curl_easy_setopt(f.c, CURLOPT_URL, url);
	curl_easy_setopt(f.c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(f.c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(f.c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(f.c, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(f.c, CURLOPT_TIMEOUT_MS, PROXY_TIMEOUT_MS);
	curl_easy_setopt(f.c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(f.c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(f.c, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)PROXY_MAX_BYTES);
	curl_easy_setopt(f.c, CURLOPT_USERAGENT, "Mozilla/5.0");
	curl_easy_setopt(f.c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(f.c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(f.c, CURLOPT_WRITEDATA, &f);
	curl_easy_setopt(f.c, CURLOPT_ERRORBUFFER, errbuf);
	allow_private = proxy_private_allowed(r->wm);
	curl_easy_setopt(f.c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(f.c, CURLOPT_OPENSOCKETDATA, &allow_private);
	curl_easy_setopt(f.c, CURLOPT_PROXY, ""); /* not $http_proxy */
	/* No cookie engine, no Referer: the sender learns only that some
	 * server fetched the image. */
	CURLcode rc = curl_easy_perform(f.c);
	curl_easy_getinfo(f.c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(f.c, CURLINFO_CONTENT_TYPE, &ct);
	if (code >= 200 && code <= 299 &&
	    (f.not_image || (rc == CURLE_OK && !wm_image_type_ok(ct)))) {
		wm_error(r, 415, "not_image", "the remote answer is no image");
	} else if (f.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		wm_error(r, 502, "too_large", "the remote image is too large");
	} else if (rc != CURLE_OK || code < 200 || code > 299) {
		wm_error(r, 502, "bad_gateway", "fetching the image failed: %s",
			 rc != CURLE_OK ? (errbuf[0] ? errbuf
						     : curl_easy_strerror(rc))
					: "HTTP status");
	} else {
		static const char *const types[] = {"image/png", "image/gif",
						    "image/jpeg", "image/webp"};
		const char *type = "application/octet-stream";
		for (size_t i = 0; i < 4; i++)
			if (strncasecmp(ct, types[i], strlen(types[i])) == 0)
				type = types[i];
		wm_body(r, 200, type, buf_data(f.body), buf_len(f.body));
		wm_header(r, "Cache-Control", "private, max-age=86400");
		wm_header(r, "Content-Security-Policy", PART_CSP);
	}
	buf_free(&f.body);
	curl_easy_cleanup(f.c);
}

const struct wm_route wm_routes_view[] = {
    {"GET", "/api/folders/{folder}/messages/{uid}", get_message, false},
    {"GET", "/api/folders/{folder}/messages/{uid}/html", get_html, false},
    {"GET", "/api/folders/{folder}/messages/{uid}/parts/{part}", get_part,
     false},
    {"GET", "/api/folders/{folder}/messages/{uid}/raw", get_raw, false},
    {"GET", "/api/proxy", get_proxy, true}, /* checks the session itself */
    {NULL, NULL, NULL, false},
};
