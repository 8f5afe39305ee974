/*
 * smtpd - postern-smtpd's internal interface: the process state, the
 * settings, and the SMTP session state machine split over its files
 * (a table of contents, as OpenSMTPD's smtpd.h):
 *
 *   smtpd-settings.c   the settings, read from main.cf (refcounted, so a
 *                      reload never pulls them from under a live session)
 *   smtpd-session.c    session life: io events, input framing, replies,
 *                      error limits, timeouts
 *   smtpd-commands.c   the command dispatcher and HELO, EHLO, STARTTLS,
 *                      MAIL, RSET, NOOP, QUIT, VRFY, HELP
 *   smtpd-rcpt.c       RCPT, its lookup in the worker pool
 *   (lib/rewrite/virtual.c: recipient resolution, shared)
 *   smtpd-quota.c      refusing full mailboxes at RCPT (smtpd-quota.h)
 *   smtpd-restrict.c   the smtpd_*_restrictions lists (smtpd-restrict.h,
 *                      with smtpd-access.c and smtpd-restrict-dns.c)
 *   smtpd-check.c      the lists in the session: worker jobs, inputs,
 *                      HOLD and DISCARD
 *   smtpd-policy.c     check_policy_service (smtpd-policy.h; the loop
 *                      side in smtpd-policy-loop.c)
 *   smtpd-greylist.c   check_greylist (smtpd-greylist.h)
 *   smtpd-domain-policy.c  check_domain_sender_access (a recipient
 *                      domain's own sender list in SQL)
 *   smtpd-verify.c     reject_unverified_sender/_recipient (smtpd-verify.h)
 *   smtpd-login.c      who owns a sender address (smtpd-login.h), for
 *                      smtpd-restrict-login.c (*_sender_login_mismatch,
 *                      reject_unlisted_*, the submission check) and
 *                      smtpd-sign.c (may queued DKIM-sign it, smtpd-sign.h)
 *   smtpd-data.c       DATA and BDAT, the Received header, the queue
 *   smtpd-cleanup.c    address rewriting of envelope and headers
 *   smtpd-content.c    header_checks, body_checks (smtpd-content.h)
 *   smtpd-auth.c       AUTH through Cyrus SASL
 *   smtpd-anvil.c      per-client connection and event rate limits
 *   smtpd-authres.c    SPF, DKIM, DMARC, Authentication-Results
 *                      (smtpd-authres.h, with smtpd-spf.c, authres-*.c)
 *   smtpd-limits.c     per-mailbox daily sending limits at RCPT
 *   smtpd-testing.c    a struct smtpd without a server (tests, fuzzing)
 *
 * Everything here runs on the loop thread but the resolver, the
 * restriction checks and the SASL steps, which run in the worker pool on
 * copies of their inputs.
 *
 * Policy: Postfix's restriction lists (smtpd-restrict.h); by default
 * relaying (a foreign RCPT domain) is for $mynetworks and authenticated
 * clients only (smtpd_relay_restrictions).  AUTH is offered only over
 * TLS, on every service; the services named in $smtpd_submission_services
 * (default submission, submissions) refuse MAIL before TLS and AUTH
 * (530 5.7.0). The per-client limits (smtpd-anvil.c) count per process
 * (a service may run several), $smtpd_client_event_limit_exceptions
 * exempt (default $mynetworks, as Postfix).  A reload (SIGHUP) applies the
 * settings to new sessions; the maps, $mynetworks and the database stay
 * as opened at start-up (worker jobs may be using them).
 *
 * Lifetime: a session is freed when its connection ends, unless worker
 * jobs or a queue commit still hold it (s->pending): then it is marked
 * dead and freed by the last completion.
 */
#ifndef POSTERN_SMTPD_H
#define POSTERN_SMTPD_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/list.h"
#include "map/map.h"
#include "server/server.h"
#include "smtp/smtp_command.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_reply.h"

#include "rewrite/virtual.h"
#include "smtpd-ccert.h"
#include "smtpd-restrict.h"

struct db;
struct ev;
struct hash;
struct io;
struct net_limit;
struct submit;
struct submit_client;
struct tls_ctx;
struct worker_pool;
struct smtpd_sasl;
struct smtpd_login;
struct smtpd_policy_wait;

/* Greatest input line: AUTH exchanges (RFC 4954 4); other verbs are held
 * to SMTP_COMMAND_LINE_MAX by smtp_command_parse(). */
