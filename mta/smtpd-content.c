/*
 * smtpd-content.c - header_checks, mime_header_checks,
 * nested_header_checks and body_checks (smtpd-content.h).
 *
 * The lines, fields and MIME structure are smtpd-content-filter.c's;
 * here the tables are opened, looked up, and their actions applied to
 * the transaction.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "mail/address.h"
#include "map/map.h"
#include "queue/submit.h"

#include "smtpd-authres.h"
#include "smtpd-content.h"
#include "smtpd.h"

#define CT_N CONTENT_TABLES
#define CT_BODY CONTENT_BODY

static const char *const table_param[CT_N] = {
    "header_checks", "mime_header_checks", "nested_header_checks",
    "body_checks"};

struct smtpd_content {
	struct array *maps[CT_N]; /* struct map * */
	unsigned tables;	  /* CONTENT_TABLE_BIT of those with maps */
	char *broken;		  /* a table did not open: refuse mail */
	struct content_filter_limits lim;
};

struct smtpd_content_txn {
	struct smtpd_session *s;
	struct content_filter *filter;
	struct buf *value;
	bool reject;
	unsigned code;
	char dsn[16];
	char *text;
	bool hold, discard;
	char *redirect;
};

static const struct {
	const char *name;
	enum content_action a;
	bool needs_text;
} actions[] = {
    {"DUNNO", CONTENT_DUNNO, false},	{"OK", CONTENT_OK, false},
    {"REJECT", CONTENT_REJECT, false},	{"WARN", CONTENT_WARN, false},
    {"INFO", CONTENT_INFO, false},	{"IGNORE", CONTENT_IGNORE, false},
    {"HOLD", CONTENT_HOLD, false},	{"DISCARD", CONTENT_DISCARD, false},
    {"FILTER", CONTENT_FILTER, true},	{"PREPEND", CONTENT_PREPEND, true},
    {"REPLACE", CONTENT_REPLACE, true}, {"REDIRECT", CONTENT_REDIRECT, true},
};

enum content_action content_action_parse(const char *value, const char **text_r)
{
	const char *p = value;
	size_t n;

	while (*p == ' ' || *p == '\t')
		p++;
	n = strcspn(p, " \t");
	*text_r = p + n;
	while (**text_r == ' ' || **text_r == '\t')
		(*text_r)++;
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (strlen(actions[i].name) != n ||
		    strncasecmp(actions[i].name, p, n) != 0)
			continue;
		if (actions[i].needs_text && **text_r == '\0')
			return CONTENT_UNKNOWN;
		return actions[i].a;
	}
	return CONTENT_UNKNOWN;
}

const char *content_action_name(enum content_action a)
{
	static const char *const names[] = {
	    "dunno",   "ok",	   "reject",  "warn",	"info",
	    "ignore",  "hold",	   "discard", "filter", "prepend",
	    "replace", "redirect", "unknown"};

	return (size_t)a < sizeof(names) / sizeof(names[0]) ? names[a]
							    : "unknown";
}

/* ---- start-up */

static void open_table(struct smtpd_content *c, enum content_table k,
		       const struct smtpd *d, const struct conf *conf)
{
	struct array *words = str_split(conf_str(conf, table_param[k]), ", \t");

	c->maps[k] = array_new();
	for (size_t i = 0; i < array_len(words); i++) {
		const char *w = array_get(words, i);
		struct error err;
		struct map *m;
		char *spec;

		/* Postfix's regexp: tables (POSIX ERE) are read by PCRE: the
		 * same /re/flags syntax, and the regexps people write mean
		 * the same in both. */
		if (str_case_has_prefix(w, "regexp:"))
			spec = xasprintf("pcre:%s", w + 7);
		else
			spec = xstrdup(w);
		m = map_open(spec, &d->map_env, &err);
		if (m == NULL) {
			log_error("%s: %s: %s; mail is refused with 451 until "
				  "a restart",
				  table_param[k], w, err.msg);
			if (c->broken == NULL)
				c->broken = xasprintf("%s: %s", table_param[k],
						      err.msg);
		} else {
			array_push(c->maps[k], m);
		}
		free(spec);
	}
	array_free_with(&words, free);
}

int smtpd_content_open(struct smtpd *d, const struct conf *conf,
		       struct error *err)
{
	struct smtpd_content *c = xcalloc(1, sizeof(*c));
	bool any = false;

