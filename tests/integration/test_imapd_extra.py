#!/usr/bin/env python3
"""postern-imapd additions: OBJECTID MAILBOXID (RFC 8474), METADATA and
METADATA-SERVER (RFC 5464), SEARCHRES reset on a failed SEARCH ...
RETURN (SAVE) (RFC 5182), INBOX subscribed at first login, and the
engine's framing cases ("{0}" literals, a fatal parse error closes the
connection, APPEND above a small imapd_literal_size_limit).

Raw sockets (imap_site.Raw) so every byte of the answers is seen, and
imaplib where a client's view is enough.  Exit 0 pass, 1 fail, 77 skip.
"""
import imaplib
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_site as site  # noqa: E402

USERS = ["objid", "meta", "meta2", "sres", "fresh", "engine"]
T = None
SMALL = None  # a second site with imapd_literal_size_limit=1024


def setUpModule():
    global T
    if not site.have_postern_imapd():
        raise unittest.SkipTest("postern-imapd not built in " + site.BUILD)
    T = site.start_target("postern", USERS)
    os.makedirs(T.mail, exist_ok=True)


def tearDownModule():
    for t in (T, SMALL):
        if t:
            t.cleanup()


class Base(unittest.TestCase):
    user = None
    n = 0

    def setUp(self):
        self.r = T.raw()
        self.addCleanup(self.r.close)
        self.r.login(T.address(self.user))

    def cmd(self, text, ok=True, r=None):
        Base.n += 1
        tag = "t%d" % Base.n
        u, t = (r or self.r).cmd(tag, text)
        if ok:
            self.assertRegex(t, rb"^t\d+ OK", "%s -> %r %r" % (text, u, t))
        return u, t


def mailboxid(lines):
    for ln in lines:
        m = re.search(rb"MAILBOXID \(([A-Za-z0-9_-]+)\)", ln)
        if m:
            return m.group(1)
    return None


class ObjectIdTest(Base):
    user = "objid"

    def test_capability(self):
        u, _ = self.cmd("CAPABILITY")
        caps = u[0].split()
        for c in (b"OBJECTID", b"METADATA", b"METADATA-SERVER"):
            self.assertIn(c, caps)

    def test_mailboxid_create_select_status_rename(self):
        _, t = self.cmd("CREATE Projects")
        created = mailboxid([t])
        self.assertIsNotNone(created, t)
        self.assertTrue(1 <= len(created) <= 255)
        u, _ = self.cmd("SELECT Projects")
        self.assertEqual(mailboxid(u), created)
        u, _ = self.cmd("EXAMINE Projects")
        self.assertEqual(mailboxid(u), created)
        self.cmd("UNSELECT")
        u, _ = self.cmd("STATUS Projects (MESSAGES MAILBOXID)")
        self.assertEqual(u[0].rstrip(),
                         b'* STATUS "Projects" (MESSAGES 0 MAILBOXID (' +
                         created + b'))')
        # the id is the folder's dovecot-uidlist GUID (kept by Dovecot)
        with open(os.path.join(T.maildir(self.user), ".Projects",
                               "dovecot-uidlist"), "rb") as f:
            hdr = f.readline()
        self.assertIn(b" G" + created, hdr)
        # stable across RENAME; another folder has another id
        self.cmd("RENAME Projects Work")
        u, _ = self.cmd("STATUS Work (MAILBOXID)")
        self.assertEqual(mailboxid(u), created)
        # LIST-STATUS carries it too
        u, _ = self.cmd('LIST "" Work RETURN (STATUS (MAILBOXID))')
        self.assertEqual(mailboxid(u), created)
        u, _ = self.cmd("STATUS INBOX (MAILBOXID)")
        self.assertNotEqual(mailboxid(u), created)
        self.assertIsNotNone(mailboxid(u))
        # a new folder of the old name gets a new id
        _, t = self.cmd("CREATE Projects")
        self.assertNotEqual(mailboxid([t]), created)
        # STATUS of a missing folder: NO, not an id
        _, t = self.cmd("STATUS Nope (MAILBOXID)", ok=False)
        self.assertIn(b"NO", t)

    def test_emailid_kept(self):
        u, _ = self.cmd("SELECT INBOX")
        self.r.send("ap APPEND INBOX {20+}\r\nSubject: x\r\n\r\nbody\r\n\r\n")
        _, t = self.r.until_tagged("ap")
        self.assertIn(b"OK", t)
        u, _ = self.cmd("FETCH 1 (EMAILID THREADID)")
        self.assertRegex(b"".join(u), rb"EMAILID \([A-Za-z0-9_-]+\)")


