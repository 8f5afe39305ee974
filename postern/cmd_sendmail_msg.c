/*
 * cmd_sendmail_msg.c - the message rewriting of `postern sendmail`
 * (sendmail_msg.h).  Named cmd_* only so the postern target's glob
 * compiles it; it has no subcommand of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/str.h"
#include "core/timeutil.h"
#include "core/xmalloc.h"
#include "mail/address.h"

#include "sendmail_msg.h"

int sendmail_qualify(const char *addr, const char *myhostname, struct buf *out,
		     struct error *err)
{
	size_t len = strlen(addr);
	struct buf *full;
	int ret;

	if (len >= 2 && addr[0] == '<' && addr[len - 1] == '>') {
		addr++;
		len -= 2;
	}
	buf_reset(out);
	if (len == 0)
		return 0;
	full = buf_new();
	buf_append(full, addr, len);
	/* No '@' outside quotes: a local name, which Postfix qualifies with
	 * $myorigin; we have $myhostname. */
	if (memchr(addr, '@', len) == NULL)
		buf_printf(full, "@%s", myhostname);
	ret = address_normalize(buf_data(full), ADDRESS_IDN, out, err);
	if (ret < 0)
		error_prefix(err, "<%s>", buf_data(full));
	buf_free(&full);
	return ret;
}

/* Skip a comment starting at s[i] == '(' (nested, quoted-pairs). */
static size_t skip_comment(const char *s, size_t len, size_t i)
{
	int depth = 0;

	for (; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		else if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth == 0)
			return i + 1;
	}
	return len;
}

/* Copy a quoted string starting at s[i] == '"' to out; index after it. */
static size_t copy_quoted(const char *s, size_t len, size_t i, struct buf *out)
{
	buf_append_char(out, s[i++]);
	for (; i < len; i++) {
		buf_append_char(out, s[i]);
		if (s[i] == '\\' && i + 1 < len)
			buf_append_char(out, s[++i]);
		else if (s[i] == '"')
			return i + 1;
	}
	return len;
}

/* One mailbox of the list: its <angle> part if it had one, else the
 * addr-spec text with comments and folding whitespace removed. */
static int finish_mailbox(struct buf *text, struct buf *angle, bool had_angle,
			  const char *myhostname, struct array *rcpts,
			  struct error *err)
{
	struct buf *src = had_angle ? angle : text;
	struct buf *out;
	char *copy, *a;
	int ret = 0;

	copy = xstrdup(buf_data(src));
	a = str_trim(copy);
	/* An obsolete source route "<@a,@b:user@c>" is dropped. */
	if (had_angle && a[0] == '@' && strchr(a, ':') != NULL)
		memmove(a, strchr(a, ':') + 1, strlen(strchr(a, ':') + 1) + 1);
	if (a[0] != '\0') {
		out = buf_new();
		ret = sendmail_qualify(a, myhostname, out, err);
		if (ret == 0 && buf_len(out) > 0)
			array_push(rcpts, buf_steal(out));
		buf_free(&out);
	}
	free(copy);
	buf_reset(text);
	buf_reset(angle);
	return ret;
}

int sendmail_parse_address_list(const char *s, size_t len,
				const char *myhostname, struct array *rcpts,
				struct error *err)
{
	struct buf *text = buf_new(), *angle = buf_new();
	bool had_angle = false, in_angle = false;
	int ret = 0;
	size_t i = 0;

	while (i < len && ret == 0) {
		char c = s[i];

		if (c == '(') {
			i = skip_comment(s, len, i);
		} else if (c == '"') {
			i = copy_quoted(s, len, i, in_angle ? angle : text);
		} else if (in_angle) {
			if (c == '>')
				in_angle = false;
			else if (c != ' ' && c != '\t' && c != '\r' &&
				 c != '\n')
				buf_append_char(angle, c);
			i++;
		} else if (c == '<') {
			/* Whatever came before was a display name. */
			in_angle = had_angle = true;
			buf_reset(angle);
			i++;
		} else if (c == ':') {
			/* "group-name:" - the name is not an address. */
			buf_reset(text);
			had_angle = false;
			i++;
		} else if (c == ',' || c == ';') {
			ret = finish_mailbox(text, angle, had_angle, myhostname,
					     rcpts, err);
			had_angle = false;
			i++;
		} else {
			if (c != '\r' && c != '\n')
				buf_append_char(text, c == '\t' ? ' ' : c);
			i++;
		}
	}
	if (ret == 0)
		ret = finish_mailbox(text, angle, had_angle, myhostname, rcpts,
				     err);
	buf_free(&text);
	buf_free(&angle);
	return ret;
}

/* A header field's first line: field-name ":" (RFC 5322 2.2). */
static size_t field_name_len(const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == ':')
			return i;
		if (c < 33 || c > 126)
			return 0;
	}
	return 0;
}

