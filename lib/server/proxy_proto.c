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
	/* TLVs (alen..plen) are not used: skipped with the payload. */
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
