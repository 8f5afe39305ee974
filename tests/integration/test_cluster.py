#!/usr/bin/env python3
"""A Postern cluster on one machine in network namespaces (issue 9,
docs/scaling.md).  Root only (ip netns); skipped otherwise.

cluster_site.py builds it: a PostgreSQL primary (db1, which also runs
the admin API) and a streaming replica (db2), two MX nodes (mx1, mx2:
smtpd and queued, each its own queue, local delivery over LMTP to the
proxy), the IMAP/LMTP proxy (proxy) and two IMAP backends (be1, be2:
imapd and lmtpd) over one shared store folder.  Each node is its own
network namespace with its own address and its own config folder; every
node reads the replica first and the primary as fallback.

Shown:
1. mail sent to either MX lands in the right mailbox, delivered by the
   recipient's backend (its lmtpd's log) and by no other;
2. a user logging in through the proxy always reaches the same backend,
   the one the rendezvous hash names (asserted against the backends'
   logs);
3. a mailbox created through the admin API on the primary is served by
   every node (RCPT on both MX, login through the proxy and on both
   backends) within a second; each node's lag is printed;
4. kill -9 of every process of mx1 during a send loop to both MX nodes:
   mx2 keeps accepting (no failure), and after mx1 restarts every
   message either node answered 250 is delivered (counted, printed);
5. the replica stopped: a burst through both MX nodes gets 250 for every
   message and every one is delivered (lookups fall back to the
   primary), and logins through the proxy still work;
6. the primary stopped: logins (through the proxy, on a backend, SMTP
   AUTH on an MX's submission port) and RCPT lookups still answer from
   the replica; a wrong password is still refused.

ClusterTlsTest builds a second, smaller cluster (mx1, proxy, be1, be2)
with Cluster(tls=True), every hop encrypted and verified against a test
CA (cluster_site.py), and shows:
7. mail through mx1 lands in each user's mailbox over three TLS hops:
   mx1 -> proxy (LMTP, lmtp_tls_security_level=verify: "Verified"),
   proxy -> backend lmtpd (STARTTLS required), each backend's lmtpd
   logging STARTTLS from the proxy and a Received "with LMTPS"; logins
   through the proxy reach the backends' imaps port (verified); a
   plaintext MAIL straight to a backend's lmtpd gets 530.
"""
import imaplib
import os
import re
import signal
import smtplib
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import POSTERN, tls_context, wait_for  # noqa: E402
from adminapi import Api  # noqa: E402
from cluster_site import PORTS, Cluster, wait_port  # noqa: E402
from test_imap_proxy import hash_backend  # noqa: E402

DOMAIN = "cluster.test"
PASSWORD = "cluster-pw-1"


def log(msg):
    print(msg, file=sys.stderr, flush=True)




def skip_unless_runnable():
    """The namespaces need root, and the programs must be built."""
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (ip netns)")
    if not os.access(POSTERN, os.X_OK):
        raise unittest.SkipTest("no %s (set POSTERN_BUILD_DIR)" % POSTERN)

def provision(c, prefix, n):
    """Domain DOMAIN and n mailboxes PREFIX0..@DOMAIN through the admin
    API on db1, spread over both backends and visible on the replica.
    Returns (api, users, {user: its backend node name})."""
    api = Api(PORTS["admin_api"], c.admin_token, host=c["db1"].ip)
    r = api.post("/api/v1/domains", {"name": DOMAIN})
    assert r.status == 201, r
    # The backends' addresses follow the test's pid, and so does where
    # a name hashes to: pick names that alternate be1, be2, be1... so
    # that any two of them (and the first four) cover both backends.
    backends = c.backends()
    users, home, i = [], {}, 0
    while len(users) < n:
        u = "%s%d@%s" % (prefix, i, DOMAIN)
        i += 1
        node = "be%d" % (backends.index(hash_backend(backends, u)) + 1)
        if node == "be%d" % (len(users) % 2 + 1):
            users.append(u)
            home[u] = node
    for u in users:
        r = api.post("/api/v1/mailboxes", {"address": u, "password": PASSWORD})
        assert r.status == 201, r
    # The last mailbox is on the replica: every node can see them.
    wait_for(lambda: c.replica.psql(
        "SELECT count(*) FROM mailboxes WHERE address = '%s'"
        % users[-1]) == "1", 10, "replication")
    return api, users, home

class ClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_runnable()
        # Test 3 polls logins of a mailbox not yet replicated: those
        # failures must not trip the login throttle.
        cls.c = Cluster(settings=["auth_throttle_max_failures=100000"])
        cls.addClassCleanup(cls.c.down)
        t0 = time.monotonic()
        cls.c.up()
        c = cls.c
        for n in ("mx1", "mx2"):
            wait_port(*c.addr(n, "smtp"))
        for n in ("proxy", "be1", "be2"):
            wait_port(*c.addr(n, "imap"))
        wait_port(*c.addr("db1", "admin_api"))
        log("\ncluster up (2 PostgreSQL, 5 Postern nodes) in %.1f s"
            % (time.monotonic() - t0))
        cls.api, cls.users, cls.home = provision(c, "u", 6)

    def setUp(self):
        # Each test leaves both database servers running.
        for pg in (self.c.primary, self.c.replica):
            if not pg.running():
                pg.start()

    # -- helpers --------------------------------------------------------
    def smtp(self, node, port="smtp"):
        return smtplib.SMTP(*self.c.addr(node, port), timeout=30)

    def send(self, node, rcpt, subject):
        with self.smtp(node) as s:
            return s.sendmail("sender@remote.example", [rcpt],
                              "Subject: %s\r\n\r\nbody\r\n" % subject)

    def rcpt(self, node, address):
        with self.smtp(node) as s:
            s.ehlo("client.example")
            s.mail("sender@remote.example")
            return s.rcpt(address)[0]

    def imap_login(self, node, user, password=PASSWORD, select=True):
        c = imaplib.IMAP4(*self.c.addr(node, "imap"), timeout=30)
        try:
            c.starttls(ssl_context=tls_context())
            c.login(user, password)
            if select:
                c.select("INBOX")
            c.logout()
        except BaseException:
            try:
                c.shutdown()
            except OSError:
                pass
            raise
        return True

    def subjects(self, user):
        """The Subject lines of the user's Maildir (new and cur)."""
        base = os.path.join(self.c.store, DOMAIN, user.split("@")[0])
        out = set()
        for sub in ("new", "cur"):
            d = os.path.join(base, sub)
            for name in os.listdir(d) if os.path.isdir(d) else []:
                try:
                    with open(os.path.join(d, name), errors="replace") as f:
                        for line in f:
                            if line.startswith("Subject: "):
                                out.add(line[9:].strip())
                                break
                except FileNotFoundError:
                    pass  # moved from new to cur meanwhile
        return out

    def logins(self, backend, user):
        return self.c[backend].log().count("Login: user=<%s>" % user)

    def baseline(self, check, user):
        """One check of check (its name in test_3) for a mailbox that
        exists: its seconds."""
        node, kind = check.split()
        fn = self.login_poller(node, user) if kind == "login" else \
            (lambda: self.rcpt(node, user) == 250)
        t = time.monotonic()
        self.assertTrue(fn())
        return time.monotonic() - t

    def login_poller(self, node, user):
        """A check for the lag test: LOGIN tried again on one TLS
        connection (a new one after two NO, before the server's limit of
        three), so a try costs a round trip, not a TLS handshake.  The
        first connection is made now, before the mailbox exists."""
        state = {"c": None, "no": 0}

        def connect():
            if state["c"] is not None:
                state["c"].shutdown()
            state["c"] = imaplib.IMAP4(*self.c.addr(node, "imap"),
                                       timeout=30)
            state["c"].starttls(ssl_context=tls_context())
            state["no"] = 0

        def check():
            if state["no"] >= 2:
                connect()
            try:
                state["c"].login(user, PASSWORD)
            except imaplib.IMAP4.error:
                state["no"] += 1
                return False
            state["c"].logout()
            return True
        connect()
        return check

    # -- tests ----------------------------------------------------------
    def test_1_mail_to_either_mx_lands_in_the_right_mailbox(self):
        for u in self.users[:4]:
            for mx in ("mx1", "mx2"):
                self.assertEqual(self.send(mx, u, "via %s to %s"
                                           % (mx, u)), {})
        for u in self.users[:4]:
            want = {"via mx1 to " + u, "via mx2 to " + u}
            wait_for(lambda: want <= self.subjects(u), 30,
                     "delivery to " + u)
            home = self.home[u]
            other = "be2" if home == "be1" else "be1"
            # lmtpd logs "status=saved" just after the file is in new/
            wait_for(lambda: "to=<%s>" % u in self.c[home].log(), 10,
                     "lmtpd's log line for " + u)
            self.assertNotIn("to=<%s>" % u, self.c[other].log())
            # Nothing else landed there: the right mailbox, only.
            for v in self.users[:4]:
                if v != u:
                    self.assertFalse(any(s.endswith(" to " + v)
                                         for s in self.subjects(u)))
        # Both MX nodes handed their mail to the proxy.
        # (queued logs relay= once the proxy's LMTP replies are in: after
        # the files are in new/, so waited for too.)
        for mx in ("mx1", "mx2"):
            pat = r"relay=.*%s" % self.c["proxy"].ip.replace(".", r"\.")
            wait_for(lambda: re.search(pat, self.c[mx].log()), 10,
                     "%s's relay= line\n%s" % (mx, self.c[mx].log()[-2000:]))

    def test_2_a_user_always_reaches_the_same_backend(self):
        for u in self.users:
            home = self.home[u]
            other = "be2" if home == "be1" else "be1"
            before = self.logins(home, u)
            for _ in range(3):
                self.imap_login("proxy", u)
            wait_for(lambda: self.logins(home, u) == before + 3, 10,
                     "3 logins of %s on %s" % (u, home))
            self.assertEqual(self.logins(other, u), 0,
                             "%s reached %s too" % (u, other))
        log("logins through the proxy: %s"
            % ", ".join("%s->%s" % (u.split("@")[0], self.home[u])
                        for u in self.users))

    def test_3_new_mailbox_is_served_by_every_node_within_a_second(self):
        # What one check costs with no lag (an existing mailbox): the
        # lag is the first success minus about this.
        cost = {}
        for name in ("mx1 RCPT", "mx2 RCPT", "proxy login",
                     "be1 login", "be2 login"):
            cost[name] = self.baseline(name, self.users[0])
        addr = "fresh@" + DOMAIN
        checks = {
            "mx1 RCPT": lambda: self.rcpt("mx1", addr) == 250,
            "mx2 RCPT": lambda: self.rcpt("mx2", addr) == 250,
            "proxy login": self.login_poller("proxy", addr),
            "be1 login": self.login_poller("be1", addr),
            "be2 login": self.login_poller("be2", addr),
        }
        r = self.api.post("/api/v1/mailboxes",
                          {"address": addr, "password": PASSWORD})
        self.assertEqual(r.status, 201, r)
        t0 = time.monotonic()  # after the 201: committed on the primary
        lag = {}

        def poll(name, fn):
            while time.monotonic() - t0 < 10:
                try:
                    if fn():
                        lag[name] = time.monotonic() - t0
                        return
                except (OSError, imaplib.IMAP4.error,
                        smtplib.SMTPException):
                    pass
                time.sleep(0.01)
        threads = [threading.Thread(target=poll, args=kv)
                   for kv in checks.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        log("mailbox created via the admin API on the primary -> served "
            "(first success, polling every 10 ms; in brackets one check "
            "of an old mailbox): " + ", ".join(
                "%s %.0f ms (%.0f)" % (k, lag[k] * 1000, cost[k] * 1000)
                if k in lag else "%s never" % k for k in checks))
        self.assertEqual(set(lag), set(checks))
        self.assertLess(max(lag.values()), 1.0)

    def test_4_kill9_of_an_mx_loses_no_accepted_mail(self):
        rcpt = {"mx1": self.users[4], "mx2": self.users[5]}
        accepted = {"mx1": [], "mx2": []}
        failed = {"mx1": 0, "mx2": 0}
        phase = {"mx1": "before", "mx2": "before"}
        during = {"mx1": 0, "mx2": 0}  # accepted while mx1 was down
        stop = threading.Event()

        def loop(mx):
            i = 0
            while not stop.is_set():
                subject = "loop %s %d" % (mx, i)
                i += 1
                try:
                    s = self.smtp(mx)
                except OSError:
                    failed[mx] += 1
                    time.sleep(0.05)
                    continue
                try:
                    s.sendmail("sender@remote.example", [rcpt[mx]],
                               "Subject: %s\r\n\r\nbody\r\n" % subject)
                except (OSError, smtplib.SMTPException):
                    failed[mx] += 1  # no 250: not ours to deliver
                    continue
                accepted[mx].append(subject)  # the 250 after DATA
                if phase["mx1"] == "down":
                    during[mx] += 1
                try:
                    s.quit()
                except (OSError, smtplib.SMTPException):
                    pass
        threads = [threading.Thread(target=loop, args=(mx,))
                   for mx in ("mx1", "mx2")]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: len(accepted["mx1"]) >= 20, 60,
                     "20 messages accepted by mx1")
            # The proxy paused (SIGSTOP): local delivery hangs, so mx1's
            # queue holds accepted mail when it dies.
            proxy = self.c["proxy"]
            proxy.signal(signal.SIGSTOP)
            n = len(accepted["mx1"])
            wait_for(lambda: len(accepted["mx1"]) >= n + 10, 30,
                     "10 messages queued by mx1")
            mx1 = self.c["mx1"]
            mx1.kill9()
            phase["mx1"] = "down"
            killed_after = len(accepted["mx1"])
            t_down = time.monotonic()
            proxy.signal(signal.SIGCONT)
            time.sleep(2)
            phase["mx1"] = "restarting"
            mx1.start()
            wait_port(*self.c.addr("mx1", "smtp"))
            down_for = time.monotonic() - t_down
            n = len(accepted["mx1"])
            wait_for(lambda: len(accepted["mx1"]) >= n + 5, 30,
                     "mx1 accepting again")
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(failed["mx2"], 0, "mx2 failed while mx1 was down")
        # What mx1's queue held when it came back (queued's start line).
        held = [int(m) for m in re.findall(r"queue: \S+: (\d+) messages",
                                           self.c["mx1"].log())]
        self.assertEqual(len(held), 2, held)
        self.assertGreater(held[1], 0, "mx1's queue was empty at restart")
        self.assertGreater(during["mx2"], 0, "mx2 accepted nothing while "
                           "mx1 was down")
        t0 = time.monotonic()
        for mx in ("mx1", "mx2"):
            want = set(accepted[mx])
            wait_for(lambda: want <= self.subjects(rcpt[mx]), 120,
                     "every message %s accepted delivered (missing %s)"
                     % (mx, sorted(want - self.subjects(rcpt[mx]))[:5]))
        log("kill -9 of mx1: mx1 accepted %d before the kill (%d still in "
            "its queue at restart), %d in all (%d refused while down for "
            "%.1f s); mx2 accepted %d (%d of them while mx1 was down, 0 "
            "failed); all %d delivered %.1f s after the loop ended"
            % (killed_after, held[1], len(accepted["mx1"]), failed["mx1"],
               down_for,
               len(accepted["mx2"]), during["mx2"],
               len(accepted["mx1"]) + len(accepted["mx2"]),
               time.monotonic() - t0))

    def test_5_replica_down_lookups_fall_back_to_the_primary(self):
        self.assertEqual(self.rcpt("mx1", self.users[0]), 250)  # warm
        self.c.replica.stop()
        t0 = time.monotonic()
        sent = []
        for i in range(10):
            for mx, u in (("mx1", self.users[0]), ("mx2", self.users[1])):
                subject = "replica down %s %d" % (mx, i)
                self.assertEqual(self.send(mx, u, subject), {})
                sent.append((u, subject))
        took = time.monotonic() - t0
        for u, subject in sent:
            wait_for(lambda: subject in self.subjects(u), 30,
                     "delivery of " + subject)
        self.assertTrue(self.imap_login("proxy", self.users[0]))
        log("replica down: 20 messages through both MX, all 250 and all "
            "delivered (sending took %.1f s); proxy login ok" % took)

    def test_6_primary_down_logins_read_the_replica(self):
        self.c.primary.stop()
        u = self.users[2]
        self.assertEqual(self.rcpt("mx1", u), 250)
        self.assertEqual(self.rcpt("mx2", "nobody@" + DOMAIN), 550)
        self.assertTrue(self.imap_login("proxy", u))
        self.assertTrue(self.imap_login(self.home[u], u))
        with self.assertRaises(imaplib.IMAP4.error):
            self.imap_login("proxy", u, "wrong password")
        with self.smtp("mx2", "submission") as s:
            s.starttls(context=tls_context())
            self.assertEqual(s.login(u, PASSWORD)[0], 235)
        log("primary down: RCPT, proxy login, backend login and SMTP "
            "AUTH answered from the replica")


class ClusterTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_runnable()
        cls.c = Cluster(nodes=("mx1", "proxy", "be1", "be2"), tls=True)
        cls.addClassCleanup(cls.c.down)
        t0 = time.monotonic()
        cls.c.up()
        c = cls.c
        wait_port(*c.addr("mx1", "smtp"))
        wait_port(*c.addr("proxy", "imap"))
        for n in ("be1", "be2"):
            wait_port(*c.addr(n, "imaps"))
        wait_port(*c.addr("db1", "admin_api"))
        log("\nTLS cluster up (2 PostgreSQL, 4 Postern nodes) in %.1f s"
            % (time.monotonic() - t0))
        _, cls.users, cls.home = provision(c, "t", 4)

    def test_7_every_hop_encrypted_and_verified(self):
        c, ip = self.c, (lambda n: re.escape(self.c[n].ip))
        for u in self.users:
            with smtplib.SMTP(*c.addr("mx1", "smtp"), timeout=30) as s:
                self.assertEqual(s.sendmail(
                    "sender@remote.example", [u],
                    "Subject: tls hop to %s\r\n\r\nbody\r\n" % u), {})
        for u in self.users:
            base = os.path.join(c.store, DOMAIN, u.split("@")[0], "new")
            wait_for(lambda: os.path.isdir(base) and os.listdir(base), 30,
                     "delivery to %s\n%s" % (u, c["proxy"].log()[-2000:]))
            with open(os.path.join(base, os.listdir(base)[0])) as f:
                self.assertRegex(f.read(), r"with LMTPS id")
            # lmtpd logs "status=saved" just after the file is in new/
            # (seen once under load: the file there, the line not yet)
            wait_for(lambda: "to=<%s>" % u in c[self.home[u]].log(), 10,
                     "lmtpd's log line for " + u)
        self.assertRegex(c["mx1"].log(), r"Verified TLS connection "
                         r"established to lmtp\[%s\]:%d"
                         % (ip("proxy"), PORTS["lmtp"]))
        for be in ("be1", "be2"):
            self.assertRegex(c["proxy"].log(), r"backend %s:%d: TLS TLSv1"
                             % (ip(be), PORTS["lmtp"]))
            self.assertRegex(c[be].log(), r"STARTTLS from %s: TLSv1"
                             % ip("proxy"))
        # The proxy's IMAP leg: the backends' imaps port, verified.
        for u in self.users:
            m = imaplib.IMAP4(*c.addr("proxy", "imap"), timeout=30)
            m.starttls(ssl_context=tls_context())
            self.assertEqual(m.login(u, PASSWORD)[0], "OK")
            m.logout()
            self.assertRegex(c["proxy"].log(), r"started proxying to "
                             r"%s:%d" % (ip(self.home[u]), PORTS["imaps"]))
        # lmtpd_tls_security_level=encrypt on the backends.
        with smtplib.SMTP(timeout=30) as s:
            s.connect(*c.addr("be1", "lmtp"))
            s.putcmd("LHLO", "test.example")
            code, ext = s.getreply()
            self.assertEqual(code, 250)
            self.assertIn(b"STARTTLS", ext)
            self.assertEqual(s.docmd("MAIL FROM:<a@remote.example>")[0],
                             530)
        log("TLS cluster: mx1 -> proxy Verified, proxy -> backends "
            "STARTTLS and imaps verified, plaintext MAIL to a backend 530")


if __name__ == "__main__":
    unittest.main()
