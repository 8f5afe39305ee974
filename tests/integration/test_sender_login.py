#!/usr/bin/env python3
"""Who may send as whom (docs/restrictions.md "Sender login checks"):
smtpd_sender_login_maps' ownership (built in from the hosted data: a
mailbox owns its address, an alias is owned by the hosted mailboxes it
delivers to, user@aliasdomain as user@targetdomain), the submission
services' built-in check (smtpd_submission_sender_login_check), Postfix's
four reject_*sender_login_mismatch restrictions and reject_unlisted_sender
/ reject_unlisted_recipient on an MX-style port, on SQLite, and on
PostgreSQL and MariaDB under run-all.sh or dbservers.sh.

Every case fails if the check were ignored: a refused sender would
otherwise get 250 at RCPT (or, for reject_unlisted_recipient, whose
service ends its list in `defer`, 450 instead of 550).  The DKIM side
(an unowned From: goes out unsigned) is in test_dkim.py.
"""
import os
import secrets
import smtplib
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (DriverSite, free_ports, per_driver,  # noqa: E402
                          run_postern, tls_context, wait_for)

PASSWORD = "pw-sender-login"

# name -> (smtpd_sender_restrictions, smtpd_recipient_restrictions)
MX_SERVICES = {
    "mxlogin": ("reject_sender_login_mismatch", None),
    "mxauth": ("reject_authenticated_sender_login_mismatch", None),
    "mxknown": ("reject_known_sender_login_mismatch", None),
    "mxunauth": ("reject_unauthenticated_sender_login_mismatch", None),
    "mxunlisted": ("reject_unlisted_sender", None),
    # defer after it: a recipient the restriction lets through gets 450,
    # so an ignored restriction shows (450 instead of 550).
    "mxrcpt": (None, "reject_unlisted_recipient,defer"),
}


