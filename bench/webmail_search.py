#!/usr/bin/env python3
"""Webmail search benchmark: GET /api/search on one user with 100,000
messages, answered from the full-text index.  See bench/README.md
("Webmail search (bench/webmail-search.sh)").

One site in a temporary folder (only the webmail service), one mailbox
whose folders are written directly as Maildir files (INBOX 60% and four
folders of 10% each; From, To, Subject, date and body words drawn so
that every query has a number of hits known in advance), `postern index`
(timed), then each query of QUERIES within the INBOX and across every
folder: the first request (cold) and `--repeat` more (warm, p50/p99).
Every answer's "total" is checked against the count computed from the
generated messages; any difference, a "partial" answer or a non-200
fails the run (exit 1).

--users N adds N other users (--user-messages each, same folders) served
by the same webmail process, and times a search in the big INBOX right
after each of them searched all of their folders (--rounds times), against
the same search repeated alone: what the process's idle folder states
(lib/mindex, mindex_cache_size) save.  --set NAME=VALUE changes main.cf
before the start (e.g. mindex_cache_folder_limit=8, the old limit).
"""
import argparse
import calendar
import http.cookiejar
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from imap_load import WORDS  # noqa: E402  (the body vocabulary)

DOMAIN = "bench.test"
USER = "reader@" + DOMAIN
PASSWORD = "bench password 1"
# Folder of message i: i % 10 < 6 INBOX, then one each (10% each).
FOLDERS = ["INBOX"] * 6 + ["Archive", "Projects", "Receipts", "Travel"]
BASE = 1767225600          # 2026-01-01 00:00 UTC
STEP = 300                 # one message every 5 minutes: 347 days

RARE = "zeppelinfahrt"     # in the body of one message in 1,000
COMMON = "quarterly"       # in the body of 30% of the messages
SUBJ = "invoice"           # in the subject of 5%

# (label, parameters).  Text keys match as case-insensitive substrings
# of the decoded field, dates compare the INTERNALDATE (file mtime).
QUERIES = [
    ("from (1 sender in 200)", {"from": "sender42@"}),
    ("to (1 list in 50)", {"to": "team7@"}),
    ("subject word (5%)", {"subject": SUBJ}),
    ("body rare word (0.1%)", {"body": RARE}),
    ("body common word (30%)", {"body": COMMON}),
    ("date range (2 weeks)", {"since": "2026-03-01", "before": "2026-03-15"}),
    ("from + body common", {"from": "sender42@", "body": COMMON}),
    ("subject + date (1 month)", {"subject": SUBJ, "since": "2026-03-01",
                                  "before": "2026-04-01"}),
    ("to + subject + body", {"to": "team7@", "subject": SUBJ,
                             "body": COMMON}),
    ("q rare word (any field)", {"q": RARE}),
    ("q two words (any field)", {"q": SUBJ + " " + COMMON}),
]


def day(s):
    """"YYYY-MM-DD" to the UTC midnight that starts it."""
    return calendar.timegm(time.strptime(s, "%Y-%m-%d"))


def matches(params, m):
    """The query's predicate on one generated message (as the API
    defines it), for the expected counts."""
    for key in ("from", "to", "subject", "body"):
        if key in params and params[key].lower() not in m[key]:
            return False
    if "since" in params and m["t"] < day(params["since"]):
        return False
    if "before" in params and m["t"] >= day(params["before"]):
        return False
    for w in params.get("q", "").split():
        if not any(w.lower() in m[k] for k in ("from", "to", "subject",
                                               "body")):
            return False
    return True


