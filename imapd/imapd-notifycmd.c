/*
 * imapd-notifycmd.c - NOTIFY (RFC 5465): changes in the selected folder
 * and in other folders told to the client as they happen, without IDLE
 * and without polling, whenever no command is in progress.
 *
 * What is supported (anything else: NO [BADEVENT ...]):
 *   filters  SELECTED, SELECTED-DELAYED, INBOXES (INBOX: the only folder
 *            mail is delivered to), PERSONAL, SUBSCRIBED, SUBTREE,
 *            MAILBOXES;
 *   events   MessageNew (with FETCH attributes for the selected folder),
 *            MessageExpunge, FlagChange, MailboxName, SubscriptionChange.
 * The selected folder answers as after any command (EXISTS, EXPUNGE or
 * VANISHED, FETCH FLAGS; SELECTED-DELAYED holds expunges back until a
 * command that allows them); other folders answer with STATUS (MESSAGES
 * UIDNEXT UNSEEN, and HIGHESTMODSEQ once CONDSTORE is on) when those
 * changed; folders created or deleted with LIST (\NonExistent for a
 * deleted one), subscription changes with LIST (\Subscribed or not).
 * A rename shows as one folder deleted and one created (OLDNAME is only
 * known to the session that renamed).
 *
 * How: every watched folder has an inotify watch (imapd-notify.c, shared
 * with IDLE), the user's mailbox root one more (folder directories and
 * the subscriptions file).  An event marks the folder dirty on the loop
 * and arms a short debounce; at the next point where the session has no
 * command in progress (imapd_nfy_loop, called by the session engine) an
 * internal command runs on the worker pool and writes what changed.
 * A watch is added on the loop after the worker read the folder (NOTIFY
 * SET, a folder found created or renamed, a SELECT): a change in between
 * gave no notification, so a folder (root, selected folder) whose watch
 * was just added is marked dirty and read once more; the run tells only
 * what differs from the first read.
 *
 * Threads: the filter set, the "next" folder set and the worker-side
 * fields (last status, known folders) are touched by run() on the
 * worker; the watches and the dirty flags by the loop; the two hand over
 * only while the session is not busy (imapd.h's rule).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/array.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/str.h"
#include "core/xmalloc.h"
#include "ev/ev.h"
#include "imap/imap_fetch_items.h"
#include "imap/imap_parser.h"
#include "mindex/mindex.h"
#include "store/store.h"

#include "imapd.h"

#define NFY_DEBOUNCE_MS 100
/* Folders one session may have watched; past it the rest are left out
 * (logged): inotify watches are a per-user kernel resource. */
#define NFY_MAX_FOLDERS 1000

enum {
	EV_NEW = 1 << 0,
	EV_EXPUNGE = 1 << 1,
	EV_FLAGS = 1 << 2,
	EV_NAME = 1 << 3,
	EV_SUBS = 1 << 4,
};
#define EV_MESSAGE (EV_NEW | EV_EXPUNGE | EV_FLAGS)

static const struct {
	const char *name;
	unsigned bit; /* 0: known to RFC 5465 but not supported */
} event_names[] = {
    {"MessageNew", EV_NEW},
    {"MessageExpunge", EV_EXPUNGE},
    {"FlagChange", EV_FLAGS},
    {"MailboxName", EV_NAME},
    {"SubscriptionChange", EV_SUBS},
    {"AnnotationChange", 0},
    {"MailboxMetadataChange", 0},
    {"ServerMetadataChange", 0},
};
#define BADEVENT                                                               \
	"BADEVENT (MessageNew MessageExpunge FlagChange MailboxName "          \
	"SubscriptionChange)"

enum fkind {
	F_INBOXES,
	F_PERSONAL,
	F_SUBSCRIBED,
	F_SUBTREE,
	F_MAILBOXES,
};

struct nfy_filter {
	enum fkind kind;
	struct array *names; /* char *, on disk (SUBTREE, MAILBOXES) */
	unsigned events;
};

