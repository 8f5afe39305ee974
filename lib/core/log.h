/*
 * log - the one logging API of Postern.
 *
 * Lines look like Postfix's: `postern/smtpd[1234]: 3F2A1B: from=<a@b>, size=12`
 * The caller puts the session or queue id first and key=value fields after
 * it; warnings, errors and fatal lines get a `warning: `, `error: ` or
 * `fatal: ` prefix before the text.  Each line goes out in one write(), so
 * lines from threads and from processes sharing a file never interleave.
 *
 * Targets: stderr (default; journald and docker collect it), a file
 * (timestamped lines, reopened by log_reopen() after rotation), or syslog.
 * Debug lines are gated by a trace mask (LOG_TRACE_*), set from config.
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "error.h"

enum log_trace {
	LOG_TRACE_IO = 1 << 0,
	LOG_TRACE_SQL = 1 << 1,
	LOG_TRACE_DNS = 1 << 2,
	LOG_TRACE_TLS = 1 << 3,
	LOG_TRACE_CONF = 1 << 4,
	LOG_TRACE_MAP = 1 << 5,
	LOG_TRACE_EV = 1 << 6,
	LOG_TRACE_ALL = 0x7fffffff,
};

/* Name used in every line, e.g. "postern/smtpd".  Call once, early. */
void log_init(const char *progname);
const char *log_progname(void);

/* Send lines to stderr (the default). */
void log_to_stderr(void);
/* Append timestamped lines to `path`; -1 with err if it cannot be opened. */
int log_to_file(const char *path, struct error *err);
/* Send lines to syslog with the named facility ("mail", "local0"...). */
int log_to_syslog(const char *facility, struct error *err);
/* Reopen the log file (after logrotate); no-op for other targets. */
void log_reopen(void);

/* Parse "io,sql" / "all" / "" into a mask; -1 with err on an unknown word. */
int log_parse_trace(const char *spec, unsigned *mask_r, struct error *err);
void log_set_trace(unsigned mask);
bool log_tracing(unsigned mask);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logged only when `mask` is enabled in the trace mask. */
void log_debug(unsigned mask, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(const char *severity, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Bad environment or configuration at start-up: log and exit(1). */
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
/* A broken internal contract: log and abort() for a core dump. */
void panic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#define ASSERT(cond)                                                     \
	do {                                                             \
		if (!(cond))                                             \
			panic("assertion failed: %s (%s:%d)", #cond,    \
			      __FILE__, __LINE__);                       \
	} while (0)

#endif
