/*
 * wm-send.c - POST /api/drafts and POST /api/send (routes listed in
 * wm-compose.c's table).
 *
 * A message is built here with lib/mail/mime_build from the compose body
 * of docs/webmail-api.md.  Sending is an authenticated submission by the
 * session's user: recipients resolved as smtpd resolves RCPT TO
 * (aliases, alias domains, catch-alls; lib/rewrite/virtual.h), the message
 * handed to postern-queued over $queue_socket with the blocking client
 * submit_message_blocking() (this runs in a worker job, which may block;
 * the loop-thread client of submit.h may not be used here), then a copy
 * stored in Sent (\Seen), the replied message flagged \Answered (a
 * forwarded one $Forwarded), the draft it came from expunged and its
 * uploads removed.  The user's daily sending limits (issue 8) are
 * smtpd's, counted in the same SQL rows (prov_send_charge_message): 429
 * rate_limited past them.
 *
 * Drafts keep what the next send needs: Bcc (only there, never in mail
 * that leaves), and X-Postern-Reply / X-Postern-Forward naming the
 * message being answered or forwarded.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "provision/provision.h"
#include "conf/conf.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "mail/address.h"
#include "mail/header.h"
#include "mail/mime_build.h"
#include "map/map.h"
#include "mindex/mindex.h"
#include "queue/submit.h"
#include "queue/submit_milter.h"
#include "rewrite/virtual.h"
#include "store/store_name.h"
#include "wm-compose.h"
#include "wm-core.h"

#define DRAFTS "Drafts"
#define SENT "Sent"
/* Recipients of one message (to + cc + bcc), as smtpd's default. */
#define RCPTS_MAX 100
#define SUBMIT_TIMEOUT_MS 120000

/* ---- Recipient resolution: the maps smtpd uses, opened once. */

static pthread_mutex_t maps_mu = PTHREAD_MUTEX_INITIALIZER;
static struct virtual_maps maps;
static struct map_env map_env;
static bool maps_open;
static char *role_rcpt; /* $role_address_recipient, qualified */

static const struct virtual_maps *get_maps(const struct wm *wm)
{
	pthread_mutex_lock(&maps_mu);
	if (!maps_open) {
		map_env.conf = wm->conf;
		map_env.db = wm->db;
		virtual_maps_open(&maps, wm->conf, &map_env, "webmail");
		role_rcpt = virtual_role_qualify(
		    conf_str(wm->conf, "role_address_recipient"),
		    conf_str(wm->conf, "myorigin"));
		maps_open = true;
	}
	pthread_mutex_unlock(&maps_mu);
	return &maps;
}

/* ---- The compose body. */

struct addr_list {
	struct array *names; /* char * */
	struct array *addrs; /* char *, wire form */
	struct mime_build_addr *v;
	size_t n;
};

struct compose {
	struct addr_list to, cc, bcc;
	const char *subject, *text, *html;
	size_t text_len, html_len;
	char *in_reply_to, *references;
	char *reply_folder, *fwd_folder;
	uint32_t reply_uid, fwd_uid, draft_uid;
	bool fwd_attach;
	struct wm_upload *ups;
	size_t nups;
	struct mime_build_part *parts;
};

static void list_init(struct addr_list *l)
{
	l->names = array_new();
	l->addrs = array_new();
	l->v = NULL;
	l->n = 0;
}

static void list_free(struct addr_list *l)
{
	array_free_with(&l->names, free);
	array_free_with(&l->addrs, free);
	free(l->v);
}

/* Entries of a JSON array of "Name <a@b>" strings (each may hold
 * several, comma-separated).  false after answering 422. */
