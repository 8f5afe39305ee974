#!/usr/bin/env python3
"""The IMAP message commands of postern-imapd (imapd/imapd-fetch.c,
-store.c, -search.c, -copy.c, -expunge.c, -sort.c) against known
messages, asserting exact responses: FETCH of every item (BODYSTRUCTURE
of a multipart, sections, partial fetches, BINARY of a base64 part with
literal8), \\Seen on non-PEEK fetches, STORE with keywords and
UNCHANGEDSINCE, SEARCH of each key and ESEARCH / SEARCHRES, COPYUID,
MOVE, EXPUNGE and VANISHED, SORT and THREAD orders.

The messages are APPENDed (not delivered), so their bytes are known:
the store keeps LF line ends and the server must answer in CRLF terms.
IMAP_TARGET=dovecot runs the same assertions against Dovecot 2.3
(imap_site.py) where its answers are the same by RFC; Postern-only items
(EMAILID, PREVIEW...) are skipped there.  Raw sockets (imap_site.Raw) so
that every byte of the answers is seen.  Exit 0 pass, 1 fail, 77 skip.
"""
import base64
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_site as site  # noqa: E402

USERS = ["fetch", "store", "search", "copy", "expunge", "sort", "big",
         "binary"]
T = None

BIN = bytes(range(256))
MULTI = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <jurgen@example.org>\r\n"
    b"To: Bob <bob@imap.test>, carol@imap.test\r\n"
    b"Cc: Dave <dave@imap.test>\r\n"
    b"Subject: Multipart test\r\n"
    b"Date: Tue, 3 Mar 2026 12:00:00 +0100\r\n"
    b"Message-ID: <multi@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--XX\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Sch=C3=B6ne Gr=C3=BC=C3=9Fe, zebra.\r\n"
    b"--XX\r\n"
    b"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
    b"Content-Disposition: attachment; filename=\"a.bin\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    + base64.encodebytes(BIN).replace(b"\n", b"\r\n") +
    b"--XX\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: inner@example.org\r\n"
    b"Subject: Inner\r\n"
    b"\r\n"
    b"Inner body.\r\n"
    b"--XX--\r\n")
MULTI_HDR, MULTI_TEXT = MULTI.split(b"\r\n\r\n", 1)
MULTI_HDR += b"\r\n\r\n"
PART1_MIME = (b"Content-Type: text/plain; charset=utf-8\r\n"
              b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
PART1 = b"Sch=C3=B6ne Gr=C3=BC=C3=9Fe, zebra."
PART2 = base64.encodebytes(BIN).replace(b"\n", b"\r\n")[:-2]
INNER = b"From: inner@example.org\r\nSubject: Inner\r\n\r\nInner body."
# Dovecot 2.3's answer: a line count is the number of LFs (the line end
# before a boundary belongs to the boundary), sizes in CRLF terms.
BODYSTRUCTURE = (
    b'(("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 35 0'
    b' NIL NIL NIL NIL)'
    b'("application" "octet-stream" ("name" "a.bin") NIL NIL "base64" 352'
    b' NIL ("attachment" ("filename" "a.bin")) NIL NIL)'
    b'("message" "rfc822" NIL NIL NIL "7bit" 54'
    b' (NIL "Inner" ((NIL NIL "inner" "example.org"))'
    b' ((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org"))'
    b' NIL NIL NIL NIL NIL)'
    b' ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0'
    b' NIL NIL NIL NIL) 3 NIL NIL NIL NIL)'
    b' "mixed" ("boundary" "XX") NIL NIL NIL)')


def msg(i, subject, frm, to, date, body="Body.\r\n", extra=""):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n"
            "Message-ID: <m%d@example.org>\r\n%s\r\n%s" %
            (frm, to, subject, date, i, extra, body)).encode()


def setUpModule():
    global T
    if site.target_kind() == "postern" and not site.have_postern_imapd():
        raise unittest.SkipTest("postern-imapd not built in " + site.BUILD)
    T = site.target_from_env(USERS)
    # (the first login of a fresh site needs the mail_directory root)
    os.makedirs(T.mail, exist_ok=True)


def tearDownModule():
    if T:
        T.cleanup()