struct line {
	const char *p;
	size_t len;
};

/* The input split into lines without their LF / CRLF, up to EOF or a
 * lone "." (unless ignore_dots). */
static struct line *split_lines(const char *in, size_t len, bool ignore_dots,
				size_t *n_r)
{
	struct line *lines = NULL;
	size_t n = 0, cap = 0, i = 0;

	while (i < len) {
		const char *nl = memchr(in + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - in) : len;
		size_t l = end - i;

		if (l > 0 && in[i + l - 1] == '\r')
			l--;
		if (!ignore_dots && l == 1 && in[i] == '.')
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			lines = xreallocarray(lines, cap, sizeof(*lines));
		}
		lines[n].p = in + i;
		lines[n].len = l;
		n++;
		i = nl != NULL ? end + 1 : len;
	}
	*n_r = n;
	return lines;
}

static bool name_is(const struct line *l, size_t name_len, const char *name)
{
	return name_len == strlen(name) &&
	       strncasecmp(l->p, name, name_len) == 0;
}

/* From: for a message without one: -F's name (as a quoted string) and
 * the envelope sender; -f <> still needs an author: the mailer itself. */
static void add_from(struct buf *out, const struct sendmail_opts *o)
{
	const char *name = o->full_name;

	buf_append_str(out, "From: ");
	if (name != NULL && name[0] != '\0') {
		buf_append_char(out, '"');
		for (; *name != '\0'; name++) {
			if (*name == '\r' || *name == '\n')
				continue;
			if (*name == '"' || *name == '\\')
				buf_append_char(out, '\\');
			buf_append_char(out, *name);
		}
		buf_append_str(out, "\" <");
	}
	if (o->sender[0] != '\0')
		buf_append_str(out, o->sender);
	else
		buf_printf(out, "MAILER-DAEMON@%s", o->myhostname);
	if (o->full_name != NULL && o->full_name[0] != '\0')
		buf_append_char(out, '>');
	buf_append(out, "\r\n", 2);
}

int sendmail_msg_build(const char *in, size_t len,
		       const struct sendmail_opts *o, struct buf *out,
		       struct array *rcpts, struct error *err)
{
	size_t n, i = 0;
	struct line *lines = split_lines(in, len, o->ignore_dots, &n);
	bool has_from = false, has_date = false, has_msgid = false;
	int ret = 0;

	/* An mbox separator ("From user date") is not a header. */
	if (n > 0 && lines[0].len >= 5 && memcmp(lines[0].p, "From ", 5) == 0)
		i++;
	while (i < n && ret == 0) {
		size_t name_len = field_name_len(lines[i].p, lines[i].len);
		size_t first = i;
		bool drop, extract;
		struct buf *value;

		if (lines[i].len == 0) {
			i++;
			break;
		}
		if (name_len == 0)
			break; /* not a header: the body starts here */
		/* The field and its continuation lines. */
		for (i++; i < n && lines[i].len > 0 &&
			  (lines[i].p[0] == ' ' || lines[i].p[0] == '\t');
		     i++)
			;
		has_from |= name_is(&lines[first], name_len, "From");
		has_date |= name_is(&lines[first], name_len, "Date");
		has_msgid |= name_is(&lines[first], name_len, "Message-ID");
		drop = name_is(&lines[first], name_len, "Bcc");
		extract = o->extract_rcpts &&
			  (drop || name_is(&lines[first], name_len, "To") ||
			   name_is(&lines[first], name_len, "Cc"));
		value = buf_new();
		for (size_t k = first; k < i; k++) {
			const char *p = lines[k].p;
			size_t l = lines[k].len;

			if (k == first) {
				p += name_len + 1;
				l -= name_len + 1;
			}
			buf_append(value, p, l);
			buf_append_char(value, ' ');
			if (!drop) {
				buf_append(out, lines[k].p, lines[k].len);
				buf_append(out, "\r\n", 2);
			}
		}
		if (extract)
			ret = sendmail_parse_address_list(
			    buf_data(value), buf_len(value), o->myhostname,
			    rcpts, err);
		buf_free(&value);
	}
	if (ret == 0) {
		if (!has_from)
			add_from(out, o);
		if (!has_date) {
			char date[64];

			time_format_rfc5322((time_t)o->now, date, sizeof(date));
			buf_printf(out, "Date: %s\r\n", date);
		}
		if (!has_msgid)
			buf_printf(out, "Message-ID: <%s@%s>\r\n", o->unique,
				   o->myhostname);
		buf_append(out, "\r\n", 2);
		for (; i < n; i++) {
			buf_append(out, lines[i].p, lines[i].len);
			buf_append(out, "\r\n", 2);
		}
	}
	free(lines);
	return ret;
}
