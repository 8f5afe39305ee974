#!/usr/bin/env python3
"""The webmail's message list kept per (user, folder) in the process
(webmail/wm-order.c): order, paging, conversations and unread counts
stay right after a new delivery, a flag change and an expunge, the
thread ids of the message view and of search results are the list's,
and they are the groups IMAP THREAD=REFERENCES gives.

Runs on the site of test_webmail_api.py (its WebmailBase: LMTP and the
webmail), with IMAP added for the THREAD comparison.  Programs come from
$POSTERN_BUILD_DIR (default ./build).
"""
import imaplib
import os
import re
import secrets
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_webmail_api  # noqa: E402
from postern_site import run_postern  # noqa: E402
from test_webmail_api import PASSWORD, WebmailBase, message  # noqa: E402

test_webmail_api.SERVICES += (
    "imap         inet  $inet_interfaces:$imap_port            none"
    "      1  postern-imapd\n")


def day(n):
    return "%s, %02d Jan 2024 12:00:00 +0000" % (
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][(n - 1) % 7], n)


def imap_groups(nested):
    """The UID sets of an IMAP THREAD answer's top-level threads."""
    groups, depth, cur = [], 0, set()
    for tok in re.findall(r"\(|\)|\d+", nested):
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
            if depth == 0:
                groups.append(frozenset(cur))
                cur = set()
        else:
            cur.add(int(tok))
    return set(groups)