/* A watched folder other than the selected one. */
struct nfy_folder {
	struct imapd_nfy *n;
	char *name;
	unsigned events;
	struct imapd_watch *w; /* loop */
	bool dirty;	       /* loop: inotify said it changed */
	bool have_last;	       /* worker: the status last told */
	struct mindex_status last;
};

/* What the client asked for with NOTIFY SET. */
struct nfy_spec {
	struct array *filters; /* struct nfy_filter * (not SELECTED) */
	bool sel_set, sel_delayed;
	unsigned sel_events;
	char *fetch_att; /* "(UID BODY.PEEK[...])" or NULL */
	bool want_root;	 /* folders may come and go: watch the root */
};

struct imapd_nfy {
	struct imapd_session *s;
	/* Worker side (set by NOTIFY, read by the runs). */
	struct nfy_spec sp;
	struct hash *known; /* disk name -> attrs + 1, for LIST diffs */
	struct hash *next;  /* a new folder set for the loop, or NULL */

	/* Loop side. */
	struct hash *folders; /* name -> struct nfy_folder (the live set) */
	struct imapd_watch *root_w;
	bool root_dirty;
	char *sel_name; /* the selected folder being watched */
	struct imapd_watch *sel_w;
	bool sel_dirty;

	/* Handed to a run (set on the loop before it starts). */
	struct array *todo; /* struct nfy_folder * (borrowed) */
	bool todo_root, todo_sel;
};

static void nfy_folder_free(void *p)
{
	struct nfy_folder *f = p;

	if (f == NULL)
		return;
	imapd_notify_remove(f->n->s->imapd->notify, &f->w);
	free(f->name);
	free(f);
}

static void filter_free(void *p)
{
	struct nfy_filter *f = p;

	array_free_with(&f->names, free);
	free(f);
}

static void spec_clear(struct nfy_spec *sp)
{
	array_free_with(&sp->filters, filter_free);
	free(sp->fetch_att);
	memset(sp, 0, sizeof(*sp));
}

/* ---- Loop side. */

static void debounce_cb(struct ev *ev, struct imapd_session *s)
{
	(void)ev;
	imapd_nfy_loop(s, false);
}

static void arm(struct imapd_session *s)
{
	ev_timer_fn *fn = (ev_timer_fn *)(void (*)(void))debounce_cb;

	if (!ev_timer_pending(s->imapd->ev, fn, s))
		EV_TIMER_ADD(s->imapd->ev, NFY_DEBOUNCE_MS, debounce_cb, s);
}

static void folder_changed(void *ctx)
{
	struct nfy_folder *f = ctx;

	f->dirty = true;
	arm(f->n->s);
}

static void root_changed(void *ctx)
{
	struct imapd_nfy *n = ctx;

	n->root_dirty = true;
	arm(n->s);
}

static void sel_changed(void *ctx)
{
	struct imapd_nfy *n = ctx;

	n->sel_dirty = true;
	arm(n->s);
}

static char *folder_dir(struct imapd_session *s, const char *name)
{
	struct error err;
	char *dir = store_folder_path(s->mbox, name, &err);

	if (dir == NULL)
		log_warn("%s: NOTIFY: %s", s->id, err.msg);
	return dir;
}

