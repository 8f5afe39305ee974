#!/usr/bin/env python3
"""Full-text search benchmark: Postern's index (lib/fts) against a scan.

Builds one mailbox of N messages (default 100,000) in a temporary folder,
indexes it with `postern index`, then times searches with `postern search
--repeat` (the figure is the mean per search inside the process, without
process start).  The peer is Dovecot 2.3 as Debian configures it (no FTS
plugin: SEARCH BODY reads every message), asked the same questions with
`doveadm search` over a copy of the same Maildir, warm (second run).
Prints a table and the ratio.  See bench/README.md.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

WORDS = None


def vocabulary(rng, n=6000):
    syll = ["ka", "to", "ri", "mo", "la", "ne", "su", "de", "po", "xi",
            "qua", "ber", "lin", "sta", "gro", "vel", "tor", "mun", "ech"]
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(syll) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def zipf_words(rng, k):
    # Zipf-like: low ranks are common, the tail is rare.
    n = len(WORDS)
    return [WORDS[min(int(rng.paretovariate(1.1)) - 1, n - 1)] for _ in range(k)]


def message(rng, i):
    sender = "user%d@example%d.org" % (rng.randint(1, 500), rng.randint(1, 20))
    subject = " ".join(zipf_words(rng, rng.randint(3, 8)))
    body_words = zipf_words(rng, rng.randint(80, 600))
    if i % 1000 == 7:
        body_words.insert(rng.randint(0, len(body_words)), "zeppelinfahrt")
    lines, line = [], []
    for w in body_words:
        line.append(w)
        if len(line) == 12:
            lines.append(" ".join(line))
            line = []
    lines.append(" ".join(line))
    text = "\n".join(lines)
    hdr = ("From: Sender %d <%s>\nTo: box@bench.test\nSubject: %s\n"
           "Date: Fri, 27 Nov 2026 10:%02d:%02d +0000\n"
           "Message-ID: <%d.bench@example.org>\nMIME-Version: 1.0\n"
           % (i % 500, sender, subject, i // 60 % 60, i % 60, i))
    if i % 10 == 3:
        # Multipart with an HTML alternative.
        html = "<html><body><p>" + text.replace("\n", "</p><p>") + "</p></body></html>"
        return (hdr + 'Content-Type: multipart/alternative; boundary="b%d"\n\n'
                "--b%d\nContent-Type: text/plain; charset=utf-8\n\n%s\n"
                "--b%d\nContent-Type: text/html; charset=utf-8\n\n%s\n--b%d--\n"
                % (i, i, text, i, html, i))
    return hdr + "Content-Type: text/plain; charset=utf-8\n\n" + text + "\n"


def make_maildir(path, n, seed):
    global WORDS
    rng = random.Random(seed)
    WORDS = vocabulary(rng)
    for d in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    total = 0
    for i in range(n):
        data = message(rng, i).encode()
        total += len(data)
        name = "%d.M%dP1Q%d.bench,S=%d:2," % (1700000000 + i, i, i, len(data))
        with open(os.path.join(path, "cur", name), "wb") as f:
            f.write(data)
    return total


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


QUERIES = [
    # (label, postern key, text, doveadm query)
    ("rare word in body", "body", "zeppelinfahrt", ["body", "zeppelinfahrt"]),
    ("substring of a rare word", "body", "eppelinfa", ["body", "eppelinfa"]),
    ("sender address", "from", "user42@example", ["from", "user42@example"]),
    ("subject word", "subject", None, None),  # filled with a mid-rank word
    ("common word in text", "text", None, None),
]


def postern_search(build, confdir, key, text, repeat):
    r = subprocess.run([os.path.join(build, "postern"), "-c", confdir, "search",
                        "--repeat", str(repeat), "box@bench.test", key, text],
                       capture_output=True, text=True, check=True)
    # "N matches, X ms per search (R runs)"
    parts = r.stderr.split()
    return int(parts[0]), float(parts[2])


def dovecot_setup(tmp, maildir):
    os.chmod(tmp, 0o755)  # the mail user (nobody) walks through it
    home = os.path.join(tmp, "dovecot-home")
    os.makedirs(home)
    shutil.copytree(maildir, os.path.join(home, "Maildir"))
    conf = os.path.join(tmp, "dovecot.conf")
    with open(conf, "w") as f:
        f.write("""base_dir = %(tmp)s/dovecot-run
