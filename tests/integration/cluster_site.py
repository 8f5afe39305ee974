"""A Postern cluster on one machine, in network namespaces (a module, not a
test: test_cluster.py and bench/cluster_bench.py use it; root only).

Each node is a network namespace with its own address on one bridge
(10.77.N.0/24; the test itself, in the root namespace, is .1) and its own
Postern config folder (main.cf, services.cf, queue, log); the Maildir
store is one folder every node shares, as NFS would be:

    db1    .11  PostgreSQL primary (pg_cluster.py), and the admin API
    db2    .12  PostgreSQL streaming replica
    mx1    .21  smtpd (smtp, submission) + queued; LMTP to the proxy
    mx2    .22  the same
    proxy  .30  postern-imap-proxy on IMAP and LMTP
    be1    .31  imapd + lmtpd (an IMAP backend)
    be2    .32  the same

Every node has database_host = the primary and database_read_hosts = the
replica, so lookups (and logins) read the replica with the primary as
fallback.  The daemons of a node are started with `ip netns exec NS
postern start`; kill9() kills every process of the namespace, as a
machine that loses power.

Cluster(tls=True) encrypts and verifies every hop between the nodes
(docs/proxy.md "TLS between the hosts"): a test CA (tls_site.make_pki)
signs a certificate for the proxy's and each backend's address; the MX
nodes deliver with lmtp_tls_security_level=verify, the proxy logs in on
the backends' imaps port (proxy_backend_tls, verified) and speaks LMTP
with STARTTLS required (proxy_lmtp_tls_security_level=encrypt), and the
backends' lmtpd requires STARTTLS (lmtpd_tls_security_level=encrypt).
"""
import os
import shutil
import signal
import subprocess
import tempfile

from postern_site import POSTERN, SiteLog, wait_for
import pg_cluster

PORTS = {"smtp": 2525, "submission": 2587, "imap": 2143, "lmtp": 2424,
         "admin_api": 8081, "pg": 5432, "imaps": 2993}
HOSTS = {"db1": 11, "db2": 12, "mx1": 21, "mx2": 22, "proxy": 30,
         "be1": 31, "be2": 32}


