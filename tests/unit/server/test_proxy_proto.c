/*
 * test_proxy_proto - the HAProxy PROXY protocol v1/v2 header parser
 * (lib/server/proxy_proto.h) and the haproxy_trusted_networks matcher
 * (lib/server/server_proxy.h).
 */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "server/proxy_proto.h"
#include "server/server_proxy.h"

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
				0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static int parse(const void *d, size_t len, struct proxy_proto_info *info)
{
	struct error err;
	return proxy_proto_parse(d, len, info, &err);
}

/* Every strict prefix of a valid header needs more. */
static void assert_prefixes_need_more(const uint8_t *d, size_t hlen)
{
	struct proxy_proto_info info;
	for (size_t i = 0; i < hlen; i++)
		assert_int_equal(parse(d, i, &info), 0);
}

static void test_v1_tcp4(void **state)
{
	(void)state;
	const char *h = "PROXY TCP4 192.0.2.7 127.0.0.1 40001 25\r\n";
	char d[128];
	snprintf(d, sizeof(d), "%sEHLO x\r\n", h);
	struct proxy_proto_info info;
	assert_int_equal(parse(d, strlen(d), &info), (int)strlen(h));
	assert_int_equal(info.version, 1);
	assert_false(info.local);
	assert_false(info.ipv6);
	assert_string_equal(info.src, "192.0.2.7");
	assert_int_equal(info.src_port, 40001);
	assert_string_equal(info.dst, "127.0.0.1");
	assert_int_equal(info.dst_port, 25);
	assert_prefixes_need_more((const uint8_t *)h, strlen(h));
}

static void test_v1_tcp6_unknown(void **state)
{
	(void)state;
	struct proxy_proto_info info;
	const char *h = "PROXY TCP6 2001:DB8:0::7 ::1 65535 0\r\n";
	assert_int_equal(parse(h, strlen(h), &info), (int)strlen(h));
	assert_true(info.ipv6);
	assert_string_equal(info.src, "2001:db8::7"); /* canonical */
	assert_int_equal(info.src_port, 65535);
	assert_int_equal(info.dst_port, 0);
	h = "PROXY UNKNOWN\r\n";
	assert_int_equal(parse(h, strlen(h), &info), 15);
	assert_true(info.local);
	h = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nQUIT";
	assert_int_equal(parse(h, strlen(h), &info), 35);
	assert_true(info.local);
}

static void test_v1_errors(void **state)
{
	(void)state;
	static const char *bad[] = {
	    "EHLO client.example\r\n",
	    "PROXY TCP5 192.0.2.7 127.0.0.1 1 2\r\n",
	    "PROXY TCP4 192.0.2.300 127.0.0.1 1 2\r\n",
	    "PROXY TCP4 2001:db8::1 127.0.0.1 1 2\r\n",
	    "PROXY TCP6 192.0.2.7 ::1 1 2\r\n",
	    "PROXY TCP4 192.0.2.7 127.0.0.1 65536 2\r\n",
	    "PROXY TCP4 192.0.2.7 127.0.0.1 01 2\r\n",
	    "PROXY TCP4 192.0.2.7 127.0.0.1 -1 2\r\n",
	    "PROXY TCP4 192.0.2.7 127.0.0.1 1\r\n",
	    "PROXY TCP4 192.0.2.7 127.0.0.1 1 2 3\r\n",
	    "PROXY TCP4  192.0.2.7 127.0.0.1 1 2\r\n",
	    "PROXY TCP4 192.0.2.7 127.0.0.1 1 2 \r\n",
	    "PROXY TCP4 192.0.2.7 127.0.0.1 1 2\rX",
	    "PROXY TCP4 192.0.2.7\n127.0.0.1 1 2\r\n",
	    "PROXY\r\n",
	    "proxy TCP4 192.0.2.7 127.0.0.1 1 2\r\n",
	};
	struct proxy_proto_info info;
	struct error err;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.msg[0] = '\0';
		if (proxy_proto_parse((const uint8_t *)bad[i], strlen(bad[i]),
				      &info, &err) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err.msg[0] != '\0');
	}
	/* 107 bytes without a CRLF: too long; 106 + CR: still need LF, but
	 * the header would be 108 bytes. */
	char longer[200];
	memset(longer, 'a', sizeof(longer));
	memcpy(longer, "PROXY UNKNOWN ", 14);
	assert_int_equal(parse(longer, 106, &info), 0);
	assert_int_equal(parse(longer, 107, &info), -1);
	longer[106] = '\r';
	assert_int_equal(parse(longer, 107, &info), -1);
	longer[105] = '\r';
	longer[106] = '\n';
	assert_int_equal(parse(longer, 200, &info), 107);
}

