#!/usr/bin/env python3
"""The browser tests' driver (run by run.sh): a real Postern site in a
temp dir with the webmail, then the Playwright scripts, then stop.

1. `postern init` in a temp dir, free loopback ports, a services table
   with webmail, queue and LMTP (TCP for the deliveries here, the unix
   socket for postern-queued's local deliveries), full-text index on.
2. Two mailboxes: alice@browser.test (the scenario) and
   bob@browser.test (the hostile corpus; also the sender alice replies
   to), delivered over LMTP with Python's smtplib.
3. node scenario.mjs, then node hostile.mjs, each with a JSON config file
   (URL, users, canary port, artifacts folder); each prints its steps.
4. `postern stop`; exit 0 when both scripts passed, else 1 (with the end
   of the site's log).

Programs from $POSTERN_BUILD_DIR (default ./build).  Screenshots and
logs go to tests/browser/artifacts/ (or $BROWSER_ARTIFACTS).
"""
import base64
import json
import os
import re
import shutil
import smtplib
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import postern_site as site  # noqa: E402

DOMAIN = "browser.test"
PASSWORD = "browser test pw 1"
USERS = ["alice", "bob"]
SERVICES = """\
# written by tests/browser/driver.py
webmail    inet  127.0.0.1:$webmail_port  none  1  postern-webmail
lmtp       inet  127.0.0.1:$lmtp_port     none  1  postern-lmtpd
lmtp-unix  unix  $lmtp_socket             none  1  postern-lmtpd
queue      unix  $queue_socket            none  1  postern-queued
"""

# 1x1 transparent PNG
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")


