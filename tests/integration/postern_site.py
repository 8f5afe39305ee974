"""Helpers the Python integration tests share (a module, not a test:
run-all.sh runs only the executable test_* files).

POSTERN is the program under test, from $POSTERN_BUILD_DIR (default
./build).  SiteTestCase gives a test class the set-up guard every
whole-system test needs: unittest skips tearDownClass when setUpClass
fails, so the guard stops the daemons, removes the folder and shows the
end of the log itself.  A subclass writes set_up_site(), setting cls.dir
(the config folder) and cls.tmp (what holds it) as it goes.
"""
import imaplib
import os
import re
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import unittest

BUILD = os.path.abspath(os.environ.get("POSTERN_BUILD_DIR", "build"))
POSTERN = os.path.join(BUILD, "postern")


def pin_backends(config_dir, backends):
    """Set the backend column of mailboxes in an SQLite site:
    {address: "host:port"}."""
    db = sqlite3.connect(os.path.join(config_dir, "postern.db"))
    for addr, backend in backends.items():
        db.execute("UPDATE mailboxes SET backend = ? WHERE address = ?",
                   (backend, addr))
    db.commit()
    db.close()


# Every port free_ports() has handed out in this process: a daemon binds
# its port only when the site starts, and until then a second call must
# not give the same port again (nothing listens there yet).
_PORTS_GIVEN = set()


def claim_port(port, udp=False):
    """True when port (loopback, TCP, and UDP too with udp) is free now
    and was never handed out in this process; it is then recorded as
    handed out.  For test harnesses that pick their own ports
    (dnsserver.py)."""
    if port in _PORTS_GIVEN:
        return False
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp else [])
    socks = []
    try:
        for kind in kinds:
            s = socket.socket(socket.AF_INET, kind)
            socks.append(s)
            s.bind(("127.0.0.1", port))
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()
    _PORTS_GIVEN.add(port)
    return True


def free_ports(n):
    """n distinct loopback ports nothing listens on, none of them handed
    out before in this process (the daemons bind theirs later, at start),
    from 20000-31999: below the ephemeral range (32768-60999), which the
    kernel uses for outgoing connections and for servers bound to port 0
    (SmtpReceiver and the like); either could take a port of that range
    between its choice here and the daemon's bind."""
    import random
    rnd = random.SystemRandom()
    ports = []
    while len(ports) < n:
        port = rnd.randrange(20000, 32000)
        if claim_port(port):
            ports.append(port)
    return ports


def wait_past_utc_midnight(margin):
    """For a test that counts per UTC day (the daily sending limits, a
    TLSRPT day's report): when UTC midnight is less than margin seconds
    away, wait until it has passed, so that the test runs within one
    day (else its counts split over two days, about once in
    86400 / margin runs)."""
    import time
    left = 86400 - time.time() % 86400
    if left < margin:
        print("(waiting %.0f s for UTC midnight to pass: this test counts "
              "per day)" % (left + 1), file=sys.stderr)
        time.sleep(left + 1)


def listening(port, host="127.0.0.1"):
    """True when host:port accepts a connection."""
    try:
        socket.create_connection((host, port), 2).close()
        return True
    except OSError:
        return False


def imap_login(port, user, password):
    """LOGIN over plaintext IMAP at 127.0.0.1:port: imaplib's (typ,
    data), ("NO", [the error]) when the server refuses."""
    c = imaplib.IMAP4("127.0.0.1", port, timeout=20)
    try:
        return c.login(user, password)
    except imaplib.IMAP4.error as e:
        return ("NO", [str(e).encode()])
    finally:
        try:
            c.logout()
        except Exception:
            pass


def tls_context():
    """A client context for our self-signed certificates."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def run_postern(config_dir, *args, stdin=None, check=True):
    p = subprocess.run([POSTERN, "-c", config_dir] + list(args),
                       capture_output=True, text=True, timeout=60,
                       input=stdin if stdin is not None else "")
    if check and p.returncode != 0:
        raise AssertionError("postern %s: %s%s" % (
            " ".join(args), p.stdout, p.stderr))
    return p


def queue_control(config_dir, *args, timeout=20):
    """`postern queue ARGS` (hold, release, delete...) with check, again
    while it says a move or delete of the message is in progress: after
    each delivery attempt a message moves (to deferred/), and an
    operator's command meanwhile is refused for the moment."""
    import time
    deadline = time.time() + timeout
    while True:
        p = run_postern(config_dir, "queue", *args, check=False)
        if p.returncode == 0 or "in progress" not in p.stderr or \
                time.time() > deadline:
            break
        time.sleep(0.1)
    if p.returncode != 0:
        raise AssertionError("postern queue %s: %s%s" % (
            " ".join(args), p.stdout, p.stderr))
    return p


