/*
 * fuzz_lmtp_session - libFuzzer target for the LMTP server protocol
 * engine (lib/lmtp: lmtp_session.c, lmtp_commands.c): the whole command,
 * DATA and BDAT handling of a session, with fake lookup and delivery.
 *
 * Input: byte 0 picks the bare CR/LF mode (bits 0-1), asynchronous
 * completion of lookups and deliveries (bit 2), the size limit (bits
 * 3-4) and STARTTLS (bit 5: offered, bit 6: required; the handshake
 * "completes" after each read, and what was pipelined behind STARTTLS
 * in that read is dropped, so the replies then depend on the cuts);
 * byte 1 seeds how the rest is cut into reads; the rest is what a
 * client sends.  Recipients whose local part starts with 'u' are unknown,
 * with 't' a temporary failure; deliveries to 'q' are over quota.
 * Checks:
 *   - every byte sent is a well-formed reply (smtp_reply_parser) and
 *     nothing is sent after the session closed;
 *   - the replies do not depend on how the input is cut into reads
 *     (when ops complete at once and STARTTLS is not offered);
 *   - a delivery gets exactly the message spooled, never more than the
 *     size limit, and every recipient gets a reply.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "lmtp/lmtp_session.h"
#include "lmtp/lmtp_settings.h"
#include "smtp/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fake {
	struct lmtp_session *s;
	struct buf *out;
	struct buf *spool;
	uint64_t limit;
	bool async;
	bool closed;
	size_t out_at_close;
	struct lmtp_recipient *pending;
	bool deliver_pending;
	bool tls_pending;
	struct lmtp_message msg;
};

static void op_send(void *ctx, const char *d, size_t len)
{
	struct fake *f = ctx;
	if (f->closed)
		abort(); /* output after close */
	buf_append(f->out, d, len);
}

static void rcpt_resolve(struct lmtp_recipient *r)
{
	if (r->local[0] == 'u')
		smtp_reply_set(&r->reply, 550, "5.1.1", "unknown");
	else if (r->local[0] == 't')
		smtp_reply_set(&r->reply, 451, "4.3.0", "later");
	else
		smtp_reply_set(&r->reply, 250, "2.1.5", "Ok");
}

static void op_rcpt(void *ctx, struct lmtp_recipient *r, uint64_t hint)
{
	struct fake *f = ctx;
	(void)hint;
	if (f->async) {
		f->pending = r;
		return;
	}
	rcpt_resolve(r);
	lmtp_session_rcpt_done(f->s, r);
}

static int op_spool_write(void *ctx, const void *d, size_t len,
			  struct error *err)
{
	struct fake *f = ctx;
	(void)err;
	buf_append(f->spool, d, len);
	return 0;
}

static void op_spool_reset(void *ctx)
{
	struct fake *f = ctx;
	buf_reset(f->spool);
}

static void deliver_resolve(struct fake *f)
{
	for (size_t i = 0; i < f->msg.nrcpts; i++) {
		struct lmtp_recipient *r = f->msg.rcpts[i];
		if (r->local[0] == 'q')
			smtp_reply_set(&r->reply, 452, "4.2.2", "full");
		else
			smtp_reply_set(&r->reply, 250, "2.0.0", "Saved");
	}
}

static void op_deliver(void *ctx, const struct lmtp_message *msg)
{
	struct fake *f = ctx;
	if (msg->size != buf_len(f->spool) || msg->nrcpts == 0 ||
	    (f->limit > 0 && msg->size > f->limit))
		abort();
	f->msg = *msg;
	if (f->async) {
		f->deliver_pending = true;
		return;
	}
	deliver_resolve(f);
	lmtp_session_deliver_done(f->s);
}

static void op_close(void *ctx)
{
	struct fake *f = ctx;
	f->closed = true;
}

static void op_starttls(void *ctx)
{
	struct fake *f = ctx;
	if (f->tls_pending)
		abort(); /* STARTTLS while a handshake runs */
	f->tls_pending = true;
}

