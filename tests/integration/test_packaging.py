#!/usr/bin/env python3
"""The deployment files work as written: systemd units, the Debian layout,
the Docker entrypoint, and the image's run-time package list.

No systemd and no Docker engine run here, so each file is checked by what
does run:
- systemd/: `systemd-analyze verify` on the units (paths pointed at the
  build), then the per-daemon units' ExecStart lines started as they are
  written, and a message sent over SMTP reaches IMAP through them;
- `postern init --layout debian` in a private mount namespace (tmpfs over
  /var and /run, root only): the state lands in the FHS places and mail
  flows;
- docker/entrypoint.sh run with the build's postern: it initialises, applies
  the POSTERN_* variables, runs the master in the foreground until
  `postern status` (the HEALTHCHECK) says healthy, and stops on SIGTERM;
- docker/Dockerfile: every library the programs link to (their NEEDED
  entries) comes from a package in the run-time stage's list;
  docker/compose.yml passes `docker-compose config`;
- docker/compose.cluster.yml: its topology as `docker-compose config`
  resolves it, every variable documented in docs/docker.md, and the
  entrypoint run with each role's services.cf (docker/cluster/).
"""
import imaplib
import os
import re
import shlex
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postern_site import BUILD, POSTERN, free_ports, run_postern  # noqa: E402

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNITS = os.path.join(SOURCE, "systemd")
DOCKER = os.path.join(SOURCE, "docker")
PORTS = ["smtp", "submission", "submissions", "lmtp", "imap", "imaps",
         "webmail", "admin_api"]
# The instances postern-services.target's comment tells to enable.
INSTANCES = ["postern-queued.service", "postern-lmtpd@lmtp-unix.service",
             "postern-lmtpd@lmtp.service", "postern-smtpd@smtp.service",
             "postern-smtpd@submission.service",
             "postern-smtpd@submissions.service",
             "postern-imapd@imap.service", "postern-imapd@imaps.service",
             "postern-webmail.service", "postern-admin-api.service"]


def unit_file(instance):
    """The file behind an instance name: postern-smtpd@smtp.service is
    postern-smtpd@.service with %i = smtp."""
    m = re.match(r"^([a-z-]+)@([a-z0-9-]+)\.service$", instance)
    if m:
        return os.path.join(UNITS, m.group(1) + "@.service"), m.group(2)
    return os.path.join(UNITS, instance), ""


def exec_start(instance, config_dir):
    path, inst = unit_file(instance)
    with open(path) as f:
        line = next(l for l in f if l.startswith("ExecStart="))
    argv = shlex.split(line[len("ExecStart="):].replace("%i", inst))
    argv[0] = argv[0].replace("/usr/lib/postern", BUILD)
    return [a.replace("/etc/postern", config_dir) for a in argv]


def new_site(dir_, *extra):
    """postern init in dir_, free ports, one domain and mailbox."""
    run_postern(dir_, "init", *extra)
    ports = dict(zip(PORTS, free_ports(len(PORTS))))
    run_postern(dir_, "config", "set",
                *["%s_port=%d" % kv for kv in ports.items()])
    run_postern(dir_, "domain", "add", "pack.example")
    run_postern(dir_, "mailbox", "add", "ann@pack.example",
                "--password-stdin", stdin="secret-pw-1\n")
    return ports


def wait_port(port, timeout=20):
    import socket
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def send_and_read(test, ports, subject):
    """A message to ann over SMTP, then found over IMAP (STARTTLS)."""
    with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=20) as s:
        s.sendmail("bob@remote.example", ["ann@pack.example"],
                   "From: bob@remote.example\r\nTo: ann@pack.example\r\n"
                   "Subject: %s\r\n\r\nhello\r\n" % subject)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    end = time.time() + 20
    while True:
        im = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=20)
        try:
            im.starttls(ctx)
            im.login("ann@pack.example", "secret-pw-1")
            im.select("INBOX", readonly=True)
            typ, data = im.search(None, "SUBJECT", '"%s"' % subject)
            if data[0].split():
                return
        finally:
            im.logout()
        test.assertLess(time.time(), end, "%r never reached IMAP" % subject)
        time.sleep(0.3)


