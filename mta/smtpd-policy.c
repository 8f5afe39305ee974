/*
 * smtpd-policy.c - check_policy_service (smtpd-policy.h): the service
 * settings, the blocking client with its connection cache, the request's
 * attributes and the restriction itself.  The event loop side (queries
 * of suspended checks) is smtpd-policy-loop.c.
 *
 * Written from SMTPD_POLICY_README and postconf(5)'s
 * smtpd_policy_service_* parameters; no Postfix code.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/array.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "ev/worker.h"
#include "tls/io.h"

#include "smtpd-policy-private.h"
#include "smtpd-restrict-private.h"
#include "smtpd.h"

/* ---- Configuration. */

static int parse_target(struct smtpd_policy *p, const char *t,
			struct error *err)
{
	const char *rest;

	if (str_case_has_prefix(t, "unix:") || t[0] == '/') {
		rest = t[0] == '/' ? t : t + 5;
		if (*rest == '\0' ||
		    strlen(rest) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return error_set(err, ERR_CONFIG,
					 "bad unix "
					 "socket \"%s\"",
					 t);
		p->is_unix = true;
		p->path = xstrdup(rest);
	} else {
		const char *colon;

		rest = str_case_has_prefix(t, "inet:") ? t + 5 : t;
		colon = strrchr(rest, ':');
		if (colon == NULL || colon == rest || colon[1] == '\0')
			return error_set(err, ERR_CONFIG,
					 "\"%s\" is "
					 "not inet:host:port or unix:/path",
					 t);
		/* [v6addr]:port */
		if (rest[0] == '[' && colon[-1] == ']')
			p->host =
			    xstrndup(rest + 1, (size_t)(colon - rest - 2));
		else
			p->host = xstrndup(rest, (size_t)(colon - rest));
		p->port = xstrdup(colon + 1);
	}
	p->target = xstrdup(t);
	return 0;
}

static int option_time(const char *name, const char *v, int64_t *ms_r,
		       struct error *err)
{
	int64_t secs;

	if (time_parse_duration(v, 's', &secs, err) < 0)
		return error_set(err, ERR_CONFIG, "%s=%s: not a time", name, v);
	*ms_r = secs * 1000;
	return 0;
}

static int option_uint(const char *name, const char *v, unsigned *r,
		       struct error *err)
{
	unsigned long long n;

	if (!str_to_u64(v, &n) || n > 1000000)
		return error_set(err, ERR_CONFIG, "%s=%s: not a number", name,
				 v);
	*r = (unsigned)n;
	return 0;
}

/* "{ target, name=value, ... }" (Postfix 3.0's form). */
static int parse_braces(struct smtpd_policy *p, const char *arg,
			struct error *err)
{
	size_t len = strlen(arg);
	char *inner, *save = NULL;
	int ret = 0;
	bool have_target = false;

	if (len < 2 || arg[len - 1] != '}')
		return error_set(err, ERR_CONFIG, "missing } in \"%s\"", arg);
	inner = xstrndup(arg + 1, len - 2);
	for (char *tok = strtok_r(inner, ",", &save); tok != NULL && ret == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		char *w = str_trim(tok), *eq;

		if (*w == '\0')
			continue;
		eq = strchr(w, '=');
		if (eq == NULL) {
			if (have_target)
				ret = error_set(err, ERR_CONFIG,
						"two "
						"targets in \"%s\"",
						arg);
			else
				ret = parse_target(p, w, err);
			have_target = true;
			continue;
		}
		*eq = '\0';
		char *name = str_trim(w), *v = str_trim(eq + 1);
		if (strcmp(name, "timeout") == 0)
			ret = option_time(name, v, &p->timeout_ms, err);
		else if (strcmp(name, "max_idle") == 0)
			ret = option_time(name, v, &p->max_idle_ms, err);
		else if (strcmp(name, "max_ttl") == 0)
			ret = option_time(name, v, &p->max_ttl_ms, err);
		else if (strcmp(name, "retry_delay") == 0)
			ret = option_time(name, v, &p->retry_delay_ms, err);
		else if (strcmp(name, "try_limit") == 0)
			ret = option_uint(name, v, &p->try_limit, err);
		else if (strcmp(name, "request_limit") == 0)
			ret = option_uint(name, v, &p->request_limit, err);
		else if (strcmp(name, "default_action") == 0) {
			free(p->default_action);
			p->default_action = xstrdup(v);
		} else if (strcmp(name, "policy_context") == 0) {
			free(p->context);
			p->context = xstrdup(v);
		} else
			ret = error_set(err, ERR_CONFIG,
					"unknown "
					"option \"%s\"",
					name);
	}
	free(inner);
	if (ret == 0 && !have_target)
		ret = error_set(err, ERR_CONFIG, "no target in \"%s\"", arg);
	return ret;
}

/* The loop connects to numeric addresses only (ev/net.h): a name is
 * resolved once, here, at start-up. */
static int resolve(struct smtpd_policy *p, struct error *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	int gai = getaddrinfo(p->host, p->port, &hints, &ai);

	if (gai != 0)
		return error_set(err, ERR_CONFIG, "%s", gai_strerror(gai));
	gai = getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), serv,
			  sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV);
	freeaddrinfo(ai);
	if (gai != 0)
		return error_set(err, ERR_CONFIG, "%s", gai_strerror(gai));
	p->numeric = xstrdup(host);
	p->port_num = (unsigned)atoi(serv);
	return 0;
}

