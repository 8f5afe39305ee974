/*
 * services - the services table, the role of Postfix's master.cf.
 *
 * One line per service (docs/services.md):
 *
 *   # name     type listen                      tls      procs command
 *   smtp       inet $inet_interfaces:$smtp_port starttls 2     postern-smtpd
 *   lmtp-unix  unix $lmtp_socket                none     1     postern-lmtpd
 *
 * `#` starts a comment line, a line starting with white space continues
 * the previous entry.  The listen column is a comma-separated list; an
 * inet entry is HOSTS:PORT where HOSTS may expand to a list ("127.0.0.1,
 * ::1"), which yields one address per host.  $name and ${name} expand to
 * main.cf parameters when the table is loaded.  The command is a program
 * name looked up in $daemon_directory, followed by its arguments; `-o
 * name=value` overrides are checked here (known name) and passed to the
 * daemon as written.
 *
 * Errors are ERR_CONFIG with a message "FILE:LINE: ...".  A loaded table
 * is immutable; strings in it live as long as the struct services.
 */
#ifndef POSTERN_SERVER_SERVICES_H
#define POSTERN_SERVER_SERVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"
#include "core/error.h"

enum service_type { SERVICE_INET, SERVICE_UNIX };

enum service_tls {
	SERVICE_TLS_NONE,     /* plain text only */
	SERVICE_TLS_STARTTLS, /* plain text, TLS offered after STARTTLS */
	SERVICE_TLS_IMPLICIT, /* TLS handshake first (465, 993) */
};

/* Upper bound of the procs column. */
#define SERVICE_PROCS_MAX 64
/* Listen addresses of one service (after list expansion). */
#define SERVICE_ADDRS_MAX 32

struct service_addr {
	enum service_type type;
	char *host;    /* inet: without brackets ("::1") */
	unsigned port; /* inet */
	char *path;    /* unix */
	char *text;    /* "127.0.0.1:2525", "[::1]:2525" or the path */
};

struct service_def {
	char *name;
	enum service_type type;
	struct service_addr *addrs;
	size_t naddrs;
	enum service_tls tls;
	int procs;
	char **argv; /* command and arguments, NULL-terminated */
	size_t argc;
	char *origin; /* "FILE:LINE" of the entry, for messages */
};

struct services;

/* Read and parse PATH, expanding $name from conf. */
struct services *services_load(const char *path, const struct conf *conf,
			       struct error *err);
/* Parse LEN bytes of text; ORIGIN names it in messages (tests, fuzzing). */
struct services *services_parse(const char *origin, const char *text,
				size_t len, const struct conf *conf,
				struct error *err);
void services_free(struct services **svcs);

size_t services_count(const struct services *svcs);
/* The i-th entry in file order (i < services_count), borrowed. */
const struct service_def *services_at(const struct services *svcs, size_t i);
/* The entry called NAME, or NULL. */
const struct service_def *services_find(const struct services *svcs,
					const char *name);

/*
 * Do two entries describe the same sockets and program (everything but
 * the procs column and the origin)?  The master keeps a service's
 * listeners and children across a reload only when this holds.
 */
bool service_def_same(const struct service_def *a, const struct service_def *b);

/* "none", "starttls", "implicit"; and back (-1 if unknown). */
const char *service_tls_name(enum service_tls tls);
int service_tls_parse(const char *s, enum service_tls *tls_r);
const char *service_type_name(enum service_type type);

/*
 * Open a listening socket for one address (non-blocking, close-on-exec;
 * unix sockets mode 0666 after creating their folder): the fd, or -1 with
 * err naming the address ("listen 127.0.0.1:2525: Address already in
 * use").
 */
int service_addr_listen(const struct service_addr *addr, struct error *err);

/* The default table, as text (static storage). */
const char *services_default_text(void);
/*
 * Write the default table to PATH (creating or replacing it atomically,
 * mode 0644).  Used by `postern init`.
 */
int services_write_default(const char *path, struct error *err);

#endif
