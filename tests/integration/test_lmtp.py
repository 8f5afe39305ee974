#!/usr/bin/env python3
"""postern-lmtpd end to end: LMTP (RFC 2033) over TCP and the unix socket
into the Maildir store.

For each database (SQLite always; PostgreSQL and MariaDB when the PG_* /
MYSQL_* variables of dbservers.sh are set) a temporary config folder is
made with `postern -c DIR init`, free ports are set with `postern config
set`, a domain and mailboxes are added with the CLI, and `postern start`
runs the LMTP services.  The services table is cut down to the two LMTP
lines so the test does not depend on the other daemons.  Checked, over
both transports: byte-for-byte delivery below the trace headers, one
reply per recipient, plus-addressing, unknown users (550 5.1.1), quota
(452 4.2.2, nothing left in new/ or tmp/), pipelining, BDAT, a 1 MB
message, and a database that is down (451 4.3.0 after `postern reload`).
Python 3 standard library only; exit 0 pass, 1 fail.
"""
import os
import re
import secrets
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(os.environ.get(
    "POSTERN_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build")))
POSTERN = os.path.join(BUILD, "postern")
PORTS = ["smtp", "submission", "submissions", "lmtp", "imap", "imaps",
         "webmail", "admin_api"]
SERVICES = """\
# written by test_lmtp.py: only the LMTP services of the default table
lmtp         inet  $inet_interfaces:$lmtp_port            none      1      postern-lmtpd
lmtp-unix    unix  $lmtp_socket                           none      1      postern-lmtpd
"""
TRACE = re.compile(rb"^(Return-Path|Delivered-To|Received):", re.I)
failures = 0


def check(cond, what, detail=""):
    global failures
    if cond:
        print(f"ok   {what}")
    else:
        failures += 1
        print(f"FAIL {what} {detail}")
    return cond


