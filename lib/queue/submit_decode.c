/*
 * submit_decode - the daemon side's state machine of one queue-socket
 * connection (see submit.h).  It never trusts the client: record order,
 * lengths, field syntax and the envelope's completeness are checked here,
 * before anything reaches the queue.
 */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "queue/submit.h"

enum dstate { D_START, D_BEGUN, D_MSG, D_END };

struct submit_decoder {
	enum dstate state;
	struct queue_env *env;
	size_t pending; /* bytes of the record handed out last time */
	bool have_sender;
	char *control;
};

struct submit_decoder *submit_decoder_new(void)
{
	return xcalloc(1, sizeof(struct submit_decoder));
}

void submit_decoder_free(struct submit_decoder **d)
{
	if (*d == NULL)
		return;
	free((*d)->control);
	free(*d);
	*d = NULL;
}

void submit_decoder_set_env(struct submit_decoder *d, struct queue_env *env)
{
	d->env = env;
	if (d->state == D_BEGUN)
		d->state = D_MSG;
}

/* Put an enhanced status code before the message already in err. */
static int with_code(struct error *err, const char *code)
{
	char msg[ERROR_MSG_MAX];

	memcpy(msg, err->msg, sizeof(msg));
	msg[sizeof(msg) - 1] = '\0';
	return error_set(err, ERR_PERM, "%s %s", code, msg);
}

static bool control_ok(const char *p, size_t len)
{
	if (len == 0 || len > 1000)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

int submit_decoder_next(struct submit_decoder *d, struct buf *in,
			enum submit_event *ev_r, const char **data_r,
			size_t *len_r, struct error *err)
{
	char type;
	const char *p;
	size_t len, used;
	int rc;

	*ev_r = SUBMIT_EV_NONE;
	if (d->pending > 0) {
		buf_consume(in, d->pending);
		d->pending = 0;
	}
	for (;;) {
		rc = submit_rec_get(in, &type, &p, &len, &used, err);
		if (rc < 0)
			return with_code(err, "5.5.2");
		if (rc == 0)
			return 0;
		switch (d->state) {
		case D_START:
			if (type == SUBMIT_REC_BEGIN) {
				if (len != strlen(SUBMIT_PROTO_VERSION) ||
				    memcmp(p, SUBMIT_PROTO_VERSION, len) != 0)
					return error_set(err, ERR_PERM,
							 "5.5.2 unsupported "
							 "protocol version");
				d->state = D_BEGUN;
				d->pending = used;
				*ev_r = SUBMIT_EV_BEGIN;
				return 1;
			}
			if (type == SUBMIT_REC_CONTROL) {
				if (!control_ok(p, len))
					return error_set(err, ERR_PERM,
							 "5.5.2 bad control "
							 "request");
				free(d->control);
				d->control = xstrndup(p, len);
				d->state = D_END;
				d->pending = used;
				*ev_r = SUBMIT_EV_CONTROL;
				*data_r = d->control;
				*len_r = len;
				return 1;
			}
			return error_set(err, ERR_PERM,
					 "5.5.2 expected a begin record");
		case D_BEGUN:
			/* The caller did not set an envelope: its bug. */
			return error_set(err, ERR_PERM,
					 "5.3.0 no envelope to fill");
		case D_MSG:
			break;
		case D_END:
			return error_set(err, ERR_PERM,
					 "5.5.2 record after the end");
		}
		switch (type) {
		case SUBMIT_REC_DATA:
			d->pending = used;
			*ev_r = SUBMIT_EV_DATA;
			*data_r = p;
			*len_r = len;
			return 1;
		case SUBMIT_REC_COMMIT:
			if (!d->have_sender)
				return error_set(err, ERR_PERM,
						 "5.5.1 no sender given");
			if (d->env->nrcpts == 0)
				return error_set(err, ERR_PERM,
						 "5.5.1 no recipients given");
			d->state = D_END;
			d->pending = used;
			/* "HOLD": into the hold queue (submit.h). */
			*data_r = p;
			*len_r = len;
			*ev_r = SUBMIT_EV_COMMIT;
			return 1;
		case SUBMIT_REC_BEGIN:
		case SUBMIT_REC_CONTROL:
			return error_set(err, ERR_PERM,
					 "5.5.2 record out of order");
		default:
			if (submit_env_apply(d->env, type, p, len, err) < 0)
				return with_code(err, "5.5.2");
			if (type == SUBMIT_REC_SENDER)
				d->have_sender = true;
			buf_consume(in, used);
		}
	}
}
