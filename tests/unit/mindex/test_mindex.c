/*
 * test_mindex - the mail index: UIDs in dovecot-uidlist, sync (new,
 * expunged, flag changes, the cheap path), \Recent, keywords, flags and
 * modseqs, append, copy, expunge, QRESYNC expunge log, cached data,
 * folders and subscriptions, concurrent writers.
 */
#include "test.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

#include "mindex_test_util.h"

static const char msg1[] = "Subject: one\n\nbody one\n";
static const char msg2[] = "Subject: two\n\nbody two\n";
static const char msg3[] = "Subject: three\n\nbody three\n";

static int count_dir(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *de;
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_open_assigns_uids(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	fx_deliver(x, NULL, msg1);
	fx_deliver(x, NULL, msg2);
	fx_deliver(x, NULL, msg3);
	struct error err = {0};
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(f);
	assert_int_equal(mindex_folder_count(f), 3);
	assert_int_equal(mindex_folder_uidnext(f), 4);
	assert_true(mindex_folder_uidvalidity(f) > 0);
	assert_int_equal(mindex_folder_recent(f), 3);
	for (uint32_t s = 1; s <= 3; s++) {
		const struct mindex_msg *m = mindex_msg(f, s);
		assert_int_equal(m->uid, s);
		assert_true(mindex_msg_recent(f, s));
		assert_true(m->modseq > 0);
		assert_int_equal(m->flags, 0);
	}
	assert_int_equal(mindex_msg(f, 1)->size, strlen(msg1));
	assert_int_equal(mindex_msg(f, 1)->vsize, strlen(msg1) + 3);
	assert_int_equal(mindex_seq_of_uid(f, 2), 2);
	assert_int_equal(mindex_seq_of_uid(f, 9), 0);
	assert_int_equal(mindex_seq_of_uid_ge(f, 9), 4);
	assert_null(mindex_msg(f, 4));
	/* SELECT moved new/ to cur/, as Dovecot does */
	char *nd = xasprintf("%s/new", x->mpath),
	     *cd = xasprintf("%s/cur", x->mpath);
	assert_int_equal(count_dir(nd), 0);
	assert_int_equal(count_dir(cd), 3);
	/* the uidlist in Dovecot's format */
	char *ulp = xasprintf("%s/dovecot-uidlist", x->mpath);
	char *ul = fx_read(ulp);
	char hdr[64];
	snprintf(hdr, sizeof(hdr), "3 V%u N", mindex_folder_uidvalidity(f));
	assert_true(strncmp(ul, hdr, strlen(hdr)) == 0);
	assert_non_null(strstr(ul, " G"));
	assert_non_null(strstr(ul, "\n1 :"));
	assert_non_null(strstr(ul, "\n3 :"));
	assert_null(strstr(ul, ":2,")); /* the base name only */
	/* a second session: same UIDs, \Recent already taken */
	struct mindex_folder *g =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(g);
	assert_int_equal(mindex_folder_uidvalidity(g),
			 mindex_folder_uidvalidity(f));
	assert_int_equal(mindex_folder_recent(g), 0);
	assert_string_equal(strchr(mindex_msg(g, 2)->name, ','),
			    strchr(mindex_msg(f, 2)->name, ','));
	/* INTERNALDATE is the file mtime */
	time_t now = time(NULL);
	time_t idate = mindex_msg_internaldate(g, 1);
	assert_true(idate > now - 60 && idate <= now + 1);
	mindex_folder_close(&g);
	mindex_folder_close(&f);
	free(ul);
	free(ulp);
	free(nd);
	free(cd);
	/* a missing folder, a bad name */
	assert_null(mindex_folder_open(x->u, "Nope", false, &err));
	assert_true(mindex_err_is(&err, MINDEX_ERR_NOTFOUND));
	assert_null(mindex_folder_open(x->u, "../etc", false, &err));
	assert_true(mindex_err_is(&err, MINDEX_ERR_INVALID));
	fx_free(x);
}

static void test_sync_reports(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	fx_deliver(x, NULL, msg1);
	fx_deliver(x, NULL, msg2);
	fx_deliver(x, NULL, msg3);
	struct error err = {0};
	struct mindex_folder *a =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	struct mindex_folder *b =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(a);
	assert_non_null(b);
	uint64_t hms0 = mindex_folder_highestmodseq(a);
	struct mindex_sync_result r;

	/* nothing changed */
	assert_int_equal(mindex_folder_sync(a, 0, &r, &err), 0);
	assert_int_equal(r.expunged_count + r.new_count + r.changed_count, 0);
	assert_int_equal(r.exists, 3);
	mindex_sync_result_free(&r);

	/* new delivery */
	fx_deliver(x, NULL, "Subject: four\n\nx\n");
	assert_int_equal(mindex_folder_sync(a, 0, &r, &err), 0);
	assert_int_equal(r.new_count, 1);
	assert_int_equal(r.exists, 4);
	assert_int_equal(mindex_msg(a, 4)->uid, 4);
	assert_true(mindex_msg_recent(a, 4));
	mindex_sync_result_free(&r);

	/* b sets \Seen on 1: a sees the change with a higher modseq */
	assert_int_equal(mindex_folder_sync(b, 0, &r, &err), 0);
	mindex_sync_result_free(&r);
	uint32_t seq = 1;
	enum mindex_store_result res;
	assert_int_equal(mindex_store_flags(b, &seq, 1, MINDEX_FLAGS_ADD,
					    STORE_FLAG_SEEN, 0, 0, &res, &err),
			 0);
	assert_int_equal(res, MINDEX_STORE_CHANGED);
	assert_true(mindex_msg(b, 1)->modseq > hms0);
	assert_true(strstr(mindex_msg(b, 1)->name, ":2,S") != NULL);
	assert_int_equal(mindex_folder_sync(a, 0, &r, &err), 0);
	assert_int_equal(r.changed_count, 1);
	assert_int_equal(r.changed_seqs[0], 1);
	assert_int_equal(mindex_msg(a, 1)->flags, STORE_FLAG_SEEN);
	assert_int_equal(mindex_msg(a, 1)->modseq, mindex_msg(b, 1)->modseq);
	assert_true(r.highestmodseq >= mindex_msg(b, 1)->modseq);
	mindex_sync_result_free(&r);
	/* setting it again changes nothing */
	assert_int_equal(mindex_store_flags(b, &seq, 1, MINDEX_FLAGS_ADD,
					    STORE_FLAG_SEEN, 0, 0, &res, &err),
			 0);
	assert_int_equal(res, MINDEX_STORE_UNCHANGED);
	/* UNCHANGEDSINCE below the message's modseq: conflict */
	assert_int_equal(mindex_store_flags(b, &seq, 1, MINDEX_FLAGS_SET,
					    STORE_FLAG_FLAGGED, 0, hms0, &res,
					    &err),
			 0);
	assert_int_equal(res, MINDEX_STORE_CONFLICT);

	/* b expunges 2: a keeps it while expunges are not allowed */
	uint64_t before = mindex_folder_highestmodseq(b);
	seq = 2;
	assert_int_equal(mindex_expunge(b, &seq, 1, &err), 0);
	assert_int_equal(
	    mindex_folder_sync(a, MINDEX_SYNC_NO_EXPUNGE, &r, &err), 0);
	assert_int_equal(r.expunged_count, 0);
	assert_int_equal(r.exists, 4);
	assert_true(mindex_msg(a, 2)->expunged);
	int fd;
	assert_int_equal(mindex_msg_open(a, 2, &fd, &err), 0);
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_folder_sync(a, 0, &r, &err), 0);
	assert_int_equal(r.expunged_count, 1);
	assert_int_equal(r.expunged_seqs[0], 2);
	assert_int_equal(r.expunged_uids[0], 2);
	assert_int_equal(r.exists, 3);
	assert_int_equal(mindex_msg(a, 2)->uid, 3);
	mindex_sync_result_free(&r);
	/* b's own expunge is reported by its next sync */
	assert_int_equal(mindex_folder_sync(b, 0, &r, &err), 0);
	assert_int_equal(r.expunged_count, 1);
	assert_int_equal(r.expunged_uids[0], 2);
	mindex_sync_result_free(&r);
	/* the QRESYNC log */
	uint32_t *uids;
	size_t n;
	assert_int_equal(mindex_expunged_since(a, before, &uids, &n, &err), 1);
	assert_int_equal(n, 1);
	assert_int_equal(uids[0], 2);
	free(uids);
	assert_int_equal(mindex_expunged_since(a,
					       mindex_folder_highestmodseq(a),
					       &uids, &n, &err),
			 1);
	assert_int_equal(n, 0);
	free(uids);
	assert_int_equal(mindex_expunged_since(a, 1, &uids, &n, &err), 0);
	free(uids);
	mindex_folder_close(&a);
	mindex_folder_close(&b);
	fx_free(x);
}