class RawSocket:
    """A socket to 127.0.0.1:port (TLS when tls) read line by line, for
    tests that speak a protocol byte for byte; subclasses read the
    greeting.  EOL ends a line: IMAP's CRLF, or LF (then a CR before it
    is dropped) for SMTP."""

    EOL = b"\r\n"

    def __init__(self, port, tls=False, timeout=15, source=None):
        """source: the local address to connect from (127.0.0.x)."""
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout,
            source_address=None if source is None else (source, 0))
        if tls:
            self.sock = tls_context().wrap_socket(self.sock)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while self.EOL not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; have %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(self.EOL, 1)
        return line.rstrip(b"\r") if self.EOL == b"\n" else line

    def closed(self):
        """True when the peer closes the connection (EOF or reset) before
        the socket's timeout, else False; what arrives first is kept for
        line()."""
        try:
            chunk = self.sock.recv(65536)
            while chunk:
                self.buf += chunk
                chunk = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        return True

    def close(self):
        self.sock.close()


class SmtpClient(RawSocket):
    """SMTP from 127.0.0.1, or a chosen 127.0.0.x source, line by line:
    line() and reply() (every line of one reply, a list) give text,
    cmd(text) sends a command and returns its reply.  Nothing is read at
    connect: the test reads the greeting.  t0: time.time() at connect."""

    EOL = b"\n"

    def __init__(self, port, source=None, timeout=20):
        import time
        self.t0 = time.time()
        super().__init__(port, timeout=timeout, source=source)

    def line(self):
        return super().line().decode()

    def reply(self):
        lines = [self.line()]
        while lines[-1][3:4] == "-":
            lines.append(self.line())
        return lines

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.reply()


class SmtpSession(SmtpClient):
    """An SmtpClient that reads the greeting at connect (self.greeting)
    and gives each reply as one string: its last line, or with joined
    every line joined by "\n"; close() says QUIT first."""

    def __init__(self, port, source=None, timeout=30, joined=False):
        super().__init__(port, source=source, timeout=timeout)
        self.joined = joined
        self.greeting = self.reply()

    def reply(self):
        lines = super().reply()
        return "\n".join(lines) if self.joined else lines[-1]

    def close(self):
        try:
            self.cmd("QUIT")
        except (OSError, EOFError):
            pass
        super().close()


def site_sql(driver, site_dir, query):
    """Rows of query (test-made text, no parameters) on the database of
    the site in site_dir with driver ("sqlite", or the "pgsql" / "mysql"
    server of dbservers.sh), as tuples of strings."""
    env = os.environ
    if driver == "sqlite":
        db = sqlite3.connect(os.path.join(site_dir, "postern.db"),
                             timeout=10)
        try:
            return [tuple(str(v) for v in row)
                    for row in db.execute(query).fetchall()]
        finally:
            db.close()
    if driver == "pgsql":
        cmd = ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-h",
               env["PG_HOST"], "-p", env["PG_PORT"], "-U", env["PG_USER"],
               "-d", env["PG_DATABASE"], "-c", query]
        extra = {"PGPASSWORD": env["PG_PASSWORD"]}
    else:
        cmd = ["mariadb", "--no-defaults", "-N", "-B", "-h",
               env["MYSQL_HOST"], "-P", env["MYSQL_PORT"], "-u",
               env["MYSQL_USER"], "-p" + env["MYSQL_PASSWORD"],
               env["MYSQL_DATABASE"], "-e", query]
        extra = {}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                       env=dict(env, **extra))
    if p.returncode != 0:
        raise AssertionError("%s: %s" % (query, p.stderr))
    return [tuple(line.split("\t")) for line in p.stdout.splitlines()
            if line]


