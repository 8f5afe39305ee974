#!/usr/bin/env python3
"""IMAP conformance (RFC 3501/9051 and the extensions of issue 4), with
Python's imaplib and raw sockets, against a real server in a temp dir.

IMAP_TARGET=dovecot runs the same tests against a throwaway Dovecot 2.3
(imap_site.py): that run shows the tests are right.  The default target
is Postern (programs from $POSTERN_BUILD_DIR).  Only what the RFCs fix
is asserted (codes, response shapes, data), never human-readable texts.
An extension Dovecot 2.3 lacks (DOVECOT_LACKS) is skipped there; on
Postern every extension the issue names is required.

Each test uses its own user or its own folders, so the tests are
independent of each other and of their order.  Exit 0 pass, 1 fail,
77 skip (no postern-imapd built).
"""
import base64
import imaplib
import os
import re
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_site as site  # noqa: E402
from imap_site import PASSWORD, SPECIAL, make_message, parse_status  # noqa: E402

USERS = ["bob", "alice", "carol", "dave", "erin", "frank", "grace", "heidi",
         "ivan", "judy", "mallory", "thr", "olivia", "peggy"]
# Extensions issue 4 requires that Debian's Dovecot 2.3.19 does not have.
DOVECOT_LACKS = {"OBJECTID", "APPENDLIMIT", "IMAP4REV2",
                 "LITERAL-"}
REQUIRED_AUTH = ["IMAP4REV1", "IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE",
                 "ENABLE", "NAMESPACE", "ID", "UNSELECT", "CHILDREN",
                 "LIST-EXTENDED", "LIST-STATUS", "ESEARCH", "SEARCHRES",
                 "CONDSTORE", "QRESYNC", "QUOTA", "SORT", "THREAD=REFERENCES",
                 "THREAD=ORDEREDSUBJECT", "STATUS=SIZE", "PREVIEW",
                 "METADATA", "OBJECTID", "APPENDLIMIT", "COMPRESS=DEFLATE"]
T = None


def setUpModule():
    global T
    if site.target_kind() == "postern" and not site.have_postern_imapd():
        raise unittest.SkipTest("postern-imapd not built in " + site.BUILD)
    T = site.target_from_env(USERS)


def tearDownModule():
    if T:
        T.cleanup()


MULTIPART = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <jurgen@example.org>\r\n"
    b"To: Bob <bob@imap.test>, carol@imap.test\r\n"
    b"Cc: Dave <dave@imap.test>\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n"
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
    b"Sch=C3=B6ne Gr=C3=BC=C3=9Fe, the zebra-unique word.\r\n"
    b"--XX\r\n"
    b"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
    b"Content-Disposition: attachment; filename=\"a.bin\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    + base64.encodebytes(bytes(range(256))).replace(b"\n", b"\r\n") +
    b"--XX--\r\n")


class Base(unittest.TestCase):
    user = "bob"
    seq = 0

    def conn(self, user=None, tls=False):
        c = T.imap(user or self.user, tls=tls)
        self.addCleanup(self._logout, c)
        return c

    @staticmethod
    def _logout(c):
        try:
            c.logout()
        except Exception:
            pass

    def raw(self, user=None, tls=False, login=True):
        r = T.raw(tls=tls)
        self.addCleanup(r.close)
        if login:
            r.login(T.address(user or self.user))
        return r

    def ok(self, r, text, tag=None):
        Base.seq += 1
        tag = tag or "t%d" % Base.seq
        u, t = r.cmd(tag, text)
        self.assertRegex(t, rb"^\S+ OK", "%s -> %r %r" % (text, u, t))
        return u, t

    def fresh(self, c, name):
        """A new empty folder name selected in c."""
        name = "%s%d" % (name, int(time.time() * 1000) % 10**8)
        self.assertEqual(c.create(name)[0], "OK")
        return name

    def append(self, c, folder, msg, flags="", date=None):
        typ, data = c.append(folder, flags, date, msg)
        self.assertEqual(typ, "OK", data)
        m = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
        return (int(m.group(1)), int(m.group(2))) if m else None

    def caps(self, c):
        typ, data = c.capability()
        return set(data[0].decode().upper().split())

    def need(self, c, cap):
        caps = self.caps(c)
        if cap.upper() in caps or any(x.startswith(cap.upper() + "=")
                                      for x in caps):
            return
        if T.kind == "dovecot" and cap.upper() in DOVECOT_LACKS:
            self.skipTest("Dovecot 2.3 lacks " + cap)
        self.fail("capability %s missing" % cap)

    def untagged(self, c, name):
        return c.untagged_responses.pop(name, [])


