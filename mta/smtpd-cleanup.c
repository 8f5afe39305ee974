/*
 * smtpd-cleanup.c - the part of Postfix's cleanup(8) that smtpd does
 * while the message streams into the queue: envelope rewriting (MAIL
 * FROM, RCPT) and the header stage (lib/rewrite, docs/rewriting.md).
 *
 * Envelope: the sender goes to the queue through sender_canonical_maps,
 * canonical_maps and masquerading (smtpd_cleanup_sender, called where the
 * submission opens); the restriction lists and the logs keep the sender
 * as the client gave it, as Postfix's smtpd does.  Each recipient, in the
 * RCPT worker after the restriction lists: relocated_maps first (550
 * 5.1.6 "User has moved to NEW", smtpd_check.c's text), then
 * recipient_canonical_maps and canonical_maps, before the virtual alias
 * and mailbox lookup, the order of cleanup then trivial-rewrite.  A table
 * that fails: the RCPT gets 451 4.3.0; for the sender, the message is
 * refused after DATA with 451 (cleanup reports its errors at the end).
 *
 * Headers: the header block is held field by field as it streams (one
 * field at most $header_size_limit bytes, 102400 as Postfix; a larger one
 * passes unchanged) and each complete field goes through the stages in
 * `stages[]`, then to the queue; the body is not touched, not even
 * copied.  Address fields are rewritten (rewrite_header_field) for
 * clients that match $local_header_rewrite_clients (permit_inet_interfaces
 * - the client address is one of $inet_interfaces -, permit_mynetworks,
 * permit_sasl_authenticated, static:all), and for other clients only when
 * $remote_header_rewrite_domain is set (bare addresses then get that
 * domain), as cleanup does with its "local" and "remote" contexts.
 *
 * Content checks (header_checks, mime_header_checks, nested_header_checks,
 * body_checks) are not a stage: they need every line of the message, MIME
 * part headers and body included, so they filter this stage's output
 * (smtpd-content.c; opened and freed from here).
 *
 * Plugging in more header work on primary fields: write a
 * `static int stage_x(struct smtpd_session *s, struct hdr_state *h,
 * const char *field, size_t len, struct buf *out)` that appends the field
 * (changed, or not at all to drop it) to out and returns 0, or -1 to fail
 * the message (set h->reject_code/h->reject_text, a later stage may read
 * them; today -1 means 451 at end of data), and add it to stages[].  A
 * stage sees whole fields with their line ends; stages run in order, the
 * output of one the input of the next.
 *
 * Threads: smtpd_cleanup_rcpt runs in the worker pool on read-only data;
 * the rest on the loop thread.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "mail/address.h"
#include "queue/submit.h"
#include "rewrite/rewrite.h"

#include "smtpd-authres.h"
#include "smtpd-content.h"
#include "smtpd.h"

struct smtpd_cleanup {
	struct rewrite *rw; /* NULL when broken: every message is refused */
	char *broken;	    /* why, for the log */
	bool local_static, local_inet, local_mynetworks, local_sasl;
	struct array *inet_interfaces;
	char *remote_domain; /* NULL: no header rewriting for remote */
	size_t header_limit;
};

enum hdr_phase { HDR_FIELDS, HDR_BODY };

struct hdr_state {
	enum hdr_phase phase;
	bool rewrite;		 /* address fields are rewritten */
	enum rewrite_mode mode;	 /* LOCAL or REMOTE */
	struct buf *held;	 /* the current field, and a partial line */
	bool oversize;		 /* the current field passes unchanged */
	struct buf *a, *b;	 /* stage buffers */
	unsigned fields_changed; /* for the log */
};

struct smtpd_cleanup_txn {
	char *sender;		/* the rewritten sender (wire form) */
	struct hdr_state *hdr;
};

int smtpd_cleanup_open(struct smtpd *d, const struct conf *conf,
		       struct error *err)
{
	struct smtpd_cleanup *c = xcalloc(1, sizeof(*c));
	struct array *words;
	struct error rerr;

