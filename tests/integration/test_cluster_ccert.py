#!/usr/bin/env python3
"""Client certificates between cluster nodes (docs/proxy.md "TLS
between the hosts"): backends that require a verified client
certificate, and the proxy and queued presenting one.  Real daemons on
loopback, one SQLite site.

Test PKI (tls_site.make_pki): CA "ca" signs the backends' server
certificate (be1, for 127.0.0.1) and the client certificate "node"; CA
"other" signs "rogue".
  imap1       implicit TLS, imapd_tls_req_ccert=yes,
              imapd_tls_ccert_CAfile=ca.pem
  lmtp1       STARTTLS, lmtpd_tls_req_ccert=yes, lmtpd_tls_ccert_CAfile
              =ca.pem, lmtpd_tls_security_level=encrypt
  imap-proxy  proxy_backend_tls_cert_file=node.pem (presents "node")
  imap-proxy2 the same proxy without a client certificate
  queued      delivers to lmtp1 with lmtp_tls_cert_file=node.pem

Checked: a login through the proxy with the certificate works, through
the one without it gets NO [UNAVAILABLE] and the backend logs why;
Python clients with no certificate or one of another CA are refused by
both backends at the TLS handshake, one with "node" is served; queued
delivers through lmtp1 with its certificate.
"""
import os
import re
import socket
import ssl
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (SiteTestCase, SmtpClient, free_ports,  # noqa: E402
                          imap_login, listening, maildir_find,
                          pin_backends, run_postern, wait_for)
from tls_site import client_ctx, make_pki  # noqa: E402
from test_queue import message, submit  # noqa: E402

DOMAIN = "ccert.test"
PASSWORD = "cluster ccert pw"


