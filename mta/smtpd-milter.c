/*
 * smtpd-milter.c - Sendmail milters in smtpd ($smtpd_milters,
 * docs/milter.md): the settings, the hooks the session calls at MAIL,
 * RCPT and end of message, and what the milters' verdicts and
 * modifications do to the transaction.
 *
 * While milters are configured the message is not streamed to the
 * queue: smtpd_queue_write() keeps it in memory (the Received header,
 * then what cleanup and the content checks pass on), and accepted
 * recipients are held back (smtpd_milter_keep_rcpt).  At the end of the
 * message every milter sees DATA, the header fields, EOH, the body and
 * end-of-message in turn, each the result of the ones before (as Postfix
 * does); then the edited message and the recipients go to the queue and
 * smtpd goes on with its own end-of-message steps.
 *
 * Stages and answers (Postfix's wording):
 *   reject    550 5.7.1 Command rejected (at RCPT: that recipient)
 *   tempfail  451 4.7.1 Service unavailable - try again later
 *   replycode the milter's own 4xx/5xx text
 *   discard   the message is dropped after 250 (smtpd_check_message_end)
 *   accept    that milter is asked nothing more about the message
 * A milter that cannot be reached, times out or breaks the protocol
 * gets $milter_default_action: tempfail, reject, accept (skipped) or
 * quarantine (skipped, the message goes to the hold queue).
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "queue/submit.h"
#include "smtp/milter_message.h"
#include "tls/io.h"

#include "smtpd-milter.h"
#include "smtpd-sign.h"
#include "smtpd.h"

/* ---- Settings. */

static void def_free(void *p)
{
	struct milter_def *d = p;

	free(d->spec);
	free(d->path);
	free(d->numeric);
	free(d);
}

static int def_parse(const char *spec, struct milter_def **def_r,
		     struct error *err)
{
	struct milter_def *d = xcalloc(1, sizeof(*d));

	d->spec = xstrdup(spec);
	if (str_has_prefix(spec, "unix:")) {
		d->is_unix = true;
		d->path = xstrdup(spec + 5);
	} else if (str_has_prefix(spec, "inet:") || strchr(spec, ':') != NULL) {
		const char *hp = str_has_prefix(spec, "inet:") ? spec + 5 : spec;
		const char *colon = strrchr(hp, ':');
		char *host;
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
		struct addrinfo *ai = NULL;
		char num[NI_MAXHOST];
		int gai;

		if (colon == NULL || colon[1] == '\0')
			goto bad;
		host = xstrndup(hp, (size_t)(colon - hp));
		if (host[0] == '[') { /* [::1]:port */
			memmove(host, host + 1, strlen(host));
			host[strcspn(host, "]")] = '\0';
		}
		gai = getaddrinfo(host[0] != '\0' ? host : "127.0.0.1",
				  colon + 1, &hints, &ai);
		free(host);
		if (gai != 0) {
			def_free(d);
			return error_set(err, ERR_CONFIG, "milter %s: %s", spec,
					 gai_strerror(gai));
		}
		gai = getnameinfo(ai->ai_addr, ai->ai_addrlen, num, sizeof(num),
				  NULL, 0, NI_NUMERICHOST);
		d->port = (unsigned)atoi(colon + 1);
		freeaddrinfo(ai);
		if (gai != 0 || d->port == 0 || d->port > 65535)
			goto bad;
		d->numeric = xstrdup(num);
	} else {
		goto bad;
	}
	*def_r = d;
	return 0;
bad:
	def_free(d);
	return error_set(err, ERR_CONFIG,
			 "milter \"%s\": not inet:host:port or unix:/path",
			 spec);
}

static const char *const MACRO_PARAMS[MILTER_STAGES] = {
    [MILTER_STAGE_CONNECT] = "milter_connect_macros",
    [MILTER_STAGE_HELO] = "milter_helo_macros",
    [MILTER_STAGE_MAIL] = "milter_mail_macros",
    [MILTER_STAGE_RCPT] = "milter_rcpt_macros",
    [MILTER_STAGE_DATA] = "milter_data_macros",
    [MILTER_STAGE_EOM] = "milter_end_of_data_macros",
    [MILTER_STAGE_EOH] = "milter_end_of_header_macros",
};

static void milters_free(struct smtpd_milters *m)
{
	array_free_with(&m->defs, def_free);
	for (int i = 0; i < MILTER_STAGES; i++)
		array_free_with(&m->macros[i], free);
	free(m->daemon_name);
	free(m->myhostname);
	free(m);
}

