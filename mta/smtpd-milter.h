/*
 * smtpd-milter.h - what smtpd-milter.c (settings, the session hooks,
 * applying verdicts and modifications) and smtpd-milter-conn.c (one
 * milter connection on the event loop) share.  Not for other files; the
 * hooks smtpd calls are in smtpd.h.
 *
 * Model (Postfix's, docs/milter.md): the milters of $smtpd_milters are
 * asked in order at each stage; the first that does not say "continue"
 * decides.  Each transaction opens its own connection to each milter
 * (at MAIL FROM, where CONNECT and HELO are sent first), closed with
 * QUIT once the message is committed or the transaction ends.
 */
#ifndef POSTERN_SMTPD_MILTER_H
#define POSTERN_SMTPD_MILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/array.h"
#include "core/buf.h"
#include "smtp/milter_proto.h"

struct ev;
struct io;
struct smtpd_milter_txn;

enum milter_default {
	MILTER_DEFAULT_TEMPFAIL = 0,
	MILTER_DEFAULT_ACCEPT,
	MILTER_DEFAULT_REJECT,
	MILTER_DEFAULT_QUARANTINE,
};

struct milter_def {
	char *spec; /* inet:host:port or unix:/path, for logs */
	bool is_unix;
	char *path;	 /* unix */
	char *numeric; /* inet, resolved at start-up */
	unsigned port;
};

struct smtpd_milters {
	struct array *defs; /* struct milter_def * */
	enum milter_default default_action;
	uint32_t version;
	int64_t connect_ms, command_ms, content_ms;
	struct array *macros[MILTER_STAGES]; /* char * names */
	char *daemon_name;
	char *myhostname;
};

/* How one milter answered a stage. */
enum mverdict {
	MV_CONTINUE = 0,
	MV_ACCEPT,   /* no more questions to it for this message */
	MV_REJECT,
	MV_TEMPFAIL,
	MV_DISCARD,
	MV_REPLY,    /* REPLYCODE: text */
	MV_FAILED,   /* no answer: milter_default_action */
};

/* One packet to send; want_reply: wait for the milter's answer. */
struct mpkt {
	char cmd;
	bool want_reply;
	struct buf *data;
};

/* A modification received at end of message, copied. */
struct mmod {
	struct milter_reply r; /* strings point into payload */
	struct buf *payload;
};

struct mconn;
/* Fill c->pkts for the stage (the connection is negotiated). */
typedef void mconn_build_fn(struct mconn *c);
typedef void mconn_done_fn(struct mconn *c, enum mverdict v,
			   const char *text);

struct mconn {
	struct smtpd_milter_txn *mt;
	const struct smtpd_milters *cfg;
	const struct milter_def *def;
	struct ev *ev;
	struct io *io;
	const char *log_id; /* borrowed from the transaction */
	bool connected, negotiated;
	bool disabled; /* failed (default accept/quarantine) or accepted */
	uint32_t actions, protocol;
	char *symlist[MILTER_STAGES];
	struct array *pkts; /* struct mpkt *, the stage's */
	size_t next;
	bool waiting;
	char waiting_cmd;
	int64_t wait_ms;
	struct array *mods; /* struct mmod *, at end of message */
	mconn_build_fn *build;
	mconn_done_fn *done;
	struct buf *text; /* REPLYCODE text of the last verdict */
};

void mconn_init(struct mconn *c, struct smtpd_milter_txn *mt,
		const struct smtpd_milters *cfg, const struct milter_def *def,
		struct ev *ev, const char *log_id);
/* Connect and negotiate if not done, call build, send the packets and
 * report once (done may run before this returns). */
void mconn_run(struct mconn *c, mconn_build_fn *build, mconn_done_fn *done);
/* Queue one packet of the stage (in build). */
void mconn_add(struct mconn *c, char cmd, bool want_reply, struct buf *data);
/* Send QUIT (if connected) and close; frees everything but c. */
void mconn_close(struct mconn *c);
void mconn_mods_clear(struct mconn *c);

#endif
