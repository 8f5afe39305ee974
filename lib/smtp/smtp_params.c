/*
 * smtp_params - ESMTP parameters of MAIL and RCPT; see smtp_params.h.
 */
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/str.h"
#include "mail/address.h"
#include "smtp/smtp_params.h"
#include "smtp/smtp_xtext.h"

#define KEYWORD_MAX 32

struct param {
	char keyword[KEYWORD_MAX + 1]; /* upper-cased */
	const char *value;	       /* NULL: no "=" */
	size_t value_len;
};

struct param_def {
	const char *keyword;
	unsigned int ext;
	int (*parse)(const struct param *p, void *params, unsigned int ext,
		     uint64_t max_size, struct smtp_reply *reply_r);
};

static bool is_keyword_char(unsigned char c, bool first)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return !first && c == '-';
}

/* esmtp-value, widened by RFC 6531 3.3 to UTF-8 octets. */
static bool is_value_char(unsigned char c)
{
	return (c >= 33 && c <= 126 && c != '=') || c >= 0x80;
}

static bool value_is(const struct param *p, const char *word)
{
	return p->value_len == strlen(word) &&
	       strncasecmp(p->value, word, p->value_len) == 0;
}

static int bad_value(const struct param *p, struct smtp_reply *reply_r)
{
	return smtp_reply_set(reply_r, 501, "5.5.4", "Bad %s parameter value",
			      p->keyword);
}

static int need_value(const struct param *p, struct smtp_reply *reply_r)
{
	if (p->value == NULL)
		return smtp_reply_set(reply_r, 501, "5.5.4",
				      "%s parameter needs a value", p->keyword);
	return 0;
}

static int no_value(const struct param *p, struct smtp_reply *reply_r)
{
	if (p->value != NULL)
		return smtp_reply_set(reply_r, 501, "5.5.4",
				      "%s parameter takes no value",
				      p->keyword);
	return 0;
}

/* RFC 1870 3: size-value = 1*20DIGIT. */
static int parse_size(const struct param *p, void *params, unsigned int ext,
		      uint64_t max_size, struct smtp_reply *reply_r)
{
	struct smtp_mail_params *mp = params;
	uint64_t v = 0;
	bool overflow = false;

	if (need_value(p, reply_r) < 0)
		return -1;
	if (p->value_len > 20)
		overflow = true;
	for (size_t i = 0; i < p->value_len; i++) {
		unsigned char c = (unsigned char)p->value[i];

		if (c < '0' || c > '9')
			return bad_value(p, reply_r);
		if (v > (UINT64_MAX - (c - '0')) / 10)
			overflow = true;
		else
			v = v * 10 + (c - '0');
	}
	if (overflow || (max_size > 0 && v > max_size))
		return smtp_reply_set(reply_r, 552, "5.3.4",
				      "Message size exceeds fixed limit");
	mp->has_size = true;
	mp->size = v;
	return 0;
}

static int parse_body(const struct param *p, void *params, unsigned int ext,
		      uint64_t max_size, struct smtp_reply *reply_r)
{
	struct smtp_mail_params *mp = params;

	if (need_value(p, reply_r) < 0)
		return -1;
	if (value_is(p, "7BIT"))
		mp->body = SMTP_BODY_7BIT;
	else if (value_is(p, "8BITMIME") && (ext & SMTP_EXT_8BITMIME))
		mp->body = SMTP_BODY_8BITMIME;
	else if (value_is(p, "BINARYMIME") && (ext & SMTP_EXT_BINARYMIME) &&
		 (ext & SMTP_EXT_CHUNKING))
		mp->body = SMTP_BODY_BINARYMIME;
	else
		return smtp_reply_set(reply_r, 501, "5.5.4",
				      "Unsupported BODY type");
	return 0;
}

static int parse_smtputf8(const struct param *p, void *params, unsigned int ext,
			  uint64_t max_size, struct smtp_reply *reply_r)
{
	struct smtp_mail_params *mp = params;

	if (no_value(p, reply_r) < 0)
		return -1;
	mp->smtputf8 = true;
	return 0;
}

static int parse_ret(const struct param *p, void *params, unsigned int ext,
		     uint64_t max_size, struct smtp_reply *reply_r)
{
	struct smtp_mail_params *mp = params;

	if (need_value(p, reply_r) < 0)
		return -1;
	if (value_is(p, "FULL"))
		mp->ret = SMTP_RET_FULL;
	else if (value_is(p, "HDRS"))
		mp->ret = SMTP_RET_HDRS;
	else
		return bad_value(p, reply_r);
	return 0;
}

