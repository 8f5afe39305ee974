#!/usr/bin/env python3
"""IMAP load benchmark: Postern against Dovecot 2.3 on loopback, serving
copies of the same Maildir data.  See bench/README.md ("IMAP load").

The load generator is this program: Python asyncio, one process, one
coroutine per IMAP connection (plain port, LOGIN; both servers allow
plaintext on loopback for the run).  Its own CPU time is reported.
"""
import argparse
import asyncio
import os
import random
import resource
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import imap_site as site  # noqa: E402

OPS = [("SELECT", 1), ("FETCH_FLAGS", 3), ("UID_FETCH_BODY", 3),
       ("SEARCH", 1), ("STORE", 2), ("NOOP", 2), ("IDLE", 1)]
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet "
         "kilo lima mike november oscar papa quebec romeo sierra tango "
         "uniform victor whiskey xray yankee zulu").split()


# -- data ---------------------------------------------------------------

def generate_maildir(path, n, seed=1):
    """n messages in a Maildir INBOX (LF line ends, S= and W= sizes in
    the names as Dovecot and Postern write them), 30% \\Seen, 5%
    \\Flagged; sizes: 80% ~3 KB, 15% ~20 KB, 5% ~100 KB."""
    rnd = random.Random(seed)
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    base = 1767225600
    # a pool of text lines to cut bodies from (fast, still varied)
    pool = "\n".join(" ".join(rnd.choice(WORDS) for _ in range(11))
                     for _ in range(40000)) + "\n"
    total = 0
    for i in range(n):
        r = rnd.random()
        size = 3000 if r < 0.8 else 20000 if r < 0.95 else 100000
        start = rnd.randrange(0, len(pool) - size - 200)
        start = pool.index("\n", start) + 1
        end = pool.index("\n", start + size) + 1
        body = pool[start:end]
        subj = "%s %s report %d" % (rnd.choice(WORDS), rnd.choice(WORDS), i)
        t = base + i * 60
        msg = ("Return-Path: <sender%d@example.org>\n"
               "From: Sender %d <sender%d@example.org>\n"
               "To: user@bench.test\nSubject: %s\n"
               "Date: %s\nMessage-ID: <bench%d@example.org>\n"
               "MIME-Version: 1.0\n"
               "Content-Type: text/plain; charset=us-ascii\n\n%s" % (
                   i % 50, i % 50, i % 50, subj,
                   time.strftime("%a, %d %b %Y %H:%M:%S +0000",
                                 time.gmtime(t)), i, body)).encode()
        vsize = len(msg) + msg.count(b"\n")
        flags = ""
        if rnd.random() < 0.05:
            flags += "F"
        if rnd.random() < 0.3:
            flags += "S"
        name = "%d.M%dP1.bench,S=%d,W=%d:2,%s" % (t, i, len(msg), vsize,
                                                 flags)
        fp = os.path.join(path, "cur", name)
        with open(fp, "wb") as f:
            f.write(msg)
        os.utime(fp, (t, t))
        total += len(msg)
    return total


# -- protocol -----------------------------------------------------------

class Conn:
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.n = 0

    @classmethod
    async def open(cls, host, port, user):
        reader, writer = await asyncio.open_connection(host, port,
                                                       limit=1 << 22)
        c = cls(reader, writer)
        await reader.readline()            # greeting
        tag, line = await c.cmd('LOGIN "%s" "%s"' % (user, site.PASSWORD))
        if b" OK" not in line:
            raise RuntimeError("login %s: %r" % (user, line))
        return c

    async def read_until(self, tag):
        r = self.r
        while True:
            line = await r.readline()
            if not line:
                raise EOFError("connection closed")
            while line.endswith(b"}\r\n"):
                j = line.rfind(b"{")
                await r.readexactly(int(line[j + 1:-3].rstrip(b"+")))
                line = await r.readline()
            if line.startswith(tag):
                return line

    async def cmd(self, text):
        self.n += 1
        tag = b"a%d " % self.n
        self.w.write(tag + text.encode() + b"\r\n")
        line = await self.read_until(tag)
        return tag, line

    async def idle(self):
        self.n += 1
        tag = b"a%d " % self.n
        self.w.write(tag + b"IDLE\r\n")
        line = await self.r.readline()
        while not line.startswith(b"+"):
            if not line:
                raise EOFError("closed in IDLE")
            line = await self.r.readline()
        self.w.write(b"DONE\r\n")
        return await self.read_until(tag)

    def close(self):
        self.w.close()


