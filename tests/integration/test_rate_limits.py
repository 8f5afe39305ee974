#!/usr/bin/env python3
"""Rate limits of postern-smtpd, black box (issue 8, docs/ratelimits.md).

ClientLimitsTest: the per-client limits of Postfix's anvil, each set with
`postern config set` + `postern reload` and anvil_rate_time_unit = 2s:

  smtpd_client_connection_count_limit     421 4.7.0 at connect
  smtpd_client_connection_rate_limit      421 4.7.0 at connect
  smtpd_client_message_rate_limit         450 4.7.1 at MAIL
  smtpd_client_recipient_rate_limit       450 4.7.1 at RCPT
  smtpd_client_auth_rate_limit            450 4.7.1 at AUTH
  smtpd_client_new_tls_session_rate_limit 421 4.7.0 at STARTTLS

each with Postfix's log line ("warning: ... limit exceeded: N from
unknown[127.0.0.1] for service smtp"), each lifted once the time unit
has passed, and none applied to smtpd_client_event_limit_exceptions.
The reload is confirmed by polling the banner from another loopback
address each time (127.0.0.x: rates are per client address, so the
polls do not count against the client under test).

UserLimitsTest (SQLite; again on PostgreSQL and MariaDB when dbservers.sh
runs): the per-mailbox daily limits over SMTP AUTH on submission, with
user_daily_message_limit = 3 and user_daily_new_recipient_limit = 2:
messages past the limit and first-time recipients past the limit get
450 4.7.1 (a known recipient still passes), a mailbox or domain override
set over the admin API takes effect, and the next UTC day starts afresh
(the daemons restarted with POSTERN_TEST_CLOCK_OFFSET=86400, the test
clock of lib/provision/prov_limits.c).  The webmail's sends (POST
/api/send) draw on the same budget: 429 rate_limited past it, and SMTP is
refused after webmail sends and the other way round.  On SQLite, a broken
counter table gives 451 4.3.0.
"""
import base64
import os
import re
import secrets
import smtplib
import socket
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adminapi import Api  # noqa: E402
from postern_site import (BUILD, POSTERN, DriverSite,  # noqa: E402
                          RawSocket, SiteTestCase, run_postern, tls_context,
                          wait_past_utc_midnight)
# The browser of test_webmail_api.py: one cookie, the CSRF token.
from test_webmail_api import Client  # noqa: E402

UNIT = 2  # anvil_rate_time_unit in seconds
V1 = "/api/v1"
PASSWORD = "correct horse battery"

SERVICES = """\
# written by test_rate_limits.py
smtp         inet  $inet_interfaces:$smtp_port            starttls  1  postern-smtpd
submission   inet  $inet_interfaces:$submission_port      starttls  1  postern-smtpd
lmtp-unix    unix  $lmtp_socket                           none      1  postern-lmtpd
queue        unix  $queue_socket                          none      1  postern-queued
admin-api    inet  $admin_api_interfaces:$admin_api_port  none      1  postern-admin-api
webmail      inet  $inet_interfaces:$webmail_port         none      1  postern-webmail
"""

# Every client limit off; a test names the one it sets.
BASE = {
    "anvil_rate_time_unit": "%ds" % UNIT,
    "smtpd_client_connection_count_limit": "0",
    "smtpd_client_connection_rate_limit": "0",
    "smtpd_client_message_rate_limit": "0",
    "smtpd_client_recipient_rate_limit": "0",
    "smtpd_client_auth_rate_limit": "0",
    "smtpd_client_new_tls_session_rate_limit": "0",
    "smtpd_client_event_limit_exceptions": "$mynetworks",
}