	c->rw = rewrite_new(conf, &d->map_env, &rerr);
	if (c->rw == NULL) {
		/* As a broken map in Postfix's cleanup: mail waits (4xx),
		 * it is never passed on unrewritten. */
		log_error("address rewriting: %s; mail is refused with 451 "
			  "until a restart",
			  rerr.msg);
		c->broken = xstrdup(rerr.msg);
	}
	words = str_split(conf_str(conf, "local_header_rewrite_clients"),
			  ", \t");
	for (size_t i = 0; i < array_len(words); i++) {
		const char *w = array_get(words, i);
		if (strcmp(w, "permit_inet_interfaces") == 0)
			c->local_inet = true;
		else if (strcmp(w, "permit_mynetworks") == 0)
			c->local_mynetworks = true;
		else if (strcmp(w, "permit_sasl_authenticated") == 0)
			c->local_sasl = true;
		else if (strcmp(w, "static:all") == 0)
			c->local_static = true;
		else
			log_warn("local_header_rewrite_clients: ignoring "
				 "\"%s\"",
				 w);
	}
	array_free_with(&words, free);
	c->inet_interfaces =
	    str_split(conf_str(conf, "inet_interfaces"), ", \t");
	if (conf_str(conf, "remote_header_rewrite_domain")[0] != '\0')
		c->remote_domain =
		    xstrdup(conf_str(conf, "remote_header_rewrite_domain"));
	c->header_limit = (size_t)conf_size(conf, "header_size_limit");
	if (c->header_limit == 0)
		c->header_limit = 102400;
	d->cleanup = c;
	return smtpd_content_open(d, conf, err);
}

void smtpd_cleanup_close(struct smtpd *d)
{
	struct smtpd_cleanup *c = d->cleanup;

	if (c == NULL)
		return;
	d->cleanup = NULL;
	smtpd_content_close(d);
	rewrite_free(&c->rw);
	free(c->broken);
	array_free_with(&c->inet_interfaces, free);
	free(c->remote_domain);
	free(c);
}

static void hdr_free(struct hdr_state **hp)
{
	struct hdr_state *h = *hp;

	if (h == NULL)
		return;
	*hp = NULL;
	buf_free(&h->held);
	buf_free(&h->a);
	buf_free(&h->b);
	free(h);
}

void smtpd_cleanup_txn_free(struct smtpd_txn *t)
{
	smtpd_content_txn_free(t);
	if (t->cleanup == NULL)
		return;
	free(t->cleanup->sender);
	hdr_free(&t->cleanup->hdr);
	free(t->cleanup);
	t->cleanup = NULL;
}

static struct smtpd_cleanup_txn *txn_state(struct smtpd_txn *t)
{
	if (t->cleanup == NULL)
		t->cleanup = xcalloc(1, sizeof(*t->cleanup));
	return t->cleanup;
}

/* Internal "local@domain" back to the wire form. */
static void to_wire(const char *addr, struct buf *out)
{
	const char *at = strrchr(addr, '@');
	char *local = xstrndup(addr, at != NULL ? (size_t)(at - addr)
						: strlen(addr));
	struct mail_address a = {.local = local,
				 .domain = (char *)(at != NULL ? at + 1 : "")};

	address_format(&a, out);
	if (at == NULL) /* address_format gives just the local part */
		buf_set_str(out, addr);
	free(local);
}

const char *smtpd_cleanup_sender(struct smtpd_session *s)
{
	struct smtpd_cleanup *c = s->smtpd->cleanup;
	struct smtpd_txn *t = s->txn;
	struct smtpd_cleanup_txn *ct;
	struct buf *in, *out;
	struct error err;
	int r;

	if (c == NULL || address_is_null(&t->mail.from))
		return buf_data(t->sender);
	if (c->rw == NULL) {
		log_warn("%s: address rewriting unavailable: %s",
			 smtpd_log_id(s), c->broken);
		t->data_failed = true;
		return buf_data(t->sender);
	}
	if (!rewrite_active(c->rw, REWRITE_ENV_SENDER))
		return buf_data(t->sender);
	in = buf_new();
	out = buf_new();
	buf_printf(in, "%s@%s", t->mail.from.local, t->mail.from.domain);
	r = rewrite_address(c->rw, REWRITE_ENV_SENDER, buf_data(in), out, &err);
	if (r < 0) {
		log_warn("%s: sender <%s>: %s; message not accepted, try again "
			 "later",
			 smtpd_log_id(s), buf_data(t->sender), err.msg);
		t->data_failed = true;
	} else if (r == 1) {
		ct = txn_state(t);
		to_wire(buf_data(out), in);
		free(ct->sender);
		ct->sender = buf_steal(in);
		log_info("%s: sender <%s> rewritten to <%s>", smtpd_log_id(s),
			 buf_data(t->sender), ct->sender);
	}
	buf_free(&in);
	buf_free(&out);
	return t->cleanup != NULL && t->cleanup->sender != NULL
		   ? t->cleanup->sender
		   : buf_data(t->sender);
}

