/*
 * psc-session.c - one client of postern-postscreen, Postfix's
 * postscreen(8) order:
 *   1. postscreen_access_list: permit passes at once (ALLOWLISTED),
 *      reject is DENYLISTED (postscreen_blacklist_action);
 *   2. the cache: a client whose every enabled test has an unexpired
 *      pass goes straight to smtpd (PASS OLD);
 *   3. before the greeting: "220-banner", then postscreen_greet_wait
 *      listening (a client that talks first is a PREGREET), while the
 *      postscreen_dnsbl_sites are asked; the score is compared with
 *      the thresholds when both are done (a score at or below a negative
 *      allowlist threshold passes at once);
 *   4. after the greeting, only when a deep test is due or a failure is
 *      enforced: postscreen completes the greeting and speaks SMTP itself
 *      (psc-smtp.c), 450 (or the enforced 550) to every RCPT; a client
 *      that passes is remembered and gets through on its next connection;
 *   5. a client that passes is handed to smtpd with the facts to log.
 * Input before the greeting is only peeked at (MSG_PEEK), so a client
 * let through after a PREGREET under "ignore" loses nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "dns/dns.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "map/map.h"
#include "server/server_pass.h"
#include "tls/io.h"

#include "psc-session.h"

static void session_end(struct psc_session *s);
static void greet_timer_cb(struct ev *ev, struct psc_session *s);

static const char *const test_names[PSC_T_COUNT] = {
    "pregreet", "dnsbl", "pipelining", "non_smtp_command", "bare_newline",
};

const char *psc_test_name(enum psc_test t)
{
	return test_names[t];
}

double psc_elapsed(const struct psc_session *s)
{
	return (double)(ev_now(s->ps->ev) - s->start_ms) / 1000.0;
}

/* Log text a client sent, escaped as Postfix does (\r, \n, \ooo). */
void psc_escape(const char *data, size_t len, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = (unsigned char)data[i];
		if (c == '\r')
			o += (size_t)snprintf(out + o, size - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(out + o, size - o, "\\n");
		else if (c < 0x20 || c >= 0x7f || c == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\%03o", c);
		else
			out[o++] = (char)c;
	}
	out[o < size ? o : size - 1] = '\0';
}

int psc_send(struct psc_session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;
	ssize_t w;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	memcpy(line + n, "\r\n", 2);
	n += 2;
	if (s->io != NULL) {
		/* TLS: queued and flushed by the io. */
		io_write(s->io, line, (size_t)n);
		return 0;
	}
	if (s->fd < 0) {
		s->write_failed = true;
		return -1;
	}
	/* Replies are small and the client has had no reason to fill our
	 * socket buffer (commands are counted): a short write is a client
	 * that does not read, hung up as Postfix's postscreen does. */
	do
		w = send(s->fd, line, (size_t)n, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w != n) {
		s->write_failed = true;
		return -1;
	}
	return 0;
}

/* Reply and hang up (the "drop" action, errors). */
void psc_drop(struct psc_session *s, const char *reply)
{
	if (reply != NULL)
		psc_send(s, "%s", reply);
	log_info("DISCONNECT [%s]:%u", s->peer, s->port);
	session_end(s);
}

static void session_free(struct psc_session *s)
{
	buf_free(&s->in);
	free(s->reject);
	free(s->helo);
	free(s->sender);
	free(s->queries);
	free(s->qctx);
	free(s->proxy_peer);
	free(s->proxy_local);
	free(s->proxy_tls_version);
	free(s->proxy_tls_cipher);
	free(s->proxy_tls_cn);
	free(s->proxy_authority);
	psc_settings_unref(&s->set);
	free(s);
}

static void session_end(struct psc_session *s)
{
	if (s->dead)
		return;
	s->dead = true;
	list_remove(&s->node);
	EV_TIMER_DEL(s->ps->ev, greet_timer_cb, s);
	psc_smtp_end(s);
	for (size_t i = 0; i < s->nqueries; i++)
		if (s->queries[i] != NULL)
			dns_cancel(&s->queries[i]);
	psc_smtp_io_release(s);
	if (s->fd >= 0) {
		char junk[4096];
		ev_fd_del(s->ps->ev, s->fd);
		/* Read what the client sent (a PREGREET was only peeked at), so
		 * close() sends FIN after our last reply, not a reset that
		 * could destroy it.  Never after a pass: the socket is
		 * smtpd's now, and so is what the client sends. */
		for (int i = 0; i < 16 && !s->passed; i++)
			if (recv(s->fd, junk, sizeof(junk), MSG_DONTWAIT) <= 0)
				break;
		close(s->fd);
		s->fd = -1;
	}
	server_conn_done(s->ps->srv);
	if (s->pending == 0)
		session_free(s);
}

/* Remember the passes of this connection (fire and forget). */
void psc_cache_store(struct psc_session *s)
{
	if (s->ps->cache != NULL && s->cache_dirty)
		psc_cache_update(s->ps->cache, s->peer, s->until);
	s->cache_dirty = false;
}

void psc_mark_pass(struct psc_session *s, enum psc_test t, int64_t ttl)
{
	s->until[t] = (int64_t)time(NULL) + ttl;
	s->cache_dirty = true;
}

/* Hand the client to smtpd: the end of this session either way. */
void psc_pass(struct psc_session *s, const char *verdict)
{
	struct server_pass p = {
	    .service = s->service,
	    .listener = s->listener,
	    .tls = s->tls,
	    .peer = s->peer,
	    .peer_port = s->port,
	    .verdict = verdict,
	    .proxy_peer = s->proxy_peer,
	    .proxy_peer_port = s->proxy_peer_port,
	    .local = s->proxy_local,
	    .local_port = s->proxy_local_port,
	    .proxy_tls = s->proxy_tls,
	    .proxy_tls_version = s->proxy_tls_version,
	    .proxy_tls_cipher = s->proxy_tls_cipher,
	    .proxy_tls_cn = s->proxy_tls_cn,
	    .proxy_authority = s->proxy_authority,
	};
	char facts[256];
	struct error err;
	int sock;

	psc_cache_store(s);
	snprintf(facts, sizeof(facts), "pregreet=%s dnsbl_rank=%d%s%s",
		 s->failed & (1u << PSC_T_PREGREET) ? "yes" : "no", s->score,
		 s->top_site != NULL ? " dnsbl=" : "",
		 s->top_site != NULL ? s->top_site : "");
	p.facts = facts;
	sock = net_connect_unix(s->set->pass_socket, &err);
	if (sock < 0 || server_pass_send(sock, s->fd, &p, &err) < 0) {
		/* Postfix's answer when smtpd cannot take the client. */
		log_warn("cannot pass [%s]:%u to smtpd (%s): %s", s->peer,
			 s->port, s->set->pass_socket, err.msg);
		if (sock >= 0)
			close(sock);
		psc_drop(s, "421 4.3.2 All server ports are busy");
		return;
	}
	close(sock);
	s->passed = true;
	session_end(s);
}

/* ---- Before the greeting. */

/* Is test T enabled and due (not passed within its TTL)? */
static bool due(const struct psc_session *s, enum psc_test t, int64_t now)
{
	switch (t) {
	case PSC_T_PREGREET:
		if (s->set->greet_wait_ms <= 0)
			return false;
		break;
	case PSC_T_DNSBL:
		if (psc_dnsbl_count(s->set->dnsbl) == 0 || s->ps->dns == NULL)
			return false;
		break;
	case PSC_T_PIPELINING:
		if (!s->set->pipelining)
			return false;
		break;
	case PSC_T_NONSMTP:
		if (!s->set->nonsmtp)
			return false;
		break;
	case PSC_T_BARENL:
		if (!s->set->barenl)
			return false;
		break;
	case PSC_T_COUNT:
		return false;
	}
	return s->until[t] <= now;
}

/* A failed test under its action: false when the session is over. */
bool psc_fail(struct psc_session *s, enum psc_test t, enum psc_action a,
	      const char *drop_reply, const char *enforce_reply)
{
	s->failed |= 1u << t;
	s->until[t] = 0;
	s->cache_dirty = true;
	if (a == PSC_DROP) {
		psc_cache_store(s);
		psc_drop(s, drop_reply);
		return false;
	}
	if (a == PSC_ENFORCE && s->reject == NULL)
		s->reject = xstrdup(enforce_reply);
	return true;
}

static void verdict(struct psc_session *s)
{
	int64_t now = (int64_t)time(NULL);
	bool deep = false;

	if (!s->greet_done || s->dnsbl_pending > 0 || s->dead)
		return;
	if ((s->todo & (1u << PSC_T_PREGREET)) &&
	    !(s->failed & (1u << PSC_T_PREGREET)))
		psc_mark_pass(s, PSC_T_PREGREET, s->set->ttl[PSC_T_PREGREET]);
	if (s->todo & (1u << PSC_T_DNSBL)) {
		if (s->score >= s->set->dnsbl_threshold) {
			char drop[512], enforce[512];
			log_info("DNSBL rank %d for [%s]:%u", s->score, s->peer,
				 s->port);
			snprintf(drop, sizeof(drop),
				 "521 5.7.1 Service unavailable; client [%s] "
				 "blocked using %s",
				 s->peer, s->top_site ? s->top_site : "?");
			snprintf(enforce, sizeof(enforce),
				 "550 5.7.1 Service unavailable; client [%s] "
				 "blocked using %s",
				 s->peer, s->top_site ? s->top_site : "?");
			if (!psc_fail(s, PSC_T_DNSBL, s->set->dnsbl_action,
				      drop, enforce))
				return;
		} else {
			int64_t ttl = s->dnsbl_ttl;
			if (ttl < s->set->dnsbl_min_ttl)
				ttl = s->set->dnsbl_min_ttl;
			if (ttl > s->set->ttl[PSC_T_DNSBL])
				ttl = s->set->ttl[PSC_T_DNSBL];
			psc_mark_pass(s, PSC_T_DNSBL, ttl);
		}
	}
	for (int t = PSC_T_PIPELINING; t < PSC_T_COUNT; t++)
		if (due(s, (enum psc_test)t, now)) {
			s->todo |= 1u << t;
			deep = true;
		}
	if (deep || s->reject != NULL) {
		psc_smtp_start(s);
		return;
	}
	if (s->failed == 0)
		log_info("PASS NEW [%s]:%u", s->peer, s->port);
	psc_pass(s, s->failed == 0 ? "PASS NEW" : "PASS IGNORED");
}

static void greet_timer_cb(struct ev *ev, struct psc_session *s)
{
	(void)ev;
	s->greet_done = true;
	if (s->fd >= 0 && !s->smtp)
		ev_fd_set(s->ps->ev, s->fd, 0, NULL);
	verdict(s);
}

/* Readable before the greeting: a PREGREET, or a hang-up. */
static void greet_io(struct ev *ev, int fd, unsigned events, void *ctx)
{
	struct psc_session *s = ctx;
	char data[256], text[1024];
	ssize_t n;

	(void)ev;
	(void)events;
	if (s->smtp) {
		psc_smtp_io(s);
		return;
	}
	/* After a PREGREET the fd is not watched for input; an error or
	 * hang-up condition is still reported (epoll), and peeking would
	 * find the same bytes again. */
	if (s->failed & (1u << PSC_T_PREGREET)) {
		log_info("HANGUP after %.1f from [%s]:%u in tests before SMTP "
			 "handshake",
			 psc_elapsed(s), s->peer, s->port);
		psc_drop(s, NULL);
		return;
	}
	do
		n = recv(fd, data, sizeof(data), MSG_PEEK);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		log_info("HANGUP after %.1f from [%s]:%u in tests before SMTP "
			 "handshake",
			 psc_elapsed(s), s->peer, s->port);
		psc_drop(s, NULL);
		return;
	}
	/* Peeked data stays readable: stop listening until the verdict. */
	ev_fd_set(s->ps->ev, fd, 0, NULL);
	psc_escape(data, (size_t)n, text, sizeof(text));
	log_info("PREGREET %zd after %.1f from [%s]:%u: %s", n, psc_elapsed(s),
		 s->peer, s->port, text);
	if (!psc_fail(s, PSC_T_PREGREET, s->set->greet_action,
		      "521 5.5.1 Protocol error", "550 5.5.1 Protocol error"))
		return;
	/* Under enforce/ignore the other tests finish first. */
}

