#!/usr/bin/env python3
"""Reading mail while the primary database is down (docs/scaling.md "When
the primary is down").

A real PostgreSQL 15 primary and streaming replica on loopback
(pg_cluster.make_pair, shared with test_db_replica.py and
test_cluster.py) under a site with
    database_host = 127.0.0.1:PRIMARY
    database_read_hosts = 127.0.0.1:REPLICA
and the webmail.  With the primary stopped and the replica up:
- IMAP LOGIN, SELECT and FETCH of a message delivered before work;
- the webmail logs in (POST /api/login gives a session), lists the
  Inbox and shows a message, quickly (no hang on the dead primary);
- a webmail session made before the outage keeps working; its logout
  during the outage holds after the primary is back (401, not revived);
- the admin API's writes answer 503 with a JSON error
  (temporary_failure), never 500, and work again once the primary is
  back;
- a session made during the outage still works after the primary comes
  back, and is then in SQL (known to every webmail process);
- mail sent to the MX during the outage is delivered (lmtpd only reads).
"""
import hashlib
import imaplib
import os
import smtplib
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (BUILD, SiteTestCase, free_ports,  # noqa: E402
                          listening, maildir_has_subject, run_postern,
                          tls_context, wait_for)
from adminapi import Api  # noqa: E402
from pg_cluster import make_pair  # noqa: E402
from test_webmail_api import Client  # noqa: E402

ADDRESS = "ann@down.example"
PASSWORD = "pw-ann-12345"
# Far above a login on a live database (tens of ms), far below a hang:
# the dead primary must not be waited for at every request.
SLOW = 8.0


