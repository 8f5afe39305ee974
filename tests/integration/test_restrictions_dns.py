#!/usr/bin/env python3
"""The Postfix restrictions added after the first set, through a real
postern-smtpd and the DNS harness (dnsserver.py: nsd and unbound on
loopback): check_*_{a,mx,ns}_access, check_reverse_client_hostname_access,
DNSBL reply patterns (zone=127.0.0.[2..10]), rbl_reply_maps and a
Postfix-syntax default_rbl_reply, permit_dnswl_client,
permit_rhswl_client, reject_rhsbl_reverse_client, reject_rhsbl_recipient,
reject_unknown_reverse_client_hostname, reject_plaintext_session,
reject_multi_recipient_bounce, defer_unauth_destination and
check_sasl_access; access table results that are restriction lists
(access(5) "restriction...", with Postfix's 451 4.3.5 for a table inside
one or a loop); the *_tempfail_action settings with a zone whose lookups
fail (SERVFAIL), defaults and "defer".  Each has a case that would fail
if it were ignored and one that passes.

As in test_smtpd_restrictions.py, the recipient list dispatches on the
address extension (alice+NAME@hosted.example) to a restriction class that
ends with permit, behind a final reject; remote recipients are
dispatched in the relay list.  libunbound answers 127.in-addr.arpa and
localhost itself (RFC 6303): 127.0.0.1 is "localhost" (A 127.0.0.1),
every other 127.0.0.x has no PTR name.
"""
import os
import smtplib
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (DnsSiteTestCase, SmtpSession,  # noqa: E402
                          run_postern, tls_context)
from dnsserver import Zone, txt_rdata  # noqa: E402
from restriction_site import SETTINGS, RcptChecks  # noqa: E402

DOM = "hosted.example"

ZONES = [
    Zone("srv.example", [
        ("@", "MX", "10 mx.evil.example."),     # MX host 192.0.2.66
        ("amx", "A", "192.0.2.77"),             # no MX: itself
        ("aonly", "A", "192.0.2.88"),
        ("good", "MX", "10 mx.fine.example."),  # 192.0.2.67
        ("good", "A", "192.0.2.99"),
        ("nullmx", "MX", "0 ."),
        ("nullmx", "A", "192.0.2.88"),
    ]),
    Zone("evil.example", [("mx", "A", "192.0.2.66")]),
    Zone("fine.example", [("mx", "A", "192.0.2.67")]),
    # sub.nsx.example has no NS: the parent's (ns.nsx.example) count.
    Zone("nsx.example", [("sub", "A", "192.0.2.5")]),
    Zone("rbl.example", [
        ("2.0.0.127", "A", "127.0.0.2"),
        ("2.0.0.127", "TXT", txt_rdata("spammer")),
        ("3.0.0.127", "A", "127.0.0.11"),
        # Listed with a TTL of 300 s and of 0 (test_dnsbl_answers_cached).
        ("12.0.0.127", "A", "127.0.0.2", 300),
        ("13.0.0.127", "A", "127.0.0.2", 0),
    ]),
    Zone("dnswl.example", [("2.0.0.127", "A", "127.0.10.2")]),
    Zone("rhswl.example", [("localhost", "A", "127.0.0.2")]),
    Zone("rhsbl.example", [
        ("localhost", "A", "127.0.0.2"),
        (DOM, "A", "127.0.0.2"),
        # bücher.example: a U-label sender is looked up as its A-label.
        ("xn--bcher-kva.example", "A", "127.0.0.2"),
    ]),
    # Delegated to nsd, which does not serve it: SERVFAIL at once.
    Zone("lame.example", [], lame=True),
]

SERVER_ACCESS = """\
192.0.2.66 REJECT evil mx
192.0.2.77 REJECT implicit mx
192.0.2.88 REJECT a record
ns.nsx.example REJECT bad ns
192.0.2.99 OK
"""

