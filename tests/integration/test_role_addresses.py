#!/usr/bin/env python3
"""Role addresses (RFC 5321 4.5.1, RFC 2142): postmaster@ and abuse@ of
every hosted domain, without rows (lib/rewrite/virtual.c step 3b), through
a real postern-smtpd, -queued and -lmtpd, on SQLite, PostgreSQL and
MariaDB (the last two under run-all.sh or dbservers.sh).

Site: myhostname (so $myorigin) is the hosted domain H, whose
postmaster@H is an alias to admin@D; $role_address_recipient is left at
its default "postmaster" (postmaster@$myorigin).  Shown:
  - RCPT postmaster@D and ABUSE@D (no rows) get 250 and the mail lands in
    admin@D's mailbox (role rule, then the alias of the target);
  - a domain with an alias row postmaster@A -> pm@A and a mailbox abuse@A:
    those win;
  - a domain with a catch-all: the role rule comes first, other local
    parts still go to the catch-all;
  - other unknown local parts of D still get 550 5.1.1;
  - notify_classes bounce with the default bounce_notice_recipient
    ("postmaster"): the postmaster copy reaches admin@D too (queued
    resolves its notices' recipients the same way).
Each run uses random domain names, so rows left in a shared server
database by earlier runs change nothing.
"""
import glob
import os
import random
import smtplib
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (DriverSite, per_driver,  # noqa: E402
                          wait_for)

SERVICES = """\
# written by test_role_addresses.py
smtp         inet  $inet_interfaces:$smtp_port            none  1  postern-smtpd
lmtp-unix    unix  $lmtp_socket                           none  1  postern-lmtpd
queue        unix  $queue_socket                          none  1  postern-queued
"""
PASSWORD = "correct horse battery"


class RoleBase(DriverSite):
    @classmethod
    def set_up_site(cls):
        settings = cls.make_driver_site("postern-role-")
        tag = "%06x" % random.getrandbits(24)
        cls.d = "d-%s.example" % tag    # no role rows
        cls.h = "h-%s.example" % tag    # $myhostname: postmaster@ alias
        cls.a = "a-%s.example" % tag    # its own postmaster/abuse rows
        cls.c = "c-%s.example" % tag    # a catch-all
        settings += ["myhostname=" + cls.h, "stop_timeout=5s",
                     "notify_classes=bounce",
                     "transport_maps=inline:{ {bad.test=error:5.1.1 "
                     "no such user} }"]
        cls.configure_driver(settings, SERVICES)
        for dom in (cls.d, cls.h, cls.a, cls.c):
            cls.add_domain(dom)
        for m in ("admin@" + cls.d, "alice@" + cls.d, "pm@" + cls.a,
                  "abuse@" + cls.a, "any@" + cls.c):
            cls.add_mailbox(m, PASSWORD)
        cls.add_alias("postmaster@" + cls.h, "admin@" + cls.d)
        cls.add_alias("postmaster@" + cls.a, "pm@" + cls.a)
        cls.add_alias("@" + cls.c, "any@" + cls.c)
        cls.start_driver_site()

    # ---- helpers

    def find(self, addr, tok):
        local, dom = addr.split("@")
        for sub in ("new", "cur"):
            for fn in glob.glob(os.path.join(self.dir, "mail", dom, local,
                                             sub, "*")):
                try:
                    with open(fn, "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    continue
                if tok.encode() in data:
                    return data.decode(errors="replace")
        return None

    def delivered(self, addr, tok):
        return wait_for(lambda: self.find(addr, tok), 20,
                        "mail for %s with %s\n%s" % (addr, tok,
                                                     self.log()[-3000:]))

    def send(self, rcpt, sender="s@x.test"):
        """(token, RCPT reply code, text); the message goes when 250."""
        tok = uuid.uuid4().hex
        s = smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=20)
        try:
            s.ehlo("client.test")
            self.assertEqual(s.mail(sender)[0], 250)
            code, text = s.rcpt(rcpt)
            if code == 250:
                msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n"
                       "token %s\r\n" % (sender, rcpt, tok, tok))
                self.assertEqual(s.data(msg.encode())[0], 250)
        finally:
            s.quit()
        return tok, code, text.decode()

    # ---- tests

    def test_role_addresses_without_rows(self):
        for rcpt in ("postmaster@" + self.d, "ABUSE@" + self.d.upper()):
            tok, code, text = self.send(rcpt)
            self.assertEqual(code, 250, text)
            self.assertIn(tok, self.delivered("admin@" + self.d, tok))
        # The target itself: postmaster@$myorigin has its alias.
        tok, code, text = self.send("postmaster@" + self.h)
        self.assertEqual(code, 250, text)
        self.delivered("admin@" + self.d, tok)

    def test_rows_win(self):
        tok, code, text = self.send("postmaster@" + self.a)
        self.assertEqual(code, 250, text)
        self.delivered("pm@" + self.a, tok)
        self.assertIsNone(self.find("admin@" + self.d, tok))
        tok, code, text = self.send("abuse@" + self.a)
        self.assertEqual(code, 250, text)
        self.delivered("abuse@" + self.a, tok)
        self.assertIsNone(self.find("admin@" + self.d, tok))

    def test_before_catch_all(self):
        tok, code, text = self.send("postmaster@" + self.c)
        self.assertEqual(code, 250, text)
        self.delivered("admin@" + self.d, tok)
        self.assertIsNone(self.find("any@" + self.c, tok))
        tok, code, text = self.send("someone@" + self.c)
        self.assertEqual(code, 250, text)
        self.delivered("any@" + self.c, tok)

    def test_other_unknown_local_parts(self):
        for local in ("hostmaster", "postmaster2", "webmaster"):
            _, code, text = self.send("%s@%s" % (local, self.d))
            self.assertEqual(code, 550, text)
            self.assertIn("5.1.1", text)

    def test_postmaster_notice_reaches_role_recipient(self):
        # A bounce (error: transport); the postmaster copy goes to the
        # default bounce_notice_recipient "postmaster" = postmaster@$myorigin.
        tok, code, text = self.send("nobody@bad.test",
                                    sender="alice@" + self.d)
        self.assertEqual(code, 250, text)
        bounce = self.delivered("alice@" + self.d, tok)
        self.assertIn("no such user", bounce)
        copy = self.delivered("admin@" + self.d, tok)
        self.assertIn("Postmaster Copy", copy)


RoleSqlite, RolePgsql, RoleMysql = per_driver(RoleBase)


if __name__ == "__main__":
    unittest.main(verbosity=2)
