/*
 * rewrite-private.h - struct rewrite, shared by rewrite.c and
 * rewrite_header.c only.
 */
#ifndef POSTERN_REWRITE_PRIVATE_H
#define POSTERN_REWRITE_PRIVATE_H

#include "core/array.h"
#include "core/hash.h"

#include "rewrite.h"

struct rewrite {
	char *myhostname, *mydomain, *myorigin;
	char *delimiters;
	bool append_at_myorigin;
	bool propagate_canonical, propagate_generic;
	/* Lists of struct map *, NULL when the parameter is empty. */
	struct array *canonical, *send_canonical, *rcpt_canonical;
	struct array *relocated, *generic;
	unsigned canon_classes, send_canon_classes, rcpt_canon_classes;
	unsigned masq_classes;
	struct array *masq_domains;	/* char *, as written ("!" kept) */
	struct hash *masq_exceptions;	/* user names, folded */
	struct hash *local_domains;	/* the "user" form's domains */
};

#endif
