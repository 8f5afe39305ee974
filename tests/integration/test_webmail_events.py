#!/usr/bin/env python3
"""GET /api/events fed by the store's change notifications
(webmail/wm-events.c, lib/store/store_watch.h).

A temp site with LMTP, IMAP and the webmail.  An event reaches an open
stream within 1 s of an LMTP delivery, of a flag change and an EXPUNGE
made over IMAP (another program), and of an APPEND to a folder created
over IMAP after the stream opened (the mailbox root watch adds the new
folder's watch).  Two streams of one user share the kernel watches.
An idle stream costs nothing: strace -c on the webmail process for 5 s
sees no file system calls, and the debug counter of folder looks
(debug_trace=ev) does not move; after a delivery it does, so the check
can fail.  Programs come from $POSTERN_BUILD_DIR (default ./build).
"""
import imaplib
import json
import os
import re
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import (BUILD, SiteTestCase,  # noqa: E402
                          driver_settings, run_postern, wait_for)
from test_webmail_api import Client, message, PASSWORD  # noqa: E402

SERVICES = """\
# written by test_webmail_events.py
lmtp         inet  $inet_interfaces:$lmtp_port            none      1  postern-lmtpd
imap         inet  $inet_interfaces:$imap_port            none      1  postern-imapd
webmail      inet  $inet_interfaces:$webmail_port         none      1  postern-webmail
"""
LATENCY = 1.0   # seconds from the change to the event, at most


class Stream:
    """One open GET /api/events: events as (arrival time, name, data)."""

    def __init__(self, port, cookie):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.sock.sendall(("GET /api/events HTTP/1.1\r\nHost: x\r\n"
                           "Cookie: postern_session=%s\r\n\r\n" %
                           cookie).encode())
        self.buf = b""
        self.events = []
        while b"\r\n\r\n" not in self.buf or b"connected" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError("stream closed: %r" % self.buf)
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200"), head

    def close(self):
        self.sock.close()

    def _parse(self, now):
        # Chunked encoding: the SSE text is inside chunks; events are
        # found by their "event:" / "data:" lines whatever the framing.
        while True:
            m = re.search(rb"event: (\w+)\r?\n(?:[0-9a-f]+\r\n)?"
                          rb"data: ([^\n]*)\n", self.buf)
            if not m:
                return
            self.events.append((now, m.group(1).decode(),
                                json.loads(m.group(2))))
            self.buf = self.buf[m.end():]

    def wait(self, pred, timeout=5.0):
        """The first event (time, name, data) from now on matching pred."""
        start = len(self.events)
        deadline = time.time() + timeout
        while True:
            for e in self.events[start:]:
                if pred(e[2]):
                    return e
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("no matching event; have %r" %
                                     self.events[start:])
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                continue
            if not chunk:
                raise AssertionError("stream closed")
            self.buf += chunk
            self._parse(time.time())


