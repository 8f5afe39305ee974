#!/usr/bin/env python3
"""Sender authentication in postern-smtpd (mta/smtpd-authres.c,
docs/authentication.md): SPF at MAIL FROM, DKIM and DMARC at the end of
DATA, each recorded in the delivered message's Authentication-Results
field and acted on as configured.

The DNS harness (dnsserver.py: nsd + unbound on loopback) serves the SPF
records, the DKIM key and the DMARC records; messages are signed with
python3-dkim (dkimpy) under Debian's python3.  Clients connect from
127.0.0.1 (SPF records list or leave out that address).  Two smtpd
services: "smtp" enforces (SPF fail refused at MAIL, DMARC p=reject at
the end of DATA, p=quarantine to the hold queue); "smtp2" records only.
$mynetworks is 127.0.0.7, which is not checked at all.
"""
import os
import re
import smtplib
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (DnsSiteTestCase, free_ports,  # noqa: E402
                          maildir_find, run_postern, tls_context, wait_for)
from dnsserver import Zone, txt_rdata  # noqa: E402

DOM = "hosted.example"
ID = "mx.test"
SIGNER_PYTHON = "/usr/bin/python3"
SIGNER = r'''
import sys, dkim
key = open(sys.argv[1], "rb").read()
msg = sys.stdin.buffer.read()
sig = dkim.sign(msg, sys.argv[3].encode(), sys.argv[2].encode(), key,
                include_headers=[b"from", b"to", b"subject"])
sys.stdout.buffer.write(sig + msg)
'''


def make_key(folder):
    """An RSA key: (private PEM path, public key base64 for p=)."""
    path = os.path.join(folder, "dkim.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", path], check=True,
                   capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    import base64
    return path, base64.b64encode(der).decode()


def zones(pubkey):
    return [
        Zone("pass.example", [
            ("@", "TXT", txt_rdata("v=spf1 ip4:127.0.0.1 -all")),
            ("helo", "A", "127.0.0.1"),
            ("helo", "TXT", txt_rdata("v=spf1 a -all")),
        ]),
        Zone("fail.example", [
            ("@", "TXT", txt_rdata("v=spf1 ip4:198.18.0.1 -all")),
            ("_dmarc", "TXT", txt_rdata("v=DMARC1; p=none")),
        ]),
        Zone("soft.example", [
            ("@", "TXT", txt_rdata("v=spf1 ip4:198.18.0.1 ~all")),
        ]),
        Zone("inc.example", [
            ("@", "TXT", txt_rdata("v=spf1 include:pass.example -all")),
        ]),
        Zone("rej.example", [
            ("_dmarc", "TXT", txt_rdata("v=DMARC1; p=reject")),
        ]),
        Zone("quar.example", [
            ("_dmarc", "TXT", txt_rdata("v=DMARC1; p=quarantine; pct=100")),
        ]),
        Zone("nonep.example", [
            ("@", "TXT", txt_rdata("v=spf1 ip4:127.0.0.1 -all")),
            ("_dmarc", "TXT", txt_rdata("v=DMARC1; p=none")),
        ]),
        Zone("signed.example", [
            ("sel._domainkey", "TXT",
             txt_rdata("v=DKIM1; k=rsa; p=" + pubkey)),
            ("_dmarc", "TXT",
             txt_rdata("v=DMARC1; p=none; sp=reject; adkim=r")),
        ]),
    ]


def dkim_missing():
    p = subprocess.run([SIGNER_PYTHON, "-c", "import dkim"],
                       capture_output=True)
    return None if p.returncode == 0 else "python3-dkim is needed"


