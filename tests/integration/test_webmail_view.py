#!/usr/bin/env python3
"""The webmail's message view, parts, raw source, image proxy and search
(webmail/wm-view.c, wm-search.c, wm-mime.c), black-box.

A site with smtpd, queued, lmtpd, imapd and postern-webmail; messages
are delivered over SMTP (plain text; HTML with an inline cid: image, a
remote image, a script and a link; attachments including an HTML one;
ISO-8859-1 with an RFC 2047 subject; a forwarded message/rfc822), then
read through the HTTP API with a logged-in session (cookie + CSRF):

  - the message JSON (decoded headers, text, has_html, remote_images,
    attachments with IMAP part numbers, \\Seen set unless mark_seen=0);
  - the /html document: no script, no remote image unless images=1, and
    then only through /api/proxy; cid: images point to the parts URL;
    the iframe CSP;
  - the image proxy against a loopback HTTP server run by this test: a
    good signature fetches (no cookie or referrer sent upstream), a bad
    one is 403, a non-image answer 415;
  - parts: Content-Disposition attachment with RFC 6266 filename*,
    inline only for images, text/html served as application/octet-stream,
    nosniff, the parts CSP; bytes equal the decoded attachment;
  - raw: byte-equal to the Maildir file, and ends with what was sent;
  - search by from, subject, body, q and date range (INTERNALDATEs set
    through IMAP APPEND) in one folder and across folders;
  - user B cannot reach user A's mail by folder ids like ../, encoded
    separators, absolute paths or other users' paths, nor by search.

Programs come from $POSTERN_BUILD_DIR (default ./build).
"""
import base64
import email
import glob
import http.client
import http.server
import imaplib
import json
import os
import re
import smtplib
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (BUILD, SiteTestCase,  # noqa: E402
                          run_postern)

SERVICES = """\
# written by test_webmail_view.py
smtp         inet  $inet_interfaces:$smtp_port            none      1  postern-smtpd
lmtp-unix    unix  $lmtp_socket                           none      1  postern-lmtpd
queue        unix  $queue_socket                          none      1  postern-queued
imap         inet  $inet_interfaces:$imap_port            none      1  postern-imapd
webmail      inet  $inet_interfaces:$webmail_port         none      1  postern-webmail
"""

PASSWORD = "correct horse battery"
HTML_CSP = ("default-src 'none'; img-src 'self' data:; "
            "style-src 'unsafe-inline'; sandbox allow-popups "
            "allow-popups-to-escape-sandbox allow-same-origin")
# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg==")
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def b64(data):
    return base64.encodebytes(data).decode().replace("\n", "\r\n")