class Capability(Base):
    def test_greeting_and_capability(self):
        r = self.raw(login=False)
        self.assertRegex(r.greeting, rb"^\* OK ")
        u, t = self.ok(r, "CAPABILITY")
        caps = set(b" ".join(u).decode().upper().split())
        for cap in ("IMAP4REV1", "AUTH=PLAIN", "SASL-IR", "STARTTLS",
                    "IDLE"):
            self.assertIn(cap, caps)
        self.assertTrue("LITERAL+" in caps or "LITERAL-" in caps)

    def test_capability_after_login(self):
        c = self.conn()
        caps = self.caps(c)
        missing = [cap for cap in REQUIRED_AUTH
                   if not (T.kind == "dovecot" and cap in DOVECOT_LACKS)
                   and cap not in caps
                   and not any(x.startswith(cap + "=") for x in caps)]
        self.assertEqual(missing, [], "capabilities missing")
        self.assertFalse(any(x.startswith("AUTH=") for x in caps) and
                         "LOGINDISABLED" in caps)

    def test_imaps_has_no_starttls(self):
        c = self.conn(tls=True)
        self.assertNotIn("STARTTLS", self.caps(c))
        self.assertEqual(c.select("INBOX")[0], "OK")

    def test_starttls(self):
        c = T.imap(login=False)
        self.addCleanup(self._logout, c)
        self.assertEqual(c.starttls(site.tls_context())[0], "OK")
        self.assertNotIn("STARTTLS", self.caps(c))
        self.assertEqual(c.login(T.address("bob"), PASSWORD)[0], "OK")

    def test_starttls_discards_injected_commands(self):
        # Bytes sent after STARTTLS in the same packet must not run later
        # inside TLS (CVE-2011-0411 class).
        r = self.raw(login=False)
        r.send(b"s1 STARTTLS\r\ns2 CAPABILITY\r\n")
        u, t = r.until_tagged("s1")
        if b" OK" not in t:
            self.fail("STARTTLS refused: %r" % t)
        try:
            r.sock = site.tls_context().wrap_socket(r.sock)
        except (ssl.SSLError, OSError):
            return      # closing on pipelined bytes is a safe answer too
        r.buf = b""
        r.send(b"s3 NOOP\r\n")
        u, t = r.until_tagged("s3")
        self.assertFalse(any(l.startswith(b"s2 ") for l in u), u)

    def test_id_namespace_enable(self):
        r = self.raw()
        u, t = self.ok(r, 'ID ("name" "postern-test" "version" "1")')
        self.assertTrue(any(re.match(rb"\* ID (NIL|\()", l) for l in u), u)
        u, t = self.ok(r, "NAMESPACE")
        self.assertTrue(any(re.match(
            rb'\* NAMESPACE \(\(""\s+"\."\)\) NIL NIL', l) for l in u), u)
        u, t = self.ok(r, "ENABLE CONDSTORE")
        self.assertTrue(any(re.match(rb"\* ENABLED CONDSTORE", l)
                            for l in u), u)
        u, t = self.ok(r, "ENABLE X-UNKNOWN-EXT")
        self.assertFalse(any(b"X-UNKNOWN-EXT" in l for l in u), u)


    def test_enable_imap4rev2(self):
        c = self.conn()
        self.need(c, "IMAP4REV2")
        r = self.raw()
        u, t = self.ok(r, "ENABLE IMAP4rev2")
        self.assertTrue(any(re.match(rb"\* ENABLED IMAP4REV2", l, re.I)
                            for l in u), u)
        self.ok(r, "EXAMINE INBOX")
        u, t = self.ok(r, "SEARCH ALL", tag="r2")
        # rev2: SEARCH answers with ESEARCH, never "* SEARCH"
        self.assertTrue(any(l.startswith(b'* ESEARCH (TAG "r2")')
                            for l in u), u)
        self.assertFalse(any(l.startswith(b"* SEARCH") for l in u), u)

class Auth(Base):
    def test_login_ok_and_bad(self):
        c = T.imap(login=False)
        self.addCleanup(self._logout, c)
        with self.assertRaises(imaplib.IMAP4.error):
            c.login(T.address("alice"), "wrong")
        self.assertEqual(c.state, "NONAUTH")
        self.assertEqual(c.login(T.address("alice"), PASSWORD)[0], "OK")
        self.assertEqual(c.select("INBOX")[0], "OK")

    def test_login_unknown_user(self):
        r = self.raw(login=False)
        u, t = r.cmd("a", 'LOGIN "nobody-here@imap.test" "x"')
        self.assertRegex(t, rb"^a NO")

    def test_authenticate_plain_sasl_ir(self):
        r = self.raw(login=False)
        ir = base64.b64encode(b"\0" + T.address("alice").encode() + b"\0" +
                              PASSWORD.encode()).decode()
        self.ok(r, "AUTHENTICATE PLAIN " + ir)
        self.ok(r, "SELECT INBOX")

    def test_authenticate_plain_continuation(self):
        r = self.raw(login=False)
        r.send(b"a AUTHENTICATE PLAIN\r\n")
        self.assertRegex(r.line(), rb"^\+")
        r.send(base64.b64encode(b"\0" + T.address("alice").encode() + b"\0" +
                                PASSWORD.encode()) + b"\r\n")
        u, t = r.until_tagged("a")
        self.assertRegex(t, rb"^a OK")

    def test_authenticate_cancel_and_bad(self):
        r = self.raw(login=False)
        r.send(b"a AUTHENTICATE PLAIN\r\n")
        self.assertRegex(r.line(), rb"^\+")
        r.send(b"*\r\n")
        u, t = r.until_tagged("a")
        self.assertRegex(t, rb"^a BAD")
        ir = base64.b64encode(b"\0" + T.address("alice").encode() +
                              b"\0wrong").decode()
        u, t = r.cmd("b", "AUTHENTICATE PLAIN " + ir)
        self.assertRegex(t, rb"^b NO")
        u, t = r.cmd("c", "AUTHENTICATE X-NONE")
        self.assertRegex(t, rb"^c (NO|BAD)")

    def test_commands_need_auth(self):
        for i, cmd in enumerate(("SELECT INBOX", "LIST \"\" *",
                                 "CREATE x", "FETCH 1 FLAGS")):
            r = self.raw(login=False)
            u, t = r.cmd("n%d" % i, cmd)
            self.assertRegex(t, rb"^n%d (NO|BAD)" % i)

    def test_failed_login_throttling(self):
        # Six wrong passwords in a row for one user from one address:
        # the server must slow them down (RFC 9051 11.1 asks for it).
        start = time.time()
        for i in range(6):
            r = self.raw(login=False)
            try:
                u, t = r.cmd("f", 'LOGIN "%s" "bad%d"' % (T.address("thr"),
                                                         i))
                self.assertRegex(t, rb"^f NO")
            except (EOFError, OSError):
                pass            # disconnecting the guesser is fine too
            r.close()
        self.assertGreater(time.time() - start, 2.0,
                           "six failed logins were not slowed down")


class LoginDisabled(unittest.TestCase):
    """A target where plaintext is not allowed before TLS."""

    @classmethod
    def setUpClass(cls):
        cls.t = site.start_target(site.target_kind(), ["bob"],
                                  plaintext=False)

    @classmethod
    def tearDownClass(cls):
        cls.t.cleanup()

    def test_logindisabled_before_starttls(self):
        r = self.t.raw()
        self.addCleanup(r.close)
        u, t = r.cmd("a", "CAPABILITY")
        caps = b" ".join(u).upper().split()
        self.assertIn(b"LOGINDISABLED", caps)
        self.assertIn(b"STARTTLS", caps)
        self.assertNotIn(b"AUTH=PLAIN", caps)
        u, t = r.cmd("b", 'LOGIN "%s" "%s"' % (self.t.address("bob"),
                                               PASSWORD))
        self.assertRegex(t, rb"^b (NO|BAD)")
        ir = base64.b64encode(b"\0bob@imap.test\0" + PASSWORD.encode())
        u, t = r.cmd("c", b"AUTHENTICATE PLAIN " + ir)
        self.assertRegex(t, rb"^c (NO|BAD)")
        u, t = r.cmd("d", "STARTTLS")
        self.assertRegex(t, rb"^d OK")
        r.sock = site.tls_context().wrap_socket(r.sock)
        r.buf = b""
        u, t = r.cmd("e", "CAPABILITY")
        caps = b" ".join(u).upper().split()
        self.assertNotIn(b"LOGINDISABLED", caps)
        self.assertIn(b"AUTH=PLAIN", caps)
        u, t = r.cmd("f", 'LOGIN "%s" "%s"' % (self.t.address("bob"),
                                               PASSWORD))
        self.assertRegex(t, rb"^f OK")

    def test_imaps_login(self):
        c = self.t.imap("bob", tls=True)
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()


