#!/usr/bin/env python3
"""Mail out (issue 7, docs/outbound.md): postern-queued's transport
resolution and SMTP/LMTP client, against receiving servers written here
on 127.0.0.x addresses and the DNS harness (dnsserver.py) for MX records.

One site (`postern init`, the queue and lmtp-unix services, a hosted
domain local.example) hands messages to postern-queued over
$queue_socket (test_queue.submit); recipients at other domains go by
transport_maps, relayhost or the MX hosts of their domain to the fake
servers, whose replies depend on the local part: "temp..." gets 451 at
RCPT (while temp_left lasts), "bad..." 550 5.1.1.  Bounces come back to
sender@local.example's Maildir and are parsed with Python's email.
"""
import email
import email.policy
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnsserver import DnsServer, Zone, available  # noqa: E402
from postern_site import (SiteTestCase, SmtpReceiver,  # noqa: E402
                          free_ports, run_postern, wait_for)
from test_queue import message, read_rec, rec, submit  # noqa: E402

NOWHERE = "127.0.0.21"   # nothing listens: connection refused
MX2 = "127.0.0.22"       # the good MX
RELAY = "127.0.0.23"     # relayhost and smtp:[...] next hop
LMTP = "127.0.0.24"      # an LMTP server for lmtp:host:port
GRUMPY = "127.0.0.25"    # greets with 421
PLAIN = "127.0.0.26"     # no 8BITMIME, SMTPUTF8 or DSN
BLACKHOLE = "127.0.0.27"  # accepts connections, never says a word
SMALL = "127.0.0.28"     # SIZE 2000

SERVICES = """\
queue     unix $queue_socket none 1 postern-queued
lmtp-unix unix $lmtp_socket  none 1 postern-lmtpd
"""


# The receiving server and wait_for are shared with test_outbound_tls.py.
FakeServer = SmtpReceiver


