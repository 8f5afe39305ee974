/*
 * submit_milter.c - $non_smtpd_milters over blocking sockets
 * (submit_milter.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "queue/submit_milter.h"
#include "smtp/milter_message.h"
#include "smtp/milter_proto.h"

struct bconn {
	const char *spec;
	int fd;
	uint32_t actions, protocol;
	struct buf *in;
	int64_t content_ms, command_ms;
};

/* What a milter said at a step. */
enum bverdict { BV_CONTINUE, BV_ACCEPT, BV_REFUSE, BV_DISCARD };

bool submit_milter_wanted(const struct conf *conf)
{
	const char *s = conf_str(conf, "non_smtpd_milters");

	return s != NULL && s[strspn(s, ", \t")] != '\0';
}

static int wait_fd(int fd, short events, int64_t deadline, struct error *err)
{
	for (;;) {
		int64_t left = deadline - time_mono_ms();
		struct pollfd p = {.fd = fd, .events = events};
		int n;

		if (left <= 0)
			return error_set(err, ERR_TEMP, "timeout");
		n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return error_set(err, ERR_TEMP, "poll: %s",
					 strerror(errno));
	}
}

static int open_conn(const char *spec, int64_t ms, struct error *err)
{
	int64_t deadline = time_mono_ms() + ms;
	int fd = -1, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (str_has_prefix(spec, "unix:")) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		if (strlen(spec + 5) >= sizeof(sa.sun_path))
			return error_set(err, ERR_TEMP, "path too long");
		strcpy(sa.sun_path, spec + 5);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 ||
		    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			error_set(err, ERR_TEMP, "connect: %s",
				  strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	const char *hp = str_has_prefix(spec, "inet:") ? spec + 5 : spec;
	const char *colon = strrchr(hp, ':');
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	char *host;
	int gai;

	if (colon == NULL)
		return error_set(err, ERR_TEMP, "not inet:host:port");
	host = xstrndup(hp, (size_t)(colon - hp));
	gai = getaddrinfo(host[0] != '\0' ? host : "127.0.0.1", colon + 1,
			  &hints, &ai);
	free(host);
	if (gai != 0)
		return error_set(err, ERR_TEMP, "%s", gai_strerror(gai));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
		       errno != EINPROGRESS)) {
		error_set(err, ERR_TEMP, "connect: %s", strerror(errno));
		goto fail;
	}
	if (wait_fd(fd, POLLOUT, deadline, err) < 0)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ||
	    soerr != 0) {
		error_set(err, ERR_TEMP, "connect: %s", strerror(soerr));
		goto fail;
	}
	freeaddrinfo(ai);
	return fd;
fail:
	freeaddrinfo(ai);
	if (fd >= 0)
		close(fd);
	return -1;
}

static int send_all(struct bconn *c, const struct buf *b, int64_t ms,
		    struct error *err)
{
	int64_t deadline = time_mono_ms() + ms;
	const char *p = buf_data(b);
	size_t left = buf_len(b);

	while (left > 0) {
		ssize_t n = send(c->fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			left -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return error_set(err, ERR_TEMP, "send: %s",
					 strerror(errno));
		if (wait_fd(c->fd, POLLOUT, deadline, err) < 0)
			return -1;
	}
	return 0;
}

/* The next packet: its command, its payload copied into payload. */
static int read_packet(struct bconn *c, int64_t ms, char *cmd_r,
		       struct buf *payload, struct error *err)
{
	int64_t deadline = time_mono_ms() + ms;

	for (;;) {
		const char *p;
		size_t plen, used;
		int ret = milter_packet_get(buf_data(c->in), buf_len(c->in),
					    cmd_r, &p, &plen, &used, err);
		if (ret < 0)
			return -1;
		if (ret == 1) {
			buf_reset(payload);
			buf_append(payload, p, plen);
			buf_consume(c->in, used);
			return 0;
		}
		if (wait_fd(c->fd, POLLIN, deadline, err) < 0)
			return -1;
		char chunk[8192];
		ssize_t n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n == 0)
			return error_set(err, ERR_TEMP,
					 "connection closed by the milter");
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return error_set(err, ERR_TEMP, "recv: %s",
					 strerror(errno));
		if (n > 0)
			buf_append(c->in, chunk, (size_t)n);
	}
}

struct kept_mod {
	char cmd;
	struct buf *payload;
};