static void test_cheap_sync(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	fx_deliver(x, NULL, msg1);
	struct error err = {0};
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(f);
	fx_age(x->mpath);
	struct mindex_sync_result r;
	assert_int_equal(mindex_folder_sync(f, 0, &r, &err), 0);
	mindex_sync_result_free(&r);
	/* a file slipped into cur/ without changing its mtime: the cheap
	 * path does not see it (proof that nothing was scanned) */
	char *p = xasprintf("%s/cur/1000000001.M1P1Q1.x,S=5,W=6:2,", x->mpath);
	fx_write(p, "x\n\nx\n");
	fx_age(x->mpath);
	assert_int_equal(mindex_folder_sync(f, 0, &r, &err), 0);
	assert_int_equal(r.new_count, 0);
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_folder_sync(f, MINDEX_SYNC_FORCE, &r, &err), 0);
	assert_int_equal(r.new_count, 1);
	mindex_sync_result_free(&r);
	/* a real change moves the mtime: seen without FORCE */
	fx_age(x->mpath);
	assert_int_equal(mindex_folder_sync(f, 0, &r, &err), 0);
	mindex_sync_result_free(&r);
	fx_deliver(x, NULL, msg2);
	assert_int_equal(mindex_folder_sync(f, 0, &r, &err), 0);
	assert_int_equal(r.new_count, 1);
	assert_int_equal(r.exists, 3);
	mindex_sync_result_free(&r);
	free(p);
	mindex_folder_close(&f);
	fx_free(x);
}

