/*
 * queue_record - record framing, CRC32C and the envelope TLV codec.
 */
#include "queue/queue_record.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"

/* ---- CRC32C (Castagnoli), with the SSE 4.2 instruction when present. */

static uint32_t crc_table[256];

static void crc_init_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc_soft(uint32_t crc, const unsigned char *p, size_t len)
{
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}
#endif

uint32_t qrec_crc32c(uint32_t crc, const void *data, size_t len)
{
	static atomic_int mode; /* 0 unknown, 1 software, 2 hardware */
	int m = atomic_load(&mode);

	if (m == 0) {
		crc_init_table();
		m = 1;
#if defined(__x86_64__)
		__builtin_cpu_init();
		if (__builtin_cpu_supports("sse4.2"))
			m = 2;
#endif
		atomic_store(&mode, m);
	}
	crc = ~crc;
#if defined(__x86_64__)
	if (m == 2)
		return ~crc_hw(crc, data, len);
#endif
	return ~crc_soft(crc, data, len);
}

/* ---- Little-endian helpers. */

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* ---- Framing. */

static void hdr_fill(unsigned char *h, enum qrec_type type, size_t len)
{
	put_u32(h, QREC_MAGIC);
	put_u32(h + 4, (uint32_t)len);
	h[8] = (unsigned char)type;
	h[9] = h[10] = h[11] = 0;
	put_u32(h + 12, 0);
}

/* The CRC covers length, type and padding (header bytes 4..12) and the
 * payload, so a torn length is caught as surely as a torn body. */
static uint32_t hdr_crc(const unsigned char *h, const void *payload, size_t len)
{
	return qrec_crc32c(qrec_crc32c(0, h + 4, 8), payload, len);
}

void qrec_append(struct buf *out, enum qrec_type type, const void *payload,
		 size_t len)
{
	unsigned char h[QREC_HDR_SIZE];

	ASSERT(len <= QREC_MAX_PAYLOAD);
	hdr_fill(h, type, len);
	put_u32(h + 12, hdr_crc(h, payload, len));
	buf_append(out, h, sizeof(h));
	buf_append(out, payload, len);
}

void qrec_append_msg(struct buf *out, const struct queue_env *env,
		     const void *body, size_t body_len)
{
	size_t start = buf_len(out);
	unsigned char h[QREC_HDR_SIZE];
	unsigned char el[4];
	size_t env_len, plen;

	buf_append(out, h, sizeof(h)); /* placeholder */
	buf_append(out, el, sizeof(el));
	qrec_env_encode(out, env);
	env_len = buf_len(out) - start - QREC_HDR_SIZE - 4;
	buf_append(out, body, body_len);
	plen = buf_len(out) - start - QREC_HDR_SIZE;
	ASSERT(plen <= QREC_MAX_PAYLOAD);

	unsigned char *p = (unsigned char *)buf_mut(out) + start;

	put_u32(p + QREC_HDR_SIZE, (uint32_t)env_len);
	hdr_fill(p, QREC_MSG, plen);
	put_u32(p + 12, hdr_crc(p, p + QREC_HDR_SIZE, plen));
}

int qrec_parse(const void *data, size_t len, enum qrec_type *type_r,
	       const unsigned char **payload_r, size_t *plen_r, size_t *total_r,
	       struct error *err)
{
	const unsigned char *p = data;
	uint32_t plen;

	if (len < QREC_HDR_SIZE)
		return 0;
	if (get_u32(p) != QREC_MAGIC)
		return error_set(err, ERR_PERM, "bad record magic");
	plen = get_u32(p + 4);
	if (plen > QREC_MAX_PAYLOAD || p[9] || p[10] || p[11] || p[8] < 1 ||
	    p[8] > QREC_ENV)
		return error_set(err, ERR_PERM, "bad record header");
	if (len - QREC_HDR_SIZE < plen)
		return 0;
	if (hdr_crc(p, p + QREC_HDR_SIZE, plen) != get_u32(p + 12))
		return error_set(err, ERR_PERM, "record checksum mismatch");
	*type_r = (enum qrec_type)p[8];
	*payload_r = p + QREC_HDR_SIZE;
	*plen_r = plen;
	*total_r = QREC_HDR_SIZE + (size_t)plen;
	return 1;
}