static void kept_free(void *p)
{
	struct kept_mod *k = p;

	buf_free(&k->payload);
	free(k);
}

/*
 * Send pkt; if want, read answers until a verdict.  mods (NULL: none
 * allowed) keeps modifications.  text gets a REPLYCODE's text.  -1 with
 * err: the milter failed.
 */
static int ask(struct bconn *c, const struct buf *pkt, bool want,
	       bool content, struct array *mods, enum bverdict *v_r,
	       bool *skip_r, struct buf *text, struct error *err)
{
	struct buf *payload;
	int64_t ms = content ? c->content_ms : c->command_ms;

	*v_r = BV_CONTINUE;
	if (send_all(c, pkt, ms, err) < 0)
		return -1;
	if (!want)
		return 0;
	payload = buf_new();
	for (;;) {
		struct milter_reply r;
		char cmd;

		if (read_packet(c, ms, &cmd, payload, err) < 0 ||
		    milter_reply_decode(cmd, buf_data(payload), buf_len(payload),
					&r, err) < 0)
			goto fail;
		if (milter_reply_is_mod(cmd)) {
			struct kept_mod *k;
			if (mods == NULL) {
				error_set(err, ERR_TEMP,
					  "modification before end of message");
				goto fail;
			}
			k = xcalloc(1, sizeof(*k));
			k->cmd = cmd;
			k->payload = buf_new();
			buf_append(k->payload, buf_data(payload),
				   buf_len(payload));
			array_push(mods, k);
			continue;
		}
		switch (cmd) {
		case MILTER_REP_PROGRESS:
			continue;
		case MILTER_REP_CONTINUE:
			break;
		case MILTER_REP_SKIP:
			if (skip_r != NULL)
				*skip_r = true;
			break;
		case MILTER_REP_ACCEPT:
			*v_r = BV_ACCEPT;
			break;
		case MILTER_REP_DISCARD:
			*v_r = BV_DISCARD;
			break;
		case MILTER_REP_REJECT:
			*v_r = BV_REFUSE;
			buf_set_str(text, "550 5.7.1 Command rejected");
			break;
		case MILTER_REP_TEMPFAIL:
			*v_r = BV_REFUSE;
			buf_set_str(text, "451 4.7.1 Service unavailable - try "
					  "again later");
			break;
		case MILTER_REP_REPLYCODE:
			*v_r = BV_REFUSE;
			buf_set_str(text, r.text);
			break;
		default:
			error_set(err, ERR_TEMP, "unexpected answer '%s'",
				  milter_reply_name(cmd));
			goto fail;
		}
		buf_free(&payload);
		return 0;
	}
fail:
	buf_free(&payload);
	return -1;
}

static void apply(struct bconn *c, struct array *mods, struct milter_message *mm,
		  struct submit_milter_msg *m)
{
	bool leadspc = (c->protocol & MILTER_P_HDR_LEADSPC) != 0;

	for (size_t i = 0; i < array_len(mods); i++) {
		struct kept_mod *k = array_get(mods, i);
		struct milter_reply r;
		struct error err;
		char *a;

		if (milter_reply_decode(k->cmd, buf_data(k->payload),
					buf_len(k->payload), &r, &err) < 0)
			continue;
		switch (k->cmd) {
		case MILTER_REP_ADDHEADER:
		case MILTER_REP_INSHEADER:
		case MILTER_REP_CHGHEADER:
		case MILTER_REP_REPLBODY:
			if (c->actions & milter_reply_action(k->cmd))
				milter_message_apply(mm, &r, leadspc);
			break;
		case MILTER_REP_ADDRCPT:
		case MILTER_REP_ADDRCPT_PAR:
			if (!(c->actions &
			      (MILTER_ACT_ADDRCPT | MILTER_ACT_ADDRCPT_PAR)))
				break;
			a = milter_addr_strip(r.addr);
			if (a[0] != '\0')
				array_push(m->rcpts, a);
			else
				free(a);
			break;
		case MILTER_REP_DELRCPT:
			if (!(c->actions & MILTER_ACT_DELRCPT))
				break;
			a = milter_addr_strip(r.addr);
			for (size_t j = array_len(m->rcpts); j > 0; j--)
				if (strcasecmp(array_get(m->rcpts, j - 1), a) ==
				    0) {
					free(array_get(m->rcpts, j - 1));
					array_remove(m->rcpts, j - 1);
				}
			free(a);
			break;
		case MILTER_REP_CHGFROM:
			if (!(c->actions & MILTER_ACT_CHGFROM))
				break;
			free(m->sender);
			m->sender = milter_addr_strip(r.addr);
			break;
		case MILTER_REP_QUARANTINE:
			log_warn("non_smtpd_milters %s: quarantine \"%s\" is "
				 "not supported here: ignored",
				 c->spec, r.addr);
			break;
		}
	}
	milter_message_body_done(mm);
}

