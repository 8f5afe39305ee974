#!/usr/bin/env python3
"""DKIM signing of outgoing mail (issue 7, docs/dkim.md).

One site: keys made with `postern dkim generate` (RSA 2048 and Ed25519)
for the hosted domain signer.example, their TXT records (as `postern dkim
show` prints them) published in a zone of the DNS harness (dnsserver.py:
nsd + unbound on loopback), remote.example's MX a receiving SMTP server
on 127.0.0.31 (SmtpReceiver), and one without 8BITMIME on 127.0.0.32.

Mail submitted with AUTH on the submission port, or posted locally with
`postern sendmail`, arrives signed twice (RFC 8463 dual signing); both
signatures are checked by dkimpy (Debian's python3-dkim, an independent
implementation) with its key lookups sent to the test resolver, and an
altered copy fails both.  Relayed mail without AUTH is not signed, nor
is authenticated mail whose From: the login does not own (bob's mailbox,
another tenant's domain with keys); the login's own alias is signed.  An
8-bit message to the peer without 8BITMIME is downgraded, then signed:
what arrives verifies.  The admin API routes are exercised as a
superadmin and as the domain admin of another domain (refused).

opendkim-testmsg is not used as the verifier: it resolves through the
system's libresolv, which cannot be pointed at a resolver on another port
than 53 without changing /etc/resolv.conf.
"""
import email
import email.policy
import json
import os
import re
import smtplib
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adminapi import Api  # noqa: E402
from dnsserver import DnsServer, Zone, available, txt_rdata  # noqa: E402
from postern_site import (SiteTestCase, SmtpReceiver, free_ports,  # noqa
                          run_postern, tls_context, wait_for)
from test_queue import submit  # noqa: E402

MX = "127.0.0.31"
PLAIN = "127.0.0.32"
HANGUP = "127.0.0.33"
PASSWORD = "dkim test password"
V1 = "/api/v1"

SERVICES = """\
# written by test_dkim.py
submission inet  $inet_interfaces:$submission_port     starttls 1 postern-smtpd
queue      unix  $queue_socket                         none     1 postern-queued
lmtp-unix  unix  $lmtp_socket                          none     1 postern-lmtpd
admin-api  inet  $admin_api_interfaces:$admin_api_port none     1 postern-admin-api
"""

# The verifier runs under Debian's python3, where python3-dkim (dkimpy)
# lives; the tests may run under another interpreter.
VERIFIER_PYTHON = "/usr/bin/python3"
VERIFIER = r'''
import json, random, socket, struct, sys
import dkim

port = int(sys.argv[1])

def txt(name, timeout=5):
    """The TXT strings of name from the test resolver, joined."""
    name = name.decode() if isinstance(name, bytes) else name
    qid = random.randint(0, 65535)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 16, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(q, ("127.0.0.1", port))
    data, _ = s.recvfrom(65535)
    qd, an = struct.unpack(">HH", data[4:8])
    i = 12
    def skip_name(i):
        while True:
            n = data[i]
            if n == 0:
                return i + 1
            if n & 0xC0:
                return i + 2
            i += n + 1
    for _ in range(qd):
        i = skip_name(i) + 4
    out = b""
    for _ in range(an):
        i = skip_name(i)
        rtype, _, _, rdlen = struct.unpack(">HHIH", data[i:i + 10])
        i += 10
        if rtype == 16:
            j = i
            while j < i + rdlen:
                n = data[j]
                out += data[j + 1:j + 1 + n]
                j += n + 1
        i += rdlen
    return out or None

msg = sys.stdin.buffer.read()
n = len([h for h in dkim.DKIM(msg).headers
         if h[0].lower() == b"dkim-signature"])
res = []
for idx in range(n):
    d = dkim.DKIM(msg)
    why = ""
    try:
        ok = d.verify(idx=idx, dnsfunc=txt)
    except dkim.ValidationError as e:  # a body hash mismatch, say
        ok, why = False, str(e)
    res.append({"ok": bool(ok), "why": why,
                "a": d.signature_fields.get(b"a", b"").decode(),
                "s": d.signature_fields.get(b"s", b"").decode(),
                "d": d.signature_fields.get(b"d", b"").decode()})
print(json.dumps(res))
'''


