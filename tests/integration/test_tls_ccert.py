#!/usr/bin/env python3
"""TLS client certificates in postern-smtpd (mta/smtpd-ccert.c,
mta/smtpd-restrict-tls.c), through real daemons and Python ssl clients
with certificates from a test PKI (tls_site.make_pki):

  ca     the CA of $smtpd_tls_CAfile; certificates "listed" (its
         fingerprint in $relay_clientcerts), "pkonly" (its public key
         fingerprint there), "plain" (verified, listed nowhere),
         "blocked" (REJECT in the check_ccert_access table);
  other  a CA nobody trusts: "rogue" (its fingerprint in
         $relay_clientcerts: permit_tls_clientcerts relays it, as
         Postfix; permit_tls_all_clientcerts does not) and
         "pinned" (OK in the check_ccert_access table).

Services: smtp (STARTTLS; check_ccert_access then
permit_tls_clientcerts), smtp2 (STARTTLS; permit_tls_all_clientcerts),
smtps (implicit TLS with smtpd_tls_req_ccert=yes), smtp3 (STARTTLS,
smtpd_tls_ask_ccert=no: nothing is asked, nothing permits).  127.0.0.1
is not in $mynetworks, so only a certificate relays; every relay list
ends with reject_unauth_destination (554 Relay access denied).
"""
import hashlib
import os
import socket
import ssl
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (SiteTestCase, SmtpSession, free_ports,  # noqa: E402
                          maildir_find, run_postern, wait_for)
from tls_site import make_pki, spki_sha256  # noqa: E402
from test_milter import ScriptMilter  # noqa: E402
from test_policy_service import PolicyServer  # noqa: E402

DOM = "hosted.example"
REMOTE = "bob@remote.example"


def fingerprint(d, name):
    """sha256 of NAME.pem in d as Postfix writes it: AA:BB:..."""
    import subprocess
    der = subprocess.run(["openssl", "x509", "-in", name + ".pem",
                          "-outform", "DER"], cwd=d, check=True,
                         capture_output=True).stdout
    return ":".join("%02X" % b for b in hashlib.sha256(der).digest())


def colon(hexstr):
    return ":".join(hexstr[i:i + 2] for i in range(0, len(hexstr), 2)).upper()


class CcertSession(SmtpSession):
    """SMTP with STARTTLS (or implicit TLS) and an optional client
    certificate NAME of the PKI."""

    def __init__(self, port, pki, cert=None, implicit=False):
        self.pki = pki
        self.cert = cert
        if implicit:
            self.t0 = 0
            self.joined = False
            self.sock = self.context().wrap_socket(
                socket.create_connection(("127.0.0.1", port), timeout=20))
            self.buf = b""
            self.greeting = self.reply()
        else:
            super().__init__(port)

    def context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if self.cert is not None:
            ctx.load_cert_chain(os.path.join(self.pki, self.cert + ".pem"),
                                os.path.join(self.pki, self.cert + ".key"))
        return ctx

    def starttls(self):
        self.cmd("EHLO client.test")
        r = self.cmd("STARTTLS")
        assert r.startswith("220"), r
        self.sock = self.context().wrap_socket(self.sock)
        self.buf = b""

    def relay(self, rcpt=REMOTE):
        """EHLO, MAIL, RCPT over the TLS session: RCPT's reply."""
        self.cmd("EHLO client.test")
        r = self.cmd("MAIL FROM:<sender@client.test>")
        assert r.startswith("250"), r
        return self.cmd("RCPT TO:<%s>" % rcpt)


