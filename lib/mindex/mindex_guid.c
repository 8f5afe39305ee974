/*
 * mindex_guid - a folder's permanent identity: the G field of its
 * dovecot-uidlist header (a 128-bit GUID in hex, written by Dovecot and
 * by us).  It lives in the folder's directory, so it follows a RENAME
 * and survives a migration from or to Dovecot; imapd sends it as the
 * RFC 8474 MAILBOXID.
 */
#include <stdlib.h>

#include "core/xmalloc.h"
#include "mindex/mindex.h"
#include "mindex_private.h"

int mindex_folder_guid(const struct mindex_folder *f, char **guid_r,
		       struct error *err)
{
	struct uidlist ul;
	int r;

	*guid_r = NULL;
	uidlist_init(&ul);
	/* Header only; a file not in a state to append to is read whole. */
	r = uidlist_read_ends(f->path, &ul, err);
	if (r == 0) {
		uidlist_clear(&ul);
		uidlist_init(&ul);
		r = uidlist_read(f->path, &ul, err);
	}
	if (r > 0 && ul.guid != NULL && ul.guid[0] != '\0') {
		*guid_r = ul.guid;
		ul.guid = NULL;
	} else if (r > 0) {
		r = 0;
	}
	uidlist_clear(&ul);
	return r;
}
