#!/usr/bin/env python3
"""Black-box test of postern-webmail's HTTP API core (docs/webmail-api.md):
sessions and their safety, folders, the message list, actions, events,
and the isolation of one user from another.

A temp site (`postern init`, free loopback ports, a services table with
LMTP, IMAP and the webmail), `postern start`, mail delivered over LMTP,
then Python's http.client against the running service.  Runs on SQLite,
and again on PostgreSQL and MariaDB when the PG_* / MYSQL_* variables of
dbservers.sh are set (run-all.sh sets them).  A second site with a 3 s
idle timeout shows that sessions expire.  Failed logins on purpose come
from other loopback addresses (127.0.0.N) so the throttle of one test
does not block another.  Programs come from $POSTERN_BUILD_DIR (default
./build); POSTERN_KEEP=1 keeps the site folder.
"""
import http.client
import json
import os
import re
import secrets
import smtplib
import socket
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (BUILD, SiteTestCase,  # noqa: E402
                          driver_settings, run_postern,
                          skip_unless_driver, tls_context)

SERVICES = """\
# written by test_webmail_api.py
lmtp         inet  $inet_interfaces:$lmtp_port            none      1  postern-lmtpd
webmail      inet  $inet_interfaces:$webmail_port         none      1  postern-webmail
"""
PASSWORD = "webmail pw 1"
MAX_FAILURES = 3
# Client addresses of the failed-login tests, new for each run: the
# throttle's counts live in SQL, and a PostgreSQL or MariaDB server kept
# between runs (dbservers.sh) still holds an earlier run's within
# auth_throttle_window.
FAIL_NET = "127.%d.%d." % (1 + secrets.randbelow(254),
                           secrets.randbelow(256))


def q(s):
    """Percent-encode a path segment (also '/')."""
    return urllib.parse.quote(s, safe="")


class Client:
    """One browser: a cookie jar of one cookie and the CSRF token."""

    def __init__(self, port, source="127.0.0.1", tls=False):
        self.port = port
        self.source = source
        self.tls = tls
        self.cookie = None
        self.csrf = None

    def request(self, method, path, body=None, headers=None, csrf=True,
                ctype="application/json"):
        h = {"Host": "127.0.0.1:%d" % self.port}
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        if body is not None and ctype:
            h["Content-Type"] = ctype
        if self.cookie:
            h["Cookie"] = "postern_session=" + self.cookie
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = self.csrf
        h.update(headers or {})
        if self.tls:
            c = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=30,
                source_address=(self.source, 0), context=tls_context())
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port,
                                           timeout=30,
                                           source_address=(self.source, 0))
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            hdrs = r.headers
            status = r.status
        finally:
            c.close()
        sc = hdrs.get("Set-Cookie")
        if sc and sc.startswith("postern_session="):
            value = sc.split(";", 1)[0].split("=", 1)[1]
            self.cookie = value or None
        doc = None
        if data and (hdrs.get("Content-Type") or "").startswith(
                "application/json"):
            doc = json.loads(data)
        return status, hdrs, doc if doc is not None else data

    def login(self, address, password=PASSWORD):
        st, h, doc = self.request("POST", "/api/login",
                                  {"address": address, "password": password})
        if st == 200:
            self.csrf = doc["csrf"]
        return st, h, doc

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body if body is not None else {},
                            **kw)


def message(subject, sender="Ann Sender <ann@outside.test>",
            to="someone@x.test", date="Mon, 01 Jan 2024 10:00:00 +0000",
            msgid=None, refs=None, body="hello\n", extra=""):
    lines = ["From: " + sender, "To: " + to, "Subject: " + subject,
             "Date: " + date,
             "Message-ID: " + (msgid or "<%s@outside.test>" %
                               secrets.token_hex(6))]
    if refs:
        lines.append("References: " + refs)
        lines.append("In-Reply-To: " + refs.split()[-1])
    if extra:
        lines.append(extra.rstrip("\n"))
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