/* ---- TLV. */

enum {
	T_ID = 1,
	T_ARRIVAL,
	T_SIZE,
	T_SENDER,
	T_ENVID,
	T_RET,
	T_BODY,
	T_SMTPUTF8,
	T_CLIENT_ADDR,
	T_CLIENT_NAME,
	T_HELO,
	T_AUTH,
	T_TLS,
	T_GEN,
	T_RCPT = 20,
	T_R_ADDR,
	T_R_ORCPT,
	T_R_NOTIFY,
	T_R_STATUS,
	T_R_RETRY,
	T_R_REPLY,
	T_R_INDEX = 30,
	/* Added later; older files simply lack them. */
	T_FILTER = 40,
	T_DKIM_SIGN,
	T_DKIM_DENY,
};

static void tlv(struct buf *out, unsigned tag, const void *v, size_t len)
{
	unsigned char h[5];

	h[0] = (unsigned char)tag;
	put_u32(h + 1, (uint32_t)len);
	buf_append(out, h, sizeof(h));
	buf_append(out, v, len);
}

static void tlv_str(struct buf *out, unsigned tag, const char *s)
{
	if (s != NULL)
		tlv(out, tag, s, strlen(s));
}

static void tlv_u64(struct buf *out, unsigned tag, uint64_t v)
{
	unsigned char b[8];

	put_u32(b, (uint32_t)v);
	put_u32(b + 4, (uint32_t)(v >> 32));
	tlv(out, tag, b, sizeof(b));
}

static void tlv_u8(struct buf *out, unsigned tag, unsigned v)
{
	unsigned char b = (unsigned char)v;

	tlv(out, tag, &b, 1);
}

struct tlv_it {
	const unsigned char *p, *end;
};

/* 1 with the next field, 0 at the end, -1 if truncated. */
static int tlv_next(struct tlv_it *it, unsigned *tag_r,
		    const unsigned char **v_r, size_t *len_r)
{
	uint32_t len;

	if (it->p == it->end)
		return 0;
	if (it->end - it->p < 5)
		return -1;
	len = get_u32(it->p + 1);
	if ((size_t)(it->end - it->p - 5) < len)
		return -1;
	*tag_r = it->p[0];
	*v_r = it->p + 5;
	*len_r = len;
	it->p += 5 + (size_t)len;
	return 1;
}

static int get_str(char **field, const unsigned char *v, size_t len,
		   struct error *err)
{
	if (memchr(v, '\0', len) != NULL)
		return error_set(err, ERR_PERM, "NUL byte in a field");
	free(*field);
	*field = xstrndup((const char *)v, len);
	return 0;
}

static int get_num(uint64_t *out, const unsigned char *v, size_t len,
		   struct error *err)
{
	if (len == 1)
		*out = v[0];
	else if (len == 8)
		*out = get_u64(v);
	else
		return error_set(err, ERR_PERM, "bad number field");
	return 0;
}

static int get_id(char id[QUEUE_ID_MAX], const unsigned char *v, size_t len,
		  struct error *err)
{
	if (len == 0 || len >= QUEUE_ID_MAX)
		return error_set(err, ERR_PERM, "bad queue id length");
	memcpy(id, v, len);
	id[len] = '\0';
	if (!queue_id_valid(id))
		return error_set(err, ERR_PERM, "bad queue id");
	return 0;
}