class Mailboxes(Base):
    user = "alice"

    def test_special_use_after_first_login(self):
        c = self.conn("carol")
        typ, data = c.list('""', "*")
        names = {}
        for line in data:
            m = re.match(rb'\(([^)]*)\) (?:"."|NIL) "?([^"]*)"?$', line)
            self.assertTrue(m, line)
            names[m.group(2).decode()] = m.group(1).decode()
        for name, attr in SPECIAL.items():
            self.assertIn(name, names)
            self.assertIn(attr, names[name])
        self.assertIn("INBOX", names)
        typ, data = c._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
        data = self.untagged(c, "LIST")
        self.assertEqual(len(data), 5, data)
        if T.kind == "postern":      # created, not only shown
            self.assertTrue(os.path.isdir(os.path.join(
                T.maildir("carol"), ".Drafts", "cur")))

    def test_list_separator_and_children(self):
        c = self.conn()
        typ, data = c.list('""', '""')
        self.assertRegex(data[0], rb'\(\\Noselect[^)]*\) "\." ""')
        p = self.fresh(c, "Par")
        self.assertEqual(c.create(p + ".Kid")[0], "OK")
        typ, data = c.list('""', p)
        self.assertIn(b"\\HasChildren", data[0])
        typ, data = c.list('""', p + ".%")
        self.assertEqual(len(data), 1)
        self.assertIn(b"\\HasNoChildren", data[0])
        typ, data = c.list(p + ".", "%")    # reference + pattern
        self.assertEqual(len(data), 1, data)
        self.assertTrue(data[0].rstrip(b'"').endswith(
            (p + '.Kid').encode()), data)

    def test_list_extended_status(self):
        c = self.conn()
        f = self.fresh(c, "LS")
        self.append(c, f, make_message(1))
        self.append(c, f, make_message(2), flags="(\\Seen)")
        c._simple_command("LIST", '""', f,
                          "RETURN", "(CHILDREN STATUS (MESSAGES UNSEEN SIZE))")
        lst = self.untagged(c, "LIST")
        st = self.untagged(c, "STATUS")
        self.assertEqual(len(lst), 1, lst)
        self.assertIn(b"\\HasNoChildren", lst[0])
        self.assertEqual(len(st), 1, st)
        s = parse_status(st)
        self.assertEqual(s["MESSAGES"], 2)
        self.assertEqual(s["UNSEEN"], 1)
        self.assertEqual(s["SIZE"], len(make_message(1)) +
                         len(make_message(2)))

    def test_create_rename_delete(self):
        c = self.conn()
        f = self.fresh(c, "Crd")
        typ, data = c.create(f)
        self.assertEqual(typ, "NO")
        self.assertEqual(c.create(f + ".Sub")[0], "OK")
        self.append(c, f + ".Sub", make_message(3))
        self.assertEqual(c.rename(f, f + "X")[0], "OK")
        typ, data = c.list('""', f + "*")
        names = [re.sub(rb'^.*"\." "?|"$', b"", l).decode() for l in data]
        self.assertEqual(sorted(names), [f + "X", f + "X.Sub"])
        self.assertEqual(c.select(f + "X.Sub")[0], "OK")
        self.assertEqual(int(c.untagged_responses["EXISTS"][-1]), 1)
        c.unselect() if hasattr(c, "unselect") else c.close()
        self.assertEqual(c.rename(f + "Nope", "Other")[0], "NO")
        self.assertEqual(c.delete(f + "X.Sub")[0], "OK")
        self.assertEqual(c.delete(f + "X")[0], "OK")
        typ, data = c.list('""', f + "*")
        self.assertEqual(data, [None])
        self.assertEqual(c.delete("INBOX")[0], "NO")
        self.assertEqual(c.delete(f + "Never")[0], "NO")

    def test_utf7_names(self):
        c = self.conn()
        name = "&AMk-t&AOk-" + str(int(time.time() * 1000) % 10**6)
        self.assertEqual(c.create(name)[0], "OK")
        self.assertTrue(os.path.isdir(os.path.join(T.maildir(self.user),
                                                   "." + name)))
        typ, data = c.list('""', name)
        self.assertIn(name.encode(), data[0])

    def test_subscribe_lsub(self):
        c = self.conn()
        f = self.fresh(c, "Sub")
        self.assertEqual(c.subscribe(f)[0], "OK")
        typ, data = c.lsub('""', f)
        self.assertEqual(len(data), 1)
        self.assertIn(f.encode(), data[0])
        c._simple_command("LIST", "(SUBSCRIBED)", '""', f)
        lst = self.untagged(c, "LIST")
        self.assertEqual(len(lst), 1)
        self.assertIn(b"\\Subscribed", lst[0])
        self.assertEqual(c.unsubscribe(f)[0], "OK")
        typ, data = c.lsub('""', f)
        self.assertEqual(data, [None])

    def test_status(self):
        c = self.conn()
        f = self.fresh(c, "St")
        self.append(c, f, make_message(1), flags="(\\Seen)")
        self.append(c, f, make_message(22))
        typ, data = c.status(f, "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN "
                             "SIZE HIGHESTMODSEQ)")
        self.assertEqual(typ, "OK")
        s = parse_status(data)
        self.assertEqual(s["MESSAGES"], 2)
        self.assertEqual(s["UNSEEN"], 1)
        self.assertEqual(s["UIDNEXT"], 3)
        self.assertGreater(s["UIDVALIDITY"], 0)
        self.assertGreater(s["HIGHESTMODSEQ"], 0)
        self.assertEqual(s["SIZE"], len(make_message(1)) +
                         len(make_message(22)))
        typ, data = c.status(f + "None", "(MESSAGES)")
        self.assertEqual(typ, "NO")

    def test_select_examine(self):
        c = self.conn()
        f = self.fresh(c, "Sel")
        self.append(c, f, make_message(1))
        r = self.raw()
        u, t = self.ok(r, "SELECT %s (CONDSTORE)" % f)
        txt = b"".join(u)
        self.assertRegex(txt, rb"\* FLAGS \(")
        self.assertRegex(txt, rb"\* OK \[PERMANENTFLAGS \([^)]*\\\*")
        self.assertRegex(txt, rb"\* 1 EXISTS")
        self.assertRegex(txt, rb"\* OK \[UIDVALIDITY \d+\]")
        self.assertRegex(txt, rb"\* OK \[UIDNEXT 2\]")
        self.assertRegex(txt, rb"\* OK \[HIGHESTMODSEQ \d+\]")
        self.assertRegex(t, rb"\[READ-WRITE\]")
        u, t = self.ok(r, "EXAMINE " + f)
        self.assertRegex(t, rb"\[READ-ONLY\]")
        u, t = r.cmd("s", "STORE 1 +FLAGS (\\Flagged)")
        u, t = self.ok(r, "FETCH 1 (FLAGS)")    # read-only: not stored
        self.assertNotIn(b"\\Flagged", b"".join(u))
        u, t = r.cmd("n", "SELECT %sNone" % f)
        self.assertRegex(t, rb"^n NO")
        u, t = r.cmd("f", "FETCH 1 FLAGS")   # failed SELECT unselects
        self.assertRegex(t, rb"^f BAD")


