"""Helpers the IMAP integration tests and bench/imap_load.py share (a
module, not a test).

An IMAP *target* is a running IMAP server in a temp dir, on loopback,
with a few users, an LMTP listener for deliveries, a plain (STARTTLS)
port and an IMAPS port:

  PosternTarget  `postern -c DIR init`, free ports, a services table with
                 the imap, imaps and lmtp services, plaintext LOGIN
                 allowed on loopback (the dev setting of CONTRACT.md)
                 unless plaintext=False.
  DovecotTarget  a throwaway Dovecot 2.3 (Debian's dovecot-imapd and
                 dovecot-lmtpd) with its own config file, base_dir,
                 passwd-file users and Maildir++ store under the temp
                 dir; nothing under /etc or /var is read or written.
                 With plaintext=False it listens on 127.0.0.2 and the
                 tests connect from 127.0.0.1, because Dovecot counts a
                 connection whose two ends have the same address as
                 secure.

IMAP_TARGET=dovecot makes target_from_env() start Dovecot instead of
Postern: the conformance tests run against Dovecot first to show that
the tests themselves are right.

Both keep mail in MAIL/DOMAIN/LOCAL/ (Maildir++, "." separator): the
layout of Postern's mail_directory and of Dovecot's
`maildir:%h` with home MAIL/%d/%n, so a store can be handed from one to
the other.  Dovecot runs the users as uid/gid `nobody` (it refuses uid
0); Postern runs as whoever runs the test.
"""
import imaplib
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import BUILD, POSTERN, free_ports, tls_context  # noqa: E402,F401

DOMAIN = "imap.test"
PASSWORD = "secret pw 1"
QUOTA_BYTES = 50 * 1000 * 1000
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVECOT_LIBEXEC = "/usr/lib/dovecot"
SPECIAL = {"Drafts": "\\Drafts", "Sent": "\\Sent", "Trash": "\\Trash",
           "Junk": "\\Junk", "Archive": "\\Archive"}

POSTERN_SERVICES = """\
# written by imap_site.py: IMAP, IMAPS and LMTP only
imap         inet  $inet_interfaces:$imap_port            starttls  1  postern-imapd
imaps        inet  $inet_interfaces:$imaps_port           implicit  1  postern-imapd
lmtp         inet  $inet_interfaces:$lmtp_port            none      1  postern-lmtpd
"""
PORT_NAMES = ["smtp", "submission", "submissions", "lmtp", "imap", "imaps",
              "webmail", "admin_api"]


def wait_port(host, port, timeout=20, source=None):
    deadline = time.time() + timeout
    while True:
        try:
            s = socket.create_connection(
                (host, port), timeout=2,
                source_address=(source, 0) if source else None)
            s.settimeout(5)
            greet = s.recv(200)
            s.close()
            if greet:
                return
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError("nothing answers on %s:%d" % (host, port))
        time.sleep(0.1)


class Target:
    """What every target offers the tests (see the module comment)."""
    kind = "?"
    host = "127.0.0.1"
    source = None            # client source address, when it matters

    def __init__(self, users, plaintext=True, tmp=None, preload=None,
                 quota_bytes=QUOTA_BYTES, password_scheme=None):
        self.quota_bytes = quota_bytes
        # None: each server's default (Postern ARGON2ID, Dovecot PLAIN);
        # "SHA512-CRYPT": the same cost on both (the benchmark)
        self.password_scheme = password_scheme
        self.tmp = tmp or tempfile.mkdtemp(prefix="postern-imap-%s." %
                                           self.kind)
        self.own_tmp = tmp is None
        os.makedirs(self.tmp, exist_ok=True)
        self.users = list(users)
        self.plaintext = plaintext
        self.mail = os.path.join(self.tmp, "mail")
        self.preload = preload or {}

    def address(self, user):
        return user if "@" in user else "%s@%s" % (user, DOMAIN)

    def maildir(self, user):
        local, dom = self.address(user).split("@")
        return os.path.join(self.mail, dom, local)

    # -- connections ---------------------------------------------------
    def imap(self, user=None, login=True, tls=False):
        """An imaplib client, logged in as user (the first by default);
        tls=True uses the IMAPS port."""
        if tls:
            c = imaplib.IMAP4_SSL(self.host, self.imaps_port,
                                  ssl_context=tls_context(), timeout=30)
        else:
            c = imaplib.IMAP4(self.host, self.imap_port, timeout=30)
        if login:
            c.login(self.address(user or self.users[0]), PASSWORD)
        return c

    def raw(self, tls=False):
        return Raw(self.host, self.imaps_port if tls else self.imap_port,
                   tls=tls, source=self.source)

    def deliver(self, user, msg):
        """Deliver msg (bytes, LF or CRLF) to user's INBOX over LMTP."""
        import smtplib
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=30) as l:
            l.sendmail("sender@outside.test", [self.address(user)], msg)

    def stop(self):
        pass

    def cleanup(self):
        self.stop()
        if self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, n=40):
        return ""