class WebmailBase(SiteTestCase):
    DRIVER = "sqlite"
    EXTRA = []

    @classmethod
    def set_up_site(cls):
        skip_unless_driver(cls.DRIVER)
        if not os.access(os.path.join(BUILD, "postern-webmail"), os.X_OK):
            raise unittest.SkipTest("no postern-webmail")
        cls.make_site("postern-webmail.")
        settings = cls.pick_ports()
        settings += ["stop_timeout=5s", "myhostname=wm.test",
                     "default_password_scheme=SHA512-CRYPT",
                     "auth_throttle_max_failures=%d" % MAX_FAILURES,
                     "auth_throttle_window=10m",
                     "webmail_events_interval=1s"] + cls.EXTRA
        settings += driver_settings(cls.DRIVER)
        run_postern(cls.dir, "config", "set", *settings)
        if cls.DRIVER != "sqlite":
            run_postern(cls.dir, "init")
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        tag = secrets.token_hex(3)
        cls.dom = "wm-%s.test" % tag
        cls.dom2 = "other-%s.test" % tag
        run_postern(cls.dir, "domain", "add", cls.dom)
        run_postern(cls.dir, "domain", "add", cls.dom2)
        cls.users = {}
        for name, dom in [("alice", cls.dom), ("bob", cls.dom),
                          ("carol", cls.dom), ("dave", cls.dom),
                          ("erin", cls.dom), ("alice", cls.dom2)]:
            addr = "%s@%s" % (name, dom)
            run_postern(cls.dir, "mailbox", "add", addr, "--password-stdin",
                        stdin=PASSWORD + "\n")
        run_postern(cls.dir, "start")
        cls.started = True
        deadline = time.time() + 15
        while True:
            try:
                socket.create_connection(
                    ("127.0.0.1", cls.ports["webmail"]), timeout=2).close()
                socket.create_connection(
                    ("127.0.0.1", cls.ports["lmtp"]), timeout=2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)

    def addr(self, name, dom=None):
        return "%s@%s" % (name, dom or self.dom)

    def deliver(self, rcpt, msg):
        with smtplib.LMTP("127.0.0.1", self.ports["lmtp"], timeout=30) as c:
            c.sendmail("sender@outside.test", [rcpt], msg)

    def client(self, name=None, source="127.0.0.1"):
        c = Client(self.ports["webmail"], source)
        if name is not None:
            st, _, doc = c.login(name if "@" in name else self.addr(name))
            self.assertEqual(st, 200, doc)
        return c

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.dir, "log", "postern.log"),
                      errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def folder(self, c, fid):
        st, _, doc = c.get("/api/folders")
        self.assertEqual(st, 200, doc)
        for f in doc["items"]:
            if f["id"] == fid:
                return f
        return None

    def listing(self, c, fid="INBOX", **params):
        qs = urllib.parse.urlencode(params)
        st, _, doc = c.get("/api/folders/%s/messages%s" % (
            q(fid), "?" + qs if qs else ""))
        self.assertEqual(st, 200, doc)
        return doc