class SystemdUnits(unittest.TestCase):
    def test_units_verify(self):
        """systemd-analyze verify finds nothing wrong in any unit."""
        if not shutil.which("systemd-analyze"):
            self.skipTest("no systemd-analyze")
        with tempfile.TemporaryDirectory() as tmp:
            for name in os.listdir(UNITS):
                src = os.path.join(UNITS, name)
                if os.path.isdir(src):
                    shutil.copytree(src, os.path.join(tmp, name))
                    continue
                with open(src) as f:
                    text = f.read().replace("/usr/lib/postern", BUILD)
                with open(os.path.join(tmp, name), "w") as f:
                    f.write(text)
            # Instances are verified through links named like them.
            for n in INSTANCES:
                if "@" in n:
                    os.symlink(os.path.basename(unit_file(n)[0]),
                               os.path.join(tmp, n))
            os.symlink("postern-imap-proxy@.service",
                       os.path.join(tmp, "postern-imap-proxy@imap-proxy.service"))
            names = INSTANCES + ["postern-master.service",
                                 "postern-services.target",
                                 "postern-imap-proxy@imap-proxy.service"]
            r = subprocess.run(["systemd-analyze", "verify", "--man=no"] +
                               [os.path.join(tmp, n) for n in names],
                               capture_output=True, text=True, cwd=tmp)
            # The user postern need not exist on the test machine; every
            # other complaint is a defect of the unit.
            problems = [l for l in r.stderr.splitlines()
                        if l.strip() and "postern" in l
                        and "user" not in l.lower()]
            self.assertEqual(problems, [], r.stderr)

    def test_sandbox_dropin_applies_to_every_unit(self):
        """Every unit's name starts with postern- so the prefix drop-in
        (the sandbox) applies to all, and the drop-in says what the
        issue asks: read-only system, no new privileges, only the bind
        capability."""
        for name in os.listdir(UNITS):
            if name.endswith(".service"):
                self.assertTrue(name.startswith("postern-"), name)
        with open(os.path.join(UNITS, "postern-.service.d",
                               "10-sandbox.conf")) as f:
            conf = f.read()
        for want in ("ProtectSystem=strict", "PrivateTmp=yes",
                     "NoNewPrivileges=yes",
                     "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"):
            self.assertIn(want, conf)

    def test_per_daemon_units_deliver(self):
        """The ExecStart lines of the per-daemon units, run as written
        (paths pointed at the build and a temp config folder), make a
        working site: SMTP in, IMAP out, and SIGTERM stops each."""
        if not os.access(POSTERN, os.X_OK):
            self.skipTest("no %s" % POSTERN)
        with tempfile.TemporaryDirectory(prefix="pk-units-") as d:
            ports = new_site(d)
            procs = []
            try:
                for inst in INSTANCES:
                    procs.append(subprocess.Popen(
                        exec_start(inst, d), stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE))
                    if inst == "postern-queued.service":
                        sock = os.path.join(d, "run", "queue.sock")
                        end = time.time() + 10
                        while not os.path.exists(sock) and time.time() < end:
                            time.sleep(0.05)
                for name in ("smtp", "imap", "webmail", "admin_api"):
                    self.assertTrue(wait_port(ports[name]), name)
                for p in procs:
                    self.assertIsNone(p.poll(), p.args)
                send_and_read(self, ports, "through the units")
            finally:
                for p in procs:
                    if p.poll() is None:
                        p.send_signal(signal.SIGTERM)
                for p in procs:
                    try:
                        rc = p.wait(15)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        rc = "killed"
                    self.assertEqual(rc, 0, (p.args, p.stderr.read()))


DEBIAN_SCRIPT = r"""
set -eu
mount -t tmpfs tmpfs /var
mount -t tmpfs tmpfs /run
exec "$PYTHON" "$TEST" DebianLayoutInside
"""