class Raw:
    """A socket that speaks IMAP byte for byte (for the parser tests)."""

    def __init__(self, host, port, tls=False, source=None, timeout=15):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        if tls:
            self.sock = tls_context().wrap_socket(self.sock)
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        """One response line with its CRLF (b"" at end of stream)."""
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                out, self.buf = self.buf, b""
                return out
            self.buf += chunk
        out, self.buf = self.buf.split(b"\r\n", 1)
        return out + b"\r\n"

    def read_literal(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def until_tagged(self, tag):
        """Lines up to and including the tagged reply of tag (literals
        inlined); returns (untagged lines, tagged line)."""
        if isinstance(tag, str):
            tag = tag.encode()
        lines = []
        while True:
            ln = self.line()
            if not ln:
                raise EOFError("connection closed; got %r" % lines)
            m = re.search(rb"\{(\d+)\+?\}\r\n$", ln)
            while m:
                ln += self.read_literal(int(m.group(1)))
                more = self.line()
                ln += more
                m = re.search(rb"\{(\d+)\+?\}\r\n$", more)
            if ln.startswith(tag + b" "):
                return lines, ln
            lines.append(ln)

    def cmd(self, tag, text):
        self.send("%s %s\r\n" % (tag, text) if isinstance(text, str)
                  else tag.encode() + b" " + text + b"\r\n")
        return self.until_tagged(tag)

    def login(self, user, password=PASSWORD):
        u, t = self.cmd("L1", 'LOGIN "%s" "%s"' % (user, password))
        if b" OK" not in t:
            raise AssertionError("login failed: %r" % t)
        return u, t

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# -- Postern -------------------------------------------------------------

def _postern(cfg, *args, stdin=None):
    p = subprocess.run([POSTERN, "-c", cfg] + list(args), input=stdin or "",
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("postern %s: %s%s" % (" ".join(args), p.stdout,
                                                 p.stderr))
    return p.stdout


def postern_plaintext_param(cfg):
    """The name of the parameter that allows plaintext LOGIN on loopback
    (the imapd task chooses it; found by its name)."""
    out = _postern(cfg, "config", "-d")
    for line in out.splitlines():
        name = line.split("=", 1)[0].strip()
        if "imap" in name and "plain" in name:
            return name
    for line in out.splitlines():
        name = line.split("=", 1)[0].strip()
        if "plaintext" in name or "insecure" in name:
            return name
    return None


class PosternTarget(Target):
    kind = "postern"

    def start(self, extra_config=()):
        self.cfg = os.path.join(self.tmp, "cfg")
        _postern(self.cfg, "init")
        os.makedirs(self.mail, mode=0o700, exist_ok=True)
        ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES))))
        self.imap_port, self.imaps_port = ports["imap"], ports["imaps"]
        self.lmtp_port = ports["lmtp"]
        sets = ["%s_port=%d" % kv for kv in ports.items()]
        sets += ["mail_directory=" + self.mail, "stop_timeout=5s"]
        param = postern_plaintext_param(self.cfg)
        if param:
            sets.append("%s=%s" % (param, "yes" if self.plaintext else "no"))
        self.plaintext_param = param
        if self.password_scheme:
            sets += ["default_password_scheme=" + self.password_scheme,
                     "password_upgrade=no"]
        sets += list(extra_config)
        _postern(self.cfg, "config", "set", *sets)
        with open(os.path.join(self.cfg, "services.cf"), "w") as f:
            f.write(POSTERN_SERVICES)
        doms = sorted({self.address(u).split("@")[1] for u in self.users})
        for d in doms:
            _postern(self.cfg, "domain", "add", d)
        for u in self.users:
            _postern(self.cfg, "mailbox", "add", self.address(u),
                     "--password-stdin", "--quota", str(self.quota_bytes),
                     stdin=PASSWORD + "\n")
        for u, src in self.preload.items():
            dst = self.maildir(u)
            shutil.rmtree(dst, ignore_errors=True)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            copy_tree(src, dst, getattr(self, "link", False))
            _chown_tree(dst, os.getuid(), os.getgid())
        self.cert_file = os.path.join(self.cfg, "tls", "cert.pem")
        _postern(self.cfg, "start")
        try:
            wait_port(self.host, self.imap_port)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        if getattr(self, "cfg", None):
            subprocess.run([POSTERN, "-c", self.cfg, "stop"],
                           capture_output=True, timeout=60)

    def pids(self):
        """Every process of this Postern (the supervisor's tree)."""
        return master_tree(os.path.join(self.cfg, "run", "master.pid"))

    def log_tail(self, n=40):
        log = os.path.join(self.cfg, "log", "postern.log")
        try:
            with open(log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


# -- Dovecot -------------------------------------------------------------

DOVECOT_CONF = """\
# throwaway Dovecot for the Postern IMAP tests (imap_site.py)
base_dir = {tmp}/run
state_dir = {tmp}/state
instance_name = postern-test-{port}
protocols = imap lmtp
listen = {host}
log_path = {tmp}/dovecot.log
info_log_path = {tmp}/dovecot.log
ssl = yes
ssl_cert = <{tmp}/cert.pem
ssl_key = <{tmp}/key.pem
ssl_dh = <{tmp}/dh.pem
disable_plaintext_auth = {dpa}
auth_mechanisms = plain login
auth_failure_delay = 2 secs
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_uid = {uid}
mail_gid = {gid}
mail_location = maildir:%h
mail_plugins = quota
maildir_very_dirty_syncs = no
mailbox_list_index = yes
imap_capability = +ID
mail_attribute_dict = file:%h/dovecot-attributes
imap_metadata = yes
protocol imap {{
  mail_plugins = $mail_plugins imap_quota imap_zlib
}}
passdb {{
  driver = passwd-file
  args = username_format=%u {tmp}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {tmp}/users
  default_fields = uid={uid} gid={gid} home={mail}/%d/%n
}}
namespace inbox {{
  inbox = yes
  separator = .
  prefix =
  mailbox Drafts {{
    auto = create
    special_use = \\Drafts
  }}
  mailbox Sent {{
    auto = create
    special_use = \\Sent
  }}
  mailbox Trash {{
    auto = create
    special_use = \\Trash
  }}
  mailbox Junk {{
    auto = create
    special_use = \\Junk
  }}
  mailbox Archive {{
    auto = create
    special_use = \\Archive
  }}
}}
plugin {{
  quota = maildir:User quota
  quota_rule = *:storage={quota_kb}k
  quota_max_mail_size = 30M
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {sport}
    ssl = yes
  }}
{login_extra}
}}
service imap {{
{imap_extra}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {host}
    port = {lport}
  }}
  unix_listener lmtp {{
    mode = 0600
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{extra}
"""


def make_cert(d):
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=localhost"], check=True,
                   capture_output=True)
    return cert, key