/* Decode xtext into dst[size]; false on bad xtext or when too long. */
static bool decode_into(const char *s, size_t len, char *dst, size_t size)
{
	struct buf *b = buf_new();
	bool ok = smtp_xtext_decode(s, len, b) && buf_len(b) < size;

	if (ok)
		memcpy(dst, buf_data(b), buf_len(b) + 1);
	buf_free(&b);
	return ok;
}

static int parse_envid(const struct param *p, void *params, unsigned int ext,
		       uint64_t max_size, struct smtp_reply *reply_r)
{
	struct smtp_mail_params *mp = params;

	if (need_value(p, reply_r) < 0)
		return -1;
	if (p->value_len > SMTP_ENVID_MAX ||
	    !decode_into(p->value, p->value_len, mp->envid, sizeof(mp->envid)))
		return bad_value(p, reply_r);
	/* RFC 3461 4.4: printable US-ASCII (graphic and white space). */
	for (const char *c = mp->envid; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) {
			mp->envid[0] = '\0';
			return bad_value(p, reply_r);
		}
	}
	return 0;
}

/* RFC 4954 5: AUTH=<> or AUTH=xtext(addr-spec). */
static int parse_auth(const struct param *p, void *params, unsigned int ext,
		      uint64_t max_size, struct smtp_reply *reply_r)
{
	struct smtp_mail_params *mp = params;
	struct mail_address addr;
	unsigned int flags = (ext & SMTP_EXT_SMTPUTF8) ? ADDRESS_SMTPUTF8 : 0;

	if (need_value(p, reply_r) < 0)
		return -1;
	if (p->value_len > SMTP_AUTH_PARAM_MAX ||
	    !decode_into(p->value, p->value_len, mp->auth, sizeof(mp->auth)))
		return bad_value(p, reply_r);
	if (strcmp(mp->auth, "<>") == 0)
		return 0;
	if (address_parse_mailbox(mp->auth, strlen(mp->auth), flags, &addr,
				  NULL) < 0) {
		mp->auth[0] = '\0';
		return bad_value(p, reply_r);
	}
	address_clear(&addr);
	return 0;
}

/* RFC 3461 4.1: "NEVER" alone, or a list of SUCCESS, FAILURE, DELAY. */
static int parse_notify(const struct param *p, void *params, unsigned int ext,
			uint64_t max_size, struct smtp_reply *reply_r)
{
	struct smtp_rcpt_params *rp = params;
	unsigned int bits = 0;
	size_t i = 0;

	if (need_value(p, reply_r) < 0)
		return -1;
	while (i <= p->value_len) {
		const char *w = p->value + i;
		size_t n = 0;
		unsigned int bit;

		while (i + n < p->value_len && w[n] != ',')
			n++;
		if (n == 5 && strncasecmp(w, "NEVER", 5) == 0)
			bit = SMTP_NOTIFY_NEVER;
		else if (n == 7 && strncasecmp(w, "SUCCESS", 7) == 0)
			bit = SMTP_NOTIFY_SUCCESS;
		else if (n == 7 && strncasecmp(w, "FAILURE", 7) == 0)
			bit = SMTP_NOTIFY_FAILURE;
		else if (n == 5 && strncasecmp(w, "DELAY", 5) == 0)
			bit = SMTP_NOTIFY_DELAY;
		else
			return bad_value(p, reply_r);
		if (bits & bit)
			return bad_value(p, reply_r);
		bits |= bit;
		i += n + 1;
	}
	if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
		return bad_value(p, reply_r);
	rp->notify = bits;
	return 0;
}

/* RFC 3461 4.2: ORCPT=addr-type ";" xtext, addr-type an atom. */
static int parse_orcpt(const struct param *p, void *params, unsigned int ext,
		       uint64_t max_size, struct smtp_reply *reply_r)
{
	struct smtp_rcpt_params *rp = params;
	const char *semi;
	size_t tlen, xlen;

	if (need_value(p, reply_r) < 0)
		return -1;
	semi = memchr(p->value, ';', p->value_len);
	if (p->value_len > SMTP_ORCPT_MAX || semi == NULL)
		return bad_value(p, reply_r);
	tlen = (size_t)(semi - p->value);
	xlen = p->value_len - tlen - 1;
	if (tlen == 0 || tlen >= sizeof(rp->orcpt_type) || xlen == 0)
		return bad_value(p, reply_r);
	for (size_t i = 0; i < tlen; i++)
		if (!is_keyword_char((unsigned char)p->value[i], i == 0))
			return bad_value(p, reply_r);
	if (!smtp_xtext_valid(semi + 1, xlen) &&
	    !(tlen == 5 && strncasecmp(p->value, "utf-8", 5) == 0))
		return bad_value(p, reply_r);
	memcpy(rp->orcpt_type, p->value, tlen);
	rp->orcpt_type[tlen] = '\0';
	memcpy(rp->orcpt, semi + 1, xlen);
	rp->orcpt[xlen] = '\0';
	rp->orcpt_decoded[0] = '\0';
	if (strcasecmp(rp->orcpt_type, "rfc822") == 0)
		decode_into(semi + 1, xlen, rp->orcpt_decoded,
			    sizeof(rp->orcpt_decoded));
	return 0;
}

