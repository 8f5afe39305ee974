#!/usr/bin/env python3
"""Sendmail milters in postern-smtpd (mta/smtpd-milter*.c, docs/milter.md).

Real OpenDKIM (Debian's opendkim) as a milter, unchanged:
  - signing mode for mail from $mynetworks: the delivered message carries
    a DKIM-Signature that dkimpy (python3-dkim) verifies against the key
    published by the DNS harness (dnsserver.py: nsd + unbound);
  - verifying mode behind it (smtpd_milters = signer, verifier): the
    verifier sees the signer's header (milters see what the ones before
    them did) and adds its Authentication-Results with dkim=pass,
    resolving the key through the same DNS harness.

A milter written here (ScriptMilter: the protocol by hand, so each
packet is ours) answers by the recipient's extension
(alice+MODE@hosted.example): reject, tempfail, discard, replycode,
header edits, recipient edits, body replacement, sender change,
quarantine (hold queue), progress answers, and a slow answer (content
timeout).  Separate smtpd services (-o overrides) run a dead milter with
milter_default_action tempfail (451) and accept (mail passes, the next
milter still runs).
"""
import os
import re
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnsserver import DnsServer, Zone, available, txt_rdata  # noqa: E402
from postern_site import (SiteTestCase, SmtpSession,  # noqa: E402
                          free_ports, run_postern)
from test_dkim import VERIFIER, VERIFIER_PYTHON, dkimpy_missing  # noqa

DOM = "hosted.example"
OPENDKIM = "/usr/sbin/opendkim"
GENKEY = "/usr/sbin/opendkim-genkey"
SELECTOR = "milt"


