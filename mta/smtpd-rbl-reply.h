/*
 * smtpd-rbl-reply - the reply templates of reject_rbl_client and
 * reject_rhsbl_* ($default_rbl_reply, $rbl_reply_maps results), expanded
 * as Postfix's mac_expand does for them:
 *   $name  ${name}  $(name)   the value of name
 *   ${name?text}              text (itself expanded) if name is not empty
 *   ${name:text}              text if name is empty
 *   $$                        a '$'
 * A name is letters, digits and '_'.  Postfix 3's ${name?{a}:{b}} and
 * relational forms are not supported (a syntax error).
 *
 * Pure function, no state: any thread.
 */
#ifndef POSTERN_SMTPD_RBL_REPLY_H
#define POSTERN_SMTPD_RBL_REPLY_H

#include "core/buf.h"

/* The value of NAME, or NULL if there is no such name. */
typedef const char *smtpd_rbl_lookup_fn(const char *name, void *ctx);

/*
 * Append TEMPLATE expanded to OUT.  0, or -1 for a syntax error or an
 * unknown name (Postfix then uses $default_rbl_reply instead).  Bytes
 * of values outside printable ASCII become '_' (smtpd_expand_filter).
 */
int smtpd_rbl_expand(const char *template, smtpd_rbl_lookup_fn *lookup,
		     void *ctx, struct buf *out);

#endif
