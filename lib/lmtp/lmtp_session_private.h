/*
 * lmtp_session_private - the session struct, shared by the engine
 * (lmtp_session.c: input framing, message end, delivery replies) and the
 * command handlers (lmtp_commands.c).  Not for the glue.
 */
#ifndef POSTERN_LMTP_LMTP_SESSION_PRIVATE_H
#define POSTERN_LMTP_LMTP_SESSION_PRIVATE_H

#include "core/array.h"
#include "core/buf.h"
#include "lmtp/lmtp_session.h"
#include "smtp/smtp_command.h"
#include "smtp/smtp_data.h"

struct lmtp_session {
	const struct lmtp_server_settings *set;
	const struct lmtp_session_ops *ops;
	void *ctx;
	char *id;
	char *peer;
	enum lmtp_state state;
	/* Unprocessed input is in[in_pos..]. */
	struct buf *in;
	size_t in_pos;
	bool discard_line; /* skipping the rest of an over-long line */
	bool running;	   /* inside session_run(): no re-entry */
	bool disconnected; /* lmtp_session_disconnected() */
	unsigned errors;
	/* STARTTLS (lmtp_session_set_tls); tls_pending: the 220 is sent,
	 * the handshake runs, input waits. */
	bool tls_offer, tls_require, tls_active, tls_pending;
	struct buf *helo;
	struct buf *scratch; /* reply formatting */

	/* The transaction. */
	bool have_mail;
	struct smtp_mail mail;
	char *from;
	struct array *rcpts; /* struct lmtp_recipient *, accepted */
	struct lmtp_recipient *pending_rcpt;
	struct lmtp_recipient **deliver_rcpts; /* for the deliver op */
	struct smtp_data *data;
	struct smtp_bdat *bdat;
	bool bdat_started;
	/* A BDAT chunk read only to be dropped (no transaction): its reply
	 * is sent at the chunk's end, then the state goes back. */
	struct smtp_reply chunk_error;
	enum lmtp_state chunk_return;
	struct buf *body;
	bool spool_failed;
	struct error spool_err;
	uint64_t spooled;
};

/* lmtp_session.c */
/* Send a one-line reply to a command; 5xx replies count as errors and
 * too many of them end the session (421 4.7.0). */
void lmtp_session_reply(struct lmtp_session *s, unsigned code,
			const char *enhanced, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void lmtp_session_send_reply(struct lmtp_session *s,
			     const struct smtp_reply *r);
void lmtp_session_send(struct lmtp_session *s, const char *data, size_t len);
void lmtp_session_close(struct lmtp_session *s);
void lmtp_session_txn_reset(struct lmtp_session *s);
/* The DATA or LAST BDAT stream ended; verdict from the reader. */
void lmtp_session_message_end(struct lmtp_session *s, int verdict,
			      const struct smtp_reply *refusal);

/* lmtp_commands.c: one command line without its line end. */
void lmtp_command(struct lmtp_session *s, const char *line, size_t len);

#endif