class Append(Base):
    user = "dave"

    def test_append_uidplus_and_bytes(self):
        c = self.conn()
        f = self.fresh(c, "Ap")
        c.select(f)
        uv = int(c.untagged_responses["UIDVALIDITY"][-1])
        date = imaplib.Time2Internaldate(1767225600)   # 2026-01-01
        au = self.append(c, f, MULTIPART, flags="(\\Flagged $Work)",
                         date=date)
        self.assertEqual(au, (uv, 1))
        c.noop()
        typ, data = c.uid("FETCH", "1", "(FLAGS INTERNALDATE RFC822.SIZE "
                                       "BODY.PEEK[])")
        head, body = data[0]
        self.assertEqual(body, MULTIPART)
        self.assertIn(b"\\Flagged", head)
        self.assertIn(b"$Work", head)
        self.assertIn(b"RFC822.SIZE %d" % len(MULTIPART), head)
        m = re.search(rb'INTERNALDATE "([^"]+)"', head)
        self.assertEqual(
            time.mktime(imaplib.Internaldate2tuple(b'INTERNALDATE "' +
                                                   m.group(1) + b'"')),
            time.mktime(time.localtime(1767225600)))

    def test_append_lf_message_counts_crlf(self):
        c = self.conn()
        f = self.fresh(c, "Lf")
        msg = make_message(5).replace(b"\r\n", b"\n")
        r = self.raw()
        r.send(b"a APPEND %s {%d+}\r\n" % (f.encode(), len(msg)) + msg +
               b"\r\n")
        u, t = r.until_tagged("a")
        self.assertRegex(t, rb"^a OK")
        c.select(f)
        typ, data = c.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
        self.assertIn(b"RFC822.SIZE %d" % len(data[0][1]), data[0][0])
        self.assertNotIn(b"\n", data[0][1].replace(b"\r\n", b""))

    def test_literal_plus_no_continuation(self):
        r = self.raw()
        caps = b" ".join(self.ok(r, "CAPABILITY")[0]).upper().split()
        self.assertTrue(b"LITERAL+" in caps or b"LITERAL-" in caps)
        msg = make_message(7)
        r.send(b"a APPEND INBOX (\\Seen) {%d+}\r\n" % len(msg) + msg +
               b"\r\n")
        first = r.line()
        self.assertFalse(first.startswith(b"+"), first)
        r.buf = first + r.buf
        u, t = r.until_tagged("a")
        self.assertRegex(t, rb"^a OK")

    def test_synchronizing_literal(self):
        r = self.raw()
        msg = make_message(8)
        r.send(b"a APPEND INBOX {%d}\r\n" % len(msg))
        self.assertRegex(r.line(), rb"^\+")
        r.send(msg + b"\r\n")
        u, t = r.until_tagged("a")
        self.assertRegex(t, rb"^a OK \[APPENDUID \d+ \d+\]")

    def test_trycreate(self):
        c = self.conn()
        typ, data = c.append("NoSuchFolder", "", None, make_message(1))
        self.assertEqual(typ, "NO")
        self.assertIn(b"[TRYCREATE]", data[0])

    def test_appendlimit_toobig(self):
        c = self.conn()
        self.need(c, "APPENDLIMIT")
        lim = [x for x in self.caps(c) if x.startswith("APPENDLIMIT=")]
        self.assertTrue(lim, "APPENDLIMIT needs a value on this server")
        limit = int(lim[0].split("=")[1])
        r = self.raw()
        r.send(b"a APPEND INBOX {%d}\r\n" % (limit + 1))
        u, t = r.until_tagged("a")
        self.assertRegex(t, rb"^a NO \[TOOBIG\]")

    def test_literal_minus_limit(self):
        r = self.raw()
        caps = b" ".join(self.ok(r, "CAPABILITY")[0]).upper().split()
        if b"LITERAL-" not in caps:
            self.skipTest("LITERAL- not offered (LITERAL+ is)")
        r.send(b"a APPEND INBOX {5000+}\r\n")
        u, t = r.until_tagged("a")
        self.assertRegex(t, rb"^a BAD")


