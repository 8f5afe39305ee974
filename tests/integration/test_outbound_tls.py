#!/usr/bin/env python3
"""Mail out with TLS, DANE, SASL and PIPELINING (issue 7,
docs/outbound.md): postern-queued's SMTP client against receiving
servers written in Python (postern_site.SmtpReceiver, STARTTLS with a
test CA made here by openssl) and the DNS harness (dnsserver.py: nsd +
validating unbound, signed zones carry the TLSA records).

Levels come from smtp_tls_policy_maps by recipient domain, the global
level is Postfix's default "may"; credentials come from
smtp_sasl_password_maps by [host]:port of transport_maps next hops.
"""
import os
import ssl
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnsserver import DnsServer, Zone, available  # noqa: E402
from postern_site import (SmtpReceiver, free_ports, run_postern,  # noqa
                          wait_for)
from tls_site import (RECEIVER_EXT, OutboundSite, cert_sha256,  # noqa
                      make_pki, server_ctx, spki_sha256)

TLS1 = "127.0.0.41"      # STARTTLS, certificate of CA 1, PIPELINING
PLAIN = "127.0.0.43"     # no STARTTLS, PIPELINING
WRONGCA = "127.0.0.44"   # STARTTLS, certificate of an unknown CA
RELAY = "127.0.0.45"     # STARTTLS + AUTH PLAIN/LOGIN (relayuser:relaypw)
RELAYBAD = "127.0.0.46"  # the same; the client has a wrong password
BADTLS = "127.0.0.47"    # offers STARTTLS, then no TLS at all
NOTLSAUTH = "127.0.0.48"  # AUTH PLAIN/LOGIN without STARTTLS
RELAYHOST = "127.0.0.49"  # the relayhost of the second site
TLS12 = "127.0.0.51"     # STARTTLS, CA 1, TLS 1.2 only, one AES256 cipher


def make_test_pki(d):
    """Two CAs; srv1 (mx.tls.example, mx.ta.example, relay names) from
    CA 1 with the CA in its chain, srv2 (mx.wrongca.example) from CA 2.
    Returns the TLSA data: 3 1 1 of srv1, 2 0 1 of CA 1."""
    make_pki(d, ("ca1", "ca2"),
             (("srv1", "ca1", ["mx.tls.example", "mx.ta.example",
                               "relay.example"]),
              ("srv2", "ca2", ["mx.wrongca.example"])))
    return spki_sha256(d, "srv1"), cert_sha256(d, "ca1")


class BrokenTls:
    """Says 220 to STARTTLS, then answers the client hello with junk."""

    def wrap_socket(self, sock, server_side=True):
        sock.recv(4096)
        sock.sendall(b"this is not TLS\r\n")
        raise OSError("no TLS here")


