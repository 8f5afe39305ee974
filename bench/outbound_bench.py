#!/usr/bin/env python3
"""SMTP outbound benchmark: Postern's queue and SMTP client against
Postfix 3.7's, relaying to smtp-sink on loopback.

Each MTA takes --messages messages of --size bytes from smtp-source
(--sessions parallel sessions, one connection per message, relay allowed
for 127.0.0.0/8) for --domains destination domains d1..dN.bench-out.test,
and relays them to the smtp-sink listening for that domain.  Both MTAs
route the domains the same way: a texthash transport map (the same file)
sends dK.bench-out.test to smtp:[127.0.1.K]:PORT, where one smtp-sink
per domain listens, so each domain is its own destination (own
connection cache and concurrency) in both schedulers.  Postfix can only
use the system resolver, so MX records from a DNS harness on loopback
would not be fair to it; the transport map is.  Measured per MTA:

  accept rate      messages / seconds until every smtp-source has exited
  end-to-end rate  messages / seconds until every smtp-sink has received
                   its share (smtp-sink -M: each exits after its count)
  CPU seconds      of smtp-source (the generator), of the smtp-sinks
                   (wait4 rusage) and of the MTA's process tree

--dkim: every message is DKIM-signed on its way out.  Half the sessions
send as loadgen@rsa.bench-out.test (one rsa-sha256 2048-bit key), half
as loadgen@ed.bench-out.test (one ed25519-sha256 key).  Postern signs
them in postern-queued (the smtp listener has -o
smtpd_dkim_sign_reinjected=yes, so what it takes from 127.0.0.1 is
signed like authenticated mail); Postfix through OpenDKIM 2.11 as an
smtpd milter (Mode s, relaxed/relaxed, the same kinds of keys), as
Postfix sites sign.  The OpenDKIM process is counted in Postfix's CPU.

Only one MTA runs at a time.  fsync stays at each product's default.
Run as root (Postfix needs it); see bench/README.md ("SMTP outbound").
Python 3 standard library only; shares its helpers with smtp_accept.py.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from smtp_accept import (BenchError, CpuMeter,  # noqa: E402
                         POSTFIX_MAIN_BASE, POSTFIX_MASTER_CF, PosternRun,
                         PostfixRun, bench_arguments, free_ports, fs_type,
                         SENDER, log, print_table, rate, run_load)

SENDERS = (SENDER,)

DOMAIN_FMT = "d%d.bench-out.test"
# --dkim: the From domains and the algorithm each one's key has.
DKIM_DOMAINS = (("rsa.bench-out.test", "rsa"),
                ("ed.bench-out.test", "ed25519"))
DKIM_SENDERS = tuple("loadgen@" + d for d, _ in DKIM_DOMAINS)


def sink_addr(k):
    return "127.0.1.%d" % k


class Sinks:
    """One smtp-sink per domain on 127.0.1.K:port, each exiting after
    `count` messages; their CPU comes from wait4's rusage."""

    def __init__(self, ndomains, port, count, workdir, dump=None):
        self.port, self.count = port, count
        self.procs = {}
        self.cpu = 0.0
        self.log = open(os.path.join(workdir, "smtp-sink.log"), "a")
        for k in range(1, ndomains + 1):
            cmd = ["smtp-sink", "-u", "nobody", "-h", "sink%d.bench" % k,
                   "-M", str(count), "-m", "1024"]
            if k == 1 and dump is not None:
                # The first domain's messages, kept to check them.
                cmd += ["-D", dump]
            cmd += ["%s:%d" % (sink_addr(k), port), "1024"]
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                 stdout=self.log, stderr=self.log)
            self.procs[p.pid] = p
        for k in range(1, ndomains + 1):
            wait_banner_at(sink_addr(k), port)

    def reap(self):
        """Collect the sinks that exited; the number still running."""
        for pid in list(self.procs):
            try:
                got, status, ru = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                got, status, ru = pid, 0, None
            if got == 0:
                continue
            if ru is not None:
                self.cpu += ru.ru_utime + ru.ru_stime
            p = self.procs.pop(pid)
            p.returncode = os.waitstatus_to_exitcode(status)
            if p.returncode != 0:
                raise BenchError("smtp-sink %s exited %d" % (
                    p.args[-2], p.returncode))
        return len(self.procs)

    def stop(self):
        for p in self.procs.values():
            p.kill()
            p.wait()
        self.procs = {}
        self.log.close()


