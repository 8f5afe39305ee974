/*
 * submit_proto - the record framing of the queue socket and the envelope
 * codec (see submit.h for the protocol).  Pure functions, no I/O: the
 * client, the daemon, the queue tools and the fuzz target share them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "core/xmalloc.h"
#include "queue/submit.h"

#define REC_HDR 5

void submit_rec_put(struct buf *out, char type, const void *payload, size_t len)
{
	unsigned char hdr[REC_HDR];

	hdr[0] = (unsigned char)type;
	hdr[1] = (unsigned char)(len >> 24);
	hdr[2] = (unsigned char)(len >> 16);
	hdr[3] = (unsigned char)(len >> 8);
	hdr[4] = (unsigned char)len;
	buf_append(out, hdr, sizeof(hdr));
	if (len > 0)
		buf_append(out, payload, len);
}

void submit_rec_put_str(struct buf *out, char type, const char *s)
{
	submit_rec_put(out, type, s != NULL ? s : "",
		       s != NULL ? strlen(s) : 0);
}

int submit_rec_get(const struct buf *in, char *type_r, const char **payload_r,
		   size_t *len_r, size_t *used_r, struct error *err)
{
	const unsigned char *p = (const unsigned char *)buf_data(in);
	size_t have = buf_len(in);
	uint32_t len;

	if (have < REC_HDR)
		return 0;
	len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
	      (uint32_t)p[3] << 8 | p[4];
	if (len > SUBMIT_RECORD_MAX)
		return error_set(err, ERR_PERM,
				 "record of %u bytes is too long",
				 (unsigned)len);
	if (have - REC_HDR < len)
		return 0;
	*type_r = (char)p[0];
	*payload_r = (const char *)p + REC_HDR;
	*len_r = len;
	*used_r = REC_HDR + (size_t)len;
	return 1;
}

/* ---- Envelope. */

static const char *ret_name(enum queue_ret r)
{
	return r == QUEUE_RET_FULL   ? "FULL"
	       : r == QUEUE_RET_HDRS ? "HDRS"
				     : NULL;
}

static const char *body_name(enum queue_body_type b)
{
	switch (b) {
	case QUEUE_BODY_7BIT:
		return "7BIT";
	case QUEUE_BODY_8BITMIME:
		return "8BITMIME";
	case QUEUE_BODY_BINARYMIME:
		return "BINARYMIME";
	case QUEUE_BODY_NONE:
		break;
	}
	return NULL;
}

void submit_rcpt_encode(struct buf *out, const struct submit_rcpt *rcpt)
{
	struct buf *b = buf_new();
	const char *orcpt = rcpt->orcpt != NULL ? rcpt->orcpt : "";

	buf_append(b, rcpt->addr, strlen(rcpt->addr) + 1);
	buf_append(b, orcpt, strlen(orcpt) + 1);
	buf_printf(b, "%u", rcpt->notify);
	submit_rec_put(out, SUBMIT_REC_RCPT, buf_data(b), buf_len(b));
	buf_free(&b);
}

static void put_opt(struct buf *out, char type, const char *s)
{
	if (s != NULL)
		submit_rec_put_str(out, type, s);
}

void submit_env_encode(struct buf *out, const struct submit_env *env)
{
	submit_rec_put_str(out, SUBMIT_REC_SENDER,
			   env->sender != NULL ? env->sender : "");
	put_opt(out, SUBMIT_REC_ENVID, env->envid);
	put_opt(out, SUBMIT_REC_RET, ret_name(env->ret));
	put_opt(out, SUBMIT_REC_BODY, body_name(env->body));
	if (env->smtputf8)
		submit_rec_put_str(out, SUBMIT_REC_SMTPUTF8, "");
	put_opt(out, SUBMIT_REC_CLIENT_ADDR, env->client_addr);
	put_opt(out, SUBMIT_REC_CLIENT_NAME, env->client_name);
	put_opt(out, SUBMIT_REC_HELO, env->helo);
	put_opt(out, SUBMIT_REC_AUTH, env->auth_name);
	put_opt(out, SUBMIT_REC_TLS, env->tls);
	if (env->filter != NULL && env->filter[0] != '\0')
		submit_rec_put_str(out, SUBMIT_REC_FILTER, env->filter);
	if (env->dkim_sign)
		submit_rec_put_str(out, SUBMIT_REC_DKIM_SIGN, "");
	for (size_t i = 0; i < env->nrcpts; i++)
		submit_rcpt_encode(out, &env->rcpts[i]);
}

/* Envelope strings are text: a NUL or a line break inside one would
 * corrupt logs and headers built from it. */
static bool text_ok(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] == '\0' || p[i] == '\r' || p[i] == '\n')
			return false;
	return true;
}

static int decode_rcpt(struct queue_env *env, const char *p, size_t len,
		       struct error *err)
{
	const char *end = p + len;
	const char *addr = p;
	const char *z1 = memchr(p, '\0', len);
	const char *orcpt, *z2, *notify;
	unsigned long long n;

