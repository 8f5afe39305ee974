/*
 * fuzz_tlsrpt - libFuzzer target for the TLSRPT record parser and the
 * mailto: address extraction (lib/smtp/tlsrpt.c).  The whole input is a
 * TXT record.  Checks: a parsed record has 1 to TLSRPT_RUA_MAX URIs, each
 * NUL-terminated, non-empty, without white space or control characters
 * and starting with mailto: or https: (any case); a record that parsed
 * starts as a TLSRPT record; an extracted address has an '@' that is
 * not its first or last character; and the JSON of a report made of the
 * input ends with "]}" and holds no raw control character.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/tlsrpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_uri(const char *u)
{
	size_t n = strlen(u);
	char addr[TLSRPT_URI_MAX];
	struct error err;

	if (n == 0 || n >= TLSRPT_URI_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] <= 0x20 ||
		    (unsigned char)u[i] >= 0x7f || u[i] == ',' || u[i] == ';')
			abort();
	if (strncasecmp(u, "mailto:", 7) != 0 &&
	    strncasecmp(u, "https:", 6) != 0)
		abort();
	if (tlsrpt_mailto_address(u, addr, sizeof(addr), &err) == 0) {
		const char *at = strrchr(addr, '@');
		size_t len = strlen(addr);

		if (at == NULL || at == addr || addr[len - 1] == '@')
			abort();
	}
	char host[256];
	unsigned port = 0;

	if (tlsrpt_https_host(u, host, sizeof(host), &port, &err) == 0 &&
	    (host[0] == '\0' || strlen(host) >= sizeof(host) || port == 0 ||
	     port > 65535 || strpbrk(host, "/@?#[]") != NULL))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlsrpt_record r;
	struct error err;
	const char *txt = (const char *)data;

	if (tlsrpt_record_parse(txt, size, &r, &err) == 0) {
		if (!tlsrpt_record_is_tlsrpt(txt, size))
			abort();
		if (r.nrua == 0 || r.nrua > TLSRPT_RUA_MAX)
			abort();
		for (size_t i = 0; i < r.nrua; i++)
			check_uri(r.rua[i]);
	}
	/* The JSON writer with the input as a string and a policy. */
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	const struct tlsrpt_failure f = {"validation-failure", s, s, s, 1, s};
	const struct tlsrpt_policy p = {.type = "sts",
					.policy_string = s,
					.domain = s,
					.mx_host = s,
					.failures = 1,
					.details = &f,
					.ndetails = 1};
	const struct tlsrpt_report rep = {.organization = s,
					  .contact = s,
					  .report_id = s,
					  .start = 0,
					  .end = 86399,
					  .policies = &p,
					  .npolicies = 1};
	struct buf *b = buf_new();
	tlsrpt_report_json(&rep, b);
	if (buf_len(b) < 2 || strcmp(buf_data(b) + buf_len(b) - 2, "]}") != 0)
		abort();
	for (size_t i = 0; i < buf_len(b); i++)
		if ((unsigned char)buf_data(b)[i] < 0x20)
			abort(); /* control characters are escaped */
	buf_free(&b);
	free(s);
	return 0;
}