def dkimpy_missing():
    p = subprocess.run([VERIFIER_PYTHON, "-c", "import dkim, nacl"],
                       capture_output=True)
    return None if p.returncode == 0 else \
        "python3-dkim and python3-nacl are needed (scripts/deps.sh)"


class Dkim(SiteTestCase):
    @classmethod
    def set_up_site(cls):
        why = available() or dkimpy_missing()
        if why:
            raise unittest.SkipTest(why)
        cls.make_site("postern-dkim.")
        settings = cls.pick_ports()
        cls.mx_port, = free_ports(1)
        run_postern(cls.dir, "config", "set", *settings)
        run_postern(cls.dir, "domain", "add", "signer.example")
        run_postern(cls.dir, "domain", "add", "other.example")
        run_postern(cls.dir, "domain", "add", "nokeys.example")
        run_postern(cls.dir, "mailbox", "add", "alice@signer.example",
                    "--password-stdin", stdin=PASSWORD + "\n")
        # Addresses alice may and may not put in From: (docs/dkim.md,
        # "Who may be signed for"): her alias is hers, bob's mailbox and
        # another tenant with keys of its own are not.
        run_postern(cls.dir, "mailbox", "add", "bob@signer.example",
                    "--password-stdin", stdin=PASSWORD + "\n")
        run_postern(cls.dir, "alias", "add", "info@signer.example",
                    "alice@signer.example")
        run_postern(cls.dir, "domain", "add", "tenant2.example")
        run_postern(cls.dir, "dkim", "generate", "tenant2.example")
        # Keys first: their records go into the zone the DNS serves.
        out = run_postern(cls.dir, "dkim", "generate", "signer.example").stdout
        cls.records = cls.zone_records(out, "signer.example")
        assert len(cls.records) == 2, out
        cls.dns = DnsServer([
            Zone("signer.example", cls.records),
            Zone("remote.example", [("@", "MX", "10 mx"), ("mx", "A", MX)]),
            Zone("plain.example", [("@", "MX", "10 mx"),
                                   ("mx", "A", PLAIN)]),
            Zone("drop.example", [("@", "MX", "10 mx"),
                                  ("mx", "A", HANGUP)]),
        ]).start()
        cls.resolver_port = int(cls.dns.resolver.split("@")[1])
        cls.mx = SmtpReceiver(MX, cls.mx_port)
        cls.plain = SmtpReceiver(PLAIN, cls.mx_port,
                                 ext=(b"SIZE 10485760",))
        cls.hangup = SmtpReceiver(HANGUP, cls.mx_port)
        run_postern(cls.dir, "config", "set", "log_target=file",
                    "stop_timeout=5s", "myhostname=mx.signer.example",
                    "queue_run_delay=1s", "minimal_backoff_time=1s",
                    "maximal_backoff_time=2s",
                    "smtp_tcp_port=%d" % cls.mx_port,
                    "smtp_connect_timeout=5s",
                    *cls.dns.settings()[1::2])
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        run_postern(cls.dir, "start")
        cls.started = True
        with open(os.path.join(cls.dir, "admin-token")) as f:
            cls.api = Api(cls.ports["admin_api"], f.read().strip())
        wait_for(lambda: cls.api.get(V1 + "/health").status == 200,
                 what="the admin API")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for s in ("mx", "plain", "hangup"):
            if hasattr(cls, s):
                getattr(cls, s).stop()
        if hasattr(cls, "dns"):
            cls.dns.stop()

    @staticmethod
    def zone_records(text, domain):
        """`postern dkim show/generate` lines as dnsserver records."""
        recs = []
        for line in text.splitlines():
            m = re.match(r'^(\S+)\._domainkey\.%s\. IN TXT (.*)$'
                         % re.escape(domain), line)
            assert m, line
            strings = re.findall(r'"([^"]*)"', m.group(2))
            recs.append((m.group(1) + "._domainkey", "TXT",
                         txt_rdata("".join(strings))))
        return recs

    def verify(self, data):
        p = subprocess.run([VERIFIER_PYTHON, "-c", VERIFIER,
                            str(self.resolver_port)], input=data,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return json.loads(p.stdout)

    def message(self, subject, body="Dinner at eight?\r\n", frm=None):
        return ("From: Alice <%s>\r\nTo: bob@remote.example\r\n"
                "Subject: %s\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
                "Message-ID: <%s@signer.example>\r\n\r\n%s"
                % (frm or "alice@signer.example", subject,
                   subject.replace(" ", "."), body))

    def submit_auth(self, rcpt, data, user="alice@signer.example"):
        with smtplib.SMTP("127.0.0.1", self.ports["submission"],
                          timeout=20) as s:
            s.ehlo("client.example")
            s.starttls(context=tls_context())
            s.ehlo("client.example")
            s.login(user, PASSWORD)
            s.sendmail(user, [rcpt], data)

    def received(self, server, rcpt, subject):
        def find():
            for m in server.got(rcpt):
                if b"Subject: " + subject.encode() in m["data"]:
                    return m
            return None
        return wait_for(find, 30, "delivery of %r\n%s" % (
            subject, self.log()[-3000:]))

    def assertSignedByBoth(self, data):
        res = self.verify(data)
        self.assertEqual(sorted(r["a"] for r in res),
                         ["ed25519-sha256", "rsa-sha256"], res)
        for r in res:
            self.assertTrue(r["ok"], res)
            self.assertEqual(r["d"], "signer.example")
        return res

    def test_authenticated_mail_is_signed_with_both_keys(self):
        self.submit_auth("bob@remote.example", self.message("auth one"))
        m = self.received(self.mx, "bob@remote.example", "auth one")
        data = m["data"]
        self.assertTrue(data.startswith(b"DKIM-Signature: "), data[:200])
        self.assertEqual(data.count(b"DKIM-Signature: "), 2)
        res = self.assertSignedByBoth(data)
        selectors = {r["s"] for r in res}
        self.assertEqual(selectors, {r[0].split(".")[0]
                                     for r in self.records})
        # c=relaxed/relaxed and From oversigned, as docs/dkim.md says.
        hdrs = data.split(b"\r\n\r\n")[0].replace(b"\r\n\t", b" ")
        self.assertIn(b"c=relaxed/relaxed", hdrs)
        self.assertRegex(hdrs, rb"h=From:To:Subject:Date:Message-ID:from;")
        # An altered copy fails both: body, then a header.
        bad = self.verify(data.replace(b"Dinner at eight", b"Dinner at nine"))
        self.assertEqual([r["ok"] for r in bad], [False, False], bad)
        bad = self.verify(data.replace(b"Subject: auth one",
                                       b"Subject: auth 0ne"))
        self.assertEqual([r["ok"] for r in bad], [False, False], bad)
        # A second From added on top breaks them too (oversigning).
        i = data.index(b"From: ")
        bad = self.verify(data[:i] + b"From: ceo@signer.example\r\n" +
                          data[i:])
        self.assertEqual([r["ok"] for r in bad], [False, False], bad)

    def test_local_sendmail_is_signed(self):
        run_postern(self.dir, "sendmail", "-f", "alice@signer.example",
                    "bob@remote.example",
                    stdin=self.message("local one").replace("\r\n", "\n"))
        m = self.received(self.mx, "bob@remote.example", "local one")
        self.assertSignedByBoth(m["data"])

    def test_unauthenticated_relay_is_not_signed(self):
        # As through the MX port from mynetworks: a client address and
        # no AUTH in the envelope.
        t, qid = submit(os.path.join(self.dir, "run", "queue.sock"),
                        "alice@signer.example", ["bob@remote.example"],
                        self.message("relay one").encode())
        self.assertEqual(t, "O", qid)
        m = self.received(self.mx, "bob@remote.example", "relay one")
        self.assertNotIn(b"DKIM-Signature", m["data"])

    def test_other_from_domain_is_not_signed(self):
        # nokeys.example has no keys: authenticated mail from it goes
        # unsigned (the From domain picks the keys, not the login).
        self.submit_auth("bob@remote.example",
                         self.message("other one", frm="x@nokeys.example"))
        m = self.received(self.mx, "bob@remote.example", "other one")
        self.assertNotIn(b"DKIM-Signature", m["data"])

    def test_unowned_from_is_not_signed(self):
        # The envelope is alice's (the submission check passes), the
        # From: is not: another mailbox of her domain, another tenant
        # with keys.  Both go out, neither signed.
        for subject, frm in (("unowned one", "bob@signer.example"),
                             ("unowned two", "ceo@tenant2.example")):
            self.submit_auth("bob@remote.example",
                             self.message(subject, frm=frm))
            m = self.received(self.mx, "bob@remote.example", subject)
            self.assertNotIn(b"DKIM-Signature", m["data"])
            self.assertIn("From <%s> is not owned by "
                          "sasl_username=alice@signer.example: not signing"
                          % frm, self.log())

    def test_owned_alias_from_is_signed(self):
        # info@ delivers to alice: hers, so signed (and it verifies).
        self.submit_auth("bob@remote.example",
                         self.message("alias one", frm="info@signer.example"))
        m = self.received(self.mx, "bob@remote.example", "alias one")
        self.assertSignedByBoth(m["data"])

    def test_8bit_downgraded_then_signed(self):
        body = "Caf\u00e9 at eight?\r\n"
        data = ("MIME-Version: 1.0\r\nContent-Type: text/plain; "
                "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
                + self.message("eight bit", body)).encode()
        with smtplib.SMTP("127.0.0.1", self.ports["submission"],
                          timeout=20) as s:
            s.ehlo("client.example")
            s.starttls(context=tls_context())
            s.ehlo("client.example")
            s.login("alice@signer.example", PASSWORD)
            s.sendmail("alice@signer.example", ["carol@plain.example"], data,
                       mail_options=["BODY=8BITMIME"])
        m = self.received(self.plain, "carol@plain.example", "eight bit")
        got = m["data"]
        self.assertTrue(all(b < 0x80 for b in got), got)
        self.assertNotIn("BODY=8BITMIME", m["mail"])
        self.assertIn(b"quoted-printable", got)
        self.assertSignedByBoth(got)
        msg = email.message_from_bytes(got, policy=email.policy.default)
        self.assertEqual(msg.get_content().replace("\r\n", "\n"),
                         "Caf\u00e9 at eight?\n")

    def test_connection_lost_while_signing(self):
        # postern-queued reads and signs on a worker thread while its
        # loop goes on (deliver.c, prepare_body).  The peer hangs up
        # right after its EHLO reply, while a 6 MB message is being read
        # and signed (tens of ms even in an optimised build, against
        # microseconds between the reply and the hang-up): the
        # connection fails in that state and settles the job (4.4.2,
        # deferred); the signing job finishing later finds no
        # connection and is dropped.  The retry, on a new connection,
        # delivers the message signed.
        # Long lines: the receiver reads line by line.
        body = ("0123456789abcdef" * 61 + "\r\n") * 6200
        lost = r"dave@drop\.example.*status=deferred.*lost connection " \
            r"with \S+ while ([a-z ]+)"
        # On two loaded cores the receiver's hang-up can come late enough
        # for the signing to win (then MAIL meets the closed connection):
        # up to three messages, one of which must take the new path.
        for attempt in range(3):
            subject = "hangup %d" % attempt
            self.hangup.hangup_after_ehlo = 1
            run_postern(self.dir, "sendmail", "-f", "alice@signer.example",
                        "dave@drop.example",
                        stdin=self.message(subject, body).replace(
                            "\r\n", "\n"))
            m = self.received(self.hangup, "dave@drop.example", subject)
            self.assertEqual(self.hangup.hangup_after_ehlo, 0)
            self.assertGreater(len(m["data"]), 6000000)
            self.assertSignedByBoth(m["data"])
            stages = re.findall(lost, self.log())
            self.assertEqual(len(stages), attempt + 1, stages)
            if stages[-1] == "preparing the message":
                break
        else:
            self.fail("the hang-up never came while preparing: %s" % stages)

    def test_zz_rotation(self):
        out = run_postern(self.dir, "dkim", "rotate", "signer.example").stdout
        new = self.zone_records(out, "signer.example")
        self.assertEqual(len(new), 2)
        old_sel = {r[0] for r in self.records}
        self.assertFalse({r[0] for r in new} & old_sel)
        # Old keys stay published until retired.
        show = run_postern(self.dir, "dkim", "show", "signer.example").stdout
        self.assertEqual(len(show.splitlines()), 4)
        lst = run_postern(self.dir, "dkim", "list", "signer.example").stdout
        states = sorted(line.split("\t")[3] for line in lst.splitlines())
        self.assertEqual(states, ["active", "active", "published",
                                  "published"])
        # The queue daemon re-reads keys within a minute; a reload now
        # (waited for: it reaches queued asynchronously).
        self.reload_and_wait(("queued",))
        self.submit_auth("bob@remote.example", self.message("rotated one"))
        m = self.received(self.mx, "bob@remote.example", "rotated one")
        sels = set(re.findall(rb"s=([a-z0-9.-]+);", m["data"]))
        self.assertEqual({s.decode() + "._domainkey" for s in sels},
                         {r[0] for r in new})
        r = run_postern(self.dir, "dkim", "retire", "signer.example")
        self.assertIn("retired 2 keys", r.stdout)
        show = run_postern(self.dir, "dkim", "show", "signer.example").stdout
        self.assertEqual(len(show.splitlines()), 2)

    def test_admin_api(self):
        api = self.api
        r = api.get(V1 + "/domains/signer.example/dkim")
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(r.json["total"], 2)
        for k in r.json["items"]:
            self.assertEqual(set(k), {"selector", "algorithm", "state",
                                      "public_key", "created_at",
                                      "dns_name", "txt", "zone_line"})
            self.assertTrue(k["txt"].startswith("v=DKIM1; k="))
            self.assertNotIn("PRIVATE", json.dumps(k))
        # Generate for other.example, as the superadmin.
        r = api.post(V1 + "/domains/other.example/dkim",
                     {"algorithm": "ed25519-sha256", "selector": "api1"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["selector"], "api1")
        self.assertEqual(r.json["state"], "active")
        self.assertEqual(r.json["dns_name"], "api1._domainkey.other.example")
        self.assertRegex(r.json["txt"], r"^v=DKIM1; k=ed25519; p=\S{44}$")
        r = api.post(V1 + "/domains/other.example/dkim",
                     {"algorithm": "ed25519"})
        self.assertEqual(r.status, 409, r)
        r = api.post(V1 + "/domains/other.example/dkim",
                     {"algorithm": "dsa"})
        self.assertEqual(r.status, 422, r)
        r = api.post(V1 + "/domains/other.example/dkim",
                     {"algorithm": "rsa", "selector": "Bad_Sel"})
        self.assertEqual(r.status, 422, r)
        r = api.post(V1 + "/domains/nosuch.example/dkim",
                     {"algorithm": "rsa"})
        self.assertEqual(r.status, 404, r)
        # A domain admin of other.example manages it, not signer.example.
        run_postern(self.dir, "admin", "add", "otheradmin",
                    "--password-stdin", "--role", "domain",
                    "--domains", "other.example", stdin=PASSWORD + "\n")
        tok = run_postern(self.dir, "admin", "token",
                          "otheradmin").stdout.split()[0]
        d = api.with_token(tok)
        self.assertEqual(d.get(V1 + "/domains/signer.example/dkim").status,
                         403)
        self.assertEqual(d.post(V1 + "/domains/signer.example/dkim",
                                {"algorithm": "rsa"}).status, 403)
        self.assertEqual(d.post(V1 + "/domains/signer.example/dkim/rotate",
                                {"algorithm": "all"}).status, 403)
        self.assertEqual(d.post(V1 + "/domains/other.example/dkim/rotate",
                                {}).status, 422)
        self.assertEqual(d.post(V1 + "/domains/other.example/dkim/rotate",
                                {"algorithm": "rsa"}).status, 404)
        r = d.post(V1 + "/domains/other.example/dkim/rotate",
                   {"algorithm": "all"})
        self.assertEqual(r.status, 200, r)
        states = sorted(k["state"] for k in r.json["items"])
        self.assertEqual(states, ["active", "published"])
        self.assertTrue(any(k["selector"] == "api1" and
                            k["state"] == "published"
                            for k in r.json["items"]))
        # Audited like the other changes.
        r = api.get(V1 + "/audit?limit=1000")
        actions = [(e.get("action"), e.get("object_id"))
                   for e in r.json["items"]]
        self.assertIn(("dkim.generate", "api1._domainkey.other.example"),
                      actions)
        self.assertTrue(any(a == "dkim.rotate" for a, _ in actions))


if __name__ == "__main__":
    unittest.main()
