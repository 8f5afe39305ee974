/* header_subject - RFC 5256 2.1 base subject (see header.h). */
#include "mail/header.h"

#include <string.h>
#include <strings.h>

/* Remove s[0..*len)'s subj-trailer "(fwd)" and trailing blanks. */
static bool strip_trailer(const char *s, size_t *len)
{
	bool changed = false;
	for (;;) {
		while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t')) {
			(*len)--;
			changed = true;
		}
		if (*len >= 5 && strncasecmp(s + *len - 5, "(fwd)", 5) == 0) {
			*len -= 5;
			changed = true;
			continue;
		}
		return changed;
	}
}

/* Skip "[blob]" and blanks; returns bytes used (0 if not a blob). */
static size_t blob(const char *s, size_t len)
{
	if (len == 0 || s[0] != '[')
		return 0;
	size_t i = 1;
	while (i < len && s[i] != ']' && s[i] != '[')
		i++;
	if (i >= len || s[i] != ']')
		return 0;
	i++;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
static size_t refwd(const char *s, size_t len)
{
	size_t i;
	if (len >= 2 && strncasecmp(s, "re", 2) == 0)
		i = 2;
	else if (len >= 3 && strncasecmp(s, "fwd", 3) == 0)
		i = 3;
	else if (len >= 2 && strncasecmp(s, "fw", 2) == 0)
		i = 2;
	else
		return 0;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	i += blob(s + i, len - i);
	if (i < len && s[i] == ':')
		return i + 1;
	return 0;
}

void header_base_subject(const char *value, size_t len, struct buf *out)
{
	struct buf *dec = buf_new();
	header_decode_2047(value, len, dec);
	/* Collapse blank runs into one space. */
	struct buf *b = buf_new();
	const char *d = buf_data(dec);
	bool sp = false;
	for (size_t i = 0; i < buf_len(dec); i++) {
		if (d[i] == ' ' || d[i] == '\t') {
			sp = true;
			continue;
		}
		if (sp && buf_len(b) > 0)
			buf_append_char(b, ' ');
		sp = false;
		buf_append_char(b, d[i]);
	}
	const char *s = buf_data(b);
	size_t n = buf_len(b);
	for (;;) {
		bool changed = strip_trailer(s, &n);
		for (;;) {
			size_t used = refwd(s, n);
			if (used == 0) {
				size_t bl = blob(s, n);
				/* Drop a blob only if something remains. */
				if (bl > 0 && bl < n) {
					used = bl;
				}
			}
			if (used == 0)
				break;
			while (used < n && (s[used] == ' ' || s[used] == '\t'))
				used++;
			s += used;
			n -= used;
			changed = true;
		}
		/* [fwd: subject] */
		if (n >= 6 && strncasecmp(s, "[fwd:", 5) == 0 && s[n - 1] == ']') {
			s += 5;
			n -= 6;
			while (n > 0 && *s == ' ') {
				s++;
				n--;
			}
			changed = true;
		}
		if (!changed)
			break;
	}
	buf_reset(out);
	buf_append(out, s, n);
	buf_free(&b);
	buf_free(&dec);
}
