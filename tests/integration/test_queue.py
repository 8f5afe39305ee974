#!/usr/bin/env python3
"""Black-box test of postern-queued: the queue socket, LMTP delivery,
retries, bounces, crash safety and the queue tools.

Starts the supervisor (`postern -c DIR start`) in a temporary folder with
only the queue service (plus lmtp-unix when postern-lmtpd can deliver, see
RealLmtpd below), hands messages to postern-queued over $queue_socket in
the wire protocol of lib/queue/submit.h, and delivers them to a fake LMTP
server run here on a unix socket ($lmtp_delivery_target), which can be
told to defer or refuse recipients.  Python 3 standard library only;
programs come from $POSTERN_BUILD_DIR (default ./build).
"""
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import SiteLog, wait_for  # noqa: E402

BUILD = os.path.abspath(os.environ.get("POSTERN_BUILD_DIR", "build"))
POSTERN = os.path.join(BUILD, "postern")

SERVICES = """\
queue        unix  $queue_socket                          none      1      postern-queued
"""


# ---- the queue socket protocol (lib/queue/submit.h)

def rec(t, payload=b""):
    if isinstance(payload, str):
        payload = payload.encode()
    return t.encode() + struct.pack(">I", len(payload)) + payload


def read_rec(sock):
    hdr = b""
    while len(hdr) < 5:
        chunk = sock.recv(5 - len(hdr))
        if not chunk:
            return None, None
        hdr += chunk
    n = struct.unpack(">I", hdr[1:])[0]
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None, None
        data += chunk
    return hdr[:1].decode(), data.decode("utf-8", "replace")


def submit(path, sender, rcpts, data, ret=None, timeout=20, extra=b""):
    """('O', id) or ('X', text); the id record is checked on the way.
    extra: more envelope records (rec() bytes)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    out = rec("B", "1") + rec("F", sender)
    if ret:
        out += rec("T", ret)
    out += rec("A", "192.0.2.7") + rec("H", "client.example") + extra
    for r in rcpts:
        out += rec("R", r.encode() + b"\0\0" + b"0")
    s.sendall(out)
    t, qid = read_rec(s)
    assert t == "I", (t, qid)
    # Data in a few records, as smtpd would stream it.
    for i in range(0, len(data), 1000):
        s.sendall(rec("D", data[i:i + 1000]))
    s.sendall(rec("C"))
    t, text = read_rec(s)
    s.close()
    if t == "O":
        assert text == qid, (text, qid)
    return t, text


def control(path, request):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    s.sendall(rec("K", request))
    r = read_rec(s)
    s.close()
    return r


# ---- a fake LMTP server (RFC 2033)

class FakeLmtp:
    """Recipients whose local part starts with "temp" get 451 until
    temp_left reaches 0, "bad" get 550 5.1.1 at RCPT, "late" get 552 after
    DATA; all others are delivered into self.messages[rcpt]."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.messages = {}  # rcpt -> [(sender, bytes)]
        self.temp_left = 0
        self.down = False  # answer 421 to everything
        self.connections = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.stopping = False
        threading.Thread(target=self.serve, daemon=True).start()

    def stop(self):
        self.stopping = True
        self.sock.close()

    def serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self.session, args=(c,),
                             daemon=True).start()

    def rcpt_reply(self, rcpt):
        local = rcpt.split("@")[0]
        if local.startswith("bad"):
            return b"550 5.1.1 <%s>: user unknown" % rcpt.encode()
        if local.startswith("temp"):
            with self.lock:
                if self.temp_left > 0:
                    self.temp_left -= 1
                    return b"451 4.2.0 <%s>: try again" % rcpt.encode()
        return b"250 2.1.5 Ok"

    def session(self, c):
        f = c.makefile("rb")
        w = lambda line: c.sendall(line + b"\r\n")
        try:
            if self.down:
                w(b"421 4.3.2 down for the test")
                return
            w(b"220 fake LMTP")
            sender, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.rstrip(b"\r\n")
                verb = cmd[:4].upper()
                if self.down:  # also on cached connections
                    w(b"421 4.3.2 down for the test")
                    return
                if verb == b"LHLO":
                    w(b"250-fake\r\n250-PIPELINING\r\n250 8BITMIME")
                elif verb == b"MAIL":
                    sender = re.search(rb"<(.*?)>", cmd).group(1).decode()
                    rcpts = []
                    w(b"250 2.1.0 Ok")
                elif verb == b"RCPT":
                    r = re.search(rb"<(.*?)>", cmd).group(1).decode()
                    reply = self.rcpt_reply(r)
                    if reply.startswith(b"250"):
                        rcpts.append(r)
                    w(reply)
                elif verb == b"DATA":
                    w(b"354 go ahead")
                    data = b""
                    while True:
                        line = f.readline()
                        if line in (b".\r\n", b""):
                            break
                        if line.startswith(b"."):
                            line = line[1:]
                        data += line
                    for r in rcpts:
                        if r.split("@")[0].startswith("late"):
                            w(b"552 5.2.2 <%s>: mailbox full" % r.encode())
                            continue
                        with self.lock:
                            self.messages.setdefault(r, []).append(
                                (sender, data))
                        w(b"250 2.0.0 <%s> Saved" % r.encode())
                elif verb == b"RSET":
                    w(b"250 2.0.0 Ok")
                elif verb == b"QUIT":
                    w(b"221 2.0.0 Bye")
                    return
                else:
                    w(b"500 5.5.2 what?")
        except OSError:
            pass
        finally:
            c.close()

    def got(self, rcpt):
        with self.lock:
            return list(self.messages.get(rcpt, []))