class PrimaryDown(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        if not os.access(os.path.join(BUILD, "postern-webmail"), os.X_OK):
            raise unittest.SkipTest("no postern-webmail")
        p1, p2 = free_ports(2)
        make_pair(cls, p1, p2)
        cls.make_site("db-primary-down-")
        run_postern(cls.dir, "config", "set", *cls.pick_ports(),
                    "database_driver=pgsql",
                    "database_host=127.0.0.1:%d" % p1,
                    "database_read_hosts=127.0.0.1:%d" % p2,
                    "database_name=postern", "database_user=postgres",
                    "database_timeout=2s", "stop_timeout=5s")
        run_postern(cls.dir, "init")  # schema and token on the primary
        run_postern(cls.dir, "domain", "add", "down.example")
        run_postern(cls.dir, "mailbox", "add", ADDRESS,
                    "--password-stdin", stdin=PASSWORD + "\n")
        # A second webmail process (B), as a second node behind a
        # balancer would be: it has cached none of A's sessions.
        cls.port_b = free_ports(1)[0]
        with open(os.path.join(cls.dir, "services.cf"), "a") as f:
            f.write("webmail-b inet 127.0.0.1:%d none 1 postern-webmail\n"
                    % cls.port_b)
        run_postern(cls.dir, "start")
        cls.started = True
        for port in (cls.ports["webmail"], cls.port_b):
            wait_for(lambda: listening(port), timeout=15,
                     what="webmail on port %d" % port)
        with open(os.path.join(cls.dir, "admin-token")) as f:
            cls.api = Api(cls.ports["admin_api"], f.read().strip())
        cls.send("before the outage")
        wait_for(lambda: cls.delivered("before the outage"), timeout=30,
                 what="the first message")

    @classmethod
    def send(cls, subject):
        with smtplib.SMTP("127.0.0.1", cls.ports["smtp"], timeout=30) as s:
            return s.sendmail("sender@remote.example", [ADDRESS],
                              "Subject: %s\r\n\r\nbody\r\n" % subject)

    @classmethod
    def delivered(cls, subject):
        return maildir_has_subject(cls.dir, "down.example", "ann", subject)

    def setUp(self):
        for pg in (self.primary, self.replica):
            if not pg.running():
                pg.start()

    def webmail(self):
        return Client(self.ports["webmail"])

    def on_b(self, c):
        """The same browser (cookie, CSRF token) at webmail B."""
        b = Client(self.port_b)
        b.cookie, b.csrf = c.cookie, c.csrf
        return b

    def rows(self, cookie):
        """The session's rows on the primary (0 or 1)."""
        h = hashlib.sha256(cookie.encode()).hexdigest()
        return int(self.primary.psql(
            "SELECT count(*) FROM webmail_sessions WHERE id_hash = '%s'"
            % h))

    def subjects(self, c):
        st, _, doc = c.get("/api/folders/INBOX/messages")
        self.assertEqual(st, 200, doc)
        return [m.get("subject") for m in doc["items"]]

    def test_1_imap_reads_with_the_primary_down(self):
        self.primary.stop()
        with imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=30) as c:
            c.starttls(ssl_context=tls_context())
            self.assertEqual(c.login(ADDRESS, PASSWORD)[0], "OK")
            self.assertEqual(c.select("INBOX")[0], "OK")
            typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            self.assertEqual(typ, "OK")
            self.assertIn(b"before the outage", data[0][1])
            self.assertEqual(c.store("1", "+FLAGS", "\\Flagged")[0], "OK")
        with imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=30) as c:
            c.starttls(ssl_context=tls_context())
            with self.assertRaises(imaplib.IMAP4.error):
                c.login(ADDRESS, "wrong-password")

    def test_2_webmail_and_admin_api_across_an_outage(self):
        before = self.webmail()  # logged in on a live primary
        self.assertEqual(before.login(ADDRESS, PASSWORD)[0], 200)
        ended = self.webmail()  # logged out during the outage
        self.assertEqual(ended.login(ADDRESS, PASSWORD)[0], 200)
        ended_cookie = ended.cookie
        # Both rows reached the replica (after test_1 restarted the
        # primary, the replica reconnects within about 5 s).
        wait_for(lambda: self.replica.psql(
            "SELECT count(*) FROM webmail_sessions") == "2",
            timeout=30, what="the sessions on the replica")
        self.primary.stop()

        c = self.webmail()
        t0 = time.time()
        st, h, doc = c.login(ADDRESS, PASSWORD)
        took = time.time() - t0
        self.assertEqual(st, 200, doc)
        self.assertTrue(c.cookie)
        self.assertLess(took, SLOW)
        t0 = time.time()
        self.assertIn("before the outage", self.subjects(c))
        st, _, doc = c.get("/api/folders/INBOX/messages")
        uid = [m["uid"] for m in doc["items"]
               if m.get("subject") == "before the outage"][0]
        st, _, doc = c.get("/api/folders/INBOX/messages/%d" % uid)
        self.assertEqual(st, 200, doc)
        self.assertIn("body", str(doc))
        st, _, doc = c.get("/api/session")
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["address"], ADDRESS)
        self.assertLess(time.time() - t0, SLOW)
        print("\nwebmail login with the primary down: %.0f ms"
              % (took * 1000), file=sys.stderr)
        # A wrong password is still refused (the replica has the hash).
        self.assertEqual(self.webmail().login(ADDRESS, "nope")[0], 401)
        # CSRF is still checked on the outage session.
        st, _, _ = c.post("/api/actions", {}, csrf=False)
        self.assertEqual(st, 403)

        # The session made before the outage goes on, also on B, which
        # has never seen it: B reads it from the replica.
        self.assertIn("before the outage", self.subjects(before))
        self.assertIn("before the outage", self.subjects(self.on_b(before)))
        # The outage session lives in A only until the primary is back
        # (documented): B refuses it cleanly.
        self.assertEqual(self.on_b(c).get("/api/session")[0], 401)
        # A logout during the outage holds.
        self.assertEqual(ended.post("/api/logout")[0], 204)
        probe = self.webmail()
        probe.cookie = ended_cookie
        self.assertEqual(probe.get("/api/session")[0], 401)

        # Writes that need the primary: 503 with a JSON error, promptly.
        t0 = time.time()
        r = self.api.post("/api/v1/mailboxes",
                          {"address": "new@down.example",
                           "password": "pw-new-12345"})
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json["error"]["code"], "temporary_failure", r)
        self.assertLess(time.time() - t0, SLOW)
        r = self.api.get("/api/v1/domains")  # its tokens: the primary
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json["error"]["code"], "temporary_failure", r)

        self.primary.start()
        # The admin API recovers on its own.
        wait_for(lambda: self.api.post(
            "/api/v1/mailboxes", {"address": "new@down.example",
                                  "password": "pw-new-12345"}).status
            == 201, timeout=30, what="the admin API after the outage")
        # The outage session goes on, gets its row on the primary (at
        # its next request checked against SQL, or the sweep), and from
        # then on works on B too.
        wait_for(lambda: c.get("/api/session")[0] == 200 and
                 self.rows(c.cookie) == 1,
                 timeout=30, what="the outage session's row on the primary")
        self.assertIn("before the outage", self.subjects(c))
        self.assertIn("before the outage", self.subjects(self.on_b(c)))
        self.assertIn("before the outage", self.subjects(before))
        # The logout made during the outage was not undone: refused on
        # A, its row deleted now, so refused on B too.
        self.assertEqual(self.rows(ended_cookie), 1)
        self.assertEqual(probe.get("/api/session")[0], 401)
        self.assertEqual(self.rows(ended_cookie), 0)
        self.assertEqual(self.on_b(probe).get("/api/session")[0], 401)
        outage_cookie = c.cookie
        self.assertEqual(c.post("/api/logout")[0], 204)
        probe.cookie = outage_cookie
        self.assertEqual(probe.get("/api/session")[0], 401)

    def test_3_mail_is_delivered_with_the_primary_down(self):
        self.primary.stop()
        self.assertEqual(self.send("during the outage"), {})
        wait_for(lambda: self.delivered("during the outage"), timeout=30,
                 what="delivery with the primary down")


if __name__ == "__main__":
    unittest.main()
