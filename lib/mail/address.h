/*
 * address - RFC 5321 mailboxes and SMTP paths.
 *
 * Parses and validates the envelope forms of RFC 5321 4.1.2:
 *   Path     = "<" [ A-d-l ":" ] Mailbox ">"    (or "<>", the null path)
 *   Mailbox  = Local-part "@" ( Domain / address-literal )
 * The local part is a Dot-string or a Quoted-string; UTF-8 (RFC 6531) is
 * allowed only when the caller says SMTPUTF8.  The obsolete source route
 * ("<@a,@b:user@c>") is checked and dropped, as RFC 5321 4.1.2 and C.
 * require.  Single-label domains ("postmaster@localhost") are accepted,
 * as RFC 5321 and Postfix do; policy about which domains are hosted lives
 * elsewhere.
 *
 * The parsed form is canonical: the local part is decoded (quotes and
 * quoted-pairs removed: "john"@x and john@x are the same mailbox), the
 * domain is lower-case, U-labels are converted to A-labels (IDNA2008 with
 * UTS #46 non-transitional mapping) and address literals are rewritten in
 * the inet_ntop form.  address_format() turns it back into wire form,
 * quoting the local part only where it must.
 *
 * Limits (RFC 5321 4.5.3.1): local part 64 octets, domain 255 (we use the
 * DNS text limit of 253), label 63, a path 256 octets including "<" and
 * ">", so a mailbox at most 254.
 *
 * Errors: every function that can fail returns -1 and fills err with
 * ERR_PERM, code "invalid_address", and a one-line reason ("local part too
 * long (65 > 64 octets)").  Nothing here logs or allocates on failure.
 */
#ifndef POSTERN_MAIL_ADDRESS_H
#define POSTERN_MAIL_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"

#define ADDRESS_LOCAL_MAX 64
#define ADDRESS_DOMAIN_MAX 253
#define ADDRESS_LABEL_MAX 63
#define ADDRESS_MAILBOX_MAX 254
#define ADDRESS_PATH_MAX 256

enum address_flags {
	/* RFC 6531: UTF-8 in the local part and U-labels in the domain. */
	ADDRESS_SMTPUTF8 = 1 << 0,
	/* U-labels in the domain only (admin input); implied by SMTPUTF8. */
	ADDRESS_IDN = 1 << 1,
	/* Lower-case the ASCII letters of the local part: we store
	 * addresses lower-case.  Never for mail being relayed. */
	ADDRESS_LOWER_LOCAL = 1 << 2,
	/* address_parse_path: accept the null path "<>" (reverse-path). */
	ADDRESS_ALLOW_NULL = 1 << 3,
	/* address_parse_path: accept "<Postmaster>" without a domain, which
	 * RCPT TO must take (RFC 5321 4.5.1); gives local "postmaster" and
	 * an empty domain for the caller to fill in. */
	ADDRESS_ALLOW_POSTMASTER = 1 << 4,
};

/*
 * A parsed mailbox.  A plain value: both strings are owned (malloc'd) and
 * released by address_clear().  The null path has local == "" and
 * domain == ""; a bare <Postmaster> has an empty domain.
 */
struct mail_address {
	char *local;  /* decoded local part, no quotes */
	char *domain; /* A-label form, lower-case, or "[1.2.3.4]" /
			 "[IPv6:...]" */
};

void address_clear(struct mail_address *addr);
/* True for the null reverse-path "<>". */
bool address_is_null(const struct mail_address *addr);

/*
 * Parse a whole mailbox "local@domain" (no angle brackets) of `len` bytes.
 * On success fills *addr_r (release with address_clear) and returns 0.
 */
int address_parse_mailbox(const char *s, size_t len, unsigned int flags,
			  struct mail_address *addr_r, struct error *err);

/*
 * Parse an SMTP path at the start of s[0..len): "<...>", "<>" (with
 * ADDRESS_ALLOW_NULL) or "<Postmaster>" (with ADDRESS_ALLOW_POSTMASTER).
 * Parsing stops after the closing ">" and *consumed_r tells how many
 * bytes were used, so the caller can go on with the ESMTP parameters of
 * MAIL / RCPT ("<a@b> SIZE=10"); a quoted local part may contain ">", so
 * the caller cannot find the end itself.  consumed_r may be NULL, in
 * which case trailing bytes are an error.
 */
int address_parse_path(const char *s, size_t len, unsigned int flags,
		       struct mail_address *addr_r, size_t *consumed_r,
		       struct error *err);

/*
 * Validate and normalise a domain name (no address literal): lower-case,
 * U-labels to A-labels when flags allow them (ADDRESS_IDN or
 * ADDRESS_SMTPUTF8), A-labels checked, LDH labels, length limits, no
 * trailing dot.  Replaces the content of out.
 */
int address_domain_normalize(const char *domain, size_t len, unsigned int flags,
			     struct buf *out, struct error *err);

/*
 * Write the mailbox in wire form, replacing the content of out:
 * "local@domain", the local part quoted when it is not a Dot-string;
 * "" for the null path and just the local part for a bare Postmaster.
 */
void address_format(const struct mail_address *addr, struct buf *out);

/*
 * Parse a NUL-terminated mailbox and write its canonical form to out:
 * the one we store and compare ("John.Doe@Bücher.Example" gives
 * "john.doe@xn--bcher-kva.example" with ADDRESS_IDN|ADDRESS_LOWER_LOCAL).
 */
int address_normalize(const char *mailbox, unsigned int flags, struct buf *out,
		      struct error *err);

/*
 * Recipient-delimiter split of a decoded local part, like Postfix's
 * recipient_delimiter: `delimiters` is a set of characters and the split
 * is at the FIRST occurrence of any of them.  Returns true and sets
 * *user_len_r (bytes before the delimiter) and *extension_r (after it,
 * borrowed from local) when split; false when not: no delimiter, an empty
 * user ("+foo"), an empty set, or a name Postfix never splits
 * ("postmaster", "mailer-daemon", and with "-" in the set "owner-foo" and
 * "foo-request").
 */
bool address_split_local(const char *local, const char *delimiters,
			 size_t *user_len_r, const char **extension_r);

#endif
