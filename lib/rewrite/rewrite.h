/*
 * rewrite - Postfix's address rewriting (cleanup(8) and smtp(8)):
 * canonical(5), generic(5), relocated(5), masquerading and
 * append_at_myorigin, as pure functions over lib/map tables.
 *
 * Parameters (main.cf, the same names and defaults as Postfix):
 *   myhostname, myorigin ($myhostname), mydomain (empty: $myhostname
 *   minus its first label, "localdomain" for a single label),
 *   append_at_myorigin, recipient_delimiter,
 *   canonical_maps, sender_canonical_maps, recipient_canonical_maps,
 *   canonical_classes, sender_canonical_classes,
 *   recipient_canonical_classes, masquerade_domains,
 *   masquerade_exceptions, masquerade_classes, relocated_maps,
 *   smtp_generic_maps, propagate_unmatched_extensions.
 * A *_maps value is a list of map specs (comma or blank separated),
 * searched in order, as Postfix.
 *
 * Addresses are in the internal form: "local@domain" with the local part
 * unquoted (what address_format's caller decoded), or a bare "local"
 * (unqualified; sendmail and header input).
 *
 * Lookup order (canonical(5) and relocated(5) "TABLE FORMAT" and
 * "ADDRESS EXTENSION"): user+ext@domain, user@domain, then, when domain
 * is local ($myorigin, $myhostname, localhost.$mydomain, localhost: the
 * default $mydestination, plus $inet_interfaces as [address] literals),
 * user+ext and user, then @domain.  generic(5) has no bare user form.
 * A result "@other" keeps the whole local part; an extension stripped to
 * find the match is put back when propagate_unmatched_extensions names
 * the table class; a result without @ gets @$myorigin when
 * append_at_myorigin = yes.  Canonical maps are applied until nothing
 * matches or an address maps to itself (at most 10 rounds, as cleanup's
 * cleanup_map11); a multi-valued entry uses its first value.
 *
 * Order per address (cleanup_addr.c): sender_canonical_maps (or
 * recipient_canonical_maps), then canonical_maps, then masquerading,
 * each only where its *_classes names the address class.
 *
 * Errors: functions return 1 (rewritten or found), 0 (unchanged or not
 * found) or -1 with err; a map's ERR_TEMP is passed on (the caller
 * answers 4xx), never taken as "not found".
 *
 * Threads: an open struct rewrite is read-only; every function may run
 * from several threads at once.
 */
#ifndef POSTERN_REWRITE_H
#define POSTERN_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/error.h"
#include "map/map.h"

/* Address classes of canonical_classes and masquerade_classes. */
enum rewrite_class {
	REWRITE_ENV_SENDER = 1 << 0,
	REWRITE_ENV_RECIPIENT = 1 << 1,
	REWRITE_HDR_SENDER = 1 << 2,
	REWRITE_HDR_RECIPIENT = 1 << 3,
};

struct rewrite;

/*
 * What rewrite_new() reads besides the conf; maps are opened with `env`,
 * which must outlive the struct rewrite.  A map that cannot be opened is
 * an error (ERR_CONFIG, naming the parameter).
 */
struct rewrite *rewrite_new(const struct conf *conf, const struct map_env *env,
			    struct error *err);
void rewrite_free(struct rewrite **rw);

/* The values in use (borrowed, valid while rw lives). */
const char *rewrite_myorigin(const struct rewrite *rw);
const char *rewrite_mydomain(const struct rewrite *rw);
/* Anything configured that can change an address of class cls? */
bool rewrite_active(const struct rewrite *rw, enum rewrite_class cls);

/* mydomain's default: `hostname` minus its first label, "localdomain"
 * when it has only one.  Replaces the content of out. */
void rewrite_default_mydomain(const char *hostname, struct buf *out);
/* $mydomain and $myorigin of conf as rewrite_new() computes them (the
 * conf table cannot express mydomain's default, so a myorigin that names
 * $mydomain is expanded here); no tables are opened. */
