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
