#!/usr/bin/env python3
"""Real IMAP clients against the server, over IMAPS with the server's
self-signed certificate:

- mbsync (isync) pulls INBOX and a folder into a local Maildir; then a
  flag is set, a message added and one deleted locally, mbsync pushes,
  and imaplib checks the server's state.
- curl fetches one message by UID and lists the folders.
- neomutt, in a pseudo-terminal with keys pushed by -e, opens the INBOX
  over imaps://, pipes the first message to a file and quits: the file
  must hold that message.

IMAP_TARGET=dovecot runs it against a throwaway Dovecot 2.3 (to check
the tests); Postern by default.  Exit 0 pass, 1 fail, 77 skip.
"""
import glob
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_site as site  # noqa: E402
from imap_site import PASSWORD, make_message  # noqa: E402

T = None


def setUpModule():
    global T
    if site.target_kind() == "postern" and not site.have_postern_imapd():
        raise unittest.SkipTest("postern-imapd not built in " + site.BUILD)
    T = site.target_from_env(["mb", "cu", "mu"])


def tearDownModule():
    if T:
        T.cleanup()


def local_files(d):
    return sorted(glob.glob(os.path.join(d, "cur", "*")) +
                  glob.glob(os.path.join(d, "new", "*")))


class Mbsync(unittest.TestCase):
    def setUp(self):
        if not shutil.which("mbsync"):
            self.skipTest("mbsync (isync) not installed")
        self.tmp = tempfile.mkdtemp(prefix="postern-mbsync.")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def rc(self):
        local = os.path.join(self.tmp, "local")
        os.makedirs(local, exist_ok=True)
        path = os.path.join(self.tmp, "mbsyncrc")
        with open(path, "w") as f:
            f.write("""\
IMAPAccount acc
Host localhost
Port {port}
User {user}
Pass "{pw}"
SSLType IMAPS
CertificateFile {cert}

IMAPStore remote
Account acc

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel ch
Far :remote:
Near :local:
Patterns INBOX Work
Create Both
Expunge Both
SyncState *
Sync All
""".format(port=T.imaps_port, user=T.address("mb"), pw=PASSWORD,
           cert=T.cert_file, local=local))
        return path, local

    def mbsync(self, rc):
        p = subprocess.run(["mbsync", "-c", rc, "-a"], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_sync_both_ways(self):
        c = T.imap("mb")
        c.create("Work")
        for i in range(3):
            c.append("INBOX", "(\\Seen)" if i == 0 else "", None,
                     make_message(100 + i, subject="mbsync %d" % i))
        c.append("Work", "(\\Flagged)", None, make_message(200,
                                                           subject="work"))
        rc, local = self.rc()
        self.mbsync(rc)
        inbox = local_files(os.path.join(local, "INBOX"))
        self.assertEqual(len(inbox), 3, inbox)
        work = local_files(os.path.join(local, "Work"))
        self.assertEqual(len(work), 1)
        self.assertRegex(work[0], r":2,[A-Z]*F")
        by_subject = {}
        for p in inbox:
            with open(p, "rb") as f:
                data = f.read()
            subj = re.search(rb"^Subject: (.*)$", data, re.M).group(1)
            by_subject[subj.strip().decode()] = p
            self.assertIn(b"Message-ID: <msg", data)
        self.assertRegex(by_subject["mbsync 0"], r":2,[A-Z]*S")
        self.assertNotRegex(by_subject["mbsync 1"], r":2,[A-Z]*S")

        # local changes: flag one, delete one, add one
        p1 = by_subject["mbsync 1"]
        base, info = (p1.split(":2,") + [""])[:2]
        flagged = base.replace("/new/", "/cur/") + ":2," + "".join(
            sorted(set(info + "FS")))
        os.rename(p1, flagged)
        os.unlink(by_subject["mbsync 2"])
        new = make_message(300, subject="added locally")
        with open(os.path.join(local, "INBOX", "new",
                               "%d.local.test" % time.time()), "wb") as f:
            f.write(new.replace(b"\r\n", b"\n"))
        self.mbsync(rc)

        c.select("INBOX")
        typ, data = c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS "
                                   "(SUBJECT)])")
        got = {}
        for d in data:
            if isinstance(d, tuple):
                subj = d[1].split(b":", 1)[1].strip().decode()
                got[subj] = d[0]
        self.assertEqual(sorted(got), ["added locally", "mbsync 0",
                                       "mbsync 1"])
        self.assertIn(b"\\Flagged", got["mbsync 1"])
        self.assertIn(b"\\Seen", got["mbsync 1"])
        typ, data = c.uid("SEARCH", None, "SUBJECT", '"added locally"')
        uid = data[0].split()[0]
        typ, data = c.uid("FETCH", uid, "(BODY.PEEK[TEXT])")
        self.assertEqual(data[0][1], b"Hello, this is message 300.\r\n"
                                     b"Second line.\r\n")
        c.logout()


