/*
 * session - one connection on the queue socket (protocol: queue/submit.h).
 * The session owns the fd and calls server_conn_done() when it ends.
 */
#ifndef POSTERN_QUEUED_SESSION_H
#define POSTERN_QUEUED_SESSION_H

struct server;
struct qmgr;

void session_new(struct server *srv, struct qmgr *m, int fd);

#endif