class SiteLog:
    """log() and wait_log() over the site's log file (self.dir): for
    test classes with a site folder, SiteTestCase or their own."""

    def log(self):
        try:
            with open(os.path.join(self.dir, "log", "postern.log"),
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=20):
        """The first match of the regular expression pattern (re.M) in
        the log, waited for; the log's tail in the failure."""
        import re
        return wait_for(lambda: re.search(pattern, self.log(), re.M),
                        timeout, "log line /%s/\n%s" % (
                            pattern, self.log()[-3000:]))

    def reload_and_wait(self, programs=("queued",), timeout=30):
        """`postern reload`, then wait until each of programs (service
        programs by the name they log under, "postern/NAME") has logged
        "configuration reloaded" once more.  A reload reaches the daemons
        asynchronously (SIGHUP): a fixed sleep after it loses the race on
        a loaded machine.  The daemon's reload hook runs right after that
        line in its loop thread, before the next thing the loop does."""
        import re

        def count(prog):
            return len(re.findall(r"postern/%s\[\d+\]: (?:\w+: )?"
                                  r"configuration reloaded$" % prog,
                                  self.log(), re.M))
        before = {p: count(p) for p in programs}
        run_postern(self.dir, "reload")
        for p in programs:
            wait_for(lambda: count(p) > before[p], timeout,
                     "postern/%s: configuration reloaded\n%s"
                     % (p, self.log()[-3000:]))


