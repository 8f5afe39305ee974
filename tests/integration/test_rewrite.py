#!/usr/bin/env python3
"""Address rewriting as Postfix's cleanup does it (docs/rewriting.md):
canonical, sender_canonical and recipient_canonical maps, masquerading
with "!" and exceptions, relocated_maps, append_at_myorigin with
myorigin = $mydomain, and header rewriting for local clients only
(local_header_rewrite_clients; remote_header_rewrite_domain empty).

Every expected address is written below with the Postfix rule that gives
it.  The same tables, configuration and messages were run through a real
Postfix 3.7.11 when this test was written (postfix start-fg in a temporary
config folder, d.test a virtual mailbox domain whose virtual_transport is
an smtp-sink dumping what it gets; docs/rewriting.md has the recipe): the
envelopes, the header addresses and the relocated replies below are what
it produced, for the mynetworks, remote and sendmail cases (that Postfix
had no SASL, so the authenticated case rests on the
permit_sasl_authenticated rule alone).  One difference: Postfix
re-serialises a rewritten field and so unfolds it; we splice the new
addresses in and keep the folding.

Mail goes to hosted mailboxes and is read from their Maildir: the
envelope sender shows as Return-Path, the final recipient as the
mailbox the file lands in.  A client from 127.0.0.2 is in $mynetworks;
one from 127.0.0.1 is not (and is not authenticated): a remote client.
"""
import glob
import os
import smtplib
import socket
import subprocess
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (POSTERN, SiteTestCase, SmtpReceiver,  # noqa: E402
                          free_ports, run_postern, tls_context, wait_for)

SERVICES = """\
# written by test_rewrite.py
smtp         inet  $inet_interfaces:$smtp_port            starttls  1  postern-smtpd
submission   inet  $inet_interfaces:$submission_port      starttls  1  postern-smtpd
lmtp-unix    unix  $lmtp_socket                           none      1  postern-lmtpd
queue        unix  $queue_socket                          none      1  postern-queued
"""

PASSWORD = "correct horse battery"

TABLES = {
    # canonical(5) "user@domain address" and "@domain address" forms.
    "canonical": "joe@d.test joe.user@d.test\n"
                 "@old.test @d.test\n",
    # Only senders (sender_canonical_classes: envelope_sender,
    # header_sender).
    "sender_canonical": "alice@d.test Alice.Smith@d.test\n",
    # Only recipients: info@ is nobody's mailbox, it becomes bob's.
    "recipient_canonical": "info@d.test bob@d.test\n",
    "relocated": "gone@d.test carol@new.test\n",
    # smtpd_sender_login_maps (docs/restrictions.md): the submission
    # service refuses a sender its login does not own, and host.d.test
    # is not hosted; the way a Postfix site with
    # reject_sender_login_mismatch lets bob send as his host address.
    "sender_login": "bob@host.d.test bob@d.test\n",
}

# The header block every SMTP test sends (the body repeats an address
# line: bodies are never rewritten).
HEADERS = ("From: Alice <alice@d.test>\r\n"
           "To: joe@d.test, \"Old\" <bob@old.test>\r\n"
           "Cc: someone@host.d.test, root@host.d.test,\r\n"
           " x@a.keep.d.test\r\n"
           "Reply-To: unqualified\r\n"
           "Subject: joe@d.test %s\r\n")
BODY = "\r\nFrom: alice@d.test\r\nTo: joe@d.test\r\n"

