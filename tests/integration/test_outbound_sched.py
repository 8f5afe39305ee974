#!/usr/bin/env python3
"""Mail out scheduling (issue 7, docs/outbound.md "Scheduling"): Postfix's
qmgr behaviour in postern-queued's qmgr.c, against receiving servers
(postern_site.SmtpReceiver) on 127.0.0.6x, routed by transport_maps.

  - slow start: $initial_destination_concurrency connections at first,
    growing with deliveries that work up to
    $default_destination_concurrency_limit, never past it;
  - $default_destination_recipient_limit: a message's recipients for one
    destination go in several transactions;
  - a dead destination (connections refused) is backed off: its mail is
    deferred without a connection ("delivery temporarily suspended")
    while mail for other destinations flows; `postern queue flush
    DOMAIN` revives it;
  - $defer_transports: mail for them waits deferred until `postern queue
    flush DOMAIN` (only that domain's) or `postern queue flush`;
  - $delay_warning_time: one "Delayed Mail" notice (Action: delayed) to
    the sender, however many retries follow;
  - $notify_classes bounce, 2bounce, delay: postmaster copies (headers
    only) and undeliverable bounces to the postmaster.
"""
import datetime
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (SiteTestCase, SmtpReceiver, free_ports,  # noqa
                          run_postern, wait_for)
from test_queue import message, submit  # noqa: E402

SLOW = "127.0.0.61"     # answers DATA after a delay: concurrency shows
GOOD = "127.0.0.62"     # a plain receiver
DEAD = "127.0.0.63"     # nothing listens: connection refused
LATER = "127.0.0.64"    # comes up during the test

SERVICES = "queue unix $queue_socket none 1 postern-queued\n"


class SchedSite(SiteTestCase):
    """A site with only postern-queued; settings from cls.SETTINGS."""

    SETTINGS = ()

    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-outsched.")
        cls.port = free_ports(1)[0]
        p = cls.port
        cls.receivers = {}
        for name, host in (("slow", SLOW), ("good", GOOD)):
            cls.receivers[name] = SmtpReceiver(host, p)
        transport = ("inline:{ slow.example=smtp:[%s]:%d, "
                     "good.example=smtp:[%s]:%d, "
                     "other.example=smtp:[%s]:%d, "
                     "dead.example=smtp:[%s]:%d, "
                     "later.example=smtp:[%s]:%d }"
                     % (SLOW, p, GOOD, p, GOOD, p, DEAD, p, LATER, p))
        run_postern(cls.dir, "config", "set", "log_target=file",
                    "stop_timeout=5s", "myhostname=mx.local.example",
                    "queue_run_delay=1s", "smtp_connect_timeout=5s",
                    "transport_maps=" + transport, *cls.SETTINGS)
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        run_postern(cls.dir, "start")
        cls.started = True
        cls.qsock = os.path.join(cls.dir, "run", "queue.sock")
        wait_for(lambda: os.path.exists(cls.qsock), what="queue socket")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for r in getattr(cls, "receivers", {}).values():
            r.stop()

    def send(self, rcpts, subject):
        t, qid = submit(self.qsock, "s@local.example", rcpts,
                        message(subject))
        self.assertEqual(t, "O", qid)
        return qid


class Scheduling(SchedSite):
    SETTINGS = ("initial_destination_concurrency=2",
                "default_destination_concurrency_limit=4",
                "default_destination_recipient_limit=3",
                "minimal_backoff_time=4s", "maximal_backoff_time=8s")

    def test_slow_start_up_to_the_limit(self):
        slow = self.receivers["slow"]
        slow.data_delay = 0.6
        start = time.monotonic()
        ids = [self.send(["r%d@slow.example" % i], "slow %d" % i)
               for i in range(24)]
        wait_for(lambda: all(slow.got("r%d@slow.example" % i)
                             for i in range(24)), timeout=60,
                 what="24 deliveries\n" + self.log()[-2000:])
        slow.data_delay = 0
        # Before the first delivery could finish, only the initial window.
        early = [t for t in slow.conn_times if t - start < 0.5]
        self.assertLessEqual(len(early), 2, slow.conn_times)
        # It grew past it, but never past the limit.
        self.assertGreaterEqual(slow.max_active, 3)
        self.assertLessEqual(slow.max_active, 4)
        self.assertEqual(len(ids), 24)

    def test_recipient_limit_splits_transactions(self):
        good = self.receivers["good"]
        rcpts = ["split%d@good.example" % i for i in range(7)]
        qid = self.send(rcpts + ["one@other.example"], "split")
        wait_for(lambda: all(good.got(r) for r in rcpts), what="7 rcpts")
        sizes = sorted(len(m["rcpts"]) for m in good.messages
                       if any(r in rcpts for r in m["rcpts"]))
        # other.example has the same next hop, so it is the same
        # destination (transport:nexthop, as in Postfix): 8 in 3+3+2.
        self.assertEqual(sizes, [2, 3, 3])
        wait_for(lambda: good.got("one@other.example"), what="other")
        self.wait_log(r"%s: removed" % qid)


