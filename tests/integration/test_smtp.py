#!/usr/bin/env python3
"""Black-box test of postern-smtpd through the whole inbound path.

`postern -c DIR init`, free loopback ports, a services table with the
smtp, submission, submissions, queue and lmtp-unix services, then
`postern start` and Python's smtplib (plus raw sockets where the exact
bytes matter).  Mail must land in DIR/mail/DOMAIN/USER/new/ with the
message byte for byte below the trace headers.

$mynetworks is set to a network the test client is NOT in, so
127.0.0.1 is an outsider: the relay tests mean something.  Programs come
from $POSTERN_BUILD_DIR (default ./build).  Python 3 standard library only.

The delivery, address resolution, relay and AUTH tests (DeliveryTests)
run on SQLite always and again on PostgreSQL and MariaDB when the PG_* /
MYSQL_* variables of dbservers.sh are set (run-all.sh sets them): the
config folder is switched with `postern config set database_driver=...`
and `postern db migrate`.  Those servers are shared by every integration
test, so each run uses domain names of its own.  Protocol-only tests
(ProtocolTests: STARTTLS injection, smuggling, BDAT, limits...) do not
depend on the database and run on SQLite only.
"""
import base64
import glob
import shutil
import os
import re
import secrets
import smtplib
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (RawSocket, SiteTestCase,  # noqa: E402
                          driver_settings, run_postern,
                          skip_unless_driver, tls_context)

SERVICES = """\
# written by test_smtp.py
smtp         inet  $inet_interfaces:$smtp_port            starttls  1  postern-smtpd
submission   inet  $inet_interfaces:$submission_port      starttls  1  postern-smtpd
submissions  inet  $inet_interfaces:$submissions_port     implicit  1  postern-smtpd
lmtp-unix    unix  $lmtp_socket                           none      1  postern-lmtpd
queue        unix  $queue_socket                          none      1  postern-queued
"""

SIZE_LIMIT = 1500000
CONN_LIMIT = 8
PASSWORD = "correct horse battery"