	(void)err;
	if (smtpd_receive_overrides(conf) & SMTPD_NO_HEADER_BODY_CHECKS) {
		/* A reinjection listener: checked before the filter. */
		free(c);
		d->content = NULL;
		return 0;
	}
	c->lim.no_mime = conf_bool(conf, "disable_mime_input_processing");
	c->lim.header_limit = (size_t)conf_size(conf, "header_size_limit");
	if (c->lim.header_limit == 0)
		c->lim.header_limit = 102400;
	c->lim.body_limit = (size_t)conf_size(conf, "body_checks_size_limit");
	for (int k = 0; k < CT_N; k++) {
		open_table(c, (enum content_table)k, d, conf);
		if (array_len(c->maps[k]) > 0) {
			c->tables |= CONTENT_TABLE_BIT(k);
			any = true;
		}
	}
	d->content = c;
	if (!any && c->broken == NULL)
		smtpd_content_close(d); /* nothing to do for any message */
	return 0;
}

static void map_free_v(void *p)
{
	struct map *m = p;

	map_free(&m);
}

void smtpd_content_close(struct smtpd *d)
{
	struct smtpd_content *c = d->content;

	if (c == NULL)
		return;
	d->content = NULL;
	for (int k = 0; k < CT_N; k++)
		array_free_with(&c->maps[k], map_free_v);
	free(c->broken);
	free(c);
}

void smtpd_content_txn_free(struct smtpd_txn *t)
{
	struct smtpd_content_txn *ct = t->content;

	if (ct == NULL)
		return;
	t->content = NULL;
	content_filter_free(&ct->filter);
	buf_free(&ct->value);
	free(ct->text);
	free(ct->redirect);
	free(ct);
}

/* ---- acting on a match */

static void log_action(struct smtpd_session *s, const char *verb,
		       const char *what, const char *key, const char *text)
{
	const struct smtpd_txn *t = s->txn;
	char shown[201];
	size_t n = 0;

	/* Message text in the log: at most 200 bytes, control characters
	 * as '?' (a bare CR in a body line must not fake a log line). */
	for (; key[n] != '\0' && n < sizeof(shown) - 1; n++)
		shown[n] = (unsigned char)key[n] < 0x20 && key[n] != '\t' ? '?'
			   : key[n] == 0x7f				  ? '?'
					    : key[n];
	shown[n] = '\0';
	log_info("%s: %s: %s %s from %s[%s]; from=<%s> to=<%s> "
		 "proto=%s helo=<%s>%s%s",
		 smtpd_log_id(s), verb, what, shown,
		 s->client_name != NULL ? s->client_name : "unknown", s->peer,
		 buf_data(t->sender),
		 t->first_rcpt != NULL ? t->first_rcpt : "",
		 s->esmtp ? "ESMTP" : "SMTP", s->helo != NULL ? s->helo : "",
		 *text != '\0' ? ": " : "", text);
}

/* Does this text look like a header field ("Name: value")? */
static bool is_field(const char *p)
{
	size_t n = 0;

	while (p[n] != '\0' && p[n] != ':' && p[n] > ' ' && p[n] < 0x7f)
		n++;
	return n > 0 && p[n] == ':';
}

/*
 * Look key up in table k and act.  item/len: the field or line as it
 * came (with its line end), written to out unless the action drops or
 * replaces it.
 */
