#!/usr/bin/env python3
"""Content checks as Postfix's header_checks(5) and body_checks(5)
(docs/content-checks.md): every action of header_checks,
mime_header_checks, nested_header_checks and body_checks, each shown by
the SMTP reply, the delivered message, the queue or the log, so that a
test fails if the action were ignored.

Each table kind has its own pcre: table (one regexp: table shows that
type is read too) with one rule per action, keyed by a word only the
matching message carries: "hc-ACTION" in the Subject (header_checks),
"mh-ACTION" in a MIME part's Content-Description (mime_header_checks),
"nh-ACTION" in the Subject of an attached message (nested_header_checks),
a body line "bc-ACTION" (body_checks).  Mail goes to alice@d.test and is
read from her Maildir (carol@d.test is the REDIRECT target).
"""
import glob
import os
import re
import smtplib
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (SiteTestCase, SmtpReceiver, free_ports,  # noqa
                          run_postern, wait_for)

SERVICES = """\
# written by test_content_checks.py
smtp         inet  $inet_interfaces:$smtp_port            none  1  postern-smtpd
lmtp-unix    unix  $lmtp_socket                           none  1  postern-lmtpd
queue        unix  $queue_socket                          none  1  postern-queued
"""

PASSWORD = "correct horse battery"
KINDS = {"hc": "header_checks", "mh": "mime_header_checks",
         "nh": "nested_header_checks", "bc": "body_checks"}
ACTIONS = {
    "reject": "REJECT {p} says no",
    "defer": "REJECT 4.7.1 {p} try later",
    "warn": "WARN {p} watch this",
    "info": "INFO {p} noted",
    "ignore": "IGNORE",
    "hold": "HOLD {p} held",
    "discard": "DISCARD {p} dropped",
    "filter": "FILTER smtp:[127.0.0.1]:{fport}",
    "prepend": "PREPEND {prepend}",
    "replace": "REPLACE {replace}",
    "redirect": "REDIRECT carol@d.test",
    "dunno": "DUNNO",
}


def table(p, fport):
    """The pcre table of kind p: /KEY p-ACTION / ACTION, first match;
    FILTER sends to 127.0.0.1:fport."""
    hdr = {"hc": "Subject", "mh": "Content-Description",
           "nh": "Subject", "bc": None}[p]
    lines = []
    for act, result in ACTIONS.items():
        key = ("^%s: %s-%s " % (hdr, p, act)) if hdr else \
              ("^%s-%s " % (p, act))
        prepend = ("X-Prepended: by-%s" % p) if hdr else "prepended by-bc"
        replace = ("%s: replaced-by-%s" % (hdr, p)) if hdr else \
            "replaced by-bc"
        lines.append("/%s/ %s" % (key, result.format(
            p=p, prepend=prepend, replace=replace, fport=fport)))
    if p == "hc":
        # Only the first match counts: the WARN wins over the IGNORE.
        lines.insert(0, "/^Subject: hc-first /  WARN first rule")
        lines.append("/^Subject: hc-first /  IGNORE")
        # Multi-line fields are joined (line ends out) before matching.
        lines.append("/^X-Multi: one\\s+two$/  REPLACE X-Multi: joined")
    return "\n".join(lines) + "\n"


def message(p, act, tok, filler=""):
    """A message that carries p-act where table kind p looks."""
    body_tok = "token %s\r\n" % tok
    if p == "hc":
        return ("From: s@x.test\r\nTo: alice@d.test\r\n"
                "Subject: hc-%s %s\r\n\r\n%s" % (act, tok, body_tok))
    if p == "bc":
        return ("From: s@x.test\r\nSubject: body %s\r\n\r\n%s"
                "before\r\n%sbc-%s %s\r\nafter\r\n" % (tok, body_tok, filler,
                                                     act, tok))
    if p == "mh":
        part = ("Content-Type: text/plain\r\n"
                "Content-Description: mh-%s %s\r\n\r\npart %s\r\n"
                % (act, tok, tok))
    else:
        part = ("Content-Type: message/rfc822\r\n\r\n"
                "From: inner@x.test\r\nSubject: nh-%s %s\r\n\r\n"
                "inner body %s\r\n" % (act, tok, tok))
    return ("From: s@x.test\r\nSubject: mime %s\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
            "preamble\r\n--BB\r\nContent-Type: text/plain\r\n\r\n%s"
            "--BB\r\n%s--BB--\r\nepilogue\r\n" % (tok, body_tok, part))


