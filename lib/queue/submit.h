/*
 * submit - hand a message to postern-queued (the client side), and the
 * record framing both sides of the queue socket speak.
 *
 * Postfix's smtpd talks to cleanup over a local socket; ours talks to
 * postern-queued over $queue_socket ($run_directory/queue.sock), because
 * one process owns the queue directory (lib/queue takes a lock).  Each
 * submission is its own connection, so a broken transaction never
 * poisons another and the daemon's group commit batches what concurrent
 * sessions commit together.
 *
 * Use (smtpd, one session, all on the loop thread):
 *
 *     client = submit_client_new(ev, conf_get_str(conf, "queue_socket"));
 *     MAIL FROM:  s = submit_begin(client, &env, &cbs, session);
 *                 cbs.id(session, "4Xb...") follows after one local round
 *                 trip: the queue id, for every later log line.  (Postfix's
 *                 smtpd likewise learns the id from cleanup at MAIL FROM.)
 *                 smtpd may hold its 250 to MAIL until then, or log
 *                 without the id until it arrives.
 *     RCPT TO:    submit_add_rcpt(s, &rcpt)    for each accepted recipient
 *     DATA/BDAT:  submit_write(s, bytes, n)    Received header first, then
 *                                              the message: CRLF lines,
 *                                              already dot-unstuffed
 *     end:        submit_commit(s, done, session)
 *                 done(session, NULL, id) once the message and envelope
 *                 are fdatasync'd by the queue's group commit: "250 2.0.0
 *                 Ok: queued as ID".  done(session, err, NULL) with
 *                 err->kind ERR_TEMP if the daemon is down, the disk is
 *                 full or the connection broke: "451 4.3.0 ..."; ERR_PERM
 *                 if the daemon refused the envelope (no recipients...).
 *     RSET/quit:  submit_abort(&s)             nothing is queued
 *
 * submit_begin never fails: if the socket cannot be reached, the failure
 * is reported by done (and id never fires).  The env passed to
 * submit_begin / submit_add_rcpt is copied; nothing is borrowed.
 *
 * Back-pressure: submit_write queues bytes on the socket's output buffer.
 * It returns 1 when that buffer holds SUBMIT_HIGH_WATER bytes or more;
 * the caller must then stop reading its SMTP client (io_pause) until
 * cbs.drain fires (the buffer emptied), so a slow daemon never makes the
 * client buffer a whole message in memory.  Writing more while full is
 * allowed (it is not lost) but defeats the purpose.
 *
 * Ownership: after submit_commit the handle belongs to the library and is
 * freed after done runs; do not touch it, and do not call submit_abort.
 * submit_abort on an uncommitted handle frees it and calls nothing.
 * submit_client_free must come after every handle is committed or
 * aborted (handles keep a pointer to the client).
 *
 * Threads: loop thread only.
 *
 * ---- Wire protocol (version 1), both directions:
 *
 *     record = type (1 byte) | length (4 bytes, big-endian) | payload
 *
 * payload is at most SUBMIT_RECORD_MAX bytes; the daemon closes the
 * connection on a longer one or an unknown type.  Client to daemon:
 *
 *     'B' "1"            begin (protocol version); first record
 *     'F' address        sender ("" = null sender <>)
 *     'R' addr NUL orcpt NUL notify
 *                        recipient; orcpt may be empty, notify is the
 *                        decimal QUEUE_NOTIFY_* bit mask ("0": not given)
 *     'E' envid          DSN ENVID (xtext-decoded)
 *     'T' "FULL"|"HDRS"  DSN RET
 *     'Y' "7BIT"|"8BITMIME"|"BINARYMIME"   BODY=
 *     'U' ""             SMTPUTF8
 *     'A' 'N' 'H' 'Z' 'L'  client address, client name, HELO, AUTH
 *                        name, TLS description (for logs and bounces)
 *     'D' bytes          message data (any number of records)
 *     'W' address        REDIRECT (a header/body_checks action): every
 *                        recipient given so far is replaced by address
 *     'G' transport:nexthop   content filter (content_filter, a FILTER
 *                        action): the whole message goes there instead of
 *                        normal routing; the last one wins; "" clears
 *     'S' ""             DKIM-sign as local mail (a content filter's
 *                        reinjection, smtpd_dkim_sign_reinjected)
 *     'V' ""             never DKIM-sign: the authenticated login does
 *                        not own the From: address (docs/dkim.md)
 *     'C' ""             commit
 *     'C' "HOLD"         commit into the hold queue (an access or policy
 *                        HOLD action): kept until `postern queue release`
 *     'K' "verb [ID]"    control request instead of a message (queue
 *                        tools): hold, release, requeue, delete, flush;
 *                        ID may be ALL for delete/hold/release/requeue
 *
 * Daemon to client:
 *
 *     'I' id             the queue id, right after 'B'
 *     'O' id-or-text     commit done (fdatasync'd) / control done
 *     'X' "4.3.0 text"   failure; the first char of the enhanced code
 *                        says temp (4) or perm (5); the daemon closes
 *
 * Envelope records may come in any order between 'B' and 'C', mixed with
 * 'D' records; recipients added after data are fine.  Closing without
 * 'C' aborts the message.
 */
