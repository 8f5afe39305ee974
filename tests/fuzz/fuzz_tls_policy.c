/*
 * fuzz_tls_policy - libFuzzer target for smtp_tls_policy_maps values
 * (queued/tls_policy.c): the whole input is a policy map value, and also
 * a protocols= value and an exclude= list.  Checks: a parsed policy has a
 * known level, versions either both 0 or TLS 1.2 <= min <= max <= TLS 1.3,
 * a known cipher grade or none; a built cipher list starts with its base
 * and holds no operator the input smuggled in; nothing leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_versions(int lo, int hi)
{
	if (lo == 0 && hi == 0)
		return;
	if (lo < TLS_POLICY_TLS12 || hi > TLS_POLICY_TLS13 || lo > hi)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[2048], out[1024];
	struct tls_policy p;
	struct error err;
	int lo, hi;

	if (size >= sizeof(in))
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if (tls_policy_parse(in, &p, &err) == 0) {
		if (tls_level_name(p.level)[0] == '?')
			abort();
		check_versions(p.min_version, p.max_version);
		if (p.ciphers[0] != '\0' &&
		    tls_cipher_grade_list(p.ciphers) == NULL)
			abort();
	}
	if (tls_protocols_parse(in, &lo, &hi, &err) == 0)
		check_versions(lo, hi);
	if (tls_cipherlist_build("HIGH", in, true, out, sizeof(out), &err) ==
	    0) {
		if (strncmp(out, "HIGH", 4) != 0 ||
		    strcmp(out + strlen(out) - 7, ":!aNULL") != 0)
			abort();
		/* Each exclusion is ":!" + a name: no "+", "@" or "-x". */
		if (strpbrk(out + 4, "+@ ,\t") != NULL ||
		    strstr(out, ":-") != NULL || strstr(out, "!!") != NULL ||
		    strstr(out, "!-") != NULL)
			abort();
	}
	return 0;
}
