#!/usr/bin/env python3
"""Cluster TLS end to end (docs/proxy.md "TLS between the hosts",
docs/scaling.md): real daemons on loopback addresses, one SQLite site.

A test PKI (tls_site.make_pki): CA "ca" and another CA "other".  The
IMAP backends listen with implicit TLS:
  imap1  127.0.0.1  certificate of ca for IP 127.0.0.1  (verifies)
  imap2  127.0.0.4  certificate of other for 127.0.0.4  (wrong CA)
  imap3  127.0.0.6  certificate of ca for 127.0.0.1     (wrong name)
and the LMTP servers (postern-lmtpd, services line "starttls"):
  lmtp   127.0.0.1:L  ca's 127.0.0.1 certificate, lmtpd_tls_security_level
                      may (the default)
  lmtp   127.0.0.4:L  other's certificate
  lmtpe  127.0.0.1:E  ca's certificate, lmtpd_tls_security_level=encrypt
postern-imap-proxy (plaintext port for the test, proxy_backend_tls=yes,
proxy_backend_tls_CAfile=ca.pem) and its LMTP service; postern-queued
delivering hosted mail to 127.0.0.1:L with lmtp_tls_security_level=verify
and lmtp_tls_CAfile=ca.pem, and mail for wrongca.test (transport_maps)
to 127.0.0.4:L.

Checked: a backend whose certificate verifies takes the login; one from
another CA, or for another name, gives NO [UNAVAILABLE] and a log line
with the reason; lmtpd advertises STARTTLS, a Python client delivers over
TLS (and text pipelined after STARTTLS is dropped); with encrypt MAIL
before STARTTLS gets 530; queued delivers with verify to the right CA and
defers (4.7.5, still queued) at the wrong one; the proxy's LMTP leg runs
STARTTLS to the backend and refuses (451 4.7.5) one that does not verify.
"""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (SiteTestCase, SmtpClient, free_ports,  # noqa: E402
                          imap_login, listening, maildir_find,
                          pin_backends, queue_control, run_postern,
                          wait_for)
from tls_site import client_ctx, make_pki  # noqa: E402
from test_queue import message, submit  # noqa: E402

DOMAIN = "ctls.test"
PASSWORD = "cluster tls pw"