#define SMTPD_LINE_MAX SMTP_AUTH_LINE_MAX
/* Bytes pulled from the io per read while reading commands or data. */
#define SMTPD_READ_CHUNK (64 * 1024)

struct smtpd_settings {
	int refs;
	char *myhostname;
	char *banner;
	uint64_t message_size_limit; /* 0: none */
	enum smtp_bare_mode bare_mode;
	unsigned recipient_limit;
	int64_t timeout_ms;
	int64_t handshake_timeout_ms;
	unsigned soft_error_limit;
	unsigned hard_error_limit;
	int64_t error_sleep_ms;
	char *recipient_delimiter;
	unsigned alias_recursion_limit;
	unsigned alias_expansion_limit;
	char *submission_services; /* list, as written */
	char *sasl_mechanisms;
	char *mail_directory; /* the store, for the RCPT quota check */
	bool quota_permanent; /* quota_exceeded_permanent */
	char *role_addresses; /* $role_addresses */
	char *role_recipient; /* $role_address_recipient, qualified */
	char *content_filter; /* $content_filter, "" none */
	unsigned notify_classes; /* smtpd's SMTPD_NOTIFY_* (smtpd-notify.h) */
	char *error_rcpt;	 /* $error_notice_recipient, qualified */
	bool error_rcpt_guessed; /* ... with @$myorigin added by us */
	char *queue_socket;	 /* for the notices (worker, blocking) */
	/* $smtpd_dkim_sign_reinjected: mail from $mynetworks is signed as
	 * local mail (a content filter's reinjection listener). */
	bool dkim_sign_reinjected;
	/* $smtpd_submission_sender_login_check (smtpd-login.h) */
	bool submission_login_check;
};

struct smtpd_settings *smtpd_settings_new(const struct conf *conf,
					  struct error *err);
struct smtpd_settings *smtpd_settings_ref(struct smtpd_settings *set);
void smtpd_settings_unref(struct smtpd_settings **set);
/* Is SERVICE one of $smtpd_submission_services? */
bool smtpd_settings_is_submission(const struct smtpd_settings *set,
				  const char *service);

/* The process. */
struct smtpd {
	struct server *srv;
	struct ev *ev;
	struct smtpd_settings *set;
	struct virtual_maps maps;
	struct map_env map_env; /* borrowed by the maps: lives here */
	struct map *mynetworks; /* cidr table of $mynetworks */
	struct db *db;		/* the primary: passdb (AUTH), writes */
	/* The virtual maps and quota reads: replicas first when
	   database_read_hosts is set, else the same servers as db
	   (db_open_read).  map_env (restrictions, greylisting) keeps db. */
	struct db *lookup_db;
	struct map_env lookup_env;
	struct worker_pool *workers;
	struct submit_client *queue;
	struct net_limit *limit;
	struct smtpd_sasl *sasl; /* NULL: AUTH not available */
	struct smtpd_restrict *restrictions;
	struct dns_resolver *dns; /* NULL unless a restriction asks DNS */
	/* Sessions alive (dead ones included): the graceful stop waits. */
	unsigned sessions;
	struct list_node session_list; /* live sessions (smtpd_session.node) */
	bool list_ready;
	bool stopping; /* SIGTERM came */
	struct smtpd_anvil *anvil; /* per-client limits (smtpd-anvil.c) */
	struct smtpd_cleanup *cleanup; /* address rewriting (smtpd-cleanup.c) */
	/* header_checks, body_checks... (smtpd-content.c); NULL: none */
	struct smtpd_content *content;
	/* SPF, DKIM, DMARC (smtpd-authres.h); NULL: none enabled */
	struct smtpd_authres *authres;
	/* smtpd_milters (smtpd-milter.c); NULL: none */
	struct smtpd_milters *milters;
	/* Sender ownership (smtpd-login.h), opened with the restrictions. */
	struct smtpd_login *login;
	/* TLS client certificates asked for (smtpd-ccert.h). */
	struct smtpd_ccert_conf ccert;
};