int smtpd_milter_open(struct smtpd *d, const struct conf *conf,
		      struct error *err)
{
	struct smtpd_milters *m;
	struct array *specs;
	const char *act;

	d->milters = NULL;
	if (smtpd_receive_overrides(conf) & SMTPD_NO_MILTERS)
		return 0; /* a reinjection listener */
	specs = str_split(conf_str(conf, "smtpd_milters"), ", \t");
	if (array_len(specs) == 0) {
		array_free_with(&specs, free);
		return 0;
	}
	m = xcalloc(1, sizeof(*m));
	m->defs = array_new();
	for (size_t i = 0; i < array_len(specs); i++) {
		struct milter_def *def;
		if (def_parse(array_get(specs, i), &def, err) < 0) {
			array_free_with(&specs, free);
			milters_free(m);
			return -1;
		}
		array_push(m->defs, def);
	}
	array_free_with(&specs, free);
	act = conf_str(conf, "milter_default_action");
	if (strcasecmp(act, "tempfail") == 0)
		m->default_action = MILTER_DEFAULT_TEMPFAIL;
	else if (strcasecmp(act, "accept") == 0)
		m->default_action = MILTER_DEFAULT_ACCEPT;
	else if (strcasecmp(act, "reject") == 0)
		m->default_action = MILTER_DEFAULT_REJECT;
	else if (strcasecmp(act, "quarantine") == 0)
		m->default_action = MILTER_DEFAULT_QUARANTINE;
	else {
		milters_free(m);
		return error_set(err, ERR_CONFIG,
				 "milter_default_action: \"%s\" is not "
				 "tempfail, accept, reject or quarantine",
				 act);
	}
	m->version = (uint32_t)conf_int(conf, "milter_protocol");
	if (m->version < 2 || m->version > MILTER_VERSION)
		m->version = MILTER_VERSION;
	m->connect_ms = conf_time(conf, "milter_connect_timeout") * 1000;
	m->command_ms = conf_time(conf, "milter_command_timeout") * 1000;
	m->content_ms = conf_time(conf, "milter_content_timeout") * 1000;
	for (int i = 0; i < MILTER_STAGES; i++)
		m->macros[i] = str_split(conf_str(conf, MACRO_PARAMS[i]),
					 ", \t");
	m->daemon_name = xstrdup(conf_str(conf, "milter_macro_daemon_name"));
	m->myhostname = xstrdup(conf_str(conf, "myhostname"));
	d->milters = m;
	log_info("milters: %zu (%s), default action %s", array_len(m->defs),
		 conf_str(conf, "smtpd_milters"), act);
	return 0;
}

void smtpd_milter_close(struct smtpd *d)
{
	if (d->milters != NULL)
		milters_free(d->milters);
	d->milters = NULL;
}

/* ---- The transaction's state. */

struct held_rcpt {
	char *address; /* as RCPT gave it, before alias expansion */
	char *addr;    /* final */
	char *orcpt;
	unsigned notify;
};

struct smtpd_milter_txn {
	struct smtpd_session *s;
	struct mconn *conns;
	size_t n;
	size_t cur;
	bool connect_sent;
	bool running;
	bool failed;		 /* tempfail/reject default for all stages */
	struct buf *captured;	 /* the message, as it would be queued */
	struct milter_message *msg;
	struct array *rcpts;	 /* struct held_rcpt * */
	const char *rcpt;	 /* the RCPT being asked about */
	char *log_id;
	/* the stage in progress */
	mconn_build_fn *build;
	void (*each)(struct smtpd_milter_txn *mt, struct mconn *c);
	void (*stage_done)(struct smtpd_milter_txn *mt, enum mverdict v,
			   const char *text);
	/* RCPT */
	smtpd_milter_rcpt_fn *rcpt_done;
	void *rcpt_arg;
	smtpd_milter_end_fn *end_next;
	smtpd_milter_mail_fn *mail_next;
	bool hold;
	char *quarantine;
	/* the verdict on its way to stage_done (stage_finish) */
	enum mverdict final_v;
	char *final_text;
};

static void stage_deferred(struct ev *ev, struct smtpd_milter_txn *mt);

static void held_free(void *p)
{
	struct held_rcpt *h = p;

	free(h->address);
	free(h->addr);
	free(h->orcpt);
	free(h);
}

