#!/usr/bin/env python3
"""lib/mindex against Dovecot 2.3 on the same Maildir, both ways, without
IMAP: doveadm (with a throwaway config, no daemon) and mindex_tool (a
command line over lib/mindex, built from tests/unit/mindex/).

1. Dovecot saves messages, sets flags and keywords, expunges (a UID gap),
   creates a folder and a subscription; mindex must show the same
   UIDVALIDITY, UIDNEXT, UIDs, flags, keywords and subscription.
2. mindex appends (with flags and a keyword), stores flags, expunges and
   creates a folder; doveadm must show the same UIDs, flags, keywords,
   UIDVALIDITY, UIDNEXT and subscription.

Exit 0 pass, 1 fail, 77 skip (no doveadm or no mindex_tool).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD = os.path.abspath(os.environ.get("POSTERN_BUILD_DIR", "build"))
TOOL = os.path.join(BUILD, "tests", "mindex_tool")
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
USER, DOMAIN = "john", "example.org"

CONF = """\
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
protocols =
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_uid = {uid}
mail_gid = {gid}
mail_location = maildir:~
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}
}}
namespace inbox {{
  inbox = yes
  separator = .
  prefix =
}}
"""


def message(n):
    return ("From: a@example.org\r\nSubject: message %d\r\n\r\nbody %d\r\n"
            % (n, n)).encode()


class DovecotInterop(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(DOVEADM) or not os.path.exists(TOOL):
            raise unittest.SkipTest("doveadm or mindex_tool missing")
        self.tmp = tempfile.mkdtemp(prefix="postern-mindex-dovecot-")
        os.chmod(self.tmp, 0o755)
        # Dovecot refuses mail access as root: use nobody then.
        if os.getuid() == 0:
            self.uid, self.gid = 65534, 65534
            self.drop = ["setpriv", "--reuid=65534", "--regid=65534",
                         "--clear-groups"]
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            self.drop = []
        self.root = os.path.join(self.tmp, "mail")
        self.home = os.path.join(self.root, DOMAIN, USER)
        os.makedirs(self.home)
        for d in ("run", "state"):
            os.makedirs(os.path.join(self.tmp, d))
        self.conf = os.path.join(self.tmp, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(CONF.format(tmp=self.tmp, uid=self.uid, gid=self.gid,
                                home=self.home))
        if os.getuid() == 0:
            for dirpath, _, files in os.walk(self.root):
                os.chown(dirpath, self.uid, self.gid)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def doveadm(self, *args, data=None):
        env = dict(os.environ, HOME=self.home, USER=USER)
        p = subprocess.run([DOVEADM, "-c", self.conf] + list(args),
                           input=data, capture_output=True, env=env,
                           timeout=60)
        if p.returncode != 0:
            raise AssertionError("doveadm %s: %s" % (args, p.stderr.decode()))
        return p.stdout.decode()

    def tool(self, *args, data=None):
        p = subprocess.run(self.drop + [TOOL, self.root, DOMAIN, USER]
                           + list(args), input=data, capture_output=True,
                           timeout=60)
        if p.returncode != 0:
            raise AssertionError("mindex_tool %s: %s"
                                 % (args, p.stderr.decode()))
        return p.stdout.decode()

    def dove_status(self, box):
        out = self.doveadm("-f", "flow", "mailbox", "status",
                           "uidvalidity uidnext messages", box)
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", out)}

    def dove_fetch(self, box):
        """{uid: set of flags} as Dovecot sees them (without \\Recent)."""
        out = self.doveadm("-f", "flow", "fetch", "uid flags",
                           "mailbox", box, "ALL")
        res = {}
        for line in out.splitlines():
            m = re.match(r"uid=(\d+) flags=(.*)$", line.strip())
            if m:
                flags = set(m.group(2).split()) - {"\\Recent"}
                res[int(m.group(1))] = flags
        return res

    def tool_dump(self, box):
        lines = self.tool("dump", box).splitlines()
        uv = int(lines[0].split()[1])
        un = int(lines[1].split()[1])
        msgs = {}
        for line in lines[2:]:
            parts = line.split()
            msgs[int(parts[0])] = set(parts[1:])
        return uv, un, msgs

    def test_dovecot_then_mindex_then_dovecot(self):
        # --- 1. Dovecot writes ---
        for n in range(1, 5):
            self.doveadm("save", "-m", "INBOX", data=message(n))
        self.doveadm("flags", "add", "\\Seen", "mailbox", "INBOX", "uid", "1")
        self.doveadm("flags", "add", "\\Flagged Important $Label1",
                     "mailbox", "INBOX", "uid", "2")
        self.doveadm("expunge", "mailbox", "INBOX", "uid", "3")
        self.doveadm("mailbox", "create", "-s", "Work")
        self.doveadm("save", "-m", "Work", data=message(9))
        st = self.dove_status("INBOX")
        want = self.dove_fetch("INBOX")
        self.assertEqual(sorted(want), [1, 2, 4])

        uv, un, got = self.tool_dump("INBOX")
        self.assertEqual(uv, st["uidvalidity"])
        self.assertEqual(un, st["uidnext"])
        self.assertEqual(got, want)
        self.assertEqual(got[2], {"\\Flagged", "Important", "$Label1"})
        wuv, _, wgot = self.tool_dump("Work")
        self.assertEqual(wuv, self.dove_status("Work")["uidvalidity"])
        self.assertEqual(sorted(wgot), [1])
        self.assertEqual(self.tool("subscribed", "Work").strip(), "yes")

        # --- 2. mindex writes ---
        uid = int(self.tool("append", "INBOX", "\\Seen Mine",
                            data=message(5)).strip())
        self.assertEqual(uid, st["uidnext"])
        self.tool("store", "INBOX", "1", "+", "\\Flagged Important")
        self.tool("store", "INBOX", "2", "-", "$Label1")
        self.tool("expunge", "INBOX", "4")
        self.tool("create", "Fresh")
        self.tool("subscribe", "Fresh")
        f1 = int(self.tool("append", "Fresh", "\\Answered",
                           data=message(6)).strip())
        f2 = int(self.tool("append", "Fresh", "", data=message(7)).strip())
        self.assertEqual((f1, f2), (1, 2))

        st2 = self.dove_status("INBOX")
        self.assertEqual(st2["uidvalidity"], st["uidvalidity"])
        self.assertEqual(st2["uidnext"], uid + 1)
        self.assertEqual(st2["messages"], 3)
        got2 = self.dove_fetch("INBOX")
        self.assertEqual(got2, {
            1: {"\\Seen", "\\Flagged", "Important"},
            2: {"\\Flagged", "Important"},
            uid: {"\\Seen", "Mine"},
        })
        # the same as mindex sees it now
        _, _, mine = self.tool_dump("INBOX")
        self.assertEqual(mine, got2)
        fuv, _, _ = self.tool_dump("Fresh")
        self.assertEqual(self.dove_status("Fresh")["uidvalidity"], fuv)
        self.assertEqual(self.dove_fetch("Fresh"),
                         {1: {"\\Answered"}, 2: set()})
        subs = self.doveadm("mailbox", "list", "-s")
        self.assertIn("Fresh", subs.split())
        # Dovecot goes on after our UIDs
        self.doveadm("save", "-m", "INBOX", data=message(8))
        self.assertEqual(max(self.dove_fetch("INBOX")), uid + 1)


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    if r.failures or r.errors:
        sys.exit(1)
    if r.skipped and r.testsRun == len(r.skipped):
        sys.exit(77)
    sys.exit(0)