enum smtpd_state {
	SMTPD_STATE_HANDSHAKE, /* implicit TLS: before the greeting */
	SMTPD_STATE_CONNECTED, /* greeted, no HELO/EHLO yet */
	SMTPD_STATE_HELO,      /* HELO/EHLO done, no transaction */
	SMTPD_STATE_MAIL,      /* MAIL accepted, no recipient yet */
	SMTPD_STATE_RCPT,      /* at least one recipient accepted */
	SMTPD_STATE_DATA,      /* reading DATA content */
	SMTPD_STATE_BDAT,      /* reading a BDAT chunk */
	SMTPD_STATE_AUTH,      /* in a SASL exchange (reading responses) */
	SMTPD_STATE_STARTTLS,  /* STARTTLS handshake running */
	SMTPD_STATE_QUIT,      /* closing: no more input */
};

const char *smtpd_state_name(enum smtpd_state state);

/* One MAIL FROM ... end of data. */
struct smtpd_txn {
	struct smtp_mail mail;
	struct buf *sender; /* wire form, "" for <> */
	struct submit *submit;
	char id[32];	     /* queue id once known, "" before */
	unsigned nrcpt;	     /* accepted RCPT commands */
	unsigned nfinal;     /* final addresses handed to the queue */
	struct hash *finals; /* final addresses, for de-duplication */
	char *first_rcpt;    /* for "for <...>" in Received (one RCPT only) */
	struct smtp_data *data;
	struct smtp_bdat *bdat;
	bool bdat_started; /* a BDAT chunk came: DATA is refused */
	bool data_failed;  /* a queue write failed while reading */
	bool received_written;
	bool waiting_id;	     /* DATA/BDAT waits for the queue id */
	enum smtp_verb pending_verb; /* which one */
	uint64_t chunk_size;	     /* the BDAT chunk announced */
	bool chunk_last;
	uint64_t size;	 /* message size, for the log */
	bool queue_full; /* submit_write said 1: wait for drain */
	/* HOLD / DISCARD from an access table or policy service (kept by
	 * smtpd_check_keep_actions, applied by smtpd_check_message_end). */
	bool hold;
	bool discard;
	bool user_counted; /* the daily message limit counted it */
	struct smtpd_cleanup_txn *cleanup; /* smtpd-cleanup.c's state */
	struct smtpd_content_txn *content; /* smtpd-content.c's state */
	/* SPF result and the held message (smtpd-authres.c); NULL:
	 * this transaction is not checked */
	struct smtpd_authres_txn *authres;
	struct smtpd_milter_txn *milter; /* smtpd-milter.c's state */
	/* REDIRECT and PREPEND from an access table or policy service
	 * (smtpd_check_keep_actions); NULL: none.  Owned; freed by
	 * smtpd_check_txn_free. */
	char *access_redirect;
	struct buf *access_prepend; /* header lines, CRLF ended */
	/* smtpd-sign.c: the header kept for the DKIM decision of an
	 * authenticated message, and whether it is complete / checked. */
	struct buf *sign_hdr;
	bool sign_hdr_done;
	bool sign_checked;
};

struct smtpd_session {
	struct list_node node; /* in smtpd->session_list while not dead */
	struct smtpd *smtpd;
	struct smtpd_settings *set;
	struct io *io;
	enum smtpd_state state;
	char *service;
	char *peer;
	unsigned peer_port;
	char id[20]; /* session id for logs before a queue id exists */
	bool implicit_tls;
	bool submission;  /* AUTH required to send, TLS before AUTH */
	bool starttls_ok; /* the listener offers STARTTLS */
	bool in_mynetworks;
	bool limited; /* counted in smtpd->limit */
	bool esmtp;
	char *helo;
	char *auth_user;    /* authenticated login, NULL before AUTH */
	char *client_name;  /* verified name once looked up ("unknown") */
	bool access_denied; /* the client restrictions refused at connect */
	unsigned errors;
	unsigned auth_failures;

	/* Input not yet consumed (commands, then DATA/BDAT octets). */
	struct buf *in;
	bool discarding_line; /* dropping the rest of an over-long line */
	/* Octets of a refused BDAT chunk still to drop, and the state to
	 * return to afterwards. */
	uint64_t bdat_discard;
	enum smtpd_state state_after_discard;

	/* Waiting for something (a worker, the queue, an error delay):
	 * input is left alone until it is cleared. */
	bool busy;
	bool dead;	  /* the connection is gone, pending work remains */
	unsigned pending; /* worker jobs and commits holding the session */
	bool close_after; /* close once the current reply is flushed */
	/* A reply held back by smtpd_error_sleep_time. */
	struct buf *delayed;