void smtpd_milter_txn_free(struct smtpd_txn *t)
{
	struct smtpd_milter_txn *mt = t->milter;

	if (mt == NULL)
		return;
	t->milter = NULL;
	ev_defer_cancel(mt->s->smtpd->ev,
			(ev_defer_fn *)(void (*)(void))stage_deferred, mt);
	free(mt->final_text);
	for (size_t i = 0; i < mt->n; i++)
		mconn_close(&mt->conns[i]);
	free(mt->conns);
	buf_free(&mt->captured);
	milter_message_free(&mt->msg);
	array_free_with(&mt->rcpts, held_free);
	free(mt->log_id);
	free(mt->quarantine);
	free(mt);
}

static struct smtpd_milter_txn *mt_new(struct smtpd_session *s)
{
	const struct smtpd_milters *m = s->smtpd->milters;
	struct smtpd_milter_txn *mt = xcalloc(1, sizeof(*mt));

	mt->s = s;
	mt->n = array_len(m->defs);
	mt->conns = xcalloc(mt->n, sizeof(*mt->conns));
	mt->log_id = xstrdup(s->id);
	for (size_t i = 0; i < mt->n; i++)
		mconn_init(&mt->conns[i], mt, m, array_get(m->defs, i),
			   s->smtpd->ev, mt->log_id);
	mt->captured = buf_new();
	mt->rcpts = array_new();
	return mt;
}

/* ---- Macros. */

/* The value of a macro now, or NULL: not sent. */
static const char *macro_value(struct smtpd_milter_txn *mt, const char *name,
			       struct buf *tmp)
{
	struct smtpd_session *s = mt->s;
	const struct smtpd_milters *m = s->smtpd->milters;
	struct smtpd_txn *t = s->txn;

	if (strcmp(name, "j") == 0)
		return m->myhostname;
	if (strcmp(name, "{daemon_name}") == 0)
		return m->daemon_name;
	if (strcmp(name, "v") == 0)
		return "Postern";
	if (strcmp(name, "_") == 0) {
		buf_reset(tmp);
		buf_printf(tmp, "%s [%s]",
			   s->client_name != NULL ? s->client_name : "unknown",
			   s->peer);
		return buf_data(tmp);
	}
	if (strcmp(name, "{client_addr}") == 0)
		return s->peer;
	if (strcmp(name, "{client_name}") == 0)
		return s->client_name != NULL ? s->client_name : "unknown";
	if (strcmp(name, "{client_port}") == 0) {
		buf_reset(tmp);
		buf_printf(tmp, "%u", s->peer_port);
		return buf_data(tmp);
	}
	if (strcmp(name, "i") == 0)
		return t != NULL && t->id[0] != '\0' ? t->id : NULL;
	if (strcmp(name, "{auth_authen}") == 0)
		return s->auth_user;
	if (strcmp(name, "{auth_type}") == 0)
		return s->auth_user != NULL ? "PLAIN" : NULL;
	if (strcmp(name, "{mail_addr}") == 0)
		return t != NULL ? buf_data(t->sender) : NULL;
	if (strcmp(name, "{rcpt_addr}") == 0)
		return mt->rcpt;
	if (strcmp(name, "{mail_mailer}") == 0 ||
	    strcmp(name, "{rcpt_mailer}") == 0)
		return "smtp";
	if (s->io != NULL && io_tls_active(s->io)) {
		if (strcmp(name, "{tls_version}") == 0)
			return io_tls_protocol(s->io);
		if (strcmp(name, "{cipher}") == 0)
			return io_tls_cipher(s->io);
		if (strcmp(name, "{cipher_bits}") == 0) {
			buf_reset(tmp);
			buf_printf(tmp, "%d", io_tls_cipher_bits(s->io));
			return buf_data(tmp);
		}
		/* As Postfix: the client certificate's subject and issuer
		 * CN (smtpd_tls_ask_ccert, smtpd-ccert.c). */
		if (s->ccert != NULL && s->ccert->present &&
		    strcmp(name, "{cert_subject}") == 0)
			return s->ccert->subject_cn;
		if (s->ccert != NULL && s->ccert->present &&
		    strcmp(name, "{cert_issuer}") == 0)
			return s->ccert->issuer_cn;
	}
	return NULL;
}