def submit_full(path, sender, rcpts, data, records=b""):
    """Like test_queue.submit, with recipients as (addr, orcpt, notify)
    and extra envelope records."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    out = rec("B", "1") + rec("F", sender) + records
    for addr, orcpt, notify in rcpts:
        out += rec("R", b"%s\0%s\0%d" % (addr.encode(), orcpt.encode(),
                                         notify))
    s.sendall(out)
    t, qid = read_rec(s)
    assert t == "I", (t, qid)
    s.sendall(rec("D", data) + rec("C"))
    t, text = read_rec(s)
    s.close()
    assert t == "O", text
    return qid


class Blackhole:
    """Takes TCP connections and never answers: a dead destination."""

    def __init__(self, host, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.conns = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def open_now(self):
        """Connections the client has not closed yet."""
        alive = 0
        for c in self.conns:
            try:
                c.setblocking(False)
                if c.recv(1, socket.MSG_PEEK) == b"":
                    continue
                alive += 1
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        return alive

    def stop(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class Outbound(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        why = available()
        if why:
            raise unittest.SkipTest(why)
        cls.make_site("postern-outbound.")
        cls.port, lmtp_port = free_ports(2)
        p = cls.port
        cls.dns = DnsServer([
            Zone("mx.example", [("@", "MX", "10 mx1"),
                                ("@", "MX", "20 mx2"),
                                ("mx1", "A", NOWHERE),
                                ("mx2", "A", MX2)]),
            Zone("greet.example", [("@", "MX", "10 g1"),
                                   ("@", "MX", "20 mx2.mx.example."),
                                   ("g1", "A", GRUMPY)]),
            Zone("remote.example", [("@", "MX", "10 mx"),
                                    ("mx", "A", MX2)]),
            Zone("nullmx.example", [("@", "MX", "0 .")]),
            Zone("v6.example", [("@", "MX", "10 mx6"),
                                ("mx6", "AAAA", "::1")]),
        ]).start()
        cls.mx2 = FakeServer(MX2, p)
        cls.relay = FakeServer(RELAY, p)
        cls.lmtp = FakeServer(LMTP, p, lmtp=True)
        cls.grumpy = FakeServer(GRUMPY, p,
                                greeting=b"421 4.3.2 not now, go away")
        cls.plain = FakeServer(PLAIN, p, ext=(b"PIPELINING",))
        cls.v6 = FakeServer("::1", p)
        cls.small = FakeServer(SMALL, p, ext=(b"SIZE 2000",))
        cls.blackhole = Blackhole(BLACKHOLE, p)
        transport = ("inline:{ relay.example=smtp:[%s]:%d, "
                     "{ err.example = error:5.7.1 we do not talk to you }, "
                     "disc.example=discard:, "
                     "{ retry.example = retry:4.3.2 not today }, "
                     "lmtp.example=lmtp:%s:%d, "
                     "plain.example=smtp:[%s]:%d, "
                     "slow.example=smtp:[%s]:%d, "
                     "small.example=smtp:[%s]:%d, "
                     "{ .deep.example = error:5.1.2 parent domain matched }, "
                     "deep.example=discard:, "
                     "vip@deep.example=smtp:[%s]:%d }"
                     % (RELAY, p, LMTP, p, PLAIN, p, BLACKHOLE, p, SMALL, p,
                        RELAY, p))
        run_postern(cls.dir, "config", "set", "log_target=file",
                    "stop_timeout=5s", "myhostname=mx.local.example",
                    "lmtp_port=%d" % lmtp_port, "queue_run_delay=1s",
                    "minimal_backoff_time=1s", "maximal_backoff_time=2s",
                    "smtp_tcp_port=%d" % p, "smtp_connect_timeout=5s",
                    "default_destination_concurrency_limit=2",
                    "transport_maps=" + transport,
                    *cls.dns.settings()[1::2])
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        run_postern(cls.dir, "domain", "add", "local.example")
        for box in ("sender@local.example", "u@local.example"):
            run_postern(cls.dir, "mailbox", "add", box, "--password-stdin",
                        stdin="secret-pw-1\n")
        run_postern(cls.dir, "start")
        cls.started = True
        cls.qsock = os.path.join(cls.dir, "run", "queue.sock")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for s in ("mx2", "relay", "lmtp", "grumpy", "plain", "blackhole",
                  "v6", "small"):
            if hasattr(cls, s):
                getattr(cls, s).stop()
        if hasattr(cls, "dns"):
            cls.dns.stop()

    def send(self, sender, rcpts, subject, body="Hello.\r\n"):
        data = message(subject, body)
        t, qid = submit(self.qsock, sender, rcpts, data)
        self.assertEqual(t, "O", qid)
        return qid, data

    def delete(self, qid):
        """`postern queue delete`, again while the message is moving."""
        def once():
            p = run_postern(self.dir, "queue", "delete", qid, check=False)
            if p.returncode != 0 and "in progress" not in p.stderr:
                raise AssertionError(p.stderr)
            return p.returncode == 0
        wait_for(once, what="the removal of " + qid)

    def maildir(self, box):
        root = os.path.join(self.dir, "mail", "local.example", box)
        return sorted(os.path.join(dp, fn) for dp, _, fns in os.walk(root)
                      for fn in fns if os.path.basename(dp) == "new")

    def test_hosted_goes_to_lmtp(self):
        before = len(self.maildir("u"))
        qid, _ = self.send("s@remote.example", ["u@local.example"], "hosted")
        self.wait_log(r"%s: to=<u@local\.example>, relay=lmtp\[.*\], "
                      r".*status=sent" % qid)
        wait_for(lambda: len(self.maildir("u")) == before + 1,
                 what="the hosted delivery")

    def test_mx_preference_and_fallback(self):
        qid, data = self.send("sender@local.example",
                              ["someone@mx.example"], "mx")
        got = wait_for(lambda: self.mx2.got("someone@mx.example"),
                       what="delivery to the second MX\n" + self.log())
        self.assertEqual(got[0]["data"], data)
        self.assertIn("MAIL FROM:<sender@local.example>", got[0]["mail"])
        self.assertIn("SIZE=%d" % len(data), got[0]["mail"])
        # The best MX was tried first and refused the connection.
        self.wait_log(
            r"%s: to=<someone@mx\.example>, relay=mx2\.mx\.example"
            r"\[%s\]:%d, .*dsn=2\.0\.0, status=sent" % (qid, MX2, self.port))
        self.assertRegex(self.log(),
                         r"%s: connect to mx1\.mx\.example\[%s\]:%d: "
                         r"Connection refused" % (qid, NOWHERE, self.port))

    def test_mx_with_ipv6_address(self):
        qid, data = self.send("sender@local.example", ["six@v6.example"],
                              "ipv6")
        got = wait_for(lambda: self.v6.got("six@v6.example"),
                       what="delivery over IPv6\n" + self.log())
        self.assertEqual(got[0]["data"], data)
        self.wait_log(r"%s: to=<six@v6\.example>, relay=mx6\.v6\.example"
                      r"\[::1\]:%d, .*status=sent" % (qid, self.port))

    def test_greeting_4xx_moves_to_next_mx(self):
        qid, _ = self.send("sender@local.example", ["g@greet.example"],
                           "grumpy")
        wait_for(lambda: self.mx2.got("g@greet.example"),
                 what="delivery past the 421 greeting\n" + self.log())
        self.assertRegex(self.log(), r"%s: host g1\.greet\.example\[%s\]"
                         r":\d+ refused to talk to me: 421" % (qid, GRUMPY))

    def test_transport_map_smtp_nexthop(self):
        qid, data = self.send("sender@local.example", ["x@relay.example"],
                              "relay by map")
        got = wait_for(lambda: self.relay.got("x@relay.example"),
                       what="delivery to the map's next hop")
        self.assertEqual(got[0]["data"], data)
        self.wait_log(r"%s: to=<x@relay\.example>, relay=%s\[%s\]:%d, "
                      r".*status=sent" % (qid, RELAY, RELAY, self.port))

    def test_transport_map_lookup_order(self):
        # A full address wins over its domain (also once the domain's
        # route is cached); ".parent" matches below.
        qid, _ = self.send("", ["first@deep.example"], "domain")
        self.wait_log(r"%s: to=<first@deep\.example>, relay=none, .*"
                      r"status=sent \(discarded\)" % qid)
        qid, _ = self.send("", ["vip@deep.example", "x@a.b.deep.example"],
                           "order")
        wait_for(lambda: self.relay.got("vip@deep.example"),
                 what="the address entry's next hop")
        self.wait_log(r"%s: to=<x@a\.b\.deep\.example>, relay=none, "
                      r".*dsn=5\.1\.2, status=bounced \(parent domain "
                      r"matched\)" % qid)

    def test_size_over_peer_limit_bounces(self):
        qid, _ = self.send("", ["big@small.example"], "big", "x" * 3000)
        self.wait_log(r"%s: to=<big@small\.example>, relay=%s\[%s\]:\d+, "
                      r".*dsn=5\.3\.4, status=bounced \(message size \d+ "
                      r"exceeds size limit 2000" % (qid, SMALL, SMALL))
        qid, data = self.send("", ["tiny@small.example"], "tiny")
        got = wait_for(lambda: self.small.got("tiny@small.example"),
                       what="the small message")
        self.assertIn(" SIZE=%d" % len(data), got[0]["mail"])

    def test_transport_map_lmtp(self):
        qid, data = self.send("sender@local.example",
                              ["a@lmtp.example", "b@lmtp.example"], "lmtp")
        got = wait_for(lambda: self.lmtp.got("b@lmtp.example"),
                       what="delivery over LMTP")
        self.assertEqual(got[0]["rcpts"], ["a@lmtp.example",
                                           "b@lmtp.example"])
        self.wait_log(r"%s: to=<a@lmtp\.example>, relay=lmtp\[%s\]:%d, "
                      r".*status=sent" % (qid, LMTP, self.port))

    def test_transport_map_error_discard_retry(self):
        qid, _ = self.send("", ["e@err.example", "d@disc.example",
                                "r@retry.example"], "local transports")
        self.wait_log(r"%s: to=<e@err\.example>, relay=none, .*dsn=5\.7\.1, "
                      r"status=bounced \(we do not talk to you\)" % qid)
        self.wait_log(r"%s: to=<d@disc\.example>, relay=none, .*dsn=2\.0\.0, "
                      r"status=sent" % qid)
        self.wait_log(r"%s: to=<r@retry\.example>, relay=none, "
                      r".*dsn=4\.3\.2, status=deferred \(not today\)" % qid)
        out = run_postern(self.dir, "queue", "list").stdout
        self.assertRegex(out, r"(?m)^\s+r@retry\.example$")
        self.assertNotRegex(out, r"(?m)^\s+[de]@(disc|err)\.example$")
        for srv in (self.mx2, self.relay, self.lmtp):
            self.assertEqual(srv.got("d@disc.example"), [])
        self.delete(qid)

    def test_4xx_deferred_then_retried(self):
        self.mx2.temp_left = 1
        qid, data = self.send("sender@local.example",
                              ["temp1@remote.example"], "temp")
        self.wait_log(r"%s: to=<temp1@remote\.example>, .*dsn=4\.7\.1, "
                      r"status=deferred" % qid)
        got = wait_for(lambda: self.mx2.got("temp1@remote.example"),
                       timeout=30, what="the retry")
        self.assertEqual(got[0]["data"], data)
        self.wait_log(r"%s: to=<temp1@remote\.example>, .*status=sent" % qid)

    def test_deferred_shows_in_queue(self):
        self.mx2.temp_left = 1000
        try:
            qid, _ = self.send("sender@local.example",
                               ["temp2@remote.example"], "stays")
            self.wait_log(r"%s: to=<temp2@remote\.example>.*"
                          r"status=deferred" % qid)
            out = wait_for(lambda: (lambda o: o if qid in o else None)(
                run_postern(self.dir, "queue", "list").stdout),
                what="the message in the queue")
            self.assertRegex(out, r"(?m)^\s+temp2@remote\.example$")
            self.assertIn("try again later", out)
        finally:
            self.mx2.temp_left = 0
        self.delete(qid)

    def test_5xx_bounces_to_sender_with_dsn(self):
        before = len(self.maildir("sender"))
        qid, _ = self.send("sender@local.example",
                           ["bad1@remote.example", "ok1@remote.example"],
                           "bounce me")
        self.wait_log(r"%s: to=<bad1@remote\.example>, relay=mx\.remote\."
                      r"example\[%s\]:\d+, .*dsn=5\.1\.1, status=bounced"
                      % (qid, MX2))
        files = wait_for(lambda: (lambda f: f if len(f) > before else None)(
            self.maildir("sender")), what="the bounce\n" + self.log())
        with open(files[-1], "rb") as f:
            msg = email.message_from_binary_file(f,
                                                 policy=email.policy.default)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "delivery-status")
        status = [p for p in msg.walk()
                  if p.get_content_type() == "message/delivery-status"]
        self.assertEqual(len(status), 1)
        fields = status[0].get_payload()  # per-message, then per-rcpt
        per_rcpt = fields[1]
        self.assertEqual(per_rcpt["Final-Recipient"],
                         "rfc822; bad1@remote.example")
        self.assertEqual(per_rcpt["Action"], "failed")
        self.assertEqual(per_rcpt["Status"], "5.1.1")
        self.assertNotIn("ok1@remote.example", str(status[0]))
        self.assertTrue(self.mx2.got("ok1@remote.example"))

    def test_no_bounce_to_null_sender(self):
        before = len(self.maildir("sender"))
        qid, _ = self.send("", ["bad2@remote.example"], "from nobody")
        self.wait_log(r"%s: to=<bad2@remote\.example>.*status=bounced" % qid)
        self.wait_log(r"%s: undeliverable notification to the null sender "
                      r"discarded" % qid)
        self.assertNotRegex(self.log(), r"bounce of %s" % qid)
        self.assertEqual(len(self.maildir("sender")), before)

    def test_null_mx_bounces(self):
        qid, _ = self.send("", ["n@nullmx.example"], "null mx")
        self.wait_log(r"%s: to=<n@nullmx\.example>, relay=none, .*"
                      r"dsn=5\.1\.10, status=bounced \(Domain nullmx\.example "
                      r"does not accept mail \(nullMX\)\)" % qid)

    def test_dsn_parameters_passed_on(self):
        data = message("dsn")
        qid = submit_full(self.qsock, "sender@local.example",
                          [("dsn@remote.example", "rfc822;Orig+x@old.example",
                            4 | 8)], data,
                          rec("E", "env 1") + rec("T", "FULL"))
        got = wait_for(lambda: self.mx2.got("dsn@remote.example"),
                       what="the DSN delivery\n" + self.log())
        self.assertIn(" RET=FULL", got[0]["mail"])
        self.assertIn(" ENVID=env+201", got[0]["mail"])
        self.assertEqual(got[0]["rcpt_lines"],
                         ["RCPT TO:<dsn@remote.example> NOTIFY=FAILURE,DELAY"
                          " ORCPT=rfc822;Orig+2Bx@old.example"])
        self.wait_log(r"%s: to=<dsn@remote\.example>.*status=sent" % qid)

    def test_peer_without_extensions(self):
        # No DSN offered: no DSN parameters.
        qid = submit_full(self.qsock, "sender@local.example",
                          [("p@plain.example", "rfc822;p@plain.example", 4)],
                          message("plain"), rec("T", "HDRS"))
        got = wait_for(lambda: self.plain.got("p@plain.example"),
                       what="the plain delivery")
        self.assertEqual(got[0]["mail"], "MAIL FROM:<sender@local.example>")
        self.assertEqual(got[0]["rcpt_lines"], ["RCPT TO:<p@plain.example>"])
        # SMTPUTF8 needed and not offered: bounced (RFC 6531 3.4).
        qid = submit_full(self.qsock, "",
                          [("u8@plain.example", "", 0)],
                          message("utf8"), rec("U", ""))
        self.wait_log(r"%s: to=<u8@plain\.example>, relay=%s\[%s\]:\d+, "
                      r".*dsn=5\.6\.7, status=bounced \(SMTPUTF8 is "
                      r"required" % (qid, PLAIN, PLAIN))
        # An 8-bit body and no 8BITMIME: sent as quoted-printable
        # (RFC 6152 3, queued/outmsg.c); an 8-bit header cannot be
        # converted: bounced with 5.6.3.
        qid = submit_full(self.qsock, "",
                          [("e8@plain.example", "", 0)],
                          message("8bit", "caf\xc3\xa9\r\n"),
                          rec("Y", "8BITMIME"))
        got = wait_for(lambda: self.plain.got("e8@plain.example"),
                       what="the downgraded delivery\n" + self.log())
        self.assertTrue(all(b < 0x80 for b in got[0]["data"]), got[0])
        self.assertIn(b"quoted-printable", got[0]["data"])
        self.assertNotIn("BODY=8BITMIME", got[0]["mail"])
        qid = submit_full(self.qsock, "",
                          [("h8@plain.example", "", 0)],
                          message("caf\xc3\xa9"), rec("Y", "8BITMIME"))
        self.wait_log(r"%s: to=<h8@plain\.example>, .*dsn=5\.6\.3, "
                      r"status=bounced" % qid)
        self.assertEqual(self.plain.got("h8@plain.example"), [])

    def test_connection_reused(self):
        for i in range(3):
            qid, _ = self.send("sender@local.example",
                               ["reuse%d@relay.example" % i], "reuse")
            wait_for(lambda: self.relay.got("reuse%d@relay.example" % i))
            if i == 0:
                first = self.relay.connections
        self.assertEqual(self.relay.connections, first)

    def test_dead_destination_holds_only_its_mail(self):
        slow = [self.send("sender@local.example", ["s%d@slow.example" % i],
                          "slow")[0] for i in range(4)]
        # Two connections at most (default_destination_concurrency_limit),
        # waiting for a greeting that never comes...
        wait_for(lambda: self.blackhole.open_now() == 2,
                 what="two connections to the dead destination")
        # ...while mail to elsewhere goes at once.
        t0 = time.time()
        qid, _ = self.send("sender@local.example", ["fast@relay.example"],
                           "fast")
        wait_for(lambda: self.relay.got("fast@relay.example"), timeout=4,
                 what="the other destination's delivery")
        self.assertLess(time.time() - t0, 4)
        self.assertLessEqual(self.blackhole.open_now(), 2)
        self.wait_log(r"%s: to=<s0@slow\.example>, .*dsn=4\.4\.1, "
                      r"status=deferred \(conversation with %s\[%s\]:\d+ "
                      r"timed out while receiving the initial greeting\)"
                      % (slow[0], BLACKHOLE, BLACKHOLE), timeout=30)
        for q in slow:
            self.wait_log(r"%s: to=<s\d@slow\.example>.*status=deferred" % q,
                          timeout=30)
            self.delete(q)

    def test_zz_relayhost(self):
        # Runs last: relayhost takes every non-hosted domain the map
        # leaves, also the MX ones of the other tests.
        run_postern(self.dir, "config", "set",
                    "relayhost=[%s]:%d" % (RELAY, self.port))
        try:
            self.reload_and_wait(("queued",))
            qid, data = self.send("sender@local.example",
                                  ["y@anywhere.example"], "relayhost")
            got = wait_for(lambda: self.relay.got("y@anywhere.example"),
                           what="delivery to the relayhost\n" + self.log())
            self.assertEqual(got[0]["data"], data)
            self.wait_log(r"%s: to=<y@anywhere\.example>, relay=%s\[%s\]:%d"
                          % (qid, RELAY, RELAY, self.port))
        finally:
            run_postern(self.dir, "config", "set", "relayhost=")
            run_postern(self.dir, "reload")


if __name__ == "__main__":
    unittest.main(verbosity=2)