def messages(img_port):
    """The test messages (name -> bytes, CRLF), as a client sends them."""
    remote = "http://127.0.0.1:%d" % img_port
    m = {}
    m["plain"] = (
        "From: Carol Sender <carol@sender.test>\r\n"
        "To: Alice <alice@{dom}>\r\n"
        "Subject: Plain lunch plans\r\n"
        "Date: Tue, 03 Nov 2026 10:00:00 +0000\r\n"
        "Message-ID: <plain-1@sender.test>\r\n"
        "References: <a@x.test> <b@x.test>\r\n"
        "\r\n"
        "Hello Alice,\r\nlunch tomorrow at noon? zebracorn\r\n")
    m["html"] = (
        "From: News Letter <news@letter.test>\r\n"
        "To: alice@{dom}\r\n"
        "Subject: Weekly newsletter\r\n"
        "Message-ID: <html-1@letter.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/related; boundary=\"REL\"\r\n"
        "\r\n"
        "--REL\r\n"
        "Content-Type: multipart/alternative; boundary=\"ALT\"\r\n"
        "\r\n"
        "--ALT\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "The plain version of the newsletter.\r\n"
        "--ALT\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        "\r\n"
        "<html><head><script>alert('head')</script></head><body>\r\n"
        "<h1 onclick=\"alert(1)\">Big news</h1>\r\n"
        "<img src=\"cid:logo@letter.test\" alt=\"logo\">\r\n"
        "<img src=\"" + remote + "/pic.png\" alt=\"tracker\">\r\n"
        "<img src=\"" + remote + "/page.html\" alt=\"notimage\">\r\n"
        "<img src=\"" + remote + "/huge.png\" alt=\"huge\">\r\n"
        "<img src=\"" + remote + "/slow.png\" alt=\"slow\">\r\n"
        "<script>window.top.pwned = 1</script>\r\n"
        "<a href=\"https://example.org/read\">read more</a>\r\n"
        "<a href=\"javascript:alert(2)\">bad link</a>\r\n"
        "</body></html>\r\n"
        "--ALT--\r\n"
        "--REL\r\n"
        "Content-Type: image/png\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-ID: <logo@letter.test>\r\n"
        "\r\n" + b64(PNG) +
        "--REL--\r\n")
    m["attach"] = (
        "From: Dave <dave@sender.test>\r\n"
        "To: alice@{dom}\r\n"
        "Subject: Quarterly report\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"MIX\"\r\n"
        "\r\n"
        "--MIX\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "The report is attached.\r\n"
        "--MIX\r\n"
        "Content-Type: application/pdf; name=\"report.pdf\"\r\n"
        "Content-Disposition: attachment;\r\n"
        " filename*=UTF-8''r%C3%A9port%20Q3.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n" + b64(PDF) +
        "--MIX\r\n"
        "Content-Type: text/html; charset=utf-8; name=\"evil.html\"\r\n"
        "Content-Disposition: attachment; filename=\"evil.html\"\r\n"
        "\r\n"
        "<script>alert(document.cookie)</script>\r\n"
        "--MIX\r\n"
        "Content-Type: image/png; name=\"photo.png\"\r\n"
        "Content-Disposition: attachment; filename=\"../../photo.png\"\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n" + b64(PNG) +
        "--MIX--\r\n")
    m["latin1"] = (
        "From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <juergen@sender.test>\r\n"
        "To: alice@{dom}\r\n"
        "Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_M=FCnchen?=\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=ISO-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "Sch=F6ne Gr=FC=DFe, bis bald!\r\n")
    m["fwd"] = (
        "From: Erin <erin@sender.test>\r\n"
        "To: alice@{dom}\r\n"
        "Subject: Fwd: the original\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"FWD\"\r\n"
        "\r\n"
        "--FWD\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "See the forwarded message.\r\n"
        "--FWD\r\n"
        "Content-Type: message/rfc822\r\n"
        "\r\n"
        "From: Frank <frank@inner.test>\r\n"
        "Subject: The inner message\r\n"
        "\r\n"
        "Inner body text.\r\n"
        "--FWD--\r\n")
    return m


class ImageServer(http.server.ThreadingHTTPServer):
    """A loopback HTTP server the proxy fetches from; keeps the request
    headers it saw."""

    def __init__(self):
        self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(h):
                self.seen.append((h.path, dict(h.headers)))
                if h.path == "/pic.png":
                    body, ctype = PNG, "image/png"
                elif h.path == "/page.html":
                    body, ctype = b"<script>x</script>", "text/html"
                elif h.path == "/slow.png":
                    time.sleep(3)
                    body, ctype = PNG, "image/png"
                elif h.path == "/huge.png":
                    body, ctype = b"\0" * (6 * 1024 * 1024), "image/png"
                else:
                    h.send_error(404)
                    return
                h.send_response(200)
                h.send_header("Content-Type", ctype)
                h.send_header("Content-Length", str(len(body)))
                h.send_header("Set-Cookie", "tracker=1")
                h.end_headers()
                try:
                    h.wfile.write(body)
                except OSError:
                    pass  # the proxy gave up (the 5 MB limit)

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Web:
    """A logged-in webmail session."""

    def __init__(self, port, address):
        self.port = port
        st, hdrs, body = self.request(
            "POST", "/api/login",
            json.dumps({"address": address, "password": PASSWORD}),
            {"Content-Type": "application/json"}, auth=False)
        assert st == 200, (st, body)
        cookie = hdrs.get("set-cookie", "")
        m = re.search(r"postern_session=([^;]+)", cookie)
        assert m, hdrs
        self.cookie = m.group(1)
        self.csrf = json.loads(body)["csrf"]

    def request(self, method, path, body=None, headers=None, auth=True):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if auth:
            h["Cookie"] = "postern_session=" + self.cookie
            h["X-CSRF-Token"] = self.csrf
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, hdrs, data

    def get(self, path):
        return self.request("GET", path)

    def json(self, path):
        st, hdrs, body = self.get(path)
        return st, json.loads(body) if body else None


def q(folder):
    return urllib.parse.quote(folder, safe="")


class Site(SiteTestCase):
    """The site and its helpers; the test classes below add the tests."""

    PROXY_PRIVATE = True
    MIN_FREE = "0"

    @classmethod
    def set_up_site(cls):
        if not os.access(os.path.join(BUILD, "postern-webmail"), os.X_OK):
            raise unittest.SkipTest("no postern-webmail")
        cls.img = ImageServer()
        cls.make_site("postern-wmview.")
        settings = cls.pick_ports()
        settings += [
            "stop_timeout=5s",
            "myhostname=mx.test",
            "imapd_plaintext_loopback=yes",
            "webmail_image_proxy_private=%s"
            % ("yes" if cls.PROXY_PRIVATE else "no"),
            "full_text_min_free=" + cls.MIN_FREE,
            "debug_trace=" + os.environ.get("POSTERN_DEBUG_TRACE", ""),
        ]
        run_postern(cls.dir, "config", "set", *settings)
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        cls.dom = "example.test"
        run_postern(cls.dir, "domain", "add", cls.dom)
        run_postern(cls.dir, "domain", "add", "other.test")
        for m in ["alice@" + cls.dom, "bob@" + cls.dom,
                  "alice@other.test"]:
            run_postern(cls.dir, "mailbox", "add", m, "--password-stdin",
                        stdin=PASSWORD + "\n")
        run_postern(cls.dir, "start")
        cls.started = True
        cls.wait_port(cls.ports["smtp"])
        cls.wait_port(cls.ports["webmail"])
        cls.wait_port(cls.ports["imap"])

        cls.sent = {k: v.format(dom=cls.dom).encode("latin-1")
                    for k, v in messages(cls.img.port).items()}
        with smtplib.SMTP("127.0.0.1", cls.ports["smtp"], timeout=30) as s:
            for name, data in cls.sent.items():
                s.sendmail("sender@sender.test", ["alice@" + cls.dom],
                           data)
            s.sendmail("x@sender.test", ["bob@" + cls.dom],
                       b"From: x@sender.test\r\nSubject: Bob's own\r\n\r\n"
                       b"only for bob\r\n")
        cls.mail = os.path.join(cls.dir, "mail")
        cls.wait_delivered("example.test/alice", len(cls.sent))
        cls.wait_delivered("example.test/bob", 1)

        # UIDs by subject, and a folder with messages of known dates.
        cls.uids = {}
        im = cls.imap("alice@" + cls.dom)
        im.select("INBOX")
        for name, data in cls.sent.items():
            subj = email.message_from_bytes(data)["Subject"]
            typ, d = im.uid("SEARCH", "SUBJECT", name_key(name))
            found = d[0].split()
            assert len(found) == 1, (name, subj, d)
            cls.uids[name] = int(found[0])
        im.create("Projects")
        for day, subj in [("01-Mar-2024", "march report"),
                          ("15-Jun-2024", "june report"),
                          ("20-Dec-2025", "december report")]:
            msg = ("From: Gina <gina@sender.test>\r\nSubject: %s\r\n\r\n"
                   "Body of the %s.\r\n" % (subj, subj)).encode()
            im.append("Projects", None, '"%s 12:00:00 +0000"' % day, msg)
        im.logout()
        cls.alice = Web(cls.ports["webmail"], "alice@" + cls.dom)
        cls.bob = Web(cls.ports["webmail"], "bob@" + cls.dom)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.img.shutdown()
        cls.img.server_close()

    @classmethod
    def wait_port(cls, port):
        import socket
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 2).close()
                return
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)

    @classmethod
    def wait_delivered(cls, who, n):
        deadline = time.time() + 30
        while True:
            files = cls.files(who)
            if len(files) >= n:
                return
            if time.time() > deadline:
                raise AssertionError("%s: %d of %d delivered"
                                     % (who, len(files), n))
            time.sleep(0.2)

    @classmethod
    def files(cls, who, folder=""):
        base = os.path.join(cls.mail, who, folder)
        return (glob.glob(os.path.join(base, "new", "*")) +
                glob.glob(os.path.join(base, "cur", "*")))

    @classmethod
    def imap(cls, user):
        im = imaplib.IMAP4("127.0.0.1", cls.ports["imap"])
        im.login(user, PASSWORD)
        return im

    def msg(self, name, extra=""):
        st, m = self.alice.json("/api/folders/INBOX/messages/%d%s"
                                % (self.uids[name], extra))
        self.assertEqual(st, 200, m)
        return m

    def path(self, name, what=""):
        return "/api/folders/INBOX/messages/%d%s" % (self.uids[name], what)

    def flags(self, name):
        im = self.imap("alice@" + self.dom)
        im.select("INBOX", readonly=True)
        typ, d = im.uid("FETCH", str(self.uids[name]), "(FLAGS)")
        im.logout()
        return d[0].decode()

    def proxy_urls(self):
        st, h, body = self.alice.get(self.path("html", "/html?images=1"))
        self.assertEqual(st, 200)
        doc = body.decode()
        self.assertNotIn("<script", doc.lower())
        urls = [u.replace("&amp;", "&") for u in
                re.findall(r'src="(/api/proxy\?[^"]+)"', doc)]
        self.assertEqual(len(urls), 4, doc)
        self.assertNotIn('src="http', doc)
        return urls