static bool list_parse(struct wm_req *r, json_t *arr, const char *field,
		       struct addr_list *l)
{
	if (arr != NULL && !json_is_null(arr) && !json_is_array(arr)) {
		wm_invalid(r, field, "%s must be a list of addresses", field);
		return false;
	}
	size_t i;
	json_t *v;
	struct buf *name = buf_new(), *wire = buf_new(), *raw = buf_new();
	bool ok = true;
	json_array_foreach(arr, i, v)
	{
		const char *s = json_string_value(v);
		if (s == NULL) {
			wm_invalid(r, field, "%s: entries must be strings", field);
			ok = false;
			break;
		}
		struct header_address *list =
			header_address_parse(s, strlen(s), RCPTS_MAX + 1);
		if (list == NULL && s[strspn(s, " \t\r\n")] != '\0') {
			wm_invalid(r, field, "%s: not an address: %s", field, s);
			ok = false;
			break;
		}
		for (struct header_address *a = list; a != NULL && ok; a = a->next) {
			if (a->mailbox == NULL || a->host == NULL)
				continue; /* group start/end */
			buf_reset(raw);
			buf_printf(raw, "%s@%s", a->mailbox, a->host);
			struct mail_address ma;
			struct error err;
			if (a->invalid ||
			    address_parse_mailbox(buf_data(raw), buf_len(raw),
						  ADDRESS_IDN, &ma, &err) < 0) {
				wm_invalid(r, field, "%s: not an address: %s", field,
					s);
				ok = false;
				break;
			}
			address_format(&ma, wire);
			address_clear(&ma);
			buf_reset(name);
			if (a->name != NULL)
				header_decode_2047(a->name, strlen(a->name), name);
			array_push(l->names, xstrdup(buf_data(name)));
			array_push(l->addrs, xstrdup(buf_data(wire)));
		}
		header_address_free(&list);
		if (!ok)
			break;
	}
	buf_free(&name);
	buf_free(&wire);
	buf_free(&raw);
	if (!ok)
		return false;
	l->n = array_len(l->addrs);
	l->v = xcalloc(l->n + 1, sizeof(*l->v));
	for (size_t k = 0; k < l->n; k++) {
		l->v[k].name = array_get(l->names, k);
		l->v[k].address = array_get(l->addrs, k);
	}
	return true;
}

static void compose_free(struct compose *c)
{
	list_free(&c->to);
	list_free(&c->cc);
	list_free(&c->bcc);
	free(c->in_reply_to);
	free(c->references);
	free(c->reply_folder);
	free(c->fwd_folder);
	for (size_t i = 0; i < c->nups; i++)
		wm_upload_clear(&c->ups[i]);
	free(c->ups);
	free(c->parts);
}

/* A {"folder", "uid"} reference; false after answering 422. */
static bool ref_parse(struct wm_req *r, json_t *v, const char *field,
		      char **folder_r, uint32_t *uid_r)
{
	if (v == NULL || json_is_null(v))
		return true;
	const char *f = json_string_value(json_object_get(v, "folder"));
	uint32_t uid = wm_json_uid(json_object_get(v, "uid"));
	if (!json_is_object(v) || f == NULL || uid == 0) {
		wm_invalid(r, field, "%s must be {\"folder\", \"uid\"}", field);
		return false;
	}
	*folder_r = xstrdup(f);
	*uid_r = uid;
	return true;
}

