#!/usr/bin/env python3
"""Black-box test of writing mail in postern-webmail (docs/webmail.md
"Writing mail", docs/webmail-api.md): uploads, GET /api/compose (reply,
reply all, forward inline and as attachment, resuming a draft), drafts
and sending through the real queue.

A temp site (`postern init`, free loopback ports) runs postern-queued,
postern-lmtpd (delivery), postern-smtpd and postern-webmail.  A user logs
in over the API with its cookie and CSRF token; what she sends goes
through the queue socket and is delivered by LMTP into the other
mailboxes, where the test reads the Maildir files and decodes them with
Python's email package: headers, body and attachments must come back
byte for byte.  Programs come from $POSTERN_BUILD_DIR (default ./build);
POSTERN_KEEP=1 keeps the site folder.
"""
import base64
import email
import email.policy
import glob
import os
import secrets
import smtplib
import socket
import sqlite3
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import BUILD, SiteTestCase, run_postern  # noqa: E402
# The browser of test_webmail_api.py: one cookie, the CSRF token.
from test_webmail_api import Client, message  # noqa: E402

SERVICES = """\
# written by test_webmail_compose.py
queue        unix  $queue_socket                          none      1  postern-queued
lmtp-unix    unix  $lmtp_socket                           none      1  postern-lmtpd
smtp         inet  $inet_interfaces:$smtp_port            starttls  1  postern-smtpd
webmail      inet  $inet_interfaces:$webmail_port         none      1  postern-webmail
"""
PASSWORD = "webmail pw 1"
UPLOAD_LIMIT = 300000


def q(s):
    return urllib.parse.quote(s, safe="")


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def lf(s):
    return s.replace("\r\n", "\n")


