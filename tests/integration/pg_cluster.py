"""A throwaway PostgreSQL 15 primary and streaming replica for the
integration tests (a module, not a test): test_db_replica.py runs both on
loopback, test_cluster.py each in its own network namespace.

make_pair() does initdb, the primary's replication settings, CREATE
DATABASE postern and pg_basebackup -R for the replica, and registers
cleanups (servers stopped, folder removed) on the test class before each
step, so nothing outlives a set-up that fails half-way.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

PGBIN = "/usr/lib/postgresql/15/bin"


def as_pg(argv, prefix=(), **kw):
    """Run a PostgreSQL program as its owner (postgres when we are root:
    the server refuses root); prefix (e.g. ip netns exec NS) goes first."""
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--"] + argv
    return subprocess.run(list(prefix) + argv, cwd="/", capture_output=True,
                          text=True, **kw)


class Pg:
    """One throwaway PostgreSQL server under dir on host:port; prefix runs
    its programs elsewhere (a network namespace)."""

    def __init__(self, dir_, port, host="127.0.0.1", prefix=()):
        self.dir, self.port, self.host = dir_, port, host
        self.prefix = list(prefix)
        self.data = os.path.join(dir_, "data")

    def running(self):
        return os.path.exists(os.path.join(self.data, "postmaster.pid"))

    def start(self):
        r = as_pg([PGBIN + "/pg_ctl", "-D", self.data, "-l",
                   os.path.join(self.dir, "log"), "-w", "-t", "60", "-o",
                   "-p %d -c listen_addresses=%s -k %s"
                   % (self.port, self.host, self.dir), "start"],
                  prefix=self.prefix)
        if r.returncode != 0:
            with open(os.path.join(self.dir, "log")) as f:
                raise AssertionError("pg start: %s %s" % (r.stderr,
                                                          f.read()[-2000:]))

    def stop(self):
        as_pg([PGBIN + "/pg_ctl", "-D", self.data, "-m", "fast", "-w",
               "stop"], prefix=self.prefix)

    def psql(self, sql, db="postern"):
        r = as_pg(["psql", "-h", self.host, "-p", str(self.port), "-U",
                   "postgres", "-d", db, "-Atc", sql], prefix=self.prefix)
        if r.returncode != 0:
            raise AssertionError("psql %s: %s" % (sql, r.stderr))
        return r.stdout.strip()


def make_pair(cls, p1, p2, host1="127.0.0.1", host2="127.0.0.1",
              prefix1=(), prefix2=(), clients="127.0.0.1/32"):
    """cls.primary and cls.replica (Pg), running, the replica streaming
    from the primary; clients (CIDR) may connect and replicate.  Skips
    without PostgreSQL 15."""
    if not os.path.exists(PGBIN + "/initdb"):
        raise unittest.SkipTest("no PostgreSQL 15")
    cls.pgtmp = tempfile.mkdtemp(prefix="pg-repl-")
    os.chmod(cls.pgtmp, 0o755)
    for name in ("primary", "replica"):
        os.mkdir(os.path.join(cls.pgtmp, name))
        if os.geteuid() == 0:
            shutil.chown(os.path.join(cls.pgtmp, name), "postgres")
    cls.primary = Pg(os.path.join(cls.pgtmp, "primary"), p1, host1, prefix1)
    cls.replica = Pg(os.path.join(cls.pgtmp, "replica"), p2, host2, prefix2)
    # Class cleanups run even when the set-up fails half-way
    # (tearDownClass does not): no server outlives the test.
    cls.addClassCleanup(shutil.rmtree, cls.pgtmp, ignore_errors=True)
    cls.addClassCleanup(cls.primary.stop)
    cls.addClassCleanup(cls.replica.stop)
    r = as_pg([PGBIN + "/initdb", "-D", cls.primary.data, "-U",
               "postgres", "--auth=trust", "-E", "UTF8"])
    assert r.returncode == 0, r.stderr
    with open(os.path.join(cls.primary.data, "postgresql.conf"), "a") as f:
        f.write("wal_level = replica\nmax_wal_senders = 4\n"
                "hot_standby = on\nfsync = off\n")
    with open(os.path.join(cls.primary.data, "pg_hba.conf"), "a") as f:
        f.write("host replication all %s trust\n" % clients)
        if clients != "127.0.0.1/32":
            f.write("host all all %s trust\n" % clients)
    cls.primary.start()
    r = as_pg(["psql", "-h", host1, "-p", str(p1), "-U", "postgres", "-c",
               "CREATE DATABASE postern"], prefix=prefix1)
    assert r.returncode == 0, r.stderr
    r = as_pg([PGBIN + "/pg_basebackup", "-h", host1, "-p", str(p1), "-U",
               "postgres", "-D", cls.replica.data, "-R", "-X", "stream",
               "-c", "fast"],  # no wait for a checkpoint
              prefix=prefix2)
    assert r.returncode == 0, r.stderr
    cls.replica.start()
    assert cls.replica.psql("SELECT pg_is_in_recovery()") == "t"