static void test_keywords(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	fx_deliver(x, NULL, msg1);
	struct error err = {0};
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(f);
	assert_int_equal(mindex_keyword_count(f), 0);
	assert_int_equal(mindex_keyword_lookup(f, "$Forwarded", false, &err),
			 -1);
	assert_true(mindex_err_is(&err, MINDEX_ERR_NOTFOUND));
	assert_int_equal(mindex_keyword_lookup(f, "$Forwarded", true, &err), 0);
	assert_int_equal(mindex_keyword_lookup(f, "Work", true, &err), 1);
	assert_int_equal(mindex_keyword_lookup(f, "work", false, &err), 1);
	assert_string_equal(mindex_keyword_name(f, 1), "Work");
	char *kp = xasprintf("%s/dovecot-keywords", x->mpath);
	char *k = fx_read(kp);
	assert_string_equal(k, "0 $Forwarded\n1 Work\n");
	free(k);
	uint32_t seq = 1;
	enum mindex_store_result res;
	assert_int_equal(mindex_store_flags(f, &seq, 1, MINDEX_FLAGS_ADD,
					    STORE_FLAG_FLAGGED, 1u << 1, 0,
					    &res, &err),
			 0);
	assert_non_null(strstr(mindex_msg(f, 1)->name, ":2,Fb"));
	/* another handle sees the keyword by name */
	struct mindex_folder *g = mindex_folder_open(x->u, "INBOX", true, &err);
	assert_int_equal(mindex_msg(g, 1)->keywords, 1u << 1);
	assert_string_equal(mindex_keyword_name(g, 1), "Work");
	mindex_folder_close(&g);
	/* 26 at most */
	for (int i = 2; i < 26; i++) {
		char name[16];
		snprintf(name, sizeof(name), "kw%d", i);
		assert_int_equal(mindex_keyword_lookup(f, name, true, &err), i);
	}
	assert_int_equal(mindex_keyword_lookup(f, "one-too-many", true, &err),
			 -1);
	assert_true(mindex_err_is(&err, MINDEX_ERR_LIMIT));
	assert_int_equal(mindex_keyword_lookup(f, "bad name", true, &err), -1);
	free(kp);
	mindex_folder_close(&f);
	fx_free(x);
}

static ssize_t chunk_read(void *ctx, void *data, size_t size, struct error *err)
{
	(void)err;
	/* one byte at a time: CRLF split across reads */
	struct store_input_mem *m = ctx;
	if (m->pos >= m->len)
		return 0;
	(void)size;
	((char *)data)[0] = m->data[m->pos++];
	return 1;
}