class SiteTestCase(SiteLog, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            cls.set_up_site()
        except unittest.SkipTest:
            raise
        except BaseException as e:
            log = os.path.join(getattr(cls, "dir", ""), "log", "postern.log")
            tail = ""
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    tail = "".join(f.readlines()[-30:])
            if hasattr(cls, "dir"):
                run_postern(cls.dir, "stop", check=False)
            if hasattr(cls, "tmp"):
                cls.tmp.cleanup()
            raise AssertionError("set-up failed: %r\n%s" % (e, tail)) from e

    @classmethod
    def make_site(cls, prefix):
        """For set_up_site: skip without the program, else a new folder
        cls.dir (kept after the tests with $POSTERN_KEEP, else in cls.tmp)
        where `postern init` has run."""
        if not os.access(POSTERN, os.X_OK):
            raise unittest.SkipTest("no %s (set POSTERN_BUILD_DIR)" % POSTERN)
        if os.environ.get("POSTERN_KEEP"):
            cls.dir = tempfile.mkdtemp(prefix=prefix)
        else:
            cls.tmp = tempfile.TemporaryDirectory(prefix=prefix)
            cls.dir = cls.tmp.name
        run_postern(cls.dir, "init")

    PORT_NAMES = ["smtp", "submission", "submissions", "lmtp", "imap",
                  "imaps", "webmail", "admin_api"]

    @classmethod
    def pick_ports(cls):
        """cls.ports: a free port for every listener of `postern init`'s
        services.cf; returns their `config set` arguments (NAME_port=N)."""
        cls.ports = dict(zip(cls.PORT_NAMES,
                             free_ports(len(cls.PORT_NAMES))))
        return ["%s_port=%d" % kv for kv in cls.ports.items()]

    @classmethod
    def start_with_mailbox(cls, domain, user="alice"):
        """Add domain and the mailbox user@domain (password
        pw-USER-secret), start the site (after pick_ports); cls.port is
        its smtp port."""
        cls.start_with_mailboxes(domain, [user])

    @classmethod
    def start_with_mailboxes(cls, domain, users):
        """start_with_mailbox with a mailbox USER@domain for each of
        users."""
        run_postern(cls.dir, "domain", "add", domain)
        for user in users:
            run_postern(cls.dir, "mailbox", "add", "%s@%s" % (user, domain),
                        "--password-stdin", stdin="pw-%s-secret\n" % user)
        run_postern(cls.dir, "start")
        cls.started = True
        cls.port = cls.ports["smtp"]

    @classmethod
    def configure(cls, services, *settings):
        """`config set` settings; services (text) as services.cf."""
        run_postern(cls.dir, "config", "set", *settings)
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(services)

    @classmethod
    def configure_db(cls, driver, *settings):
        """`config set` settings on database driver (driver_settings),
        and its schema made on a server database (`db migrate`; sqlite
        makes its own)."""
        run_postern(cls.dir, "config", "set", *settings,
                    *driver_settings(driver))
        if driver != "sqlite":
            run_postern(cls.dir, "db", "migrate")

    @classmethod
    def start_db_down_site(cls, prefix, port_setting, service, *settings):
        """make_site, then start service alone (its services.cf line) on
        cls.port (the setting port_setting), with settings, on a
        PostgreSQL database that is down (nothing listens on its port)."""
        cls.make_site(prefix)
        cls.port, dead = free_ports(2)
        run_postern(cls.dir, "config", "set",
                    "%s=%d" % (port_setting, cls.port), *settings,
                    "database_driver=pgsql", "database_host=127.0.0.1",
                    "database_port=%d" % dead, "database_timeout=2s",
                    "stop_timeout=5s")
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(service + "\n")
        run_postern(cls.dir, "start")
        cls.started = True

    @classmethod
    def tearDownClass(cls):
        """Stop the daemons when set_up_site got to start them (it sets
        cls.started), then remove_site()."""
        if getattr(cls, "started", False):
            run_postern(cls.dir, "stop", check=False)
        cls.remove_site()

    @classmethod
    def remove_site(cls):
        """Remove the folder of make_site, or say where it was kept."""
        if hasattr(cls, "tmp"):
            cls.tmp.cleanup()
        elif hasattr(cls, "dir"):
            print("kept", cls.dir, file=sys.stderr)


DRIVER_VARS = {"pgsql": "PG_PORT", "mysql": "MYSQL_PORT"}


def driver_settings(driver):
    """`postern config set` arguments selecting driver ("sqlite", "pgsql"
    or "mysql"; the server ones at the coordinates of dbservers.sh)."""
    if driver == "sqlite":
        return ["database_driver=sqlite"]
    prefix = "PG" if driver == "pgsql" else "MYSQL"
    env = os.environ
    return ["database_driver=%s" % driver,
            "database_host=" + env[prefix + "_HOST"],
            "database_port=" + env[prefix + "_PORT"],
            "database_name=" + env[prefix + "_DATABASE"],
            "database_user=" + env[prefix + "_USER"],
            "database_password=" + env[prefix + "_PASSWORD"]]


def skip_unless_driver(driver):
    """SkipTest when driver's server of dbservers.sh is not running."""
    var = DRIVER_VARS.get(driver)
    if var is not None and var not in os.environ:
        raise unittest.SkipTest("%s unset (run under run-all.sh or "
                                "dbservers.sh)" % var)


class DriverSite:
    """set_up_site() helpers for a test class run once per database driver
    (cls.DRIVER: "sqlite", "pgsql" or "mysql"; see per_driver()).  A server
    database outlives the site, so the domains and mailboxes added here
    are deleted again by tearDownClass, and names should be unique a run."""
    DRIVER = None

    @classmethod
    def make_driver_site(cls, prefix):
        """Skip without the driver's server, make_site(prefix + DRIVER +
        "."), pick_ports(); returns the port settings."""
        skip_unless_driver(cls.DRIVER)
        cls.make_site("%s%s." % (prefix, cls.DRIVER))
        cls.site_domains, cls.site_mailboxes, cls.site_aliases = [], [], []
        return cls.pick_ports()

    @classmethod
    def configure_driver(cls, settings, services):
        """`config set` settings on cls.DRIVER; on a server database
        `postern init` again (the schema, and the admin token registered
        there); services (text) as services.cf."""
        run_postern(cls.dir, "config", "set", *settings,
                    *driver_settings(cls.DRIVER))
        if cls.DRIVER != "sqlite":
            run_postern(cls.dir, "init")
        with open(os.path.join(cls.dir, "services.cf"), "w") as f:
            f.write(services)

    @classmethod
    def add_domain(cls, domain):
        run_postern(cls.dir, "domain", "add", domain)
        cls.site_domains.append(domain)

    @classmethod
    def add_mailbox(cls, address, password="pw-alice-secret"):
        run_postern(cls.dir, "mailbox", "add", address,
                    "--password-stdin", stdin=password + "\n")
        cls.site_mailboxes.append(address)

    @classmethod
    def add_alias(cls, source, destination):
        run_postern(cls.dir, "alias", "add", source, destination)
        cls.site_aliases.append(source)

    @classmethod
    def start_driver_site(cls):
        """Start the daemons; cls.port is the smtp port."""
        run_postern(cls.dir, "start")
        cls.started = True
        cls.port = cls.ports["smtp"]

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "started", False) and cls.DRIVER != "sqlite":
            run_postern(cls.dir, "stop", check=False)
            cls.started = False
            for source in cls.site_aliases:
                run_postern(cls.dir, "alias", "del", source, check=False)
            for address in cls.site_mailboxes:
                run_postern(cls.dir, "mailbox", "del", address, check=False)
            for domain in cls.site_domains:
                run_postern(cls.dir, "domain", "del", domain, check=False)
        super().tearDownClass()