def wait_banner_at(host, port, timeout=30):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), 2) as s:
                s.settimeout(5)
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError("no smtp-sink on %s:%d" % (host, port))


def write_transport(path, ndomains, port):
    with open(path, "w") as f:
        for k in range(1, ndomains + 1):
            f.write("%s smtp:[%s]:%d\n" % (DOMAIN_FMT % k, sink_addr(k),
                                           port))
    os.chmod(path, 0o644)


class PosternMta(PosternRun):
    name = "postern"
    SERVICES = (
        "# written by bench/outbound_bench.py: mail in and out\n"
        "smtp   inet  $inet_interfaces:$smtp_port  none  2  postern-smtpd\n"
        "{dkim}"
        "queue  unix  $queue_socket                none  1  postern-queued\n")

    def __init__(self, top, build, transport, dkim=False):
        super().__init__(top, build)
        self.transport = transport
        self.dkim = dkim

    def start(self):
        self.postern("init")
        self.configure("smtpd_client_connection_count_limit=0",
                       "transport_maps=texthash:" + self.transport)
        if self.dkim:
            for domain, alg in DKIM_DOMAINS:
                self.postern("domain", "add", domain)
                self.postern("dkim", "generate", domain, "--algorithm", alg)
        self.launch(self.SERVICES.format(
            dkim="  -o smtpd_dkim_sign_reinjected=yes\n" if self.dkim
            else ""))

    def pids(self):
        return {"postern": [self.master]}

    def describe(self):
        return "postern (%s), services: smtp x2, queue%s" % (
            self.build, ", DKIM signing" if self.dkim else "")


POSTFIX_MAIN_CF = """\
# written by bench/outbound_bench.py; Postfix defaults except what a
# relay for loopback clients needs
""" + POSTFIX_MAIN_BASE + """\
mynetworks = 127.0.0.0/8
transport_maps = texthash:{transport}
"""

POSTFIX_DKIM_CF = """\
smtpd_milters = {milters}
milter_default_action = tempfail
"""

OPENDKIM_CONF = """\
# written by bench/outbound_bench.py: sign what 127.0.0.1 sends
Syslog no
Background no
Mode s
Socket inet:{port}@127.0.0.1
PidFile {dir}/opendkim.pid
InternalHosts 127.0.0.1
Canonicalization relaxed/relaxed
SignatureAlgorithm {alg}
RequireSafeKeys false
KeyTable file:{dir}/keytable
SigningTable refile:{dir}/signingtable
"""