async def client(host, port, user, nmsg, start, lat, errors, rnd):
    """One connection: LOGIN and SELECT INBOX, then wait at the start
    line (start.go) until every client is there, then commands until
    start.deadline."""
    c = None
    try:
        c = await Conn.open(host, port, user)
        await c.cmd("SELECT INBOX")
    except Exception as e:          # noqa: BLE001
        errors.append("connect: %r" % e)
        if c is not None:
            c.close()
        c = None
    start.arrived()
    if c is None:
        return
    await start.go.wait()
    names = [o for o, w in OPS for _ in range(w)]
    try:
        while time.perf_counter() < start.deadline:
            op = rnd.choice(names)
            if op == "SELECT":
                text = "SELECT INBOX"
            elif op == "FETCH_FLAGS":
                a = rnd.randint(1, max(1, nmsg - 199))
                text = "FETCH %d:%d (UID FLAGS)" % (a, a + 199)
            elif op == "UID_FETCH_BODY":
                text = "UID FETCH %d BODY.PEEK[]" % rnd.randint(1, nmsg)
            elif op == "SEARCH":
                text = rnd.choice(["SEARCH UNSEEN", "SEARCH FLAGGED",
                                   "SEARCH FROM sender%d@example.org" %
                                   rnd.randint(0, 49),
                                   "SEARCH SUBJECT %s" % rnd.choice(WORDS)])
            elif op == "STORE":
                text = "UID STORE %d %sFLAGS.SILENT (\\Flagged)" % (
                    rnd.randint(1, nmsg), rnd.choice("+-"))
            elif op == "NOOP":
                text = "NOOP"
            t0 = time.perf_counter()
            if op == "IDLE":
                line = await c.idle()
            else:
                tag, line = await c.cmd(text)
            lat[op].append(time.perf_counter() - t0)
            if b" OK" not in line[:40]:
                errors.append("%s: %r" % (op, line[:120]))
        await c.cmd("LOGOUT")
    except Exception as e:          # noqa: BLE001
        errors.append("%r" % e)
    finally:
        c.close()


class StartLine:
    """The load starts when the last client has logged in and selected
    INBOX (or failed to): with every client at work for the whole
    measured time, both servers are measured at the same concurrency.
    Without it, the last clients logged in while the first ones loaded
    the server; Dovecot starts an imap process per login, and its last
    clients began up to 3.7 s into a 5 s run on this loaded machine (37
    of the 50 clients at work on average, against 50 for Postern),
    which lowered its latencies and its operations/s alike."""

    def __init__(self, nclients, seconds):
        self.left = nclients
        self.seconds = seconds
        self.go = asyncio.Event()
        self.t0 = self.deadline = None

    def arrived(self):
        self.left -= 1
        if self.left == 0:
            self.t0 = time.perf_counter()
            self.deadline = self.t0 + self.seconds
            self.go.set()


async def run_load(t, users, nclients, nmsg, seconds, seed):
    """Latencies by op, errors, the measured time (from the start line
    to the last client's end) and the set-up time (connect, LOGIN and
    SELECT of every client)."""
    lat = {o: [] for o, w in OPS}
    errors = []
    start = StartLine(nclients, seconds)
    rnd = random.Random(seed)
    tasks = [client(t.host, t.imap_port, t.address(users[i % len(users)]),
                    nmsg, start, lat, errors, random.Random(rnd.random()))
             for i in range(nclients)]
    t0 = time.perf_counter()
    await asyncio.gather(*tasks)
    end = time.perf_counter()
    if start.t0 is None:
        return lat, errors, end - t0, end - t0
    return lat, errors, end - start.t0, start.t0 - t0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


# -- memory -------------------------------------------------------------

def mem(pids):
    """(RSS, PSS) in bytes summed over pids."""
    rss = pss = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            pass
    return rss, pss


async def hold_idle(t, users, n, settle):
    """n connections logged in, INBOX selected, in IDLE; returns them."""
    conns = []
    sem = asyncio.Semaphore(200)

    async def one(i):
        async with sem:
            c = await Conn.open(t.host, t.imap_port,
                                t.address(users[i % len(users)]))
            await c.cmd("SELECT INBOX")
            c.n += 1
            c.w.write(b"i IDLE\r\n")
            line = await c.r.readline()
            while not line.startswith(b"+"):
                if not line:
                    raise EOFError("closed before IDLE")
                line = await c.r.readline()
            conns.append(c)
    results = await asyncio.gather(*[one(i) for i in range(n)],
                                   return_exceptions=True)
    errs = [r for r in results if isinstance(r, Exception)]
    await asyncio.sleep(settle)
    return conns, errs


