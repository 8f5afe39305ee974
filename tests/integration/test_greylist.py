#!/usr/bin/env python3
"""check_greylist (mta/smtpd-greylist.c): greylisting in the SQL
database, through a real postern-smtpd, on SQLite, PostgreSQL and
MariaDB (the last two under run-all.sh or dbservers.sh).

A new (client /24, sender, recipient) triplet is deferred; a retry after
greylist_delay passes, and so does every later attempt; a different
triplet is deferred again; a client network whose triplets passed
greylist_auto_allow_count times passes at once.  Each run uses its own
random 127.x.y.0/24 client networks and domain, so rows left in a shared
server database by earlier runs change nothing.  Also: old rows are
deleted (SQLite, where the test can read the table), and a database that
is down gives 451 4.3.0 (or lets mail through with
greylist_tempfail_action = dunno).
"""
import os
import random
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (DriverSite, SiteTestCase,  # noqa: E402
                          free_ports, per_driver, smtp_rcpt)

DELAY = 2
TEXT = "Greylisted, please try again later"


_USED_NETS = set()


def random_net():
    """A /24 of 127/8 that no earlier run used (all of 127/8 is local),
    nor an earlier test of this run (two tests drawing one /24 would
    share its triplets and its auto-allow count)."""
    while True:
        net = "127.%d.%d" % (random.randint(1, 254), random.randint(0, 254))
        if net not in _USED_NETS:
            _USED_NETS.add(net)
            return net


class GreylistBase(DriverSite):
    """The tests, run by one SiteTestCase subclass per driver."""

    @classmethod
    def set_up_site(cls):
        settings = cls.make_driver_site("postern-grey-")
        cls.dom = "gl-%06x.example" % random.getrandbits(24)
        cls.rcpt_addr = "alice@" + cls.dom
        cls.port2 = free_ports(1)[0]
        settings += ["myhostname=mx.test", "stop_timeout=5s",
                     "database_timeout=5s",
                     "smtpd_recipient_restrictions=check_greylist",
                     "greylist_delay=%ds" % DELAY,
                     "greylist_auto_allow_count=2"]
        cls.configure_driver(
            settings,
            "smtp   inet  127.0.0.1:$smtp_port  none  1  postern-smtpd\n"
            # Everything short, so old rows are due at once.
            "smtp2  inet  127.0.0.1:%d  none  1  postern-smtpd "
            "-o greylist_delay=1s -o greylist_retry_window=1s "
            "-o greylist_max_age=1s -o greylist_cleanup_interval=1s\n"
            "queue  unix  $queue_socket  none  1  postern-queued\n"
            "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n"
            % cls.port2)
        cls.add_domain(cls.dom)
        cls.add_mailbox(cls.rcpt_addr)
        cls.start_driver_site()

    def deferred(self, rcpt):
        return "450 4.7.1 <%s>: Recipient address rejected: %s" % (rcpt,
                                                                   TEXT)

    def try_rcpt(self, source, sender, rcpt=None, port=None):
        return smtp_rcpt(port or self.port, sender, rcpt or self.rcpt_addr,
                         source)

    def test_defer_then_accept(self):
        net = random_net()
        a, b = net + ".5", net + ".9"
        sender = "s1@sender.example"
        want = self.deferred(self.rcpt_addr)
        self.assertEqual(self.try_rcpt(a, sender), want)
        self.assertEqual(self.try_rcpt(a, sender), want)
        time.sleep(DELAY + 1)
        self.assertTrue(self.try_rcpt(a, sender).startswith("250 "))
        self.assertTrue(self.try_rcpt(a, sender).startswith("250 "))
        # The same /24 is the same client; the case of the addresses
        # does not matter.
        self.assertTrue(self.try_rcpt(b, "S1@Sender.Example")
                        .startswith("250 "))
        # A different triplet is deferred again: sender, client network.
        self.assertEqual(self.try_rcpt(a, "s2@sender.example"), want)
        self.assertEqual(self.try_rcpt(random_net() + ".5", sender), want)

    def test_auto_allow(self):
        net = random_net()
        a = net + ".7"
        want = self.deferred(self.rcpt_addr)
        self.assertEqual(self.try_rcpt(a, "x1@sender.example"), want)
        self.assertEqual(self.try_rcpt(a, "x2@sender.example"), want)
        time.sleep(DELAY + 1)
        self.assertTrue(self.try_rcpt(a, "x1@sender.example")
                        .startswith("250 "))
        # One pass is not enough (greylist_auto_allow_count = 2).
        self.assertEqual(self.try_rcpt(a, "x3@sender.example"), want)
        self.assertTrue(self.try_rcpt(a, "x2@sender.example")
                        .startswith("250 "))
        # Two passes: new triplets of that network pass at once.
        self.assertTrue(self.try_rcpt(a, "x4@sender.example")
                        .startswith("250 "))
        self.assertTrue(self.try_rcpt(net + ".200", "x5@sender.example")
                        .startswith("250 "))


class GreylistSqlite(GreylistBase, SiteTestCase):
    DRIVER = "sqlite"

    def rows(self, net):
        db = sqlite3.connect(os.path.join(self.dir, "postern.db"))
        try:
            return db.execute("SELECT COUNT(*) FROM greylist WHERE "
                              "client_net = ?", (net,)).fetchone()[0]
        finally:
            db.close()

    def test_cleanup(self):
        net = random_net()
        self.assertTrue(self.try_rcpt(net + ".1", "old@sender.example",
                                      port=self.port2).startswith("450 "))
        self.assertEqual(self.rows(net + ".0/24"), 1)
        # Past delay + retry window, and cleanup due: the next check
        # (any triplet) deletes the row.
        time.sleep(3.5)
        self.try_rcpt(random_net() + ".1", "new@sender.example",
                      port=self.port2)
        self.assertEqual(self.rows(net + ".0/24"), 0)


GreylistPgsql, GreylistMysql = per_driver(GreylistBase, ("pgsql", "mysql"))


class GreylistDbDown(SiteTestCase):
    """PostgreSQL that is down: 451 4.3.0, never a silent accept."""

    @classmethod
    def set_up_site(cls):
        cls.port2 = free_ports(1)[0]
        cls.start_db_down_site(
            "postern-grey-down.", "smtp_port",
            "smtp inet 127.0.0.1:$smtp_port none 1 postern-smtpd\n"
            "smtp2 inet 127.0.0.1:%d none 1 postern-smtpd "
            "-o greylist_tempfail_action=dunno" % cls.port2,
            "mynetworks=127.0.0.0/8",
            "smtpd_recipient_restrictions=check_greylist")

    def test_defer(self):
        time.sleep(0.5)
        r = smtp_rcpt(self.port, "s@sender.example", "bob@remote.example")
        self.assertEqual(r, "451 4.3.0 <bob@remote.example>: Recipient "
                         "address rejected: Temporary lookup failure")

    def test_dunno(self):
        # Let through by the greylist, the recipient goes on to its
        # resolution, which fails too (the resolver's own reply).
        r = smtp_rcpt(self.port2, "s@sender.example", "bob@remote.example")
        self.assertEqual(r, "451 4.3.0 Temporary lookup failure")
        with open(os.path.join(self.dir, "log", "postern.log"),
                  errors="replace") as f:
            self.assertIn("greylist_tempfail_action = dunno", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
