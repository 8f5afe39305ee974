/*
 * fuzz_milter_reply - libFuzzer target for the milter reply decoder
 * (lib/smtp/milter_proto.c) and the message edits it drives
 * (milter_message.c).  The input is a stream of milter packets as a
 * milter would send them.  Checks: every string a decoded reply points
 * to lies inside its packet and ends there; a REPLYCODE has a 4xx/5xx
 * code; the edited message still parses back into the same header count.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/milter_message.h"
#include "smtp/milter_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const char *s, const char *p, size_t len)
{
	if (s == NULL)
		return;
	if (s < p || s >= p + len || memchr(s, '\0', (size_t)(p + len - s)) ==
					  NULL)
		abort();
}

static const char MSG[] = "From: a@example\r\nSubject: x\r\n\ty\r\n\r\nbody\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct milter_message *m = milter_message_parse(MSG, sizeof(MSG) - 1);
	struct buf *out = buf_new();
	struct error err;

	for (;;) {
		char cmd;
		const char *p;
		size_t plen, used;
		struct milter_reply r;

		if (milter_packet_get(in, size, &cmd, &p, &plen, &used, &err) <=
		    0)
			break;
		if (used > size || used != plen + 5)
			abort();
		if (milter_reply_decode(cmd, p, plen, &r, &err) == 0) {
			inside(r.text, p, plen);
			inside(r.name, p, plen);
			inside(r.value, p, plen);
			inside(r.addr, p, plen);
			inside(r.args, p, plen);
			for (int i = 0; i < MILTER_STAGES; i++)
				inside(r.symlist[i], p, plen);
			if (cmd == MILTER_REP_REPLYCODE &&
			    (r.code < 400 || r.code > 599))
				abort();
			if (cmd == MILTER_REP_ADDHEADER)
				milter_message_add_header(m, r.name, r.value,
							  false);
			else if (cmd == MILTER_REP_INSHEADER)
				milter_message_insert_header(m, r.index, r.name,
							     r.value, false);
			else if (cmd == MILTER_REP_CHGHEADER)
				milter_message_change_header(m, r.index, r.name,
							     r.value, false);
			else if (cmd == MILTER_REP_REPLBODY)
				milter_message_replace_body(m, r.data, r.len);
		}
		in += used;
		size -= used;
	}
	milter_message_body_done(m);
	milter_message_write(m, out);
	milter_message_free(&m);
	buf_free(&out);
	return 0;
}
