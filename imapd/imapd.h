/*
 * imapd - postern-imapd's internal interface: the process, the settings
 * and the session, split over its files (a table of contents):
 *
 *   main.c             the process: settings, database, worker pool,
 *                      store, throttle, notify; server hooks
 *   imapd-session.c    one connection: io events, input framing (lines
 *                      and literals, APPEND literals spooled to a file),
 *                      running a command on the worker pool and writing
 *                      its output with back-pressure, timeouts
 *   imapd-commands.c   the command table, dispatch, the imapd-cmd.h
 *                      accessors, CAPABILITY NOOP LOGOUT ID ENABLE
 *                      NAMESPACE CHECK
 *   imapd-auth.c       STARTTLS, LOGIN, AUTHENTICATE PLAIN, throttling
 *   imapd-mailbox.c    CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST
 *                      LSUB STATUS, mailbox name checks
 *   imapd-select.c     SELECT EXAMINE CLOSE UNSELECT, imapd_cmd_sync
 *   imapd-append.c     APPEND
 *   imapd-idle.c       IDLE
 *   imapd-notify.c     inotify watches shared by the sessions
 *   imapd-notifycmd.c  NOTIFY (RFC 5465)
 *   imapd-quota.c      GETQUOTA GETQUOTAROOT (RFC 9208)
 *   imapd-metadata.c   GETMETADATA SETMETADATA (RFC 5464)
 *   imapd-args.c       small helpers over lib/imap's parsed arguments
 *
 * Threads: everything runs on the loop thread except a command's run()
 * (imapd-cmd.h), which runs on a worker while the session waits (busy):
 * a session has at most one job in the pool, so run() owns the session's
 * command-side state (user, folder, enabled...) while it runs, and the
 * loop touches only the io side.
 */
#ifndef POSTERN_IMAPD_H
#define POSTERN_IMAPD_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/list.h"
#include "server/server.h"
#include "store/store.h"

#include "imapd-cmd.h"

struct auth_throttle;
struct db;
struct ev;
struct imapd_notify;
struct imapd_watch;
struct imap_command;
struct io;
struct mindex_user;
struct store;
struct store_mailbox;
struct worker_pool;

struct imapd_settings {
	int refs;
	char *hostname;
	int64_t timeout_ms;	  /* autologout after login */
	int64_t login_timeout_ms; /* before login */
	size_t max_line;
	uint64_t literal_limit;
	uint64_t append_limit;
	bool plaintext_loopback;
	int64_t keepalive_ms;
	int64_t failure_delay_ms;
	char *default_scheme;
	bool password_upgrade;
	/* full_text_min_free (lib/fts/fts_batch.h) */
	unsigned fts_min_free_percent;
	uint64_t fts_min_free_bytes;
};

struct imapd_settings *imapd_settings_new(const struct conf *conf);
struct imapd_settings *imapd_settings_ref(struct imapd_settings *set);
void imapd_settings_unref(struct imapd_settings **set);

/* The process. */
struct map;
struct imapd {
	struct server *srv;
	struct ev *ev;
	struct imapd_settings *set;
	struct db *db;
	struct store *store;
	char *mail_directory;
	struct worker_pool *workers;
	/* Failed logins per user, and per client address (a limit three
	 * times higher: many users may share one NAT address). */
	struct auth_throttle *throttle;
	struct auth_throttle *throttle_ip;
	struct imapd_notify *notify;
	unsigned sessions;
	struct list_node session_list;
	bool stopping;
	/* imapd_trusted_networks (a cidr map; NULL: none): IMAP proxies. */
	struct map *trusted;
	/* Lookups (passdb): replicas first, then the primary
	 * (db_open_read); db stays the primary for writes. */
	struct db *read_db;
};

/* Where the loop is with a session's input. */
enum imapd_input {
	IMAPD_IN_LINE,	  /* reading a command line */
	IMAPD_IN_LITERAL, /* reading literal octets into the command */
	IMAPD_IN_AUTH,	  /* AUTHENTICATE: waiting for the response line */
	IMAPD_IN_IDLE,	  /* IDLE: waiting for DONE */
};

/* What the loop does once a command has finished (imapd_cmd_after). */
enum {
	IMAPD_AFTER_CLOSE = 1 << 0,	/* LOGOUT: close after the output */
	IMAPD_AFTER_STARTTLS = 1 << 1,	/* start TLS after the output */
	IMAPD_AFTER_AUTH_CONT = 1 << 2, /* read an AUTHENTICATE response */
	IMAPD_AFTER_IDLE = 1 << 3,	/* enter IDLE */
	IMAPD_AFTER_LOGIN = 1 << 4,	/* logged in: longer timeout */
	IMAPD_AFTER_DELAY = 1 << 5,	/* hold the output (failed login) */
	IMAPD_AFTER_COMPRESS = 1 << 7,	/* COMPRESS=DEFLATE after the OK */
};