struct smtpd_policy *smtpd_policy_new(const char *arg, const struct conf *conf,
				      struct error *err)
{
	struct smtpd_policy *p = xcalloc(1, sizeof(*p));
	int ret;

	p->timeout_ms = conf_time(conf, "smtpd_policy_service_timeout") * 1000;
	p->max_idle_ms =
	    conf_time(conf, "smtpd_policy_service_max_idle") * 1000;
	p->max_ttl_ms = conf_time(conf, "smtpd_policy_service_max_ttl") * 1000;
	p->retry_delay_ms =
	    conf_time(conf, "smtpd_policy_service_retry_delay") * 1000;
	p->try_limit =
	    (unsigned)conf_int(conf, "smtpd_policy_service_try_limit");
	p->request_limit =
	    (unsigned)conf_int(conf, "smtpd_policy_service_request_limit");
	p->default_action =
	    xstrdup(conf_str(conf, "smtpd_policy_service_default_action"));
	p->context =
	    xstrdup(conf_str(conf, "smtpd_policy_service_policy_context"));
	pthread_mutex_init(&p->lock, NULL);
	if (arg[0] == '{')
		ret = parse_braces(p, arg, err);
	else
		ret = parse_target(p, arg, err);
	if (ret == 0 && p->timeout_ms <= 0)
		ret =
		    error_set(err, ERR_CONFIG, "the timeout must be positive");
	if (ret == 0 && !p->is_unix)
		ret = resolve(p, err);
	if (ret < 0) {
		smtpd_policy_free(&p);
		return NULL;
	}
	if (p->try_limit == 0)
		p->try_limit = 1;
	return p;
}

static void pconn_close(struct pconn *c)
{
	close(c->fd);
	free(c);
}

void smtpd_policy_free(struct smtpd_policy **pp)
{
	struct smtpd_policy *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	while (p->idle != NULL) {
		struct pconn *c = p->idle;
		p->idle = c->next;
		pconn_close(c);
	}
	smtpd_policy_stop(p);
	free(p->numeric);
	pthread_mutex_destroy(&p->lock);
	free(p->target);
	free(p->host);
	free(p->port);
	free(p->path);
	free(p->default_action);
	free(p->context);
	free(p);
}

const char *smtpd_policy_target(const struct smtpd_policy *p)
{
	return p->target;
}

const char *smtpd_policy_default_action(const struct smtpd_policy *p)
{
	return p->default_action;
}

const char *smtpd_policy_context(const struct smtpd_policy *p)
{
	return p->context;
}

/* ---- Connections. */

/* Wait for EVENTS on fd until the deadline; 0 ready, -1 timeout/error. */
static int wait_fd(int fd, short events, int64_t deadline, struct error *err)
{
	for (;;) {
		int64_t left = deadline - time_mono_ms();
		struct pollfd pfd = {.fd = fd, .events = events};
		int n;

		if (left <= 0)
			return error_set(err, ERR_TEMP, "timed out");
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return error_set(err, ERR_TEMP, "poll: %s",
					 strerror(errno));
	}
}

