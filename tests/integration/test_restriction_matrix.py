#!/usr/bin/env python3
"""The restriction matrix of issue 8: what test_smtpd_restrictions.py,
test_policy_service.py and test_greylist.py leave out, each case one that
would fail if the restriction, action or rule were ignored
(docs/restrictions.md, "Tested by", lists where every item is shown).

- access maps of every type smtpd can open (cidr, pcre, lmdb, sql on
  SQLite, inline, static; texthash is in test_smtpd_restrictions.py),
  one check_*_access each;
- Postfix's evaluation rules: the first match wins in a list, DUNNO goes
  on to the next restriction, OK in the client list does not skip the
  recipient list, a class name (as a word or as an access result)
  expands, smtpd_delay_reject=yes defers client/HELO/sender refusals to
  RCPT and =no gives them at connect/EHLO/MAIL, smtpd_helo_required,
  warn_if_reject accepts (the message is delivered) and logs
  reject_warning;
- permit_sasl_authenticated (AUTH after STARTTLS);
- smtpd_data_restrictions with an access map;
- HOLD, DISCARD, REDIRECT and PREPEND from an access map acting on the
  message: held in the queue, dropped, delivered to another mailbox, a
  header added;
- HOLD, DISCARD, FILTER, REDIRECT and PREPEND found by the client list
  (and PREPEND by the HELO list), with smtpd_delay_reject=yes (found at
  RCPT) and =no (found at connect / EHLO, before any transaction): every
  message of the session gets the action, as Postfix.

Clients connect from loopback sources 127.0.0.x (127.0.0.1 is verified as
"localhost" by libunbound's local 127.in-addr.arpa zone, the others have
no name).  No DNS-based restriction is used here, so no DNS server.
"""
import os
import re
import smtplib
import socketserver
import sqlite3
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (SiteTestCase, SmtpReceiver,  # noqa: E402
                          SmtpSession, free_ports, run_postern, tls_context,
                          wait_for)
from restriction_site import SETTINGS  # noqa: E402

Client = SmtpSession  # raw SMTP from a chosen 127.0.0.x source
DOM = "hosted.example"

# main.cf restriction classes; the recipient list dispatches to them on
# the address extension (alice+NAME@DOM -> m_NAME).
CLASSES = {
    "m_first_permit": "permit, reject",
    "m_first_reject": "reject, permit",
    "m_dunno": "check_recipient_access inline:{ "
               "{ alice+dunno@hosted.example = DUNNO } }, "
               "check_recipient_access static:{REJECT static said no}, permit",
    "m_okfirst": "check_recipient_access inline:{ "
                 "{ alice+okfirst@hosted.example = OK } }, "
                 "check_recipient_access static:{REJECT static said no}, "
                 "permit",
    "m_warn": "warn_if_reject, check_sender_access inline:{ "
              "{ w@warn.example = REJECT warned sender } }, permit",
    "m_nowarn": "check_sender_access inline:{ "
                "{ w@warn.example = REJECT warned sender } }, permit",
    "m_sasl": "permit_sasl_authenticated, reject",
    "m_hold": "check_recipient_access inline:{ "
              "{ alice+hold@hosted.example = HOLD held by map } }, permit",
    "m_discard": "check_recipient_access inline:{ "
                 "{ alice+discard@hosted.example = DISCARD } }, reject",
    "m_redirect": "check_recipient_access inline:{ "
                  "{ alice+redirect@hosted.example = "
                  "REDIRECT carol@hosted.example } }, permit",
    "m_prepend": "check_recipient_access inline:{ "
                 "{ alice+prepend@hosted.example = "
                 "PREPEND X-Access-Tag: tagged by map } }, permit",
    # The result of the client cidr table for 127.0.0.22.
    "m_deferall": "defer",
    # smtpd_end_of_data_restrictions' result for 127.0.0.29.
    "m_eodreject": "reject",
}