#ifndef POSTERN_QUEUE_SUBMIT_H
#define POSTERN_QUEUE_SUBMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "queue/queue.h"

struct ev;
struct submit_client;
struct submit;

#define SUBMIT_PROTO_VERSION "1"
#define SUBMIT_RECORD_MAX (256 * 1024)
#define SUBMIT_HIGH_WATER (256 * 1024)

enum submit_rec {
	SUBMIT_REC_BEGIN = 'B',
	SUBMIT_REC_SENDER = 'F',
	SUBMIT_REC_RCPT = 'R',
	SUBMIT_REC_ENVID = 'E',
	SUBMIT_REC_RET = 'T',
	SUBMIT_REC_BODY = 'Y',
	SUBMIT_REC_SMTPUTF8 = 'U',
	SUBMIT_REC_CLIENT_ADDR = 'A',
	SUBMIT_REC_CLIENT_NAME = 'N',
	SUBMIT_REC_HELO = 'H',
	SUBMIT_REC_AUTH = 'Z',
	SUBMIT_REC_TLS = 'L',
	SUBMIT_REC_DATA = 'D',
	SUBMIT_REC_COMMIT = 'C',
	SUBMIT_REC_CONTROL = 'K',
	SUBMIT_REC_REDIRECT = 'W',
	SUBMIT_REC_FILTER = 'G',
	SUBMIT_REC_DKIM_SIGN = 'S',
	SUBMIT_REC_DKIM_DENY = 'V',
	/* daemon -> client */
	SUBMIT_REC_ID = 'I',
	SUBMIT_REC_OK = 'O',
	SUBMIT_REC_FAIL = 'X',
};

/* ---- The client. */

struct submit_rcpt {
	const char *addr;  /* local mailbox address, after alias expansion */
	const char *orcpt; /* "rfc822;a@b" as given, or NULL */
	unsigned notify;   /* QUEUE_NOTIFY_* bits, 0 = not given */
};

/* Every string may be NULL (not given); sender NULL or "" is <>. */
struct submit_env {
	const char *sender;
	const char *envid;
	enum queue_ret ret;
	enum queue_body_type body;
	bool smtputf8;
	const char *client_addr;
	const char *client_name;
	const char *helo;
	const char *auth_name;
	const char *tls;		 /* io_tls_describe() text */
	const struct submit_rcpt *rcpts; /* may be empty at MAIL FROM */
	size_t nrcpts;
	/* content_filter: "transport:nexthop"; NULL or "": none. */
	const char *filter;
	/* DKIM-sign like local mail (a trusted filter's reinjection). */
	bool dkim_sign;
};

struct submit_callbacks {
	/* The queue id is known (borrowed for the call). May be NULL. */
	void (*id)(void *ctx, const char *id);
	/* The output buffer drained after submit_write returned 1. */
	void (*drain)(void *ctx);
};

/* err NULL: queued and durable, id set.  Else id is NULL. */
typedef void submit_done_fn(void *ctx, const struct error *err, const char *id);

struct submit_client *submit_client_new(struct ev *ev, const char *path);
void submit_client_free(struct submit_client **client);

/* cbs may be NULL; it and env are copied. */
struct submit *submit_begin(struct submit_client *client,
			    const struct submit_env *env,
			    const struct submit_callbacks *cbs, void *ctx);
void submit_add_rcpt(struct submit *s, const struct submit_rcpt *rcpt);
/* The queue id once known, else NULL. */
const char *submit_id(const struct submit *s);
/* 0: queued; 1: queued, but the buffer is full (wait for drain);
 * -1: the submission already failed (commit will report it). */
int submit_write(struct submit *s, const void *data, size_t len);
void submit_commit(struct submit *s, submit_done_fn *done, void *ctx);
/* Commit into the hold queue instead (before submit_commit). */
void submit_set_hold(struct submit *s);
/* REDIRECT: replace every recipient added so far with addr (before
 * submit_commit; the 'W' record). */
void submit_redirect(struct submit *s, const char *addr);
/* FILTER: send the whole message to filter ("transport:nexthop"; ""
 * clears it) instead of routing it (before submit_commit; the 'G'
 * record; the last one wins). */