static int connect_addr(const struct sockaddr *sa, socklen_t salen,
			int64_t deadline, struct error *err)
{
	int fd = socket(sa->sa_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (fd < 0) {
		error_set(err, ERR_TEMP, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, sa, salen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EAGAIN) {
		error_set(err, ERR_TEMP, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (wait_fd(fd, POLLOUT, deadline, err) < 0) {
		error_prefix(err, "connect");
		close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 ||
	    soerr != 0) {
		error_set(err, ERR_TEMP, "connect: %s",
			  strerror(soerr != 0 ? soerr : errno));
		close(fd);
		return -1;
	}
	return fd;
}

static struct pconn *pconn_open(struct smtpd_policy *p, int64_t deadline,
				struct error *err)
{
	int fd = -1;

	if (p->is_unix) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		str_copy(sun.sun_path, p->path, sizeof(sun.sun_path));
		fd = connect_addr((struct sockaddr *)&sun, sizeof(sun),
				  deadline, err);
	} else {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
					 .ai_flags = AI_NUMERICHOST};
		struct addrinfo *ai = NULL;
		int gai = getaddrinfo(p->numeric, p->port, &hints, &ai);

		if (gai != 0) {
			error_set(err, ERR_TEMP, "%s: %s", p->numeric,
				  gai_strerror(gai));
			return NULL;
		}
		for (struct addrinfo *a = ai; a != NULL && fd < 0;
		     a = a->ai_next)
			fd = connect_addr(a->ai_addr, a->ai_addrlen, deadline,
					  err);
		freeaddrinfo(ai);
	}
	if (fd < 0)
		return NULL;
	struct pconn *c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->born_ms = time_mono_ms();
	return c;
}

static bool pconn_expired(const struct smtpd_policy *p, const struct pconn *c,
			  int64_t now)
{
	return (p->max_idle_ms > 0 && now - c->used_ms >= p->max_idle_ms) ||
	       (p->max_ttl_ms > 0 && now - c->born_ms >= p->max_ttl_ms) ||
	       (p->request_limit > 0 && c->requests >= p->request_limit);
}

/* An idle connection still fit for use, or NULL. */
static struct pconn *pconn_take(struct smtpd_policy *p)
{
	int64_t now = time_mono_ms();
	struct pconn *c, *stale = NULL;

	pthread_mutex_lock(&p->lock);
	while ((c = p->idle) != NULL) {
		p->idle = c->next;
		if (!pconn_expired(p, c, now))
			break;
		c->next = stale;
		stale = c;
	}
	pthread_mutex_unlock(&p->lock);
	while (stale != NULL) {
		struct pconn *n = stale->next;
		pconn_close(stale);
		stale = n;
	}
	return c;
}

static void pconn_put(struct smtpd_policy *p, struct pconn *c)
{
	c->used_ms = time_mono_ms();
	if (pconn_expired(p, c, c->used_ms)) {
		pconn_close(c);
		return;
	}
	pthread_mutex_lock(&p->lock);
	c->next = p->idle;
	p->idle = c;
	pthread_mutex_unlock(&p->lock);
}

static int send_all(int fd, const char *data, size_t len, int64_t deadline,
		    struct error *err)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline, err) < 0)
				return -1;
			continue;
		}
		return error_set(err, ERR_TEMP, "write: %s",
				 n < 0 ? strerror(errno) : "closed");
	}
	return 0;
}

/* Read up to the empty line that ends a reply. */
static int read_reply(int fd, struct buf *out, int64_t deadline,
		      struct error *err)
{
	char chunk[4096];

	buf_reset(out);
	for (;;) {
		const char *d = buf_data(out);
		size_t len = buf_len(out);

		if ((len == 1 && d[0] == '\n') ||
		    (len >= 2 && d[len - 1] == '\n' && d[len - 2] == '\n'))
			return 0;
		if (len > POLICY_REPLY_MAX)
			return error_set(err, ERR_TEMP, "reply too long");
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n > 0) {
			buf_append(out, chunk, (size_t)n);
			continue;
		}
		if (n == 0)
			return error_set(err, ERR_TEMP,
					 "connection closed by the server");
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return error_set(err, ERR_TEMP, "read: %s",
					 strerror(errno));
		if (wait_fd(fd, POLLIN, deadline, err) < 0)
			return -1;
	}
}

