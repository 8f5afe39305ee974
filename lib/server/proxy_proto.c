/*
 * proxy_proto - HAProxy PROXY protocol v1/v2 header parser (see
 * proxy_proto.h).  Everything is bounded by LEN; nothing is copied into
 * fixed buffers without a length check.
 */
#include <arpa/inet.h>
#include <string.h>

#include "core/str.h"
#include "server/proxy_proto.h"

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
				   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_sig[] = "PROXY ";

/* One space-separated v1 field of at most MAX-1 bytes into OUT; advances
 * *p.  The field ends at a space (consumed) or at END (the CR). */
static bool v1_field(const char **p, const char *end, char *out, size_t max,
		     bool last)
{
	const char *s = *p;
	const char *e = s;
	while (e < end && *e != ' ')
		e++;
	if (e == s || (size_t)(e - s) >= max)
		return false;
	if (last ? e != end : (e == end || e + 1 >= end))
		return false;
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	*p = last ? e : e + 1;
	return true;
}

/* A decimal port 0..65535 without a sign or leading zeros. */
static bool v1_port(const char *s, unsigned *port_r)
{
	size_t n = strlen(s);
	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*port_r = v;
	return true;
}

/* A numeric address of the family, written back in canonical form. */
static bool v1_addr(const char *s, bool ipv6, char *out)
{
	uint8_t bin[16];
	int af = ipv6 ? AF_INET6 : AF_INET;
	if (inet_pton(af, s, bin) != 1)
		return false;
	return inet_ntop(af, bin, out, PROXY_PROTO_ADDRLEN) != NULL;
}

static int parse_v1(const uint8_t *data, size_t len,
		    struct proxy_proto_info *info, struct error *err)
{
	/* Find the CR; everything before it must be printable ASCII. */
	size_t limit = len < PROXY_PROTO_V1_MAX ? len : PROXY_PROTO_V1_MAX;
	size_t cr = 0;
	bool found = false;
	for (size_t i = 0; i < limit; i++) {
		if (data[i] == '\r') {
			cr = i;
			found = true;
			break;
		}
		if (data[i] < 0x20 || data[i] > 0x7e)
			return error_set(err, ERR_PERM,
					 "PROXY v1 header: bad byte 0x%02x",
					 data[i]);
	}
	if (!found) {
		if (len >= PROXY_PROTO_V1_MAX)
			return error_set(err, ERR_PERM,
					 "PROXY v1 header longer than %d bytes",
					 PROXY_PROTO_V1_MAX);
		return 0;
	}
	if (cr + 2 > PROXY_PROTO_V1_MAX)
		return error_set(err, ERR_PERM,
				 "PROXY v1 header longer than %d bytes",
				 PROXY_PROTO_V1_MAX);
	if (cr + 1 >= len)
		return 0;
	if (data[cr + 1] != '\n')
		return error_set(err, ERR_PERM,
				 "PROXY v1 header: CR without LF");

	const char *p = (const char *)data + sizeof(v1_sig) - 1;
	const char *end = (const char *)data + cr;
	char proto[8], src[64], dst[64], sport[8], dport[8];
	memset(info, 0, sizeof(*info));
	info->version = 1;
	if (end - p >= 7 && memcmp(p, "UNKNOWN", 7) == 0 &&
	    (end - p == 7 || p[7] == ' ')) {
		/* The rest of the line is ignored (the spec allows it). */
		info->local = true;
		return (int)cr + 2;
	}
	if (!v1_field(&p, end, proto, sizeof(proto), false))
		return error_set(err, ERR_PERM, "PROXY v1 header: no protocol");
	if (strcmp(proto, "TCP4") == 0)
		info->ipv6 = false;
	else if (strcmp(proto, "TCP6") == 0)
		info->ipv6 = true;
	else
		return error_set(err, ERR_PERM,
				 "PROXY v1 header: unknown protocol \"%s\"",
				 proto);
	if (!v1_field(&p, end, src, sizeof(src), false) ||
	    !v1_field(&p, end, dst, sizeof(dst), false) ||
	    !v1_field(&p, end, sport, sizeof(sport), false) ||
	    !v1_field(&p, end, dport, sizeof(dport), true))
		return error_set(err, ERR_PERM,
				 "PROXY v1 header: malformed address fields");
	if (!v1_addr(src, info->ipv6, info->src) ||
	    !v1_addr(dst, info->ipv6, info->dst))
		return error_set(err, ERR_PERM,
				 "PROXY v1 header: bad %s address",
				 info->ipv6 ? "IPv6" : "IPv4");
	if (!v1_port(sport, &info->src_port) ||
	    !v1_port(dport, &info->dst_port))
		return error_set(err, ERR_PERM, "PROXY v1 header: bad port");
	return (int)cr + 2;
}

