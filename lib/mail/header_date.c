/*
 * header_date - RFC 5322 3.3 date-time with the obsolete forms of 4.3
 * (see header.h).
 */
#include "mail/header.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

struct dctx {
	const char *s;
	size_t n, pos;
};

static void skip_cfws(struct dctx *d)
{
	int depth = 0;
	while (d->pos < d->n) {
		char c = d->s[d->pos];
		if (depth > 0) {
			if (c == '\\')
				d->pos++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			d->pos++;
		} else if (c == '(') {
			depth = 1;
			d->pos++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			d->pos++;
		} else {
			break;
		}
	}
}

/* Up to max_digits digits: the count read (0: none). */
static int read_num(struct dctx *d, int max_digits, int *v)
{
	int n = 0;
	*v = 0;
	while (d->pos < d->n && n < max_digits &&
	       isdigit((unsigned char)d->s[d->pos])) {
		*v = *v * 10 + (d->s[d->pos] - '0');
		d->pos++;
		n++;
	}
	return n;
}

static size_t read_alpha(struct dctx *d, char *w, size_t size)
{
	size_t n = 0;
	while (d->pos < d->n && isalpha((unsigned char)d->s[d->pos])) {
		if (n + 1 < size)
			w[n++] = d->s[d->pos];
		d->pos++;
	}
	w[n] = '\0';
	return n;
}

static int month_of(const char *w)
{
	static const char *const months[] = {"jan", "feb", "mar", "apr",
					     "may", "jun", "jul", "aug",
					     "sep", "oct", "nov", "dec"};
	if (strlen(w) < 3)
		return -1;
	for (int i = 0; i < 12; i++) {
		if (strncasecmp(w, months[i], 3) == 0)
			return i;
	}
	return -1;
}

/* Zone offset in minutes of an alphabetic zone, or false. */
static bool zone_of(const char *w, int *tz)
{
	static const struct {
		const char *name;
		int min;
	} zones[] = {
		{"UT", 0},	 {"UTC", 0},	{"GMT", 0},	  {"Z", 0},
		{"EST", -300},	 {"EDT", -240}, {"CST", -360},	  {"CDT", -300},
		{"MST", -420},	 {"MDT", -360}, {"PST", -480},	  {"PDT", -420},
		{"CET", 60},	 {"CEST", 120}, {"BST", 60},	  {"MET", 60},
		{"MEST", 120},	 {"EET", 120},	{"EEST", 180},	  {"JST", 540},
		{"IST", 330},
	};
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		if (strcasecmp(w, zones[i].name) == 0) {
			*tz = zones[i].min;
			return true;
		}
	}
	/* Military single letters: RFC 5322 4.3 says treat as +0000
	 * since RFC 822 had their signs backwards. */
	if (strlen(w) == 1) {
		*tz = 0;
		return true;
	}
	return false;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), m 0-based. */
static long long days_from_civil(long long y, int m, int d)
{
	m += 1;
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	long long yoe = y - era * 400;
	long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool header_date_parse(const char *value, size_t len, time_t *t_r,
		       int *tz_min_r)
{
	struct dctx d = {.s = value, .n = len};
	char w[16];
	int day, mon, year, hh, mm, ss = 0, tz = 0;

	skip_cfws(&d);
	/* [day-of-week ","] */
	if (d.pos < d.n && isalpha((unsigned char)d.s[d.pos])) {
		read_alpha(&d, w, sizeof(w));
		skip_cfws(&d);
		if (d.pos < d.n && d.s[d.pos] == ',')
			d.pos++;
		skip_cfws(&d);
	}
	if (read_num(&d, 2, &day) == 0)
		return false;
	skip_cfws(&d);
	if (d.pos < d.n && d.s[d.pos] == '-')
		d.pos++; /* "27-Nov-2026" */
	read_alpha(&d, w, sizeof(w));
	if ((mon = month_of(w)) < 0)
		return false;
	skip_cfws(&d);
	if (d.pos < d.n && d.s[d.pos] == '-')
		d.pos++;
	int ydigits = read_num(&d, 4, &year);
	if (ydigits == 0)
		return false;
	if (ydigits <= 2)
		year += year < 50 ? 2000 : 1900; /* RFC 5322 4.3 */
	else if (ydigits == 3)
		year += 1900;
	skip_cfws(&d);
	if (read_num(&d, 2, &hh) == 0)
		return false;
	skip_cfws(&d);
	if (d.pos >= d.n || d.s[d.pos] != ':')
		return false;
	d.pos++;
	skip_cfws(&d);
	if (read_num(&d, 2, &mm) == 0)
		return false;
	skip_cfws(&d);
	if (d.pos < d.n && d.s[d.pos] == ':') {
		d.pos++;
		skip_cfws(&d);
		if (read_num(&d, 2, &ss) == 0)
			return false;
		skip_cfws(&d);
	}
	if (d.pos < d.n && (d.s[d.pos] == '+' || d.s[d.pos] == '-')) {
		int sign = d.s[d.pos] == '-' ? -1 : 1, v;
		d.pos++;
		if (read_num(&d, 4, &v) != 4)
			return false;
		/* As for minutes, a zone of 24 hours or more is no zone:
		 * the date does not parse (the fuzzer's "-8330"). */
		if (v % 100 >= 60 || v / 100 >= 24)
			return false;
		tz = sign * ((v / 100) * 60 + v % 100);
	} else if (d.pos < d.n && isalpha((unsigned char)d.s[d.pos])) {
		read_alpha(&d, w, sizeof(w));
		if (!zone_of(w, &tz))
			tz = 0;
	} /* no zone at all: treat as UTC, like Dovecot */
	if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
		return false;
	long long days = days_from_civil(year, mon, day);
	long long t = days * 86400LL + hh * 3600LL + mm * 60LL + ss -
		      tz * 60LL;
	*t_r = (time_t)t;
	*tz_min_r = tz;
	return true;
}
