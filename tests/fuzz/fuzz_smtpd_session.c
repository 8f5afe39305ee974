/*
 * fuzz_smtpd_session - libFuzzer target for postern-smtpd's session state
 * machine (mta/smtpd-*.c): the input is what a client sends, fed over a
 * socketpair to a real session (the daemon's code, minus TLS) with
 * texthash maps and a fake queue daemon that accepts every message.
 *
 * Checks, besides the sanitizers: the session always ends once the client
 * has sent everything and closed its side (no hang, no leaked session),
 * and every line the server writes is a well-formed reply line
 * ("ddd " or "ddd-" then text, CRLF, at most 512 octets).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/log.h"
#include "ev/ev.h"
#include "ev/net.h"
#include "map/map.h"
#include "queue/submit.h"
#include "smtpd.h"
#include "tls/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev *ev;
static struct smtpd *smtpd;
static struct virtual_maps maps;
static int queue_fd = -1;
/* Kept for the life of the process (fuzzers never exit cleanly). */
static struct conf *conf;

/* ---- A queue daemon that says yes. */

struct fake {
	struct io *io;
	struct buf *in;
};

static void fake_io(struct io *io, enum io_event event, void *ctx)
{
	struct fake *f = ctx;
	char type;
	const char *p;
	size_t len, used;

	if (event != IO_DATAIN) {
		if (event == IO_DISCONNECTED || event == IO_ERROR ||
		    event == IO_TIMEOUT) {
			io_free(&f->io);
			buf_free(&f->in);
			free(f);
		}
		return;
	}
	io_read_bytes(io, f->in, SIZE_MAX);
	while (submit_rec_get(f->in, &type, &p, &len, &used, NULL) == 1) {
		struct buf *out = buf_new();

		if (type == SUBMIT_REC_BEGIN)
			submit_rec_put_str(out, SUBMIT_REC_ID, "FUZZ1");
		else if (type == SUBMIT_REC_COMMIT)
			submit_rec_put_str(out, SUBMIT_REC_OK, "FUZZ1");
		buf_consume(f->in, used);
		if (buf_len(out) > 0)
			io_write(io, buf_data(out), buf_len(out));
		buf_free(&out);
	}
}

static void fake_accept(struct ev *loop, int fd, unsigned events, void *ctx)
{
	int c = net_accept(fd, NULL, 0);
	struct fake *f;

	if (c < 0)
		return;
	f = calloc(1, sizeof(*f));
	f->in = buf_new();
	f->io = io_new(ev, c, fake_io, f);
}

static struct map *text_map(const char *text)
{
	struct map *m =
	    map_open_text("texthash", "fuzz", text, strlen(text), NULL, NULL);
	if (m == NULL)
		abort();
	return m;
}

static char dir[] = "/tmp/fuzz_smtpd.XXXXXX";

static void cleanup(void)
{
	char path[sizeof(dir) + 16];

	snprintf(path, sizeof(path), "%s/q.sock", dir);
	unlink(path);
	rmdir(dir);
}

static void init(void)
{
	char conftext[512];
	struct error err;

	if (mkdtemp(dir) == NULL)
		abort();
	atexit(cleanup);
	log_to_file("/dev/null", NULL);
	snprintf(conftext, sizeof(conftext),
		 "queue_socket = %s/q.sock\n"
		 "myhostname = mx.test\n"
		 "mynetworks = 192.0.2.0/24\n"
		 "message_size_limit = 2000\n"
		 "smtpd_error_sleep_time = 0\n"
		 "smtpd_hard_error_limit = 50\n"
		 "smtpd_recipient_limit = 5\n"
		 "virtual_alias_expansion_limit = 10\n",
		 dir);
	conf = conf_load_string(dir, "fuzz", conftext, &err);
	if (conf == NULL)
		abort();
	ev = ev_new();
	snprintf(conftext, sizeof(conftext), "%s/q.sock", dir);
	queue_fd = net_listen_unix(conftext, 0600, 0, &err);
	if (queue_fd < 0 ||
	    ev_fd_add(ev, queue_fd, EV_READ, fake_accept, NULL, &err) < 0)
		abort();
	maps.mailbox_domains = text_map("example.com 1\n");
	maps.mailboxes = text_map("alice@example.com x\nbob@example.com x\n");
	maps.aliases = text_map("team@example.com alice@example.com, "
				"bob@example.com, out@foreign.test\n"
				"loop@example.com loop@example.com, "
				"team@example.com\n"
				"@example.com alice@example.com\n");
	maps.alias_domains = text_map("alias.test example.com\n");
	smtpd = smtpd_testing_new(ev, conf, &maps, &err);
	if (smtpd == NULL)
		abort();
}

static void check_reply_lines(const char *p, size_t len)
{
	while (len > 0) {
		const char *lf = memchr(p, '\n', len);
		size_t n;

		if (lf == NULL)
			return; /* output dropped when the client left */
		n = (size_t)(lf - p) + 1;
		if (n < 6 || n > 512 || p[n - 2] != '\r' || p[0] < '2' ||
		    p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' ||
		    p[2] > '9' || (p[3] != ' ' && p[3] != '-'))
			abort();
		for (size_t i = 0; i < n - 2; i++)
			if ((unsigned char)p[i] < 32 && p[i] != '\t')
				abort();
		p += n;
		len -= n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	size_t off = 0;
	bool shut = false;
	struct buf *out;

	if (ev == NULL)
		init();
	if (size > 65536)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	/* The first byte picks the client: outside or inside mynetworks. */
	smtpd_testing_accept(smtpd, sv[0], "smtp",
			     size > 0 && (data[0] & 1) ? "192.0.2.9"
						       : "198.51.100.1");
	out = buf_new();
	for (int i = 0; i < 20000 && smtpd->sessions > 0; i++) {
		char tmp[4096];
		ssize_t r;

		if (off < size) {
			r = write(sv[1], data + off, size - off);
			if (r > 0)
				off += (size_t)r;
		} else if (!shut) {
			shutdown(sv[1], SHUT_WR);
			shut = true;
		}
		ev_run_once(ev, shut ? 5 : 0);
		while ((r = read(sv[1], tmp, sizeof(tmp))) > 0)
			buf_append(out, tmp, (size_t)r);
	}
	if (smtpd->sessions > 0)
		abort(); /* the session never ended */
	check_reply_lines(buf_data(out), buf_len(out));
	buf_free(&out);
	close(sv[1]);
	return 0;
}
