#!/usr/bin/env python3
"""postern-imap-proxy end to end (docs/proxy.md).

One site, one SQLite database and one mail folder: two postern-imapd
backends and two postern-lmtpd backends (services.cf lines on 127.0.0.1
and 127.0.0.4, each backend's pair with its own log file through `-o
log_file=...`, which is how the test sees which backend served a login
or a delivery), the proxy on a STARTTLS, an implicit-TLS, a plaintext
(latency only) and an LMTP port, and the admin API.  Processes sharing
one store stand in for machines sharing one database: what is checked is
the routing, not the storage.

Checked: users pinned by the mailboxes.backend column and users placed by
hash (the rendezvous hash recomputed here in Python, so proxy and test
agree on the function) always reach their backend; a wrong password is
refused at the proxy and no backend sees it; plaintext login is refused
before STARTTLS; STARTTLS and IMAPS at the proxy; imaplib does SELECT,
APPEND, FETCH and IDLE through it; a dead backend gives NO [UNAVAILABLE]
and the session can log in again; the client's address (connecting from
127.0.0.2) is in the backend's login line, and an untrusted peer cannot
forge it with ID.  The admin API sets and clears mailboxes.backend and
the next login follows.  LMTP: one transaction with recipients on both
backends, an unknown one and one whose backend host is down gets its
replies in RCPT order, each delivery in its own backend's log.  Finally the added latency: NOOP round trips through
the proxy and straight to a backend, p50 and p99 over 1000 each (printed;
docs/scaling.md has the figures).

mbsync (isync) too when installed (skipped otherwise).  Python 3 standard
library only.
"""
import base64
import imaplib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (SiteTestCase, free_ports, run_postern,  # noqa: E402
                          pin_backends, tls_context, wait_for)

DOMAIN = "proxy.test"
PASSWORD = "proxy pw \"1\""
CLIENT_IP = "127.0.0.2"
MB_PASSWORD = "mbsync pw 1"


def fnv_weight(backend, address):
    """auth/proxy_backend.c's proxy_backend_weight, in Python."""
    h = 0xcbf29ce484222325
    for c in backend.encode() + b"\0" + address.encode():
        h ^= c
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 33
    h = (h * 0xc4ceb9fe1a85ec53) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 33
    return h


def glob_files(maildir):
    return sorted(os.path.join(maildir, sub, n) for sub in ("cur", "new")
                  for n in os.listdir(os.path.join(maildir, sub)))


def hash_backend(backends, address):
    return max(backends, key=lambda b: (fnv_weight(b, address),
                                        [-ord(c) for c in b]))


