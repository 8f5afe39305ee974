#!/usr/bin/env python3
"""Webmail sessions shared by several webmail processes through SQL
(webmail/wm-session.c, schema 005_webmail_sessions).

One site, two postern-webmail services (A and B, two ports, as two nodes
behind a balancer would be) on one database: a login on A works on B
(the same CSRF token too), a logout on B is refused on A within 2 s, and
the other way round; an image-proxy URL signed by A is served by B (one
secret file, mode 0600); failed logins counted on A throttle B; a
session of a deleted mailbox ends; the database holds no session id in
clear, and what it holds (the hash) is no cookie.  A second site with a
3 s idle timeout shows that expiry still works across processes.  Runs
on SQLite, and on PostgreSQL and MariaDB when the variables of
dbservers.sh are set (run-all.sh sets them).  Programs come from
$POSTERN_BUILD_DIR (default ./build).
"""
import hashlib
import html
import http.server
import os
import re
import secrets
import smtplib
import socket
import stat
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (BUILD, SiteTestCase,  # noqa: E402
                          driver_settings, free_ports, run_postern,
                          skip_unless_driver)
from test_webmail_api import Client, message, PASSWORD  # noqa: E402

MAX_FAILURES = 3
# The smallest GIF, served by the test's own image server.
GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9"
       b"\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00"
       b"\x02\x02D\x01\x00;")


class ImageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.send_header("Content-Length", str(len(GIF)))
        self.end_headers()
        self.wfile.write(GIF)

    def log_message(self, *args):
        pass


class SessionsBase(SiteTestCase):
    DRIVER = "sqlite"
    EXTRA = []

    @classmethod
    def set_up_site(cls):
        skip_unless_driver(cls.DRIVER)
        if not os.access(os.path.join(BUILD, "postern-webmail"), os.X_OK):
            raise unittest.SkipTest("no postern-webmail")
        cls.make_site("postern-wmsessions.")
        settings = cls.pick_ports()
        cls.port_b = free_ports(1)[0]
        settings += ["stop_timeout=5s", "myhostname=wm.test",
                     "default_password_scheme=SHA512-CRYPT",
                     "auth_throttle_max_failures=%d" % MAX_FAILURES,
                     "auth_throttle_window=10m",
                     "webmail_image_proxy_private=yes"] + cls.EXTRA
        settings += driver_settings(cls.DRIVER)
        run_postern(cls.dir, "config", "set", *settings)
        if cls.DRIVER != "sqlite":
            run_postern(cls.dir, "init")
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write("lmtp inet $inet_interfaces:$lmtp_port none 1 "
                    "postern-lmtpd\n"
                    "webmail inet $inet_interfaces:$webmail_port none 1 "
                    "postern-webmail\n"
                    "webmail-b inet 127.0.0.1:%d none 1 postern-webmail\n"
                    % cls.port_b)
        cls.dom = "s-%s.test" % secrets.token_hex(3)
        run_postern(cls.dir, "domain", "add", cls.dom)
        run_postern(cls.dir, "start")
        cls.started = True
        deadline = time.time() + 15
        for port in (cls.ports["webmail"], cls.port_b, cls.ports["lmtp"]):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port),
                                             timeout=2).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.1)

    def user(self):
        addr = "u%s@%s" % (secrets.token_hex(3), self.dom)
        run_postern(self.dir, "mailbox", "add", addr, "--password-stdin",
                    stdin=PASSWORD + "\n")
        return addr

    def pair(self, addr):
        """A browser logged in on A, and the same cookie pointed at B."""
        a = Client(self.ports["webmail"])
        st, _, doc = a.login(addr)
        self.assertEqual(st, 200, doc)
        b = Client(self.port_b)
        b.cookie, b.csrf = a.cookie, a.csrf
        return a, b

    def refused_within(self, c, seconds):
        """Poll GET /api/session on c until 401; the time it took."""
        t0 = time.time()
        while True:
            st, _, _ = c.get("/api/session")
            if st == 401:
                return time.time() - t0
            self.assertEqual(st, 200)
            self.assertLess(time.time() - t0, seconds + 1,
                            "session still accepted")
            time.sleep(0.1)


