#!/usr/bin/env python3
"""Black-box test of the supervisor: postern start | status | reload | stop.

Builds nothing: the programs come from $POSTERN_BUILD_DIR (default
./build).  Makes a temporary config folder with free loopback ports, a
self-signed certificate (openssl) and a services table, then checks that
every service listens and gives its "not ready" answer, that a killed
child is restarted, that reload keeps and changes services, and that stop
ends every process and frees every port.  Python 3 standard library only.
"""
import http.client
import json
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

BUILD = os.path.abspath(os.environ.get("POSTERN_BUILD_DIR", "build"))
POSTERN = os.path.join(BUILD, "postern")

PORTS = ["smtp", "submission", "submissions", "lmtp", "imap", "imaps",
         "webmail", "admin_api"]

SERVICES = """\
# written by test_supervisor.py; same shape as the default table
# name       type  listen                                 tls       procs  command
smtp         inet  $inet_interfaces:$smtp_port            starttls  2      postern-smtpd
submission   inet  $inet_interfaces:$submission_port      starttls  1      postern-smtpd
submissions  inet  $inet_interfaces:$submissions_port     implicit  1      postern-smtpd
lmtp         inet  $inet_interfaces:$lmtp_port            none      1      postern-lmtpd
lmtp-unix    unix  $lmtp_socket                           none      1      postern-lmtpd
imap         inet  $inet_interfaces:$imap_port            starttls  1      postern-imapd
imaps        inet  $inet_interfaces:$imaps_port           implicit  1      postern-imapd
webmail      inet  $inet_interfaces:$webmail_port         {webmail_tls}      {webmail_procs}      postern-webmail
admin-api    inet  $admin_api_interfaces:$admin_api_port  none      1      postern-admin-api
"""

