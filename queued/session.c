/*
 * session - one connection on the queue socket: a submission from smtpd
 * (or any local client), or one control request from `postern queue`.
 * The record state machine is lib/queue's submit_decoder; this file
 * connects it to the queue and the scheduler.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "queue/queue.h"
#include "queue/submit.h"
#include "server/server.h"
#include "tls/io.h"

#include "queued.h"
#include "session.h"
#include "verify.h"

struct session {
	struct server *srv;
	struct qmgr *m;
	struct io *io;
	struct buf *in;
	struct submit_decoder *dec;
	struct queue_msg *msg;
	bool waiting;	/* a commit or control is in flight: keep s alive */
	char *from_log; /* "from=<...>, size=..., nrcpt=..." for the log */
	bool gone;	/* the io is gone; free when the wait ends */
	bool hold;	/* commit "HOLD": into the hold queue */
};

static void session_free(struct session *s)
{
	if (s->msg != NULL)
		queue_msg_abort(&s->msg);
	io_free(&s->io);
	buf_free(&s->in);
	submit_decoder_free(&s->dec);
	free(s->from_log);
	server_conn_done(s->srv);
	free(s);
}

static void reply(struct session *s, char type, const char *text)
{
	struct buf *b;

	if (s->io == NULL)
		return;
	b = buf_new();
	submit_rec_put_str(b, type, text);
	io_write(s->io, buf_data(b), buf_len(b));
	buf_free(&b);
}

/* Answer and close: the client reads the answer, then EOF. */
static void finish(struct session *s, char type, const char *text)
{
	reply(s, type, text);
	if (s->io != NULL)
		io_close(s->io);
}

/* A message committed with "HOLD" moved to the hold queue. */
static void on_hold(void *ctx, const struct error *err, const char *text)
{
	(void)ctx;
	(void)text;
	if (err != NULL)
		log_warn("hold after commit: %s", err->msg);
}

static void on_commit(void *ctx, const char *id, const struct error *err)
{
	struct session *s = ctx;
	struct qmgr *m = s->m;
	/* s may be freed below. */
	bool hold = s->hold;
	char *hold_req = hold ? xasprintf("hold %s", id) : NULL;

	s->waiting = false;
	if (err != NULL) {
		char text[ERROR_MSG_MAX + 32];

		log_warn("%s: queue commit failed: %s", id, err->msg);
		snprintf(text, sizeof(text), "4.3.0 queue write error: %s",
			 err->msg);
		finish(s, SUBMIT_REC_FAIL, text);
	} else {
		/* Logged once durable, as Postfix's qmgr logs it once the
		 * message is in the queue. */
		log_info("%s: %s", id, s->from_log);
		finish(s, SUBMIT_REC_OK, id);
	}
	if (s->gone)
		session_free(s);
	/* After the answer: delivery may start at once. */
	if (err == NULL && hold) {
		log_info("%s: hold: the SMTP server asked for it", id);
		qmgr_control(m, hold_req, on_hold, NULL);
	} else if (err == NULL)
		qmgr_enqueue(m, id);
	free(hold_req);
}

static void on_control(void *ctx, const struct error *err, const char *text)
{
	struct session *s = ctx;
	char buf[ERROR_MSG_MAX + 32];

	s->waiting = false;
	if (err != NULL) {
		snprintf(buf, sizeof(buf), "%s %s",
			 err->kind == ERR_TEMP ? "4.3.0" : "5.5.4", err->msg);
		finish(s, SUBMIT_REC_FAIL, buf);
	} else {
		finish(s, SUBMIT_REC_OK, text);
	}
	if (s->gone)
		session_free(s);
}

