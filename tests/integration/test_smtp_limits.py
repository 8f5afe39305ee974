#!/usr/bin/env python3
"""postern-smtpd limits and error handling, Postfix style, black box.

`postern -c DIR init`, free loopback ports, a services table with smtp,
queue and lmtp-unix, `postern start`; every limit is then set with
`postern config set` + `postern reload`, and each test waits until the
daemon answers with the new settings (the reload also changes
smtpd_banner to a new generation string, and the test polls the greeting
for it) before it goes on.  Checked, with raw sockets so that codes,
enhanced codes and timing are exact:

  smtpd_recipient_limit     452 4.5.3 past it, the others still delivered
  message_size_limit        552 5.3.4 at MAIL with SIZE=, after DATA and
                            after BDAT without it; the session goes on
  command line length       2048 octets accepted, more: 500 5.5.2, and
                            the server finds the next command again
  smtpd_hard_error_limit    421 4.7.0 and disconnect after N errors
                            (bad commands or unknown recipients)
  smtpd_soft_error_limit    error replies past it wait
  smtpd_error_sleep_time    ... that long, without stalling other clients
  smtpd_timeout             421 4.4.2 and disconnect after 2s idle
  sequence                  503 5.5.1 (MAIL before EHLO, nested MAIL,
                            RCPT before MAIL, DATA before MAIL), 554
                            5.5.1 DATA without a valid RCPT, BDAT mixed
                            with DATA, a refused BDAT chunk is not read
                            as commands
  null sender <>            accepted and delivered with Return-Path: <>
  unknown ESMTP parameter   555 5.5.4 at MAIL and RCPT
  mailbox quota             452 4.2.2 at RCPT for a full mailbox (552
                            5.2.2 with quota_exceeded_permanent = yes)
                            and when SIZE= would overflow it; an alias
                            is refused only when all its mailboxes are
                            full, else the full ones are left out
  NOOP RSET VRFY HELP       250 250 252 214, with their syntax errors

SQLite only: nothing here depends on the database (test_smtp.py runs the
delivery tests on each one).  Programs come from $POSTERN_BUILD_DIR
(default ./build).  Python 3 standard library only.
"""
import glob
import os
import secrets
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (RawSocket, SiteTestCase,  # noqa: E402
                          run_postern)

SERVICES = """\
# written by test_smtp_limits.py
smtp         inet  $inet_interfaces:$smtp_port            starttls  1  postern-smtpd
lmtp-unix    unix  $lmtp_socket                           none      1  postern-lmtpd
queue        unix  $queue_socket                          none      1  postern-queued
"""

# What every test starts from; a test names only what it changes.
BASE = {
    "smtpd_recipient_limit": "3",
    "message_size_limit": "20000",
    "smtpd_soft_error_limit": "100",
    "smtpd_hard_error_limit": "200",
    "smtpd_error_sleep_time": "1s",
    "smtpd_timeout": "300s",
    "quota_exceeded_permanent": "no",
}
SIZE = int(BASE["message_size_limit"])
LINE_MAX = 2048  # Postfix's line_length_limit, without the CRLF


