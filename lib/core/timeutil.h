/*
 * timeutil - clocks, durations and mail date formats.
 *
 * Monotonic time for timers and timeouts (never jumps), wall time for
 * headers and the database.  Durations use Postfix's units: a number with
 * an optional s, m, h, d or w suffix ("400s", "5d").
 */
#ifndef POSTERN_TIMEUTIL_H
#define POSTERN_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

/* Milliseconds on the monotonic clock. */
int64_t time_mono_ms(void);
/* Milliseconds since the epoch (wall clock). */
int64_t time_wall_ms(void);

/*
 * Parse a duration such as "300", "10s", "5m", "1h", "2d", "1w" into
 * seconds; `default_unit` ('s', 'm', ...) applies to a bare number, as in
 * Postfix.  -1 with err on a malformed value or overflow.
 */
int time_parse_duration(const char *s, char default_unit, int64_t *secs_r,
			struct error *err);

/* RFC 5322 date ("Fri, 27 Nov 2026 02:23:03 +0000") into out. */
void time_format_rfc5322(time_t t, char *out, size_t outlen);
/* ISO 8601 UTC ("2026-11-27T02:23:03Z") into out (for SQL and JSON). */
void time_format_iso8601(time_t t, char *out, size_t outlen);

#endif