class MetadataTest(Base):
    user = "meta"

    def test_server_and_mailbox_annotations(self):
        self.cmd('SETMETADATA "" (/shared/comment "Server note")')
        u, _ = self.cmd('GETMETADATA "" /shared/comment')
        self.assertEqual(u, [b'* METADATA "" (/shared/comment '
                             b'"Server note")\r\n'])
        self.cmd('SETMETADATA INBOX (/private/comment "mine" '
                 '/shared/comment {5+}\r\nshare)')
        u, _ = self.cmd("GETMETADATA INBOX (/private/comment "
                        "/shared/comment)")
        self.assertEqual(u, [b'* METADATA "INBOX" (/private/comment "mine" '
                             b'/shared/comment "share")\r\n'])
        # case-insensitive names; a missing entry is NIL
        u, _ = self.cmd("GETMETADATA INBOX (/PRIVATE/Comment "
                        "/private/none)")
        self.assertEqual(u, [b'* METADATA "INBOX" (/private/comment "mine" '
                             b'/private/none NIL)\r\n'])
        # NIL deletes
        self.cmd("SETMETADATA INBOX (/private/comment NIL)")
        u, _ = self.cmd("GETMETADATA INBOX /private/comment")
        self.assertEqual(u, [b'* METADATA "INBOX" (/private/comment NIL)\r\n'])
        # server annotations are not the INBOX's (same directory on disk)
        u, _ = self.cmd('GETMETADATA "" /shared/comment')
        self.assertIn(b"Server note", u[0])

    def test_depth_and_maxsize(self):
        self.cmd("CREATE Deep")
        self.cmd('SETMETADATA Deep (/private/vendor/x/a "1" '
                 '/private/vendor/x/a/b "2" /private/vendor/x/big "%s")'
                 % ("z" * 300))
        u, _ = self.cmd("GETMETADATA Deep /private/vendor/x")
        self.assertEqual(u, [b'* METADATA "Deep" (/private/vendor/x NIL)\r\n'])
        u, _ = self.cmd("GETMETADATA (DEPTH 1) Deep /private/vendor/x")
        self.assertIn(b'/private/vendor/x/a "1"', u[0])
        self.assertIn(b"/private/vendor/x/big", u[0])
        self.assertNotIn(b"/a/b", u[0])
        u, _ = self.cmd("GETMETADATA (DEPTH infinity) Deep /private/vendor")
        self.assertIn(b'/private/vendor/x/a/b "2"', u[0])
        u, t = self.cmd("GETMETADATA (MAXSIZE 100 DEPTH infinity) Deep "
                        "/private/vendor")
        self.assertNotIn(b"/big", u[0])
        self.assertIn(b"[METADATA LONGENTRIES 300]", t)
        _, t = self.cmd("GETMETADATA (DEPTH 2) Deep /private/x", ok=False)
        self.assertIn(b"BAD", t)

    def test_limits_and_errors(self):
        big = 65537
        self.r.send("m1 SETMETADATA INBOX (/private/comment {%d}\r\n" % big)
        ln = self.r.line()
        if ln.startswith(b"+"):
            self.r.send(b"x" * big + b")\r\n")
            _, t = self.r.until_tagged("m1")
        else:
            t = ln
        self.assertIn(b"NO [METADATA MAXSIZE 65536]", t)
        # TOOMANY: 100 entries per mailbox
        self.cmd("CREATE Many")
        ents = " ".join('/private/vendor/n%d "v"' % i for i in range(100))
        self.cmd("SETMETADATA Many (%s)" % ents)
        _, t = self.cmd('SETMETADATA Many (/private/vendor/one "more")',
                        ok=False)
        self.assertIn(b"NO [METADATA TOOMANY]", t)
        # replacing an existing one is still allowed
        self.cmd('SETMETADATA Many (/private/vendor/n1 "w")')
        # bad names, missing mailbox
        for bad in ("/other/x", "/private/", "/private//x", "/private/a*"):
            _, t = self.cmd('SETMETADATA INBOX (%s "v")' % bad, ok=False)
            self.assertIn(b"BAD", t, bad)
        _, t = self.cmd('SETMETADATA Missing (/private/comment "v")',
                        ok=False)
        self.assertIn(b"NO [NONEXISTENT]", t)
        _, t = self.cmd("GETMETADATA Missing /private/comment", ok=False)
        self.assertIn(b"NO [NONEXISTENT]", t)

    def test_specialuse_read_only(self):
        u, _ = self.cmd("GETMETADATA Sent /private/specialuse")
        self.assertEqual(u, [b'* METADATA "Sent" (/private/specialuse '
                             b'"\\\\Sent")\r\n'])
        _, t = self.cmd('SETMETADATA Sent (/private/specialuse "\\\\Junk")',
                        ok=False)
        self.assertIn(b"NO", t)
        u, _ = self.cmd("GETMETADATA INBOX /private/specialuse")
        self.assertIn(b"/private/specialuse NIL", u[0])


