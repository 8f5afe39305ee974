#!/usr/bin/env python3
"""Black-box test of `postern sendmail` (the maildrop drop) and the pickup
in postern-queued: messages written by the sendmail command line are
delivered into Maildirs through the queue and postern-lmtpd.

`postern init` in a temporary folder, mailboxes and an alias in the
embedded SQLite database, the queue and lmtp-unix services.  Python 3
standard library only; programs come from $POSTERN_BUILD_DIR (default
./build).
"""
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import SiteLog, wait_for  # noqa: E402

BUILD = os.path.abspath(os.environ.get("POSTERN_BUILD_DIR", "build"))
POSTERN = os.path.join(BUILD, "postern")

SERVICES = """\
queue        unix  $queue_socket                          none      1      postern-queued
lmtp-unix    unix  $lmtp_socket                           none      1      postern-lmtpd
"""


def rec(t, payload=b""):
    """One record of lib/queue/submit.h's framing."""
    if isinstance(payload, str):
        payload = payload.encode()
    return t.encode() + struct.pack(">I", len(payload)) + payload


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sendmail(SiteLog, unittest.TestCase):
    def setUp(self):
        for prog in ("postern", "postern-queued", "postern-lmtpd"):
            if not os.access(os.path.join(BUILD, prog), os.X_OK):
                self.skipTest("no %s in %s" % (prog, BUILD))
        self.tmp = tempfile.TemporaryDirectory(prefix="postern-sendmail.")
        self.dir = self.tmp.name
        self.started = False
        r = self.postern("init")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.postern("config", "set", "log_target=file",
                         "stop_timeout=5s", "myhostname=mx.test.example",
                         "pickup_scan_interval=1s",
                         "lmtp_port=%d" % free_port())
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        for cmd in (["domain", "add", "d.example"],
                    ["mailbox", "add", "u@d.example", "--password-stdin"],
                    ["mailbox", "add", "v@d.example", "--password-stdin"],
                    ["mailbox", "add", "w@d.example", "--password-stdin"],
                    ["alias", "add", "team@d.example",
                     "v@d.example,w@d.example"]):
            r = subprocess.run([POSTERN, "-c", self.dir] + cmd,
                               input="secret-pw-1\n", capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)

    def start(self):
        r = self.postern("start")
        self.assertEqual(r.returncode, 0, r.stderr + self.log())
        self.started = True

    def tearDown(self):
        if getattr(self, "started", False):
            self.postern("stop")
        if hasattr(self, "tmp"):
            self.tmp.cleanup()

    def postern(self, *args, timeout=60):
        return subprocess.run([POSTERN, "-c", self.dir] + list(args),
                              capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def sendmail(self, args, message, argv0=None):
        cmd = [argv0 or POSTERN] + ([] if argv0 else
                                    ["-c", self.dir, "sendmail"]) + args
        return subprocess.run(cmd, input=message, capture_output=True,
                              timeout=60)

    def maildir(self, user):
        d = os.path.join(self.dir, "mail", "d.example", user)
        out = []
        for dp, _, fns in os.walk(d):
            if os.path.basename(dp) in ("new", "cur"):
                out += [os.path.join(dp, fn) for fn in fns]
        return out

    def wait_mail(self, user, n=1):
        files = wait_for(lambda: (lambda f: f if len(f) >= n else None)(
            self.maildir(user)), 20, "%d message(s) for %s\n%s" % (
                n, user, self.log()[-3000:]))
        self.assertEqual(len(files), n, files)
        contents = []
        for fn in sorted(files):
            with open(fn, "rb") as f:
                contents.append(f.read())
        return contents

    def maildrop(self):
        return os.path.join(self.dir, "queue", "maildrop")

    def test_t_i_to_cc_bcc(self):
        self.start()
        msg = (b"To: U Ser <u@d.example>\n"
               b"Cc: team@d.example (the team)\n"
               b"Bcc: hidden <w@d.example>\n"
               b"Subject: hello\n"
               b"\n"
               b"first line\n"
               b".\n"
               b"after the dot\n")
        r = self.sendmail(["-t", "-i", "-f", "s@x.example"], msg)
        self.assertEqual(r.returncode, 0, r.stderr)
        for user in ("u", "v", "w"):
            (content,) = self.wait_mail(user)
            self.assertIn(b"Subject: hello\n", content)
            self.assertNotIn(b"Bcc:", content)
            self.assertNotIn(b"hidden", content)
            # -i: the lone dot is content, and so is what follows.
            self.assertIn(b"\nfirst line\n.\nafter the dot\n", content)
            self.assertIn(b"To: U Ser <u@d.example>\n", content)
            self.assertRegex(content, rb"(?m)^Date: ")
            self.assertRegex(content,
                             rb"(?m)^Message-ID: <[^>]+@mx\.test\.example>")
            self.assertRegex(content, rb"(?m)^From: s@x\.example$")
            self.assertRegex(content, rb"Received: by mx\.test\.example "
                             rb"\(Postern, from userid \d+\)")
        # w got it once, though named by Bcc and by the team alias.
        self.assertEqual(len(self.maildir("w")), 1)
        self.wait_log(r": uid=%d from=<s@x\.example>" % os.getuid())
        self.assertEqual(os.listdir(self.maildrop()), [])

    def test_f_sets_return_path(self):
        self.start()
        r = self.sendmail(["-f", "bounces@x.example", "u@d.example"],
                          b"Subject: f\n\nbody\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        (content,) = self.wait_mail("u")
        self.assertTrue(content.startswith(
            b"Return-Path: <bounces@x.example>\n"), content[:200])

    def test_null_sender(self):
        self.start()
        r = self.sendmail(["-f", "<>", "u@d.example"], b"Subject: n\n\nx\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        (content,) = self.wait_mail("u")
        self.assertTrue(content.startswith(b"Return-Path: <>\n"),
                        content[:200])
        self.assertIn(b"From: MAILER-DAEMON@mx.test.example\n", content)

    def test_default_sender_and_from(self):
        self.start()
        r = self.sendmail(["-F", "Cron Daemon", "u@d.example"],
                          b"Subject: no from\n\nbody\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        (content,) = self.wait_mail("u")
        import pwd
        user = pwd.getpwuid(os.getuid()).pw_name
        self.assertIn(b"Return-Path: <%s@mx.test.example>" % user.encode(),
                      content)
        self.assertIn(b'From: "Cron Daemon" <%s@mx.test.example>'
                      % user.encode(), content)

    def test_lone_dot_ends_without_i(self):
        self.start()
        r = self.sendmail(["u@d.example"],
                          b"Subject: dot\n\nbefore\n.\nafter\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        (content,) = self.wait_mail("u")
        self.assertTrue(content.endswith(b"\nbefore\n"), content)
        self.assertNotIn(b"after", content)
        # "-oi" is -i; ".." is not unstuffed (sendmail never does).
        r = self.sendmail(["-oi", "u@d.example"],
                          b"Subject: dot2\n\n..x\n.\nafter\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        contents = self.wait_mail("u", 2)
        self.assertTrue(any(c.endswith(b"\n..x\n.\nafter\n")
                            for c in contents), contents)

    def test_dropped_while_stopped(self):
        # Never started: the maildrop folder does not exist yet either.
        r = self.sendmail(["-t"], b"To: u@d.example\nSubject: later\n\nx\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        files = os.listdir(self.maildrop())
        self.assertEqual(len(files), 1)
        self.assertEqual(os.stat(self.maildrop()).st_mode & 0o7777, 0o1733)
        self.assertEqual(self.maildir("u"), [])
        self.start()
        (content,) = self.wait_mail("u")
        self.assertIn(b"Subject: later\n", content)
        wait_for(lambda: os.listdir(self.maildrop()) == [],
                 what="the maildrop file removed")

    def test_corrupt_file_set_aside(self):
        self.start()
        os.makedirs(self.maildrop(), exist_ok=True)
        with open(os.path.join(self.maildrop(), "garbage1"), "wb") as f:
            f.write(b"this is not a maildrop file\n")
        # Well framed, but a recipient smtpd's parser would refuse.
        with open(os.path.join(self.maildrop(), "badrcpt"), "wb") as f:
            f.write(rec("B", "1") + rec("F", "s@x.example")
                    + rec("R", b"a b@d.example\0\0000")
                    + rec("D", "Subject: x\r\n\r\nx\r\n") + rec("C"))
        self.wait_log(r"maildrop file badrcpt: recipient <a b@d\.example>")
        # A valid file cut short before its commit record.
        r = self.postern("stop")
        self.started = False
        r = self.sendmail(["u@d.example"], b"Subject: cut\n\nx\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        name = [n for n in os.listdir(self.maildrop())
                if n != "garbage1"][0]
        path = os.path.join(self.maildrop(), name)
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[:-5])
        self.start()
        corrupt = os.path.join(self.dir, "queue", "corrupt")
        wait_for(lambda: os.path.exists(
            os.path.join(corrupt, "maildrop-garbage1")) and os.path.exists(
            os.path.join(corrupt, "maildrop-" + name)),
            what="both files in corrupt/\n" + self.log()[-2000:])
        self.assertTrue(os.path.exists(os.path.join(corrupt,
                                                    "maildrop-badrcpt")))
        self.wait_log(r"maildrop file garbage1: .*moved to")
        self.wait_log(r"maildrop file %s: truncated; moved to" %
                      re.escape(name))
        self.assertEqual(os.listdir(self.maildrop()), [])
        self.assertEqual(self.maildir("u"), [])

    def test_errors(self):
        # No recipients: EX_USAGE, nothing dropped.
        r = self.sendmail(["-t"], b"Subject: nobody\n\nx\n")
        self.assertEqual(r.returncode, 64, r.stderr)
        r = self.sendmail(["-X"], b"x\n")
        self.assertEqual(r.returncode, 64, r.stderr)
        r = self.sendmail(["-t"], b"To: a@@b\n\nx\n")
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertFalse(os.path.exists(self.maildrop()) and
                         os.listdir(self.maildrop()))
        # The maildrop cannot be written: EX_TEMPFAIL, as callers retry.
        if os.getuid() != 0:
            os.makedirs(self.maildrop(), exist_ok=True)
            os.chmod(self.maildrop(), 0o500)
            r = self.sendmail(["u@d.example"], b"x\n")
            os.chmod(self.maildrop(), 0o1733)
            self.assertEqual(r.returncode, 75, r.stderr)
        else:
            r = self.postern("config", "set",
                             "maildrop_directory=/proc/nonexistent/md")
            r = self.sendmail(["u@d.example"], b"x\n")
            self.assertEqual(r.returncode, 75, r.stderr)

    def test_invoked_as_sendmail(self):
        link = os.path.join(self.dir, "sendmail")
        os.symlink(POSTERN, link)
        r = subprocess.run([link, "-C", self.dir, "-t", "-oi"],
                           input=b"To: u@d.example\nSubject: link\n\nx\n",
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        env = dict(os.environ, POSTERN_CONFIG_DIR=self.dir)
        r = subprocess.run([link, "u@d.example"], input=b"Subject: env\n\n",
                           capture_output=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.start()
        contents = self.wait_mail("u", 2)
        subjects = sorted(re.search(rb"Subject: (\w+)", c).group(1)
                          for c in contents)
        self.assertEqual(subjects, [b"env", b"link"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