class OutboundTls(OutboundSite):
    SERVERS = ("tls1", "plain", "wrongca", "relay", "relaybad", "badtls",
               "notlsauth", "tls12")

    @classmethod
    def set_up_site(cls):
        why = available()
        if why:
            raise unittest.SkipTest(why)
        cls.make_site("postern-outtls.")
        pki = os.path.join(cls.dir, "pki")
        os.mkdir(pki)
        ee, ta = make_test_pki(pki)
        cls.port, lmtp_port = free_ports(2)
        p = cls.port
        tlsa = "_%d._tcp.mx" % p
        cls.dns = DnsServer([
            Zone("tls.example", [("@", "MX", "10 mx"), ("mx", "A", TLS1),
                                 (tlsa, "TLSA", "3 1 1 " + ee)], sign=True),
            Zone("badtlsa.example", [("@", "MX", "10 mx"),
                                     ("mx", "A", TLS1),
                                     (tlsa, "TLSA", "3 1 1 " + "ab" * 32)],
                 sign=True),
            Zone("ta.example", [("@", "MX", "10 mx"), ("mx", "A", TLS1),
                                (tlsa, "TLSA", "2 0 1 " + ta),
                                # PKIX usages are ignored (RFC 7672 3.1.3)
                                (tlsa, "TLSA", "1 1 1 " + "cd" * 32)],
                 sign=True),
            Zone("insecure.example", [("@", "MX", "10 mx"),
                                      ("mx", "A", TLS1)]),
            Zone("plain.example", [("@", "MX", "10 mx"), ("mx", "A", PLAIN)]),
            Zone("enc.example", [("@", "MX", "10 mx"), ("mx", "A", PLAIN)]),
            Zone("vfy.example", [("@", "MX", "10 mx.tls.example.")]),
            Zone("vfy2.example", [("@", "MX", "10 mx.tls.example.")]),
            Zone("sec1.example", [("@", "MX", "10 mx.tls.example.")]),
            Zone("sec2.example", [("@", "MX", "10 mx.tls.example.")]),
            Zone("wrongca.example", [("@", "MX", "10 mx"),
                                     ("mx", "A", WRONGCA)]),
            Zone("badtls.example", [("@", "MX", "10 mx"),
                                    ("mx", "A", BADTLS)]),
            Zone("tls12.example", [("mx", "A", TLS12)]),
        ] + [Zone(d, [("@", "MX", "10 mx.tls12.example.")])
             for d in ("p13.example", "cex.example", "cok.example")]
          + [Zone(d, [("@", "MX", "10 mx.tls.example.")])
             for d in ("p13ok.example", "p12.example", "badopt.example")]
        ).start()
        ext = RECEIVER_EXT
        ctx1 = server_ctx(pki, "srv1")
        cls.tls1 = SmtpReceiver(TLS1, p, ext=ext, tls=ctx1)
        cls.plain = SmtpReceiver(PLAIN, p, ext=ext)
        cls.wrongca = SmtpReceiver(WRONGCA, p, ext=ext,
                                   tls=server_ctx(pki, "srv2"))
        cls.relay = SmtpReceiver(RELAY, p, ext=ext, tls=ctx1,
                                 auth=("relayuser", "relaypw"))
        cls.relaybad = SmtpReceiver(RELAYBAD, p, ext=ext, tls=ctx1,
                                    auth=("relayuser", "relaypw"))
        cls.badtls = SmtpReceiver(BADTLS, p, ext=ext, tls=BrokenTls())
        cls.notlsauth = SmtpReceiver(NOTLSAUTH, p, ext=ext,
                                     auth=("relayuser", "relaypw"))
        ctx12 = server_ctx(pki, "srv1")
        ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx12.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
        cls.tls12 = SmtpReceiver(TLS12, p, ext=ext, tls=ctx12)
        policy = ("inline:{ tls.example=dane, badtlsa.example=dane, "
                  "ta.example=dane-only, insecure.example=dane, "
                  "enc.example=encrypt, vfy.example=verify, "
                  "wrongca.example=verify, vfy2.example=verify, "
                  "{ sec1.example = secure match=nexthop:mx.tls.example }, "
                  "sec2.example=secure, "
                  "{ [mx.tls.example]:%d = dane-only }, "
                  "{ p13.example = encrypt protocols=>=TLSv1.3 }, "
                  "{ p13ok.example = encrypt protocols=>=TLSv1.3 }, "
                  "{ p12.example = may protocols=!SSLv2:!SSLv3:!TLSv1"
                  ":!TLSv1.1:!TLSv1.3 ciphers=high }, "
                  "{ cex.example = encrypt ciphers=high "
                  "exclude=AES256 }, "
                  "{ cok.example = encrypt ciphers=medium "
                  "exclude=AES128,CHACHA20 }, "
                  "{ badopt.example = encrypt protocols=TLSv1.4 } }" % p)
        transport = ("inline:{ relay.example=smtp:[%s]:%d, "
                     "relaybad.example=smtp:[%s]:%d, "
                     "notlsauth.example=smtp:[%s]:%d, "
                     "danehop.example=smtp:[mx.tls.example]:%d }"
                     % (RELAY, p, RELAYBAD, p, NOTLSAUTH, p, p))
        passwords = ("inline:{ { [%s]:%d = relayuser:relaypw }, "
                     "{ [%s]:%d = relayuser:wrongpw }, "
                     "{ [%s]:%d = relayuser:relaypw } }"
                     % (RELAY, p, RELAYBAD, p, NOTLSAUTH, p))
        run_postern(cls.dir, "config", "set",
                    *cls.outbound_settings(lmtp_port),
                    "smtp_tls_CAfile=" + os.path.join(pki, "ca1.pem"),
                    "smtp_tls_policy_maps=" + policy,
                    # Levels encrypt and up; a policy protocols= wins.
                    "smtp_tls_mandatory_protocols=<=TLSv1.2",
                    "smtp_tls_mandatory_ciphers=high",
                    "transport_maps=" + transport,
                    "smtp_sasl_auth_enable=yes",
                    "smtp_sasl_password_maps=" + passwords,
                    *cls.dns.settings()[1::2])
        cls.write_services()
        run_postern(cls.dir, "domain", "add", "local.example")
        run_postern(cls.dir, "mailbox", "add", "sender@local.example",
                    "--password-stdin", stdin="secret-pw-1\n")
        run_postern(cls.dir, "start")
        cls.started = True

    def test_dane_ee_right_tlsa_delivers(self):
        qid, data = self.send(["d1@tls.example"], "dane-ee")
        got = self.delivered(self.tls1, "d1@tls.example")
        self.assertEqual(got[0]["data"], data)
        self.assertIsNotNone(got[0]["tls"])
        self.wait_log(r"%s: Verified TLS connection established to "
                      r"mx\.tls\.example\[%s\]:%d: TLSv1\.[23] with cipher"
                      % (qid, TLS1, self.port))
        self.wait_log(r"%s: relay=mx\.tls\.example\[%s\]:%d, tls=Verified"
                      % (qid, TLS1, self.port))
        self.wait_log(r"%s: to=<d1@tls\.example>, .*status=sent" % qid)

    def test_dane_only_for_a_bracketed_next_hop(self):
        # transport_maps [mx.tls.example]:port; the policy entry is the
        # next hop as written; its A answer is secure, so its TLSA counts.
        qid, _ = self.send(["h1@danehop.example"], "dane-hop")
        got = self.delivered(self.tls1, "h1@danehop.example")
        self.assertIsNotNone(got[0]["tls"])
        self.wait_log(r"%s: relay=mx\.tls\.example\[%s\]:%d, tls=Verified"
                      % (qid, TLS1, self.port))

    def test_dane_wrong_tlsa_defers(self):
        qid, _ = self.send(["d2@badtlsa.example"], "dane-wrong")
        self.deferred(qid, "d2@badtlsa.example", "4.7.5",
                      "Server certificate not verified")
        self.assertEqual(self.tls1.got("d2@badtlsa.example"), [])

    def test_dane_ta_delivers_and_ignores_pkix_usage(self):
        qid, _ = self.send(["d3@ta.example"], "dane-ta")
        got = self.delivered(self.tls1, "d3@ta.example")
        self.assertIsNotNone(got[0]["tls"])
        self.wait_log(r"%s: Verified TLS connection established to "
                      r"mx\.ta\.example" % qid)

    def test_dane_insecure_zone_is_opportunistic(self):
        # RFC 7672 2.2: no secure TLSA (the zone is unsigned): "may".
        qid, _ = self.send(["d4@insecure.example"], "dane-insecure")
        got = self.delivered(self.tls1, "d4@insecure.example")
        self.assertIsNotNone(got[0]["tls"])
        # The chain verifies with smtp_tls_CAfile; no name was asked.
        self.wait_log(r"%s: relay=mx\.insecure\.example\[%s\]:%d, "
                      r"tls=Trusted" % (qid, TLS1, self.port))

    def test_encrypt_without_starttls_defers(self):
        qid, _ = self.send(["e1@enc.example"], "encrypt")
        self.deferred(qid, "e1@enc.example", "4.7.4",
                      "TLS is required, but was not offered by host "
                      r"mx\.enc\.example")
        self.assertEqual(self.plain.got("e1@enc.example"), [])

    def test_may_without_starttls_sends_plaintext(self):
        qid, data = self.send(["m1@plain.example"], "may-plain")
        got = self.delivered(self.plain, "m1@plain.example")
        self.assertEqual(got[0]["data"], data)
        self.assertIsNone(got[0]["tls"])
        self.wait_log(r"%s: relay=mx\.plain\.example\[%s\]:%d, tls=none"
                      % (qid, PLAIN, self.port))

    def test_may_handshake_failure_falls_back_to_plaintext(self):
        qid, _ = self.send(["m2@badtls.example"], "may-fallback")
        got = self.delivered(self.badtls, "m2@badtls.example")
        self.assertIsNone(got[0]["tls"])
        self.assertGreaterEqual(self.badtls.tls_failures, 1)
        self.wait_log(r"%s: Cannot start TLS: handshake failure with "
                      r"mx\.badtls\.example.*; retrying in plaintext" % qid)

    def test_verify_with_the_right_ca(self):
        qid, _ = self.send(["v1@vfy.example"], "verify-ok")
        got = self.delivered(self.tls1, "v1@vfy.example")
        self.assertIsNotNone(got[0]["tls"])
        # (The connection may be a cached one: the per-delivery line.)
        self.wait_log(r"%s: relay=mx\.tls\.example\[%s\]:%d, tls=Verified"
                      % (qid, TLS1, self.port))

    def test_secure_matches_the_names_asked(self):
        # match= names the MX: verified, delivered.
        qid, _ = self.send(["s1@sec1.example"], "secure-ok")
        got = self.delivered(self.tls1, "s1@sec1.example")
        self.assertIsNotNone(got[0]["tls"])
        self.wait_log(r"%s: relay=mx\.tls\.example\[%s\]:%d, tls=Verified"
                      % (qid, TLS1, self.port))
        # The default (nexthop, dot-nexthop): the certificate does not
        # name sec2.example, the chain alone is not enough.
        qid, _ = self.send(["s2@sec2.example"], "secure-bad")
        self.deferred(qid, "s2@sec2.example", "4.7.5",
                      "Server certificate not verified by "
                      r"mx\.tls\.example.*[Hh]ostname mismatch")
        self.assertRegex(self.log(), r"%s: Trusted TLS connection "
                         r"established to mx\.tls\.example" % qid)
        self.assertEqual(self.tls1.got("s2@sec2.example"), [])

    def test_session_resumed_on_a_new_connection(self):
        # Two destinations with the same MX, level and names share the
        # client session cache entry (key: host[addr]:port, level, match).
        for rcpt in ("c1@vfy.example", "c2@vfy2.example"):
            qid, _ = self.send([rcpt], "resume")
            self.delivered(self.tls1, rcpt)
        self.wait_log(r"%s: Verified TLS connection established to "
                      r"mx\.tls\.example.*\(session reused\)" % qid)

    def test_verify_with_a_wrong_ca_defers(self):
        qid, _ = self.send(["v2@wrongca.example"], "verify-bad")
        self.deferred(qid, "v2@wrongca.example", "4.7.5",
                      "Server certificate not verified by "
                      r"mx\.wrongca\.example")
        self.assertRegex(self.log(), r"%s: Untrusted TLS connection "
                         r"established to mx\.wrongca\.example" % qid)
        self.assertEqual(self.wrongca.got("v2@wrongca.example"), [])

    # ---- protocols=, ciphers=, exclude= of policy entries

    def test_protocols_tls13_to_a_tls12_peer_defers(self):
        qid, _ = self.send(["t1@p13.example"], "tls13-only")
        self.deferred(qid, "t1@p13.example", "4.7.5",
                      r"Cannot start TLS: handshake failure with "
                      r"mx\.tls12\.example")
        self.assertEqual(self.tls12.got("t1@p13.example"), [])

    def test_protocols_tls13_to_a_tls13_peer_delivers(self):
        # The entry's protocols= wins over smtp_tls_mandatory_protocols.
        qid, _ = self.send(["t2@p13ok.example"], "tls13-ok")
        got = self.delivered(self.tls1, "t2@p13ok.example")
        self.assertEqual(got[0]["tls"], "TLSv1.3")
        self.wait_log(r"%s: relay=mx\.tls\.example\[%s\]:%d, "
                      r"tls=Trusted \(TLSv1\.3 " % (qid, TLS1, self.port))

    def test_protocols_and_ciphers_cap_a_tls13_peer(self):
        # !TLSv1.3: the peer could do 1.3, the connection is 1.2 with a
        # "high" cipher (may: the smtp_tls_mandatory_* do not apply).
        qid, _ = self.send(["t3@p12.example"], "tls12-cap")
        got = self.delivered(self.tls1, "t3@p12.example")
        self.assertEqual(got[0]["tls"], "TLSv1.2")
        self.wait_log(r"%s: relay=mx\.tls\.example\[%s\]:%d, "
                      r"tls=Trusted \(TLSv1\.2 with cipher ECDHE-ECDSA-"
                      % (qid, TLS1, self.port))

    def test_mandatory_protocols_only_where_tls_is_required(self):
        # verify: smtp_tls_mandatory_protocols (<=TLSv1.2) applies.
        qid, _ = self.send(["mand1@vfy.example"], "mandatory")
        got = self.delivered(self.tls1, "mand1@vfy.example")
        self.assertEqual(got[0]["tls"], "TLSv1.2")
        # dane without secure TLSA records is may: smtp_tls_protocols.
        qid, _ = self.send(["mand2@insecure.example"], "not-mandatory")
        got = self.delivered(self.tls1, "mand2@insecure.example")
        self.assertEqual(got[0]["tls"], "TLSv1.3")

    def test_exclude_of_every_peer_cipher_defers(self):
        # The peer has only ECDHE-ECDSA-AES256-GCM-SHA384 (TLS 1.2).
        qid, _ = self.send(["x1@cex.example"], "exclude-all")
        self.deferred(qid, "x1@cex.example", "4.7.5",
                      r"Cannot start TLS: handshake failure with "
                      r"mx\.tls12\.example")
        self.assertEqual(self.tls12.got("x1@cex.example"), [])
        # The same peer with a list that keeps its cipher.
        qid, _ = self.send(["x2@cok.example"], "exclude-some")
        got = self.delivered(self.tls12, "x2@cok.example")
        self.assertEqual(got[0]["tls"], "TLSv1.2")
        self.wait_log(r"%s: relay=mx\.tls12\.example\[%s\]:%d, "
                      r"tls=Trusted \(TLSv1\.2 with cipher "
                      r"ECDHE-ECDSA-AES256-GCM-SHA384" % (qid, TLS12,
                                                          self.port))

    def test_bad_option_value_defers_with_a_log_line(self):
        qid, _ = self.send(["b1@badopt.example"], "bad-option")
        self.deferred(qid, "b1@badopt.example", "4.7.5",
                      r"TLS policy lookup for badopt\.example failed: "
                      r".*unknown TLS protocol \"TLSv1\.4\"")
        self.assertRegex(self.log(), r"smtp_tls_policy_maps lookup for "
                         r"badopt\.example: .*TLSv1\.4")
        self.assertEqual(self.tls1.got("b1@badopt.example"), [])

    def test_sasl_plain_to_relay(self):
        qid, data = self.send(["r1@relay.example"], "sasl")
        got = self.delivered(self.relay, "r1@relay.example")
        self.assertEqual(got[0]["auth"], "relayuser")
        self.assertIsNotNone(got[0]["tls"])  # AUTH only after STARTTLS
        self.assertEqual(got[0]["data"], data)
        self.wait_log(r"%s: authenticated to %s\[%s\]:%d with PLAIN"
                      % (qid, RELAY, RELAY, self.port))

    def test_sasl_wrong_password_defers(self):
        qid, _ = self.send(["r2@relaybad.example"], "sasl-bad")
        self.deferred(qid, "r2@relaybad.example", "4.7.0",
                      r"SASL authentication failed; server .*said: 535")
        self.assertGreaterEqual(self.relaybad.auth_failures, 1)
        self.assertEqual(self.relaybad.got("r2@relaybad.example"), [])

    def test_no_auth_without_tls(self):
        # smtp_sasl_security_options (noplaintext) keeps the password off
        # a plaintext connection: no mechanism fits, the mail waits.
        qid, _ = self.send(["r3@notlsauth.example"], "sasl-plain")
        self.deferred(qid, "r3@notlsauth.example", "4.7.0",
                      "SASL authentication failed: cannot authenticate to "
                      "server .*no mechanism available")
        self.assertEqual(self.notlsauth.auth_failures, 0)
        self.assertEqual(self.notlsauth.got("r3@notlsauth.example"), [])

    def test_pipelining_in_one_read(self):
        qid, _ = self.send(["p1@plain.example", "badp2@plain.example",
                            "p3@plain.example"], "pipelining")
        got = self.delivered(self.plain, "p1@plain.example")
        batch = got[0]["batch"]
        # RFC 2920: MAIL, every RCPT and DATA arrived in one read.
        self.assertRegex(batch, rb"^MAIL FROM:<sender@local\.example>")
        self.assertIn(b"RCPT TO:<p1@plain.example>", batch)
        self.assertIn(b"RCPT TO:<badp2@plain.example>", batch)
        self.assertIn(b"RCPT TO:<p3@plain.example>", batch)
        self.assertTrue(batch.endswith(b"DATA\r\n"), batch)
        self.assertEqual(got[0]["rcpts"], ["p1@plain.example",
                                           "p3@plain.example"])
        self.wait_log(r"%s: to=<badp2@plain\.example>, .*dsn=5\.1\.1, "
                      r"status=bounced" % qid)
        self.wait_log(r"%s: to=<p3@plain\.example>, .*status=sent" % qid)


