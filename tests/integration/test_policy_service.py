#!/usr/bin/env python3
"""check_policy_service (mta/smtpd-policy.c) through a real
postern-smtpd: Postfix's policy delegation protocol against the real
postgrey (greylisting: deferred, then accepted after its delay) and
against policy servers written here, one reply action per case, plus
servers that are dead or never answer (default_action), connection
reuse and its limits, and the attributes sent.

The recipient list dispatches on the recipient's extension
(alice+EXT@hosted.example) through an access table to a restriction
class naming one policy service; each class ends with permit or
reject, so what the policy answer did shows in the reply.
"""
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (SiteTestCase, SmtpSession,  # noqa: E402
                          free_ports, run_postern)

DOM = "hosted.example"
POSTGREY = "/usr/sbin/postgrey"
GREY_DELAY = 2

# What the scripted server answers, by the recipient's extension
# (after "p-" or "q-").
ACTIONS = {
    "ok": "action=OK",
    "reject": "action=REJECT",
    "rejtext": "action=REJECT 5.7.9 go away",
    "dunno": "action=DUNNO",
    "c450": "action=450 4.2.0 mailbox busy",
    "c550": "action=550 5.1.1 no such user here",
    "dip": "action=DEFER_IF_PERMIT try later please",
    "defer": "action=DEFER",
    "prepend": "action=PREPEND X-Policy: seen",
    "noaction": "foo=bar",
    "bogus": "action=FROBNICATE",
    "hold": "action=HOLD held by policy",
    "discard": "action=DISCARD dropped by policy",
}


class PolicyHandler(socketserver.StreamRequestHandler):
    """One connection: any number of requests (Postfix reuses them)."""

    def handle(self):
        srv = self.server
        with srv.lock:
            srv.connections += 1
        while True:
            attrs = {}
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line == "":
                    break
                k, _, v = line.partition("=")
                attrs[k] = v
            with srv.lock:
                srv.requests.append(attrs)
            if srv.silent:
                # Never answer: the client must time out.
                time.sleep(30)
                return
            self.wfile.write((srv.decide(attrs) + "\n\n").encode())
            self.wfile.flush()


def decide(attrs):
    if attrs.get("protocol_state") == "DATA":
        if attrs.get("sender", "").startswith("datareject@"):
            return "action=REJECT no data from you"
        return "action=DUNNO"
    local = attrs.get("recipient", "").split("@")[0]
    ext = local.split("+", 1)[1] if "+" in local else ""
    return ACTIONS.get(ext[2:], "action=DUNNO")


class PolicyServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, silent=False, address=("127.0.0.1", 0),
                 family=socket.AF_INET):
        self.address_family = family
        super().__init__(address, PolicyHandler)
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = []
        self.silent = silent
        self.decide = decide
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def counts(self):
        with self.lock:
            return self.connections, len(self.requests)


class UnixPolicyServer(socketserver.ThreadingMixIn,
                       socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path):
        super().__init__(path, PolicyHandler)
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = []
        self.silent = False
        self.decide = decide
        threading.Thread(target=self.serve_forever, daemon=True).start()


