/*
 * proxy_proto - parse the HAProxy PROXY protocol header (versions 1 and 2,
 * haproxy.org doc/proxy-protocol.txt) that a TCP load balancer sends
 * before the client's own bytes, so a daemon behind it sees the real
 * client address.
 *
 * A pure function over bytes: it never reads past LEN and keeps no state,
 * so the caller feeds everything read so far each time.  The caller must
 * not read more from the socket than the header: with MSG_PEEK it can see
 * what is waiting, pass it here and then consume exactly the returned
 * length (on "need more", every byte it was given belongs to the header
 * and may be consumed).  See server_proxy.c.
 *
 * Accepted: v1 "PROXY TCP4|TCP6 src dst sport dport\r\n" and
 * "PROXY UNKNOWN ...\r\n" (at most 107 bytes with the CRLF); v2 with the
 * 12-byte signature, command LOCAL or PROXY, families INET and INET6 over
 * STREAM, UNSPEC and UNIX (the socket's own addresses are kept: local),
 * at most PROXY_PROTO_V2_MAX_PAYLOAD bytes after the fixed 16.
 *
 * v2 TLVs after INET/INET6 addresses are read (spec section 2.2):
 * PP2_TYPE_CRC32C is verified (CRC32C of the whole header with the
 * checksum field zeroed; a mismatch is a bad header), PP2_TYPE_SSL gives
 * the client bits, the verify result and the sub-TLVs VERSION, CIPHER and
 * CN, PP2_TYPE_AUTHORITY the SNI host name, PP2_TYPE_UNIQUE_ID the
 * balancer's connection id; NOOP, ALPN and unknown types are skipped.  A
 * TLV (or SSL sub-TLV) that overruns its container is a bad header.
 * Text values are cut to PROXY_PROTO_TLV_STRLEN-1 bytes and bytes outside
 * printable ASCII become '?', so they are safe in logs and headers.
 * Errors: -1 with err (ERR_PERM) naming what was wrong.
 */
#ifndef POSTERN_PROXY_PROTO_H
#define POSTERN_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define PROXY_PROTO_V1_MAX 107
#define PROXY_PROTO_V2_FIXED 16
#define PROXY_PROTO_V2_MAX_PAYLOAD 1024
/* The longest header accepted: a buffer this big always suffices. */
#define PROXY_PROTO_MAX (PROXY_PROTO_V2_FIXED + PROXY_PROTO_V2_MAX_PAYLOAD)
/* Room for an IPv6 address as text. */
#define PROXY_PROTO_ADDRLEN 46
/* Room for a TLV text value (version, cipher, CN, authority). */
#define PROXY_PROTO_TLV_STRLEN 256
/* The spec's bound on PP2_TYPE_UNIQUE_ID. */
#define PROXY_PROTO_UNIQUE_ID_MAX 128

/* PP2_TYPE_SSL client bits (spec 2.2.5). */
#define PROXY_PROTO_CLIENT_SSL 0x01
#define PROXY_PROTO_CLIENT_CERT_CONN 0x02
#define PROXY_PROTO_CLIENT_CERT_SESS 0x04

struct proxy_proto_info {
	int version; /* 1 or 2 */
	/* LOCAL (v2), UNKNOWN (v1), UNSPEC or UNIX (v2): keep the socket's
	 * addresses; the fields below are then empty. */
	bool local;
	bool ipv6;
	char src[PROXY_PROTO_ADDRLEN]; /* "192.0.2.7", "2001:db8::7" */
	unsigned src_port;
	char dst[PROXY_PROTO_ADDRLEN];
	unsigned dst_port;
	/* v2 TLVs (zero / empty when absent). */
	bool crc32c;	     /* a PP2_TYPE_CRC32C was present and matched */
	bool ssl;	     /* a PP2_TYPE_SSL was present */
	uint8_t ssl_client;  /* its PROXY_PROTO_CLIENT_* bits */
	uint32_t ssl_verify; /* 0: the client certificate verified */
	char ssl_version[PROXY_PROTO_TLV_STRLEN]; /* "TLSv1.3" */
	char ssl_cipher[PROXY_PROTO_TLV_STRLEN];  /* "TLS_AES_256_GCM_SHA384" */
	char ssl_cn[PROXY_PROTO_TLV_STRLEN];	  /* client cert's CN */
	char authority[PROXY_PROTO_TLV_STRLEN];	  /* SNI: "imap.example" */
	uint8_t unique_id[PROXY_PROTO_UNIQUE_ID_MAX];
	size_t unique_id_len;
};

/* CRC32C (Castagnoli, as the PP2_TYPE_CRC32C TLV uses) of LEN bytes. */
uint32_t proxy_proto_crc32c(const uint8_t *data, size_t len);

/*
 * Parse the LEN bytes at DATA: returns the header length (> 0) with *info
 * filled when a complete header is there (bytes after it are the
 * client's), 0 when the bytes so far are a valid start of a header (all of
 * them belong to it), -1 with err when they cannot start one.
 */
int proxy_proto_parse(const uint8_t *data, size_t len,
		      struct proxy_proto_info *info, struct error *err);

#endif