static void rcpt_encode(struct buf *out, const struct queue_rcpt *r)
{
	struct buf *in = buf_new();

	tlv_str(in, T_R_ADDR, r->addr);
	tlv_str(in, T_R_ORCPT, r->orcpt);
	tlv_u8(in, T_R_NOTIFY, r->notify);
	tlv_u8(in, T_R_STATUS, r->status);
	tlv_u64(in, T_R_RETRY, (uint64_t)r->next_retry);
	tlv_str(in, T_R_REPLY, r->reply);
	tlv(out, T_RCPT, buf_data(in), buf_len(in));
	buf_free(&in);
}

void qrec_env_encode(struct buf *out, const struct queue_env *env)
{
	tlv_str(out, T_ID, env->id);
	tlv_u64(out, T_ARRIVAL, (uint64_t)env->arrival);
	tlv_u64(out, T_SIZE, env->size);
	tlv_str(out, T_SENDER, env->sender != NULL ? env->sender : "");
	tlv_str(out, T_ENVID, env->envid);
	tlv_u8(out, T_RET, env->ret);
	tlv_u8(out, T_BODY, env->body);
	tlv_u8(out, T_SMTPUTF8, env->smtputf8);
	tlv_str(out, T_CLIENT_ADDR, env->client_addr);
	tlv_str(out, T_CLIENT_NAME, env->client_name);
	tlv_str(out, T_HELO, env->helo);
	tlv_str(out, T_AUTH, env->auth_name);
	tlv_str(out, T_TLS, env->tls);
	tlv_u64(out, T_GEN, env->gen);
	tlv_str(out, T_FILTER, env->filter);
	if (env->dkim_sign)
		tlv_u8(out, T_DKIM_SIGN, 1);
	if (env->dkim_deny)
		tlv_u8(out, T_DKIM_DENY, 1);
	for (size_t i = 0; i < env->nrcpts; i++)
		rcpt_encode(out, &env->rcpts[i]);
}

static int rcpt_decode(struct queue_rcpt *r, const unsigned char *data,
		       size_t len, struct error *err)
{
	struct tlv_it it = {data, data + len};
	const unsigned char *v;
	unsigned tag;
	size_t vl;
	uint64_t n = 0;
	int ret;

	while ((ret = tlv_next(&it, &tag, &v, &vl)) > 0) {
		switch (tag) {
		case T_R_ADDR:
			if (get_str(&r->addr, v, vl, err) < 0)
				return -1;
			break;
		case T_R_ORCPT:
			if (get_str(&r->orcpt, v, vl, err) < 0)
				return -1;
			break;
		case T_R_REPLY:
			if (get_str(&r->reply, v, vl, err) < 0)
				return -1;
			break;
		case T_R_NOTIFY:
			if (get_num(&n, v, vl, err) < 0)
				return -1;
			r->notify = (unsigned)n & 0x0f;
			break;
		case T_R_STATUS:
			if (get_num(&n, v, vl, err) < 0)
				return -1;
			if (n > QUEUE_RCPT_FAILED)
				return error_set(err, ERR_PERM,
						 "bad recipient status");
			r->status = (enum queue_rcpt_status)n;
			break;
		case T_R_RETRY:
			if (get_num(&n, v, vl, err) < 0)
				return -1;
			r->next_retry = (int64_t)n;
			break;
		default:
			break;
		}
	}
	if (ret < 0)
		return error_set(err, ERR_PERM, "truncated recipient field");
	if (r->addr == NULL)
		return error_set(err, ERR_PERM, "recipient without address");
	return 0;
}