class ClusterClientCerts(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-cccert.")
        pki = os.path.join(cls.dir, "pki")
        os.mkdir(pki)
        make_pki(pki, ["ca", "other"],
                 [("be1", "ca", ["127.0.0.1"]),
                  ("node", "ca", ["node.cluster.test"]),
                  ("rogue", "other", ["rogue.cluster.test"])],
                 label="cccert")
        cls.pki = pki
        (cls.imap1, cls.lmtp1, cls.proxy1, cls.proxy2) = free_ports(4)
        p = lambda n: os.path.join(pki, n)  # noqa: E731
        be = ("-o tls_cert_file=%s -o tls_key_file=%s"
              % (p("be1-chain.pem"), p("be1.key")))
        node = ("-o proxy_backend_tls_cert_file=%s "
                "-o proxy_backend_tls_key_file=%s"
                % (p("node.pem"), p("node.key")))
        run_postern(cls.dir, "config", "set", "log_target=file",
                    "stop_timeout=5s", "auth_failure_delay=0s",
                    "mail_directory=" + os.path.join(cls.dir, "mail"),
                    "myhostname=mx.ccert.test",
                    "queue_run_delay=1s", "minimal_backoff_time=1s",
                    "maximal_backoff_time=2s",
                    "proxy_backend_tls=yes",
                    "proxy_backend_tls_CAfile=" + p("ca.pem"),
                    "lmtp_delivery_target=127.0.0.1:%d" % cls.lmtp1,
                    "lmtp_tls_security_level=verify",
                    "lmtp_tls_CAfile=" + p("ca.pem"),
                    "lmtp_tls_cert_file=" + p("node.pem"),
                    "lmtp_tls_key_file=" + p("node.key"))
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(
                "queue unix $queue_socket none 1 postern-queued\n"
                "imap1 inet 127.0.0.1:%d implicit 1 postern-imapd %s "
                "-o imapd_tls_req_ccert=yes -o imapd_tls_ccert_CAfile=%s\n"
                "lmtp1 inet 127.0.0.1:%d starttls 1 postern-lmtpd %s "
                "-o lmtpd_tls_req_ccert=yes -o lmtpd_tls_ccert_CAfile=%s "
                "-o lmtpd_tls_security_level=encrypt\n"
                "imap-proxy inet 127.0.0.1:%d none 1 postern-imap-proxy "
                "-o imapd_plaintext_loopback=yes %s\n"
                "imap-proxy2 inet 127.0.0.1:%d none 1 postern-imap-proxy "
                "-o imapd_plaintext_loopback=yes\n"
                % (cls.imap1, be, p("ca.pem"), cls.lmtp1, be, p("ca.pem"),
                   cls.proxy1, node, cls.proxy2))
        run_postern(cls.dir, "domain", "add", DOMAIN)
        for user in ("good", "local"):
            run_postern(cls.dir, "mailbox", "add", "%s@%s" % (user, DOMAIN),
                        "--password-stdin", stdin=PASSWORD + "\n")
        pin_backends(cls.dir, {"good@" + DOMAIN: "127.0.0.1:%d" % cls.imap1})
        run_postern(cls.dir, "start")
        cls.started = True
        cls.qsock = os.path.join(cls.dir, "run", "queue.sock")
        for port in (cls.imap1, cls.lmtp1, cls.proxy1, cls.proxy2):
            wait_for(lambda p=port: listening(p), what="port %d" % port)
        wait_for(lambda: os.path.exists(cls.qsock), what="queue socket")

    def context(self, cert):
        return client_ctx(self.pki, cert=cert)

    def imap_greeting(self, cert):
        """Implicit TLS to imap1 with client certificate cert (None: no
        certificate): the greeting line, or None when the server ended
        the TLS session (with TLS 1.3 the client learns it at its first
        read)."""
        sock = socket.create_connection(("127.0.0.1", self.imap1), 10)
        try:
            s = self.context(cert).wrap_socket(sock,
                                               server_hostname="127.0.0.1")
            data = s.recv(1024)
            s.close()
            return data or None
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return None
        finally:
            sock.close()

    # -- IMAP ---------------------------------------------------------
    def test_proxy_with_cert(self):
        typ, data = imap_login(self.proxy1, "good@" + DOMAIN, PASSWORD)
        self.assertEqual(typ, "OK", data)
        self.wait_log(r"Login: user=<good@%s>" % re.escape(DOMAIN))

    def test_proxy_without_cert(self):
        typ, data = imap_login(self.proxy2, "good@" + DOMAIN, PASSWORD)
        self.assertEqual(typ, "NO")
        self.assertIn("UNAVAILABLE", data[0].decode())
        # The proxy learns it from the backend's TLS alert...
        self.wait_log(r"proxy\(good@%s\): connect\(127\.0\.0\.1:%d\) "
                      r"failed: .*certificate required"
                      % (re.escape(DOMAIN), self.imap1))
        # ... and the backend says why it refused.
        self.wait_log(r"postern/imapd\[\d+\]: imap-login: Disconnected: "
                      r"TLS handshake failed: .*peer did not return a "
                      r"certificate \(no auth attempts\): rip=127\.0\.0\.1")

    def test_imap_backend_direct(self):
        self.assertIsNone(self.imap_greeting(None))
        self.assertIsNone(self.imap_greeting("rogue"))
        greeting = self.imap_greeting("node")
        self.assertIsNotNone(greeting)
        self.assertTrue(greeting.startswith(b"* OK"), greeting)

    # -- LMTP ---------------------------------------------------------
    def lmtp_starttls(self, cert):
        """LHLO, STARTTLS with cert, LHLO again: its reply, or None when
        the server refused the TLS session."""
        c = SmtpClient(self.lmtp1)
        try:
            c.line()
            c.cmd("LHLO client.ccert.test")
            self.assertEqual(c.cmd("STARTTLS")[0][:3], "220")
            c.sock = self.context(cert).wrap_socket(
                c.sock, server_hostname="127.0.0.1")
            c.buf = b""
            return c.cmd("LHLO client.ccert.test")
        except (ssl.SSLError, EOFError, ConnectionResetError,
                BrokenPipeError):
            return None
        finally:
            c.close()

    def test_lmtp_backend_direct(self):
        self.assertIsNone(self.lmtp_starttls(None))
        self.wait_log(r"postern/lmtpd\[\d+\]: .*lost connection after \S+ "
                      r"from 127\.0\.0\.1: TLS handshake failed: .*peer "
                      r"did not return a certificate")
        self.assertIsNone(self.lmtp_starttls("rogue"))
        r = self.lmtp_starttls("node")
        self.assertIsNotNone(r)
        self.assertTrue(r[0].startswith("250"), r)

    def test_queued_presents_cert(self):
        t, qid = submit(self.qsock, "s@x.example", ["local@" + DOMAIN],
                        message("ccert lmtp 4e1b"))
        self.assertEqual(t, "O", qid)
        wait_for(lambda: maildir_find(self.dir, DOMAIN, "local",
                                      "ccert lmtp 4e1b"),
                 what="delivery\n" + self.log()[-2000:])
        self.wait_log(r"%s: to=<local@%s>.*status=sent"
                      % (qid, re.escape(DOMAIN)))


if __name__ == "__main__":
    unittest.main()