class Fetch(Base):
    user = "erin"

    @classmethod
    def setUpClass(cls):
        c = T.imap(cls.user)
        c.append("INBOX", "", None, MULTIPART)
        c.append("INBOX", "(\\Seen)", None, make_message(2))
        c.logout()

    def sel(self):
        c = self.conn()
        c.select("INBOX")
        return c

    def test_envelope(self):
        c = self.sel()
        typ, data = c.fetch("1", "(ENVELOPE)")
        env = data[0] if isinstance(data[0], bytes) else b"".join(
            x if isinstance(x, bytes) else x[0] + x[1] for x in data)
        self.assertIn(b'"Tue, 3 Mar 2026 12:00:00 +0100"', env)
        self.assertIn(b"=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", env)
        self.assertRegex(env, rb'\(\("=\?utf-8\?q\?J=C3=BCrgen\?=" NIL '
                              rb'"jurgen" "example.org"\)\)')
        self.assertRegex(env, rb'\(\("Bob" NIL "bob" "imap.test"\)'
                              rb'\(NIL NIL "carol" "imap.test"\)\)')
        self.assertIn(b'"<multi@example.org>"', env)

    def test_bodystructure(self):
        c = self.sel()
        typ, data = c.fetch("1", "(BODYSTRUCTURE)")
        bs = data[0]
        # type, subtype and parameter names are case-insensitive
        rx = lambda p: self.assertRegex(bs, re.compile(p, re.I))  # noqa
        # the text part: 51 octets, the CRLF before the boundary excluded
        rx(rb'\(\("TEXT" "PLAIN" \("CHARSET" "utf-8"\) '
           rb'NIL NIL "QUOTED-PRINTABLE" 51 [01] NIL NIL NIL NIL\)')
        b64 = len(base64.encodebytes(bytes(range(256)))) + 5   # + CR each
        rx(rb'\("APPLICATION" "OCTET-STREAM" \("NAME" "a.bin"\) NIL NIL '
           rb'"BASE64" %d NIL \("ATTACHMENT" \("FILENAME" "a.bin"\)\)' %
           (b64 - 2))
        rx(rb'\) "MIXED" \("BOUNDARY" "XX"\) NIL NIL NIL\)\)$')

    def test_body_sections(self):
        c = self.sel()
        typ, data = c.fetch("1", "(BODY.PEEK[1] BODY.PEEK[2.MIME] "
                                 "BODY.PEEK[HEADER.FIELDS (SUBJECT)] "
                                 "BODY.PEEK[TEXT]<0.8> BODY.PEEK[]<10.20>)")
        parts = {re.search(rb"(BODY\[[^\]]*\](<\d+>)?) \{\d+\}$",
                           d[0]).group(1): d[1]
                 for d in data if isinstance(d, tuple)}
        # the CRLF before a boundary belongs to the boundary (RFC 2046)
        self.assertEqual(parts[b"BODY[1]"], b"Sch=C3=B6ne Gr=C3=BC=C3=9Fe, "
                                            b"the zebra-unique word.")
        self.assertTrue(parts[b"BODY[2.MIME]"].startswith(
            b"Content-Type: application/octet-stream"))
        self.assertTrue(parts[b"BODY[2.MIME]"].endswith(b"\r\n\r\n"))
        self.assertEqual(parts[b"BODY[HEADER.FIELDS (SUBJECT)]"],
                         b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?="
                         b"\r\n\r\n")
        self.assertEqual(parts[b"BODY[TEXT]<0>"], b"preamble")
        self.assertEqual(parts[b"BODY[]<10>"], MULTIPART[10:30])
        typ, data = c.fetch("1", "(FLAGS)")
        self.assertNotIn(b"\\Seen", data[0])

    def test_body_sets_seen(self):
        c = self.conn()
        f = self.fresh(c, "Seen")
        self.append(c, f, make_message(9))
        c.select(f)
        typ, data = c.fetch("1", "(BODY[HEADER])")
        self.assertTrue(data[0][1].startswith(b"From: "))
        typ, data = c.fetch("1", "(FLAGS)")
        self.assertIn(b"\\Seen", data[0])

    def test_binary(self):
        c = self.sel()
        r = self.raw()
        self.ok(r, "EXAMINE INBOX")
        u, t = self.ok(r, "FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2] "
                          "BINARY.PEEK[1])")
        txt = b"".join(u)
        self.assertIn(b"BINARY.SIZE[2] 256", txt)
        self.assertIn(b"BINARY[2] ~{256}\r\n" + bytes(range(256)), txt)
        self.assertIn("Schöne Grüße".encode(), txt)

    def test_preview(self):
        c = self.sel()
        self.need(c, "PREVIEW")
        typ, data = c.fetch("2", "(PREVIEW)")
        self.assertIn(b'PREVIEW "Hello, this is message 2. Second line."',
                      data[0])

    def test_modseq_and_changedsince(self):
        c = self.sel()
        typ, data = c.fetch("1:*", "(MODSEQ)")
        mods = [int(re.search(rb"MODSEQ \((\d+)\)", d).group(1))
                for d in data]
        self.assertEqual(len(mods), 2)
        typ, data = c.fetch("1:*", "(FLAGS) (CHANGEDSINCE %d)" % max(mods))
        self.assertEqual(data, [None])
        typ, data = c.fetch("1:*", "(FLAGS) (CHANGEDSINCE %d)" %
                            (min(mods) - 1))
        self.assertGreaterEqual(len([d for d in data if d]), 1)

    def test_emailid(self):
        c = self.sel()
        self.need(c, "OBJECTID")
        typ, data = c.fetch("1:2", "(EMAILID THREADID)")
        ids = [re.search(rb"EMAILID \(([\w-]+)\)", d).group(1) for d in data]
        self.assertEqual(len(set(ids)), 2)
        f = self.fresh(c, "Oid")
        c.select("INBOX")
        typ, d2 = c.copy("1", f)
        c.select(f)
        typ, data = c.fetch("1", "(EMAILID)")
        self.assertIn(b"EMAILID (%s)" % ids[0], data[0])
        typ, data = c.status(f, "(MAILBOXID)")
        self.assertEqual(typ, "OK")

    def test_uid_fetch_all_macros(self):
        c = self.sel()
        typ, data = c.uid("FETCH", "1:*", "FULL")
        self.assertEqual(typ, "OK")
        self.assertIn(b"BODY (", b"".join(
            d if isinstance(d, bytes) else d[0] for d in data))
        typ, data = c.fetch("2", "(RFC822.HEADER RFC822.TEXT)")
        self.assertEqual(typ, "OK")

    def test_bad_fetch(self):
        r = self.raw()
        self.ok(r, "EXAMINE INBOX")
        for i, cmd in enumerate(("FETCH 1 (NOSUCH)", "FETCH 0 FLAGS",
                                 "FETCH 1 BODY[1", "FETCH x FLAGS")):
            u, t = r.cmd("b%d" % i, cmd)
            self.assertRegex(t, rb"^b%d BAD" % i)