class Base(unittest.TestCase):
    user = None
    n = 0

    def setUp(self):
        self.r = T.raw()
        self.addCleanup(self.r.close)
        self.r.login(T.address(self.user))

    def cmd(self, text, ok=True, everything=False):
        """(untagged lines, tagged line).  Unless `everything`, untagged
        lines that are not the command's own answer are dropped (* n
        RECENT, * FLAGS / PERMANENTFLAGS after a new keyword, HIGHESTMODSEQ
        when CONDSTORE turns on) and \\Recent is removed from flag lists:
        Dovecot marks APPENDed messages recent, Postern (cur/) does not."""
        Base.n += 1
        tag = "a%d" % Base.n
        u, t = self.r.cmd(tag, text)
        if ok:
            self.assertRegex(t, rb"^a\d+ OK", "%s -> %r %r" % (text, u, t))
        if not everything:
            u = [re.sub(rb" ?\\Recent", b"", l).replace(b"( ", b"(")
                 for l in u
                 if not re.match(rb"\* (\d+ RECENT|FLAGS|OK \[(PERMANENTFLAGS"
                                 rb"|HIGHESTMODSEQ))", l)]
            # an EXISTS after expunges repeats the count: allowed
            while u and re.match(rb"\* \d+ EXISTS", u[-1]) and any(
                    b"EXPUNGE" in l or b"VANISHED" in l for l in u):
                u = u[:-1]
        return u, t

    def append(self, folder, data, flags="", date='"03-Mar-2026 12:00:00 +0100"'):
        Base.n += 1
        tag = "a%d" % Base.n
        self.r.send("%s APPEND %s (%s) %s {%d+}\r\n" %
                    (tag, folder, flags, date, len(data)))
        self.r.send(data + b"\r\n")
        u, t = self.r.until_tagged(tag)
        self.assertIn(b" OK", t, (u, t))
        m = re.search(rb"APPENDUID (\d+) (\d+)", t)
        return int(m.group(2)) if m else None

    def folder(self, name, msgs, select=True):
        """A new folder holding msgs ((bytes, flags) pairs), selected."""
        name = "%s%d" % (name, int(time.time() * 1000) % 10**7)
        self.cmd("CREATE %s" % name)
        for m in msgs:
            if isinstance(m, tuple):
                self.append(name, m[0], m[1])
            else:
                self.append(name, m)
        if select:
            u, t = self.cmd("SELECT %s" % name)
            self.uidvalidity = int(re.search(
                rb"UIDVALIDITY (\d+)", b"".join(u)).group(1))
        return name

    def postern_only(self):
        if T.kind == "dovecot":
            self.skipTest("Postern extension")