static int env_field(struct queue_env *env, unsigned tag,
		     const unsigned char *v, size_t vl, struct error *err)
{
	uint64_t n = 0;

	switch (tag) {
	case T_ID:
		return get_id(env->id, v, vl, err);
	case T_SENDER:
		return get_str(&env->sender, v, vl, err);
	case T_ENVID:
		return get_str(&env->envid, v, vl, err);
	case T_CLIENT_ADDR:
		return get_str(&env->client_addr, v, vl, err);
	case T_CLIENT_NAME:
		return get_str(&env->client_name, v, vl, err);
	case T_HELO:
		return get_str(&env->helo, v, vl, err);
	case T_AUTH:
		return get_str(&env->auth_name, v, vl, err);
	case T_TLS:
		return get_str(&env->tls, v, vl, err);
	case T_FILTER:
		return get_str(&env->filter, v, vl, err);
	case T_RCPT: {
		struct queue_rcpt r = {0};

		if (env->nrcpts >= QREC_MAX_RCPTS)
			return error_set(err, ERR_PERM, "too many recipients");
		if (rcpt_decode(&r, v, vl, err) < 0) {
			free(r.addr);
			free(r.orcpt);
			free(r.reply);
			return -1;
		}
		env->rcpts = xreallocarray(env->rcpts, env->nrcpts + 1,
					   sizeof(*env->rcpts));
		env->rcpts[env->nrcpts++] = r;
		return 0;
	}
	default:
		break;
	}
	if (tag != T_ARRIVAL && tag != T_SIZE && tag != T_RET &&
	    tag != T_BODY && tag != T_SMTPUTF8 && tag != T_GEN &&
	    tag != T_DKIM_SIGN && tag != T_DKIM_DENY)
		return 0; /* unknown: a newer writer's field */
	if (get_num(&n, v, vl, err) < 0)
		return -1;
	switch (tag) {
	case T_ARRIVAL:
		env->arrival = (int64_t)n;
		break;
	case T_SIZE:
		env->size = n;
		break;
	case T_RET:
		if (n > QUEUE_RET_HDRS)
			return error_set(err, ERR_PERM, "bad RET");
		env->ret = (enum queue_ret)n;
		break;
	case T_BODY:
		if (n > QUEUE_BODY_BINARYMIME)
			return error_set(err, ERR_PERM, "bad BODY");
		env->body = (enum queue_body_type)n;
		break;
	case T_SMTPUTF8:
		env->smtputf8 = n != 0;
		break;
	case T_GEN:
		env->gen = (uint32_t)n;
		break;
	case T_DKIM_SIGN:
		env->dkim_sign = n != 0;
		break;
	case T_DKIM_DENY:
		env->dkim_deny = n != 0;
		break;
	}
	return 0;
}

int qrec_env_decode(const void *data, size_t len, struct queue_env *env,
		    struct error *err)
{
	struct tlv_it it = {data, (const unsigned char *)data + len};
	const unsigned char *v;
	unsigned tag;
	size_t vl;
	int ret;

	queue_env_clear(env);
	while ((ret = tlv_next(&it, &tag, &v, &vl)) > 0)
		if (env_field(env, tag, v, vl, err) < 0)
			goto fail;
	if (ret < 0) {
		error_set(err, ERR_PERM, "truncated envelope field");
		goto fail;
	}
	if (env->id[0] == '\0' || env->sender == NULL) {
		error_set(err, ERR_PERM, "envelope without id or sender");
		goto fail;
	}
	return 0;
fail:
	queue_env_clear(env);
	return -1;
}

int qrec_msg_decode(const void *payload, size_t len, struct queue_env *env,
		    size_t *body_off_r, size_t *body_len_r, struct error *err)
{
	uint32_t el;

	if (len < 4)
		return error_set(err, ERR_PERM, "short message record");
	el = get_u32(payload);
	if (el > len - 4)
		return error_set(err, ERR_PERM, "bad envelope length");
	if (qrec_env_decode((const unsigned char *)payload + 4, el, env, err) <
	    0)
		return -1;
	*body_off_r = 4 + (size_t)el;
	*body_len_r = len - 4 - el;
	if (env->size != *body_len_r) {
		queue_env_clear(env);
		return error_set(err, ERR_PERM, "body size mismatch");
	}
	return 0;
}

