#!/usr/bin/env python3
"""NOTIFY (RFC 5465): what one session is told, with no command in
progress, about changes another session (or a delivery) makes.

Session A sets NOTIFY and then only reads; session B (a second
connection) and LMTP deliveries make the changes.  Checked: new mail in
the selected folder (EXISTS plus the FETCH attributes MessageNew asked
for), flag changes and expunges there, SELECTED-DELAYED holding expunges
back, STATUS for other folders (new mail, \\Seen), LIST for folders
created and deleted and for subscription changes, NOTIFY SET STATUS,
NOTIFY NONE, and the errors (BAD for bad syntax, NO [BADEVENT] for an
event not supported).  Raw sockets; valid against Dovecot 2.3 too
(IMAP_TARGET=dovecot).  Exit 0 pass, 1 fail, 77 skip.
"""
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_site as site  # noqa: E402

USERS = ["nfy1", "nfy2", "nfy3", "nfy4"]
T = None


def setUpModule():
    global T
    if site.target_kind() == "postern" and not site.have_postern_imapd():
        raise unittest.SkipTest("postern-imapd not built in " + site.BUILD)
    T = site.target_from_env(USERS)


def tearDownModule():
    if T:
        T.cleanup()


def msg(subject):
    return ("From: Alice <alice@example.org>\r\nTo: x@imap.test\r\n"
            "Subject: %s\r\nMessage-ID: <%s@t>\r\n\r\nbody\r\n"
            % (subject, subject.replace(" ", "."))).encode()


class Base(unittest.TestCase):
    user = None
    n = 0

    def setUp(self):
        self.a = T.raw()
        self.addCleanup(self.a.close)
        self.a.login(T.address(self.user))
        self.b = T.raw()
        self.addCleanup(self.b.close)
        self.b.login(T.address(self.user))

    def cmd(self, r, text, ok=True):
        Base.n += 1
        tag = "n%d" % Base.n
        u, t = r.cmd(tag, text)
        if ok:
            self.assertRegex(t, rb"^n\d+ OK", "%s -> %r %r" % (text, u, t))
        return u, t

    def unsolicited(self, pattern, timeout=5.0, r=None):
        """Read lines (literals inlined) until one matches pattern;
        return every line read.  Fails after timeout."""
        r = r or self.a
        got = []
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while time.time() < deadline:
            r.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                ln = r.line()
            except socket.timeout:
                break
            m = re.search(rb"\{(\d+)\+?\}\r\n$", ln)
            while m:
                ln += r.read_literal(int(m.group(1)))
                more = r.line()
                ln += more
                m = re.search(rb"\{(\d+)\+?\}\r\n$", more)
            got.append(ln)
            if rx.search(ln):
                r.sock.settimeout(15)
                return got
        r.sock.settimeout(15)
        self.fail("no %r within %.1f s; got %r" % (pattern, timeout, got))

    def told(self, pattern):
        """A change in the selected folder reaches A.  Postern pushes it
        at once; Dovecot 2.3 holds selected-folder changes until the
        next command (or IDLE), which RFC 5465 does not ask for: there a
        NOOP collects them."""
        if site.target_kind() == "dovecot":
            u, _ = self.cmd(self.a, "NOOP")
            self.assertTrue(any(re.search(pattern, x) for x in u),
                            "%r not in %r" % (pattern, u))
            return u
        return self.unsolicited(pattern)

    def quiet(self, seconds=1.0, r=None):
        """Nothing arrives for a while."""
        r = r or self.a
        r.sock.settimeout(seconds)
        try:
            ln = r.line()
        except socket.timeout:
            ln = None
        r.sock.settimeout(15)
        self.assertIsNone(ln, "expected nothing, got %r" % ln)


class Errors(Base):
    user = "nfy1"

    def test_capability(self):
        u, _ = self.cmd(self.a, "CAPABILITY")
        self.assertIn(b"NOTIFY", u[0].split())

    def test_bad_syntax_and_events(self):
        for bad in ("NOTIFY", "NOTIFY FOO",
                    "NOTIFY SET (bogus (MessageNew MessageExpunge))",
                    "NOTIFY SET (selected (FlagChange))",
                    "NOTIFY SET (selected (MessageNew))",
                    "NOTIFY SET (personal (MessageNew (UID) "
                    "MessageExpunge))",
                    "NOTIFY SET (selected (NoSuchEvent))"):
            _, t = self.cmd(self.a, bad, ok=False)
            self.assertRegex(t, rb"^n\d+ BAD", bad)
        _, t = self.cmd(self.a, "NOTIFY SET (personal (MessageNew "
                        "MessageExpunge AnnotationChange))", ok=False)
        self.assertRegex(t, rb"^n\d+ NO \[BADEVENT", t)
        # A failed NOTIFY changed nothing: still no notifications.
        self.cmd(self.b, "CREATE Untold")
        self.quiet(1.0)