static void put_macro(struct buf *out, char cmd, const char *name,
		      const char *value)
{
	if (value != NULL)
		milter_put_macros(out, cmd, &name, &value, 1);
}

/* One milter over m; -1 with err when it failed (default action then). */
static int run_one(struct bconn *c, const struct conf *conf,
		   struct submit_milter_msg *m, struct milter_message **mm,
		   enum bverdict *v_r, struct buf *text, struct error *err)
{
	struct buf *pkt = buf_new();
	struct buf *value = buf_new();
	struct array *mods = array_new();
	enum bverdict v = BV_CONTINUE;
	bool skip = false;
	struct buf *payload = buf_new();
	struct milter_reply r;
	char cmd;
	int ret = -1;
	const char *dn = conf_str(conf, "milter_macro_daemon_name");

#define P(want, content, mods_)                                                \
	do {                                                                   \
		if (ask(c, pkt, (want), (content), (mods_), &v,               \
			(content) ? &skip : NULL, text, err) < 0)              \
			goto out;                                              \
		buf_reset(pkt);                                                \
		if (v != BV_CONTINUE)                                          \
			goto done;                                             \
	} while (0)

	milter_put_optneg(pkt, MILTER_VERSION, MILTER_ACT_ALL, MILTER_P_ALL);
	if (send_all(c, pkt, c->command_ms, err) < 0 ||
	    read_packet(c, c->command_ms, &cmd, payload, err) < 0)
		goto out;
	if (cmd != MILTER_REP_OPTNEG ||
	    milter_reply_decode(cmd, buf_data(payload), buf_len(payload), &r,
				err) < 0 ||
	    r.version < 2) {
		error_set(err, ERR_TEMP, "bad option negotiation");
		goto out;
	}
	c->actions = r.actions & MILTER_ACT_ALL;
	c->protocol = r.protocol & MILTER_P_ALL;
	buf_reset(pkt);
#define WANTS(no) ((c->protocol & (no)) == 0)
	if (WANTS(MILTER_P_NOCONNECT)) {
		put_macro(pkt, MILTER_CMD_CONNECT, "j",
			  conf_str(conf, "myhostname"));
		put_macro(pkt, MILTER_CMD_CONNECT, "{daemon_name}", dn);
		milter_put_connect(pkt, "localhost", "127.0.0.1", 0);
		P(WANTS(MILTER_P_NR_CONN), false, NULL);
	}
	if (WANTS(MILTER_P_NOHELO)) {
		milter_put_helo(pkt, "localhost");
		P(WANTS(MILTER_P_NR_HELO), false, NULL);
	}
	if (WANTS(MILTER_P_NOMAIL)) {
		char *from = xasprintf("<%s>", m->sender);
		const char *args[1] = {from};
		put_macro(pkt, MILTER_CMD_MAIL, "{mail_addr}", m->sender);
		put_macro(pkt, MILTER_CMD_MAIL, "{auth_authen}", m->auth);
		milter_put_args(pkt, MILTER_CMD_MAIL, args, 1);
		free(from);
		P(WANTS(MILTER_P_NR_MAIL), false, NULL);
	}
	for (size_t i = 0; i < array_len(m->rcpts) && WANTS(MILTER_P_NORCPT);
	     i++) {
		char *to = xasprintf("<%s>", (char *)array_get(m->rcpts, i));
		const char *args[1] = {to};
		put_macro(pkt, MILTER_CMD_RCPT, "{rcpt_addr}",
			  array_get(m->rcpts, i));
		milter_put_args(pkt, MILTER_CMD_RCPT, args, 1);
		free(to);
		P(WANTS(MILTER_P_NR_RCPT), false, NULL);
	}
	if (WANTS(MILTER_P_NODATA)) {
		milter_put_cmd(pkt, MILTER_CMD_DATA);
		P(WANTS(MILTER_P_NR_DATA), false, NULL);
	}
	bool leadspc = (c->protocol & MILTER_P_HDR_LEADSPC) != 0;
	for (size_t i = 0;
	     i < milter_message_header_count(*mm) && WANTS(MILTER_P_NOHDRS);
	     i++) {
		const char *name;
		milter_message_header(*mm, i, leadspc, &name, value);
		milter_put_header(pkt, name, buf_data(value));
		P(WANTS(MILTER_P_NR_HDR), true, NULL);
	}
	if (WANTS(MILTER_P_NOEOH)) {
		milter_put_cmd(pkt, MILTER_CMD_EOH);
		P(WANTS(MILTER_P_NR_EOH), true, NULL);
	}
	const struct buf *body = milter_message_body(*mm);
	for (size_t at = 0; at < buf_len(body) && WANTS(MILTER_P_NOBODY) &&
			    !skip;
	     at += MILTER_CHUNK_MAX) {
		size_t n = buf_len(body) - at;
		milter_put_body(pkt, buf_data(body) + at,
				n < MILTER_CHUNK_MAX ? n : MILTER_CHUNK_MAX);
		P(WANTS(MILTER_P_NR_BODY), true, NULL);
	}
	milter_put_cmd(pkt, MILTER_CMD_BODYEOB);
	if (ask(c, pkt, true, true, mods, &v, NULL, text, err) < 0)
		goto out;
	if (v == BV_CONTINUE || v == BV_ACCEPT)
		apply(c, mods, *mm, m);
#undef P
#undef WANTS
done:
	*v_r = v;
	ret = 0;
out:
	buf_reset(pkt);
	milter_put_cmd(pkt, MILTER_CMD_QUIT);
	(void)!send(c->fd, buf_data(pkt), buf_len(pkt),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	array_free_with(&mods, kept_free);
	buf_free(&pkt);
	buf_free(&value);
	buf_free(&payload);
	return ret;
}

/* "550 5.7.1 text" as err (ERR_PERM for 5xx). */
static int refusal(const struct buf *text, struct error *err)
{
	const char *t = buf_data(text);

	return error_set(err, t[0] == '5' ? ERR_PERM : ERR_TEMP, "%s",
			 buf_len(text) > 4 ? t + 4 : t);
}

int submit_milter_run(const struct conf *conf, struct submit_milter_msg *m,
		      struct error *err)
{
	struct array *specs = str_split(conf_str(conf, "non_smtpd_milters"),
					", \t");
	const char *act = conf_str(conf, "milter_default_action");
	struct milter_message *mm =
	    milter_message_parse(buf_data(m->message), buf_len(m->message));
	struct buf *text = buf_new();
	int ret = 0;

