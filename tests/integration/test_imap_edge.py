#!/usr/bin/env python3
"""IMAP bad input over raw sockets: mailbox-name tricks, literal and
line-length limits, unbalanced syntax.  Every answer must be NO or BAD
(or, for the limits, a BYE and a closed connection), the server must
keep serving other connections, and the file system must show that
nothing was created outside the user's store and no other user's
folder was reached.

IMAP_TARGET=dovecot runs it against a throwaway Dovecot 2.3 (to check
the tests); Postern by default.  Exit 0 pass, 1 fail, 77 skip.
"""
import os
import re
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_site as site  # noqa: E402
from imap_site import make_message, tree_snapshot  # noqa: E402

T = None
SENTINELS = ["/tmp/postern-imap-escape", "/postern-imap-escape"]


def setUpModule():
    global T
    if site.target_kind() == "postern" and not site.have_postern_imapd():
        raise unittest.SkipTest("postern-imapd not built in " + site.BUILD)
    T = site.target_from_env(["bob", "alice", "eve"])
    # alice has a private folder with a message eve must never reach
    c = T.imap("alice")
    c.create("Secret")
    c.append("Secret", "", None, make_message(1, subject="alice secret"))
    c.append("INBOX", "", None, make_message(2, subject="alice inbox"))
    c.logout()


def tearDownModule():
    if T:
        T.cleanup()


class Edge(unittest.TestCase):
    seq = 0

    def raw(self, user="eve", login=True):
        r = T.raw()
        self.addCleanup(r.close)
        if login:
            r.login(T.address(user))
        return r

    def cmd(self, r, text):
        Edge.seq += 1
        tag = "e%d" % Edge.seq
        return r.cmd(tag, text)

    def assert_refused(self, r, text):
        u, t = self.cmd(r, text)
        self.assertRegex(t, rb"^\S+ (NO|BAD)", "%r -> %r %r" % (text, u, t))
        return u, t

    def assert_alive(self):
        r = self.raw("bob")
        u, t = self.cmd(r, "NOOP")
        self.assertRegex(t, rb"^\S+ OK")