class Curl(unittest.TestCase):
    def curl(self, url, *extra):
        p = subprocess.run(["curl", "-sS", "-k", "--max-time", "30",
                            "-u", "%s:%s" % (T.address("cu"), PASSWORD),
                            *extra, url],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_fetch_and_list(self):
        c = T.imap("cu")
        c.create("Projects")
        c.create("Projects.Alpha")
        c.append("INBOX", "", None, make_message(1, subject="for curl"))
        typ, data = c.select("INBOX")
        uid = c.fetch("1", "(UID)")[1][0].split()[-1].rstrip(b")")
        c.logout()
        base = "imaps://127.0.0.1:%d/" % T.imaps_port
        out = self.curl(base + "INBOX;UID=" + uid.decode())
        self.assertEqual(out.replace(b"\r\n", b"\n"),
                         make_message(1, subject="for curl").replace(
                             b"\r\n", b"\n"))
        out = self.curl(base)
        names = re.findall(rb'^\* LIST \([^)]*\) "\." "?([^"\r\n]*)"?\r?$',
                           out, re.M)
        for n in (b"INBOX", b"Projects", b"Projects.Alpha", b"Sent",
                  b"Trash"):
            self.assertIn(n, names, out)
        out = self.curl(base + "INBOX?SUBJECT%20curl")
        self.assertRegex(out, rb"\* SEARCH 1\b")


class Neomutt(unittest.TestCase):
    def test_read_inbox(self):
        if not shutil.which("neomutt"):
            self.skipTest("neomutt not installed")
        body_marker = "neomutt-marker-%d" % os.getpid()
        T.deliver("mu", make_message(5, subject="mutt reads this",
                                     body="%s\r\n" % body_marker))
        tmp = tempfile.mkdtemp(prefix="postern-neomutt.")
        self.addCleanup(shutil.rmtree, tmp, True)
        out = os.path.join(tmp, "piped.txt")
        rc = os.path.join(tmp, "muttrc")
        with open(rc, "w") as f:
            f.write("""\
set imap_user = "{user}"
set imap_pass = "{pw}"
set certificate_file = "{cert}"
set ssl_verify_host = no
set ssl_starttls = no
set header_cache = ""
set message_cachedir = ""
set folder = "imaps://127.0.0.1:{port}/"
set spoolfile = "+INBOX"
set mbox_type = Maildir
set wait_key = no
set pipe_decode = no
set confirmappend = no
set quit = yes
set sort = date
set mail_check_stats = no
set imap_passive = yes
""".format(user=T.address("mu"), pw=PASSWORD, cert=T.cert_file,
           port=T.imaps_port))
        keys = ('push "<pipe-message>cat > %s<enter><quit>"' % out)
        env = dict(os.environ, TERM="xterm", HOME=tmp, COLUMNS="100",
                   LINES="30")
        pid, fd = pty.fork()
        if pid == 0:
            os.execvpe("neomutt", ["neomutt", "-n", "-F", rc, "-f",
                                   "imaps://127.0.0.1:%d/INBOX" %
                                   T.imaps_port, "-e", keys], env)
        screen = b""
        deadline = time.time() + 45
        status = None
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                screen += chunk
                if not chunk:
                    break
            wpid, st = os.waitpid(pid, os.WNOHANG)
            if wpid:
                status = st
                break
        if status is None:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
        os.close(fd)
        self.assertTrue(os.path.exists(out),
                        "neomutt piped nothing; screen: %r" % screen[-2000:])
        with open(out, "rb") as f:
            data = f.read()
        self.assertIn(b"Subject: mutt reads this", data)
        self.assertIn(body_marker.encode(), data)


if __name__ == "__main__":
    if site.target_kind() == "postern" and not site.have_postern_imapd():
        print("skip: postern-imapd not built in " + site.BUILD)
        sys.exit(77)
    unittest.main(verbosity=2)