class ContentChecks(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-content.")
        settings = cls.pick_ports()
        cls.fport = free_ports(1)[0]  # FILTER's next hop
        for p, param in KINDS.items():
            path = os.path.join(cls.dir, param)
            with open(path, "w") as f:
                f.write(table(p, cls.fport))
            # regexp: is read as pcre: (shown on the nested table).
            settings.append("%s=%s:%s" % (
                param, "regexp" if p == "nh" else "pcre", path))
        settings += ["stop_timeout=5s", "myhostname=mail.d.test",
                     "body_checks_size_limit=4096"]
        run_postern(cls.dir, "config", "set", *settings)
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        run_postern(cls.dir, "domain", "add", "d.test")
        for m in ("alice", "carol"):
            run_postern(cls.dir, "mailbox", "add", m + "@d.test",
                        "--password-stdin", stdin=PASSWORD + "\n")
        run_postern(cls.dir, "start")
        cls.started = True

    # ---- helpers

    def wait_log(self, text):
        wait_for(lambda: text in self.log(), 10,
                 "log line %r\n%s" % (text, self.log()[-2000:]))

    def find(self, user, tok):
        # new/ and cur/ only: a file in tmp/ is renamed away while
        # delivery finishes (and may vanish between glob and open).
        for sub in ("new", "cur"):
            for fn in glob.glob(os.path.join(self.dir, "mail", "d.test",
                                             user, sub, "*")):
                try:
                    with open(fn, "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    continue  # moved from new/ to cur/ meanwhile
                if tok.encode() in data:
                    return data.replace(b"\r\n", b"\n").decode()
        return None

    def delivered(self, tok, user="alice"):
        return wait_for(lambda: self.find(user, tok), 20,
                        "mail for %s with %s\n%s" % (user, tok,
                                                     self.log()[-3000:]))

    def send(self, p, act, filler=""):
        """(token, (code, text)) of sending kind p's act message."""
        tok = uuid.uuid4().hex
        s = smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=20)
        try:
            s.ehlo("client.test")
            self.assertEqual(s.mail("s@x.test")[0], 250)
            self.assertEqual(s.rcpt("alice@d.test")[0], 250)
            code, text = s.data(message(p, act, tok, filler).encode())
        finally:
            s.quit()
        return tok, (code, text.decode())

    def sent(self, p, act):
        tok, (code, text) = self.send(p, act)
        self.assertEqual(code, 250, text)
        return tok, text

    def absent(self, tok, user="alice"):
        """A control message sent after tok's is delivered; tok's not."""
        ctl, _ = self.sent("hc", "none")
        self.delivered(ctl)
        time.sleep(0.5)
        self.assertIsNone(self.find(user, tok))

    # ---- one test per action, over every table kind

    def test_reject(self):
        for p in KINDS:
            with self.subTest(p):
                tok, (code, text) = self.send(p, "reject")
                self.assertEqual((code, text), (550, "5.7.1 %s says no" % p))
                self.absent(tok)
                self.wait_log("reject: %s " % ("body" if p == "bc"
                                                else "header"))

    def test_reject_4xx(self):
        for p in KINDS:
            with self.subTest(p):
                tok, (code, text) = self.send(p, "defer")
                self.assertEqual((code, text), (451, "4.7.1 %s try later" % p))
                self.absent(tok)

    def test_warn_info(self):
        for p in KINDS:
            for act in ("warn", "info"):
                with self.subTest((p, act)):
                    tok, _ = self.sent(p, act)
                    self.assertIn("%s-%s %s" % (p, act, tok),
                                  self.delivered(tok))
                    what = "body" if p == "bc" else "header"
                    self.wait_log("%s: %s " % (act, what))
                    line = [x for x in self.log().splitlines()
                            if tok in x and (" %s: " % act) in x]
                    self.assertTrue(line, tok)
                    self.assertIn("from=<s@x.test> to=<alice@d.test>",
                                  line[0])

    def test_ignore(self):
        for p in KINDS:
            with self.subTest(p):
                tok, _ = self.sent(p, "ignore")
                msg = self.delivered(tok)
                self.assertNotIn("%s-ignore" % p, msg)
                # Only that field or line went.
                self.assertIn("token " + tok, msg)

    def test_hold(self):
        for p in KINDS:
            with self.subTest(p):
                tok, text = self.sent(p, "hold")
                qid = re.match(r"2\.0\.0 Ok: queued as (\S+)$", text).group(1)
                out = wait_for(lambda: re.search(
                    r"(?m)^%s\s*!" % qid,
                    run_postern(self.dir, "queue", "list").stdout), 10,
                    "held " + qid)
                self.assertTrue(out)
                self.absent(tok)
                run_postern(self.dir, "queue", "delete", qid)

    def test_discard(self):
        for p in KINDS:
            with self.subTest(p):
                tok, text = self.sent(p, "discard")
                self.assertRegex(text, r"^2\.0\.0 Ok: queued as \S+$")
                self.absent(tok)
                self.assertNotIn(tok, run_postern(self.dir, "queue",
                                                  "list").stdout)
                self.wait_log("discard: from=<s@x.test>")

    def test_filter(self):
        # The whole message goes to the FILTER's next hop instead of
        # alice (docs/content-filter.md; that server does not reinject).
        nexthop = SmtpReceiver("127.0.0.1", self.fport)
        try:
            for p in KINDS:
                with self.subTest(p):
                    tok, _ = self.sent(p, "filter")
                    got = wait_for(lambda: [
                        m for m in nexthop.messages
                        if tok.encode() in m["data"]], 20,
                        "the filter's copy\n" + self.log()[-2000:])
                    self.assertEqual(got[0]["rcpts"], ["alice@d.test"])
                    self.absent(tok)
                    self.wait_log("filter: %s: smtp:[127.0.0.1]:%d"
                                  % (KINDS[p], self.fport))
                    self.assertTrue([x for x in self.log().splitlines()
                                     if tok in x and " filter: " in x])
        finally:
            nexthop.stop()

    def test_prepend(self):
        for p in KINDS:
            with self.subTest(p):
                tok, _ = self.sent(p, "prepend")
                msg = self.delivered(tok)
                if p == "bc":
                    want = "prepended by-bc\nbc-prepend %s\n" % tok
                elif p == "mh":
                    want = ("X-Prepended: by-mh\nContent-Description: "
                            "mh-prepend %s\n" % tok)
                else:
                    want = "X-Prepended: by-%s\nSubject: %s-prepend %s\n" % (
                        p, p, tok)
                self.assertIn(want, msg)

    def test_replace(self):
        for p in KINDS:
            with self.subTest(p):
                tok, _ = self.sent(p, "replace")
                msg = self.delivered(tok)
                self.assertNotIn("%s-replace" % p, msg)
                self.assertIn({"hc": "\nSubject: replaced-by-hc\n",
                               "mh": "\nContent-Description: replaced-by-mh\n",
                               "nh": "\nSubject: replaced-by-nh\n",
                               "bc": "\nreplaced by-bc\n"}[p], msg)

    def test_redirect(self):
        for p in KINDS:
            with self.subTest(p):
                tok, _ = self.sent(p, "redirect")
                self.delivered(tok, "carol")
                self.absent(tok, "alice")

    # ---- the rules around the actions

    def test_first_match_only(self):
        tok, _ = self.sent("hc", "first")
        self.assertIn("Subject: hc-first " + tok, self.delivered(tok))
        self.wait_log("warn: header Subject: hc-first %s" % tok)

    def test_multiline_joined(self):
        tok = uuid.uuid4().hex
        s = smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=20)
        try:
            s.sendmail("s@x.test", ["alice@d.test"],
                       "Subject: m %s\r\nX-Multi: one\r\n"
                       "\ttwo\r\n\r\nbody\r\n" % tok)
        finally:
            s.quit()
        msg = self.delivered(tok)
        self.assertIn("\nX-Multi: joined\n", msg)
        self.assertNotIn("two", msg)

    def test_tables_see_their_own_fields(self):
        # A Subject in a MIME part goes to mime_header_checks (no Subject
        # rule there); "hc-reject" in the body is no header.
        tok = uuid.uuid4().hex
        s = smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=20)
        try:
            s.sendmail("s@x.test", ["alice@d.test"],
                       "Subject: ok %s\r\nMIME-Version: 1.0\r\n"
                       "Content-Type: multipart/mixed; boundary=Q\r\n\r\n"
                       "--Q\r\nSubject: hc-reject x\r\n\r\n"
                       "Subject: hc-reject y\r\n--Q--\r\n" % tok)
        finally:
            s.quit()
        self.assertIn("Subject: hc-reject x", self.delivered(tok))

    def test_body_size_limit(self):
        # body_checks_size_limit = 4096: a line after it is not looked at.
        tok, (code, text) = self.send("bc", "reject",
                                      ("y" * 98 + "\r\n") * 50)
        self.assertEqual(code, 250, text)
        self.assertIn("bc-reject " + tok, self.delivered(tok))


if __name__ == "__main__":
    unittest.main()