static void dnsbl_cb(struct dns_result *res, int ret, const struct error *err,
		     void *ctx)
{
	struct psc_query *q = ctx;
	struct psc_session *s = q->s;
	const char *domain = psc_dnsbl_domain_at(s->set->dnsbl, q->domain);
	const char *addrs[16];
	size_t n = 0;
	long top;

	s->queries[q->domain] = NULL;
	s->dnsbl_pending--;
	if (ret < 0)
		log_warn("[%s]:%u: DNSBL %s: lookup failed (not listed): %s",
			 s->peer, s->port, domain, err != NULL ? err->msg : "?");
	for (size_t i = 0; ret == 1 && i < res->count && n < 16; i++)
		if (res->rrs[i].type == DNS_T_A)
			addrs[n++] = res->rrs[i].addr.text;
	if (res != NULL && (s->dnsbl_ttl < 0 || res->ttl < s->dnsbl_ttl))
		s->dnsbl_ttl = res->ttl;
	if (n > 0) {
		int add = psc_dnsbl_score(s->set->dnsbl, domain, addrs, n, &top);
		s->score += add;
		if (top >= 0 && psc_dnsbl_site_weight(s->set->dnsbl,
						      (size_t)top) > 0 &&
		    (s->top_site == NULL ||
		     psc_dnsbl_site_weight(s->set->dnsbl, (size_t)top) >
			 s->top_weight)) {
			s->top_site = psc_dnsbl_site_domain(s->set->dnsbl,
							    (size_t)top);
			s->top_weight =
			    psc_dnsbl_site_weight(s->set->dnsbl, (size_t)top);
		}
	}
	dns_result_free(&res);
	if (s->dnsbl_pending > 0)
		return;
	/* Allowlisted by score (postscreen_dnsbl_allowlist_threshold):
	 * skip every other test, even a greet wait still running. */
	if (s->set->allowlist_threshold < 0 &&
	    s->score <= s->set->allowlist_threshold && s->failed == 0) {
		log_info("DNSBL rank %d for [%s]:%u", s->score, s->peer,
			 s->port);
		log_info("PASS NEW [%s]:%u", s->peer, s->port);
		psc_pass(s, "ALLOWLISTED");
		return;
	}
	verdict(s);
}