def generate(maildir, n, seed=1, write=True):
    """Write n messages (not with write=False: the counts only); return
    (bytes, expected) where expected[label] = (hits in INBOX, hits in all
    folders)."""
    rnd = random.Random(seed)
    pool = [" ".join(rnd.choice(WORDS) for _ in range(11))
            for _ in range(5000)]
    dirs = {}
    for name in set(FOLDERS) if write else ():
        d = maildir if name == "INBOX" else os.path.join(maildir, "." + name)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        if name != "INBOX":
            open(os.path.join(d, "maildirfolder"), "w").close()
        dirs[name] = d
    expected = {label: [0, 0] for label, _ in QUERIES}
    total = 0
    for i in range(n):
        folder = FOLDERS[i % 10]
        t = BASE + i * STEP
        s = rnd.randrange(200)
        sender = "Sender %d <sender%d@example%d.org>" % (s, s, s % 7)
        to = "Reader <%s>, team%d@lists.%s" % (USER, rnd.randrange(50), DOMAIN)
        words = [rnd.choice(WORDS), rnd.choice(WORDS), "report", str(i)]
        if rnd.random() < 0.05:
            words.insert(rnd.randrange(len(words) + 1), SUBJ)
        subject = " ".join(words)
        lines = [rnd.choice(pool) for _ in range(rnd.randint(4, 30))]
        if rnd.random() < 0.3:
            j = rnd.randrange(len(lines))
            lines[j] = lines[j] + " " + COMMON
        if i % 1000 == 7:
            j = rnd.randrange(len(lines))
            lines[j] = RARE + " " + lines[j]
        body = "\n".join(lines) + "\n"
        msg = ("Return-Path: <sender%d@example.org>\nFrom: %s\nTo: %s\n"
               "Subject: %s\nDate: %s\nMessage-ID: <wms%d@example.org>\n"
               "MIME-Version: 1.0\n"
               "Content-Type: text/plain; charset=us-ascii\n\n%s"
               % (s, sender, to, subject,
                  time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t)),
                  i, body)).encode()
        name = "%d.M%dP1.wmsearch,S=%d,W=%d:2,%s" % (
            t, i, len(msg), len(msg) + msg.count(b"\n"),
            "S" if rnd.random() < 0.3 else "")
        if write:
            fp = os.path.join(dirs[folder], "cur", name)
            with open(fp, "wb") as f:
                f.write(msg)
            os.utime(fp, (t, t))
        total += len(msg)
        m = {"from": sender.lower(), "to": to.lower(),
             "subject": subject.lower(), "body": body.lower(), "t": t}
        for label, params in QUERIES:
            if matches(params, m):
                expected[label][1] += 1
                if folder == "INBOX":
                    expected[label][0] += 1
    return total, expected


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Client:
    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.op = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar))

    def login(self, user=USER):
        req = urllib.request.Request(
            self.base + "/api/login",
            data=json.dumps({"address": user, "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"})
        self.op.open(req, timeout=60).read()

    def get(self, path):
        """(seconds, decoded JSON); raises on a non-200."""
        t = time.perf_counter()
        with self.op.open(self.base + path, timeout=600) as r:
            data = r.read()
        took = time.perf_counter() - t
        return took, json.loads(data)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def fmt_ms(s):
    ms = s * 1000
    return "%.0f" % ms if ms >= 100 else "%.1f" % ms


def other_user(k):
    return "user%03d@%s" % (k, DOMAIN)


def many_users(args, base, cl, expected, pid):
    """The INBOX search of the big user, alone (repeated) and right after
    each of the other users searched all of their folders; returns the
    failures."""
    label = "subject word (5%)"
    path = "/api/search?" + urllib.parse.urlencode(
        {"folder": "INBOX", "subject": SUBJ})
    want = expected[label][0]
    others = []
    for k in range(args.users):
        c = Client(base)
        c.login(other_user(k))
        others.append(c)
    failed = []

    def big():
        took, res = cl.get(path)
        if res["total"] != want:
            failed.append("many users: %d hits, expected %d"
                          % (res["total"], want))
        return took

    alone = [big() for _ in range(args.rounds)]
    after = []
    for _ in range(args.rounds):
        for c in others:
            c.get("/api/search?" + urllib.parse.urlencode({"subject": SUBJ}))
        after.append(big())
    with open("/proc/%d/status" % pid) as f:
        rss = [ln.split()[1] for ln in f if ln.startswith("VmRSS")][0]
    print("\nMany users in one webmail process: %d other users (%d "
          "messages in 5 folders, plus the special ones, each), INBOX of "
          "the big user %d messages, %s"
          % (args.users, args.user_messages,
             sum(1 for i in range(args.messages) if FOLDERS[i % 10] ==
                 "INBOX"), " ".join(args.set) or "default settings"))
    print("INBOX search (%s) alone: p50 %s ms, p99 %s ms; after the other "
          "users' searches: p50 %s ms, p99 %s ms (%d rounds); VmRSS %s kB"
          % (label, fmt_ms(statistics.median(alone)), fmt_ms(pct(alone, 99)),
             fmt_ms(statistics.median(after)), fmt_ms(pct(after, 99)),
             args.rounds, rss), flush=True)
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=20,
                    help="warm runs per query (default 20)")
    ap.add_argument("--build", default=os.environ.get(
        "POSTERN_BUILD_DIR", os.path.join(ROOT, "build")))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--reuse", metavar="DIR",
                    help="a folder kept by --keep (same --messages): "
                    "no generating or indexing, the queries only")
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--users", type=int, default=0,
                    help="other users in the same webmail process (the "
                    "many-users scenario; with --reuse: as created)")
    ap.add_argument("--user-messages", type=int, default=500,
                    help="messages of each other user (default 500)")
    ap.add_argument("--rounds", type=int, default=10,
                    help="many-users scenario rounds (default 10)")
    ap.add_argument("--set", action="append", default=[],
                    metavar="NAME=VALUE", help="main.cf setting before the "
                    "start (repeatable)")
    ap.add_argument("--no-table", action="store_true",
                    help="skip the per-query table")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    postern = os.path.join(build, "postern")
    for p in (postern, os.path.join(build, "postern-webmail")):
        if not os.access(p, os.X_OK):
            print("webmail-search: FAILED: no %s (--build DIR)" % p,
                  file=sys.stderr)
            return 1

    if args.reuse:
        tmp = os.path.abspath(args.reuse)
        args.keep = True
    else:
        tmp = tempfile.mkdtemp(prefix="postern-wmsearch.", dir=args.tmpdir)
    cfg = os.path.join(tmp, "var")
    started = False
    ok = False

    def pg(*a, stdin=None):
        return subprocess.run([postern, "-c", cfg] + list(a), input=stdin,
                              capture_output=True, text=True, check=True)

    def pid_cpu(pid):
        with open("/proc/%d/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")

    try:
        maildir = os.path.join(tmp, "mail", DOMAIN, "reader")
        if args.reuse:
            port = int(pg("config", "webmail_port").stdout.split("=")[1])
            size, expected = generate(maildir, args.messages, write=False)
        else:
            pg("init")
            port = free_port()
            pg("config", "set", "webmail_port=%d" % port, "stop_timeout=5s",
               "mail_directory=%s" % os.path.join(tmp, "mail"))
            with open(os.path.join(cfg, "services.cf"), "w") as f:
                f.write("webmail inet 127.0.0.1:$webmail_port none 1 "
                        "postern-webmail\n")
            pg("domain", "add", DOMAIN)
            pg("mailbox", "add", USER, "--password-stdin",
               stdin=PASSWORD + "\n")
            for k in range(args.users):
                u = other_user(k)
                pg("mailbox", "add", u, "--password-stdin",
                   stdin=PASSWORD + "\n")
                generate(os.path.join(tmp, "mail", DOMAIN, u.split("@")[0]),
                         args.user_messages, seed=k + 2)
                pg("index", u)
            if args.users:
                print("%d other users of %d messages (5 folders each)"
                      % (args.users, args.user_messages), flush=True)

            t = time.monotonic()
            size, expected = generate(maildir, args.messages)
            gen_s = time.monotonic() - t
            print("corpus: %d messages (%s), %.0f MB, written in %.1f s"
                  % (args.messages, ", ".join(
                      "%s %d" % (n, sum(1 for i in range(args.messages)
                                        if FOLDERS[i % 10] == n))
                      for n in dict.fromkeys(FOLDERS)), size / 1e6, gen_s),
                  flush=True)

            t = time.monotonic()
            pg("index", USER)
            idx_s = time.monotonic() - t
            idx = os.path.join(maildir, "postern-fts.sqlite")
            isize = sum(os.path.getsize(idx + x) for x in ("", "-wal")
                        if os.path.exists(idx + x))
            print("postern index: %.1f s (%.0f messages/s), index %.0f MB "
                  "(%.0f%% of the mail)" % (idx_s, args.messages / idx_s,
                                            isize / 1e6, 100.0 * isize / size),
                  flush=True)

        for kv in args.set:
            pg("config", "set", kv)
        pg("start")
        started = True
        base = "http://127.0.0.1:%d" % port
        cl = Client(base)
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/", timeout=2).read()
                break
            except Exception:
                time.sleep(0.1)
        pid = None
        for line in pg("status").stdout.splitlines():
            f = line.split()
            if f and f[0] == "webmail":
                pid = int(f[3])
        if pid is None:
            raise RuntimeError("no webmail pid in `postern status`")
        cl.login()

        # The first request opens every folder (lib/mindex reads the
        # 100,000 file names): timed alone, a date range matching none.
        first_s, _ = cl.get("/api/search?since=2099-01-01")
        print("first request (every folder opened, no match): %.2f s"
              % first_s, flush=True)

        rows = []
        failed = []
        cpu0 = pid_cpu(pid)
        nreq = 0
        for label, params in [] if args.no_table else QUERIES:
            for scope, want in (("INBOX", expected[label][0]),
                                ("all", expected[label][1])):
                p = dict(params)
                if scope == "INBOX":
                    p["folder"] = "INBOX"
                path = "/api/search?" + urllib.parse.urlencode(p)
                cold, res = cl.get(path)
                warm = []
                for _ in range(args.repeat):
                    s, res2 = cl.get(path)
                    warm.append(s)
                    if res2["total"] != res["total"]:
                        failed.append("%s %s: total %d then %d" % (
                            label, scope, res["total"], res2["total"]))
                nreq += 1 + args.repeat
                got = res["total"]
                if got != want:
                    failed.append("%s (%s): %d hits, expected %d"
                                  % (label, scope, got, want))
                if res["partial"]:
                    failed.append("%s (%s): partial" % (label, scope))
                if len(res["items"]) != min(50, want):
                    failed.append("%s (%s): %d items" % (
                        label, scope, len(res["items"])))
                rows.append((label, scope, got, cold,
                             statistics.median(warm), pct(warm, 99)))
                print("  %-26s %-5s %7d  cold %8s ms  warm p50 %8s ms"
                      % (label, scope, got, fmt_ms(cold),
                         fmt_ms(statistics.median(warm))), flush=True)
        if args.users:
            failed += many_users(args, base, cl, expected, pid)
            nreq += args.rounds * (2 + args.users)
        cpu = pid_cpu(pid) - cpu0
        with open("/proc/%d/status" % pid) as f:
            rss = [ln.split()[1] for ln in f if ln.startswith("VmRSS")][0]

        print("\nWebmail search: %d messages, %d CPUs, load average %s"
              % (args.messages, os.cpu_count(),
                 open("/proc/loadavg").read().split()[:3]))
        print("service CPU %.1f s for %d requests (%.1f ms each), "
              "VmRSS %s kB\n" % (cpu, nreq, 1000 * cpu / nreq, rss))
        if rows:
            print("| query | scope | hits | cold ms | warm p50 ms "
                  "| warm p99 ms |")
            print("| --- | --- | ---: | ---: | ---: | ---: |")
        for label, scope, got, cold, p50, p99 in rows:
            print("| %s | %s | %s | %s | %s | %s |" % (
                label, scope, "{:,}".format(got), fmt_ms(cold), fmt_ms(p50),
                fmt_ms(p99)))
        slow = [r for r in rows if r[4] > 1.0]
        if slow:
            print("\nwarm p50 above 1 s: %s" % ", ".join(
                "%s (%s)" % (r[0], r[1]) for r in slow))
        if failed:
            for f in failed:
                print("FAILED: " + f)
        else:
            ok = True
    except subprocess.CalledProcessError as e:
        print("webmail-search: FAILED: %s: %s" % (" ".join(e.cmd), e.stderr),
              file=sys.stderr)
    except RuntimeError as e:
        print("webmail-search: FAILED: %s" % e, file=sys.stderr)
    except urllib.error.HTTPError as e:
        print("webmail-search: FAILED: HTTP %d: %s" % (e.code, e.read()),
              file=sys.stderr)
    finally:
        if started:
            subprocess.run([postern, "-c", cfg, "stop"], capture_output=True)
        if args.keep or not ok:
            print("kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