DRIVERS = (("sqlite", "Sqlite"), ("pgsql", "Pgsql"), ("mysql", "Mysql"))


def per_driver(base, drivers=("sqlite", "pgsql", "mysql"), site=None):
    """base's tests (a mixin reading cls.DRIVER, often a DriverSite; not
    itself a TestCase) as one class of base and site (default
    SiteTestCase) per driver, named like base without "Base" plus
    Sqlite, Pgsql or Mysql, for the module to bind:
        VerifySqlite, VerifyPgsql, VerifyMysql = per_driver(VerifyBase)"""
    classes = []
    for driver, suffix in DRIVERS:
        if driver in drivers:
            name = base.__name__.replace("Base", "") + suffix
            classes.append(type(name, (base, site or SiteTestCase),
                                {"DRIVER": driver,
                                 "__module__": base.__module__}))
    return tuple(classes)


def smtp_rcpt(port, sender, rcpt, source="127.0.0.1", timeout=30):
    """The reply line to RCPT TO on 127.0.0.1:port from the address source
    (EHLO and MAIL must pass)."""
    c = SmtpSession(port, source, timeout)
    try:
        assert c.greeting.startswith("220")
        assert c.cmd("EHLO client.example").startswith("250")
        r = c.cmd("MAIL FROM:<%s>" % sender)
        assert r.startswith("250"), r
        return c.cmd("RCPT TO:<%s>" % rcpt)
    finally:
        c.close()


# ---- Shared by the mail-out tests (test_outbound.py, test_outbound_tls.py)

def wait_for(fn, timeout=20, what="condition"):
    """fn()'s first true value, polled until timeout."""
    import time
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class SmtpReceiver:
    """An SMTP (or LMTP) server on (host, port) in threads, for the SMTP
    client's tests.  Replies depend on the recipient's local part:
    "bad..." gets 550 5.1.1, "temp..." 451 while temp_left lasts.

    tls: a server ssl.SSLContext: STARTTLS is offered (RFC 3207).
    auth: (user, password): AUTH PLAIN and LOGIN are offered (after TLS
    when tls is set) and checked; a wrong pair gets 535 5.7.8.
    Each message is a dict: mail, rcpts, rcpt_lines, data, tls (the TLS
    version or None), auth (the user or None) and batch (the bytes of the
    one read that brought the MAIL command: PIPELINING puts RCPT and DATA
    in it too) and time (time.monotonic() at the end of DATA).
    active / max_active count connections open now / at most at once,
    conn_times their opening times (time.monotonic()); data_delay
    seconds are waited before the reply to the end of DATA.
    on_message(msg), when given, runs before that reply (a content
    filter reinjects there); if it raises, the message is not kept and
    the reply is 451 4.3.0."""

    def __init__(self, host, port, lmtp=False, greeting=b"220 fake ESMTP",
                 ext=(b"8BITMIME", b"SIZE 10485760", b"DSN", b"SMTPUTF8"),
                 tls=None, auth=None, on_message=None):
        import socketserver
        import threading
        self.lmtp, self.greeting, self.ext = lmtp, greeting, ext
        self.tls, self.auth = tls, auth
        self.on_message = on_message
        self.lock = threading.Lock()
        self.messages = []
        self.connections = 0
        self.temp_left = 0
        self.auth_failures = 0
        self.tls_failures = 0
        self.active = self.max_active = 0
        self.conn_times = []
        self.data_delay = 0
        # Every command line received, in order (address verification
        # probes: RCPT without DATA).
        self.commands = []
        # This many connections are closed right after the EHLO reply
        # (a peer lost while the client prepares the message).
        self.hangup_after_ehlo = 0
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                import time
                with owner.lock:
                    owner.connections += 1
                    owner.active += 1
                    owner.max_active = max(owner.max_active, owner.active)
                    owner.conn_times.append(time.monotonic())
                try:
                    _Session(owner, self.request).run()
                except (OSError, ssl.SSLError):
                    with owner.lock:
                        owner.tls_failures += 1
                finally:
                    with owner.lock:
                        owner.active -= 1

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            address_family = (socket.AF_INET6 if ":" in host
                              else socket.AF_INET)

        self.server = Server((host, port), Handler)
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def rcpt_reply(self, addr):
        local = addr.split("@")[0]
        if local.startswith("bad"):
            return b"550 5.1.1 <%s>: Recipient address rejected" % \
                addr.encode()
        if local.startswith("temp"):
            with self.lock:
                if self.temp_left > 0:
                    self.temp_left -= 1
                    return b"451 4.7.1 <%s>: try again later" % \
                        addr.encode()
        return b"250 2.1.5 Ok"

    def got(self, rcpt):
        with self.lock:
            return [m for m in self.messages if rcpt in m["rcpts"]]