static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam,
		 const uint8_t *payload, size_t plen)
{
	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(plen >> 8);
	out[15] = (uint8_t)plen;
	if (plen > 0)
		memcpy(out + 16, payload, plen);
	return 16 + plen;
}

static void test_v2_inet(void **state)
{
	(void)state;
	uint8_t pl[12 + 7] = {192, 0, 2, 7, 127, 0, 0, 1, 0x9c, 0x41, 0, 25,
			      /* a TLV: PP2_TYPE_ALPN "smtp" */
			      0x01, 0x00, 0x04, 's', 'm', 't', 'p'};
	uint8_t d[64];
	size_t n = v2(d, 0x21, 0x11, pl, sizeof(pl));
	memcpy(d + n, "EHLO", 4);
	struct proxy_proto_info info;
	assert_int_equal(parse(d, n + 4, &info), (int)n);
	assert_int_equal(info.version, 2);
	assert_false(info.local);
	assert_string_equal(info.src, "192.0.2.7");
	assert_int_equal(info.src_port, 40001);
	assert_string_equal(info.dst, "127.0.0.1");
	assert_int_equal(info.dst_port, 25);
	assert_prefixes_need_more(d, n);
}

static void test_v2_inet6_local_unix(void **state)
{
	(void)state;
	uint8_t pl[216] = {0x20, 0x01, 0x0d, 0xb8};
	pl[15] = 7;
	pl[31] = 1;
	pl[32] = 0x01;
	pl[33] = 0x02;
	pl[34] = 0x00;
	pl[35] = 143;
	uint8_t d[300];
	struct proxy_proto_info info;
	size_t n = v2(d, 0x21, 0x21, pl, 36);
	assert_int_equal(parse(d, n, &info), (int)n);
	assert_true(info.ipv6);
	assert_string_equal(info.src, "2001:db8::7");
	assert_string_equal(info.dst, "::1");
	assert_int_equal(info.src_port, 258);
	assert_int_equal(info.dst_port, 143);
	/* LOCAL (health check) with an address block: local. */
	n = v2(d, 0x20, 0x11, pl, 12);
	assert_int_equal(parse(d, n, &info), (int)n);
	assert_true(info.local);
	/* LOCAL, nothing after. */
	n = v2(d, 0x20, 0x00, NULL, 0);
	assert_int_equal(parse(d, n, &info), 16);
	assert_true(info.local);
	/* UNIX stream: the socket's addresses. */
	n = v2(d, 0x21, 0x31, pl, 216);
	assert_int_equal(parse(d, n, &info), (int)n);
	assert_true(info.local);
}

static void test_v2_errors(void **state)
{
	(void)state;
	uint8_t pl[40] = {0};
	uint8_t d[128];
	struct proxy_proto_info info;
	/* Version 1 in the binary form, unknown command. */
	assert_int_equal(parse(d, v2(d, 0x11, 0x11, pl, 12), &info), -1);
	assert_int_equal(parse(d, v2(d, 0x22, 0x11, pl, 12), &info), -1);
	/* INET with a too short payload, DGRAM, family 4. */
	assert_int_equal(parse(d, v2(d, 0x21, 0x11, pl, 11), &info), -1);
	assert_int_equal(parse(d, v2(d, 0x21, 0x21, pl, 35), &info), -1);
	assert_int_equal(parse(d, v2(d, 0x21, 0x12, pl, 12), &info), -1);
	assert_int_equal(parse(d, v2(d, 0x21, 0x41, pl, 12), &info), -1);
	/* A length over the bound fails at once, without waiting. */
	v2(d, 0x21, 0x11, pl, 0);
	d[14] = 0xff;
	d[15] = 0xff;
	assert_int_equal(parse(d, 16, &info), -1);
	/* Within the bound but not all there: need more. */
	d[14] = 0x04;
	d[15] = 0x00;
	assert_int_equal(parse(d, 100, &info), 0);
	/* A broken signature. */
	v2(d, 0x21, 0x11, pl, 12);
	d[11] = 0x0b;
	assert_int_equal(parse(d, 28, &info), -1);
	assert_int_equal(parse(d, 11, &info), 0);
}