static const struct lmtp_session_ops ops = {
    .send = op_send,
    .rcpt = op_rcpt,
    .spool_write = op_spool_write,
    .spool_reset = op_spool_reset,
    .deliver = op_deliver,
    .close = op_close,
    .starttls = op_starttls,
};

/* Complete whatever the session waits for (asynchronous mode). */
static void complete(struct fake *f)
{
	while (f->pending != NULL || f->deliver_pending) {
		if (f->pending != NULL) {
			struct lmtp_recipient *r = f->pending;
			f->pending = NULL;
			rcpt_resolve(r);
			lmtp_session_rcpt_done(f->s, r);
		} else {
			f->deliver_pending = false;
			deliver_resolve(f);
			lmtp_session_deliver_done(f->s);
		}
	}
	if (f->tls_pending) {
		f->tls_pending = false;
		lmtp_session_tls_started(f->s);
	}
}

static void run(const struct lmtp_server_settings *set, bool async,
		unsigned tls, const char *in, size_t len, uint32_t seed,
		struct buf *out)
{
	struct fake f = {0};
	size_t pos = 0;

	f.out = out;
	f.spool = buf_new();
	f.limit = set->message_size_limit;
	f.async = async;
	f.s = lmtp_session_new(set, "FUZZ", "unix", &ops, &f);
	lmtp_session_set_tls(f.s, tls & 1, tls & 2, false);
	lmtp_session_start(f.s);
	while (pos < len) {
		size_t n = len - pos;
		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 97 + 1 < n)
				n = (seed >> 16) % 97 + 1;
		}
		lmtp_session_input(f.s, in + pos, n);
		pos += n;
		complete(&f);
	}
	lmtp_session_free(&f.s);
	buf_free(&f.spool);
}

/* Every line of out belongs to a well-formed reply. */
static void check_replies(const struct buf *out)
{
	struct smtp_reply_parser *p = smtp_reply_parser_new();
	const char *s = buf_data(out), *end = s + buf_len(out);
	const struct smtp_parsed_reply *r;
	struct error err;

	while (s < end) {
		const char *crlf = memchr(s, '\n', (size_t)(end - s));
		if (crlf == NULL || crlf == s || crlf[-1] != '\r')
			abort();
		if (smtp_reply_parser_line(p, s, (size_t)(crlf - 1 - s), &r,
					   &err) < 0)
			abort();
		s = crlf + 1;
	}
	smtp_reply_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t limits[] = {0, 10, 100, 100000};
	static bool init;
	struct lmtp_server_settings set = {0};

	if (!init) {
		log_init("fuzz_lmtp_session");
		log_set_trace(0);
		/* The per-recipient log lines would drown the fuzzer. */
		log_to_file("/dev/null", NULL);
		init = true;
	}
	if (size < 2)
		return 0;
	set.hostname = xstrdup("mx.fuzz");
	set.recipient_delimiter = xstrdup("+");
	set.bare_mode = (enum smtp_bare_mode)(data[0] & 3) % 3;
	set.message_size_limit = limits[(data[0] >> 3) & 3];
	bool async = data[0] & 4;
	unsigned tls = (data[0] >> 5) & 3;
	const char *in = (const char *)data + 2;
	size_t len = size - 2;

	struct buf *whole = buf_new(), *cut = buf_new();
	run(&set, async, tls, in, len, 0, whole);
	check_replies(whole);
	run(&set, async, tls, in, len, data[1] | 1u, cut);
	check_replies(cut);
	if (!async && !(tls & 1) &&
	    (buf_len(whole) != buf_len(cut) ||
	     memcmp(buf_data(whole), buf_data(cut), buf_len(whole)) != 0))
		abort();
	buf_free(&whole);
	buf_free(&cut);
	lmtp_server_settings_clear(&set);
	return 0;
}