def packet(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


class ScriptHandler(socketserver.BaseRequestHandler):
    """One milter connection (one transaction in postern)."""

    def recv_packet(self):
        head = self.recv_exact(4)
        if head is None:
            return None, None
        n, = struct.unpack(">I", head)
        body = self.recv_exact(n)
        return body[:1], body[1:]

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.request.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def send(self, cmd, data=b""):
        self.request.sendall(packet(cmd, data))

    def handle(self):
        srv = self.server
        mode = ""
        headers = []
        body = b""
        macros = {}
        while True:
            cmd, data = self.recv_packet()
            if cmd is None:
                return
            if cmd == b"O":
                ver, act, proto = struct.unpack(">III", data[:12])
                srv.record("optneg", (ver, act, proto))
                self.send(b"O", struct.pack(">III", 6, 0x1ff, 0))
            elif cmd == b"D":
                parts = data[1:].split(b"\0")
                for k, v in zip(parts[0::2], parts[1::2]):
                    macros[k.decode()] = v.decode()
                srv.record("macros-" + data[:1].decode(), dict(macros))
            elif cmd in (b"C", b"H", b"T", b"N"):
                self.send(b"c")
            elif cmd == b"M":
                sender = data.split(b"\0")[0].decode()
                srv.record("mail", sender)
                self.send(b"r" if sender.startswith("<mailreject@")
                          else b"c")
            elif cmd == b"R":
                rcpt = data.split(b"\0")[0].decode()
                srv.record("rcpt", rcpt)
                m = re.match(r"<alice\+([a-z]+)@", rcpt)
                mode = m.group(1) if m else mode
                if mode == "rcptreject":
                    self.send(b"r")
                elif mode == "rcptcode":
                    self.send(b"y", b"550 5.1.1 Milter: no such user\0")
                else:
                    self.send(b"c")
            elif cmd == b"L":
                name, value = data.split(b"\0")[:2]
                headers.append((name.decode(), value.decode()))
                self.send(b"c")
            elif cmd == b"B":
                body += data
                self.send(b"c")
            elif cmd == b"E":
                body += data
                # Mail without RCPT extensions (the webmail's): the
                # mode is in the Subject ("milter:MODE ...").
                for name, value in headers:
                    m = re.match(r"milter:([a-z]+)", value.strip())
                    if name.lower() == "subject" and m and not mode:
                        mode = m.group(1)
                srv.record("message", (mode, headers, body))
                self.end_of_message(mode)
                mode, headers, body = "", [], b""
            elif cmd == b"A":
                mode, headers, body = "", [], b""
            elif cmd in (b"Q", b"K"):
                return

    def end_of_message(self, mode):
        if mode == "reject":
            self.send(b"r")
        elif mode == "tempfail":
            self.send(b"t")
        elif mode == "replycode":
            self.send(b"y", b"554 5.7.0 Milter says no\0")
        elif mode == "discard":
            self.send(b"d")
        elif mode == "headers":
            self.send(b"h", b"X-Milter-Added\0yes\0")
            self.send(b"m", struct.pack(">I", 1) +
                      b"Subject\0changed by milter\0")
            self.send(b"i", struct.pack(">I", 0) + b"X-Milter-Top\0top\0")
            self.send(b"m", struct.pack(">I", 1) + b"X-Remove-Me\0\0")
            self.send(b"c")
        elif mode == "rcpts":
            self.send(b"+", b"<bob@%s>\0" % DOM.encode())
            self.send(b"-", b"<alice+rcpts@%s>\0" % DOM.encode())
            self.send(b"c")
        elif mode == "body":
            self.send(b"b", b"replaced body line 1\r\n")
            self.send(b"b", b"replaced body line 2\r\n")
            self.send(b"c")
        elif mode == "chgfrom":
            self.send(b"e", b"<changed@sender.example>\0")
            self.send(b"c")
        elif mode == "quarantine":
            self.send(b"q", b"looks odd\0")
            self.send(b"c")
        elif mode == "slow":
            time.sleep(4)  # milter_content_timeout is 2s
            self.send(b"a")
        elif mode == "progress":
            for _ in range(3):
                time.sleep(1)
                self.send(b"p")
            self.send(b"h", b"X-Progress\0done\0")
            self.send(b"c")
        else:
            self.send(b"h", b"X-Script-Milter\0seen\0")
            self.send(b"a")


class ScriptMilter(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ScriptHandler)
        self.lock = threading.Lock()
        self.events = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def record(self, kind, value):
        with self.lock:
            self.events.append((kind, value))

    def seen(self, kind):
        with self.lock:
            return [v for k, v in self.events if k == kind]


class UnixScriptMilter(socketserver.ThreadingUnixStreamServer):
    """The same milter on a unix socket (smtpd_milters = unix:/path)."""
    daemon_threads = True

    def __init__(self, path):
        super().__init__(path, ScriptHandler)
        self.lock = threading.Lock()
        self.events = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    record = ScriptMilter.record
    seen = ScriptMilter.seen


class MilterTests(SiteTestCase):

    @classmethod
    def set_up_site(cls):
        why = available() or dkimpy_missing()
        if why:
            raise unittest.SkipTest(why)
        if not os.access(OPENDKIM, os.X_OK):
            raise unittest.SkipTest("no opendkim (scripts/deps.sh)")
        cls.make_site("postern-milter.")
        d = cls.dir
        cls.script = ScriptMilter()
        sp = cls.script.server_address[1]
        cls.port2, cls.port3, cls.port4, cls.port5, cls.dead, \
            cls.sign_port, cls.verify_port = free_ports(7)
        cls.unix_path = os.path.join(d, "milter.sock")
        cls.unix = UnixScriptMilter(cls.unix_path)
        # The DKIM key first: its record goes into the zone.
        kdir = os.path.join(d, "dkimkeys")
        os.mkdir(kdir, 0o700)
        subprocess.run([GENKEY, "-b", "2048", "-d", DOM, "-s", SELECTOR,
                        "-D", kdir], check=True)
        with open(os.path.join(kdir, SELECTOR + ".txt")) as f:
            txt = "".join(re.findall(r'"([^"]*)"', f.read()))
        cls.dns = DnsServer([
            Zone(DOM, [(SELECTOR + "._domainkey", "TXT", txt_rdata(txt))]),
        ]).start()
        cls.resolver_port = int(cls.dns.resolver.split("@")[1])
        try:
            cls.start_opendkim(kdir)
        except BaseException:
            cls.stop_helpers()
            raise
        settings = cls.pick_ports()
        settings += ["myhostname=mx.test", "stop_timeout=5s",
                     "log_target=file",
                     "smtpd_milters=inet:127.0.0.1:%d" % sp,
                     # postern sendmail's mail
                     "non_smtpd_milters=inet:127.0.0.1:%d" % sp,
                     "milter_command_timeout=2s",
                     "milter_content_timeout=2s",
                     "smtpd_soft_error_limit=1000",
                     "smtpd_hard_error_limit=1000",
                     "smtpd_error_sleep_time=0"]
        run_postern(d, "config", "set", *settings)
        with open(os.path.join(d, "services.cf"), "w") as f:
            f.write(
                "smtp   inet  127.0.0.1:$smtp_port  none  1  postern-smtpd\n"
                # a dead milter, default action tempfail
                "smtp2  inet  127.0.0.1:%d  none  1  postern-smtpd "
                "-o smtpd_milters=inet:127.0.0.1:%d\n"
                # a dead milter, default action accept, then the script
                "smtp3  inet  127.0.0.1:%d  none  1  postern-smtpd "
                "-o smtpd_milters=inet:127.0.0.1:%d,inet:127.0.0.1:%d "
                "-o milter_default_action=accept\n"
                # OpenDKIM: the signer, then the verifier
                "smtp4  inet  127.0.0.1:%d  none  1  postern-smtpd "
                "-o smtpd_milters=inet:127.0.0.1:%d,inet:127.0.0.1:%d\n"
                # the script milter on a unix socket
                "smtp5  inet  127.0.0.1:%d  none  1  postern-smtpd "
                "-o smtpd_milters=unix:%s\n"
                # non_smtpd_milters: the webmail's mail
                "webmail inet 127.0.0.1:$webmail_port none 1 "
                "postern-webmail -o non_smtpd_milters=inet:127.0.0.1:%d\n"
                "queue  unix  $queue_socket  none  1  postern-queued\n"
                "lmtp-unix unix $lmtp_socket none 1 postern-lmtpd\n"
                % (cls.port2, cls.dead, cls.port3, cls.dead, sp,
                   cls.port4, cls.sign_port, cls.verify_port,
                   cls.port5, cls.unix_path, sp))
        run_postern(d, "domain", "add", DOM)
        for user in ("alice", "bob"):
            run_postern(d, "mailbox", "add", "%s@%s" % (user, DOM),
                        "--password-stdin", stdin="pw-%s-secret\n" % user)
        run_postern(d, "start")
        cls.started = True
        cls.port = cls.ports["smtp"]

    @classmethod
    def start_opendkim(cls, kdir):
        """Two opendkim processes in the foreground: a signer and a
        verifier whose resolver (libunbound) asks the test DNS."""
        ub = os.path.join(kdir, "unbound.conf")
        with open(ub, "w") as f:
            f.write("server:\n  do-not-query-localhost: no\n"
                    "forward-zone:\n  name: \".\"\n"
                    "  forward-addr: 127.0.0.1@%d\n" % cls.resolver_port)
        confs = {
            "sign": "Mode s\nDomain %s\nSelector %s\nKeyFile %s\n"
                    "Socket inet:%d@127.0.0.1\n"
                    "Canonicalization relaxed/relaxed\n"
                    % (DOM, SELECTOR,
                       os.path.join(kdir, SELECTOR + ".private"),
                       cls.sign_port),
            # 127.0.0.1 is not internal to it: it verifies, not signs.
            "verify": "Mode v\nInternalHosts 192.0.2.99\n"
                      "AuthservID mx.test\nResolverConfiguration %s\n"
                      "Socket inet:%d@127.0.0.1\n" % (ub, cls.verify_port),
        }
        cls.opendkim = []
        for name, text in confs.items():
            path = os.path.join(kdir, name + ".conf")
            with open(path, "w") as f:
                # RequireSafeKeys: the key is under /tmp (world-writable).
                f.write(text + "Syslog no\nBackground no\n"
                        "RequireSafeKeys false\n"
                        "PidFile %s/%s.pid\n" % (kdir, name))
            with open(os.path.join(kdir, name + ".log"), "w") as log:
                cls.opendkim.append(subprocess.Popen(
                    [OPENDKIM, "-f", "-x", path], stdout=log, stderr=log))
        for port in (cls.sign_port, cls.verify_port):
            deadline = time.time() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise AssertionError("opendkim did not start")
                    time.sleep(0.2)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.stop_helpers()

    @classmethod
    def stop_helpers(cls):
        for p in getattr(cls, "opendkim", []):
            p.terminate()
            p.wait(10)
        cls.opendkim = []
        for name in ("script", "unix"):
            if hasattr(cls, name):
                getattr(cls, name).shutdown()
                getattr(cls, name).server_close()
                delattr(cls, name)
        if hasattr(cls, "dns"):
            cls.dns.stop()
            del cls.dns

    # ---- helpers

    def send(self, rcpts, token, port=None, sender="s@sender.example",
             headers=""):
        """One message; the replies to each RCPT and to the end of DATA
        (None when no recipient was accepted)."""
        c = SmtpSession(port or self.port, joined=True)
        try:
            self.assertTrue(c.cmd("EHLO client.example").startswith("250"))
            r = c.cmd("MAIL FROM:<%s>" % sender)
            if not r.startswith("250"):
                return [r], None
            replies = [c.cmd("RCPT TO:<%s>" % a) for a in rcpts]
            if not any(r.startswith("250") for r in replies):
                return replies, None
            self.assertTrue(c.cmd("DATA").startswith("354"))
            end = c.cmd("From: <s@%s>\r\nTo: <alice@%s>\r\n"
                        "Subject: %s\r\n%s\r\nbody %s\r\n."
                        % (DOM, DOM, token, headers, token))
            return replies, end
        finally:
            c.close()

    def mailbox_files(self, user):
        top = os.path.join(self.dir, "mail")
        out = []
        for root, _, files in os.walk(top):
            if (os.sep + "new" not in root and os.sep + "cur" not in root):
                continue
            if user not in root:
                continue
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    out.append(f.read())
        return out

    def delivered(self, token, user="alice"):
        """The delivered message with token, or None."""
        for data in self.mailbox_files(user):
            if token.encode() in data:
                # Maildir files have LF line ends.
                return data.replace(b"\r\n", b"\n")
        return None

    def wait_delivered(self, token, user="alice", timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            data = self.delivered(token, user)
            if data is not None:
                return data
            time.sleep(0.2)
        self.fail("not delivered to %s: %s\n%s"
                  % (user, token, self.log()[-2000:]))

    def token(self, name):
        return "%s-%d-%d" % (name, os.getpid(), time.monotonic_ns())

    def assert_never_delivered(self, token, user="alice"):
        ctl = self.token("control")
        _, r = self.send(["alice@%s" % DOM], ctl)
        self.assertTrue(r.startswith("250"), r)
        self.wait_delivered(ctl)
        time.sleep(0.5)
        self.assertIsNone(self.delivered(token, user))

    # ---- the scripted milter: verdicts

    def test_pass_and_macros(self):
        tok = self.token("pass")
        replies, r = self.send(["alice@%s" % DOM], tok)
        self.assertEqual(replies, ["250 2.1.5 Ok"])
        self.assertRegex(r, r"^250 2\.0\.0 Ok: queued as \S+$")
        data = self.wait_delivered(tok)
        self.assertIn(b"X-Script-Milter: seen\n", data)
        # What the milter was told.
        ver, act, proto = self.script.seen("optneg")[-1]
        self.assertEqual(ver, 6)
        self.assertEqual(act, 0x1ff)
        conn = [m for m in self.script.seen("macros-C")
                if m.get("{client_addr}") == "127.0.0.1"]
        self.assertTrue(conn)
        self.assertEqual(conn[-1]["j"], "mx.test")
        self.assertEqual(conn[-1]["{daemon_name}"], "mx.test")
        mail = self.script.seen("macros-M")[-1]
        self.assertEqual(mail["{mail_addr}"], "s@sender.example")
        rcpt = self.script.seen("macros-R")[-1]
        self.assertEqual(rcpt["{rcpt_addr}"], "alice@%s" % DOM)
        msgs = [m for m in self.script.seen("message") if tok.encode()
                in m[2]]
        self.assertTrue(msgs)
        names = [h[0] for h in msgs[-1][1]]
        self.assertEqual(names[:1], ["Received"])
        self.assertIn("Subject", names)
        self.assertIn(("Subject", tok), msgs[-1][1])
        self.assertTrue(msgs[-1][2].endswith(b"body %s\r\n" % tok.encode()))

    def test_reject_at_mail(self):
        replies, r = self.send(["alice@%s" % DOM], "x",
                               sender="mailreject@sender.example")
        self.assertEqual(replies, ["550 5.7.1 Command rejected"])

    def test_reject_at_rcpt(self):
        replies, r = self.send(["alice+rcptreject@%s" % DOM,
                                "alice+rcptcode@%s" % DOM], "x")
        self.assertEqual(replies, ["550 5.7.1 Command rejected",
                                   "550 5.1.1 Milter: no such user"])
        self.assertIsNone(r)

    def test_reject(self):
        tok = self.token("reject")
        _, r = self.send(["alice+reject@%s" % DOM], tok)
        self.assertEqual(r, "550 5.7.1 Command rejected")
        self.assert_never_delivered(tok)

    def test_tempfail(self):
        tok = self.token("tempfail")
        _, r = self.send(["alice+tempfail@%s" % DOM], tok)
        self.assertEqual(r, "451 4.7.1 Service unavailable - try again later")
        self.assert_never_delivered(tok)

    def test_replycode(self):
        tok = self.token("replycode")
        _, r = self.send(["alice+replycode@%s" % DOM], tok)
        self.assertEqual(r, "554 5.7.0 Milter says no")
        self.assert_never_delivered(tok)

    def test_discard(self):
        tok = self.token("discard")
        _, r = self.send(["alice+discard@%s" % DOM], tok)
        self.assertRegex(r, r"^250 2\.0\.0 Ok: queued as \S+$")
        self.assert_never_delivered(tok)
        self.assertNotIn(tok, run_postern(self.dir, "queue", "list").stdout)

    # ---- modifications

    def test_headers(self):
        tok = self.token("headers")
        _, r = self.send(["alice+headers@%s" % DOM], tok,
                         headers="X-Remove-Me: please\r\n")
        self.assertTrue(r.startswith("250"), r)
        data = self.wait_delivered("body " + tok)
        head = data.split(b"\n\n", 1)[0]
        self.assertIn(b"\nX-Milter-Added: yes", head)
        self.assertIn(b"\nSubject: changed by milter", head)
        self.assertNotIn(b"Subject: " + tok.encode(), head)
        self.assertNotIn(b"X-Remove-Me", head)
        # insheader at 0: above our Received header.
        self.assertIn(b"\nX-Milter-Top: top\nReceived: from client.example",
                      head)

    def test_recipients(self):
        tok = self.token("rcpts")
        _, r = self.send(["alice+rcpts@%s" % DOM], tok)
        self.assertTrue(r.startswith("250"), r)
        self.wait_delivered(tok, user="bob")
        time.sleep(1)
        self.assertIsNone(self.delivered(tok, user="alice"))

    def test_body(self):
        tok = self.token("body")
        _, r = self.send(["alice+body@%s" % DOM], tok)
        self.assertTrue(r.startswith("250"), r)
        data = self.wait_delivered(tok)  # the token is in the Subject
        body = data.split(b"\n\n", 1)[1]
        self.assertEqual(body, b"replaced body line 1\n"
                               b"replaced body line 2\n")

    def test_change_from(self):
        tok = self.token("chgfrom")
        _, r = self.send(["alice+chgfrom@%s" % DOM], tok)
        self.assertTrue(r.startswith("250"), r)
        data = self.wait_delivered(tok)
        self.assertIn(b"Return-Path: <changed@sender.example>", data)

    def test_quarantine(self):
        tok = self.token("quarantine")
        _, r = self.send(["alice+quarantine@%s" % DOM], tok)
        m = re.match(r"^250 2\.0\.0 Ok: queued as (\S+)$", r)
        self.assertTrue(m, r)
        qid = m.group(1)
        deadline = time.time() + 10
        out = ""
        while time.time() < deadline:
            out = run_postern(self.dir, "queue", "list").stdout
            if re.search(r"(?m)^%s\s*!" % qid, out):
                break
            time.sleep(0.2)
        self.assertRegex(out, r"(?m)^%s\s*!" % qid)
        self.assertIsNone(self.delivered(tok))
        r = run_postern(self.dir, "queue", "release", qid)
        self.assertIn("1 message released", r.stdout)
        self.wait_delivered(tok)

    def test_progress_keeps_waiting(self):
        tok = self.token("progress")
        _, r = self.send(["alice+progress@%s" % DOM], tok)
        self.assertTrue(r.startswith("250"), r)
        data = self.wait_delivered(tok)
        self.assertIn(b"X-Progress: done", data)

    def test_unix_socket(self):
        tok = self.token("unix")
        _, r = self.send(["alice+headers@%s" % DOM], tok, port=self.port5)
        self.assertTrue(r.startswith("250"), r)
        data = self.wait_delivered("body " + tok)
        self.assertIn(b"\nSubject: changed by milter", data)
        self.assertTrue(any(tok.encode() in m[2]
                            for m in self.unix.seen("message")))
        _, r = self.send(["alice+reject@%s" % DOM], "x", port=self.port5)
        self.assertEqual(r, "550 5.7.1 Command rejected")

    # ---- non_smtpd_milters: the webmail

    def webmail(self):
        from test_webmail_api import Client as WebClient
        deadline = time.time() + 20
        while True:
            try:
                c = WebClient(self.ports["webmail"])
                st, _, doc = c.login("alice@" + DOM, "pw-alice-secret")
                self.assertEqual(st, 200, doc)
                return c
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)

    def test_webmail_non_smtpd_milters(self):
        c = self.webmail()
        tok = self.token("wm")
        st, _, doc = c.post("/api/send", {
            "to": ["bob@" + DOM], "subject": "milter:headers " + tok,
            "text": "hello " + tok})
        self.assertEqual(st, 200, doc)
        data = self.wait_delivered("hello " + tok, user="bob")
        head = data.split(b"\n\n", 1)[0]
        self.assertIn(b"\nSubject: changed by milter", head)
        self.assertIn(b"\nX-Milter-Added: yes", head)
        # Told as Postfix tells non-SMTP mail: localhost, the user.
        mails = [m for m in self.script.seen("macros-M")
                 if m.get("{auth_authen}") == "alice@" + DOM]
        self.assertTrue(mails)
        self.assertEqual(mails[-1]["{mail_addr}"], "alice@" + DOM)

        tok = self.token("wmreject")
        st, _, doc = c.post("/api/send", {
            "to": ["bob@" + DOM], "subject": "milter:reject " + tok,
            "text": "hello " + tok})
        self.assertEqual(st, 422, doc)
        self.assertIn("5.7.1 Command rejected", doc.get("message", str(doc)))
        time.sleep(1)
        self.assertIsNone(self.delivered("hello " + tok, user="bob"))

    def test_sendmail_non_smtpd_milters(self):
        tok = self.token("sm")
        p = run_postern(self.dir, "sendmail", "-f", "alice@" + DOM,
                        "bob@" + DOM, check=False,
                        stdin="Subject: milter:body %s\n\nhello\n" % tok)
        self.assertEqual(p.returncode, 0, p.stderr)
        data = self.wait_delivered(tok, user="bob")
        self.assertTrue(data.endswith(b"\n\nreplaced body line 1\n"
                                      b"replaced body line 2\n"), data)
        tok = self.token("smreject")
        p = run_postern(self.dir, "sendmail", "bob@" + DOM, check=False,
                        stdin="Subject: milter:replycode %s\n\nhi\n" % tok)
        self.assertEqual(p.returncode, 69, p.stderr)
        self.assertIn("5.7.0 Milter says no", p.stderr)
        tok = self.token("smtemp")
        p = run_postern(self.dir, "sendmail", "bob@" + DOM, check=False,
                        stdin="Subject: milter:tempfail %s\n\nhi\n" % tok)
        self.assertEqual(p.returncode, 75, p.stderr)
        time.sleep(1)
        self.assertIsNone(self.delivered(tok, user="bob"))

    # ---- failures and milter_default_action

    def test_slow_milter_tempfail(self):
        tok = self.token("slow")
        t0 = time.monotonic()
        _, r = self.send(["alice+slow@%s" % DOM], tok)
        self.assertEqual(r, "451 4.7.1 Service unavailable - try again later")
        self.assertLess(time.monotonic() - t0, 4)
        self.wait_log(r"milter inet:127\.0\.0\.1:\d+: timeout")
        self.assert_never_delivered(tok)

    def test_dead_milter_tempfail(self):
        replies, r = self.send(["alice@%s" % DOM], "dead", port=self.port2)
        self.assertEqual(replies,
                         ["451 4.7.1 Service unavailable - try again later"])

    def test_dead_milter_accept(self):
        tok = self.token("deadaccept")
        _, r = self.send(["alice@%s" % DOM], tok, port=self.port3)
        self.assertTrue(r.startswith("250"), r)
        data = self.wait_delivered(tok)
        # The second milter still ran.
        self.assertIn(b"X-Script-Milter: seen", data)

    def test_slow_milter_accept(self):
        tok = self.token("slowaccept")
        _, r = self.send(["alice+slow@%s" % DOM], tok, port=self.port3)
        self.assertTrue(r.startswith("250"), r)
        self.wait_delivered(tok)

    # ---- OpenDKIM

    def verify(self, data):
        p = subprocess.run([VERIFIER_PYTHON, "-c", VERIFIER,
                            str(self.resolver_port)], input=data,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        import json
        return json.loads(p.stdout)

    def test_opendkim(self):
        tok = self.token("dkim")
        _, r = self.send(["alice@%s" % DOM], tok, port=self.port4,
                         headers="X-Folded: one\r\n\ttwo\r\n")
        self.assertTrue(r.startswith("250"), r)
        data = self.wait_delivered(tok)
        head = data.split(b"\n\n", 1)[0]
        self.assertIn(b"DKIM-Signature:", head)
        res = self.verify(data)
        self.assertEqual(len(res), 1, res)
        self.assertTrue(res[0]["ok"], res)
        self.assertEqual(res[0]["d"], DOM)
        self.assertEqual(res[0]["s"], SELECTOR)
        # The verifier behind it saw the signature and said so.
        m = re.search(rb"Authentication-Results: mx\.test;(.*?)\n(?=\S)",
                      head, re.S)
        self.assertTrue(m, head.decode(errors="replace"))
        self.assertRegex(m.group(1), rb"dkim=pass \([^)]*\) header\.d=" +
                         re.escape(DOM.encode()))
        # A copy changed after signing fails.
        bad = data.replace(b"body " + tok.encode(), b"body changed")
        self.assertFalse(self.verify(bad)[0]["ok"])


if __name__ == "__main__":
    unittest.main()