async def close_all(conns):
    for c in conns:
        c.close()
    await asyncio.sleep(0.5)


def memory_per_conn(t, users, n, settle):
    pids0 = t.pids()
    rss0, pss0 = mem(pids0)
    loop = asyncio.new_event_loop()
    try:
        t0 = time.time()
        conns, errs = loop.run_until_complete(hold_idle(t, users, n, settle))
        took = time.time() - t0
        pids = t.pids()
        rss1, pss1 = mem(pids)
        loop.run_until_complete(close_all(conns))
    finally:
        loop.close()
    ok = len(conns)
    return {"n": n, "ok": ok, "errors": len(errs),
            "first_error": repr(errs[0]) if errs else "",
            "procs": len(pids), "setup_s": took,
            "rss_per": (rss1 - rss0) / max(ok, 1),
            "pss_per": (pss1 - pss0) / max(ok, 1),
            "rss_total": rss1, "pss_total": pss1}


# -- one side -----------------------------------------------------------

DOVECOT_SCALE = """\
default_process_limit = {procs}
default_client_limit = {procs}
mail_max_userip_connections = {procs}
"""
DOVECOT_LOGIN = """\
  service_count = 0
  process_min_avail = 2
  client_limit = {procs}
  vsz_limit = 1G
"""
DOVECOT_IMAP = """\
  process_limit = {procs}
{hib}"""


def start_side(kind, tmp, users, data, args):
    procs = max(args.mem_conns) + args.clients + 100
    kw = {}
    if kind == "dovecot":
        hib = ""
        extra = DOVECOT_SCALE.format(procs=procs)
        if args.hibernate:
            extra += "imap_hibernate_timeout = 2s\n"
            extra += ("service imap-hibernate {\n  client_limit = %d\n"
                      "  unix_listener imap-hibernate {\n    mode = 0666\n"
                      "  }\n}\n" % procs)
            # idle_kill: an imap process whose session hibernated is
            # left idle; without it, it lingers for a minute
            hib = ("  unix_listener imap-master {\n    mode = 0666\n"
                   "  }\n  idle_kill = 2 secs\n")
        kw = dict(login_extra=DOVECOT_LOGIN.format(procs=procs),
                  imap_extra=DOVECOT_IMAP.format(procs=procs, hib=hib),
                  extra=extra)
    else:
        kw = dict(extra_config=args.postern_config)
    return site.start_target(kind, users, tmp=tmp,
                             preload={u: data for u in users},
                             quota_bytes=10 ** 11, link=True,
                             password_scheme="SHA512-CRYPT", **kw)


def bench_side(kind, tmp, users, data, args):
    res = {"kind": kind}
    t = start_side(kind, tmp, users, data, args)
    try:
        # first SELECT of each user: the server builds its index
        t0 = time.time()
        for u in users:
            c = t.imap(u)
            typ, d = c.select("INBOX")
            if typ != "OK" or int(d[0]) != args.messages:
                raise RuntimeError("%s: SELECT INBOX: %s %s" % (kind, typ,
                                                               d))
            c.logout()
        res["first_select_s"] = (time.time() - t0) / len(users)
        res["warm_s"] = None
        if args.warm:
            # Steady state: each server's search data built before the
            # load.  Dovecot caches the From/Subject headers in its
            # dovecot.index.cache at the first SEARCH that needs them;
            # Postern's full-text index is fed at delivery, and a store
            # copied in is brought up to date by `postern index` (what a
            # migration runs once).
            t0 = time.time()
            for u in users:
                if kind == "postern":
                    site._postern(t.cfg, "index", t.address(u))
                c = t.imap(u)
                c.select("INBOX")
                c.search(None, "FROM", "sender1@example.org")
                c.search(None, "SUBJECT", WORDS[0])
                c.logout()
            res["warm_s"] = (time.time() - t0) / len(users)
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        lat, errors, wall, setup = asyncio.run(run_load(
            t, users, args.clients, args.messages, args.seconds, args.seed))
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        allx = [x for v in lat.values() for x in v]
        res.update(ops=len(allx), wall=wall, ops_s=len(allx) / wall,
                   setup=setup,
                   p50=pct(allx, 0.5), p99=pct(allx, 0.99),
                   mean=mean(allx),
                   per_op={o: (len(v), pct(v, 0.5), pct(v, 0.99), mean(v))
                           for o, v in lat.items()},
                   errors=len(errors), first_error=errors[:3],
                   gen_cpu=(ru1.ru_utime - ru0.ru_utime) +
                   (ru1.ru_stime - ru0.ru_stime))
        res["mem"] = []
        for n in args.mem_conns:
            m = memory_per_conn(t, users, n, args.settle)
            res["mem"].append(m)
            print("  %s: %d idle connections: %d ok, %.0f bytes PSS each "
                  "(%d processes)" % (kind, n, m["ok"], m["pss_per"],
                                      m["procs"]), flush=True)
    finally:
        res["log"] = t.log_tail(15)
        t.cleanup()
    return res