class SearchTests:
    """Search, on a site whose index is complete and on one where it
    cannot be written (every message then matched from its file)."""

    def search(self, web, **params):
        st, r = web.json("/api/search?" + urllib.parse.urlencode(params))
        self.assertEqual(st, 200, r)
        return r

    def subjects(self, r):
        return [i["subject"] for i in r["items"]]

    def test_search_fields(self):
        r = self.search(self.alice, folder="INBOX", subject="lunch")
        self.assertEqual(self.subjects(r), ["Plain lunch plans"])
        self.assertEqual(r["total"], 1)
        item = r["items"][0]
        self.assertEqual(item["folder"], "INBOX")
        self.assertEqual(item["uid"], self.uids["plain"])
        for k in ["thread", "thread_count", "date", "from", "to", "size",
                  "seen", "flagged", "answered", "draft",
                  "has_attachments", "preview"]:
            self.assertIn(k, item)
        r = self.search(self.alice, folder="INBOX", **{"from": "juergen"})
        self.assertEqual(self.subjects(r), ["Grüße aus München"])
        r = self.search(self.alice, folder="INBOX", **{"from": "Müller"})
        self.assertEqual(self.subjects(r), ["Grüße aus München"])
        r = self.search(self.alice, body="zebracorn")
        self.assertEqual(self.subjects(r), ["Plain lunch plans"])
        r = self.search(self.alice, body="zebracorn", subject="report")
        self.assertEqual(r["total"], 0)
        r = self.search(self.alice, q="ostern")  # nothing
        self.assertEqual(r["total"], 0)
        r = self.search(self.alice, q="report gina")
        self.assertEqual(r["total"], 3)
        self.assertTrue(all(i["folder"] == "Projects" for i in r["items"]))
        r = self.search(self.alice, q="quarterly")
        self.assertEqual(self.subjects(r), ["Quarterly report"])

    def test_search_dates(self):
        r = self.search(self.alice, folder="Projects")
        self.assertEqual(self.subjects(r), ["december report",
                                            "june report", "march report"])
        r = self.search(self.alice, folder="Projects", since="2024-06-15")
        self.assertEqual(self.subjects(r), ["december report",
                                            "june report"])
        r = self.search(self.alice, folder="Projects", since="2024-01-01",
                        before="2024-06-15")
        self.assertEqual(self.subjects(r), ["march report"])
        r = self.search(self.alice, before="2025-01-01")
        self.assertEqual(self.subjects(r), ["june report", "march report"])
        r = self.search(self.alice, subject="report", since="2025-01-01")
        # Every folder: the INBOX's report (delivered now) and December's.
        self.assertEqual(self.subjects(r), ["Quarterly report",
                                            "december report"])
        st, r = self.alice.json("/api/search?since=2024-13-01")
        self.assertEqual(st, 422)

    def test_search_paging(self):
        r = self.search(self.alice, folder="Projects", limit=2)
        self.assertEqual(r["total"], 3)
        self.assertEqual(len(r["items"]), 2)
        r = self.search(self.alice, folder="Projects", limit=2, offset=2)
        self.assertEqual(self.subjects(r), ["march report"])


