/*
 * fuzz_mta_sts - libFuzzer target for the MTA-STS parsers
 * (lib/smtp/mta_sts.c).  The whole input is a policy file, and also a
 * TXT record; its first line is also an MX host name checked against
 * the patterns of a policy that parsed.  Checks: a parsed policy has a
 * known mode, max_age within the cap, mx patterns lower-case and as many
 * as nmx, each matching itself (a wildcard one a name under it); a TXT
 * id is 1 to 32 letters or digits; nothing leaks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/mta_sts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_policy(const struct mta_sts_policy *p, const char *host)
{
	size_t n = 0;
	const char *s = p->mx;

	if (p->mode > MTA_STS_ENFORCE || p->max_age > MTA_STS_MAX_AGE_CAP)
		abort();
	if (p->mode != MTA_STS_NONE && p->nmx == 0)
		abort();
	while (*s != '\0') {
		const char *sp = strchr(s, ' ');
		size_t len = sp != NULL ? (size_t)(sp - s) : strlen(s);
		char one[300], name[310];

		if (len == 0 || len >= sizeof(one))
			abort();
		memcpy(one, s, len);
		one[len] = '\0';
		for (size_t i = 0; i < len; i++)
			if (one[i] >= 'A' && one[i] <= 'Z')
				abort();
		if (one[0] == '*') {
			/* "*.d" matches "x.d" and not "d". */
			snprintf(name, sizeof(name), "x%s", one + 1);
			if (!mta_sts_mx_match(one, name) ||
			    mta_sts_mx_match(one, one + 2))
				abort();
		} else if (!mta_sts_mx_match(one, one)) {
			abort();
		}
		n++;
		s = sp != NULL ? sp + 1 : s + len;
	}
	if (n != p->nmx)
		abort();
	(void)mta_sts_mx_allowed(p->mx, host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mta_sts_policy p;
	struct error err;
	char id[MTA_STS_ID_MAX + 1], host[256];
	const char *text = (const char *)data;
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hl = nl != NULL ? (size_t)(nl - data) : size;

	if (hl >= sizeof(host))
		hl = sizeof(host) - 1;
	memcpy(host, data, hl);
	host[hl] = '\0';
	if (mta_sts_policy_parse(text, size, &p, &err) == 0) {
		check_policy(&p, host);
		mta_sts_policy_clear(&p);
	} else if (p.mx != NULL || err.msg[0] == '\0') {
		abort();
	}
	if (mta_sts_txt_parse(text, size, id, &err) == 1) {
		size_t n = strlen(id);

		if (n == 0 || n > MTA_STS_ID_MAX)
			abort();
		for (size_t i = 0; i < n; i++)
			if (!((id[i] >= 'a' && id[i] <= 'z') ||
			      (id[i] >= 'A' && id[i] <= 'Z') ||
			      (id[i] >= '0' && id[i] <= '9')))
				abort();
	}
	(void)mta_sts_mx_match(host, host);
	return 0;
}