/* Make the watches match what the last NOTIFY or run asked for. */
static void reconcile(struct imapd_nfy *n)
{
	struct imapd_session *s = n->s;
	struct imapd_notify *in = s->imapd->notify;
	const char *sel = s->folder != NULL && n->sp.sel_set
			      ? mindex_folder_name(s->folder)
			      : NULL;

	if (n->next != NULL) {
		struct hash_iter it = {0};
		const char *k;
		void *v;

		/* Every folder of the new set subscribes itself (the
		 * callback's ctx is the folder: a watch handed over from the
		 * old set would call it once freed).  A folder still wanted
		 * keeps its kernel watch: the new subscription comes before
		 * the old one ends, with the old set. */
		while (hash_next(n->next, &it, &k, &v)) {
			struct nfy_folder *f = v, *old;
			char *dir = folder_dir(s, k);

			old =
			    n->folders != NULL ? hash_get(n->folders, k) : NULL;
			if (dir != NULL)
				f->w = imapd_notify_add(in, dir,
							folder_changed, f);
			free(dir);
			if (old != NULL && old->w != NULL)
				f->dirty = old->dirty;
			else if (f->w != NULL)
				/* Read (plan) before the watch existed. */
				f->dirty = true;
		}
		hash_free(&n->folders);
		n->folders = n->next;
		n->next = NULL;
	}
	if (n->sp.want_root && n->root_w == NULL && s->mbox != NULL) {
		n->root_w = imapd_notify_add_root(
		    in, store_mailbox_path(s->mbox), root_changed, n);
		/* n->known was read before the watch existed. */
		if (n->root_w != NULL)
			n->root_dirty = true;
	}
	if (!n->sp.want_root)
		imapd_notify_remove(in, &n->root_w);
	if (sel == NULL || n->sel_name == NULL ||
	    strcmp(sel, n->sel_name) != 0) {
		imapd_notify_remove(in, &n->sel_w);
		free(n->sel_name);
		n->sel_name = NULL;
		n->sel_dirty = false;
		if (sel != NULL) {
			char *dir = folder_dir(s, sel);

			n->sel_name = xstrdup(sel);
			if (dir != NULL)
				n->sel_w = imapd_notify_add(in, dir,
							    sel_changed, n);
			free(dir);
			/* The last command's sync read it before. */
			if (n->sel_w != NULL)
				n->sel_dirty = true;
		}
	}
}

static enum imapd_cmd_result nfy_run(struct imapd_cmd *cmd);

void imapd_nfy_loop(struct imapd_session *s, bool mid_command)
{
	struct imapd_nfy *n = s->nfy;
	bool any;

	if (n == NULL || s->dead || s->closing || s->busy || s->cmd != NULL ||
	    s->io == NULL)
		return;
	if (s->input != IMAPD_IN_LINE && s->input != IMAPD_IN_IDLE)
		return;
	reconcile(n);
	if (mid_command) {
		/* Half a command has arrived: tell after it. */
		return;
	}
	any = n->root_dirty || n->sel_dirty;
	array_clear(n->todo);
	if (n->folders != NULL) {
		struct hash_iter it = {0};
		const char *k;
		void *v;

		while (hash_next(n->folders, &it, &k, &v)) {
			struct nfy_folder *f = v;

			if (f->dirty) {
				f->dirty = false;
				array_push(n->todo, f);
				any = true;
			}
		}
	}
	if (!any)
		return;
	n->todo_root = n->root_dirty;
	n->todo_sel = n->sel_dirty;
	n->root_dirty = n->sel_dirty = false;
	imapd_session_run_internal(s, nfy_run);
}

void imapd_nfy_free(struct imapd_session *s)
{
	struct imapd_nfy *n = s->nfy;

	if (n == NULL)
		return;
	s->nfy = NULL;
	EV_TIMER_DEL(s->imapd->ev, debounce_cb, s);
	hash_free(&n->folders);
	hash_free(&n->next);
	imapd_notify_remove(s->imapd->notify, &n->root_w);
	imapd_notify_remove(s->imapd->notify, &n->sel_w);
	free(n->sel_name);
	spec_clear(&n->sp);
	hash_free(&n->known);
	array_free(&n->todo);
	free(n);
}

/* ---- Worker side: what changed. */

static bool condstore(const struct imapd_session *s)
{
	return (s->enabled & IMAPD_ENABLED_CONDSTORE) != 0;
}

static void status_line(struct imapd_session *s, const char *name,
			const struct mindex_status *st, struct buf *out)
{
	buf_append_str(out, "* STATUS ");
	imapd_mailbox_append(s, out, name);
	buf_printf(out, " (MESSAGES %u UIDNEXT %u UNSEEN %u", st->messages,
		   st->uidnext, st->unseen);
	if (condstore(s))
		buf_printf(out, " HIGHESTMODSEQ %llu",
			   (unsigned long long)st->highestmodseq);
	buf_append_str(out, ")\r\n");
}

