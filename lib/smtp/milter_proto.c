/*
 * milter_proto.c - encoding milter commands, framing and decoding
 * replies (milter_proto.h).
 */
#include <string.h>

#include "core/xmalloc.h"
#include "smtp/milter_proto.h"

static void put_u32(struct buf *out, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};

	buf_append(out, b, 4);
}

static uint32_t get_u32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
	       (uint32_t)u[2] << 8 | (uint32_t)u[3];
}

/* Start a packet; finish with packet_end(out, start). */
static size_t packet_begin(struct buf *out, char cmd)
{
	size_t start = buf_len(out);

	put_u32(out, 0);
	buf_append_char(out, cmd);
	return start;
}

static void packet_end(struct buf *out, size_t start)
{
	uint32_t n = (uint32_t)(buf_len(out) - start - 4);
	unsigned char *p = (unsigned char *)buf_mut(out) + start;

	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
}

/* A string with its NUL (NULL sends ""). */
static void put_str(struct buf *out, const char *s)
{
	if (s != NULL)
		buf_append_str(out, s);
	buf_append_char(out, '\0');
}

void milter_put_optneg(struct buf *out, uint32_t version, uint32_t actions,
		       uint32_t protocol)
{
	size_t at = packet_begin(out, MILTER_CMD_OPTNEG);

	put_u32(out, version);
	put_u32(out, actions);
	put_u32(out, protocol);
	packet_end(out, at);
}

void milter_put_macros(struct buf *out, char cmd, const char *const *names,
		       const char *const *values, size_t n)
{
	size_t at = packet_begin(out, MILTER_CMD_MACRO);

	buf_append_char(out, cmd);
	for (size_t i = 0; i < n; i++) {
		put_str(out, names[i]);
		put_str(out, values[i]);
	}
	packet_end(out, at);
}

void milter_put_connect(struct buf *out, const char *hostname,
			const char *addr, unsigned port)
{
	size_t at = packet_begin(out, MILTER_CMD_CONNECT);

	put_str(out, hostname);
	if (addr == NULL) {
		buf_append_char(out, 'U');
	} else {
		unsigned char p[2] = {(unsigned char)(port >> 8),
				      (unsigned char)port};
		buf_append_char(out, addr[0] == '/'	     ? 'L'
				     : strchr(addr, ':') != NULL ? '6'
								 : '4');
		buf_append(out, p, 2);
		put_str(out, addr);
	}
	packet_end(out, at);
}

void milter_put_helo(struct buf *out, const char *helo)
{
	size_t at = packet_begin(out, MILTER_CMD_HELO);

	put_str(out, helo);
	packet_end(out, at);
}

void milter_put_args(struct buf *out, char cmd, const char *const *args,
		     size_t n)
{
	size_t at = packet_begin(out, cmd);

	for (size_t i = 0; i < n; i++)
		put_str(out, args[i]);
	packet_end(out, at);
}

void milter_put_header(struct buf *out, const char *name, const char *value)
{
	size_t at = packet_begin(out, MILTER_CMD_HEADER);

	put_str(out, name);
	put_str(out, value);
	packet_end(out, at);
}

void milter_put_body(struct buf *out, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		size_t n = len < MILTER_CHUNK_MAX ? len : MILTER_CHUNK_MAX;
		size_t at = packet_begin(out, MILTER_CMD_BODY);

		buf_append(out, p, n);
		packet_end(out, at);
		p += n;
		len -= n;
	}
}

void milter_put_cmd(struct buf *out, char cmd)
{
	packet_end(out, packet_begin(out, cmd));
}

int milter_packet_get(const char *data, size_t len, char *cmd_r,
		      const char **payload_r, size_t *plen_r, size_t *used_r,
		      struct error *err)
{
	uint32_t n;

	if (len < 4)
		return 0;
	n = get_u32(data);
	if (n == 0)
		return error_set(err, ERR_PERM, "milter packet of length 0");
	if (n > MILTER_PACKET_MAX)
		return error_set(err, ERR_PERM,
				 "milter packet too long (%lu bytes)",
				 (unsigned long)n);
	if (len - 4 < n)
		return 0;
	*cmd_r = data[4];
	*payload_r = data + 5;
	*plen_r = n - 1;
	*used_r = (size_t)n + 4;
	return 1;
}

/* Strings of a payload, taken one by one with their NULs. */
struct cursor {
	const char *p;
	size_t left;
};