class PolicyServiceTests(SiteTestCase):

    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-policy.")
        d = cls.dir
        cls.py = PolicyServer()
        cls.py_limit = PolicyServer()
        cls.py_idle = PolicyServer()
        cls.slow = PolicyServer(silent=True)
        cls.unix_path = os.path.join(d, "policy.sock")
        cls.unix = UnixPolicyServer(cls.unix_path)
        cls.dead = free_ports(1)[0]
        cls.grey = None
        if os.access(POSTGREY, os.X_OK):
            cls.start_postgrey()
        py = "inet:127.0.0.1:%d" % cls.py.server_address[1]
        classes = {
            "c_py_permit": "check_policy_service %s, permit" % py,
            "c_py_reject": "check_policy_service %s, reject" % py,
            "c_unix": "check_policy_service unix:%s, reject" % cls.unix_path,
            "c_limit": "check_policy_service { inet:127.0.0.1:%d, "
                       "request_limit=1 }, permit"
                       % cls.py_limit.server_address[1],
            "c_idle": "check_policy_service { inet:127.0.0.1:%d, "
                      "max_idle=1s }, permit" % cls.py_idle.server_address[1],
            "c_dead": "check_policy_service { inet:127.0.0.1:%d, "
                      "retry_delay=0 }, permit" % cls.dead,
            "c_dead_dunno": "check_policy_service { inet:127.0.0.1:%d, "
                            "default_action=DUNNO }, permit" % cls.dead,
            "c_slow": "check_policy_service { inet:127.0.0.1:%d, "
                      "timeout=2s, try_limit=1, default_action=450 4.7.0 "
                      "policy too slow }, permit"
                      % cls.slow.server_address[1],
            "c_grey": "check_policy_service inet:127.0.0.1:%d, permit"
                      % (cls.grey_port if cls.grey else cls.dead),
            # A log line before two policy answers: the check is run
            # again after each answer, the line must appear once.
            "c_twice": "check_recipient_access texthash:%s/warn_access, "
                       "check_policy_service %s, check_policy_service "
                       "unix:%s, permit" % (d, py, cls.unix_path),
        }
        settings = cls.pick_ports()
        settings += ["myhostname=mx.test", "stop_timeout=5s",
                     # One worker: a check waiting for a policy server
                     # must not hold it (test_not_blocking).
                     "worker_threads=1",
                     "smtpd_soft_error_limit=1000",
                     "smtpd_hard_error_limit=1000",
                     "smtpd_error_sleep_time=0",
                     "smtpd_policy_service_retry_delay=0"]
        run_postern(d, "config", "set", *settings)
        with open(os.path.join(d, "rcpt_access"), "w") as f:
            for ext in ACTIONS:
                f.write("alice+p-%s@%s c_py_permit\n" % (ext, DOM))
                f.write("alice+q-%s@%s c_py_reject\n" % (ext, DOM))
            for name in classes:
                f.write("alice+%s@%s %s\n" % (name[2:], DOM, name))
            f.write("alice@%s OK\n" % DOM)
        with open(os.path.join(d, "warn_access"), "w") as f:
            f.write("alice+twice@%s WARN once only\n" % DOM)
        with open(os.path.join(d, "main.cf"), "a") as f:
            f.write("smtpd_restriction_classes = %s\n" % " ".join(classes))
            for name, value in classes.items():
                f.write("%s = %s\n" % (name, value))
            f.write("smtpd_recipient_restrictions = check_recipient_access "
                    "texthash:%s/rcpt_access, reject\n" % d)
            f.write("smtpd_data_restrictions = %s\n" % classes["c_py_permit"])
        with open(os.path.join(d, "services.cf"), "w") as f:
            f.write(
                "smtp   inet  127.0.0.1:$smtp_port  none  1  postern-smtpd\n"
                "queue  unix  $queue_socket  none  1  postern-queued\n"
                "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n")
        run_postern(d, "domain", "add", DOM)
        run_postern(d, "mailbox", "add", "alice@" + DOM, "--password-stdin",
                    stdin="pw-alice-secret\n")
        run_postern(d, "start")
        cls.started = True
        cls.port = cls.ports["smtp"]

    @classmethod
    def start_postgrey(cls):
        gdir = os.path.join(cls.dir, "postgrey")
        os.mkdir(gdir)
        cls.grey_port = free_ports(1)[0]
        cls.grey_log = open(os.path.join(gdir, "log"), "w")
        cls.grey = subprocess.Popen(
            [POSTGREY, "--inet=127.0.0.1:%d" % cls.grey_port,
             "--dbdir=" + gdir, "--delay=%d" % GREY_DELAY,
             "--pidfile=" + os.path.join(gdir, "pid"),
             "--whitelist-clients=/dev/null",
             "--whitelist-recipients=/dev/null"]
            + (["--user=root", "--group=root"] if os.getuid() == 0 else []),
            stdout=subprocess.DEVNULL, stderr=cls.grey_log)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", cls.grey_port),
                                         timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("postgrey did not start")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if getattr(cls, "grey", None) is not None:
            cls.grey.terminate()
            cls.grey.wait(10)
            cls.grey_log.close()
        for s in ("py", "py_limit", "py_idle", "slow", "unix"):
            if hasattr(cls, s):
                getattr(cls, s).shutdown()

    # ---- helpers

    def log(self):
        with open(os.path.join(self.dir, "log", "postern.log"),
                  errors="replace") as f:
            return f.read()

    def rcpt(self, ext, sender="s@sender.example", mail_extra=""):
        c = SmtpSession(self.port)
        try:
            self.assertTrue(c.greeting.startswith("220"), c.greeting)
            self.assertTrue(c.cmd("EHLO client.example").startswith("250"))
            r = c.cmd("MAIL FROM:<%s>%s" % (sender, mail_extra))
            self.assertTrue(r.startswith("250"), r)
            return c.cmd("RCPT TO:<alice+%s@%s>" % (ext, DOM))
        finally:
            c.close()

    def last_request(self, server, rcpt_ext):
        want = "alice+%s@%s" % (rcpt_ext, DOM)
        with server.lock:
            for a in reversed(server.requests):
                if a.get("recipient") == want:
                    return a
        self.fail("no request for %s" % want)

    # ---- actions

    def test_ok_and_dunno(self):
        self.assertTrue(self.rcpt("q-ok").startswith("250 "))
        # DUNNO goes on to the class's final reject.
        self.assertEqual(self.rcpt("q-dunno"),
                         "554 5.7.1 <alice+q-dunno@%s>: Recipient address "
                         "rejected: Access denied" % DOM)
        self.assertTrue(self.rcpt("p-dunno").startswith("250 "))

    def test_reject(self):
        self.assertEqual(self.rcpt("p-reject"),
                         "554 5.7.1 <alice+p-reject@%s>: Recipient address "
                         "rejected: Access denied" % DOM)
        self.assertEqual(self.rcpt("p-rejtext"),
                         "554 5.7.9 <alice+p-rejtext@%s>: Recipient address "
                         "rejected: go away" % DOM)
        self.assertEqual(self.rcpt("p-defer"),
                         "450 4.7.1 <alice+p-defer@%s>: Recipient address "
                         "rejected: Access denied" % DOM)

    def test_codes(self):
        self.assertEqual(self.rcpt("p-c450"), "450 4.2.0 mailbox busy")
        self.assertEqual(self.rcpt("p-c550"), "550 5.1.1 no such user here")

    def test_defer_if_permit(self):
        self.assertEqual(self.rcpt("p-dip"),
                         "450 4.7.1 <alice+p-dip@%s>: Recipient address "
                         "rejected: try later please" % DOM)
        # A later reject wins over the deferral.
        self.assertEqual(self.rcpt("q-dip"),
                         "554 5.7.1 <alice+q-dip@%s>: Recipient address "
                         "rejected: Access denied" % DOM)

    def test_prepend(self):
        self.assertTrue(self.rcpt("p-prepend").startswith("250 "))
        # PREPEND does not decide: the reject after it still runs.
        self.assertTrue(self.rcpt("q-prepend").startswith("554 "))
        self.assertIn("prepend: RCPT from", self.log())
        self.assertIn("triggers prepend: X-Policy: seen", self.log())

    def test_bad_replies(self):
        self.assertEqual(self.rcpt("p-noaction"),
                         "451 4.3.5 Server configuration problem")
        self.assertEqual(self.rcpt("p-bogus"),
                         "451 4.3.5 Server configuration error")

    def test_unix_socket(self):
        self.assertTrue(self.rcpt("unix").startswith("554 "))
        before = len(self.unix.requests)
        self.assertTrue(self.rcpt("p-ok").startswith("250"))
        self.assertEqual(len(self.unix.requests), before)
        # The unix server answers by extension too: "unix" -> DUNNO.
        self.assertEqual(self.unix.requests[-1]["recipient"],
                         "alice+unix@" + DOM)

    # ---- HOLD and DISCARD act on the message

    def send(self, ext, token):
        """Send a message to alice+EXT; the reply to the end of DATA."""
        c = SmtpSession(self.port)
        try:
            c.cmd("EHLO client.example")
            self.assertTrue(c.cmd("MAIL FROM:<s@sender.example>")
                            .startswith("250"))
            r = c.cmd("RCPT TO:<alice+%s@%s>" % (ext, DOM))
            self.assertTrue(r.startswith("250"), r)
            self.assertTrue(c.cmd("DATA").startswith("354"))
            return c.cmd("Subject: %s\r\n\r\nbody %s\r\n." % (token, token))
        finally:
            c.close()

    def delivered(self, token):
        top = os.path.join(self.dir, "mail")
        for root, _, files in os.walk(top):
            for name in files:
                if os.sep + "new" not in root and os.sep + "cur" not in root:
                    continue
                with open(os.path.join(root, name), "rb") as f:
                    if token.encode() in f.read():
                        return True
        return False

    def wait_delivered(self, token, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.delivered(token):
                return
            time.sleep(0.2)
        self.fail("not delivered: " + token)

    def test_discard(self):
        tok = "discarded-%d" % os.getpid()
        r = self.send("p-discard", tok)
        self.assertRegex(r, r"^250 2\.0\.0 Ok: queued as \S+$")
        # A message sent after it arrives; the discarded one never does.
        ctl = "control-%d" % os.getpid()
        self.assertTrue(self.send("p-ok", ctl).startswith("250 "))
        self.wait_delivered(ctl)
        time.sleep(0.5)
        self.assertFalse(self.delivered(tok))
        self.assertNotIn(tok, run_postern(self.dir, "queue", "list").stdout)
        self.assertIn("discard: from=<s@sender.example>", self.log())

    def test_hold(self):
        tok = "hold-%d" % os.getpid()
        r = self.send("p-hold", tok)
        m = re.match(r"^250 2\.0\.0 Ok: queued as (\S+)$", r)
        self.assertTrue(m, r)
        qid = m.group(1)
        deadline = time.time() + 10
        while time.time() < deadline:
            out = run_postern(self.dir, "queue", "list").stdout
            if re.search(r"(?m)^%s\s*!" % qid, out):
                break
            time.sleep(0.2)
        self.assertRegex(out, r"(?m)^%s\s*!" % qid)
        time.sleep(1.5)
        self.assertFalse(self.delivered("body " + tok))
        r = run_postern(self.dir, "queue", "release", qid)
        self.assertIn("1 message released", r.stdout)
        self.wait_delivered("body " + tok)

    # ---- failures

    def test_dead_service(self):
        self.assertEqual(self.rcpt("dead"),
                         "451 4.3.5 Server configuration problem")
        self.assertTrue(self.rcpt("dead_dunno").startswith("250 "))
        self.assertIn("check_policy_service inet:127.0.0.1:%d" % self.dead,
                      self.log())

    def test_slow_service(self):
        t0 = time.time()
        self.assertEqual(self.rcpt("slow"), "450 4.7.0 policy too slow")
        took = time.time() - t0
        self.assertGreaterEqual(took, 1.9)
        self.assertLess(took, 10)

    def test_log_once(self):
        self.assertTrue(self.rcpt("twice").startswith("250 "))
        self.assertEqual(self.log().count("triggers warn: once only"), 1)
        # Both services were asked.
        self.assertEqual(self.last_request(self.unix, "twice")["recipient"],
                         "alice+twice@" + DOM)
        self.last_request(self.py, "twice")

    def test_not_blocking(self):
        # While one session waits 2 s for the silent server, another is
        # answered: the only worker thread is not held by the wait.
        want = "alice+slow@" + DOM

        def asked():
            with self.slow.lock:
                return sum(a.get("recipient") == want
                           for a in self.slow.requests)
        n = asked()
        slow = {}
        t = threading.Thread(target=lambda: slow.update(r=self.rcpt("slow")))
        t.start()
        # The wait starts when the silent server has the request (not
        # after a fixed sleep: a loaded machine may be slower to get
        # there); held by it, the worker would answer q-ok only after
        # the 2 s timeout from then.
        deadline = time.time() + 10
        while asked() == n:
            self.assertLess(time.time(), deadline, "no slow request")
            time.sleep(0.01)
        t0 = time.time()
        self.assertTrue(self.rcpt("q-ok").startswith("250 "))
        self.assertLess(time.time() - t0, 1.8)
        t.join()
        self.assertEqual(slow["r"], "450 4.7.0 policy too slow")

    # ---- connections

    def test_connection_reuse(self):
        c0, r0 = self.py.counts()
        for _ in range(5):
            self.assertTrue(self.rcpt("p-ok").startswith("250"))
        c1, r1 = self.py.counts()
        self.assertEqual(r1 - r0, 5)
        # One idle connection serves the requests one after another.
        self.assertLessEqual(c1 - c0, 1)

    def test_request_limit(self):
        c0, r0 = self.py_limit.counts()
        for _ in range(3):
            self.assertTrue(self.rcpt("limit").startswith("250"))
        c1, r1 = self.py_limit.counts()
        self.assertEqual((c1 - c0, r1 - r0), (3, 3))

    def test_max_idle(self):
        self.assertTrue(self.rcpt("idle").startswith("250"))
        self.assertTrue(self.rcpt("idle").startswith("250"))
        c0, _ = self.py_idle.counts()
        time.sleep(1.5)
        self.assertTrue(self.rcpt("idle").startswith("250"))
        c1, _ = self.py_idle.counts()
        self.assertEqual(c1 - c0, 1)

    # ---- the request

    def test_attributes(self):
        self.assertTrue(self.rcpt("p-ok", sender="Attr@Sender.Example",
                                  mail_extra=" SIZE=1234")
                        .startswith("250"))
        a = self.last_request(self.py, "p-ok")
        for name in ("request", "protocol_state", "protocol_name",
                     "helo_name", "queue_id", "sender", "recipient",
                     "recipient_count", "client_address", "client_name",
                     "reverse_client_name", "instance", "sasl_method",
                     "sasl_username", "sasl_sender", "size",
                     "ccert_subject", "ccert_issuer", "ccert_fingerprint",
                     "ccert_pubkey_fingerprint", "encryption_protocol",
                     "encryption_cipher", "encryption_keysize",
                     "etrn_domain", "stress", "client_port",
                     "policy_context", "server_address", "server_port"):
            self.assertIn(name, a)
        self.assertEqual(a["request"], "smtpd_access_policy")
        self.assertEqual(a["protocol_state"], "RCPT")
        self.assertEqual(a["protocol_name"], "ESMTP")
        self.assertEqual(a["helo_name"], "client.example")
        # The domain as smtpd writes addresses (lower case).
        self.assertEqual(a["sender"], "Attr@sender.example")
        self.assertEqual(a["client_address"], "127.0.0.1")
        self.assertEqual(a["size"], "1234")
        self.assertEqual(a["recipient_count"], "0")
        self.assertEqual(a["server_address"], "127.0.0.1")
        self.assertEqual(a["server_port"], str(self.port))
        self.assertTrue(a["client_port"].isdigit())
        self.assertNotEqual(a["instance"], "")
        self.assertEqual(a["encryption_protocol"], "")

    def test_data_stage(self):
        c = SmtpSession(self.port)
        try:
            c.cmd("EHLO client.example")
            self.assertTrue(c.cmd("MAIL FROM:<datareject@x.example>")
                            .startswith("250"))
            self.assertTrue(c.cmd("RCPT TO:<alice@%s>" % DOM)
                            .startswith("250"))
            self.assertEqual(c.cmd("DATA"),
                             "554 5.7.1 <DATA>: Data command rejected: "
                             "no data from you")
        finally:
            c.close()
        with self.py.lock:
            a = [r for r in self.py.requests
                 if r.get("protocol_state") == "DATA"][-1]
        self.assertEqual(a["recipient_count"], "1")
        self.assertEqual(a["recipient"], "")
        self.assertEqual(a["sender"], "datareject@x.example")

    # ---- the real postgrey

    def test_postgrey(self):
        if self.grey is None:
            self.skipTest("postgrey is not installed")
        # postgrey puts DSN 4.2.0 in front of its text when etrn_domain
        # is sent (a Postfix >= 2.3 client), as for Postfix.
        want = ("450 4.2.0 <alice+grey@%s>: Recipient address rejected: "
                "Greylisted, see http://postgrey.schweikert.ch/help/%s.html"
                % (DOM, DOM))
        self.assertEqual(self.rcpt("grey", sender="g@grey.example"), want)
        self.assertEqual(self.rcpt("grey", sender="g@grey.example"), want)
        time.sleep(GREY_DELAY + 1.5)
        self.assertTrue(self.rcpt("grey", sender="g@grey.example")
                        .startswith("250 "))
        # Postgrey's pass is a PREPEND of its header.
        self.assertIn("X-Greylist: delayed", self.log())
        # Another sender is a new triplet: greylisted again.
        self.assertEqual(self.rcpt("grey", sender="other@grey.example"),
                         want)


if __name__ == "__main__":
    unittest.main(verbosity=2)