class _Session:
    """One connection of an SmtpReceiver, read with recv() so that what
    arrived in one read can be told apart."""

    def __init__(self, owner, sock):
        self.o, self.sock, self.buf = owner, sock, b""
        self.last_read = b""
        self.tls_version = None
        self.user = None

    def say(self, line):
        self.sock.sendall(line + b"\r\n")

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return b""
            self.last_read = chunk
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def check_auth(self, blob):
        import base64
        try:
            parts = base64.b64decode(blob).split(b"\0")
        except ValueError:
            return False
        return len(parts) == 3 and \
            (parts[1].decode(), parts[2].decode()) == self.o.auth

    def do_auth(self, cmd):
        import base64
        words = cmd.split()
        mech = words[1].upper() if len(words) > 1 else b""
        if mech == b"PLAIN":
            blob = words[2] if len(words) > 2 else None
            if blob is None:
                self.say(b"334 ")
                blob = self.readline().strip()
            ok = self.check_auth(blob)
            user = base64.b64decode(blob).split(b"\0")[1] if ok else None
        elif mech == b"LOGIN":
            self.say(b"334 VXNlcm5hbWU6")
            u = base64.b64decode(self.readline().strip())
            self.say(b"334 UGFzc3dvcmQ6")
            p = base64.b64decode(self.readline().strip())
            ok = (u.decode(), p.decode()) == self.o.auth
            user = u if ok else None
        else:
            self.say(b"504 5.5.4 unrecognized authentication type")
            return
        if ok:
            self.user = user.decode()
            self.say(b"235 2.7.0 Authentication successful")
        else:
            with self.o.lock:
                self.o.auth_failures += 1
            self.say(b"535 5.7.8 Error: authentication failed")

    def run(self):
        o = self.o
        self.say(o.greeting)
        if not o.greeting.startswith(b"2"):
            return
        mail, rcpts, lines, batch = None, [], [], b""
        while True:
            line = self.readline()
            if not line:
                return
            cmd = line.rstrip(b"\r\n")
            verb = cmd[:4].upper()
            with o.lock:
                o.commands.append(cmd.decode("utf-8", "replace"))
            if verb in (b"EHLO", b"LHLO"):
                if (verb == b"LHLO") != o.lmtp:
                    self.say(b"500 5.5.1 wrong hello")
                    continue
                out = [b"fake.example"] + list(o.ext)
                if o.tls is not None and self.tls_version is None:
                    out.append(b"STARTTLS")
                if o.auth is not None and (o.tls is None or
                                           self.tls_version is not None):
                    out.append(b"AUTH PLAIN LOGIN")
                with o.lock:
                    hangup = o.hangup_after_ehlo > 0
                    if hangup:
                        o.hangup_after_ehlo -= 1
                # One write, and the hang-up right after it.
                self.say(b"\r\n".join(
                    b"250" + (b" " if i == len(out) - 1 else b"-") + e
                    for i, e in enumerate(out)))
                if hangup:
                    self.sock.shutdown(socket.SHUT_RDWR)
                    return
            elif verb == b"HELO":
                self.say(b"250 fake.example")
            elif cmd.upper() == b"STARTTLS" and o.tls is not None:
                self.say(b"220 2.0.0 Ready to start TLS")
                self.buf = b""
                self.sock = o.tls.wrap_socket(self.sock, server_side=True)
                self.tls_version = self.sock.version()
            elif verb == b"AUTH" and o.auth is not None:
                self.do_auth(cmd)
            elif verb == b"MAIL":
                if o.auth is not None and self.user is None:
                    self.say(b"530 5.7.0 Authentication required")
                    continue
                mail, rcpts, lines = cmd.decode(), [], []
                batch = self.last_read
                self.say(b"250 2.1.0 Ok")
            elif verb == b"RCPT":
                addr = re.search(rb"<([^>]*)>", cmd).group(1).decode()
                reply = o.rcpt_reply(addr)
                if reply.startswith(b"2"):
                    rcpts.append(addr)
                lines.append(cmd.decode())
                self.say(reply)
            elif verb == b"DATA":
                if not rcpts:
                    self.say(b"554 5.5.1 Error: no valid recipients")
                    continue
                self.say(b"354 go ahead")
                data = b""
                while True:
                    dl = self.readline()
                    if dl == b"":
                        return  # the client went away: nothing received
                    if dl == b".\r\n":
                        break
                    data += dl[1:] if dl.startswith(b".") else dl
                if o.data_delay:
                    import time
                    time.sleep(o.data_delay)
                import time
                msg = {"mail": mail, "rcpts": rcpts,
                       "rcpt_lines": lines, "data": data,
                       "time": time.monotonic(),
                       "tls": self.tls_version,
                       "auth": self.user, "batch": batch}
                reply = b"250 2.0.0 Ok: queued"
                if o.on_message is not None:
                    try:
                        o.on_message(msg)
                    except Exception as e:  # noqa: BLE001 (any failure)
                        reply = b"451 4.3.0 " + repr(e).encode()[:200]
                if reply.startswith(b"2"):
                    with o.lock:
                        o.messages.append(msg)
                for _ in (rcpts if o.lmtp else [None]):
                    self.say(reply)
            elif verb == b"RSET":
                self.say(b"250 2.0.0 Ok")
            elif verb == b"QUIT":
                self.say(b"221 2.0.0 Bye")
                return
            else:
                self.say(b"502 5.5.2 unknown")


