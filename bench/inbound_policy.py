#!/usr/bin/env python3
"""Inbound policy benchmark: the accept rate of Postern's smtpd and of
Postfix 3.7's under the same typical restriction set (issue 8).

Both MTAs get the same restrictions, in the same order, at RCPT:

  smtpd_relay_restrictions     check_recipient_access (OK for the
                               destination domain), reject_unauth_destination
  smtpd_recipient_restrictions reject_non_fqdn_helo_hostname,
                               reject_non_fqdn_sender,
                               reject_non_fqdn_recipient,
                               reject_unknown_sender_domain,
                               check_client_access cidr:...,
                               check_sender_access (Postfix hash:, Postern
                               lmdb:, both built from the same file),
                               reject_rbl_client rbl.example,
                               check_policy_service -> policyd-spf

mynetworks does not hold the load generator, so nothing is skipped.
Accepted mail goes to the discard: transport of transport_maps (the
benchmark measures the policy path, not delivery).  policyd-spf
(postfix-policyd-spf-python) runs one process per policy connection in
both: Postfix's spawn(8), for Postern a socat UNIX-LISTEN,fork listener
(Postern has no spawn service); both keep policy connections open.

DNS: tests/integration/dnsserver.py (nsd + unbound) serves the zones
(sender.example with A, MX and an SPF record passing 127.0.0.0/8;
rbl.example listing 127.0.0.2 only), and a second unbound on
127.0.0.153:53 forwards to it.  The whole run is in a private mount
namespace (bench/inbound-policy.sh runs this under `unshare -m`) where
/etc/resolv.conf is bind-mounted to "nameserver 127.0.0.153", so
Postfix, policyd-spf and Postern (dns_servers empty: resolv.conf) all
use that resolver.  DNSSEC validation is off in Postern (Postfix does
none).

Load: smtp-source (--sessions parallel sessions, one connection per
message unless --reuse) sends --messages messages of --size bytes from
loadgen@sender.example to --rcpts recipients of dest.example.  Measured
per MTA: accept rate (messages / seconds until every smtp-source exited,
every message got its 250), the load generator's CPU seconds, the MTA's
process tree CPU seconds, and the policy servers' (policyd-spf) CPU
seconds.  Before the clock starts, one unmeasured message per recipient
warms both up (policyd-spf processes started, DNS answers cached).  Only
one MTA runs at a time.

Run as root (Postfix, port 53); see bench/README.md ("Inbound policy").
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import smtp_accept  # noqa: E402
from smtp_accept import (BenchError, CpuMeter,  # noqa: E402
                         POSTFIX_MAIN_BASE, POSTFIX_MASTER_CF, PosternRun,
                         PostfixRun, bench_arguments, free_ports, fs_type,
                         log, print_table, rate, run, run_load)
from dnsserver import DnsServer, Zone, txt_rdata  # noqa: E402

RESOLVER = "127.0.0.153"
SENDER = "loadgen@sender.example"
DEST = "dest.example"
POLICYD = shutil.which("policyd-spf") or "/usr/bin/policyd-spf"


def zones():
    return [
        Zone("sender.example", [
            ("@", "A", "198.18.0.10"), ("@", "MX", "10 mx"),
            ("mx", "A", "198.18.0.25"),
            ("@", "TXT", txt_rdata("v=spf1 ip4:127.0.0.0/8 -all"))]),
        Zone("rbl.example", [
            ("2.0.0.127", "A", "127.0.0.2"),
            ("2.0.0.127", "TXT", txt_rdata("listed for the benchmark"))]),
    ]


class Forwarder:
    """unbound on RESOLVER:53 forwarding everything to the test DNS."""

    def __init__(self, top, upstream):
        self.dir = os.path.join(top, "forwarder")
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "unbound.conf")
        with open(self.conf, "w") as f:
            f.write("server:\n"
                    "  interface: %s\n  port: 53\n"
                    "  do-ip6: no\n  do-not-query-localhost: no\n"
                    "  access-control: 127.0.0.0/8 allow\n"
                    "  chroot: \"\"\n  username: \"\"\n"
                    "  directory: \"%s\"\n  pidfile: \"\"\n"
                    "  use-syslog: no\n  logfile: \"%s/unbound.log\"\n"
                    "  module-config: \"iterator\"\n"
                    "forward-zone:\n  name: \".\"\n  forward-addr: %s\n"
                    % (RESOLVER, self.dir, self.dir, upstream))
        self.proc = subprocess.Popen(
            ["unbound", "-d", "-c", self.conf], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            out = subprocess.run(
                ["getent", "ahostsv4", "sender.example"],
                capture_output=True, text=True)
            if "198.18.0.10" in out.stdout:
                return
            time.sleep(0.2)
        raise BenchError("the resolver on %s:53 does not answer "
                         "(resolv.conf: %s)" % (RESOLVER, open(
                             "/etc/resolv.conf").read().strip()))

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def tables(top):
    """The lookup tables both MTAs read (sources; each builds its own
    indexed form of the sender table)."""
    t = {"rcpt": os.path.join(top, "rcpt_access"),
         "client": os.path.join(top, "client_access.cidr"),
         "sender": os.path.join(top, "sender_access")}
    write(t["rcpt"], "%s OK\n" % DEST)
    write(t["client"], "192.0.2.0/24 REJECT blocked network\n"
          "198.51.100.7/32 REJECT blocked host\n"
          "203.0.113.0/24 DUNNO\n")
    write(t["sender"], "".join("spam%d.example REJECT no thanks\n" % i
                               for i in range(1000)))
    # policyd-spf: its defaults (reject Fail for HELO and MAIL FROM),
    # except that loopback clients are checked too (skip_addresses) and
    # no syslog line per request (an empty skip_addresses crashes
    # policyd-spf 3.0.4, hence a network nobody uses).
    t["spf_conf"] = os.path.join(top, "policyd-spf.conf")
    write(t["spf_conf"], "debugLevel = 0\nTestOnly = 1\n"
          "HELO_reject = Fail\nMail_From_reject = Fail\n"
          "PermError_reject = False\nTempError_Defer = False\n"
          "skip_addresses = 192.0.2.255/32\n")
    return t


RESTRICTIONS = ("reject_non_fqdn_helo_hostname, reject_non_fqdn_sender, "
                "reject_non_fqdn_recipient, reject_unknown_sender_domain, "
                "check_client_access cidr:{client}, "
                "check_sender_access {sender}, "
                "reject_rbl_client rbl.example, "
                "check_policy_service {policy}")


class PosternMta(PosternRun):
    name = "postern"
    SERVICES = (
        "# written by bench/inbound_policy.py\n"
        "smtp   inet  $inet_interfaces:$smtp_port  none  2  postern-smtpd\n"
        "queue  unix  $queue_socket                none  1  postern-queued\n")

    def __init__(self, top, build, t):
        super().__init__(top, build)
        self.t = t
        self.socat = None

    def start(self):
        self.postern("init")
        shutil.copy(self.t["sender"], os.path.join(self.dir, "sender"))
        self.postern("map", "build", "lmdb:" + os.path.join(self.dir,
                                                            "sender"))
        spf_sock = os.path.join(self.dir, "run", "policyd-spf.sock")
        self.socat = subprocess.Popen(
            ["socat", "UNIX-LISTEN:%s,fork,mode=666" % spf_sock,
             "EXEC:%s %s" % (POLICYD, self.t["spf_conf"])], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "socat.log"), "w"))
        rr = RESTRICTIONS.format(
            client=self.t["client"],
            sender="lmdb:" + os.path.join(self.dir, "sender"),
            policy="unix:" + spf_sock)
        self.configure("smtpd_client_connection_count_limit=0",
                       "mynetworks=127.0.0.2/32",
                       "dns_servers=", "dns_dnssec=no",
                       "smtpd_relay_restrictions=check_recipient_access "
                       "texthash:%s, reject_unauth_destination" %
                       self.t["rcpt"],
                       "smtpd_recipient_restrictions=" + rr,
                       "transport_maps=inline:{ %s=discard: }" % DEST)
        self.launch(self.SERVICES)

    def pids(self):
        return {"mta": [self.master], "policyd-spf": [self.socat.pid]}

    def stop(self):
        super().stop()
        if self.socat is not None:
            self.socat.terminate()
            self.socat.wait()
            self.socat = None

    def describe(self):
        return "postern (%s), services: smtp x2, queue; policyd-spf " \
               "behind socat" % self.build


POSTFIX_MAIN_CF = """\
# written by bench/inbound_policy.py; Postfix defaults except the
# restrictions and what the benchmark needs
""" + POSTFIX_MAIN_BASE + """\
mynetworks = 127.0.0.2/32
smtpd_client_connection_count_limit = 0
smtpd_relay_restrictions = check_recipient_access texthash:{rcpt},
    reject_unauth_destination