class Names(Edge):
    BAD_CREATE = [
        '"../escape"', '"..escape"', '"a..b"', '"foo/../../escape"',
        '"/tmp/postern-imap-escape"', '"/postern-imap-escape"',
        '"."', '".."', '""', '"&Jjo"', '"&AGE-"', '"&-&"', '"&ZeVnLIqe"',
        '"' + "n" * 2000 + '"',
        '"' + ".".join(["d"] * 200) + '"',
        '"../../../../../../tmp/postern-imap-escape"',
        '"..alice"', '"../alice/.Secret"',
    ]
    # RFC 3501 6.3.3 only recommends refusing wildcards in CREATE; issue 4
    # requires it of Postern, Dovecot 2.3 accepts them.
    WILDCARDS = ['"%"', '"*"', '"foo%"', '"foo*bar"']

    def snapshot(self):
        """Everything outside eve's store that the server could touch:
        the other users' stores, the target's temp dir, the sentinels."""
        outside = {}
        for d in (T.tmp,):
            snap = tree_snapshot(d)
            eve = os.path.relpath(T.maildir("eve"), d)
            outside[d] = {p for p in snap if not p.startswith(eve + "/")
                          and p != eve and "dovecot" not in p
                          and not p.startswith(("log/", "run/", "state/",
                                                "cfg/log", "cfg/run",
                                                "cfg/var"))}
        return outside

    def test_create_name_tricks(self):
        before = self.snapshot()
        eve_before = tree_snapshot(T.maildir("eve"))
        r = self.raw()
        for name in self.BAD_CREATE:
            self.assert_refused(r, "CREATE " + name)
        # "~alice" may be refused, or be a plain folder of eve's own
        u, t = self.cmd(r, 'CREATE "~alice"')
        if re.match(rb"^\S+ OK", t):
            self.assertTrue(os.path.isdir(os.path.join(T.maildir("eve"),
                                                       ".~alice")))
            u, t = self.cmd(r, 'SELECT "~alice"')
            self.assertIn(b"* 0 EXISTS\r\n", u)
            self.cmd(r, 'CLOSE')
            self.cmd(r, 'DELETE "~alice"')
        if T.kind == "postern":
            for name in self.WILDCARDS:
                self.assert_refused(r, "CREATE " + name)
        if T.kind == "postern":
            # NUL is no CHAR8 (RFC 3501 9); Dovecot 2.3 takes it anyway
            self.assert_refused(r, b'CREATE {5+}\r\nab\x00cd')
            self.assert_refused(r, b'CREATE {4+}\r\n\xff\xfeab')
        self.assertEqual(self.snapshot(), before)
        for s in SENTINELS:
            self.assertFalse(os.path.exists(s), s)
        created = {p for p in tree_snapshot(T.maildir("eve")) - eve_before
                   if not re.search(r"dovecot|subscriptions|index",
                                    os.path.basename(p))}
        # nothing but the special-use folders' contents may appear
        self.assertFalse({p for p in created if not p.startswith(
            tuple("." + n for n in site.SPECIAL))}, created)
        u, t = self.cmd(r, 'LIST "" "*"')
        names = b"".join(u)
        self.assertNotIn(b"escape", names)
        self.assertNotIn(b"alice", names.lower())

    def test_other_commands_with_tricks(self):
        r = self.raw()
        for name in ('"../alice"', '"..alice.Secret"', '"../alice/.Secret"',
                     '"/etc"', '"/etc/passwd"', '"~alice/INBOX"',
                     '"#shared/alice"', '"&Jjo"', '"' + "x" * 2000 + '"'):
            self.assert_refused(r, "SELECT " + name)
            self.assert_refused(r, "STATUS %s (MESSAGES)" % name)
            self.assert_refused(r, "DELETE " + name)
            self.assert_refused(r, "RENAME INBOX " + name)
            self.assert_refused(r, "APPEND %s {3+}\r\nabc" % name)
        u, t = self.cmd(r, "CREATE Mine")
        self.assertRegex(t, rb"OK")
        for name in ('"../escape"', '"/tmp/postern-imap-escape"',
                     '"' + "y" * 2000 + '"') + (
                         ('"%"',) if T.kind == "postern" else ()):
            self.assert_refused(r, "RENAME Mine " + name)
        u, t = self.cmd(r, 'LIST "../" "*"')
        self.assertNotIn(b"alice", b"".join(u).lower())
        self.assertNotIn(b"Secret", b"".join(u))
        u, t = self.cmd(r, 'LIST "/" "*"')
        self.assertFalse([l for l in u if b"etc" in l or b"tmp" in l], u)
        u, t = self.cmd(r, "SEARCH TEXT secret")  # nothing selected
        self.assertRegex(t, rb"BAD|NO")
        for s in SENTINELS:
            self.assertFalse(os.path.exists(s), s)
        # alice's messages untouched and unseen by eve
        c = T.imap("alice")
        c.select("Secret")
        self.assertEqual(int(c.untagged_responses["EXISTS"][-1]), 1)
        c.logout()

    def test_bad_utf7_status_list(self):
        r = self.raw()
        for name in ('"&Jjo"', '"&AGE-"', '"&-&"', '"&ZeVnLIqe"'):
            self.assert_refused(r, "SELECT " + name)

    def test_long_valid_name_limit(self):
        # a 200-octet name is fine for both; 2,000 octets is not
        r = self.raw()
        u, t = self.cmd(r, "CREATE " + "L" * 200)
        self.assertRegex(t, rb"OK")
        self.assertTrue(os.path.isdir(os.path.join(T.maildir("eve"),
                                                   "." + "L" * 200)))


