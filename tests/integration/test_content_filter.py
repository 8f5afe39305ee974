#!/usr/bin/env python3
"""Content filters the amavis way (docs/content-filter.md): mail taken
by the smtp listener goes whole to a filter (content_filter, or a FILTER
action of an access table or of header_checks), the filter hands it back
over a reinjection listener (a second smtpd service with -o overrides)
whose mail is not filtered again, and only then is it delivered.

The filters are real SMTP servers in this process (postern_site's
SmtpReceiver with an on_message hook): each adds "X-Filtered: NAME" and
reinjects the message with smtplib before it answers 250, as amavis
does.  Checked: filtered exactly once and delivered with the header,
every recipient in one transaction, mail from `postern sendmail` too;
FILTER from check_sender_access, a policy service and header_checks pick
another filter; a filter that is down defers the
mail, which is delivered once it is back (none lost); the reinjection
listener refuses clients outside its $mynetworks.

FilterSigning (docs/content-filter.md "DKIM signing"): an authenticated
user's mail to a remote domain goes to a filter that changes the body;
the filter's copy has no DKIM-Signature, and the remote receiver gets
exactly one (an RSA key only), which dkimpy verifies (test_dkim's
verifier, keys in the test DNS), signed by the reinjection listener's
smtpd_dkim_sign_reinjected.
"""
import json
import os
import smtplib
import socket
import socketserver
import subprocess
import threading
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (SiteTestCase, SmtpReceiver, free_ports,  # noqa
                          maildir_find, run_postern, tls_context, wait_for)

PASSWORD = "correct horse battery"

# The reinjection listener: no filter again, no header/body checks, and
# only this host may use it (it relays for its clients).
SERVICES = """\
# written by test_content_filter.py
smtp       inet  $inet_interfaces:$smtp_port  none  1  postern-smtpd
reinject   inet  127.0.0.1:{reinject}         none  1  postern-smtpd
  -o content_filter=
  -o receive_override_options=no_header_body_checks,no_milters
  -o mynetworks=127.0.0.1/32
  -o smtpd_client_restrictions=permit_mynetworks,reject
  -o smtpd_helo_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_relay_restrictions=permit_mynetworks,reject
  -o smtpd_recipient_restrictions=
lmtp-unix  unix  $lmtp_socket                 none  1  postern-lmtpd
queue      unix  $queue_socket                none  1  postern-queued
"""


class Filter:
    """A content filter on 127.0.0.1:port that adds X-Filtered: NAME and
    reinjects to the reinjection port before answering."""

    def __init__(self, name, port, reinject_port, footer=b""):
        self.name, self.port, self.reinject = name, port, reinject_port
        self.footer = footer  # appended to the body, as a DLP note
        self.recv = None
        self.start()

    def start(self):
        self.recv = SmtpReceiver("127.0.0.1", self.port,
                                 on_message=self.reinject_msg)

    def stop(self):
        self.recv.stop()

    def reinject_msg(self, msg):
        sender = msg["mail"].split("<", 1)[1].split(">", 1)[0]
        data = (b"X-Filtered: " + self.name.encode() + b"\r\n" +
                msg["data"] + self.footer)
        with smtplib.SMTP("127.0.0.1", self.reinject, timeout=20) as s:
            s.ehlo("filter.test")
            s.sendmail(sender, msg["rcpts"], data)

    def got(self, tok):
        with self.recv.lock:
            return [m for m in self.recv.messages if tok.encode() in m["data"]]