class Raw(RawSocket):
    """A plain socket speaking SMTP byte for byte."""

    EOL = b"\n"

    def __init__(self, port, timeout=15):
        super().__init__(port, timeout=timeout)
        self.greeting = self.reply()

    def reply(self):
        """(code, text of the last line) of one possibly multi-line
        reply; the text starts with the enhanced code when there is
        one."""
        while True:
            line = self.line()
            if line[3:4] != b"-":
                return int(line[:3]), line[4:].decode("utf-8", "replace")

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True when the server closes the connection (EOF) in time
        without sending anything more."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        return data == b"" and self.buf == b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class SmtpLimitsTest(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-smtp-limits.")
        settings = cls.pick_ports()
        cls.port = cls.ports["smtp"]
        run_postern(cls.dir, "config", "set", *settings,
                    "mynetworks=192.0.2.0/24", "myhostname=mx.test",
                    "stop_timeout=5s")
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        cls.dom = "limits-%s.test" % secrets.token_hex(4)
        run_postern(cls.dir, "domain", "add", cls.dom)
        for user in ("alice", "bob", "carol", "dave"):
            run_postern(cls.dir, "mailbox", "add", "%s@%s" % (user, cls.dom),
                        "--password-stdin", stdin="pw\n")
        cls.generation = 0
        cls.current = {}
        run_postern(cls.dir, "start")
        cls.started = True

    # ---- helpers

    def configure(self, **changes):
        """BASE with changes in force: `postern config set` and `postern
        reload`, then wait until a new connection gets the new banner
        (the reload reaches smtpd asynchronously)."""
        want = dict(BASE, **{k: str(v) for k, v in changes.items()})
        cls = type(self)
        if want == cls.current:
            return
        cls.generation += 1
        banner = "mx.test ESMTP limits-gen-%d" % cls.generation
        run_postern(self.dir, "config", "set",
                    *["%s=%s" % kv for kv in want.items()],
                    "smtpd_banner=" + banner)
        run_postern(self.dir, "reload")
        deadline = time.time() + 15
        while True:
            try:
                r = Raw(self.port)
                greeting = r.greeting
                r.cmd("QUIT")
                r.close()
                if greeting == (220, banner):
                    break
            except (OSError, EOFError):
                greeting = None
            if time.time() > deadline:
                self.fail("reload not applied: greeting %r, want %r\n%s" %
                          (greeting, banner, self.log_tail()))
            time.sleep(0.1)
        cls.current = want

    def connect(self, ehlo=True, timeout=15):
        r = Raw(self.port, timeout=timeout)
        self.addCleanup(r.close)
        self.assertEqual(r.greeting[0], 220, r.greeting)
        if ehlo:
            self.assertEqual(r.cmd("EHLO client.test")[0], 250)
        return r

    def assertReply(self, reply, code, enhanced):
        self.assertEqual(reply[0], code, reply)
        self.assertTrue(reply[1].startswith(enhanced + " "), reply)

    def addr(self, user):
        return "%s@%s" % (user, self.dom)

    def messages(self, user):
        return sorted(glob.glob(os.path.join(self.dir, "mail", self.dom,
                                             user, "new", "*")))

    def find(self, user, marker, timeout=20):
        """Delivered messages of user containing marker, waiting up to
        timeout for the first one."""
        deadline = time.time() + timeout
        while True:
            found = []
            for path in self.messages(user):
                with open(path, "rb") as f:
                    data = f.read()
                if marker.encode() in data:
                    found.append(data)
            if found or time.time() > deadline:
                return found
            time.sleep(0.1)

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.dir, "log", "postern.log"),
                      errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def message(self, marker, body=b"Hello.\r\n"):
        return (b"From: tester@client.test\r\n"
                b"Subject: " + marker.encode() + b"\r\n"
                b"Message-ID: <" + marker.encode() + b"@client.test>\r\n"
                b"\r\n" + body)

    def timed(self, r, line):
        t0 = time.monotonic()
        reply = r.cmd(line)
        return reply, time.monotonic() - t0

    # ---- smtpd_recipient_limit

    def test_recipient_limit(self):
        self.configure()
        marker = secrets.token_hex(8)
        r = self.connect()
        self.assertReply(r.cmd("MAIL FROM:<s@client.test>"), 250, "2.1.0")
        for user in ("alice", "bob", "carol"):
            self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr(user)),
                             250, "2.1.5")
        # Postfix: 452 (try the rest later), not 5xx.
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("dave")),
                         452, "4.5.3")
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("dave")),
                         452, "4.5.3")
        self.assertEqual(r.cmd("DATA")[0], 354)
        r.send(self.message(marker) + b".\r\n")
        self.assertReply(r.reply(), 250, "2.0.0")
        # A new transaction gets a fresh count.
        self.assertReply(r.cmd("MAIL FROM:<s@client.test>"), 250, "2.1.0")
        for user in ("dave", "alice", "bob"):
            self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr(user)),
                             250, "2.1.5")
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("carol")),
                         452, "4.5.3")
        self.assertReply(r.cmd("RSET"), 250, "2.0.0")
        self.assertEqual(r.cmd("QUIT")[0], 221)
        for user in ("alice", "bob", "carol"):
            self.assertEqual(len(self.find(user, marker)), 1, user)
        self.assertEqual(self.find("dave", marker, timeout=0.5), [])

    def test_recipient_limit_reload(self):
        self.configure(smtpd_recipient_limit=1)
        r = self.connect()
        r.cmd("MAIL FROM:<s@client.test>")
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("alice")),
                         250, "2.1.5")
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("bob")),
                         452, "4.5.3")

    # ---- message_size_limit

    def test_size_parameter(self):
        self.configure()
        r = self.connect()
        r.send(b"EHLO client.test\r\n")
        lines = []
        while True:
            line = r.line()
            lines.append(line)
            if line[3:4] != b"-":
                break
        self.assertIn(b"250-SIZE %d" % SIZE, lines)
        self.assertReply(r.cmd("MAIL FROM:<s@client.test> SIZE=%d" %
                               (SIZE + 1)), 552, "5.3.4")
        # Refused MAIL: no transaction.
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("alice")),
                         503, "5.5.1")
        self.assertReply(r.cmd("MAIL FROM:<s@client.test> SIZE=%d" % SIZE),
                         250, "2.1.0")
        self.assertReply(r.cmd("RSET"), 250, "2.0.0")
        self.assertReply(r.cmd("MAIL FROM:<s@client.test> SIZE=1"),
                         250, "2.1.0")

    def test_size_after_data(self):
        self.configure()
        marker = secrets.token_hex(8)
        r = self.connect()
        r.cmd("MAIL FROM:<s@client.test>")
        self.assertEqual(r.cmd("RCPT TO:<%s>" % self.addr("alice"))[0], 250)
        self.assertEqual(r.cmd("DATA")[0], 354)
        big = self.message(marker, (b"y" * 78 + b"\r\n") * (SIZE // 80 + 20))
        self.assertGreater(len(big), SIZE)
        r.send(big + b".\r\n")
        self.assertReply(r.reply(), 552, "5.3.4")
        # The transaction is over, the session is not.
        self.assertReply(r.cmd("NOOP"), 250, "2.0.0")
        self.assertReply(r.cmd("DATA"), 503, "5.5.1")
        # Under the limit, the same session delivers.
        r.cmd("MAIL FROM:<s@client.test>")
        r.cmd("RCPT TO:<%s>" % self.addr("alice"))
        self.assertEqual(r.cmd("DATA")[0], 354)
        small = self.message(marker + "-small", b"z" * (SIZE // 2) + b"\r\n")
        r.send(small + b".\r\n")
        self.assertReply(r.reply(), 250, "2.0.0")
        r.cmd("QUIT")
        self.assertEqual(len(self.find("alice", marker + "-small")), 1)
        got = [m for m in self.find("alice", marker, timeout=0.5)
               if (marker + "-small").encode() not in m]
        self.assertEqual(got, [], "the refused message was delivered")

    def test_size_after_bdat(self):
        self.configure()
        r = self.connect()
        r.cmd("MAIL FROM:<s@client.test>")
        self.assertEqual(r.cmd("RCPT TO:<%s>" % self.addr("alice"))[0], 250)
        chunk = b"x" * (SIZE // 2 + 10)
        r.send(b"BDAT %d\r\n" % len(chunk) + chunk)
        self.assertEqual(r.reply()[0], 250)
        # The chunk that crosses the limit is read to its end all the
        # same: its octets must not be taken for commands.
        chunk = b"NOOP\r\n" * ((SIZE // 2 + 10) // 6)
        r.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        self.assertReply(r.reply(), 552, "5.3.4")
        # HELP's 214, not a NOOP's 250, answers next.
        self.assertEqual(r.cmd("HELP")[0], 214)
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("alice")),
                         503, "5.5.1")
        self.assertEqual(r.cmd("QUIT")[0], 221)

    # ---- command line length

    def test_line_too_long(self):
        self.configure()
        r = self.connect()
        # 2048 octets without the CRLF: still a command.
        line = "NOOP " + "x" * (LINE_MAX - 5)
        self.assertEqual(len(line), LINE_MAX)
        self.assertReply(r.cmd(line), 250, "2.0.0")
        self.assertReply(r.cmd(line + "x"), 500, "5.5.2")
        # A huge line, written in pieces: one 500, then the next command.
        r.send(b"MAIL FROM:<" + b"a" * 50000)
        time.sleep(0.2)
        r.send(b"b" * 50000 + b"@client.test>\r\nNOOP\r\n")
        self.assertReply(r.reply(), 500, "5.5.2")
        self.assertReply(r.reply(), 250, "2.0.0")
        # Nothing of the long line was taken for a MAIL command.
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("alice")),
                         503, "5.5.1")
        self.assertEqual(r.cmd("QUIT")[0], 221)

    # ---- smtpd_hard_error_limit

    def test_hard_error_limit(self):
        self.configure(smtpd_hard_error_limit=4)
        r = self.connect()
        for _ in range(3):
            self.assertReply(r.cmd("BOGUS"), 502, "5.5.2")
        self.assertReply(r.cmd("BOGUS"), 502, "5.5.2")
        self.assertReply(r.reply(), 421, "4.7.0")
        self.assertTrue(r.closed(), "still connected after 421")
        # Counted per session: the next one starts from zero.
        r = self.connect()
        self.assertReply(r.cmd("BOGUS"), 502, "5.5.2")
        self.assertReply(r.cmd("NOOP"), 250, "2.0.0")
        self.assertIn("too many errors", self.log_tail(200))

    def test_hard_error_limit_unknown_recipients(self):
        # A dictionary attack: refused recipients are errors too.
        self.configure(smtpd_hard_error_limit=3)
        r = self.connect()
        r.cmd("MAIL FROM:<s@client.test>")
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("alice")),
                         250, "2.1.5")
        for i in range(2):
            self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("no%d" % i)),
                             550, "5.1.1")
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("no9")),
                         550, "5.1.1")
        self.assertReply(r.reply(), 421, "4.7.0")
        self.assertTrue(r.closed(), "still connected after 421")

    # As Postfix's smtpd.c, errors are forgiven once a message is queued,
    # so a client that delivers is never cut off by errors spread over a
    # long session (a list server with a few stale addresses per message).
    def test_errors_forgiven_after_delivery(self):
        self.configure(smtpd_hard_error_limit=3)
        r = self.connect()
        for i in range(3):
            r.cmd("MAIL FROM:<s@client.test>")
            self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("alice")),
                             250, "2.1.5")
            # Two refused recipients per message: 2 < 3 each time.
            for j in range(2):
                self.assertReply(r.cmd("RCPT TO:<%s>" %
                                       self.addr("gone%d" % j)),
                                 550, "5.1.1")
            self.assertEqual(r.cmd("DATA")[0], 354)
            r.send(self.message("forgive-%d" % i) + b".\r\n")
            self.assertReply(r.reply(), 250, "2.0.0")
        self.assertReply(r.cmd("QUIT"), 221, "2.0.0")

    # ---- smtpd_soft_error_limit + smtpd_error_sleep_time

    def test_soft_error_limit_delays(self):
        self.configure(smtpd_soft_error_limit=2, smtpd_error_sleep_time="1s")
        r = self.connect()
        for _ in range(2):  # up to the limit: at once
            reply, took = self.timed(r, "BOGUS")
            self.assertReply(reply, 502, "5.5.2")
            self.assertLess(took, 0.5)
        for _ in range(2):  # past it: each error reply waits 1s
            reply, took = self.timed(r, "BOGUS")
            self.assertReply(reply, 502, "5.5.2")
            self.assertGreaterEqual(took, 0.9)
            self.assertLess(took, 3)
        # The tarpit is per session and does not stall the process:
        # another client is answered while this one waits.
        r.send(b"BOGUS\r\n")
        t0 = time.monotonic()
        other = self.connect()
        self.assertReply(other.cmd("BOGUS"), 502, "5.5.2")
        self.assertReply(other.cmd("NOOP"), 250, "2.0.0")
        self.assertLess(time.monotonic() - t0, 0.7)
        self.assertReply(r.reply(), 502, "5.5.2")
        self.assertGreaterEqual(time.monotonic() - t0, 0.8)

    def test_error_sleep_time(self):
        self.configure(smtpd_soft_error_limit=0, smtpd_error_sleep_time="2s")
        r = self.connect()
        reply, took = self.timed(r, "RCPT TO:<%s>" % self.addr("alice"))
        self.assertReply(reply, 503, "5.5.1")
        self.assertGreaterEqual(took, 1.9)
        self.assertLess(took, 4)
        # Pipelined errors wait one after the other, in order.
        t0 = time.monotonic()
        r.send(b"BOGUS\r\nDATA\r\n")
        self.assertReply(r.reply(), 502, "5.5.2")
        self.assertReply(r.reply(), 503, "5.5.1")
        self.assertGreaterEqual(time.monotonic() - t0, 3.8)

    # ---- smtpd_timeout

    def test_idle_timeout(self):
        self.configure(smtpd_timeout="2s")
        r = self.connect(timeout=10)
        t0 = time.monotonic()
        reply = r.reply()
        took = time.monotonic() - t0
        self.assertEqual(reply[0], 421, reply)
        self.assertTrue(reply[1].startswith("4.4.2 mx.test"), reply)
        self.assertGreaterEqual(took, 1.5)
        self.assertLess(took, 5)
        self.assertTrue(r.closed(), "still connected after the timeout")
        # Activity restarts the clock: 3 x 1.2s busy > 2s is fine.
        r = self.connect(timeout=10)
        for _ in range(3):
            time.sleep(1.2)
            self.assertReply(r.cmd("NOOP"), 250, "2.0.0")
        # A slow message is still a session that talks.
        r.cmd("MAIL FROM:<s@client.test>")
        r.cmd("RCPT TO:<%s>" % self.addr("alice"))
        self.assertEqual(r.cmd("DATA")[0], 354)
        r.send(self.message("slow"))
        t0 = time.monotonic()
        reply = r.reply()  # idle in DATA: timed out as well
        self.assertEqual(reply[0], 421, reply)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("timeout", self.log_tail(200))

    # ---- sequence

    def test_out_of_sequence(self):
        self.configure()
        r = self.connect(ehlo=False)
        self.assertReply(r.cmd("MAIL FROM:<s@client.test>"), 503, "5.5.1")
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("alice")),
                         503, "5.5.1")
        self.assertReply(r.cmd("DATA"), 503, "5.5.1")
        self.assertEqual(r.cmd("EHLO client.test")[0], 250)
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("alice")),
                         503, "5.5.1")
        self.assertReply(r.cmd("DATA"), 503, "5.5.1")
        self.assertReply(r.cmd("MAIL FROM:<s@client.test>"), 250, "2.1.0")
        self.assertReply(r.cmd("MAIL FROM:<s@client.test>"), 503, "5.5.1")
        # DATA in a transaction without a valid recipient: Postfix's
        # 554 5.5.1 "no valid recipients".
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("nobody")),
                         550, "5.1.1")
        self.assertReply(r.cmd("DATA"), 554, "5.5.1")
        # The transaction is still open and goes on.
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("alice")),
                         250, "2.1.5")
        self.assertEqual(r.cmd("DATA")[0], 354)
        r.send(self.message("seq") + b".\r\n")
        self.assertReply(r.reply(), 250, "2.0.0")
        # After the message: a new MAIL is needed again.
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("alice")),
                         503, "5.5.1")
        self.assertEqual(r.cmd("QUIT")[0], 221)

    def test_bdat_mixed_with_data(self):
        self.configure()
        marker = secrets.token_hex(8)
        msg = self.message(marker)
        half = len(msg) // 2
        r = self.connect()
        r.cmd("MAIL FROM:<s@client.test>")
        self.assertEqual(r.cmd("RCPT TO:<%s>" % self.addr("bob"))[0], 250)
        r.send(b"BDAT %d\r\n" % half + msg[:half])
        self.assertReply(r.reply(), 250, "2.0.0")
        # RFC 3030: no DATA and no more RCPT once chunks flow.
        self.assertReply(r.cmd("DATA"), 503, "5.5.1")
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("alice")),
                         503, "5.5.1")
        r.send(b"BDAT %d LAST\r\n" % (len(msg) - half) + msg[half:])
        reply = r.reply()
        self.assertReply(reply, 250, "2.0.0")
        self.assertIn("queued as", reply[1])
        self.assertEqual(r.cmd("QUIT")[0], 221)
        got = self.find("bob", marker)
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].replace(b"\r\n", b"\n").endswith(
            msg.replace(b"\r\n", b"\n")), got[0][-300:])
        self.assertEqual(self.find("alice", marker, timeout=0.5), [])

    def test_refused_bdat_chunk_is_not_commands(self):
        self.configure()
        r = self.connect()
        # BDAT without a transaction: refused, and the chunk is read
        # and dropped; a command hidden in it gets no answer.
        chunk = b"HELP\r\nHELP\r\n"
        r.send(b"BDAT %d\r\n" % len(chunk) + chunk + b"NOOP\r\n")
        self.assertReply(r.reply(), 503, "5.5.1")
        self.assertReply(r.reply(), 250, "2.0.0")  # NOOP, not HELP's 214
        r.send(b"MAIL FROM:<s@client.test>\r\n")
        self.assertReply(r.reply(), 250, "2.1.0")
        # Only a refused recipient: BDAT is refused the same way.
        r.cmd("RCPT TO:<%s>" % self.addr("nobody"))
        r.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk + b"NOOP\r\n")
        self.assertEqual(r.reply()[0] // 100, 5)
        self.assertReply(r.reply(), 250, "2.0.0")
        self.assertEqual(r.cmd("QUIT")[0], 221)

    # ---- null sender, parameters

    def test_null_sender(self):
        self.configure()
        marker = secrets.token_hex(8)
        r = self.connect()
        self.assertReply(r.cmd("MAIL FROM:<>"), 250, "2.1.0")
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("carol")),
                         250, "2.1.5")
        self.assertEqual(r.cmd("DATA")[0], 354)
        r.send(self.message(marker, b"A bounce.\r\n") + b".\r\n")
        self.assertReply(r.reply(), 250, "2.0.0")
        self.assertEqual(r.cmd("QUIT")[0], 221)
        got = self.find("carol", marker)
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].startswith(b"Return-Path: <>"), got[0][:200])

    def test_unknown_esmtp_parameter(self):
        self.configure()
        r = self.connect()
        self.assertReply(r.cmd("MAIL FROM:<s@client.test> FOO=bar"),
                         555, "5.5.4")
        self.assertReply(r.cmd("MAIL FROM:<s@client.test> XYZZY"),
                         555, "5.5.4")
        self.assertReply(r.cmd("MAIL FROM:<s@client.test> BODY=8BITMIME"),
                         250, "2.1.0")
        self.assertReply(r.cmd("RCPT TO:<%s> FOO=bar" % self.addr("alice")),
                         555, "5.5.4")
        self.assertReply(r.cmd("RCPT TO:<%s> NOTIFY=NEVER" %
                               self.addr("alice")), 250, "2.1.5")
        self.assertReply(r.cmd("RSET"), 250, "2.0.0")
        # A known parameter of an extension not offered here: AUTH=
        # (no AUTH before TLS) is as unknown as FOO=.
        self.assertReply(r.cmd("MAIL FROM:<s@client.test> AUTH=<>"),
                         555, "5.5.4")
        # Postfix takes parameters after HELO as well.
        self.assertEqual(r.cmd("HELO client.test")[0], 250)
        self.assertReply(r.cmd("MAIL FROM:<s@client.test> SIZE=100"),
                         250, "2.1.0")

    # ---- mailbox quota (CONTRACT: 452 4.2.2 at RCPT, nothing delivered)

    def quota_mailbox(self, quota, fill=0):
        """A new mailbox with quota bytes, holding fill bytes already: a
        Maildir file as a delivery made before the quota was lowered
        would have left (lmtpd never stores a message over the quota
        itself, so SMTP cannot fill it past it)."""
        user = "q%s" % secrets.token_hex(4)
        run_postern(self.dir, "mailbox", "add", self.addr(user),
                    "--password-stdin", "--quota", str(quota), stdin="pw\n")
        if fill:
            root = os.path.join(self.dir, "mail", self.dom, user)
            for sub in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(root, sub), exist_ok=True)
            name = "1700000000.M1P1.test,S=%d,W=%d" % (fill, fill)
            with open(os.path.join(root, "new", name), "wb") as f:
                f.write(b"Subject: old\n\n" + b"x" * (fill - 15) + b"\n")
        return user

    def test_quota_full_mailbox(self):
        self.configure()
        full = self.quota_mailbox(1000, fill=2048)
        before = self.messages(full)
        self.assertEqual(len(before), 1)
        r = self.connect()
        self.assertReply(r.cmd("MAIL FROM:<s@client.test>"), 250, "2.1.0")
        code, text = r.cmd("RCPT TO:<%s>" % self.addr(full))
        self.assertReply((code, text), 452, "4.2.2")
        self.assertIn("Mailbox full", text)
        # The transaction goes on for the others.
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("alice")),
                         250, "2.1.5")
        self.assertReply(r.cmd("RSET"), 250, "2.0.0")
        # An alias: refused only when every mailbox is full...
        other = self.quota_mailbox(1000, fill=1000)
        both_full = "qa%s" % secrets.token_hex(4)
        run_postern(self.dir, "alias", "add", self.addr(both_full),
                    "%s,%s" % (self.addr(full), self.addr(other)))
        half_full = "qb%s" % secrets.token_hex(4)
        run_postern(self.dir, "alias", "add", self.addr(half_full),
                    "%s,%s" % (self.addr(full), self.addr("bob")))
        r.cmd("MAIL FROM:<s@client.test>")
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr(both_full)),
                         452, "4.2.2")
        # ... else the full one is left out and the rest delivered.
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr(half_full)),
                         250, "2.1.5")
        marker = secrets.token_hex(8)
        self.assertEqual(r.cmd("DATA")[0], 354)
        r.send(self.message(marker) + b".\r\n")
        self.assertReply(r.reply(), 250, "2.0.0")
        self.assertEqual(len(self.find("bob", marker)), 1)
        # Permanent when configured (a reload applies it).
        self.configure(quota_exceeded_permanent="yes")
        r = self.connect()
        r.cmd("MAIL FROM:<s@client.test>")
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr(full)),
                         552, "5.2.2")
        self.assertReply(r.cmd("QUIT"), 221, "2.0.0")
        time.sleep(0.5)
        self.assertEqual(self.messages(full), before)
        self.assertEqual(len(self.messages(other)), 1)

    def test_quota_size_parameter(self):
        self.configure()
        user = self.quota_mailbox(1000)
        r = self.connect()
        self.assertReply(r.cmd("MAIL FROM:<s@client.test> SIZE=5000"),
                         250, "2.1.0")
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr(user)),
                         452, "4.2.2")
        # Under the quota: accepted (the usage is 0, the limit not met).
        r.cmd("RSET")
        self.assertReply(r.cmd("MAIL FROM:<s@client.test> SIZE=500"),
                         250, "2.1.0")
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr(user)),
                         250, "2.1.5")
        self.assertReply(r.cmd("QUIT"), 221, "2.0.0")
        time.sleep(0.5)
        self.assertEqual(self.messages(user), [])

    # ---- NOOP RSET VRFY HELP

    def test_noop_rset_vrfy_help(self):
        self.configure()
        r = self.connect(ehlo=False)
        self.assertReply(r.cmd("NOOP"), 250, "2.0.0")
        self.assertReply(r.cmd("NOOP anything at all"), 250, "2.0.0")
        self.assertReply(r.cmd("RSET"), 250, "2.0.0")
        self.assertEqual(r.cmd("EHLO client.test")[0], 250)
        r.cmd("MAIL FROM:<s@client.test>")
        self.assertReply(r.cmd("RSET"), 250, "2.0.0")
        # RSET ended the transaction.
        self.assertReply(r.cmd("RCPT TO:<%s>" % self.addr("alice")),
                         503, "5.5.1")
        self.assertReply(r.cmd("RSET now"), 501, "5.5.4")
        # VRFY neither confirms nor denies (RFC 5321 3.5.3).
        self.assertReply(r.cmd("VRFY %s" % self.addr("alice")), 252, "2.0.0")
        self.assertReply(r.cmd("VRFY %s" % self.addr("nobody")),
                         252, "2.0.0")
        self.assertReply(r.cmd("VRFY"), 501, "5.5.4")
        code, text = r.cmd("HELP")
        self.assertEqual(code, 214)
        for verb in ("EHLO", "MAIL", "RCPT", "DATA", "BDAT", "QUIT"):
            self.assertIn(verb, text)
        self.assertEqual(r.cmd("help me")[0], 214)
        self.assertEqual(r.cmd("EXPN staff")[0], 502)
        self.assertReply(r.cmd("QUIT"), 221, "2.0.0")
        self.assertTrue(r.closed())


if __name__ == "__main__":
    unittest.main(verbosity=2)