class DeadDestination(SchedSite):
    """A dead destination, backed off for minimal_backoff_time (30 s):
    far longer than the checks take on any machine, and the checks say
    so (log times): while it is dead nothing may connect, and neither
    the retry of the first messages nor the end of the period may come
    before the checks are done."""
    SETTINGS = ("initial_destination_concurrency=2",
                "default_destination_concurrency_limit=4",
                "minimal_backoff_time=30s", "maximal_backoff_time=60s")
    DEAD_FOR = 30

    def connects(self):
        """Connection attempts to DEAD in the log."""
        return len([ln for ln in self.log().splitlines()
                    if re.search(r": connect to .*%s" % re.escape(DEAD), ln)
                    and "suspended" not in ln])

    @staticmethod
    def stamp(line):
        """The log time of a log line, in seconds."""
        t = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z", line)
        return datetime.datetime.fromisoformat(t.group(1)).replace(
            tzinfo=datetime.timezone.utc).timestamp()

    def last_line(self, pattern):
        return [ln for ln in self.log().splitlines()
                if re.search(pattern, ln)][-1]

    def test_dead_destination_backs_off(self):
        good = self.receivers["good"]
        first = [self.send(["d%d@dead.example" % i], "dead %d" % i)
                 for i in range(3)]
        dead = r"destination smtp:\[%s\]:%d: dead for %ds" % (
            re.escape(DEAD), self.port, self.DEAD_FOR)
        self.wait_log(dead)
        t_dead = self.stamp(self.last_line(dead))
        # The attempts in flight when it died end after that line: the
        # first three all deferred, every connection is counted.
        for qid in first:
            self.wait_log(r"%s: to=<d\d@dead\.example>, .*"
                          r"status=deferred" % qid)
        n_connect = self.connects()
        # While dead: no connection, deferred at once; others flow.
        later = [self.send(["e%d@dead.example" % i], "dead later %d" % i)
                 for i in range(5)]
        ok = self.send(["fine@good.example"], "not held up")
        for qid in later:
            self.wait_log(r"%s: to=<e\d@dead\.example>, relay=none, .*"
                          r"status=deferred \(delivery temporarily "
                          r"suspended: connect to" % qid)
        wait_for(lambda: good.got("fine@good.example"), timeout=20,
                 what="mail for a live destination")
        self.wait_log(r"%s: removed" % ok)
        self.assertEqual(self.connects(), n_connect)
        # All of it while the destination was dead (else a retry of the
        # first three could have connected: nothing would be proved).
        t_checked = self.stamp(self.last_line(r"%s: removed" % ok))
        self.assertLess(t_checked - t_dead, self.DEAD_FOR,
                        "the checks outlasted the dead period")
        # The receiver comes up; a flush of the domain revives it and
        # sends everything at once (no 30 s wait, no retry time).
        for qid in first + later:
            self.assertIn(qid, run_postern(self.dir, "queue",
                                           "list").stdout)
        up = SmtpReceiver(DEAD, self.port)
        try:
            r = run_postern(self.dir, "queue", "flush", "dead.example")
            self.assertIn("8 messages flushed", r.stdout + r.stderr)
            wait_for(lambda: all(up.got("d%d@dead.example" % i)
                                 for i in range(3)) and
                     all(up.got("e%d@dead.example" % i) for i in range(5)),
                     timeout=10, what="delivery after the flush\n" +
                     self.log()[-2000:])
        finally:
            up.stop()


class DeferTransports(SchedSite):
    SETTINGS = ("defer_transports=smtp", "minimal_backoff_time=1s",
                "maximal_backoff_time=2s")

    def test_defer_until_flush(self):
        good = self.receivers["good"]
        a = self.send(["a@good.example"], "deferred a")
        b = self.send(["b@other.example"], "deferred b")
        for qid in (a, b):
            self.wait_log(r"%s: to=<.*>, relay=none, .*status=deferred "
                          r"\(deferred transport\)" % qid)
        # Retries (1 s backoff) keep it deferred: never a connection.
        time.sleep(2.5)
        self.assertEqual(good.connections, 0)
        self.assertIn(a, run_postern(self.dir, "queue", "list").stdout)
        # flush DOMAIN sends that domain's mail only.
        r = run_postern(self.dir, "queue", "flush", "good.example")
        self.assertIn("1 message flushed", r.stdout + r.stderr)
        wait_for(lambda: good.got("a@good.example"), what="a after flush")
        self.wait_log(r"%s: removed" % a)
        time.sleep(1)
        self.assertEqual(good.got("b@other.example"), [])
        # A plain flush sends the rest.
        run_postern(self.dir, "queue", "flush")
        wait_for(lambda: good.got("b@other.example"), what="b after flush")
        self.wait_log(r"%s: removed" % b)

    def test_flush_domain_usage(self):
        r = run_postern(self.dir, "queue", "flush", "a", "b", check=False)
        self.assertNotEqual(r.returncode, 0)