class WebmailSessions(SessionsBase):

    def test_login_on_a_use_on_b_logout_on_b(self):
        addr = self.user()
        a, b = self.pair(addr)
        st, _, doc = b.get("/api/session")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["address"], addr)
        # The CSRF token is the same on B: a state change works there.
        self.assertEqual(doc["csrf"], a.csrf)
        name = "OnB" + secrets.token_hex(2)
        st, _, doc = b.post("/api/folders", {"name": name})
        self.assertEqual(st, 201, doc)
        st, _, doc = b.post("/api/folders", {"name": name + "x"},
                            csrf=False, headers={"X-CSRF-Token": "y" * 43})
        self.assertEqual(st, 403, doc)
        # A knows the folder too (same store).
        st, _, doc = a.get("/api/folders")
        self.assertIn(name, [f["id"] for f in doc["items"]])
        # Logout on B: refused on A within 2 s, and stays refused.
        self.assertEqual(a.get("/api/session")[0], 200)  # cached on A
        self.assertEqual(b.post("/api/logout")[0], 204)
        took = self.refused_within(a, 2)
        self.assertLessEqual(took, 2.0)
        time.sleep(1.2)
        self.assertEqual(a.get("/api/session")[0], 401)
        self.assertEqual(a.post("/api/folders", {"name": "Late"})[0], 401)

    def test_logout_on_a_refused_on_b(self):
        addr = self.user()
        a, b = self.pair(addr)
        self.assertEqual(b.get("/api/session")[0], 200)  # cached on B
        self.assertEqual(a.post("/api/logout")[0], 204)
        self.assertLessEqual(self.refused_within(b, 2), 2.0)

    def test_image_proxy_url_of_a_works_on_b(self):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ImageHandler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        addr = self.user()
        url = "http://127.0.0.1:%d/pixel.gif" % srv.server_address[1]
        body = ('<html><body><p>hi</p><img src="%s"></body></html>\n' % url)
        msg = message("with image", body=body,
                      extra="MIME-Version: 1.0\r\n"
                            "Content-Type: text/html; charset=utf-8")
        with smtplib.LMTP("127.0.0.1", self.ports["lmtp"], timeout=30) as c:
            c.sendmail("sender@outside.test", [addr], msg)
        a, b = self.pair(addr)
        st, _, doc = a.get("/api/folders/INBOX/messages")
        self.assertEqual(st, 200, doc)
        uid = doc["items"][0]["uid"]
        st, _, page = a.get("/api/folders/INBOX/messages/%d/html?images=1"
                            % uid)
        self.assertEqual(st, 200)
        m = re.search(rb'src="(/api/proxy\?[^"]+)"', page)
        self.assertIsNotNone(m, page)
        proxy = html.unescape(m.group(1).decode())
        st, h, data = b.get(proxy)
        self.assertEqual(st, 200, data)
        self.assertEqual(data, GIF)
        # A signature B did not make is refused there.
        forged = re.sub(r"sig=[0-9a-f]{64}", "sig=" + "0" * 64, proxy)
        self.assertEqual(b.get(forged)[0], 403)
        # One secret file for both, private.
        path = os.path.join(self.dir, "webmail.secret")
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.assertEqual(mode, 0o600)
        self.assertEqual(os.path.getsize(path), 32)

    def test_throttle_shared(self):
        addr = self.user()
        src = "127.0.0.%d" % (10 + secrets.randbelow(200))
        a = Client(self.ports["webmail"], source=src)
        for _ in range(MAX_FAILURES):
            self.assertEqual(a.login(addr, "wrong")[0], 401)
        b = Client(self.port_b, source=src)
        st, h, doc = b.login(addr)
        self.assertEqual(st, 429, doc)
        self.assertIn("Retry-After", h)

    def test_deleted_mailbox_ends_sessions(self):
        addr = self.user()
        a, b = self.pair(addr)
        self.assertEqual(b.get("/api/session")[0], 200)
        run_postern(self.dir, "mailbox", "del", addr)
        self.refused_within(a, 2)
        self.refused_within(b, 2)

    def test_sessions_not_readable(self):
        addr, other = self.user(), self.user()
        a, b = self.pair(addr)
        o = Client(self.port_b)
        self.assertEqual(o.login(other)[0], 200)
        # Each cookie is its own user, on either process.
        self.assertEqual(b.get("/api/session")[2]["address"], addr)
        self.assertEqual(o.get("/api/session")[2]["address"], other)
        # What SQL stores (the SHA-256 of the id) is no cookie.
        h = Client(self.port_b)
        h.cookie = hashlib.sha256(a.cookie.encode()).hexdigest()[:43]
        self.assertEqual(h.get("/api/session")[0], 401)
        h.cookie = hashlib.sha256(a.cookie.encode()).hexdigest()
        self.assertEqual(h.get("/api/session")[0], 401)
        if self.DRIVER == "sqlite":
            with open(os.path.join(self.dir, "postern.db"), "rb") as f:
                db = f.read()
            for p in ("postern.db-wal",):
                if os.path.exists(os.path.join(self.dir, p)):
                    with open(os.path.join(self.dir, p), "rb") as f:
                        db += f.read()
            digest = hashlib.sha256(a.cookie.encode()).hexdigest().encode()
            self.assertIn(digest, db)
            for secret in (a.cookie, o.cookie, a.csrf):
                self.assertNotIn(secret.encode(), db)


class WebmailSessionsExpiry(SessionsBase):
    """A 3 s idle timeout: activity on B keeps the session on A alive,
    and idleness ends it on both."""
    EXTRA = ["webmail_session_timeout=3s", "webmail_session_lifetime=1h"]

    def test_expiry_across_processes(self):
        addr = self.user()
        a, b = self.pair(addr)
        for _ in range(4):
            time.sleep(1)
            self.assertEqual(b.get("/api/session")[0], 200)
        # A last saw it 4 s ago: B's activity reached SQL.
        self.assertEqual(a.get("/api/session")[0], 200)
        time.sleep(4.5)
        self.assertEqual(b.get("/api/session")[0], 401)
        self.assertEqual(a.get("/api/session")[0], 401)


class WebmailSessionsPg(WebmailSessions):
    DRIVER = "pgsql"


class WebmailSessionsMysql(WebmailSessions):
    DRIVER = "mysql"


class WebmailSessionsExpiryPg(WebmailSessionsExpiry):
    DRIVER = "pgsql"


class WebmailSessionsExpiryMysql(WebmailSessionsExpiry):
    DRIVER = "mysql"


if __name__ == "__main__":
    unittest.main(verbosity=2)
