#!/usr/bin/env python3
"""smtpd restriction lists (mta/smtpd-restrict.c) through a real
postern-smtpd: each restriction and each access(5) action is a case that
would fail if it were ignored.

One site; the recipient list dispatches on the recipient's address
extension (alice+NAME@hosted.example, which resolves to alice) to a
restriction class or an access action, and ends with `reject`, so a
250 shows that something permitted.  Clients connect from several
loopback addresses (127.0.0.x) with different DNSBL entries in the DNS
harness (dnsserver.py: nsd and unbound on loopback, dns_servers pointing
at it).  Reverse names: libunbound answers 127.in-addr.arpa itself
(RFC 6303), so 127.0.0.1 is verified as "localhost" and every other
127.0.0.x has no name ("unknown").  A second smtpd service runs with
smtpd_delay_reject=no (checks at connect, HELO and MAIL).
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (DnsSiteTestCase, SmtpSession,  # noqa: E402
                          free_ports, run_postern)
from dnsserver import Zone, txt_rdata  # noqa: E402
from restriction_site import SETTINGS, RcptChecks  # noqa: E402

DOM = "hosted.example"

ZONES = [
    Zone("good.example", [
        ("@", "MX", "10 mx"), ("mx", "A", "198.18.0.1"),
        ("client", "A", "127.0.0.1"),
        ("liar", "A", "127.0.0.99"),       # 127.0.0.3's PTR, not back
        ("host.blocked", "A", "127.0.0.6"),
    ]),
    Zone("bad.example", [
        ("@", "MX", "10 mx.good.example."),
        ("client", "A", "127.0.0.5"),
    ]),
    Zone("nullmx.example", [("@", "MX", "0 .")]),
    Zone("rbl.example", [
        ("2.0.0.127", "A", "127.0.0.2"),
        ("2.0.0.127", "TXT", txt_rdata("spammer, see rbl.example")),
    ]),
    Zone("rhsbl.example", [
        ("bad.example", "A", "127.0.0.2"),
        ("localhost", "A", "127.0.0.2"),
    ]),
]

CLASSES = {
    "c_rbl": "reject_rbl_client rbl.example, permit",
    "c_rbl_other": "reject_rbl_client rbl.example=127.0.0.3, permit",
    "c_rbl_same": "reject_rbl_client rbl.example=127.0.0.2, permit",
    "c_rhs_sender": "reject_rhsbl_sender rhsbl.example, permit",
    "c_rhs_helo": "reject_rhsbl_helo rhsbl.example, permit",
    "c_rhs_client": "reject_rhsbl_client rhsbl.example, permit",
    "c_unk_sender": "reject_unknown_sender_domain, permit",
    "c_unk_rcpt": "reject_unknown_recipient_domain, permit",
    "c_unk_client": "reject_unknown_client_hostname, permit",
    "c_unk_helo": "reject_unknown_helo_hostname, permit",
    "c_fqdn_helo": "reject_non_fqdn_helo_hostname, permit",
    "c_inv_helo": "reject_invalid_helo_hostname, permit",
    "c_fqdn_sender": "reject_non_fqdn_sender, permit",
    "c_fqdn_rcpt": "reject_non_fqdn_recipient, permit",
    "c_warnrej": "warn_if_reject, reject_rbl_client rbl.example, permit",
    "c_dip": "defer_if_permit, permit",
    "c_dir": "defer_if_reject, reject_rbl_client rbl.example, permit",
    "c_mynet": "permit_mynetworks, reject",
    "c_cname": "check_client_access texthash:$config_directory/client_names,"
               " permit",
    "c_authdest": "permit_auth_destination, reject",
    "c_permit": "permit",
    "c_reject": "reject",
    "c_deferall": "defer",
}

# alice+EXT@DOM -> value in the recipient access table.
RCPT_ACCESS = {
    "ok": "OK",
    "num": "200",
    "rej": "REJECT",
    "rejtext": "REJECT 5.7.9 not here",
    "defer": "DEFER",
    "defertext": "DEFER come back later",
    "c450": "450 4.2.0 mailbox busy",
    "c550": "550 5.1.1 go away",
    "dunno": "DUNNO",
    "warn": "WARN watch this one",
    "hold": "HOLD",
    "discard": "DISCARD",
    "filter": "FILTER smtp:[127.0.0.1]:10025",
    "redirect": "REDIRECT carol@" + DOM,
    "prepend": "PREPEND X-Tag: tagged",
}


class RestrictionTests(RcptChecks, DnsSiteTestCase):
    DOM = DOM
    SENDER = "s@good.example"
    HELO = "client.good.example"

    @classmethod
    def set_up_site(cls):
        cls.start_dns(ZONES)
        cls.make_site("postern-restrict.")
        settings = cls.pick_ports()
        cls.port2 = free_ports(1)[0]
        settings += SETTINGS + cls.dns_settings()
        run_postern(cls.dir, "config", "set", *settings)
        d = cls.dir
        with open(os.path.join(d, "rcpt_access"), "w") as f:
            for ext, value in RCPT_ACCESS.items():
                f.write("alice+%s@%s %s\n" % (ext, DOM, value))
            for name in CLASSES:
                f.write("alice+%s@%s %s\n" % (name[2:], DOM, name))
            f.write("alice@%s OK\n" % DOM)
        with open(os.path.join(d, "rcpt_ok"), "w") as f:
            f.write("z@good.example OK\n")
            for ext in ("warn", "hold", "filter", "redirect", "prepend"):
                f.write("alice+%s@%s OK\n" % (ext, DOM))
        with open(os.path.join(d, "relay_access"), "w") as f:
            f.write("x@nx.good.example c_unk_rcpt\n"
                    "y@nullmx.example c_unk_rcpt\n"
                    "z@good.example c_unk_rcpt\n"
                    "bob@mailhost c_fqdn_rcpt\n")
        with open(os.path.join(d, "client_access"), "w") as f:
            f.write("127.0.0.4 REJECT client four\n")
        with open(os.path.join(d, "client_names"), "w") as f:
            f.write("localhost REJECT by name\n")
        with open(os.path.join(d, "helo_access"), "w") as f:
            f.write("helo.blocked.example REJECT no such helo\n")
        with open(os.path.join(d, "sender_access"), "w") as f:
            f.write("spam@good.example REJECT sender blocked\n")
        with open(os.path.join(d, "main.cf"), "a") as f:
            f.write("smtpd_restriction_classes = %s\n" % " ".join(CLASSES))
            for name, value in CLASSES.items():
                f.write("%s = %s\n" % (
                    name, value.replace("$config_directory", d)))
            f.write(
                "smtpd_client_restrictions = check_client_access "
                "texthash:%s/client_access\n"
                "smtpd_helo_restrictions = check_helo_access "
                "texthash:%s/helo_access\n"
                "smtpd_sender_restrictions = check_sender_access "
                "texthash:%s/sender_access\n"
                "smtpd_relay_restrictions = check_recipient_access "
                "texthash:%s/relay_access, permit_mynetworks,\n"
                "    permit_sasl_authenticated, reject_unauth_destination\n"
                "smtpd_recipient_restrictions = check_recipient_access "
                "texthash:%s/rcpt_access,\n"
                "    check_recipient_access texthash:%s/rcpt_ok, reject\n"
                "smtpd_data_restrictions = reject_unauth_pipelining\n"
                % (d, d, d, d, d, d))
        with open(os.path.join(d, "services.cf"), "w") as f:
            f.write(
                "smtp   inet  127.0.0.1:$smtp_port  none  1  postern-smtpd\n"
                "smtp2  inet  127.0.0.1:%d  none  1  postern-smtpd "
                "-o smtpd_delay_reject=no -o smtpd_helo_required=yes "
                "-o smtpd_helo_restrictions=reject_non_fqdn_helo_hostname "
                "-o smtpd_sender_restrictions=reject_non_fqdn_sender\n"
                "queue  unix  $queue_socket  none  1  postern-queued\n"
                "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n"
                % cls.port2)
        cls.start_with_mailboxes(DOM, ("alice", "carol"))

    # ---- helpers

    def log(self):
        with open(os.path.join(self.dir, "log", "postern.log"),
                  errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.log():
                return
            time.sleep(0.1)
        self.fail("not logged: %r" % text)

    # ---- relay (the default smtpd_relay_restrictions tail)

    def test_relay(self):
        self.assertEqual(self.rcpt("bob@far.good.example"),
                         "554 5.7.1 <bob@far.good.example>: Relay access "
                         "denied")
        # $mynetworks passes the relay list; the recipient list (which
        # ends with reject) must permit too.
        self.assertEqual(self.rcpt("bob@far.good.example",
                                   client="127.0.0.7"),
                         "554 5.7.1 <bob@far.good.example>: Recipient "
                         "address rejected: Access denied")
        self.assertTrue(self.rcpt("alice@" + DOM).startswith("250"))

    def test_final_reject(self):
        self.assertEqual(self.rcpt("carol@" + DOM),
                         "554 5.7.1 <carol@%s>: Recipient address rejected: "
                         "Access denied" % DOM)

    # ---- generic restrictions (in classes)

    def test_permit_reject_defer(self):
        self.ok("permit")
        self.refused("reject", "554 5.7.1 <alice+reject@%s>: Recipient "
                     "address rejected: Access denied" % DOM)
        self.refused("deferall", "450 4.3.2 <alice+deferall@%s>: Recipient "
                     "address rejected: Try again later" % DOM)
        self.refused("defer", "450 4.7.1 <alice+defer@%s>: Recipient "
                     "address rejected: Access denied" % DOM)

    def test_permit_mynetworks(self):
        self.ok("mynet", client="127.0.0.7")
        self.refused("mynet", "554 5.7.1 <alice+mynet@%s>: Recipient "
                     "address rejected: Access denied" % DOM)

    def test_permit_auth_destination(self):
        self.ok("authdest")

    def test_warn_if_reject(self):
        self.ok("warnrej", client="127.0.0.2")
        self.wait_log("reject_warning: RCPT from unknown[127.0.0.2]: 554 "
                      "5.7.1 Service unavailable; Client host [127.0.0.2] "
                      "blocked using rbl.example")

    def test_defer_if_permit_and_reject(self):
        self.refused("dip", "450 4.7.1 <alice+dip@%s>: Recipient address "
                     "rejected: defer_if_permit requested" % DOM)
        self.refused("dir", "450 4.7.1 Service unavailable; Client host "
                     "[127.0.0.2] blocked using rbl.example; spammer, see "
                     "rbl.example", client="127.0.0.2")
        self.ok("dir")

    # ---- syntax checks

    def test_helo_syntax(self):
        self.refused("fqdn_helo", "504 5.5.2 <localhost>: Helo command "
                     "rejected: need fully-qualified hostname",
                     helo="localhost")
        self.ok("fqdn_helo")
        self.refused("inv_helo", "501 5.5.2 <-bad.example>: Helo command "
                     "rejected: Invalid name", helo="-bad.example")
        self.ok("inv_helo")

    def test_sender_recipient_syntax(self):
        self.refused("fqdn_sender", "504 5.5.2 <x@localhost>: Sender address "
                     "rejected: need fully-qualified address",
                     sender="x@localhost")
        self.ok("fqdn_sender")
        self.refused("bob@mailhost", "504 5.5.2 <bob@mailhost>: Recipient "
                     "address rejected: need fully-qualified address")

    # ---- access maps

    def test_access_actions(self):
        self.ok("ok")
        self.ok("num")
        self.refused("rej", "554 5.7.1 <alice+rej@%s>: Recipient address "
                     "rejected: Access denied" % DOM)
        self.refused("rejtext", "554 5.7.9 <alice+rejtext@%s>: Recipient "
                     "address rejected: not here" % DOM)
        self.refused("defertext", "450 4.7.1 <alice+defertext@%s>: Recipient "
                     "address rejected: come back later" % DOM)
        self.refused("c450", "450 4.2.0 mailbox busy")
        self.refused("c550", "550 5.1.1 go away")
        # DUNNO stops the search: alice@ OK is not reached.
        self.refused("dunno", "554 5.7.1 <alice+dunno@%s>: Recipient "
                     "address rejected: Access denied" % DOM)

    def test_logged_actions(self):
        for ext, logged in [
                ("warn", "warn: RCPT from localhost[127.0.0.1]: "
                 "<alice+warn@%s>: Recipient address triggers warn: watch "
                 "this one"),
                ("hold", "hold: RCPT from localhost[127.0.0.1]: "
                 "<alice+hold@%s>: Recipient address triggers hold"),
                ("discard", "discard: RCPT from "
                 "localhost[127.0.0.1]: <alice+discard@%s>: "
                 "Recipient address triggers discard"),
                ("filter", "triggers filter: smtp:[127.0.0.1]:10025"),
                ("redirect", "triggers redirect: carol@" + DOM),
                ("prepend", "triggers prepend: X-Tag: tagged")]:
            self.ok(ext)
            self.wait_log(logged % DOM if "%s" in logged else logged)

    def test_client_access(self):
        self.assertEqual(self.rcpt("alice@" + DOM, client="127.0.0.4"),
                         "554 5.7.1 <unknown[127.0.0.4]>: Client host "
                         "rejected: client four")
        self.refused("cname", "554 5.7.1 <localhost[127.0.0.1]>: Client "
                     "host rejected: by name")
        self.ok("cname", client="127.0.0.8")

    def test_helo_access(self):
        self.assertEqual(self.rcpt("alice@" + DOM,
                                   helo="x.helo.blocked.example"),
                         "554 5.7.1 <x.helo.blocked.example>: Helo command "
                         "rejected: no such helo")

    def test_sender_access(self):
        self.assertEqual(self.rcpt("alice@" + DOM, sender="spam@good.example"),
                         "554 5.7.1 <spam@good.example>: Sender address "
                         "rejected: sender blocked")

    # ---- DNS

    def test_rbl(self):
        self.refused("rbl", "554 5.7.1 Service unavailable; Client host "
                     "[127.0.0.2] blocked using rbl.example; spammer, see "
                     "rbl.example", client="127.0.0.2")
        self.ok("rbl")
        self.ok("rbl_other", client="127.0.0.2")
        self.refused("rbl_same", "554 5.7.1 Service unavailable; Client host "
                     "[127.0.0.2] blocked using rbl.example; spammer, see "
                     "rbl.example", client="127.0.0.2")

    def test_rhsbl(self):
        # $rbl_what is the whole sender address, as Postfix.
        self.refused("rhs_sender", "554 5.7.1 Service unavailable; Sender "
                     "address [x@bad.example] blocked using rhsbl.example",
                     sender="x@bad.example")
        self.ok("rhs_sender")
        self.refused("rhs_helo", "554 5.7.1 Service unavailable; Helo "
                     "command [bad.example] blocked using rhsbl.example",
                     helo="bad.example")
        self.ok("rhs_helo")
        self.refused("rhs_client", "554 5.7.1 Service unavailable; Client "
                     "host [localhost] blocked using rhsbl.example")
        self.ok("rhs_client", client="127.0.0.8")

    def test_unknown_sender_domain(self):
        self.refused("unk_sender", "450 4.1.8 <x@nx.good.example>: Sender "
                     "address rejected: Domain not found",
                     sender="x@nx.good.example")
        self.refused("unk_sender", "550 5.7.27 <x@nullmx.example>: Sender "
                     "address rejected: Domain nullmx.example does not "
                     "accept mail (nullMX)", sender="x@nullmx.example")
        self.ok("unk_sender")

    def test_unknown_recipient_domain(self):
        self.refused("x@nx.good.example", "450 4.1.2 <x@nx.good.example>: "
                     "Recipient address rejected: Domain not found")
        self.refused("y@nullmx.example", "556 5.1.10 <y@nullmx.example>: "
                     "Recipient address rejected: Domain nullmx.example "
                     "does not accept mail (nullMX)")
        # The class permits: a known domain is relayed (not refused).
        self.assertTrue(self.rcpt("z@good.example").startswith("250"))

    def test_unknown_client_hostname(self):
        for client in ("127.0.0.8", "127.0.0.2"):
            self.refused("unk_client", "450 4.7.25 Client host rejected: "
                         "cannot find your hostname, [%s]" % client,
                         client=client)
        self.ok("unk_client")

    def test_unknown_helo_hostname(self):
        self.refused("unk_helo", "450 4.7.1 <nx.good.example>: Helo command "
                     "rejected: Host not found", helo="nx.good.example")
        self.ok("unk_helo", helo="good.example")

    # ---- data restrictions

    def test_unauth_pipelining(self):
        c = SmtpSession(self.port, timeout=20)
        try:
            c.cmd("EHLO client.good.example")
            c.cmd("MAIL FROM:<s@good.example>")
            self.assertTrue(c.cmd("RCPT TO:<alice@%s>" % DOM)
                            .startswith("250"))
            c.send(b"DATA\r\nSubject: too early\r\n")
            self.assertEqual(c.reply(), "503 5.5.0 <DATA>: Data command "
                             "rejected: Improper use of SMTP command "
                             "pipelining")
        finally:
            c.sock.close()
        c = SmtpSession(self.port, timeout=20)
        try:
            c.cmd("EHLO client.good.example")
            c.cmd("MAIL FROM:<s@good.example>")
            c.cmd("RCPT TO:<alice@%s>" % DOM)
            self.assertTrue(c.cmd("DATA").startswith("354"))
            self.assertTrue(c.cmd("Subject: fine\r\n\r\nbody\r\n.")
                            .startswith("250"))
        finally:
            c.close()

    # ---- smtpd_delay_reject = no (service smtp2)

    def test_no_delay_reject(self):
        c = SmtpSession(self.port2, timeout=20)
        try:
            self.assertEqual(c.cmd("VRFY alice"),
                             "503 5.5.1 Error: send HELO/EHLO first")
            self.assertEqual(c.cmd("EHLO localhost"),
                             "504 5.5.2 <localhost>: Helo command rejected: "
                             "need fully-qualified hostname")
            self.assertTrue(c.cmd("EHLO ok.good.example").startswith("250"))
            self.assertEqual(c.cmd("MAIL FROM:<x@localhost>"),
                             "504 5.5.2 <x@localhost>: Sender address "
                             "rejected: need fully-qualified address")
            self.assertTrue(c.cmd("MAIL FROM:<x@good.example>")
                            .startswith("250"))
        finally:
            c.close()
        # The client list at connect: the refusal is the greeting.
        c = SmtpSession(self.port2, "127.0.0.4", timeout=20)
        try:
            self.assertEqual(c.greeting, "554 5.7.1 <unknown[127.0.0.4]>: "
                             "Client host rejected: client four")
            self.assertEqual(c.cmd("EHLO ok.good.example"),
                             "503 5.7.0 Error: access denied for "
                             "unknown[127.0.0.4]")
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main()
