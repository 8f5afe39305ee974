/*
 * wm-summary - summaries of single messages for search results and the
 * message view (see wm-summary.h).
 */
#include "wm-summary.h"

#include "mindex/mindex.h"
#include "store/store_name.h"
#include "wm-core.h"

void wm_summary_flags(uint32_t flags, json_t *obj)
{
	json_object_set_new(obj, "seen", json_boolean(flags & STORE_FLAG_SEEN));
	json_object_set_new(obj, "flagged",
			    json_boolean(flags & STORE_FLAG_FLAGGED));
	json_object_set_new(obj, "answered",
			    json_boolean(flags & STORE_FLAG_REPLIED));
	json_object_set_new(obj, "draft", json_boolean(flags & STORE_FLAG_DRAFT));
}

int wm_summary_build(struct wm_req *r, struct mindex_folder *f, uint32_t seq,
		     json_t **obj_r, struct error *err)
{
	const struct mindex_msg *msg = mindex_msg(f, seq);

	(void)r;
	*obj_r = NULL;
	if (msg == NULL || msg->expunged)
		return 0;
	/* The list's summary (wm-list.c: from the index cache, computed
	 * and stored on first use), so search results and the list agree. */
	*obj_r = wm_list_summary(f, seq, err);
	if (*obj_r != NULL)
		return 1;
	return mindex_err_is(err, MINDEX_ERR_NOTFOUND) ? 0 : -1;
}

void wm_summary_thread(struct wm_req *r, struct mindex_folder *f, uint32_t uid,
		       json_t *obj)
{
	(void)r;
	(void)f;
	json_object_set_new(obj, "thread", json_integer(uid));
	json_object_set_new(obj, "thread_count", json_integer(1));
}
