#!/usr/bin/env python3
"""One node versus two nodes of each kind, in the network namespaces of
tests/integration/cluster_site.py (see bench/README.md, "Cluster").

For each layout (one: mx1, proxy, be1; two: mx1, mx2, proxy, be1, be2;
both with the PostgreSQL primary and streaming replica):
- accept rate: smtp-source (Postfix's generator) against every MX node
  at once, --messages in all, 4 KiB each, one connection per message;
  accept time (the last 250) and end-to-end time (every message in the
  shared Maildir store), messages/s of each;
- IMAP operations/s: --connections asyncio clients through the proxy
  (STARTTLS, LOGIN, SELECT, then NOOP, FETCH FLAGS, UID FETCH BODY[],
  SEARCH ALL in a fixed mix) for --seconds; p50 and p99 per operation;
- the proxy's added latency: 1000 NOOP round trips on one logged-in
  connection straight to a backend and through the proxy (both STARTTLS
  from the client), p50 and p99.
The load generator's CPU (this process and its smtp-source children) is
printed beside each figure.  With --tls every hop between the nodes is
encrypted and verified as in Cluster(tls=True) (MX -> proxy LMTP with
verify, proxy -> backends over imaps and LMTP STARTTLS): run it with and
without to see what TLS inside the cluster costs.

The machine this was written on has 2 cores, shared: every node, both
PostgreSQL servers and the load generator run on them, so two nodes of a
kind cannot be faster than one by much.  The figures show the overhead of
the extra hop and the extra processes, and that the cluster stays
correct under load, more than a speed-up.
"""
import argparse
import asyncio
import os
import random
import resource
import ssl
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from adminapi import Api  # noqa: E402
from cluster_site import PORTS, Cluster, wait_port  # noqa: E402

DOMAIN = "bench.test"
PASSWORD = "bench-pw-12345"
USERS = ["box%d@%s" % (i, DOMAIN) for i in range(1, 9)]
LAYOUTS = {"one": ("mx1", "proxy", "be1"),
           "two": ("mx1", "mx2", "proxy", "be1", "be2")}


