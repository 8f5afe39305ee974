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

TLS terminated at the balancer: a v2 header whose PP2_TYPE_SSL TLV has
PP2_CLIENT_SSL makes the session secured (IMAP LOGIN without STARTTLS,
smtpd AUTH on a submission port), only from haproxy_trusted_networks;
PP2_TYPE_CRC32C is verified and a TLV overrunning the header is refused.
With postscreen in front (submission-ps), the balancer's TLS travels
with the client in the smtpd-pass hand-off (lib/server/server_pass.c).
"""
import base64
import os
import socket
import struct
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (DnsSiteTestCase, SmtpClient, free_ports,  # noqa: E402
                          maildir_find, tls_context, wait_for)
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


def tlv(kind, value):
    return bytes([kind]) + struct.pack(">H", len(value)) + value


def ssl_tlv(client=0x01, version=b"TLSv1.3",
            cipher=b"TLS_AES_256_GCM_SHA384"):
    """PP2_TYPE_SSL: client bits (0x01 PP2_CLIENT_SSL), verify 0, the
    VERSION and CIPHER sub-TLVs."""
    return tlv(0x20, bytes([client]) + struct.pack(">I", 0) +
               tlv(0x21, version) + tlv(0x23, cipher))


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def with_crc(header, wrong=False):
    """header (a v2 header whose last TLV is a zeroed PP2_TYPE_CRC32C)
    with its checksum filled in (or one that does not match)."""
    c = crc32c(header) ^ (1 if wrong else 0)
    return header[:-4] + struct.pack(">I", c)


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
         cls.port_imap_proxy, cls.port_imap_lb,
         cls.port_sub_ps) = free_ports(6)
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
            # postscreen in front of submission behind the balancer.
            "smtpd_submission_services=submission, submissions, "
            "submission-ps",
        ]
        cls.configure(
            "smtp  inet  127.0.0.1:$smtp_port  none  1  postern-smtpd "
            "-o smtpd_upstream_proxy_protocol=haproxy "
            "-o smtpd_upstream_proxy_timeout=2s\n"
            "smtp-plain  inet  127.0.0.1:%d  none  1  postern-smtpd\n"
            "smtp-ps  inet  127.0.0.1:%d  none  1  postern-postscreen "
            "-o postscreen_upstream_proxy_protocol=haproxy\n"
            # starttls: the TLS context for submission-ps's STARTTLS.
            "smtpd-pass  unix  $postscreen_pass_socket  starttls  1  "
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
            # TLS terminated at the balancer (127.0.0.5 only).
            "imap-lb-tls  inet  127.0.0.1:%d  starttls  1  postern-imapd "
            "-o imapd_upstream_proxy_protocol=haproxy "
            "-o haproxy_trusted_networks=127.0.0.5/32\n"
            "submission  inet  127.0.0.1:$submission_port  starttls  1  "
            "postern-smtpd -o smtpd_upstream_proxy_protocol=haproxy "
            "-o haproxy_trusted_networks=127.0.0.5/32\n"
            # Client certificates required: the balancer's TLS is not
            # enough.
            "submissions  inet  127.0.0.1:$submissions_port  starttls  1  "
            "postern-smtpd -o smtpd_upstream_proxy_protocol=haproxy "
            "-o haproxy_trusted_networks=127.0.0.5/32 "
            "-o smtpd_tls_req_ccert=yes\n"
            "imap-lb  inet  127.0.0.1:%d  none  1  postern-imap-proxy "
            "-o imapd_upstream_proxy_protocol=haproxy "
            "-o imapd_plaintext_loopback=yes\n"
            # TLS terminated at the balancer, postscreen in front.
            "submission-ps  inet  127.0.0.1:%d  starttls  1  "
            "postern-postscreen "
            "-o postscreen_upstream_proxy_protocol=haproxy "
            "-o haproxy_trusted_networks=127.0.0.5/32\n"
            % (cls.port_plain, cls.port_ps, cls.port_strict,
               cls.port_imap_lb, cls.port_imap_proxy, cls.port_sub_ps),
            *settings)
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

    def test_empty_trusted_networks_warned_at_start(self):
        # The smtp and postscreen lines set no haproxy_trusted_networks:
        # any peer may claim any client address there, and the log says
        # so (Postfix's model; the operator should list the balancers).
        for pfx in ("smtpd", "postscreen"):
            self.wait_log(r"%s_upstream_proxy_protocol = haproxy and "
                          r"haproxy_trusted_networks is empty" % pfx)

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

    # ---- TLS terminated at the balancer (PROXY v2 SSL TLV)

    def imap_lb(self, header, source="127.0.0.5"):
        c = self.lb(self.port_imap_lb, header, source=source)
        c.EOL = b"\r\n"
        return c

    def imap_tagged(self, c, tag):
        line = c.line()
        while line.startswith("*"):
            line = c.line()
        self.assertTrue(line.startswith(tag + " "), line)
        return line

    def imap_caps(self, c):
        c.send(b"c CAPABILITY\r\n")
        caps = c.line()
        self.assertTrue(caps.startswith("* CAPABILITY "), caps)
        self.assertTrue(self.imap_tagged(c, "c").startswith("c OK"))
        return caps.split()

    def test_imap_ssl_tlv_secures_the_session(self):
        h = v2("192.0.2.50", 40020, dst="198.51.100.1", dport=993,
               tlv=ssl_tlv())
        c = self.imap_lb(h)
        self.assertTrue(c.line().startswith("* OK"))
        caps = self.imap_caps(c)
        self.assertNotIn("LOGINDISABLED", caps)
        self.assertNotIn("STARTTLS", caps)       # already secured
        self.assertIn("AUTH=PLAIN", caps)
        c.send(b'a LOGIN "alice@%s" "pw-alice-secret"\r\n' % DOM.encode())
        self.assertTrue(self.imap_tagged(c, "a").startswith("a OK"))
        self.wait_log(r"TLS via proxy \[127\.0\.0\.5\]:\d+ for "
                      r"\[192\.0\.2\.50\]: TLSv1\.3 with cipher "
                      r"TLS_AES_256_GCM_SHA384")
        # lip= is the header's destination, and the login counts as TLS.
        self.wait_log(r"imap-login: Login: user=<alice@%s>, method=\S+, "
                      r"rip=192\.0\.2\.50, lip=198\.51\.100\.1, TLS, "
                      % DOM.replace(".", r"\."))

    def test_imap_authenticate_plain_with_ssl_tlv(self):
        c = self.imap_lb(v2("192.0.2.51", 40021, tlv=ssl_tlv()))
        self.assertTrue(c.line().startswith("* OK"))
        blob = base64.b64encode(b"\0alice@%s\0pw-alice-secret"
                                % DOM.encode())
        c.send(b"a AUTHENTICATE PLAIN " + blob + b"\r\n")
        self.assertTrue(self.imap_tagged(c, "a").startswith("a OK"))

    def test_imap_without_ssl_tlv_login_stays_disabled(self):
        # No SSL TLV, then one whose PP2_CLIENT_SSL bit is clear (the
        # client spoke plain TCP to the balancer).
        for i, extra in enumerate([b"", ssl_tlv(client=0x00),
                                   tlv(0x02, b"imap.example")]):
            c = self.imap_lb(v2("192.0.2.52", 40022 + i, tlv=extra))
            self.assertTrue(c.line().startswith("* OK"))
            caps = self.imap_caps(c)
            self.assertIn("LOGINDISABLED", caps)
            self.assertIn("STARTTLS", caps)
            c.send(b'a LOGIN "alice@%s" "pw-alice-secret"\r\n'
                   % DOM.encode())
            self.assertRegex(self.imap_tagged(c, "a"),
                             r"^a NO \[PRIVACYREQUIRED\]")
            c.close()

    def test_imap_ssl_tlv_from_untrusted_balancer_refused(self):
        c = self.imap_lb(v2("192.0.2.53", 40030, tlv=ssl_tlv()),
                         source="127.0.0.6")
        self.closed_without_banner(c)
        self.wait_log(r"upstream proxy: connection from \[127\.0\.0\.6\]:"
                      r"\d+ on \S+ refused: not in haproxy_trusted_networks")
        self.assertNotIn("for [192.0.2.53]", self.log())

    def test_imap_crc32c_checked(self):
        h = v2("192.0.2.54", 40031,
               tlv=ssl_tlv() + tlv(0x04, b"pad") + tlv(0x03, b"\0" * 4))
        c = self.imap_lb(with_crc(h))
        self.assertTrue(c.line().startswith("* OK"))
        self.assertNotIn("LOGINDISABLED", self.imap_caps(c))
        c = self.imap_lb(with_crc(h, wrong=True))
        self.closed_without_banner(c)
        self.wait_log(r"upstream proxy: \[127\.0\.0\.5\]:\d+ on \S+: "
                      r"PROXY v2 header: CRC32C mismatch; lost connection")

    def test_tlv_overrunning_the_header_dropped(self):
        # The SSL TLV claims 3 bytes more than the header holds; the
        # client's first bytes follow, and must not be taken for it.
        bad = ssl_tlv()
        bad = bad[:1] + struct.pack(">H", len(bad) - 3 + 3) + bad[3:]
        c = self.imap_lb(v2("192.0.2.55", 40032, tlv=bad) + b"a NOOP\r\n")
        self.closed_without_banner(c)
        self.wait_log(r"upstream proxy: \[127\.0\.0\.5\]:\d+ on \S+: "
                      r"PROXY v2 header: TLV overruns the header")

    def test_imap_proxy_ssl_tlv_secures_the_session(self):
        # postern-imap-proxy (imap-lb, any balancer): a non-loopback
        # client may log in only when the balancer did TLS with it.
        for extra, ok in ((ssl_tlv(), True), (b"", False)):
            c = self.lb(self.port_imap_proxy,
                        v2("192.0.2.70", 40050, dst="198.51.100.3",
                           dport=993, tlv=extra))
            c.EOL = b"\r\n"
            self.assertTrue(c.line().startswith("* OK"))
            caps = self.imap_caps(c)
            self.assertEqual("LOGINDISABLED" in caps, not ok)
            self.assertNotIn("STARTTLS", caps)  # imap-lb has no TLS
            c.send(b'a LOGIN "alice@%s" "pw-alice-secret"\r\n'
                   % DOM.encode())
            line = self.imap_tagged(c, "a")
            self.assertEqual(line.startswith("a OK"), ok, line)
            c.close()
        self.wait_log(r"imap-login: proxy\(alice@%s\): started proxying "
                      r"to .*rip=192\.0\.2\.70, lip=198\.51\.100\.3, TLS"
                      % DOM.replace(".", r"\."))

    def submission_lb(self, header, source="127.0.0.5"):
        c = self.lb(self.ports["submission"], header, source=source)
        self.assertEqual(c.reply()[-1][:3], "220")
        return c

    def submit_secured_by_balancer(self, c, text, log_prefix):
        """On c, after the greeting: AUTH without STARTTLS and a message
        delivered, logged and stamped as TLS via the balancer."""
        ehlo = c.cmd("EHLO client.example")
        self.assertIn("250-AUTH PLAIN LOGIN", ehlo)
        self.assertNotIn("250-STARTTLS", ehlo)
        self.assertRegex(c.cmd("STARTTLS")[0], r"^554 5\.5\.1 ")
        blob = base64.b64encode(b"\0alice@%s\0pw-alice-secret"
                                % DOM.encode()).decode()
        self.assertEqual(c.cmd("AUTH PLAIN " + blob)[0][:3], "235")
        token = uuid.uuid4().hex
        self.assertEqual(c.cmd("MAIL FROM:<alice@%s>" % DOM)[0][:3], "250")
        self.assertEqual(c.cmd("RCPT TO:<alice@%s>" % DOM)[0][:3], "250")
        self.assertEqual(c.cmd("DATA")[0][:3], "354")
        r = c.cmd("Subject: %s\r\n\r\n%s\r\n." % (token, text))
        self.assertEqual(r[0][:3], "250", r)
        c.cmd("QUIT")
        self.wait_log(log_prefix + r"TLS via proxy \[127\.0\.0\.5\]:\d+: "
                      r"TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384")
        found = []

        def delivered():
            found[:] = maildir_find(self.dir, DOM, "alice", token)
            return found
        wait_for(delivered, what="delivery of the message")
        self.assertIn("\t(using TLS via proxy: TLSv1.3 with cipher "
                      "TLS_AES_256_GCM_SHA384)\n", found[0])
        self.assertIn("with ESMTPSA", found[0])

    def assert_plaintext_refused(self, c):
        """On c, after the greeting: STARTTLS offered, AUTH and MAIL
        refused until it."""
        ehlo = c.cmd("EHLO client.example")
        self.assertIn("250-STARTTLS", ehlo)
        self.assertFalse([ln for ln in ehlo if "AUTH" in ln], ehlo)
        blob = base64.b64encode(b"\0alice@%s\0pw-alice-secret"
                                % DOM.encode()).decode()
        self.assertEqual(c.cmd("AUTH PLAIN " + blob)[0][:3], "503")
        self.assertRegex(c.cmd("MAIL FROM:<alice@%s>" % DOM)[0],
                         r"^530 5\.7\.0 Must issue a STARTTLS")
        c.close()

    def test_smtp_ssl_tlv_offers_and_permits_auth(self):
        c = self.submission_lb(v2("192.0.2.60", 40040, dst="198.51.100.2",
                                  dport=465, tlv=ssl_tlv()))
        self.submit_secured_by_balancer(c, "via the balancer", "")

    def test_smtp_without_ssl_tlv_auth_stays_refused(self):
        for i, extra in enumerate([b"", ssl_tlv(client=0x00)]):
            c = self.submission_lb(v2("192.0.2.61", 40041 + i, tlv=extra))
            self.assert_plaintext_refused(c)

    def test_smtp_ssl_tlv_from_untrusted_balancer_refused(self):
        c = self.lb(self.ports["submission"],
                    v2("192.0.2.62", 40043, tlv=ssl_tlv()),
                    source="127.0.0.7")
        self.closed_without_banner(c)
        self.wait_log(r"upstream proxy: connection from \[127\.0\.0\.7\]:"
                      r"\d+ on \S+ refused: not in haproxy_trusted_networks")

    def test_smtp_ssl_tlv_ignored_where_ccert_required(self):
        c = self.lb(self.ports["submissions"],
                    v2("192.0.2.64", 40045, tlv=ssl_tlv()),
                    source="127.0.0.5")
        self.assertEqual(c.reply()[-1][:3], "220")
        ehlo = c.cmd("EHLO client.example")
        self.assertIn("250-STARTTLS", ehlo)
        self.assertFalse([ln for ln in ehlo if "AUTH" in ln], ehlo)
        self.wait_log(r"TLS via proxy \[127\.0\.0\.5\]:\d+ ignored: "
                      r"smtpd_tls_req_ccert needs Postern's own TLS")

    def postscreen_lb(self, header, sport):
        """A client through the balancer and postscreen (allowlisted by
        wl.example: passed to smtpd at once), after smtpd's greeting."""
        c = self.lb(self.port_sub_ps, header, source="127.0.0.5")
        self.assertEqual(c.line(), "220-mx.test ESMTP Postern")
        self.assertEqual(c.reply(), ["220 mx.test ESMTP Postern"])
        self.wait_log(r"postscreen: \[192\.0\.2\.30\]:%d ALLOWLISTED" % sport)
        self.wait_log(r"connect from \[192\.0\.2\.30\]:%d "
                      r"\(submission-ps\)" % sport)
        return c

    def test_postscreen_passes_the_balancers_tls_to_smtpd(self):
        c = self.postscreen_lb(v2("192.0.2.30", 40060, dst="198.51.100.4",
                                  dport=465, tlv=ssl_tlv()), 40060)
        # smtpd logs the balancer postscreen saw, as on its own path.
        self.submit_secured_by_balancer(c, "via postscreen",
                                        r"postern/smtpd\[\d+\]: \w+: ")

    def test_postscreen_without_ssl_tlv_auth_stays_refused(self):
        for i, extra in enumerate([b"", ssl_tlv(client=0x00)]):
            c = self.postscreen_lb(v2("192.0.2.30", 40061 + i, tlv=extra),
                                   40061 + i)
            self.assert_plaintext_refused(c)

    def test_smtp_crc32c_checked(self):
        h = v2("192.0.2.63", 40044, tlv=tlv(0x03, b"\0" * 4) + ssl_tlv())
        # The CRC TLV first this time: fill its value in place.
        off = 16 + 12 + 3
        c = crc32c(h)
        good = h[:off] + struct.pack(">I", c) + h[off + 4:]
        bad = h[:off] + struct.pack(">I", c ^ 0x80000000) + h[off + 4:]
        s = self.submission_lb(good)
        self.assertIn("250-AUTH PLAIN LOGIN", s.cmd("EHLO client.example"))
        s = self.lb(self.ports["submission"], bad, source="127.0.0.5")
        self.closed_without_banner(s)


if __name__ == "__main__":
    unittest.main(verbosity=2)
