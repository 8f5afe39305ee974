/*
 * fuzz_rbl_reply - the DNSBL reply parsers of smtpd: the reply address
 * pattern of reject_rbl_client zone=PATTERN (lib/dns/dns_pattern.c,
 * shared with postscreen) and the reply template of $default_rbl_reply
 * and $rbl_reply_maps (mta/smtpd-rbl-reply.c).  The input is split at
 * the first NUL: the pattern, then the template.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "dns/dns_pattern.h"
#include "smtpd-rbl-reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup(const char *name, void *ctx)
{
	(void)ctx;
	if (strcmp(name, "rbl_code") == 0)
		return "554";
	if (strcmp(name, "empty") == 0)
		return "";
	if (strncmp(name, "rbl_", 4) == 0)
		return "v\x01$x}{";
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t n = nul != NULL ? (size_t)(nul - data) : size;
	char *pattern = xstrndup((const char *)data, n);
	struct dns_addr_pattern p;

	if (dns_addr_pattern_parse(pattern, &p)) {
		/* The pattern text itself, when it is a plain address,
		 * matches. */
		unsigned a, b, c, d;
		char back[32];
		int used = 0;
		if (sscanf(pattern, "%3u.%3u.%3u.%3u%n", &a, &b, &c, &d,
			   &used) == 4 &&
		    (size_t)used == n) {
			snprintf(back, sizeof(back), "%u.%u.%u.%u", a, b, c, d);
			if (strcmp(back, pattern) == 0 &&
			    !dns_addr_pattern_match(&p, pattern))
				__builtin_trap();
		}
		(void)dns_addr_pattern_match(&p, "127.0.0.2");
		(void)dns_addr_pattern_match(&p, "255.255.255.255");
	}
	free(pattern);
	if (nul != NULL) {
		char *tmpl = xstrndup((const char *)nul + 1, size - n - 1);
		struct buf *out = buf_new();
		if (smtpd_rbl_expand(tmpl, lookup, NULL, out) == 0) {
			/* Values are filtered: a control byte in the output
			 * comes from the template, never from a value; and
			 * the output is NUL-free text. */
			if (strlen(buf_data(out)) != buf_len(out) ||
			    (memchr(buf_data(out), '\x01', buf_len(out)) !=
				 NULL &&
			     strchr(tmpl, '\x01') == NULL))
				__builtin_trap();
		}
		buf_free(&out);
		free(tmpl);
	}
	return 0;
}