CLASSES = {
    "c_smx": "check_sender_mx_access texthash:$d/server_access, permit",
    "c_sns": "check_sender_ns_access texthash:$d/server_access, permit",
    "c_sa": "check_sender_a_access texthash:$d/server_access, permit",
    "c_hmx": "check_helo_mx_access texthash:$d/server_access, permit",
    "c_hns": "check_helo_ns_access texthash:$d/server_access, permit",
    "c_ha": "check_helo_a_access texthash:$d/server_access, permit",
    "c_rmx": "check_recipient_mx_access texthash:$d/server_access, permit",
    "c_rns": "check_recipient_ns_access texthash:$d/server_access, permit",
    "c_ra": "check_recipient_a_access texthash:$d/server_access, permit",
    "c_ca": "check_client_a_access texthash:$d/client_addr, permit",
    "c_cmx": "check_client_mx_access texthash:$d/client_addr, permit",
    "c_rev": "check_reverse_client_hostname_access texthash:$d/rev_access,"
             " permit",
    "c_reva": "check_reverse_client_hostname_a_access "
              "texthash:$d/client_addr, permit",
    "c_revmx": "check_reverse_client_hostname_mx_access "
               "texthash:$d/client_addr, permit",
    "c_rbl_any": "reject_rbl_client rbl.example, permit",
    "c_rbl_pat": "reject_rbl_client rbl.example=127.0.0.[2..10], permit",
    "c_rbl_map": "reject_rbl_client rbl.example=127.0.0.[11;12], permit",
    "c_dnswl": "permit_dnswl_client dnswl.example=127.0.[0..255].[2..3], "
               "reject",
    "c_dnswl_only": "permit_dnswl_client dnswl.example",
    "c_rhswl": "permit_rhswl_client rhswl.example, reject",
    "c_rhs_rev": "reject_rhsbl_reverse_client rhsbl.example, permit",
    "c_rhs_rcpt": "reject_rhsbl_recipient rhsbl.example, permit",
    "c_rhs_sender": "reject_rhsbl_sender rhsbl.example, permit",
    "c_rhs_rcpt3": "reject_rhsbl_recipient rhsbl.example=127.0.0.3, permit",
    "c_unk_rev": "reject_unknown_reverse_client_hostname, permit",
    "c_plain": "reject_plaintext_session, permit",
    "c_mrb": "reject_multi_recipient_bounce, permit",
    "c_dud": "defer_unauth_destination, permit",
    "c_sasl": "check_sasl_access texthash:$d/sasl_access, permit",
    # Table results that are restriction lists (client_lists below).
    "c_tbl": "check_client_access texthash:$d/client_lists, permit",
    "c_tbl_loop": "check_client_access texthash:$d/loop_list, permit",
}

# check_client_access results that are lists: a DNS list, the mynetworks
# test, a table inside a list (refused, as Postfix).
CLIENT_LISTS = """\
127.0.0.2 reject_rbl_client rbl.example
127.0.0.4 reject_rbl_client rbl.example
127.0.0.5 permit_mynetworks, reject
127.0.0.7 permit_mynetworks, reject
127.0.0.6 check_sender_access texthash:/nonexistent
"""

# Remote recipients, dispatched in the relay list (and accepted by the
# recipient list when the class lets them through).
RELAY = {
    "x@srv.example": "c_rmx",
    "x@good.srv.example": "c_rmx",
    "y@sub.nsx.example": "c_rns",
    "y@srv.example": "c_rns",
    "z@aonly.srv.example": "c_ra",
    "z@srv.example": "c_ra",
    "far@away.example": "c_dud",
    "far@wl.example": "c_dnswl_only",
}


