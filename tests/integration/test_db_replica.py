#!/usr/bin/env python3
"""Read/write split and failover on a real PostgreSQL primary with a
streaming replica (issue 9, docs/scaling.md).

The test makes its own two PostgreSQL 15 servers on loopback (initdb, then
pg_basebackup -R for the replica) and a Postern site with
    database_host = 127.0.0.1:PRIMARY
    database_read_hosts = 127.0.0.1:REPLICA
and shows:
- a mailbox created through the admin API (a write: the primary) is
  accepted at RCPT (a lookup: the replica) after the replication lag,
  which is measured and printed;
- with the primary stopped, lookups still answer from the replica: RCPT
  to a known mailbox gets 250, an unknown one 550 (not 451), logins
  (IMAP LOGIN, SMTP AUTH on submission) read the replica too and
  succeed, a wrong password is still refused, and the admin API's
  writes fail as they must;
- with the replica stopped, lookups fall back to the primary with no
  failed transaction: every message of a burst gets 250 and is delivered;
- with both stopped, RCPT is 451 4.3.0, never 5xx and never 250;
- database_host with two servers fails over from a dead first one.
"""
import imaplib
import os
import smtplib
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (SiteTestCase, free_ports,  # noqa: E402
                          maildir_has_subject, run_postern, tls_context,
                          wait_for)
from adminapi import Api  # noqa: E402
from pg_cluster import make_pair  # noqa: E402


class ReplicaSplit(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        p1, p2 = free_ports(2)
        make_pair(cls, p1, p2)

        cls.make_site("db-replica-")
        run_postern(cls.dir, "config", "set", *cls.pick_ports(),
                    "database_driver=pgsql",
                    "database_host=127.0.0.1:%d" % p1,
                    "database_read_hosts=127.0.0.1:%d" % p2,
                    "database_name=postern", "database_user=postgres",
                    "database_timeout=2s")
        run_postern(cls.dir, "init")  # schema and token on the primary
        run_postern(cls.dir, "domain", "add", "repl.example")
        run_postern(cls.dir, "mailbox", "add", "ann@repl.example",
                    "--password-stdin", stdin="pw-ann-123\n")
        run_postern(cls.dir, "start")
        cls.started = True
        with open(os.path.join(cls.dir, "admin-token")) as f:
            cls.api = Api(cls.ports["admin_api"], f.read().strip())

    def setUp(self):
        # Each test leaves both servers running.
        for pg in (self.primary, self.replica):
            if not pg.running():
                pg.start()

    def rcpt(self, address):
        with smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example")
            s.mail("sender@remote.example")
            return s.rcpt(address)

    def send(self, address, subject):
        with smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=30) as s:
            return s.sendmail("sender@remote.example", [address],
                              "Subject: %s\r\n\r\nbody\r\n" % subject)

    def delivered(self, user, subject):
        return maildir_has_subject(self.dir, "repl.example", user, subject)

    def test_1_new_mailbox_reaches_lookups_after_the_lag(self):
        r = self.api.post("/api/v1/mailboxes",
                          {"address": "new1@repl.example",
                           "password": "pw-new-12345"})
        self.assertEqual(r.status, 201, r)
        t0 = time.time()  # after the 201: the primary has committed
        wait_for(lambda: self.rcpt("new1@repl.example")[0] == 250,
                 timeout=10, what="the new mailbox at RCPT")
        lag = time.time() - t0
        print("\nmailbox committed on the primary -> accepted at RCPT "
              "via the replica: %.0f ms" % (lag * 1000), file=sys.stderr)
        self.assertLess(lag, 2.0)
        # It was the replica that answered: the row is there.
        self.assertEqual(self.replica.psql(
            "SELECT count(*) FROM mailboxes WHERE address = "
            "'new1@repl.example'"), "1")

    def test_2_lookups_read_the_replica_when_the_primary_is_down(self):
        self.primary.stop()
        code, _ = self.rcpt("ann@repl.example")
        self.assertEqual(code, 250)
        code, msg = self.rcpt("nobody@repl.example")
        self.assertEqual(code, 550, msg)  # a real answer, not 451
        # Logins read the replica (passdb_verify_split), not the primary.
        with imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=30) as c:
            c.starttls(ssl_context=tls_context())
            self.assertEqual(c.login("ann@repl.example", "pw-ann-123")[0],
                             "OK")
            self.assertEqual(c.select("INBOX")[0], "OK")
        with imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=30) as c:
            c.starttls(ssl_context=tls_context())
            with self.assertRaises(imaplib.IMAP4.error):
                c.login("ann@repl.example", "wrong-password")
        with smtplib.SMTP("127.0.0.1", self.ports["submission"],
                          timeout=30) as s:
            s.starttls(context=tls_context())
            self.assertEqual(s.login("ann@repl.example", "pw-ann-123")[0],
                             235)
        # Writes need the primary: the admin API says so, loses nothing.
        r = self.api.post("/api/v1/mailboxes",
                          {"address": "new2@repl.example",
                           "password": "pw-new-12345"})
        self.assertGreaterEqual(r.status, 500, r)
        self.primary.start()

    def test_3_replica_down_falls_back_to_the_primary(self):
        # Warm the pools onto the replica first.
        self.assertEqual(self.rcpt("ann@repl.example")[0], 250)
        self.replica.stop()
        t0 = time.time()
        for i in range(20):
            self.assertEqual(self.send("ann@repl.example",
                                       "fallback %d" % i), {})
        took = time.time() - t0
        for i in range(20):
            wait_for(lambda: self.delivered("ann", "fallback %d" % i),
                     timeout=30, what="delivery %d" % i)
        print("\n20 messages with the replica down: all 250, all "
              "delivered; sending took %.1f s" % took, file=sys.stderr)

    def test_4_both_down_is_a_tempfail(self):
        self.replica.stop()
        self.primary.stop()
        code, msg = self.rcpt("ann@repl.example")
        self.assertEqual(code, 451, msg)
        self.assertIn(b"4.3.0", msg)