static const char *take_str(struct cursor *c)
{
	const char *nul = c->left > 0 ? memchr(c->p, '\0', c->left) : NULL;
	const char *s = c->p;

	if (nul == NULL)
		return NULL;
	c->left -= (size_t)(nul - c->p) + 1;
	c->p = nul + 1;
	return s;
}

static bool take_u32(struct cursor *c, uint32_t *v)
{
	if (c->left < 4)
		return false;
	*v = get_u32(c->p);
	c->p += 4;
	c->left -= 4;
	return true;
}

static bool digit3(const char *p, unsigned *code_r)
{
	if (p[0] < '4' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
	    p[2] < '0' || p[2] > '9')
		return false;
	*code_r = (unsigned)(p[0] - '0') * 100 + (unsigned)(p[1] - '0') * 10 +
		  (unsigned)(p[2] - '0');
	return true;
}

/*
 * SMFIR_REPLYCODE text: "ddd text" or lines "ddd-text\r\nddd text", the
 * same 4xx/5xx code on each (smfi_setmlreply builds these), no bare CR
 * or LF and no other control character that could break our reply.
 */
static int check_replycode(const char *text, unsigned *code_r,
			   struct error *err)
{
	const char *line = text;
	unsigned first = 0;

	for (;;) {
		const char *end = strstr(line, "\r\n");
		size_t n = end != NULL ? (size_t)(end - line) : strlen(line);
		unsigned code;

		if (n < 3 || !digit3(line, &code))
			return error_set(err, ERR_PERM,
					 "milter reply code is not 4xx/5xx");
		if (first == 0)
			first = code;
		else if (code != first)
			return error_set(err, ERR_PERM,
					 "milter reply lines disagree");
		if (n > 3 && line[3] != ' ' && line[3] != '-')
			return error_set(err, ERR_PERM,
					 "malformed milter reply code");
		if ((end != NULL) != (n > 3 && line[3] == '-'))
			return error_set(err, ERR_PERM,
					 "malformed multi-line milter reply");
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
				return error_set(err, ERR_PERM,
						 "control character in milter "
						 "reply");
		if (end == NULL)
			break;
		line = end + 2;
	}
	*code_r = first;
	return 0;
}

static int bad(struct error *err, char cmd)
{
	return error_set(err, ERR_PERM, "malformed milter reply '%s'",
			 milter_reply_name(cmd));
}

static int decode_optneg(struct cursor *c, struct milter_reply *r,
			 struct error *err)
{
	if (!take_u32(c, &r->version) || !take_u32(c, &r->actions) ||
	    !take_u32(c, &r->protocol))
		return bad(err, MILTER_REP_OPTNEG);
	/* SMFIR_SETSYMLIST data: (stage, "macro macro\0") pairs. */
	while (c->left > 0) {
		uint32_t stage;
		const char *list;

		if (!take_u32(c, &stage) || (list = take_str(c)) == NULL)
			return bad(err, MILTER_REP_OPTNEG);
		if (stage < MILTER_STAGES)
			r->symlist[stage] = list;
	}
	return 0;
}

int milter_reply_decode(char cmd, const char *payload, size_t plen,
			struct milter_reply *r, struct error *err)
{
	struct cursor c = {payload, plen};