class Raw(RawSocket):
    EOL = b"\n"

    def __init__(self, port, source=None, timeout=15):
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.buf = b""
        self.greeting = self.reply()

    def reply(self):
        lines = []
        while True:
            line = self.line()
            lines.append(line[4:].decode("utf-8", "replace"))
            if line[3:4] != b"-":
                return int(line[:3]), " ".join(lines)

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Site(DriverSite, SiteTestCase):
    """A site with smtp, submission, queue, lmtp and the admin API."""

    DRIVER = "sqlite"
    EXTRA = []

    @classmethod
    def set_up_site(cls):
        settings = cls.make_driver_site("postern-rate-")
        settings += ["mynetworks=192.0.2.0/24", "myhostname=mx.test",
                     "stop_timeout=5s", "database_timeout=5s",
                     "smtpd_soft_error_limit=100",
                     "smtpd_hard_error_limit=200"]
        settings += ["%s=%s" % kv for kv in BASE.items()]
        cls.configure_driver(settings + cls.EXTRA, SERVICES)
        with open(os.path.join(cls.dir, "admin-token")) as f:
            cls.api = Api(cls.ports["admin_api"], f.read().strip())
        cls.dom = "rate-%s.test" % secrets.token_hex(4)
        cls.add_domain(cls.dom)
        for user in cls.USERS:
            cls.add_mailbox("%s@%s" % (user, cls.dom), PASSWORD)
        cls.generation = 0
        cls.current = dict(BASE)
        cls.start_driver_site()

    USERS = ("alice", "bob")

    def configure(self, **changes):
        """BASE with changes: config set + reload, confirmed by a new
        banner polled from a loopback address of its own."""
        want = dict(BASE, **{k: str(v) for k, v in changes.items()})
        cls = type(self)
        if want == cls.current:
            return
        cls.generation += 1
        banner = "mx.test ESMTP rate-gen-%d" % cls.generation
        run_postern(self.dir, "config", "set",
                    *["%s=%s" % kv for kv in want.items()],
                    "smtpd_banner=" + banner)
        run_postern(self.dir, "reload")
        source = "127.0.0.%d" % (10 + cls.generation % 200)
        deadline = time.time() + 15
        while True:
            greeting = None
            try:
                r = Raw(self.ports["smtp"], source)
                greeting = r.greeting
                r.close()
                if greeting == (220, banner):
                    break
            except (OSError, EOFError):
                pass
            if time.time() > deadline:
                self.fail("reload not applied: %r" % (greeting,))
            time.sleep(0.1)
        cls.current = want
        # A window of the client under test may be open from before.
        time.sleep(max(UNIT, int(want["anvil_rate_time_unit"][:-1])) + 0.2)

    def connect(self, port=None, source=None):
        r = Raw(port or self.ports["smtp"], source)
        self.addCleanup(r.close)
        return r