static void test_crc32c_vectors(void **state)
{
	(void)state;
	assert_int_equal(proxy_proto_crc32c((const uint8_t *)"123456789", 9),
			 0xE3069283u);
	assert_int_equal(proxy_proto_crc32c(NULL, 0), 0);
	/* RFC 3720 B.4: 32 bytes of zeros, of 0xff. */
	uint8_t z[32];
	memset(z, 0, sizeof(z));
	assert_int_equal(proxy_proto_crc32c(z, sizeof(z)), 0x8A9136AAu);
	memset(z, 0xff, sizeof(z));
	assert_int_equal(proxy_proto_crc32c(z, sizeof(z)), 0x62A8AB43u);
}

/* An INET header 192.0.2.7:40001 -> 198.51.100.1:993 with TLVS. */
static size_t v2_tlvs(uint8_t *d, const uint8_t *tlvs, size_t tlen)
{
	uint8_t pl[512] = {192, 0, 2,	 7,    198,  51,
			   100, 1, 0x9c, 0x41, 0x03, 0xe1};
	memcpy(pl + 12, tlvs, tlen);
	return v2(d, 0x21, 0x11, pl, 12 + tlen);
}

/* Append a TLV to OUT at *N. */
static void put_tlv(uint8_t *out, size_t *n, uint8_t type, const void *v,
		    size_t len)
{
	out[(*n)++] = type;
	out[(*n)++] = (uint8_t)(len >> 8);
	out[(*n)++] = (uint8_t)len;
	if (len > 0)
		memcpy(out + *n, v, len);
	*n += len;
}

