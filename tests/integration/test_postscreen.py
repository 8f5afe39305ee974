#!/usr/bin/env python3
"""postern-postscreen (postscreen/, docs/postscreen.md) in front of a real
postern-smtpd, the Postfix way: postscreen owns the SMTP port and hands
clients that pass to smtpd over $postscreen_pass_socket (SCM_RIGHTS).

Clients connect from different loopback addresses (127.0.0.x), one per
case, since postscreen remembers clients by address: the DNS harness
(dnsserver.py: nsd + unbound) lists some in a blocklist and an
allowlist, a cidr table denies or permits others.  postscreen's own
SMTP (deep tests) never announces PIPELINING and smtpd does, which is
how a test tells who answered EHLO.
"""
import os
import random
import smtplib
import sqlite3
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (DnsSiteTestCase, DriverSite,  # noqa: E402
                          SmtpClient, free_ports, per_driver, site_sql,
                          wait_for)
from dnsserver import Zone  # noqa: E402

DOM = "hosted.example"
GREET_WAIT = 1.0

ZONES = [
    # Blocklist: weight 2 only for answers 127.0.0.2..3 (the filter).
    Zone("bl.example", [
        ("20.0.0.127", "A", "127.0.0.2"),
        ("21.0.0.127", "A", "127.0.0.9"),   # outside the filter
    ]),
    # Allowlist (negative weight); .31 is also on the blocklist.
    Zone("wl.example", [
        ("30.0.0.127", "A", "127.0.0.5"),
    ]),
]


def wait_cached(test, driver, source, column):
    """Wait for source's postscreen_cache row to hold a pass of column:
    postscreen logs PASS NEW (or the failed test) before its worker pool
    writes the row, and the next connection is told apart by that row,
    so a fixed sleep there loses the race on a loaded machine."""
    query = ("SELECT %s FROM postscreen_cache WHERE client_addr = '%s'"
             % (column, source))

    def cached():
        rows = site_sql(driver, test.dir, query)
        return rows and rows[0][0] not in ("", "0", "None")
    wait_for(cached, 20, "the postscreen_cache row of %s (%s)\n%s"
             % (source, column, test.log()[-2000:]))


