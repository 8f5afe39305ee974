/*
 * fuzz_address - libFuzzer target for lib/mail/address.c: SMTP paths and
 * mailboxes.  The first input byte picks the address_flags, the rest is
 * the path or mailbox.  Besides memory errors it checks that the
 * canonical form is a fixed point: formatting a parsed mailbox and
 * parsing it again gives the same local part and domain.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mail/address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_fixed_point(const struct mail_address *addr,
			      unsigned int flags, struct buf *out)
{
	struct mail_address again;
	struct error err;

	if (addr->domain[0] == '\0')
		return; /* <> or bare <Postmaster>: no mailbox form */
	address_format(addr, out);
	if (address_parse_mailbox(buf_data(out), buf_len(out), flags, &again,
				  &err) < 0)
		abort();
	if (strcmp(again.local, addr->local) != 0 ||
	    strcmp(again.domain, addr->domain) != 0)
		abort();
	address_clear(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mail_address addr;
	struct error err;
	struct buf *out;
	unsigned int flags;
	const char *s;
	size_t len, used;

	if (size < 1)
		return 0;
	flags = data[0] & 0x1f;
	s = (const char *)data + 1;
	len = size - 1;
	out = buf_new();

	if (address_parse_path(s, len, flags, &addr, &used, &err) == 0) {
		if (used > len || used < 2 || s[used - 1] != '>')
			abort();
		check_fixed_point(&addr, flags, out);
		address_clear(&addr);
	}
	if (address_parse_path(s, len, flags, &addr, NULL, &err) == 0)
		address_clear(&addr);
	if (address_parse_mailbox(s, len, flags, &addr, &err) == 0) {
		size_t user_len;
		const char *ext;

		check_fixed_point(&addr, flags, out);
		if (address_split_local(addr.local, "+-=", &user_len, &ext) &&
		    (user_len == 0 || user_len >= strlen(addr.local)))
			abort();
		address_clear(&addr);
	}
	buf_free(&out);
	return 0;
}