class Selected(Base):
    user = "nfy2"

    def test_new_flags_expunge(self):
        T.deliver(self.user, msg("first"))
        self.cmd(self.a, "SELECT INBOX")
        self.cmd(self.a, "NOTIFY SET (selected (MessageNew (UID "
                 "BODY.PEEK[HEADER.FIELDS (Subject)]) MessageExpunge "
                 "FlagChange))")
        # New mail: EXISTS and the asked-for FETCH, with no command.
        T.deliver(self.user, msg("second"))
        got = self.told(rb"(?s)^\* 2 FETCH .*Subject: second")
        self.assertTrue(any(re.match(rb"^\* 2 EXISTS", x) for x in got),
                        got)
        # Another session's flag change.
        self.cmd(self.b, "SELECT INBOX")
        self.cmd(self.b, "STORE 1 +FLAGS (\\Flagged)")
        self.told(rb"^\* 1 FETCH \(.*FLAGS \([^)]*\\Flagged")
        # Another session's expunge.
        self.cmd(self.b, "STORE 1 +FLAGS (\\Deleted)")
        self.told(rb"^\* 1 FETCH \(.*\\Deleted")
        self.cmd(self.b, "EXPUNGE")
        self.told(rb"^\* 1 EXPUNGE")
        # The view A has now: one message, "second".
        u, _ = self.cmd(self.a, "FETCH 1:* (BODY.PEEK[HEADER.FIELDS "
                        "(Subject)])")
        self.assertEqual(len([x for x in u if b" FETCH " in x]), 1, u)
        self.assertIn(b"second", b"".join(u))

    def test_selected_delayed_holds_expunges(self):
        T.deliver(self.user, msg("delayed a"))
        T.deliver(self.user, msg("delayed b"))
        self.cmd(self.a, "SELECT INBOX")
        self.cmd(self.a, "NOTIFY SET (selected-delayed (MessageNew "
                 "MessageExpunge FlagChange))")
        self.cmd(self.b, "SELECT INBOX")
        self.cmd(self.b, "STORE 1:* +FLAGS.SILENT (\\Deleted)")
        self.cmd(self.b, "EXPUNGE")
        # Flag changes may come; an EXPUNGE must not, until a command
        # that allows it.
        deadline = time.time() + 1.5
        self.a.sock.settimeout(0.3)
        while time.time() < deadline:
            try:
                ln = self.a.line()
            except socket.timeout:
                continue
            self.assertNotRegex(ln, rb"EXPUNGE|VANISHED", ln)
        self.a.sock.settimeout(15)
        u, _ = self.cmd(self.a, "NOOP")
        self.assertTrue(any(re.match(rb"^\* \d+ EXPUNGE", x) for x in u),
                        u)


class Others(Base):
    user = "nfy3"

    def test_status_list_subscription(self):
        self.cmd(self.b, "CREATE Lists")
        self.cmd(self.a, "SELECT INBOX")
        self.cmd(self.a, "NOTIFY SET (selected (MessageNew "
                 "MessageExpunge)) (personal (MessageNew MessageExpunge "
                 "FlagChange MailboxName SubscriptionChange))")
        # New mail in another folder: STATUS.
        self.b.send("b1 APPEND Lists {%d+}\r\n" % len(msg("list mail")))
        self.b.send(msg("list mail") + b"\r\n")
        self.b.until_tagged("b1")
        got = self.unsolicited(rb'^\* STATUS "?Lists"? \(')
        line = got[-1]
        self.assertRegex(line, rb"MESSAGES 1\b", line)
        self.assertRegex(line, rb"UIDNEXT 2\b", line)
        # \Seen there: STATUS with UNSEEN 0.
        self.cmd(self.b, "SELECT Lists")
        self.cmd(self.b, "STORE 1 +FLAGS (\\Seen)")
        got = self.unsolicited(rb'^\* STATUS "?Lists"? \(.*UNSEEN 0')
        # Folders created and deleted: LIST.
        self.cmd(self.b, "CREATE Fresh")
        self.unsolicited(rb'^\* LIST \([^)]*\) "\." "?Fresh"?\r\n')
        self.cmd(self.b, "DELETE Fresh")
        self.unsolicited(
            rb'^\* LIST \([^)]*\\NonExistent[^)]*\) "\." "?Fresh"?')
        # Subscriptions.
        self.cmd(self.b, "SUBSCRIBE Lists")
        self.unsolicited(
            rb'^\* LIST \([^)]*\\Subscribed[^)]*\) "\." "?Lists"?')
        self.cmd(self.b, "UNSUBSCRIBE Lists")
        got = self.unsolicited(rb'^\* LIST \([^)]*\) "\." "?Lists"?')
        self.assertNotIn(b"\\Subscribed", got[-1])

    def test_set_status_and_none(self):
        self.cmd(self.b, "CREATE Stat1")
        self.cmd(self.b, "CREATE Stat2")
        u, _ = self.cmd(self.a, "NOTIFY SET STATUS (personal (MessageNew "
                        "MessageExpunge))")
        told = b"".join(x for x in u if x.startswith(b"* STATUS"))
        for name in (b"Stat1", b"Stat2", b"INBOX"):
            self.assertIn(name, told, u)
        self.cmd(self.a, "NOTIFY NONE")
        self.b.send("b2 APPEND Stat1 {%d+}\r\n" % len(msg("after none")))
        self.b.send(msg("after none") + b"\r\n")
        self.b.until_tagged("b2")
        self.quiet(1.5)


class Inboxes(Base):
    user = "nfy4"

    def test_inboxes_status_during_idle(self):
        # Not selected: INBOX is told through STATUS, also during IDLE.
        self.cmd(self.a, "CREATE Other")
        self.cmd(self.a, "SELECT Other")
        self.cmd(self.a, "NOTIFY SET (inboxes (MessageNew MessageExpunge))")
        self.a.send("i1 IDLE\r\n")
        self.assertTrue(self.a.line().startswith(b"+"))
        T.deliver(self.user, msg("to the inbox"))
        got = self.unsolicited(rb'^\* STATUS "?INBOX"? \(.*MESSAGES 1\b')
        self.assertTrue(got)
        self.a.send("DONE\r\n")
        _, t = self.a.until_tagged("i1")
        self.assertRegex(t, rb"^i1 OK")


if __name__ == "__main__":
    unittest.main()
