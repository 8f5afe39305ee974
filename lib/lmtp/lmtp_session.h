/*
 * lmtp_session - the LMTP server protocol engine (RFC 2033) shared by
 * postern-lmtpd (local delivery) and the LMTP side of postern-imap-proxy
 * (forwarding): an explicit state machine fed raw bytes, with no socket,
 * thread or file of its own (like OpenSMTPD's smtp_session.c without the
 * io).  What a daemon does with recipients and messages is its ops.
 *
 * The connection glue (lmtp_conn.h) feeds what it reads with
 * lmtp_session_input() and gets everything else through struct
 * lmtp_session_ops: replies to send, recipients to resolve, message
 * bytes to spool, a message to deliver, the end of the connection.
 * Because nothing here blocks or touches the network, the unit tests and
 * the fuzz target drive the whole protocol with fake ops.
 *
 * Pipelining: input is processed one command at a time.  While a
 * recipient lookup or a delivery runs (state LMTP_STATE_RCPT_WAIT or
 * LMTP_STATE_DELIVER) later input stays buffered, so replies always come
 * in command order; lmtp_session_wants_input() tells the glue when to
 * stop reading (busy, or LMTP_SESSION_INPUT_MAX bytes buffered).
 *
 * Replies after the message (RFC 2033 4.2): one per accepted recipient,
 * in RCPT order, taken from each recipient's reply as the deliver op
 * left it.  A message refused as a whole (size, bare newlines, a spool
 * write error) gets that reply once per recipient too.
 *
 * Re-entrancy: ops may complete at once (call lmtp_session_rcpt_done() or
 * lmtp_session_deliver_done() from inside the op) or later from the loop.
 * Ops must not free the session; the glue frees it after the close op,
 * once the connection is gone.
 *
 * Logging: "ID: to=<a@b>, orig_to=<a+x@b>, size=N, status=saved (new/..)"
 * per recipient after delivery, as Postfix's delivery agents do.
 */
#ifndef POSTERN_LMTP_LMTP_SESSION_H
#define POSTERN_LMTP_LMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "smtp/smtp_reply.h"

struct lmtp_session;
struct lmtp_server_settings;

enum lmtp_state {
	LMTP_STATE_INIT,      /* greeting sent; LHLO expected */
	LMTP_STATE_READY,     /* after LHLO, no transaction */
	LMTP_STATE_MAIL,      /* MAIL accepted: RCPT, DATA, BDAT, RSET */
	LMTP_STATE_RCPT_WAIT, /* a recipient lookup is running */
	LMTP_STATE_DATA,      /* reading the DATA stream */
	LMTP_STATE_BDAT,      /* reading the octets of a BDAT chunk */
	LMTP_STATE_DELIVER,   /* the deliver op is running */
	LMTP_STATE_CLOSED,    /* QUIT or a fatal error: input is ignored */
};

/* Most accepted recipients per transaction (452 4.5.3 past it). */
#define LMTP_RCPT_MAX 1000
/* Bad commands before the session is dropped with 421 4.7.0. */
#define LMTP_ERROR_MAX 20
/* Buffered unprocessed input past which the glue stops reading. */
#define LMTP_SESSION_INPUT_MAX 65536

/* One recipient of the transaction. */
struct lmtp_recipient {
	/* As received, "local@domain" (decoded local part, A-label domain,
	 * not lower-cased): the key for lookups, Delivered-To, logs. */
	char *address;
	char *local; /* its parts */
	char *domain;
	/* Set by the rcpt op when the recipient resolves to another
	 * address (lmtpd: the mailbox the map found, "user@domain"): the
	 * outcome is logged as to=<mailbox>, orig_to=<address>.  NULL:
	 * to=<address>. */
	char *mailbox;
	/* The rcpt op's answer to RCPT (2xx accepts it), then the deliver
	 * op's answer for this recipient after the message. */
	struct smtp_reply reply;
	/* Filled by the deliver op on success: the file name in new/,
	 * logged as "status=saved (new/NAME)"; NULL otherwise. */
	char *saved_name;
	/* The daemon's own per-recipient data (lmtpd: the store handle and
	 * quota; the proxy: its backend); freed by the rcpt_free op. */
	void *backend_data;
};