/* The SMFIC_MACRO packet of a stage (none when no macro has a value). */
static void add_macros(struct mconn *c, enum milter_stage stage, char cmd)
{
	struct smtpd_milter_txn *mt = c->mt;
	struct array *names;
	struct array *owned = NULL;
	const char **nv, **vv;
	size_t n = 0;

	if (c->symlist[stage] != NULL)
		names = owned = str_split(c->symlist[stage], ", \t");
	else
		names = c->cfg->macros[stage];
	nv = xcalloc(array_len(names) + 1, sizeof(*nv));
	vv = xcalloc(array_len(names) + 1, sizeof(*vv));
	struct array *tmps = array_new();
	for (size_t i = 0; i < array_len(names); i++) {
		struct buf *tmp = buf_new();
		const char *v = macro_value(mt, array_get(names, i), tmp);
		array_push(tmps, tmp);
		if (v == NULL)
			continue;
		nv[n] = array_get(names, i);
		vv[n++] = v;
	}
	if (n > 0) {
		struct buf *b = buf_new();
		milter_put_macros(b, cmd, nv, vv, n);
		mconn_add(c, MILTER_CMD_MACRO, false, b);
	}
	for (size_t i = 0; i < array_len(tmps); i++) {
		struct buf *tmp = array_get(tmps, i);
		buf_free(&tmp);
	}
	array_free(&tmps);
	free(nv);
	free(vv);
	if (owned != NULL)
		array_free_with(&owned, free);
}

static bool wants(const struct mconn *c, uint32_t no)
{
	return (c->protocol & no) == 0;
}

/* ---- Running a stage over the milters in order. */

static void stage_next(struct smtpd_milter_txn *mt);

static void stage_deferred(struct ev *ev, struct smtpd_milter_txn *mt)
{
	enum mverdict v = mt->final_v;
	char *text = mt->final_text;

	(void)ev;
	mt->final_text = NULL;
	mt->stage_done(mt, v, text); /* may free mt */
	free(text);
}

/* The stage's verdict goes to stage_done from the loop, never from
 * inside a connection's callbacks: stage_done may end the session and
 * free the connections. */
static void stage_finish(struct smtpd_milter_txn *mt, enum mverdict v,
			 const char *text)
{
	mt->running = false;
	mt->final_v = v;
	free(mt->final_text);
	mt->final_text = text != NULL ? xstrdup(text) : NULL;
	EV_DEFER(mt->s->smtpd->ev, stage_deferred, mt);
}

static void verdict_done(struct mconn *c, enum mverdict v, const char *text)
{
	struct smtpd_milter_txn *mt = c->mt;
	const struct smtpd_milters *m = c->cfg;

	if (v == MV_FAILED) {
		mconn_mods_clear(c); /* half an answer counts for nothing */
		switch (m->default_action) {
		case MILTER_DEFAULT_ACCEPT:
			c->disabled = true;
			v = MV_CONTINUE;
			break;
		case MILTER_DEFAULT_QUARANTINE:
			c->disabled = true;
			mt->hold = true;
			v = MV_CONTINUE;
			break;
		case MILTER_DEFAULT_REJECT:
			v = MV_REJECT;
			break;
		case MILTER_DEFAULT_TEMPFAIL:
			v = MV_TEMPFAIL;
			break;
		}
	}
	if (v == MV_ACCEPT) {
		c->disabled = true; /* nothing more for this message */
		v = MV_CONTINUE;
	}
	if (v != MV_CONTINUE) {
		stage_finish(mt, v, text);
		return;
	}
	if (mt->each != NULL)
		mt->each(mt, c);
	mt->cur++;
	stage_next(mt);
}

static void stage_next(struct smtpd_milter_txn *mt)
{
	while (mt->cur < mt->n && mt->conns[mt->cur].disabled)
		mt->cur++;
	if (mt->cur >= mt->n) {
		stage_finish(mt, MV_CONTINUE, NULL);
		return;
	}
	mconn_run(&mt->conns[mt->cur], mt->build, verdict_done);
}

static void stage_run(struct smtpd_milter_txn *mt, mconn_build_fn *build,
		      void (*each)(struct smtpd_milter_txn *, struct mconn *),
		      void (*done)(struct smtpd_milter_txn *, enum mverdict,
				   const char *))
{
	mt->cur = 0;
	mt->build = build;
	mt->each = each;
	mt->stage_done = done;
	mt->running = true;
	stage_next(mt);
}