def report(results):
    print()
    print("IMAP load: %s" % time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                          time.gmtime()))
    for r in results:
        if "error" in r:
            print("%-8s FAILED: %s" % (r["kind"], r["error"]))
            continue
        print("%-8s %8.0f ops/s  p50 %6.2f ms  p99 %7.2f ms  mean %6.2f ms"
              "  (%d ops, %d errors, first SELECT %.2f s, generator CPU "
              "%.1f s)" % (
                  r["kind"], r["ops_s"], r["p50"] * 1e3, r["p99"] * 1e3,
                  r["mean"] * 1e3, r["ops"], r["errors"],
                  r["first_select_s"], r["gen_cpu"]))
        print("           set-up before the start line (connect, LOGIN, "
              "SELECT of every client) %.2f s" % r["setup"])
        if r.get("warm_s") is not None:
            print("           warm-up (search data built) %.1f s per user"
                  % r["warm_s"])
        for o, (n, p50, p99, m) in r["per_op"].items():
            print("           %-15s %7d  p50 %6.2f ms  p99 %7.2f ms  mean "
                  "%6.2f ms" % (o, n, p50 * 1e3, p99 * 1e3, m * 1e3))
        for m in r["mem"]:
            print("           idle x %-6d  %d ok  PSS %7.1f KiB/conn  RSS "
                  "%7.1f KiB/conn  (%d processes, total PSS %.1f MiB, "
                  "set-up %.1f s)" % (
                      m["n"], m["ok"], m["pss_per"] / 1024,
                      m["rss_per"] / 1024, m["procs"],
                      m["pss_total"] / 2 ** 20, m["setup_s"]))
            if m["errors"]:
                print("             %d connections failed, first: %s" % (
                    m["errors"], m["first_error"][:200]))
        if r["errors"]:
            print("           errors, first: %s" % r["first_error"])
    ok = [r for r in results if "error" not in r]
    if len(ok) == 2:
        p = [r for r in ok if r["kind"] == "postern"][0]
        d = [r for r in ok if r["kind"] == "dovecot"][0]
        print("ratio postern/dovecot: ops/s %.2f, p99 %.2f" % (
            p["ops_s"] / d["ops_s"], p["p99"] / d["p99"]))
        for mp, md in zip(p["mem"], d["mem"]):
            if mp["ok"] and md["ok"]:
                print("  memory per idle connection at %d: %.3f" % (
                    mp["n"], mp["pss_per"] / md["pss_per"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--mem-conns", default="1000,10000")
    ap.add_argument("--settle", type=float, default=5,
                    help="seconds idle before memory is read")
    ap.add_argument("--only", choices=["postern", "dovecot"])
    ap.add_argument("--hibernate", action="store_true",
                    help="Dovecot with imap-hibernate for idle IDLE")
    ap.add_argument("--postern-config", action="append", default=[],
                    help="NAME=VALUE for postern config set")
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--warm", action="store_true",
                    help="build each server's search data before the load "
                    "(postern index; Dovecot's header cache) and report "
                    "the time it took")
    args = ap.parse_args()
    args.mem_conns = [int(x) for x in args.mem_conns.split(",") if x]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = max(args.mem_conns + [0]) + args.clients + 200
    if hard < need:
        print("ulimit -n hard limit %d < %d: fewer connections will fit" %
              (hard, need))

    tmp = tempfile.mkdtemp(prefix="postern-imapbench.", dir=args.tmpdir)
    os.chmod(tmp, 0o755)
    try:
        data = os.path.join(tmp, "data")
        t0 = time.time()
        size = generate_maildir(data, args.messages)
        print("data: %d messages, %.1f MB, generated in %.1f s" % (
            args.messages, size / 1e6, time.time() - t0), flush=True)
        users = ["load%d" % i for i in range(args.users)]
        results = []
        for kind in ("postern", "dovecot"):
            if args.only and kind != args.only:
                continue
            print("running %s ..." % kind, flush=True)
            try:
                results.append(bench_side(kind, os.path.join(tmp, kind),
                                          users, data, args))
            except Exception as e:          # noqa: BLE001
                results.append({"kind": kind, "error": str(e)[:2000]})
        report(results)
    finally:
        if args.keep:
            print("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