void submit_set_filter(struct submit *s, const char *filter);
void submit_abort(struct submit **s);
/* A milter's CHGFROM: the envelope sender becomes sender ("" = <>;
 * another 'F' record, the last one wins; before submit_commit). */
void submit_set_sender(struct submit *s, const char *sender);
/* The message must not be DKIM-signed (the 'V' record; before
 * submit_commit): its From: is not the authenticated login's. */
void submit_set_dkim_deny(struct submit *s);

/*
 * The same submission without the event loop, for worker threads that
 * may block (the webmail): connect to path, send the envelope (env's
 * recipients), data (CRLF lines, Received header first) and commit, and
 * wait until the daemon answers.  0 with the queue id in id_r once the
 * message is durable; -1 with err: ERR_TEMP when the daemon is down,
 * the connection broke, timeout_ms passed (0: 60 s) or it answered a
 * 4.x.x failure, ERR_PERM for a 5.x.x one (err->msg starts with the
 * enhanced code).  Thread-safe (one connection per call).
 * (submit_blocking.c)
 */
int submit_message_blocking(const char *path, const struct submit_env *env,
			    const void *data, size_t len, int timeout_ms,
			    char *id_r, size_t id_size, struct error *err);
/*
 * One control request ("flush", "verify ADDRESS": queued/session.c) the
 * same way, for `postern queue` and smtpd's address verification.
 * 0: answered OK; 1: refused ("4.x.x text" or "5.x.x text"); the
 * answer's text is appended to reply_r (may be NULL) in both cases.
 * -1 with err (ERR_TEMP; ERR_CONFIG for a path too long) when the
 * daemon is down, the connection broke or timeout_ms (0: 60 s) passed.
 */
int submit_control_blocking(const char *path, const char *request,
			    int timeout_ms, struct buf *reply_r,
			    struct error *err);

/* ---- Framing, shared by the client, the daemon and the tools. */

/* Append one record to out. */
void submit_rec_put(struct buf *out, char type, const void *payload,
		    size_t len);
void submit_rec_put_str(struct buf *out, char type, const char *s);

/*
 * Take the next complete record out of in: 1 with *type_r, *payload_r
 * (borrowed: valid until in changes; NOT NUL-terminated)
 * and *len_r, after which the caller calls buf_consume(in, *used_r);
 * 0 when more input is needed; -1 with err (ERR_PERM) for a length over
 * SUBMIT_RECORD_MAX.
 */
int submit_rec_get(const struct buf *in, char *type_r, const char **payload_r,
		   size_t *len_r, size_t *used_r, struct error *err);

/*
 * Decode an envelope record (any type but B, D, C, K) into env.  0 on
 * success, -1 with ERR_PERM for a malformed one or a type that is not an
 * envelope field.
 */
int submit_env_apply(struct queue_env *env, char type, const char *payload,
		     size_t len, struct error *err);
/* Encode env's fields as records (sender, options, client, recipients). */
void submit_env_encode(struct buf *out, const struct submit_env *env);
void submit_rcpt_encode(struct buf *out, const struct submit_rcpt *rcpt);

/*
 * The daemon's decoder of client records: the state machine of one
 * connection (B, then envelope and data records, then C; or one K), so
 * that the daemon and the fuzz target share it.  Call submit_decoder_next
 * until it returns 0 (more input needed) or -1 (protocol error: answer
 * 'X' with err's text and close).  Events:
 *
 *   SUBMIT_EV_BEGIN    a 'B' arrived: create the message and hand its
 *                      envelope to submit_decoder_set_env() before the
 *                      next call; envelope records are applied to it
 *   SUBMIT_EV_DATA     *data_r / *len_r: message bytes, borrowed until
 *                      the next call
 *   SUBMIT_EV_COMMIT   a 'C' after a valid envelope (a sender record and
 *                      at least one recipient); nothing may follow
 *   SUBMIT_EV_CONTROL  *data_r: the request text (NUL-terminated, no
 *                      NULs or line breaks); nothing may follow
 *
 * The decoder consumes from `in` itself (the previous record at the start
 * of each call).  err must not be NULL.  Errors are ERR_PERM; err->msg
 * starts with an enhanced status code ("5.5.2 ...").
 */
enum submit_event {
	SUBMIT_EV_NONE = 0,
	SUBMIT_EV_BEGIN,
	SUBMIT_EV_DATA,
	SUBMIT_EV_COMMIT,
	SUBMIT_EV_CONTROL,
};

struct submit_decoder;
struct submit_decoder *submit_decoder_new(void);
void submit_decoder_free(struct submit_decoder **d);
void submit_decoder_set_env(struct submit_decoder *d, struct queue_env *env);
int submit_decoder_next(struct submit_decoder *d, struct buf *in,
			enum submit_event *ev_r, const char **data_r,
			size_t *len_r, struct error *err);

#endif