class WebmailEvents(SiteTestCase):
    DRIVER = "sqlite"

    @classmethod
    def set_up_site(cls):
        for prog in ("postern-webmail", "postern-imapd", "postern-lmtpd"):
            if not os.access(os.path.join(BUILD, prog), os.X_OK):
                raise unittest.SkipTest("no " + prog)
        cls.make_site("postern-wmevents.")
        settings = cls.pick_ports()
        settings += ["stop_timeout=5s", "myhostname=wm.test",
                     "default_password_scheme=SHA512-CRYPT",
                     "imapd_plaintext_loopback=yes", "debug_trace=ev",
                     "webmail_events_interval=1s",
                     # test_half_made_folder_recovers waits for one.
                     "webmail_events_fallback_interval=2s"]
        settings += driver_settings(cls.DRIVER)
        run_postern(cls.dir, "config", "set", *settings)
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(SERVICES)
        cls.dom = "ev-%s.test" % secrets.token_hex(3)
        run_postern(cls.dir, "domain", "add", cls.dom)
        run_postern(cls.dir, "start")
        cls.started = True
        deadline = time.time() + 15
        for name in ("webmail", "lmtp", "imap"):
            while True:
                try:
                    socket.create_connection(
                        ("127.0.0.1", cls.ports[name]), timeout=2).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.1)

    def user(self):
        addr = "u%s@%s" % (secrets.token_hex(3), self.dom)
        run_postern(self.dir, "mailbox", "add", addr, "--password-stdin",
                    stdin=PASSWORD + "\n")
        c = Client(self.ports["webmail"])
        st, _, doc = c.login(addr)
        self.assertEqual(st, 200, doc)
        return addr, c

    def deliver(self, rcpt, msg):
        with smtplib.LMTP("127.0.0.1", self.ports["lmtp"], timeout=30) as c:
            c.sendmail("sender@outside.test", [rcpt], msg)

    def imap(self, addr):
        m = imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=30)
        m.login(addr, PASSWORD)
        return m

    def log(self):
        with open(os.path.join(self.dir, "log", "postern.log"),
                  errors="replace") as f:
            return f.read()

    def looks(self):
        """Folder status reads of the event streams so far (debug log)."""
        found = re.findall(r"events: looked at [^:]*: \d+ folder status "
                           r"read\(s\), (\d+) in the process", self.log())
        return int(found[-1]) if found else 0

    def webmail_pid(self):
        out = run_postern(self.dir, "status").stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 4 and f[0] == "webmail" and f[3].isdigit():
                return int(f[3])
        self.fail("no webmail pid in: " + out)

    def watch_lines(self, addr):
        return len(re.findall(r"webmail\(%s\): events: \d+ folder "
                              r"watch\(es\)" % re.escape(addr), self.log()))

    def open_stream(self, c, addr):
        """A stream of c (logged in as addr) once its first look (the
        snapshot, and the watches) is done, and more than
        webmail_events_interval ago: the next change is looked at at
        once.  Waited for in the log (debug_trace=ev), not slept for: a
        loaded machine may take longer than a fixed pause, and a change
        before the snapshot is no event."""
        n = self.watch_lines(addr)
        s = Stream(self.ports["webmail"], c.cookie)
        self.addCleanup(s.close)
        deadline = time.time() + 20
        while self.watch_lines(addr) == n:
            self.assertLess(time.time(), deadline,
                            "no first look of the stream\n" +
                            self.log()[-2000:])
            time.sleep(0.05)
        time.sleep(1.2)      # past webmail_events_interval (1 s)
        return s

    # ---- latency

    def test_delivery_within_a_second(self):
        addr, c = self.user()
        s = self.open_stream(c, addr)
        self.deliver(addr, message("event me"))
        t0 = time.time()
        t, _, ev = s.wait(lambda d: d["folder"] == "INBOX" and
                          d["total"] == 1)
        self.assertEqual(ev["unread"], 1)
        print("\nLMTP delivery -> event: %.0f ms" % ((t - t0) * 1000),
              file=sys.stderr)
        self.assertLess(t - t0, LATENCY, "delivery event late")

    def test_imap_store_and_expunge_within_a_second(self):
        addr, c = self.user()
        self.deliver(addr, message("one"))
        self.deliver(addr, message("two"))
        s = self.open_stream(c, addr)
        m = self.imap(addr)
        try:
            self.assertEqual(m.select("INBOX")[0], "OK")
            m.store("1", "+FLAGS", "(\\Seen)")
            t0 = time.time()
            t, _, ev = s.wait(lambda d: d["folder"] == "INBOX" and
                              d["unread"] == 1)
            self.assertEqual(ev["total"], 2)
            print("\nIMAP STORE -> event: %.0f ms" % ((t - t0) * 1000),
                  file=sys.stderr)
            self.assertLess(t - t0, LATENCY, "flag event late")
            time.sleep(1.1)  # looks of one stream are 1 s apart at most
            # \Deleted is a change too: its look (an event with the same
            # counts) starts the interval again, and an EXPUNGE that
            # comes after that look started waits up to 1 s for the next
            # (0.995 s seen with the EXPUNGE 23 ms after the STORE; on a
            # loaded machine, past 1 s).  Its event is waited for, then
            # the interval, so the timed change is looked at at once.
            m.store("2", "+FLAGS", "(\\Deleted)")
            s.wait(lambda d: d["folder"] == "INBOX" and d["total"] == 2)
            time.sleep(1.2)
            m.expunge()
            t0 = time.time()
            t, _, ev = s.wait(lambda d: d["folder"] == "INBOX" and
                              d["total"] == 1)
            print("IMAP EXPUNGE -> event: %.0f ms" % ((t - t0) * 1000),
                  file=sys.stderr)
            self.assertLess(t - t0, LATENCY, "expunge event late")
        finally:
            m.logout()

    def test_folder_created_elsewhere_is_watched(self):
        addr, c = self.user()
        s = self.open_stream(c, addr)
        m = self.imap(addr)
        try:
            self.assertEqual(m.create("Later")[0], "OK")
            m.append("Later", None, None, message("first in later"))
            s.wait(lambda d: d["folder"] == "Later" and d["total"] == 1)
            time.sleep(1.2)
            # Now through the new folder's own watch.
            m.append("Later", None, None, message("second in later"))
            t0 = time.time()
            t, _, _ = s.wait(lambda d: d["folder"] == "Later" and
                             d["total"] == 2)
            self.assertLess(t - t0, LATENCY, "new folder not watched")
        finally:
            m.logout()

    def test_half_made_folder_recovers(self):
        # A folder made by another tool, whose cur/ and new/ come after
        # the folder itself (Postern's own appear whole): its watch fails
        # at first, the stream polls (fallback interval), and the next
        # full look watches it.
        addr, c = self.user()
        s = self.open_stream(c, addr)
        local, dom = addr.split("@")
        box = os.path.join(self.dir, "mail", dom, local)
        folder = os.path.join(box, ".Outside")
        os.mkdir(folder)
        self.wait_log(r"webmail\(%s\): events: no watch on Outside; "
                      r"polling every 2 s" % re.escape(addr))
        for sub in ("cur", "new", "tmp"):
            os.mkdir(os.path.join(folder, sub))
        open(os.path.join(folder, "maildirfolder"), "w").close()
        again = self.wait_log(r"webmail\(%s\): events: every folder "
                              r"watched again" % re.escape(addr),
                              timeout=15)
        # That line ends a look (a fallback poll) that added Outside's
        # watch; a second look of Outside follows at once (the first
        # read it before the watch existed).  Looks of one stream are
        # webmail_events_interval (1 s) apart: a change right after one
        # waits up to 1 s for the next (CI saw 1.0004 s).  So the second
        # look is waited for, then the interval.  From then on nothing
        # is due for 25 s (the poll's pending tick became a keepalive),
        # and the next change is looked at at once, through the new
        # watch only: the stream stopped polling.
        relook = re.compile(r"webmail\(%s\): events: looked at "
                            % re.escape(addr))
        wait_for(lambda: relook.search(self.log(), again.end()), 10,
                 "no second look of Outside\n" + self.log()[-2000:])
        time.sleep(1.2)
        with open(os.path.join(folder, "new", "1.M1P1.outside"), "wb") as f:
            f.write(message("outside one"))
        t0 = time.time()
        t, _, _ = s.wait(lambda d: d["folder"] == "Outside" and
                         d["total"] == 1)
        self.assertLess(t - t0, LATENCY, "the folder is not watched")

    def test_change_between_look_and_watch(self):
        # A full look reads each folder, then watches the new ones: a
        # change to a new folder after it was read and before its watch
        # exists gives no notification, so the folder is looked at once
        # more when its watch is added.  The gap is under a millisecond;
        # strace widens it: the stat() of the folder read after the new
        # one is held 2 s, and the message lands meanwhile.
        if shutil.which("strace") is None:
            raise unittest.SkipTest("no strace")
        addr, c = self.user()
        s = self.open_stream(c, addr)
        local, dom = addr.split("@")
        box = os.path.join(self.dir, "mail", dom, local)
        m = self.imap(addr)
        try:
            # The look goes in the folder list's order (as LIST's).
            names = [re.search(rb'"?([^" ]*)"?$', line).group(1).decode()
                     for line in m.list()[1]]
            after = sorted(n for n in names + ["Later"] if n > "Later")
            self.assertEqual(names[0], "INBOX")
            self.assertTrue(after, "no folder is read after Later: %r"
                            % names)
            pid = self.webmail_pid()
            held = os.path.join(box, "." + after[0], "new")
            p = subprocess.Popen(["strace", "-f", "-qq", "-o", os.devnull,
                                  "-p", str(pid), "-P", held, "-e",
                                  "inject=all:delay_exit=2000000"],
                                 stderr=subprocess.DEVNULL)
            try:
                self.wait_traced(pid)
                self.assertEqual(m.create("Later")[0], "OK")
                # The look starts 20 ms after the create and is held 2 s
                # at after[0], past Later.  (Should a loaded machine start
                # it after the write, it reads the message itself: the
                # test is weaker then, never wrong.)
                time.sleep(0.5)
                with open(os.path.join(box, ".Later", "new",
                                       "1.M1P1.between"), "wb") as f:
                    f.write(message("between the look and the watch"))
                s.wait(lambda d: d["folder"] == "Later" and
                       d["total"] == 1, timeout=10)
            finally:
                p.send_signal(signal.SIGINT)
                p.wait(timeout=10)
        finally:
            m.logout()

    # ---- sharing and idleness

    def kernel_watches(self, addr):
        found = re.findall(r"webmail\(%s\): events: (\d+) folder watch\(es\)"
                           r", (\d+) kernel watches" % re.escape(addr),
                           self.log())
        self.assertTrue(found, "no watch line for " + addr)
        return int(found[-1][0]), int(found[-1][1])

    def test_streams_of_a_user_share_watches(self):
        addr, c = self.user()
        s1 = self.open_stream(c, addr)
        folders, watches = self.kernel_watches(addr)
        self.assertGreaterEqual(folders, 6)   # INBOX + special-use
        _, c2 = None, Client(self.ports["webmail"])
        self.assertEqual(c2.login(addr)[0], 200)
        s2 = self.open_stream(c2, addr)
        folders2, watches2 = self.kernel_watches(addr)
        self.assertEqual((folders2, watches2), (folders, watches))
        # Both streams hear one delivery.
        self.deliver(addr, message("to both"))
        for s in (s1, s2):
            s.wait(lambda d: d["folder"] == "INBOX" and d["total"] == 1)

    FS_CALLS = ("stat", "lstat", "newfstatat", "statx", "openat", "open",
                "getdents64", "fstatfs")

    def wait_traced(self, pid, timeout=20):
        """Until every thread of pid has a tracer (strace attached): a
        fixed pause may be too short on a loaded machine, and what runs
        before the attach is not counted."""
        def traced():
            try:
                tasks = os.listdir("/proc/%d/task" % pid)
                for t in tasks:
                    with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                        m = re.search(r"^TracerPid:\s*(\d+)", f.read(),
                                      re.M)
                    if not m or m.group(1) == "0":
                        return False
                return bool(tasks)
            except FileNotFoundError:  # a thread ended meanwhile
                return False
        deadline = time.time() + timeout
        while not traced():
            self.assertLess(time.time(), deadline, "strace did not attach")
            time.sleep(0.05)

    def strace_calls(self, pid, seconds, during=None):
        """System calls of the webmail process (every thread) by name
        over `seconds`, while during() runs."""
        with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
            p = subprocess.Popen(["strace", "-c", "-f", "-o", out.name,
                                  "-p", str(pid)],
                                 stderr=subprocess.DEVNULL)
            self.wait_traced(pid)
            if during is not None:
                during()
            time.sleep(seconds)
            p.send_signal(signal.SIGINT)
            p.wait(timeout=10)
            report = out.read()
        calls = {}
        for line in report.splitlines():
            f = line.split()
            # % time, seconds, usecs/call, calls, [errors,] syscall
            if len(f) >= 5 and f[-1].isidentifier() and f[3].isdigit():
                calls[f[-1]] = int(f[3])
        return calls, report

    def test_idle_stream_costs_nothing(self):
        if shutil.which("strace") is None:
            raise unittest.SkipTest("no strace")
        addr, c = self.user()
        s = self.open_stream(c, addr)
        pid = self.webmail_pid()
        before = self.looks()
        calls, report = self.strace_calls(pid, 5)
        fs = {k: v for k, v in calls.items() if k in self.FS_CALLS}
        print("\nidle webmail, 5 s with an open stream: %d system calls "
              "(%s)" % (sum(calls.values()), ", ".join(
                  "%s %d" % kv for kv in sorted(calls.items()))),
              file=sys.stderr)
        self.assertEqual(fs, {}, "file system calls while idle:\n" + report)
        self.assertLess(sum(calls.values()), 30,
                        "busy while idle:\n" + report)
        self.assertEqual(self.looks(), before, "folder looks while idle")
        # Both measures see a look when there is one: a delivery.
        calls, report = self.strace_calls(
            pid, 1.5, lambda: self.deliver(addr, message("wake up")))
        s.wait(lambda d: d["folder"] == "INBOX")
        fs = {k: v for k, v in calls.items() if k in self.FS_CALLS}
        print("one delivery: %s" % fs, file=sys.stderr)
        self.assertTrue(fs, "strace saw no look:\n" + report)
        time.sleep(0.2)
        self.assertGreater(self.looks(), before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