static void start_dnsbl(struct psc_session *s)
{
	size_t nd = psc_dnsbl_ndomains(s->set->dnsbl);

	s->queries = xcalloc(nd, sizeof(*s->queries));
	s->qctx = xcalloc(nd, sizeof(*s->qctx));
	s->nqueries = nd;
	s->dnsbl_ttl = -1;
	for (size_t i = 0; i < nd; i++) {
		char name[DNS_NAME_TEXT_MAX];
		struct error err;
		struct psc_query *q;
		if (dns_dnsbl_name(s->peer, psc_dnsbl_domain_at(s->set->dnsbl, i),
				   name, sizeof(name), &err) < 0)
			continue;
		q = &s->qctx[i];
		q->s = s;
		q->domain = i;
		s->dnsbl_pending++;
		s->queries[i] =
		    dns_lookup(s->ps->dns, name, DNS_T_A, 0, dnsbl_cb, q);
	}
}

static void start_tests(struct psc_session *s)
{
	int64_t now = (int64_t)time(NULL);
	struct error err;

	for (int t = 0; t < PSC_T_COUNT; t++)
		if (due(s, (enum psc_test)t, now))
			s->todo |= 1u << t;
	if (s->todo == 0 && s->reject == NULL) {
		log_info("PASS OLD [%s]:%u", s->peer, s->port);
		psc_pass(s, "PASS OLD");
		return;
	}
	if (ev_fd_add(s->ps->ev, s->fd, 0, greet_io, s, &err) < 0) {
		log_warn("[%s]:%u: %s", s->peer, s->port, err.msg);
		psc_drop(s, "421 4.3.2 Service currently unavailable");
		return;
	}
	if (s->todo & (1u << PSC_T_PREGREET)) {
		if (*s->set->banner != '\0' &&
		    psc_send(s, "220-%s", s->set->banner) < 0) {
			psc_drop(s, NULL);
			return;
		}
		ev_fd_set(s->ps->ev, s->fd, EV_READ, NULL);
		EV_TIMER_ADD(s->ps->ev, s->set->greet_wait_ms, greet_timer_cb,
			     s);
	} else {
		s->greet_done = true;
	}
	if (s->todo & (1u << PSC_T_DNSBL))
		start_dnsbl(s);
	verdict(s);
}