/* TLV types of spec section 2.2. */
#define PP2_TYPE_ALPN 0x01
#define PP2_TYPE_AUTHORITY 0x02
#define PP2_TYPE_CRC32C 0x03
#define PP2_TYPE_NOOP 0x04
#define PP2_TYPE_UNIQUE_ID 0x05
#define PP2_TYPE_SSL 0x20
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CN 0x22
#define PP2_SUBTYPE_SSL_CIPHER 0x23

/* Bitwise, reflected polynomial 0x1EDC6F41: a header is at most about
 * 1 KB, so a table would buy nothing that matters. */
static uint32_t crc32c_update(uint32_t crc, const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		crc ^= data[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return crc;
}

uint32_t proxy_proto_crc32c(const uint8_t *data, size_t len)
{
	return crc32c_update(0xffffffffu, data, len) ^ 0xffffffffu;
}

/* A TLV text value into OUT, cut and made printable (see the header). */
static void tlv_text(char out[PROXY_PROTO_TLV_STRLEN], const uint8_t *v,
		     size_t n)
{
	if (n > PROXY_PROTO_TLV_STRLEN - 1)
		n = PROXY_PROTO_TLV_STRLEN - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = v[i] >= 0x20 && v[i] <= 0x7e ? (char)v[i] : '?';
	out[n] = '\0';
}

/* The TLV at *P (before END): its type, value and length, *P moved past
 * it; -1 when it overruns END. */
static int tlv_next(const uint8_t **p, const uint8_t *end, uint8_t *type_r,
		    const uint8_t **v_r, size_t *n_r)
{
	if (end - *p < 3)
		return -1;
	size_t n = ((size_t)(*p)[1] << 8) | (*p)[2];
	if ((size_t)(end - *p) - 3 < n)
		return -1;
	*type_r = (*p)[0];
	*v_r = *p + 3;
	*n_r = n;
	*p += 3 + n;
	return 0;
}

static int parse_ssl(const uint8_t *v, size_t n, struct proxy_proto_info *info,
		     struct error *err)
{
	if (n < 5)
		return error_set(err, ERR_PERM,
				 "PROXY v2 header: SSL TLV of %zu bytes", n);
	info->ssl = true;
	info->ssl_client = v[0];
	info->ssl_verify = ((uint32_t)v[1] << 24) | ((uint32_t)v[2] << 16) |
			   ((uint32_t)v[3] << 8) | v[4];
	const uint8_t *p = v + 5, *end = v + n;
	while (p < end) {
		uint8_t t;
		const uint8_t *sv;
		size_t sn;
		if (tlv_next(&p, end, &t, &sv, &sn) < 0)
			return error_set(err, ERR_PERM,
					 "PROXY v2 header: SSL sub-TLV "
					 "overruns the SSL TLV");
		if (t == PP2_SUBTYPE_SSL_VERSION)
			tlv_text(info->ssl_version, sv, sn);
		else if (t == PP2_SUBTYPE_SSL_CIPHER)
			tlv_text(info->ssl_cipher, sv, sn);
		else if (t == PP2_SUBTYPE_SSL_CN)
			tlv_text(info->ssl_cn, sv, sn);
		/* SIG_ALG, KEY_ALG and the unknown: not used. */
	}
	return 0;
}

/* The TLVs at [TLVS, DATA+TOTAL) of the header DATA of TOTAL bytes. */
static int parse_tlvs(const uint8_t *data, size_t total, const uint8_t *tlvs,
		      struct proxy_proto_info *info, struct error *err)
{
	const uint8_t *p = tlvs, *end = data + total;
	while (p < end) {
		uint8_t t;
		const uint8_t *v;
		size_t n;
		if (tlv_next(&p, end, &t, &v, &n) < 0)
			return error_set(err, ERR_PERM,
					 "PROXY v2 header: TLV overruns the "
					 "header");
		switch (t) {
		case PP2_TYPE_CRC32C: {
			if (n != 4)
				return error_set(err, ERR_PERM,
						 "PROXY v2 header: CRC32C TLV "
						 "of %zu bytes",
						 n);
			uint32_t want = ((uint32_t)v[0] << 24) |
					((uint32_t)v[1] << 16) |
					((uint32_t)v[2] << 8) | v[3];
			/* The checksum over the header with its own field
			 * zeroed, without copying the header. */
			static const uint8_t zero[4] = {0};
			size_t off = (size_t)(v - data);
			uint32_t crc = crc32c_update(0xffffffffu, data, off);
			crc = crc32c_update(crc, zero, 4);
			crc = crc32c_update(crc, v + 4, total - off - 4) ^
			      0xffffffffu;
			if (crc != want)
				return error_set(err, ERR_PERM,
						 "PROXY v2 header: CRC32C "
						 "mismatch");
			info->crc32c = true;
			break;
		}
		case PP2_TYPE_SSL:
			if (parse_ssl(v, n, info, err) < 0)
				return -1;
			break;
		case PP2_TYPE_AUTHORITY:
			tlv_text(info->authority, v, n);
			break;
		case PP2_TYPE_UNIQUE_ID:
			if (n > PROXY_PROTO_UNIQUE_ID_MAX)
				return error_set(err, ERR_PERM,
						 "PROXY v2 header: UNIQUE_ID "
						 "of %zu bytes",
						 n);
			memcpy(info->unique_id, v, n);
			info->unique_id_len = n;
			break;
		default: /* NOOP, ALPN, NETNS, unknown: skipped */
			break;
		}
	}
	return 0;
}

static int parse_v2(const uint8_t *data, size_t len,
		    struct proxy_proto_info *info, struct error *err)
{
	if (len < PROXY_PROTO_V2_FIXED)
		return 0;
	uint8_t ver = data[12] >> 4, cmd = data[12] & 0x0f;
	uint8_t fam = data[13] >> 4, trans = data[13] & 0x0f;
	size_t plen = ((size_t)data[14] << 8) | data[15];
	if (ver != 2)
		return error_set(err, ERR_PERM, "PROXY v2 header: version %u",
				 ver);
	if (cmd > 1)
		return error_set(err, ERR_PERM, "PROXY v2 header: command %u",
				 cmd);
	if (plen > PROXY_PROTO_V2_MAX_PAYLOAD)
		return error_set(err, ERR_PERM,
				 "PROXY v2 header: length %zu over %d", plen,
				 PROXY_PROTO_V2_MAX_PAYLOAD);
	if (len < PROXY_PROTO_V2_FIXED + plen)
		return 0;
	const uint8_t *a = data + PROXY_PROTO_V2_FIXED;
	int total = (int)(PROXY_PROTO_V2_FIXED + plen);

	memset(info, 0, sizeof(*info));
	info->version = 2;
	if (cmd == 0 || fam == 0 || fam == 3) {
		/* LOCAL (health checks), UNSPEC, UNIX: the socket's
		 * addresses stay; the payload is skipped. */
		if (fam > 3)
			return error_set(err, ERR_PERM,
					 "PROXY v2 header: family %u", fam);
		info->local = true;
		return total;
	}
	if (fam > 2)
		return error_set(err, ERR_PERM, "PROXY v2 header: family %u",
				 fam);
	if (trans != 1)
		return error_set(err, ERR_PERM,
				 "PROXY v2 header: transport %u is not STREAM",
				 trans);
	size_t alen = fam == 1 ? 12 : 36, asz = fam == 1 ? 4 : 16;
	if (plen < alen)
		return error_set(err, ERR_PERM,
				 "PROXY v2 header: %zu bytes too short for the "
				 "addresses",
				 plen);
	int af = fam == 1 ? AF_INET : AF_INET6;
	info->ipv6 = fam == 2;
	if (inet_ntop(af, a, info->src, sizeof(info->src)) == NULL ||
	    inet_ntop(af, a + asz, info->dst, sizeof(info->dst)) == NULL)
		return error_set(err, ERR_PERM, "PROXY v2 header: address");
	info->src_port = ((unsigned)a[2 * asz] << 8) | a[2 * asz + 1];
	info->dst_port = ((unsigned)a[2 * asz + 2] << 8) | a[2 * asz + 3];
	if (parse_tlvs(data, (size_t)total, a + alen, info, err) < 0)
		return -1;
	return total;
}

int proxy_proto_parse(const uint8_t *data, size_t len,
		      struct proxy_proto_info *info, struct error *err)
{
	/* Decide the version from as many bytes as there are: a prefix of
	 * either signature is "need more", anything else an error. */
	size_t n1 = len < sizeof(v1_sig) - 1 ? len : sizeof(v1_sig) - 1;
	size_t n2 = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	if (len > 0 && memcmp(data, v1_sig, n1) == 0)
		return n1 < sizeof(v1_sig) - 1 ? 0
					       : parse_v1(data, len, info, err);
	if (len > 0 && memcmp(data, v2_sig, n2) == 0)
		return n2 < sizeof(v2_sig) ? 0 : parse_v2(data, len, info, err);
	if (len == 0)
		return 0;
	return error_set(err, ERR_PERM, "no PROXY protocol header");
}