/* Parse the body (json) into c; false after answering. */
static bool compose_parse(struct wm_req *r, json_t *body, struct compose *c)
{
	memset(c, 0, sizeof(*c));
	list_init(&c->to);
	list_init(&c->cc);
	list_init(&c->bcc);
	if (!list_parse(r, json_object_get(body, "to"), "to", &c->to) ||
	    !list_parse(r, json_object_get(body, "cc"), "cc", &c->cc) ||
	    !list_parse(r, json_object_get(body, "bcc"), "bcc", &c->bcc))
		return false;
	if (c->to.n + c->cc.n + c->bcc.n > RCPTS_MAX) {
		wm_invalid(r, "to", "at most %d recipients", RCPTS_MAX);
		return false;
	}
	json_t *v = json_object_get(body, "subject");
	if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
		wm_invalid(r, "subject", "subject must be a string");
		return false;
	}
	c->subject = json_string_value(v);
	v = json_object_get(body, "text");
	if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
		wm_invalid(r, "text", "text must be a string");
		return false;
	}
	c->text = json_string_value(v);
	c->text_len = c->text ? json_string_length(v) : 0;
	v = json_object_get(body, "html");
	if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
		wm_invalid(r, "html", "html must be a string");
		return false;
	}
	c->html = json_string_value(v);
	c->html_len = c->html ? json_string_length(v) : 0;

	v = json_object_get(body, "in_reply_to");
	if (json_is_string(v)) {
		c->in_reply_to = xstrdup(json_string_value(v));
	} else if (!ref_parse(r, v, "in_reply_to", &c->reply_folder,
			      &c->reply_uid)) {
		return false;
	}
	v = json_object_get(body, "references");
	if (json_is_string(v))
		c->references = xstrdup(json_string_value(v));
	v = json_object_get(body, "forward");
	if (!ref_parse(r, v, "forward", &c->fwd_folder, &c->fwd_uid))
		return false;
	if (c->fwd_folder != NULL) {
		const char *m = json_string_value(json_object_get(v, "mode"));
		c->fwd_attach = m != NULL && strcmp(m, "attachment") == 0;
	}
	v = json_object_get(body, "draft_uid");
	if (v != NULL && !json_is_null(v)) {
		c->draft_uid = wm_json_uid(v);
		if (c->draft_uid == 0) {
			wm_invalid(r, "draft_uid", "draft_uid must be a UID");
			return false;
		}
	}

	json_t *atts = json_object_get(body, "attachments");
	if (atts != NULL && !json_is_null(atts) && !json_is_array(atts)) {
		wm_invalid(r, "attachments", "attachments must be a list of upload ids");
		return false;
	}
	c->ups = xcalloc(json_array_size(atts) + 1, sizeof(*c->ups));
	c->parts = xcalloc(json_array_size(atts) + 1, sizeof(*c->parts));
	size_t i;
	json_array_foreach(atts, i, v)
	{
		const char *id = json_string_value(v);
		if (id == NULL && json_is_object(v))
			id = json_string_value(json_object_get(v, "id"));
		struct error err = {0};
		int ret = id != NULL ? wm_upload_load(r, id, &c->ups[c->nups], &err)
				     : 0;
		if (ret < 0) {
			wm_fail(r, &err);
			return false;
		}
		if (ret == 0) {
			wm_invalid(r, "attachments", "no such upload: %s",
				id ? id : "(not a string)");
			return false;
		}
		struct wm_upload *u = &c->ups[c->nups];
		c->parts[c->nups++] = (struct mime_build_part){
			.content_type = u->content_type,
			.filename = u->filename,
			.data = buf_data(u->data),
			.len = buf_len(u->data),
		};
	}
	return true;
}

/* In-Reply-To and References from the replied message (when given by
 * folder and uid). */
static bool compose_threading(struct wm_req *r, struct compose *c)
{
	if (c->reply_folder == NULL)
		return true;
	struct wm_orig o;
	/* The replied message may be gone meanwhile: send anyway,
	 * unthreaded (orig_open's error answer is replaced by the final
	 * one: the last answer wins). */
	if (wm_orig_open(r, c->reply_folder, c->reply_uid, false, &o) < 0)
		return true;
	const char *mid = wm_jstr(o.json, "message_id");
	if (*mid != '\0') {
		free(c->in_reply_to);
		c->in_reply_to = xstrdup(mid);
		free(c->references);
		c->references = wm_reply_references(o.json);
	}
	wm_orig_close(&o);
	return true;
}

/* Build the message; `draft`: with Bcc and the X-Postern fields.
 * false after answering. */