void qrec_status_encode(struct buf *out, const struct qrec_status *st)
{
	tlv_str(out, T_ID, st->id);
	tlv_u64(out, T_R_INDEX, st->rcpt);
	tlv_u8(out, T_R_STATUS, st->status);
	tlv_u64(out, T_R_RETRY, (uint64_t)st->next_retry);
	tlv_str(out, T_R_REPLY, st->reply);
}

int qrec_status_decode(const void *data, size_t len, struct qrec_status *st,
		       struct error *err)
{
	struct tlv_it it = {data, (const unsigned char *)data + len};
	const unsigned char *v;
	unsigned tag;
	size_t vl;
	uint64_t n = 0;
	int ret;
	int have_index = 0;

	memset(st, 0, sizeof(*st));
	while ((ret = tlv_next(&it, &tag, &v, &vl)) > 0) {
		if (tag == T_ID) {
			if (get_id(st->id, v, vl, err) < 0)
				goto fail;
		} else if (tag == T_R_REPLY) {
			if (get_str(&st->reply, v, vl, err) < 0)
				goto fail;
		} else if (tag == T_R_INDEX || tag == T_R_STATUS ||
			   tag == T_R_RETRY) {
			if (get_num(&n, v, vl, err) < 0)
				goto fail;
			if (tag == T_R_INDEX) {
				if (n >= QREC_MAX_RCPTS) {
					error_set(err, ERR_PERM,
						  "bad recipient index");
					goto fail;
				}
				st->rcpt = (uint32_t)n;
				have_index = 1;
			} else if (tag == T_R_STATUS) {
				if (n > QUEUE_RCPT_FAILED) {
					error_set(err, ERR_PERM,
						  "bad recipient status");
					goto fail;
				}
				st->status = (enum queue_rcpt_status)n;
			} else {
				st->next_retry = (int64_t)n;
			}
		}
	}
	if (ret < 0 || st->id[0] == '\0' || !have_index) {
		error_set(err, ERR_PERM, "malformed status record");
		goto fail;
	}
	return 0;
fail:
	XFREE(st->reply);
	return -1;
}

void qrec_done_encode(struct buf *out, const char *id)
{
	tlv_str(out, T_ID, id);
}

int qrec_done_decode(const void *data, size_t len, char id[QUEUE_ID_MAX],
		     struct error *err)
{
	struct tlv_it it = {data, (const unsigned char *)data + len};
	const unsigned char *v;
	unsigned tag;
	size_t vl;
	int ret;

	id[0] = '\0';
	while ((ret = tlv_next(&it, &tag, &v, &vl)) > 0)
		if (tag == T_ID && get_id(id, v, vl, err) < 0)
			return -1;
	if (ret < 0 || id[0] == '\0')
		return error_set(err, ERR_PERM, "malformed done record");
	return 0;
}

/* ---- Queue ids. */

static const char b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

int queue_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n >= QUEUE_ID_MAX)
		return 0;
	return strspn(id, b62) == n;
}

static char *put_b62(char *p, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = b62[v % 62];
		v /= 62;
	}
	return p + width;
}

/*
 * Seconds (6 digits: until year 3800), microseconds (4 digits), then a
 * per-process counter mixed with the pid (5 digits), as Postfix's long
 * queue ids put the time first so that ids sort by arrival.  The owner
 * lock makes one process the only writer, and the counter makes ids
 * unique within it even when the clock steps back.
 */
void queue_id_new(char id[QUEUE_ID_MAX])
{
	static atomic_uint_fast64_t counter;
	struct timeval tv;
	uint64_t c = atomic_fetch_add(&counter, 1);
	char *p = id;

	gettimeofday(&tv, NULL);
	p = put_b62(p, (uint64_t)tv.tv_sec, 6);
	p = put_b62(p, (uint64_t)tv.tv_usec, 4);
	p = put_b62(p, (c + (uint64_t)getpid() * 7919u) % 916132832u, 5);
	*p = '\0';
}
