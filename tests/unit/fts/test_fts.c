/*
 * test_fts - the full-text index: IMAP substring semantics, folders,
 * catch-up, a corrupt file, a busy writer.
 */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/array.h"
#include "core/xmalloc.h"
#include "fts/fts.h"
#include "store/store.h"
#include "test.h"

static char dir[] = "/tmp/test_fts.XXXXXX";

static struct fts *open_fts(void)
{
	struct error err = {0};
	struct fts *fts = fts_open(dir, 200, &err);
	assert_non_null(fts);
	return fts;
}

static void add(struct fts *fts, const char *folder, const char *uniq,
		const char *from, const char *subject, const char *body)
{
	struct error err = {0};
	char headers[512];
	snprintf(headers, sizeof(headers), "From: %s\nSubject: %s\n", from,
		 subject);
	struct fts_doc doc = {.folder = folder,
			      .unique = uniq,
			      .from = from,
			      .to = "bob@example.org",
			      .subject = subject,
			      .headers = headers,
			      .body = body};
	assert_int_equal(fts_add(fts, &doc, &err), 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The unique parts matching the keys, sorted and joined by ",". */
static char *search(struct fts *fts, const char *folder,
		    const struct fts_key *keys, size_t n)
{
	struct error err = {0};
	struct array *found = NULL;
	assert_int_equal(fts_search(fts, folder, keys, n, &found, &err), 0);
	array_sort(found, cmp_str);
	char out[1024] = "";
	for (size_t i = 0; i < array_len(found); i++) {
		if (i > 0)
			strcat(out, ",");
		strcat(out, (const char *)array_get(found, i));
	}
	fts_uniques_free(&found);
	return xstrdup(out);
}

static void expect(struct fts *fts, const char *folder, enum fts_field field,
		   const char *text, const char *want)
{
	struct fts_key key = {field, text};
	char *got = search(fts, folder, &key, 1);
	if (strcmp(got, want) != 0)
		print_message("search %d \"%s\" in %s\n", (int)field, text,
			      folder != NULL ? folder : "INBOX");
	assert_string_equal(got, want);
	free(got);
}

static void fill(struct fts *fts)
{
	add(fts, NULL, "m1", "Alice <alice@example.org>", "Postern release",
	    "The queue is durable.");
	add(fts, NULL, "m2", "Bob <bob@example.net>", "Lunch?",
	    "Äpfel und Birnen, Grüße");
	add(fts, NULL, "m3", "Carol <carol@example.com>", "Re: \"quoted\" 50%",
	    "ok");
	add(fts, "Archive", "m4", "Alice <alice@example.org>", "Old postern",
	    "archived body");
}

static void test_substring_and_fields(void **state)
{
	struct fts *fts = open_fts();
	fill(fts);
	/* A substring, not a word, and case-insensitive. */
	expect(fts, NULL, FTS_SUBJECT, "OSTER", "m1");
	expect(fts, NULL, FTS_FROM, "alice", "m1");
	/* SUBJECT does not look in the body, BODY not in the subject. */
	expect(fts, NULL, FTS_SUBJECT, "durable", "");
	expect(fts, NULL, FTS_BODY, "durable", "m1");
	expect(fts, NULL, FTS_BODY, "release", "");
	/* TEXT: headers and body. */
	expect(fts, NULL, FTS_TEXT, "release", "m1");
	expect(fts, NULL, FTS_TEXT, "durable", "m1");
	/* Non-ASCII case folding. */
	expect(fts, NULL, FTS_BODY, "ÄPFEL", "m2");
	expect(fts, NULL, FTS_BODY, "grüße", "m2");
	/* Short keys (LIKE) and quotes/percent signs taken literally. */
	expect(fts, NULL, FTS_SUBJECT, "50", "m3");
	expect(fts, NULL, FTS_SUBJECT, "0%", "m3");
	expect(fts, NULL, FTS_SUBJECT, "%", "m3");
	expect(fts, NULL, FTS_SUBJECT, "\"quoted\"", "m3");
	expect(fts, NULL, FTS_BODY, "ok", "m3");
	/* The empty string is contained in everything. */
	expect(fts, NULL, FTS_SUBJECT, "", "m1,m2,m3");
	/* Folders are separate. */
	expect(fts, "Archive", FTS_SUBJECT, "postern", "m4");
	expect(fts, NULL, FTS_BODY, "archived", "");
	/* Several keys: AND. */
	struct fts_key both[] = {{FTS_FROM, "alice"}, {FTS_BODY, "queue"}};
	char *got = search(fts, NULL, both, 2);
	assert_string_equal(got, "m1");
	free(got);
	struct fts_key none[] = {{FTS_FROM, "bob"}, {FTS_BODY, "queue"}};
	got = search(fts, NULL, none, 2);
	assert_string_equal(got, "");
	free(got);
	fts_close(&fts);
}

static void test_remove_copy_rename(void **state)
{
	struct error err = {0};
	struct fts *fts = open_fts();
	assert_int_equal(fts_count(fts, NULL, &err), 3);
	assert_int_equal(fts_remove(fts, NULL, "m1", &err), 0);
	assert_int_equal(fts_remove(fts, NULL, "never", &err), 0);
	expect(fts, NULL, FTS_SUBJECT, "postern", "");
	assert_int_equal(fts_copy(fts, NULL, "m2", "Sent", "c2", &err), 0);
	expect(fts, "Sent", FTS_BODY, "birnen", "c2");
	expect(fts, NULL, FTS_BODY, "birnen", "m2");
	assert_int_equal(fts_rename_folder(fts, "Sent", "Sent.2026", &err), 0);
	expect(fts, "Sent", FTS_BODY, "birnen", "");
	expect(fts, "Sent.2026", FTS_BODY, "birnen", "c2");
	assert_int_equal(fts_count(fts, "Sent.2026", &err), 1);
	assert_int_equal(fts_remove_folder(fts, "Sent.2026", &err), 0);
	assert_int_equal(fts_count(fts, "Sent.2026", &err), 0);
	fts_close(&fts);
}

static void test_missing(void **state)
{
	struct error err = {0};
	struct fts *fts = open_fts();
	struct array *missing = NULL;
	/* Now indexed in the INBOX: m2, m3. */
	const char *same[] = {"m3", "m2"};
	assert_int_equal(fts_missing(fts, NULL, same, 2, &missing, &err), 0);
	assert_int_equal(array_len(missing), 0);
	array_free(&missing);
	/* m2 expunged, m5 delivered without indexing: same count. */
	const char *now[] = {"m3", "m5"};
	assert_int_equal(fts_missing(fts, NULL, now, 2, &missing, &err), 0);
	assert_int_equal(array_len(missing), 1);
	assert_int_equal((uintptr_t)array_get(missing, 0), 1);
	array_free(&missing);
	/* The stale document is gone. */
	expect(fts, NULL, FTS_BODY, "birnen", "");
	assert_int_equal(fts_count(fts, NULL, &err), 1);
	fts_close(&fts);
}

/* Start from no index file at all. */
static void remove_index(void)
{
	static const char *const sfx[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		char path[320];
		snprintf(path, sizeof(path), "%s/%s%s", dir, FTS_FILE_NAME,
			 sfx[i]);
		unlink(path);
	}
}

/* Keys over the address/subject table and the headers/body table
 * together, long (MATCH) and short (LIKE) on each. */
static void test_split_tables(void **state)
{
	remove_index();
	struct fts *fts = open_fts();
	fill(fts);
	/* TEXT still finds From and Subject (they are in headers). */
	expect(fts, NULL, FTS_TEXT, "carol@", "m3");
	expect(fts, NULL, FTS_TEXT, "Lunch", "m2");
	expect(fts, NULL, FTS_HEADERS, "bob@example.net", "m2");
	expect(fts, NULL, FTS_TO, "bob@example", "m1,m2,m3");
	expect(fts, NULL, FTS_FROM, "durable", "");
	struct {
		struct fts_key k[3];
		size_t n;
		const char *want;
	} cases[] = {
	    {{{FTS_SUBJECT, "postern"}, {FTS_BODY, "durable"}}, 2, "m1"},
	    {{{FTS_SUBJECT, "postern"}, {FTS_BODY, "Birnen"}}, 2, ""},
	    {{{FTS_SUBJECT, "?"}, {FTS_BODY, "ok"}}, 2, ""},
	    {{{FTS_SUBJECT, "50"}, {FTS_BODY, "ok"}}, 2, "m3"},
	    {{{FTS_FROM, "bob"}, {FTS_TEXT, "ü"}}, 2, "m2"},
	    {{{FTS_FROM, "example"}, {FTS_SUBJECT, "Re"}, {FTS_TEXT, "ok"}},
	     3,
	     "m3"},
	    {{{FTS_BODY, "ue"}, {FTS_TEXT, "queue"}, {FTS_TO, "bob"}},
	     3,
	     "m1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = search(fts, NULL, cases[i].k, cases[i].n);
		if (strcmp(got, cases[i].want) != 0)
			print_message("case %zu\n", i);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
	/* remove and copy keep the two tables in step */
	struct error err = {0};
	assert_int_equal(fts_copy(fts, NULL, "m1", "Archive", "c1", &err), 0);
	assert_int_equal(fts_remove(fts, NULL, "m1", &err), 0);
	expect(fts, NULL, FTS_SUBJECT, "release", "");
	expect(fts, NULL, FTS_BODY, "durable", "");
	expect(fts, "Archive", FTS_SUBJECT, "release", "c1");
	expect(fts, "Archive", FTS_BODY, "durable", "c1");
	assert_int_equal(fts_remove_folder(fts, "Archive", &err), 0);
	expect(fts, "Archive", FTS_TEXT, "", "");
	sqlite3 *db;
	char path[320];
	snprintf(path, sizeof(path), "%s/%s", dir, FTS_FILE_NAME);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT (SELECT count(*) FROM"
					    " msghdr), (SELECT count(*) FROM"
					    " msgtext)",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 2);
	assert_int_equal(sqlite3_column_int(st, 1), 2);
	sqlite3_finalize(st);
	sqlite3_close(db);
	fts_close(&fts);
}

/* A file of the single-table layout (user_version 0) is emptied and
 * rebuilt in the current one; a current file is kept. */
static void test_old_format_rebuilt(void **state)
{
	remove_index();
	char path[320];
	snprintf(path, sizeof(path), "%s/%s", dir, FTS_FILE_NAME);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db,
			 "CREATE TABLE docs (id INTEGER PRIMARY KEY,"
			 " folder TEXT NOT NULL, uniq TEXT NOT NULL,"
			 " UNIQUE (folder, uniq));"
			 "CREATE TABLE folders (folder TEXT PRIMARY KEY,"
			 " count INTEGER NOT NULL, sig INTEGER NOT NULL);"
			 "CREATE VIRTUAL TABLE msgtext USING fts5(f_from,"
			 " f_to, f_cc, f_bcc, subject, headers, body,"
			 " tokenize = 'trigram case_sensitive 0');"
			 "INSERT INTO docs VALUES (1, '', 'old1');"
			 "INSERT INTO folders VALUES ('', 1, 0);"
			 "INSERT INTO msgtext (rowid, subject, body)"
			 " VALUES (1, 'old subject', 'old body');",
			 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	struct fts *fts = open_fts();
	struct error err = {0};
	assert_int_equal(fts_count(fts, NULL, &err), 0);
	expect(fts, NULL, FTS_SUBJECT, "subject", "");
	add(fts, NULL, "new1", "x@example.org", "new subject", "new body");
	expect(fts, NULL, FTS_SUBJECT, "subject", "new1");
	expect(fts, NULL, FTS_TEXT, "new body", "new1");
	fts_close(&fts);
	/* reopened: current, nothing dropped */
	fts = open_fts();
	expect(fts, NULL, FTS_SUBJECT, "subject", "new1");
	assert_int_equal(fts_count(fts, NULL, &err), 1);
	fts_close(&fts);
}

static void test_corrupt_rebuilt(void **state)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, FTS_FILE_NAME);
	unlink(path);
	char wal[300];
	snprintf(wal, sizeof(wal), "%s-wal", path);
	unlink(wal);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	char junk[4096];
	memset(junk, 'x', sizeof(junk));
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	struct fts *fts = open_fts();
	struct error err = {0};
	assert_int_equal(fts_count(fts, NULL, &err), 0);
	add(fts, NULL, "n1", "x@example.org", "after rebuild", "body");
	expect(fts, NULL, FTS_SUBJECT, "rebuild", "n1");
	fts_close(&fts);
}

static void test_busy_writer(void **state)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, FTS_FILE_NAME);
	sqlite3 *other;
	assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL,
				      NULL),
			 SQLITE_OK);
	struct fts *fts = open_fts();
	struct error err = {0};
	struct fts_doc doc = {.unique = "b1", .subject = "busy"};
	assert_int_equal(fts_add(fts, &doc, &err), -1);
	assert_int_equal(err.kind, ERR_TEMP);
	/* Readers are not blocked by the writer (WAL). */
	expect(fts, NULL, FTS_SUBJECT, "rebuild", "n1");
	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
	error_clear(&err);
	assert_int_equal(fts_add(fts, &doc, &err), 0);
	fts_close(&fts);
}

