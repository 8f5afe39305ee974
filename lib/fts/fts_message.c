/*
 * fts_message.c - from a message file to its searchable text.
 *
 * Header values are decoded (RFC 2047) to UTF-8 so SUBJECT "Grüße"
 * finds "=?iso-8859-1?q?Gr=FC=DFe?="; the body text comes from
 * lib/mail's extractor (text parts decoded, HTML reduced to text,
 * attachments skipped), capped at FTS_BODY_MAX bytes so one huge
 * message cannot bloat the index.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "fts/fts.h"
#include "mail/header.h"
#include "mail/mime.h"
#include "mail/preview.h"

#define FTS_BODY_MAX (1024 * 1024)

struct text {
	struct buf *from, *to, *cc, *bcc, *subject, *headers, *body;
};

/* Every value of the fields named `name`, decoded, one per line. */
static void decoded_fields(const char *hdr, size_t len, const char *name,
			   struct buf *out)
{
	struct header_iter it;
	struct header_field f;
	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &f)) {
		if (f.name_len != strlen(name) ||
		    strncasecmp(f.name, name, f.name_len) != 0)
			continue;
		if (buf_len(out) > 0)
			buf_append_char(out, '\n');
		header_decode_2047(f.value, f.value_len, out);
	}
}

static void all_fields(const char *hdr, size_t len, struct buf *out)
{
	struct header_iter it;
	struct header_field f;
	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &f)) {
		buf_append(out, f.name, f.name_len);
		buf_append_str(out, ": ");
		header_decode_2047(f.value, f.value_len, out);
		buf_append_char(out, '\n');
	}
}

static void text_fill(struct text *t, const char *data, size_t len)
{
	struct mime_message *msg = mime_parse(data, len);
	const struct mime_part *root = mime_root(msg);
	const char *hdr = data + root->header.phys_off;
	size_t hlen = root->header.phys_size;

	decoded_fields(hdr, hlen, "From", t->from);
	decoded_fields(hdr, hlen, "To", t->to);
	decoded_fields(hdr, hlen, "Cc", t->cc);
	decoded_fields(hdr, hlen, "Bcc", t->bcc);
	decoded_fields(hdr, hlen, "Subject", t->subject);
	all_fields(hdr, hlen, t->headers);
	mail_text_extract(msg, FTS_BODY_MAX, t->body);
	mime_message_free(&msg);
}

int fts_add_message(struct fts *fts, const char *folder, const char *unique,
		    const char *data, size_t len, struct error *err)
{
	struct text t = {buf_new(), buf_new(), buf_new(), buf_new(),
			 buf_new(), buf_new(), buf_new()};
	text_fill(&t, data, len);
	struct fts_doc doc = {
	    .folder = folder,
	    .unique = unique,
	    .from = buf_data(t.from),
	    .to = buf_data(t.to),
	    .cc = buf_data(t.cc),
	    .bcc = buf_data(t.bcc),
	    .subject = buf_data(t.subject),
	    .headers = buf_data(t.headers),
	    .body = buf_data(t.body),
	};
	int ret = fts_add(fts, &doc, err);
	struct buf **all[] = {&t.from, &t.to,	   &t.cc,  &t.bcc,
			      &t.subject, &t.headers, &t.body};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		buf_free(all[i]);
	return ret;
}

int fts_add_file(struct fts *fts, const char *folder, const char *unique,
		 int fd, struct error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return error_set(err, ERR_TEMP, "full-text index: fstat: %s",
				 strerror(errno));
	if (st.st_size == 0)
		return fts_add_message(fts, folder, unique, "", 0, err);
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
			 0);
	if (map == MAP_FAILED)
		return error_set(err, ERR_TEMP, "full-text index: mmap: %s",
				 strerror(errno));
	int ret = fts_add_message(fts, folder, unique, map, (size_t)st.st_size,
				  err);
	munmap(map, (size_t)st.st_size);
	return ret;
}
