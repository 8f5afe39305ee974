#!/usr/bin/env python3
"""A real DNS service on loopback for the tests: nsd serves test zones,
unbound resolves and validates them (a module, not a test: run-all.sh runs
only the executable test_* files; it also has a small CLI, see main()).

    from dnsserver import DnsServer, Zone
    dns = DnsServer([
        Zone("mail.example", [("@", "MX", "10 mx1"), ("mx1", "A", "192.0.2.1")]),
        Zone("signed.example", [("@", "A", "192.0.2.7")], sign=True),
    ])
    dns.start()                # nsd + unbound in a temp folder
    dns.resolver               # "127.0.0.1@PORT": unbound (for dns_servers)
    dns.trust_anchor_file      # DNSKEYs of the signed zones (for
                               # dns_trust_anchor_file)
    dns.settings()             # both as ["-o", "name=value", ...]
    # DnsServer(zones, log_queries=True): unbound logs every query, and
    dns.queries("x.example")   # counts those for x.example A
    dns.stop()                 # also done at exit

Zones are Python data: a name and records (owner, type, rdata[, ttl]),
owners relative to the zone ("@" is the apex) unless they end in a dot.
Each zone gets an SOA and an NS (ns.ZONE, 127.0.0.1) of its own.
sign=True signs it with ldns-keygen/ldns-signzone (ECDSAP256SHA256, one
KSK + one ZSK) and unbound trusts its KSK; bogus=True signs it and then
breaks every signature except those over DNSKEY, so answers from it fail
validation ("bogus").  Unsigned zones are listed as domain-insecure.
Zone(name, [], dead=True) is served by nobody (unbound's stub points at
a port where nothing listens): lookups there time out.
Zone(name, [], lame=True) is delegated to nsd, which does not serve it
and answers REFUSED: unbound answers SERVFAIL at once.

Use names under a TLD libunbound does not keep to itself: it answers
"test.", "invalid.", "localhost." and the RFC 6303 reverse zones
(192.0.2.0/24, 2001:db8::/32, 10/8...) locally with NXDOMAIN, so test
zones are under "example." and reverse zones use other ranges (for
instance 198.18.0.0/15 and 2001:500::/32).

unbound refuses every name outside the test zones (local-zone "." refuse),
so nothing ever leaves loopback.  Both daemons run in the foreground as
children of this process, with chroot "" and username "" so they work
unprivileged too; stop() (or the atexit hook) kills them and removes the
folder unless POSTERN_KEEP is set.
"""
import atexit
import ctypes
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

NSD = shutil.which("nsd") or "/usr/sbin/nsd"
UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
KEYGEN = shutil.which("ldns-keygen") or "/usr/bin/ldns-keygen"
SIGNZONE = shutil.which("ldns-signzone") or "/usr/bin/ldns-signzone"

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
         "TXT": 16, "AAAA": 28, "DS": 43, "DNSKEY": 48, "TLSA": 52}


def available():
    """None when nsd, unbound and ldnsutils are installed, else what is
    missing (tests skip with it)."""
    missing = [p for p in (NSD, UNBOUND, KEYGEN, SIGNZONE)
               if not os.access(p, os.X_OK)]
    return ("missing: " + " ".join(missing)) if missing else None


def free_port():
    """A loopback port free for both UDP and TCP, below the ephemeral
    range (see postern_site.free_ports), and never one free_ports() has
    handed out in this process (a site's daemons bind theirs later)."""
    # Imported here: postern_site imports this module.
    from postern_site import claim_port
    for _ in range(100):
        port = random.randint(20000, 31999)
        if claim_port(port, udp=True):
            return port
    raise RuntimeError("no free port")


def txt_rdata(*strings):
    """TXT rdata in zone-file syntax: each string quoted and escaped (a
    string longer than 255 octets is split, as publishers of DKIM keys
    do)."""
    parts = []
    for s in strings:
        b = s.encode() if isinstance(s, str) else bytes(s)
        for i in range(0, max(len(b), 1), 255):
            chunk = b[i:i + 255]
            esc = "".join(chr(c) if 0x20 < c < 0x7f and c not in b'"\\;'
                          else "\\%03d" % c for c in chunk)
            parts.append('"%s"' % esc)
    return " ".join(parts)