class WebmailApi(WebmailBase):
    # The event streams' looks and watches are logged (at debug level):
    # test_events_new_delivery waits for them.
    EXTRA = ["debug_trace=ev"]
    # ---- pages and headers

    def test_app_page_and_headers(self):
        c = self.client()
        st, h, body = c.get("/")
        self.assertEqual(st, 200)
        self.assertTrue(h["Content-Type"].startswith("text/html"))
        csp = h["Content-Security-Policy"]
        self.assertIn("default-src 'self'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertEqual(h["X-Content-Type-Options"], "nosniff")
        self.assertEqual(h["Referrer-Policy"], "no-referrer")
        self.assertEqual(h["X-Frame-Options"], "SAMEORIGIN")
        st, h, doc = c.get("/api/session")
        self.assertEqual(st, 401)
        self.assertEqual(doc["error"]["code"], "login_required")
        self.assertEqual(h["Cache-Control"], "no-store")
        self.assertEqual(h["X-Content-Type-Options"], "nosniff")
        st, _, doc = c.get("/api/nothing-here")
        self.assertEqual(st, 404)
        st, _, doc = c.get("/static/no-such-file.js")
        self.assertEqual(st, 404)
        st, _, doc = c.request("DELETE", "/api/session")
        self.assertEqual(st, 405)

    # ---- login, cookies, fixation, CSRF, logout

    def test_login_ok_and_cookie_flags(self):
        c = Client(self.ports["webmail"])
        st, h, doc = c.login(self.addr("alice"))
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["address"], self.addr("alice"))
        self.assertEqual(len(doc["csrf"]), 43)
        cookie = h["Set-Cookie"]
        parts = [p.strip() for p in cookie.split(";")]
        self.assertTrue(parts[0].startswith("postern_session="))
        self.assertEqual(len(parts[0].split("=", 1)[1]), 43)
        self.assertIn("HttpOnly", parts)
        self.assertIn("SameSite=Strict", parts)
        self.assertIn("Path=/", parts)
        self.assertNotIn("Secure", parts)   # plain HTTP here
        self.assertNotEqual(c.cookie, doc["csrf"])
        st, _, s = c.get("/api/session")
        self.assertEqual(st, 200, s)
        self.assertEqual(s["address"], self.addr("alice"))
        self.assertEqual(s["csrf"], doc["csrf"])
        self.assertIn("quota_bytes", s)
        self.assertIn("used_bytes", s)
        # Mixed-case address logs in as the stored one.
        c2 = Client(self.ports["webmail"])
        st, _, doc = c2.login("Alice@" + self.dom.upper())
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["address"], self.addr("alice"))

    def test_login_bad(self):
        c = Client(self.ports["webmail"], FAIL_NET + "21")
        st, _, doc = c.login(self.addr("bob"), "wrong password")
        self.assertEqual(st, 401)
        self.assertEqual(doc["error"]["code"], "bad_credentials")
        self.assertIsNone(c.cookie)
        st, _, doc = c.login("nobody@" + self.dom, "x")
        self.assertEqual(st, 401)
        self.assertEqual(doc["error"]["code"], "bad_credentials")
        # A form post (no JSON) and a foreign Origin are refused.
        st, _, doc = c.request(
            "POST", "/api/login",
            ("address=%s&password=%s" % (self.addr("bob"), PASSWORD)).encode(),
            ctype="application/x-www-form-urlencoded")
        self.assertEqual(st, 415)
        self.assertIsNone(c.cookie)
        st, _, doc = c.request("POST", "/api/login",
                               {"address": self.addr("bob"),
                                "password": PASSWORD},
                               headers={"Origin": "https://evil.test"})
        self.assertEqual(st, 403)
        self.assertIsNone(c.cookie)
        st, _, doc = c.request("POST", "/api/login", b"{not json")
        self.assertEqual(st, 400)

    def test_login_throttled(self):
        c = Client(self.ports["webmail"], FAIL_NET + "22")
        for _ in range(MAX_FAILURES):
            st, _, _ = c.login(self.addr("carol"), "bad")
            self.assertEqual(st, 401)
        # The right password is refused now, from anywhere, for carol.
        st, h, doc = c.login(self.addr("carol"))
        self.assertEqual(st, 429, doc)
        self.assertEqual(doc["error"]["code"], "throttled")
        self.assertTrue(int(h["Retry-After"]) > 0)
        st, _, _ = Client(self.ports["webmail"], FAIL_NET + "23").login(
            self.addr("carol"))
        self.assertEqual(st, 429)
        # Others log in from that address (3 x max per address).
        st, _, _ = Client(self.ports["webmail"], FAIL_NET + "22").login(
            self.addr("dave"))
        self.assertEqual(st, 200)

    def test_session_fixation(self):
        c = self.client("alice")
        first = c.cookie
        # Login again from the same browser: a new id, the old one dead.
        st, _, doc = c.login(self.addr("alice"))
        self.assertEqual(st, 200)
        self.assertNotEqual(c.cookie, first)
        old = Client(self.ports["webmail"])
        old.cookie = first
        st, _, _ = old.get("/api/session")
        self.assertEqual(st, 401)
        # An id planted by an attacker is never adopted.
        planted = "A" * 43
        v = Client(self.ports["webmail"])
        v.cookie = planted
        st, _, _ = v.login(self.addr("alice"))
        self.assertEqual(st, 200)
        self.assertNotEqual(v.cookie, planted)
        p = Client(self.ports["webmail"])
        p.cookie = planted
        self.assertEqual(p.get("/api/session")[0], 401)

    def test_sessions_per_address_bounded(self):
        name = "many-%s" % secrets.token_hex(2)
        run_postern(self.dir, "mailbox", "add", self.addr(name),
                    "--password-stdin", stdin=PASSWORD + "\n")
        first = self.client(name)
        others = [self.client(name) for _ in range(32)]
        # 33 logins: the oldest session made room for the newest.
        self.assertEqual(first.get("/api/session")[0], 401)
        for c in (others[0], others[-1]):
            self.assertEqual(c.get("/api/session")[0], 200)

    def test_csrf(self):
        c = self.client("bob")
        name = "Csrf" + secrets.token_hex(3)
        st, _, doc = c.post("/api/folders", {"name": name}, csrf=False)
        self.assertEqual(st, 403)
        self.assertEqual(doc["error"]["code"], "csrf")
        st, _, doc = c.post("/api/folders", {"name": name}, csrf=False,
                            headers={"X-CSRF-Token": "x" * 43})
        self.assertEqual(st, 403)
        # Another session's token is no good either.
        other = self.client("bob")
        st, _, doc = c.post("/api/folders", {"name": name}, csrf=False,
                            headers={"X-CSRF-Token": other.csrf})
        self.assertEqual(st, 403)
        self.assertIsNone(self.folder(c, name))
        st, _, doc = c.post("/api/logout", csrf=False)
        self.assertEqual(st, 403)
        self.assertEqual(c.get("/api/session")[0], 200)
        st, _, doc = c.post("/api/folders", {"name": name})
        self.assertEqual(st, 201, doc)
        self.assertEqual(c.request("DELETE", "/api/folders/" + q(name),
                                   csrf=False)[0], 403)
        self.assertIsNotNone(self.folder(c, name))

    def test_logout(self):
        c = self.client("bob")
        cookie = c.cookie
        st, h, _ = c.post("/api/logout")
        self.assertEqual(st, 204)
        self.assertIn("Max-Age=0", h["Set-Cookie"])
        self.assertIsNone(c.cookie)
        c.cookie = cookie
        st, _, doc = c.get("/api/session")
        self.assertEqual(st, 401)
        self.assertEqual(c.get("/api/folders")[0], 401)

    # ---- folders

    def test_folders(self):
        c = self.client("dave")
        st, h, doc = c.get("/api/folders")
        self.assertEqual(st, 200)
        self.assertEqual(h["Cache-Control"], "no-store")
        items = doc["items"]
        self.assertEqual([f["role"] for f in items[:6]],
                         ["inbox", "drafts", "sent", "junk", "trash",
                          "archive"])
        self.assertEqual([f["name"] for f in items[:6]],
                         ["Inbox", "Drafts", "Sent", "Junk", "Trash",
                          "Archive"])
        self.assertEqual(items[0]["id"], "INBOX")
        for key in ("total", "unread", "size", "subscribed"):
            self.assertIn(key, items[0])
        # Create (nested and non-ASCII), conflicts, invalid names.
        st, _, f = c.post("/api/folders", {"name": "Projects/2026"})
        self.assertEqual(st, 201, f)
        self.assertEqual(f["id"], "Projects.2026")
        self.assertEqual(f["name"], "Projects/2026")
        self.assertIsNone(f["role"])
        self.assertTrue(f["subscribed"])
        st, _, f = c.post("/api/folders", {"name": "Entwürfe"})
        self.assertEqual(st, 201, f)
        self.assertEqual(f["id"], "Entw&APw-rfe")
        self.assertEqual(f["name"], "Entwürfe")
        self.assertEqual(c.post("/api/folders",
                                {"name": "Projects/2026"})[0], 409)
        self.assertEqual(c.post("/api/folders", {"name": "inbox"})[0], 409)
        for bad in ["a.b", "", "/x", "x/", "a//b", "..", "bad\u0001"]:
            st, _, doc = c.post("/api/folders", {"name": bad})
            self.assertEqual(st, 422, (bad, doc))
        self.assertEqual(c.post("/api/folders", {"nom": "x"})[0], 400)
        names = [f["name"] for f in c.get("/api/folders")[2]["items"]]
        self.assertEqual(names[6:], sorted(names[6:], key=str.lower))
        self.assertIn("Projects/2026", names)
        # Rename (children follow), special folders refused.
        st, _, f = c.request("PATCH", "/api/folders/Projects",
                             {"name": "Work"})
        self.assertEqual(st, 404)    # "Projects" itself is no folder
        st, _, f = c.post("/api/folders", {"name": "Projects"})
        self.assertEqual(st, 201)
        st, _, f = c.request("PATCH", "/api/folders/Projects",
                             {"name": "Work"})
        self.assertEqual(st, 200, f)
        self.assertEqual(f["id"], "Work")
        self.assertIsNotNone(self.folder(c, "Work.2026"))
        self.assertIsNone(self.folder(c, "Projects.2026"))
        for special in ["INBOX", "Trash", "Sent"]:
            st, _, doc = c.request("PATCH", "/api/folders/" + special,
                                   {"name": "Other"})
            self.assertEqual(st, 422, special)
            self.assertEqual(c.request("DELETE",
                                       "/api/folders/" + special)[0], 422)
        # Delete: children first.
        st, _, doc = c.request("DELETE", "/api/folders/Work")
        self.assertEqual(st, 409, doc)
        self.assertEqual(c.request("DELETE", "/api/folders/Work.2026")[0],
                         204)
        self.assertEqual(c.request("DELETE", "/api/folders/Work")[0], 204)
        self.assertIsNone(self.folder(c, "Work"))
        self.assertEqual(c.request("DELETE", "/api/folders/Work")[0], 404)
        self.assertEqual(c.request("DELETE", "/api/folders/" +
                                   q("Entw&APw-rfe"))[0], 204)

    def test_empty_trash(self):
        c = self.client("erin")
        for i in range(3):
            self.deliver(self.addr("erin"), message("trash me %d" % i))
        uids = [m["uid"] for m in self.listing(c)["items"]]
        self.assertEqual(len(uids), 3)
        st, _, doc = c.post("/api/actions", {"folder": "INBOX", "uids": uids,
                                             "action": "delete"})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["done"], 3)
        self.assertEqual(self.folder(c, "Trash")["total"], 3)
        self.assertEqual(c.post("/api/folders/INBOX/empty")[0], 422)
        st, _, doc = c.post("/api/folders/Trash/empty")
        self.assertEqual(st, 204, doc)
        self.assertEqual(self.folder(c, "Trash")["total"], 0)
        self.assertEqual(self.listing(c, "Trash")["total"], 0)

    # ---- list, sort, paging, threads

    def test_list_sort_paging_threads(self):
        rcpt = "list-%s" % secrets.token_hex(2)
        run_postern(self.dir, "mailbox", "add", self.addr(rcpt),
                    "--password-stdin", stdin=PASSWORD + "\n")
        msgs = [
            ("Zebra report", "Carl <carl@x.test>", "Tue, 02 Jan 2024", "",
             "<root@x.test>", None),
            ("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=", "=?UTF-8?Q?J=C3=BCrgen?= <j@x.test>",
             "Wed, 03 Jan 2024", "x" * 3000, None, None),
            ("Re: Zebra report", "Bea <bea@x.test>", "Thu, 04 Jan 2024", "",
             "<reply1@x.test>", "<root@x.test>"),
            ("Apple pie", "Adam <adam@x.test>", "Mon, 01 Jan 2024",
             "y" * 10000, None, None),
            ("Re: Re: Zebra report", "Carl <carl@x.test>",
             "Fri, 05 Jan 2024", "", "<reply2@x.test>",
             "<root@x.test> <reply1@x.test>"),
        ]
        for subj, frm, day, body, mid, refs in msgs:
            self.deliver(self.addr(rcpt), message(
                subj, sender=frm, date=day + " 12:00:00 +0000", msgid=mid,
                refs=refs, body=body + "\nbody text of " + subj + "\n"))
        c = self.client(rcpt)
        doc = self.listing(c)
        self.assertEqual(doc["total"], 5)
        self.assertEqual(doc["unread"], 5)
        self.assertIn("uidvalidity", doc)
        subjects = [m["subject"] for m in doc["items"]]
        # Default: newest first by the Date header.
        self.assertEqual(subjects, ["Re: Re: Zebra report",
                                    "Re: Zebra report", "Grüße",
                                    "Zebra report", "Apple pie"])
        first = doc["items"][0]
        self.assertEqual(first["date"], "2024-01-05T12:00:00Z")
        self.assertEqual(first["from"], {"name": "Carl",
                                         "address": "carl@x.test"})
        self.assertEqual(first["to"], [{"name": "",
                                        "address": "someone@x.test"}])
        self.assertFalse(first["seen"])
        self.assertFalse(first["flagged"])
        self.assertFalse(first["has_attachments"])
        self.assertIn("body text of", first["preview"])
        self.assertEqual(doc["items"][2]["from"]["name"], "Jürgen")
        asc = self.listing(c, order="asc")
        self.assertEqual([m["subject"] for m in asc["items"]],
                         list(reversed(subjects)))
        by_from = self.listing(c, sort="from")
        self.assertEqual([m["from"]["name"] for m in by_from["items"]],
                         ["Adam", "Bea", "Carl", "Carl", "Jürgen"])
        by_subject = self.listing(c, sort="subject")
        self.assertEqual([m["subject"] for m in by_subject["items"]][:2],
                         ["Apple pie", "Grüße"])
        by_size = self.listing(c, sort="size")
        sizes = [m["size"] for m in by_size["items"]]
        self.assertEqual(sizes, sorted(sizes, reverse=True))
        self.assertEqual(by_size["items"][0]["subject"], "Apple pie")
        page = self.listing(c, offset=1, limit=2)
        self.assertEqual(page["total"], 5)
        self.assertEqual([m["subject"] for m in page["items"]],
                         subjects[1:3])
        self.assertEqual(self.listing(c, offset=5)["items"], [])
        self.assertEqual(c.get("/api/folders/INBOX/messages?sort=bogus")[0],
                         400)
        # Conversations: the three Zebra messages are one thread.
        th = self.listing(c, threads=1)
        self.assertEqual(th["total"], 3)
        self.assertEqual(th["messages"], 5)
        top = th["items"][0]
        self.assertEqual(top["subject"], "Re: Re: Zebra report")
        self.assertEqual(top["thread_count"], 3)
        zebra = [m for m in doc["items"] if "Zebra" in m["subject"]]
        self.assertEqual(len({m["thread"] for m in zebra}), 1)
        self.assertEqual(zebra[0]["thread"],
                         [m for m in doc["items"]
                          if m["subject"] == "Zebra report"][0]["uid"])
        self.assertNotEqual(doc["items"][2]["thread"], top["thread"])
        st, _, t = c.get("/api/folders/INBOX/threads/%d" % top["uid"])
        self.assertEqual(st, 200, t)
        self.assertEqual([m["subject"] for m in t["items"]],
                         ["Zebra report", "Re: Zebra report",
                          "Re: Re: Zebra report"])
        self.assertEqual(c.get("/api/folders/INBOX/threads/99999")[0], 404)
        # A second listing answers the same from the summary cache (and
        # the folder view the session keeps open), and sees new mail.
        self.assertEqual(self.listing(c)["items"], doc["items"])
        self.deliver(self.addr(rcpt), message(
            "Late news", date="Sat, 06 Jan 2024 12:00:00 +0000"))
        again = self.listing(c)
        self.assertEqual(again["total"], 6)
        self.assertEqual(again["items"][0]["subject"], "Late news")
        self.assertEqual(again["items"][1:], doc["items"])

    # ---- actions

    def test_actions(self):
        rcpt = "act-%s" % secrets.token_hex(2)
        run_postern(self.dir, "mailbox", "add", self.addr(rcpt),
                    "--password-stdin", stdin=PASSWORD + "\n")
        for i in range(5):
            self.deliver(self.addr(rcpt), message("act %d" % i))
        c = self.client(rcpt)
        uids = sorted(m["uid"] for m in self.listing(c)["items"])

        def flags(fid="INBOX"):
            return {m["uid"]: m for m in self.listing(c, fid)["items"]}

        def act(action, u, folder="INBOX", **kw):
            body = {"folder": folder, "uids": u, "action": action}
            body.update(kw)
            st, _, doc = c.post("/api/actions", body)
            self.assertEqual(st, 200, doc)
            return doc

        self.assertEqual(act("seen", uids[:2])["done"], 2)
        f = flags()
        self.assertTrue(f[uids[0]]["seen"] and f[uids[1]]["seen"])
        self.assertFalse(f[uids[2]]["seen"])
        self.assertEqual(self.listing(c)["unread"], 3)
        self.assertEqual(self.folder(c, "INBOX")["unread"], 3)
        act("unseen", [uids[0]])
        act("flag", [uids[3]])
        f = flags()
        self.assertFalse(f[uids[0]]["seen"])
        self.assertTrue(f[uids[3]]["flagged"])
        act("unflag", [uids[3]])
        self.assertFalse(flags()[uids[3]]["flagged"])
        # Unknown UIDs do nothing.
        self.assertEqual(act("seen", [999999])["done"], 0)
        # Move to a folder: new UIDs reported; flags kept.
        st, _, _ = c.post("/api/folders", {"name": "Kept"})
        self.assertEqual(st, 201)
        doc = act("move", [uids[1]], target="Kept")
        self.assertEqual(doc["done"], 1)
        new = doc["uids"][str(uids[1])]
        kept = flags("Kept")
        self.assertEqual(list(kept), [new])
        self.assertTrue(kept[new]["seen"])
        self.assertNotIn(uids[1], flags())
        # Delete: to Trash; deleting in Trash expunges.
        doc = act("delete", [uids[2]])
        trash_uid = doc["uids"][str(uids[2])]
        self.assertIn(trash_uid, flags("Trash"))
        doc = act("delete", [trash_uid], folder="Trash")
        self.assertEqual(doc["done"], 1)
        self.assertNotIn(trash_uid, flags("Trash"))
        # Junk and back.
        doc = act("junk", [uids[4]])
        junk_uid = doc["uids"][str(uids[4])]
        self.assertIn(junk_uid, flags("Junk"))
        doc = act("notjunk", [junk_uid], folder="Junk")
        self.assertEqual(doc["done"], 1)
        self.assertEqual(len(flags("Junk")), 0)
        self.assertEqual(len(flags()), 3)
        # Bad requests.
        for body, code in [({"folder": "INBOX", "uids": [uids[0]],
                             "action": "explode"}, 400),
                           ({"folder": "INBOX", "action": "seen"}, 400),
                           ({"folder": "INBOX", "uids": [uids[0]],
                             "action": "move"}, 400),
                           ({"folder": "INBOX", "uids": [uids[0]],
                             "action": "move", "target": "INBOX"}, 422),
                           ({"folder": "Nope", "uids": [uids[0]],
                             "action": "seen"}, 404),
                           ({"folder": "INBOX", "uids": [uids[0]],
                             "action": "move", "target": "Nope"}, 404)]:
            st, _, doc = c.post("/api/actions", body)
            self.assertEqual(st, code, (body, doc))

    # ---- events

    def test_events_new_delivery(self):
        rcpt = "ev-%s" % secrets.token_hex(2)
        run_postern(self.dir, "mailbox", "add", self.addr(rcpt),
                    "--password-stdin", stdin=PASSWORD + "\n")
        c = self.client(rcpt)
        s = socket.create_connection(("127.0.0.1", self.ports["webmail"]),
                                     timeout=15)
        try:
            s.sendall(("GET /api/events HTTP/1.1\r\nHost: x\r\n"
                       "Cookie: postern_session=%s\r\n\r\n" %
                       c.cookie).encode())
            data = b""
            while b"\r\n\r\n" not in data or b"connected" not in data:
                chunk = s.recv(4096)
                self.assertTrue(chunk, data)
                data += chunk
            head = data.split(b"\r\n\r\n", 1)[0].decode()
            self.assertTrue(head.startswith("HTTP/1.1 200"), head)
            self.assertIn("text/event-stream", head)
            # The first look at the folders is done and their watches
            # are in place (logged then): a delivery before that is in
            # the snapshot, or unwatched, and makes no event.  Waited for,
            # not slept for: a loaded machine may take longer.
            self.wait_log(r"webmail\(%s\): events: \d+ folder watch"
                          % re.escape(self.addr(rcpt)))
            self.deliver(self.addr(rcpt), message("event me"))
            deadline = time.time() + 10
            while b'"folder":"INBOX"' not in data:
                self.assertLess(time.time(), deadline, data)
                chunk = s.recv(4096)
                self.assertTrue(chunk, data)
                data += chunk
            self.assertIn(b"event: folder", data)
            line = [ln for ln in data.split(b"\n")
                    if ln.startswith(b"data: ") and b"INBOX" in ln][0]
            ev = json.loads(line[6:])
            self.assertEqual(ev["total"], 1)
            self.assertEqual(ev["unread"], 1)
            # Flags count as a change too.
            uid = self.listing(c)["items"][0]["uid"]
            c.post("/api/actions", {"folder": "INBOX", "uids": [uid],
                                    "action": "seen"})
            mark = len(data)
            deadline = time.time() + 10
            while b'"unread":0' not in data[mark:]:
                self.assertLess(time.time(), deadline, data)
                chunk = s.recv(4096)
                self.assertTrue(chunk, data)
                data += chunk
            # Logout ends the stream.
            self.assertEqual(c.post("/api/logout")[0], 204)
            deadline = time.time() + 10
            while True:
                self.assertLess(time.time(), deadline)
                chunk = s.recv(4096)
                if not chunk or chunk.endswith(b"0\r\n\r\n"):
                    break
        finally:
            s.close()
        self.assertEqual(c.get("/api/events")[0], 401)

    def test_events_bounded(self):
        c = self.client("erin")
        socks = []
        try:
            for _ in range(4):
                s = socket.create_connection(
                    ("127.0.0.1", self.ports["webmail"]), timeout=15)
                s.sendall(("GET /api/events HTTP/1.1\r\nHost: x\r\n"
                           "Cookie: postern_session=%s\r\n\r\n" %
                           c.cookie).encode())
                self.assertIn(b"200", s.recv(4096))
                socks.append(s)
            st, _, doc = c.get("/api/events")
            self.assertEqual(st, 429, doc)
            self.assertEqual(doc["error"]["code"], "throttled")
            # A closed stream frees its slot within a few intervals.
            socks.pop().close()
            deadline = time.time() + 10
            while True:
                s = socket.create_connection(
                    ("127.0.0.1", self.ports["webmail"]), timeout=15)
                s.sendall(("GET /api/events HTTP/1.1\r\nHost: x\r\n"
                           "Cookie: postern_session=%s\r\n\r\n" %
                           c.cookie).encode())
                head = s.recv(4096)
                if b" 200 " in head:
                    socks.append(s)
                    break
                s.close()
                self.assertLess(time.time(), deadline, head)
                time.sleep(0.5)
        finally:
            for s in socks:
                s.close()

    # ---- isolation

    def test_cross_user_isolation(self):
        a = self.client("alice")
        st, _, _ = a.post("/api/folders", {"name": "Secret"})
        self.assertIn(st, (201, 409))
        self.deliver(self.addr("alice"), message("alice private"))
        self.deliver(self.addr("alice", self.dom2), message("other dom"))
        a_inbox = self.listing(a)
        a_uids = [m["uid"] for m in a_inbox["items"]]
        self.assertTrue(a_uids)
        b = self.client("bob")
        b_total = self.listing(b)["total"]
        # B asks for A's folder names and tricks to reach them.
        tricks = [
            "Secret", ".Secret", "..", ".", "../alice", "../alice/.Secret",
            "..%2Falice", "%2E%2E%2Falice%2F.Secret", "INBOX/../../alice",
            "../../%s/alice" % self.dom2, "%2e%2e%2f%2e%2e%2f" + self.dom2 +
            "%2falice", "alice@" + self.dom, "/etc", "INBOX%00",
            "INBOX/..", "~alice", "%252e%252e",
        ]
        for t in tricks:
            seg = t if "%" in t else q(t)
            for path in ["/api/folders/%s/messages" % seg,
                         "/api/folders/%s/threads/1" % seg]:
                st, _, doc = b.get(path)
                self.assertEqual(st, 404, (path, doc))
            st, _, doc = b.request("DELETE", "/api/folders/" + seg)
            self.assertIn(st, (404, 422), (t, doc))
            # (A NUL in a JSON string is refused as malformed: 400.)
            refused = (400, 404) if "%00" in t else (404,)
            st, _, doc = b.post("/api/actions", {
                "folder": urllib.parse.unquote(t), "uids": a_uids,
                "action": "delete"})
            self.assertIn(st, refused, (t, doc))
            st, _, doc = b.post("/api/actions", {
                "folder": "INBOX", "uids": [1], "action": "move",
                "target": urllib.parse.unquote(t)})
            self.assertIn(st, refused + (200,), (t, doc))
            if st == 200:
                self.assertEqual(doc["done"], 0)
        # Raw paths the client library would not normalise.
        for raw in ["/api/folders/../../../etc/messages",
                    "/api/folders//messages",
                    "/api/folders/%2F/messages"]:
            st, _, _ = b.get(raw)
            self.assertIn(st, (404, 405), raw)
        # B's actions on A's UIDs touch only B's own INBOX.
        b.post("/api/actions", {"folder": "INBOX", "uids": a_uids,
                                "action": "delete"})
        self.assertEqual(self.listing(a)["items"], a_inbox["items"])
        st, _, folders = b.get("/api/folders")
        self.assertNotIn("Secret", [f["id"] for f in folders["items"]])
        self.assertLessEqual(self.listing(b)["total"], b_total)
        # alice of the other domain sees her own mail only.
        o = self.client("alice@" + self.dom2)
        subj = [m["subject"] for m in self.listing(o)["items"]]
        self.assertIn("other dom", subj)
        self.assertNotIn("alice private", subj)
        self.assertIsNone(self.folder(o, "Secret"))