/* The reply for a verdict (REPLY: the milter's text). */
static void verdict_reply(struct smtpd_session *s, enum mverdict v,
			  const char *text, const char *stage)
{
	struct smtp_reply r;

	if (v == MV_REPLY && text != NULL) {
		log_info("%s: milter-reject: %s from %s: %s", smtpd_log_id(s),
			 stage, smtpd_client_log(s), text);
		if (strstr(text, "\r\n") != NULL) {
			/* Multi-line: sent as the milter wrote it. */
			struct buf *b = buf_new_str(text);
			buf_append_str(b, "\r\n");
			smtpd_reply_raw(s, buf_data(b));
			buf_free(&b);
			s->errors++;
			return;
		}
		/* "550 5.7.1 text" / "550 text" */
		unsigned code = (unsigned)atoi(text);
		const char *rest = text + 3;
		char enh[SMTP_ENHANCED_MAX] = "";
		while (*rest == ' ')
			rest++;
		size_t el = strspn(rest, "0123456789.");
		if (el > 0 && el < sizeof(enh) &&
		    (rest[el] == ' ' || rest[el] == '\0') &&
		    rest[0] == text[0]) {
			memcpy(enh, rest, el);
			enh[el] = '\0';
			rest += el;
			while (*rest == ' ')
				rest++;
		}
		smtp_reply_set(&r, code, enh, "%s", rest);
	} else if (v == MV_TEMPFAIL) {
		smtp_reply_set(&r, 451, "4.7.1",
			       "Service unavailable - try again later");
	} else {
		smtp_reply_set(&r, 550, "5.7.1", "Command rejected");
	}
	if (v != MV_REPLY)
		log_info("%s: milter-%s: %s from %s: %u %s %s",
			 smtpd_log_id(s),
			 v == MV_TEMPFAIL ? "tempfail" : "reject", stage,
			 smtpd_client_log(s), r.code, r.enhanced, r.text);
	smtpd_reply_error(s, &r);
}

/* MAIL or RCPT: the stage's macros, then cmd with its one argument
 * "<address>". */
static void add_address(struct mconn *c, enum milter_stage stage, char cmd,
			const char *address, bool want_reply)
{
	struct buf *arg = buf_new();
	struct buf *b = buf_new();
	const char *args[1];

	buf_printf(arg, "<%s>", address);
	args[0] = buf_data(arg);
	add_macros(c, stage, cmd);
	milter_put_args(b, cmd, args, 1);
	mconn_add(c, cmd, want_reply, b);
	buf_free(&arg);
}

/* DATA, EOH or end of message: the stage's macros, then cmd alone. */
static void add_bare(struct mconn *c, enum milter_stage stage, char cmd,
		     bool want_reply)
{
	struct buf *b = buf_new();

	add_macros(c, stage, cmd);
	milter_put_cmd(b, cmd);
	mconn_add(c, cmd, want_reply, b);
}

/* ---- MAIL (with CONNECT and HELO the first time). */

static void build_mail(struct mconn *c)
{
	struct smtpd_milter_txn *mt = c->mt;
	struct smtpd_session *s = mt->s;
	struct buf *b;

	if (wants(c, MILTER_P_NOCONNECT)) {
		add_macros(c, MILTER_STAGE_CONNECT, MILTER_CMD_CONNECT);
		b = buf_new();
		milter_put_connect(b,
				   s->client_name != NULL ? s->client_name
							  : "unknown",
				   s->peer, s->peer_port);
		mconn_add(c, MILTER_CMD_CONNECT, wants(c, MILTER_P_NR_CONN), b);
	}
	if (s->helo != NULL && wants(c, MILTER_P_NOHELO)) {
		add_macros(c, MILTER_STAGE_HELO, MILTER_CMD_HELO);
		b = buf_new();
		milter_put_helo(b, s->helo);
		mconn_add(c, MILTER_CMD_HELO, wants(c, MILTER_P_NR_HELO), b);
	}
	if (wants(c, MILTER_P_NOMAIL))
		add_address(c, MILTER_STAGE_MAIL, MILTER_CMD_MAIL,
			    buf_data(s->txn->sender),
			    wants(c, MILTER_P_NR_MAIL));
}

