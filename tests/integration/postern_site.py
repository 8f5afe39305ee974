"""Helpers the Python integration tests share (a module, not a test:
run-all.sh runs only the executable test_* files).

POSTERN is the program under test, from $POSTERN_BUILD_DIR (default
./build).  SiteTestCase gives a test class the set-up guard every
whole-system test needs: unittest skips tearDownClass when setUpClass
fails, so the guard stops the daemons, removes the folder and shows the
end of the log itself.  A subclass writes set_up_site(), setting cls.dir
(the config folder) and cls.tmp (what holds it) as it goes.
"""
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

BUILD = os.path.abspath(os.environ.get("POSTERN_BUILD_DIR", "build"))
POSTERN = os.path.join(BUILD, "postern")


def free_ports(n):
    """n loopback ports nothing listens on (held together, so distinct)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


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


class RawSocket:
    """A socket to 127.0.0.1:port (TLS when tls) read line by line, for
    tests that speak a protocol byte for byte; subclasses read the
    greeting.  EOL ends a line: IMAP's CRLF, or LF (then a CR before it
    is dropped) for SMTP."""

    EOL = b"\r\n"

    def __init__(self, port, tls=False, timeout=15):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
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


class SiteTestCase(unittest.TestCase):
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
