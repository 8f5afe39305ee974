/*
 * test_store - the Maildir store: path safety, delivery layout and modes,
 * content, concurrency, quota and maildirsize, disk full, file names.
 */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fsutil.h"
#include "core/xmalloc.h"
#include "store/store.h"
#include "store/store_name.h"

static char base[] = "/tmp/postern-store-XXXXXX";
static char *root;

static int setup(void **state)
{
	if (mkdtemp(base) == NULL)
		return -1;
	root = xasprintf("%s/mail", base);
	return mkdir(root, 0700);
}

static int teardown(void **state)
{
	/* A failed tmpfs test may have left its mount behind. */
	char *mnt = xasprintf("%s/tiny", base);
	umount2(mnt, MNT_DETACH);
	free(mnt);
	char *cmd = xasprintf("rm -rf '%s'", base);
	int rc = system(cmd);
	free(cmd);
	free(root);
	return rc == 0 ? 0 : -1;
}

static struct store *new_store(const char *r, bool permanent)
{
	struct store_settings set = {.root = r,
				     .hostname = "mx1.example:25/x",
				     .quota_permanent = permanent};
	return store_new(&set);
}

/* Count the entries of a directory that do not start with a dot. */
static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int count_sub(const char *mbox, const char *sub)
{
	char *p = xasprintf("%s/%s", mbox, sub);
	int n = count_files(p);
	free(p);
	return n;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static struct buf *read_msg(const char *dir, const char *name)
{
	struct error err;
	char *p = xasprintf("%s/%s", dir, name);
	struct buf *b = buf_new();
	assert_int_equal(fs_read_file(p, b, 1 << 26, &err), 0);
	free(p);
	return b;
}

static int deliver_mem(struct store_mailbox *mbox, const char *folder,
		       const void *data, size_t len, uint64_t quota,
		       struct store_delivery *d, struct error *err)
{
	struct store_input in;
	struct store_input_mem mem;
	memset(d, 0, sizeof(*d));
	d->mbox = mbox;
	d->folder = folder;
	d->return_path = "sender@example.org";
	d->delivered_to = "user@example.com";
	d->quota.bytes = quota;
	store_input_mem(&in, &mem, data, len);
	return store_deliver(d, &in, err);
}

#define TRACE                                                                  \
	"Return-Path: <sender@example.org>\nDelivered-To: user@example.com\n"

/* ---- path safety ---- */

static void test_path_safety(void **state)
{
	static const char *bad_domains[] = {"",
					    ".",
					    "..",
					    "../etc",
					    "a/b",
					    ".example.com",
					    "example.com.",
					    "a..b",
					    "Example.com",
					    "-a.com",
					    "a-.com",
					    "ex ample.com",
					    "[127.0.0.1]",
					    "ex\x01.com",
					    "b\xc3\xbc"
					    "cher.de",
					    NULL};
	static const char *bad_locals[] = {
	    "",
	    ".",
	    "..",
	    ".hidden",
	    "../../etc/passwd",
	    "a/b",
	    "/abs",
	    "John",
	    "a\nb",
	    "a\x7f",
	    "\xff\xfe",
	    "\xc0\xaf",
	    "\xed\xa0\x80",
	    "0123456789012345678901234567890123456789012345678901234567890123X",
	    NULL};
	static const char *good_locals[] = {"john",
					    "john.doe",
					    "a+tag",
					    "with space",
					    "b\xc3\xbc"
					    "cher",
					    "a..b",
					    "~",
					    NULL};
	for (size_t i = 0; bad_domains[i] != NULL; i++)
		assert_false(store_domain_valid(bad_domains[i]));
	for (size_t i = 0; bad_locals[i] != NULL; i++)
		assert_false(store_local_valid(bad_locals[i]));
	for (size_t i = 0; good_locals[i] != NULL; i++)
		assert_true(store_local_valid(good_locals[i]));
	assert_true(store_domain_valid("example.com"));
	assert_true(store_domain_valid("xn--bcher-kva.de"));
	assert_true(store_domain_valid("localhost"));

	static const char *bad_folders[] = {
	    ".",  "..",	  "../x", "a/b",  ".hidden",   "a..b",
	    "a.", "\x01", "&bad", "&AOk", "tab\there", "\xc3\xa9t\xc3\xa9",
	    NULL};
	for (size_t i = 0; bad_folders[i] != NULL; i++)
		assert_false(store_folder_valid(bad_folders[i]));
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(store_folder_valid(longname));
	static const char *good_folders[] = {"Sent",
					     "Lists.postern",
					     "Entw&APw-rfe",
					     "A &- B",
					     "INBOX",
					     "inbox",
					     "",
					     NULL};
	for (size_t i = 0; good_folders[i] != NULL; i++)
		assert_true(store_folder_valid(good_folders[i]));
	assert_true(store_folder_valid(NULL));

	struct store *s = new_store(root, false);
	struct error err;
	assert_null(store_mailbox_open(s, "..", "x", &err));
	assert_int_equal(err.kind, ERR_PERM);
	assert_string_equal(err.code, STORE_ERR_INVALID);
	assert_null(store_mailbox_open(s, "example.com", "../../x", &err));
	assert_string_equal(err.code, STORE_ERR_INVALID);

	/* A bad folder is refused before anything is created. */
	struct store_mailbox *mbox =
	    store_mailbox_open(s, "evil.example", "victim", &err);
	assert_non_null(mbox);
	struct store_delivery d;
	assert_int_equal(
	    deliver_mem(mbox, "../../../escape", "x\n", 2, 0, &d, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	char *dom = xasprintf("%s/evil.example", root);
	assert_false(fs_exists(dom));
	free(dom);
	assert_int_equal(count_files(base), 1); /* only mail/ */
	store_mailbox_free(&mbox);
	store_free(&s);
}

/* ---- layout, modes, content ---- */

static void test_layout_and_modes(void **state)
{
	struct store *s = new_store(root, false);
	struct error err;
	struct store_mailbox *mbox =
	    store_mailbox_open(s, "example.com", "layout", &err);
	assert_non_null(mbox);
	const char *mp = store_mailbox_path(mbox);
	struct store_delivery d;
	const char msg[] = "Subject: hi\n\nbody\n";
	assert_int_equal(deliver_mem(mbox, NULL, msg, strlen(msg), 0, &d, &err),
			 0);
	assert_int_equal(
	    deliver_mem(mbox, "Lists.dev", msg, strlen(msg), 0, &d, &err), 0);

	static const char *dirs[] = {"",
				     "tmp",
				     "new",
				     "cur",
				     ".Lists.dev",
				     ".Lists.dev/tmp",
				     ".Lists.dev/new",
				     ".Lists.dev/cur",
				     NULL};
	for (size_t i = 0; dirs[i] != NULL; i++) {
		char *p = xasprintf("%s/%s", mp, dirs[i]);
		assert_int_equal(mode_of(p), 0700);
		free(p);
	}
	char *dom = xasprintf("%s/example.com", root);
	assert_int_equal(mode_of(dom), 0700);
	free(dom);
	char *marker = xasprintf("%s/.Lists.dev/maildirfolder", mp);
	assert_int_equal(mode_of(marker), 0600);
	free(marker);
	assert_int_equal(count_sub(mp, "new"), 1);
	assert_int_equal(count_sub(mp, "tmp"), 0);
	assert_int_equal(count_sub(mp, ".Lists.dev/new"), 1);
	assert_int_equal(count_sub(mp, ".Lists.dev/tmp"), 0);

	/* The name carries S= (file size) and W= (CRLF size). */
	char *newdir = xasprintf("%s/.Lists.dev/new", mp);
	char *file = xasprintf("%s/%s", newdir, d.name);
	struct stat st;
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	struct store_name n;
	assert_int_equal(store_name_parse(d.name, &n, &err), 0);
	assert_true(n.has_size && n.has_vsize);
	assert_int_equal(n.size, st.st_size);
	assert_int_equal(n.size, strlen(TRACE) + strlen(msg));
	assert_int_equal(n.vsize, n.size + 2 + 3); /* 5 lines */
	assert_int_equal(d.size, n.size);
	assert_int_equal(d.vsize, n.vsize);
	/* The escaped host name: no '/', ':' or ',' inside the unique part. */
	assert_non_null(strstr(d.name, ".mx1.example\\07225\\057x,S="));
	assert_false(n.has_info);
	free(file);
	free(newdir);

	/* A new folder is built under tmp/ and renamed into place (nothing
	 * left there); a half-made one (by an older version, or a crash) is
	 * completed in place. */
	assert_int_equal(store_folder_create(mbox, "Whole", &err), 0);
	char *half = xasprintf("%s/.Half", mp);
	assert_int_equal(mkdir(half, 0700), 0);
	assert_int_equal(store_folder_create(mbox, "Half", &err), 0);
	free(half);
	static const char *made[] = {".Whole/tmp", ".Whole/new", ".Whole/cur",
				     ".Half/tmp", ".Half/new", ".Half/cur",
				     NULL};
	for (size_t i = 0; made[i] != NULL; i++) {
		char *p = xasprintf("%s/%s", mp, made[i]);
		assert_int_equal(mode_of(p), 0700);
		free(p);
	}
	for (size_t i = 0; i < 2; i++) {
		char *m = xasprintf("%s/%s/maildirfolder", mp,
				    i == 0 ? ".Whole" : ".Half");
		assert_int_equal(mode_of(m), 0600);
		free(m);
	}
	char *tmpdir = xasprintf("%s/tmp", mp);
	DIR *td = opendir(tmpdir);
	assert_non_null(td);
	for (struct dirent *de; (de = readdir(td)) != NULL;)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			fail_msg("left in tmp/: %s", de->d_name);
	closedir(td);
	free(tmpdir);
	store_mailbox_free(&mbox);
	store_free(&s);
}

/* An input handing out one byte at a time, so CRLF straddles chunks. */
static ssize_t trickle_read(void *ctx, void *data, size_t size,
			    struct error *err)
{
	struct store_input_mem *m = ctx;
	if (m->pos == m->len)
		return 0;
	((char *)data)[0] = m->data[m->pos++];
	return 1;
}

static void test_content_bytes(void **state)
{
	struct store *s = new_store(root, false);
	struct error err;
	struct store_mailbox *mbox =
	    store_mailbox_open(s, "example.com", "content", &err);
	char *newdir = xasprintf("%s/new", store_mailbox_path(mbox));
	struct store_delivery d;

	/* LF input is stored byte for byte, binary included. */
	char lf[300];
	for (size_t i = 0; i < sizeof(lf); i++)
		lf[i] = (char)(i % 7 == 6 ? '\n' : i);
	lf[13] = '\r'; /* a lone CR stays */
	assert_int_equal(deliver_mem(mbox, NULL, lf, sizeof(lf), 0, &d, &err),
			 0);
	struct buf *b = read_msg(newdir, d.name);
	assert_int_equal(buf_len(b), strlen(TRACE) + sizeof(lf));
	assert_memory_equal(buf_data(b), TRACE, strlen(TRACE));
	assert_memory_equal(buf_data(b) + strlen(TRACE), lf, sizeof(lf));
	buf_free(&b);

	/* CRLF input becomes LF, also when CR and LF arrive apart, and a
	 * final CR without LF is kept. */
	const char crlf[] = "A: b\r\n\r\nline\r\n\rx\r\r\nend\r";
	const char want[] = "A: b\n\nline\n\rx\r\nend\r";
	struct store_input in;
	struct store_input_mem mem;
	store_input_mem(&in, &mem, crlf, strlen(crlf));
	in.read = trickle_read;
	memset(&d, 0, sizeof(d));
	d.mbox = mbox;
	d.extra_headers = "Received: from a\r\n\tby b";
	assert_int_equal(store_deliver(&d, &in, &err), 0);
	b = read_msg(newdir, d.name);
	char *expect = xasprintf("Received: from a\n\tby b\n%s", want);
	assert_int_equal(buf_len(b), strlen(expect));
	assert_memory_equal(buf_data(b), expect, strlen(expect));
	assert_int_equal(d.size, strlen(expect));
	assert_int_equal(d.vsize, strlen(expect) + 5);
	free(expect);
	buf_free(&b);

	/* A trace header value cannot smuggle in a line. */
	memset(&d, 0, sizeof(d));
	d.mbox = mbox;
	d.delivered_to = "x@y\nBcc: z";
	store_input_mem(&in, &mem, "x\n", 2);
	assert_int_equal(store_deliver(&d, &in, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	assert_int_equal(count_files(newdir), 2);

	free(newdir);
	store_mailbox_free(&mbox);
	store_free(&s);
}

/* ---- several recipients, one input ---- */

static void test_deliver_many(void **state)
{
	struct store *s = new_store(root, false);
	struct error err;
	const char *users[] = {"m1", "m2", "full", "m3"};
	struct store_mailbox *mb[4];
	struct store_delivery ds[4];
	struct error errs[4];
	memset(ds, 0, sizeof(ds));
	for (int i = 0; i < 4; i++) {
		mb[i] = store_mailbox_open(s, "many.example", users[i], &err);
		ds[i].mbox = mb[i];
		ds[i].return_path = "";
		ds[i].delivered_to = xasprintf("%s@many.example", users[i]);
	}
	ds[2].quota.bytes = 1000; /* too small for the message */

	/* 300 KiB in a file, CRLF, read through the fd input. */
	char *path = xasprintf("%s/msg.eml", base);
	struct buf *src = buf_new(), *want = buf_new();
	for (int i = 0; i < 10000; i++) {
		buf_printf(src, "line %05d of the message body\r\n", i);
		buf_printf(want, "line %05d of the message body\n", i);
	}
	assert_int_equal(
	    fs_write_atomic(path, buf_data(src), buf_len(src), 0600, &err), 0);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct store_input in;
	store_input_fd(&in, &fd);
	assert_int_equal(in.size_hint, buf_len(src));
	assert_int_equal(store_deliver_many(ds, 4, &in, errs), 1);
	close(fd);

	assert_int_equal(errs[2].kind, ERR_TEMP);
	assert_string_equal(errs[2].code, STORE_ERR_QUOTA);
	assert_string_equal(ds[2].name, "");
	for (int i = 0; i < 4; i++) {
		const char *mp = store_mailbox_path(mb[i]);
		if (i == 2) {
			assert_int_equal(count_sub(mp, "new"), -1);
			continue;
		}
		assert_int_equal(errs[i].kind, ERR_NONE);
		char *newdir = xasprintf("%s/new", mp);
		struct buf *b = read_msg(newdir, ds[i].name);
		char *hdr = xasprintf("Return-Path: <>\nDelivered-To: %s\n",
				      ds[i].delivered_to);
		assert_int_equal(buf_len(b), strlen(hdr) + buf_len(want));
		assert_memory_equal(buf_data(b), hdr, strlen(hdr));
		assert_memory_equal(buf_data(b) + strlen(hdr), buf_data(want),
				    buf_len(want));
		assert_int_equal(ds[i].vsize, strlen(hdr) + 2 + buf_len(src));
		assert_int_equal(count_sub(mp, "tmp"), 0);
		free(hdr);
		free(newdir);
		buf_free(&b);
	}
	for (int i = 0; i < 4; i++) {
		free((char *)ds[i].delivered_to);
		store_mailbox_free(&mb[i]);
	}
	buf_free(&src);
	buf_free(&want);
	free(path);
	store_free(&s);
}

/* Fails after handing out `len` bytes, like a dropped LMTP client. */
static ssize_t failing_read(void *ctx, void *data, size_t size,
			    struct error *err)
{
	struct store_input_mem *m = ctx;
	if (m->pos == m->len)
		return error_set(err, ERR_TEMP, "connection lost");
	size_t n = m->len - m->pos < size ? m->len - m->pos : size;
	memcpy(data, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static void test_deliver_many_failures(void **state)
{
	struct store *s = new_store(root, false);
	struct error err, errs[2];
	struct store_delivery ds[2];
	struct store_mailbox *a = store_mailbox_open(s, "f.example", "a", &err);
	struct store_mailbox *b = store_mailbox_open(s, "f.example", "b", &err);
	const char msg[] = "Subject: x\n\nsome body that is long enough\n";
	struct store_input in;
	struct store_input_mem mem;

	/* Size unknown: the first recipient passes the check before
	 * writing, fails the exact one after it; the second still gets the
	 * whole body from the first (now removed) file. */
	memset(ds, 0, sizeof(ds));
	ds[0].mbox = a;
	ds[0].quota.bytes = 20;
	ds[1].mbox = b;
	store_input_mem(&in, &mem, msg, strlen(msg));
	in.size_hint = 0;
	assert_int_equal(store_deliver_many(ds, 2, &in, errs), 1);
	assert_string_equal(errs[0].code, STORE_ERR_QUOTA);
	assert_int_equal(errs[1].kind, ERR_NONE);
	assert_int_equal(count_sub(store_mailbox_path(a), "new"), 0);
	assert_int_equal(count_sub(store_mailbox_path(a), "tmp"), 0);
	char *newdir = xasprintf("%s/new", store_mailbox_path(b));
	struct buf *got = read_msg(newdir, ds[1].name);
	assert_int_equal(buf_len(got), strlen(msg));
	assert_memory_equal(buf_data(got), msg, strlen(msg));
	buf_free(&got);

	/* The input breaks: nobody gets a partial message. */
	memset(ds, 0, sizeof(ds));
	ds[0].mbox = a;
	ds[1].mbox = b;
	store_input_mem(&in, &mem, msg, strlen(msg));
	in.read = failing_read;
	assert_int_equal(store_deliver_many(ds, 2, &in, errs), 2);
	assert_int_equal(errs[0].kind, ERR_TEMP);
	assert_int_equal(errs[1].kind, ERR_TEMP);
	assert_non_null(strstr(errs[1].msg, "connection lost"));
	assert_int_equal(count_sub(store_mailbox_path(a), "new"), 0);
	assert_int_equal(count_sub(store_mailbox_path(a), "tmp"), 0);
	assert_int_equal(count_files(newdir), 1);
	free(newdir);
	store_mailbox_free(&a);
	store_mailbox_free(&b);
	store_free(&s);
}

/* ---- concurrency ---- */

#define CHILDREN 8
#define PER_CHILD 40

static void test_concurrent_deliveries(void **state)
{
	struct store *s = new_store(root, false);
	struct error err;
	struct store_mailbox *mbox =
	    store_mailbox_open(s, "example.com", "busy", &err);
	struct store_quota quota = {.bytes = 100000000};
	struct store_usage u;
	/* The cache exists before the race, as it does after the first
	 * delivery; each delivery then appends one line. */
	assert_int_equal(store_folder_create(mbox, NULL, &err), 0);
	assert_int_equal(store_usage(mbox, &quota, &u, &err), 0);
	assert_int_equal(u.messages, 0);

	pid_t pids[CHILDREN];
	for (int c = 0; c < CHILDREN; c++) {
		pids[c] = fork();
		assert_true(pids[c] >= 0);
		if (pids[c] > 0)
			continue;
		int bad = 0;
		for (int m = 0; m < PER_CHILD; m++) {
			char msg[128];
			int len = snprintf(msg, sizeof(msg),
					   "Subject: c%d m%d\n\n%*s\n", c, m,
					   c * 7 + m % 5, "");
			struct store_delivery d;
			if (deliver_mem(mbox, NULL, msg, (size_t)len,
					quota.bytes, &d, &err) < 0)
				bad++;
		}
		_exit(bad);
	}
	for (int c = 0; c < CHILDREN; c++) {
		int status;
		assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}

	struct array *entries;
	assert_int_equal(store_list(mbox, NULL, &entries, &err), 0);
	assert_int_equal(array_len(entries), CHILDREN * PER_CHILD);
	bool seen[CHILDREN][PER_CHILD] = {{false}};
	uint64_t total = 0;
	char *newdir = xasprintf("%s/new", store_mailbox_path(mbox));
	for (size_t i = 0; i < array_len(entries); i++) {
		struct store_entry *e = array_get(entries, i);
		if (i > 0) {
			struct store_entry *p = array_get(entries, i - 1);
			assert_string_not_equal(p->name, e->name);
		}
		struct buf *b = read_msg(newdir, e->name);
		int c, m;
		const char *subj = strstr(buf_data(b), "Subject: c");
		assert_non_null(subj);
		assert_int_equal(sscanf(subj, "Subject: c%d m%d", &c, &m), 2);
		assert_false(seen[c][m]);
		seen[c][m] = true;
		struct store_name n;
		assert_int_equal(store_name_parse(e->name, &n, &err), 0);
		assert_int_equal(n.size, buf_len(b));
		total += n.size;
		buf_free(&b);
	}
	free(newdir);
	store_entries_free(&entries);

	/* The appended lines sum to the truth, and so does a rebuild. */
	assert_int_equal(store_usage(mbox, &quota, &u, &err), 0);
	assert_int_equal(u.messages, CHILDREN * PER_CHILD);
	assert_int_equal(u.bytes, total);
	assert_int_equal(store_usage_recalc(mbox, &quota, &u, &err), 0);
	assert_int_equal(u.messages, CHILDREN * PER_CHILD);
	assert_int_equal(u.bytes, total);
	store_mailbox_free(&mbox);
	store_free(&s);
}

/* ---- quota ---- */

static int input_reads;
static ssize_t counting_read(void *ctx, void *data, size_t size,
			     struct error *err)
{
	input_reads++;
	struct store_input_mem *m = ctx;
	size_t n = m->len - m->pos < size ? m->len - m->pos : size;
	memcpy(data, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static void test_quota(void **state)
{
	struct store *s = new_store(root, false);
	struct error err;
	struct store_mailbox *mbox =
	    store_mailbox_open(s, "example.com", "quota", &err);
	const char *mp = store_mailbox_path(mbox);
	char body[600];
	memset(body, 'x', sizeof(body));
	body[sizeof(body) - 1] = '\n';
	struct store_delivery d;
	assert_int_equal(
	    deliver_mem(mbox, NULL, body, sizeof(body), 1000, &d, &err), 0);

	/* The RCPT-time rule: full at the quota, or when the message would
	 * take the usage past it; 0 is unlimited. */
	struct store_quota q1000 = {.bytes = 1000};
	struct store_usage used;
	assert_int_equal(store_usage(mbox, &q1000, &used, &err), 0);
	assert_true(used.bytes > 0 && used.bytes < 1000);
	uint64_t room = 1000 - used.bytes;
	assert_int_equal(store_over_quota(mbox, 0, 10000, &err), 0);
	assert_int_equal(store_over_quota(mbox, 1000, 0, &err), 0);
	assert_int_equal(store_over_quota(mbox, 1000, room, &err), 0);
	assert_int_equal(store_over_quota(mbox, 1000, room + 1, &err), 1);
	assert_int_equal(store_over_quota(mbox, used.bytes, 0, &err), 1);

	/* Would exceed: refused before the input is read or a file made. */
	struct store_input in;
	struct store_input_mem mem;
	store_input_mem(&in, &mem, body, sizeof(body));
	in.read = counting_read;
	input_reads = 0;
	memset(&d, 0, sizeof(d));
	d.mbox = mbox;
	d.quota.bytes = 1000;
	assert_int_equal(store_deliver(&d, &in, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	assert_string_equal(err.code, STORE_ERR_QUOTA);
	assert_int_equal(input_reads, 0);
	assert_int_equal(count_sub(mp, "tmp"), 0);
	assert_int_equal(count_sub(mp, "new"), 1);

	/* Size unknown beforehand: the check after writing refuses it and
	 * removes the tmp file. */
	store_input_mem(&in, &mem, body, sizeof(body));
	in.size_hint = 0;
	assert_int_equal(store_deliver(&d, &in, &err), -1);
	assert_string_equal(err.code, STORE_ERR_QUOTA);
	assert_int_equal(count_sub(mp, "tmp"), 0);
	assert_int_equal(count_sub(mp, "new"), 1);

	/* quota_exceeded_permanent: the same refusal is ERR_PERM (552). */
	struct store *sp = new_store(root, true);
	struct store_mailbox *mp2 =
	    store_mailbox_open(sp, "example.com", "quota", &err);
	assert_int_equal(
	    deliver_mem(mp2, NULL, body, sizeof(body), 1000, &d, &err), -1);
	assert_int_equal(err.kind, ERR_PERM);
	assert_string_equal(err.code, STORE_ERR_QUOTA);

	/* A message-count quota. */
	memset(&d, 0, sizeof(d));
	d.mbox = mbox;
	d.quota.messages = 1;
	store_input_mem(&in, &mem, "x\n", 2);
	assert_int_equal(store_deliver(&d, &in, &err), -1);
	assert_string_equal(err.code, STORE_ERR_QUOTA);
	d.quota.messages = 2;
	store_input_mem(&in, &mem, "x\n", 2);
	assert_int_equal(store_deliver(&d, &in, &err), 0);
	/* Unlimited (0) takes anything. */
	assert_int_equal(
	    deliver_mem(mbox, NULL, body, sizeof(body), 0, &d, &err), 0);
	assert_int_equal(count_sub(mp, "new"), 3);
	assert_int_equal(count_sub(mp, "tmp"), 0);
	store_mailbox_free(&mp2);
	store_free(&sp);
	store_mailbox_free(&mbox);
	store_free(&s);
}

static void write_text(const char *path, const char *text)
{
	struct error err;
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600, &err),
			 0);
}

static void test_maildirsize(void **state)
{
	struct store *s = new_store(root, false);
	struct error err;
	struct store_mailbox *mbox =
	    store_mailbox_open(s, "example.com", "msize", &err);
	struct store_quota q = {.bytes = 5000}; /* as deliver_mem() passes */
	struct store_usage u;

	/* A mailbox never delivered to has zero usage and no files. */
	assert_int_equal(store_usage(mbox, &q, &u, &err), 0);
	assert_int_equal(u.bytes, 0);
	assert_int_equal(u.messages, 0);
	assert_false(fs_exists(store_mailbox_path(mbox)));

	struct store_delivery d;
	uint64_t total = 0;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(deliver_mem(mbox, i == 2 ? "Sent" : NULL,
					     "hello\n", 6, 0, &d, &err),
				 0);
		total += d.size;
	}
	char *cache = xasprintf("%s/maildirsize", store_mailbox_path(mbox));
	/* Missing (unlimited deliveries never needed it): recalculated,
	 * folders included. */
	assert_false(fs_exists(cache));
	assert_int_equal(store_usage(mbox, &q, &u, &err), 0);
	assert_int_equal(u.bytes, total);
	assert_int_equal(u.messages, 3);
	struct buf *b = buf_new();
	assert_int_equal(fs_read_file(cache, b, 10000, &err), 0);
	char *want = xasprintf("5000S,0C\n%llu 3\n", (unsigned long long)total);
	assert_string_equal(buf_data(b), want);
	free(want);
	assert_int_equal(mode_of(cache), 0600);

	/* Deliveries append; expunges subtract. */
	assert_int_equal(deliver_mem(mbox, NULL, "hello\n", 6, 5000, &d, &err),
			 0);
	total += d.size;
	assert_int_equal(store_usage_add(mbox, -10, -1, &err), 0);
	assert_int_equal(store_usage(mbox, &q, &u, &err), 0);
	assert_int_equal(u.bytes, total - 10);
	assert_int_equal(u.messages, 3);

	/* Garbage: recalculated (which also undoes the fake -10). */
	write_text(cache, "5000S,0C\nnot numbers\n");
	assert_int_equal(store_usage(mbox, &q, &u, &err), 0);
	assert_int_equal(u.bytes, total);
	assert_int_equal(u.messages, 4);

	/* Over 5120 bytes: recalculated into two lines. */
	struct buf *big = buf_new();
	buf_printf(big, "5000S,0C\n%llu 4\n", (unsigned long long)total);
	while (buf_len(big) <= 5120)
		buf_append_str(big, "7 1\n-7 -1\n");
	buf_append_str(big, "999 9\n"); /* a lie the rebuild must drop */
	write_text(cache, buf_data(big));
	assert_int_equal(store_usage(mbox, &q, &u, &err), 0);
	assert_int_equal(u.bytes, total);
	assert_int_equal(u.messages, 4);
	buf_reset(b);
	assert_int_equal(fs_read_file(cache, b, 10000, &err), 0);
	assert_true(buf_len(b) < 64);

	/* A different quota line: recalculated with the new quota. */
	write_text(cache, "1S\n999 9\n");
	assert_int_equal(store_usage(mbox, &q, &u, &err), 0);
	assert_int_equal(u.messages, 4);
	/* Unknown quota (NULL): the file is trusted as it is. */
	write_text(cache, "1S\n999 9\n");
	assert_int_equal(store_usage(mbox, NULL, &u, &err), 0);
	assert_int_equal(u.messages, 9);

	/* A fresh cache saying "full" refuses; the same cache 20 minutes
	 * old is rechecked (Maildir++ stale rule) and the delivery passes. */
	write_text(cache, "5000S,0C\n4999 4\n");
	assert_int_equal(deliver_mem(mbox, NULL, "hello\n", 6, 5000, &d, &err),
			 -1);
	assert_string_equal(err.code, STORE_ERR_QUOTA);
	write_text(cache, "5000S,0C\n4999 4\n");
	struct timespec old[2] = {{time(NULL) - 1200, 0},
				  {time(NULL) - 1200, 0}};
	assert_int_equal(utimensat(AT_FDCWD, cache, old, 0), 0);
	assert_int_equal(deliver_mem(mbox, NULL, "hello\n", 6, 5000, &d, &err),
			 0);
	total += d.size;
	assert_int_equal(store_usage(mbox, NULL, &u, &err), 0);
	assert_int_equal(u.bytes, total);
	assert_int_equal(u.messages, 5);

	buf_free(&big);
	buf_free(&b);
	free(cache);
	store_mailbox_free(&mbox);
	store_free(&s);
}

/* ---- disk full ---- */

/* Deliver a 50 KB message expecting a clean no-space failure. */
static void expect_nospace(struct store_mailbox *mbox)
{
	struct error err;
	struct store_delivery d;
	size_t len = 50000;
	char *msg = xmalloc(len);
	memset(msg, 'z', len);
	assert_int_equal(deliver_mem(mbox, NULL, msg, len, 0, &d, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	assert_non_null(err.code);
	assert_string_equal(err.code, STORE_ERR_NOSPACE);
	assert_int_equal(count_sub(store_mailbox_path(mbox), "tmp"), 0);
	assert_int_equal(count_sub(store_mailbox_path(mbox), "new"), 0);
	free(msg);
}

static void test_efbig(void **state)
{
	struct store *s = new_store(root, false);
	struct error err;
	struct store_mailbox *mbox =
	    store_mailbox_open(s, "example.com", "efbig", &err);
	assert_int_equal(store_folder_create(mbox, NULL, &err), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* RLIMIT_FSIZE makes write() fail with EFBIG (SIGXFSZ
		 * ignored, as daemons must do). */
		struct rlimit rl = {20000, 20000};
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		expect_nospace(mbox);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(count_sub(store_mailbox_path(mbox), "tmp"), 0);
	store_mailbox_free(&mbox);
	store_free(&s);
}

static void test_enospc_tmpfs(void **state)
{
	char *mnt = xasprintf("%s/tiny", base);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("postern-test", mnt, "tmpfs", 0, "size=64k") < 0) {
		/* Needs root (CAP_SYS_ADMIN); test_efbig covers the path. */
		print_message("tmpfs mount not permitted (%s): skipped\n",
			      strerror(errno));
		free(mnt);
		skip();
	}
	struct store *s = new_store(mnt, false);
	struct error err;
	struct store_mailbox *mbox =
	    store_mailbox_open(s, "example.com", "full", &err);
	/* Fill most of the 64 KiB so the message cannot fit. */
	char *filler = xasprintf("%s/filler", mnt);
	int fd = open(filler, O_WRONLY | O_CREAT, 0600);
	char junk[4096] = {0};
	while (write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk))
		;
	close(fd);
	unlink(filler); /* free again, then take 40 KiB of it back */
	fd = open(filler, O_WRONLY | O_CREAT, 0600);
	for (int i = 0; i < 10; i++)
		assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk));
	close(fd);
	expect_nospace(mbox);
	/* Space again: the same mailbox takes mail. */
	unlink(filler);
	struct store_delivery d;
	assert_int_equal(deliver_mem(mbox, NULL, "ok\n", 3, 0, &d, &err), 0);
	store_mailbox_free(&mbox);
	store_free(&s);
	assert_int_equal(umount(mnt), 0);
	free(filler);
	free(mnt);
}

/* ---- file names and the read side ---- */

static void test_name_parse(void **state)
{
	struct error err;
	struct store_name n;
	const char *name = "1735689600.M123456P4242Q7.mx1,S=2048,W=2101:2,FSa";
	assert_int_equal(store_name_parse(name, &n, &err), 0);
	assert_int_equal(n.unique_len, strlen("1735689600.M123456P4242Q7.mx1"));
	assert_int_equal(n.base_len, strlen(name) - strlen(":2,FSa"));
	assert_true(n.has_size && n.has_vsize && n.has_info);
	assert_int_equal(n.size, 2048);
	assert_int_equal(n.vsize, 2101);
	assert_int_equal(n.flags, STORE_FLAG_FLAGGED | STORE_FLAG_SEEN);
	assert_int_equal(n.keywords, STORE_KEYWORD_BIT('a'));

	/* Round trip: base + flags gives the same name back. */
	char out[STORE_NAME_MAX];
	assert_int_equal(store_name_with_flags(name, n.base_len, n.flags,
					       n.keywords, out, sizeof(out),
					       &err),
			 0);
	assert_string_equal(out, name);
	/* Flags come out in ASCII order, keywords after them. */
	assert_int_equal(store_name_with_flags(
			     "u", 1,
			     STORE_FLAG_TRASHED | STORE_FLAG_DRAFT |
				 STORE_FLAG_REPLIED | STORE_FLAG_PASSED,
			     STORE_KEYWORD_BIT('z') | STORE_KEYWORD_BIT('b'),
			     out, sizeof(out), &err),
			 0);
	assert_string_equal(out, "u:2,DPRTbz");

	/* Unknown fields are kept in the base; no info is fine. */
	assert_int_equal(store_name_parse("123.abc,X=1,S=5", &n, &err), 0);
	assert_int_equal(n.unique_len, 7);
	assert_int_equal(n.base_len, strlen("123.abc,X=1,S=5"));
	assert_true(n.has_size && !n.has_vsize && !n.has_info);
	assert_int_equal(n.size, 5);
	assert_int_equal(store_name_parse("plain", &n, &err), 0);
	assert_int_equal(n.unique_len, 5);
	assert_int_equal(store_name_parse("x:2,", &n, &err), 0);
	assert_true(n.has_info);
	assert_int_equal(n.flags, 0);

	static const char *bad[] = {"",
				    ".dot",
				    "a/b",
				    ",S=1",
				    "a,S=",
				    "a,S=1x",
				    "a,W=-1",
				    "a:1,S",
				    "a:2,s!",
				    "a:2,S=",
				    "a,S=99999999999999999999999",
				    NULL};
	for (size_t i = 0; bad[i] != NULL; i++)
		assert_int_equal(store_name_parse(bad[i], &n, &err), -1);

	/* Generated unique parts differ and carry no separator. */
	char u1[128], u2[128];
	store_name_unique("h", u1, sizeof(u1));
	store_name_unique("h", u2, sizeof(u2));
	assert_string_not_equal(u1, u2);
	assert_null(strpbrk(u1, ",:/"));
	char esc[32];
	store_name_escape_host("a/b:c,d", esc, sizeof(esc));
	assert_string_equal(esc, "a\\057b\\072c\\054d");
}

/* ---- tmp/ cleanup ---- */

/* Set path's atime and mtime age seconds into the past. */
static void age(const char *path, time_t age)
{
	struct timespec ts[2] = {{.tv_sec = time(NULL) - age},
				 {.tv_sec = time(NULL) - age}};
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* tmp/NAME as make_folder builds it (built: cur/ new/ tmp/ and the
 * marker; else only the directory, a crash right after the mkdir), plus
 * the file extra (relative to it) when not NULL, aged by secs. */
static char *lost_folder(const char *tmpdir, const char *name, bool built,
			 const char *extra, time_t secs)
{
	char *dir = xasprintf("%s/%s", tmpdir, name);
	assert_int_equal(mkdir(dir, 0700), 0);
	static const char *const parts[] = {"cur", "new", "tmp"};
	for (size_t i = 0; built && i < 3; i++) {
		char *p = xasprintf("%s/%s", dir, parts[i]);
		assert_int_equal(mkdir(p, 0700), 0);
		free(p);
	}
	char *files[] = {built ? xasprintf("%s/maildirfolder", dir) : NULL,
			 extra ? xasprintf("%s/%s", dir, extra) : NULL};
	for (size_t i = 0; i < 2; i++) {
		if (files[i] == NULL)
			continue;
		int fd = open(files[i], O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		if (i == 1)
			assert_int_equal(write(fd, "m\n", 2), 2);
		close(fd);
		free(files[i]);
	}
	age(dir, secs);
	return dir;
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_tmp_cleanup(void **state)
{
	struct store *s = new_store(root, false);
	struct error err;
	struct store_mailbox *mbox =
	    store_mailbox_open(s, "example.com", "cleaner", &err);
	struct array *kept = array_new();

	/* Nothing made yet: nothing to do, no error. */
	assert_int_equal(store_tmp_cleanup(mbox, kept, &err), 0);
	assert_int_equal(store_folder_create(mbox, NULL, &err), 0);
	char *tmpdir = xasprintf("%s/tmp", store_mailbox_path(mbox));

	/* Lost folder creations (make_folder's names) an hour and more
	 * old: whole, cut short right after the mkdir, or half taken apart
	 * by a cleaner that died (its "stale." name). */
	char *whole = lost_folder(tmpdir, ".folder.4242.1", true, NULL, 7200);
	char *bare = lost_folder(tmpdir, ".folder.4242.2", false, NULL, 3700);
	char *stale =
	    lost_folder(tmpdir, ".folder.stale.4242.3", true, NULL, 7200);
	/* One being built right now (another process): left alone. */
	char *young = lost_folder(tmpdir, ".folder.4243.1", true, NULL, 60);
	/* Old, but holding what a creation never makes: kept, reported. */
	char *msg = lost_folder(tmpdir, ".folder.4242.4", true,
				"cur/1735689600.M1P1Q1.mx1,S=2:2,S", 7200);
	char *junk = lost_folder(tmpdir, ".folder.4242.5", true, "junk", 7200);
	/* Not our name: never touched. */
	char *other = lost_folder(tmpdir, ".folder.x", true, NULL, 7200);
	char *other2 = lost_folder(tmpdir, "folder.4242.6", true, NULL, 7200);
	/* Delivery files: 36 hours untouched go (Maildir), younger stay. */
	char *dead = xasprintf("%s/1735689600.M1P7Q1.mx1", tmpdir);
	char *alive = xasprintf("%s/1735689600.M1P7Q2.mx1", tmpdir);
	assert_int_equal(fs_write_atomic(dead, "x", 1, 0600, &err), 0);
	assert_int_equal(fs_write_atomic(alive, "x", 1, 0600, &err), 0);
	age(dead, 36 * 3600 + 60);
	age(alive, 35 * 3600);

	assert_int_equal(store_tmp_cleanup(mbox, kept, &err), 4);
	assert_false(exists(whole));
	assert_false(exists(bare));
	assert_false(exists(stale));
	assert_false(exists(dead));
	assert_true(exists(alive));
	char *young_cur = xasprintf("%s/cur", young);
	assert_true(exists(young_cur));
	free(young_cur);
	char *kept_msg = xasprintf("%s/cur/1735689600.M1P1Q1.mx1,S=2:2,S", msg);
	assert_true(exists(kept_msg));
	free(kept_msg);
	char *kept_junk = xasprintf("%s/junk", junk);
	assert_true(exists(kept_junk));
	free(kept_junk);
	for (size_t i = 0; i < 2; i++) {
		char *p =
		    xasprintf("%s/maildirfolder", i == 0 ? other : other2);
		assert_true(exists(p));
		free(p);
	}
	array_sort(kept, cmp_str);
	assert_int_equal(array_len(kept), 2);
	assert_string_equal(array_get(kept, 0), msg);
	assert_string_equal(array_get(kept, 1), junk);
	/* Nothing of the cleaner's own left behind. */
	assert_int_equal(count_files(tmpdir), 2); /* alive, folder.4242.6 */

	/* Again: nothing more goes, the same two are reported. */
	array_free_with(&kept, free);
	kept = array_new();
	assert_int_equal(store_tmp_cleanup(mbox, kept, &err), 0);
	assert_int_equal(array_len(kept), 2);
	array_free_with(&kept, free);

	/* A folder creation still works beside what was kept. */
	assert_int_equal(store_folder_create(mbox, "After", &err), 0);
	/* ... and beside what a crashed process with this pid left under
	 * the names this one would take next (pids are reused): it takes
	 * the next free one.  This process has made fewer than 40 folders
	 * so far, so the first names it tries are taken. */
	for (int i = 1; i <= 40; i++) {
		char *name = xasprintf(".folder.%ld.%d", (long)getpid(), i);
		free(lost_folder(tmpdir, name, true, NULL, 60));
		free(name);
	}
	assert_int_equal(store_folder_create(mbox, "Pid reused", &err), 0);
	char *made = xasprintf("%s/.Pid reused/cur", store_mailbox_path(mbox));
	assert_true(exists(made));
	free(made);

	free(whole);
	free(bare);
	free(stale);
	free(young);
	free(msg);
	free(junk);
	free(other);
	free(other2);
	free(dead);
	free(alive);
	free(tmpdir);
	store_mailbox_free(&mbox);
	store_free(&s);
}

static void test_list_and_flags(void **state)
{
	struct store *s = new_store(root, false);
	struct error err;
	struct store_mailbox *mbox =
	    store_mailbox_open(s, "example.com", "reader", &err);
	struct array *entries;
	/* Not created yet: empty, not an error. */
	assert_int_equal(store_list(mbox, "Archive", &entries, &err), 0);
	assert_int_equal(array_len(entries), 0);
	store_entries_free(&entries);

	struct store_delivery d;
	char names[3][STORE_NAME_MAX];
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    deliver_mem(mbox, "Archive", "m\n", 2, 0, &d, &err), 0);
		strcpy(names[i], d.name);
	}
	assert_int_equal(store_list(mbox, "Archive", &entries, &err), 0);
	assert_int_equal(array_len(entries), 3);
	for (int i = 0; i < 3; i++) {
		struct store_entry *e = array_get(entries, i);
		assert_true(e->in_new);
		assert_string_equal(e->name, names[i]);
	}
	store_entries_free(&entries);

	char moved[STORE_NAME_MAX];
	assert_int_equal(store_set_flags(mbox, "Archive", true, names[1],
					 STORE_FLAG_SEEN, 0, moved, &err),
			 1);
	char *want = xasprintf("%s:2,S", names[1]);
	assert_string_equal(moved, want);
	free(want);
	assert_int_equal(store_set_flags(mbox, "Archive", false, moved,
					 STORE_FLAG_SEEN | STORE_FLAG_FLAGGED |
					     STORE_FLAG_REPLIED,
					 STORE_KEYWORD_BIT('a'), moved, &err),
			 1);
	want = xasprintf("%s:2,FRSa", names[1]);
	assert_string_equal(moved, want);
	free(want);

	assert_int_equal(store_list(mbox, "Archive", &entries, &err), 0);
	assert_int_equal(array_len(entries), 3);
	int in_cur = 0;
	for (size_t i = 0; i < array_len(entries); i++) {
		struct store_entry *e = array_get(entries, i);
		if (!e->in_new) {
			in_cur++;
			assert_string_equal(e->name, moved);
		}
	}
	assert_int_equal(in_cur, 1);
	store_entries_free(&entries);

	/* Gone meanwhile (another session expunged it): 0. */
	assert_int_equal(store_set_flags(mbox, "Archive", true, names[1],
					 STORE_FLAG_SEEN, 0, NULL, &err),
			 0);
	/* A name with a slash is never renamed. */
	assert_int_equal(store_set_flags(mbox, "Archive", true, "../../x",
					 STORE_FLAG_SEEN, 0, NULL, &err),
			 -1);
	store_mailbox_free(&mbox);
	store_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_safety),
	    cmocka_unit_test(test_layout_and_modes),
	    cmocka_unit_test(test_content_bytes),
	    cmocka_unit_test(test_deliver_many),
	    cmocka_unit_test(test_deliver_many_failures),
	    cmocka_unit_test(test_concurrent_deliveries),
	    cmocka_unit_test(test_quota),
	    cmocka_unit_test(test_maildirsize),
	    cmocka_unit_test(test_efbig),
	    cmocka_unit_test(test_enospc_tmpfs),
	    cmocka_unit_test(test_name_parse),
	    cmocka_unit_test(test_list_and_flags),
	    cmocka_unit_test(test_tmp_cleanup),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