int smtpd_cleanup_rcpt(const struct smtpd *d, char **address,
		       struct smtp_reply *reply)
{
	const struct smtpd_cleanup *c = d->cleanup;
	struct mail_address a;
	struct buf *in, *out;
	struct error err;
	int r, ret = 0;

	if (c == NULL)
		return 0;
	if (c->rw == NULL)
		return smtp_reply_set(reply, 451, "4.3.0",
				      "Error: address rewriting unavailable");
	if (address_parse_mailbox(*address, strlen(*address),
				  ADDRESS_SMTPUTF8, &a, &err) < 0)
		return 0; /* <Postmaster> and such: nothing to rewrite */
	in = buf_new();
	out = buf_new();
	buf_printf(in, "%s@%s", a.local, a.domain);
	r = rewrite_relocated(c->rw, buf_data(in), out, &err);
	if (r == 1) {
		ret = smtp_reply_set(reply, 550, "5.1.6",
				     "<%s>: Recipient address rejected: User "
				     "has moved to %s",
				     *address, buf_data(out));
	} else if (r == 0 &&
		   (r = rewrite_address(c->rw, REWRITE_ENV_RECIPIENT,
					buf_data(in), out, &err)) == 1) {
		to_wire(buf_data(out), in);
		log_info("recipient <%s> rewritten to <%s>", *address,
			 buf_data(in));
		free(*address);
		*address = buf_steal(in);
	}
	if (r < 0) {
		log_warn("recipient <%s>: %s", *address, err.msg);
		ret = smtp_reply_set(reply, 451, "4.3.0",
				     "<%s>: Recipient address rejected: "
				     "Temporary lookup failure",
				     *address);
	}
	address_clear(&a);
	buf_free(&in);
	buf_free(&out);
	return ret;
}

/* ---- the header stage */

static bool client_is_local(const struct smtpd_cleanup *c,
			    const struct smtpd_session *s)
{
	if (c->local_static)
		return true;
	if (c->local_sasl && s->auth_user != NULL)
		return true;
	if (c->local_mynetworks && s->in_mynetworks)
		return true;
	if (c->local_inet && s->peer != NULL) {
		for (size_t i = 0; i < array_len(c->inet_interfaces); i++) {
			const char *a = array_get(c->inet_interfaces, i);
			if (strcmp(a, s->peer) == 0)
				return true;
			/* "all": every address of this host; loopback is
			 * the one we can tell without asking the kernel. */
			if (strcmp(a, "all") == 0 &&
			    (strncmp(s->peer, "127.", 4) == 0 ||
			     strcmp(s->peer, "::1") == 0))
				return true;
		}
	}
	return false;
}

static int stage_rewrite(struct smtpd_session *s, struct hdr_state *h,
			 const char *field, size_t len, struct buf *out)
{
	const struct smtpd_cleanup *c = s->smtpd->cleanup;
	struct error err;
	int r;

	if (!h->rewrite) {
		buf_append(out, field, len);
		return 0;
	}
	r = rewrite_header_field(c->rw, h->mode, c->remote_domain, field, len,
				 out, &err);
	if (r < 0) {
		log_warn("%s: header rewriting: %s; message not accepted, try "
			 "again later",
			 smtpd_log_id(s), err.msg);
		return -1;
	}
	h->fields_changed += (unsigned)r;
	return 0;
}

typedef int hdr_stage_fn(struct smtpd_session *s, struct hdr_state *h,
			 const char *field, size_t len, struct buf *out);

/* The header stages, in order (see the comment at the top). */
static hdr_stage_fn *const stages[] = {
    stage_rewrite,
};

/* One whole field through every stage, appended to out. */
static void field_out(struct smtpd_session *s, struct hdr_state *h,
		      const char *field, size_t len, struct buf *out)
{
	const char *in = field;
	size_t in_len = len;
	struct buf *dst = h->a;

	if (h->oversize) {
		buf_append(out, field, len);
		return;
	}
	for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++) {
		buf_reset(dst);
		if (stages[i](s, h, in, in_len, dst) < 0) {
			s->txn->data_failed = true;
			buf_reset(dst);
			buf_append(dst, in, in_len);
		}
		in = buf_data(dst);
		in_len = buf_len(dst);
		dst = dst == h->a ? h->b : h->a;
	}
	buf_append(out, in, in_len);
}

static struct hdr_state *hdr_start(struct smtpd_session *s)
{
	const struct smtpd_cleanup *c = s->smtpd->cleanup;
	struct hdr_state *h = xcalloc(1, sizeof(*h));

