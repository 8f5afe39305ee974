/*
 * imapd-idle.c - IDLE (RFC 2177): changes to the selected folder pushed
 * to the client within a second, "* OK Still here" every
 * imapd_idle_keepalive so NAT boxes keep the connection.
 *
 * The loop side: the folder's new/ and cur/ are watched through the
 * process's one inotify descriptor (imapd-notify.c); a change starts a
 * short debounce timer (a delivery is several events), then a sync runs
 * on the worker pool as an internal command whose untagged output is
 * written like any command's.  Without inotify (or past the kernel's
 * watch limit) the folder is polled every POLL_MS instead.
 *
 * Order: the watch is added first, then the folder is read (the first
 * sync, after "+ idling").  Read first, a change landing before the
 * watch existed gave no notification and was told only with the next
 * change.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "imap/imap_parser.h"
#include "mindex/mindex.h"
#include "store/store.h"

#include "imapd.h"

#define DEBOUNCE_MS 100
#define POLL_MS 5000

static void keepalive_cb(struct ev *ev, struct imapd_session *s);
static void sync_cb(struct ev *ev, struct imapd_session *s);
static enum imapd_cmd_result idle_sync_run(struct imapd_cmd *cmd);

enum imapd_cmd_result imapd_cmd_idle(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);

	if (!imap_arg_is_eol(imapd_cmd_args(cmd))) {
		imapd_cmd_reply(cmd, "BAD", NULL, "No arguments expected.");
		return IMAPD_CMD_DONE;
	}
	/* What changed before IDLE is told at once, by the sync
	 * imapd_idle_start runs once the folder is watched. */
	buf_append_str(imapd_cmd_out(cmd), "+ idling\r\n");
	free(s->idle_tag);
	s->idle_tag = xstrdup(imapd_cmd_tag(cmd));
	imapd_cmd_after(cmd, IMAPD_AFTER_IDLE);
	return IMAPD_CMD_DONE;
}

static void changed_cb(void *ctx)
{
	imapd_idle_changed(ctx);
}

void imapd_idle_start(struct imapd_session *s)
{
	struct error err;

	if (s->folder != NULL && s->imapd->notify != NULL) {
		char *dir = store_folder_path(
		    s->mbox, mindex_folder_name(s->folder), &err);

		if (dir != NULL) {
			s->watch = imapd_notify_add(s->imapd->notify, dir,
						    changed_cb, s);
			free(dir);
		}
	}
	if (s->folder != NULL) {
		/* Now that a change gives a notification (or is polled
		 * for), read what changed before IDLE and meanwhile. */
		imapd_session_run_internal(s, idle_sync_run);
		if (s->watch == NULL)
			EV_TIMER_ADD(s->imapd->ev, POLL_MS, sync_cb, s);
	}
	EV_TIMER_ADD(s->imapd->ev, s->set->keepalive_ms, keepalive_cb, s);
}

void imapd_idle_stop(struct imapd_session *s)
{
	imapd_notify_remove(s->imapd->notify, &s->watch);
	EV_TIMER_DEL(s->imapd->ev, keepalive_cb, s);
	EV_TIMER_DEL(s->imapd->ev, sync_cb, s);
	s->idle_sync_pending = false;
}

static void keepalive_cb(struct ev *ev, struct imapd_session *s)
{
	static const char text[] = "* OK Still here\r\n";

	if (s->input != IMAPD_IN_IDLE || s->dead)
		return;
	imapd_session_write(s, text, sizeof(text) - 1);
	EV_TIMER_ADD(ev, s->set->keepalive_ms, keepalive_cb, s);
}

static enum imapd_cmd_result idle_sync_run(struct imapd_cmd *cmd)
{
	(void)imapd_cmd_sync(cmd, true);
	return IMAPD_CMD_DONE;
}

static void sync_cb(struct ev *ev, struct imapd_session *s)
{
	if (s->input != IMAPD_IN_IDLE || s->dead)
		return;
	if (s->busy) {
		s->idle_sync_pending = true;
		return;
	}
	imapd_session_run_internal(s, idle_sync_run);
	if (s->watch == NULL)
		EV_TIMER_ADD(ev, POLL_MS, sync_cb, s);
}

void imapd_idle_changed(struct imapd_session *s)
{
	if (s->input != IMAPD_IN_IDLE || s->dead)
		return;
	/* Several events per delivery: one sync shortly after. */
	if (!ev_timer_pending(s->imapd->ev,
			      (ev_timer_fn *)(void (*)(void))sync_cb, s))
		EV_TIMER_ADD(s->imapd->ev, DEBOUNCE_MS, sync_cb, s);
}

void imapd_idle_sync_done(struct imapd_session *s, struct imapd_cmd *cmd)
{
	(void)cmd;
	imapd_session_internal_done(s);
	if (s->idle_sync_pending && s->input == IMAPD_IN_IDLE) {
		s->idle_sync_pending = false;
		EV_TIMER_ADD(s->imapd->ev, DEBOUNCE_MS, sync_cb, s);
	}
}

void imapd_idle_line(struct imapd_session *s, const char *line)
{
	const char *tag = s->idle_tag != NULL ? s->idle_tag : "*";

	imapd_idle_stop(s);
	s->input = IMAPD_IN_LINE;
	if (strcasecmp(line, "DONE") == 0) {
		struct buf *b = buf_new();

		buf_printf(b, "%s OK Idle completed.\r\n", tag);
		imapd_session_write(s, buf_data(b), buf_len(b));
		buf_free(&b);
	} else {
		struct buf *b = buf_new();

		buf_printf(b, "%s BAD Expected DONE.\r\n", tag);
		imapd_session_write(s, buf_data(b), buf_len(b));
		buf_free(&b);
	}
	free(s->idle_tag);
	s->idle_tag = NULL;
}