class Search(Base):
    user = "frank"

    @classmethod
    def setUpClass(cls):
        c = T.imap(cls.user)
        c.append("INBOX", "(\\Seen)", imaplib.Time2Internaldate(1767225600),
                 make_message(1, subject="apple pie", frm="Ann <ann@a.org>"))
        c.append("INBOX", "(\\Flagged $Label1)",
                 imaplib.Time2Internaldate(1769904000),
                 make_message(2, subject="banana bread",
                              body="zebra stripes\r\n" * 200))
        c.append("INBOX", "", imaplib.Time2Internaldate(1772323200),
                 MULTIPART)
        c.logout()

    def search(self, c, *crit, charset=None):
        typ, data = c.search(charset, *crit)
        self.assertEqual(typ, "OK", crit)
        return [int(x) for x in data[0].split()]

    def test_keys(self):
        c = self.conn()
        c.select("INBOX")
        s = lambda *k: self.search(c, *k)  # noqa: E731
        self.assertEqual(s("ALL"), [1, 2, 3])
        self.assertEqual(s("SEEN"), [1])
        self.assertEqual(s("UNSEEN"), [2, 3])
        self.assertEqual(s("FLAGGED"), [2])
        self.assertEqual(s("KEYWORD", "$Label1"), [2])
        self.assertEqual(s("UNKEYWORD", "$Label1"), [1, 3])
        self.assertEqual(s("SUBJECT", "banana"), [2])
        self.assertEqual(s("FROM", "ann@a.org"), [1])
        self.assertEqual(s("TO", "bob"), [1, 2, 3])
        self.assertEqual(s("CC", "dave"), [3])
        self.assertEqual(s("BODY", "zebra"), [2, 3])
        self.assertEqual(s("TEXT", "apple"), [1])
        self.assertEqual(s("HEADER", "Message-ID", "<multi@example.org>"),
                         [3])
        self.assertEqual(s("LARGER", "2000"), [2])
        self.assertEqual(s("SMALLER", "2000"), [1, 3])
        self.assertEqual(s("LARGER", "800"), [2, 3])
        self.assertEqual(s("BEFORE", "15-Jan-2026"), [1])
        self.assertEqual(s("SINCE", "15-Jan-2026"), [2, 3])
        self.assertEqual(s("ON", "1-Mar-2026"), [3])
        self.assertEqual(s("SENTBEFORE", "3-Mar-2026"), [1, 2])
        self.assertEqual(s("SENTON", "3-Mar-2026"), [3])
        self.assertEqual(s("NOT", "SEEN"), [2, 3])
        self.assertEqual(s("OR", "SEEN", "FLAGGED"), [1, 2])
        self.assertEqual(s("2:*"), [2, 3])
        self.assertEqual(s("UID", "1,3"), [1, 3])
        self.assertEqual(s("(", "SEEN", "SUBJECT", "apple", ")"), [1])
        self.assertEqual(s("SUBJECT", "nothing-matches"), [])
        self.assertEqual(s("DRAFT"), [])
        self.assertEqual(s("NEW"), s("RECENT", "UNSEEN"))

    def test_charset_utf8(self):
        r = self.raw()
        self.ok(r, "EXAMINE INBOX")
        word = "Grüße".encode()
        r.send(b"a SEARCH CHARSET UTF-8 SUBJECT {%d+}\r\n" % len(word) +
               word + b"\r\n")
        u, t = r.until_tagged("a")
        self.assertRegex(t, rb"^a OK")
        self.assertIn(b"* SEARCH 3\r\n", u)
        u, t = r.cmd("b", "SEARCH CHARSET UTF-8 BODY {7+}\r\nSch\xc3\xb6ne"
                     .encode("latin-1"))
        self.assertIn(b"* SEARCH 3\r\n", u)
        u, t = r.cmd("c", "SEARCH CHARSET X-NO-SUCH ALL")
        self.assertRegex(t, rb"^c NO \[BADCHARSET")

    def test_esearch_and_searchres(self):
        r = self.raw()
        self.ok(r, "EXAMINE INBOX")
        u, t = self.ok(r, "SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN",
                       tag="es")
        self.assertEqual(len(u), 1, u)
        m = re.match(rb'\* ESEARCH \(TAG "es"\) (.*)\r\n$', u[0])
        items = m.group(1).split()
        self.assertEqual(dict(zip(items[::2], items[1::2])),
                         {b"MIN": b"2", b"MAX": b"3", b"COUNT": b"2",
                          b"ALL": b"2:3"})
        u, t = self.ok(r, "UID SEARCH RETURN (COUNT) ALL", tag="eu")
        self.assertIn(b'* ESEARCH (TAG "eu") UID COUNT 3\r\n', u)
        u, t = self.ok(r, "SEARCH RETURN (SAVE) FLAGGED", tag="sv")
        self.assertFalse([l for l in u if b"SEARCH" in l], u)
        u, t = self.ok(r, "FETCH $ (FLAGS)", tag="fs")
        self.assertEqual(len([l for l in u if b"FETCH" in l]), 1)
        self.assertRegex(u[0], rb"^\* 2 FETCH")
        u, t = self.ok(r, "SEARCH $ SUBJECT banana", tag="s2")
        self.assertIn(b"* SEARCH 2\r\n", u)

    def test_sort_thread(self):
        r = self.raw()
        self.ok(r, "EXAMINE INBOX")
        u, t = self.ok(r, "SORT (SUBJECT) UTF-8 ALL")
        self.assertIn(b"* SORT 1 2 3\r\n", u)
        u, t = self.ok(r, "SORT (REVERSE ARRIVAL) UTF-8 ALL")
        self.assertIn(b"* SORT 3 2 1\r\n", u)
        u, t = self.ok(r, "SORT (SIZE) UTF-8 ALL")
        self.assertIn(b"* SORT 1 3 2\r\n", u)
        u, t = self.ok(r, "UID SORT (FROM) UTF-8 ALL")
        self.assertTrue(any(l.startswith(b"* SORT ") for l in u))
        u, t = self.ok(r, "THREAD ORDEREDSUBJECT UTF-8 ALL")
        self.assertIn(b"* THREAD (1)(2)(3)\r\n", u)
        u, t = r.cmd("x", "SORT (NOSUCH) UTF-8 ALL")
        self.assertRegex(t, rb"^x BAD")

    def test_thread_references(self):
        c = self.conn()
        f = self.fresh(c, "Thr")
        root = make_message(40, subject="topic")
        reply = make_message(41, subject="Re: topic",
                             extra="In-Reply-To: <msg40@example.org>\r\n"
                                   "References: <msg40@example.org>\r\n")
        other = make_message(42, subject="other")
        reply2 = make_message(43, subject="Re: topic",
                              extra="References: <msg40@example.org> "
                                    "<msg41@example.org>\r\n")
        for m in (root, other, reply, reply2):
            self.append(c, f, m)
        r = self.raw()
        self.ok(r, "EXAMINE " + f)
        u, t = self.ok(r, "THREAD REFERENCES UTF-8 ALL")
        self.assertIn(b"* THREAD (1 3 4)(2)\r\n", u)
        u, t = self.ok(r, "THREAD ORDEREDSUBJECT UTF-8 ALL")
        # RFC 5256: threads by the date of their first message, the rest
        # of a subject's messages children of the first
        self.assertIn(b"* THREAD (1 (3)(4))(2)\r\n", u)


