#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

static void test_durations(void **state)
{
	static const struct {
		const char *in;
		char unit;
		int64_t secs;
	} good[] = {
		{"0", 's', 0},      {"10s", 's', 10},  {"5m", 's', 300},
		{"2h", 's', 7200},  {"1d", 's', 86400}, {"1w", 's', 604800},
		{"3", 'd', 259200}, {"100", 's', 100},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t v = -1;
		struct error err;
		assert_int_equal(time_parse_duration(good[i].in, good[i].unit,
						     &v, &err),
				 0);
		assert_int_equal(v, good[i].secs);
	}
	static const char *bad[] = {"", "s", "-1", "10x", "10ss", "1 s",
				    "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v;
		struct error err;
		assert_int_equal(time_parse_duration(bad[i], 's', &v, &err),
				 -1);
		assert_int_equal(err.kind, ERR_CONFIG);
	}
}

static void test_formats(void **state)
{
	char out[64];
	setenv("TZ", "UTC", 1);
	time_format_rfc5322(0, out, sizeof(out));
	assert_string_equal(out, "Thu, 1 Jan 1970 00:00:00 +0000");
	time_format_iso8601(1795746183, out, sizeof(out));
	assert_string_equal(out, "2026-11-27T02:23:03Z");
}

static void test_clocks_move_forward(void **state)
{
	int64_t a = time_mono_ms();
	int64_t b = time_mono_ms();
	assert_true(b >= a);
	assert_true(time_wall_ms() > 1700000000000LL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_clocks_move_forward),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