class DelayWarning(SchedSite):
    SETTINGS = ("delay_warning_time=3s", "minimal_backoff_time=1s",
                "maximal_backoff_time=1s",
                "notify_classes=resource, bounce, 2bounce, delay",
                "bounce_notice_recipient=pm@good.example",
                "2bounce_notice_recipient=pm2@good.example",
                "delay_notice_recipient=pmd@good.example")

    def notices(self, rcpt):
        return [m for m in self.receivers["good"].got(rcpt)
                if "MAIL FROM:<>" in m["mail"]]

    def test_one_delay_notice(self):
        t, qid = submit(self.qsock, "sender@good.example",
                        ["late@later.example"], message("late"))
        self.assertEqual(t, "O", qid)
        self.wait_log(r"%s: to=<late@later\.example>.*status=deferred"
                      % qid)
        got = wait_for(lambda: self.notices("sender@good.example"),
                       timeout=20, what="the delay notice\n" +
                       self.log()[-2000:])
        data = got[0]["data"].decode()
        self.assertIn("Subject: Delayed Mail (still being retried)", data)
        self.assertIn("Action: delayed", data)
        self.assertIn("Final-Recipient: rfc822; late@later.example", data)
        self.assertIn("Will-Retry-Until: ", data)
        self.assertIn("Subject: late", data)  # the original's headers
        self.assertRegex(self.log(), r"%s: sender delay notification: "
                         % qid)
        # More retries (every second or so): no second notice.  The
        # retries are waited for, not slept for (a loaded machine may
        # make fewer in a fixed time).
        def deferrals():
            return len(re.findall(
                r"%s: to=<late@later\.example>.*status=deferred" % qid,
                self.log()))
        want = max(3, deferrals() + 2)
        wait_for(lambda: deferrals() >= want, 30,
                 "%d deferrals of %s\n%s" % (want, qid, self.log()[-2000:]))
        self.assertEqual(len(self.notices("sender@good.example")), 1)
        # notify_classes delay: one postmaster copy, headers only.
        pm = wait_for(lambda: self.notices("pmd@good.example"),
                      what="the postmaster's delay copy")
        self.assertEqual(len(pm), 1)
        self.assertIn("Subject: Postmaster Copy: Delayed Mail",
                      pm[0]["data"].decode())
        # Once its server is up the message goes, with no other notice.
        up = SmtpReceiver(LATER, self.port)
        try:
            run_postern(self.dir, "queue", "flush")
            wait_for(lambda: up.got("late@later.example"), timeout=10,
                     what="late delivery")
        finally:
            up.stop()
        self.assertEqual(len(self.notices("sender@good.example")), 1)
        self.assertEqual(len(self.notices("pmd@good.example")), 1)

    def test_postmaster_copies(self):
        # notify_classes bounce: the sender's bounce (RET=FULL) and a
        # headers-only copy for the postmaster.
        body = "the secret body\r\n"
        t, qid = submit(self.qsock, "sb@good.example", ["bad1@good.example"],
                        message("bounce me", body), ret="FULL")
        self.assertEqual(t, "O", qid)
        got = wait_for(lambda: self.notices("sb@good.example"),
                       what="the bounce\n" + self.log()[-2000:])
        self.assertIn("the secret body", got[0]["data"].decode())
        pm = wait_for(lambda: self.notices("pm@good.example"),
                      what="the postmaster's bounce copy")
        text = pm[0]["data"].decode()
        self.assertIn("Subject: Postmaster Copy: Undelivered Mail", text)
        self.assertIn("To: pm@good.example", text)
        self.assertIn("Final-Recipient: rfc822; bad1@good.example", text)
        self.assertIn("Subject: bounce me", text)
        self.assertNotIn("the secret body", text)
        # notify_classes 2bounce: a bounce that bounces goes to
        # $2bounce_notice_recipient from double-bounce@$myhostname.
        t, qid = submit(self.qsock, "", ["bad2@good.example"],
                        message("a bounce"))
        self.assertEqual(t, "O", qid)
        got = wait_for(lambda: self.receivers["good"].got(
            "pm2@good.example"), what="the 2bounce notice\n" +
            self.log()[-2000:])
        self.assertIn("MAIL FROM:<double-bounce@mx.local.example>",
                      got[0]["mail"])
        self.assertIn("Final-Recipient: rfc822; bad2@good.example",
                      got[0]["data"].decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