static bool compose_build(struct wm_req *r, struct compose *c, bool draft,
			  const char *message_id, time_t date, struct buf *out,
			  struct mime_build_result *res)
{
	char *extra[2];
	size_t nextra = 0;
	if (draft && c->reply_folder != NULL)
		extra[nextra++] = xasprintf("X-Postern-Reply: %s %u",
					    c->reply_folder, c->reply_uid);
	if (draft && c->fwd_folder != NULL)
		extra[nextra++] = xasprintf("X-Postern-Forward: %s %u %s",
					    c->fwd_folder, c->fwd_uid,
					    c->fwd_attach ? "attachment" : "inline");
	struct mime_build_msg m = {
		.from = {r->session->name, r->session->address},
		.to = c->to.v,
		.nto = c->to.n,
		.cc = c->cc.v,
		.ncc = c->cc.n,
		.bcc = draft ? c->bcc.v : NULL,
		.nbcc = draft ? c->bcc.n : 0,
		.subject = c->subject,
		.date = date,
		.message_id = message_id,
		.in_reply_to = c->in_reply_to,
		.references = c->references,
		.user_agent = "Postern webmail",
		.text = c->text,
		.text_len = c->text_len,
		.html = c->html,
		.html_len = c->html_len,
		.parts = c->parts,
		.nparts = c->nups,
		.extra = (const char *const *)extra,
		.nextra = nextra,
	};
	struct error err = {0};
	int ret = mime_build(&m, out, res, &err);
	for (size_t i = 0; i < nextra; i++)
		free(extra[i]);
	if (ret < 0) {
		const char *field = str_case_has_prefix(err.msg, "cc") ? "cc"
				    : str_case_has_prefix(err.msg, "bcc") ? "bcc"
				    : str_case_has_prefix(err.msg, "from") ? "from"
									  : "to";
		wm_invalid(r, field, "%s", err.msg);
		return false;
	}
	return true;
}

static const struct store_quota *session_quota(const struct wm_session *s,
					       struct store_quota *q)
{
	if (s->quota_bytes == 0)
		return NULL;
	q->bytes = s->quota_bytes;
	q->messages = 0;
	return q;
}

/* Append msg to folder with flags: 1 with *uid_r, -1 with err. */
static int store_copy(struct wm_session *s, const char *folder,
		      const struct buf *msg, uint32_t flags, uint32_t *uid_r,
		      struct error *err)
{
	struct store_quota q;
	struct store_input in;
	struct store_input_mem mem;
	struct mindex_folder *f = mindex_folder_open_target(s->mu, folder, err);
	if (f == NULL)
		return -1;
	store_input_mem(&in, &mem, buf_data(msg), buf_len(msg));
	int ret = mindex_append(f, &in, flags, 0, 0, session_quota(s, &q), uid_r,
				err);
	mindex_folder_close(&f);
	return ret;
}

/* Expunge folder/uid (the replaced draft); a message already gone is
 * fine. */
static int expunge_one(struct wm_req *r, const char *folder, uint32_t uid,
		       struct error *err)
{
	struct mindex_folder *f = mindex_folder_open(r->session->mu, folder,
						     false, err);
	if (f == NULL)
		return -1;
	uint32_t seq = mindex_seq_of_uid(f, uid);
	int ret = 0;
	if (seq != 0)
		ret = mindex_expunge(f, &seq, 1, err);
	mindex_folder_close(&f);
	return ret;
}

/* Add \Answered or the $Forwarded keyword to folder/uid. */
static int mark_original(struct wm_req *r, const char *id, uint32_t uid,
			 bool forwarded, struct error *err)
{
	char *name = wm_folder_check(r->session, id, err);
	if (name == NULL)
		return -1;
	struct mindex_folder *f = mindex_folder_open(r->session->mu, name,
						     false, err);
	free(name);
	if (f == NULL)
		return -1;
	int ret = 0;
	uint32_t seq = mindex_seq_of_uid(f, uid);
	if (seq != 0) {
		uint32_t flags = 0, kw = 0;
		if (forwarded) {
			int k = mindex_keyword_lookup(f, "$Forwarded", true, err);
			if (k < 0) {
				mindex_folder_close(&f);
				return -1;
			}
			kw = 1u << k;
		} else {
			flags = STORE_FLAG_REPLIED;
		}
		enum mindex_store_result res;
		ret = mindex_store_flags(f, &seq, 1, MINDEX_FLAGS_ADD, flags, kw,
					 0, &res, err);
	}
	mindex_folder_close(&f);
	return ret;
}

