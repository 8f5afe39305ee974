#!/usr/bin/env python3
"""The HAProxy PROXY protocol in front of real daemons (lib/server/
proxy_proto.c, server_proxy.c; docs/scaling.md "Load balancers"):
smtpd_upstream_proxy_protocol, postscreen_upstream_proxy_protocol,
imapd_upstream_proxy_protocol and haproxy_trusted_networks, each set with
-o on one services.cf line, as behind a TCP load balancer.

Python plays the load balancer: it connects from 127.0.0.x and writes a
v1 or v2 header naming another client address.  mynetworks is
127.0.0.0/8, so a header naming 192.0.2.x must lose permit_mynetworks
(relaying refused) while one naming 127.0.0.9 relays; postscreen's
DNSBL and allowlist decisions must follow the header; IMAP login logs
must show it.  Without the feature every header below would be an SMTP
or IMAP command and every assertion on the proxied address would fail.
"""
import os
import socket
import ssl
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (DnsSiteTestCase, SmtpClient, free_ports,  # noqa: E402
                          tls_context)
from dnsserver import Zone  # noqa: E402

DOM = "hosted.example"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
ZONES = [
    Zone("bl.example", [("7.2.0.192", "A", "127.0.0.2")]),
    Zone("wl.example", [("30.2.0.192", "A", "127.0.0.5")]),
]


def v1(src, sport=40001, dst="127.0.0.1", dport=25):
    fam = "TCP6" if ":" in src else "TCP4"
    if fam == "TCP6" and ":" not in dst:
        dst = "::1"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport,
                                          dport)).encode()


def v2(src, sport=40002, dst=None, dport=25, tlv=b"", command=0x21):
    if ":" in src:
        fam, af = 0x21, socket.AF_INET6
        dst = dst or "::1"
    else:
        fam, af = 0x11, socket.AF_INET
        dst = dst or "127.0.0.1"
    addrs = (socket.inet_pton(af, src) + socket.inet_pton(af, dst) +
             struct.pack(">HH", sport, dport))
    body = addrs + tlv
    return V2_SIG + bytes([command, fam]) + struct.pack(">H",
                                                        len(body)) + body


