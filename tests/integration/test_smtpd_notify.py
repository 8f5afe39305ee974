#!/usr/bin/env python3
"""notify_classes policy, protocol, resource and software
(mta/smtpd-notify.c): postern-smtpd mails the postmaster a transcript of
a session in which something of a listed class went wrong, through the
queue, to $error_notice_recipient (default "postmaster" =
postmaster@$myorigin, here an alias of admin@d.test).

Each session says EHLO with its own token, so the notice that carries
its transcript is found in admin@d.test's mailbox:
  - policy: RCPT refused by check_recipient_access;
  - protocol: an unknown command (502);
  - resource: a temporary lookup failure (451 4.3.0; a listener whose
    check_recipient_access table fails; not also policy);
  - software: a configuration error (451 4.3.5; a listener with a bad
    virtual_alias_domains target);
  - a listener with notify_classes = protocol sends nothing for a policy
    refusal, but does for a protocol error; a clean session sends none;
  - a listener whose $myorigin is not hosted: the default "postmaster"
    would be postmaster@elsewhere.test, sent out by MX and bounced (once
    per session in a database outage): nothing is queued, a warning says
    to set error_notice_recipient.
"""
import glob
import os
import socket
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (SiteTestCase, free_ports, run_postern,  # noqa
                          wait_for)

PASSWORD = "correct horse battery"


class SmtpdNotify(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-notify.")
        settings = cls.pick_ports()
        cls.p_only, cls.p_res, cls.p_soft, cls.p_origin = free_ports(4)
        settings += ["myhostname=d.test", "stop_timeout=5s",
                     "notify_classes=policy, protocol, resource, software",
                     "smtpd_recipient_restrictions=check_recipient_access "
                     "inline:{ blocked@d.test=REJECT }"]
        run_postern(cls.dir, "config", "set", *settings)
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(
                "smtp inet $inet_interfaces:$smtp_port none 1 "
                "postern-smtpd\n"
                "smtp-only inet 127.0.0.1:%d none 1 postern-smtpd "
                "-o notify_classes=protocol\n"
                "smtp-res inet 127.0.0.1:%d none 1 postern-smtpd "
                "-o smtpd_recipient_restrictions="
                "check_recipient_access,fail:broken\n"
                "smtp-soft inet 127.0.0.1:%d none 1 postern-smtpd "
                "-o virtual_alias_domains=inline:{bad.test=x@y}\n"
                "smtp-origin inet 127.0.0.1:%d none 1 postern-smtpd "
                "-o myorigin=elsewhere.test\n"
                "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n"
                "queue unix $queue_socket none 1 postern-queued\n"
                % (cls.p_only, cls.p_res, cls.p_soft, cls.p_origin))
        run_postern(cls.dir, "domain", "add", "d.test")
        for m in ("admin", "alice"):
            run_postern(cls.dir, "mailbox", "add", m + "@d.test",
                        "--password-stdin", stdin=PASSWORD + "\n")
        run_postern(cls.dir, "alias", "add", "postmaster@d.test",
                    "admin@d.test")
        run_postern(cls.dir, "start")
        cls.started = True

    # ---- helpers

    def admin_mail(self):
        out = []
        for sub in ("new", "cur"):
            for fn in glob.glob(os.path.join(self.dir, "mail", "d.test",
                                             "admin", sub, "*")):
                try:
                    with open(fn, "rb") as f:
                        out.append(f.read().decode(errors="replace"))
                except FileNotFoundError:
                    continue
        return out

    def notice(self, tok):
        return wait_for(
            lambda: next((m for m in self.admin_mail() if tok in m), None),
            20, "notice with %s\n%s" % (tok, self.log()[-3000:]))

    def session(self, port, lines):
        """EHLO <token>.test, then each line (replies read), QUIT;
        returns (token, [replies])."""
        tok = "c" + uuid.uuid4().hex[:16]
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        f = s.makefile("rb")

        def reply():
            out = []
            while True:
                line = f.readline().decode()
                out.append(line.rstrip("\r\n"))
                if line[3:4] != "-":
                    return "\n".join(out)

        replies = [reply()]
        for line in ["EHLO %s.test" % tok] + lines + ["QUIT"]:
            s.sendall(line.encode() + b"\r\n")
            replies.append(reply())
        s.close()
        return tok, replies

    def check(self, notice, tok, cls, *want):
        self.assertIn("Subject: Postern SMTP server: errors from", notice)
        self.assertIn("Problems (notify_classes): %s" % cls, notice)
        self.assertIn(" In:  EHLO %s.test" % tok, notice)
        self.assertIn(" Out: 220 ", notice)
        for w in want:
            self.assertIn(w, notice)

    # ---- tests

    def test_policy(self):
        tok, r = self.session(self.ports["smtp"], [
            "MAIL FROM:<s@x.test>", "RCPT TO:<blocked@d.test>"])
        self.assertTrue(r[-2].startswith("554 "), r)
        n = self.notice(tok)
        self.check(n, tok, "policy", " In:  RCPT TO:<blocked@d.test>",
                   " Out: 554 5.7.1")
        self.assertIn("Return-Path: <double-bounce@d.test>", n)

    def test_protocol(self):
        tok, r = self.session(self.ports["smtp"], ["FOOBAR"])
        self.assertTrue(r[-2].startswith("502 "), r)
        self.check(self.notice(tok), tok, "protocol", " In:  FOOBAR",
                   " Out: 502 ")

    def test_resource(self):
        tok, r = self.session(self.p_res, [
            "MAIL FROM:<s@x.test>", "RCPT TO:<alice@d.test>"])
        self.assertTrue(r[-2].startswith("451 4.3.0"), r)
        self.check(self.notice(tok), tok, "resource", " Out: 451 4.3.0")

    def test_software(self):
        tok, r = self.session(self.p_soft, [
            "MAIL FROM:<s@x.test>", "RCPT TO:<u@bad.test>"])
        self.assertTrue(r[-2].startswith("451 4.3.5"), r)
        self.check(self.notice(tok), tok, "software", " Out: 451 4.3.5")

    def test_unlisted_class_and_clean_session(self):
        quiet, r = self.session(self.p_only, [
            "MAIL FROM:<s@x.test>", "RCPT TO:<blocked@d.test>"])
        self.assertTrue(r[-2].startswith("554 "), r)
        clean, r = self.session(self.p_only, ["NOOP"])
        self.assertTrue(r[-2].startswith("250"), r)
        loud, r = self.session(self.p_only, ["FOOBAR"])
        self.check(self.notice(loud), loud, "protocol")
        time.sleep(1)
        mail = "\n".join(self.admin_mail())
        self.assertNotIn(quiet, mail)
        self.assertNotIn(clean, mail)
        # AUTH lines never reach a transcript (none here, but the
        # EHLO of the loud one is the only client line besides FOOBAR).
        self.assertEqual(sum(loud in m for m in self.admin_mail()), 1)


    def test_unhosted_default_recipient_not_queued(self):
        tok, r = self.session(self.p_origin, ["FOOBAR"])
        self.assertTrue(r[-2].startswith("502 "), r)
        wait_for(lambda: "postmaster notification not sent: "
                 "<postmaster@elsewhere.test> is not a hosted mailbox"
                 in self.log(), 20, "the warning\n" + self.log()[-3000:])
        log = self.log()
        self.assertNotIn("to=<postmaster@elsewhere.test>", log)
        self.assertFalse(any(tok in m for m in self.admin_mail()))


if __name__ == "__main__":
    unittest.main(verbosity=2)