/* STATUS for a folder whose counts moved in a way its events cover. */
static void folder_status(struct imapd_session *s, struct nfy_folder *f,
			  bool always, struct buf *out)
{
	struct mindex_status st;
	struct error err;
	bool tell;

	memset(&st, 0, sizeof(st));
	if (mindex_folder_status(s->mu, f->name, &st, &err) < 0) {
		if (!mindex_err_is(&err, MINDEX_ERR_NOTFOUND))
			log_warn("%s: NOTIFY: status of %s: %s", s->id,
				 f->name, err.msg);
		return;
	}
	tell = always || !f->have_last;
	if (f->have_last) {
		const struct mindex_status *o = &f->last;

		if ((f->events & EV_NEW) && (st.uidnext != o->uidnext ||
					     st.messages > o->messages))
			tell = true;
		if ((f->events & EV_EXPUNGE) && st.messages < o->messages)
			tell = true;
		if ((f->events & EV_FLAGS) &&
		    (st.unseen != o->unseen ||
		     (condstore(s) && st.highestmodseq != o->highestmodseq)))
			tell = true;
	}
	if (tell && (always || f->have_last))
		status_line(s, f->name, &st, out);
	f->last = st;
	f->have_last = true;
}

static bool in_subtree(const char *root, const char *name)
{
	size_t len = strlen(root);

	return strcmp(root, name) == 0 ||
	       (strncmp(root, name, len) == 0 && name[len] == '.');
}

/* The events the filters give a folder (0: not watched). */
static unsigned events_for(const struct imapd_nfy *n, const char *name,
			   unsigned attrs)
{
	unsigned ev = 0;
	size_t i, j;

	for (i = 0; i < array_len(n->sp.filters); i++) {
		const struct nfy_filter *f = array_get(n->sp.filters, i);
		bool match = false;

		switch (f->kind) {
		case F_INBOXES:
			match = strcmp(name, "INBOX") == 0;
			break;
		case F_PERSONAL:
			match = true;
			break;
		case F_SUBSCRIBED:
			match = (attrs & MINDEX_ATTR_SUBSCRIBED) != 0;
			break;
		case F_SUBTREE:
		case F_MAILBOXES:
			for (j = 0; j < array_len(f->names) && !match; j++) {
				const char *r = array_get(f->names, j);

				match = f->kind == F_SUBTREE
					    ? in_subtree(r, name)
					    : strcmp(r, name) == 0;
			}
			break;
		}
		if (match)
			ev |= f->events;
	}
	return ev;
}

/* The folders now, as disk name -> attrs + 1 (existing ones and
 * subscribed names). */
static struct hash *folders_now(struct imapd_session *s, struct error *err)
{
	struct array *list = NULL;
	struct hash *h;
	size_t i;

	if (mindex_folder_list(s->mu, &list, err) < 0)
		return NULL;
	h = hash_new(HASH_DEFAULT, NULL);
	for (i = 0; i < array_len(list); i++) {
		const struct mindex_folder_info *fi = array_get(list, i);

		hash_put(h, fi->name, (void *)(uintptr_t)(fi->attrs + 1));
	}
	mindex_folder_list_free(&list);
	return h;
}

static unsigned attrs_of(const struct hash *h, const char *name)
{
	uintptr_t v = (uintptr_t)hash_get(h, name);

	return v == 0 ? MINDEX_ATTR_NONEXISTENT : (unsigned)(v - 1);
}

/* Build the folder set the filters select now (n->next, for the loop),
 * keeping the last status of folders already watched.  tell_status:
 * NOTIFY SET STATUS. */
