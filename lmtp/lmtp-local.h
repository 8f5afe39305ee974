/*
 * lmtp-local - local delivery for postern-lmtpd: recipient resolution
 * (virtual_mailbox_maps, quota from SQL) and delivery into the Maildir
 * store, as Dovecot's lmtp-local.c.
 *
 * struct lmtp_backend bundles what one configuration needs: the settings,
 * the database, the mailbox map and the store.  It is reference counted
 * because a reload builds a new one while sessions and worker jobs still
 * use the old: each session and each job holds a reference, taken and
 * dropped on the loop thread only.
 *
 * lmtp_local_rcpt() and lmtp_local_deliver() BLOCK (SQL, fsync): they
 * run on worker threads (ev/worker.h), never on the loop.  They fill the
 * recipient's reply and never fail otherwise; the mapping of errors to
 * replies is:
 *   not hosted / inactive          550 5.1.1
 *   map or database failure        451 4.3.0 (never 5xx: retried later)
 *   map or database not openable   451 4.3.5 (configuration problem)
 *   over quota                     452 4.2.2, or 552 5.2.2 with
 *                                  quota_exceeded_permanent = yes
 *   disk full (ENOSPC, EDQUOT)     452 4.3.1
 *   other store errors             451 4.3.0
 * Logging: failures are logged here with the session id; the outcome
 * line per recipient is the session's.
 */
#ifndef POSTERN_LMTP_LOCAL_H
#define POSTERN_LMTP_LOCAL_H

#include "conf/conf.h"
#include "core/error.h"
#include "lmtp/lmtp_session.h"
#include "lmtp-settings.h"

struct lmtp_backend;

/*
 * Open the database, the map and the store for conf.  NULL with err
 * (ERR_CONFIG) only for settings that cannot work; a database or map
 * that cannot be opened is logged and makes every lookup answer
 * 451 4.3.5 instead, so the daemon stays up until a reload fixes it.
 */
struct lmtp_backend *lmtp_backend_new(const struct conf *conf,
				      struct error *err);
void lmtp_backend_ref(struct lmtp_backend *be);
/* Drop a reference; the last one frees.  NULLs *be. */
void lmtp_backend_unref(struct lmtp_backend **be);
const struct lmtp_settings *
lmtp_backend_settings(const struct lmtp_backend *be);

/* Worker thread: resolve rcpt (see lmtp/lmtp_session.h's rcpt op); its
 * backend_data becomes this file's own (the mailbox and its quota). */
void lmtp_local_rcpt(struct lmtp_backend *be, const char *session_id,
		     struct lmtp_recipient *rcpt, uint64_t size_hint);
/* Free what lmtp_local_rcpt attached (loop or worker thread). */
void lmtp_local_rcpt_free(struct lmtp_recipient *rcpt);
/* Worker thread: deliver the spool file fd (read from offset 0) to every
 * recipient of msg, filling their replies.  With full_text_index on,
 * each delivered message is added to *index (created when NULL) for
 * lmtp-index.h to index after the replies; index may be NULL. */
struct fts_batch;
struct fts_min_free;
void lmtp_local_deliver(struct lmtp_backend *be, const struct lmtp_message *msg,
			int fd, struct fts_batch **index);
/* full_text_min_free of this configuration. */
const struct fts_min_free *lmtp_backend_fts_min(const struct lmtp_backend *be);

/*
 * An anonymous temporary file for one message below dir (created if
 * missing): O_TMPFILE, or a file unlinked at once where the file system
 * lacks it.  Returns the fd (read-write, close-on-exec) or -1 with
 * ERR_TEMP.
 */
int lmtp_spool_open(const char *dir, struct error *err);

#endif
