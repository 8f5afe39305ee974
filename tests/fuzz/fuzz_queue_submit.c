/*
 * fuzz_queue_submit - libFuzzer target for postern-queued's decoder of
 * client records (lib/queue/submit_decode.c and the envelope codec of
 * submit_proto.c).  The input is the byte stream a client sends on the
 * queue socket; it is fed in two pieces (the first byte picks the cut)
 * to exercise partial records.  Checks: nothing follows a commit or a
 * control event; a commit has a sender and at least one recipient; no
 * envelope string holds CR, LF or NUL; data never exceeds the record
 * limit; the decoder never reads past its input (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "queue/queue.h"
#include "queue/submit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s)
{
	if (s != NULL && strpbrk(s, "\r\n") != NULL)
		abort();
}

static void check_env(const struct queue_env *env)
{
	check_text(env->sender);
	check_text(env->envid);
	check_text(env->client_addr);
	check_text(env->client_name);
	check_text(env->helo);
	check_text(env->auth_name);
	check_text(env->tls);
	for (size_t i = 0; i < env->nrcpts; i++) {
		if (env->rcpts[i].addr == NULL || env->rcpts[i].addr[0] == '\0')
			abort();
		check_text(env->rcpts[i].addr);
		check_text(env->rcpts[i].orcpt);
	}
}

/* Returns -1 once the stream ended (error or final event). */
static int drain(struct submit_decoder *d, struct buf *in,
		 struct queue_env *env, bool *ended)
{
	struct error err;
	enum submit_event ev;
	const char *p;
	size_t len;
	int rc;

	while ((rc = submit_decoder_next(d, in, &ev, &p, &len, &err)) == 1) {
		if (*ended)
			abort(); /* an event after commit / control */
		switch (ev) {
		case SUBMIT_EV_BEGIN:
			submit_decoder_set_env(d, env);
			break;
		case SUBMIT_EV_DATA:
			if (len > SUBMIT_RECORD_MAX)
				abort();
			break;
		case SUBMIT_EV_COMMIT:
			if (env->sender == NULL || env->nrcpts == 0)
				abort();
			*ended = true;
			break;
		case SUBMIT_EV_CONTROL:
			if (strlen(p) != len || strpbrk(p, "\r\n") != NULL)
				abort();
			*ended = true;
			break;
		case SUBMIT_EV_NONE:
			abort();
		}
		check_env(env);
	}
	if (rc < 0 && err.kind != ERR_PERM)
		abort();
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct submit_decoder *d = submit_decoder_new();
	struct buf *in = buf_new();
	struct queue_env env;
	bool ended = false;
	size_t cut = size > 0 ? data[0] % (size + 1) : 0;

	memset(&env, 0, sizeof(env));
	buf_append(in, data, cut);
	if (drain(d, in, &env, &ended) >= 0) {
		buf_append(in, data + cut, size - cut);
		drain(d, in, &env, &ended);
	}
	queue_env_clear(&env);
	buf_free(&in);
	submit_decoder_free(&d);
	return 0;
}