static void test_append_copy(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	struct error err = {0};
	assert_int_equal(mindex_folder_create(x->u, "Archive", &err), 0);
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(f);
	const char *text = "Subject: a\r\n\r\nline\r\nbare\rcr\r\n";
	struct store_input_mem mem = {text, strlen(text), 0};
	struct store_input in = {chunk_read, &mem, 0};
	uint32_t uid = 0;
	time_t idate = 1600000000;
	int kw = mindex_keyword_lookup(f, "Work", true, &err);
	assert_int_equal(kw, 0);
	assert_int_equal(mindex_append(f, &in, STORE_FLAG_SEEN, 1u << kw, idate,
				       NULL, &uid, &err),
			 0);
	assert_int_equal(uid, 1);
	struct mindex_sync_result r;
	assert_int_equal(mindex_folder_sync(f, 0, &r, &err), 0);
	assert_int_equal(r.new_count, 1);
	mindex_sync_result_free(&r);
	const struct mindex_msg *m = mindex_msg(f, 1);
	assert_int_equal(m->uid, 1);
	assert_int_equal(m->flags, STORE_FLAG_SEEN);
	assert_int_equal(m->keywords, 1u);
	const char *lf = "Subject: a\n\nline\nbare\rcr\n";
	assert_int_equal(m->size, strlen(lf));
	assert_int_equal(m->vsize, strlen(text));
	assert_int_equal(mindex_msg_internaldate(f, 1), idate);
	int fd;
	assert_int_equal(mindex_msg_open(f, 1, &fd, &err), 1);
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(lf));
	assert_memory_equal(buf, lf, strlen(lf));
	assert_non_null(strstr(m->name, ":2,Sa"));

	/* copy: hard link, keyword mapped by name, new UID in the target */
	struct mindex_folder *d =
	    mindex_folder_open(x->u, "Archive", true, &err);
	assert_non_null(d);
	assert_int_equal(mindex_keyword_lookup(d, "Other", true, &err), 0);
	mindex_folder_close(&d);
	/* as a COPY target: no scan */
	d = mindex_folder_open_target(x->u, "Archive", &err);
	assert_non_null(d);
	assert_int_equal(mindex_folder_count(d), 0);
	assert_true(mindex_folder_uidvalidity(d) > 0);
	uint32_t seq = 1, nuid = 0;
	assert_int_equal(mindex_copy(f, &seq, 1, d, NULL, &nuid, &err), 0);
	assert_int_equal(nuid, 1);
	assert_int_equal(mindex_folder_sync(d, 0, &r, &err), 0);
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_folder_count(d), 1);
	const struct mindex_msg *c = mindex_msg(d, 1);
	assert_int_equal(c->keywords, 1u << 1);
	assert_string_equal(mindex_keyword_name(d, 1), "Work");
	assert_int_equal(mindex_msg_internaldate(d, 1), idate);
	char *p1 = xasprintf("%s/cur/%s", x->mpath, m->name);
	char *p2 = xasprintf("%s/.Archive/cur/%s", x->mpath, c->name);
	struct stat s1, s2;
	assert_int_equal(stat(p1, &s1), 0);
	assert_int_equal(stat(p2, &s2), 0);
	assert_int_equal(s1.st_ino, s2.st_ino);
	/* quota */
	struct store_quota q = {.bytes = 10};
	mem.pos = 0;
	assert_int_equal(mindex_append(f, &in, 0, 0, 0, &q, &uid, &err), -1);
	assert_true(mindex_err_is(&err, STORE_ERR_QUOTA));
	assert_int_equal(mindex_copy(f, &seq, 1, d, &q, &nuid, &err), -1);
	assert_true(mindex_err_is(&err, STORE_ERR_QUOTA));
	/* copy into itself is refused */
	assert_int_equal(mindex_copy(f, &seq, 1, f, NULL, &nuid, &err), -1);
	free(p1);
	free(p2);
	mindex_folder_close(&d);
	mindex_folder_close(&f);
	fx_free(x);
}

static void test_cache(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	fx_deliver(x, NULL, msg1);
	struct error err = {0};
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	struct buf *b = buf_new();
	assert_int_equal(mindex_cache_get(f, 1, "envelope", b, &err), 0);
	assert_int_equal(mindex_cache_put(f, 1, "envelope", "(NIL)", 5, &err),
			 0);
	assert_int_equal(mindex_cache_get(f, 1, "envelope", b, &err), 1);
	assert_true(buf_eq_str(b, "(NIL)"));
	/* a message the index does not know is not cached */
	assert_int_equal(mindex_cache_put(f, 99, "envelope", "x", 1, &err), 0);
	buf_reset(b);
	assert_int_equal(mindex_cache_get(f, 99, "envelope", b, &err), 0);
	uint32_t seq = 1;
	assert_int_equal(mindex_expunge(f, &seq, 1, &err), 0);
	assert_int_equal(mindex_cache_get(f, 1, "envelope", b, &err), 0);
	buf_free(&b);
	mindex_folder_close(&f);
	fx_free(x);
}

struct many_seen {
	char vals[8][16];
	int hits[8];
};

static void many_cb(void *ctx, size_t i, const void *data, size_t len)
{
	struct many_seen *m = ctx;
	assert_true(i < 8 && len < sizeof(m->vals[0]));
	memcpy(m->vals[i], data, len);
	m->vals[i][len] = '\0';
	m->hits[i]++;
}