class PostscreenTests(DnsSiteTestCase):

    @classmethod
    def set_up_site(cls):
        cls.start_dns(ZONES)
        cls.make_site("postern-postscreen.")
        d = cls.dir
        with open(os.path.join(d, "psc_access"), "w") as f:
            f.write("127.0.0.40 reject\n127.0.0.41 permit\n"
                    "127.0.0.0/8 dunno\n")
        cls.port_ignore, cls.port_notls, cls.port_enc = free_ports(3)
        settings = cls.pick_ports() + [
            "myhostname=mx.test",
            "mynetworks=127.0.0.1/32",
            "stop_timeout=5s",
        ] + cls.dns_settings() + [
            "postscreen_greet_wait=%ds" % GREET_WAIT,
            "postscreen_greet_action=drop",
            "postscreen_dnsbl_sites=bl.example=127.0.0.[2..3]*2, "
            "wl.example*-3",
            "postscreen_dnsbl_threshold=2",
            "postscreen_dnsbl_allowlist_threshold=-1",
            "postscreen_dnsbl_action=drop",
            "postscreen_access_list=permit_mynetworks, cidr:%s/psc_access"
            % d,
            "postscreen_blacklist_action=drop",
            "postscreen_pipelining_enable=yes",
            "postscreen_pipelining_action=enforce",
            "postscreen_non_smtp_command_enable=yes",
            "postscreen_non_smtp_command_action=drop",
            "postscreen_bare_newline_enable=yes",
            "postscreen_bare_newline_action=enforce",
        ]
        cls.configure(
            "smtp  inet  127.0.0.1:$smtp_port  starttls  1  "
            "postern-postscreen\n"
            "smtp-ignore  inet  127.0.0.1:%d  starttls  1  "
            "postern-postscreen -o postscreen_greet_action=ignore "
            "-o postscreen_pipelining_enable=no "
            "-o postscreen_non_smtp_command_enable=no "
            "-o postscreen_bare_newline_enable=no\n"
            # No TLS on the listener: no certificate is loaded.
            "smtp-notls  inet  127.0.0.1:%d  none  1  "
            "postern-postscreen\n"
            "smtp-enc  inet  127.0.0.1:%d  starttls  1  "
            "postern-postscreen -o postscreen_tls_security_level=encrypt\n"
            "smtpd-pass  unix  $postscreen_pass_socket  starttls  1  "
            "postern-smtpd\n"
            "queue  unix  $queue_socket  none  1  postern-queued\n"
            "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n"
            % (cls.port_ignore, cls.port_notls, cls.port_enc), *settings)
        cls.start_with_mailbox(DOM)

    # ---- helpers

    def connect(self, source):
        c = SmtpClient(self.port, source)
        self.addCleanup(c.close)
        return c

    def screened(self, source):
        """A new connection that postscreen tests: the "220-" line, then
        (after the greet wait) its own "220 " and SMTP."""
        c = self.connect(source)
        self.assertEqual(c.line(), "220-mx.test ESMTP Postern")
        self.assertEqual(c.reply(), ["220 mx.test ESMTP Postern"])
        self.assertGreaterEqual(time.time() - c.t0, GREET_WAIT - 0.1)
        return c

    def well_behaved(self, c):
        """A correct dialogue with postscreen's SMTP: 450 at RCPT."""
        ehlo = c.cmd("EHLO client.example")
        self.assertEqual(ehlo[0], "250-mx.test")
        self.assertNotIn("250-PIPELINING", ehlo)
        self.assertEqual(c.cmd("MAIL FROM:<s@good.example>"),
                         ["250 2.1.0 Ok"])
        self.assertEqual(c.cmd("RCPT TO:<alice@%s>" % DOM),
                         ["450 4.3.2 Service currently unavailable"])
        self.assertEqual(c.cmd("QUIT"), ["221 2.0.0 Bye"])

    def passes_next_time(self, source):
        """source passes the deep tests, then reaches smtpd at once on
        its next connection (PASS OLD); returns that client after EHLO."""
        self.well_behaved(self.screened(source))
        self.wait_log(r"PASS NEW \[%s\]:" % source.replace(".", r"\."))
        wait_cached(self, "sqlite", source, "pipelining_until")
        c = self.connect(source)
        self.assertEqual(c.reply(), ["220 mx.test ESMTP Postern"])
        self.assertLess(time.time() - c.t0, GREET_WAIT)
        self.wait_log(r"PASS OLD \[%s\]:" % source.replace(".", r"\."))
        ehlo = c.cmd("EHLO client.example")
        self.assertIn("250-PIPELINING", ehlo)  # smtpd, not postscreen
        return c

    def assert_still_screened(self, source):
        """The failed deep test is due again: postscreen's own SMTP (the
        pregreet pass is remembered, so no "220-" and no wait)."""
        c = self.connect(source)
        self.assertEqual(c.reply(), ["220 mx.test ESMTP Postern"])
        self.well_behaved(c)

    # ---- before the greeting

    def test_pregreet_dropped(self):
        c = self.connect("127.0.0.11")
        self.assertEqual(c.line(), "220-mx.test ESMTP Postern")
        c.send(b"EHLO early.example\r\n")
        self.assertEqual(c.line(), "521 5.5.1 Protocol error")
        self.assertTrue(c.closed())
        self.wait_log(r"PREGREET 20 after [0-9.]+ from \[127\.0\.0\.11\]:"
                      r"\d+: EHLO early\.example\\r\\n")

    def test_pregreet_ignored_loses_nothing(self):
        # greet_action=ignore: logged, then smtpd gets the client and the
        # command it sent too early (postscreen only peeked at it).
        c = SmtpClient(self.port_ignore, "127.0.0.12")
        self.addCleanup(c.close)
        self.assertEqual(c.line(), "220-mx.test ESMTP Postern")
        c.send(b"EHLO early.example\r\n")
        self.assertEqual(c.line(), "220 mx.test ESMTP Postern")
        ehlo = c.reply()
        self.assertEqual(ehlo[0], "250-mx.test")
        self.assertIn("250-PIPELINING", ehlo)  # smtpd answered it
        self.wait_log(r"PREGREET 20 after [0-9.]+ from \[127\.0\.0\.12\]")
        self.wait_log(r"postscreen: \[127\.0\.0\.12\]:\d+ PASS IGNORED "
                      r"\(pregreet=yes dnsbl_rank=0\)")

    def test_dnsbl_over_threshold_refused(self):
        c = self.connect("127.0.0.20")
        self.assertEqual(c.line(), "220-mx.test ESMTP Postern")
        self.assertEqual(c.line(), "521 5.7.1 Service unavailable; client "
                         "[127.0.0.20] blocked using bl.example")
        self.assertTrue(c.closed())
        self.wait_log(r"DNSBL rank 2 for \[127\.0\.0\.20\]:")

    def test_dnsbl_filter_not_matching(self):
        # Listed, but with an answer outside the filter: score 0.
        c = self.screened("127.0.0.21")
        self.well_behaved(c)
        self.assertNotRegex(self.log(), r"DNSBL rank \d+ for "
                            r"\[127\.0\.0\.21\]")

    def test_dnswl_allowlisted(self):
        c = self.connect("127.0.0.30")
        self.assertEqual(c.line(), "220-mx.test ESMTP Postern")
        # smtpd completes the greeting without the greet wait.
        self.assertEqual(c.reply(), ["220 mx.test ESMTP Postern"])
        self.assertLess(time.time() - c.t0, GREET_WAIT)
        self.assertIn("250-PIPELINING", c.cmd("EHLO client.example"))
        self.wait_log(r"DNSBL rank -3 for \[127\.0\.0\.30\]:")
        self.wait_log(r"postscreen: \[127\.0\.0\.30\]:\d+ ALLOWLISTED")

    def test_cidr_denylisted(self):
        c = self.connect("127.0.0.40")
        self.assertEqual(c.line(), "521 5.3.2 Service currently unavailable")
        self.assertTrue(c.closed())
        self.wait_log(r"DENYLISTED \[127\.0\.0\.40\]:")

    def test_cidr_permitted(self):
        c = self.connect("127.0.0.41")
        self.assertEqual(c.reply(), ["220 mx.test ESMTP Postern"])
        self.assertIn("250-PIPELINING", c.cmd("EHLO client.example"))
        self.wait_log(r"ALLOWLISTED \[127\.0\.0\.41\]:")

    # ---- cache and delivery

    def deliver_to_alice(self, c, subject):
        """Send one message on the smtpd session c, wait for the file."""
        self.assertEqual(c.cmd("MAIL FROM:<s@good.example>")[0][:3], "250")
        self.assertEqual(c.cmd("RCPT TO:<alice@%s>" % DOM)[0][:3], "250")
        self.assertEqual(c.cmd("DATA")[0][:3], "354")
        c.send(b"Subject: %s\r\n\r\nhello\r\n.\r\n" % subject.encode())
        self.assertEqual(c.reply()[0][:3], "250")
        c.cmd("QUIT")
        new = os.path.join(self.dir, "mail", DOM, "alice", "new")
        want = b"Subject: " + subject.encode()

        def delivered():
            for name in os.listdir(new) if os.path.isdir(new) else []:
                with open(os.path.join(new, name), "rb") as f:
                    if want in f.read():
                        return True
            return False
        wait_for(delivered, 20, "delivery to alice")

    def test_passed_client_cached_and_delivered(self):
        c = self.passes_next_time("127.0.0.50")
        self.deliver_to_alice(c, "through postscreen")
        self.wait_log(r"connect from \[127\.0\.0\.50\]:\d+ \(smtp\)")

    # ---- STARTTLS in postscreen's own SMTP

    def test_starttls_then_smtpd_next_time(self):
        src = "127.0.0.90"
        esc = src.replace(".", r"\.")
        # Reads the "220-" of the pregreet test, then (greet wait) the
        # "220 " of postscreen's own SMTP.
        t0 = time.time()
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=20,
                         source_address=(src, 0))
        self.addCleanup(s.close)
        self.assertGreaterEqual(time.time() - t0, GREET_WAIT - 0.1)
        code, text = s.ehlo("client.example")
        self.assertEqual(code, 250)
        self.assertIn("starttls", s.esmtp_features)
        self.assertNotIn("pipelining", s.esmtp_features)  # postscreen
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.assertEqual(s.starttls(context=ctx)[0], 220)
        self.assertIsNotNone(s.sock.version())
        s.ehlo("client.example")
        self.assertNotIn("starttls", s.esmtp_features)
        self.assertNotIn("pipelining", s.esmtp_features)
        # The deep tests go on inside TLS: 450 at RCPT, as in plaintext.
        self.assertEqual(s.docmd("STARTTLS")[0], 554)
        self.assertEqual(s.mail("s@good.example")[0], 250)
        code, text = s.rcpt("alice@%s" % DOM)
        self.assertEqual((code, text), (450, b"4.3.2 Service currently "
                                              b"unavailable"))
        self.assertEqual(s.quit()[0], 221)
        self.wait_log(r"TLS connection established from \[%s\]:\d+: "
                      r"TLSv1\.[23] with cipher" % esc)
        self.wait_log(r"PASS NEW \[%s\]:" % esc)
        wait_cached(self, "sqlite", src, "pipelining_until")
        # Next connection: straight to smtpd, which takes the mail.
        c = self.connect(src)
        self.assertEqual(c.reply(), ["220 mx.test ESMTP Postern"])
        self.assertLess(time.time() - c.t0, GREET_WAIT)
        self.wait_log(r"PASS OLD \[%s\]:" % esc)
        self.assertIn("250-PIPELINING", c.cmd("EHLO client.example"))
        self.deliver_to_alice(c, "after postscreen TLS")

    def test_starttls_discards_pipelined_plaintext(self):
        # RFC 3207 4.2: a command sent with STARTTLS is not answered
        # inside TLS (it would be the CVE-2011-0411 injection).
        src = "127.0.0.91"
        c = self.screened(src)
        self.assertIn("250-STARTTLS", c.cmd("EHLO client.example"))
        c.send(b"STARTTLS\r\nRSET\r\n")
        self.assertEqual(c.reply(), ["220 2.0.0 Ready to start TLS"])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        tls = ctx.wrap_socket(c.sock)
        tls.settimeout(5)
        tls.sendall(b"NOOP\r\n")
        # The NOOP's answer comes first: the RSET was dropped.
        self.assertEqual(tls.recv(100), b"250 2.0.0 Ok\r\n")
        tls.close()

    def test_no_starttls_without_a_certificate(self):
        # A listener with TLS "none" loads no certificate: nothing offered,
        # STARTTLS refused.
        c = SmtpClient(self.port_notls, "127.0.0.92")
        self.addCleanup(c.close)
        self.assertEqual(c.line(), "220-mx.test ESMTP Postern")
        self.assertEqual(c.reply(), ["220 mx.test ESMTP Postern"])
        ehlo = c.cmd("EHLO client.example")
        self.assertEqual(ehlo[0], "250-mx.test")
        self.assertNotIn("250-STARTTLS", ehlo)
        self.assertEqual(c.cmd("STARTTLS"),
                         ["502 5.5.1 Error: command not implemented"])

    def test_encrypt_requires_starttls_before_mail(self):
        c = SmtpClient(self.port_enc, "127.0.0.93")
        self.addCleanup(c.close)
        self.assertEqual(c.line(), "220-mx.test ESMTP Postern")
        self.assertEqual(c.reply(), ["220 mx.test ESMTP Postern"])
        self.assertIn("250-STARTTLS", c.cmd("EHLO client.example"))
        self.assertEqual(c.cmd("MAIL FROM:<s@good.example>"),
                         ["530 5.7.0 Must issue a STARTTLS command first"])

    # ---- the deep protocol tests

    def test_bare_newline(self):
        c = self.screened("127.0.0.60")
        c.send(b"EHLO bare.example\n")
        c.reply()
        c.cmd("MAIL FROM:<s@good.example>")
        # enforce: the RCPT gets the 550 instead of 450.
        self.assertEqual(c.cmd("RCPT TO:<alice@%s>" % DOM),
                         ["550 5.5.1 Protocol error"])
        c.cmd("QUIT")
        self.wait_log(r"BARE NEWLINE from \[127\.0\.0\.60\]:\d+ after EHLO")
        wait_cached(self, "sqlite", "127.0.0.60", "pregreet_until")
        self.assert_still_screened("127.0.0.60")
        self.passes_next_time("127.0.0.61")

    def test_non_smtp_command(self):
        c = self.screened("127.0.0.70")
        c.send(b"GET / HTTP/1.0\r\n")
        self.assertEqual(c.line(), "521 5.7.0 Error: I can break rules, "
                         "too. Goodbye.")
        self.assertTrue(c.closed())
        self.wait_log(r"NON-SMTP COMMAND from \[127\.0\.0\.70\]:\d+ after "
                      r"CONNECT: GET / HTTP/1\.0")
        wait_cached(self, "sqlite", "127.0.0.70", "pregreet_until")
        self.assert_still_screened("127.0.0.70")
        self.passes_next_time("127.0.0.71")

    def test_pipelining(self):
        c = self.screened("127.0.0.80")
        c.send(b"EHLO pipe.example\r\nMAIL FROM:<s@good.example>\r\n")
        c.reply()
        self.assertEqual(c.reply(), ["250 2.1.0 Ok"])
        self.assertEqual(c.cmd("RCPT TO:<alice@%s>" % DOM),
                         ["550 5.5.1 Protocol error"])
        c.cmd("QUIT")
        self.wait_log(r"COMMAND PIPELINING from \[127\.0\.0\.80\]:\d+ after "
                      r"EHLO: MAIL FROM:<s@good\.example>\\r\\n")
        wait_cached(self, "sqlite", "127.0.0.80", "pregreet_until")
        self.assert_still_screened("127.0.0.80")
        self.passes_next_time("127.0.0.81")


