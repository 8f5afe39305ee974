/* store_private.h - shared by the lib/store files only. */
#ifndef POSTERN_STORE_PRIVATE_H
#define POSTERN_STORE_PRIVATE_H

#include "store.h"

#define STORE_DIR_MODE 0700
#define STORE_FILE_MODE 0600
/* Maildir++: recalculate a maildirsize file larger than this. */
#define STORE_MAILDIRSIZE_MAX 5120
/* Maildir++: an over-quota answer from a cache older than this is
 * checked again by a recalculation before the message is refused. */
#define STORE_MAILDIRSIZE_STALE_SECS (15 * 60)

struct store {
	char *root;
	/* Escaped for unique names; short enough that a name with S=, W=
	 * and every flag stays below NAME_MAX. */
	char host[65];
	bool quota_permanent;
};

struct store_mailbox {
	struct store *store;
	char *path; /* ROOT/DOMAIN/LOCAL */
};

/* ERR_TEMP from an errno, with STORE_ERR_NOSPACE for a full disk. */
int store_errno(struct error *err, int e, const char *what, const char *path);

/* Quota check for a message of `size` bytes (store_quota.c). */
int store_quota_check(struct store_mailbox *mbox,
		      const struct store_quota *quota, uint64_t size,
		      struct error *err);

#endif