class Syntax(Edge):
    def test_unbalanced_and_bad_syntax(self):
        r = self.raw()
        u, t = self.cmd(r, "SELECT INBOX")
        bad = ['FETCH 1 (FLAGS', 'FETCH 1 FLAGS)', 'SELECT "INBOX',
               'FETCH 1 (FLAGS (UID))', 'FETCH 1 BODY[HEADER.FIELDS (A]',
               'XYZZY', 'FETCH', 'FETCH 1', 'STORE 1 +FLAGS',
               'SEARCH (SEEN', 'SEARCH SEEN)', 'SEARCH NOSUCHKEY',
               'FETCH 0:1 FLAGS', 'FETCH 1:4294967296 FLAGS',
               'FETCH -1 FLAGS', 'UID FETCH 1 (FLAGS) (CHANGEDSINCE x)',
               'STORE 1 FOOFLAGS (\\Seen)', 'SEARCH SINCE 32-Foo-2026',
               'APPEND INBOX (\\Seen "x") {1+}\r\nx', 'LIST "" ("*"',
               'STATUS INBOX (MESSAGES', 'STATUS INBOX (NOSUCH)',
               'SELECT INBOX (NOSUCHPARAM)', 'UID XYZZY 1',
               'LOGIN a b']
        for i, cmd in enumerate(bad):
            if i % 4 == 3:      # servers may hang up on a run of errors
                r = self.raw()
                self.cmd(r, "SELECT INBOX")
            u, t = self.cmd(r, cmd)
            self.assertRegex(t, rb"^\S+ (BAD|NO)", "%r -> %r" % (cmd, t))
        # the session still works
        u, t = self.cmd(r, "NOOP")
        self.assertRegex(t, rb"^\S+ OK")

    def test_bad_tags_and_bytes(self):
        r = self.raw(login=False)
        for line in (b"\r\n", b"*\r\n", b"+ NOOP\r\n", b"a\r\n",
                     b"(a) NOOP\r\n", b"a\x00b NOOP\r\n",
                     b"a NO\x00OP\r\n", b"\xff\xfe NOOP\r\n"):
            r.send(line)
            ln = r.line()
            self.assertRegex(ln, rb"^(\* |\S+ )(BAD|BYE)", line)
            if ln.startswith(b"* BYE"):
                r = self.raw(login=False)
        self.assert_alive()

    def test_commands_in_wrong_state(self):
        r = self.raw()
        for cmd in ("FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "EXPUNGE",
                    "CLOSE", "UID FETCH 1 FLAGS", "SEARCH ALL",
                    "COPY 1 INBOX"):
            u, t = self.cmd(r, cmd)
            self.assertRegex(t, rb"^\S+ (BAD|NO)", cmd)

    def test_literal_in_login(self):
        r = self.raw(login=False)
        user = T.address("eve").encode()
        r.send(b"a LOGIN {%d}\r\n" % len(user))
        self.assertRegex(r.line(), rb"^\+")
        r.send(user + b' "%s"\r\n' % site.PASSWORD.encode())
        u, t = r.until_tagged("a")
        self.assertRegex(t, rb"^a OK")


class Limits(Edge):
    def test_huge_literal_refused(self):
        r = self.raw()
        r.send(b"a APPEND INBOX {999999999999}\r\n")
        ln = r.line()
        self.assertFalse(ln.startswith(b"+"), ln)
        self.assertRegex(ln, rb"^(a (NO|BAD)|\* BYE)")
        self.assert_alive()

    def test_huge_literal_plus_refused(self):
        r = self.raw()
        r.send(b"a APPEND INBOX {4294967296+}\r\n" + b"x" * 65536)
        ln = r.line()
        self.assertRegex(ln, rb"^(a (NO|BAD)|\* BYE)|^$")
        self.assert_alive()

    def test_huge_literal_in_other_command(self):
        r = self.raw()
        r.send(b"a SEARCH TEXT {50000000}\r\n")
        ln = r.line()
        self.assertFalse(ln.startswith(b"+"), ln)
        self.assertRegex(ln, rb"^(a (NO|BAD)|\* BYE)")

    def test_long_line(self):
        r = self.raw()
        t0 = time.time()
        try:
            r.send(b"a SELECT " + b"x" * 200000)
            r.send(b"\r\n")
            ln = r.line()
        except (BrokenPipeError, ConnectionResetError):
            ln = b""
        # refused with BAD / BYE, or the connection closed; not accepted
        self.assertFalse(ln.startswith(b"a OK"), ln)
        self.assertRegex(ln, rb"^(a BAD|\* BAD|\* BYE)|^$")
        self.assertLess(time.time() - t0, 15)
        self.assert_alive()

    def test_many_literals_in_one_command(self):
        r = self.raw()
        u, t = self.cmd(r, "SELECT INBOX")
        body = b"a SEARCH " + b" ".join([b"OR TEXT {1+}\r\nx"] * 5000) + \
            b" ALL\r\n"
        try:
            r.send(body)
            ln = r.line()
        except (BrokenPipeError, ConnectionResetError):
            ln = b""
        self.assertFalse(ln.startswith(b"a OK"), ln[:100])
        self.assert_alive()

    def test_deep_nesting(self):
        r = self.raw()
        self.cmd(r, "SELECT INBOX")
        try:
            u, t = self.cmd(r, "SEARCH " + "(" * 5000 + "ALL" + ")" * 5000)
        except (EOFError, ConnectionResetError):
            t = b""
        self.assertFalse(t.startswith(b"a OK"), t)
        self.assert_alive()


if __name__ == "__main__":
    if site.target_kind() == "postern" and not site.have_postern_imapd():
        print("skip: postern-imapd not built in " + site.BUILD)
        sys.exit(77)
    shutil.rmtree("/tmp/postern-imap-escape", ignore_errors=True)
    unittest.main(verbosity=2)