void rewrite_conf_mydomain(const struct conf *conf, struct buf *out);
void rewrite_conf_myorigin(const struct conf *conf, struct buf *out);

/*
 * Qualify a bare local part: append "@" and `domain` ($myorigin when
 * NULL) if addr has no @ and append_at_myorigin is on (always when
 * domain is given: remote_header_rewrite_domain).  out is replaced.
 */
void rewrite_qualify(const struct rewrite *rw, const char *addr,
		     const char *domain, struct buf *out);

/*
 * The whole cleanup rewriting of one address of class cls (one class
 * bit): canonical maps then masquerading.  out gets the result (a copy of
 * addr when nothing applied).  addr must not point into out.
 */
int rewrite_address(const struct rewrite *rw, enum rewrite_class cls,
		    const char *addr, struct buf *out, struct error *err);

/* Masquerading alone (masquerade_domains with "!", masquerade_exceptions);
 * 1 when the domain was stripped. */
int rewrite_masquerade(const struct rewrite *rw, const char *addr,
		       struct buf *out, struct error *err);

/*
 * relocated_maps: 1 and the table's value (the new address or contact
 * text) in value_r when the recipient has moved, 0 when not.
 */
int rewrite_relocated(const struct rewrite *rw, const char *addr,
		      struct buf *value_r, struct error *err);

/*
 * smtp_generic_maps (generic(5)), for the SMTP client: the envelope
 * sender and each recipient, and (rewrite_header_block with
 * REWRITE_MODE_GENERIC) every address header.  One lookup, no loop, as
 * smtp(8).  out gets the result or a copy of addr.
 */
int rewrite_generic(const struct rewrite *rw, const char *addr,
		    struct buf *out, struct error *err);

/* ---- headers (rewrite_header.c) */

enum rewrite_mode {
	/* cleanup for a local client (sendmail, local_header_rewrite_
	 * clients): bare addresses get @$myorigin, then canonical and
	 * masquerading per class. */
	REWRITE_MODE_LOCAL,
	/* cleanup for a remote client with remote_header_rewrite_domain
	 * set: bare addresses get @that domain, then as LOCAL. */
	REWRITE_MODE_REMOTE,
	/* smtp_generic_maps on every address header. */
	REWRITE_MODE_GENERIC,
};

/*
 * The address class of a header field name (Postfix's header_opts.c):
 * REWRITE_HDR_SENDER for From, Sender, Reply-To, Return-Path,
 * Errors-To, Resent-From, Resent-Sender, Return-Receipt-To,
 * Disposition-Notification-To, Mail-Followup-To; REWRITE_HDR_RECIPIENT
 * for To, Cc, Bcc, Apparently-To, Resent-To, Resent-Cc, Resent-Bcc,
 * Resent-Reply-To; 0 for any other field.
 */
unsigned rewrite_header_class(const char *name, size_t len);

/*
 * Rewrite one whole header field `field` (name, colon, value, folding,
 * final line end), appending the result to out.  Only the addr-specs
 * change: display names, comments, groups, folding and the line ends stay
 * byte for byte.  Returns 1 when an address changed, 0 when the field was
 * appended as it was (not an address field, nothing applied, or a value
 * too odd to rewrite safely), -1 with err (a map failed; out then holds
 * the field unchanged).  `domain` is remote_header_rewrite_domain for
 * REWRITE_MODE_REMOTE, else NULL.
 */
int rewrite_header_field(const struct rewrite *rw, enum rewrite_mode mode,
			 const char *domain, const char *field, size_t len,
			 struct buf *out, struct error *err);

/*
 * A header block (up to and excluding the empty line, or a whole
 * message: the body is copied as it is) through rewrite_header_field.
 * Returns the number of fields rewritten, or -1 with err.
 */
int rewrite_header_block(const struct rewrite *rw, enum rewrite_mode mode,
			 const char *domain, const char *msg, size_t len,
			 struct buf *out, struct error *err);

#endif
