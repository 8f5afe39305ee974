/*
 * lmtp_address - recipient keys and map answers (lmtp_address.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "core/xmalloc.h"
#include "lmtp/lmtp_address.h"
#include "mail/address.h"
#include "store/store.h"

size_t lmtp_address_keys(const char *local, const char *domain,
			 const char *delimiters, char *keys_r[2])
{
	size_t user_len, n = 0;
	const char *ext;

	keys_r[n++] = str_lower(xasprintf("%s@%s", local, domain));
	if (delimiters != NULL &&
	    address_split_local(local, delimiters, &user_len, &ext))
		keys_r[n++] = str_lower(
		    xasprintf("%.*s@%s", (int)user_len, local, domain));
	return n;
}

bool lmtp_mailbox_parse(const char *answer, char **domain_r, char **local_r)
{
	const char *slash = strchr(answer, '/');
	size_t alen = strlen(answer);

	*domain_r = *local_r = NULL;
	/* "d/u/": one slash inside, one at the end, nothing after. */
	if (slash == NULL || alen < 4 || answer[alen - 1] != '/' ||
	    slash == answer + alen - 1)
		return false;
	char *domain = xstrndup(answer, (size_t)(slash - answer));
	char *local = xstrndup(slash + 1, alen - (size_t)(slash - answer) - 2);
	if (strchr(local, '/') != NULL || !store_domain_valid(domain) ||
	    !store_local_valid(local)) {
		free(domain);
		free(local);
		return false;
	}
	*domain_r = domain;
	*local_r = local;
	return true;
}