/* get_many/put_many: dense (range scan) and sparse (point) batches. */
static void test_cache_many(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	for (int i = 0; i < 4; i++)
		fx_deliver(x, NULL, msg1);
	struct error err = {0};
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(f);
	assert_int_equal(mindex_folder_count(f), 4);
	struct mindex_cache_item items[] = {
	    {1, "one", 3}, {3, "three", 5}, {4, "", 0}, {99, "gone", 4}};
	assert_int_equal(mindex_cache_put_many(f, "envelope", items, 4, &err),
			 0);
	assert_int_equal(mindex_cache_put(f, 2, "body", "b2", 2, &err), 0);
	/* dense: 1..4 plus a duplicate; 2 has only another field */
	uint32_t dense[] = {1, 2, 3, 3, 4};
	struct many_seen m = {0};
	assert_int_equal(mindex_cache_get_many(f, dense, 5, "envelope", many_cb,
					       &m, &err),
			 4);
	assert_string_equal(m.vals[0], "one");
	assert_int_equal(m.hits[1], 0);
	assert_string_equal(m.vals[2], "three");
	assert_string_equal(m.vals[3], "three");
	assert_int_equal(m.hits[4], 1);
	assert_string_equal(m.vals[4], "");
	/* sparse: the point-lookup path; 99 was never stored */
	uint32_t sparse[] = {1, 4, 99, 100000};
	memset(&m, 0, sizeof(m));
	assert_int_equal(mindex_cache_get_many(f, sparse, 4, "envelope",
					       many_cb, &m, &err),
			 2);
	assert_string_equal(m.vals[0], "one");
	assert_int_equal(m.hits[1], 1);
	assert_int_equal(m.hits[2] + m.hits[3], 0);
	/* the single-value API sees what the batch stored */
	struct buf *b = buf_new();
	assert_int_equal(mindex_cache_get(f, 3, "envelope", b, &err), 1);
	assert_true(buf_eq_str(b, "three"));
	buf_free(&b);
	assert_int_equal(mindex_cache_get_many(f, dense, 0, "envelope",
					       many_cb, &m, &err),
			 0);
	mindex_folder_close(&f);
	fx_free(x);
}

static unsigned attrs_of(struct array *a, const char *name)
{
	for (size_t i = 0; i < array_len(a); i++) {
		struct mindex_folder_info *fi = array_get(a, i);
		if (strcmp(fi->name, name) == 0)
			return fi->attrs | 0x80000000u;
	}
	return 0;
}