class Unindexed(Site, SearchTests):
    """The defaults of a real site: webmail_image_proxy_private=no, so a
    message cannot make the server reach its own network (loopback is
    refused before anything is sent); and a full-text index that the
    free-space guard keeps empty (full_text_min_free=100%), so every
    search reads the files (the same answers, not partial)."""

    PROXY_PRIVATE = False
    MIN_FREE = "100%"

    def test_index_empty(self):
        r = self.search(self.alice, q="report")
        self.assertFalse(r["partial"])
        self.assertEqual(len(r["items"]), 4)
        import sqlite3
        db = os.path.join(self.mail, "example.test", "alice",
                          "postern-fts.sqlite")
        if os.path.exists(db):
            c = sqlite3.connect(db)
            tables = [t for (t,) in c.execute(
                "SELECT name FROM sqlite_master "
                "WHERE sql LIKE 'CREATE VIRTUAL TABLE%'")]
            for t in tables:
                n = c.execute('SELECT count(*) FROM "%s"' % t).fetchone()[0]
                self.assertEqual(n, 0, t)
            c.close()

    def test_private_refused(self):
        good, notimage, huge, slow = self.proxy_urls()
        seen = len(self.img.seen)
        st, h, body = self.alice.get(good)
        self.assertEqual(st, 502, body)
        self.assertEqual(len(self.img.seen), seen)


