/*
 * psc-session.h - a postscreen client's state, shared by psc-session.c
 * (before the greeting, pass or drop) and psc-smtp.c (after it).  Private
 * to this folder.
 */
#ifndef POSTERN_PSC_SESSION_H
#define POSTERN_PSC_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "postscreen.h"

struct dns_query;
struct psc_session;

/* One DNSBL domain being asked. */
struct psc_query {
	struct psc_session *s;
	size_t domain; /* index in psc_dnsbl_domain_at() */
};

struct psc_session {
	struct postscreen *ps;
	struct psc_settings *set; /* a reference */
	struct list_node node;
	int fd;
	char peer[64];
	unsigned port;
	char listener[128];
	char service[64];
	enum service_tls tls;
	int64_t start_ms;

	int64_t until[PSC_T_COUNT]; /* pass expiry per test (cache) */
	unsigned todo;		    /* tests run on this connection */
	unsigned failed;	    /* tests failed on this connection */
	bool cache_dirty;
	char *reject; /* enforced failure: the reply to RCPT */

	/* Before the greeting. */
	bool greet_done;
	struct dns_query **queries; /* per domain, NULL when answered */
	struct psc_query *qctx;	    /* their callback contexts */
	size_t nqueries;
	size_t dnsbl_pending;
	int score;
	int64_t dnsbl_ttl;
	const char *top_site; /* the listing site with the largest weight */
	int top_weight;

	/* After it (psc-smtp.c). */
	bool smtp;
	struct buf *in;
	long long commands;
	char last[32]; /* the previous command word, for logs */
	char *helo, *sender;

	unsigned pending; /* cache lookups in flight */
	bool write_failed;
	bool passed; /* the fd went to smtpd */
	bool dead;

	/* STARTTLS (psc-smtp.c): from then on the connection is this io
	 * (fd is -1), and the session is never handed to smtpd. */
	struct io *io;
	bool io_dead; /* the io delivered its final event */

	/* What an accepted upstream PROXY header said (server.h struct
	 * server_conn): handed to smtpd with the client, so a balancer's
	 * PP2_CLIENT_SSL secures the session there as on smtpd's own PROXY
	 * path.  NULL / 0 / false without a header. */
	char *proxy_peer;
	unsigned proxy_peer_port;
	char *proxy_local;
	unsigned proxy_local_port;
	bool proxy_tls;
	char *proxy_tls_version, *proxy_tls_cipher, *proxy_tls_cn;
	char *proxy_authority;
};

/* psc-session.c */
const char *psc_test_name(enum psc_test t);
double psc_elapsed(const struct psc_session *s);
void psc_escape(const char *data, size_t len, char *out, size_t size);
int psc_send(struct psc_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void psc_drop(struct psc_session *s, const char *reply);
void psc_pass(struct psc_session *s, const char *verdict);
void psc_mark_pass(struct psc_session *s, enum psc_test t, int64_t ttl);
void psc_cache_store(struct psc_session *s);
/* A failed test under its action: false when the session is over. */
bool psc_fail(struct psc_session *s, enum psc_test t, enum psc_action a,
	      const char *drop_reply, const char *enforce_reply);

/* psc-smtp.c */
void psc_smtp_start(struct psc_session *s);
void psc_smtp_io(struct psc_session *s);
void psc_smtp_end(struct psc_session *s);
/* Release the TLS io of a session that ends: flush the last reply and
 * close in the background (the session may be freed at once). */
void psc_smtp_io_release(struct psc_session *s);

#endif