class StoreCopy(Base):
    user = "grace"

    def test_store_flags_keywords(self):
        c = self.conn()
        f = self.fresh(c, "Sto")
        self.append(c, f, make_message(1))
        self.append(c, f, make_message(2))
        c.select(f)
        typ, data = c.store("1:2", "+FLAGS", "(\\Answered $Forwarded Custom1)")
        self.assertEqual(len(data), 2)
        self.assertIn(b"$Forwarded", data[0])
        typ, data = c.store("1", "-FLAGS", "(Custom1)")
        self.assertNotIn(b"Custom1", data[0])
        typ, data = c.store("2", "FLAGS.SILENT", "(\\Deleted)")
        self.assertEqual(data, [None])
        typ, data = c.fetch("1:2", "(FLAGS)")
        self.assertIn(b"\\Answered", data[0])
        self.assertIn(b"$Forwarded", data[0])
        self.assertRegex(data[1].replace(b" \\Recent", b""),
                         rb"FLAGS \(\\Deleted\)")
        c.close()
        # flags live in the file names (":2," + letters, DFPRST order)
        cur = os.listdir(os.path.join(T.maildir(self.user), "." + f, "cur"))
        self.assertEqual(len(cur), 1)
        info = cur[0].split(":2,")[1]
        self.assertIn("R", info)
        typ, data = c.select(f)
        typ, data = c.fetch("1", "(FLAGS)")
        self.assertIn(b"\\Answered", data[0])
        with self.assertRaises(imaplib.IMAP4.error):   # \Recent: BAD
            c.store("1", "+FLAGS", "(\\Recent)")

    def test_unchangedsince(self):
        r = self.raw()
        c = self.conn()
        f = self.fresh(c, "Unc")
        self.append(c, f, make_message(1))
        self.append(c, f, make_message(2))
        u, t = self.ok(r, "SELECT %s (CONDSTORE)" % f)
        u, t = self.ok(r, "FETCH 1:2 (MODSEQ)")
        m1 = max(int(x) for x in re.findall(rb"MODSEQ \((\d+)\)",
                                            b"".join(u)))
        u, t = self.ok(r, "STORE 1 +FLAGS (\\Seen)")
        self.assertTrue(any(re.search(rb"1 FETCH \(.*MODSEQ \((\d+)\)", l)
                            for l in u), u)
        u, t = self.ok(r, "STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Flagged)"
                       % m1)
        self.assertIn(b"[MODIFIED 1]", t)
        u, t = self.ok(r, "FETCH 1:2 (FLAGS)")
        self.assertNotIn(b"\\Flagged", u[0])
        self.assertIn(b"\\Flagged", u[1])

    def test_copy_move_uidplus(self):
        c = self.conn()
        src = self.fresh(c, "Src")
        dst = self.fresh(c, "Dst")
        for i in range(3):
            self.append(c, src, make_message(i), flags="(\\Flagged)")
        c.select(dst)
        dv = int(c.untagged_responses["UIDVALIDITY"][-1])
        c.select(src)
        typ, data = c.copy("1:2", dst)
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0], rb"\[COPYUID %d 1:2 1:2\]" % dv)
        typ, data = c.uid("MOVE", "3", dst)
        self.assertEqual(typ, "OK")
        cu = c.untagged_responses.get("OK", []) + [data[0]]
        self.assertTrue(any(re.search(rb"\[COPYUID %d 3 3\]" % dv, x)
                            for x in cu if x), cu)
        self.assertEqual(c.untagged_responses.get("EXPUNGE"), [b"3"])
        typ, data = c.status(dst, "(MESSAGES)")
        self.assertEqual(parse_status(data)["MESSAGES"], 3)
        c.select(dst)
        typ, data = c.fetch("3", "(FLAGS BODY.PEEK[])")
        self.assertEqual(data[0][1], make_message(2))
        self.assertIn(b"\\Flagged", data[0][0])
        typ, data = c.copy("1", dst + "Nope")
        self.assertEqual(typ, "NO")
        self.assertIn(b"TRYCREATE", data[0])

    def test_expunge_uid_expunge_unselect_close(self):
        c = self.conn()
        f = self.fresh(c, "Exp")
        for i in range(5):
            self.append(c, f, make_message(i))
        c.select(f)
        c.store("1,3", "+FLAGS", "(\\Deleted)")
        typ, data = c.expunge()
        uids = [1, 2, 3, 4, 5]
        for n in data:                 # any order, each one as sent
            del uids[int(n) - 1]
        self.assertEqual(uids, [2, 4, 5])
        c.store("1:*", "+FLAGS", "(\\Deleted)")
        typ, data = c.uid("EXPUNGE", "4")
        self.assertEqual(typ, "OK")
        typ, data = c.search(None, "ALL")
        self.assertEqual(data[0], b"1 2")
        typ, data = c._simple_command("UNSELECT")
        self.assertEqual(typ, "OK")
        typ, data = c.status(f, "(MESSAGES)")
        self.assertEqual(parse_status(data)["MESSAGES"], 2)
        c.select(f)
        c.close()
        typ, data = c.status(f, "(MESSAGES UIDNEXT)")
        s = parse_status(data)
        self.assertEqual(s["MESSAGES"], 0)
        self.assertEqual(s["UIDNEXT"], 6)
        self.append(c, f, make_message(9))
        c.select(f)
        typ, data = c.fetch("1", "(UID)")
        self.assertIn(b"UID 6", data[0])        # UIDs are never reused