def query(port, name, qtype="SOA", timeout=1.0):
    """One UDP query to 127.0.0.1:port; the reply's rcode and answer
    count, or None without a reply.  Only for readiness checks."""
    qid = random.randint(0, 65535)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", TYPES[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q, ("127.0.0.1", port))
            data, _ = s.recvfrom(65535)
        except OSError:
            return None
    if len(data) < 12 or struct.unpack(">H", data[:2])[0] != qid:
        return None
    flags, _, ancount = struct.unpack(">HHH", data[2:8])
    return flags & 0xF, ancount


class Zone:
    def __init__(self, name, records, sign=False, bogus=False, dead=False,
                 lame=False, ttl=300):
        self.name = name.rstrip(".").lower()
        self.records = list(records)
        self.sign = sign or bogus
        self.bogus = bogus
        self.dead = dead
        self.lame = lame
        self.ttl = ttl
        self.dnskeys = []  # KSK DNSKEY lines once signed

    def text(self):
        z = self.name + "."
        lines = ["$ORIGIN %s" % z, "$TTL %d" % self.ttl,
                 "@ IN SOA ns.%s hostmaster.%s 1 3600 600 86400 %d"
                 % (z, z, self.ttl),
                 "@ IN NS ns.%s" % z, "ns IN A 127.0.0.1"]
        for r in self.records:
            owner, rtype, rdata = r[0], r[1], r[2]
            ttl = r[3] if len(r) > 3 else self.ttl
            lines.append("%s %d IN %s %s" % (owner, ttl, rtype, rdata))
        return "\n".join(lines) + "\n"