static void cache_cb(void *ctx, int ret, const int64_t *until)
{
	struct psc_session *s = ctx;

	s->pending--;
	if (s->dead) {
		if (s->pending == 0)
			session_free(s);
		return;
	}
	if (ret == 1)
		memcpy(s->until, until, sizeof(s->until));
	start_tests(s);
}

/* postscreen_access_list: 1 permit, -1 reject, 0 neither. */
static int access_check(struct psc_session *s)
{
	struct postscreen *ps = s->ps;
	struct buf *v = buf_new();
	struct error err;
	int verdict_ = 0;

	for (size_t i = 0; i < ps->naccess && verdict_ == 0; i++) {
		struct map *m = ps->access[i] != NULL ? ps->access[i]
						      : ps->mynetworks;
		int r = map_lookup(m, s->peer, v, &err);
		if (r < 0) {
			log_warn("postscreen_access_list %s: %s (skipped)",
				 map_spec(m), err.msg);
			continue;
		}
		if (r == 0)
			continue;
		const char *word = buf_data(v);
		if (strncasecmp(word, "permit", 6) == 0 ||
		    strncasecmp(word, "ok", 2) == 0)
			verdict_ = 1;
		else if (strncasecmp(word, "reject", 6) == 0)
			verdict_ = -1;
		else if (strncasecmp(word, "dunno", 5) != 0)
			log_warn("postscreen_access_list %s: [%s]: unknown "
				 "action \"%s\" (dunno)",
				 map_spec(m), s->peer, word);
	}
	buf_free(&v);
	return verdict_;
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void psc_session_start(struct postscreen *ps, const struct server_conn *conn)
{
	struct psc_session *s = xcalloc(1, sizeof(*s));
	int acc;

	s->ps = ps;
	s->set = psc_settings_ref(ps->set);
	s->fd = conn->fd;
	snprintf(s->peer, sizeof(s->peer), "%s", conn->peer);
	s->port = conn->peer_port;
	snprintf(s->listener, sizeof(s->listener), "%s", conn->listener);
	snprintf(s->service, sizeof(s->service), "%s", conn->service);
	s->tls = conn->tls;
	s->proxy_peer = dup_or_null(conn->proxy_peer);
	s->proxy_peer_port = conn->proxy_peer_port;
	s->proxy_local = dup_or_null(conn->local);
	s->proxy_local_port = conn->local_port;
	s->proxy_tls = conn->proxy_tls;
	if (conn->proxy_tls) {
		s->proxy_tls_version = dup_or_null(conn->proxy_tls_version);
		s->proxy_tls_cipher = dup_or_null(conn->proxy_tls_cipher);
		s->proxy_tls_cn = dup_or_null(conn->proxy_tls_cn);
		s->proxy_authority = dup_or_null(conn->proxy_authority);
	}
	s->start_ms = ev_now(ps->ev);
	list_push_back(&ps->session_list, &s->node);
	char local[64];
	unsigned lport = 0;
	if (net_local_str(s->fd, local, sizeof(local), &lport) < 0)
		snprintf(local, sizeof(local), "?");
	log_info("CONNECT from [%s]:%u to [%s]:%u", s->peer, s->port, local,
		 lport);
	acc = access_check(s);
	if (acc > 0) {
		log_info("ALLOWLISTED [%s]:%u", s->peer, s->port);
		psc_pass(s, "ALLOWLISTED");
		return;
	}
	if (acc < 0) {
		log_info("DENYLISTED [%s]:%u", s->peer, s->port);
		if (s->set->blacklist_action == PSC_DROP) {
			psc_drop(s, "521 5.3.2 Service currently unavailable");
			return;
		}
		if (s->set->blacklist_action == PSC_ENFORCE)
			s->reject =
			    xstrdup("550 5.3.2 Service currently unavailable");
	}
	if (ps->cache != NULL) {
		s->pending++;
		psc_cache_lookup(ps->cache, s->peer, cache_cb, s);
		return;
	}
	start_tests(s);
}

void psc_sessions_stop(struct postscreen *ps)
{
	while (!list_empty(&ps->session_list)) {
		struct psc_session *s = LIST_ENTRY(list_first(&ps->session_list),
						   struct psc_session, node);
		psc_drop(s, "421 4.3.2 Service shutting down");
	}
}