static void test_folders(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	struct error err = {0};
	assert_int_equal(mindex_special_create(x->u, &err), 0);
	assert_int_equal(mindex_folder_create(x->u, "Lists", &err), 0);
	assert_int_equal(mindex_folder_create(x->u, "Lists.postern", &err), 0);
	assert_int_equal(mindex_folder_create(x->u, "Deep.Below", &err), 0);
	assert_int_equal(mindex_folder_create(x->u, "Lists", &err), -1);
	assert_true(mindex_err_is(&err, MINDEX_ERR_EXISTS));
	assert_int_equal(mindex_folder_create(x->u, "a/b", &err), -1);
	assert_true(mindex_err_is(&err, MINDEX_ERR_INVALID));
	assert_int_equal(mindex_folder_create(x->u, "..", &err), -1);
	assert_int_equal(mindex_folder_create(x->u, "INBOX", &err), -1);
	assert_true(mindex_err_is(&err, MINDEX_ERR_EXISTS));
	struct array *a;
	assert_int_equal(mindex_folder_list(x->u, &a, &err), 0);
	struct mindex_folder_info *first = array_get(a, 0);
	assert_string_equal(first->name, "INBOX");
	assert_int_equal(attrs_of(a, "Lists") & ~0x80000000u,
			 MINDEX_ATTR_HASCHILDREN);
	assert_int_equal(attrs_of(a, "Lists.postern") & ~0x80000000u,
			 MINDEX_ATTR_HASNOCHILDREN);
	assert_int_equal(attrs_of(a, "Deep") & ~0x80000000u,
			 MINDEX_ATTR_NONEXISTENT | MINDEX_ATTR_HASCHILDREN);
	assert_int_equal(attrs_of(a, "Sent") & ~0x80000000u,
			 MINDEX_ATTR_SENT | MINDEX_ATTR_SUBSCRIBED |
			     MINDEX_ATTR_HASNOCHILDREN);
	assert_true(attrs_of(a, "Trash") & MINDEX_ATTR_TRASH);
	assert_true(attrs_of(a, "Junk") & MINDEX_ATTR_JUNK);
	assert_true(attrs_of(a, "Drafts") & MINDEX_ATTR_DRAFTS);
	assert_true(attrs_of(a, "Archive") & MINDEX_ATTR_ARCHIVE);
	mindex_folder_list_free(&a);

	/* delete */
	assert_int_equal(mindex_folder_delete(x->u, "INBOX", &err), -1);
	assert_true(mindex_err_is(&err, MINDEX_ERR_INBOX));
	assert_int_equal(mindex_folder_delete(x->u, "Lists", &err), -1);
	assert_true(mindex_err_is(&err, MINDEX_ERR_HASCHILDREN));
	assert_int_equal(mindex_folder_delete(x->u, "Nope", &err), -1);
	assert_true(mindex_err_is(&err, MINDEX_ERR_NOTFOUND));
	fx_deliver(x, "Deep.Below", msg1);
	assert_int_equal(mindex_folder_delete(x->u, "Deep.Below", &err), 0);
	assert_int_equal(mindex_folder_exists(x->u, "Deep.Below", &err), 0);

	/* rename moves children and subscriptions */
	assert_int_equal(mindex_subscribe(x->u, "Lists.postern", true, &err),
			 0);
	fx_deliver(x, "Lists.postern", msg1);
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "Lists.postern", false, &err);
	uint32_t uv = mindex_folder_uidvalidity(f);
	mindex_folder_close(&f);
	assert_int_equal(mindex_folder_rename(x->u, "Lists", "Sent", &err), -1);
	assert_true(mindex_err_is(&err, MINDEX_ERR_EXISTS));
	assert_int_equal(mindex_folder_rename(x->u, "Lists", "Lists.x", &err),
			 -1);
	assert_int_equal(mindex_folder_rename(x->u, "Lists", "Old", &err), 0);
	assert_int_equal(mindex_folder_exists(x->u, "Lists", &err), 0);
	assert_int_equal(mindex_folder_exists(x->u, "Old.postern", &err), 1);
	assert_int_equal(mindex_is_subscribed(x->u, "Old.postern", &err), 1);
	assert_int_equal(mindex_is_subscribed(x->u, "Lists.postern", &err), 0);
	f = mindex_folder_open(x->u, "Old.postern", false, &err);
	assert_non_null(f);
	assert_int_equal(mindex_folder_uidvalidity(f), uv);
	assert_int_equal(mindex_folder_count(f), 1);
	mindex_folder_close(&f);

	/* subscriptions: missing folder, Dovecot's v2 format */
	assert_int_equal(mindex_subscribe(x->u, "Gone", true, &err), 0);
	assert_int_equal(mindex_folder_list(x->u, &a, &err), 0);
	assert_int_equal(attrs_of(a, "Gone") & ~0x80000000u,
			 MINDEX_ATTR_NONEXISTENT | MINDEX_ATTR_SUBSCRIBED |
			     MINDEX_ATTR_HASNOCHILDREN);
	mindex_folder_list_free(&a);
	char *sp = xasprintf("%s/subscriptions", x->mpath);
	char *subs = fx_read(sp);
	assert_non_null(strstr(subs, "Old.postern\n"));
	assert_non_null(strstr(subs, "Gone\n"));
	free(subs);
	fx_write(sp, "V\t2\n\nA\tB\nINBOX\n");
	assert_int_equal(mindex_is_subscribed(x->u, "A.B", &err), 1);
	assert_int_equal(mindex_subscribe(x->u, "C.D", true, &err), 0);
	subs = fx_read(sp);
	assert_string_equal(subs, "V\t2\n\nA\tB\nINBOX\nC\tD\n");
	free(subs);
	assert_int_equal(mindex_subscribe(x->u, "A.B", false, &err), 0);
	assert_int_equal(mindex_is_subscribed(x->u, "A.B", &err), 0);
	free(sp);

	/* STATUS */
	fx_deliver(x, "Sent", msg1);
	fx_deliver(x, "Sent", msg2);
	struct mindex_status st;
	assert_int_equal(mindex_folder_status(x->u, "Sent", &st, &err), 0);
	assert_int_equal(st.messages, 2);
	assert_int_equal(st.unseen, 2);
	assert_int_equal(st.recent, 2);
	assert_int_equal(st.uidnext, 3);
	assert_int_equal(st.size, strlen(msg1) + 3 + strlen(msg2) + 3);
	fx_free(x);
}

static void test_rename_inbox(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	struct error err = {0};
	fx_deliver(x, NULL, msg1);
	fx_deliver(x, NULL, msg2);
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	mindex_folder_close(&f);
	fx_deliver(x, NULL, msg3); /* one still in new/ */
	assert_int_equal(mindex_folder_rename(x->u, "INBOX", "Old", &err), 0);
	f = mindex_folder_open(x->u, "INBOX", false, &err);
	assert_int_equal(mindex_folder_count(f), 0);
	mindex_folder_close(&f);
	f = mindex_folder_open(x->u, "Old", false, &err);
	assert_non_null(f);
	assert_int_equal(mindex_folder_count(f), 3);
	mindex_folder_close(&f);
	fx_free(x);
}

/* Several processes appending and delivering at once: every file gets
 * exactly one UID, no UID twice. */