class DebianLayoutInside(unittest.TestCase):
    """Runs only inside the namespace DebianLayout makes."""

    def test_inside(self):
        if os.environ.get("PK_INSIDE") != "1":
            self.skipTest("run by DebianLayout")
        d = os.environ["PK_CONFIG"]
        ports = new_site(d, "--layout", "debian")
        out = run_postern(d, "config", "-n").stdout
        self.assertIn("queue_directory = /var/spool/postern", out)
        self.assertTrue(os.path.exists("/var/lib/postern/postern.db"))
        self.assertFalse(os.path.exists(os.path.join(d, "postern.db")))
        run_postern(d, "start")
        try:
            send_and_read(self, ports, "debian layout")
            self.assertTrue(os.listdir("/var/vmail/pack.example/ann/new") or
                            os.listdir("/var/vmail/pack.example/ann/cur"))
            self.assertTrue(os.path.exists("/run/postern/master.pid"))
            # The webmail made its secret in data_directory, not in the
            # (read-only under systemd) configuration folder.
            self.assertTrue(os.path.exists("/var/lib/postern/webmail.secret"))
            self.assertFalse(os.path.exists(os.path.join(d, "webmail.secret")))
            self.assertTrue(os.path.getsize("/var/log/postern/postern.log"))
        finally:
            run_postern(d, "stop", check=False)