static void plan(struct imapd_session *s, const struct hash *now,
		 bool tell_status, struct buf *out)
{
	struct imapd_nfy *n = s->nfy;
	struct hash_iter it = {0};
	const char *k;
	void *v;
	size_t count = 0;

	hash_free(&n->next);
	n->next = hash_new(HASH_DEFAULT, nfy_folder_free);
	while (hash_next(now, &it, &k, &v)) {
		unsigned attrs = (unsigned)((uintptr_t)v - 1);
		unsigned ev;
		struct nfy_folder *f, *old;

		if (attrs & MINDEX_ATTR_NONEXISTENT)
			continue;
		ev = events_for(n, k, attrs);
		if ((ev & EV_MESSAGE) == 0)
			continue;
		if (++count > NFY_MAX_FOLDERS) {
			log_warn("%s: NOTIFY: more than %d folders, %s and "
				 "others not watched",
				 s->id, NFY_MAX_FOLDERS, k);
			break;
		}
		f = xcalloc(1, sizeof(*f));
		f->n = n;
		f->name = xstrdup(k);
		f->events = ev;
		old = n->folders != NULL ? hash_get(n->folders, k) : NULL;
		if (old != NULL && old->have_last) {
			f->have_last = true;
			f->last = old->last;
		}
		if (s->folder != NULL && n->sp.sel_set &&
		    strcmp(mindex_folder_name(s->folder), k) == 0) {
			/* The selected folder speaks for itself. */
		} else if (tell_status || !f->have_last) {
			folder_status(s, f, tell_status, out);
		}
		hash_put(n->next, f->name, f);
	}
}

/* LIST responses for folders created, deleted, (un)subscribed. */
static void names_changed(struct imapd_session *s, struct hash *now,
			  struct buf *out)
{
	struct imapd_nfy *n = s->nfy;
	struct hash_iter it = {0};
	const char *k;
	void *v;

	while (hash_next(now, &it, &k, &v)) {
		unsigned a = (unsigned)((uintptr_t)v - 1);
		unsigned o = attrs_of(n->known, k);
		unsigned ev = events_for(n, k, a) | events_for(n, k, o);
		bool exists = !(a & MINDEX_ATTR_NONEXISTENT);
		bool existed = !(o & MINDEX_ATTR_NONEXISTENT);
		bool sub = (a & MINDEX_ATTR_SUBSCRIBED) != 0;
		bool subbed = (o & MINDEX_ATTR_SUBSCRIBED) != 0;

		if (((ev & EV_NAME) && exists != existed) ||
		    ((ev & EV_SUBS) && sub != subbed)) {
			buf_printf(out, "* LIST (%s%s%s) \".\" ",
				   exists ? "" : "\\NonExistent",
				   !exists && sub ? " " : "",
				   sub ? "\\Subscribed" : "");
			imapd_mailbox_append(s, out, k);
			buf_append_str(out, "\r\n");
		}
	}
	it = (struct hash_iter){0};
	while (hash_next(n->known, &it, &k, &v)) {
		unsigned o = (unsigned)((uintptr_t)v - 1);

		if (hash_contains(now, k) || (o & MINDEX_ATTR_NONEXISTENT))
			continue;
		/* Gone altogether (deleted and not subscribed). */
		if (events_for(n, k, o) & (EV_NAME | EV_SUBS)) {
			buf_append_str(out, "* LIST (\\NonExistent) \".\" ");
			imapd_mailbox_append(s, out, k);
			buf_append_str(out, "\r\n");
		}
	}
}

/* MessageNew with FETCH attributes: the new messages of the selected
 * folder, through the FETCH command itself. */