	h->held = buf_new();
	h->a = buf_new();
	h->b = buf_new();
	if (c->rw == NULL) {
		h->phase = HDR_BODY;
		s->txn->data_failed = true;
	} else if (client_is_local(c, s)) {
		h->rewrite = true;
		h->mode = REWRITE_MODE_LOCAL;
	} else if (c->remote_domain != NULL) {
		h->rewrite = true;
		h->mode = REWRITE_MODE_REMOTE;
	}
	/* No stage has work for this message: the header streams through
	 * like the body.  (A header_checks stage widens this test.) */
	if (!h->rewrite)
		h->phase = HDR_BODY;
	return h;
}

/* Does this line start a field ("name:")? */
static bool field_start(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len && p[i] != ':' && p[i] > ' ' && p[i] < 0x7f)
		i++;
	while (i < len && i > 0 && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i > 0 && i < len && p[i] == ':';
}

/* Process the complete lines of h->held, output to out; keep the
 * current field and any partial line held. */
static void hdr_lines(struct smtpd_session *s, struct hdr_state *h,
		      struct buf *out, bool end)
{
	const struct smtpd_cleanup *c = s->smtpd->cleanup;
	const char *p = buf_data(h->held);
	size_t len = buf_len(h->held), pos = 0, field_end = 0;

	/* [0, field_end): the current field's complete lines. */
	while (h->phase == HDR_FIELDS) {
		const char *nl = memchr(p + pos, '\n', len - pos);
		size_t l;

		if (nl == NULL) {
			if (!end)
				break;
			l = len - pos; /* the message ends without LF */
			if (l == 0)
				break;
		} else {
			l = (size_t)(nl - (p + pos)) + 1;
		}
		bool cont = p[pos] == ' ' || p[pos] == '\t';
		if (cont && field_end > 0) {
			pos += l;
			field_end = pos;
			if (field_end > c->header_limit)
				h->oversize = true;
			continue;
		}
		/* The field so far is complete. */
		if (field_end > 0)
			field_out(s, h, p, field_end, out);
		h->oversize = false;
		buf_consume(h->held, field_end);
		p = buf_data(h->held);
		len = buf_len(h->held);
		pos -= field_end;
		field_end = 0;
		if (field_start(p + pos, l)) {
			pos += l;
			field_end = pos;
			if (field_end > c->header_limit)
				h->oversize = true;
		} else {
			/* The empty line or a non-header line: the body. */
			h->phase = HDR_BODY;
		}
	}
	if (h->phase == HDR_FIELDS && end && field_end > 0) {
		field_out(s, h, p, field_end, out);
		buf_consume(h->held, field_end);
	}
	if (h->phase == HDR_FIELDS && !end &&
	    buf_len(h->held) > c->header_limit + 1024) {
		/* One line longer than any field may be: not a header we
		 * can hold; everything from here passes as it is. */
		h->oversize = true;
		h->phase = HDR_BODY;
	}
	if (h->phase == HDR_BODY || end) {
		buf_append(out, buf_data(h->held), buf_len(h->held));
		buf_reset(h->held);
		h->phase = HDR_BODY;
	}
}

void smtpd_cleanup_data(struct smtpd_session *s, struct buf *chunk)
{
	struct smtpd_txn *t = s->txn;
	struct smtpd_cleanup_txn *ct;
	struct hdr_state *h;

	if (s->smtpd->cleanup == NULL || t == NULL)
		return;
	ct = txn_state(t);
	if (ct->hdr == NULL)
		ct->hdr = hdr_start(s);
	h = ct->hdr;
	if (h->phase == HDR_BODY && buf_len(h->held) == 0)
		return; /* the body streams through untouched */
	buf_append(h->held, buf_data(chunk), buf_len(chunk));
	buf_reset(chunk);
	hdr_lines(s, h, chunk, false);
	if (h->phase == HDR_BODY && h->fields_changed > 0)
		log_info("%s: %u header field(s) rewritten", smtpd_log_id(s),
			 h->fields_changed);
}

void smtpd_cleanup_data_end(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;
	struct hdr_state *h;
	struct buf *out;

	if (t == NULL || t->cleanup == NULL || t->cleanup->hdr == NULL)
		return;
	h = t->cleanup->hdr;
	if (buf_len(h->held) == 0)
		return;
	out = buf_new();
	hdr_lines(s, h, out, true);
	smtpd_content_data(s, out); /* header_checks... */
	if (buf_len(out) > 0 && !t->data_failed && t->submit != NULL &&
	    smtpd_authres_write(s, buf_data(out), buf_len(out)) < 0)
		t->data_failed = true;
	buf_free(&out);
}
