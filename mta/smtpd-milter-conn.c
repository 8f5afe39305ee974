/*
 * smtpd-milter-conn.c - one milter connection on the event loop
 * (smtpd-milter.h): connect, option negotiation, sending a stage's
 * packets and reading the answers, with milter_connect_timeout,
 * milter_command_timeout and milter_content_timeout.  Any protocol
 * error, timeout or hang-up reports MV_FAILED once and closes the
 * connection; the caller applies milter_default_action.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "tls/io.h"

#include "smtpd-milter.h"

static void pkt_free(void *p)
{
	struct mpkt *k = p;

	buf_free(&k->data);
	free(k);
}

static void mod_free(void *p)
{
	struct mmod *m = p;

	buf_free(&m->payload);
	free(m);
}

void mconn_init(struct mconn *c, struct smtpd_milter_txn *mt,
		const struct smtpd_milters *cfg, const struct milter_def *def,
		struct ev *ev, const char *log_id)
{
	memset(c, 0, sizeof(*c));
	c->mt = mt;
	c->cfg = cfg;
	c->def = def;
	c->ev = ev;
	c->log_id = log_id;
	c->pkts = array_new();
	c->mods = array_new();
	c->text = buf_new();
}

void mconn_mods_clear(struct mconn *c)
{
	while (array_len(c->mods) > 0)
		mod_free(array_pop(c->mods));
}

static void pkts_clear(struct mconn *c)
{
	while (array_len(c->pkts) > 0)
		pkt_free(array_pop(c->pkts));
	c->next = 0;
}

static void conn_timeout(struct ev *ev, struct mconn *c);

void mconn_close(struct mconn *c)
{
	if (c->pkts == NULL)
		return;
	EV_TIMER_DEL(c->ev, conn_timeout, c);
	if (c->io != NULL && c->negotiated) {
		/* Best effort: a milter that reads QUIT frees its state at
		 * once instead of at the hang-up. */
		struct buf *q = buf_new();
		milter_put_cmd(q, MILTER_CMD_QUIT);
		(void)!write(io_fd(c->io), buf_data(q), buf_len(q));
		buf_free(&q);
	}
	io_free(&c->io);
	pkts_clear(c);
	array_free(&c->pkts);
	mconn_mods_clear(c);
	array_free(&c->mods);
	buf_free(&c->text);
	for (int i = 0; i < MILTER_STAGES; i++)
		free(c->symlist[i]);
	memset(c->symlist, 0, sizeof(c->symlist));
	c->done = NULL;
}

void mconn_add(struct mconn *c, char cmd, bool want_reply, struct buf *data)
{
	struct mpkt *k = xcalloc(1, sizeof(*k));

	k->cmd = cmd;
	k->want_reply = want_reply;
	k->data = data;
	array_push(c->pkts, k);
}

static void finish(struct mconn *c, enum mverdict v, const char *text)
{
	mconn_done_fn *done = c->done;

	EV_TIMER_DEL(c->ev, conn_timeout, c);
	c->waiting = false;
	c->done = NULL;
	pkts_clear(c);
	if (done != NULL)
		done(c, v, text);
}

static void fail(struct mconn *c, const char *why)
{
	log_warn("%s: milter %s: %s", c->log_id, c->def->spec, why);
	io_free(&c->io);
	c->connected = false;
	c->negotiated = false;
	finish(c, MV_FAILED, NULL);
}

static void conn_timeout(struct ev *ev, struct mconn *c)
{
	(void)ev;
	fail(c, "timeout");
}

static void wait_reply(struct mconn *c, char cmd, int64_t ms)
{
	c->waiting = true;
	c->waiting_cmd = cmd;
	c->wait_ms = ms;
	EV_TIMER_DEL(c->ev, conn_timeout, c);
	EV_TIMER_ADD(c->ev, ms, conn_timeout, c);
}

static bool is_content(char cmd)
{
	return cmd == MILTER_CMD_HEADER || cmd == MILTER_CMD_EOH ||
	       cmd == MILTER_CMD_BODY || cmd == MILTER_CMD_BODYEOB;
}

/* Send packets up to the next one that waits for an answer. */
static void pump(struct mconn *c)
{
	while (c->next < array_len(c->pkts)) {
		struct mpkt *k = array_get(c->pkts, c->next++);

		io_write(c->io, buf_data(k->data), buf_len(k->data));
		if (k->want_reply) {
			wait_reply(c, k->cmd,
				   is_content(k->cmd) ? c->cfg->content_ms
						      : c->cfg->command_ms);
			return;
		}
	}
	finish(c, MV_CONTINUE, NULL);
}

/* After SMFIR_SKIP: no more body chunks. */
static void skip_body(struct mconn *c)
{
	while (c->next < array_len(c->pkts)) {
		struct mpkt *k = array_get(c->pkts, c->next);
		if (k->cmd != MILTER_CMD_BODY)
			break;
		c->next++;
	}
}

static void negotiated(struct mconn *c, const struct milter_reply *r)
{
	if (r->version < 2 || r->version > MILTER_VERSION) {
		fail(c, "unsupported protocol version");
		return;
	}
	/* It may ask for no more than we offered. */
	c->actions = r->actions & MILTER_ACT_ALL;
	c->protocol = r->protocol & MILTER_P_ALL;
	for (int i = 0; i < MILTER_STAGES; i++)
		if (r->symlist[i] != NULL)
			c->symlist[i] = xstrdup(r->symlist[i]);
	c->negotiated = true;
	c->waiting = false;
	EV_TIMER_DEL(c->ev, conn_timeout, c);
	c->build(c);
	pump(c);
}