class ProxyTest(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-proxy.")
        (cls.b1_port, cls.b2_port, cls.dead_port, cls.proxy_port,
         cls.proxys_port, cls.plain_port, cls.api_port, cls.lmtp_port,
         cls.lmtp_proxy_port) = free_ports(9)
        # Backend 2 on another loopback address: the LMTP side finds a
        # backend by its host (proxy_lmtp_port is one port for all).
        cls.b1 = "127.0.0.1:%d" % cls.b1_port
        cls.b2 = "127.0.0.4:%d" % cls.b2_port
        cls.dead = "127.0.0.1:%d" % cls.dead_port
        cls.backends = [cls.b1, cls.b2]
        logdir = os.path.join(cls.dir, "log")
        cls.b1_log = os.path.join(logdir, "backend1.log")
        cls.b2_log = os.path.join(logdir, "backend2.log")
        run_postern(cls.dir, "config", "set",
                    "mail_directory=" + os.path.join(cls.dir, "mail"),
                    "proxy_backends=%s, %s" % (cls.b1, cls.b2),
                    "imapd_trusted_networks=127.0.0.1/32",
                    "imapd_plaintext_loopback=no",
                    "auth_failure_delay=0s", "stop_timeout=5s",
                    "proxy_lmtp_port=%d" % cls.lmtp_port,
                    "default_password_scheme=SHA512-CRYPT")
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(
                "# written by test_imap_proxy.py\n"
                "imap1 inet 127.0.0.1:%d none 1 postern-imapd "
                "-o log_file=%s\n"
                "imap2 inet 127.0.0.4:%d none 1 postern-imapd "
                "-o log_file=%s\n"
                "lmtp1 inet 127.0.0.1:%d none 1 postern-lmtpd "
                "-o log_file=%s\n"
                "lmtp2 inet 127.0.0.4:%d none 1 postern-lmtpd "
                "-o log_file=%s\n"
                "lmtp-proxy inet 127.0.0.1:%d none 1 postern-imap-proxy\n"
                "imap-proxy inet 127.0.0.1:%d starttls 1 "
                "postern-imap-proxy\n"
                "imap-proxys inet 127.0.0.1:%d implicit 1 "
                "postern-imap-proxy\n"
                # plaintext, for the latency figures only
                "imap-proxyp inet 127.0.0.1:%d none 1 "
                "postern-imap-proxy -o imapd_plaintext_loopback=yes\n"
                "admin-api inet 127.0.0.1:%d none 1 postern-admin-api\n"
                % (cls.b1_port, cls.b1_log, cls.b2_port, cls.b2_log,
                   cls.lmtp_port, cls.b1_log, cls.lmtp_port, cls.b2_log,
                   cls.lmtp_proxy_port, cls.proxy_port, cls.proxys_port, cls.plain_port,
                   cls.api_port))
        run_postern(cls.dir, "domain", "add", DOMAIN)
        cls.hashed = ["user%d@%s" % (i, DOMAIN) for i in range(12)]
        cls.pinned = {"pin1@" + DOMAIN: cls.b1, "pin2@" + DOMAIN: cls.b2,
                      "dead@" + DOMAIN: cls.dead,
                      # LMTP goes to the host: nothing on 127.0.0.5
                      "gone@" + DOMAIN: "127.0.0.5:%d" % cls.dead_port}
        for addr in cls.hashed + list(cls.pinned) + ["moved@" + DOMAIN]:
            run_postern(cls.dir, "mailbox", "add", addr, "--password-stdin",
                        stdin=PASSWORD + "\n")
        run_postern(cls.dir, "mailbox", "add", "mb@" + DOMAIN,
                    "--password-stdin", stdin=MB_PASSWORD + "\n")
        pin_backends(cls.dir, cls.pinned)
        run_postern(cls.dir, "start")
        cls.started = True
        for host, port in (("127.0.0.1", cls.b1_port),
                           ("127.0.0.4", cls.b2_port),
                           ("127.0.0.1", cls.proxy_port)):
            wait_for(lambda h=host, p=port: cls._answers(p, h),
                     what="port %d" % port)

    @staticmethod
    def _answers(port, host="127.0.0.1"):
        try:
            with socket.create_connection((host, port), 2) as s:
                return s.recv(100).startswith(b"* OK")
        except OSError:
            return False

    # -- helpers --------------------------------------------------------
    def client(self, tls="starttls"):
        """imaplib through the proxy, from CLIENT_IP."""
        if tls == "implicit":
            c = imaplib.IMAP4_SSL("127.0.0.1", self.proxys_port,
                                  ssl_context=tls_context(), timeout=20)
            return c
        c = imaplib.IMAP4("127.0.0.1", self.proxy_port, timeout=20)
        if tls == "starttls":
            c.starttls(ssl_context=tls_context())
        return c

    def log_text(self, path):
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def backend_of_login(self, addr):
        """Which backend log holds a login of addr (waits for it)."""
        pat = "Login: user=<%s>" % addr

        def find():
            hits = [b for b, log in ((self.b1, self.b1_log),
                                     (self.b2, self.b2_log))
                    if pat in self.log_text(log)]
            return hits or None
        hits = wait_for(find, timeout=10, what="login of " + addr)
        self.assertEqual(len(hits), 1, "%s logged in on %s" % (addr, hits))
        return hits[0]

    # -- tests ----------------------------------------------------------
    def test_routing(self):
        """Pinned users reach their row's backend, hashed ones the
        rendezvous choice, again and again; both backends get users."""
        expect = {a: hash_backend(self.backends, a) for a in self.hashed}
        expect["pin1@" + DOMAIN] = self.b1
        expect["pin2@" + DOMAIN] = self.b2
        self.assertEqual(set(expect.values()), {self.b1, self.b2})
        for addr, backend in expect.items():
            log = self.b1_log if backend == self.b1 else self.b2_log
            pat = "Login: user=<%s>" % addr
            before = self.log_text(log).count(pat)
            for _ in range(2):
                c = self.client()
                typ, data = c.login(addr, PASSWORD)
                self.assertEqual(typ, "OK")
                c.logout()
            self.assertEqual(self.backend_of_login(addr), backend, addr)
            wait_for(lambda: self.log_text(log).count(pat) == before + 2,
                     timeout=10, what="two more logins of " + addr)

    def test_admin_api_backend(self):
        """The admin API shows and sets mailboxes.backend; the proxy
        follows the change at the next login."""
        from adminapi import Api
        with open(os.path.join(self.dir, "admin-token")) as f:
            api = Api(self.api_port, f.read().strip())
        addr = "moved@" + DOMAIN
        hashed = hash_backend(self.backends, addr)
        other = self.b1 if hashed == self.b2 else self.b2
        path = "/api/v1/mailboxes/" + addr
        wait_for(lambda: self._answers_http(), what="admin API")
        r = api.get(path)
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json["backend"])
        r = api.patch(path, {"backend": "no-port"})
        self.assertEqual(r.status, 422, r)
        r = api.patch(path, {"backend": other})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["backend"], other)
        c = self.client()
        c.login(addr, PASSWORD)
        c.logout()
        self.assertEqual(self.backend_of_login(addr), other)
        r = api.patch(path, {"backend": None})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json["backend"])
        r = api.post("/api/v1/mailboxes",
                     {"address": "new@" + DOMAIN, "password": PASSWORD,
                      "backend": self.b2})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["backend"], self.b2)

    def _answers_http(self):
        try:
            socket.create_connection(("127.0.0.1", self.api_port), 2).close()
            return True
        except OSError:
            return False

    def test_wrong_password(self):
        addr = "user3@" + DOMAIN
        c = self.client()
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            c.login(addr, "not the password")
        self.assertIn("AUTHENTICATIONFAILED", str(cm.exception))
        # The session is still usable: the right password works.
        self.assertEqual(c.login(addr, PASSWORD)[0], "OK")
        c.logout()
        for log in (self.b1_log, self.b2_log):
            self.assertNotIn("Login failed: user=<%s>" % addr,
                             self.log_text(log))
        self.assertIn("Login failed: user=<%s>" % addr,
                      self.log_text(os.path.join(self.dir, "log",
                                                 "postern.log")))

    def test_plaintext_refused_then_starttls(self):
        c = self.client(tls=None)
        self.assertIn("LOGINDISABLED", c.capabilities)
        self.assertIn("STARTTLS", c.capabilities)
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            c.login("user1@" + DOMAIN, PASSWORD)
        self.assertIn("PRIVACYREQUIRED", str(cm.exception))
        c.starttls(ssl_context=tls_context())
        self.assertEqual(c.login("user1@" + DOMAIN, PASSWORD)[0], "OK")
        c.logout()

    def test_imaps_and_authenticate_plain(self):
        c = self.client(tls="implicit")
        addr = "user5@" + DOMAIN
        typ, _ = c.authenticate(
            "PLAIN", lambda _: ("\0%s\0%s" % (addr, PASSWORD)).encode())
        self.assertEqual(typ, "OK")
        # After the login the backend answers: its CAPABILITY, not ours.
        typ, data = c.capability()
        self.assertIn(b"IDLE", data[0])
        self.assertNotIn(b"SASL-IR", data[0])
        c.logout()

    def test_authenticate_refusals(self):
        """The proxy's answers to PLAIN responses it cannot use (decoded
        by auth/sasl_plain.h, as imapd's), before any passdb check."""
        c = self.client()

        def answer(ir):
            try:
                typ, data = c._simple_command("AUTHENTICATE", "PLAIN", ir)
            except imaplib.IMAP4.error as e:
                return "BAD " + str(e)
            return "%s %s" % (typ, data[0].decode(errors="replace"))

        def b64(raw):
            return base64.b64encode(raw).decode()

        self.assertIn("Invalid base64 data", answer("%%%%"))
        self.assertIn("Invalid PLAIN response", answer(b64(b"userpass")))
        self.assertIn("Invalid PLAIN response", answer("="))
        self.assertIn("Invalid PLAIN response", answer(b64(b"\0\0pw")))
        a = answer(b64(b"admin@%s\0user1@%s\0%s" % (
            DOMAIN.encode(), DOMAIN.encode(), PASSWORD.encode())))
        self.assertTrue(a.startswith("NO"), a)
        self.assertIn("AUTHORIZATIONFAILED", a)
        # None of them counted as a failed login: the session still
        # logs in, with the authzid equal to the authcid.
        addr = "user1@" + DOMAIN
        typ, _ = c.authenticate("PLAIN", lambda _: (
            "%s\0%s\0%s" % (addr, addr, PASSWORD)).encode())
        self.assertEqual(typ, "OK")
        c.logout()

    def test_mail_through_proxy(self):
        """SELECT, APPEND, FETCH, IDLE through the proxy."""
        addr = "user7@" + DOMAIN
        c = self.client()
        c.login(addr, PASSWORD)
        msg = (b"From: a@proxy.test\r\nTo: %s\r\nSubject: via proxy\r\n"
               b"\r\nbody through the proxy\r\n" % addr.encode())
        self.assertEqual(c.append("INBOX", None, None, msg)[0], "OK")
        typ, data = c.select("INBOX")
        self.assertEqual(typ, "OK")
        n = int(data[0])
        typ, data = c.fetch(str(n), "(BODY.PEEK[])")
        self.assertEqual(typ, "OK")
        self.assertEqual(data[0][1], msg)
        # IDLE (imaplib of 3.11 has none): by hand on the same socket.
        tag = c._new_tag().decode()
        c.send(("%s IDLE\r\n" % tag).encode())
        self.assertTrue(c.readline().startswith(b"+"))
        other = self.client()
        other.login(addr, PASSWORD)
        other.append("INBOX", None, None, msg)
        other.logout()
        deadline = time.time() + 10
        line = b""
        while time.time() < deadline:
            line = c.readline()
            if line.endswith(b"EXISTS\r\n"):
                break
        self.assertEqual(line, b"* %d EXISTS\r\n" % (n + 1))
        c.send(b"DONE\r\n")
        while True:
            line = c.readline()
            if line.startswith(tag.encode()):
                break
        self.assertTrue(line.startswith(("%s OK" % tag).encode()), line)
        c.logout()

    def test_mbsync(self):
        """mbsync (isync) over IMAPS through the proxy: pull, then push a
        new message and an expunge; imaplib sees both."""
        if not shutil.which("mbsync"):
            self.skipTest("mbsync (isync) not installed")
        addr = "mb@" + DOMAIN
        c = self.client()
        c.login(addr, MB_PASSWORD)
        for i in range(3):
            c.append("INBOX", None, None,
                     b"Subject: mb %d\r\n\r\nbody %d\r\n" % (i, i))
        c.logout()
        tmp = tempfile.mkdtemp(prefix="postern-proxy-mbsync.")
        self.addCleanup(shutil.rmtree, tmp, True)
        local = os.path.join(tmp, "local")
        os.makedirs(local)
        rc = os.path.join(tmp, "mbsyncrc")
        with open(rc, "w") as f:
            f.write("IMAPAccount acc\nHost 127.0.0.1\nPort %d\nUser %s\n"
                    "Pass \"%s\"\nSSLType IMAPS\nCertificateFile %s\n\n"
                    "IMAPStore remote\nAccount acc\n\n"
                    "MaildirStore local\nPath %s/\nInbox %s/INBOX\n\n"
                    "Channel ch\nFar :remote:\nNear :local:\n"
                    "Patterns INBOX\nCreate Both\nExpunge Both\n"
                    "SyncState *\nSync All\n"
                    % (self.proxys_port, addr, MB_PASSWORD,
                       os.path.join(self.dir, "tls", "cert.pem"), local,
                       local))

        def sync():
            p = subprocess.run(["mbsync", "-c", rc, "-a"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        sync()
        cur = glob_files(os.path.join(local, "INBOX"))
        self.assertEqual(len(cur), 3)
        # Push: one message deleted, one added locally.
        os.unlink(cur[0])
        with open(os.path.join(local, "INBOX", "new", "1.local:2,"),
                  "wb") as f:
            f.write(b"Subject: from mbsync\r\n\r\nlocal\r\n")
        sync()
        c = self.client()
        c.login(addr, MB_PASSWORD)
        c.select("INBOX")
        typ, data = c.search(None, "ALL")
        self.assertEqual(len(data[0].split()), 3)
        typ, data = c.search(None, "SUBJECT", '"from mbsync"')
        self.assertEqual(len(data[0].split()), 1)
        c.logout()

    def test_dead_backend(self):
        c = self.client()
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            c.login("dead@" + DOMAIN, PASSWORD)
        self.assertIn("[UNAVAILABLE]", str(cm.exception))
        # Not logged in: another user can still log in on this session.
        self.assertEqual(c.login("pin1@" + DOMAIN, PASSWORD)[0], "OK")
        c.logout()

    def test_client_address_forwarded(self):
        s = socket.create_connection(("127.0.0.1", self.proxy_port), 10,
                                     source_address=(CLIENT_IP, 0))
        port = s.getsockname()[1]
        s.recv(1000)
        s.sendall(b"a STARTTLS\r\n")
        self.assertIn(b"a OK", s.recv(1000))
        s = tls_context().wrap_socket(s)
        s.sendall(b"b LOGIN pin2@%s \"proxy pw \\\"1\\\"\"\r\n" %
                  DOMAIN.encode())
        got = b""
        while b"b OK" not in got and b"b NO" not in got:
            got += s.recv(4096)
        self.assertIn(b"b OK [CAPABILITY", got)
        s.sendall(b"c LOGOUT\r\n")
        s.close()
        log = wait_for(lambda: (lambda t: t if "rport=%d," % port in t
                                else None)(self.log_text(self.b2_log)),
                       what="forwarded address in backend2.log")
        self.assertIn("proxied: rip=%s, rport=%d, proxy=127.0.0.1"
                      % (CLIENT_IP, port), log)
        self.assertRegex(log, r"Login: user=<pin2@%s>, method=PLAIN, "
                         r"rip=%s," % (re.escape(DOMAIN),
                                       re.escape(CLIENT_IP)))

    def test_lmtp_proxy(self):
        """One LMTP transaction with recipients on both backends, one
        unknown: per-recipient replies in RCPT order, each message
        delivered by its user's backend (its lmtpd's log)."""
        rcpts = ["pin1@" + DOMAIN, "nobody@" + DOMAIN, "pin2@" + DOMAIN,
                 "gone@" + DOMAIN, "user1+tag@" + DOMAIN]
        s = socket.create_connection(("127.0.0.1", self.lmtp_proxy_port), 20)
        f = s.makefile("rb")

        def reply():
            lines = []
            while True:
                line = f.readline()
                self.assertTrue(line, "connection closed")
                lines.append(line)
                if line[3:4] != b"-":
                    return lines
        self.assertTrue(reply()[0].startswith(b"220"))
        s.sendall(b"LHLO client.test\r\n")
        self.assertTrue(reply()[-1].startswith(b"250 "))
        s.sendall(b"MAIL FROM:<sender@example.org>\r\n")
        self.assertTrue(reply()[0].startswith(b"250"))
        codes = []
        for rc in rcpts:
            s.sendall(b"RCPT TO:<%s>\r\n" % rc.encode())
            codes.append(reply()[0][:3])
        self.assertEqual(codes, [b"250", b"550", b"250", b"250", b"250"])
        s.sendall(b"DATA\r\n")
        self.assertTrue(reply()[0].startswith(b"354"))
        s.sendall(b"Subject: lmtp proxy\r\n\r\n..leading dot\r\nbody\r\n"
                  b".\r\n")
        after = [reply()[0][:9] for _ in range(4)]
        # gone@'s backend host does not answer: 451 4.4.0, retried later.
        self.assertEqual(after, [b"250 2.0.0", b"250 2.0.0", b"451 4.4.0",
                                 b"250 2.0.0"])
        s.sendall(b"QUIT\r\n")
        s.close()
        hashed = hash_backend(self.backends, "user1@" + DOMAIN)
        for addr, backend in (("pin1@" + DOMAIN, self.b1),
                              ("pin2@" + DOMAIN, self.b2),
                              ("user1@" + DOMAIN, hashed)):
            log = self.b1_log if backend == self.b1 else self.b2_log
            other = self.b2_log if backend == self.b1 else self.b1_log
            wait_for(lambda: "to=<%s>" % addr in self.log_text(log),
                     what="delivery of %s in %s" % (addr, log))
            self.assertNotIn("to=<%s>" % addr, self.log_text(other))
        # The message arrived whole (dot-stuffing undone once).
        c = self.client()
        c.login("pin2@" + DOMAIN, PASSWORD)
        c.select("INBOX")
        typ, data = c.search(None, "SUBJECT", "\"lmtp proxy\"")
        n = data[0].split()[-1]
        typ, data = c.fetch(n, "(BODY.PEEK[TEXT])")
        self.assertEqual(data[0][1], b".leading dot\r\nbody\r\n")
        c.logout()

    def test_untrusted_id_ignored(self):
        """A peer outside imapd_trusted_networks: its ID is only logged,
        and it gets no plaintext login either."""
        s = socket.create_connection(("127.0.0.1", self.b1_port), 10,
                                     source_address=("127.0.0.3", 0))
        s.recv(1000)
        s.sendall(b'a ID ("x-originating-ip" "10.9.9.9")\r\n'
                  b'b LOGIN pin1@proxy.test x\r\n')
        got = b""
        while b"b " not in got:
            got += s.recv(4096)
        self.assertIn(b"b NO [PRIVACYREQUIRED]", got)
        s.close()
        self.assertNotIn("rip=10.9.9.9", self.log_text(self.b1_log))

    def test_zz_latency(self):
        """NOOP p50 through the proxy vs straight to the backend."""
        addr = "pin1@" + DOMAIN

        def measure(c):
            times = []
            for _ in range(1000):
                t = time.perf_counter()
                c.noop()
                times.append(time.perf_counter() - t)
            times.sort()
            return times[len(times) // 2] * 1e6, times[990] * 1e6
        direct = imaplib.IMAP4("127.0.0.1", self.b1_port, timeout=20)
        direct.login(addr, PASSWORD)  # plaintext: 127.0.0.1 is trusted
        plain = imaplib.IMAP4("127.0.0.1", self.plain_port, timeout=20)
        plain.login(addr, PASSWORD)
        tls = self.client()
        tls.login(addr, PASSWORD)
        d50, d99 = measure(direct)
        p50, p99 = measure(plain)
        t50, t99 = measure(tls)
        for c in (direct, plain, tls):
            c.logout()
        print("\nNOOP round trip, 1000 each: direct p50 %.0f us p99 %.0f;"
              " via proxy p50 %.0f us p99 %.0f (added p50 %.0f us);"
              " via proxy with TLS client side p50 %.0f us p99 %.0f"
              % (d50, d99, p50, p99, p50 - d50, t50, t99), file=sys.stderr)
        self.assertLess(p50, d50 + 5000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
