/* A user's handle: the mailbox and the special-use folder names. */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "mindex_private.h"

struct mindex_user *mindex_user_open(struct store_mailbox *mbox,
				     const struct mindex_settings *set,
				     struct error *err)
{
	const char *names[5] = {NULL};
	if (set != NULL) {
		names[0] = set->drafts;
		names[1] = set->sent;
		names[2] = set->trash;
		names[3] = set->junk;
		names[4] = set->archive;
	}
	for (int i = 0; i < 5; i++)
		if (names[i] != NULL && (!store_folder_valid(names[i]) ||
					 store_folder_is_inbox(names[i]))) {
			error_set_code(err, ERR_CONFIG, MINDEX_ERR_INVALID,
				       "invalid special-use folder name %s",
				       names[i]);
			return NULL;
		}
	struct mindex_user *u = xcalloc(1, sizeof(*u));
	u->mbox = mbox;
	u->root = xstrdup(store_mailbox_path(mbox));
	for (int i = 0; i < 5; i++)
		u->special[i] = names[i] != NULL ? xstrdup(names[i]) : NULL;
	return u;
}

void mindex_user_free(struct mindex_user **up)
{
	struct mindex_user *u = *up;
	if (u == NULL)
		return;
	*up = NULL;
	for (int i = 0; i < 5; i++)
		free(u->special[i]);
	free(u->root);
	free(u);
}

struct store_mailbox *mindex_user_mailbox(struct mindex_user *u)
{
	return u->mbox;
}

unsigned mindex_special_use(struct mindex_user *u, const char *name)
{
	static const unsigned attrs[5] = {MINDEX_ATTR_DRAFTS, MINDEX_ATTR_SENT,
					  MINDEX_ATTR_TRASH, MINDEX_ATTR_JUNK,
					  MINDEX_ATTR_ARCHIVE};
	for (int i = 0; i < 5; i++)
		if (u->special[i] != NULL && strcmp(u->special[i], name) == 0)
			return attrs[i];
	return 0;
}

bool mindex_err_is(const struct error *err, const char *code)
{
	return err != NULL && err->code != NULL && code != NULL &&
	       strcmp(err->code, code) == 0;
}