static void check(void *ctx, enum content_table k, const char *key,
		  const char *item, size_t len, struct buf *out)
{
	struct smtpd_content_txn *ct = ctx;
	struct smtpd_session *s = ct->s;
	const struct smtpd_content *c = s->smtpd->content;
	const char *what = k == CT_BODY ? "body" : "header";
	enum content_action a = CONTENT_DUNNO;
	const char *text = "";
	int found = 0;

	for (size_t i = 0; i < array_len(c->maps[k]) && found == 0; i++) {
		struct map *m = array_get(c->maps[k], i);
		struct error err;

		found = map_lookup(m, key, ct->value, &err);
		if (found < 0) {
			/* cleanup defers the message on a table error. */
			log_warn("%s: %s: %s: %s; message not accepted, try "
				 "again later",
				 smtpd_log_id(s), table_param[k], map_spec(m),
				 err.msg);
			s->txn->data_failed = true;
		}
	}
	if (found == 1)
		a = content_action_parse(buf_data(ct->value), &text);
	switch (a) {
	case CONTENT_DUNNO:
	case CONTENT_OK:
		break;
	case CONTENT_REJECT:
		ct->reject = true;
		content_filter_stop(ct->filter);
		if ((text[0] == '4' || text[0] == '5') && text[1] == '.' &&
		    isdigit((unsigned char)text[2])) {
			size_t n = strcspn(text, " \t");
			if (n < sizeof(ct->dsn)) {
				memcpy(ct->dsn, text, n);
				ct->dsn[n] = '\0';
				text += n;
				while (*text == ' ' || *text == '\t')
					text++;
			}
		}
		if (ct->dsn[0] == '\0')
			str_copy(ct->dsn, "5.7.1", sizeof(ct->dsn));
		ct->code = ct->dsn[0] == '4' ? 451 : 550;
		ct->text =
		    xstrdup(*text != '\0' ? text : "message content rejected");
		{
			char *why = xasprintf("%s %s", ct->dsn, ct->text);
			log_action(s, "reject", what, key, why);
			free(why);
		}
		break;
	case CONTENT_WARN:
	case CONTENT_INFO:
	case CONTENT_HOLD:
	case CONTENT_FILTER:
	case CONTENT_REDIRECT:
		log_action(s, content_action_name(a), what, key, text);
		if (a == CONTENT_HOLD)
			ct->hold = true;
		if (a == CONTENT_REDIRECT) {
			struct mail_address addr;
			struct error aerr;
			if (address_parse_mailbox(text, strlen(text),
						  ADDRESS_SMTPUTF8, &addr,
						  &aerr) < 0) {
				log_warn("%s: %s: REDIRECT %s: %s: ignored",
					 smtpd_log_id(s), table_param[k], text,
					 aerr.msg);
				break;
			}
			address_clear(&addr);
			free(ct->redirect);
			ct->redirect = xstrdup(text);
		}
		if (a == CONTENT_FILTER)
			smtpd_filter_set(s, text, table_param[k]);
		break;
	case CONTENT_DISCARD:
		log_action(s, "discard", what, key, text);
		ct->discard = true;
		content_filter_stop(ct->filter);
		break;
	case CONTENT_IGNORE:
		log_action(s, "ignore", what, key, "");
		return;
	case CONTENT_PREPEND:
	case CONTENT_REPLACE:
		if (k != CT_BODY && !is_field(text)) {
			log_warn("%s: %s: %s \"%s\" is not a header field: "
				 "ignored",
				 smtpd_log_id(s), table_param[k],
				 content_action_name(a), text);
			break;
		}
		log_action(s, content_action_name(a), what, key, text);
		buf_append_str(out, text);
		buf_append_str(out, "\r\n");
		if (a == CONTENT_REPLACE)
			return;
		break;
	case CONTENT_UNKNOWN:
		log_warn("%s: %s: unknown action \"%s\": ignored",
			 smtpd_log_id(s), table_param[k], buf_data(ct->value));
		break;
	}
	buf_append(out, item, len);
}

static struct smtpd_content_txn *txn_state(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;

	if (t->content == NULL) {
		const struct smtpd_content *c = s->smtpd->content;
		struct smtpd_content_txn *ct = xcalloc(1, sizeof(*ct));
		ct->s = s;
		ct->value = buf_new();
		ct->filter = content_filter_new(&c->lim, c->tables, check, ct);
		t->content = ct;
		if (s->smtpd->content->broken != NULL) {
			log_warn("%s: %s; message not accepted, try again "
				 "later",
				 smtpd_log_id(s), s->smtpd->content->broken);
			t->data_failed = true;
		}
	}
	return t->content;
}

void smtpd_content_data(struct smtpd_session *s, struct buf *chunk)
{
	struct smtpd_content_txn *ct;

	if (s->smtpd->content == NULL || s->txn == NULL)
		return;
	ct = txn_state(s);
	content_filter_feed(ct->filter, chunk);
}

void smtpd_content_data_end(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;
	struct smtpd_content_txn *ct;
	struct buf *out;

	if (s->smtpd->content == NULL || t == NULL)
		return;
	ct = txn_state(s);
	out = buf_new();
	content_filter_end(ct->filter, out);
	if (buf_len(out) > 0 && !t->data_failed && t->submit != NULL &&
	    smtpd_authres_write(s, buf_data(out), buf_len(out)) < 0)
		t->data_failed = true;
	buf_free(&out);
}

bool smtpd_content_message_end(struct smtpd_session *s)
{
	struct smtpd_txn *t = s->txn;
	struct smtpd_content_txn *ct = t->content;

	if (ct == NULL)
		return false;
	if (ct->reject) {
		unsigned code = ct->code;
		char dsn[sizeof(ct->dsn)];
		char *text = xstrdup(ct->text);

		str_copy(dsn, ct->dsn, sizeof(dsn));
		smtpd_txn_reset(s); /* aborts the submission */
		smtpd_reply(s, code, dsn, "%s", text);
		free(text);
		return true;
	}
	t->hold |= ct->hold;
	t->discard |= ct->discard;
	if (ct->redirect != NULL && !t->discard && t->submit != NULL) {
		log_info("%s: redirect: all recipients replaced by <%s>",
			 smtpd_log_id(s), ct->redirect);
		submit_redirect(t->submit, ct->redirect);
		t->nfinal = 1;
	}
	return false;
}
