/*
 * wm-summary - summaries of single messages for search results and the
 * message view (see wm-summary.h); their thread ids come from the
 * list's order state (wm-order.h through wm_list_thread_of).
 */
#include "wm-summary.h"

#include "core/log.h"
#include "mindex/mindex.h"
#include "store/store_name.h"
#include "wm-core.h"

/* Messages of a folder up to which a search hit builds the folder's
 * list state (about 5 s per 10,000 messages never summarised; 0.3 s
 * when their summaries are cached). */
#define WM_SUMMARY_SEARCH_BUILD_MAX 5000

void wm_summary_flags(uint32_t flags, json_t *obj)
{
	json_object_set_new(obj, "seen", json_boolean(flags & STORE_FLAG_SEEN));
	json_object_set_new(obj, "flagged",
			    json_boolean(flags & STORE_FLAG_FLAGGED));
	json_object_set_new(obj, "answered",
			    json_boolean(flags & STORE_FLAG_REPLIED));
	json_object_set_new(obj, "draft", json_boolean(flags & STORE_FLAG_DRAFT));
}

/* The list's entry (wm-order.h), so a message is grouped the same way
 * in the list, the view and search results.  Without it (the loader
 * failed, or a search hit in a big folder never listed) the message
 * stands alone. */
static void set_thread(struct wm_req *r, struct mindex_folder *f,
		       uint32_t uid, uint32_t build_max, json_t *obj)
{
	uint32_t thread = uid, count = 1;
	struct error err;

	if (r->session != NULL &&
	    wm_list_thread_of(r->session->address, f, uid, build_max, &thread,
			      &count, &err) < 0)
		log_warn("webmail: %s: thread of uid %u: %s",
			 r->session->address, uid, err.msg);
	json_object_set_new(obj, "thread", json_integer(thread));
	json_object_set_new(obj, "thread_count", json_integer(count));
}

void wm_summary_thread(struct wm_req *r, struct mindex_folder *f, uint32_t uid,
		       json_t *obj)
{
	set_thread(r, f, uid, UINT32_MAX, obj);
}

int wm_summary_build(struct wm_req *r, struct mindex_folder *f, uint32_t seq,
		     json_t **obj_r, struct error *err)
{
	const struct mindex_msg *msg = mindex_msg(f, seq);

	*obj_r = NULL;
	if (msg == NULL || msg->expunged)
		return 0;
	/* The list's summary (wm-list.c: from the index cache, computed
	 * and stored on first use), so search results and the list agree. */
	*obj_r = wm_list_summary(f, seq, err);
	if (*obj_r != NULL) {
		/* A search over every folder must not summarise whole
		 * folders the user never opened in the webmail (reading each
		 * message file): those build their entry only when small. */
		set_thread(r, f, msg->uid, WM_SUMMARY_SEARCH_BUILD_MAX, *obj_r);
		return 1;
	}
	return mindex_err_is(err, MINDEX_ERR_NOTFOUND) ? 0 : -1;
}