class DnsRestrictionTests(RcptChecks, DnsSiteTestCase):
    DOM = DOM
    SENDER = "s@good.srv.example"
    HELO = "good.srv.example"

    @classmethod
    def set_up_site(cls):
        cls.start_dns(ZONES, log_queries=True)
        cls.make_site("postern-rdns.")
        settings = cls.pick_ports() + SETTINGS + cls.dns_settings()
        run_postern(cls.dir, "config", "set", *settings)
        d = cls.dir
        files = {
            "server_access": SERVER_ACCESS,
            "client_addr": "127.0.0.1 REJECT name resolves here\n",
            "rev_access": "localhost REJECT rev name\n",
            "sasl_access": "carol@%s REJECT login blocked\n" % DOM,
            "client_lists": CLIENT_LISTS,
            # A list naming the class that looks it up again.
            "loop_list": "127.0.0.1 permit_mynetworks, c_tbl_loop\n",
            "rbl_replies": "rbl.example=127.0.0.[11;12] 550 5.7.9 custom "
                           "$rbl_class [$rbl_what] in "
                           "$rbl_domain${rbl_reason?: $rbl_reason} for "
                           "$recipient\n",
        }
        rcpt = ["alice+%s@%s %s" % (n[2:], DOM, n) for n in CLASSES]
        rcpt += ["alice@%s OK" % DOM]
        rcpt += ["%s OK" % a for a in RELAY]
        files["rcpt_access"] = "\n".join(rcpt) + "\n"
        files["relay_access"] = "".join(
            "%s %s\n" % kv for kv in RELAY.items())
        for name, text in files.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        with open(os.path.join(d, "main.cf"), "a") as f:
            f.write("smtpd_restriction_classes = %s\n" % " ".join(CLASSES))
            for name, value in CLASSES.items():
                f.write("%s = %s\n" % (name, value.replace("$d", d)))
            # Postfix's own syntax, $rbl_* and ${name?text} included: the
            # parameter is kept as written.
            f.write(
                "default_rbl_reply = $rbl_code Blocked; $rbl_class "
                "[$rbl_what] listed by $rbl_domain${rbl_reason?; "
                "$rbl_reason}\n"
                "rbl_reply_maps = texthash:%(d)s/rbl_replies\n"
                "smtpd_relay_restrictions = check_recipient_access "
                "texthash:%(d)s/relay_access, permit_mynetworks,\n"
                "    permit_sasl_authenticated, reject_unauth_destination\n"
                "smtpd_recipient_restrictions = check_recipient_access "
                "texthash:%(d)s/rcpt_access, reject\n" % {"d": d})
        with open(os.path.join(d, "services.cf"), "w") as f:
            f.write(
                "smtp   inet  127.0.0.1:$smtp_port  starttls  1  "
                "postern-smtpd\n"
                "queue  unix  $queue_socket  none  1  postern-queued\n"
                "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n")
        cls.start_with_mailboxes(DOM, ("alice", "carol", "dave"))

    # ---- check_*_{mx,ns,a}_access

    def test_sender_mx_access(self):
        # The MX host's address; a domain without MX is its own MX.
        self.refused("smx", "554 5.7.1 <x@srv.example>: Sender address "
                     "rejected: evil mx", sender="x@srv.example")
        self.refused("smx", "554 5.7.1 <x@amx.srv.example>: Sender address "
                     "rejected: implicit mx", sender="x@amx.srv.example")
        # A null MX: nothing to check (its A record is listed).
        self.ok("smx", sender="x@nullmx.srv.example")
        self.ok("smx", sender="x@good.srv.example")

    def test_sender_ns_access(self):
        # No NS at sub.nsx.example: the parent's NS host, by name.
        self.refused("sns", "554 5.7.1 <y@sub.nsx.example>: Sender address "
                     "rejected: bad ns", sender="y@sub.nsx.example")
        self.ok("sns", sender="y@srv.example")

    def test_sender_a_access(self):
        self.refused("sa", "554 5.7.1 <z@aonly.srv.example>: Sender address "
                     "rejected: a record", sender="z@aonly.srv.example")
        # srv.example has an MX but no address: nothing for _a_.
        self.ok("sa", sender="z@srv.example")

    def test_ok_is_not_allowed(self):
        # good.srv.example's address is OK in the table: Postfix refuses
        # to let these tables permit.
        self.refused("sa", "451 4.3.5 Server configuration error",
                     sender="z@good.srv.example")

    def test_helo_access(self):
        self.refused("hmx", "554 5.7.1 <srv.example>: Helo command rejected:"
                     " evil mx", helo="srv.example")
        self.ok("hmx")
        self.refused("hns", "554 5.7.1 <sub.nsx.example>: Helo command "
                     "rejected: bad ns", helo="sub.nsx.example")
        self.ok("hns")
        self.refused("ha", "554 5.7.1 <aonly.srv.example>: Helo command "
                     "rejected: a record", helo="aonly.srv.example")
        self.ok("ha", helo="srv.example")

    def test_recipient_access(self):
        self.refused("x@srv.example", "554 5.7.1 <x@srv.example>: Recipient "
                     "address rejected: evil mx")
        self.ok("x@good.srv.example")
        self.refused("y@sub.nsx.example", "554 5.7.1 <y@sub.nsx.example>: "
                     "Recipient address rejected: bad ns")
        self.ok("y@srv.example")
        self.refused("z@aonly.srv.example", "554 5.7.1 <z@aonly.srv.example>:"
                     " Recipient address rejected: a record")
        self.ok("z@srv.example")

    def test_client_access_by_dns(self):
        # 127.0.0.1 is localhost, whose A record is 127.0.0.1.
        self.refused("ca", "554 5.7.1 <localhost[127.0.0.1]>: Client host "
                     "rejected: name resolves here")
        self.ok("ca", client="127.0.0.8")   # no name: nothing to look up
        self.refused("cmx", "554 5.7.1 <localhost[127.0.0.1]>: Client host "
                     "rejected: name resolves here")
        self.ok("cmx", client="127.0.0.8")

    def test_reverse_client_hostname_access(self):
        self.refused("rev", "554 5.7.1 <localhost>: Unverified Client host "
                     "rejected: rev name")
        self.ok("rev", client="127.0.0.8")
        self.refused("reva", "554 5.7.1 <localhost>: Unverified Client host "
                     "rejected: name resolves here")
        self.ok("reva", client="127.0.0.8")
        self.refused("revmx", "554 5.7.1 <localhost>: Unverified Client "
                     "host rejected: name resolves here")
        self.ok("revmx", client="127.0.0.8")

    # ---- DNSBL reply patterns and replies

    def test_rbl_pattern(self):
        # 127.0.0.3 is listed with 127.0.0.11, outside [2..10].
        self.refused("rbl_any", "554 5.7.1 Blocked; Client host [127.0.0.3] "
                     "listed by rbl.example", client="127.0.0.3")
        self.ok("rbl_pat", client="127.0.0.3")
        # $default_rbl_reply as main.cf wrote it, TXT as $rbl_reason.
        self.refused("rbl_pat", "554 5.7.1 Blocked; Client host [127.0.0.2] "
                     "listed by rbl.example; spammer", client="127.0.0.2")

    def test_dnsbl_answers_cached(self):
        # One smtpd process (procs 1), one libunbound context for its
        # restrictions, whose cache keeps an answer for its TTL: a second
        # session from the same client asks unbound nothing for a
        # 300 s record or a name that does not exist (negative caching,
        # the SOA's 300 s), and asks again for a 0 s one.  (The test
        # unbound caps the TTLs it hands out at 5 s, cache-max-ttl and
        # cache-max-negative-ttl: the two sessions must come within that.)
        for client, ttl, listed, want in (("127.0.0.12", 300, True, 1),
                                          ("127.0.0.13", 0, True, 2),
                                          ("127.0.0.14", 300, False, 1)):
            name = ".".join(reversed(client.split("."))) + ".rbl.example"
            self.assertEqual(self.dns.queries(name), 0)
            t0 = time.monotonic()
            for _ in range(2):
                if listed:
                    self.refused("rbl_any", "554 5.7.1 Blocked; Client host "
                                 "[%s] listed by rbl.example" % client,
                                 client=client)
                else:
                    self.ok("rbl_any", client=client)
            if ttl and time.monotonic() - t0 > 4:
                self.skipTest("two sessions took %.1f s: unbound's 5 s "
                              "cap may have expired the answer"
                              % (time.monotonic() - t0))
            time.sleep(0.5)  # unbound's log line is written
            self.assertEqual(self.dns.queries(name), want,
                             "TTL %d: queries for %s" % (ttl, name))

    def test_rbl_reply_maps(self):
        # Keyed by the argument as written; code and DSN from the map.
        to = "alice+rbl_map@" + DOM
        self.refused("rbl_map", "550 5.7.9 custom Client host [127.0.0.3] "
                     "in rbl.example for %s" % to, client="127.0.0.3")
        self.ok("rbl_map", client="127.0.0.2")

    def test_permit_dnswl_client(self):
        self.ok("dnswl", client="127.0.0.2")
        self.refused("dnswl", "554 5.7.1 <alice+dnswl@%s>: Recipient address "
                     "rejected: Access denied" % DOM, client="127.0.0.3")
        # Never for a recipient we do not host: the relay check decides.
        self.refused("far@wl.example", "554 5.7.1 <far@wl.example>: Relay "
                     "access denied", client="127.0.0.2")

    def test_permit_rhswl_client(self):
        self.ok("rhswl")
        self.refused("rhswl", "554 5.7.1 <alice+rhswl@%s>: Recipient address"
                     " rejected: Access denied" % DOM, client="127.0.0.8")

    def test_reject_rhsbl_reverse_client(self):
        self.refused("rhs_rev", "554 5.7.1 Blocked; Unverified Client host "
                     "[localhost] listed by rhsbl.example")
        self.ok("rhs_rev", client="127.0.0.8")

    def test_reject_rhsbl_recipient(self):
        to = "alice+rhs_rcpt@" + DOM
        self.refused("rhs_rcpt", "554 5.7.1 Blocked; Recipient address [%s] "
                     "listed by rhsbl.example" % to)
        # Listed with 127.0.0.2 only.
        self.ok("rhs_rcpt3")

    def test_reject_rhsbl_sender_idn(self):
        # An SMTPUTF8 sender in U-labels: the address parser keeps the
        # domain as its A-label, and the list is asked for that name
        # (a U-label name would never be listed, nor valid in DNS).
        r = self.rcpt(self.address("rhs_sender"), sender="x@b\u00fccher.example",
                      mail_params=" SMTPUTF8")
        self.assertEqual(r, "554 5.7.1 Blocked; Sender address "
                         "[x@xn--bcher-kva.example] listed by rhsbl.example")
        self.assertTrue(self.rcpt(self.address("rhs_sender"),
                                  sender="x@b\u00e4cher.example",
                                  mail_params=" SMTPUTF8")
                        .startswith("250 "))
        self.ok("rhs_sender", sender="x@xn--bcher-kva.invalid")

    def test_reject_unknown_reverse_client_hostname(self):
        self.refused("unk_rev", "450 4.7.1 Client host rejected: cannot find "
                     "your reverse hostname, [127.0.0.8]", client="127.0.0.8")
        self.ok("unk_rev")

    # ---- without DNS

    def test_defer_unauth_destination(self):
        self.refused("far@away.example", "454 4.7.1 <far@away.example>: "
                     "Relay access denied")
        self.ok("dud")

    def test_reject_multi_recipient_bounce(self):
        c = SmtpSession(self.port, "127.0.0.1", timeout=20)
        try:
            c.cmd("EHLO good.srv.example")
            self.assertTrue(c.cmd("MAIL FROM:<>").startswith("250"))
            self.assertTrue(c.cmd("RCPT TO:<alice+mrb@%s>" % DOM)
                            .startswith("250"))
            self.assertEqual(c.cmd("RCPT TO:<alice+mrb@%s>" % DOM),
                             "550 5.5.3 <alice+mrb@%s>: Recipient address "
                             "rejected: Multi-recipient bounce" % DOM)
        finally:
            c.close()
        c = SmtpSession(self.port, "127.0.0.1", timeout=20)
        try:
            c.cmd("EHLO good.srv.example")
            c.cmd("MAIL FROM:<s@good.srv.example>")
            for _ in range(2):
                self.assertTrue(c.cmd("RCPT TO:<alice+mrb@%s>" % DOM)
                                .startswith("250"))
        finally:
            c.close()

    def smtp_tls(self):
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=20,
                         source_address=("127.0.0.1", 0))
        s.ehlo("good.srv.example")
        s.starttls(context=tls_context())
        s.ehlo("good.srv.example")
        return s

    def test_reject_plaintext_session(self):
        self.refused("plain", "450 4.7.1 Session encryption is required")
        s = self.smtp_tls()
        try:
            self.assertEqual(s.mail("s@good.srv.example")[0], 250)
            self.assertEqual(s.rcpt("alice+plain@" + DOM)[0], 250)
        finally:
            s.quit()

    def test_check_sasl_access(self):
        to = "alice+sasl@" + DOM
        for login, want in (("carol", (554, b"5.7.1 <carol@%s>: SASL login "
                                       b"name rejected: login blocked"
                                       % DOM.encode())),
                            ("dave", (250, None))):
            s = self.smtp_tls()
            try:
                s.login("%s@%s" % (login, DOM), "pw-%s-secret" % login)
                self.assertEqual(s.mail("%s@%s" % (login, DOM))[0], 250)
                code, text = s.rcpt(to)
                self.assertEqual(code, want[0], text)
                if want[1] is not None:
                    self.assertEqual(text, want[1])
            finally:
                s.quit()
        # Not logged in: nothing to look up.
        self.ok("sasl")

    # ---- access table results that are restriction lists

    def test_table_result_rbl_list(self):
        # "reject_rbl_client rbl.example" as a check_client_access result:
        # 127.0.0.2 is listed, 127.0.0.4 is not.  Before, the table
        # value was an unknown action (451) for both.
        self.refused("tbl", "554 5.7.1 Blocked; Client host [127.0.0.2] "
                     "listed by rbl.example; spammer", client="127.0.0.2")
        self.ok("tbl", client="127.0.0.4")

    def test_table_result_list(self):
        self.ok("tbl", client="127.0.0.7")  # $mynetworks
        self.refused("tbl", "554 5.7.1 <alice+tbl@%s>: Recipient address "
                     "rejected: Access denied" % DOM, client="127.0.0.5")
        self.ok("tbl", client="127.0.0.3")  # not in the table

    def test_table_result_list_errors(self):
        before = len(self.log())
        # A lookup table inside a table result (Postfix: define a class).
        self.refused("tbl", "451 4.3.5 Server configuration error",
                     client="127.0.0.6")
        # A list that names the class looking it up: too deep.
        self.refused("tbl_loop", "451 4.3.5 Server configuration error")
        log = self.log()[before:]
        self.assertIn("has entry with lookup table: check_sender_access "
                      "texthash:/nonexistent", log)
        self.assertIn("restriction class c_tbl_loop: nested too deep", log)