static void mail_done(struct smtpd_milter_txn *mt, enum mverdict v,
		      const char *text)
{
	struct smtpd_session *s = mt->s;

	if (s->dead) {
		smtpd_session_release(s);
		return;
	}
	if (v == MV_DISCARD) {
		s->txn->discard = true;
		v = MV_CONTINUE;
	}
	if (v == MV_CONTINUE) {
		/* Resume first: next may suspend the session again. */
		smtpd_milter_mail_fn *next = mt->mail_next;
		smtpd_session_resume(s);
		next(s);
		smtpd_session_release(s);
		return;
	}
	verdict_reply(s, v, text, "MAIL");
	smtpd_txn_reset(s);
	smtpd_session_release(s);
	smtpd_session_resume(s);
}

bool smtpd_milter_mail(struct smtpd_session *s, smtpd_milter_mail_fn *next)
{
	if (s->smtpd->milters == NULL || s->txn == NULL)
		return false;
	s->txn->milter = mt_new(s);
	s->txn->milter->mail_next = next;
	s->pending++;
	smtpd_session_suspend(s);
	stage_run(s->txn->milter, build_mail, NULL, mail_done);
	return true;
}

/* ---- RCPT. */

static void build_rcpt(struct mconn *c)
{
	if (wants(c, MILTER_P_NORCPT))
		add_address(c, MILTER_STAGE_RCPT, MILTER_CMD_RCPT, c->mt->rcpt,
			    wants(c, MILTER_P_NR_RCPT));
}

static void rcpt_done(struct smtpd_milter_txn *mt, enum mverdict v,
		      const char *text)
{
	struct smtpd_session *s = mt->s;
	smtpd_milter_rcpt_fn *done = mt->rcpt_done;
	struct smtp_reply r;

	mt->rcpt = NULL;
	if (s->dead || v == MV_CONTINUE) {
		done(s, mt->rcpt_arg, NULL);
		return;
	}
	if (v == MV_DISCARD) {
		s->txn->discard = true;
		done(s, mt->rcpt_arg, NULL);
		return;
	}
	/* The refusal goes back to smtpd-rcpt.c, which answers it with one
	 * line: the last of a multi-line REPLYCODE. */
	if (v == MV_REPLY && text != NULL && strstr(text, "\r\n") != NULL) {
		const char *last = text;
		for (const char *p = strstr(text, "\r\n"); p != NULL;
		     p = strstr(p + 2, "\r\n"))
			last = p + 2;
		text = last;
	}
	if (v == MV_REPLY && text != NULL && strlen(text) > 4) {
		unsigned code = (unsigned)atoi(text);
		const char *rest = text + 4;
		char enh[SMTP_ENHANCED_MAX] = "";
		size_t el = strspn(rest, "0123456789.");
		if (el > 0 && el < sizeof(enh) && rest[el] == ' ') {
			memcpy(enh, rest, el);
			enh[el] = '\0';
			rest += el + 1;
		}
		smtp_reply_set(&r, code, enh, "%s", rest);
	} else if (v == MV_TEMPFAIL) {
		smtp_reply_set(&r, 451, "4.7.1",
			       "Service unavailable - try again later");
	} else {
		smtp_reply_set(&r, 550, "5.7.1", "Command rejected");
	}
	log_info("%s: milter-reject: RCPT from %s: %u %s %s",
		 smtpd_log_id(s), smtpd_client_log(s), r.code, r.enhanced,
		 r.text);
	done(s, mt->rcpt_arg, &r);
}

bool smtpd_milter_rcpt(struct smtpd_session *s, const char *address,
		       smtpd_milter_rcpt_fn *done, void *arg)
{
	struct smtpd_milter_txn *mt = s->txn != NULL ? s->txn->milter : NULL;

	if (mt == NULL)
		return false;
	mt->rcpt = address;
	mt->rcpt_done = done;
	mt->rcpt_arg = arg;
	stage_run(mt, build_rcpt, NULL, rcpt_done);
	return true;
}

bool smtpd_milter_keep_rcpt(struct smtpd_session *s, const char *address,
			    const struct submit_rcpt *rc)
{
	struct smtpd_milter_txn *mt = s->txn != NULL ? s->txn->milter : NULL;
	struct held_rcpt *h;

	if (mt == NULL)
		return false;
	h = xcalloc(1, sizeof(*h));
	h->address = xstrdup(address);
	h->addr = xstrdup(rc->addr);
	h->orcpt = rc->orcpt != NULL ? xstrdup(rc->orcpt) : NULL;
	h->notify = rc->notify;
	array_push(mt->rcpts, h);
	return true;
}