int smtpd_policy_reply_action(const struct buf *reply, struct buf *action_r)
{
	const char *p = buf_data(reply);

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (n >= 7 && strncasecmp(p, "action=", 7) == 0) {
			buf_reset(action_r);
			buf_append(action_r, p + 7, n - 7);
			return 1;
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	return 0;
}

/* One attempt on one connection. */
static int attempt(struct smtpd_policy *p, struct pconn *c,
		   const struct buf *request, struct buf *reply,
		   struct error *err)
{
	int64_t deadline = time_mono_ms() + p->timeout_ms;
	struct buf *msg = buf_new_size(buf_len(request) + 2);

	buf_append(msg, buf_data(request), buf_len(request));
	buf_append_char(msg, '\n');
	int ret = send_all(c->fd, buf_data(msg), buf_len(msg), deadline, err);
	buf_free(&msg);
	if (ret == 0)
		ret = read_reply(c->fd, reply, deadline, err);
	c->requests++;
	return ret;
}

int smtpd_policy_query(struct smtpd_policy *p, const struct buf *request,
		       struct buf *action_r, struct error *err)
{
	struct buf *reply = buf_new();
	int ret = -1;

	for (unsigned i = 0; i < p->try_limit && ret < 0; i++) {
		struct pconn *c = pconn_take(p);
		bool reused = c != NULL;

		if (i > 0 && p->retry_delay_ms > 0) {
			struct timespec ts = {
			    .tv_sec = p->retry_delay_ms / 1000,
			    .tv_nsec = (p->retry_delay_ms % 1000) * 1000000};
			nanosleep(&ts, NULL);
		}
		if (c == NULL)
			c = pconn_open(p, time_mono_ms() + p->timeout_ms, err);
		if (c == NULL)
			continue;
		ret = attempt(p, c, request, reply, err);
		if (ret < 0) {
			pconn_close(c);
			/* A cached connection the server closed meanwhile
			 * costs no attempt. */
			if (reused)
				i--;
			continue;
		}
		pconn_put(p, c);
	}
	if (ret == 0)
		ret = smtpd_policy_reply_action(reply, action_r);
	buf_free(&reply);
	return ret;
}

/* ---- The attributes from the session (on the loop). */

static char *dup_or_empty(const char *s)
{
	return xstrdup(s != NULL ? s : "");
}

struct smtpd_policy_attrs *smtpd_policy_attrs_new(const struct smtpd_session *s)
{
	struct smtpd_policy_attrs *a = xcalloc(1, sizeof(*a));
	const struct smtpd_txn *t = s->txn;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "";
	bool tls = s->io != NULL && io_tls_active(s->io);

	a->queue_id = dup_or_empty(t != NULL ? t->id : NULL);
	/* Postfix's instance is one per message transaction: the queue id
	 * when there is one, else the session. */
	a->instance =
	    xasprintf("%s", t != NULL && t->id[0] != '\0' ? t->id : s->id);
	/* XXX the mechanism is private to smtpd-auth.c: sent empty. */
	a->sasl_method = xstrdup("");
	a->encryption_protocol =
	    dup_or_empty(tls ? io_tls_protocol(s->io) : NULL);
	a->encryption_cipher = dup_or_empty(tls ? io_tls_cipher(s->io) : NULL);
	a->encryption_keysize = tls ? io_tls_cipher_bits(s->io) : 0;
	a->client_port = s->peer_port;
	if (s->io != NULL &&
	    getsockname(io_fd(s->io), (struct sockaddr *)&ss, &sslen) == 0 &&
	    ss.ss_family != AF_UNIX &&
	    getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host), serv,
			sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		a->server_port = (unsigned)atoi(serv);
	if (s->proxy_local != NULL) {
		/* Behind a PROXY balancer: the address the client reached. */
		snprintf(host, sizeof(host), "%s", s->proxy_local);
		a->server_port = s->proxy_local_port;
	}
	a->server_address = xstrdup(host);
	a->recipient_count = t != NULL ? t->nrcpt : 0;
	a->size =
	    t != NULL && t->mail.params.has_size ? t->mail.params.size : 0;
	{
		const struct smtpd_ccert *c = s->ccert;
		bool present = c != NULL && c->present;
		bool verified = present && c->verified;

		a->ccert_subject =
		    dup_or_empty(verified ? c->subject_cn : NULL);
		a->ccert_issuer = dup_or_empty(verified ? c->issuer_cn : NULL);
		a->ccert_fingerprint =
		    dup_or_empty(present ? c->fingerprint : NULL);
		a->ccert_pubkey_fingerprint =
		    dup_or_empty(present ? c->pkey_fingerprint : NULL);
	}
	return a;
}

void smtpd_policy_attrs_free(struct smtpd_policy_attrs **ap)
{
	struct smtpd_policy_attrs *a = *ap;

	if (a == NULL)
		return;
	*ap = NULL;
	free(a->queue_id);
	free(a->instance);
	free(a->sasl_method);
	free(a->encryption_protocol);
	free(a->encryption_cipher);
	free(a->server_address);
	free(a->ccert_subject);
	free(a->ccert_issuer);
	free(a->ccert_fingerprint);
	free(a->ccert_pubkey_fingerprint);
	free(a);
}

/* ---- The restriction. */

/* name=value, the value on one line (a CR or LF would end it early). */
static void attr(struct buf *b, const char *name, const char *value)
{
	buf_append_str(b, name);
	buf_append_char(b, '=');
	for (const char *p = value != NULL ? value : ""; *p != '\0'; p++)
		buf_append_char(b, *p == '\n' || *p == '\r' ? ' ' : *p);
	buf_append_char(b, '\n');
}

static void attr_u(struct buf *b, const char *name, unsigned long long v)
{
	char n[32];

	snprintf(n, sizeof(n), "%llu", v);
	attr(b, name, n);
}

static const char *protocol_state(const struct rx *e)
{
	const struct smtpd_restrict_input *in = e->in;

	if (e->stage == SMTPD_RESTRICT_DATA)
		return "DATA";
	if (e->stage == SMTPD_RESTRICT_END_OF_DATA)
		return "END-OF-MESSAGE";
	if (in->recipient != NULL)
		return "RCPT";
	if (in->sender != NULL)
		return "MAIL";
	if (e->stage == SMTPD_RESTRICT_HELO)
		return in->esmtp ? "EHLO" : "HELO";
	return "CONNECT";
}

static void build_request(struct rx *e, const struct smtpd_policy *p,
			  struct buf *b)
{
	const struct smtpd_restrict_input *in = e->in;
	const struct smtpd_policy_attrs *a = in->attrs;
	const char *name = rx_client_name(e);

	attr(b, "request", "smtpd_access_policy");
	attr(b, "protocol_state", protocol_state(e));
	attr(b, "protocol_name", in->esmtp ? "ESMTP" : "SMTP");
	attr(b, "helo_name", in->helo);
	attr(b, "queue_id", a != NULL ? a->queue_id : "");
	attr(b, "sender", in->sender);
	attr(b, "recipient", in->recipient);
	/* Postfix counts recipients only from DATA on. */
	attr_u(b, "recipient_count",
	       a != NULL && (e->stage == SMTPD_RESTRICT_DATA ||
			     e->stage == SMTPD_RESTRICT_END_OF_DATA)
		   ? a->recipient_count
		   : 0);
	attr(b, "client_address", in->client_addr);
	attr(b, "client_name", name);
	/* XXX Postfix sends the unverified PTR name here; lib/dns gives the
	 * forward-confirmed one only. */
	attr(b, "reverse_client_name", name);
	attr(b, "instance", a != NULL ? a->instance : "");
	attr(b, "sasl_method",
	     a != NULL && in->sasl_user != NULL ? a->sasl_method : "");
	attr(b, "sasl_username", in->sasl_user);
	attr(b, "sasl_sender", "");
	if (a != NULL && a->size > 0)
		attr_u(b, "size", a->size);
	else
		attr(b, "size", "0");
	/* Empty unless smtpd_tls_ask_ccert got a certificate. */
	attr(b, "ccert_subject", a != NULL ? a->ccert_subject : "");
	attr(b, "ccert_issuer", a != NULL ? a->ccert_issuer : "");
	attr(b, "ccert_fingerprint", a != NULL ? a->ccert_fingerprint : "");
	attr(b, "ccert_pubkey_fingerprint",
	     a != NULL ? a->ccert_pubkey_fingerprint : "");
	attr(b, "encryption_protocol", a != NULL ? a->encryption_protocol : "");
	attr(b, "encryption_cipher", a != NULL ? a->encryption_cipher : "");
	attr_u(b, "encryption_keysize",
	       a != NULL && a->encryption_keysize > 0
		   ? (unsigned long long)a->encryption_keysize
		   : 0);
	attr(b, "etrn_domain", "");
	attr(b, "stress", "");
	if (a != NULL && a->client_port > 0)
		attr_u(b, "client_port", a->client_port);
	else
		attr(b, "client_port", "");
	attr(b, "policy_context", smtpd_policy_context(p));
	attr(b, "server_address", a != NULL ? a->server_address : "");
	if (a != NULL && a->server_port > 0)
		attr_u(b, "server_port", a->server_port);
	else
		attr(b, "server_port", "");
	attr(b, "compatibility_level", "3.6");
	attr(b, "mail_version", "3.7.0 (Postern)");
}

bool rx_replaying(const struct rx *e)
{
	const struct smtpd_policy_answers *pa = e->in->policy_answers;

	/* The run that suspended at its suspending item n (a policy service
	 * or a verification) logged everything before it. */
	return pa != NULL && e->suspend_seen < pa->replay_to;
}

unsigned rx_verify_polls(struct rx *e)
{
	const struct smtpd_policy_answers *pa = e->in->policy_answers;
	unsigned k = e->verify_seen++;

	e->suspend_seen++;
	return pa != NULL && k < pa->verify_n ? pa->verify_polls[k] : 0;
}

bool rx_can_wait(const struct rx *e)
{
	return e->in->policy_answers != NULL;
}

int rx_verify_wait(struct rx *e, unsigned polls, int64_t delay_ms)
{
	struct smtpd_policy_answers *pa = e->in->policy_answers;
	size_t k = e->verify_seen - 1;

	if (k >= pa->verify_n) {
		pa->verify_polls = xreallocarray(pa->verify_polls, k + 1,
						 sizeof(*pa->verify_polls));
		memset(pa->verify_polls + pa->verify_n, 0,
		       (k + 1 - pa->verify_n) * sizeof(*pa->verify_polls));
		pa->verify_n = k + 1;
	}
	pa->verify_polls[k] = polls;
	pa->waiting = true;
	pa->wait_ms = delay_ms;
	pa->replay_to = e->suspend_seen;
	return RX_SUSPEND;
}

int rx_policy(struct rx *e, const struct ritem *it)
{
	struct smtpd_policy *p = it->policy;
	struct smtpd_policy_answers *pa = e->in->policy_answers;
	unsigned k = e->policy_seen++;
	struct buf *req = buf_new(), *action = buf_new();
	unsigned n = ++e->suspend_seen;
	const char *name, *cls, *value;
	struct error err;
	int ret, res;

	rx_stage_name(e, e->stage, &name, &cls);
	if (pa != NULL && k < array_len(pa->actions) &&
	    ((struct policy_answer *)array_get(pa->actions, k))->p != p) {
		/* This run took another way (a map or DNS answered
		 * differently): the answers from here on are not ours. */
		while (array_len(pa->actions) > k)
			smtpd_policy_answer_free(array_pop(pa->actions));
		if (pa->replay_to > n)
			pa->replay_to = n;
	}
	if (pa != NULL && k < array_len(pa->actions)) {
		/* Asked before this run: the recorded answer. */
		const struct policy_answer *a = array_get(pa->actions, k);
		res = rx_access_result(e, smtpd_policy_target(p), name, cls,
				       a->value);
		buf_free(&req);
		buf_free(&action);
		return res;
	}
	build_request(e, p, req);
	if (pa != NULL) {
		/* Ask on the loop, then evaluate again (smtpd-policy.h). */
		buf_free(&pa->request);
		pa->pending = p;
		pa->request = req;
		pa->replay_to = n;
		buf_free(&action);
		return RX_SUSPEND;
	}
	ret = smtpd_policy_query(p, req, action, &err);
	if (ret < 0) {
		log_warn("%s: check_policy_service %s: %s; using "
			 "default_action %s",
			 e->in->log_id, smtpd_policy_target(p), err.msg,
			 smtpd_policy_default_action(p));
		value = smtpd_policy_default_action(p);
	} else if (ret == 0) {
		log_warn("%s: check_policy_service %s: the reply has no "
			 "action",
			 e->in->log_id, smtpd_policy_target(p));
		value = "451 4.3.5 Server configuration problem";
	} else {
		value = buf_data(action);
	}
	res = rx_access_result(e, smtpd_policy_target(p), name, cls, value);
	buf_free(&req);
	buf_free(&action);
	return res;
}