class DnsServer:
    def __init__(self, zones, keep=None, log_queries=False):
        """log_queries: unbound logs every query it gets (queries())."""
        self.zones = list(zones)
        self.log_queries = log_queries
        self.keep = bool(os.environ.get("POSTERN_KEEP")) if keep is None \
            else keep
        self.dir = None
        self.procs = []
        self.nsd_port = self.unbound_port = None
        self.dead_port = None

    # ---- set-up

    def _run(self, *args):
        p = subprocess.run(list(args), cwd=self.dir, capture_output=True,
                           text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("%s: %s%s" % (" ".join(args), p.stdout,
                                             p.stderr))
        return p.stdout

    def _sign(self, zone, path):
        ksk = self._run(KEYGEN, "-a", "ECDSAP256SHA256", "-k",
                        zone.name).strip()
        zsk = self._run(KEYGEN, "-a", "ECDSAP256SHA256", zone.name).strip()
        with open(os.path.join(self.dir, ksk + ".key")) as f:
            zone.dnskeys = [ln.strip() for ln in f if "DNSKEY" in ln]
        # -n: NSEC3 would also do; plain NSEC keeps the files readable.
        self._run(SIGNZONE, "-f", path + ".signed", path, ksk, zsk)
        if zone.bogus:
            self._break_signatures(path + ".signed")
        return path + ".signed"

    @staticmethod
    def _break_signatures(path):
        """Flip one base64 character of every RRSIG's signature except
        those over DNSKEY: the keys still validate, the data does not."""
        out = []
        with open(path) as f:
            for ln in f:
                fields = ln.split()
                if len(fields) > 12 and fields[3] == "RRSIG" and \
                        fields[4] != "DNSKEY":
                    sig = fields[-1]
                    i = len(sig) // 2
                    c = "B" if sig[i] != "B" else "C"
                    fields[-1] = sig[:i] + c + sig[i + 1:]
                    ln = "\t".join(fields) + "\n"
                out.append(ln)
        with open(path, "w") as f:
            f.writelines(out)

    def _write_nsd(self):
        conf = ["server:",
                "  ip-address: 127.0.0.1@%d" % self.nsd_port,
                "  port: %d" % self.nsd_port,
                "  do-ip6: no",
                '  username: ""',
                '  chroot: ""',
                "  zonesdir: %s" % self.dir,
                '  database: ""',
                "  pidfile: %s/nsd.pid" % self.dir,
                "  xfrdfile: %s/xfrd.state" % self.dir,
                "  xfrdir: %s" % self.dir,
                "  zonelistfile: %s/zone.list" % self.dir,
                "  logfile: %s/nsd.log" % self.dir,
                "  server-count: 1",
                "  verbosity: 1",
                "remote-control:",
                "  control-enable: no"]
        for z in self.zones:
            if z.dead or z.lame:
                continue
            path = os.path.join(self.dir, z.name + ".zone")
            with open(path, "w") as f:
                f.write(z.text())
            if z.sign:
                path = self._sign(z, path)
            conf += ["zone:", "  name: %s" % z.name,
                     "  zonefile: %s" % path]
        with open(os.path.join(self.dir, "nsd.conf"), "w") as f:
            f.write("\n".join(conf) + "\n")

    def _write_unbound(self):
        with open(self.trust_anchor_file, "w") as f:
            for z in self.zones:
                for k in z.dnskeys:
                    f.write(k + "\n")
        conf = ["server:",
                "  interface: 127.0.0.1",
                "  port: %d" % self.unbound_port,
                "  do-ip6: no",
                '  username: ""',
                '  chroot: ""',
                "  directory: %s" % self.dir,
                "  pidfile: %s/unbound.pid" % self.dir,
                "  logfile: %s/unbound.log" % self.dir,
                "  use-syslog: no",
                "  verbosity: 1",
                "  val-log-level: 2",
                "  num-threads: 1",
                "  do-not-query-localhost: no",
                "  access-control: 127.0.0.0/8 allow",
                "  qname-minimisation: no",
                "  minimal-responses: no",
                # Tests change zones between runs, never within one; a
                # short cache still keeps a stale answer from lasting.
                "  cache-max-ttl: 5",
                "  cache-max-negative-ttl: 5",
                '  module-config: "validator iterator"',
                '  local-zone: "." refuse']
        if self.log_queries:
            conf.append("  log-queries: yes")
        if any(z.dnskeys for z in self.zones):
            conf.append('  trust-anchor-file: "%s"' % self.trust_anchor_file)
        for z in self.zones:
            conf.append('  local-zone: "%s." transparent' % z.name)
            if not z.sign:
                conf.append('  domain-insecure: "%s."' % z.name)
        conf += ["remote-control:", "  control-enable: no"]
        for z in self.zones:
            port = self.dead_port if z.dead else self.nsd_port
            conf += ["stub-zone:", '  name: "%s."' % z.name,
                     "  stub-addr: 127.0.0.1@%d" % port]
        with open(os.path.join(self.dir, "unbound.conf"), "w") as f:
            f.write("\n".join(conf) + "\n")

    @staticmethod
    def _die_with_parent():
        """In the child: SIGTERM when this Python process dies, even by
        SIGKILL, so no daemon outlives a killed test."""
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
        except (OSError, AttributeError):
            pass

    def _spawn(self, args, log):
        out = open(os.path.join(self.dir, log), "ab")
        p = subprocess.Popen(args, cwd=self.dir, stdout=out,
                             stderr=subprocess.STDOUT,
                             start_new_session=True,
                             preexec_fn=self._die_with_parent)
        out.close()
        self.procs.append(p)
        return p

    def _wait(self, proc, port, name, what):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("%s exited (%s); log:\n%s" % (
                    what, proc.returncode, self.log()))
            r = query(port, name, "SOA", 0.3)
            if r is not None and r[0] == 0 and r[1] > 0:
                return
            time.sleep(0.1)
        raise RuntimeError("%s does not answer; log:\n%s" % (what, self.log()))

    def start(self):
        why = available()
        if why:
            raise RuntimeError(why)
        self.dir = tempfile.mkdtemp(prefix="postern-dns-")
        self.trust_anchor_file = os.path.join(self.dir, "trust-anchors.key")
        atexit.register(self.stop)
        # Ports are picked free but may be taken before the daemons bind
        # them (other tests run meanwhile): then try new ones.
        for attempt in range(3):
            try:
                self._start_daemons()
                return self
            except RuntimeError:
                self._kill()
                if attempt == 2:
                    raise
        return self

    def _start_daemons(self):
        self.nsd_port = free_port()
        self.unbound_port = free_port()
        while self.unbound_port == self.nsd_port:
            self.unbound_port = free_port()
        self.dead_port = free_port()
        self._write_nsd()
        self._write_unbound()
        live = [z for z in self.zones if not (z.dead or z.lame)]
        nsd = self._spawn([NSD, "-d", "-c", os.path.join(self.dir, "nsd.conf")],
                          "nsd.out")
        if live:
            self._wait(nsd, self.nsd_port, live[0].name, "nsd")
        ub = self._spawn([UNBOUND, "-d", "-c",
                          os.path.join(self.dir, "unbound.conf")],
                         "unbound.out")
        if live:
            self._wait(ub, self.unbound_port, live[0].name, "unbound")

    # ---- what tests use

    @property
    def resolver(self):
        return "127.0.0.1@%d" % self.unbound_port

    @property
    def authoritative(self):
        return "127.0.0.1@%d" % self.nsd_port

    def settings(self, timeout="5s"):
        """`-o` options pointing Postern's resolver at this server."""
        return ["-o", "dns_servers=%s" % self.resolver,
                "-o", "dns_trust_anchor_file=%s" % self.trust_anchor_file,
                "-o", "dns_dnssec=yes", "-o", "dns_timeout=%s" % timeout]

    def main_cf(self, timeout="5s"):
        """The same as main.cf lines."""
        s = self.settings(timeout)
        return "".join(v + "\n" for v in s[1::2])

    def queries(self, name, qtype="A"):
        """How many queries for name (no final dot) and qtype unbound
        got from its clients (Postern's libunbound contexts): needs
        log_queries=True.  Its own queries to nsd are not counted."""
        want = " %s. %s IN" % (name.rstrip(".").lower(), qtype)
        with open(os.path.join(self.dir, "unbound.log"),
                  errors="replace") as f:
            return sum(1 for line in f
                       if "info: " in line and line.rstrip().endswith(want))

    def log(self):
        text = ""
        for name in ("nsd.out", "nsd.log", "unbound.out", "unbound.log"):
            p = os.path.join(self.dir or "", name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    text += "--- %s\n%s" % (name, "".join(f.readlines()[-30:]))
        return text

    def _kill(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []

    def stop(self):
        self._kill()
        if self.dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def demo_zones():
    """A small set of zones for the CLI (and a model for tests)."""
    return [
        Zone("mail.example", [
            ("@", "MX", "10 mx1"), ("@", "MX", "20 mx2"),
            ("mx1", "A", "127.0.0.1"), ("mx2", "AAAA", "::1"),
            ("@", "TXT", txt_rdata("v=spf1 ip4:127.0.0.0/8 -all")),
        ]),
        Zone("signed.example", [
            ("@", "MX", "10 mx"), ("mx", "A", "127.0.0.1"),
            ("_25._tcp.mx", "TLSA", "3 1 1 " + "ab" * 32),
        ], sign=True),
    ]


def main():
    """dnsserver.py [ZONEFILE.py]: serve the demo zones (or the list
    ZONES built by the given Python file), print the settings, wait for
    Ctrl-C."""
    zones = demo_zones()
    if len(sys.argv) > 1:
        scope = {"Zone": Zone, "txt_rdata": txt_rdata}
        with open(sys.argv[1]) as f:
            exec(compile(f.read(), sys.argv[1], "exec"), scope)
        zones = scope["ZONES"]
    dns = DnsServer(zones, keep=True).start()
    print("folder:     %s" % dns.dir)
    print("unbound:    %s" % dns.resolver)
    print("nsd:        %s" % dns.authoritative)
    print("settings:   %s" % " ".join(dns.settings()))
    print("try:        drill -p %d MX mail.example @127.0.0.1" %
          dns.unbound_port)
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    dns.stop()


if __name__ == "__main__":
    main()