	m->discard = false;
	for (size_t i = 0; i < array_len(specs) && ret == 0; i++) {
		struct bconn c = {.spec = array_get(specs, i)};
		enum bverdict v = BV_CONTINUE;
		struct error e;
		int64_t cto = conf_time(conf, "milter_connect_timeout") * 1000;

		c.command_ms = conf_time(conf, "milter_command_timeout") * 1000;
		c.content_ms = conf_time(conf, "milter_content_timeout") * 1000;
		c.in = buf_new();
		c.fd = open_conn(c.spec, cto, &e);
		if (c.fd < 0 || run_one(&c, conf, m, &mm, &v, text, &e) < 0) {
			log_warn("non_smtpd_milters %s: %s", c.spec, e.msg);
			if (strcasecmp(act, "accept") == 0 ||
			    strcasecmp(act, "quarantine") == 0) {
				v = BV_CONTINUE;
			} else {
				buf_set_str(text,
					    strcasecmp(act, "reject") == 0
						? "550 5.7.1 Command rejected"
						: "451 4.7.1 Service unavailable"
						  " - try again later");
				v = BV_REFUSE;
			}
		}
		if (c.fd >= 0)
			close(c.fd);
		buf_free(&c.in);
		if (v == BV_REFUSE)
			ret = refusal(text, err);
		else if (v == BV_DISCARD) {
			m->discard = true;
			break;
		}
	}
	if (ret == 0) {
		buf_reset(m->message);
		milter_message_write(mm, m->message);
	}
	milter_message_free(&mm);
	buf_free(&text);
	array_free_with(&specs, free);
	return ret;
}
