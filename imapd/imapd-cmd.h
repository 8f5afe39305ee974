/*
 * imapd-cmd.h - how one IMAP command runs: the contract between the
 * session engine (imapd-session.c: reading, parsing, dispatch, output)
 * and the command implementations (imapd-fetch.c, imapd-store.c, ...).
 *
 * The loop thread reads and parses a complete command (literals
 * included) and looks its name up in the command table.  The command's
 * run function is then called ON A WORKER THREAD (ev/worker.h), because
 * nearly every command touches the disk or the index: a slow disk or a
 * big FETCH must not stall the other sessions of the process.  A session
 * runs one command at a time, so run() may use the session's selected
 * folder and state without locking; it must not touch the io, the loop,
 * or another session.
 *
 * Output: run() appends untagged responses and finally the tagged reply
 * to imapd_cmd_out() (a struct buf, written to the client by the loop
 * when run() returns).  A command with a lot to say (FETCH of many
 * bodies) returns IMAPD_CMD_MORE after appending about
 * IMAPD_CMD_OUT_CHUNK bytes: the loop writes that, waits until the
 * client has taken most of it, and calls run() again (on a worker) with
 * the same cmd; the command keeps its position in imapd_cmd_state().
 * IMAPD_CMD_DONE ends the command; it must have appended the tagged
 * reply (imapd_cmd_reply) by then.
 *
 * Untagged updates: before its tagged OK a command that may report
 * changes calls imapd_cmd_sync(), which syncs the selected folder with
 * the disk and appends EXISTS / EXPUNGE (or VANISHED with QRESYNC) /
 * FETCH FLAGS for what other sessions changed; `allow_expunge` is false
 * for FETCH, STORE and SEARCH (RFC 3501 7.4.1: no EXPUNGE during them;
 * UID variants may).
 */
#ifndef POSTERN_IMAPD_CMD_H
#define POSTERN_IMAPD_CMD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct imap_arg;
struct imapd_cmd;
struct imapd_session;
struct mindex_folder;

/* Output appended per run() call before a command returns MORE. */
#define IMAPD_CMD_OUT_CHUNK (256 * 1024)

enum imapd_cmd_result {
	IMAPD_CMD_DONE,
	IMAPD_CMD_MORE,
};

typedef enum imapd_cmd_result imapd_cmd_fn(struct imapd_cmd *cmd);

/* Session states in which a command is allowed (a bit set). */
enum {
	IMAPD_STATE_NOAUTH = 1 << 0,
	IMAPD_STATE_AUTH = 1 << 1,
	IMAPD_STATE_SELECTED = 1 << 2,
};

/* Extensions a client turned on with ENABLE (or implied: QRESYNC implies
 * CONDSTORE; a CONDSTORE-using command enables CONDSTORE, RFC 7162 3.1). */
enum {
	IMAPD_ENABLED_CONDSTORE = 1 << 0,
	IMAPD_ENABLED_QRESYNC = 1 << 1,
	IMAPD_ENABLED_UTF8 = 1 << 2,	    /* UTF8=ACCEPT */
	IMAPD_ENABLED_IMAP4REV2 = 1 << 3,
	IMAPD_ENABLED_METADATA = 1 << 4,
};

/* One command table entry (imapd-commands.c). */
struct imapd_command_def {
	const char *name;    /* upper case: "FETCH" */
	unsigned states;     /* IMAPD_STATE_* where it is allowed */
	bool uid_allowed;    /* may follow "UID " */
	imapd_cmd_fn *run;
};

/* --- the command being run --- */
const char *imapd_cmd_tag(const struct imapd_cmd *cmd);
const char *imapd_cmd_name(const struct imapd_cmd *cmd); /* "FETCH" */
bool imapd_cmd_is_uid(const struct imapd_cmd *cmd);	 /* "UID FETCH" */
/* The arguments after the command name (lib/imap/imap_parser.h), ending
 * with an IMAP_ARG_EOL entry. */
const struct imap_arg *imapd_cmd_args(const struct imapd_cmd *cmd);
struct imapd_session *imapd_cmd_session(struct imapd_cmd *cmd);
/* Where run() writes (raw IMAP: the caller formats CRLF-ended lines). */
struct buf *imapd_cmd_out(struct imapd_cmd *cmd);
/* Per-command state for IMAPD_CMD_MORE continuations; freed with
 * free_fn (may be NULL) when the command ends. */
void *imapd_cmd_state(struct imapd_cmd *cmd);
void imapd_cmd_set_state(struct imapd_cmd *cmd, void *state,
			 void (*free_fn)(void *state));

/*
 * Append the tagged reply "TAG OK|NO|BAD [text]" + CRLF.  `code` is a
 * response code without brackets ("TRYCREATE", "COPYUID 1 2 3") or
 * NULL.
 */
void imapd_cmd_reply(struct imapd_cmd *cmd, const char *status,
		     const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sync the selected folder and append the untagged updates (see above).
 * Returns -1 when the folder cannot be read (the reply is then NO). */
int imapd_cmd_sync(struct imapd_cmd *cmd, bool allow_expunge);

/* --- the session, as commands see it --- */
/* The selected folder (NULL when not in the selected state). */
struct mindex_folder *imapd_session_folder(struct imapd_session *s);
bool imapd_session_readonly(const struct imapd_session *s); /* EXAMINE */
unsigned imapd_session_enabled(const struct imapd_session *s);
void imapd_session_enable(struct imapd_session *s, unsigned bits);
/* SEARCHRES (RFC 5182): the UIDs saved by SEARCH ... RETURN (SAVE),
 * referred to as "$". */
const uint32_t *imapd_session_saved(const struct imapd_session *s,
				    size_t *count_r);
void imapd_session_set_saved(struct imapd_session *s, const uint32_t *uids,
			     size_t count);
/* The logged-in user's address ("user@example.org"), for logs. */
const char *imapd_session_user(const struct imapd_session *s);

/* --- message commands, implemented in their own files --- */
imapd_cmd_fn imapd_cmd_fetch;	/* FETCH, UID FETCH (imapd-fetch.c) */
imapd_cmd_fn imapd_cmd_store;	/* STORE, UID STORE (imapd-store.c) */
imapd_cmd_fn imapd_cmd_search;	/* SEARCH, UID SEARCH (imapd-search.c) */
imapd_cmd_fn imapd_cmd_copy;	/* COPY, UID COPY (imapd-copy.c) */
imapd_cmd_fn imapd_cmd_move;	/* MOVE, UID MOVE (imapd-copy.c) */
imapd_cmd_fn imapd_cmd_expunge; /* EXPUNGE, UID EXPUNGE (imapd-expunge.c) */
imapd_cmd_fn imapd_cmd_sort;	/* SORT, UID SORT (imapd-sort.c) */
imapd_cmd_fn imapd_cmd_thread;	/* THREAD, UID THREAD (imapd-sort.c) */

#endif
