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
	    cmocka_unit_test(test_trusted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