def scenario_mail(canary):
    """The scenario's messages for alice (bytes)."""
    import base64
    text = (
        "From: Bob Example <bob@%(d)s>\r\nTo: Alice <alice@%(d)s>\r\n"
        "Subject: Plain text hello\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
        "Message-ID: <plain-1@%(d)s>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Hello Alice,\r\n\r\nthe quarterly figures are attached in spirit.=\r\n"
        " Caf=C3=A9 at noon?\r\n\r\nBob\r\n" % {"d": DOMAIN}).encode()
    b64png = base64.encodebytes(PNG).decode().replace("\n", "\r\n")
    html = (
        "From: Newsletter <news@%(d)s>\r\nTo: alice@%(d)s\r\n"
        "Subject: HTML newsletter\r\nDate: Thu, 26 Nov 2026 11:00:00 +0000\r\n"
        "Message-ID: <html-1@%(d)s>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/related; boundary=\"rel\"\r\n\r\n"
        "--rel\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
        "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Newsletter in plain text.\r\n"
        "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        "<html><head><style>h1 { color: #2b5797; }</style></head><body>"
        "<h1 id=\"headline\">Big news of the week</h1>"
        "<p>Read the <a href=\"https://example.org/story\">full story</a>.</p>"
        "<p><img alt=\"logo\" src=\"cid:logo@x\"> inline logo</p>"
        "<p><img alt=\"tracker\" src=\"http://127.0.0.1:%(c)d/tracker.png\"></p>"
        "</body></html>\r\n"
        "--alt--\r\n"
        "--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: inline; filename=\"logo.png\"\r\n\r\n%(png)s"
        "--rel--\r\n" % {"d": DOMAIN, "c": canary, "png": b64png}).encode()
    attach = (
        "From: Carol <carol@%(d)s>\r\nTo: alice@%(d)s\r\n"
        "Subject: Report with attachment\r\nDate: Wed, 25 Nov 2026 09:00:00 +0000\r\n"
        "Message-ID: <att-1@%(d)s>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n"
        "--mix\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "The report is attached.\r\n"
        "--mix\r\nContent-Type: text/csv; name=\"report.csv\"\r\n"
        "Content-Disposition: attachment; filename=\"report.csv\"\r\n\r\n"
        "month,total\r\njan,10\r\nfeb,12\r\n"
        "--mix--\r\n" % {"d": DOMAIN}).encode()
    thread = [(
        "From: Erin <erin@%(d)s>\r\nTo: alice@%(d)s\r\n"
        "Subject: Thread start\r\nDate: Sun, 01 Nov 2026 08:00:00 +0000\r\n"
        "Message-ID: <thread-1@%(d)s>\r\n\r\nShall we start a thread?\r\n"
        % {"d": DOMAIN}).encode(), (
        "From: Frank <frank@%(d)s>\r\nTo: alice@%(d)s\r\n"
        "Subject: Re: Thread start\r\nDate: Sun, 01 Nov 2026 09:00:00 +0000\r\n"
        "Message-ID: <thread-2@%(d)s>\r\nIn-Reply-To: <thread-1@%(d)s>\r\n"
        "References: <thread-1@%(d)s>\r\n\r\nYes, a thread.\r\n"
        % {"d": DOMAIN}).encode()]
    many = []
    for i in range(1, 56):      # more than one page of 50
        many.append((
            "From: List <list@%(d)s>\r\nTo: alice@%(d)s\r\n"
            "Subject: Digest number %(i)d\r\n"
            "Date: Mon, 02 Nov 2026 %(h)02d:%(m)02d:00 +0000\r\n"
            "Message-ID: <digest-%(i)d@%(d)s>\r\n\r\nDigest body %(i)d.\r\n"
            % {"d": DOMAIN, "i": i, "h": i // 60, "m": i % 60}).encode())
    # oldest first: the thread, the digests, then the three above
    return thread + many + [attach, text, html]


def fill(data, canary):
    return data.replace(b"@@CANARY@@", str(canary).encode()).replace(
        b"@@DOMAIN@@", DOMAIN.encode())


def hostile_mail(canary):
    """(name, bytes) of tests/browser/hostile/*.eml, @@CANARY@@ replaced
    by the canary port and @@DOMAIN@@ by the domain."""
    out = []
    folder = os.path.join(HERE, "hostile")
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".eml"):
            continue
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        data = fill(data, canary)
        # the placeholders inside base64 encoded words too
        data = re.sub(rb"=\?UTF-8\?B\?([A-Za-z0-9+/=]+)\?=", lambda m: b"=?UTF-8?B?" +
                      base64.b64encode(fill(base64.b64decode(m.group(1)), canary)) +
                      b"?=", data)
        if b"\r\n" not in data:
            data = data.replace(b"\n", b"\r\n")
        out.append((name, data))
    return out


def deliver(port, rcpt, msg):
    with smtplib.LMTP("127.0.0.1", port, timeout=30) as lm:
        lm.sendmail("sender@outside.test", [rcpt], msg)


def wait_http(url, timeout=20):
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            if time.time() > deadline:
                raise RuntimeError("nothing answers on " + url)
            time.sleep(0.2)


def log_tail(cfg, n=40):
    try:
        with open(os.path.join(cfg, "log", "postern.log"), errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def main():
    artifacts = os.path.abspath(os.environ.get(
        "BROWSER_ARTIFACTS", os.path.join(HERE, "artifacts")))
    shutil.rmtree(artifacts, ignore_errors=True)
    os.makedirs(artifacts)
    only = sys.argv[1:] or ["scenario.mjs", "hostile.mjs"]
    for prog in ("postern", "postern-webmail", "postern-lmtpd", "postern-queued"):
        if not os.access(os.path.join(site.BUILD, prog), os.X_OK):
            print("browser tests: no %s in %s (set POSTERN_BUILD_DIR)" %
                  (prog, site.BUILD), file=sys.stderr)
            return 77
    import tempfile
    keep = bool(os.environ.get("POSTERN_KEEP"))
    tmp = tempfile.mkdtemp(prefix="postern-browser.")
    cfg = os.path.join(tmp, "cfg")
    started = False
    results = {}
    try:
        site.run_postern(cfg, "init")
        names = ["webmail", "lmtp", "smtp", "submission", "submissions",
                 "imap", "imaps", "admin_api"]
        free = site.free_ports(len(names) + 1)   # distinct, held together
        ports = dict(zip(names, free))
        canary = free[-1]
        site.run_postern(cfg, "config", "set",
                         *["%s_port=%d" % kv for kv in ports.items()],
                         "stop_timeout=5s", "full_text_index=yes",
                         "auth_failure_delay=0s")
        with open(os.path.join(cfg, "services.cf"), "w") as f:
            f.write(SERVICES)
        site.run_postern(cfg, "domain", "add", DOMAIN)
        for u in USERS:
            site.run_postern(cfg, "mailbox", "add", "%s@%s" % (u, DOMAIN),
                             "--password-stdin", stdin=PASSWORD + "\n")
        site.run_postern(cfg, "start")
        started = True
        base = "http://127.0.0.1:%d" % ports["webmail"]
        wait_http(base + "/api/session")
        for _ in range(50):         # lmtpd up
            try:
                smtplib.LMTP("127.0.0.1", ports["lmtp"], timeout=3).quit()
                break
            except OSError:
                time.sleep(0.2)
        for msg in scenario_mail(canary):
            deliver(ports["lmtp"], "alice@" + DOMAIN, msg)
        hostile = hostile_mail(canary)
        for name, msg in hostile:
            deliver(ports["lmtp"], "bob@" + DOMAIN, msg)
        conf = {
            "base": base, "domain": DOMAIN, "password": PASSWORD,
            "alice": "alice@" + DOMAIN, "bob": "bob@" + DOMAIN,
            "lmtp_port": ports["lmtp"], "canary_port": canary,
            "artifacts": artifacts, "hostile": [n for n, _ in hostile],
        }
        conf_path = os.path.join(tmp, "browser.json")
        with open(conf_path, "w") as f:
            json.dump(conf, f)
        for script in only:
            t0 = time.time()
            p = subprocess.run(["node", os.path.join(HERE, script), conf_path],
                               cwd=HERE, timeout=600)
            results[script] = p.returncode
            print("--- %s: %s (%.1f s)" % (
                script, "passed" if p.returncode == 0 else "FAILED",
                time.time() - t0), flush=True)
    except Exception as e:           # noqa: BLE001
        print("browser tests: set-up failed: %r" % e, file=sys.stderr)
        results["set-up"] = 1
    finally:
        failed = [k for k, v in results.items() if v != 0]
        if failed:
            print("--- end of the site's log:\n" + log_tail(cfg), file=sys.stderr)
            shutil.copy(os.path.join(cfg, "log", "postern.log"),
                        os.path.join(artifacts, "postern.log")) \
                if os.path.exists(os.path.join(cfg, "log", "postern.log")) else None
        if started:
            site.run_postern(cfg, "stop", check=False)
        if keep:
            print("kept", tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    passed = len(results) - len(failed)
    print("browser: %d passed, %d failed" % (passed, len(failed)))
    print("screenshots in", artifacts)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