class AuthRes(DnsSiteTestCase):
    @classmethod
    def set_up_site(cls):
        why = dkim_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.keydir = tempfile.TemporaryDirectory(prefix="postern-authres-k.")
        cls.key, pub = make_key(cls.keydir.name)
        cls.start_dns(zones(pub))
        cls.make_site("postern-authres.")
        settings = cls.pick_ports()
        cls.port2 = free_ports(1)[0]
        settings += [
            "myhostname=" + ID,
            "mynetworks=127.0.0.7/32",
            "stop_timeout=5s",
            "smtpd_error_sleep_time=0",
        ] + cls.dns_settings() + [
            "smtpd_spf_enable=yes",
            "smtpd_dkim_verify=yes",
            "smtpd_dmarc_enable=yes",
        ]
        cls.configure(
            "smtp   inet  127.0.0.1:$smtp_port  starttls  1  "
            "postern-smtpd\n"
            "smtp2  inet  127.0.0.1:%d  none  1  postern-smtpd "
            "-o smtpd_spf_fail_action=record "
            "-o smtpd_dmarc_enforce=no\n"
            "queue  unix  $queue_socket  none  1  postern-queued\n"
            "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n"
            % cls.port2, *settings)
        cls.start_with_mailbox(DOM)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if getattr(cls, "keydir", None) is not None:
            cls.keydir.cleanup()

    # ---- helpers

    def message(self, frm, tok, extra="", body=None):
        return ("%sFrom: <%s>\r\nTo: <alice@%s>\r\nSubject: test %s\r\n"
                "\r\n%s" % (extra, frm, DOM, tok,
                            body or "Token %s.\r\nSecond line.\r\n" % tok)
                ).encode()

    def sign(self, msg, domain="signed.example", selector="sel"):
        p = subprocess.run([SIGNER_PYTHON, "-c", SIGNER, self.key, domain,
                            selector], input=msg, capture_output=True,
                           check=True)
        return p.stdout

    def send(self, sender, msg, port=None, source="127.0.0.1",
             helo="client.pass.example"):
        """(MAIL reply, DATA reply) as (code, text); DATA is None when
        MAIL was refused."""
        s = smtplib.SMTP("127.0.0.1", port or self.port, timeout=30,
                         source_address=(source, 0))
        try:
            s.ehlo(helo)
            mail = s.mail(sender)
            if mail[0] != 250:
                return (mail[0], mail[1].decode()), None
            rcpt = s.rcpt("alice@" + DOM)
            self.assertEqual(rcpt[0], 250, rcpt)
            try:
                code, text = s.data(msg)
            except smtplib.SMTPDataError as e:
                code, text = e.smtp_code, e.smtp_error
            return (mail[0], mail[1].decode()), (code, text.decode())
        finally:
            try:
                s.quit()
            except smtplib.SMTPException:
                pass

    def find(self, tok):
        found = maildir_find(self.dir, DOM, "alice", tok)
        return found[0] if found else None

    def delivered(self, tok):
        return wait_for(lambda: self.find(tok), 20,
                        "delivery of %s\n%s" % (tok, self.log()[-3000:]))

    def header(self, data):
        return data.split("\n\n", 1)[0]

    def ours(self, data):
        """Our Authentication-Results field, unfolded; and it must stand
        above smtpd's Received field (LMTP adds its own above both)."""
        hdr = self.header(data)
        fields = re.findall(r"(?m)^Authentication-Results:[^\n]*"
                            r"(?:\n[ \t][^\n]*)*", hdr)
        mine = [f for f in fields
                if re.match(r"Authentication-Results:\s*%s\s*;" %
                            re.escape(ID), f)]
        self.assertEqual(len(mine), 1, hdr)
        smtp_received = re.search(r"(?m)^Received: from \S+ \(\[127\.",
                                  hdr)
        self.assertLess(hdr.index(mine[0]), smtp_received.start(), hdr)
        return re.sub(r"\s+", " ", mine[0])

    def accepted(self, sender, msg, **kw):
        mail, data = self.send(sender, msg, **kw)
        self.assertEqual(mail[0], 250, mail)
        self.assertEqual(data[0], 250, data)
        return data[1]

    # ---- SPF

    def test_spf_pass(self):
        tok = uuid.uuid4().hex
        self.accepted("s@pass.example", self.message("s@pass.example", tok))
        ar = self.ours(self.delivered(tok))
        self.assertIn("spf=pass smtp.mailfrom=s@pass.example", ar)

    def test_spf_pass_through_include(self):
        tok = uuid.uuid4().hex
        self.accepted("s@inc.example", self.message("s@inc.example", tok))
        self.assertIn("spf=pass smtp.mailfrom=s@inc.example",
                      self.ours(self.delivered(tok)))

    def test_spf_fail_refused_at_mail(self):
        mail, data = self.send("s@fail.example", b"unused")
        self.assertIsNone(data)
        self.assertEqual(mail[0], 550, mail)
        self.assertTrue(mail[1].startswith("5.7.23 "), mail)
        self.wait_log("spf=fail smtp.mailfrom=s@fail.example")

    def test_spf_fail_recorded(self):
        tok = uuid.uuid4().hex
        self.accepted("s@fail.example", self.message("s@fail.example", tok),
                      port=self.port2)
        ar = self.ours(self.delivered(tok))
        self.assertIn("spf=fail smtp.mailfrom=s@fail.example", ar)

    def test_spf_softfail(self):
        tok = uuid.uuid4().hex
        self.accepted("s@soft.example", self.message("s@soft.example", tok))
        self.assertIn("spf=softfail smtp.mailfrom=s@soft.example",
                      self.ours(self.delivered(tok)))

    def test_spf_none(self):
        tok = uuid.uuid4().hex
        self.accepted("s@rej.example", self.message("s@pass.example", tok))
        self.assertIn("spf=none smtp.mailfrom=s@rej.example",
                      self.ours(self.delivered(tok)))

    def test_spf_null_sender_checks_helo(self):
        tok = uuid.uuid4().hex
        self.accepted("<>", self.message("s@pass.example", tok),
                      helo="helo.pass.example")
        self.assertIn("spf=pass smtp.helo=helo.pass.example",
                      self.ours(self.delivered(tok)))

    # ---- DKIM

    def test_dkim_pass(self):
        tok = uuid.uuid4().hex
        msg = self.sign(self.message("a@signed.example", tok))
        b = re.search(rb"\bb=([A-Za-z0-9+/]{8})", msg.split(b"bh=", 1)[1])
        self.accepted("s@pass.example", msg)
        ar = self.ours(self.delivered(tok))
        self.assertIn("dkim=pass header.d=signed.example header.s=sel "
                      "header.b=", ar)
        self.assertIn(b.group(1).decode(), ar)
        # Aligned through DKIM (SPF passed for another domain).
        self.assertIn("dmarc=pass (p=none dis=none) "
                      "header.from=signed.example", ar)

    def test_dkim_fail_altered_body(self):
        tok = uuid.uuid4().hex
        msg = self.sign(self.message("a@signed.example", tok))
        msg = msg.replace(b"Second line.", b"Second line, altered.")
        self.accepted("s@pass.example", msg)
        ar = self.ours(self.delivered(tok))
        self.assertRegex(ar, r"dkim=fail( reason=\"[^\"]*\")? "
                         r"header.d=signed.example header.s=sel")
        self.assertIn("dmarc=fail (p=none dis=none) "
                      "header.from=signed.example", ar)

    def test_dkim_none(self):
        tok = uuid.uuid4().hex
        self.accepted("s@pass.example", self.message("s@pass.example", tok))
        self.assertIn("dkim=none", self.ours(self.delivered(tok)))

    # ---- DMARC

    def test_dmarc_reject(self):
        tok = uuid.uuid4().hex
        mail, data = self.send("s@pass.example",
                               self.message("ceo@rej.example", tok))
        self.assertEqual(mail[0], 250, mail)
        self.assertEqual(data[0], 550, data)
        self.assertTrue(data[1].startswith("5.7.1 "), data)
        self.wait_log("dmarc=fail header.from=rej.example p=reject "
                      "dis=reject")
        time.sleep(1)
        self.assertIsNone(self.find(tok))

    def test_dmarc_reject_recorded_only(self):
        tok = uuid.uuid4().hex
        self.accepted("s@pass.example", self.message("ceo@rej.example", tok),
                      port=self.port2)
        self.assertIn("dmarc=fail (p=reject dis=none) "
                      "header.from=rej.example",
                      self.ours(self.delivered(tok)))

    def test_dmarc_subdomain_policy(self):
        # sp=reject of the organizational domain applies to a subdomain
        # without a record of its own ...
        tok = uuid.uuid4().hex
        mail, data = self.send("s@pass.example",
                               self.message("a@sub.signed.example", tok))
        self.assertEqual(data[0], 550, data)
        # ... and a d=signed.example signature aligns with it (relaxed).
        tok = uuid.uuid4().hex
        msg = self.sign(self.message("a@sub.signed.example", tok))
        self.accepted("s@pass.example", msg)
        self.assertIn("dmarc=pass (p=reject dis=none) "
                      "header.from=sub.signed.example",
                      self.ours(self.delivered(tok)))

    def test_dmarc_quarantine_holds(self):
        tok = uuid.uuid4().hex
        text = self.accepted("s@pass.example",
                             self.message("ceo@quar.example", tok))
        qid = re.match(r"2\.0\.0 Ok: queued as (\S+)$", text).group(1)
        wait_for(lambda: re.search(
            r"(?m)^%s\s*!" % qid,
            run_postern(self.dir, "queue", "list").stdout), 10,
            "held " + qid)
        time.sleep(0.5)
        self.assertIsNone(self.find(tok))
        run_postern(self.dir, "queue", "release", qid)
        ar = self.ours(self.delivered(tok))
        self.assertIn("dmarc=fail (p=quarantine dis=quarantine) "
                      "header.from=quar.example", ar)

    def test_dmarc_none_policy(self):
        tok = uuid.uuid4().hex
        self.accepted("s@pass.example",
                      self.message("ceo@fail.example", tok))
        self.assertIn("dmarc=fail (p=none dis=none) header.from=fail.example",
                      self.ours(self.delivered(tok)))

    def test_dmarc_pass_spf_aligned(self):
        tok = uuid.uuid4().hex
        self.accepted("s@nonep.example",
                      self.message("boss@nonep.example", tok))
        ar = self.ours(self.delivered(tok))
        self.assertIn("spf=pass smtp.mailfrom=s@nonep.example", ar)
        self.assertIn("dmarc=pass (p=none dis=none) "
                      "header.from=nonep.example", ar)

    def test_dmarc_no_record(self):
        tok = uuid.uuid4().hex
        self.accepted("s@pass.example", self.message("x@pass.example", tok))
        self.assertIn("dmarc=none header.from=pass.example",
                      self.ours(self.delivered(tok)))

    # ---- the header field itself

    def test_forged_results_removed(self):
        tok = uuid.uuid4().hex
        extra = ("Authentication-Results: %s; dkim=pass "
                 "header.d=forged.example\r\n"
                 "Authentication-Results: (comment) MX.TEST.;\r\n"
                 "\tspf=pass smtp.mailfrom=x@forged.example\r\n"
                 "Authentication-Results: other.example; spf=pass "
                 "smtp.mailfrom=kept@other.example\r\n" % ID)
        self.accepted("s@pass.example",
                      self.message("s@pass.example", tok, extra=extra))
        data = self.delivered(tok)
        self.ours(data)  # exactly one claims mx.test: ours
        self.assertNotIn("forged.example", data)
        self.assertIn("Authentication-Results: other.example; spf=pass "
                      "smtp.mailfrom=kept@other.example", data)
        self.wait_log("removed 2 Authentication-Results fields")

    def test_mynetworks_not_checked(self):
        tok = uuid.uuid4().hex
        self.accepted("s@fail.example", self.message("ceo@rej.example", tok),
                      source="127.0.0.7")
        data = self.delivered(tok)
        self.assertNotIn("Authentication-Results", data)

    def test_authenticated_not_checked(self):
        tok = uuid.uuid4().hex
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        try:
            s.ehlo("client.pass.example")
            s.starttls(context=tls_context())
            s.ehlo("client.pass.example")
            s.login("alice@" + DOM, "pw-alice-secret")
            # SPF would fail (refused at MAIL) and DMARC reject.
            self.assertEqual(s.mail("s@fail.example")[0], 250)
            self.assertEqual(s.rcpt("alice@" + DOM)[0], 250)
            code, _ = s.data(self.message("ceo@rej.example", tok))
            self.assertEqual(code, 250)
        finally:
            s.quit()
        self.assertNotIn("Authentication-Results", self.delivered(tok))


if __name__ == "__main__":
    unittest.main()