class DebianLayout(unittest.TestCase):
    def test_debian_layout(self):
        """postern -c DIR init --layout debian puts the state in
        /var/spool/postern, /var/vmail, /var/lib/postern, /var/log/postern
        and /run/postern, and the site works there (in a mount namespace
        with tmpfs over /var and /run, so the machine is untouched)."""
        if os.geteuid() != 0 or not shutil.which("unshare"):
            self.skipTest("needs root and unshare")
        if not os.access(POSTERN, os.X_OK):
            self.skipTest("no %s" % POSTERN)
        with tempfile.TemporaryDirectory(prefix="pk-deb-") as d:
            env = dict(os.environ, PK_INSIDE="1", PK_CONFIG=d,
                       PYTHON=sys.executable, TEST=os.path.abspath(__file__))
            r = subprocess.run(["unshare", "-m", "--propagation", "private",
                                "sh", "-c", DEBIAN_SCRIPT], env=env,
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("OK", r.stderr)
            self.assertNotIn("skipped", r.stderr)
        self.assertFalse(os.path.exists("/var/vmail/pack.example"))

    def test_layout_refuses_existing_main_cf(self):
        """--layout on a folder that has a main.cf changes nothing and
        says so: an administrator's file is never overwritten."""
        if not os.access(POSTERN, os.X_OK):
            self.skipTest("no %s" % POSTERN)
        with tempfile.TemporaryDirectory(prefix="pk-deb2-") as d:
            run_postern(d, "init")
            with open(os.path.join(d, "main.cf")) as f:
                before = f.read()
            r = run_postern(d, "init", "--layout", "debian", check=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("main.cf exists", r.stderr)
            with open(os.path.join(d, "main.cf")) as f:
                self.assertEqual(f.read(), before)


class DockerEntrypoint(unittest.TestCase):
    def test_entrypoint_starts_healthy_and_stops(self):
        """docker/entrypoint.sh with the build's postern: init, the
        POSTERN_* variables in main.cf, healthy by the HEALTHCHECK's
        command, mail flows, SIGTERM (docker stop) ends it with 0."""
        if not os.access(POSTERN, os.X_OK):
            self.skipTest("no %s" % POSTERN)
        with tempfile.TemporaryDirectory(prefix="pk-docker-") as d:
            # Ports first (the image's defaults may be taken here); the
            # entrypoint keeps an existing main.cf and adds to it.
            ports = new_site(d)
            env = dict(os.environ, POSTERN_DIR=d, POSTERN_BIN=POSTERN,
                       POSTERN_INET_INTERFACES="127.0.0.1",
                       POSTERN_HOSTNAME="mx.pack.example",
                       POSTERN_MYNETWORKS="127.0.0.0/8")
            p = subprocess.Popen([os.path.join(DOCKER, "entrypoint.sh"),
                                  "start", "-f"], env=env,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            try:
                end = time.time() + 30
                while run_postern(d, "status", check=False).returncode != 0:
                    self.assertIsNone(p.poll(), p.stderr.read()
                                      if p.poll() is not None else "")
                    self.assertLess(time.time(), end, "never healthy")
                    time.sleep(0.2)
                out = run_postern(d, "config", "-n").stdout
                self.assertIn("myhostname = mx.pack.example", out)
                self.assertIn("log_target = stderr", out)
                send_and_read(self, ports, "via the entrypoint")
            finally:
                p.send_signal(signal.SIGTERM)
                try:
                    rc = p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    rc = "hung"
            self.assertEqual(rc, 0, p.stderr.read())
            self.assertNotEqual(run_postern(d, "status", check=False)
                                .returncode, 0)


def needed_packages(binaries):
    """{package: [programs]} for the libraries the programs name in
    NEEDED, each owner found with one dpkg -S call."""
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True,
                           text=True, check=True).stdout
    users = {}  # library path -> programs
    for binary in binaries:
        dyn = subprocess.run(["objdump", "-p", binary], capture_output=True,
                             text=True, check=True).stdout
        for lib in re.findall(r"^\s*NEEDED\s+(\S+)", dyn, re.M):
            m = re.search(r"^\s*%s \(libc6,x86-64\) => (\S+)"
                          % re.escape(lib), cache, re.M)
            assert m, "%s: %s not in the linker cache" % (binary, lib)
            users.setdefault(os.path.realpath(m.group(1)), []).append(
                os.path.basename(binary))
    # Debian 12 is merged-/usr: dpkg knows a file under the name its
    # package shipped, /lib/... or /usr/lib/....
    names = {}
    for path in users:
        names[path] = path
        if path.startswith("/usr/lib/"):
            names[path[4:]] = path
    r = subprocess.run(["dpkg", "-S"] + list(names), capture_output=True,
                       text=True)
    owner = {}
    for line in r.stdout.splitlines():
        pkg, _, path = line.partition(": ")
        if path in names:
            owner[names[path]] = pkg.split(":")[0]
    pkgs = {}
    for path, progs in users.items():
        assert path in owner, "no package owns %s" % path
        pkgs.setdefault(owner[path], []).extend(progs)
    return pkgs


class DockerImage(unittest.TestCase):
    def runtime_list(self):
        """The packages the run stage installs (the words of its
        apt-get install line)."""
        with open(os.path.join(DOCKER, "Dockerfile")) as f:
            text = f.read()
        block = text.split("# runtime-packages-begin")[1].split(
            "# runtime-packages-end")[0]
        words = block.split("--no-install-recommends", 1)[1]
        words = words.split("&&", 1)[0].replace("\\", " ").split()
        return set(words)

    @staticmethod
    def in_base_image(pkg):
        """debian:12-slim holds every package of priority required."""
        r = subprocess.run(["dpkg-query", "-W", "-f=${Priority}", pkg],
                           capture_output=True, text=True)
        return r.stdout.strip() == "required"

    def test_runtime_packages_cover_the_programs(self):
        if not shutil.which("objdump") or not shutil.which("dpkg"):
            self.skipTest("no objdump/dpkg")
        listed = self.runtime_list()
        self.assertIn("libssl3", listed)
        progs = [os.path.join(BUILD, p) for p in (
            "postern", "postern-smtpd", "postern-queued", "postern-lmtpd",
            "postern-imapd", "postern-webmail", "postern-admin-api",
            "postern-imap-proxy")]
        for path in progs:
            if not os.access(path, os.X_OK):
                self.skipTest("no %s" % path)
        missing = {pkg: sorted(set(users))
                   for pkg, users in needed_packages(progs).items()
                   if pkg not in listed and not self.in_base_image(pkg)}
        self.assertEqual(missing, {}, "run-time packages missing from "
                         "docker/Dockerfile")

    def test_installed_tree_is_what_the_image_copies(self):
        """cmake --install puts every program where the Dockerfile and the
        units expect them: /usr/lib/postern/ and /usr/sbin/postern."""
        cache = os.path.join(BUILD, "CMakeCache.txt")
        if not os.path.exists(cache):
            self.skipTest("no build")
        with tempfile.TemporaryDirectory(prefix="pk-inst-") as d:
            subprocess.run(["cmake", "--install", BUILD, "--prefix", "/usr"],
                           env=dict(os.environ, DESTDIR=d), check=True,
                           capture_output=True)
            lib = os.path.join(d, "usr", "lib", "postern")
            for prog in ("postern", "postern-smtpd", "postern-queued",
                         "postern-lmtpd", "postern-imapd",
                         "postern-webmail", "postern-admin-api",
                         "postern-imap-proxy"):
                self.assertTrue(os.access(os.path.join(lib, prog), os.X_OK),
                                prog)
            link = os.path.join(d, "usr", "sbin", "postern")
            self.assertEqual(os.readlink(link), "../lib/postern/postern")
        for name in os.listdir(UNITS):
            path = os.path.join(UNITS, name)
            if not os.path.isfile(path):
                continue
            with open(path) as f:
                for l in f:
                    if l.startswith("ExecStart="):
                        prog = l.split("=", 1)[1].split()[0]
                        self.assertTrue(prog.startswith("/usr/lib/postern/"),
                                        l)
                        self.assertTrue(os.access(os.path.join(
                            BUILD, os.path.basename(prog)), os.X_OK), l)

    def test_compose_files_validate(self):
        if not shutil.which("docker-compose"):
            self.skipTest("no docker-compose")
        for name in os.listdir(DOCKER):
            if name.startswith("compose") and name.endswith(".yml"):
                r = subprocess.run(["docker-compose", "-f",
                                    os.path.join(DOCKER, name), "config",
                                    "-q"], capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, name + ": " + r.stderr)


class DockerCluster(unittest.TestCase):
    """docker/compose.cluster.yml: the topology, every variable
    documented, and each node's role file run by the entrypoint."""

    FILE = os.path.join(DOCKER, "compose.cluster.yml")

    def config(self):
        if not shutil.which("docker-compose"):
            self.skipTest("no docker-compose")
        try:
            import yaml
        except ImportError:
            self.skipTest("no PyYAML")
        r = subprocess.run(["docker-compose", "-f", self.FILE, "config"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return yaml.safe_load(r.stdout)

    @staticmethod
    def mounts(service):
        """{target: source} of a service's volumes, in either form
        docker-compose config prints."""
        out = {}
        for v in service.get("volumes", []):
            if isinstance(v, str):
                src, dst = v.split(":")[:2]
            else:
                src, dst = v["source"], v["target"]
            out[dst] = src
        return out

    def test_topology(self):
        cfg = self.config()
        svc = cfg["services"]
        self.assertEqual(set(svc), {"db-primary", "db-replica", "mx1",
                                    "mx2", "proxy", "imap1", "imap2",
                                    "web"})
        # One shared store, mounted by every node that reads mail.
        for name in ("imap1", "imap2", "web"):
            self.assertEqual(self.mounts(svc[name]).get("/var/vmail"),
                             "store", name)
        for name in ("mx1", "mx2", "proxy"):
            self.assertNotIn("store", self.mounts(svc[name]).values(), name)
        # Each Postern node: its own state volume, the primary for
        # writes and the replica for reads, its role's services.cf.
        states = set()
        for name in ("mx1", "mx2", "proxy", "imap1", "imap2", "web"):
            env = svc[name]["environment"]
            self.assertEqual(env["POSTERN_DATABASE_HOST"], "db-primary")
            self.assertEqual(env["POSTERN_DATABASE_READ_HOSTS"],
                             "db-replica")
            binds = self.mounts(svc[name])
            role = binds["/etc/postern-role/services.cf"]
            self.assertTrue(os.path.exists(role), role)
            states.add(binds["/srv/postern"])
        self.assertEqual(len(states), 6)
        self.assertEqual(svc["mx1"]["environment"]
                         ["POSTERN_LMTP_DELIVERY_TARGET"], "proxy:2424")
        self.assertEqual(svc["proxy"]["environment"]
                         ["POSTERN_PROXY_BACKENDS"], "imap1:2143, imap2:2143")
        self.assertEqual(svc["db-replica"]["depends_on"]["db-primary"]
                         ["condition"], "service_healthy")

    def test_every_variable_is_documented(self):
        with open(self.FILE) as f:
            compose = f.read()
        with open(os.path.join(DOCKER, "entrypoint.sh")) as f:
            entry = f.read()
        with open(os.path.join(SOURCE, "docs", "docker.md")) as f:
            doc = f.read()
        names = set(re.findall(r"\$\{(\w+)", compose))
        names |= set(re.findall(r"^\s+(POSTERN_\w+|POSTGRES_\w+|PRIMARY_HOST):",
                                compose, re.M))
        names |= set(re.findall(r"\$\{(POSTERN_\w+)", entry)) - {"POSTERN_BIN"}
        self.assertGreater(len(names), 20)
        missing = sorted(n for n in names if "`%s`" % n not in doc)
        self.assertEqual(missing, [], "not in docs/docker.md")

    def test_entrypoint_runs_each_role(self):
        """The entrypoint with each role's services.cf and the cluster
        variables: main.cf gets them, the role's services run
        (`postern status`, the HEALTHCHECK), and stop."""
        if not os.access(POSTERN, os.X_OK):
            self.skipTest("no %s" % POSTERN)
        for role in ("mx", "proxy", "imap", "web"):
            with tempfile.TemporaryDirectory(prefix="pk-role-") as d:
                new_site(d)
                store = os.path.join(d, "store")
                env = dict(os.environ, POSTERN_DIR=d, POSTERN_BIN=POSTERN,
                           POSTERN_INET_INTERFACES="127.0.0.1",
                           POSTERN_SERVICES_FILE=os.path.join(
                               DOCKER, "cluster", role + ".services.cf"),
                           POSTERN_MAIL_DIRECTORY=store,
                           POSTERN_DATABASE_READ_HOSTS="replica.invalid",
                           POSTERN_LMTP_DELIVERY_TARGET="127.0.0.1:1",
                           POSTERN_PROXY_BACKENDS="127.0.0.1:1",
                           POSTERN_PROXY_LMTP_PORT="1",
                           POSTERN_IMAPD_TRUSTED_NETWORKS="10.0.0.0/8")
                r = subprocess.run([os.path.join(DOCKER, "entrypoint.sh"),
                                    "start"], env=env, capture_output=True,
                                   text=True, timeout=60)
                try:
                    self.assertEqual(r.returncode, 0, role + r.stderr)
                    end = time.time() + 30
                    while run_postern(d, "status",
                                      check=False).returncode != 0:
                        self.assertLess(time.time(), end,
                                        role + " never healthy")
                        time.sleep(0.2)
                    out = run_postern(d, "config", "-n").stdout
                    for line in ("mail_directory = " + store,
                                 "database_read_hosts = replica.invalid",
                                 "lmtp_delivery_target = 127.0.0.1:1",
                                 "proxy_backends = 127.0.0.1:1",
                                 "proxy_lmtp_port = 1",
                                 "imapd_trusted_networks = 10.0.0.0/8"):
                        self.assertIn(line, out, role)
                    with open(os.path.join(d, "services.cf")) as f, \
                            open(env["POSTERN_SERVICES_FILE"]) as g:
                        self.assertEqual(f.read(), g.read())
                    status = run_postern(d, "status").stdout
                    for name in {"mx": ["smtp", "submission", "queue"],
                                 "proxy": ["imap", "imaps", "lmtp"],
                                 "imap": ["imap", "lmtp", "queue"],
                                 "web": ["webmail", "admin-api",
                                         "queue"]}[role]:
                        self.assertRegex(status, r"(?m)^%s +running"
                                         % name, role)
                finally:
                    run_postern(d, "stop", check=False)


if __name__ == "__main__":
    unittest.main()