class ClientLimitsTest(Site):
    USERS = ("alice", "bob")

    def ehlo(self, source=None):
        r = self.connect(source=source)
        self.assertEqual(r.greeting[0], 220, r.greeting)
        self.assertEqual(r.cmd("EHLO client.test")[0], 250)
        return r

    def test_connection_rate(self):
        self.configure(smtpd_client_connection_rate_limit=3)
        for _ in range(3):
            r = self.connect()
            self.assertEqual(r.greeting[0], 220, r.greeting)
            r.close()
        r = self.connect()
        self.assertEqual(r.greeting,
                         (421, "4.7.0 mx.test Error: too many connections "
                          "from 127.0.0.1"))
        self.wait_log(r"warning: Connection rate limit exceeded: 4 from "
                      r"unknown\[127\.0\.0\.1\] for service smtp")
        # Another client is not affected.
        self.assertEqual(self.connect(source="127.0.0.2").greeting[0], 220)
        time.sleep(UNIT + 0.2)
        self.assertEqual(self.connect().greeting[0], 220)

    def test_connection_count(self):
        self.configure(smtpd_client_connection_count_limit=2)
        held = [self.ehlo(), self.ehlo()]
        r = self.connect()
        self.assertEqual(r.greeting[0], 421, r.greeting)
        self.assertIn("4.7.0 mx.test Error: too many connections", r.greeting[1])
        self.wait_log(r"warning: Connection concurrency limit exceeded: 3 "
                      r"from unknown\[127\.0\.0\.1\] for service smtp")
        held[0].cmd("QUIT")
        held[0].close()
        deadline = time.time() + 5
        while True:
            r = self.connect()
            if r.greeting[0] == 220 or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(r.greeting[0], 220, r.greeting)

    def test_message_rate(self):
        self.configure(smtpd_client_message_rate_limit=2)
        r = self.ehlo()
        for _ in range(2):
            self.assertEqual(r.cmd("MAIL FROM:<a@example.org>")[0], 250)
            self.assertEqual(r.cmd("RSET")[0], 250)
        self.assertEqual(r.cmd("MAIL FROM:<a@example.org>"),
                         (450, "4.7.1 Error: too much mail from 127.0.0.1"))
        self.wait_log(r"warning: Message delivery request rate limit "
                      r"exceeded: 3 from unknown\[127\.0\.0\.1\] for service "
                      r"smtp")
        time.sleep(UNIT + 0.2)
        self.assertEqual(r.cmd("MAIL FROM:<a@example.org>")[0], 250)

    def test_recipient_rate(self):
        self.configure(smtpd_client_recipient_rate_limit=3)
        r = self.ehlo()
        self.assertEqual(r.cmd("MAIL FROM:<a@example.org>")[0], 250)
        for _ in range(3):
            self.assertEqual(r.cmd("RCPT TO:<bob@%s>" % self.dom)[0], 250)
        self.assertEqual(r.cmd("RCPT TO:<bob@%s>" % self.dom),
                         (450, "4.7.1 Error: too many recipients from "
                          "127.0.0.1"))
        self.wait_log(r"warning: Recipient address rate limit exceeded: 4 "
                      r"from unknown\[127\.0\.0\.1\] for service smtp")
        time.sleep(UNIT + 0.2)
        self.assertEqual(r.cmd("RCPT TO:<bob@%s>" % self.dom)[0], 250)

    def submission(self):
        s = smtplib.SMTP("127.0.0.1", self.ports["submission"], timeout=15)
        self.addCleanup(s.close)
        s.ehlo("client.test")
        s.starttls(context=tls_context())
        s.ehlo("client.test")
        return s

    def test_auth_rate(self):
        # A longer unit: each failed AUTH runs a password hash, which
        # takes a while on a loaded machine.
        unit = 8
        self.configure(smtpd_client_auth_rate_limit=2,
                       anvil_rate_time_unit="%ds" % unit)
        s = self.submission()
        user = "alice@" + self.dom

        def plain(password):
            return "PLAIN " + base64.b64encode(
                ("\0%s\0%s" % (user, password)).encode()).decode()
        # One AUTH command each (smtplib's login() may try several).
        for _ in range(2):
            self.assertEqual(s.docmd("AUTH", plain("wrong"))[0], 535)
        code, text = s.docmd("AUTH", plain(PASSWORD))
        self.assertEqual((code, text),
                         (450, b"4.7.1 Error: too many AUTH commands from "
                          b"127.0.0.1"))
        self.wait_log(r"warning: AUTH command rate limit exceeded: 3 from "
                      r"unknown\[127\.0\.0\.1\] for service submission")
        time.sleep(unit + 0.2)
        self.assertEqual(s.docmd("AUTH", plain(PASSWORD))[0], 235)

    def test_new_tls_session_rate(self):
        self.configure(smtpd_client_new_tls_session_rate_limit=2)
        for _ in range(2):
            r = self.ehlo()
            self.assertEqual(r.cmd("STARTTLS")[0], 220)
            r.close()
        r = self.ehlo()
        self.assertEqual(r.cmd("STARTTLS"),
                         (421, "4.7.0 mx.test Error: too many new TLS "
                          "sessions from 127.0.0.1"))
        self.wait_log(r"warning: New TLS session rate limit exceeded: 3 "
                      r"from unknown\[127\.0\.0\.1\] for service smtp")
        time.sleep(UNIT + 0.2)
        r = self.ehlo()
        self.assertEqual(r.cmd("STARTTLS")[0], 220)

    def test_exceptions(self):
        self.configure(smtpd_client_message_rate_limit=1,
                       smtpd_client_connection_rate_limit=1,
                       smtpd_client_event_limit_exceptions="127.0.0.0/30")
        for _ in range(4):
            r = self.ehlo()
            for _ in range(3):
                self.assertEqual(r.cmd("MAIL FROM:<a@example.org>")[0], 250)
                self.assertEqual(r.cmd("RSET")[0], 250)
            r.close()
        # 127.0.0.5 is outside the exceptions: limited.
        r = self.ehlo(source="127.0.0.5")
        self.assertEqual(r.cmd("MAIL FROM:<a@example.org>")[0], 250)
        self.assertEqual(r.cmd("RSET")[0], 250)
        self.assertEqual(r.cmd("MAIL FROM:<a@example.org>")[0], 450)
        self.assertEqual(self.connect(source="127.0.0.5").greeting[0], 421)