/* ---- POST /api/drafts */

void wm_drafts_post(struct wm_req *r)
{
	json_t *body = wm_body_json(r);
	struct compose c;
	struct buf *msg = buf_new();
	struct error err = {0};
	uint32_t uid = 0;

	if (body == NULL)
		goto out0;
	if (!compose_parse(r, body, &c) || !compose_threading(r, &c))
		goto out;
	if (!compose_build(r, &c, true, NULL, 0, msg, NULL))
		goto out;
	if (store_copy(r->session, DRAFTS, msg,
		       STORE_FLAG_DRAFT | STORE_FLAG_SEEN, &uid, &err) < 0) {
		if (err.code != NULL && strcmp(err.code, STORE_ERR_QUOTA) == 0)
			wm_error(r, 507, "quota", "%s", err.msg);
		else
			wm_fail(r, &err);
		goto out;
	}
	if (c.draft_uid != 0 && c.draft_uid != uid &&
	    expunge_one(r, DRAFTS, c.draft_uid, &err) < 0)
		log_warn("webmail: %s: removing draft %u: %s",
			 r->session->address, c.draft_uid, err.msg);
	wm_json(r, 201, json_pack("{s:s, s:I}", "folder", DRAFTS, "uid",
				  (json_int_t)uid));
out:
	compose_free(&c);
out0:
	json_decref(body);
	buf_free(&msg);
}

/* ---- POST /api/send */

/* Resolve every recipient as smtpd would for an authenticated client:
 * finals appended to `finals` (char *, unique).  false after
 * answering (422 for an unknown local user, 503 when maps fail). */
/* The user's daily sending limits, counted with the addresses as
 * written (as smtpd counts RCPT addresses): false after answering. */
static bool send_limits(struct wm_req *r, struct compose *c)
{
	struct addr_list *lists[] = {&c->to, &c->cc, &c->bcc};
	size_t n = c->to.n + c->cc.n + c->bcc.n, k = 0;
	const char **v = xcalloc(n + 1, sizeof(*v));
	struct error err;

	for (size_t li = 0; li < 3; li++)
		for (size_t i = 0; i < lists[li]->n; i++)
			v[k++] = lists[li]->v[i].address;
	int rc = prov_send_charge_message(r->wm->db, r->wm->conf,
					     r->session->address, v, k,
					     "webmail", &err);
	free(v);
	if (rc == 0)
		return true;
	if (err.kind == ERR_PERM)
		wm_error(r, 429, "rate_limited", "%s", err.msg);
	else
		wm_error(r, 503, "unavailable", "%s", err.msg);
	return false;
}