static void test_concurrent_writers(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	struct error err = {0};
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	mindex_folder_close(&f);
	enum { PROCS = 3, EACH = 30 };
	for (int p = 0; p < PROCS; p++) {
		pid_t pid = fork();
		if (pid == 0) {
			struct mindex_user *u =
			    mindex_user_open(x->mbox, NULL, NULL);
			struct mindex_folder *g =
			    mindex_folder_open(u, "INBOX", p == 0, NULL);
			for (int i = 0; i < EACH; i++) {
				if (p == 2) {
					fx_deliver(x, NULL, msg1);
					struct mindex_sync_result r;
					if (mindex_folder_sync(g, 0, &r, NULL) <
					    0)
						_exit(2);
					mindex_sync_result_free(&r);
					continue;
				}
				struct store_input_mem mem;
				struct store_input in;
				store_input_mem(&in, &mem, msg2, strlen(msg2));
				uint32_t uid;
				/* process 1: a fresh target handle each time,
				 * as imapd's APPEND does */
				struct mindex_folder *t =
				    p == 1 ? mindex_folder_open_target(
						 u, "INBOX", NULL)
					   : g;
				if (t == NULL ||
				    mindex_append(t, &in, 0, 0, 0, NULL, &uid,
						  NULL) < 0)
					_exit(1);
				if (p == 1)
					mindex_folder_close(&t);
			}
			mindex_folder_close(&g);
			mindex_user_free(&u);
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int st;
		wait(&st);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	f = mindex_folder_open(x->u, "INBOX", false, &err);
	assert_non_null(f);
	assert_int_equal(mindex_folder_count(f), PROCS * EACH);
	for (uint32_t s = 2; s <= mindex_folder_count(f); s++)
		assert_true(mindex_msg(f, s)->uid > mindex_msg(f, s - 1)->uid);
	assert_int_equal(mindex_folder_uidnext(f), PROCS * EACH + 1);
	mindex_folder_close(&f);
	fx_free(x);
}

/* APPEND through a target handle continues after the last record and
 * after N, whichever is larger, and notices records added meanwhile. */
static void test_open_target(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	struct error err = {0};
	char *p =
	    xasprintf("%s/cur/1700000000.M1P2.host,S=24,W=27:2,S", x->mpath);
	fx_write(p, "Subject: one\n\nbody one\n");
	free(p);
	p = xasprintf("%s/dovecot-uidlist", x->mpath);
	fx_write(p, "3 V42 N7 G00\n5 :1700000000.M1P2.host,S=24,W=27\n"
		    "30 :1700000001.gone\n");
	struct mindex_folder *t =
	    mindex_folder_open_target(x->u, "INBOX", &err);
	assert_non_null(t);
	assert_int_equal(mindex_folder_uidvalidity(t), 42);
	assert_int_equal(mindex_folder_uidnext(t), 31);
	struct store_input_mem mem;
	struct store_input in;
	store_input_mem(&in, &mem, msg1, strlen(msg1));
	uint32_t uid;
	assert_int_equal(mindex_append(t, &in, 0, 0, 0, NULL, &uid, &err), 0);
	assert_int_equal(uid, 31);
	/* someone else appends a record; ours comes after it */
	FILE *fp = fopen(p, "a");
	fputs("40 :1700000002.other\n", fp);
	fclose(fp);
	store_input_mem(&in, &mem, msg1, strlen(msg1));
	assert_int_equal(mindex_append(t, &in, 0, 0, 0, NULL, &uid, &err), 0);
	assert_int_equal(uid, 41);
	mindex_folder_close(&t);
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	assert_int_equal(mindex_folder_count(f), 3);
	assert_int_equal(mindex_msg(f, 1)->uid, 5);
	assert_int_equal(mindex_msg(f, 2)->uid, 31);
	assert_int_equal(mindex_msg(f, 3)->uid, 41);
	mindex_folder_close(&f);
	free(p);
	/* a folder that does not exist */
	assert_null(mindex_folder_open_target(x->u, "Nope", &err));
	assert_true(mindex_err_is(&err, MINDEX_ERR_NOTFOUND));
	fx_free(x);
}

/* Records of expunged files are dropped when they are many; UIDs and
 * the next UID stay. */
static void test_uidlist_compress(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	struct error err = {0};
	for (int i = 0; i < 150; i++)
		fx_deliver(x, NULL, msg1);
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	assert_int_equal(mindex_folder_count(f), 150);
	uint32_t seqs[120];
	for (uint32_t i = 0; i < 120; i++)
		seqs[i] = i + 1;
	assert_int_equal(mindex_expunge(f, seqs, 120, &err), 0);
	fx_deliver(x, NULL, msg2);
	struct mindex_sync_result r;
	assert_int_equal(mindex_folder_sync(f, 0, &r, &err), 0);
	assert_int_equal(r.expunged_count, 120);
	assert_int_equal(r.new_count, 1);
	assert_int_equal(r.exists, 31);
	mindex_sync_result_free(&r);
	assert_int_equal(mindex_msg(f, 1)->uid, 121);
	assert_int_equal(mindex_msg(f, 31)->uid, 151);
	mindex_folder_close(&f);
	char *p = xasprintf("%s/dovecot-uidlist", x->mpath);
	char *ul = fx_read(p);
	int lines = 0;
	for (char *c = ul; *c != '\0'; c++)
		lines += *c == '\n';
	assert_int_equal(lines, 1 + 31);
	assert_non_null(strstr(ul, " N152 "));
	assert_null(strstr(ul, "\n1 :"));
	free(ul);
	free(p);
	f = mindex_folder_open(x->u, "INBOX", false, &err);
	assert_int_equal(mindex_folder_uidnext(f), 152);
	assert_int_equal(mindex_msg(f, 1)->uid, 121);
	mindex_folder_close(&f);
	fx_free(x);
}

/* The selected folder deleted by another session. */
static void test_deleted_under_view(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	struct error err = {0};
	assert_int_equal(mindex_folder_create(x->u, "Tmp", &err), 0);
	fx_deliver(x, "Tmp", msg1);
	struct mindex_folder *f = mindex_folder_open(x->u, "Tmp", false, &err);
	assert_non_null(f);
	assert_int_equal(mindex_folder_delete(x->u, "Tmp", &err), 0);
	struct mindex_sync_result r;
	assert_int_equal(mindex_folder_sync(f, 0, &r, &err), -1);
	assert_true(mindex_err_is(&err, MINDEX_ERR_NOTFOUND));
	mindex_folder_close(&f);
	fx_free(x);
}

/* Sessions on worker threads: each its own handles, one SQLite pool. */
struct thr {
	struct fx *x;
	int id;
	int failures;
};

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	struct error err = {0};
	struct mindex_user *u = mindex_user_open(t->x->mbox, NULL, &err);
	struct mindex_folder *f = mindex_folder_open(u, "INBOX", false, &err);
	if (f == NULL) {
		t->failures++;
		mindex_user_free(&u);
		return NULL;
	}
	for (int i = 0; i < 20; i++) {
		uint32_t seq = (uint32_t)(t->id * 5 + i % 5) + 1;
		enum mindex_store_result res;
		if (mindex_store_flags(
			f, &seq, 1,
			(i / 5) % 2 ? MINDEX_FLAGS_REMOVE : MINDEX_FLAGS_ADD,
			STORE_FLAG_FLAGGED, 0, 0, &res, &err) < 0)
			t->failures++;
		char val[32];
		snprintf(val, sizeof(val), "v%d-%d", t->id, i);
		const struct mindex_msg *m = mindex_msg(f, seq);
		struct buf *b = buf_new();
		if (mindex_cache_put(f, m->uid, "envelope", val, strlen(val),
				     &err) < 0 ||
		    mindex_cache_get(f, m->uid, "envelope", b, &err) != 1 ||
		    !buf_eq_str(b, val))
			t->failures++;
		buf_free(&b);
		struct mindex_sync_result r;
		if (mindex_folder_sync(f, 0, &r, &err) < 0)
			t->failures++;
		mindex_sync_result_free(&r);
	}
	mindex_folder_close(&f);
	mindex_user_free(&u);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct fx *x = fx_new();
	for (int i = 0; i < 20; i++)
		fx_deliver(x, NULL, msg1);
	struct error err = {0};
	struct mindex_folder *f =
	    mindex_folder_open(x->u, "INBOX", false, &err);
	uint64_t hms = mindex_folder_highestmodseq(f);
	mindex_folder_close(&f);
	enum { N = 4 };
	pthread_t th[N];
	struct thr t[N];
	for (int i = 0; i < N; i++) {
		t[i] = (struct thr){x, i, 0};
		pthread_create(&th[i], NULL, thread_main, &t[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].failures, 0);
	}
	f = mindex_folder_open(x->u, "INBOX", false, &err);
	assert_int_equal(mindex_folder_count(f), 20);
	/* 20 changes each, each flag toggled back: all clear, modseqs up */
	for (uint32_t s = 1; s <= 20; s++)
		assert_int_equal(mindex_msg(f, s)->flags, 0);
	assert_true(mindex_folder_highestmodseq(f) >= hms + N * 20);
	mindex_folder_close(&f);
	fx_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_assigns_uids),
	    cmocka_unit_test(test_sync_reports),
	    cmocka_unit_test(test_cheap_sync),
	    cmocka_unit_test(test_keywords),
	    cmocka_unit_test(test_append_copy),
	    cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_cache_many),
	    cmocka_unit_test(test_folders),
	    cmocka_unit_test(test_rename_inbox),
	    cmocka_unit_test(test_concurrent_writers),
	    cmocka_unit_test(test_open_target),
	    cmocka_unit_test(test_uidlist_compress),
	    cmocka_unit_test(test_deleted_under_view),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