static void keep_mod(struct mconn *c, char cmd, const char *p, size_t len)
{
	struct mmod *m = xcalloc(1, sizeof(*m));
	struct error err;

	/* Decode the copy so its strings point into memory we keep. */
	m->payload = buf_new_size(len);
	buf_append(m->payload, p, len);
	(void)milter_reply_decode(cmd, buf_data(m->payload), len, &m->r, &err);
	array_push(c->mods, m);
}

/* One answer; false when the connection is done with this stage. */
static bool handle(struct mconn *c, char cmd, const char *p, size_t len)
{
	struct milter_reply r;
	struct error err;

	if (!c->waiting) {
		fail(c, "answer without a question");
		return false;
	}
	if (milter_reply_decode(cmd, p, len, &r, &err) < 0) {
		fail(c, err.msg);
		return false;
	}
	if (c->waiting_cmd == MILTER_CMD_OPTNEG) {
		if (cmd != MILTER_REP_OPTNEG) {
			fail(c, "no option negotiation");
			return false;
		}
		negotiated(c, &r);
		return false;
	}
	if (milter_reply_is_mod(cmd)) {
		if (c->waiting_cmd != MILTER_CMD_BODYEOB) {
			fail(c, "modification before end of message");
			return false;
		}
		keep_mod(c, cmd, p, len);
		return true;
	}
	switch (cmd) {
	case MILTER_REP_PROGRESS:
		/* Still working: the timer starts again. */
		wait_reply(c, c->waiting_cmd, c->wait_ms);
		return true;
	case MILTER_REP_SKIP:
		if (c->waiting_cmd != MILTER_CMD_BODY) {
			fail(c, "skip outside the body");
			return false;
		}
		skip_body(c);
		/* fall through */
	case MILTER_REP_CONTINUE:
		c->waiting = false;
		EV_TIMER_DEL(c->ev, conn_timeout, c);
		pump(c);
		return false;
	case MILTER_REP_ACCEPT:
		finish(c, MV_ACCEPT, NULL);
		return false;
	case MILTER_REP_REJECT:
		finish(c, MV_REJECT, NULL);
		return false;
	case MILTER_REP_TEMPFAIL:
		finish(c, MV_TEMPFAIL, NULL);
		return false;
	case MILTER_REP_DISCARD:
		finish(c, MV_DISCARD, NULL);
		return false;
	case MILTER_REP_REPLYCODE:
		buf_set_str(c->text, r.text);
		finish(c, MV_REPLY, buf_data(c->text));
		return false;
	default:
		fail(c, "unexpected answer");
		return false;
	}
}

static void read_replies(struct mconn *c)
{
	/* A milter writes each modification and its verdict with a write
	 * of its own (libmilter does): with Nagle on its side and a delayed
	 * ACK on ours, every answer after the first waits 40 ms.  Linux
	 * forgets TCP_QUICKACK, so it is set again after each read. */
#ifdef TCP_QUICKACK
	if (!c->def->is_unix) {
		int one = 1;
		(void)setsockopt(io_fd(c->io), IPPROTO_TCP, TCP_QUICKACK, &one,
				 sizeof(one));
	}
#endif
	for (;;) {
		size_t avail, plen, used;
		const char *in = io_peek(c->io, &avail);
		const char *payload;
		char cmd;
		struct error err;
		int ret = milter_packet_get(in, avail, &cmd, &payload, &plen,
					    &used, &err);

		if (ret == 0)
			return;
		if (ret < 0) {
			fail(c, err.msg);
			return;
		}
		/* handle() may send and may free the io: copy first. */
		char *copy = xmalloc(plen + 1);
		memcpy(copy, payload, plen);
		copy[plen] = '\0';
		io_consume(c->io, used);
		bool more = handle(c, cmd, copy, plen);
		free(copy);
		if (!more && !c->waiting)
			return;
		if (c->io == NULL)
			return;
	}
}

static void conn_event(struct io *io, enum io_event event, void *ctx)
{
	struct mconn *c = ctx;

	(void)io;
	switch (event) {
	case IO_CONNECTED:
		c->connected = true;
		{
			struct buf *b = buf_new();
			milter_put_optneg(b, c->cfg->version, MILTER_ACT_ALL,
					  MILTER_P_ALL);
			io_write(c->io, buf_data(b), buf_len(b));
			buf_free(&b);
		}
		wait_reply(c, MILTER_CMD_OPTNEG, c->cfg->connect_ms);
		return;
	case IO_DATAIN:
		read_replies(c);
		return;
	case IO_LOWAT:
	case IO_TLSREADY:
		return;
	case IO_TIMEOUT:
		fail(c, "timeout");
		return;
	case IO_DISCONNECTED:
		fail(c, "connection closed by the milter");
		return;
	case IO_ERROR:
		fail(c, io_error(c->io));
		return;
	}
}

void mconn_run(struct mconn *c, mconn_build_fn *build, mconn_done_fn *done)
{
	struct error err;
	int fd;

	c->build = build;
	c->done = done;
	pkts_clear(c);
	if (c->negotiated && c->io != NULL) {
		build(c);
		pump(c);
		return;
	}
	fd = c->def->is_unix ? net_connect_unix(c->def->path, &err)
			     : net_connect_tcp(c->def->numeric, c->def->port,
					       &err);
	if (fd < 0) {
		fail(c, err.msg);
		return;
	}
	c->io = io_new_connect(c->ev, fd, conn_event, c);
	/* The connect itself. */
	wait_reply(c, MILTER_CMD_OPTNEG, c->cfg->connect_ms);
}