	if (z1 == NULL)
		return error_set(err, ERR_PERM, "recipient record: no orcpt");
	orcpt = z1 + 1;
	z2 = memchr(orcpt, '\0', (size_t)(end - orcpt));
	if (z2 == NULL)
		return error_set(err, ERR_PERM, "recipient record: no notify");
	notify = z2 + 1;
	if (z1 == addr || !text_ok(addr, (size_t)(z1 - addr)) ||
	    !text_ok(orcpt, (size_t)(z2 - orcpt)))
		return error_set(err, ERR_PERM,
				 "recipient record: bad address");
	/* notify runs to the end of the payload, which is NUL-terminated by
	 * the framing (buf) but may contain a NUL of its own. */
	if (notify == end || memchr(notify, '\0', (size_t)(end - notify)) ||
	    !str_to_u64(notify, &n) ||
	    n > (QUEUE_NOTIFY_NEVER | QUEUE_NOTIFY_SUCCESS |
		 QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY))
		return error_set(err, ERR_PERM, "recipient record: bad notify");
	if (env->nrcpts >= 100000)
		return error_set(err, ERR_PERM, "too many recipients");
	queue_env_add_rcpt(env, addr, z2 > orcpt ? orcpt : NULL, (unsigned)n);
	return 0;
}

static int apply_field(struct queue_env *env, char type, const char *p,
		       struct error *err);

int submit_env_apply(struct queue_env *env, char type, const char *payload,
		     size_t len, struct error *err)
{
	char *p;
	int rc;

	/* Payloads are borrowed from the input buffer, not terminated. */
	p = xmalloc(len + 1);
	memcpy(p, payload, len);
	p[len] = '\0';
	if (type == SUBMIT_REC_RCPT)
		rc = decode_rcpt(env, p, len, err);
	else if (!text_ok(p, len))
		rc = error_set(err, ERR_PERM,
			       "record type 0x%02x: control "
			       "character",
			       (unsigned char)type);
	else
		rc = apply_field(env, type, p, err);
	free(p);
	return rc;
}

static int apply_field(struct queue_env *env, char type, const char *p,
		       struct error *err)
{
	char **field = NULL;

	switch (type) {
	case SUBMIT_REC_SENDER:
		field = &env->sender;
		break;
	case SUBMIT_REC_ENVID:
		field = &env->envid;
		break;
	case SUBMIT_REC_CLIENT_ADDR:
		field = &env->client_addr;
		break;
	case SUBMIT_REC_CLIENT_NAME:
		field = &env->client_name;
		break;
	case SUBMIT_REC_HELO:
		field = &env->helo;
		break;
	case SUBMIT_REC_AUTH:
		field = &env->auth_name;
		break;
	case SUBMIT_REC_TLS:
		field = &env->tls;
		break;
	case SUBMIT_REC_RET:
		if (strcmp(p, "FULL") == 0)
			env->ret = QUEUE_RET_FULL;
		else if (strcmp(p, "HDRS") == 0)
			env->ret = QUEUE_RET_HDRS;
		else
			return error_set(err, ERR_PERM, "bad RET value");
		return 0;
	case SUBMIT_REC_BODY:
		if (strcmp(p, "7BIT") == 0)
			env->body = QUEUE_BODY_7BIT;
		else if (strcmp(p, "8BITMIME") == 0)
			env->body = QUEUE_BODY_8BITMIME;
		else if (strcmp(p, "BINARYMIME") == 0)
			env->body = QUEUE_BODY_BINARYMIME;
		else
			return error_set(err, ERR_PERM, "bad BODY value");
		return 0;
	case SUBMIT_REC_SMTPUTF8:
		env->smtputf8 = true;
		return 0;
	case SUBMIT_REC_DKIM_SIGN:
		env->dkim_sign = true;
		return 0;
	case SUBMIT_REC_DKIM_DENY:
		env->dkim_deny = true;
		return 0;
	case SUBMIT_REC_FILTER:
		/* "transport:nexthop"; the daemon's router checks the
		 * transport (an unknown one defers, as Postfix). */
		if (*p != '\0' && strchr(p, ':') == NULL)
			return error_set(err, ERR_PERM,
					 "filter is not transport:nexthop");
		queue_env_set(&env->filter, *p != '\0' ? p : NULL);
		return 0;
	case SUBMIT_REC_REDIRECT:
		if (*p == '\0')
			return error_set(err, ERR_PERM, "empty redirect");
		for (size_t i = 0; i < env->nrcpts; i++) {
			free(env->rcpts[i].addr);
			free(env->rcpts[i].orcpt);
			free(env->rcpts[i].reply);
		}
		env->nrcpts = 0;
		queue_env_add_rcpt(env, p, NULL, 0);
		return 0;
	default:
		return error_set(err, ERR_PERM,
				 "record type 0x%02x is not an envelope field",
				 (unsigned char)type);
	}
	queue_env_set(field, p);
	return 0;
}
