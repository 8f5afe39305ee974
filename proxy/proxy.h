/*
 * proxy.h - postern-imap-proxy's private header (this folder only).
 *
 * A session is one client connection: it speaks IMAP itself until the
 * login (proxy-session.c), checks the password and finds the backend on
 * the worker pool, connects and logs in to the backend
 * (proxy-backend.c), then relays bytes both ways until either side
 * closes.  Everything but the worker job runs on the loop thread.
 */
#ifndef POSTERN_PROXY_H
#define POSTERN_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/list.h"
#include "server/server.h"

struct proxy_backends;
struct auth_throttle;
struct lmtp_server_settings;

struct proxy_settings {
	int64_t login_timeout_ms;   /* imapd_login_timeout */
	int64_t timeout_ms;	    /* proxy_timeout */
	int64_t connect_timeout_ms; /* proxy_connect_timeout */
	int64_t failure_delay_ms;   /* auth_failure_delay */
	size_t max_line;	    /* imapd_max_line_length */
	bool plaintext_loopback;    /* imapd_plaintext_loopback */
	bool backend_tls;	    /* proxy_backend_tls */
	/* proxy_lmtp_tls_security_level: 0 none, 1 may, 2 encrypt */
	int lmtp_tls_level;
	char *default_scheme;
	bool password_upgrade;
};

struct proxy {
	struct server *srv;
	struct ev *ev;
	struct db *db;
	struct worker_pool *workers;
	struct proxy_backends *backends;
	/* Client context for the backends (IMAP with proxy_backend_tls,
	 * LMTP STARTTLS), verifying with proxy_backend_tls_verify; NULL
	 * when neither leg uses TLS.  Rebuilt on reload. */
	struct tls_ctx *backend_tls;
	struct auth_throttle *throttle;
	struct proxy_settings set;
	/* LMTP services: the LMTP server settings, as loaded at start-up,
	 * and the live connections (lmtp/lmtp_conn.h). */
	struct lmtp_server_settings *lmtp_set;
	struct list_node lmtp_conns;
	unsigned lmtp_port; /* proxy_lmtp_port */
	unsigned sessions;
	struct list_node session_list; /* IMAP sessions */
	bool stopping;
	/* Lookups (passdb, backends): replicas first, then the primary
	 * (db_open_read); db stays the primary for a rehash. */
	struct db *read_db;
};

enum psess_state {
	PSESS_PREAUTH,	 /* reading commands */
	PSESS_AUTH_CONT, /* AUTHENTICATE PLAIN: waiting for the response */
	PSESS_CHECKING,	 /* passdb and backend lookup on a worker */
	PSESS_BACKEND,	 /* connecting and logging in to the backend */
	PSESS_RELAY,	 /* passing bytes through */
};

enum pback_state {
	PBACK_CONNECTING,
	PBACK_GREETING,
	PBACK_LOGIN, /* ID and AUTHENTICATE sent, waiting for the tagged OK */
};

struct psess {
	struct list_node node;
	struct proxy *proxy;
	struct io *cio; /* the client */
	struct io *bio; /* the backend, once connecting */
	char id[16];
	char *peer;
	unsigned peer_port;
	char *local;
	unsigned local_port;
	bool implicit_tls, starttls_ok, tls, loopback;
	enum psess_state state;
	enum pback_state bstate;
	struct imap_parser *parser;
	uint64_t literal_left;
	struct buf *literal;
	bool in_literal;
	unsigned failures;

	/* The login in progress (tag and credentials are wiped on free). */
	char *tag;
	char *user; /* normalised after a good check */
	char *password;
	char *method;
	char *backend; /* "host:port" */
	int check_result;
	char check_error[256];
	bool busy; /* a worker job holds the session */
	bool dead; /* the client is gone: free when not busy */
	bool delay; /* the failure answer waits for auth_failure_delay */
	bool closing; /* LOGOUT or a fatal error: no more commands */
	struct buf *delayed;
};

/* proxy-session.c */
void psess_start(struct proxy *p, const struct server_conn *conn);
/* End the session now (logged with why), or once the worker is done. */
void psess_end(struct psess *s, const char *why);
/* SIGTERM: say BYE to sessions not logged in, cut the relayed ones (their
 * clients reconnect, to another proxy). */
void psess_stop_all(struct proxy *p);
void psess_reply(struct psess *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* lmtp-proxy.c: a connection to an "lmtp..." service. */
void lproxy_accept(struct proxy *p, const struct server_conn *conn);

/* proxy-backend.c */
/* The host of a backend "host:port" (the name its certificate must
 * match); false when it does not parse. */
bool pback_host(const char *backend, char *out, size_t size);
/* Connect to s->backend and log in as s->user; answers the client. */
void pback_start(struct psess *s);
/* Both ends open: relay (called by pback once logged in). */
void psess_relay_start(struct psess *s);

#endif