struct imapd_session {
	struct list_node node;
	struct imapd *imapd;
	struct imapd_settings *set;
	struct io *io;
	char id[16]; /* for logs */
	char *peer;
	unsigned peer_port;
	char *local; /* listener address */
	bool implicit_tls;
	bool starttls_ok; /* the listener offers STARTTLS */
	bool tls;	  /* TLS is active */
	bool loopback;
	bool greeted;
	bool compressed; /* COMPRESS=DEFLATE active */
	unsigned state;	 /* IMAPD_STATE_* (one bit) */

	/* Input framing. */
	enum imapd_input input;
	uint64_t literal_left; /* octets of the literal still to come */
	int spool_fd;	       /* APPEND literal going to a file, or -1 */

	/* The command running (NULL when none). */
	struct imapd_cmd *cmd;
	bool busy;	     /* a worker job or delayed output is pending */
	bool dead;	     /* the connection is gone; freed when not busy */
	bool closing;	     /* LOGOUT or fatal: no more input */
	struct buf *delayed; /* output held by IMAPD_AFTER_DELAY */

	/* Command-side state: touched by run() on the worker. */
	char *user;		    /* normalised address once logged in */
	struct store_mailbox *mbox; /* the user's store */
	struct mindex_user *mu;
	struct mindex_folder *folder; /* selected, or NULL */
	bool readonly;
	unsigned enabled; /* IMAPD_ENABLED_* */
	uint32_t *saved;  /* SEARCHRES */
	size_t saved_count;
	unsigned auth_failures;
	char *auth_tag;	     /* AUTHENTICATE waiting for its response */
	char *auth_response; /* the response line, for the next run */

	/* IDLE. */
	char *idle_tag;
	struct imapd_watch *watch; /* the selected folder's inotify watch */
	bool idle_sync_pending;	   /* a change came while a sync ran */

	/* NOTIFY (imapd-notifycmd.c); NULL until the first NOTIFY SET. */
	struct imapd_nfy *nfy;

	/* The peer is in imapd_trusted_networks (a proxy): its ID may
	 * forward the client address, kept in peer; proxy_peer is then the
	 * proxy's own (freed with the session). */
	bool trusted;
	char *proxy_peer;
};

/* An APPEND literal spooled to a file (the parser's stream handle). */
struct imapd_spool {
	int fd;
};

/* main.c */
struct tls_ctx *imapd_tls(const struct imapd *imapd);
/* PEER is in imapd_trusted_networks (loop thread). */
bool imapd_peer_trusted(struct imapd *imapd, const char *peer);

/* imapd-session.c */
void imapd_session_start(struct imapd *imapd, const struct server_conn *conn);
void imapd_sessions_stop(struct imapd *imapd);
/* Write untagged text now (loop thread; IDLE, keep-alive). */
void imapd_session_write(struct imapd_session *s, const char *data, size_t len);
/* Run an internal command (IDLE's sync) on the worker like a client one. */
void imapd_session_run_internal(struct imapd_session *s, imapd_cmd_fn *run);
/* The internal command's output was written: free it, go on reading. */
void imapd_session_internal_done(struct imapd_session *s);

/* imapd-commands.c */
const struct imapd_command_def *imapd_command_find(const char *name);
struct imapd_cmd *imapd_cmd_new(struct imapd_session *s, const char *tag,
				const char *name, bool uid,
				const struct imapd_command_def *def);
void imapd_cmd_free(struct imapd_cmd **cmd);
/* Parse the arguments after the command name (loop thread); -1 with a
 * message for BAD. */
int imapd_cmd_parse(struct imapd_cmd *cmd, const char *data, size_t len,
		    const char **error_r);
enum imapd_cmd_result imapd_cmd_run(struct imapd_cmd *cmd);
void imapd_cmd_after(struct imapd_cmd *cmd, unsigned bits);
void imapd_cmd_clear_after(struct imapd_cmd *cmd, unsigned bits);
unsigned imapd_cmd_after_bits(const struct imapd_cmd *cmd);
/* The parsed command (owned by cmd from now on). */
void imapd_cmd_take_command(struct imapd_cmd *cmd, struct imap_command *ic);
/* What the last run() returned. */
enum imapd_cmd_result imapd_cmd_result(const struct imapd_cmd *cmd);
/* An internal command (IDLE's sync): run is called instead of the
 * table's; its output is untagged only. */