# A fixed 2048-bit group (RFC 7919 ffdhe2048): Dovecot 2.3 wants ssl_dh
# and generating one takes too long.
FFDHE2048 = """-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""


def copy_tree(src, dst, link=False):
    shutil.copytree(src, dst, symlinks=True,
                    copy_function=os.link if link else shutil.copy2)


def master_tree(pidfile):
    """pids of the process tree under the master named in pidfile."""
    with open(pidfile) as f:
        master = int(f.read().split()[0])
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="],
                         capture_output=True, text=True).stdout
    kids = {}
    for line in out.splitlines():
        pid, ppid = map(int, line.split())
        kids.setdefault(ppid, []).append(pid)
    res, todo = [], [master]
    while todo:
        p = todo.pop()
        res.append(p)
        todo.extend(kids.get(p, []))
    return res


def _chown_tree(path, uid, gid):
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for n in files:
            os.lchown(os.path.join(root, n), uid, gid)


class DovecotTarget(Target):
    kind = "dovecot"

    def start(self, login_extra="", imap_extra="", extra=""):
        if not os.path.exists(DOVECOT):
            raise RuntimeError("dovecot is not installed")
        if not self.plaintext:
            # both ends 127.0.0.1 would count as secure (see above)
            self.host, self.source = "127.0.0.2", "127.0.0.1"
        nobody = pwd.getpwnam("nobody")
        self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        self.cert_file, _ = make_cert(self.tmp)
        with open(os.path.join(self.tmp, "dh.pem"), "w") as f:
            f.write(FFDHE2048)
        for d in ("run", "state", "mail"):
            os.makedirs(os.path.join(self.tmp, d), exist_ok=True)
        os.chmod(self.tmp, 0o755)
        with open(os.path.join(self.tmp, "users"), "w") as f:
            pw = "{PLAIN}" + PASSWORD
            if self.password_scheme == "SHA512-CRYPT":
                pw = "{SHA512-CRYPT}" + subprocess.run(
                    ["openssl", "passwd", "-6", PASSWORD], check=True,
                    capture_output=True, text=True).stdout.strip()
            for u in self.users:
                f.write("%s:%s::::::\n" % (self.address(u), pw))
        self.imap_port, self.imaps_port, self.lmtp_port = free_ports(3)
        for u, src in self.preload.items():
            dst = self.maildir(u)
            shutil.rmtree(dst, ignore_errors=True)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            copy_tree(src, dst, getattr(self, "link", False))
        _chown_tree(self.mail, self.uid, self.gid)
        os.chmod(self.mail, 0o777)
        self.conf = os.path.join(self.tmp, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(
                tmp=self.tmp, mail=self.mail, host=self.host,
                port=self.imap_port, sport=self.imaps_port,
                lport=self.lmtp_port, uid=self.uid, gid=self.gid,
                dpa="no" if self.plaintext else "yes",
                quota_kb=self.quota_bytes // 1024, login_extra=login_extra,
                imap_extra=imap_extra, extra=extra))
        # the daemon keeps inherited pipes open: give it a file instead
        with open(os.path.join(self.tmp, "dovecot.stderr"), "w+") as err:
            p = subprocess.run([DOVECOT, "-c", self.conf], timeout=60,
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err)
            if p.returncode != 0:
                err.seek(0)
                raise RuntimeError("dovecot: " + err.read() +
                                   self.log_tail())
        self.started = True
        wait_port(self.host, self.imap_port, source=self.source)
        return self

    def maildir_for_dovecot(self, user):
        """Make user's store (and what a test put in it) Dovecot's."""
        _chown_tree(self.maildir(user), self.uid, self.gid)

    def stop(self):
        if getattr(self, "started", False):
            subprocess.run([DOVECOT, "-c", self.conf, "stop"],
                           stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
            pidfile = os.path.join(self.tmp, "run", "master.pid")
            deadline = time.time() + 15
            while os.path.exists(pidfile) and time.time() < deadline:
                time.sleep(0.1)
            self.started = False

    def pids(self):
        """Every process of this Dovecot instance (the master's tree)."""
        return master_tree(os.path.join(self.tmp, "run", "master.pid"))

    def log_tail(self, n=40):
        try:
            with open(os.path.join(self.tmp, "dovecot.log"),
                      errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def start_target(kind, users, plaintext=True, tmp=None, preload=None,
                 quota_bytes=QUOTA_BYTES, link=False, password_scheme=None,
                 **kw):
    """A started target; preload {user: Maildir} copies (link=True: hard
    links, for the benchmark's big stores) each into the user's store."""
    cls = DovecotTarget if kind == "dovecot" else PosternTarget
    t = cls(users, plaintext=plaintext, tmp=tmp, preload=preload,
            quota_bytes=quota_bytes, password_scheme=password_scheme)
    t.link = link
    try:
        return t.start(**kw)
    except BaseException:
        tail = t.log_tail()
        t.cleanup()
        raise RuntimeError("%s did not start\n%s" % (kind, tail))


def target_kind():
    kind = os.environ.get("IMAP_TARGET", "postern").lower()
    if kind not in ("postern", "dovecot"):
        raise SystemExit("IMAP_TARGET must be postern or dovecot")
    return kind


def target_from_env(users, **kw):
    return start_target(target_kind(), users, **kw)


def have_postern_imapd():
    return os.path.exists(os.path.join(BUILD, "postern-imapd"))


# -- messages ------------------------------------------------------------

def make_message(i, subject=None, body=None, frm="Alice <alice@example.org>",
                 to="Bob <bob@imap.test>", extra=""):
    subject = subject or "Message number %d" % i
    body = body or "Hello, this is message %d.\r\nSecond line.\r\n" % i
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\n"
            "Date: Mon, 2 Mar 2026 10:%02d:00 +0000\r\n"
            "Message-ID: <msg%d@example.org>\r\n%s"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "\r\n%s" % (frm, to, subject, i % 60, i, extra, body)).encode()


def parse_status(data):
    """{'MESSAGES': 3, ...} from an imaplib STATUS answer."""
    s = data[0].decode() if isinstance(data[0], bytes) else data[0]
    inner = s[s.rindex("(") + 1:s.rindex(")")].split()
    return {inner[i].upper(): int(inner[i + 1])
            for i in range(0, len(inner) - 1, 2)}


def tree_snapshot(root):
    """Every path under root (to show nothing was created elsewhere)."""
    out = set()
    for r, dirs, files in os.walk(root):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(r, n), root))
    return out