class Fetch(Base):
    user = "fetch"

    def test_index_items(self):
        self.folder("F", [(MULTI, "\\Flagged")])
        u, t = self.cmd("FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE)")
        # INTERNALDATE comes back in the server's zone (the file's mtime)
        when = time.strftime("%d-%b-%Y %H:%M:%S %z", time.localtime(
            1772535600)).encode()
        self.assertEqual(u, [
            b'* 1 FETCH (UID 1 FLAGS (\\Flagged) '
            b'INTERNALDATE "%s" '
            b'RFC822.SIZE %d)\r\n' % (when, len(MULTI))], u)
        u, t = self.cmd("UID FETCH 1 FLAGS")
        self.assertEqual(u, [b"* 1 FETCH (UID 1 FLAGS (\\Flagged))\r\n"])
        # FAST macro; nonexistent UIDs give nothing; bad seq is BAD
        u, t = self.cmd("UID FETCH 5:9 FLAGS")
        self.assertEqual(u, [])
        u, t = self.cmd("FETCH 2 FLAGS", ok=False)
        self.assertRegex(t, rb"^a\d+ BAD")

    def test_bodystructure_envelope(self):
        self.folder("F", [MULTI])
        u, t = self.cmd("FETCH 1 BODYSTRUCTURE")
        self.assertEqual(u, [b"* 1 FETCH (BODYSTRUCTURE " + BODYSTRUCTURE +
                             b")\r\n"])
        # the second answer (from the cache) is the same
        u2, t = self.cmd("FETCH 1 BODYSTRUCTURE")
        self.assertEqual(u2, u)
        u, t = self.cmd("FETCH 1 ENVELOPE")
        self.assertEqual(u, [
            b'* 1 FETCH (ENVELOPE ("Tue, 3 Mar 2026 12:00:00 +0100" '
            b'"Multipart test" '
            b'(("=?utf-8?q?J=C3=BCrgen?=" NIL "jurgen" "example.org")) '
            b'(("=?utf-8?q?J=C3=BCrgen?=" NIL "jurgen" "example.org")) '
            b'(("=?utf-8?q?J=C3=BCrgen?=" NIL "jurgen" "example.org")) '
            b'(("Bob" NIL "bob" "imap.test")(NIL NIL "carol" "imap.test")) '
            b'(("Dave" NIL "dave" "imap.test")) NIL NIL '
            b'"<multi@example.org>"))\r\n'])

    def lit(self, item, data):
        return b"%s {%d}\r\n%s" % (item, len(data), data)

    def test_sections(self):
        self.folder("F", [MULTI])
        cases = [
            ("BODY.PEEK[]", b"BODY[]", MULTI),
            ("BODY.PEEK[HEADER]", b"BODY[HEADER]", MULTI_HDR),
            ("BODY.PEEK[TEXT]", b"BODY[TEXT]", MULTI_TEXT),
            ("BODY.PEEK[1]", b"BODY[1]", PART1),
            ("BODY.PEEK[1.MIME]", b"BODY[1.MIME]", PART1_MIME),
            ("BODY.PEEK[2]", b"BODY[2]", PART2),
            ("BODY.PEEK[3]", b"BODY[3]", INNER),
            ("BODY.PEEK[3.HEADER]", b"BODY[3.HEADER]",
             b"From: inner@example.org\r\nSubject: Inner\r\n\r\n"),
            ("BODY.PEEK[3.TEXT]", b"BODY[3.TEXT]", b"Inner body."),
            ("BODY.PEEK[3.1]", b"BODY[3.1]", b"Inner body."),
            ("BODY.PEEK[HEADER.FIELDS (Subject CC)]",
             b"BODY[HEADER.FIELDS (SUBJECT CC)]",
             b"Cc: Dave <dave@imap.test>\r\nSubject: Multipart test\r\n\r\n"),
            ("BODY.PEEK[3.HEADER.FIELDS.NOT (From)]",
             b"BODY[3.HEADER.FIELDS.NOT (FROM)]", b"Subject: Inner\r\n\r\n"),
            ("BODY.PEEK[]<0.10>", b"BODY[]<0>", MULTI[:10]),
            ("BODY.PEEK[TEXT]<12.7>", b"BODY[TEXT]<12>", MULTI_TEXT[12:19]),
            ("BODY.PEEK[1]<5.1000>", b"BODY[1]<5>", PART1[5:]),
            ("RFC822.HEADER", b"RFC822.HEADER", MULTI_HDR),
        ]
        for spec, name, want in cases:
            u, t = self.cmd("FETCH 1 (%s)" % spec)
            self.assertEqual(u, [b"* 1 FETCH (" + self.lit(name, want) +
                                 b")\r\n"], spec)
        # a window past the end is empty; a missing part is empty
        u, t = self.cmd("FETCH 1 BODY.PEEK[1]<5000.10>")
        self.assertRegex(u[0], rb'BODY\[1\]<5000> (""|\{0\}\r\n)\)')
        # nothing of the above set \Seen
        u, t = self.cmd("FETCH 1 FLAGS")
        self.assertEqual(u, [b"* 1 FETCH (FLAGS ())\r\n"])

    def test_body_sets_seen(self):
        self.folder("F", [MULTI])
        u, t = self.cmd("FETCH 1 BODY[1]")
        self.assertEqual(len(u), 1)
        self.assertIn(b"FLAGS (\\Seen)", u[0])
        self.assertIn(self.lit(b"BODY[1]", PART1), u[0])
        # read-only: no \Seen
        name = self.folder("G", [MULTI], select=False)
        self.cmd("EXAMINE %s" % name)
        u, t = self.cmd("FETCH 1 (BODY[TEXT] FLAGS)")
        self.assertIn(b"FLAGS ()", u[0])

    def test_binary(self):
        self.folder("F", [MULTI])
        u, t = self.cmd("FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])")
        self.assertEqual(u, [b"* 1 FETCH (BINARY.SIZE[2] 256 BINARY[2] "
                             b"~{256}\r\n" + BIN + b")\r\n"])
        u, t = self.cmd("FETCH 1 BINARY.PEEK[1]")
        want = "Schöne Grüße, zebra.".encode()
        # literal or literal8: both are right without NUL (RFC 3516)
        self.assertIn(u, ([b"* 1 FETCH (BINARY[1] {%d}\r\n%s)\r\n" %
                           (len(want), want)],
                          [b"* 1 FETCH (BINARY[1] ~{%d}\r\n%s)\r\n" %
                           (len(want), want)]))
        u, t = self.cmd("FETCH 1 BINARY.PEEK[2]<250.100>")
        self.assertIn(u, ([b"* 1 FETCH (BINARY[2]<250> ~{6}\r\n" +
                           BIN[250:] + b")\r\n"],
                          [b"* 1 FETCH (BINARY[2]<250> {6}\r\n" +
                           BIN[250:] + b")\r\n"]))

    def test_unknown_cte(self):
        m = (b"Subject: x\r\nContent-Transfer-Encoding: x-foo\r\n\r\nabc\r\n")
        self.folder("F", [m])
        u, t = self.cmd("FETCH 1 BINARY.PEEK[1]", ok=False)
        self.assertRegex(t, rb"^a\d+ NO \[UNKNOWN-CTE\]")

    def test_condstore_modseq(self):
        self.folder("F", [MULTI, MULTI])
        u, t = self.cmd("FETCH 1:2 (MODSEQ)")
        mods = [int(re.search(rb"MODSEQ \((\d+)\)", l).group(1)) for l in u]
        self.assertEqual(len(mods), 2)
        self.cmd("STORE 2 +FLAGS (\\Answered)")
        u, t = self.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % max(mods))
        self.assertEqual(len(u), 1)
        self.assertRegex(u[0], rb"^\* 2 FETCH \(.*FLAGS \(\\Answered\)")
        self.assertRegex(u[0], rb"MODSEQ \(\d+\)")

    def test_objectid_preview(self):
        self.postern_only()
        other = MULTI.replace(b"Multipart test", b"Other test")
        name = self.folder("F", [MULTI, other])
        u, t = self.cmd("FETCH 1:2 (EMAILID THREADID)")
        ids = [re.search(rb"EMAILID \((M[0-9a-f]{16})\)", l).group(1)
               for l in u]
        self.assertEqual(len(set(ids)), 2)
        self.assertIn(b"THREADID NIL", u[0])
        # a copy keeps its EMAILID (RFC 8474), SEARCH EMAILID finds it
        dst = self.folder("G", [], select=False)
        self.cmd("COPY 1 %s" % dst)
        self.cmd("SELECT %s" % dst)
        u, t = self.cmd("FETCH 1 EMAILID")
        self.assertEqual(u, [b"* 1 FETCH (EMAILID (%s))\r\n" % ids[0]])
        self.cmd("SELECT %s" % name)
        u, t = self.cmd("SEARCH EMAILID %s" % ids[1].decode())
        self.assertEqual(u, [b"* SEARCH 2\r\n"])
        u, t = self.cmd("FETCH 1 (PREVIEW)")
        # RFC 8970: UTF-8 text; 8-bit needs a literal without UTF8=ACCEPT
        text = "Schöne Grüße, zebra.".encode()
        self.assertEqual(u, [b"* 1 FETCH (PREVIEW {%d}\r\n%s)\r\n" %
                             (len(text), text)])
        self.cmd("ENABLE UTF8=ACCEPT")
        u, t = self.cmd("FETCH 1 (PREVIEW)")
        self.assertEqual(u, [b'* 1 FETCH (PREVIEW "%s")\r\n' % text])

    def test_cache_and_index_only(self):
        # Once ENVELOPE and BODYSTRUCTURE are cached, and for items of
        # the index, the message file is not read: garble it and the
        # answers stay the same.
        self.postern_only()
        name = self.folder("C", [MULTI])
        items = "(UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)"
        u1, t = self.cmd("FETCH 1 " + items)
        cur = os.path.join(T.maildir(self.user), "." + name, "cur")
        path = os.path.join(cur, os.listdir(cur)[0])
        with open(path, "r+b") as f:
            f.write(b"X" * 600)
        u2, t = self.cmd("FETCH 1 " + items)
        self.assertEqual(u2, u1)
        u3, t = self.cmd("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
        self.assertNotIn(b"Multipart test", u3[0])

    def test_vanished_needs_qresync(self):
        self.folder("F", [MULTI])
        u, t = self.cmd("UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)",
                        ok=False)
        self.assertRegex(t, rb"^a\d+ BAD")

    def test_header_fields_partial(self):
        self.folder("F", [MULTI])
        want = b"Cc: Dave <dave@imap.test>\r\nSubject: Multipart test\r\n\r\n"
        u, t = self.cmd("FETCH 1 BODY.PEEK[HEADER.FIELDS (CC SUBJECT)]<4.10>")
        self.assertEqual(u, [b"* 1 FETCH (" + self.lit(
            b"BODY[HEADER.FIELDS (CC SUBJECT)]<4>", want[4:14]) + b")\r\n"])

    def test_big_message_chunks(self):
        # 3 MB: the answer is streamed in chunks and must be exact
        body = b"".join(b"line %07d of a big message\r\n" % i
                        for i in range(100000))
        m = b"Subject: big\r\n\r\n" + body
        self.folder("F", [m])
        u, t = self.cmd("FETCH 1 BODY.PEEK[]")
        self.assertEqual(u, [b"* 1 FETCH (" + self.lit(b"BODY[]", m) +
                             b")\r\n"])
        u, t = self.cmd("FETCH 1 BODY.PEEK[]<1000000.2000000>")
        self.assertEqual(u, [b"* 1 FETCH (" + self.lit(
            b"BODY[]<1000000>", m[1000000:3000000]) + b")\r\n"])


class Store(Base):
    user = "store"

    def test_flags_and_keywords(self):
        self.folder("S", [MULTI, MULTI, MULTI])
        u, t = self.cmd("STORE 1 +FLAGS (\\Flagged $Label1)")
        self.assertEqual(u, [b"* 1 FETCH (FLAGS (\\Flagged $Label1))\r\n"])
        u, t = self.cmd("STORE 1:2 FLAGS (\\Seen)")
        self.assertEqual(u, [b"* 1 FETCH (FLAGS (\\Seen))\r\n",
                             b"* 2 FETCH (FLAGS (\\Seen))\r\n"])
        u, t = self.cmd("UID STORE 2 -FLAGS.SILENT (\\Seen)")
        self.assertEqual(u, [])
        u, t = self.cmd("UID STORE 3 +FLAGS (\\Deleted)")
        self.assertEqual(u, [b"* 3 FETCH (UID 3 FLAGS (\\Deleted))\r\n"])
        u, t = self.cmd("FETCH 1:3 FLAGS")
        self.assertEqual(u, [b"* 1 FETCH (FLAGS (\\Seen))\r\n",
                             b"* 2 FETCH (FLAGS ())\r\n",
                             b"* 3 FETCH (FLAGS (\\Deleted))\r\n"])
        u, t = self.cmd("STORE 1 +FLAGS (\\Bogus)", ok=False)
        self.assertRegex(t, rb"^a\d+ BAD")

    def test_keyword_limit(self):
        self.postern_only()   # Dovecot has no 26-keyword limit
        self.folder("S", [MULTI])
        kws = " ".join("kw%d" % i for i in range(26))
        self.cmd("STORE 1 +FLAGS (%s)" % kws)
        u, t = self.cmd("STORE 1 +FLAGS (onemore)", ok=False)
        self.assertRegex(t, rb"^a\d+ NO \[LIMIT\]")

    def test_unchangedsince(self):
        self.folder("S", [MULTI, MULTI])
        u, t = self.cmd("FETCH 1:2 MODSEQ")
        mods = [int(re.search(rb"MODSEQ \((\d+)\)", l).group(1)) for l in u]
        self.cmd("STORE 2 +FLAGS (\\Flagged)")
        u, t = self.cmd("STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)"
                        % max(mods))
        self.assertRegex(t, rb"^a\d+ OK \[MODIFIED 2\]")
        self.assertEqual(len(u), 1)
        self.assertRegex(u[0], rb"^\* 1 FETCH \(MODSEQ \(\d+\) FLAGS "
                         rb"\(\\Seen\)\)\r\n$|^\* 1 FETCH \(FLAGS \(\\Seen\) "
                         rb"MODSEQ \(\d+\)\)\r\n$")
        u, t = self.cmd("UID STORE 1:2 (UNCHANGEDSINCE 0) +FLAGS (x)")
        self.assertRegex(t, rb"^a\d+ OK \[MODIFIED 1:2\]")

    def test_readonly(self):
        name = self.folder("S", [MULTI], select=False)
        self.cmd("EXAMINE %s" % name)
        u, t = self.cmd("STORE 1 +FLAGS (\\Seen)", ok=False)
        # Dovecot answers OK and ignores it; the flags must not change
        if T.kind != "dovecot":
            self.assertRegex(t, rb"^a\d+ NO")
        u, t = self.cmd("FETCH 1 FLAGS")
        self.assertEqual(u, [b"* 1 FETCH (FLAGS ())\r\n"])


SEARCH_MSGS = [
    (msg(1, "Apple pie", "Ann <ann@a.example>", "bob@imap.test",
         "Mon, 2 Mar 2026 10:00:00 +0000", "short\r\n"), "\\Seen"),
    (msg(2, "Re: Banana", "Ben <ben@b.example>", "carol@imap.test",
         "Wed, 4 Mar 2026 10:00:00 +0000", "x" * 3000 + "\r\n",
         "Cc: dave@imap.test\r\nX-Tag: special\r\n"), "\\Flagged $Work"),
    (msg(3, "Cherry", "Cid <cid@c.example>", "bob@imap.test",
         "Fri, 6 Mar 2026 10:00:00 +0000", "the zebra body\r\n"),
     "\\Answered \\Deleted"),
    (msg(4, "=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "Dee <dee@d.example>",
         "erin@imap.test", "Sun, 8 Mar 2026 10:00:00 +0000",
         "Umlaut body\r\n"), "\\Draft"),
]


class Search(Base):
    user = "search"

    def setUp(self):
        super().setUp()
        self.folder("Q", SEARCH_MSGS)

    def search(self, crit, want, uid=False):
        u, t = self.cmd("%sSEARCH %s" % ("UID " if uid else "", crit))
        got = [l for l in u if l.startswith(b"* SEARCH")]
        self.assertEqual(got, [("* SEARCH%s\r\n" % "".join(
            " %d" % n for n in want)).encode()], crit)

    def test_keys(self):
        cases = [
            ("ALL", [1, 2, 3, 4]), ("SEEN", [1]), ("UNSEEN", [2, 3, 4]),
            ("FLAGGED", [2]), ("UNFLAGGED", [1, 3, 4]),
            ("ANSWERED", [3]), ("DELETED", [3]), ("UNDELETED", [1, 2, 4]),
            ("DRAFT", [4]), ("UNDRAFT", [1, 2, 3]),
            ("KEYWORD $Work", [2]), ("UNKEYWORD $Work", [1, 3, 4]),
            ("LARGER 1000", [2]), ("SMALLER 1000", [1, 3, 4]),
            ("SUBJECT banana", [2]), ("FROM cid@c", [3]), ("FROM ann", [1]),
            ("TO bob", [1, 3]), ("CC dave", [2]), ("BCC x", []),
            ("HEADER X-Tag spec", [2]), ("HEADER X-Tag \"\"", [2]),
            ("BODY zebra", [3]), ("TEXT zebra", [3]), ("TEXT Cherry", [3]),
            ("SENTBEFORE 4-Mar-2026", [1]), ("SENTON 4-Mar-2026", [2]),
            ("SENTSINCE 6-Mar-2026", [3, 4]),
            ("ON 3-Mar-2026", [1, 2, 3, 4]), ("BEFORE 3-Mar-2026", []),
            ("SINCE 4-Mar-2026", []),
            ("1:2", [1, 2]), ("UID 3:*", [3, 4]),
            ("OR SEEN FLAGGED", [1, 2]), ("NOT SEEN", [2, 3, 4]),
            ("(SEEN) (UNFLAGGED)", [1]),
            ("CHARSET UTF-8 SUBJECT \"Gr\u00fc\"", [4]),
        ]
        for crit, want in cases:
            self.search(crit, want)
        self.search("FLAGGED", [2], uid=True)
        u, t = self.cmd("SEARCH CHARSET X-UNKNOWN ALL", ok=False)
        self.assertRegex(t, rb"^a\d+ NO \[BADCHARSET")

    def test_esearch_searchres(self):
        u, t = self.cmd("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN")
        m = re.match(rb'^\* ESEARCH \(TAG "a\d+"\) (.*)\r\n$', u[0])
        # the order of the return data is free (RFC 4731)
        items = m.group(1).split()
        self.assertEqual(dict(zip(items[::2], items[1::2])),
                         {b"MIN": b"2", b"MAX": b"4", b"COUNT": b"3",
                          b"ALL": b"2:4"})
        u, t = self.cmd("UID SEARCH RETURN (COUNT) DELETED")
        self.assertRegex(u[0], rb'^\* ESEARCH \(TAG "a\d+"\) UID COUNT 1\r\n$')
        u, t = self.cmd("SEARCH RETURN (SAVE) OR SEEN DRAFT")
        self.assertEqual([l for l in u if b"ESEARCH" in l], [])
        u, t = self.cmd("FETCH $ (UID)")
        self.assertEqual(u, [b"* 1 FETCH (UID 1)\r\n",
                             b"* 4 FETCH (UID 4)\r\n"])
        self.search("$ FLAGGED", [])
        self.search("NOT $", [2, 3])

    def test_fulltext_index(self):
        # SEARCH BODY/TEXT/SUBJECT answer from the full-text index
        # (lib/fts), built at the first search: a file changed behind
        # the index's back is not read.
        self.postern_only()
        name = self.folder("X", [msg(1, "one", "a@x.example", "b@x.example",
                                     "Mon, 2 Mar 2026 10:00:00 +0000",
                                     "giraffe\r\n"),
                                 msg(2, "two", "a@x.example", "b@x.example",
                                     "Mon, 2 Mar 2026 10:00:00 +0000",
                                     "elephant\r\n")])
        self.search("BODY giraffe", [1])
        cur = os.path.join(T.maildir(self.user), "." + name, "cur")
        second = sorted(os.listdir(cur))[1]
        with open(os.path.join(cur, second), "wb") as f:
            f.write(b"Subject: two\n\ngiraffe\n")
        self.search("BODY giraffe", [1])
        self.search("SUBJECT two", [2])
        self.search("TEXT elephant", [2])

    def test_imap4rev2_esearch(self):
        self.postern_only()   # Dovecot 2.3 has no IMAP4rev2
        self.cmd("ENABLE IMAP4rev2")
        u, t = self.cmd("SEARCH SEEN")
        self.assertRegex(u[0], rb'^\* ESEARCH \(TAG "a\d+"\) ALL 1\r\n$')
        u, t = self.cmd("UID SEARCH OR SEEN FLAGGED")
        self.assertRegex(u[0], rb'^\* ESEARCH \(TAG "a\d+"\) UID ALL 1:2\r\n$')

    def test_modseq(self):
        u, t = self.cmd("FETCH 1:4 MODSEQ")
        mods = {int(l.split()[1]): int(re.search(rb"MODSEQ \((\d+)", l)
                                       .group(1)) for l in u}
        self.cmd("STORE 3 +FLAGS (\\Seen)")
        u, t = self.cmd("FETCH 3 MODSEQ")
        m3 = int(re.search(rb"MODSEQ \((\d+)", u[0]).group(1))
        u, t = self.cmd("SEARCH MODSEQ %d" % (max(mods.values()) + 1))
        self.assertEqual([l for l in u if l.startswith(b"* SEARCH")],
                         [b"* SEARCH 3 (MODSEQ %d)\r\n" % m3])


class CopyMove(Base):
    user = "copy"

    def test_copy_move(self):
        dst = self.folder("D", [MULTI], select=False)
        self.cmd("SELECT %s" % dst)
        u, t = self.cmd("STATUS %s (UIDVALIDITY)" % dst)
        dstvalidity = int(re.search(rb"UIDVALIDITY (\d+)", b"".join(u))
                          .group(1))
        self.folder("S", [MULTI, MULTI, MULTI])
        u, t = self.cmd("COPY 2:3 %s" % dst)
        self.assertRegex(t, rb"^a\d+ OK \[COPYUID %d 2:3 2:3\]" % dstvalidity)
        u, t = self.cmd("UID COPY 1 nonexistentfolder", ok=False)
        self.assertRegex(t, rb"^a\d+ NO \[TRYCREATE\]")
        u, t = self.cmd("UID MOVE 1,3 %s" % dst)
        # RFC 6851: COPYUID in an untagged OK before the expunges
        self.assertRegex(u[0], rb"^\* OK \[COPYUID %d 1,3 4:5\]" % dstvalidity)
        self.assertIn(u[1:], ([b"* 3 EXPUNGE\r\n", b"* 1 EXPUNGE\r\n"],
                              [b"* 1 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"]))
        u, t = self.cmd("UID SEARCH ALL")
        self.assertEqual(u, [b"* SEARCH 2\r\n"])
        self.cmd("SELECT %s" % dst)
        u, t = self.cmd("UID SEARCH ALL")
        self.assertEqual(u, [b"* SEARCH 1 2 3 4 5\r\n"])
        # COPY into the selected folder itself
        u, t = self.cmd("COPY 5 %s" % dst)
        self.assertRegex(t, rb"^a\d+ OK \[COPYUID %d 5 6\]" % dstvalidity)
        self.assertIn(b"* 6 EXISTS\r\n", u)


class Expunge(Base):
    user = "expunge"

    def test_expunge(self):
        self.folder("E", [(MULTI, "\\Deleted"), MULTI, (MULTI, "\\Deleted"),
                          MULTI])
        u, t = self.cmd("UID EXPUNGE 3:4")
        self.assertEqual(u, [b"* 3 EXPUNGE\r\n"])
        u, t = self.cmd("EXPUNGE")
        self.assertEqual(u, [b"* 1 EXPUNGE\r\n"])
        u, t = self.cmd("UID SEARCH ALL")
        self.assertEqual(u, [b"* SEARCH 2 4\r\n"])

    def test_vanished(self):
        self.cmd("ENABLE QRESYNC")
        self.folder("E", [MULTI, MULTI, MULTI])
        self.cmd("FETCH 1:3 MODSEQ")
        u, t = self.cmd("FETCH 3 MODSEQ")
        before = int(re.search(rb"MODSEQ \((\d+)", u[0]).group(1))
        self.cmd("STORE 1:2 +FLAGS.SILENT (\\Deleted)")
        u, t = self.cmd("EXPUNGE")
        self.assertEqual(u, [b"* VANISHED 1:2\r\n"])
        u, t = self.cmd("UID FETCH 1:* FLAGS (CHANGEDSINCE %d VANISHED)"
                        % before)
        self.assertEqual(u[0], b"* VANISHED (EARLIER) 1:2\r\n")


SORT_MSGS = [
    msg(1, "Re: beta", "Zed <z@x.example>", "a@imap.test",
        "Mon, 2 Mar 2026 10:00:00 +0000", "a" * 500 + "\r\n"),
    msg(2, "alpha", "Amy <amy@x.example>", "c@imap.test",
        "Sun, 1 Mar 2026 10:00:00 +0000", "b\r\n"),
    msg(3, "Beta", "Bob <bob@x.example>", "b@imap.test",
        "Tue, 3 Mar 2026 10:00:00 +0000", "c" * 100 + "\r\n",
        "In-Reply-To: <m2@example.org>\r\n"),
    msg(4, "[list] Re: Alpha", "Cat <cat@x.example>", "d@imap.test",
        "Wed, 4 Mar 2026 10:00:00 +0000", "d\r\n",
        "References: <m2@example.org> <m3@example.org>\r\n"),
]


class SortThread(Base):
    user = "sort"

    def setUp(self):
        super().setUp()
        self.name = self.folder("T", SORT_MSGS)

    def sort(self, crit, want):
        u, t = self.cmd("SORT (%s) UTF-8 ALL" % crit)
        self.assertEqual(u, [("* SORT %s\r\n" % " ".join(map(str, want)))
                             .encode()], crit)

    def test_sort(self):
        self.sort("SUBJECT", [2, 4, 1, 3])
        self.sort("SUBJECT DATE", [2, 4, 1, 3])
        self.sort("REVERSE SUBJECT", [1, 3, 2, 4])
        self.sort("DATE", [2, 1, 3, 4])
        self.sort("REVERSE DATE", [4, 3, 1, 2])
        self.sort("FROM", [2, 3, 4, 1])
        self.sort("DISPLAYFROM", [2, 3, 4, 1])
        self.sort("REVERSE DISPLAYTO", [4, 2, 3, 1])
        self.sort("TO", [1, 3, 2, 4])
        self.sort("SIZE", [2, 4, 3, 1])
        self.sort("ARRIVAL", [1, 2, 3, 4])
        self.sort("CC SUBJECT", [2, 4, 1, 3])
        u, t = self.cmd("UID SORT (REVERSE SIZE) UTF-8 UNDELETED")
        self.assertEqual(u, [b"* SORT 1 3 4 2\r\n"])
        # the keys are cached: garbled files do not change a second SORT
        if T.kind != "dovecot":
            cur = os.path.join(T.maildir(self.user), "." + self.name, "cur")
            for n in os.listdir(cur):
                with open(os.path.join(cur, n), "r+b") as f:
                    f.write(b"X" * 120)
            self.sort("SUBJECT", [2, 4, 1, 3])
            self.sort("REVERSE DISPLAYTO", [4, 2, 3, 1])
        u, t = self.cmd("SORT (BOGUS) UTF-8 ALL", ok=False)
        self.assertRegex(t, rb"^a\d+ BAD")

    def test_thread(self):
        u, t = self.cmd("THREAD ORDEREDSUBJECT UTF-8 ALL")
        self.assertEqual(u, [b"* THREAD (2 4)(1 3)\r\n"])
        u, t = self.cmd("THREAD REFERENCES UTF-8 ALL")
        self.assertEqual(u, [b"* THREAD (2 3 4)(1)\r\n"])
        u, t = self.cmd("UID THREAD REFERENCES UTF-8 NOT UID 3")
        self.assertEqual(u, [b"* THREAD (2 4)(1)\r\n"])
        # the keys are cached: garbled files do not change the answer
        if T.kind != "dovecot":
            cur = os.path.join(T.maildir(self.user), "." + self.name, "cur")
            for n in os.listdir(cur):
                with open(os.path.join(cur, n), "r+b") as f:
                    f.write(b"X" * 120)
            u, t = self.cmd("THREAD REFERENCES UTF-8 ALL")
            self.assertEqual(u, [b"* THREAD (2 3 4)(1)\r\n"])
            u, t = self.cmd("THREAD ORDEREDSUBJECT UTF-8 ALL")
            self.assertEqual(u, [b"* THREAD (2 4)(1 3)\r\n"])


def main():
    if site.target_kind() == "postern" and not site.have_postern_imapd():
        print("skip: postern-imapd not built")
        return 77
    prog = unittest.main(exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