class WebmailView(Site, SearchTests):
    # ---- the message JSON ----

    def test_plain_json(self):
        m = self.msg("plain", "?mark_seen=0")
        self.assertEqual(m["uid"], self.uids["plain"])
        self.assertEqual(m["folder"], "INBOX")
        self.assertEqual(m["subject"], "Plain lunch plans")
        self.assertEqual(m["from"], {"name": "Carol Sender",
                                     "address": "carol@sender.test"})
        self.assertEqual(m["to"], [{"name": "Alice",
                                    "address": "alice@" + self.dom}])
        self.assertEqual(m["cc"], [])
        self.assertEqual(m["date"], "2026-11-03T10:00:00Z")
        self.assertEqual(m["message_id"], "<plain-1@sender.test>")
        self.assertEqual(m["references"], ["<a@x.test>", "<b@x.test>"])
        self.assertIn("lunch tomorrow at noon?", m["text"])
        self.assertNotIn("\r", m["text"])
        self.assertFalse(m["has_html"])
        self.assertFalse(m["remote_images"])
        self.assertEqual(m["attachments"], [])
        self.assertFalse(m["has_attachments"])
        self.assertTrue(m["preview"].startswith("Hello Alice"))
        self.assertGreater(m["size"], len(self.sent["plain"]))
        for k in ["thread", "thread_count", "flagged", "answered", "draft"]:
            self.assertIn(k, m)

    def test_mark_seen(self):
        m = self.msg("latin1", "?mark_seen=0")
        self.assertFalse(m["seen"])
        self.assertNotIn("\\Seen", self.flags("latin1"))
        m = self.msg("latin1")
        self.assertTrue(m["seen"])
        self.assertIn("\\Seen", self.flags("latin1"))

    def test_latin1(self):
        m = self.msg("latin1", "?mark_seen=0")
        self.assertEqual(m["subject"], "Grüße aus München")
        self.assertEqual(m["from"]["name"], "Jürgen Müller")
        self.assertEqual(m["text"].strip(), "Schöne Grüße, bis bald!")

    def test_html_json(self):
        m = self.msg("html", "?mark_seen=0")
        self.assertTrue(m["has_html"])
        self.assertTrue(m["remote_images"])
        self.assertEqual(m["text"].strip(),
                         "The plain version of the newsletter.")
        self.assertEqual(len(m["attachments"]), 1, m["attachments"])
        a = m["attachments"][0]
        self.assertEqual(a["part"], "2")
        self.assertEqual(a["content_type"], "image/png")
        self.assertEqual(a["content_id"], "logo@letter.test")
        self.assertTrue(a["inline"])
        self.assertEqual(a["size"], len(PNG))
        self.assertFalse(m["has_attachments"])

    def test_attachments_json(self):
        m = self.msg("attach", "?mark_seen=0")
        self.assertEqual(m["text"].strip(), "The report is attached.")
        self.assertTrue(m["has_attachments"])
        atts = {a["part"]: a for a in m["attachments"]}
        self.assertEqual(sorted(atts), ["2", "3", "4"])
        self.assertEqual(atts["2"]["filename"], "réport Q3.pdf")
        self.assertEqual(atts["2"]["content_type"], "application/pdf")
        self.assertEqual(atts["2"]["size"], len(PDF))
        self.assertFalse(atts["2"]["inline"])
        self.assertIsNone(atts["2"]["content_id"])
        self.assertEqual(atts["3"]["filename"], "evil.html")
        self.assertEqual(atts["4"]["filename"], "photo.png")

    def test_rfc822_json(self):
        m = self.msg("fwd", "?mark_seen=0")
        self.assertEqual(m["text"].strip(), "See the forwarded message.")
        self.assertEqual(len(m["attachments"]), 1)
        a = m["attachments"][0]
        self.assertEqual(a["part"], "2")
        self.assertEqual(a["content_type"], "message/rfc822")
        self.assertTrue(a["filename"].endswith(".eml"))
        st, h, body = self.alice.get(self.path("fwd", "/parts/2"))
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "message/rfc822")
        self.assertTrue(body.startswith(b"From: Frank <frank@inner.test>"))
        self.assertIn(b"Inner body text.", body)

    # ---- /html ----

    def test_html_document(self):
        st, h, body = self.alice.get(self.path("html", "/html"))
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        self.assertEqual(h["content-security-policy"], HTML_CSP)
        self.assertEqual(h["x-content-type-options"], "nosniff")
        self.assertIn("private", h["cache-control"])
        doc = body.decode()
        self.assertTrue(doc.startswith("<!DOCTYPE html>"))
        self.assertIn('<meta charset="utf-8">', doc)
        self.assertIn('<base target="_blank">', doc)
        self.assertIn("Big news", doc)
        low = doc.lower()
        for bad in ["<script", "onclick", "alert(", "javascript:",
                    "127.0.0.1:%d" % self.img.port]:
            self.assertNotIn(bad, low)
        # The cid: image points at its part, the link is kept.
        self.assertIn('src="%s"' % self.path("html", "/parts/2?inline=1")
                      .replace("&", "&amp;"), doc)
        self.assertIn('href="https://example.org/read"', doc)
        self.assertNotIn("/api/proxy", doc)

    def test_proxy(self):
        good, notimage, huge, slow = self.proxy_urls()
        self.assertIn(urllib.parse.quote("/pic.png", safe=""), good)
        st, h, body = self.alice.get(good)
        self.assertEqual(st, 200, body)
        self.assertEqual(body, PNG)
        self.assertEqual(h["content-type"], "image/png")
        self.assertIn("private", h["cache-control"])
        self.assertNotIn("set-cookie", h)
        path, hdrs = [s for s in self.img.seen if s[0] == "/pic.png"][-1]
        lower = {k.lower() for k in hdrs}
        self.assertNotIn("cookie", lower)
        self.assertNotIn("referer", lower)
        # A non-image answer is refused.
        st, h, body = self.alice.get(notimage)
        self.assertEqual(st, 415, body)
        # Over 5 MB: refused.
        st, h, body = self.alice.get(huge)
        self.assertEqual(st, 502, body)
        # A bad or missing signature, another URL with a good one.
        sig = re.search(r"sig=([0-9a-f]{64})", good).group(1)
        bad = good.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
        self.assertEqual(self.alice.get(bad)[0], 403)
        self.assertEqual(self.alice.get(good.split("&sig=")[0])[0], 403)
        other = ("/api/proxy?url=" + urllib.parse.quote(
            "http://127.0.0.1:%d/huge.png" % self.img.port, safe="") +
            "&sig=" + sig)
        self.assertEqual(self.alice.get(other)[0], 403)
        # A slow image server holds up none of the session's other
        # requests (the proxy runs without the session's lock).
        got = {}
        th = threading.Thread(target=lambda: got.update(
            r=self.alice.get(slow)))

        def slow_seen():
            return sum(p == "/slow.png" for p, _ in list(self.img.seen))
        n = slow_seen()
        t0 = time.time()
        th.start()
        # The image server holds the proxy 3 s from when it has the
        # request: wait for that (a loaded machine may take a while to
        # get there), then the other request must be answered before.
        deadline = time.time() + 10
        while slow_seen() == n:
            self.assertLess(time.time(), deadline, "no /slow.png request")
            time.sleep(0.01)
        t1 = time.time()
        st, m = self.alice.json(self.path("plain", "?mark_seen=0"))
        self.assertEqual(st, 200)
        self.assertLess(time.time() - t1, 2.5)
        th.join()
        self.assertEqual(got["r"][0], 200)
        self.assertEqual(got["r"][2], PNG)
        self.assertGreaterEqual(time.time() - t0, 3)
        # Without a session: no proxy.
        st, h, body = self.alice.request("GET", good, auth=False)
        self.assertEqual(st, 401)

    # ---- parts ----

    def test_part_attachment(self):
        st, h, body = self.alice.get(self.path("attach", "/parts/2"))
        self.assertEqual(st, 200)
        self.assertEqual(body, PDF)
        self.assertEqual(h["content-type"], "application/pdf")
        self.assertEqual(h["x-content-type-options"], "nosniff")
        self.assertEqual(h["content-security-policy"],
                         "default-src 'none'; sandbox")
        disp = h["content-disposition"]
        self.assertTrue(disp.startswith("attachment;"), disp)
        self.assertIn("filename*=UTF-8''r%C3%A9port%20Q3.pdf", disp)
        # inline=1 is only for images.
        st, h, body = self.alice.get(self.path("attach",
                                               "/parts/2?inline=1"))
        self.assertTrue(h["content-disposition"].startswith("attachment;"))

    def test_part_html_is_octet_stream(self):
        st, h, body = self.alice.get(self.path("attach", "/parts/3"))
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/octet-stream")
        self.assertTrue(h["content-disposition"].startswith("attachment;"))
        self.assertEqual(h["x-content-type-options"], "nosniff")
        self.assertIn(b"<script>", body)  # served as it is, never run

    def test_part_image(self):
        st, h, body = self.alice.get(self.path("attach", "/parts/4"))
        self.assertEqual(body, PNG)
        self.assertTrue(h["content-disposition"].startswith("attachment;"))
        self.assertIn('filename="photo.png"', h["content-disposition"])
        st, h, body = self.alice.get(self.path("attach",
                                               "/parts/4?inline=1"))
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "image/png")
        self.assertTrue(h["content-disposition"].startswith("inline;"))
        st, h, body = self.alice.get(self.path("html", "/parts/2?inline=1"))
        self.assertEqual(body, PNG)

    def test_part_text_decoded(self):
        st, h, body = self.alice.get(self.path("latin1", "/parts/1"))
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(body.decode().strip(), "Schöne Grüße, bis bald!")

    def test_part_missing(self):
        for spec in ["9", "0", "1.9", "2.2", "x", "1.", "-1", ".1",
                     "1%2F..", "99999999999", "2.MIME", "HEADER", "TEXT"]:
            st, h, body = self.alice.get(self.path("attach",
                                                   "/parts/" + spec))
            self.assertEqual(st, 404, spec)
        # A multipart is no downloadable part.
        self.assertEqual(self.alice.get(self.path("html", "/parts/1"))[0],
                         404)

    # ---- raw ----

    def test_raw(self):
        st, h, body = self.alice.get(self.path("attach", "/raw"))
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(h["x-content-type-options"], "nosniff")
        files = self.files("example.test/alice")
        on_disk = []
        for name in files:
            with open(name, "rb") as f:
                on_disk.append(f.read())
        self.assertIn(body, on_disk)
        self.assertTrue(body.endswith(
            self.sent["attach"].replace(b"\r\n", b"\n")))
        st, h, body = self.alice.get(self.path("latin1", "/raw"))
        self.assertIn(b"Sch=F6ne", body)  # bytes as they are

    def test_missing_message(self):
        for uid in ["999", "0", "-1", "abc", "1e3", "4294967296",
                    "%2e%2e", "1%2F..", "+1", "%201", "1%00"]:
            st, h, body = self.alice.get("/api/folders/INBOX/messages/"
                                         + uid)
            self.assertEqual(st, 404, uid)
        self.assertEqual(self.alice.get(
            "/api/folders/Nope/messages/1")[0], 404)

    # ---- one user, another user's mail ----

    TRICKS = ["../alice", "..", ".", "..%2Falice", "%2e%2e", "INBOX/..",
              "../../example.test/alice", "/etc", "%2Fetc%2Fpasswd",
              "../../other.test/alice/cur", ".Projects", "..Projects",
              "Projects/../..", "alice@example.test", "Projects%00",
              "../bob/../alice", "~alice", "INBOX.."]

    def test_cross_user(self):
        uid = self.uids["attach"]
        for f in self.TRICKS:
            for what in ["", "/html", "/raw", "/parts/2"]:
                st, h, body = self.bob.get("/api/folders/%s/messages/%d%s"
                                           % (f, uid, what))
                self.assertIn(st, (400, 404), (f, what, body[:200]))
                self.assertNotIn(b"Quarterly", body)
                self.assertNotIn(PDF, body)
            st, h, body = self.bob.get("/api/search?folder=" + f)
            # 404, or (a NUL cutting the value) Bob's own mail only.
            self.assertIn(st, (200, 400, 404), (f, body[:200]))
            if st == 200:
                self.assertEqual(self.subjects(json.loads(body)),
                                 ["Bob's own"], f)
        # Bob's INBOX UIDs are his own messages.
        st, m = self.bob.json("/api/folders/INBOX/messages/1?mark_seen=0")
        self.assertEqual(st, 200)
        self.assertEqual(m["subject"], "Bob's own")
        for name in self.uids:
            if self.uids[name] != 1:
                st, h, body = self.bob.get(self.path(name))
                self.assertEqual(st, 404, name)
        # Search over all folders sees only his own mail.
        r = self.search(self.bob)
        self.assertEqual(self.subjects(r), ["Bob's own"])
        r = self.search(self.bob, q="report")
        self.assertEqual(r["total"], 0)
        # Alice of another domain does not exist as a folder of Bob's.
        self.assertEqual(self.bob.get("/api/folders/other.test/messages/1")
                         [0], 404)


def name_key(name):
    """A word of each test message's subject, for UID SEARCH."""
    return {"plain": "lunch", "html": "newsletter", "attach": "Quarterly",
            "latin1": "aus", "fwd": "original"}[name].encode()


if __name__ == "__main__":
    unittest.main(verbosity=2)