static void test_v2_ssl_tlvs(void **state)
{
	(void)state;
	uint8_t ssl[200], t[400], d[600];
	size_t sn = 0, tn = 0;
	ssl[sn++] = 0x07; /* CLIENT_SSL | CERT_CONN | CERT_SESS */
	memcpy(ssl + sn, "\0\0\0\0", 4);
	sn += 4;
	put_tlv(ssl, &sn, 0x21, "TLSv1.3", 7);
	put_tlv(ssl, &sn, 0x23, "TLS_AES_256_GCM_SHA384", 22);
	put_tlv(ssl, &sn, 0x22, "Alice\nX", 7); /* control byte -> '?' */
	put_tlv(ssl, &sn, 0x25, "RSA2048", 7);	/* KEY_ALG: skipped */
	put_tlv(t, &tn, 0x04, "\0\0\0", 3);	/* NOOP */
	put_tlv(t, &tn, 0x20, ssl, sn);
	put_tlv(t, &tn, 0x02, "imap.example", 12);
	put_tlv(t, &tn, 0x05, "id-42", 5);
	put_tlv(t, &tn, 0xe0, "custom", 6); /* unknown: skipped */
	size_t n = v2_tlvs(d, t, tn);
	struct proxy_proto_info info;
	assert_int_equal(parse(d, n, &info), (int)n);
	assert_string_equal(info.dst, "198.51.100.1");
	assert_int_equal(info.dst_port, 993);
	assert_true(info.ssl);
	assert_int_equal(info.ssl_client, PROXY_PROTO_CLIENT_SSL |
					      PROXY_PROTO_CLIENT_CERT_CONN |
					      PROXY_PROTO_CLIENT_CERT_SESS);
	assert_int_equal(info.ssl_verify, 0);
	assert_string_equal(info.ssl_version, "TLSv1.3");
	assert_string_equal(info.ssl_cipher, "TLS_AES_256_GCM_SHA384");
	assert_string_equal(info.ssl_cn, "Alice?X");
	assert_string_equal(info.authority, "imap.example");
	assert_int_equal(info.unique_id_len, 5);
	assert_memory_equal(info.unique_id, "id-42", 5);
	assert_false(info.crc32c);
	assert_prefixes_need_more(d, n);

	/* No TLVs: everything empty. */
	n = v2_tlvs(d, t, 0);
	assert_int_equal(parse(d, n, &info), (int)n);
	assert_false(info.ssl);
	assert_string_equal(info.authority, "");

	/* SSL without CLIENT_SSL (plain client) and a verify failure. */
	tn = 0;
	uint8_t plain[5] = {0x00, 0, 0, 0, 1};
	put_tlv(t, &tn, 0x20, plain, 5);
	n = v2_tlvs(d, t, tn);
	assert_int_equal(parse(d, n, &info), (int)n);
	assert_true(info.ssl);
	assert_int_equal(info.ssl_client, 0);
	assert_int_equal(info.ssl_verify, 1);
	assert_string_equal(info.ssl_version, "");

	/* A long value is cut, not refused. */
	char lng[300];
	memset(lng, 'a', sizeof(lng));
	tn = 0;
	put_tlv(t, &tn, 0x02, lng, sizeof(lng));
	n = v2_tlvs(d, t, tn);
	assert_int_equal(parse(d, n, &info), (int)n);
	assert_int_equal(strlen(info.authority), PROXY_PROTO_TLV_STRLEN - 1);
}

static void test_v2_tlv_errors(void **state)
{
	(void)state;
	uint8_t t[400], d[600], ssl[64];
	size_t tn, sn;
	struct proxy_proto_info info;
	struct error err;
	/* A TLV whose length runs past the header. */
	tn = 0;
	put_tlv(t, &tn, 0x02, "imap.example", 12);
	t[2] = 13;
	size_t n = v2_tlvs(d, t, tn);
	assert_int_equal(proxy_proto_parse(d, n, &info, &err), -1);
	assert_non_null(strstr(err.msg, "overruns"));
	/* Even with more bytes following: they are the client's. */
	memcpy(d + n, "EHLO x\r\n", 8);
	assert_int_equal(parse(d, n + 8, &info), -1);
	/* A truncated TLV head (1 and 2 bytes). */
	for (size_t k = 1; k <= 2; k++) {
		n = v2_tlvs(d, (const uint8_t *)"\x02\x00", k);
		assert_int_equal(parse(d, n, &info), -1);
	}
	/* An SSL sub-TLV overrunning the SSL TLV (but not the header). */
	sn = 0;
	ssl[sn++] = 0x01;
	memcpy(ssl + sn, "\0\0\0\0", 4);
	sn += 4;
	put_tlv(ssl, &sn, 0x21, "TLSv1.3", 7);
	ssl[sn - 8] = 8; /* claims one byte more */
	tn = 0;
	put_tlv(t, &tn, 0x20, ssl, sn);
	put_tlv(t, &tn, 0x04, "x", 1);
	n = v2_tlvs(d, t, tn);
	assert_int_equal(parse(d, n, &info), -1);
	/* An SSL TLV shorter than client + verify. */
	tn = 0;
	put_tlv(t, &tn, 0x20, "\x01\0\0\0", 4);
	assert_int_equal(parse(d, v2_tlvs(d, t, tn), &info), -1);
	/* A UNIQUE_ID over 128 bytes; 128 is fine. */
	uint8_t id[129] = {0};
	tn = 0;
	put_tlv(t, &tn, 0x05, id, 129);
	assert_int_equal(parse(d, v2_tlvs(d, t, tn), &info), -1);
	tn = 0;
	put_tlv(t, &tn, 0x05, id, 128);
	n = v2_tlvs(d, t, tn);
	assert_int_equal(parse(d, n, &info), (int)n);
	/* A CRC32C TLV not of 4 bytes. */
	tn = 0;
	put_tlv(t, &tn, 0x03, "\0\0\0", 3);
	assert_int_equal(parse(d, v2_tlvs(d, t, tn), &info), -1);
}