	struct smtpd_txn *txn;
	struct buf *scratch;	 /* message bytes between parser and queue */
	struct smtpd_auth *auth; /* SASL exchange state */
	struct smtpd_notify *notify; /* transcript (smtpd-notify.c), or NULL */
	/* HOLD, DISCARD, FILTER, REDIRECT and PREPEND the client (at
	 * connect) and HELO (at HELO/EHLO) restrictions found while
	 * smtpd_delay_reject = no: given to every transaction of the
	 * session (smtpd_check_session_actions).  Owned; NULL: none. */
	struct smtpd_verdict *connect_actions;
	struct smtpd_verdict *helo_actions;
	/* Checks waiting on a loop timer for an address verification's
	 * probe (smtpd-policy-loop.c); each holds the session. */
	struct smtpd_policy_wait *policy_waits;
	/* The TLS client certificate (smtpd-ccert.h); NULL: not asked. */
	struct smtpd_ccert *ccert;
	/* A trusted PROXY v2 balancer did TLS with the client (SSL TLV,
	 * server.h proxy_tls): "TLSv1.3 with cipher X" for the Received
	 * header and logs; NULL otherwise. */
	char *tls_proxy;
	/* The PROXY header's destination address and port (what the
	 * client reached at the balancer); NULL: the socket's own. */
	char *proxy_local;
	unsigned proxy_local_port;
};

/* ---- smtpd-session.c */

/* The server's TLS context (NULL: none, or no server: tests). */
struct tls_ctx *smtpd_tls(const struct smtpd *smtpd);

void smtpd_session_start(struct smtpd *smtpd, const struct server_conn *conn);
/* TLS is active on the connection, or a trusted balancer did it
 * (tls_proxy): what the TLS-only rules (AUTH, submission) ask. */
bool smtpd_session_secured(const struct smtpd_session *s);
/* SIGTERM: idle sessions get 421 and close; the others finish their
 * transaction first (and are told at the next command). */