def maildir_find(site_dir, domain, user, token):
    """Every message in user@domain's Maildir (new and cur) holding
    token, as text with CRLF turned to LF."""
    import glob
    out = []
    for sub in ("new", "cur"):
        for fn in glob.glob(os.path.join(site_dir, "mail", domain, user,
                                         sub, "*")):
            try:
                with open(fn, "rb") as f:
                    data = f.read()
            except FileNotFoundError:  # moved to cur meanwhile
                continue
            if token.encode() in data:
                out.append(data.replace(b"\r\n", b"\n").decode())
    return out


def maildir_has_subject(site_dir, domain, user, subject):
    """True when a message of user@domain's Maildir (new or cur) has the
    line "Subject: subject"."""
    base = os.path.join(site_dir, "mail", domain, user)
    for sub in ("new", "cur"):
        d = os.path.join(base, sub)
        for name in os.listdir(d) if os.path.isdir(d) else []:
            with open(os.path.join(d, name), errors="replace") as f:
                if "Subject: %s\n" % subject in f.read():
                    return True
    return False


class DnsSiteTestCase(SiteTestCase):
    """A SiteTestCase with a DNS harness (dnsserver.py): set_up_site
    calls start_dns(zones) first (a SkipTest without nsd/unbound) and
    passes dns_settings() to `config set`; the server stops with the
    site."""

    @classmethod
    def start_dns(cls, zones, **kw):
        """kw: DnsServer's (log_queries)."""
        from dnsserver import DnsServer, available
        why = available()
        if why:
            raise unittest.SkipTest(why)
        cls.dns = DnsServer(zones, **kw).start()

    @classmethod
    def dns_settings(cls):
        return ["dns_servers=" + cls.dns.resolver,
                "dns_trust_anchor_file=" + cls.dns.trust_anchor_file,
                "dns_timeout=5s"]

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if getattr(cls, "dns", None) is not None:
            cls.dns.stop()