class UserLimitsTest(Site):
    """Per-mailbox daily limits: defaults 3 messages and 2 new
    recipients per day."""

    USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "gina",
             "hank")
    EXTRA = ["user_daily_message_limit=3",
             "user_daily_new_recipient_limit=2"]

    def setUp(self):
        # The limits count per UTC day: a test must not straddle
        # midnight (the longest, with its restarts, takes ~30 s).
        wait_past_utc_midnight(120)

    def login(self, user):
        s = smtplib.SMTP("127.0.0.1", self.ports["submission"], timeout=15)
        self.addCleanup(s.close)
        s.ehlo("client.test")
        s.starttls(context=tls_context())
        s.ehlo("client.test")
        s.login("%s@%s" % (user, self.dom), PASSWORD)
        return s

    def addr(self, user):
        return "%s@%s" % (user, self.dom)

    def send(self, s, user, rcpts):
        """One transaction; the RCPT replies as (code, text)."""
        code, _ = s.mail(self.addr(user))
        self.assertEqual(code, 250)
        replies = [s.rcpt(r) for r in rcpts]
        if any(c == 250 for c, _ in replies):
            code, _ = s.data(b"Subject: t\r\n\r\nhello\r\n")
            self.assertEqual(code, 250)
        else:
            s.rset()
        return [(c, t.decode()) for c, t in replies]

    def test_daily_messages(self):
        s = self.login("alice")
        bob = self.addr("bob")
        for _ in range(3):
            self.assertEqual(self.send(s, "alice", [bob])[0][0], 250)
        (code, text), = self.send(s, "alice", [bob])
        self.assertEqual(code, 450)
        self.assertEqual(text, "4.7.1 <%s>: Error: daily message limit (3) "
                         "reached for %s" % (bob, self.addr("alice")))
        self.wait_log(r"daily message limit exceeded: user=%s count=3 "
                      r"limit=3" % re.escape(self.addr("alice")))

    def test_new_recipients(self):
        s = self.login("carol")
        bob, dave, erin = (self.addr(u) for u in ("bob", "dave", "erin"))
        # Two new recipients pass, a third does not; a known one does.
        replies = self.send(s, "carol", [bob, dave, erin, bob])
        self.assertEqual([c for c, _ in replies], [250, 250, 450, 250])
        self.assertEqual(replies[2][1],
                         "4.7.1 <%s>: Error: daily limit of new recipients "
                         "(2) reached for %s" % (erin, self.addr("carol")))
        self.wait_log(r"daily new recipient limit exceeded: user=%s "
                      r"count=2 limit=2 to=<%s>" % (
                          re.escape(self.addr("carol")), re.escape(erin)))
        # Known recipients still pass in a later message.
        replies = self.send(s, "carol", [dave, bob])
        self.assertEqual([c for c, _ in replies], [250, 250])

    def test_override_and_rollover(self):
        # dave: the default of 3 messages, then a mailbox override of 5
        # over the admin API, then the domain's 0 (unlimited) under it.
        s = self.login("dave")
        bob = self.addr("bob")
        for _ in range(3):
            self.assertEqual(self.send(s, "dave", [bob])[0][0], 250)
        self.assertEqual(self.send(s, "dave", [bob])[0][0], 450)
        path = V1 + "/mailboxes/" + self.addr("dave")
        r = self.api.get(path)
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json["daily_message_limit"])
        self.assertIsNone(r.json["daily_new_recipient_limit"])
        r = self.api.patch(path, {"daily_message_limit": 5})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["daily_message_limit"], 5)
        self.assertEqual(self.api.get(path).json["daily_message_limit"], 5)
        self.assertEqual(self.send(s, "dave", [bob])[0][0], 250)
        self.assertEqual(self.send(s, "dave", [bob])[0][0], 250)
        self.assertEqual(self.send(s, "dave", [bob])[0][0], 450)
        # A bad value is refused; null gives the mailbox back to its
        # domain, here unlimited.
        r = self.api.patch(path, {"daily_message_limit": -1})
        self.assertEqual(r.status, 422, r)
        dpath = V1 + "/domains/" + self.dom
        r = self.api.patch(dpath, {"daily_message_limit": 0,
                                   "daily_new_recipient_limit": 7})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["daily_message_limit"], 0)
        self.assertEqual(r.json["daily_new_recipient_limit"], 7)
        r = self.api.patch(path, {"daily_message_limit": None})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json["daily_message_limit"])
        for _ in range(3):
            self.assertEqual(self.send(s, "dave", [bob])[0][0], 250)
        # The domain's new-recipient limit of 7 now applies to frank.
        f = self.login("frank")
        many = ["x%d@%s" % (i, self.dom) for i in range(8)]
        for u in many:
            run_postern(self.dir, "alias", "add", u, bob)
        replies = self.send(f, "frank", many)
        self.assertEqual([c for c, _ in replies], [250] * 7 + [450])
        r = self.api.patch(dpath, {"daily_message_limit": None,
                                   "daily_new_recipient_limit": None})
        self.assertEqual(r.status, 200, r)
        s.quit()
        f.quit()

        # erin reaches the default of 3, then the day rolls over.
        e = self.login("erin")
        for _ in range(3):
            self.assertEqual(self.send(e, "erin", [bob])[0][0], 250)
        self.assertEqual(self.send(e, "erin", [bob])[0][0], 450)
        e.quit()
        self.restart({"POSTERN_TEST_CLOCK_OFFSET": "86400"})
        try:
            e = self.login("erin")
            for _ in range(3):
                self.assertEqual(self.send(e, "erin", [bob])[0][0], 250)
            self.assertEqual(self.send(e, "erin", [bob])[0][0], 450)
            e.quit()
        finally:
            # Not left a day ahead for the next tests, even on a failure.
            self.restart({})

    def webmail(self, user):
        if not os.access(os.path.join(BUILD, "postern-webmail"), os.X_OK):
            self.skipTest("no postern-webmail")
        deadline = time.time() + 15
        while True:
            try:
                c = Client(self.ports["webmail"])
                st, _, doc = c.login(self.addr(user), PASSWORD)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.assertEqual(st, 200, doc)
        return c

    def test_webmail_shares_the_limits(self):
        # gina: two messages over SMTP, the third over the webmail, then
        # both ways are refused: one budget per mailbox.
        s = self.login("gina")
        bob = self.addr("bob")
        for _ in range(2):
            self.assertEqual(self.send(s, "gina", [bob])[0][0], 250)
        w = self.webmail("gina")
        body = {"to": [bob], "subject": "via webmail", "text": "hi"}
        st, _, doc = w.post("/api/send", body)
        self.assertEqual(st, 200, doc)
        st, _, doc = w.post("/api/send", body)
        self.assertEqual(st, 429, doc)
        self.assertEqual(doc["error"]["code"], "rate_limited")
        self.assertIn("daily message limit (3)", doc["error"]["message"])
        self.assertEqual(self.send(s, "gina", [bob])[0][0], 450)
        # hank: new recipients over the webmail count as over SMTP (a
        # known one, bob, does not).
        w = self.webmail("hank")
        st, _, doc = w.post("/api/send", {
            "to": [bob, self.addr("alice")], "subject": "a", "text": "b"})
        self.assertEqual(st, 200, doc)
        st, _, doc = w.post("/api/send", {
            "to": [bob, self.addr("carol")], "subject": "a", "text": "b"})
        self.assertEqual(st, 429, doc)
        self.assertIn("new recipients (2)", doc["error"]["message"])
        h = self.login("hank")
        self.assertEqual(self.send(h, "hank", [bob])[0][0], 250)
        self.assertEqual(self.send(h, "hank", [self.addr("carol")])[0][0],
                         450)
        self.wait_log(r"webmail: daily new recipient limit exceeded: "
                      r"user=%s count=2 limit=2" %
                      re.escape(self.addr("hank")))

    def restart(self, env_extra):
        run_postern(self.dir, "stop")
        env = dict(os.environ)
        env.pop("POSTERN_TEST_CLOCK_OFFSET", None)
        env.update(env_extra)
        p = subprocess.run([POSTERN, "-c", self.dir, "start"], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        deadline = time.time() + 15
        while True:
            try:
                socket.create_connection(
                    ("127.0.0.1", self.ports["submission"]), 2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)

    def test_database_failure(self):
        if self.DRIVER != "sqlite":
            self.skipTest("SQLite only: the table is renamed under smtpd")
        s = self.login("bob")
        path = os.path.join(self.dir, "postern.db")
        self.assertTrue(os.path.exists(path))
        db = sqlite3.connect(path, timeout=10)
        db.execute("ALTER TABLE send_counters RENAME TO send_counters_off")
        db.commit()
        try:
            (code, text), = self.send(s, "bob", [self.addr("alice")])
        finally:
            db.execute("ALTER TABLE send_counters_off RENAME TO "
                       "send_counters")
            db.commit()
            db.close()
        self.assertEqual(code, 451)
        self.assertTrue(text.startswith("4.3.0"), text)


class UserLimitsPgsql(UserLimitsTest):
    DRIVER = "pgsql"


class UserLimitsMysql(UserLimitsTest):
    DRIVER = "mysql"


if __name__ == "__main__":
    unittest.main()