class WebmailList(WebmailBase):
    EXTRA = ["imapd_plaintext_loopback=yes"]

    def setUp(self):
        self.rcpt = "lst-%s" % secrets.token_hex(3)
        run_postern(self.dir, "mailbox", "add", self.addr(self.rcpt),
                    "--password-stdin", stdin=PASSWORD + "\n")

    def put(self, n, subject, sender, msgid, refs=None, body=""):
        self.deliver(self.addr(self.rcpt), message(
            subject, sender=sender, date=day(n), msgid=msgid, refs=refs,
            body=body + "\ntext of " + subject + "\n"))

    def subjects(self, c, **params):
        return [m["subject"] for m in self.listing(c, **params)["items"]]

    def by_subject(self, c):
        return {m["subject"]: m for m in self.listing(c, limit=500)["items"]}

    def imap_threads(self):
        port = self.ports.get("imap")
        if port is None:
            self.skipTest("no IMAP port in this site")
        m = imaplib.IMAP4("127.0.0.1", port)
        try:
            m.login(self.addr(self.rcpt), PASSWORD)
            m.select("INBOX", readonly=True)
            typ, data = m.uid("THREAD", "REFERENCES", "UTF-8", "ALL")
            self.assertEqual(typ, "OK", data)
            return imap_groups(b" ".join(d for d in data if d).decode())
        finally:
            m.logout()

    def web_groups(self, c):
        groups = {}
        for it in self.listing(c, limit=500)["items"]:
            groups.setdefault(it["thread"], set()).add(it["uid"])
        for tid, uids in groups.items():
            # The id is the UID of a member (the thread's first message).
            self.assertIn(tid, uids)
        return {frozenset(u) for u in groups.values()}

    def test_changes_keep_list_right(self):
        self.put(1, "Plan", "Pia <pia@x.test>", "<plan@x.test>")
        self.put(2, "Budget", "Al <al@x.test>", "<budget@x.test>",
                 body="b" * 5000)
        self.put(3, "Re: Plan", "Bo <bo@x.test>", "<plan2@x.test>",
                 "<plan@x.test>")
        self.put(4, "Menu", "Cy <cy@x.test>", "<menu@x.test>")
        self.put(5, "Re: Plan", "Al <al@x.test>", "<plan3@x.test>",
                 "<plan@x.test> <plan2@x.test>")
        c = self.client(self.rcpt)
        c2 = self.client(self.rcpt)  # a second session of the same user
        self.assertEqual(self.subjects(c), ["Re: Plan", "Menu", "Re: Plan",
                                            "Budget", "Plan"])
        self.assertEqual(self.subjects(c, limit=2, offset=1),
                         ["Menu", "Re: Plan"])
        self.assertEqual([m["from"]["name"] for m in
                          self.listing(c, sort="from")["items"]],
                         ["Al", "Al", "Bo", "Cy", "Pia"])
        self.assertEqual(self.listing(c, sort="size")["items"][0]["subject"],
                         "Budget")
        th = self.listing(c, threads=1)
        self.assertEqual(th["total"], 3)
        self.assertEqual([(m["subject"], m["thread_count"])
                          for m in th["items"]],
                         [("Re: Plan", 3), ("Menu", 1), ("Budget", 1)])
        s = self.by_subject(c)
        plan_uid = s["Plan"]["uid"]
        self.assertEqual(th["items"][0]["thread"], plan_uid)
        self.assertEqual(self.web_groups(c), self.imap_threads())

        # The message view and search results carry the list's ids.
        menu = s["Menu"]
        reply = [m for m in self.listing(c)["items"]
                 if m["subject"] == "Re: Plan"][0]
        st, _, v = c.get("/api/folders/INBOX/messages/%d?mark_seen=0" %
                         reply["uid"])
        self.assertEqual(st, 200, v)
        self.assertEqual((v["thread"], v["thread_count"]), (plan_uid, 3))
        st, _, v = c.get("/api/folders/INBOX/messages/%d?mark_seen=0" %
                         menu["uid"])
        self.assertEqual((v["thread"], v["thread_count"]),
                         (menu["uid"], 1))
        st, _, res = c.get("/api/search?subject=plan&folder=INBOX")
        self.assertEqual(st, 200, res)
        self.assertEqual(len(res["items"]), 3, res)
        for it in res["items"]:
            self.assertEqual((it["thread"], it["thread_count"]),
                             (plan_uid, 3), it)

        # A delivery: in place in every order, in its thread, unread.
        self.put(6, "Re: Menu", "Di <di@x.test>", "<menu2@x.test>",
                 "<menu@x.test>")
        doc = self.listing(c)
        self.assertEqual(doc["total"], 6)
        self.assertEqual(doc["unread"], 6)
        self.assertEqual([m["subject"] for m in doc["items"]],
                         ["Re: Menu", "Re: Plan", "Menu", "Re: Plan",
                          "Budget", "Plan"])
        self.assertEqual([m["from"]["name"] for m in
                          self.listing(c, sort="from")["items"]],
                         ["Al", "Al", "Bo", "Cy", "Di", "Pia"])
        th = self.listing(c2, threads=1)
        self.assertEqual([(m["subject"], m["thread"], m["thread_count"])
                          for m in th["items"]],
                         [("Re: Menu", menu["uid"], 2),
                          ("Re: Plan", plan_uid, 3),
                          ("Budget", s["Budget"]["uid"], 1)])
        self.assertEqual(self.web_groups(c), self.imap_threads())

        # A flag change: marks and counts follow, the order does not move.
        before = [m["uid"] for m in self.listing(c)["items"]]
        st, _, doc = c.post("/api/actions", {
            "folder": "INBOX", "action": "seen",
            "uids": [s["Budget"]["uid"], menu["uid"]]})
        self.assertEqual(st, 200, doc)
        st, _, doc = c.post("/api/actions", {
            "folder": "INBOX", "action": "flag", "uids": [plan_uid]})
        self.assertEqual(st, 200, doc)
        for cl in (c, c2):
            doc = self.listing(cl)
            self.assertEqual([m["uid"] for m in doc["items"]], before)
            self.assertEqual(doc["unread"], 4)
            marks = {m["uid"]: (m["seen"], m["flagged"])
                     for m in doc["items"]}
            self.assertEqual(marks[s["Budget"]["uid"]], (True, False))
            self.assertEqual(marks[menu["uid"]], (True, False))
            self.assertEqual(marks[plan_uid], (False, True))
            self.assertEqual(marks[reply["uid"]], (False, False))
        st, _, doc = c.post("/api/actions", {
            "folder": "INBOX", "action": "unseen", "uids": [menu["uid"]]})
        self.assertEqual(st, 200, doc)
        self.assertEqual(self.listing(c2)["unread"], 5)
        self.assertFalse(self.by_subject(c2)["Menu"]["seen"])

        # An expunge of a thread's first message: the thread goes on
        # under the next one's UID, as IMAP THREAD groups it.
        trash = self.folder(c, "Trash")
        st, _, doc = c.post("/api/actions", {
            "folder": "INBOX", "action": "delete", "uids": [plan_uid]})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc["done"], 1)
        doc = self.listing(c)
        self.assertEqual(doc["total"], 5)
        self.assertEqual([m["subject"] for m in doc["items"]],
                         ["Re: Menu", "Re: Plan", "Menu", "Re: Plan",
                          "Budget"])
        self.assertNotIn(plan_uid, [m["uid"] for m in doc["items"]])
        plans = sorted(m["uid"] for m in doc["items"]
                       if m["subject"] == "Re: Plan")
        for m in doc["items"]:
            if m["subject"] == "Re: Plan":
                self.assertEqual((m["thread"], m["thread_count"]),
                                 (plans[0], 2))
        th = self.listing(c2, threads=1)
        self.assertEqual(th["total"], 3)
        self.assertEqual(th["messages"], 5)
        st, _, t = c.get("/api/folders/INBOX/threads/%d" % plans[1])
        self.assertEqual(st, 200, t)
        self.assertEqual([m["uid"] for m in t["items"]], plans)
        self.assertEqual(self.web_groups(c), self.imap_threads())
        if trash is not None:
            self.assertEqual(self.folder(c, "Trash")["total"],
                             trash["total"] + 1)

    def test_paging_covers_every_message_once(self):
        for i in range(1, 24):
            self.put(i, "Item %02d" % i, "S%02d <s%d@x.test>" % (i % 5, i),
                     "<item%d@x.test>" % i,
                     "<item%d@x.test>" % (i - 3) if i > 3 and i % 4 == 0
                     else None, body="z" * (i * 37 % 11 * 100))
        c = self.client(self.rcpt)
        for sort in ("date", "from", "subject", "size"):
            for order in ("asc", "desc"):
                whole = self.listing(c, sort=sort, order=order,
                                     limit=500)["items"]
                paged = []
                for off in range(0, 23, 5):
                    paged += self.listing(c, sort=sort, order=order,
                                          offset=off, limit=5)["items"]
                self.assertEqual(paged, whole, (sort, order))
                self.assertEqual(len({m["uid"] for m in paged}), 23)
        rev = [m["uid"] for m in
               self.listing(c, sort="subject", order="desc")["items"]]
        fwd = [m["uid"] for m in
               self.listing(c, sort="subject", order="asc",
                            limit=500)["items"]]
        self.assertEqual(rev, list(reversed(fwd))[:50])
        self.assertEqual(self.web_groups(c), self.imap_threads())


if __name__ == "__main__":
    unittest.main()
