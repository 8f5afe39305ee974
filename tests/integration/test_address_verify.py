#!/usr/bin/env python3
"""reject_unverified_recipient and reject_unverified_sender (issue 8,
docs/address-verify.md): Postfix's address verification with the cache in
SQL, through real postern-smtpd and postern-queued, on SQLite, and on
PostgreSQL and MariaDB under run-all.sh or dbservers.sh.

remote.example is routed (transport_maps) to a Python SMTP receiver that
refuses local parts starting with "bad" (550 5.1.1).  Shown:
  - an accepted remote recipient passes (250) after one probe; the probe
    is MAIL FROM:<double-bounce@$myhostname>, RCPT TO, RSET, never DATA;
  - a refused one gets $unverified_recipient_reject_code (450, and 550
    on a service that sets it) 4.1.1/5.1.1 with the remote's reply;
  - the cache: asking again answers without a new probe (the receiver
    sees one RCPT per address), and a second smtpd process (another
    service) uses the same cache;
  - with address_verify_poll_count = 1 the first answer is 450 4.1.1
    "Address verification in progress", and a later one the result;
  - error: transports are undeliverable without a probe;
  - the wait between polls holds no worker thread: on a service with
    worker_threads = 1 and a 3 s poll delay, a session whose RCPT waits
    for a verification does not delay another session's RCPT to a hosted
    mailbox, and a client that leaves while waiting is cleaned up at once
    (the session ends; the next one is answered);
  - reject_unverified_sender likewise for MAIL FROM addresses; the null
    sender is never verified; hosted addresses are answered from SQL
    (an unknown hosted sender is refused, no probe; an unknown hosted
    recipient keeps its 550 5.1.1).
"""
import os
import re
import secrets
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (DriverSite, SmtpReceiver,  # noqa: E402
                          SmtpSession, free_ports, per_driver, smtp_rcpt,
                          wait_for)