log_path = %(tmp)s/dovecot.log
protocols =
ssl = no
mail_location = maildir:~/Maildir
first_valid_uid = 1
userdb {
  driver = static
  args = uid=65534 gid=65534 home=%(home)s
}
passdb {
  driver = static
  args = nopassword
}
""" % {"tmp": tmp, "home": home})
    run(["chown", "-R", "65534:65534", home])
    # doveadm asks the running auth service for the user.
    # (No pipes: the daemon would keep them open.)
    subprocess.run(["dovecot", "-c", conf], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return conf


def dovecot_search(conf, query, repeat):
    cmd = ["doveadm", "-c", conf, "search", "-u", "box"] + query
    times = []
    count = 0
    for _ in range(repeat):
        t = time.monotonic()
        r = run(cmd)
        times.append((time.monotonic() - t) * 1000)
        count = len(r.stdout.splitlines())
    return count, sum(times) / len(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--build", default=os.environ.get("POSTERN_BUILD_DIR",
                                                      os.path.join(ROOT, "build")))
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--peer-repeat", type=int, default=3)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="postern-fts-bench.", dir=args.tmpdir)
    ok = False
    conf = None
    try:
        confdir = os.path.join(tmp, "site")
        run([os.path.join(args.build, "postern"), "-c", confdir, "init"])
        mbox = os.path.join(confdir, "mail", "bench.test", "box")
        t = time.monotonic()
        size = make_maildir(mbox, args.messages, 1)
        print("corpus: %d messages, %.0f MB, written in %.1f s"
              % (args.messages, size / 1e6, time.monotonic() - t))

        t = time.monotonic()
        r = run([os.path.join(args.build, "postern"), "-c", confdir, "index",
                 "box@bench.test"])
        took = time.monotonic() - t
        idx = os.path.join(mbox, "postern-fts.sqlite")
        isize = os.path.getsize(idx) + (os.path.getsize(idx + "-wal")
                                        if os.path.exists(idx + "-wal") else 0)
        print("postern index: %s in %.1f s (%.0f msg/s), index %.0f MB (%.0f%% of the mail)"
              % (r.stdout.split("\n")[0].replace("\t", " "), took,
                 args.messages / took, isize / 1e6, 100.0 * isize / size))

        mid = WORDS[10]
        common = WORDS[0]
        queries = []
        for label, key, text, dq in QUERIES:
            if text is None:
                text = mid if key == "subject" else common
                dq = [key, text]
            queries.append((label, key, text, dq))

        if not args.no_peer:
            conf = dovecot_setup(tmp, mbox)
            # First run builds Dovecot's own index (uidlist, cache).
            t = time.monotonic()
            dovecot_search(conf, ["all"], 1)
            print("dovecot first open (builds its index): %.1f s"
                  % (time.monotonic() - t))

        mismatch = False
        print("\n%-26s %-15s %9s %12s %12s %8s"
              % ("query", "text", "matches", "postern ms", "dovecot ms", "ratio"))
        for label, key, text, dq in queries:
            n, ms = postern_search(args.build, confdir, key, text, args.repeat)
            if conf is not None:
                dn, dms = dovecot_search(conf, dq, args.peer_repeat)
                print("%-26s %-15s %9d %12.2f %12.1f %7.0fx%s"
                      % (label, text, n, ms, dms, dms / ms,
                         "" if dn == n else "  MISMATCH: dovecot found %d" % dn))
                if dn != n:
                    mismatch = True
            else:
                print("%-26s %-15s %9d %12.2f" % (label, text, n, ms))
        print("\npostern ms: mean of %d searches in one process (postern search"
              " --repeat);\ndovecot ms: doveadm search, warm, mean of %d runs,"
              " including process start (about 10 ms)." % (args.repeat, args.peer_repeat))
        if mismatch:
            print("FAILED: the two servers found different messages")
        else:
            ok = True
    finally:
        if conf is not None:
            subprocess.run(["doveadm", "-c", conf, "stop"], capture_output=True)
        if args.keep or not ok:
            print("kept: %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