static bool resolve_rcpts(struct wm_req *r, struct compose *c,
			  struct array *finals)
{
	const struct virtual_maps *m = get_maps(r->wm);
	struct virtual_opts opts = {
		.delimiters = conf_str(r->wm->conf, "recipient_delimiter"),
		.recursion_limit = (unsigned)conf_int(
			r->wm->conf, "virtual_alias_recursion_limit"),
		.expansion_limit = (unsigned)conf_int(
			r->wm->conf, "virtual_alias_expansion_limit"),
		.relay_ok = true, /* an authenticated user */
		.role_addresses = conf_str(r->wm->conf, "role_addresses"),
		.role_recipient = role_rcpt, /* set by get_maps */
	};
	struct addr_list *lists[] = {&c->to, &c->cc, &c->bcc};
	const char *fields[] = {"to", "cc", "bcc"};
	for (size_t li = 0; li < 3; li++) {
		for (size_t i = 0; i < lists[li]->n; i++) {
			const char *addr = lists[li]->v[i].address;
			struct buf *canon = buf_new();
			struct error err;
			if (address_normalize(addr, ADDRESS_IDN, canon, &err) < 0) {
				wm_invalid(r, fields[li], "%s: %s", fields[li], err.msg);
				buf_free(&canon);
				return false;
			}
			struct array *fin = array_new();
			struct smtp_reply reply;
			int ret = virtual_resolve(m, buf_data(canon), &opts,
						"webmail", fin, &reply);
			buf_free(&canon);
			if (ret < 0) {
				virtual_finals_free(&fin);
				if (reply.code >= 500)
					wm_invalid(r, fields[li], "%s: <%s>: %s",
						fields[li], addr, reply.text);
				else
					wm_error(r, 503, "unavailable", "%s",
						 reply.text);
				return false;
			}
			for (size_t k = 0; k < array_len(fin); k++) {
				struct virtual_final *f = array_get(fin, k);
				bool dup = false;
				for (size_t j = 0; j < array_len(finals) && !dup; j++)
					dup = strcasecmp(array_get(finals, j),
							 f->addr) == 0;
				if (!dup)
					array_push(finals, xstrdup(f->addr));
			}
			virtual_finals_free(&fin);
		}
	}
	return true;
}