static void fetch_new(struct imapd_cmd *cmd, uint32_t from_uid)
{
	static const struct imapd_command_def def = {
	    "FETCH", IMAPD_STATE_SELECTED, true, imapd_cmd_fetch};
	static const char tag[] = "NOTIFY-FETCH";
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct buf *out = imapd_cmd_out(cmd);
	char *text = xasprintf("%u:* %s", from_uid, s->nfy->sp.fetch_att);
	char *why = NULL;
	struct imap_command *ic = imap_parse_args(text, true, &why);
	struct imapd_cmd *sub;
	size_t start = buf_len(out);

	free(text);
	if (ic == NULL) {
		free(why);
		return;
	}
	sub = imapd_cmd_new(s, tag, "FETCH", true, &def);
	imapd_cmd_take_command(sub, ic);
	while (imapd_cmd_run(sub) == IMAPD_CMD_MORE)
		;
	buf_append(out, buf_data(imapd_cmd_out(sub)),
		   buf_len(imapd_cmd_out(sub)));
	imapd_cmd_free(&sub);
	/* Drop the sub-command's tagged reply (its last line). */
	{
		const char *d = buf_data(out);
		size_t len = buf_len(out), i = len > 2 ? len - 2 : 0;

		while (i > start && d[i - 1] != '\n')
			i--;
		if (len - i > sizeof(tag) &&
		    strncmp(d + i, tag, sizeof(tag) - 1) == 0 &&
		    d[i + sizeof(tag) - 1] == ' ')
			buf_truncate(out, i);
	}
}

static void selected_changes(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct imapd_nfy *n = s->nfy;
	uint32_t next, count;
	const struct mindex_msg *last;

	if (s->folder == NULL || !n->sp.sel_set)
		return;
	next = mindex_folder_uidnext(s->folder);
	if (imapd_cmd_sync(cmd, !n->sp.sel_delayed) < 0)
		return;
	count = mindex_folder_count(s->folder);
	last = count > 0 ? mindex_msg(s->folder, count) : NULL;
	if (n->sp.fetch_att != NULL && last != NULL && last->uid >= next)
		fetch_new(cmd, next);
}

static enum imapd_cmd_result nfy_run(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	struct imapd_nfy *n = s->nfy;
	struct buf *out = imapd_cmd_out(cmd);
	const char *sel = s->folder != NULL && n->sp.sel_set
			      ? mindex_folder_name(s->folder)
			      : NULL;
	size_t i;

	if (n->todo_sel)
		selected_changes(cmd);
	for (i = 0; i < array_len(n->todo); i++) {
		struct nfy_folder *f = array_get(n->todo, i);

		if (sel != NULL && strcmp(sel, f->name) == 0)
			continue;
		folder_status(s, f, false, out);
	}
	if (n->todo_root) {
		struct error err;
		struct hash *now = folders_now(s, &err);

		if (now == NULL) {
			log_warn("%s: NOTIFY: folder list: %s", s->id,
				 err.msg);
		} else {
			names_changed(s, now, out);
			plan(s, now, false, out);
			hash_free(&n->known);
			n->known = now;
		}
	}
	return IMAPD_CMD_DONE;
}

/* ---- The command. */

/* A mailbox or a list of them, to disk names. */
static bool parse_names(struct imapd_cmd *cmd, const struct imap_arg *a,
			struct array *names)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *list = a;
	size_t count = 1, i;

	if (imap_arg_is_list(a) && !imap_arg_get_list(a, &list, &count))
		return false;
	if (count == 0)
		return false;
	for (i = 0; i < count; i++) {
		const char *name, *why = NULL;
		char *disk;

		if (!imap_arg_get_astring(&list[i], &name))
			return false;
		disk = imapd_mailbox_to_disk(s, name, &why);
		if (disk == NULL)
			return false;
		array_push(names, disk);
	}
	return true;
}

/*
 * events: "NONE" or a list of event names, MessageNew maybe followed by
 * a FETCH attribute list.  Returns 1, 0 for BAD (why set), -1 for an
 * unsupported event (BADEVENT).
 */