class MetadataLifecycleTest(Base):
    user = "meta2"

    def test_rename_keeps_delete_drops(self):
        self.cmd("CREATE Old")
        self.cmd('SETMETADATA Old (/shared/comment "kept")')
        self.cmd("RENAME Old New")
        u, _ = self.cmd("GETMETADATA New /shared/comment")
        self.assertIn(b'"kept"', u[0])
        self.cmd("DELETE New")
        self.cmd("CREATE New")
        u, _ = self.cmd("GETMETADATA New /shared/comment")
        self.assertEqual(u, [b'* METADATA "New" (/shared/comment NIL)\r\n'])

    def test_imaplib_client(self):
        for name in ("SETMETADATA", "GETMETADATA"):
            imaplib.Commands.setdefault(name, ("AUTH", "SELECTED"))
        c = T.imap(self.user)
        try:
            typ, _ = c._simple_command("SETMETADATA", "INBOX",
                                       '(/private/comment "via imaplib")')
            self.assertEqual(typ, "OK")
            typ, data = c._simple_command("GETMETADATA", "INBOX",
                                          "/private/comment")
            self.assertEqual(typ, "OK")
            self.assertIn(b"via imaplib", c.untagged_responses
                          ["METADATA"][0])
        finally:
            c.logout()


class SearchResTest(Base):
    user = "sres"

    def test_failed_save_resets(self):
        self.cmd("SELECT INBOX")
        for i in range(3):
            self.r.send("ap%d APPEND INBOX {16+}\r\nSubject: %d\r\n\r\nb\r\n"
                        % (i, i))
            _, t = self.r.until_tagged("ap%d" % i)
            self.assertIn(b"OK", t)
        self.cmd("NOOP")
        self.cmd("SEARCH RETURN (SAVE) ALL")
        u, _ = self.cmd("SEARCH $")
        self.assertEqual(u, [b"* SEARCH 1 2 3\r\n"])
        _, t = self.cmd("SEARCH RETURN (SAVE) NOSUCHKEY", ok=False)
        self.assertIn(b"BAD", t)
        u, _ = self.cmd("SEARCH $")
        self.assertEqual(u, [b"* SEARCH\r\n"])
        # a failure without SAVE leaves $ alone
        self.cmd("SEARCH RETURN (SAVE) 2")
        self.cmd("SEARCH NOSUCHKEY", ok=False)
        u, _ = self.cmd("UID SEARCH $")
        self.assertEqual(len(u[0].split()), 3)