class QueueBase(SiteLog, unittest.TestCase):
    extra_conf = ""

    def setUp(self):
        if not os.access(POSTERN, os.X_OK) or not os.access(
                os.path.join(BUILD, "postern-queued"), os.X_OK):
            self.skipTest("no postern / postern-queued in %s" % BUILD)
        self.tmp = tempfile.TemporaryDirectory(prefix="postern-queue.")
        self.dir = self.tmp.name
        self.qsock = os.path.join(self.dir, "run", "queue.sock")
        self.lmtp_path = os.path.join(self.dir, "fake-lmtp.sock")
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            f.write("log_target = file\n"
                    "stop_timeout = 5s\n"
                    "restart_backoff_max = 1s\n"
                    "myhostname = mx.test.example\n"
                    "queue_run_delay = 1s\n"
                    "minimal_backoff_time = 1s\n"
                    "maximal_backoff_time = 2s\n"
                    # No database here: every domain is hosted (LMTP).
                    "virtual_mailbox_domains = static:hosted\n"
                    "lmtp_delivery_target = unix:%s\n" % self.lmtp_path
                    + self.extra_conf)
        with open(os.path.join(self.dir, "services.cf"), "w") as f:
            f.write(self.services())
        self.lmtp = self.start_lmtp()
        self.started = False
        r = self.postern("start")
        self.assertEqual(r.returncode, 0, r.stderr + self.log())
        self.started = True

    def services(self):
        return SERVICES

    def start_lmtp(self):
        return FakeLmtp(self.lmtp_path)

    def tearDown(self):
        if getattr(self, "started", False):
            self.postern("stop")
        if getattr(self, "lmtp", None) is not None:
            self.lmtp.stop()
        if hasattr(self, "tmp"):
            self.tmp.cleanup()

    def postern(self, *args, timeout=60):
        return subprocess.run([POSTERN, "-c", self.dir] + list(args),
                              capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def control(self, *args, timeout=20):
        """`postern queue ARGS` (hold, delete...), again while it says a
        move or delete of the message is in progress: after each delivery
        attempt the message moves (to deferred/), and an operator's
        command meanwhile is refused for the moment (ERR_TEMP)."""
        deadline = time.time() + timeout
        while True:
            r = self.postern("queue", *args)
            if r.returncode == 0 or "in progress" not in r.stderr or \
                    time.time() > deadline:
                return r
            time.sleep(0.1)

    def listed(self, pattern):
        """The queue list once it matches pattern (re, multiline): a
        control verb on a message in a delivery attempt takes effect
        when the attempt ends."""
        return wait_for(lambda: re.search(pattern, self.queue_list(), re.M),
                        what="/%s/ in the queue list" % pattern)

    def queued_pid(self):
        r = self.postern("status")
        for line in r.stdout.splitlines():
            f = line.split()
            if f and f[0] == "queue" and len(f) > 3 and f[1] == "running":
                return int(f[3].split(",")[0])
        return None

    def queue_list(self):
        r = self.postern("queue", "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout


def message(subject, body="Hello.\r\n"):
    return ("Received: from client.example by mx.test.example\r\n"
            "From: s@x.example\r\nTo: u@d.example\r\n"
            "Subject: %s\r\n\r\n%s" % (subject, body)).encode()


class Queue(QueueBase):
    def test_deliver(self):
        body = "line 1\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n"
        data = message("one", body)
        t, qid = submit(self.qsock, "s@x.example",
                        ["u1@d.example", "u2@d.example"], data)
        self.assertEqual(t, "O", qid)
        self.assertRegex(qid, r"^[0-9A-Za-z]{10,31}$")
        got = wait_for(lambda: self.lmtp.got("u2@d.example"),
                       what="delivery")
        self.assertEqual(got, [("s@x.example", data)])
        self.assertEqual(self.lmtp.got("u1@d.example"),
                         [("s@x.example", data)])
        self.wait_log(r"%s: from=<s@x\.example>, size=%d, nrcpt=2"
                      % (qid, len(data)))
        self.wait_log(r"%s: to=<u1@d\.example>, relay=lmtp\[%s\], "
                      r"delay=[0-9.e+-]+, dsn=2\.0\.0, status=sent "
                      r"\(250 2\.0\.0 <u1@d\.example> Saved\)"
                      % (qid, re.escape(self.lmtp_path)))
        self.wait_log(r"%s: removed" % qid)
        self.assertIn("Mail queue is empty", self.queue_list())

        # Several messages reuse one LMTP connection.
        before = self.lmtp.connections
        for i in range(5):
            t, _ = submit(self.qsock, "s@x.example", ["m%d@d.example" % i],
                          message("n%d" % i))
            self.assertEqual(t, "O")
        for i in range(5):
            wait_for(lambda: self.lmtp.got("m%d@d.example" % i))
        self.assertLessEqual(self.lmtp.connections - before, 1)

    def test_refusals(self):
        # A commit without recipients is refused for good (5.x).
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.qsock)
        s.sendall(rec("B", "1") + rec("F", "s@x.example") + rec("C"))
        self.assertEqual(read_rec(s)[0], "I")
        t, text = read_rec(s)
        self.assertEqual((t, text[:6]), ("X", "5.5.1 "))
        s.close()
        # Garbage is refused and the daemon lives on.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.qsock)
        s.sendall(b"Zxxxxxxxxxxxxxxxxxx")
        t, text = read_rec(s)
        self.assertEqual(t, "X")
        s.close()
        t, _ = submit(self.qsock, "s@x.example", ["ok@d.example"],
                      message("after"))
        self.assertEqual(t, "O")
        wait_for(lambda: self.lmtp.got("ok@d.example"))

    def test_temp_failure_is_retried(self):
        self.lmtp.temp_left = 2
        data = message("temp")
        t, qid = submit(self.qsock, "s@x.example", ["temp@d.example"], data)
        self.assertEqual(t, "O")
        self.wait_log(r"%s: to=<temp@d\.example>, .*dsn=4\.2\.0, "
                      r"status=deferred \(451 4\.2\.0" % qid)
        got = wait_for(lambda: self.lmtp.got("temp@d.example"), timeout=30,
                       what="delivery after retries\n" + self.log())
        self.assertEqual(got, [("s@x.example", data)])
        self.assertEqual(len(re.findall(r"%s: to=<temp@d.example>.*"
                                        r"status=deferred" % qid,
                                        self.log())), 2)
        self.wait_log(r"%s: to=<temp@d\.example>.*status=sent" % qid)

    def test_bounce(self):
        data = message("bounce me")
        t, qid = submit(self.qsock, "s@x.example",
                        ["bad@d.example", "good@d.example"], data)
        self.assertEqual(t, "O")
        got = wait_for(lambda: self.lmtp.got("s@x.example"),
                       what="the bounce")
        self.assertEqual(len(got), 1)
        sender, dsn = got[0]
        self.assertEqual(sender, "")
        text = dsn.decode()
        self.assertIn("From: MAILER-DAEMON@mx.test.example", text)
        self.assertIn("To: s@x.example\r\n", text)
        self.assertIn("report-type=delivery-status", text)
        self.assertIn("Content-Type: message/delivery-status", text)
        self.assertIn("Final-Recipient: rfc822; bad@d.example", text)
        self.assertIn("Action: failed", text)
        self.assertIn("Status: 5.1.1", text)
        self.assertIn("Diagnostic-Code: smtp; 550 5.1.1", text)
        self.assertIn("Content-Type: text/rfc822-headers", text)
        self.assertIn("Subject: bounce me", text)
        self.assertNotIn("Hello.", text)  # headers only without RET=FULL
        self.assertNotIn("good@d.example", text.split("Content-Type: "
                                                      "text/rfc822")[0])
        self.assertEqual(self.lmtp.got("good@d.example"),
                         [("s@x.example", data)])
        self.wait_log(r"%s: to=<bad@d\.example>.*dsn=5\.1\.1, "
                      r"status=bounced" % qid)
        self.wait_log(r"%s: sender non-delivery notification: " % qid)

        # A failure after DATA (one reply per recipient) bounces too, and
        # RET=FULL returns the whole message.
        t, qid = submit(self.qsock, "s2@x.example", ["late@d.example"],
                        message("late"), ret="FULL")
        got = wait_for(lambda: self.lmtp.got("s2@x.example"))
        self.assertIn(b"Status: 5.2.2", got[0][1])
        self.assertIn(b"Content-Type: message/rfc822", got[0][1])
        self.assertIn(b"Hello.", got[0][1])

        # A bounce is never sent to the null sender.
        t, qid = submit(self.qsock, "", ["bad2@d.example"], message("nul"))
        self.assertEqual(t, "O")
        self.wait_log(r"%s: undeliverable notification to the null sender "
                      r"discarded" % qid)
        self.wait_log(r"%s: removed" % qid)
        self.assertEqual(self.lmtp.got(""), [])

    def test_queue_tools(self):
        self.lmtp.down = True
        data = message("tools", "x" * 3000 + "\r\n")
        t, qid = submit(self.qsock, "s@x.example", ["t@d.example"], data)
        self.assertEqual(t, "O")
        self.wait_log(r"%s: to=<t@d\.example>.*status=deferred" % qid)
        out = self.queue_list()
        self.assertRegex(out, r"(?m)^-Queue ID-")
        self.assertRegex(out, r"(?m)^%s\s+%d .* s@x\.example$"
                         % (qid, len(data)))
        self.assertRegex(out, r"(?m)^\s+\(.*421 4\.3\.2 down for the test")
        self.assertRegex(out, r"(?m)^\s+t@d\.example$")
        self.assertIn("-- 4 Kbytes in 1 Request.", out)

        r = self.postern("queue", "show", qid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sender: s@x.example", r.stdout)
        self.assertIn("recipient: t@d.example (deferred)", r.stdout)
        self.assertIn("client_address: 192.0.2.7", r.stdout)
        self.assertIn("Subject: tools", r.stdout)
        r = self.postern("queue", "show", "NOSUCHID")
        self.assertNotEqual(r.returncode, 0)

        r = self.control("hold", qid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 message held", r.stdout)
        self.listed(r"^%s\s*!" % qid)
        # Held mail is not delivered, even when the server is back.
        self.lmtp.down = False
        r = self.postern("queue", "flush")
        self.assertEqual(r.returncode, 0, r.stderr)
        time.sleep(2.5)
        self.assertEqual(self.lmtp.got("t@d.example"), [])

        r = self.postern("queue", "release", qid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 message released", r.stdout)
        got = wait_for(lambda: self.lmtp.got("t@d.example"))
        self.assertEqual(got, [("s@x.example", data)])
        wait_for(lambda: "Mail queue is empty" in self.queue_list())

        # delete ID and delete ALL.
        self.lmtp.down = True
        ids = []
        for i in range(3):
            t, q = submit(self.qsock, "s@x.example", ["d%d@d.example" % i],
                          message("del"))
            ids.append(q)
        for q in ids:
            self.wait_log(r"%s: to=.*status=deferred" % q)
        r = self.control("delete", ids[0])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = wait_for(lambda: (lambda o: o if ids[0] not in o else None)(
            self.queue_list()), what="%s deleted" % ids[0])
        self.assertIn(ids[1], out)
        # ALL: every message there is deleted (again while one is
        # moving; a refused run deletes the others, so each run must
        # count what the list held just before it).
        deadline = time.time() + 20
        there = [q for q in ids[1:] if q in self.queue_list()]
        self.assertEqual(there, ids[1:])
        while True:
            r = self.postern("queue", "delete", "ALL")
            if r.returncode == 0 or "in progress" not in r.stderr or \
                    time.time() > deadline:
                break
            time.sleep(0.1)
            there = [q for q in ids[1:] if q in self.queue_list()]
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("%d message%s deleted" % (
            len(there), "" if len(there) == 1 else "s"), r.stdout)
        wait_for(lambda: "Mail queue is empty" in self.queue_list(),
                 what="an empty queue")
        r = self.postern("queue", "delete", ids[0])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no such message", r.stderr)
        r = self.postern("queue", "frobnicate")
        self.assertNotEqual(r.returncode, 0)

    def test_control_waits_for_a_move(self):
        # After each attempt the message moves to deferred/ (a file write
        # and an fsync); a hold that comes meanwhile waits for that move
        # in the daemon instead of failing with "in progress".  Release
        # (an attempt at once, the server down) then hold, many times.
        self.lmtp.down = True
        t, qid = submit(self.qsock, "s@x.example", ["w@d.example"],
                        b"Subject: moving\r\n\r\nbody\r\n")
        self.assertEqual(t, "O")
        self.wait_log(r"%s: to=<w@d\.example>.*status=deferred" % qid)
        for i in range(25):
            r = self.postern("queue", "hold", qid)
            self.assertEqual(r.returncode, 0, "hold %d: %s" % (i, r.stderr))
            self.listed(r"^%s\s*!" % qid)
            r = self.postern("queue", "release", qid)
            self.assertEqual(r.returncode, 0,
                             "release %d: %s" % (i, r.stderr))
            self.assertIn("1 message released", r.stdout)
        r = self.control("delete", qid)
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: qid not in self.queue_list(), what="deleted")

    def test_queue_tools_show_the_content_filter(self):
        # A filter that is down (docs/content-filter.md): the message
        # waits in the queue with its filter, which list and show print.
        self.lmtp.down = True  # the plain message below stays queued too
        down = os.path.join(self.dir, "no-filter.sock")
        t, qid = submit(self.qsock, "s@x.example", ["f@d.example"],
                        message("filtered"),
                        extra=rec("G", "lmtp:unix:" + down) + rec("S"))
        self.assertEqual(t, "O", qid)
        self.wait_log(r"%s: to=<f@d\.example>.*status=deferred" % qid)
        out = self.queue_list()
        self.assertRegex(out, r"(?m)^%s\s+\d+ .* s@x\.example\n"
                         r"\s+\(content_filter: lmtp:unix:%s\)\n"
                         r"(\s+\(.*\)\n)?\s+f@d\.example$"
                         % (qid, re.escape(down)))
        r = self.postern("queue", "show", qid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("content_filter: lmtp:unix:%s\n" % down, r.stdout)
        self.assertIn("dkim_sign: yes\n", r.stdout)
        # A message without either prints neither.
        t, plain = submit(self.qsock, "s@x.example", ["g@d.example"],
                          message("plain"))
        self.assertEqual(t, "O", plain)
        r = self.postern("queue", "show", plain)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("content_filter:", r.stdout)
        self.assertNotIn("dkim_sign:", r.stdout)

    def test_kill9_loses_nothing(self):
        self.lmtp.down = True
        ids = {}
        for i in range(20):
            rcpt = "k%d@d.example" % i
            t, qid = submit(self.qsock, "s@x.example", [rcpt],
                            message("crash %d" % i))
            self.assertEqual(t, "O", qid)
            ids[rcpt] = qid
        pid = wait_for(self.queued_pid, what="queued pid")
        os.kill(pid, signal.SIGKILL)
        self.lmtp.down = False
        wait_for(lambda: (self.queued_pid() or pid) != pid, timeout=30,
                 what="restart")
        for rcpt in ids:
            got = wait_for(lambda: self.lmtp.got(rcpt), timeout=30,
                           what="delivery of %s" % rcpt)
            self.assertEqual(len(got), 1, rcpt)
        wait_for(lambda: "Mail queue is empty" in self.queue_list())

    def test_restart_resumes_and_sets_corrupt_aside(self):
        self.lmtp.down = True
        ids = []
        for i in range(2):
            t, qid = submit(self.qsock, "s@x.example", ["r%d@d.example" % i],
                            message("resume %d" % i))
            self.assertEqual(t, "O")
            self.wait_log(r"%s: to=.*status=deferred" % qid)
            ids.append(qid)
        r = self.postern("stop")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.started = False
        # One deferred envelope file becomes garbage while stopped.
        bad = os.path.join(self.dir, "queue", "deferred", ids[1])
        self.assertTrue(os.path.exists(bad), os.listdir(
            os.path.join(self.dir, "queue", "deferred")))
        with open(bad, "wb") as f:
            f.write(b"\x00garbage" * 10)
        self.lmtp.down = False
        r = self.postern("start")
        self.assertEqual(r.returncode, 0, r.stderr + self.log())
        self.started = True
        self.wait_log(r"queue: %s: .*moved from deferred/ to corrupt/"
                      % ids[1])
        self.assertTrue(os.listdir(os.path.join(self.dir, "queue",
                                                "corrupt")))
        got = wait_for(lambda: self.lmtp.got("r0@d.example"), timeout=30,
                       what="the resumed message")
        self.assertEqual(len(got), 1)
        self.assertEqual(self.lmtp.got("r1@d.example"), [])
        wait_for(lambda: "Mail queue is empty" in self.queue_list())


class RealLmtpd(QueueBase):
    """Delivery into a Maildir through postern-lmtpd: `postern init`, a
    domain and a mailbox in the embedded SQLite database, the queue and
    lmtp-unix services, and the default $lmtp_delivery_target."""

    def services(self):
        return SERVICES + ("lmtp-unix    unix  $lmtp_socket                "
                           "           none      1      postern-lmtpd\n")

    def setUp(self):
        if not os.access(os.path.join(BUILD, "postern-lmtpd"), os.X_OK):
            self.skipTest("no postern-lmtpd in %s" % BUILD)
        if not os.access(POSTERN, os.X_OK):
            self.skipTest("no postern in %s" % BUILD)
        self.tmp = tempfile.TemporaryDirectory(prefix="postern-queue.")
        self.dir = self.tmp.name
        self.qsock = os.path.join(self.dir, "run", "queue.sock")
        self.lmtp = None
        self.started = False
        r = self.postern("init")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.postern("config", "set", "log_target=file",
                         "stop_timeout=5s", "myhostname=mx.test.example",
                         "lmtp_port=%d" % free_port())
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.dir, "services.cf"), "w") as f:
            f.write(self.services())
        for cmd in (["domain", "add", "d.example"],
                    ["mailbox", "add", "u@d.example", "--password-stdin"]):
            r = subprocess.run([POSTERN, "-c", self.dir] + cmd,
                               input="secret-pw-1\n", capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
        r = self.postern("start")
        self.assertEqual(r.returncode, 0, r.stderr + self.log())
        self.started = True

    def test_maildir(self):
        data = message("real", "line\r\n.dot line\r\n")
        t, qid = submit(self.qsock, "s@x.example", ["u@d.example"], data)
        self.assertEqual(t, "O", qid)
        self.wait_log(r"%s: to=<u@d\.example>.*dsn=2\.\d\.\d, "
                      r"status=sent" % qid)
        new = wait_for(lambda: [
            os.path.join(dp, fn)
            for dp, _, fns in os.walk(os.path.join(self.dir, "mail"))
            for fn in fns if os.path.basename(dp) == "new"],
            what="a Maildir file")
        self.assertEqual(len(new), 1)
        self.assertIn(os.path.join("d.example", "u"), new[0])
        with open(new[0], "rb") as f:
            content = f.read()
        # The store keeps Maildir files with LF line ends, as Dovecot.
        self.assertTrue(content.endswith(data.replace(b"\r\n", b"\n")),
                        content[:400])

        # An unknown user of the hosted domain bounces back to the sender,
        # who is local here, so the bounce lands in u's Maildir too.
        t, qid = submit(self.qsock, "u@d.example", ["nobody@d.example"],
                        message("to nobody"))
        self.assertEqual(t, "O", qid)
        self.wait_log(r"%s: to=<nobody@d\.example>.*dsn=5\.1\.1, "
                      r"status=bounced" % qid)
        files = wait_for(lambda: [
            os.path.join(dp, fn)
            for dp, _, fns in os.walk(os.path.join(self.dir, "mail"))
            for fn in fns if os.path.basename(dp) == "new"]
            if len([1 for dp, _, fns in os.walk(
                os.path.join(self.dir, "mail"))
                for fn in fns if os.path.basename(dp) == "new"]) == 2
            else None, what="the bounce in the Maildir\n" + self.log())
        bounce = [f for f in files if f != new[0]][0]
        with open(bounce, "rb") as f:
            content = f.read()
        self.assertIn(b"Final-Recipient: rfc822; nobody@d.example", content)
        self.assertIn(b"Return-Path: <>", content)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


if __name__ == "__main__":
    unittest.main(verbosity=2)