static const struct param_def mail_defs[] = {
    {"SIZE", SMTP_EXT_SIZE, parse_size},
    {"BODY", 0, parse_body}, /* BODY=7BIT is always fine */
    {"SMTPUTF8", SMTP_EXT_SMTPUTF8, parse_smtputf8},
    {"RET", SMTP_EXT_DSN, parse_ret},
    {"ENVID", SMTP_EXT_DSN, parse_envid},
    {"AUTH", SMTP_EXT_AUTH, parse_auth},
    {NULL, 0, NULL},
};

static const struct param_def rcpt_defs[] = {
    {"NOTIFY", SMTP_EXT_DSN, parse_notify},
    {"ORCPT", SMTP_EXT_DSN, parse_orcpt},
    {NULL, 0, NULL},
};

/* Split one esmtp-param off s[*pos..len); -1 with reply on bad syntax. */
static int next_param(const char *s, size_t len, size_t *pos, struct param *p,
		      struct smtp_reply *reply_r)
{
	size_t i = *pos, k = 0;

	while (i < len && is_keyword_char((unsigned char)s[i], k == 0)) {
		if (k >= KEYWORD_MAX)
			return smtp_reply_set(reply_r, 501, "5.5.4",
					      "Bad parameter syntax");
		p->keyword[k++] =
		    (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A'
						      : s[i]);
		i++;
	}
	p->keyword[k] = '\0';
	p->value = NULL;
	p->value_len = 0;
	if (k == 0)
		return smtp_reply_set(reply_r, 501, "5.5.4",
				      "Bad parameter syntax");
	if (i < len && s[i] == '=') {
		p->value = s + ++i;
		while (i < len && is_value_char((unsigned char)s[i]))
			i++;
		p->value_len = (size_t)(s + i - p->value);
		if (p->value_len == 0)
			return smtp_reply_set(reply_r, 501, "5.5.4",
					      "Bad parameter syntax");
	}
	if (i < len && s[i] != ' ')
		return smtp_reply_set(reply_r, 501, "5.5.4",
				      "Bad parameter syntax");
	*pos = i;
	return 0;
}

static int parse_params(const char *s, size_t len, unsigned int ext,
			uint64_t max_size, const struct param_def *defs,
			void *params, struct smtp_reply *reply_r)
{
	unsigned int seen = 0;
	size_t pos = 0;

	for (;;) {
		const struct param_def *d;
		struct param p;
		unsigned int bit = 1;

		/* XXX: runs of spaces are tolerated, as Postfix does. */
		while (pos < len && s[pos] == ' ')
			pos++;
		if (pos >= len)
			return 0;
		if (next_param(s, len, &pos, &p, reply_r) < 0)
			return -1;
		for (d = defs; d->keyword != NULL; d++, bit <<= 1)
			if (strcmp(d->keyword, p.keyword) == 0)
				break;
		if (d->keyword == NULL || (d->ext & ext) != d->ext)
			return smtp_reply_set(reply_r, 555, "5.5.4",
					      "Unsupported option: %s",
					      p.keyword);
		if (seen & bit)
			return smtp_reply_set(reply_r, 501, "5.5.4",
					      "Duplicate %s parameter",
					      p.keyword);
		seen |= bit;
		if (d->parse(&p, params, ext, max_size, reply_r) < 0)
			return -1;
	}
}

int smtp_params_parse_mail(const char *s, size_t len, unsigned int ext,
			   uint64_t max_size, struct smtp_mail_params *params_r,
			   struct smtp_reply *reply_r)
{
	memset(params_r, 0, sizeof(*params_r));
	return parse_params(s, len, ext, max_size, mail_defs, params_r,
			    reply_r);
}

int smtp_params_parse_rcpt(const char *s, size_t len, unsigned int ext,
			   struct smtp_rcpt_params *params_r,
			   struct smtp_reply *reply_r)
{
	memset(params_r, 0, sizeof(*params_r));
	return parse_params(s, len, ext, 0, rcpt_defs, params_r, reply_r);
}