class ProxyProtocolTests(DnsSiteTestCase):

    @classmethod
    def set_up_site(cls):
        cls.start_dns(ZONES)
        cls.make_site("postern-proxyproto.")
        (cls.port_plain, cls.port_ps, cls.port_strict,
         cls.port_imap_proxy) = free_ports(4)
        settings = cls.pick_ports() + [
            "myhostname=mx.test",
            "mynetworks=127.0.0.0/8",
            "stop_timeout=5s",
        ] + cls.dns_settings() + [
            "postscreen_greet_wait=1s",
            "postscreen_dnsbl_sites=bl.example=127.0.0.[2..3]*2, "
            "wl.example*-3",
            "postscreen_dnsbl_threshold=2",
            "postscreen_dnsbl_allowlist_threshold=-1",
            "postscreen_dnsbl_action=drop",
            # postern-imap-proxy in front of the imap service (backend).
            "proxy_backends=127.0.0.1:%d" % cls.ports["imap"],
            "imapd_trusted_networks=127.0.0.1/32",
        ]
        cls.configure(
            "smtp  inet  127.0.0.1:$smtp_port  none  1  postern-smtpd "
            "-o smtpd_upstream_proxy_protocol=haproxy "
            "-o smtpd_upstream_proxy_timeout=2s\n"
            "smtp-plain  inet  127.0.0.1:%d  none  1  postern-smtpd\n"
            "smtp-ps  inet  127.0.0.1:%d  none  1  postern-postscreen "
            "-o postscreen_upstream_proxy_protocol=haproxy\n"
            "smtpd-pass  unix  $postscreen_pass_socket  none  1  "
            "postern-smtpd\n"
            "queue  unix  $queue_socket  none  1  postern-queued\n"
            "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n"
            "imaps  inet  127.0.0.1:$imaps_port  implicit  1  "
            "postern-imapd -o imapd_upstream_proxy_protocol=haproxy\n"
            "imap-strict  inet  127.0.0.1:%d  none  1  postern-imapd "
            "-o imapd_upstream_proxy_protocol=haproxy "
            "-o haproxy_trusted_networks=127.0.0.5/32,::1\n"
            "imap  inet  127.0.0.1:$imap_port  none  1  postern-imapd "
            "-o imapd_plaintext_loopback=yes\n"
            "imap-lb  inet  127.0.0.1:%d  none  1  postern-imap-proxy "
            "-o imapd_upstream_proxy_protocol=haproxy "
            "-o imapd_plaintext_loopback=yes\n"
            % (cls.port_plain, cls.port_ps, cls.port_strict,
               cls.port_imap_proxy), *settings)
        cls.start_with_mailbox(DOM)

    # ---- helpers

    def lb(self, port, header, source=None, timeout=20):
        """A connection from the "load balancer" that starts with header
        (bytes, sent as is; may be followed by client bytes)."""
        c = SmtpClient(port, source=source, timeout=timeout)
        self.addCleanup(c.close)
        if header:
            c.send(header)
        return c

    def relay_reply(self, c):
        """After the greeting: EHLO, MAIL, RCPT to a foreign domain."""
        self.assertEqual(c.reply()[-1][:3], "220")
        self.assertEqual(c.cmd("EHLO client.example")[-1][:3], "250")
        self.assertEqual(c.cmd("MAIL FROM:<s@good.example>")[0][:3], "250")
        return c.cmd("RCPT TO:<bob@elsewhere.example>")[0]

    def closed_without_banner(self, c):
        self.assertTrue(c.closed())
        self.assertEqual(c.buf, b"")

    # ---- smtpd

    def test_v1_client_address_replaces_the_balancer(self):
        c = self.lb(self.port, v1("192.0.2.7", 40001))
        self.assertRegex(self.relay_reply(c), r"^554 5\.7\.1 ")
        self.wait_log(r"connect from \[192\.0\.2\.7\]:40001 \(smtp\)")

    def test_v1_loopback_client_relays(self):
        c = self.lb(self.port, v1("127.0.0.9", 40003))
        self.assertEqual(self.relay_reply(c)[:3], "250")
        self.wait_log(r"connect from \[127\.0\.0\.9\]:40003 \(smtp\)")

    def test_v2_ipv4_split_in_two_segments(self):
        h = v2("192.0.2.8", 40004, tlv=b"\x01\x00\x04smtp")
        c = self.lb(self.port, h[:10])
        time.sleep(0.3)
        c.send(h[10:])
        self.assertRegex(self.relay_reply(c), r"^554 5\.7\.1 ")
        self.wait_log(r"connect from \[192\.0\.2\.8\]:40004 \(smtp\)")

    def test_v2_loopback_client_relays(self):
        c = self.lb(self.port, v2("127.0.0.9", 40005))
        self.assertEqual(self.relay_reply(c)[:3], "250")
        self.wait_log(r"connect from \[127\.0\.0\.9\]:40005 \(smtp\)")

    def test_v2_ipv6_client(self):
        c = self.lb(self.port, v2("2001:db8::7", 40006))
        self.assertRegex(self.relay_reply(c), r"^554 5\.7\.1 ")
        self.wait_log(r"connect from \[2001:db8::7\]:40006 \(smtp\)")

    def test_v2_local_keeps_the_socket_address(self):
        # A balancer's health check: LOCAL, the connection's own address.
        c = self.lb(self.port, v2("192.0.2.9", 40007, command=0x20),
                    source="127.0.0.3")
        self.assertEqual(self.relay_reply(c)[:3], "250")
        self.wait_log(r"connect from \[127\.0\.0\.3\]:\d+ \(smtp\)")
        self.assertNotIn("[192.0.2.9]", self.log())

    def test_pipelined_bytes_after_the_header_are_kept(self):
        c = self.lb(self.port, v1("192.0.2.10", 40008) +
                    b"NOOP\r\nEHLO early.example\r\nQUIT\r\n")
        self.assertEqual(c.reply()[-1][:3], "220")
        self.assertEqual(c.reply()[-1][:3], "250")        # NOOP
        self.assertEqual(c.reply()[-1][:3], "250")        # EHLO
        self.assertEqual(c.reply()[-1][:3], "221")        # QUIT
        self.wait_log(r"connect from \[192\.0\.2\.10\]:40008 \(smtp\)")

    def test_v2_pipelined_bytes_kept(self):
        c = self.lb(self.port, v2("192.0.2.11", 40009) + b"QUIT\r\n")
        self.assertEqual(c.reply()[-1][:3], "220")
        self.assertEqual(c.reply()[-1][:3], "221")

    def test_garbage_header_closes_without_banner(self):
        c = self.lb(self.port, b"EHLO client.example\r\n",
                    source="127.0.0.21")
        self.closed_without_banner(c)
        self.wait_log(r"upstream proxy: \[127\.0\.0\.21\]:\d+ on \S+: no "
                      r"PROXY protocol header; lost connection after "
                      r"upstream proxy header")

    def test_bad_v1_closes_without_banner(self):
        c = self.lb(self.port, b"PROXY TCP4 192.0.2.300 127.0.0.1 1 25\r\n",
                    source="127.0.0.22")
        self.closed_without_banner(c)
        self.wait_log(r"upstream proxy: \[127\.0\.0\.22\]:\d+ .*bad IPv4")

    def test_timeout_closes_without_banner(self):
        c = self.lb(self.port, b"PROXY TCP4 192.0.2.7", source="127.0.0.23")
        t0 = time.time()
        self.closed_without_banner(c)
        took = time.time() - t0
        self.assertGreater(took, 1.5)
        self.assertLess(took, 6)
        self.wait_log(r"upstream proxy: \[127\.0\.0\.23\]:\d+ .*no complete "
                      r"header within 2000 ms")

    def test_without_the_option_a_header_is_a_bad_command(self):
        c = self.lb(self.port_plain, None, source="127.0.0.24")
        self.assertEqual(c.reply()[-1][:3], "220")
        r = c.cmd(v1("192.0.2.7").decode().strip())
        self.assertEqual(r[-1][0], "5")
        self.wait_log(r"connect from \[127\.0\.0\.24\]:\d+ \(smtp-plain\)")
        self.assertNotRegex(self.log(), r"connect from \[192\.0\.2\.7\]:"
                            r"\d+ \(smtp-plain\)")

    # ---- postscreen

    def test_postscreen_dnsbl_uses_the_proxied_address(self):
        c = self.lb(self.port_ps, v1("192.0.2.7", 40010))
        self.assertEqual(c.line(), "220-mx.test ESMTP Postern")
        self.assertEqual(c.line(), "521 5.7.1 Service unavailable; client "
                         "[192.0.2.7] blocked using bl.example")
        self.assertTrue(c.closed())
        self.wait_log(r"DNSBL rank 2 for \[192\.0\.2\.7\]:40010")

    def test_postscreen_allowlist_and_handoff_to_smtpd(self):
        c = self.lb(self.port_ps, v2("192.0.2.30", 40011))
        self.assertEqual(c.line(), "220-mx.test ESMTP Postern")
        self.assertEqual(c.reply(), ["220 mx.test ESMTP Postern"])
        self.assertIn("250-PIPELINING", c.cmd("EHLO client.example"))
        self.wait_log(r"DNSBL rank -3 for \[192\.0\.2\.30\]:40011")
        self.wait_log(r"postscreen: \[192\.0\.2\.30\]:40011 ALLOWLISTED")
        self.wait_log(r"connect from \[192\.0\.2\.30\]:40011 \(smtp-ps\)")
        # smtpd did not read a header again, and the address is not in
        # mynetworks there either.
        self.assertEqual(c.cmd("MAIL FROM:<s@good.example>")[0][:3], "250")
        self.assertRegex(c.cmd("RCPT TO:<bob@elsewhere.example>")[0],
                         r"^554 5\.7\.1 ")

    def test_postscreen_garbage_header_no_banner(self):
        c = self.lb(self.port_ps, b"HELO x\r\n", source="127.0.0.25")
        self.closed_without_banner(c)
        self.wait_log(r"upstream proxy: \[127\.0\.0\.25\]:\d+ .*lost "
                      r"connection after upstream proxy header")

    # ---- IMAP

    def test_imaps_login_log_shows_the_proxied_address(self):
        raw = socket.create_connection(("127.0.0.1", self.ports["imaps"]),
                                       timeout=20)
        self.addCleanup(raw.close)
        # The header comes before the TLS handshake, as HAProxy sends it.
        raw.sendall(v1("192.0.2.44", 40012, dport=993))
        s = tls_context().wrap_socket(raw)
        f = s.makefile("rb")
        self.assertTrue(f.readline().startswith(b"* OK"))
        s.sendall(b'a LOGIN "alice@%s" "pw-alice-secret"\r\n' % DOM.encode())
        line = f.readline()
        while line.startswith(b"*"):
            line = f.readline()
        self.assertTrue(line.startswith(b"a OK"), line)
        s.sendall(b"b LOGOUT\r\n")
        s.close()
        self.wait_log(r"imap-login: Login: user=<alice@%s>, method=\S+, "
                      r"rip=192\.0\.2\.44, " % DOM.replace(".", r"\."))

    def test_imap_untrusted_balancer_refused(self):
        c = self.lb(self.port_strict, v1("192.0.2.45", 40013),
                    source="127.0.0.26")
        self.closed_without_banner(c)
        self.wait_log(r"upstream proxy: connection from \[127\.0\.0\.26\]:"
                      r"\d+ on \S+ refused: not in haproxy_trusted_networks")

    def test_imap_trusted_balancer_accepted(self):
        c = self.lb(self.port_strict, v1("192.0.2.46", 40014),
                    source="127.0.0.5")
        c.EOL = b"\r\n"
        self.assertTrue(c.line().startswith("* OK"))
        # No TLS here and the client is not loopback: no LOGIN, but ID
        # is logged with the client address.
        c.send(b'a ID ("name" "lb-test")\r\n')
        self.assertTrue(c.line().startswith("* ID"))
        self.wait_log(r"imap-login: ID from 192\.0\.2\.46: name=lb-test")

    def test_imap_proxy_forwards_the_proxied_address(self):
        # 127.0.0.9: a loopback client, so plaintext LOGIN is allowed at
        # the proxy; the backend must learn .9, not the proxy's .1.
        c = self.lb(self.port_imap_proxy, v2("127.0.0.9", 40015, dport=143))
        c.EOL = b"\r\n"
        self.assertTrue(c.line().startswith("* OK"))
        c.send(b'a LOGIN "alice@%s" "pw-alice-secret"\r\n' % DOM.encode())
        line = c.line()
        while line.startswith("*"):
            line = c.line()
        self.assertTrue(line.startswith("a OK"), line)
        self.wait_log(r"imap-login: proxy\(alice@%s\): started proxying "
                      r"to .*rip=127\.0\.0\.9, " % DOM.replace(".", r"\."))
        self.wait_log(r"postern/imapd\[\d+\]: imap-login: Login: "
                      r"user=<alice@%s>, method=\S+, rip=127\.0\.0\.9, "
                      % DOM.replace(".", r"\."))


if __name__ == "__main__":
    unittest.main(verbosity=2)