int smtpd_queue_write(struct smtpd_session *s, const void *data, size_t len)
{
	struct smtpd_txn *t = s->txn;

	smtpd_sign_feed(s, data, len); /* the DKIM decision's header */
	if (t->milter != NULL) {
		buf_append(t->milter->captured, data, len);
		return t->submit != NULL ? 0 : -1;
	}
	return submit_write(t->submit, data, len);
}

/* ---- End of message. */

static void build_message(struct mconn *c)
{
	struct smtpd_milter_txn *mt = c->mt;
	bool leadspc = (c->protocol & MILTER_P_HDR_LEADSPC) != 0;
	struct buf *b;
	struct buf *value = buf_new();

	if (wants(c, MILTER_P_NODATA))
		add_bare(c, MILTER_STAGE_DATA, MILTER_CMD_DATA,
			 wants(c, MILTER_P_NR_DATA));
	if (wants(c, MILTER_P_NOHDRS)) {
		for (size_t i = 0; i < milter_message_header_count(mt->msg);
		     i++) {
			const char *name;
			milter_message_header(mt->msg, i, leadspc, &name,
					      value);
			b = buf_new();
			milter_put_header(b, name, buf_data(value));
			mconn_add(c, MILTER_CMD_HEADER,
				  wants(c, MILTER_P_NR_HDR), b);
		}
	}
	if (wants(c, MILTER_P_NOEOH))
		add_bare(c, MILTER_STAGE_EOH, MILTER_CMD_EOH,
			 wants(c, MILTER_P_NR_EOH));
	if (wants(c, MILTER_P_NOBODY)) {
		const struct buf *body = milter_message_body(mt->msg);
		const char *p = buf_data(body);
		size_t left = buf_len(body);
		while (left > 0) {
			size_t n = left < MILTER_CHUNK_MAX ? left
							   : MILTER_CHUNK_MAX;
			b = buf_new();
			milter_put_body(b, p, n);
			mconn_add(c, MILTER_CMD_BODY,
				  wants(c, MILTER_P_NR_BODY), b);
			p += n;
			left -= n;
		}
	}
	add_bare(c, MILTER_STAGE_EOM, MILTER_CMD_BODYEOB, true);
	buf_free(&value);
}

static bool allowed(const struct mconn *c, uint32_t act, const char *what)
{
	if (c->actions & act)
		return true;
	log_warn("%s: milter %s: %s without negotiating it: ignored",
		 c->log_id, c->def->spec, what);
	return false;
}

/* The edits of the milter that just finished, in the order sent. */
static void apply_mods(struct smtpd_milter_txn *mt, struct mconn *c)
{
	struct smtpd_session *s = mt->s;
	struct smtpd_txn *t = s->txn;
	bool leadspc = (c->protocol & MILTER_P_HDR_LEADSPC) != 0;

	for (size_t i = 0; i < array_len(c->mods); i++) {
		const struct mmod *m = array_get(c->mods, i);
		const struct milter_reply *r = &m->r;
		char *a;

		switch (r->cmd) {
		case MILTER_REP_ADDHEADER:
		case MILTER_REP_INSHEADER:
		case MILTER_REP_CHGHEADER:
		case MILTER_REP_REPLBODY:
			if (allowed(c, milter_reply_action(r->cmd),
				    milter_reply_name(r->cmd)))
				milter_message_apply(mt->msg, r, leadspc);
			break;
		case MILTER_REP_ADDRCPT:
		case MILTER_REP_ADDRCPT_PAR:
			if (!allowed(c, milter_reply_action(r->cmd), "addrcpt"))
				break;
			a = milter_addr_strip(r->addr);
			if (a[0] != '\0') {
				struct held_rcpt *h = xcalloc(1, sizeof(*h));
				h->address = xstrdup(a);
				h->addr = xstrdup(a);
				h->orcpt = xasprintf("rfc822;%s", a);
				array_push(mt->rcpts, h);
				log_info("%s: milter %s: add rcpt <%s>",
					 smtpd_log_id(s), c->def->spec, a);
			}
			free(a);
			break;
		case MILTER_REP_DELRCPT:
			if (!allowed(c, MILTER_ACT_DELRCPT, "delrcpt"))
				break;
			a = milter_addr_strip(r->addr);
			for (size_t k = array_len(mt->rcpts); k > 0; k--) {
				struct held_rcpt *h =
				    array_get(mt->rcpts, k - 1);
				if (strcasecmp(h->address, a) == 0 ||
				    strcasecmp(h->addr, a) == 0) {
					array_remove(mt->rcpts, k - 1);
					held_free(h);
				}
			}
			log_info("%s: milter %s: delete rcpt <%s>",
				 smtpd_log_id(s), c->def->spec, a);
			free(a);
			break;
		case MILTER_REP_CHGFROM:
			if (!allowed(c, MILTER_ACT_CHGFROM, "chgfrom"))
				break;
			a = milter_addr_strip(r->addr);
			log_info("%s: milter %s: change sender <%s> to <%s>",
				 smtpd_log_id(s), c->def->spec,
				 buf_data(t->sender), a);
			buf_set_str(t->sender, a);
			if (t->submit != NULL)
				submit_set_sender(t->submit, a);
			free(a);
			break;
		case MILTER_REP_QUARANTINE:
			if (!allowed(c, MILTER_ACT_QUARANTINE, "quarantine"))
				break;
			mt->hold = true;
			free(mt->quarantine);
			mt->quarantine = xstrdup(r->addr);
			log_info("%s: milter %s: quarantine: %s",
				 smtpd_log_id(s), c->def->spec, r->addr);
			break;
		}
	}
	milter_message_body_done(mt->msg);
	mconn_mods_clear(c);
}