class CacheBase(DriverSite):
    """The cache in SQL on each driver (schema 008): two postscreen
    services stand for two MX nodes on one database; a client that passes
    the deep tests on one is PASS OLD on the other.  Random 127/8 client
    addresses, so rows left in a shared server by earlier runs change
    nothing."""

    @classmethod
    def set_up_site(cls):
        settings = cls.make_driver_site("postern-psc-")
        cls.port2 = free_ports(1)[0]
        cls.configure_driver(
            settings + ["myhostname=mx.test", "mynetworks=127.0.0.1/32",
                        "stop_timeout=5s", "database_timeout=5s",
                        "postscreen_greet_wait=1s",
                        "postscreen_pipelining_enable=yes"],
            "smtp  inet  127.0.0.1:$smtp_port  none  1  "
            "postern-postscreen\n"
            "smtp-b  inet  127.0.0.1:%d  none  1  postern-postscreen\n"
            "smtpd-pass  unix  $postscreen_pass_socket  none  1  "
            "postern-smtpd\n"
            "queue  unix  $queue_socket  none  1  postern-queued\n"
            % cls.port2)
        cls.start_driver_site()

    def test_shared_between_nodes(self):
        addr = "127.%d.%d.%d" % (random.randint(1, 254),
                                 random.randint(0, 254),
                                 random.randint(1, 254))
        c = SmtpClient(self.port, addr)
        self.assertEqual(c.line(), "220-mx.test ESMTP Postern")
        self.assertEqual(c.reply(), ["220 mx.test ESMTP Postern"])
        self.assertEqual(c.cmd("HELO client.example"), ["250 mx.test"])
        self.assertEqual(c.cmd("QUIT"), ["221 2.0.0 Bye"])
        c.close()
        esc = addr.replace(".", r"\.")
        self.wait_log(r"PASS NEW \[%s\]:" % esc)
        wait_cached(self, self.DRIVER, addr, "pipelining_until")
        # The other node: straight to smtpd.
        c = SmtpClient(self.port2, addr)
        self.assertEqual(c.reply(), ["220 mx.test ESMTP Postern"])
        self.assertIn("250-PIPELINING", c.cmd("EHLO client.example"))
        c.close()
        self.wait_log(r"PASS OLD \[%s\]:" % esc)
        if self.DRIVER == "sqlite":
            db = sqlite3.connect(os.path.join(self.dir, "postern.db"))
            row = db.execute(
                "SELECT pregreet_until, pipelining_until, non_smtp_until "
                "FROM postscreen_cache WHERE client_addr = ?",
                (addr,)).fetchone()
            db.close()
            now = time.time()
            # greet ttl 1d, pipelining 30d; the disabled test: never.
            self.assertTrue(now + 86000 < row[0] < now + 86500, row)
            self.assertTrue(now + 30 * 86400 - 100 < row[1], row)
            self.assertEqual(row[2], 0)


CacheSqlite, CachePgsql, CacheMysql = per_driver(CacheBase)


if __name__ == "__main__":
    unittest.main()