class VerifyBase(DriverSite):
    @classmethod
    def set_up_site(cls):
        settings = cls.make_driver_site("postern-verify-")
        p_recv, cls.port2, cls.port3, cls.port4, cls.port5 = free_ports(5)
        cls.recv = SmtpReceiver("127.0.0.1", p_recv)
        # Each run its own addresses: a server database keeps the cache.
        cls.tag = secrets.token_hex(4)
        transport = ("inline:{ remote.example=smtp:[127.0.0.1]:%d, "
                     "{ err.example = error:5.1.1 no mail here } }"
                     % p_recv)
        settings += ["mynetworks=127.0.0.0/8", "myhostname=mx.test",
                     "stop_timeout=5s", "database_timeout=5s",
                     "smtp_connect_timeout=5s",
                     "transport_maps=" + transport,
                     "smtpd_recipient_restrictions="
                     "reject_unverified_recipient",
                     "address_verify_poll_count=5",
                     "address_verify_poll_delay=1s"]
        cls.configure_driver(
            settings,
            "smtp   inet  127.0.0.1:$smtp_port  none  1  postern-smtpd\n"
            "smtp2  inet  127.0.0.1:%d  none  1  postern-smtpd "
            "-o address_verify_poll_count=1 "
            "-o unverified_recipient_reject_code=550\n"
            "smtp3  inet  127.0.0.1:%d  none  1  postern-smtpd "
            "-o smtpd_recipient_restrictions=reject_unverified_sender\n"
            "smtp4  inet  127.0.0.1:%d  none  1  postern-smtpd "
            "-o unverified_recipient_reject_code=550\n"
            "smtp5  inet  127.0.0.1:%d  none  1  postern-smtpd "
            "-o worker_threads=1 -o address_verify_poll_count=2 "
            "-o address_verify_poll_delay=3s\n"
            "queue  unix  $queue_socket  none  1  postern-queued\n"
            "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n"
            % (cls.port2, cls.port3, cls.port4, cls.port5))
        cls.dom = "verify-%s.test" % cls.tag
        cls.add_domain(cls.dom)
        cls.add_mailbox("alice@" + cls.dom)
        cls.start_driver_site()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if hasattr(cls, "recv"):
            cls.recv.stop()

    def addr(self, local):
        return "%s-%s@remote.example" % (local, self.tag)

    def rcpts_seen(self, address):
        with self.recv.lock:
            return [c for c in self.recv.commands
                    if c.upper().startswith("RCPT TO:<%s>" % address.upper())]

    def test_accepted_after_one_probe_without_data(self):
        a = self.addr("good1")
        self.assertTrue(smtp_rcpt(self.port, "s@client.example", a)
                        .startswith("250 "))
        self.assertEqual(len(self.rcpts_seen(a)), 1)
        # The probe: MAIL FROM the verify sender, RCPT, then RSET; no
        # DATA was ever sent to the receiver.
        with self.recv.lock:
            cmds = list(self.recv.commands)
            msgs = list(self.recv.messages)
        i = cmds.index("RCPT TO:<%s>" % a)
        self.assertEqual(cmds[i - 1], "MAIL FROM:<double-bounce@mx.test>")
        self.assertEqual(cmds[i + 1] if i + 1 < len(cmds) else None, "RSET")
        self.assertNotIn("DATA", [c.upper() for c in cmds])
        self.assertEqual(msgs, [])
        # Cached: again, and from another smtpd process, no new probe.
        self.assertTrue(smtp_rcpt(self.port, "s@client.example", a)
                        .startswith("250 "))
        self.assertTrue(smtp_rcpt(self.port4, "s@client.example", a)
                        .startswith("250 "))
        self.assertEqual(len(self.rcpts_seen(a)), 1)
        self.wait_log(r"address verification: <%s>: deliverable "
                      r"\(cached" % re.escape(a))

    def test_refused_recipient(self):
        a = self.addr("bad1")
        r = smtp_rcpt(self.port, "s@client.example", a)
        self.assertTrue(r.startswith(
            "450 4.1.1 <%s>: Recipient address rejected: undeliverable "
            "address: host 127.0.0.1[127.0.0.1]:" % a), r)
        self.assertIn("said: 550 5.1.1 <%s>: Recipient address rejected "
                      "(in reply to RCPT TO command)" % a, r)
        # The reject code is a parameter (550 on smtp4), from the cache.
        r = smtp_rcpt(self.port4, "s@client.example", a)
        self.assertTrue(r.startswith("550 5.1.1 <%s>:" % a), r)
        self.assertEqual(len(self.rcpts_seen(a)), 1)

    def test_in_progress_then_result(self):
        a, b = self.addr("good2"), self.addr("bad2")
        want = ("450 4.1.1 <%s>: Recipient address rejected: unverified "
                "address: Address verification in progress")
        self.assertEqual(smtp_rcpt(self.port2, "s@client.example", a),
                         want % a)
        self.assertEqual(smtp_rcpt(self.port2, "s@client.example", b),
                         want % b)
        self.wait_log(r"verify: to=<%s>, relay=.*status=deliverable"
                      % re.escape(a))
        self.wait_log(r"verify: to=<%s>, relay=.*status=undeliverable"
                      % re.escape(b))
        # queued logs the result before its worker writes it to the
        # cache, and each result is written on its own: both are waited
        # for (queued asks for no second probe while one is in flight).
        wait_for(lambda: smtp_rcpt(self.port2, "s@client.example", a)
                 .startswith("250 "), what="the cached result")
        r = wait_for(lambda: (lambda r: r if "in progress" not in r
                              else None)(
            smtp_rcpt(self.port2, "s@client.example", b)),
            what="the cached result of " + b)
        self.assertTrue(r.startswith("550 5.1.1 <%s>: Recipient address "
                                     "rejected: undeliverable" % b), r)
        self.assertEqual(len(self.rcpts_seen(a)), 1)
        self.assertEqual(len(self.rcpts_seen(b)), 1)

    def ready_session(self):
        """A session on smtp5 (one worker thread) at RCPT."""
        c = SmtpSession(self.port5, "127.0.0.1", 30)
        self.assertTrue(c.cmd("EHLO client.example").startswith("250"))
        self.assertTrue(c.cmd("MAIL FROM:<s@client.example>")
                        .startswith("250"))
        return c

    def test_wait_holds_no_worker(self):
        # Postfix blocks only the one smtpd of the waiting client; here
        # the wait between polls must not hold smtp5's only worker.
        a = self.addr("wait1")
        alice = "alice@" + self.dom
        other = self.ready_session()
        first = self.ready_session()
        got = {}

        def wait_first():
            got["reply"] = first.cmd("RCPT TO:<%s>" % a)
            got["at"] = time.monotonic()

        try:
            t0 = time.monotonic()
            th = threading.Thread(target=wait_first)
            th.start()
            # The probe reached the receiver: the first RCPT waits for
            # its result (3 s before the second look at the cache).
            wait_for(lambda: self.rcpts_seen(a), what="the probe")
            t1 = time.monotonic()
            r = other.cmd("RCPT TO:<%s>" % alice)
            t2 = time.monotonic()
            self.assertTrue(r.startswith("250 "), r)
            self.assertLess(t2 - t1, 1.5)
            self.assertNotIn("reply", got)  # the first still waits
            th.join(30)
            self.assertTrue(got["reply"].startswith("250 "), got)
            # It did wait the poll delay, once.
            self.assertGreater(got["at"] - t0, 2.5)
            self.assertLess(got["at"] - t0, 6)
        finally:
            first.close()
            other.close()
        self.assertEqual(len(self.rcpts_seen(a)), 1)
        self.wait_log(r"address verification: <%s>: deliverable "
                      r"\(cached" % re.escape(a))

    def test_client_leaves_while_waiting(self):
        a = self.addr("leave1")
        c = self.ready_session()
        port = c.sock.getsockname()[1]
        c.send(b"RCPT TO:<%s>\r\n" % a.encode())
        wait_for(lambda: self.rcpts_seen(a), what="the probe")
        # A reset: the session hears it while its RCPT waits.
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        c.sock.close()
        self.wait_log(r"disconnect from \[127\.0\.0\.1\]:%d" % port)
        time.sleep(3.5)  # past the poll delay the wait was cut at
        # The wait ended with the session: no second look at the cache
        # (it would log the probe's result) and nothing of the session is
        # used after it (an ASan build would say so); the process goes
        # on answering.
        self.assertNotRegex(self.log(), r"address verification: <%s>"
                            % re.escape(a))
        n = self.ready_session()
        try:
            r = n.cmd("RCPT TO:<alice@%s>" % self.dom)
            self.assertTrue(r.startswith("250 "), r)
        finally:
            n.close()

    def test_hosted_recipient(self):
        # From SQL, no probe; an unknown user keeps its 550 5.1.1.
        n = len(self.recv.commands)
        self.assertTrue(smtp_rcpt(self.port, "s@client.example",
                                  "alice@" + self.dom).startswith("250 "))
        r = smtp_rcpt(self.port, "s@client.example", "nobody@" + self.dom)
        self.assertTrue(r.startswith("550 5.1.1 <nobody@%s>" % self.dom), r)
        self.assertEqual(len(self.recv.commands), n)

    def test_error_transport(self):
        a = "x-%s@err.example" % self.tag
        r = smtp_rcpt(self.port, "s@client.example", a)
        self.assertEqual(r, "450 4.1.1 <%s>: Recipient address rejected: "
                         "undeliverable address: 5.1.1 no mail here" % a)

    def test_sender(self):
        good, bad = self.addr("good-s"), self.addr("bad-s")
        alice = "alice@" + self.dom
        self.assertTrue(smtp_rcpt(self.port3, good, alice)
                        .startswith("250 "))
        r = smtp_rcpt(self.port3, bad, alice)
        self.assertTrue(r.startswith(
            "450 4.1.1 <%s>: Sender address rejected: undeliverable "
            "address: host 127.0.0.1[127.0.0.1]:" % bad), r)
        self.assertEqual(len(self.rcpts_seen(good)), 1)
        self.assertEqual(len(self.rcpts_seen(bad)), 1)
        # The null sender is not verified.
        n = len(self.recv.commands)
        self.assertTrue(smtp_rcpt(self.port3, "", alice).startswith("250 "))
        # Hosted senders: from SQL, no probe.
        self.assertTrue(smtp_rcpt(self.port3, alice, alice)
                        .startswith("250 "))
        r = smtp_rcpt(self.port3, "nobody@" + self.dom, alice)
        self.assertTrue(r.startswith(
            "450 4.1.1 <nobody@%s>: Sender address rejected: "
            "undeliverable address: 550 5.1.1" % self.dom), r)
        self.assertEqual(len(self.recv.commands), n)


VerifySqlite, VerifyPgsql, VerifyMysql = per_driver(VerifyBase)


if __name__ == "__main__":
    unittest.main(verbosity=2)