static int parse_events(const struct imap_arg *a, bool selected,
			unsigned *events_r, char **fetch_r, const char **why)
{
	const struct imap_arg *list;
	size_t count, i, j;
	unsigned ev = 0;

	*events_r = 0;
	if (imap_arg_atom_equals(a, "NONE"))
		return 1;
	if (!imap_arg_get_list(a, &list, &count) || count == 0) {
		*why = "Expected NONE or a list of events.";
		return 0;
	}
	for (i = 0; i < count; i++) {
		const char *atom;
		bool known = false;

		if (!imap_arg_get_atom(&list[i], &atom)) {
			*why = "Expected an event name.";
			return 0;
		}
		for (j = 0; j < sizeof(event_names) / sizeof(event_names[0]);
		     j++) {
			if (strcasecmp(atom, event_names[j].name) != 0)
				continue;
			known = true;
			if (event_names[j].bit == 0)
				return -1;
			ev |= event_names[j].bit;
		}
		if (!known) {
			*why = "Unknown event.";
			return 0;
		}
		if (strcasecmp(atom, "MessageNew") == 0 && i + 1 < count &&
		    imap_arg_is_list(&list[i + 1])) {
			const struct imap_arg *fl;
			size_t fn, k;
			struct buf *b;
			struct imap_fetch_items *items = NULL;
			struct imap_command *ic;
			char *e = NULL;
			struct error err;

			if (!selected) {
				*why = "FETCH attributes are for SELECTED "
				       "only.";
				return 0;
			}
			imap_arg_get_list(&list[i + 1], &fl, &fn);
			b = buf_new();
			buf_append_char(b, '(');
			for (k = 0; k < fn; k++) {
				const char *t;

				if (!imap_arg_get_atom(&fl[k], &t)) {
					buf_free(&b);
					*why = "Invalid FETCH attribute.";
					return 0;
				}
				buf_printf(b, "%s%s", k > 0 ? " " : "", t);
			}
			buf_append_char(b, ')');
			ic = imap_parse_args(buf_data(b), true, &e);
			free(e);
			if (ic == NULL ||
			    imap_fetch_items_parse(ic->args, &items, &err) <
				0) {
				imap_command_free(&ic);
				buf_free(&b);
				*why = "Invalid FETCH attributes.";
				return 0;
			}
			imap_fetch_items_free(&items);
			imap_command_free(&ic);
			free(*fetch_r);
			*fetch_r = buf_steal(b);
			buf_free(&b);
			i++;
		}
	}
	/* RFC 5465 5: these go together. */
	if ((ev & EV_FLAGS) && (ev & (EV_NEW | EV_EXPUNGE)) !=
				   (EV_NEW | EV_EXPUNGE)) {
		*why = "FlagChange needs MessageNew and MessageExpunge.";
		return 0;
	}
	if (((ev & EV_NEW) != 0) != ((ev & EV_EXPUNGE) != 0)) {
		*why = "MessageNew and MessageExpunge go together.";
		return 0;
	}
	if (selected && (ev & (EV_NAME | EV_SUBS))) {
		*why = "Mailbox events are not for SELECTED.";
		return 0;
	}
	*events_r = ev;
	return 1;
}

static struct imapd_nfy *nfy_get(struct imapd_session *s)
{
	if (s->nfy == NULL) {
		s->nfy = xcalloc(1, sizeof(*s->nfy));
		s->nfy->s = s;
		s->nfy->todo = array_new();
		s->nfy->sp.filters = array_new();
	}
	return s->nfy;
}

/* One "(filter events)" group into sp; 1, 0 BAD (why), -1 BADEVENT. */
static int parse_group(struct imapd_cmd *cmd, const struct imap_arg *arg,
		       struct nfy_spec *sp, const char **why)
{
	const struct imap_arg *g;
	size_t gc;
	const char *kind;
	unsigned ev;
	int r;
	struct nfy_filter *f;
	bool selected = false;