class ClientCertTests(SiteTestCase):

    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-ccert.")
        cls.pki = tempfile.mkdtemp(prefix="pki.", dir=cls.dir)
        make_pki(cls.pki, ["ca", "other"], [
            ("listed", "ca", ["listed.client.test"]),
            ("pkonly", "ca", ["pkonly.client.test"]),
            ("plain", "ca", ["plain.client.test"]),
            ("blocked", "ca", ["blocked.client.test"]),
            ("rogue", "other", ["rogue.client.test"]),
            ("pinned", "other", ["pinned.client.test"]),
        ], label="ccert")
        d = cls.dir
        with open(os.path.join(d, "relay_clientcerts"), "w") as f:
            f.write("%s listed-host\n" % fingerprint(cls.pki, "listed"))
            f.write("%s pkonly-host\n" % colon(spki_sha256(cls.pki,
                                                           "pkonly")))
            f.write("%s rogue-host\n" % fingerprint(cls.pki, "rogue"))
        with open(os.path.join(d, "ccert_access"), "w") as f:
            f.write("%s REJECT certificate revoked\n"
                    % fingerprint(cls.pki, "blocked"))
            f.write("%s OK\n" % fingerprint(cls.pki, "pinned"))
        settings = cls.pick_ports()
        cls.port2, cls.port3, cls.port_s, cls.port_m, cls.port_p = \
            free_ports(5)
        cls.milter = ScriptMilter()
        cls.policy = PolicyServer()
        settings += [
            "log_target=file", "stop_timeout=5s", "myhostname=mx.test",
            "mynetworks=192.0.2.0/24",
            "smtpd_tls_ask_ccert=yes",
            "smtpd_tls_CAfile=" + os.path.join(cls.pki, "ca.pem"),
            "relay_clientcerts=texthash:" + os.path.join(
                d, "relay_clientcerts"),
            "smtpd_relay_restrictions=check_ccert_access texthash:%s, "
            "permit_tls_clientcerts, reject_unauth_destination"
            % os.path.join(d, "ccert_access"),
        ]
        run_postern(d, "config", "set", *settings)
        with open(os.path.join(d, "main.cf"), "a") as f:
            f.write("smtpd_restriction_classes = c_policy\n"
                    "c_policy = check_policy_service inet:127.0.0.1:%d, "
                    "permit\n" % cls.policy.server_address[1])
        with open(os.path.join(d, "services.cf"), "w") as f:
            f.write(
                "smtp   inet  127.0.0.1:$smtp_port  starttls  1  "
                "postern-smtpd\n"
                "smtp2  inet  127.0.0.1:%d  starttls  1  postern-smtpd "
                "-o smtpd_relay_restrictions=permit_tls_all_clientcerts,"
                "reject_unauth_destination\n"
                "smtp3  inet  127.0.0.1:%d  starttls  1  postern-smtpd "
                "-o smtpd_tls_ask_ccert=no\n"
                "smtps  inet  127.0.0.1:%d  implicit  1  postern-smtpd "
                "-o smtpd_tls_req_ccert=yes\n"
                "smtpm  inet  127.0.0.1:%d  starttls  1  postern-smtpd "
                "-o smtpd_milters=inet:127.0.0.1:%d\n"
                "smtpp  inet  127.0.0.1:%d  starttls  1  postern-smtpd "
                "-o smtpd_recipient_restrictions=c_policy\n"
                "queue  unix  $queue_socket  none  1  postern-queued\n"
                "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n"
                % (cls.port2, cls.port3, cls.port_s, cls.port_m,
                   cls.milter.server_address[1], cls.port_p))
        cls.start_with_mailbox(DOM)

    def rcpt(self, port, cert):
        s = CcertSession(port, self.pki, cert)
        try:
            s.starttls()
            return s.relay()
        finally:
            s.close()

    # ---- permit_tls_clientcerts

    def test_listed_fingerprint_relays(self):
        self.assertTrue(self.rcpt(self.port, "listed").startswith("250"))

    def test_listed_pkey_fingerprint_relays(self):
        self.assertTrue(self.rcpt(self.port, "pkonly").startswith("250"))

    def test_unlisted_refused(self):
        r = self.rcpt(self.port, "plain")
        self.assertTrue(r.startswith("554"), r)
        self.assertIn("Relay access denied", r)

    def test_unverified_listed_relays(self):
        # Listed in relay_clientcerts, from a CA we do not trust: the
        # fingerprint is the identity, as in Postfix (smtpd_check.c:
        # "it is OK if the issuing CA is not trusted").
        r = self.rcpt(self.port, "rogue")
        self.assertTrue(r.startswith("250"), r)

    def test_no_cert_refused(self):
        r = self.rcpt(self.port, None)
        self.assertIn("554 5.7.1", r)
        self.assertIn("Relay access denied", r)

    # ---- check_ccert_access

    def test_ccert_access_reject(self):
        # Verified and otherwise harmless: the table's REJECT decides.
        r = self.rcpt(self.port, "blocked")
        self.assertTrue(r.startswith("554 5.7.1"), r)
        self.assertIn("<blocked.client.test>: Client certificate rejected: "
                      "certificate revoked", r)

    def test_ccert_access_ok(self):
        # Not verified, not in relay_clientcerts: only the table's OK.
        self.assertTrue(self.rcpt(self.port, "pinned").startswith("250"))

    # ---- permit_tls_all_clientcerts

    def test_all_clientcerts(self):
        self.assertTrue(self.rcpt(self.port2, "plain").startswith("250"))
        self.assertTrue(self.rcpt(self.port2, "blocked").startswith("250"))
        r = self.rcpt(self.port2, "rogue")
        self.assertIn("Relay access denied", r)
        r = self.rcpt(self.port2, None)
        self.assertIn("Relay access denied", r)

    def test_not_asked_nothing_permits(self):
        # smtpd_tls_ask_ccert=no: no certificate is requested, so even a
        # listed one is never seen.
        r = self.rcpt(self.port3, "listed")
        self.assertIn("Relay access denied", r)

    # ---- smtpd_tls_req_ccert on an implicit-TLS listener

    def test_req_ccert_without_cert(self):
        s = CcertSession(self.port_s, self.pki, None, implicit=True)
        try:
            self.assertTrue(s.greeting.startswith("421 4.7.1"), s.greeting)
            self.assertIn("client certificate required", s.greeting)
        finally:
            s.sock.close()
        self.wait_log(r"NOQUEUE: abort: TLS from .*127\.0\.0\.1.*: "
                      r"no client certificate")

    def test_req_ccert_untrusted(self):
        s = CcertSession(self.port_s, self.pki, "rogue", implicit=True)
        try:
            self.assertTrue(s.greeting.startswith("421 4.7.1"), s.greeting)
            self.assertIn("not trusted", s.greeting)
        finally:
            s.sock.close()

    def test_req_ccert_with_cert(self):
        s = CcertSession(self.port_s, self.pki, "plain", implicit=True)
        try:
            self.assertTrue(s.greeting.startswith("220"), s.greeting)
        finally:
            s.close()

    # ---- what the log and the Received header say

    def test_log_and_received(self):
        s = CcertSession(self.port, self.pki, "listed")
        try:
            s.starttls()
            self.assertTrue(s.relay("alice@" + DOM).startswith("250"))
            self.assertTrue(s.cmd("DATA").startswith("354"))
            s.send(b"Subject: ccert-token-1\r\n\r\nhello\r\n.\r\n")
            self.assertTrue(s.reply().startswith("250"))
        finally:
            s.close()
        self.wait_log(r"Trusted TLS connection established from "
                      r"\S*\[127\.0\.0\.1\]: TLSv1\.[23] with cipher")
        self.wait_log(r"client certificate subject_CN=listed\.client\.test, "
                      r"issuer=Postern ccert ca, fingerprint=%s, "
                      r"pkey_fingerprint=[0-9A-F:]{95} \(verified OK\)"
                      % fingerprint(self.pki, "listed"))
        msgs = wait_for(lambda: maildir_find(self.dir, DOM, "alice",
                                             "ccert-token-1"),
                        what="delivery")
        self.assertIn('(Client CN "listed.client.test", Issuer "Postern '
                      'ccert ca" (verified OK))', msgs[0])

    def test_log_untrusted_and_anonymous(self):
        self.rcpt(self.port, "rogue")
        self.wait_log(r"Untrusted TLS connection established from "
                      r"\S*\[127\.0\.0\.1\]")
        self.wait_log(r"subject_CN=rogue\.client\.test, issuer=Postern "
                      r"ccert other, .* \((?!verified OK)[a-z ]+\)$")
        self.rcpt(self.port, None)
        self.wait_log(r"Anonymous TLS connection established from "
                      r"\S*\[127\.0\.0\.1\]")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for name in ("milter", "policy"):
            if getattr(cls, name, None) is not None:
                getattr(cls, name).shutdown()
                getattr(cls, name).server_close()

    def test_milter_cert_macros(self):
        # Postfix's {cert_subject} and {cert_issuer} (in the default
        # milter_helo_macros): the client certificate's CNs.
        s = CcertSession(self.port_m, self.pki, "listed")
        try:
            s.starttls()
            self.assertTrue(s.relay("alice@" + DOM).startswith("250"))
        finally:
            s.close()
        helo = wait_for(lambda: [m for m in self.milter.seen("macros-H")
                                 if "{cert_subject}" in m],
                        what="HELO macros")
        self.assertEqual(helo[-1]["{cert_subject}"], "listed.client.test")
        self.assertEqual(helo[-1]["{cert_issuer}"], "Postern ccert ca")

    def policy_request(self, cert, rcpt):
        s = CcertSession(self.port_p, self.pki, cert)
        try:
            s.starttls()
            self.assertTrue(s.relay(rcpt).startswith("250"))
        finally:
            s.close()
        return wait_for(lambda: [r for r in self.policy.requests
                                 if r.get("recipient") == rcpt],
                        what="policy request")[-1]

    def test_policy_attributes(self):
        # As Postfix: subject and issuer of a verified certificate,
        # fingerprints of any presented one, nothing without one.
        r = self.policy_request("listed", "alice+p1@" + DOM)
        self.assertEqual(r["ccert_subject"], "listed.client.test")
        self.assertEqual(r["ccert_issuer"], "Postern ccert ca")
        self.assertEqual(r["ccert_fingerprint"],
                         fingerprint(self.pki, "listed"))
        self.assertRegex(r["ccert_pubkey_fingerprint"],
                         r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$")
        r = self.policy_request("rogue", "alice+p2@" + DOM)
        self.assertEqual(r["ccert_subject"], "")
        self.assertEqual(r["ccert_fingerprint"],
                         fingerprint(self.pki, "rogue"))
        r = self.policy_request(None, "alice+p3@" + DOM)
        self.assertEqual(r["ccert_fingerprint"], "")

    # ---- figures (printed; docs/tls.md)

    def test_zz_figures(self):
        """What asking costs: connect, EHLO, STARTTLS, EHLO, QUIT on a
        listener that does not ask, one that asks (no certificate sent),
        and one that asks with a certificate sent and verified; 30 of
        each, medians printed."""
        import statistics
        import time

        def one(port, cert):
            t0 = time.perf_counter()
            s = CcertSession(port, self.pki, cert)
            s.starttls()
            self.assertTrue(s.cmd("EHLO client.test").startswith("250"))
            s.close()
            return (time.perf_counter() - t0) * 1000

        ms = [statistics.median(one(port, cert) for _ in range(30))
              for port, cert in ((self.port3, None), (self.port, None),
                                 (self.port, "plain"))]
        print("\nSTARTTLS session (connect..QUIT), medians of 30: "
              "%.2f ms not asked, %.2f ms asked without a certificate, "
              "%.2f ms with a verified certificate" % tuple(ms),
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