def run(cfg, *args, stdin=None):
    p = subprocess.run([POSTERN, "-c", cfg, *args], input=stdin,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def ok(cfg, *args, stdin=None):
    rc, out, err = run(cfg, *args, stdin=stdin)
    if rc != 0:
        raise RuntimeError(f"postern {' '.join(args)}: rc={rc} {err.strip()}")
    return out


def until(attempt, timeout=10):
    """Call attempt() until it returns a true value or time runs out (a
    reload reaches the daemons asynchronously); the last value."""
    deadline = time.time() + timeout
    while True:
        value = attempt()
        if value or time.time() > deadline:
            return value
        time.sleep(0.2)


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


def driver_settings(driver):
    if driver == "sqlite":
        return ["database_driver=sqlite"]
    prefix = "PG" if driver == "pgsql" else "MYSQL"
    env = os.environ
    return [f"database_driver={driver}",
            f"database_host={env[prefix + '_HOST']}",
            f"database_port={env[prefix + '_PORT']}",
            f"database_name={env[prefix + '_DATABASE']}",
            f"database_user={env[prefix + '_USER']}",
            f"database_password={env[prefix + '_PASSWORD']}"]


class Site:
    """A config folder with the LMTP services running."""

    def __init__(self, tmp, driver):
        self.driver = driver
        self.cfg = os.path.join(tmp, driver)
        ok(self.cfg, "init")
        ports = dict(zip(PORTS, free_ports(len(PORTS))))
        self.lmtp_port = ports["lmtp"]
        ok(self.cfg, "config", "set",
           *[f"{n}_port={p}" for n, p in ports.items()],
           "stop_timeout=5s", "database_timeout=2s",
           *driver_settings(driver))
        if driver != "sqlite":
            ok(self.cfg, "db", "migrate")
        with open(os.path.join(self.cfg, "services.cf"), "w") as f:
            f.write(SERVICES)
        self.sock = os.path.join(self.cfg, "run", "lmtp.sock")
        self.dom = f"lmtp-{secrets.token_hex(4)}.test"
        ok(self.cfg, "domain", "add", self.dom)
        ok(self.cfg, "mailbox", "add", f"bob@{self.dom}", "--password-stdin",
           stdin="pw\n")
        ok(self.cfg, "mailbox", "add", f"alice@{self.dom}",
           "--password-stdin", "--quota", "100000000", stdin="pw\n")
        ok(self.cfg, "mailbox", "add", f"small@{self.dom}",
           "--password-stdin", "--quota", "2000", stdin="pw\n")
        ok(self.cfg, "start")
        try:
            self.wait_ready()
        except Exception:
            self.stop()
            raise

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                for c in (self.tcp(), self.unix()):
                    c.quit()
                return
            except (OSError, smtplib.SMTPException):
                time.sleep(0.1)
        raise RuntimeError("lmtpd does not answer:\n" + self.log_tail())

    def stop(self):
        run(self.cfg, "stop")

    def log_tail(self, n=30):
        try:
            with open(os.path.join(self.cfg, "log", "postern.log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError as e:
            return str(e)

    def tcp(self):
        c = smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=30)
        c.ehlo("client.test")
        return c

    def unix(self):
        c = smtplib.LMTP(self.sock, timeout=30)
        c.ehlo("client.test")
        return c

    def maildir(self, user, sub="new"):
        return os.path.join(self.cfg, "mail", self.dom, user, sub)

    def files(self, user, sub="new"):
        d = self.maildir(user, sub)
        if not os.path.isdir(d):
            return []
        return [os.path.join(d, n) for n in sorted(os.listdir(d))]

    def find(self, user, token):
        """Stored messages of user containing token, as bytes."""
        found = []
        for path in self.files(user):
            with open(path, "rb") as f:
                data = f.read()
            if token.encode() in data:
                found.append(data)
        return found


def split_trace(stored):
    """(trace header lines, the rest) of a stored message."""
    lines = stored.split(b"\n")
    i, trace = 0, []
    while i < len(lines) and (TRACE.match(lines[i]) or (
            trace and lines[i][:1] in (b" ", b"\t"))):
        trace.append(lines[i])
        i += 1
    return trace, b"\n".join(lines[i:])


def message(token, body=b"Hello.\r\n", extra=b""):
    return (b"From: Sender <sender@example.org>\r\n"
            b"Subject: " + token.encode() + b"\r\n" + extra +
            b"Message-ID: <" + token.encode() + b"@example.org>\r\n\r\n" + body)


def transports(site):
    return (("tcp", site.tcp), ("unix", site.unix))


def test_delivery(site):
    for name, connect in transports(site):
        token = f"plain-{name}-{secrets.token_hex(4)}"
        body = (b"Line one\r\n.leading dot\r\n..two dots\r\n"
                b"\xc3\xa9t\xc3\xa9 8-bit\r\n\r\nlast line\r\n")
        msg = message(token, body)
        c = connect()
        c.mail("sender@example.org")
        code, _ = c.rcpt(f"bob@{site.dom}")
        check(code == 250, f"{site.driver}/{name}: RCPT bob 250")
        code, text = c.data(msg)
        check(code == 250 and text.startswith(b"2.0.0"),
              f"{site.driver}/{name}: DATA 250 2.0.0", f"{code} {text!r}")
        c.quit()
        got = site.find("bob", token)
        if not check(len(got) == 1, f"{site.driver}/{name}: one file in new/"):
            continue
        trace, rest = split_trace(got[0])
        check(rest == msg.replace(b"\r\n", b"\n"),
              f"{site.driver}/{name}: stored byte for byte below the trace "
              "headers", repr(rest[:200]))
        check(trace[0] == b"Return-Path: <sender@example.org>" and
              trace[1] == f"Delivered-To: bob@{site.dom}".encode(),
              f"{site.driver}/{name}: Return-Path and Delivered-To first",
              repr(trace))


def test_two_recipients_plus(site):
    for name, connect in transports(site):
        token = f"two-{name}-{secrets.token_hex(4)}"
        c = connect()
        c.mail("sender@example.org")
        r1 = c.rcpt(f"bob+lists@{site.dom}")
        r2 = c.rcpt(f"nobody@{site.dom}")
        r3 = c.rcpt(f"alice@{site.dom}")
        check(r1[0] == 250 and r3[0] == 250,
              f"{site.driver}/{name}: RCPT plus-address and alice 250")
        check(r2[0] == 550 and r2[1].startswith(b"5.1.1"),
              f"{site.driver}/{name}: unknown user 550 5.1.1", repr(r2))
        first = c.data(message(token))
        # smtplib.LMTP reads one reply; RFC 2033 sends one per recipient.
        second = c.getreply()
        check(first[0] == 250 and b"bob+lists@" in first[1] and
              second[0] == 250 and b"alice@" in second[1],
              f"{site.driver}/{name}: one reply per recipient, in order",
              f"{first!r} {second!r}")
        code, _ = c.noop()
        check(code == 250, f"{site.driver}/{name}: no extra reply after them")
        c.quit()
        bob = site.find("bob", token)
        alice = site.find("alice", token)
        check(len(bob) == 1 and len(alice) == 1,
              f"{site.driver}/{name}: one file per recipient")
        if bob:
            check(f"Delivered-To: bob+lists@{site.dom}\n".encode() in bob[0],
                  f"{site.driver}/{name}: user+tag delivered to user, "
                  "Delivered-To keeps the tag")


def test_quota(site):
    for name, connect in transports(site):
        token = f"quota-{name}-{secrets.token_hex(4)}"
        c = connect()
        c.mail("sender@example.org")
        code, _ = c.rcpt(f"small@{site.dom}")
        check(code == 250, f"{site.driver}/{name}: RCPT small (empty) 250")
        code, text = c.data(message(token, b"x" * 5000 + b"\r\n"))
        check(code == 452 and text.startswith(b"4.2.2"),
              f"{site.driver}/{name}: over quota 452 4.2.2", f"{code} {text!r}")
        # With SIZE the refusal comes at RCPT already.
        c.mail("sender@example.org", ["SIZE=5000"])
        code, text = c.rcpt(f"small@{site.dom}")
        check(code == 452 and text.startswith(b"4.2.2"),
              f"{site.driver}/{name}: SIZE over quota 452 4.2.2 at RCPT",
              f"{code} {text!r}")
        c.quit()
        check(site.files("small") == [] and site.files("small", "tmp") == [],
              f"{site.driver}/{name}: nothing in new/ or tmp/",
              repr(site.files("small") + site.files("small", "tmp")))
    # quota_exceeded_permanent = yes: 552 5.2.2 instead.
    ok(site.cfg, "config", "set", "quota_exceeded_permanent=yes")
    ok(site.cfg, "reload")

    def permanent():
        c = site.unix()
        c.mail("sender@example.org")
        c.rcpt(f"small@{site.dom}")
        reply = c.data(message("perm", b"x" * 5000 + b"\r\n"))
        c.quit()
        return reply if reply[0] == 552 else None
    reply = until(permanent)
    check(reply is not None and reply[1].startswith(b"5.2.2"),
          f"{site.driver}: quota_exceeded_permanent 552 5.2.2", repr(reply))
    ok(site.cfg, "config", "set", "quota_exceeded_permanent=no")
    ok(site.cfg, "reload")
    check(site.files("small") == [], f"{site.driver}: still nothing in new/")


class Raw:
    """A plain socket speaking LMTP, for pipelining and BDAT."""

    def __init__(self, sock):
        self.s = sock
        self.s.settimeout(30)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def reply(self):
        lines = [self.line()]
        while lines[-1][3:4] == b"-":
            lines.append(self.line())
        return int(lines[-1][:3]), lines

    def close(self):
        self.s.close()


def raw_connect(site, name):
    if name == "tcp":
        s = socket.create_connection(("127.0.0.1", site.lmtp_port))
    else:
        s = socket.socket(socket.AF_UNIX)
        s.connect(site.sock)
    r = Raw(s)
    code, _ = r.reply()
    if code != 220:
        raise RuntimeError(f"greeting {code}")
    return r


def test_pipelining(site):
    for name in ("tcp", "unix"):
        token = f"pipe-{name}-{secrets.token_hex(4)}"
        r = raw_connect(site, name)
        # RFC 2920: the whole group in one write, DATA last.
        r.send(f"LHLO client.test\r\nMAIL FROM:<sender@example.org>\r\n"
               f"RCPT TO:<bob@{site.dom}>\r\nRCPT TO:<ghost@{site.dom}>\r\n"
               f"RCPT TO:<alice@{site.dom}>\r\nDATA\r\n".encode())
        codes = [r.reply()[0] for _ in range(6)]
        check(codes == [250, 250, 250, 550, 250, 354],
              f"{site.driver}/{name}: pipelined replies in order", repr(codes))
        r.send(message(token) + b".\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        codes = [r.reply()[0] for _ in range(5)]
        check(codes == [250, 250, 250, 250, 221],
              f"{site.driver}/{name}: two DATA replies then RSET NOOP QUIT",
              repr(codes))
        r.close()
        check(len(site.find("bob", token)) == 1 and
              len(site.find("alice", token)) == 1,
              f"{site.driver}/{name}: pipelined message delivered twice")


def test_bdat(site):
    for name in ("tcp", "unix"):
        token = f"bdat-{name}-{secrets.token_hex(4)}"
        msg = message(token, b"chunked\r\n.\r\nQUIT\r\nend\r\n")
        a, b = msg[:40], msg[40:]
        r = raw_connect(site, name)
        r.send(f"LHLO client.test\r\nMAIL FROM:<sender@example.org>\r\n"
               f"RCPT TO:<bob@{site.dom}>\r\n".encode())
        codes = [r.reply()[0] for _ in range(3)]
        r.send(b"BDAT %d\r\n" % len(a) + a +
               b"BDAT %d LAST\r\n" % len(b) + b + b"QUIT\r\n")
        c1, l1 = r.reply()
        c2, l2 = r.reply()
        c3, _ = r.reply()
        r.close()
        check(codes == [250, 250, 250] and c1 == 250 and c2 == 250 and
              c3 == 221, f"{site.driver}/{name}: BDAT chunks and LAST",
              f"{codes} {l1} {l2}")
        got = site.find("bob", token)
        check(len(got) == 1 and
              split_trace(got[0])[1] == msg.replace(b"\r\n", b"\n"),
              f"{site.driver}/{name}: BDAT message stored byte for byte")


def test_large(site):
    for name, connect in transports(site):
        token = f"large-{name}-{secrets.token_hex(4)}"
        line = (b"0123456789" * 7) + b"\r\n"
        body = line * (1024 * 1024 // len(line) + 1)
        msg = message(token, body)
        c = connect()
        refused = c.sendmail("sender@example.org", [f"alice@{site.dom}"],
                             msg)
        c.quit()
        check(refused == {}, f"{site.driver}/{name}: 1 MB message accepted")
        got = site.find("alice", token)
        check(len(got) == 1 and len(msg) > 1024 * 1024 and
              split_trace(got[0])[1] == msg.replace(b"\r\n", b"\n"),
              f"{site.driver}/{name}: 1 MB message stored byte for byte")


def rcpt_reply(connect, address):
    c = connect()
    c.mail("sender@example.org")
    reply = c.rcpt(address)
    c.quit()
    return reply


def test_database_down(site):
    port = free_ports(1)[0]
    ok(site.cfg, "config", "set", "database_driver=pgsql",
       "database_host=127.0.0.1", f"database_port={port}",
       "database_timeout=2s")
    ok(site.cfg, "reload")
    for name, connect in transports(site):
        reply = until(lambda: (lambda r: r if r[0] != 250 else None)(
            rcpt_reply(connect, f"bob@{site.dom}")))
        check(reply is not None and reply[0] == 451 and
              reply[1].startswith(b"4.3.0"),
              f"{site.driver}/{name}: database down 451 4.3.0", repr(reply))
    ok(site.cfg, "config", "set", *driver_settings(site.driver))
    ok(site.cfg, "reload")
    reply = until(lambda: (lambda r: r if r[0] == 250 else None)(
        rcpt_reply(site.tcp, f"bob@{site.dom}")))
    check(reply is not None, f"{site.driver}: database back, RCPT 250 again")


def test_timeout(site):
    ok(site.cfg, "config", "set", "lmtpd_timeout=2s")
    ok(site.cfg, "reload")

    def idle():
        r = raw_connect(site, "unix")
        r.s.settimeout(5)  # before the reload applies: no 421, retry
        r.send(b"LHLO client.test\r\n")
        r.reply()
        start = time.time()
        try:
            code, lines = r.reply()
        except (EOFError, OSError):
            return None
        finally:
            r.close()
        return (code, lines, time.time() - start) if code == 421 else None
    got = until(idle, timeout=20)
    check(got is not None and got[1][0].startswith(b"421 4.4.2") and
          got[2] < 10, f"{site.driver}: idle client gets 421 4.4.2 after "
          "lmtpd_timeout", repr(got))
    ok(site.cfg, "config", "set", "lmtpd_timeout=300s")
    ok(site.cfg, "reload")


def test_driver(tmp, driver):
    print(f"--- lmtp on {driver}")
    try:
        site = Site(tmp, driver)
    except Exception as e:
        check(False, f"{driver}: set-up", repr(e))
        return
    try:
        for t in (test_delivery, test_two_recipients_plus, test_quota,
                  test_pipelining, test_bdat, test_large, test_database_down,
                  test_timeout):
            try:
                t(site)
            except Exception as e:  # one broken step must not hide the rest
                check(False, f"{site.driver}: {t.__name__} raised {e!r}",
                      "\n" + site.log_tail())
    finally:
        site.stop()
    log = site.log_tail(400)
    check("status=saved (new/" in log, f"{driver}: deliveries logged")
    check("panic" not in log and "fatal" not in log,
          f"{driver}: no panic or fatal in the log")


def main():
    if not os.access(POSTERN, os.X_OK):
        print(f"skip: no {POSTERN} (set POSTERN_BUILD_DIR)")
        return 77
    with tempfile.TemporaryDirectory(prefix="postern-lmtp-") as tmp:
        test_driver(tmp, "sqlite")
        for driver, var in (("pgsql", "PG_PORT"), ("mysql", "MYSQL_PORT")):
            if var in os.environ:
                test_driver(tmp, driver)
            else:
                print(f"skip {driver}: {var} unset (run under run-all.sh)")
    print(f"test_lmtp: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
