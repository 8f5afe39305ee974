/*
 * lmtp_conn - one accepted LMTP connection: the io, the idle timer,
 * implicit TLS, flow control and the session id around a protocol
 * session (lmtp_session.h), shared by postern-lmtpd and the LMTP side of
 * postern-imap-proxy, as Dovecot's lmtp-client.c.  What happens to
 * recipients and messages is the daemon's, through struct lmtp_conn_ops.
 *
 * Behaviour: a 220 greeting (after the handshake on an implicit-TLS
 * service); STARTTLS (RFC 3207) offered on a starttls service with a TLS
 * context unless lmtpd_tls_security_level=none, required before MAIL of
 * TCP clients with encrypt (530 5.7.0), logged "ID: STARTTLS from PEER:
 * TLSv1.3 with cipher ..."; input is read while the session wants it, so
 * a running lookup or delivery pauses reading and is never the client's
 * idleness;
 * lmtpd_timeout (set->timeout_ms) without input answers 421 4.4.2 and
 * closes, with the io's own timeout 30 s later as a backstop for output
 * that never drains; once the server is stopping, sessions between
 * transactions get 421 4.3.2 (lmtp_conns_stop, and at every later
 * step).  Log lines: "ID: connect from PEER", "ID: disconnect from
 * PEER", "ID: timeout after STATE from PEER", "ID: lost connection
 * after STATE from PEER: WHY".
 *
 * Lifetime: a connection is freed when the socket is gone AND no job of
 * the daemon's is running (lmtp_conn_job_start/done bracket each worker
 * job or backend transaction, whose completion may outlive the socket).
 * The free op is the last call: the daemon drops ctx there.  `set` is
 * borrowed and must outlive the connection (lmtpd keeps it in the
 * backend that ctx holds a reference to).
 *
 * Threads: everything on the loop thread, except lmtp_conn_id() and
 * lmtp_conn_ctx(), which return fields fixed at accept and may be read
 * by a worker job.
 */
#ifndef POSTERN_LMTP_LMTP_CONN_H
#define POSTERN_LMTP_LMTP_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/list.h"
#include "lmtp/lmtp_session.h"
#include "server/server.h"

struct lmtp_conn;
struct lmtp_server_settings;
struct worker_pool;

/* The session ops of lmtp_session.h a daemon provides (send and close
 * are the connection's), with the connection instead of a context, and
 * the end of the connection. */
struct lmtp_conn_ops {
	/* The rcpt op's lookup, run on a thread of the worker pool (SQL:
	 * it may block): fill rcpt (mailbox, reply, backend_data); the
	 * connection then calls lmtp_session_rcpt_done() on the loop.  It
	 * may use only rcpt, lmtp_conn_ctx() and lmtp_conn_id(). */
	void (*rcpt_resolve)(struct lmtp_conn *c, struct lmtp_recipient *rcpt,
			     uint64_t size_hint);
	void (*rcpt_free)(struct lmtp_conn *c, struct lmtp_recipient *rcpt);
	int (*spool_write)(struct lmtp_conn *c, const void *data, size_t len,
			   struct error *err);
	void (*spool_reset)(struct lmtp_conn *c);
	void (*deliver)(struct lmtp_conn *c, const struct lmtp_message *msg);
	/* The connection is being freed (its session already is). */
	void (*free)(struct lmtp_conn *c);
};

/*
 * Take over conn (from the server's accept hook) and start the session.
 * Recipient lookups run on pool.  ctx is the daemon's, returned by
 * lmtp_conn_ctx().  The connection is
 * linked into `conns` (a list head of the daemon's, for
 * lmtp_conns_stop).  It may end before this returns (a failed TLS
 * handshake: the free op has run), so the caller keeps no pointer to it.
 */
void lmtp_conn_accept(struct server *srv, const struct server_conn *conn,
		      const struct lmtp_server_settings *set,
		      struct worker_pool *pool, struct list_node *conns,
		      const struct lmtp_conn_ops *ops, void *ctx);

void *lmtp_conn_ctx(const struct lmtp_conn *c);
/* The session id ("Postfix long queue id" style), for log lines. */
const char *lmtp_conn_id(const struct lmtp_conn *c);
/* For lmtp_session_rcpt_done() and lmtp_session_deliver_done(). */
struct lmtp_session *lmtp_conn_session(const struct lmtp_conn *c);

/* A job of the daemon's starts / has completed (see Lifetime).  After
 * lmtp_conn_job_done() c may be freed. */
void lmtp_conn_job_start(struct lmtp_conn *c);
void lmtp_conn_job_done(struct lmtp_conn *c);

/* Shutting down: end the sessions of conns that are between
 * transactions (421 4.3.2); the others end after their transaction. */
void lmtp_conns_stop(struct list_node *conns);

#endif