# What Postfix's cleanup makes of HEADERS for a client whose headers it
# rewrites (a local one):
LOCAL_HEADERS = [
    # sender_canonical_maps (header_sender is in its classes).
    b"From: Alice <Alice.Smith@d.test>\r\n",
    # canonical "user@domain" and "@domain" (the @domain result keeps
    # the user); masquerading of header_recipient leaves d.test as it is
    # (a domain equal to a masquerade domain is not changed).
    b"To: joe.user@d.test, \"Old\" <bob@d.test>\r\n",
    # masquerade_domains = !keep.d.test, d.test: host.d.test -> d.test;
    # root is in masquerade_exceptions; a.keep.d.test is under the "!"
    # domain and stays.  The folding is kept.
    b"Cc: someone@d.test, root@host.d.test,\r\n x@a.keep.d.test\r\n",
    # append_at_myorigin with myorigin = $mydomain (mail.d.test minus its
    # first label).
    b"Reply-To: unqualified@d.test\r\n",
]
# ... and for a remote client with remote_header_rewrite_domain empty:
# nothing at all (ADDRESS_REWRITING_README, "Rewriting message headers
# from remote SMTP clients").
REMOTE_HEADERS = [
    b"From: Alice <alice@d.test>\r\n",
    b"To: joe@d.test, \"Old\" <bob@old.test>\r\n",
    b"Cc: someone@host.d.test, root@host.d.test,\r\n x@a.keep.d.test\r\n",
    b"Reply-To: unqualified\r\n",
]