static void commit(struct session *s)
{
	struct queue_env *env = queue_msg_env(s->msg);
	struct queue_msg *msg = s->msg;

	s->msg = NULL;
	s->from_log =
	    xasprintf("from=<%s>, size=%llu, nrcpt=%zu%s%s", env->sender,
		      (unsigned long long)queue_msg_size(msg), env->nrcpts,
		      env->client_addr != NULL ? ", client=" : "",
		      env->client_addr != NULL ? env->client_addr : "");
	s->waiting = true;
	io_pause(s->io);
	queue_msg_commit(msg, on_commit, s);
}

/*
 * The socket is mode 0666 (any local user may submit mail, as with
 * Postfix's postdrop), but changing other people's mail is for the queue
 * owner and root only, as Postfix's postsuper is: check the peer's uid.
 */
static bool peer_may_control(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == getuid();
}

static void process(struct session *s)
{
	struct error err;
	enum submit_event ev;
	const char *data;
	size_t len;
	int rc;

	while (!s->waiting && s->io != NULL) {
		rc = submit_decoder_next(s->dec, s->in, &ev, &data, &len, &err);
		if (rc < 0) {
			log_warn("queue socket: %s", err.msg);
			io_pause(s->io);
			finish(s, SUBMIT_REC_FAIL, err.msg);
			return;
		}
		if (rc == 0)
			return;
		switch (ev) {
		case SUBMIT_EV_BEGIN:
			s->msg = queue_msg_new(qmgr_queue(s->m));
			submit_decoder_set_env(s->dec, queue_msg_env(s->msg));
			reply(s, SUBMIT_REC_ID, queue_msg_id(s->msg));
			break;
		case SUBMIT_EV_DATA:
			if (queue_msg_write(s->msg, data, len, &err) < 0) {
				char text[ERROR_MSG_MAX + 32];

				log_warn("%s: %s", queue_msg_id(s->msg),
					 err.msg);
				snprintf(text, sizeof(text),
					 "4.3.0 queue write error: %s",
					 err.msg);
				io_pause(s->io);
				finish(s, SUBMIT_REC_FAIL, text);
				return;
			}
			break;
		case SUBMIT_EV_COMMIT:
			s->hold = len == 4 && memcmp(data, "HOLD", 4) == 0;
			commit(s);
			return;
		case SUBMIT_EV_CONTROL:
			if (!peer_may_control(io_fd(s->io))) {
				log_warn("queue socket: control request "
					 "refused: peer is not the queue "
					 "owner");
				io_pause(s->io);
				finish(s, SUBMIT_REC_FAIL,
				       "5.7.1 control requests are for the "
				       "queue owner or root");
				return;
			}
			s->waiting = true;
			io_pause(s->io);
			/* "verify ADDRESS": smtpd's probe requests. */
			if (!verify_control(data, on_control, s))
				qmgr_control(s->m, data, on_control, s);
			return;
		case SUBMIT_EV_NONE:
			return;
		}
	}
}

static void on_io(struct io *io, enum io_event event, void *ctx)
{
	struct session *s = ctx;

	switch (event) {
	case IO_DATAIN:
		/* process() decodes every complete record at once (data
		 * goes to the queue, which spills big bodies to a file), so
		 * s->in never holds more than one record and a chunk. */
		io_read_bytes(io, s->in, SIZE_MAX);
		process(s);
		return;
	case IO_LOWAT:
	case IO_CONNECTED:
	case IO_TLSREADY:
		return;
	case IO_TIMEOUT:
	case IO_DISCONNECTED:
	case IO_ERROR:
		/* A client that leaves before 'C' aborts its message. */
		io_free(&s->io);
		if (s->waiting)
			s->gone = true;
		else
			session_free(s);
		return;
	}
}

void session_new(struct server *srv, struct qmgr *m, int fd)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->srv = srv;
	s->m = m;
	s->in = buf_new();
	s->dec = submit_decoder_new();
	s->io = io_new(server_ev(srv), fd, on_io, s);
	/* A submission lives as long as the SMTP transaction that feeds it;
	 * smtpd's own timeouts end those.  This only reaps lost clients. */
	io_set_timeout(s->io, 3600 * 1000);
}
