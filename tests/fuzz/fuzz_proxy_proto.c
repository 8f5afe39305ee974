/*
 * fuzz_proxy_proto - the PROXY protocol v1/v2 header parser
 * (lib/server/proxy_proto.c).  Checks the contract too: a header length
 * never exceeds the input or PROXY_PROTO_MAX, every prefix of a complete
 * header is "need more", the addresses are terminated strings, and the
 * TLV values are terminated, printable and within their bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/proxy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s)
{
	const char *end = memchr(s, 0, PROXY_PROTO_TLV_STRLEN);
	if (end == NULL)
		abort();
	for (; s < end; s++)
		if (*s < 0x20 || *s > 0x7e)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_proto_info info;
	struct error err;
	/* A private copy, so reads past SIZE are caught by ASan. */
	uint8_t *copy = malloc(size > 0 ? size : 1);
	if (copy == NULL)
		return 0;
	if (size > 0)
		memcpy(copy, data, size);
	int r = proxy_proto_parse(copy, size, &info, &err);
	if (r > 0) {
		if ((size_t)r > size || r > PROXY_PROTO_MAX)
			abort();
		if (!info.local &&
		    (memchr(info.src, 0, sizeof(info.src)) == NULL ||
		     info.src[0] == '\0' || info.src_port > 65535))
			abort();
		check_text(info.ssl_version);
		check_text(info.ssl_cipher);
		check_text(info.ssl_cn);
		check_text(info.authority);
		if (info.unique_id_len > PROXY_PROTO_UNIQUE_ID_MAX)
			abort();
		/* Any shorter view of the same header needs more. */
		struct proxy_proto_info i2;
		if (proxy_proto_parse(copy, (size_t)r - 1, &i2, &err) != 0)
			abort();
		/* Bytes after the header do not change it. */
		if (proxy_proto_parse(copy, (size_t)r, &i2, &err) != r)
			abort();
	}
	free(copy);
	return 0;
}