class SenderLoginBase(DriverSite):
    @classmethod
    def set_up_site(cls):
        settings = cls.make_driver_site("postern-login-")
        names = ["nocheck"] + list(MX_SERVICES)
        cls.svc_ports = dict(zip(names, free_ports(len(names))))
        settings += ["myhostname=mx.test", "stop_timeout=5s",
                     "database_timeout=5s", "log_target=file"]
        services = (
            "smtp       inet 127.0.0.1:$smtp_port       starttls 1 "
            "postern-smtpd\n"
            "submission inet 127.0.0.1:$submission_port starttls 1 "
            "postern-smtpd\n"
            # A submission service with the check turned off.
            "nocheck    inet 127.0.0.1:%d starttls 1 postern-smtpd "
            "-o smtpd_submission_services=nocheck "
            "-o smtpd_submission_sender_login_check=no\n"
            % cls.svc_ports["nocheck"])
        for name, (snd, rcpt) in MX_SERVICES.items():
            line = "%s inet 127.0.0.1:%d starttls 1 postern-smtpd" % (
                name, cls.svc_ports[name])
            if snd:
                line += " -o smtpd_sender_restrictions=" + snd
            if rcpt:
                line += " -o smtpd_recipient_restrictions=" + rcpt
            services += line + "\n"
        services += (
            "queue      unix $queue_socket none 1 postern-queued\n"
            "lmtp-unix  unix $lmtp_socket  none 1 postern-lmtpd\n")
        cls.configure_driver(settings, services)
        tag = secrets.token_hex(4)
        cls.t1 = "t1-%s.test" % tag
        cls.t2 = "t2-%s.test" % tag
        cls.aliasdom = "ad-%s.test" % tag
        cls.a = "a@" + cls.t1
        cls.b = "b@" + cls.t1
        cls.ceo = "ceo@" + cls.t2
        for d in (cls.t1, cls.t2):
            cls.add_domain(d)
        for m in (cls.a, cls.b, cls.ceo):
            cls.add_mailbox(m, PASSWORD)
        cls.add_alias("info@" + cls.t1, "%s,%s" % (cls.a, cls.b))
        cls.add_alias("bonly@" + cls.t1, cls.b)
        run_postern(cls.dir, "alias-domain", "add", cls.aliasdom, cls.t1)
        cls.start_driver_site()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "started", False) and cls.DRIVER != "sqlite":
            run_postern(cls.dir, "alias-domain", "del", cls.aliasdom,
                        check=False)
        super().tearDownClass()

    # ---- helpers

    def client(self, port, login=None):
        s = smtplib.SMTP("127.0.0.1", port, timeout=30)
        self.addCleanup(s.close)
        s.ehlo("client.example")
        s.starttls(context=tls_context())
        s.ehlo("client.example")
        if login:
            s.login(login, PASSWORD)
        return s

    def rcpt(self, port, sender, rcpt=None, login=None):
        """(code, text) of RCPT after MAIL FROM sender (MAIL must pass,
        as smtpd_delay_reject=yes puts sender refusals at RCPT)."""
        s = self.client(port, login)
        code, msg = s.mail(sender)
        self.assertEqual(code, 250, msg)
        code, msg = s.rcpt(rcpt or self.b)
        return code, msg.decode()

    def assertRefused(self, got, code, enh, text):
        self.assertEqual(got[0], code, got)
        self.assertTrue(got[1].startswith(enh + " "), got)
        self.assertIn(text, got[1])

    # ---- the submission port (the check is on by default)

    def test_submission_own_address(self):
        sub = self.ports["submission"]
        self.assertEqual(self.rcpt(sub, self.a, login=self.a)[0], 250)
        # Upper case and an extension are still a's.
        self.assertEqual(self.rcpt(sub, "A@" + self.t1.upper(),
                                   login=self.a)[0], 250)
        self.assertEqual(self.rcpt(sub, "a+news@" + self.t1,
                                   login=self.a)[0], 250)

    def test_submission_alias_and_alias_domain(self):
        sub = self.ports["submission"]
        # An alias delivering to a (among others) is a's and b's.
        self.assertEqual(self.rcpt(sub, "info@" + self.t1,
                                   login=self.a)[0], 250)
        self.assertEqual(self.rcpt(sub, "info@" + self.t1,
                                   login=self.b)[0], 250)
        # a@aliasdomain is a@t1.
        self.assertEqual(self.rcpt(sub, "a@" + self.aliasdom,
                                   login=self.a)[0], 250)
        # An alias delivering only to b is not a's.
        self.assertRefused(self.rcpt(sub, "bonly@" + self.t1, login=self.a),
                           553, "5.7.1", "not owned by user " + self.a)

    def test_submission_other_mailbox_refused(self):
        got = self.rcpt(self.ports["submission"], self.b, login=self.a)
        self.assertRefused(got, 553, "5.7.1",
                           "<%s>: Sender address rejected: not owned by "
                           "user %s" % (self.b, self.a))

    def test_submission_other_tenant_refused_nothing_queued(self):
        s = self.client(self.ports["submission"], self.a)
        code, msg = s.mail(self.ceo)
        self.assertEqual(code, 250, msg)
        code, msg = s.rcpt(self.b)
        self.assertEqual(code, 553, msg)
        self.assertIn(b"not owned by user " + self.a.encode(), msg)
        code, msg = s.docmd("DATA")
        self.assertGreaterEqual(code, 500, msg)  # no recipient: no message
        # A foreign address has no owner: refused as well.
        s.rset()
        s.mail("someone@elsewhere.example")
        self.assertEqual(s.rcpt(self.b)[0], 553)

    def test_submission_null_sender_not_checked(self):
        self.assertEqual(self.rcpt(self.ports["submission"], "",
                                   login=self.a)[0], 250)

    def test_submission_from_header_marks_dkim(self):
        # The envelope is a's; the From: header decides whether queued may
        # sign (docs/dkim.md): another tenant's is marked, a's own is not.
        # (test_dkim.py shows what goes out.)
        s = self.client(self.ports["submission"], self.a)
        for frm in (self.ceo, "info@" + self.t1):
            msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: mark %s\r\n\r\n"
                   "hello\r\n" % (frm, self.b, frm)).encode()
            s.sendmail(self.a, [self.b], msg)
        wait_for(lambda: "From <%s> is not owned by sasl_username=%s: "
                 "not signing" % (self.ceo, self.a) in self.log(),
                 what="the DKIM mark in the log")
        self.assertNotIn("From <info@%s> is not owned" % self.t1,
                         self.log())

    def test_submission_check_off(self):
        got = self.rcpt(self.svc_ports["nocheck"], self.ceo, login=self.a)
        self.assertEqual(got[0], 250, got)

    def test_port25_unchanged(self):
        # The smtp service lists no login restriction: an authenticated
        # client may use any sender there, as before.
        got = self.rcpt(self.ports["smtp"], self.ceo, login=self.a)
        self.assertEqual(got[0], 250, got)

    # ---- the restrictions on MX-style ports

    def test_reject_sender_login_mismatch(self):
        port = self.svc_ports["mxlogin"]
        self.assertRefused(self.rcpt(port, self.a), 553, "5.7.1",
                           "<%s>: Sender address rejected: not logged in"
                           % self.a)
        self.assertRefused(self.rcpt(port, self.b, login=self.a), 553,
                           "5.7.1", "not owned by user " + self.a)
        self.assertEqual(self.rcpt(port, self.a, login=self.a)[0], 250)
        # An address nobody owns, unauthenticated: passes.
        self.assertEqual(self.rcpt(port, "x@elsewhere.example")[0], 250)

    def test_reject_authenticated_sender_login_mismatch(self):
        port = self.svc_ports["mxauth"]
        self.assertEqual(self.rcpt(port, self.a)[0], 250)
        self.assertRefused(self.rcpt(port, "x@elsewhere.example",
                                     login=self.a),
                           553, "5.7.1", "not owned by user " + self.a)
        self.assertRefused(self.rcpt(port, self.b, login=self.a), 553,
                           "5.7.1", "not owned by user " + self.a)

    def test_reject_known_sender_login_mismatch(self):
        port = self.svc_ports["mxknown"]
        # Nobody owns it: passes even when authenticated.
        self.assertEqual(self.rcpt(port, "x@elsewhere.example",
                                   login=self.a)[0], 250)
        self.assertRefused(self.rcpt(port, self.b, login=self.a), 553,
                           "5.7.1", "not owned by user " + self.a)
        self.assertRefused(self.rcpt(port, self.a), 553, "5.7.1",
                           "not logged in")

    def test_reject_unauthenticated_sender_login_mismatch(self):
        port = self.svc_ports["mxunauth"]
        self.assertRefused(self.rcpt(port, self.a), 553, "5.7.1",
                           "not logged in")
        self.assertEqual(self.rcpt(port, "x@elsewhere.example")[0], 250)
        # Authenticated clients are not its business.
        self.assertEqual(self.rcpt(port, self.b, login=self.a)[0], 250)

    def test_reject_unlisted_sender(self):
        port = self.svc_ports["mxunlisted"]
        self.assertRefused(self.rcpt(port, "nobody@" + self.t1), 550,
                           "5.1.0", "<nobody@%s>: Sender address rejected: "
                           "User unknown in virtual mailbox table" % self.t1)
        self.assertEqual(self.rcpt(port, self.a)[0], 250)
        self.assertEqual(self.rcpt(port, "info@" + self.t1)[0], 250)
        self.assertEqual(self.rcpt(port, "x@elsewhere.example")[0], 250)
        self.assertEqual(self.rcpt(port, "")[0], 250)

    def test_reject_unlisted_recipient(self):
        port = self.svc_ports["mxrcpt"]
        got = self.rcpt(port, "x@elsewhere.example", "nobody@" + self.t1)
        self.assertRefused(got, 550, "5.1.1",
                           "<nobody@%s>: Recipient address rejected: User "
                           "unknown in virtual mailbox table" % self.t1)
        # A listed one goes on to `defer`.
        self.assertEqual(self.rcpt(port, "x@elsewhere.example",
                                   self.b)[0], 450)


(SenderLoginSqlite, SenderLoginPgsql,
 SenderLoginMysql) = per_driver(SenderLoginBase)

if __name__ == "__main__":
    unittest.main()