class Sync(Base):
    user = "heidi"

    def test_qresync_vanished(self):
        c = self.conn()
        f = self.fresh(c, "Qr")
        for i in range(5):
            self.append(c, f, make_message(i))
        r = self.raw()
        u, t = self.ok(r, "ENABLE QRESYNC")
        self.assertTrue(any(b"ENABLED" in l and b"QRESYNC" in l for l in u))
        u, t = self.ok(r, "SELECT " + f)
        uv = int(re.search(rb"UIDVALIDITY (\d+)", b"".join(u)).group(1))
        hm = int(re.search(rb"HIGHESTMODSEQ (\d+)", b"".join(u)).group(1))
        self.ok(r, "UNSELECT")
        c.select(f)
        c.store("2", "+FLAGS", "(\\Deleted)")
        c.expunge()
        c.store("4", "+FLAGS", "(\\Flagged)")     # was UID 5
        u, t = self.ok(r, "SELECT %s (QRESYNC (%d %d 1:5))" % (f, uv, hm))
        txt = b"".join(u)
        self.assertIn(b"* VANISHED (EARLIER) 2\r\n", txt)
        self.assertRegex(txt, rb"\* 4 FETCH \((?=.*UID 5)(?=.*\\Flagged)")
        # live: VANISHED instead of EXPUNGE once QRESYNC is on
        c.store("1", "+FLAGS", "(\\Deleted)")
        c.expunge()
        u, t = self.ok(r, "NOOP")
        self.assertIn(b"* VANISHED 1\r\n", u)
        self.assertFalse([l for l in u if b"EXPUNGE" in l])

    def test_two_sessions(self):
        a, b = self.conn(), self.conn()
        f = self.fresh(a, "Two")
        self.append(a, f, make_message(1))
        a.select(f)
        b.select(f)
        self.append(a, f, make_message(2))
        b.noop()
        self.assertEqual(b.untagged_responses.get("EXISTS", [None])[-1], b"2")
        a.noop()
        b.store("1", "+FLAGS", "(\\Deleted)")
        b.expunge()
        a.untagged_responses.clear()
        a.noop()
        self.assertEqual(a.untagged_responses.get("EXPUNGE"), [b"1"])
        ta, da = a.fetch("1", "(UID FLAGS)")
        tb, db = b.fetch("1", "(UID FLAGS)")
        self.assertIn(b"UID 2", da[0])
        strip = lambda d: d[0].replace(b"\\Recent", b"").replace(  # noqa
            b" )", b")").replace(b"( ", b"(")
        self.assertEqual(strip(da), strip(db))
        b.store("1", "+FLAGS", "(\\Seen)")
        a.noop()
        self.assertTrue(any(b"\\Seen" in x for x in
                            a.untagged_responses.get("FETCH", [])))

    def test_idle_delivery_and_flags(self):
        r = self.raw()
        c = self.conn()
        c.select("INBOX")
        self.ok(r, "SELECT INBOX")
        r.send(b"i IDLE\r\n")
        self.assertRegex(r.line(), rb"^\+")
        t0 = time.time()
        T.deliver(self.user, make_message(77, subject="idle test"))
        t_delivered = time.time()
        r.sock.settimeout(5)
        ln = r.line()
        self.assertRegex(ln, rb"^\* \d+ EXISTS")
        self.assertLess(time.time() - t_delivered, 1.0,
                        "EXISTS came %.2fs after delivery" %
                        (time.time() - t_delivered))
        n = int(ln.split()[1])
        while True:      # RECENT may follow
            r.sock.settimeout(0.3)
            try:
                more = r.line()
            except socket.timeout:
                break
            if not more:
                break
        r.sock.settimeout(5)
        c.noop()
        c.store(str(n), "+FLAGS", "(\\Flagged)")
        t1 = time.time()
        ln = r.line()
        while ln.startswith(b"* OK") or b"RECENT" in ln:
            ln = r.line()
        self.assertRegex(ln, rb"^\* %d FETCH \(.*\\Flagged" % n)
        self.assertLess(time.time() - t1, 1.0)
        r.send(b"DONE\r\n")
        u, t = r.until_tagged("i")
        self.assertRegex(t, rb"^i OK")
        del t0

    def test_quota(self):
        c = self.conn()
        typ, data = c.getquotaroot("INBOX")
        self.assertEqual(typ, "OK")
        roots, quotas = data
        m = re.match(rb'"?INBOX"? "?([^"]*)"?$', roots[0])
        self.assertTrue(m, roots)
        q = re.search(rb"\(STORAGE (\d+) (\d+)\)", quotas[0])
        self.assertTrue(q, quotas)
        self.assertEqual(int(q.group(2)), site.QUOTA_BYTES // 1024)
        used = int(q.group(1))
        self.append(c, "INBOX", make_message(1, body="x" * 200000))
        typ, data = c.getquotaroot("INBOX")
        q = re.search(rb"\(STORAGE (\d+) (\d+)\)", data[1][0])
        self.assertGreaterEqual(int(q.group(1)), used + 190)
        typ, data = c.getquota(m.group(1).decode().join('""'))
        self.assertEqual(typ, "OK")

    def test_metadata(self):
        c = self.conn()
        self.need(c, "METADATA")
        r = self.raw()
        self.ok(r, 'SETMETADATA INBOX (/private/comment "hello meta")')
        u, t = self.ok(r, "GETMETADATA INBOX /private/comment")
        self.assertRegex(b"".join(u), rb'\* METADATA "?INBOX"? '
                         rb'\(/private/comment ("hello meta"|'
                         rb'\{10\}\r\nhello meta)\)')

    def test_compress(self):
        import zlib
        c = self.conn()
        self.need(c, "COMPRESS=DEFLATE")
        r = self.raw()
        self.ok(r, "COMPRESS DEFLATE")
        co = zlib.compressobj(wbits=-15)
        de = zlib.decompressobj(wbits=-15)
        r.sock.sendall(co.compress(b"z NOOP\r\n") +
                       co.flush(zlib.Z_SYNC_FLUSH))
        out = b""
        while b"z OK" not in out:
            out += de.decompress(r.sock.recv(4096))
        self.assertIn(b"z OK", out)


if __name__ == "__main__":
    if site.target_kind() == "postern" and not site.have_postern_imapd():
        print("skip: postern-imapd not built in " + site.BUILD)
        sys.exit(77)
    unittest.main(verbosity=2)