void smtpd_sessions_stop(struct smtpd *smtpd);
/* Stop reading; smtpd_session_resume() goes on with buffered input. */
void smtpd_session_suspend(struct smtpd_session *s);
void smtpd_session_resume(struct smtpd_session *s);
/* Drop a hold taken for async work; frees a dead session at zero. */
void smtpd_session_release(struct smtpd_session *s);
/* Reply: one line ("250 2.0.0 Ok" built from parts). */
void smtpd_reply(struct smtpd_session *s, unsigned code, const char *enh,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void smtpd_reply_raw(struct smtpd_session *s, const char *text);
/* An error reply: counts toward the error limits, may be delayed. */
void smtpd_reply_error(struct smtpd_session *s, const struct smtp_reply *r);
void smtpd_error(struct smtpd_session *s, unsigned code, const char *enh,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Close after the queued output is written. */
void smtpd_session_close(struct smtpd_session *s);
/* The id for log lines: the queue id when known, else the session's. */
const char *smtpd_log_id(const struct smtpd_session *s);
/* Feed buffered input to the state machine (commands, data). */
void smtpd_session_process(struct smtpd_session *s);

/* ---- smtpd-testing.c: a struct smtpd without a server, for the unit
 * tests and the fuzz target.  conf gives the settings, mynetworks and
 * queue_socket; maps are borrowed.  Sessions start on any connected fd
 * (a socketpair) as if accepted on SERVICE from PEER (no TLS). */

struct smtpd *smtpd_testing_new(struct ev *ev, const struct conf *conf,
				const struct virtual_maps *maps,
				struct error *err);
void smtpd_testing_free(struct smtpd **smtpd);
void smtpd_testing_accept(struct smtpd *smtpd, int fd, const char *service,
			  const char *peer);

/* $mynetworks as a cidr table (smtpd-settings.c). */
struct map *smtpd_mynetworks_open(const struct conf *conf, struct error *err);

/* ---- smtpd-commands.c */

void smtpd_command(struct smtpd_session *s, const char *line, size_t len);
void smtpd_txn_reset(struct smtpd_session *s);
/* The enum smtp_ext set offered to this session now. */
unsigned smtpd_extensions(const struct smtpd_session *s);
/* May this session relay to foreign domains? */
bool smtpd_may_relay(const struct smtpd_session *s);

/* ---- smtpd-check.c: the restriction lists in the session. */

/* Open (and close) d->restrictions and, if they need it, d->dns. */
int smtpd_restrictions_open(struct smtpd *d, const struct conf *conf,
			    struct error *err);
void smtpd_restrictions_close(struct smtpd *d);

/* What one check looks at, copied from the session (for a worker). */
struct smtpd_check_ctx {
	struct smtpd_restrict_input in; /* points into the copies below */
	const struct smtpd_restrict *restrictions;
	const struct virtual_maps *maps;
	char *client_addr, *client_name, *helo, *sender, *recipient;
	char *sasl_user, *delimiters, *log_id;
	struct smtpd_verdict verdict;
	int ret;
	/* check_policy_service's extra attributes (smtpd-policy.h). */
	struct smtpd_policy_attrs *attrs;
	/* Answers of policy services for a suspending check (NULL: the
	 * check blocks on them; smtpd-policy.h). */
	struct smtpd_policy_answers *answers;
	/* reject_unverified_*'s resolution of hosted addresses. */
	unsigned alias_recursion_limit, alias_expansion_limit;
	/* ... and its role addresses (the session's settings, which outlive
	 * the check: it holds the session). */
	const char *role_addresses, *role_recipient;
	/* The owners of a sender (smtpd-login.h). */
	const struct smtpd_login *login;
	/* The client certificate's fingerprints (smtpd-ccert.h). */
	char *ccert_fingerprint, *ccert_pkey_fingerprint, *ccert_subject;
};

void smtpd_check_ctx_init(struct smtpd_check_ctx *c,
			  const struct smtpd_session *s, const char *helo,
			  const char *sender, const char *recipient);
void smtpd_check_ctx_clear(struct smtpd_check_ctx *c);
/* Evaluate (in a worker): c->ret and c->verdict. */
int smtpd_check_run(struct smtpd_check_ctx *c, unsigned stages);
/* On the loop after a check: keep the client name it learnt. */
void smtpd_check_learn(struct smtpd_session *s, struct smtpd_check_ctx *c);
/* Log a refusal as Postfix ("NOQUEUE: reject: RCPT from ..."). */
void smtpd_check_log_reject(const struct smtpd_session *s, const char *cmd,
			    const struct smtpd_check_ctx *c);
/* Is the list of STAGE to be checked at its own command now (not empty;
 * client/helo/sender only with smtpd_delay_reject = no)? */
bool smtpd_check_wanted(const struct smtpd_session *s,
			enum smtpd_restrict_stage stage);
/* Called on the loop with the result (s NULL: the session died). */
typedef void smtpd_check_done_fn(struct smtpd_session *s,
				 struct smtpd_check_ctx *c, void *arg);
/* Run a check in the worker pool; the session reads nothing meanwhile. */
void smtpd_check_async(struct smtpd_session *s, unsigned stages,
		       const char *helo, const char *sender,
		       smtpd_check_done_fn *done, void *arg);
/* At connect: true if a check runs (it greets or refuses itself). */
bool smtpd_check_connect(struct smtpd_session *s);
/* After a check that permitted at MAIL, RCPT, DATA or the end of the
 * message: keep its HOLD, DISCARD, FILTER, REDIRECT and PREPEND for the
 * transaction. */
void smtpd_check_keep_actions(struct smtpd_session *s,
			      const struct smtpd_check_ctx *c);
/* At the end of the message, before the commit: true if DISCARD took
 * it (answered 250 as Postfix, nothing queued, transaction reset); with
 * HOLD the commit goes to the hold queue. */
bool smtpd_check_message_end(struct smtpd_session *s);
/* PREPEND headers kept for the message (access tables, policy
 * services): appended to H, which goes before our Received header. */
void smtpd_check_write_prepend(const struct smtpd_session *s, struct buf *h);
/* Free what smtpd_check_keep_actions kept in T. */
void smtpd_check_txn_free(struct smtpd_txn *t);
/* After a client (connect) or HELO check that permitted with
 * smtpd_delay_reject = no: move its actions from C into *SLOT
 * (s->connect_actions or s->helo_actions), replacing what was there. */
void smtpd_check_save_actions(struct smtpd_verdict **slot,
			      struct smtpd_check_ctx *c);
/* A new transaction (s->txn, its submission begun): apply the saved
 * connect and HELO actions to it. */
void smtpd_check_session_actions(struct smtpd_session *s);
/* Free the saved actions (the session ends). */
void smtpd_check_session_free(struct smtpd_session *s);
/* "name[addr]" as Postfix logs a client ("unknown[addr]" with no
 * verified name): a static buffer, valid until the next call. */
const char *smtpd_client_log(const struct smtpd_session *s);

/* ---- smtpd-rcpt.c */

void smtpd_cmd_rcpt(struct smtpd_session *s, const struct smtp_command *cmd);

/* ---- smtpd-data.c */

void smtpd_cmd_data(struct smtpd_session *s, const struct smtp_command *cmd);
void smtpd_cmd_bdat(struct smtpd_session *s, const struct smtp_command *cmd);
/* In SMTPD_STATE_DATA / _BDAT: consume message octets from s->in.
 * Returns true if it made progress and processing may go on. */
bool smtpd_data_input(struct smtpd_session *s);
/* Open the queue submission of a new transaction (at MAIL FROM). */
void smtpd_queue_begin(struct smtpd_session *s);
/* Cancel the data phase's timer (the transaction is going away). */
void smtpd_data_stop(struct smtpd_session *s);
/* The end of a message once it is in the queue's hands: content and
 * access actions, then the commit.  True if the commit now holds the
 * session (it resumes from the commit's callback); false if it was
 * answered (refused, discarded) and the caller resumes it.  For
 * smtpd-authres.c, which ends messages from a worker's completion. */
bool smtpd_data_commit(struct smtpd_session *s);

/* ---- smtpd-auth.c */

struct smtpd_sasl *smtpd_sasl_new(struct smtpd *smtpd, struct error *err);
void smtpd_sasl_free(struct smtpd_sasl **sasl);
void smtpd_cmd_auth(struct smtpd_session *s, const struct smtp_command *cmd);
/* A line of the SASL exchange (state SMTPD_STATE_AUTH). */
void smtpd_auth_line(struct smtpd_session *s, const char *line, size_t len);
void smtpd_auth_free(struct smtpd_session *s);

/* ---- smtpd-anvil.c: per-client connection and event limits (anvil). */

struct smtpd_anvil;
/* At accept: true when refused (421 answered, the connection is gone);
 * *counted_r: the connection is counted (smtpd_anvil_disconnect). */
bool smtpd_anvil_connect(struct smtpd *d, const struct server_conn *conn,
			 bool *counted_r);
void smtpd_anvil_disconnect(struct smtpd *d, const char *service,
			    const char *addr);
/* Count MAIL, RCPT, AUTH, STARTTLS: true when over the client's rate
 * (the error reply is sent; STARTTLS also closes). */
bool smtpd_anvil_mail(struct smtpd_session *s);
bool smtpd_anvil_rcpt(struct smtpd_session *s);
bool smtpd_anvil_auth(struct smtpd_session *s);
bool smtpd_anvil_starttls(struct smtpd_session *s);
void smtpd_anvil_free(struct smtpd_anvil **anvil);

/* ---- smtpd-limits.c: per-mailbox daily sending limits at RCPT. */

/* Copied from the session for the RCPT worker job. */
struct smtpd_limits_job {
	struct db *db; /* NULL: no check (no login, or no server) */
	char *user;
	long long def_messages, def_new_rcpts;
	bool count_message; /* first accepted RCPT of the transaction */
	bool charged;	    /* out: the message was counted */
};

void smtpd_limits_rcpt_init(struct smtpd_limits_job *l,
			    const struct smtpd_session *s);
/* In the worker, for an accepted recipient: 0, or -1 with reply_r (450
 * 4.7.1 over a limit, 451 4.3.0 database failure). */
int smtpd_limits_rcpt_run(struct smtpd_limits_job *l, const char *address,
			  const char *log_id, struct smtp_reply *reply_r);
/* On the loop once the RCPT is accepted. */
void smtpd_limits_rcpt_done(struct smtpd_session *s,
			    const struct smtpd_limits_job *l);
void smtpd_limits_rcpt_clear(struct smtpd_limits_job *l);

/* ---- smtpd-filter.c: content filters (docs/content-filter.md). */

/* receive_override_options bits. */
#define SMTPD_NO_HEADER_BODY_CHECKS (1u << 0)
#define SMTPD_NO_MILTERS (1u << 1)
/* $receive_override_options as SMTPD_NO_* bits (unknown words are
 * Postfix options without a meaning here: ignored). */
unsigned smtpd_receive_overrides(const struct conf *conf);
/* Is filter "transport:nexthop" (printable, a transport given)? */
bool smtpd_filter_valid(const char *filter);
/* A FILTER action (why: "header_checks", "RCPT"...): the message of the
 * open transaction goes to filter instead of normal delivery; the last
 * call wins.  An invalid filter is logged and ignored. */
void smtpd_filter_set(struct smtpd_session *s, const char *filter,
		      const char *why);

/* ---- smtpd-cleanup.c: cleanup's rewriting (docs/rewriting.md). */

struct smtpd_cleanup;
struct smtpd_cleanup_txn;
/* Open d->cleanup (tables that fail to open make it refuse mail with
 * 451, logged; never an error at start-up). */
int smtpd_cleanup_open(struct smtpd *d, const struct conf *conf,
		       struct error *err);
void smtpd_cleanup_close(struct smtpd *d);
void smtpd_cleanup_txn_free(struct smtpd_txn *t);
/* The envelope sender for the queue (wire form, valid while the
 * transaction lives); a table failure sets t->data_failed. */
const char *smtpd_cleanup_sender(struct smtpd_session *s);
/* In the RCPT worker: relocated_maps (-1, reply 550 5.1.6), then the
 * canonical maps, which may replace *address (malloc'd); -1 with 451
 * when a table fails; 0 otherwise. */
int smtpd_cleanup_rcpt(const struct smtpd *d, char **address,
		       struct smtp_reply *reply);
/* The header stage: message octets on their way to the queue, filtered
 * in place; smtpd_cleanup_data_end writes what is still held. */
void smtpd_cleanup_data(struct smtpd_session *s, struct buf *chunk);
void smtpd_cleanup_data_end(struct smtpd_session *s);

/* smtpd-pass.c: clients handed over by postern-postscreen.  Is SERVICE
 * one of $smtpd_pass_services?  Then its connections go to
 * smtpd_pass_accept(), which starts the passed client's session. */
bool smtpd_pass_service(const struct conf *conf, const char *service);
void smtpd_pass_accept(struct smtpd *smtpd, const struct server_conn *conn);

/* ---- smtpd-milter.c: Sendmail milters, $smtpd_milters (docs/milter.md). */

struct smtpd_milters;
struct smtpd_milter_txn;
struct submit_rcpt;
/* Open d->milters (NULL: none, or receive_override_options has
 * no_milters); -1 with ERR_CONFIG for a bad milter or default action. */
int smtpd_milter_open(struct smtpd *d, const struct conf *conf,
		      struct error *err);
void smtpd_milter_close(struct smtpd *d);
void smtpd_milter_txn_free(struct smtpd_txn *t);
typedef void smtpd_milter_mail_fn(struct smtpd_session *s);
/* MAIL accepted by smtpd (s->txn open): true if milters are asked
 * (CONNECT, HELO, MAIL); the session waits, then a refusal is answered
 * (transaction reset) or next(s) goes on. */
bool smtpd_milter_mail(struct smtpd_session *s, smtpd_milter_mail_fn *next);
/* done(s, arg, refusal): refusal NULL when the milters let the
 * recipient through; called once, also when the session died. */
typedef void smtpd_milter_rcpt_fn(struct smtpd_session *s, void *arg,
				  const struct smtp_reply *refusal);
/* A recipient smtpd accepted: true if milters are asked (done follows). */
bool smtpd_milter_rcpt(struct smtpd_session *s, const char *address,
		       smtpd_milter_rcpt_fn *done, void *arg);
/* A final recipient of address: true if the milters keep it until the
 * end of the message (their delrcpt/addrcpt), instead of the queue. */
bool smtpd_milter_keep_rcpt(struct smtpd_session *s, const char *address,
			    const struct submit_rcpt *rc);
/* The lowest writer of message octets: kept for the milters, or
 * submit_write(). */
int smtpd_queue_write(struct smtpd_session *s, const void *data, size_t len);
typedef void smtpd_milter_end_fn(struct smtpd_session *s);
/* The message is whole: true if milters run (the session waits; a
 * refusal is answered, else the edited message is queued and next(s)
 * goes on with the session resumed). */
bool smtpd_milter_message_end(struct smtpd_session *s,
			      smtpd_milter_end_fn *next);

#endif