class FirstLoginTest(unittest.TestCase):
    def test_inbox_subscribed_once(self):
        r = T.raw()
        try:
            r.login(T.address("fresh"))
            u, t = r.cmd("l1", 'LSUB "" "*"')
            names = b"".join(u)
            for n in (b"INBOX", b"Sent", b"Drafts", b"Trash", b"Junk",
                      b"Archive"):
                self.assertIn(n, names)
            self.assertIn(b"OK", r.cmd("l2", "UNSUBSCRIBE INBOX")[1])
        finally:
            r.close()
        # a later login does not subscribe it again
        r = T.raw()
        try:
            r.login(T.address("fresh"))
            u, _ = r.cmd("l3", 'LSUB "" "*"')
            self.assertNotIn(b'"." INBOX', b"".join(u))
            self.assertIn(b"Sent", b"".join(u))
        finally:
            r.close()


class EngineTest(Base):
    user = "engine"

    def test_zero_literal(self):
        # "{0}" (synchronising): "+", then the line goes on
        self.r.send("z1 CREATE {0}\r\n")
        self.assertTrue(self.r.line().startswith(b"+"))
        self.r.send("\r\n")
        _, t = self.r.until_tagged("z1")
        self.assertIn(b"z1 NO", t)
        # "{0+}" inside a command
        self.r.send('z2 SETMETADATA INBOX (/private/comment {0+}\r\n)\r\n')
        _, t = self.r.until_tagged("z2")
        self.assertIn(b"z2 OK", t)
        u, _ = self.cmd("GETMETADATA INBOX /private/comment")
        self.assertEqual(u, [b'* METADATA "INBOX" (/private/comment "")\r\n'])
        self.assertIn(b"OK", self.cmd("NOOP")[1])

    def test_bad_literal_size_closes(self):
        r = T.raw()
        try:
            r.login(T.address(self.user))
            r.send("b1 NOOP {99999999999999999999+}\r\n")
            lines = []
            while True:
                ln = r.line()
                if not ln:
                    break
                lines.append(ln)
            self.assertTrue(any(ln.startswith(b"b1 BAD") or
                                ln.startswith(b"* BAD") for ln in lines),
                            lines)
            self.assertTrue(any(ln.startswith(b"* BYE") for ln in lines),
                            lines)
        finally:
            r.close()

    def test_long_line_skipped(self):
        # imapd_max_line_length: BAD, the line skipped, still in step
        self.r.send(b"g NOOP " + b"x" * 70000 + b"\r\n")
        self.assertIn(b"BAD", self.r.line())
        self.assertIn(b"OK", self.cmd("NOOP")[1])


class SmallLiteralLimitTest(unittest.TestCase):
    def test_append_above_literal_limit(self):
        global SMALL
        SMALL = site.start_target(
            "postern", ["small"],
            extra_config=["imapd_literal_size_limit=1024"])
        os.makedirs(SMALL.mail, exist_ok=True)
        r = SMALL.raw()
        try:
            r.login(SMALL.address("small"))
            body = b"Subject: s\r\n\r\n" + b"y" * 8000 + b"\r\n"
            r.send(b"a1 APPEND INBOX {%d}\r\n" % len(body))
            self.assertTrue(r.line().startswith(b"+"))
            r.send(body + b"\r\n")
            _, t = r.until_tagged("a1")
            self.assertIn(b"a1 OK", t)
            u, _ = r.cmd("a2", "STATUS INBOX (MESSAGES SIZE)")
            self.assertIn(b"MESSAGES 1 SIZE %d" % len(body), u[0])
            # other literals are still limited
            r.send("a3 CREATE {2000}\r\n")
            self.assertIn(b"a3 BAD [TOOBIG]", r.line())
        finally:
            r.close()


if __name__ == "__main__":
    unittest.main()