class HostList(SiteTestCase):
    """database_host = DEAD, LIVE: every lookup answers, after one
    connect failure per retry period."""

    @classmethod
    def set_up_site(cls):
        if "PG_PORT" not in os.environ:
            raise unittest.SkipTest("PG_PORT unset (run under run-all.sh)")
        cls.make_site("db-hosts-")
        dead = free_ports(1)[0]
        env = os.environ
        run_postern(cls.dir, "config", "set", *cls.pick_ports(),
                    "database_driver=pgsql",
                    "database_host=127.0.0.1:%d, %s:%s"
                    % (dead, env["PG_HOST"], env["PG_PORT"]),
                    "database_name=" + env["PG_DATABASE"],
                    "database_user=" + env["PG_USER"],
                    "database_password=" + env["PG_PASSWORD"])
        run_postern(cls.dir, "init")
        run_postern(cls.dir, "domain", "add", "hosts.example")
        run_postern(cls.dir, "mailbox", "add", "bo@hosts.example",
                    "--password-stdin", stdin="pw-bo-12345\n")
        run_postern(cls.dir, "start")
        cls.started = True  # tearDownClass stops the daemons

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "dir"):
            run_postern(cls.dir, "domain", "del", "hosts.example",
                        check=False)
        super().tearDownClass()

    def test_failover_to_the_second_host(self):
        for _ in range(5):
            with smtplib.SMTP("127.0.0.1", self.ports["smtp"],
                              timeout=30) as s:
                s.ehlo("client.example")
                s.mail("x@remote.example")
                self.assertEqual(s.rcpt("bo@hosts.example")[0], 250)
                self.assertEqual(s.rcpt("nobody@hosts.example")[0], 550)
        with open(os.path.join(self.dir, "log", "postern.log")) as f:
            self.assertIn("does not answer", f.read())


if __name__ == "__main__":
    unittest.main()