class RelayhostSasl(OutboundSite):
    """relayhost = [host]:port with SASL PLAIN after STARTTLS, the usual
    smarthost set-up (no DNS: the relay is an address)."""
    SERVERS = ("relay",)

    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-outtls-relay.")
        pki = os.path.join(cls.dir, "pki")
        os.mkdir(pki)
        make_test_pki(pki)
        cls.port, lmtp_port = free_ports(2)
        p = cls.port
        cls.relay = SmtpReceiver(RELAYHOST, p, tls=server_ctx(pki, "srv1"),
                                 auth=("smart", "host-pw"),
                                 ext=(b"8BITMIME", b"PIPELINING"))
        run_postern(cls.dir, "config", "set", "log_target=file",
                    "stop_timeout=5s", "myhostname=mx.local.example",
                    "lmtp_port=%d" % lmtp_port, "queue_run_delay=1s",
                    "relayhost=[%s]:%d" % (RELAYHOST, p),
                    "smtp_tls_security_level=encrypt",
                    "smtp_sasl_auth_enable=yes",
                    "smtp_sasl_mechanism_filter=plain",
                    "smtp_sasl_password_maps=inline:{ { [%s]:%d = "
                    "smart:host-pw } }" % (RELAYHOST, p))
        cls.write_services()
        run_postern(cls.dir, "start")
        cls.started = True

    def test_relayhost_with_sasl_plain(self):
        _, data = self.send(["far@elsewhere.example"], "smarthost")
        got = wait_for(lambda: self.relay.got("far@elsewhere.example"),
                       what="delivery through the relayhost")
        self.assertEqual(got[0]["auth"], "smart")
        self.assertIsNotNone(got[0]["tls"])
        self.assertEqual(got[0]["data"], data)


if __name__ == "__main__":
    unittest.main()
