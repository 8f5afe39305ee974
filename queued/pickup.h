/*
 * pickup - Postfix's pickup role in postern-queued: take the messages
 * `postern sendmail` dropped into $maildrop_directory into the queue.
 *
 * A maildrop file is one submission in the queue-socket records of
 * queue/submit.h (B F R... D... C), written under a temporary ".NAME"
 * and renamed (postern/cmd_sendmail.c).  Pickup wakes on inotify
 * (IN_MOVED_TO) and scans every $pickup_scan_interval as a backstop (and
 * once at start, for mail dropped while the system was stopped).  For
 * each file, in the worker pool: read it, check it with the daemon's own
 * submit_decoder, resolve every recipient as smtpd does (virtual_resolve:
 * aliases, alias domains, catch-alls); then on the loop: queue_msg_commit
 * (the same group commit as SMTP mail), and only once that is durable,
 * unlink the file.  A crash in between delivers the message twice at
 * worst, never zero times.
 *
 * Bad files (not a regular file, hard-linked, undecodable, too large) go
 * to $queue_directory/corrupt/maildrop-NAME with a log line.  Temporary
 * trouble (database down, queue write error) leaves the file for the next
 * scan.  Recipients that resolution refuses permanently (unknown user of a
 * hosted domain) and foreign ones are queued as given: delivery refuses
 * them and the sender gets a bounce, as with Postfix's pickup, which never
 * refuses mail synchronously.
 *
 * Threads: every function here runs on the loop thread.
 */
#ifndef POSTERN_QUEUED_PICKUP_H
#define POSTERN_QUEUED_PICKUP_H

#include "core/error.h"

struct ev;
struct conf;
struct qmgr;
struct pickup;

/* Opens its own database connection and maps (a database that is down is
 * not fatal: files wait).  NULL with err only if the maildrop folder
 * cannot be created or watched. */
struct pickup *pickup_new(struct ev *ev, struct qmgr *m,
			  const struct conf *conf, struct error *err);
/* Stop watching and scanning (SIGTERM); files in flight finish. */
void pickup_stop(struct pickup *p);
/* After the loop drained. */
void pickup_free(struct pickup **p);

#endif