	if (!imap_arg_get_list(arg, &g, &gc) || gc < 2 ||
	    !imap_arg_get_atom(&g[0], &kind)) {
		*why = "Expected (filter events).";
		return 0;
	}
	f = xcalloc(1, sizeof(*f));
	f->names = array_new();
	if (strcasecmp(kind, "SELECTED") == 0 ||
	    strcasecmp(kind, "SELECTED-DELAYED") == 0) {
		selected = true;
	} else if (strcasecmp(kind, "INBOXES") == 0) {
		f->kind = F_INBOXES;
	} else if (strcasecmp(kind, "PERSONAL") == 0) {
		f->kind = F_PERSONAL;
	} else if (strcasecmp(kind, "SUBSCRIBED") == 0) {
		f->kind = F_SUBSCRIBED;
	} else if (strcasecmp(kind, "SUBTREE") == 0) {
		f->kind = F_SUBTREE;
	} else if (strcasecmp(kind, "MAILBOXES") == 0) {
		f->kind = F_MAILBOXES;
	} else {
		filter_free(f);
		*why = "Unknown mailbox filter.";
		return 0;
	}
	if (!selected && f->kind >= F_SUBTREE) {
		if (gc != 3 || !parse_names(cmd, &g[1], f->names)) {
			filter_free(f);
			*why = "Invalid mailbox list.";
			return 0;
		}
	} else if (gc != 2) {
		filter_free(f);
		*why = "Expected (filter events).";
		return 0;
	}
	r = parse_events(&g[gc - 1], selected, &ev, &sp->fetch_att, why);
	if (r <= 0 || selected) {
		filter_free(f);
		if (r > 0) {
			sp->sel_set = true;
			sp->sel_delayed = strcasecmp(kind, "SELECTED") != 0;
			sp->sel_events = ev;
		}
		return r;
	}
	f->events = ev;
	array_push(sp->filters, f);
	sp->want_root = true;
	return 1;
}

enum imapd_cmd_result imapd_cmd_notify(struct imapd_cmd *cmd)
{
	struct imapd_session *s = imapd_cmd_session(cmd);
	const struct imap_arg *args = imapd_cmd_args(cmd);
	struct imapd_nfy *n;
	struct nfy_spec sp = {0};
	const char *why = "Invalid arguments.";
	bool status = false;
	size_t i = 1, count = imap_args_count(args);
	struct error err;
	struct hash *now;
	int r;

	if (imap_arg_atom_equals(&args[0], "NONE") && count == 1) {
		if (s->nfy != NULL) {
			n = s->nfy;
			spec_clear(&n->sp);
			n->sp.filters = array_new();
			hash_free(&n->next);
			n->next = hash_new(HASH_DEFAULT, nfy_folder_free);
		}
		imapd_cmd_reply(cmd, "OK", NULL, "NOTIFY completed.");
		return IMAPD_CMD_DONE;
	}
	if (!imap_arg_atom_equals(&args[0], "SET") || count < 2)
		goto bad;
	if (imap_arg_atom_equals(&args[1], "STATUS")) {
		status = true;
		i = 2;
	}
	if (i >= count)
		goto bad;
	/* Parsed aside: a failed NOTIFY leaves the state as it was. */
	sp.filters = array_new();
	for (; i < count; i++) {
		r = parse_group(cmd, &args[i], &sp, &why);
		if (r < 0) {
			spec_clear(&sp);
			imapd_cmd_reply(cmd, "NO", BADEVENT,
					"Event not supported.");
			return IMAPD_CMD_DONE;
		}
		if (r == 0)
			goto bad;
	}
	now = folders_now(s, &err);
	if (now == NULL) {
		spec_clear(&sp);
		imapd_mailbox_error(cmd, &err);
		return IMAPD_CMD_DONE;
	}
	n = nfy_get(s);
	spec_clear(&n->sp);
	n->sp = sp;
	plan(s, now, status, imapd_cmd_out(cmd));
	hash_free(&n->known);
	n->known = now;
	imapd_cmd_reply(cmd, "OK", NULL, "NOTIFY completed.");
	return IMAPD_CMD_DONE;
bad:
	spec_clear(&sp);
	imapd_cmd_reply(cmd, "BAD", NULL, "%s", why);
	return IMAPD_CMD_DONE;
}
