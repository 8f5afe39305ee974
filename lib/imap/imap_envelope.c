/* imap_envelope - the IMAP ENVELOPE writer (see imap_envelope.h). */
#include "imap/imap_envelope.h"

#include <string.h>
#include <strings.h>

#include "imap/imap_quote.h"
#include "mail/header.h"

/* Address lists of a header are capped like Dovecot does not, but a
 * 100000-recipient To: must not make a 10 MB FETCH line. */
#define ENVELOPE_MAX_ADDRESSES 10000

enum env_field {
	ENV_DATE,
	ENV_SUBJECT,
	ENV_FROM,
	ENV_SENDER,
	ENV_REPLY_TO,
	ENV_TO,
	ENV_CC,
	ENV_BCC,
	ENV_IN_REPLY_TO,
	ENV_MESSAGE_ID,
	ENV_COUNT
};

static const char *const env_names[ENV_COUNT] = {
	"date", "subject", "from",	  "sender",	 "reply-to",
	"to",	"cc",	   "bcc",	  "in-reply-to", "message-id",
};

static void append_str(struct buf *out, const char *s, unsigned int flags)
{
	imap_append_nstring_str(out, s, flags | IMAP_QUOTE_NOLF);
}

/* Append the "(...)" entries of one address header value; returns how
 * many were written. */
static unsigned int write_entries(struct buf *out, const char *value,
				  size_t len, unsigned int max,
				  unsigned int flags)
{
	struct header_address *list = header_address_parse(value, len, max);
	unsigned int n = 0;
	for (const struct header_address *a = list; a != NULL; a = a->next) {
		buf_append_char(out, '(');
		if (a->name == NULL)
			buf_append_str(out, "NIL");
		else
			imap_append_string_for_humans(out, a->name,
						      strlen(a->name), flags);
		buf_append_char(out, ' ');
		append_str(out, a->route, flags);
		buf_append_char(out, ' ');
		append_str(out, a->mailbox, flags);
		buf_append_char(out, ' ');
		append_str(out, a->host, flags);
		buf_append_char(out, ')');
		n++;
	}
	header_address_free(&list);
	return n;
}

void imap_envelope_write_addresses(struct buf *out, const char *value,
				   size_t len, unsigned int flags)
{
	size_t start = buf_len(out);
	buf_append_char(out, '(');
	if (write_entries(out, value, len, ENVELOPE_MAX_ADDRESSES, flags) == 0) {
		buf_truncate(out, start);
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_char(out, ')');
}

static bool name_is(const struct header_field *f, const char *name)
{
	return strlen(name) == f->name_len &&
	       strncasecmp(f->name, name, f->name_len) == 0;
}

/* All addresses of every `name` field, as one list (Dovecot joins
 * repeated address fields). */
static void write_address_field(struct buf *out, const char *hdr, size_t len,
				const char *name, unsigned int flags)
{
	struct header_iter it;
	struct header_field f;
	size_t start = buf_len(out);
	unsigned int n = 0;

	buf_append_char(out, '(');
	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &f) && n < ENVELOPE_MAX_ADDRESSES) {
		if (name_is(&f, name))
			n += write_entries(out, f.value, f.value_len,
					   ENVELOPE_MAX_ADDRESSES - n, flags);
	}
	if (n == 0) {
		buf_truncate(out, start);
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_char(out, ')');
}

static bool is_address_field(int i)
{
	return i == ENV_FROM || i == ENV_SENDER || i == ENV_REPLY_TO ||
	       i == ENV_TO || i == ENV_CC || i == ENV_BCC;
}

void imap_envelope_write(struct buf *out, const char *hdr, size_t len,
			 unsigned int flags)
{
	struct header_field fields[ENV_COUNT];
	bool have[ENV_COUNT] = {false};
	struct header_iter it;
	struct header_field f;

	/* Text fields: the last occurrence counts, as in Dovecot. */
	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &f)) {
		for (int i = 0; i < ENV_COUNT; i++) {
			if (name_is(&f, env_names[i])) {
				fields[i] = f;
				have[i] = true;
				break;
			}
		}
	}
	buf_append_char(out, '(');
	for (int i = 0; i < ENV_COUNT; i++) {
		if (i > 0)
			buf_append_char(out, ' ');
		int src = i;
		/* Sender and Reply-To default to From (RFC 3501 7.4.2). */
		if ((i == ENV_SENDER || i == ENV_REPLY_TO) && !have[i])
			src = ENV_FROM;
		if (!have[src]) {
			buf_append_str(out, "NIL");
		} else if (is_address_field(i)) {
			write_address_field(out, hdr, len, env_names[src],
					    flags);
		} else if (i == ENV_SUBJECT) {
			imap_append_string_for_humans(out, fields[src].value,
						      fields[src].value_len,
						      flags);
		} else {
			/* Raw value, line breaks removed (Dovecot). */
			imap_append_quoted(out, fields[src].value,
					   fields[src].value_len,
					   flags | IMAP_QUOTE_NOLF);
		}
	}
	buf_append_char(out, ')');
}

void imap_envelope_write_message(struct buf *out,
				 const struct mime_message *msg,
				 unsigned int flags)
{
	const struct mime_part *root = mime_root(msg);
	imap_envelope_write(out, mime_data(msg) + root->header.phys_off,
			    root->header.phys_size, flags);
}