class Policy(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A policy service (Postfix's delegation protocol) answering
    FILTER for sender pol@x.test, DUNNO otherwise."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, action):
        self.action = action

        class Handler(socketserver.StreamRequestHandler):
            def handle(h):
                attrs = {}
                for line in h.rfile:
                    line = line.decode().rstrip("\n")
                    if line == "":
                        act = (self.action
                               if attrs.get("sender") == "pol@x.test"
                               else "DUNNO")
                        h.wfile.write(("action=%s\n\n" % act).encode())
                        attrs = {}
                        continue
                    k, _, v = line.partition("=")
                    attrs[k] = v
        super().__init__(("127.0.0.1", port), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class ContentFilter(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-cfilter.")
        settings = cls.pick_ports()
        (cls.reinject, p1, p2, p3, cls.down_port, pp) = free_ports(6)
        cls.policy = Policy(pp, "FILTER smtp:[127.0.0.1]:%d" % p2)
        d = cls.dir
        with open(os.path.join(d, "sender_access"), "w") as f:
            f.write("f2@x.test FILTER smtp:[127.0.0.1]:%d\n" % p2)
            f.write("down@x.test FILTER smtp:[127.0.0.1]:%d\n" % cls.down_port)
            f.write("bad@x.test FILTER nocolon\n")
        with open(os.path.join(d, "header_checks"), "w") as f:
            f.write("/^Subject: .*use-f3/ FILTER smtp:[127.0.0.1]:%d\n" % p3)
            # Seen before the filter only (the reinjection listener
            # has no_header_body_checks): a WARN line per pass.
            f.write("/^Subject: / WARN header seen\n")
        settings += [
            "stop_timeout=5s", "myhostname=mail.d.test",
            "content_filter=smtp:[127.0.0.1]:%d" % p1,
            "smtpd_sender_restrictions=check_sender_access "
            "texthash:%s/sender_access" % d,
            "header_checks=pcre:%s/header_checks" % d,
            "smtpd_recipient_restrictions=check_policy_service "
            "inet:127.0.0.1:%d" % pp,
            "minimal_backoff_time=1s", "maximal_backoff_time=2s",
            "queue_run_delay=1s", "smtp_connect_timeout=5s"]
        cls.configure(SERVICES.format(reinject=cls.reinject), *settings)
        run_postern(d, "domain", "add", "d.test")
        for m in ("alice", "carol"):
            run_postern(d, "mailbox", "add", m + "@d.test",
                        "--password-stdin", stdin=PASSWORD + "\n")
        cls.f1 = Filter("f1", p1, cls.reinject)
        cls.f2 = Filter("f2", p2, cls.reinject)
        cls.f3 = Filter("f3", p3, cls.reinject)
        run_postern(d, "start")
        cls.started = True

    @classmethod
    def tearDownClass(cls):
        for name in ("f1", "f2", "f3"):
            if hasattr(cls, name):
                getattr(cls, name).stop()
        if hasattr(cls, "policy"):
            cls.policy.shutdown()
            cls.policy.server_close()
        super().tearDownClass()

    # ---- helpers

    def found(self, user, tok):
        """Every delivered copy of tok's message in user's Maildir."""
        return maildir_find(self.dir, "d.test", user, tok)

    def delivered(self, tok, user="alice", timeout=20):
        return wait_for(lambda: self.found(user, tok), timeout,
                        "mail for %s with %s\n%s" % (user, tok,
                                                     self.log()[-3000:]))[0]

    def send(self, sender="s@x.test", rcpts=("alice@d.test",),
             subject="hello"):
        tok = uuid.uuid4().hex
        msg = ("From: %s\r\nSubject: %s %s\r\n\r\nbody %s\r\n"
               % (sender, subject, tok, tok))
        with smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=20) as s:
            s.ehlo("client.test")
            s.sendmail(sender, list(rcpts), msg.encode())
        return tok

    def only_through(self, tok, name):
        """tok's message went through filter name, exactly once, and
        through no other."""
        flt = {"f1": self.f1, "f2": self.f2, "f3": self.f3}
        # The filter records the message after its reinjection is
        # answered, which may be after the delivery.
        wait_for(lambda: flt[name].got(tok), 10, "filter %s's copy" % name)
        for n, f in flt.items():
            self.assertEqual(len(f.got(tok)), 1 if n == name else 0,
                             "filter %s" % n)

    # ---- tests

    def test_filtered_once_all_recipients(self):
        tok = self.send(rcpts=("alice@d.test", "carol@d.test"))
        for user in ("alice", "carol"):
            msg = self.delivered(tok, user)
            self.assertEqual(msg.count("X-Filtered: "), 1, msg)
            self.assertIn("X-Filtered: f1\n", msg)
        time.sleep(1)  # a second pass would show up by now
        self.only_through(tok, "f1")
        got = self.f1.got(tok)[0]
        # Whole: both recipients in one transaction.
        self.assertEqual(sorted(got["rcpts"]),
                         ["alice@d.test", "carol@d.test"])
        self.assertEqual(len(self.found("alice", tok)), 1)
        self.assertEqual(len(self.found("carol", tok)), 1)
        # header_checks ran before the filter only.
        lines = [x for x in self.log().splitlines()
                 if tok in x and "header seen" in x]
        self.assertEqual(len(lines), 1, lines)

    def test_filter_from_sender_access(self):
        tok = self.send(sender="f2@x.test")
        msg = self.delivered(tok)
        self.assertIn("X-Filtered: f2\n", msg)
        self.assertEqual(msg.count("X-Filtered: "), 1, msg)
        self.only_through(tok, "f2")
        self.wait_log(r"filter: access: smtp:\[127\.0\.0\.1\]:%d"
                      % self.f2.port)

    def test_sendmail_filtered(self):
        # postern sendmail -> maildrop -> pickup: $content_filter too.
        tok = uuid.uuid4().hex
        run_postern(self.dir, "sendmail", "-f", "s@x.test", "alice@d.test",
                    stdin="Subject: local %s\n\nbody %s\n" % (tok, tok))
        msg = self.delivered(tok)
        self.assertIn("X-Filtered: f1\n", msg)
        self.assertEqual(msg.count("X-Filtered: "), 1, msg)
        self.only_through(tok, "f1")

    def test_filter_from_policy_service(self):
        tok = self.send(sender="pol@x.test")
        msg = self.delivered(tok)
        self.assertIn("X-Filtered: f2\n", msg)
        self.assertEqual(msg.count("X-Filtered: "), 1, msg)
        self.only_through(tok, "f2")

    def test_filter_from_header_checks(self):
        # header_checks come after the sender's access FILTER: the last
        # one wins.
        tok = self.send(sender="f2@x.test", subject="use-f3")
        msg = self.delivered(tok)
        self.assertIn("X-Filtered: f3\n", msg)
        self.assertEqual(msg.count("X-Filtered: "), 1, msg)
        self.only_through(tok, "f3")
        self.wait_log(r"filter: header_checks: smtp:\[127\.0\.0\.1\]:%d"
                      % self.f3.port)

    def test_invalid_filter_ignored(self):
        # "FILTER nocolon" is not transport:nexthop: logged, and the
        # message takes $content_filter as if there were none.
        tok = self.send(sender="bad@x.test")
        self.assertIn("X-Filtered: f1\n", self.delivered(tok))
        self.wait_log(r'FILTER "nocolon" is not transport:nexthop')

    def test_filter_down_then_back(self):
        toks = [self.send(sender="down@x.test") for _ in range(3)]
        self.wait_log(r"to=<alice@d\.test>, relay=127\.0\.0\.1"
                      r"\[127\.0\.0\.1\]:%d, .*status=deferred"
                      % self.down_port, timeout=30)
        time.sleep(1)
        listed = run_postern(self.dir, "queue", "list").stdout
        self.assertEqual(listed.count("down@x.test"), 3, listed)
        for tok in toks:
            self.assertEqual(self.found("alice", tok), [])
        flt = Filter("f4", self.down_port, self.reinject)
        try:
            for tok in toks:
                msg = self.delivered(tok, timeout=40)
                self.assertIn("X-Filtered: f4\n", msg)
                self.assertEqual(msg.count("X-Filtered: "), 1, msg)
                wait_for(lambda: flt.got(tok), 10, "f4's copy")
                self.assertEqual(len(flt.got(tok)), 1)
            # And nothing of it is left in the queue.
            wait_for(lambda: "down@x.test" not in run_postern(
                self.dir, "queue", "list").stdout, 20, "an empty queue")
        finally:
            flt.stop()

    def test_reinjection_refuses_other_clients(self):
        def rcpt_from(source, rcpt):
            sock = socket.create_connection(("127.0.0.1", self.reinject),
                                            timeout=15,
                                            source_address=(source, 0))
            f = sock.makefile("rb")

            def cmd(line):
                if line is not None:
                    sock.sendall(line.encode() + b"\r\n")
                while True:
                    r = f.readline().decode()
                    if r[3:4] != "-":
                        return r.strip()
            try:
                cmd(None)
                cmd("EHLO outside.test")
                cmd("MAIL FROM:<s@x.test>")
                return cmd("RCPT TO:<%s>" % rcpt)
            finally:
                sock.close()
        # 127.0.0.2 is outside the listener's mynetworks (127.0.0.1/32).
        for rcpt in ("alice@d.test", "victim@remote.example"):
            self.assertRegex(rcpt_from("127.0.0.2", rcpt), r"^554 5\.7\.1")
        # The filter's own host may relay (that is its job).
        self.assertRegex(rcpt_from("127.0.0.1", "victim@remote.example"),
                         r"^250 ")
        # And the listener is bound to 127.0.0.1 alone.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.2", self.reinject), timeout=5)


# Signing after the filter: an authenticated submission listener whose
# mail goes to the filter, and the reinjection listener that signs what
# the filter hands back.
SIGN_SERVICES = """\
# written by test_content_filter.py (FilterSigning)
submission inet  $inet_interfaces:$submission_port  starttls  1  postern-smtpd
reinject   inet  127.0.0.1:{reinject}         none  1  postern-smtpd
  -o content_filter=
  -o receive_override_options=no_header_body_checks,no_milters
  -o mynetworks=127.0.0.1/32
  -o smtpd_client_restrictions=permit_mynetworks,reject
  -o smtpd_relay_restrictions=permit_mynetworks,reject
  -o smtpd_recipient_restrictions=
  -o smtpd_dkim_sign_reinjected=yes
lmtp-unix  unix  $lmtp_socket                 none  1  postern-lmtpd
queue      unix  $queue_socket                none  1  postern-queued
"""
SIGN_MX = "127.0.0.33"
FOOTER = b"-- \r\nScanned by the test filter.\r\n"


class FilterSigning(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        import test_dkim
        from dnsserver import DnsServer, Zone, available
        why = available() or test_dkim.dkimpy_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.dk = test_dkim
        cls.make_site("postern-cfsign.")
        settings = cls.pick_ports()
        cls.reinject, pf, cls.mx_port = free_ports(3)
        run_postern(cls.dir, "config", "set", *settings)
        run_postern(cls.dir, "domain", "add", "signer.example")
        run_postern(cls.dir, "mailbox", "add", "alice@signer.example",
                    "--password-stdin", stdin=PASSWORD + "\n")
        # One key, so "signed once" is "one DKIM-Signature".
        out = run_postern(cls.dir, "dkim", "generate", "signer.example",
                          "--algorithm", "rsa").stdout
        records = test_dkim.Dkim.zone_records(out, "signer.example")
        assert len(records) == 1, out
        cls.dns = DnsServer([
            Zone("signer.example", records),
            Zone("remote.example", [("@", "MX", "10 mx"),
                                    ("mx", "A", SIGN_MX)]),
        ]).start()
        cls.resolver_port = int(cls.dns.resolver.split("@")[1])
        cls.mx = SmtpReceiver(SIGN_MX, cls.mx_port)
        cls.flt = Filter("fs", pf, cls.reinject, footer=FOOTER)
        cls.configure(SIGN_SERVICES.format(reinject=cls.reinject),
                      "log_target=file", "stop_timeout=5s",
                      "myhostname=mx.signer.example",
                      "content_filter=smtp:[127.0.0.1]:%d" % pf,
                      "queue_run_delay=1s", "minimal_backoff_time=1s",
                      "maximal_backoff_time=2s",
                      "smtp_tcp_port=%d" % cls.mx_port,
                      "smtp_connect_timeout=5s",
                      *cls.dns.settings()[1::2])
        run_postern(cls.dir, "start")
        cls.started = True

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for name in ("flt", "mx", "dns"):
            if hasattr(cls, name):
                getattr(cls, name).stop()

    def verify(self, data):
        p = subprocess.run([self.dk.VERIFIER_PYTHON, "-c", self.dk.VERIFIER,
                            str(self.resolver_port)], input=data,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return json.loads(p.stdout)

    def test_signed_once_after_the_filter(self):
        tok = uuid.uuid4().hex
        msg = ("From: Alice <alice@signer.example>\r\n"
               "To: bob@remote.example\r\nSubject: signed %s\r\n"
               "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
               "Message-ID: <%s@signer.example>\r\n\r\nbody %s\r\n"
               % (tok, tok, tok))
        with smtplib.SMTP("127.0.0.1", self.ports["submission"],
                          timeout=20) as s:
            s.ehlo("client.example")
            s.starttls(context=tls_context())
            s.ehlo("client.example")
            s.login("alice@signer.example", PASSWORD)
            s.sendmail("alice@signer.example", ["bob@remote.example"],
                       msg.encode())

        def arrived():
            return [m for m in self.mx.got("bob@remote.example")
                    if tok.encode() in m["data"]]
        got = wait_for(arrived, 30, "delivery to remote.example\n%s"
                       % self.log()[-3000:])
        self.assertEqual(len(got), 1)
        data = got[0]["data"]
        # What the filter did is there, under one signature that covers
        # it: the filter's body change did not break anything.
        self.assertIn(FOOTER, data)
        self.assertIn(b"X-Filtered: fs\r\n", data)
        self.assertEqual(data.count(b"DKIM-Signature:"), 1, data[:2000])
        res = self.verify(data)
        self.assertEqual(len(res), 1, res)
        self.assertTrue(res[0]["ok"], res)
        self.assertEqual((res[0]["a"], res[0]["d"]),
                         ("rsa-sha256", "signer.example"))
        # The verifier is not fooled: the body without the footer fails.
        bad = self.verify(data.replace(FOOTER, b""))
        self.assertFalse(bad[0]["ok"], bad)
        # The copy the filter received was not signed.
        copies = self.flt.got(tok)
        self.assertEqual(len(copies), 1)
        self.assertNotIn(b"DKIM-Signature", copies[0]["data"])
        self.assertNotIn(FOOTER, copies[0]["data"])


if __name__ == "__main__":
    unittest.main()