void imapd_cmd_set_internal(struct imapd_cmd *cmd, imapd_cmd_fn *run);
bool imapd_cmd_is_internal(const struct imapd_cmd *cmd);
/* The APPEND literal spooled to a file (fd >= 0) and its size. */
void imapd_cmd_set_spool(struct imapd_cmd *cmd, int fd, uint64_t size);
int imapd_cmd_spool(const struct imapd_cmd *cmd, uint64_t *size_r);
void imapd_capability(const struct imapd_session *s, struct buf *out);
/* Capabilities of the message commands (imapd-commands.c). */
extern const char imapd_extra_capabilities[];
/* Plaintext LOGIN / AUTH=PLAIN allowed on this connection? */
bool imapd_session_login_allowed(const struct imapd_session *s);
/* enum imap_quote_flags for the session (UTF-8 after ENABLE). */
unsigned imapd_session_quote_flags(const struct imapd_session *s);

/* imapd-auth.c */
imapd_cmd_fn imapd_cmd_starttls, imapd_cmd_login, imapd_cmd_authenticate;
/* Log out the user (session end): frees the store handles. */
void imapd_auth_logout(struct imapd_session *s);

/* imapd-mailbox.c */
imapd_cmd_fn imapd_cmd_create, imapd_cmd_delete, imapd_cmd_rename,
    imapd_cmd_subscribe, imapd_cmd_unsubscribe, imapd_cmd_list, imapd_cmd_lsub,
    imapd_cmd_status;
/*
 * An IMAP mailbox name (UTF-8 when utf8, else modified UTF-7, as the
 * client sent it) to the name on disk ("INBOX", "A.B" in modified UTF-7);
 * NULL with a reason when it is not acceptable.
 */
char *imapd_mailbox_to_disk(const struct imapd_session *s, const char *name,
			    const char **why_r);
/* RFC 8474 MAILBOXID of a folder (its dovecot-uidlist GUID, malloc'd),
 * NULL when it has none (logged on error). */
char *imapd_mailbox_id(struct imapd_session *s, const char *disk);
/* NO with the IMAP response code for a mindex/store error. */
void imapd_mailbox_error(struct imapd_cmd *cmd, const struct error *err);
/* Append a disk name as the client sees it (mailbox syntax, quoted). */
void imapd_mailbox_append(const struct imapd_session *s, struct buf *out,
			  const char *disk);

/* imapd-select.c */
imapd_cmd_fn imapd_cmd_select, imapd_cmd_examine, imapd_cmd_close,
    imapd_cmd_unselect;
void imapd_select_free(struct imapd_session *s);
/* Append the FLAGS and PERMANENTFLAGS lists of the selected folder. */
void imapd_select_flags(struct imapd_session *s, struct buf *out);

/* imapd-append.c */
imapd_cmd_fn imapd_cmd_append;

/* imapd-idle.c */
imapd_cmd_fn imapd_cmd_idle;
/* The loop's side of IDLE: a line while idling, a change, keep-alive. */
void imapd_idle_line(struct imapd_session *s, const char *line);
void imapd_idle_start(struct imapd_session *s);
void imapd_idle_stop(struct imapd_session *s);
void imapd_idle_changed(struct imapd_session *s);
/* An IDLE sync finished (its output is written). */
void imapd_idle_sync_done(struct imapd_session *s, struct imapd_cmd *cmd);

/* imapd-quota.c */
imapd_cmd_fn imapd_cmd_getquota, imapd_cmd_getquotaroot, imapd_cmd_setquota;
/* The user's quota limit (SQL) and usage (store); -1 on error. */
int imapd_quota_get(struct imapd_session *s, struct store_quota *quota_r,
		    struct store_usage *usage_r, struct error *err);

/* imapd-metadata.c: GETMETADATA SETMETADATA (RFC 5464). */
imapd_cmd_fn imapd_cmd_getmetadata, imapd_cmd_setmetadata;

/* imapd-notify.c: one inotify fd per process, watches shared by path. */
struct imapd_notify *imapd_notify_new(struct ev *ev, struct error *err);
void imapd_notify_free(struct imapd_notify **n);
typedef void imapd_notify_fn(void *ctx);
/* Watch DIR/new and DIR/cur; cb(ctx) on the loop when they change.
 * NULL when the watch cannot be added (logged). */
struct imapd_watch *imapd_notify_add(struct imapd_notify *n, const char *dir,
				     imapd_notify_fn *cb, void *ctx);
void imapd_notify_remove(struct imapd_notify *n, struct imapd_watch **w);
/* Watch the user's mailbox ROOT itself: cb(ctx) when a folder directory
 * (".Name") or the subscriptions file comes, goes or is replaced. */
struct imapd_watch *imapd_notify_add_root(struct imapd_notify *n,
					  const char *root, imapd_notify_fn *cb,
					  void *ctx);

/* imapd-notifycmd.c: NOTIFY (RFC 5465). */
imapd_cmd_fn imapd_cmd_notify;
/* A point where the session has no command in progress (loop thread):
 * apply watch changes and, unless half a command has arrived
 * (mid_command), run what is due. */
void imapd_nfy_loop(struct imapd_session *s, bool mid_command);
void imapd_nfy_free(struct imapd_session *s);

#endif
