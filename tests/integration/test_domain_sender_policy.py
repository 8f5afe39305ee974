#!/usr/bin/env python3
"""A hosted domain's own sender policy (issue 8,
docs/domain-sender-policy.md): the admin API's
/api/v1/domains/{name}/sender-policy (GET, PUT, DELETE; validation
errors; a domain admin sees only their own domains) and smtpd's
check_domain_sender_access on real daemons, on SQLite, and on PostgreSQL
and MariaDB under run-all.sh or dbservers.sh.

SMTP outcomes: a blocked sender address, domain or subdomain gets 550
5.7.1 at RCPT for that domain only (mail to another hosted domain
passes); a more specific allow beats a domain block; a client network
block refuses every sender the list does not allow by address; allow is
OK for the restriction list (a service whose list ends in `reject`
accepts only allowed senders); an emptied list lets everything through
again; changes apply at once (no reload: the list is read per RCPT).
"""
import os
import secrets
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adminapi import Api  # noqa: E402
from postern_site import (DriverSite, free_ports,  # noqa: E402
                          per_driver, smtp_rcpt)

V1 = "/api/v1"


class PolicyBase(DriverSite):
    @classmethod
    def set_up_site(cls):
        settings = cls.make_driver_site("postern-dsp-")
        cls.port2 = free_ports(1)[0]
        settings += ["mynetworks=192.0.2.0/24", "myhostname=mx.test",
                     "stop_timeout=5s", "database_timeout=5s",
                     "smtpd_recipient_restrictions="
                     "check_domain_sender_access, reject_unauth_destination"]
        cls.configure_driver(
            settings,
            "smtp   inet  127.0.0.1:$smtp_port  none  1  postern-smtpd\n"
            # allow is OK for the list: only allowed senders pass.
            "smtp2  inet  127.0.0.1:%d  none  1  postern-smtpd "
            "-o smtpd_recipient_restrictions="
            "check_domain_sender_access,reject\n"
            "queue  unix  $queue_socket  none  1  postern-queued\n"
            "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n"
            "admin-api inet 127.0.0.1:$admin_api_port none 1 "
            "postern-admin-api\n" % cls.port2)
        with open(os.path.join(cls.dir, "admin-token")) as f:
            cls.api = Api(cls.ports["admin_api"], f.read().strip())
        tag = secrets.token_hex(4)
        cls.dom = "dsp-%s.test" % tag
        cls.other = "dsp2-%s.test" % tag
        for d in (cls.dom, cls.other):
            cls.add_domain(d)
            cls.add_mailbox("alice@" + d)
        cls.start_driver_site()

    def path(self, dom=None):
        return "%s/domains/%s/sender-policy" % (V1, dom or self.dom)

    def put(self, entries, dom=None, api=None):
        return (api or self.api).call("PUT", self.path(dom),
                                      {"entries": entries})

    def setUp(self):
        r = self.api.delete(self.path())
        self.assertEqual(r.status, 204, r)

    def rcpt(self, sender, dom=None, port=None):
        return smtp_rcpt(port or self.port, sender,
                         "alice@" + (dom or self.dom))

    # ---- admin API

    def test_api_crud(self):
        r = self.api.get(self.path())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["items"], [])
        self.assertEqual(r.json["total"], 0)
        r = self.put([
            {"kind": "sender", "value": "Spam.Example", "action": "block"},
            {"value": "Boss@Spam.Example", "action": "allow"},
            {"kind": "client", "value": "198.51.100.77/24",
             "action": "block"},
        ])
        self.assertEqual(r.status, 200, r)
        got = [(e["kind"], e["value"], e["action"]) for e in r.json["items"]]
        self.assertEqual(got, [
            ("client", "198.51.100.0/24", "block"),
            ("sender", "boss@spam.example", "allow"),
            ("sender", "spam.example", "block")])
        self.assertEqual(r.json["total"], 3)
        self.assertIsInstance(r.json["items"][0]["created_at"], int)
        self.assertEqual(self.api.get(self.path()).json["items"],
                         r.json["items"])
        # PUT replaces the whole list.
        r = self.put([{"value": ".sub.example", "action": "block"}])
        self.assertEqual([e["value"] for e in r.json["items"]],
                         [".sub.example"])
        r = self.api.delete(self.path())
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.api.get(self.path()).json["total"], 0)
        # The change is audited.
        r = self.api.get(V1 + "/audit?limit=1000")
        acts = [a for a in r.json["items"]
                if a.get("action") == "domain.sender_policy"]
        self.assertTrue(acts, r.json["items"][-3:])

    def test_api_errors(self):
        bad = [
            {"kind": "sender", "value": "x.example", "action": "maybe"},
            {"kind": "robot", "value": "x.example", "action": "block"},
            {"kind": "client", "value": "300.1.2.3", "action": "block"},
            {"kind": "client", "value": "192.0.2.0/33", "action": "block"},
            {"kind": "sender", "value": "", "action": "block"},
            {"kind": "sender", "value": "not an address@", "action": "block"},
            {"kind": "sender", "value": "x.example", "action": "block",
             "extra": 1},
            {"kind": "sender", "value": 5, "action": "block"},
        ]
        for e in bad:
            r = self.put([e])
            self.assertEqual(r.status, 422, (e, r))
            self.assertEqual(r.json["error"]["code"], "invalid_value", r)
        # Listed twice (after normalisation).
        r = self.put([{"value": "a.example", "action": "block"},
                      {"value": "A.Example", "action": "allow"}])
        self.assertEqual(r.status, 422, r)
        r = self.api.call("PUT", self.path(), {"items": []})
        self.assertEqual(r.status, 422, r)
        r = self.api.call("PUT", self.path(), raw=b"{not json")
        self.assertEqual(r.status, 400, r)
        r = self.put([], dom="nowhere-%s.test" % secrets.token_hex(3))
        self.assertEqual(r.status, 404, r)
        r = self.api.get(self.path("nowhere.test"))
        self.assertEqual(r.status, 404, r)
        r = self.api.get(self.path(), token="wrong")
        self.assertEqual(r.status, 401, r)
        # Nothing was stored by the failures.
        self.assertEqual(self.api.get(self.path()).json["total"], 0)

    def test_api_domain_admin_isolation(self):
        user = "dspadm-%s" % secrets.token_hex(3)
        r = self.api.post(V1 + "/admins", {
            "username": user, "password": "a long password 123",
            "role": "domain", "domains": [self.dom]})
        self.assertEqual(r.status, 201, r)
        r = self.api.post(V1 + "/tokens", {
            "username": user, "password": "a long password 123"}, token=None)
        self.assertEqual(r.status, 201, r)
        mine = self.api.with_token(r.json["token"])
        r = self.put([{"value": "x.example", "action": "block"}], api=mine)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(mine.get(self.path()).json["total"], 1)
        for call in (lambda: mine.get(self.path(self.other)),
                     lambda: self.put([], dom=self.other, api=mine),
                     lambda: mine.delete(self.path(self.other))):
            r = call()
            self.assertEqual(r.status, 403, r)
        self.api.delete(V1 + "/admins/" + user)

    # ---- SMTP

    def test_smtp_no_policy_accepts(self):
        self.assertTrue(self.rcpt("a@spam.example").startswith("250 "))

    def test_smtp_block_and_allow(self):
        self.put([{"value": "spam.example", "action": "block"},
                  {"value": "boss@spam.example", "action": "allow"},
                  {"value": "one@elsewhere.example", "action": "block"},
                  {"value": ".sub.example", "action": "block"}])
        want = ("550 5.7.1 <a@spam.example>: Sender address rejected: "
                "Access denied by the sender policy of %s" % self.dom)
        self.assertEqual(self.rcpt("a@spam.example"), want)
        self.assertTrue(self.rcpt("A@SPAM.example").startswith("550 5.7.1"))
        self.assertTrue(self.rcpt("boss@spam.example").startswith("250 "))
        self.assertTrue(self.rcpt("one@elsewhere.example")
                        .startswith("550 5.7.1"))
        self.assertTrue(self.rcpt("two@elsewhere.example")
                        .startswith("250 "))
        self.assertTrue(self.rcpt("x@a.sub.example").startswith("550 5.7.1"))
        self.assertTrue(self.rcpt("x@sub.example").startswith("250 "))
        # Only this domain's recipients are concerned.
        self.assertTrue(self.rcpt("a@spam.example", dom=self.other)
                        .startswith("250 "))
        # Emptied: accepted again, at once.
        self.api.delete(self.path())
        self.assertTrue(self.rcpt("a@spam.example").startswith("250 "))

    def test_smtp_client_network(self):
        self.put([{"kind": "client", "value": "127.0.0.0/8",
                   "action": "block"},
                  {"value": "friend@ok.example", "action": "allow"}])
        self.assertTrue(self.rcpt("other@ok.example").startswith("550 5.7.1"))
        self.assertTrue(self.rcpt("friend@ok.example").startswith("250 "))
        # A longer prefix that allows wins.
        self.put([{"kind": "client", "value": "127.0.0.0/8",
                   "action": "block"},
                  {"kind": "client", "value": "127.0.0.1",
                   "action": "allow"}])
        self.assertTrue(self.rcpt("other@ok.example").startswith("250 "))

    def test_smtp_allow_is_ok(self):
        self.put([{"value": "friend@ok.example", "action": "allow"}])
        self.assertTrue(self.rcpt("friend@ok.example", port=self.port2)
                        .startswith("250 "))
        r = self.rcpt("stranger@ok.example", port=self.port2)
        self.assertTrue(r.startswith("554 5.7.1"), r)
        self.wait_log(r"check_domain_sender_access: from=<friend@ok.example>"
                      r" to=<alice@%s> client=127.0.0.1: allowed by "
                      r"sender:friend@ok.example" % self.dom)


PolicySqlite, PolicyPgsql, PolicyMysql = per_driver(PolicyBase)


if __name__ == "__main__":
    unittest.main(verbosity=2)