class WebmailTimeout(WebmailBase):
    """A short idle timeout: the session ends without requests."""
    EXTRA = ["webmail_session_timeout=3s", "webmail_session_lifetime=1h"]

    def test_idle_timeout(self):
        c = self.client("alice")
        for _ in range(3):
            time.sleep(1)
            self.assertEqual(c.get("/api/session")[0], 200)
        time.sleep(4)
        st, _, doc = c.get("/api/session")
        self.assertEqual(st, 401)
        self.assertEqual(doc["error"]["code"], "login_required")
        self.assertEqual(c.post("/api/folders", {"name": "Late"})[0], 401)


class WebmailTls(WebmailBase):
    """webmail_tls = yes: HTTPS with the site's certificate, and the
    session cookie gets Secure."""
    EXTRA = ["webmail_tls=yes"]

    def test_https_secure_cookie(self):
        c = Client(self.ports["webmail"], tls=True)
        st, h, doc = c.login(self.addr("alice"))
        self.assertEqual(st, 200, doc)
        parts = [p.strip() for p in h["Set-Cookie"].split(";")]
        self.assertIn("Secure", parts)
        self.assertIn("HttpOnly", parts)
        st, _, s = c.get("/api/session")
        self.assertEqual(st, 200)
        self.assertEqual(s["address"], self.addr("alice"))
        st, h, _ = c.get("/")
        self.assertEqual(st, 200)
        self.assertIn("default-src 'self'", h["Content-Security-Policy"])
        # Plain HTTP on the HTTPS port gets no answer.
        plain = Client(self.ports["webmail"])
        with self.assertRaises((http.client.HTTPException, OSError)):
            plain.get("/api/session")


class WebmailApiPg(WebmailApi):
    DRIVER = "pgsql"


class WebmailApiMysql(WebmailApi):
    DRIVER = "mysql"


if __name__ == "__main__":
    unittest.main(verbosity=2)