smtpd_recipient_restrictions = {restrictions}
policyd-spf_time_limit = 3600
transport_maps = inline:{{ {dest}=discard: }}
"""


class PostfixMta:
    name = "postfix"

    def __init__(self, top, t):
        self.top = os.path.join(top, "postfix")
        self.pf = os.path.join(self.top, "etc")
        self.postfix = PostfixRun(self.pf, os.path.join(self.top, "var"))
        self.t = t

    def start(self):
        self.postfix.make_dirs(self.top)
        sender = os.path.join(self.pf, "sender_access")
        shutil.copy(self.t["sender"], sender)
        write(os.path.join(self.pf, "main.cf"), "")
        run(["postmap", "-c", self.pf, "hash:" + sender])
        self.smtp_port = free_ports(1)[0]
        rr = RESTRICTIONS.format(client=self.t["client"],
                                 sender="hash:" + sender,
                                 policy="unix:private/policyd-spf")
        write(os.path.join(self.pf, "main.cf"), POSTFIX_MAIN_CF.format(
            q=self.postfix.pf_var, rcpt=self.t["rcpt"], restrictions=rr,
            dest=DEST))
        write(os.path.join(self.pf, "master.cf"),
              POSTFIX_MASTER_CF.format(port=self.smtp_port) +
              "policyd-spf unix - n n - 0 spawn\n"
              "  user=nobody argv=%s %s\n" % (POLICYD, self.t["spf_conf"]))
        self.postfix.start(self.smtp_port)

    def pids(self):
        return {"mta": [self.postfix.master]}

    def stop(self):
        self.postfix.stop()

    def describe(self):
        return "Postfix %s (defaults + the restrictions; policyd-spf by " \
               "spawn)" % self.postfix.version()


def measure(mta, opts, rcpts):
    mta.start()
    try:
        # Warm-up, not measured: one message per recipient, so that the
        # policyd-spf processes (a Python start each, seconds on a busy
        # machine) and the DNS caches exist before the clock starts.
        warm = argparse.Namespace(**vars(opts))
        warm.messages = len(rcpts)
        run_load(mta.smtp_port, warm, rcpts)
        meter = CpuMeter(mta.pids())
        t0 = time.monotonic()
        run_load(mta.smtp_port, opts, rcpts)
        t1 = time.monotonic()
        gen = meter.children()
        busy = meter.busy()
        cpu = meter.trees()
        return {"accept_s": t1 - t0, "gen_cpu": gen, "cpu": cpu,
                "busy": busy}
    finally:
        mta.stop()


def report(opts, results, described):
    print()
    print("Inbound policy benchmark: %d messages of %d bytes to %d "
          "recipients, %d sessions%s, %d CPUs" % (
              opts.messages, opts.size, opts.rcpts, opts.sessions,
              " (one connection each)" if opts.reuse else "",
              os.cpu_count()))
    for name, text in described.items():
        print("  %-10s %s" % (name, text))
    print("  %-10s %s: %s" % ("folder", opts.top, fs_type(opts.top)))
    names = [n for n in ("postern", "postfix") if n in results]
    rows = [("accept rate (msg/s)",
             lambda r: rate(opts.messages, r["accept_s"]), "%.0f"),
            ("accept time (s)", lambda r: r["accept_s"], "%.2f"),
            ("smtp-source CPU (s)", lambda r: r["gen_cpu"], "%.2f"),
            ("MTA + policyd-spf CPU (s)", lambda r: sum(r["cpu"].values()), "%.2f"),
            ("machine CPU busy, all (s)", lambda r: r["busy"], "%.2f")]
    print_table(results, names, rows, "postern/postfix", 32, 14)


def main():
    ap = bench_arguments(__doc__, 10000, "postfix")
    ap.add_argument("--rcpts", type=int, default=100)
    opts = ap.parse_args()
    opts.build = os.path.abspath(opts.build)
    if opts.rcpts % opts.sessions or opts.messages % opts.rcpts:
        ap.error("--rcpts must be a multiple of --sessions and --messages "
                 "a multiple of --rcpts")
    if os.geteuid() != 0:
        ap.error("run as root (bench/inbound-policy.sh)")
    if os.environ.get("POSTERN_BENCH_NS") != "1":
        ap.error("run through bench/inbound-policy.sh (private mount "
                 "namespace with its own /etc/resolv.conf)")
    for prog in ("smtp-source", "postfix", "postmap", "socat", "unbound",
                 "nsd", POLICYD):
        if shutil.which(prog) is None:
            ap.error("%s not found (scripts/deps.sh bench)" % prog)
    smtp_accept.SENDER = SENDER
    rcpts = ["box%d@%s" % (i, DEST) for i in range(1, opts.rcpts + 1)]
    top = opts.top = tempfile.mkdtemp(prefix="postern-polbench.",
                                      dir=opts.tmpdir)
    os.chmod(top, 0o755)
    log("working in %s" % top)
    dns = DnsServer(zones())
    dns.start()
    fwd = None
    results, described, failures = {}, {}, []
    try:
        fwd = Forwarder(top, dns.resolver)
        t = tables(top)
        names = [n for n in ("postern", "postfix") if opts.only in (None, n)]
        for name in names:
            work = os.path.join(top, name)
            os.makedirs(work)
            os.chmod(work, 0o755)
            mta = (PosternMta(work, opts.build, t) if name == "postern"
                   else PostfixMta(work, t))
            log("%s: sending %d messages" % (name, opts.messages))
            try:
                results[name] = measure(mta, opts, rcpts)
                described[name] = mta.describe()
                log("%s: accepted in %.2fs" % (name,
                                               results[name]["accept_s"]))
            except BenchError as e:
                failures.append("%s: %s" % (name, e))
                log("FAILED %s" % failures[-1])
    finally:
        if fwd is not None:
            fwd.stop()
        dns.stop()
        if opts.keep or failures:
            log("kept %s" % top)
        else:
            shutil.rmtree(top, ignore_errors=True)
    if results:
        report(opts, results, described)
    for f in failures:
        print("FAILED " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