/* Fill in the CRC32C of the header D of N bytes whose CRC value sits at
 * OFF. */
static void set_crc(uint8_t *d, size_t n, size_t off)
{
	memset(d + off, 0, 4);
	uint32_t c = proxy_proto_crc32c(d, n);
	d[off] = (uint8_t)(c >> 24);
	d[off + 1] = (uint8_t)(c >> 16);
	d[off + 2] = (uint8_t)(c >> 8);
	d[off + 3] = (uint8_t)c;
}

static void test_v2_crc32c(void **state)
{
	(void)state;
	uint8_t t[64], d[128];
	size_t tn = 0;
	put_tlv(t, &tn, 0x20, "\x01\0\0\0\0", 5);
	put_tlv(t, &tn, 0x03, "\0\0\0\0", 4);
	put_tlv(t, &tn, 0x04, "pad", 3);
	size_t n = v2_tlvs(d, t, tn);
	size_t off = 16 + 12 + 8 + 3; /* the CRC value */
	set_crc(d, n, off);
	struct proxy_proto_info info;
	struct error err;
	assert_int_equal(parse(d, n, &info), (int)n);
	assert_true(info.crc32c);
	assert_true(info.ssl);
	/* Any changed byte, in the addresses, in the CRC or after it. */
	size_t flips[] = {14 + 2, 20, off, off + 3, n - 1};
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		d[flips[i]] ^= 0x40;
		assert_int_equal(proxy_proto_parse(d, n, &info, &err), -1);
		assert_non_null(strstr(err.msg, "CRC32C"));
		d[flips[i]] ^= 0x40;
	}
	assert_int_equal(parse(d, n, &info), (int)n);
}

static void test_trusted(void **state)
{
	(void)state;
	struct error err;
	const char *nets = "127.0.0.0/8, 10.1.2.3 [2001:db8::]/32,::1";
	assert_int_equal(server_proxy_check_networks(nets, &err), 0);
	assert_true(server_proxy_trusted(nets, "127.0.0.1"));
	assert_true(server_proxy_trusted(nets, "127.255.0.9"));
	assert_true(server_proxy_trusted(nets, "10.1.2.3"));
	assert_false(server_proxy_trusted(nets, "10.1.2.4"));
	assert_true(server_proxy_trusted(nets, "2001:db8:1::5"));
	assert_false(server_proxy_trusted(nets, "2001:db9::5"));
	assert_true(server_proxy_trusted(nets, "::1"));
	assert_true(server_proxy_trusted(nets, "::ffff:127.0.0.2"));
	assert_false(server_proxy_trusted(nets, "192.0.2.1"));
	assert_false(server_proxy_trusted(nets, "unix"));
	assert_true(server_proxy_trusted("", "192.0.2.1"));
	assert_true(server_proxy_trusted("10.0.0.0/9", "10.127.0.1"));
	assert_false(server_proxy_trusted("10.0.0.0/9", "10.128.0.1"));
	assert_int_equal(server_proxy_check_networks("10.0.0.0/33", &err), -1);
	assert_int_equal(server_proxy_check_networks("10.0.0.0/8, bogus", &err),
			 -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v1_tcp4),
	    cmocka_unit_test(test_v1_tcp6_unknown),
	    cmocka_unit_test(test_v1_errors),
	    cmocka_unit_test(test_v2_inet),
	    cmocka_unit_test(test_v2_inet6_local_unix),
	    cmocka_unit_test(test_v2_errors),
	    cmocka_unit_test(test_crc32c_vectors),
	    cmocka_unit_test(test_v2_ssl_tlvs),
	    cmocka_unit_test(test_v2_tlv_errors),
	    cmocka_unit_test(test_v2_crc32c),
	    cmocka_unit_test(test_trusted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
