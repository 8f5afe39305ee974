/*
 * fuzz_queue_record - the queue's record and envelope decoders on
 * arbitrary bytes (a segment or message file after a crash, or written
 * by someone with access to the queue folder).  Walks the input as a
 * segment would be replayed: parse a record, decode its payload by type,
 * and on a bad record resume at the next byte.  A decoded envelope is
 * re-encoded and decoded again; the two must agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "queue/queue_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_env(const struct queue_env *env)
{
	struct buf *b = buf_new();
	struct queue_env again = {0};

	qrec_env_encode(b, env);
	if (qrec_env_decode(buf_data(b), buf_len(b), &again, NULL) < 0)
		abort();
	if (strcmp(again.id, env->id) != 0 || again.nrcpts != env->nrcpts ||
	    strcmp(again.sender, env->sender) != 0 ||
	    (again.filter == NULL) != (env->filter == NULL) ||
	    (env->filter != NULL && strcmp(again.filter, env->filter) != 0))
		abort();
	for (size_t i = 0; i < env->nrcpts; i++)
		if (strcmp(again.rcpts[i].addr, env->rcpts[i].addr) != 0 ||
		    again.rcpts[i].status != env->rcpts[i].status)
			abort();
	queue_env_clear(&again);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	/* The raw bytes as an envelope, too (the message files' payload). */
	struct queue_env env = {0};

	if (qrec_env_decode(data, size, &env, NULL) == 0) {
		if (!queue_id_valid(env.id))
			abort();
		check_env(&env);
	}
	queue_env_clear(&env);

	while (off < size) {
		enum qrec_type type;
		const unsigned char *pl;
		size_t plen, total, boff, blen;
		struct qrec_status st;
		char id[QUEUE_ID_MAX];
		int r = qrec_parse(data + off, size - off, &type, &pl, &plen,
				   &total, NULL);

		if (r <= 0) {
			off++;
			continue;
		}
		if (total > size - off)
			abort();
		switch (type) {
		case QREC_MSG:
			if (qrec_msg_decode(pl, plen, &env, &boff, &blen,
					    NULL) == 0) {
				if (boff + blen != plen)
					abort();
				check_env(&env);
			}
			queue_env_clear(&env);
			break;
		case QREC_ENV:
			if (qrec_env_decode(pl, plen, &env, NULL) == 0)
				check_env(&env);
			queue_env_clear(&env);
			break;
		case QREC_RCPT:
			if (qrec_status_decode(pl, plen, &st, NULL) == 0)
				free(st.reply);
			break;
		case QREC_DONE:
			qrec_done_decode(pl, plen, id, NULL);
			break;
		}
		off += total;
	}
	return 0;
}