/* A real message: encoded words decoded, HTML reduced to text, the
 * attachment skipped; and the catch-up over a store folder. */
static void test_message_and_catchup(void **state)
{
	static const char msg[] =
	    "From: =?iso-8859-1?q?J=FCrgen?= <j@example.org>\n"
	    "Subject: =?utf-8?b?R3LDvMOfZSBhdXMgS8O2bG4=?=\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=\"b\"\n"
	    "\n"
	    "--b\n"
	    "Content-Type: text/html; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n"
	    "\n"
	    "<p>Caf=C3=A9 &amp; <b>Kuchen</b></p>\n"
	    "--b\n"
	    "Content-Type: application/octet-stream\n"
	    "Content-Disposition: attachment; filename=x.bin\n"
	    "\n"
	    "secretattachmentword\n"
	    "--b--\n";
	struct error err = {0};
	struct fts *fts = open_fts();
	assert_int_equal(fts_add_message(fts, "Mail", "x1", msg,
					  sizeof(msg) - 1, &err),
			 0);
	expect(fts, "Mail", FTS_FROM, "jürgen", "x1");
	expect(fts, "Mail", FTS_SUBJECT, "grüße aus köln", "x1");
	expect(fts, "Mail", FTS_BODY, "café &", "x1");
	expect(fts, "Mail", FTS_BODY, "kuchen", "x1");
	expect(fts, "Mail", FTS_BODY, "<b>", "");
	expect(fts, "Mail", FTS_TEXT, "secretattachment", "");
	expect(fts, "Mail", FTS_TEXT, "content-type", "x1");

	/* A store folder with two messages, one already indexed. */
	struct store_settings set = {.root = dir, .hostname = "test"};
	struct store *store = store_new(&set);
	struct store_mailbox *mbox =
	    store_mailbox_open(store, "example.org", "u", &err);
	assert_non_null(mbox);
	struct fts *ufts = fts_open(store_mailbox_path(mbox), 200, &err);
	assert_null(ufts); /* the mailbox directory does not exist yet */
	error_clear(&err);
	const char *bodies[] = {"Subject: first\n\nalpha words\n",
				"Subject: second\n\nbeta words\n"};
	char names[2][STORE_NAME_MAX];
	for (int i = 0; i < 2; i++) {
		struct store_delivery d = {.mbox = mbox};
		struct store_input in;
		struct store_input_mem mem;
		store_input_mem(&in, &mem, bodies[i], strlen(bodies[i]));
		assert_int_equal(store_deliver(&d, &in, &err), 0);
		snprintf(names[i], sizeof(names[i]), "%s", d.name);
	}
	ufts = fts_open(store_mailbox_path(mbox), 200, &err);
	assert_non_null(ufts);
	unsigned added;
	assert_int_equal(fts_catchup(ufts, mbox, NULL, &added, &err), 0);
	assert_int_equal(added, 2);
	assert_int_equal(fts_catchup(ufts, mbox, NULL, &added, &err), 0);
	assert_int_equal(added, 0);
	struct fts_key key = {FTS_BODY, "beta"};
	struct array *found = NULL;
	assert_int_equal(fts_search(ufts, NULL, &key, 1, &found, &err), 0);
	assert_int_equal(array_len(found), 1);
	assert_true(strncmp(names[1], array_get(found, 0),
			    strlen(array_get(found, 0))) == 0);
	fts_uniques_free(&found);
	fts_close(&ufts);
	store_mailbox_free(&mbox);
	store_free(&store);
	fts_close(&fts);
}

int main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_substring_and_fields),
	    cmocka_unit_test(test_remove_copy_rename),
	    cmocka_unit_test(test_missing),
	    cmocka_unit_test(test_corrupt_rebuilt),
	    cmocka_unit_test(test_busy_writer),
	    cmocka_unit_test(test_message_and_catchup),
	    cmocka_unit_test(test_split_tables),
	    cmocka_unit_test(test_old_format_rebuilt),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return rc;
}