CLIENT_CIDR = """\
127.0.0.20/32  REJECT cidr says no
127.0.0.21/32  OK
127.0.0.22/32  m_deferall
127.0.0.23/32  DUNNO
127.0.0.26/31  550 5.7.2 cidr range refused
127.0.0.40/32  HOLD held at connect
127.0.0.41/32  DISCARD dropped at connect
127.0.0.42/32  FILTER smtp:[127.0.0.1]:{fport}
127.0.0.43/32  REDIRECT carol@hosted.example
127.0.0.44/32  PREPEND X-Client-Tag: tagged by client map
"""

HELO_PCRE = r"""/^(\S+)\.pcre-block\.example$/  REJECT helo $1 blocked
/\.pcre-ok\.example$/  OK
/^tag\.helo-act\.example$/  PREPEND X-Helo-Tag: tagged by helo map
"""

SENDER_LMDB = """\
lmdb@block.example  REJECT lmdb sender
lmdb-domain.example  450 4.7.3 lmdb domain later
hold@block.example  HOLD held at mail
"""


class EodPolicy(socketserver.ThreadingTCPServer):
    """A policy service (Postfix's delegation protocol) that refuses the
    sender policy-eod@block.example at END-OF-MESSAGE only and records
    every protocol_state it was asked about."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.states = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                attrs = {}
                for line in self.rfile:
                    line = line.decode().rstrip("\n")
                    if line:
                        k, _, v = line.partition("=")
                        attrs[k] = v
                        continue
                    outer.states.append(attrs.get("protocol_state"))
                    refuse = (attrs.get("protocol_state") ==
                              "END-OF-MESSAGE" and attrs.get("sender") ==
                              "policy-eod@block.example")
                    self.wfile.write(b"action=%s\n\n" % (
                        b"REJECT policy at eod" if refuse else b"DUNNO"))
                    attrs = {}

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class RestrictionMatrixTests(SiteTestCase):

    @classmethod
    def set_up_site(cls):
        cls.policy = EodPolicy()
        cls.make_site("postern-rmatrix.")
        d = cls.dir
        settings = cls.pick_ports()
        cls.port2, cls.fport = free_ports(2)  # fport: FILTER's next hop
        run_postern(d, "config", "set", *settings, *SETTINGS)
        with open(os.path.join(d, "client.cidr"), "w") as f:
            f.write(CLIENT_CIDR.format(fport=cls.fport))
        with open(os.path.join(d, "helo.pcre"), "w") as f:
            f.write(HELO_PCRE)
        with open(os.path.join(d, "sender"), "w") as f:
            f.write(SENDER_LMDB)
        run_postern(d, "map", "build", "lmdb:" + os.path.join(d, "sender"))
        # sql: on a SQLite file of its own.
        db = os.path.join(d, "access.sqlite")
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE access (k TEXT PRIMARY KEY, action TEXT)")
        con.execute("INSERT INTO access VALUES ('sql@block.example', "
                    "'REJECT sql sender')")
        con.commit()
        con.close()
        with open(os.path.join(d, "sender-sql.cf"), "w") as f:
            f.write("driver = sqlite\ndbpath = %s\n"
                    "query = SELECT action FROM access WHERE k = '%%s'\n"
                    % db)
        with open(os.path.join(d, "rcpt_dispatch"), "w") as f:
            for name in CLASSES:
                f.write("alice+%s@%s %s\n" % (name[2:], DOM, name))
            f.write("alice@%s OK\n" % DOM)
        with open(os.path.join(d, "main.cf"), "a") as f:
            f.write("smtpd_restriction_classes = %s\n" % " ".join(CLASSES))
            for name, value in CLASSES.items():
                f.write("%s = %s\n" % (name, value))
            f.write(
                "smtpd_client_restrictions = check_client_access "
                "cidr:%(d)s/client.cidr,\n"
                "    check_client_access inline:{ "
                "{ 127.0.0.23 = REJECT dunno went on } }\n"
                "smtpd_helo_restrictions = check_helo_access "
                "pcre:%(d)s/helo.pcre\n"
                "smtpd_sender_restrictions = check_sender_access "
                "lmdb:%(d)s/sender,\n"
                "    check_sender_access sql:%(d)s/sender-sql.cf\n"
                "smtpd_recipient_restrictions = check_recipient_access "
                "texthash:%(d)s/rcpt_dispatch, reject\n"
                "smtpd_data_restrictions = check_client_access inline:{ "
                "{ 127.0.0.25 = REJECT no data from you } }\n"
                "smtpd_end_of_data_restrictions = check_sender_access "
                "inline:{ { eod@block.example = REJECT too late } },\n"
                "    check_client_access inline:{ "
                "{ 127.0.0.29 = m_eodreject } },\n"
                "    check_policy_service inet:127.0.0.1:%(pp)d\n"
                % {"d": d, "pp": cls.policy.server_address[1]})
        with open(os.path.join(d, "services.cf"), "w") as f:
            f.write(
                "smtp   inet  127.0.0.1:$smtp_port  starttls  1  "
                "postern-smtpd\n"
                "smtp2  inet  127.0.0.1:%d  none  1  postern-smtpd "
                "-o smtpd_delay_reject=no -o smtpd_helo_required=yes\n"
                "queue  unix  $queue_socket  none  1  postern-queued\n"
                "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n"
                % cls.port2)
        cls.start_with_mailboxes(DOM, ("alice", "carol"))

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.policy.shutdown()
        cls.policy.server_close()

    # ---- helpers

    def session(self, client="127.0.0.1", helo="client.good.example",
                sender="s@good.example", port=None):
        """A client past EHLO and MAIL (both asserted 250)."""
        c = Client(port or self.port, client)
        self.assertTrue(c.greeting.startswith("220"), c.greeting)
        r = c.cmd("EHLO " + helo)
        self.assertTrue(r.startswith("250"), r)
        r = c.cmd("MAIL FROM:<%s>" % sender)
        self.assertTrue(r.startswith("250"), r)
        return c

    def rcpt(self, rcpt, **kw):
        c = self.session(**kw)
        try:
            return c.cmd("RCPT TO:<%s>" % rcpt)
        finally:
            c.close()

    def alice(self, ext, **kw):
        return self.rcpt("alice+%s@%s" % (ext, DOM), **kw)

    def send(self, ext, client="127.0.0.1", sender="s@good.example"):
        """Send a message with a fresh token to alice+EXT: (token, the
        reply to the end of DATA)."""
        tok = uuid.uuid4().hex
        c = self.session(client=client, sender=sender)
        try:
            r = c.cmd("RCPT TO:<alice+%s@%s>" % (ext, DOM))
            self.assertTrue(r.startswith("250"), r)
            self.assertTrue(c.cmd("DATA").startswith("354"))
            r = c.cmd("Subject: %s\r\n\r\nbody %s\r\n." % (tok, tok))
            return tok, r
        finally:
            c.close()

    def find(self, user, tok):
        for sub in ("new", "cur"):
            top = os.path.join(self.dir, "mail", DOM, user, sub)
            for fn in (os.listdir(top) if os.path.isdir(top) else []):
                try:
                    with open(os.path.join(top, fn), "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    continue
                if tok.encode() in data:
                    return data.replace(b"\r\n", b"\n").decode()
        return None

    def delivered(self, tok, user="alice"):
        return wait_for(lambda: self.find(user, tok), 20,
                        "mail for %s with %s\n%s" % (user, tok,
                                                     self.log()[-3000:]))

    # ---- map types, one check_*_access each

    def test_cidr_client_access(self):
        self.assertEqual(self.rcpt("alice@" + DOM, client="127.0.0.20"),
                         "554 5.7.1 <unknown[127.0.0.20]>: Client host "
                         "rejected: cidr says no")
        # A /31 entry covers .26 and .27, not .28; a 5xx text result.
        for client in ("127.0.0.26", "127.0.0.27"):
            self.assertEqual(self.rcpt("alice@" + DOM, client=client),
                             "550 5.7.2 cidr range refused")
        self.assertTrue(self.rcpt("alice@" + DOM, client="127.0.0.28")
                        .startswith("250"))

    def test_pcre_helo_access(self):
        self.assertEqual(self.rcpt("alice@" + DOM,
                                   helo="x1.pcre-block.example"),
                         "554 5.7.1 <x1.pcre-block.example>: Helo command "
                         "rejected: helo x1 blocked")
        # Case-insensitive by default, as Postfix's pcre tables.
        # (smtpd lower-cases the HELO name it looks up and quotes.)
        self.assertRegex(self.rcpt("alice@" + DOM,
                                   helo="Y2.PCRE-BLOCK.example"),
                         r"(?i)^554 5\.7\.1 <y2\.pcre-block\.example>: Helo "
                         r"command rejected: helo y2 blocked$")
        self.assertTrue(self.rcpt("alice@" + DOM, helo="pcre-block.example")
                        .startswith("250"))

    def test_lmdb_sender_access(self):
        self.assertEqual(self.rcpt("alice@" + DOM,
                                   sender="lmdb@block.example"),
                         "554 5.7.1 <lmdb@block.example>: Sender address "
                         "rejected: lmdb sender")
        # The domain key matches any user; a 4xx text result.
        self.assertEqual(self.rcpt("alice@" + DOM,
                                   sender="anyone@lmdb-domain.example"),
                         "450 4.7.3 lmdb domain later")
        self.assertTrue(self.rcpt("alice@" + DOM,
                                  sender="other@block.example")
                        .startswith("250"))

    def test_sql_sender_access(self):
        self.assertEqual(self.rcpt("alice@" + DOM,
                                   sender="sql@block.example"),
                         "554 5.7.1 <sql@block.example>: Sender address "
                         "rejected: sql sender")

    def test_inline_and_static(self):
        # inline: the client list's second table (after cidr's DUNNO).
        self.assertEqual(self.rcpt("alice@" + DOM, client="127.0.0.23"),
                         "554 5.7.1 <unknown[127.0.0.23]>: Client host "
                         "rejected: dunno went on")
        # static: answers every key (m_dunno / m_okfirst below).
        self.assertEqual(self.alice("dunno"),
                         "554 5.7.1 <alice+dunno@%s>: Recipient address "
                         "rejected: static said no" % DOM)

    # ---- evaluation rules

    def test_first_match_wins(self):
        self.assertTrue(self.alice("first_permit").startswith("250 "))
        self.assertEqual(self.alice("first_reject"),
                         "554 5.7.1 <alice+first_reject@%s>: Recipient "
                         "address rejected: Access denied" % DOM)
        # OK from the first table ends the class before static's REJECT.
        self.assertTrue(self.alice("okfirst").startswith("250 "))

    def test_dunno_goes_on(self):
        # DUNNO in cidr: the inline table after it refuses 127.0.0.23
        # (test_inline_and_static); DUNNO in inline: static refuses.
        self.assertEqual(self.alice("dunno"),
                         "554 5.7.1 <alice+dunno@%s>: Recipient address "
                         "rejected: static said no" % DOM)

    def test_client_ok_does_not_skip_recipient_list(self):
        # 127.0.0.21 is OK in the client list; the recipient list still
        # runs and ends with reject for a recipient it does not permit.
        self.assertEqual(self.rcpt("carol@" + DOM, client="127.0.0.21"),
                         "554 5.7.1 <carol@%s>: Recipient address rejected: "
                         "Access denied" % DOM)
        self.assertTrue(self.rcpt("alice@" + DOM, client="127.0.0.21")
                        .startswith("250"))

    def test_class_name_as_result(self):
        # The cidr table answers m_deferall for 127.0.0.22: the class's
        # "defer" decides.
        self.assertEqual(self.rcpt("alice@" + DOM, client="127.0.0.22"),
                         "450 4.3.2 <unknown[127.0.0.22]>: Client host "
                         "rejected: Try again later")

    def test_delay_reject_yes(self):
        # Client, HELO and sender refusals all wait for RCPT: connect,
        # EHLO and MAIL pass (self.session asserts 220/250/250).
        for kw, want in [
                ({"client": "127.0.0.20"}, "Client host rejected"),
                ({"helo": "z.pcre-block.example"}, "Helo command rejected"),
                ({"sender": "lmdb@block.example"},
                 "Sender address rejected")]:
            r = self.rcpt("alice@" + DOM, **kw)
            self.assertTrue(r.startswith("554 5.7.1") and want in r, r)
        # Postfix's form: name[addr], "unknown" with no name.
        self.wait_log(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.20\]: "
                      r"554 5\.7\.1 <unknown\[127\.0\.0\.20\]>: Client host "
                      r"rejected: cidr says no")

    def test_delay_reject_no(self):
        # smtp2: each list at its own command.
        c = Client(self.port2, "127.0.0.20")
        try:
            self.assertEqual(c.greeting, "554 5.7.1 <unknown[127.0.0.20]>: "
                             "Client host rejected: cidr says no")
            self.assertEqual(c.cmd("EHLO ok.good.example"),
                             "503 5.7.0 Error: access denied for "
                             "unknown[127.0.0.20]")
        finally:
            c.close()
        c = Client(self.port2, "127.0.0.8")
        try:
            self.assertTrue(c.greeting.startswith("220"), c.greeting)
            self.assertEqual(c.cmd("EHLO a.pcre-block.example"),
                             "554 5.7.1 <a.pcre-block.example>: Helo "
                             "command rejected: helo a blocked")
            self.assertTrue(c.cmd("EHLO a.pcre-ok.example")
                            .startswith("250"))
            self.assertEqual(c.cmd("MAIL FROM:<lmdb@block.example>"),
                             "554 5.7.1 <lmdb@block.example>: Sender "
                             "address rejected: lmdb sender")
            self.assertTrue(c.cmd("MAIL FROM:<s@good.example>")
                            .startswith("250"))
            self.assertTrue(c.cmd("RCPT TO:<alice@%s>" % DOM)
                            .startswith("250"))
        finally:
            c.close()

    def test_helo_required(self):
        # smtp2 has smtpd_helo_required=yes, smtp the default no.
        c = Client(self.port2, "127.0.0.8")
        try:
            self.assertEqual(c.cmd("VRFY alice"),
                             "503 5.5.1 Error: send HELO/EHLO first")
        finally:
            c.close()
        c = Client(self.port, "127.0.0.8")
        try:
            r = c.cmd("VRFY alice")
            self.assertFalse(r.startswith("503"), r)
        finally:
            c.close()

    def test_warn_if_reject(self):
        # Without warn_if_reject the same table refuses ...
        self.assertEqual(self.alice("nowarn", sender="w@warn.example"),
                         "554 5.7.1 <w@warn.example>: Sender address "
                         "rejected: warned sender")
        # ... with it the message is accepted, delivered, and logged.
        tok, r = self.send("warn", sender="w@warn.example")
        self.assertTrue(r.startswith("250 "), r)
        self.delivered(tok)
        self.wait_log(r"reject_warning: RCPT from localhost\[127\.0\.0\.1\]: "
                      r"554 5\.7\.1 <w@warn\.example>: Sender address "
                      r"rejected: warned sender")

    def test_permit_sasl_authenticated(self):
        to = "alice+sasl@" + DOM
        self.assertEqual(self.rcpt(to), "554 5.7.1 <%s>: Recipient address "
                         "rejected: Access denied" % to)
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=20,
                         source_address=("127.0.0.8", 0))
        try:
            s.ehlo("client.good.example")
            s.starttls(context=tls_context())
            s.ehlo("client.good.example")
            s.login("carol@" + DOM, "pw-carol-secret")
            self.assertEqual(s.mail("carol@" + DOM)[0], 250)
            self.assertEqual(s.rcpt(to)[0], 250)
        finally:
            s.quit()

    def test_data_restrictions(self):
        c = self.session(client="127.0.0.25")
        try:
            self.assertTrue(c.cmd("RCPT TO:<alice@%s>" % DOM)
                            .startswith("250"))
            self.assertEqual(c.cmd("DATA"),
                             "554 5.7.1 <unknown[127.0.0.25]>: Client host "
                             "rejected: no data from you")
        finally:
            c.close()
        tok, r = self.send("first_permit", client="127.0.0.24")
        self.assertTrue(r.startswith("250 "), r)

    def test_end_of_data_restrictions(self):
        # Refused after the final dot (RCPT and DATA passed): the refusal
        # replaces the 250 and nothing is delivered.
        tok, r = self.send("first_permit", sender="eod@block.example")
        self.assertEqual(r, "554 5.7.1 <eod@block.example>: Sender address "
                         "rejected: too late")
        tok2, r = self.send("first_permit", client="127.0.0.29")
        self.assertEqual(r, "554 5.7.1 <END-OF-MESSAGE>: End-of-data "
                         "rejected: Access denied")
        self.wait_log(r"NOQUEUE: reject: END-OF-MESSAGE from "
                      r"unknown\[127\.0\.0\.29\]: 554 5\.7\.1 "
                      r"<END-OF-MESSAGE>: End-of-data rejected")
        # A policy service asked at END-OF-MESSAGE.
        tok3, r = self.send("first_permit", sender="policy-eod@block.example")
        self.assertEqual(r, "554 5.7.1 <END-OF-MESSAGE>: End-of-data "
                         "rejected: policy at eod")
        self.assertIn("END-OF-MESSAGE", self.policy.states)
        # BDAT's last chunk too; the session goes on afterwards.
        c = self.session(sender="eod@block.example")
        try:
            self.assertTrue(c.cmd("RCPT TO:<alice@%s>" % DOM)
                            .startswith("250"))
            body = b"Subject: bdat\r\n\r\nbody\r\n"
            c.send(b"BDAT %d LAST\r\n" % len(body) + body)
            self.assertEqual(c.reply(), "554 5.7.1 <eod@block.example>: "
                             "Sender address rejected: too late")
            self.assertTrue(c.cmd("MAIL FROM:<s@good.example>")
                            .startswith("250"))
        finally:
            c.close()
        ctl, r = self.send("first_permit", client="127.0.0.28")
        self.assertTrue(r.startswith("250 "), r)
        self.delivered(ctl)
        time.sleep(0.5)
        self.assertIsNone(self.find("alice", tok))
        self.assertIsNone(self.find("alice", tok2))
        self.assertIsNone(self.find("alice", tok3))

    # ---- actions acting on the message

    def test_hold(self):
        tok, r = self.send("hold")
        m = re.match(r"^250 2\.0\.0 Ok: queued as (\S+)$", r)
        self.assertTrue(m, r)
        qid = m.group(1)
        wait_for(lambda: re.search(r"(?m)^%s\s*!" % qid, run_postern(
            self.dir, "queue", "list").stdout), 10, "held " + qid)
        self.wait_log(r"hold: RCPT from .*<alice\+hold@hosted\.example>: "
                      r"Recipient address triggers hold: held by map")
        time.sleep(1)
        self.assertIsNone(self.find("alice", tok))
        run_postern(self.dir, "queue", "release", qid)
        self.delivered(tok)

    def test_hold_at_mail(self):
        # smtpd_delay_reject=no (smtp2): HOLD found by the sender list at
        # MAIL holds the message too.
        tok = uuid.uuid4().hex
        c = Client(self.port2, "127.0.0.8")
        try:
            self.assertTrue(c.cmd("EHLO ok.good.example").startswith("250"))
            self.assertTrue(c.cmd("MAIL FROM:<hold@block.example>")
                            .startswith("250"))
            self.assertTrue(c.cmd("RCPT TO:<alice@%s>" % DOM)
                            .startswith("250"))
            self.assertTrue(c.cmd("DATA").startswith("354"))
            r = c.cmd("Subject: %s\r\n\r\nbody %s\r\n." % (tok, tok))
        finally:
            c.close()
        m = re.match(r"^250 2\.0\.0 Ok: queued as (\S+)$", r)
        self.assertTrue(m, r)
        qid = m.group(1)
        wait_for(lambda: re.search(r"(?m)^%s\s*!" % qid, run_postern(
            self.dir, "queue", "list").stdout), 10, "held " + qid)
        run_postern(self.dir, "queue", "release", qid)
        self.delivered(tok)

    def test_discard(self):
        # m_discard ends with reject: DISCARD permits (ends the list).
        tok, r = self.send("discard")
        self.assertRegex(r, r"^250 2\.0\.0 Ok: queued as \S+$")
        ctl, r = self.send("first_permit")
        self.assertTrue(r.startswith("250 "), r)
        self.delivered(ctl)
        time.sleep(0.5)
        self.assertIsNone(self.find("alice", tok))
        self.wait_log(r"discard: from=<s@good\.example>")

    def test_redirect(self):
        tok, r = self.send("redirect")
        self.assertTrue(r.startswith("250 "), r)
        data = self.delivered(tok, "carol")
        self.assertIn("body " + tok, data)
        self.assertIsNone(self.find("alice", tok))
        self.wait_log(r"redirect: all recipients replaced by "
                      r"<carol@hosted\.example>")

    def test_prepend(self):
        tok, r = self.send("prepend")
        self.assertTrue(r.startswith("250 "), r)
        data = self.delivered(tok)
        head = data.split("\n\n", 1)[0]
        self.assertIn("\nX-Access-Tag: tagged by map\n", head)
        # Before smtpd's Received header, as Postfix (lmtpd adds its own
        # at delivery, above both).
        self.assertLess(head.index("X-Access-Tag:"),
                        head.index("Received: from client.good.example"))

    # ---- actions from the client and HELO lists, for every message of
    # the session; smtp (port) has smtpd_delay_reject=yes, smtp2 (port2)
    # =no, where the lists run at connect and EHLO, before any MAIL.

    def send_two(self, port, client, helo="client.good.example"):
        """Two messages to alice in one session: [(token, reply to the
        end of DATA)] (MAIL, RCPT and DATA asserted accepted)."""
        out = []
        c = Client(port, client)
        try:
            self.assertTrue(c.greeting.startswith("220"), c.greeting)
            self.assertTrue(c.cmd("EHLO " + helo).startswith("250"))
            for _ in range(2):
                tok = uuid.uuid4().hex
                for cmd, want in [("MAIL FROM:<s@good.example>", "250"),
                                  ("RCPT TO:<alice@%s>" % DOM, "250"),
                                  ("DATA", "354")]:
                    r = c.cmd(cmd)
                    self.assertTrue(r.startswith(want), (cmd, r))
                out.append((tok, c.cmd("Subject: %s\r\n\r\nbody %s\r\n."
                                       % (tok, tok))))
        finally:
            c.close()
        return out

    def both_ports(self):
        return [("delay_reject=yes", self.port),
                ("delay_reject=no", self.port2)]

    def test_session_hold(self):
        for name, port in self.both_ports():
            with self.subTest(name):
                qids = []
                for tok, r in self.send_two(port, "127.0.0.40"):
                    m = re.match(r"^250 2\.0\.0 Ok: queued as (\S+)$", r)
                    self.assertTrue(m, r)
                    qids.append((m.group(1), tok))
                for qid, _ in qids:
                    wait_for(lambda: re.search(
                        r"(?m)^%s\s*!" % qid, run_postern(
                            self.dir, "queue", "list").stdout), 10,
                        "held " + qid)
                time.sleep(0.5)
                for qid, tok in qids:
                    self.assertIsNone(self.find("alice", tok))
                    run_postern(self.dir, "queue", "release", qid)
                    self.delivered(tok)

    def test_session_discard(self):
        for name, port in self.both_ports():
            with self.subTest(name):
                sent = self.send_two(port, "127.0.0.41")
                for _, r in sent:
                    self.assertRegex(r, r"^250 2\.0\.0 Ok: queued as \S+$")
                ctl, r = self.send("first_permit")
                self.assertTrue(r.startswith("250 "), r)
                self.delivered(ctl)
                time.sleep(0.5)
                for tok, _ in sent:
                    self.assertIsNone(self.find("alice", tok))

    def test_session_filter(self):
        nexthop = SmtpReceiver("127.0.0.1", self.fport)
        try:
            for name, port in self.both_ports():
                with self.subTest(name):
                    sent = self.send_two(port, "127.0.0.42")
                    for tok, r in sent:
                        self.assertTrue(r.startswith("250 "), r)
                        got = wait_for(lambda: [
                            m for m in nexthop.messages
                            if tok.encode() in m["data"]], 20,
                            "the filter's copy\n" + self.log()[-2000:])
                        self.assertEqual(got[0]["rcpts"], ["alice@" + DOM])
                    time.sleep(0.5)
                    for tok, _ in sent:
                        self.assertIsNone(self.find("alice", tok))
        finally:
            nexthop.stop()
        self.wait_log(r"filter: access: smtp:\[127\.0\.0\.1\]:%d"
                      % self.fport)

    def test_session_redirect(self):
        for name, port in self.both_ports():
            with self.subTest(name):
                sent = self.send_two(port, "127.0.0.43")
                for tok, r in sent:
                    self.assertTrue(r.startswith("250 "), r)
                    self.assertIn("body " + tok, self.delivered(tok, "carol"))
                for tok, _ in sent:
                    self.assertIsNone(self.find("alice", tok))

    def test_session_prepend(self):
        for name, port in self.both_ports():
            with self.subTest(name):
                for tok, r in self.send_two(port, "127.0.0.44"):
                    self.assertTrue(r.startswith("250 "), r)
                    head = self.delivered(tok).split("\n\n", 1)[0]
                    self.assertEqual(head.count(
                        "X-Client-Tag: tagged by client map\n"), 1, head)
                    self.assertNotIn("X-Helo-Tag:", head)

    def test_session_helo_prepend(self):
        for name, port in self.both_ports():
            with self.subTest(name):
                for tok, r in self.send_two(port, "127.0.0.8",
                                            helo="tag.helo-act.example"):
                    self.assertTrue(r.startswith("250 "), r)
                    head = self.delivered(tok).split("\n\n", 1)[0]
                    self.assertEqual(head.count(
                        "X-Helo-Tag: tagged by helo map\n"), 1, head)
        # A second EHLO with another name drops the first one's action.
        c = Client(self.port2, "127.0.0.8")
        tok = uuid.uuid4().hex
        try:
            self.assertTrue(c.cmd("EHLO tag.helo-act.example")
                            .startswith("250"))
            self.assertTrue(c.cmd("EHLO other.good.example")
                            .startswith("250"))
            for cmd in ("MAIL FROM:<s@good.example>",
                        "RCPT TO:<alice@%s>" % DOM, "DATA"):
                self.assertTrue(c.cmd(cmd)[0] in "23", cmd)
            r = c.cmd("Subject: %s\r\n\r\nbody %s\r\n." % (tok, tok))
            self.assertTrue(r.startswith("250 "), r)
        finally:
            c.close()
        self.assertNotIn("X-Helo-Tag:", self.delivered(tok))


if __name__ == "__main__":
    unittest.main()