class TempfailActionTests(RcptChecks, DnsSiteTestCase):
    """The *_tempfail_action settings: a SERVFAIL for the sender domain
    or the HELO name (lame.example).  ACTION None: the defaults
    ($reject_tempfail_action = defer_if_permit): a later reject wins
    (554) and the 450 comes only when the rest would permit.  "defer":
    450 at once either way."""
    DOM = DOM
    SENDER = "s@good.srv.example"
    HELO = "good.srv.example"
    ACTION = None

    @classmethod
    def set_up_site(cls):
        cls.start_dns(ZONES)
        cls.make_site("postern-tf.")
        settings = cls.pick_ports() + SETTINGS + cls.dns_settings()
        if cls.ACTION is not None:
            settings += ["unknown_address_tempfail_action=" + cls.ACTION,
                         "unknown_helo_hostname_tempfail_action="
                         + cls.ACTION]
        run_postern(cls.dir, "config", "set", *settings)
        classes = {
            "c_sd": "reject_unknown_sender_domain, reject",
            "c_sd_ok": "reject_unknown_sender_domain, permit",
            "c_helo": "reject_unknown_helo_hostname, reject",
            "c_helo_ok": "reject_unknown_helo_hostname, permit",
        }
        rcpt = os.path.join(cls.dir, "rcpt_access")
        with open(rcpt, "w") as f:
            for n in classes:
                f.write("alice+%s@%s %s\n" % (n[2:], DOM, n))
        with open(os.path.join(cls.dir, "main.cf"), "a") as f:
            f.write("smtpd_restriction_classes = %s\n" % " ".join(classes))
            for name, value in classes.items():
                f.write("%s = %s\n" % (name, value))
            f.write("smtpd_relay_restrictions = permit_mynetworks, "
                    "reject_unauth_destination\n"
                    "smtpd_recipient_restrictions = check_recipient_access "
                    "texthash:%s, reject\n" % rcpt)
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(
                "smtp   inet  127.0.0.1:$smtp_port  none  1  postern-smtpd\n"
                "queue  unix  $queue_socket  none  1  postern-queued\n"
                "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n")
        cls.start_with_mailboxes(DOM, ("alice",))

    def deferred_or_rejected(self, to, deferred, **kw):
        rejected = ("554 5.7.1 <alice+%s@%s>: Recipient address rejected: "
                    "Access denied" % (to, DOM))
        # The list ends with reject: defer_if_permit lets it win.
        self.refused(to, deferred if self.ACTION == "defer" else rejected,
                     **kw)
        # The list ends with permit: 450 both ways.
        self.refused(to + "_ok", deferred, **kw)

    def test_unknown_address_tempfail_action(self):
        self.deferred_or_rejected(
            "sd", "450 4.1.8 <x@lame.example>: Sender address rejected: "
            "Domain not found", sender="x@lame.example")
        self.ok("sd_ok")  # good.srv.example resolves

    def test_unknown_helo_hostname_tempfail_action(self):
        self.deferred_or_rejected(
            "helo", "450 4.7.1 <mx.lame.example>: Helo command rejected: "
            "Host not found", helo="mx.lame.example")
        self.ok("helo_ok")


class TempfailDeferTests(TempfailActionTests):
    ACTION = "defer"


if __name__ == "__main__":
    unittest.main()
