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
 * TLVs skipped, at most PROXY_PROTO_V2_MAX_PAYLOAD bytes after the fixed
 * 16.  Errors: -1 with err (ERR_PERM) naming what was wrong.
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
};

/*
 * Parse the LEN bytes at DATA: returns the header length (> 0) with *info
 * filled when a complete header is there (bytes after it are the
 * client's), 0 when the bytes so far are a valid start of a header (all of
 * them belong to it), -1 with err when they cannot start one.
 */
int proxy_proto_parse(const uint8_t *data, size_t len,
		      struct proxy_proto_info *info, struct error *err);

#endif
