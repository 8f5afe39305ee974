#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum target { TARGET_STDERR, TARGET_FILE, TARGET_SYSLOG };

static char progname[64] = "postern";
static enum target target = TARGET_STDERR;
static int file_fd = -1;
static char file_path[4096];
static unsigned trace_mask;
static pthread_mutex_t reopen_lock = PTHREAD_MUTEX_INITIALIZER;

void log_init(const char *name)
{
	snprintf(progname, sizeof(progname), "%s", name);
}

const char *log_progname(void)
{
	return progname;
}

void log_to_stderr(void)
{
	target = TARGET_STDERR;
}

int log_to_file(const char *path, struct error *err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return error_set(err, ERR_CONFIG, "cannot open log file %s: %s",
				 path, strerror(errno));
	pthread_mutex_lock(&reopen_lock);
	if (file_fd >= 0)
		close(file_fd);
	file_fd = fd;
	snprintf(file_path, sizeof(file_path), "%s", path);
	target = TARGET_FILE;
	pthread_mutex_unlock(&reopen_lock);
	return 0;
}

static const struct {
	const char *name;
	int value;
} facilities[] = {
	{"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
	{"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
	{"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
	{"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

int log_to_syslog(const char *facility, struct error *err)
{
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
		if (strcmp(facilities[i].name, facility) == 0) {
			openlog(progname, LOG_PID | LOG_NDELAY,
				facilities[i].value);
			target = TARGET_SYSLOG;
			return 0;
		}
	}
	return error_set(err, ERR_CONFIG, "unknown syslog facility \"%s\"",
			 facility);
}

void log_reopen(void)
{
	if (target != TARGET_FILE)
		return;
	struct error err;
	char path[sizeof(file_path)];
	pthread_mutex_lock(&reopen_lock);
	memcpy(path, file_path, sizeof(path));
	pthread_mutex_unlock(&reopen_lock);
	if (log_to_file(path, &err) < 0)
		log_warn("%s", err.msg);
}

static const char *trace_names[] = {"io", "sql", "dns", "tls",
				    "conf", "map", "ev"};

int log_parse_trace(const char *spec, unsigned *mask_r, struct error *err)
{
	unsigned mask = 0;
	const char *p = spec;
	while (*p) {
		size_t n = strcspn(p, ", \t");
		if (n > 0) {
			bool found = false;
			if (n == 3 && strncmp(p, "all", 3) == 0) {
				mask = LOG_TRACE_ALL;
				found = true;
			}
			for (size_t i = 0; !found && i < sizeof(trace_names) /
						   sizeof(trace_names[0]);
			     i++) {
				if (strlen(trace_names[i]) == n &&
				    strncmp(p, trace_names[i], n) == 0) {
					mask |= 1u << i;
					found = true;
				}
			}
			if (!found)
				return error_set(err, ERR_CONFIG,
						 "unknown trace class \"%.*s\"",
						 (int)n, p);
		}
		p += n;
		p += strspn(p, ", \t");
	}
	*mask_r = mask;
	return 0;
}

void log_set_trace(unsigned mask)
{
	trace_mask = mask;
}

bool log_tracing(unsigned mask)
{
	return (trace_mask & mask) != 0;
}

static int syslog_priority(const char *severity)
{
	if (severity == NULL)
		return LOG_INFO;
	if (strcmp(severity, "warning") == 0)
		return LOG_WARNING;
	if (strcmp(severity, "debug") == 0)
		return LOG_DEBUG;
	if (strcmp(severity, "error") == 0)
		return LOG_ERR;
	return LOG_CRIT;
}

void log_vmsg(const char *severity, const char *fmt, va_list ap)
{
	char line[4096];
	size_t n = 0;
	int saved_errno = errno;

	if (target == TARGET_SYSLOG) {
		char text[4000];
		vsnprintf(text, sizeof(text), fmt, ap);
		if (severity)
			syslog(syslog_priority(severity), "%s: %s", severity,
			       text);
		else
			syslog(LOG_INFO, "%s", text);
		errno = saved_errno;
		return;
	}
	if (target == TARGET_FILE) {
		struct timeval tv;
		struct tm tm;
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		n += strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ ",
				      (long)(tv.tv_usec / 1000));
	}
	n += (size_t)snprintf(line + n, sizeof(line) - n, "%s[%ld]: ",
			      progname, (long)getpid());
	if (severity && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s: ",
				      severity);
	if (n < sizeof(line)) {
		int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (m > 0)
			n += (size_t)m;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* truncated: keep the newline */
	line[n++] = '\n';
	int fd = target == TARGET_FILE && file_fd >= 0 ? file_fd : STDERR_FILENO;
	(void)!write(fd, line, n);
	errno = saved_errno;
}

#define LOG_FN(name, sev)                       \
	void name(const char *fmt, ...)         \
	{                                       \
		va_list ap;                     \
		va_start(ap, fmt);              \
		log_vmsg(sev, fmt, ap);         \
		va_end(ap);                     \
	}

LOG_FN(log_info, NULL)
LOG_FN(log_warn, "warning")
LOG_FN(log_error, "error")

void log_debug(unsigned mask, const char *fmt, ...)
{
	if (!log_tracing(mask))
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vmsg("debug", fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg("fatal", fmt, ap);
	va_end(ap);
	exit(1);
}

void panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg("panic", fmt, ap);
	va_end(ap);
	abort();
}
