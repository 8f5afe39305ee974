/*
 * fuzz_psc_dnsbl - postscreen's parsers of outside text: the
 * postscreen_dnsbl_sites list (postscreen/psc-dnsbl.c) and the pass
 * message smtpd reads from postscreen (lib/server/server_pass.c).  The
 * input is split at the first NUL: the list, then a pass message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "psc-dnsbl.h"
#include "server/server_pass.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t n = nul != NULL ? (size_t)(nul - data) : size;
	char *spec = xstrndup((const char *)data, n);
	static const char *const answers[] = {"127.0.0.2", "127.0.1.255",
					      "0.0.0.0"};
	struct error err;
	struct psc_dnsbl *d = psc_dnsbl_parse(spec, &err);

	if (d != NULL) {
		for (size_t i = 0; i < psc_dnsbl_ndomains(d); i++) {
			long top;
			const char *dom = psc_dnsbl_domain_at(d, i);
			int score = psc_dnsbl_score(d, dom, answers, 3, &top);
			/* A score comes from some entry of that domain. */
			if (score != 0 && top < 0)
				__builtin_trap();
			if (top >= 0 &&
			    strcmp(psc_dnsbl_site_domain(d, (size_t)top), dom))
				__builtin_trap();
		}
		psc_dnsbl_free(&d);
	}
	free(spec);
	if (nul != NULL && size - n - 1 <= SERVER_PASS_MAX) {
		struct server_pass p;
		/* A copy the parser may modify, NUL-terminated as recv's. */
		char *msg = xmalloc(size - n);
		memcpy(msg, nul + 1, size - n - 1);
		msg[size - n - 1] = '\0';
		/* smtpd prints the proxy_* strings when TLS came from a
		 * balancer. */
		if (server_pass_parse(msg, size - n - 1, &p, &err) == 0 &&
		    (p.service == NULL || p.peer == NULL || p.facts == NULL ||
		     (p.proxy_tls &&
		      (p.proxy_peer == NULL || p.proxy_tls_version == NULL ||
		       p.proxy_tls_cipher == NULL))))
			__builtin_trap();
		free(msg);
	}
	return 0;
}