class Rewrite(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-rewrite.")
        settings = cls.pick_ports()
        tables = {}
        for name, text in TABLES.items():
            path = os.path.join(cls.dir, name)
            with open(path, "w") as f:
                f.write(text)
            tables[name] = "texthash:" + path
        settings += [
            "stop_timeout=5s",
            "myhostname=mail.d.test",
            "myorigin=$mydomain",
            "mynetworks=127.0.0.2/32",
            "local_header_rewrite_clients="
            "permit_mynetworks, permit_sasl_authenticated",
            "canonical_maps=" + tables["canonical"],
            "sender_canonical_maps=" + tables["sender_canonical"],
            "recipient_canonical_maps=" + tables["recipient_canonical"],
            "relocated_maps=" + tables["relocated"],
            "smtpd_sender_login_maps=" + tables["sender_login"],
            "masquerade_domains=!keep.d.test, d.test",
            "masquerade_exceptions=root",
            "pickup_scan_interval=1s",
        ]
        run_postern(cls.dir, "config", "set", *settings)
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        run_postern(cls.dir, "domain", "add", "d.test")
        for m in ("alice", "bob", "joe.user"):
            run_postern(cls.dir, "mailbox", "add", m + "@d.test",
                        "--password-stdin", stdin=PASSWORD + "\n")
        run_postern(cls.dir, "start")
        cls.started = True

    # ---- helpers

    def mail_with(self, user, marker):
        """The message in user@d.test's Maildir holding marker."""
        def find():
            # new/ and cur/ only: a file in tmp/ is renamed away while
            # delivery finishes (and may vanish between glob and open).
            for sub in ("new", "cur"):
                for fn in glob.glob(os.path.join(self.dir, "mail", "d.test",
                                                 user, sub, "*")):
                    try:
                        with open(fn, "rb") as f:
                            data = f.read()
                    except FileNotFoundError:
                        continue  # moved from new/ to cur/ meanwhile
                    if marker.encode() in data:
                        return data
            return None
        return wait_for(find, 20, "mail for %s with %s\n%s" % (
            user, marker, self.log()[-3000:]))

    def smtp(self, source="127.0.0.1", port=None):
        s = smtplib.SMTP("127.0.0.1", port or self.ports["smtp"],
                         timeout=20, source_address=(source, 0))
        s.ehlo("client.test")
        return s

    def send(self, s, sender, rcpts, marker):
        self.assertEqual(s.mail(sender)[0], 250)
        for r in rcpts:
            code, text = s.rcpt(r)
            self.assertEqual(code, 250, (r, text))
        code, text = s.data((HEADERS % marker + BODY).encode())
        self.assertEqual(code, 250, text)

    def assert_headers(self, data, want):
        # The Maildir copy has LF line ends.
        data = data.replace(b"\r\n", b"\n")
        head = data.split(b"\n\n", 1)[0] + b"\n"
        for h in want:
            h = h.replace(b"\r\n", b"\n")
            self.assertIn(h, head, head.decode(errors="replace"))
        # The body is never rewritten.
        self.assertTrue(data.endswith(BODY.replace("\r\n", "\n").encode()),
                        data[-200:])

    # ---- tests

    def test_mynetworks_client(self):
        marker = uuid.uuid4().hex
        s = self.smtp("127.0.0.2")
        try:
            # canonical "user@domain": the envelope recipient joe@d.test
            # becomes joe.user@d.test before the mailbox lookup (cleanup
            # runs before trivial-rewrite's resolve).
            self.send(s, "alice@d.test", ["joe@d.test"], marker)
        finally:
            s.quit()
        data = self.mail_with("joe.user", marker)
        # sender_canonical_maps on the envelope sender.
        self.assertTrue(data.startswith(b"Return-Path: <Alice.Smith@d.test>"),
                        data[:200])
        self.assert_headers(data, LOCAL_HEADERS)
        self.assertIn(b"Subject: joe@d.test %s\n" % marker.encode(), data)

    def test_authenticated_client(self):
        marker = uuid.uuid4().hex
        s = smtplib.SMTP("127.0.0.1", self.ports["submission"], timeout=20)
        try:
            s.ehlo("client.test")
            s.starttls(context=tls_context())
            s.ehlo("client.test")
            s.login("bob@d.test", PASSWORD)
            # masquerade_classes has envelope_sender: host.d.test ->
            # d.test.  recipient_canonical_maps: info@ -> bob@.
            self.send(s, "bob@host.d.test", ["info@d.test"], marker)
        finally:
            s.quit()
        data = self.mail_with("bob", marker)
        self.assertTrue(data.startswith(b"Return-Path: <bob@d.test>"),
                        data[:200])
        # Authenticated (permit_sasl_authenticated): rewritten headers.
        self.assert_headers(data, LOCAL_HEADERS)

    def test_remote_client(self):
        marker = uuid.uuid4().hex
        s = self.smtp("127.0.0.1")
        try:
            # relocated(5): 550 5.1.6 with the new address, smtpd's text.
            code, _ = s.mail("root@host.d.test")
            self.assertEqual(code, 250)
            code, text = s.rcpt("gone@d.test")
            self.assertEqual(code, 550)
            self.assertEqual(text, b"5.1.6 <gone@d.test>: Recipient address "
                             b"rejected: User has moved to carol@new.test")
            # The extension form finds the same entry (relocated(5)
            # ADDRESS EXTENSION).
            code, text = s.rcpt("gone+x@d.test")
            self.assertEqual(code, 550, text)
            self.assertIn(b"User has moved to carol@new.test", text)
            s.rset()
            # Envelope rewriting is for every client: joe -> joe.user;
            # root is a masquerade exception, so the sender stays.
            self.send(s, "root@host.d.test", ["joe@d.test"], marker)
        finally:
            s.quit()
        data = self.mail_with("joe.user", marker)
        self.assertTrue(data.startswith(b"Return-Path: <root@host.d.test>"),
                        data[:200])
        self.assert_headers(data, REMOTE_HEADERS)
        # Postfix's form: name[addr], "unknown" when no name was looked up.
        self.assertIn("reject: RCPT from unknown[127.0.0.1]: 550 5.1.6",
                      self.log())

    def test_remote_envelope_masquerade(self):
        marker = uuid.uuid4().hex
        s = self.smtp("127.0.0.1")
        try:
            # masquerade_domains "!keep.d.test": not stripped; a plain
            # host.d.test sender is (envelope_sender class).
            self.send(s, "x@a.keep.d.test", ["alice@d.test"], marker + "a")
            self.send(s, "y@host.d.test", ["alice@d.test"], marker + "b")
        finally:
            s.quit()
        a = self.mail_with("alice", marker + "a")
        b = self.mail_with("alice", marker + "b")
        self.assertTrue(a.startswith(b"Return-Path: <x@a.keep.d.test>"),
                        a[:200])
        self.assertTrue(b.startswith(b"Return-Path: <y@d.test>"), b[:200])

    def test_bdat_chunks_split_fields(self):
        """The header stage holds fields across BDAT chunks cut anywhere
        (inside an address, between CR and LF)."""
        marker = uuid.uuid4().hex
        msg = (HEADERS % marker + BODY).encode()
        cuts = [9, 17, 40, 41, 80, 81, 82, len(msg)]
        sock = socket.create_connection(("127.0.0.1", self.ports["smtp"]),
                                        timeout=20,
                                        source_address=("127.0.0.2", 0))
        f = sock.makefile("rb")

        def reply():
            while True:
                line = f.readline()
                if line[3:4] != b"-":
                    return int(line[:3]), line

        try:
            reply()
            for cmd in (b"EHLO client.test", b"MAIL FROM:<alice@d.test>",
                        b"RCPT TO:<joe@d.test>"):
                sock.sendall(cmd + b"\r\n")
                code, line = reply()
                self.assertLess(code, 400, line)
            start = 0
            for i, end in enumerate(cuts):
                last = b" LAST" if i == len(cuts) - 1 else b""
                sock.sendall(b"BDAT %d%s\r\n" % (end - start, last) +
                             msg[start:end])
                code, line = reply()
                self.assertEqual(code, 250, line)
                start = end
            self.assertIn(b"queued as", line)
            sock.sendall(b"QUIT\r\n")
        finally:
            sock.close()
        data = self.mail_with("joe.user", marker)
        self.assert_headers(data, LOCAL_HEADERS)

    def test_sendmail(self):
        marker = uuid.uuid4().hex
        msg = ("From: wietse\n"
               "To: joe@d.test, ann@old.test\n"
               "Cc: someone@host.d.test\n"
               "Subject: %s\n\nFrom: wietse\n" % marker).encode()
        # Bare -f and recipient: qualified with $myorigin (d.test).
        p = subprocess.run([POSTERN, "-c", self.dir, "sendmail", "-f",
                            "wietse", "joe"], input=msg,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        # joe@d.test -> joe.user@d.test (canonical "user@domain").
        data = self.mail_with("joe.user", marker)
        self.assertTrue(data.startswith(b"Return-Path: <wietse@d.test>"),
                        data[:200])
        head = data.split(b"\n\n", 1)[0] + b"\n"
        # pickup mail is always rewritten as local: append_at_myorigin,
        # canonical (user@domain and @domain), masquerading.
        self.assertIn(b"From: wietse@d.test\n", head)
        self.assertIn(b"To: joe.user@d.test, ann@d.test\n", head)
        self.assertIn(b"Cc: someone@d.test\n", head)
        self.assertTrue(data.endswith(b"\n\nFrom: wietse\n"), data[-100:])


class RemoteHeaderDomain(SiteTestCase):
    """remote_header_rewrite_domain set: headers of remote clients are
    rewritten too, bare addresses completed with that domain (not
    $myorigin); and a field longer than header_size_limit passes as it
    is."""

    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-rewrite-remote.")
        settings = cls.pick_ports()
        path = os.path.join(cls.dir, "canonical")
        with open(path, "w") as f:
            f.write(TABLES["canonical"])
        settings += [
            "stop_timeout=5s",
            "myhostname=mail.d.test",
            "mynetworks=127.0.0.2/32",
            "local_header_rewrite_clients=permit_mynetworks",
            "remote_header_rewrite_domain=domain.invalid",
            "canonical_maps=texthash:" + path,
            "header_size_limit=300",
        ]
        run_postern(cls.dir, "config", "set", *settings)
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        run_postern(cls.dir, "domain", "add", "d.test")
        run_postern(cls.dir, "mailbox", "add", "joe.user@d.test",
                    "--password-stdin", stdin=PASSWORD + "\n")
        run_postern(cls.dir, "start")
        cls.started = True

    log = Rewrite.log
    mail_with = Rewrite.mail_with

    def test_remote_domain(self):
        marker = uuid.uuid4().hex
        long_to = "To: joe@d.test,\r\n" + "".join(
            " someone%02d@old.test,\r\n" % i for i in range(16)) + \
            " last@old.test\r\n"
        self.assertGreater(len(long_to), 300)
        msg = ("From: unqualified\r\n"
               "Cc: joe@d.test, ann@old.test\r\n" + long_to +
               "Subject: %s\r\n\r\nbody\r\n" % marker)
        s = smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=20)
        try:
            s.ehlo("client.test")
            self.assertEqual(s.sendmail("x@remote.test", ["joe@d.test"],
                                        msg.encode()), {})
        finally:
            s.quit()
        data = self.mail_with("joe.user", marker).replace(b"\r\n", b"\n")
        # ADDRESS_REWRITING_README "Rewriting message headers from remote
        # SMTP clients": the bare address gets the domain, and canonical
        # maps apply (joe@d.test, @old.test).
        self.assertIn(b"From: unqualified@domain.invalid\n", data)
        self.assertIn(b"Cc: joe.user@d.test, ann@d.test\n", data)
        # Over header_size_limit: held no further, passed unchanged.
        self.assertIn(long_to.replace("\r\n", "\n").encode(), data)


class GenericMaps(SiteTestCase):
    """smtp_generic_maps (generic(5)) in the SMTP client: the envelope
    sender and recipients and the address headers as the remote peer gets
    them, LAN names turned into public ones; the queued copy and local
    delivery are untouched."""

    RECEIVER = "127.0.0.73"

    @classmethod
    def set_up_site(cls):
        cls.make_site("postern-generic.")
        port = free_ports(1)[0]
        cls.receiver = SmtpReceiver(cls.RECEIVER, port)
        run_postern(cls.dir, "config", "set", *cls.pick_ports(),
                    "myhostname=mx.lan.example", "queue_run_delay=1s",
                    "transport_maps=inline:{ remote.example=smtp:[%s]:%d }"
                    % (cls.RECEIVER, port),
                    "smtp_generic_maps=inline:{ "
                    "ann@lan.example=ann.public@public.example, "
                    "bob@remote.example=robert@remote.example, "
                    "@lan.example=postmaster@public.example }")
        run_postern(cls.dir, "start")
        cls.started = True  # tearDownClass stops the daemons

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if hasattr(cls, "receiver"):
            cls.receiver.stop()

    def test_envelope_and_headers(self):
        tag = uuid.uuid4().hex
        msg = ("From: Ann Example <ann@lan.example>\r\n"
               "To: bob@remote.example, carol@remote.example\r\n"
               "Cc: \"Desk\" <desk@lan.example>\r\n"
               "Subject: generic %s\r\n\r\nbody ann@lan.example\r\n" % tag)
        with smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=30) as s:
            s.sendmail("ann@lan.example",
                       ["bob@remote.example", "carol@remote.example"], msg)
        got = wait_for(lambda: [m for m in self.receiver.messages
                                if tag.encode() in m["data"]],
                       timeout=30, what="the message at the receiver")[0]
        self.assertTrue(got["mail"].startswith(
            "MAIL FROM:<ann.public@public.example>"), got["mail"])
        self.assertEqual(sorted(got["rcpts"]),
                         ["carol@remote.example", "robert@remote.example"])
        data = got["data"]
        self.assertIn(b"From: Ann Example <ann.public@public.example>", data)
        self.assertIn(b"To: robert@remote.example, carol@remote.example",
                      data)
        # @domain entry: any other address of the LAN domain.
        self.assertIn(b'Cc: "Desk" <postmaster@public.example>', data)
        # Only headers: the body is as sent.
        self.assertIn(b"body ann@lan.example", data)


if __name__ == "__main__":
    unittest.main(verbosity=2)