void wm_send_post(struct wm_req *r)
{
	json_t *body = wm_body_json(r);
	struct compose c;
	struct buf *msg = buf_new(), *copy = buf_new(), *wire = buf_new();
	struct array *finals = array_new();
	struct submit_rcpt *rcpts = NULL;
	struct mime_build_result res;
	struct error err = {0};
	char qid[128];
	uint32_t sent_uid = 0;
	time_t now = time(NULL);

	if (body == NULL)
		goto out0;
	if (!compose_parse(r, body, &c))
		goto out;
	if (c.to.n + c.cc.n + c.bcc.n == 0) {
		wm_invalid(r, "to", "no recipient");
		goto out;
	}
	if (!compose_threading(r, &c) || !compose_build(r, &c, false, NULL, now, msg, &res))
		goto out;
	long long limit = conf_size(r->wm->conf, "message_size_limit");
	if (limit > 0 && (long long)buf_len(msg) > limit) {
		wm_error(r, 413, "too_large",
			 "the message is %zu bytes, the limit is %lld",
			 buf_len(msg), limit);
		goto out;
	}
	if (!resolve_rcpts(r, &c, finals) || !send_limits(r, &c))
		goto out;

	/* What leaves: a Received line (no client address: the reader
	 * learns nothing of where the user was), then the message. */
	char date[64];
	time_format_rfc5322(now, date, sizeof(date));
	buf_printf(wire, "Received: by %s (Postern webmail) with HTTP;\r\n\t%s\r\n",
		   conf_str(r->wm->conf, "myhostname"), date);
	buf_append(wire, buf_data(msg), buf_len(msg));
	rcpts = xcalloc(array_len(finals) + 1, sizeof(*rcpts));
	for (size_t i = 0; i < array_len(finals); i++)
		rcpts[i].addr = array_get(finals, i);
	struct submit_env env = {
		.sender = r->session->address,
		.body = res.eightbit ? QUEUE_BODY_8BITMIME : QUEUE_BODY_7BIT,
		.client_addr = r->client,
		.client_name = "webmail",
		.helo = "webmail",
		.auth_name = r->session->address,
		.rcpts = rcpts,
		.nrcpts = array_len(finals),
		.filter = r->wm->content_filter,
	};
	/* $non_smtpd_milters (lib/queue/submit_milter.h, docs/milter.md):
	 * they may refuse, drop, or edit the message and envelope. */
	struct submit_milter_msg mm = {0};
	bool milter_discard = false;
	if (submit_milter_wanted(r->wm->conf)) {
		mm.sender = xstrdup(env.sender);
		mm.auth = xstrdup(r->session->address);
		mm.rcpts = array_new();
		for (size_t i = 0; i < env.nrcpts; i++)
			array_push(mm.rcpts, xstrdup(rcpts[i].addr));
		mm.message = wire;
		if (submit_milter_run(r->wm->conf, &mm, &err) < 0) {
			log_info("webmail: %s: milter-reject: %s",
				 r->session->address, err.msg);
			wm_error(r, err.kind == ERR_PERM ? 422 : 503,
				 err.kind == ERR_PERM ? "refused"
						      : "unavailable",
				 "%s", err.msg);
			free(mm.sender);
			free(mm.auth);
			array_free_with(&mm.rcpts, free);
			goto out;
		}
		milter_discard = mm.discard || array_len(mm.rcpts) == 0;
		rcpts = xrealloc(rcpts, (array_len(mm.rcpts) + 1) *
					    sizeof(*rcpts));
		memset(rcpts, 0, (array_len(mm.rcpts) + 1) * sizeof(*rcpts));
		for (size_t i = 0; i < array_len(mm.rcpts); i++)
			rcpts[i].addr = array_get(mm.rcpts, i);
		env.rcpts = rcpts;
		env.nrcpts = array_len(mm.rcpts);
		env.sender = mm.sender;
	}
	int sent = milter_discard ? 0
		   : submit_message_blocking(r->wm->queue_socket, &env,
					     buf_data(wire), buf_len(wire),
					     SUBMIT_TIMEOUT_MS, qid,
					     sizeof(qid), &err);
	if (milter_discard) {
		log_info("webmail: %s: discarded by a milter",
			 r->session->address);
		snprintf(qid, sizeof(qid), "discarded");
	}
	if (mm.rcpts != NULL) {
		free(mm.sender);
		free(mm.auth);
		array_free_with(&mm.rcpts, free);
	}
	if (sent < 0) {
		log_warn("webmail: %s: send failed: %s", r->session->address,
			 err.msg);
		if (err.kind == ERR_PERM)
			wm_error(r, 422, "refused", "%s", err.msg);
		else
			wm_error(r, 503, "unavailable", "%s", err.msg);
		goto out;
	}
	log_info("webmail: %s: queued as %s, %zu recipient(s), %zu bytes",
		 r->session->address, qid, array_len(finals), buf_len(wire));

	/* Queued: what follows is bookkeeping; its failures are logged and
	 * the answer is still a success (the mail is on its way). */
	/* The Sent copy is the message as sent plus its Bcc, which only
	 * the sender may see. */
	if (c.bcc.n > 0)
		mime_build_addresses(copy, "Bcc", c.bcc.v, c.bcc.n, NULL);
	buf_append(copy, buf_data(msg), buf_len(msg));
	if (store_copy(r->session, SENT, copy, STORE_FLAG_SEEN, &sent_uid,
		       &err) < 0) {
		log_warn("webmail: %s: %s: Sent copy: %s", r->session->address,
			 qid, err.msg);
		sent_uid = 0;
	}
	if (c.reply_folder != NULL &&
	    mark_original(r, c.reply_folder, c.reply_uid, false, &err) < 0)
		log_warn("webmail: %s: \\Answered: %s", r->session->address,
			 err.msg);
	if (c.fwd_folder != NULL &&
	    mark_original(r, c.fwd_folder, c.fwd_uid, true, &err) < 0)
		log_warn("webmail: %s: $Forwarded: %s", r->session->address,
			 err.msg);
	if (c.draft_uid != 0 && expunge_one(r, DRAFTS, c.draft_uid, &err) < 0)
		log_warn("webmail: %s: removing draft %u: %s",
			 r->session->address, c.draft_uid, err.msg);
	for (size_t i = 0; i < c.nups; i++)
		wm_upload_delete(r, c.ups[i].id);
	wm_json(r, 200, json_pack("{s:s, s:o}", "queue_id", qid, "sent_uid",
				  sent_uid ? json_integer(sent_uid) : json_null()));
out:
	compose_free(&c);
out0:
	json_decref(body);
	free(rcpts);
	array_free_with(&finals, free);
	buf_free(&msg);
	buf_free(&copy);
	buf_free(&wire);
}

