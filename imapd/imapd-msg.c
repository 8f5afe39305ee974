/*
 * imapd-msg.c - the CRLF view of LF-stored messages and read-only file
 * mappings for the message commands (see imapd-msg.h).
 */
#include "imapd-msg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xmalloc.h"

uint64_t imapd_crlf_size(const char *p, size_t len, char prev)
{
	uint64_t n = len;
	const char *q = p, *end = p + len;

	while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		char before = q == p ? prev : q[-1];
		if (before != '\r')
			n++;
		q++;
	}
	return n;
}

uint64_t imapd_crlf_lines(const char *p, size_t len)
{
	uint64_t n = 0;
	const char *q = p, *end = p + len;

	while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		n++;
		q++;
	}
	if (len > 0 && p[len - 1] != '\n')
		n++;
	return n;
}

uint64_t imapd_crlf_copy(struct buf *out, const char *p, size_t len,
			 char prev, uint64_t voff, uint64_t vlen,
			 size_t *phys_done_r, uint64_t *virt_done_r)
{
	uint64_t vpos = 0, appended = 0;
	uint64_t vend = vlen == UINT64_MAX || voff + vlen < voff ?
		UINT64_MAX : voff + vlen;
	size_t i = 0, done_i = 0;
	uint64_t done_v = 0;

	while (i < len && vpos < vend) {
		/* Copy a run without LF in one go. */
		const char *nl = memchr(p + i, '\n', len - i);
		size_t run = nl != NULL ? (size_t)(nl - (p + i)) : len - i;

		if (run > 0) {
			uint64_t a = vpos, b = vpos + run;
			if (b > vend) {
				/* the window ends inside this run */
				run = (size_t)(vend - a);
				b = vend;
			}
			if (b > voff) {
				uint64_t st = a < voff ? voff : a;
				buf_append(out, p + i + (st - a), (size_t)(b - st));
				appended += b - st;
			}
			vpos = b;
			i += run;
			done_i = i;
			done_v = vpos;
			continue;
		}
		/* p[i] is LF */
		{
			char before = i == 0 ? prev : p[i - 1];
			if (before != '\r') {
				if (vpos >= voff) {
					buf_append_char(out, '\r');
					appended++;
				}
				vpos++;
				if (vpos >= vend)
					break; /* cut between CR and LF */
			}
			if (vpos >= voff) {
				buf_append_char(out, '\n');
				appended++;
			}
			vpos++;
			i++;
			done_i = i;
			done_v = vpos;
		}
	}
	if (phys_done_r != NULL)
		*phys_done_r = done_i;
	if (virt_done_r != NULL)
		*virt_done_r = done_v;
	return appended;
}

uint64_t imapd_crlf_append(struct buf *out, const char *p, size_t len,
			   char prev, uint64_t voff, uint64_t vlen)
{
	return imapd_crlf_copy(out, p, len, prev, voff, vlen, NULL, NULL);
}

int imapd_msg_file_map(int fd, struct imapd_msg_file *f, struct error *err)
{
	const char *path = "message";
	struct stat st;

	memset(f, 0, sizeof(*f));
	f->data = "";
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return error_set(err, ERR_TEMP, "fstat %s: %s", path,
				 strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return error_set(err, ERR_TEMP, "%s: not a file", path);
	}
	if (st.st_size > 0 && st.st_size <= IMAPD_MSG_READ_MAX) {
		size_t want = (size_t)st.st_size, got = 0;
		char *h = xmalloc(want + 1);

		while (got < want) {
			ssize_t n = pread(fd, h + got, want - got, (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				int e = errno;
				free(h);
				close(fd);
				return error_set(err, ERR_TEMP, "read %s: %s",
						 path, strerror(e));
			}
			if (n == 0)
				break; /* shrank meanwhile: what is there */
			got += (size_t)n;
		}
		h[got] = '\0';
		f->heap = h;
		f->data = h;
		f->size = got;
	} else if (st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			       fd, 0);
		if (m == MAP_FAILED) {
			int e = errno;
			close(fd);
			return error_set(err, ERR_TEMP, "mmap %s: %s", path,
					 strerror(e));
		}
		f->map = m;
		f->data = m;
		f->size = (size_t)st.st_size;
	}
	close(fd);
	return 0;
}

void imapd_msg_file_close(struct imapd_msg_file *f)
{
	if (f->map != NULL)
		munmap(f->map, f->size);
	free(f->heap);
	memset(f, 0, sizeof(*f));
	f->data = "";
}

size_t imapd_header_end(const char *p, size_t len, size_t *blank_r)
{
	size_t i = 0;

	/* An empty first line means an empty header. */
	for (;;) {
		const char *nl;
		size_t line_start = i;

		if (i >= len)
			break;
		if (p[i] == '\n') {
			*blank_r = line_start;
			return i + 1;
		}
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') {
			*blank_r = line_start;
			return i + 2;
		}
		nl = memchr(p + i, '\n', len - i);
		if (nl == NULL)
			break;
		i = (size_t)(nl - p) + 1;
	}
	*blank_r = len;
	return len;
}

void imapd_emailid(const char *name, char out[18])
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (; *name != '\0' && *name != ',' && *name != ':'; name++) {
		h ^= (unsigned char)*name;
		h *= 0x100000001b3ULL;
	}
	snprintf(out, 18, "M%016llx", (unsigned long long)h);
}