def sh(*argv, check=True):
    r = subprocess.run(list(argv), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError("%s: %s%s" % (" ".join(argv), r.stdout,
                                           r.stderr))
    return r


class Node(SiteLog):
    def __init__(self, cluster, name):
        self.cluster, self.name = cluster, name
        self.ns = "pstn%d%s" % (cluster.tag, name)
        self.ip = "%s.%d" % (cluster.prefix, HOSTS[name])
        self.dir = os.path.join(cluster.tmp, name)
        self.exec = ["ip", "netns", "exec", self.ns]

    def postern(self, *args, stdin="", check=True):
        p = subprocess.run(self.exec + [POSTERN, "-c", self.dir] +
                           list(args), capture_output=True, text=True,
                           timeout=60, input=stdin)
        if check and p.returncode != 0:
            raise AssertionError("%s: postern %s: %s%s" % (
                self.name, " ".join(args), p.stdout, p.stderr))
        return p

    def pids(self):
        r = sh("ip", "netns", "pids", self.ns, check=False)
        return [int(p) for p in r.stdout.split()]

    def signal(self, sig):
        """sig to every process of the node (SIGSTOP: a hung machine)."""
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def kill9(self):
        """Every process of the node, at once, with SIGKILL: no clean
        shut-down, no queue flush."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: not self.pids(), 10, "%s's processes gone"
                 % self.name)

    def start(self):
        self.postern("start")

    def stop(self):
        self.postern("stop", check=False)


class Cluster:
    """nodes: names from HOSTS to create (db1 and db2 always)."""

    def __init__(self, nodes=("mx1", "mx2", "proxy", "be1", "be2"),
                 settings=(), tls=False):
        self.tls = tls
        self.tag = os.getpid() % 1000
        self.prefix = "10.77.%d" % (100 + os.getpid() % 150)
        self.tmp = tempfile.mkdtemp(prefix="postern-cluster-")
        os.chmod(self.tmp, 0o755)
        self.store = os.path.join(self.tmp, "store")
        self.bridge = "pcbr%d" % self.tag
        self.names = ["db1", "db2"] + list(nodes)
        self.nodes = {n: Node(self, n) for n in self.names}
        self.settings = list(settings)
        self.made = []

    def __getitem__(self, name):
        return self.nodes[name]

    def addr(self, name, port):
        return (self.nodes[name].ip, PORTS[port])

    # -- the network ----------------------------------------------------
    def net_up(self):
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        self.made.append(("link", self.bridge))
        sh("ip", "addr", "add", self.prefix + ".1/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for i, node in enumerate(self.nodes.values()):
            sh("ip", "netns", "add", node.ns)
            self.made.append(("netns", node.ns))
            host, inner = "pc%dh%d" % (self.tag, i), "pc%dn%d" % (self.tag, i)
            sh("ip", "link", "add", host, "type", "veth", "peer", "name",
               inner)
            self.made.append(("link", host))
            sh("ip", "link", "set", inner, "netns", node.ns)
            sh("ip", "link", "set", host, "master", self.bridge, "up")
            sh("ip", "-n", node.ns, "link", "set", "lo", "up")
            sh("ip", "-n", node.ns, "addr", "add", node.ip + "/24", "dev",
               inner)
            sh("ip", "-n", node.ns, "link", "set", inner, "up")

    def down(self):
        """Stop everything this cluster made, in reverse order."""
        for node in self.nodes.values():
            if node.name not in ("db1", "db2") and os.path.isdir(node.dir):
                node.stop()
        if os.path.isdir(self["db1"].dir):
            self["db1"].stop()
        self.cleanup_pg()
        for node in self.nodes.values():
            if ("netns", node.ns) in self.made:
                for pid in node.pids():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        for kind, name in reversed(self.made):
            if kind == "netns":
                sh("ip", "netns", "del", name, check=False)
            elif kind == "link":
                sh("ip", "link", "del", name, check=False)
        self.made = []
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the nodes ------------------------------------------------------
    def common(self):
        pg = PORTS["pg"]
        return ["database_driver=pgsql",
                "database_host=%s:%d" % (self["db1"].ip, pg),
                "database_read_hosts=%s:%d" % (self["db2"].ip, pg),
                "database_name=postern", "database_user=postgres",
                "database_timeout=2s", "mail_directory=" + self.store,
                "default_password_scheme=SHA512-CRYPT",
                "auth_failure_delay=0s", "stop_timeout=5s"] + self.settings

    def cert_opts(self, node):
        """-o options giving a service node's test-CA certificate."""
        d = os.path.join(self.tmp, "pki")
        return ("-o tls_cert_file=%s -o tls_key_file=%s"
                % (os.path.join(d, node.name + "-chain.pem"),
                   os.path.join(d, node.name + ".key")))

    def services(self, node):
        ip, p = node.ip, PORTS
        kind = node.name.rstrip("0123456789")
        if self.tls and kind in ("proxy", "be"):
            return self.tls_services(node, kind)
        if kind == "db":
            return ["admin-api inet %s:%d none 1 postern-admin-api"
                    % (ip, p["admin_api"])]
        if kind == "mx":
            return ["smtp inet %s:%d starttls 2 postern-smtpd"
                    % (ip, p["smtp"]),
                    "submission inet %s:%d starttls 1 postern-smtpd"
                    % (ip, p["submission"]),
                    "queue unix $queue_socket none 1 postern-queued"]
        if kind == "proxy":
            return ["imap inet %s:%d starttls 1 postern-imap-proxy"
                    % (ip, p["imap"]),
                    "lmtp inet %s:%d none 1 postern-imap-proxy"
                    % (ip, p["lmtp"])]
        return ["imap inet %s:%d starttls 1 postern-imapd" % (ip, p["imap"]),
                "lmtp inet %s:%d none 1 postern-lmtpd" % (ip, p["lmtp"])]

    def tls_services(self, node, kind):
        ip, p, o = node.ip, PORTS, self.cert_opts(node)
        if kind == "proxy":
            return ["imap inet %s:%d starttls 1 postern-imap-proxy"
                    % (ip, p["imap"]),
                    "lmtp inet %s:%d starttls 1 postern-imap-proxy %s"
                    % (ip, p["lmtp"], o)]
        return ["imap inet %s:%d starttls 1 postern-imapd" % (ip, p["imap"]),
                "imaps inet %s:%d implicit 1 postern-imapd %s"
                % (ip, p["imaps"], o),
                "lmtp inet %s:%d starttls 1 postern-lmtpd %s"
                % (ip, p["lmtp"], o)]

    def backends(self):
        port = PORTS["imaps" if self.tls else "imap"]
        return ["%s:%d" % (self[n].ip, port)
                for n in self.names if n.startswith("be")]

    def node_settings(self, node):
        kind = node.name.rstrip("0123456789")
        s = ["myhostname=%s.cluster.test" % node.name]
        if kind == "mx":
            s.append("lmtp_delivery_target=%s:%d"
                     % (self["proxy"].ip if "proxy" in self.nodes
                        else self["be1"].ip, PORTS["lmtp"]))
        elif kind == "proxy":
            s += ["proxy_backends=" + ", ".join(self.backends()),
                  "proxy_lmtp_port=%d" % PORTS["lmtp"]]
        elif kind == "be":
            s.append("imapd_trusted_networks=%s.0/24" % self.prefix)
        if self.tls:
            ca = os.path.join(self.tmp, "pki", "ca.pem")
            s += {"mx": ["lmtp_tls_security_level=verify",
                         "lmtp_tls_CAfile=" + ca],
                  "proxy": ["proxy_backend_tls=yes",
                            "proxy_backend_tls_CAfile=" + ca,
                            "proxy_lmtp_tls_security_level=encrypt"],
                  "be": ["lmtpd_tls_security_level=encrypt"]}.get(kind, [])
        return s

    def up(self):
        """The network, PostgreSQL, then every node's config and
        daemons (db1 first: its init writes the schema)."""
        self.net_up()
        os.mkdir(self.store)
        if self.tls:
            from tls_site import make_pki
            d = os.path.join(self.tmp, "pki")
            os.mkdir(d)
            make_pki(d, ["ca"], [(n, "ca", [self[n].ip]) for n in self.names
                                 if n == "proxy" or n.startswith("be")],
                     label="cluster")
        pg = PORTS["pg"]
        pg_cluster.make_pair(self, pg, pg, self["db1"].ip, self["db2"].ip,
                             self["db1"].exec, self["db2"].exec,
                             clients=self.prefix + ".0/24")
        for node in self.nodes.values():
            os.mkdir(node.dir)
            node.postern("init")
            node.postern("config", "set", *self.common(),
                         *self.node_settings(node))
            with open(os.path.join(node.dir, "services.cf"), "w") as f:
                f.write("# written by tests/integration/cluster_site.py\n"
                        + "\n".join(self.services(node)) + "\n")
            node.postern("init")  # the schema on the primary (db1 first)
        for node in self.nodes.values():
            node.start()
        with open(os.path.join(self["db1"].dir, "admin-token")) as f:
            self.admin_token = f.read().strip()

    # make_pair() registers its cleanups on a test class; a Cluster
    # stands in for one.
    def addClassCleanup(self, fn, *args, **kw):
        self.made.append(("call", (fn, args, kw)))

    def cleanup_pg(self):
        for kind, item in reversed(self.made):
            if kind == "call":
                fn, args, kw = item
                try:
                    fn(*args, **kw)
                except Exception:  # noqa: BLE001 - clean up the rest
                    pass


def wait_port(host, port, timeout=30):
    import socket

    def ok():
        try:
            socket.create_connection((host, port), 1).close()
            return True
        except OSError:
            return False
    wait_for(ok, timeout, "%s:%d" % (host, port))