	memset(r, 0, sizeof(*r));
	r->cmd = cmd;
	switch (cmd) {
	case MILTER_REP_OPTNEG:
		return decode_optneg(&c, r, err);
	case MILTER_REP_ACCEPT:
	case MILTER_REP_CONTINUE:
	case MILTER_REP_DISCARD:
	case MILTER_REP_REJECT:
	case MILTER_REP_TEMPFAIL:
	case MILTER_REP_PROGRESS:
	case MILTER_REP_SKIP:
	case MILTER_REP_CONN_FAIL:
	case MILTER_REP_SHUTDOWN:
		return 0;
	case MILTER_REP_REPLYCODE:
		if ((r->text = take_str(&c)) == NULL)
			return bad(err, cmd);
		return check_replycode(r->text, &r->code, err);
	case MILTER_REP_ADDHEADER:
		if ((r->name = take_str(&c)) == NULL ||
		    (r->value = take_str(&c)) == NULL || r->name[0] == '\0')
			return bad(err, cmd);
		return 0;
	case MILTER_REP_CHGHEADER:
	case MILTER_REP_INSHEADER:
		if (!take_u32(&c, &r->index) ||
		    (r->name = take_str(&c)) == NULL ||
		    (r->value = take_str(&c)) == NULL || r->name[0] == '\0')
			return bad(err, cmd);
		return 0;
	case MILTER_REP_ADDRCPT:
	case MILTER_REP_DELRCPT:
	case MILTER_REP_QUARANTINE:
		if ((r->addr = take_str(&c)) == NULL)
			return bad(err, cmd);
		return 0;
	case MILTER_REP_ADDRCPT_PAR:
	case MILTER_REP_CHGFROM:
		if ((r->addr = take_str(&c)) == NULL)
			return bad(err, cmd);
		/* The ESMTP arguments are optional. */
		if (c.left > 0 && (r->args = take_str(&c)) == NULL)
			return bad(err, cmd);
		return 0;
	case MILTER_REP_REPLBODY:
		r->data = payload;
		r->len = plen;
		return 0;
	default:
		return error_set(err, ERR_PERM,
				 "unknown milter reply 0x%02x",
				 (unsigned char)cmd);
	}
}

const char *milter_reply_name(char cmd)
{
	switch (cmd) {
	case MILTER_REP_ADDRCPT: return "addrcpt";
	case MILTER_REP_DELRCPT: return "delrcpt";
	case MILTER_REP_ADDRCPT_PAR: return "addrcpt_par";
	case MILTER_REP_SHUTDOWN: return "shutdown";
	case MILTER_REP_ACCEPT: return "accept";
	case MILTER_REP_REPLBODY: return "replbody";
	case MILTER_REP_CONTINUE: return "continue";
	case MILTER_REP_DISCARD: return "discard";
	case MILTER_REP_CHGFROM: return "chgfrom";
	case MILTER_REP_CONN_FAIL: return "conn_fail";
	case MILTER_REP_ADDHEADER: return "addheader";
	case MILTER_REP_INSHEADER: return "insheader";
	case MILTER_REP_SETSYMLIST: return "setsymlist";
	case MILTER_REP_CHGHEADER: return "chgheader";
	case MILTER_REP_PROGRESS: return "progress";
	case MILTER_REP_QUARANTINE: return "quarantine";
	case MILTER_REP_REJECT: return "reject";
	case MILTER_REP_SKIP: return "skip";
	case MILTER_REP_TEMPFAIL: return "tempfail";
	case MILTER_REP_REPLYCODE: return "replycode";
	case MILTER_REP_OPTNEG: return "optneg";
	default: return "unknown";
	}
}

bool milter_reply_is_mod(char cmd)
{
	switch (cmd) {
	case MILTER_REP_ADDHEADER:
	case MILTER_REP_CHGHEADER:
	case MILTER_REP_INSHEADER:
	case MILTER_REP_ADDRCPT:
	case MILTER_REP_ADDRCPT_PAR:
	case MILTER_REP_DELRCPT:
	case MILTER_REP_REPLBODY:
	case MILTER_REP_CHGFROM:
	case MILTER_REP_QUARANTINE:
		return true;
	default:
		return false;
	}
}

uint32_t milter_reply_action(char cmd)
{
	switch (cmd) {
	case MILTER_REP_ADDHEADER:
	case MILTER_REP_INSHEADER:
		return MILTER_ACT_ADDHDRS;
	case MILTER_REP_CHGHEADER:
		return MILTER_ACT_CHGHDRS;
	case MILTER_REP_REPLBODY:
		return MILTER_ACT_CHGBODY;
	case MILTER_REP_ADDRCPT:
		return MILTER_ACT_ADDRCPT;
	case MILTER_REP_ADDRCPT_PAR:
		return MILTER_ACT_ADDRCPT_PAR;
	case MILTER_REP_DELRCPT:
		return MILTER_ACT_DELRCPT;
	case MILTER_REP_CHGFROM:
		return MILTER_ACT_CHGFROM;
	case MILTER_REP_QUARANTINE:
		return MILTER_ACT_QUARANTINE;
	default:
		return 0;
	}
}

char *milter_addr_strip(const char *addr)
{
	size_t n = strlen(addr);

	if (n >= 2 && addr[0] == '<' && addr[n - 1] == '>')
		return xstrndup(addr + 1, n - 2);
	return xstrdup(addr);
}