class OpenDkim:
    """OpenDKIM as Postfix's signing milter, with a key made by openssl
    genpkey (2048-bit RSA or Ed25519) for the DKIM_DOMAINS of one
    algorithm: OpenDKIM 2.11 has one SignatureAlgorithm per instance, so
    Postfix gets one milter per algorithm, each signing only its own
    domains."""

    def __init__(self, top, algorithm):
        self.alg = algorithm
        self.dir = os.path.join(top, "opendkim-" + algorithm)
        self.proc = None

    def start(self):
        os.makedirs(self.dir, mode=0o700)
        self.port = free_ports(1)[0]
        keys, signing = [], []
        for domain, alg in DKIM_DOMAINS:
            if alg != self.alg:
                continue
            key = os.path.join(self.dir, domain + ".pem")
            subprocess.run(["openssl", "genpkey", "-out", key] + (
                ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
                if alg == "rsa" else ["-algorithm", "ed25519"]),
                check=True, capture_output=True)
            os.chmod(key, 0o600)
            keys.append("%s %s:bench:%s\n" % (domain, domain, key))
            signing.append("*@%s %s\n" % (domain, domain))
        for name, lines in (("keytable", keys), ("signingtable", signing)):
            with open(os.path.join(self.dir, name), "w") as f:
                f.writelines(lines)
        conf = os.path.join(self.dir, "opendkim.conf")
        with open(conf, "w") as f:
            f.write(OPENDKIM_CONF.format(
                port=self.port, dir=self.dir,
                alg="rsa-sha256" if self.alg == "rsa" else "ed25519-sha256"))
        self.log = open(os.path.join(self.dir, "opendkim.log"), "w")
        self.proc = subprocess.Popen(["opendkim", "-f", "-x", conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        import socket
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 2).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise BenchError("opendkim did not start (%s)" %
                                     os.path.join(self.dir, "opendkim.log"))
                time.sleep(0.1)

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None
            self.log.close()


class PostfixMta:
    name = "postfix"

    def __init__(self, top, transport, dkim=False):
        self.top = os.path.join(top, "postfix")
        self.pf = os.path.join(self.top, "etc")
        self.postfix = PostfixRun(self.pf, os.path.join(self.top, "var"))
        self.transport = transport
        self.opendkim = [OpenDkim(self.top, alg) for _, alg in DKIM_DOMAINS
                         ] if dkim else []

    def start(self):
        self.postfix.make_dirs(self.top)
        self.smtp_port = free_ports(1)[0]
        main_cf = POSTFIX_MAIN_CF.format(q=self.postfix.pf_var,
                                         transport=self.transport)
        for milter in self.opendkim:
            milter.start()
        if self.opendkim:
            main_cf += POSTFIX_DKIM_CF.format(milters=", ".join(
                "inet:127.0.0.1:%d" % m.port for m in self.opendkim))
        with open(os.path.join(self.pf, "main.cf"), "w") as f:
            f.write(main_cf)
        with open(os.path.join(self.pf, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER_CF.format(port=self.smtp_port))
        self.postfix.start(self.smtp_port)

    def pids(self):
        roots = {"postfix": [self.postfix.master]}
        if self.opendkim:
            roots["opendkim"] = [m.proc.pid for m in self.opendkim]
        return roots

    def stop(self):
        try:
            self.postfix.stop()
        finally:
            for milter in self.opendkim:
                milter.stop()

    def describe(self):
        return "Postfix %s (defaults, transport_maps%s)" % (
            self.postfix.version(),
            ", OpenDKIM milters" if self.opendkim else "")


def measure(mta, opts, rcpts, workdir):
    per = opts.messages // opts.domains
    sink_port = free_ports(1)[0]
    dump = None
    if opts.dkim:
        os.makedirs(os.path.join(workdir, "dump"), mode=0o777)
        os.chmod(os.path.join(workdir, "dump"), 0o777)
        dump = os.path.join(workdir, "dump", "d1")
    sinks = Sinks(opts.domains, sink_port, per, workdir, dump)
    transport = os.path.join(workdir, "transport")
    write_transport(transport, opts.domains, sink_port)
    try:
        mta.transport = transport
        mta.start()
        meter = CpuMeter(mta.pids())
        t0 = time.monotonic()
        run_load(mta.smtp_port, opts, rcpts,
                 DKIM_SENDERS if opts.dkim else SENDERS)
        t1 = time.monotonic()
        gen = meter.children()
        last, last_change = -1, time.monotonic()
        while True:
            left = sinks.reap()
            now = time.monotonic()
            if left == 0:
                break
            if left != last:
                last, last_change = left, now
            elif now - last_change > opts.stall:
                raise BenchError("%s: %d smtp-sinks still waiting after %.0fs "
                                 "without progress" % (mta.name, left,
                                                       opts.stall))
            time.sleep(0.05)
        t2 = time.monotonic()
        busy = meter.busy()
        at_end = meter.trees()
        if dump is not None:
            # Every message of d1.bench-out.test carries its signature.
            with open(dump, "rb") as f:
                signed = f.read().count(b"\nDKIM-Signature:")
            if signed != per:
                raise BenchError("%s: %d of the %d messages to %s are "
                                 "DKIM-signed (%s)" % (mta.name, signed, per,
                                                       DOMAIN_FMT % 1, dump))
        return {"accept_s": t1 - t0, "e2e_s": t2 - t0, "gen_cpu": gen,
                "sink_cpu": sinks.cpu, "cpu_end": at_end, "busy": busy}
    finally:
        sinks.stop()


def report(opts, results, described):
    print()
    print("SMTP outbound benchmark: %d messages of %d bytes to %d domains "
          "(one smtp-sink each), %d sessions, %d CPUs%s%s" % (
              opts.messages, opts.size, opts.domains, opts.sessions,
              os.cpu_count(), ", DKIM-signed" if opts.dkim else "",
              ", best of %d rounds" % opts.rounds if opts.rounds > 1 else ""))
    for name, text in described.items():
        print("  %-10s %s" % (name, text))
    print("  %-10s %s: %s" % ("folder", opts.top, fs_type(opts.top)))
    names = [n for n in ("postern", "postfix") if n in results]
    rows = [("accept rate (msg/s)",
             lambda r: rate(opts.messages, r["accept_s"]), "%.0f"),
            ("end-to-end rate (msg/s)",
             lambda r: rate(opts.messages, r["e2e_s"]), "%.0f"),
            ("accept time (s)", lambda r: r["accept_s"], "%.2f"),
            ("end-to-end time (s)", lambda r: r["e2e_s"], "%.2f"),
            ("smtp-source CPU (s)", lambda r: r["gen_cpu"], "%.2f"),
            ("smtp-sink CPU (s)", lambda r: r["sink_cpu"], "%.2f"),
            ("MTA CPU (s)", lambda r: sum(r["cpu_end"].values()), "%.2f"),
            ("MTA CPU per 1000 msgs (s)",
             lambda r: 1000 * sum(r["cpu_end"].values()) / opts.messages,
             "%.3f"),
            ("machine CPU busy, all (s)", lambda r: r["busy"], "%.2f"),
            ("  of which other processes (s)",
             lambda r: r["busy"] - r["gen_cpu"] - r["sink_cpu"] -
             sum(r["cpu_end"].values()), "%.2f")]
    print_table(results, names, rows, "postern/postfix", 32, 14)


def main():
    ap = bench_arguments(__doc__, 20000, "postfix")
    ap.add_argument("--domains", type=int, default=100)
    ap.add_argument("--stall", type=float, default=120)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--dkim", action="store_true",
                    help="sign every message: Postern in postern-queued, "
                    "Postfix with an OpenDKIM milter")
    opts = ap.parse_args()
    opts.build = os.path.abspath(opts.build)
    if opts.domains % opts.sessions or opts.messages % opts.domains or \
            not 1 <= opts.domains <= 254:
        ap.error("--domains (1..254) must be a multiple of --sessions and "
                 "--messages a multiple of --domains")
    if os.geteuid() != 0:
        ap.error("run as root: Postfix is started as root")
    for prog in ("smtp-source", "smtp-sink", "postfix") + (
            ("opendkim", "openssl") if opts.dkim else ()):
        if shutil.which(prog) is None:
            ap.error("%s not found: apt-get install postfix" % prog)
    # run_load reads opts.sessions/size/reuse and messages // len(rcpts).
    rcpts = ["rcpt@" + DOMAIN_FMT % k for k in range(1, opts.domains + 1)]
    top = opts.top = tempfile.mkdtemp(prefix="postern-outbench.",
                                      dir=opts.tmpdir)
    os.chmod(top, 0o755)
    log("working in %s" % top)
    runs, described, failures = {}, {}, []
    try:
        for rnd in range(1, opts.rounds + 1):
            mtas = []
            if opts.only != "postfix":
                mtas.append("postern")
            if opts.only != "postern":
                mtas.append("postfix")
            if rnd % 2 == 0:
                mtas.reverse()
            for name in mtas:
                work = os.path.join(top, "round%d-%s" % (rnd, name))
                os.makedirs(work)
                os.chmod(work, 0o755)
                mta = (PosternMta(work, opts.build, None, opts.dkim)
                       if name == "postern"
                       else PostfixMta(work, None, opts.dkim))
                log("round %d, %s: sending %d messages" % (
                    rnd, name, opts.messages))
                try:
                    r = measure(mta, opts, rcpts, work)
                    described[name] = mta.describe()
                    runs.setdefault(name, []).append(r)
                    log("round %d, %s: done in %.2fs" % (rnd, name,
                                                         r["e2e_s"]))
                except BenchError as e:
                    failures.append("round %d, %s: %s" % (rnd, name, e))
                    log("FAILED %s" % failures[-1])
                finally:
                    try:
                        mta.stop()
                    except BenchError as e:
                        failures.append("%s: stop: %s" % (name, e))
    finally:
        if opts.keep or failures:
            log("kept %s" % top)
        else:
            shutil.rmtree(top, ignore_errors=True)
    results = {n: min(rs, key=lambda r: r["e2e_s"]) for n, rs in runs.items()}
    if opts.rounds > 1:
        for n, rs in runs.items():
            print("%s rounds (accept / end-to-end msg/s): %s" % (n, ", ".join(
                "%.0f / %.0f" % (rate(opts.messages, r["accept_s"]),
                                 rate(opts.messages, r["e2e_s"]))
                for r in rs)))
    if results:
        report(opts, results, described)
    for f in failures:
        print("FAILED " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