/* Everything passed: the message and its recipients go to the queue. */
static void message_out(struct smtpd_milter_txn *mt)
{
	struct smtpd_session *s = mt->s;
	struct smtpd_txn *t = s->txn;
	struct buf *out = buf_new();

	milter_message_write(mt->msg, out);
	t->size = buf_len(out);
	if (t->submit == NULL ||
	    submit_write(t->submit, buf_data(out), buf_len(out)) < 0)
		t->data_failed = true;
	buf_free(&out);
	t->nfinal = 0;
	for (size_t i = 0; i < array_len(mt->rcpts); i++) {
		const struct held_rcpt *h = array_get(mt->rcpts, i);
		struct submit_rcpt rc = {
		    .addr = h->addr, .orcpt = h->orcpt, .notify = h->notify};
		if (t->submit != NULL)
			submit_add_rcpt(t->submit, &rc);
		t->nfinal++;
	}
	if (mt->hold)
		t->hold = true;
}

static void end_done(struct smtpd_milter_txn *mt, enum mverdict v,
		     const char *text)
{
	struct smtpd_session *s = mt->s;

	char *own = text != NULL ? xstrdup(text) : NULL;

	if (s->dead) {
		free(own);
		smtpd_session_release(s);
		return;
	}
	/* The text lives in a connection: own it before they close. */
	text = own;
	for (size_t i = 0; i < mt->n; i++)
		mconn_close(&mt->conns[i]);
	if (v == MV_DISCARD) {
		s->txn->discard = true; /* smtpd_check_message_end drops it */
		v = MV_CONTINUE;
	}
	if (v == MV_CONTINUE) {
		message_out(mt);
		if (s->txn->data_failed) {
			log_warn("%s: queue write failed", smtpd_log_id(s));
			smtpd_txn_reset(s);
			smtpd_reply(s, 451, "4.3.0",
				    "Error: queue file write error");
		} else {
			/* Resume first: the commit suspends the session
			 * again until the queue answers. */
			smtpd_milter_end_fn *next = mt->end_next;
			free(own);
			smtpd_session_resume(s);
			next(s); /* may reset the transaction (mt) */
			smtpd_session_release(s);
			return;
		}
	} else {
		verdict_reply(s, v, text, "END-OF-MESSAGE");
		smtpd_txn_reset(s);
	}
	free(own);
	smtpd_session_release(s);
	smtpd_session_resume(s);
}

bool smtpd_milter_message_end(struct smtpd_session *s,
			      smtpd_milter_end_fn *next)
{
	struct smtpd_milter_txn *mt = s->txn != NULL ? s->txn->milter : NULL;

	if (mt == NULL)
		return false;
	mt->msg = milter_message_parse(buf_data(mt->captured),
				       buf_len(mt->captured));
	buf_free(&mt->captured);
	mt->captured = buf_new();
	mt->end_next = next;
	s->pending++;
	smtpd_session_suspend(s);
	stage_run(mt, build_message, apply_mods, end_done);
	return true;
}