GREETING = b"220 "
IMAP_GREETING = b"* OK [CAPABILITY IMAP4rev1 "


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def port_free(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")  # a zombie has ended
    except FileNotFoundError:
        return False


def read_line(sock, timeout=10):
    sock.settimeout(timeout)
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(512)
        if not chunk:
            break
        data += chunk
    return data


class Supervisor(unittest.TestCase):
    def setUp(self):
        if not os.access(POSTERN, os.X_OK):
            self.skipTest("no %s (set POSTERN_BUILD_DIR)" % POSTERN)
        self.tmp = tempfile.TemporaryDirectory(prefix="postern-sup.")
        self.dir = self.tmp.name
        self.ports = dict(zip(PORTS, free_ports(len(PORTS))))
        os.makedirs(os.path.join(self.dir, "tls"))
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            for name, port in self.ports.items():
                f.write("%s_port = %d\n" % (name, port))
            f.write("log_target = file\n"
                    "stop_timeout = 5s\n"
                    "restart_backoff_max = 2s\n")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-subj", "/CN=localhost",
             "-keyout", os.path.join(self.dir, "tls", "key.pem"),
             "-out", os.path.join(self.dir, "tls", "cert.pem")],
            check=True, capture_output=True)
        self.write_services()
        self.started = False

    def tearDown(self):
        if getattr(self, "started", False):
            self.postern("stop")
        if hasattr(self, "tmp"):
            self.tmp.cleanup()

    def write_services(self, webmail_procs=1, webmail_tls="none",
                       extra=""):
        with open(os.path.join(self.dir, "services.cf"), "w") as f:
            f.write(SERVICES.format(webmail_procs=webmail_procs,
                                    webmail_tls=webmail_tls) + extra)

    def postern(self, *args, timeout=60):
        return subprocess.run([POSTERN, "-c", self.dir] + list(args),
                              capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def status(self):
        """(exit code, {service: {state, pids, restarts, listen}})."""
        r = self.postern("status")
        services = {}
        for line in r.stdout.splitlines():
            f = line.split()
            if len(f) >= 6 and f[0] != "SERVICE" and not line.startswith(
                    ("master:", " ")):
                services[f[0]] = {
                    "state": f[1], "procs": int(f[2]),
                    "pids": [] if f[3] == "-" else
                    [int(p) for p in f[3].split(",")],
                    "restarts": int(f[4]), "listen": f[5]}
        return r.returncode, services, r

    def wait_running(self, cond=lambda s: True, timeout=15):
        deadline = time.time() + timeout
        while True:
            rc, svcs, r = self.status()
            if rc == 0 and svcs and all(
                    s["state"] == "running" and len(s["pids"]) == s["procs"]
                    for s in svcs.values()) and cond(svcs):
                return svcs
            if time.time() > deadline:
                self.fail("services not running: rc=%d\n%s%s\nlog:\n%s" % (
                    rc, r.stdout, r.stderr, self.log_tail()))
            time.sleep(0.1)

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "log", "postern.log")) as f:
                return "".join(f.readlines()[-30:])
        except OSError as e:
            return str(e)

    # ---- protocol checks

    def check_line(self, port, want, tls=False):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock)
        try:
            line = read_line(sock)
        finally:
            sock.close()
        self.assertTrue(line.startswith(want), "port %d: %r" % (port, line))
        self.assertTrue(line.endswith(b"\r\n"), line)

    def check_http(self, port, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request(method, path, body=body)
            r = c.getresponse()
            return r.status, r.getheader("Content-Type"), r.read()
        finally:
            c.close()

    def check_all_answer(self):
        p = self.ports
        # Every listener reaches a live daemon: SMTP, LMTP and IMAP greet;
        # the webmail serves its app page under its CSP.
        with smtplib.SMTP("127.0.0.1", p["smtp"], timeout=10) as c:
            self.assertEqual(c.ehlo()[0], 250)
        self.check_line(p["smtp"], GREETING)
        self.check_line(p["submission"], GREETING)
        self.check_line(p["submissions"], GREETING, tls=True)
        self.check_line(p["lmtp"], GREETING)
        u = socket.socket(socket.AF_UNIX)
        u.connect(os.path.join(self.dir, "run", "lmtp.sock"))
        try:
            self.assertTrue(read_line(u).startswith(GREETING))
        finally:
            u.close()
        self.check_line(p["imap"], IMAP_GREETING)
        self.check_line(p["imaps"], IMAP_GREETING, tls=True)

        c = http.client.HTTPConnection("127.0.0.1", p["webmail"], timeout=10)
        try:
            c.request("GET", "/")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            self.assertIn("text/html", r.getheader("Content-Type"))
            self.assertIn("default-src 'self'",
                          r.getheader("Content-Security-Policy") or "")
        finally:
            c.close()
        st, ctype, body = self.check_http(p["admin_api"], "GET",
                                          "/api/v1/health")
        self.assertEqual(st, 200, body)
        self.assertEqual(ctype, "application/json")
        self.assertEqual(json.loads(body), {"status": "ok"})
        # Every other route needs a token (CONTRACT.md): 401 with the
        # error body, and nothing created.
        st, ctype, body = self.check_http(p["admin_api"], "POST",
                                          "/api/v1/domains",
                                          body=b'{"name": "example.org"}')
        self.assertEqual(st, 401)
        err = json.loads(body)["error"]
        self.assertTrue(err["code"])
        self.assertTrue(err["message"])

    # ---- the scenario

    def test_lifecycle(self):
        rc, _, _ = self.status()
        self.assertEqual(rc, 1, "status before start must say not running")

        r = self.postern("start")
        self.assertEqual(r.returncode, 0, r.stderr + self.log_tail())
        self.started = True
        svcs = self.wait_running()
        self.assertEqual(set(svcs), {"smtp", "submission", "submissions",
                                     "lmtp", "lmtp-unix", "imap", "imaps",
                                     "webmail", "admin-api"})
        self.assertEqual(len(svcs["smtp"]["pids"]), 2)
        self.assertEqual(svcs["imaps"]["listen"],
                         "127.0.0.1:%d" % self.ports["imaps"])
        all_pids = [p for s in svcs.values() for p in s["pids"]]
        self.assertEqual(len(set(all_pids)), 10)

        r = self.postern("start")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("already running", r.stderr)

        self.check_all_answer()

        # A crashed child is restarted; the port stays open meanwhile.
        old = svcs["lmtp"]["pids"][0]
        os.kill(old, signal.SIGKILL)
        svcs = self.wait_running(
            lambda s: s["lmtp"]["pids"] and s["lmtp"]["pids"][0] != old)
        self.assertGreaterEqual(svcs["lmtp"]["restarts"], 1)
        self.assertFalse(pid_alive(old))
        self.check_line(self.ports["lmtp"], GREETING)
        with open(os.path.join(self.dir, "log", "postern.log")) as f:
            log = f.read()
        self.assertRegex(log, r"service lmtp: pid %d killed by signal 9"
                         % old)

        # Reload with nothing changed keeps every process.
        before = {n: s["pids"] for n, s in svcs.items()}
        r = self.postern("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        svcs = self.wait_running()
        self.assertEqual({n: s["pids"] for n, s in svcs.items()}, before)

        # More processes for one service, a changed one, a new one.
        extra_port = free_ports(1)[0]
        self.write_services(
            webmail_procs=2,
            extra="extra inet 127.0.0.1:%d none 1 postern-smtpd\n"
            % extra_port)
        r = self.postern("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        svcs = self.wait_running(lambda s: "extra" in s and
                                 len(s["webmail"]["pids"]) == 2)
        self.assertIn(before["webmail"][0], svcs["webmail"]["pids"])
        self.assertEqual(svcs["smtp"]["pids"], before["smtp"])
        self.check_line(extra_port, GREETING)
        st, _, _ = self.check_http(self.ports["webmail"], "GET", "/")
        self.assertEqual(st, 200)

        # A broken table is refused with FILE:LINE; nothing changes.
        self.write_services(webmail_procs=2, extra="broken line\n")
        r = self.postern("reload")
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r"services\.cf:\d+: ")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        svcs = self.wait_running(lambda s: "extra" in s)

        # Dropping the extra service closes its port.
        self.write_services(webmail_procs=2)
        r = self.postern("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        svcs = self.wait_running(lambda s: "extra" not in s)
        deadline = time.time() + 10
        while not port_free(extra_port) and time.time() < deadline:
            time.sleep(0.1)
        self.assertTrue(port_free(extra_port))

        # Stop ends every process and frees every port.
        pids = [p for s in svcs.values() for p in s["pids"]]
        master = int(re.search(r"master: pid (\d+)",
                               self.postern("status").stdout).group(1))
        r = self.postern("stop")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.started = False
        for pid in pids + [master]:
            self.assertFalse(pid_alive(pid), "pid %d still running" % pid)
        for name, port in self.ports.items():
            self.assertTrue(port_free(port), "%s port %d" % (name, port))
        self.assertFalse(os.path.exists(
            os.path.join(self.dir, "run", "lmtp.sock")))
        rc, _, r = self.status()
        self.assertEqual(rc, 1)
        self.assertIn("not running", r.stderr)
        r = self.postern("stop")
        self.assertNotEqual(r.returncode, 0)

    def test_port_in_use(self):
        busy = socket.socket()
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", self.ports["imap"]))
        busy.listen()
        try:
            r = self.postern("start")
        finally:
            busy.close()
        self.assertNotEqual(r.returncode, 0)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("imap", lines[0])
        self.assertIn("in use", lines[0])
        self.assertEqual(self.status()[0], 1)
        for name, port in self.ports.items():
            self.assertTrue(port_free(port), "%s port %d" % (name, port))

    def test_stop_kills_stubborn_children(self):
        # A daemon that ignores SIGTERM is killed after $stop_timeout.
        bindir = os.path.join(self.dir, "bin")
        os.mkdir(bindir)
        prog = os.path.join(bindir, "postern-stubborn")
        with open(prog, "w") as f:
            f.write("#!/bin/sh\ntrap '' TERM\n"
                    "echo ready >&$POSTERN_READY_FD\n"
                    "exec sleep 1000\n")
        os.chmod(prog, 0o755)
        with open(os.path.join(self.dir, "main.cf"), "a") as f:
            f.write("daemon_directory = %s\nstop_timeout = 1s\n" % bindir)
        with open(os.path.join(self.dir, "services.cf"), "w") as f:
            f.write("stubborn inet 127.0.0.1:$smtp_port none 2 "
                    "postern-stubborn\n")
        r = self.postern("start")
        self.assertEqual(r.returncode, 0, r.stderr + self.log_tail())
        self.started = True
        svcs = self.wait_running()
        pids = svcs["stubborn"]["pids"]
        self.assertEqual(len(pids), 2)
        t0 = time.time()
        r = self.postern("stop")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.started = False
        self.assertGreaterEqual(time.time() - t0, 0.9)
        for pid in pids:
            self.assertFalse(pid_alive(pid))
        self.assertTrue(port_free(self.ports["smtp"]))
        self.assertIn("killing them", self.log_tail())

    def test_missing_daemon(self):
        with open(os.path.join(self.dir, "main.cf"), "a") as f:
            f.write("daemon_directory = %s/nowhere\n" % self.dir)
        r = self.postern("start")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot run", r.stderr)
        self.assertEqual(self.status()[0], 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