/* The message the deliver op receives; borrowed for the op. */
struct lmtp_message {
	const char *id;	  /* the session id */
	const char *helo; /* the LHLO name */
	const char *peer; /* "192.0.2.1" or "unix" */
	const char *from; /* reverse path, "" for <> */
	bool smtputf8;
	uint64_t size; /* octets spooled, CRLF line ends */
	struct lmtp_recipient *const *rcpts;
	size_t nrcpts;
	bool tls; /* received over TLS (STARTTLS or implicit) */
};

struct lmtp_session_ops {
	/* Queue output (a whole reply, with CRLF). */
	void (*send)(void *ctx, const char *data, size_t len);
	/* Resolve rcpt: fill its mailbox fields and reply, then call
	 * lmtp_session_rcpt_done().  size_hint: MAIL's SIZE= or 0. */
	void (*rcpt)(void *ctx, struct lmtp_recipient *rcpt,
		     uint64_t size_hint);
	/* Free what the glue attached to rcpt (may be NULL). */
	void (*rcpt_free)(void *ctx, struct lmtp_recipient *rcpt);
	/* Append message octets to the spool; -1 with err stops spooling
	 * and the message is refused with 451 4.3.0 at its end. */
	int (*spool_write)(void *ctx, const void *data, size_t len,
			   struct error *err);
	/* Drop the spooled message (end of transaction, RSET). */
	void (*spool_reset)(void *ctx);
	/* Deliver the spooled message: set every recipient's reply (and
	 * saved_name), then call lmtp_session_deliver_done(). */
	void (*deliver)(void *ctx, const struct lmtp_message *msg);
	/* The session is over (QUIT, too many errors, 421): flush the
	 * output and close. */
	void (*close)(void *ctx);
	/* STARTTLS was accepted (the 220 is queued): start the server
	 * handshake, then call lmtp_session_tls_started().  May be NULL
	 * when the session never offers TLS (lmtp_session_set_tls). */
	void (*starttls)(void *ctx);
};

/*
 * A session for one connection.  `set` and the strings are borrowed
 * (set must outlive the session); nothing is sent until
 * lmtp_session_start().
 */
struct lmtp_session *lmtp_session_new(const struct lmtp_server_settings *set,
				      const char *id, const char *peer,
				      const struct lmtp_session_ops *ops,
				      void *ctx);
/* Frees the transaction too (rcpt_free for each recipient). */
void lmtp_session_free(struct lmtp_session **s);

/*
 * STARTTLS (RFC 3207), before lmtp_session_start(): offer it in LHLO
 * (needs the starttls op); require: MAIL before TLS gets 530 5.7.0;
 * active: the connection is already encrypted (implicit TLS).  After the
 * 220 to STARTTLS the session reads nothing (buffered input is dropped,
 * RFC 3207 4.2) until lmtp_session_tls_started(), which forgets the LHLO
 * and the transaction: the client says LHLO again.
 */
void lmtp_session_set_tls(struct lmtp_session *s, bool offer, bool require,
			  bool active);
void lmtp_session_tls_started(struct lmtp_session *s);
bool lmtp_session_tls_active(const struct lmtp_session *s);

/* Send the 220 greeting. */
void lmtp_session_start(struct lmtp_session *s);
/* Append input bytes and process as much of them as possible. */
void lmtp_session_input(struct lmtp_session *s, const void *data, size_t len);
/* False while busy, closed, or holding LMTP_SESSION_INPUT_MAX bytes. */
bool lmtp_session_wants_input(const struct lmtp_session *s);

/* Completion of the rcpt and deliver ops. */
void lmtp_session_rcpt_done(struct lmtp_session *s,
			    struct lmtp_recipient *rcpt);
void lmtp_session_deliver_done(struct lmtp_session *s);

/* The connection is gone: buffered input is dropped and no more is
 * processed; a running op may still complete (its outcome is logged). */
void lmtp_session_disconnected(struct lmtp_session *s);

/* End the session from outside (timeout, shutdown): send `reply` (one
 * line without CRLF) and close. */
void lmtp_session_abort(struct lmtp_session *s, const char *reply);

enum lmtp_state lmtp_session_state(const struct lmtp_session *s);
const char *lmtp_session_id(const struct lmtp_session *s);
const char *lmtp_state_name(enum lmtp_state state);

/* Free a recipient's fields (not backend_data: see rcpt_free). */
void lmtp_recipient_free(struct lmtp_recipient **rcpt);

#endif
