#include "timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int64_t time_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t unit_seconds(char unit)
{
	switch (unit) {
	case 's':
		return 1;
	case 'm':
		return 60;
	case 'h':
		return 3600;
	case 'd':
		return 86400;
	case 'w':
		return 7 * 86400;
	}
	return 0;
}

int time_parse_duration(const char *s, char default_unit, int64_t *secs_r,
			struct error *err)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return error_set(err, ERR_CONFIG, "bad time value \"%s\"", s);
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno != 0)
		return error_set(err, ERR_CONFIG, "time value out of range \"%s\"",
				 s);
	char unit = *end ? *end : default_unit;
	if (*end && end[1] != '\0')
		return error_set(err, ERR_CONFIG, "bad time unit in \"%s\"", s);
	int64_t mult = unit_seconds(unit);
	if (mult == 0)
		return error_set(err, ERR_CONFIG,
				 "bad time unit in \"%s\" (use s, m, h, d or w)",
				 s);
	if (n > INT64_MAX / mult)
		return error_set(err, ERR_CONFIG, "time value out of range \"%s\"",
				 s);
	*secs_r = (int64_t)n * mult;
	return 0;
}

void time_format_rfc5322(time_t t, char *out, size_t outlen)
{
	struct tm tm;
	localtime_r(&t, &tm);
	/* %a/%b are locale-dependent; RFC 5322 wants English names. */
	static const char *days[] = {"Sun", "Mon", "Tue", "Wed",
				     "Thu", "Fri", "Sat"};
	static const char *months[] = {"Jan", "Feb", "Mar", "Apr",
				       "May", "Jun", "Jul", "Aug",
				       "Sep", "Oct", "Nov", "Dec"};
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	snprintf(out, outlen, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
		 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
		 off / 60, off % 60);
}

void time_format_iso8601(time_t t, char *out, size_t outlen)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
