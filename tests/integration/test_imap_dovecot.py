#!/usr/bin/env python3
"""Dovecot interoperability through IMAP, both ways (issue 4: a provider
migrates to Postern, or back, and no client downloads its mail again).

1. A throwaway Dovecot 2.3 (Debian's dovecot-imapd) gets messages over
   IMAP APPEND with flags and keywords, in INBOX and a subfolder, with
   expunges so the UIDs have gaps.  Dovecot is stopped, a copy of the
   user's Maildir is placed at Postern's mail_directory/DOMAIN/LOCAL,
   and Postern must show over IMAP the same UIDVALIDITY, UIDNEXT, UIDs,
   flags, keywords and message bytes, and go on from there (a new
   APPEND gets a UID above the old ones).
2. The reverse: Postern writes, Dovecot opens a copy and must show the
   same.

IMAP_TARGET=dovecot puts Dovecot on the Postern side too (a Dovecot to
Dovecot round trip), which shows the test itself is right.
Exit 0 pass, 1 fail, 77 skip.
"""
import hashlib
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_site as site  # noqa: E402
from imap_site import make_message, parse_status  # noqa: E402

USER = "mig"
FOLDERS = ["INBOX", "Lists.Postern", "&AMk-t&AOk-"]


def populate(c):
    """Messages with flags and keywords; expunge some for UID gaps."""
    c.create("Lists.Postern")
    c.create("&AMk-t&AOk-")
    flags = ["(\\Seen)", "(\\Seen \\Flagged $Forwarded)", "()",
             "(\\Answered ProjectX $Junk)", "(\\Draft)", "(\\Seen $Label5)",
             "(\\Deleted)", "(Custom_1 Custom_2 \\Seen)"]
    for folder in FOLDERS:
        for i, fl in enumerate(flags):
            c.append(folder, fl, None, make_message(
                i, subject="%s %d" % (folder, i),
                body="body %d of %s\r\n" % (i, folder)))
        c.select(folder)
        c.store("2,4", "+FLAGS", "(\\Deleted)")
        c.expunge()
        c.store("1", "-FLAGS", "(\\Deleted)")
        c.close()
    c.subscribe("Lists.Postern")


def state(c):
    """What must survive the move, per folder."""
    out = {}
    for folder in FOLDERS:
        typ, data = c.select(folder)
        assert typ == "OK", (folder, data)
        typ, data = c.status(folder, "(UIDVALIDITY UIDNEXT MESSAGES)")
        st = parse_status(data)
        typ, data = c.uid("FETCH", "1:*", "(FLAGS RFC822.SIZE BODY.PEEK[])")
        msgs = {}
        for d in data:
            if not isinstance(d, tuple):
                continue
            uid = int(re.search(rb"UID (\d+)", d[0]).group(1))
            fl = re.search(rb"FLAGS \(([^)]*)\)", d[0]).group(1).split()
            fl = sorted(x.decode() for x in fl if x != b"\\Recent")
            size = int(re.search(rb"RFC822.SIZE (\d+)", d[0]).group(1))
            msgs[uid] = (fl, size, hashlib.sha256(d[1]).hexdigest())
        out[folder] = {"uidvalidity": st["UIDVALIDITY"],
                       "uidnext": st["UIDNEXT"], "messages": msgs}
        c.close()
    return out


class Interop(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        if not os.path.exists(site.DOVECOT):
            self.skipTest("dovecot not installed")
        self.tmp = tempfile.mkdtemp(prefix="postern-interop.")
        os.chmod(self.tmp, 0o755)     # Dovecot's auth user reads below
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.other = site.target_kind()      # "postern" normally

    def move(self, src_kind, dst_kind):
        src = site.start_target(src_kind, [USER],
                                tmp=os.path.join(self.tmp, "src"))
        try:
            c = src.imap(USER)
            populate(c)
            before = state(c)
            c.logout()
        finally:
            src.stop()
        copy = os.path.join(self.tmp, "copy")
        shutil.copytree(src.maildir(USER), copy, symlinks=True)
        # sanity: the store really is a Maildir with flags in the names
        names = os.listdir(os.path.join(copy, ".Lists.Postern", "cur"))
        self.assertTrue(any(n.endswith(":2,S") for n in names), names)
        self.assertTrue(any(re.search(r":2,[A-Z]*[a-z]+$", n)
                            for n in names), names)    # keyword letters
        self.assertTrue(os.path.exists(os.path.join(copy,
                                                    "dovecot-uidlist")))
        self.assertTrue(os.path.exists(os.path.join(copy,
                                                    "dovecot-keywords")))
        dst = site.start_target(dst_kind, [USER],
                                tmp=os.path.join(self.tmp, "dst"),
                                preload={USER: copy})
        try:
            c = dst.imap(USER)
            after = state(c)
            self.assertEqual(after, before)
            typ, data = c.lsub('""', "*")
            self.assertTrue(any(b"Lists.Postern" in x for x in data if x),
                            data)
            # and it goes on: a new message gets the next UID
            typ, data = c.append("INBOX", "(NewKeyword)", None,
                                 make_message(99))
            self.assertEqual(typ, "OK")
            c.select("INBOX")
            typ, data = c.uid("FETCH", "*", "(UID FLAGS)")
            self.assertIn(b"UID %d " % before["INBOX"]["uidnext"], data[0])
            self.assertIn(b"NewKeyword", data[0])
            c.logout()
        finally:
            dst.stop()
        return before

    def test_dovecot_to_other(self):
        before = self.move("dovecot", self.other)
        uids = sorted(before["INBOX"]["messages"])
        self.assertEqual(uids, [1, 3, 5, 6, 8])     # gaps kept
        msgs = before["INBOX"]["messages"]
        self.assertEqual(msgs[8][0], ["Custom_1", "Custom_2", "\\Seen"])
        self.assertEqual(msgs[6][0], ["$Label5", "\\Seen"])

    def test_other_to_dovecot(self):
        before = self.move(self.other, "dovecot")
        self.assertEqual(sorted(before["INBOX"]["messages"]),
                         [1, 3, 5, 6, 8])


if __name__ == "__main__":
    if (site.target_kind() == "postern" and not site.have_postern_imapd()):
        print("skip: postern-imapd not built in " + site.BUILD)
        sys.exit(77)
    unittest.main(verbosity=2)