class WebmailCompose(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        for prog in ("postern-webmail", "postern-queued", "postern-lmtpd",
                     "postern-smtpd"):
            if not os.access(os.path.join(BUILD, prog), os.X_OK):
                raise unittest.SkipTest("no " + prog)
        cls.make_site("postern-compose.")
        settings = cls.pick_ports()
        settings += ["stop_timeout=5s", "myhostname=wm.test",
                     "webmail_upload_limit=%d" % UPLOAD_LIMIT]
        run_postern(cls.dir, "config", "set", *settings)
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        cls.dom = "compose-%s.test" % secrets.token_hex(3)
        run_postern(cls.dir, "domain", "add", cls.dom)
        for name in ("alice", "bob", "carol", "dave", "erin"):
            run_postern(cls.dir, "mailbox", "add", "%s@%s" % (name, cls.dom),
                        "--password-stdin", stdin=PASSWORD + "\n")
        # A display name with non-ASCII: it goes into From, encoded.
        db = sqlite3.connect(os.path.join(cls.dir, "postern.db"))
        db.execute("UPDATE mailboxes SET name = ? WHERE address = ?",
                   ("Alice Ärger", "alice@" + cls.dom))
        db.commit()
        db.close()
        cls.mail = os.path.join(cls.dir, "mail", cls.dom)
        run_postern(cls.dir, "start")
        cls.started = True
        deadline = time.time() + 20
        sock = os.path.join(cls.dir, "run", "queue.sock")
        while True:
            try:
                socket.create_connection(
                    ("127.0.0.1", cls.ports["webmail"]), timeout=2).close()
                if not os.path.exists(sock):
                    raise OSError("no queue socket yet")
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)

    # ---- helpers

    def addr(self, name):
        return "%s@%s" % (name, self.dom)

    def client(self, name="alice"):
        c = Client(self.ports["webmail"])
        st, _, doc = c.login(self.addr(name), PASSWORD)
        self.assertEqual(st, 200, doc)
        return c

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.dir, "log", "postern.log"),
                      errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def files(self, who, folder=""):
        base = os.path.join(self.mail, who, "." + folder if folder else "")
        return sorted(glob.glob(os.path.join(base, "new", "*")) +
                      glob.glob(os.path.join(base, "cur", "*")))

    def wait_mail(self, who, subject, folder=""):
        """The delivered message of `who` with that subject (bytes)."""
        deadline = time.time() + 30
        while time.time() < deadline:
            for path in self.files(who, folder):
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    continue
                if parse(data)["subject"] == subject:
                    return path, data
            time.sleep(0.2)
        self.fail("no message %r for %s\n%s" % (subject, who,
                                                self.log_tail()))

    def deliver(self, who, msg):
        """Put a message into who's INBOX through the real MTA path."""
        with smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=30) as s:
            s.sendmail("someone@outside.test", [self.addr(who)], msg)

    def uid_of(self, c, folder, subject):
        deadline = time.time() + 30
        while time.time() < deadline:
            st, _, doc = c.get("/api/folders/%s/messages?limit=200" %
                               q(folder))
            self.assertEqual(st, 200, doc)
            for m in doc["items"]:
                if m["subject"] == subject:
                    return m
            time.sleep(0.2)
        self.fail("no %r in %s\n%s" % (subject, folder, self.log_tail()))

    def upload(self, c, data, filename, ctype):
        st, _, doc = c.request(
            "POST", "/api/uploads?filename=" + q(filename), body=data,
            ctype=ctype)
        self.assertEqual(st, 201, doc)
        self.assertEqual(doc["size"], len(data))
        return doc

    def send(self, c, body, status=200):
        st, _, doc = c.post("/api/send", body)
        self.assertEqual(st, status, (doc, self.log_tail()))
        return doc

    @staticmethod
    def read(path):
        with open(path, "rb") as f:
            return f.read()

    def keywords(self, who, folder, path):
        """Keyword names set on a Maildir file (dovecot-keywords)."""
        base = os.path.join(self.mail, who, "." + folder if folder else "")
        table = {}
        try:
            with open(os.path.join(base, "dovecot-keywords")) as f:
                for line in f:
                    n, name = line.split(None, 1)
                    table[chr(ord("a") + int(n))] = name.strip()
        except FileNotFoundError:
            pass
        flags = os.path.basename(path).split(":2,")[-1]
        return {table[ch] for ch in flags if ch in table}

    # ---- tests

    def test_send_to_local_mailbox(self):
        c = self.client("alice")
        data = bytes(range(256)) * 20 + secrets.token_bytes(3000)
        up = self.upload(c, data, "Bericht Ä 2026 – final.pdf",
                         "application/pdf")
        subject = "Grüße aus Köln – Test 😀 %s" % secrets.token_hex(3)
        text = ("Hallo Bob,\n\nÄpfel kosten 3 € das Kilo.\n"
                + "lang " * 60 + "\n.\nFrom here on\ntrailing blank \n")
        doc = self.send(c, {
            "to": ["Bob Bäcker <%s>" % self.addr("bob")],
            "cc": ['"Doe, Carol" <%s>' % self.addr("carol")],
            "bcc": [self.addr("dave")],
            "subject": subject, "text": text,
            "attachments": [up["id"]]})
        self.assertTrue(doc["queue_id"])
        self.assertIsInstance(doc["sent_uid"], int)

        for who in ("bob", "carol", "dave"):
            _, raw = self.wait_mail(who, subject)
            hdr = raw.split(b"\n\n", 1)[0]
            # Non-ASCII only as encoded words; no Bcc anywhere.
            self.assertTrue(all(b < 0x80 for b in hdr), hdr)
            self.assertNotIn(b"\nBcc:", hdr)
            if who != "dave":
                self.assertNotIn(self.addr("dave").encode(), raw)
            m = parse(raw)
            self.assertEqual(m["subject"], subject)
            self.assertEqual(m["from"].addresses[0].display_name,
                             "Alice Ärger")
            self.assertEqual(m["from"].addresses[0].addr_spec,
                             self.addr("alice"))
            self.assertEqual(m["to"].addresses[0].display_name, "Bob Bäcker")
            self.assertEqual(m["cc"].addresses[0].display_name, "Doe, Carol")
            self.assertIsNone(m["bcc"])
            self.assertTrue(m["message-id"].endswith("@%s>" % self.dom))
            self.assertEqual(lf(m.get_body(("plain",)).get_content()), text)
            atts = list(m.iter_attachments())
            self.assertEqual(len(atts), 1)
            self.assertEqual(atts[0].get_filename(),
                             "Bericht Ä 2026 – final.pdf")
            self.assertEqual(atts[0].get_content_type(), "application/pdf")
            self.assertEqual(atts[0].get_payload(decode=True), data)
        # dave got it as Bcc: in his envelope only.
        _, raw = self.wait_mail("dave", subject)
        self.assertIn(b"Delivered-To: " + self.addr("dave").encode(), raw)

        # The Sent copy: stored, \Seen, with the Bcc for the sender.
        sent = self.uid_of(c, "Sent", subject)
        self.assertEqual(sent["uid"], doc["sent_uid"])
        self.assertTrue(sent["seen"])
        st, _, rawsent = c.get("/api/folders/Sent/messages/%d/raw" %
                               sent["uid"])
        self.assertEqual(st, 200)
        self.assertEqual(parse(rawsent)["bcc"].addresses[0].addr_spec,
                         self.addr("dave"))
        # The upload was used up.
        st, _, _ = c.request("DELETE", "/api/uploads/" + up["id"])
        self.assertEqual(st, 404)

    def test_reply_and_reply_all(self):
        tag = secrets.token_hex(3)
        mid = "<orig-%s@outside.test>" % tag
        self.deliver("alice", message(
            "Question %s" % tag, sender="Bob <%s>" % self.addr("bob"),
            to="%s, Carol <%s>" % (self.addr("alice"), self.addr("carol")),
            msgid=mid, refs="<older-%s@outside.test>" % tag,
            body="first line\nsecond line\n",
            extra="Cc: Erin <%s>" % self.addr("erin")))
        c = self.client("alice")
        orig = self.uid_of(c, "INBOX", "Question %s" % tag)

        st, _, comp = c.get("/api/compose?folder=INBOX&uid=%d&mode=reply" %
                            orig["uid"])
        self.assertEqual(st, 200, comp)
        self.assertEqual(comp["to"], ["Bob <%s>" % self.addr("bob")])
        self.assertEqual(comp["cc"], [])
        self.assertEqual(comp["subject"], "Re: Question %s" % tag)
        self.assertIn("wrote:\n> first line\n> second line", comp["text"])
        self.assertEqual(comp["in_reply_to"], mid)
        self.assertEqual(comp["references"],
                         "<older-%s@outside.test> %s" % (tag, mid))

        st, _, allc = c.get("/api/compose?folder=INBOX&uid=%d&mode=all" %
                            orig["uid"])
        self.assertEqual(st, 200, allc)
        self.assertEqual(allc["to"], ["Bob <%s>" % self.addr("bob"),
                                      "Carol <%s>" % self.addr("carol")])
        self.assertEqual(allc["cc"], ["Erin <%s>" % self.addr("erin")])
        self.assertEqual(allc["subject"], "Re: Question %s" % tag)

        self.send(c, {"to": comp["to"], "subject": comp["subject"],
                      "text": "my answer" + comp["text"],
                      "in_reply_to": comp["reply"]})
        _, raw = self.wait_mail("bob", "Re: Question %s" % tag)
        m = parse(raw)
        self.assertEqual(m["in-reply-to"], mid)
        self.assertEqual(m["references"].split(),
                         ["<older-%s@outside.test>" % tag, mid])
        self.assertIn("> second line", m.get_body(("plain",)).get_content())
        # The original is \Answered now.
        st, _, doc = c.get("/api/folders/INBOX/messages/%d?mark_seen=0" %
                           orig["uid"])
        self.assertEqual(st, 200, doc)
        self.assertTrue(doc["answered"])

    def test_html_and_reply_to_own(self):
        c = self.client("alice")
        tag = secrets.token_hex(3)
        html = "<p>Hallo <b>W\u00e4lt</b> \u20ac</p>"
        self.send(c, {"to": [self.addr("erin")], "subject": "Html %s" % tag,
                      "text": "Hallo W\u00e4lt \u20ac", "html": html})
        _, raw = self.wait_mail("erin", "Html %s" % tag)
        m = parse(raw)
        self.assertEqual(m.get_content_type(), "multipart/alternative")
        self.assertEqual(lf(m.get_body(("html",)).get_content()), html)
        self.assertEqual(lf(m.get_body(("plain",)).get_content()),
                         "Hallo W\u00e4lt \u20ac")
        # Replying to one's own sent message goes to its recipients.
        sent = self.uid_of(c, "Sent", "Html %s" % tag)
        st, _, comp = c.get("/api/compose?folder=Sent&uid=%d&mode=reply" %
                            sent["uid"])
        self.assertEqual(st, 200, comp)
        self.assertEqual(comp["to"], [self.addr("erin")])

    def test_forward_inline_and_as_attachment(self):
        tag = secrets.token_hex(3)
        pdf = secrets.token_bytes(2000)
        body = ("--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                "see the file\r\n"
                "--b1\r\nContent-Type: application/octet-stream; "
                "name=\"data.bin\"\r\nContent-Disposition: attachment; "
                "filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64"
                "\r\n\r\n" + base64.encodebytes(pdf).decode().replace(
                    "\n", "\r\n") + "--b1--\r\n")
        self.deliver("alice", message(
            "Report %s" % tag, sender="Erin <%s>" % self.addr("erin"),
            to=self.addr("alice"), body=body,
            extra='MIME-Version: 1.0\r\nContent-Type: multipart/mixed; '
                  'boundary="b1"'))
        c = self.client("alice")
        orig = self.uid_of(c, "INBOX", "Report %s" % tag)

        st, _, comp = c.get("/api/compose?folder=INBOX&uid=%d&mode=forward" %
                            orig["uid"])
        self.assertEqual(st, 200, comp)
        self.assertEqual(comp["subject"], "Fwd: Report %s" % tag)
        self.assertIn("-------- Forwarded Message --------", comp["text"])
        self.assertIn("From: Erin <%s>" % self.addr("erin"), comp["text"])
        self.assertIn("see the file", comp["text"])
        self.assertEqual([a["filename"] for a in comp["attachments"]],
                         ["data.bin"])
        self.assertEqual(comp["forward"]["mode"], "inline")
        self.send(c, {"to": [self.addr("bob")], "subject": comp["subject"],
                      "text": comp["text"], "forward": comp["forward"],
                      "attachments": [a["id"] for a in comp["attachments"]]})
        _, raw = self.wait_mail("bob", "Fwd: Report %s" % tag)
        atts = list(parse(raw).iter_attachments())
        self.assertEqual(atts[0].get_filename(), "data.bin")
        self.assertEqual(atts[0].get_payload(decode=True), pdf)

        st, _, comp = c.get("/api/compose?folder=INBOX&uid=%d&mode=forward"
                            "&as=attachment" % orig["uid"])
        self.assertEqual(st, 200, comp)
        self.assertEqual(len(comp["attachments"]), 1)
        self.assertEqual(comp["attachments"][0]["content_type"],
                         "message/rfc822")
        self.send(c, {"to": [self.addr("carol")], "subject": comp["subject"],
                      "text": "as attachment", "forward": comp["forward"],
                      "attachments": [comp["attachments"][0]["id"]]})
        _, raw = self.wait_mail("carol", "Fwd: Report %s" % tag)
        m = parse(raw)
        inner = [p for p in m.walk()
                 if p.get_content_type() == "message/rfc822"]
        self.assertEqual(len(inner), 1)
        enc = inner[0].get_payload()[0]
        self.assertEqual(enc["subject"], "Report %s" % tag)
        iatts = list(enc.iter_attachments())
        self.assertEqual(iatts[0].get_payload(decode=True), pdf)
        # The original carries $Forwarded.
        path = [p for p in self.files("alice")
                if b"Report " + tag.encode() in self.read(p)]
        self.assertEqual(len(path), 1)
        self.assertIn("$Forwarded", self.keywords("alice", "", path[0]))

    def test_drafts(self):
        c = self.client("alice")
        tag = secrets.token_hex(3)
        # A draft of a reply to a message in a folder with a blank in
        # its name.
        st, _, doc = c.post("/api/folders", {"name": "Old Stuff %s" % tag})
        self.assertEqual(st, 201, doc)
        fid = doc["id"]
        mid = "<drafted-%s@outside.test>" % tag
        self.deliver("alice", message("To answer %s" % tag, msgid=mid,
                                      sender=self.addr("bob")))
        orig = self.uid_of(c, "INBOX", "To answer %s" % tag)
        st, _, doc = c.post("/api/actions", {
            "folder": "INBOX", "uids": [orig["uid"]], "action": "move",
            "target": fid})
        self.assertEqual(st, 200, doc)
        ouid = int(doc["uids"][str(orig["uid"])])
        up = self.upload(c, b"draft file \x00\x01", "notiz.txt", "text/plain")
        st, _, d1 = c.post("/api/drafts", {
            "to": ["Bob <%s>" % self.addr("bob")],
            "bcc": ["Dave <%s>" % self.addr("dave")],
            "subject": "Draft ✍ %s" % tag, "text": "first version\n",
            "in_reply_to": {"folder": fid, "uid": ouid},
            "attachments": [up["id"]]})
        self.assertEqual(st, 201, d1)
        self.assertEqual(d1["folder"], "Drafts")
        m = self.uid_of(c, "Drafts", "Draft ✍ %s" % tag)
        self.assertTrue(m["draft"])
        self.assertEqual(m["uid"], d1["uid"])

        # Resumed: the same fields, the attachment as a new upload.
        st, _, comp = c.get("/api/compose?folder=Drafts&uid=%d&mode=draft" %
                            d1["uid"])
        self.assertEqual(st, 200, comp)
        self.assertEqual(comp["to"], ["Bob <%s>" % self.addr("bob")])
        self.assertEqual(comp["bcc"], ["Dave <%s>" % self.addr("dave")])
        self.assertEqual(comp["subject"], "Draft ✍ %s" % tag)
        self.assertEqual(lf(comp["text"]), "first version\n")
        self.assertEqual(comp["draft_uid"], d1["uid"])
        self.assertEqual(comp["reply"], {"folder": fid, "uid": ouid})
        self.assertIsNone(comp["forward"])
        self.assertEqual([(a["filename"], a["size"])
                          for a in comp["attachments"]],
                         [("notiz.txt", 13)])

        # Replaced: a new UID, the old one gone.
        st, _, d2 = c.post("/api/drafts", {
            "to": comp["to"], "bcc": comp["bcc"], "subject": comp["subject"],
            "text": "second version\n", "draft_uid": d1["uid"],
            "in_reply_to": comp["reply"],
            "attachments": [a["id"] for a in comp["attachments"]]})
        self.assertEqual(st, 201, d2)
        self.assertNotEqual(d2["uid"], d1["uid"])
        st, _, _ = c.get("/api/folders/Drafts/messages/%d" % d1["uid"])
        self.assertEqual(st, 404)
        st, _, raw = c.get("/api/folders/Drafts/messages/%d/raw" % d2["uid"])
        self.assertEqual(st, 200)
        dm = parse(raw)
        self.assertEqual(dm["in-reply-to"], mid)
        self.assertEqual(lf(dm.get_body(("plain",)).get_content()),
                         "second version\n")
        self.assertEqual(list(dm.iter_attachments())[0]
                         .get_payload(decode=True), b"draft file \x00\x01")

        # Sent from the draft: delivered (Bcc too), the draft removed.
        st, _, comp = c.get("/api/compose?folder=Drafts&uid=%d&mode=draft" %
                            d2["uid"])
        self.assertEqual(comp["reply"], {"folder": fid, "uid": ouid})
        self.send(c, {"to": comp["to"], "bcc": comp["bcc"],
                      "subject": comp["subject"], "text": comp["text"],
                      "draft_uid": d2["uid"], "in_reply_to": comp["reply"],
                      "attachments": [a["id"] for a in comp["attachments"]]})
        _, raw = self.wait_mail("dave", "Draft ✍ %s" % tag)
        self.assertIsNone(parse(raw)["bcc"])
        self.assertEqual(parse(raw)["in-reply-to"], mid)
        self.assertNotIn(b"X-Postern", raw)
        st, _, _ = c.get("/api/folders/Drafts/messages/%d" % d2["uid"])
        self.assertEqual(st, 404)
        st, _, doc = c.get("/api/folders/%s/messages/%d?mark_seen=0" %
                           (q(fid), ouid))
        self.assertEqual(st, 200, doc)
        self.assertTrue(doc["answered"])

    def test_upload_limit_and_delete(self):
        c = self.client("alice")
        st, _, doc = c.request("POST", "/api/uploads?filename=big.bin",
                               body=b"x" * (UPLOAD_LIMIT + 1),
                               ctype="application/octet-stream")
        self.assertEqual(st, 413, doc)
        self.assertEqual(doc["error"]["code"], "too_large")
        up = self.upload(c, b"y" * UPLOAD_LIMIT, "../../etc/passwd",
                         "text/plain; charset=us-ascii")
        self.assertEqual(up["filename"], "passwd")
        self.assertEqual(up["content_type"], "text/plain")
        # Another user cannot use or delete it.
        other = self.client("bob")
        st, _, doc = other.request("DELETE", "/api/uploads/" + up["id"])
        self.assertEqual(st, 404)
        doc = self.send(other, {"to": [self.addr("alice")], "subject": "x",
                                "attachments": [up["id"]]}, status=422)
        self.assertEqual(doc["error"]["field"], "attachments")
        st, _, _ = c.request("DELETE", "/api/uploads/" + up["id"])
        self.assertEqual(st, 204)
        st, _, _ = c.request("DELETE", "/api/uploads/" + up["id"])
        self.assertEqual(st, 404)

    def test_invalid_addresses(self):
        c = self.client("alice")
        for field in ("to", "cc", "bcc"):
            body = {"to": [self.addr("bob")], "subject": "bad"}
            body[field] = ["Bob <not an address>"]
            doc = self.send(c, body, status=422)
            self.assertEqual(doc["error"]["code"], "invalid")
            self.assertEqual(doc["error"]["field"], field)
        doc = self.send(c, {"to": [], "subject": "nobody"}, status=422)
        self.assertEqual(doc["error"]["field"], "to")
        # An unknown user of a hosted domain: refused like RCPT TO.
        doc = self.send(c, {"to": ["nobody@" + self.dom]}, status=422)
        self.assertEqual(doc["error"]["field"], "to")

    def test_csrf_required(self):
        c = self.client("alice")
        for path, body in (("/api/send", {"to": [self.addr("bob")]}),
                           ("/api/drafts", {"subject": "x"}),
                           ("/api/uploads?filename=a", b"data")):
            st, _, doc = c.request("POST", path, body=body, csrf=False)
            self.assertEqual(st, 403, (path, doc))
            self.assertEqual(doc["error"]["code"], "csrf")
        st, _, doc = c.request("POST", "/api/send",
                               body={"to": [self.addr("bob")]},
                               headers={"X-CSRF-Token": "0" * 43},
                               csrf=False)
        self.assertEqual(st, 403)


if __name__ == "__main__":
    unittest.main(verbosity=2)