class ClusterTls(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-ctls.")
        pki = os.path.join(cls.dir, "pki")
        os.mkdir(pki)
        make_pki(pki, ["ca", "other"],
                 [("be1", "ca", ["127.0.0.1"]),
                  ("be2", "other", ["127.0.0.4"])], label="cluster")
        cls.pki = pki
        (cls.imap1, cls.imap2, cls.imap3, cls.proxy_port, cls.lmtp_port,
         cls.lmtpe_port, cls.lproxy_port) = free_ports(7)

        def cert(name):
            return ("-o tls_cert_file=%s -o tls_key_file=%s"
                    % (os.path.join(pki, name + "-chain.pem"),
                       os.path.join(pki, name + ".key")))
        transport = "inline:{ wrongca.test=lmtp:127.0.0.4:%d }" % (
            cls.lmtp_port)
        run_postern(cls.dir, "config", "set", "log_target=file",
                    "stop_timeout=5s", "auth_failure_delay=0s",
                    "mail_directory=" + os.path.join(cls.dir, "mail"),
                    "myhostname=mx.ctls.test",
                    "queue_run_delay=1s", "minimal_backoff_time=1s",
                    "maximal_backoff_time=2s", "smtp_connect_timeout=5s",
                    "proxy_backend_tls=yes",
                    "proxy_backend_tls_CAfile=" + os.path.join(pki, "ca.pem"),
                    "proxy_lmtp_port=%d" % cls.lmtp_port,
                    "lmtp_delivery_target=127.0.0.1:%d" % cls.lmtp_port,
                    "lmtp_tls_security_level=verify",
                    "lmtp_tls_CAfile=" + os.path.join(pki, "ca.pem"),
                    "transport_maps=" + transport)
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(
                "# written by test_cluster_tls.py\n"
                "queue unix $queue_socket none 1 postern-queued\n"
                "imap1 inet 127.0.0.1:%d implicit 1 postern-imapd %s\n"
                "imap2 inet 127.0.0.4:%d implicit 1 postern-imapd %s\n"
                "imap3 inet 127.0.0.6:%d implicit 1 postern-imapd %s\n"
                "lmtp1 inet 127.0.0.1:%d starttls 1 postern-lmtpd %s\n"
                "lmtp2 inet 127.0.0.4:%d starttls 1 postern-lmtpd %s\n"
                "lmtpe inet 127.0.0.1:%d starttls 1 postern-lmtpd %s "
                "-o lmtpd_tls_security_level=encrypt\n"
                "imap-proxy inet 127.0.0.1:%d none 1 postern-imap-proxy "
                "-o imapd_plaintext_loopback=yes\n"
                "lmtp-proxy inet 127.0.0.1:%d none 1 postern-imap-proxy\n"
                % (cls.imap1, cert("be1"), cls.imap2, cert("be2"),
                   cls.imap3, cert("be1"), cls.lmtp_port, cert("be1"),
                   cls.lmtp_port, cert("be2"), cls.lmtpe_port, cert("be1"),
                   cls.proxy_port, cls.lproxy_port))
        run_postern(cls.dir, "domain", "add", DOMAIN)
        cls.pinned = {"good@" + DOMAIN: "127.0.0.1:%d" % cls.imap1,
                      "badca@" + DOMAIN: "127.0.0.4:%d" % cls.imap2,
                      "badname@" + DOMAIN: "127.0.0.6:%d" % cls.imap3}
        for addr in list(cls.pinned) + ["local@" + DOMAIN]:
            run_postern(cls.dir, "mailbox", "add", addr, "--password-stdin",
                        stdin=PASSWORD + "\n")
        pin_backends(cls.dir, cls.pinned)
        run_postern(cls.dir, "start")
        cls.started = True
        cls.qsock = os.path.join(cls.dir, "run", "queue.sock")
        for host, port in (("127.0.0.1", cls.proxy_port),
                           ("127.0.0.1", cls.lmtp_port),
                           ("127.0.0.4", cls.lmtp_port),
                           ("127.0.0.1", cls.lmtpe_port),
                           ("127.0.0.1", cls.lproxy_port),
                           ("127.0.0.1", cls.imap1)):
            wait_for(lambda h=host, p=port: listening(p, h),
                     what="port %s:%d" % (host, port))
        wait_for(lambda: os.path.exists(cls.qsock), what="queue socket")

    def ca_context(self, ca="ca"):
        """A client context trusting only the test CA ca."""
        return client_ctx(self.pki, ca)

    def imap_login(self, addr):
        return imap_login(self.proxy_port, addr, PASSWORD)

    # -- proxy -> IMAP backend -------------------------------------------
    def test_imap_backend_verified(self):
        """The backend's certificate from the configured CA, for its IP
        address: the login goes through (and the backend saw it)."""
        typ, data = self.imap_login("good@" + DOMAIN)
        self.assertEqual(typ, "OK", data)
        self.wait_log(r"proxy\(good@%s\): started proxying to "
                      r"127\.0\.0\.1:%d" % (re.escape(DOMAIN), self.imap1))
        self.wait_log(r"Login: user=<good@%s>" % re.escape(DOMAIN))

    def test_imap_backend_wrong_ca(self):
        """A certificate of another CA: NO [UNAVAILABLE], and the log
        says the certificate did not verify and why."""
        typ, data = self.imap_login("badca@" + DOMAIN)
        self.assertEqual(typ, "NO")
        self.assertIn("UNAVAILABLE", data[0].decode())
        self.wait_log(r"proxy\(badca@%s\): connect\(127\.0\.0\.4:%d\) "
                      r"failed: TLS handshake failed: .*certificate verify "
                      r"failed.*\((self-signed certificate in certificate "
                      r"chain|unable to get local issuer certificate)\)"
                      % (re.escape(DOMAIN), self.imap2))
        self.assertNotRegex(self.log(), r"Login: user=<badca@")

    def test_imap_backend_wrong_name(self):
        """The right CA, but a certificate for 127.0.0.1 on 127.0.0.6:
        the name check fails the same way."""
        typ, data = self.imap_login("badname@" + DOMAIN)
        self.assertEqual(typ, "NO")
        self.assertIn("UNAVAILABLE", data[0].decode())
        self.wait_log(r"proxy\(badname@%s\): connect\(127\.0\.0\.6:%d\) "
                      r"failed: TLS handshake failed: .*certificate verify "
                      r"failed.*\((IP address|hostname) mismatch\)"
                      % (re.escape(DOMAIN), self.imap3))

    # -- LMTP STARTTLS, server side --------------------------------------
    def lhlo(self, c):
        r = c.cmd("LHLO client.ctls.test")
        self.assertTrue(r[0].startswith("250"), r)
        return [line[4:] for line in r]

    def starttls(self, c, host="127.0.0.1"):
        r = c.cmd("STARTTLS")
        self.assertEqual(r[0][:3], "220", r)
        self.assertEqual(c.buf, b"")
        c.sock = self.ca_context().wrap_socket(c.sock, server_hostname=host)

    def test_lmtp_starttls_delivery(self):
        """STARTTLS in LHLO, the handshake (verified by the client against
        the test CA), LHLO again without STARTTLS, a delivery over TLS."""
        c = SmtpClient(self.lmtp_port)
        self.assertEqual(c.line()[:3], "220")
        self.assertIn("STARTTLS", self.lhlo(c))
        self.starttls(c)
        self.assertEqual(c.sock.version()[:4], "TLSv")
        ext = self.lhlo(c)
        self.assertNotIn("STARTTLS", ext)
        self.assertEqual(c.cmd("STARTTLS")[0][:3], "554")
        self.assertEqual(c.cmd("MAIL FROM:<s@x.example>")[0][:3], "250")
        self.assertEqual(c.cmd("RCPT TO:<local@%s>" % DOMAIN)[0][:3], "250")
        self.assertEqual(c.cmd("DATA")[0][:3], "354")
        r = c.cmd("Subject: over tls 7f3a\r\n\r\nbody\r\n.")
        self.assertEqual(r[0][:3], "250", r)
        c.cmd("QUIT")
        c.close()
        self.wait_log(r"STARTTLS from 127\.0\.0\.1: TLSv1\.[23] with cipher")
        got = wait_for(lambda: maildir_find(self.dir, DOMAIN, "local",
                                            "over tls 7f3a"),
                       what="delivery")
        # RFC 3848: the Received line says LMTPS.
        self.assertRegex(got[0], r"by mx\.ctls\.test \(Postern\) with "
                                 r"LMTPS id ")

    def test_lmtp_starttls_drops_pipelined(self):
        """RFC 3207 4.2: an LHLO pipelined behind STARTTLS in plaintext is
        not run after the handshake (MAIL then needs LHLO: 503)."""
        c = SmtpClient(self.lmtp_port)
        c.line()
        self.lhlo(c)
        c.send(b"STARTTLS\r\nLHLO injected.example\r\n")
        self.assertEqual(c.reply()[0][:3], "220")
        c.sock = self.ca_context().wrap_socket(c.sock,
                                               server_hostname="127.0.0.1")
        c.buf = b""
        self.assertEqual(c.cmd("MAIL FROM:<s@x.example>")[0][:3], "503")
        c.close()

    def test_lmtp_encrypt_requires_tls(self):
        """lmtpd_tls_security_level=encrypt: MAIL before STARTTLS gets
        530 5.7.0, after it 250."""
        c = SmtpClient(self.lmtpe_port)
        c.line()
        self.assertIn("STARTTLS", self.lhlo(c))
        r = c.cmd("MAIL FROM:<s@x.example>")
        self.assertEqual(r[0][:9], "530 5.7.0", r)
        self.starttls(c)
        self.lhlo(c)
        self.assertEqual(c.cmd("MAIL FROM:<s@x.example>")[0][:3], "250")
        c.cmd("QUIT")
        c.close()

    # -- queued's LMTP client --------------------------------------------
    def test_queued_lmtp_verify(self):
        """lmtp_tls_security_level=verify: delivered over a Verified TLS
        connection to the lmtpd with the test CA's certificate; to the
        one with another CA's certificate the mail defers with 4.7.5 and
        stays in the queue."""
        t, qid = submit(self.qsock, "s@x.example", ["local@" + DOMAIN],
                        message("queued tls 91c2"))
        self.assertEqual(t, "O", qid)
        wait_for(lambda: maildir_find(self.dir, DOMAIN, "local",
                                      "queued tls 91c2"),
                 what="delivery\n" + self.log()[-2000:])
        self.wait_log(r"%s: Verified TLS connection established to "
                      r"lmtp\[127\.0\.0\.1\]:%d" % (qid, self.lmtp_port))
        self.wait_log(r"%s: to=<local@%s>.*status=sent"
                      % (qid, re.escape(DOMAIN)))

        t, qid = submit(self.qsock, "s@x.example", ["u@wrongca.test"],
                        message("queued wrong ca"))
        self.assertEqual(t, "O", qid)
        self.wait_log(r"%s: to=<u@wrongca\.test>, .*dsn=4\.7\.5, "
                      r"status=deferred \(.*Server certificate not verified"
                      r" by lmtp\[127\.0\.0\.4\]:%d" % (qid, self.lmtp_port))
        self.assertIn(qid, run_postern(self.dir, "queue", "list").stdout)
        queue_control(self.dir, "delete", qid)

    # -- the proxy's LMTP leg --------------------------------------------
    def test_lmtp_proxy_starttls(self):
        """Through the proxy's LMTP service: good@ (backend 127.0.0.1)
        is delivered over STARTTLS to the verified lmtpd; badca@ (backend
        127.0.0.4, another CA) gets 451 4.7.5."""
        c = SmtpClient(self.lproxy_port)
        c.line()
        self.lhlo(c)
        self.assertEqual(c.cmd("MAIL FROM:<s@x.example>")[0][:3], "250")
        self.assertEqual(c.cmd("RCPT TO:<good@%s>" % DOMAIN)[0][:3], "250")
        self.assertEqual(c.cmd("RCPT TO:<badca@%s>" % DOMAIN)[0][:3], "250")
        self.assertEqual(c.cmd("DATA")[0][:3], "354")
        c.send(b"Subject: proxied tls 5d0e\r\n\r\nbody\r\n.\r\n")
        r1, r2 = c.reply(), c.reply()
        self.assertEqual(r1[0][:3], "250", r1)
        self.assertEqual(r2[0][:9], "451 4.7.5", r2)
        c.cmd("QUIT")
        c.close()
        wait_for(lambda: maildir_find(self.dir, DOMAIN, "good",
                                      "proxied tls 5d0e"), what="delivery")
        self.wait_log(r"backend 127\.0\.0\.1:%d: TLS TLSv1\.[23] with"
                      % self.lmtp_port)
        self.wait_log(r"backend 127\.0\.0\.4:%d: TLS handshake failed: "
                      r".*certificate verify failed" % self.lmtp_port)

    # -- figures (printed; docs/proxy.md) --------------------------------
    def test_zz_figures(self):
        """What STARTTLS costs an LMTP client of lmtpd: a connection
        (greeting, LHLO, QUIT) with and without STARTTLS, and a message
        (MAIL, RCPT, DATA, 2 KB) on an open connection with and without
        TLS; 50 of each, medians printed."""
        import statistics
        import time

        def connection(tls):
            t0 = time.perf_counter()
            c = SmtpClient(self.lmtp_port)
            c.line()
            self.lhlo(c)
            if tls:
                self.starttls(c)
                self.lhlo(c)
            c.cmd("QUIT")
            c.close()
            return time.perf_counter() - t0

        def messages(tls, n):
            c = SmtpClient(self.lmtp_port)
            c.line()
            self.lhlo(c)
            if tls:
                self.starttls(c)
                self.lhlo(c)
            body = "Subject: figure\r\n\r\n" + ("x" * 78 + "\r\n") * 25
            out = []
            for _ in range(n):
                t0 = time.perf_counter()
                c.cmd("MAIL FROM:<s@x.example>")
                c.cmd("RCPT TO:<local@%s>" % DOMAIN)
                c.cmd("DATA")
                r = c.cmd(body + ".")
                self.assertEqual(r[0][:3], "250", r)
                out.append(time.perf_counter() - t0)
            c.cmd("QUIT")
            c.close()
            return out

        ms = {}
        for tls in (False, True):
            ms["conn", tls] = statistics.median(
                connection(tls) for _ in range(50)) * 1000
            ms["msg", tls] = statistics.median(messages(tls, 50)) * 1000
        print("\nLMTP to lmtpd, medians of 50: connection %.2f ms plain, "
              "%.2f ms with STARTTLS; message (2 KB) %.2f ms plain, "
              "%.2f ms over TLS" % (ms["conn", False], ms["conn", True],
                                    ms["msg", False], ms["msg", True]),
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