class Raw(RawSocket):
    """A plain socket speaking SMTP byte for byte."""

    EOL = b"\n"

    def __init__(self, port, tls=False):
        super().__init__(port, tls)
        self.greeting = self.reply()

    def reply(self):
        """(code, [lines]) of one possibly multi-line reply."""
        lines = []
        while True:
            line = self.line()
            lines.append(line[4:].decode("utf-8", "replace"))
            if line[3:4] != b"-":
                return int(line[:3]), lines

    def starttls(self):
        self.send(b"STARTTLS\r\n")
        code, _ = self.reply()
        assert code == 220, code
        self.sock = tls_context().wrap_socket(self.sock)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class SmtpBase(SiteTestCase):
    """A config folder on DRIVER's database with smtpd, queued and lmtpd
    running; the tests come from the mixins of the subclasses."""

    DRIVER = "sqlite"

    @classmethod
    def set_up_site(cls):
        skip_unless_driver(cls.DRIVER)
        cls.make_site("postern-smtp.")
        settings = cls.pick_ports()
        settings += [
            "mynetworks=192.0.2.0/24",
            "message_size_limit=%d" % SIZE_LIMIT,
            "stop_timeout=5s",
            "database_timeout=5s",
            "smtpd_soft_error_limit=100",
            "smtpd_hard_error_limit=200",
            "myhostname=mx.test",
            "debug_trace=" + os.environ.get("POSTERN_DEBUG_TRACE", ""),
            "smtpd_client_connection_count_limit=%d" % CONN_LIMIT,
        ]
        settings += driver_settings(cls.DRIVER)
        cls.run_postern("config", "set", *settings)
        if cls.DRIVER != "sqlite":
            cls.run_postern("db", "migrate")
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        # The PostgreSQL and MariaDB databases are shared by every
        # integration test and every run: names of our own.
        tag = secrets.token_hex(4)
        cls.dom = "example-%s.test" % tag
        cls.catch = "catch-%s.test" % tag
        cls.alias = "alias-%s.test" % tag
        for d in [cls.dom, cls.catch]:
            cls.run_postern("domain", "add", d)
        for m in ["alice", "bob", "carol"]:
            cls.run_postern("mailbox", "add", "%s@%s" % (m, cls.dom),
                            "--password-stdin", stdin=PASSWORD + "\n")
        cls.run_postern("mailbox", "add", "dave@" + cls.catch,
                        "--password-stdin", stdin=PASSWORD + "\n")
        cls.run_postern("mailbox", "add", "sleepy@" + cls.dom,
                        "--password-stdin", "--inactive",
                        stdin=PASSWORD + "\n")
        cls.run_postern("alias", "add", "team@" + cls.dom,
                        "alice@%s,bob@%s" % (cls.dom, cls.dom))
        cls.run_postern("alias", "add", "@" + cls.catch, "dave@" + cls.catch)
        cls.run_postern("alias-domain", "add", cls.alias, cls.dom)
        cls.run_postern("start")
        cls.started = True

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "started", False):
            # An idle session is told and closed at once by the stop.
            idle = Raw(cls.ports["smtp"])
            idle.send(b"EHLO client.test\r\n")
            idle.reply()
            t0 = time.time()
            cls.run_postern("stop", check=False)
            code, text = idle.reply()
            idle.close()
            assert code == 421 and "shutting down" in text[0], text
            assert time.time() - t0 < 4, "stop waited for the idle client"
        cls.remove_site()

    @classmethod
    def run_postern(cls, *args, stdin=None, check=True):
        return run_postern(cls.dir, *args, stdin=stdin, check=check)

    # ---- helpers

    def smtp(self, service="smtp"):
        s = smtplib.SMTP("127.0.0.1", self.ports[service], timeout=15)
        s.ehlo("client.test")
        return s

    def maildir(self, address):
        user, domain = address.split("@")
        return os.path.join(self.dir, "mail", domain, user, "new")

    def messages(self, address):
        return sorted(glob.glob(os.path.join(self.maildir(address), "*")))

    def wait_for(self, address, marker, timeout=20):
        """The content of the delivered message containing marker."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for path in self.messages(address):
                with open(path, "rb") as f:
                    data = f.read()
                if marker.encode() in data:
                    return data
            time.sleep(0.1)
        self.fail("no message with %s for %s; log:\n%s" % (
            marker, address, self.log_tail()))

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.dir, "log", "postern.log"),
                      errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def assert_body(self, delivered, sent):
        """sent (bytes, CRLF lines) is the end of delivered, below the
        trace headers only."""
        for form in (sent, sent.replace(b"\r\n", b"\n")):
            if delivered.endswith(form):
                head = delivered[:len(delivered) - len(form)]
                text = head.decode("utf-8", "replace")
                names = re.findall(r"^([A-Za-z-]+):", text, re.M)
                self.assertTrue(set(names) <= {"Return-Path",
                                               "Delivered-To", "Received"},
                                "unexpected headers above: %r" % names)
                self.assertIn("by mx.test (Postern) with", text)
                return
        self.fail("message not delivered byte for byte:\n%r\nvs sent\n%r" %
                  (delivered[-len(sent) - 200:], sent))

    def message(self, marker, extra=b""):
        return (b"From: tester@client.test\r\n"
                b"Subject: " + marker.encode() + b"\r\n"
                b"Message-ID: <" + marker.encode() + b"@client.test>\r\n"
                b"\r\n"
                b"Hello " + marker.encode() + b"\r\n" + extra)

    def send(self, rcpts, msg, sender="tester@client.test", service="smtp"):
        s = self.smtp(service)
        try:
            code, text = s.mail(sender)
            self.assertEqual(code, 250, text)
            for r in rcpts:
                code, text = s.rcpt(r)
                self.assertEqual(code, 250, (r, text))
            code, text = s.data(msg)
            self.assertEqual(code, 250, text)
            self.assertIn(b"queued as", text)
        finally:
            s.quit()


class DeliveryTests:
    """Delivery, address resolution, relay and AUTH: everything that
    asks the database; run on each driver."""

    def rcpt_code(self, rcpt, service="smtp"):
        s = self.smtp(service)
        try:
            s.mail("tester@client.test")
            return s.rcpt(rcpt)
        finally:
            s.quit()

    def test_mailbox(self):
        marker = uuid.uuid4().hex
        msg = self.message(marker)
        self.send([f"alice@{self.dom}"], msg)
        self.assert_body(self.wait_for(f"alice@{self.dom}", marker), msg)

    def test_alias_two_destinations(self):
        marker = uuid.uuid4().hex
        msg = self.message(marker)
        self.send([f"team@{self.dom}"], msg)
        for rcpt in (f"alice@{self.dom}", f"bob@{self.dom}"):
            self.assert_body(self.wait_for(rcpt, marker), msg)

    def test_catch_all(self):
        marker = uuid.uuid4().hex
        msg = self.message(marker)
        self.send([f"whoever-%s@{self.catch}" % marker[:8]], msg)
        self.assert_body(self.wait_for(f"dave@{self.catch}", marker), msg)

    def test_catch_all_does_not_hide_mailbox(self):
        # dave exists: his own mail is his, the catch-all's too, once.
        marker = uuid.uuid4().hex
        msg = self.message(marker)
        self.send([f"dave@{self.catch}", f"nobody@{self.catch}"], msg)
        self.assert_body(self.wait_for(f"dave@{self.catch}", marker), msg)
        time.sleep(0.5)
        n = 0
        for path in self.messages(f"dave@{self.catch}"):
            with open(path, "rb") as f:
                n += marker.encode() in f.read()
        self.assertEqual(n, 1)

    def test_alias_domain(self):
        marker = uuid.uuid4().hex
        msg = self.message(marker)
        self.send([f"carol@{self.alias}"], msg)
        self.assert_body(self.wait_for(f"carol@{self.dom}", marker), msg)

    def test_plus_address(self):
        marker = uuid.uuid4().hex
        msg = self.message(marker)
        self.send([f"bob+lists@{self.dom}"], msg)
        self.assert_body(self.wait_for(f"bob@{self.dom}", marker), msg)

    def test_case_insensitive(self):
        # Names are stored lower-case; every database must find them
        # whatever case the client used (collations differ).
        marker = uuid.uuid4().hex
        msg = self.message(marker)
        self.send(["Alice@" + self.dom.upper(), "TEAM@" + self.dom,
                   "Dave+X@" + self.catch.upper()], msg)
        self.assert_body(self.wait_for(f"alice@{self.dom}", marker), msg)
        self.assert_body(self.wait_for(f"bob@{self.dom}", marker), msg)
        self.assert_body(self.wait_for(f"dave@{self.catch}", marker), msg)

    def test_8bitmime_smtputf8(self):
        marker = uuid.uuid4().hex
        msg = self.message(marker, "Grüße, 日本語\r\n".encode())
        s = self.smtp()
        try:
            self.assertTrue(s.has_extn("8bitmime"))
            self.assertTrue(s.has_extn("smtputf8"))
            code, _ = s.mail("jörg@bücher.test",
                             ["BODY=8BITMIME", "SMTPUTF8"])
            self.assertEqual(code, 250)
            code, _ = s.rcpt(f"alice@{self.dom}")
            self.assertEqual(code, 250)
            code, text = s.rcpt(f"ünknown@{self.dom}")
            self.assertEqual(code, 550, text)
            code, text = s.data(msg)
            self.assertEqual(code, 250, text)
        finally:
            s.quit()
        self.assert_body(self.wait_for(f"alice@{self.dom}", marker), msg)

    def test_unknown_user(self):
        code, text = self.rcpt_code(f"nosuchuser@{self.dom}")
        self.assertEqual(code, 550)
        self.assertTrue(text.startswith(b"5.1.1"), text)

    def test_inactive_mailbox(self):
        code, text = self.rcpt_code(f"sleepy@{self.dom}")
        self.assertEqual(code, 550)

    def test_open_relay_refused(self):
        refused = {
            "victim@elsewhere.test": 554,
            # The tricks below must never relay: they are local parts of
            # a hosted domain (unknown users) or a foreign address.
            f"victim%elsewhere.test@{self.dom}": 550,
            f"elsewhere.test!victim@{self.dom}": 550,
            f'"victim@elsewhere.test"@{self.dom}': 550,
            f"@{self.dom}:victim@elsewhere.test": 554,
        }
        for rcpt, want in refused.items():
            s = self.smtp()
            try:
                s.mail("tester@client.test")
                if rcpt.startswith("@"):
                    s.putcmd("RCPT TO:<%s>" % rcpt)
                    code, text = s.getreply()
                else:
                    code, text = s.rcpt(rcpt)
                self.assertEqual(code, want, (rcpt, text))
                if want == 554:
                    self.assertTrue(text.startswith(b"5.7.1"), text)
                code, _ = s.docmd("DATA")
                self.assertGreaterEqual(code, 500, rcpt)
            finally:
                s.quit()

    def test_pipelining(self):
        marker = uuid.uuid4().hex
        msg = self.message(marker)
        r = Raw(self.ports["smtp"])
        self.assertEqual(r.greeting[0], 220)
        r.send(f"EHLO client.test\r\nMAIL FROM:<p@client.test>\r\n"
               f"RCPT TO:<alice@{self.dom}>\r\n"
               f"RCPT TO:<nobody@{self.dom}>\r\n"
               f"RCPT TO:<bob@{self.dom}>\r\nDATA\r\n".encode())
        codes = [r.reply()[0] for _ in range(6)]
        self.assertEqual(codes, [250, 250, 250, 550, 250, 354])
        r.send(msg + b".\r\nNOOP\r\nQUIT\r\n")
        code, text = r.reply()
        self.assertEqual(code, 250, text)
        self.assertEqual(r.reply()[0], 250)
        self.assertEqual(r.reply()[0], 221)
        r.close()
        self.assert_body(self.wait_for(f"alice@{self.dom}", marker), msg)
        self.assert_body(self.wait_for(f"bob@{self.dom}", marker), msg)

    def test_auth_submission(self):
        marker = uuid.uuid4().hex
        msg = self.message(marker)
        s = smtplib.SMTP("127.0.0.1", self.ports["submission"], timeout=15)
        try:
            s.ehlo("client.test")
            code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(
                f"\0alice@{self.dom}\0{PASSWORD}".encode()).decode())
            self.assertEqual(code, 503)  # not before TLS
            s.starttls(context=tls_context())
            s.ehlo("client.test")
            self.assertEqual(set(s.esmtp_features["auth"].split()),
                             {"PLAIN", "LOGIN"})
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                s.login(f"alice@{self.dom}", "wrong password")
            self.assertEqual(cm.exception.smtp_code, 535)
            s.user, s.password = f"alice@{self.dom}", PASSWORD
            code, text = s.auth("PLAIN", s.auth_plain)
            self.assertEqual(code, 235, text)
            code, _ = s.mail(f"alice@{self.dom}")
            self.assertEqual(code, 250)
            # Authenticated: relaying is allowed.
            self.assertEqual(s.rcpt("someone@elsewhere.test")[0], 250)
            self.assertEqual(s.rcpt(f"bob@{self.dom}")[0], 250)
            code, text = s.data(msg)
            self.assertEqual(code, 250, text)
        finally:
            s.quit()
        data = self.wait_for(f"bob@{self.dom}", marker)
        self.assert_body(data, msg)
        self.assertIn(b"with ESMTPSA", data)
        self.assertIn(b"(using TLSv1.", data)

    def test_auth_login_submissions(self):
        s = smtplib.SMTP_SSL("127.0.0.1", self.ports["submissions"],
                             timeout=15, context=tls_context())
        try:
            s.ehlo("client.test")
            s.user, s.password = f"bob@{self.dom}", PASSWORD
            code, text = s.auth("LOGIN", s.auth_login,
                                initial_response_ok=False)
            self.assertEqual(code, 235, text)
            self.assertEqual(s.mail(f"bob@{self.dom}")[0], 250)
        finally:
            s.quit()
        # The inactive mailbox never logs in; "*" aborts an exchange.
        r = Raw(self.ports["submissions"], tls=True)
        r.send(b"EHLO client.test\r\n")
        r.reply()
        r.send(b"AUTH LOGIN\r\n")
        self.assertEqual(r.reply()[0], 334)
        r.send(b"*\r\n")
        self.assertEqual(r.reply()[0], 501)
        r.send(b"AUTH PLAIN " + base64.b64encode(
            f"\0sleepy@{self.dom}\0{PASSWORD}".encode()) + b"\r\n")
        self.assertEqual(r.reply()[0], 535)
        r.send(b"AUTH PLAIN\r\n")
        self.assertEqual(r.reply(), (334, [""]))
        r.send(b"not base64!\r\n")
        self.assertEqual(r.reply()[0], 501)
        r.close()

    @unittest.skipUnless(shutil.which("swaks"), "swaks not installed")
    def test_swaks_submission(self):
        marker = uuid.uuid4().hex
        p = subprocess.run(
            ["swaks", "--server", "127.0.0.1:%d" % self.ports["submission"],
             "--ehlo", "client.test", "--tls", "--pipeline",
             "--auth", "LOGIN", "--auth-user", f"carol@{self.dom}",
             "--auth-password", PASSWORD, "--from", f"carol@{self.dom}",
             "--to", f"alice@{self.dom},bob@{self.dom}",
             "--header", "Subject: " + marker, "--body", "swaks " + marker],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("queued as", p.stdout)
        for rcpt in (f"alice@{self.dom}", f"bob@{self.dom}"):
            data = self.wait_for(rcpt, "swaks " + marker)
            self.assertIn(b"with ESMTPSA", data)


class ProtocolTests:
    """The SMTP protocol itself; the database plays no part."""

    def smuggle(self, terminator, marker):
        """Send a message that hides a second one behind terminator; the
        server must see one message only."""
        inner = (f"MAIL FROM:<spoof@client.test>\r\n"
                 f"RCPT TO:<carol@{self.dom}>\r\nDATA\r\n".encode() +
                 b"Subject: smuggled " + marker.encode() + b"\r\n\r\nevil\r\n")
        body = self.message(marker) + b"line" + terminator + inner
        r = Raw(self.ports["smtp"])
        r.send(b"EHLO client.test\r\n")
        r.reply()
        r.send(f"MAIL FROM:<t@client.test>\r\n"
               f"RCPT TO:<alice@{self.dom}>\r\nDATA\r\n".encode())
        self.assertEqual([r.reply()[0] for _ in range(3)], [250, 250, 354])
        r.send(body + b".\r\nQUIT\r\n")
        code, text = r.reply()
        self.assertEqual(code, 250, (terminator, text))
        self.assertEqual(r.reply()[0], 221, terminator)
        r.close()

    def test_large_message(self):
        # Several times the queue socket's high-water mark: the session
        # must pause for the queue and resume, losing nothing.
        marker = uuid.uuid4().hex
        lines = b"".join(b"%07d " % i + b"z" * 90 + b"\r\n"
                         for i in range(SIZE_LIMIT // 100 - 100))
        msg = self.message(marker, lines)
        self.assertLess(len(msg), SIZE_LIMIT)
        self.send([f"carol@{self.dom}"], msg)
        self.assert_body(self.wait_for(f"carol@{self.dom}", marker), msg)

    def test_dot_stuffing(self):
        marker = uuid.uuid4().hex
        extra = b".leading dot\r\n..two dots\r\n.\r\n.x\r\nend\r\n"
        msg = self.message(marker, extra)
        self.send([f"alice@{self.dom}"], msg)  # smtplib stuffs the dots
        self.assert_body(self.wait_for(f"alice@{self.dom}", marker), msg)

    def test_bdat(self):
        marker = uuid.uuid4().hex
        msg = self.message(marker, b"bare\nLF and a lone dot:\r\n.\r\n")
        r = Raw(self.ports["smtp"])
        r.send(b"EHLO client.test\r\n")
        self.assertEqual(r.reply()[0], 250)
        half = len(msg) // 2
        r.send(f"MAIL FROM:<a@client.test>\r\n"
               f"RCPT TO:<alice@{self.dom}>\r\n".encode()
               + b"BDAT %d\r\n" % half + msg[:half]
               + b"BDAT %d LAST\r\n" % (len(msg) - half) + msg[half:])
        self.assertEqual(r.reply()[0], 250)
        self.assertEqual(r.reply()[0], 250)
        self.assertEqual(r.reply()[0], 250)
        code, text = r.reply()
        self.assertEqual(code, 250, text)
        self.assertIn("queued as", text[0])
        r.close()
        self.assert_body(self.wait_for(f"alice@{self.dom}", marker), msg)

    def test_size_limit(self):
        s = self.smtp()
        try:
            self.assertEqual(int(s.esmtp_features["size"]), SIZE_LIMIT)
            code, text = s.mail("a@client.test",
                                ["SIZE=%d" % (SIZE_LIMIT + 1)])
            self.assertEqual(code, 552, text)
            s.rset()
            code, _ = s.mail("a@client.test")
            self.assertEqual(code, 250)
            self.assertEqual(s.rcpt(f"alice@{self.dom}")[0], 250)
            big = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * (
                SIZE_LIMIT // 1000 + 10)
            code, text = s.data(big)
            self.assertEqual(code, 552, text)
            # The session goes on.
            self.assertEqual(s.noop()[0], 250)
        finally:
            s.quit()

    def test_ehlo_features(self):
        s = self.smtp()
        try:
            for ext in ("pipelining", "size", "8bitmime",
                        "enhancedstatuscodes", "starttls", "smtputf8",
                        "chunking", "dsn"):
                self.assertTrue(s.has_extn(ext), ext)
            self.assertFalse(s.has_extn("auth"))
            code, _ = s.docmd("AUTH", "PLAIN AGFsaWNlAHg=")
            self.assertGreaterEqual(code, 500)
            s.starttls(context=tls_context())
            s.ehlo("client.test")
            self.assertFalse(s.has_extn("starttls"))
            self.assertEqual(s.docmd("VRFY", f"alice@{self.dom}")[0], 252)
            self.assertEqual(s.docmd("HELP")[0], 214)
        finally:
            s.quit()

    def test_starttls_injection(self):
        r = Raw(self.ports["smtp"])
        r.send(b"EHLO client.test\r\n")
        self.assertEqual(r.reply()[0], 250)
        # HELP pipelined in the same packet must never be executed.
        r.send(b"STARTTLS\r\nHELP\r\n")
        code, _ = r.reply()
        self.assertEqual(code, 220)
        r.sock = tls_context().wrap_socket(r.sock)
        r.send(b"NOOP\r\n")
        code, text = r.reply()
        self.assertEqual(code, 250, text)  # not HELP's 214
        # RFC 3207: the EHLO state was forgotten.
        r.send(b"MAIL FROM:<a@client.test>\r\n")
        self.assertEqual(r.reply()[0], 503)
        r.close()

    def test_submission_requires_tls_and_auth(self):
        s = smtplib.SMTP("127.0.0.1", self.ports["submission"], timeout=15)
        try:
            s.ehlo("client.test")
            self.assertFalse(s.has_extn("auth"))
            code, text = s.mail(f"alice@{self.dom}")
            self.assertEqual(code, 530, text)
            s.starttls(context=tls_context())
            s.ehlo("client.test")
            code, text = s.mail(f"alice@{self.dom}")
            self.assertEqual(code, 530, text)
            self.assertIn(b"Authentication required", text)
        finally:
            s.quit()

    def test_submissions_implicit_tls(self):
        s = smtplib.SMTP_SSL("127.0.0.1", self.ports["submissions"],
                             timeout=15, context=tls_context())
        try:
            s.ehlo("client.test")
            self.assertFalse(s.has_extn("starttls"))
            code, _ = s.mail(f"alice@{self.dom}")
            self.assertEqual(code, 530)
        finally:
            s.quit()

    def test_smuggling(self):
        before = len(self.messages(f"carol@{self.dom}"))
        for term in (b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n",
                     b"\r\n.\r", b"\r.\r"):
            marker = uuid.uuid4().hex
            self.smuggle(term, marker)
            data = self.wait_for(f"alice@{self.dom}", marker)
            # The would-be second message is content of the first.
            self.assertIn(b"smuggled " + marker.encode(), data)
        time.sleep(0.5)
        self.assertEqual(len(self.messages(f"carol@{self.dom}")), before)

    def test_client_connection_limit(self):
        conns = [Raw(self.ports["smtp"]) for _ in range(CONN_LIMIT)]
        try:
            self.assertTrue(all(c.greeting[0] == 220 for c in conns))
            extra = Raw(self.ports["smtp"])
            self.assertEqual(extra.greeting[0], 421)
            self.assertIn("too many connections", extra.greeting[1][0])
            extra.close()
        finally:
            for c in conns:
                c.close()
        # The server hears the closes asynchronously: a slot is free
        # again once it has (a loaded machine may take more than a
        # moment), then a new client is welcome.
        deadline = time.time() + 15
        while True:
            again = Raw(self.ports["smtp"])
            again.close()
            if again.greeting[0] == 220 or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(again.greeting[0], 220, again.greeting)

    def test_errors_and_quit(self):
        r = Raw(self.ports["smtp"])
        r.send(b"DATA\r\n")
        self.assertEqual(r.reply()[0], 503)
        r.send(b"BOGUS\r\n")
        self.assertEqual(r.reply()[0], 502)
        r.send(b"MAIL FROM:<a@b.test>\r\n")
        self.assertEqual(r.reply()[0], 503)
        r.send(f"HELO client.test\r\nRCPT TO:<alice@{self.dom}>\r\n".encode())
        self.assertEqual(r.reply()[0], 250)
        self.assertEqual(r.reply()[0], 503)
        r.send(b"X" * 20000 + b"\r\nNOOP\r\n")
        self.assertEqual(r.reply()[0], 500)
        self.assertEqual(r.reply()[0], 250)
        r.send(b"QUIT\r\n")
        self.assertEqual(r.reply()[0], 221)
        r.close()


class SmtpTest(DeliveryTests, ProtocolTests, SmtpBase):
    """Everything on the embedded SQLite database."""

    DRIVER = "sqlite"


class SmtpPgsqlTest(DeliveryTests, SmtpBase):
    """Delivery and resolution on PostgreSQL (PG_* of dbservers.sh)."""

    DRIVER = "pgsql"


class SmtpMysqlTest(DeliveryTests, SmtpBase):
    """Delivery and resolution on MariaDB (MYSQL_* of dbservers.sh)."""

    DRIVER = "mysql"


class DatabaseDownTest(SiteTestCase):
    """The SQL server is unreachable: recipients get 451 4.3.0 (retry),
    never 550 (which would bounce good mail)."""

    @classmethod
    def set_up_site(cls):
        cls.start_db_down_site(
            "postern-smtp-db.", "smtp_port",
            "smtp inet $inet_interfaces:$smtp_port starttls 1 postern-smtpd",
            "mynetworks=192.0.2.0/24")

    def test_lookup_failure_is_temporary(self):
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        try:
            s.ehlo("client.test")
            self.assertEqual(s.mail("a@client.test")[0], 250)
            code, text = s.rcpt("alice@example.com")
            self.assertEqual(code, 451, text)
            self.assertTrue(text.startswith(b"4.3.0"), text)
            # The session goes on: the next lookup is tried again.
            code, _ = s.rcpt("bob@example.com")
            self.assertEqual(code, 451)
        finally:
            s.quit()


if __name__ == "__main__":
    unittest.main(verbosity=2)