def cpu():
    """CPU seconds of this process and its waited-for children."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))] if v else 0.0


def delivered(cluster):
    n = 0
    for u in USERS:
        for sub in ("new", "cur"):
            d = os.path.join(cluster.store, DOMAIN, u.split("@")[0], sub)
            n += len(os.listdir(d)) if os.path.isdir(d) else 0
    return n


# -- accept rate ---------------------------------------------------------

def accept(cluster, mxs, messages, sessions):
    """smtp-source against each MX, one process per (MX, user); returns
    (accept s, end-to-end s, load generator CPU s)."""
    before = delivered(cluster)
    procs = []
    per = messages // (len(mxs) * len(USERS))
    c0, t0 = cpu(), time.monotonic()
    for i, mx in enumerate(mxs):
        for j, u in enumerate(USERS):
            procs.append(subprocess.Popen(
                ["smtp-source", "-s", str(sessions), "-m", str(per),
                 "-l", "4096", "-f", "loadgen@sender.example", "-t", u,
                 "-M", "loadgen.bench.test", "-S", "cluster bench",
                 "%s:%d" % (cluster[mx].ip, PORTS["smtp"])],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    failed = []
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            failed.append(err.decode(errors="replace")[-300:])
    t_accept = time.monotonic() - t0
    c_accept = cpu() - c0
    if failed:
        raise SystemExit("FAILED: smtp-source: %s" % failed[0])
    want = before + per * len(procs)
    end = time.monotonic() + 300
    while delivered(cluster) < want:
        if time.monotonic() > end:
            raise SystemExit("FAILED: %d of %d delivered after 300 s"
                             % (delivered(cluster) - before, want - before))
        time.sleep(0.05)
    return per * len(procs), t_accept, time.monotonic() - t0, c_accept


# -- IMAP ----------------------------------------------------------------

class Imap:
    """A minimal asyncio IMAP client: STARTTLS, LOGIN, tagged commands
    with literals read whole."""

    def __init__(self):
        self.tag = 0

    async def open(self, host, port, user):
        self.r, self.w = await asyncio.open_connection(host, port)
        await self.r.readline()
        await self.cmd(b"STARTTLS")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        await self.w.start_tls(ctx)
        ok = await self.cmd(b'LOGIN "%s" "%s"' % (user.encode(),
                                                  PASSWORD.encode()))
        assert ok.startswith(b"OK"), ok
        return self

    async def cmd(self, line):
        self.tag += 1
        tag = b"T%d" % self.tag
        self.w.write(tag + b" " + line + b"\r\n")
        await self.w.drain()
        while True:
            resp = await self.r.readline()
            if not resp:
                raise EOFError(line)
            if resp.endswith(b"}\r\n") and b"{" in resp:
                n = int(resp[resp.rindex(b"{") + 1:-3])
                await self.r.readexactly(n)
                continue
            if resp.startswith(tag + b" "):
                return resp[len(tag) + 1:]

    async def close(self):
        try:
            await self.cmd(b"LOGOUT")
        except (OSError, EOFError):
            pass
        self.w.close()


MIX = [b"NOOP", b"FETCH 1:* (FLAGS)", b"UID FETCH %d BODY.PEEK[]",
       b"SEARCH ALL", b"NOOP", b"FETCH 1:* (FLAGS)"]


async def imap_load(host, users, connections, seconds):
    lat = {}
    ops = [0]

    async def client(i):
        rnd = random.Random(i)
        c = await Imap().open(host, PORTS["imap"], users[i % len(users)])
        ok = await c.cmd(b"SELECT INBOX")
        assert ok.startswith(b"OK"), ok
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            op = rnd.choice(MIX)
            line = op % rnd.randint(1, 50) if b"%d" in op else op
            t = time.perf_counter()
            ok = await c.cmd(line)
            lat.setdefault(op.split()[0] + (b" BODY" if b"BODY" in op
                                            else b""), []).append(
                time.perf_counter() - t)
            assert ok.startswith(b"OK"), (line, ok)
            ops[0] += 1
        await c.close()
    await asyncio.gather(*(client(i) for i in range(connections)))
    return ops[0], lat


async def noop_latency(host, user, n=1000):
    c = await Imap().open(host, PORTS["imap"], user)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await c.cmd(b"NOOP")
        out.append(time.perf_counter() - t)
    await c.close()
    return out


# -- one layout ----------------------------------------------------------

def run_layout(name, args):
    nodes = LAYOUTS[name]
    mxs = [n for n in nodes if n.startswith("mx")]
    c = Cluster(nodes=nodes, settings=["auth_throttle_max_failures=0"],
                tls=args.tls)
    try:
        t = time.monotonic()
        c.up()
        for mx in mxs:
            wait_port(*c.addr(mx, "smtp"))
        for n in nodes:
            if n.startswith("be") or n == "proxy":
                wait_port(*c.addr(n, "imap"))
        wait_port(*c.addr("db1", "admin_api"))
        api = Api(PORTS["admin_api"], c.admin_token, host=c["db1"].ip)
        r = api.post("/api/v1/domains", {"name": DOMAIN})
        assert r.status == 201, r
        for u in USERS:
            r = api.post("/api/v1/mailboxes",
                         {"address": u, "password": PASSWORD})
            assert r.status == 201, r
        time.sleep(0.5)  # the replica
        print("[%s] %s up in %.1f s%s" % (name, ", ".join(nodes),
                                          time.monotonic() - t,
                                          ", TLS between the nodes"
                                          if args.tls else ""), flush=True)
        res = {"layout": name, "nodes": nodes}
        n, t_acc, t_e2e, c_acc = accept(c, mxs, args.messages,
                                        args.sessions)
        res.update(messages=n, accept=t_acc, e2e=t_e2e, accept_cpu=c_acc)
        print("[%s] accept: %d messages via %d MX, %.0f msg/s accepted, "
              "%.0f msg/s delivered; load generator CPU %.1f s"
              % (name, n, len(mxs), n / t_acc, n / t_e2e, c_acc),
              flush=True)
        c0 = cpu()
        ops, lat = asyncio.run(imap_load(c["proxy"].ip, USERS,
                                         args.connections, args.seconds))
        res.update(ops=ops, ops_s=ops / args.seconds, imap_cpu=cpu() - c0,
                   lat={k.decode(): (pct(v, 50), pct(v, 99))
                        for k, v in lat.items()})
        print("[%s] IMAP through the proxy: %d connections, %.0f ops/s; "
              "load generator CPU %.1f s of %d s"
              % (name, args.connections, ops / args.seconds,
                 res["imap_cpu"], args.seconds), flush=True)
        for k, (p50, p99) in sorted(res["lat"].items()):
            print("[%s]     %-12s p50 %6.2f ms  p99 %6.2f ms"
                  % (name, k, p50 * 1000, p99 * 1000))
        if name == "two" or args.only == "one":
            direct = asyncio.run(noop_latency(c["be1"].ip, USERS[0]))
            proxied = asyncio.run(noop_latency(c["proxy"].ip, USERS[0]))
            res["noop"] = {"direct": (pct(direct, 50), pct(direct, 99)),
                           "proxy": (pct(proxied, 50), pct(proxied, 99))}
            print("[%s] NOOP x1000: straight to be1 p50 %.0f us p99 %.0f "
                  "us; through the proxy p50 %.0f us p99 %.0f us; added "
                  "p50 %.0f us"
                  % (name, pct(direct, 50) * 1e6, pct(direct, 99) * 1e6,
                     pct(proxied, 50) * 1e6, pct(proxied, 99) * 1e6,
                     (statistics.median(proxied) -
                      statistics.median(direct)) * 1e6), flush=True)
        return res
    finally:
        c.down()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=2000,
                    help="messages per layout (default 2000)")
    ap.add_argument("--sessions", type=int, default=2,
                    help="smtp-source sessions per (MX, mailbox) process "
                    "(default 2; 8 mailboxes per MX)")
    ap.add_argument("--connections", type=int, default=16,
                    help="IMAP clients (default 16)")
    ap.add_argument("--seconds", type=int, default=10,
                    help="IMAP load duration (default 10)")
    ap.add_argument("--only", choices=sorted(LAYOUTS))
    ap.add_argument("--tls", action="store_true",
                    help="TLS, verified, on every hop between the nodes")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (ip netns)")
    print("cluster bench on %d CPU(s), load %s: every node, both "
          "PostgreSQL servers and the load generator share them, so the "
          "figures show the overhead and correctness of more nodes more "
          "than a speed-up." % (os.cpu_count(),
                                 " ".join(open("/proc/loadavg").read()
                                          .split()[:3])), flush=True)
    results = [run_layout(n, args) for n in
               ([args.only] if args.only else ["one", "two"])]
    print("\nlayout  MX  backends  accepted/s  delivered/s  IMAP ops/s  "
          "gen CPU (accept, IMAP)")
    for r in results:
        print("%-6s  %2d  %8d  %10.0f  %11.0f  %10.0f  %.1f s, %.1f s"
              % (r["layout"], sum(n.startswith("mx") for n in r["nodes"]),
                 sum(n.startswith("be") for n in r["nodes"]),
                 r["messages"] / r["accept"], r["messages"] / r["e2e"],
                 r["ops_s"], r["accept_cpu"], r["imap_cpu"]))
    print("(2 cores, shared: overhead and correctness, not speed-up%s)"
          % ("; TLS between the nodes" if args.tls else ""))


if __name__ == "__main__":
    main()
